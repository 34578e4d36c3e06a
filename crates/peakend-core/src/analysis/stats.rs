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
    pub fn correlation(&self) -> Option<f64> {
        if self.w <= 0.0 {
            return None;
        }
        let cxx = self.wxx - self.wx * self.wx / self.w;
        let cyy = self.wyy - self.wy * self.wy / self.w;
        let cxy = self.wxy - self.wx * self.wy / self.w;
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
