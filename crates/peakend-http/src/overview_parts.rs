//! What the overview adds to its cards and ranking so people see what to act on
//! (issue 25): the peak and end moments with their change, monthly trends, intervals
//! and sample flags on the ranking, and a hall's own view against its district.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use peakend_core::analysis::Analysis;
use peakend_core::{Journey, OrgNodeId};

use crate::view::Lang;

/// A ranking built on fewer respondents than this is flagged as a small sample.
pub const SMALL_SAMPLE: u64 = 30;

/// One month of the node's survey: NPS, the satisfaction index, the mean satisfaction
/// of the period's peak moments, and each moment's satisfaction.
pub struct TrendMonth {
    pub month: NaiveDate,
    pub respondents: u64,
    pub nps: Option<f64>,
    pub index: Option<f64>,
    pub peaks: Option<f64>,
    pub moments: BTreeMap<String, f64>,
}

impl TrendMonth {
    pub fn of(month: NaiveDate, a: &Analysis, peaks: &[String]) -> TrendMonth {
        let moments: BTreeMap<String, f64> = a
            .moments
            .iter()
            .filter_map(|m| Some((m.key.clone(), m.satisfaction?)))
            .collect();
        let of_peaks: Vec<f64> = peaks
            .iter()
            .filter_map(|p| moments.get(p).copied())
            .collect();
        TrendMonth {
            month,
            respondents: a.respondents,
            nps: a.indices.nps,
            index: a.indices.index,
            peaks: (!of_peaks.is_empty())
                .then(|| of_peaks.iter().sum::<f64>() / of_peaks.len() as f64),
            moments,
        }
    }

    pub fn label(&self) -> String {
        format!("{}-{:02}", self.month.year(), self.month.month())
    }
}

/// The first and last day of the month of `d`.
pub fn month_bounds(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = d.with_day(1).unwrap_or(d);
    let last = first
        .checked_add_months(Months::new(1))
        .and_then(|n| n.pred_opt())
        .unwrap_or(first);
    (first, last)
}

pub fn month_before(first: NaiveDate) -> NaiveDate {
    first.checked_sub_months(Months::new(1)).unwrap_or(first)
}

pub fn month_after(first: NaiveDate) -> NaiveDate {
    first.checked_add_months(Months::new(1)).unwrap_or(first)
}

/// A query value percent-encoded (a journey key is plain, but it came from the address).
pub fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `+1.2` / `−0.8` / `±0.0`, or empty when either side is missing.
pub fn change(now: Option<f64>, before: Option<f64>, digits: usize) -> String {
    match (now, before) {
        (Some(a), Some(b)) => {
            let d = a - b;
            if d.abs() < 0.5 * 10f64.powi(-(digits as i32)) {
                format!("±{:.digits$}", 0.0)
            } else if d > 0.0 {
                format!("+{d:.digits$}")
            } else {
                format!("−{:.digits$}", -d)
            }
        }
        _ => String::new(),
    }
}

/// A conservative 95 % half-width of an NPS (on −100…100) from `n` respondents: the
/// variance of the promoters' share minus the detractors' is at most (1 − NPS²)/n
/// whatever the two shares are, so the interval is never narrower than the truth.
pub fn nps_half_width(nps: Option<f64>, n: u64) -> Option<f64> {
    let x = nps? / 100.0;
    (n > 0).then(|| 1.96 * ((1.0 - x * x).max(0.0) / n as f64).sqrt() * 100.0)
}

/// Whether two estimates with their 95 % half-widths, `(value, half-width)`, overlap:
/// the ranking cannot tell such halls apart.
pub fn intervals_overlap(a: (f64, f64), b: (f64, f64)) -> bool {
    (a.0 - b.0).abs() <= a.1 + b.1
}

/// A peak or the end with its figures over the period and its latest monthly change.
pub struct PeakCard {
    pub key: String,
    pub name: String,
    /// 峰 / 终 and the badge's class.
    pub kind: (String, &'static str),
    pub satisfaction: String,
    pub importance: String,
    pub change: String,
    pub worse: bool,
}

pub fn peak_cards(
    lang: &Lang,
    journey: &Journey,
    a: &Analysis,
    trend: &[TrendMonth],
) -> Vec<PeakCard> {
    let name_of = |key: &str| {
        journey
            .moments()
            .iter()
            .find(|m| m.key.as_str() == key)
            .map_or_else(|| key.to_owned(), |m| lang.text(&m.name).to_owned())
    };
    let (last, before) = match trend {
        [.., b, l] => (Some(l), Some(b)),
        [l] => (Some(l), None),
        [] => (None, None),
    };
    let mut keys: Vec<(String, (String, &'static str))> = a
        .peaks
        .iter()
        .map(|k| (k.clone(), (lang.t("峰", "Peak").to_owned(), "peak")))
        .collect();
    if !a.peaks.contains(&a.end) {
        keys.push((a.end.clone(), (lang.t("终", "End").to_owned(), "end")));
    }
    keys.into_iter()
        .map(|(key, kind)| {
            let m = a.moments.iter().find(|m| m.key == key);
            let now = last.and_then(|t| t.moments.get(&key).copied());
            let prev = before.and_then(|t| t.moments.get(&key).copied());
            PeakCard {
                name: name_of(&key),
                kind,
                satisfaction: m
                    .and_then(|m| m.satisfaction)
                    .map_or_else(|| "–".into(), |v| format!("{v:.2}")),
                importance: m
                    .and_then(|m| m.importance)
                    .map_or_else(|| "–".into(), |v| format!("{v:.2}")),
                change: change(now, prev, 2),
                worse: matches!((now, prev), (Some(a), Some(b)) if a < b - 0.005),
                key,
            }
        })
        .collect()
}

/// The three moments to work on first in a hall: of those at least as important as the
/// journey's mean, the least satisfying.
pub fn weakest(a: &Analysis, n: usize) -> Vec<(String, f64, f64)> {
    let mean = a.mean_importance.unwrap_or(0.0);
    let mut v: Vec<(String, f64, f64)> = a
        .moments
        .iter()
        .filter_map(|m| Some((m.key.clone(), m.importance?, m.satisfaction?)))
        .filter(|(_, imp, _)| *imp >= mean)
        .collect();
    v.sort_by(|x, y| x.2.total_cmp(&y.2).then_with(|| x.0.cmp(&y.0)));
    v.truncate(n);
    v
}

/// A hall's rank among its peers by NPS (1 = best) and how many peers have an NPS.
pub fn rank_among(hall: &OrgNodeId, peers: &[(String, Option<f64>)]) -> Option<(usize, usize)> {
    let mine = peers.iter().find(|(h, _)| h == hall.as_str())?.1?;
    let scored: Vec<f64> = peers.iter().filter_map(|(_, n)| *n).collect();
    Some((
        scored.iter().filter(|&&n| n > mine).count() + 1,
        scored.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_changes() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 14).unwrap();
        let (a, b) = month_bounds(d);
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2026-02-01".into(), "2026-02-28".into())
        );
        assert_eq!(month_before(a).to_string(), "2026-01-01");
        assert_eq!(change(Some(7.5), Some(7.25), 2), "+0.25");
        assert_eq!(change(Some(7.0), Some(7.25), 2), "−0.25");
        assert_eq!(change(Some(7.0), Some(7.001), 2), "±0.00");
        assert_eq!(change(None, Some(1.0), 1), "");
    }

    /// NPS 0 from 100 respondents: at most ±19.6 points (a coin between promoter and
    /// detractor); NPS 100 has no spread left.
    #[test]
    fn the_nps_interval_is_the_conservative_bound() {
        let w = nps_half_width(Some(0.0), 100).unwrap();
        assert!((w - 19.6).abs() < 1e-9, "{w}");
        assert_eq!(nps_half_width(Some(100.0), 50), Some(0.0));
        assert_eq!(nps_half_width(None, 50), None);
        assert_eq!(nps_half_width(Some(10.0), 0), None);
    }

    #[test]
    fn overlapping_intervals_are_ties() {
        assert!(intervals_overlap((50.0, 10.0), (35.0, 5.0)));
        assert!(!intervals_overlap((50.0, 10.0), (34.0, 5.0)));
    }

    #[test]
    fn a_hall_ranks_by_nps_among_its_peers() {
        let hall = OrgNodeId::parse("h2").unwrap();
        let peers = vec![
            ("h1".to_owned(), Some(30.0)),
            ("h2".to_owned(), Some(20.0)),
            ("h3".to_owned(), Some(20.0)),
            ("h4".to_owned(), None),
        ];
        assert_eq!(rank_among(&hall, &peers), Some((2, 3)));
    }
}
