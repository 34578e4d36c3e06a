use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::{Journey, JourneyKey};
use peakend_store::JourneySummary;

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/journeys", get(list))
        .route("/api/v1/journeys/{key}", get(export))
}

/// Journeys are the province's shared method: every signed-in user may read them.
async fn list(
    State(state): State<AppState>,
    _viewer: Viewer,
) -> Result<Json<Vec<JourneySummary>>, ApiError> {
    Ok(Json(state.store.list_journeys().await?))
}

/// Loads a journey by the key in a URL: 400 for a malformed key, 404 for an unknown one.
pub(crate) async fn load(state: &AppState, key: String) -> Result<Journey, ApiError> {
    let key = JourneyKey::parse(key).map_err(|e| ApiError::bad_request(e.to_string()))?;
    state
        .store
        .journey(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("journey `{key}` not found")))
}

/// The journey exactly as `peakend journey export --format json` prints it.
async fn export(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let journey = load(&state, key).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        journey.to_json_pretty(),
    ))
}
