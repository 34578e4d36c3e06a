//! One hall's event batch, applied: which events are new, which local days they touch,
//! the replay that judges them and the day roll-up to keep. The database work is the
//! [`IngestTx`] a backend gives (a PostgreSQL transaction through sqlx; on SQLite the
//! writer thread's own connection, see `sqlite_writer.rs`), so both backends apply a
//! batch by the same steps.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::NaiveDate;
use peakend_core::HallId;
use peakend_core::case::{NewCase, case_of_event};
use peakend_core::customer::{EndedContact, abandoned_contact, ended_contact};
use peakend_core::ops::day::{HallDay, KioskFault, Rules};
use peakend_core::ops::event::{Event, EventKind};
use peakend_core::ops::rollup::{DayRollup, LiveRollup, rollup_day};
use peakend_core::ops::sales::Trial;

use crate::{IngestOutcome, Rejected, Result, StoreError};

/// An event of a batch: its position (1-based line), the event and its text as received.
pub(crate) type Item = (usize, Event, String);
/// A refused event: position, reason, text.
pub(crate) type Refusal = (usize, String, String);
/// Where an event to replay comes from.
enum Origin {
    Stored,
    /// This batch: its position and text.
    New(usize, String),
    /// Quarantine, judged again: its rows there and its text.
    Held(Vec<i64>, String),
}

/// An event refused by this batch: its position, reason and text, and when a later
/// event may make it valid (a transition its ticket or kiosk was not ready for), its
/// time and subject, to be judged again when that subject's events come.
struct Refused {
    pos: usize,
    reason: String,
    payload: String,
    held: Option<(i64, String)>,
}

/// What a later event must be about to make a refused event valid: its ticket or its
/// kiosk (a ticket and a kiosk may share a name).
fn subject(e: &Event) -> Option<String> {
    match &e.kind {
        EventKind::KioskFault { kiosk, .. } | EventKind::KioskRestored { kiosk } => {
            Some(format!("kiosk:{kiosk}"))
        }
        // An arrival for a booking waits for its booking (it makes the ticket), and a
        // booking's events release what waits for it.
        EventKind::Arrived {
            booking: Some(b), ..
        }
        | EventKind::Booking { booking: b, .. }
        | EventKind::BookingCancelled { booking: b } => Some(format!("booking:{b}")),
        kind => match kind.call_id() {
            Some(c) => Some(format!("call:{c}")),
            None => kind.ticket().map(|t| format!("ticket:{t}")),
        },
    }
}

/// The subjects whose held events an applied event may make valid: its own, and for an
/// arrival on a booking also the ticket that arrival makes (a `called` sent before the
/// arrival waits on the ticket, not on the booking).
fn releases(e: &Event) -> impl Iterator<Item = String> {
    let ticket = match &e.kind {
        EventKind::Arrived {
            ticket,
            booking: Some(_),
        } => Some(format!("ticket:{ticket}")),
        _ => None,
    };
    subject(e).into_iter().chain(ticket)
}

/// The database side of an ingest, inside the transaction that applies the batch.
/// On SQLite these do their work synchronously and never wait.
pub(crate) trait IngestTx {
    /// The ids among `ids` already stored for the hall.
    async fn stored_ids(&mut self, hall: &HallId, ids: &[&str]) -> Result<HashSet<String>>;
    /// How many events the hall's day starting at `lo` holds, as `event_day` keeps it
    /// (none for a day that no ingest has counted since the table was made).
    async fn day_events(&mut self, hall: &HallId, lo: i64) -> Result<Option<i64>>;
    /// Sets that count (the caller has read or applied every event of the day in this
    /// transaction, under the hall's write lock).
    async fn set_day_events(&mut self, hall: &HallId, lo: i64, events: i64) -> Result<()>;
    /// Payloads of the hall's stored events with `at` in [lo, hi), in any order.
    async fn payloads(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<Vec<String>>;
    async fn insert_events(
        &mut self,
        hall: &HallId,
        now: i64,
        rows: &[(Event, String)],
    ) -> Result<()>;
    /// Inserts the events (position, event, text) if none of their ids is stored for
    /// the hall, in one step that finds that out (`true`); otherwise inserts nothing
    /// and leaves the transaction usable (`false`), and the caller looks the ids up.
    /// A store that finds out no cheaper than by looking up answers `false` at once.
    async fn insert_new(&mut self, hall: &HallId, now: i64, rows: &[Item]) -> Result<bool>;
    /// Deletes the hall's events of these ids (written by `insert_new` in this
    /// transaction, then found not to apply).
    async fn delete_events(&mut self, hall: &HallId, ids: &[String]) -> Result<()>;
    /// The hall's kiosk faults reported in [`before` − 90 days, `before`): what a day
    /// starting at `before` carries in (open ones: not restored before it).
    async fn kiosk_faults(&mut self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>>;
    /// Records applied `kiosk_fault` (a new fault) and `kiosk_restored` (the open fault
    /// of that kiosk restored) events, in order.
    async fn record_kiosks(&mut self, hall: &HallId, events: &[&Event]) -> Result<()>;
    /// A hall-day's stored roll-up as JSON (`None`: no row, or marked for replay).
    async fn rollup(&mut self, hall: &HallId, day: NaiveDate) -> Result<Option<String>>;
    /// Sets a hall-day's roll-up and its breakdown (`None`: replay that day).
    async fn put_rollup(
        &mut self,
        hall: &HallId,
        day: NaiveDate,
        rollup: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()>;
    /// Quarantines an event unless the same event was quarantined for the same reason;
    /// `held` (its time and subject) when a later event may make it valid.
    async fn quarantine(
        &mut self,
        hall: &HallId,
        now: i64,
        reason: &str,
        payload: &str,
        held: Option<(i64, &str)>,
    ) -> Result<()>;
    /// Whether any quarantined event of the hall in [lo, hi) waits to be judged again.
    async fn any_held(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<bool>;
    /// Those about one of `subjects`: (quarantine row, text).
    async fn held(
        &mut self,
        hall: &HallId,
        lo: i64,
        hi: i64,
        subjects: &[&str],
    ) -> Result<Vec<(i64, String)>>;
    /// Takes quarantined events out (they are applied now).
    async fn release(&mut self, rows: &[i64]) -> Result<()>;
    /// Opens the cases applied events open, once per cause (see
    /// [`crate::cases::sql::INSERT_CASE`], `open_cases!`), each with the first line of its timeline
    /// and its webhook deliveries. Returns how many were new.
    async fn open_cases(&mut self, cases: &[NewCase], now: i64) -> Result<usize>;
    /// Records the ended contacts of known customers in `customer_contact`
    /// ([`INSERT_CUSTOMER_CONTACT`]), once per contact: a replay adds nothing.
    async fn record_contacts(&mut self, contacts: &[&EndedContact]) -> Result<()>;
    /// Queues ended contacts for their survey invitations ([`INSERT_INVITE_PENDING`]).
    async fn queue_invitations(&mut self, contacts: &[&EndedContact]) -> Result<()>;
}

/// How many halls' days an ingest keeps (a province of 2,000 halls fits); beyond that
/// the cache starts over.
const DAY_CACHE_HALLS: usize = 4096;

/// Keeps a hall's committed day for its next batch, within [`DAY_CACHE_HALLS`].
pub(crate) fn keep_day(days: &mut HashMap<HallId, CachedDay>, hall: HallId, day: CachedDay) {
    if days.len() >= DAY_CACHE_HALLS {
        days.clear();
    }
    days.insert(hall, day);
}

/// A hall's day replayed over its stored events in [lo, hi) after a commit, and its
/// roll-up, so the next batch of the same day need not re-read and replay them: it
/// costs what it changes, whatever the size of the day.
#[derive(Debug)]
pub(crate) struct CachedDay {
    lo: i64,
    hi: i64,
    /// Rows of the hall in `visit_event` with `at` in [lo, hi).
    stored: i64,
    /// The last stored event (in replay order).
    last: LastEvent,
    day: HallDay,
    rollup: LiveRollup,
}

impl CachedDay {
    fn note(&mut self, e: &Event) {
        self.last.note(e);
    }

    /// Applying `first` and what sorts after it to this day equals replaying the stored
    /// events with them: it sorts after every stored event.
    fn precedes(&self, first: Option<&Event>) -> bool {
        first.is_none_or(|e| self.last.precedes(e))
    }
}

/// The replay key of the last event a kept day has applied: a kept day (the ingest's,
/// a live board's) may go on with an event only if it sorts after that one.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastEvent(Option<(i64, u8, String)>);

impl LastEvent {
    /// `e` sorts after the last event (any event does when none was applied).
    pub(crate) fn precedes(&self, e: &Event) -> bool {
        self.0
            .as_ref()
            .is_none_or(|l| e.replay_key() > (l.0, l.1, l.2.as_str()))
    }

    /// Keeps `e` if it sorts after the last event.
    pub(crate) fn note(&mut self, e: &Event) {
        if self.precedes(e) {
            let (at, rank, id) = e.replay_key();
            self.0 = Some((at, rank, id.to_owned()));
        }
    }

    /// When the last event happened.
    pub(crate) fn at(&self) -> Option<i64> {
        self.0.as_ref().map(|l| l.0)
    }
}

/// Part of a batch: its events and its refused lines.
pub(crate) type Part = (Vec<Item>, Vec<Refusal>);

/// A batch cut into parts of at most `size` events that, applied one after the other,
/// apply it: its events in replay order (so each part sorts after the ones before),
/// a repeated id left out after its first (counted in the outcome returned, as the
/// whole batch would count it), the refused lines with the first part. A batch of at
/// most `size` events is one part, as it came.
pub(crate) fn parts(
    events: Vec<Item>,
    refused: Vec<Refusal>,
    size: usize,
) -> (Vec<Part>, IngestOutcome) {
    let mut outcome = IngestOutcome::default();
    if events.len() <= size {
        return (vec![(events, refused)], outcome);
    }
    let mut seen = HashSet::with_capacity(events.len());
    // Each event's day once, not once per comparison of the sort.
    let mut events: Vec<((i64, i64), Item)> = events
        .into_iter()
        .filter(|(_, e, _)| {
            let first = seen.insert(e.id.clone());
            outcome.duplicates += usize::from(!first);
            first
        })
        .map(|item| (day_bounds(&item.1), item))
        .collect();
    events.sort_by(|(a_day, a), (b_day, b)| {
        (a_day, a.1.replay_key()).cmp(&(b_day, b.1.replay_key()))
    });
    let mut parts = Vec::with_capacity(events.len() / size + 1);
    let mut refused = Some(refused);
    let mut rest = events.into_iter().map(|(_, item)| item).peekable();
    while rest.peek().is_some() {
        let part: Vec<Item> = rest.by_ref().take(size).collect();
        parts.push((part, refused.take().unwrap_or_default()));
    }
    (parts, outcome)
}

/// The local day [midnight, next midnight) of an event, at its own offset, in ms.
fn day_bounds(e: &Event) -> (i64, i64) {
    let midnight =
        e.at.date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists");
    let start = midnight
        .and_local_timezone(*e.at.offset())
        .single()
        .map_or(e.at_ms(), |d| d.timestamp_millis());
    (start, start + 86_400_000)
}

/// Applies one hall's batch on `db` on the hall's `rules` (its journey's standards, its
/// province's holidays), given the hall's day as the last committed ingest left it (if
/// any). Returns what happened and the day to keep once `db` commits.
/// When a batch is applied, and whether the contacts it ends are queued for their
/// survey invitations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applying {
    pub now: i64,
    pub invite: bool,
}

pub(crate) async fn apply_batch(
    db: &mut impl IngestTx,
    hall: &HallId,
    rules: &Rules,
    events: Vec<Item>,
    refused: Vec<Refusal>,
    mut cached: Option<CachedDay>,
    Applying { now, invite }: Applying,
) -> Result<(IngestOutcome, Option<CachedDay>)> {
    let mut outcome = IngestOutcome::default();
    // Known customers' abandoned calls: their timeline's, never invited.
    let mut abandoned: Vec<EndedContact> = Vec::new();
    let mut quarantine: Vec<Refused> = refused
        .into_iter()
        .map(|(pos, reason, payload)| Refused {
            pos,
            reason,
            payload,
            held: None,
        })
        .collect();
    // A batch may repeat an id: the first one counts.
    let mut seen = HashSet::new();
    // Ticket names start over each day, so each local day the batch touches is judged
    // against its own stored events (one replayed day each), all in one transaction.
    let mut by_day: BTreeMap<(i64, i64), Vec<Item>> = BTreeMap::new();
    for (pos, e, payload) in events {
        if e.hall != *hall {
            let reason = format!("event for hall `{}` in a batch of hall `{hall}`", e.hall);
            quarantine.push(Refused {
                pos,
                reason,
                payload,
                held: None,
            });
        } else if seen.insert(e.id.clone()) {
            by_day
                .entry(day_bounds(&e))
                .or_default()
                .push((pos, e, payload));
        } else {
            outcome.duplicates += 1;
        }
    }
    let mut last_day = None;
    // Subjects a day's held events are judged again for though the batch has no event
    // of theirs: a `trial_ended` held on the day after a late `trial_started` (issue 23).
    let mut rejudge: BTreeMap<(i64, i64), BTreeSet<String>> = BTreeMap::new();
    while let Some(((lo, hi), fresh)) = by_day.pop_first() {
        let also = rejudge.remove(&(lo, hi)).unwrap_or_default();
        let mut fresh = fresh;
        fresh.sort_by(|a, b| a.1.replay_key().cmp(&b.1.replay_key()));
        // The cached day stands for the stored one only if nobody else wrote to the
        // hall's day since (rows are only ever added, so `event_day`'s count tells;
        // another process may share the database), no held event joins the replay, and
        // every new event sorts after the stored ones: then applying the new events to
        // it equals replaying everything. A day replayed on other rules (a journey
        // assigned since) is replayed again.
        let fits = |c: &CachedDay, first: Option<&Item>| {
            (c.lo, c.hi) == (lo, hi) && c.day.rules() == rules && c.precedes(first.map(|i| &i.1))
        };
        // Nothing held for the day (the usual batch): the events are written first,
        // claiming their ids, which tells in the same step that none was stored (a
        // store that can, see `IngestTx::insert_new`); one that then cannot be applied
        // is taken out again and quarantined. The stored day is read before.
        let alone = !fresh.is_empty() && also.is_empty() && !db.any_held(hall, lo, hi).await?;
        let mut base: Option<CachedDay> = None;
        let mut stored: Option<Vec<String>> = None;
        let mut written = false;
        if alone {
            base = still_kept(db, hall, cached.take(), |c| fits(c, fresh.first())).await?;
            if base.is_none() {
                stored = Some(db.payloads(hall, lo, hi).await?);
            }
            written = db.insert_new(hall, now, &fresh).await?;
        }
        let (new, held) = if written {
            (fresh, Vec::new())
        } else {
            let ids: Vec<&str> = fresh.iter().map(|(_, e, _)| e.id.as_str()).collect();
            let stored_ids = db.stored_ids(hall, &ids).await?;
            let mut new: Vec<Item> = Vec::with_capacity(fresh.len());
            for item in fresh {
                if stored_ids.contains(&item.1.id) {
                    outcome.duplicates += 1;
                } else {
                    new.push(item);
                }
            }
            if alone {
                (new, Vec::new())
            } else {
                // Quarantined events about the tickets and kiosks of the new ones,
                // judged again with them: an event that came before the one it follows
                // is applied once that one comes, so any arrival order gives the same
                // day.
                let held = held_for(db, hall, (lo, hi), &new, &also, &seen).await?;
                base = still_kept(db, hall, cached.take(), |c| {
                    held.is_empty() && fits(c, new.first())
                })
                .await?;
                (new, held)
            }
        };
        // A day read afresh sets its count even with no new event (the count is missing
        // for days stored before `event_day` was kept).
        let reread = base.is_none();
        // What to apply, in replay order: stored events only when the day is re-read
        // (a stored event that a late arrival now contradicts stays stored), then the
        // new ones and the held ones judged again.
        let (mut day, replay): (CachedDay, Vec<(Event, Origin)>) = match base {
            Some(c) => (
                c,
                new.into_iter()
                    .map(|(pos, e, p)| (e, Origin::New(pos, p)))
                    .collect(),
            ),
            None => {
                let stored = match stored.take() {
                    Some(stored) => stored,
                    None => db.payloads(hall, lo, hi).await?,
                };
                let carried = carried_in(db.kiosk_faults(hall, lo).await?, lo);
                let mut day = HallDay::with_carry(rules.clone(), &carried);
                // The data trials the day before left open, so that one ended after
                // midnight is accepted and counted today (issue 23).
                day.carry_trials(&open_trials_before(db, hall, lo, rules).await?, lo);
                day.track_changes();
                let day = CachedDay {
                    lo,
                    hi,
                    stored: stored.len() as i64,
                    last: LastEvent::default(),
                    day,
                    rollup: LiveRollup::new(rules.measure()),
                };
                let mut all = stored
                    .iter()
                    .map(|payload| {
                        Event::from_json(payload)
                            .map(|e| (e, Origin::Stored))
                            .map_err(|e| {
                                StoreError::Corrupt(format!("stored event of hall `{hall}`: {e}"))
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                all.extend(new.into_iter().map(|(pos, e, p)| (e, Origin::New(pos, p))));
                all.extend(
                    held.into_iter()
                        .map(|(rows, e, p)| (e, Origin::Held(rows, p))),
                );
                all.sort_by(|a, b| a.0.replay_key().cmp(&b.0.replay_key()));
                (day, all)
            }
        };
        let mut rows = Vec::with_capacity(replay.len());
        let mut released = Vec::new();
        // Written events that could not be applied after all.
        let mut unwritten: Vec<String> = Vec::new();
        let mut cases = Vec::new();
        // The case an event applied now opens, if any (stored events opened theirs
        // when they were applied).
        let mut open_case = |day: &HallDay, e: &Event| {
            let ticket = e.kind.ticket().and_then(|t| day.ticket(t));
            if let Some(c) = case_of_event(rules, e, ticket) {
                cases.push(c);
            }
        };
        for (e, origin) in replay {
            match (day.day.apply(&e), origin) {
                (Ok(()), Origin::New(_, payload)) => {
                    day.note(&e);
                    open_case(&day.day, &e);
                    outcome.ended.extend(ended_contact(&day.day, &e));
                    abandoned.extend(abandoned_contact(&day.day, &e));
                    rows.push((e, payload));
                }
                (Ok(()), Origin::Held(held_rows, payload)) => {
                    day.note(&e);
                    open_case(&day.day, &e);
                    outcome.ended.extend(ended_contact(&day.day, &e));
                    abandoned.extend(abandoned_contact(&day.day, &e));
                    rows.push((e, payload));
                    released.extend(held_rows);
                }
                (Err(reason), Origin::New(pos, payload)) => {
                    if written {
                        unwritten.push(e.id.clone());
                    }
                    quarantine.push(Refused {
                        pos,
                        reason,
                        held: subject(&e).map(|s| (e.at_ms(), s)),
                        payload,
                    })
                }
                // Still not valid: it stays where it is.
                (Err(_), Origin::Held(..)) => {}
                (_, Origin::Stored) => day.note(&e),
            }
        }
        day.rollup.update(&mut day.day);
        // The day's roll-up, when the replayed day is exactly one roll-up day;
        // otherwise the touched days are marked for replay.
        let touched: BTreeSet<(NaiveDate, i64, i64)> = rows
            .iter()
            .map(|(e, _)| rollup_day(e.at_ms(), rules.zone))
            .collect();
        let rollups: Vec<(NaiveDate, Option<RollupColumns>)> = match touched.first() {
            Some(&(date, start, end)) if touched.len() == 1 && (start, end) == (lo, hi) => {
                let r = day.rollup.rollup(day.last.at());
                vec![(date, Some(rollup_columns(r)?))]
            }
            _ => touched.iter().map(|(d, _, _)| (*d, None)).collect(),
        };
        if !unwritten.is_empty() {
            db.delete_events(hall, &unwritten).await?;
        }
        if !rows.is_empty() {
            if !written {
                db.insert_events(hall, now, &rows).await?;
            }
            let kiosks: Vec<&Event> = rows
                .iter()
                .map(|(e, _)| e)
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::KioskFault { .. } | EventKind::KioskRestored { .. }
                    )
                })
                .collect();
            if !kiosks.is_empty() {
                db.record_kiosks(hall, &kiosks).await?;
            }
        }
        if !cases.is_empty() {
            outcome.cases_opened += db.open_cases(&cases, now).await?;
        }
        for (date, columns) in rollups {
            let (summary, detail) = match &columns {
                Some((s, d)) => (Some(s.as_str()), d.as_deref()),
                None => (None, None),
            };
            db.put_rollup(hall, date, summary, detail).await?;
        }
        if !released.is_empty() {
            db.release(&released).await?;
        }
        outcome.released += released.len();
        outcome.accepted += rows.len() - released.len();
        day.stored += rows.len() as i64;
        if reread || !rows.is_empty() {
            db.set_day_events(hall, lo, day.stored).await?;
        }
        // A trial this pass started that is still open at the day's end is carried into
        // the next day: an end held there for want of its ticket is judged again now.
        let open: HashSet<&str> = day
            .day
            .trials()
            .filter(|t| t.is_open())
            .map(|t| t.trial.as_str())
            .collect();
        let carried: BTreeSet<String> = rows
            .iter()
            .filter_map(|(e, _)| match &e.kind {
                EventKind::TrialStarted {
                    trial,
                    ticket: Some(t),
                    ..
                } if open.contains(trial.as_str()) => Some(format!("ticket:{t}")),
                _ => None,
            })
            .collect();
        let next = (hi, hi + 86_400_000);
        if !carried.is_empty()
            && !by_day.contains_key(&next)
            && db.any_held(hall, next.0, next.1).await?
        {
            rejudge.insert(next, carried);
            by_day.insert(next, Vec::new());
        } else if by_day.contains_key(&next) {
            rejudge.entry(next).or_default().extend(carried);
        }
        last_day = Some(day);
    }
    // The customers' timeline, in the same transaction as the events that end contacts.
    let known: Vec<&EndedContact> = outcome
        .ended
        .iter()
        .chain(&abandoned)
        .filter(|c| c.customer.is_some())
        .collect();
    if !known.is_empty() {
        db.record_contacts(&known).await?;
    }
    // Queued for their invitations with the events that ended them: a crash after the
    // commit loses no decision. The decider drops those whose link would be dead by its
    // own clock (the halls' clock, which a demo or a test runs apart from this one).
    if invite && !outcome.ended.is_empty() {
        let ended: Vec<&EndedContact> = outcome.ended.iter().collect();
        db.queue_invitations(&ended).await?;
    }
    quarantine.sort_by_key(|r| r.pos);
    for r in &quarantine {
        // A batch sent again is reported again but quarantined once.
        let held = r.held.as_ref().map(|(at, s)| (*at, s.as_str()));
        db.quarantine(hall, now, &r.reason, &r.payload, held)
            .await?;
    }
    outcome.rejected = quarantine
        .into_iter()
        .map(|r| Rejected {
            line: r.pos,
            reason: r.reason,
        })
        .collect();
    Ok((outcome, last_day))
}

/// The kept day, if it `fits` the batch and still stands for the stored one: no other
/// writer added to the hall's day since (`event_day`'s count; rows are only added).
async fn still_kept(
    db: &mut impl IngestTx,
    hall: &HallId,
    cached: Option<CachedDay>,
    fits: impl FnOnce(&CachedDay) -> bool,
) -> Result<Option<CachedDay>> {
    match cached {
        Some(c) if fits(&c) => {
            Ok((db.day_events(hall, c.lo).await? == Some(c.stored)).then_some(c))
        }
        _ => Ok(None),
    }
}

/// The quarantined events of the hall's day [lo, hi) about the subjects of `new`, as
/// (their quarantine rows, the event, its text), one per event id, leaving out ids
/// the batch has or the day stores. One indexed read when nothing is held. Held events
/// found release in turn what waits on them (a booking releases its arrival, which
/// releases the `called` of its ticket), so one batch settles a whole chain. `also`
/// names subjects to judge again though no new event is about them.
async fn held_for(
    db: &mut impl IngestTx,
    hall: &HallId,
    (lo, hi): (i64, i64),
    new: &[Item],
    also: &BTreeSet<String>,
    batch_ids: &HashSet<String>,
) -> Result<Vec<(Vec<i64>, Event, String)>> {
    if (new.is_empty() && also.is_empty()) || !db.any_held(hall, lo, hi).await? {
        return Ok(Vec::new());
    }
    let mut asked: BTreeSet<String> = BTreeSet::new();
    let mut next: BTreeSet<String> = new.iter().flat_map(|(_, e, _)| releases(e)).collect();
    next.extend(also.iter().cloned());
    let mut by_id: BTreeMap<String, (Vec<i64>, Event, String)> = BTreeMap::new();
    // Each round asks only subjects not asked before, so it ends within as many rounds
    // as there are held events.
    while !next.is_empty() {
        let subjects: Vec<&str> = next.iter().map(String::as_str).collect();
        let found = db.held(hall, lo, hi, &subjects).await?;
        asked.append(&mut next);
        for (row, payload) in found {
            // Only events that parsed and belong to this day were held.
            let Ok(e) = Event::from_json(&payload) else {
                continue;
            };
            if e.hall != *hall || day_bounds(&e) != (lo, hi) || batch_ids.contains(&e.id) {
                continue;
            }
            match by_id.get_mut(&e.id) {
                Some(h) => h.0.push(row),
                None => {
                    next.extend(releases(&e).filter(|s| !asked.contains(s)));
                    by_id.insert(e.id.clone(), (vec![row], e, payload));
                }
            }
        }
    }
    let ids: Vec<&str> = by_id.keys().map(String::as_str).collect();
    let stored = db.stored_ids(hall, &ids).await?;
    Ok(by_id
        .into_iter()
        .filter(|(id, _)| !stored.contains(id))
        .map(|(_, h)| h)
        .collect())
}

/// A day roll-up as its two columns: the roll-up without its breakdown (JSON), and the
/// breakdown (see migration 0039).
pub(crate) type RollupColumns = (String, Option<String>);

pub(crate) fn rollup_columns(mut r: DayRollup) -> Result<RollupColumns> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let detail = r
        .detail
        .take()
        .map(|d| serde_json::to_string(&d))
        .transpose()
        .map_err(corrupt)?;
    Ok((serde_json::to_string(&r).map_err(corrupt)?, detail))
}

/// The data trials the hall's day before the one starting at `start` left open, from
/// that day's roll-up (none when it has no roll-up or is marked for replay). A roll-up
/// that does not read carries nothing: it must not stop today's events.
pub(crate) async fn open_trials_before(
    db: &mut impl IngestTx,
    hall: &HallId,
    start: i64,
    rules: &Rules,
) -> Result<Vec<Trial>> {
    let (before, _, _) = rollup_day(start - 1, rules.zone);
    Ok(db
        .rollup(hall, before)
        .await?
        .and_then(|json| serde_json::from_str::<DayRollup>(&json).ok())
        .map(|r| r.open_trials)
        .unwrap_or_default())
}

/// The faults a day starting at `start` carries in: a fault restored at or after the
/// start is still open then (its restore is replayed with the day).
pub(crate) fn carried_in(mut faults: Vec<KioskFault>, start: i64) -> Vec<KioskFault> {
    for f in &mut faults {
        if f.restored_at.is_some_and(|at| at >= start) {
            f.restored_at = None;
        }
    }
    faults
}

// ---------------------------------------------------------------- shared SQL
// The ingest's SQL in one place for both backends: PostgreSQL binds `$n` through sqlx,
// the SQLite writer the same text with `?n` markers (see `sqlite_writer::numbered`).

/// A hall's kiosk faults reported in [$3, $2) ($2: the start of the day replayed).
pub(crate) const SELECT_KIOSK_FAULTS: &str =
    "SELECT kiosk, fault_at, offset_s, fault, restored_at FROM kiosk_fault
     WHERE hall_id = $1 AND fault_at < $2 AND fault_at >= $3 ORDER BY fault_at";
pub(crate) const INSERT_KIOSK_FAULT: &str =
    "INSERT INTO kiosk_fault (hall_id, kiosk, fault_at, offset_s, fault)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hall_id, kiosk, fault_at) DO NOTHING";
/// The kiosk's open fault (there is one: the replay checked) restored at $3.
pub(crate) const RESTORE_KIOSK_FAULT: &str = "UPDATE kiosk_fault SET restored_at = $3
     WHERE hall_id = $1 AND kiosk = $2 AND restored_at IS NULL AND fault_at <= $3";

/// Quarantines an event unless the same event was quarantined for the same reason;
/// $5, $6: its time and subject when a later event may make it valid.
pub(crate) const QUARANTINE: &str =
    "INSERT INTO event_quarantine (hall_id, received_at, reason, payload, at, subject)
     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM event_quarantine
         WHERE hall_id = $1 AND reason = $3 AND payload = $4)";
pub(crate) const ANY_HELD: &str = "SELECT EXISTS (SELECT 1 FROM event_quarantine
     WHERE hall_id = $1 AND at >= $2 AND at < $3)";
/// The held events of the hall's day about subject $4, through the (hall, subject,
/// at) index: SQLite runs it once per subject on its own connection.
pub(crate) const HELD: &str = "SELECT id, payload FROM event_quarantine
     WHERE hall_id = $1 AND subject = $4 AND at >= $2 AND at < $3 ORDER BY id";
/// The same for every subject of the array $4 in one statement (PostgreSQL, where a
/// statement is a round trip), each subject one index lookup.
pub(crate) const HELD_ANY: &str = "SELECT q.id, q.payload FROM UNNEST($4::text[]) AS s (subject)
     CROSS JOIN LATERAL (SELECT id, payload FROM event_quarantine
         WHERE hall_id = $1 AND subject = s.subject AND at >= $2 AND at < $3) AS q
     ORDER BY q.id";
pub(crate) const RELEASE: &str = "DELETE FROM event_quarantine WHERE id = $1";
/// The same for the array of ids $1 (PostgreSQL).
pub(crate) const RELEASE_ANY: &str = "DELETE FROM event_quarantine WHERE id = ANY($1)";

/// The hall's stored events in [$2, $3), to replay a day.
pub(crate) const SELECT_PAYLOADS: &str =
    "SELECT payload FROM visit_event WHERE hall_id = $1 AND at >= $2 AND at < $3";
/// A hall-day's roll-up, if any.
pub(crate) const SELECT_ROLLUP: &str =
    "SELECT rollup FROM ops_rollup WHERE hall_id = $1 AND day = $2";
/// A hall-day's roll-up and its breakdown (a NULL roll-up: replay that day).
pub(crate) const PUT_ROLLUP: &str = "INSERT INTO ops_rollup (hall_id, day, rollup, detail)
     VALUES ($1, $2, $3, $4) ON CONFLICT (hall_id, day)
     DO UPDATE SET rollup = excluded.rollup, detail = excluded.detail";
pub(crate) const SELECT_DAY_EVENTS: &str =
    "SELECT events FROM event_day WHERE hall_id = $1 AND day_start = $2";
pub(crate) const SET_DAY_EVENTS: &str = "INSERT INTO event_day (hall_id, day_start, events)
     VALUES ($1, $2, $3) ON CONFLICT (hall_id, day_start) DO UPDATE SET events = excluded.events";

/// An ended contact queued for its invitation: contact id, hall, channel, customer,
/// segment, purpose, staff, counter, wait, outcome, when it ended. An append.
pub(crate) const INSERT_INVITE_PENDING: &str = "INSERT INTO invite_pending
     (contact_id, hall_id, channel, customer_key, segment, purpose, staff, counter, wait_s,
      outcome, ended_at, draw)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Binds an ended contact to [`INSERT_INVITE_PENDING`] (sqlx, either backend).
macro_rules! bind_pending {
    ($c:expr) => {{
        let c = $c;
        sqlx::query($crate::ingest::INSERT_INVITE_PENDING)
            .bind(&c.id)
            .bind(c.hall.as_str())
            .bind(&c.channel)
            .bind(&c.customer)
            .bind(&c.segment)
            .bind(&c.purpose)
            .bind(&c.staff)
            .bind(&c.counter)
            .bind(c.wait_s)
            .bind(&c.outcome)
            .bind(c.ended_at)
            .bind(peakend_core::invitation::draw(&c.id))
    }};
}
pub(crate) use bind_pending;

/// An ended contact of a known customer: contact id, customer key, channel, hall,
/// purpose, outcome, resolved (1 or 0), when it ended. One key lookup per row.
pub(crate) const INSERT_CUSTOMER_CONTACT: &str = "INSERT INTO customer_contact
     (contact_id, customer_key, channel, hall_id, purpose, outcome, resolved, at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (contact_id) DO NOTHING";

pub(crate) type KioskRow = (String, i64, i32, String, Option<i64>);

pub(crate) fn kiosk_fault_of(
    (kiosk, fault_at, offset_s, fault, restored_at): KioskRow,
) -> KioskFault {
    KioskFault {
        kiosk,
        fault_at,
        offset_s,
        fault,
        restored_at,
    }
}

/// Now, in ms since the epoch (the time events are received at).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pos: usize, id: &str, hm: &str) -> Item {
        let text = format!(
            r#"{{"id":"{id}","hall":"h1","type":"ticket_issued","at":"2026-08-07T{hm}:00+08:00","ticket":"{id}","service":"pay"}}"#
        );
        (pos, Event::from_json(&text).unwrap(), text)
    }

    #[test]
    fn a_large_batch_is_cut_in_replay_order_with_repeats_counted_once() {
        // Positions 0..5, times out of order, id `b` twice.
        let batch = vec![
            item(0, "c", "09:03"),
            item(1, "a", "09:01"),
            item(2, "b", "09:02"),
            item(3, "b", "09:09"),
            item(4, "e", "09:05"),
            item(5, "d", "09:04"),
        ];
        let refused = vec![(6, "bad".to_owned(), "{".to_owned())];
        let (cut, outcome) = parts(batch.clone(), refused.clone(), 2);
        assert_eq!(outcome.duplicates, 1);
        let ids: Vec<Vec<&str>> = cut
            .iter()
            .map(|(p, _)| p.iter().map(|(_, e, _)| e.id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
        // The kept `b` is the first one sent (position 2), refusals go with part one.
        assert_eq!(cut[0].0[1].0, 2);
        assert_eq!(cut[0].1, refused);
        assert!(cut[1..].iter().all(|(_, r)| r.is_empty()));
        // A batch that fits is one part, as it came.
        let (whole, outcome) = parts(batch.clone(), vec![], 6);
        assert_eq!((whole.len(), outcome.duplicates), (1, 0));
        assert_eq!(whole[0].0, batch);
    }
}
