//! `GET /api/v1/survey/rates` and `GET /api/v1/survey/waits` (issue 22): the survey
//! programme's response rates with the non-response check, and satisfaction by minutes
//! waited with the tolerance point and staff and counter effects, for any org node in
//! the caller's scope (`org` defaults to the caller's node).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::OrgNodeId;
use peakend_core::survey::parse_date;
use peakend_store::{ProgrammeQuery, RatesReport, WaitsReport};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/survey/rates", get(rates))
        .route("/api/v1/survey/waits", get(waits))
}

#[derive(Deserialize)]
struct Params {
    org: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The node (checked against the caller's scope) and the period a request asks for.
async fn query(
    state: &AppState,
    viewer: &Viewer,
    q: Params,
) -> Result<(OrgNodeId, chrono::NaiveDate, chrono::NaiveDate), ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    let org = match q.org {
        Some(o) => OrgNodeId::parse(o).map_err(|e| bad("org", e.to_string()))?,
        None => viewer.user.org.clone(),
    };
    let tree = state.store.org_tree().await?;
    viewer.ensure_covers(&tree, &org)?;
    let date = |field: &str, v: Option<String>| {
        v.map(|s| parse_date(&s).map_err(|e| bad(field, e)))
            .transpose()
    };
    let from = date("from", q.from)?;
    let to = date("to", q.to)?;
    let (from, to) = peakend_store::programme_period(
        &tree,
        Some(&org),
        from,
        to,
        chrono::Utc::now().timestamp_millis(),
    )
    .map_err(ApiError::bad_request)?;
    Ok((org, from, to))
}

async fn rates(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<Params>,
) -> Result<Json<RatesReport>, ApiError> {
    let (org, from, to) = query(&state, &viewer, q).await?;
    let report = peakend_store::response_rates(
        state.store.as_ref(),
        &ProgrammeQuery {
            org: Some(&org),
            from,
            to,
        },
    )
    .await?;
    Ok(Json(report))
}

async fn waits(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<Params>,
) -> Result<Json<WaitsReport>, ApiError> {
    let (org, from, to) = query(&state, &viewer, q).await?;
    let report = peakend_store::wait_report(
        state.store.as_ref(),
        &ProgrammeQuery {
            org: Some(&org),
            from,
            to,
        },
    )
    .await?;
    Ok(Json(report))
}
