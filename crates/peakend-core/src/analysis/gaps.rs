//! The gap model in the analysis (issue 23): gap 5 from the survey's optional
//! expectation items, and gap 1 from the importance that hall and regional managers
//! estimate per moment against what customers say. The arithmetic is
//! [`crate::dimensions::gap5`] and [`crate::dimensions::gap1`]; this module feeds them
//! the segment-weighted figures of the analysis and checks the managers' estimates.
//! Definitions and signs: docs/methods.md.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::engine::{Analysis, MomentResult, SegmentStats};
use super::stats::{RunningStats, Stratified, stratified_mean};
use crate::access::Role;
use crate::dimensions::{DimensionError, DimensionGap, MomentScore};
use crate::id::{MomentKey, OrgNodeId};
use crate::journey::Journey;

/// Gap 5 of one moment, from the respondents who gave both its expectation item and
/// its satisfaction (segment-weighted like every mean of the analysis).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapMoment {
    pub moment: MomentKey,
    pub expectation: f64,
    /// Satisfaction of the same respondents (not the moment's satisfaction of all).
    pub perception: f64,
    /// expectation − perception: positive when the service falls short.
    pub gap5: f64,
    /// perception − expectation, SERVQUAL's sign.
    pub servqual: f64,
    /// gap5 ± 1.96 stratified standard errors of the paired differences.
    pub gap5_ci95: (f64, f64),
    /// Respondents behind the figures.
    pub n: u64,
    /// Expectations given without a satisfaction, left out.
    pub unpaired: u64,
}

/// The `gaps` section of the analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gaps {
    /// Respondents who gave at least one expectation item.
    pub respondents: u64,
    /// In journey order, the moments with at least one paired answer.
    pub moments: Vec<GapMoment>,
    /// All eleven dimensions: importance-weighted (customers' importance) means of
    /// expectation and perception over the tagged moments in `moments`.
    pub dimensions: Vec<DimensionGap>,
}

/// The gaps of merged statistics, `None` when nobody gave an expectation item with a
/// satisfaction of the same moment.
pub(crate) fn gaps_of(
    journey: &Journey,
    segs: &[(f64, &SegmentStats)],
    moments: &[MomentResult],
) -> Option<Gaps> {
    let with: Vec<(f64, &super::engine::ExpectationStats)> = segs
        .iter()
        .filter_map(|(w, s)| s.expectations.as_deref().map(|e| (*w, e)))
        .collect();
    if with.is_empty() {
        return None;
    }
    let by = |f: &dyn Fn(&super::engine::ExpectationStats) -> RunningStats| -> Option<Stratified> {
        // Segments without expectation items at all have no data here and drop out
        // of the renormalised weights, exactly as a segment that skipped a question.
        stratified_mean(&with.iter().map(|(w, e)| (*w, f(e))).collect::<Vec<_>>())
    };
    let mut scores = Vec::new();
    let mut expected = Vec::new();
    let mut extra: HashMap<MomentKey, (Stratified, u64)> = HashMap::new();
    for (j, (m, result)) in journey.moments().iter().zip(moments).enumerate() {
        let (Some(e), Some(p), Some(d)) = (
            by(&|x| x.expectation[j]),
            by(&|x| x.perception[j]),
            by(&|x| x.gap[j]),
        ) else {
            continue;
        };
        let unpaired: u64 = with.iter().map(|(_, x)| x.unpaired[j]).sum();
        scores.push(MomentScore {
            moment: m.key.clone(),
            // The customers' importance weighs the moment within a dimension; a moment
            // nobody rated the importance of weighs nothing there.
            importance: result.importance.unwrap_or(0.0),
            satisfaction: p.mean,
            n: p.n,
        });
        expected.push((m.key.clone(), e.mean));
        extra.insert(m.key.clone(), (d, unpaired));
    }
    if scores.is_empty() {
        return None;
    }
    // The moments are the journey's own, each once, with finite means: nothing for
    // the checks to refuse.
    let g = crate::dimensions::gap5(journey, &scores, &expected).ok()?;
    let moments = g
        .moments
        .into_iter()
        .filter_map(|m| {
            let (d, unpaired) = extra.get(&m.moment)?;
            let half = 1.96 * d.se;
            Some(GapMoment {
                gap5_ci95: (m.gap5 - half, m.gap5 + half),
                n: d.n,
                unpaired: *unpaired,
                moment: m.moment,
                expectation: m.expectation,
                perception: m.perception,
                gap5: m.gap5,
                servqual: m.servqual,
            })
        })
        .collect();
    Some(Gaps {
        respondents: with.iter().map(|(_, e)| e.respondents).sum(),
        moments,
        dimensions: g.dimensions,
    })
}

/// A moment's competitive assessment: the segment-weighted satisfaction with our
/// service and with a competitor's, of the respondents who rated both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompetitiveMoment {
    pub moment: MomentKey,
    pub ours: f64,
    pub competitor: f64,
    pub n: u64,
}

/// The competitive assessment of merged statistics, `None` when nobody rated a
/// competitor together with our satisfaction of the same moment.
pub(crate) fn competitive_of(
    journey: &Journey,
    segs: &[(f64, &SegmentStats)],
) -> Option<Vec<CompetitiveMoment>> {
    let with: Vec<(f64, &super::engine::ExpectationStats)> = segs
        .iter()
        .filter_map(|(w, s)| s.competitors.as_deref().map(|c| (*w, c)))
        .collect();
    let by = |f: &dyn Fn(&super::engine::ExpectationStats) -> RunningStats| {
        stratified_mean(&with.iter().map(|(w, c)| (*w, f(c))).collect::<Vec<_>>())
    };
    let out: Vec<CompetitiveMoment> = journey
        .moments()
        .iter()
        .enumerate()
        .filter_map(|(j, m)| {
            let theirs = by(&|x| x.expectation[j])?;
            let ours = by(&|x| x.perception[j])?;
            Some(CompetitiveMoment {
                moment: m.key.clone(),
                ours: ours.mean,
                competitor: theirs.mean,
                n: ours.n,
            })
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// One manager's estimate of how important customers find a moment, 1–10 (the scale
/// of the survey's importance question).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportanceEstimate {
    pub moment: MomentKey,
    pub importance: f64,
}

/// The estimates one manager (hall or regional) gave for one org node, checked
/// against the journey: every moment known and given once, every value 1–10.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EstimateBatch {
    pub org: OrgNodeId,
    pub role: Role,
    pub estimates: Vec<ImportanceEstimate>,
}

/// The JSON of an [`EstimateBatch`] before it is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchForm {
    org: String,
    role: String,
    estimates: Vec<EstimateForm>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EstimateForm {
    moment: String,
    importance: f64,
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> DimensionError {
    DimensionError {
        path: path.into(),
        message: message.into(),
    }
}

/// The roles that estimate importance for gap 1.
pub const ESTIMATING_ROLES: [Role; 2] = [Role::HallManager, Role::RegionalManager];

impl EstimateBatch {
    /// Parses and checks a batch:
    /// `{"org": "h1", "role": "hall_manager", "estimates": [{"moment": "queue", "importance": 8.5}]}`.
    /// Every problem is returned, each named by its field path (`estimates[2].importance`).
    pub fn from_json(body: &[u8], journey: &Journey) -> Result<EstimateBatch, Vec<DimensionError>> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let form: BatchForm = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = match e.path().to_string() {
                p if p == "." => "(body)".to_owned(),
                p => p,
            };
            vec![problem(path, e.inner().to_string())]
        })?;
        let mut problems = Vec::new();
        let org = OrgNodeId::parse(form.org.trim())
            .map_err(|e| problems.push(problem("org", e.to_string())))
            .ok();
        let role = match form.role.trim() {
            "hall_manager" => Some(Role::HallManager),
            "regional_manager" => Some(Role::RegionalManager),
            other => {
                problems.push(problem(
                    "role",
                    format!(
                        "`{other}` does not estimate importance (hall_manager or regional_manager)"
                    ),
                ));
                None
            }
        };
        let mut estimates = Vec::with_capacity(form.estimates.len());
        for (i, e) in form.estimates.iter().enumerate() {
            match MomentKey::parse(e.moment.trim()) {
                Ok(moment) => estimates.push(ImportanceEstimate {
                    moment,
                    importance: e.importance,
                }),
                Err(err) => {
                    problems.push(problem(format!("estimates[{i}].moment"), err.to_string()))
                }
            }
        }
        match (org, role) {
            (Some(org), Some(role)) if problems.is_empty() => {
                let batch = EstimateBatch {
                    org,
                    role,
                    estimates,
                };
                batch.check(journey)?;
                Ok(batch)
            }
            _ => {
                // The moments that did parse are still checked, so one answer lists all.
                let partial = check_estimates(&estimates, journey, "estimates");
                problems.extend(partial);
                Err(problems)
            }
        }
    }

    /// Checks a batch built in code (or read back from storage) against the journey.
    pub fn check(&self, journey: &Journey) -> Result<(), Vec<DimensionError>> {
        let mut problems = Vec::new();
        if !ESTIMATING_ROLES.contains(&self.role) {
            problems.push(problem(
                "role",
                format!(
                    "{:?} does not estimate importance (hall_manager or regional_manager)",
                    self.role
                ),
            ));
        }
        problems.extend(check_estimates(&self.estimates, journey, "estimates"));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn check_estimates(
    estimates: &[ImportanceEstimate],
    journey: &Journey,
    at: &str,
) -> Vec<DimensionError> {
    let mut problems = Vec::new();
    if estimates.is_empty() {
        problems.push(problem(at, "no estimate given"));
    }
    let mut seen: HashMap<&MomentKey, usize> = HashMap::new();
    for (i, e) in estimates.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if journey.moment(&e.moment).is_none() {
            problems.push(problem(
                format!("{here}.moment"),
                format!(
                    "moment `{}` is not in journey `{}`",
                    e.moment,
                    journey.key()
                ),
            ));
        } else if let Some(first) = seen.insert(&e.moment, i) {
            problems.push(problem(
                format!("{here}.moment"),
                format!("moment `{}` given twice (also {at}[{first}])", e.moment),
            ));
        }
        if !(e.importance.is_finite() && (1.0..=10.0).contains(&e.importance)) {
            problems.push(problem(
                format!("{here}.importance"),
                format!("{} is outside 1–10", e.importance),
            ));
        }
    }
    problems
}

/// Gap 1 of one moment: the managers' mean estimate against the customers' importance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagerGap1 {
    pub moment: MomentKey,
    /// Mean of the managers' estimates of the moment.
    pub managers: f64,
    /// The customers' segment-weighted importance (the analysis's).
    pub customers: f64,
    /// managers − customers: positive when managers think it matters more.
    pub gap1: f64,
    /// Managers' estimates behind `managers`.
    pub estimates: u64,
}

/// Gap 1 of the managers of one role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleGap1 {
    pub role: Role,
    pub batches: usize,
    pub moments: Vec<ManagerGap1>,
}

/// Gap 1 of all managers' estimates together and per role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap1Report {
    pub journey: String,
    pub batches: usize,
    /// In journey order, the moments both customers and managers rated.
    pub moments: Vec<ManagerGap1>,
    /// Hall managers first, then regional managers; a role without a batch is left out.
    pub by_role: Vec<RoleGap1>,
}

/// Gap 1 per moment: each moment's estimates averaged over the batches that give one
/// (every manager counts once), against the customers' importance in `analysis` (of
/// the same journey, and of the org node and period the managers answer for — the
/// caller's choice). Batches are checked again; a bad one is refused with its index.
pub fn gap1_of(
    journey: &Journey,
    analysis: &Analysis,
    batches: &[EstimateBatch],
) -> Result<Gap1Report, DimensionError> {
    if analysis.journey != journey.key().as_str() {
        return Err(problem(
            "analysis.journey",
            format!(
                "the analysis is of journey `{}`, not `{}`",
                analysis.journey,
                journey.key()
            ),
        ));
    }
    for (i, b) in batches.iter().enumerate() {
        if let Err(mut problems) = b.check(journey) {
            let first = problems.remove(0);
            return Err(problem(
                format!("batches[{i}].{}", first.path),
                first.message,
            ));
        }
    }
    let customers: Vec<MomentScore> = journey
        .moments()
        .iter()
        .zip(&analysis.moments)
        .filter_map(|(m, r)| {
            Some(MomentScore {
                moment: m.key.clone(),
                importance: r.importance?,
                // Gap 1 reads only the importance; the satisfaction is carried along.
                satisfaction: r.satisfaction.unwrap_or(0.0),
                // A moment whose importance was rated counts even if its satisfaction
                // was not (n counts satisfaction raters).
                n: r.n.max(1),
            })
        })
        .collect();
    let of = |chosen: &[&EstimateBatch]| -> Result<Vec<ManagerGap1>, DimensionError> {
        let mut sums: BTreeMap<&MomentKey, (f64, u64)> = BTreeMap::new();
        for b in chosen {
            for e in &b.estimates {
                let s = sums.entry(&e.moment).or_default();
                s.0 += e.importance;
                s.1 += 1;
            }
        }
        let managers: Vec<(MomentKey, f64)> = sums
            .iter()
            .map(|(m, (sum, n))| ((*m).clone(), sum / *n as f64))
            .collect();
        let gaps = crate::dimensions::gap1(journey, &customers, &managers)?;
        Ok(gaps
            .into_iter()
            .map(|g| ManagerGap1 {
                estimates: sums.get(&g.moment).map_or(0, |s| s.1),
                moment: g.moment,
                managers: g.managers,
                customers: g.customers,
                gap1: g.gap1,
            })
            .collect())
    };
    let all: Vec<&EstimateBatch> = batches.iter().collect();
    let mut by_role = Vec::new();
    for role in ESTIMATING_ROLES {
        let chosen: Vec<&EstimateBatch> = batches.iter().filter(|b| b.role == role).collect();
        if !chosen.is_empty() {
            by_role.push(RoleGap1 {
                role,
                batches: chosen.len(),
                moments: of(&chosen)?,
            });
        }
    }
    Ok(Gap1Report {
        journey: journey.key().to_string(),
        batches: batches.len(),
        moments: of(&all)?,
        by_role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{SurveyStats, analyze};
    use crate::id::HallId;
    use crate::journey::Dimension;
    use crate::peak::PeakRule;
    use crate::survey::{Rating, Response};

    /// a (efficiency, responsiveness), b (efficiency, empathy, knowledge),
    /// c (trust, assurance), as in the dimensions' own tests.
    fn journey() -> Journey {
        Journey::from_yaml(
            "key: t\nname: {zh: 测试, en: Test}\nchannel: face_to_face\nmoments:\n\
             - {key: a, name: {zh: 甲, en: A}, stage: people_flow, dimensions: [efficiency, responsiveness]}\n\
             - {key: b, name: {zh: 乙, en: B}, stage: customer_flow, dimensions: [efficiency, empathy, knowledge]}\n\
             - {key: c, name: {zh: 丙, en: C}, stage: business_flow, dimensions: [trust, assurance]}\n",
        )
        .unwrap()
    }

    type Cell = (f64, Option<f64>, Option<f64>);

    fn response(i: usize, segment: &str, cells: [Cell; 3]) -> Response {
        Response {
            respondent: format!("r{i}"),
            hall: HallId::parse("h1").unwrap(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
            segment: segment.into(),
            purpose: None,
            overall: Some(8.0),
            nps: None,
            tolerable_wait_min: None,
            ratings: cells
                .iter()
                .map(|&(i, s, e)| Rating {
                    importance: Some(i),
                    satisfaction: s,
                    expectation: e,
                    competitor: None,
                })
                .collect(),
            needs: Vec::new(),
            contact: None,
            comment: None,
            customer: None,
            short_form: false,
        }
    }

    /// (importance, satisfaction, expectation) of a, b, c:
    ///
    /// | respondent | segment | a          | b           | c          |
    /// |------------|---------|------------|-------------|------------|
    /// | r1         | gold    | 9, 6, e 9  | 8, 7, e 8   | 7, 9, —    |
    /// | r2         | gold    | 7, 8, e 8  | 6, 5, —     | 9, 8, e 9  |
    /// | r3         | basic   | 8, 7, e 7  | 10, 6, e 9  | 8, —, e 8  |
    /// | r4         | basic   | 8, 5, —    | 8, 8, —     | 6, 7, —    |
    fn four() -> SurveyStats {
        let mut s = SurveyStats::new(&journey());
        four_rows().iter().for_each(|r| s.push(r));
        s
    }

    fn four_rows() -> [Response; 4] {
        let some = Some;
        [
            response(
                1,
                "gold",
                [
                    (9., some(6.), some(9.)),
                    (8., some(7.), some(8.)),
                    (7., some(9.), None),
                ],
            ),
            response(
                2,
                "gold",
                [
                    (7., some(8.), some(8.)),
                    (6., some(5.), None),
                    (9., some(8.), some(9.)),
                ],
            ),
            response(
                3,
                "basic",
                [
                    (8., some(7.), some(7.)),
                    (10., some(6.), some(9.)),
                    (8., None, some(8.)),
                ],
            ),
            response(
                4,
                "basic",
                [
                    (8., some(5.), None),
                    (8., some(8.), None),
                    (6., some(7.), None),
                ],
            ),
        ]
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    /// The same answers with the expectation items asked as competitor ratings
    /// instead: the competitive assessment pairs them with our satisfaction exactly as
    /// gap 5 does, so its figures are gap 5's by hand (competitor = E, ours = P).
    #[test]
    fn the_competitive_assessment_pairs_like_gap_five() {
        let j = journey();
        let mut s = SurveyStats::new(&j);
        for r in four_rows() {
            let mut r = r;
            for x in &mut r.ratings {
                x.competitor = x.expectation.take();
            }
            s.push(&r);
        }
        let w = BTreeMap::from([("gold".to_string(), 1.0), ("basic".to_string(), 3.0)]);
        let a = analyze(&j, &s, Some(&w), PeakRule::default()).unwrap();
        assert!(a.gaps.is_none(), "no expectation items now");
        let c = a.competitive.as_ref().expect("competitors were rated");
        let keys: Vec<&str> = c.iter().map(|m| m.moment.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        close(c[0].competitor, 7.375);
        close(c[0].ours, 7.0);
        assert_eq!(c[0].n, 3);
        close(c[1].competitor, 8.75);
        close(c[1].ours, 6.25);
        close(c[2].competitor, 9.0);
        close(c[2].ours, 8.0);
        // Nobody rated a competitor: no section.
        let plain = analyze(&j, &four(), Some(&w), PeakRule::default()).unwrap();
        assert!(plain.competitive.is_none());
    }

    /// Weights gold 1 : basic 3, i.e. 0.25 and 0.75. By hand:
    ///
    /// - a: pairs gold (9, 6), (8, 8) → E 8.5, P 7; basic (7, 7) → E 7, P 7.
    ///   E = 0.25·8.5 + 0.75·7 = 7.375, P = 0.25·7 + 0.75·7 = 7, gap 5 = 0.375, n 3.
    ///   (The moment's satisfaction of all, 0.25·7 + 0.75·6 = 6.25, would have given
    ///   1.125: r4 was not asked, so r4's 5 must not count.)
    ///   Differences gold 3, 0 (mean 1.5, variance 4.5, n 2), basic 0 (n 1, no
    ///   variance): se = √(0.25² · 4.5 / 2) = 0.375, interval 0.375 ± 0.735.
    /// - b: gold (8, 7), basic (9, 6): E = 2 + 6.75 = 8.75, P = 1.75 + 4.5 = 6.25,
    ///   gap 5 = 2.5, n 2.
    /// - c: gold (9, 8); basic's only expectation (r3) has no satisfaction, so basic
    ///   has no pair and gold's weight is renormalised to 1: E 9, P 8, gap 5 = 1,
    ///   n 1, 1 unpaired.
    /// - Customers' importance (all four): a 0.25·8 + 0.75·8 = 8, b 0.25·7 + 0.75·9
    ///   = 8.5, c 0.25·8 + 0.75·7 = 7.25.
    /// - efficiency (a, b): E = (8·7.375 + 8.5·8.75) / 16.5 = 133.375 / 16.5,
    ///   P = (8·7 + 8.5·6.25) / 16.5 = 109.125 / 16.5, gap 5 = 24.25 / 16.5 ≈ 1.4697.
    ///   responsiveness = a: 0.375; empathy, knowledge = b: 2.5; trust, assurance =
    ///   c: 1; the others have no tagged moment.
    #[test]
    fn gap5_by_hand_with_two_weighted_segments() {
        let j = journey();
        let w = BTreeMap::from([("gold".to_string(), 1.0), ("basic".to_string(), 3.0)]);
        let a = analyze(&j, &four(), Some(&w), PeakRule::default()).unwrap();
        let g = a.gaps.as_ref().expect("expectations were given");
        assert_eq!(g.respondents, 3);
        let keys: Vec<&str> = g.moments.iter().map(|m| m.moment.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        let (ma, mb, mc) = (&g.moments[0], &g.moments[1], &g.moments[2]);
        close(ma.expectation, 7.375);
        close(ma.perception, 7.0);
        close(ma.gap5, 0.375);
        close(ma.servqual, -0.375);
        assert_eq!((ma.n, ma.unpaired), (3, 0));
        close(a.moments[0].satisfaction.unwrap(), 6.25);
        close(ma.gap5_ci95.0, 0.375 - 1.96 * 0.375);
        close(ma.gap5_ci95.1, 0.375 + 1.96 * 0.375);
        close(mb.expectation, 8.75);
        close(mb.perception, 6.25);
        close(mb.gap5, 2.5);
        assert_eq!(mb.n, 2);
        close(mc.expectation, 9.0);
        close(mc.perception, 8.0);
        close(mc.gap5, 1.0);
        assert_eq!((mc.n, mc.unpaired), (1, 1));
        // One pair: no spread, a zero-width interval.
        assert_eq!(mc.gap5_ci95, (1.0, 1.0));

        let dim = |d| g.dimensions.iter().find(|x| x.dimension == d).unwrap();
        let eff = dim(Dimension::Efficiency);
        close(eff.expectation.unwrap(), 133.375 / 16.5);
        close(eff.perception.unwrap(), 109.125 / 16.5);
        close(eff.gap5.unwrap(), 24.25 / 16.5);
        close(eff.importance, 16.5);
        assert_eq!(eff.moments, 2);
        close(dim(Dimension::Responsiveness).gap5.unwrap(), 0.375);
        close(dim(Dimension::Empathy).gap5.unwrap(), 2.5);
        close(dim(Dimension::Knowledge).gap5.unwrap(), 2.5);
        close(dim(Dimension::Trust).gap5.unwrap(), 1.0);
        close(dim(Dimension::Assurance).servqual.unwrap(), -1.0);
        assert_eq!(dim(Dimension::Tangibles).gap5, None);
        assert_eq!(g.dimensions.len(), Dimension::ALL.len());

        // The JSON the analysis page reads.
        let json = serde_json::to_value(&a).unwrap();
        let m = &json["gaps"]["moments"][0];
        assert_eq!(m["moment"], "a");
        assert_eq!(m["gap5"], 0.375);
        assert_eq!(m["n"], 3);
        assert!(m["gap5_ci95"].as_array().unwrap().len() == 2);
        assert_eq!(json["gaps"]["dimensions"][0]["dimension"], "efficiency");
    }

    #[test]
    fn no_expectation_no_gaps_section() {
        let j = journey();
        let mut s = SurveyStats::new(&j);
        let r = response(
            1,
            "gold",
            [
                (9., Some(6.), None),
                (8., Some(7.), None),
                (7., Some(9.), None),
            ],
        );
        s.push(&r);
        let a = analyze(&j, &s, None, PeakRule::default()).unwrap();
        assert!(a.gaps.is_none());
        assert!(serde_json::to_value(&a).unwrap().get("gaps").is_none());
        // An expectation never paired with a satisfaction makes no gap either.
        let only = response(
            2,
            "gold",
            [(9., None, Some(8.)), (8., None, None), (7., None, None)],
        );
        s.push(&only);
        let a = analyze(&j, &s, None, PeakRule::default()).unwrap();
        assert!(a.gaps.is_none());
    }

    /// The published SERVQUAL procedure (step 2 of the instructions cited in
    /// docs/methods.md): a dimension's gap is the average of its items' gap scores.
    /// With equal importances the importance weighting is that plain average.
    #[test]
    fn equal_importances_give_servquals_average_of_item_gaps() {
        let j = Journey::from_yaml(
            "key: t\nname: {zh: 测试, en: Test}\nchannel: face_to_face\nmoments:\n\
             - {key: t1, name: {zh: 一, en: T1}, stage: people_flow, dimensions: [tangibles]}\n\
             - {key: t2, name: {zh: 二, en: T2}, stage: people_flow, dimensions: [tangibles]}\n\
             - {key: t3, name: {zh: 三, en: T3}, stage: people_flow, dimensions: [tangibles]}\n\
             - {key: t4, name: {zh: 四, en: T4}, stage: people_flow, dimensions: [tangibles]}\n",
        )
        .unwrap();
        // Item means on a 7-point scale: E 6.2, 6.0, 6.5, 5.9; P 5.4, 5.6, 5.8, 5.2.
        let (e, p) = ([6.2, 6.0, 6.5, 5.9], [5.4, 5.6, 5.8, 5.2]);
        let scores: Vec<MomentScore> = j
            .moments()
            .iter()
            .zip(p)
            .map(|(m, p)| MomentScore {
                moment: m.key.clone(),
                importance: 1.0,
                satisfaction: p,
                n: 100,
            })
            .collect();
        let expected: Vec<(MomentKey, f64)> = j
            .moments()
            .iter()
            .zip(e)
            .map(|(m, e)| (m.key.clone(), e))
            .collect();
        let g = crate::dimensions::gap5(&j, &scores, &expected).unwrap();
        // Item gaps P − E: −0.8, −0.4, −0.7, −0.7; their average −2.6 / 4 = −0.65.
        let t = g
            .dimensions
            .iter()
            .find(|d| d.dimension == Dimension::Tangibles)
            .unwrap();
        close(t.servqual.unwrap(), -0.65);
        close(t.gap5.unwrap(), 0.65);
    }

    fn batch(org: &str, role: Role, estimates: &[(&str, f64)]) -> EstimateBatch {
        EstimateBatch {
            org: OrgNodeId::parse(org).unwrap(),
            role,
            estimates: estimates
                .iter()
                .map(|&(m, x)| ImportanceEstimate {
                    moment: MomentKey::parse(m).unwrap(),
                    importance: x,
                })
                .collect(),
        }
    }

    #[test]
    fn estimates_parse_and_every_problem_is_named() {
        let j = journey();
        let ok = EstimateBatch::from_json(
            br#"{"org": "h1", "role": "hall_manager", "estimates": [{"moment": "b", "importance": 9}, {"moment": "a", "importance": 7.5}]}"#,
            &j,
        )
        .unwrap();
        assert_eq!(
            ok,
            batch("h1", Role::HallManager, &[("b", 9.0), ("a", 7.5)])
        );
        let shown = |body: &str| -> Vec<String> {
            EstimateBatch::from_json(body.as_bytes(), &j)
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            shown(
                r#"{"org": "h1", "role": "hall_manager", "estimates": [
                {"moment": "a", "importance": 11}, {"moment": "zz", "importance": 5},
                {"moment": "a", "importance": 6}, {"moment": "c", "importance": 0.5}]}"#
            ),
            [
                "estimates[0].importance: 11 is outside 1–10",
                "estimates[1].moment: moment `zz` is not in journey `t`",
                "estimates[2].moment: moment `a` given twice (also estimates[0])",
                "estimates[3].importance: 0.5 is outside 1–10",
            ]
        );
        assert_eq!(
            shown(
                r#"{"org": "h 1", "role": "frontline", "estimates": [{"moment": "a", "importance": 12}]}"#
            ),
            [
                "org: org node id `h 1` is invalid: may only contain A-Z, a-z, 0-9, `_`, `-` and `.`",
                "role: `frontline` does not estimate importance (hall_manager or regional_manager)",
                "estimates[0].importance: 12 is outside 1–10",
            ]
        );
        assert_eq!(
            shown(r#"{"org": "h1", "role": "regional_manager", "estimates": []}"#),
            ["estimates: no estimate given"]
        );
        let e = shown(
            r#"{"org": "h1", "role": "hall_manager", "estimates": [{"moment": "a", "importance": "high"}]}"#,
        );
        assert!(e[0].starts_with("estimates[0].importance: "), "{e:?}");
        let e = shown(r#"{"org": "h1", "role": "hall_manager", "estimates": [], "colour": 1}"#);
        assert!(e[0].contains("unknown field `colour`"), "{e:?}");
        let bad_role = batch("h1", Role::Director, &[("a", 5.0)]);
        assert_eq!(bad_role.check(&j).unwrap_err()[0].path, "role");
    }

    /// Customers' importance with weights gold 1 : basic 3: a 8, b 8.5, c 7.25 (see
    /// above). Hall managers: h1 says a 9, b 7; h2 says a 8. Regional: a 6, c 9.
    /// All five batches of estimates together: a (9 + 8 + 6) / 3 = 23/3, b 7, c 9.
    #[test]
    fn gap1_averages_the_managers_per_moment_and_role() {
        let j = journey();
        let w = BTreeMap::from([("gold".to_string(), 1.0), ("basic".to_string(), 3.0)]);
        let a = analyze(&j, &four(), Some(&w), PeakRule::default()).unwrap();
        let batches = [
            batch("h1", Role::HallManager, &[("a", 9.0), ("b", 7.0)]),
            batch("h2", Role::HallManager, &[("a", 8.0)]),
            batch("city", Role::RegionalManager, &[("a", 6.0), ("c", 9.0)]),
        ];
        let g = gap1_of(&j, &a, &batches).unwrap();
        assert_eq!(g.batches, 3);
        let keys: Vec<&str> = g.moments.iter().map(|m| m.moment.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        close(g.moments[0].managers, 23.0 / 3.0);
        close(g.moments[0].customers, 8.0);
        close(g.moments[0].gap1, 23.0 / 3.0 - 8.0);
        assert_eq!(g.moments[0].estimates, 3);
        // Managers underrate b (7 against 8.5) and overrate c (9 against 7.25).
        close(g.moments[1].gap1, -1.5);
        close(g.moments[2].gap1, 1.75);
        assert_eq!(g.by_role.len(), 2);
        assert_eq!(
            (g.by_role[0].role, g.by_role[0].batches),
            (Role::HallManager, 2)
        );
        close(g.by_role[0].moments[0].managers, 8.5);
        close(g.by_role[0].moments[0].gap1, 0.5);
        assert_eq!(g.by_role[1].role, Role::RegionalManager);
        close(g.by_role[1].moments[0].gap1, -2.0);

        let bad = [batch("h1", Role::HallManager, &[("a", 0.0)])];
        let e = gap1_of(&j, &a, &bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "batches[0].estimates[0].importance: 0 is outside 1–10"
        );
        let other = crate::builtin::journeys().unwrap().remove(0);
        assert_eq!(
            gap1_of(&other, &a, &[]).unwrap_err().path,
            "analysis.journey"
        );
    }
}
