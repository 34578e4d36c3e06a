//! Issue 20 over HTTP, on both databases: cases worked through the API and the pages,
//! each role within its reach (another scope's case is "not found", nothing of it
//! shown), 409s that name the moves allowed, the customer's one-time callback link,
//! exports that mask contacts, and webhook receivers that check the signature.

use crate::helpers;

use std::sync::{Arc, Mutex};

use helpers::{FetchJson, Setup, TestApp};
use hmac::{Hmac, Mac};
use peakend_core::{Role, UserName};
use peakend_store::CaseStore;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn spawn(url: &str) -> TestApp {
    let app = TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
            users: vec![
                ("admin", Role::Admin, "p"),
                ("reg", Role::RegionalManager, "d"),
                ("mgr", Role::HallManager, "h1"),
                ("li", Role::Frontline, "h1"),
                ("zhao", Role::Frontline, "h1"),
                ("other", Role::HallManager, "h2"),
            ],
            ..Setup::default()
        },
    )
    .await;
    app.store
        .set_staff(&UserName::parse("li").unwrap(), Some("S01"))
        .await
        .unwrap();
    app
}

fn line(id: &str, hm: &str, body: &str) -> String {
    format!(r#"{{"id":"{id}","hall":"h1","at":"2026-08-07T{hm}:00+08:00",{body}}}"#)
}

peakend_testkit::on_both_backends!(cases_are_worked_through_the_api_within_each_reach, |url| {
    let app = spawn(url).await;
    let (device, _) = app.device("h1").await;
    let out = device
        .post(app.url("/api/v1/events"))
        .body(
            [
                line(
                    "e1",
                    "09:00",
                    r#""type":"ticket_issued","ticket":"A1","service":"bill""#,
                ),
                line(
                    "e2",
                    "09:01",
                    r#""type":"called","ticket":"A1","counter":"c1","staff":"S01""#,
                ),
                line(
                    "e3",
                    "09:01",
                    r#""type":"service_started","ticket":"A1","counter":"c1""#,
                ),
                line(
                    "e4",
                    "09:05",
                    r#""type":"service_ended","ticket":"A1","counter":"c1","outcome":"referred""#,
                ),
            ]
            .join("\n"),
        )
        .fetch_json()
        .await;
    assert_eq!(out["cases_opened"], 1, "{out}");
    let (mgr, li, zhao, other, admin) = (
        app.user("mgr").await,
        app.user("li").await,
        app.user("zhao").await,
        app.user("other").await,
        app.user("admin").await,
    );
    // The manager opens one by hand: theirs, first asked in their own hall.
    let opened = mgr
        .post(app.url("/api/v1/cases"))
        .json(
            &json!({"hall": "h1", "moment": "dispute", "summary": "多收了话费",
                      "contact": "13812345678", "severity": "high"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::CREATED);
    let opened: Value = opened.json().await.unwrap();
    let id = opened["id"].as_i64().unwrap();
    assert_eq!(
        (opened["owner"].as_str(), opened["source"].as_str()),
        (Some("mgr"), Some("manual"))
    );
    assert_eq!(
        opened["contact"], "13812345678",
        "a hall manager sees it whole"
    );
    // A moment the hall's journey lacks is named.
    let bad = mgr
        .post(app.url("/api/v1/cases"))
        .json(&json!({"hall": "h1", "moment": "teleport", "summary": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("moment: `teleport`"));

    // Frontline: own cases only. li served A1; zhao has none; the manager's is not li's.
    let mine = li.get(app.url("/api/v1/cases")).fetch_json().await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["source"], "unresolved");
    assert_eq!(
        zhao.get(app.url("/api/v1/cases")).fetch_json().await,
        json!([])
    );
    let hidden = li
        .get(app.url(&format!("/api/v1/cases/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    // Another hall's manager: not found, and nothing of it in the answer.
    for path in [format!("/api/v1/cases/{id}"), format!("/cases/{id}")] {
        let r = other.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("多收了话费") && !body.contains("138"),
            "{body}"
        );
    }
    assert_eq!(
        other
            .get(app.url("/api/v1/cases?inbox=all"))
            .fetch_json()
            .await,
        json!([])
    );
    let not_mine = other
        .post(app.url(&format!("/api/v1/cases/{id}/transition")))
        .json(&json!({"to": "acknowledged", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_mine.status(), StatusCode::NOT_FOUND);

    // Skipping a step and a stale version: 409 naming the moves allowed.
    let skip = mgr
        .post(app.url(&format!("/api/v1/cases/{id}/transition")))
        .json(&json!({"to": "resolved", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(skip.status(), StatusCode::CONFLICT);
    let skip: Value = skip.json().await.unwrap();
    assert_eq!(skip["error"]["allowed"], json!(["acknowledged"]));
    let ack = mgr
        .post(app.url(&format!("/api/v1/cases/{id}/transition")))
        .json(&json!({"to": "acknowledged", "version": 1, "note": "已受理"}))
        .fetch_json()
        .await;
    assert_eq!(
        (ack["state"].as_str(), ack["version"].as_i64()),
        (Some("acknowledged"), Some(2))
    );
    let stale = mgr
        .post(app.url(&format!("/api/v1/cases/{id}/transition")))
        .json(&json!({"to": "investigating", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let stale: Value = stale.json().await.unwrap();
    assert_eq!(stale["error"]["allowed"], json!(["investigating"]));
    assert!(
        stale["error"]["message"]
            .as_str()
            .unwrap()
            .contains("version 2")
    );
    let unknown = mgr
        .get(app.url("/api/v1/cases/99999"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // Reassigned to li, who then sees it with the contact masked, and may not reassign.
    let given = mgr
        .post(app.url(&format!("/api/v1/cases/{id}/assign")))
        .json(&json!({"to": "li", "version": 2}))
        .fetch_json()
        .await;
    assert_eq!(given["owner"], "li");
    let seen = li
        .get(app.url(&format!("/api/v1/cases/{id}")))
        .fetch_json()
        .await;
    assert_eq!(seen["contact"], "138****5678");
    assert_eq!(seen["timeline"].as_array().unwrap().len(), 3, "{seen}");
    let refused = li
        .post(app.url(&format!("/api/v1/cases/{id}/assign")))
        .json(&json!({"to": "zhao", "version": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // li works it through to resolution; the callback link is printed for an SMS.
    let step = |to: &str, version: i64, extra: Value| {
        let mut body = json!({"to": to, "version": version});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        li.post(app.url(&format!("/api/v1/cases/{id}/transition")))
            .json(&body)
    };
    step("investigating", 3, json!({})).fetch_json().await;
    let resolved = step(
        "resolved",
        4,
        json!({"root_cause": "套餐变更未生效", "good_faith": true}),
    )
    .fetch_json()
    .await;
    let link = resolved["callback_link"].as_str().unwrap().to_owned();
    assert!(link.starts_with("/c/"), "{resolved}");
    let page = reqwest::get(app.url(&link)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("您反映的问题处理得怎么样")
    );
    let answer = reqwest::Client::new()
        .post(app.url(&link))
        .form(&[("recovery", "5"), ("recommend", "9")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().await.unwrap().contains("感谢您的反馈"));
    // Used once: the link is spent.
    for r in [
        reqwest::get(app.url(&link)).await.unwrap(),
        reqwest::Client::new()
            .post(app.url(&link))
            .form(&[("recovery", "1")])
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let done = mgr
        .get(app.url(&format!("/api/v1/cases/{id}")))
        .fetch_json()
        .await;
    assert_eq!(
        (done["state"].as_str(), done["recovery"].as_i64()),
        (Some("followed_up"), Some(5))
    );

    // KPIs of the hall: two cases, one by hand (voiced), recovered at 5.
    let k = mgr
        .get(app.url("/api/v1/cases/kpi?org=h1&from=2026-01-01&to=2026-12-31"))
        .fetch_json()
        .await;
    assert_eq!(k["opened"], 2, "{k}");
    assert_eq!(k["by_source"], json!({"manual": 1, "unresolved": 1}));
    assert_eq!(k["hidden"]["voiced"], 1);
    assert_eq!(k["mean_recovery_satisfaction"], 5.0);
    let forbidden = mgr
        .get(app.url("/api/v1/cases/kpi?org=h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    // Exports: contacts whole for admins only.
    let csv = |c: &reqwest::Client| {
        c.get(app.url("/api/v1/cases/export?format=csv&state=all&inbox=all"))
            .send()
    };
    let by_mgr = csv(&mgr).await.unwrap().text().await.unwrap();
    assert!(
        by_mgr.contains("138****5678") && !by_mgr.contains("13812345678"),
        "{by_mgr}"
    );
    let by_admin = csv(&admin).await.unwrap().text().await.unwrap();
    assert!(by_admin.contains("13812345678"), "{by_admin}");
    let xlsx = admin
        .get(app.url("/api/v1/cases/export?format=xlsx&state=all&inbox=all"))
        .send()
        .await
        .unwrap();
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));

    // The pages: the manager's inbox lists both; a region sees nothing escalated yet.
    let (browser, _) = app.sign_in("mgr").await;
    let inbox = browser
        .get(app.url("/cases?state=all"))
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), StatusCode::OK);
    let inbox = inbox.text().await.unwrap();
    assert_eq!(inbox.matches("class=\"case\"").count(), 2, "{inbox}");
    let case_page = browser
        .get(app.url(&format!("/cases/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(case_page.contains("套餐变更未生效") && case_page.contains("13812345678"));
    let reg = app.user("reg").await;
    assert_eq!(
        reg.get(app.url("/api/v1/cases")).fetch_json().await,
        json!([])
    );
    assert_eq!(
        reg.get(app.url("/api/v1/cases?inbox=all&state=all"))
            .fetch_json()
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
});

peakend_testkit::on_both_backends!(a_page_form_moves_a_case_and_shows_a_conflict, |url| {
    let app = spawn(url).await;
    let (browser, csrf) = app.sign_in("mgr").await;
    let opened = browser
        .post(app.url("/cases/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("hall", "h1"),
            ("moment", "queue"),
            ("summary", "排队太久"),
            ("severity", "medium"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    let at = opened.headers()["location"].to_str().unwrap().to_owned();
    let act = |version: &str, to: &str| {
        browser
            .post(app.url(&format!("{at}/act")))
            .form(&[
                ("csrf", csrf.as_str()),
                ("action", "transition"),
                ("version", version),
                ("to", to),
            ])
            .send()
    };
    assert_eq!(
        act("1", "acknowledged").await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    // The same form sent again is stale: the page says so.
    let again = act("1", "acknowledged").await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("id=\"case-error\""));
    // Without the CSRF token: refused.
    let forged = browser
        .post(app.url(&format!("{at}/act")))
        .form(&[
            ("action", "transition"),
            ("version", "2"),
            ("to", "investigating"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
});

peakend_testkit::on_both_backends!(webhook_receivers_get_signed_deliveries, |url| {
    let app = spawn(url).await;
    // A receiver that checks the signature as a partner system would.
    type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;
    let seen: Seen = Arc::default();
    let secret = "a-shared-secret-of-the-partner";
    let receiver = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let sig = headers["x-peakend-signature"].to_str().unwrap().to_owned();
                    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                    mac.update(body.as_bytes());
                    let hex: String = mac
                        .finalize()
                        .into_bytes()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    let valid = sig == format!("sha256={hex}");
                    let event = headers["x-peakend-event"].to_str().unwrap().to_owned();
                    seen.lock().unwrap().push((event, body, valid));
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    app.store
        .add_webhook(
            &hook,
            secret,
            &["case.opened".into(), "case.acknowledged".into()],
        )
        .await
        .unwrap();
    // And one that is down: its deliveries wait, the others go.
    app.store
        .add_webhook(
            "http://127.0.0.1:9/down",
            "another-secret-0000",
            &["case.opened".into()],
        )
        .await
        .unwrap();
    let mgr = app.user("mgr").await;
    let case = mgr
        .post(app.url("/api/v1/cases"))
        .json(&json!({"hall": "h1", "moment": "dispute", "summary": "x", "contact": "13812345678"}))
        .fetch_json()
        .await;
    mgr.post(app.url(&format!("/api/v1/cases/{}/transition", case["id"])))
        .json(&json!({"to": "acknowledged", "version": 1}))
        .fetch_json()
        .await;
    let state = peakend_http::AppState::new(Arc::new(app.store.clone()));
    let client = reqwest::Client::new();
    assert_eq!(
        peakend_http::case_worker::deliver_once(&state, &client).await,
        3
    );
    let got = seen.lock().unwrap().clone();
    let events: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(events, ["case.opened", "case.acknowledged"]);
    assert!(got.iter().all(|g| g.2), "every signature checks");
    assert!(
        got.iter().all(|g| !g.1.contains("13812345678")),
        "no contact in a webhook"
    );
    // Delivered ones are not sent again; the failed one waits for its retry.
    assert_eq!(
        peakend_http::case_worker::deliver_once(&state, &client).await,
        0
    );
    assert_eq!(
        app.store
            .due_deliveries(i64::MAX / 2, 10)
            .await
            .unwrap()
            .len(),
        1
    );
});
