//! Service and sales shown together (issue 23): the KPI API's sales and its
//! `peaks_vs_sales` section, and the overview and live board pages with sales beside
//! service, on SQLite and PostgreSQL.

use crate::helpers;

use helpers::{FetchJson, Setup, TestApp};
use peakend_core::{HallId, Role};
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::Value;

const HALLS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];

/// Hall `hN` (N of 1–5) serves 10 phone visits and sells N phones; its answers rate
/// every moment 4 + N: its peaks' satisfaction and its sales per served visit rank
/// the halls alike (ρ = 1). h6 sells 9 but has no answer: left out. h1 also runs two
/// data trials, one bought.
fn day_of(hall: &str, n: usize) -> Vec<String> {
    let at = |m: usize| format!("2026-08-07T{:02}:{:02}:00+08:00", 9 + m / 60, m % 60);
    let ev = |id: String, m: usize, kind: &str, fields: String| {
        format!(
            r#"{{"id":"{id}","hall":"{hall}","type":"{kind}","at":"{}",{fields}}}"#,
            at(m)
        )
    };
    let mut out = Vec::new();
    for t in 0..10 {
        let m = t * 6;
        let tk = format!("P{t}");
        out.push(ev(
            format!("i{t}"),
            m,
            "ticket_issued",
            format!(r#""ticket":"{tk}","service":"phone""#),
        ));
        out.push(ev(
            format!("c{t}"),
            m + 1,
            "called",
            format!(r#""ticket":"{tk}","counter":"c1","staff":"s1""#),
        ));
        out.push(ev(
            format!("s{t}"),
            m + 1,
            "service_started",
            format!(r#""ticket":"{tk}","counter":"c1""#),
        ));
        if t < n {
            out.push(ev(
                format!("sale{t}"),
                m + 3,
                "sale",
                format!(r#""ticket":"{tk}","category":"phone","amount":2999"#),
            ));
        }
        out.push(ev(
            format!("e{t}"),
            m + 4,
            "service_ended",
            format!(r#""ticket":"{tk}","counter":"c1","outcome":"done""#),
        ));
    }
    if hall == "h1" {
        for (t, bought) in [("T1", true), ("T2", false)] {
            out.push(ev(
                format!("{t}s"),
                2,
                "trial_started",
                format!(r#""trial":"{t}","ticket":"P0""#),
            ));
            out.push(ev(
                format!("{t}e"),
                5,
                "trial_ended",
                format!(r#""trial":"{t}","purchased":{bought}"#),
            ));
        }
    }
    out
}

peakend_testkit::on_both_backends!(sales_stand_beside_service_in_api_and_pages, |url| {
    let halls: Vec<(&str, &str)> = HALLS.iter().map(|h| (*h, "营业厅")).collect();
    let mut org = peakend_testkit::small_org(&halls);
    for n in &mut org {
        if let Some(i) = HALLS.iter().position(|h| *h == n.id.as_str()) {
            n.name = format!("{}号厅", i + 1);
        }
    }
    let now = chrono::DateTime::parse_from_rfc3339("2026-08-07T18:00:00+08:00").unwrap();
    let app = TestApp::spawn_with(
        url,
        Setup {
            org,
            users: vec![
                ("admin", Role::Admin, "p"),
                ("mgr", Role::HallManager, "h1"),
            ],
            clock: Some(peakend_http::live::Clock::accelerated(now, 0.0)),
            ..Setup::default()
        },
    )
    .await;
    for (i, hall) in HALLS.iter().enumerate() {
        let n = if *hall == "h6" { 9 } else { i + 1 };
        let lines = day_of(hall, n);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let out = app
            .store
            .ingest_events(
                &HallId::parse(*hall).unwrap(),
                peakend_testkit::event_batch(&refs),
                Vec::new(),
            )
            .await
            .unwrap();
        assert!(out.rejected.is_empty(), "{hall}: {:?}", out.rejected);
    }
    // 60 answers a hall for h1–h5, every moment rated 4 + N.
    let journey = app
        .store
        .journey(&peakend_core::JourneyKey::parse("service-hall").unwrap())
        .await
        .unwrap()
        .unwrap();
    let answered: Vec<HallId> = HALLS[..5]
        .iter()
        .map(|h| HallId::parse(*h).unwrap())
        .collect();
    let mut responses = Vec::new();
    for (i, hall) in answered.iter().enumerate() {
        for (k, mut r) in
            peakend_core::synth::responses(&journey, &answered[..1], 60, i as u64).enumerate()
        {
            r.respondent = format!("{hall}-{k}");
            r.hall = hall.clone();
            r.date = "2026-08-07".parse().unwrap();
            for rating in &mut r.ratings {
                rating.satisfaction = Some(4.0 + (i + 1) as f64);
                rating.importance.get_or_insert(8.0);
            }
            responses.push(r);
        }
    }
    app.store
        .import_responses(&journey, &responses)
        .await
        .unwrap();

    let admin = app.user("admin").await;
    let kpi = |extra: &str| {
        admin
            .get(app.url(&format!(
                "/api/v1/kpi?org=d&from=2026-08-07&to=2026-08-07{extra}"
            )))
            .fetch_json()
    };
    // The sales of the period, per total, hall and staff member.
    let plain = kpi("").await;
    assert!(plain.get("peaks_vs_sales").is_none(), "only when asked");
    let total = &plain["total"]["sales"];
    assert_eq!(total["sales"], 1 + 2 + 3 + 4 + 5 + 9);
    assert_eq!(total["amount"], 24.0 * 2999.0);
    let h3 = plain["halls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "h3")
        .unwrap();
    assert_eq!(h3["kpis"]["sales"]["sales_per_served"], 0.3);
    let phone = h3["kpis"]["sales"]["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "phone")
        .unwrap();
    assert_eq!(
        (&phone["visits"], &phone["converted"]),
        (&10.into(), &3.into())
    );
    let h1_staff = plain["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "h1/s1")
        .unwrap();
    assert_eq!(h1_staff["kpis"]["sales"]["trial_conversion"], 0.5);

    // Peaks vs sales: five halls rank alike on both (ρ = 1); h6 has no rated peak.
    let with = kpi("&peaks_vs_sales=1").await;
    let p = &with["peaks_vs_sales"];
    assert_eq!(p["n"], 5, "{p}");
    assert_eq!(
        p["halls"],
        serde_json::json!(["h1", "h2", "h3", "h4", "h5"])
    );
    let rho = &p["sales_per_served"];
    assert!((rho["rho"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{rho}");
    assert_eq!(rho["n"], 5);
    // At ρ = 1 Fisher's z is unbounded: the interval closes up on 1.
    let (lo, hi) = (
        rho["ci95"][0].as_f64().unwrap(),
        rho["ci95"][1].as_f64().unwrap(),
    );
    assert!(lo > 0.99 && lo <= hi && hi <= 1.0, "{rho}");
    assert_eq!(p["excluded"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["excluded"][0]["hall"], "h6");
    assert_eq!(p["excluded"][0]["reason"], "no_peak_satisfaction");
    let resp = admin
        .get(app.url("/api/v1/kpi?org=d&from=2026-08-07&to=2026-08-07&peaks_vs_sales=maybe"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("peaks_vs_sales:"),
        "{body}"
    );

    // The overview: sales beside service for the node, each child and each hall.
    let (browser, _) = app.sign_in("admin").await;
    let page = |path: &str| {
        let browser = browser.clone();
        let url = app.url(path);
        async move {
            let resp = browser.get(url).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.text().await.unwrap()
        }
    };
    let overview = page("/?node=d").await;
    assert!(
        overview.contains(r#"<div class="card" data-figure="sales"><div class="n">24</div><div class="muted">今日销售</div>"#),
        "{overview}"
    );
    // 24 sales over 60 served visits.
    assert!(
        overview.contains(r#"data-figure="sales_per_served"><div class="n">0.40</div>"#),
        "{overview}"
    );
    assert!(
        overview.contains(r#"data-figure="trial_conversion"><div class="n">50.0%</div>"#),
        "{overview}"
    );
    let card = overview
        .split(r#"data-child="h6""#)
        .nth(1)
        .and_then(|s| s.split("</a>").next())
        .unwrap();
    assert!(
        card.contains(r#"<span data-figure="sales">9</span>"#)
            && card.contains(r#"<span data-figure="sales_per_served">0.90</span>"#),
        "{card}"
    );
    let row = overview
        .split(r#"<tr data-hall="h2">"#)
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .unwrap();
    assert!(
        row.contains(r#"<td class="sales">2</td><td>0.20</td>"#),
        "{row}"
    );
    let phones = overview
        .split(r#"<tr data-line="phone">"#)
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .unwrap();
    assert!(
        phones.contains("<td>终端销售</td><td>24</td><td>71976.00</td><td>24/60 (40.0%)</td>"),
        "{phones}"
    );
    let en = page("/?node=d&lang=en").await;
    assert!(
        en.contains("Sales today")
            && en.contains("Sales per served customer")
            && en.contains("Trial conversion"),
        "{en}"
    );
    // The hall's own view: its lines.
    let hall = page("/?node=h4").await;
    let phones = hall
        .split(r#"<tr data-line="phone">"#)
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .unwrap();
    assert!(phones.contains("<td>4</td>"), "{phones}");

    // The live board: today's sales count.
    let (mgr, _) = app.sign_in("mgr").await;
    let board = mgr
        .get(app.url("/halls/h1/board"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        board.contains(r#"<div class="n">1</div><div class="muted">今日销售</div>"#),
        "{board}"
    );
});
