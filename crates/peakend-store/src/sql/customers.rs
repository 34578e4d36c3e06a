//! The SQL behind one customer across channels: the projection's reads and its
//! erasure (the ingest writes it, see `ingest::INSERT_CUSTOMER_CONTACT`), and the
//! survey answers summed per moment. A child module of `sql`, so it shares the pool.

use super::*;
use crate::customers::{CustomerStore, MomentRatings, StoredContact};

type ContactRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i32,
    i64,
);

fn stored_contact(r: ContactRow) -> StoredContact {
    StoredContact {
        contact_id: r.0,
        customer_key: r.1,
        channel: r.2,
        hall: r.3,
        purpose: r.4,
        outcome: r.5,
        resolved: r.6 != 0,
        at: r.7,
    }
}

#[async_trait]
impl CustomerStore for SqlStore {
    async fn customer_contacts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<StoredContact>> {
        let rows: Vec<ContactRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT contact_id, customer_key, channel, hall_id, purpose, outcome, resolved, at
                 FROM customer_contact WHERE at >= $1 AND at < $2 ORDER BY at, contact_id",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(stored_contact).collect())
    }

    async fn hotline_contacts(
        &self,
        centre: &HallId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StoredContact>> {
        // The channel is written out so that both planners pick the partial index.
        let rows: Vec<ContactRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT contact_id, customer_key, channel, hall_id, purpose, outcome, resolved, at
                 FROM customer_contact
                 WHERE channel = 'hotline' AND hall_id = $1 AND at >= $2 AND at < $3
                 ORDER BY at, contact_id",
            )
            .bind(centre.as_str())
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(stored_contact).collect())
    }

    async fn erase_customer_contacts(&self, before_ms: i64) -> Result<usize> {
        // Nothing to erase (the common case): no write transaction at all.
        let any: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT contact_id FROM customer_contact WHERE at < $1 LIMIT 1")
                .bind(before_ms)
                .fetch_optional(pool)
                .await?
        });
        if any.is_none() {
            return Ok(0);
        }
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM customer_contact WHERE at < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n as usize)
    }

    async fn moment_ratings(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<MomentRatings>> {
        type Packed = (i64, String, String, Option<i64>, Option<Vec<u8>>);
        let (rows, packed, layouts): (
            Vec<(String, String, String, i64, f64)>,
            Vec<Packed>,
            Vec<(i64, String)>,
        ) = on_pool!(self, pool => {
            // Answers stored with a row per rating are summed by the database...
            let rows = sqlx::query_as(
                "SELECT r.hall_id, r.journey_key, rr.moment_key, COUNT(*), SUM(rr.satisfaction)
                 FROM survey_response r
                 JOIN response_rating rr ON rr.hall_id = r.hall_id AND rr.response_id = r.id
                 WHERE r.visit_date >= $1 AND r.visit_date <= $2 AND rr.satisfaction IS NOT NULL
                 GROUP BY r.hall_id, r.journey_key, rr.moment_key",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            // ...packed ones are read here.
            let packed = sqlx::query_as(
                "SELECT id, hall_id, journey_key, layout_id, answers FROM survey_response
                 WHERE visit_date >= $1 AND visit_date <= $2 AND answers IS NOT NULL",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            let layouts = sqlx::query_as("SELECT id, layout FROM answer_layout").fetch_all(pool).await?;
            (rows, packed, layouts)
        });
        let layouts = parse_layouts(layouts)?;
        let mut sums: BTreeMap<(String, String, String), (u64, f64)> = BTreeMap::new();
        for (hall, journey, moment, n, sum) in rows {
            let s = sums.entry((hall, journey, moment)).or_default();
            s.0 += n.max(0) as u64;
            s.1 += sum;
        }
        for (id, hall, journey, layout, bytes) in packed {
            let (Some(layout), Some(bytes)) = (layout, bytes) else {
                continue;
            };
            for (moment, sat) in packed_satisfactions(&layouts, id, layout, &bytes)? {
                let s = sums
                    .entry((hall.clone(), journey.clone(), moment))
                    .or_default();
                s.0 += 1;
                s.1 += sat;
            }
        }
        Ok(sums
            .into_iter()
            .map(|((hall, journey, moment), (n, sum))| MomentRatings {
                hall,
                journey,
                moment,
                n,
                sum,
            })
            .collect())
    }
}

/// Every stored answer layout by id.
pub(super) fn parse_layouts(
    rows: Vec<(i64, String)>,
) -> Result<HashMap<i64, peakend_core::answers::AnswerLayout>> {
    rows.into_iter()
        .map(|(id, text)| {
            peakend_core::answers::AnswerLayout::parse(&text)
                .map(|l| (id, l))
                .map_err(|e| StoreError::Corrupt(format!("answer layout {id}: {e}")))
        })
        .collect()
}

/// The satisfaction per moment key of one packed answer (`of`, the response or
/// invitation it belongs to, names it in errors).
pub(super) fn packed_satisfactions(
    layouts: &HashMap<i64, peakend_core::answers::AnswerLayout>,
    of: i64,
    layout: i64,
    bytes: &[u8],
) -> Result<Vec<(String, f64)>> {
    let corrupt = |e: String| StoreError::Corrupt(format!("answers of {of}: {e}"));
    let layout = layouts
        .get(&layout)
        .ok_or_else(|| corrupt(format!("no answer layout {layout}")))?;
    Ok(peakend_core::answers::satisfactions(layout, bytes)
        .map_err(corrupt)?
        .into_iter()
        .map(|(i, s)| (layout.moments[i].key.clone(), s))
        .collect())
}
