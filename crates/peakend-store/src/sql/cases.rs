//! The SQL behind service cases: opening, listing, changing on a version, the
//! escalation sweep, contact erasure, the KPI figures and the webhook outbox. A child
//! module of `sql`, so it shares the pool.

use peakend_core::case::{Case, CaseChange, CaseConflict, CaseEntry, CaseId, NewCase};

use super::*;
use crate::cases::{
    CaseFigures, CaseFilter, CaseStore, Delivery, Escalation, Webhook, WebhookCase, next_month,
    sql as q, utc_month, webhook_body,
};

const COLUMNS: &str = "id, hall_id, source, ticket, response_id, moment_key, severity, summary, \
    contact, state, version, owner, level_id, escalations, opened_at, acknowledge_due, \
    resolve_due, callback_due, due_at, acknowledged_at, resolved_at, followed_up_at, closed_at, \
    reopened, root_cause, good_faith, recovery, recommend, callback_token, contact_erased_at";

/// Decodes a row of [`COLUMNS`] on either backend.
macro_rules! case_of_row {
    ($row:expr) => {{
        use sqlx::Row;
        let r = $row;
        let id: i64 = r.try_get(0)?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("case {id}: {what}"));
        let hall: String = r.try_get(1)?;
        let source: String = r.try_get(2)?;
        let moment: String = r.try_get(5)?;
        let severity: String = r.try_get(6)?;
        let state: String = r.try_get(9)?;
        let level: String = r.try_get(12)?;
        let good_faith: Option<i32> = r.try_get(25)?;
        Case {
            id: CaseId(id),
            hall: HallId::parse(hall.as_str()).map_err(|_| corrupt("hall"))?,
            source: peakend_core::case::CaseSource::parse(&source)
                .ok_or_else(|| corrupt("source"))?,
            ticket: r.try_get(3)?,
            response: r.try_get(4)?,
            moment: peakend_core::MomentKey::parse(moment.as_str())
                .map_err(|_| corrupt("moment"))?,
            severity: peakend_core::case::Severity::parse(&severity)
                .map_err(|_| corrupt("severity"))?,
            summary: r.try_get(7)?,
            contact: r.try_get(8)?,
            state: peakend_core::case::CaseState::parse(&state).map_err(|_| corrupt("state"))?,
            version: r.try_get(10)?,
            owner: r.try_get(11)?,
            level: OrgNodeId::parse(level.as_str()).map_err(|_| corrupt("level"))?,
            escalations: i64::from(r.try_get::<i32, _>(13)?),
            opened_at: r.try_get(14)?,
            acknowledge_due: r.try_get(15)?,
            resolve_due: r.try_get(16)?,
            callback_due: r.try_get(17)?,
            due_at: r.try_get(18)?,
            acknowledged_at: r.try_get(19)?,
            resolved_at: r.try_get(20)?,
            followed_up_at: r.try_get(21)?,
            closed_at: r.try_get(22)?,
            reopened: i64::from(r.try_get::<i32, _>(23)?),
            root_cause: r.try_get(24)?,
            good_faith: good_faith.map(|g| g != 0),
            recovery: r.try_get::<Option<i32>, _>(26)?.map(i64::from),
            recommend: r.try_get::<Option<i32>, _>(27)?.map(i64::from),
            callback_token: r.try_get(28)?,
            contact_erased_at: r.try_get(29)?,
        }
    }};
}

/// Writes a case's changed fields back on the version it was read at; false when it
/// changed since.
macro_rules! update_case {
    ($tx:ident, $c:expr, $version:expr) => {{
        let c = $c;
        sqlx::query(
            "UPDATE service_case SET state = $1, version = version + 1, owner = $2, level_id = $3,
               escalations = $4, resolve_due = $5, callback_due = $6, due_at = $7,
               acknowledged_at = $8, resolved_at = $9, followed_up_at = $10, closed_at = $11,
               reopened = $12, root_cause = $13, good_faith = $14, recovery = $15,
               recommend = $16, callback_token = $17
             WHERE id = $18 AND version = $19",
        )
        .bind(c.state.as_str())
        .bind(c.owner.as_deref())
        .bind(c.level.as_str())
        .bind(c.escalations as i32)
        .bind(c.resolve_due)
        .bind(c.callback_due)
        .bind(c.due_at)
        .bind(c.acknowledged_at)
        .bind(c.resolved_at)
        .bind(c.followed_up_at)
        .bind(c.closed_at)
        .bind(c.reopened as i32)
        .bind(c.root_cause.as_deref())
        .bind(c.good_faith.map(i32::from))
        .bind(c.recovery.map(|v| v as i32))
        .bind(c.recommend.map(|v| v as i32))
        .bind(c.callback_token.as_deref())
        .bind(c.id.0)
        .bind($version)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
            == 1
    }};
}

macro_rules! insert_entry {
    ($tx:ident, $id:expr, $e:expr) => {{
        let e: &CaseEntry = $e;
        sqlx::query(q::INSERT_ENTRY)
            .bind($id)
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.kind)
            .bind(e.from.as_deref())
            .bind(e.to.as_deref())
            .bind(e.note.as_deref())
            .execute(&mut *$tx)
            .await?;
    }};
}

macro_rules! enqueue {
    ($tx:ident, $event:expr, $body:expr, $at:expr) => {{
        sqlx::query(q::ENQUEUE)
            .bind($event)
            .bind($body)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
    }};
}

fn announce(event: &str, c: &Case, at: i64) -> String {
    webhook_body(
        event,
        &WebhookCase {
            id: c.id.0,
            hall: c.hall.as_str(),
            source: c.source.as_str(),
            moment: c.moment.as_str(),
            severity: c.severity.as_str(),
            state: c.state.as_str(),
            level: c.level.as_str(),
            owner: c.owner.as_deref(),
        },
        at,
    )
}

/// `col IN (…)` over a list of `values` bound as one JSON array at mark `$n` (see
/// [`json_list`]; an empty list matches nothing), or TRUE when `None`. One parameter
/// whatever the list's length: bound one by one, a province's 2,000 hall ids cost
/// SQLite more than the query itself.
fn in_list(col: &str, values: Option<usize>, n: usize, postgres: bool) -> String {
    match values {
        None => "1 = 1".into(),
        Some(_) if postgres => {
            format!("{col} IN (SELECT jsonb_array_elements_text(${n}::jsonb))")
        }
        Some(_) => format!("{col} IN (SELECT value FROM json_each(?{n}))"),
    }
}

/// The halls of an [`in_list`] as the JSON array it binds (`[]` for none).
fn json_list(halls: Option<&[HallId]>) -> String {
    let ids: Vec<&str> = halls.into_iter().flatten().map(HallId::as_str).collect();
    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
}

/// A row the case insert gives back: id, owner, hall, source, cause.
pub(super) type OpenedRow = (i64, Option<String>, String, String, String);

/// A case the lot opened, with its owner: what its timeline's first line and its
/// webhook deliveries are written from.
pub(super) type Opened<'a> = (i64, &'a NewCase, Option<String>);

/// The rows `open_cases!` writes, in each backend's fastest form: SQLite takes a
/// multi-row VALUES (its statements are cheap to prepare), PostgreSQL one statement of
/// arrays (UNNEST), prepared once whatever the lot's size, where a VALUES of 400 rows
/// with three subqueries each was parsed and planned afresh for every lot size and
/// was a third of the database's time in a busy ingest.
pub(super) trait CaseRows {
    /// Inserts `chunk` (with each case's contact key and whether an earlier case of
    /// the lot had the same customer); a cause with a case already is left alone.
    async fn insert_cases(
        &mut self,
        chunk: &[NewCase],
        keys: &[Option<String>],
        earlier: &[bool],
    ) -> Result<Vec<OpenedRow>>;
    /// The first line of each opened case's timeline.
    async fn insert_opened(&mut self, opened: &[Opened<'_>], actor: &str) -> Result<()>;
    /// A `case.opened` delivery of each opened case for webhook `hook`.
    async fn insert_opened_deliveries(
        &mut self,
        hook: i64,
        opened: &[Opened<'_>],
        now: i64,
    ) -> Result<()>;
}

impl CaseRows for sqlx::SqliteConnection {
    async fn insert_cases(
        &mut self,
        chunk: &[NewCase],
        keys: &[Option<String>],
        earlier: &[bool],
    ) -> Result<Vec<OpenedRow>> {
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, COALESCE(?,
               (SELECT name FROM app_user WHERE org_id = ? AND staff = ? ORDER BY name LIMIT 1),
               (SELECT name FROM app_user WHERE org_id = ? AND role = 'hall_manager' ORDER BY name LIMIT 1)),
             ?, ?, ?, ?, ?,
             CASE WHEN ? = 1 OR EXISTS (SELECT 1 FROM service_case p WHERE p.contact_key = ?
                               AND p.opened_at >= ? - 2592000000 AND p.opened_at <= ?)
                  THEN 1 ELSE 0 END)";
        let sql = format!(
            "INSERT INTO service_case
               (hall_id, source, cause, ticket, response_id, moment_key, severity, summary, contact,
                contact_key, state, version, owner, level_id, opened_at, acknowledge_due,
                resolve_due, due_at, repeat_contact)
             VALUES {}
             ON CONFLICT (hall_id, source, cause) DO NOTHING
             RETURNING id, owner, hall_id, source, cause",
            vec![row; chunk.len()].join(", ")
        );
        let mut query = sqlx::query_as::<_, OpenedRow>(&sql);
        for ((c, key), earlier) in chunk.iter().zip(keys).zip(earlier) {
            query = query
                .bind(c.hall.as_str())
                .bind(c.source.as_str())
                .bind(&c.cause)
                .bind(c.ticket.as_deref())
                .bind(c.response.as_deref())
                .bind(c.moment.as_str())
                .bind(c.severity.as_str())
                .bind(&c.summary)
                .bind(c.contact.as_deref())
                .bind(key.as_deref())
                .bind(c.owner.as_deref())
                .bind(c.hall.as_str())
                .bind(c.staff.as_deref())
                .bind(c.hall.as_str())
                .bind(c.hall.as_str())
                .bind(c.opened_at)
                .bind(c.acknowledge_due)
                .bind(c.resolve_due)
                .bind(c.acknowledge_due)
                .bind(i32::from(*earlier))
                .bind(key.as_deref())
                .bind(c.opened_at)
                .bind(c.opened_at);
        }
        Ok(query.fetch_all(self).await?)
    }

    async fn insert_opened(&mut self, opened: &[Opened<'_>], actor: &str) -> Result<()> {
        let sql = format!(
            "INSERT INTO case_event (case_id, at, actor, kind, from_state, to_state, note) VALUES {}",
            value_marks(false, opened.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for (id, c, owner) in opened {
            q = q
                .bind(*id)
                .bind(c.opened_at)
                .bind(actor)
                .bind("opened")
                .bind(None::<&str>)
                .bind("open")
                .bind(crate::cases::opened_note(owner.as_deref()));
        }
        q.execute(self).await?;
        Ok(())
    }

    async fn insert_opened_deliveries(
        &mut self,
        hook: i64,
        opened: &[Opened<'_>],
        now: i64,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO webhook_delivery (webhook_id, event, body, created_at, next_at) VALUES {}",
            value_marks(false, opened.len(), 5)
        );
        let mut q = sqlx::query(&sql);
        for (id, c, owner) in opened {
            q = q
                .bind(hook)
                .bind("case.opened")
                .bind(crate::cases::opened_body(c, *id, owner.as_deref(), now))
                .bind(now)
                .bind(now);
        }
        q.execute(self).await?;
        Ok(())
    }
}

impl CaseRows for sqlx::PgConnection {
    async fn insert_cases(
        &mut self,
        chunk: &[NewCase],
        keys: &[Option<String>],
        earlier: &[bool],
    ) -> Result<Vec<OpenedRow>> {
        let text = |f: fn(&NewCase) -> Option<&str>| chunk.iter().map(f).collect::<Vec<_>>();
        let number = |f: fn(&NewCase) -> i64| chunk.iter().map(f).collect::<Vec<_>>();
        // A statement's subqueries see the table as it was before the statement: a
        // customer's earlier case in the same lot comes as `earlier`.
        Ok(sqlx::query_as(
            "INSERT INTO service_case
               (hall_id, source, cause, ticket, response_id, moment_key, severity, summary, contact,
                contact_key, state, version, owner, level_id, opened_at, acknowledge_due,
                resolve_due, due_at, repeat_contact)
             SELECT c.hall_id, c.source, c.cause, c.ticket, c.response_id, c.moment_key,
                    c.severity, c.summary, c.contact, c.contact_key, 'open', 1,
                    COALESCE(c.owner,
                      (SELECT name FROM app_user WHERE org_id = c.hall_id AND staff = c.staff
                        ORDER BY name LIMIT 1),
                      (SELECT name FROM app_user WHERE org_id = c.hall_id AND role = 'hall_manager'
                        ORDER BY name LIMIT 1)),
                    c.hall_id, c.opened_at, c.acknowledge_due, c.resolve_due, c.acknowledge_due,
                    CASE WHEN c.earlier OR EXISTS (SELECT 1 FROM service_case p
                                WHERE p.contact_key = c.contact_key
                                  AND p.opened_at >= c.opened_at - 2592000000
                                  AND p.opened_at <= c.opened_at)
                         THEN 1 ELSE 0 END
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                         $13::int8[], $14::int8[], $15::int8[], $16::bool[])
                  WITH ORDINALITY AS c (hall_id, source, cause, ticket, response_id, moment_key,
                    severity, summary, contact, contact_key, owner, staff, opened_at,
                    acknowledge_due, resolve_due, earlier, n)
             ORDER BY c.n
             ON CONFLICT (hall_id, source, cause) DO NOTHING
             RETURNING id, owner, hall_id, source, cause",
        )
        .bind(text(|c| Some(c.hall.as_str())))
        .bind(text(|c| Some(c.source.as_str())))
        .bind(text(|c| Some(c.cause.as_str())))
        .bind(text(|c| c.ticket.as_deref()))
        .bind(text(|c| c.response.as_deref()))
        .bind(text(|c| Some(c.moment.as_str())))
        .bind(text(|c| Some(c.severity.as_str())))
        .bind(text(|c| Some(c.summary.as_str())))
        .bind(text(|c| c.contact.as_deref()))
        .bind(keys.iter().map(Option::as_deref).collect::<Vec<_>>())
        .bind(text(|c| c.owner.as_deref()))
        .bind(text(|c| c.staff.as_deref()))
        .bind(number(|c| c.opened_at))
        .bind(number(|c| c.acknowledge_due))
        .bind(number(|c| c.resolve_due))
        .bind(earlier)
        .fetch_all(self)
        .await?)
    }

    async fn insert_opened(&mut self, opened: &[Opened<'_>], actor: &str) -> Result<()> {
        let ids: Vec<i64> = opened.iter().map(|(id, _, _)| *id).collect();
        let at: Vec<i64> = opened.iter().map(|(_, c, _)| c.opened_at).collect();
        let notes: Vec<String> = opened
            .iter()
            .map(|(_, _, owner)| crate::cases::opened_note(owner.as_deref()))
            .collect();
        sqlx::query(
            "INSERT INTO case_event (case_id, at, actor, kind, from_state, to_state, note)
             SELECT e.id, e.at, $3, 'opened', NULL, 'open', e.note
             FROM UNNEST($1::int8[], $2::int8[], $4::text[]) WITH ORDINALITY AS e (id, at, note, n)
             ORDER BY e.n",
        )
        .bind(ids)
        .bind(at)
        .bind(actor)
        .bind(notes)
        .execute(self)
        .await?;
        Ok(())
    }

    async fn insert_opened_deliveries(
        &mut self,
        hook: i64,
        opened: &[Opened<'_>],
        now: i64,
    ) -> Result<()> {
        let bodies: Vec<String> = opened
            .iter()
            .map(|(id, c, owner)| crate::cases::opened_body(c, *id, owner.as_deref(), now))
            .collect();
        sqlx::query(
            "INSERT INTO webhook_delivery (webhook_id, event, body, created_at, next_at)
             SELECT $1, 'case.opened', d.body, $3, $3
             FROM UNNEST($2::text[]) WITH ORDINALITY AS d (body, n) ORDER BY d.n",
        )
        .bind(hook)
        .bind(bodies)
        .bind(now)
        .execute(self)
        .await?;
        Ok(())
    }
}

/// For each case of a lot, whether its customer (contact key) had another case of the
/// same lot in the 30 days before it (earlier in time, or at the same time and earlier
/// in the lot): what one multi-row statement cannot see of itself.
pub(super) fn earlier_in_lot(cases: &[NewCase], keys: &[Option<String>]) -> Vec<bool> {
    let mut by_key: HashMap<&str, Vec<(i64, usize)>> = HashMap::new();
    for (i, (c, k)) in cases.iter().zip(keys).enumerate() {
        if let Some(k) = k {
            by_key.entry(k.as_str()).or_default().push((c.opened_at, i));
        }
    }
    cases
        .iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (c, k))| {
            k.as_deref()
                .and_then(|k| by_key.get(k))
                .is_some_and(|others| {
                    others.iter().any(|&(at, j)| {
                        j != i
                            && at >= c.opened_at - 2_592_000_000
                            && (at < c.opened_at || (at == c.opened_at && j < i))
                    })
                })
        })
        .collect()
}

impl SqlStore {
    fn postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// The figures of the cases opened in [from, to) (of `halls`, all when `None`), in
    /// two passes over the covering `service_case_kpi` index, deadlines as (met, done);
    /// per hall when `by_hall`, else under the key "".
    async fn count_figures(
        &self,
        halls: Option<&[HallId]>,
        from_ms: i64,
        to_ms: i64,
        by_hall: bool,
    ) -> Result<HashMap<String, CaseFigures>> {
        let pg = self.postgres();
        let scope = format!(
            "opened_at >= {} AND opened_at < {} AND {}",
            if pg { "$1" } else { "?1" },
            if pg { "$2" } else { "?2" },
            in_list("hall_id", halls.map(<[HallId]>::len), 3, pg)
        );
        let hall = if by_hall { "hall_id" } else { "''" };
        let main = format!(
            "SELECT {hall}, source, moment_key, COUNT(*),
               COALESCE(SUM(CASE WHEN acknowledged_at IS NOT NULL AND acknowledged_at <= acknowledge_due THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN acknowledged_at IS NOT NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN resolved_at IS NOT NULL AND resolved_at <= resolve_due THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN callback_due IS NOT NULL AND followed_up_at IS NOT NULL AND followed_up_at <= callback_due THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN callback_due IS NOT NULL AND followed_up_at IS NOT NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN resolved_at IS NOT NULL AND reopened = 0 AND escalations = 0 THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN contact_key IS NOT NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(repeat_contact), 0)
             FROM service_case WHERE {scope} GROUP BY 1, source, moment_key"
        );
        // Each distribution in one pass: a case counts once per kind it has.
        let spread = format!(
            "SELECT {hall}, k.kind,
               CASE k.kind WHEN 1 THEN (acknowledged_at - opened_at) / 60000
                           WHEN 2 THEN (resolved_at - opened_at) / 60000
                           WHEN 3 THEN recovery ELSE recommend END AS v,
               COUNT(*)
             FROM service_case
             CROSS JOIN (SELECT 1 AS kind UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) k
             WHERE {scope} AND (
               (k.kind = 1 AND acknowledged_at IS NOT NULL) OR (k.kind = 2 AND resolved_at IS NOT NULL)
               OR (k.kind = 3 AND recovery IS NOT NULL)
               OR (k.kind = 4 AND recovery >= 4 AND recommend IS NOT NULL))
             GROUP BY 1, 2, 3"
        );
        let filtered = halls.is_some();
        let halls = json_list(halls);
        macro_rules! run {
            ($pool:ident, $sql:expr, $t:ty) => {{
                let mut query = sqlx::query_as::<_, $t>($sql).bind(from_ms).bind(to_ms);
                if filtered {
                    query = query.bind(&halls);
                }
                query.fetch_all($pool).await?
            }};
        }
        type Main = (
            String,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        );
        let mut out: HashMap<String, CaseFigures> = HashMap::new();
        on_pool!(self, pool => {
            for r in run!(pool, &main, Main) {
                let f = out.entry(r.0).or_default();
                if let Some(src) = peakend_core::case::CaseSource::parse(&r.1) {
                    f.by_source_moment.push((src, r.2, r.3));
                }
                f.sla[0].0 += r.4;
                f.sla[0].1 += r.5;
                f.sla[1].0 += r.6;
                f.sla[1].1 += r.7;
                f.sla[2].0 += r.8;
                f.sla[2].1 += r.9;
                f.resolved += r.7;
                f.first_contact_resolved += r.10;
                f.with_contact += r.11;
                f.repeat += r.12;
            }
            for (h, kind, v, n) in run!(pool, &spread, (String, i32, Option<i64>, i64)) {
                let Some(v) = v else { continue };
                let f = out.entry(h).or_default();
                match kind {
                    1 => f.acknowledge_minutes.push((v, n)),
                    2 => f.resolve_minutes.push((v, n)),
                    3 => f.recovery.push((v, n)),
                    _ => f.recovered_recommend.push((v, n)),
                }
            }
        });
        // The distributions in ascending order, as a merge leaves them.
        for f in out.values_mut() {
            let copy = std::mem::take(f);
            f.merge(&copy);
        }
        Ok(out)
    }

    /// The figures of the whole UTC months [first, last): each hall's kept month where
    /// it is current, and the stale ones counted again, a month at a time.
    async fn month_figures(
        &self,
        halls: Option<&[HallId]>,
        first: i64,
        last: i64,
    ) -> Result<CaseFigures> {
        let pg = self.postgres();
        let sql = format!(
            "SELECT hall_id, month, version, figures, figures_version FROM case_month
             WHERE month >= {} AND month < {} AND {}",
            if pg { "$1" } else { "?1" },
            if pg { "$2" } else { "?2" },
            in_list("hall_id", halls.map(<[HallId]>::len), 3, pg)
        );
        type Row = (String, i64, i64, Option<String>, Option<i64>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql).bind(first).bind(last);
            if halls.is_some() {
                query = query.bind(json_list(halls));
            }
            query.fetch_all(pool).await?
        });
        let mut total = CaseFigures::default();
        let mut stale: BTreeMap<i64, Vec<(HallId, i64)>> = BTreeMap::new();
        for (hall, month, version, figures, kept) in rows {
            let current = (kept == Some(version))
                .then(|| figures.and_then(|f| serde_json::from_str::<CaseFigures>(&f).ok()))
                .flatten();
            match current {
                Some(f) => total.merge(&f),
                None => {
                    let hall = HallId::parse(hall.as_str())
                        .map_err(|e| StoreError::Corrupt(format!("case month of `{hall}`: {e}")))?;
                    stale.entry(month).or_default().push((hall, version));
                }
            }
        }
        for (month, list) in stale {
            for chunk in list.chunks(500) {
                let ids: Vec<HallId> = chunk.iter().map(|(h, _)| h.clone()).collect();
                let mut counted = self
                    .count_figures(Some(&ids), month, next_month(month), true)
                    .await?;
                on_pool!(self, pool => {
                    let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
                    for (hall, version) in chunk {
                        let f = counted.remove(hall.as_str()).unwrap_or_default();
                        let json = serde_json::to_string(&f)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        // Kept only if no write came since it was read.
                        sqlx::query(
                            "UPDATE case_month SET figures = $1, figures_version = $2
                             WHERE hall_id = $3 AND month = $4 AND version = $2",
                        )
                        .bind(json)
                        .bind(*version)
                        .bind(hall.as_str())
                        .bind(month)
                        .execute(&mut *tx)
                        .await?;
                        total.merge(&f);
                    }
                    tx.commit().await?;
                });
            }
        }
        Ok(total)
    }

    /// Cases still being worked, opened in [from, to), whose deadline of each stage
    /// (acknowledge, resolve, callback) passed by `now`.
    async fn overdue(
        &self,
        halls: Option<&[HallId]>,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> Result<[i64; 3]> {
        let pg = self.postgres();
        let mark = |n: usize| if pg { format!("${n}") } else { format!("?{n}") };
        let sql = format!(
            "SELECT
               COALESCE(SUM(CASE WHEN state = 'open' AND acknowledge_due < {now} THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN state IN ('open', 'acknowledged', 'investigating') AND resolve_due < {now} THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN state = 'resolved' AND callback_due < {now} THEN 1 ELSE 0 END), 0)
             FROM service_case
             WHERE {active}
               AND opened_at >= {} AND opened_at < {} AND {}",
            mark(1),
            mark(2),
            in_list("hall_id", halls.map(<[HallId]>::len), 4, pg),
            now = mark(3),
            // The condition of each backend's `service_case_active` index (migrations
            // 0018 and, on SQLite, 0046), which a partial index needs repeated.
            active = if pg {
                "state IN ('open', 'acknowledged', 'investigating', 'resolved')"
            } else {
                "(state = 'open' OR state = 'acknowledged' OR state = 'investigating' OR state = 'resolved')"
            },
        );
        let (a, b, c): (i64, i64, i64) = on_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql).bind(from_ms).bind(to_ms).bind(now_ms);
            if halls.is_some() {
                query = query.bind(json_list(halls));
            }
            query.fetch_one(pool).await?
        });
        Ok([a, b, c])
    }
}

#[async_trait]
impl CaseStore for SqlStore {
    async fn open_cases(&self, cases: &[NewCase], actor: &str) -> Result<Vec<Option<CaseId>>> {
        let tree = self.org_tree().await?;
        for c in cases {
            let node = OrgNodeId::parse(c.hall.as_str())
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            if tree.get(&node).is_none_or(|n| n.level != OrgLevel::Hall) {
                return Err(StoreError::NotFound(format!(
                    "`{}` is not a hall of the organisation",
                    c.hall
                )));
            }
        }
        let now = now_ms();
        let ids = on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            let ids = open_cases!(&mut *tx, cases, actor, now);
            tx.commit().await?;
            ids
        });
        Ok(ids)
    }

    async fn case(&self, id: CaseId) -> Result<Option<Case>> {
        let sql = format!("SELECT {COLUMNS} FROM service_case WHERE id = $1");
        Ok(on_pool!(self, pool => {
            match sqlx::query(&sql).bind(id.0).fetch_optional(pool).await? {
                Some(row) => Some(case_of_row!(&row)),
                None => None,
            }
        }))
    }

    async fn case_timeline(&self, id: CaseId) -> Result<Vec<CaseEntry>> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT at, actor, kind, from_state, to_state, note FROM case_event
                 WHERE case_id = $1 ORDER BY id",
            )
            .bind(id.0)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(at, actor, kind, from, to, note)| CaseEntry {
                at,
                actor,
                kind,
                from,
                to,
                note,
            })
            .collect())
    }

    async fn cases(&self, f: &CaseFilter) -> Result<Vec<Case>> {
        let pg = self.postgres();
        let mut n = 0usize;
        let mut mark = || {
            n += 1;
            if pg { format!("${n}") } else { "?".to_owned() }
        };
        let mut conds: Vec<String> = Vec::new();
        // Halls and levels are OR-ed: a manager's inbox is the hall's cases, a region's
        // the cases escalated to it and below.
        let mut scope: Vec<String> = Vec::new();
        if let Some(h) = &f.halls {
            let marks: Vec<String> = h.iter().map(|_| mark()).collect();
            scope.push(if marks.is_empty() {
                "1 = 0".into()
            } else {
                format!("hall_id IN ({})", marks.join(", "))
            });
        }
        if let Some(l) = &f.levels {
            let marks: Vec<String> = l.iter().map(|_| mark()).collect();
            scope.push(if marks.is_empty() {
                "1 = 0".into()
            } else {
                format!("level_id IN ({})", marks.join(", "))
            });
        }
        if !scope.is_empty() {
            conds.push(format!("({})", scope.join(" OR ")));
        }
        if f.owner.is_some() {
            conds.push(format!("owner = {}", mark()));
        }
        if !f.states.is_empty() {
            let marks: Vec<String> = f.states.iter().map(|_| mark()).collect();
            conds.push(format!("state IN ({})", marks.join(", ")));
        }
        if f.source.is_some() {
            conds.push(format!("source = {}", mark()));
        }
        if f.moment.is_some() {
            conds.push(format!("moment_key = {}", mark()));
        }
        if f.opened_from.is_some() {
            conds.push(format!("opened_at >= {}", mark()));
        }
        if f.opened_to.is_some() {
            conds.push(format!("opened_at < {}", mark()));
        }
        if f.overdue_at.is_some() {
            conds.push(format!("due_at <= {}", mark()));
        }
        if f.before.is_some() {
            conds.push(format!("id < {}", mark()));
        }
        let limit = mark();
        let sql = format!(
            "SELECT {COLUMNS} FROM service_case{} ORDER BY id DESC LIMIT {limit}",
            if conds.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conds.join(" AND "))
            }
        );
        Ok(on_pool!(self, pool => {
            let mut query = sqlx::query(&sql);
            for h in f.halls.iter().flatten() {
                query = query.bind(h.as_str());
            }
            for l in f.levels.iter().flatten() {
                query = query.bind(l.as_str());
            }
            if let Some(o) = &f.owner {
                query = query.bind(o.as_str());
            }
            for s in &f.states {
                query = query.bind(s.as_str());
            }
            if let Some(s) = f.source {
                query = query.bind(s.as_str());
            }
            if let Some(m) = &f.moment {
                query = query.bind(m.as_str());
            }
            if let Some(v) = f.opened_from {
                query = query.bind(v);
            }
            if let Some(v) = f.opened_to {
                query = query.bind(v);
            }
            if let Some(v) = f.overdue_at {
                query = query.bind(v);
            }
            if let Some(v) = f.before {
                query = query.bind(v.0);
            }
            query = query.bind(f.limit.unwrap_or(100).clamp(1, 100_000));
            let rows = query.fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(case_of_row!(row));
            }
            out
        }))
    }

    async fn change_case(
        &self,
        id: CaseId,
        version: i64,
        change: &CaseChange,
        actor: &str,
        at_ms: i64,
    ) -> Result<std::result::Result<Case, CaseConflict>> {
        let Some(mut case) = self.case(id).await? else {
            return Err(StoreError::NotFound(format!("case {id} not found")));
        };
        if case.version != version {
            return Ok(Err(CaseConflict::Stale {
                sent: version,
                now: case.version,
                state: case.state,
                allowed: case.allowed(),
            }));
        }
        if let CaseChange::Assign { to, .. } = change {
            // The new owner works in the case's hall or above it in its line.
            let tree = self.org_tree().await?;
            let user = self.user_credentials(to).await?.map(|(u, _)| u);
            let node = OrgNodeId::parse(case.hall.as_str())
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            let fits = user.is_some_and(|u| peakend_core::Scope::new(u.org).covers(&tree, &node));
            if !fits {
                return Ok(Err(CaseConflict::Refused(format!(
                    "assign: `{to}` is not a user of hall `{}` or above it",
                    case.hall
                ))));
            }
        }
        let rules = crate::hall_rules(self, &case.hall).await?;
        let applied = match case.apply(change, &rules, actor, at_ms, &random_hex()) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        case.version += 1;
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            if !update_case!(tx, &case, version) {
                false
            } else {
                sqlx::query(q::BUMP_MONTH)
                    .bind(case.hall.as_str())
                    .bind(crate::cases::utc_month(case.opened_at))
                    .execute(&mut *tx)
                    .await?;
                insert_entry!(tx, id.0, &applied.entry);
                if let Some(event) = applied.event {
                    enqueue!(tx, event, announce(event, &case, at_ms), at_ms);
                }
                tx.commit().await?;
                true
            }
        });
        if !done {
            let now = self
                .case(id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("case {id} not found")))?;
            return Ok(Err(CaseConflict::Stale {
                sent: version,
                now: now.version,
                state: now.state,
                allowed: now.allowed(),
            }));
        }
        Ok(Ok(case))
    }

    async fn case_by_token(&self, token: &str) -> Result<Option<Case>> {
        let token = token.trim();
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM service_case WHERE callback_token = $1");
        Ok(on_pool!(self, pool => {
            match sqlx::query(&sql).bind(token).fetch_optional(pool).await? {
                Some(row) => Some(case_of_row!(&row)),
                None => None,
            }
        }))
    }

    async fn customer_callback(
        &self,
        token: &str,
        recovery: i64,
        recommend: Option<i64>,
        at_ms: i64,
    ) -> Result<Option<CaseId>> {
        let Some(case) = self.case_by_token(token).await? else {
            return Ok(None);
        };
        let change = CaseChange::Callback {
            recovery,
            recommend,
            note: Some("answered by the customer at the callback link".into()),
        };
        match self
            .change_case(case.id, case.version, &change, "customer", at_ms)
            .await?
        {
            Ok(c) => Ok(Some(c.id)),
            // Used meanwhile (or the case moved on): the link is spent.
            Err(CaseConflict::Stale { .. }) | Err(CaseConflict::Move(_)) => Ok(None),
            Err(e) => Err(StoreError::Invalid(e.to_string())),
        }
    }

    async fn sweep_cases_of(
        &self,
        at_ms: i64,
        halls: &crate::SweepHalls,
    ) -> Result<Vec<Escalation>> {
        // A transaction a few hundred cases: a backlog (a server that was down, days
        // replayed into it) must not hold the database's writes for seconds.
        const BATCH: i64 = 500;
        let pg = self.postgres();
        let sql = format!(
            "SELECT {COLUMNS} FROM service_case WHERE due_at <= $1{} ORDER BY due_at, id LIMIT $2",
            halls.sql("service_case.hall_id")
        );
        // The rules are read once a sweep has something to escalate: most minutes it
        // has nothing.
        let mut book: Option<(crate::RulesBook, peakend_core::OrgTree)> = None;
        let mut out = Vec::new();
        loop {
            let due: Vec<Case> = on_pool!(self, pool => {
                let rows = sqlx::query(&sql).bind(at_ms).bind(BATCH).fetch_all(pool).await?;
                let mut v = Vec::with_capacity(rows.len());
                for row in &rows {
                    v.push(case_of_row!(row));
                }
                v
            });
            if due.is_empty() {
                break;
            }
            if book.is_none() {
                let b = crate::RulesBook::load(self).await?;
                let tree = b.tree().clone();
                book = Some((b, tree));
            }
            let (book, tree) = book.as_ref().expect("loaded above");
            let fetched = due.len() as i64;
            on_pool!(self, pool => {
                let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
                let mut months: BTreeSet<(HallId, i64)> = BTreeSet::new();
                let mut entries: Vec<(i64, CaseEntry)> = Vec::new();
                let mut bodies: Vec<String> = Vec::new();
                // Each case's escalation, worked out first; then all of them in one
                // statement, each on the version it was read at.
                let mut moves = Vec::with_capacity(due.len());
                for mut case in due {
                    let version = case.version;
                    let rules = book.hall(&case.hall);
                    match case.escalate(tree, &rules, at_ms) {
                        Some(step) => moves.push((case, version, step)),
                        None => {
                            // A clock with no stage (a state that runs none): stop it.
                            sqlx::query("UPDATE service_case SET due_at = NULL WHERE id = $1")
                                .bind(case.id.0).execute(&mut *tx).await?;
                        }
                    }
                }
                let mut moved: HashSet<i64> = HashSet::new();
                if !moves.is_empty() {
                    // An escalation moves the level and the clock only: the other
                    // columns (and the indexes over them) are left alone.
                    let sql = format!(
                        "UPDATE service_case SET version = service_case.version + 1,
                           level_id = v.column3, escalations = v.column4, due_at = v.column5
                         FROM (VALUES {}) AS v
                         WHERE service_case.id = v.column1 AND service_case.version = v.column2
                         RETURNING service_case.id",
                        value_marks(pg, moves.len(), 5)
                    );
                    let mut q = sqlx::query_as::<_, (i64,)>(&sql);
                    for (case, version, _) in &moves {
                        q = q.bind(case.id.0).bind(*version).bind(case.level.as_str())
                            .bind(case.escalations as i32).bind(case.due_at);
                    }
                    moved = q.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id).collect();
                }
                for (mut case, _, (stage, from, to, due_at)) in moves {
                    if !moved.contains(&case.id.0) {
                        continue;
                    }
                    case.version += 1;
                    months.insert((case.hall.clone(), crate::cases::utc_month(case.opened_at)));
                    let stage_name = match stage {
                        peakend_core::case::Stage::Acknowledge => "acknowledge",
                        peakend_core::case::Stage::Resolve => "resolve",
                        peakend_core::case::Stage::Callback => "callback",
                    };
                    let note = match &to {
                        Some(to) => format!("{stage_name} deadline passed: escalated from {from} to {to}"),
                        None => format!("{stage_name} deadline passed at {from}, the top of the organisation"),
                    };
                    let entry = CaseEntry {
                        at: at_ms,
                        actor: "system".into(),
                        kind: "escalated".into(),
                        from: None,
                        to: None,
                        note: Some(note),
                    };
                    if to.is_some() {
                        bodies.push(announce("case.escalated", &case, at_ms));
                    }
                    entries.push((case.id.0, entry));
                    out.push(Escalation { case: case.id, hall: case.hall.clone(), stage, from, to, due_at });
                }
                // The timeline lines and the deliveries of the batch, many rows a statement.
                for chunk in entries.chunks(500) {
                    let sql = format!(
                        "INSERT INTO case_event (case_id, at, actor, kind, from_state, to_state, note) VALUES {}",
                        value_marks(pg, chunk.len(), 7)
                    );
                    let mut q = sqlx::query(&sql);
                    for (id, e) in chunk {
                        q = q.bind(*id).bind(e.at).bind(&e.actor).bind(&e.kind)
                            .bind(e.from.as_deref()).bind(e.to.as_deref()).bind(e.note.as_deref());
                    }
                    q.execute(&mut *tx).await?;
                }
                if !bodies.is_empty() {
                    let hooks: Vec<(i64,)> = sqlx::query_as(
                        "SELECT id FROM webhook WHERE (',' || events || ',') LIKE '%,case.escalated,%'",
                    )
                    .fetch_all(&mut *tx)
                    .await?;
                    for (hook,) in &hooks {
                        for chunk in bodies.chunks(500) {
                            let sql = format!(
                                "INSERT INTO webhook_delivery (webhook_id, event, body, created_at, next_at) VALUES {}",
                                value_marks(pg, chunk.len(), 5)
                            );
                            let mut q = sqlx::query(&sql);
                            for body in chunk {
                                q = q.bind(*hook).bind("case.escalated").bind(body).bind(at_ms).bind(at_ms);
                            }
                            q.execute(&mut *tx).await?;
                        }
                    }
                }
                for (hall, month) in &months {
                    sqlx::query(q::BUMP_MONTH).bind(hall.as_str()).bind(*month).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            });
            if fetched < BATCH {
                break;
            }
        }
        Ok(out)
    }

    async fn erase_contacts(&self, closed_before_ms: i64, at_ms: i64) -> Result<usize> {
        // Nothing to erase (the common case): no write transaction at all.
        let any: Option<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM service_case WHERE contact IS NOT NULL AND closed_at < $1 LIMIT 1")
                .bind(closed_before_ms)
                .fetch_optional(pool)
                .await?
        });
        if any.is_none() {
            return Ok(0);
        }
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            let ids: Vec<(i64, String, i64)> = sqlx::query_as(
                "SELECT id, hall_id, opened_at FROM service_case WHERE contact IS NOT NULL AND closed_at < $1",
            )
            .bind(closed_before_ms)
            .fetch_all(&mut *tx)
            .await?;
            for (id, hall, opened_at) in &ids {
                sqlx::query(q::BUMP_MONTH)
                    .bind(hall.as_str())
                    .bind(crate::cases::utc_month(*opened_at))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE service_case SET contact = NULL, contact_key = NULL, contact_erased_at = $1 WHERE id = $2",
                )
                .bind(at_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let entry = CaseEntry {
                    at: at_ms,
                    actor: "system".into(),
                    kind: "contact_erased".into(),
                    from: None,
                    to: None,
                    note: None,
                };
                insert_entry!(tx, *id, &entry);
            }
            tx.commit().await?;
            ids.len()
        });
        Ok(n)
    }

    async fn case_figures(
        &self,
        halls: Option<&[HallId]>,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> Result<CaseFigures> {
        // Whole UTC months of the years the product accepts come from `case_month`
        // (counted again where stale); the days before the first and after the last
        // are counted from the cases.
        let lo = utc_month(from_ms);
        let first = if lo == from_ms { lo } else { next_month(lo) };
        let last = utc_month(to_ms);
        let (min, max) = (946_684_800_000, 4_133_980_800_000); // 2000-01-01, 2101-01-01
        let whole = first < last && first >= min && last <= max;
        let mut total = CaseFigures::default();
        let edges: Vec<(i64, i64)> = if whole {
            vec![(from_ms, first), (last, to_ms)]
        } else {
            vec![(from_ms, to_ms)]
        };
        for (a, b) in edges.into_iter().filter(|(a, b)| a < b) {
            if let Some(f) = self.count_figures(halls, a, b, false).await?.remove("") {
                total.merge(&f);
            }
        }
        if whole {
            total.merge(&self.month_figures(halls, first, last).await?);
        }
        // Deadlines of cases still being worked are counted as of now.
        let overdue = self.overdue(halls, from_ms, to_ms, now_ms).await?;
        for (stage, n) in total.sla.iter_mut().zip(overdue) {
            stage.1 += n;
        }
        Ok(total)
    }

    async fn survey_recommend(
        &self,
        halls: Option<&[HallId]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<(i64, i64)>, Vec<(i64, i64)>)> {
        let pg = self.postgres();
        let (lo, hi) = date_bounds(Some(from), Some(to));
        let sql = |without: bool| {
            format!(
                "SELECT CAST(nps AS INTEGER) AS s, COUNT(*) FROM survey_response r
                 WHERE {}visit_date >= {} AND visit_date <= {} AND nps IS NOT NULL AND {}{}
                 GROUP BY s ORDER BY s",
                // Some halls': every journey named, so that SQLite reads them by its index
                // by journey, hall and date (it has none by hall and date, migration
                // 0050). All halls' are read whole, in table order.
                if halls.is_some() {
                    "r.journey_key IN (SELECT journey_key FROM journey) AND "
                } else {
                    ""
                },
                if pg { "$1" } else { "?1" },
                if pg { "$2" } else { "?2" },
                in_list("r.hall_id", halls.map(<[HallId]>::len), 3, pg),
                if without {
                    " AND NOT EXISTS (SELECT 1 FROM service_case c WHERE c.hall_id = r.hall_id AND c.response_id = r.respondent)"
                } else {
                    ""
                }
            )
        };
        let mut out = (Vec::new(), Vec::new());
        for without in [false, true] {
            let text = sql(without);
            let rows: Vec<(i32, i64)> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(&text).bind(&lo).bind(&hi);
                if halls.is_some() {
                    query = query.bind(json_list(halls));
                }
                query.fetch_all(pool).await?
            });
            let rows = rows.into_iter().map(|(a, b)| (i64::from(a), b)).collect();
            if without {
                out.1 = rows;
            } else {
                out.0 = rows;
            }
        }
        Ok(out)
    }

    async fn set_staff(&self, user: &UserName, staff: Option<&str>) -> Result<()> {
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE app_user SET staff = $1 WHERE name = $2")
                .bind(staff)
                .bind(user.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("user `{user}` not found")));
        }
        Ok(())
    }

    async fn add_webhook(&self, url: &str, secret: &str, events: &[String]) -> Result<i64> {
        let (id,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO webhook (url, secret, events, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(url)
            .bind(secret)
            .bind(events.join(","))
            .bind(now_ms())
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows: Vec<(i64, String, String, i64)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, url, events, created_at FROM webhook ORDER BY id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, url, events, created_at)| Webhook {
                id,
                url,
                events: events.split(',').map(str::to_owned).collect(),
                created_at,
            })
            .collect())
    }

    async fn remove_webhook(&self, id: i64) -> Result<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            sqlx::query("DELETE FROM webhook_delivery WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM webhook WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    async fn due_deliveries(&self, now_ms: i64, limit: i64) -> Result<Vec<Delivery>> {
        let rows: Vec<(i64, String, String, String, String, i32)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT d.id, w.url, w.secret, d.event, d.body, d.attempts
                 FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
                 WHERE d.delivered_at IS NULL AND d.next_at <= $1 ORDER BY d.id LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, url, secret, event, body, attempts)| Delivery {
                id,
                url,
                secret,
                event,
                body,
                attempts: i64::from(attempts),
            })
            .collect())
    }

    async fn delivery_attempted(
        &self,
        id: i64,
        delivered: bool,
        error: Option<&str>,
        at_ms: i64,
        retry_at: i64,
    ) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_delivery SET attempts = attempts + 1, delivered_at = $1, last_error = $2, next_at = $3 WHERE id = $4",
            )
            .bind(delivered.then_some(at_ms))
            .bind(error)
            .bind(retry_at)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
