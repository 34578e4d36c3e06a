//! `peakend analyze FILE` on files big enough to be cut into chunks: clean files take
//! the parallel fast path, and a single bad cell anywhere still gets the careful
//! parser's full report.

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
    let (ok, out, err) = peakend(db, args);
    assert!(ok, "peakend {args:?} failed: {err}");
    out
}

#[test]
fn large_files_analyse_and_bad_cells_are_still_reported_one_by_one() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let org = "id,parent,level,name\np,,province,省\nc,p,city,市\nh1,c,hall,一厅\nh2,c,hall,二厅\n";
    let org_file = dir.path().join("org.csv");
    std::fs::write(&org_file, org).unwrap();
    ok(&db.url, &["org", "import", org_file.to_str().unwrap()]);
    let file = dir.path().join("survey.csv");
    let file = file.to_str().unwrap();
    ok(
        &db.url,
        &[
            "survey",
            "synth",
            "--journey",
            "service-hall",
            "--rows",
            "4000",
            "--seed",
            "9",
            "-o",
            file,
        ],
    );
    let analyze = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "analyze",
            file,
            "--journey",
            "service-hall",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        peakend(&db.url, &args)
    };
    let (good, out, err) = analyze(file, &[]);
    assert!(good, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["respondents"], 4000);
    let (good, out, err) = analyze(file, &["--by", "city"]);
    assert!(good, "{err}");
    let by_city: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(by_city["groups"][0]["group"], "c");
    assert_eq!(by_city["groups"][0]["analysis"]["respondents"], 4000);

    // One quoted cell sends the same rows to the careful parser: the fast path's
    // figures are the careful path's, to rounding.
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(",全球通,"));
    let quoted = dir.path().join("quoted.csv");
    std::fs::write(&quoted, text.replacen(",全球通,", ",\"全球通\",", 1)).unwrap();
    let (good, out, err) = analyze(quoted.to_str().unwrap(), &[]);
    assert!(good, "{err}");
    let careful: Value = serde_json::from_str(&out).unwrap();
    peakend_testkit::assert_json_near(&json, &careful, "analysis");

    // A bad rating near the end and a respondent repeated far from its first row.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let first_id = lines[1].split(',').next().unwrap().to_owned();
    let mut cells: Vec<&str> = lines[3900].split(',').collect();
    cells[7] = "11"; // imp.find
    lines[3900] = cells.join(",");
    let mut dup: Vec<&str> = lines[3950].split(',').collect();
    dup[0] = &first_id;
    lines[3950] = dup.join(",");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let (good, _, err) = analyze(bad.to_str().unwrap(), &[]);
    assert!(!good);
    assert!(
        err.contains("row 3901, column imp.find: 11 is outside 1–10; ")
            && err.contains(&format!(
                "row 3951, column respondent: duplicate respondent `{first_id}` (also row 2)"
            )),
        "{err}"
    );
}
