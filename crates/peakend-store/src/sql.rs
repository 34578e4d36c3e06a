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
use crate::sqlite_writer::SqliteWriter;
use crate::{
    AnalysisCache, Backend, CellQuery, IngestOutcome, JourneySummary, OrgImportSummary, Origin,
    PutOutcome, Quarantined, Result, RollupSnapshot, Session, Store, StoreError, User,
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

/// Bumps the data generation inside transaction `$tx`: every write that changes what a
/// cached analysis, org tree or hall's rules were computed from.
macro_rules! bump_generation {
    ($tx:ident) => {
        sqlx::query("UPDATE data_generation SET generation = generation + 1 WHERE id = 1")
            .execute(&mut *$tx)
            .await?
    };
}

// After the macros, so the module sees them.
#[path = "accounts.rs"]
mod accounts;
/// Merges roll-up cells (`(&CellKey, Option<purpose>, &SegmentStats)`) of journey `$key`
/// into table `$table` on `$tx`: the purpose column only for purpose cells.
macro_rules! merge_cells {
    ($tx:ident, $key:expr, $layout:expr, $table:literal, $cells:expr) => {
        for (k, purpose, cell) in $cells {
            let purpose: Option<&str> = purpose;
            let filter = if purpose.is_some() { " AND purpose = $5" } else { "" };
            let select = format!(
                "SELECT stats FROM {} WHERE hall_id = $1 AND journey_key = $2 AND period = $3 AND segment = $4{filter}",
                $table
            );
            let mut q = sqlx::query_as::<_, (String,)>(&select)
            .bind(k.hall.as_str()).bind($key).bind(&k.period).bind(&k.segment);
            if let Some(p) = purpose {
                q = q.bind(p);
            }
            let stored = q.fetch_optional(&mut *$tx).await?;
            // The stored cell takes the batch's (the sums are the same either way round),
            // so the batch's cells stay as they are for the analysis cache.
            let merged = stored
                .and_then(|(json,)| serde_json::from_str::<SegmentStats>(&json).ok())
                .filter(|old| rollup::fits(old, &$layout))
                .map(|mut old| {
                    old.merge(cell);
                    old
                });
            let cell: &SegmentStats = merged.as_ref().unwrap_or(cell);
            let json = serde_json::to_string(cell)
                .map_err(|e| StoreError::Invalid(format!("roll-up cell cannot be encoded: {e}")))?;
            let (column, mark) = if purpose.is_some() { (", purpose", ", $7") } else { ("", "") };
            let sql = format!(
                "INSERT INTO {} (hall_id, journey_key, period, segment, respondents, stats{column})
                 VALUES ($1, $2, $3, $4, $5, $6{mark})
                 ON CONFLICT (hall_id, journey_key, period, segment{column})
                 DO UPDATE SET respondents = excluded.respondents, stats = excluded.stats",
                $table
            );
            let mut q = sqlx::query(&sql)
                .bind(k.hall.as_str()).bind($key).bind(&k.period).bind(&k.segment)
                .bind(cell.respondents as i64).bind(json);
            if let Some(p) = purpose {
                q = q.bind(p);
            }
            q.execute(&mut *$tx).await?;
        }
    };
}

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
    /// The org tree as of a data generation: nearly every request needs it, and only an
    /// org import (which bumps the generation) changes it.
    org: Arc<std::sync::Mutex<Option<(i64, OrgTree)>>>,
    /// Each hall's rules for the ingest as of a data generation (a journey assigned or
    /// changed, an org or holiday import bumps it), so a batch does not read its hall's
    /// journey, tree and holidays every time.
    rules: Arc<std::sync::Mutex<Option<RulesAsOf>>>,
}

/// Halls' rules and the data generation they were read at.
type RulesAsOf = (i64, HashMap<HallId, Rules>);

impl SqlStore {
    fn with_pool(pool: Pool, sqlite_file: Option<PathBuf>) -> SqlStore {
        SqlStore {
            pool,
            analyses: AnalysisCache::default(),
            days: Arc::default(),
            sqlite_file,
            sqlite_writer: Arc::default(),
            org: Arc::default(),
            rules: Arc::default(),
        }
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
        let w = Arc::new(SqliteWriter::start(file)?);
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
);

fn node_from_row((id, parent, level, name, counters, kiosks, tz): NodeRow) -> Result<OrgNode> {
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

const SELECT_NODES: &str =
    "SELECT id, parent_id, level, name, counters, kiosks, tz FROM org_node ORDER BY position";

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
            .pragma("cache_size", "-65536")
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

    /// The rules a hall's events are applied on, from the cache while no write other
    /// than survey imports has happened since.
    async fn ingest_rules(&self, hall: &HallId) -> Result<Rules> {
        const MAX_HALLS: usize = 4096;
        let generation = self.data_generation().await?;
        {
            let mut cache = self.rules.lock().expect("rules cache lock");
            match &mut *cache {
                Some((g, halls))
                    if *g == generation || self.analyses.only_imports_between(*g, generation) =>
                {
                    *g = generation;
                    if let Some(r) = halls.get(hall) {
                        return Ok(r.clone());
                    }
                }
                _ => *cache = Some((generation, HashMap::new())),
            }
        }
        let rules = crate::hall_rules(self, hall).await?;
        if let Some((g, halls)) = &mut *self.rules.lock().expect("rules cache lock")
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
        let mut cells = Rollup::new(journey);
        for r in self.responses(journey, None, None, None).await? {
            cells.push(&r);
        }
        let k = journey.key().as_str();
        let layout = rollup::layout(journey);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for table in ["survey_rollup", "survey_rollup_purpose"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE journey_key = $1"))
                    .bind(k)
                    .execute(&mut *tx)
                    .await?;
            }
            merge_cells!(tx, k, layout, "survey_rollup", cells.cells.iter().map(|(c, s)| (c, None, s)));
            merge_cells!(tx, k, layout, "survey_rollup_purpose",
                cells.purposes.iter().map(|((c, p), s)| (c, Some(p.as_str()), s)));
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
        // The writer thread ends once its queue is empty.
        self.sqlite_writer.lock().expect("writer lock").take();
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
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT journey_key, document FROM journey ORDER BY journey_key")
                .fetch_all(pool)
                .await?
        });
        rows.iter()
            .map(|(key, doc)| Ok(JourneySummary::from(&journey_from_doc(key, doc)?)))
            .collect()
    }

    async fn journey(&self, key: &JourneyKey) -> Result<Option<Journey>> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(SELECT_DOCUMENT)
                .bind(key.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(|(doc,)| journey_from_doc(key.as_str(), &doc))
            .transpose()
    }

    async fn put_journey(&self, journey: &Journey, origin: Origin) -> Result<PutOutcome> {
        let key = journey.key().as_str();
        if origin == Origin::User && builtin::is_builtin(key) {
            return Err(StoreError::Conflict(format!(
                "journey `{key}` is built in and cannot be replaced; import your version under a new key with \"extends\": \"{key}\""
            )));
        }
        let document = journey.to_json_pretty();
        let backend = self.backend();
        // Whether the stored journey had another moment list: then what is kept per
        // moment (the survey roll-up cells) is rebuilt once the journey is written.
        let mut moments_changed = false;
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if backend == Backend::Postgres {
                // Serialise journey writers so parent/child checks see a stable set.
                sqlx::query("LOCK TABLE journey IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let existing: Option<(String,)> =
                sqlx::query_as(SELECT_DOCUMENT)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;

            if let Some(parent_key) = journey.extends() {
                let parent: Option<(String,)> =
                    sqlx::query_as(SELECT_DOCUMENT)
                        .bind(parent_key.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((parent_doc,)) = parent else {
                    return Err(StoreError::Journey(JourneyError::field(
                        "extends",
                        format!("parent journey `{parent_key}` does not exist; import it first"),
                    )));
                };
                journey.check_extends(&journey_from_doc(parent_key.as_str(), &parent_doc)?)?;
                // Walk up the chain so that no journey ever ends up extending itself.
                let mut cursor = Some(parent_key.to_string());
                while let Some(k) = cursor {
                    if k == key {
                        return Err(StoreError::Conflict(format!(
                            "journey `{key}` would extend itself through `{parent_key}`"
                        )));
                    }
                    let up: Option<(Option<String>,)> =
                        sqlx::query_as("SELECT extends FROM journey WHERE journey_key = $1")
                            .bind(&k)
                            .fetch_optional(&mut *tx)
                            .await?;
                    cursor = up.and_then(|(e,)| e);
                }
            }

            let children: Vec<(String, String)> =
                sqlx::query_as("SELECT journey_key, document FROM journey WHERE extends = $1 ORDER BY journey_key")
                    .bind(key)
                    .fetch_all(&mut *tx)
                    .await?;
            for (child_key, child_doc) in &children {
                journey_from_doc(child_key, child_doc)?.check_extends(journey).map_err(|e| {
                    StoreError::Conflict(format!("cannot change `{key}`: journey `{child_key}` extends it and would break: {e}"))
                })?;
            }

            if let Some((doc,)) = &existing {
                let keys = |j: &Journey| j.moments().iter().map(|m| m.key.clone()).collect::<Vec<_>>();
                moments_changed = journey_from_doc(key, doc).map_or(true, |old| keys(&old) != keys(journey));
            }
            let outcome = match &existing {
                Some((doc,)) if *doc == document => return Ok(PutOutcome::Unchanged),
                Some(_) => PutOutcome::Updated,
                None => PutOutcome::Created,
            };

            sqlx::query(
                "INSERT INTO journey (journey_key, name_zh, name_en, channel, extends, builtin, document, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (journey_key) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en,
                   channel = excluded.channel, extends = excluded.extends, builtin = excluded.builtin,
                   document = excluded.document, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(&journey.name().zh)
            .bind(&journey.name().en)
            .bind(enum_str(&journey.channel()))
            .bind(journey.extends().map(|k| k.as_str()))
            .bind(origin == Origin::Builtin)
            .bind(&document)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;

            // Standards are rebuilt; moments are upserted so that responses which
            // reference a kept moment stay valid, and removed ones are deleted.
            sqlx::query("DELETE FROM journey_standard WHERE journey_key = $1").bind(key).execute(&mut *tx).await?;
            let old_moments: Vec<(String,)> =
                sqlx::query_as("SELECT moment_key FROM journey_moment WHERE journey_key = $1")
                    .bind(key)
                    .fetch_all(&mut *tx)
                    .await?;
            for (old,) in &old_moments {
                if !journey.moments().iter().any(|m| m.key.as_str() == old) {
                    sqlx::query("DELETE FROM journey_moment WHERE journey_key = $1 AND moment_key = $2")
                        .bind(key)
                        .bind(old)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            for (position, m) in journey.moments().iter().enumerate() {
                sqlx::query(
                    "INSERT INTO journey_moment (journey_key, moment_key, position, stage, importance)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (journey_key, moment_key) DO UPDATE SET position = excluded.position,
                       stage = excluded.stage, importance = excluded.importance",
                )
                .bind(key)
                .bind(m.key.as_str())
                .bind(position as i32)
                .bind(enum_str(&m.stage))
                .bind(m.importance)
                .execute(&mut *tx)
                .await?;
                for s in &m.standards {
                    sqlx::query(
                        "INSERT INTO journey_standard (journey_key, moment_key, standard_key, owner,
                           threshold_value, threshold_unit, threshold_bound)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(key)
                    .bind(m.key.as_str())
                    .bind(s.key.as_str())
                    .bind(enum_str(&s.owner))
                    .bind(s.threshold.as_ref().map(|t| t.value))
                    .bind(s.threshold.as_ref().map(|t| t.unit.symbol()))
                    .bind(s.threshold.as_ref().map(|t| enum_str(&t.bound)))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            bump_generation!(tx);
            tx.commit().await?;
            outcome
        });
        if moments_changed {
            self.rebuild_cells(journey).await?;
        }
        Ok(outcome)
    }

    async fn org_nodes(&self) -> Result<Vec<OrgNode>> {
        let rows: Vec<NodeRow> =
            on_pool!(self, pool => sqlx::query_as(SELECT_NODES).fetch_all(pool).await?);
        rows.into_iter().map(node_from_row).collect()
    }

    async fn org_tree(&self) -> Result<OrgTree> {
        // The generation is read first: an import committing in between leaves a newer
        // tree under an older generation, which the next call replaces.
        let generation = self.data_generation().await?;
        if let Some((g, tree)) = &mut *self.org.lock().expect("org cache lock")
            && self.analyses.only_imports_between(*g, generation)
        {
            // Survey imports alone (a form's answer) leave the tree as it was.
            *g = generation;
            return Ok(tree.clone());
        }
        let tree = OrgTree::build(self.org_nodes().await?).map_err(StoreError::Org)?;
        *self.org.lock().expect("org cache lock") = Some((generation, tree.clone()));
        Ok(tree)
    }

    async fn import_org(&self, nodes: Vec<OrgNode>) -> Result<OrgImportSummary> {
        let backend = self.backend();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if backend == Backend::Postgres {
                sqlx::query("LOCK TABLE org_node IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let rows: Vec<NodeRow> = sqlx::query_as(SELECT_NODES).fetch_all(&mut *tx).await?;
            let existing = rows.into_iter().map(node_from_row).collect::<Result<Vec<_>>>()?;
            let known: HashSet<OrgNodeId> = existing.iter().map(|n| n.id.clone()).collect();
            let first_position = existing.len() as i32;
            OrgTree::merge(existing, nodes.clone()).map_err(StoreError::Org)?;

            let mut summary = OrgImportSummary { total: nodes.len(), ..Default::default() };
            // New nodes go after the stored ones; an update keeps its place.
            for (position, n) in (first_position..).zip(&nodes) {
                if known.contains(&n.id) {
                    summary.updated += 1;
                } else {
                    summary.created += 1;
                }
                sqlx::query(
                    "INSERT INTO org_node (id, parent_id, level, name, counters, kiosks, position, tz)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, level = excluded.level,
                       name = excluded.name, counters = excluded.counters, kiosks = excluded.kiosks,
                       tz = excluded.tz",
                )
                .bind(n.id.as_str())
                .bind(n.parent.as_ref().map(|p| p.as_str()))
                .bind(n.level.as_str())
                .bind(&n.name)
                .bind(n.counters as i32)
                .bind(n.kiosks as i32)
                .bind(position)
                .bind(n.tz.map(|z| z.name()))
                .execute(&mut *tx)
                .await?;
            }
            bump_generation!(tx);
            tx.commit().await?;
            Ok(summary)
        })
    }

    async fn import_responses(&self, journey: &Journey, responses: &[Response]) -> Result<usize> {
        let key = journey.key().as_str();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if matches!(self.pool, Pool::Postgres(_)) {
                // One import of a journey at a time: two would both read a roll-up cell
                // and the second write would lose the first's responses from it.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext('survey:' || $1))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            let halls: Vec<(String,)> =
                sqlx::query_as("SELECT id FROM org_node WHERE level = 'hall'").fetch_all(&mut *tx).await?;
            let halls: HashSet<String> = halls.into_iter().map(|(h,)| h).collect();
            let unknown: BTreeSet<&str> =
                responses.iter().map(|r| r.hall.as_str()).filter(|h| !halls.contains(*h)).collect();
            if !unknown.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "unknown halls: {} (import the organisation first)",
                    unknown.into_iter().collect::<Vec<_>>().join(", ")
                )));
            }
            // A form's one answer looks up its own respondent (the unique index); only a
            // large file reads the journey's respondents whole, which is then cheaper.
            let stored: HashSet<String> = if responses.len() > 50_000 {
                let all: Vec<(String,)> = sqlx::query_as("SELECT respondent FROM survey_response WHERE journey_key = $1")
                    .bind(key)
                    .fetch_all(&mut *tx)
                    .await?;
                all.into_iter().map(|(r,)| r).collect()
            } else {
                let mut found = HashSet::new();
                for chunk in responses.chunks(500) {
                    let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                    let sql = format!(
                        "SELECT respondent FROM survey_response WHERE journey_key = $1 AND respondent IN ({})",
                        marks.join(", ")
                    );
                    let mut q = sqlx::query_as::<_, (String,)>(&sql).bind(key);
                    for r in chunk {
                        q = q.bind(r.respondent.as_str());
                    }
                    found.extend(q.fetch_all(&mut *tx).await?.into_iter().map(|(r,)| r));
                }
                found
            };
            let again: Vec<&str> =
                responses.iter().map(|r| r.respondent.as_str()).filter(|r| stored.contains(*r)).collect();
            if !again.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "{} respondents are already stored for journey `{key}` (re-imports are refused, not duplicated): {}{}",
                    again.len(),
                    again.iter().take(10).copied().collect::<Vec<_>>().join(", "),
                    if again.len() > 10 { ", …" } else { "" }
                )));
            }
            let now = now_ms();
            let postgres = matches!(self.pool, Pool::Postgres(_));
            // Many rows a statement (one a row was most of an import's time), with
            // anonymous marks on SQLite (see `insert_events!`).
            for chunk in responses.chunks(500) {
                let sql = format!(
                    "INSERT INTO survey_response (hall_id, journey_key, respondent, visit_date, segment, purpose,
                       overall, nps, tolerable_wait_min, received_at)
                     VALUES {} RETURNING id, respondent",
                    value_marks(postgres, chunk.len(), 10)
                );
                let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
                for r in chunk {
                    q = q
                        .bind(r.hall.as_str())
                        .bind(key)
                        .bind(&r.respondent)
                        .bind(r.date.format("%Y-%m-%d").to_string())
                        .bind(&r.segment)
                        .bind(r.purpose.as_deref())
                        .bind(r.overall)
                        .bind(r.nps)
                        .bind(r.tolerable_wait_min)
                        .bind(now);
                }
                // RETURNING's order is not promised: match ids by respondent.
                let ids: HashMap<String, i64> =
                    q.fetch_all(&mut *tx).await?.into_iter().map(|(id, r)| (r, id)).collect();
                let id_of = |r: &Response| {
                    ids.get(&r.respondent).copied().ok_or_else(|| {
                        StoreError::Corrupt(format!("respondent `{}` was not stored", r.respondent))
                    })
                };
                let mut ratings = Vec::new();
                let mut needs = Vec::new();
                for r in chunk {
                    let id = id_of(r)?;
                    for (m, rating) in journey.moments().iter().zip(&r.ratings) {
                        if rating.importance.is_some() || rating.satisfaction.is_some() {
                            ratings.push((r.hall.as_str(), id, m.key.as_str(), rating.importance, rating.satisfaction));
                        }
                    }
                    for n in &r.needs {
                        let m = &journey.moments()[n.moment];
                        needs.push((r.hall.as_str(), id, m.key.as_str(), m.core_needs[n.need].key.as_str(), n.importance));
                    }
                }
                for rows in ratings.chunks(1000) {
                    let sql = format!(
                        "INSERT INTO response_rating (hall_id, response_id, journey_key, moment_key, importance, satisfaction)
                         VALUES {}",
                        value_marks(postgres, rows.len(), 6)
                    );
                    let mut q = sqlx::query(&sql);
                    for (hall, id, moment, importance, satisfaction) in rows {
                        q = q.bind(*hall).bind(*id).bind(key).bind(*moment).bind(*importance).bind(*satisfaction);
                    }
                    q.execute(&mut *tx).await?;
                }
                for rows in needs.chunks(1000) {
                    let sql = format!(
                        "INSERT INTO response_need (hall_id, response_id, moment_key, need_key, importance)
                         VALUES {}",
                        value_marks(postgres, rows.len(), 5)
                    );
                    let mut q = sqlx::query(&sql);
                    for (hall, id, moment, need, importance) in rows {
                        q = q.bind(*hall).bind(*id).bind(*moment).bind(*need).bind(*importance);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            // The batch's roll-up cells merge into the stored ones in the same
            // transaction. A stored cell that no longer fits the journey is replaced;
            // its count then disagrees with the responses and analyses rescan.
            let layout = rollup::layout(journey);
            let mut batch = Rollup::new(journey);
            responses.iter().for_each(|r| batch.push(r));
            merge_cells!(tx, key, layout, "survey_rollup", batch.cells.iter().map(|(k, c)| (k, None, c)));
            merge_cells!(tx, key, layout, "survey_rollup_purpose",
                batch.purposes.iter().map(|((k, p), c)| (k, Some(p.as_str()), c)));
            let (generation,): (i64,) = sqlx::query_as(
                "UPDATE data_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation",
            )
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            // Analyses cached in this process catch up with these cells instead of
            // starting over (see `AnalysisCache`).
            self.analyses.record(generation, journey.key(), batch);
            Ok(responses.len())
        })
    }

    async fn create_device_token(&self, hall: &HallId) -> Result<String> {
        let token = random_hex();
        let hash = sha256_hex(&token);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let is_hall: Option<(String,)> =
                sqlx::query_as("SELECT id FROM org_node WHERE id = $1 AND level = 'hall'")
                    .bind(hall.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if is_hall.is_none() {
                return Err(StoreError::NotFound(format!("hall `{hall}` not found")));
            }
            sqlx::query("INSERT INTO device_token (token_sha256, hall_id, created_at) VALUES ($1, $2, $3)")
                .bind(&hash).bind(hall.as_str()).bind(now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(token)
    }

    async fn device_token_hall(&self, token: &str) -> Result<Option<HallId>> {
        let hash = sha256_hex(token.trim());
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT hall_id FROM device_token WHERE token_sha256 = $1")
                .bind(&hash)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(h,)| {
            HallId::parse(h.as_str())
                .map_err(|e| StoreError::Corrupt(format!("device token hall `{h}`: {e}")))
        })
        .transpose()
    }

    async fn ingest_events(
        &self,
        hall: &HallId,
        events: Vec<(usize, Event, String)>,
        refused: Vec<(usize, String, String)>,
    ) -> Result<IngestOutcome> {
        let rules = self.ingest_rules(hall).await?;
        let pool = match &self.pool {
            Pool::Sqlite(_) => {
                return self
                    .sqlite_writer()?
                    .ingest(hall, rules, events, refused)
                    .await;
            }
            Pool::Postgres(pool) => pool,
        };
        let cached = self.days.lock().expect("day cache lock").remove(hall);
        let mut tx = pool.begin().await?;
        // One ingest per hall at a time, so two batches cannot both pass the transition
        // checks against the same stored state.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(hall.as_str())
            .execute(&mut *tx)
            .await?;
        let (outcome, day) = ingest::apply_batch(
            &mut PgIngest { tx: &mut tx },
            hall,
            &rules,
            events,
            refused,
            cached,
            now_ms(),
        )
        .await?;
        tx.commit().await?;
        // Only a committed day is cached: an error above returned early and left the
        // hall out of the cache, so the next batch re-reads it.
        if let Some(day) = day {
            ingest::keep_day(
                &mut self.days.lock().expect("day cache lock"),
                hall.clone(),
                day,
            );
        }
        Ok(outcome)
    }

    async fn import_holidays(&self, holidays: &[Holiday]) -> Result<usize> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for h in holidays {
                sqlx::query(
                    "INSERT INTO holiday (province_id, day, name) VALUES ($1, $2, $3)
                     ON CONFLICT (province_id, day) DO UPDATE SET name = excluded.name",
                )
                .bind(h.province.as_str())
                .bind(h.date.to_string())
                .bind(&h.name)
                .execute(&mut *tx)
                .await?;
            }
            // Working days changed: rules cached for the ingest must be read again.
            bump_generation!(tx);
            tx.commit().await?;
        });
        Ok(holidays.len())
    }

    async fn record_sign_in(&self, sign_in: &crate::SignIn) -> Result<()> {
        self.accounts_record_sign_in(sign_in).await
    }

    async fn sign_ins(&self, limit: i64) -> Result<Vec<crate::SignIn>> {
        self.accounts_sign_ins(limit).await
    }

    async fn kiosk_faults(&self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>> {
        let rows: Vec<KioskRow> = on_pool!(self, pool => {
            sqlx::query_as(SELECT_KIOSK_FAULTS)
                .bind(hall.as_str())
                .bind(before)
                .bind(before - KIOSK_FAULT_MEMORY_MS)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(kiosk_fault_of).collect())
    }

    async fn journey_assignments(&self) -> Result<Assignments> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT org_id, journey_key FROM org_journey")
                .fetch_all(pool)
                .await?
        });
        assignments_from_rows(rows)
    }

    async fn assign_journey(
        &self,
        node: &OrgNodeId,
        journey: &JourneyKey,
        by: &str,
        at_ms: i64,
    ) -> Result<Option<JourneyKey>> {
        let backend = self.backend();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if backend == Backend::Postgres {
                // One assigner at a time, and no journey rewritten meanwhile, so the
                // governance check sees the tree of assignments it writes into.
                sqlx::query("LOCK TABLE org_journey IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("LOCK TABLE journey IN SHARE MODE").execute(&mut *tx).await?;
            }
            let nodes: Vec<NodeRow> = sqlx::query_as(SELECT_NODES).fetch_all(&mut *tx).await?;
            let tree = OrgTree::build(
                nodes.into_iter().map(node_from_row).collect::<Result<Vec<_>>>()?,
            )
            .map_err(StoreError::Org)?;
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT org_id, journey_key FROM org_journey")
                    .fetch_all(&mut *tx)
                    .await?;
            let assignments = assignments_from_rows(rows)?;
            let docs: Vec<(String, String)> =
                sqlx::query_as("SELECT journey_key, document FROM journey")
                    .fetch_all(&mut *tx)
                    .await?;
            let journeys = docs
                .iter()
                .map(|(k, d)| journey_from_doc(k, d).map(|j| (j.key().clone(), j)))
                .collect::<Result<BTreeMap<_, _>>>()?;
            peakend_core::assignment::check_assignment(
                &tree,
                &assignments,
                &journeys,
                node,
                journey,
            )?;
            let old = assignments.own(node).cloned();
            if old.as_ref() == Some(journey) {
                return Ok(old);
            }
            sqlx::query(
                "INSERT INTO org_journey (org_id, journey_key, assigned_by, assigned_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org_id) DO UPDATE SET journey_key = excluded.journey_key,
                   assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at",
            )
            .bind(node.as_str())
            .bind(journey.as_str())
            .bind(by)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO org_journey_change (org_id, old_journey, new_journey, changed_by, changed_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(node.as_str())
            .bind(old.as_ref().map(JourneyKey::as_str))
            .bind(journey.as_str())
            .bind(by)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
            // Analyses of the node now follow another journey.
            bump_generation!(tx);
            tx.commit().await?;
            Ok(old)
        })
    }

    async fn journey_changes(&self, node: Option<&OrgNodeId>) -> Result<Vec<AssignmentChange>> {
        type Row = (String, Option<String>, String, String, i64);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT org_id, old_journey, new_journey, changed_by, changed_at
                 FROM org_journey_change WHERE $1 IS NULL OR org_id = $1 ORDER BY id",
            )
            .bind(node.map(OrgNodeId::as_str))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(org, old, new, by, at)| {
                let corrupt = |what: &str| {
                    StoreError::Corrupt(format!("journey assignment of `{org}`: {what}"))
                };
                Ok(AssignmentChange {
                    node: OrgNodeId::parse(org.as_str()).map_err(|_| corrupt("node"))?,
                    old: old
                        .map(|k| JourneyKey::parse(k.as_str()))
                        .transpose()
                        .map_err(|_| corrupt("old journey"))?,
                    new: JourneyKey::parse(new.as_str()).map_err(|_| corrupt("new journey"))?,
                    by,
                    at,
                })
            })
            .collect()
    }

    async fn holidays(&self) -> Result<Vec<Holiday>> {
        let rows: Vec<(String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT province_id, day, name FROM holiday ORDER BY province_id, day")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(province, day, name)| {
                let corrupt =
                    |what: &str| StoreError::Corrupt(format!("holiday {province} {day}: {what}"));
                Ok(Holiday {
                    province: OrgNodeId::parse(province.as_str())
                        .map_err(|_| corrupt("province"))?,
                    date: day.parse().map_err(|_| corrupt("date"))?,
                    name,
                })
            })
            .collect()
    }

    async fn hall_events(&self, hall: &HallId, from_ms: i64, to_ms: i64) -> Result<Vec<Event>> {
        let rows: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT payload FROM visit_event WHERE hall_id = $1 AND at >= $2 AND at < $3")
                .bind(hall.as_str()).bind(from_ms).bind(to_ms)
                .fetch_all(pool)
                .await?
        });
        let rows_len = rows.len();
        let hall = hall.clone();
        let parse = move || {
            let mut events = rows
                .into_iter()
                .map(|(p,)| {
                    Event::from_json(&p).map_err(|e| {
                        StoreError::Corrupt(format!("stored event of hall `{hall}`: {e}"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            sort_for_replay(&mut events);
            Ok(events)
        };
        // A whole day of a busy hall is parsed off the async threads (reports read many
        // halls at once); a live view's few events are not worth the hop.
        if rows_len > 2_000 {
            tokio::task::spawn_blocking(parse)
                .await
                .map_err(|e| StoreError::Corrupt(format!("parsing stored events failed: {e}")))?
        } else {
            parse()
        }
    }

    async fn ack_alert(&self, hall: &HallId, alert: &Alert, by: &str, at_ms: i64) -> Result<bool> {
        let kind = enum_str(&alert.kind);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (known,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM alert WHERE hall_id = $1 AND kind = $2
                   AND COALESCE(ticket, '') = $3 AND COALESCE(kiosk, '') = $4 AND raised_at = $5",
            )
            .bind(hall.as_str()).bind(&kind)
            .bind(alert.ticket.as_deref().unwrap_or("")).bind(alert.kiosk.as_deref().unwrap_or(""))
            .bind(alert.raised_at)
            .fetch_one(&mut *tx)
            .await?;
            if known > 0 {
                return Ok(false);
            }
            // The alert itself is derived by replaying the day; its row keeps who took
            // care of it.
            sqlx::query(
                "INSERT INTO alert (hall_id, kind, ticket, kiosk, raised_at, cleared_at, acked_at, acked_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(hall.as_str()).bind(&kind).bind(alert.ticket.as_deref()).bind(alert.kiosk.as_deref())
            .bind(alert.raised_at).bind(alert.cleared_at).bind(at_ms).bind(by)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    async fn alert_acks(&self, hall: &HallId) -> Result<BTreeMap<String, (i64, String)>> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kind, ticket, kiosk, raised_at, acked_at, acked_by FROM alert WHERE hall_id = $1",
            )
            .bind(hall.as_str())
            .fetch_all(pool)
            .await?
        });
        let mut acks = BTreeMap::new();
        for (kind, ticket, kiosk, raised_at, acked_at, by) in rows {
            let kind = serde_json::from_value(serde_json::Value::String(kind.clone()))
                .map_err(|_| StoreError::Corrupt(format!("alert kind `{kind}`")))?;
            let alert = Alert {
                kind,
                ticket,
                kiosk,
                vip: false,
                raised_at,
                cleared_at: None,
            };
            if let Some(at) = acked_at {
                acks.insert(alert.key(), (at, by.unwrap_or_default()));
            }
        }
        Ok(acks)
    }

    async fn ops_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(HallId, NaiveDate, Option<DayRollup>)>> {
        let rows: Vec<(String, String, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT hall_id, day, rollup FROM ops_rollup WHERE day >= $1 AND day <= $2")
                .bind(from.to_string()).bind(to.to_string())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(hall, day, json)| {
                let corrupt = |what: &str| {
                    StoreError::Corrupt(format!("ops roll-up of hall `{hall}` on {day}: {what}"))
                };
                let rollup = json
                    .map(|j| {
                        serde_json::from_str::<DayRollup>(&j).map_err(|e| corrupt(&e.to_string()))
                    })
                    .transpose()?;
                Ok((
                    HallId::parse(hall.as_str()).map_err(|e| corrupt(&e.to_string()))?,
                    day.parse().map_err(|_| corrupt("day"))?,
                    rollup,
                ))
            })
            .collect()
    }

    async fn care_acks_since(&self, from_ms: i64) -> Result<HashSet<(HallId, String, i64)>> {
        let rows: Vec<(String, Option<String>, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT hall_id, ticket, raised_at FROM alert
                 WHERE kind = 'care_due' AND raised_at >= $1 AND acked_at IS NOT NULL",
            )
            .bind(from_ms)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(hall, ticket, raised_at)| {
                let corrupt =
                    |what: String| StoreError::Corrupt(format!("alert of hall `{hall}`: {what}"));
                let ticket =
                    ticket.ok_or_else(|| corrupt("a care alert without a ticket".into()))?;
                let hall = HallId::parse(hall.as_str()).map_err(|e| corrupt(e.to_string()))?;
                Ok((hall, ticket, raised_at))
            })
            .collect()
    }

    async fn quarantined(&self, hall: Option<&HallId>) -> Result<Vec<Quarantined>> {
        let rows: Vec<(String, i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT hall_id, received_at, reason, payload FROM event_quarantine
                 WHERE $1 = '' OR hall_id = $1 ORDER BY received_at DESC, id DESC",
            )
            .bind(hall.map_or("", HallId::as_str))
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(hall, received_at, reason, payload)| Quarantined {
                hall,
                received_at,
                reason,
                payload,
            })
            .collect())
    }

    async fn rollup_snapshot(
        &self,
        journey: &Journey,
        q: &CellQuery<'_>,
    ) -> Result<RollupSnapshot> {
        let key = journey.key().as_str();
        let (from, to) = date_bounds(q.from, q.to);
        let (from_month, to_month) = (from[..7].to_owned(), to[..7].to_owned());
        let postgres = matches!(self.pool, Pool::Postgres(_));
        let purpose = match q.which {
            PurposeCells::One(p) => Some(p),
            _ => None,
        };
        // SQLite numbers anonymous marks in order; PostgreSQL's `$n` follow the same order.
        let mark = |n: usize| {
            if postgres {
                format!("${n}")
            } else {
                "?".to_owned()
            }
        };
        // A few halls are picked in SQL; a province's are filtered here (before any
        // cell is decoded), which is cheaper than a long IN list.
        let few = q.halls.filter(|h| h.len() <= 64);
        let first_hall = if purpose.is_some() { 5 } else { 4 };
        let hall_in = few.map_or_else(String::new, |hs| {
            let marks: Vec<String> = (0..hs.len()).map(|i| mark(first_hall + i)).collect();
            format!(" AND hall_id IN ({})", marks.join(", "))
        });
        let counts_sql = format!(
            "SELECT hall_id, COUNT(*) FROM survey_response
             WHERE journey_key = {} AND visit_date >= {} AND visit_date <= {}{}{hall_in} GROUP BY hall_id",
            mark(1), mark(2), mark(3),
            if purpose.is_some() { format!(" AND COALESCE(purpose, '') = {}", mark(4)) } else { String::new() },
        );
        let (table, purpose_col) = match q.which {
            PurposeCells::All => ("survey_rollup", "NULL"),
            _ => ("survey_rollup_purpose", "purpose"),
        };
        let cells_sql = format!(
            "SELECT hall_id, period, segment, {purpose_col}, respondents, stats FROM {table}
             WHERE journey_key = {} AND period >= {} AND period <= {}{}{hall_in}",
            mark(1),
            mark(2),
            mark(3),
            if purpose.is_some() {
                format!(" AND purpose = {}", mark(4))
            } else {
                String::new()
            },
        );
        type CellRow = (String, String, String, Option<String>, i64, String);
        // One read transaction: the generation, the counts and the cells are of one
        // moment, so an analysis cached under that generation can later take exactly
        // the writes after it.
        let (generation, counts, rows): (i64, Vec<(String, i64)>, Vec<CellRow>) = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
            }
            let (generation,): (i64,) = sqlx::query_as("SELECT generation FROM data_generation WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            // Both queries take the journey, a range, then the purpose and halls if any.
            macro_rules! filtered {
                ($sql:expr, $from:expr, $to:expr) => {{
                    let mut q = sqlx::query_as($sql).bind(key).bind($from).bind($to);
                    if let Some(p) = purpose {
                        q = q.bind(p);
                    }
                    for h in few.unwrap_or_default() {
                        q = q.bind(h.as_str());
                    }
                    q.fetch_all(&mut *tx).await?
                }};
            }
            let counts = filtered!(&counts_sql, &from, &to);
            let rows = filtered!(&cells_sql, &from_month, &to_month);
            tx.commit().await?;
            (generation, counts, rows)
        });
        let wanted: Option<HashSet<&str>> = q.halls.map(|h| h.iter().map(HallId::as_str).collect());
        let wanted = |h: &str| wanted.as_ref().is_none_or(|w| w.contains(h));
        let responses = counts
            .iter()
            .filter(|(h, _)| wanted(h))
            .map(|(_, n)| *n as u64)
            .sum();
        let layout = rollup::layout(journey);
        let cells = rows
            .into_iter()
            .filter(|row| wanted(&row.0))
            .map(|(hall, period, segment, purpose, respondents, json)| {
                let hall = HallId::parse(hall.as_str())
                    .map_err(|e| StoreError::Corrupt(format!("roll-up hall `{hall}`: {e}")))?;
                let stats = serde_json::from_str::<SegmentStats>(&json)
                    .ok()
                    .filter(|s| rollup::fits(s, &layout));
                let key = CellKey {
                    hall,
                    period,
                    segment,
                };
                Ok((key, purpose, respondents as u64, stats))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RollupSnapshot {
            generation,
            responses,
            cells,
        })
    }

    async fn responses(
        &self,
        journey: &Journey,
        halls: Option<&[HallId]>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<Response>> {
        let key = journey.key().as_str();
        let (from, to) = date_bounds(from, to);
        const WHERE: &str = "s.journey_key = $1 AND s.visit_date >= $2 AND s.visit_date <= $3";
        type Head = (
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
        );
        let (heads, ratings, needs): (
            Vec<Head>,
            Vec<(i64, String, Option<f64>, Option<f64>)>,
            Vec<(i64, String, String, f64)>,
        ) = on_pool!(self, pool => {
            let heads = sqlx::query_as(&format!(
                "SELECT s.id, s.hall_id, s.respondent, s.visit_date, s.segment, s.purpose, s.overall, s.nps,
                   s.tolerable_wait_min FROM survey_response s WHERE {WHERE} ORDER BY s.id"
            ))
            .bind(key).bind(&from).bind(&to).fetch_all(pool).await?;
            let ratings = sqlx::query_as(&format!(
                "SELECT r.response_id, r.moment_key, r.importance, r.satisfaction FROM response_rating r
                 JOIN survey_response s ON s.hall_id = r.hall_id AND s.id = r.response_id WHERE {WHERE}"
            ))
            .bind(key).bind(&from).bind(&to).fetch_all(pool).await?;
            let needs = sqlx::query_as(&format!(
                "SELECT n.response_id, n.moment_key, n.need_key, n.importance FROM response_need n
                 JOIN survey_response s ON s.hall_id = n.hall_id AND s.id = n.response_id WHERE {WHERE}"
            ))
            .bind(key).bind(&from).bind(&to).fetch_all(pool).await?;
            (heads, ratings, needs)
        });
        let wanted: Option<HashSet<&str>> = halls.map(|h| h.iter().map(HallId::as_str).collect());
        let moment_at: HashMap<&str, usize> = journey
            .moments()
            .iter()
            .enumerate()
            .map(|(i, m)| (m.key.as_str(), i))
            .collect();
        let mut out = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        for (id, hall, respondent, date, segment, purpose, overall, nps, wait) in heads {
            if wanted.as_ref().is_some_and(|w| !w.contains(hall.as_str())) {
                continue;
            }
            let corrupt = |e: String| StoreError::Corrupt(format!("response {id}: {e}"));
            index.insert(id, out.len());
            out.push(Response {
                respondent,
                hall: HallId::parse(hall).map_err(|e| corrupt(e.to_string()))?,
                date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|e| corrupt(e.to_string()))?,
                segment,
                purpose,
                overall,
                nps,
                tolerable_wait_min: wait,
                ratings: vec![Rating::default(); journey.moments().len()],
                needs: Vec::new(),
            });
        }
        for (id, moment, importance, satisfaction) in ratings {
            if let (Some(&i), Some(&j)) = (index.get(&id), moment_at.get(moment.as_str())) {
                out[i].ratings[j] = Rating {
                    importance,
                    satisfaction,
                };
            }
        }
        // Needs come back in database order; keep them in journey order.
        for (id, moment, need, importance) in needs {
            let (Some(&i), Some(&j)) = (index.get(&id), moment_at.get(moment.as_str())) else {
                continue;
            };
            if let Some(n) = journey.moments()[j]
                .core_needs
                .iter()
                .position(|x| x.key.as_str() == need)
            {
                out[i].needs.push(NeedRating {
                    moment: j,
                    need: n,
                    importance,
                });
            }
        }
        for r in &mut out {
            r.needs.sort_by_key(|n| (n.moment, n.need));
        }
        Ok(out)
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
struct PgIngest<'t, 'c> {
    tx: &'t mut sqlx::Transaction<'c, sqlx::Postgres>,
}

impl IngestTx for PgIngest<'_, '_> {
    async fn stored_ids(&mut self, hall: &HallId, ids: &[&str]) -> Result<HashSet<String>> {
        // One array parameter: one statement a batch, whatever its size. Each id is
        // one lookup in the key (LATERAL … LIMIT 1 leaves the planner no other way):
        // `event_id = ANY($2)` and a plain join let it scan the hall's rows or hash
        // them whenever its statistics lagged behind the table, a cost that grew with
        // every event stored.
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT batch.id FROM UNNEST($2::text[]) AS batch (id)
             CROSS JOIN LATERAL (SELECT 1 FROM visit_event v
                 WHERE v.hall_id = $1 AND v.event_id = batch.id LIMIT 1) AS stored",
        )
        .bind(hall.as_str())
        .bind(ids)
        .fetch_all(&mut **self.tx)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn day_events(&mut self, hall: &HallId, lo: i64) -> Result<Option<i64>> {
        let n: Option<(i64,)> = sqlx::query_as(ingest::SELECT_DAY_EVENTS)
            .bind(hall.as_str())
            .bind(lo)
            .fetch_optional(&mut **self.tx)
            .await?;
        Ok(n.map(|(n,)| n))
    }

    async fn set_day_events(&mut self, hall: &HallId, lo: i64, events: i64) -> Result<()> {
        sqlx::query(ingest::SET_DAY_EVENTS)
            .bind(hall.as_str())
            .bind(lo)
            .bind(events)
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn kiosk_faults(&mut self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>> {
        let rows: Vec<KioskRow> = sqlx::query_as(SELECT_KIOSK_FAULTS)
            .bind(hall.as_str())
            .bind(before)
            .bind(before - KIOSK_FAULT_MEMORY_MS)
            .fetch_all(&mut **self.tx)
            .await?;
        Ok(rows.into_iter().map(kiosk_fault_of).collect())
    }

    async fn record_kiosks(&mut self, hall: &HallId, events: &[&Event]) -> Result<()> {
        for e in events {
            match &e.kind {
                EventKind::KioskFault { kiosk, fault } => {
                    sqlx::query(INSERT_KIOSK_FAULT)
                        .bind(hall.as_str())
                        .bind(kiosk)
                        .bind(e.at_ms())
                        .bind(e.at.offset().local_minus_utc())
                        .bind(fault)
                        .execute(&mut **self.tx)
                        .await?;
                }
                EventKind::KioskRestored { kiosk } => {
                    sqlx::query(RESTORE_KIOSK_FAULT)
                        .bind(hall.as_str())
                        .bind(kiosk)
                        .bind(e.at_ms())
                        .execute(&mut **self.tx)
                        .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn payloads(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT payload FROM visit_event WHERE hall_id = $1 AND at >= $2 AND at < $3",
        )
        .bind(hall.as_str())
        .bind(lo)
        .bind(hi)
        .fetch_all(&mut **self.tx)
        .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    async fn insert_events(
        &mut self,
        hall: &HallId,
        now: i64,
        rows: &[(Event, String)],
    ) -> Result<()> {
        // COPY: PostgreSQL's bulk load, three times as fast here as an INSERT of the
        // batch's columns as arrays (UNNEST), which was most of a batch's time.
        let mut text = String::with_capacity(rows.iter().map(|(_, p)| p.len() + 64).sum());
        for (e, payload) in rows {
            use std::fmt::Write;
            copy_field(&mut text, hall.as_str());
            let _ = write!(text, "\t{now}\t");
            copy_field(&mut text, &e.id);
            let _ = write!(text, "\t{}\t{}\t", e.kind_name(), e.at_ms());
            copy_field(&mut text, payload);
            text.push('\n');
        }
        let mut copy = self
            .tx
            .copy_in_raw(
                "COPY visit_event (hall_id, received_at, event_id, kind, at, payload) FROM STDIN",
            )
            .await?;
        if let Err(e) = copy.send(text.into_bytes()).await {
            let _ = copy.abort(e.to_string()).await;
            return Err(e.into());
        }
        copy.finish().await?;
        Ok(())
    }

    async fn put_rollup(
        &mut self,
        hall: &HallId,
        day: NaiveDate,
        json: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO ops_rollup (hall_id, day, rollup) VALUES ($1, $2, $3)
             ON CONFLICT (hall_id, day) DO UPDATE SET rollup = excluded.rollup",
        )
        .bind(hall.as_str())
        .bind(day.to_string())
        .bind(json)
        .execute(&mut **self.tx)
        .await?;
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
        sqlx::query(ingest::QUARANTINE)
            .bind(hall.as_str())
            .bind(now)
            .bind(reason)
            .bind(payload)
            .bind(held.map(|h| h.0))
            .bind(held.map(|h| h.1))
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn any_held(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<bool> {
        let (any,): (bool,) = sqlx::query_as(ingest::ANY_HELD)
            .bind(hall.as_str())
            .bind(lo)
            .bind(hi)
            .fetch_one(&mut **self.tx)
            .await?;
        Ok(any)
    }

    async fn held(
        &mut self,
        hall: &HallId,
        lo: i64,
        hi: i64,
        subjects: &[&str],
    ) -> Result<Vec<(i64, String)>> {
        let mut out = Vec::new();
        for subject in subjects {
            let rows: Vec<(i64, String)> = sqlx::query_as(ingest::HELD)
                .bind(hall.as_str())
                .bind(lo)
                .bind(hi)
                .bind(subject)
                .fetch_all(&mut **self.tx)
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    async fn release(&mut self, rows: &[i64]) -> Result<()> {
        for row in rows {
            sqlx::query(ingest::RELEASE)
                .bind(row)
                .execute(&mut **self.tx)
                .await?;
        }
        Ok(())
    }
}

/// A field of COPY's text format: backslash, tab, newline and carriage return
/// escaped (the rest is taken as is).
fn copy_field(out: &mut String, field: &str) {
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

impl From<&Journey> for JourneySummary {
    fn from(j: &Journey) -> Self {
        JourneySummary {
            key: j.key().clone(),
            name: j.name().clone(),
            channel: j.channel(),
            extends: j.extends().cloned(),
            moments: j.moments().len(),
            builtin: builtin::is_builtin(j.key().as_str()),
        }
    }
}

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
