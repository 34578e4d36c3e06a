use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::OrgNodeId;
use peakend_core::org::OrgTreeNode;

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/org", get(tree))
}

/// The organisation as nested nodes: the user's node and everything below it.
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
    let nested = state.store.org_tree().await?.to_nested();
    Ok(Json(find(nested, &viewer.user.org).into_iter().collect()))
}
