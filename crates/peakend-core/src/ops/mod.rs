//! Hall operations math: how many counters a demand needs (Erlang C) and how long a
//! waiting customer will wait. Pure functions of rates and counts; the live engine
//! (event ingest, queue state, alerts) feeds them from a hall's own history.

pub mod day;
pub mod erlang;
pub mod event;
pub mod holiday;
pub mod kpi;
pub mod predict;
pub mod rollup;
pub mod roster;
pub mod simulate;
