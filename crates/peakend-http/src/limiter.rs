//! Per-client limits kept in memory: the public survey form's rate limit and the
//! sign-in throttle. Both keep their state in [`Recent`], a map that forgets what was
//! not touched for two periods, in O(1) per request and bounded memory, so an attacker
//! cycling through addresses can neither slow every request nor exhaust memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Two generations of entries: lookups look in the current one, then move an entry up
/// from the previous one. Every `period` (or when the current one reaches `cap`) the
/// previous generation is dropped and the current one becomes it. So an entry lives
/// one to two periods after its last touch, and at most `2 × cap` entries are held.
struct Recent<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    rotated_at: Instant,
    period: Duration,
    cap: usize,
}

impl<K: Eq + Hash + Clone, V> Recent<K, V> {
    fn new(period: Duration, cap: usize, now: Instant) -> Self {
        Recent {
            current: HashMap::new(),
            previous: HashMap::new(),
            rotated_at: now,
            period,
            cap,
        }
    }

    fn rotate_if_due(&mut self, now: Instant) {
        if now.saturating_duration_since(self.rotated_at) >= self.period
            || self.current.len() >= self.cap
        {
            self.previous = std::mem::take(&mut self.current);
            self.rotated_at = now;
        }
    }

    /// The entry for `key`, created by `new` when there is none.
    fn entry(&mut self, key: &K, now: Instant, new: impl FnOnce() -> V) -> &mut V {
        self.rotate_if_due(now);
        if !self.current.contains_key(key) {
            let v = self.previous.remove(key).unwrap_or_else(new);
            self.current.insert(key.clone(), v);
        }
        self.current.get_mut(key).expect("just inserted")
    }

    fn get(&mut self, key: &K, now: Instant) -> Option<&mut V> {
        self.rotate_if_due(now);
        if let Some(v) = self.previous.remove(key) {
            self.current.insert(key.clone(), v);
        }
        self.current.get_mut(key)
    }

    fn remove(&mut self, key: &K) {
        self.current.remove(key);
        self.previous.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// The most clients a limiter tracks per generation.
const MAX_CLIENTS: usize = 50_000;

/// A token bucket per client: `capacity` requests at once, refilled evenly over
/// `period`. A bucket untouched for a whole period is full, so forgetting it is exact.
pub struct RateLimiter<K = Option<std::net::IpAddr>> {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<Recent<K, (f64, Instant)>>,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    pub fn new(capacity: u32, period: Duration) -> Self {
        Self::bounded(capacity, period, MAX_CLIENTS)
    }

    fn bounded(capacity: u32, period: Duration, cap: usize) -> Self {
        RateLimiter {
            capacity: f64::from(capacity),
            per_sec: f64::from(capacity) / period.as_secs_f64(),
            buckets: Mutex::new(Recent::new(period, cap, Instant::now())),
        }
    }

    /// Takes one token for `client`, or says how long until one is free.
    pub fn check(&self, client: K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let capacity = self.capacity;
        let (tokens, at) = buckets.entry(&client, now, || (capacity, now));
        let refilled = now.saturating_duration_since(*at).as_secs_f64() * self.per_sec;
        *tokens = (*tokens + refilled).min(self.capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_sec))
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

/// Failed sign-ins per key (an account, an address): after [`FREE_FAILURES`], each
/// further failure doubles the wait before the next attempt is even checked, up to
/// [`MAX_BACKOFF`]. A success clears the key.
pub struct LoginThrottle {
    failures: Mutex<Recent<String, (u32, Instant)>>,
}

/// Failures allowed before the back-off starts.
pub const FREE_FAILURES: u32 = 5;
/// The longest back-off; also how long a quiet key is remembered.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            failures: Mutex::new(Recent::new(MAX_BACKOFF, MAX_CLIENTS, Instant::now())),
        }
    }
}

impl LoginThrottle {
    /// How long the caller must still wait, if any key is backing off.
    pub fn wait(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| failures.get(k, now).map(|(_, until)| *until))
            .filter(|until| *until > now)
            .max()
            .map(|until| until - now)
    }

    /// Counts a failure against every key; returns the back-off it starts, if any.
    pub fn failed(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut longest = None;
        for k in keys {
            let (n, until) = failures.entry(k, now, || (0, now));
            *n += 1;
            if *n >= FREE_FAILURES {
                let doubling = (*n - FREE_FAILURES).min(20);
                let wait = Duration::from_secs(1u64 << doubling).min(MAX_BACKOFF);
                *until = now + wait;
                longest = longest.max(Some(wait));
            }
        }
        longest
    }

    pub fn succeeded(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter().for_each(|k| failures.remove(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refuses_the_eleventh_post_and_refills_over_the_minute() {
        let limiter: RateLimiter = RateLimiter::new(10, Duration::from_secs(60));
        let ip = Some("10.0.0.1".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        let wait = limiter.check(ip, t0).unwrap_err();
        assert!((5.9..=6.1).contains(&wait.as_secs_f64()), "{wait:?}");
        assert!(limiter.check(Some("10.0.0.2".parse().unwrap()), t0).is_ok());
        let t1 = t0 + Duration::from_secs(6);
        assert!(limiter.check(ip, t1).is_ok());
        assert!(limiter.check(ip, t1).is_err());
    }

    #[test]
    fn memory_stays_bounded_and_a_busy_client_keeps_its_count() {
        let limiter = RateLimiter::bounded(2, Duration::from_secs(60), 1000);
        let t0 = Instant::now();
        let busy = u32::MAX;
        assert!(limiter.check(busy, t0).is_ok());
        assert!(limiter.check(busy, t0).is_ok());
        // A flood of other clients within the same minute.
        for i in 0..100_000u32 {
            let _ = limiter.check(i, t0);
            if i % 500 == 0 {
                // The busy client stays refused while it keeps asking.
                assert!(limiter.check(busy, t0).is_err(), "after {i}");
            }
        }
        assert!(limiter.tracked() <= 2 * 1000, "{}", limiter.tracked());
    }

    #[test]
    fn forgetting_a_quiet_client_is_exact() {
        let limiter = RateLimiter::bounded(3, Duration::from_secs(60), 1000);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check(7u8, t0).unwrap();
        }
        // Two periods later the entry is gone, and a full bucket is what it would have.
        let later = t0 + Duration::from_secs(121);
        let _ = limiter.check(8u8, t0 + Duration::from_secs(61));
        let _ = limiter.check(9u8, later);
        for _ in 0..3 {
            assert!(limiter.check(7u8, later).is_ok());
        }
        assert!(limiter.check(7u8, later).is_err());
    }

    #[test]
    fn sign_ins_back_off_after_five_failures() {
        let t = LoginThrottle::default();
        let keys = vec!["user:alice".to_owned(), "addr:10.0.0.9".to_owned()];
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(t.failed(&keys, t0), None);
            assert_eq!(t.wait(&keys, t0), None);
        }
        assert_eq!(t.failed(&keys, t0), Some(Duration::from_secs(1)));
        assert_eq!(t.wait(&keys, t0), Some(Duration::from_secs(1)));
        assert_eq!(t.wait(&keys, t0 + Duration::from_secs(1)), None);
        assert_eq!(t.failed(&keys, t0), Some(Duration::from_secs(2)));
        assert_eq!(t.failed(&keys, t0), Some(Duration::from_secs(4)));
        for _ in 0..30 {
            t.failed(&keys, t0);
        }
        assert_eq!(t.wait(&keys, t0), Some(MAX_BACKOFF));
        // Another account from another address is not held back.
        assert_eq!(
            t.wait(&["user:bob".to_owned(), "addr:10.0.0.8".to_owned()], t0),
            None
        );
        t.succeeded(&keys);
        assert_eq!(t.wait(&keys, t0), None);
    }
}
