//! The SQL behind survey invitations: rules per org node, decisions in one
//! transaction with their outbox entries, opt-outs and the list. A child module of
//! `sql`, so it shares the pool.

use peakend_core::invitation::{Decision, Ended, Programme, parse_quiet, parse_quotas, quiet_text};

use super::*;
use crate::invitations::{
    AnsweredVisit, Decided, EXPIRY_MS, EndedContact, Invitation, InvitationCount, InvitationStore,
    InviteRule, Outgoing, REMINDER_AFTER_MS, SEND_ERROR_MAX_CHARS,
};

fn rule_of_row(
    node: String,
    share: f64,
    quotas: String,
    suppress_days: i64,
    quiet: Option<String>,
) -> Result<(OrgNodeId, InviteRule)> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("invite rule of {node}: {what}"));
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
            quotas: parse_quotas(&text).map_err(|_| corrupt("quotas"))?,
            suppress_days: u32::try_from(suppress_days).map_err(|_| corrupt("suppress_days"))?,
            quiet: quiet
                .map(|q| parse_quiet(&q))
                .transpose()
                .map_err(|_| corrupt("quiet"))?,
        },
    ))
}

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
        let quotas: Vec<(&str, &str, u32)> = rule
            .quotas
            .iter()
            .map(|((s, p), n)| (s.as_str(), p.as_str(), *n))
            .collect();
        let quotas =
            serde_json::to_string(&quotas).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let quiet = rule.quiet.map(quiet_text);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
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
                "INSERT INTO invite_rule (node_id, share, quotas, suppress_days, quiet, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(node.as_str())
            .bind(rule.share)
            .bind(&quotas)
            .bind(i64::from(rule.suppress_days))
            .bind(quiet.as_deref())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn invite_rules(&self) -> Result<Vec<(OrgNodeId, InviteRule)>> {
        let rows: Vec<(String, f64, String, i64, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT node_id, share, quotas, suppress_days, quiet FROM invite_rule ORDER BY node_id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(n, s, q, d, quiet)| rule_of_row(n, s, q, d, quiet))
            .collect()
    }

    async fn decide_invitations(&self, contacts: &[EndedContact], at_ms: i64) -> Result<Decided> {
        let mut out = Decided::default();
        if contacts.is_empty() {
            return Ok(out);
        }
        let tree = self.org_tree().await?;
        let rules: HashMap<OrgNodeId, InviteRule> =
            self.invite_rules().await?.into_iter().collect();
        // Each contact's rule node: its hall's nearest ancestor with a rule.
        let rule_node = |hall: &HallId| -> Option<OrgNodeId> {
            let id = OrgNodeId::parse(hall.as_str()).ok()?;
            tree.ancestry(&id)
                .into_iter()
                .find(|n| rules.contains_key(&n.id))
                .map(|n| n.id.clone())
        };
        let longest = rules
            .values()
            .map(|r| i64::from(r.suppress_days))
            .max()
            .unwrap_or(0);
        let earliest = contacts.iter().map(|c| c.ended_at).min().unwrap_or(at_ms);
        // What suppression and the weeks' quotas have seen: invitations back to the
        // longest suppression, and at least the 8 days a week's cell can span.
        let since = earliest - longest.max(8) * 86_400_000;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let past: Vec<(String, Option<String>, String, String, i64)> = sqlx::query_as(
                "SELECT hall_id, customer_key, segment, purpose, decided_at FROM invitation
                 WHERE decided_at >= $1 AND status <> 'suppressed'",
            )
            .bind(since)
            .fetch_all(&mut *tx)
            .await?;
            let opted: Vec<(String,)> = sqlx::query_as("SELECT customer_key FROM invite_optout")
                .fetch_all(&mut *tx)
                .await?;
            let mut programmes: HashMap<OrgNodeId, Programme> = rules
                .keys()
                .map(|n| {
                    let mut p = Programme::new();
                    for (c,) in &opted {
                        p.opt_out(c);
                    }
                    for (_, customer, _, _, at) in &past {
                        if let Some(c) = customer {
                            p.invited(c, *at);
                        }
                    }
                    (n.clone(), p)
                })
                .collect();
            for (hall, _, segment, purpose, at) in &past {
                let Ok(hall) = HallId::parse(hall.as_str()) else { continue };
                let Some(node) = rule_node(&hall) else { continue };
                if let (Some(p), Some(local)) =
                    (programmes.get_mut(&node), tree.zone_of_hall(&hall).local(*at))
                {
                    p.counted(segment, purpose, local);
                }
            }
            for c in contacts {
                let Some(node) = rule_node(&c.hall) else {
                    out.skipped += 1;
                    continue;
                };
                let seen: Option<(i64,)> = sqlx::query_as("SELECT id FROM invitation WHERE contact_id = $1")
                    .bind(&c.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(local) = tree.zone_of_hall(&c.hall).local(c.ended_at) else {
                    return Err(StoreError::Invalid(format!("contact {}: time out of range", c.id)));
                };
                if seen.is_some() {
                    out.skipped += 1;
                    continue;
                }
                let ended = Ended {
                    id: c.id.clone(),
                    customer: c.customer.clone(),
                    segment: c.segment.clone(),
                    purpose: c.purpose.clone(),
                    at: local,
                };
                let programme = programmes.get_mut(&node).expect("a programme per rule");
                let decision = programme.decide(&ended, &rules[&node]);
                let (status, reason, send_at) = match &decision {
                    Decision::NotSampled => {
                        out.skipped += 1;
                        continue;
                    }
                    Decision::Sent => {
                        out.sent += 1;
                        ("sent", None, Some(c.ended_at.max(at_ms)))
                    }
                    Decision::Held { until } => {
                        out.held += 1;
                        ("held", Some("quiet_hours".to_owned()), Some(*until))
                    }
                    Decision::Suppressed { reason } => {
                        out.suppressed += 1;
                        let code = if c.customer.is_none() {
                            "no_customer".to_owned()
                        } else {
                            reason.clone()
                        };
                        ("suppressed", Some(code), None)
                    }
                };
                let token = send_at.map(|_| random_hex());
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO invitation (hall_id, contact_id, customer_key, segment, purpose,
                       staff, counter, wait_s, outcome, decided_at, status, reason, token_hash,
                       send_at, expires_at, ended_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                     RETURNING id",
                )
                .bind(c.hall.as_str())
                .bind(&c.id)
                .bind(c.customer.as_deref())
                .bind(&c.segment)
                .bind(&c.purpose)
                .bind(c.staff.as_deref())
                .bind(c.counter.as_deref())
                .bind(c.wait_s)
                .bind(c.outcome.as_deref())
                .bind(at_ms)
                .bind(status)
                .bind(reason.as_deref())
                .bind(token.as_deref().map(sha256_hex))
                .bind(send_at)
                .bind(send_at.map(|s| s + EXPIRY_MS))
                .bind(c.ended_at)
                .fetch_one(&mut *tx)
                .await?;
                if let (Some(token), Some(due)) = (token, send_at) {
                    sqlx::query(
                        "INSERT INTO invite_outbox (invitation_id, kind, token, due_at) VALUES ($1, 'invite', $2, $3)",
                    )
                    .bind(id)
                    .bind(&token)
                    .bind(due)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO invite_outbox (invitation_id, kind, token, due_at) VALUES ($1, 'reminder', $2, $3)",
                    )
                    .bind(id)
                    .bind(&token)
                    .bind(due + REMINDER_AFTER_MS)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(out)
    }

    async fn sweep_invitations(&self, at_ms: i64) -> Result<Vec<Outgoing>> {
        let rows: Vec<OutgoingRow> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE invitation SET status = 'expired', reason = 'no answer in 72 hours'
                 WHERE status IN ('sent', 'held') AND expires_at <= $1",
            )
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
            // Closed unsent: a reminder is simply not needed; an invitation that never
            // left (its sends failed until the link expired) keeps why.
            sqlx::query(
                "UPDATE invite_outbox SET sent_at = $1, token = NULL,
                   last_error = CASE WHEN kind = 'reminder' THEN 'not needed'
                     ELSE COALESCE('expired before sent: ' || last_error, 'expired before sent') END
                 WHERE sent_at IS NULL AND invitation_id IN
                   (SELECT id FROM invitation WHERE status IN ('answered', 'expired'))",
            )
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
            let rows = sqlx::query_as(
                "SELECT o.id, o.invitation_id, i.hall_id, COALESCE(n.name, i.hall_id), o.kind,
                   i.customer_key, o.token, i.expires_at, o.attempts, o.last_error
                 FROM invite_outbox o JOIN invitation i ON i.id = o.invitation_id
                   LEFT JOIN org_node n ON n.id = i.hall_id
                 WHERE o.sent_at IS NULL AND o.due_at <= $1 AND o.token IS NOT NULL
                   AND (o.kind <> 'reminder' OR NOT EXISTS (
                     SELECT 1 FROM invite_outbox f WHERE f.invitation_id = o.invitation_id
                       AND f.kind = 'invite' AND f.sent_at IS NULL))
                 ORDER BY o.due_at, o.id",
            )
            .bind(at_ms)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows
        });
        Ok(rows
            .into_iter()
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
            .collect())
    }

    async fn invitation_delivered(&self, outbox_id: i64, at_ms: i64) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
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

    async fn opt_out(&self, customer_key: &str, at_ms: i64) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO invite_optout (customer_key, at_ms) VALUES ($1, $2)
                 ON CONFLICT (customer_key) DO NOTHING",
            )
            .bind(customer_key)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
            // Nothing more leaves for them: a held invitation is not sent, no reminder.
            sqlx::query(
                "UPDATE invite_outbox SET sent_at = $2, token = NULL, last_error = 'opted out'
                 WHERE sent_at IS NULL AND invitation_id IN
                   (SELECT id FROM invitation WHERE customer_key = $1)",
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
        );
        // One row per rating (a LEFT JOIN keeps an answer that rated nothing).
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT i.id, i.hall_id, i.segment, i.purpose, i.staff, i.counter, i.wait_s,
                   r.journey_key, r.tolerable_wait_min, rr.moment_key, rr.satisfaction
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
            .await?
        });
        let mut out: Vec<AnsweredVisit> = Vec::new();
        for (id, hall, segment, purpose, staff, counter, wait_s, journey, tolerable, moment, sat) in
            rows
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
            if let (Some(m), Some(s), Some(v)) = (moment, sat, out.last_mut()) {
                v.ratings.push((m, s));
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
