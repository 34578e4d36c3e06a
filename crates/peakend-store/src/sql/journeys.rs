//! Journeys: their documents, which journey each org node lives by, and the record
//! of every assignment.

use super::*;

pub(super) async fn list_journeys(store: &SqlStore) -> Result<Vec<JourneySummary>> {
    let rows: Vec<(String, String)> = on_pool!(store, pool => {
        sqlx::query_as("SELECT journey_key, document FROM journey ORDER BY journey_key")
            .fetch_all(pool)
            .await?
    });
    rows.iter()
        .map(|(key, doc)| Ok(JourneySummary::from(&journey_from_doc(key, doc)?)))
        .collect()
}

/// A journey as its halls live by it: a region's journey stored before its parent had
/// a check (or that states none) inherits the parent's checks, up the chain.
pub(super) async fn journey(store: &SqlStore, key: &JourneyKey) -> Result<Option<Journey>> {
    let mut chain = Vec::new();
    let mut next = Some(key.clone());
    // `put_journey` refuses loops; the bound only keeps a corrupt database finite.
    while let Some(k) = next.take().filter(|_| chain.len() < 32) {
        let row: Option<(String,)> = on_pool!(store, pool => {
            sqlx::query_as(SELECT_DOCUMENT)
                .bind(k.as_str())
                .fetch_optional(pool)
                .await?
        });
        let Some((doc,)) = row else { break };
        let j = journey_from_doc(k.as_str(), &doc)?;
        next = j.extends().cloned();
        chain.push(j);
    }
    let mut chain = chain.into_iter().rev();
    let Some(mut effective) = chain.next() else {
        return Ok(None);
    };
    for mut j in chain {
        // Standards its parent gained since it was stored (an upgraded built-in) too.
        j.inherit_standards(&effective);
        j.inherit_checks(&effective);
        // A region's house of quality is its own edits over its parent's (stored
        // unmerged, so a later edit of the parent reaches it). Edits that no longer fit
        // (a built-in journey upgraded under them) must not stop the halls: the
        // parent's house stands until the region's is fixed.
        let mut merged = j.clone();
        match merged.inherit_qfd(&effective) {
            Ok(()) => j = merged,
            Err(e) => {
                tracing::warn!(journey = %j.key(), "its house of quality no longer fits its parent's, which stands: {e}");
                j.set_qfd(peakend_core::qfd::QfdSection::default())?;
                j.inherit_qfd(&effective)?;
            }
        }
        effective = j;
    }
    Ok(Some(effective).filter(|j| j.key() == key))
}

pub(super) async fn journey_as_stored(
    store: &SqlStore,
    key: &JourneyKey,
) -> Result<Option<Journey>> {
    let row: Option<(String,)> = on_pool!(store, pool => {
        sqlx::query_as(SELECT_DOCUMENT)
            .bind(key.as_str())
            .fetch_optional(pool)
            .await?
    });
    row.map(|(doc,)| journey_from_doc(key.as_str(), &doc))
        .transpose()
}

pub(super) async fn put_estimate(
    store: &SqlStore,
    journey: &JourneyKey,
    user: &str,
    batch: &peakend_core::analysis::EstimateBatch,
    at_ms: i64,
) -> Result<()> {
    let doc =
        serde_json::to_string(&batch.estimates).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    on_pool!(store, pool => {
        sqlx::query(
            "INSERT INTO importance_estimate (journey_key, user_name, org_id, role, document, at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (journey_key, user_name) DO UPDATE SET
               org_id = excluded.org_id, role = excluded.role,
               document = excluded.document, at = excluded.at",
        )
        .bind(journey.as_str())
        .bind(user)
        .bind(batch.org.as_str())
        .bind(batch.role.as_str())
        .bind(&doc)
        .bind(at_ms)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub(super) async fn estimates(
    store: &SqlStore,
    journey: &JourneyKey,
) -> Result<Vec<(String, peakend_core::analysis::EstimateBatch, i64)>> {
    let rows: Vec<(String, String, String, String, i64)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT user_name, org_id, role, document, at FROM importance_estimate
             WHERE journey_key = $1 ORDER BY user_name",
        )
        .bind(journey.as_str())
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(user, org, role, doc, at)| {
            let corrupt = |e: String| StoreError::Corrupt(format!("estimate of `{user}`: {e}"));
            let batch = peakend_core::analysis::EstimateBatch {
                org: OrgNodeId::parse(org).map_err(|e| corrupt(e.to_string()))?,
                role: peakend_core::Role::parse(&role).map_err(|e| corrupt(e.to_string()))?,
                estimates: serde_json::from_str(&doc).map_err(|e| corrupt(e.to_string()))?,
            };
            Ok((user, batch, at))
        })
        .collect()
}

pub(super) async fn put_journey(
    store: &SqlStore,
    journey: &Journey,
    origin: Origin,
) -> Result<PutOutcome> {
    let key = journey.key().as_str();
    if origin == Origin::User && builtin::is_builtin(key) {
        return Err(StoreError::Conflict(format!(
            "journey `{key}` is built in and cannot be replaced; import your version under a new key with \"extends\": \"{key}\""
        )));
    }
    // A region's journey inherits the checks of the standards it does not restate.
    let inherited;
    let journey = match journey.extends() {
        Some(parent) => match crate::Store::journey(store, parent).await? {
            Some(p) => {
                let mut j = journey.clone();
                j.inherit_checks(&p);
                inherited = j;
                &inherited
            }
            None => journey,
        },
        None => journey,
    };
    let document = journey.to_json_pretty();
    let backend = store.backend();
    // Whether the stored journey had another moment list: then what is kept per
    // moment (the survey roll-up cells) is rebuilt once the journey is written.
    let mut moments_changed = false;
    let outcome = on_pool!(store, pool => {
        let mut tx = pool.begin_with(write_begin(&store.pool)).await?;
        if backend == Backend::Postgres {
            // Serialise journey writers so parent/child checks see a stable set.
            sqlx::query("LOCK TABLE journey IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
        }
        let existing: Option<(String,)> =
            sqlx::query_as(SELECT_DOCUMENT)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;

        if let Some(parent_key) = journey.extends() {
            let parent: Option<(String,)> =
                sqlx::query_as(SELECT_DOCUMENT)
                    .bind(parent_key.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((parent_doc,)) = parent else {
                return Err(StoreError::Journey(JourneyError::field(
                    "extends",
                    format!("parent journey `{parent_key}` does not exist; import it first"),
                )));
            };
            let parent = journey_from_doc(parent_key.as_str(), &parent_doc)?;
            journey.check_extends(&parent)?;
            journey.clone().inherit_qfd(&parent)?;
            // Walk up the chain so that no journey ever ends up extending itself.
            let mut cursor = Some(parent_key.to_string());
            while let Some(k) = cursor {
                if k == key {
                    return Err(StoreError::Conflict(format!(
                        "journey `{key}` would extend itself through `{parent_key}`"
                    )));
                }
                let up: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT extends FROM journey WHERE journey_key = $1")
                        .bind(&k)
                        .fetch_optional(&mut *tx)
                        .await?;
                cursor = up.and_then(|(e,)| e);
            }
        }

        let children: Vec<(String, String)> =
            sqlx::query_as("SELECT journey_key, document FROM journey WHERE extends = $1 ORDER BY journey_key")
                .bind(key)
                .fetch_all(&mut *tx)
                .await?;
        for (child_key, child_doc) in &children {
            let mut child = journey_from_doc(child_key, child_doc)?;
            // A standard the parent gains reaches its regions (they read it through
            // `inherit_standards`); one it drops or loosens still breaks them.
            child.inherit_standards(journey);
            child.inherit_checks(journey);
            let broken = |e: &dyn std::fmt::Display| {
                StoreError::Conflict(format!("cannot change `{key}`: journey `{child_key}` extends it and would break: {e}"))
            };
            child.check_extends(journey).map_err(|e| broken(&e))?;
            child.clone().inherit_qfd(journey).map_err(|e| broken(&e))?;
        }

        if let Some((doc,)) = &existing {
            let keys = |j: &Journey| j.moments().iter().map(|m| m.key.clone()).collect::<Vec<_>>();
            moments_changed = journey_from_doc(key, doc).map_or(true, |old| keys(&old) != keys(journey));
        }
        let outcome = match &existing {
            Some((doc,)) if *doc == document => return Ok(PutOutcome::Unchanged),
            Some(_) => PutOutcome::Updated,
            None => PutOutcome::Created,
        };

        sqlx::query(
            "INSERT INTO journey (journey_key, name_zh, name_en, channel, extends, builtin, document, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (journey_key) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en,
               channel = excluded.channel, extends = excluded.extends, builtin = excluded.builtin,
               document = excluded.document, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(&journey.name().zh)
        .bind(&journey.name().en)
        .bind(enum_str(&journey.channel()))
        .bind(journey.extends().map(|k| k.as_str()))
        .bind(origin == Origin::Builtin)
        .bind(&document)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;

        // Standards are rebuilt; moments are upserted so that responses which
        // reference a kept moment stay valid, and removed ones are deleted.
        sqlx::query("DELETE FROM journey_standard WHERE journey_key = $1").bind(key).execute(&mut *tx).await?;
        let old_moments: Vec<(String,)> =
            sqlx::query_as("SELECT moment_key FROM journey_moment WHERE journey_key = $1")
                .bind(key)
                .fetch_all(&mut *tx)
                .await?;
        for (old,) in &old_moments {
            if !journey.moments().iter().any(|m| m.key.as_str() == old) {
                sqlx::query("DELETE FROM journey_moment WHERE journey_key = $1 AND moment_key = $2")
                    .bind(key)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for (position, m) in journey.moments().iter().enumerate() {
            sqlx::query(
                "INSERT INTO journey_moment (journey_key, moment_key, position, stage, importance)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (journey_key, moment_key) DO UPDATE SET position = excluded.position,
                   stage = excluded.stage, importance = excluded.importance",
            )
            .bind(key)
            .bind(m.key.as_str())
            .bind(position as i32)
            .bind(enum_str(&m.stage))
            .bind(m.importance)
            .execute(&mut *tx)
            .await?;
            for s in &m.standards {
                sqlx::query(
                    "INSERT INTO journey_standard (journey_key, moment_key, standard_key, owner,
                       threshold_value, threshold_unit, threshold_bound)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(key)
                .bind(m.key.as_str())
                .bind(s.key.as_str())
                .bind(enum_str(&s.owner))
                .bind(s.threshold.as_ref().map(|t| t.value))
                .bind(s.threshold.as_ref().map(|t| t.unit.symbol()))
                .bind(s.threshold.as_ref().map(|t| enum_str(&t.bound)))
                .execute(&mut *tx)
                .await?;
            }
        }
        bump_generation!(tx);
        tx.commit().await?;
        outcome
    });
    if moments_changed {
        store.rebuild_cells(journey).await?;
    }
    Ok(outcome)
}

pub(super) async fn journey_assignments(store: &SqlStore) -> Result<Assignments> {
    let rows: Vec<(String, String)> = on_pool!(store, pool => {
        sqlx::query_as("SELECT org_id, journey_key FROM org_journey")
            .fetch_all(pool)
            .await?
    });
    assignments_from_rows(rows)
}

pub(super) async fn assign_journey(
    store: &SqlStore,
    node: &OrgNodeId,
    journey: &JourneyKey,
    by: &str,
    at_ms: i64,
) -> Result<Option<JourneyKey>> {
    let backend = store.backend();
    on_pool!(store, pool => {
        let mut tx = pool.begin_with(write_begin(&store.pool)).await?;
        if backend == Backend::Postgres {
            // One assigner at a time, and no journey rewritten meanwhile, so the
            // governance check sees the tree of assignments it writes into.
            sqlx::query("LOCK TABLE org_journey IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            sqlx::query("LOCK TABLE journey IN SHARE MODE").execute(&mut *tx).await?;
        }
        let nodes: Vec<NodeRow> = sqlx::query_as(SELECT_NODES).fetch_all(&mut *tx).await?;
        let tree = OrgTree::build(
            nodes.into_iter().map(node_from_row).collect::<Result<Vec<_>>>()?,
        )
        .map_err(StoreError::Org)?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT org_id, journey_key FROM org_journey")
                .fetch_all(&mut *tx)
                .await?;
        let assignments = assignments_from_rows(rows)?;
        let docs: Vec<(String, String)> =
            sqlx::query_as("SELECT journey_key, document FROM journey")
                .fetch_all(&mut *tx)
                .await?;
        let journeys = docs
            .iter()
            .map(|(k, d)| journey_from_doc(k, d).map(|j| (j.key().clone(), j)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        peakend_core::assignment::check_assignment(
            &tree,
            &assignments,
            &journeys,
            node,
            journey,
        )?;
        let old = assignments.own(node).cloned();
        if old.as_ref() == Some(journey) {
            return Ok(old);
        }
        sqlx::query(
            "INSERT INTO org_journey (org_id, journey_key, assigned_by, assigned_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (org_id) DO UPDATE SET journey_key = excluded.journey_key,
               assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at",
        )
        .bind(node.as_str())
        .bind(journey.as_str())
        .bind(by)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO org_journey_change (org_id, old_journey, new_journey, changed_by, changed_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(node.as_str())
        .bind(old.as_ref().map(JourneyKey::as_str))
        .bind(journey.as_str())
        .bind(by)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        // Analyses of the node now follow another journey.
        bump_generation!(tx);
        tx.commit().await?;
        Ok(old)
    })
}

pub(super) async fn journey_changes(
    store: &SqlStore,
    node: Option<&OrgNodeId>,
) -> Result<Vec<AssignmentChange>> {
    type Row = (String, Option<String>, String, String, i64);
    let rows: Vec<Row> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT org_id, old_journey, new_journey, changed_by, changed_at
             FROM org_journey_change WHERE $1 IS NULL OR org_id = $1 ORDER BY id",
        )
        .bind(node.map(OrgNodeId::as_str))
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(org, old, new, by, at)| {
            let corrupt =
                |what: &str| StoreError::Corrupt(format!("journey assignment of `{org}`: {what}"));
            Ok(AssignmentChange {
                node: OrgNodeId::parse(org.as_str()).map_err(|_| corrupt("node"))?,
                old: old
                    .map(|k| JourneyKey::parse(k.as_str()))
                    .transpose()
                    .map_err(|_| corrupt("old journey"))?,
                new: JourneyKey::parse(new.as_str()).map_err(|_| corrupt("new journey"))?,
                by,
                at,
            })
        })
        .collect()
}

impl From<&Journey> for JourneySummary {
    fn from(j: &Journey) -> Self {
        JourneySummary {
            key: j.key().clone(),
            name: j.name().clone(),
            channel: j.channel(),
            extends: j.extends().cloned(),
            moments: j.moments().len(),
            builtin: builtin::is_builtin(j.key().as_str()),
        }
    }
}
