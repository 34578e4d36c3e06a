//! Storage adapter. Everything that persists goes through the [`Store`] trait; the
//! one implementation, [`SqlStore`], runs the same SQL on SQLite (the embedded
//! default) and PostgreSQL, chosen by the database URL. Rules that span stored
//! data (a journey's parent must exist and be respected; an org import must leave a
//! sound tree) are checked with the pure core inside the writing transaction, so
//! a rejected write leaves nothing behind.

#![forbid(unsafe_code)]

mod error;
mod ingest;
mod sql;
mod sqlite_writer;

use async_trait::async_trait;
use chrono::NaiveDate;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};
use peakend_core::analysis::rollup::{self, CellKey, PurposeCells, Rollup, whole_months};
use peakend_core::analysis::{Analysis, GroupBy, GroupedStats, SegmentStats};
use peakend_core::assignment::{AssignmentChange, Assignments, Effective};
use peakend_core::ops::day::{Alert, AlertKind, HallDay, KioskFault, Rules};
use peakend_core::ops::event::Event;
use peakend_core::ops::holiday::{self, Holiday};
use peakend_core::ops::kpi::{Bucket, HallTickets, KpiReport, ReportSums};
use peakend_core::ops::rollup::DayRollup;
use peakend_core::ops::ticket::{KpiSums, Kpis};
use peakend_core::peak::PeakRule;
use peakend_core::survey::Response;
use peakend_core::{
    Channel, HallId, Journey, JourneyKey, OrgNode, OrgNodeId, OrgTree, Role, Text, UserName,
};
use serde::Serialize;

pub use error::{ErrorKind, StoreError};
pub use sql::SqlStore;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A journey as listed, without its moments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JourneySummary {
    pub key: JourneyKey,
    pub name: Text,
    pub channel: Channel,
    pub extends: Option<JourneyKey>,
    pub moments: usize,
    pub builtin: bool,
}

/// What a journey write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PutOutcome {
    Created,
    Updated,
    Unchanged,
}

/// What an org import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OrgImportSummary {
    pub created: usize,
    pub updated: usize,
    pub total: usize,
}

/// Who is writing a journey: built-in journeys may only be written by `init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    User,
}

#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// A round trip to the database, for health checks.
    async fn ping(&self) -> Result<()>;

    /// Journeys ordered by key.
    async fn list_journeys(&self) -> Result<Vec<JourneySummary>>;

    async fn journey(&self, key: &JourneyKey) -> Result<Option<Journey>>;

    /// Creates or replaces a journey, enforcing the governance rule against its parent
    /// and against every journey that extends it. All or nothing.
    async fn put_journey(&self, journey: &Journey, origin: Origin) -> Result<PutOutcome>;

    /// The organisation in stored order (parents need not precede children).
    async fn org_nodes(&self) -> Result<Vec<OrgNode>>;

    async fn org_tree(&self) -> Result<OrgTree> {
        OrgTree::build(self.org_nodes().await?).map_err(StoreError::Org)
    }

    /// Upserts nodes by id. The merged tree is validated first; on any error
    /// nothing is written.
    async fn import_org(&self, nodes: Vec<OrgNode>) -> Result<OrgImportSummary>;

    /// Stores survey responses to `journey` in one transaction. Every hall must exist
    /// and no respondent may already be stored for the journey; otherwise nothing is.
    async fn import_responses(&self, journey: &Journey, responses: &[Response]) -> Result<usize>;

    /// The stored responses to `journey` with a visit date in [from, to] (inclusive),
    /// of the given halls (all when `None`), ratings in journey order.
    async fn responses(
        &self,
        journey: &Journey,
        halls: Option<&[HallId]>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<Response>>;

    /// A new device token for a hall's devices; only its hash is stored.
    async fn create_device_token(&self, hall: &HallId) -> Result<String>;

    /// The hall a device token belongs to.
    async fn device_token_hall(&self, token: &str) -> Result<Option<HallId>>;

    /// Applies a batch of one hall's events in one transaction, durably: repeated ids
    /// are counted as duplicates, events that cannot be applied (an impossible
    /// transition in event-time order) and the `refused` ones (unparsable, given as
    /// (position, reason, payload)) go to the quarantine with their reason.
    async fn ingest_events(
        &self,
        hall: &HallId,
        events: Vec<(usize, Event, String)>,
        refused: Vec<(usize, String, String)>,
    ) -> Result<IngestOutcome>;

    /// A hall's stored events with `at` in [from_ms, to_ms), in replay order.
    async fn hall_events(&self, hall: &HallId, from_ms: i64, to_ms: i64) -> Result<Vec<Event>>;

    /// Every hall's operations roll-up of each local day (in the hall's zone) in [from, to]
    /// that has events; `None` for a day that must be replayed instead.
    async fn ops_rollups(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(HallId, NaiveDate, Option<DayRollup>)>>;

    /// The acknowledged care alerts raised at or after `from_ms`, as (hall, ticket,
    /// raised at).
    async fn care_acks_since(&self, from_ms: i64) -> Result<HashSet<(HallId, String, i64)>>;

    /// Records that someone took care of an alert (one the replay of the hall's day
    /// raised); `false` when it was already acknowledged, which keeps the first.
    async fn ack_alert(&self, hall: &HallId, alert: &Alert, by: &str, at_ms: i64) -> Result<bool>;

    /// The acknowledgements of a hall's alerts: [`Alert::key`] → (when, who).
    async fn alert_acks(&self, hall: &HallId) -> Result<BTreeMap<String, (i64, String)>>;

    /// Device tokens issued for these halls (all halls if `None`): hall and issue time,
    /// never the token itself.
    async fn device_tokens(&self, halls: Option<&[HallId]>) -> Result<Vec<(HallId, i64)>>;

    /// A new user with an argon2 hash of their password; `Conflict` if the name is taken,
    /// `NotFound` if the org node is unknown.
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<()>;

    /// Replaces a user's password hash and ends their sessions.
    async fn set_password(&self, name: &UserName, password_hash: &str) -> Result<()>;

    /// A user and their password hash, to check a login.
    async fn user_credentials(&self, name: &UserName) -> Result<Option<(User, String)>>;

    async fn users(&self) -> Result<Vec<User>>;

    /// Opens a session for `user` until `expires_at` (ms): returns the cookie token and
    /// the session's CSRF token. Only a SHA-256 of the cookie token is stored.
    async fn create_session(&self, user: &UserName, expires_at: i64) -> Result<(String, String)>;

    /// The live session of a cookie token at `now` (ms), if any.
    async fn session(&self, token: &str, now: i64) -> Result<Option<Session>>;

    async fn end_session(&self, token: &str) -> Result<()>;

    /// A counter bumped by every write of responses, org nodes or journeys: what a
    /// cached analysis is valid for.
    async fn data_generation(&self) -> Result<i64>;

    /// Where computed analyses are kept, if this store keeps them.
    fn analysis_cache(&self) -> Option<&AnalysisCache> {
        None
    }

    /// Quarantined events, newest first (of one hall, or all).
    async fn quarantined(&self, hall: Option<&HallId>) -> Result<Vec<Quarantined>>;

    /// Stores provinces' holidays (a date already listed for the province takes the new
    /// name), all in one transaction; the caller has checked the provinces.
    async fn import_holidays(&self, holidays: &[Holiday]) -> Result<usize>;

    /// Every province's holidays, by province and date.
    async fn holidays(&self) -> Result<Vec<Holiday>>;

    /// Records a sign-in or a failed attempt (older records past their retention go).
    async fn record_sign_in(&self, sign_in: &SignIn) -> Result<()>;

    /// The latest sign-ins and attempts, newest first.
    async fn sign_ins(&self, limit: i64) -> Result<Vec<SignIn>>;

    /// The hall's kiosk faults reported in the 90 days before `before` (ms), with when
    /// each was restored, if it was.
    async fn kiosk_faults(&self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>>;

    /// Each org node's own journey assignment (not inherited).
    async fn journey_assignments(&self) -> Result<Assignments>;

    /// Assigns `journey` to `node` once the governance rule holds against the journey
    /// above the node and the assignments below it, recording who changed it, when,
    /// and from what; all or nothing. Returns the node's previous own assignment.
    async fn assign_journey(
        &self,
        node: &OrgNodeId,
        journey: &JourneyKey,
        by: &str,
        at_ms: i64,
    ) -> Result<Option<JourneyKey>>;

    /// The recorded changes of journey assignments, oldest first (of one node, or all).
    async fn journey_changes(&self, node: Option<&OrgNodeId>) -> Result<Vec<AssignmentChange>>;

    /// The roll-up cells of `journey` that `q` asks for, with how many responses they
    /// should account for and the data generation, all read at one moment. A cell whose
    /// statistics no longer fit the journey comes back with `None`.
    async fn rollup_snapshot(&self, journey: &Journey, q: &CellQuery<'_>)
    -> Result<RollupSnapshot>;
}

/// Which roll-up cells to read: months of whole-month dates [from, to], of some halls
/// (all when `None`), all-purpose or purpose cells.
#[derive(Debug, Clone, Copy)]
pub struct CellQuery<'a> {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub halls: Option<&'a [HallId]>,
    pub which: PurposeCells<'a>,
}

/// Roll-up cells as of one data generation: each cell's key, purpose (`None` for the
/// all-purpose cells), count and statistics, and the responses they should account for
/// (of those halls and dates, and of that purpose when it is one).
#[derive(Debug, Clone)]
pub struct RollupSnapshot {
    pub generation: i64,
    pub responses: u64,
    pub cells: Vec<(CellKey, Option<String>, u64, Option<SegmentStats>)>,
}

/// What an ingest did: counts, and each refused event's position in the batch (0-based)
/// with the reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestOutcome {
    /// Events of the batch applied.
    pub accepted: usize,
    /// Events quarantined by earlier batches and applied now: they came before an
    /// event of this batch that they follow.
    pub released: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}

impl IngestOutcome {
    /// Adds the outcome of another part of the same batch.
    pub fn merge(&mut self, o: IngestOutcome) {
        self.accepted += o.accepted;
        self.released += o.released;
        self.duplicates += o.duplicates;
        self.rejected.extend(o.rejected);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

/// A dashboard user: one role at one org node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: UserName,
    pub role: Role,
    pub org: OrgNodeId,
    pub created_at: i64,
}

/// A sign-in or an attempt: who (the name given), from where, and how it ended
/// (`ok`, `wrong_password`, `unknown_user`, `throttled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignIn {
    pub at: i64,
    pub name: String,
    pub address: Option<String>,
    pub outcome: String,
}

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantined {
    pub hall: String,
    pub received_at: i64,
    pub reason: String,
    pub payload: String,
}

/// Which stored responses to analyse, and how.
#[derive(Debug, Clone, Default)]
pub struct AnalysisQuery<'a> {
    /// The halls at or below this node; all halls when `None`.
    pub org: Option<&'a OrgNodeId>,
    /// Visit dates, inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Segment weights; each segment's share of respondents when `None`.
    pub weights: Option<&'a std::collections::BTreeMap<String, f64>>,
    pub rule: PeakRule,
    pub by: Option<GroupBy>,
    /// Only responses of this visit purpose (`""`: those that name none).
    pub purpose: Option<&'a str>,
    /// Responses to these journeys too, put onto the analysed journey's moments: the
    /// halls of a node that live by journeys extending the one analysed.
    pub also: &'a [Journey],
}

/// The peak-end analysis of the stored responses to `journey`. The CLI and the API
/// both call this, so the same question gets the same answer everywhere. Whole months
/// are answered from the roll-up cells when they account for every response in range;
/// anything else (a date inside a month, responses stored before roll-ups existed)
/// rescans the responses.
pub async fn stored_analysis(
    store: &dyn Store,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
) -> Result<Analysis> {
    // Several journeys' responses are scanned together; neither the roll-up cells (one
    // journey's) nor the cache (keyed by one journey) speak for them.
    let Some(cache) = store.analysis_cache().filter(|_| q.also.is_empty()) else {
        return compute_analysis(store, journey, q).await;
    };
    // Read the generation first: an import that lands while we compute makes the answer
    // stale under the old generation, never current under the new one.
    let generation = store.data_generation().await?;
    let key = AnalysisCache::key(journey, q);
    let variant = format!("{:?}|{:?}", q.weights, q.rule);
    let (stats, at, previous) = match cache.lookup(&key, &variant, generation) {
        Lookup::Analysis(a) => return Ok((*a).clone()),
        Lookup::Stats(stats, at, previous) => (stats, at, previous),
        Lookup::Miss => {
            let tree = store.org_tree().await?;
            let halls = query_halls(&tree, q.org)?;
            let (stats, exact_at) =
                match rolled_up(store, journey, q, &tree, halls.as_deref()).await? {
                    Some((stats, at)) => (stats, Some(at)),
                    None => (
                        scanned(store, journey, q, &tree, halls.as_deref()).await?,
                        None,
                    ),
                };
            let scope = Scope {
                journey: journey.key().clone(),
                halls: halls.map(|h| h.into_iter().collect()),
                months: whole_months(q.from, q.to),
                which: OwnedPurposes::of(q),
            };
            let stats = Arc::new(stats);
            let at = exact_at.unwrap_or(generation);
            cache.put_stats(key.clone(), scope, stats.clone(), at, exact_at.is_some());
            (stats, at, None)
        }
    };
    let a = match &previous {
        Some((before, changed)) => stats.analyze_again(journey, q.weights, q.rule, before, changed),
        None => stats.analyze(journey, q.weights, q.rule),
    }
    .map_err(|e| StoreError::Invalid(e.to_string()))?;
    cache.put_analysis(&key, variant, at, Arc::new(a.clone()));
    Ok(a)
}

/// The cells a query reads, owned, for the cache to tell which later writes touch it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedPurposes {
    All,
    One(String),
    Each,
}

impl OwnedPurposes {
    fn of(q: &AnalysisQuery<'_>) -> OwnedPurposes {
        match (q.purpose, q.by) {
            (Some(p), _) => OwnedPurposes::One(p.to_owned()),
            (None, Some(GroupBy::Purpose)) => OwnedPurposes::Each,
            (None, _) => OwnedPurposes::All,
        }
    }

    fn cells(&self) -> PurposeCells<'_> {
        match self {
            OwnedPurposes::All => PurposeCells::All,
            OwnedPurposes::One(p) => PurposeCells::One(p),
            OwnedPurposes::Each => PurposeCells::Each,
        }
    }
}

/// What a cached entry covers: a journey's responses of some halls, months and purposes.
#[derive(Debug, Clone)]
struct Scope {
    journey: JourneyKey,
    halls: Option<HashSet<HallId>>,
    /// `None`: not whole months (such an entry is a rescan and never catches up).
    months: Option<(Option<String>, Option<String>)>,
    which: OwnedPurposes,
}

impl Scope {
    fn covers(&self, key: &CellKey) -> bool {
        let Some((from, to)) = &self.months else {
            return false;
        };
        self.halls.as_ref().is_none_or(|h| h.contains(&key.hall))
            && from.as_ref().is_none_or(|f| key.period >= *f)
            && to.as_ref().is_none_or(|t| key.period <= *t)
    }
}

/// Statistics and analyses already computed, by query and data generation: a dashboard
/// asks the same questions again and again, and merging thousands of roll-up cells each
/// time would be most of a page's time. A survey form's answer must not start that
/// over: every import this process commits is logged with its cells, and a cached
/// entry adds the cells of the imports after it instead of reading every cell again.
/// Any other write (an org or journey import, or an import by another process) leaves a
/// gap in the log, and the entries behind the gap are computed anew.
#[derive(Debug, Clone, Default)]
pub struct AnalysisCache {
    inner: Arc<Mutex<CacheInner>>,
}

#[derive(Debug, Default)]
struct CacheInner {
    entries: HashMap<String, Entry>,
    /// Imports committed here: (the generation each made, its journey, its cells).
    log: VecDeque<(i64, JourneyKey, Arc<Rollup>)>,
    log_cells: usize,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    /// The data generation the statistics are of.
    generation: i64,
    /// Read in one snapshot at `generation`, so later imports can be added to them; a
    /// rescan is only known to be at least as new and is never added to.
    exact: bool,
    scope: Scope,
    stats: Arc<GroupedStats>,
    /// By weights and peak rule, at `generation`.
    analyses: HashMap<String, Arc<Analysis>>,
    /// Analyses of an earlier generation, by weights and peak rule, with the groups
    /// that imports have changed since: the rest of their groups still stand.
    stale: HashMap<String, (Arc<Analysis>, HashSet<String>)>,
    used: u64,
}

type Stale = (Arc<Analysis>, HashSet<String>);

enum Lookup {
    Analysis(Arc<Analysis>),
    /// Statistics current at this generation, not yet analysed with these weights, and
    /// an earlier analysis with the groups changed since, when there is one.
    Stats(Arc<GroupedStats>, i64, Option<Stale>),
    Miss,
}

impl AnalysisCache {
    /// Segment statistics (about 8 KB each) the cache may hold: a province's by-hall
    /// statistics of one period are some 6,000.
    const MAX_STATS: usize = 40_000;
    /// Imports logged, and their cells at most: a large file import is not logged (the
    /// entries start over, which is cheaper than adding every cell of it).
    const MAX_LOG: usize = 4096;
    const MAX_LOG_CELLS: usize = 20_000;
    const MAX_IMPORT_CELLS: usize = 2_000;

    fn key(journey: &Journey, q: &AnalysisQuery<'_>) -> String {
        // The journey's moments and needs are part of the question: a journey changed
        // in another process must not be answered from the old shape.
        let shape: Vec<String> = journey
            .moments()
            .iter()
            .map(|m| {
                let needs: Vec<&str> = m.core_needs.iter().map(|n| n.key.as_str()).collect();
                format!("{}:{}", m.key, needs.join(","))
            })
            .collect();
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
            journey.key(),
            shape.join(";"),
            q.org,
            q.from,
            q.to,
            q.by,
            q.purpose
        )
    }

    /// Logs an import this process committed, which made data generation `generation`.
    pub(crate) fn record(&self, generation: i64, journey: &JourneyKey, cells: Rollup) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let size = cells.cells.len() + cells.purposes.len();
        if size > Self::MAX_IMPORT_CELLS {
            return;
        }
        inner.log_cells += size;
        inner
            .log
            .push_back((generation, journey.clone(), Arc::new(cells)));
        while inner.log.len() > Self::MAX_LOG || inner.log_cells > Self::MAX_LOG_CELLS {
            let Some((_, _, old)) = inner.log.pop_front() else {
                break;
            };
            inner.log_cells -= old.cells.len() + old.purposes.len();
        }
    }

    /// Whether every generation after `from` up to `to` was made by an import logged
    /// here: then nothing but survey responses changed in between (the org tree, the
    /// journeys and the users are as they were at `from`).
    pub(crate) fn only_imports_between(&self, from: i64, to: i64) -> bool {
        let Ok(inner) = self.inner.lock() else {
            return false;
        };
        from == to || CacheInner::logged(&inner.log, from, to).is_some()
    }

    fn lookup(&self, key: &str, variant: &str, generation: i64) -> Lookup {
        let Ok(mut guard) = self.inner.lock() else {
            return Lookup::Miss;
        };
        let inner = &mut *guard;
        inner.tick += 1;
        let tick = inner.tick;
        let Some(entry) = inner.entries.get_mut(key) else {
            return Lookup::Miss;
        };
        entry.used = tick;
        if entry.generation != generation {
            let imports = (entry.exact && entry.generation < generation)
                .then(|| CacheInner::logged(&inner.log, entry.generation, generation))
                .flatten();
            let Some(imports) = imports else {
                inner.entries.remove(key);
                return Lookup::Miss;
            };
            let stats = Arc::make_mut(&mut entry.stats);
            let mut changed = HashSet::new();
            for (_, journey, cells) in imports {
                if *journey != entry.scope.journey {
                    continue;
                }
                for (k, purpose, cell) in cells.select(entry.scope.which.cells()) {
                    if entry.scope.covers(k) {
                        stats.merge_cell(&k.hall, &k.segment, purpose, cell);
                        changed.extend(stats.group_of(&k.hall, &k.segment, purpose));
                    }
                }
            }
            entry.generation = generation;
            for (v, a) in entry.analyses.drain() {
                entry.stale.insert(v, (a, HashSet::new()));
            }
            for (_, groups) in entry.stale.values_mut() {
                groups.extend(changed.iter().cloned());
            }
        }
        match entry.analyses.get(variant) {
            Some(a) => Lookup::Analysis(a.clone()),
            None => Lookup::Stats(
                entry.stats.clone(),
                entry.generation,
                entry.stale.get(variant).cloned(),
            ),
        }
    }

    fn put_stats(
        &self,
        key: String,
        scope: Scope,
        stats: Arc<GroupedStats>,
        generation: i64,
        exact: bool,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.tick += 1;
        let used = inner.tick;
        // Least recently used out first, until the new one fits.
        let size = |e: &Entry| e.stats.size();
        let mut total: usize = inner.entries.values().map(size).sum::<usize>() + stats.size();
        while total > Self::MAX_STATS && !inner.entries.is_empty() {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                total -= size(&e);
            }
        }
        inner.entries.insert(
            key,
            Entry {
                generation,
                exact,
                scope,
                stats,
                analyses: HashMap::new(),
                stale: HashMap::new(),
                used,
            },
        );
    }

    fn put_analysis(&self, key: &str, variant: String, generation: i64, a: Arc<Analysis>) {
        if let Ok(mut inner) = self.inner.lock()
            && let Some(entry) = inner.entries.get_mut(key)
            && entry.generation == generation
        {
            entry.stale.remove(&variant);
            entry.analyses.insert(variant, a);
        }
    }
}

impl CacheInner {
    /// The logged imports that made every generation in (from, to], or `None` when one
    /// of them was some other write.
    fn logged(
        log: &VecDeque<(i64, JourneyKey, Arc<Rollup>)>,
        from: i64,
        to: i64,
    ) -> Option<Vec<&(i64, JourneyKey, Arc<Rollup>)>> {
        let found: Vec<_> = log
            .iter()
            .filter(|(g, _, _)| *g > from && *g <= to)
            .collect();
        (found.len() as i64 == to - from).then_some(found)
    }
}

async fn compute_analysis(
    store: &dyn Store,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
) -> Result<Analysis> {
    let tree = store.org_tree().await?;
    let halls = query_halls(&tree, q.org)?;
    let stats = match rolled_up(store, journey, q, &tree, halls.as_deref()).await? {
        Some((stats, _)) => stats,
        None => scanned(store, journey, q, &tree, halls.as_deref()).await?,
    };
    stats
        .analyze(journey, q.weights, q.rule)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// How a stored analysis was answered, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalysisPath {
    RollUp,
    Scan,
}

/// [`stored_analysis`] forced down one path; `None` when the roll-up cannot answer.
pub async fn stored_analysis_by(
    store: &dyn Store,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
    path: AnalysisPath,
) -> Result<Option<Analysis>> {
    let tree = store.org_tree().await?;
    let halls = query_halls(&tree, q.org)?;
    let stats = match path {
        AnalysisPath::RollUp => rolled_up(store, journey, q, &tree, halls.as_deref())
            .await?
            .map(|(s, _)| s),
        AnalysisPath::Scan => Some(scanned(store, journey, q, &tree, halls.as_deref()).await?),
    };
    stats
        .map(|s| s.analyze(journey, q.weights, q.rule))
        .transpose()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

fn query_halls(tree: &OrgTree, org: Option<&OrgNodeId>) -> Result<Option<Vec<HallId>>> {
    match org {
        None => Ok(None),
        Some(node) if tree.get(node).is_none() => {
            Err(StoreError::NotFound(format!("org node `{node}` not found")))
        }
        Some(node) => Ok(Some(
            tree.halls_under(node)
                .iter()
                .filter_map(|n| n.hall_id())
                .collect(),
        )),
    }
}

async fn scanned(
    store: &dyn Store,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
    tree: &OrgTree,
    halls: Option<&[HallId]>,
) -> Result<GroupedStats> {
    let responses = store.responses(journey, halls, q.from, q.to).await?;
    let mut stats = GroupedStats::new(journey, q.by, Some(tree));
    let wanted = |r: &&Response| {
        q.purpose
            .is_none_or(|p| r.purpose.as_deref().unwrap_or(rollup::NO_PURPOSE) == p)
    };
    responses.iter().filter(wanted).for_each(|r| stats.push(r));
    for other in q.also {
        let onto = peakend_core::survey::Projection::new(other, journey);
        for r in store
            .responses(other, halls, q.from, q.to)
            .await?
            .iter()
            .filter(wanted)
        {
            stats.push(&onto.apply(r));
        }
    }
    Ok(stats)
}

/// The statistics from roll-up cells and the generation they are of, or `None` when
/// the cells cannot answer (dates inside a month, cells that do not account for every
/// response).
async fn rolled_up(
    store: &dyn Store,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
    tree: &OrgTree,
    halls: Option<&[HallId]>,
) -> Result<Option<(GroupedStats, i64)>> {
    if whole_months(q.from, q.to).is_none() || !q.also.is_empty() {
        return Ok(None);
    }
    let which = OwnedPurposes::of(q);
    let snapshot = store
        .rollup_snapshot(
            journey,
            &CellQuery {
                from: q.from,
                to: q.to,
                halls,
                which: which.cells(),
            },
        )
        .await?;
    let mut stats = GroupedStats::new(journey, q.by, Some(tree));
    let mut covered = 0;
    for (key, purpose, respondents, cell) in &snapshot.cells {
        let Some(cell) = cell else { return Ok(None) };
        if cell.respondents != *respondents
            || !stats.merge_cell(&key.hall, &key.segment, purpose.as_deref(), cell)
        {
            return Ok(None);
        }
        covered += respondents;
    }
    Ok((covered == snapshot.responses).then_some((stats, snapshot.generation)))
}

/// The rules of hall operations for a hall: the thresholds of the built-in service-hall
/// journey's standards as stored (a region's own journey per hall comes later), and the
/// holidays of the hall's province.
pub async fn hall_rules(store: &dyn Store, hall: &HallId) -> Result<Rules> {
    let tree = store.org_tree().await?;
    let node = OrgNodeId::parse(hall.as_str()).map_err(|e| StoreError::Invalid(e.to_string()))?;
    // Events name their hall; one not in the organisation has no rules to follow (and
    // `visit_event` keeps no foreign key to check it, see migration 0015).
    if tree
        .get(&node)
        .is_none_or(|n| n.level != peakend_core::OrgLevel::Hall)
    {
        return Err(StoreError::NotFound(format!(
            "`{hall}` is not a hall of the organisation"
        )));
    }
    let effective = store.journey_assignments().await?.effective(&tree, &node);
    // A database without the built-in journeys (never `init`ed) runs on the defaults.
    let mut rules = store
        .journey(&effective.journey)
        .await?
        .map(|j| Rules::from_journey(&j))
        .unwrap_or_default();
    rules.zone = tree.zone_of(&node);
    let holidays = store.holidays().await?;
    if !holidays.is_empty() {
        rules.holidays = province_holidays(&tree, &holidays, hall);
    }
    Ok(rules)
}

/// Each hall's rules from the journey it lives by, read once for a report over many
/// halls: the tree, the assignments, the holidays and the rules of each journey in use.
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
        for key in assignments.iter().map(|(_, k)| k).chain([&builtin]) {
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
        }
        rules
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
    let carried = ingest::carried_in(store.kiosk_faults(hall, start).await?, start);
    let events = store.hall_events(hall, start, until + 1).await?;
    Ok(HallDay::replay_with(rules, &carried, &events, until))
}

/// The journey `node` lives by (its nearest ancestor's assignment, else the built-in
/// one) and where that comes from.
pub async fn effective_journey(
    store: &dyn Store,
    node: &OrgNodeId,
) -> Result<(Journey, Effective)> {
    let tree = store.org_tree().await?;
    if tree.get(node).is_none() {
        return Err(StoreError::NotFound(format!("org node `{node}` not found")));
    }
    let effective = store.journey_assignments().await?.effective(&tree, node);
    let journey = store.journey(&effective.journey).await?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "journey `{}` not found (run `peakend init`)",
            effective.journey
        ))
    })?;
    Ok((journey, effective))
}

/// The journey to analyse `node` on: the one its halls live by, or when they live by
/// different journeys, the nearest one they all are or extend. The second value holds
/// the other journeys its halls live by (empty when all share one): their responses
/// belong in the analysis too, put onto its moments (`AnalysisQuery::also`).
pub async fn analysis_journey(
    store: &dyn Store,
    node: &OrgNodeId,
) -> Result<(Journey, Vec<Journey>)> {
    let tree = store.org_tree().await?;
    if tree.get(node).is_none() {
        return Err(StoreError::NotFound(format!("org node `{node}` not found")));
    }
    let assignments = store.journey_assignments().await?;
    let mut lived: Vec<JourneyKey> = tree
        .halls_under(node)
        .iter()
        .map(|h| assignments.effective(&tree, &h.id).journey)
        .collect();
    if lived.is_empty() {
        lived.push(assignments.effective(&tree, node).journey);
    }
    lived.sort();
    lived.dedup();
    let mut journeys = BTreeMap::new();
    if lived.len() > 1 {
        for s in store.list_journeys().await? {
            if let Some(j) = store.journey(&s.key).await? {
                journeys.insert(s.key, j);
            }
        }
    }
    let key = if lived.len() == 1 {
        lived[0].clone()
    } else {
        peakend_core::assignment::shared_journey(&journeys, lived.iter()).ok_or_else(|| {
            StoreError::Invalid(format!(
                "the halls under `{node}` live by journeys with none in common ({}); name one with --journey",
                lived.iter().map(JourneyKey::as_str).collect::<Vec<_>>().join(", ")
            ))
        })?
    };
    let journey = store
        .journey(&key)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("journey `{key}` not found")))?;
    let others = lived
        .iter()
        .filter(|k| **k != key)
        .filter_map(|k| journeys.remove(k))
        .collect();
    Ok((journey, others))
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
    let events = store.hall_events(hall, from_ms, to_ms).await?;
    let (hall, rules) = (hall.to_string(), rules.clone());
    let replay = move || {
        let mut days: BTreeMap<NaiveDate, Vec<Event>> = BTreeMap::new();
        for e in events {
            days.entry(e.at.with_timezone(&offset).date_naive())
                .or_default()
                .push(e);
        }
        let mut out = HallTickets {
            hall,
            tickets: Vec::new(),
        };
        for (date, events) in days {
            let end = local_midnight(date.succ_opt().unwrap_or(date), offset);
            let day = HallDay::replay(rules.clone(), &events, end.min(now_ms) - 1);
            out.tickets.extend(day.tickets().cloned());
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
    let mut sums = ReportSums::new(rules.measure(), q.bucket, q.offset);
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
        let wanted: HashSet<&HallId> = at_offset.iter().collect();
        for (hall, date, rollup) in store.ops_rollups(q.from, q.to).await? {
            if !wanted.contains(&hall) {
                continue;
            }
            let lo = local_midnight(date, q.offset);
            let hi = local_midnight(date.succ_opt().unwrap_or(date), q.offset);
            let answered =
                rollup.is_some_and(|r| sums.add_rollup(hall.as_str(), &r, hi.min(q.now_ms) - 1));
            if !answered {
                replay.push((hall, lo, hi));
            }
        }
    }
    let from = local_midnight(q.from, q.offset);
    let to = local_midnight(q.to.succ_opt().unwrap_or(q.to), q.offset);
    replay.extend(other.into_iter().map(|h| (h, from, to)));
    if replay.is_empty() {
        return Ok(sums.report());
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
    let replayed: Vec<HallTickets> =
        stream::iter(jobs.into_iter().map(|(hall, rules, lo, hi)| async move {
            replay_hall(store, &hall, &rules, lo, hi, offset, now_ms).await
        }))
        .buffered(4)
        .try_collect()
        .await?;
    for h in &replayed {
        sums.add_tickets(&h.hall, &h.tickets);
    }
    Ok(sums.report())
}

/// Day-level operations of a set of halls: what an overview shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DayOps {
    pub total: Kpis,
    pub halls: BTreeMap<HallId, Kpis>,
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
    // The period's days, and today for the open alerts (when outside the period): the
    // day around now in UTC covers today in every zone.
    let utc_today = DateTime::from_timestamp_millis(now_ms).map_or(from, |t| t.date_naive());
    let (t0, t1) = (
        utc_today.pred_opt().unwrap_or(utc_today),
        utc_today.succ_opt().unwrap_or(utc_today),
    );
    let mut rows: BTreeMap<(HallId, NaiveDate), Option<DayRollup>> = store
        .ops_rollups(from, to)
        .await?
        .into_iter()
        .map(|(h, d, r)| ((h, d), r))
        .collect();
    if t0 < from || t1 > to {
        for (h, d, r) in store.ops_rollups(t0, t1).await? {
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
                sums.entry(hall)
                    .or_default()
                    .merge(&r.sums_at(end.min(now_ms) - 1));
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
        let day = replay_hall(store, &hall, &rules, lo, hi, offset, now_ms).await?;
        let s = sums.entry(hall).or_default();
        day.tickets.iter().for_each(|t| s.add(t, measure));
    }
    let acks = if care_now.is_empty() {
        HashSet::new()
    } else {
        store
            .care_acks_since(local_midnight(t0, FixedOffset::east_opt(0).expect("UTC")))
            .await?
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
        halls: sums.into_iter().map(|(h, s)| (h, s.kpis())).collect(),
        open_care,
    })
}

/// Opens (creating a SQLite file if needed) and migrates the database at `url`:
/// `postgres://…` or `postgresql://…` for PostgreSQL, `sqlite://PATH`, `sqlite:PATH`
/// or a bare file path for SQLite.
pub async fn connect(url: &str) -> Result<SqlStore> {
    let store = SqlStore::connect(url).await?;
    store.migrate().await?;
    Ok(store)
}
