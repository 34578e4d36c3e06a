//! Mergeable statistics. Counts, sums and sums of squares (and cross-products for
//! correlations) add up exactly across halls, districts, cities and the province,
//! so a roll-up never rescans responses. Ratings live on a 0–10 scale, where the
//! sum-of-squares form loses nothing that matters in f64.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Count, sum and sum of squares of one variable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunningStats {
    pub n: u64,
    pub sum: f64,
    pub sumsq: f64,
}

impl RunningStats {
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.sumsq += x * x;
    }

    /// [`push`](Self::push) when `x` is present, nothing otherwise, without a branch:
    /// adding zeros leaves the sums bit for bit what skipping would, and folding millions
    /// of ratings with ~5 % missing at random mispredicts a branch too often.
    #[inline]
    pub fn push_present(&mut self, x: Option<f64>) {
        let (n, x) = match x {
            Some(x) => (1, x),
            None => (0, 0.0),
        };
        self.n += n;
        self.sum += x;
        self.sumsq += x * x;
    }

    pub fn merge(&mut self, other: &RunningStats) {
        self.n += other.n;
        self.sum += other.sum;
        self.sumsq += other.sumsq;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// Sample variance (n − 1); `None` below two observations.
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        Some(((self.sumsq - self.sum * self.sum / n) / (n - 1.0)).max(0.0))
    }
}

/// A segment-weighted mean with its stratified standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stratified {
    pub mean: f64,
    /// sqrt(Σ w_s² · var_s / n_s); segments with one observation contribute no variance.
    pub se: f64,
    pub n: u64,
}

impl Stratified {
    /// The 95 % confidence interval, mean ± 1.96 · se.
    pub fn ci95(&self) -> (f64, f64) {
        (self.mean - 1.96 * self.se, self.mean + 1.96 * self.se)
    }
}

/// Σ_s w_s · mean_s over the segments that have observations, with the weights of
/// those segments renormalised to sum to 1. `None` when no segment has data.
pub fn stratified_mean(segments: &[(f64, RunningStats)]) -> Option<Stratified> {
    let present: Vec<&(f64, RunningStats)> = segments
        .iter()
        .filter(|(w, s)| s.n > 0 && *w > 0.0)
        .collect();
    let total: f64 = present.iter().map(|(w, _)| w).sum();
    if present.is_empty() || total <= 0.0 {
        return None;
    }
    let mut mean = 0.0;
    let mut var = 0.0;
    let mut n = 0;
    for (w, s) in present {
        let w = w / total;
        mean += w * s.mean()?;
        var += w * w * s.variance().unwrap_or(0.0) / s.n as f64;
        n += s.n;
    }
    Some(Stratified {
        mean,
        se: var.sqrt(),
        n,
    })
}

/// The relative size of a centred sum below which it is taken for rounding: sums of
/// millions of terms in any order stay well within it, and no real spread of survey
/// answers (whole or tenth points on a 10-point scale) comes near it.
const ROUNDING: f64 = 1e-12;

/// Weighted co-moments of two variables over the observations that have both
/// (pairwise deletion), mergeable like [`RunningStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PairStats {
    pub w: f64,
    pub wx: f64,
    pub wy: f64,
    pub wxx: f64,
    pub wyy: f64,
    pub wxy: f64,
}

impl PairStats {
    pub fn push(&mut self, x: f64, y: f64, weight: f64) {
        self.w += weight;
        self.wx += weight * x;
        self.wy += weight * y;
        self.wxx += weight * x * x;
        self.wyy += weight * y * y;
        self.wxy += weight * x * y;
    }

    pub fn merge(&mut self, o: &PairStats) {
        self.w += o.w;
        self.wx += o.wx;
        self.wy += o.wy;
        self.wxx += o.wxx;
        self.wyy += o.wyy;
        self.wxy += o.wxy;
    }

    /// The same co-moments with every observation's weight multiplied by `f`.
    pub fn scaled(&self, f: f64) -> PairStats {
        PairStats {
            w: self.w * f,
            wx: self.wx * f,
            wy: self.wy * f,
            wxx: self.wxx * f,
            wyy: self.wyy * f,
            wxy: self.wxy * f,
        }
    }

    /// Weighted Pearson correlation; `None` when either side has no variance.
    ///
    /// Each centred sum is the difference of two sums that can be far larger than it;
    /// what is left within their rounding counts as zero. Otherwise a constant variable
    /// (two respondents with the same average of 22/3) kept a variance of rounding
    /// noise and got an arbitrary correlation, and uncorrelated variables got 0 or a
    /// few 1e-7 depending on the order the sums were added in (a file whole or merged
    /// from parts).
    pub fn correlation(&self) -> Option<f64> {
        if self.w <= 0.0 {
            return None;
        }
        let centred = |sum: f64, mean_part: f64| {
            let c = sum - mean_part;
            let noise = ROUNDING * sum.abs().max(mean_part.abs());
            if c.abs() <= noise { 0.0 } else { c }
        };
        let cxx = centred(self.wxx, self.wx * self.wx / self.w);
        let cyy = centred(self.wyy, self.wy * self.wy / self.w);
        let cxy = centred(self.wxy, self.wx * self.wy / self.w);
        (cxx > 0.0 && cyy > 0.0).then(|| (cxy / (cxx * cyy).sqrt()).clamp(-1.0, 1.0))
    }
}

/// The co-moments of every pair (i < j) of `vars` variables, stored column-wise (one
/// array per sum, the pairs of the upper triangle in row order) so that adding one
/// respondent runs down contiguous arrays the compiler vectorises. Pair `idx` holds
/// exactly the [`PairStats`] that pushing the same observations one by one would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairTable {
    vars: usize,
    w: Vec<f64>,
    wx: Vec<f64>,
    wy: Vec<f64>,
    wxx: Vec<f64>,
    wyy: Vec<f64>,
    wxy: Vec<f64>,
}

impl PairTable {
    pub fn new(vars: usize) -> PairTable {
        let n = vars * vars.saturating_sub(1) / 2;
        PairTable {
            vars,
            w: vec![0.0; n],
            wx: vec![0.0; n],
            wy: vec![0.0; n],
            wxx: vec![0.0; n],
            wyy: vec![0.0; n],
            wxy: vec![0.0; n],
        }
    }

    pub fn len(&self) -> usize {
        self.w.len()
    }

    /// The table's six sums, for the binary cell codec (`cell.rs`).
    pub(crate) fn columns(&self) -> [&[f64]; 6] {
        [&self.w, &self.wx, &self.wy, &self.wxx, &self.wyy, &self.wxy]
    }

    /// A table from its six sums; `None` unless each holds one value per pair.
    pub(crate) fn from_columns(vars: usize, columns: [Vec<f64>; 6]) -> Option<PairTable> {
        let n = vars.checked_mul(vars.saturating_sub(1))? / 2;
        if columns.iter().any(|c| c.len() != n) {
            return None;
        }
        let [w, wx, wy, wxx, wyy, wxy] = columns;
        Some(PairTable {
            vars,
            w,
            wx,
            wy,
            wxx,
            wyy,
            wxy,
        })
    }

    pub fn vars(&self) -> usize {
        self.vars
    }

    /// Whether the table is whole for `vars` variables (a stored one may not be).
    pub fn has_vars(&self, vars: usize) -> bool {
        let n = vars * vars.saturating_sub(1) / 2;
        self.vars == vars
            && [&self.w, &self.wx, &self.wy, &self.wxx, &self.wyy, &self.wxy]
                .iter()
                .all(|v| v.len() == n)
    }

    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }

    /// Pair `idx` (see `pair_index` in the engine).
    pub fn get(&self, idx: usize) -> PairStats {
        PairStats {
            w: self.w[idx],
            wx: self.wx[idx],
            wy: self.wy[idx],
            wxx: self.wxx[idx],
            wyy: self.wyy[idx],
            wxy: self.wxy[idx],
        }
    }

    /// One observation of all variables, `None` where missing: for every pair with both
    /// present, `PairStats::push(x_i, x_j, 1.0)`. Missing partners add zeros instead of
    /// being skipped, which leaves every sum bit for bit the same and keeps the inner
    /// loop free of branches.
    pub fn push(&mut self, values: impl Iterator<Item = Option<f64>>) {
        let mut y: SmallVec<[f64; 32]> = SmallVec::with_capacity(self.vars);
        let mut yy: SmallVec<[f64; 32]> = SmallVec::with_capacity(self.vars);
        let mut m: SmallVec<[f64; 32]> = SmallVec::with_capacity(self.vars);
        for v in values.take(self.vars) {
            let (mi, yi) = v.map_or((0.0, 0.0), |v| (1.0, v));
            m.push(mi);
            y.push(yi);
            yy.push(yi * yi);
        }
        assert_eq!(y.len(), self.vars, "one value per variable");
        let mut start = 0;
        for i in 0..self.vars {
            let len = self.vars - i - 1;
            let range = start..start + len;
            start += len;
            if m[i] == 0.0 {
                continue;
            }
            let (x, xx) = (y[i], yy[i]);
            // All nine slices cut to `len` up front, so the loop has no bounds checks
            // left and vectorises.
            let (mj, yj, yyj) = (&m[i + 1..][..len], &y[i + 1..][..len], &yy[i + 1..][..len]);
            let w = &mut self.w[range.clone()][..len];
            let wx = &mut self.wx[range.clone()][..len];
            let wy = &mut self.wy[range.clone()][..len];
            let wxx = &mut self.wxx[range.clone()][..len];
            let wyy = &mut self.wyy[range.clone()][..len];
            let wxy = &mut self.wxy[range][..len];
            for t in 0..len {
                w[t] += mj[t];
                wx[t] += mj[t] * x;
                wy[t] += yj[t];
                wxx[t] += mj[t] * xx;
                wyy[t] += yyj[t];
                wxy[t] += x * yj[t];
            }
        }
    }

    pub fn merge(&mut self, o: &PairTable) {
        let sums = [
            (&mut self.w, &o.w),
            (&mut self.wx, &o.wx),
            (&mut self.wy, &o.wy),
            (&mut self.wxx, &o.wxx),
            (&mut self.wyy, &o.wyy),
            (&mut self.wxy, &o.wxy),
        ];
        for (a, b) in sums {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
    }
}

/// Ranks of `xs` from 1, tied values given the average of the ranks they span.
pub fn average_ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            r[*k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpearmanCi {
    pub n: usize,
    pub rho: f64,
    pub ci95: (f64, f64),
}

/// Spearman's rank correlation of paired observations (the Pearson correlation of
/// their ranks, ties given average ranks) with a 95 % interval from Fisher's z and the
/// standard error of Bonett & Wright (2000, Psychometrika 65(1), 23–28),
/// √((1 + ρ²/2) / (n − 3)), which holds its coverage for ρ away from 0 where
/// √(1 / (n − 3)) does not.
///
/// `None` below 4 pairs (no interval exists), when the two sides differ in length,
/// when a value is not finite, or when either side does not vary.
pub fn spearman_ci(xs: &[f64], ys: &[f64]) -> Option<SpearmanCi> {
    let n = xs.len();
    if n < 4 || ys.len() != n || xs.iter().chain(ys).any(|v| !v.is_finite()) {
        return None;
    }
    let (rx, ry) = (average_ranks(xs), average_ranks(ys));
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        let (a, b) = (a - mean, b - mean);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    let rho = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    // At |ρ| = 1 the z-transform is infinite: the interval closes on ρ.
    let z = rho.clamp(-1.0 + 1e-15, 1.0 - 1e-15).atanh();
    let se = ((1.0 + rho * rho / 2.0) / (n as f64 - 3.0)).sqrt();
    let ci95 = ((z - 1.96 * se).tanh(), (z + 1.96 * se).tanh());
    Some(SpearmanCi { n, rho, ci95 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(xs: &[f64]) -> RunningStats {
        let mut s = RunningStats::default();
        xs.iter().for_each(|&x| s.push(x));
        s
    }

    #[test]
    fn merging_parts_equals_the_union() {
        let (a, b) = ([7.0, 8.5, 9.0, 6.0], [10.0, 3.0, 8.0]);
        let mut merged = stats(&a);
        merged.merge(&stats(&b));
        let union = stats(&[a.as_slice(), b.as_slice()].concat());
        assert_eq!(merged, union);
        assert_eq!(union.mean(), Some(51.5 / 7.0));
        // Sample variance of 2, 4, 4, 4, 5, 5, 7, 9 is 32/7.
        assert!(
            (stats(&[2., 4., 4., 4., 5., 5., 7., 9.]).variance().unwrap() - 32.0 / 7.0).abs()
                < 1e-12
        );
    }

    #[test]
    fn stratified_mean_weights_segments_and_renormalises() {
        // Two segments, weights 0.25 / 0.75 (and an absent third with weight 0.5).
        let s1 = stats(&[8.0, 10.0]); // mean 9, var 2
        let s2 = stats(&[6.0, 7.0, 8.0]); // mean 7, var 1
        let r = stratified_mean(&[(0.25, s1), (0.75, s2), (0.5, RunningStats::default())]).unwrap();
        assert!((r.mean - (0.25 * 9.0 + 0.75 * 7.0)).abs() < 1e-12);
        let se = (0.25f64.powi(2) * 2.0 / 2.0 + 0.75f64.powi(2) * 1.0 / 3.0).sqrt();
        assert!((r.se - se).abs() < 1e-12);
        assert_eq!(r.n, 5);
        let (lo, hi) = r.ci95();
        assert!((hi - lo - 2.0 * 1.96 * se).abs() < 1e-12);
        assert_eq!(stratified_mean(&[(1.0, RunningStats::default())]), None);
    }

    #[test]
    fn pushing_when_present_equals_pushing_or_skipping() {
        let xs = [Some(7.0), None, Some(8.5), Some(1.0), None, Some(10.0)];
        let (mut a, mut b) = (RunningStats::default(), RunningStats::default());
        for x in xs {
            a.push_present(x);
            if let Some(x) = x {
                b.push(x);
            }
        }
        assert_eq!(a, b);
    }

    #[test]
    fn the_pair_table_equals_pushing_each_pair() {
        let rows = [
            [Some(7.0), None, Some(8.5), Some(1.0 / 3.0)],
            [None, Some(2.0), Some(9.0), Some(10.0)],
            [Some(4.25), Some(6.0), None, None],
            [Some(0.1), Some(0.2), Some(0.3), Some(0.7)],
        ];
        let mut table = PairTable::new(4);
        let mut pairs = vec![PairStats::default(); 6];
        for row in rows {
            table.push(row.into_iter());
            let mut idx = 0;
            for i in 0..4 {
                for j in i + 1..4 {
                    if let (Some(x), Some(y)) = (row[i], row[j]) {
                        pairs[idx].push(x, y, 1.0);
                    }
                    idx += 1;
                }
            }
        }
        assert_eq!((0..6).map(|i| table.get(i)).collect::<Vec<_>>(), pairs);
        let mut twice = table.clone();
        twice.merge(&table);
        assert_eq!(twice.get(5).w, 2.0 * pairs[5].w);
    }

    #[test]
    fn weighted_correlation_matches_pearson_and_merges() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let ys = [2.0, 4.0, 5.0, 4.0, 5.0];
        let mut all = PairStats::default();
        let (mut left, mut right) = (PairStats::default(), PairStats::default());
        for (i, (&x, &y)) in xs.iter().zip(&ys).enumerate() {
            all.push(x, y, 1.0);
            if i < 2 {
                left.push(x, y, 1.0)
            } else {
                right.push(x, y, 1.0)
            }
        }
        left.merge(&right);
        // Pearson r of these two series is 6 / sqrt(10 · 6) = 0.7746.
        assert!((all.correlation().unwrap() - 6.0 / 60f64.sqrt()).abs() < 1e-12);
        assert!((left.correlation().unwrap() - all.correlation().unwrap()).abs() < 1e-12);
        // Doubling every weight changes nothing.
        let mut doubled = PairStats::default();
        xs.iter()
            .zip(&ys)
            .for_each(|(&x, &y)| doubled.push(x, y, 2.0));
        assert!((doubled.correlation().unwrap() - all.correlation().unwrap()).abs() < 1e-12);
    }
}

#[cfg(test)]
mod spearman_tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn spearman_reproduces_the_published_examples() {
        // Wikipedia, "Spearman's rank correlation coefficient", IQ against hours of
        // television a week: Σd² = 194, ρ = 1 − 6·194 / (10·99) = −29/165.
        let iq = [
            106.0, 100.0, 86.0, 101.0, 99.0, 103.0, 97.0, 113.0, 112.0, 110.0,
        ];
        let tv = [7.0, 27.0, 2.0, 50.0, 28.0, 29.0, 20.0, 12.0, 6.0, 17.0];
        let r = spearman_ci(&iq, &tv).unwrap();
        assert_eq!(r.n, 10);
        assert!(close(r.rho, -29.0 / 165.0, 1e-12), "{}", r.rho);
        // By hand: z = atanh(−0.1757576) = −0.1776016, se = √((1 + 0.0154454) / 7)
        // = 0.3808722, z ± 1.96·se = (−0.9241111, 0.5689079): (−0.7278, 0.5146).
        let (lo, hi) = r.ci95;
        assert!(close(lo, (-0.924_111_1f64).tanh(), 1e-6), "{lo}");
        assert!(close(hi, 0.568_907_9f64.tanh(), 1e-6), "{hi}");
        assert!(close(lo, -0.7278, 1e-4) && close(hi, 0.5146, 1e-4));

        // "An Introduction to Business Statistics", Example 4-7 (rank correlation;
        // fliphtml5.com/eraqv/ufcc, p. 118): X 75 88 95 70 60 80 81 50 against
        // Y 120 134 150 115 110 140 142 100, Σd² = 6, ρ = 1 − 36/504 = 13/14 (printed
        // +0.93).
        let x = [75.0, 88.0, 95.0, 70.0, 60.0, 80.0, 81.0, 50.0];
        let y = [120.0, 134.0, 150.0, 115.0, 110.0, 140.0, 142.0, 100.0];
        let r = spearman_ci(&x, &y).unwrap();
        assert!(close(r.rho, 13.0 / 14.0, 1e-12), "{}", r.rho);
        // By hand: z = atanh(13/14) = 1.6479184, se = √((1 + 0.4311224) / 5) =
        // 0.5349995, so (tanh 0.5993194, tanh 2.6965175) = (0.5366, 0.9909).
        assert!(close(r.ci95.0, 0.5366, 1e-4), "{:?}", r.ci95);
        assert!(close(r.ci95.1, 0.9909, 1e-4), "{:?}", r.ci95);
    }

    #[test]
    fn a_constant_variable_has_no_correlation_whatever_its_rounding() {
        // Five respondents whose average is 4/3 each: wxx − wx²/w is 1.8e-15 of
        // rounding, not variance, and made a correlation of whatever the other side's
        // noise gave.
        let mut p = PairStats::default();
        for y in [7.0, 9.0, 6.0, 8.0, 10.0] {
            p.push(4.0 / 3.0, y, 1.0);
        }
        assert_eq!(p.correlation(), None);
        // A real spread, however small beside the values, is kept.
        let mut q = PairStats::default();
        for (x, y) in [(8.0, 7.0), (8.1, 9.0), (8.0, 6.0)] {
            q.push(x, y, 1.0);
        }
        assert!(q.correlation().is_some_and(|r| r > 0.5), "{q:?}");
    }

    #[test]
    fn ties_take_average_ranks_and_small_samples_have_no_interval() {
        // Ranks x 1, 2.5, 2.5, 4 and y 1, 3, 2, 4: Σ(dx·dy) = 4.5, Σdx² = 4.5,
        // Σdy² = 5, ρ = 4.5 / √22.5 = 3/√10.
        let r = spearman_ci(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!(close(r.rho, 3.0 / 10f64.sqrt(), 1e-12), "{}", r.rho);
        assert_eq!(average_ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        // A perfect relation: the interval closes on 1.
        let r = spearman_ci(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 8.0, 16.0]).unwrap();
        assert_eq!(r.rho, 1.0);
        assert!(r.ci95.0 > 0.99 && r.ci95.1 <= 1.0);
        assert!(spearman_ci(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).is_none());
        assert!(spearman_ci(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0]).is_none());
        assert!(spearman_ci(&[1.0, 1.0, 1.0, 1.0], &[1.0, 2.0, 3.0, 4.0]).is_none());
        assert!(spearman_ci(&[1.0, 2.0, f64::NAN, 4.0], &[1.0, 2.0, 3.0, 4.0]).is_none());
    }
}
