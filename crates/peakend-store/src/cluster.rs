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
