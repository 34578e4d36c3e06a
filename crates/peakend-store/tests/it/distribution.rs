//! Issue 24: the schema's readiness to be distributed with Citus by hall, checked on
//! PostgreSQL's catalogue (no Citus cluster runs here): every table is classified in
//! docs/architecture.md § Distributing with Citus, and every table classed as
//! distributed by `hall_id` has that column in its primary key and in every unique
//! index (Citus's rule for a distributed table's constraints).

use std::collections::{BTreeMap, BTreeSet};

/// Distributed by `hall_id` as the schema stands.
const BY_HALL: &[&str] = &[
    "alert",
    "case_month",
    "check_closed",
    "check_day",
    "check_month",
    "event_day",
    "kiosk_fault",
    "ops_rollup",
    "response_need",
    "response_rating",
    "survey_rollup",
    "survey_rollup_purpose",
    "visit_event",
];

/// Carry `hall_id` but a key that does not lead with it yet: distributed once their
/// keys are `(hall_id, id)` (the change the docs list for each).
const BY_HALL_AFTER_KEY_CHANGE: &[&str] = &[
    "audit",
    "customer_contact",
    "event_quarantine",
    "exam",
    "invitation",
    "invite_pending",
    "plan_action",
    "plan_drill",
    "plan_stocktake",
    "service_case",
    "survey_response",
];

/// Rows of a distributed parent, co-located once they carry the parent's `hall_id`.
const CHILDREN: &[&str] = &["audit_item", "case_event", "invite_outbox"];

/// Small, read everywhere, written rarely: replicated to every node.
const REFERENCE: &[&str] = &[
    "answer_layout",
    "app_user",
    "audit_photo",
    "device_token",
    "holiday",
    "importance_estimate",
    "invite_optout",
    "invite_rule",
    "journey",
    "journey_moment",
    "journey_standard",
    "org_journey",
    "org_journey_change",
    "org_node",
    "strategy",
    "webhook",
    "webhook_delivery",
];

/// The coordinator's own: sessions, sign-in throttling, one-off tasks, the data
/// generation, migrations.
const LOCAL: &[&str] = &[
    "_sqlx_migrations",
    "data_generation",
    "sign_in",
    "store_task",
    "user_session",
];

#[tokio::test]
async fn every_table_is_classified_and_the_distributed_ones_key_by_hall() {
    if peakend_testkit::postgres_skipped() {
        return;
    }
    let db = peakend_testkit::postgres().await;
    peakend_store::connect(&db.url).await.unwrap();
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let have: BTreeSet<String> = tables.into_iter().map(|(t,)| t).collect();
    let classified: BTreeSet<String> = [
        BY_HALL,
        BY_HALL_AFTER_KEY_CHANGE,
        CHILDREN,
        REFERENCE,
        LOCAL,
    ]
    .concat()
    .iter()
    .map(|t| t.to_string())
    .collect();
    let unclassified: Vec<&String> = have.difference(&classified).collect();
    assert!(
        unclassified.is_empty(),
        "tables not classified for distribution (add them here and to docs/architecture.md): {unclassified:?}"
    );
    let gone: Vec<&String> = classified.difference(&have).collect();
    assert!(
        gone.is_empty(),
        "classified tables that no longer exist: {gone:?}"
    );

    // Each unique index (primary keys included) with its columns.
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, a.attname::text
         FROM pg_index x
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (x.indkey)
         WHERE n.nspname = 'public' AND x.indisunique",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut unique: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (table, index, column) in rows {
        unique.entry((table, index)).or_default().insert(column);
    }
    let mut wrong = Vec::new();
    for ((table, index), columns) in &unique {
        if BY_HALL.contains(&table.as_str()) && !columns.contains("hall_id") {
            wrong.push(format!("{table}.{index} {columns:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "unique indexes without hall_id on distributed tables: {wrong:?}"
    );
    // And the ones waiting for a key change still carry the column to distribute by.
    for table in BY_HALL.iter().chain(BY_HALL_AFTER_KEY_CHANGE) {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1 AND column_name = 'hall_id'",
        )
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(n, 1, "{table} has no hall_id");
    }
}
