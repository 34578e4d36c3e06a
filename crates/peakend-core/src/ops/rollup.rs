//! A hall's day reduced to what day-level KPIs and open care alerts need, so a province
//! overview sums a few numbers per hall instead of replaying every hall's events.
//!
//! The ingest keeps one [`DayRollup`] per hall and day, computed from the day it has
//! just replayed. Only one thing in a replayed day depends on the time it is read at:
//! a ticket still waiting raises its care alert when `care_after` has passed. So the
//! roll-up keeps the finished tickets as sums and the waiting ones as a list, and
//! [`DayRollup::sums_at`] gives exactly what a replay up to that time would.

use serde::{Deserialize, Serialize};

use std::collections::{BTreeMap, HashMap};

use super::day::HallDay;
use super::event::{Channel, Tier};
use super::ticket::{AnnouncedSums, KpiSums, Measure, Ticket};

/// The roll-up day of an instant in a hall's zone, and the bounds in ms of that day
/// (roll-ups are kept per local day of the hall).
pub fn rollup_day(at_ms: i64, zone: crate::time::Zone) -> (chrono::NaiveDate, i64, i64) {
    const DAY: i64 = 86_400_000;
    let offset_ms = i64::from(zone.offset_at(at_ms).local_minus_utc()) * 1000;
    let local = at_ms + offset_ms;
    let start = local.div_euclid(DAY) * DAY - offset_ms;
    let date = chrono::DateTime::from_timestamp_millis(local)
        .map_or(chrono::NaiveDate::MIN, |d| d.date_naive());
    (date, start, start + DAY)
}

/// A ticket not yet called nor gone when the roll-up was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingTicket {
    pub ticket: String,
    pub issued_at: i64,
    /// Set when its care alert was already raised.
    pub care_due_at: Option<i64>,
    /// A remote ticket's lapse time, if not called by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    /// When its wait in the hall began, if not at issue (a remote ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_from: Option<i64>,
    /// Its tier and channel, for the KPI breakdowns (absent in older roll-ups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
}

/// One hall's day as of its last stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayRollup {
    /// The `care_after` rule the day was replayed with: a roll-up answers only for the
    /// same rule (and the same system-time standard).
    pub care_after_ms: i64,
    /// The system-time standard its transactions were counted against (0 in roll-ups
    /// stored before it was kept, whose days a report replays).
    #[serde(default)]
    pub system_time_ms: i64,
    /// The low-rating standard its bad visits were counted with (0 in roll-ups stored
    /// before bad visits were counted, whose days a report replays).
    #[serde(default)]
    pub low_rating_milli: i64,
    /// Time of the latest stored event of the day.
    pub last_event_ms: Option<i64>,
    /// Tickets no longer waiting.
    pub done: KpiSums,
    pub waiting: Vec<WaitingTicket>,
    /// The finished tickets broken down as a KPI report shows them; absent in roll-ups
    /// stored before it was kept, whose days a report replays. The store keeps it in a
    /// column of its own (read only by the readers that need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<RollupDetail>,
    /// A contact centre's calls of the day (issue 22); absent for a hall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<super::call::CallRollup>,
    /// The day's data trials (issue 23); absent when the day had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<super::sales::TrialRollup>,
    /// The day's data trials still open (started, not ended) when it was rolled up
    /// ([`HallDay::open_trials`]): what the next day carries in
    /// ([`HallDay::carry_trials`]), so that a trial ended after midnight counts there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_trials: Vec<super::sales::Trial>,
}

/// A day's finished tickets per hour, counter and staff member, and how their announced
/// waits held: with the waiting tickets, all a KPI report needs from the day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RollupDetail {
    /// By the UTC hour (its first ms) the ticket was issued in: any offset of whole
    /// hours buckets these by its local hour or day.
    pub hours: BTreeMap<i64, KpiSums>,
    /// By the counter that called the ticket.
    pub counters: BTreeMap<String, KpiSums>,
    /// By the staff member who served.
    pub staff: BTreeMap<String, KpiSums>,
    pub announced: AnnouncedSums,
    /// By tier and by channel (`None` in roll-ups stored before they were kept, whose
    /// days a report with these breakdowns replays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<BTreeMap<Tier, KpiSums>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<BTreeMap<Channel, KpiSums>>,
    /// Served visits (a `service_ended`) by segment (`""` when the ticket names none)
    /// and purpose (the ticket's service): the population the survey's respondents are
    /// checked and raked against (issue 22). `None` in roll-ups stored before it was
    /// kept, whose days are replayed for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits: Option<BTreeMap<String, BTreeMap<String, u64>>>,
}

/// Served visits (tickets with a `service_ended`) by (segment, purpose), as a roll-up's
/// [`RollupDetail::visits`] counts them: the segment `""` when the ticket names none.
pub fn served_visits<'a>(
    tickets: impl IntoIterator<Item = &'a Ticket>,
) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for t in tickets {
        if t.ended_at.is_some() {
            *out.entry((t.segment.clone().unwrap_or_default(), t.service.clone()))
                .or_default() += 1;
        }
    }
    out
}

/// A day's trials, each credited to the server of its ticket; `None` without trials.
fn trials_of(day: &HallDay) -> Option<super::sales::TrialRollup> {
    day.trials().next()?;
    Some(super::sales::TrialRollup::of(day.trials(), |t| {
        day.ticket(t)?.staff.clone()
    }))
}

/// The first ms of the UTC hour of an instant.
pub fn utc_hour(at_ms: i64) -> i64 {
    at_ms.div_euclid(3_600_000) * 3_600_000
}

impl DayRollup {
    /// The roll-up of a day replayed over all its stored events (and no further).
    pub fn of(day: &HallDay, measure: Measure, last_event_ms: Option<i64>) -> DayRollup {
        let mut live = LiveRollup::new(measure);
        day.tickets().for_each(|t| live.count(t));
        let calls = super::call::CallRollup::of(day.calls(), day.rules().calls);
        live.trials = trials_of(day);
        live.open_trials = day.open_trials();
        DayRollup {
            calls,
            ..live.rollup(last_event_ms)
        }
    }

    /// The standards it was counted with.
    pub fn measure(&self) -> Measure {
        Measure {
            care_after_ms: self.care_after_ms,
            system_time_ms: self.system_time_ms,
            low_rating_milli: self.low_rating_milli,
        }
    }

    /// A waiting ticket's part in the sums of the day read at `until`: it arrived, and
    /// its care alert counts once raised.
    pub fn waiting_sums(&self, w: &WaitingTicket, until: i64) -> KpiSums {
        if w.valid_until.is_some_and(|v| v <= until) {
            // Lapsed: counted as expired only, as `KpiSums::add` counts it.
            return KpiSums {
                expired: 1,
                ..KpiSums::default()
            };
        }
        KpiSums {
            arrivals: 1,
            care_alerts: u64::from(self.care_due(w, until).is_some()),
            ..KpiSums::default()
        }
    }

    /// When a waiting ticket's care alert is (or was) raised, if by `until`.
    fn care_due(&self, w: &WaitingTicket, until: i64) -> Option<i64> {
        w.care_due_at.or(
            Some(w.wait_from.unwrap_or(w.issued_at) + self.care_after_ms)
                .filter(|due| *due <= until),
        )
    }

    /// The sums of the day replayed with the clock brought to `until` (a clock already
    /// past `until` stays where it is, as in [`HallDay::advance_to`]).
    pub fn sums_at(&self, until: i64) -> KpiSums {
        let mut sums = self.done.clone();
        for w in &self.waiting {
            sums.merge(&self.waiting_sums(w, until));
        }
        sums
    }

    /// Care alerts open at `now` as `(ticket, raised_at)` (the alert's key parts), when
    /// every stored event of the day is at or before `now`; `None` when the day holds
    /// later events, for which only a replay up to `now` can tell.
    pub fn open_care_at(&self, now: i64) -> Option<Vec<(&str, i64)>> {
        if self.last_event_ms.is_some_and(|l| l > now) {
            return None;
        }
        Some(
            self.waiting
                .iter()
                // A remote ticket that lapsed has its alert cleared, as in a replay.
                .filter(|w| w.valid_until.is_none_or(|v| v > now))
                .filter_map(|w| Some((w.ticket.as_str(), self.care_due(w, now)?)))
                .collect(),
        )
    }
}

/// Part of a day's finished tickets (the whole day, an hour, a counter, a staff
/// member) as its tickets come and change: their sums, and their waits, so that the
/// longest can be taken back.
#[derive(Debug, Clone, Default)]
struct Part {
    sums: KpiSums,
    waits: BTreeMap<i64, u32>,
    /// Tickets counted in it (a seller's part may hold sales but no arrival).
    members: u64,
}

impl Part {
    fn add(&mut self, one: &KpiSums) {
        self.members += 1;
        self.sums.merge(one);
        if let Some(w) = one.longest_wait_ms {
            *self.waits.entry(w).or_default() += 1;
        }
    }

    /// Takes back a ticket's sums; true when no ticket is left in the part.
    fn take(&mut self, one: &KpiSums) -> bool {
        self.members = self.members.saturating_sub(1);
        self.sums.take(one);
        if let Some(w) = one.longest_wait_ms
            && let Some(n) = self.waits.get_mut(&w)
        {
            *n -= 1;
            if *n == 0 {
                self.waits.remove(&w);
            }
        }
        self.sums.longest_wait_ms = self.waits.last_key_value().map(|(w, _)| *w);
        self.members == 0
    }
}

/// How a ticket is counted in a [`LiveRollup`] now.
#[derive(Debug, Clone)]
enum Counted {
    Waiting,
    Done {
        sums: Box<KpiSums>,
        hour: i64,
        counter: Option<String>,
        /// The ticket's part of each staff member credited (see `KpiSums::staff_shares`).
        staff: Vec<(String, KpiSums)>,
        tier: Tier,
        channel: Channel,
        announced: AnnouncedSums,
        /// (segment, purpose) of a served visit.
        visit: Option<(String, String)>,
    },
}

/// A day's roll-up kept up to date as its tickets change, so that the ingest writes a
/// hall-day's roll-up after each batch at the cost of the tickets the batch changed,
/// not of the whole day: a changed ticket's old contribution is taken back and its new
/// one added. [`DayRollup::of`] counts a whole day the same way.
#[derive(Debug, Clone)]
pub struct LiveRollup {
    measure: Measure,
    counted: HashMap<String, Counted>,
    done: Part,
    hours: BTreeMap<i64, Part>,
    counters: BTreeMap<String, Part>,
    staff: BTreeMap<String, Part>,
    tiers: BTreeMap<Tier, Part>,
    channels: BTreeMap<Channel, Part>,
    visits: BTreeMap<(String, String), u64>,
    announced: AnnouncedSums,
    waiting: BTreeMap<String, WaitingTicket>,
    /// A centre's calls, from its first call on.
    calls: Option<super::call::LiveCalls>,
    trials: Option<super::sales::TrialRollup>,
    open_trials: Vec<super::sales::Trial>,
}

impl LiveRollup {
    pub fn new(measure: Measure) -> LiveRollup {
        LiveRollup {
            measure,
            counted: HashMap::new(),
            done: Part::default(),
            hours: BTreeMap::new(),
            counters: BTreeMap::new(),
            staff: BTreeMap::new(),
            tiers: BTreeMap::new(),
            channels: BTreeMap::new(),
            visits: BTreeMap::new(),
            announced: AnnouncedSums::default(),
            waiting: BTreeMap::new(),
            calls: None,
            trials: None,
            open_trials: Vec::new(),
        }
    }

    pub fn measure(&self) -> Measure {
        self.measure
    }

    /// Counts again the tickets of `day` changed since the last update (the day must
    /// track its changes, see [`HallDay::track_changes`]).
    pub fn update(&mut self, day: &mut HallDay) {
        for name in day.take_changed() {
            if let Some(t) = day.ticket(&name) {
                self.count(t);
            }
        }
        // A centre's changed calls are counted again; a hall has none.
        let m = day.rules().calls;
        let calls = day.calls_mut();
        if self.calls.is_some() || calls.calls().next().is_some() {
            self.calls
                .get_or_insert_with(|| super::call::LiveCalls::new(m))
                .update(calls);
        }
        // Likewise the trials (tens a day): a trial's credit follows its ticket's server.
        self.trials = trials_of(day);
        self.open_trials = day.open_trials();
    }

    /// Counts a ticket as it is now, in place of how it was counted before.
    pub fn count(&mut self, t: &Ticket) {
        if let Some(before) = self.counted.remove(&t.ticket) {
            self.uncount(&t.ticket, before);
        }
        let now = if t.waiting() {
            self.waiting.insert(
                t.ticket.clone(),
                WaitingTicket {
                    ticket: t.ticket.clone(),
                    issued_at: t.issued_at,
                    care_due_at: t.care_due_at,
                    valid_until: t.valid_until,
                    // Its wait's start: the care rule runs from there.
                    wait_from: Some(t.wait_from()).filter(|w| *w != t.issued_at),
                    tier: Some(t.tier),
                    channel: Some(t.channel),
                },
            );
            Counted::Waiting
        } else {
            let sums = KpiSums::of(t, self.measure);
            let hour = utc_hour(t.issued_at);
            self.done.add(&sums);
            self.hours.entry(hour).or_default().add(&sums);
            if let Some(c) = &t.counter {
                self.counters.entry(c.clone()).or_default().add(&sums);
            }
            let staff = KpiSums::staff_shares(t, self.measure);
            for (s, part) in &staff {
                self.staff.entry(s.clone()).or_default().add(part);
            }
            self.tiers.entry(t.tier).or_default().add(&sums);
            self.channels.entry(t.channel).or_default().add(&sums);
            let mut announced = AnnouncedSums::default();
            announced.add(t);
            self.announced.merge(&announced);
            let visit = t
                .ended_at
                .map(|_| (t.segment.clone().unwrap_or_default(), t.service.clone()));
            if let Some(v) = &visit {
                *self.visits.entry(v.clone()).or_default() += 1;
            }
            Counted::Done {
                sums: Box::new(sums),
                hour,
                counter: t.counter.clone(),
                staff,
                tier: t.tier,
                channel: t.channel,
                announced,
                visit,
            }
        };
        self.counted.insert(t.ticket.clone(), now);
    }

    fn uncount(&mut self, ticket: &str, before: Counted) {
        fn take<K: Ord>(parts: &mut BTreeMap<K, Part>, key: K, sums: &KpiSums) {
            if let Some(p) = parts.get_mut(&key)
                && p.take(sums)
            {
                parts.remove(&key);
            }
        }
        match before {
            Counted::Waiting => {
                self.waiting.remove(ticket);
            }
            Counted::Done {
                sums,
                hour,
                counter,
                staff,
                tier,
                channel,
                announced,
                visit,
            } => {
                if let Some(v) = visit
                    && let Some(n) = self.visits.get_mut(&v)
                {
                    *n -= 1;
                    if *n == 0 {
                        self.visits.remove(&v);
                    }
                }
                take(&mut self.tiers, tier, &sums);
                take(&mut self.channels, channel, &sums);
                self.done.take(&sums);
                take(&mut self.hours, hour, &sums);
                if let Some(c) = counter {
                    take(&mut self.counters, c, &sums);
                }
                for (s, part) in staff {
                    take(&mut self.staff, s, &part);
                }
                self.announced.take(&announced);
            }
        }
    }

    /// The roll-up as of now (a few sums per hour, counter and staff member, and the
    /// tickets still waiting).
    pub fn rollup(&self, last_event_ms: Option<i64>) -> DayRollup {
        fn sums<K: Ord + Clone>(parts: &BTreeMap<K, Part>) -> BTreeMap<K, KpiSums> {
            parts
                .iter()
                .map(|(k, p)| (k.clone(), p.sums.clone()))
                .collect()
        }
        DayRollup {
            care_after_ms: self.measure.care_after_ms,
            system_time_ms: self.measure.system_time_ms,
            low_rating_milli: self.measure.low_rating_milli,
            last_event_ms,
            done: self.done.sums.clone(),
            waiting: self.waiting.values().cloned().collect(),
            detail: Some(RollupDetail {
                hours: sums(&self.hours),
                counters: sums(&self.counters),
                staff: sums(&self.staff),
                announced: self.announced.clone(),
                tiers: Some(sums(&self.tiers)),
                channels: Some(sums(&self.channels)),
                visits: Some(self.visits.iter().fold(
                    BTreeMap::new(),
                    |mut m: BTreeMap<String, BTreeMap<String, u64>>, ((s, p), n)| {
                        m.entry(s.clone()).or_default().insert(p.clone(), *n);
                        m
                    },
                )),
            }),
            calls: self.calls.as_ref().and_then(super::call::LiveCalls::rollup),
            trials: self.trials.clone(),
            open_trials: self.open_trials.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::day::{AlertKind, Rules};
    use crate::ops::event::Event;
    use crate::ops::simulate;
    use crate::ops::ticket::Kpis;

    use crate::ops::fixtures::{ms, scripted};

    fn close(a: &Kpis, b: &Kpis) {
        let f = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{a:?}\n{b:?}"),
            (x, y) => assert_eq!(x, y, "{a:?}\n{b:?}"),
        };
        assert_eq!(
            (a.arrivals, a.served, a.abandoned, a.care_alerts),
            (b.arrivals, b.served, b.abandoned, b.care_alerts)
        );
        f(a.abandonment_rate, b.abandonment_rate);
        f(a.service_level, b.service_level);
        f(a.asa_s, b.asa_s);
        f(a.aht_s, b.aht_s);
        f(a.longest_wait_s, b.longest_wait_s);
        f(a.over_system_time_rate, b.over_system_time_rate);
        f(a.avg_rating, b.avg_rating);
        f(a.top_rating_share, b.top_rating_share);
    }

    /// Every prefix of the scripted morning, read at every minute after it: the roll-up
    /// of the prefix gives the KPIs and open care alerts of a replay up to that minute.
    #[test]
    fn a_rollup_read_later_equals_a_replay_up_to_then() {
        let events = scripted();
        let rules = Rules::default();
        for cut in 1..=events.len() {
            let prefix = &events[..cut];
            let last = prefix.iter().map(|e| e.at_ms()).max();
            let day = HallDay::replay(rules.clone(), prefix, i64::MIN);
            let rollup = DayRollup::of(&day, rules.measure(), last);
            for minute in 0..=40 {
                let until = last.unwrap() + minute * 60_000;
                let replayed = HallDay::replay(rules.clone(), prefix, until);
                close(
                    &rollup.sums_at(until).kpis(),
                    &Kpis::of(replayed.tickets(), rules.measure()),
                );
                let mut open: Vec<(String, i64)> = replayed
                    .alerts()
                    .iter()
                    .filter(|a| a.kind == AlertKind::CareDue && a.cleared_at.is_none())
                    .map(|a| (a.ticket.clone().unwrap(), a.raised_at))
                    .collect();
                open.sort();
                let mut got: Vec<(String, i64)> = rollup
                    .open_care_at(until)
                    .expect("no event after the roll-up")
                    .into_iter()
                    .map(|(t, at)| (t.to_owned(), at))
                    .collect();
                got.sort();
                assert_eq!(got, open, "cut {cut}, {minute} min later");
            }
        }
    }

    /// The roll-up's served visits by segment and purpose are those of the day's
    /// tickets, at every prefix of the scripted morning (tickets counted again as they
    /// change), and a replay counts them the same way.
    #[test]
    fn a_rollup_counts_the_served_visits_by_segment_and_purpose() {
        let events = scripted();
        let rules = Rules::default();
        let mut live = LiveRollup::new(rules.measure());
        for cut in 1..=events.len() {
            let day = HallDay::replay(rules.clone(), &events[..cut], i64::MIN);
            day.tickets().for_each(|t| live.count(t));
            let want = served_visits(day.tickets());
            let got: BTreeMap<(String, String), u64> = live
                .rollup(None)
                .detail
                .unwrap()
                .visits
                .unwrap()
                .into_iter()
                .flat_map(|(s, ps)| ps.into_iter().map(move |(p, n)| ((s.clone(), p), n)))
                .collect();
            assert_eq!(got, want, "cut {cut}");
        }
        let day = HallDay::replay(rules.clone(), &events, i64::MIN);
        let served = day.tickets().filter(|t| t.ended_at.is_some()).count() as u64;
        assert!(served > 0);
        assert_eq!(served_visits(day.tickets()).values().sum::<u64>(), served);
    }

    /// The scripted morning has one care alert, raised at 09:17 for the ticket issued at
    /// 09:02: read before and after it, from a roll-up taken at 09:05.
    #[test]
    fn a_waiting_ticket_raises_its_care_alert_when_read_after_care_after() {
        let events: Vec<Event> = scripted()
            .into_iter()
            .filter(|e| e.at_ms() <= ms("09:05"))
            .collect();
        let day = HallDay::replay(Rules::default(), &events, i64::MIN);
        let rollup = DayRollup::of(&day, Rules::default().measure(), Some(ms("09:05")));
        assert!(!rollup.waiting.is_empty());
        let before = rollup.sums_at(ms("09:05")).care_alerts;
        let after = rollup.sums_at(ms("12:00")).care_alerts;
        assert!(after > before, "{before} → {after}");
        // A read before the last stored event cannot say what was open then.
        assert_eq!(rollup.open_care_at(ms("09:04")), None);
    }

    /// A simulated busy day of several halls, cut at noon and at the end: the merged
    /// roll-ups give the report's total, and each hall's the report's line of the hall.
    #[test]
    fn merged_rollups_equal_the_report_of_the_replayed_halls() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let halls: Vec<simulate::SimHall> = (0..3)
            .map(|h| simulate::SimHall {
                hall: crate::id::HallId::parse(format!("h{h}")).unwrap(),
                counters: 2 + h,
                kiosks: 1,
                zone: crate::time::Zone::DEFAULT,
            })
            .collect();
        let events = simulate::day(&halls, date, 7);
        let rules = Rules::default();
        for (cut, read) in [("12:00", "12:00"), ("23:59", "23:59"), ("10:00", "16:00")] {
            let mut total = KpiSums::default();
            let mut replayed = Vec::new();
            let mut each = Vec::new();
            for h in &halls {
                let mine: Vec<&Event> = events
                    .iter()
                    .filter(|e| e.hall == h.hall && e.at_ms() <= ms(cut))
                    .collect();
                let last = mine.iter().map(|e| e.at_ms()).max();
                let day = HallDay::replay(rules.clone(), mine.iter().copied(), i64::MIN);
                let sums = DayRollup::of(&day, rules.measure(), last).sums_at(ms(read));
                total.merge(&sums);
                each.push(sums.kpis());
                let day = HallDay::replay(rules.clone(), mine.iter().copied(), ms(read));
                replayed.push(crate::ops::kpi::HallTickets {
                    hall: h.hall.to_string(),
                    tickets: day.tickets().cloned().collect(),
                });
            }
            let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
            let report = crate::ops::kpi::report(
                &replayed,
                rules.measure(),
                crate::ops::kpi::Bucket::Day,
                cst,
            );
            assert!(report.total.arrivals > 100, "{cut}");
            assert!(report.total.care_alerts > 0, "a busy day has long waits");
            close(&total.kpis(), &report.total);
            for (k, line) in each.iter().zip(&report.halls) {
                close(k, &line.kpis);
            }
        }
    }

    /// The same simulated halls, cut and read at several times: a KPI report summed
    /// from the days' roll-ups equals, line by line and bucket by bucket, the report of
    /// the replayed days.
    #[test]
    fn a_report_from_rollups_equals_the_report_of_the_replayed_days() {
        use crate::ops::kpi::{Bucket, KpiReport, ReportSums, report};
        let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let halls: Vec<simulate::SimHall> = (0..3)
            .map(|h| simulate::SimHall {
                hall: crate::id::HallId::parse(format!("h{h}")).unwrap(),
                counters: 2 + h,
                kiosks: 1,
                zone: crate::time::Zone::DEFAULT,
            })
            .collect();
        let events = simulate::day(&halls, date, 11);
        let rules = Rules::default();
        let same = |a: &KpiReport, b: &KpiReport| {
            close(&a.total, &b.total);
            for (x, y) in [
                (&a.buckets, &b.buckets),
                (&a.halls, &b.halls),
                (&a.counters, &b.counters),
                (&a.staff, &b.staff),
            ] {
                let keys = |v: &Vec<crate::ops::kpi::Keyed>| {
                    v.iter().map(|k| k.key.clone()).collect::<Vec<_>>()
                };
                assert_eq!(keys(x), keys(y));
                x.iter().zip(y).for_each(|(p, q)| close(&p.kpis, &q.kpis));
            }
            assert_eq!(a.announced_wait.n, b.announced_wait.n);
            for (p, q) in [
                (a.announced_wait.rmse_s, b.announced_wait.rmse_s),
                (a.announced_wait.mae_s, b.announced_wait.mae_s),
                (
                    a.announced_wait.longer_than_announced,
                    b.announced_wait.longer_than_announced,
                ),
            ] {
                assert!((p.unwrap() - q.unwrap()).abs() < 1e-6, "{p:?} {q:?}");
            }
        };
        for (cut, read) in [("12:00", "12:00"), ("23:59", "23:59"), ("10:00", "16:00")] {
            for (bucket, tz) in [(Bucket::Hour, 8), (Bucket::Day, 8), (Bucket::Hour, 0)] {
                let offset = chrono::FixedOffset::east_opt(tz * 3600).unwrap();
                let mut from_rollups = ReportSums::new(rules.measure(), bucket, offset);
                let mut replayed = Vec::new();
                for h in &halls {
                    let mine: Vec<&Event> = events
                        .iter()
                        .filter(|e| e.hall == h.hall && e.at_ms() <= ms(cut))
                        .collect();
                    let last = mine.iter().map(|e| e.at_ms()).max();
                    let day = HallDay::replay(rules.clone(), mine.iter().copied(), i64::MIN);
                    let rollup = DayRollup::of(&day, rules.measure(), last);
                    assert!(from_rollups.add_rollup(h.hall.as_str(), &rollup, ms(read)));
                    let day = HallDay::replay(rules.clone(), mine.iter().copied(), ms(read));
                    replayed.push(crate::ops::kpi::HallTickets {
                        hall: h.hall.to_string(),
                        tickets: day.tickets().cloned().collect(),
                    });
                }
                let want = report(&replayed, rules.measure(), bucket, offset);
                assert!(
                    want.counters.len() >= 9 && (bucket == Bucket::Day || want.buckets.len() >= 2),
                    "{cut}: {} counters, {} buckets",
                    want.counters.len(),
                    want.buckets.len()
                );
                same(&from_rollups.report(), &want);
            }
        }
        // A roll-up without the breakdown (stored before it was kept), or one replayed
        // with another care rule, cannot answer: the report replays that day.
        let day = HallDay::replay(rules.clone(), &events, i64::MIN);
        let mut old = DayRollup::of(&day, rules.measure(), None);
        old.detail = None;
        let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let mut sums = ReportSums::new(rules.measure(), Bucket::Day, cst);
        assert!(!sums.add_rollup("h0", &old, ms("23:59")));
        let mut later = rules.measure();
        later.care_after_ms += 60_000;
        let other = DayRollup::of(&day, later, None);
        assert!(!sums.add_rollup("h0", &other, ms("23:59")));
        let mut longer = rules.measure();
        longer.system_time_ms += 60_000;
        let other = DayRollup::of(&day, longer, None);
        assert!(!sums.add_rollup("h0", &other, ms("23:59")));
        assert_eq!(sums.report().total.arrivals, 0);
    }
}
