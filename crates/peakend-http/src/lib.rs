//! HTTP adapter: one module per route group, each with its own `router()`, merged
//! here. Handlers parse their inputs into core types, call the store, and turn
//! errors into [`ApiError`], which knows its status.

mod admin;
mod analysis;
mod assets;
pub mod auth;
mod board;
mod dashboard;
mod error;
mod events;
mod health;
mod journeys;
mod kpi;
pub mod live;
mod org;
mod pages;
mod responses;
mod survey_form;

use std::sync::Arc;

use axum::Router;
use peakend_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use kpi::{china, parse_offset};
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
}

impl AppState {
    /// The state of a server on the system clock.
    pub fn new(store: Arc<dyn Store>) -> AppState {
        AppState {
            store,
            secure_cookies: false,
            live: live::LiveHub::default(),
            clock: live::Clock::System,
        }
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(assets::router())
        .merge(auth::router())
        .merge(admin::router())
        .merge(board::router())
        .merge(dashboard::router())
        .merge(events::router())
        .merge(analysis::router())
        .merge(journeys::router())
        .merge(kpi::router())
        .merge(org::router())
        .merge(pages::router())
        .merge(responses::router())
        .merge(survey_form::router())
        .fallback(error::not_found)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until Ctrl-C (or SIGTERM), finishing requests in flight.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    // The peer address feeds the survey form's per-client rate limit.
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
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
