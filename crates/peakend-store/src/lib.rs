//! Storage adapter. Everything that persists goes through the [`Store`] trait; the
//! one implementation, [`SqlStore`], runs the same SQL on SQLite (the embedded
//! default) and PostgreSQL, chosen by the database URL. Rules that span stored
//! data (a journey's parent must exist and be respected; an org import must leave a
//! sound tree) are checked with the pure core inside the writing transaction, so
//! a rejected write leaves nothing behind.

#![forbid(unsafe_code)]

mod analysis;
mod analysis_cache;
mod audits;
mod busy;
mod cases;
mod cluster;
mod customers;
mod error;
mod ingest;
mod invitations;
mod operations;
mod programme;
mod sales;
mod sql;
mod sqlite_writer;
mod store;
mod strategy;

use async_trait::async_trait;
use chrono::NaiveDate;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};
use peakend_core::analysis::rollup::{self, CellKey, PurposeCells, Rollup, whole_months};
use peakend_core::analysis::{Analysis, GroupBy, GroupedStats, SegmentStats};
use peakend_core::assignment::{AssignmentChange, Assignments, Effective};
use peakend_core::ops::day::{Alert, AlertKind, HallDay, KioskFault, Rules};
use peakend_core::ops::event::Event;
use peakend_core::ops::holiday::{self, Holiday};
use peakend_core::ops::kpi::{Bucket, HallTickets, KpiReport, ReportSums};
use peakend_core::ops::rollup::DayRollup;
use peakend_core::ops::ticket::{KpiSums, Kpis};
use peakend_core::peak::PeakRule;
use peakend_core::survey::Response;
use peakend_core::{
    Channel, HallId, Journey, JourneyKey, OrgNode, OrgNodeId, OrgTree, Role, Text, UserName,
};
use serde::Serialize;

pub use analysis::*;
pub use analysis_cache::*;
pub use audits::*;
pub use busy::*;
pub use cases::*;
pub use cluster::{PartitionLocks, SweepHalls};
pub use customers::*;
pub use error::{ErrorKind, StoreError};
pub use invitations::*;
pub use operations::*;
pub use programme::*;
pub use sales::*;
pub use sql::SqlStore;
pub use store::*;
pub use strategy::*;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Opens (creating a SQLite file if needed) and migrates the database at `url`:
/// `postgres://…` or `postgresql://…` for PostgreSQL, `sqlite://PATH`, `sqlite:PATH`
/// or a bare file path for SQLite.
pub async fn connect(url: &str) -> Result<SqlStore> {
    let store = SqlStore::connect(url).await?;
    store.migrate().await?;
    Ok(store)
}
