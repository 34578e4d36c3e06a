//! Issue 22: the hall's queue from every channel over HTTP (a server on port 0): the
//! busy-hour forecast, public in the API and on the hall's page, and the remote
//! ticket's text saying when to come.

use crate::helpers;

use helpers::{Setup, TestApp};
use peakend_core::HallId;
use peakend_store::Store;
use serde_json::Value;

/// A server whose clock stands at Monday 2026-11-30 10:00 (+08:00), with two weeks of
/// history for hall h1: 1 arrival at 09:00, 2 at 10:00, 3 at 11:00, 8 at Monday 10:00.
async fn spawn(url: &str) -> TestApp {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00+08:00").unwrap();
    let app = TestApp::spawn_with(
        url,
        Setup {
            clock: Some(peakend_http::live::Clock::accelerated(now, 0.0)),
            ..Setup::default()
        },
    )
    .await;
    let first = chrono::NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
    let mut lines = Vec::new();
    for d in 0..14 {
        let date = first + chrono::Days::new(d);
        for (hour, n) in [(9, 1), (10, if d % 7 == 0 { 8 } else { 2 }), (11, 3)] {
            for i in 0..n {
                lines.push(format!(
                    r#"{{"id":"{date}-{hour}-{i}","hall":"h1","type":"ticket_issued","at":"{date}T{hour:02}:{:02}:00+08:00","ticket":"T{hour}{i}","service":"payment"}}"#,
                    i * 5
                ));
            }
        }
    }
    // Today: a walk-in, and an app ticket told to come at 10:40.
    lines.push(r#"{"id":"t1","hall":"h1","type":"ticket_issued","at":"2026-11-30T09:50:00+08:00","ticket":"A1","service":"payment"}"#.into());
    lines.push(r#"{"id":"t2","hall":"h1","type":"ticket_issued","at":"2026-11-30T09:55:00+08:00","ticket":"R1","service":"payment","channel":"app","appointed_at":"2026-11-30T10:40:00+08:00"}"#.into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    app.store
        .ingest_events(
            &HallId::parse("h1").unwrap(),
            peakend_testkit::event_batch(&lines),
            Vec::new(),
        )
        .await
        .unwrap();
    app
}

peakend_testkit::on_both_backends!(
    busy_hours_are_public_in_the_api_and_on_the_hall_page,
    |url| {
        let app = spawn(url).await;
        // No login: customers read it.
        let anon = reqwest::Client::new();
        let r = anon
            .get(app.url("/api/v1/halls/h1/busy-hours?weeks=2"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["today"], "2026-11-30");
        assert_eq!(
            (b["open"].as_u64(), b["close"].as_u64()),
            (Some(9), Some(12))
        );
        let days = b["days"].as_array().unwrap();
        assert_eq!(days.len(), 7);
        let monday_10 = &days[0]["hours"][1];
        assert_eq!(monday_10["hour"], 10);
        assert_eq!(monday_10["expected"], 8.0);
        assert_eq!(monday_10["level"], "busy");
        assert_eq!(days[1]["hours"][0]["level"], "quiet");
        // Last week came as forecast from the week before it.
        assert_eq!(b["last_week"]["mae"], 0.0);
        assert_eq!(b["last_week"]["mape"], 0.0);
        for (path, status, reason) in [
            ("/api/v1/halls/h1/busy-hours?weeks=0", 400, "weeks: `0`"),
            ("/api/v1/halls/zz/busy-hours", 404, "`zz` is not a hall"),
        ] {
            let r = anon.get(app.url(path)).send().await.unwrap();
            assert_eq!(r.status(), status, "{path}");
            let text = r.text().await.unwrap();
            assert!(text.contains(reason), "{path}: {text}");
        }
        let page = anon.get(app.url("/halls/h1/busy")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("一周忙闲预报") && html.contains("人民路营业厅"));
        assert!(html.contains(r#"<td class="busy">忙 · 8</td>"#), "{html}");
        assert!(html.contains(r#"class="quiet""#));
        let en = anon
            .get(app.url("/halls/h1/busy?lang=en"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(en.contains("Busy hours this week") && en.contains("busy · 8"));
    }
);

peakend_testkit::on_both_backends!(a_remote_ticket_says_when_to_come, |url| {
    let app = spawn(url).await;
    let admin = app.user("admin").await;
    let w: Value = admin
        .get(app.url("/api/v1/halls/h1/tickets/R1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(w["channel"], "app");
    assert_eq!(w["ahead"], 1);
    assert_eq!(w["text"]["zh"], "前面还有 1 人；请于 10:40 前到厅");
    assert_eq!(w["text"]["en"], "1 ahead; come by 10:40");
    let q: Value = admin
        .get(app.url("/api/v1/halls/h1/queue"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let waiting: Vec<&str> = q["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["ticket"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, ["A1", "R1"]);
});
