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

/// Sends `method` to `path` with an HTML `Accept` (a browser), or another.
async fn send(
    b: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    accept: &str,
) -> (StatusCode, String, String, reqwest::header::HeaderMap) {
    let resp = b
        .request(method, url)
        .header(ACCEPT, accept)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap(), headers)
}

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

/// The staff error page: header, menu, a human title in the reader's language and the
/// reason folded under details.
fn assert_staff_page(html: &str, title: &str, lang: &str) {
    assert!(html.contains(&format!(r#"<html lang="{lang}">"#)), "{html}");
    assert!(
        html.contains("<header>") && html.contains(title),
        "{title}: {html}"
    );
    assert!(html.contains(r#"id="error-detail""#), "{html}");
}

peakend_testkit::on_both_backends!(
    framework_errors_are_pages_for_a_browser_and_json_for_the_api,
    |url| {
        let base = spawn(url).await;
        let b = signed_in(&base).await;
        use reqwest::Method;

        // 405: a route that only takes a form, opened directly.
        let (status, ct, html, headers) =
            send(&b, Method::GET, format!("{base}/logout"), HTML).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert_staff_page(&html, "不支持这种操作", "zh-CN");
        assert!(html.contains(r#"id="who""#), "the user's own menu: {html}");
        assert!(html.contains("GET is not allowed at /logout"), "{html}");
        assert!(headers.contains_key("allow") && headers.contains_key("x-request-id"));
        let (status, _, html, _) =
            send(&b, Method::GET, format!("{base}/logout?lang=en"), HTML).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_staff_page(&html, "This address does not take that action", "en");
        assert!(!html.contains("不支持这种操作"));

        // 422: a form without a field its route needs.
        let resp = b
            .post(format!("{base}/login?lang=en"))
            .header(ACCEPT, HTML)
            .form(&[("name", "mgr1")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = resp.text().await.unwrap();
        assert_staff_page(&html, "Something is not right in the request", "en");
        assert!(
            html.contains("missing field"),
            "the reason under details: {html}"
        );

        // 415: a body that is not a form.
        let resp = b
            .post(format!("{base}/login"))
            .header(ACCEPT, HTML)
            .header("content-type", "text/plain")
            .body("name=mgr1")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_staff_page(&resp.text().await.unwrap(), "提交的内容格式不对", "zh-CN");

        // 400: a query the page cannot read (a field given twice).
        let (status, _, html, _) =
            send(&b, Method::GET, format!("{base}/?node=h1&node=h1"), HTML).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_staff_page(&html, "请求有误", "zh-CN");

        // The API keeps its JSON, with the same status and a reason.
        let (status, ct, body, _) =
            send(&b, Method::DELETE, format!("{base}/api/v1/journeys"), HTML).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(ct.starts_with("application/json"), "{ct}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["status"], 405);
        assert_eq!(
            body["error"]["message"],
            "DELETE is not allowed at /api/v1/journeys"
        );
        // A client that asks a page route for JSON gets JSON.
        let (status, ct, body, _) = send(
            &b,
            Method::GET,
            format!("{base}/logout"),
            "application/json",
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(ct.starts_with("application/json"), "{ct}: {body}");
        let resp = b
            .post(format!("{base}/api/v1/session"))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["status"], 415, "{body}");
    }
);

/// The customer's error page: no staff header, menu or sign-in, in the page's language.
fn assert_customer_page(html: &str, title: &str, lang: &str) {
    assert!(html.contains(&format!(r#"<html lang="{lang}">"#)), "{html}");
    assert!(html.contains(title), "{title}: {html}");
    for staff in [
        "<header>",
        "<nav",
        "/login",
        "/logout",
        r#"id="who""#,
        "peakend</a>",
    ] {
        assert!(
            !html.contains(staff),
            "{staff} on a customer's page: {html}"
        );
    }
}

peakend_testkit::on_both_backends!(customer_pages_keep_the_customer_s_error_page, |url| {
    let base = spawn(url).await;
    use reqwest::Method;
    // A customer has no session; a signed-in staff member sees the same pages.
    for b in [browser(), signed_in(&base).await] {
        let (status, ct, html, _) =
            send(&b, Method::GET, format!("{base}/halls/nope/survey"), HTML).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(ct.starts_with("text/html"));
        assert_customer_page(&html, "找不到这份问卷", "zh-CN");
        let (status, _, html, _) = send(
            &b,
            Method::GET,
            format!("{base}/c/no-such-token?lang=en"),
            HTML,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_customer_page(&html, "This callback link does not work", "en");
        let (status, _, html, _) =
            send(&b, Method::GET, format!("{base}/i/no-such-token"), HTML).await;
        assert!(status.is_client_error(), "{status}");
        assert_customer_page(&html, "", "zh-CN");
        // Framework errors too: a method the page does not take…
        let (status, _, html, _) = send(
            &b,
            Method::PUT,
            format!("{base}/halls/h1/survey?lang=en"),
            HTML,
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_customer_page(&html, "We could not read this submission", "en");
        let (status, _, html, _) = send(&b, Method::DELETE, format!("{base}/c/tok"), HTML).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_customer_page(&html, "无法处理这次请求", "zh-CN");
        // …a body that is not a form…
        let resp = b
            .post(format!("{base}/c/tok?lang=en"))
            .header(ACCEPT, HTML)
            .header("content-type", "text/plain")
            .body("recovery=5")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_customer_page(
            &resp.text().await.unwrap(),
            "We could not handle this request",
            "en",
        );
        // …a query it cannot read, and an unknown address under a customer's link.
        let (status, _, html, _) = send(
            &b,
            Method::GET,
            format!("{base}/halls/h1/survey?lang=en&lang=en"),
            HTML,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_customer_page(&html, "We could not read this submission", "en");
        let (status, _, html, _) =
            send(&b, Method::GET, format!("{base}/i/tok/nothing-here"), HTML).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_customer_page(&html, "找不到这份问卷", "zh-CN");
        // The public busy-hour page of a hall that does not exist.
        let (status, _, html, _) =
            send(&b, Method::GET, format!("{base}/halls/nope/busy"), HTML).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_customer_page(&html, "找不到这个营业厅", "zh-CN");
    }
    // A staff page keeps the staff page.
    let (status, _, html, _) = send(&browser(), Method::GET, format!("{base}/logout"), HTML).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(html.contains("<header>"), "{html}");
});

peakend_testkit::on_both_backends!(the_language_chosen_at_sign_in_stays_after_it, |url| {
    let base = spawn(url).await;
    let english = |html: &str| html.contains(r#"<html lang="en">"#);

    // English asked on the address (as a page asked in English sends there): the
    // sign-in keeps it as the cookie, so every page after is English.
    let b = browser();
    let (_, _, html) = page(&b, format!("{base}/login?next=%2Fanalysis&lang=en")).await;
    assert!(english(&html));
    // The switch comes back to a sign-in that still leads on.
    assert!(
        html.contains("/lang/zh?back=/login%3Fnext%3D/analysis"),
        "{html}"
    );
    let resp = b
        .post(format!("{base}/login?lang=en"))
        .form(&[
            ("name", "mgr1"),
            ("password", PASSWORD),
            ("next", "/analysis"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (status, _, html) = page(&b, format!("{base}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(english(&html), "{html:.300}");
    let (_, _, html) = page(&b, format!("{base}/journeys/service-hall")).await;
    assert!(english(&html));

    // English chosen with the switch on the sign-in page (the cookie alone).
    let b = browser();
    b.get(format!("{base}/lang/en?back=/login"))
        .send()
        .await
        .unwrap();
    let (_, _, html) = page(&b, format!("{base}/login")).await;
    assert!(english(&html) && html.contains(r#"action="/login?lang=en""#));
    // A failed sign-in stays English…
    let resp = b
        .post(format!("{base}/login?lang=en"))
        .form(&[("name", "mgr1"), ("password", "wrong"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(english(&html) && html.contains("Wrong user name or password"));
    // …and so does the successful one after it, on every page.
    let resp = b
        .post(format!("{base}/login?lang=en"))
        .form(&[("name", "mgr1"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    for path in ["/", "/analysis", "/cases"] {
        let (status, _, html) = page(&b, format!("{base}{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(english(&html), "{path}: {html:.300}");
    }

    // Chinese chosen at sign-in after an English cookie: Chinese from then on.
    let resp = b
        .post(format!("{base}/login?lang=zh"))
        .form(&[("name", "mgr1"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, _, html) = page(&b, format!("{base}/")).await;
    assert!(html.contains(r#"<html lang="zh-CN">"#));
});
