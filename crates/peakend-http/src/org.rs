use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::org::OrgTreeNode;

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/org", get(tree))
}

/// The organisation as nested nodes, provinces at the top.
async fn tree(State(state): State<AppState>) -> Result<Json<Vec<OrgTreeNode>>, ApiError> {
    Ok(Json(state.store.org_tree().await?.to_nested()))
}
