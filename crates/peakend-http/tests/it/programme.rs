//! Issue 22's survey-programme reports over HTTP, on each backend: the rates and the
//! waits of the caller's node (its default), a bad or reversed date named as a 400, a
//! node outside the caller's scope refused. The numbers themselves are the store's
//! story (`peakend-store/tests/rates.rs`).

use crate::helpers;

use helpers::{FetchJson, Setup, TestApp};
use peakend_core::Role;
use reqwest::StatusCode;

peakend_testkit::on_both_backends!(rates_and_waits_answer_in_scope_and_name_bad_dates, |url| {
    let app = TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
            users: vec![
                ("admin", Role::Admin, "p"),
                ("mgr", Role::HallManager, "h1"),
            ],
            ..Setup::default()
        },
    )
    .await;
    let mgr = app.user("mgr").await;
    let rates = mgr
        .get(app.url("/api/v1/survey/rates?from=2026-08-01&to=2026-08-07"))
        .fetch_json()
        .await;
    assert_eq!(rates["from"], "2026-08-01");
    assert_eq!(rates["total"]["invited"], 0);
    assert_eq!(rates["total"]["rate"], serde_json::Value::Null);
    assert_eq!(rates["non_response"]["visits"], 0);
    let waits = mgr
        .get(app.url("/api/v1/survey/waits?org=h1&from=2026-08-01&to=2026-08-07"))
        .fetch_json()
        .await;
    assert_eq!(waits["bins"].as_array().unwrap().len(), 6);
    assert_eq!(waits["tolerance"]["source"], "study");
    assert_eq!(waits["tolerance"]["reference_min"], 16.0);
    // Without dates: the 30 days up to today.
    let recent = mgr.get(app.url("/api/v1/survey/rates")).fetch_json().await;
    let (from, to) = (
        chrono::NaiveDate::parse_from_str(recent["from"].as_str().unwrap(), "%Y-%m-%d").unwrap(),
        chrono::NaiveDate::parse_from_str(recent["to"].as_str().unwrap(), "%Y-%m-%d").unwrap(),
    );
    assert_eq!((to - from).num_days(), 29);
    for (query, field) in [
        ("from=2026-13-01", "from"),
        ("from=2026-08-09&to=2026-08-07", "from"),
        ("to=yesterday", "to"),
    ] {
        let resp = mgr
            .get(app.url(&format!("/api/v1/survey/waits?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(field), "{query}: {body}");
    }
    let resp = mgr
        .get(app.url("/api/v1/survey/rates?org=h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = mgr
        .get(app.url("/api/v1/survey/rates?org=nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
});
