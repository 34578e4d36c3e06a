//! A day roll-up keeps its breakdown in a column of its own (migration 0039), on both
//! backends: an overview's read leaves it out, a KPI report's reads it back whole, and a
//! roll-up stored before the split is split by the migration and reads the same.

use chrono::NaiveDate;
use peakend_core::HallId;
use peakend_store::{RollupRead, SqlStore, Store, connect};

const DAY: &[&str] = &[
    r#"{"id":"1","hall":"h1","type":"counter_opened","at":"2026-08-07T08:55:00+08:00","counter":"c1"}"#,
    r#"{"id":"2","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A1","service":"payment"}"#,
    r#"{"id":"3","hall":"h1","type":"called","at":"2026-08-07T09:05:00+08:00","ticket":"A1","counter":"c1","staff":"s1"}"#,
    r#"{"id":"3b","hall":"h1","type":"service_started","at":"2026-08-07T09:05:00+08:00","ticket":"A1","counter":"c1"}"#,
    r#"{"id":"4","hall":"h1","type":"service_ended","at":"2026-08-07T09:10:00+08:00","ticket":"A1","counter":"c1","outcome":"done"}"#,
    r#"{"id":"5","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:20:00+08:00","ticket":"A2","service":"payment"}"#,
];

async fn read(store: &SqlStore, how: RollupRead) -> peakend_core::ops::rollup::DayRollup {
    let day: NaiveDate = "2026-08-07".parse().unwrap();
    let mut rows = store.ops_rollups(None, day, day, how).await.unwrap();
    assert_eq!(rows.len(), 1);
    rows.remove(0).2.expect("a roll-up, not a replay mark")
}

peakend_testkit::on_both_backends!(the_breakdown_is_read_only_when_asked_for, |url| {
    let store = connect(url).await.unwrap();
    crate::with_small_org(&store, &[("h1", "一号厅")]).await;
    let out = store
        .ingest_events(
            &HallId::parse("h1").unwrap(),
            peakend_testkit::event_batch(DAY),
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    let whole = read(&store, RollupRead::WithDetail).await;
    let detail = whole
        .detail
        .clone()
        .expect("the ingest keeps the breakdown");
    assert_eq!(detail.counters.len(), 1, "{detail:?}");
    let summary = read(&store, RollupRead::Summary).await;
    assert!(summary.detail.is_none());
    assert_eq!(
        peakend_core::ops::rollup::DayRollup {
            detail: Some(detail),
            ..summary
        },
        whole
    );
    assert_eq!(
        peakend_testkit::fetch_i64(
            url,
            "SELECT COUNT(*) FROM ops_rollup WHERE detail IS NOT NULL AND rollup NOT LIKE '%\"detail\"%'"
        )
        .await,
        1
    );

    // As stored before the split: the breakdown inside the roll-up, no column. It still
    // reads whole, and the migration's update splits it.
    let old = serde_json::to_string(&whole).unwrap();
    assert!(old.contains("\"detail\""));
    peakend_testkit::execute(
        url,
        &format!(
            "UPDATE ops_rollup SET rollup = '{}', detail = NULL",
            old.replace('\'', "''")
        ),
    )
    .await;
    assert_eq!(read(&store, RollupRead::WithDetail).await, whole);
    let migration = if url.starts_with("postgres") {
        include_str!("../../migrations/postgres/0039_rollup_detail_apart.sql")
    } else {
        include_str!("../../migrations/sqlite/0039_rollup_detail_apart.sql")
    };
    let update = &migration[migration.find("UPDATE").unwrap()..];
    peakend_testkit::execute(url, update).await;
    assert_eq!(
        peakend_testkit::fetch_i64(
            url,
            "SELECT COUNT(*) FROM ops_rollup WHERE detail IS NOT NULL AND rollup NOT LIKE '%\"detail\"%'"
        )
        .await,
        1
    );
    assert_eq!(read(&store, RollupRead::WithDetail).await, whole);
    assert!(read(&store, RollupRead::Summary).await.detail.is_none());
});
