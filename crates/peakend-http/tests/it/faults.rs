//! Issue 19, under faults: a storage failure is the server's, never the client's. The
//! batch is answered 503 with `Retry-After`, nothing of it is applied, the body names a
//! request id and no internal text, and the same batch sent again is applied once.

use crate::helpers;

use helpers::TestApp;
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::Value;

const FAULT: &str = "injected fault: the disk is on fire";

async fn inject(url: &str) {
    if url.starts_with("postgres") {
        peakend_testkit::execute(
            url,
            &format!(
                "CREATE FUNCTION peakend_test_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{FAULT}'; END $$ LANGUAGE plpgsql"
            ),
        )
        .await;
        peakend_testkit::execute(
            url,
            "CREATE TRIGGER peakend_test_fail BEFORE INSERT ON visit_event FOR EACH STATEMENT EXECUTE FUNCTION peakend_test_fail()",
        )
        .await;
    } else {
        peakend_testkit::execute(
            url,
            &format!(
                "CREATE TRIGGER peakend_test_fail BEFORE INSERT ON visit_event BEGIN SELECT RAISE(ABORT, '{FAULT}'); END"
            ),
        )
        .await;
    }
}

async fn repair(url: &str) {
    let sql = if url.starts_with("postgres") {
        "DROP TRIGGER peakend_test_fail ON visit_event"
    } else {
        "DROP TRIGGER peakend_test_fail"
    };
    peakend_testkit::execute(url, sql).await;
}

peakend_testkit::on_both_backends!(a_storage_fault_is_a_retryable_503, |url| {
    let app = TestApp::spawn(url).await;
    let (device, _) = app.device("h1").await;
    let hall = peakend_core::HallId::parse("h1").unwrap();
    let store = &app.store;
    let batch = (1..=3)
        .map(|i| {
            format!(
                r#"{{"id":"e{i}","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:0{i}:00+08:00","ticket":"A{i}","service":"payment"}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let post = || {
        device
            .post(app.url("/api/v1/events"))
            .body(batch.clone())
            .send()
    };

    inject(url).await;
    let resp = post().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], 503);
    assert_eq!(body["error"]["request_id"], request_id.as_str());
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&request_id), "{message}");
    assert!(
        !message.contains("fire") && !message.contains("visit_event"),
        "internal text leaked: {message}"
    );
    // Nothing of the batch was applied.
    let stored = store.hall_events(&hall, 0, i64::MAX).await.unwrap();
    assert!(stored.is_empty(), "{stored:?}");

    // The storage is back: the same batch is applied, once.
    repair(url).await;
    let out: Value = post().await.unwrap().json().await.unwrap();
    assert_eq!(out["accepted"], 3, "{out}");
    assert_eq!(out["duplicates"], 0, "{out}");
    let again: Value = post().await.unwrap().json().await.unwrap();
    assert_eq!(again["accepted"], 0, "{again}");
    assert_eq!(again["duplicates"], 3, "{again}");
    assert_eq!(
        store.hall_events(&hall, 0, i64::MAX).await.unwrap().len(),
        3
    );
});
