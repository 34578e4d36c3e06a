use axum::Json;
use axum::http::{StatusCode, Uri, header};
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
    /// Seconds to wait before trying again (429), sent as `Retry-After`.
    pub retry_after: Option<u64>,
    /// More fields of the error object (a 409's `allowed` next states).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            problems: Vec::new(),
            retry_after: None,
            extra: serde_json::Map::new(),
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
            retry_after: None,
            extra: serde_json::Map::new(),
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
    /// The store's class decides the status. A 5xx keeps the store's text only until
    /// [`shape_errors`] logs it under the request's id and answers a generic message.
    fn from(e: StoreError) -> Self {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Gone => StatusCode::GONE,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "status": self.status.as_u16(), "message": self.message });
        if !self.problems.is_empty() {
            error["problems"] = self.problems.into();
        }
        for (k, v) in self.extra {
            error[k] = v;
        }
        let body = json!({ "error": error });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        response
    }
}

/// An unknown address: the API's JSON error to API clients and scripts, the error page
/// (in the reader's language, with the site's header) to a browser that asks for HTML.
pub async fn not_found(uri: Uri, headers: axum::http::HeaderMap) -> Response {
    let error = ApiError::not_found(format!("no route for {}", uri.path()));
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    // A customer's link is a page whatever the client says it accepts.
    let page = browser || crate::shape::is_customer_page(uri.path());
    if page && !uri.path().starts_with("/api/") {
        crate::view::PageError::from(error).into_response()
    } else {
        error.into_response()
    }
}
