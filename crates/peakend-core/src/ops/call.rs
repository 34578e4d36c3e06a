//! A contact centre's calls (issue 22, begun): each call's timeline folded from its
//! events (`call_offered`, `call_answered`, `call_abandoned`, `call_held`,
//! `call_resumed`, `call_transferred`, `call_ended`), impossible transitions refused,
//! and the contact-centre KPIs as mergeable sums: offered, answered, abandoned (short
//! abandons apart), service level, ASA, talk, hold, after-call work, AHT and
//! first-contact resolution. Pure: the ingest path and the `kpi` report build on it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::event::Outcome;

/// A call event's own fields, by type, as the centre's telephony sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallEventKind {
    CallOffered {
        call: String,
        queue: String,
        #[serde(default)]
        segment: Option<String>,
        /// A salted hash of the caller's number, never the number.
        #[serde(default)]
        customer: Option<String>,
    },
    CallAnswered {
        call: String,
        agent: String,
    },
    CallAbandoned {
        call: String,
    },
    CallHeld {
        call: String,
    },
    CallResumed {
        call: String,
    },
    /// Passed to another queue or agent; the call goes on, counted once.
    CallTransferred {
        call: String,
        #[serde(default)]
        queue: Option<String>,
        #[serde(default)]
        agent: Option<String>,
    },
    CallEnded {
        call: String,
        outcome: Outcome,
        /// After-call work, seconds.
        #[serde(default)]
        acw_s: f64,
    },
}

impl CallEventKind {
    pub fn call(&self) -> &str {
        match self {
            CallEventKind::CallOffered { call, .. }
            | CallEventKind::CallAnswered { call, .. }
            | CallEventKind::CallAbandoned { call }
            | CallEventKind::CallHeld { call }
            | CallEventKind::CallResumed { call }
            | CallEventKind::CallTransferred { call, .. }
            | CallEventKind::CallEnded { call, .. } => call,
        }
    }
}

/// One call's timeline, times in ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub call: String,
    pub queue: String,
    pub segment: Option<String>,
    pub customer: Option<String>,
    pub offered_at: i64,
    pub answered_at: Option<i64>,
    pub abandoned_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub agent: Option<String>,
    /// Time on hold so far, and since when it is on hold now.
    pub hold_ms: i64,
    pub held_since: Option<i64>,
    pub transfers: u32,
    pub outcome: Option<Outcome>,
    pub acw_ms: i64,
}

impl Call {
    /// Answer minus offer, for an answered call.
    pub fn wait_ms(&self) -> Option<i64> {
        Some(self.answered_at? - self.offered_at)
    }

    /// Answer to end, less the time on hold.
    pub fn talk_ms(&self) -> Option<i64> {
        Some(self.ended_at? - self.answered_at? - self.hold_ms)
    }
}

/// A centre's calls, applied in event time. An impossible transition (an answer to an
/// unknown call, a second end, a hold of a call not answered) is an error and changes
/// nothing, as a hall's day does with tickets.
#[derive(Debug, Clone, Default)]
pub struct CallDay {
    calls: BTreeMap<String, Call>,
    /// Calls changed since [`CallDay::take_changed`], when tracked: what a live
    /// roll-up counts again, so a batch costs its calls, not the day's.
    changed: Option<std::collections::BTreeSet<String>>,
}

impl CallDay {
    pub fn new() -> CallDay {
        CallDay::default()
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    pub fn call(&self, call: &str) -> Option<&Call> {
        self.calls.get(call)
    }

    /// From now on, remember which calls change, for [`CallDay::take_changed`].
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(Default::default);
    }

    /// The calls changed since the last call, when tracked.
    pub fn take_changed(&mut self) -> std::collections::BTreeSet<String> {
        self.changed
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn apply(&mut self, at_ms: i64, e: &CallEventKind) -> Result<(), String> {
        self.apply_call(at_ms, e)?;
        if let Some(c) = self.changed.as_mut().filter(|c| !c.contains(e.call())) {
            c.insert(e.call().to_owned());
        }
        Ok(())
    }

    fn apply_call(&mut self, at_ms: i64, e: &CallEventKind) -> Result<(), String> {
        let name = e.call();
        if let CallEventKind::CallOffered {
            call,
            queue,
            segment,
            customer,
        } = e
        {
            if self.calls.contains_key(call) {
                return Err(format!("call_offered: call `{call}` was already offered"));
            }
            self.calls.insert(
                call.clone(),
                Call {
                    call: call.clone(),
                    queue: queue.clone(),
                    segment: segment.clone(),
                    customer: customer.clone(),
                    offered_at: at_ms,
                    answered_at: None,
                    abandoned_at: None,
                    ended_at: None,
                    agent: None,
                    hold_ms: 0,
                    held_since: None,
                    transfers: 0,
                    outcome: None,
                    acw_ms: 0,
                },
            );
            return Ok(());
        }
        let kind = match e {
            CallEventKind::CallOffered { .. } => "call_offered",
            CallEventKind::CallAnswered { .. } => "call_answered",
            CallEventKind::CallAbandoned { .. } => "call_abandoned",
            CallEventKind::CallHeld { .. } => "call_held",
            CallEventKind::CallResumed { .. } => "call_resumed",
            CallEventKind::CallTransferred { .. } => "call_transferred",
            CallEventKind::CallEnded { .. } => "call_ended",
        };
        let c = self
            .calls
            .get_mut(name)
            .ok_or_else(|| format!("{kind}: unknown call `{name}`"))?;
        let refuse = |why: &str| Err(format!("{kind}: call `{name}` {why}"));
        let live = c.answered_at.is_some() && c.ended_at.is_none();
        match e {
            CallEventKind::CallOffered { .. } => unreachable!("handled above"),
            CallEventKind::CallAnswered { agent, .. } => {
                if c.answered_at.is_some() {
                    return refuse("was already answered");
                }
                if c.abandoned_at.is_some() {
                    return refuse("was abandoned");
                }
                c.answered_at = Some(at_ms);
                c.agent = Some(agent.clone());
            }
            CallEventKind::CallAbandoned { .. } => {
                if c.answered_at.is_some() {
                    return refuse("was answered");
                }
                if c.abandoned_at.is_some() {
                    return refuse("was already abandoned");
                }
                c.abandoned_at = Some(at_ms);
            }
            CallEventKind::CallHeld { .. } => {
                if !live {
                    return refuse("is not in conversation");
                }
                if c.held_since.is_some() {
                    return refuse("is already on hold");
                }
                c.held_since = Some(at_ms);
            }
            CallEventKind::CallResumed { .. } => {
                let Some(since) = c.held_since.filter(|_| live) else {
                    return refuse("is not on hold");
                };
                c.hold_ms += at_ms - since;
                c.held_since = None;
            }
            CallEventKind::CallTransferred { queue, agent, .. } => {
                if !live {
                    return refuse("is not in conversation");
                }
                c.transfers += 1;
                if let Some(q) = queue {
                    c.queue = q.clone();
                }
                if let Some(a) = agent {
                    c.agent = Some(a.clone());
                }
            }
            CallEventKind::CallEnded { outcome, acw_s, .. } => {
                if !live {
                    return refuse(if c.ended_at.is_some() {
                        "had already ended"
                    } else {
                        "was not answered"
                    });
                }
                if !(acw_s.is_finite() && *acw_s >= 0.0) {
                    return Err(format!("{kind}: field `acw_s`: {acw_s} is not seconds ≥ 0"));
                }
                // A call that ends on hold was on hold until it ended.
                if let Some(since) = c.held_since.take() {
                    c.hold_ms += at_ms - since;
                }
                c.ended_at = Some(at_ms);
                c.outcome = Some(*outcome);
                c.acw_ms = (acw_s * 1000.0).round() as i64;
            }
        }
        Ok(())
    }
}

/// What a call is measured against: the service-level target and what counts as a
/// short abandon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CallMeasure {
    /// Answered within this many ms counts for the service level (the hotline's 20 s).
    pub target_ms: i64,
    /// Abandoned within this many ms is a short abandon (a wrong number, not a failure).
    pub short_abandon_ms: i64,
}

impl Default for CallMeasure {
    fn default() -> Self {
        CallMeasure {
            target_ms: 20_000,
            short_abandon_ms: 5_000,
        }
    }
}

/// Mergeable sums behind the call KPIs: the KPIs of any union of calls are those of
/// the merged sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallSums {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub answered_in_target: u64,
    pub wait_ms: i64,
    /// Calls ended after an answer: the handled ones, whose talk, hold and ACW count.
    pub handled: u64,
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub acw_ms: i64,
    pub transferred: u64,
    pub resolved: u64,
}

impl CallSums {
    pub fn add(&mut self, c: &Call, m: CallMeasure) {
        self.offered += 1;
        if let Some(w) = c.wait_ms() {
            self.answered += 1;
            self.wait_ms += w;
            if w <= m.target_ms {
                self.answered_in_target += 1;
            }
        }
        if let Some(at) = c.abandoned_at {
            self.abandoned += 1;
            if at - c.offered_at < m.short_abandon_ms {
                self.short_abandoned += 1;
            }
        }
        if let Some(talk) = c.talk_ms() {
            self.handled += 1;
            self.talk_ms += talk;
            self.hold_ms += c.hold_ms;
            self.acw_ms += c.acw_ms;
            if c.outcome == Some(Outcome::Done) {
                self.resolved += 1;
            }
        }
        if c.transfers > 0 {
            self.transferred += 1;
        }
    }

    pub fn merge(&mut self, o: &CallSums) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.answered_in_target += o.answered_in_target;
        self.wait_ms += o.wait_ms;
        self.handled += o.handled;
        self.talk_ms += o.talk_ms;
        self.hold_ms += o.hold_ms;
        self.acw_ms += o.acw_ms;
        self.transferred += o.transferred;
        self.resolved += o.resolved;
    }

    /// Takes back sums merged before (a call counted again as it changes).
    pub fn take(&mut self, o: &CallSums) {
        self.offered -= o.offered;
        self.answered -= o.answered;
        self.abandoned -= o.abandoned;
        self.short_abandoned -= o.short_abandoned;
        self.answered_in_target -= o.answered_in_target;
        self.wait_ms -= o.wait_ms;
        self.handled -= o.handled;
        self.talk_ms -= o.talk_ms;
        self.hold_ms -= o.hold_ms;
        self.acw_ms -= o.acw_ms;
        self.transferred -= o.transferred;
        self.resolved -= o.resolved;
    }

    pub fn kpis(&self) -> CallKpis {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let mean_s = |sum: i64, n: u64| (n > 0).then(|| sum as f64 / n as f64 / 1000.0);
        // Short abandons are neither served nor failed: they leave the denominator.
        let counted = self.offered - self.short_abandoned;
        CallKpis {
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            short_abandoned: self.short_abandoned,
            abandonment_rate: ratio(self.abandoned - self.short_abandoned, counted),
            service_level: ratio(self.answered_in_target, counted),
            asa_s: mean_s(self.wait_ms, self.answered),
            talk_s: mean_s(self.talk_ms, self.handled),
            hold_s: mean_s(self.hold_ms, self.handled),
            acw_s: mean_s(self.acw_ms, self.handled),
            aht_s: mean_s(self.talk_ms + self.hold_ms + self.acw_ms, self.handled),
            transfer_rate: ratio(self.transferred, self.handled),
        }
    }
}

/// The contact centre's indicators of a set of calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallKpis {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Abandoned within the short-abandon time (5 s): counted apart.
    pub short_abandoned: u64,
    /// (abandoned − short) ÷ (offered − short).
    pub abandonment_rate: Option<f64>,
    /// Answered within the target ÷ (offered − short abandons): abandons after the
    /// short-abandon time count against it, as calls not answered in time.
    pub service_level: Option<f64>,
    /// Mean wait of the answered calls.
    pub asa_s: Option<f64>,
    /// Means over the handled calls (answered and ended).
    pub talk_s: Option<f64>,
    pub hold_s: Option<f64>,
    pub acw_s: Option<f64>,
    /// Talk + hold + after-call work.
    pub aht_s: Option<f64>,
    pub transfer_rate: Option<f64>,
}

/// The calls' sums per key (queue, agent, or interval start) over some calls.
pub fn sums_by<'a, K: Ord>(
    calls: impl IntoIterator<Item = &'a Call>,
    m: CallMeasure,
    key: impl Fn(&Call) -> Option<K>,
) -> BTreeMap<K, CallSums> {
    let mut out: BTreeMap<K, CallSums> = BTreeMap::new();
    for c in calls {
        if let Some(k) = key(c) {
            out.entry(k).or_default().add(c, m);
        }
    }
    out
}

/// First-contact resolution over customers' contacts (any channel), each as (customer,
/// time in ms, resolved): a resolved contact followed by no other contact of the same
/// customer within `window_ms` is resolved at first contact. Returns (first-contact
/// resolved, resolved contacts whose window has fully passed by `now_ms`).
pub fn first_contact_resolution(
    contacts: &[(String, i64, bool)],
    window_ms: i64,
    now_ms: i64,
) -> (u64, u64) {
    let mut by_customer: BTreeMap<&str, Vec<(i64, bool)>> = BTreeMap::new();
    for (customer, at, resolved) in contacts {
        by_customer
            .entry(customer.as_str())
            .or_default()
            .push((*at, *resolved));
    }
    let (mut fcr, mut measured) = (0, 0);
    for list in by_customer.values_mut() {
        list.sort_unstable();
        for (i, (at, resolved)) in list.iter().enumerate() {
            if !resolved || at + window_ms > now_ms {
                continue;
            }
            measured += 1;
            let repeat = list
                .get(i + 1)
                .is_some_and(|(next, _)| *next - at <= window_ms);
            if !repeat {
                fcr += 1;
            }
        }
    }
    (fcr, measured)
}

/// A repeat contact within this window undoes a first-contact resolution (7 days).
pub const FCR_WINDOW_MS: i64 = 7 * 86_400_000;

/// The first ms of the UTC half-hour of an instant: any UTC offset in whole half-hours
/// (all of China's, and India's) buckets these by its local half-hour, hour or day.
pub fn utc_half_hour(at_ms: i64) -> i64 {
    at_ms.div_euclid(1_800_000) * 1_800_000
}

/// A centre-day's calls as the ingest keeps them in the day's roll-up: mergeable sums
/// per offer half-hour, per queue and per agent (what a report breaks them down by), so
/// its size follows the centre's queues and agents, not its calls. A call's figures do
/// not depend on when they are read, so the sums are final as stored. The customers'
/// contacts first-contact resolution needs are not here: they are personal data, kept
/// (and erased) in `customer_contact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredCallRollup")]
pub struct CallRollup {
    pub measure: CallMeasure,
    /// By [`utc_half_hour`] of the offer.
    pub slots: BTreeMap<i64, CallSums>,
    /// By the last queue (after transfers).
    pub queues: BTreeMap<String, CallSums>,
    /// By the last agent, for answered calls.
    pub agents: BTreeMap<String, CallSums>,
}

/// A roll-up as stored, this week's form or the first one: sums per half-hour × queue ×
/// agent and the customers' contacts (dropped on reading).
#[derive(Deserialize)]
struct StoredCallRollup {
    measure: CallMeasure,
    #[serde(default)]
    slots: BTreeMap<i64, CallSums>,
    #[serde(default)]
    queues: BTreeMap<String, CallSums>,
    #[serde(default)]
    agents: BTreeMap<String, CallSums>,
    #[serde(default)]
    rows: Vec<FirstCallRow>,
}

#[derive(Deserialize)]
struct FirstCallRow {
    slot: i64,
    queue: String,
    #[serde(default)]
    agent: Option<String>,
    sums: CallSums,
}

impl From<StoredCallRollup> for CallRollup {
    fn from(s: StoredCallRollup) -> CallRollup {
        let mut r = CallRollup {
            measure: s.measure,
            slots: s.slots,
            queues: s.queues,
            agents: s.agents,
        };
        for row in s.rows {
            r.add(row.slot, &row.queue, row.agent.as_deref(), &row.sums);
        }
        r
    }
}

impl CallRollup {
    /// The roll-up of a day's calls; `None` for a day without any (a hall's).
    pub fn of(day: &CallDay, m: CallMeasure) -> Option<CallRollup> {
        let mut live = LiveCalls::new(m);
        day.calls().for_each(|c| live.count(c));
        live.rollup()
    }

    fn add(&mut self, slot: i64, queue: &str, agent: Option<&str>, s: &CallSums) {
        self.slots.entry(slot).or_default().merge(s);
        self.queues.entry(queue.to_owned()).or_default().merge(s);
        if let Some(a) = agent {
            self.agents.entry(a.to_owned()).or_default().merge(s);
        }
    }

    /// All the day's calls.
    pub fn total(&self) -> CallSums {
        let mut t = CallSums::default();
        self.slots.values().for_each(|s| t.merge(s));
        t
    }
}

/// A centre-day's call sums kept up to date as its calls change: a changed call's old
/// part is taken back and its new one added, so the ingest's roll-up after a batch
/// costs the calls the batch touched. [`CallRollup::of`] counts a whole day the same way.
#[derive(Debug, Clone)]
pub struct LiveCalls {
    measure: CallMeasure,
    /// Each call's part as counted: its slot, queue, agent and sums.
    counted: HashMap<String, (i64, String, Option<String>, CallSums)>,
    rollup: CallRollup,
}

impl LiveCalls {
    pub fn new(measure: CallMeasure) -> LiveCalls {
        LiveCalls {
            measure,
            counted: HashMap::new(),
            rollup: CallRollup {
                measure,
                ..CallRollup::default()
            },
        }
    }

    /// Counts a call as it is now, in place of how it was counted before.
    pub fn count(&mut self, c: &Call) {
        fn take<K: Ord>(m: &mut BTreeMap<K, CallSums>, k: K, s: &CallSums) {
            if let Some(sums) = m.get_mut(&k) {
                sums.take(s);
                if sums.offered == 0 {
                    m.remove(&k);
                }
            }
        }
        if let Some((slot, queue, agent, sums)) = self.counted.remove(&c.call) {
            let r = &mut self.rollup;
            take(&mut r.slots, slot, &sums);
            take(&mut r.queues, queue, &sums);
            if let Some(a) = agent {
                take(&mut r.agents, a, &sums);
            }
        }
        let mut sums = CallSums::default();
        sums.add(c, self.measure);
        let slot = utc_half_hour(c.offered_at);
        self.rollup.add(slot, &c.queue, c.agent.as_deref(), &sums);
        self.counted.insert(
            c.call.clone(),
            (slot, c.queue.clone(), c.agent.clone(), sums),
        );
    }

    /// Counts again the calls of `day` changed since the last update (the day must
    /// track its changes, see [`CallDay::track_changes`]).
    pub fn update(&mut self, day: &mut CallDay) {
        for name in day.take_changed() {
            if let Some(c) = day.call(&name) {
                self.count(c);
            }
        }
    }

    /// The roll-up as of now; `None` before any call.
    pub fn rollup(&self) -> Option<CallRollup> {
        (!self.counted.is_empty()).then(|| self.rollup.clone())
    }
}

/// A call of a known customer, what first-contact resolution needs: the customer's
/// salted key (never the number), when the call ended (or was abandoned), and how it
/// went. Read from `customer_contact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallContact {
    pub customer: String,
    pub at: i64,
    /// Answered and ended: a contact that could resolve.
    pub handled: bool,
    /// Ended with outcome `done`.
    pub resolved: bool,
}

/// First-contact resolution of the handled contacts among `contacts` for which
/// `in_period` holds: resolved, and no other contact of the same customer (any call,
/// answered or not, the list may reach past the period) within [`FCR_WINDOW_MS`] after
/// it. Only contacts whose window has passed by `now_ms` are measured. Returns
/// (resolved at first contact, measured).
pub fn fcr_of(contacts: &[(CallContact, bool)], now_ms: i64) -> (u64, u64) {
    let mut by_customer: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, (c, _)) in contacts.iter().enumerate() {
        by_customer.entry(&c.customer).or_default().push((c.at, i));
    }
    let (mut fcr, mut measured) = (0, 0);
    for list in by_customer.values_mut() {
        list.sort_unstable();
        for (k, &(at, i)) in list.iter().enumerate() {
            let (c, in_period) = &contacts[i];
            if !in_period || !c.handled || at + FCR_WINDOW_MS > now_ms {
                continue;
            }
            measured += 1;
            let repeat = list
                .get(k + 1)
                .is_some_and(|(next, _)| *next - at <= FCR_WINDOW_MS);
            if c.resolved && !repeat {
                fcr += 1;
            }
        }
    }
    (fcr, measured)
}

/// How a call report buckets its intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallBucket {
    HalfHour,
    Hour,
    Day,
}

/// Call KPIs under one key, with first-contact resolution where it is measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallKeyed {
    pub key: String,
    pub kpis: CallKpis,
}

/// The `calls` section of a KPI report: the centres at or below the node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallReport {
    pub bucket: CallBucket,
    /// The service-level target and short-abandon time the report counts with.
    pub target_s: f64,
    pub short_abandon_s: f64,
    pub total: CallKpis,
    /// Resolved at first contact ÷ handled calls of known customers whose 7-day window
    /// has passed; `None` when none has.
    pub fcr: Option<f64>,
    pub fcr_measured: u64,
    /// By the local start (RFC 3339) of the interval the call was offered in.
    pub buckets: Vec<CallKeyed>,
    pub centres: Vec<CallKeyed>,
    /// `centre/queue` (the last queue, after transfers).
    pub queues: Vec<CallKeyed>,
    /// `centre/agent` (the last agent).
    pub agents: Vec<CallKeyed>,
}

/// A call report being summed up from centre-days' roll-ups.
pub struct CallReportSums {
    bucket: CallBucket,
    offset: chrono::FixedOffset,
    measure: Option<CallMeasure>,
    total: CallSums,
    buckets: BTreeMap<String, CallSums>,
    centres: BTreeMap<String, CallSums>,
    queues: BTreeMap<String, CallSums>,
    agents: BTreeMap<String, CallSums>,
    contacts: Vec<(CallContact, bool)>,
}

impl CallReportSums {
    pub fn new(bucket: CallBucket, offset: chrono::FixedOffset) -> CallReportSums {
        CallReportSums {
            bucket,
            offset,
            measure: None,
            total: CallSums::default(),
            buckets: BTreeMap::new(),
            centres: BTreeMap::new(),
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            contacts: Vec::new(),
        }
    }

    fn bucket_of(&self, at_ms: i64) -> Option<String> {
        use chrono::Timelike;
        let local = chrono::DateTime::from_timestamp_millis(at_ms)?.with_timezone(&self.offset);
        let start = match self.bucket {
            CallBucket::HalfHour => local.with_minute(local.minute() / 30 * 30)?,
            CallBucket::Hour => local.with_minute(0)?,
            CallBucket::Day => local.with_hour(0)?.with_minute(0)?,
        };
        Some(start.with_second(0)?.with_nanosecond(0)?.to_rfc3339())
    }

    /// Adds a centre-day of the period.
    pub fn add_rollup(&mut self, centre: &str, day: &CallRollup) {
        self.measure.get_or_insert(day.measure);
        let merge = |m: &mut BTreeMap<String, CallSums>, k: String, s: &CallSums| {
            m.entry(k).or_default().merge(s)
        };
        for (slot, s) in &day.slots {
            self.total.merge(s);
            merge(&mut self.centres, centre.to_owned(), s);
            if let Some(b) = self.bucket_of(*slot) {
                merge(&mut self.buckets, b, s);
            }
        }
        for (q, s) in &day.queues {
            merge(&mut self.queues, format!("{centre}/{q}"), s);
        }
        for (a, s) in &day.agents {
            merge(&mut self.agents, format!("{centre}/{a}"), s);
        }
    }

    /// Adds a call of a known customer: one of the period (`in_period`) is measured,
    /// any other may be the repeat that undoes one.
    pub fn add_contact(&mut self, c: CallContact, in_period: bool) {
        self.contacts.push((c, in_period));
    }

    /// The report, `None` when no centre-day had calls.
    pub fn report(self, now_ms: i64) -> Option<CallReport> {
        let measure = self.measure?;
        let keyed = |m: BTreeMap<String, CallSums>| {
            m.into_iter()
                .map(|(key, s)| CallKeyed {
                    key,
                    kpis: s.kpis(),
                })
                .collect::<Vec<_>>()
        };
        let (fcr, measured) = fcr_of(&self.contacts, now_ms);
        Some(CallReport {
            bucket: self.bucket,
            target_s: measure.target_ms as f64 / 1000.0,
            short_abandon_s: measure.short_abandon_ms as f64 / 1000.0,
            total: self.total.kpis(),
            fcr: (measured > 0).then(|| fcr as f64 / measured as f64),
            fcr_measured: measured,
            buckets: keyed(self.buckets),
            centres: keyed(self.centres),
            queues: keyed(self.queues),
            agents: keyed(self.agents),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> CallEventKind {
        serde_json::from_str(json).unwrap()
    }

    /// Seconds after 09:00.
    fn t(s: i64) -> i64 {
        1_786_064_400_000 + s * 1000
    }

    /// Five calls to the billing queue, every figure computed by hand:
    /// c1 answered after 10 s by a1, 120 s of talk with 30 s on hold inside, 20 s ACW,
    ///    resolved; c2 answered after 40 s by a2, 200 s of talk, transferred, 10 s ACW,
    ///    unresolved; c3 abandoned after 3 s (short); c4 abandoned after 60 s; c5
    ///    answered after 15 s by a1, still in conversation.
    fn script_events() -> Vec<(i64, &'static str)> {
        let mut script: Vec<(i64, &str)> = vec![
            (
                0,
                r#"{"type":"call_offered","call":"c1","queue":"bill","customer":"x1"}"#,
            ),
            (5, r#"{"type":"call_offered","call":"c2","queue":"bill"}"#),
            (10, r#"{"type":"call_answered","call":"c1","agent":"a1"}"#),
            (20, r#"{"type":"call_offered","call":"c3","queue":"bill"}"#),
            (23, r#"{"type":"call_abandoned","call":"c3"}"#),
            (30, r#"{"type":"call_offered","call":"c4","queue":"bill"}"#),
            (45, r#"{"type":"call_answered","call":"c2","agent":"a2"}"#),
            (50, r#"{"type":"call_held","call":"c1"}"#),
            (80, r#"{"type":"call_resumed","call":"c1"}"#),
            (90, r#"{"type":"call_abandoned","call":"c4"}"#),
            (
                160,
                r#"{"type":"call_ended","call":"c1","outcome":"done","acw_s":20}"#,
            ),
            (
                100,
                r#"{"type":"call_transferred","call":"c2","queue":"tech"}"#,
            ),
            (
                245,
                r#"{"type":"call_ended","call":"c2","outcome":"unresolved","acw_s":10}"#,
            ),
            (300, r#"{"type":"call_offered","call":"c5","queue":"bill"}"#),
            (315, r#"{"type":"call_answered","call":"c5","agent":"a1"}"#),
        ];
        script.sort_by_key(|(s, _)| *s);
        script
    }

    fn scripted() -> CallDay {
        let mut day = CallDay::new();
        for (s, e) in script_events() {
            day.apply(t(s), &ev(e)).unwrap();
        }
        day
    }

    #[test]
    fn scripted_calls_give_the_kpis_computed_by_hand() {
        let day = scripted();
        let mut sums = CallSums::default();
        for c in day.calls() {
            sums.add(c, CallMeasure::default());
        }
        let k = sums.kpis();
        assert_eq!(
            (k.offered, k.answered, k.abandoned, k.short_abandoned),
            (5, 3, 2, 1)
        );
        // In 20 s: c1 (10 s) and c5 (15 s) of the 4 calls that are not short abandons.
        assert_eq!(k.service_level, Some(0.5));
        assert_eq!(k.abandonment_rate, Some(0.25));
        // Waits 10, 40, 15.
        assert!((k.asa_s.unwrap() - 65.0 / 3.0).abs() < 1e-9);
        // Handled c1 (talk 150 − 30 = 120, hold 30, ACW 20) and c2 (talk 200, ACW 10).
        assert_eq!(k.talk_s, Some(160.0));
        assert_eq!(k.hold_s, Some(15.0));
        assert_eq!(k.acw_s, Some(15.0));
        assert_eq!(k.aht_s, Some(190.0));
        assert_eq!(k.transfer_rate, Some(0.5));
        // By agent: a1 answered c1 and c5; a2 took c2 (transferred to tech).
        let by_agent = sums_by(day.calls(), CallMeasure::default(), |c| c.agent.clone());
        assert_eq!(by_agent["a1"].answered, 2);
        assert_eq!(by_agent["a2"].handled, 1);
        let by_queue = sums_by(day.calls(), CallMeasure::default(), |c| {
            Some(c.queue.clone())
        });
        assert_eq!(
            by_queue["tech"].offered, 1,
            "a transfer moves the call's queue"
        );
        // Merging the halves gives the whole.
        let (mut a, mut b) = (CallSums::default(), CallSums::default());
        for (i, c) in day.calls().enumerate() {
            if i % 2 == 0 {
                a.add(c, CallMeasure::default())
            } else {
                b.add(c, CallMeasure::default())
            }
        }
        a.merge(&b);
        assert_eq!(a, sums);
    }

    #[test]
    fn live_sums_after_each_event_equal_the_whole_days() {
        // The scripted day again, one event at a time, counted live as the ingest does.
        let whole = CallRollup::of(&scripted(), CallMeasure::default()).unwrap();
        let mut day = CallDay::new();
        day.track_changes();
        let mut live = LiveCalls::new(CallMeasure::default());
        assert_eq!(live.rollup(), None);
        let mut fed = 0;
        for (s, e) in script_events() {
            day.apply(t(s), &ev(e)).unwrap();
            fed += 1;
            live.update(&mut day);
            let now = CallRollup::of(&day, CallMeasure::default()).unwrap();
            assert_eq!(live.rollup().as_ref(), Some(&now), "after {fed} events");
        }
        assert_eq!(live.rollup(), Some(whole.clone()));
        // Per queue and agent as the hand figures say: the transfer moved c2 to tech.
        assert_eq!(whole.queues["bill"].offered, 4);
        assert_eq!(whole.queues["tech"].offered, 1);
        assert_eq!(whole.agents["a1"].answered, 2);
        assert_eq!(whole.total().offered, 5);
    }

    #[test]
    fn a_first_form_rollup_reads_as_the_sums_and_drops_the_contacts() {
        let old = r#"{"measure":{"target_ms":20000,"short_abandon_ms":5000},
            "rows":[{"slot":0,"queue":"bill","agent":"a1","sums":{"offered":2,"answered":2,"abandoned":0,"short_abandoned":0,"answered_in_target":1,"wait_ms":30000,"handled":1,"talk_ms":60000,"hold_ms":0,"acw_ms":0,"transferred":0,"resolved":1}},
                    {"slot":1800000,"queue":"bill","sums":{"offered":1,"answered":0,"abandoned":1,"short_abandoned":1,"answered_in_target":0,"wait_ms":0,"handled":0,"talk_ms":0,"hold_ms":0,"acw_ms":0,"transferred":0,"resolved":0}}],
            "contacts":[{"customer":"x1","at":0,"handled":true,"resolved":true}]}"#;
        let r: CallRollup = serde_json::from_str(old).unwrap();
        assert_eq!(r.queues["bill"].offered, 3);
        assert_eq!(r.agents["a1"].offered, 2);
        assert_eq!(r.agents.len(), 1);
        assert_eq!((r.slots[&0].offered, r.slots[&1_800_000].abandoned), (2, 1));
        let again = serde_json::to_string(&r).unwrap();
        assert!(!again.contains("x1") && !again.contains("rows"), "{again}");
        assert_eq!(serde_json::from_str::<CallRollup>(&again).unwrap(), r);
    }

    #[test]
    fn impossible_transitions_are_refused_and_change_nothing() {
        let mut day = scripted();
        let before = day.call("c1").cloned();
        for (e, why) in [
            (
                r#"{"type":"call_answered","call":"zz","agent":"a1"}"#,
                "unknown call `zz`",
            ),
            (
                r#"{"type":"call_answered","call":"c1","agent":"a9"}"#,
                "already answered",
            ),
            (
                r#"{"type":"call_ended","call":"c1","outcome":"done"}"#,
                "already ended",
            ),
            (r#"{"type":"call_held","call":"c4"}"#, "not in conversation"),
            (r#"{"type":"call_resumed","call":"c5"}"#, "not on hold"),
            (r#"{"type":"call_abandoned","call":"c5"}"#, "was answered"),
            (
                r#"{"type":"call_offered","call":"c1","queue":"bill"}"#,
                "already offered",
            ),
            (
                r#"{"type":"call_ended","call":"c3","outcome":"done"}"#,
                "was not answered",
            ),
            (
                r#"{"type":"call_ended","call":"c5","outcome":"done","acw_s":-1}"#,
                "acw_s",
            ),
        ] {
            let err = day.apply(t(400), &ev(e)).unwrap_err();
            assert!(err.contains(why), "{e}: {err}");
        }
        assert_eq!(day.call("c1").cloned(), before);
        assert_eq!(day.call("c5").unwrap().ended_at, None);
    }

    #[test]
    fn a_call_ending_on_hold_counts_its_hold_to_the_end() {
        let mut day = CallDay::new();
        day.apply(
            t(0),
            &ev(r#"{"type":"call_offered","call":"c","queue":"q"}"#),
        )
        .unwrap();
        day.apply(
            t(1),
            &ev(r#"{"type":"call_answered","call":"c","agent":"a"}"#),
        )
        .unwrap();
        day.apply(t(11), &ev(r#"{"type":"call_held","call":"c"}"#))
            .unwrap();
        day.apply(
            t(41),
            &ev(r#"{"type":"call_ended","call":"c","outcome":"referred"}"#),
        )
        .unwrap();
        let c = day.call("c").unwrap();
        assert_eq!((c.hold_ms, c.talk_ms()), (30_000, Some(10_000)));
    }

    #[test]
    fn first_contact_resolution_needs_seven_quiet_days() {
        let day = 86_400_000;
        let contacts = vec![
            // x: resolved, then back in 3 days: not FCR; the second is FCR.
            ("x".to_owned(), 0, true),
            ("x".to_owned(), 3 * day, true),
            // y: resolved once and never again: FCR.
            ("y".to_owned(), day, true),
            // z: unresolved: not measured; w: resolved yesterday, window still open.
            ("z".to_owned(), 0, false),
            ("w".to_owned(), 20 * day, true),
        ];
        assert_eq!(
            first_contact_resolution(&contacts, 7 * day, 21 * day),
            (2, 3)
        );
    }
}
