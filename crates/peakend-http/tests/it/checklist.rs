//! Issue 21: checklists. The printable checklist of a journey for one kind of audit,
//! and the phone page an auditor fills in on a hall's floor: the checklist of the
//! journey that hall lives by, opened only within the user's scope, whose token lets
//! its script send photos and the audit.

use crate::helpers;

use helpers::{Setup, TestApp};
use peakend_core::{Journey, JourneyKey, OrgNodeId, Role};
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn spawn(url: &str) -> TestApp {
    // `strict-hall` extends the built-in journey with one more standard, checked on the
    // manager's walk; hall h1 lives by it, h2 by the built-in one.
    let mut doc: Value =
        serde_json::from_str(&builtin().to_json_pretty()).expect("the export is JSON");
    doc["key"] = json!("strict-hall");
    doc["extends"] = json!("service-hall");
    let enter = doc["moments"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["key"] == "enter")
        .unwrap();
    enter["standards"].as_array_mut().unwrap().push(json!({
        "key": "door_smile",
        "text": {"zh": "进门三秒内微笑问候", "en": "A smile and a greeting within 3 s of the door"},
        "owner": "floor_walker",
        "check": {"verify": "duration_max 3", "by": ["walk"], "every": "day"}
    }));
    let strict = Journey::from_json(&doc.to_string()).unwrap();
    let app = TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
            users: vec![
                ("admin", Role::Admin, "p"),
                ("mgr", Role::HallManager, "h1"),
                ("other", Role::HallManager, "h2"),
                ("shopper", Role::Auditor, "c"),
            ],
            journeys: vec![strict],
            ..Setup::default()
        },
    )
    .await;
    app.store
        .assign_journey(
            &OrgNodeId::parse("h1").unwrap(),
            &JourneyKey::parse("strict-hall").unwrap(),
            "test",
            0,
        )
        .await
        .unwrap();
    app
}

fn builtin() -> Journey {
    peakend_core::builtin::journeys()
        .unwrap()
        .into_iter()
        .find(|j| j.key().as_str() == "service-hall")
        .unwrap()
}

async fn page(c: &reqwest::Client, url: String) -> (StatusCode, String) {
    let resp = c.get(&url).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The value of `data-{name}="…"` in a page.
fn data(page: &str, name: &str) -> String {
    let key = format!("data-{name}=\"");
    let at = page.find(&key).unwrap_or_else(|| panic!("no data-{name}")) + key.len();
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

peakend_testkit::on_both_backends!(the_printable_checklist_lists_a_kind_s_standards, |url| {
    let app = spawn(url).await;
    let mgr = app.user("mgr").await;
    let (status, mystery) = page(
        &mgr,
        app.url("/journeys/service-hall/checklist?kind=mystery"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{mystery}");
    assert!(mystery.contains("vip_water"), "mystery lists vip_water");
    assert!(mystery.contains("神秘顾客检查表"));
    assert!(mystery.contains("<html lang=\"zh-CN\">"));
    assert!(mystery.contains("检查人") && mystery.contains("检查日期"));
    // `online_map` is for inspections only.
    assert!(!mystery.contains("online_map"));
    let (_, walk) = page(&mgr, app.url("/journeys/service-hall/checklist")).await;
    assert!(walk.contains("厅经理走动巡查检查表"), "walk by default");
    assert!(walk.contains("care_after") && walk.contains("记录秒数（不超过 300 秒）"));
    let (status, _) = page(&mgr, app.url("/journeys/service-hall/checklist?kind=boss")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = page(&mgr, app.url("/journeys/nope/checklist?kind=walk")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A mystery shopper reads results nowhere, but its checklist it may.
    let shopper = app.user("shopper").await;
    let (status, _) = page(
        &shopper,
        app.url("/journeys/service-hall/checklist?kind=mystery"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Anonymous: to the sign-in.
    let (status, _) = page(
        &helpers::browser(),
        app.url("/journeys/service-hall/checklist"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
});

peakend_testkit::on_both_backends!(the_audit_page_is_the_hall_s_own_and_sends_an_audit, |url| {
    let app = spawn(url).await;
    let (browser, _) = app.sign_in("mgr").await;
    let (status, h1) = page(&browser, app.url("/halls/h1/audit")).await;
    assert_eq!(status, StatusCode::OK, "{h1}");
    assert!(h1.contains("name=\"viewport\""));
    assert_eq!(data(&h1, "kind"), "walk", "a manager walks by default");
    assert_eq!(data(&h1, "hall"), "h1");
    assert!(h1.contains("data-standard=\"care_after\""));
    assert!(
        h1.contains("data-standard=\"door_smile\""),
        "h1's own journey"
    );
    assert!(h1.contains("type=\"file\" accept=\"image/*\" capture"));
    assert!(h1.contains("value=\"yes\"") && h1.contains("inputmode=\"decimal\""));
    assert!(
        !h1.contains("data-standard=\"online_map\""),
        "inspection only"
    );
    let (status, mystery) = page(&browser, app.url("/halls/h1/audit?kind=mystery")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data(&mystery, "kind"), "mystery");
    assert!(mystery.contains("data-standard=\"vip_water\""));
    assert!(!mystery.contains("door_smile"), "walk only");

    // Another hall's manager may not open it; a hall that does not exist is not found.
    let other = app.user("other").await;
    let (status, _) = page(&other, app.url("/halls/h1/audit")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, h2) = page(&other, app.url("/halls/h2/audit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !h2.contains("door_smile"),
        "h2 lives by the built-in journey"
    );
    let (status, _) = page(&other, app.url("/halls/nowhere/audit")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page(&browser, app.url("/halls/h1/audit?kind=boss")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // An auditor opens the mystery checklist by default.
    let shopper = app.user("shopper").await;
    let (status, s) = page(&shopper, app.url("/halls/h1/audit")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data(&s, "kind"), "mystery");

    // What the page's script does, with the token the page carries: a photo, then the
    // audit with the items answered.
    let csrf = data(&h1, "csrf");
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
    ];
    let resp = browser
        .post(app.url("/api/v1/audits/photos"))
        .header("content-type", "image/png")
        .header("x-csrf-token", &csrf)
        .body(png.to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let photo: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    let at = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    let body = json!({
        "hall": data(&h1, "hall"),
        "kind": data(&h1, "kind"),
        "at": at,
        "items": [
            {"standard": "care_after", "result": "240", "note": "二号柜台", "photo": photo["id"]},
            {"standard": "door_smile", "result": "2"},
            {"standard": "clean_radius", "result": "no"}
        ]
    });
    let resp = browser
        .post(app.url("/api/v1/audits"))
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let out: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{out}");
    assert!(out["id"].is_i64(), "{out}");
    // Without the token the same post is refused, with the message the page shows.
    let resp = browser
        .post(app.url("/api/v1/audits"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"]["message"].as_str().unwrap().contains("CSRF"));
});
