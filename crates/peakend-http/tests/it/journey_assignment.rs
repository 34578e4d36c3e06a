//! Issue 18: each hall lives by its region's journey. A province assigns a journey that
//! tightens care to 10 minutes and adds a moment; its halls' live rules, survey form,
//! poster and analysis follow it at once, and a city below cannot undo it.

use crate::helpers;

use helpers::{FetchJson, Setup, TestApp};
use peakend_core::{Journey, Role};
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Extends `service-hall`: care after 10 min (not 15) and `book_online` (线上预约取号) added.
const DONGJIANG: &str = include_str!("../../../../examples/journeys/dongjiang-hall.json");

async fn spawn(url: &str) -> TestApp {
    TestApp::spawn_with(
        url,
        Setup {
            journeys: vec![Journey::from_json(DONGJIANG).unwrap()],
            users: vec![
                ("admin", Role::Admin, "p"),
                ("boss", Role::Director, "p"),
                ("citymgr", Role::RegionalManager, "c"),
                ("citydir", Role::Director, "c"),
            ],
            ..Setup::default()
        },
    )
    .await
}

async fn assign(c: &reqwest::Client, base: &str, node: &str, journey: &str) -> (StatusCode, Value) {
    let resp = c
        .put(format!("{base}/api/v1/org/{node}/journey"))
        .json(&json!({ "journey": journey }))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

async fn get_json(c: &reqwest::Client, url: String) -> Value {
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    resp.json().await.unwrap()
}

/// Open care alerts of h1 at `hm` on 2026-08-07 (+08:00).
async fn care_alerts(device: &reqwest::Client, app: &TestApp, hm: &str) -> usize {
    let resp: Value = device
        .get(app.url(&format!(
            "/api/v1/halls/h1/alerts?at=2026-08-07T{hm}:00%2B08:00"
        )))
        .fetch_json()
        .await;
    resp.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "care_due")
        .count()
}

peakend_testkit::on_both_backends!(a_hall_lives_by_its_province_s_journey, |url| {
    let app = spawn(url).await;
    let base = &app.base;
    let admin = app.user("admin").await;
    let (device, _) = app.device("h1").await;

    // One customer waits from 09:00, nobody is called.
    let batch = r#"{"id":"e1","hall":"h1","type":"counter_opened","at":"2026-08-07T08:30:00+08:00","counter":"c1"}
{"id":"e2","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A1","service":"payment"}"#;
    let out: Value = device
        .post(format!("{base}/api/v1/events"))
        .body(batch)
        .fetch_json()
        .await;
    assert_eq!(out["accepted"], 2, "{out}");

    // On the built-in journey: care after 15 minutes.
    let before = get_json(&admin, format!("{base}/api/v1/org/h1/journey")).await;
    assert_eq!(before["effective_journey"], "service-hall");
    assert_eq!(before["journey"], Value::Null);
    assert_eq!(care_alerts(&device, &app, "09:11").await, 0);
    assert_eq!(care_alerts(&device, &app, "09:16").await, 1);

    // Only a director or an admin assigns, and only within their scope.
    let citymgr = app.user("citymgr").await;
    assert_eq!(
        assign(&citymgr, base, "c", "dongjiang-hall").await.0,
        StatusCode::FORBIDDEN
    );
    let citydir = app.user("citydir").await;
    assert_eq!(
        assign(&citydir, base, "p", "dongjiang-hall").await.0,
        StatusCode::FORBIDDEN
    );

    // The province assigns its journey: from the next look on, care after 10 minutes.
    let (status, body) = assign(&admin, base, "p", "dongjiang-hall").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["previous"], Value::Null);
    assert_eq!(care_alerts(&device, &app, "09:09").await, 0);
    assert_eq!(care_alerts(&device, &app, "09:11").await, 1);
    let rules = peakend_store::hall_rules(&app.store, &peakend_core::HallId::parse("h1").unwrap())
        .await
        .unwrap();
    assert_eq!(rules.care_after_ms, 10 * 60_000);
    // The next batch of the day is judged and rolled up on the hall's new rules, so the
    // overview and KPIs read the roll-up instead of replaying the day.
    let more = r#"{"id":"e3","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:20:00+08:00","ticket":"A2","service":"payment"}"#;
    let out: Value = device
        .post(format!("{base}/api/v1/events"))
        .body(more)
        .fetch_json()
        .await;
    assert_eq!(out["accepted"], 1, "{out}");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
    let rollups = app
        .store
        .ops_rollups(None, day, day, peakend_store::RollupRead::WithDetail)
        .await
        .unwrap();
    let rollup = rollups[0].2.as_ref().expect("a roll-up of the day");
    assert_eq!(rollup.care_after_ms, 10 * 60_000);

    // The tree shows each node's own journey and the one it lives by.
    let org = get_json(&admin, format!("{base}/api/v1/org")).await;
    assert_eq!(org[0]["journey"], "dongjiang-hall");
    let hall = &org[0]["children"][0]["children"][0]["children"][0];
    assert_eq!(hall["id"], "h1");
    assert_eq!(hall["effective_journey"], "dongjiang-hall");
    assert!(hall.get("journey").is_none(), "{hall}");

    // The hall's survey form asks the moment the province added, and its poster shows it.
    let form = reqwest::Client::new()
        .get(format!("{base}/halls/h1/survey"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("线上预约取号"), "the form asks book_online");
    let poster = admin
        .get(format!("{base}/halls/h1/poster"))
        .send()
        .await
        .unwrap();
    assert_eq!(poster.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        poster.headers()["location"],
        "/journeys/dongjiang-hall/poster"
    );
    let page = admin
        .get(format!("{base}/journeys/dongjiang-hall/poster"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("线上预约取号"));
    let blueprint = admin.get(format!("{base}/blueprint")).send().await.unwrap();
    assert_eq!(blueprint.headers()["location"], "/journeys/dongjiang-hall");

    // A city below cannot go back to the built-in journey: one line naming the node and
    // the moment, and nothing changed.
    let (status, body) = assign(&admin, base, "c", "service-hall").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["message"],
        "node `c`: journey `service-hall` does not keep moment `book_online` of journey `dongjiang-hall` assigned to `p`"
    );
    let (status, body) = assign(&admin, base, "c", "nope").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["message"], "journey `nope` not found");
    let (status, body) = assign(&admin, base, "zz", "dongjiang-hall").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["message"], "node `zz` not found");
    let city = get_json(&admin, format!("{base}/api/v1/org/c/journey")).await;
    assert_eq!(city["journey"], Value::Null);
    assert_eq!(city["effective_journey"], "dongjiang-hall");
    assert_eq!(city["effective_from"], "p");
    // The same journey again at the city is allowed, and recorded.
    assert_eq!(
        assign(&admin, base, "c", "dongjiang-hall").await.0,
        StatusCode::OK
    );

    // Every change is recorded: who, when, old, new.
    let history = get_json(&admin, format!("{base}/api/v1/org/p/journey")).await["history"].clone();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history[0]["by"], "admin");
    assert_eq!(history[0]["old"], Value::Null);
    assert_eq!(history[0]["new"], "dongjiang-hall");
    assert!(history[0]["at"].as_i64().unwrap() > 0);
    assert_eq!(app.store.journey_changes(None).await.unwrap().len(), 2);

    // The analysis of a node without a journey named is on the journey it lives by.
    for i in 0..3 {
        let resp = admin
            .post(format!("{base}/api/v1/journeys/dongjiang-hall/responses"))
            .json(&json!({
                "respondent": format!("r{i}"), "hall": "h1", "date": "2026-08-07",
                "segment": "全球通", "overall": 8 + i % 2,
                "ratings": {"book_online": {"importance": 9, "satisfaction": 6 + i},
                            "queue": {"importance": 8, "satisfaction": 7}}
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{}",
            resp.text().await.unwrap()
        );
    }
    let analysis = get_json(&admin, format!("{base}/api/v1/analysis?org=p")).await;
    assert_eq!(analysis["journey"], "dongjiang-hall");
    assert_eq!(analysis["respondents"], 3);
    assert!(analysis.get("journeys_lived_by").is_none());
    let moments: Vec<&str> = analysis["moments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["key"].as_str())
        .collect();
    assert!(moments.contains(&"book_online"), "{moments:?}");
});
