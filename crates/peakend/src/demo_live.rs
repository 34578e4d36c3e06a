//! `peakend demo` replays a simulated day of the demo halls live, accelerated: the halls
//! run on a clock that starts at 08:30 today (China time) and goes `--speed` times
//! faster than real time, and each simulated event is ingested when that clock reaches
//! it, through the same ingest path as a device's POST, so live streams are pushed.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveTime;
use peakend_core::HallId;
use peakend_core::ops::event::{Event, sort_for_replay};
use peakend_core::ops::simulate::{self, SimHall};
use peakend_http::AppState;
use peakend_http::live::Clock;

/// The same simulated day every run: a second `peakend demo` on the same database finds
/// the events it already stored and counts them as duplicates.
const SEED: u64 = 4;

/// The longest the replay sleeps between looks at the clock.
const TICK: Duration = Duration::from_millis(200);

/// The demo clock: 08:30 today in the demo province's zone, running `speed` times
/// faster.
pub fn clock(zone: peakend_core::time::Zone, speed: f64) -> Clock {
    let now = chrono::Utc::now().timestamp_millis();
    let local = zone.local(now).expect("now is a valid time");
    let offset = *local.offset();
    let start = local
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(8, 30, 0).expect("08:30"))
        .and_local_timezone(offset)
        .single()
        .expect("a fixed offset has one 08:30");
    Clock::accelerated(start, speed)
}

/// Ingests the simulated day of every demo hall as the state's clock reaches each
/// event, until the day's events run out. Errors are logged, not fatal: the server
/// keeps serving.
pub async fn replay(state: AppState) {
    let halls: Vec<SimHall> = match state.store.org_tree().await {
        Ok(tree) => tree
            .nodes()
            .iter()
            .filter_map(|n| {
                n.hall_id().map(|hall| SimHall {
                    hall,
                    counters: n.counters,
                    kiosks: n.kiosks,
                    zone: tree.zone_of(&n.id),
                })
            })
            .collect(),
        Err(e) => {
            tracing::error!("demo replay: cannot read the halls: {e}");
            return;
        }
    };
    let date = state.clock.now().date_naive();
    let mut events: Vec<Event> = simulate::day(&halls, date, SEED);
    known_customers(&mut events);
    sort_for_replay(&mut events);
    let total = events.len();
    let mut events = events.into_iter().peekable();
    let mut sent = 0usize;
    while events.peek().is_some() {
        let now = state.clock.now().timestamp_millis();
        let mut due: BTreeMap<HallId, Vec<(usize, Event, String)>> = BTreeMap::new();
        while let Some(e) = events.next_if(|e| e.at_ms() <= now) {
            let line = serde_json::to_string(&e).unwrap_or_default();
            sent += 1;
            due.entry(e.hall.clone()).or_default().push((sent, e, line));
        }
        for (hall, batch) in due {
            if let Err(e) = peakend_http::live::ingest(&state, &hall, batch, Vec::new()).await {
                tracing::error!("demo replay: hall {hall}: {e}");
            }
        }
        let wait = events
            .peek()
            .map_or(TICK, |e| state.clock.real_until(e.at_ms()).min(TICK));
        tokio::time::sleep(wait).await;
    }
    tracing::info!("demo replay: all {total} events of {date} sent");
}

/// Two tickets in three are taken by a customer the kiosk knows (their salted key, from
/// a made-up number): the demo's visits then invite surveys by the province's rule.
fn known_customers(events: &mut [Event]) {
    use peakend_core::ops::event::EventKind;
    for e in events {
        if let EventKind::TicketIssued {
            ticket, customer, ..
        } = &mut e.kind
        {
            let n = u64::from_str_radix(
                &peakend_core::customer::customer_key("demo", &format!("{}{ticket}", e.hall))[..8],
                16,
            )
            .unwrap_or(0);
            if n % 3 != 0 {
                *customer = Some(peakend_core::customer::customer_key(
                    "demo",
                    &format!("139{:08}", n % 100_000_000),
                ));
            }
        }
    }
}
