//! Key drivers by Johnson's (2000) relative weights: with R_xx = QΛQᵀ, the
//! orthogonal counterpart Z = QΛ^½Qᵀ, β* = Z⁻¹ r_xy and ε_j = Σ_k Z_jk² β*_k²;
//! Σ ε = R² of the regression of the outcome on all predictors.

use nalgebra::{DMatrix, DVector};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelativeWeights {
    /// ε_j, each predictor's share of R² in R² units.
    pub raw: Vec<f64>,
    /// ε_j / R² × 100.
    pub shares: Vec<f64>,
    pub r2: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("the correlation matrix is {rows}×{cols} but there are {targets} outcome correlations")]
    Shape {
        rows: usize,
        cols: usize,
        targets: usize,
    },
    #[error("the predictors explain nothing (R² = 0)")]
    NoVariance,
}

/// Eigenvalues below this are treated as zero: collinear moments (or a pairwise-deleted
/// matrix that is not quite positive semi-definite) get a pseudo-inverse, not a failure.
const EIGEN_FLOOR: f64 = 1e-10;

/// Relative weights from the predictors' correlation matrix `rxx` (row-major, k×k) and
/// their correlations with the outcome `rxy` (k).
pub fn relative_weights(rxx: &[Vec<f64>], rxy: &[f64]) -> Result<RelativeWeights, DriverError> {
    let k = rxy.len();
    if rxx.len() != k || rxx.iter().any(|r| r.len() != k) {
        return Err(DriverError::Shape {
            rows: rxx.len(),
            cols: rxx.first().map_or(0, Vec::len),
            targets: k,
        });
    }
    let r = DMatrix::from_fn(k, k, |i, j| rxx[i][j]);
    let eigen = r.symmetric_eigen();
    let q = &eigen.eigenvectors;
    let clamp = |l: f64| if l > EIGEN_FLOOR { l } else { 0.0 };
    let sqrt_l = DMatrix::from_diagonal(&eigen.eigenvalues.map(|l| clamp(l).sqrt()));
    let inv_sqrt_l = DMatrix::from_diagonal(&eigen.eigenvalues.map(|l| {
        let l = clamp(l);
        if l > 0.0 { 1.0 / l.sqrt() } else { 0.0 }
    }));
    let z = q * &sqrt_l * q.transpose();
    let z_inv = q * &inv_sqrt_l * q.transpose();
    let beta = z_inv * DVector::from_column_slice(rxy);
    let raw: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|m| z[(j, m)].powi(2) * beta[m].powi(2)).sum())
        .collect();
    let r2: f64 = raw.iter().sum();
    if r2 <= 0.0 {
        return Err(DriverError::NoVariance);
    }
    let shares = raw.iter().map(|e| 100.0 * e / r2).collect();
    Ok(RelativeWeights { raw, shares, r2 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::PairStats;

    /// R's `attitude` data set (Chatterjee & Price 1977): rating, then complaints,
    /// privileges, learning, raises, critical, advance, for 30 departments.
    const ATTITUDE: [[f64; 7]; 30] = [
        [43., 51., 30., 39., 61., 92., 45.],
        [63., 64., 51., 54., 63., 73., 47.],
        [71., 70., 68., 69., 76., 86., 48.],
        [61., 63., 45., 47., 54., 84., 35.],
        [81., 78., 56., 66., 71., 83., 47.],
        [43., 55., 49., 44., 54., 49., 34.],
        [58., 67., 42., 56., 66., 68., 35.],
        [71., 75., 50., 55., 70., 66., 41.],
        [72., 82., 72., 67., 71., 83., 31.],
        [67., 61., 45., 47., 62., 80., 41.],
        [64., 53., 53., 58., 58., 67., 34.],
        [67., 60., 47., 39., 59., 74., 41.],
        [69., 62., 57., 42., 55., 63., 25.],
        [68., 83., 83., 45., 59., 77., 35.],
        [77., 77., 54., 72., 79., 77., 46.],
        [81., 90., 50., 72., 60., 54., 36.],
        [74., 85., 64., 69., 79., 79., 63.],
        [65., 60., 65., 75., 55., 80., 60.],
        [65., 70., 46., 57., 75., 85., 46.],
        [50., 58., 68., 54., 64., 78., 52.],
        [50., 40., 33., 34., 43., 64., 33.],
        [64., 61., 52., 62., 66., 80., 41.],
        [53., 66., 52., 50., 63., 80., 37.],
        [40., 37., 42., 58., 50., 57., 49.],
        [63., 54., 42., 48., 66., 75., 33.],
        [66., 77., 66., 63., 88., 76., 72.],
        [78., 75., 58., 74., 80., 78., 49.],
        [48., 57., 44., 45., 51., 83., 38.],
        [85., 85., 71., 71., 77., 74., 55.],
        [82., 82., 39., 59., 64., 78., 39.],
    ];

    fn correlation(a: usize, b: usize) -> f64 {
        let mut s = PairStats::default();
        ATTITUDE.iter().for_each(|row| s.push(row[a], row[b], 1.0));
        s.correlation().unwrap()
    }

    #[test]
    fn attitude_matches_the_published_relative_weights() {
        let rxx: Vec<Vec<f64>> = (1..7)
            .map(|i| (1..7).map(|j| correlation(i, j)).collect())
            .collect();
        let rxy: Vec<f64> = (1..7).map(|i| correlation(i, 0)).collect();
        let rw = relative_weights(&rxx, &rxy).unwrap();
        let shares: Vec<String> = rw.shares.iter().map(|s| format!("{s:.2}")).collect();
        assert_eq!(shares, ["49.52", "7.64", "22.33", "16.62", "1.13", "2.76"]);
        // R² of lm(rating ~ ., attitude) is 0.7326.
        assert_eq!(format!("{:.4}", rw.r2), "0.7326");
    }

    #[test]
    fn one_predictor_gets_everything_and_collinear_ones_share() {
        let rw = relative_weights(&[vec![1.0]], &[0.6]).unwrap();
        assert!((rw.r2 - 0.36).abs() < 1e-12 && (rw.shares[0] - 100.0).abs() < 1e-9);
        // Two identical predictors split the weight equally instead of failing.
        let rw = relative_weights(&[vec![1.0, 1.0], vec![1.0, 1.0]], &[0.6, 0.6]).unwrap();
        assert!((rw.shares[0] - 50.0).abs() < 1e-6 && (rw.r2 - 0.36).abs() < 1e-9);
        assert!(matches!(
            relative_weights(&[vec![1.0]], &[0.0]),
            Err(DriverError::NoVariance)
        ));
        assert!(matches!(
            relative_weights(&[vec![1.0]], &[0.1, 0.2]),
            Err(DriverError::Shape { .. })
        ));
    }
}
