//! The overview people act on (issue 25), on both backends, with figures worked by
//! hand: survey and operations apart with their periods, the end moment with its
//! monthly change, a monthly trend, child cards with their figures, a ranking with
//! intervals and sample flags, and a hall's own view against its district.

use crate::helpers;

use helpers::{Setup, TestApp};
use peakend_core::Role;
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::json;

peakend_testkit::on_both_backends!(the_overview_shows_what_to_act_on, |url| {
    let now = chrono::DateTime::parse_from_rfc3339("2024-06-15T10:00:00+08:00").unwrap();
    let app = TestApp::spawn_with(
        url,
        Setup {
            // The province aims at NPS 50, the district at a satisfaction index of 70.
            org: {
                let mut org =
                    peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]);
                org[0].targets.nps = Some(50);
                org[2].targets.index = Some(70);
                org
            },
            users: vec![
                ("admin", Role::Admin, "p"),
                ("mgr", Role::HallManager, "h1"),
            ],
            clock: Some(peakend_http::live::Clock::accelerated(now, 0.0)),
            ..Setup::default()
        },
    )
    .await;
    let admin = app.user("admin").await;
    // April: h1 recommends 10 and 0, h2 10 and 10 (NPS 50); May: h1 10 and 10, h2 0
    // (NPS 33.3). The end (leave) is rated 8 in April and 6 in May.
    let answers = [
        ("a1", "h1", "2024-04-10", 10, 8),
        ("a2", "h1", "2024-04-10", 0, 8),
        ("a3", "h2", "2024-04-11", 10, 8),
        ("a4", "h2", "2024-04-11", 10, 8),
        ("m1", "h1", "2024-05-10", 10, 6),
        ("m2", "h1", "2024-05-10", 10, 6),
        ("m3", "h2", "2024-05-11", 0, 6),
    ];
    for (id, hall, date, nps, leave) in answers {
        let answer = json!({"respondent": id, "hall": hall, "date": date,
            "segment": "全球通", "overall": 8, "nps": nps,
            "ratings": {"queue": {"importance": 9, "satisfaction": 7},
                        "leave": {"importance": 6, "satisfaction": leave}}});
        let resp = admin
            .post(app.url("/api/v1/journeys/service-hall/responses"))
            .json(&answer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let page = |who: &'static str, q: &'static str| {
        let app = &app;
        async move {
            let (b, _) = app.sign_in(who).await;
            b.get(app.url(q))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let section = |html: &str, id: &str| -> String {
        let s = html
            .split(&format!(r#"id="{id}""#))
            .nth(1)
            .unwrap_or_else(|| panic!("no {id}"));
        s[..s
            .find("</table>")
            .or_else(|| s.find("</div>\n"))
            .unwrap_or(s.len())]
            .to_owned()
    };

    let html = page("admin", "/?node=d").await;
    // Survey and operations apart, each with its period.
    assert!(html.contains(r#"id="survey-period""#) && html.contains(r#"id="ops-period""#));
    // NPS over both months: 5 promoters, 2 detractors of 7 = 42.9.
    let nps = section(&html, "survey-figures");
    assert!(nps.contains(r#"<div class="n">42.9</div>"#), "{nps}");
    // Against the organisation's targets: the province's NPS target inherited (42.9 − 50),
    // the district's own index target (overall 8 → 77.8).
    assert!(
        nps.contains(r#"data-target="nps">目标 50 · 差 −7.1 ▼</div>"#),
        "{nps}"
    );
    assert!(
        nps.contains(r#"data-target="index">目标 70 · 已达成 +7.8</div>"#),
        "{nps}"
    );
    let en = page("admin", "/?node=p&lang=en").await;
    assert!(
        section(&en, "survey-figures").contains("Target 50 · short by −7.1"),
        "{en:.2000}"
    );
    // The end, its satisfaction 7.14 = (8·4 + 6·3)/7.
    let end = section(&html, "peak-end");
    let leave = end.split(r#"data-moment="leave""#).nth(1).unwrap();
    assert!(leave.contains("7.14"), "{leave}");
    // The trend and the changes come after the page: April and May, May against April
    // 33.3 − 50.0 = −16.7, the end 6 − 8 = −2.00 (worse).
    assert!(html.contains(r#"data-query="node=d""#), "{html:.3000}");
    let (b, _) = app.sign_in("admin").await;
    let t: serde_json::Value = b
        .get(app.url("/overview/trend?node=d"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["months"], json!(["2024-04", "2024-05"]), "{t}");
    assert_eq!(t["respondents"], json!([4, 3]));
    assert_eq!(t["nps"], json!([50.0, 33.3]));
    assert_eq!(t["changes"]["nps"], "−16.7");
    assert_eq!(t["changes"]["moments"]["leave"]["change"], "−2.00");
    assert_eq!(t["changes"]["moments"]["leave"]["worse"], true);
    // Another district's trend is not a hall manager's to read.
    let (m, _) = app.sign_in("mgr").await;
    let r = m
        .get(app.url("/overview/trend?node=d"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Child cards with their figures: h1 NPS 50.0 (3 of 4 promote, 1 detracts).
    let h1 = html.split(r#"data-child="h1""#).nth(1).unwrap();
    assert!(h1[..h1.find("</a>").unwrap()].contains(r#"<span data-figure="nps">50.0</span>"#));
    // The ranking: the conservative interval 1.96·√(0.75/4)·100 = ±84.9, a small sample.
    let rank = section(&html, "ranking");
    let row = rank.split(r#"data-hall="h1""#).nth(1).unwrap();
    assert!(row.contains("±84.9") && row.contains("样本少"), "{row}");
    // h2 (NPS 33.3 ± 106.7 on 3) ranks below h1 but their intervals overlap: a tie.
    let h2 = rank.split(r#"data-hall="h2""#).nth(1).unwrap();
    assert!(h2[..h2.find("</tr>").unwrap()].contains("≈上一名"), "{h2}");
    assert!(!row[..row.find("</tr>").unwrap()].contains("≈上一名"));
    // A city's children are districts, with the district's own figures.
    let html = page("admin", "/?node=c&lang=en").await;
    let d = html.split(r#"data-child="d""#).nth(1).unwrap();
    assert!(d[..d.find("</a>").unwrap()].contains(r#"<span data-figure="nps">42.9</span>"#));
    assert!(html.contains("small sample") && html.contains("Peak and end moments"));

    // The hall's view: first of two by NPS, 7.1 above the district, the queue to work
    // on first (its importance 9 is above the mean), today against yesterday.
    let html = page("mgr", "/").await;
    assert!(html.contains(r#"id="hall-view""#), "{html:.1000}");
    assert!(html.contains(r#"<b id="hall-rank">1 / 2</b>"#));
    let gaps = section(&html, "hall-gaps");
    assert!(
        gaps.contains("<td>50.0</td><td>42.9</td><td>+7.1</td>"),
        "{gaps}"
    );
    assert!(html.contains("排队等候 — 满意度 7.00 · 重要性 9.00"));
    assert!(html.contains(r#"id="hall-since""#));
    assert!(
        !html.contains(r#"id="ranking""#),
        "no one-row ranking of the hall itself"
    );
});

// Across midnight: yesterday's tickets (one still waiting at closing) stay yesterday's
// on the hall view's "since yesterday" and off the board's cards of today, read from
// the day roll-ups of a hall among several.
peakend_testkit::on_both_backends!(since_yesterday_and_the_board_cards_keep_their_days, |url| {
    let now = chrono::DateTime::parse_from_rfc3339("2024-06-15T09:30:00+08:00").unwrap();
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
    let ev = |id: &str, hall: &str, at: &str, kind: &str, rest: &str| {
        format!(r#"{{"id":"{id}","hall":"{hall}","type":"{kind}","at":"{at}:00+08:00"{rest}}}"#)
    };
    // Yesterday in h1: Y1 called after 5 min, Y2 after 20 (a care alert), Y3 still
    // waiting at closing; h2 busy too. Today in h1 so far: T1 called after 2 min.
    let h1 = [
        ev(
            "1",
            "h1",
            "2024-06-14T16:00",
            "counter_opened",
            r#","counter":"c1""#,
        ),
        ev(
            "2",
            "h1",
            "2024-06-14T16:00",
            "ticket_issued",
            r#","ticket":"Y1","service":"payment""#,
        ),
        ev(
            "3",
            "h1",
            "2024-06-14T16:05",
            "called",
            r#","ticket":"Y1","counter":"c1""#,
        ),
        ev(
            "4",
            "h1",
            "2024-06-14T16:10",
            "ticket_issued",
            r#","ticket":"Y2","service":"payment""#,
        ),
        ev(
            "5",
            "h1",
            "2024-06-14T16:30",
            "called",
            r#","ticket":"Y2","counter":"c1""#,
        ),
        ev(
            "6",
            "h1",
            "2024-06-14T17:55",
            "ticket_issued",
            r#","ticket":"Y3","service":"payment""#,
        ),
        ev(
            "7",
            "h1",
            "2024-06-15T09:00",
            "counter_opened",
            r#","counter":"c1""#,
        ),
        ev(
            "8",
            "h1",
            "2024-06-15T09:00",
            "ticket_issued",
            r#","ticket":"T1","service":"payment""#,
        ),
        ev(
            "9",
            "h1",
            "2024-06-15T09:02",
            "called",
            r#","ticket":"T1","counter":"c1""#,
        ),
    ];
    let h2: Vec<String> = (0..5)
        .map(|i| {
            ev(
                &format!("x{i}"),
                "h2",
                &format!("2024-06-15T09:0{i}"),
                "ticket_issued",
                &format!(r#","ticket":"B{i}","service":"payment""#),
            )
        })
        .collect();
    for (hall, lines) in [("h1", h1.to_vec()), ("h2", h2)] {
        // Yesterday and today in separate batches, as devices send them.
        let (y, t): (Vec<&String>, Vec<&String>) =
            lines.iter().partition(|l| l.contains("2024-06-14"));
        for batch in [y, t] {
            if batch.is_empty() {
                continue;
            }
            let refs: Vec<&str> = batch.iter().map(|s| s.as_str()).collect();
            let out = app
                .store
                .ingest_events(
                    &peakend_core::HallId::parse(hall).unwrap(),
                    peakend_testkit::event_batch(&refs),
                    Vec::new(),
                )
                .await
                .unwrap();
            assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        }
    }
    let (m, _) = app.sign_in("mgr").await;
    let html = m
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let since = html.split(r#"id="hall-since""#).nth(1).unwrap();
    let since = &since[..since.find("</table>").unwrap()];
    let line = |label: &str| {
        let r = since
            .split(&format!(r#"<th scope="row">{label}</th>"#))
            .nth(1)
            .unwrap_or_else(|| panic!("no {label}: {since}"));
        r[..r.find("</tr>").unwrap()].to_owned()
    };
    // Arrivals: 3 yesterday, 1 today. Care alerts yesterday: Y2 (20 min) and Y3, left
    // waiting past 15 minutes until the day ended; none today.
    assert_eq!(line("到厅"), "<td>3</td><td>1</td><td>−2</td>", "{since}");
    assert_eq!(
        line("关怀提醒"),
        "<td>2</td><td>0</td><td>−2</td>",
        "{since}"
    );
    // The board's cards: today's one ticket, not yesterday's waiting Y3.
    let cards: serde_json::Value = m
        .get(app.url("/halls/h1/board/kpis"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let card = |key: &str| {
        cards["cards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .unwrap_or_else(|| panic!("no {key}: {cards}"))["value"]
            .clone()
    };
    assert_eq!(card("arrivals"), "1", "{cards}");
    assert_eq!(card("care_alerts"), "0", "{cards}");
    assert_eq!(card("service_level"), "100%", "{cards}");
});

// A long ranking (a province's thousands of halls made a 1 MB page) shows its top and
// bottom with the count left out between; every hall is one click away, and the file
// export has them all, in the page's order and language.
peakend_testkit::on_both_backends!(a_long_ranking_shows_its_ends_and_exports_all, |url| {
    let halls: Vec<(String, String)> = (1..=60)
        .map(|i| (format!("h{i:02}"), format!("{i}号厅")))
        .collect();
    let refs: Vec<(&str, &str)> = halls
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let app = TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&refs),
            users: vec![("admin", Role::Admin, "p")],
            ..Setup::default()
        },
    )
    .await;
    let (b, _) = app.sign_in("admin").await;
    let get = |q: &'static str| {
        let b = b.clone();
        let u = app.url(q);
        async move { b.get(u).send().await.unwrap() }
    };
    let html = get("/?node=d").await.text().await.unwrap();
    assert_eq!(html.matches("<tr data-hall=").count(), 50);
    assert!(
        html.contains(r#"id="ranking-gap"><td colspan="13">… 中间另有 10 个营业厅"#),
        "{html:.4000}"
    );
    // The tail keeps its places: the last row is 60th.
    let last = html.rsplit("<tr data-hall=").next().unwrap();
    assert!(last.contains("<td>60</td>"), "{last:.200}");
    assert!(
        html.contains(r#"href="/?node=d&#38;all=1""#),
        "{html:.4000}"
    );
    let all = get("/?node=d&all=1").await.text().await.unwrap();
    assert_eq!(all.matches("<tr data-hall=").count(), 60);
    assert!(!all.contains("ranking-gap"));

    let csv = get("/?node=d&format=csv&lang=en").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("ranking-d.csv")
    );
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 61, "{text:.500}");
    assert!(text.starts_with("Rank,Hall id,Hall,Under,Respondents,Small sample,NPS"));
    assert!(text.lines().nth(60).unwrap().starts_with("60,"));
    let xlsx = get("/?node=d&format=xlsx").await;
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"));
    let bad = get("/?node=d&format=pdf").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
});
