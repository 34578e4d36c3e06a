//! Issue 23: the house of quality in three stages over HTTP — the JSON, the SVG and
//! XLSX exports, a director's edit of one cell kept in the region's own section (the
//! parent's cells still reach it), and the page that draws it.

use crate::helpers;
use helpers::json_of;

use helpers::{Setup, TestApp};
use peakend_core::{Journey, JourneyKey, Role};
use peakend_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `east-hall` extends the built-in journey and states no house of its own.
fn region() -> Journey {
    let builtin = peakend_core::builtin::journeys()
        .unwrap()
        .into_iter()
        .find(|j| j.key().as_str() == "service-hall")
        .unwrap();
    let mut doc: Value = serde_json::from_str(&builtin.to_json_pretty()).unwrap();
    doc["key"] = json!("east-hall");
    doc["extends"] = json!("service-hall");
    doc.as_object_mut().unwrap().remove("qfd");
    Journey::from_json(&doc.to_string()).unwrap()
}

async fn spawn(url: &str) -> TestApp {
    TestApp::spawn_with(
        url,
        Setup {
            users: vec![
                ("admin", Role::Admin, "p"),
                ("director", Role::Director, "p"),
                ("mgr", Role::HallManager, "h1"),
            ],
            journeys: vec![region()],
            ..Setup::default()
        },
    )
    .await
}

peakend_testkit::on_both_backends!(
    three_stages_cascade_export_and_a_directors_edit_stays_the_regions,
    |url| {
        let app = spawn(url).await;
        let admin = app.user("admin").await;
        let get = |q: &str| admin.get(app.url(&format!("/api/v1/qfd/{q}"))).send();

        // Stage 2 of the built-in journey: the moments weighed by stage 1's importances.
        let (status, s1) = json_of(get("service-hall").await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{s1}");
        let (status, s2) = json_of(get("service-hall?stage=2").await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{s2}");
        assert_eq!(s2["stage"], 2);
        let weight_of = |house: &Value, key: &str| {
            house["house"]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["key"] == key)
                .map(|r| r["weight"].as_f64().unwrap())
        };
        let importance_of = |house: &Value, key: &str| {
            house["importance"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["key"] == key)
                .map(|c| c["absolute"].as_f64().unwrap())
        };
        // The queue moment's row weight in stage 2 is its column importance in stage 1.
        assert_eq!(weight_of(&s2, "queue"), importance_of(&s1, "queue"), "{s2}");
        assert!(
            s2["house"]["columns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["key"] == "hall_information")
        );
        let (status, s3) = json_of(get("service-hall?stage=3").await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{s3}");
        assert_eq!(
            weight_of(&s3, "hall_information"),
            importance_of(&s2, "hall_information")
        );
        let (status, e) = json_of(get("service-hall?stage=4").await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        // A journey without process elements has no stage 2: the asker's fault, named.
        let (status, e) = json_of(get("hotline?stage=2").await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("process elements"),
            "{e}"
        );

        // The exports.
        let svg = get("service-hall?stage=2&format=svg").await.unwrap();
        assert_eq!(svg.status(), StatusCode::OK);
        assert!(
            svg.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("image/svg+xml")
        );
        let text = svg.text().await.unwrap();
        assert!(
            text.starts_with("<svg") || text.starts_with("<?xml"),
            "{text:.80}"
        );
        assert!(
            text.contains("网点信息发布"),
            "labels in Chinese by default"
        );
        let xlsx = get("service-hall?stage=3&format=xlsx&lang=en")
            .await
            .unwrap();
        assert_eq!(xlsx.status(), StatusCode::OK);
        let bytes = xlsx.bytes().await.unwrap();
        assert_eq!(&bytes[..2], b"PK", "an xlsx is a zip");
        let (status, _) = json_of(get("service-hall?format=pdf").await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // A director's edit: the built-in journey is the study's; the region's is hers.
        let director = app.user("director").await;
        let edit = |journey: &str, body: Value| {
            director
                .post(app.url(&format!("/api/v1/qfd/{journey}/relationships")))
                .json(&body)
                .send()
        };
        let cell = json!({"stage": 2, "row": "queue", "column": "hall_information", "strength": 9});
        let (status, e) = json_of(edit("service-hall", cell.clone()).await.unwrap()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{e}");
        // The region inherits the parent's house: same stage-2 columns and cells.
        let (_, before) = json_of(get("east-hall?stage=2").await.unwrap()).await;
        assert_eq!(before["house"]["columns"], s2["house"]["columns"]);
        let (status, done) = json_of(edit("east-hall", cell).await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["strength"], 9.0);
        let (_, after) = json_of(get("east-hall?stage=2").await.unwrap()).await;
        assert!(
            importance_of(&after, "hall_information").unwrap()
                > importance_of(&before, "hall_information").unwrap()
        );
        // Stored: only the region's own cell, so the parent's later edits still reach it.
        let stored = app
            .store
            .journey_as_stored(&JourneyKey::parse("east-hall").unwrap())
            .await
            .unwrap()
            .unwrap();
        let own = serde_json::to_value(stored.qfd()).unwrap();
        assert!(
            own["process_elements"]
                .as_array()
                .is_none_or(|a| a.is_empty()),
            "{own}"
        );
        assert_eq!(
            own["stage2"]["relationships"].as_array().unwrap().len(),
            1,
            "{own}"
        );
        // Bad edits: an unknown column, a strength not 9/3/1/0, a stage 5 — nothing stored.
        for (body, want) in [
            (
                json!({"stage": 2, "row": "queue", "column": "nowhere", "strength": 3}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"stage": 2, "row": "queue", "column": "hall_information", "strength": 5}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"stage": 5, "row": "queue", "column": "hall_information", "strength": 3}),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let (status, e) = json_of(edit("east-hall", body.clone()).await.unwrap()).await;
            assert_eq!(status, want, "{body}: {e}");
        }
        let (_, again) = json_of(get("east-hall?stage=2").await.unwrap()).await;
        assert_eq!(again["importance"], after["importance"]);
        // A hall manager may look, not edit.
        let mgr = app.user("mgr").await;
        let resp = mgr
            .post(app.url("/api/v1/qfd/east-hall/relationships"))
            .json(&json!({"stage": 2, "row": "queue", "column": "hall_information", "strength": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);

        // The page draws the house and offers the edit to the director only.
        let page = director
            .get(app.url("/journeys/east-hall/qfd?stage=2"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("<svg") && html.contains("id=\"qfd-edit\""),
            "{html:.200}"
        );
        let html = mgr
            .get(app.url("/journeys/east-hall/qfd?stage=2&lang=en"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"qfd-readonly\"") && html.contains("Service delivery"));
    }
);
