//! `peakend survey rates`, `survey waits` and `analyze --from-db --rake` (issue 22) on
//! both backends: a day of served visits ingested from device events is the population,
//! a survey file's respondents are raked to it (weights 2, 0.5 and 1 by hand), a
//! respondent of a segment no visit has is refused by name, and bad margins are named.

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

/// A served visit's four events, `n` minutes into the morning.
fn visit(n: usize, ticket: &str, segment: &str, service: &str) -> String {
    let at = |m: usize| format!("2026-08-07T{:02}:{:02}:00+08:00", 9 + m / 60, m % 60);
    let (issued, called) = (n, 10 + 5 * n);
    format!(
        r#"{{"id":"{ticket}i","hall":"h1","type":"ticket_issued","at":"{}","ticket":"{ticket}","service":"{service}","segment":"{segment}"}}
{{"id":"{ticket}c","hall":"h1","type":"called","at":"{}","ticket":"{ticket}","counter":"1"}}
{{"id":"{ticket}s","hall":"h1","type":"service_started","at":"{}","ticket":"{ticket}","counter":"1"}}
{{"id":"{ticket}e","hall":"h1","type":"service_ended","at":"{}","ticket":"{ticket}","counter":"1","outcome":"done"}}
"#,
        at(issued),
        at(called),
        at(called),
        at(called + 4)
    )
}

peakend_testkit::on_both_backends!(rates_waits_and_raking_from_the_cli, |url| {
    let dir = tempfile::tempdir().unwrap();
    let org = write(
        dir.path(),
        "org.csv",
        "id,parent,level,name\np,,province,省\nc,p,city,市\nh1,c,hall,一厅\n",
    );
    assert!(peakend(url, &["org", "import", &org]).0);
    let mut events = String::from(
        r#"{"id":"open","hall":"h1","type":"counter_opened","at":"2026-08-07T09:00:00+08:00","counter":"1"}
"#,
    );
    for (n, (t, s, p)) in [
        ("G1", "全球通", "payment"),
        ("G2", "全球通", "payment"),
        ("B1", "神州行", "payment"),
        ("B2", "神州行", "data"),
    ]
    .iter()
    .enumerate()
    {
        events.push_str(&visit(n, t, s, p));
    }
    let events = write(dir.path(), "day.ndjson", &events);
    let (ok, _, err) = peakend(url, &["events", "ingest", &events]);
    assert!(ok, "{err}");

    // No invitations yet: nothing invited, the four visits counted.
    let (ok, out, err) = peakend(
        url,
        &[
            "survey",
            "rates",
            "--from",
            "2026-08-07",
            "--to",
            "2026-08-07",
            "--format",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let rates: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rates["total"]["invited"], 0);
    assert_eq!(rates["non_response"]["visits"], 4);
    let (ok, out, _) = peakend(
        url,
        &[
            "survey",
            "waits",
            "--from",
            "2026-08-07",
            "--to",
            "2026-08-07",
        ],
    );
    assert!(ok);
    assert!(
        out.contains("30+") && out.contains("容忍点 tolerance point"),
        "{out}"
    );

    // Respondents: gold paying 1, basic paying 2, basic for data 1. Raked to the
    // segments (2, 2) and purposes (3, 1): weights 2, 0.5, 1; overall
    // (9·2 + 6·0.5·2 + 3·1) / 4 = 6.75 where the plain mean is 6.
    let survey = write(
        dir.path(),
        "survey.csv",
        "respondent,hall,date,segment,purpose,overall\n\
         r1,h1,2026-08-07,全球通,payment,9\n\
         r2,h1,2026-08-07,神州行,payment,6\n\
         r3,h1,2026-08-07,神州行,data,3\n\
         r4,h1,2026-08-07,神州行,payment,6\n",
    );
    let (ok, _, err) = peakend(
        url,
        &["survey", "import", &survey, "--journey", "service-hall"],
    );
    assert!(ok, "{err}");
    let analyze = |extra: &[&str]| {
        let mut args = vec!["analyze", "--from-db", "--journey", "service-hall"];
        args.extend_from_slice(extra);
        peakend(url, &args)
    };
    let (ok, out, err) = analyze(&["--rake", "segment,purpose", "--format", "json"]);
    assert!(ok, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    let close = |v: &Value, x: f64| (v.as_f64().unwrap() - x).abs() < 1e-9;
    assert!(close(&a["indices"]["overall"], 6.75), "{}", a["indices"]);
    let r = &a["raking"];
    assert_eq!(r["visits"], 4);
    assert!(close(&r["weight_min"], 0.5) && close(&r["weight_max"], 2.0));
    // Kish: 4 · (4 + 0.25 + 0.25 + 1) / 4² = 1.375.
    assert!(close(&r["design_effect"], 1.375));
    assert!(close(&a["weights"]["全球通 × payment"], 0.5));
    let (ok, out, _) = analyze(&["--rake", "segment,purpose"]);
    assert!(ok);
    assert!(out.contains("design effect 设计效应"), "{out}");
    // Bad margins and --weights with --rake are refused before anything is read.
    let (ok, _, err) = analyze(&["--rake", "segment,age"]);
    assert!(
        !ok && err.contains("`age` is not a margin to rake on"),
        "{err}"
    );
    let (ok, _, err) = analyze(&["--rake", "segment", "--weights", "全球通=1"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    // A gold respondent for data, a cell no visit has (though both its margins do).
    let cell = write(
        dir.path(),
        "cell.csv",
        "respondent,hall,date,segment,purpose,overall\nr6,h1,2026-08-07,全球通,data,7\n",
    );
    assert!(
        peakend(
            url,
            &["survey", "import", &cell, "--journey", "service-hall"]
        )
        .0
    );
    let (ok, _, err) = analyze(&["--rake", "segment,purpose"]);
    assert!(!ok);
    assert!(
        err.contains("the cell `全球通` × `data` has 1 respondents but no served visits"),
        "{err}"
    );
    // On the purpose alone it rakes: payment's three stand for 3, data's two for 1.
    let (ok, out, err) = analyze(&["--rake", "purpose", "--format", "json"]);
    assert!(ok, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert!(close(&a["raking"]["weight_min"], 0.5) && close(&a["raking"]["weight_max"], 1.0));
    // A respondent of a segment with no visit is named.
    let stray = write(
        dir.path(),
        "stray.csv",
        "respondent,hall,date,segment,purpose,overall\nr5,h1,2026-08-07,动感地带,payment,8\n",
    );
    assert!(
        peakend(
            url,
            &["survey", "import", &stray, "--journey", "service-hall"]
        )
        .0
    );
    let (ok, _, err) = analyze(&["--rake", "segment,purpose"]);
    assert!(!ok);
    assert!(
        err.contains("segment `动感地带` has 1 respondents but no served visits"),
        "{err}"
    );
});
