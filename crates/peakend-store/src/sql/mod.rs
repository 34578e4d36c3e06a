//! The SQL store. Each query is written once with `$n` placeholders, which both
//! SQLite and PostgreSQL accept, and the [`on_pool!`] macro compiles the body for
//! each backend's concrete pool: full type checking and backend-specific tuning
//! (WAL, pool sizes, later COPY) without a second copy of the SQL.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use peakend_core::analysis::SegmentStats;
use peakend_core::analysis::rollup::{self, CellKey, PurposeCells, Rollup};
use peakend_core::assignment::{AssignmentChange, Assignments};
use peakend_core::ops::day::{Alert, KIOSK_FAULT_MEMORY_MS, KioskFault, Rules};
use peakend_core::ops::event::{Event, EventKind, sort_for_replay};
use peakend_core::ops::holiday::Holiday;
use peakend_core::ops::rollup::DayRollup;
use peakend_core::survey::{NeedRating, Rating, Response};
use peakend_core::{
    HallId, Journey, JourneyError, JourneyKey, OrgLevel, OrgNode, OrgNodeId, OrgTree, UserName,
    builtin,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::ingest::{
    self, CachedDay, INSERT_KIOSK_FAULT, IngestTx, KioskRow, RESTORE_KIOSK_FAULT,
    SELECT_KIOSK_FAULTS, kiosk_fault_of, now_ms,
};
use crate::sqlite_writer::{Checkpointer, SqliteWriter};
use crate::{
    AnalysisCache, Backend, CellQuery, ImportBatch, IngestOutcome, JourneySummary,
    OrgImportSummary, Origin, PutOutcome, Quarantined, Result, RollupRead, RollupSnapshot, Session,
    Store, StoreError, User,
};

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend is open.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// The statement that begins every transaction that writes. On SQLite it takes the
/// write lock at once: a read snapshot cannot become a write once another connection
/// (the event writer) has committed or holds the lock, and SQLite then says "database
/// is locked" without waiting. Taken even where the first statement writes, so that a
/// read added before it later cannot bring the failure back.
fn write_begin(pool: &Pool) -> &'static str {
    match pool {
        Pool::Sqlite(_) => "BEGIN IMMEDIATE",
        Pool::Postgres(_) => "BEGIN",
    }
}

/// Bumps the data generation inside transaction `$tx`: every write that changes what a
/// cached analysis, org tree or hall's rules were computed from.
macro_rules! bump_generation {
    ($tx:ident) => {
        sqlx::query("UPDATE data_generation SET generation = generation + 1 WHERE id = 1")
            .execute(&mut *$tx)
            .await?
    };
}

/// SQLite's page cache per connection, in KiB (negative, as the pragma takes it).
const SQLITE_CACHE: i64 = -65_536;

/// Merges roll-up cells (`(&CellKey, Option<purpose>, &SegmentStats, Option<its bytes>)`,
/// the bytes when the caller encoded the cell already) of journey `$key` into table
/// `$table` on `$tx`: the purpose column only for purpose cells. The stored
/// cells of the halls touched are read a few hundred halls a query (only those of the
/// batch's keys decoded) and the merged ones written back a few hundred a statement,
/// in the binary cell format (`peakend_core::analysis::cell`); a cell stored as JSON
/// before it is read as such and rewritten.
macro_rules! merge_cells {
    ($tx:ident, $key:expr, $layout:expr, $table:literal, $cells:expr, $pg:expr) => {{
        let cells: Vec<(&CellKey, Option<&str>, &SegmentStats, Option<Vec<u8>>)> = $cells.collect();
        let pg: bool = $pg;
        let with_purpose = $table == "survey_rollup_purpose";
        type Key = (String, String, String, String);
        let key_of = |k: &CellKey, p: Option<&str>| -> Key {
            (k.hall.as_str().to_owned(), k.period.clone(), k.segment.clone(), p.unwrap_or("").to_owned())
        };
        let wanted: HashSet<Key> = cells.iter().map(|(k, p, _, _)| key_of(k, *p)).collect();
        let halls: Vec<&str> = cells
            .iter()
            .map(|(k, _, _, _)| k.hall.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let first = cells.iter().map(|(k, _, _, _)| k.period.as_str()).min().unwrap_or("");
        let last = cells.iter().map(|(k, _, _, _)| k.period.as_str()).max().unwrap_or("");
        let mut stored: HashMap<Key, SegmentStats> = HashMap::new();
        for some in halls.chunks(500) {
            let marks: Vec<String> = (0..some.len()).map(|i| format!("${}", i + 4)).collect();
            let sql = format!(
                "SELECT hall_id, period, segment, {}, stats, cell FROM {} WHERE journey_key = $1
                   AND period >= $2 AND period <= $3 AND hall_id IN ({})",
                if with_purpose { "purpose" } else { "''" },
                $table,
                marks.join(", ")
            );
            let mut q = sqlx::query_as::<_, (String, String, String, String, String, Option<Vec<u8>>)>(&sql)
                .bind($key).bind(first).bind(last);
            for h in some {
                q = q.bind(*h);
            }
            for (hall, period, segment, purpose, json, cell) in q.fetch_all(&mut *$tx).await? {
                let key = (hall, period, segment, purpose);
                if !wanted.contains(&key) {
                    continue;
                }
                let old = match cell {
                    Some(bytes) => SegmentStats::from_bytes(&bytes).ok(),
                    None => serde_json::from_str::<SegmentStats>(&json).ok(),
                };
                if let Some(old) = old.filter(|old| rollup::fits(old, &$layout)) {
                    stored.insert(key, old);
                }
            }
        }
        // The stored cell takes the batch's (the sums are the same either way round),
        // so the batch's cells stay as they are for the analysis cache.
        let rows: Vec<(&CellKey, Option<&str>, u64, Vec<u8>)> = cells
            .into_iter()
            .map(|(k, p, cell, bytes)| match stored.remove(&key_of(k, p)) {
                Some(mut old) => {
                    old.merge(cell);
                    (k, p, old.respondents, old.to_bytes())
                }
                None => (k, p, cell.respondents, bytes.unwrap_or_else(|| cell.to_bytes())),
            })
            .collect();
        let cols = if with_purpose { 8 } else { 7 };
        let (column, conflict) = if with_purpose { (", purpose", ", purpose") } else { ("", "") };
        for chunk in rows.chunks(500) {
            let sql = format!(
                "INSERT INTO {} (hall_id, journey_key, period, segment, respondents, stats, cell{column})
                 VALUES {}
                 ON CONFLICT (hall_id, journey_key, period, segment{conflict})
                 DO UPDATE SET respondents = excluded.respondents, stats = excluded.stats, cell = excluded.cell",
                $table,
                value_marks(pg, chunk.len(), cols)
            );
            let mut q = sqlx::query(&sql);
            for (k, p, respondents, bytes) in chunk {
                q = q
                    .bind(k.hall.as_str())
                    .bind($key)
                    .bind(&k.period)
                    .bind(&k.segment)
                    .bind(*respondents as i64)
                    .bind("")
                    .bind(bytes.as_slice());
                if with_purpose {
                    q = q.bind(p.unwrap_or(""));
                }
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}

/// Opens a lot of cases (`peakend_core::case::NewCase`) on executor `$exec` (evaluated
/// once a statement, e.g. `&mut *tx`), each once per cause, 400 a statement, with the
/// first line of each one's timeline, its webhook deliveries, and its hall's month
/// marked changed: the ids, `None` where the cause had a case already. Every path that
/// opens cases through sqlx (imports, survey answers, PostgreSQL's ingest) comes here.
macro_rules! open_cases {
    ($exec:expr, $cases:expr, $actor:expr, $now:expr) => {{
        use crate::cases::sql as q;
        use peakend_core::case::{CaseId, NewCase};
        let cases: &[NewCase] = $cases;
        let (actor, now): (&str, i64) = ($actor, $now);
        const CHUNK: usize = 400;
        let mut ids: Vec<Option<CaseId>> = Vec::with_capacity(cases.len());
        let hooks: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM webhook WHERE (',' || events || ',') LIKE '%,case.opened,%'",
        )
        .fetch_all($exec)
        .await?;
        let mut seen = HashSet::new();
        let keys: Vec<Option<String>> = cases
            .iter()
            .map(|c| c.contact.as_deref().map(crate::cases::contact_key))
            .collect();
        let earlier = crate::sql::cases::earlier_in_lot(cases, &keys);
        let mut offset = 0;
        // The halls' months the lot touches, marked changed once each at the end.
        let mut months: BTreeSet<(&str, i64)> = BTreeSet::new();
        for chunk in cases.chunks(CHUNK) {
            let range = offset..offset + chunk.len();
            offset += chunk.len();
            let rows = crate::sql::cases::CaseRows::insert_cases(
                $exec,
                chunk,
                &keys[range.clone()],
                &earlier[range],
            )
            .await?;
            let made: HashMap<(String, String, String), (i64, Option<String>)> = rows
                .into_iter()
                .map(|(id, owner, hall, source, cause)| ((hall, source, cause), (id, owner)))
                .collect();
            let mut entries: Vec<(i64, &NewCase, Option<String>)> = Vec::new();
            for c in chunk {
                let k = (
                    c.hall.to_string(),
                    c.source.as_str().to_owned(),
                    c.cause.clone(),
                );
                // A cause twice in one lot: the first opens it.
                match made.get(&k) {
                    Some((id, owner)) if seen.insert(*id) => {
                        entries.push((*id, c, owner.clone()));
                        ids.push(Some(CaseId(*id)));
                    }
                    _ => ids.push(None),
                }
            }
            if entries.is_empty() {
                continue;
            }
            months.extend(
                entries
                    .iter()
                    .map(|(_, c, _)| (c.hall.as_str(), crate::cases::utc_month(c.opened_at))),
            );
            crate::sql::cases::CaseRows::insert_opened($exec, &entries, actor).await?;
            for (hook,) in &hooks {
                crate::sql::cases::CaseRows::insert_opened_deliveries($exec, *hook, &entries, now)
                    .await?;
            }
        }
        for (hall, month) in months {
            sqlx::query(q::BUMP_MONTH)
                .bind(hall)
                .bind(month)
                .execute($exec)
                .await?;
        }
        ids
    }};
}

// After the macros, so that the modules see them.
mod accounts;
mod audits;
mod cases;
mod customers;
mod events;
mod invitations;
mod journeys;
mod org;
mod strategy;
pub(crate) mod surveys;

#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
    analyses: AnalysisCache,
    /// PostgreSQL: per hall, the day the last ingest left, so the next batch of the
    /// same day need not re-read and replay the stored events (checked against the
    /// stored count in the ingest's transaction before use). SQLite's writer keeps its own.
    days: Arc<std::sync::Mutex<HashMap<HallId, CachedDay>>>,
    /// SQLite: the database file, for the event writer's own connection (`None` in
    /// memory, where another connection would see another database).
    sqlite_file: Option<PathBuf>,
    /// SQLite's event writer thread, started by the first ingest.
    sqlite_writer: Arc<std::sync::Mutex<Option<Arc<SqliteWriter>>>>,
    /// SQLite (a file): copies the WAL back into the database beside the writers.
    checkpoints: Option<Arc<Checkpointer>>,
    /// The org tree as of a data generation: nearly every request needs it, and only an
    /// org import (which bumps the generation) changes it.
    org: Arc<std::sync::Mutex<Option<(i64, OrgTree)>>>,
    /// Each hall's rules for the ingest as of a data generation (a journey assigned or
    /// changed, an org or holiday import bumps it), so a batch does not read its hall's
    /// journey, tree and holidays every time.
    rules: Arc<std::sync::Mutex<Option<RulesAsOf>>>,
    /// Held while invitations are decided; on SQLite, what it remembers of each
    /// customer's latest invitation.
    decider: Arc<tokio::sync::Mutex<invitations::LastInvited>>,
    /// SQLite: responses an import brings before it builds the table's non-unique
    /// indexes at its end instead of row by row (see `surveys::DEFER_INDEXES_AFTER`).
    defer_indexes_after: usize,
}

/// Halls' rules and the data generation they were read at, with what every hall's
/// rules are made from (the tree, assignments, journeys and holidays) read once.
type RulesAsOf = (i64, HashMap<HallId, Rules>, Option<Arc<crate::RulesBook>>);

impl SqlStore {
    fn with_pool(pool: Pool, sqlite_file: Option<PathBuf>) -> SqlStore {
        SqlStore {
            pool,
            analyses: AnalysisCache::default(),
            days: Arc::default(),
            checkpoints: sqlite_file
                .as_deref()
                .map(|f| Arc::new(Checkpointer::start(f))),
            sqlite_file,
            sqlite_writer: Arc::default(),
            org: Arc::default(),
            rules: Arc::default(),
            decider: Arc::default(),
            defer_indexes_after: surveys::DEFER_INDEXES_AFTER,
        }
    }

    /// Sets how many responses a SQLite import brings before it defers the indexes
    /// (stories use a small number to take the path with a small file).
    #[doc(hidden)]
    pub fn defer_indexes_after(mut self, responses: usize) -> SqlStore {
        self.defer_indexes_after = responses;
        self
    }

    /// Asks SQLite's checkpointer to copy the WAL back now (after a large write).
    pub(crate) fn checkpoint_soon(&self) {
        if let Some(c) = &self.checkpoints {
            c.poke();
        }
    }

    /// Copies SQLite's WAL back into the database and empties it (a benchmark settles
    /// the writes it does not time, as the checkpointer would in the background);
    /// nothing on PostgreSQL.
    pub async fn settle(&self) -> Result<()> {
        if let Pool::Sqlite(p) = &self.pool {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(p)
                .await?;
        }
        Ok(())
    }

    /// SQLite's event writer, started on first use.
    fn sqlite_writer(&self) -> Result<Arc<SqliteWriter>> {
        let Some(file) = &self.sqlite_file else {
            return Err(StoreError::Invalid(
                "device events need a database file, not an in-memory database".into(),
            ));
        };
        let mut writer = self.sqlite_writer.lock().expect("writer lock");
        if let Some(w) = writer.as_ref().filter(|w| !w.stopped()) {
            return Ok(Arc::clone(w));
        }
        let checkpoints = match &self.checkpoints {
            Some(c) => Arc::clone(c),
            None => Arc::new(Checkpointer::start(file)),
        };
        let w = Arc::new(SqliteWriter::start(file, checkpoints)?);
        *writer = Some(Arc::clone(&w));
        Ok(w)
    }
}

/// The URL with any password masked, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `rows` groups of `cols` parameter marks for a multi-row VALUES: `?` on SQLite, whose
/// named marks sqlx binds in time quadratic in their number; `$n` on PostgreSQL, which
/// has no `?`.
fn value_marks(postgres: bool, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            if postgres {
                out.push_str(&format!("${}", r * cols + c + 1));
            } else {
                out.push('?');
            }
        }
        out.push(')');
    }
    out
}

/// 256 random bits as hex: device tokens, session tokens, CSRF tokens.
fn random_hex() -> String {
    use rand::Rng;
    rand::rng()
        .random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Inclusive visit-date bounds as stored (ISO dates compare as text).
fn date_bounds(from: Option<NaiveDate>, to: Option<NaiveDate>) -> (String, String) {
    let iso = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    (
        from.map_or("0000-01-01".to_owned(), iso),
        to.map_or("9999-12-31".to_owned(), iso),
    )
}

type NodeRow = (
    String,
    Option<String>,
    String,
    String,
    i32,
    i32,
    Option<String>,
    Option<i32>,
    Option<i32>,
);

fn node_from_row(
    (id, parent, level, name, counters, kiosks, tz, nps_target, index_target): NodeRow,
) -> Result<OrgNode> {
    let corrupt = |e: String| StoreError::Corrupt(format!("org node `{id}`: {e}"));
    Ok(OrgNode {
        id: OrgNodeId::parse(id.as_str()).map_err(|e| corrupt(e.to_string()))?,
        parent: parent
            .map(OrgNodeId::parse)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
        level: OrgLevel::from_str(&level).map_err(corrupt)?,
        name: name.clone(),
        counters: u32::try_from(counters).map_err(|e| corrupt(e.to_string()))?,
        kiosks: u32::try_from(kiosks).map_err(|e| corrupt(e.to_string()))?,
        tz: tz
            .as_deref()
            .map(peakend_core::time::Zone::parse)
            .transpose()
            .map_err(corrupt)?,
        targets: peakend_core::Targets {
            nps: nps_target,
            index: index_target,
        },
    })
}

fn journey_from_doc(key: &str, doc: &str) -> Result<Journey> {
    Journey::from_json(doc).map_err(|e| StoreError::Corrupt(format!("journey `{key}`: {e}")))
}

const SELECT_DOCUMENT: &str = "SELECT document FROM journey WHERE journey_key = $1";

fn assignments_from_rows(rows: Vec<(String, String)>) -> Result<Assignments> {
    rows.into_iter()
        .map(|(org, key)| {
            let corrupt = || StoreError::Corrupt(format!("journey assignment of `{org}`"));
            Ok((
                OrgNodeId::parse(org.as_str()).map_err(|_| corrupt())?,
                JourneyKey::parse(key.as_str()).map_err(|_| corrupt())?,
            ))
        })
        .collect::<Result<BTreeMap<_, _>>>()
        .map(Assignments::new)
}

const SELECT_NODES: &str = "SELECT id, parent_id, level, name, counters, kiosks, tz, nps_target, index_target FROM org_node ORDER BY position";

impl SqlStore {
    pub async fn connect(url: &str) -> Result<SqlStore> {
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Url {
                url: redact(url),
                reason: e.to_string(),
            })?;
            // Custom plans always: a prepared statement's generic plan is costed on the
            // table as it was (empty, at first), and a sequential scan chosen then made
            // every later ingest read the whole event table (6× slower at 400k events).
            let options = options.options([("plan_cache_mode", "force_custom_plan")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            return Ok(SqlStore::with_pool(Pool::Postgres(pool), None));
        }
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Url {
                url: url.to_owned(),
                reason: e.to_string(),
            })?
        } else if url.contains("://") {
            return Err(StoreError::Url {
                url: url.to_owned(),
                reason: "expected postgres://…, sqlite://… or a file path".into(),
            });
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        // WAL lets the dashboard read while an import writes. FULL sync: a commit that
        // was acknowledged (an event batch, a survey import) survives a power cut too,
        // not just a crash of the process; batches keep the fsyncs few.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // 64 MB of page cache a connection instead of 2 MB: a large import or
            // ingest transaction otherwise spills dirty pages to the WAL and writes
            // them again and again as it goes on.
            .pragma("cache_size", SQLITE_CACHE.to_string())
            // The store's checkpointer copies the WAL back beside the writers
            // (`sqlite_writer::Checkpointer`); a commit does it only far behind.
            .pragma("wal_autocheckpoint", "50000")
            .busy_timeout(Duration::from_secs(10));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let sqlite_file = (!in_memory).then(|| options.get_filename().to_owned());
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(SqlStore::with_pool(Pool::Sqlite(pool), sqlite_file))
    }

    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        self.run_store_tasks().await?;
        Ok(())
    }

    /// The one-off work a migration left for Rust: folding the responses stored before
    /// purpose cells existed into them (migration 0008), each journey in one transaction.
    async fn run_store_tasks(&self) -> Result<()> {
        self.cells_to_bytes().await?;
        self.hash_org_nodes().await?;
        const TASK: &str = "rebuild_purpose_cells";
        let pending: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT task FROM store_task WHERE task = $1")
                .bind(TASK)
                .fetch_optional(pool)
                .await?
        });
        if pending.is_none() {
            return Ok(());
        }
        let keys: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT DISTINCT journey_key FROM survey_response")
                .fetch_all(pool)
                .await?
        });
        for (key,) in keys {
            let key = JourneyKey::parse(key.as_str())
                .map_err(|e| StoreError::Corrupt(format!("response journey `{key}`: {e}")))?;
            if let Some(journey) = self.journey(&key).await? {
                self.rebuild_cells(&journey).await?;
            }
        }
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM store_task WHERE task = $1").bind(TASK).execute(pool).await?;
        });
        Ok(())
    }

    /// Migration 0044's task, and of any node an older build imported: each org node's
    /// partition hash ([`crate::SweepHalls`]), computed here because SQL has no FNV-1a.
    /// A few thousand nodes at most; none to do on every later start.
    async fn hash_org_nodes(&self) -> Result<()> {
        let ids: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM org_node WHERE part_hash IS NULL")
                .fetch_all(pool)
                .await?
        });
        if ids.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            for (id,) in &ids {
                sqlx::query("UPDATE org_node SET part_hash = $1 WHERE id = $2")
                    .bind(crate::cluster::part_hash(id))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Migration 0041's task: the roll-up cells stored as JSON rewritten in bytes, a few
    /// thousand a transaction, so a database from before reads its cells without parsing
    /// numbers from the first start on. A cell whose JSON no longer reads gets empty
    /// bytes, which read as no cell (its months rescan, as they did).
    async fn cells_to_bytes(&self) -> Result<()> {
        const TASK: &str = "cells_to_bytes";
        let pending: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT task FROM store_task WHERE task = $1")
                .bind(TASK)
                .fetch_optional(pool)
                .await?
        });
        if pending.is_none() {
            return Ok(());
        }
        for (table, purpose) in [
            ("survey_rollup", "''"),
            ("survey_rollup_purpose", "purpose"),
        ] {
            loop {
                type Row = (String, String, String, String, String, String);
                let done = on_pool!(self, pool => {
                    let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
                    let rows: Vec<Row> = sqlx::query_as(&format!(
                        "SELECT hall_id, journey_key, period, segment, {purpose}, stats FROM {table}
                         WHERE cell IS NULL LIMIT 2000"
                    ))
                    .fetch_all(&mut *tx)
                    .await?;
                    for (hall, journey, period, segment, p, json) in &rows {
                        let bytes = serde_json::from_str::<SegmentStats>(json)
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        sqlx::query(&format!(
                            "UPDATE {table} SET cell = $1, stats = '' WHERE hall_id = $2 AND journey_key = $3
                               AND period = $4 AND segment = $5 AND {purpose} = $6"
                        ))
                        .bind(bytes)
                        .bind(hall)
                        .bind(journey)
                        .bind(period)
                        .bind(segment)
                        .bind(p)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    rows.is_empty()
                });
                if done {
                    break;
                }
            }
        }
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM store_task WHERE task = $1").bind(TASK).execute(pool).await?;
        });
        Ok(())
    }

    /// The rules a hall's events are applied on, from the cache while no write other
    /// than survey imports has happened since.
    async fn ingest_rules(&self, hall: &HallId) -> Result<Rules> {
        const MAX_HALLS: usize = 4096;
        let generation = self.data_generation().await?;
        let book = {
            let mut cache = self.rules.lock().expect("rules cache lock");
            match &mut *cache {
                Some((g, halls, book))
                    if *g == generation || self.analyses.only_imports_between(*g, generation) =>
                {
                    *g = generation;
                    if let Some(r) = halls.get(hall) {
                        return Ok(r.clone());
                    }
                    book.clone()
                }
                _ => {
                    *cache = Some((generation, HashMap::new(), None));
                    None
                }
            }
        };
        // A miss reads the organisation once a generation, not once a hall: a hall's
        // rules read on their own cloned the whole tree, a cost of halls × nodes on a
        // province's first batches.
        let book = match book {
            Some(book) => book,
            None => {
                let book = Arc::new(crate::RulesBook::load(self).await?);
                if let Some((g, _, slot)) = &mut *self.rules.lock().expect("rules cache lock")
                    && *g == generation
                {
                    *slot = Some(book.clone());
                }
                book
            }
        };
        let rules = book.leaf_hall(hall)?;
        if let Some((g, halls, _)) = &mut *self.rules.lock().expect("rules cache lock")
            && *g == generation
        {
            if halls.len() >= MAX_HALLS {
                halls.clear();
            }
            halls.insert(hall.clone(), rules.clone());
        }
        Ok(rules)
    }

    /// Recomputes a journey's survey roll-up cells (all-purpose and per purpose) from its
    /// stored responses, in one transaction: after a change of its moment list, or to
    /// fold in responses stored before a kind of cell existed. An import that commits
    /// meanwhile leaves the cells short of a response, which the snapshot's count
    /// notices (the analysis then rescans until the next import).
    async fn rebuild_cells(&self, journey: &Journey) -> Result<()> {
        let mut fold = rollup::RollupFold::new(journey);
        for r in self.responses(journey, None, None, None).await? {
            fold.push(&r);
        }
        let cells = fold.into_rollup();
        let k = journey.key().as_str();
        let layout = rollup::layout(journey);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            for table in ["survey_rollup", "survey_rollup_purpose"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE journey_key = $1"))
                    .bind(k)
                    .execute(&mut *tx)
                    .await?;
            }
            let pg = matches!(self.pool, Pool::Postgres(_));
            merge_cells!(tx, k, layout, "survey_rollup", cells.cells.iter().map(|(c, s)| (c, None, s, None)), pg);
            merge_cells!(tx, k, layout, "survey_rollup_purpose",
                cells.purposes.iter().map(|((c, p), s)| (c, Some(p.as_str()), s, None)), pg);
            bump_generation!(tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Loads the journeys shipped with the binary; re-running it changes nothing
    /// unless the binary ships newer versions.
    pub async fn load_builtin_journeys(&self) -> Result<Vec<(JourneyKey, PutOutcome)>> {
        let journeys = builtin::journeys().map_err(StoreError::Corrupt)?;
        let mut outcomes = Vec::new();
        for j in &journeys {
            outcomes.push((j.key().clone(), self.put_journey(j, Origin::Builtin).await?));
        }
        Ok(outcomes)
    }

    /// Names of the tables in the schema, for the schema test and `peakend init`.
    pub async fn tables(&self) -> Result<Vec<String>> {
        let sql = match self.pool {
            Pool::Sqlite(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name"
            }
            Pool::Postgres(_) => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' ORDER BY table_name"
            }
        };
        let rows: Vec<(String,)> =
            on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Column names of a table, in order.
    pub async fn columns(&self, table: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = match &self.pool {
            Pool::Sqlite(p) => sqlx::query_as("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(table)
                .fetch_all(p)
                .await?,
            Pool::Postgres(p) => sqlx::query_as(
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(p)
            .await?,
        };
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    pub async fn close(&self) {
        // The writer thread ends once its queue is empty; the checkpointer's at once.
        self.sqlite_writer.lock().expect("writer lock").take();
        if let Some(c) = &self.checkpoints {
            c.stop();
        }
        on_pool!(self, pool => pool.close().await)
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop)?);
        Ok(())
    }

    async fn list_journeys(&self) -> Result<Vec<JourneySummary>> {
        journeys::list_journeys(self).await
    }

    async fn journey(&self, key: &JourneyKey) -> Result<Option<Journey>> {
        journeys::journey(self, key).await
    }

    async fn journey_as_stored(&self, key: &JourneyKey) -> Result<Option<Journey>> {
        journeys::journey_as_stored(self, key).await
    }

    async fn put_estimate(
        &self,
        journey: &JourneyKey,
        user: &str,
        batch: &peakend_core::analysis::EstimateBatch,
        at_ms: i64,
    ) -> Result<()> {
        journeys::put_estimate(self, journey, user, batch, at_ms).await
    }

    async fn estimates(
        &self,
        journey: &JourneyKey,
    ) -> Result<Vec<(String, peakend_core::analysis::EstimateBatch, i64)>> {
        journeys::estimates(self, journey).await
    }

    async fn put_journey(&self, journey: &Journey, origin: Origin) -> Result<PutOutcome> {
        journeys::put_journey(self, journey, origin).await
    }

    async fn org_nodes(&self) -> Result<Vec<OrgNode>> {
        org::org_nodes(self).await
    }

    async fn org_tree(&self) -> Result<OrgTree> {
        org::org_tree(self).await
    }

    async fn hall_rules(&self, hall: &HallId) -> Result<Rules> {
        self.ingest_rules(hall).await
    }

    async fn import_org(&self, nodes: Vec<OrgNode>) -> Result<OrgImportSummary> {
        org::import_org(self, nodes).await
    }

    async fn import_responses(&self, journey: &Journey, responses: &[Response]) -> Result<usize> {
        surveys::import_responses(self, journey, responses).await
    }

    async fn import_response_stream(
        &self,
        journey: &Journey,
        batches: tokio::sync::mpsc::Receiver<ImportBatch>,
    ) -> Result<usize> {
        surveys::import_response_stream(self, journey, batches).await
    }

    async fn create_device_token(&self, hall: &HallId) -> Result<String> {
        accounts::create_device_token(self, hall).await
    }

    async fn device_token_hall(&self, token: &str) -> Result<Option<HallId>> {
        accounts::device_token_hall(self, token).await
    }

    async fn ingest_events(
        &self,
        hall: &HallId,
        events: Vec<(usize, Event, String)>,
        refused: Vec<(usize, String, String)>,
    ) -> Result<IngestOutcome> {
        events::ingest_events(self, hall, events, refused, false).await
    }

    async fn ingest_events_inviting(
        &self,
        hall: &HallId,
        events: Vec<(usize, Event, String)>,
        refused: Vec<(usize, String, String)>,
    ) -> Result<IngestOutcome> {
        // A network without a survey programme queues nothing: no insert per ended
        // contact for a decider that would only drop it (one read of a tiny table).
        let programme: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT node_id FROM invite_rule LIMIT 1")
                .fetch_optional(pool)
                .await?
        });
        events::ingest_events(self, hall, events, refused, programme.is_some()).await
    }

    async fn import_holidays(&self, holidays: &[Holiday]) -> Result<usize> {
        org::import_holidays(self, holidays).await
    }

    async fn record_sign_in(&self, sign_in: &crate::SignIn) -> Result<()> {
        self.accounts_record_sign_in(sign_in).await
    }

    async fn sign_ins(&self, limit: i64) -> Result<Vec<crate::SignIn>> {
        self.accounts_sign_ins(limit).await
    }

    async fn kiosk_faults(&self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>> {
        events::kiosk_faults(self, hall, before).await
    }

    async fn journey_assignments(&self) -> Result<Assignments> {
        journeys::journey_assignments(self).await
    }

    async fn assign_journey(
        &self,
        node: &OrgNodeId,
        journey: &JourneyKey,
        by: &str,
        at_ms: i64,
    ) -> Result<Option<JourneyKey>> {
        journeys::assign_journey(self, node, journey, by, at_ms).await
    }

    async fn journey_changes(&self, node: Option<&OrgNodeId>) -> Result<Vec<AssignmentChange>> {
        journeys::journey_changes(self, node).await
    }

    async fn holidays(&self) -> Result<Vec<Holiday>> {
        org::holidays(self).await
    }

    async fn hall_events(&self, hall: &HallId, from_ms: i64, to_ms: i64) -> Result<Vec<Event>> {
        events::hall_events(self, hall, from_ms, to_ms).await
    }

    async fn hall_events_tail(
        &self,
        hall: &HallId,
        start_ms: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(u64, Vec<Event>)> {
        events::hall_events_tail(self, hall, start_ms, from_ms, to_ms).await
    }

    async fn ack_alert(&self, hall: &HallId, alert: &Alert, by: &str, at_ms: i64) -> Result<bool> {
        events::ack_alert(self, hall, alert, by, at_ms).await
    }

    async fn alert_acks(&self, hall: &HallId) -> Result<BTreeMap<String, (i64, String)>> {
        events::alert_acks(self, hall, None).await
    }

    async fn alert_acks_raised(
        &self,
        hall: &HallId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<BTreeMap<String, (i64, String)>> {
        events::alert_acks(self, hall, Some((from_ms, to_ms))).await
    }

    async fn ops_rollups(
        &self,
        halls: Option<&[HallId]>,
        from: NaiveDate,
        to: NaiveDate,
        detail: RollupRead,
    ) -> Result<Vec<(HallId, NaiveDate, Option<DayRollup>)>> {
        events::ops_rollups(self, halls, from, to, detail).await
    }

    async fn ops_rollup(&self, hall: &HallId, day: NaiveDate) -> Result<Option<DayRollup>> {
        events::ops_rollup(self, hall, day).await
    }

    async fn care_acks_since(&self, from_ms: i64) -> Result<HashSet<(HallId, String, i64)>> {
        events::care_acks_since(self, from_ms).await
    }

    async fn quarantined(&self, hall: Option<&HallId>) -> Result<Vec<Quarantined>> {
        events::quarantined(self, hall).await
    }

    async fn rollup_snapshot(
        &self,
        journey: &Journey,
        q: &CellQuery<'_>,
    ) -> Result<RollupSnapshot> {
        surveys::rollup_snapshot(self, journey, q).await
    }

    async fn responses(
        &self,
        journey: &Journey,
        halls: Option<&[HallId]>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<Response>> {
        surveys::responses(self, journey, halls, from, to).await
    }

    async fn comments(
        &self,
        journey: &Journey,
        halls: Option<&[HallId]>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<crate::StoredComment>> {
        surveys::comments(self, journey, halls, from, to).await
    }

    async fn device_tokens(&self, halls: Option<&[HallId]>) -> Result<Vec<(HallId, i64)>> {
        self.accounts_device_tokens(halls).await
    }

    async fn create_user(&self, user: &User, password_hash: &str) -> Result<()> {
        self.accounts_create_user(user, password_hash).await
    }

    async fn set_password(&self, name: &UserName, password_hash: &str) -> Result<()> {
        self.accounts_set_password(name, password_hash).await
    }

    async fn user_credentials(&self, name: &UserName) -> Result<Option<(User, String)>> {
        self.accounts_credentials(name).await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.accounts_users().await
    }

    async fn create_session(&self, user: &UserName, expires_at: i64) -> Result<(String, String)> {
        self.accounts_create_session(user, expires_at).await
    }

    async fn session(&self, token: &str, now: i64) -> Result<Option<Session>> {
        self.accounts_session(token, now).await
    }

    async fn end_session(&self, token: &str) -> Result<()> {
        self.accounts_end_session(token).await
    }

    async fn data_generation(&self) -> Result<i64> {
        let row: Option<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT generation FROM data_generation WHERE id = 1")
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map_or(0, |(g,)| g))
    }

    fn analysis_cache(&self) -> Option<&AnalysisCache> {
        Some(&self.analyses)
    }
}

/// An ingest's database work on PostgreSQL, in the batch's transaction.
#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("peakend.db"), "peakend.db");
    }
}
