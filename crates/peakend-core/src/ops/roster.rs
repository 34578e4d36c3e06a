//! Counters per half-hour from a hall's own history (the study's dynamic opening hours
//! and rosters): the mean arrivals of each half-hour over the days observed and the
//! hall's counter time, through Erlang C.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Timelike};
use serde::Serialize;

use super::erlang::{self, Staffing};
use super::ticket::Ticket;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotPlan {
    /// Local start of the half-hour, `HH:MM`.
    pub start: String,
    /// Mean tickets issued in this half-hour per day, as an hourly rate.
    pub arrivals_per_hour: f64,
    pub staffing: Staffing,
}

/// One plan per half-hour that saw arrivals. The handling time is the mean counter time
/// (call to end) of that half-hour's tickets, or of all tickets where it had none.
pub fn plan(
    tickets: &[&Ticket],
    days: usize,
    offset: FixedOffset,
    target_level: f64,
    within_s: f64,
) -> Vec<SlotPlan> {
    let counter_s = |t: &Ticket| Some((t.ended_at? - t.called_at?) as f64 / 1000.0);
    let mean = |xs: &[f64]| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
    let all: Vec<f64> = tickets.iter().filter_map(|t| counter_s(t)).collect();
    let Some(overall) = mean(&all) else {
        return Vec::new();
    };
    let mut slots: BTreeMap<(u32, u32), (usize, Vec<f64>)> = BTreeMap::new();
    for t in tickets {
        let Some(local) = DateTime::from_timestamp_millis(t.issued_at) else {
            continue;
        };
        let local = local.with_timezone(&offset);
        let slot = slots
            .entry((local.hour(), local.minute() / 30 * 30))
            .or_default();
        slot.0 += 1;
        slot.1.extend(counter_s(t));
    }
    slots
        .into_iter()
        .filter_map(|((h, m), (n, times))| {
            let arrivals_per_hour = n as f64 * 2.0 / days.max(1) as f64;
            let aht = mean(&times).unwrap_or(overall);
            let staffing = erlang::counters_needed(arrivals_per_hour, aht, target_level, within_s)?;
            Some(SlotPlan {
                start: format!("{h:02}:{m:02}"),
                arrivals_per_hour,
                staffing,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(issued: &str, called_after_s: i64, counter_s: i64) -> Ticket {
        let issued_at = DateTime::parse_from_rfc3339(issued)
            .unwrap()
            .timestamp_millis();
        let called = issued_at + called_after_s * 1000;
        Ticket {
            called_at: Some(called),
            started_at: Some(called),
            ended_at: Some(called + counter_s * 1000),
            ..Ticket::issued(issued, "payment", None, false, issued_at)
        }
    }

    #[test]
    fn half_hours_from_two_days_of_history() {
        // 09:00–09:30: 20 tickets a day for two days at 360 s each → 40 an hour, 4
        // Erlangs; 09:30–10:00: 5 tickets on one day only → 5 an hour.
        let mut ts = Vec::new();
        for day in ["07", "08"] {
            for i in 0..20 {
                ts.push(ticket(
                    &format!("2026-08-{day}T09:{i:02}:00+08:00"),
                    60,
                    360,
                ));
            }
        }
        for i in 0..5 {
            ts.push(ticket(&format!("2026-08-07T09:3{i}:00+08:00"), 0, 120));
        }
        let refs: Vec<&Ticket> = ts.iter().collect();
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let plan = plan(&refs, 2, cst, 0.8, 900.0);
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].start, "09:00");
        assert_eq!(plan[0].arrivals_per_hour, 40.0);
        assert_eq!(plan[0].staffing.traffic_erlangs, 4.0);
        // The same figures as `peakend staffing --arrivals-per-hour 40 --aht-min 6`.
        assert_eq!(
            plan[0].staffing,
            erlang::counters_needed(40.0, 360.0, 0.8, 900.0).unwrap()
        );
        assert_eq!(plan[0].staffing.counters, 5);
        assert_eq!(
            (plan[1].start.as_str(), plan[1].arrivals_per_hour),
            ("09:30", 5.0)
        );
        assert_eq!(plan[1].staffing.counters, 1);
    }
}
