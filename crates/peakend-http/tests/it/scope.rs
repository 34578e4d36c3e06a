//! Issue 19: every route × every role × a node outside the role's scope is refused (403
//! or 404) with nothing of the other node in the answer. One table over the router; a
//! route the table names must exist (the same request inside the scope is not refused
//! and is not "no route"), so a renamed route cannot pass by being missing.

use crate::helpers;

use helpers::{Setup, TestApp};
use peakend_core::{HallId, OrgLevel, OrgNode, Role};
use peakend_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::json;
/// What must never appear in an answer about the other province.
const SECRETS: [&str; 3] = ["另一省", "秘密营业厅", "secret-purpose"];

fn node(id: &str, parent: Option<&str>, level: OrgLevel, name: &str) -> OrgNode {
    OrgNode {
        name: name.into(),
        ..peakend_testkit::org_node(id, parent, level, 4, 1)
    }
}

const USERS: [(&str, Role, &str); 5] = [
    ("admin", Role::Admin, "p"),
    ("boss", Role::Director, "p"),
    ("reg", Role::RegionalManager, "d"),
    ("mgr", Role::HallManager, "h1"),
    ("staff", Role::Frontline, "h1"),
];

/// Two provinces: ours (p → c → d → h1, h2; and c → d3 → h3) and another (p2 → … → h9),
/// whose hall has events and a survey answer that must not leak; a signed-in client per
/// user.
async fn spawn(url: &str) -> (TestApp, Vec<(&'static str, reqwest::Client)>) {
    let mut org = peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]);
    org.extend([
        node("d3", Some("c"), OrgLevel::District, "新区"),
        node("h3", Some("d3"), OrgLevel::Hall, "新区营业厅"),
        node("p2", None, OrgLevel::Province, "另一省"),
        node("c2", Some("p2"), OrgLevel::City, "另一市"),
        node("d2", Some("c2"), OrgLevel::District, "另一区"),
        node("h9", Some("d2"), OrgLevel::Hall, "秘密营业厅"),
    ]);
    let app = TestApp::spawn_with(
        url,
        Setup {
            org,
            users: USERS.to_vec(),
            ..Setup::default()
        },
    )
    .await;
    let store = &app.store;
    let h9 = HallId::parse("h9").unwrap();
    let events = [
        r#"{"id":"e1","hall":"h9","type":"counter_opened","at":"2026-08-07T08:30:00+08:00","counter":"c1"}"#,
        r#"{"id":"e2","hall":"h9","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A1","service":"payment"}"#,
    ];
    let batch = peakend_testkit::event_batch(&events);
    store.ingest_events(&h9, batch, Vec::new()).await.unwrap();
    let journey = store
        .journey(&peakend_core::JourneyKey::parse("service-hall").unwrap())
        .await
        .unwrap()
        .unwrap();
    let form: peakend_io::survey_json::ResponseForm = serde_json::from_value(json!({
        "respondent": "r-secret", "hall": "h9", "date": "2026-08-07", "segment": "全球通",
        "purpose": "secret-purpose", "overall": 3
    }))
    .unwrap();
    let response = form.parse(&journey, None).unwrap();
    store.import_responses(&journey, &[response]).await.unwrap();
    let mut clients = Vec::new();
    for (name, _, _) in USERS {
        clients.push((name, app.user(name).await));
    }
    (app, clients)
}

/// A request of the table: method, path with `{h}` (a hall) and `{n}` (a node), body.
struct Route {
    method: Method,
    path: &'static str,
    body: Body,
}

enum Body {
    None,
    Json(&'static str),
    Form(&'static [(&'static str, &'static str)]),
    Csv(&'static str),
}

fn routes() -> Vec<Route> {
    use Body::*;
    let get = |path| Route {
        method: Method::GET,
        path,
        body: None,
    };
    vec![
        get("/?node={n}"),
        get("/analysis?node={n}"),
        get("/kpi?node={n}"),
        get("/overview/trend?node={n}"),
        get("/kpi/export?node={n}"),
        get("/halls/{h}/board"),
        get("/halls/{h}/board/kpis"),
        get("/halls/{h}/blueprint"),
        get("/halls/{h}/poster"),
        get("/halls/{h}/questionnaire"),
        get("/api/v1/halls/{h}/queue"),
        get("/api/v1/halls/{h}/alerts?state=all"),
        get("/api/v1/halls/{h}/tickets/A1"),
        get("/api/v1/halls/{h}/live"),
        get("/api/v1/kpi?org={n}&from=2026-08-07&to=2026-08-07"),
        get("/api/v1/survey/rates?org={n}&from=2026-08-07&to=2026-08-07"),
        get("/api/v1/survey/waits?org={n}&from=2026-08-07&to=2026-08-07"),
        get("/api/v1/customers?org={n}&from=2026-08-07&to=2026-08-07"),
        get("/api/v1/analysis?org={n}&journey=service-hall"),
        get("/api/v1/org/{n}/journey"),
        get("/api/v1/strategy/service-hall?org={n}"),
        get("/api/v1/strategy/service-hall/export?org={n}&format=csv"),
        get("/strategy/service-hall?org={n}"),
        Route {
            method: Method::PUT,
            path: "/api/v1/strategy/service-hall?org={n}",
            body: Json(r#"{"theme":"efficiency"}"#),
        },
        Route {
            method: Method::PUT,
            path: "/api/v1/org/{n}/journey",
            body: Json(r#"{"journey":"service-hall"}"#),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/alerts/{h}~care_due~A1~1786067100000/ack",
            body: Json(r#"{"by":"someone"}"#),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/journeys/service-hall/responses",
            body: Json(
                r#"{"respondent":"x{h}","hall":"{h}","date":"2026-08-07","segment":"全球通","overall":8}"#,
            ),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/journeys/service-hall/responses/import",
            body: Csv("respondent,hall,date,segment,overall\ny{h},{h},2026-08-07,全球通,8\n"),
        },
        Route {
            method: Method::POST,
            path: "/admin/tokens",
            body: Form(&[("hall", "{h}")]),
        },
        Route {
            method: Method::POST,
            path: "/admin/users",
            body: Form(&[("name", "new{h}"), ("role", "frontline"), ("org", "{n}")]),
        },
    ]
}

async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    route: &Route,
    hall: &str,
    node: &str,
) -> (StatusCode, String) {
    let fill = |s: &str| s.replace("{h}", hall).replace("{n}", node);
    let req = client.request(route.method.clone(), app.url(&fill(route.path)));
    let req = match &route.body {
        Body::None => req,
        Body::Json(b) => req.header("content-type", "application/json").body(fill(b)),
        Body::Csv(b) => req.header("content-type", "text/csv").body(fill(b)),
        Body::Form(f) => {
            let form: Vec<(String, String)> =
                f.iter().map(|(k, v)| (k.to_string(), fill(v))).collect();
            req.form(&form)
        }
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    // A live stream that is allowed does not end: its first bytes are enough.
    let text = if status.is_success() && route.path.ends_with("/live") {
        String::new()
    } else {
        resp.text().await.unwrap_or_default()
    };
    (status, text)
}

/// (hall, node) outside each user's scope, and one inside it.
fn targets(
    user: &str,
) -> (
    Vec<(&'static str, &'static str)>,
    (&'static str, &'static str),
) {
    let mut outside = vec![("h9", "p2"), ("h9", "d2")];
    let inside = match user {
        "admin" | "boss" => ("h1", "p"),
        "reg" => {
            outside.extend([("h3", "d3"), ("h3", "c"), ("h3", "p")]);
            ("h1", "d")
        }
        _ => {
            outside.extend([("h2", "h2"), ("h2", "d"), ("h3", "p")]);
            ("h1", "h1")
        }
    };
    (outside, inside)
}

peakend_testkit::on_both_backends!(no_role_reaches_outside_its_scope, |url| {
    let (app, clients) = spawn(url).await;
    for (user, client) in &clients {
        let (outside, (own_hall, own_node)) = targets(user);
        for route in routes() {
            // The route exists: inside the scope it is not refused for scope or missing.
            let (status, text) = call(&app, client, &route, own_hall, own_node).await;
            assert!(
                !text.contains("no route for"),
                "{user} {} {}: {status} {text}",
                route.method,
                route.path
            );
            for (hall, node) in &outside {
                let (status, text) = call(&app, client, &route, hall, node).await;
                assert!(
                    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                    "{user} {} {} at {hall}/{node}: {status} {text}",
                    route.method,
                    route.path
                );
                for secret in SECRETS {
                    assert!(
                        !text.contains(secret),
                        "{user} {} {} at {hall}/{node} leaks {secret}: {text}",
                        route.method,
                        route.path
                    );
                }
            }
        }
    }
});
