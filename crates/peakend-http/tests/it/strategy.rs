//! Issue 23: the strategy page over HTTP — the dimensions ranked from the stored
//! survey, a director's strategy saved (a hall manager refused, a bad body answered
//! 422 naming the field), the execution map exported, and the page.

use crate::helpers;
use helpers::json_of;

use helpers::{Setup, TestApp};
use peakend_core::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn spawn(url: &str) -> TestApp {
    TestApp::spawn_with(
        url,
        Setup {
            users: vec![
                ("admin", Role::Admin, "p"),
                ("director", Role::Director, "p"),
                ("mgr", Role::HallManager, "h1"),
            ],
            ..Setup::default()
        },
    )
    .await
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
}

fn row<'a>(view: &'a Value, dimension: &str) -> &'a Value {
    view["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dimension"] == dimension)
        .unwrap()
}

peakend_testkit::on_both_backends!(
    dimensions_are_ranked_and_a_directors_strategy_is_kept_and_exported,
    |url| {
        let app = spawn(url).await;
        let admin = app.user("admin").await;
        // Three answers rating `find` (efficiency, control, tangibles, reliability)
        // 9 / 6 and `arrive` (efficiency, control, tangibles) 8 / 8.
        for n in 1..=3 {
            let body = json!({
                "respondent": format!("s-{n}"), "hall": "h1", "date": "2026-05-01",
                "segment": "全球通", "overall": 8,
                "ratings": {"find": {"importance": 9, "satisfaction": 6},
                            "arrive": {"importance": 8, "satisfaction": 8}}
            });
            let resp = admin
                .post(app.url("/api/v1/journeys/service-hall/responses"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED);
        }

        let director = app.user("director").await;
        let (status, v) = json_of(
            director
                .get(app.url("/api/v1/strategy/service-hall?org=p"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["respondents"], 3);
        assert_eq!(v["gap5"], false);
        assert!(v["updated_by"].is_null());
        // Efficiency and control weigh 9 + 8 of 34 experience points each; their
        // satisfaction (9·6 + 8·8) / 17, so a gap of 52/17. Feasibility 3 by default:
        // 0.5 × 52/17 × 3/5. Tangibles weighs 17 of 26 SERVQUAL points (reliability,
        // find alone, 9): 17/26 × 52/17 × 3/5 = 1.2, first.
        let eff = row(&v, "efficiency");
        close(&eff["importance_share"], 0.5);
        close(&eff["gap"], 52.0 / 17.0);
        close(&eff["priority"], 0.5 * 52.0 / 17.0 * 0.6);
        assert_eq!(eff["gap_source"], "satisfaction");
        assert_eq!(v["ranking"][0]["dimension"], "tangibles");
        close(&v["ranking"][0]["priority"], 1.2);
        let knowledge = row(&v, "knowledge");
        assert!(knowledge["rank"].is_null());
        assert_eq!(knowledge["unranked"], "no_answers");

        // The director rates efficiency easy and makes it the theme.
        let strategy = json!({
            "feasibility": {"efficiency": 5, "tangibles": 2},
            "theme": "efficiency",
            "sub_themes": ["缩短找厅与到厅时间"],
            "initiatives": [
                {"title": "地图与导航标注营业时间", "owner": "市场部", "due": "2026-09-30",
                 "moments": ["find"], "status": "doing"},
                {"title": "=HYPERLINK(\"x\")", "owner": "王丽"}
            ]
        });
        let put = |client: &reqwest::Client, org: &str, body: &Value| {
            client
                .put(app.url(&format!("/api/v1/strategy/service-hall?org={org}")))
                .json(body)
                .send()
        };
        let (status, saved) = json_of(put(&director, "p", &strategy).await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(saved["ranking"][0]["dimension"], "efficiency");
        assert_eq!(saved["ranking"][0]["rank"], 1);
        close(&saved["ranking"][0]["priority"], 0.5 * 52.0 / 17.0);
        assert_eq!(saved["ranking"][0]["theme"], true);
        // tangibles at feasibility 2: 17/26 × 52/17 × 2/5 = 0.8.
        close(&row(&saved, "tangibles")["priority"], 0.8);
        let (_, again) = json_of(
            director
                .get(app.url("/api/v1/strategy/service-hall?org=p"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(again["strategy"], saved["strategy"]);
        assert_eq!(again["updated_by"], "director");
        assert_eq!(
            again["strategy"]["initiatives"][0]["moments"],
            json!(["find"])
        );
        assert_eq!(again["strategy"]["initiatives"][1]["status"], "planned");

        // A hall manager may read her hall's, not save; nor read above her hall.
        let mgr = app.user("mgr").await;
        let resp = put(&mgr, "h1", &strategy).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let resp = mgr
            .get(app.url("/api/v1/strategy/service-hall?org=p"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let (status, own) = json_of(
            mgr.get(app.url("/api/v1/strategy/service-hall"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{own}");
        assert_eq!(own["org"], "h1");
        assert!(
            own["updated_by"].is_null(),
            "the province's is not the hall's"
        );

        // A bad body: every problem named by its path, nothing stored.
        let bad = json!({
            "feasibility": {"efficiency": 9},
            "initiatives": [{"title": "t", "owner": "o", "moments": ["nowhere"]}]
        });
        let (status, e) = json_of(put(&director, "p", &bad).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(
            e["error"]["problems"][1]["path"], "initiatives[0].moments[0]",
            "{e}"
        );
        let message = e["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("feasibility.efficiency: 9 is not a whole number 1–5")
                && message.contains("initiatives[0].moments[0]: unknown moment \"nowhere\""),
            "{message}"
        );
        let (status, _) = json_of(
            director
                .put(app.url("/api/v1/strategy/service-hall?org=p"))
                .header("content-type", "application/json")
                .body("{\"theme\": 3}")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, still) = json_of(
            director
                .get(app.url("/api/v1/strategy/service-hall?org=p"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(still["strategy"], saved["strategy"]);

        // The execution map.
        let csv = director
            .get(app.url("/api/v1/strategy/service-hall/export?org=p&format=csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), StatusCode::OK);
        assert!(
            csv.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = csv.text().await.unwrap();
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(
            lines,
            [
                "theme,theme_name,sub_themes,initiative,owner,due,status,moments",
                "efficiency,效率,缩短找厅与到厅时间,地图与导航标注营业时间,市场部,2026-09-30,进行中,find 寻找",
                "efficiency,效率,缩短找厅与到厅时间,\"'=HYPERLINK(\"\"x\"\")\",王丽,,计划,",
            ]
        );
        let xlsx = director
            .get(app.url("/api/v1/strategy/service-hall/export?org=p&format=xlsx&lang=en"))
            .send()
            .await
            .unwrap();
        assert_eq!(xlsx.status(), StatusCode::OK);
        assert_eq!(&xlsx.bytes().await.unwrap()[..2], b"PK", "an xlsx is a zip");
        let resp = director
            .get(app.url("/api/v1/strategy/service-hall/export?org=p&format=pdf"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

        // A browser's save needs the session's CSRF token.
        let (browser, csrf) = app.sign_in("director").await;
        let resp = put(&browser, "p", &strategy).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let resp = browser
            .put(app.url("/api/v1/strategy/service-hall?org=p"))
            .header("x-csrf-token", &csrf)
            .json(&strategy)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);

        // The page: a form for the director, read-only for the hall manager.
        let html = director
            .get(app.url("/strategy/service-hall?org=p"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("id=\"add-initiative\"")
                && html.contains("value=\"地图与导航标注营业时间\"")
                && html.contains(
                    "<tr data-dimension=\"efficiency\" class=\"theme\"><td>1</td><td>效率 ★</td>"
                ),
            "{html}"
        );
        let resp = mgr
            .get(app.url("/strategy/service-hall?lang=en"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("id=\"strategy-readonly\"")
                && !html.contains("id=\"add-initiative\"")
                && html.contains("Efficiency"),
            "{html}"
        );
        // The analysis page links to it beside the radar.
        let html = director
            .get(app.url("/analysis?node=p"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("href=\"/strategy/service-hall?org=p\""),
            "{html}"
        );
    }
);
