//! A hall's day replayed from its events in event-time order: tickets and their
//! timelines, the queue, the standards' rules (care after a long wait, pre-processing
//! when the queue per counter is too long, a faulty kiosk not repaired in time) and the
//! KPIs. The same fold serves live operation and replay; the caller orders events by
//! time and moves the hall clock with [`HallDay::advance_to`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Serialize;

use super::event::{Channel, Event, EventKind, Tier};
use super::predict::queue_length_wait_s;
use super::sales::{Sale, Trial};
use super::ticket::{Measure, Ticket};
use crate::audit::{AutoCheck, CheckMethod};
use crate::id::{HallId, MomentKey, StandardKey};
use crate::journey::{Journey, Unit};

/// Thresholds of the rules, from the journey's standards.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub care_after_ms: i64,
    /// The longest a transaction should take at the counter (the `counter_wait`
    /// moment's `system_time`; 2.5 min in the built-in journey).
    pub system_time_ms: i64,
    pub max_per_counter: f64,
    pub repair_within_working_days: u32,
    /// Days that are not working days besides weekends (the province's holidays).
    pub holidays: BTreeSet<NaiveDate>,
    /// The hall's time zone: its days, working days and roll-up days.
    pub zone: crate::time::Zone,
    /// What opens a service case and the deadlines it runs on (the journey's
    /// `low_rating` and `dispute` standards).
    pub cases: crate::case::CaseRules,
    /// The journey's automatic checks: which standard each one judges, with its limit.
    pub checks: Vec<AutoRule>,
    /// The kiosks the hall has (its org node's count): each one checked every day.
    pub kiosks: u32,
    /// How long after its announced time a remote ticket stays valid uncalled (the
    /// journey's `remote_ticket_valid`; 30 min).
    pub remote_valid_ms: i64,
    /// The tiers in the order they are called (first is called first) with each one's
    /// service-level target (called within it): the journey's `tier_*` standards.
    pub tiers: Vec<(Tier, i64)>,
    /// A booked customer arriving within the slot goes to the green channel, served
    /// before everyone waiting (the journey's `enter` / `green_channel` standard).
    pub green_channel: bool,
    /// A centre's call targets: the journey's `answer_within` (service level) and
    /// `short_abandon` standards.
    pub calls: super::call::CallMeasure,
}

/// The tiers' order and targets when the journey sets none: diamond 5 min, gold 10,
/// silver and ordinary the care rule's 15.
pub fn default_tiers() -> Vec<(Tier, i64)> {
    vec![
        (Tier::Diamond, 5 * 60_000),
        (Tier::Gold, 10 * 60_000),
        (Tier::Silver, 15 * 60_000),
        (Tier::Ordinary, 15 * 60_000),
    ]
}

/// An automatic check as a journey sets it: the standard it judges and how.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoRule {
    pub auto: AutoCheck,
    pub moment: MomentKey,
    pub standard: StandardKey,
    pub verify: CheckMethod,
}

/// What one automatic check found over a hall's day: observations made and passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckTally {
    pub auto: AutoCheck,
    pub moment: MomentKey,
    pub standard: StandardKey,
    pub made: u64,
    pub passed: u64,
}

impl Default for Rules {
    /// The service-hall standards: care after 15 min, more than 3 per counter,
    /// repair within 2 working days.
    fn default() -> Self {
        Rules {
            care_after_ms: Measure::default().care_after_ms,
            system_time_ms: Measure::default().system_time_ms,
            max_per_counter: 3.0,
            repair_within_working_days: 2,
            holidays: BTreeSet::new(),
            zone: crate::time::Zone::DEFAULT,
            cases: crate::case::CaseRules::default(),
            checks: Vec::new(),
            kiosks: 0,
            remote_valid_ms: 30 * 60_000,
            tiers: default_tiers(),
            green_channel: true,
            calls: super::call::CallMeasure::default(),
        }
    }
}

impl Rules {
    /// The journey's `care_after`, `max_per_counter` and `repair_within` standards, so a
    /// region that tightens a standard tightens the rule; defaults where it has none.
    pub fn from_journey(journey: &Journey) -> Rules {
        let mut rules = Rules::default();
        // A duration standard in ms, when it is given in seconds or minutes.
        let duration_ms = |key: &str| {
            let t = journey.threshold(key)?;
            match t.unit {
                Unit::Seconds => Some((t.value * 1000.0).round() as i64),
                Unit::Minutes => Some((t.value * 60_000.0).round() as i64),
                _ => None,
            }
        };
        if let Some(ms) = duration_ms("care_after") {
            rules.care_after_ms = ms;
        }
        if let Some(ms) = duration_ms("system_time") {
            rules.system_time_ms = ms;
        }
        if let Some(t) = journey.threshold("max_per_counter") {
            rules.max_per_counter = t.value;
        }
        if let Some(t) = journey.threshold("repair_within") {
            rules.repair_within_working_days = t.value.round().max(0.0) as u32;
        }
        if let Some(ms) = duration_ms("remote_ticket_valid") {
            rules.remote_valid_ms = ms;
        }
        // The tiers in the order the journey lists their standards; a tier it leaves
        // out is called after those it names, with the care rule as its target.
        let mut tiers: Vec<(Tier, i64)> = journey
            .standards()
            .filter_map(|(_, s)| {
                let tier = Tier::parse(s.key.as_str().strip_prefix("tier_")?)?;
                Some((tier, duration_ms(s.key.as_str())?))
            })
            .collect();
        if !tiers.is_empty() {
            for t in Tier::ALL {
                if !tiers.iter().any(|(x, _)| *x == t) {
                    tiers.push((t, rules.care_after_ms));
                }
            }
            rules.tiers = tiers;
        }
        rules.green_channel = journey
            .standards()
            .any(|(_, s)| s.key.as_str() == "green_channel");
        if let Some(ms) = duration_ms("answer_within") {
            rules.calls.target_ms = ms;
        }
        if let Some(ms) = duration_ms("short_abandon") {
            rules.calls.short_abandon_ms = ms;
        }
        rules.cases = crate::case::CaseRules::from_journey(journey);
        rules.checks = journey
            .standards()
            .filter_map(|(m, s)| {
                let c = s.check.as_ref()?;
                Some(AutoRule {
                    auto: c.auto?,
                    moment: m.key.clone(),
                    standard: s.key.clone(),
                    verify: c.verify,
                })
            })
            .collect();
        rules
    }

    /// Where a tier is called: 0 first.
    pub fn tier_rank(&self, tier: Tier) -> u8 {
        self.tiers
            .iter()
            .position(|(t, _)| *t == tier)
            .unwrap_or(self.tiers.len()) as u8
    }

    /// A tier's service-level target.
    pub fn tier_target_ms(&self, tier: Tier) -> i64 {
        self.tiers
            .iter()
            .find(|(t, _)| *t == tier)
            .map_or(self.care_after_ms, |(_, ms)| *ms)
    }

    /// The standards the KPIs measure against.
    pub fn measure(&self) -> Measure {
        Measure {
            care_after_ms: self.care_after_ms,
            system_time_ms: self.system_time_ms,
            low_rating_milli: (self.cases.low_rating * 1000.0).round() as i64,
        }
    }

    /// `at` plus the repair allowance in working days (Monday–Friday, not holidays),
    /// at the same local time of day.
    pub fn repair_due(&self, at: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        super::holiday::add_working_days(at, self.repair_within_working_days, &self.holidays)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    CareDue,
    PreProcessing,
    KioskOverdue,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub ticket: Option<String>,
    pub kiosk: Option<String>,
    /// VIP tickets are flagged: water in every case.
    pub vip: bool,
    pub raised_at: i64,
    /// When the condition ended (the ticket was called or left, the queue fell back,
    /// the kiosk was restored).
    pub cleared_at: Option<i64>,
}

impl Alert {
    /// Names the alert within its hall, the same in every replay of the day:
    /// `care_due~A5~1786065540000`.
    pub fn key(&self) -> String {
        let kind = match self.kind {
            AlertKind::CareDue => "care_due",
            AlertKind::PreProcessing => "pre_processing",
            AlertKind::KioskOverdue => "kiosk_overdue",
        };
        let subject = self
            .ticket
            .as_deref()
            .or(self.kiosk.as_deref())
            .unwrap_or("-");
        format!("{kind}~{subject}~{}", self.raised_at)
    }
}

/// A kiosk fault as it outlives a day: when it was reported (and at which UTC offset,
/// for counting working days), what the device said, and when it was restored, if it
/// was. A hall's day starts from the faults of earlier days ([`HallDay::with_carry`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KioskFault {
    pub kiosk: String,
    pub fault_at: i64,
    pub offset_s: i32,
    pub fault: String,
    pub restored_at: Option<i64>,
}

/// How long an open data trial is carried from day to day: one started more than a
/// day before the new day began is dropped.
pub const TRIAL_CARRY_MS: i64 = 86_400_000;

/// How far back a restore looks for its fault: older faults are not carried.
pub const KIOSK_FAULT_MEMORY_MS: i64 = 90 * 86_400_000;

/// A kiosk's open fault as a hall lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenFault {
    pub kiosk: String,
    pub since: i64,
    pub deadline: i64,
    pub overdue: bool,
    pub fault: String,
}

/// An alert as named in URLs: `{hall}~{kind}~{subject}~{raised_at}` (the hall, then
/// [`Alert::key`]). Parsed before anything is looked up, so a forged id is a client
/// error, never a time out of range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertId {
    pub hall: HallId,
    pub kind: AlertKind,
    /// The alert's key within its hall (`care_due~A5~1786065540000`).
    pub key: String,
    pub raised_at: i64,
}

impl AlertId {
    pub fn parse(id: &str) -> Result<AlertId, String> {
        let shape = || format!("`{id}` is not `hall~kind~subject~time`");
        let (hall, key) = id.split_once('~').ok_or_else(shape)?;
        let hall = HallId::parse(hall).map_err(|e| e.to_string())?;
        let (kind_subject, raised) = key.rsplit_once('~').ok_or_else(shape)?;
        let (kind, subject) = kind_subject.split_once('~').ok_or_else(shape)?;
        let kind = match kind {
            "care_due" => AlertKind::CareDue,
            "pre_processing" => AlertKind::PreProcessing,
            "kiosk_overdue" => AlertKind::KioskOverdue,
            other => return Err(format!("`{other}` is not an alert kind")),
        };
        if subject.is_empty() {
            return Err(shape());
        }
        let raised_at: i64 = raised
            .parse()
            .map_err(|_| format!("raised time `{raised}` is not a number of ms"))?;
        if crate::time::instant_from_millis(raised_at).is_none() {
            return Err(format!(
                "raised time `{raised}` is outside the years {}–{}",
                crate::time::FIRST_YEAR,
                crate::time::LAST_YEAR
            ));
        }
        Ok(AlertId {
            hall,
            kind,
            key: key.to_owned(),
            raised_at,
        })
    }
}

/// A waiting ticket as the hall display and the ticket printer show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    pub ticket: String,
    pub service: String,
    pub since: i64,
    pub waited_s: f64,
    /// People ahead of it for the same service.
    pub ahead: usize,
    /// People ahead of it in the whole queue.
    pub ahead_all: usize,
    pub predicted_wait_s: Option<f64>,
    pub tier: Tier,
    pub channel: Channel,
    /// In the green channel (a booking honoured on time).
    pub green: bool,
    /// For a remote ticket whose holder is not yet in the hall: the time to come by
    /// (its announced time, else when it is expected to be called).
    pub come_by: Option<i64>,
    /// What the ticket (printed, texted or on the app) says.
    pub text: TicketText,
}

/// The announcement on a ticket, Chinese first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketText {
    pub zh: String,
    pub en: String,
}

impl TicketText {
    /// "N ahead, about M min", and for a remote ticket "come by HH:MM" in the hall's
    /// local time.
    pub fn of(
        ahead: usize,
        wait_s: Option<f64>,
        come_by: Option<i64>,
        zone: crate::time::Zone,
    ) -> TicketText {
        let mut zh = format!("前面还有 {ahead} 人");
        let mut en = format!("{ahead} ahead");
        if let Some(w) = wait_s {
            // Whole minutes, rounded up, as the printer shows them.
            let m = (w / 60.0).ceil().max(1.0) as i64;
            zh.push_str(&format!("，预计等候约 {m} 分钟"));
            en.push_str(&format!(", about {m} min"));
        }
        if let Some(hm) = come_by
            .and_then(|t| zone.local(t))
            .map(|t| t.format("%H:%M").to_string())
        {
            zh.push_str(&format!("；请于 {hm} 前到厅"));
            en.push_str(&format!("; come by {hm}"));
        }
        TicketText { zh, en }
    }
}

/// A booked time slot as the day keeps it: who booked it only by their salted key,
/// which the ticket given on arrival carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Booking {
    pub booking: String,
    pub slot_start: i64,
    pub slot_end: i64,
    pub service: Option<String>,
    pub tier: Option<Tier>,
    #[serde(skip)]
    pub customer: Option<String>,
    pub cancelled_at: Option<i64>,
    /// The ticket given on arrival.
    pub ticket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSnapshot {
    pub at: i64,
    pub open_counters: Vec<String>,
    pub waiting: Vec<Waiting>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Care,
    Kiosk,
    /// A remote ticket's validity runs out.
    Expire,
}

/// Recent service durations a prediction is based on, per service.
const RECENT: usize = 20;

/// A hall's day. Every event costs O(log n) in the size of the day: tickets, the
/// queue, open alerts and timers are indexed, never scanned (a busy hall issues
/// thousands of tickets a day and its batches must not slow down as the day fills).
#[derive(Debug, Clone)]
pub struct HallDay {
    rules: Rules,
    clock: i64,
    tickets: BTreeMap<String, Ticket>,
    /// Tickets still waiting, in call order: the green channel first, then by tier,
    /// then by issue order (a sequence number, as issue times tie).
    queue: BTreeMap<(u8, u64), String>,
    /// Waiting ticket → its place in `queue`.
    queued: HashMap<String, (u8, u64)>,
    /// The day's bookings by id.
    bookings: BTreeMap<String, Booking>,
    issued: u64,
    open: BTreeSet<String>,
    /// Kiosk → its fault still open (from this day or carried in).
    faults: BTreeMap<String, KioskFault>,
    /// Kiosk → when it was last restored (within the fault memory), to tell a second
    /// restore from one with no fault at all.
    restored: BTreeMap<String, i64>,
    timers: BTreeSet<(i64, Timer, String)>,
    /// Kiosk → the due times of its overdue timers, to drop them when it is restored.
    kiosk_timers: HashMap<String, Vec<i64>>,
    alerts: Vec<Alert>,
    /// Alerts not yet cleared that a ticket or a kiosk clears, by that subject.
    open_alerts: HashMap<Subject, Vec<usize>>,
    pre_processing: Option<usize>,
    /// The hall's last service durations (call to end), oldest first.
    recent: VecDeque<i64>,
    /// Tickets changed since [`HallDay::take_changed`] was last called, when tracked.
    changed: Option<BTreeSet<String>>,
    /// Counters opened at some time of the day: the ones the hall has staffed.
    counters_seen: BTreeSet<String>,
    /// Times a counter closed, or stayed closed, while pre-processing was active.
    peak_gaps: u64,
    /// Kiosks named by the day's events or carried faults, and those checked.
    kiosks_seen: BTreeSet<String>,
    kiosks_checked: BTreeSet<String>,
    /// Faults restored this day before their repair deadline.
    repairs_in_time: u64,
    /// A contact centre's calls of the day (empty for a hall).
    calls: super::call::CallDay,
    /// The data-trial zone's trials of the day, by id.
    trials: BTreeMap<String, Trial>,
}

/// What clears an alert: its ticket being called or leaving, its kiosk restored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Ticket(String),
    Kiosk(String),
}

impl HallDay {
    pub fn new(rules: Rules) -> HallDay {
        HallDay {
            rules,
            clock: i64::MIN,
            tickets: BTreeMap::new(),
            queue: BTreeMap::new(),
            queued: HashMap::new(),
            bookings: BTreeMap::new(),
            issued: 0,
            open: BTreeSet::new(),
            faults: BTreeMap::new(),
            restored: BTreeMap::new(),
            timers: BTreeSet::new(),
            kiosk_timers: HashMap::new(),
            alerts: Vec::new(),
            open_alerts: HashMap::new(),
            pre_processing: None,
            recent: VecDeque::with_capacity(RECENT + 1),
            changed: None,
            counters_seen: BTreeSet::new(),
            peak_gaps: 0,
            kiosks_seen: BTreeSet::new(),
            kiosks_checked: BTreeSet::new(),
            repairs_in_time: 0,
            calls: super::call::CallDay::new(),
            trials: BTreeMap::new(),
        }
    }

    /// The day's data trials, by id: started or ended this day, and those carried in.
    pub fn trials(&self) -> impl Iterator<Item = &Trial> {
        self.trials.values()
    }

    /// The trials still open (started, not ended) at the end of the day, to hand to the
    /// next day with [`HallDay::carry_trials`]: each with the server of its ticket, to
    /// whom its end will be credited.
    pub fn open_trials(&self) -> Vec<Trial> {
        self.trials
            .values()
            .filter(|t| t.is_open())
            .map(|t| {
                let mut t = t.clone();
                if !t.carried {
                    t.staff = t
                        .ticket
                        .as_deref()
                        .and_then(|tk| self.tickets.get(tk)?.staff.clone());
                }
                t
            })
            .collect()
    }

    /// Seeds a new day with the trials an earlier day left open ([`HallDay::open_trials`]),
    /// so that a `trial_ended` after midnight is accepted and counted on this day (its
    /// end and purchase; the start stays counted on its own day). Call it before the
    /// day's events. Trials started more than [`TRIAL_CARRY_MS`] before `day_start` are
    /// dropped: a trial left open that long was abandoned, not waiting to end. A trial
    /// this day already knows (its end came first) is completed instead.
    pub fn carry_trials<'a>(&mut self, open: impl IntoIterator<Item = &'a Trial>, day_start: i64) {
        for t in open {
            let Some(started) = t.started_at else {
                continue;
            };
            if t.ended_at.is_some() || started < day_start.saturating_sub(TRIAL_CARRY_MS) {
                continue;
            }
            match self.trials.get_mut(&t.trial) {
                Some(have) if have.started_at.is_none() => {
                    have.started_at = Some(started);
                    have.carried = true;
                    have.staff = t.staff.clone();
                    have.ticket = t.ticket.clone().or(have.ticket.take());
                    have.device = t.device.clone().or(have.device.take());
                    have.product = t.product.clone().or(have.product.take());
                }
                Some(_) => {}
                None => {
                    let mut t = t.clone();
                    t.carried = true;
                    self.trials.insert(t.trial.clone(), t);
                }
            }
        }
    }

    /// The centre's calls of the day.
    pub fn calls(&self) -> &super::call::CallDay {
        &self.calls
    }

    /// The calls, to take their changes.
    pub fn calls_mut(&mut self) -> &mut super::call::CallDay {
        &mut self.calls
    }

    /// From now on, remember which tickets and calls change, for
    /// [`HallDay::take_changed`] and [`super::call::CallDay::take_changed`].
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(BTreeSet::new);
        self.calls.track_changes();
    }

    /// The tickets changed (by an event or a rule coming due) since the last call, when
    /// tracked: what a roll-up kept alongside the day must look at again.
    pub fn take_changed(&mut self) -> BTreeSet<String> {
        self.changed
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn touch(&mut self, ticket: &str) {
        // A ticket changes several times a batch: its name is copied once.
        if let Some(c) = self.changed.as_mut().filter(|c| !c.contains(ticket)) {
            c.insert(ticket.to_owned());
        }
    }

    fn raise(&mut self, alert: Alert) {
        let subject = match (&alert.ticket, &alert.kiosk) {
            (Some(t), _) => Some(Subject::Ticket(t.clone())),
            (None, Some(k)) => Some(Subject::Kiosk(k.clone())),
            (None, None) => None,
        };
        if let Some(s) = subject {
            self.open_alerts
                .entry(s)
                .or_default()
                .push(self.alerts.len());
        }
        self.alerts.push(alert);
    }

    /// Clears the open alerts of a ticket or a kiosk at `t`.
    fn clear(&mut self, subject: Subject, t: i64) {
        for i in self.open_alerts.remove(&subject).unwrap_or_default() {
            self.alerts[i].cleared_at.get_or_insert(t);
        }
    }

    fn set_kiosk_timer(&mut self, kiosk: &str, due: i64) {
        self.timers.insert((due, Timer::Kiosk, kiosk.to_owned()));
        self.kiosk_timers
            .entry(kiosk.to_owned())
            .or_default()
            .push(due);
    }

    fn dequeue(&mut self, ticket: &str) {
        if let Some(seq) = self.queued.remove(ticket) {
            self.queue.remove(&seq);
        }
    }

    /// Puts a ticket in the queue at its place (green channel, tier, issue order).
    fn enqueue(&mut self, ticket: &str) -> usize {
        let Some(tk) = self.tickets.get(ticket) else {
            return 0;
        };
        let class = if tk.green {
            0
        } else {
            1 + self.rules.tier_rank(tk.tier)
        };
        self.dequeue(ticket);
        self.issued += 1;
        let key = (class, self.issued);
        self.queue.insert(key, ticket.to_owned());
        self.queued.insert(ticket.to_owned(), key);
        // People ahead: those in a class called before, or issued before.
        self.queue.range(..key).count()
    }

    /// The day's bookings.
    pub fn bookings(&self) -> impl Iterator<Item = &Booking> {
        self.bookings.values()
    }

    /// A day that starts with the kiosk faults of earlier days: open ones (with their
    /// repair deadline, so `kiosk_overdue` comes due even on a day the hall sends
    /// nothing) and recently restored ones (so a second restore is told apart).
    pub fn with_carry(rules: Rules, carried: &[KioskFault]) -> HallDay {
        let mut day = HallDay::new(rules);
        for f in carried {
            match f.restored_at {
                Some(at) => {
                    day.restored.insert(f.kiosk.clone(), at);
                }
                None => {
                    let due = day.repair_due_ms(f.fault_at, f.offset_s);
                    day.kiosks_seen.insert(f.kiosk.clone());
                    day.set_kiosk_timer(&f.kiosk, due);
                    day.faults.insert(f.kiosk.clone(), f.clone());
                }
            }
        }
        day
    }

    /// [`HallDay::replay`] from the faults carried in from earlier days.
    pub fn replay_with<'a>(
        rules: Rules,
        carried: &[KioskFault],
        events: impl IntoIterator<Item = &'a Event>,
        until: i64,
    ) -> HallDay {
        let mut day = HallDay::with_carry(rules, carried);
        for e in events {
            let _ = day.apply(e);
        }
        day.advance_to(until);
        day
    }

    /// When a fault reported at `at_ms` (at UTC offset `offset_s`) must be repaired by.
    fn repair_due_ms(&self, at_ms: i64, offset_s: i32) -> i64 {
        let offset = FixedOffset::east_opt(offset_s)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
        chrono::DateTime::from_timestamp_millis(at_ms)
            .map(|t| {
                self.rules
                    .repair_due(t.with_timezone(&offset))
                    .timestamp_millis()
            })
            .unwrap_or(at_ms)
    }

    /// The kiosks with an open fault at the day's clock: since when, the repair deadline
    /// and whether it has passed.
    pub fn open_faults(&self) -> Vec<OpenFault> {
        self.faults
            .values()
            .map(|f| {
                let deadline = self.repair_due_ms(f.fault_at, f.offset_s);
                OpenFault {
                    kiosk: f.kiosk.clone(),
                    since: f.fault_at,
                    deadline,
                    overdue: self.clock >= deadline,
                    fault: f.fault.clone(),
                }
            })
            .collect()
    }

    /// A day rebuilt from stored events (in replay order), with the clock brought to
    /// `until`. Stored events were valid when they arrived; one that a late arrival now
    /// contradicts is skipped, the same in every replay.
    pub fn replay<'a>(
        rules: Rules,
        events: impl IntoIterator<Item = &'a Event>,
        until: i64,
    ) -> HallDay {
        let mut day = HallDay::new(rules);
        for e in events {
            let _ = day.apply(e);
        }
        day.advance_to(until);
        day
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values()
    }

    pub fn ticket(&self, ticket: &str) -> Option<&Ticket> {
        self.tickets.get(ticket)
    }

    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// The earliest time a clock-driven rule (care due, kiosk overdue) may come due with
    /// no further event, so a live view knows when to look again. It may be a rule whose
    /// condition has since ended: waking for nothing is harmless, sleeping past one is not.
    pub fn next_due(&self) -> Option<i64> {
        self.timers.first().map(|(due, _, _)| *due)
    }

    /// Moves the hall clock to `t`, raising every rule that came due by then at the
    /// moment it came due (in live mode: when the time passes, even with no event).
    pub fn advance_to(&mut self, t: i64) {
        while let Some((due, kind, key)) = self.timers.first().cloned() {
            if due > t {
                break;
            }
            self.timers.pop_first();
            match kind {
                Timer::Care => {
                    let care_after = self.rules.care_after_ms;
                    // A ticket whose wait restarted (its holder arrived) has a later timer.
                    // One care alert a ticket: a remote ticket cared for before it reported
                    // in keeps that alert open until called, as its day's roll-up does.
                    if let Some(tk) = self.tickets.get_mut(&key).filter(|tk| {
                        tk.waiting()
                            && tk.care_due_at.is_none()
                            && tk.wait_from() + care_after == due
                    }) {
                        tk.care_due_at = Some(due);
                        let vip = tk.vip;
                        self.touch(&key);
                        self.raise(Alert {
                            kind: AlertKind::CareDue,
                            ticket: Some(key),
                            kiosk: None,
                            vip,
                            raised_at: due,
                            cleared_at: None,
                        });
                    }
                }
                Timer::Expire => {
                    if let Some(tk) = self
                        .tickets
                        .get_mut(&key)
                        .filter(|tk| tk.waiting() && tk.valid_until == Some(due))
                    {
                        tk.expired_at = Some(due);
                        tk.valid_until = None;
                        self.touch(&key);
                        self.dequeue(&key);
                        self.clear(Subject::Ticket(key), due);
                        self.check_pre_processing(due);
                    }
                }
                Timer::Kiosk => {
                    if let Some(dues) = self.kiosk_timers.get_mut(&key) {
                        dues.retain(|d| *d != due);
                    }
                    if self.faults.contains_key(&key) {
                        self.raise(Alert {
                            kind: AlertKind::KioskOverdue,
                            ticket: None,
                            kiosk: Some(key.clone()),
                            vip: false,
                            raised_at: due,
                            cleared_at: None,
                        });
                    }
                }
            }
        }
        self.clock = self.clock.max(t);
    }

    /// Applies one event. Events must come in time order (the caller sorts a batch,
    /// and replays a day when a late event arrives). An impossible transition is an
    /// error and changes nothing.
    pub fn apply(&mut self, e: &Event) -> Result<(), String> {
        let t = e.at_ms();
        // A centre's call: its own fold, apart from the tickets (issue 22).
        if let Some(call) = e.kind.as_call() {
            self.calls.apply(t, &call)?;
            self.advance_to(t);
            return Ok(());
        }
        self.check(e)?;
        self.advance_to(t);
        if let Some(ticket) = e.kind.ticket() {
            self.touch(ticket);
        }
        match &e.kind {
            EventKind::TicketIssued {
                ticket,
                service,
                segment,
                vip,
                channel,
                appointed_at,
                tier,
                customer,
            } => {
                let mut tk = Ticket::issued(ticket, service, segment.clone(), *vip, t);
                tk.customer = customer.clone();
                if let Some(tier) = tier {
                    tk.tier = *tier;
                }
                tk.target_ms = Some(self.rules.tier_target_ms(tk.tier));
                tk.channel = *channel;
                tk.appointed_at = appointed_at.map(|a| a.timestamp_millis());
                self.tickets.insert(ticket.clone(), tk);
                // What the queue snapshot would predict for it, without building the
                // snapshot on every issue.
                let ahead = self.enqueue(ticket);
                let announced = self
                    .mean_service_s()
                    .and_then(|m| queue_length_wait_s(ahead, self.open.len(), m));
                let tk = self.tickets.get_mut(ticket).expect("inserted");
                // A ticket told a time to come is judged by that time, not by a wait.
                if tk.appointed_at.is_none() {
                    tk.announced_wait_s = announced;
                }
                let wait_from = tk.wait_from();
                if channel.remote() {
                    // Valid until called or the grace after its announced time (the
                    // predicted call when none was announced).
                    let announced_at = tk
                        .appointed_at
                        .unwrap_or(t + (announced.unwrap_or(0.0) * 1000.0).round() as i64);
                    let until = announced_at.max(t) + self.rules.remote_valid_ms;
                    tk.valid_until = Some(until);
                    self.timers.insert((until, Timer::Expire, ticket.clone()));
                }
                self.timers.insert((
                    wait_from + self.rules.care_after_ms,
                    Timer::Care,
                    ticket.clone(),
                ));
            }
            EventKind::Booking {
                booking,
                slot_start,
                slot_end,
                service,
                tier,
                customer,
            } => {
                self.bookings.insert(
                    booking.clone(),
                    Booking {
                        booking: booking.clone(),
                        slot_start: slot_start.timestamp_millis(),
                        slot_end: slot_end.timestamp_millis(),
                        service: service.clone(),
                        tier: *tier,
                        customer: customer.clone(),
                        cancelled_at: None,
                        ticket: None,
                    },
                );
            }
            EventKind::BookingCancelled { booking } => {
                if let Some(b) = self.bookings.get_mut(booking) {
                    b.cancelled_at = Some(t);
                }
            }
            EventKind::Arrived { ticket, booking } => match booking {
                Some(b) => {
                    let b = self.bookings.get_mut(b).expect("checked");
                    b.ticket = Some(ticket.clone());
                    let mut tk = Ticket::issued(
                        ticket,
                        b.service.as_deref().unwrap_or("booking"),
                        None,
                        false,
                        t,
                    );
                    tk.tier = b.tier.unwrap_or(Tier::Ordinary);
                    tk.target_ms = Some(self.rules.tier_target_ms(tk.tier));
                    tk.channel = Channel::App;
                    tk.booking = Some(b.booking.clone());
                    tk.customer = b.customer.clone();
                    tk.arrived_at = Some(t);
                    tk.green = self.rules.green_channel && (b.slot_start..=b.slot_end).contains(&t);
                    self.tickets.insert(ticket.clone(), tk);
                    self.enqueue(ticket);
                    self.timers
                        .insert((t + self.rules.care_after_ms, Timer::Care, ticket.clone()));
                }
                None => {
                    let tk = self.tickets.get_mut(ticket).expect("checked");
                    let before = tk.wait_from();
                    tk.arrived_at = Some(t);
                    // In the hall now: it waits to be called, no longer to lapse.
                    tk.valid_until = None;
                    if tk.wait_from() != before {
                        self.timers.insert((
                            t + self.rules.care_after_ms,
                            Timer::Care,
                            ticket.clone(),
                        ));
                    }
                }
            },
            EventKind::Called {
                ticket,
                counter,
                staff,
            } => {
                let tk = self.tickets.get_mut(ticket).expect("checked");
                tk.called_at = Some(t);
                tk.counter = Some(counter.clone());
                tk.staff = staff.clone().or(tk.staff.take());
                self.dequeue(ticket);
                self.clear(Subject::Ticket(ticket.clone()), t);
            }
            EventKind::ServiceStarted {
                ticket,
                counter,
                staff,
            } => {
                let tk = self.tickets.get_mut(ticket).expect("checked");
                tk.started_at = Some(t);
                tk.counter = Some(counter.clone());
                tk.staff = staff.clone().or(tk.staff.take());
            }
            EventKind::ServiceEnded {
                ticket,
                counter,
                staff,
                outcome,
            } => {
                let tk = self.tickets.get_mut(ticket).expect("checked");
                tk.ended_at = Some(t);
                tk.counter = Some(counter.clone());
                tk.staff = staff.clone().or(tk.staff.take());
                tk.outcome = Some(*outcome);
                // A counter is taken from the call (the customer walks up) to the end.
                if let Some(called) = tk.called_at {
                    self.recent.push_back(t - called);
                    if self.recent.len() > RECENT {
                        self.recent.pop_front();
                    }
                }
            }
            EventKind::Rated {
                ticket,
                score,
                scale,
                staff,
            } => {
                let tk = self.tickets.get_mut(ticket).expect("checked");
                tk.rating = Some((*score, *scale));
                if tk.staff.is_none() {
                    tk.staff = staff.clone();
                }
            }
            EventKind::Left { ticket } => {
                let tk = self.tickets.get_mut(ticket).expect("checked");
                tk.left_at = Some(t);
                self.dequeue(ticket);
                self.clear(Subject::Ticket(ticket.clone()), t);
            }
            EventKind::CounterOpened { counter } => {
                self.open.insert(counter.clone());
                self.counters_seen.insert(counter.clone());
            }
            EventKind::CounterClosed { counter } => {
                if self.open.remove(counter) && self.pre_processing.is_some() {
                    self.peak_gaps += 1;
                }
            }
            EventKind::KioskChecked { kiosk, .. } => {
                self.kiosks_seen.insert(kiosk.clone());
                self.kiosks_checked.insert(kiosk.clone());
            }
            EventKind::KioskFault { kiosk, fault } => {
                self.kiosks_seen.insert(kiosk.clone());
                self.faults.insert(
                    kiosk.clone(),
                    KioskFault {
                        kiosk: kiosk.clone(),
                        fault_at: t,
                        offset_s: e.at.offset().local_minus_utc(),
                        fault: fault.clone(),
                        restored_at: None,
                    },
                );
                let due = self.rules.repair_due(e.at).timestamp_millis();
                self.set_kiosk_timer(kiosk, due);
            }
            EventKind::KioskRestored { kiosk } => {
                self.kiosks_seen.insert(kiosk.clone());
                if let Some(f) = self.faults.remove(kiosk)
                    && t < self.repair_due_ms(f.fault_at, f.offset_s)
                {
                    self.repairs_in_time += 1;
                }
                self.restored.insert(kiosk.clone(), t);
                for due in self.kiosk_timers.remove(kiosk).unwrap_or_default() {
                    self.timers.remove(&(due, Timer::Kiosk, kiosk.clone()));
                }
                self.clear(Subject::Kiosk(kiosk.clone()), t);
            }
            EventKind::Sale {
                ticket,
                category,
                amount,
                staff,
            } => {
                let tk = self.tickets.get_mut(ticket).expect("checked");
                tk.sales.push(Sale {
                    category: *category,
                    // Checked above, so nothing is half-applied here.
                    amount_fen: amount.and_then(|a| super::sales::amount_fen(a).ok()),
                    staff: staff.clone(),
                    at: t,
                });
            }
            EventKind::TrialStarted {
                trial,
                ticket,
                device,
                product,
            } => {
                // An end seen first (device order is not guaranteed) is completed.
                let tr = self.trials.entry(trial.clone()).or_insert_with(|| Trial {
                    trial: trial.clone(),
                    ticket: None,
                    device: None,
                    product: None,
                    started_at: None,
                    ended_at: None,
                    purchased: None,
                    carried: false,
                    staff: None,
                });
                tr.started_at = Some(t);
                tr.ticket = ticket.clone().or(tr.ticket.take());
                tr.device = device.clone().or(tr.device.take());
                tr.product = product.clone().or(tr.product.take());
            }
            EventKind::TrialEnded {
                trial,
                ticket,
                device,
                product,
                purchased,
            } => {
                // An end before its start is kept, counted as ended on its day, and
                // waits for its start to complete it.
                let tr = self.trials.entry(trial.clone()).or_insert_with(|| Trial {
                    trial: trial.clone(),
                    ticket: None,
                    device: None,
                    product: None,
                    started_at: None,
                    ended_at: None,
                    purchased: None,
                    carried: false,
                    staff: None,
                });
                tr.ended_at = Some(t);
                tr.purchased = *purchased;
                // What the end names fills what the start left out.
                tr.ticket = tr.ticket.take().or(ticket.clone());
                tr.device = tr.device.take().or(device.clone());
                tr.product = tr.product.take().or(product.clone());
            }
            // A case, not a change to the day; an app transaction is a contact of the
            // app channel, not of the hall's queue.
            EventKind::Complaint { .. } | EventKind::AppTransaction { .. } => {}
            // Applied above, by the call fold.
            EventKind::CallOffered { .. }
            | EventKind::CallAnswered { .. }
            | EventKind::CallAbandoned { .. }
            | EventKind::CallHeld { .. }
            | EventKind::CallResumed { .. }
            | EventKind::CallTransferred { .. }
            | EventKind::CallEnded { .. } => {}
        }
        self.check_pre_processing(t);
        Ok(())
    }

    fn check(&self, e: &Event) -> Result<(), String> {
        let ticket = |name: &str, ticket: &String| {
            self.tickets
                .get(ticket)
                .ok_or_else(|| format!("{name}: unknown ticket `{ticket}`"))
        };
        match &e.kind {
            EventKind::TicketIssued { ticket, .. } if self.tickets.contains_key(ticket) => Err(
                format!("ticket_issued: ticket `{ticket}` was already issued"),
            ),
            EventKind::Booking { booking, .. } if self.bookings.contains_key(booking) => {
                Err(format!("booking: booking `{booking}` already exists"))
            }
            EventKind::BookingCancelled { booking } => match self.bookings.get(booking) {
                None => Err(format!("booking_cancelled: unknown booking `{booking}`")),
                Some(b) if b.cancelled_at.is_some() => Err(format!(
                    "booking_cancelled: booking `{booking}` was already cancelled"
                )),
                Some(b) if b.ticket.is_some() => Err(format!(
                    "booking_cancelled: booking `{booking}` was already used"
                )),
                Some(_) => Ok(()),
            },
            EventKind::Arrived {
                ticket: id,
                booking: Some(b),
            } => match self.bookings.get(b) {
                None => Err(format!("arrived: unknown booking `{b}`")),
                Some(x) if x.cancelled_at.is_some() => {
                    Err(format!("arrived: booking `{b}` was cancelled"))
                }
                Some(x) if x.ticket.is_some() => {
                    Err(format!("arrived: booking `{b}` was already used"))
                }
                Some(_) if self.tickets.contains_key(id) => {
                    Err(format!("arrived: ticket `{id}` was already issued"))
                }
                Some(_) => Ok(()),
            },
            EventKind::Arrived {
                ticket: id,
                booking: None,
            } => {
                let tk = ticket("arrived", id)?;
                if !tk.channel.remote() {
                    Err(format!("arrived: ticket `{id}` was taken in the hall"))
                } else if tk.arrived_at.is_some() {
                    Err(format!("arrived: ticket `{id}` had already arrived"))
                } else if tk.expired_at.is_some() {
                    Err(format!("arrived: ticket `{id}` had expired"))
                } else if !tk.waiting() {
                    Err(format!("arrived: ticket `{id}` is no longer waiting"))
                } else {
                    Ok(())
                }
            }
            EventKind::Called { ticket: id, .. } => {
                let tk = ticket("called", id)?;
                if tk.left_at.is_some() {
                    Err(format!("called: ticket `{id}` had left"))
                } else if tk.expired_at.is_some() {
                    Err(format!("called: ticket `{id}` had expired"))
                } else if tk.called_at.is_some() {
                    Err(format!("called: ticket `{id}` was already called"))
                } else {
                    Ok(())
                }
            }
            EventKind::ServiceStarted { ticket: id, .. } => {
                let tk = ticket("service_started", id)?;
                if tk.called_at.is_none() {
                    Err(format!("service_started: ticket `{id}` was not called"))
                } else {
                    Ok(())
                }
            }
            EventKind::ServiceEnded { ticket: id, .. } => {
                let tk = ticket("service_ended", id)?;
                if tk.started_at.is_none() {
                    Err(format!("service_ended: ticket `{id}` was not started"))
                } else if tk.ended_at.is_some() {
                    Err(format!("service_ended: ticket `{id}` had already ended"))
                } else {
                    Ok(())
                }
            }
            EventKind::Rated { ticket: id, .. } => ticket("rated", id).map(|_| ()),
            // A sale is booked at a counter's till: on a visit that was called, during
            // its service or after it ended, never on one still waiting or gone uncalled.
            EventKind::Sale {
                ticket: id, amount, ..
            } => {
                let tk = ticket("sale", id)?;
                if tk.called_at.is_none() {
                    Err(format!("sale: ticket `{id}` was not called"))
                } else if let Some(a) = amount {
                    super::sales::amount_fen(*a)
                        .map(|_| ())
                        .map_err(|e| format!("sale: {e}"))
                } else {
                    Ok(())
                }
            }
            // A trial may be tied to a ticket of any state: the trial zone is used while
            // waiting. Its id is unique in the day. Either end may come first; a trial
            // carried from an earlier day names that day's ticket, not one of today.
            EventKind::TrialStarted {
                trial, ticket: tk, ..
            } => {
                if let Some(id) = tk {
                    ticket("trial_started", id)?;
                }
                match self.trials.get(trial) {
                    Some(tr) if tr.started_at.is_some() => Err(format!(
                        "trial_started: trial `{trial}` was already started"
                    )),
                    Some(Trial {
                        ticket: Some(was), ..
                    }) if tk.as_ref().is_some_and(|t| t != was) => Err(format!(
                        "trial_started: trial `{trial}` was ended for ticket `{was}`"
                    )),
                    _ => Ok(()),
                }
            }
            EventKind::TrialEnded {
                trial, ticket: tk, ..
            } => {
                let known = self.trials.get(trial);
                if let Some(id) = tk
                    && !known.is_some_and(|tr| tr.carried)
                {
                    ticket("trial_ended", id)?;
                }
                match known {
                    Some(tr) if tr.ended_at.is_some() => {
                        Err(format!("trial_ended: trial `{trial}` had already ended"))
                    }
                    Some(Trial {
                        ticket: Some(was), ..
                    }) if tk.as_ref().is_some_and(|t| t != was) => Err(format!(
                        "trial_ended: trial `{trial}` was started for ticket `{was}`"
                    )),
                    _ => Ok(()),
                }
            }
            EventKind::Left { ticket: id } => {
                let tk = ticket("left", id)?;
                if tk.left_at.is_some() || tk.ended_at.is_some() || tk.expired_at.is_some() {
                    Err(format!("left: ticket `{id}` was already gone"))
                } else {
                    Ok(())
                }
            }
            EventKind::KioskRestored { kiosk } if !self.faults.contains_key(kiosk) => {
                match self.restored.get(kiosk) {
                    Some(at) => Err(format!(
                        "kiosk_restored: kiosk `{kiosk}` was already restored at {}",
                        chrono::DateTime::from_timestamp_millis(*at)
                            .map(|t| t.with_timezone(e.at.offset()).to_rfc3339())
                            .unwrap_or_default()
                    )),
                    None => Err(format!(
                        "kiosk_restored: kiosk `{kiosk}` has no fault in the last 90 days"
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    /// Raised once when waiting tickets per open counter exceed the standard, cleared
    /// when the queue falls back. With no counter open the ratio is undefined (the hall
    /// may issue tickets before opening) and the alert is left as it is.
    fn check_pre_processing(&mut self, t: i64) {
        if self.open.is_empty() {
            return;
        }
        let per_counter = self.queue.len() as f64 / self.open.len() as f64;
        match (
            per_counter > self.rules.max_per_counter,
            self.pre_processing,
        ) {
            (true, None) => {
                // Peak hours with a counter the hall staffs today standing closed.
                if self.open.len() < self.counters_seen.len() {
                    self.peak_gaps += 1;
                }
                self.pre_processing = Some(self.alerts.len());
                self.alerts.push(Alert {
                    kind: AlertKind::PreProcessing,
                    ticket: None,
                    kiosk: None,
                    vip: false,
                    raised_at: t,
                    cleared_at: None,
                });
            }
            (false, Some(i)) => {
                self.alerts[i].cleared_at = Some(t);
                self.pre_processing = None;
            }
            _ => {}
        }
    }

    /// The queue at `now`: open counters, and each waiting ticket with the people ahead
    /// of it for its service (what the ticket says) and in the whole queue. Counters
    /// call the oldest ticket of any service, so the announced wait counts everyone
    /// ahead: (n_all + 1)·(mean counter time of the last services, call to end) /
    /// (open counters).
    /// Mean of the recent service times of the hall, in seconds.
    fn mean_service_s(&self) -> Option<f64> {
        let d = &self.recent;
        (!d.is_empty()).then(|| d.iter().sum::<i64>() as f64 / d.len() as f64 / 1000.0)
    }

    /// The journey's automatic checks over this day (replayed to its end), with the
    /// acknowledgements of its alerts ([`Alert::key`] → (when, who)). A day without a
    /// ticket was not open: its once-a-day checks are not made.
    pub fn checks(&self, acks: &BTreeMap<String, (i64, String)>) -> Vec<CheckTally> {
        let open = !self.tickets.is_empty();
        let limit_ms = |verify: &CheckMethod, default: i64| match verify {
            CheckMethod::DurationMax { max } => (max * 1000.0).round() as i64,
            _ => default,
        };
        let acked_at = |a: &Alert| acks.get(&a.key()).map(|(at, _)| *at);
        self.rules
            .checks
            .iter()
            .map(|rule| {
                let (made, passed) = match rule.auto {
                    AutoCheck::ClosedCountersAtPeak => {
                        (u64::from(open), u64::from(open && self.peak_gaps == 0))
                    }
                    AutoCheck::SystemTime => {
                        let limit = limit_ms(&rule.verify, self.rules.system_time_ms);
                        let times: Vec<i64> = self
                            .tickets
                            .values()
                            .filter(|t| t.ended_at.is_some())
                            .filter_map(Ticket::service_ms)
                            .collect();
                        let within = times.iter().filter(|ms| **ms <= limit).count();
                        (times.len() as u64, within as u64)
                    }
                    AutoCheck::CareInTime => {
                        let limit = limit_ms(&rule.verify, 5 * 60_000);
                        let care = self.alerts.iter().filter(|a| a.kind == AlertKind::CareDue);
                        let (mut made, mut passed) = (0, 0);
                        for a in care {
                            made += 1;
                            if acked_at(a).is_some_and(|at| at - a.raised_at <= limit) {
                                passed += 1;
                            }
                        }
                        (made, passed)
                    }
                    AutoCheck::PremiumCare => {
                        let vip = self
                            .alerts
                            .iter()
                            .filter(|a| a.kind == AlertKind::CareDue && a.vip);
                        let (mut made, mut passed) = (0, 0);
                        for a in vip {
                            made += 1;
                            if acked_at(a).is_some() {
                                passed += 1;
                            }
                        }
                        (made, passed)
                    }
                    AutoCheck::KioskDailyCheck => {
                        let expected = (self.rules.kiosks as usize).max(self.kiosks_seen.len());
                        let all = self.kiosks_checked.len() >= expected
                            && self.kiosks_seen.is_subset(&self.kiosks_checked);
                        let made = open && expected > 0;
                        (u64::from(made), u64::from(made && all))
                    }
                    AutoCheck::KioskRepair => {
                        let overdue = self
                            .alerts
                            .iter()
                            .filter(|a| a.kind == AlertKind::KioskOverdue)
                            .count() as u64;
                        (overdue + self.repairs_in_time, self.repairs_in_time)
                    }
                    AutoCheck::WaitAsAnnounced => {
                        let (mut made, mut passed) = (0, 0);
                        for t in self.tickets.values() {
                            if let (Some(called), Some(announced)) =
                                (t.called_at, t.announced_wait_s)
                            {
                                made += 1;
                                // The ticket shows whole minutes, rounded up.
                                let shown_ms = (announced / 60.0).ceil().max(1.0) as i64 * 60_000;
                                if called - t.issued_at <= shown_ms {
                                    passed += 1;
                                }
                            }
                        }
                        (made, passed)
                    }
                };
                CheckTally {
                    auto: rule.auto,
                    moment: rule.moment.clone(),
                    standard: rule.standard.clone(),
                    made,
                    passed,
                }
            })
            .collect()
    }

    pub fn queue(&self, now: i64) -> QueueSnapshot {
        let mut ahead: BTreeMap<&str, usize> = BTreeMap::new();
        let mean = self.mean_service_s();
        let waiting = self
            .queue
            .values()
            .filter_map(|id| self.tickets.get(id))
            .enumerate()
            .map(|(all, tk)| {
                let n = ahead.entry(tk.service.as_str()).or_default();
                let predicted_wait_s =
                    mean.and_then(|m| queue_length_wait_s(all, self.open.len(), m));
                let come_by = (tk.channel.remote() && tk.arrived_at.is_none())
                    .then(|| {
                        tk.appointed_at
                            .or(predicted_wait_s.map(|w| now + (w * 1000.0).round() as i64))
                    })
                    .flatten();
                let w = Waiting {
                    ticket: tk.ticket.clone(),
                    service: tk.service.clone(),
                    since: tk.issued_at,
                    waited_s: ((now - tk.wait_from()).max(0)) as f64 / 1000.0,
                    ahead: *n,
                    ahead_all: all,
                    predicted_wait_s,
                    tier: tk.tier,
                    channel: tk.channel,
                    green: tk.green,
                    come_by,
                    text: TicketText::of(*n, predicted_wait_s, come_by, self.rules.zone),
                };
                *n += 1;
                w
            })
            .collect();
        let mut open_counters: Vec<String> = self.open.iter().cloned().collect();
        // c1, c2, …, c10 as a hall numbers its counters, not c1, c10, c2.
        open_counters.sort_by(|a, b| natural_cmp(a, b));
        QueueSnapshot {
            at: now,
            open_counters,
            waiting,
        }
    }
}

/// Compares names as people number things: runs of digits by their value
/// (`c2` < `c10`), the rest character by character.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let run = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut digits = String::new();
                    while let Some(d) = it.next_if(char::is_ascii_digit) {
                        digits.push(d);
                    }
                    digits
                };
                let (m, n) = (run(&mut x), run(&mut y));
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let by_value = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(&q);
                }
                x.next();
                y.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sort_as_people_number_them() {
        let mut names = vec!["c10", "c2", "c1", "vip", "c02", "c9", "a"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["a", "c1", "c02", "c2", "c9", "c10", "vip"]);
    }
    use crate::ops::ticket::{Kpis, PredictorAccuracy};

    /// An event at local time `hm` on Friday 2026-08-07 (+08:00).
    fn ev(id: usize, hm: &str, kind: &str, fields: &str) -> Event {
        let at = if hm.len() == 5 {
            format!("2026-08-07T{hm}:00+08:00")
        } else {
            hm.to_owned()
        };
        let sep = if fields.is_empty() { "" } else { "," };
        Event::from_json(&format!(
            r#"{{"id":"e{id}","hall":"h1","type":"{kind}","at":"{at}"{sep}{fields}}}"#
        ))
        .unwrap()
    }

    use crate::ops::fixtures::{ms, scripted};

    #[test]
    fn a_scripted_day_gives_the_hand_computed_waits_alerts_and_kpis() {
        let mut day = HallDay::new(Rules::default());
        for e in scripted() {
            day.apply(&e).unwrap();
        }
        let alerts = day.alerts();
        // 4 waiting for 1 counter at 09:03 (> 3): pre-processing; still 4 after A1's
        // call at 09:05 (A5 came at 09:04), cleared when A2 is called at 09:10. A5 (issued 09:04) is still waiting at 09:19: care, cleared
        // at its call, 09:21. A3 (VIP) was called at 09:13, before its 09:17.
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert_eq!(
            (alerts[0].kind, alerts[0].raised_at, alerts[0].cleared_at),
            (AlertKind::PreProcessing, ms("09:03"), Some(ms("09:10")))
        );
        assert_eq!(
            (
                alerts[1].kind,
                alerts[1].ticket.as_deref(),
                alerts[1].raised_at,
                alerts[1].cleared_at
            ),
            (
                AlertKind::CareDue,
                Some("A5"),
                ms("09:19"),
                Some(ms("09:21"))
            )
        );

        let k = Kpis::of(day.tickets(), Rules::default().measure());
        assert_eq!((k.arrivals, k.served, k.abandoned), (5, 4, 1));
        assert_eq!(k.abandonment_rate, Some(0.2));
        // Called within 15 min: A1 (5), A2 (9), A3 (11); not A5 (17) nor A4 (left).
        assert_eq!(k.service_level, Some(0.6));
        // Waits of the served: 5, 9, 11, 17 min → 10.5 min.
        assert_eq!(k.asa_s, Some(630.0));
        // Services: 4, 2, 7, 2 min → 225 s; two over the 2.5 min system time.
        assert_eq!(k.aht_s, Some(225.0));
        assert_eq!(k.over_system_time_rate, Some(0.5));
        assert_eq!(k.longest_wait_s, Some(1020.0));
        assert_eq!(k.avg_rating, Some(4.5));
        assert_eq!(k.top_rating_share, Some(0.5));
        assert_eq!(k.care_alerts, 1);
    }

    #[test]
    fn the_next_due_rule_is_the_first_waiting_ticket_s_care_time() {
        let mut day = HallDay::new(Rules::default());
        assert_eq!(day.next_due(), None);
        let events = scripted();
        // Up to A2's issue: A1 (09:00) is the first to come due, 15 min later.
        let a1 = events.iter().position(|e| e.id.as_str() == "e3").unwrap();
        for e in &events[..=a1] {
            day.apply(e).unwrap();
        }
        let first = day.next_due().unwrap();
        assert_eq!(first, ms("09:15"));
        day.advance_to(first - 1);
        assert_eq!(day.next_due(), Some(first), "not due a millisecond early");
        day.advance_to(first);
        assert_eq!(day.next_due(), Some(ms("09:16")), "then A2's");
    }

    #[test]
    fn the_queue_tells_each_customer_how_many_are_ahead_and_how_long() {
        let mut day = HallDay::new(Rules::default());
        let events = scripted();
        for e in &events[..6] {
            day.apply(e).unwrap();
        }
        let q = day.queue(ms("09:04") + 30_000);
        assert_eq!(q.open_counters, ["c1"]);
        let ahead: Vec<usize> = q.waiting.iter().map(|w| w.ahead).collect();
        assert_eq!(ahead, [0, 1, 2, 3, 4]);
        // A3 is VIP, gold by default: called before the ordinary tickets issued earlier.
        let order: Vec<&str> = q.waiting.iter().map(|w| w.ticket.as_str()).collect();
        assert_eq!(order, ["A3", "A1", "A2", "A4", "A5"]);
        assert_eq!(q.waiting[1].waited_s, 270.0);
        assert!(
            q.waiting.iter().all(|w| w.predicted_wait_s.is_none()),
            "no service has ended yet to predict from"
        );
        for e in &events[6..15] {
            day.apply(e).unwrap();
        }
        // After A2 ended at 09:12 (services of 240 s and 120 s, mean 180 s) and A4
        // left: A3 has 0 ahead → 180 s, A5 has 1 ahead → 360 s.
        let q = day.queue(ms("09:12"));
        let shown: Vec<(&str, usize, Option<f64>)> = q
            .waiting
            .iter()
            .map(|w| (w.ticket.as_str(), w.ahead, w.predicted_wait_s))
            .collect();
        assert_eq!(shown, [("A3", 0, Some(180.0)), ("A5", 1, Some(360.0))]);
    }

    #[test]
    fn announced_waits_are_scored_against_the_actual_waits() {
        let mut n = 0;
        let mut e = |hm: &str, kind: &str, fields: &str| {
            n += 1;
            ev(n, hm, kind, fields)
        };
        let events = [
            e("09:00", "counter_opened", r#""counter":"c1""#),
            e(
                "09:00",
                "ticket_issued",
                r#""ticket":"T1","service":"payment""#,
            ),
            e("09:00", "called", r#""ticket":"T1","counter":"c1""#),
            e(
                "09:00",
                "service_started",
                r#""ticket":"T1","counter":"c1""#,
            ),
            e(
                "09:04",
                "service_ended",
                r#""ticket":"T1","counter":"c1","outcome":"done""#,
            ),
            // One 240 s service in the history: T2 is told 240 s, T3 (one ahead) 480 s.
            e(
                "09:05",
                "ticket_issued",
                r#""ticket":"T2","service":"payment""#,
            ),
            e(
                "09:06",
                "ticket_issued",
                r#""ticket":"T3","service":"payment""#,
            ),
            e("09:08", "called", r#""ticket":"T2","counter":"c1""#),
            e("09:14", "called", r#""ticket":"T3","counter":"c1""#),
        ];
        let mut day = HallDay::new(Rules::default());
        events.iter().for_each(|e| day.apply(e).unwrap());
        let told: Vec<Option<f64>> = day.tickets().map(|t| t.announced_wait_s).collect();
        assert_eq!(told, [None, Some(240.0), Some(480.0)]);
        // T2 waited 180 s (told 240: −60), T3 480 s (told 480: 0).
        let a = PredictorAccuracy::of(day.tickets());
        assert_eq!(a.n, 2);
        assert_eq!(a.mae_s, Some(30.0));
        assert_eq!(a.rmse_s, Some(1800f64.sqrt()));
        assert_eq!(a.longer_than_announced, Some(0.0));
    }

    #[test]
    fn impossible_transitions_are_refused_and_change_nothing() {
        let mut day = HallDay::new(Rules::default());
        let events = scripted();
        day.apply(&events[1]).unwrap();
        let before = day.queue(ms("09:00"));
        let called = ev(90, "09:01", "called", r#""ticket":"Z9","counter":"c1""#);
        assert_eq!(
            day.apply(&called).unwrap_err(),
            "called: unknown ticket `Z9`"
        );
        assert_eq!(
            day.apply(&events[1]).unwrap_err(),
            "ticket_issued: ticket `A1` was already issued"
        );
        let ended = ev(
            91,
            "09:02",
            "service_ended",
            r#""ticket":"A1","counter":"c1","outcome":"done""#,
        );
        assert_eq!(
            day.apply(&ended).unwrap_err(),
            "service_ended: ticket `A1` was not started"
        );
        let restored = ev(92, "09:02", "kiosk_restored", r#""kiosk":"k1""#);
        assert!(day.apply(&restored).is_err());
        assert_eq!(day.queue(ms("09:00")), before);
    }

    #[test]
    fn a_kiosk_fault_is_overdue_after_two_working_days_skipping_weekends_and_holidays() {
        let fault = ev(
            1,
            "10:00",
            "kiosk_fault",
            r#""kiosk":"k1","fault":"printer""#,
        );
        let tuesday = ms("10:00") + 4 * 86_400_000;
        // Friday 10:00 + 2 working days = Tuesday 10:00.
        let mut day = HallDay::new(Rules::default());
        day.apply(&fault).unwrap();
        day.advance_to(tuesday - 1);
        assert!(day.alerts().is_empty());
        day.advance_to(tuesday);
        assert_eq!(day.alerts()[0].kind, AlertKind::KioskOverdue);
        assert_eq!(day.alerts()[0].raised_at, tuesday);
        // With Monday a holiday, the deadline moves to Wednesday.
        let mut rules = Rules::default();
        rules
            .holidays
            .insert(NaiveDate::from_ymd_opt(2026, 8, 10).unwrap());
        let mut day = HallDay::new(rules);
        day.apply(&fault).unwrap();
        day.advance_to(tuesday + 3_600_000);
        assert!(day.alerts().is_empty());
        // Restored in time: never overdue.
        let restored = ev(
            2,
            "2026-08-11T09:00:00+08:00",
            "kiosk_restored",
            r#""kiosk":"k1""#,
        );
        day.apply(&restored).unwrap();
        day.advance_to(tuesday + 10 * 86_400_000);
        assert!(day.alerts().is_empty());
    }

    #[test]
    fn the_rules_follow_the_journey_standards() {
        let j = crate::builtin::journeys().unwrap().remove(0);
        let from = Rules::from_journey(&j);
        assert_eq!(
            Rules {
                cases: crate::case::CaseRules::default(),
                checks: Vec::new(),
                ..from.clone()
            },
            Rules::default()
        );
        // Cases are about the journey's own moments.
        assert_eq!(from.cases.moments.len(), 16);
        assert_eq!(from.cases.complaint_moment.as_str(), "dispute");
        assert_eq!(from.cases.sla, crate::case::SlaPolicy::default());
        // A region that tightens care to 10 minutes gets care alerts at 10 minutes.
        let rules = Rules {
            care_after_ms: 10 * 60_000,
            ..Rules::default()
        };
        let mut day = HallDay::new(rules);
        for e in &scripted()[..6] {
            day.apply(e).unwrap();
        }
        day.advance_to(ms("09:10"));
        let care: Vec<&str> = day
            .alerts()
            .iter()
            .filter(|a| a.kind == AlertKind::CareDue)
            .filter_map(|a| a.ticket.as_deref())
            .collect();
        assert_eq!(care, ["A1"]);
        assert!(
            day.alerts()
                .iter()
                .any(|a| a.kind == AlertKind::CareDue && !a.vip)
                && !day.alerts().iter().any(|a| a.vip)
        );
    }
}
