//! The survey analysis engine. Responses fold into [`SurveyStats`]: per customer
//! segment, counts, sums and co-moments that merge exactly, so statistics of halls
//! roll up into districts, cities and the province without rescanning responses.
//! [`analyze`] turns merged statistics into the peak-end analysis of docs/methods.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::drivers::relative_weights;
use super::indices::{Quadrant, index_0_100, quadrant, sample_size_for};
use super::stats::{PairStats, PairTable, RunningStats, stratified_mean};
use crate::journey::Journey;
use crate::peak::PeakRule;
use crate::survey::{NeedsView, Response, ResponseView, peak_end_score};

/// Promoter and detractor counts of the 0–10 recommend question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NpsCounts {
    pub n: u64,
    pub promoters: u64,
    pub detractors: u64,
}

impl NpsCounts {
    pub fn merge(&mut self, o: &NpsCounts) {
        self.n += o.n;
        self.promoters += o.promoters;
        self.detractors += o.detractors;
    }
}

/// Everything the analysis needs about one segment's respondents, mergeable; stored as
/// JSON in the roll-up cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentStats {
    pub respondents: u64,
    pub importance: Vec<RunningStats>,
    pub satisfaction: Vec<RunningStats>,
    /// Per moment, per need element of that moment.
    pub needs: Vec<Vec<RunningStats>>,
    pub overall: RunningStats,
    /// Respondents with overall ≥ 8.
    pub satisfied: u64,
    /// Respondents fully satisfied: overall at the top of the scale (10), the course's
    /// "百分百的满意" behind the value tiers. Absent from cells stored before it (a
    /// migration has them rebuilt).
    #[serde(default)]
    pub fully_satisfied: u64,
    pub nps: NpsCounts,
    /// Tolerable wait in tenths of a minute → respondents, for medians.
    pub waits: BTreeMap<i64, u64>,
    pub wait: RunningStats,
    /// Co-moments of every pair (i < j) of the variables satisfaction_0..k−1, overall.
    pub pairs: PairTable,
    /// (peak-end score, overall) and (mean satisfaction, overall) per respondent.
    pub peak_end: PairStats,
    pub average: PairStats,
    /// The gap model's expectation items, allocated at the first respondent who gave
    /// one: surveys without them cost nothing more to fold, and their cells (stored as
    /// JSON) are written exactly as before. Absent from cells stored before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectations: Option<Box<ExpectationStats>>,
    /// The competitive assessment's items, paired the same way (`expectation` holds
    /// the competitor's satisfaction, `perception` ours, `gap` theirs − ours);
    /// allocated at the first respondent who gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competitors: Option<Box<ExpectationStats>>,
    /// The short form's respondents again, by visit purpose ([`NO_PURPOSE`] for none):
    /// their moment satisfactions, already counted above. The short form asks a
    /// purpose's peaks of all its respondents and the other moments of a share, so
    /// across purposes a moment is asked at different rates; [`analyze`] weighs each
    /// purpose's short-form respondents by their number, not by how many were asked
    /// (post-stratification, docs/survey-form.md). Empty for a survey with no short
    /// form: such cells cost and store nothing more.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub short: BTreeMap<String, ShortStats>,
}

/// One visit purpose's short-form respondents within a cell: how many, and their
/// satisfaction per moment (the only moment question the short form asks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortStats {
    pub respondents: u64,
    pub satisfaction: Vec<RunningStats>,
}

impl ShortStats {
    fn new(moments: usize) -> ShortStats {
        ShortStats {
            respondents: 0,
            satisfaction: vec![RunningStats::default(); moments],
        }
    }

    fn merge(&mut self, o: &ShortStats) {
        self.respondents += o.respondents;
        zip_merge(&mut self.satisfaction, &o.satisfaction);
    }
}

/// Per moment, the expectation items and the satisfaction *of the same respondents*:
/// only a respondent who gave both for a moment counts there, so gap 5 compares like
/// with like (an expectation of someone who did not rate the moment, or a satisfaction
/// of someone not asked the expectation, would compare two different groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationStats {
    /// Respondents who gave at least one expectation item.
    pub respondents: u64,
    pub expectation: Vec<RunningStats>,
    /// Satisfaction of the respondents counted in `expectation`.
    pub perception: Vec<RunningStats>,
    /// Expectation − satisfaction per respondent: the paired differences behind gap
    /// 5's interval (its mean is expectation − perception).
    pub gap: Vec<RunningStats>,
    /// Expectations given without a satisfaction of the moment (left out of gap 5).
    pub unpaired: Vec<u64>,
}

/// Merges optional expectation (or competitor) statistics: `None` is the identity, so
/// merging stays associative and commutative.
pub(crate) fn merge_expectations(
    mine: &mut Option<Box<ExpectationStats>>,
    theirs: &Option<Box<ExpectationStats>>,
) {
    if let Some(theirs) = theirs {
        match mine {
            Some(mine) => mine.merge(theirs),
            None => *mine = Some(theirs.clone()),
        }
    }
}

impl ExpectationStats {
    pub fn new(moments: usize) -> ExpectationStats {
        ExpectationStats {
            respondents: 0,
            expectation: vec![RunningStats::default(); moments],
            perception: vec![RunningStats::default(); moments],
            gap: vec![RunningStats::default(); moments],
            unpaired: vec![0; moments],
        }
    }

    fn push(
        &mut self,
        ratings: &[crate::survey::Rating],
        item: fn(&crate::survey::Rating) -> Option<f64>,
    ) {
        self.respondents += 1;
        for (j, r) in ratings.iter().enumerate().take(self.expectation.len()) {
            match (item(r), r.satisfaction) {
                (Some(e), Some(s)) => {
                    self.expectation[j].push(e);
                    self.perception[j].push(s);
                    self.gap[j].push(e - s);
                }
                (Some(_), None) => self.unpaired[j] += 1,
                _ => {}
            }
        }
    }

    pub fn merge(&mut self, o: &ExpectationStats) {
        self.respondents += o.respondents;
        zip_merge(&mut self.expectation, &o.expectation);
        zip_merge(&mut self.perception, &o.perception);
        zip_merge(&mut self.gap, &o.gap);
        for (a, b) in self.unpaired.iter_mut().zip(&o.unpaired) {
            *a += b;
        }
    }

    /// Whether the statistics have `moments` moments (a stored cell may not).
    pub fn has_moments(&self, moments: usize) -> bool {
        [&self.expectation, &self.perception, &self.gap]
            .iter()
            .all(|v| v.len() == moments)
            && self.unpaired.len() == moments
    }
}

impl SegmentStats {
    pub fn new(need_counts: &[usize]) -> SegmentStats {
        let k = need_counts.len();
        let vars = k + 1;
        SegmentStats {
            respondents: 0,
            importance: vec![RunningStats::default(); k],
            satisfaction: vec![RunningStats::default(); k],
            needs: need_counts
                .iter()
                .map(|&n| vec![RunningStats::default(); n])
                .collect(),
            overall: RunningStats::default(),
            satisfied: 0,
            fully_satisfied: 0,
            nps: NpsCounts::default(),
            waits: BTreeMap::new(),
            wait: RunningStats::default(),
            pairs: PairTable::new(vars),
            peak_end: PairStats::default(),
            average: PairStats::default(),
            expectations: None,
            competitors: None,
            short: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, r: &Response) {
        self.push_view(&r.view());
    }

    pub fn push_view(&mut self, r: &ResponseView) {
        self.respondents += 1;
        let ratings = r.ratings.iter().zip(&mut self.importance);
        // Whether any expectation item was given, or-ed in without a branch per moment.
        let (mut expected, mut compared) = (false, false);
        for ((rating, imp), sat) in ratings.zip(&mut self.satisfaction) {
            imp.push_present(rating.importance);
            sat.push_present(rating.satisfaction);
            expected |= rating.expectation.is_some();
            compared |= rating.competitor.is_some();
        }
        if expected {
            self.push_expectations(r.ratings);
        }
        if compared {
            self.push_competitors(r.ratings);
        }
        if r.short_form {
            self.push_short(r);
        }
        match r.needs {
            NeedsView::Listed(needs) => {
                for n in needs {
                    self.needs[n.moment][n.need].push(n.importance);
                }
            }
            NeedsView::Dense(values) => {
                for (s, x) in self.needs.iter_mut().flatten().zip(values) {
                    s.push_present(*x);
                }
            }
        }
        if let Some(o) = r.overall {
            self.overall.push(o);
            if o >= 8.0 {
                self.satisfied += 1;
            }
            if o >= 10.0 {
                self.fully_satisfied += 1;
            }
        }
        if let Some(s) = r.nps {
            self.nps.n += 1;
            self.nps.promoters += u64::from(s >= 9.0);
            self.nps.detractors += u64::from(s <= 6.0);
        }
        if let Some(w) = r.tolerable_wait_min {
            *self.waits.entry((w * 10.0).round() as i64).or_default() += 1;
            self.wait.push(w);
        }
        let sats = r.ratings.iter().map(|x| x.satisfaction);
        self.pairs.push(sats.chain(std::iter::once(r.overall)));
        if let Some(o) = r.overall {
            if let Some(score) = peak_end_score(r.ratings) {
                // The same left-to-right sum a collected Vec would give, without one.
                let (sum, n) = r
                    .ratings
                    .iter()
                    .filter_map(|x| x.satisfaction)
                    .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                self.peak_end.push(score, o, 1.0);
                self.average.push(sum / n as f64, o, 1.0);
            }
        }
    }

    /// Kept out of line: the fold of a survey without expectation items never calls it.
    #[inline(never)]
    fn push_expectations(&mut self, ratings: &[crate::survey::Rating]) {
        let k = self.satisfaction.len();
        self.expectations
            .get_or_insert_with(|| Box::new(ExpectationStats::new(k)))
            .push(ratings, |r| r.expectation);
    }

    /// Out of line too: a long-form answer never calls it.
    #[inline(never)]
    fn push_short(&mut self, r: &ResponseView) {
        let k = self.satisfaction.len();
        let purpose = r.purpose.unwrap_or(super::rollup::NO_PURPOSE);
        let s = match self.short.get_mut(purpose) {
            Some(s) => s,
            None => self
                .short
                .entry(purpose.to_owned())
                .or_insert_with(|| ShortStats::new(k)),
        };
        s.respondents += 1;
        for (rating, sat) in r.ratings.iter().zip(&mut s.satisfaction) {
            sat.push_present(rating.satisfaction);
        }
    }

    /// Out of line for the same reason.
    #[inline(never)]
    fn push_competitors(&mut self, ratings: &[crate::survey::Rating]) {
        let k = self.satisfaction.len();
        self.competitors
            .get_or_insert_with(|| Box::new(ExpectationStats::new(k)))
            .push(ratings, |r| r.competitor);
    }

    pub fn merge(&mut self, o: &SegmentStats) {
        self.respondents += o.respondents;
        zip_merge(&mut self.importance, &o.importance);
        zip_merge(&mut self.satisfaction, &o.satisfaction);
        for (a, b) in self.needs.iter_mut().zip(&o.needs) {
            zip_merge(a, b);
        }
        self.overall.merge(&o.overall);
        self.satisfied += o.satisfied;
        self.fully_satisfied += o.fully_satisfied;
        self.nps.merge(&o.nps);
        for (k, v) in &o.waits {
            *self.waits.entry(*k).or_default() += v;
        }
        self.wait.merge(&o.wait);
        self.pairs.merge(&o.pairs);
        self.peak_end.merge(&o.peak_end);
        self.average.merge(&o.average);
        merge_expectations(&mut self.expectations, &o.expectations);
        merge_expectations(&mut self.competitors, &o.competitors);
        for (purpose, theirs) in &o.short {
            match self.short.get_mut(purpose) {
                Some(mine) => mine.merge(theirs),
                None => {
                    self.short.insert(purpose.clone(), theirs.clone());
                }
            }
        }
    }

    /// The strata of moment `j`'s satisfaction within this segment, pushed onto `out`
    /// with the segment's weight `wt` times each stratum's share of its respondents:
    /// the long-form respondents, then each purpose's short-form respondents. A segment
    /// without short-form answers is one stratum.
    fn satisfaction_strata(&self, j: usize, wt: f64, out: &mut Vec<(f64, RunningStats)>) {
        if self.short.is_empty() || self.respondents == 0 {
            out.push((wt, self.satisfaction[j]));
            return;
        }
        let n = self.respondents as f64;
        let mut long = self.satisfaction[j];
        let mut long_n = self.respondents;
        for s in self.short.values() {
            // A part of another shape (a corrupt cell) counts as no answers, never a panic.
            let x = s.satisfaction.get(j).copied().unwrap_or_default();
            long.n = long.n.saturating_sub(x.n);
            long.sum -= x.sum;
            long.sumsq -= x.sumsq;
            long_n = long_n.saturating_sub(s.respondents);
            out.push((wt * s.respondents as f64 / n, x));
        }
        if long.n == 0 {
            // Exactly empty, not a rounding residue of the subtraction.
            long = RunningStats::default();
        }
        out.push((wt * long_n as f64 / n, long));
    }
}

fn zip_merge(a: &mut [RunningStats], b: &[RunningStats]) {
    a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y));
}

/// Position of the pair (i, j), i < j, in the upper triangle of `vars` variables.
fn pair_index(vars: usize, i: usize, j: usize) -> usize {
    i * vars - i * (i + 1) / 2 + (j - i - 1)
}

/// Statistics per segment for one journey; fold responses in, merge parts together.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyStats {
    need_counts: Vec<usize>,
    pub segments: BTreeMap<String, SegmentStats>,
}

impl SurveyStats {
    pub fn new(journey: &Journey) -> SurveyStats {
        SurveyStats {
            need_counts: journey
                .moments()
                .iter()
                .map(|m| m.core_needs.len())
                .collect(),
            segments: BTreeMap::new(),
        }
    }

    /// Needs per moment.
    pub(crate) fn need_counts(&self) -> &[usize] {
        &self.need_counts
    }

    pub fn push(&mut self, r: &Response) {
        self.push_view(&r.view());
    }

    pub fn push_view(&mut self, r: &ResponseView) {
        // Looked up by &str first: the segment's String is allocated once, not per row.
        if let Some(s) = self.segments.get_mut(r.segment) {
            s.push_view(r);
        } else {
            let mut s = SegmentStats::new(&self.need_counts);
            s.push_view(r);
            self.segments.insert(r.segment.to_owned(), s);
        }
    }

    pub fn merge(&mut self, o: &SurveyStats) {
        for (seg, s) in &o.segments {
            self.merge_segment(seg, s);
        }
    }

    pub fn merge_segment(&mut self, segment: &str, s: &SegmentStats) {
        match self.segments.get_mut(segment) {
            Some(mine) => mine.merge(s),
            None => {
                self.segments.insert(segment.to_owned(), s.clone());
            }
        }
    }

    pub fn respondents(&self) -> u64 {
        self.segments.values().map(|s| s.respondents).sum()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("no responses to analyse")]
    Empty,
    #[error("segment `{0}` has responses but no weight in --weights")]
    UnweightedSegment(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MomentResult {
    pub key: String,
    pub importance: Option<f64>,
    pub importance_ci95: Option<(f64, f64)>,
    pub satisfaction: Option<f64>,
    pub satisfaction_ci95: Option<(f64, f64)>,
    /// Respondents who rated the moment's satisfaction.
    pub n: u64,
    pub quadrant: Option<Quadrant>,
    pub driver_weight: Option<f64>,
    pub driver_share: Option<f64>,
    /// Need keys ranked by weighted importance; the first is the core need.
    pub needs: Vec<(String, f64)>,
    pub core_need: Option<String>,
    /// Half-width of the satisfaction 95 % interval.
    pub margin_of_error: Option<f64>,
    /// Respondents needed for ±0.1 at 95 %.
    pub sample_needed: Option<u64>,
    pub peak: bool,
    pub end: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drivers {
    pub method: &'static str,
    pub r2: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryModel {
    pub peak_end_r: Option<f64>,
    pub average_r: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TolerableWait {
    pub median: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indices {
    pub nps: Option<f64>,
    pub satisfied_share: Option<f64>,
    /// The share of fully satisfied respondents (overall 10), unweighted counts, with
    /// its Wilson interval and value tier (gold ≥ 75 %, silver ≥ 51 %, bronze ≥ 24 %).
    pub top_box: Option<crate::dimensions::TopBox>,
    pub index: Option<f64>,
    pub overall: Option<f64>,
    pub tolerable_wait: TolerableWait,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub journey: String,
    pub respondents: u64,
    pub weights: BTreeMap<String, f64>,
    pub mean_importance: Option<f64>,
    pub mean_satisfaction: Option<f64>,
    pub peak_threshold: Option<f64>,
    pub moments: Vec<MomentResult>,
    pub peaks: Vec<String>,
    pub end: String,
    pub drivers: Drivers,
    pub memory_model: MemoryModel,
    pub indices: Indices,
    /// The eleven experience and SERVQUAL dimensions, each the importance-weighted
    /// satisfaction of the moments the journey tags with it.
    pub dimensions: Vec<crate::dimensions::DimensionScore>,
    /// Gap 5 of the gap model (expectation − perception) per moment and dimension;
    /// absent when no respondent gave an expectation item with a satisfaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gaps: Option<super::gaps::Gaps>,
    /// The competitive assessment per moment (our satisfaction and a competitor's, of
    /// the same respondents); absent when nobody rated a competitor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub competitive: Option<Vec<super::gaps::CompetitiveMoment>>,
    /// The same analysis per group, with `--by`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupAnalysis>,
    /// With `--rake`: how the respondents were raked to the visits (the weights of the
    /// segment × purpose cells are then `weights`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raking: Option<super::rake::RakingSummary>,
}

/// Normalised segment weights: the given ones (each segment with data must have one),
/// or each segment's share of respondents.
fn segment_weights(
    stats: &SurveyStats,
    given: Option<&BTreeMap<String, f64>>,
) -> Result<BTreeMap<String, f64>, AnalysisError> {
    let raw: BTreeMap<String, f64> = match given {
        None => stats
            .segments
            .iter()
            .map(|(k, s)| (k.clone(), s.respondents as f64))
            .collect(),
        Some(w) => stats
            .segments
            .keys()
            .map(|k| {
                w.get(k)
                    .map(|&x| (k.clone(), x))
                    .ok_or_else(|| AnalysisError::UnweightedSegment(k.clone()))
            })
            .collect::<Result<_, _>>()?,
    };
    let total: f64 = raw.values().sum();
    if total <= 0.0 {
        return Err(AnalysisError::Empty);
    }
    Ok(raw.into_iter().map(|(k, v)| (k, v / total)).collect())
}

/// Co-moments summed over segments, each respondent weighted by w_s / n_s so that
/// every segment counts in proportion to its weight whatever its sample size.
fn weighted_pairs(
    stats: &SurveyStats,
    w: &BTreeMap<String, f64>,
    pick: impl Fn(&SegmentStats) -> PairStats,
) -> PairStats {
    let mut total = PairStats::default();
    for (k, s) in &stats.segments {
        if s.respondents > 0 {
            total.merge(&pick(s).scaled(w[k] / s.respondents as f64));
        }
    }
    total
}

pub fn analyze(
    journey: &Journey,
    stats: &SurveyStats,
    weights: Option<&BTreeMap<String, f64>>,
    rule: PeakRule,
) -> Result<Analysis, AnalysisError> {
    if stats.respondents() == 0 {
        return Err(AnalysisError::Empty);
    }
    let w = segment_weights(stats, weights)?;
    let segs: Vec<(f64, &SegmentStats)> = stats.segments.iter().map(|(k, s)| (w[k], s)).collect();
    let by = |f: &dyn Fn(&SegmentStats) -> RunningStats| {
        stratified_mean(&segs.iter().map(|(wt, s)| (*wt, f(s))).collect::<Vec<_>>())
    };
    let k = journey.moments().len();
    let imp: Vec<_> = (0..k).map(|j| by(&|s| s.importance[j])).collect();
    // Satisfaction post-stratified by form and purpose within each segment: a moment the
    // short form asks some purposes always and others at random is not led by the
    // purposes that always rate it. Without short-form answers, the same as `by`.
    let sat: Vec<_> = (0..k)
        .map(|j| {
            let mut strata = Vec::with_capacity(segs.len());
            segs.iter()
                .for_each(|(wt, s)| s.satisfaction_strata(j, *wt, &mut strata));
            stratified_mean(&strata)
        })
        .collect();

    let rated: Vec<usize> = (0..k).filter(|&j| imp[j].is_some()).collect();
    let imp_values: Vec<f64> = rated.iter().map(|&j| imp[j].unwrap().mean).collect();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let mean_importance = mean(&imp_values);
    let sat_values: Vec<f64> = sat.iter().flatten().map(|s| s.mean).collect();
    let mean_satisfaction = mean(&sat_values);
    let (peak_pos, peak_threshold) = rule.apply(&imp_values);
    let peaks: Vec<usize> = peak_pos.iter().map(|&p| rated[p]).collect();

    // Key drivers over the moments whose satisfaction varies and correlates with overall.
    let vars = k + 1;
    let mut pairs = vec![PairStats::default(); vars * (vars - 1) / 2];
    for (idx, p) in pairs.iter_mut().enumerate() {
        *p = weighted_pairs(stats, &w, |s| s.pairs.get(idx));
    }
    let corr = |i: usize, j: usize| pairs[pair_index(vars, i.min(j), i.max(j))].correlation();
    let predictors: Vec<usize> = (0..k).filter(|&j| corr(j, k).is_some()).collect();
    let rxx: Vec<Vec<f64>> = predictors
        .iter()
        .map(|&a| {
            predictors
                .iter()
                .map(|&b| {
                    if a == b {
                        1.0
                    } else {
                        corr(a, b).unwrap_or(0.0)
                    }
                })
                .collect()
        })
        .collect();
    let rxy: Vec<f64> = predictors
        .iter()
        .map(|&j| corr(j, k).unwrap_or(0.0))
        .collect();
    let rw = (!predictors.is_empty())
        .then(|| relative_weights(&rxx, &rxy).ok())
        .flatten();

    let moments: Vec<MomentResult> = journey
        .moments()
        .iter()
        .enumerate()
        .map(|(j, m)| {
            let mut needs: Vec<(String, f64)> = m
                .core_needs
                .iter()
                .enumerate()
                .filter_map(|(n, need)| {
                    by(&|s| s.needs[j][n]).map(|r| (need.key.to_string(), r.mean))
                })
                .collect();
            needs.sort_by(|a, b| b.1.total_cmp(&a.1));
            let driver = rw.as_ref().and_then(|rw| {
                predictors
                    .iter()
                    .position(|&p| p == j)
                    .map(|i| (rw.raw[i], rw.shares[i]))
            });
            let mut pooled = RunningStats::default();
            segs.iter()
                .for_each(|(_, s)| pooled.merge(&s.satisfaction[j]));
            MomentResult {
                key: m.key.to_string(),
                importance: imp[j].map(|r| r.mean),
                importance_ci95: imp[j].map(|r| r.ci95()),
                satisfaction: sat[j].map(|r| r.mean),
                satisfaction_ci95: sat[j].map(|r| r.ci95()),
                n: pooled.n,
                quadrant: match (imp[j], sat[j], mean_importance, mean_satisfaction) {
                    (Some(i), Some(s), Some(mi), Some(ms)) => {
                        Some(quadrant(i.mean, s.mean, mi, ms))
                    }
                    _ => None,
                },
                driver_weight: driver.map(|d| d.0),
                driver_share: driver.map(|d| d.1),
                core_need: needs.first().map(|n| n.0.clone()),
                needs,
                margin_of_error: sat[j].map(|r| 1.96 * r.se),
                sample_needed: pooled.variance().map(|v| sample_size_for(v.sqrt(), 0.1)),
                peak: peaks.contains(&j),
                end: j == k - 1,
            }
        })
        .collect();

    // Indices use the same segment weights as the means.
    let weighted = |f: &dyn Fn(&SegmentStats) -> Option<f64>| {
        let parts: Vec<(f64, f64)> = segs
            .iter()
            .filter_map(|(wt, s)| f(s).map(|v| (*wt, v)))
            .collect();
        let total: f64 = parts.iter().map(|p| p.0).sum();
        (total > 0.0).then(|| parts.iter().map(|(wt, v)| wt * v).sum::<f64>() / total)
    };
    let overall = by(&|s| s.overall).map(|r| r.mean);
    let indices = Indices {
        nps: weighted(&|s| {
            (s.nps.n > 0).then(|| {
                100.0 * (s.nps.promoters as f64 - s.nps.detractors as f64) / s.nps.n as f64
            })
        }),
        satisfied_share: weighted(&|s| {
            (s.overall.n > 0).then(|| s.satisfied as f64 / s.overall.n as f64)
        }),
        top_box: {
            let (full, rated) = segs.iter().fold((0, 0), |(f, n), (_, s)| {
                (f + s.fully_satisfied, n + s.overall.n)
            });
            crate::dimensions::top_box(full.min(rated), rated)
                .ok()
                .flatten()
        },
        index: overall.map(index_0_100),
        overall,
        tolerable_wait: TolerableWait {
            median: weighted_median(&segs),
            mean: by(&|s| s.wait).map(|r| r.mean),
        },
    };

    Ok(Analysis {
        journey: journey.key().to_string(),
        respondents: stats.respondents(),
        weights: w.clone(),
        mean_importance,
        mean_satisfaction,
        peak_threshold,
        peaks: peaks
            .iter()
            .map(|&j| journey.moments()[j].key.to_string())
            .collect(),
        end: journey.end().key.to_string(),
        drivers: Drivers {
            method: "relative_weights",
            r2: rw.map(|r| r.r2),
        },
        memory_model: MemoryModel {
            peak_end_r: weighted_pairs(stats, &w, |s| s.peak_end).correlation(),
            average_r: weighted_pairs(stats, &w, |s| s.average).correlation(),
        },
        dimensions: dimensions_of(journey, &moments),
        gaps: super::gaps::gaps_of(journey, &segs, &moments),
        competitive: super::gaps::competitive_of(journey, &segs),
        moments,
        indices,
        groups: Vec::new(),
        raking: None,
    })
}

/// The dimension scores of the moments rated with both an importance and a
/// satisfaction (the others cannot weigh in).
fn dimensions_of(
    journey: &Journey,
    moments: &[MomentResult],
) -> Vec<crate::dimensions::DimensionScore> {
    let scores: Vec<crate::dimensions::MomentScore> = moments
        .iter()
        .filter_map(|m| {
            Some(crate::dimensions::MomentScore {
                moment: crate::MomentKey::parse(&m.key).ok()?,
                importance: m.importance?,
                satisfaction: m.satisfaction?,
                n: m.n,
            })
        })
        .collect();
    // The moments are the journey's own, each once: nothing for the check to refuse.
    crate::dimensions::dimension_scores(journey, &scores).unwrap_or_default()
}

/// The tolerable-wait median with each respondent weighted by w_s / n_s (segment size
/// counted among those who answered the question).
fn weighted_median(segs: &[(f64, &SegmentStats)]) -> Option<f64> {
    let mut mass: BTreeMap<i64, f64> = BTreeMap::new();
    for (w, s) in segs {
        if s.wait.n > 0 {
            for (k, c) in &s.waits {
                *mass.entry(*k).or_default() += w / s.wait.n as f64 * *c as f64;
            }
        }
    }
    let total: f64 = mass.values().sum();
    let mut acc = 0.0;
    for (k, m) in &mass {
        acc += m;
        if acc >= total / 2.0 - 1e-12 {
            return Some(*k as f64 / 10.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::HallId;
    use crate::survey::{NeedRating, Rating};

    fn journey() -> Journey {
        Journey::from_json(
            r#"{"key":"mini","name":{"zh":"小旅程","en":"Mini"},"channel":"face_to_face","moments":[
              {"key":"a","name":{"zh":"甲","en":"A"},"stage":"customer_flow","core_needs":[
                {"key":"n1","text":{"zh":"需求一","en":"Need 1"}},{"key":"n2","text":{"zh":"需求二","en":"Need 2"}}]},
              {"key":"b","name":{"zh":"乙","en":"B"},"stage":"business_flow"},
              {"key":"c","name":{"zh":"丙","en":"C"},"stage":"business_flow"}]}"#,
        )
        .unwrap()
    }

    /// (segment, importances, satisfactions, overall, nps, wait, need ratings of moment a)
    type Row = (
        &'static str,
        [f64; 3],
        [f64; 3],
        f64,
        f64,
        f64,
        &'static [(usize, f64)],
    );

    const ROWS: [Row; 5] = [
        (
            "gold",
            [9., 7., 8.],
            [8., 6., 9.],
            9.,
            10.,
            10.,
            &[(0, 9.), (1, 7.)],
        ),
        (
            "gold",
            [10., 6., 9.],
            [6., 4., 9.],
            6.,
            6.,
            20.,
            &[(0, 8.), (1, 9.)],
        ),
        ("basic", [8., 5., 7.], [7., 5., 8.], 7., 9., 15., &[(0, 6.)]),
        ("basic", [6., 4., 6.], [5., 5., 6.], 5., 3., 5., &[]),
        ("basic", [7., 6., 5.], [9., 7., 10.], 9., 9., 15., &[]),
    ];

    fn response((segment, imp, sat, overall, nps, wait, needs): &Row, i: usize) -> Response {
        Response {
            respondent: format!("r{i}"),
            hall: HallId::parse("h1").unwrap(),
            date: chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            segment: (*segment).into(),
            purpose: None,
            overall: Some(*overall),
            nps: Some(*nps),
            contact: None,
            comment: None,
            customer: None,
            tolerable_wait_min: Some(*wait),
            ratings: (0..3)
                .map(|j| Rating {
                    importance: Some(imp[j]),
                    satisfaction: Some(sat[j]),
                    expectation: None,
                    competitor: None,
                })
                .collect(),
            needs: needs
                .iter()
                .map(|&(need, x)| NeedRating {
                    moment: 0,
                    need,
                    importance: x,
                })
                .collect(),
            short_form: false,
        }
    }

    fn fold(rows: &[usize]) -> SurveyStats {
        let mut s = SurveyStats::new(&journey());
        rows.iter().for_each(|&i| s.push(&response(&ROWS[i], i)));
        s
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// A short-form answer of `purpose`: moment a rated 7, b as given (None: not asked),
    /// the end c rated 8.
    fn short(i: usize, purpose: &str, b: Option<f64>, short_form: bool) -> Response {
        let mut r = response(&ROWS[0], 100 + i);
        r.purpose = Some(purpose.into());
        r.short_form = short_form;
        r.needs.clear();
        for (j, x) in [Some(7.0), b, Some(8.0)].into_iter().enumerate() {
            r.ratings[j] = Rating {
                importance: None,
                satisfaction: x,
                expectation: None,
                competitor: None,
            };
        }
        r
    }

    #[test]
    fn short_form_answers_are_weighed_by_purpose_not_by_who_was_asked() {
        // Moment b is a peak of 购机 (asked of its 4 short-form respondents, all 9) and a
        // rotating moment of 缴费 (asked of 1 of its 4: 5); two long-form respondents of
        // 缴费 rate it 6 and 8. Each group weighs by its respondents: 4/10 · 9 + 4/10 · 5
        // + 2/10 · 7 = 7.0, where the pooled ratings (55 / 7 = 7.86) lean to 购机.
        let mut rows: Vec<Response> = (0..4).map(|i| short(i, "购机", Some(9.0), true)).collect();
        rows.push(short(4, "缴费", Some(5.0), true));
        rows.extend((5..8).map(|i| short(i, "缴费", None, true)));
        rows.push(short(8, "缴费", Some(6.0), false));
        rows.push(short(9, "缴费", Some(8.0), false));
        let j = journey();
        let analysed = |rows: &[Response]| {
            let mut s = SurveyStats::new(&j);
            rows.iter().for_each(|r| s.push(r));
            analyze(&j, &s, None, PeakRule::default()).unwrap()
        };
        let a = analysed(&rows);
        let b = &a.moments[1];
        assert!(close(b.satisfaction.unwrap(), 7.0), "{b:?}");
        assert_eq!(b.n, 7);
        // Only the long-form stratum varies: se = √(0.2² · 2 / 2) = 0.2.
        let (lo, hi) = b.satisfaction_ci95.unwrap();
        assert!(close(hi - lo, 2.0 * 1.96 * 0.2), "{lo} {hi}");
        // Moments asked of everyone are the plain means, as with the long form.
        assert!(close(a.moments[0].satisfaction.unwrap(), 7.0));
        assert!(close(a.moments[2].satisfaction.unwrap(), 8.0));
        // The same answers unmarked are pooled as before.
        let long: Vec<Response> = rows
            .iter()
            .map(|r| Response {
                short_form: false,
                ..r.clone()
            })
            .collect();
        assert!(close(
            analysed(&long).moments[1].satisfaction.unwrap(),
            55.0 / 7.0
        ));
        // Folded in two parts and merged, the same figures.
        let (mut x, mut y) = (SurveyStats::new(&j), SurveyStats::new(&j));
        rows.iter().step_by(2).for_each(|r| x.push(r));
        rows.iter().skip(1).step_by(2).for_each(|r| y.push(r));
        x.merge(&y);
        let merged = analyze(&j, &x, None, PeakRule::default()).unwrap();
        assert!(close(merged.moments[1].satisfaction.unwrap(), 7.0));
    }

    #[test]
    fn default_weights_give_the_plain_means_and_quadrants() {
        let a = analyze(&journey(), &fold(&[0, 1, 2, 3, 4]), None, PeakRule::Top(1)).unwrap();
        assert_eq!(a.respondents, 5);
        assert!(close(a.weights["gold"], 0.4) && close(a.weights["basic"], 0.6));
        let imp: Vec<f64> = a.moments.iter().map(|m| m.importance.unwrap()).collect();
        let sat: Vec<f64> = a.moments.iter().map(|m| m.satisfaction.unwrap()).collect();
        assert!(
            close(imp[0], 8.0) && close(imp[1], 5.6) && close(imp[2], 7.0),
            "{imp:?}"
        );
        assert!(
            close(sat[0], 7.0) && close(sat[1], 5.4) && close(sat[2], 8.4),
            "{sat:?}"
        );
        let quadrants: Vec<_> = a.moments.iter().map(|m| m.quadrant.unwrap()).collect();
        assert_eq!(
            quadrants,
            [Quadrant::KeepUp, Quadrant::LowPriority, Quadrant::KeepUp]
        );
        assert_eq!(a.peaks, ["a"]);
        assert_eq!(a.end, "c");
        assert!(a.moments[2].end && !a.moments[0].end && a.moments[0].peak);
        assert_eq!(a.moments[0].n, 5);
    }

    #[test]
    fn given_weights_reweight_segments_and_must_cover_them() {
        let stats = fold(&[0, 1, 2, 3, 4]);
        let w = BTreeMap::from([("gold".to_string(), 1.0), ("basic".to_string(), 1.0)]);
        let a = analyze(&journey(), &stats, Some(&w), PeakRule::default()).unwrap();
        assert!(close(
            a.moments[0].importance.unwrap(),
            0.5 * 9.5 + 0.5 * 7.0
        ));
        let partial = BTreeMap::from([("gold".to_string(), 1.0)]);
        assert_eq!(
            analyze(&journey(), &stats, Some(&partial), PeakRule::default()),
            Err(AnalysisError::UnweightedSegment("basic".into()))
        );
    }

    #[test]
    fn needs_are_ranked_with_absent_segments_renormalised() {
        let a = analyze(
            &journey(),
            &fold(&[0, 1, 2, 3, 4]),
            None,
            PeakRule::default(),
        )
        .unwrap();
        // n1: gold 8.5, basic 6 → 0.4·8.5 + 0.6·6 = 7.0 (not the plain 7.67 of its three
        // answers); n2: only gold answered → renormalised to gold alone → 8.0.
        assert_eq!(a.moments[0].core_need.as_deref(), Some("n2"));
        assert!(close(a.moments[0].needs[0].1, 8.0) && close(a.moments[0].needs[1].1, 7.0));
        assert!(a.moments[1].needs.is_empty() && a.moments[1].core_need.is_none());
    }

    #[test]
    fn indices_match_hand_arithmetic() {
        let a = analyze(
            &journey(),
            &fold(&[0, 1, 2, 3, 4]),
            None,
            PeakRule::default(),
        )
        .unwrap();
        // 3 promoters (10, 9, 9), 2 detractors (6, 3) of 5 → 20.
        assert!(close(a.indices.nps.unwrap(), 20.0));
        assert!(close(a.indices.satisfied_share.unwrap(), 0.4));
        // Nobody rated overall 10 (9, 6, 7, 5, 9): no tier; Wilson's interval for 0 of 5
        // is 0–43.4 % (Newcombe 1998's method 3 by hand: 2z²/(2n) / (1 + z²/n)).
        let t = a.indices.top_box.as_ref().unwrap();
        assert_eq!((t.satisfied, t.n, t.tier), (0, 5, None));
        assert!(
            t.ci95.0 == 0.0 && (t.ci95.1 - 0.43449).abs() < 1e-4,
            "{t:?}"
        );
        assert!(close(a.indices.index.unwrap(), (7.2 - 1.0) / 9.0 * 100.0));
        assert_eq!(a.indices.tolerable_wait.median, Some(15.0));
        assert!(close(a.indices.tolerable_wait.mean.unwrap(), 13.0));
    }

    /// Expected values computed independently with numpy (np.corrcoef, eigh, lstsq).
    #[test]
    fn drivers_and_memory_model_match_an_independent_computation() {
        let a = analyze(
            &journey(),
            &fold(&[0, 1, 2, 3, 4]),
            None,
            PeakRule::default(),
        )
        .unwrap();
        // Relative weights' R² equals the OLS R² of overall on the three satisfactions.
        assert_eq!(format!("{:.6}", a.drivers.r2.unwrap()), "0.947917");
        let shares: Vec<String> = a
            .moments
            .iter()
            .map(|m| format!("{:.4}", m.driver_share.unwrap()))
            .collect();
        assert_eq!(shares, ["41.1578", "30.1987", "28.6435"]);
        assert_eq!(
            format!("{:.6}", a.memory_model.peak_end_r.unwrap()),
            "0.789270"
        );
        assert_eq!(
            format!("{:.6}", a.memory_model.average_r.unwrap()),
            "0.955009"
        );
    }

    /// Equal up to floating-point summation order.
    #[test]
    fn merging_parts_equals_analysing_the_union() {
        let whole = fold(&[0, 1, 2, 3, 4]);
        let mut parts = fold(&[0, 2]);
        parts.merge(&fold(&[1, 3, 4]));
        for (seg, s) in &whole.segments {
            let p = &parts.segments[seg];
            // Counts and integer-valued sums are exact; the rest agree to rounding.
            assert_eq!(
                (p.respondents, p.satisfied, p.nps, &p.waits),
                (s.respondents, s.satisfied, s.nps, &s.waits)
            );
            assert_eq!(
                (&p.importance, &p.satisfaction, &p.pairs),
                (&s.importance, &s.satisfaction, &s.pairs)
            );
        }
        let j = journey();
        let json = |s: &SurveyStats| {
            serde_json::to_value(analyze(&j, s, None, PeakRule::default()).unwrap()).unwrap()
        };
        peakend_testkit::assert_json_near(&json(&parts), &json(&whole), "analysis");
        assert_eq!(
            analyze(&j, &SurveyStats::new(&j), None, PeakRule::default()),
            Err(AnalysisError::Empty)
        );
    }

    /// Cells are stored as JSON in the database: a cell without expectation items is
    /// written as before (no `expectations` key), a cell stored before the field
    /// existed decodes, and one with expectations round-trips.
    #[test]
    fn stored_cells_without_expectations_decode_and_are_written_as_before() {
        let plain = fold(&[0, 1]);
        let cell = &plain.segments["gold"];
        let json = serde_json::to_value(cell).unwrap();
        assert!(json.get("expectations").is_none());
        let back: SegmentStats = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(&back, cell);
        assert!(back.expectations.is_none());
        // A cell from before `fully_satisfied` and `expectations` existed.
        let mut old = json;
        old.as_object_mut().unwrap().remove("fully_satisfied");
        let back: SegmentStats = serde_json::from_value(old).unwrap();
        assert_eq!((back.respondents, back.expectations), (2, None));

        let mut r = response(&ROWS[0], 9);
        r.ratings[1].expectation = Some(8.0);
        let mut with = SegmentStats::new(&[2, 0, 0]);
        with.push(&r);
        let e = with.expectations.as_ref().unwrap();
        assert_eq!(
            (e.respondents, e.expectation[1].n, e.perception[1].sum),
            (1, 1, 6.0)
        );
        let text = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<SegmentStats>(&text).unwrap(), with);
        assert!(super::super::rollup::fits(&with, &[2, 0, 0]));
        let mut short = with.clone();
        short.expectations.as_mut().unwrap().gap.pop();
        assert!(!super::super::rollup::fits(&short, &[2, 0, 0]));
    }

    #[test]
    fn pair_index_covers_the_upper_triangle_once() {
        let vars = 5;
        let mut seen = vec![false; vars * (vars - 1) / 2];
        for i in 0..vars {
            for j in i + 1..vars {
                assert!(!std::mem::replace(&mut seen[pair_index(vars, i, j)], true));
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}

/// What `--by` splits the analysis by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Purpose,
    Segment,
    Hall,
    District,
    City,
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "purpose" => Ok(GroupBy::Purpose),
            "segment" => Ok(GroupBy::Segment),
            "hall" => Ok(GroupBy::Hall),
            "district" => Ok(GroupBy::District),
            "city" => Ok(GroupBy::City),
            _ => Err(format!(
                "cannot group by `{s}` (expected purpose, segment, hall, district or city)"
            )),
        }
    }
}

/// One group's analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAnalysis {
    pub group: String,
    pub analysis: Analysis,
}

/// The group a response (or a roll-up cell, which has no purpose) belongs to.
fn group_key<'a>(
    by: GroupBy,
    tree: Option<&'a crate::org::OrgTree>,
    hall: &'a str,
    segment: &'a str,
    purpose: Option<&'a str>,
) -> &'a str {
    match by {
        GroupBy::Purpose => purpose.filter(|p| !p.is_empty()).unwrap_or("(none)"),
        GroupBy::Segment => segment,
        GroupBy::Hall => hall,
        GroupBy::District | GroupBy::City => {
            let level = if by == GroupBy::City {
                crate::org::OrgLevel::City
            } else {
                crate::org::OrgLevel::District
            };
            let node = crate::id::OrgNodeId::parse(hall).ok();
            node.and_then(|n| tree.map(|t| t.ancestry(&n)))
                .and_then(|up| {
                    up.into_iter()
                        .find(|a| a.level == level)
                        .map(|a| a.id.as_str())
                })
                .unwrap_or("(none)")
        }
    }
}

/// Statistics of all responses and, when grouping, of each group.
#[derive(Debug, Clone)]
pub struct GroupedStats {
    pub all: SurveyStats,
    /// The tree is kept (shared) only to group by district or city, so that statistics
    /// can outlive the request that built them (the store's cache adds to them later).
    by: Option<(GroupBy, Option<std::sync::Arc<crate::org::OrgTree>>)>,
    groups: BTreeMap<String, SurveyStats>,
}

impl GroupedStats {
    /// `tree` is needed to group by district or city (a hall's ancestor at that level).
    pub fn new(journey: &Journey, by: Option<GroupBy>, tree: Option<&crate::org::OrgTree>) -> Self {
        let tree = match by {
            Some(GroupBy::District | GroupBy::City) => tree.map(|t| std::sync::Arc::new(t.clone())),
            _ => None,
        };
        GroupedStats {
            all: SurveyStats::new(journey),
            by: by.map(|b| (b, tree)),
            groups: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, r: &Response) {
        self.push_view(&r.view());
    }

    pub fn push_view(&mut self, r: &ResponseView) {
        self.all.push_view(r);
        let Some((by, tree)) = &self.by else { return };
        let key = group_key(*by, tree.as_deref(), r.hall, r.segment, r.purpose);
        if let Some(g) = self.groups.get_mut(key) {
            g.push_view(r);
        } else {
            let mut g = SurveyStats {
                need_counts: self.all.need_counts.clone(),
                segments: BTreeMap::new(),
            };
            g.push_view(r);
            self.groups.insert(key.to_owned(), g);
        }
    }

    /// The group a row of `hall`, `segment` and `purpose` falls in, when grouping.
    pub fn group_of_row<'a>(
        &'a self,
        hall: &'a str,
        segment: &'a str,
        purpose: Option<&'a str>,
    ) -> Option<&'a str> {
        let (by, tree) = self.by.as_ref()?;
        Some(group_key(*by, tree.as_deref(), hall, segment, purpose))
    }

    /// Adds one segment's statistics (of any number of rows) to everything (`None`) or
    /// to one group: for rows, call it once each way, as pushing them would have.
    pub fn add_segment(&mut self, group: Option<&str>, segment: &str, s: &SegmentStats) {
        match group {
            None => self.all.merge_segment(segment, s),
            Some(key) => {
                let need_counts = &self.all.need_counts;
                match self.groups.get_mut(key) {
                    Some(g) => g.merge_segment(segment, s),
                    None => {
                        let mut g = SurveyStats {
                            need_counts: need_counts.clone(),
                            segments: BTreeMap::new(),
                        };
                        g.merge_segment(segment, s);
                        self.groups.insert(key.to_owned(), g);
                    }
                }
            }
        }
    }

    /// Adds a roll-up cell: one hall's statistics of one segment, of one visit purpose
    /// (`Some`, [`rollup::NO_PURPOSE`](super::rollup::NO_PURPOSE) for none) or of all
    /// (`None`). `false` (and nothing added) when grouping by visit purpose a cell of
    /// all purposes.
    pub fn merge_cell(
        &mut self,
        hall: &crate::id::HallId,
        segment: &str,
        purpose: Option<&str>,
        cell: &SegmentStats,
    ) -> bool {
        if matches!(self.by, Some((GroupBy::Purpose, _))) && purpose.is_none() {
            return false;
        }
        let group = self.group_of(hall, segment, purpose);
        self.all.merge_segment(segment, cell);
        if let Some(key) = group {
            let need_counts = &self.all.need_counts;
            self.groups
                .entry(key)
                .or_insert_with(|| SurveyStats {
                    need_counts: need_counts.clone(),
                    segments: BTreeMap::new(),
                })
                .merge_segment(segment, cell);
        }
        true
    }

    /// The group a roll-up cell falls in, when grouping (`None` otherwise, and for an
    /// all-purpose cell when grouping by purpose).
    pub fn group_of(
        &self,
        hall: &crate::id::HallId,
        segment: &str,
        purpose: Option<&str>,
    ) -> Option<String> {
        match &self.by {
            Some((GroupBy::Purpose, _)) if purpose.is_none() => None,
            Some((by, tree)) => {
                Some(group_key(*by, tree.as_deref(), hall.as_str(), segment, purpose).to_owned())
            }
            None => None,
        }
    }

    /// [`analyze`](Self::analyze) again after some groups changed: the groups of
    /// `previous` not in `changed` are taken as they were (a province's 2,000 halls
    /// need not all be analysed again because one hall had an answer).
    pub fn analyze_again(
        &self,
        journey: &Journey,
        weights: Option<&BTreeMap<String, f64>>,
        rule: PeakRule,
        previous: &Analysis,
        changed: &std::collections::HashSet<String>,
    ) -> Result<Analysis, AnalysisError> {
        let before: std::collections::HashMap<&str, &GroupAnalysis> = previous
            .groups
            .iter()
            .map(|g| (g.group.as_str(), g))
            .collect();
        let mut all = analyze(journey, &self.all, weights, rule)?;
        all.groups = self
            .groups
            .iter()
            .map(|(g, s)| match before.get(g.as_str()) {
                Some(prev) if !changed.contains(g) => Ok((*prev).clone()),
                _ => analyze(journey, s, weights, rule).map(|a| GroupAnalysis {
                    group: g.clone(),
                    analysis: a,
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(all)
    }

    /// How many segment statistics this holds (what it weighs in memory).
    pub fn size(&self) -> usize {
        self.all.segments.len()
            + self
                .groups
                .values()
                .map(|g| g.segments.len())
                .sum::<usize>()
    }

    /// Adds another part's statistics, e.g. of another chunk of the same file.
    pub fn merge(&mut self, o: &GroupedStats) {
        self.all.merge(&o.all);
        for (key, s) in &o.groups {
            match self.groups.get_mut(key) {
                Some(mine) => mine.merge(s),
                None => {
                    self.groups.insert(key.clone(), s.clone());
                }
            }
        }
    }

    /// The analysis of everything, with one analysis per group when grouping.
    pub fn analyze(
        &self,
        journey: &Journey,
        weights: Option<&BTreeMap<String, f64>>,
        rule: PeakRule,
    ) -> Result<Analysis, AnalysisError> {
        let mut all = analyze(journey, &self.all, weights, rule)?;
        all.groups = self
            .groups
            .iter()
            .map(|(g, s)| {
                analyze(journey, s, weights, rule).map(|a| GroupAnalysis {
                    group: g.clone(),
                    analysis: a,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(all)
    }
}

#[cfg(test)]
mod grouping_tests {
    use super::*;
    use crate::id::HallId;

    #[test]
    fn peaks_differ_by_visit_purpose() {
        let j = crate::builtin::journeys().unwrap().remove(0);
        let halls = [HallId::parse("h1").unwrap()];
        let mut g = GroupedStats::new(&j, Some(GroupBy::Purpose), None);
        crate::synth::responses(&j, &halls, 6000, 4).for_each(|r| g.push(&r));
        let all = g.analyze(&j, None, PeakRule::Top(1)).unwrap();
        let groups = &all.groups;
        assert_eq!(all.respondents, 6000);
        assert_eq!(
            groups.iter().map(|x| x.analysis.respondents).sum::<u64>(),
            6000
        );
        let peak =
            |p: &str| groups.iter().find(|x| x.group == p).unwrap().analysis.peaks[0].clone();
        // Buying a phone peaks at the purchase; paying a bill at the counter result.
        assert_eq!(peak("购机"), "phone_purchase");
        assert_eq!(peak("缴费"), "result");
    }

    #[test]
    fn each_dimension_weighs_the_satisfaction_of_the_moments_tagged_with_it() {
        use crate::journey::Dimension;
        let j = crate::builtin::journeys().unwrap().remove(0);
        let halls = [HallId::parse("h1").unwrap()];
        let mut g = GroupedStats::new(&j, None, None);
        crate::synth::responses(&j, &halls, 3000, 7).for_each(|r| g.push(&r));
        let a = g.analyze(&j, None, PeakRule::default()).unwrap();
        assert_eq!(a.dimensions.len(), Dimension::ALL.len());
        for d in &a.dimensions {
            // By hand from the moments' results: Σ importance × satisfaction / Σ importance.
            let (mut num, mut den) = (0.0, 0.0);
            for m in &a.moments {
                let tagged = j
                    .moments()
                    .iter()
                    .any(|jm| jm.key.as_str() == m.key && jm.dimensions.contains(&d.dimension));
                if let (true, Some(i), Some(s)) = (tagged, m.importance, m.satisfaction) {
                    num += i * s;
                    den += i;
                }
            }
            let score = d
                .score
                .unwrap_or_else(|| panic!("{:?} has no score", d.dimension));
            assert!((score - num / den).abs() < 1e-9, "{:?}", d.dimension);
            assert!((1.0..=10.0).contains(&score));
        }
    }
}
