//! SQLite's event ingest: one writer thread with its own connection (rusqlite), fed by a
//! queue. SQLite has one writer per database anyway; doing the writes on a thread of
//! their own, with prepared statements bound row by row, costs a fraction of going
//! through sqlx's async worker (which copies every bound value twice and needs a
//! many-row VALUES text per 500 rows: the ingest spent more time there than in SQLite).
//!
//! Batches waiting together are committed together (group commit): each in a savepoint
//! of its own, so one that fails leaves the others applied, and every caller hears back
//! only after the commit. Small batches (a hall's few live events, those that raise an
//! alert) go before large ones, in groups of their own, and a group of large ones stops
//! growing once a small one waits. A large batch is written in parts of at most
//! [`PART_EVENTS`] events, in replay order, each part committed on its own: a live event
//! of another hall waits for one part, never for a whole large batch. The batch is
//! answered once its last part is committed; a part that fails fails the batch (503),
//! and the retry finds the parts already written as duplicates.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use peakend_core::HallId;
use peakend_core::case::NewCase;
use peakend_core::ops::day::{KIOSK_FAULT_MEMORY_MS, KioskFault, Rules};
use peakend_core::ops::event::{Event, EventKind};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::ingest::{self, CachedDay, IngestTx, Item, Refusal};
use crate::{IngestOutcome, Result, StoreError};

/// Batches of at most this many events go first and are committed on their own.
const SMALL_BATCH: usize = 100;
/// A group of large batches grows while more wait, up to this many events, and no
/// further once a small batch waits: that one waits for the part being written and
/// the group's commit, whose WAL write and sync grow with the group. 5,000 rather
/// than 20,000 cut that wait's p99 under load from 48 to 19 ms at the same ingest
/// rate (BENCHMARKS.md, issue 24).
const GROUP_EVENTS: usize = 5_000;
/// The same bound for a group of large batches while small ones come (one was written in
/// the last [`LIVE_WITHIN`]): a small one that arrives during the group waits for its
/// commit, and a group of one device batch (2,000 events) commits in half the time of
/// 5,000. Alert p99 under load 35.7 · 48.3 · 36.1 ms with 5,000, 26.6 · 29.1 · 31.5 ms
/// with 2,000 in the same session (BENCHMARKS.md, issue 24). A replay with no live
/// devices keeps the larger groups.
const GROUP_EVENTS_LIVE: usize = 2_000;
/// How recent a small batch makes the writer live.
const LIVE_WITHIN: Duration = Duration::from_secs(1);
/// A large batch is written in parts of at most this many events (a few ms each): a
/// live event waits for one part. 1,000 rather than 4,000 halved the wait behind a
/// device's 2,000-event batch under load (BENCHMARKS.md, issue 24).
const PART_EVENTS: usize = 1_000;
/// Events written between two checkpoints (about 1,000 pages of WAL, SQLite's own
/// checkpoint interval).
const CHECKPOINT_EVENTS: usize = 10_000;

struct Job {
    hall: HallId,
    rules: Rules,
    events: Vec<Item>,
    refused: Vec<Refusal>,
    /// Small batches go first. Decided by the whole batch: the last part of a large
    /// one may be small, but must not overtake the parts before it.
    small: bool,
    /// Queue the ended contacts for their survey invitations.
    invite: bool,
    reply: oneshot::Sender<Result<IngestOutcome>>,
    /// When the job was queued: a small one's wait shows in the debug log.
    queued: std::time::Instant,
}

impl Job {
    fn size(&self) -> usize {
        self.events.len() + self.refused.len()
    }

    fn is_small(&self) -> bool {
        self.small
    }
}

#[derive(Default)]
struct Queue {
    small: VecDeque<Job>,
    large: VecDeque<Job>,
    /// The store is gone: write what is queued, then stop.
    closed: bool,
    /// The thread has stopped (it panicked): take no more jobs.
    stopped: bool,
}

impl Queue {
    fn push(&mut self, job: Job) {
        if job.is_small() {
            self.small.push_back(job);
        } else {
            self.large.push_back(job);
        }
    }
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// The handle the store keeps; the thread ends when the last handle is dropped.
pub(crate) struct SqliteWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteWriter")
    }
}

impl SqliteWriter {
    /// Starts the writer thread for the database file `path` (already migrated); it
    /// asks `checkpoints` to copy the WAL back as it grows.
    pub(crate) fn start(path: &Path, checkpoints: Arc<Checkpointer>) -> Result<SqliteWriter> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("peakend-sqlite-writer".into())
            .spawn(move || run(&path, &thread_shared, &checkpoints))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
        Ok(SqliteWriter { shared })
    }

    /// Applies one hall's batch; the answer comes after the commit.
    pub(crate) async fn ingest(
        &self,
        hall: &HallId,
        rules: Rules,
        events: Vec<Item>,
        refused: Vec<Refusal>,
        invite: bool,
    ) -> Result<IngestOutcome> {
        let (jobs, answers, mut outcome) = jobs_of(hall, &rules, events, refused, invite);
        {
            let mut q = self.shared.queue.lock().expect("writer queue lock");
            if q.stopped {
                return Err(StoreError::Unavailable(
                    "events not applied: the SQLite writer has stopped".into(),
                ));
            }
            // The parts go in one after the other, so nothing but small batches can
            // come between them.
            jobs.into_iter().for_each(|job| q.push(job));
        }
        self.shared.ready.notify_one();
        for answer in answers {
            let part = answer.await.map_err(|_| {
                StoreError::Unavailable("the SQLite writer stopped before answering".into())
            })??;
            outcome.merge(part);
        }
        outcome.rejected.sort_by_key(|r| r.line);
        Ok(outcome)
    }

    /// The thread has stopped; the store starts another.
    pub(crate) fn stopped(&self) -> bool {
        self.shared.queue.lock().map_or(true, |q| q.stopped)
    }
}

type Answer = oneshot::Receiver<Result<IngestOutcome>>;

/// A batch as the writer's jobs (its parts, see [`ingest::parts`]), the answers to
/// wait for, and what cutting it counted (repeated ids).
fn jobs_of(
    hall: &HallId,
    rules: &Rules,
    events: Vec<Item>,
    refused: Vec<Refusal>,
    invite: bool,
) -> (Vec<Job>, Vec<Answer>, IngestOutcome) {
    let small = events.len() + refused.len() <= SMALL_BATCH;
    let (parts, outcome) = ingest::parts(events, refused, PART_EVENTS);
    let (jobs, answers) = parts
        .into_iter()
        .map(|(events, refused)| {
            let (reply, answer) = oneshot::channel();
            let job = Job {
                hall: hall.clone(),
                rules: rules.clone(),
                events,
                refused,
                small,
                invite,
                reply,
                queued: std::time::Instant::now(),
            };
            (job, answer)
        })
        .unzip();
    (jobs, answers, outcome)
}

/// Dropped when the writer thread ends, even by a panic: nobody waits for it then.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let mut q = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.stopped = true;
        let q = &mut *q;
        for job in q.small.drain(..).chain(q.large.drain(..)) {
            fail(job, "the SQLite writer has stopped");
        }
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.closed = true;
        }
        self.shared.ready.notify_one();
    }
}

/// The next job to write, small ones first; `None` once the store is gone and the
/// queue is empty.
fn next_job(shared: &Shared) -> Option<Job> {
    let mut q = shared.queue.lock().expect("writer queue lock");
    loop {
        if let Some(job) = q.small.pop_front().or_else(|| q.large.pop_front()) {
            return Some(job);
        }
        if q.closed {
            return None;
        }
        q = shared.ready.wait(q).expect("writer queue lock");
    }
}

/// Another job for the group being written, if one waits of the group's kind: none
/// for a large group while a small job waits, so that it is committed now and the
/// small one written next.
fn more_for_group(shared: &Shared, small_group: bool) -> Option<Job> {
    let mut q = shared.queue.lock().expect("writer queue lock");
    if small_group {
        q.small.pop_front()
    } else if q.small.is_empty() {
        q.large.pop_front()
    } else {
        None
    }
}

fn run(path: &Path, shared: &Shared, checkpoints: &Checkpointer) {
    let _stopped = Stopped(shared);
    let mut conn = None;
    let mut days: HashMap<HallId, CachedDay> = HashMap::new();
    let mut since_checkpoint = 0;
    let mut last_small: Option<std::time::Instant> = None;
    // The ingest steps are async (PostgreSQL's are); on this connection they never wait.
    let runtime = tokio::runtime::Builder::new_current_thread().build();
    while let Some(first) = next_job(shared) {
        let runtime = match &runtime {
            Ok(rt) => rt,
            Err(e) => {
                fail(first, &format!("cannot start the SQLite writer: {e}"));
                continue;
            }
        };
        if conn.is_none() {
            match open(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    fail(first, &e.to_string());
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("opened above");
        if first.is_small() {
            last_small = Some(std::time::Instant::now());
        }
        let live = last_small.is_some_and(|t| t.elapsed() < LIVE_WITHIN);
        match write_group(c, runtime, &mut days, shared, first, live) {
            Ok(written) => since_checkpoint += written,
            Err(e) => {
                // The connection may be in a bad state: open a fresh one next time, and
                // forget the days this group had applied (they were not committed).
                tracing::warn!("SQLite writer: {e}");
                conn = None;
                days.clear();
            }
        }
        if since_checkpoint >= CHECKPOINT_EVENTS {
            since_checkpoint = 0;
            checkpoints.poke();
        }
    }
}

fn fail(job: Job, reason: &str) {
    let _ = job.reply.send(Err(StoreError::Unavailable(format!(
        "events not applied: {reason}"
    ))));
}

/// PostgreSQL's `$n` markers as SQLite's `?n`: SQLite reads `$1` as a name and numbers
/// names in order of appearance, so `SET x = $3 WHERE y = $1` would bind out of order;
/// `?n` is bound by its number.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

/// The writer's connection: the same settings as the store's pool (WAL, FULL sync: an
/// acknowledged batch survives a power cut).
fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    // Each batch of a group runs in a savepoint, which keeps the first copy of every
    // page it changes in a sub-journal: in memory, not in a temporary file (its writes
    // were a twentieth of the writer's time replaying a province's day).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The checkpointer thread copies the WAL into the database; this connection does
    // so itself only if that falls far behind (a checkpoint in the commit was a sixth
    // of the writer's time).
    conn.pragma_update(None, "wal_autocheckpoint", 50_000)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Copies the WAL back into the database file on a thread of its own, beside the
/// writers: a passive checkpoint never blocks a writer. The event writer and the pool's
/// connections checkpoint themselves only if this falls far behind (their
/// `wal_autocheckpoint` is 50,000 pages): a checkpoint inside a commit was a sixth of
/// the event writer's time and an eighth of an invitation drain's. It runs when poked
/// after a large write, and every few seconds for the small ones. Under a steady load
/// it seldom catches up whole, so the WAL grows to the writers' own limit; that
/// checkpoint then finds nearly every page copied already, and the WAL starts over.
/// The thread ends when the store's last handle is dropped.
pub(crate) struct Checkpointer {
    poke: Mutex<Option<std::sync::mpsc::SyncSender<()>>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}

impl Checkpointer {
    /// How often the WAL is copied back without a poke.
    const EVERY: Duration = Duration::from_secs(5);

    pub(crate) fn start(path: &Path) -> Checkpointer {
        use std::sync::mpsc::RecvTimeoutError;
        let (poke, pokes) = std::sync::mpsc::sync_channel::<()>(1);
        let path = path.to_owned();
        let started = std::thread::Builder::new()
            .name("peakend-sqlite-checkpoint".into())
            .spawn(move || {
                let mut conn = None;
                while let Ok(()) | Err(RecvTimeoutError::Timeout) = pokes.recv_timeout(Self::EVERY)
                {
                    if conn.is_none() {
                        conn =
                            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
                                .and_then(|c| c.busy_timeout(Duration::from_secs(1)).map(|()| c))
                                .map_err(|e| tracing::warn!("SQLite checkpointer: {e}"))
                                .ok();
                    }
                    if let Some(c) = &conn {
                        let done = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                        if let Err(e) = done {
                            tracing::warn!("SQLite checkpoint: {e}");
                        }
                    }
                }
            });
        // Without the thread, the writers' own automatic checkpoints still run.
        Checkpointer {
            poke: Mutex::new(started.ok().map(|_| poke)),
        }
    }

    /// Asks for a checkpoint; one already asked for and not begun covers this one.
    pub(crate) fn poke(&self) {
        if let Some(p) = self.poke.lock().expect("checkpointer lock").as_ref() {
            let _ = p.try_send(());
        }
    }

    /// Ends the thread (and closes its connection) once it is idle.
    pub(crate) fn stop(&self) {
        self.poke.lock().expect("checkpointer lock").take();
    }
}

/// Applies `first` and the jobs that join it (up to [`GROUP_EVENTS`], or
/// [`GROUP_EVENTS_LIVE`] for large batches while small ones come: `live`) in one
/// transaction, each job in a savepoint; answers every job after the commit. Returns
/// the events written; an error is the connection's (begin or commit failed).
fn write_group(
    conn: &mut Connection,
    runtime: &tokio::runtime::Runtime,
    days: &mut HashMap<HallId, CachedDay>,
    shared: &Shared,
    first: Job,
    live: bool,
) -> Result<usize> {
    let now = ingest::now_ms();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        fail(first, &e.to_string());
        return Err(e.into());
    }
    let small_group = first.is_small();
    let group_events = if live && !small_group {
        GROUP_EVENTS_LIVE
    } else {
        GROUP_EVENTS
    };
    let (began, waited) = (std::time::Instant::now(), first.queued.elapsed());
    let mut answers = Vec::new();
    let mut written = 0;
    let mut next = Some(first);
    while let Some(job) = next.take() {
        written += job.size();
        let Job {
            hall,
            rules,
            events,
            refused,
            invite,
            reply,
            ..
        } = job;
        let cached = days.remove(&hall);
        let result = conn
            .execute_batch("SAVEPOINT batch")
            .map_err(StoreError::from)
            .and_then(|()| {
                let mut tx = Tx { conn };
                runtime.block_on(ingest::apply_batch(
                    &mut tx,
                    &hall,
                    &rules,
                    events,
                    refused,
                    cached,
                    ingest::Applying { now, invite },
                ))
            });
        let result = match result {
            Ok((outcome, day)) => {
                conn.execute_batch("RELEASE batch")?;
                if let Some(day) = day {
                    ingest::keep_day(days, hall, day);
                }
                Ok(outcome)
            }
            Err(e) => {
                // This batch is undone; the others of the group stand.
                conn.execute_batch("ROLLBACK TO batch; RELEASE batch")?;
                Err(e)
            }
        };
        answers.push((reply, result));
        if written < group_events {
            next = more_for_group(shared, small_group);
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // The caller forgets every cached day: this group's were not committed.
        let _ = conn.execute_batch("ROLLBACK");
        let reason = e.to_string();
        for (reply, _) in answers {
            let _ = reply.send(Err(StoreError::Unavailable(format!(
                "events not applied: the commit failed: {reason}"
            ))));
        }
        return Err(e.into());
    }
    if small_group {
        // Where a live event's time to its alert goes (`RUST_LOG=peakend_store=debug`).
        tracing::debug!(
            waited_ms = waited.as_secs_f64() * 1e3,
            written_ms = began.elapsed().as_secs_f64() * 1e3,
            events = written,
            "small batches committed"
        );
    }
    for (reply, result) in answers {
        let _ = reply.send(result);
    }
    Ok(written)
}

/// The writer's connection inside its transaction.
struct Tx<'c> {
    conn: &'c Connection,
}

impl IngestTx for Tx<'_> {
    async fn stored_ids(&mut self, hall: &HallId, ids: &[&str]) -> Result<HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM visit_event WHERE hall_id = ?1 AND event_id = ?2")?;
        let mut stored = HashSet::new();
        for id in ids {
            if stmt
                .query_row(params![hall.as_str(), id], |_| Ok(()))
                .optional()?
                .is_some()
            {
                stored.insert((*id).to_owned());
            }
        }
        Ok(stored)
    }

    async fn day_events(&mut self, hall: &HallId, lo: i64) -> Result<Option<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(ingest::SELECT_DAY_EVENTS))?;
        Ok(stmt
            .query_row(params![hall.as_str(), lo], |r| r.get(0))
            .optional()?)
    }

    async fn set_day_events(&mut self, hall: &HallId, lo: i64, events: i64) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(ingest::SET_DAY_EVENTS))?;
        stmt.execute(params![hall.as_str(), lo, events])?;
        Ok(())
    }

    async fn kiosk_faults(&mut self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(ingest::SELECT_KIOSK_FAULTS))?;
        let rows = stmt.query_map(
            params![hall.as_str(), before, before - KIOSK_FAULT_MEMORY_MS],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        Ok(rows
            .collect::<rusqlite::Result<Vec<ingest::KioskRow>>>()?
            .into_iter()
            .map(ingest::kiosk_fault_of)
            .collect())
    }

    async fn record_kiosks(&mut self, hall: &HallId, events: &[&Event]) -> Result<()> {
        for e in events {
            match &e.kind {
                EventKind::KioskFault { kiosk, fault } => {
                    self.conn
                        .prepare_cached(&numbered(ingest::INSERT_KIOSK_FAULT))?
                        .execute(params![
                            hall.as_str(),
                            kiosk,
                            e.at_ms(),
                            e.at.offset().local_minus_utc(),
                            fault
                        ])?;
                }
                EventKind::KioskRestored { kiosk } => {
                    self.conn
                        .prepare_cached(&numbered(ingest::RESTORE_KIOSK_FAULT))?
                        .execute(params![hall.as_str(), kiosk, e.at_ms()])?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn payloads(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(ingest::SELECT_PAYLOADS))?;
        let rows = stmt.query_map(params![hall.as_str(), lo, hi], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    async fn insert_events(
        &mut self,
        hall: &HallId,
        now: i64,
        rows: &[(Event, String)],
    ) -> Result<()> {
        Ok(insert_rows(
            self.conn,
            hall,
            now,
            rows.iter().map(|(e, p)| (e, p.as_str())),
        )?)
    }

    async fn insert_new(&mut self, hall: &HallId, now: i64, rows: &[ingest::Item]) -> Result<bool> {
        // The primary key finds a stored id as the rows go in, in the lookup each
        // insert makes anyway: one lookup a row fewer than asking first.
        self.conn.execute_batch("SAVEPOINT insert_new")?;
        let inserted = insert_rows(
            self.conn,
            hall,
            now,
            rows.iter().map(|(_, e, p)| (e, p.as_str())),
        );
        match inserted {
            Ok(()) => {
                self.conn.execute_batch("RELEASE insert_new")?;
                Ok(true)
            }
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                self.conn
                    .execute_batch("ROLLBACK TO insert_new; RELEASE insert_new")?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_events(&mut self, hall: &HallId, ids: &[String]) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM visit_event WHERE hall_id = ?1 AND event_id = ?2")?;
        for id in ids {
            stmt.execute(params![hall.as_str(), id])?;
        }
        Ok(())
    }

    async fn rollup(&mut self, hall: &HallId, day: NaiveDate) -> Result<Option<String>> {
        let mut stmt = self.conn.prepare_cached(&numbered(ingest::SELECT_ROLLUP))?;
        Ok(stmt
            .query_row(params![hall.as_str(), day.to_string()], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten())
    }

    async fn put_rollup(
        &mut self,
        hall: &HallId,
        day: NaiveDate,
        rollup: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        self.conn
            .prepare_cached(&numbered(ingest::PUT_ROLLUP))?
            .execute(params![hall.as_str(), day.to_string(), rollup, detail])?;
        Ok(())
    }

    async fn quarantine(
        &mut self,
        hall: &HallId,
        now: i64,
        reason: &str,
        payload: &str,
        held: Option<(i64, &str)>,
    ) -> Result<()> {
        self.conn
            .prepare_cached(&numbered(ingest::QUARANTINE))?
            .execute(params![
                hall.as_str(),
                now,
                reason,
                payload,
                held.map(|h| h.0),
                held.map(|h| h.1)
            ])?;
        Ok(())
    }

    async fn any_held(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<bool> {
        let mut stmt = self.conn.prepare_cached(&numbered(ingest::ANY_HELD))?;
        Ok(stmt.query_row(params![hall.as_str(), lo, hi], |r| r.get(0))?)
    }

    async fn held(
        &mut self,
        hall: &HallId,
        lo: i64,
        hi: i64,
        subjects: &[&str],
    ) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn.prepare_cached(&numbered(ingest::HELD))?;
        let mut out = Vec::new();
        for subject in subjects {
            let rows = stmt.query_map(params![hall.as_str(), lo, hi, subject], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            out.extend(rows.collect::<rusqlite::Result<Vec<(i64, String)>>>()?);
        }
        Ok(out)
    }

    async fn release(&mut self, rows: &[i64]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(&numbered(ingest::RELEASE))?;
        for row in rows {
            stmt.execute(params![row])?;
        }
        Ok(())
    }

    async fn record_contacts(&mut self, contacts: &[&crate::EndedContact]) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(ingest::INSERT_CUSTOMER_CONTACT))?;
        for c in contacts {
            stmt.execute(params![
                c.id,
                c.customer,
                c.channel,
                c.hall.as_str(),
                c.purpose,
                c.outcome,
                i32::from(c.resolved()),
                c.ended_at
            ])?;
        }
        Ok(())
    }

    async fn queue_invitations(&mut self, contacts: &[&crate::EndedContact]) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(ingest::INSERT_INVITE_PENDING))?;
        for c in contacts {
            stmt.execute(params![
                c.id,
                c.hall.as_str(),
                c.channel,
                c.customer,
                c.segment,
                c.purpose,
                c.staff,
                c.counter,
                c.wait_s,
                c.outcome,
                c.ended_at,
                peakend_core::invitation::draw(&c.id)
            ])?;
        }
        Ok(())
    }

    async fn open_cases(&mut self, cases: &[NewCase], now: i64) -> Result<usize> {
        use crate::cases::{contact_key, opened_body, opened_note, sql as q};
        let mut opened = 0;
        for c in cases {
            let key = c.contact.as_deref().map(contact_key);
            let row: Option<(i64, Option<String>)> = self
                .conn
                .prepare_cached(&numbered(q::INSERT_CASE))?
                .query_row(
                    params![
                        c.hall.as_str(),
                        c.source.as_str(),
                        c.cause,
                        c.ticket,
                        c.response,
                        c.moment.as_str(),
                        c.severity.as_str(),
                        c.summary,
                        c.contact,
                        key,
                        c.staff,
                        c.opened_at,
                        c.acknowledge_due,
                        c.resolve_due,
                        c.owner
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((id, owner)) = row else { continue };
            opened += 1;
            self.conn
                .prepare_cached(&numbered(q::BUMP_MONTH))?
                .execute(params![
                    c.hall.as_str(),
                    crate::cases::utc_month(c.opened_at)
                ])?;
            self.conn
                .prepare_cached(&numbered(q::INSERT_ENTRY))?
                .execute(params![
                    id,
                    c.opened_at,
                    "system",
                    "opened",
                    None::<&str>,
                    "open",
                    opened_note(owner.as_deref())
                ])?;
            self.conn
                .prepare_cached(&numbered(q::ENQUEUE))?
                .execute(params![
                    "case.opened",
                    opened_body(c, id, owner.as_deref(), now),
                    now
                ])?;
        }
        Ok(opened)
    }
}

/// Inserts events (event, text) of the hall, received at `now`; stops at the first
/// that fails (a stored id: the primary key's constraint).
fn insert_rows<'a>(
    conn: &rusqlite::Connection,
    hall: &HallId,
    now: i64,
    rows: impl Iterator<Item = (&'a Event, &'a str)>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO visit_event (hall_id, received_at, event_id, kind, at, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (e, payload) in rows {
        stmt.execute(params![
            hall.as_str(),
            now,
            e.id,
            e.kind_name(),
            e.at_ms(),
            payload
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large batch whose last part is small: every part waits in the large queue, in
    /// order, so that the small last part cannot be written before the parts it follows.
    #[test]
    fn every_part_of_a_large_batch_keeps_its_place() {
        let items: Vec<Item> = (0..PART_EVENTS + 50)
            .map(|i| {
                let text = format!(
                    r#"{{"id":"e{i}","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"T{i}","service":"pay"}}"#
                );
                (i, Event::from_json(&text).unwrap(), text)
            })
            .collect();
        let hall = HallId::parse("h1").unwrap();
        let (jobs, answers, _) = jobs_of(&hall, &Rules::default(), items, vec![], false);
        assert_eq!(
            jobs.iter().map(Job::size).collect::<Vec<_>>(),
            [PART_EVENTS, 50]
        );
        assert_eq!(answers.len(), 2);
        let mut q = Queue::default();
        jobs.into_iter().for_each(|j| q.push(j));
        assert!(q.small.is_empty());
        assert_eq!(
            q.large.iter().map(Job::size).collect::<Vec<_>>(),
            [PART_EVENTS, 50]
        );
    }

    fn job(hall: &str, events: usize) -> Job {
        let e = Event::from_json(&format!(
            r#"{{"id":"x","hall":"{hall}","type":"left","at":"2026-08-07T09:00:00+08:00","ticket":"A1"}}"#
        ))
        .unwrap();
        Job {
            hall: HallId::parse(hall).unwrap(),
            rules: Rules::default(),
            events: (0..events)
                .map(|i| (i + 1, e.clone(), String::new()))
                .collect(),
            refused: Vec::new(),
            small: events <= SMALL_BATCH,
            invite: false,
            reply: oneshot::channel().0,
            queued: std::time::Instant::now(),
        }
    }

    /// A small batch queued behind large ones is written next; a group of small ones
    /// takes only small ones, a group of large ones stops growing while a small one
    /// waits; the queue ends when the store is gone.
    #[test]
    fn small_batches_go_first_and_large_ones_are_grouped() {
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        };
        let push = |hall: &str, n: usize| shared.queue.lock().unwrap().push(job(hall, n));
        let hall = |j: Option<Job>| j.map(|j| j.hall.to_string());
        for (h, n) in [
            ("l1", 3_000),
            ("l2", 500),
            ("s1", 10),
            ("s2", 1),
            ("l3", 1_000),
        ] {
            push(h, n);
        }
        assert_eq!(hall(next_job(&shared)).as_deref(), Some("s1"));
        assert_eq!(hall(more_for_group(&shared, true)).as_deref(), Some("s2"));
        assert_eq!(hall(more_for_group(&shared, true)), None);
        assert_eq!(hall(next_job(&shared)).as_deref(), Some("l1"));
        assert_eq!(hall(more_for_group(&shared, false)).as_deref(), Some("l2"));
        push("s3", 5);
        assert_eq!(hall(more_for_group(&shared, false)), None);
        assert_eq!(hall(next_job(&shared)).as_deref(), Some("s3"));
        assert_eq!(hall(next_job(&shared)).as_deref(), Some("l3"));
        shared.queue.lock().unwrap().closed = true;
        assert!(next_job(&shared).is_none());
    }

    /// A group's batches are applied each in its own savepoint: one that fails after
    /// writing its events (here its roll-up is refused by a trigger) is undone and
    /// reported, and the batches before and after it in the group are committed.
    #[test]
    fn a_failed_batch_in_a_group_leaves_the_others_applied() {
        use crate::Store;
        let db = peakend_testkit::sqlite();
        let setup = tokio::runtime::Runtime::new().unwrap();
        let store = setup.block_on(async {
            let store = crate::connect(&db.url).await.unwrap();
            let org = peakend_testkit::small_org(&[("h1", "一厅"), ("h2", "二厅")]);
            store.import_org(org).await.unwrap();
            store
        });
        let event = |id: &str, hall: &str, ticket: &str| {
            let line = format!(
                r#"{{"id":"{id}","hall":"{hall}","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"{ticket}","service":"payment"}}"#
            );
            (1, Event::from_json(&line).unwrap(), line)
        };
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        };
        let mut answers = Vec::new();
        let mut job = |hall: &str, events: Vec<Item>| {
            let (reply, answer) = oneshot::channel();
            answers.push(answer);
            Job {
                hall: HallId::parse(hall).unwrap(),
                rules: Rules::default(),
                small: events.len() <= SMALL_BATCH,
                events,
                refused: Vec::new(),
                invite: false,
                reply,
                queued: std::time::Instant::now(),
            }
        };
        let first = job("h1", vec![event("e1", "h1", "A001")]);
        let failing = job("h2", vec![event("f1", "h2", "A001")]);
        let last = job("h1", vec![event("e2", "h1", "A002")]);
        shared.queue.lock().unwrap().small.extend([failing, last]);
        let path = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
        let mut conn = open(&path).unwrap();
        conn.execute_batch(
            "CREATE TEMP TRIGGER refuse_h2 BEFORE INSERT ON ops_rollup WHEN NEW.hall_id = 'h2'
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;",
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut days = HashMap::new();
        let written = write_group(&mut conn, &rt, &mut days, &shared, first, false).unwrap();
        assert_eq!(written, 3);
        let mut got: Vec<_> = answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap())
            .collect();
        assert_eq!(got.remove(0).unwrap().accepted, 1);
        let err = got.remove(0).unwrap_err();
        assert!(err.to_string().contains("refused for the test"), "{err}");
        assert_eq!(got.remove(0).unwrap().accepted, 1);
        let stored = setup.block_on(async {
            let h1 = HallId::parse("h1").unwrap();
            let h2 = HallId::parse("h2").unwrap();
            let h1 = store.hall_events(&h1, 0, i64::MAX).await.unwrap();
            let h2 = store.hall_events(&h2, 0, i64::MAX).await.unwrap();
            (h1.len(), h2.len())
        });
        assert_eq!(stored, (2, 0));
        // The hall's day is kept for its next batch; the failed hall's is not.
        assert!(days.contains_key(&HallId::parse("h1").unwrap()));
        assert!(!days.contains_key(&HallId::parse("h2").unwrap()));
    }

    /// A group of large batches stops growing at 2,000 events while small batches come
    /// (a live one waits for the group's commit), at 5,000 in a replay with none.
    #[test]
    fn large_groups_are_smaller_while_small_batches_come() {
        let db = peakend_testkit::sqlite();
        let setup = tokio::runtime::Runtime::new().unwrap();
        setup.block_on(async {
            use crate::Store;
            let store = crate::connect(&db.url).await.unwrap();
            let halls: Vec<(String, String)> = (1..=5)
                .map(|i| (format!("h{i}"), format!("{i}厅")))
                .collect();
            let halls: Vec<(&str, &str)> = halls
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            store
                .import_org(peakend_testkit::small_org(&halls))
                .await
                .unwrap();
        });
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        };
        let job = |hall: &str| {
            let events: Vec<Item> = (0..1_000)
                .map(|n| {
                    let line = format!(
                        r#"{{"id":"{hall}-{n}","hall":"{hall}","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A{n:04}","service":"payment"}}"#
                    );
                    (n, Event::from_json(&line).unwrap(), line)
                })
                .collect();
            Job {
                hall: HallId::parse(hall).unwrap(),
                rules: Rules::default(),
                small: false,
                events,
                refused: Vec::new(),
                invite: false,
                reply: oneshot::channel().0,
                queued: std::time::Instant::now(),
            }
        };
        let path = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
        let mut conn = open(&path).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut days = HashMap::new();
        shared
            .queue
            .lock()
            .unwrap()
            .large
            .extend([job("h2"), job("h3")]);
        let live = write_group(&mut conn, &rt, &mut days, &shared, job("h1"), true).unwrap();
        assert_eq!(live, GROUP_EVENTS_LIVE);
        assert_eq!(shared.queue.lock().unwrap().large.len(), 1);
        shared
            .queue
            .lock()
            .unwrap()
            .large
            .extend([job("h4"), job("h5")]);
        let first = shared.queue.lock().unwrap().large.pop_front().unwrap();
        let replay = write_group(&mut conn, &rt, &mut days, &shared, first, false).unwrap();
        assert_eq!(replay, 3_000);
        assert!(shared.queue.lock().unwrap().large.is_empty());
    }
}
