use axum::Json;
use axum::http::{StatusCode, Uri};
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
