//! Device events: the ingest (PostgreSQL's side of it; SQLite's writer thread is
//! `sqlite_writer.rs`), the stored events and roll-ups read back, alerts' acknowledgements
//! and the quarantine.

use super::*;
use peakend_core::case::NewCase;

pub(super) async fn ingest_events(
    store: &SqlStore,
    hall: &HallId,
    events: Vec<(usize, Event, String)>,
    refused: Vec<(usize, String, String)>,
    invite: bool,
) -> Result<IngestOutcome> {
    let rules = store.ingest_rules(hall).await?;
    let pool = match &store.pool {
        Pool::Sqlite(_) => {
            return store
                .sqlite_writer()?
                .ingest(hall, rules, events, refused, invite)
                .await;
        }
        Pool::Postgres(pool) => pool,
    };
    let cached = store.days.lock().expect("day cache lock").remove(hall);
    let mut tx = pool.begin().await?;
    // One ingest per hall at a time, so two batches cannot both pass the transition
    // checks against the same stored state.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(hall.as_str())
        .execute(&mut *tx)
        .await?;
    let (outcome, day) = ingest::apply_batch(
        &mut PgIngest { tx: &mut tx },
        hall,
        &rules,
        events,
        refused,
        cached,
        ingest::Applying {
            now: now_ms(),
            invite,
        },
    )
    .await?;
    tx.commit().await?;
    // Only a committed day is cached: an error above returned early and left the
    // hall out of the cache, so the next batch re-reads it.
    if let Some(day) = day {
        ingest::keep_day(
            &mut store.days.lock().expect("day cache lock"),
            hall.clone(),
            day,
        );
    }
    Ok(outcome)
}

pub(super) async fn kiosk_faults(
    store: &SqlStore,
    hall: &HallId,
    before: i64,
) -> Result<Vec<KioskFault>> {
    let rows: Vec<KioskRow> = on_pool!(store, pool => {
        sqlx::query_as(SELECT_KIOSK_FAULTS)
            .bind(hall.as_str())
            .bind(before)
            .bind(before - KIOSK_FAULT_MEMORY_MS)
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().map(kiosk_fault_of).collect())
}

pub(super) async fn hall_events(
    store: &SqlStore,
    hall: &HallId,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Event>> {
    let rows: Vec<String> = match &store.pool {
        // One value, the payloads joined by a character JSON text cannot hold (a
        // control character, escaped inside strings): sqlx hands SQLite's rows over
        // one by one from its worker, which was most of a live board's look at a busy
        // hall.
        Pool::Sqlite(pool) => {
            let (joined,): (Option<String>,) = sqlx::query_as(
                "SELECT group_concat(payload, char(30)) FROM visit_event
                 WHERE hall_id = $1 AND at >= $2 AND at < $3",
            )
            .bind(hall.as_str())
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(pool)
            .await?;
            split_payloads(joined)
        }
        Pool::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT payload FROM visit_event WHERE hall_id = $1 AND at >= $2 AND at < $3",
            )
            .bind(hall.as_str())
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
        }
    };
    parse_events(hall, rows).await
}

/// SQLite's payloads joined by `group_concat(payload, char(30))`, apart again.
fn split_payloads(joined: Option<String>) -> Vec<String> {
    joined
        .map(|j| j.split('\u{1e}').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Stored payloads parsed and put in replay order; a whole day of a busy hall off the
/// async threads (reports read many halls at once), a live view's few events not
/// worth the hop.
async fn parse_events(hall: &HallId, rows: Vec<String>) -> Result<Vec<Event>> {
    let rows_len = rows.len();
    let hall = hall.clone();
    let parse = move || {
        let mut events = rows
            .into_iter()
            .map(|p| {
                Event::from_json(&p)
                    .map_err(|e| StoreError::Corrupt(format!("stored event of hall `{hall}`: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        sort_for_replay(&mut events);
        Ok(events)
    };
    if rows_len > 2_000 {
        tokio::task::spawn_blocking(parse)
            .await
            .map_err(|e| StoreError::Corrupt(format!("parsing stored events failed: {e}")))?
    } else {
        parse()
    }
}

pub(super) async fn hall_events_tail(
    store: &SqlStore,
    hall: &HallId,
    start_ms: i64,
    from_ms: i64,
    to_ms: i64,
) -> Result<(u64, Vec<Event>)> {
    // One statement: the count runs over the (hall, at) index alone, the payloads are
    // only the tail's.
    let (count, rows): (i64, Vec<String>) = match &store.pool {
        Pool::Sqlite(pool) => {
            let (count, joined): (i64, Option<String>) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM visit_event
                         WHERE hall_id = $1 AND at >= $2 AND at < $4),
                        (SELECT group_concat(payload, char(30)) FROM visit_event
                         WHERE hall_id = $1 AND at >= $3 AND at < $4)",
            )
            .bind(hall.as_str())
            .bind(start_ms)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(pool)
            .await?;
            (count, split_payloads(joined))
        }
        Pool::Postgres(pool) => {
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM visit_event
                         WHERE hall_id = $1 AND at >= $2 AND at < $4),
                        COALESCE((SELECT array_agg(payload) FROM visit_event
                                  WHERE hall_id = $1 AND at >= $3 AND at < $4), '{}')",
            )
            .bind(hall.as_str())
            .bind(start_ms)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_one(pool)
            .await?
        }
    };
    let events = parse_events(hall, rows).await?;
    Ok((u64::try_from(count).unwrap_or(0), events))
}

pub(super) async fn ack_alert(
    store: &SqlStore,
    hall: &HallId,
    alert: &Alert,
    by: &str,
    at_ms: i64,
) -> Result<bool> {
    let kind = enum_str(&alert.kind);
    on_pool!(store, pool => {
        let mut tx = pool.begin_with(write_begin(&store.pool)).await?;
        let (known,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM alert WHERE hall_id = $1 AND kind = $2
               AND COALESCE(ticket, '') = $3 AND COALESCE(kiosk, '') = $4 AND raised_at = $5",
        )
        .bind(hall.as_str()).bind(&kind)
        .bind(alert.ticket.as_deref().unwrap_or("")).bind(alert.kiosk.as_deref().unwrap_or(""))
        .bind(alert.raised_at)
        .fetch_one(&mut *tx)
        .await?;
        if known > 0 {
            return Ok(false);
        }
        // The alert itself is derived by replaying the day; its row keeps who took
        // care of it.
        sqlx::query(
            "INSERT INTO alert (hall_id, kind, ticket, kiosk, raised_at, cleared_at, acked_at, acked_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(hall.as_str()).bind(&kind).bind(alert.ticket.as_deref()).bind(alert.kiosk.as_deref())
        .bind(alert.raised_at).bind(alert.cleared_at).bind(at_ms).bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(true)
}

pub(super) async fn alert_acks(
    store: &SqlStore,
    hall: &HallId,
    raised: Option<(i64, i64)>,
) -> Result<BTreeMap<String, (i64, String)>> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = on_pool!(store, pool => {
        let (from, to) = raised.unwrap_or((i64::MIN, i64::MAX));
        sqlx::query_as(
            "SELECT kind, ticket, kiosk, raised_at, acked_at, acked_by FROM alert
             WHERE hall_id = $1 AND raised_at >= $2 AND raised_at < $3",
        )
        .bind(hall.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
    });
    let mut acks = BTreeMap::new();
    for (kind, ticket, kiosk, raised_at, acked_at, by) in rows {
        let kind = serde_json::from_value(serde_json::Value::String(kind.clone()))
            .map_err(|_| StoreError::Corrupt(format!("alert kind `{kind}`")))?;
        let alert = Alert {
            kind,
            ticket,
            kiosk,
            vip: false,
            raised_at,
            cleared_at: None,
        };
        if let Some(at) = acked_at {
            acks.insert(alert.key(), (at, by.unwrap_or_default()));
        }
    }
    Ok(acks)
}

pub(super) async fn ops_rollup(
    store: &SqlStore,
    hall: &HallId,
    day: NaiveDate,
) -> Result<Option<DayRollup>> {
    let row: Option<(Option<String>,)> = on_pool!(store, pool => {
        sqlx::query_as(ingest::SELECT_ROLLUP)
            .bind(hall.as_str()).bind(day.to_string())
            .fetch_optional(pool)
            .await?
    });
    row.and_then(|(json,)| json)
        .map(|j| {
            serde_json::from_str::<DayRollup>(&j).map_err(|e| {
                StoreError::Corrupt(format!("ops roll-up of hall `{hall}` on {day}: {e}"))
            })
        })
        .transpose()
}

/// Above this many halls the roll-ups are read by day only and the halls picked out
/// before decoding: a long `IN` list costs more than skipping rows it would not match.
const HALLS_IN_SQL: usize = 200;

pub(super) async fn ops_rollups(
    store: &SqlStore,
    halls: Option<&[HallId]>,
    from: NaiveDate,
    to: NaiveDate,
    detail: RollupRead,
) -> Result<Vec<(HallId, NaiveDate, Option<DayRollup>)>> {
    if halls.is_some_and(|h| h.is_empty()) {
        return Ok(Vec::new());
    }
    let in_sql = halls.filter(|h| h.len() <= HALLS_IN_SQL);
    let mut sql = String::from(match detail {
        RollupRead::WithDetail => "SELECT hall_id, day, rollup, detail FROM ops_rollup",
        RollupRead::Summary => "SELECT hall_id, day, rollup, CAST(NULL AS TEXT) FROM ops_rollup",
    });
    sql.push_str(" WHERE day >= $1 AND day <= $2");
    if let Some(h) = in_sql {
        let marks: Vec<String> = (0..h.len()).map(|i| format!("${}", i + 3)).collect();
        sql.push_str(&format!(" AND hall_id IN ({})", marks.join(", ")));
    }
    let rows: Vec<(String, String, Option<String>, Option<String>)> = on_pool!(store, pool => {
        let mut q = sqlx::query_as(&sql).bind(from.to_string()).bind(to.to_string());
        for h in in_sql.unwrap_or_default() {
            q = q.bind(h.as_str());
        }
        q.fetch_all(pool).await?
    });
    // The JSON is decoded only for the halls asked for: decoding is most of the cost.
    let wanted: Option<HashSet<&str>> = halls.map(|h| h.iter().map(|h| h.as_str()).collect());
    rows.into_iter()
        .filter(|(hall, _, _, _)| wanted.as_ref().is_none_or(|w| w.contains(hall.as_str())))
        .map(|(hall, day, json, detail)| {
            let corrupt = |what: &str| {
                StoreError::Corrupt(format!("ops roll-up of hall `{hall}` on {day}: {what}"))
            };
            let mut rollup = json
                .map(|j| serde_json::from_str::<DayRollup>(&j).map_err(|e| corrupt(&e.to_string())))
                .transpose()?;
            if let (Some(r), Some(d)) = (rollup.as_mut(), detail) {
                r.detail = Some(serde_json::from_str(&d).map_err(|e| corrupt(&e.to_string()))?);
            }
            Ok((
                HallId::parse(hall.as_str()).map_err(|e| corrupt(&e.to_string()))?,
                day.parse().map_err(|_| corrupt("day"))?,
                rollup,
            ))
        })
        .collect()
}

pub(super) async fn care_acks_since(
    store: &SqlStore,
    from_ms: i64,
) -> Result<HashSet<(HallId, String, i64)>> {
    let rows: Vec<(String, Option<String>, i64)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT hall_id, ticket, raised_at FROM alert
             WHERE kind = 'care_due' AND raised_at >= $1 AND acked_at IS NOT NULL",
        )
        .bind(from_ms)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(hall, ticket, raised_at)| {
            let corrupt =
                |what: String| StoreError::Corrupt(format!("alert of hall `{hall}`: {what}"));
            let ticket = ticket.ok_or_else(|| corrupt("a care alert without a ticket".into()))?;
            let hall = HallId::parse(hall.as_str()).map_err(|e| corrupt(e.to_string()))?;
            Ok((hall, ticket, raised_at))
        })
        .collect()
}

pub(super) async fn quarantined(
    store: &SqlStore,
    hall: Option<&HallId>,
) -> Result<Vec<Quarantined>> {
    let rows: Vec<(String, i64, String, String)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT hall_id, received_at, reason, payload FROM event_quarantine
             WHERE $1 = '' OR hall_id = $1 ORDER BY received_at DESC, id DESC",
        )
        .bind(hall.map_or("", HallId::as_str))
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(hall, received_at, reason, payload)| Quarantined {
            hall,
            received_at,
            reason,
            payload,
        })
        .collect())
}

struct PgIngest<'t, 'c> {
    tx: &'t mut sqlx::Transaction<'c, sqlx::Postgres>,
}

impl IngestTx for PgIngest<'_, '_> {
    async fn stored_ids(&mut self, hall: &HallId, ids: &[&str]) -> Result<HashSet<String>> {
        // One array parameter: one statement a batch, whatever its size. Each id is
        // one lookup in the key (LATERAL … LIMIT 1 leaves the planner no other way):
        // `event_id = ANY($2)` and a plain join let it scan the hall's rows or hash
        // them whenever its statistics lagged behind the table, a cost that grew with
        // every event stored.
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT batch.id FROM UNNEST($2::text[]) AS batch (id)
             CROSS JOIN LATERAL (SELECT 1 FROM visit_event v
                 WHERE v.hall_id = $1 AND v.event_id = batch.id LIMIT 1) AS stored",
        )
        .bind(hall.as_str())
        .bind(ids)
        .fetch_all(&mut **self.tx)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn day_events(&mut self, hall: &HallId, lo: i64) -> Result<Option<i64>> {
        let n: Option<(i64,)> = sqlx::query_as(ingest::SELECT_DAY_EVENTS)
            .bind(hall.as_str())
            .bind(lo)
            .fetch_optional(&mut **self.tx)
            .await?;
        Ok(n.map(|(n,)| n))
    }

    async fn set_day_events(&mut self, hall: &HallId, lo: i64, events: i64) -> Result<()> {
        sqlx::query(ingest::SET_DAY_EVENTS)
            .bind(hall.as_str())
            .bind(lo)
            .bind(events)
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn kiosk_faults(&mut self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>> {
        let rows: Vec<KioskRow> = sqlx::query_as(SELECT_KIOSK_FAULTS)
            .bind(hall.as_str())
            .bind(before)
            .bind(before - KIOSK_FAULT_MEMORY_MS)
            .fetch_all(&mut **self.tx)
            .await?;
        Ok(rows.into_iter().map(kiosk_fault_of).collect())
    }

    async fn record_kiosks(&mut self, hall: &HallId, events: &[&Event]) -> Result<()> {
        for e in events {
            match &e.kind {
                EventKind::KioskFault { kiosk, fault } => {
                    sqlx::query(INSERT_KIOSK_FAULT)
                        .bind(hall.as_str())
                        .bind(kiosk)
                        .bind(e.at_ms())
                        .bind(e.at.offset().local_minus_utc())
                        .bind(fault)
                        .execute(&mut **self.tx)
                        .await?;
                }
                EventKind::KioskRestored { kiosk } => {
                    sqlx::query(RESTORE_KIOSK_FAULT)
                        .bind(hall.as_str())
                        .bind(kiosk)
                        .bind(e.at_ms())
                        .execute(&mut **self.tx)
                        .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn payloads(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(ingest::SELECT_PAYLOADS)
            .bind(hall.as_str())
            .bind(lo)
            .bind(hi)
            .fetch_all(&mut **self.tx)
            .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    async fn insert_events(
        &mut self,
        hall: &HallId,
        now: i64,
        rows: &[(Event, String)],
    ) -> Result<()> {
        copy_events(
            self.tx,
            hall,
            now,
            rows.iter().map(|(e, p)| (e, p.as_str())),
        )
        .await
    }

    async fn insert_new(&mut self, hall: &HallId, now: i64, rows: &[ingest::Item]) -> Result<bool> {
        // The primary key finds a stored id as the rows go in; a savepoint keeps the
        // transaction usable when it does. One lookup a row fewer than asking first
        // (`stored_ids`), which was a tenth of the database's time in a busy ingest.
        sqlx::query("SAVEPOINT insert_new")
            .execute(&mut **self.tx)
            .await?;
        let copied = copy_events(
            self.tx,
            hall,
            now,
            rows.iter().map(|(_, e, p)| (e, p.as_str())),
        )
        .await;
        match copied {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT insert_new")
                    .execute(&mut **self.tx)
                    .await?;
                Ok(true)
            }
            Err(StoreError::Database(sqlx::Error::Database(e)))
                if e.constraint() == Some("visit_event_pkey") =>
            {
                sqlx::query("ROLLBACK TO SAVEPOINT insert_new")
                    .execute(&mut **self.tx)
                    .await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    async fn delete_events(&mut self, hall: &HallId, ids: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM visit_event WHERE hall_id = $1 AND event_id = ANY($2)")
            .bind(hall.as_str())
            .bind(ids)
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn rollup(&mut self, hall: &HallId, day: NaiveDate) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(ingest::SELECT_ROLLUP)
            .bind(hall.as_str())
            .bind(day.to_string())
            .fetch_optional(&mut **self.tx)
            .await?;
        Ok(row.and_then(|(r,)| r))
    }

    async fn put_rollup(
        &mut self,
        hall: &HallId,
        day: NaiveDate,
        rollup: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(ingest::PUT_ROLLUP)
            .bind(hall.as_str())
            .bind(day.to_string())
            .bind(rollup)
            .bind(detail)
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn quarantine(
        &mut self,
        hall: &HallId,
        now: i64,
        reason: &str,
        payload: &str,
        held: Option<(i64, &str)>,
    ) -> Result<()> {
        sqlx::query(ingest::QUARANTINE)
            .bind(hall.as_str())
            .bind(now)
            .bind(reason)
            .bind(payload)
            .bind(held.map(|h| h.0))
            .bind(held.map(|h| h.1))
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn any_held(&mut self, hall: &HallId, lo: i64, hi: i64) -> Result<bool> {
        let (any,): (bool,) = sqlx::query_as(ingest::ANY_HELD)
            .bind(hall.as_str())
            .bind(lo)
            .bind(hi)
            .fetch_one(&mut **self.tx)
            .await?;
        Ok(any)
    }

    async fn held(
        &mut self,
        hall: &HallId,
        lo: i64,
        hi: i64,
        subjects: &[&str],
    ) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(ingest::HELD_ANY)
            .bind(hall.as_str())
            .bind(lo)
            .bind(hi)
            .bind(subjects)
            .fetch_all(&mut **self.tx)
            .await?)
    }

    async fn release(&mut self, rows: &[i64]) -> Result<()> {
        sqlx::query(ingest::RELEASE_ANY)
            .bind(rows)
            .execute(&mut **self.tx)
            .await?;
        Ok(())
    }

    async fn record_contacts(&mut self, contacts: &[&crate::EndedContact]) -> Result<()> {
        for c in contacts {
            sqlx::query(ingest::INSERT_CUSTOMER_CONTACT)
                .bind(&c.id)
                .bind(&c.customer)
                .bind(&c.channel)
                .bind(c.hall.as_str())
                .bind(&c.purpose)
                .bind(&c.outcome)
                .bind(i32::from(c.resolved()))
                .bind(c.ended_at)
                .execute(&mut **self.tx)
                .await?;
        }
        Ok(())
    }

    async fn queue_invitations(&mut self, contacts: &[&crate::EndedContact]) -> Result<()> {
        for c in contacts {
            ingest::bind_pending!(c).execute(&mut **self.tx).await?;
        }
        Ok(())
    }

    async fn open_cases(&mut self, cases: &[NewCase], now: i64) -> Result<usize> {
        let ids = open_cases!(&mut **self.tx, cases, "system", now);
        Ok(ids.iter().flatten().count())
    }
}

/// Writes events (event, text) of the hall with COPY, received at `now`.
async fn copy_events<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    hall: &HallId,
    now: i64,
    rows: impl Iterator<Item = (&'a Event, &'a str)> + Clone,
) -> Result<()> {
    // COPY: PostgreSQL's bulk load, three times as fast here as an INSERT of the
    // batch's columns as arrays (UNNEST), which was most of a batch's time. Its binary
    // format: the fields go as they are (no escaping here, no parsing of text on the
    // server's side, which was a sixth of the COPY's time).
    let mut out = CopyRows::with_capacity(
        rows.clone()
            .map(|(e, p)| hall.as_str().len() + e.id.len() + p.len() + 80)
            .sum(),
    );
    for (e, payload) in rows {
        out.row(&[
            CopyField::Text(hall.as_str()),
            CopyField::Int(now),
            CopyField::Text(&e.id),
            CopyField::Text(e.kind_name()),
            CopyField::Int(e.at_ms()),
            CopyField::Text(payload),
        ]);
    }
    let mut copy = tx
        .copy_in_raw(
            "COPY visit_event (hall_id, received_at, event_id, kind, at, payload) \
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    if let Err(e) = copy.send(out.finish()).await {
        let _ = copy.abort(e.to_string()).await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

/// A field of a row for COPY's binary format: `text` or `bigint` columns.
enum CopyField<'a> {
    Text(&'a str),
    Int(i64),
}

/// Rows in COPY's binary format (PostgreSQL's "Binary Format" of COPY): a signature,
/// then per row its field count and each field as a length and its bytes (a `text` is
/// its UTF-8 bytes, a `bigint` 8 bytes big-endian), then -1.
struct CopyRows(Vec<u8>);

impl CopyRows {
    fn with_capacity(bytes: usize) -> Self {
        let mut out = Vec::with_capacity(bytes + 21);
        out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        // Flags, then the length of the header extension: none.
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        CopyRows(out)
    }

    fn row(&mut self, fields: &[CopyField]) {
        let out = &mut self.0;
        // A row has a handful of fields; a text longer than 2 GiB cannot reach here
        // (a request body is far smaller).
        out.extend_from_slice(&(fields.len() as i16).to_be_bytes());
        for f in fields {
            match f {
                CopyField::Text(t) => {
                    out.extend_from_slice(&(t.len() as i32).to_be_bytes());
                    out.extend_from_slice(t.as_bytes());
                }
                CopyField::Int(n) => {
                    out.extend_from_slice(&8i32.to_be_bytes());
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{CopyField, CopyRows};

    #[test]
    fn copy_rows_are_laid_out_as_postgresql_reads_the_binary_format() {
        let mut rows = CopyRows::with_capacity(0);
        rows.row(&[CopyField::Text("营\t\\"), CopyField::Int(-2)]);
        rows.row(&[CopyField::Text("")]);
        let bytes = rows.finish();
        let mut want = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        want.extend_from_slice(&[0, 2, 0, 0, 0, 5, 0xe8, 0x90, 0xa5, b'\t', b'\\']);
        want.extend_from_slice(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        want.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(bytes, want);
    }
}
