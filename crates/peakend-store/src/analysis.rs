//! Survey analysis over stored responses: which halls and journey a query covers, the
//! analysis from the roll-up cells when they cover it or a scan of the responses when
//! they do not, and the cache that keeps analyses between requests.

use super::*;
use crate::analysis_cache::{Lookup, OwnedPurposes, Scope};

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
    stored_analysis_shared(store, journey, q)
        .await
        .map(Arc::unwrap_or_clone)
}

/// [`stored_analysis`] as the cache holds it: a page that only reads an analysis (a
/// province's by-hall ranking has thousands of groups) need not copy it.
pub async fn stored_analysis_shared(
    store: &dyn Store,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
) -> Result<Arc<Analysis>> {
    // Several journeys' responses are scanned together; neither the roll-up cells (one
    // journey's) nor the cache (keyed by one journey) speak for them.
    let Some(cache) = store.analysis_cache().filter(|_| q.also.is_empty()) else {
        return compute_analysis(store, journey, q).await.map(Arc::new);
    };
    // Read the generation first: an import that lands while we compute makes the answer
    // stale under the old generation, never current under the new one.
    let generation = store.data_generation().await?;
    let key = AnalysisCache::key(journey, q);
    let variant = format!("{:?}|{:?}", q.weights, q.rule);
    let (stats, at, previous) = match cache.lookup(&key, &variant, generation) {
        Lookup::Analysis(a) => return Ok(a),
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
    let a = Arc::new(a);
    cache.put_analysis(&key, variant, at, a.clone());
    Ok(a)
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
    let layout = rollup::layout(journey);
    for (key, purpose, respondents, cell) in &snapshot.cells {
        let Some(cell) = cell.decode(&layout) else {
            return Ok(None);
        };
        if cell.respondents != *respondents
            || !stats.merge_cell(&key.hall, &key.segment, purpose.as_deref(), &cell)
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

/// The stored analysis of `journey` for the halls at or below `org` (all when `None`),
/// all periods, optionally of one visit purpose; `None` before anyone answered (the
/// house of quality, gap 1 and the strategy all start from it).
pub async fn whole_analysis(
    store: &dyn Store,
    journey: &Journey,
    org: Option<&OrgNodeId>,
    purpose: Option<&str>,
) -> Result<Option<peakend_core::analysis::Analysis>> {
    let q = AnalysisQuery {
        org,
        purpose,
        ..Default::default()
    };
    let empty = peakend_core::analysis::AnalysisError::Empty.to_string();
    match stored_analysis(store, journey, &q).await {
        Ok(a) => Ok(Some(a)),
        Err(StoreError::Invalid(m)) if m == empty => Ok(None),
        Err(e) => Err(e),
    }
}

/// A journey's house of quality at `stage` (1: customer needs × service encounters, 2:
/// encounters × process elements, 3: process elements × quality parameters), its
/// stage-1 row weights from the survey of the halls at or below `org` (all when
/// `None`), optionally of one visit purpose, cascaded through the stages; and how many
/// respondents weighed it (0: the journey's priors did).
pub async fn qfd_house(
    store: &dyn Store,
    journey: &Journey,
    stage: u8,
    org: Option<&OrgNodeId>,
    purpose: Option<&str>,
) -> Result<(peakend_core::qfd::House, u64)> {
    // Nobody answered yet: the journey's priors weigh the needs.
    let analysis = whole_analysis(store, journey, org, purpose).await?;
    // A stage the journey has no columns for is the asker's: a clear 4xx.
    let house = peakend_core::qfd::house(journey, stage, analysis.as_ref())
        .map_err(|e| StoreError::Invalid(format!("house of quality: {e}")))?;
    Ok((house, analysis.map_or(0, |a| a.respondents)))
}

/// Gap 1 of the gap model at `org` (issue 23): what the hall and regional managers at or
/// below it estimate customers find important, moment by moment, against what the
/// customers of its halls say (the stored analysis of the journey, all periods). `None`
/// before any answer. An estimate that no longer fits the journey (a moment it names
/// was taken out) is left out, not an error.
pub async fn gap1_report(
    store: &dyn Store,
    journey: &Journey,
    org: &OrgNodeId,
) -> Result<Option<peakend_core::analysis::Gap1Report>> {
    let Some(analysis) = whole_analysis(store, journey, Some(org), None).await? else {
        return Ok(None);
    };
    let tree = store.org_tree().await?;
    let below: HashSet<&OrgNodeId> = tree.subtree(org).into_iter().map(|n| &n.id).collect();
    let batches: Vec<_> = store
        .estimates(journey.key())
        .await?
        .into_iter()
        .map(|(_, b, _)| b)
        .filter(|b| below.contains(&b.org) && b.check(journey).is_ok())
        .collect();
    peakend_core::analysis::gap1_of(journey, &analysis, &batches)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("gap 1: {e}")))
}
