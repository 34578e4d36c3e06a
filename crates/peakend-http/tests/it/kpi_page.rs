//! The KPI page (issue 25) on both backends: a hall's scripted day read by hour,
//! counter and staff member with its device ratings, figures worked by hand, and the
//! same tables as CSV and XLSX; another hall is refused.

use crate::helpers;

use helpers::{Setup, TestApp};
use peakend_core::{HallId, Role};
use peakend_store::Store;
use reqwest::StatusCode;

/// A1 waits 5 min at c10 (s1, 5 min of service, rated 5/5); A2 waits 20 min at c2
/// (s2, 2 min, rated 3/5: a care alert at 15 min); A3 leaves after 3 min.
const DAY: &[&str] = &[
    r#"{"id":"1","hall":"h1","type":"counter_opened","at":"2026-08-07T08:55:00+08:00","counter":"c10"}"#,
    r#"{"id":"2","hall":"h1","type":"counter_opened","at":"2026-08-07T08:55:00+08:00","counter":"c2"}"#,
    r#"{"id":"3","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A1","service":"payment"}"#,
    r#"{"id":"4","hall":"h1","type":"called","at":"2026-08-07T09:05:00+08:00","ticket":"A1","counter":"c10","staff":"s1"}"#,
    r#"{"id":"5","hall":"h1","type":"service_started","at":"2026-08-07T09:05:00+08:00","ticket":"A1","counter":"c10"}"#,
    r#"{"id":"6","hall":"h1","type":"service_ended","at":"2026-08-07T09:10:00+08:00","ticket":"A1","counter":"c10","outcome":"done"}"#,
    r#"{"id":"7","hall":"h1","type":"rated","at":"2026-08-07T09:10:30+08:00","ticket":"A1","score":5,"scale":5}"#,
    r#"{"id":"8","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:10:00+08:00","ticket":"A2","service":"payment"}"#,
    r#"{"id":"9","hall":"h1","type":"called","at":"2026-08-07T09:30:00+08:00","ticket":"A2","counter":"c2","staff":"s2"}"#,
    r#"{"id":"10","hall":"h1","type":"service_started","at":"2026-08-07T09:30:00+08:00","ticket":"A2","counter":"c2"}"#,
    r#"{"id":"11","hall":"h1","type":"service_ended","at":"2026-08-07T09:32:00+08:00","ticket":"A2","counter":"c2","outcome":"done"}"#,
    r#"{"id":"12","hall":"h1","type":"rated","at":"2026-08-07T09:32:30+08:00","ticket":"A2","score":3,"scale":5}"#,
    r#"{"id":"13","hall":"h1","type":"ticket_issued","at":"2026-08-07T10:00:00+08:00","ticket":"A3","service":"payment"}"#,
    r#"{"id":"14","hall":"h1","type":"left","at":"2026-08-07T10:03:00+08:00","ticket":"A3"}"#,
];

fn row<'a>(html: &'a str, table: &str, name: &str) -> &'a str {
    let t = html
        .split(&format!(r#"id="kpi-{table}""#))
        .nth(1)
        .unwrap_or_else(|| panic!("no table {table}"));
    let t = &t[..t.find("</table>").unwrap()];
    let r = t
        .split(&format!(r#"<th scope="row">{name}</th>"#))
        .nth(1)
        .unwrap_or_else(|| panic!("no row {name} in {table}: {t}"));
    &r[..r.find("</tr>").unwrap()]
}

peakend_testkit::on_both_backends!(
    the_kpi_page_reads_a_hall_day_by_hour_counter_and_staff,
    |url| {
        let now = chrono::DateTime::parse_from_rfc3339("2026-08-07T18:00:00+08:00").unwrap();
        let app = TestApp::spawn_with(
            url,
            Setup {
                org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
                users: vec![("mgr", Role::HallManager, "h1")],
                clock: Some(peakend_http::live::Clock::accelerated(now, 0.0)),
                ..Setup::default()
            },
        )
        .await;
        let out = app
            .store
            .ingest_events(
                &HallId::parse("h1").unwrap(),
                peakend_testkit::event_batch(DAY),
                Vec::new(),
            )
            .await
            .unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let (mgr, _) = app.sign_in("mgr").await;
        let get = |path: &str| {
            let mgr = mgr.clone();
            let url = app.url(path);
            async move {
                let r = mgr.get(url).send().await.unwrap();
                (r.status(), r.headers().clone(), r.bytes().await.unwrap())
            }
        };

        // Today by default, in the hall's zone.
        let (status, _, body) = get("/kpi?node=h1").await;
        assert_eq!(status, StatusCode::OK);
        let html = String::from_utf8(body.to_vec()).unwrap();
        // Arrivals, served, abandonment, service level, avg wait, avg service, longest
        // wait, over system time (2.5 min), device rating, top ratings, ratings, care, sales.
        assert!(
        row(&html, "total", "全部").contains(
            "<td>3</td><td>2</td><td>33.3%</td><td>33.3%</td><td>12.5</td><td>3.5</td><td>20.0</td><td>50.0%</td><td>4.00</td><td>50.0%</td><td>2</td><td>1</td><td>0</td>"
        ),
        "{html}"
    );
        assert!(row(&html, "hours", "09:00").starts_with("<td>2</td><td>2</td>"));
        assert!(row(&html, "hours", "10:00").starts_with("<td>1</td><td>0</td><td>100.0%</td>"));
        // Counters as the hall numbers them, within the hall without its id.
        let counters = html.split(r#"id="kpi-counters""#).nth(1).unwrap();
        assert!(counters.find(">c2<").unwrap() < counters.find(">c10<").unwrap());
        assert!(row(&html, "counters", "c10").contains("<td>5.0</td><td>5.0</td>"));
        assert!(row(&html, "staff", "s2").contains("<td>3.00</td>"));
        assert!(
            !html.contains(r#"id="kpi-halls""#),
            "a hall has no by-hall table"
        );

        // The same tables as CSV, a section column first.
        let (status, headers, body) = get("/kpi/export?node=h1&format=csv&lang=en").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .contains("kpi-h1-2026-08-07-2026-08-07.csv")
        );
        let csv = String::from_utf8(body.to_vec()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].starts_with("section,name,Arrivals,Served"),
            "{csv}"
        );
        assert!(
            lines.contains(&"total,All,3,2,33.3%,33.3%,12.5,3.5,20.0,50.0%,4.00,50.0%,2,1,0"),
            "{csv}"
        );
        assert!(
            lines.contains(&"counters,c2,1,1,0.0%,0.0%,20.0,2.0,20.0,0.0%,3.00,0.0%,1,1,0"),
            "{csv}"
        );
        // And as a workbook.
        let (status, headers, body) = get("/kpi/export?node=h1&format=xlsx").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .contains("spreadsheetml")
        );
        assert!(body.starts_with(b"PK"));

        // Bad input is the client's, named; another hall is refused.
        let (status, _, _) = get("/kpi?node=h1&from=2026-08-07&to=2026-08-01").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = get("/kpi/export?node=h1&format=pdf").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = get("/kpi?node=h2").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = get("/kpi/export?node=h2").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
);

peakend_testkit::on_both_backends!(
    a_province_page_reads_its_children_and_leaves_the_detail_to_the_export,
    |url| {
        let now = chrono::DateTime::parse_from_rfc3339("2026-08-07T18:00:00+08:00").unwrap();
        let app = TestApp::spawn_with(
            url,
            Setup {
                org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
                users: vec![("dir", Role::Director, "p")],
                clock: Some(peakend_http::live::Clock::accelerated(now, 0.0)),
                ..Setup::default()
            },
        )
        .await;
        app.store
            .ingest_events(
                &HallId::parse("h1").unwrap(),
                peakend_testkit::event_batch(DAY),
                Vec::new(),
            )
            .await
            .unwrap();
        let (dir, _) = app.sign_in("dir").await;
        let get = |path: &str| {
            let dir = dir.clone();
            let url = app.url(path);
            let path = path.to_owned();
            async move {
                let r = dir.get(url).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{path}");
                String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap()
            }
        };
        // The province: its city, summed from the halls' sums (the hall's day), and no
        // table of halls, counters or staff: those are in the export.
        let html = get("/kpi?node=p").await;
        assert!(html.contains("按城市"), "{html}");
        assert!(row(&html, "children", "东江市").starts_with("<td>3</td><td>2</td><td>33.3%</td>"));
        for table in ["halls", "counters", "staff"] {
            assert!(!html.contains(&format!(r#"id="kpi-{table}""#)), "{table}");
        }
        assert!(html.contains(r#"id="kpi-detail-note""#));
        let csv = get("/kpi/export?node=p&format=csv&lang=en").await;
        assert!(
            csv.lines().any(|l| l.starts_with("children,东江市,3,2,")),
            "{csv}"
        );
        assert!(
            csv.lines()
                .any(|l| l.starts_with("halls,人民路营业厅,3,2,")),
            "{csv}"
        );
        assert!(
            csv.lines()
                .any(|l| l.starts_with("counters,人民路营业厅 / c2,1,1,")),
            "{csv}"
        );
        // A city: its districts and its halls by name, still no counters.
        let html = get("/kpi?node=c&lang=en").await;
        assert!(html.contains("By district"), "{html}");
        assert!(row(&html, "children", "城区").starts_with("<td>3</td>"));
        assert!(row(&html, "halls", "人民路营业厅").starts_with("<td>3</td>"));
        assert!(!html.contains(r#"id="kpi-counters""#));
        // A district: its halls, counters and staff named by hall.
        let html = get("/kpi?node=d").await;
        assert!(!html.contains(r#"id="kpi-children""#));
        assert!(row(&html, "counters", "人民路营业厅 / c10").contains("<td>5.0</td>"));
        assert!(!html.contains(r#"id="kpi-detail-note""#));
    }
);
