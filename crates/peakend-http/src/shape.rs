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
use crate::view::{ErrorPageParts, Lang, Nav, PageError, error_page};

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
/// - errors that axum's extractors answer before a handler runs (a body over the limit,
///   a body that is not the JSON or form it should be) come as plain text: they are put
///   in the route's shape, `{"error":{…}}` on the API and the error page elsewhere.
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

/// A staff error page drawn again in the request's language, with the signed-in user's
/// menu and the language switch leading back to the page asked for.
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
    let nav = crate::auth::page_nav(state, headers, &lang, here)
        .await
        .unwrap_or_else(|| Nav::anonymous_at(here));
    match error_page(status, &parts.message, lang, nav) {
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
    let api = request.uri().path().starts_with("/api/");
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status();
    if status.is_server_error() {
        return server_error(response, api, &id, &path).await;
    }
    if !status.is_client_error() {
        return response;
    }
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    // Only the API shapes every error; a page route reshapes the statuses extractors
    // answer in plain text for bodies.
    if shaped || !(api || status == StatusCode::PAYLOAD_TOO_LARGE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is larger than this route accepts".to_owned()
    } else {
        String::from_utf8_lossy(&text).trim().to_owned()
    };
    reshaped(ApiError::new(status, message), api, &parts.headers)
}

/// A 5xx answered with a generic message and the request id; what it said is logged.
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
