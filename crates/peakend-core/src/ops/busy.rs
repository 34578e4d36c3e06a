//! Busy-hour notices (issue 22, begun): a hall's forecast of the coming days' arrivals
//! per hour from its own history, by weekday and hour with holidays apart, the hours
//! that will be busy, and the forecast's error against what came. Pure; the hall's
//! public page and the API build on it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Serialize;

/// A day's kind for the forecast: a weekday, or a holiday (the province's calendar),
/// which is forecast from past holidays only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DayKind {
    Weekday(u8),
    Holiday,
}

impl DayKind {
    pub fn of(date: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> DayKind {
        if holidays.contains(&date) {
            DayKind::Holiday
        } else {
            DayKind::Weekday(date.weekday().num_days_from_monday() as u8)
        }
    }
}

/// One hour of the forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourForecast {
    pub date: NaiveDate,
    pub hour: u32,
    /// Mean arrivals in this hour on the same kind of day in the history.
    pub expected: f64,
    /// Among the hours the hall is usually busiest: at or above the busy threshold.
    pub busy: bool,
}

/// The forecast of `dates` (hours `open..close`) from `history`: arrivals per (date,
/// hour), days with no arrival at all in the history counted as closed and left out.
/// An hour is busy when its expected arrivals reach the `busy_quantile` (e.g. 0.75) of
/// the expected arrivals of all the hall's open hours of a normal week; `None` when the
/// history has no day of a date's kind.
pub fn forecast(
    history: &BTreeMap<(NaiveDate, u32), u64>,
    holidays: &BTreeSet<NaiveDate>,
    dates: &[NaiveDate],
    open: u32,
    close: u32,
    busy_quantile: f64,
) -> Vec<HourForecast> {
    // Sum and count of days per (kind, hour): each open day of a kind counts once.
    let mut days: BTreeMap<DayKind, BTreeSet<NaiveDate>> = BTreeMap::new();
    let mut sums: BTreeMap<(DayKind, u32), u64> = BTreeMap::new();
    for (&(date, hour), &n) in history {
        let kind = DayKind::of(date, holidays);
        days.entry(kind).or_default().insert(date);
        *sums.entry((kind, hour)).or_default() += n;
    }
    let mean = |kind: DayKind, hour: u32| -> Option<f64> {
        let d = days.get(&kind)?.len();
        (d > 0).then(|| *sums.get(&(kind, hour)).unwrap_or(&0) as f64 / d as f64)
    };
    // The threshold from a normal week's open hours.
    let mut week: Vec<f64> = (0..7u8)
        .flat_map(|d| (open..close).map(move |h| (d, h)))
        .filter_map(|(d, h)| mean(DayKind::Weekday(d), h))
        .collect();
    week.sort_by(f64::total_cmp);
    let threshold = (!week.is_empty()).then(|| {
        let q = busy_quantile.clamp(0.0, 1.0);
        week[((week.len() - 1) as f64 * q).round() as usize]
    });
    let mut out = Vec::new();
    for &date in dates {
        let kind = DayKind::of(date, holidays);
        for hour in open..close {
            if let Some(expected) = mean(kind, hour) {
                out.push(HourForecast {
                    date,
                    hour,
                    expected,
                    busy: threshold.is_some_and(|t| expected > 0.0 && expected >= t),
                });
            }
        }
    }
    out
}

/// How a forecast compared with what came, over the hours it forecast: the mean
/// absolute error in arrivals an hour, and the share of the busy hours it named that
/// were among the truly busiest (the same count of top hours of what came).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastError {
    pub hours: usize,
    pub mae: f64,
    /// Mean absolute percentage error over the hours in which someone came (an hour
    /// with no arrival has no percentage); `None` when there was none.
    pub mape: Option<f64>,
    pub busy_named: usize,
    pub busy_hit: usize,
}

pub fn forecast_error(
    forecast: &[HourForecast],
    actual: &BTreeMap<(NaiveDate, u32), u64>,
) -> ForecastError {
    let hours = forecast.len();
    let mae = if hours == 0 {
        0.0
    } else {
        forecast
            .iter()
            .map(|f| (f.expected - *actual.get(&(f.date, f.hour)).unwrap_or(&0) as f64).abs())
            .sum::<f64>()
            / hours as f64
    };
    let pct: Vec<f64> = forecast
        .iter()
        .filter_map(|f| {
            let a = *actual.get(&(f.date, f.hour))? as f64;
            (a > 0.0).then(|| (f.expected - a).abs() / a)
        })
        .collect();
    let mape = (!pct.is_empty()).then(|| pct.iter().sum::<f64>() / pct.len() as f64);
    let busy_named = forecast.iter().filter(|f| f.busy).count();
    let mut by_actual: Vec<(u64, NaiveDate, u32)> = forecast
        .iter()
        .map(|f| (*actual.get(&(f.date, f.hour)).unwrap_or(&0), f.date, f.hour))
        .collect();
    by_actual.sort_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let top: BTreeSet<(NaiveDate, u32)> = by_actual
        .iter()
        .take(busy_named)
        .map(|(_, d, h)| (*d, *h))
        .collect();
    let busy_hit = forecast
        .iter()
        .filter(|f| f.busy && top.contains(&(f.date, f.hour)))
        .count();
    ForecastError {
        hours,
        mae,
        mape,
        busy_named,
        busy_hit,
    }
}

/// How busy an hour is expected to be, for customers choosing when to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Quiet,
    Normal,
    Busy,
}

/// Each forecast hour's level: busy as the forecast says, quiet at or below the
/// `quiet_quantile` (e.g. 0.25) of the forecast hours' expected arrivals, else normal.
pub fn levels(forecast: &[HourForecast], quiet_quantile: f64) -> Vec<Level> {
    let mut all: Vec<f64> = forecast.iter().map(|f| f.expected).collect();
    all.sort_by(f64::total_cmp);
    let quiet = (!all.is_empty()).then(|| {
        let q = quiet_quantile.clamp(0.0, 1.0);
        all[((all.len() - 1) as f64 * q).round() as usize]
    });
    forecast
        .iter()
        .map(|f| {
            if f.busy {
                Level::Busy
            } else if quiet.is_some_and(|q| f.expected <= q) {
                Level::Quiet
            } else {
                Level::Normal
            }
        })
        .collect()
}

/// The hours a hall is open by its history: from the earliest hour anyone came to the
/// hour after the latest; `None` without history.
pub fn open_hours(history: &BTreeMap<(NaiveDate, u32), u64>) -> Option<(u32, u32)> {
    let hours = history
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|((_, h), _)| *h);
    let (lo, hi) = hours.fold(None, |acc: Option<(u32, u32)>, h| {
        Some(acc.map_or((h, h), |(lo, hi)| (lo.min(h), hi.max(h))))
    })?;
    Some((lo, hi + 1))
}

/// The weekday of a [`DayKind::Weekday`] (Monday = 0), for display.
pub fn weekday(kind: DayKind) -> Option<Weekday> {
    match kind {
        DayKind::Weekday(d) => Weekday::try_from(d).ok(),
        DayKind::Holiday => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Two Mondays and two Tuesdays of history (09–12), and a Monday holiday.
    fn history() -> BTreeMap<(NaiveDate, u32), u64> {
        let mut h = BTreeMap::new();
        for (date, counts) in [
            ("2026-11-02", [10, 30, 20]), // Monday
            ("2026-11-09", [14, 34, 16]), // Monday
            ("2026-11-03", [4, 6, 8]),    // Tuesday
            ("2026-11-10", [6, 6, 10]),   // Tuesday
            ("2026-10-05", [2, 2, 2]),    // a Monday, but a holiday
        ] {
            for (i, n) in counts.into_iter().enumerate() {
                h.insert((d(date), 9 + i as u32), n);
            }
        }
        h
    }

    #[test]
    fn the_forecast_is_the_mean_of_the_same_weekday_hour_with_holidays_apart() {
        let holidays: BTreeSet<NaiveDate> = [d("2026-10-05"), d("2026-12-07")].into();
        let f = forecast(
            &history(),
            &holidays,
            &[d("2026-11-16"), d("2026-11-17"), d("2026-12-07")],
            9,
            12,
            0.75,
        );
        let at = |date: &str, hour: u32| {
            f.iter()
                .find(|x| x.date == d(date) && x.hour == hour)
                .unwrap()
        };
        // Monday 16 November: (10 + 14)/2, (30 + 34)/2, (20 + 16)/2.
        assert_eq!(at("2026-11-16", 9).expected, 12.0);
        assert_eq!(at("2026-11-16", 10).expected, 32.0);
        assert_eq!(at("2026-11-16", 11).expected, 18.0);
        assert_eq!(at("2026-11-17", 11).expected, 9.0);
        // A holiday is forecast from past holidays only.
        assert_eq!(at("2026-12-07", 10).expected, 2.0);
        // The week's six open hour-means are 5, 6, 9, 12, 18, 32: the 0.75 quantile is
        // the 5th of 6 (index round(5 × 0.75) = 4): 18. Busy: Monday 10:00 and 11:00.
        let busy: Vec<(NaiveDate, u32)> = f
            .iter()
            .filter(|x| x.busy)
            .map(|x| (x.date, x.hour))
            .collect();
        assert_eq!(busy, [(d("2026-11-16"), 10), (d("2026-11-16"), 11)]);
        // What came: Monday 10:00 was busiest, Tuesday 09:00 next; 11:00 was quiet.
        let mut came = BTreeMap::new();
        for ((date, hour), n) in [
            (("2026-11-16", 9), 12u64),
            (("2026-11-16", 10), 40),
            (("2026-11-16", 11), 10),
            (("2026-11-17", 9), 20),
            (("2026-11-17", 10), 6),
            (("2026-11-17", 11), 9),
        ] {
            came.insert((d(date), hour), n);
        }
        let e = forecast_error(&f[..6], &came);
        assert_eq!((e.hours, e.busy_named, e.busy_hit), (6, 2, 1));
        // |12−12| + |32−40| + |18−10| + |5−20| + |6−6| + |9−9| = 31, over 6 hours.
        assert!((e.mae - 31.0 / 6.0).abs() < 1e-12);
        // 0 + 8/40 + 8/10 + 15/20 + 0 + 0 = 1.75, over 6 hours.
        assert!((e.mape.unwrap() - 1.75 / 6.0).abs() < 1e-12);
        // Quiet at or below the 0.25 quantile of the six: index round(1.25) = 1: 6.
        let l = levels(&f[..6], 0.25);
        assert_eq!(
            l,
            [
                Level::Normal,
                Level::Busy,
                Level::Busy,
                Level::Quiet,
                Level::Quiet,
                Level::Normal
            ]
        );
        assert_eq!(open_hours(&history()), Some((9, 12)));
    }

    #[test]
    fn no_history_of_a_kind_forecasts_nothing_for_it() {
        let f = forecast(
            &history(),
            &BTreeSet::new(),
            &[d("2026-11-18")],
            9,
            12,
            0.75,
        );
        assert!(f.is_empty(), "no Wednesday in the history");
        assert_eq!(weekday(DayKind::Weekday(2)), Some(Weekday::Wed));
    }
}
