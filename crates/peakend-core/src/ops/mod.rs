//! Hall operations math: how many counters a demand needs (Erlang C and A) and how long a
//! waiting customer will wait. Pure functions of rates and counts; the live engine
//! (event ingest, queue state, alerts) feeds them from a hall's own history.

pub mod busy;
pub mod call;
pub mod day;
pub mod erlang;
pub mod erlang_a;
pub mod event;
pub mod holiday;
pub mod kpi;
pub mod predict;
pub mod rollup;
pub mod roster;
pub mod sales;
pub mod simulate;
pub mod ticket;

/// Shared test data of the operations modules.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::event::Event;

    /// Milliseconds at `hm` local time on Friday 2026-08-07 (+08:00).
    pub fn ms(hm: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-08-07T{hm}:00+08:00"))
            .unwrap()
            .timestamp_millis()
    }

    /// A scripted morning with one counter (examples/events/scripted-morning.ndjson):
    /// five payments, one who leaves, one who waits past 15 minutes. Every figure the
    /// tests expect of it is computed by hand.
    pub fn scripted() -> Vec<Event> {
        include_str!("../../../../examples/events/scripted-morning.ndjson")
            .lines()
            .map(|l| Event::from_json(l).unwrap())
            .collect()
    }
}
