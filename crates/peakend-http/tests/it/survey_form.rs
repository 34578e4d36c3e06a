//! The customer survey form, its thank-you page, the rate limit and the QR code, served
//! on port 0 (with connection info, as `peakend serve` does) against a fresh database
//! on each backend.

use crate::helpers;
use helpers::nonce_of;

use std::sync::Arc;

use helpers::TestApp;
use peakend_core::{Journey, JourneyKey};
use peakend_store::Store;
use reqwest::{StatusCode, header};

struct App {
    base: String,
    store: Arc<dyn Store>,
    journey: Journey,
}

/// Starts the app on an ephemeral port with one hall, `h1`, under a district `d`.
async fn spawn(url: &str) -> App {
    let app = TestApp::spawn(url).await;
    let store: Arc<dyn Store> = Arc::new(app.store);
    let journey = store
        .journey(&JourneyKey::parse("service-hall").unwrap())
        .await
        .unwrap()
        .unwrap();
    App {
        base: app.base,
        store,
        journey,
    }
}

async fn get(c: &reqwest::Client, url: String) -> (StatusCode, String) {
    let resp = c.get(url).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The distinct `sat.*` fields of a form, in page order.
fn satisfaction_fields(html: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for part in html.split(r#"name="sat."#).skip(1) {
        let key = part.split('"').next().unwrap().to_owned();
        if seen.last() != Some(&key) {
            seen.push(key);
        }
    }
    seen
}

fn good_answers(nonce: &str) -> Vec<(&'static str, String)> {
    vec![
        ("nonce", nonce.to_owned()),
        ("purpose", "缴费".into()),
        ("sat.find", "8".into()),
        ("sat.queue", "7".into()),
        ("imp.queue", "9".into()),
        // A skipped moment arrives as an empty value.
        ("sat.dispute", String::new()),
        ("sat.leave", "10".into()),
        ("overall", "9".into()),
        ("nps", "10".into()),
        ("tolerable_wait_min", "15".into()),
        ("segment", "全球通".into()),
    ]
}

async fn post(
    c: &reqwest::Client,
    url: String,
    form: &[(&str, String)],
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let resp = c.post(url).form(form).send().await.unwrap();
    (
        resp.status(),
        resp.headers().clone(),
        resp.text().await.unwrap(),
    )
}

async fn stored(app: &App) -> Vec<peakend_core::survey::Response> {
    app.store
        .responses(&app.journey, None, None, None)
        .await
        .unwrap()
}

peakend_testkit::on_both_backends!(the_form_shows_every_moment_in_both_languages, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    let order: Vec<String> = app
        .journey
        .moments()
        .iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(order.len(), 16);

    let (status, zh) = get(&c, format!("{}/halls/h1/survey", app.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(zh.contains(r#"<html lang="zh-CN">"#));
    assert!(zh.contains("人民路营业厅"));
    // Headings and questions in the customer's words, not the flows' staff names.
    assert!(zh.contains("来营业厅之前") && zh.contains("办理业务"));
    assert!(!zh.contains("人流") && !zh.contains("业务流"));
    assert!(zh.contains("排队等候的时间和安排让您满意吗？"));
    // Progress beside each moment, and the scale's meaning on each question.
    assert!(zh.contains("1/16") && zh.contains("16/16"));
    assert!(zh.contains("第1部分，共3部分"));
    assert_eq!(zh.matches("10 = 非常满意").count(), 16 + 1);
    assert!(zh.contains("0 = 完全不可能"));
    // The brand is optional, with a way to say "not sure".
    assert!(zh.contains("（选填，不清楚可跳过）") && zh.contains(r#"value="不清楚""#));
    assert!(zh.contains("提交评价") && !zh.contains("Send my answers"));
    assert_eq!(satisfaction_fields(&zh), order);
    // Recommend on 0–10, the other scales on 1–10.
    assert!(zh.contains(r#"name="nps" value="0""#));
    assert!(!zh.contains(r#"name="overall" value="0""#));
    assert!(zh.contains(r#"name="overall" value="10""#));
    assert!(zh.contains(r#"action="/halls/h1/survey""#));

    let (status, en) = get(
        &c,
        format!("{}/halls/h1/survey?journey=service-hall&lang=en", app.base),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(en.contains(r#"<html lang="en">"#));
    assert!(en.contains("How satisfied are you with the wait and how the queue was run?"));
    assert!(en.contains("On your way to the hall") && !en.contains("People flow"));
    assert!(en.contains("part 1 of 3") && en.contains("10 = very satisfied"));
    assert!(en.contains("Send my answers") && !en.contains("提交评价"));
    assert!(en.contains(r#"action="/halls/h1/survey?journey=service-hall&#38;lang=en""#));
    assert_eq!(satisfaction_fields(&en), order);

    // Every rendered form has its own nonce.
    assert_ne!(nonce_of(&zh), nonce_of(&en));
});

peakend_testkit::on_both_backends!(a_good_answer_is_stored_once_and_thanked, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    let (_, html) = get(&c, format!("{}/halls/h1/survey", app.base)).await;
    let nonce = nonce_of(&html);
    let (status, headers, _) = post(
        &c,
        format!("{}/halls/h1/survey", app.base),
        &good_answers(&nonce),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/halls/h1/survey/thanks");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("peakend_answered_service-hall=")
            && cookie.contains("Max-Age=43200")
            && cookie.contains("Path=/halls/h1/survey")
            && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    let rows = stored(&app).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.respondent, nonce);
    assert_eq!(r.hall.as_str(), "h1");
    assert_eq!(r.segment, "全球通");
    assert_eq!(r.purpose.as_deref(), Some("缴费"));
    assert_eq!(
        (r.overall, r.nps, r.tolerable_wait_min),
        (Some(9.0), Some(10.0), Some(15.0))
    );
    let at = |key: &str| {
        let i = app
            .journey
            .moments()
            .iter()
            .position(|m| m.key.as_str() == key)
            .unwrap();
        r.ratings[i]
    };
    assert_eq!(
        (at("queue").importance, at("queue").satisfaction),
        (Some(9.0), Some(7.0))
    );
    assert_eq!(at("find").satisfaction, Some(8.0));
    assert_eq!(at("leave").satisfaction, Some(10.0));
    assert_eq!(at("dispute").satisfaction, None);
    let rated = r
        .ratings
        .iter()
        .filter(|x| x.satisfaction.is_some())
        .count();
    assert_eq!(rated, 3);
    // The visit is today in the hall's time zone (the default, Asia/Shanghai).
    let today = peakend_core::time::Zone::DEFAULT
        .local(chrono::Utc::now().timestamp_millis())
        .unwrap()
        .date_naive();
    assert!(r.date == today || r.date == today.pred_opt().unwrap());

    let (status, thanks) = get(&c, format!("{}/halls/h1/survey/thanks", app.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        thanks.contains("谢谢您") && thanks.contains("人民路营业厅"),
        "{thanks}"
    );
    assert!(!thanks.contains("已经收到"));
    let (_, thanks_en) = get(&c, format!("{}/halls/h1/survey/thanks?lang=en", app.base)).await;
    assert!(thanks_en.contains("Thank you!"));
    // The thank-you page points to the hall's busy-hour forecast, which is public.
    assert!(thanks.contains(r#"href="/halls/h1/busy""#));
    assert!(thanks_en.contains(r#"href="/halls/h1/busy?lang=en""#));
    let (status, busy) = get(&c, format!("{}/halls/h1/busy", app.base)).await;
    assert_eq!(status, StatusCode::OK, "{busy}");

    // The same phone opening the form again sees "already answered", not a new form…
    let resp = c
        .get(format!("{}/halls/h1/survey", app.base))
        .header(header::COOKIE, "peakend_answered_service-hall=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let again = resp.text().await.unwrap();
    assert!(
        again.contains("您已经评价过了") && !again.contains(r#"name="nonce""#),
        "{again}"
    );
    // …and a post from a second tab with its cookie stores nothing.
    let fresh = nonce_of(&get(&c, format!("{}/halls/h1/survey", app.base)).await.1);
    let resp = c
        .post(format!("{}/halls/h1/survey", app.base))
        .header(header::COOKIE, "other=x; peakend_answered_service-hall=1")
        .form(&good_answers(&fresh))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app).await.len(), 1);
});

peakend_testkit::on_both_backends!(a_bad_answer_is_named_and_nothing_is_stored, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    let (_, html) = get(&c, format!("{}/halls/h1/survey?lang=en", app.base)).await;
    let nonce = nonce_of(&html);
    let form = vec![
        ("nonce", nonce.clone()),
        ("sat.find", "7".to_owned()),
        ("sat.queue", "0".to_owned()),
        ("overall", "eleven".to_owned()),
        ("nps", "8".to_owned()),
        // No segment: optional, so not a problem.
    ];
    let (status, _, body) = post(&c, format!("{}/halls/h1/survey?lang=en", app.base), &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!body.contains("Please choose your brand"), "{body}");
    // The summary at the top links to each question with a problem.
    assert!(
        body.contains(r##"<a href="#q-sat.queue">How satisfied are you with the wait and how the queue was run?</a>"##),
        "{body}"
    );
    assert!(!body.contains(r##"<a href="#q-segment">"##));
    assert!(body.contains(r##"<a href="#q-overall">Overall satisfaction</a>"##));
    assert!(!body.contains(r##"<a href="#q-sat.find">"##));
    let at = |link: &str| body.find(link).unwrap();
    assert!(at(r##"href="#q-sat.queue""##) < at(r##"href="#q-overall""##));
    // The problem sits in the question it is about.
    let queue = body.split(r#"name="sat.queue""#).next().unwrap();
    let queue_block = &queue[queue.rfind("<fieldset").unwrap()..];
    assert!(queue_block.contains(r#"class="q bad""#), "{queue_block}");
    assert!(queue_block.contains("Please choose a score from 1 to 10"));
    let overall = body.split(r#"name="overall""#).next().unwrap();
    assert!(overall[overall.rfind("<fieldset").unwrap()..].contains(r#"class="q bad""#));
    let find = body.split(r#"name="sat.find""#).next().unwrap();
    assert!(!find[find.rfind("<fieldset").unwrap()..].contains(r#"class="q bad""#));
    // The answers are kept, with the same nonce.
    assert!(body.contains(r#"name="sat.find" value="7" checked"#));
    assert!(body.contains(r#"name="nps" value="8" checked"#));
    assert_eq!(nonce_of(&body), nonce);
    assert!(stored(&app).await.is_empty());

    // In Chinese too.
    let (status, _, body) = post(&c, format!("{}/halls/h1/survey", app.base), &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!body.contains("请选择您的品牌") && body.contains("请在 1–10 中选择一个分数"));

    // A form with nothing answered, or without its nonce, is shown again too.
    let (status, _, body) = post(
        &c,
        format!("{}/halls/h1/survey", app.base),
        &[("nonce", nonce.clone()), ("segment", "神州行".to_owned())],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("请至少回答一个问题"));
    let mut no_nonce = good_answers("");
    no_nonce.remove(0);
    let (status, _, body) = post(&c, format!("{}/halls/h1/survey", app.base), &no_nonce).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("已过期"));
    assert!(body.contains(r#"name="sat.queue" value="7" checked"#));
    assert!(stored(&app).await.is_empty());
});

peakend_testkit::on_both_backends!(the_same_form_sent_twice_is_stored_once, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    let nonce = nonce_of(&get(&c, format!("{}/halls/h1/survey", app.base)).await.1);
    let answers = good_answers(&nonce);
    let (first, h1, _) = post(&c, format!("{}/halls/h1/survey", app.base), &answers).await;
    let (second, h2, _) = post(&c, format!("{}/halls/h1/survey", app.base), &answers).await;
    assert_eq!(
        (first, second),
        (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER)
    );
    assert_eq!(h1[header::LOCATION], "/halls/h1/survey/thanks");
    assert_eq!(h2[header::LOCATION], "/halls/h1/survey/thanks?again=1");
    assert_eq!(stored(&app).await.len(), 1);
    let (status, page) = get(
        &c,
        format!("{}{}", app.base, h2[header::LOCATION].to_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("谢谢您") && page.contains("已经收到"));

    // Posts racing each other with one nonce: still one response, and no error page.
    let nonce = nonce_of(&get(&c, format!("{}/halls/h1/survey", app.base)).await.1);
    let answers = good_answers(&nonce);
    let url = format!("{}/halls/h1/survey", app.base);
    let posts = (0..4).map(|_| post(&c, url.clone(), &answers));
    for (status, _, body) in futures_util::future::join_all(posts).await {
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
    assert_eq!(stored(&app).await.len(), 2);
});

peakend_testkit::on_both_backends!(the_eleventh_post_in_a_minute_is_refused, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    let url = format!("{}/halls/h1/survey", app.base);
    // Posts that fail validation count too: the limit guards the server, not the data.
    let form = [("nonce", "web-x".to_owned())];
    for i in 0..10 {
        let (status, _, _) = post(&c, url.clone(), &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "post {i}");
    }
    let (status, headers, body) = post(&c, url.clone(), &good_answers("")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=7).contains(&retry), "{retry}");
    assert!(body.contains("请稍候再试"), "{body}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // The form itself can still be read, and another address has its own allowance.
    assert_eq!(get(&c, url.clone()).await.0, StatusCode::OK);
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let (status, _, _) = post(&other, url, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
});

peakend_testkit::on_both_backends!(the_qr_code_reads_as_the_form_address, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    for (query, expected) in [
        ("", format!("{}/halls/h1/survey", app.base)),
        (
            "?journey=service-hall",
            format!("{}/halls/h1/survey?journey=service-hall", app.base),
        ),
    ] {
        let resp = c
            .get(format!("{}/halls/h1/qr.png{query}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/png");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        let (w, h) = (info.width as usize, info.height as usize);
        // At least version 1 (21 modules) plus the 4-module quiet zones, at 8 px or more.
        assert!(w == h && w >= (21 + 8) * 8, "{w}×{h}");
        // The quiet zone: the first 4 modules' worth of rows are white.
        assert!(pixels[..w * 32].iter().all(|&p| p == 255));
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, expected);
    }

    let (status, page) = get(&c, format!("{}/halls/h1/qr?journey=service-hall", app.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("人民路营业厅"));
    assert!(page.contains("扫码评价本次服务") && page.contains("Scan to rate your visit"));
    assert!(page.contains(r#"src="/halls/h1/qr.png?journey=service-hall""#));
    assert!(page.contains("size:A5"));
    // Readable on the phone it is opened on, and honest about the address it prints
    // when no public one is set (the tests set none).
    assert!(page.contains(r#"name="viewport""#));
    assert!(page.contains("未设置公开地址") && page.contains(r#"class="warn""#));
});

peakend_testkit::on_both_backends!(unknown_halls_and_journeys_get_a_friendly_404, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    for path in [
        "/halls/nowhere/survey",
        "/halls/d/survey",
        "/halls/h1/survey?journey=bank-branch",
        "/halls/h1/survey?journey=Not%20A%20Key",
        "/halls/nowhere/survey/thanks",
        "/halls/nowhere/qr.png",
        "/halls/d/qr",
    ] {
        let resp = c.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            resp.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = resp.text().await.unwrap();
        assert!(body.contains("找不到这份问卷"), "{path}: {body}");
    }
    let (status, body) = get(&c, format!("{}/halls/nowhere/survey?lang=en", app.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("We cannot find this survey"));
    let (status, _, _) = post(
        &c,
        format!("{}/halls/nowhere/survey", app.base),
        &good_answers("web-00000000000000000000000000000000"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

peakend_testkit::on_both_backends!(the_long_form_asks_each_moments_need_elements, |url| {
    let app = spawn(url).await;
    let c = helpers::customer();
    let (_, html) = get(&c, format!("{}/halls/h1/survey", app.base)).await;
    // Every need element of every moment, as an optional 1–10 question.
    let needs: usize = app
        .journey
        .moments()
        .iter()
        .map(|m| m.core_needs.len())
        .sum();
    assert!(needs > 16);
    assert_eq!(
        html.matches(r#"value="10"><span>10</span>"#).count(),
        16 * 2 + needs + 2,
        "satisfaction and importance per moment, each need, overall and recommend"
    );
    assert!(html.contains(r#"name="need.queue.wait_foresight""#));
    assert!(html.contains("预知等候时长"));

    let nonce = nonce_of(&html);
    let mut answers = good_answers(&nonce);
    answers.push(("need.queue.wait_foresight", "9".into()));
    answers.push(("need.queue.wait_length", "6".into()));
    let (status, _, _) = post(&c, format!("{}/halls/h1/survey", app.base), &answers).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let rows = stored(&app).await;
    let queue = app
        .journey
        .moments()
        .iter()
        .position(|m| m.key.as_str() == "queue")
        .unwrap();
    let need = |key: &str| {
        app.journey.moments()[queue]
            .core_needs
            .iter()
            .position(|n| n.key.as_str() == key)
            .unwrap()
    };
    let mut got: Vec<(usize, usize, f64)> = rows[0]
        .needs
        .iter()
        .map(|n| (n.moment, n.need, n.importance))
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut want = vec![
        (queue, need("wait_foresight"), 9.0),
        (queue, need("wait_length"), 6.0),
    ];
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, want);

    // A need score out of range is named under its question, nothing stored.
    let (_, html) = get(&c, format!("{}/halls/h1/survey", app.base)).await;
    let mut answers = good_answers(&nonce_of(&html));
    answers.push(("need.queue.wait_length", "11".into()));
    let (status, _, page) = post(&c, format!("{}/halls/h1/survey", app.base), &answers).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains(r#"<details open>"#),
        "the need's part is opened"
    );
    assert!(
        page.contains(r##"href="#q-need.queue.wait_length""##),
        "{page}"
    );
    assert_eq!(stored(&app).await.len(), 1);
});

peakend_testkit::on_both_backends!(
    the_short_form_asks_the_purposes_peaks_the_end_and_three_more,
    |url| {
        let app = spawn(url).await;
        let c = helpers::customer();
        let (status, first) = get(&c, format!("{}/halls/h1/survey?short=1", app.base)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(first.contains("您今天来厅主要办什么？"));
        assert!(
            satisfaction_fields(&first).is_empty(),
            "the purpose comes first"
        );
        let link = "/halls/h1/survey?short=1&#38;purpose=%E7%BC%B4%E8%B4%B9";
        assert!(first.contains(link), "{first}");

        let (status, html) = get(
            &c,
            format!(
                "{}/halls/h1/survey?short=1&purpose=%E7%BC%B4%E8%B4%B9",
                app.base
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let asked = satisfaction_fields(&html);
        // With no answers stored yet, the study's importances pick the peaks: result,
        // phone_purchase and data_trial; leave is the end; three others rotate.
        assert_eq!(asked.len(), 7, "{asked:?}");
        for core in ["data_trial", "phone_purchase", "result", "leave"] {
            assert!(asked.iter().any(|k| k == core), "{core} in {asked:?}");
        }
        assert!(!html.contains(r#"name="imp."#) && !html.contains(r#"name="need."#));
        assert!(!html.contains(r#"name="tolerable_wait_min""#));
        assert!(html.contains(r#"name="purpose" value="缴费""#));
        assert!(
            html.contains(r#"action="/halls/h1/survey?short=1&#38;purpose=%E7%BC%B4%E8%B4%B9""#)
        );

        // Another form draws its own three others, and over many forms each other moment
        // comes up (planned missingness, not a fixed subset).
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..30 {
            let (_, h) = get(
                &c,
                format!(
                    "{}/halls/h1/survey?short=1&purpose=%E7%BC%B4%E8%B4%B9",
                    app.base
                ),
            )
            .await;
            seen.extend(satisfaction_fields(&h));
        }
        assert!(seen.len() >= 14, "{seen:?}");

        let nonce = nonce_of(&html);
        let mut answers = vec![
            ("nonce", nonce.clone()),
            ("purpose", "缴费".to_owned()),
            ("overall", "8".into()),
            ("nps", "9".into()),
            ("segment", "神州行".into()),
        ];
        let keys: Vec<&'static str> = asked
            .iter()
            .map(|k| &*Box::leak(format!("sat.{k}").into_boxed_str()))
            .collect();
        for k in &keys {
            answers.push((k, "7".into()));
        }
        let (status, _, _) = post(
            &c,
            format!(
                "{}/halls/h1/survey?short=1&purpose=%E7%BC%B4%E8%B4%B9",
                app.base
            ),
            &answers,
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let rows = stored(&app).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].purpose.as_deref(), Some("缴费"));
        assert_eq!(
            rows[0]
                .ratings
                .iter()
                .filter(|r| r.satisfaction.is_some())
                .count(),
            7
        );
        // Marked as the short form's, so the analysis weighs it by its purpose.
        assert!(rows[0].short_form);
    }
);

peakend_testkit::on_both_backends!(
    a_customer_who_skips_the_brand_is_stored_as_not_sure,
    |url| {
        let app = spawn(url).await;
        let c = helpers::customer();
        let (_, html) = get(&c, format!("{}/halls/h1/survey", app.base)).await;
        let answers: Vec<(&str, String)> = good_answers(&nonce_of(&html))
            .into_iter()
            .filter(|(k, _)| *k != "segment")
            .collect();
        let (status, _, _) = post(&c, format!("{}/halls/h1/survey", app.base), &answers).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let stored = stored(&app).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].segment, "不清楚");
        assert!(!stored[0].short_form, "the long form's answer");
    }
);
