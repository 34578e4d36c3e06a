//! Survey analysis over stored responses: which halls and journey a query covers, the
//! analysis from the roll-up cells when they cover it or a scan of the responses when
//! they do not, and the cache that keeps analyses between requests.

use super::*;

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

pub(crate) fn query_halls(tree: &OrgTree, org: Option<&OrgNodeId>) -> Result<Option<Vec<HallId>>> {
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
