//! Issue 21 over HTTP, on both databases: a role's printable handbook of the built-in
//! journey, the exam question bank for trainers, and the errors for a bad role or an
//! unknown journey.

use crate::helpers;

use helpers::{Setup, TestApp, browser};
use peakend_core::Role;
use reqwest::StatusCode;

async fn spawn(url: &str) -> TestApp {
    TestApp::spawn_with(
        url,
        Setup {
            users: vec![
                ("admin", Role::Admin, "p"),
                ("mgr", Role::HallManager, "h1"),
                ("li", Role::Frontline, "h1"),
                ("shopper", Role::Auditor, "p"),
            ],
            ..Setup::default()
        },
    )
    .await
}

async fn get(client: &reqwest::Client, url: String) -> (StatusCode, String) {
    let resp = client.get(url).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

peakend_testkit::on_both_backends!(handbooks_and_the_exam_are_served, |url| {
    let app = spawn(url).await;
    let (li, _) = app.sign_in("li").await;

    // The floor walker's handbook: their care standard with its threshold in words.
    let (status, html) = get(
        &li,
        app.url("/journeys/service-hall/handbook?role=floor_walker"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("流动岗服务手册"), "the title names the role");
    assert!(html.contains("data-standard=\"care_after\""));
    assert!(
        html.contains("等候超过15分钟的客户主动进行关怀：递送一杯水、主动问候、主动致歉。"),
        "the care_after standard's text"
    );
    assert!(html.contains("15 分钟"), "the threshold in words");
    assert!(html.contains("data-moment=\"queue\""));
    assert!(
        !html.contains("data-moment=\"counter_wait\""),
        "a moment without a floor-walker standard is left out"
    );
    assert!(html.contains("id=\"role-picker\""));
    assert!(html.contains("<option value=\"floor_walker\" selected>"));
    assert!(
        !html.contains("id=\"exam-link\""),
        "front-line staff are not shown the answers"
    );

    // Front-line staff by default; English on request.
    let (status, html) = get(&li, app.url("/journeys/service-hall/handbook")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<option value=\"frontline\" selected>"));
    assert!(html.contains("data-standard=\"typing_speed\"") && html.contains("≥ 40 字/分钟"));
    let (_, html) = get(
        &li,
        app.url("/journeys/service-hall/handbook?role=floor_walker&lang=en"),
    )
    .await;
    assert!(html.contains("Floor walker handbook") && html.contains("≤ 15 min"));

    // A bad role and an unknown journey say what is wrong.
    let (status, html) = get(&li, app.url("/journeys/service-hall/handbook?role=chef")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("`chef` is not a role of the hall") && html.contains("floor_walker"),
        "{html}"
    );
    let (status, html) = get(&li, app.url("/journeys/no-such/handbook")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("journey `no-such` not found"), "{html}");

    // The exam with its answers is for trainers.
    let (status, _) = get(&li, app.url("/journeys/service-hall/exam")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (mgr, _) = app.sign_in("mgr").await;
    let (status, html) = get(&mgr, app.url("/journeys/service-hall/exam")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("data-question=\"care_after\""));
    assert!(html.contains("等候超过____分钟的客户主动进行关怀"));
    assert!(html.contains("data-question=\"system_time\"") && html.contains("2.5 分钟"));
    assert_eq!(html.matches("data-question=").count(), 23);
    assert!(html.contains("data-question=\"tier_diamond\""));
    let (_, html) = get(&mgr, app.url("/journeys/service-hall/handbook")).await;
    assert!(html.contains("id=\"exam-link\""));
    let (status, _) = get(&mgr, app.url("/journeys/no-such/exam")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The hall manager's handbook covers every moment.
    let (_, html) = get(
        &mgr,
        app.url("/journeys/service-hall/handbook?role=hall_manager"),
    )
    .await;
    assert_eq!(html.matches("<article class=\"hb-moment").count(), 16);

    // Signed-in users who may view only; others are sent to sign in.
    let (shopper, _) = app.sign_in("shopper").await;
    let (status, _) = get(&shopper, app.url("/journeys/service-hall/handbook")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let resp = browser()
        .get(app.url("/journeys/service-hall/handbook"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
});

#[test]
fn the_standalone_handbook_needs_nothing_from_outside() {
    let journeys = peakend_core::builtin::journeys().unwrap();
    let j = journeys
        .iter()
        .find(|j| j.key().as_str() == "service-hall")
        .unwrap();
    let html = peakend_http::handbook_html(j, peakend_core::OwnerRole::FloorWalker);
    assert!(html.starts_with("<!doctype html>") && html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("<style>") && html.contains("15 分钟"));
    assert!(!html.contains("<link") && !html.contains("<script src"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}
