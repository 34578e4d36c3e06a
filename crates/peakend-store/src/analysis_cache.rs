//! The question a survey analysis answers ([`AnalysisQuery`]) and the cache that keeps
//! answers between requests ([`AnalysisCache`]): below both the storage trait (which
//! hands out its cache) and the analysis queries (which ask it).

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

/// The cells a query reads, owned, for the cache to tell which later writes touch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnedPurposes {
    All,
    One(String),
    Each,
}

impl OwnedPurposes {
    pub(crate) fn of(q: &AnalysisQuery<'_>) -> OwnedPurposes {
        match (q.purpose, q.by) {
            (Some(p), _) => OwnedPurposes::One(p.to_owned()),
            (None, Some(GroupBy::Purpose)) => OwnedPurposes::Each,
            (None, _) => OwnedPurposes::All,
        }
    }

    pub(crate) fn cells(&self) -> PurposeCells<'_> {
        match self {
            OwnedPurposes::All => PurposeCells::All,
            OwnedPurposes::One(p) => PurposeCells::One(p),
            OwnedPurposes::Each => PurposeCells::Each,
        }
    }
}

/// What a cached entry covers: a journey's responses of some halls, months and purposes.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) journey: JourneyKey,
    pub(crate) halls: Option<HashSet<HallId>>,
    /// `None`: not whole months (such an entry is a rescan and never catches up).
    pub(crate) months: Option<(Option<String>, Option<String>)>,
    pub(crate) which: OwnedPurposes,
}

impl Scope {
    pub(crate) fn covers(&self, key: &CellKey) -> bool {
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

pub(crate) type Stale = (Arc<Analysis>, HashSet<String>);

pub(crate) enum Lookup {
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

    pub(crate) fn key(journey: &Journey, q: &AnalysisQuery<'_>) -> String {
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

    pub(crate) fn lookup(&self, key: &str, variant: &str, generation: i64) -> Lookup {
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

    pub(crate) fn put_stats(
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

    pub(crate) fn put_analysis(
        &self,
        key: &str,
        variant: String,
        generation: i64,
        a: Arc<Analysis>,
    ) {
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
    pub(crate) fn logged(
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
