//! Hall devices: events in (`POST /api/v1/events` with a device token), and the hall's
//! live state out (queue, one ticket, alerts), computed by replaying the hall's day.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset};
use peakend_core::HallId;
use peakend_core::ops::day::{Alert, HallDay, QueueSnapshot, Waiting};
use peakend_core::ops::event::Event;
use peakend_store::IngestOutcome;
use serde::Deserialize;

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", post(ingest))
        .route("/api/v1/halls/{hall}/queue", get(queue))
        .route("/api/v1/halls/{hall}/tickets/{ticket}", get(ticket))
        .route("/api/v1/halls/{hall}/alerts", get(alerts))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The hall of the request's device token: 401 without a valid one.
async fn token_hall(state: &AppState, headers: &HeaderMap) -> Result<HallId, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let token = bearer(headers).ok_or_else(|| unauthorized("a device token is required"))?;
    state
        .store
        .device_token_hall(token)
        .await?
        .ok_or_else(|| unauthorized("unknown device token"))
}

/// A batch as NDJSON (one event a line) or as a JSON array. Events for another hall than
/// the token's are refused as a whole (403), before anything is applied.
async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestOutcome>, ApiError> {
    let hall = token_hall(&state, &headers).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let lines: Vec<String> = if text.trim_start().starts_with('[') {
        let items: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("the JSON array does not parse: {e}")))?;
        items.iter().map(ToString::to_string).collect()
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut events = Vec::new();
    let mut refused = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        match Event::from_json(&line) {
            Ok(e) if e.hall != hall => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "line {}: this token is for hall `{hall}`, not `{}`; nothing was applied",
                        i + 1,
                        e.hall
                    ),
                ));
            }
            Ok(e) => events.push((i + 1, e, line)),
            Err(reason) => refused.push((i + 1, reason, line)),
        }
    }
    Ok(Json(
        state.store.ingest_events(&hall, events, refused).await?,
    ))
}

#[derive(Deserialize)]
struct AtQuery {
    /// Evaluate at this time (RFC 3339) instead of now: replays and tests.
    at: Option<String>,
    state: Option<String>,
}

/// The hall's day up to `at`, replayed; GETs are open to the hall's own devices and (until
/// accounts arrive with the dashboard) to anyone without a token.
async fn replay(
    state: &AppState,
    headers: &HeaderMap,
    hall: String,
    at: Option<&str>,
) -> Result<(HallDay, i64), ApiError> {
    let hall = HallId::parse(hall).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if bearer(headers).is_some() && token_hall(state, headers).await? != hall {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this token is not for hall `{hall}`"),
        ));
    }
    let at: DateTime<FixedOffset> = match at {
        Some(t) => DateTime::parse_from_rfc3339(t).map_err(|_| {
            ApiError::bad_request(format!("at: `{t}` is not an RFC 3339 time with an offset"))
        })?,
        None => chrono::Local::now().fixed_offset(),
    };
    let now = at.timestamp_millis();
    let rules = peakend_store::hall_rules(state.store.as_ref()).await?;
    let midnight = peakend_store::local_midnight(at.date_naive(), *at.offset());
    let mut day = HallDay::new(rules);
    for e in state.store.hall_events(&hall, midnight, now + 1).await? {
        // Stored events were valid when they arrived; one a late arrival contradicts
        // is skipped here as it would be in any replay.
        let _ = day.apply(&e);
    }
    day.advance_to(now);
    Ok((day, now))
}

async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(hall): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Json<QueueSnapshot>, ApiError> {
    let (day, now) = replay(&state, &headers, hall, q.at.as_deref()).await?;
    Ok(Json(day.queue(now)))
}

/// One waiting ticket: what the printer prints, "N ahead, about M minutes".
async fn ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((hall, ticket)): Path<(String, String)>,
    Query(q): Query<AtQuery>,
) -> Result<Json<Waiting>, ApiError> {
    let (day, now) = replay(&state, &headers, hall, q.at.as_deref()).await?;
    day.queue(now)
        .waiting
        .into_iter()
        .find(|w| w.ticket == ticket)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("ticket `{ticket}` is not waiting")))
}

async fn alerts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(hall): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "state: `{other}` is not open or all"
            )));
        }
    };
    let (day, _) = replay(&state, &headers, hall, q.at.as_deref()).await?;
    Ok(Json(
        day.alerts()
            .iter()
            .filter(|a| !open_only || a.cleared_at.is_none())
            .cloned()
            .collect(),
    ))
}
