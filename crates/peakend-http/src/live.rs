//! What the live stream needs besides the store: a hub that tells a hall's subscribers
//! the moment an ingest for the hall has committed, and the clock the hall lives on
//! (the system clock, or the demo's accelerated one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use peakend_core::HallId;
use peakend_core::ops::event::Event;
use peakend_store::{IngestOutcome, StoreError};
use tokio::sync::watch;

use crate::AppState;

/// One `watch` channel per hall with subscribers: an ingest bumps the hall's counter
/// after its commit, and every live stream of the hall wakes. A watch (rather than a
/// broadcast) keeps only the latest value, so a slow stream never lags behind: it
/// replays the day once for any number of batches it missed.
#[derive(Clone, Default)]
pub struct LiveHub {
    halls: Arc<Mutex<HashMap<HallId, watch::Sender<u64>>>>,
}

impl LiveHub {
    /// A receiver that changes after each committed ingest of `hall`.
    pub fn subscribe(&self, hall: &HallId) -> watch::Receiver<u64> {
        let mut halls = self.halls.lock().expect("live hub lock");
        halls
            .entry(hall.clone())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes the live streams of `hall` (none listening: nothing to do).
    pub fn notify(&self, hall: &HallId) {
        let halls = self.halls.lock().expect("live hub lock");
        if let Some(tx) = halls.get(hall) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// The time the halls live at when a request names none: the system clock, or in the
/// demo a simulated day that starts at a given moment and runs `speed` times faster.
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    Accelerated {
        real_start: Instant,
        sim_start: DateTime<FixedOffset>,
        speed: f64,
    },
}

impl Clock {
    /// A clock that reads `sim_start` now and runs `speed` times faster than real time.
    pub fn accelerated(sim_start: DateTime<FixedOffset>, speed: f64) -> Clock {
        Clock::Accelerated {
            real_start: Instant::now(),
            sim_start,
            speed: speed.max(f64::MIN_POSITIVE),
        }
    }

    pub fn now(&self) -> DateTime<FixedOffset> {
        match self {
            // An instant; each hall's day is then read in the hall's own zone.
            Clock::System => chrono::Utc::now().fixed_offset(),
            Clock::Accelerated {
                real_start,
                sim_start,
                speed,
            } => {
                let real = real_start.elapsed().as_secs_f64() * speed;
                *sim_start + chrono::Duration::milliseconds((real * 1000.0) as i64)
            }
        }
    }

    /// Hall seconds per real second.
    pub fn speed(&self) -> f64 {
        match self {
            Clock::System => 1.0,
            Clock::Accelerated { speed, .. } => *speed,
        }
    }

    /// How long to wait in real time until the clock reads `at_ms` (zero if it has).
    pub fn real_until(&self, at_ms: i64) -> Duration {
        let ahead_ms = (at_ms - self.now().timestamp_millis()).max(0) as f64;
        Duration::from_secs_f64(ahead_ms / self.speed() / 1000.0)
    }
}

/// Applies a batch of one hall's events (the store's semantics) and, once it has
/// committed, wakes the hall's live streams. Every ingest that should reach the live
/// stream goes through here: the API's and the demo's. The contacts the batch ends are
/// queued for their survey invitations in its transaction, and the decider is woken
/// ([`crate::case_worker::drain_invitations`]).
pub async fn ingest(
    state: &AppState,
    hall: &HallId,
    events: Vec<(usize, Event, String)>,
    refused: Vec<(usize, String, String)>,
) -> Result<IngestOutcome, StoreError> {
    let outcome = state
        .store
        .ingest_events_inviting(hall, events, refused)
        .await?;
    if outcome.accepted > 0 {
        state.live.notify(hall);
    }
    if !outcome.ended.is_empty() {
        state.decider.notify_one();
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_notification_wakes_only_the_hall_s_subscribers() {
        let hub = LiveHub::default();
        let h1 = HallId::parse("h1").unwrap();
        let h2 = HallId::parse("h2").unwrap();
        let mut a = hub.subscribe(&h1);
        let b = hub.subscribe(&h2);
        hub.notify(&h1);
        assert!(a.has_changed().unwrap());
        assert!(!b.has_changed().unwrap());
        a.changed().await.unwrap();
        hub.notify(&HallId::parse("nobody").unwrap());
        assert!(!b.has_changed().unwrap());
    }

    #[test]
    fn an_accelerated_clock_runs_faster_and_waits_scale_down() {
        let start = DateTime::parse_from_rfc3339("2026-08-07T08:30:00+08:00").unwrap();
        let clock = Clock::accelerated(start, 60.0);
        let now = clock.now();
        assert!(now >= start && now < start + chrono::Duration::seconds(60));
        // A minute of hall time is a second of real time.
        let wait = clock.real_until(start.timestamp_millis() + 60_000);
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(500));
    }
}
