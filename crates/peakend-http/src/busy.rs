//! Busy-hour notices (issue 22), for customers choosing a quiet time: the hall's
//! forecast of the coming week per hour, `GET /api/v1/halls/{hall}/busy-hours` (JSON)
//! and the public page `/halls/{hall}/busy` (一周忙闲预报). No login: the forecast is
//! of counts only, published for the hall's customers.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::{HallId, OrgNodeId};
use peakend_store::{BusyHours, busy_hours};
use serde::Deserialize;

use crate::view::{Lang, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/halls/{hall}/busy-hours", get(api))
        .route("/halls/{hall}/busy", get(page))
}

#[derive(Deserialize)]
struct BusyParams {
    weeks: Option<String>,
}

/// The forecast for the hall named in the path, from today in the hall's zone.
async fn load(state: &AppState, hall: &str, weeks: Option<&str>) -> Result<BusyHours, ApiError> {
    let hall = HallId::parse(hall).map_err(|e| ApiError::bad_request(format!("hall: {e}")))?;
    let weeks = match weeks {
        None => 8,
        Some(w) => w
            .parse::<u32>()
            .ok()
            .filter(|w| (1..=52).contains(w))
            .ok_or_else(|| {
                ApiError::bad_request(format!("weeks: `{w}` is not a number of weeks 1–52"))
            })?,
    };
    let tree = state.store.org_tree().await?;
    let zone = tree.zone_of_hall(&hall);
    let now = state.clock.now().timestamp_millis();
    let today = zone
        .local(now)
        .map(|t| t.date_naive())
        .ok_or_else(|| ApiError::bad_request("the clock is outside the supported years"))?;
    Ok(busy_hours(state.store.as_ref(), &hall, today, weeks).await?)
}

async fn api(
    State(state): State<AppState>,
    Path(hall): Path<String>,
    Query(q): Query<BusyParams>,
) -> Result<Json<BusyHours>, ApiError> {
    Ok(Json(load(&state, &hall, q.weeks.as_deref()).await?))
}

struct Cell {
    label: String,
    class: &'static str,
}

struct Row {
    day: String,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "busy.html")]
struct BusyPage {
    lang: Lang,
    hall_name: String,
    hours: Vec<u32>,
    rows: Vec<Row>,
    error: String,
}

const WEEKDAYS: [(&str, &str); 7] = [
    ("周一", "Mon"),
    ("周二", "Tue"),
    ("周三", "Wed"),
    ("周四", "Thu"),
    ("周五", "Fri"),
    ("周六", "Sat"),
    ("周日", "Sun"),
];

async fn page(
    State(state): State<AppState>,
    lang: Lang,
    Path(hall): Path<String>,
) -> Result<Html<String>, PageError> {
    let b = load(&state, &hall, None).await?;
    let tree = state.store.org_tree().await?;
    let hall_name = OrgNodeId::parse(hall.as_str())
        .ok()
        .and_then(|id| tree.get(&id).map(|n| n.name.clone()))
        .unwrap_or(hall);
    let hours: Vec<u32> = (b.open..b.close).collect();
    let rows = b
        .days
        .iter()
        .map(|d| {
            let (zh, en) = WEEKDAYS[(d.weekday as usize + 6) % 7];
            let mut day = format!("{} {}", d.date.format("%m-%d"), lang.t(zh, en));
            if d.holiday {
                day.push_str(lang.t("（节假日）", " (holiday)"));
            }
            let cells = hours
                .iter()
                .map(|h| match d.hours.iter().find(|x| x.hour == *h) {
                    None => Cell {
                        label: "–".into(),
                        class: "none",
                    },
                    Some(x) => {
                        let (class, zh, en) = match x.level {
                            peakend_core::ops::busy::Level::Quiet => ("quiet", "闲", "quiet"),
                            peakend_core::ops::busy::Level::Normal => ("normal", "中", "normal"),
                            peakend_core::ops::busy::Level::Busy => ("busy", "忙", "busy"),
                        };
                        Cell {
                            label: format!("{} · {:.0}", lang.t(zh, en), x.expected),
                            class,
                        }
                    }
                })
                .collect();
            Row { day, cells }
        })
        .collect();
    let error = match &b.last_week {
        Some(w) => match w.error.mape {
            Some(m) => format!(
                "{}{:.0}%",
                lang.t(
                    "上周预报与实际到厅人数的平均偏差：",
                    "Last week's forecast was off by, on average: "
                ),
                100.0 * m
            ),
            None => String::new(),
        },
        None => String::new(),
    };
    render(&BusyPage {
        lang,
        hall_name,
        hours,
        rows,
        error,
    })
    .map_err(Into::into)
}
