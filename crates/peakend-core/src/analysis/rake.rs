//! Raking (iterative proportional fitting, issue 22): respondents' weights adjusted so
//! that the weighted respondents match the population of visits on each margin
//! (segment, visit purpose, …) at once, and the design effect the weights cost. Pure;
//! `analyze --from-db --rake segment,purpose` builds on it (docs/raking.md).

use serde::Serialize;

/// How an analysis's respondents were raked to the population of visits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RakingSummary {
    /// The margins raked to, in order (`segment`, `purpose`).
    pub margins: Vec<String>,
    pub respondents: u64,
    /// The population: the served visits of the period.
    pub visits: u64,
    pub iterations: usize,
    /// The largest relative gap left between a margin's weighted total and its target.
    pub gap: f64,
    /// The smallest and largest respondent weight (visits a respondent stands for).
    pub weight_min: f64,
    pub weight_max: f64,
    /// Kish's 1 + CV² of the weights, and respondents ÷ that.
    pub design_effect: f64,
    pub effective_n: f64,
    pub cells: Vec<RakedCell>,
}

/// One segment × purpose cell's respondents and the weight each of them carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RakedCell {
    pub segment: String,
    pub purpose: String,
    pub respondents: u64,
    pub weight: f64,
}

/// A margin respondents can be raked on: the visits' segment or purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RakeMargin {
    Segment,
    Purpose,
}

impl RakeMargin {
    pub fn name(self) -> &'static str {
        match self {
            RakeMargin::Segment => "segment",
            RakeMargin::Purpose => "purpose",
        }
    }

    /// `segment,purpose` (either or both, once each).
    pub fn parse_list(s: &str) -> Result<Vec<RakeMargin>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            let m = match part {
                "segment" => RakeMargin::Segment,
                "purpose" => RakeMargin::Purpose,
                other => {
                    return Err(format!(
                        "`{other}` is not a margin to rake on (segment or purpose)"
                    ));
                }
            };
            if out.contains(&m) {
                return Err(format!("`{part}` is named twice"));
            }
            out.push(m);
        }
        Ok(out)
    }
}

/// Raking's result: a weight per respondent, and how it converged.
#[derive(Debug, Clone, PartialEq)]
pub struct Raked {
    pub weights: Vec<f64>,
    pub iterations: usize,
    /// The largest relative gap between a margin's weighted total and its target at
    /// the end.
    pub gap: f64,
}

/// Rakes `base` weights (one per respondent; 1.0 for a simple sample) so that, for
/// each margin `m`, the weights of the respondents in category `c` (their
/// `categories[m][i]`) add up to `targets[m][c]`. Margins are fitted in turn until the
/// largest relative gap is below `tolerance` or `max_iterations` passes are made.
///
/// Every target must be finite and ≥ 0, each margin's targets must have the same
/// total, and a category with a positive target needs a respondent; otherwise an error
/// names the margin and category.
pub fn rake(
    base: &[f64],
    categories: &[Vec<usize>],
    targets: &[Vec<f64>],
    tolerance: f64,
    max_iterations: usize,
) -> Result<Raked, String> {
    let n = base.len();
    if categories.len() != targets.len() {
        return Err(format!(
            "{} margins of categories but {} of targets",
            categories.len(),
            targets.len()
        ));
    }
    if base.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return Err("every base weight must be a finite number above 0".into());
    }
    let mut total = None;
    for (m, (cats, tgt)) in categories.iter().zip(targets).enumerate() {
        if cats.len() != n {
            return Err(format!(
                "margin {m}: {} categories for {n} respondents",
                cats.len()
            ));
        }
        if let Some(&c) = cats.iter().find(|&&c| c >= tgt.len()) {
            return Err(format!("margin {m}: category {c} has no target"));
        }
        if tgt.iter().any(|t| !(t.is_finite() && *t >= 0.0)) {
            return Err(format!("margin {m}: targets must be finite numbers ≥ 0"));
        }
        let sum: f64 = tgt.iter().sum();
        match total {
            None => total = Some(sum),
            Some(t) if ((sum - t) / t.max(1e-300)).abs() > 1e-9 => {
                return Err(format!(
                    "margin {m}: its targets add up to {sum}, another margin's to {t}"
                ));
            }
            _ => {}
        }
        let mut seen = vec![false; tgt.len()];
        for &c in cats {
            seen[c] = true;
        }
        if let Some(c) = (0..tgt.len()).find(|&c| !seen[c] && tgt[c] > 0.0) {
            return Err(format!(
                "margin {m}: category {c} has a target of {} but no respondent",
                tgt[c]
            ));
        }
    }
    let mut w = base.to_vec();
    let gap_of = |w: &[f64]| {
        let mut gap: f64 = 0.0;
        for (cats, tgt) in categories.iter().zip(targets) {
            let mut sums = vec![0.0; tgt.len()];
            for (i, &c) in cats.iter().enumerate() {
                sums[c] += w[i];
            }
            for (s, t) in sums.iter().zip(tgt) {
                if *t > 0.0 {
                    gap = gap.max(((s - t) / t).abs());
                }
            }
        }
        gap
    };
    let mut iterations = 0;
    let mut gap = gap_of(&w);
    while gap > tolerance && iterations < max_iterations {
        for (cats, tgt) in categories.iter().zip(targets) {
            let mut sums = vec![0.0; tgt.len()];
            for (i, &c) in cats.iter().enumerate() {
                sums[c] += w[i];
            }
            for (i, &c) in cats.iter().enumerate() {
                w[i] *= if sums[c] > 0.0 { tgt[c] / sums[c] } else { 0.0 };
            }
        }
        iterations += 1;
        gap = gap_of(&w);
    }
    Ok(Raked {
        weights: w,
        iterations,
        gap,
    })
}

/// What a set of weights costs in precision: Kish's approximate design effect of
/// unequal weighting, 1 + CV² = n · Σw² / (Σw)² (the population CV, divisor n), and the
/// effective sample size n / deff. `None` for no weights or weights that add up to 0.
pub fn kish_design_effect(weights: &[f64]) -> Option<f64> {
    let n = weights.len() as f64;
    let sum: f64 = weights.iter().sum();
    let sq: f64 = weights.iter().map(|w| w * w).sum();
    (n > 0.0 && sum > 0.0).then(|| n * sq / (sum * sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kalton_and_flores_cervantes_raking_weights_are_reproduced() {
        // The published example of raking: Kalton, G. and Flores-Cervantes, I. (2003),
        // "Weighting Methods", Journal of Official Statistics 19(2), 81–97, the
        // 4 × 3 table of sample counts raked to the population's margins (its raking
        // weights, to two decimals, are also the regression test `tests/kalton.R` of
        // Lumley's R package `survey`, "table B"). Cells in (A, B) order.
        let sample = [
            [20.0, 40.0, 40.0],
            [50.0, 140.0, 310.0],
            [100.0, 50.0, 50.0],
            [30.0, 100.0, 70.0],
        ];
        let population = [
            [80.0, 40.0, 55.0],
            [60.0, 150.0, 340.0],
            [170.0, 60.0, 200.0],
            [55.0, 165.0, 125.0],
        ];
        let published = [
            [1.81, 1.45, 2.02],
            [1.08, 0.87, 1.21],
            [2.20, 1.76, 2.45],
            [1.83, 1.47, 2.04],
        ];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, row) in sample.iter().enumerate() {
            for (j, &n) in row.iter().enumerate() {
                a.extend(std::iter::repeat_n(i, n as usize));
                b.extend(std::iter::repeat_n(j, n as usize));
            }
        }
        let margin_a: Vec<f64> = population.iter().map(|r| r.iter().sum()).collect();
        let margin_b: Vec<f64> = (0..3)
            .map(|j| population.iter().map(|r| r[j]).sum())
            .collect();
        assert_eq!(margin_a, [175.0, 550.0, 430.0, 345.0]);
        assert_eq!(margin_b, [365.0, 415.0, 720.0]);
        let r = rake(
            &vec![1.0; a.len()],
            &[a.clone(), b.clone()],
            &[margin_a, margin_b],
            1e-10,
            1000,
        )
        .unwrap();
        for (i, row) in published.iter().enumerate() {
            for (j, &w) in row.iter().enumerate() {
                let k = (0..a.len()).find(|&k| a[k] == i && b[k] == j).unwrap();
                // Every respondent of a cell has the same weight; it rounds to the
                // published one.
                assert!(
                    (r.weights[k] - w).abs() <= 0.005,
                    "cell ({}, {}): {} vs {w}",
                    i + 1,
                    j + 1,
                    r.weights[k]
                );
            }
        }
        let total: f64 = r.weights.iter().sum();
        assert!((total - 1500.0).abs() < 1e-6);
    }

    #[test]
    fn margins_are_segment_and_purpose_once_each() {
        assert_eq!(
            RakeMargin::parse_list("segment,purpose").unwrap(),
            [RakeMargin::Segment, RakeMargin::Purpose]
        );
        assert_eq!(
            RakeMargin::parse_list("purpose").unwrap(),
            [RakeMargin::Purpose]
        );
        assert!(
            RakeMargin::parse_list("segment,segment")
                .unwrap_err()
                .contains("twice")
        );
        assert!(RakeMargin::parse_list("age").unwrap_err().contains("`age`"));
    }

    #[test]
    fn kish_design_effect_is_one_plus_the_squared_cv() {
        assert_eq!(kish_design_effect(&[2.0, 2.0, 2.0]), Some(1.0));
        // Weights 1 and 3: mean 2, population sd 1, CV 0.5, deff 1.25.
        assert!((kish_design_effect(&[1.0, 3.0]).unwrap() - 1.25).abs() < 1e-12);
        assert_eq!(kish_design_effect(&[]), None);
    }

    /// A 2×2 table as respondents: `counts[r][c]` respondents of row r, column c.
    fn respondents(counts: [[usize; 2]; 2]) -> (Vec<usize>, Vec<usize>) {
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        for (r, row) in counts.iter().enumerate() {
            for (c, &n) in row.iter().enumerate() {
                rows.extend(std::iter::repeat_n(r, n));
                cols.extend(std::iter::repeat_n(c, n));
            }
        }
        (rows, cols)
    }

    #[test]
    fn a_two_by_two_survey_is_raked_to_its_census_margins_keeping_its_odds_ratio() {
        // The survey table [[7, 9], [12, 7]] raked to the census margins rows (5, 15) and
        // columns (10, 10), a raking tutorial's example (apophenia's). IPF keeps the table's odds ratio,
        // 49/108, so the top-left cell a solves a(5 + a)·108 = 49(5 − a)(10 − a):
        // 59a² + 1275a − 2450 = 0, a = (−1275 + √2,203,825) / 118 ≈ 1.77567.
        let (rows, cols) = respondents([[7, 9], [12, 7]]);
        let r = rake(
            &vec![1.0; rows.len()],
            &[rows.clone(), cols.clone()],
            &[vec![5.0, 15.0], vec![10.0, 10.0]],
            1e-12,
            1000,
        )
        .unwrap();
        let cell = |rr: usize, cc: usize| -> f64 {
            (0..rows.len())
                .filter(|&i| rows[i] == rr && cols[i] == cc)
                .map(|i| r.weights[i])
                .sum()
        };
        let a = (-1275.0 + 2_203_825f64.sqrt()) / 118.0;
        assert!((cell(0, 0) - a).abs() < 1e-9, "{} vs {a}", cell(0, 0));
        assert!((cell(0, 1) - (5.0 - a)).abs() < 1e-9);
        assert!((cell(1, 0) - (10.0 - a)).abs() < 1e-9);
        assert!((cell(1, 1) - (5.0 + a)).abs() < 1e-9);
        let odds = cell(0, 0) * cell(1, 1) / (cell(0, 1) * cell(1, 0));
        assert!((odds - 49.0 / 108.0).abs() < 1e-9);
        assert!(r.gap <= 1e-12 && r.iterations < 1000);
    }

    #[test]
    fn independent_margins_converge_in_one_pass_to_the_product() {
        // A table of ones raked to margins gives the outer product / total at once.
        let (rows, cols) = respondents([[1, 1], [1, 1]]);
        let r = rake(
            &[1.0; 4],
            &[rows, cols],
            &[vec![30.0, 70.0], vec![40.0, 60.0]],
            1e-12,
            10,
        )
        .unwrap();
        assert_eq!(r.iterations, 1);
        let expect = [12.0, 18.0, 28.0, 42.0];
        for (w, e) in r.weights.iter().zip(expect) {
            assert!((w - e).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_margins_are_named() {
        let e = rake(&[1.0, 1.0], &[vec![0, 1]], &[vec![1.0]], 1e-9, 10).unwrap_err();
        assert!(e.contains("category 1 has no target"), "{e}");
        let e = rake(
            &[1.0, 1.0],
            &[vec![0, 0], vec![0, 1]],
            &[vec![2.0], vec![1.0, 2.0]],
            1e-9,
            10,
        )
        .unwrap_err();
        assert!(e.contains("add up to 3"), "{e}");
        let e = rake(&[1.0], &[vec![0]], &[vec![1.0, 2.0]], 1e-9, 10).unwrap_err();
        assert!(
            e.contains("category 1 has a target of 2 but no respondent"),
            "{e}"
        );
        assert!(rake(&[0.0], &[vec![0]], &[vec![1.0]], 1e-9, 10).is_err());
    }
}
