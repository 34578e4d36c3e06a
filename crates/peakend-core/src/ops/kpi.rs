//! KPI reports for an org node: the tickets of its halls' days, in total, per time
//! bucket, per hall, per counter and per staff member.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, Timelike};
use serde::Serialize;

use super::event::{Channel, Tier};
use super::rollup::DayRollup;
use super::sales::TrialRollup;
use super::ticket::{AnnouncedSums, KpiSums, Kpis, Measure, PredictorAccuracy, Ticket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Hour,
    Day,
    /// Half-hours: what a contact centre is staffed by; a hall's tickets in this bucket
    /// are replayed (their roll-ups keep hours).
    HalfHour,
}

impl std::str::FromStr for Bucket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            "half-hour" | "half_hour" | "30min" => Ok(Bucket::HalfHour),
            other => Err(format!("`{other}` is not half-hour, hour or day")),
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
    /// The halls summed by the group each belongs to (a node's children, say), when
    /// groups were given ([`ReportSums::with_groups`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Keyed>,
    /// `hall/counter` of the call.
    pub counters: Vec<Keyed>,
    /// `hall/staff` who served.
    pub staff: Vec<Keyed>,
    /// How the waits announced at issue compared with the waits that followed.
    pub announced_wait: PredictorAccuracy,
    /// By the customer's tier (diamond, gold, silver, ordinary), each with its own
    /// service-level target.
    pub tiers: Vec<TierKpis>,
    /// By where the ticket was taken (kiosk, sms, app).
    pub channels: Vec<Keyed>,
    /// The calls of the contact centres at or below the node, when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<super::call::CallReport>,
    /// Across the node's halls, how the peak moments' satisfaction ranks with sales
    /// (issue 23), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peaks_vs_sales: Option<super::sales::PeaksVsSales>,
}

/// A tier's KPIs: `kpis.target_level` is the share called within `target_s`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierKpis {
    pub tier: Tier,
    pub target_s: f64,
    pub kpis: Kpis,
}

pub fn report(
    halls: &[HallTickets],
    measure: Measure,
    bucket: Bucket,
    offset: FixedOffset,
) -> KpiReport {
    let mut sums = ReportSums::new(measure, bucket, offset);
    for h in halls {
        sums.add_tickets(&h.hall, &h.tickets);
    }
    sums.report()
}

/// A KPI report being summed up, from replayed tickets and from days' roll-ups alike:
/// every figure of it is a ratio of mergeable sums.
pub struct ReportSums {
    measure: Measure,
    bucket: Bucket,
    offset: FixedOffset,
    total: KpiSums,
    buckets: BTreeMap<String, KpiSums>,
    halls: BTreeMap<String, KpiSums>,
    counters: BTreeMap<String, KpiSums>,
    staff: BTreeMap<String, KpiSums>,
    tiers: BTreeMap<Tier, KpiSums>,
    channels: BTreeMap<Channel, KpiSums>,
    /// Each tier's target, from the rules of the node reported on.
    tier_targets: Vec<(Tier, i64)>,
    announced: AnnouncedSums,
    /// The group of each hall, for [`KpiReport::groups`].
    group_of: HashMap<String, String>,
}

impl ReportSums {
    pub fn new(measure: Measure, bucket: Bucket, offset: FixedOffset) -> ReportSums {
        ReportSums {
            measure,
            bucket,
            offset,
            total: KpiSums::default(),
            buckets: BTreeMap::new(),
            halls: BTreeMap::new(),
            counters: BTreeMap::new(),
            staff: BTreeMap::new(),
            tiers: BTreeMap::new(),
            channels: BTreeMap::new(),
            tier_targets: crate::ops::day::default_tiers(),
            announced: AnnouncedSums::default(),
            group_of: HashMap::new(),
        }
    }

    /// The tiers' targets the report shows (the rules of the node it is about).
    pub fn with_tier_targets(mut self, tiers: Vec<(Tier, i64)>) -> ReportSums {
        self.tier_targets = tiers;
        self
    }

    /// The bucket (its local start, RFC 3339) a ticket issued at `at_ms` falls in.
    fn bucket_of(&self, at_ms: i64) -> Option<String> {
        let local = DateTime::from_timestamp_millis(at_ms)?.with_timezone(&self.offset);
        let start = match self.bucket {
            Bucket::Hour => local.with_minute(0)?.with_second(0)?.with_nanosecond(0)?,
            Bucket::HalfHour => local
                .with_minute(local.minute() / 30 * 30)?
                .with_second(0)?
                .with_nanosecond(0)?,
            Bucket::Day => local
                .with_hour(0)?
                .with_minute(0)?
                .with_second(0)?
                .with_nanosecond(0)?,
        };
        Some(start.to_rfc3339())
    }

    fn merge(map: &mut BTreeMap<String, KpiSums>, key: String, sums: &KpiSums) {
        map.entry(key).or_default().merge(sums);
    }

    pub fn add_tickets(&mut self, hall: &str, tickets: &[Ticket]) {
        for t in tickets {
            let mut one = KpiSums::default();
            one.add(t, self.measure);
            self.total.merge(&one);
            if let Some(b) = self.bucket_of(t.issued_at) {
                Self::merge(&mut self.buckets, b, &one);
            }
            Self::merge(&mut self.halls, hall.to_owned(), &one);
            if let Some(c) = &t.counter {
                Self::merge(&mut self.counters, format!("{hall}/{c}"), &one);
            }
            for (s, part) in KpiSums::staff_shares(t, self.measure) {
                Self::merge(&mut self.staff, format!("{hall}/{s}"), &part);
            }
            self.tiers.entry(t.tier).or_default().merge(&one);
            self.channels.entry(t.channel).or_default().merge(&one);
            self.announced.add(t);
        }
    }

    /// Adds a day of `hall` from its roll-up, read at `until` (what a replay of the day
    /// with its clock brought to `until` would add). Hour buckets come from UTC hours,
    /// so the offset must be whole hours; `false` (and nothing added) when it is not,
    /// or when the roll-up keeps no breakdown: that day needs a replay.
    pub fn add_rollup(&mut self, hall: &str, day: &DayRollup, until: i64) -> bool {
        let Some(detail) = &day.detail else {
            return false;
        };
        let (Some(tiers), Some(channels)) = (&detail.tiers, &detail.channels) else {
            return false;
        };
        if day
            .waiting
            .iter()
            .any(|w| w.tier.is_none() || w.channel.is_none())
        {
            return false;
        }
        if self.offset.local_minus_utc() % 3600 != 0
            || day.measure() != self.measure
            || self.bucket == Bucket::HalfHour
        {
            return false;
        }
        if let Some(trials) = &day.trials {
            self.add_trials(hall, trials);
        }
        let sums = day.sums_at(until);
        if sums.arrivals == 0 && sums.expired == 0 {
            return true;
        }
        self.total.merge(&sums);
        Self::merge(&mut self.halls, hall.to_owned(), &sums);
        for (hour, s) in &detail.hours {
            if let Some(b) = self.bucket_of(*hour) {
                Self::merge(&mut self.buckets, b, s);
            }
        }
        for w in &day.waiting {
            let one = day.waiting_sums(w, until);
            if let Some(b) = self.bucket_of(w.issued_at) {
                Self::merge(&mut self.buckets, b, &one);
            }
            if let (Some(t), Some(c)) = (w.tier, w.channel) {
                self.tiers.entry(t).or_default().merge(&one);
                self.channels.entry(c).or_default().merge(&one);
            }
        }
        for (t, s) in tiers {
            self.tiers.entry(*t).or_default().merge(s);
        }
        for (c, s) in channels {
            self.channels.entry(*c).or_default().merge(s);
        }
        for (c, s) in &detail.counters {
            Self::merge(&mut self.counters, format!("{hall}/{c}"), s);
        }
        for (st, s) in &detail.staff {
            Self::merge(&mut self.staff, format!("{hall}/{st}"), s);
        }
        self.announced.merge(&detail.announced);
        true
    }

    /// Adds a day's data trials of `hall` (from its roll-up, or from
    /// [`TrialRollup::of`] over a replayed day): to the total, the hall and the staff
    /// credited, not to buckets, counters, tiers or channels.
    pub fn add_trials(&mut self, hall: &str, trials: &TrialRollup) {
        self.total.sales.trials.merge(&trials.total);
        self.halls
            .entry(hall.to_owned())
            .or_default()
            .sales
            .trials
            .merge(&trials.total);
        for (s, t) in &trials.staff {
            self.staff
                .entry(format!("{hall}/{s}"))
                .or_default()
                .sales
                .trials
                .merge(t);
        }
    }

    /// Sums the halls also by group (hall → group key); a hall without one is in none.
    pub fn with_groups(mut self, group_of: HashMap<String, String>) -> ReportSums {
        self.group_of = group_of;
        self
    }

    pub fn report(self) -> KpiReport {
        // Every figure is a ratio of sums, so a group's is its halls' sums added up.
        let mut groups: BTreeMap<String, KpiSums> = BTreeMap::new();
        for (hall, s) in &self.halls {
            if let Some(g) = self.group_of.get(hall) {
                groups.entry(g.clone()).or_default().merge(s);
            }
        }
        let keyed = |m: BTreeMap<String, KpiSums>| {
            m.into_iter()
                .map(|(key, s)| Keyed {
                    key,
                    kpis: s.kpis(),
                })
                .collect::<Vec<_>>()
        };
        KpiReport {
            bucket: self.bucket,
            total: self.total.kpis(),
            buckets: keyed(self.buckets),
            halls: keyed(self.halls),
            groups: keyed(groups),
            counters: keyed(self.counters),
            staff: keyed(self.staff),
            announced_wait: self.announced.accuracy(),
            tiers: self
                .tiers
                .iter()
                .map(|(t, s)| TierKpis {
                    tier: *t,
                    target_s: self
                        .tier_targets
                        .iter()
                        .find(|(x, _)| x == t)
                        .map_or(self.measure.care_after_ms, |(_, ms)| *ms)
                        as f64
                        / 1000.0,
                    kpis: s.kpis(),
                })
                .collect(),
            channels: self
                .channels
                .iter()
                .map(|(c, s)| Keyed {
                    key: c.as_str().to_owned(),
                    kpis: s.kpis(),
                })
                .collect(),
            calls: None,
            peaks_vs_sales: None,
        }
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
        let r = report(&halls, Rules::default().measure(), Bucket::Day, cst);
        assert_eq!(r.total.care_alerts, 1);
        let per_hall: Vec<(&str, u64)> = r
            .halls
            .iter()
            .map(|k| (k.key.as_str(), k.kpis.care_alerts))
            .collect();
        assert_eq!(per_hall, [("h1", 1), ("h2", 0)]);
    }

    /// A group's figures are its halls' sums added up, not an average of their ratios:
    /// h1 and h2 in one group, h3 alone; a hall without a group is in none.
    #[test]
    fn groups_add_up_their_halls_sums() {
        let replay = |hall: &str, called: &[&str]| {
            let mut day = HallDay::new(Rules::default());
            day.apply(
                &Event::from_json(&format!(
                    r#"{{"id":"o","hall":"{hall}","type":"counter_opened","at":"2026-08-07T08:59:00+08:00","counter":"c1"}}"#
                ))
                .unwrap(),
            )
            .unwrap();
            for (i, hm) in called.iter().enumerate() {
                for (kind, at, extra) in [
                    ("ticket_issued", "09:00", r#""service":"payment""#),
                    ("called", hm, r#""counter":"c1""#),
                ] {
                    day.apply(
                        &Event::from_json(&format!(
                            r#"{{"id":"{kind}{i}","hall":"{hall}","type":"{kind}","at":"2026-08-07T{at}:00+08:00","ticket":"A{i}",{extra}}}"#
                        ))
                        .unwrap(),
                    )
                    .unwrap();
                }
            }
            HallTickets {
                hall: hall.to_owned(),
                tickets: day.tickets().cloned().collect(),
            }
        };
        // h1: one of one within 15 minutes; h2: one of three; h3: none of one.
        let halls = [
            replay("h1", &["09:01"]),
            replay("h2", &["09:01", "09:20", "09:30"]),
            replay("h3", &["09:40"]),
            replay("h4", &["09:02"]),
        ];
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let mut sums = ReportSums::new(Rules::default().measure(), Bucket::Day, cst).with_groups(
            [("h1", "d1"), ("h2", "d1"), ("h3", "d2")]
                .into_iter()
                .map(|(h, g)| (h.to_owned(), g.to_owned()))
                .collect(),
        );
        for h in &halls {
            sums.add_tickets(&h.hall, &h.tickets);
        }
        let r = sums.report();
        let groups: Vec<(&str, u64, Option<f64>)> = r
            .groups
            .iter()
            .map(|k| (k.key.as_str(), k.kpis.arrivals, k.kpis.service_level))
            .collect();
        // d1: 2 of 4 within the limit (0.5), not the mean of 1.0 and 1/3.
        assert_eq!(groups, [("d1", 4, Some(0.5)), ("d2", 1, Some(0.0))]);
        assert_eq!(r.total.arrivals, 6);
    }
}
