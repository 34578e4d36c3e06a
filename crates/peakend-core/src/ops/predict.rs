//! The wait announced to a waiting customer ("N ahead, about M minutes", the study's
//! 时长及预知): the queue-length predictor of Ibrahim & Whitt (2009), (n + 1) / (s·μ),
//! for a customer with n people ahead of them for the same service, s open counters
//! serving it and mean service time 1/μ.

/// Predicted wait in seconds; `None` without an open counter or a service time.
pub fn queue_length_wait_s(ahead: usize, open_counters: usize, mean_service_s: f64) -> Option<f64> {
    (open_counters > 0 && mean_service_s.is_finite() && mean_service_s > 0.0)
        .then(|| (ahead as f64 + 1.0) * mean_service_s / open_counters as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_plus_one_over_s_mu() {
        // 5 ahead, 3 counters, 4-minute services: (5 + 1) / (3 / 240 s) = 480 s.
        assert_eq!(queue_length_wait_s(5, 3, 240.0), Some(480.0));
        // The first in line waits one service time split across the counters.
        assert_eq!(queue_length_wait_s(0, 2, 300.0), Some(150.0));
        assert_eq!(queue_length_wait_s(4, 0, 300.0), None);
        assert_eq!(queue_length_wait_s(4, 2, 0.0), None);
    }
}
