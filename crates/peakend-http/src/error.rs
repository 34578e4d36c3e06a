use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use peakend_store::{ErrorKind, StoreError};
use serde_json::json;

/// An error as the API reports it: `{"error": {"status": 404, "message": "…"}}`, with
/// `"problems": [...]` when an input has several bad fields or cells.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub problems: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// 422 listing every problem: the message joins them, `problems` has them one by one.
    pub fn unprocessable<T: serde::Serialize + std::fmt::Display>(problems: &[T]) -> Self {
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: shown.join("; "),
            problems: problems
                .iter()
                .filter_map(|p| serde_json::to_value(p).ok())
                .collect(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "status": self.status.as_u16(), "message": self.message });
        if !self.problems.is_empty() {
            error["problems"] = self.problems.into();
        }
        let body = json!({ "error": error });
        (self.status, Json(body)).into_response()
    }
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// Errors that axum's extractors answer before a handler runs (a body over the limit, a
/// body that is not the JSON or form it should be) come as plain text. They are put in
/// the route's own shape here: `{"error":{…}}` on the API, the error page elsewhere. A
/// 5xx never carries the text it came with.
pub async fn shape_plain_errors(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
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
    } else if status.is_server_error() {
        status
            .canonical_reason()
            .unwrap_or("server error")
            .to_owned()
    } else {
        String::from_utf8_lossy(&text).trim().to_owned()
    };
    let error = ApiError::new(status, message);
    let mut shaped = if api {
        error.into_response()
    } else {
        crate::pages::PageError(error).into_response()
    };
    // Keep what the original answer told the client to do (Retry-After, Allow, …).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().append(name, value.clone());
        }
    }
    shaped
}
