use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

/// Healthy means the database answers, not merely that the process is up.
async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    Ok(Json(
        json!({ "status": "ok", "backend": state.store.backend() }),
    ))
}
