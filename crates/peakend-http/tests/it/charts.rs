//! The analysis page's charts come with what an honest reading needs (issue 25), on
//! both backends: each moment's figures with 95 % intervals in a table under the
//! charts, and the same moments compared across the node's children, shaded by their
//! gap to the node, on answers whose means are worked by hand.

use crate::helpers;

use helpers::{Setup, TestApp};
use peakend_core::Role;
use reqwest::StatusCode;
use serde_json::json;

peakend_testkit::on_both_backends!(the_analysis_page_tables_and_compares_its_charts, |url| {
    let app = TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
            users: vec![("admin", Role::Admin, "p")],
            ..Setup::default()
        },
    )
    .await;
    let admin = app.user("admin").await;
    // The queue rated 6 and 8 at h1 (mean 7), 9 and 9 at h2 (mean 9): 8 for the district.
    for (id, hall, sat) in [
        ("a", "h1", 6),
        ("b", "h1", 8),
        ("c", "h2", 9),
        ("d", "h2", 9),
    ] {
        let answer = json!({"respondent": id, "hall": hall, "date": "2024-05-01",
            "segment": "全球通", "overall": 8, "nps": 8,
            "ratings": {"queue": {"importance": 9, "satisfaction": sat},
                        "leave": {"importance": 6, "satisfaction": 8}}});
        let resp = admin
            .post(app.url("/api/v1/journeys/service-hall/responses"))
            .json(&answer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let (browser, _) = app.sign_in("admin").await;
    let page = |q: &str| {
        let b = browser.clone();
        let url = app.url(&format!("/analysis?journey=service-hall&{q}"));
        async move { b.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let row = |html: &str, table: &str, name: &str| -> String {
        let t = html.split(&format!(r#"id="{table}""#)).nth(1).unwrap();
        let t = &t[..t.find("</table>").unwrap()];
        let r = t
            .split(&format!(r#"<th scope="row">{name}"#))
            .nth(1)
            .unwrap_or_else(|| panic!("{name} not in {table}: {t}"));
        r[..r.find("</tr>").unwrap()].to_owned()
    };

    let html = page("node=d").await;
    // The curve's table: the queue's mean, its interval and its n.
    let queue = row(&html, "curve-table", "排队等候");
    assert!(
        queue.contains("<td>8.00</td>") && queue.contains("<td>4</td>"),
        "{queue}"
    );
    assert!(
        queue.matches('–').count() >= 1,
        "an interval is shown: {queue}"
    );
    // The comparison: the district's halls, each with its respondents, shaded by the gap.
    assert!(html.contains(r#"id="compare-table""#), "{html:.400}");
    assert!(html.contains("人民路营业厅 <span class=\"muted\">(2)</span>"));
    let cmp = row(&html, "compare-table", "排队等候");
    assert!(cmp.contains(r#"<td class="s-2">7.00</td>"#), "{cmp}");
    assert!(cmp.contains(r#"<td class="s2">9.00</td>"#), "{cmp}");
    // The quadrant's and drivers' tables are there for every moment charted.
    assert!(html.contains(r#"id="quadrant-table""#) && html.contains(r#"id="drivers-table""#));
    // The chart data carries the intervals the whiskers draw.
    assert!(html.contains("\"satisfaction_ci\":["), "{html:.400}");

    // A hall has no children to compare.
    let html = page("node=h1").await;
    assert!(!html.contains(r#"id="compare-table""#));
    let queue = row(&html, "curve-table", "排队等候");
    assert!(
        queue.contains("<td>7.00</td>") && queue.contains("<td>2</td>"),
        "{queue}"
    );
    // In English too.
    let html = page("node=d&lang=en").await;
    assert!(html.contains("Comparison") && html.contains("View as table"));

    // The blueprint shows each moment's satisfaction now (the admin's node: all four
    // answers), and a stage at a time.
    let get = |path: &str| {
        let b = browser.clone();
        let url = app.url(path);
        async move {
            let r = b.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, html) = get("/journeys/service-hall").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"<div class="perf" data-performance="queue">当前满意度 8.00（n=4）</div>"#),
        "{html:.500}"
    );
    // Its importance now beside it, and four answers flagged as a small sample.
    assert!(
        html.contains(r#"<div class="perf-imp" data-importance-now="queue">当前重要性 "#),
        "{html:.500}"
    );
    assert!(html.contains(r#"data-small-sample="queue""#) && html.contains(">样本少</span>"));
    // A moment nobody rated has neither figure nor flag.
    let find = html.split(r#"data-moment="find""#).nth(1).unwrap();
    let find = &find[..find.find("</th>").unwrap()];
    assert!(
        !find.contains("data-small-sample") && !find.contains("data-importance-now"),
        "{find}"
    );
    let (_, html) = get("/journeys/service-hall?stage=business_flow&lang=en").await;
    assert!(html.contains(r#"data-importance-now="queue">Importance now "#));
    assert!(html.contains(">small sample</span>"));
    let (_, html) = get("/journeys/service-hall?stage=people_flow").await;
    assert_eq!(
        html.matches("data-moment=\"").count(),
        3,
        "find, arrive, storefront"
    );
    assert!(html.contains(r#"data-moment="find""#) && !html.contains(r#"data-moment="queue""#));
    assert!(html.contains(r#"?stage=people_flow" aria-current="page""#));
    let (status, _) = get("/journeys/service-hall?stage=everything").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
});
