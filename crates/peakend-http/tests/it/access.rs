//! Accounts and access, on both backends: sign-in, sessions, CSRF, and a user seeing and
//! acting on their own node and below only — in pages and in the JSON API alike.

use crate::helpers;

use helpers::{FetchJson, PASSWORD, Setup, TestApp, browser};
use peakend_core::{HallId, Role, UserName};
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// p → c → d → h1, h2; one user per role, all with the same password.
async fn spawn(url: &str) -> (String, peakend_store::SqlStore) {
    let app = TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
            users: vec![
                ("admin", Role::Admin, "p"),
                ("boss", Role::Director, "p"),
                ("mgr1", Role::HallManager, "h1"),
                ("staff1", Role::Frontline, "h1"),
            ],
            ..Setup::default()
        },
    )
    .await;
    (app.base, app.store)
}

/// Signs `name` in through the login form; returns the browser and the session's CSRF token.
async fn sign_in(base: &str, name: &str) -> (reqwest::Client, String) {
    let b = browser();
    let resp = b
        .post(format!("{base}/login"))
        .form(&[
            ("name", name),
            ("password", PASSWORD),
            ("next", "/analysis"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/analysis");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let me: Value = get_json(&b, format!("{base}/api/v1/me")).await;
    assert_eq!(me["user"]["name"], name);
    (b, me["csrf"].as_str().unwrap().to_owned())
}

async fn get_json(b: &reqwest::Client, url: String) -> Value {
    b.get(url).fetch_json().await
}

async fn status(b: &reqwest::Client, url: String) -> StatusCode {
    b.get(url).send().await.unwrap().status()
}

/// Every page and GET endpoint, with `{hall}` and `{node}` to fill in.
const PAGES: &[&str] = &[
    "/?node={node}",
    "/analysis?node={node}",
    "/halls/{hall}/board",
    "/strategy/service-hall?org={node}",
];
const APIS: &[&str] = &[
    "/api/v1/halls/{hall}/queue",
    "/api/v1/halls/{hall}/alerts",
    "/api/v1/halls/{hall}/tickets/A1",
    "/api/v1/kpi?org={node}&from=2026-08-01&to=2026-08-01",
    "/api/v1/analysis?journey=service-hall&org={node}",
    "/api/v1/qfd/service-hall?org={node}",
    "/api/v1/strategy/service-hall?org={node}",
];

peakend_testkit::on_both_backends!(anonymous_callers_are_sent_to_sign_in, |url| {
    let (base, _) = spawn(url).await;
    let b = browser();
    for page in PAGES.iter().chain(&[
        "/admin",
        "/journeys/service-hall",
        "/journeys/service-hall/poster",
    ]) {
        let page = page.replace("{node}", "p").replace("{hall}", "h1");
        let resp = b.get(format!("{base}{page}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{page}");
        assert!(
            resp.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next=/"),
            "{page}"
        );
    }
    for api in APIS
        .iter()
        .chain(&["/api/v1/org", "/api/v1/journeys", "/api/v1/me"])
    {
        let api = api.replace("{node}", "p").replace("{hall}", "h1");
        assert_eq!(
            status(&b, format!("{base}{api}")).await,
            StatusCode::UNAUTHORIZED,
            "{api}"
        );
    }
    // The login page itself and health are open.
    assert_eq!(status(&b, format!("{base}/login")).await, StatusCode::OK);
    assert_eq!(status(&b, format!("{base}/healthz")).await, StatusCode::OK);
    // A wrong password is refused without saying which half was wrong.
    let resp = b
        .post(format!("{base}/login"))
        .form(&[("name", "admin"), ("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.text().await.unwrap().contains("用户名或密码错误"));
    let resp = b
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"name": "nobody", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
});

peakend_testkit::on_both_backends!(a_hall_manager_sees_their_hall_only, |url| {
    let (base, _) = spawn(url).await;
    let (b, _) = sign_in(&base, "mgr1").await;
    for path in PAGES.iter().chain(APIS) {
        let own = path.replace("{node}", "h1").replace("{hall}", "h1");
        let got = status(&b, format!("{base}{own}")).await;
        // A ticket that is not waiting is 404 and a hall without answers has no analysis;
        // what matters is that neither is refused.
        assert!(
            got == StatusCode::OK
                || got == StatusCode::NOT_FOUND
                || got == StatusCode::UNPROCESSABLE_ENTITY,
            "{own}: {got}"
        );
        for other in ["h2", "d", "p"] {
            let path = path.replace("{node}", other).replace("{hall}", other);
            if path.contains("/halls/") && other != "h2" {
                continue;
            }
            assert_eq!(
                status(&b, format!("{base}{path}")).await,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
    }
    // Their org tree starts at their hall.
    let tree: Value = get_json(&b, format!("{base}/api/v1/org")).await;
    assert_eq!(tree.as_array().unwrap().len(), 1);
    assert_eq!(tree[0]["id"], "h1");
    // Defaults are their own node, not the province.
    let kpi: Value = get_json(
        &b,
        format!("{base}/api/v1/kpi?from=2026-08-01&to=2026-08-01"),
    )
    .await;
    assert_eq!(kpi["total"]["arrivals"], 0, "{kpi}");
    // No admin page for a hall manager's users; devices of their own hall only.
    let admin = b.get(format!("{base}/admin")).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    let html = admin.text().await.unwrap();
    assert!(!html.contains("添加用户"));
    assert!(
        html.contains("人民路营业厅") && !html.contains("解放路营业厅"),
        "{html}"
    );
});

peakend_testkit::on_both_backends!(forms_and_cookie_posts_need_the_csrf_token, |url| {
    let (base, store) = spawn(url).await;
    let (b, csrf) = sign_in(&base, "admin").await;
    let add = |csrf: Option<String>, name: &'static str| {
        let b = b.clone();
        let base = base.clone();
        async move {
            let mut form = vec![
                ("name", name.to_owned()),
                ("role", "frontline".into()),
                ("org", "h2".into()),
            ];
            if let Some(c) = csrf {
                form.push(("csrf", c));
            }
            b.post(format!("{base}/admin/users"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(add(None, "forged").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        add(Some("0".repeat(64)), "forged").await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        store
            .user_credentials(&UserName::parse("forged").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // With the token: the user is created and their one-time password shown once.
    let resp = add(Some(csrf.clone()), "staff2").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let start = html.find("<code id=\"secret\">").unwrap() + "<code id=\"secret\">".len();
    let password = &html[start..start + 16];
    let login = browser()
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"name": "staff2", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let me: Value = login.json().await.unwrap();
    assert_eq!(
        (me["user"]["role"].as_str(), me["user"]["org"].as_str()),
        (Some("frontline"), Some("h2"))
    );

    // A JSON POST with only the cookie needs the header too.
    let post = b
        .post(format!("{base}/api/v1/journeys/service-hall/responses"))
        .json(&json!({"respondent": "r1", "hall": "h1", "date": "2026-08-01", "segment": "g", "overall": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::FORBIDDEN);
    let post = b
        .post(format!("{base}/api/v1/journeys/service-hall/responses"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"respondent": "r1", "hall": "h1", "date": "2026-08-01", "segment": "g", "overall": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::CREATED);

    // Logging out ends the session on the server, not just in the browser.
    let out = b
        .post(format!("{base}/logout"))
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        status(&b, format!("{base}/api/v1/me")).await,
        StatusCode::UNAUTHORIZED
    );
});

peakend_testkit::on_both_backends!(
    frontline_staff_acknowledge_alerts_but_do_not_load_data,
    |url| {
        let (base, store) = spawn(url).await;
        // A ticket that has waited 20 minutes today: a care alert is open now.
        let token = store
            .create_device_token(&HallId::parse("h1").unwrap())
            .await
            .unwrap();
        let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let now = chrono::Utc::now().with_timezone(&offset);
        let earlier = now - chrono::Duration::minutes(20);
        let batch = format!(
            "{{\"id\":\"o1\",\"hall\":\"h1\",\"type\":\"counter_opened\",\"at\":\"{}\",\"counter\":\"c10\"}}\n\
         {{\"id\":\"o2\",\"hall\":\"h1\",\"type\":\"counter_opened\",\"at\":\"{0}\",\"counter\":\"c2\"}}\n\
         {{\"id\":\"t1\",\"hall\":\"h1\",\"type\":\"ticket_issued\",\"at\":\"{}\",\"ticket\":\"A1\",\"service\":\"payment\"}}",
            earlier.to_rfc3339(),
            earlier.to_rfc3339()
        );
        // Near midnight the ticket would fall on yesterday; the story needs today's.
        if earlier.date_naive() != now.date_naive() {
            return;
        }
        let resp = reqwest::Client::new()
            .post(format!("{base}/api/v1/events"))
            .bearer_auth(&token)
            .body(batch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);

        let (b, csrf) = sign_in(&base, "staff1").await;
        let board = b
            .get(format!("{base}/halls/h1/board"))
            .send()
            .await
            .unwrap();
        assert_eq!(board.status(), StatusCode::OK);
        let html = board.text().await.unwrap();
        let id_at = html
            .find("data-alert=\"")
            .expect("the open alert is on the board")
            + "data-alert=\"".len();
        let id = html[id_at..].split('"').next().unwrap().to_owned();
        assert!(id.starts_with("h1~care_due~A1~"), "{id}");
        // What misses its standard says so in words, not colour only: the customer
        // past the care limit, the care-alert card; counters as the hall numbers them.
        assert!(
            html.contains(r#"<tr data-ticket="A1" class="late">"#),
            "{html}"
        );
        assert!(html.contains("超过关怀时限") && html.contains("有顾客等候超过关怀时限"));
        assert!(
            html.contains(r#"<span id="counters">c2 · c10</span>"#),
            "{html}"
        );
        assert!(html.contains(r#"id="hall-clock""#) && html.contains(r#"aria-live="polite""#));
        let ack = b
            .post(format!("{base}/api/v1/alerts/{id}/ack"))
            .header("x-csrf-token", &csrf)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(ack.status(), StatusCode::OK);
        let all: Value = get_json(&b, format!("{base}/api/v1/halls/h1/alerts?state=all")).await;
        assert_eq!(
            all[0]["acked_by"], "staff1",
            "the user, not what the body claims"
        );
        // Once handled the alert leaves the open list, which says it is empty, and
        // stays in today's alerts with who handled it.
        let html = b
            .get(format!("{base}/halls/h1/board"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("data-alert=\""), "{html}");
        assert!(html.contains("没有未处理的提醒"));
        let today = html.split(r#"id="day-alerts""#).nth(1).unwrap();
        assert!(
            today.contains("A1 — 已处理") && today.contains("staff1"),
            "{today}"
        );
        // The cards the board refreshes after events, from the hall's roll-up.
        let kpis: Value = get_json(&b, format!("{base}/halls/h1/board/kpis?lang=en")).await;
        let card = |key: &str| {
            kpis["cards"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["key"] == key)
                .unwrap()
                .clone()
        };
        assert_eq!(card("arrivals")["value"], "1");
        assert_eq!(card("care_alerts")["value"], "1");
        assert_eq!(
            card("care_alerts")["miss"],
            "Customers waited past the care limit"
        );
        assert_eq!(card("served")["miss"], "");
        // Another hall's cards are not this user's to read.
        assert_eq!(
            status(&b, format!("{base}/halls/h2/board/kpis")).await,
            StatusCode::FORBIDDEN
        );
        // They may not load survey data, nor reach another hall's alerts.
        let post = b
            .post(format!("{base}/api/v1/journeys/service-hall/responses"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"respondent": "r1", "hall": "h1", "date": "2026-08-01", "segment": "g"}))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            status(&b, format!("{base}/api/v1/halls/h2/alerts")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(&b, format!("{base}/admin")).await,
            StatusCode::FORBIDDEN
        );
    }
);

peakend_testkit::on_both_backends!(a_director_drills_down_the_province, |url| {
    let (base, _) = spawn(url).await;
    let (b, _) = sign_in(&base, "boss").await;
    let html = b
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("示范省") && html.contains("东江市"),
        "the province with its city below"
    );
    assert!(html.contains("data-hall=\"h1\"") && html.contains("data-hall=\"h2\""));
    // Sales beside service (issue 23), for the node and its child, even with none sold.
    assert!(
        html.contains(r#"<div class="card" data-figure="sales"><div class="n">0</div><div class="muted">今日销售</div>"#)
            && html.contains(r#"data-child="c""#)
            && html.contains(r#"<span data-figure="sales">0</span>"#),
        "{html}"
    );
    let html = b
        .get(format!("{base}/?node=h2&lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("解放路营业厅") && html.contains("Service level"));
    assert!(html.contains("Sales today") && html.contains("Sales lines"));
    assert!(!html.contains("data-hall=\"h1\""));
});
