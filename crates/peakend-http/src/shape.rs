//! Every answer in its route's shape and class, in one place: the request id, 5xx
//! bodies without internal text (logged under the id instead), `Retry-After` on 503s,
//! and the plain-text errors axum's extractors give put in the API's or the pages'
//! shape.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ApiError;
use crate::AppState;
use crate::view::{CustomerPage, ErrorPageParts, Lang, Nav, PageError, customer_page, error_page};

/// How long a client should wait before sending a request that got a 503 again.
const RETRY_AFTER_S: &str = "1";

/// A request's id: unique within the process (a random start, then counting), sent back
/// as `x-request-id` and written beside every server error in the log.
fn next_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let n = NEXT
        .get_or_init(|| AtomicU64::new(rand::random::<u64>() >> 16))
        .fetch_add(1, Ordering::Relaxed);
    format!("{n:012x}")
}

/// Every answer in its route's shape and class:
/// - every response carries `x-request-id`;
/// - a 5xx never carries internal text: its body is a generic message with the request
///   id, and the original text goes to the log under the same id; a 503 says when to
///   try again (`Retry-After`), since the request was not applied;
/// - errors that axum answers before a handler runs (a method the route does not take,
///   a body over the limit, a body or query that is not the form, JSON or media type it
///   should be) come as plain text or empty: they are put in the route's shape,
///   `{"error":{…}}` on the API (and to a client that asks for something other than
///   HTML), the error page elsewhere;
/// - a customer's page (survey, invitation, callback) answers its errors with the
///   customer's page, never the staff header.
pub async fn shape_errors(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let lang = Lang::of_request(request.uri(), request.headers());
    let here = request.uri().clone();
    let headers = request.headers().clone();
    let response = shaped_answer(request, next).await;
    in_readers_language(&state, response, lang, &here, &headers).await
}

/// The customer's page `path` is, if it is one: pages opened from a QR code, an SMS or a
/// mail without signing in.
pub fn customer_page_of(path: &str) -> Option<CustomerPage> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("i"), Some(token), _) if !token.is_empty() => Some(CustomerPage::Survey),
        (Some("c"), Some(token), _) if !token.is_empty() => Some(CustomerPage::Callback),
        (Some("halls"), Some(hall), Some("survey")) if !hall.is_empty() => {
            Some(CustomerPage::Survey)
        }
        (Some("halls"), Some(hall), Some("busy")) if !hall.is_empty() => {
            segments.next().is_none().then_some(CustomerPage::Hall)
        }
        _ => None,
    }
}

/// A page a customer opens without signing in: its errors show no staff navigation.
pub fn is_customer_page(path: &str) -> bool {
    customer_page_of(path).is_some()
}

/// Whether a client asked for something other than HTML (`Accept: application/json`):
/// a page route's framework errors are JSON for it. No `Accept`, `*/*` and HTML are a
/// browser's (or a form's) and get the page.
fn asks_for_other_than_html(headers: &axum::http::HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    !accept.trim().is_empty()
        && !["text/html", "*/*", "text/*", "application/xhtml"]
            .iter()
            .any(|t| accept.contains(t))
}

/// An error page drawn again for the request: a customer's page on a customer path, in
/// the customer's language; else the staff page in the request's language, with the
/// signed-in user's menu and the language switch leading back to the page asked for.
async fn in_readers_language(
    state: &AppState,
    response: Response,
    lang: Lang,
    here: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> Response {
    let Some(parts) = response.extensions().get::<ErrorPageParts>().cloned() else {
        return response;
    };
    let status = response.status();
    let drawn = match (customer_page_of(here.path()), parts.customer) {
        (Some(page), customer) => customer_page(status, customer.unwrap_or(lang), page),
        // A customer's page elsewhere stays as its handler drew it.
        (None, Some(_)) => return response,
        (None, None) => {
            let nav = crate::auth::page_nav(state, headers, &lang, here)
                .await
                .unwrap_or_else(|| Nav::anonymous_at(here));
            error_page(status, &parts.message, lang, nav)
        }
    };
    match drawn {
        Ok(body) => {
            let (head, _) = response.into_parts();
            let mut again = (status, axum::response::Html(body)).into_response();
            copy_headers(&head.headers, &mut again);
            again
        }
        Err(_) => response,
    }
}

async fn shaped_answer(request: Request, next: Next) -> Response {
    let id = next_request_id();
    // The API's shape for the API and for clients that ask for JSON.
    let api = request.uri().path().starts_with("/api/");
    let json = api || asks_for_other_than_html(request.headers());
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let mut response = next.run(request).await;
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status();
    if status.is_server_error() {
        return server_error(response, json, &id, &path).await;
    }
    if !status.is_client_error() {
        return response;
    }
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if shaped {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this route accepts".to_owned()
        }
        // Axum answers an unrouted method with no body at all.
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{method} is not allowed at {path}")
        }
        _ if text.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("client error")
            .to_lowercase(),
        // An extractor's reason is about the request, never the server's internals; a
        // long one is cut, as a deserializer may quote the input.
        _ => text.trim().chars().take(300).collect(),
    };
    reshaped(ApiError::new(status, message), json, &parts.headers)
}

/// A 5xx answered with a generic message and the request id; what it said is logged.
/// `api`: in the API's shape (JSON).
async fn server_error(response: Response, api: bool, id: &str, path: &str) -> Response {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    tracing::error!(
        request_id = id,
        status = status.as_u16(),
        path,
        detail = %String::from_utf8_lossy(&text),
        "request failed"
    );
    let message = if status == StatusCode::SERVICE_UNAVAILABLE {
        format!(
            "the service cannot do this now and did not apply it; try again shortly (request {id})"
        )
    } else {
        format!("internal error (request {id})")
    };
    let mut shaped = if api {
        // The id as a field too, so a script can report it.
        let body = json!({ "error": {
            "status": status.as_u16(), "message": message, "request_id": id,
        }});
        (status, Json(body)).into_response()
    } else {
        PageError::from(ApiError::new(status, message)).into_response()
    };
    copy_headers(&parts.headers, &mut shaped);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        shaped.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(RETRY_AFTER_S),
        );
    }
    shaped
}

/// `error` as the route answers errors, keeping the original answer's other headers
/// (Retry-After, Allow, x-request-id, …).
fn reshaped(error: ApiError, api: bool, headers: &axum::http::HeaderMap) -> Response {
    let mut shaped = if api {
        error.into_response()
    } else {
        PageError::from(error).into_response()
    };
    copy_headers(headers, &mut shaped);
    shaped
}

fn copy_headers(from: &axum::http::HeaderMap, to: &mut Response) {
    for (name, value) in from {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            to.headers_mut().append(name, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_pages_are_the_ones_opened_without_signing_in() {
        for path in [
            "/i/abc123",
            "/i/abc123/thanks",
            "/i/abc123/optout",
            "/c/tok",
            "/halls/h1/survey",
            "/halls/h1/survey/thanks",
            "/halls/h1/busy",
        ] {
            assert!(is_customer_page(path), "{path}");
        }
        assert_eq!(customer_page_of("/c/tok"), Some(CustomerPage::Callback));
        assert_eq!(customer_page_of("/i/t"), Some(CustomerPage::Survey));
        assert_eq!(customer_page_of("/halls/h1/busy"), Some(CustomerPage::Hall));
        for path in [
            "/",
            "/i",
            "/i/",
            "/c/",
            "/cases",
            "/cases/12",
            "/halls/h1/board",
            "/halls/h1/plan",
            "/halls/h1/qr",
            "/halls//survey",
            "/halls/h1/busy/x",
            "/api/v1/halls/h1/busy-hours",
            "/journeys/service-hall",
            "/login",
        ] {
            assert!(!is_customer_page(path), "{path}");
        }
    }

    #[test]
    fn only_a_client_that_asks_for_other_than_html_gets_json_on_a_page() {
        let with = |accept: Option<&str>| {
            let mut h = axum::http::HeaderMap::new();
            if let Some(a) = accept {
                h.insert(header::ACCEPT, a.parse().unwrap());
            }
            asks_for_other_than_html(&h)
        };
        assert!(!with(None));
        assert!(!with(Some("*/*")));
        assert!(!with(Some(
            "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
        )));
        assert!(with(Some("application/json")));
        assert!(with(Some("text/csv")));
    }
}
