//! The SQL behind survey invitations: rules per org node, decisions in one
//! transaction with their outbox entries, opt-outs and the list. A child module of
//! `sql`, so it shares the pool.

use chrono::{DateTime, Datelike, FixedOffset};
use peakend_core::invitation::{
    Decision, Ended, Programme, draw, parse_quiet, parse_quotas, quiet_text,
};
use peakend_core::time::Zone;

use super::*;
use crate::invitations::{
    AnsweredVisit, Decided, Drained, EXPIRY_MS, EndedContact, Invitation, InvitationCount,
    InvitationStore, InviteRule, Outgoing, REMINDER_AFTER_MS, SEND_ERROR_MAX_CHARS,
};

fn rule_of_row(
    (node, share, quotas, suppress_days, quiet, queue_shares): RuleRow,
) -> Result<(OrgNodeId, InviteRule)> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("invite rule of {node}: {what}"));
    let queue_shares: BTreeMap<String, f64> =
        serde_json::from_str(&queue_shares).map_err(|_| corrupt("queue_shares"))?;
    let cells: Vec<(String, String, u32)> =
        serde_json::from_str(&quotas).map_err(|_| corrupt("quotas"))?;
    let text = cells
        .iter()
        .map(|(s, p, n)| format!("{s}:{p}={n}"))
        .collect::<Vec<_>>()
        .join(",");
    Ok((
        OrgNodeId::parse(node.as_str()).map_err(|_| corrupt("node"))?,
        InviteRule {
            share,
            queue_shares,
            quotas: parse_quotas(&text).map_err(|_| corrupt("quotas"))?,
            suppress_days: u32::try_from(suppress_days).map_err(|_| corrupt("suppress_days"))?,
            quiet: quiet
                .map(|q| parse_quiet(&q))
                .transpose()
                .map_err(|_| corrupt("quiet"))?,
        },
    ))
}

type RuleRow = (String, f64, String, i64, Option<String>, String);

type InvitationRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// The columns of an [`InvitationRow`].
const INVITATION_COLUMNS: &str = "id, hall_id, contact_id, customer_key, segment, purpose, staff,
    counter, wait_s, decided_at, status, reason, send_at, expires_at, ended_at, outcome";

fn invitation_of(r: InvitationRow) -> Invitation {
    Invitation {
        id: r.0,
        hall: r.1,
        contact: r.2,
        customer_key: r.3,
        segment: r.4,
        purpose: r.5,
        staff: r.6,
        counter: r.7,
        wait_s: r.8,
        decided_at: r.9,
        status: r.10,
        reason: r.11,
        send_at: r.12,
        expires_at: r.13,
        ended_at: r.14,
        outcome: r.15,
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only (the
/// verifier's hash of a link against the stored one).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// A link's token: its invitation's id and the verifier whose hash the row keeps
/// (SQLite's drain writes the same in SQL: `i.id || '.' || verifier`).
fn link_token(id: i64, verifier: &str) -> String {
    format!("{id}.{verifier}")
}

type OutgoingRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    i64,
    Option<String>,
);

#[async_trait]
impl InvitationStore for SqlStore {
    async fn set_invite_rule(&self, node: &OrgNodeId, rule: &InviteRule) -> Result<()> {
        if !(0.0..=1.0).contains(&rule.share) || rule.share.is_nan() {
            return Err(StoreError::Invalid(format!(
                "share {}: must be between 0 and 1",
                rule.share
            )));
        }
        if let Some((q, s)) = rule
            .queue_shares
            .iter()
            .find(|(_, s)| !(0.0..=1.0).contains(*s))
        {
            return Err(StoreError::Invalid(format!(
                "queue share {q}={s}: must be between 0 and 1"
            )));
        }
        let queue_shares = serde_json::to_string(&rule.queue_shares)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let quotas: Vec<(&str, &str, u32)> = rule
            .quotas
            .iter()
            .map(|((s, p), n)| (s.as_str(), p.as_str(), *n))
            .collect();
        let quotas =
            serde_json::to_string(&quotas).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let quiet = rule.quiet.map(quiet_text);
        let begin = write_begin(&self.pool);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let known: Option<(String,)> = sqlx::query_as("SELECT id FROM org_node WHERE id = $1")
                .bind(node.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!("org node `{node}` is not in the organisation")));
            }
            sqlx::query("DELETE FROM invite_rule WHERE node_id = $1")
                .bind(node.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO invite_rule (node_id, share, quotas, suppress_days, quiet, updated_at,
                   queue_shares)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(node.as_str())
            .bind(rule.share)
            .bind(&quotas)
            .bind(i64::from(rule.suppress_days))
            .bind(quiet.as_deref())
            .bind(now_ms())
            .bind(&queue_shares)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn invite_rules(&self) -> Result<Vec<(OrgNodeId, InviteRule)>> {
        let rows: Vec<RuleRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT node_id, share, quotas, suppress_days, quiet, queue_shares
                 FROM invite_rule ORDER BY node_id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(rule_of_row).collect()
    }

    async fn decide_invitations(&self, contacts: &[EndedContact], at_ms: i64) -> Result<Decided> {
        let mut out = Decided::default();
        if contacts.is_empty() {
            return Ok(out);
        }
        let tree = self.org_tree().await?;
        let rules: HashMap<OrgNodeId, InviteRule> =
            self.invite_rules().await?.into_iter().collect();
        let plan = plan_decisions(&tree, &rules, contacts, &mut out)?;
        if plan.candidates.is_empty() {
            return Ok(out);
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut memo = self.decider.lock().await;
                // Written at once: a read snapshot could not become a write after the
                // event writer's next commit.
                let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
                decide_sqlite(&mut tx, &mut memo, &tree, &rules, plan, at_ms, &mut out).await?;
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut memo = self.decider.lock().await;
                let mut tx = pool.begin().await?;
                // Under the drains' lock: another node deciding the same customer at
                // once would not see this one's invitation and could invite them too.
                sqlx::query(PG_DECIDER_LOCK).execute(&mut *tx).await?;
                decide_postgres(&mut tx, &mut memo, &tree, &rules, plan, at_ms, &mut out).await?;
                tx.commit().await?;
            }
        }
        Ok(out)
    }

    async fn queue_invitations(&self, contacts: &[EndedContact]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            for c in contacts {
                crate::ingest::bind_pending!(c).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn decide_pending_of(
        &self,
        at_ms: i64,
        limit: usize,
        halls: &crate::SweepHalls,
    ) -> Result<Drained> {
        let only = halls.sql("invite_pending.hall_id");
        // One drain at a time in this process: two would read the same queue.
        let mut memo = self.decider.lock().await;
        let tree = self.org_tree().await?;
        let rules: HashMap<OrgNodeId, InviteRule> =
            self.invite_rules().await?.into_iter().collect();
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        // No rule samples a contact drawn at or above the largest share: such a queued
        // contact is dropped unread (its draw was kept when it was queued).
        let cut = rules
            .values()
            .flat_map(|r| std::iter::once(r.share).chain(r.queue_shares.values().copied()))
            .fold(0.0_f64, f64::max);
        let mut drained = Drained::default();
        macro_rules! drain {
            ($tx:ident, $decide:ident, $read:ident) => {{
                let t0 = std::time::Instant::now();
                let (taken, last): (i64, Option<i64>) = sqlx::query_as(&format!(
                    "SELECT COUNT(*), MAX(id) FROM
                       (SELECT id FROM invite_pending WHERE 1 = 1{only} ORDER BY id LIMIT $1) q"
                ))
                .bind(limit)
                .fetch_one(&mut *$tx)
                .await?;
                let Some(last) = last else {
                    return Ok(drained);
                };
                // Only these halls' rows are taken: another node's stay queued for it.
                let rows = $read(&mut $tx, last, cut, &only).await?;
                let t_read = t0.elapsed();
                drained.taken = usize::try_from(taken).unwrap_or(0);
                drained.decided.skipped += drained.taken.saturating_sub(rows.len());
                let contacts = pending_contacts(rows, at_ms, &mut drained.decided);
                let plan = plan_decisions(&tree, &rules, &contacts, &mut drained.decided)?;
                let t_plan = t0.elapsed();
                if !plan.candidates.is_empty() {
                    $decide(&mut $tx, &mut memo, &tree, &rules, plan, at_ms, &mut drained.decided)
                        .await?;
                }
                let t_decide = t0.elapsed();
                $tx.commit().await?;
                tracing::debug!(
                    taken = drained.taken,
                    read_ms = t_read.as_secs_f64() * 1e3,
                    plan_ms = (t_plan - t_read).as_secs_f64() * 1e3,
                    decide_ms = (t_decide - t_plan).as_secs_f64() * 1e3,
                    commit_ms = (t0.elapsed() - t_decide).as_secs_f64() * 1e3,
                    "invitation drain"
                );
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
                drain!(tx, decide_sqlite, pending_sqlite);
                self.checkpoint_soon();
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // Nodes sharing the database drain one at a time too.
                sqlx::query(PG_DECIDER_LOCK).execute(&mut *tx).await?;
                drain!(tx, decide_postgres, pending_postgres)
            }
        }
        Ok(drained)
    }

    async fn sweep_invitations_of(
        &self,
        at_ms: i64,
        halls: &crate::SweepHalls,
        limit: usize,
    ) -> Result<(Vec<Outgoing>, usize)> {
        let claim = *halls != crate::SweepHalls::All;
        let expire = format!(
            "UPDATE invitation SET status = 'expired', reason = 'no answer in 72 hours'
             WHERE status IN ('sent', 'held') AND expires_at <= $1{}",
            halls.sql("invitation.hall_id")
        );
        // Closed unsent: a reminder is simply not needed; an invitation that never
        // left (its sends failed until the link expired) keeps why.
        let close = format!(
            "UPDATE invite_outbox SET sent_at = $1, token = NULL,
               last_error = CASE WHEN kind = 'reminder' THEN 'not needed'
                 ELSE COALESCE('expired before sent: ' || last_error, 'expired before sent') END
             WHERE sent_at IS NULL AND invitation_id IN
               (SELECT id FROM invitation WHERE status IN ('answered', 'expired'){})",
            halls.sql("invitation.hall_id")
        );
        // With partitions, one more than taken says whether more wait.
        let due = format!(
            "SELECT o.id, o.invitation_id, i.hall_id, COALESCE(n.name, i.hall_id), o.kind,
               i.customer_key, o.token, i.expires_at, o.attempts, o.last_error
             FROM invite_outbox o JOIN invitation i ON i.id = o.invitation_id
               LEFT JOIN org_node n ON n.id = i.hall_id
             WHERE o.sent_at IS NULL AND o.due_at <= $1 AND o.token IS NOT NULL
               AND (o.kind <> 'reminder' OR NOT EXISTS (
                 SELECT 1 FROM invite_outbox f WHERE f.invitation_id = o.invitation_id
                   AND f.kind = 'invite' AND f.sent_at IS NULL)){}
             ORDER BY o.due_at, o.id{}",
            halls.sql("i.hall_id"),
            if claim {
                format!(" LIMIT {}", limit.saturating_add(1).min(i64::MAX as usize))
            } else {
                String::new()
            }
        );
        let (rows, left): (Vec<OutgoingRow>, usize) = on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            sqlx::query(&expire).bind(at_ms).execute(&mut *tx).await?;
            sqlx::query(&close).bind(at_ms).execute(&mut *tx).await?;
            let mut rows: Vec<OutgoingRow> =
                sqlx::query_as(&due).bind(at_ms).fetch_all(&mut *tx).await?;
            let mut left = 0;
            if claim {
                if rows.len() > limit {
                    left = rows.len() - limit;
                    rows.truncate(limit);
                }
                // Claimed only if still due and unsent when this write gets the row: a
                // sweep of another node that read it too keeps it no longer.
                let mut mine: HashSet<i64> = HashSet::with_capacity(rows.len());
                for chunk in rows.chunks(500) {
                    let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
                    let sql = format!(
                        "UPDATE invite_outbox SET due_at = $1 WHERE sent_at IS NULL AND due_at <= $2
                           AND id IN ({}) RETURNING id",
                        marks.join(", ")
                    );
                    let mut q = sqlx::query_as::<_, (i64,)>(&sql)
                        .bind(at_ms + crate::INVITE_CLAIM_MS)
                        .bind(at_ms);
                    for r in chunk {
                        q = q.bind(r.0);
                    }
                    mine.extend(q.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id));
                }
                rows.retain(|r| mine.contains(&r.0));
            }
            tx.commit().await?;
            (rows, left)
        });
        Ok((
            rows.into_iter()
                .map(
                    |(
                        outbox_id,
                        invitation_id,
                        hall,
                        hall_name,
                        kind,
                        customer_key,
                        token,
                        expires_at,
                        attempts,
                        last_error,
                    )| Outgoing {
                        outbox_id,
                        invitation_id,
                        hall,
                        hall_name,
                        kind,
                        customer_key,
                        token,
                        expires_at,
                        attempts,
                        last_error,
                    },
                )
                .collect(),
            left,
        ))
    }

    async fn invitation_delivered(&self, outbox_id: i64, at_ms: i64) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            // An invite that has left makes its one reminder, a day after the invitation
            // was to be sent, with the link's token (the invite's entry loses it below):
            // one outbox row a decision instead of two. Not for an invitation answered,
            // expired or opted out meanwhile, nor one whose reminder exists (decided
            // before migration 0040, when the reminder was made with the invite).
            sqlx::query(
                "INSERT INTO invite_outbox (invitation_id, kind, token, due_at)
                 SELECT o.invitation_id, 'reminder', o.token, i.send_at + $2
                 FROM invite_outbox o JOIN invitation i ON i.id = o.invitation_id
                 WHERE o.id = $1 AND o.kind = 'invite' AND o.sent_at IS NULL
                   AND o.token IS NOT NULL AND i.send_at IS NOT NULL
                   AND i.status IN ('sent', 'held')
                   AND NOT EXISTS (SELECT 1 FROM invite_outbox f
                     WHERE f.invitation_id = o.invitation_id AND f.kind = 'reminder')",
            )
            .bind(outbox_id)
            .bind(REMINDER_AFTER_MS)
            .execute(&mut *tx)
            .await?;
            let row: Option<(i64, String)> = sqlx::query_as(
                "UPDATE invite_outbox SET sent_at = $1, token = NULL, attempts = attempts + 1
                 WHERE id = $2 AND sent_at IS NULL RETURNING invitation_id, kind",
            )
            .bind(at_ms)
            .bind(outbox_id)
            .fetch_optional(&mut *tx)
            .await?;
            match row.as_ref().map(|(i, k)| (*i, k.as_str())) {
                Some((id, "reminder")) => {
                    sqlx::query("UPDATE invitation SET reminded_at = $1 WHERE id = $2")
                        .bind(at_ms)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                Some((id, _)) => {
                    sqlx::query(
                        "UPDATE invitation SET status = 'sent' WHERE id = $1 AND status = 'held'",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {}
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn invitation_send_failed(
        &self,
        outbox_id: i64,
        reason: &str,
        retry_at_ms: i64,
    ) -> Result<()> {
        let reason: String = reason.chars().take(SEND_ERROR_MAX_CHARS).collect();
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE invite_outbox SET attempts = attempts + 1, last_error = $1, due_at = $2
                 WHERE id = $3 AND sent_at IS NULL",
            )
            .bind(&reason)
            .bind(retry_at_ms)
            .bind(outbox_id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn warm_decider(&self, at_ms: i64) -> Result<()> {
        let rules = self.invite_rules().await?;
        if rules.is_empty() {
            return Ok(());
        }
        let since = at_ms - look_back_ms(rules.iter().map(|(_, r)| r));
        let mut memo = self.decider.lock().await;
        // A read transaction: one snapshot (SQLite), no write lock, no decider's lock.
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                memo.catch_up(&mut tx, since).await?;
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                memo.catch_up_postgres(&mut tx, since).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn opt_out(&self, customer_key: &str, at_ms: i64) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            sqlx::query(
                "INSERT INTO invite_optout (customer_key, at_ms) VALUES ($1, $2)
                 ON CONFLICT (customer_key) DO NOTHING",
            )
            .bind(customer_key)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
            // Nothing more leaves for them: a held invitation is not sent, no reminder.
            // The unsent entries are found first (a few days' worth, by their index),
            // then their invitations: there is no index by customer (migrations 0048, 0049).
            sqlx::query(
                "UPDATE invite_outbox SET sent_at = $2, token = NULL, last_error = 'opted out'
                 WHERE sent_at IS NULL AND id IN
                   (SELECT o.id FROM invite_outbox o JOIN invitation i ON i.id = o.invitation_id
                    WHERE o.sent_at IS NULL AND i.customer_key = $1 AND i.status <> 'suppressed')",
            )
            .bind(customer_key)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE invitation SET status = 'suppressed', reason = 'opted_out'
                 WHERE customer_key = $1 AND status = 'held'",
            )
            .bind(customer_key)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn invitations(&self, halls: Option<&[HallId]>) -> Result<Vec<Invitation>> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM invitation ORDER BY decided_at DESC, id DESC"
        );
        let rows: Vec<InvitationRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        let keep: Option<HashSet<&str>> = halls.map(|h| h.iter().map(|h| h.as_str()).collect());
        Ok(rows
            .into_iter()
            .filter(|r| keep.as_ref().is_none_or(|k| k.contains(r.1.as_str())))
            .map(invitation_of)
            .collect())
    }

    async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>> {
        // `{id}.{verifier}`: the row by its id, its verifier's hash compared in constant
        // time. Else a link sent before 0040: 64 hex digits looked up by their hash.
        if let Some((id, verifier)) = token.split_once('.') {
            let Ok(id) = id.parse::<i64>() else {
                return Ok(None);
            };
            let stored: Option<(Option<String>,)> = on_pool!(self, pool => {
                sqlx::query_as("SELECT link_hash FROM invitation WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?
            });
            let Some((Some(stored),)) = stored else {
                return Ok(None);
            };
            if !same_bytes(token_hash(verifier).as_bytes(), stored.as_bytes()) {
                return Ok(None);
            }
            let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitation WHERE id = $1");
            let row: Option<InvitationRow> = on_pool!(self, pool => {
                sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
            });
            return Ok(row.map(invitation_of));
        }
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitation WHERE token_hash = $1");
        let hash = sha256_hex(token);
        let row: Option<InvitationRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(&hash).fetch_optional(pool).await?
        });
        Ok(row.map(invitation_of))
    }

    async fn answer_invitation(
        &self,
        id: i64,
        journey: &peakend_core::Journey,
        response: &peakend_core::survey::Response,
        at_ms: i64,
    ) -> Result<()> {
        super::surveys::import_responses_answering(
            self,
            journey,
            std::slice::from_ref(response),
            Some((id, at_ms)),
        )
        .await
        .map(|_| ())
        // The link's respondent stored already: it was answered before.
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Gone("this survey link has been used or has expired".into())
            }
            e => e,
        })
    }

    async fn invitation_counts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<InvitationCount>> {
        let rows: Vec<(String, String, String, String, Option<String>, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT hall_id, segment, purpose, status, reason, COUNT(*) FROM invitation
                 WHERE decided_at >= $1 AND decided_at < $2
                 GROUP BY hall_id, segment, purpose, status, reason
                 ORDER BY hall_id, segment, purpose, status, reason",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(hall, segment, purpose, status, reason, n)| InvitationCount {
                    hall,
                    segment,
                    purpose,
                    status,
                    reason,
                    n: u64::try_from(n).unwrap_or(0),
                },
            )
            .collect())
    }

    async fn answered_visits(&self, from_ms: i64, to_ms: i64) -> Result<Vec<AnsweredVisit>> {
        type Row = (
            i64,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            String,
            Option<f64>,
            Option<String>,
            Option<f64>,
            Option<i64>,
            Option<Vec<u8>>,
        );
        // One row per rating of an answer stored with rating rows (a LEFT JOIN keeps an
        // answer that rated nothing or whose answers are packed on its own row).
        let (rows, layouts): (Vec<Row>, Vec<(i64, String)>) = on_pool!(self, pool => {
            let rows = sqlx::query_as(
                "SELECT i.id, i.hall_id, i.segment, i.purpose, i.staff, i.counter, i.wait_s,
                   r.journey_key, r.tolerable_wait_min, rr.moment_key, rr.satisfaction,
                   r.layout_id, r.answers
                 FROM invitation i
                 JOIN survey_response r ON r.hall_id = i.hall_id AND r.respondent = i.response_id
                 LEFT JOIN response_rating rr ON rr.hall_id = r.hall_id AND rr.response_id = r.id
                   AND rr.satisfaction IS NOT NULL
                 WHERE i.status = 'answered' AND i.decided_at >= $1 AND i.decided_at < $2
                 ORDER BY i.id, rr.moment_key",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?;
            let layouts = if rows.iter().any(|r: &Row| r.12.is_some()) {
                sqlx::query_as("SELECT id, layout FROM answer_layout").fetch_all(pool).await?
            } else {
                Vec::new()
            };
            (rows, layouts)
        });
        let layouts = super::customers::parse_layouts(layouts)?;
        let mut out: Vec<AnsweredVisit> = Vec::new();
        for (
            id,
            hall,
            segment,
            purpose,
            staff,
            counter,
            wait_s,
            journey,
            tolerable,
            moment,
            sat,
            layout,
            packed,
        ) in rows
        {
            if out.last().is_none_or(|v| v.invitation != id) {
                out.push(AnsweredVisit {
                    invitation: id,
                    hall,
                    segment,
                    purpose,
                    staff,
                    counter,
                    wait_s,
                    journey,
                    tolerable_wait_min: tolerable,
                    ratings: Vec::new(),
                });
            }
            let Some(v) = out.last_mut() else { continue };
            if let (Some(m), Some(s)) = (moment, sat) {
                v.ratings.push((m, s));
            }
            if let (Some(l), Some(bytes)) = (layout, packed) {
                let mut packed = super::customers::packed_satisfactions(&layouts, id, l, &bytes)?;
                packed.sort_by(|a, b| a.0.cmp(&b.0));
                v.ratings.extend(packed);
            }
        }
        Ok(out)
    }

    async fn answered_cells(&self) -> Result<Vec<(String, String, String, String)>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT hall_id, response_id, segment, purpose FROM invitation
                 WHERE status = 'answered' AND response_id IS NOT NULL",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}

type PendingRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
);

/// The columns of a [`PendingRow`].
const PENDING_COLUMNS: &str = "id, contact_id, hall_id, channel, customer_key, segment, purpose,
    staff, counter, wait_s, outcome, ended_at";

/// Takes the queued contacts up to `last` off the queue (in the drain's transaction) and
/// returns those a rule could sample (drawn below `cut`, or queued before draws were
/// kept), in order. On SQLite read as one JSON array in one row: its driver hands each
/// row of a result over from its own thread, which cost a drain of 20,000 queued
/// contacts about 60 ms of its 340 (issue 22's bench).
async fn pending_sqlite(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    last: i64,
    cut: f64,
    only: &str,
) -> Result<Vec<PendingRow>> {
    let (json,): (String,) = sqlx::query_as(&format!(
        "SELECT json_group_array(json_array({PENDING_COLUMNS})) FROM
           (SELECT {PENDING_COLUMNS} FROM invite_pending
            WHERE id <= $1 AND (draw IS NULL OR draw < $2){only} ORDER BY id)"
    ))
    .bind(last)
    .bind(cut)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(&format!("DELETE FROM invite_pending WHERE id <= $1{only}"))
        .bind(last)
        .execute(&mut **tx)
        .await?;
    let mut rows: Vec<PendingRow> = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt(format!("invite_pending: {e}")))?;
    rows.sort_unstable_by_key(|r| r.0);
    Ok(rows)
}

/// On PostgreSQL the delete returns what it took: one pass over the queue's rows (two
/// passes, a read and a delete, were more than half of a drain's time).
async fn pending_postgres(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    last: i64,
    cut: f64,
    only: &str,
) -> Result<Vec<PendingRow>> {
    let mut rows: Vec<PendingRow> = sqlx::query_as(&format!(
        "WITH gone AS (DELETE FROM invite_pending WHERE id <= $1{only}
           RETURNING {PENDING_COLUMNS}, draw)
         SELECT {PENDING_COLUMNS} FROM gone WHERE draw IS NULL OR draw < $2"
    ))
    .bind(last)
    .bind(cut)
    .fetch_all(&mut **tx)
    .await?;
    rows.sort_unstable_by_key(|r| r.0);
    Ok(rows)
}

/// The queued contacts still worth deciding: one whose link would already be dead, or
/// whose hall is no longer a valid id, is dropped from the queue as skipped.
fn pending_contacts(rows: Vec<PendingRow>, at_ms: i64, out: &mut Decided) -> Vec<EndedContact> {
    rows.into_iter()
        .filter_map(
            |(
                _,
                id,
                hall,
                channel,
                customer,
                segment,
                purpose,
                staff,
                counter,
                wait_s,
                outcome,
                ended_at,
            )| {
                let fresh = ended_at > at_ms - EXPIRY_MS;
                match HallId::parse(hall.as_str()) {
                    Ok(hall) if fresh => Some(EndedContact {
                        hall,
                        id,
                        channel,
                        customer,
                        segment,
                        purpose,
                        staff,
                        counter,
                        wait_s,
                        outcome,
                        ended_at,
                    }),
                    _ => {
                        out.skipped += 1;
                        None
                    }
                }
            },
        )
        .collect()
}

/// A contact drawn in its rule's sample and not decided earlier in its batch: what the
/// database is asked about.
struct Candidate<'a> {
    contact: &'a EndedContact,
    node: OrgNodeId,
    local: DateTime<FixedOffset>,
}

/// A batch's decisions before the database is read: each contact's rule and local time,
/// the sample drawn, repeats within the batch dropped (counted as skipped in `out`).
struct Plan<'a> {
    candidates: Vec<Candidate<'a>>,
    /// Invitations decided since this instant can suppress or fill a quota: back to the
    /// longest suppression, and at least the 8 days a week's cell can span.
    since: i64,
}

/// How far back invitations decided before a contact can suppress it or fill its
/// quota: the longest suppression of the rules, and at least the 8 days a week's cell
/// can span.
fn look_back_ms<'r>(rules: impl Iterator<Item = &'r InviteRule>) -> i64 {
    let longest = rules.map(|r| i64::from(r.suppress_days)).max().unwrap_or(0);
    longest.max(8) * 86_400_000
}

fn plan_decisions<'a>(
    tree: &OrgTree,
    rules: &HashMap<OrgNodeId, InviteRule>,
    contacts: &'a [EndedContact],
    out: &mut Decided,
) -> Result<Plan<'a>> {
    let earliest = contacts.iter().map(|c| c.ended_at).min().unwrap_or(0);
    let since = earliest - look_back_ms(rules.values());
    // Each hall's rule node (its nearest ancestor with a rule) and zone, once a hall.
    let mut halls: HashMap<&HallId, Option<(OrgNodeId, Zone)>> = HashMap::new();
    let mut in_batch: HashSet<&str> = HashSet::new();
    let mut candidates = Vec::new();
    for c in contacts {
        let found = halls.entry(&c.hall).or_insert_with(|| {
            let id = OrgNodeId::parse(c.hall.as_str()).ok()?;
            let node = tree
                .ancestry(&id)
                .into_iter()
                .find(|n| rules.contains_key(&n.id))?
                .id
                .clone();
            Some((node, tree.zone_of(&id)))
        });
        let Some((node, zone)) = found.clone() else {
            out.skipped += 1;
            continue;
        };
        let Some(local) = zone.local(c.ended_at) else {
            return Err(StoreError::Invalid(format!(
                "contact {}: time out of range",
                c.id
            )));
        };
        // Outside the sample: nothing to decide or store (the draw is the contact id's,
        // the same in every replay).
        if draw(&c.id) >= rules[&node].share_of(&c.purpose) {
            out.skipped += 1;
            continue;
        }
        // Decided a moment ago in this batch: a repeat, as one stored before would be.
        if !in_batch.insert(c.id.as_str()) {
            out.skipped += 1;
            continue;
        }
        candidates.push(Candidate {
            contact: c,
            node,
            local,
        });
    }
    Ok(Plan { candidates, since })
}

/// The UTC range [from, to) that holds every local ISO week of the candidates of rules
/// with quotas, two days wider each side for halls of other zones; `None` without any.
fn quota_window(plan: &Plan<'_>, rules: &HashMap<OrgNodeId, InviteRule>) -> Option<(i64, i64)> {
    let mut window: Option<(i64, i64)> = None;
    for c in plan
        .candidates
        .iter()
        .filter(|c| !rules[&c.node].quotas.is_empty())
    {
        let monday = c.local.date_naive()
            - chrono::Days::new(u64::from(c.local.weekday().num_days_from_monday()));
        let start = crate::local_midnight(monday, *c.local.offset());
        let end = start + 7 * 86_400_000;
        window = Some(match window {
            None => (start, end),
            Some((a, b)) => (a.min(start), b.max(end)),
        });
    }
    window.map(|(a, b)| ((a - 2 * 86_400_000).max(plan.since), b + 2 * 86_400_000))
}

/// The (segment, purpose) cells some candidate's rule has a quota for.
fn quota_cells(plan: &Plan<'_>, rules: &HashMap<OrgNodeId, InviteRule>) -> Vec<(String, String)> {
    let mut cells: BTreeSet<(String, String)> = BTreeSet::new();
    for c in &plan.candidates {
        let key = (c.contact.segment.clone(), c.contact.purpose.clone());
        if rules[&c.node].quotas.contains_key(&key) {
            cells.insert(key);
        }
    }
    cells.into_iter().collect()
}

/// The instants in (lo, hi) where a local ISO week starts in the zone of some
/// candidate's hall. Between two of them a hall's invitations (of one of those zones)
/// fall in one local week, so the database counts them together: one row per hall,
/// not one per invitation (a province's week of quota cells is 18,000 invitations).
fn week_cuts(plan: &Plan<'_>, tree: &OrgTree, lo: i64, hi: i64) -> Vec<i64> {
    let mut zones: Vec<Zone> = Vec::new();
    let mut halls: HashSet<&HallId> = HashSet::new();
    for c in &plan.candidates {
        if halls.insert(&c.contact.hall)
            && let Ok(id) = OrgNodeId::parse(c.contact.hall.as_str())
        {
            let zone = tree.zone_of(&id);
            if !zones.contains(&zone) {
                zones.push(zone);
            }
        }
    }
    let mut cuts = Vec::new();
    for zone in zones {
        let (Some(first), Some(last)) = (zone.local(lo), zone.local(hi)) else {
            continue;
        };
        let mut day = first.date_naive();
        while day <= last.date_naive() {
            if day.weekday() == chrono::Weekday::Mon {
                let at = crate::local_midnight(day, zone.offset_on(day));
                if lo < at && at < hi {
                    cuts.push(at);
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// A quota cell's invitations in the window, grouped by hall and by the part between
/// two [`week_cuts`] (`Some(number of cuts)`), or by hall and decision time (`None`:
/// each group one instant, so one week whatever the zone): `SELECT hall, first, last,
/// count`, the cell, window and cuts bound as $1…$4 and $5….
fn cell_groups_sql(cuts: Option<usize>, postgres: bool) -> String {
    let part = match cuts {
        None => "decided_at".to_owned(),
        Some(0) => "0".to_owned(),
        Some(n) => (0..n)
            .map(|i| {
                if postgres {
                    format!("(decided_at >= ${})::int", i + 5)
                } else {
                    format!("(decided_at >= ${})", i + 5)
                }
            })
            .collect::<Vec<_>>()
            .join(" + "),
    };
    format!(
        "SELECT hall_id, MIN(decided_at) AS first, MAX(decided_at) AS last, COUNT(*) AS n
         FROM invitation
         WHERE segment = $1 AND purpose = $2 AND decided_at >= $3 AND decided_at < $4
           AND status <> 'suppressed'
         GROUP BY hall_id, {part}"
    )
}

/// A hall's invitations in a quota cell: (hall, first, last, how many).
type CellGroup = (String, i64, i64, i64);

/// Reads the quota cells' past invitations of a drain's candidates into `$seen`, one
/// row per hall and part of the window; a cell with a group that spans its hall's week
/// start (a zone without a cut) is read again one group per decision time. `$groups`
/// is the backend's fetch of one cell's groups ([`cell_groups_sqlite`],
/// [`cell_groups_postgres`]).
macro_rules! count_cells {
    ($tx:ident, $plan:ident, $rules:ident, $tree:ident, $seen:ident, $postgres:literal, $groups:ident) => {
        if let Some((lo, hi)) = quota_window(&$plan, $rules) {
            let cuts = week_cuts(&$plan, $tree, lo, hi);
            let by_part = cell_groups_sql(Some(cuts.len()), $postgres);
            let by_instant = cell_groups_sql(None, $postgres);
            for (segment, purpose) in quota_cells(&$plan, $rules) {
                let cell = (segment.as_str(), purpose.as_str(), lo, hi);
                let mut groups = $groups(&mut *$tx, &by_part, cell, &cuts).await?;
                if !groups_in_one_week(&groups, $tree) {
                    groups = $groups(&mut *$tx, &by_instant, cell, &[]).await?;
                }
                $seen.count_in_cell(groups, &segment, &purpose);
            }
        }
    };
}

/// One cell's groups on SQLite, as one JSON array (rows come over one by one).
async fn cell_groups_sqlite(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    sql: &str,
    (segment, purpose, lo, hi): (&str, &str, i64, i64),
    cuts: &[i64],
) -> Result<Vec<CellGroup>> {
    let sql = format!("SELECT json_group_array(json_array(hall_id, first, last, n)) FROM ({sql})");
    let mut q = sqlx::query_as::<_, (String,)>(&sql)
        .bind(segment)
        .bind(purpose)
        .bind(lo)
        .bind(hi);
    for cut in cuts {
        q = q.bind(cut);
    }
    let (json,) = q.fetch_one(&mut **tx).await?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("invitation cells: {e}")))
}

async fn cell_groups_postgres(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    sql: &str,
    (segment, purpose, lo, hi): (&str, &str, i64, i64),
    cuts: &[i64],
) -> Result<Vec<CellGroup>> {
    let mut q = sqlx::query_as::<_, CellGroup>(sql)
        .bind(segment)
        .bind(purpose)
        .bind(lo)
        .bind(hi);
    for cut in cuts {
        q = q.bind(cut);
    }
    Ok(q.fetch_all(&mut **tx).await?)
}

/// Whether each group lies in one local week of its hall: true unless a hall's zone
/// starts its week where no cut was made (a zone no candidate has), when the cell is
/// read again by decision time.
fn groups_in_one_week(groups: &[CellGroup], tree: &OrgTree) -> bool {
    groups.iter().all(|(hall, first, last, _)| {
        let Ok(id) = OrgNodeId::parse(hall.as_str()) else {
            return true;
        };
        let zone = tree.zone_of(&id);
        match (zone.local(*first), zone.local(*last)) {
            (Some(a), Some(b)) => a.iso_week() == b.iso_week(),
            _ => true,
        }
    })
}

/// The decider's memory of each customer's latest invitation that counts (not
/// suppressed), for the suppression check. An index on the customer's key cost each
/// decision a random page write, about a quarter of a province's day of decisions,
/// while the invitations it answers for are written in time order. The memory is caught
/// up from the table inside each decision's transaction, which holds the write lock
/// (SQLite) or [`PG_DECIDER_LOCK`] (PostgreSQL): the rows past the last id it saw,
/// whoever wrote them, so another process or node deciding on the same database or a
/// restart decides the same. It keeps the window the rules look back over and reads
/// further back when a replay of older days asks for it.
#[derive(Default)]
pub(super) struct LastInvited {
    /// The first 128 bits of the SHA-256 of a customer's key → their latest
    /// `decided_at` among the invitations read.
    at: HashMap<u128, i64>,
    /// Every invitation up to this id has been read.
    seen_id: i64,
    /// Every invitation that counts, decided at or after this instant, is in `at`;
    /// `None` until the first decision reads them.
    from: Option<i64>,
}

// Customers are personal data: their count only.
impl std::fmt::Debug for LastInvited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastInvited")
            .field("customers", &self.at.len())
            .field("seen_id", &self.seen_id)
            .field("from", &self.from)
            .finish()
    }
}

fn customer_digest(key: &str) -> u128 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&d[..16]);
    u128::from_le_bytes(first)
}

impl LastInvited {
    fn note(&mut self, key: &str, at: i64) {
        let e = self.at.entry(customer_digest(key)).or_insert(at);
        *e = (*e).max(at);
    }

    /// The customer's latest invitation that counts, if decided at or after `since`
    /// (what `MAX(decided_at) … WHERE decided_at >= since` over the table answers).
    fn last(&self, key: &str, since: i64) -> Option<i64> {
        self.at
            .get(&customer_digest(key))
            .copied()
            .filter(|at| *at >= since)
    }

    /// Each of `customers`' latest invitation that counts, of those decided at or after
    /// `since`: what [`Seen::last_invited`] holds for a batch.
    fn last_of<'c>(
        &self,
        customers: impl Iterator<Item = &'c str>,
        since: i64,
    ) -> HashMap<String, i64> {
        customers
            .filter_map(|c| Some((c.to_owned(), self.last(c, since)?)))
            .collect()
    }

    /// What this memory lacks for a decision looking back to `since`, the table's
    /// largest id being `top`: the invitations written since it last read (by this
    /// process or another), and on first use or for an older `since` the window back to
    /// it. Each read is a filter on `invitation` with `$1` and `$2` bound to the pair.
    fn reads(&self, top: i64, since: i64) -> Vec<(String, i64, i64)> {
        const LIVE: &str = "status <> 'suppressed' AND customer_key IS NOT NULL";
        let mut reads = Vec::new();
        if self.from.is_some() && top > self.seen_id {
            reads.push((
                format!("id > $1 AND id <= $2 AND {LIVE}"),
                self.seen_id,
                top,
            ));
        }
        if self.from.is_none_or(|from| since < from) {
            reads.push((
                format!("decided_at >= $1 AND decided_at < $2 AND {LIVE}"),
                since,
                self.from.unwrap_or(i64::MAX),
            ));
        }
        reads
    }

    /// After [`reads`](Self::reads) were noted: everything up to `top` is read, back to
    /// `since` at least. Forgets customers whose latest invitation is before `since`
    /// once that is two days' worth.
    fn caught_up(&mut self, top: i64, since: i64) {
        self.seen_id = top;
        let from = self.from.map_or(since, |from| from.min(since));
        self.from = Some(from);
        if since - from > 2 * 86_400_000 {
            self.at.retain(|_, at| *at >= since);
            self.from = Some(since);
        }
    }

    /// Catches up on SQLite, in the decision's write transaction (nothing lands between
    /// these reads). The rows come as one JSON array (sqlx hands SQLite's rows over one
    /// at a time), the keys borrowed from it unless escaped.
    async fn catch_up(
        &mut self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        since: i64,
    ) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Key<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);
        let (top,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM invitation")
            .fetch_one(&mut **tx)
            .await?;
        let top = top.unwrap_or(0);
        for (filter, a, b) in self.reads(top, since) {
            let (json,): (String,) = sqlx::query_as(&format!(
                "SELECT json_group_array(json_array(customer_key, decided_at)) FROM invitation
                 WHERE {filter}"
            ))
            .bind(a)
            .bind(b)
            .fetch_one(&mut **tx)
            .await?;
            let rows: Vec<(Key<'_>, i64)> =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.at.reserve(rows.len());
            for (Key(k), at) in rows {
                self.note(&k, at);
            }
        }
        self.caught_up(top, since);
        Ok(())
    }

    /// Catches up on PostgreSQL. Every transaction that inserts invitations holds
    /// [`PG_DECIDER_LOCK`] until it commits, so under it (a decision) every id below
    /// the largest committed one is committed too; without it (the warm-up at a
    /// start) an id not yet committed is above `top` and read next time.
    async fn catch_up_postgres(
        &mut self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        since: i64,
    ) -> Result<()> {
        let (top,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM invitation")
            .fetch_one(&mut **tx)
            .await?;
        let top = top.unwrap_or(0);
        for (filter, a, b) in self.reads(top, since) {
            let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
                "SELECT customer_key, decided_at FROM invitation WHERE {filter}"
            ))
            .bind(a)
            .bind(b)
            .fetch_all(&mut **tx)
            .await?;
            self.at.reserve(rows.len());
            for (k, at) in rows {
                self.note(&k, at);
            }
        }
        self.caught_up(top, since);
        Ok(())
    }
}

/// What the database said of a batch's candidates.
#[derive(Default)]
struct Seen {
    /// Contact ids decided before.
    decided: HashSet<String>,
    opted_out: HashSet<String>,
    /// Each customer's latest invitation that counts (not suppressed) since `since`.
    last_invited: HashMap<String, i64>,
    /// Invitations that count in the quota cells' weeks: (hall, segment, purpose, when,
    /// how many), those counted together all of one local week of their hall.
    in_cells: Vec<(String, String, String, i64, u32)>,
}

impl Seen {
    fn count_in_cell(&mut self, groups: Vec<CellGroup>, segment: &str, purpose: &str) {
        self.in_cells
            .extend(groups.into_iter().map(|(hall, first, _, n)| {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                (hall, segment.to_owned(), purpose.to_owned(), first, n)
            }));
    }
}

/// A decision to store.
struct NewInvitation<'a> {
    contact: &'a EndedContact,
    status: &'static str,
    reason: Option<String>,
    /// The link's verifier (its token is `{id}.{verifier}` once the row has its id).
    token: Option<String>,
    send_at: Option<i64>,
}

/// Decides the candidates the database has not seen, in order, each by its rule node's
/// programme (seeded with what the database holds of the node's customers and cells).
fn decide_candidates<'a>(
    plan: Plan<'a>,
    rules: &HashMap<OrgNodeId, InviteRule>,
    tree: &OrgTree,
    seen: &Seen,
    at_ms: i64,
    out: &mut Decided,
) -> Vec<NewInvitation<'a>> {
    let mut programmes: HashMap<OrgNodeId, Programme> = HashMap::new();
    let mut seeded: HashSet<(&OrgNodeId, &str)> = HashSet::new();
    let fresh: Vec<Candidate<'a>> = plan
        .candidates
        .into_iter()
        .filter(|c| {
            let old = seen.decided.contains(&c.contact.id);
            if old {
                out.skipped += 1;
            }
            !old
        })
        .collect();
    for c in &fresh {
        let p = programmes.entry(c.node.clone()).or_default();
        if let Some(customer) = c.contact.customer.as_deref()
            && seeded.insert((&c.node, customer))
        {
            if seen.opted_out.contains(customer) {
                p.opt_out(customer);
            }
            if let Some(at) = seen.last_invited.get(customer) {
                p.invited(customer, *at);
            }
        }
    }
    // The quota cells' past invitations, each counted by the node whose rule its hall
    // follows now, in its hall's local week.
    if !seen.in_cells.is_empty() {
        let mut hall_node: HashMap<&str, Option<(OrgNodeId, Zone)>> = HashMap::new();
        for (hall, segment, purpose, at, n) in &seen.in_cells {
            let found = hall_node.entry(hall.as_str()).or_insert_with(|| {
                let id = OrgNodeId::parse(hall.as_str()).ok()?;
                let node = tree
                    .ancestry(&id)
                    .into_iter()
                    .find(|n| rules.contains_key(&n.id))?
                    .id
                    .clone();
                Some((node, tree.zone_of(&id)))
            });
            if let Some((node, zone)) = found
                && let (Some(p), Some(local)) = (programmes.get_mut(node), zone.local(*at))
            {
                p.counted(segment, purpose, local, *n);
            }
        }
    }
    // A customer invited in this batch under one rule counts under every rule, as one
    // invited in an earlier batch does (the stored invitations seed every programme):
    // the decisions must not depend on where a drain's batch happens to end.
    let mut invited_now: HashMap<&str, i64> = HashMap::new();
    let mut rows = Vec::with_capacity(fresh.len());
    for c in fresh {
        let ended = Ended {
            id: c.contact.id.clone(),
            customer: c.contact.customer.clone(),
            segment: c.contact.segment.clone(),
            purpose: c.contact.purpose.clone(),
            at: c.local,
        };
        let programme = programmes
            .get_mut(&c.node)
            .expect("a programme per rule node");
        let customer = c.contact.customer.as_deref();
        if let Some((k, at)) = customer.and_then(|k| invited_now.get(k).map(|at| (k, *at))) {
            programme.invited(k, at);
        }
        let (status, reason, send_at) = match programme.decide(&ended, &rules[&c.node]) {
            Decision::NotSampled => {
                out.skipped += 1;
                continue;
            }
            Decision::Sent => {
                out.sent += 1;
                if let Some(k) = customer {
                    invited_now.insert(k, c.local.timestamp_millis());
                }
                ("sent", None, Some(c.contact.ended_at.max(at_ms)))
            }
            Decision::Held { until } => {
                out.held += 1;
                if let Some(k) = customer {
                    invited_now.insert(k, c.local.timestamp_millis());
                }
                ("held", Some("quiet_hours".to_owned()), Some(until))
            }
            Decision::Suppressed { reason } => {
                out.suppressed += 1;
                let code = if c.contact.customer.is_none() {
                    "no_customer".to_owned()
                } else {
                    reason
                };
                ("suppressed", Some(code), None)
            }
        };
        rows.push(NewInvitation {
            contact: c.contact,
            status,
            reason,
            token: send_at.map(|_| token_hex()),
            send_at,
        });
    }
    rows
}

/// 256 random bits as hex, for many links at once.
fn token_hex() -> String {
    use rand::Rng;
    hex(&rand::rng().random::<[u8; 32]>())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

/// Rows of one JSON array a statement on SQLite inserts at most.
const SQLITE_JSON_ROWS: usize = 20_000;

async fn decide_sqlite(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    memo: &mut LastInvited,
    tree: &OrgTree,
    rules: &HashMap<OrgNodeId, InviteRule>,
    plan: Plan<'_>,
    at_ms: i64,
    out: &mut Decided,
) -> Result<()> {
    let started = std::time::Instant::now();
    let json = |v: &[&str]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let ids: Vec<&str> = plan
        .candidates
        .iter()
        .map(|c| c.contact.id.as_str())
        .collect();
    let customers: Vec<&str> = {
        let set: BTreeSet<&str> = plan
            .candidates
            .iter()
            .filter_map(|c| c.contact.customer.as_deref())
            .collect();
        set.into_iter().collect()
    };
    let mut seen = Seen::default();
    // Index lookups, the keys handed over as one JSON array a statement.
    for chunk in ids.chunks(50_000) {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT contact_id FROM invitation WHERE contact_id IN (SELECT value FROM json_each($1))",
        )
        .bind(json(chunk))
        .fetch_all(&mut **tx)
        .await?;
        seen.decided.extend(rows.into_iter().map(|(c,)| c));
    }
    let t_decided = started.elapsed();
    for chunk in customers.chunks(50_000) {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT customer_key FROM invite_optout WHERE customer_key IN (SELECT value FROM json_each($1))",
        )
        .bind(json(chunk))
        .fetch_all(&mut **tx)
        .await?;
        seen.opted_out.extend(rows.into_iter().map(|(c,)| c));
    }
    memo.catch_up(tx, plan.since).await?;
    seen.last_invited = memo.last_of(customers.iter().copied(), plan.since);
    let t_customers = started.elapsed();
    count_cells!(tx, plan, rules, tree, seen, false, cell_groups_sqlite);
    let candidates = plan.candidates.len();
    let looked_up = started.elapsed();
    let rows = decide_candidates(plan, rules, tree, &seen, at_ms, out);
    tracing::debug!(
        decided_before_ms = t_decided.as_secs_f64() * 1e3,
        customers_ms = (t_customers - t_decided).as_secs_f64() * 1e3,
        in_cells = seen.in_cells.len(),
        candidates,
        lookups_ms = looked_up.as_secs_f64() * 1e3,
        decided_ms = (started.elapsed() - looked_up).as_secs_f64() * 1e3,
        "invitation lookups"
    );
    // The rows as one JSON array a statement: binding 16 values a row through sqlx's
    // worker (and a row back for each id) cost more than SQLite's own insert.
    type Row<'r> = (
        &'r str,
        &'r str,
        Option<&'r str>,
        &'r str,
        &'r str,
        Option<&'r str>,
        Option<&'r str>,
        Option<i64>,
        Option<&'r str>,
        &'static str,
        Option<&'r str>,
        Option<String>,
        Option<i64>,
        i64,
    );
    for chunk in rows.chunks(SQLITE_JSON_ROWS) {
        let values: Vec<Row<'_>> = chunk
            .iter()
            .map(|r| {
                let c = r.contact;
                (
                    c.hall.as_str(),
                    c.id.as_str(),
                    c.customer.as_deref(),
                    c.segment.as_str(),
                    c.purpose.as_str(),
                    c.staff.as_deref(),
                    c.counter.as_deref(),
                    c.wait_s,
                    c.outcome.as_deref(),
                    r.status,
                    r.reason.as_deref(),
                    r.token.as_deref().map(token_hash),
                    r.send_at,
                    c.ended_at,
                )
            })
            .collect();
        let values =
            serde_json::to_string(&values).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO invitation (hall_id, contact_id, customer_key, segment, purpose,
               staff, counter, wait_s, outcome, decided_at, status, reason, link_hash,
               send_at, expires_at, ended_at)
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5,
               value->>6, value->>7, value->>8, $2, value->>9, value->>10, value->>11,
               value->>12, value->>12 + $3, value->>13
             FROM json_each($1)",
        )
        .bind(values)
        .bind(at_ms)
        .bind(EXPIRY_MS)
        .execute(&mut **tx)
        .await?;
        // Each invite's outbox row names its invitation, found again by the contact id
        // (the pages just written); its reminder is made when the invite has left
        // (`invitation_delivered`).
        let outbox: Vec<(&str, &str, i64)> = chunk
            .iter()
            .filter_map(|r| Some((r.contact.id.as_str(), r.token.as_deref()?, r.send_at?)))
            .collect();
        if outbox.is_empty() {
            continue;
        }
        let outbox =
            serde_json::to_string(&outbox).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO invite_outbox (invitation_id, kind, token, due_at)
             SELECT i.id, 'invite', i.id || '.' || (j.value->>1), j.value->>2
             FROM json_each($1) AS j CROSS JOIN invitation AS i
             WHERE i.contact_id = j.value->>0",
        )
        .bind(outbox)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Taken by every PostgreSQL transaction that decides invitations (the queue's drains and
/// the direct path), so that nodes sharing the database decide one at a time: each then
/// sees the invitations the one before committed.
const PG_DECIDER_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('invite_pending'))";

async fn decide_postgres(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    memo: &mut LastInvited,
    tree: &OrgTree,
    rules: &HashMap<OrgNodeId, InviteRule>,
    plan: Plan<'_>,
    at_ms: i64,
    out: &mut Decided,
) -> Result<()> {
    let started = std::time::Instant::now();
    // The batch's keys are looked up one index probe each, whatever the planner would
    // guess of a large array against a large table.
    sqlx::query("SET LOCAL enable_hashjoin = off")
        .execute(&mut **tx)
        .await?;
    sqlx::query("SET LOCAL enable_mergejoin = off")
        .execute(&mut **tx)
        .await?;
    let ids: Vec<String> = plan
        .candidates
        .iter()
        .map(|c| c.contact.id.clone())
        .collect();
    let customers: Vec<String> = {
        let set: BTreeSet<&str> = plan
            .candidates
            .iter()
            .filter_map(|c| c.contact.customer.as_deref())
            .collect();
        set.into_iter().map(str::to_owned).collect()
    };
    let mut seen = Seen::default();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT i.contact_id FROM UNNEST($1::text[]) AS k(id)
         JOIN invitation i ON i.contact_id = k.id",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    seen.decided.extend(rows.into_iter().map(|(c,)| c));
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT o.customer_key FROM UNNEST($1::text[]) AS k(id)
         JOIN invite_optout o ON o.customer_key = k.id",
    )
    .bind(&customers)
    .fetch_all(&mut **tx)
    .await?;
    seen.opted_out.extend(rows.into_iter().map(|(c,)| c));
    memo.catch_up_postgres(tx, plan.since).await?;
    seen.last_invited = memo.last_of(customers.iter().map(String::as_str), plan.since);
    count_cells!(tx, plan, rules, tree, seen, true, cell_groups_postgres);
    let candidates = plan.candidates.len();
    let looked_up = started.elapsed();
    let rows = decide_candidates(plan, rules, tree, &seen, at_ms, out);
    tracing::debug!(
        candidates,
        lookups_ms = looked_up.as_secs_f64() * 1e3,
        decided_ms = (started.elapsed() - looked_up).as_secs_f64() * 1e3,
        "invitation lookups"
    );
    if rows.is_empty() {
        return Ok(());
    }
    // One statement of arrays for the rows, one for their outbox entries.
    let col = |f: &dyn Fn(&NewInvitation<'_>) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(f).collect()
    };
    let halls = col(&|r| Some(r.contact.hall.to_string()));
    let contact_ids = col(&|r| Some(r.contact.id.clone()));
    let customer_keys = col(&|r| r.contact.customer.clone());
    let segments = col(&|r| Some(r.contact.segment.clone()));
    let purposes = col(&|r| Some(r.contact.purpose.clone()));
    let staff = col(&|r| r.contact.staff.clone());
    let counters = col(&|r| r.contact.counter.clone());
    let outcomes = col(&|r| r.contact.outcome.clone());
    let statuses = col(&|r| Some(r.status.to_owned()));
    let reasons = col(&|r| r.reason.clone());
    let hashes = col(&|r| r.token.as_deref().map(token_hash));
    let waits: Vec<Option<i64>> = rows.iter().map(|r| r.contact.wait_s).collect();
    let sends: Vec<Option<i64>> = rows.iter().map(|r| r.send_at).collect();
    let expires: Vec<Option<i64>> = sends.iter().map(|s| s.map(|s| s + EXPIRY_MS)).collect();
    let ended: Vec<i64> = rows.iter().map(|r| r.contact.ended_at).collect();
    let made: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO invitation (hall_id, contact_id, customer_key, segment, purpose,
           staff, counter, wait_s, outcome, decided_at, status, reason, link_hash,
           send_at, expires_at, ended_at)
         SELECT h, c, k, sg, pu, st, co, w, o, $10, s, r, t, sa, ea, en
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::bigint[], $9::text[], $11::text[],
                     $12::text[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[])
           AS u(h, c, k, sg, pu, st, co, w, o, s, r, t, sa, ea, en)
         RETURNING id, contact_id",
    )
    .bind(&halls)
    .bind(&contact_ids)
    .bind(&customer_keys)
    .bind(&segments)
    .bind(&purposes)
    .bind(&staff)
    .bind(&counters)
    .bind(&waits)
    .bind(&outcomes)
    .bind(at_ms)
    .bind(&statuses)
    .bind(&reasons)
    .bind(&hashes)
    .bind(&sends)
    .bind(&expires)
    .bind(&ended)
    .fetch_all(&mut **tx)
    .await?;
    let made: HashMap<String, i64> = made.into_iter().map(|(id, c)| (c, id)).collect();
    let (mut o_ids, mut o_kinds, mut o_tokens, mut o_due) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in &rows {
        if let (Some(token), Some(due), Some(id)) =
            (r.token.as_deref(), r.send_at, made.get(&r.contact.id))
        {
            // Its reminder is made when the invite has left (`invitation_delivered`).
            o_ids.push(*id);
            o_kinds.push("invite");
            o_tokens.push(link_token(*id, token));
            o_due.push(due);
        }
    }
    if !o_ids.is_empty() {
        sqlx::query(
            "INSERT INTO invite_outbox (invitation_id, kind, token, due_at)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[])",
        )
        .bind(&o_ids)
        .bind(&o_kinds)
        .bind(&o_tokens)
        .bind(&o_due)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
