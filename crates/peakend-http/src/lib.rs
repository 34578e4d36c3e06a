//! HTTP adapter: one module per route group, each with its own `router()`, merged
//! here. Handlers parse their inputs into core types, call the store, and turn
//! errors into [`ApiError`], which knows its status.

#![forbid(unsafe_code)]

mod admin;
mod analysis;
mod assets;
mod audits;
pub mod auth;
mod board;
mod busy;
pub mod case_worker;
mod cases;
mod checklist;
pub mod cluster;
mod customers;
mod dashboard;
mod deadline;
mod download;
mod error;
mod events;
mod handbook;
mod health;
pub mod invite_sender;
mod journeys;
mod kpi;
mod kpi_page;
pub mod limiter;
pub mod live;
mod org;
mod overview_parts;
mod pages;
mod plan;
mod programme;
mod qfd;
mod redirect;
mod responses;
mod shape;
mod strategy;
mod survey_form;
mod view;

use std::sync::Arc;

use axum::Router;
use peakend_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use checklist::checklist_html;
pub use error::ApiError;
pub use handbook::handbook_html;
pub use kpi::parse_offset;
pub use pages::questionnaire_html;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Mark the session cookie `Secure` on every response, not only on requests a TLS
    /// proxy forwarded (`X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Wakes a hall's live streams when an ingest for it commits.
    pub live: live::LiveHub,
    /// The halls' time when a request gives no `?at=`.
    pub clock: live::Clock,
    /// The largest request body each kind of route reads, and how long a request may take.
    pub limits: BodyLimits,
    /// Fires when the server begins to shut down: long-lived responses (live streams)
    /// end then, so the graceful shutdown is not held open by them.
    pub shutdown: Shutdown,
    /// Failed sign-ins per account and per address.
    pub logins: Arc<limiter::LoginThrottle>,
    /// How service cases are kept, and whether this server runs their background work.
    pub cases: case_worker::CaseSettings,
    /// The network's salt for customer keys (`PEAKEND_CUSTOMER_SALT`): a device that
    /// sends a `phone` has it turned into the salted key at ingest; without one, such
    /// events are refused.
    pub customer_salt: Option<Arc<str>>,
    /// How survey invitations leave (`log` unless told) and the base of their links.
    pub invites: invite_sender::Invites,
    /// Woken when an ingest queues contacts for their survey invitations.
    pub decider: Arc<tokio::sync::Notify>,
    /// With several nodes (`serve --nats`): device batches go through NATS JetStream
    /// and are applied by the node that holds their hall's partition.
    pub cluster: Option<Arc<cluster::Cluster>>,
}

/// Request body limits: forms and small JSON everywhere, a device's event batch, and a
/// whole survey file. A larger body is answered 413 in the route's error shape.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub small: usize,
    pub events: usize,
    pub upload: usize,
    /// The longest a request may take to send its body (408 after).
    pub body_timeout: std::time::Duration,
    /// The longest a handler may take before its answer starts (408 after).
    pub request_timeout: std::time::Duration,
    /// The longest a client may take to send a request's headers (the connection is
    /// closed after).
    pub header_timeout: std::time::Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            small: 256 * 1024,
            // A day's backlog of one busy hall's devices in one batch.
            events: 32 * 1024 * 1024,
            // Survey files of a few hundred thousand rows; larger ones belong to the CLI.
            upload: 256 * 1024 * 1024,
            // A 256 MiB survey file over a slow link fits.
            body_timeout: std::time::Duration::from_secs(120),
            request_timeout: std::time::Duration::from_secs(180),
            header_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// A one-way latch: `trigger` once, and every `wait` (before or after) returns.
#[derive(Clone, Debug)]
pub struct Shutdown(tokio::sync::watch::Sender<bool>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(tokio::sync::watch::channel(false).0)
    }
}

impl Shutdown {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once the shutdown has been triggered.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|&down| down).await;
    }
}

impl AppState {
    /// The state of a server on the system clock.
    pub fn new(store: Arc<dyn Store>) -> AppState {
        AppState {
            store,
            secure_cookies: false,
            live: live::LiveHub::default(),
            clock: live::Clock::System,
            limits: BodyLimits::default(),
            shutdown: Shutdown::default(),
            logins: Arc::default(),
            cases: case_worker::CaseSettings::default(),
            customer_salt: std::env::var(peakend_core::customer::SALT_ENV)
                .ok()
                .filter(|s| !s.is_empty())
                .map(Arc::from),
            invites: invite_sender::Invites::default(),
            decider: Arc::default(),
            cluster: None,
        }
    }
}

pub fn app(state: AppState) -> Router {
    let limits = state.limits;
    Router::new()
        .merge(health::router())
        .merge(assets::router())
        .merge(audits::router())
        .merge(auth::router())
        .merge(admin::router())
        .merge(board::router())
        .merge(busy::router())
        .merge(cases::router())
        .merge(checklist::router())
        .merge(dashboard::router())
        .merge(handbook::router())
        .merge(events::router(&limits))
        .merge(analysis::router())
        .merge(qfd::router())
        .merge(strategy::router())
        .merge(journeys::router())
        .merge(kpi::router())
        .merge(kpi_page::router())
        .merge(org::router())
        .merge(pages::router())
        .merge(plan::router())
        .merge(programme::router())
        .merge(customers::router())
        .merge(responses::router(&limits))
        .merge(survey_form::router())
        .fallback(error::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(limits.small))
        // A slow client cannot hold a handler: its body must arrive within the body
        // timeout and the answer start within the request timeout (live streams start
        // at once and then stream), else 408.
        .layer(axum::middleware::from_fn(move |req, next| {
            deadline::body_deadline(limits.body_timeout, req, next)
        }))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shape::shape_errors,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// How long a shutdown waits for requests in flight (an ingest's commit, a page) once
/// the live streams have ended; connections still open after it are dropped.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves until Ctrl-C (or SIGTERM): then live streams end, requests in flight finish
/// (for at most [`DRAIN_TIMEOUT`]) and it returns.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    serve_until(listener, state, shutdown_signal()).await
}

/// [`serve`] until `signal` completes.
///
/// The accept loop is hyper's with a timer, so that a client must finish its request
/// headers within the header timeout (axum's `serve` sets none, and a client sending a
/// header line now and then would hold its connection forever).
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    let shutdown = state.shutdown.clone();
    let header_timeout = state.limits.header_timeout;
    case_worker::spawn(state.clone());
    let router = app(state);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        // The peer address feeds the survey form's and the sign-ins' per-client limits.
        let service = hyper::service::service_fn(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    shutdown.trigger();
    tracing::info!("shutting down: ending live streams, draining requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("shutdown: connections still open after {DRAIN_TIMEOUT:?}, dropped");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
