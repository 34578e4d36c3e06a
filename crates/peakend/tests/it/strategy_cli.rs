//! `peakend strategy` (issue 23) on both backends: the ranking of the stored survey's
//! dimensions, a strategy stored from a file with the API's checks (a bad one named by
//! its path, nothing stored), and printed back as a table and as JSON.

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

fn write(dir: &std::path::Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

peakend_testkit::on_both_backends!(a_strategy_is_ranked_stored_and_printed, |url| {
    let dir = tempfile::tempdir().unwrap();
    let org = write(
        dir.path(),
        "org.csv",
        "id,parent,level,name\np,,province,省\nc,p,city,市\nh1,c,hall,一厅\n",
    );
    assert!(peakend(url, &["org", "import", &org]).0);
    // No answers yet: every dimension listed, none ranked.
    let (ok, out, err) = peakend(url, &["strategy", "service-hall", "--format", "json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["org"], "p", "the root by default");
    assert_eq!(v["ranking"].as_array().unwrap().len(), 11);
    assert!(
        v["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["rank"].is_null())
    );

    // `find` (efficiency, control, tangibles, reliability) 9 / 6, `arrive` (efficiency,
    // control, tangibles) 8 / 8.
    let survey = write(
        dir.path(),
        "survey.csv",
        "respondent,hall,date,segment,imp.find,sat.find,imp.arrive,sat.arrive\n\
         r1,h1,2026-08-07,g,9,6,8,8\nr2,h1,2026-08-07,g,9,6,8,8\n",
    );
    let (ok, _, err) = peakend(
        url,
        &["survey", "import", &survey, "--journey", "service-hall"],
    );
    assert!(ok, "{err}");

    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"theme": "efficiency", "initiatives": [{"title": "t", "owner": "o", "moments": ["x"]}]}"#,
    );
    let (ok, _, err) = peakend(
        url,
        &["strategy", "service-hall", "--org", "p", "--set", &bad],
    );
    assert!(!ok);
    assert!(
        err.contains("initiatives[0].moments[0]: unknown moment \"x\""),
        "{err}"
    );
    let (ok, _, err) = peakend(url, &["strategy", "service-hall", "--set", &bad]);
    assert!(!ok && err.contains("--org"), "{err}");

    let good = write(
        dir.path(),
        "good.json",
        r#"{"feasibility": {"efficiency": 5}, "theme": "efficiency",
            "sub_themes": ["缩短找厅时间"],
            "initiatives": [{"title": "地图标注营业时间", "owner": "市场部", "moments": ["find"], "status": "doing"}]}"#,
    );
    let (ok, out, err) = peakend(
        url,
        &["strategy", "service-hall", "--org", "p", "--set", &good],
    );
    assert!(ok, "{err}");
    // Efficiency: half the experience importance, gap 10 − 118/17, feasibility 5.
    let first = out.lines().nth(2).unwrap();
    assert!(
        first.starts_with("1 ") && first.contains("efficiency") && first.contains("★ theme"),
        "{out}"
    );
    assert!(out.contains("theme 主题: efficiency 效率"), "{out}");
    assert!(
        out.contains("地图标注营业时间") && out.contains("saved "),
        "{out}"
    );

    let (ok, out, err) = peakend(
        url,
        &["strategy", "service-hall", "--org", "p", "--format", "json"],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["respondents"], 2);
    assert_eq!(v["updated_by"], "cli");
    assert_eq!(v["strategy"]["initiatives"][0]["status"], "doing");
    let p = v["ranking"][0]["priority"].as_f64().unwrap();
    assert!((p - 0.5 * (10.0 - 118.0 / 17.0)).abs() < 1e-9, "{p}");
    // The hall has none of its own.
    let (_, out, _) = peakend(
        url,
        &[
            "strategy",
            "service-hall",
            "--org",
            "h1",
            "--format",
            "json",
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["updated_by"].is_null());
});
