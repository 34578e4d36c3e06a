//! Synthetic survey responses for demos, tests and benchmarks: reproducible for a
//! seed (ChaCha8), with customer segments that rate differently, visit purposes that
//! move the peaks (as the study observed), halls that perform differently, missing
//! answers and moments that a visit did not include.

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::id::HallId;
use crate::journey::Journey;
use crate::survey::{NeedRating, Rating, Response};

/// (segment, share of respondents, shift of satisfaction, shift of importance)
const SEGMENTS: [(&str, f64, f64, f64); 3] = [
    ("全球通", 0.25, 0.4, 0.2),
    ("神州行", 0.45, 0.0, 0.0),
    ("动感地带", 0.30, -0.4, -0.2),
];

/// (purpose, share, moments whose importance rises, moments usually skipped)
const PURPOSES: [(&str, f64, &[&str], &[&str]); 4] = [
    (
        "缴费",
        0.35,
        &["result", "queue"],
        &["phone_purchase", "data_trial"],
    ),
    (
        "购机",
        0.20,
        &["phone_purchase", "data_trial"],
        &["dispute"],
    ),
    (
        "办理业务",
        0.30,
        &["result", "counter_talk"],
        &["phone_purchase"],
    ),
    (
        "咨询",
        0.15,
        &["enquiry", "data_trial"],
        &["phone_purchase", "counter_wait"],
    ),
];

const FIRST_DAY: (i32, u32, u32) = (2026, 8, 1);
const DAYS: u64 = 92;

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], share: impl Fn(&T) -> f64) -> &'a T {
    let mut x: f64 = rng.random();
    for item in items {
        x -= share(item);
        if x <= 0.0 {
            return item;
        }
    }
    &items[items.len() - 1]
}

fn clamp_round(x: f64, lo: f64, hi: f64) -> f64 {
    x.round().clamp(lo, hi)
}

/// What [`responses_with`] adds to the plain synthetic survey.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynthOptions {
    /// The gap model's expectation items: about half of the respondents are asked them,
    /// and customers expect more of the moments that matter most to them, so gap 5
    /// (expectation − perception) is positive at the peaks and near 0 elsewhere.
    pub expectations: bool,
    /// The competitive assessment's items: about a third of the respondents also know
    /// a competitor's hall and rate its service at the moments their visit included.
    pub competitors: bool,
}

/// Respondents who rate a competitor too.
const COMPETITOR_KNOWN: f64 = 0.3;

/// Respondents asked the expectation items, and each item's chance to be answered.
const EXPECTATION_ASKED: f64 = 0.5;
const EXPECTATION_ANSWERED: f64 = 0.9;

/// `rows` responses to `journey` spread over `halls`; the same arguments give the same rows.
pub fn responses(
    journey: &Journey,
    halls: &[HallId],
    rows: usize,
    seed: u64,
) -> impl Iterator<Item = Response> {
    responses_with(journey, halls, rows, seed, SynthOptions::default())
}

/// [`responses`] with options. Expectations come from a stream of their own, so every
/// other answer is the same with them as without.
pub fn responses_with(
    journey: &Journey,
    halls: &[HallId],
    rows: usize,
    seed: u64,
    options: SynthOptions,
) -> impl Iterator<Item = Response> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut expectation_rng = ChaCha8Rng::seed_from_u64(seed);
    expectation_rng.set_stream(1);
    // A stream of its own too: answers with competitors equal those without.
    let mut competitor_rng = ChaCha8Rng::seed_from_u64(seed);
    competitor_rng.set_stream(2);
    let noise = Normal::new(0.0, 1.0).expect("unit normal");
    // Each hall performs a little better or worse, fixed for the seed.
    let hall_effect: Vec<f64> = halls
        .iter()
        .map(|_| noise.sample(&mut rng) * 0.35)
        .collect();
    let first = NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).expect("valid date");
    let journey = journey.clone();
    let halls = halls.to_vec();
    (0..rows).map(move |i| {
        let h = rng.random_range(0..halls.len().max(1));
        let (segment, _, sat_shift, imp_shift) = *pick(&mut rng, &SEGMENTS, |s| s.1);
        let (purpose, _, raised, skipped) = *pick(&mut rng, &PURPOSES, |p| p.1);
        let visit_mood = noise.sample(&mut rng) * 0.6;
        let mut ratings = Vec::with_capacity(journey.moments().len());
        let mut needs = Vec::new();
        for (j, m) in journey.moments().iter().enumerate() {
            let key = m.key.as_str();
            if skipped.contains(&key) && rng.random_bool(0.7) {
                ratings.push(Rating::default());
                continue;
            }
            let prior = m.importance.unwrap_or(8.0);
            let boost = if raised.contains(&key) { 0.7 } else { 0.0 };
            let imp = clamp_round(
                prior + imp_shift + boost + noise.sample(&mut rng),
                1.0,
                10.0,
            );
            let sat = clamp_round(
                7.6 + sat_shift
                    + hall_effect.get(h).copied().unwrap_or(0.0)
                    + visit_mood
                    + noise.sample(&mut rng) * 1.2,
                1.0,
                10.0,
            );
            ratings.push(Rating {
                importance: rng.random_bool(0.93).then_some(imp),
                satisfaction: rng.random_bool(0.95).then_some(sat),
                expectation: None,
                competitor: None,
            });
            // The first need of a moment is its core need in the reference data.
            for n in 0..m.core_needs.len() {
                if rng.random_bool(0.6) {
                    let x = clamp_round(
                        prior + 0.5 - 0.4 * n as f64 + noise.sample(&mut rng),
                        1.0,
                        10.0,
                    );
                    needs.push(NeedRating {
                        moment: j,
                        need: n,
                        importance: x,
                    });
                }
            }
        }
        if options.expectations && expectation_rng.random_bool(EXPECTATION_ASKED) {
            let rng = &mut expectation_rng;
            for (m, r) in journey.moments().iter().zip(&mut ratings) {
                // Asked of the moments the visit included (those it rated at all).
                if r.importance.is_none() && r.satisfaction.is_none() {
                    continue;
                }
                // The study's peaks (prior importance above ~9) are expected to be
                // better than the 7.6 customers see on average.
                let lift = 1.5 * (m.importance.unwrap_or(8.0) - 8.6).max(0.0);
                let e = clamp_round(
                    7.6 + 0.5 * sat_shift + lift + noise.sample(rng) * 0.9,
                    1.0,
                    10.0,
                );
                r.expectation = rng.random_bool(EXPECTATION_ANSWERED).then_some(e);
            }
        }
        if options.competitors && competitor_rng.random_bool(COMPETITOR_KNOWN) {
            let rng = &mut competitor_rng;
            for r in ratings.iter_mut().filter(|r| r.satisfaction.is_some()) {
                // The competitor's halls serve a little worse than ours on average.
                r.competitor = Some(clamp_round(7.3 + noise.sample(rng) * 1.1, 1.0, 10.0));
            }
        }
        let sats: Vec<f64> = ratings.iter().filter_map(|r| r.satisfaction).collect();
        let mean = if sats.is_empty() {
            7.5
        } else {
            sats.iter().sum::<f64>() / sats.len() as f64
        };
        let end = ratings
            .iter()
            .rev()
            .find_map(|r| r.satisfaction)
            .unwrap_or(mean);
        let overall = clamp_round(
            0.6 * mean + 0.4 * end + noise.sample(&mut rng) * 0.6,
            1.0,
            10.0,
        );
        let nps = clamp_round(overall + noise.sample(&mut rng) * 1.2 - 0.5, 0.0, 10.0);
        Response {
            respondent: format!("s{seed}-{i:08}"),
            hall: halls[h].clone(),
            date: first + Days::new(rng.random_range(0..DAYS)),
            segment: segment.to_owned(),
            purpose: Some(purpose.to_owned()),
            overall: rng.random_bool(0.97).then_some(overall),
            nps: rng.random_bool(0.9).then_some(nps),
            tolerable_wait_min: rng
                .random_bool(0.8)
                .then(|| clamp_round(16.0 + noise.sample(&mut rng) * 5.0, 1.0, 60.0)),
            ratings,
            needs,
            contact: None,
            comment: None,
            customer: None,
            short_form: false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{SurveyStats, analyze};
    use crate::peak::PeakRule;

    fn setup() -> (Journey, Vec<HallId>) {
        let j = crate::builtin::journeys().unwrap().remove(0);
        (
            j,
            vec![HallId::parse("h1").unwrap(), HallId::parse("h2").unwrap()],
        )
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let (j, halls) = setup();
        let a: Vec<_> = responses(&j, &halls, 50, 7).collect();
        assert_eq!(a, responses(&j, &halls, 50, 7).collect::<Vec<_>>());
        assert_ne!(a, responses(&j, &halls, 50, 8).collect::<Vec<_>>());
    }

    #[test]
    fn expectations_are_off_by_default_and_leave_the_other_answers_alone() {
        let (j, halls) = setup();
        let plain: Vec<_> = responses(&j, &halls, 300, 7).collect();
        assert!(
            plain
                .iter()
                .all(|r| r.ratings.iter().all(|x| x.expectation.is_none()))
        );
        let on = SynthOptions {
            expectations: true,
            ..SynthOptions::default()
        };
        let with: Vec<_> = responses_with(&j, &halls, 300, 7, on).collect();
        assert_eq!(
            with,
            responses_with(&j, &halls, 300, 7, on).collect::<Vec<_>>()
        );
        let strip = |r: &Response| Response {
            ratings: r
                .ratings
                .iter()
                .map(|x| Rating {
                    expectation: None,
                    competitor: None,
                    ..*x
                })
                .collect(),
            ..r.clone()
        };
        assert_eq!(with.iter().map(strip).collect::<Vec<_>>(), plain);
        let asked = with
            .iter()
            .filter(|r| r.ratings.iter().any(|x| x.expectation.is_some()))
            .count();
        assert!((100..200).contains(&asked), "about half asked: {asked}");
    }

    #[test]
    fn synthetic_expectations_open_a_gap_at_the_peaks() {
        let (j, halls) = setup();
        let on = SynthOptions {
            expectations: true,
            ..SynthOptions::default()
        };
        let mut stats = SurveyStats::new(&j);
        responses_with(&j, &halls, 4000, 3, on).for_each(|r| stats.push(&r));
        let a = analyze(&j, &stats, None, PeakRule::default()).unwrap();
        let gaps = a.gaps.expect("expectations were given");
        let gap = |k: &str| {
            gaps.moments
                .iter()
                .find(|m| m.moment.as_str() == k)
                .unwrap()
                .gap5
        };
        assert!(!a.peaks.is_empty());
        for p in &a.peaks {
            assert!(gap(p) > 0.4, "peak {p}: {}", gap(p));
        }
        // `arrive` (prior 7.62) is expected no better than it is seen.
        assert!(gap("arrive").abs() < 0.3, "{}", gap("arrive"));
    }

    #[test]
    fn synthetic_data_looks_like_a_survey() {
        let (j, halls) = setup();
        let rows: Vec<_> = responses(&j, &halls, 4000, 1).collect();
        let mut stats = SurveyStats::new(&j);
        rows.iter().for_each(|r| stats.push(r));
        assert_eq!(stats.segments.len(), 3);
        let a = analyze(&j, &stats, None, PeakRule::default()).unwrap();
        // The priors carry through: the study's top moments stay on top.
        assert!(a.peaks.contains(&"result".to_owned()), "{:?}", a.peaks);
        assert!(
            a.moments.iter().any(|m| m.n < 4000 * 9 / 10),
            "some answers are missing"
        );
        assert!(
            a.drivers.r2.unwrap() > 0.3,
            "overall depends on the moments"
        );
        let gold = &stats.segments["全球通"];
        let young = &stats.segments["动感地带"];
        assert!(gold.satisfaction[13].mean().unwrap() > young.satisfaction[13].mean().unwrap());
        assert!(rows.iter().all(|r| {
            r.ratings
                .iter()
                .flat_map(|x| [x.importance, x.satisfaction])
                .flatten()
                .all(|v| (1.0..=10.0).contains(&v))
        }));
    }
}
