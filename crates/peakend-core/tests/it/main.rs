//! The core's property tests and published-figure checks, one test binary.

mod auto_checks;
mod check_parsers;
mod erlang_a;
mod merge_laws;
mod queue_channels;
