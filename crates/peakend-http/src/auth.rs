//! Accounts on the web: login and logout (a page and JSON), the session cookie, CSRF,
//! and the extractors every other route uses to learn who is calling and what they
//! may see. The rules themselves (roles, scopes) are the core's `access` module.
//!
//! A caller is a user with a session, presented as the `peakend_session` cookie (the
//! browser) or as `Authorization: Bearer` (scripts: the token `POST /api/v1/session`
//! returns), or a hall device with its device token. Cookie callers must also send the
//! session's CSRF token on every POST (a form field `csrf` or the `X-CSRF-Token` header);
//! bearer callers need not, since a browser never attaches a bearer token by itself.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use peakend_core::{Action, HallId, OrgNodeId, OrgTree, Role, Scope, UserName};
use peakend_store::{Session, User};
use serde::Deserialize;
use serde_json::json;

use crate::view::{Lang, Nav, PageError, Signed, render};
use crate::{ApiError, AppState};

pub const SESSION_COOKIE: &str = "peakend_session";
/// A working day and then some: a hall manager signs in once a shift.
const SESSION_HOURS: i64 = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout_form))
        .route("/api/v1/session", post(login_json).delete(logout_json))
        .route("/api/v1/me", get(me))
}

/// An argon2id hash (PHC string) of `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .and_then(|h| Argon2::default().verify_password(password.as_bytes(), &h))
        .is_ok()
}

/// A one-time password to hand over: 16 characters without look-alikes (0/O, 1/l/I),
/// about 90 bits.
pub fn one_time_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The value of one cookie of the request.
pub use crate::view::cookie;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Equal-time comparison, so a CSRF token cannot be guessed byte by byte from timings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `Secure` when the request reached us over HTTPS (a TLS proxy says so with
/// `X-Forwarded-Proto`), or when the server is told it always is. peakend itself speaks
/// plain HTTP, and a `Secure` cookie would not come back over it.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn session_cookie(state: &AppState, headers: &HeaderMap, token: &str, max_age: i64) -> HeaderValue {
    let secure = if secure(state, headers) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("hex tokens make valid header values")
}

/// A signed-in user, as a route sees them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub csrf: String,
    pub scope: Scope,
    /// Came with the session cookie (so POSTs need the CSRF token).
    by_cookie: bool,
}

impl Viewer {
    fn of(session: Session, by_cookie: bool) -> Viewer {
        Viewer {
            scope: Scope::new(session.user.org.clone()),
            user: session.user,
            csrf: session.csrf,
            by_cookie,
        }
    }

    /// 403 unless the user's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.user.role.may(action) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "user `{}` ({}) may not do this",
                    self.user.name, self.user.role
                ),
            ))
        }
    }

    /// 404 for an unknown node, 403 unless `node` is the user's node or below it.
    pub fn ensure_covers(&self, tree: &OrgTree, node: &OrgNodeId) -> Result<(), ApiError> {
        if tree.get(node).is_none() {
            Err(ApiError::not_found(format!("org node `{node}` not found")))
        } else if self.scope.covers(tree, node) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "user `{}` sees `{}` and below, not `{node}`",
                    self.user.name, self.user.org
                ),
            ))
        }
    }

    /// The hall a request names: 422 when it is not a hall of the tree, 403 outside the
    /// user's scope.
    pub fn hall_in_scope(&self, tree: &OrgTree, hall: &str) -> Result<HallId, ApiError> {
        let hall = HallId::parse(hall.trim())
            .map_err(|e| ApiError::unprocessable(&[format!("hall: {}", e.reason)]))?;
        let node =
            OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        if tree
            .get(&node)
            .is_none_or(|n| n.level != peakend_core::OrgLevel::Hall)
        {
            return Err(ApiError::unprocessable(&[format!(
                "hall: `{hall}` is not a hall"
            )]));
        }
        self.ensure_covers(tree, &node)?;
        Ok(hall)
    }

    /// The hall or contact centre a request names (an audit's site): 422 when it is
    /// neither, 403 outside the user's scope.
    pub fn site_in_scope(&self, tree: &OrgTree, site: &str) -> Result<HallId, ApiError> {
        let hall = HallId::parse(site.trim())
            .map_err(|e| ApiError::unprocessable(&[format!("hall: {}", e.reason)]))?;
        let node =
            OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        if tree.get(&node).is_none_or(|n| !n.level.is_leaf()) {
            return Err(ApiError::unprocessable(&[format!(
                "hall: `{hall}` is not a hall or contact centre"
            )]));
        }
        self.ensure_covers(tree, &node)?;
        Ok(hall)
    }

    /// As [`Viewer::site_in_scope`] for a URL path: 404 for what is neither.
    pub fn path_site(&self, tree: &OrgTree, site: &str) -> Result<HallId, ApiError> {
        self.site_in_scope(tree, site).map_err(|e| {
            if e.status == StatusCode::UNPROCESSABLE_ENTITY {
                ApiError::not_found(format!("hall `{site}` not found"))
            } else {
                e
            }
        })
    }

    /// The hall a URL path names: as [`Viewer::hall_in_scope`], but a path to no hall
    /// is a page that does not exist (404), not a bad field.
    pub fn path_hall(&self, tree: &OrgTree, hall: &str) -> Result<HallId, ApiError> {
        self.hall_in_scope(tree, hall).map_err(|e| {
            if e.status == StatusCode::UNPROCESSABLE_ENTITY {
                ApiError::not_found(format!("hall `{hall}` not found"))
            } else {
                e
            }
        })
    }

    /// 403 for a cookie caller whose POST lacks the session's CSRF token.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), ApiError> {
        if !self.by_cookie || given.is_some_and(|g| same(g, &self.csrf)) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the form is stale or forged: reload the page and try again (CSRF token missing or wrong)",
            ))
        }
    }

    /// The CSRF token a cookie caller sent in the `X-CSRF-Token` header.
    pub fn check_csrf_header(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
    }
}

impl Signed for Viewer {
    fn user(&self) -> &User {
        &self.user
    }

    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Who is calling: a signed-in user, or a hall's device.
#[derive(Debug, Clone)]
pub enum Caller {
    User(Viewer),
    Device(HallId),
}

impl Caller {
    /// 403 unless the caller may see `hall`: a user whose scope covers it, or that
    /// hall's own device.
    pub fn ensure_hall(&self, tree: &OrgTree, hall: &HallId) -> Result<(), ApiError> {
        match self {
            Caller::User(v) => v.ensure_covers(
                tree,
                &OrgNodeId::parse(hall.as_str())
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            ),
            Caller::Device(h) if h == hall => Ok(()),
            Caller::Device(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this token is not for hall `{hall}`"),
            )),
        }
    }
}

/// The caller of a request, or `None` for an anonymous one; an unknown token is 401.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    if let Some(token) = bearer(headers) {
        if let Some(hall) = state.store.device_token_hall(token).await? {
            return Ok(Some(Caller::Device(hall)));
        }
        return match state.store.session(token, now).await? {
            Some(s) => Ok(Some(Caller::User(Viewer::of(s, false)))),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unknown or expired token",
            )),
        };
    }
    if let Some(token) = cookie(headers, SESSION_COOKIE)
        && let Some(s) = state.store.session(token, now).await?
    {
        return Ok(Some(Caller::User(Viewer::of(s, true))));
    }
    Ok(None)
}

/// The header of a page drawn outside its handler (an error page): the signed-in
/// user's menu when the request carries a live session cookie, else `None`. A store
/// that cannot answer just leaves the menu out: the error page must still render.
pub async fn page_nav(
    state: &AppState,
    headers: &HeaderMap,
    lang: &crate::view::Lang,
    here: &Uri,
) -> Option<crate::view::Nav> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let now = chrono::Utc::now().timestamp_millis();
    let session = state.store.session(token, now).await.ok()??;
    let tree = state.store.org_tree().await.ok()?;
    Some(crate::view::Nav::of(
        &Viewer::of(session, true),
        &tree,
        lang,
        here,
    ))
}

/// What an unauthenticated request gets: 401 from the API, the login page from pages.
pub enum AuthRejection {
    Api(ApiError),
    Page(String),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Api(e) => e.into_response(),
            AuthRejection::Page(next) => {
                // A page asked for in English leads to a sign-in page in English.
                let query = next.split_once('?').map_or("", |(_, q)| q);
                let en = query.split('&').any(|kv| kv.starts_with("lang=en"));
                let lang = if en { "&lang=en" } else { "" };
                Redirect::to(&format!("/login?next={}{lang}", encode(&next))).into_response()
            }
        }
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn reject(parts: &Parts, e: ApiError) -> AuthRejection {
    let path = parts.uri.path();
    if path.starts_with("/api/") || e.status != StatusCode::UNAUTHORIZED {
        AuthRejection::Api(e)
    } else {
        let next = parts
            .uri
            .path_and_query()
            .map_or(path.to_owned(), |p| p.as_str().to_owned());
        AuthRejection::Page(next)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match caller(state, &parts.headers).await {
            Ok(Some(Caller::User(v)))
                if v.user.role == Role::Auditor && !auditor_may_open(parts.uri.path()) =>
            {
                Err(AuthRejection::Api(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "user `{}` is an auditor: it submits audits and reads no results",
                        v.user.name
                    ),
                )))
            }
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(reject(
                parts,
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "sign in first (POST /api/v1/session)",
                ),
            )),
            Err(e) => Err(reject(parts, e)),
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(v) => Ok(v),
            Caller::Device(_) => Err(AuthRejection::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "a device token cannot do this; sign in as a user",
            ))),
        }
    }
}

/// What an auditor (a mystery shopper) may open: the audit API, the audit page of a
/// hall, the checklists and signing out. Everything else shows results, which would
/// shape what it finds; every route that takes a signed-in user goes through here.
fn auditor_may_open(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["", "api", "v1", "audits"]
            | ["", "api", "v1", "audits", "photos"]
            | ["", "api", "v1", "session"]
            | ["", "api", "v1", "me"]
            | ["", "audit"]
            | ["", "halls", _, "audit"]
            | ["", "journeys", _, "checklist"]
            | ["", "logout"]
    )
}

/// Password hashes are computed on tokio's blocking pool, at most this many at once: a
/// burst of sign-ins queues here instead of holding the async workers that serve live
/// streams and ingest.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Runs an argon2 computation off the async workers, within [`HASHING`].
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let busy = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "password hashing unavailable",
        )
    };
    let _permit = HASHING.acquire().await.map_err(|_| busy())?;
    tokio::task::spawn_blocking(work).await.map_err(|_| busy())
}

/// [`hash_password`] off the async workers.
pub async fn hash_password_blocking(password: String) -> Result<String, ApiError> {
    hashing(move || hash_password(&password))
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Checks a sign-in: throttled per account and per address (429 with `Retry-After`
/// while backing off), the password verified off the async workers, and every attempt
/// recorded for the administrators.
async fn check_login(
    state: &AppState,
    name: &str,
    password: &str,
    address: Option<std::net::IpAddr>,
) -> Result<User, ApiError> {
    let wrong = || ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password");
    let now = std::time::Instant::now();
    let given = name.trim().to_lowercase();
    let keys = [
        format!("user:{given}"),
        format!(
            "addr:{}",
            address.map_or_else(|| "unknown".into(), |a| a.to_string())
        ),
    ];
    let record = |outcome: &str| peakend_store::SignIn {
        at: chrono::Utc::now().timestamp_millis(),
        name: given.chars().take(64).collect(),
        address: address.map(|a| a.to_string()),
        outcome: outcome.to_owned(),
    };
    if let Some(wait) = state.logins.wait(&keys, now) {
        state.store.record_sign_in(&record("throttled")).await?;
        let secs = wait.as_secs().max(1);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins; try again in {secs} s"),
        );
        e.retry_after = Some(secs);
        return Err(e);
    }
    let found = match UserName::parse(name.trim()) {
        Ok(n) => state.store.user_credentials(&n).await?,
        Err(_) => None,
    };
    let password = password.to_owned();
    let (user, ok) = match found {
        Some((user, hash)) => (
            Some(user),
            hashing(move || verify_password(&password, &hash)).await?,
        ),
        None => {
            // Verify against a real hash anyway, so a missing user takes as long as a
            // wrong password (a malformed hash would fail before hashing and give it away).
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
            hashing(move || verify_password(&password, dummy)).await?;
            (None, false)
        }
    };
    match user {
        Some(user) if ok => {
            state.logins.succeeded(&keys);
            state.store.record_sign_in(&record("ok")).await?;
            Ok(user)
        }
        found => {
            state.logins.failed(&keys, now);
            let outcome = if found.is_some() {
                "wrong_password"
            } else {
                "unknown_user"
            };
            state.store.record_sign_in(&record(outcome)).await?;
            Err(wrong())
        }
    }
}

/// The peer's address, when the server was started with connection info.
fn peer(
    connect_info: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
) -> Option<std::net::IpAddr> {
    connect_info.map(|axum::Extension(axum::extract::ConnectInfo(addr))| addr.ip())
}

async fn open_session(state: &AppState, user: &User) -> Result<(String, String), ApiError> {
    let expires = chrono::Utc::now().timestamp_millis() + SESSION_HOURS * 3_600_000;
    Ok(state.store.create_session(&user.name, expires).await?)
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

/// For scripts and tests: `{"name","password"}` → the session as a bearer token (also
/// set as the cookie) and its CSRF token.
async fn login_json(
    State(state): State<AppState>,
    connect_info: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Json(c): Json<Credentials>,
) -> Result<Response, ApiError> {
    let user = check_login(&state, &c.name, &c.password, peer(connect_info)).await?;
    let (token, csrf) = open_session(&state, &user).await?;
    let mut resp = Json(json!({
        "token": token,
        "csrf": csrf,
        "user": user,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &headers, &token, SESSION_HOURS * 3600),
    );
    Ok(resp)
}

async fn logout_json(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers).or_else(|| cookie(&headers, SESSION_COOKIE));
    if let Some(Caller::User(v)) = caller(&state, &headers).await? {
        v.check_csrf_header(&headers)?;
    }
    if let Some(token) = token {
        state.store.end_session(token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &headers, "", 0));
    Ok(resp)
}

async fn me(viewer: Viewer) -> Json<serde_json::Value> {
    Json(json!({ "user": viewer.user, "csrf": viewer.csrf }))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    lang: Lang,
    nav: Nav,
    next: String,
    name: String,
    error: String,
}

/// Only our own paths are followed after login, never another site.
fn safe_next(next: Option<&str>) -> String {
    crate::redirect::local_target_or_home(next)
}

async fn login_page(
    lang: Lang,
    uri: Uri,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref());
    let mut resp = render(&LoginPage {
        nav: Nav::anonymous_at(&login_here(&next)),
        next,
        name: String::new(),
        error: String::new(),
        lang,
    })?
    .into_response();
    keep_language(&uri, &mut resp);
    Ok(resp)
}

/// The sign-in page's own address with its `next`, so the language switch comes back to
/// a sign-in that still leads where the reader was going.
fn login_here(next: &str) -> Uri {
    let here = if next == "/" {
        "/login".to_owned()
    } else {
        format!("/login?next={}", encode(next))
    };
    here.parse().unwrap_or_else(|_| Uri::from_static("/login"))
}

/// A language chosen on the sign-in's address (`?lang=en`, as a page asked for in
/// English sends there) becomes the `lang` cookie, the one source of the language
/// after signing in, whether the sign-in succeeds or fails.
fn keep_language(uri: &Uri, resp: &mut Response) {
    if let Some(lang) = Lang::of_query(uri) {
        resp.headers_mut().append(header::SET_COOKIE, lang.cookie());
    }
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    connect_info: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    lang: Lang,
    uri: Uri,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(f.next.as_deref());
    let mut resp = login_answer(&state, connect_info, lang, &headers, f, next).await?;
    keep_language(&uri, &mut resp);
    Ok(resp)
}

async fn login_answer(
    state: &AppState,
    connect_info: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    lang: Lang,
    headers: &HeaderMap,
    f: LoginForm,
    next: String,
) -> Result<Response, PageError> {
    match check_login(state, &f.name, &f.password, peer(connect_info)).await {
        Ok(user) => {
            let (token, _) = open_session(state, &user).await?;
            // An auditor lands on its audits, not on results it may not read.
            let path = next.split('?').next().unwrap_or("/");
            let next = if user.role == Role::Auditor && !auditor_may_open(path) {
                "/audit".to_owned()
            } else {
                next
            };
            let mut resp = Redirect::to(&next).into_response();
            resp.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(state, headers, &token, SESSION_HOURS * 3600),
            );
            Ok(resp)
        }
        Err(e)
            if e.status == StatusCode::UNAUTHORIZED
                || e.status == StatusCode::TOO_MANY_REQUESTS =>
        {
            let error = match e.retry_after {
                Some(s) => format!(
                    "{} {s} {}",
                    lang.t("登录失败次数过多，请等待", "Too many failed sign-ins; wait"),
                    lang.t("秒后再试", "s and try again")
                ),
                None => lang
                    .t("用户名或密码错误", "Wrong user name or password")
                    .to_owned(),
            };
            let page = LoginPage {
                nav: Nav::anonymous_at(&login_here(&next)),
                error,
                next,
                name: f.name,
                lang,
            };
            let mut resp = (e.status, render(&page)?).into_response();
            if let Some(s) = e.retry_after {
                resp.headers_mut().insert(header::RETRY_AFTER, s.into());
            }
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout_form(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.store.end_session(token).await?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &headers, "", 0));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("s3cret-Pass").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret-Pass", &h));
        assert!(!verify_password("s3cret-pass", &h));
        assert!(!verify_password("s3cret-Pass", "not a hash"));
        assert_ne!(h, hash_password("s3cret-Pass").unwrap(), "salted");
    }

    #[test]
    fn one_time_passwords_are_long_and_unambiguous() {
        let p = one_time_password();
        assert_eq!(p.len(), 16);
        assert!(!p.contains(['0', 'O', '1', 'l', 'I']));
        assert_ne!(p, one_time_password());
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("lang=en; peakend_session=abc"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, "none"), None);
    }
}
