//! Busy-hour notices (issue 22): a hall's forecast of the coming week's arrivals per
//! hour from its own stored day roll-ups (never a replay of events), by weekday and
//! hour with the province's holidays apart, and how last week's forecast fared.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Timelike};
use peakend_core::HallId;
use peakend_core::ops::busy::{self, ForecastError, Level};
use serde::Serialize;

use crate::{Result, RollupRead, Store, hall_rules};

/// An hour is busy at or above this quantile of a normal week's hours, quiet at or
/// below the lower one of the coming week's.
const BUSY_QUANTILE: f64 = 0.75;
const QUIET_QUANTILE: f64 = 0.25;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusyHour {
    pub hour: u32,
    pub expected: f64,
    pub level: Level,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusyDay {
    pub date: NaiveDate,
    /// Monday = 1 … Sunday = 7.
    pub weekday: u32,
    pub holiday: bool,
    /// Empty when the history has no day of this kind.
    pub hours: Vec<BusyHour>,
}

/// The forecast's error on the last complete week (the seven days before today),
/// forecast from the weeks of history before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekError {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub error: ForecastError,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusyHours {
    pub hall: HallId,
    pub today: NaiveDate,
    /// Weeks of history the forecast is the mean of.
    pub weeks: u32,
    /// Opening hours as the history shows them: `open..close`.
    pub open: u32,
    pub close: u32,
    pub days: Vec<BusyDay>,
    pub last_week: Option<WeekError>,
}

/// Arrivals per (local date, local hour) of a hall in [from, to], from its roll-ups:
/// finished tickets by their issue hour, and those still waiting when the day was
/// rolled up. A day kept without its hourly breakdown is left out.
async fn arrivals(
    store: &dyn Store,
    hall: &HallId,
    zone: peakend_core::time::Zone,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<(NaiveDate, u32), u64>> {
    let mut out = BTreeMap::new();
    let mut add = |ms: i64, n: u64| {
        if let Some(t) = zone.local(ms) {
            *out.entry((t.date_naive(), t.hour())).or_default() += n;
        }
    };
    for (_, _, rollup) in store
        .ops_rollups(
            Some(std::slice::from_ref(hall)),
            from,
            to,
            RollupRead::WithDetail,
        )
        .await?
    {
        let Some(r) = rollup else { continue };
        let Some(detail) = &r.detail else { continue };
        for (hour, sums) in &detail.hours {
            add(*hour, sums.arrivals);
        }
        for w in &r.waiting {
            add(w.issued_at, 1);
        }
    }
    Ok(out)
}

/// The hall's busy hours for the seven days from `today`, from `weeks` weeks of
/// history before it.
pub async fn busy_hours(
    store: &dyn Store,
    hall: &HallId,
    today: NaiveDate,
    weeks: u32,
) -> Result<BusyHours> {
    let rules = hall_rules(store, hall).await?;
    let weeks = weeks.clamp(1, 52);
    let days = |n: u32| chrono::Days::new(u64::from(n));
    let history_from = today - days(7 * weeks);
    let yesterday = today - days(1);
    // Last week is judged by a forecast made from the weeks before it.
    let all = arrivals(store, hall, rules.zone, history_from - days(7), yesterday).await?;
    let history: BTreeMap<_, _> = all
        .range((history_from, 0)..)
        .map(|(k, v)| (*k, *v))
        .collect();
    let holidays: &BTreeSet<NaiveDate> = &rules.holidays;
    let (open, close) = busy::open_hours(&all).unwrap_or((9, 18));
    let coming: Vec<NaiveDate> = (0..7).map(|i| today + days(i)).collect();
    let forecast = busy::forecast(&history, holidays, &coming, open, close, BUSY_QUANTILE);
    let levels = busy::levels(&forecast, QUIET_QUANTILE);
    let days_out = coming
        .iter()
        .map(|&date| BusyDay {
            date,
            weekday: date.weekday().number_from_monday(),
            holiday: holidays.contains(&date),
            hours: forecast
                .iter()
                .zip(&levels)
                .filter(|(f, _)| f.date == date)
                .map(|(f, l)| BusyHour {
                    hour: f.hour,
                    expected: f.expected,
                    level: *l,
                })
                .collect(),
        })
        .collect();
    let week_from = today - days(7);
    let before: BTreeMap<_, _> = all.range(..(week_from, 0)).map(|(k, v)| (*k, *v)).collect();
    let actual: BTreeMap<_, _> = all.range((week_from, 0)..).map(|(k, v)| (*k, *v)).collect();
    let last: Vec<NaiveDate> = (0..7).map(|i| week_from + days(i)).collect();
    let past = busy::forecast(&before, holidays, &last, open, close, BUSY_QUANTILE);
    let last_week = (!past.is_empty() && !actual.is_empty()).then(|| WeekError {
        from: week_from,
        to: yesterday,
        error: busy::forecast_error(&past, &actual),
    });
    Ok(BusyHours {
        hall: hall.clone(),
        today,
        weeks,
        open,
        close,
        days: days_out,
        last_week,
    })
}
