//! The organisation (province → city → district → hall) and the provinces' holidays.

use super::*;

pub(super) async fn org_nodes(store: &SqlStore) -> Result<Vec<OrgNode>> {
    let rows: Vec<NodeRow> =
        on_pool!(store, pool => sqlx::query_as(SELECT_NODES).fetch_all(pool).await?);
    rows.into_iter().map(node_from_row).collect()
}

pub(super) async fn org_tree(store: &SqlStore) -> Result<OrgTree> {
    // The generation is read first: an import committing in between leaves a newer
    // tree under an older generation, which the next call replaces.
    let generation = store.data_generation().await?;
    if let Some((g, tree)) = &mut *store.org.lock().expect("org cache lock")
        && store.analyses.only_imports_between(*g, generation)
    {
        // Survey imports alone (a form's answer) leave the tree as it was.
        *g = generation;
        return Ok(tree.clone());
    }
    let tree = OrgTree::build(store.org_nodes().await?).map_err(StoreError::Org)?;
    *store.org.lock().expect("org cache lock") = Some((generation, tree.clone()));
    Ok(tree)
}

pub(super) async fn import_org(store: &SqlStore, nodes: Vec<OrgNode>) -> Result<OrgImportSummary> {
    let backend = store.backend();
    on_pool!(store, pool => {
        let mut tx = pool.begin_with(write_begin(&store.pool)).await?;
        if backend == Backend::Postgres {
            sqlx::query("LOCK TABLE org_node IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
        }
        let rows: Vec<NodeRow> = sqlx::query_as(SELECT_NODES).fetch_all(&mut *tx).await?;
        let existing = rows.into_iter().map(node_from_row).collect::<Result<Vec<_>>>()?;
        let known: HashSet<OrgNodeId> = existing.iter().map(|n| n.id.clone()).collect();
        let first_position = existing.len() as i32;
        OrgTree::merge(existing, nodes.clone()).map_err(StoreError::Org)?;

        let mut summary = OrgImportSummary { total: nodes.len(), ..Default::default() };
        // New nodes go after the stored ones; an update keeps its place.
        for (position, n) in (first_position..).zip(&nodes) {
            if known.contains(&n.id) {
                summary.updated += 1;
            } else {
                summary.created += 1;
            }
            sqlx::query(
                "INSERT INTO org_node (id, parent_id, level, name, counters, kiosks, position, tz,
                   nps_target, index_target, part_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, level = excluded.level,
                   name = excluded.name, counters = excluded.counters, kiosks = excluded.kiosks,
                   tz = excluded.tz, nps_target = excluded.nps_target,
                   index_target = excluded.index_target, part_hash = excluded.part_hash",
            )
            .bind(n.id.as_str())
            .bind(n.parent.as_ref().map(|p| p.as_str()))
            .bind(n.level.as_str())
            .bind(&n.name)
            .bind(n.counters as i32)
            .bind(n.kiosks as i32)
            .bind(position)
            .bind(n.tz.map(|z| z.name()))
            .bind(n.targets.nps)
            .bind(n.targets.index)
            .bind(crate::cluster::part_hash(n.id.as_str()))
            .execute(&mut *tx)
            .await?;
        }
        bump_generation!(tx);
        tx.commit().await?;
        Ok(summary)
    })
}

pub(super) async fn import_holidays(store: &SqlStore, holidays: &[Holiday]) -> Result<usize> {
    on_pool!(store, pool => {
        let mut tx = pool.begin_with(write_begin(&store.pool)).await?;
        for h in holidays {
            sqlx::query(
                "INSERT INTO holiday (province_id, day, name) VALUES ($1, $2, $3)
                 ON CONFLICT (province_id, day) DO UPDATE SET name = excluded.name",
            )
            .bind(h.province.as_str())
            .bind(h.date.to_string())
            .bind(&h.name)
            .execute(&mut *tx)
            .await?;
        }
        // Working days changed: rules cached for the ingest must be read again.
        bump_generation!(tx);
        tx.commit().await?;
    });
    Ok(holidays.len())
}

pub(super) async fn holidays(store: &SqlStore) -> Result<Vec<Holiday>> {
    let rows: Vec<(String, String, String)> = on_pool!(store, pool => {
        sqlx::query_as("SELECT province_id, day, name FROM holiday ORDER BY province_id, day")
            .fetch_all(pool)
            .await?
    });
    rows.into_iter()
        .map(|(province, day, name)| {
            let corrupt =
                |what: &str| StoreError::Corrupt(format!("holiday {province} {day}: {what}"));
            Ok(Holiday {
                province: OrgNodeId::parse(province.as_str()).map_err(|_| corrupt("province"))?,
                date: day.parse().map_err(|_| corrupt("date"))?,
                name,
            })
        })
        .collect()
}
