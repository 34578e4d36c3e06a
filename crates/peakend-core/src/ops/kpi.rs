//! KPI reports for an org node: the tickets of its halls' days, in total, per time
//! bucket, per hall, per counter and per staff member.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Timelike};
use serde::Serialize;

use super::day::{Kpis, PredictorAccuracy, Ticket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Hour,
    Day,
}

impl std::str::FromStr for Bucket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            other => Err(format!("`{other}` is not hour or day")),
        }
    }
}

/// One hall's replayed tickets.
pub struct HallTickets {
    pub hall: String,
    pub tickets: Vec<Ticket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keyed {
    pub key: String,
    pub kpis: Kpis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiReport {
    pub bucket: Bucket,
    pub total: Kpis,
    /// Buckets by the local time (in `offset`) the tickets were issued.
    pub buckets: Vec<Keyed>,
    pub halls: Vec<Keyed>,
    /// `hall/counter` of the call.
    pub counters: Vec<Keyed>,
    /// `hall/staff` who served.
    pub staff: Vec<Keyed>,
    /// How the waits announced at issue compared with the waits that followed.
    pub announced_wait: PredictorAccuracy,
}

pub fn report(
    halls: &[HallTickets],
    care_after_ms: i64,
    bucket: Bucket,
    offset: FixedOffset,
) -> KpiReport {
    let all: Vec<&Ticket> = halls.iter().flat_map(|h| &h.tickets).collect();
    let group = |key: &dyn Fn(&str, &Ticket) -> Option<String>| {
        let mut groups: BTreeMap<String, Vec<&Ticket>> = BTreeMap::new();
        for h in halls {
            for t in &h.tickets {
                if let Some(k) = key(&h.hall, t) {
                    groups.entry(k).or_default().push(t);
                }
            }
        }
        groups
            .into_iter()
            .map(|(key, ts)| Keyed {
                key,
                kpis: Kpis::of(ts, care_after_ms),
            })
            .collect::<Vec<_>>()
    };
    let bucket_of = |t: &Ticket| {
        let local = DateTime::from_timestamp_millis(t.issued_at)?.with_timezone(&offset);
        let start = match bucket {
            Bucket::Hour => local.with_minute(0)?.with_second(0)?.with_nanosecond(0)?,
            Bucket::Day => local
                .with_hour(0)?
                .with_minute(0)?
                .with_second(0)?
                .with_nanosecond(0)?,
        };
        Some(start.to_rfc3339())
    };
    KpiReport {
        bucket,
        total: Kpis::of(all, care_after_ms),
        buckets: group(&|_, t| bucket_of(t)),
        halls: group(&|h, _| Some(h.to_owned())),
        counters: group(&|h, t| t.counter.as_ref().map(|c| format!("{h}/{c}"))),
        staff: group(&|h, t| t.staff.as_ref().map(|s| format!("{h}/{s}"))),
        announced_wait: PredictorAccuracy::of(halls.iter().flat_map(|h| &h.tickets)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::day::{HallDay, Rules};
    use crate::ops::event::Event;

    /// Ticket names repeat from hall to hall (and day to day): a care alert counts for
    /// the ticket that waited, not for every ticket of that name.
    #[test]
    fn care_alerts_count_where_the_customer_waited() {
        let replay = |hall: &str, called: &str| {
            let ev = |id: &str, hm: &str, kind: &str, fields: &str| {
                Event::from_json(&format!(
                    r#"{{"id":"{id}","hall":"{hall}","type":"{kind}","at":"2026-08-07T{hm}:00+08:00",{fields}}}"#
                ))
                .unwrap()
            };
            let mut day = HallDay::new(Rules::default());
            for e in [
                ev("e1", "09:00", "counter_opened", r#""counter":"c1""#),
                ev(
                    "e2",
                    "09:00",
                    "ticket_issued",
                    r#""ticket":"A1","service":"payment""#,
                ),
                ev("e3", called, "called", r#""ticket":"A1","counter":"c1""#),
            ] {
                day.apply(&e).unwrap();
            }
            HallTickets {
                hall: hall.to_owned(),
                tickets: day.tickets().cloned().collect(),
            }
        };
        // h1's A1 waits 20 minutes (care due at 09:15); h2's A1 is called at once.
        let halls = [replay("h1", "09:20"), replay("h2", "09:01")];
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let r = report(&halls, Rules::default().care_after_ms, Bucket::Day, cst);
        assert_eq!(r.total.care_alerts, 1);
        let per_hall: Vec<(&str, u64)> = r
            .halls
            .iter()
            .map(|k| (k.key.as_str(), k.kpis.care_alerts))
            .collect();
        assert_eq!(per_hall, [("h1", 1), ("h2", 0)]);
    }
}
