//! Experience and SERVQUAL dimensions: scores per dimension, the gap model and value
//! tiers (issue 23). Pure functions over per-moment numbers the analysis already
//! produces, so they do not depend on its internals; definitions in
//! `docs/journey-format.md` (the tags) and below.
//!
//! A dimension is scored from the moments tagged with it (the moment's own
//! `dimensions`): the survey rates satisfaction per moment, so the tags of needs and
//! standards serve the house of quality and the strategy page, not these scores.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::id::MomentKey;
use crate::journey::{Dimension, DimensionFamily, Journey};

/// What the survey says of one moment: the customers' importance and satisfaction
/// (any common scale, e.g. the 1–10 means of the analysis) and how many rated it.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentScore {
    pub moment: MomentKey,
    pub importance: f64,
    pub satisfaction: f64,
    pub n: u64,
}

/// Bad input to one of these functions, located by its path in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DimensionError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for DimensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn bad(path: String, message: String) -> DimensionError {
    DimensionError { path, message }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimensionScore {
    pub dimension: Dimension,
    pub family: DimensionFamily,
    /// Σ importance · satisfaction / Σ importance over the tagged moments rated;
    /// `None` when none was rated or their importances sum to 0.
    pub score: Option<f64>,
    /// Σ importance of the moments counted: how much the dimension weighs.
    pub importance: f64,
    /// Tagged moments counted (rated by at least one respondent).
    pub moments: usize,
    /// Ratings behind the score (Σ n).
    pub n: u64,
}

/// Checks the survey's moments against the journey and returns them by key, so a
/// moment is never counted twice nor one of another journey counted at all.
fn by_moment<'a>(
    journey: &Journey,
    scores: &'a [MomentScore],
    what: &str,
) -> Result<HashMap<&'a MomentKey, &'a MomentScore>, DimensionError> {
    let mut seen: HashMap<&MomentKey, usize> = HashMap::new();
    for (i, s) in scores.iter().enumerate() {
        let at = format!("{what}[{i}]");
        if journey.moment(&s.moment).is_none() {
            return Err(bad(
                format!("{at}.moment"),
                format!(
                    "moment `{}` is not in journey `{}`",
                    s.moment,
                    journey.key()
                ),
            ));
        }
        if let Some(first) = seen.insert(&s.moment, i) {
            return Err(bad(
                format!("{at}.moment"),
                format!("moment `{}` given twice (also {what}[{first}])", s.moment),
            ));
        }
        if !(s.importance.is_finite() && s.importance >= 0.0) {
            return Err(bad(
                format!("{at}.importance"),
                format!("{} is not a finite number ≥ 0", s.importance),
            ));
        }
        if !s.satisfaction.is_finite() {
            return Err(bad(
                format!("{at}.satisfaction"),
                format!("{} is not a finite number", s.satisfaction),
            ));
        }
    }
    Ok(scores
        .iter()
        .filter(|s| s.n > 0)
        .map(|s| (&s.moment, s))
        .collect())
}

/// Importance-weighted sums over the rated moments tagged with `d`.
struct Weighted {
    importance: f64,
    sums: Vec<f64>,
    moments: usize,
    n: u64,
}

fn weigh(
    journey: &Journey,
    rated: &HashMap<&MomentKey, &MomentScore>,
    d: Dimension,
    values: impl Fn(&MomentScore) -> Option<Vec<f64>>,
) -> Weighted {
    let mut w = Weighted {
        importance: 0.0,
        sums: Vec::new(),
        moments: 0,
        n: 0,
    };
    for m in journey
        .moments()
        .iter()
        .filter(|m| m.dimensions.contains(&d))
    {
        let Some(s) = rated.get(&m.key) else { continue };
        let Some(v) = values(s) else { continue };
        if w.sums.is_empty() {
            w.sums = vec![0.0; v.len()];
        }
        for (sum, x) in w.sums.iter_mut().zip(&v) {
            *sum += s.importance * x;
        }
        w.importance += s.importance;
        w.moments += 1;
        w.n += s.n;
    }
    w
}

impl Weighted {
    fn mean(&self, i: usize) -> Option<f64> {
        (self.importance > 0.0).then(|| self.sums[i] / self.importance)
    }
}

/// The score of every dimension (all eleven, experience first, so a radar chart has
/// every axis) from the satisfaction of the moments tagged with it.
pub fn dimension_scores(
    journey: &Journey,
    scores: &[MomentScore],
) -> Result<Vec<DimensionScore>, DimensionError> {
    let rated = by_moment(journey, scores, "scores")?;
    Ok(Dimension::ALL
        .into_iter()
        .map(|d| {
            let w = weigh(journey, &rated, d, |s| Some(vec![s.satisfaction]));
            DimensionScore {
                dimension: d,
                family: d.family(),
                score: w.mean(0),
                importance: w.importance,
                moments: w.moments,
                n: w.n,
            }
        })
        .collect())
}

/// Gap 5 of the gap model for one moment. The sign: `gap5` = expectation −
/// perception, positive when the service falls short. SERVQUAL (Parasuraman,
/// Zeithaml & Berry 1988) reports the other sign, Q = perception − expectation,
/// negative when it falls short: that is `servqual`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MomentGap {
    pub moment: MomentKey,
    pub expectation: f64,
    pub perception: f64,
    pub gap5: f64,
    pub servqual: f64,
}

/// Gap 5 of one dimension: importance-weighted means over the tagged moments that
/// carry an expectation (the same moments for both means, so `gap5` is their
/// difference).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimensionGap {
    pub dimension: Dimension,
    pub family: DimensionFamily,
    pub expectation: Option<f64>,
    pub perception: Option<f64>,
    pub gap5: Option<f64>,
    pub servqual: Option<f64>,
    pub importance: f64,
    pub moments: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap5 {
    /// In journey order; moments rated and with an expectation only.
    pub moments: Vec<MomentGap>,
    /// All eleven dimensions.
    pub dimensions: Vec<DimensionGap>,
}

/// Gap 5 per moment and dimension: `scores` carry the perception (satisfaction),
/// `expectations` the mean of the optional expectation items on the same scale.
pub fn gap5(
    journey: &Journey,
    scores: &[MomentScore],
    expectations: &[(MomentKey, f64)],
) -> Result<Gap5, DimensionError> {
    let rated = by_moment(journey, scores, "scores")?;
    let mut expected: HashMap<&MomentKey, f64> = HashMap::new();
    for (i, (m, e)) in expectations.iter().enumerate() {
        let at = format!("expectations[{i}]");
        if journey.moment(m).is_none() {
            return Err(bad(
                format!("{at}.moment"),
                format!("moment `{m}` is not in journey `{}`", journey.key()),
            ));
        }
        if !e.is_finite() {
            return Err(bad(
                format!("{at}.expectation"),
                format!("{e} is not a finite number"),
            ));
        }
        if expected.insert(m, *e).is_some() {
            return Err(bad(
                format!("{at}.moment"),
                format!("moment `{m}` given twice"),
            ));
        }
    }
    let moments = journey
        .moments()
        .iter()
        .filter_map(|m| {
            let (s, e) = (rated.get(&m.key)?, *expected.get(&m.key)?);
            Some(MomentGap {
                moment: m.key.clone(),
                expectation: e,
                perception: s.satisfaction,
                gap5: e - s.satisfaction,
                servqual: s.satisfaction - e,
            })
        })
        .collect();
    let dimensions = Dimension::ALL
        .into_iter()
        .map(|d| {
            let w = weigh(journey, &rated, d, |s| {
                expected.get(&s.moment).map(|e| vec![*e, s.satisfaction])
            });
            let (e, p) = (w.mean(0), w.mean(1));
            let gap = e.zip(p).map(|(e, p)| e - p);
            DimensionGap {
                dimension: d,
                family: d.family(),
                expectation: e,
                perception: p,
                gap5: gap,
                servqual: gap.map(|g| -g),
                importance: w.importance,
                moments: w.moments,
            }
        })
        .collect();
    Ok(Gap5 {
        moments,
        dimensions,
    })
}

/// Gap 1 of one moment: managers' estimate of its importance − the customers'
/// importance; positive when managers think it matters more than customers say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MomentGap1 {
    pub moment: MomentKey,
    pub managers: f64,
    pub customers: f64,
    pub gap1: f64,
}

/// Gap 1 per moment, in journey order, for moments both sides rated.
pub fn gap1(
    journey: &Journey,
    customers: &[MomentScore],
    managers: &[(MomentKey, f64)],
) -> Result<Vec<MomentGap1>, DimensionError> {
    let rated = by_moment(journey, customers, "customers")?;
    let mut estimate: HashMap<&MomentKey, f64> = HashMap::new();
    for (i, (m, v)) in managers.iter().enumerate() {
        let at = format!("managers[{i}]");
        if journey.moment(m).is_none() {
            return Err(bad(
                format!("{at}.moment"),
                format!("moment `{m}` is not in journey `{}`", journey.key()),
            ));
        }
        if !(v.is_finite() && *v >= 0.0) {
            return Err(bad(
                format!("{at}.importance"),
                format!("{v} is not a finite number ≥ 0"),
            ));
        }
        if estimate.insert(m, *v).is_some() {
            return Err(bad(
                format!("{at}.moment"),
                format!("moment `{m}` given twice"),
            ));
        }
    }
    Ok(journey
        .moments()
        .iter()
        .filter_map(|m| {
            let (c, e) = (rated.get(&m.key)?, *estimate.get(&m.key)?);
            Some(MomentGap1 {
                moment: m.key.clone(),
                managers: e,
                customers: c.importance,
                gap1: e - c.importance,
            })
        })
        .collect())
}

/// The course's value tiers by the share of fully satisfied customers (top box):
/// gold ≥ 75 %, silver ≥ 51 %, bronze ≥ 24 %, each boundary inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueTier {
    Gold,
    Silver,
    Bronze,
}

impl ValueTier {
    /// Thresholds in whole percent, best first.
    const PERCENT: [(ValueTier, u64); 3] = [
        (ValueTier::Gold, 75),
        (ValueTier::Silver, 51),
        (ValueTier::Bronze, 24),
    ];

    /// The tier of a share in 0–1; `None` below bronze or for a share that is not a number.
    pub fn of_share(share: f64) -> Option<ValueTier> {
        // p / 100.0 is correctly rounded, so it is the very double a share written
        // 0.51 or computed as 51/100 is: the boundary stays inclusive.
        ValueTier::PERCENT
            .into_iter()
            .find(|&(_, p)| share >= p as f64 / 100.0)
            .map(|(t, _)| t)
    }

    /// The tier of `satisfied` out of `n`, exactly (integers, no rounding at the
    /// boundaries); `None` when `n` is 0 or below bronze.
    pub fn of_counts(satisfied: u64, n: u64) -> Option<ValueTier> {
        if n == 0 {
            return None;
        }
        ValueTier::PERCENT
            .into_iter()
            .find(|&(_, p)| u128::from(satisfied) * 100 >= u128::from(p) * u128::from(n))
            .map(|(t, _)| t)
    }

    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            ValueTier::Gold => ("金牌", "Gold"),
            ValueTier::Silver => ("银牌", "Silver"),
            ValueTier::Bronze => ("铜牌", "Bronze"),
        }
    }
}

/// The top-box share of a hall with its 95 % Wilson interval and tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopBox {
    pub satisfied: u64,
    pub n: u64,
    pub share: f64,
    pub ci95: (f64, f64),
    pub tier: Option<ValueTier>,
}

/// The Wilson score interval for `successes` out of `n` at normal quantile `z`
/// (Wilson 1927; Newcombe 1998, method 3): unlike share ± z·se it stays within
/// 0–1 and is sound for the small counts of one hall. `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    Some((
        ((centre - half) / denom).max(0.0),
        ((centre + half) / denom).min(1.0),
    ))
}

/// The top box of `satisfied` fully satisfied customers out of `n` rated; `None`
/// when nobody was rated. The tier is decided on the counts, not the rounded share.
pub fn top_box(satisfied: u64, n: u64) -> Result<Option<TopBox>, DimensionError> {
    if satisfied > n {
        return Err(bad(
            "satisfied".into(),
            format!("{satisfied} fully satisfied is more than the {n} rated"),
        ));
    }
    Ok(wilson(satisfied, n, 1.96).map(|ci95| TopBox {
        satisfied,
        n,
        share: satisfied as f64 / n as f64,
        ci95,
        tier: ValueTier::of_counts(satisfied, n),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three moments: a (efficiency, responsiveness), b (efficiency, empathy,
    /// knowledge), c (trust, assurance); nothing tagged control, tangibles, ….
    fn journey() -> Journey {
        Journey::from_yaml(
            "key: t\nname: {zh: 测试, en: Test}\nchannel: face_to_face\nmoments:\n\
             - {key: a, name: {zh: 甲, en: A}, stage: people_flow, dimensions: [efficiency, responsiveness]}\n\
             - {key: b, name: {zh: 乙, en: B}, stage: customer_flow, dimensions: [efficiency, empathy, knowledge]}\n\
             - {key: c, name: {zh: 丙, en: C}, stage: business_flow, dimensions: [trust, assurance]}\n",
        )
        .unwrap()
    }

    fn key(k: &str) -> MomentKey {
        MomentKey::parse(k).unwrap()
    }

    fn score(k: &str, importance: f64, satisfaction: f64, n: u64) -> MomentScore {
        MomentScore {
            moment: key(k),
            importance,
            satisfaction,
            n,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn a_dimension_scores_the_importance_weighted_satisfaction_of_its_moments() {
        let scores = [
            score("a", 8.0, 6.0, 40),
            score("b", 9.0, 8.0, 50),
            score("c", 7.0, 9.0, 30),
        ];
        let out = dimension_scores(&journey(), &scores).unwrap();
        assert_eq!(out.len(), 11);
        let get = |d| out.iter().find(|s| s.dimension == d).unwrap();
        // efficiency: (8·6 + 9·8) / (8 + 9) = 120 / 17
        let eff = get(Dimension::Efficiency);
        close(eff.score.unwrap(), 120.0 / 17.0);
        close(eff.importance, 17.0);
        assert_eq!((eff.moments, eff.n), (2, 90));
        assert_eq!(eff.family, DimensionFamily::Experience);
        // one moment each: the score is that moment's satisfaction
        close(get(Dimension::Empathy).score.unwrap(), 8.0);
        close(get(Dimension::Trust).score.unwrap(), 9.0);
        assert_eq!(get(Dimension::Assurance).family, DimensionFamily::Servqual);
        let control = get(Dimension::Control);
        assert_eq!((control.score, control.moments, control.n), (None, 0, 0));
        assert_eq!(control.importance, 0.0);
    }

    #[test]
    fn unrated_moments_and_zero_weights_leave_no_score() {
        // b unrated: efficiency is a alone; c weighs nothing: trust has no score.
        let scores = [
            score("a", 8.0, 6.0, 40),
            score("b", 9.0, 2.0, 0),
            score("c", 0.0, 9.0, 30),
        ];
        let out = dimension_scores(&journey(), &scores).unwrap();
        let get = |d| out.iter().find(|s| s.dimension == d).unwrap();
        close(get(Dimension::Efficiency).score.unwrap(), 6.0);
        assert_eq!(get(Dimension::Efficiency).moments, 1);
        assert_eq!(get(Dimension::Knowledge).score, None);
        let trust = get(Dimension::Trust);
        assert_eq!((trust.score, trust.moments), (None, 1));
    }

    #[test]
    fn bad_input_is_named_by_path() {
        let j = journey();
        let err = |s: &[MomentScore]| dimension_scores(&j, s).unwrap_err().to_string();
        assert_eq!(
            err(&[score("a", 8.0, 6.0, 1), score("zz", 8.0, 6.0, 1)]),
            "scores[1].moment: moment `zz` is not in journey `t`"
        );
        assert_eq!(
            err(&[score("a", 8.0, 6.0, 1), score("a", 8.0, 6.0, 1)]),
            "scores[1].moment: moment `a` given twice (also scores[0])"
        );
        assert_eq!(
            err(&[score("a", -1.0, 6.0, 1)]),
            "scores[0].importance: -1 is not a finite number ≥ 0"
        );
        assert_eq!(
            err(&[score("a", 1.0, f64::NAN, 1)]),
            "scores[0].satisfaction: NaN is not a finite number"
        );
        let e = gap5(&j, &[], &[(key("a"), f64::INFINITY)]).unwrap_err();
        assert_eq!(e.path, "expectations[0].expectation");
        let e = gap1(&j, &[], &[(key("a"), 8.0), (key("a"), 7.0)]).unwrap_err();
        assert_eq!(e.to_string(), "managers[1].moment: moment `a` given twice");
        assert_eq!(
            top_box(11, 10).unwrap_err().to_string(),
            "satisfied: 11 fully satisfied is more than the 10 rated"
        );
    }

    #[test]
    fn gap5_is_expectation_minus_perception_and_servqual_the_reverse() {
        let scores = [
            score("a", 8.0, 6.0, 40),
            score("b", 9.0, 8.0, 50),
            score("c", 7.0, 9.0, 30),
        ];
        // No expectation for c: it is left out of the moments and of trust.
        let g = gap5(&journey(), &scores, &[(key("b"), 8.5), (key("a"), 9.0)]).unwrap();
        let keys: Vec<_> = g.moments.iter().map(|m| m.moment.as_str()).collect();
        assert_eq!(keys, ["a", "b"], "journey order");
        close(g.moments[0].gap5, 3.0);
        close(g.moments[0].servqual, -3.0);
        close(g.moments[1].gap5, 0.5);
        let get = |d| g.dimensions.iter().find(|x| x.dimension == d).unwrap();
        // efficiency: E = (8·9 + 9·8.5) / 17 = 148.5 / 17, P = 120 / 17, gap = 28.5 / 17
        let eff = get(Dimension::Efficiency);
        close(eff.expectation.unwrap(), 148.5 / 17.0);
        close(eff.perception.unwrap(), 120.0 / 17.0);
        close(eff.gap5.unwrap(), 28.5 / 17.0);
        close(eff.servqual.unwrap(), -28.5 / 17.0);
        assert_eq!(eff.moments, 2);
        close(get(Dimension::Responsiveness).gap5.unwrap(), 3.0);
        let trust = get(Dimension::Trust);
        assert_eq!((trust.gap5, trust.moments), (None, 0));
    }

    #[test]
    fn gap1_is_managers_minus_customers() {
        let customers = [score("a", 8.2, 6.0, 40), score("c", 9.1, 9.0, 30)];
        let managers = [(key("c"), 7.5), (key("b"), 9.0), (key("a"), 8.2)];
        let g = gap1(&journey(), &customers, &managers).unwrap();
        let keys: Vec<_> = g.iter().map(|m| m.moment.as_str()).collect();
        assert_eq!(keys, ["a", "c"], "b has no customer rating");
        close(g[0].gap1, 0.0);
        // managers underrate c: 7.5 − 9.1
        close(g[1].gap1, -1.6);
        assert_eq!((g[1].managers, g[1].customers), (7.5, 9.1));
    }

    #[test]
    fn tiers_are_inclusive_at_75_51_and_24_percent() {
        use ValueTier::*;
        // Out of 100 the thresholds are exact counts.
        for (satisfied, tier) in [
            (100, Some(Gold)),
            (76, Some(Gold)),
            (75, Some(Gold)),
            (74, Some(Silver)),
            (52, Some(Silver)),
            (51, Some(Silver)),
            (50, Some(Bronze)),
            (25, Some(Bronze)),
            (24, Some(Bronze)),
            (23, None),
            (0, None),
        ] {
            assert_eq!(
                ValueTier::of_counts(satisfied, 100),
                tier,
                "{satisfied}/100"
            );
            assert_eq!(
                ValueTier::of_share(satisfied as f64 / 100.0),
                tier,
                "{satisfied} %"
            );
        }
        // 3/4 is exactly 75 %; 38/51 is 74.5 %, 26/51 is 50.98 %, 6/25 is exactly 24 %.
        assert_eq!(ValueTier::of_counts(3, 4), Some(Gold));
        assert_eq!(ValueTier::of_counts(38, 51), Some(Silver));
        assert_eq!(ValueTier::of_counts(26, 51), Some(Bronze));
        assert_eq!(ValueTier::of_counts(6, 25), Some(Bronze));
        assert_eq!(ValueTier::of_counts(2399, 10_000), None);
        assert_eq!(ValueTier::of_counts(0, 0), None);
        assert_eq!(ValueTier::of_share(0.7499999), Some(Silver));
        assert_eq!(ValueTier::of_share(0.5099999), Some(Bronze));
        assert_eq!(ValueTier::of_share(0.2399999), None);
        assert_eq!(ValueTier::of_share(f64::NAN), None);
        // No overflow at the extremes.
        assert_eq!(ValueTier::of_counts(u64::MAX, u64::MAX), Some(Gold));
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion:
    /// comparison of seven methods", Statistics in Medicine 17:857–872, table II,
    /// method 3 (Wilson score, no continuity correction), to four decimals.
    #[test]
    fn wilson_matches_newcombes_table() {
        for (r, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let (l, h) = wilson(r, n, 1.96).unwrap();
            assert!(
                (l - lo).abs() < 5e-5 && (h - hi).abs() < 5e-5,
                "{r}/{n}: {l} {h}"
            );
        }
        assert_eq!(wilson(0, 0, 1.96), None);
        let (l, h) = wilson(20, 20, 1.96).unwrap();
        assert!(
            (h - 1.0).abs() < 1e-12 && (l - (1.0 - 0.1611)).abs() < 5e-5,
            "mirror of 0/20"
        );
    }

    #[test]
    fn top_box_carries_share_interval_and_tier() {
        let t = top_box(81, 263).unwrap().unwrap();
        close(t.share, 81.0 / 263.0);
        assert_eq!(t.tier, Some(ValueTier::Bronze));
        assert!((t.ci95.0 - 0.2553).abs() < 5e-5);
        assert_eq!(top_box(0, 0).unwrap(), None);
    }
}
