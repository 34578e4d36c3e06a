//! Hall operations over stored events: each hall's rules (its journey's standards, its
//! zone and holidays), days replayed from stored events, KPI reports and the overview's
//! day from the ingest's roll-ups.

use super::*;
use crate::analysis::query_halls;
use peakend_core::ops::sales::TrialRollup;

/// The rules of hall operations for a hall: the thresholds of the built-in service-hall
/// journey's standards as stored (a region's own journey per hall comes later), and the
/// holidays of the hall's province.
pub async fn hall_rules(store: &dyn Store, hall: &HallId) -> Result<Rules> {
    let tree = store.org_tree().await?;
    let node = leaf_of(&tree, hall)?;
    let effective = store.journey_assignments().await?.effective(&tree, &node);
    // A database without the built-in journeys (never `init`ed) runs on the defaults.
    let mut rules = store
        .journey(&effective.journey)
        .await?
        .map(|j| Rules::from_journey(&j))
        .unwrap_or_default();
    rules.zone = tree.zone_of(&node);
    rules.kiosks = tree.get(&node).map_or(0, |n| n.kiosks);
    let holidays = store.holidays().await?;
    if !holidays.is_empty() {
        rules.holidays = province_holidays(&tree, &holidays, hall);
    }
    Ok(rules)
}

/// `hall`'s node, if it is a hall or a centre of `tree`. Events name their hall; one not
/// in the organisation has no rules to follow (and `visit_event` keeps no foreign key to
/// check it, see migration 0015). A contact centre's events name it in `hall` and come
/// the same way (issue 22).
fn leaf_of(tree: &OrgTree, hall: &HallId) -> Result<OrgNodeId> {
    let node = OrgNodeId::parse(hall.as_str()).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if tree.get(&node).is_none_or(|n| !n.level.is_leaf()) {
        return Err(StoreError::NotFound(format!(
            "`{hall}` is not a hall or centre of the organisation"
        )));
    }
    Ok(node)
}

/// Each hall's rules from the journey it lives by, read once for a report over many
/// halls: the tree, the assignments, the holidays and the rules of each journey in use.
#[derive(Debug)]
pub struct RulesBook {
    tree: OrgTree,
    assignments: Assignments,
    holidays: Vec<Holiday>,
    journeys: HashMap<JourneyKey, Rules>,
}

impl RulesBook {
    pub async fn load(store: &dyn Store) -> Result<RulesBook> {
        let tree = store.org_tree().await?;
        let assignments = store.journey_assignments().await?;
        let mut journeys = HashMap::new();
        let builtin = JourneyKey::parse(peakend_core::builtin::SERVICE_HALL)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // A centre's default journey (see `assignment::default_journey`).
        let hotline = JourneyKey::parse(peakend_core::builtin::HOTLINE)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for key in assignments
            .iter()
            .map(|(_, k)| k)
            .chain([&builtin, &hotline])
        {
            if !journeys.contains_key(key) {
                let rules = store
                    .journey(key)
                    .await?
                    .map(|j| Rules::from_journey(&j))
                    .unwrap_or_default();
                journeys.insert(key.clone(), rules);
            }
        }
        Ok(RulesBook {
            tree,
            assignments,
            holidays: store.holidays().await?,
            journeys,
        })
    }

    /// The rules of the journey `node` lives by (the built-in journey's for `None`),
    /// without any province's holidays.
    pub fn node(&self, node: Option<&OrgNodeId>) -> Rules {
        let key = match node {
            Some(n) => self.assignments.effective(&self.tree, n).journey,
            None => match JourneyKey::parse(peakend_core::builtin::SERVICE_HALL) {
                Ok(k) => k,
                Err(_) => return Rules::default(),
            },
        };
        self.journeys.get(&key).cloned().unwrap_or_default()
    }

    /// The hall's rules, with its province's holidays and its zone.
    pub fn hall(&self, hall: &HallId) -> Rules {
        let node = OrgNodeId::parse(hall.as_str()).ok();
        let mut rules = self.node(node.as_ref());
        rules.holidays = province_holidays(&self.tree, &self.holidays, hall);
        if let Some(n) = &node {
            rules.zone = self.tree.zone_of(n);
            rules.kiosks = self.tree.get(n).map_or(0, |n| n.kiosks);
        }
        rules
    }

    /// [`hall`](Self::hall) for a hall or centre of the organisation only, as
    /// [`hall_rules`] answers it.
    pub fn leaf_hall(&self, hall: &HallId) -> Result<Rules> {
        leaf_of(&self.tree, hall)?;
        Ok(self.hall(hall))
    }

    pub fn tree(&self) -> &OrgTree {
        &self.tree
    }
}

/// A hall's day from `start` (its local midnight) to `until`, replayed from its stored
/// events and the kiosk faults it carries in from earlier days: what the queue,
/// alerts, kiosks and the live stream show.
pub async fn replay_day(
    store: &dyn Store,
    hall: &HallId,
    rules: Rules,
    start: i64,
    until: i64,
) -> Result<HallDay> {
    // Three reads at once (the carried faults and trials, and the events): under load
    // each trip to the database waits its turn.
    let (mut day, events) = tokio::try_join!(
        carried_day(store, hall, rules, start),
        store.hall_events(hall, start, until + 1),
    )?;
    for e in &events {
        let _ = day.apply(e);
    }
    day.advance_to(until);
    Ok(day)
}

/// A hall's day at `start` (its local midnight) before any of its events: with the
/// kiosk faults and the data trials it carries in from earlier days.
async fn carried_day(
    store: &dyn Store,
    hall: &HallId,
    rules: Rules,
    start: i64,
) -> Result<HallDay> {
    let before = peakend_core::ops::rollup::rollup_day(start - 1, rules.zone).0;
    let (faults, open) = tokio::try_join!(
        store.kiosk_faults(hall, start),
        open_trials_of(store, hall, &rules, before),
    )?;
    let carried = ingest::carried_in(faults, start);
    let mut day = HallDay::with_carry(rules, &carried);
    day.carry_trials(&open, start);
    Ok(day)
}

/// A hall's day kept between a live board's looks: the stored events applied so far,
/// its clock at the last of them, so a look reads and applies only the day's tail and
/// advances a copy to now (advancing the kept day would raise a wait alert that an
/// event sent before the look but stored after it would have prevented). The whole
/// day is replayed again when the day or the rules changed, when the count of the
/// day's events says something arrived before the tail (a device's late event, an
/// erasure), and every [`LiveDay::REBASE`] for what the day carries in from earlier
/// days (kiosk faults, open trials).
#[derive(Debug, Clone)]
pub struct LiveDay {
    start: i64,
    rules: Rules,
    day: HallDay,
    /// The stored events read so far (applied, or refused by the day's rules).
    read: u64,
    /// The last event read.
    last: ingest::LastEvent,
    based_at: std::time::Instant,
    /// How many looks replayed the whole day (what tests and the debug log read).
    pub replays: u64,
}

impl LiveDay {
    /// The longest a live look goes on from one whole replay.
    pub const REBASE: std::time::Duration = std::time::Duration::from_secs(30);

    /// The hall's day from `start` (its local midnight) to `until`, as
    /// [`replay_day`] makes it, reusing `kept` (what the previous look returned) when
    /// it can: the day at `until`, and what to keep for the next look.
    pub async fn look(
        kept: Option<LiveDay>,
        store: &dyn Store,
        hall: &HallId,
        rules: Rules,
        start: i64,
        until: i64,
    ) -> Result<(HallDay, LiveDay)> {
        let replays = kept.as_ref().map_or(0, |k| k.replays);
        let reusable = kept.filter(|k| {
            k.start == start && k.rules == rules && k.based_at.elapsed() < Self::REBASE
        });
        let mut followed = None;
        if let Some(mut k) = reusable
            && k.read_tail(store, hall, until).await?
        {
            followed = Some(k);
        }
        let live = match followed {
            Some(k) => k,
            None => Self::replay(store, hall, rules, start, until, replays + 1).await?,
        };
        let mut day = live.day.clone();
        day.advance_to(until);
        Ok((day, live))
    }

    async fn replay(
        store: &dyn Store,
        hall: &HallId,
        rules: Rules,
        start: i64,
        until: i64,
        replays: u64,
    ) -> Result<LiveDay> {
        let day = carried_day(store, hall, rules.clone(), start).await?;
        let mut live = LiveDay {
            start,
            rules,
            day,
            read: 0,
            last: ingest::LastEvent::default(),
            based_at: std::time::Instant::now(),
            replays,
        };
        // A day that changes while it is read is read again whole on the next look.
        live.read_tail(store, hall, until).await?;
        Ok(live)
    }

    /// Reads the events after the last one read up to `until` and applies them; false
    /// when the day holds others not read (one stored before the tail, one at the last
    /// instant sorting before the last read, an erasure): it must be replayed whole.
    async fn read_tail(&mut self, store: &dyn Store, hall: &HallId, until: i64) -> Result<bool> {
        let from = self.last.at().unwrap_or(self.start);
        let (count, tail) = store
            .hall_events_tail(hall, self.start, from, until + 1)
            .await?;
        let fresh: Vec<&Event> = tail.iter().filter(|e| self.last.precedes(e)).collect();
        if self.read + fresh.len() as u64 != count {
            return Ok(false);
        }
        for e in fresh {
            let _ = self.day.apply(e);
            self.read += 1;
            self.last.note(e);
        }
        Ok(true)
    }
}

/// The data trials a hall's day (of its zone) left open: what the next day carries in
/// (issue 23). From the day's roll-up; a day without one (marked for replay, or no
/// events) is replayed on its own, which an empty day makes one indexed read. A
/// roll-up that does not read counts as none.
async fn open_trials_of(
    store: &dyn Store,
    hall: &HallId,
    rules: &Rules,
    day: NaiveDate,
) -> Result<Vec<peakend_core::ops::sales::Trial>> {
    match store.ops_rollup(hall, day).await {
        Ok(Some(r)) => return Ok(r.open_trials),
        Ok(None) | Err(StoreError::Corrupt(_)) => {}
        Err(e) => return Err(e),
    }
    let lo = local_midnight(day, rules.zone.offset_on(day));
    let next = day.succ_opt().unwrap_or(day);
    let hi = local_midnight(next, rules.zone.offset_on(next));
    let events = store.hall_events(hall, lo, hi).await?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    Ok(HallDay::replay(rules.clone(), &events, hi - 1).open_trials())
}

fn province_holidays(
    tree: &OrgTree,
    holidays: &[Holiday],
    hall: &HallId,
) -> std::collections::BTreeSet<NaiveDate> {
    holiday::province_of(tree, hall)
        .map(|p| holiday::dates_of(holidays, p))
        .unwrap_or_default()
}

/// A hall's days in [from, to) replayed, each local day (in `offset`) on its own, with
/// the rules brought up to the end of the day or to `now`, whichever is first.
pub async fn replay_hall(
    store: &dyn Store,
    hall: &HallId,
    rules: &Rules,
    from_ms: i64,
    to_ms: i64,
    offset: FixedOffset,
    now_ms: i64,
) -> Result<HallTickets> {
    Ok(
        replay_hall_days(store, hall, rules, from_ms, to_ms, offset, now_ms)
            .await?
            .tickets,
    )
}

/// A hall's days replayed by [`replay_hall_days`]: their tickets, and each day's data
/// trials.
pub struct ReplayedHall {
    pub tickets: HallTickets,
    pub trials: Vec<TrialRollup>,
}

/// [`replay_hall`] with the days' data trials: each day carries in the trials the day
/// before left open (the day replayed just before it, or for the first day the stored
/// roll-up of the day before), so a trial ended after midnight counts on its day.
pub async fn replay_hall_days(
    store: &dyn Store,
    hall: &HallId,
    rules: &Rules,
    from_ms: i64,
    to_ms: i64,
    offset: FixedOffset,
    now_ms: i64,
) -> Result<ReplayedHall> {
    let events = store.hall_events(hall, from_ms, to_ms).await?;
    let first = DateTime::from_timestamp_millis(from_ms)
        .map(|t| t.with_timezone(&offset).date_naive())
        .and_then(|d| d.pred_opt());
    let mut open = match first {
        Some(before) => open_trials_of(store, hall, rules, before).await?,
        None => Vec::new(),
    };
    let (hall, rules) = (hall.to_string(), rules.clone());
    let replay = move || {
        let mut days: BTreeMap<NaiveDate, Vec<Event>> = BTreeMap::new();
        for e in events {
            days.entry(e.at.with_timezone(&offset).date_naive())
                .or_default()
                .push(e);
        }
        let mut out = ReplayedHall {
            tickets: HallTickets {
                hall,
                tickets: Vec::new(),
            },
            trials: Vec::new(),
        };
        let mut previous = first;
        for (date, events) in days {
            // Only the day just before hands its open trials on.
            if previous != date.pred_opt() {
                open.clear();
            }
            let start = local_midnight(date, offset);
            let end = local_midnight(date.succ_opt().unwrap_or(date), offset);
            let mut day = HallDay::new(rules.clone());
            day.carry_trials(&open, start);
            for e in &events {
                let _ = day.apply(e);
            }
            day.advance_to(end.min(now_ms) - 1);
            out.tickets.tickets.extend(day.tickets().cloned());
            if day.trials().next().is_some() {
                out.trials.push(TrialRollup::of(day.trials(), |t| {
                    day.ticket(t)?.staff.clone()
                }));
            }
            open = day.open_trials();
            previous = Some(date);
        }
        out
    };
    // Off the async threads, so that the halls of a report replay on every core.
    tokio::task::spawn_blocking(replay)
        .await
        .map_err(|e| StoreError::Corrupt(format!("replay failed: {e}")))
}

/// Milliseconds at 00:00 of `date` in `offset`.
pub fn local_midnight(date: NaiveDate, offset: FixedOffset) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .and_then(|m| m.and_local_timezone(offset).single())
        .map_or(0, |m| m.timestamp_millis())
}

/// Which tickets a KPI report covers.
#[derive(Debug, Clone)]
pub struct KpiQuery<'a> {
    pub org: Option<&'a OrgNodeId>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub bucket: Bucket,
    /// The halls' UTC offset, for days and hour buckets (default: the node's zone).
    pub offset: FixedOffset,
    pub now_ms: i64,
}

/// The KPIs of the halls at or below a node over whole local days [from, to].
pub async fn stored_kpis(store: &dyn Store, q: &KpiQuery<'_>) -> Result<KpiReport> {
    stored_kpis_grouped(store, q, HashMap::new()).await
}

/// [`stored_kpis`] with the halls also summed by group (hall id → group key), into
/// [`KpiReport::groups`]: a city's districts, say, from the same read.
pub async fn stored_kpis_grouped(
    store: &dyn Store,
    q: &KpiQuery<'_>,
    group_of: HashMap<String, String>,
) -> Result<KpiReport> {
    let tree = store.org_tree().await?;
    let halls: Vec<HallId> = match query_halls(&tree, q.org)? {
        Some(h) => h,
        None => store
            .org_nodes()
            .await?
            .iter()
            .filter_map(|n| n.hall_id())
            .collect(),
    };
    // The report measures its service level against the standard of the node it is
    // about; each hall's replay follows the journey that hall lives by.
    let book = RulesBook::load(store).await?;
    let rules = book.node(q.org);
    let mut sums = ReportSums::new(rules.measure(), q.bucket, q.offset)
        .with_tier_targets(rules.tiers.clone())
        .with_groups(group_of);
    // Whole days at the roll-ups' own offset come from the ingest's roll-ups; only the
    // hall-days a roll-up cannot answer for are replayed. Every hall-day with stored
    // events has a roll-up row, so a missing row is a day without tickets.
    // A hall's roll-ups are kept per day of its own zone: they answer a report at the
    // same offset; a hall in another zone is replayed at the report's.
    let mut replay: Vec<(HallId, i64, i64)> = Vec::new();
    let (at_offset, other): (Vec<HallId>, Vec<HallId>) = halls.into_iter().partition(|h| {
        OrgNodeId::parse(h.as_str()).is_ok_and(|n| {
            let zone = book.tree().zone_of(&n);
            zone.offset_on(q.from) == q.offset && zone.offset_on(q.to) == q.offset
        })
    });
    if !at_offset.is_empty() {
        for (hall, date, rollup) in store
            .ops_rollups(Some(&at_offset), q.from, q.to, RollupRead::WithDetail)
            .await?
        {
            let lo = local_midnight(date, q.offset);
            let hi = local_midnight(date.succ_opt().unwrap_or(date), q.offset);
            let answered =
                rollup.is_some_and(|r| sums.add_rollup(hall.as_str(), &r, hi.min(q.now_ms) - 1));
            if !answered {
                replay.push((hall, lo, hi));
            }
        }
    }
    // A hall's consecutive days to replay, replayed together: each hands the next its
    // open data trials without a read.
    replay.sort();
    replay.dedup();
    let mut joined: Vec<(HallId, i64, i64)> = Vec::with_capacity(replay.len());
    for (hall, lo, hi) in replay {
        match joined.last_mut() {
            Some(last) if last.0 == hall && last.2 == lo => last.2 = hi,
            _ => joined.push((hall, lo, hi)),
        }
    }
    let mut replay = joined;
    let from = local_midnight(q.from, q.offset);
    let to = local_midnight(q.to.succ_opt().unwrap_or(q.to), q.offset);
    replay.extend(other.into_iter().map(|h| (h, from, to)));
    let calls = stored_call_report(store, &book, q).await?;
    if replay.is_empty() {
        let mut report = sums.report();
        report.calls = calls;
        return Ok(report);
    }
    // A few halls at a time: one reads while others parse and replay.
    let jobs: Vec<(HallId, Rules, i64, i64)> = replay
        .into_iter()
        .map(|(hall, lo, hi)| {
            let rules = book.hall(&hall);
            (hall, rules, lo, hi)
        })
        .collect();
    let (offset, now_ms) = (q.offset, q.now_ms);
    let replayed: Vec<ReplayedHall> =
        stream::iter(jobs.into_iter().map(|(hall, rules, lo, hi)| async move {
            replay_hall_days(store, &hall, &rules, lo, hi, offset, now_ms).await
        }))
        .buffered(4)
        .try_collect()
        .await?;
    for h in &replayed {
        sums.add_tickets(&h.tickets.hall, &h.tickets.tickets);
        for t in &h.trials {
            sums.add_trials(&h.tickets.hall, t);
        }
    }
    let mut report = sums.report();
    report.calls = calls;
    Ok(report)
}

/// The `calls` section of a KPI report: the contact centres at or below the node, over
/// the local days [from, to] of each centre's zone, from the ingest's roll-ups (a
/// centre-day marked for replay is replayed). First-contact resolution reads the
/// centres' calls of known customers from `customer_contact` (by when they ended or
/// were abandoned), those of the 7 days after the period too: a repeat may come then.
async fn stored_call_report(
    store: &dyn Store,
    book: &RulesBook,
    q: &KpiQuery<'_>,
) -> Result<Option<peakend_core::ops::call::CallReport>> {
    use peakend_core::customer::ABANDONED;
    use peakend_core::ops::call::{
        CallBucket, CallContact, CallReportSums, CallRollup, FCR_WINDOW_MS,
    };
    let tree = book.tree();
    let centres: HashSet<HallId> = match q.org {
        Some(n) => tree.subtree(n),
        None => tree.nodes().iter().collect(),
    }
    .into_iter()
    .filter(|n| n.level == peakend_core::OrgLevel::Centre)
    .filter_map(|n| HallId::parse(n.id.as_str()).ok())
    .collect();
    if centres.is_empty() {
        return Ok(None);
    }
    let bucket = match q.bucket {
        Bucket::HalfHour => CallBucket::HalfHour,
        Bucket::Hour => CallBucket::Hour,
        Bucket::Day => CallBucket::Day,
    };
    let mut sums = CallReportSums::new(bucket, q.offset);
    let listed: Vec<HallId> = centres.iter().cloned().collect();
    for (centre, date, rollup) in store
        .ops_rollups(Some(&listed), q.from, q.to, RollupRead::Summary)
        .await?
    {
        let calls = match rollup {
            Some(r) => r.calls,
            None => {
                let rules = book.hall(&centre);
                let offset = rules.zone.offset_on(date);
                let lo = local_midnight(date, offset);
                let hi = local_midnight(date.succ_opt().unwrap_or(date), offset);
                let events = store.hall_events(&centre, lo, hi).await?;
                let day = HallDay::replay(rules.clone(), &events, hi);
                CallRollup::of(day.calls(), rules.calls)
            }
        };
        if let Some(calls) = calls {
            sums.add_rollup(centre.as_str(), &calls);
        }
    }
    // First-contact resolution: the centre's calls of known customers in the period,
    // and those of the 7 days after it, where a repeat may come.
    for centre in &centres {
        let zone = book.hall(centre).zone;
        let lo = local_midnight(q.from, zone.offset_on(q.from));
        let end = q.to.succ_opt().unwrap_or(q.to);
        let hi = local_midnight(end, zone.offset_on(end));
        for c in store
            .hotline_contacts(centre, lo, hi + FCR_WINDOW_MS + 1)
            .await?
        {
            let handled = c.outcome.as_deref() != Some(ABANDONED);
            sums.add_contact(
                CallContact {
                    customer: c.customer_key,
                    at: c.at,
                    handled,
                    resolved: c.resolved,
                },
                c.at < hi,
            );
        }
    }
    Ok(sums.report(q.now_ms))
}

/// Day-level operations of a set of halls: what an overview shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DayOps {
    pub total: Kpis,
    pub halls: BTreeMap<HallId, Kpis>,
    /// The sums behind `halls`, to add up a group of halls (a child node's).
    pub hall_sums: BTreeMap<HallId, KpiSums>,
    /// Care alerts open now and not acknowledged, per hall with events today.
    pub open_care: BTreeMap<HallId, usize>,
}

/// The KPIs of `halls` over whole local days [from, to] of each hall's zone, and their care
/// alerts open at `now_ms`: from the ingest's roll-ups, replaying only the hall-days a
/// roll-up cannot answer for (marked for replay, another `care_after`, or events
/// stored after `now_ms` for the open alerts). Equals [`stored_kpis`] with
/// [`Bucket::Day`] and a replay of each hall's day up to now.
pub async fn stored_day_ops(
    store: &dyn Store,
    halls: &[HallId],
    from: NaiveDate,
    to: NaiveDate,
    now_ms: i64,
) -> Result<DayOps> {
    let wanted: HashSet<&HallId> = halls.iter().collect();
    // Each hall on the rules of the journey it lives by (its own `care_after`), and on
    // the days of its own zone.
    let book = RulesBook::load(store).await?;
    let zone_of = |h: &HallId| {
        OrgNodeId::parse(h.as_str())
            .map(|n| book.tree().zone_of(&n))
            .unwrap_or_default()
    };
    let today_of = |h: &HallId| zone_of(h).local(now_ms).map_or(from, |t| t.date_naive());
    let midnight_of =
        |h: &HallId, date: NaiveDate| local_midnight(date, zone_of(h).offset_on(date));
    let mut sums: BTreeMap<HallId, KpiSums> = BTreeMap::new();
    let mut open_care: BTreeMap<HallId, usize> = BTreeMap::new();
    // Hall-days to replay, and halls whose open care alerts need a replay.
    let mut replay_days: Vec<(HallId, NaiveDate)> = Vec::new();
    let mut replay_care: Vec<HallId> = Vec::new();
    let mut care_now: Vec<(HallId, Vec<(String, i64)>)> = Vec::new();
    let mut rows: BTreeMap<(HallId, NaiveDate), Option<DayRollup>> = store
        .ops_rollups(Some(halls), from, to, RollupRead::Summary)
        .await?
        .into_iter()
        .map(|(h, d, r)| ((h, d), r))
        .collect();
    // Today's roll-up of each hall whose today (in its zone) is outside the period, for
    // its open alerts: only those halls' rows of that day are read.
    let mut outside: BTreeMap<NaiveDate, Vec<HallId>> = BTreeMap::new();
    for h in halls {
        let t = today_of(h);
        if t < from || t > to {
            outside.entry(t).or_default().push(h.clone());
        }
    }
    for (day, these) in outside {
        for (h, d, r) in store
            .ops_rollups(Some(&these), day, day, RollupRead::Summary)
            .await?
        {
            rows.entry((h, d)).or_insert(r);
        }
    }
    for ((hall, date), rollup) in rows {
        if !wanted.contains(&hall) {
            continue;
        }
        let measure = book
            .node(OrgNodeId::parse(hall.as_str()).ok().as_ref())
            .measure();
        let rollup = rollup.filter(|r| r.measure() == measure);
        if date == today_of(&hall) {
            match rollup.as_ref().and_then(|r| r.open_care_at(now_ms)) {
                Some(open) => care_now.push((
                    hall.clone(),
                    open.into_iter().map(|(t, at)| (t.to_owned(), at)).collect(),
                )),
                None => replay_care.push(hall.clone()),
            }
        }
        if date < from || date > to {
            continue;
        }
        match rollup {
            Some(r) => {
                let end = midnight_of(&hall, date.succ_opt().unwrap_or(date));
                let s = sums.entry(hall).or_default();
                s.merge(&r.sums_at(end.min(now_ms) - 1));
                // The day's data trials are kept beside the tickets' sums.
                if let Some(t) = &r.trials {
                    s.sales.trials.merge(&t.total);
                }
            }
            None => replay_days.push((hall, date)),
        }
    }
    for (hall, date) in replay_days {
        let rules = book.hall(&hall);
        let measure = rules.measure();
        let offset = zone_of(&hall).offset_on(date);
        let lo = local_midnight(date, offset);
        let hi = local_midnight(date.succ_opt().unwrap_or(date), offset);
        let day = replay_hall_days(store, &hall, &rules, lo, hi, offset, now_ms).await?;
        let s = sums.entry(hall).or_default();
        day.tickets.tickets.iter().for_each(|t| s.add(t, measure));
        day.trials
            .iter()
            .for_each(|t| s.sales.trials.merge(&t.total));
    }
    // The open alerts were raised today: acknowledgements since the earliest of those
    // halls' midnights.
    let acks = match care_now
        .iter()
        .map(|(h, _)| midnight_of(h, today_of(h)))
        .min()
    {
        None => HashSet::new(),
        Some(since) => store.care_acks_since(since).await?,
    };
    for (hall, open) in care_now {
        let n = open
            .into_iter()
            .filter(|(ticket, at)| !acks.contains(&(hall.clone(), ticket.clone(), *at)))
            .count();
        open_care.insert(hall, n);
    }
    for hall in replay_care {
        let rules = book.hall(&hall);
        let midnight = midnight_of(&hall, today_of(&hall));
        let events = store.hall_events(&hall, midnight, now_ms + 1).await?;
        if events.is_empty() {
            continue;
        }
        let day = HallDay::replay(rules.clone(), &events, now_ms);
        let acked = store.alert_acks(&hall).await?;
        let n = day
            .alerts()
            .iter()
            .filter(|a| a.kind == AlertKind::CareDue && a.cleared_at.is_none())
            .filter(|a| !acked.contains_key(&a.key()))
            .count();
        open_care.insert(hall, n);
    }
    let mut total = KpiSums::default();
    sums.values().for_each(|s| total.merge(s));
    Ok(DayOps {
        total: total.kpis(),
        halls: sums.iter().map(|(h, s)| (h.clone(), s.kpis())).collect(),
        hall_sums: sums,
        open_care,
    })
}
