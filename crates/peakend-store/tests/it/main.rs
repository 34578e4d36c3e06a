//! The storage stories on both backends, one test binary (one link instead of one per file).

mod audits;
mod calls;
mod cases;
mod comments;
mod customers;
mod distribution;
mod invitations;
mod monitoring;
mod packed_answers;
mod partitions;
mod queue;
mod rates;
mod rollup_detail;
mod sales;
mod stories;
