//! Erlang A (M/M/N+M): Erlang C with callers who give up. Poisson arrivals at rate λ,
//! exponential handling at rate μ = 1/AHT on each of N agents, and exponential patience
//! with mean 1/θ (θ the abandonment rate). Formulas and method: docs/methods.md.
//!
//! Rates here are per second. The service level is the share of *offered* callers
//! answered within the target (callers who abandon count against it).

use serde::Serialize;

use super::erlang::traffic;

/// The longest queue the chain is followed to; a longer one is cut there (arrivals that
/// find it full count as abandoning). Only hopeless overload with near-zero abandonment
/// reaches it.
const MAX_QUEUE: usize = 1 << 20;
/// Terms of the chain below e^−46 ≈ 1e−20 of the largest (past the mode) are dropped.
const LN_CUT: f64 = -46.0;
/// Poisson and binomial terms below e^−60 of their mode are dropped.
const LN_WINDOW: f64 = -60.0;
/// Callers' weights below this are not worth a service-level term.
const TINY: f64 = 1e-30;

#[derive(Debug, Clone, PartialEq)]
enum Chain {
    /// No arrivals: the system is empty.
    Empty,
    /// θ = 0 and N ≤ A: Erlang C's unbounded queue.
    Unstable,
    Solved {
        /// π_k for k = 0..N−1 (some agent idle).
        below: Vec<f64>,
        /// π_{N+j} for j = 0, 1, …: all agents busy and j waiting.
        queue: Vec<f64>,
        truncated: bool,
    },
}

/// The steady state of the M/M/N+M queue and the measures computed from it.
#[derive(Debug, Clone, PartialEq)]
pub struct SteadyState {
    lambda: f64,
    mu: f64,
    theta: f64,
    n: u32,
    chain: Chain,
}

impl SteadyState {
    /// Solves the birth–death chain (up λ; down kμ below N, Nμ + jθ with j waiting) in
    /// log space, so hundreds of agents do not overflow. `None` unless λ ≥ 0, μ > 0 and
    /// θ ≥ 0 are finite and A = λ/μ is finite.
    pub fn new(lambda: f64, mu: f64, theta: f64, n: u32) -> Option<Self> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !(ok(lambda) && ok(mu) && ok(theta) && mu > 0.0 && (lambda / mu).is_finite()) {
            return None;
        }
        let a = lambda / mu;
        let chain = if lambda == 0.0 {
            Chain::Empty
        } else if theta == 0.0 && f64::from(n) <= a {
            Chain::Unstable
        } else {
            let ln_a = a.ln();
            let mut below = Vec::with_capacity(n as usize);
            let mut lw = 0.0;
            let mut lmax = 0.0_f64;
            for k in 0..n {
                if k > 0 {
                    lw += ln_a - f64::from(k).ln();
                }
                below.push(lw);
                lmax = lmax.max(lw);
            }
            if n > 0 {
                lw += ln_a - f64::from(n).ln();
            }
            // State N (j = 0).
            let mut queue = vec![lw];
            lmax = lmax.max(lw);
            let (ln_l, nmu) = (lambda.ln(), f64::from(n) * mu);
            let mut truncated = false;
            loop {
                let j = queue.len() as f64;
                let ln_ratio = ln_l - (nmu + j * theta).ln();
                lw += ln_ratio;
                if ln_ratio <= 0.0 && lw < lmax + LN_CUT {
                    break;
                }
                if queue.len() >= MAX_QUEUE {
                    truncated = true;
                    break;
                }
                queue.push(lw);
                lmax = lmax.max(lw);
            }
            let mut z = 0.0;
            for x in below.iter_mut().chain(queue.iter_mut()) {
                *x = (*x - lmax).exp();
                z += *x;
            }
            for x in below.iter_mut().chain(queue.iter_mut()) {
                *x /= z;
            }
            Chain::Solved {
                below,
                queue,
                truncated,
            }
        };
        Some(Self {
            lambda,
            mu,
            theta,
            n,
            chain,
        })
    }

    /// π_k, the probability of k callers in the system (served and waiting).
    pub fn probability(&self, k: usize) -> f64 {
        match &self.chain {
            Chain::Empty => f64::from(u8::from(k == 0)),
            Chain::Unstable => 0.0,
            Chain::Solved { below, queue, .. } => {
                let n = self.n as usize;
                if k < n {
                    below[k]
                } else {
                    queue.get(k - n).copied().unwrap_or(0.0)
                }
            }
        }
    }

    /// Probability that a caller who finds j waiting ahead is eventually answered:
    /// Nμ / (Nμ + (j+1)θ); the last state of a cut chain answers nobody.
    fn answered(&self, j: usize, len: usize, truncated: bool) -> f64 {
        if truncated && j + 1 == len {
            return 0.0;
        }
        let nmu = f64::from(self.n) * self.mu;
        if nmu == 0.0 {
            return 0.0;
        }
        nmu / (nmu + (j as f64 + 1.0) * self.theta)
    }

    /// Probability that an arrival finds every agent busy (PASTA: Σ_{k≥N} π_k).
    pub fn p_wait(&self) -> f64 {
        match &self.chain {
            Chain::Empty => 0.0,
            Chain::Unstable => 1.0,
            Chain::Solved { queue, .. } => queue.iter().sum::<f64>().min(1.0),
        }
    }

    /// Mean number waiting, E[Q] = Σ_j j·π_{N+j} (infinite for an unstable queue).
    pub fn mean_queue(&self) -> f64 {
        match &self.chain {
            Chain::Empty => 0.0,
            Chain::Unstable => f64::INFINITY,
            Chain::Solved { queue, .. } => {
                queue.iter().enumerate().map(|(j, p)| j as f64 * p).sum()
            }
        }
    }

    /// Share of callers who abandon, θ·E[Q]/λ, summed state by state as
    /// Σ_j π_{N+j}·(j+1)θ / (Nμ + (j+1)θ) (the same by the balance equations, with no
    /// division by λ). Erlang C's unstable queue loses nobody but answers nobody: 0.
    pub fn p_abandon(&self) -> f64 {
        match &self.chain {
            Chain::Empty | Chain::Unstable => 0.0,
            Chain::Solved {
                queue, truncated, ..
            } => {
                let len = queue.len();
                queue
                    .iter()
                    .enumerate()
                    .map(|(j, p)| p * (1.0 - self.answered(j, len, *truncated)))
                    .sum::<f64>()
                    .clamp(0.0, 1.0)
            }
        }
    }

    /// Share of callers eventually answered, 1 − P(abandon), without the cancellation.
    fn p_answered(&self) -> f64 {
        match &self.chain {
            Chain::Empty => 1.0,
            Chain::Unstable => 0.0,
            Chain::Solved {
                below,
                queue,
                truncated,
            } => {
                let len = queue.len();
                let waited: f64 = queue
                    .iter()
                    .enumerate()
                    .map(|(j, p)| p * self.answered(j, len, *truncated))
                    .sum();
                (below.iter().sum::<f64>() + waited).min(1.0)
            }
        }
    }

    /// Share of offered callers answered within `target_s` (abandons count against).
    ///
    /// A caller who finds j waiting is answered within t with probability
    /// E[e^(−θW); W ≤ t], W = Σ_{i=0}^{j} Exp(Nμ + iθ) its wait if it had endless
    /// patience; tilting each stage by e^(−θ·) turns this into
    /// Nμ/(Nμ+(j+1)θ) · P(Σ_{i=1}^{j+1} Exp(Nμ + iθ) ≤ t), computed by uniformisation
    /// ([`reach_within`]); see docs/methods.md.
    pub fn service_level(&self, target_s: f64) -> f64 {
        let Chain::Solved {
            below,
            queue,
            truncated,
        } = &self.chain
        else {
            return match self.chain {
                Chain::Empty => 1.0,
                _ => 0.0,
            };
        };
        let t = if target_s.is_nan() {
            0.0
        } else {
            target_s.max(0.0)
        };
        let len = queue.len();
        let weights: Vec<f64> = queue
            .iter()
            .enumerate()
            .map(|(j, p)| p * self.answered(j, len, *truncated))
            .collect();
        let nmu = f64::from(self.n) * self.mu;
        let sl = below.iter().sum::<f64>() + reach_within(nmu, self.theta, &weights, t);
        sl.clamp(0.0, 1.0)
    }

    /// Average speed of answer: the mean wait of the callers who are answered,
    /// Σ_j π_{N+j}·Nμ/(Nμ+(j+1)θ)·Σ_{i=1}^{j+1} 1/(Nμ+iθ) ÷ P(answered). Infinite when
    /// nobody is answered.
    pub fn asa_s(&self) -> f64 {
        let Chain::Solved {
            queue, truncated, ..
        } = &self.chain
        else {
            return match self.chain {
                Chain::Empty => 0.0,
                _ => f64::INFINITY,
            };
        };
        let answered = self.p_answered();
        if answered <= 0.0 {
            return f64::INFINITY;
        }
        let nmu = f64::from(self.n) * self.mu;
        let len = queue.len();
        let mut h = 0.0;
        let mut total = 0.0;
        for (j, &p) in queue.iter().enumerate() {
            h += 1.0 / (nmu + (j as f64 + 1.0) * self.theta);
            total += p * self.answered(j, len, *truncated) * h;
        }
        total / answered
    }

    /// Share of agent time spent serving: A·(1 − P(abandon)) / N.
    pub fn occupancy(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        match self.chain {
            Chain::Unstable => 1.0,
            _ => (self.lambda / self.mu * self.p_answered() / f64::from(self.n)).min(1.0),
        }
    }
}

/// The Poisson(c) probabilities over the window around the mode where they exceed
/// e^−60 of it, normalised over that window: (first k, pmf).
fn poisson_window(c: f64) -> (usize, Vec<f64>) {
    if c <= 0.0 {
        return (0, vec![1.0]);
    }
    let (ln_c, k0) = (c.ln(), c.floor() as usize);
    let mut up = Vec::new();
    let (mut lr, mut k) = (0.0, k0);
    loop {
        lr += ln_c - (k as f64 + 1.0).ln();
        k += 1;
        if lr < LN_WINDOW {
            break;
        }
        up.push(lr.exp());
    }
    let mut down = Vec::new();
    let (mut lr, mut k) = (0.0, k0);
    while k > 0 {
        lr += (k as f64).ln() - ln_c;
        k -= 1;
        if lr < LN_WINDOW {
            break;
        }
        down.push(lr.exp());
    }
    let lo = k0 - down.len();
    let mut pmf: Vec<f64> = down.into_iter().rev().collect();
    pmf.push(1.0);
    pmf.extend(up);
    let s: f64 = pmf.iter().sum();
    pmf.iter_mut().for_each(|p| *p /= s);
    (lo, pmf)
}

/// Σ_m w_m·P(S_m ≤ t), where S_m is the time a pure-death process started at m takes to
/// reach 0 when it leaves state i at rate b + iθ (S_m = Σ_{i=1}^m Exp(b + iθ)), and
/// `weights[m − 1]` = w_m.
///
/// By uniformisation: with Λ the largest rate kept, the chain jumps at the epochs of
/// a Poisson(Λ) process and moves down with probability (b + iθ)/Λ, so the mass
/// absorbed by t is Σ_k Poisson(k; Λt)·A_k with A_k the mass absorbed within k jumps.
/// States that cannot reach 0 by t (Chernoff: P(S_m ≤ t) ≤ e^(st)·Π r_i/(r_i+s) below
/// e^−50 for some s) or that carry no weight are left out, which keeps Λ small; the work
/// is capped at [`WORK`] steps × states by keeping the lowest states (those nearest
/// service), so only absurd loads are approximated.
fn reach_within(b: f64, theta: f64, weights: &[f64], t: f64) -> f64 {
    if t <= 0.0 || weights.is_empty() {
        return 0.0;
    }
    let rate = |i: usize| b + i as f64 * theta;
    // The last state worth keeping.
    let ss = [1.0 / t, 10.0 / t, 100.0 / t, 1e3 / t, 1e4 / t];
    let mut ln_bound = ss.map(|s| s * t);
    let mut keep = 0;
    for (idx, &w) in weights.iter().enumerate() {
        let m = idx + 1;
        let r = rate(m);
        for (lb, s) in ln_bound.iter_mut().zip(ss) {
            *lb += (r / (r + s)).ln();
        }
        let reachable = ln_bound.iter().copied().fold(f64::INFINITY, f64::min) > -50.0;
        if !reachable {
            break;
        }
        if w >= TINY {
            keep = m;
        }
    }
    if keep == 0 {
        return 0.0;
    }
    // Very fast queues (huge θt): if even S_keep exceeds t with probability below 1e−20
    // (Chernoff, s = r_1/2: P(S > t) ≤ e^(−st)·Π r_i/(r_i − s)), all are answered in time.
    let s = rate(1) / 2.0;
    let ln_upper = (1..=keep).fold(-s * t, |acc, i| acc + (rate(i) / (rate(i) - s)).ln());
    if ln_upper < -46.0 {
        return weights[..keep].iter().sum();
    }
    let (mut lo, mut pois) = poisson_window(rate(keep) * t);
    while keep > 1 && (lo + pois.len()).saturating_mul(keep) > WORK {
        keep = (keep / 2).max(1);
        (lo, pois) = poisson_window(rate(keep) * t);
    }
    let big = rate(keep);
    // v[i] = mass in state i (1..=keep); down[i] = (b + iθ)/Λ.
    let mut v = vec![0.0; keep + 1];
    v[1..].copy_from_slice(&weights[..keep]);
    let down: Vec<f64> = (0..=keep).map(|i| rate(i) / big).collect();
    let (mut absorbed, mut total) = (0.0, 0.0);
    let last = lo + pois.len() - 1;
    for k in 0..=last {
        if k >= lo {
            total += pois[k - lo] * absorbed;
        }
        if k == last {
            break;
        }
        // Only states that can still reach 0 within the remaining jumps matter.
        let top = keep.min(last - k);
        absorbed += v[1] * down[1];
        for i in 1..top {
            v[i] = v[i] * (1.0 - down[i]) + v[i + 1] * down[i + 1];
        }
        v[top] *= 1.0 - down[top];
    }
    total
}

/// At most this many state updates for one service level.
const WORK: usize = 400_000_000;

/// Probability that an arrival waits (all `n` agents busy); rates per second. NaN for
/// inputs [`SteadyState::new`] refuses.
pub fn p_wait(lambda: f64, mu: f64, theta: f64, n: u32) -> f64 {
    SteadyState::new(lambda, mu, theta, n).map_or(f64::NAN, |s| s.p_wait())
}

/// Share of callers who abandon, θ·E[Q]/λ.
pub fn p_abandon(lambda: f64, mu: f64, theta: f64, n: u32) -> f64 {
    SteadyState::new(lambda, mu, theta, n).map_or(f64::NAN, |s| s.p_abandon())
}

/// Share of offered callers answered within `target_s` (abandons count against).
pub fn service_level(lambda: f64, mu: f64, theta: f64, n: u32, target_s: f64) -> f64 {
    SteadyState::new(lambda, mu, theta, n).map_or(f64::NAN, |s| s.service_level(target_s))
}

/// Mean wait of the answered callers, seconds.
pub fn asa_s(lambda: f64, mu: f64, theta: f64, n: u32) -> f64 {
    SteadyState::new(lambda, mu, theta, n).map_or(f64::NAN, |s| s.asa_s())
}

/// What `n` agents achieve for a demand under Erlang A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErlangAStaffing {
    pub arrivals_per_hour: f64,
    pub aht_s: f64,
    /// Mean patience 1/θ, seconds.
    pub patience_s: f64,
    pub traffic_erlangs: f64,
    pub counters: u32,
    pub p_wait: f64,
    pub p_abandon: f64,
    /// Answered within `target_s` ÷ offered.
    pub service_level: f64,
    pub target_s: f64,
    /// Mean wait of the answered callers.
    pub asa_s: f64,
    /// Share of agent time spent serving, A·(1 − P(abandon)) / N.
    pub occupancy: f64,
}

/// Erlang A measures for `counters` agents; `None` unless arrivals ≥ 0, AHT > 0 and
/// patience > 0 (infinite patience is Erlang C) and the target ≥ 0.
pub fn evaluate(
    arrivals_per_hour: f64,
    aht_s: f64,
    patience_s: f64,
    counters: u32,
    target_s: f64,
) -> Option<ErlangAStaffing> {
    if !(patience_s > 0.0 && aht_s > 0.0 && target_s >= 0.0 && target_s.is_finite()) {
        return None;
    }
    let s = SteadyState::new(
        arrivals_per_hour / 3600.0,
        1.0 / aht_s,
        1.0 / patience_s,
        counters,
    )?;
    Some(ErlangAStaffing {
        arrivals_per_hour,
        aht_s,
        patience_s,
        traffic_erlangs: traffic(arrivals_per_hour, aht_s),
        counters,
        p_wait: s.p_wait(),
        p_abandon: s.p_abandon(),
        service_level: s.service_level(target_s),
        target_s,
        asa_s: s.asa_s(),
        occupancy: s.occupancy(),
    })
}

/// The fewest agents (at least one) whose service level within `target_s` reaches
/// `target_level` and, when given, whose P(abandon) is at most `max_abandon`. `None`
/// for inputs that are not finite and positive where they must be, a level outside
/// [0, 1) or a ceiling outside (0, 1].
///
/// Both measures improve with every agent, so the answer is found by galloping up from
/// a lower bound (answered ≤ N/A, so SL ≥ s needs N ≥ s·A and P(abandon) ≤ p needs
/// N ≥ (1 − p)·A) and bisecting.
pub fn counters_needed(
    arrivals_per_hour: f64,
    aht_s: f64,
    patience_s: f64,
    target_level: f64,
    target_s: f64,
    max_abandon: Option<f64>,
) -> Option<ErlangAStaffing> {
    let sane = |x: f64| x.is_finite() && x >= 0.0;
    if !(sane(arrivals_per_hour)
        && sane(aht_s)
        && sane(target_s)
        && aht_s > 0.0
        && patience_s > 0.0
        && (0.0..1.0).contains(&target_level)
        && max_abandon.is_none_or(|p| p > 0.0 && p <= 1.0))
    {
        return None;
    }
    let meets = |s: &ErlangAStaffing| {
        s.service_level >= target_level && max_abandon.is_none_or(|p| s.p_abandon <= p)
    };
    let at = |n: u32| evaluate(arrivals_per_hour, aht_s, patience_s, n, target_s);
    let a = traffic(arrivals_per_hour, aht_s);
    let floor = target_level.max(1.0 - max_abandon.unwrap_or(1.0)) * a;
    // Every n below `lo` fails for certain (or lo = 1).
    let lo = (floor.ceil().min(f64::from(u32::MAX)) as u32).max(1);
    let mut fail = lo - 1; // known to fail (or 0)
    let mut step = 1u32;
    let mut hi = lo;
    let mut found = loop {
        let s = at(hi)?;
        if meets(&s) || hi == u32::MAX {
            break s;
        }
        fail = hi;
        hi = hi.saturating_add(step);
        step = step.saturating_mul(2);
    };
    while hi - fail > 1 {
        let mid = fail + (hi - fail) / 2;
        let s = at(mid)?;
        if meets(&s) {
            hi = mid;
            found = s;
        } else {
            fail = mid;
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::erlang;

    fn near(x: f64, y: f64, tol: f64) {
        assert!((x - y).abs() <= tol, "{x} vs {y} (tol {tol})");
    }

    const L: f64 = 200.0 / 3600.0;
    const MU: f64 = 1.0 / 180.0;

    #[test]
    fn no_patience_limit_is_erlang_c() {
        let a = erlang::traffic(200.0, 180.0);
        for n in [11, 12, 14, 20] {
            let s = SteadyState::new(L, MU, 1e-9, n).unwrap();
            near(s.p_wait(), erlang::p_wait(a, n), 1e-6);
            near(
                s.service_level(20.0),
                erlang::service_level(a, n, 180.0, 20.0),
                1e-6,
            );
            // θ = 1e−9 still shortens the longest waits a little: relative 1e−5.
            let c = erlang::asa_s(a, n, 180.0);
            near(s.asa_s(), c, 1e-5 * c);
            assert!(s.p_abandon() < 1e-6);
            // The gap is θ's doing, not the numerics': it shrinks with θ.
            let tiny = SteadyState::new(L, MU, 1e-13, n).unwrap();
            near(tiny.asa_s(), c, 1e-9 * c);
        }
        let s = SteadyState::new(L, MU, 0.0, 14).unwrap();
        near(s.p_wait(), 0.1741, 5e-5);
        near(s.service_level(20.0), 0.8884, 5e-5);
        near(s.asa_s(), 7.84, 5e-3);
        assert_eq!(s.p_abandon(), 0.0);
    }

    /// N = 1, θ = μ: every state k ≥ 1 leaves at kμ, so π is Poisson(ρ), ρ = λ/μ:
    /// P(wait) = 1 − e^−ρ, E[Q] = ρ − 1 + e^−ρ, P(abandon) = (ρ − 1 + e^−ρ)/ρ.
    #[test]
    fn one_agent_with_patience_equal_to_handling_is_poisson() {
        for rho in [0.3, 1.0, 2.5, 8.0] {
            let mu = 1.0 / 300.0;
            let s = SteadyState::new(rho * mu, mu, mu, 1).unwrap();
            let e = (-rho).exp();
            near(s.p_wait(), 1.0 - e, 1e-12);
            near(s.mean_queue(), rho - 1.0 + e, 1e-10);
            near(s.p_abandon(), (rho - 1.0 + e) / rho, 1e-12);
            near(s.probability(2), e * rho * rho / 2.0, 1e-12);
        }
    }

    /// The state-by-state answer probability against hand-derived forms: a caller who
    /// finds nobody waiting is answered within t with probability
    /// Nμ/(Nμ+θ)·(1 − e^−(Nμ+θ)t); one who finds one waiting, Nμ/(Nμ+2θ) times the
    /// CDF of Exp(Nμ+θ) + Exp(Nμ+2θ).
    #[test]
    fn answer_within_t_by_state_matches_hand_forms() {
        let (nmu, theta, t) = (9.0 * MU, 1.0 / 120.0, 20.0);
        let r1 = nmu + theta;
        let r2 = nmu + 2.0 * theta;
        let j0 = nmu / r1 * reach_within(nmu, theta, &[1.0], t);
        near(j0, nmu / r1 * (1.0 - (-r1 * t).exp()), 1e-13);
        let j1 = nmu / r2 * reach_within(nmu, theta, &[0.0, 1.0], t);
        let cdf = 1.0 - (r2 * (-r1 * t).exp() - r1 * (-r2 * t).exp()) / (r2 - r1);
        near(j1, nmu / r2 * cdf, 1e-13);
    }

    #[test]
    fn identities_hold() {
        let s = SteadyState::new(L, MU, 1.0 / 120.0, 9).unwrap();
        // P(abandon) = θ·E[Q]/λ.
        near(s.p_abandon(), s.mean_queue() / 120.0 / L, 1e-12);
        // With an endless target everyone who is answered counts.
        near(s.service_level(1e5), 1.0 - s.p_abandon(), 1e-12);
        // At t = 0 only those who do not wait are answered in time.
        near(s.service_level(0.0), 1.0 - s.p_wait(), 1e-12);
        let total: f64 = (0..200).map(|k| s.probability(k)).sum();
        near(total, 1.0, 1e-12);
    }

    #[test]
    fn staffing_search() {
        // Close to Erlang C with very patient callers.
        let s = counters_needed(200.0, 180.0, 1e9, 0.8, 20.0, None).unwrap();
        assert_eq!(s.counters, 14);
        let s = counters_needed(200.0, 180.0, 120.0, 0.8, 20.0, Some(0.01)).unwrap();
        assert!(s.service_level >= 0.8 && s.p_abandon <= 0.01);
        let fewer = evaluate(200.0, 180.0, 120.0, s.counters - 1, 20.0).unwrap();
        assert!(fewer.service_level < 0.8 || fewer.p_abandon > 0.01);
        assert_eq!(
            counters_needed(0.0, 300.0, 60.0, 0.8, 900.0, None)
                .unwrap()
                .counters,
            1
        );
        assert!(counters_needed(10.0, 60.0, 0.0, 0.8, 60.0, None).is_none());
        assert!(counters_needed(10.0, 60.0, 60.0, 0.8, 60.0, Some(0.0)).is_none());
    }
}
