//! The server tried as an attacker would: redirect targets, forged ids and times,
//! oversized bodies, CSRF before parsing, and a shutdown with a live stream open.

use crate::helpers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::{FetchJson, PASSWORD, Setup, TestApp, browser};
use peakend_http::{AppState, BodyLimits};
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Small limits, so every limit can be crossed without sending megabytes.
const LIMITS: BodyLimits = BodyLimits {
    small: 2048,
    events: 8192,
    upload: 16384,
    body_timeout: Duration::from_millis(500),
    request_timeout: Duration::from_secs(30),
    header_timeout: Duration::from_millis(500),
};

struct App {
    base: String,
    device_token: String,
    store: peakend_store::SqlStore,
}

/// p → c → d → h1 with an admin, a device token for h1, and small limits.
async fn spawn(url: &str) -> App {
    let app = TestApp::spawn_with(
        url,
        Setup {
            limits: Some(LIMITS),
            ..Setup::default()
        },
    )
    .await;
    let (_, device_token) = app.device("h1").await;
    App {
        base: app.base,
        device_token,
        store: app.store,
    }
}

/// Signs the admin in through the login form; the browser and the session's CSRF token.
async fn sign_in(base: &str) -> (reqwest::Client, String) {
    let b = browser();
    let resp = b
        .post(format!("{base}/login"))
        .form(&[("name", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let me: Value = b.get(format!("{base}/api/v1/me")).fetch_json().await;
    (b, me["csrf"].as_str().unwrap().to_owned())
}

/// Percent-encodes every byte but unreserved ASCII, as a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Targets a browser would read as another site, or that would break the header.
const HOSTILE: &[&str] = &[
    "/\\evil.example/",
    "/\tevil.example/",
    "/\t/evil.example/",
    "//evil.example/",
    "/\\/evil.example/",
    "\\\\evil.example",
    "/%09/evil.example/",
    "/%5Cevil.example/",
    "/%2F%2Fevil.example/",
    "/\r\nSet-Cookie: pwned=1",
    "/%0d%0aSet-Cookie:%20pwned=1",
    "https://evil.example/",
    "javascript:alert(1)",
];

peakend_testkit::on_both_backends!(redirects_stay_on_this_site, |url| {
    let app = spawn(url).await;
    let b = browser();
    for target in HOSTILE {
        // The language switch, without login.
        let resp = b
            .get(format!("{}/lang/en?back={}", app.base, encode(target)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{target:?}");
        assert_eq!(resp.headers()["location"], "/", "{target:?}");
        let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
        assert!(
            cookies
                .iter()
                .all(|c| !c.to_str().unwrap().contains("pwned")),
            "{target:?}: {cookies:?}"
        );

        // The login form's `next`.
        let resp = browser()
            .post(format!("{}/login", app.base))
            .form(&[("name", "admin"), ("password", PASSWORD), ("next", target)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{target:?}");
        assert_eq!(resp.headers()["location"], "/", "{target:?}");

        // The login page puts a safe `next` in its form.
        let page = b
            .get(format!("{}/login?next={}", app.base, encode(target)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!page.contains("evil.example"), "{target:?}");
    }
    // Our own pages are still gone back to.
    let resp = b
        .get(format!(
            "{}/lang/en?back={}",
            app.base,
            encode("/analysis?node=p")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "/analysis?node=p");
});

peakend_testkit::on_both_backends!(forged_alert_ids_and_times_are_client_errors, |url| {
    let app = spawn(url).await;
    let device = reqwest::Client::new();
    let bearer = format!("Bearer {}", app.device_token);
    for id in [
        "h1~care_due~A1~8210266876799999",
        "h1~care_due~A1~-8210266876799999",
        "h1~care_due~A1~9223372036854775807",
        "h1~care_due~A1~notanumber",
        "h1~meteor~A1~1786065540000",
        "h1",
        "~~~",
    ] {
        let resp = device
            .post(format!("{}/api/v1/alerts/{}/ack", app.base, encode(id)))
            .header("authorization", &bearer)
            .json(&json!({"by": "desk"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{id}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("id: "),
            "{id}: {body}"
        );
    }
    // A well-formed id of no alert is not found.
    let resp = device
        .post(format!(
            "{}/api/v1/alerts/h1~care_due~A1~1786065540000/ack",
            app.base
        ))
        .header("authorization", &bearer)
        .json(&json!({"by": "desk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // `?at=` far out of range.
    let resp = device
        .get(format!(
            "{}/api/v1/halls/h1/queue?at={}",
            app.base,
            encode("9999-12-31T23:59:59+08:00")
        ))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Events dated outside 2000–2100 are refused with the field named; the rest apply.
    let body = [
        r#"{"id":"e1","hall":"h1","type":"ticket_issued","at":"9999-12-31T23:59:59+08:00","ticket":"A1","service":"payment"}"#,
        r#"{"id":"e2","hall":"h1","type":"ticket_issued","at":"0000-01-01T00:00:00+08:00","ticket":"A2","service":"payment"}"#,
        r#"{"id":"e3","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A3","service":"payment"}"#,
    ]
    .join("\n");
    let out: Value = device
        .post(format!("{}/api/v1/events", app.base))
        .header("authorization", &bearer)
        .body(body)
        .fetch_json()
        .await;
    assert_eq!(out["accepted"], 1, "{out}");
    let rejected = out["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{out}");
    for r in rejected {
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("field `at`") && reason.contains("2000–2100"),
            "{reason}"
        );
    }

    // Survey answers dated outside the window are refused, naming the field.
    let (b, csrf) = sign_in(&app.base).await;
    let generation = app.store.data_generation().await.unwrap();
    for date in ["9999-01-01", "0000-01-01", "+99999-01-01"] {
        let resp = b
            .post(format!("{}/api/v1/journeys/service-hall/responses", app.base))
            .header("x-csrf-token", &csrf)
            .json(&json!({"respondent": "r1", "hall": "h1", "date": date, "segment": "全球通", "overall": 8}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{date}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains("date"),
            "{body}"
        );
    }
    assert_eq!(app.store.data_generation().await.unwrap(), generation);
});

/// Asserts a 413 in the API's JSON shape.
async fn json_413(resp: reqwest::Response, route: &str) {
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "{route}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{route}: {ct}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], 413, "{route}: {body}");
    assert!(body["error"]["message"].is_string(), "{route}: {body}");
}

/// Asserts a 413 as an HTML page.
async fn html_413(resp: reqwest::Response, route: &str) {
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "{route}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{route}: {ct}");
    let page = resp.text().await.unwrap();
    assert!(page.contains("<html"), "{route}: {page}");
}

peakend_testkit::on_both_backends!(every_413_has_the_route_s_shape, |url| {
    let app = spawn(url).await;
    let (b, csrf) = sign_in(&app.base).await;
    let big = |n: usize| "x".repeat(n);
    let api = |path: &str| format!("{}{path}", app.base);

    // Device routes: the events batch has its own, larger limit.
    let device = reqwest::Client::new();
    let bearer = format!("Bearer {}", app.device_token);
    let ok = device
        .post(api("/api/v1/events"))
        .header("authorization", &bearer)
        .body(format!("{}\n", " ".repeat(LIMITS.small * 2)))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK, "an events batch above `small`");
    let resp = device
        .post(api("/api/v1/events"))
        .header("authorization", &bearer)
        .body(big(LIMITS.events + 1))
        .send()
        .await
        .unwrap();
    json_413(resp, "events").await;
    let resp = device
        .post(api("/api/v1/alerts/h1~care_due~A1~1786065540000/ack"))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(format!(r#"{{"by":"{}"}}"#, big(LIMITS.small)))
        .send()
        .await
        .unwrap();
    json_413(resp, "ack").await;

    // API routes of a signed-in user.
    let resp = reqwest::Client::new()
        .post(api("/api/v1/session"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"name":"{}","password":"x"}}"#,
            big(LIMITS.small)
        ))
        .send()
        .await
        .unwrap();
    json_413(resp, "session").await;
    let resp = b
        .post(api("/api/v1/journeys/service-hall/responses"))
        .header("x-csrf-token", &csrf)
        .body(big(LIMITS.small + 1))
        .send()
        .await
        .unwrap();
    json_413(resp, "responses").await;
    let resp = b
        .post(api("/api/v1/journeys/service-hall/responses/import"))
        .header("x-csrf-token", &csrf)
        .body(big(LIMITS.upload + 1))
        .send()
        .await
        .unwrap();
    json_413(resp, "import (body)").await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(big(LIMITS.upload + 1).into_bytes()).file_name("s.csv"),
    );
    let resp = b
        .post(api("/api/v1/journeys/service-hall/responses/import"))
        .header("x-csrf-token", &csrf)
        .multipart(form)
        .send()
        .await
        .unwrap();
    json_413(resp, "import (multipart)").await;

    // Page routes answer an HTML page.
    for path in ["/login", "/admin/users", "/admin/tokens", "/logout"] {
        let resp = b
            .post(api(path))
            .form(&[("csrf", csrf.as_str()), ("name", &big(LIMITS.small))])
            .send()
            .await
            .unwrap();
        html_413(resp, path).await;
    }
    let resp = browser()
        .post(api("/halls/h1/survey"))
        .form(&[("nonce", big(LIMITS.small))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = resp.text().await.unwrap();
    assert!(page.contains("回答内容过长"), "{page}");
});

peakend_testkit::on_both_backends!(the_csrf_token_is_checked_before_an_upload_is_read, |url| {
    let app = spawn(url).await;
    let (b, csrf) = sign_in(&app.base).await;
    let garbage = "respondent,hall\n\u{0}\u{1},\"unterminated\n";
    let import = api_url(&app.base, "/api/v1/journeys/service-hall/responses/import");
    // Without the token: refused for the token, not for the file's content.
    let resp = b.post(&import).body(garbage).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("CSRF"),
        "{body}"
    );
    // With it, the file itself is what is wrong.
    let resp = b
        .post(&import)
        .header("x-csrf-token", &csrf)
        .body(garbage)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
});

fn api_url(base: &str, path: &str) -> String {
    format!("{base}{path}")
}

peakend_testkit::on_both_backends!(shutdown_ends_live_streams_and_returns, |url| {
    let app = spawn(url).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(Arc::new(app.store.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(peakend_http::serve_until(listener, state, async {
        let _ = stopped.await;
    }));
    let mut live = reqwest::Client::new()
        .get(format!("{base}/api/v1/halls/h1/live"))
        .header("authorization", format!("Bearer {}", app.device_token))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    // The first snapshot arrives: the stream is open.
    let first = live.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: queue"));

    let asked = Instant::now();
    stop.send(()).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "the server was still serving {:?} after shutdown began",
        asked.elapsed()
    );
    // The stream ended cleanly rather than hanging.
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = live.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the live stream did not end");
});

// Issue 19: after 5 failed sign-ins an account (and the address they came from) backs
// off exponentially with 429 and Retry-After, even with the right password; every
// attempt is in the sign-in log an administrator reads.
peakend_testkit::on_both_backends!(failed_sign_ins_back_off_and_are_logged, |url| {
    let app = spawn(url).await;
    let login = |password: &'static str| {
        let base = app.base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/api/v1/session"))
                .json(&json!({"name": "admin", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    // A session opened before the attack, to read the log with.
    let first: Value = login(PASSWORD).await.json().await.unwrap();
    let token = first["token"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        assert_eq!(login("guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = login(PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], 429);
    // The login form says so too.
    let resp = browser()
        .post(format!("{}/login", app.base))
        .form(&[("name", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));

    let log: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/admin/sign-ins", app.base))
        .bearer_auth(&token)
        .fetch_json()
        .await;
    let outcomes: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "throttled",
            "throttled",
            "wrong_password",
            "wrong_password",
            "wrong_password",
            "wrong_password",
            "wrong_password",
            "ok"
        ],
        "{log}"
    );
    assert!(log[0]["name"] == "admin" && log[0]["at"].as_i64().unwrap() > 0);
});

// Issue 19: a client that sends its headers and then its body too slowly (or not at
// all) is answered 408 and cannot hold the handler.
peakend_testkit::on_both_backends!(a_slow_body_is_a_408, |url| {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn(url).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{",
        app.device_token
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("an answer, not a hang")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""status":408"#), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
});

// Issue 19: a client that never finishes its request headers (a header line now and
// then) has its connection closed after the header timeout; others are served.
peakend_testkit::on_both_backends!(slow_headers_lose_their_connection, |url| {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn(url).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut state = AppState::new(Arc::new(app.store.clone()));
    state.limits = LIMITS;
    tokio::spawn(peakend_http::serve_until(
        listener,
        state,
        std::future::pending(),
    ));
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        // Trickle a header line now and then; the server closes the connection.
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(10), slow.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => sink.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the slow connection was still open after 10 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A normal client is served meanwhile and after.
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
});
