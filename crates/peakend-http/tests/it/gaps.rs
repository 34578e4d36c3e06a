//! Issue 23: the gap model over HTTP — gap 5 from answers that carry expectation items,
//! gap 1 from the managers' importance estimates, both on the analysis page.

use crate::helpers;
use helpers::json_of;

use helpers::{Setup, TestApp};
use peakend_core::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

peakend_testkit::on_both_backends!(gap_five_and_gap_one_from_answers_and_managers, |url| {
    let app = TestApp::spawn_with(
        url,
        Setup {
            users: vec![
                ("admin", Role::Admin, "p"),
                ("mgr", Role::HallManager, "h1"),
                ("area", Role::RegionalManager, "d"),
            ],
            ..Setup::default()
        },
    )
    .await;
    let admin = app.user("admin").await;
    // Two answers of one segment: queue expected 9 and 8, perceived 6 and 7 → gap 5 of
    // the queue = (9 + 8)/2 − (6 + 7)/2 = 2. Importance of the queue 9 and 10 → 9.5.
    for (id, exp, sat, imp) in [("g-1", 9, 6, 9), ("g-2", 8, 7, 10)] {
        let answer = json!({"respondent": id, "hall": "h1", "date": "2024-05-01",
            "segment": "全球通", "overall": 8, "nps": 8,
            "ratings": {"queue": {"importance": imp, "satisfaction": sat, "expectation": exp},
                        "leave": {"importance": 6, "satisfaction": 8}}});
        let resp = admin
            .post(app.url("/api/v1/journeys/service-hall/responses"))
            .json(&answer)
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
    let (status, a) = json_of(
        admin
            .get(app.url("/api/v1/analysis?journey=service-hall&org=p"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    let gaps = &a["gaps"];
    let queue = gaps["moments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["moment"] == "queue")
        .unwrap_or_else(|| panic!("{gaps}"));
    assert_eq!(queue["gap5"], 2.0, "{queue}");
    assert_eq!(queue["n"], 2);
    // `leave` carries no expectation: not in gap 5.
    assert!(
        gaps["moments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["moment"] != "leave")
    );

    // Gap 1: the hall manager thinks the queue matters 7, the regional manager 8.
    let at = app.url("/api/v1/estimates/service-hall");
    let estimate = |who: reqwest::Client, body: Value| {
        let at = at.clone();
        async move { json_of(who.put(at).json(&body).send().await.unwrap()).await }
    };
    let mgr = app.user("mgr").await;
    let (status, e) = estimate(
        mgr.clone(),
        json!({"estimates": [{"moment": "queue", "importance": 7}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let (status, e) = estimate(
        app.user("area").await,
        json!({"estimates": [{"moment": "queue", "importance": 8}, {"moment": "leave", "importance": 5}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    // Not a manager: refused. A bad moment, an estimate of 11: 422 naming the field.
    let (status, _) = estimate(
        admin.clone(),
        json!({"estimates": [{"moment": "queue", "importance": 7}]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, e) = estimate(
        mgr.clone(),
        json!({"estimates": [{"moment": "nowhere", "importance": 7}, {"moment": "queue", "importance": 11}]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("estimates[0].moment") && message.contains("estimates[1].importance"),
        "{message}"
    );
    // The bad one replaced nothing: the manager's estimate is still 7.
    let (_, mine) = json_of(
        mgr.get(app.url("/api/v1/estimates/service-hall"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mine["estimates"][0]["importance"], 7.0, "{mine}");

    let (status, g) = json_of(
        admin
            .get(app.url("/api/v1/gap1/service-hall?org=p"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let queue = g["gap1"]["moments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["moment"] == "queue")
        .unwrap_or_else(|| panic!("{g}"));
    // Managers (7 + 8)/2 = 7.5, customers 9.5: gap 1 = −2.
    assert_eq!(queue["managers"], 7.5, "{queue}");
    assert_eq!(queue["customers"], 9.5, "{queue}");
    assert_eq!(queue["gap1"], -2.0, "{queue}");
    // At the hall, only its own manager's estimate counts.
    let (_, g) = json_of(
        admin
            .get(app.url("/api/v1/gap1/service-hall?org=h1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let queue = g["gap1"]["moments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["moment"] == "queue")
        .unwrap();
    assert_eq!(queue["managers"], 7.0, "{queue}");

    // The analysis page shows both, and the manager the form with their estimate.
    let (browser, _) = app.sign_in("mgr").await;
    let html = browser
        .get(app.url("/analysis?journey=service-hall"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"gap5\"") && html.contains("id=\"gap1\""),
        "{html:.300}"
    );
    assert!(html.contains("id=\"estimate-form\"") && html.contains("value=\"7\""));
    let (browser, _) = app.sign_in("admin").await;
    let html = browser
        .get(app.url("/analysis?journey=service-hall"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"gap5\"") && !html.contains("id=\"estimate-form\""));
});
