//! `GET /api/v1/kpi`: hall KPIs for any org node, by hour or day.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::FixedOffset;
use peakend_core::OrgNodeId;
use peakend_core::ops::kpi::{Bucket, KpiReport};
use peakend_core::survey::parse_date;
use serde::Deserialize;

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/kpi", get(kpi))
}

#[derive(Deserialize)]
struct KpiParams {
    org: Option<String>,
    from: String,
    to: String,
    bucket: Option<String>,
    /// The report's UTC offset; default: the node's time zone.
    tz: Option<String>,
    /// `1`/`true`: add `peaks_vs_sales`, the node's halls' peak satisfaction ranked
    /// against their sales.
    peaks_vs_sales: Option<String>,
}

async fn kpi(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<KpiParams>,
) -> Result<Json<KpiReport>, ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    // The user's own node unless they ask for one below it.
    let org = match q.org {
        Some(o) => OrgNodeId::parse(o).map_err(|e| bad("org", e.to_string()))?,
        None => viewer.user.org.clone(),
    };
    let tree = state.store.org_tree().await?;
    viewer.ensure_covers(&tree, &org)?;
    let zone = tree.zone_of(&org);
    let org = Some(org);
    let from = parse_date(&q.from).map_err(|e| bad("from", e))?;
    let to = parse_date(&q.to).map_err(|e| bad("to", e))?;
    let bucket = q
        .bucket
        .as_deref()
        .map_or(Ok(Bucket::Day), str::parse)
        .map_err(|e| bad("bucket", e))?;
    // Days and buckets of the node's own zone unless `tz` asks for another offset.
    let offset =
        q.tz.as_deref()
            .map_or(Ok(zone.offset_on(from)), parse_offset)
            .map_err(|e| bad("tz", e))?;
    let peaks = match q.peaks_vs_sales.as_deref().map(str::trim) {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => {
            return Err(bad(
                "peaks_vs_sales",
                format!("`{other}` is not 1, true, 0 or false"),
            ));
        }
    };
    let mut report = peakend_store::stored_kpis(
        state.store.as_ref(),
        &peakend_store::KpiQuery {
            org: org.as_ref(),
            from,
            to,
            bucket,
            offset,
            now_ms: chrono::Utc::now().timestamp_millis(),
        },
    )
    .await?;
    if peaks {
        report.peaks_vs_sales = Some(
            peakend_store::stored_peaks_vs_sales(
                state.store.as_ref(),
                org.as_ref(),
                from,
                to,
                &report,
            )
            .await?,
        );
    }
    Ok(Json(report))
}

/// `+08:00`, `-05:30`, `Z`.
pub fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    if s == "Z" {
        return FixedOffset::east_opt(0).ok_or_else(|| "invalid".into());
    }
    s.parse::<FixedOffset>()
        .map_err(|_| format!("`{s}` is not a UTC offset such as +08:00"))
}
