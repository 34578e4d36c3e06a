//! The short survey form: about a minute on a phone, yet every moment still measured.
//!
//! A respondent names the visit purpose first. The form then asks the moments that
//! matter most for that purpose — its peaks and the journey's end — and a few of the
//! others drawn at random (planned missingness, a "split questionnaire" design). Each
//! other moment is asked of the same share `k / m` of the purpose's respondents, and
//! which ones a respondent gets depends only on a seed drawn before any answer, never on
//! the answers. So, within a purpose, a moment's unasked ratings are missing completely
//! at random: the mean of those who were asked estimates the mean of all, without bias.
//! The price is precision: a moment asked of a share `p` of respondents has `p·n`
//! answers, so its 95 % interval is `1/√p` times as wide as the long form's (see
//! [`ShortPlan::interval_factor`] and docs/survey-form.md).
//!
//! A random subset, not a fixed rotation, so that every pair of moments is asked
//! together by some respondents and the key-driver correlations stay estimable.

use rand::SeedableRng;
use rand::seq::index::sample;

use crate::peak::PeakRule;

/// Which moments a purpose's short form asks: always `core`, and `rotating` of `others`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShortPlan {
    /// Journey indices asked of everyone with this purpose (peaks and end), ascending.
    pub core: Vec<usize>,
    /// The other moments, ascending; each asked with probability `rotating / others.len()`.
    pub others: Vec<usize>,
    pub rotating: usize,
}

/// How many of the other moments a short form asks besides the peaks and the end: with
/// 3 peaks and the end of 16 moments, 7 ratings, about a minute of tapping.
pub const ROTATING: usize = 3;

impl ShortPlan {
    /// The plan for a journey of `moments` moments whose peaks for the purpose are
    /// `peaks` and whose end is the last moment. Indices out of range are ignored.
    pub fn new(moments: usize, peaks: &[usize], rotating: usize) -> ShortPlan {
        let mut core: Vec<usize> = peaks.iter().copied().filter(|&i| i < moments).collect();
        if moments > 0 {
            core.push(moments - 1);
        }
        core.sort_unstable();
        core.dedup();
        let others: Vec<usize> = (0..moments).filter(|i| !core.contains(i)).collect();
        let rotating = rotating.min(others.len());
        ShortPlan {
            core,
            others,
            rotating,
        }
    }

    /// The probability that a respondent of this purpose is asked moment `i`.
    pub fn inclusion(&self, i: usize) -> f64 {
        if self.core.contains(&i) {
            1.0
        } else if self.others.contains(&i) {
            self.rotating as f64 / self.others.len() as f64
        } else {
            0.0
        }
    }

    /// How much wider a moment's interval is than with the long form for the same
    /// respondents: `1/√p` (∞ for a moment never asked).
    pub fn interval_factor(&self, i: usize) -> f64 {
        1.0 / self.inclusion(i).sqrt()
    }

    /// The moments one respondent is asked, ascending: the core and `rotating` others
    /// drawn uniformly by `seed` (the same seed, the same form).
    pub fn draw(&self, seed: u64) -> Vec<usize> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut asked = self.core.clone();
        asked.extend(
            sample(&mut rng, self.others.len(), self.rotating)
                .into_iter()
                .map(|j| self.others[j]),
        );
        asked.sort_unstable();
        asked
    }
}

/// The peaks of a set of importances by the peak rule, ignoring moments without one
/// (a journey's prior importances, when no survey of the purpose is large enough).
pub fn peaks_of(importance: &[Option<f64>], rule: PeakRule) -> Vec<usize> {
    let known: Vec<(usize, f64)> = importance
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|x| (i, x)))
        .collect();
    let values: Vec<f64> = known.iter().map(|&(_, v)| v).collect();
    let (peaks, _) = rule.apply(&values);
    peaks.into_iter().map(|j| known[j].0).collect()
}

/// A form's seed from its one-time id (FNV-1a: stable across builds and platforms, so a
/// form re-rendered after a problem asks the same moments).
pub fn seed_of(id: &str) -> u64 {
    crate::id::stable_hash(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rand_distr::{Distribution, Normal};

    /// The study's 16 published importances.
    const STUDY: [f64; 16] = [
        8.27, 8.18, 8.42, 8.46, 8.86, 7.62, 9.08, 9.22, 8.01, 9.26, 8.14, 8.93, 7.80, 9.33, 8.71,
        8.50,
    ];

    #[test]
    fn the_study_short_form_asks_its_peaks_the_end_and_three_others() {
        let imp: Vec<Option<f64>> = STUDY.iter().map(|&x| Some(x)).collect();
        let peaks = peaks_of(&imp, PeakRule::default());
        // result (14th), phone_purchase (10th) and data_trial (8th): mean 8.55 + 1 sd.
        assert_eq!(peaks, vec![13, 9, 7]);
        let plan = ShortPlan::new(16, &peaks, ROTATING);
        assert_eq!(plan.core, vec![7, 9, 13, 15]);
        assert_eq!(plan.others.len(), 12);
        assert_eq!(plan.inclusion(15), 1.0);
        assert_eq!(plan.inclusion(0), 0.25);
        assert!((plan.interval_factor(0) - 2.0).abs() < 1e-12);
        let asked = plan.draw(7);
        assert_eq!(asked.len(), 7);
        assert_eq!(plan.draw(7), asked, "the same seed asks the same moments");
        assert!(plan.core.iter().all(|c| asked.contains(c)));
    }

    #[test]
    fn every_other_moment_is_asked_equally_often_and_every_pair_together() {
        let plan = ShortPlan::new(16, &[13, 9, 7], ROTATING);
        let mut asked = [0u32; 16];
        let mut together = [[0u32; 16]; 16];
        let forms = 24_000;
        for i in 0..forms {
            let a = plan.draw(seed_of(&format!("web-{i:032x}")));
            for &x in &a {
                asked[x] += 1;
                for &y in &a {
                    together[x][y] += 1;
                }
            }
        }
        for &o in &plan.others {
            // p = 0.25: 6,000 expected, sd ≈ 67.
            let share = f64::from(asked[o]) / f64::from(forms);
            assert!((share - 0.25).abs() < 0.015, "moment {o}: {share}");
        }
        for &x in &plan.others {
            for &y in &plan.others {
                assert!(together[x][y] > 0, "{x} and {y} never asked together");
            }
        }
    }

    /// The unbiasedness claim on simulated respondents: within a purpose, the mean of
    /// those asked a rotating moment falls within a few standard errors of everyone's.
    #[test]
    fn short_form_means_estimate_the_long_form_means() {
        let plan = ShortPlan::new(16, &[13, 9, 7], ROTATING);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let n = 20_000;
        let mut full = [(0.0, 0u32); 16];
        let mut short = [(0.0, 0u32); 16];
        for i in 0..n {
            let asked = plan.draw(seed_of(&format!("r{i}")));
            // A respondent's general mood moves all of their ratings together.
            let mood = Normal::new(0.0, 1.0).unwrap().sample(&mut rng);
            for m in 0..16 {
                let x = (6.0 + 0.2 * m as f64 + mood + rng.random::<f64>()).clamp(1.0, 10.0);
                full[m].0 += x;
                full[m].1 += 1;
                if asked.contains(&m) {
                    short[m].0 += x;
                    short[m].1 += 1;
                }
            }
        }
        for m in 0..16 {
            let f = full[m].0 / f64::from(full[m].1);
            let s = short[m].0 / f64::from(short[m].1);
            let se = 1.1 / f64::from(short[m].1).sqrt();
            assert!((f - s).abs() < 4.0 * se, "moment {m}: {f} vs {s}");
        }
    }

    #[test]
    fn degenerate_journeys_do_not_panic() {
        let empty = ShortPlan::new(0, &[3], ROTATING);
        assert!(empty.draw(1).is_empty());
        let tiny = ShortPlan::new(2, &[0, 9], ROTATING);
        assert_eq!(tiny.draw(1), vec![0, 1]);
        assert_eq!(tiny.rotating, 0);
        assert!(peaks_of(&[None, None], PeakRule::default()).is_empty());
    }
}
