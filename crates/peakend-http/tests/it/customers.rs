//! Issue 22: `GET /api/v1/customers` over HTTP: a hall's visits of known customers
//! ingested, the director of the province reads the aggregates (no key in the answer),
//! front-line staff of the hall are refused, a bad window is a 400 naming the field.

use crate::helpers;

use helpers::{Setup, TestApp};
use peakend_core::customer::customer_key;
use peakend_core::ops::event::Event;
use peakend_core::{HallId, Role};
use peakend_store::Store;
use reqwest::StatusCode;

peakend_testkit::on_both_backends!(directors_read_the_customer_report_staff_do_not, |url| {
    let app = TestApp::spawn_with(
        url,
        Setup {
            users: vec![
                ("boss", Role::Director, "p"),
                ("mgr", Role::HallManager, "h1"),
                ("staff", Role::Frontline, "h1"),
            ],
            ..Setup::default()
        },
    )
    .await;
    let key = customer_key("salt", "13800000001");
    let lines = [
        r#""type":"counter_opened","counter":"c1""#.to_owned(),
        format!(r#""type":"ticket_issued","ticket":"A1","service":"bill","customer":"{key}""#),
        r#""type":"called","ticket":"A1","counter":"c1","staff":"S01""#.to_owned(),
        r#""type":"service_started","ticket":"A1","counter":"c1""#.to_owned(),
        r#""type":"service_ended","ticket":"A1","counter":"c1","outcome":"unresolved""#.to_owned(),
        format!(r#""type":"ticket_issued","ticket":"A2","service":"bill","customer":"{key}""#),
        r#""type":"called","ticket":"A2","counter":"c1","staff":"S01""#.to_owned(),
        r#""type":"service_started","ticket":"A2","counter":"c1""#.to_owned(),
        r#""type":"service_ended","ticket":"A2","counter":"c1","outcome":"done""#.to_owned(),
    ];
    let batch = lines
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let line = format!(
                r#"{{"id":"e{i}","hall":"h1","at":"2026-08-07T09:{:02}:00+08:00",{f}}}"#,
                i * 2
            );
            (i + 1, Event::from_json(&line).unwrap(), line)
        })
        .collect();
    let h1 = HallId::parse("h1").unwrap();
    app.store
        .ingest_events(&h1, batch, Vec::new())
        .await
        .unwrap();

    let path = "/api/v1/customers?org=p&from=2026-08-01&to=2026-08-31";
    let boss = app.user("boss").await;
    let resp = boss.get(app.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(&key), "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["contacts"], 2);
    assert_eq!(r["customers"], 1);
    assert_eq!(r["repeats"], 1);
    assert_eq!(r["failure_demand"][0]["from"], "hall");
    assert_eq!(r["failure_demand"][0]["to"], "hall");
    assert_eq!(r["failure_demand"][0]["count"], 1);

    let mgr = app.user("mgr").await;
    let resp = mgr
        .get(app.url("/api/v1/customers?org=h1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let staff = app.user("staff").await;
    let resp = staff
        .get(app.url("/api/v1/customers?org=h1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = boss
        .get(app.url("/api/v1/customers?org=p&window_days=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("window_days"));
});
