//! `peakend handbook` and `peakend exam questions` as a user runs them.

use assert_cmd::Command;
use serde_json::Value;

fn peakend(db: &str, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("peakend")
        .unwrap()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn ok(db: &str, args: &[&str]) -> String {
    let out = peakend(db, args);
    assert!(
        out.status.success(),
        "peakend {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn handbook_and_exam_questions_from_the_database() {
    let db = peakend_testkit::sqlite();
    let json = ok(
        &db.url,
        &[
            "handbook",
            "--journey",
            "service-hall",
            "--role",
            "frontline",
            "--format",
            "json",
        ],
    );
    let hb: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(hb["journey"], "service-hall");
    assert_eq!(hb["role"], "frontline");
    assert_eq!(hb["lanes"], serde_json::json!(["frontstage"]));
    let moments = hb["moments"].as_array().unwrap();
    assert!(!moments.is_empty());
    let standards: Vec<&Value> = moments
        .iter()
        .flat_map(|m| m["standards"].as_array().unwrap())
        .collect();
    assert!(standards.iter().all(|s| s["owner"] == "frontline"));
    let typing = standards
        .iter()
        .find(|s| s["key"] == "typing_speed")
        .expect("typing_speed is front-line staff's");
    assert_eq!(typing["threshold_text"]["zh"], "≥ 40 字/分钟");

    let html = ok(
        &db.url,
        &[
            "handbook",
            "--journey",
            "service-hall",
            "--role",
            "floor_walker",
        ],
    );
    assert!(html.starts_with("<!doctype html>") && html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("等候超过15分钟的客户主动进行关怀") && html.contains("≤ 15 分钟"));

    let bank: Value = serde_json::from_str(&ok(
        &db.url,
        &[
            "exam",
            "questions",
            "--journey",
            "service-hall",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let care = bank
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["key"] == "care_after")
        .unwrap();
    assert_eq!(care["answer"], 15.0);
    assert!(
        care["question"]["zh"]
            .as_str()
            .unwrap()
            .contains("超过____分钟")
    );
    let table = ok(&db.url, &["exam", "questions", "--journey", "service-hall"]);
    assert!(table.starts_with("KEY") && table.contains("care_after"));

    let bad = peakend(
        &db.url,
        &["handbook", "--journey", "service-hall", "--role", "chef"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`chef` is not a role of the hall"));
    let missing = peakend(
        &db.url,
        &["handbook", "--journey", "nope", "--role", "frontline"],
    );
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "peakend: error: journey `nope` not found\n"
    );
}
