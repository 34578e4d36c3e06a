//! Hall devices: events in (`POST /api/v1/events` with a device token), and the hall's
//! live state out (queue, one ticket, alerts), computed by replaying the hall's day.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset};
use peakend_core::ops::day::{Alert, AlertId, HallDay, QueueSnapshot, Waiting};
use peakend_core::ops::event::Event;
use peakend_core::{Action, HallId};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::{ApiError, AppState};

pub fn router(limits: &crate::BodyLimits) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/events",
            post(ingest).layer(axum::extract::DefaultBodyLimit::max(limits.events)),
        )
        .route("/api/v1/halls/{hall}/queue", get(queue))
        .route("/api/v1/halls/{hall}/tickets/{ticket}", get(ticket))
        .route("/api/v1/halls/{hall}/alerts", get(alerts))
        .route("/api/v1/halls/{hall}/kiosks", get(kiosks))
        .route("/api/v1/halls/{hall}/live", get(live))
        .route("/api/v1/alerts/{id}/ack", post(ack))
}

/// The hall of the request's device token: 401 without a valid one.
async fn token_hall(state: &AppState, headers: &HeaderMap) -> Result<HallId, ApiError> {
    match crate::auth::caller(state, headers).await? {
        Some(Caller::Device(hall)) => Ok(hall),
        Some(Caller::User(_)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "events come from a hall's devices: use its device token",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a device token is required",
        )),
    }
}

/// A batch as NDJSON (one event a line) or as a JSON array. Events for another hall than
/// the token's are refused as a whole (403), before anything is applied.
async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
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
    let (events, refused) = parse_lines(&hall, lines, state.customer_salt.as_deref())?;
    if let Some(cluster) = &state.cluster {
        // Several nodes: the batch is answered once JetStream has stored it, and
        // applied by the node that holds its hall's partition (`cluster.rs`).
        let queued = cluster.publish(&hall, &events, &refused).await?;
        return Ok((StatusCode::ACCEPTED, Json(queued)).into_response());
    }
    Ok(Json(crate::live::ingest(&state, &hall, events, refused).await?).into_response())
}

/// A batch's lines checked against its token's hall: each parsed event with its line
/// number and text (a `phone` already turned into the salted key), and the lines
/// refused with the reason. An event of another hall refuses the whole batch (403).
pub(crate) type Parsed = (Vec<(usize, Event, String)>, Vec<(usize, String, String)>);

pub(crate) fn parse_lines(
    hall: &HallId,
    lines: Vec<String>,
    salt: Option<&str>,
) -> Result<Parsed, ApiError> {
    let mut events = Vec::new();
    let mut refused = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        // A number sent as `phone` becomes its salted key before anything keeps it.
        let line = match peakend_core::customer::pseudonymise(&line, salt) {
            Ok(std::borrow::Cow::Borrowed(_)) => line,
            Ok(std::borrow::Cow::Owned(keyed)) => keyed,
            Err((reason, masked)) => {
                refused.push((i + 1, reason, masked));
                continue;
            }
        };
        match Event::from_json(&line) {
            Ok(e) if e.hall != *hall => {
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
    Ok((events, refused))
}

#[derive(Deserialize)]
struct AtQuery {
    /// Evaluate at this time (RFC 3339) instead of now: replays and tests.
    at: Option<String>,
    state: Option<String>,
}

/// The hall's day up to `at`, replayed, for a caller who may see the hall: its own
/// devices, or a user whose node covers it.
async fn replay(
    state: &AppState,
    caller: &Caller,
    hall: String,
    at: Option<&str>,
) -> Result<(HallDay, i64), ApiError> {
    let (hall, rules, midnight, now) = day_of(state, caller, hall, at).await?;
    let day = peakend_store::replay_day(state.store.as_ref(), &hall, rules, midnight, now).await?;
    Ok((day, now))
}

/// The hall, its rules, its local midnight and the time `at` (now when absent), for a
/// caller who may see the hall.
async fn day_of(
    state: &AppState,
    caller: &Caller,
    hall: String,
    at: Option<&str>,
) -> Result<(HallId, peakend_core::ops::day::Rules, i64, i64), ApiError> {
    let hall = HallId::parse(hall).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let tree = state.store.org_tree().await?;
    caller.ensure_hall(&tree, &hall)?;
    let at: DateTime<FixedOffset> = match at {
        Some(t) => peakend_core::time::parse_instant(t)
            .map_err(|e| ApiError::bad_request(format!("at: {e}")))?,
        None => state.clock.now(),
    };
    // The hall's day is the day of its own zone, whatever offset the time came with.
    let at = tree
        .zone_of_hall(&hall)
        .local(at.timestamp_millis())
        .unwrap_or(at);
    let now = at.timestamp_millis();
    let rules = state.store.hall_rules(&hall).await?;
    let midnight = peakend_store::local_midnight(at.date_naive(), *at.offset());
    Ok((hall, rules, midnight, now))
}

async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    Path(hall): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Json<QueueSnapshot>, ApiError> {
    let (day, now) = replay(&state, &caller, hall, q.at.as_deref()).await?;
    Ok(Json(day.queue(now)))
}

/// One waiting ticket: what the printer prints, "N ahead, about M minutes".
async fn ticket(
    State(state): State<AppState>,
    caller: Caller,
    Path((hall, ticket)): Path<(String, String)>,
    Query(q): Query<AtQuery>,
) -> Result<Json<Waiting>, ApiError> {
    let (day, now) = replay(&state, &caller, hall, q.at.as_deref()).await?;
    day.queue(now)
        .waiting
        .into_iter()
        .find(|w| w.ticket == ticket)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("ticket `{ticket}` is not waiting")))
}

/// An alert as the API shows it: its id (`{hall}~{kind}~{ticket or kiosk}~{raised_at}`,
/// stable across replays) and who acknowledged it.
#[derive(Serialize)]
struct AlertView {
    id: String,
    #[serde(flatten)]
    alert: Alert,
    acked_at: Option<i64>,
    acked_by: Option<String>,
}

async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    Path(hall): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "state: `{other}` is not open or all"
            )));
        }
    };
    let (day, _) = replay(&state, &caller, hall.clone(), q.at.as_deref()).await?;
    let hall_id = HallId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let acks = state.store.alert_acks(&hall_id).await?;
    Ok(Json(
        day.alerts()
            .iter()
            .map(|a| {
                let ack = acks.get(&a.key());
                AlertView {
                    id: format!("{hall}~{}", a.key()),
                    alert: a.clone(),
                    acked_at: ack.map(|x| x.0),
                    acked_by: ack.map(|x| x.1.clone()),
                }
            })
            // Open: neither acknowledged nor over (called, fallen back, restored).
            .filter(|v| !open_only || (v.acked_at.is_none() && v.alert.cleared_at.is_none()))
            .collect(),
    ))
}

#[derive(Deserialize)]
struct AckBody {
    /// Who took care of it: a user is themselves; a hall's display names the person.
    by: Option<String>,
}

/// The hall's kiosks at a moment (`?at=`, default now): how many it has, and each open
/// fault with since when, its repair deadline (working days by the province's calendar)
/// and whether that has passed. Faults outlive their day: one reported on Friday is
/// listed on Monday until it is restored.
async fn kiosks(
    State(state): State<AppState>,
    caller: Caller,
    Path(hall): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (day, now) = replay(&state, &caller, hall.clone(), q.at.as_deref()).await?;
    let tree = state.store.org_tree().await?;
    let count = peakend_core::OrgNodeId::parse(hall.as_str())
        .ok()
        .and_then(|id| tree.get(&id).map(|n| n.kiosks))
        .unwrap_or(0);
    Ok(Json(serde_json::json!({
        "hall": hall,
        "at": now,
        "kiosks": count,
        "open_faults": day.open_faults(),
    })))
}

/// Someone took care of an alert: who and when are kept; a second ack keeps the first.
async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<AckBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let by = match &caller {
        Caller::User(v) => {
            v.check_csrf_header(&headers)?;
            v.require(Action::AckAlert)?;
            v.user.name.to_string()
        }
        Caller::Device(_) => body.by.unwrap_or_default().trim().to_owned(),
    };
    let alert_id = AlertId::parse(&id).map_err(|e| ApiError::bad_request(format!("id: {e}")))?;
    if by.is_empty() {
        return Err(ApiError::bad_request("by: who acknowledges the alert"));
    }
    let not_found = || ApiError::not_found(format!("alert `{id}` not found"));
    // Replay the alert's day up to now (or its end), and find the alert there. The id
    // was parsed into the time window, so none of this arithmetic can overflow.
    let tree = state.store.org_tree().await?;
    let offset = tree
        .zone_of_hall(&alert_id.hall)
        .offset_at(alert_id.raised_at);
    let raised = peakend_core::time::instant_from_millis(alert_id.raised_at)
        .ok_or_else(not_found)?
        .with_timezone(&offset);
    let day_end = peakend_store::local_midnight(raised.date_naive(), offset) + 86_400_000 - 1;
    let now = chrono::Utc::now().timestamp_millis();
    let at = DateTime::from_timestamp_millis(day_end.min(now).max(alert_id.raised_at))
        .ok_or_else(not_found)?
        .with_timezone(&offset)
        .to_rfc3339();
    let (day, _) = replay(
        &state,
        &caller,
        alert_id.hall.as_str().to_owned(),
        Some(&at),
    )
    .await?;
    let alert = day
        .alerts()
        .iter()
        .find(|a| a.key() == alert_id.key)
        .ok_or_else(not_found)?;
    let hall = alert_id.hall;
    let acked = state.store.ack_alert(&hall, alert, &by, now).await?;
    Ok(Json(serde_json::json!({ "id": id, "acknowledged": acked })))
}

/// The longest the live stream goes without looking at the hall: a fallback for what
/// sends no notification (an ingest by another process on the same database). Ingests
/// through this server wake it at once, and rules that come due on the hall's clock
/// wake it when they do.
const LIVE_FALLBACK: std::time::Duration = std::time::Duration::from_secs(1);

/// A live stream's state between looks at the hall.
struct LiveView {
    state: AppState,
    caller: Caller,
    hall: String,
    /// Changes after every committed ingest of the hall.
    ingests: tokio::sync::watch::Receiver<u64>,
    last_queue: String,
    last_alerts: String,
    /// When the next clock-driven rule may come due (hall time, ms).
    next_due: Option<i64>,
    /// Server-sent events found by the last look, not yet sent.
    pending: std::collections::VecDeque<axum::response::sse::Event>,
    first: bool,
    /// The hall's day as the last look left it: the next reads only what came after.
    kept: Option<peakend_store::LiveDay>,
}

impl LiveView {
    /// Waits for an ingest of the hall, the next rule due, or the fallback, whichever
    /// is first.
    async fn wait(&mut self) {
        let wait = self.next_due.map_or(LIVE_FALLBACK, |due| {
            self.state.clock.real_until(due).min(LIVE_FALLBACK)
        });
        tokio::select! {
            changed = self.ingests.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(wait).await;
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }

    /// Replays the hall's day now and queues what changed: the queue snapshot, then the
    /// open alerts.
    async fn look(&mut self) -> Result<(), ApiError> {
        // Seen before reading, so an ingest that commits during the replay wakes us again.
        self.ingests.borrow_and_update();
        let started = std::time::Instant::now();
        let (hall, rules, midnight, now) =
            day_of(&self.state, &self.caller, self.hall.clone(), None).await?;
        let (day, kept) = peakend_store::LiveDay::look(
            self.kept.take(),
            self.state.store.as_ref(),
            &hall,
            rules,
            midnight,
            now,
        )
        .await?;
        tracing::debug!(
            hall = %self.hall,
            replay_ms = started.elapsed().as_secs_f64() * 1e3,
            whole_replays = kept.replays,
            "live look"
        );
        self.kept = Some(kept);
        self.next_due = day.next_due();
        let mut q = day.queue(now);
        // The snapshot's time and the waits move every look: compare the rest, or every
        // look would be a change (and, polled, the alerts would never get their turn).
        let mut still = q.clone();
        still.at = 0;
        still.waiting.iter_mut().for_each(|w| w.waited_s = 0.0);
        let queue = serde_json::to_string(&still).unwrap_or_default();
        let open: Vec<&Alert> = day
            .alerts()
            .iter()
            .filter(|a| a.cleared_at.is_none())
            .collect();
        let alerts = serde_json::to_string(&open).unwrap_or_default();
        let sse = axum::response::sse::Event::default;
        if queue != self.last_queue {
            q.at = now;
            let data = serde_json::to_string(&q).unwrap_or_default();
            self.pending.push_back(sse().event("queue").data(data));
            self.last_queue = queue;
        }
        if alerts != self.last_alerts {
            self.pending.push_back(sse().event("alerts").data(&alerts));
            self.last_alerts = alerts;
        }
        Ok(())
    }
}

/// Server-sent events: `queue` (a snapshot) and `alerts` (the open ones) each time they
/// change, first on connecting. The stream looks again when an ingest of the hall
/// commits (pushed, not polled) and when a rule comes due on the hall's clock.
async fn live(
    State(state): State<AppState>,
    caller: Caller,
    Path(hall): Path<String>,
) -> Result<
    axum::response::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    // Checks the hall and the token once, before streaming.
    replay(&state, &caller, hall.clone(), None).await?;
    let hall_id = HallId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let view = LiveView {
        ingests: state.live.subscribe(&hall_id),
        state,
        caller,
        hall,
        last_queue: String::new(),
        last_alerts: String::new(),
        next_due: None,
        pending: std::collections::VecDeque::new(),
        first: true,
        kept: None,
    };
    let stream = futures_util::stream::unfold(view, |mut view| async move {
        loop {
            // A server shutting down ends its streams, so it need not wait for them.
            if view.state.shutdown.is_triggered() {
                return None;
            }
            if let Some(event) = view.pending.pop_front() {
                return Some((Ok(event), view));
            }
            if !view.first {
                let shutdown = view.state.shutdown.clone();
                tokio::select! {
                    () = view.wait() => {}
                    () = shutdown.wait() => return None,
                }
            }
            view.first = false;
            // A hall that cannot be read any more (the database went away) ends the stream.
            view.look().await.ok()?;
        }
    });
    Ok(axum::response::Sse::new(stream).keep_alive(axum::response::sse::KeepAlive::default()))
}
