//! The survey programme's reports (issue 22), from the invitations joined to their
//! answers and the period's visits: response rates per hall, segment and purpose with
//! the non-response check, respondents raked to the visits (`analyze --rake`), and
//! satisfaction by minutes waited with staff and counter effects. The CLI and the API
//! both call these. The math is `peakend_core::analysis::{programme, rake}`.

use super::*;
use peakend_core::analysis::programme::{
    BrokenStick, Effect, NonResponseCheck, RateCounts, WaitBin, broken_stick, non_response_check,
    shrunk_effects, wait_bins,
};
use peakend_core::analysis::rake::{
    RakeMargin, RakedCell, RakingSummary, kish_design_effect, rake,
};
use peakend_core::analysis::stats::RunningStats;
use peakend_core::journey::Unit;
use peakend_core::ops::rollup::served_visits;
use std::collections::BTreeSet;

/// Which invitations and visits a report covers: the halls (and contact centres) at or
/// below `org` (all when `None`), decided (visits served) on the local days [from, to]
/// of each hall's zone.
#[derive(Debug, Clone, Copy)]
pub struct ProgrammeQuery<'a> {
    pub org: Option<&'a OrgNodeId>,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A report's period: [from, to], by default the 30 days up to today in the zone of
/// `org` (else of the first root); an error names the field.
pub fn programme_period(
    tree: &OrgTree,
    org: Option<&OrgNodeId>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now_ms: i64,
) -> std::result::Result<(NaiveDate, NaiveDate), String> {
    let zone = org
        .or_else(|| tree.roots().next().map(|r| &r.id))
        .map(|n| tree.zone_of(n))
        .unwrap_or_default();
    let today = zone
        .local(now_ms)
        .map_or(NaiveDate::MIN, |t| t.date_naive());
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - chrono::Days::new(29));
    if from > to {
        return Err(format!("from: {from} is after `to` ({to})"));
    }
    Ok((from, to))
}

/// The study's tolerable wait: customers tolerate about 16 minutes on average.
pub const STUDY_TOLERABLE_WAIT_MIN: f64 = 16.0;

/// Bootstrap resamples of the tolerance point, and their seed.
const RESAMPLES: usize = 200;
const SEED: u64 = 22;

/// The halls and centres of a query.
pub(crate) fn scope(tree: &OrgTree, org: Option<&OrgNodeId>) -> Result<Vec<HallId>> {
    if let Some(n) = org
        && tree.get(n).is_none()
    {
        return Err(StoreError::NotFound(format!("org node `{n}` not found")));
    }
    let nodes: Vec<&OrgNode> = match org {
        Some(n) => tree.subtree(n),
        None => tree.nodes().iter().collect(),
    };
    Ok(nodes
        .into_iter()
        .filter(|n| {
            matches!(
                n.level,
                peakend_core::OrgLevel::Hall | peakend_core::OrgLevel::Centre
            )
        })
        .filter_map(|n| HallId::parse(n.id.as_str()).ok())
        .collect())
}

/// The halls grouped by the bounds in ms of [from, to] in their zones.
pub(crate) fn bounds(
    tree: &OrgTree,
    halls: &[HallId],
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<(i64, i64), HashSet<String>> {
    let mut out: BTreeMap<(i64, i64), HashSet<String>> = BTreeMap::new();
    let after = to.succ_opt().unwrap_or(to);
    for h in halls {
        let zone = tree.zone_of_hall(h);
        let lo = local_midnight(from, zone.offset_on(from));
        let hi = local_midnight(after, zone.offset_on(after));
        out.entry((lo, hi)).or_default().insert(h.to_string());
    }
    out
}

/// The served visits of `halls` on the local days [from, to], by (segment, purpose):
/// from the ingest's day roll-ups, replaying only the hall-days whose roll-up does not
/// count them (stored before it did, or marked for replay).
pub async fn visit_cells(
    store: &dyn Store,
    halls: &HashSet<HallId>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<(String, String), u64>> {
    let mut out: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut replay: Vec<(HallId, NaiveDate)> = Vec::new();
    let listed: Vec<HallId> = halls.iter().cloned().collect();
    for (hall, date, rollup) in store
        .ops_rollups(Some(&listed), from, to, RollupRead::WithDetail)
        .await?
    {
        match rollup.and_then(|r| r.detail).and_then(|d| d.visits) {
            Some(visits) => {
                for (segment, purposes) in visits {
                    for (purpose, n) in purposes {
                        *out.entry((segment.clone(), purpose)).or_default() += n;
                    }
                }
            }
            None => replay.push((hall, date)),
        }
    }
    if !replay.is_empty() {
        let book = RulesBook::load(store).await?;
        for (hall, date) in replay {
            let rules = book.hall(&hall);
            let offset = rules.zone.offset_on(date);
            let lo = local_midnight(date, offset);
            let hi = local_midnight(date.succ_opt().unwrap_or(date), offset);
            let events = store.hall_events(&hall, lo, hi).await?;
            let day = HallDay::replay(rules, &events, hi);
            for (cell, n) in served_visits(day.tickets()) {
                *out.entry(cell).or_default() += n;
            }
        }
    }
    Ok(out)
}

/// One line of the rates: a hall, segment or purpose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLine {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub counts: RateCounts,
}

/// Response rates of a period and the non-response check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatesReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub total: RateCounts,
    pub halls: Vec<RateLine>,
    pub segments: Vec<RateLine>,
    pub purposes: Vec<RateLine>,
    /// Respondents (answered invitations) against the period's served visits by
    /// segment × purpose.
    pub non_response: NonResponseCheck,
}

/// Response rates per hall, segment and purpose of the invitations decided in the
/// period (invited: sent, held, expired or answered; suppressed apart, by reason), and
/// the non-response check of the answered ones against the period's served visits.
pub async fn response_rates(store: &dyn Store, q: &ProgrammeQuery<'_>) -> Result<RatesReport> {
    let tree = store.org_tree().await?;
    let halls = scope(&tree, q.org)?;
    let mut counts = Vec::new();
    for ((lo, hi), wanted) in bounds(&tree, &halls, q.from, q.to) {
        counts.extend(
            store
                .invitation_counts(lo, hi)
                .await?
                .into_iter()
                .filter(|c| wanted.contains(&c.hall)),
        );
    }
    let mut total = RateCounts::default();
    let (mut by_hall, mut by_segment, mut by_purpose): (
        BTreeMap<String, RateCounts>,
        BTreeMap<String, RateCounts>,
        BTreeMap<String, RateCounts>,
    ) = Default::default();
    let mut respondents: BTreeMap<(String, String), u64> = BTreeMap::new();
    for c in &counts {
        let reason = c.reason.as_deref();
        total.add(&c.status, reason, c.n);
        for (map, key) in [
            (&mut by_hall, &c.hall),
            (&mut by_segment, &c.segment),
            (&mut by_purpose, &c.purpose),
        ] {
            map.entry(key.clone())
                .or_default()
                .add(&c.status, reason, c.n);
        }
        if c.status == "answered" {
            *respondents
                .entry((c.segment.clone(), c.purpose.clone()))
                .or_default() += c.n;
        }
    }
    let hall_set: HashSet<HallId> = halls.into_iter().collect();
    let visits = visit_cells(store, &hall_set, q.from, q.to).await?;
    let lines = |map: BTreeMap<String, RateCounts>, named: bool| -> Vec<RateLine> {
        map.into_iter()
            .map(|(key, counts)| RateLine {
                name: named
                    .then(|| OrgNodeId::parse(key.as_str()).ok())
                    .flatten()
                    .and_then(|n| tree.get(&n).map(|n| n.name.clone())),
                key,
                counts,
            })
            .collect()
    };
    Ok(RatesReport {
        from: q.from,
        to: q.to,
        total,
        halls: lines(by_hall, true),
        segments: lines(by_segment, false),
        purposes: lines(by_purpose, false),
        non_response: non_response_check(&respondents, &visits),
    })
}

/// The tolerance point against the reference it is checked on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tolerance {
    /// Minutes: the journey's `tolerable_wait` standard of its wait moment, else the
    /// mean tolerable wait the respondents stated, else the study's 16.
    pub reference_min: f64,
    /// `journey`, `respondents` or `study`.
    pub source: &'static str,
    pub break_min: Option<f64>,
    /// break − reference.
    pub difference_min: Option<f64>,
    /// Whether the reference lies in the break's 95 % interval.
    pub reference_in_interval: Option<bool>,
}

/// Satisfaction of the queue moment by minutes waited, the tolerance point, and staff
/// and counter effects, of the answered invitations of a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitsReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Answered invitations joined to their answers.
    pub answers: u64,
    /// The moments read as the queue's (each journey's first `wait`-kind moment).
    pub wait_moments: Vec<String>,
    /// Answers with both a wait and a rating of the queue moment.
    pub rated_waits: u64,
    pub bins: Vec<WaitBin>,
    pub fit: Option<BrokenStick>,
    pub tolerance: Tolerance,
    /// The moments staff touch (`staff` and `resolution` kinds): each answer's mean
    /// satisfaction over those it rated.
    pub staff_moments: Vec<String>,
    pub staff: Vec<Effect>,
    pub counters: Vec<Effect>,
}

/// What the waits report reads of a journey: its queue moment, the moments staff touch,
/// and its `tolerable_wait` standard in minutes.
type JourneyParts = (Option<String>, HashSet<String>, Option<f64>);

/// The report of `peakend survey waits` and `GET /api/v1/survey/waits`.
pub async fn wait_report(store: &dyn Store, q: &ProgrammeQuery<'_>) -> Result<WaitsReport> {
    let tree = store.org_tree().await?;
    let halls = scope(&tree, q.org)?;
    let mut answered: Vec<AnsweredVisit> = Vec::new();
    for ((lo, hi), wanted) in bounds(&tree, &halls, q.from, q.to) {
        answered.extend(
            store
                .answered_visits(lo, hi)
                .await?
                .into_iter()
                .filter(|v| wanted.contains(&v.hall)),
        );
    }
    answered.sort_by_key(|v| v.invitation);
    // Each journey's queue moment and the moments staff touch.
    let mut journeys: HashMap<String, Option<JourneyParts>> = HashMap::new();
    let mut points: Vec<(f64, f64)> = Vec::new();
    let (mut wait_keys, mut staff_keys) = (BTreeSet::new(), BTreeSet::new());
    let mut stated = RunningStats::default();
    let mut journey_reference: Option<f64> = None;
    let mut hall_all: BTreeMap<String, RunningStats> = BTreeMap::new();
    let mut by_staff: BTreeMap<(String, String), RunningStats> = BTreeMap::new();
    let mut by_counter: BTreeMap<(String, String), RunningStats> = BTreeMap::new();
    for v in &answered {
        if !journeys.contains_key(&v.journey) {
            let parts = match JourneyKey::parse(v.journey.as_str()) {
                Ok(key) => store.journey(&key).await?.map(|j| {
                    let wait = j
                        .moments()
                        .iter()
                        .find(|m| m.kind.as_deref() == Some("wait"));
                    let reference = wait.and_then(|m| {
                        m.standards
                            .iter()
                            .find(|s| s.key.as_str() == "tolerable_wait")
                            .and_then(|s| s.threshold.as_ref())
                            .and_then(|t| match t.unit {
                                Unit::Minutes => Some(t.value),
                                Unit::Seconds => Some(t.value / 60.0),
                                _ => None,
                            })
                    });
                    let staff: HashSet<String> = j
                        .moments()
                        .iter()
                        .filter(|m| matches!(m.kind.as_deref(), Some("staff" | "resolution")))
                        .map(|m| m.key.to_string())
                        .collect();
                    (wait.map(|m| m.key.to_string()), staff, reference)
                }),
                Err(_) => None,
            };
            journeys.insert(v.journey.clone(), parts);
        }
        if let Some(w) = v.tolerable_wait_min {
            stated.push(w);
        }
        let Some((wait, staff, reference)) = &journeys[&v.journey] else {
            continue;
        };
        if journey_reference.is_none() {
            journey_reference = *reference;
        }
        if let (Some(key), Some(wait_s)) = (wait, v.wait_s)
            && let Some((_, sat)) = v.ratings.iter().find(|(m, _)| m == key)
        {
            points.push((wait_s as f64 / 60.0, *sat));
            wait_keys.insert(key.clone());
        }
        let touched: Vec<f64> = v
            .ratings
            .iter()
            .filter(|(m, _)| staff.contains(m))
            .map(|(m, s)| {
                staff_keys.insert(m.clone());
                *s
            })
            .collect();
        if touched.is_empty() {
            continue;
        }
        let y = touched.iter().sum::<f64>() / touched.len() as f64;
        hall_all.entry(v.hall.clone()).or_default().push(y);
        if let Some(s) = &v.staff {
            by_staff
                .entry((v.hall.clone(), s.clone()))
                .or_default()
                .push(y);
        }
        if let Some(c) = &v.counter {
            by_counter
                .entry((v.hall.clone(), c.clone()))
                .or_default()
                .push(y);
        }
    }
    let fit = broken_stick(&points, RESAMPLES, SEED);
    let (reference_min, source) = match (journey_reference, stated.mean()) {
        (Some(r), _) => (r, "journey"),
        (None, Some(m)) => (m, "respondents"),
        (None, None) => (STUDY_TOLERABLE_WAIT_MIN, "study"),
    };
    let tolerance = Tolerance {
        reference_min,
        source,
        break_min: fit.as_ref().map(|f| f.break_min),
        difference_min: fit.as_ref().map(|f| f.break_min - reference_min),
        reference_in_interval: fit
            .as_ref()
            .and_then(|f| f.break_ci95)
            .map(|(lo, hi)| lo <= reference_min && reference_min <= hi),
    };
    Ok(WaitsReport {
        from: q.from,
        to: q.to,
        answers: answered.len() as u64,
        wait_moments: wait_keys.into_iter().collect(),
        rated_waits: points.len() as u64,
        bins: wait_bins(&points),
        fit,
        tolerance,
        staff_moments: staff_keys.into_iter().collect(),
        staff: shrunk_effects(&hall_all, &by_staff),
        counters: shrunk_effects(&hall_all, &by_counter),
    })
}

fn shown(category: &str) -> String {
    if category.is_empty() {
        "(none 无)".to_owned()
    } else {
        format!("`{category}`")
    }
}

/// The peak-end analysis of the stored responses with each respondent raked to the
/// served visits of the period on `margins` (segment, purpose): a respondent's cell is
/// the visit's of the invitation it answered, else its own segment and purpose (and
/// `q.purpose` keeps the respondents of that cell purpose). The
/// period is `q.from`–`q.to`, or the responses' first and last visit dates. Refused,
/// naming it, when a category (or, raked on both margins, a segment × purpose cell) has
/// respondents but no visits, a category has visits but no respondent, or the period
/// has no visits at all.
pub async fn raked_analysis(
    store: &dyn Store,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
    margins: &[RakeMargin],
) -> Result<Analysis> {
    if margins.is_empty() {
        return Err(StoreError::Invalid(
            "--rake: name segment, purpose or both".into(),
        ));
    }
    let tree = store.org_tree().await?;
    let halls = query_halls(&tree, q.org)?;
    let mut responses: Vec<Response> = store
        .responses(journey, halls.as_deref(), q.from, q.to)
        .await?;
    for other in q.also {
        let onto = peakend_core::survey::Projection::new(other, journey);
        for r in store
            .responses(other, halls.as_deref(), q.from, q.to)
            .await?
        {
            responses.push(onto.apply(&r));
        }
    }
    let joined: HashMap<(String, String), (String, String)> = store
        .answered_cells()
        .await?
        .into_iter()
        .map(|(h, r, s, p)| ((h, r), (s, p)))
        .collect();
    // Each respondent's cell; `q.purpose` keeps the cells of that purpose.
    let (responses, cells): (Vec<Response>, Vec<(String, String)>) = responses
        .into_iter()
        .map(|r| {
            let cell = joined
                .get(&(r.hall.to_string(), r.respondent.clone()))
                .cloned()
                .unwrap_or_else(|| (r.segment.clone(), r.purpose.clone().unwrap_or_default()));
            (r, cell)
        })
        .filter(|(_, c)| q.purpose.is_none_or(|p| c.1 == p))
        .unzip();
    let (Some(first), Some(last)) = (
        responses.iter().map(|r| r.date).min(),
        responses.iter().map(|r| r.date).max(),
    ) else {
        return Err(StoreError::Invalid("no responses to analyse".into()));
    };
    let (from, to) = (q.from.unwrap_or(first), q.to.unwrap_or(last));
    let hall_set: HashSet<HallId> = match halls {
        Some(h) => h.into_iter().collect(),
        None => scope(&tree, None)?.into_iter().collect(),
    };
    let visits = visit_cells(store, &hall_set, from, to).await?;
    let population: u64 = visits.values().sum();
    if population == 0 {
        return Err(StoreError::Invalid(format!(
            "cannot rake: no served visits are recorded for these halls from {from} to {to} (the population comes from the halls' events)"
        )));
    }
    // Per margin: its categories, each respondent's, and the visits of each.
    let mut categories: Vec<Vec<usize>> = Vec::new();
    let mut targets: Vec<Vec<f64>> = Vec::new();
    for &m in margins {
        let pick = |c: &(String, String)| -> String {
            match m {
                RakeMargin::Segment => c.0.clone(),
                RakeMargin::Purpose => c.1.clone(),
            }
        };
        let mut target: BTreeMap<String, u64> = BTreeMap::new();
        for (cell, n) in &visits {
            *target.entry(pick(cell)).or_default() += n;
        }
        let mut sample: BTreeMap<String, u64> = BTreeMap::new();
        for c in &cells {
            *sample.entry(pick(c)).or_default() += 1;
        }
        for (cat, n) in &sample {
            if target.get(cat).copied().unwrap_or(0) == 0 {
                return Err(StoreError::Invalid(format!(
                    "cannot rake: {} {} has {n} respondents but no served visits from {from} to {to}; rake on the other margin, or name it as the halls' tickets do",
                    m.name(),
                    shown(cat)
                )));
            }
        }
        for (cat, n) in &target {
            if !sample.contains_key(cat) {
                return Err(StoreError::Invalid(format!(
                    "cannot rake: {} {} has {n} served visits but no respondent to stand for them (an empty margin category)",
                    m.name(),
                    shown(cat)
                )));
            }
        }
        let index: Vec<&String> = target.keys().collect();
        categories.push(
            cells
                .iter()
                .map(|c| {
                    index
                        .binary_search(&&pick(c))
                        .expect("every category has visits")
                })
                .collect(),
        );
        targets.push(target.values().map(|&n| n as f64).collect());
    }
    // Raked on both, a respondent's own cell must be one the visits have.
    if margins.contains(&RakeMargin::Segment) && margins.contains(&RakeMargin::Purpose) {
        let mut sample: BTreeMap<&(String, String), u64> = BTreeMap::new();
        for c in &cells {
            *sample.entry(c).or_default() += 1;
        }
        if let Some((c, n)) = sample
            .iter()
            .find(|(c, _)| visits.get(**c).copied().unwrap_or(0) == 0)
        {
            return Err(StoreError::Invalid(format!(
                "cannot rake: the cell {} × {} has {n} respondents but no served visits from {from} to {to}; rake on one margin, or merge the cell into another",
                shown(&c.0),
                shown(&c.1)
            )));
        }
    }
    let raked = rake(&vec![1.0; cells.len()], &categories, &targets, 1e-10, 1000)
        .map_err(|e| StoreError::Invalid(format!("cannot rake: {e}")))?;
    if raked.gap > 1e-6 {
        return Err(StoreError::Invalid(format!(
            "cannot rake: the margins did not converge in {} passes (gap {:.2e})",
            raked.iterations, raked.gap
        )));
    }
    // The cells become the strata of the analysis, each weighted by its raked total.
    let label = |c: &(String, String)| format!("{} × {}", c.0, c.1);
    let mut weights: BTreeMap<String, f64> = BTreeMap::new();
    let mut per_cell: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    let mut stats = GroupedStats::new(journey, q.by, Some(&tree));
    for ((r, c), w) in responses.iter().zip(&cells).zip(&raked.weights) {
        *weights.entry(label(c)).or_default() += w;
        let e = per_cell.entry(c.clone()).or_insert((0, *w));
        e.0 += 1;
        let mut r = r.clone();
        r.segment = label(c);
        stats.push(&r);
    }
    let mut analysis = stats
        .analyze(journey, Some(&weights), q.rule)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let design_effect = kish_design_effect(&raked.weights).unwrap_or(1.0);
    analysis.raking = Some(RakingSummary {
        margins: margins.iter().map(|m| m.name().to_owned()).collect(),
        respondents: cells.len() as u64,
        visits: population,
        iterations: raked.iterations,
        gap: raked.gap,
        weight_min: raked.weights.iter().copied().fold(f64::INFINITY, f64::min),
        weight_max: raked.weights.iter().copied().fold(0.0, f64::max),
        design_effect,
        effective_n: cells.len() as f64 / design_effect,
        cells: per_cell
            .into_iter()
            .map(|((segment, purpose), (respondents, weight))| RakedCell {
                segment,
                purpose,
                respondents,
                weight,
            })
            .collect(),
    });
    Ok(analysis)
}
