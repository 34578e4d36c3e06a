//! Issue 22 over HTTP, on both databases: a quality monitor scores a recorded call of a
//! contact centre (`kind: monitoring`, naming the call and the agent) through
//! `POST /api/v1/audits` and the centre's audit page; it is refused with the reason,
//! and nothing stored, for a hall's journey that has no call moments, a call the
//! centre's events do not hold, an agent who did not take it, a standard a recording
//! cannot judge; it counts in the centre's compliance under `monitoring`, per agent too.

use crate::helpers;

use helpers::{FetchJson, Setup, TestApp};
use peakend_core::{HallId, OrgLevel, OrgNode, Role};
use peakend_store::{AuditStore, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn spawn(url: &str) -> TestApp {
    let now = chrono::DateTime::parse_from_rfc3339("2026-08-20T10:00:00+08:00").unwrap();
    let mut org = peakend_testkit::small_org(&[("h1", "人民路营业厅")]);
    org.push(OrgNode {
        name: "东江客服中心".into(),
        ..peakend_testkit::org_node("cc", Some("c"), OrgLevel::Centre, 0, 0)
    });
    let app = TestApp::spawn_with(
        url,
        Setup {
            org,
            users: vec![
                ("admin", Role::Admin, "p"),
                ("qa", Role::Auditor, "c"),
                ("mgr", Role::HallManager, "h1"),
            ],
            clock: Some(peakend_http::live::Clock::accelerated(now, 0.0)),
            ..Setup::default()
        },
    )
    .await;
    // The centre's morning: k1 answered by A01, k2 abandoned.
    let ev = |id: &str, hms: &str, body: &str| {
        format!(r#"{{"id":"{id}","hall":"cc","at":"2026-08-19T{hms}+08:00",{body}}}"#)
    };
    let lines = [
        ev(
            "e1",
            "09:00:00",
            r#""type":"call_offered","call":"k1","queue":"bill""#,
        ),
        ev(
            "e2",
            "09:00:10",
            r#""type":"call_answered","call":"k1","agent":"A01""#,
        ),
        ev(
            "e3",
            "09:04:00",
            r#""type":"call_ended","call":"k1","outcome":"done","acw_s":20"#,
        ),
        ev(
            "e4",
            "09:01:00",
            r#""type":"call_offered","call":"k2","queue":"bill""#,
        ),
        ev("e5", "09:01:30", r#""type":"call_abandoned","call":"k2""#),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = app
        .store
        .ingest_events(
            &HallId::parse("cc").unwrap(),
            peakend_testkit::event_batch(&refs),
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(out.rejected.is_empty(), "{out:?}");
    app
}

async fn post(client: &reqwest::Client, app: &TestApp, body: Value) -> (StatusCode, Value) {
    let resp = client
        .post(app.url("/api/v1/audits"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

fn message(e: &Value) -> String {
    e["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

peakend_testkit::on_both_backends!(
    a_recorded_call_is_scored_against_the_hotline_s_standards,
    |url| {
        let app = spawn(url).await;
        let qa = app.user("qa").await;
        let at = "2026-08-19T15:00:00+08:00";
        let items = json!([
            {"standard": "standard_greeting", "result": "yes"},
            {"standard": "hold_max", "result": 75, "note": "保持前未告知原因"},
            {"standard": "closing_phrase", "result": true},
        ]);

        // A hall's journey has no call moments: refused with the reason.
        let (s, e) = post(
            &qa,
            &app,
            json!({"hall": "h1", "kind": "monitoring", "at": at, "call": "k1", "agent": "A01",
                   "items": [{"standard": "care_after", "result": 100}]}),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(message(&e).contains("has no call moments"), "{e}");
        assert!(message(&e).contains("service-hall"), "{e}");

        // A call, an agent, the standards: every problem named in one answer.
        for (body, expect) in [
            (
                json!({"hall": "cc", "kind": "monitoring", "at": at, "items": items}),
                vec![
                    "call: a `monitoring` audit names the call",
                    "agent: a `monitoring` audit names the agent",
                ],
            ),
            (
                json!({"hall": "cc", "kind": "monitoring", "at": at, "call": "k9", "agent": "A01", "items": items}),
                vec!["call: `k9` is not a call of `cc`"],
            ),
            (
                json!({"hall": "cc", "kind": "monitoring", "at": at, "call": "k1", "agent": "A07", "items": items}),
                vec!["agent: `A07` did not take call `k1` (taken by A01)"],
            ),
            (
                json!({"hall": "cc", "kind": "monitoring", "at": at, "call": "k2", "agent": "A01", "items": items}),
                vec!["call: `k2` was never answered"],
            ),
            (
                json!({"hall": "cc", "kind": "monitoring", "at": "2026-08-19T08:00:00+08:00",
                       "call": "k1", "agent": "A01", "items": items}),
                vec!["at: before call `k1` was offered"],
            ),
            (
                json!({"hall": "cc", "kind": "monitoring", "at": at, "call": "k1", "agent": "A01",
                       "items": [{"standard": "answer_within", "result": "85%"}]}),
                vec!["items[0].standard: `answer_within` is not judged from a recorded call"],
            ),
            (
                json!({"hall": "cc", "kind": "mystery", "at": at, "call": "k1",
                       "items": [{"standard": "standard_greeting", "result": "yes"}]}),
                vec!["call: only a `monitoring` audit names a call"],
            ),
        ] {
            let (s, e) = post(&qa, &app, body).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
            for part in expect {
                assert!(message(&e).contains(part), "{part}: {e}");
            }
        }
        let cc = HallId::parse("cc").unwrap();
        assert!(
            app.store.audits(&cc, 0).await.unwrap().is_empty(),
            "nothing stored"
        );

        // The call as it was: stored with its call and agent.
        let (s, out) = post(
            &qa,
            &app,
            json!({"hall": "cc", "kind": "monitoring", "at": at, "call": "k1", "agent": "A01", "items": items}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{out}");
        let stored = app.store.audits(&cc, 0).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (
                stored[0].call.as_deref(),
                stored[0].agent.as_deref(),
                stored[0].items,
                stored[0].passed
            ),
            (Some("k1"), Some("A01"), 3, 2)
        );

        // The centre's compliance: source `monitoring`, and per agent.
        let admin = app.user("admin").await;
        let c = admin
            .get(app.url("/api/v1/compliance?org=cc&from=2026-08-01&to=2026-08-20"))
            .fetch_json()
            .await;
        assert_eq!(c["report"]["made"], 3, "{c}");
        let hold = c["report"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == "hold_max")
            .cloned()
            .unwrap();
        assert_eq!(
            hold["sources"]["monitoring"],
            json!({"made": 1, "passed": 0})
        );
        let c = admin
            .get(app.url("/api/v1/compliance?org=c&from=2026-08-01&to=2026-08-20&by=agent"))
            .fetch_json()
            .await;
        assert_eq!(
            c["report"]["lines"],
            json!([{"key": "A01", "hall": "cc", "made": 3, "passed": 2,
                    "compliance": 2.0 / 3.0, "sources": {"monitoring": {"made": 3, "passed": 2}}}]),
            "{c}"
        );
        let csv =
            admin
                .get(app.url(
                    "/api/v1/compliance?org=cc&from=2026-08-01&to=2026-08-20&by=agent&format=csv",
                ))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
        assert!(
            csv.starts_with("agent,centre,made,passed,compliance,index,auto,self,walk,mystery,inspection,monitoring\nA01,cc,3,2,"),
            "{csv}"
        );
        // The city's page shows the centre's agents.
        let page = admin
            .get(app.url("/compliance?org=c&from=2026-08-01&to=2026-08-20"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("id=\"agents\""), "agents table");
        assert!(page.contains("东江客服中心"), "the centre by name");

        // The centre's audit page opens on call monitoring and asks for the call.
        let page = qa.get(app.url("/halls/cc/audit")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.unwrap();
        assert!(page.contains("data-kind=\"monitoring\""), "default kind");
        assert!(page.contains("id=\"call-id\"") && page.contains("id=\"call-agent\""));
        assert!(page.contains("data-standard=\"hold_max\""));
        assert!(!page.contains("data-standard=\"answer_within\""));
        // A hall's page offers no monitoring, and refuses it when asked, with the reason.
        let page = qa.get(app.url("/halls/h1/audit")).send().await.unwrap();
        let text = page.text().await.unwrap();
        assert!(
            !text.contains("kind=monitoring"),
            "no monitoring tab at a hall"
        );
        let page = qa
            .get(app.url("/halls/h1/audit?kind=monitoring"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.text().await.unwrap().contains("no call moments"));
        // The auditor's start page lists the centre.
        let home = qa.get(app.url("/audit")).send().await.unwrap();
        assert!(home.text().await.unwrap().contains("/halls/cc/audit"));
    }
);
