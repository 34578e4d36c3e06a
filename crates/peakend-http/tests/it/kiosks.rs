//! Issue 18: the kiosk repair rule (2 working days) across days. A fault outlives its
//! day: restored on Monday it is simply restored; never restored, `kiosk_overdue` comes
//! due on Tuesday at the fault's hour, on the live clock though the hall sends nothing
//! that day, or on Wednesday when Monday is a holiday of the hall's province.

use crate::helpers;

use chrono::NaiveDate;
use helpers::{FetchJson, Setup, TestApp};
use peakend_core::ops::holiday::Holiday;
use peakend_core::{OrgLevel, OrgNode, OrgNodeId};
use peakend_store::Store;
use serde_json::Value;

fn node(id: &str, parent: Option<&str>, level: OrgLevel) -> OrgNode {
    peakend_testkit::org_node(id, parent, level, 4, 3)
}

/// Halls h1, h2 in province p; h3 in province q, whose Monday 2026-08-10 is a holiday.
async fn spawn(url: &str) -> TestApp {
    let mut org = peakend_testkit::small_org(&[("h1", "一厅"), ("h2", "二厅")]);
    org.extend([
        node("q", None, OrgLevel::Province),
        node("q-h3", Some("q"), OrgLevel::Hall),
    ]);
    let app = TestApp::spawn_with(
        url,
        Setup {
            org,
            ..Setup::default()
        },
    )
    .await;
    app.store
        .import_holidays(&[Holiday {
            province: OrgNodeId::parse("q").unwrap(),
            date: NaiveDate::from_ymd_opt(2026, 8, 10).unwrap(),
            name: "节日".into(),
        }])
        .await
        .unwrap();
    app
}

fn fault(id: &str, hall: &str, at: &str, kiosk: &str) -> String {
    format!(
        r#"{{"id":"{id}","hall":"{hall}","type":"kiosk_fault","at":"{at}","kiosk":"{kiosk}","fault":"卡纸"}}"#
    )
}

fn restored(id: &str, hall: &str, at: &str, kiosk: &str) -> String {
    format!(
        r#"{{"id":"{id}","hall":"{hall}","type":"kiosk_restored","at":"{at}","kiosk":"{kiosk}"}}"#
    )
}

async fn post(app: &TestApp, device: &reqwest::Client, lines: &[String]) -> Value {
    device
        .post(app.url("/api/v1/events"))
        .body(lines.join("\n"))
        .fetch_json()
        .await
}

/// The hall's kiosk alerts at `at` (+08:00): (kiosk, raised at, cleared?).
async fn kiosk_alerts(
    app: &TestApp,
    device: &reqwest::Client,
    hall: &str,
    at: &str,
    state: &str,
) -> Vec<(String, String, bool)> {
    let alerts: Value = device
        .get(app.url(&format!(
            "/api/v1/halls/{hall}/alerts?state={state}&at={}",
            at.replace('+', "%2B")
        )))
        .fetch_json()
        .await;
    alerts
        .as_array()
        .unwrap_or_else(|| panic!("{alerts}"))
        .iter()
        .filter(|a| a["kind"] == "kiosk_overdue")
        .map(|a| {
            let raised = chrono::DateTime::from_timestamp_millis(a["raised_at"].as_i64().unwrap())
                .unwrap()
                .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
                .to_rfc3339();
            (
                a["kiosk"].as_str().unwrap().to_owned(),
                raised,
                !a["cleared_at"].is_null(),
            )
        })
        .collect()
}

peakend_testkit::on_both_backends!(a_kiosk_fault_outlives_its_day, |url| {
    let app = spawn(url).await;

    // h1: a Friday fault restored on Monday, each in its own batch (its own file, its
    // own day): nothing quarantined, no alert.
    let (d1, _) = app.device("h1").await;
    let out = post(
        &app,
        &d1,
        &[fault("f1", "h1", "2026-08-07T10:00:00+08:00", "k1")],
    )
    .await;
    assert_eq!(out["accepted"], 1, "{out}");
    let kiosks: Value = d1
        .get(app.url("/api/v1/halls/h1/kiosks?at=2026-08-10T08:00:00%2B08:00"))
        .fetch_json()
        .await;
    assert_eq!(kiosks["kiosks"], 2);
    let open = &kiosks["open_faults"][0];
    assert_eq!(open["kiosk"], "k1", "{kiosks}");
    assert_eq!(open["fault"], "卡纸");
    assert_eq!(open["overdue"], false);
    let deadline = chrono::DateTime::parse_from_rfc3339("2026-08-11T10:00:00+08:00").unwrap();
    assert_eq!(open["deadline"], deadline.timestamp_millis());
    let out = post(
        &app,
        &d1,
        &[restored("r1", "h1", "2026-08-10T09:00:00+08:00", "k1")],
    )
    .await;
    assert_eq!(out["accepted"], 1, "{out}");
    assert_eq!(out["rejected"], serde_json::json!([]), "{out}");
    for at in ["2026-08-10T12:00:00+08:00", "2026-08-11T10:05:00+08:00"] {
        assert!(
            kiosk_alerts(&app, &d1, "h1", at, "all").await.is_empty(),
            "{at}"
        );
    }
    // Restored twice, or restored without a fault in the last 90 days: quarantined with
    // the reason, the rest of the batch applied.
    let out = post(
        &app,
        &d1,
        &[
            restored("r2", "h1", "2026-08-10T09:30:00+08:00", "k1"),
            restored("r3", "h1", "2026-08-10T09:31:00+08:00", "k2"),
            fault("f2", "h1", "2026-08-10T09:40:00+08:00", "k3"),
        ],
    )
    .await;
    assert_eq!(out["accepted"], 1, "{out}");
    let reasons: Vec<&str> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "kiosk_restored: kiosk `k1` was already restored at 2026-08-10T09:00:00+08:00",
            "kiosk_restored: kiosk `k2` has no fault in the last 90 days",
        ]
    );

    // h2: a Friday fault never restored. Nothing on Monday; on Tuesday at the fault's
    // hour the alert comes due, though the hall sends nothing that day.
    let (d2, _) = app.device("h2").await;
    post(
        &app,
        &d2,
        &[fault("f1", "h2", "2026-08-07T10:00:00+08:00", "k1")],
    )
    .await;
    assert!(
        kiosk_alerts(&app, &d2, "h2", "2026-08-10T18:00:00+08:00", "open")
            .await
            .is_empty()
    );
    assert!(
        kiosk_alerts(&app, &d2, "h2", "2026-08-11T09:59:00+08:00", "open")
            .await
            .is_empty()
    );
    assert_eq!(
        kiosk_alerts(&app, &d2, "h2", "2026-08-11T10:05:00+08:00", "open").await,
        [(
            "k1".to_owned(),
            "2026-08-11T10:00:00+08:00".to_owned(),
            false
        )]
    );
    let kiosks: Value = d2
        .get(app.url("/api/v1/halls/h2/kiosks?at=2026-08-11T10:05:00%2B08:00"))
        .fetch_json()
        .await;
    assert_eq!(kiosks["open_faults"][0]["overdue"], true, "{kiosks}");
    // Still open (and overdue) on Wednesday; restoring it clears the alert.
    assert_eq!(
        kiosk_alerts(&app, &d2, "h2", "2026-08-12T08:00:00+08:00", "open")
            .await
            .len(),
        1
    );
    post(
        &app,
        &d2,
        &[restored("r1", "h2", "2026-08-12T09:00:00+08:00", "k1")],
    )
    .await;
    assert!(
        kiosk_alerts(&app, &d2, "h2", "2026-08-12T10:00:00+08:00", "open")
            .await
            .is_empty()
    );
    assert_eq!(
        kiosk_alerts(&app, &d2, "h2", "2026-08-12T10:00:00+08:00", "all").await,
        [(
            "k1".to_owned(),
            "2026-08-11T10:00:00+08:00".to_owned(),
            true
        )]
    );

    // q-h3: Monday is a holiday of its province, so the two working days end Wednesday.
    let (d3, _) = app.device("q-h3").await;
    post(
        &app,
        &d3,
        &[fault("f1", "q-h3", "2026-08-07T10:00:00+08:00", "k1")],
    )
    .await;
    assert!(
        kiosk_alerts(&app, &d3, "q-h3", "2026-08-11T18:00:00+08:00", "open")
            .await
            .is_empty()
    );
    assert_eq!(
        kiosk_alerts(&app, &d3, "q-h3", "2026-08-12T10:01:00+08:00", "open").await,
        [(
            "k1".to_owned(),
            "2026-08-12T10:00:00+08:00".to_owned(),
            false
        )]
    );
});
