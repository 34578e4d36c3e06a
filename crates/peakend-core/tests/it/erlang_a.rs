//! Erlang A (M/M/N+M) against Erlang C, an independent simulation, and at the edges.

use peakend_core::ops::erlang;
use peakend_core::ops::erlang_a::{self, SteadyState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn near(x: f64, y: f64, tol: f64) {
    assert!((x - y).abs() <= tol, "{x} vs {y} (tol {tol})");
}

/// θ → 0 (here 1e−10; at 1e−9 the ASA moves by 3e−6 s, θ's own effect) is Erlang C: the published example (100 calls per 30 min, AHT 180 s, 14 agents,
/// 20 s: P(wait) 0.1741, service level 0.8884, ASA 7.84 s) to within 1e−6.
#[test]
fn erlang_a_with_patient_callers_is_erlang_c() {
    let (lambda, mu, theta) = (200.0 / 3600.0, 1.0 / 180.0, 1e-10);
    let a = erlang::traffic(200.0, 180.0);
    near(
        erlang_a::p_wait(lambda, mu, theta, 14),
        erlang::p_wait(a, 14),
        1e-6,
    );
    near(
        erlang_a::service_level(lambda, mu, theta, 14, 20.0),
        erlang::service_level(a, 14, 180.0, 20.0),
        1e-6,
    );
    near(
        erlang_a::asa_s(lambda, mu, theta, 14),
        erlang::asa_s(a, 14, 180.0),
        1e-6,
    );
    let s = erlang_a::evaluate(200.0, 180.0, 1e9, 14, 20.0).unwrap();
    near(s.p_wait, 0.1741, 5e-5);
    near(s.service_level, 0.8884, 5e-5);
    near(s.asa_s, 7.84, 5e-3);
    assert!(s.p_abandon < 1e-6);
}

/// What one simulated run measured: per-batch means of P(wait), P(abandon), the service
/// level within `target_s`, and (over the whole run) the ASA of answered callers.
struct Sim {
    batches: Vec<[f64; 3]>,
    asa_batches: Vec<f64>,
}

/// M/M/N+M, first come first served, by the agents' next free times: a caller who
/// arrives at T with patience τ would start at s = max(T, earliest free time); if
/// s − T > τ it leaves without taking an agent. Written independently of the formulas.
fn simulate(
    lambda: f64,
    mu: f64,
    theta: f64,
    n: usize,
    target_s: f64,
    callers: usize,
    seed: u64,
) -> Sim {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut exp = |rate: f64| -(1.0 - rng.random::<f64>()).ln() / rate;
    let mut free = vec![0.0_f64; n];
    let mut now = 0.0;
    let warm = 20_000;
    let batch = 10_000;
    let (mut batches, mut asa_batches) = (Vec::new(), Vec::new());
    let (mut waited, mut abandoned, mut in_time, mut answered, mut wait_sum) =
        (0usize, 0usize, 0usize, 0usize, 0.0);
    for i in 0..warm + callers {
        now += exp(lambda);
        let patience = exp(theta);
        let service = exp(mu);
        let (slot, &earliest) = free
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        let start = earliest.max(now);
        let wait = start - now;
        if i < warm {
            if wait <= patience {
                free[slot] = start + service;
            }
            continue;
        }
        if earliest > now {
            waited += 1;
        }
        if wait > patience {
            abandoned += 1;
        } else {
            free[slot] = start + service;
            answered += 1;
            wait_sum += wait;
            if wait <= target_s {
                in_time += 1;
            }
        }
        if (i - warm + 1) % batch == 0 {
            let b = batch as f64;
            batches.push([waited as f64 / b, abandoned as f64 / b, in_time as f64 / b]);
            asa_batches.push(wait_sum / answered as f64);
            (waited, abandoned, in_time, answered, wait_sum) = (0, 0, 0, 0, 0.0);
        }
    }
    Sim {
        batches,
        asa_batches,
    }
}

/// Mean and standard error of batch means.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let k = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / k;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (k - 1.0);
    (m, (var / k).sqrt())
}

/// λ = 200/h, AHT 180 s, mean patience 120 s, 20 s target, N = 9 and 11: 400 000
/// simulated callers in 40 batches each; formula and simulation agree within four
/// standard errors of the batch means (about 1 % of the ASA and 0.2–0.4 points of the
/// shares).
#[test]
fn erlang_a_agrees_with_a_simulation() {
    let (lambda, mu, theta, t) = (200.0 / 3600.0, 1.0 / 180.0, 1.0 / 120.0, 20.0);
    for (n, seed) in [(9u32, 7u64), (11, 11)] {
        let s = SteadyState::new(lambda, mu, theta, n).unwrap();
        let formula = [s.p_wait(), s.p_abandon(), s.service_level(t), s.asa_s()];
        let sim = simulate(lambda, mu, theta, n as usize, t, 400_000, seed);
        let names = ["P(wait)", "P(abandon)", "SL(20 s)", "ASA s"];
        for (i, name) in names.iter().enumerate() {
            let xs: Vec<f64> = if i < 3 {
                sim.batches.iter().map(|b| b[i]).collect()
            } else {
                sim.asa_batches.clone()
            };
            let (m, se) = mean_se(&xs);
            println!(
                "N = {n}: {name}: formula {:.5}, simulation {m:.5} ± {se:.5} (SE)",
                formula[i]
            );
            near(m, formula[i], 4.0 * se);
        }
    }
}

/// More agents never raise P(abandon) nor lower the service level.
#[test]
fn erlang_a_more_agents_never_hurt() {
    for theta in [1.0 / 30.0, 1.0 / 120.0, 1.0 / 3600.0] {
        let (mut ab, mut sl, mut wait) = (1.0, 0.0, 1.0);
        for n in 1..=40 {
            let s = SteadyState::new(200.0 / 3600.0, 1.0 / 180.0, theta, n).unwrap();
            assert!(s.p_abandon() <= ab + 1e-15, "θ {theta}, n {n}");
            assert!(s.service_level(20.0) >= sl - 1e-15, "θ {theta}, n {n}");
            assert!(s.p_wait() <= wait + 1e-15, "θ {theta}, n {n}");
            (ab, sl, wait) = (s.p_abandon(), s.service_level(20.0), s.p_wait());
        }
    }
}

/// Hundreds of agents, huge loads, impatient and near-endlessly patient callers: finite
/// shares in [0, 1], a finite or infinite (never NaN) ASA, no panic.
#[test]
fn erlang_a_extremes_stay_finite() {
    let per_hour = [0.0, 1.0, 200.0, 6000.0, 1e5, 1e6];
    let patience = [1e-6, 1.0, 120.0, 1e9];
    for &arrivals in &per_hour {
        for &p in &patience {
            for n in [0, 1, 14, 500] {
                let s = erlang_a::evaluate(arrivals, 180.0, p, n, 20.0).unwrap();
                for x in [s.p_wait, s.p_abandon, s.service_level, s.occupancy] {
                    assert!(
                        (0.0..=1.0).contains(&x),
                        "{arrivals}/h, patience {p}, n {n}: {s:?}"
                    );
                }
                assert!(
                    !s.asa_s.is_nan() && s.asa_s >= 0.0,
                    "{arrivals}/h, patience {p}, n {n}: {s:?}"
                );
            }
        }
    }
    // θ = 0 exactly is Erlang C, unstable queue included.
    assert_eq!(erlang_a::p_wait(1.0, 0.1, 0.0, 5), 1.0);
    assert_eq!(erlang_a::service_level(1.0, 0.1, 0.0, 5, 20.0), 0.0);
    // Overload with impatient callers: answered ≈ N/A.
    let s = erlang_a::evaluate(1e5, 180.0, 60.0, 500, 20.0).unwrap();
    near(s.p_abandon, 1.0 - 500.0 / (1e5 * 180.0 / 3600.0), 1e-3);
    assert!(erlang_a::p_wait(f64::NAN, 1.0, 1.0, 3).is_nan());
    assert!(erlang_a::evaluate(10.0, 180.0, 0.0, 3, 20.0).is_none());
    let big = erlang_a::counters_needed(6000.0, 240.0, 180.0, 0.9, 60.0, Some(0.02)).unwrap();
    assert!(big.counters > 350 && big.counters < 440, "{big:?}");
    assert!(big.service_level >= 0.9 && big.p_abandon <= 0.02);
}
