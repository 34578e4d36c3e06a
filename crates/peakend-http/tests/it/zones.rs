//! Issue 18: time zones from the organisation. A province in Asia/Urumqi (UTC+6) has
//! its halls' days, live queue and KPI buckets at its own midnight; `tz` still overrides
//! the report's offset; a node without a zone inherits its parent's.

use crate::helpers;

use helpers::{FetchJson, Setup, TestApp};
use peakend_core::time::Zone;
use peakend_core::{OrgLevel, OrgNode, Role};
use serde_json::Value;

fn node(id: &str, parent: Option<&str>, level: OrgLevel, tz: Option<&str>) -> OrgNode {
    OrgNode {
        tz: tz.map(|z| Zone::parse(z).unwrap()),
        ..peakend_testkit::org_node(id, parent, level, 4, 0)
    }
}

peakend_testkit::on_both_backends!(a_hall_s_day_is_its_zone_s, |url| {
    let mut org = peakend_testkit::small_org(&[("h1", "一厅")]);
    org.extend([
        node("x", None, OrgLevel::Province, Some("Asia/Urumqi")),
        node("x-h", Some("x"), OrgLevel::Hall, None),
    ]);
    let app = TestApp::spawn_with(
        url,
        Setup {
            org,
            users: vec![("admin", Role::Admin, "p"), ("xadmin", Role::Admin, "x")],
            ..Setup::default()
        },
    )
    .await;
    let (device, _) = app.device("x-h").await;
    // 21:00 on the 7th in Urumqi is 23:00 in Beijing; 23:00 is 01:00 on the 8th there.
    let out: Value = device
        .post(app.url("/api/v1/events"))
        .body(concat!(
            r#"{"id":"e1","hall":"x-h","type":"ticket_issued","at":"2026-08-07T21:00:00+06:00","ticket":"A1","service":"payment"}"#,
            "\n",
            r#"{"id":"e2","hall":"x-h","type":"ticket_issued","at":"2026-08-07T23:00:00+06:00","ticket":"A2","service":"payment"}"#,
        ))
        .fetch_json()
        .await;
    assert_eq!(out["accepted"], 2, "{out}");

    // At 00:30 Beijing time it is still the 7th in Urumqi: the ticket is waiting.
    let queue: Value = device
        .get(app.url("/api/v1/halls/x-h/queue?at=2026-08-08T00:30:00%2B08:00"))
        .fetch_json()
        .await;
    assert_eq!(queue["waiting"].as_array().unwrap().len(), 1, "{queue}");

    // The KPI day of the province is Urumqi's 7th (both tickets); at +08:00 the second
    // ticket is the 8th's.
    let admin = app.user("xadmin").await;
    let kpi = |query: &'static str| {
        let admin = admin.clone();
        let url = app.url(&format!("/api/v1/kpi?org=x&{query}"));
        async move { admin.get(url).fetch_json().await }
    };
    let own = kpi("from=2026-08-07&to=2026-08-07").await;
    assert_eq!(own["total"]["arrivals"], 2, "{own}");
    assert_eq!(
        own["buckets"][0]["key"], "2026-08-07T00:00:00+06:00",
        "{own}"
    );
    let beijing = kpi("from=2026-08-07&to=2026-08-07&tz=%2B08:00").await;
    assert_eq!(beijing["total"]["arrivals"], 1, "{beijing}");
    let next = kpi("from=2026-08-08&to=2026-08-08&tz=%2B08:00").await;
    assert_eq!(next["total"]["arrivals"], 1, "{next}");

    // The tree shows each node's own zone and the one it lives in.
    let tree: Value = admin.get(app.url("/api/v1/org")).fetch_json().await;
    assert_eq!(tree[0]["tz"], "Asia/Urumqi", "{tree}");
    let hall = &tree[0]["children"][0];
    assert_eq!(hall["zone"], "Asia/Urumqi", "{hall}");
    assert!(hall.get("tz").is_none());
    let other: Value = app
        .user("admin")
        .await
        .get(app.url("/api/v1/org"))
        .fetch_json()
        .await;
    assert_eq!(other[0]["zone"], "Asia/Shanghai", "the default: {other}");
});
