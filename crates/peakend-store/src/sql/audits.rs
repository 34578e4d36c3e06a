//! The SQL behind audits, photos, the checks made per hall and day, and the hall's
//! improvement plan. A child module of `sql`, so it shares the pool.

use chrono::Datelike;
use peakend_core::audit::{AgentChecks, CheckRow};
use peakend_core::ops::day::CheckTally;
use sha2::{Digest, Sha256};

use super::*;
use crate::audits::{
    AuditStore, AuditSummary, CallOnRecord, CheckGrouping, DayToCheck, Drill, Exam, NewAudit,
    PlanAction, Sites, Stocktake,
};

/// Adds checks to a hall's day and month (`$1` hall, `$2` day, `$3` month, `$4`
/// standard, `$5` moment, `$6` source, `$7` made, `$8` passed).
const ADD_DAY: &str = "INSERT INTO check_day (hall_id, day, standard_key, moment_key, source, made, passed)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (hall_id, day, standard_key, source)
     DO UPDATE SET made = check_day.made + excluded.made, passed = check_day.passed + excluded.passed";
const ADD_MONTH: &str = "INSERT INTO check_month (hall_id, month, standard_key, moment_key, source, made, passed)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (hall_id, month, standard_key, source)
     DO UPDATE SET made = check_month.made + excluded.made, passed = check_month.passed + excluded.passed";

fn month_of(day: NaiveDate) -> String {
    day.format("%Y-%m").to_string()
}

fn parse_day(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("`{s}` is not a date")))
}

/// Sites in parts a statement can bind: the halls of `Only` 500 at a time; the few
/// left out by `AllBut` in one.
fn hall_chunks(sites: Sites<'_>) -> Vec<Sites<'_>> {
    match sites {
        Sites::Only(h) if !h.is_empty() => h.chunks(500).map(Sites::Only).collect(),
        other => vec![other],
    }
}

/// ` AND hall_id IN ($n, …)` (or `NOT IN`) for a part, numbering from `first`.
fn hall_filter(chunk: Sites<'_>, first: usize) -> String {
    let marks = |h: &[HallId]| -> String {
        (0..h.len())
            .map(|i| format!("${}", first + i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match chunk {
        Sites::All | Sites::AllBut([]) => String::new(),
        Sites::Only([]) => " AND 1 = 0".into(),
        Sites::Only(h) => format!(" AND hall_id IN ({})", marks(h)),
        Sites::AllBut(h) => format!(" AND hall_id NOT IN ({})", marks(h)),
    }
}

/// The halls a part binds.
fn bound(chunk: Sites<'_>) -> &[HallId] {
    match chunk {
        Sites::All => &[],
        Sites::Only(h) | Sites::AllBut(h) => h,
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn put_photo(&self, bytes: &[u8], content_type: &str, by: &str) -> Result<String> {
        let id: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let size = bytes.len() as i64;
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_photo (id, content_type, bytes, size, by_user, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(content_type)
            .bind(bytes)
            .bind(size)
            .bind(by)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(id)
    }

    async fn photo(&self, id: &str) -> Result<Option<(String, Vec<u8>)>> {
        let row: Option<(String, Vec<u8>)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT content_type, bytes FROM audit_photo WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    async fn photo_halls(&self, id: &str) -> Result<Vec<HallId>> {
        let rows: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT DISTINCT a.hall_id FROM audit_item i JOIN audit a ON a.id = i.audit_id
                 WHERE i.photo = $1",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(h,)| HallId::parse(&h).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn record_audit(&self, a: &NewAudit) -> Result<i64> {
        let day = a.day.to_string();
        let month = month_of(a.day);
        let id = on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            for item in &a.items {
                if let Some(photo) = &item.photo {
                    let found: Option<(String,)> =
                        sqlx::query_as("SELECT id FROM audit_photo WHERE id = $1")
                            .bind(photo)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if found.is_none() {
                        return Err(StoreError::Invalid(format!(
                            "items: standard `{}`: photo `{photo}` was not uploaded (POST /api/v1/audits/photos first)",
                            item.standard
                        )));
                    }
                }
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO audit (hall_id, kind, at_ms, day, journey_key, by_user, created_at, call_id, agent)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(a.hall.as_str())
            .bind(a.kind.as_str())
            .bind(a.at_ms)
            .bind(&day)
            .bind(a.journey.as_str())
            .bind(&a.by)
            .bind(now_ms())
            .bind(a.call.as_deref())
            .bind(a.agent.as_deref())
            .fetch_one(&mut *tx)
            .await?;
            for item in &a.items {
                sqlx::query(
                    "INSERT INTO audit_item (audit_id, standard_key, moment_key, result, passed, note, photo)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(item.standard.as_str())
                .bind(item.moment.as_str())
                .bind(&item.result)
                .bind(item.passed)
                .bind(&item.note)
                .bind(&item.photo)
                .execute(&mut *tx)
                .await?;
                let passed = i64::from(item.passed);
                for (sql, period) in [(ADD_DAY, &day), (ADD_MONTH, &month)] {
                    sqlx::query(sql)
                        .bind(a.hall.as_str())
                        .bind(period)
                        .bind(item.standard.as_str())
                        .bind(item.moment.as_str())
                        .bind(a.kind.as_str())
                        .bind(1i64)
                        .bind(passed)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    async fn audits(&self, hall: &HallId, from_ms: i64) -> Result<Vec<AuditSummary>> {
        type Row = (
            i64,
            String,
            i64,
            String,
            i64,
            i64,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT a.id, a.kind, a.at_ms, a.by_user, COUNT(i.standard_key),
                        COALESCE(SUM(CASE WHEN i.passed THEN 1 ELSE 0 END), 0), a.call_id, a.agent
                 FROM audit a LEFT JOIN audit_item i ON i.audit_id = a.id
                 WHERE a.hall_id = $1 AND a.at_ms >= $2
                 GROUP BY a.id, a.kind, a.at_ms, a.by_user, a.call_id, a.agent
                 ORDER BY a.at_ms DESC, a.id DESC LIMIT 200",
            )
            .bind(hall.as_str())
            .bind(from_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, kind, at_ms, by, items, passed, call, agent)| AuditSummary {
                    id,
                    hall: hall.to_string(),
                    kind,
                    at_ms,
                    by,
                    items,
                    passed,
                    call,
                    agent,
                },
            )
            .collect())
    }

    async fn days_to_check_of(
        &self,
        before_ms: i64,
        limit: i64,
        halls: &crate::SweepHalls,
    ) -> Result<Vec<DayToCheck>> {
        let sql = format!(
            "SELECT d.hall_id, d.day_start, d.events FROM event_day d
             LEFT JOIN check_closed c ON c.hall_id = d.hall_id AND c.day_start = d.day_start
             WHERE d.day_start < $1 AND (c.events IS NULL OR c.events <> d.events){}
             ORDER BY d.day_start LIMIT $2",
            halls.sql("d.hall_id")
        );
        let rows: Vec<(String, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(&sql)
            .bind(before_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(hall, day_start, events)| {
                Ok(DayToCheck {
                    hall: HallId::parse(&hall).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    day_start,
                    events,
                })
            })
            .collect()
    }

    async fn record_auto_checks(
        &self,
        d: &DayToCheck,
        date: NaiveDate,
        tallies: &[CheckTally],
    ) -> Result<()> {
        let day = date.to_string();
        let month = month_of(date);
        // The new figures against the old, per standard: the month takes the difference.
        let mut delta: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for t in tallies.iter().filter(|t| t.made > 0) {
            let e = delta
                .entry((t.standard.to_string(), t.moment.to_string()))
                .or_default();
            e.0 += t.made as i64;
            e.1 += t.passed as i64;
        }
        let new = delta.clone();
        let pg = self.backend() == Backend::Postgres;
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            if pg {
                // Nodes checking one hall at once (its partition changed hands during a
                // sweep) take turns: the second reads the first's day below, so the
                // month takes the difference, not the day twice.
                sqlx::query("SELECT pg_advisory_xact_lock(7424003, hashtext($1))")
                    .bind(d.hall.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            let old: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT standard_key, moment_key, made, passed FROM check_day
                 WHERE hall_id = $1 AND day = $2 AND source = 'auto'",
            )
            .bind(d.hall.as_str())
            .bind(&day)
            .fetch_all(&mut *tx)
            .await?;
            for (standard, moment, made, passed) in old {
                let e = delta.entry((standard, moment)).or_default();
                e.0 -= made;
                e.1 -= passed;
            }
            sqlx::query("DELETE FROM check_day WHERE hall_id = $1 AND day = $2 AND source = 'auto'")
                .bind(d.hall.as_str())
                .bind(&day)
                .execute(&mut *tx)
                .await?;
            for ((standard, moment), (made, passed)) in &new {
                sqlx::query(ADD_DAY)
                    .bind(d.hall.as_str())
                    .bind(&day)
                    .bind(standard)
                    .bind(moment)
                    .bind("auto")
                    .bind(made)
                    .bind(passed)
                    .execute(&mut *tx)
                    .await?;
            }
            for ((standard, moment), (made, passed)) in delta.iter().filter(|(_, v)| **v != (0, 0)) {
                sqlx::query(ADD_MONTH)
                    .bind(d.hall.as_str())
                    .bind(&month)
                    .bind(standard)
                    .bind(moment)
                    .bind("auto")
                    .bind(made)
                    .bind(passed)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO check_closed (hall_id, day_start, events) VALUES ($1, $2, $3)
                 ON CONFLICT (hall_id, day_start) DO UPDATE SET events = excluded.events",
            )
            .bind(d.hall.as_str())
            .bind(d.day_start)
            .bind(d.events)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn check_rows_of(
        &self,
        halls: Sites<'_>,
        from: NaiveDate,
        to: NaiveDate,
        grouping: CheckGrouping,
    ) -> Result<Vec<CheckRow>> {
        // Whole months inside [from, to] come from `check_month`; the days around them
        // (or every day, per day) from `check_day`. Both are summed in the database:
        // a province's year is 240,000 month rows and a few thousand groups.
        let daily = grouping == CheckGrouping::Days;
        let first_full = if from.day() == 1 {
            Some(from)
        } else {
            from.with_day(1)
                .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
        };
        let after_to = to.succ_opt().unwrap_or(to);
        // The first day of `to`'s month, or of the next when `to` ends its month.
        let last_full_end = after_to.with_day(1);
        let months: Option<(NaiveDate, NaiveDate)> = match (first_full, last_full_end) {
            (Some(a), Some(b)) if !daily && a < b => Some((a, b)),
            _ => None,
        };
        let day_ranges: Vec<(NaiveDate, NaiveDate)> = match months {
            Some((a, b)) => vec![(from, a), (b, after_to)],
            None => vec![(from, after_to)],
        }
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect();
        // (selected keys, grouped keys) of each table, in `row`'s order: hall, period,
        // moment, standard, source.
        let keys = |period: &str| match grouping {
            CheckGrouping::Standards => (
                "hall_id, '', moment_key, standard_key, source".to_owned(),
                "hall_id, moment_key, standard_key, source".to_owned(),
            ),
            CheckGrouping::Months | CheckGrouping::Days => (
                format!("'', {period}, moment_key, '', source"),
                format!("{period}, moment_key, source"),
            ),
        };
        let mut out = Vec::new();
        for chunk in hall_chunks(halls) {
            let mut queries: Vec<(String, String, String)> = Vec::new();
            if let Some((a, b)) = months {
                let (select, group) = keys("month");
                queries.push((
                    format!(
                        "SELECT {select}, CAST(SUM(made) AS BIGINT), CAST(SUM(passed) AS BIGINT)
                         FROM check_month WHERE month >= $1 AND month < $2{} GROUP BY {group}",
                        hall_filter(chunk, 3)
                    ),
                    month_of(a),
                    month_of(b),
                ));
            }
            for (a, b) in &day_ranges {
                let (select, group) = keys(if daily { "day" } else { "substr(day, 1, 7)" });
                queries.push((
                    format!(
                        "SELECT {select}, CAST(SUM(made) AS BIGINT), CAST(SUM(passed) AS BIGINT)
                         FROM check_day WHERE day >= $1 AND day < $2{} GROUP BY {group}",
                        hall_filter(chunk, 3)
                    ),
                    a.to_string(),
                    b.to_string(),
                ));
            }
            for (sql, lo, hi) in &queries {
                let rows: Vec<(String, String, String, String, String, i64, i64)> = on_pool!(self, pool => {
                    let mut q = sqlx::query_as(sql).bind(lo).bind(hi);
                    for h in bound(chunk) {
                        q = q.bind(h.as_str());
                    }
                    q.fetch_all(pool).await?
                });
                out.extend(rows.into_iter().map(row));
            }
        }
        Ok(out)
    }

    async fn agent_checks(
        &self,
        centres: &[HallId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<AgentChecks>> {
        let mut out = Vec::new();
        for chunk in centres.chunks(500) {
            let sql = format!(
                "SELECT a.hall_id, a.agent, COUNT(*),
                        CAST(SUM(CASE WHEN i.passed THEN 1 ELSE 0 END) AS BIGINT)
                 FROM audit a JOIN audit_item i ON i.audit_id = a.id
                 WHERE a.kind = 'monitoring' AND a.agent IS NOT NULL
                   AND a.day >= $1 AND a.day <= $2{}
                 GROUP BY a.hall_id, a.agent",
                hall_filter(Sites::Only(chunk), 3).replace("hall_id", "a.hall_id")
            );
            let rows: Vec<(String, String, i64, i64)> = on_pool!(self, pool => {
                let mut q = sqlx::query_as(&sql).bind(from.to_string()).bind(to.to_string());
                for h in chunk {
                    q = q.bind(h.as_str());
                }
                q.fetch_all(pool).await?
            });
            out.extend(
                rows.into_iter()
                    .map(|(hall, agent, made, passed)| AgentChecks {
                        hall,
                        agent,
                        made,
                        passed,
                    }),
            );
        }
        Ok(out)
    }

    async fn call_on_record(&self, centre: &HallId, call: &str) -> Result<CallOnRecord> {
        // The condition and expression of each backend's `visit_event_call` index
        // (migrations 0028 and, on SQLite, 0046): a partial index serves only a query
        // that repeats its condition.
        let kinds = match &self.pool {
            Pool::Sqlite(_) => {
                "(kind = 'call_offered' OR kind = 'call_answered' OR kind = 'call_transferred')"
            }
            Pool::Postgres(_) => "kind IN ('call_offered', 'call_answered', 'call_transferred')",
        };
        let rows: Option<Vec<(String,)>> = on_pool!(self, pool => {
            let any: Option<(String,)> =
                sqlx::query_as("SELECT hall_id FROM visit_event WHERE hall_id = $1 LIMIT 1")
                    .bind(centre.as_str())
                    .fetch_optional(pool)
                    .await?;
            if any.is_none() {
                None
            } else {
                let by_call = match &self.pool {
                    Pool::Sqlite(_) => "json_extract(payload, '$.call')",
                    Pool::Postgres(_) => {
                        "(CASE WHEN payload ~ '\\\\u0000' THEN NULL ELSE payload::json ->> 'call' END)"
                    }
                };
                let sql = format!(
                    "SELECT payload FROM visit_event WHERE hall_id = $1 AND {by_call} = $2 AND {kinds}"
                );
                Some(
                    sqlx::query_as(&sql)
                        .bind(centre.as_str())
                        .bind(call)
                        .fetch_all(pool)
                        .await?,
                )
            }
        });
        let Some(rows) = rows else {
            return Ok(CallOnRecord::NoEvents);
        };
        let mut events: Vec<Event> = rows
            .iter()
            .filter_map(|(p,)| Event::from_json(p).ok())
            .filter(|e| e.kind.call_id() == Some(call))
            .collect();
        if events.is_empty() {
            return Ok(CallOnRecord::Unknown);
        }
        events.sort_by_key(|e| e.at_ms());
        let mut offered_at = None;
        let mut agents: Vec<String> = Vec::new();
        for e in &events {
            match &e.kind {
                EventKind::CallOffered { .. } => {
                    offered_at = Some(offered_at.map_or(e.at_ms(), |a: i64| a.min(e.at_ms())));
                }
                EventKind::CallAnswered { agent, .. }
                | EventKind::CallTransferred {
                    agent: Some(agent), ..
                } if !agents.contains(agent) => {
                    agents.push(agent.clone());
                }
                _ => {}
            }
        }
        Ok(CallOnRecord::Found { offered_at, agents })
    }

    async fn add_stocktake(
        &self,
        hall: &HallId,
        at_ms: i64,
        body: &serde_json::Value,
        by: &str,
    ) -> Result<i64> {
        let (id,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO plan_stocktake (hall_id, at_ms, body, by_user) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(hall.as_str())
            .bind(at_ms)
            .bind(body.to_string())
            .bind(by)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    async fn stocktakes(&self, hall: &HallId, limit: i64) -> Result<Vec<Stocktake>> {
        let rows: Vec<(i64, i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, at_ms, by_user, body FROM plan_stocktake WHERE hall_id = $1
                 ORDER BY at_ms DESC, id DESC LIMIT $2",
            )
            .bind(hall.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, at_ms, by, body)| {
                Ok(Stocktake {
                    id,
                    at_ms,
                    by,
                    body: serde_json::from_str(&body)
                        .map_err(|e| StoreError::Corrupt(format!("stock-take {id}: {e}")))?,
                })
            })
            .collect()
    }

    async fn add_action(&self, hall: &HallId, a: &PlanAction) -> Result<i64> {
        let (id,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO plan_action (hall_id, moment_key, standard_key, what, owner, due, metric,
                   baseline, target, created_at, by_user)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(hall.as_str())
            .bind(&a.moment)
            .bind(&a.standard)
            .bind(&a.what)
            .bind(&a.owner)
            .bind(a.due.to_string())
            .bind(&a.metric)
            .bind(a.baseline)
            .bind(a.target)
            .bind(a.created_at)
            .bind(&a.by)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    async fn actions(&self, hall: &HallId) -> Result<Vec<PlanAction>> {
        type Row = (
            i64,
            String,
            Option<String>,
            String,
            String,
            String,
            String,
            Option<f64>,
            f64,
            i64,
            String,
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, moment_key, standard_key, what, owner, due, metric, baseline, target,
                        created_at, by_user
                 FROM plan_action WHERE hall_id = $1 ORDER BY id DESC LIMIT 500",
            )
            .bind(hall.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(PlanAction {
                    id: r.0,
                    moment: r.1,
                    standard: r.2,
                    what: r.3,
                    owner: r.4,
                    due: parse_day(&r.5)?,
                    metric: r.6,
                    baseline: r.7,
                    target: r.8,
                    created_at: r.9,
                    by: r.10,
                })
            })
            .collect()
    }

    async fn add_drill(&self, hall: &HallId, d: &Drill) -> Result<i64> {
        let attendees =
            serde_json::to_string(&d.attendees).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let (id,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO plan_drill (hall_id, day, moment_key, attendees, note, by_user, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(hall.as_str())
            .bind(d.day.to_string())
            .bind(&d.moment)
            .bind(attendees)
            .bind(&d.note)
            .bind(&d.by)
            .bind(now_ms())
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    async fn drills(&self, hall: &HallId, from: NaiveDate) -> Result<Vec<Drill>> {
        let rows: Vec<(i64, String, String, String, Option<String>, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, day, moment_key, attendees, note, by_user FROM plan_drill
                 WHERE hall_id = $1 AND day >= $2 ORDER BY day DESC, id DESC LIMIT 500",
            )
            .bind(hall.as_str())
            .bind(from.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, day, moment, attendees, note, by)| {
                Ok(Drill {
                    id,
                    day: parse_day(&day)?,
                    moment,
                    attendees: serde_json::from_str(&attendees)
                        .map_err(|e| StoreError::Corrupt(format!("drill {id}: {e}")))?,
                    note,
                    by,
                })
            })
            .collect()
    }

    async fn add_exam(&self, e: &Exam, by: &str) -> Result<i64> {
        let (id,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO exam (hall_id, staff, period, taken, score, out_of, by_user, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(&e.hall)
            .bind(&e.staff)
            .bind(&e.period)
            .bind(e.taken.to_string())
            .bind(e.score)
            .bind(e.out_of)
            .bind(by)
            .bind(now_ms())
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    async fn exams(&self, hall: &HallId, from: NaiveDate) -> Result<Vec<Exam>> {
        let rows: Vec<(i64, String, String, String, f64, f64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, staff, period, taken, score, out_of FROM exam
                 WHERE hall_id = $1 AND taken >= $2 ORDER BY taken DESC, id DESC LIMIT 1000",
            )
            .bind(hall.as_str())
            .bind(from.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, staff, period, taken, score, out_of)| {
                Ok(Exam {
                    id,
                    hall: hall.to_string(),
                    staff,
                    period,
                    taken: parse_day(&taken)?,
                    score,
                    out_of,
                })
            })
            .collect()
    }
}

fn row(r: (String, String, String, String, String, i64, i64)) -> CheckRow {
    CheckRow {
        hall: r.0,
        period: r.1,
        moment: r.2,
        standard: r.3,
        source: r.4,
        made: r.5,
        passed: r.6,
    }
}
