//! Issue 21: `peakend audit template`, the checklist of a kind of audit as CSV (to fill
//! in), as a printable page and as JSON.

use assert_cmd::Command;
use serde_json::Value;

fn peakend(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("peakend")
        .unwrap()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(db: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = peakend(db, args);
    assert!(ok, "peakend {args:?} failed: {stderr}");
    stdout
}

#[test]
fn audit_template_prints_a_kind_s_checklist() {
    let db = peakend_testkit::sqlite();
    let csv = ok(
        &db.url,
        &[
            "audit",
            "template",
            "--journey",
            "service-hall",
            "--kind",
            "walk",
            "--format",
            "csv",
        ],
    );
    let csv = csv.trim_start_matches('\u{feff}');
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "moment",
            "moment_name",
            "standard",
            "text",
            "owner",
            "verify",
            "how",
            "every",
            "auto",
            "result",
            "note"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let care = rows
        .iter()
        .find(|r| &r[2] == "care_after")
        .expect("a row for care_after");
    assert_eq!(&care[0], "queue");
    assert_eq!(&care[5], "duration_max 300");
    assert_eq!(&care[6], "记录秒数（不超过 300 秒）");
    assert_eq!(&care[8], "care_in_time");
    assert!(care[9].is_empty() && care[10].is_empty(), "left to fill in");
    assert!(
        rows.iter().all(|r| &r[2] != "online_map"),
        "inspection only"
    );

    let html = ok(
        &db.url,
        &[
            "audit",
            "template",
            "--journey",
            "service-hall",
            "--kind",
            "mystery",
        ],
    );
    assert!(html.starts_with("<!doctype html>") && html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("vip_water") && html.contains("@page { size: A4"));

    let json: Value = serde_json::from_str(&ok(
        &db.url,
        &[
            "audit",
            "template",
            "--journey",
            "service-hall",
            "--kind",
            "inspection",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(json["kind"], "inspection");
    assert!(
        json["moments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["items"].as_array().unwrap())
            .any(|i| i["standard"] == "online_map")
    );

    // Call monitoring: the hotline's standards a recording lets a monitor judge.
    let csv = ok(
        &db.url,
        &[
            "audit",
            "template",
            "--journey",
            "hotline",
            "--kind",
            "monitoring",
            "--format",
            "csv",
        ],
    );
    for s in ["standard_greeting", "hold_max", "closing_phrase"] {
        assert!(csv.contains(s), "{s}: {csv}");
    }
    assert!(!csv.contains("answer_within"), "{csv}");
    let html = ok(
        &db.url,
        &[
            "audit",
            "template",
            "--journey",
            "hotline",
            "--kind",
            "monitoring",
        ],
    );
    assert!(
        html.contains("服务监听检查表"),
        "the kind's name in the title"
    );

    let (ok, _, stderr) = peakend(
        &db.url,
        &["audit", "template", "--journey", "nope", "--kind", "walk"],
    );
    assert!(
        !ok && stderr.contains("journey `nope` not found"),
        "{stderr}"
    );
}
