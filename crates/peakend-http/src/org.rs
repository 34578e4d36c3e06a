//! The organisation: the tree a user sees, and the journey each node lives by.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::org::OrgTreeNode;
use peakend_core::{Action, JourneyKey, OrgNodeId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/org", get(tree))
        .route("/api/v1/org/{node}/journey", get(journey).put(assign))
}

/// The organisation as nested nodes: the user's node and everything below it, each
/// with its own journey (if assigned) and the one it lives by.
async fn tree(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Vec<OrgTreeNode>>, ApiError> {
    fn find(nodes: Vec<OrgTreeNode>, id: &OrgNodeId) -> Option<OrgTreeNode> {
        nodes.into_iter().find_map(|n| {
            if &n.id == id {
                Some(n)
            } else {
                find(n.children, id)
            }
        })
    }
    let tree = state.store.org_tree().await?;
    let mut nested = tree.to_nested();
    state
        .store
        .journey_assignments()
        .await?
        .annotate(&tree, &mut nested);
    Ok(Json(find(nested, &viewer.user.org).into_iter().collect()))
}

fn node_id(raw: &str) -> Result<OrgNodeId, ApiError> {
    OrgNodeId::parse(raw).map_err(|e| ApiError::bad_request(format!("node: {e}")))
}

/// A node's own journey, the one it lives by (and from which node), and the recorded
/// changes of its assignment.
async fn journey(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(node): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let node = node_id(&node)?;
    let tree = state.store.org_tree().await?;
    viewer.ensure_covers(&tree, &node)?;
    let assignments = state.store.journey_assignments().await?;
    let effective = assignments.effective(&tree, &node);
    let history = state.store.journey_changes(Some(&node)).await?;
    Ok(Json(json!({
        "node": node,
        "journey": assignments.own(&node),
        "effective_journey": effective.journey,
        "effective_from": effective.from,
        "history": history,
    })))
}

#[derive(Deserialize)]
struct AssignBody {
    journey: String,
}

/// Assigns a journey to a node (a director's or an admin's of a node in their scope);
/// 422 naming the node and the missing moment when the journey above is not kept.
async fn assign(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(node): Path<String>,
    Json(body): Json<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::AssignJourney)?;
    let node = node_id(&node)?;
    let key = JourneyKey::parse(body.journey.trim()).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("journey: {e}"),
        )
    })?;
    let tree = state.store.org_tree().await?;
    // An unknown node is a bad request body's fault like an unknown journey (422),
    // not a missing page.
    if tree.get(&node).is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("node `{node}` not found"),
        ));
    }
    viewer.ensure_covers(&tree, &node)?;
    let now = chrono::Utc::now().timestamp_millis();
    let old = state
        .store
        .assign_journey(&node, &key, viewer.user.name.as_str(), now)
        .await?;
    Ok(Json(json!({
        "node": node,
        "journey": key,
        "previous": old,
    })))
}
