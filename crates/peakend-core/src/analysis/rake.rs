//! Raking (iterative proportional fitting, issue 22 begun): respondents' weights
//! adjusted so that the weighted respondents match the population of visits on each
//! margin (segment, visit purpose, …) at once. Pure; `analyze --rake` builds on it.

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

#[cfg(test)]
mod tests {
    use super::*;

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
