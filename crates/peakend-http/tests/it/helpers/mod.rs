//! The one way the HTTP and page tests start the app, in the spirit of zero2prod's
//! `tests/api/helpers.rs`: a fresh database per test (the caller's, from
//! `on_both_backends!`), the organisation, users and journeys the story needs, the
//! server itself (`serve_until` on port 0, with connection info as `peakend serve` has),
//! and a client for each kind of caller.

#![allow(dead_code)] // each test file uses its own part of the harness

use std::net::SocketAddr;
use std::sync::Arc;

use peakend_core::{HallId, Journey, OrgNode, OrgNodeId, Role, UserName};
use peakend_http::{AppState, BodyLimits};
use peakend_store::{Origin, SqlStore, Store, User};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// Every test user's password.
pub const PASSWORD: &str = "correct-horse-1";

/// What a story starts from.
pub struct Setup {
    pub org: Vec<OrgNode>,
    /// (name, role, org node)
    pub users: Vec<(&'static str, Role, &'static str)>,
    /// Imported after the built-in journeys.
    pub journeys: Vec<Journey>,
    pub limits: Option<BodyLimits>,
    pub clock: Option<peakend_http::live::Clock>,
}

impl Default for Setup {
    /// Province `p` → city `c` → district `d` → hall `h1`, and an administrator of `p`.
    fn default() -> Self {
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅")]),
            users: vec![("admin", Role::Admin, "p")],
            journeys: Vec::new(),
            limits: None,
            clock: None,
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub store: SqlStore,
}

impl TestApp {
    pub async fn spawn(url: &str) -> TestApp {
        TestApp::spawn_with(url, Setup::default()).await
    }

    pub async fn spawn_with(url: &str, setup: Setup) -> TestApp {
        let store = peakend_store::connect(url).await.unwrap();
        store.load_builtin_journeys().await.unwrap();
        for j in &setup.journeys {
            store.put_journey(j, Origin::User).await.unwrap();
        }
        store.import_org(setup.org).await.unwrap();
        let hash = peakend_http::auth::hash_password(PASSWORD).unwrap();
        for (name, role, org) in setup.users {
            let user = User {
                name: UserName::parse(name).unwrap(),
                role,
                org: OrgNodeId::parse(org).unwrap(),
                created_at: 0,
                staff: None,
            };
            store.create_user(&user, &hash).await.unwrap();
        }
        let mut state = AppState::new(Arc::new(store.clone()));
        // Stories sweep and deliver when they choose (`case sweep --at`, the worker's
        // functions), not on the system clock behind their back.
        state.cases.workers = false;
        if let Some(limits) = setup.limits {
            state.limits = limits;
        }
        if let Some(clock) = setup.clock {
            state.clock = clock;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(peakend_http::serve_until(
            listener,
            state,
            std::future::pending(),
        ));
        TestApp {
            base: format!("http://{addr}"),
            addr,
            store,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The session token of user `name`, signed in through `POST /api/v1/session`.
    pub async fn token(&self, name: &str) -> String {
        let login: Value = reqwest::Client::new()
            .post(self.url("/api/v1/session"))
            .json(&json!({"name": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["token"].as_str().unwrap().to_owned()
    }

    /// A script of user `name`: signed in, sending the bearer token, following no
    /// redirects.
    pub async fn user(&self, name: &str) -> reqwest::Client {
        bearer_client(&self.token(name).await)
    }

    /// A browser signed in as `name` through the login form (cookies kept), and the
    /// session's CSRF token.
    pub async fn sign_in(&self, name: &str) -> (reqwest::Client, String) {
        let b = browser();
        let resp = b
            .post(self.url("/login"))
            .form(&[("name", name), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::SEE_OTHER);
        let me: Value = b
            .get(self.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (b, me["csrf"].as_str().unwrap().to_owned())
    }

    /// A device of `hall` (a new device token), and the token.
    pub async fn device(&self, hall: &str) -> (reqwest::Client, String) {
        let token = self
            .store
            .create_device_token(&HallId::parse(hall).unwrap())
            .await
            .unwrap();
        (bearer_client(&token), token)
    }
}

fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A browser: keeps cookies, shows redirects instead of following them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A customer's phone: shows redirects instead of following them and keeps no cookies,
/// so a form posted twice is refused by its nonce alone.
pub fn customer() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of a form's hidden nonce field.
pub fn nonce_of(html: &str) -> String {
    let (_, rest) = html
        .split_once(r#"name="nonce" value=""#)
        .unwrap_or_else(|| panic!("no nonce in {html}"));
    rest.split('"').next().unwrap().to_owned()
}

/// An answer's status and its body as JSON (a body that is not names itself).
pub async fn json_of(resp: reqwest::Response) -> (reqwest::StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}")),
    )
}

/// Sends a request and reads its answer as JSON (a failure names the status and body).
pub trait FetchJson {
    async fn fetch_json(self) -> Value;
}

impl FetchJson for reqwest::RequestBuilder {
    async fn fetch_json(self) -> Value {
        let resp = self.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}"))
    }
}
