//! `GET /api/v1/customers` (issue 22): one customer across channels for any org node in
//! the caller's scope (`org` defaults to the caller's node): contacts and customers per
//! channel, repeats, failure demand per channel pair and consistency of satisfaction
//! across channels. Aggregates only, no customer key; hall managers and above (not
//! front-line staff, not auditors).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::OrgNodeId;
use peakend_core::access::Action;
use peakend_core::customer::CustomerReport;
use peakend_core::survey::parse_date;
use peakend_store::ProgrammeQuery;
use serde::Deserialize;

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/customers", get(customers))
}

#[derive(Deserialize)]
struct Params {
    org: Option<String>,
    from: Option<String>,
    to: Option<String>,
    window_days: Option<String>,
}

async fn customers(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<Params>,
) -> Result<Json<CustomerReport>, ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    let org = match q.org {
        Some(o) => OrgNodeId::parse(o).map_err(|e| bad("org", e.to_string()))?,
        None => viewer.user.org.clone(),
    };
    let tree = state.store.org_tree().await?;
    viewer.ensure_covers(&tree, &org)?;
    viewer.require(Action::ViewCustomers)?;
    let date = |field: &str, v: Option<String>| {
        v.map(|s| parse_date(&s).map_err(|e| bad(field, e)))
            .transpose()
    };
    let from = date("from", q.from)?;
    let to = date("to", q.to)?;
    let window_days = match q.window_days {
        None => 7,
        Some(w) => match w.trim().parse::<u32>() {
            Ok(n) if (1..=365).contains(&n) => n,
            _ => {
                return Err(bad(
                    "window_days",
                    format!("`{w}` is not a number of days from 1 to 365"),
                ));
            }
        },
    };
    let (from, to) = peakend_store::programme_period(
        &tree,
        Some(&org),
        from,
        to,
        chrono::Utc::now().timestamp_millis(),
    )
    .map_err(ApiError::bad_request)?;
    let report = peakend_store::customer_report(
        state.store.as_ref(),
        &ProgrammeQuery {
            org: Some(&org),
            from,
            to,
        },
        window_days,
    )
    .await?;
    Ok(Json(report))
}
