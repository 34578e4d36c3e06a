//! The survey programme's own statistics (issue 22), from invitations joined to their
//! answers and to the visits of the period: response rates, the non-response check (a
//! chi-square goodness-of-fit of respondents against visits by segment × purpose),
//! satisfaction of the queue moment by minutes waited with a one-break piecewise-linear
//! fit (the tolerance point), and staff and counter effects shrunk toward their hall's
//! mean (empirical Bayes). Pure; the definitions are in docs/methods.md.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::stats::RunningStats;

// ---------------------------------------------------------------------------------
// The chi-square distribution.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a): the
/// series for x < a + 1, Lentz's continued fraction otherwise (Numerical Recipes §6.2).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * ln_front.exp()).clamp(0.0, 1.0)
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (ln_front.exp() * h).clamp(0.0, 1.0)
    }
}

/// P(X ≥ x) for X chi-square with `df` degrees of freedom.
pub fn chi_square_sf(x: f64, df: u64) -> f64 {
    gamma_q(df as f64 / 2.0, x / 2.0)
}

/// Pearson's goodness-of-fit test of observed counts against expected shares (which
/// need not add up to 1; they are normalised): (statistic, degrees of freedom, p).
/// `None` with fewer than two categories, no observations, or a category with no
/// expected share.
pub fn chi_square_gof(observed: &[f64], shares: &[f64]) -> Option<(f64, u64, f64)> {
    let n: f64 = observed.iter().sum();
    let total: f64 = shares.iter().sum();
    if observed.len() != shares.len()
        || observed.len() < 2
        || n <= 0.0
        || total <= 0.0
        || shares.iter().any(|s| s.is_nan() || *s <= 0.0)
    {
        return None;
    }
    let stat: f64 = observed
        .iter()
        .zip(shares)
        .map(|(o, s)| {
            let e = n * s / total;
            (o - e) * (o - e) / e
        })
        .sum();
    let df = observed.len() as u64 - 1;
    Some((stat, df, chi_square_sf(stat, df)))
}

// ---------------------------------------------------------------------------------
// Response rates and the non-response check.

/// Invitations of one hall, segment or purpose by what became of them. Invited are
/// those sent, held for quiet hours, expired or answered; suppressed ones were never
/// invited and are counted apart, by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RateCounts {
    pub invited: u64,
    pub answered: u64,
    /// answered ÷ invited; `None` when none was invited.
    pub rate: Option<f64>,
    pub suppressed: u64,
    pub suppressed_by: BTreeMap<String, u64>,
}

impl RateCounts {
    /// Counts `n` decisions of `status` (`sent`, `held`, `expired`, `answered`,
    /// `suppressed` with its `reason`); any other status is not counted.
    pub fn add(&mut self, status: &str, reason: Option<&str>, n: u64) {
        match status {
            "sent" | "held" | "expired" => self.invited += n,
            "answered" => {
                self.invited += n;
                self.answered += n;
            }
            "suppressed" => {
                self.suppressed += n;
                *self
                    .suppressed_by
                    .entry(reason.unwrap_or("unknown").to_owned())
                    .or_default() += n;
            }
            _ => {}
        }
        self.rate = (self.invited > 0).then(|| self.answered as f64 / self.invited as f64);
    }
}

/// One segment × purpose cell of the non-response check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellShare {
    pub segment: String,
    pub purpose: String,
    pub respondents: u64,
    pub visits: u64,
    /// The cell's share of the respondents (of the visits).
    pub respondent_share: Option<f64>,
    pub visit_share: Option<f64>,
    /// respondent share − visit share: above 0, the cell answers more than its visits
    /// warrant.
    pub difference: Option<f64>,
    /// Respondents the cell would have if it answered like the visits (its expected
    /// count in the test); `None` for a cell with no visits.
    pub expected: Option<f64>,
}

/// Respondents against the visits of the period by segment × purpose, with Pearson's
/// goodness-of-fit test of the respondents' cells against the visits' shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NonResponseCheck {
    pub respondents: u64,
    pub visits: u64,
    pub cells: Vec<CellShare>,
    pub chi_square: Option<f64>,
    pub df: Option<u64>,
    pub p_value: Option<f64>,
    /// Cells whose expected count is under 5, where the chi-square approximation is
    /// rough.
    pub small_expected: usize,
    /// Respondents in cells without visits, left out of the test (the visits of such a
    /// cell were not recorded, or its respondents name it differently).
    pub unmatched_respondents: u64,
}

/// The non-response check of respondents and visits counted by (segment, purpose).
pub fn non_response_check(
    respondents: &BTreeMap<(String, String), u64>,
    visits: &BTreeMap<(String, String), u64>,
) -> NonResponseCheck {
    let mut keys: Vec<&(String, String)> = respondents.keys().chain(visits.keys()).collect();
    keys.sort();
    keys.dedup();
    let r_total: u64 = respondents.values().sum();
    let v_total: u64 = visits.values().sum();
    // The test covers the respondents of cells that have visits.
    let matched: u64 = respondents
        .iter()
        .filter(|(k, _)| visits.get(*k).is_some_and(|v| *v > 0))
        .map(|(_, n)| n)
        .sum();
    let share = |n: u64, of: u64| (of > 0).then(|| n as f64 / of as f64);
    let cells: Vec<CellShare> = keys
        .iter()
        .map(|k| {
            let r = respondents.get(*k).copied().unwrap_or(0);
            let v = visits.get(*k).copied().unwrap_or(0);
            let (rs, vs) = (share(r, r_total), share(v, v_total));
            CellShare {
                segment: k.0.clone(),
                purpose: k.1.clone(),
                respondents: r,
                visits: v,
                respondent_share: rs,
                visit_share: vs,
                difference: rs.zip(vs).map(|(a, b)| a - b),
                expected: (v > 0 && v_total > 0)
                    .then(|| matched as f64 * v as f64 / v_total as f64),
            }
        })
        .collect();
    let tested: Vec<&CellShare> = cells.iter().filter(|c| c.visits > 0).collect();
    let observed: Vec<f64> = tested.iter().map(|c| c.respondents as f64).collect();
    let shares: Vec<f64> = tested.iter().map(|c| c.visits as f64).collect();
    let test = chi_square_gof(&observed, &shares);
    NonResponseCheck {
        respondents: r_total,
        visits: v_total,
        small_expected: if test.is_some() {
            tested
                .iter()
                .filter(|c| c.expected.is_some_and(|e| e < 5.0))
                .count()
        } else {
            0
        },
        unmatched_respondents: r_total - matched,
        chi_square: test.map(|t| t.0),
        df: test.map(|t| t.1),
        p_value: test.map(|t| t.2),
        cells,
    }
}

// ---------------------------------------------------------------------------------
// Satisfaction by minutes waited.

/// The bins of minutes waited: [0, 5), [5, 10), [10, 15), [15, 20), [20, 30), 30+.
pub const WAIT_BINS: [(f64, Option<f64>); 6] = [
    (0.0, Some(5.0)),
    (5.0, Some(10.0)),
    (10.0, Some(15.0)),
    (15.0, Some(20.0)),
    (20.0, Some(30.0)),
    (30.0, None),
];

/// Satisfaction of the answers whose wait falls in one bin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitBin {
    pub from_min: f64,
    /// Exclusive; `None` for the open last bin.
    pub to_min: Option<f64>,
    pub n: u64,
    pub mean: Option<f64>,
    /// mean ± 1.96 · s / √n (two answers or more).
    pub ci95: Option<(f64, f64)>,
}

/// The mean satisfaction per bin of minutes waited, of (minutes, satisfaction) pairs.
pub fn wait_bins(points: &[(f64, f64)]) -> Vec<WaitBin> {
    WAIT_BINS
        .iter()
        .map(|&(lo, hi)| {
            let mut s = RunningStats::default();
            for &(x, y) in points {
                if x >= lo && hi.is_none_or(|h| x < h) {
                    s.push(y);
                }
            }
            WaitBin {
                from_min: lo,
                to_min: hi,
                n: s.n,
                mean: s.mean(),
                ci95: mean_ci95(&s),
            }
        })
        .collect()
}

/// mean ± 1.96 · s / √n, for two observations or more.
pub fn mean_ci95(s: &RunningStats) -> Option<(f64, f64)> {
    let (m, v) = (s.mean()?, s.variance()?);
    let h = 1.96 * (v / s.n as f64).sqrt();
    Some((m - h, m + h))
}

/// A piecewise-linear fit with one break: y = a + b·x + c·(x − break)₊, by least
/// squares over the break as well (a grid of 0.1 minute), with a bootstrap interval
/// for the break.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenStick {
    pub n: usize,
    pub break_min: f64,
    pub intercept: f64,
    /// Satisfaction per minute before the break and after it.
    pub slope_before: f64,
    pub slope_after: f64,
    pub sse: f64,
    /// The 2.5 % and 97.5 % percentiles of the break over bootstrap resamples of the
    /// answers (pairs drawn with replacement, a fixed seed: the same data give the same
    /// interval).
    pub break_ci95: Option<(f64, f64)>,
    pub resamples: usize,
}

/// The least-squares break: (break, [a, b, c], SSE) over breaks on a 0.1-minute grid
/// with at least three answers on each side. `xs` sorted ascending.
fn best_break(xs: &[f64], ys: &[f64]) -> Option<(f64, [f64; 3], f64)> {
    let n = xs.len();
    if n < 6 {
        return None;
    }
    // Centred on the mean wait, so the sums keep their precision.
    let centre = xs.iter().sum::<f64>() / n as f64;
    let mut pre = vec![[0.0f64; 4]; n + 1];
    for i in 0..n {
        let x = xs[i] - centre;
        let y = ys[i];
        pre[i + 1] = [
            pre[i][0] + x,
            pre[i][1] + x * x,
            pre[i][2] + y,
            pre[i][3] + x * y,
        ];
    }
    let [sx, sxx, sy, sxy] = pre[n];
    let syy: f64 = ys.iter().map(|y| y * y).sum();
    let (lo, hi) = (xs[2], xs[n - 3]);
    if hi <= lo {
        return None;
    }
    let mut best: Option<(f64, [f64; 3], f64)> = None;
    let first = (lo * 10.0).ceil() as i64;
    let last = (hi * 10.0).floor() as i64;
    for step in first..=last {
        let b = step as f64 / 10.0;
        // Answers after the break: those with x > b.
        let idx = xs.partition_point(|&x| x <= b);
        let m = (n - idx) as f64;
        if idx < 3 || n - idx < 3 {
            continue;
        }
        let bc = b - centre;
        let s = |k: usize| pre[n][k] - pre[idx][k];
        let (ax, axx, ay, axy) = (s(0), s(1), s(2), s(3));
        let sz = ax - m * bc;
        let szz = axx - 2.0 * bc * ax + m * bc * bc;
        let sxz = axx - bc * ax;
        let syz = axy - bc * ay;
        let a = [[n as f64, sx, sz], [sx, sxx, sxz], [sz, sxz, szz]];
        let rhs = [sy, sxy, syz];
        let Some(beta) = solve3(a, rhs) else { continue };
        let sse = (syy - beta[0] * rhs[0] - beta[1] * rhs[1] - beta[2] * rhs[2]).max(0.0);
        if best.as_ref().is_none_or(|(_, _, e)| sse < *e - 1e-12) {
            // Back from the centred x: a + b·(x − centre) = (a − b·centre) + b·x.
            let coef = [beta[0] - beta[1] * centre, beta[1], beta[2]];
            best = Some((b, coef, sse));
        }
    }
    best
}

/// Solves a 3 × 3 system by Gaussian elimination with partial pivoting.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let p = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[p][col].abs() < 1e-12 * (1.0 + a[0][0].abs()) {
            return None;
        }
        a.swap(col, p);
        b.swap(col, p);
        for row in col + 1..3 {
            let f = a[row][col] / a[col][col];
            let pivot = a[col];
            for (x, p) in a[row].iter_mut().zip(pivot).skip(col) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let rest: f64 = (row + 1..3).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

/// The piecewise-linear fit of satisfaction on minutes waited, over (minutes,
/// satisfaction) pairs; `None` with fewer than six answers or one wait for all.
pub fn broken_stick(points: &[(f64, f64)], resamples: usize, seed: u64) -> Option<BrokenStick> {
    let sorted = |pts: &mut Vec<(f64, f64)>| {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (xs, ys): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
        (xs, ys)
    };
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (xs, ys) = sorted(&mut pts);
    let (b, coef, sse) = best_break(&xs, &ys)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut breaks = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let mut draw: Vec<(f64, f64)> = (0..pts.len())
            .map(|_| pts[rng.random_range(0..pts.len())])
            .collect();
        let (bx, by) = sorted(&mut draw);
        if let Some((bb, _, _)) = best_break(&bx, &by) {
            breaks.push(bb);
        }
    }
    breaks.sort_by(f64::total_cmp);
    let pct = |p: f64| breaks[((breaks.len() - 1) as f64 * p).round() as usize];
    Some(BrokenStick {
        n: pts.len(),
        break_min: b,
        intercept: coef[0],
        slope_before: coef[1],
        slope_after: coef[1] + coef[2],
        sse,
        break_ci95: (breaks.len() >= 20).then(|| (pct(0.025), pct(0.975))),
        resamples: breaks.len(),
    })
}

// ---------------------------------------------------------------------------------
// Staff and counter effects.

/// One staff member's (or counter's) mean rating of the moments they touch, beside
/// their hall's, shrunk toward it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    pub hall: String,
    /// The staff code or counter (never a name).
    pub key: String,
    pub n: u64,
    pub mean: f64,
    pub mean_ci95: Option<(f64, f64)>,
    pub hall_mean: f64,
    /// The empirical-Bayes estimate: hall mean + B · (mean − hall mean).
    pub shrunk: f64,
    pub shrunk_ci95: (f64, f64),
    /// B = τ² / (τ² + σ²/n): the weight of the member's own mean.
    pub weight: f64,
}

/// Empirical-Bayes effects per (hall, key): each member's true mean is taken as drawn
/// around the hall mean μ with variance τ², their observed mean as the true one plus
/// noise of variance σ²/n. σ² is the pooled within-member variance (the hall's
/// variance when no member has two answers); τ² the method-of-moments estimate
/// max(0, mean (ȳⱼ − μ)² − mean σ²/nⱼ) over the hall's members (0 with one member).
/// The estimate is μ + Bⱼ(ȳⱼ − μ), Bⱼ = τ²/(τ² + σ²/nⱼ), with variance
/// Bⱼσ²/nⱼ + (1 − Bⱼ)²σ²/N (N the hall's answers: μ is estimated too).
/// `halls` holds every answer of each hall, with a member or not.
pub fn shrunk_effects(
    halls: &BTreeMap<String, RunningStats>,
    members: &BTreeMap<(String, String), RunningStats>,
) -> Vec<Effect> {
    let mut out = Vec::new();
    for (hall, all) in halls {
        let Some(mu) = all.mean() else { continue };
        let mine: Vec<(&String, &RunningStats)> = members
            .iter()
            .filter(|((h, _), s)| h == hall && s.n > 0)
            .map(|((_, k), s)| (k, s))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let (mut ss, mut dof) = (0.0, 0.0);
        for (_, s) in &mine {
            if let Some(v) = s.variance() {
                ss += v * (s.n - 1) as f64;
                dof += (s.n - 1) as f64;
            }
        }
        let sigma2 = if dof > 0.0 {
            ss / dof
        } else {
            all.variance().unwrap_or(0.0)
        };
        let j = mine.len() as f64;
        let tau2 = if mine.len() >= 2 {
            let between: f64 = mine
                .iter()
                .map(|(_, s)| (s.mean().unwrap_or(mu) - mu).powi(2))
                .sum::<f64>()
                / j;
            let noise: f64 = mine.iter().map(|(_, s)| sigma2 / s.n as f64).sum::<f64>() / j;
            (between - noise).max(0.0)
        } else {
            0.0
        };
        let n_hall = all.n as f64;
        for (key, s) in mine {
            let mean = s.mean().unwrap_or(mu);
            let noise = sigma2 / s.n as f64;
            // No spread at all to tell a member from the hall: the hall's mean.
            let weight = if tau2 + noise > 0.0 {
                tau2 / (tau2 + noise)
            } else {
                0.0
            };
            let shrunk = mu + weight * (mean - mu);
            let var = weight * noise + (1.0 - weight).powi(2) * sigma2 / n_hall;
            let h = 1.96 * var.sqrt();
            out.push(Effect {
                hall: hall.clone(),
                key: key.clone(),
                n: s.n,
                mean,
                mean_ci95: mean_ci95(s),
                hall_mean: mu,
                shrunk,
                shrunk_ci95: (shrunk - h, shrunk + h),
                weight,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn chi_square_tail_matches_the_tables() {
        // Critical values from any chi-square table: P(X ≥ x) = 0.05 at 3.841 (1 df),
        // 5.991 (2 df), 11.070 (5 df); 0.01 at 6.635 (1 df), 23.209 (10 df).
        assert!(close(chi_square_sf(3.841_459, 1), 0.05, 1e-6));
        assert!(close(chi_square_sf(5.991_465, 2), 0.05, 1e-6));
        assert!(close(chi_square_sf(11.070_498, 5), 0.05, 1e-6));
        assert!(close(chi_square_sf(6.634_897, 1), 0.01, 1e-6));
        assert!(close(chi_square_sf(23.209_251, 10), 0.01, 1e-6));
        // Two degrees of freedom have the closed form e^(−x/2).
        assert!(close(chi_square_sf(7.0, 2), (-3.5f64).exp(), 1e-12));
        assert_eq!(chi_square_sf(0.0, 3), 1.0);
        // ln Γ at known points: Γ(5) = 24, Γ(1/2) = √π.
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
    }

    #[test]
    fn mendels_peas_fit_nine_three_three_one() {
        // The textbook goodness-of-fit example: Mendel's dihybrid cross (1866), 556
        // peas, 315 round yellow, 108 round green, 101 wrinkled yellow, 32 wrinkled
        // green, against the 9:3:3:1 of his theory: χ² = 0.470 on 3 degrees of
        // freedom, p ≈ 0.925.
        let (stat, df, p) =
            chi_square_gof(&[315.0, 108.0, 101.0, 32.0], &[9.0, 3.0, 3.0, 1.0]).unwrap();
        assert!(close(stat, 0.470, 0.0005), "{stat}");
        assert_eq!(df, 3);
        assert!(close(p, 0.925, 0.001), "{p}");
        assert!(chi_square_gof(&[1.0], &[1.0]).is_none());
        assert!(chi_square_gof(&[1.0, 2.0], &[1.0, 0.0]).is_none());
    }

    #[test]
    fn rates_count_invited_and_suppressed_apart() {
        let mut r = RateCounts::default();
        r.add("sent", None, 3);
        r.add("held", Some("quiet_hours"), 1);
        r.add("expired", None, 2);
        r.add("answered", None, 2);
        r.add("suppressed", Some("recently_invited"), 4);
        r.add("suppressed", Some("opted_out"), 1);
        assert_eq!((r.invited, r.answered, r.suppressed), (8, 2, 5));
        assert_eq!(r.rate, Some(0.25));
        assert_eq!(r.suppressed_by["recently_invited"], 4);
        assert_eq!(RateCounts::default().rate, None);
    }

    #[test]
    fn non_response_compares_shares_and_tests_them() {
        let cell = |s: &str, p: &str| (s.to_owned(), p.to_owned());
        let respondents = BTreeMap::from([
            (cell("gold", "bill"), 30),
            (cell("basic", "bill"), 10),
            (cell("odd", "x"), 5),
        ]);
        let visits = BTreeMap::from([(cell("gold", "bill"), 100), (cell("basic", "bill"), 300)]);
        let c = non_response_check(&respondents, &visits);
        assert_eq!(
            (c.respondents, c.visits, c.unmatched_respondents),
            (45, 400, 5)
        );
        let gold = &c.cells.iter().find(|x| x.segment == "gold").unwrap();
        assert!(close(gold.respondent_share.unwrap(), 30.0 / 45.0, 1e-12));
        assert!(close(gold.visit_share.unwrap(), 0.25, 1e-12));
        assert!(close(gold.expected.unwrap(), 10.0, 1e-12));
        // 40 matched respondents expected 10 and 30: (30−10)²/10 + (10−30)²/30.
        assert!(close(c.chi_square.unwrap(), 40.0 + 400.0 / 30.0, 1e-9));
        assert_eq!(c.df, Some(1));
        assert!(c.p_value.unwrap() < 1e-6);
        let odd = c.cells.iter().find(|x| x.segment == "odd").unwrap();
        assert_eq!((odd.visits, odd.expected), (0, None));
    }

    #[test]
    fn wait_bins_hold_their_means_and_intervals() {
        let pts = [(0.0, 9.0), (4.9, 7.0), (5.0, 6.0), (31.0, 2.0), (45.0, 4.0)];
        let bins = wait_bins(&pts);
        assert_eq!(bins.len(), 6);
        assert_eq!((bins[0].n, bins[0].mean), (2, Some(8.0)));
        // s = √2, half-width 1.96 · √2 / √2.
        let (lo, hi) = bins[0].ci95.unwrap();
        assert!(close(lo, 8.0 - 1.96, 1e-12) && close(hi, 8.0 + 1.96, 1e-12));
        assert_eq!(
            (bins[1].n, bins[1].mean, bins[1].ci95),
            (1, Some(6.0), None)
        );
        assert_eq!((bins[2].n, bins[2].mean), (0, None));
        assert_eq!(
            (bins[5].n, bins[5].mean, bins[5].to_min),
            (2, Some(3.0), None)
        );
    }

    #[test]
    fn the_break_of_a_known_broken_line_is_found() {
        // Satisfaction 9 − 0.02 · minutes up to 16 minutes, then falling 0.3 a minute,
        // with a fixed ±0.3 wobble: the fit finds the break near 16, its interval holds
        // 16, and the slopes come back.
        let mut pts = Vec::new();
        for i in 0..400 {
            let x = (i % 200) as f64 * 0.2; // 0 … 39.8 minutes, twice
            let clean = 9.0 - 0.02 * x - 0.28 * (x - 16.0).max(0.0);
            let wobble = [0.3, -0.3, 0.1, -0.1, 0.0][i % 5];
            pts.push((x, clean + wobble));
        }
        let fit = broken_stick(&pts, 200, 7).unwrap();
        assert_eq!(fit.n, 400);
        assert!(close(fit.break_min, 16.0, 0.5), "{fit:?}");
        let (lo, hi) = fit.break_ci95.unwrap();
        assert!(lo <= 16.0 && 16.0 <= hi && hi - lo < 3.0, "{lo} {hi}");
        assert!(close(fit.slope_before, -0.02, 0.02), "{fit:?}");
        assert!(close(fit.slope_after, -0.30, 0.02), "{fit:?}");
        // The same data and seed give the same interval.
        assert_eq!(broken_stick(&pts, 200, 7).unwrap(), fit);
        // Too few answers, or one wait for all: no fit.
        assert!(broken_stick(&pts[..5], 10, 1).is_none());
        assert!(broken_stick(&[(3.0, 1.0); 10], 10, 1).is_none());
    }

    #[test]
    fn an_exact_broken_line_is_fitted_exactly() {
        let pts: Vec<(f64, f64)> = (0..=40)
            .map(|m| {
                let x = m as f64;
                (x, 8.0 - 0.1 * x - 0.4 * (x - 12.0).max(0.0))
            })
            .collect();
        let fit = broken_stick(&pts, 0, 1).unwrap();
        assert!(close(fit.break_min, 12.0, 1e-9), "{fit:?}");
        assert!(close(fit.intercept, 8.0, 1e-6) && close(fit.slope_before, -0.1, 1e-6));
        assert!(close(fit.slope_after, -0.5, 1e-6) && fit.sse < 1e-9);
        assert_eq!(fit.break_ci95, None);
    }

    #[test]
    fn effects_shrink_small_samples_more() {
        let stats = |xs: &[f64]| {
            let mut s = RunningStats::default();
            xs.iter().for_each(|x| s.push(*x));
            s
        };
        let a = [9.0, 10.0, 9.0, 10.0, 9.0, 10.0, 9.0, 10.0];
        let b = [5.0, 6.0, 5.0, 6.0, 5.0, 6.0, 5.0, 6.0];
        let c = [10.0, 9.0];
        let mut all = RunningStats::default();
        for x in a.iter().chain(&b).chain(&c) {
            all.push(*x);
        }
        let halls = BTreeMap::from([("h1".to_owned(), all)]);
        let members = BTreeMap::from([
            (("h1".to_owned(), "A".to_owned()), stats(&a)),
            (("h1".to_owned(), "B".to_owned()), stats(&b)),
            (("h1".to_owned(), "C".to_owned()), stats(&c)),
        ]);
        let e = shrunk_effects(&halls, &members);
        assert_eq!(e.len(), 3);
        let mu = all.mean().unwrap();
        for x in &e {
            assert!(close(x.hall_mean, mu, 1e-12));
            // Between the hall's mean and the member's own, inside its interval.
            let (lo, hi) = (x.mean.min(mu), x.mean.max(mu));
            assert!(x.shrunk >= lo - 1e-12 && x.shrunk <= hi + 1e-12, "{x:?}");
            assert!(x.shrunk_ci95.0 < x.shrunk && x.shrunk < x.shrunk_ci95.1);
        }
        let w = |k: &str| e.iter().find(|x| x.key == k).unwrap().weight;
        // Eight answers are trusted more than two of the same spread.
        assert!(w("A") > w("C") && w("A") < 1.0 && w("C") > 0.0);
        // σ² pooled (2/7, 2/7 and 0.5 on 7, 7 and 1 dof): 4.5 / 15; τ² by moments.
        let sigma2 = (2.0 + 2.0 + 0.5) / 15.0;
        let means = [9.5, 5.5, 9.5];
        let between = means.iter().map(|m| (m - mu).powi(2)).sum::<f64>() / 3.0;
        let noise = (sigma2 / 8.0 * 2.0 + sigma2 / 2.0) / 3.0;
        let tau2 = between - noise;
        assert!(close(w("C"), tau2 / (tau2 + sigma2 / 2.0), 1e-9));
        // One member alone is shrunk all the way to the hall mean.
        let solo = BTreeMap::from([(("h1".to_owned(), "A".to_owned()), stats(&a))]);
        let halls = BTreeMap::from([("h1".to_owned(), stats(&a))]);
        let e = shrunk_effects(&halls, &solo);
        assert_eq!(e[0].weight, 0.0);
        assert!(close(e[0].shrunk, 9.5, 1e-12));
    }
}
