//! The SQL behind the strategy page: one document per org node and journey, replaced
//! whole. A child module of `sql`, so it shares the pool.

use super::*;
use crate::strategy::{StoredStrategy, StrategyStore};
use peakend_core::strategy::Strategy;

fn stored(row: (String, i64, String)) -> Result<StoredStrategy> {
    let strategy = Strategy::from_stored(&row.0).map_err(|p| {
        StoreError::Corrupt(format!(
            "strategy document: {}",
            p.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    Ok(StoredStrategy {
        strategy,
        updated_at: row.1,
        updated_by: row.2,
    })
}

#[async_trait]
impl StrategyStore for SqlStore {
    async fn strategy(
        &self,
        org: &OrgNodeId,
        journey: &JourneyKey,
    ) -> Result<Option<StoredStrategy>> {
        let row: Option<(String, i64, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT document, updated_at, updated_by FROM strategy
                 WHERE org_id = $1 AND journey_key = $2",
            )
            .bind(org.as_str())
            .bind(journey.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.map(stored).transpose()
    }

    async fn put_strategy(
        &self,
        org: &OrgNodeId,
        journey: &JourneyKey,
        strategy: &Strategy,
        by: &str,
    ) -> Result<StoredStrategy> {
        let document = strategy.to_json();
        let at = ingest::now_ms();
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO strategy (org_id, journey_key, document, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (org_id, journey_key) DO UPDATE SET
                   document = excluded.document,
                   updated_at = excluded.updated_at,
                   updated_by = excluded.updated_by",
            )
            .bind(org.as_str())
            .bind(journey.as_str())
            .bind(&document)
            .bind(at)
            .bind(by)
            .execute(pool)
            .await?;
        });
        Ok(StoredStrategy {
            strategy: strategy.clone(),
            updated_at: at,
            updated_by: by.to_owned(),
        })
    }
}
