//! Error pages as a reader sees them, on both backends: inside the site's header, a
//! human title and message in the reader's language (never the API's English reason
//! up front), HTML for a browser at an unknown address and JSON for the API, and a
//! failed sign-in that keeps the language.

use crate::helpers;

use helpers::{PASSWORD, Setup, TestApp, browser};
use peakend_core::Role;
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::Value;

async fn spawn(url: &str) -> String {
    let app = TestApp::spawn_with(
        url,
        Setup {
            org: peakend_testkit::small_org(&[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]),
            users: vec![("mgr1", Role::HallManager, "h1")],
            ..Setup::default()
        },
    )
    .await;
    app.base
}

async fn signed_in(base: &str) -> reqwest::Client {
    let b = browser();
    let resp = b
        .post(format!("{base}/login"))
        .form(&[("name", "mgr1"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    b
}

async fn page(b: &reqwest::Client, url: String) -> (StatusCode, String, String) {
    let resp = b.get(url).header(ACCEPT, "text/html").send().await.unwrap();
    let status = resp.status();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ct, resp.text().await.unwrap())
}

peakend_testkit::on_both_backends!(
    error_pages_speak_the_reader_s_language_in_the_site_header,
    |url| {
        let base = spawn(url).await;
        let b = signed_in(&base).await;

        // 403: another hall, in Chinese by default, then in English.
        let (status, ct, html) = page(&b, format!("{base}/?node=h2")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(ct.starts_with("text/html"));
        assert!(
            html.contains("<header>") && html.contains(r#"class="brand""#),
            "{html}"
        );
        assert!(html.contains("无权访问") && html.contains("每个账号只能查看本级及下级机构的数据"));
        // The signed-in user's own menu, as on every page.
        assert!(
            html.contains(r#"id="who""#) && html.contains("mgr1"),
            "{html}"
        );
        assert!(html.contains(r#"<html lang="zh-CN">"#));
        // The API's reason is folded away, never the page's message.
        let message = html.split(r#"id="error-message">"#).nth(1).unwrap();
        let message = &message[..message.find("</p>").unwrap()];
        assert!(
            message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{message}"
        );
        let (status, _, html) = page(&b, format!("{base}/?node=h2&lang=en")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(html.contains(r#"<html lang="en">"#) && html.contains("Not allowed"));
        assert!(!html.contains("无权访问"));
        // The language switch leads back to the page asked for.
        assert!(
            html.contains("/lang/zh?back=") && html.contains("node%3Dh2"),
            "{html}"
        );

        // 400: a date that is not one.
        let (status, _, html) = page(&b, format!("{base}/?from=2026-13-40")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("请求有误") && html.contains(r#"id="error-detail""#));

        // 404 at an unknown address: a page for a browser (with the cookie's language)…
        b.get(format!("{base}/lang/en?back=/"))
            .send()
            .await
            .unwrap();
        let (status, ct, html) = page(&b, format!("{base}/no-such-page")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(html.contains("Page not found") && html.contains("<header>"));
        // …and the API's JSON for API clients, exactly as before.
        let resp = b
            .get(format!("{base}/api/v1/no-such"))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["message"], "no route for /api/v1/no-such");
        let resp = browser()
            .get(format!("{base}/no-such-page"))
            .send()
            .await
            .unwrap();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
);

peakend_testkit::on_both_backends!(a_failed_sign_in_keeps_the_language, |url| {
    let base = spawn(url).await;
    let b = browser();
    let (_, _, html) = page(&b, format!("{base}/login?lang=en")).await;
    assert!(html.contains(r#"action="/login?lang=en""#), "{html}");
    let resp = b
        .post(format!("{base}/login?lang=en"))
        .form(&[("name", "mgr1"), ("password", "wrong"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Wrong user name or password") && html.contains(r#"<html lang="en">"#));

    // A page asked for in English sends an anonymous reader to an English sign-in.
    let resp = b
        .get(format!("{base}/analysis?lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with("/login?next=") && to.ends_with("&lang=en"),
        "{to}"
    );
});
