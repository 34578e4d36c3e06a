//! The storage stories on both backends, one test binary (one link instead of one per file).

mod audits;
mod calls;
mod cases;
mod comments;
mod customers;
mod distribution;
mod invitations;
mod live;
mod monitoring;
mod packed_answers;
mod partitions;
mod queue;
mod rates;
mod rollup_detail;
mod sales;
mod stories;

/// The built-in journeys and an organisation of `halls` (id, name) under one province,
/// city and district (`peakend_testkit::small_org`): the set-up most stories share.
async fn with_small_org(store: &peakend_store::SqlStore, halls: &[(&str, &str)]) {
    use peakend_store::Store;
    store.load_builtin_journeys().await.unwrap();
    store
        .import_org(peakend_testkit::small_org(halls))
        .await
        .unwrap();
}
