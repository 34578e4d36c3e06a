//! One hall's event batch, applied: which events are new, which local days they touch,
//! the replay that judges them and the day roll-up to keep. The database work is the
//! [`IngestTx`] a backend gives (a PostgreSQL transaction through sqlx; on SQLite the
//! writer thread's own connection, see `sqlite_writer.rs`), so both backends apply a
//! batch by the same steps.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::NaiveDate;
use peakend_core::HallId;
use peakend_core::ops::day::{HallDay, KioskFault, Rules};
use peakend_core::ops::event::{Event, EventKind};
use peakend_core::ops::rollup::{DayRollup, rollup_day};

use crate::{IngestOutcome, Rejected, Result, StoreError};

/// An event of a batch: its position (1-based line), the event and its text as received.
pub(crate) type Item = (usize, Event, String);
/// A refused event: position, reason, text.
pub(crate) type Refusal = (usize, String, String);
/// An event to replay: new ones carry their position and text, stored ones nothing.
type ToReplay = (Event, Option<(usize, String)>);

/// The database side of an ingest, inside the transaction that applies the batch.
/// On SQLite these do their work synchronously and never wait.
pub(crate) trait IngestTx {
    /// The ids among `ids` already stored for the hall.
    async fn stored_ids(&mut self, hall: &HallId, ids: &[&str]) -> Result<HashSet<String>>;
    /// Rows of the hall with `at` in [lo, hi).
    async fn count(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<i64>;
    /// Payloads of the hall's stored events with `at` in [lo, hi), in any order.
    async fn payloads(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<Vec<String>>;
    async fn insert_events(
        &mut self,
        hall: &HallId,
        now: i64,
        rows: &[(Event, String)],
    ) -> Result<()>;
    /// The hall's kiosk faults reported in [`before` − 90 days, `before`): what a day
    /// starting at `before` carries in (open ones: not restored before it).
    async fn kiosk_faults(&mut self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>>;
    /// Records applied `kiosk_fault` (a new fault) and `kiosk_restored` (the open fault
    /// of that kiosk restored) events, in order.
    async fn record_kiosks(&mut self, hall: &HallId, events: &[&Event]) -> Result<()>;
    /// Sets a hall-day's roll-up (`None`: replay that day).
    async fn put_rollup(&mut self, hall: &HallId, day: NaiveDate, json: Option<&str>)
    -> Result<()>;
    /// Quarantines an event unless the same event was quarantined for the same reason.
    async fn quarantine(
        &mut self,
        hall: &HallId,
        now: i64,
        reason: &str,
        payload: &str,
    ) -> Result<()>;
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

/// A hall's day replayed over its stored events in [lo, hi) after a commit, so the next
/// batch of the same day need not re-read and replay them.
#[derive(Debug)]
pub(crate) struct CachedDay {
    lo: i64,
    hi: i64,
    /// Rows of the hall in `visit_event` with `at` in [lo, hi).
    stored: i64,
    /// The replay key of the last stored event (in replay order).
    last: Option<(i64, u8, String)>,
    day: HallDay,
}

impl CachedDay {
    fn note(&mut self, e: &Event) {
        let (at, rank, id) = e.replay_key();
        if self
            .last
            .as_ref()
            .is_none_or(|l| (at, rank, id) > (l.0, l.1, l.2.as_str()))
        {
            self.last = Some((at, rank, id.to_owned()));
        }
    }

    /// Applying `first` and what sorts after it to this day equals replaying the stored
    /// events with them: it sorts after every stored event.
    fn precedes(&self, first: Option<&Event>) -> bool {
        first.is_none_or(|e| {
            self.last
                .as_ref()
                .is_none_or(|l| e.replay_key() > (l.0, l.1, l.2.as_str()))
        })
    }
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
pub(crate) async fn apply_batch(
    db: &mut impl IngestTx,
    hall: &HallId,
    rules: &Rules,
    events: Vec<Item>,
    refused: Vec<Refusal>,
    mut cached: Option<CachedDay>,
    now: i64,
) -> Result<(IngestOutcome, Option<CachedDay>)> {
    let mut outcome = IngestOutcome::default();
    let mut quarantine = refused;
    // A batch may repeat an id: the first one counts.
    let mut seen = HashSet::new();
    // Ticket names start over each day, so each local day the batch touches is judged
    // against its own stored events (one replayed day each), all in one transaction.
    let mut by_day: BTreeMap<(i64, i64), Vec<Item>> = BTreeMap::new();
    for (pos, e, payload) in events {
        if e.hall != *hall {
            let reason = format!("event for hall `{}` in a batch of hall `{hall}`", e.hall);
            quarantine.push((pos, reason, payload));
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
    for ((lo, hi), fresh) in by_day {
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
        new.sort_by(|a, b| a.1.replay_key().cmp(&b.1.replay_key()));
        // The cached day stands for the stored one only if nobody else wrote to the
        // hall's day since (rows are only ever added, so the count tells; another
        // process may share the database) and every new event sorts after the stored
        // ones: then applying the new events to it equals replaying everything.
        let base = match cached.take() {
            // A day replayed on other rules (a journey assigned since) is replayed again.
            Some(c)
                if (c.lo, c.hi) == (lo, hi)
                    && c.day.rules() == rules
                    && c.precedes(new.first().map(|i| &i.1)) =>
            {
                (db.count(hall, lo, hi).await? == c.stored).then_some(c)
            }
            _ => None,
        };
        // What to apply, in replay order: stored events (None) only when the day is
        // re-read; a stored event that a late arrival now contradicts stays stored.
        let (mut day, replay): (CachedDay, Vec<ToReplay>) = match base {
            Some(c) => (
                c,
                new.into_iter()
                    .map(|(pos, e, p)| (e, Some((pos, p))))
                    .collect(),
            ),
            None => {
                let stored = db.payloads(hall, lo, hi).await?;
                let carried = carried_in(db.kiosk_faults(hall, lo).await?, lo);
                let day = CachedDay {
                    lo,
                    hi,
                    stored: stored.len() as i64,
                    last: None,
                    day: HallDay::with_carry(rules.clone(), &carried),
                };
                let mut all = stored
                    .iter()
                    .map(|payload| {
                        Event::from_json(payload).map(|e| (e, None)).map_err(|e| {
                            StoreError::Corrupt(format!("stored event of hall `{hall}`: {e}"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                all.extend(new.into_iter().map(|(pos, e, p)| (e, Some((pos, p)))));
                all.sort_by(|a, b| a.0.replay_key().cmp(&b.0.replay_key()));
                (day, all)
            }
        };
        let mut rows = Vec::with_capacity(replay.len());
        for (e, new_one) in replay {
            match (day.day.apply(&e), new_one) {
                (Ok(()), Some((_, payload))) => {
                    day.note(&e);
                    rows.push((e, payload));
                }
                (Err(reason), Some((pos, payload))) => quarantine.push((pos, reason, payload)),
                (_, None) => day.note(&e),
            }
        }
        // The day's roll-up, when the replayed day is exactly one roll-up day;
        // otherwise the touched days are marked for replay.
        let touched: BTreeSet<(NaiveDate, i64, i64)> = rows
            .iter()
            .map(|(e, _)| rollup_day(e.at_ms(), rules.zone))
            .collect();
        let rollups: Vec<(NaiveDate, Option<String>)> = match touched.first() {
            Some(&(date, start, end)) if touched.len() == 1 && (start, end) == (lo, hi) => {
                let measure = day.day.rules().measure();
                let r = DayRollup::of(&day.day, measure, day.last.as_ref().map(|l| l.0));
                let json =
                    serde_json::to_string(&r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                vec![(date, Some(json))]
            }
            _ => touched.iter().map(|(d, _, _)| (*d, None)).collect(),
        };
        if !rows.is_empty() {
            db.insert_events(hall, now, &rows).await?;
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
        for (date, json) in rollups {
            db.put_rollup(hall, date, json.as_deref()).await?;
        }
        outcome.accepted += rows.len();
        day.stored += rows.len() as i64;
        last_day = Some(day);
    }
    quarantine.sort_by_key(|(pos, _, _)| *pos);
    for (_, reason, payload) in &quarantine {
        // A batch sent again is reported again but quarantined once.
        db.quarantine(hall, now, reason, payload).await?;
    }
    outcome.rejected = quarantine
        .into_iter()
        .map(|(line, reason, _)| Rejected { line, reason })
        .collect();
    Ok((outcome, last_day))
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
