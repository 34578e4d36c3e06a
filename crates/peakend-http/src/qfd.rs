//! `GET /api/v1/qfd/{journey}?org=&purpose=` (issue 23, begun): stage 1 of the
//! journey's house of quality, as `peakend qfd` gives it, for the viewer's node or one
//! below it.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::{JourneyKey, OrgNodeId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/qfd/{journey}", get(house))
}

#[derive(Deserialize)]
struct QfdQuery {
    org: Option<String>,
    purpose: Option<String>,
    /// Only 1 so far.
    stage: Option<u8>,
}

async fn house(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(journey): Path<String>,
    Query(q): Query<QfdQuery>,
) -> Result<Json<Value>, ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    match q.stage {
        None | Some(1) => {}
        Some(s) => {
            return Err(bad(
                "stage",
                format!(
                    "{s}: only stage 1 (customer needs × service encounters) is built from a journey so far"
                ),
            ));
        }
    }
    let key = JourneyKey::parse(journey.trim()).map_err(|e| bad("journey", e.to_string()))?;
    let org = match q.org {
        Some(o) => OrgNodeId::parse(o).map_err(|e| bad("org", e.to_string()))?,
        None => viewer.user.org.clone(),
    };
    viewer.ensure_covers(&state.store.org_tree().await?, &org)?;
    let journey = crate::journeys::load(&state, key.to_string()).await?;
    let purpose = q.purpose.filter(|p| !p.trim().is_empty());
    let (house, respondents) = peakend_store::qfd_stage1(
        state.store.as_ref(),
        &journey,
        Some(&org),
        purpose.as_deref(),
    )
    .await?;
    Ok(Json(json!({
        "journey": key.as_str(),
        "stage": 1,
        "org": org.as_str(),
        "purpose": purpose,
        "respondents": respondents,
        "importance": house.ranking(),
        "house": house,
    })))
}
