//! Which node applies which partition of the device events (issue 24, `serve --nats`):
//! PostgreSQL advisory locks held on one connection of each node. A lock lives as long
//! as that connection, so the partitions of a node that dies (or loses the database)
//! are free for the others at once, and no partition is ever applied by two nodes.
//! A node also holds one "alive" lock, so every node can count the live ones and take
//! its fair share.

use sqlx::Connection;

use crate::{Result, StoreError};

/// The first key of the locks: partitions, and nodes alive.
const PARTITION: i32 = 7_424_001;
const ALIVE: i32 = 7_424_002;
/// More nodes than this is more than a network runs.
const MAX_NODES: i32 = 1024;

/// One node's lock connection.
pub struct PartitionLocks {
    conn: sqlx::PgConnection,
}

impl PartitionLocks {
    /// A connection of its own (not the pool's: the locks must outlive no request and
    /// die with the node), and this node counted alive. PostgreSQL only.
    pub async fn join(url: &str) -> Result<PartitionLocks> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Invalid(
                "several nodes share one PostgreSQL database: give --db postgres://…".into(),
            ));
        }
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for slot in 0..MAX_NODES {
            let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1, $2)")
                .bind(ALIVE)
                .bind(slot)
                .fetch_one(&mut conn)
                .await?;
            if got {
                return Ok(PartitionLocks { conn });
            }
        }
        Err(StoreError::Conflict(format!("more than {MAX_NODES} nodes")))
    }

    /// The nodes alive now (this one included).
    pub async fn live_nodes(&mut self) -> Result<u32> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND classid::bigint = $1 AND objsubid = 2
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(i64::from(ALIVE))
        .fetch_one(&mut self.conn)
        .await?;
        Ok(u32::try_from(n).unwrap_or(1).max(1))
    }

    /// Takes partition `p` if no other node holds it.
    pub async fn try_take(&mut self, p: u32) -> Result<bool> {
        let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1, $2)")
            .bind(PARTITION)
            .bind(p as i32)
            .fetch_one(&mut self.conn)
            .await?;
        Ok(got)
    }

    /// Gives partition `p` back (to even the load when a node joins).
    pub async fn release(&mut self, p: u32) -> Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1, $2)")
            .bind(PARTITION)
            .bind(p as i32)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }
}

/// Which halls a minute sweep takes (issue 24): every hall on a single node, or with
/// several nodes the halls of the partitions this node holds, so each partition's
/// sweep runs on one node and moves with the partition.
///
/// The filter reads the hall's FNV-1a hash stored on its org node (`org_node.part_hash`,
/// migration 0044) and takes it modulo the partition count in SQL: one indexed lookup a
/// swept row, whatever the number of halls, and a change of `--partitions` needs no
/// rewrite (a stored partition number would). A row whose hall has no org node or no
/// hash yet counts as partition 0, on every node alike, so it is swept once, not never.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SweepHalls {
    /// Every hall: one node, and the CLI's sweeps. The SQL is the same as before
    /// partitions existed: no filter, no cost.
    #[default]
    All,
    /// The halls of `held`, partitions of `of`.
    Partitions { of: u32, held: Vec<u32> },
}

impl SweepHalls {
    /// The partition of a hall among `of`: FNV-1a of its id, as the event stream's
    /// subjects have it.
    pub fn partition(hall: &str, of: u32) -> u32 {
        (peakend_core::id::stable_hash(hall) % u64::from(of.max(1))) as u32
    }

    /// Whether a hall of the organisation is swept here (in SQL, a hall with no org
    /// node counts as partition 0 instead).
    pub fn takes(&self, hall: &str) -> bool {
        match self {
            SweepHalls::All => true,
            SweepHalls::Partitions { of, held } => held.contains(&Self::partition(hall, *of)),
        }
    }

    /// Holds no partition: nothing to sweep.
    pub fn is_empty(&self) -> bool {
        matches!(self, SweepHalls::Partitions { held, .. } if held.is_empty())
    }

    /// ` AND <the row's hall is swept here>` for a query whose hall id is the column
    /// `hall` (empty for [`SweepHalls::All`]). The stored hash is the u64's bits as a
    /// signed BIGINT (SQLite has no unsigned integers); `%` truncates toward zero on both
    /// backends, so a negative one adds 2^64 mod n back. Only numbers are written in.
    pub(crate) fn sql(&self, hall: &str) -> String {
        let SweepHalls::Partitions { of, held } = self else {
            return String::new();
        };
        if held.is_empty() {
            return " AND 1 = 0".into();
        }
        let n = i64::from((*of).max(1));
        let wrap = ((1u128 << 64) % n as u128) as i64;
        let held: Vec<String> = held.iter().map(u32::to_string).collect();
        format!(
            " AND COALESCE((SELECT CASE WHEN pn.part_hash < 0 THEN (pn.part_hash % {n} + {n} + {wrap}) % {n}
                 ELSE pn.part_hash % {n} END FROM org_node pn WHERE pn.id = {hall}), 0) IN ({})",
            held.join(", ")
        )
    }
}

/// The hash an org node's id is stored with: the u64's bits, as a BIGINT takes them.
pub(crate) fn part_hash(id: &str) -> i64 {
    peakend_core::id::stable_hash(id) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL's arithmetic on the signed hash, done in Rust the way both databases
    /// do it (truncating `%`), gives the partition of the unsigned one.
    #[test]
    fn the_signed_hash_gives_the_unsigned_partition() {
        let halls: Vec<String> = (0..2_000).map(|i| format!("h{i:04}")).collect();
        let mut negative = 0;
        for n in [1i64, 2, 3, 4, 7, 16, 33, 100, 1024] {
            let wrap = ((1u128 << 64) % n as u128) as i64;
            for h in &halls {
                let s = part_hash(h);
                negative += usize::from(s < 0);
                let sql = if s < 0 { (s % n + n + wrap) % n } else { s % n };
                assert_eq!(sql as u32, SweepHalls::partition(h, n as u32), "{h} of {n}");
            }
        }
        assert!(negative > 1_000, "both signs tried");
    }

    #[test]
    fn all_takes_every_hall_and_no_filter() {
        assert!(SweepHalls::All.takes("anything"));
        assert_eq!(SweepHalls::All.sql("hall_id"), "");
        let none = SweepHalls::Partitions {
            of: 4,
            held: vec![],
        };
        assert!(none.is_empty() && !none.takes("h1"));
    }
}
