//! Issue 21 over HTTP, on both databases: audits judged against the hall's journey
//! (every bad item named, nothing stored), photos checked by content and size, an
//! auditor that submits for its halls only and reads no results, compliance from the
//! audits, and a hall's plan whose ranking follows the formula and whose action is
//! re-measured once it is due.

use crate::helpers;

use helpers::{FetchJson, Setup, TestApp};
use peakend_core::Role;
use peakend_core::survey::{Rating, Response};
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The halls' clock stands at Thursday 2026-08-20 10:00 (+08:00).
async fn spawn(url: &str) -> TestApp {
    let now = chrono::DateTime::parse_from_rfc3339("2026-08-20T10:00:00+08:00").unwrap();
    TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
            users: vec![
                ("admin", Role::Admin, "p"),
                ("mgr", Role::HallManager, "h1"),
                ("shopper", Role::Auditor, "h1"),
                ("li", Role::Frontline, "h1"),
                ("other", Role::HallManager, "h2"),
            ],
            clock: Some(peakend_http::live::Clock::accelerated(now, 0.0)),
            ..Setup::default()
        },
    )
    .await
}

const PNG: [u8; 12] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

async fn status(r: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = r.send().await.unwrap();
    let s = resp.status();
    let text = resp.text().await.unwrap();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

peakend_testkit::on_both_backends!(
    audits_are_judged_against_the_journey_and_auditors_read_nothing,
    |url| {
        let app = spawn(url).await;
        let shopper = app.user("shopper").await;

        // Photos: by content, within 5 MB.
        let (s, photo) = status(
            shopper
                .post(app.url("/api/v1/audits/photos"))
                .header("Content-Type", "image/png")
                .body(PNG.to_vec()),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{photo}");
        let photo = photo["id"].as_str().unwrap().to_owned();
        let (s, e) = status(
            shopper
                .post(app.url("/api/v1/audits/photos"))
                .header("Content-Type", "image/png")
                .body("not an image at all"),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (s, e) = status(
            shopper
                .post(app.url("/api/v1/audits/photos"))
                .header("Content-Type", "image/jpeg")
                .body(PNG.to_vec()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(5 * 1024 * 1024 + 1, 0);
        let (s, _) = status(
            shopper
                .post(app.url("/api/v1/audits/photos"))
                .header("Content-Type", "image/jpeg")
                .body(big),
        )
        .await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);

        // Bad items are all named, and nothing is stored.
        let (s, e) = status(shopper.post(app.url("/api/v1/audits")).json(&json!({
            "hall": "h1", "kind": "mystery", "at": "2026-08-20T09:30:00+08:00",
            "items": [
                {"standard": "care_after", "result": "120"},
                {"standard": "teleport", "result": "yes"},
                {"standard": "max_standing_signs", "result": "yes"},
            ]
        })))
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains("items[1].standard: `teleport`"), "{msg}");
        assert!(msg.contains("items[2].result"), "{msg}");
        // Outside its halls: 403.
        let (s, _) = status(shopper.post(app.url("/api/v1/audits")).json(&json!({
            "hall": "h2", "kind": "mystery", "at": "2026-08-20T09:30:00+08:00",
            "items": [{"standard": "care_after", "result": "120"}]
        })))
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, out) = status(shopper.post(app.url("/api/v1/audits")).json(&json!({
            "hall": "h1", "kind": "mystery", "at": "2026-08-20T09:30:00+08:00",
            "items": [
                {"standard": "care_after", "result": 120, "note": "2 分钟内递水"},
                {"standard": "vip_water", "result": "90%", "photo": photo},
            ]
        })))
        .await;
        assert_eq!(s, StatusCode::CREATED, "{out}");
        assert!(out["id"].as_i64().unwrap() > 0);

        // The auditor reads no results.
        for path in [
            "/api/v1/compliance?org=h1",
            "/api/v1/halls/h1/plan",
            "/api/v1/cases",
            "/api/v1/kpi?org=h1&from=2026-08-01&to=2026-08-20",
            "/api/v1/analysis?org=h1",
            "/halls/h1/plan",
            "/",
        ] {
            let resp = shopper.get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let resp = shopper
            .get(app.url(&format!("/api/v1/audits/photos/{photo}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);

        // The manager sees the audit in the compliance.
        let mgr = app.user("mgr").await;
        let c = mgr
            .get(app.url("/api/v1/compliance?org=h1&from=2026-08-01&to=2026-08-20&by=standard"))
            .fetch_json()
            .await;
        let line = |k: &str| {
            c["report"]["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["key"] == k)
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(
            line("care_after")["sources"]["mystery"],
            json!({"made": 1, "passed": 1}),
            "{c}"
        );
        assert_eq!(line("vip_water")["passed"], 0, "{c}");
        assert_eq!(c["report"]["made"], 2, "only the accepted audit: {c}");
        let csv = mgr
            .get(app.url("/api/v1/compliance?org=h1&from=2026-08-01&to=2026-08-20&format=csv"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            csv.starts_with("standard,moment,made,passed,compliance"),
            "{csv}"
        );
        let resp = mgr
            .get(app.url(&format!("/api/v1/audits/photos/{photo}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);
    }
);

/// A respondent of hall h1 on `date` rating moment i importance `imp(i)` and
/// satisfaction `sat(i)`.
fn response(
    n: usize,
    date: &str,
    moments: usize,
    imp: impl Fn(usize) -> f64,
    sat: impl Fn(usize) -> f64,
) -> Response {
    Response {
        respondent: format!("r{date}-{n}"),
        hall: peakend_core::HallId::parse("h1").unwrap(),
        date: chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
        segment: "个人".into(),
        purpose: None,
        overall: Some(8.0),
        nps: Some(8.0),
        tolerable_wait_min: None,
        ratings: (0..moments)
            .map(|i| Rating {
                importance: Some(imp(i)),
                satisfaction: Some(sat(i)),
                expectation: None,
                competitor: None,
            })
            .collect(),
        needs: Vec::new(),
        contact: None,
        comment: None,
        customer: None,
        short_form: false,
    }
}

peakend_testkit::on_both_backends!(
    a_plan_ranks_by_the_formula_and_re_measures_its_action,
    |url| {
        let app = spawn(url).await;
        let journey = app
            .store
            .journey(&peakend_core::JourneyKey::parse("service-hall").unwrap())
            .await
            .unwrap()
            .unwrap();
        let moments = journey.moments().len();
        let queue = journey
            .moments()
            .iter()
            .position(|m| m.key.as_str() == "queue")
            .unwrap();
        // Before: July, queue satisfaction 6 (or 5 and 7, for a variance).
        let before: Vec<Response> = (0..10)
            .map(|n| {
                response(
                    n,
                    "2026-07-10",
                    moments,
                    |i| 5.0 + (i % 5) as f64,
                    |i| {
                        if i == queue {
                            5.0 + (n % 2) as f64 * 2.0
                        } else {
                            6.0 + (i % 4) as f64
                        }
                    },
                )
            })
            .collect();
        app.store.import_responses(&journey, &before).await.unwrap();
        let mgr = app.user("mgr").await;
        // The manager's walk: the queue's standards half kept.
        let (s, e) = status(mgr.post(app.url("/api/v1/audits")).json(&json!({
            "hall": "h1", "kind": "walk", "at": "2026-08-19T09:00:00+08:00",
            "items": [
                {"standard": "care_after", "result": "100"},
                {"standard": "max_per_counter", "result": "no"},
            ]
        })))
        .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        let plan = mgr.get(app.url("/api/v1/halls/h1/plan")).fetch_json().await;
        let problems = plan["problems"].as_array().unwrap();
        assert_eq!(problems.len(), moments, "{plan}");
        let mut last = f64::INFINITY;
        for p in problems {
            let (imp, sat) = (
                p["importance"].as_f64().unwrap(),
                p["satisfaction"].as_f64().unwrap(),
            );
            let i = journey
                .moments()
                .iter()
                .position(|m| m.key.as_str() == p["moment"].as_str().unwrap())
                .unwrap();
            // One segment: the importance and satisfaction are the ratings given.
            assert!((imp - (5.0 + (i % 5) as f64)).abs() < 1e-9, "{p}");
            let want_sat = if i == queue {
                6.0
            } else {
                6.0 + (i % 4) as f64
            };
            assert!((sat - want_sat).abs() < 1e-9, "{p}");
            let comp = if i == queue { 0.5 } else { 0.0 };
            assert_eq!(p["compliance"].as_f64(), (i == queue).then_some(0.5), "{p}");
            let priority = imp * (10.0 - sat) * (1.0 - comp);
            assert!(
                (p["priority"].as_f64().unwrap() - priority).abs() < 1e-9,
                "{p}"
            );
            assert!(priority <= last + 1e-12, "ranked highest first");
            last = priority;
        }
        assert_eq!(plan["calendar"].as_array().unwrap().len(), 14);
        assert_eq!(plan["calendar"][0]["moment"], problems[0]["moment"]);

        // An action on the queue, due yesterday: re-measured against the days since.
        let (s, a) = status(mgr.post(app.url("/api/v1/halls/h1/plan/actions")).json(&json!({
        "moment": "queue", "standard": "care_after", "what": "流动岗每5分钟巡视等候区",
        "owner": "李娜", "due": "2026-08-19", "metric": "satisfaction.queue", "target": 7.0
    })))
    .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        assert_eq!(a["baseline"], 6.0);
        let after: Vec<Response> = (0..10)
            .map(|n| {
                response(
                    n,
                    "2026-08-20",
                    moments,
                    |i| 5.0 + (i % 5) as f64,
                    |i| {
                        if i == queue {
                            7.0 + (n % 2) as f64 * 2.0
                        } else {
                            6.0 + (i % 4) as f64
                        }
                    },
                )
            })
            .collect();
        app.store.import_responses(&journey, &after).await.unwrap();
        let plan = mgr.get(app.url("/api/v1/halls/h1/plan")).fetch_json().await;
        let review = &plan["actions"][0]["review"];
        assert_eq!(review["result"]["before"], 6.0, "{plan}");
        assert_eq!(review["result"]["after"], 8.0, "{plan}");
        assert_eq!(review["met"], true);
        let (lo, hi) = (
            review["result"]["ci95"][0].as_f64().unwrap(),
            review["result"]["ci95"][1].as_f64().unwrap(),
        );
        // Variance 10/9 a side, n 10: se = sqrt(2 × 1.111/10) = 0.4714.
        let se = (2.0 * (10.0 / 9.0) / 10.0f64).sqrt();
        assert!((lo - (2.0 - 1.96 * se)).abs() < 1e-9 && (hi - (2.0 + 1.96 * se)).abs() < 1e-9);

        // Bad input: a metric of no moment, a drill with nobody.
        let (s, e) = status(
            mgr.post(app.url("/api/v1/halls/h1/plan/actions"))
                .json(&json!({
                    "moment": "queue", "what": "x", "owner": "y", "due": "2026-09-01",
                    "metric": "satisfaction.moon", "target": 7
                })),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let (s, _) = status(
            mgr.post(app.url("/api/v1/halls/h1/plan/drills"))
                .json(&json!({
                    "day": "2026-08-20", "moment": "queue", "attendees": []
                })),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (s, _) = status(
            mgr.post(app.url("/api/v1/halls/h1/plan/drills"))
                .json(&json!({
                    "day": "2026-08-20", "moment": "queue", "attendees": ["李娜", "王芳"]
                })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = status(
            mgr.post(app.url("/api/v1/halls/h1/plan/stocktake"))
                .json(&json!({
                    "staff": 12, "counters": 6, "kiosks": 2, "rosters": "早晚两班"
                })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, e) = status(mgr.post(app.url("/api/v1/exams")).json(&json!({
        "hall": "h1", "staff": "li", "period": "week", "taken": "2026-08-18",
        "answers": [{"question": "care_after", "answer": "15"}, {"question": "system_time", "answer": "3"}]
    })))
    .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        assert_eq!(
            (e["score"].as_f64(), e["out_of"].as_f64()),
            (Some(1.0), Some(2.0))
        );
        let plan = mgr.get(app.url("/api/v1/halls/h1/plan")).fetch_json().await;
        assert_eq!(plan["drills"][0]["attendees"], json!(["李娜", "王芳"]));
        assert_eq!(plan["stocktake"]["body"]["counters"], 6);
        assert_eq!(plan["data"]["exams"]["sat"], 1);
        // Front-line staff read the plan but do not keep it.
        let li = app.user("li").await;
        let (s, _) = status(li.get(app.url("/api/v1/halls/h1/plan"))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = status(
            li.post(app.url("/api/v1/halls/h1/plan/drills"))
                .json(&json!({
                    "day": "2026-08-20", "moment": "queue", "attendees": ["li"]
                })),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // The page.
        let page = mgr.get(app.url("/halls/h1/plan")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("五步改善计划") && html.contains("problem-table"),
            "{html}"
        );
    }
);
