//! The `peakend` binary as a user runs it, against a fresh database on each backend.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use serde_json::{Value, json};

const MOMENTS: [&str; 16] = [
    "find",
    "arrive",
    "storefront",
    "enter",
    "environment",
    "wandering",
    "enquiry",
    "data_trial",
    "self_service",
    "phone_purchase",
    "queue",
    "counter_talk",
    "counter_wait",
    "result",
    "dispute",
    "leave",
];

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn peakend(db: &str, args: &[&str]) -> Run {
    let out = Command::cargo_bin("peakend")
        .unwrap()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn ok(db: &str, args: &[&str]) -> String {
    let run = peakend(db, args);
    assert!(run.ok, "peakend {args:?} failed: {}", run.stderr);
    run.stdout
}

/// Fails with exactly one line on stderr, which is returned.
fn fails(db: &str, args: &[&str]) -> String {
    let run = peakend(db, args);
    assert!(
        !run.ok,
        "peakend {args:?} should have failed: {}",
        run.stdout
    );
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one-line reason expected: {}",
        run.stderr
    );
    assert!(run.stderr.starts_with("peakend: error: "), "{}", run.stderr);
    run.stderr
}

fn export(db: &str, key: &str) -> Value {
    serde_json::from_str(&ok(db, &["journey", "export", key, "--format", "json"])).unwrap()
}

fn write(dir: &Path, name: &str, content: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The built-in journey re-keyed as one that extends it.
fn extension(db: &str, key: &str) -> Value {
    let mut doc = export(db, "service-hall");
    doc["key"] = json!(key);
    doc["extends"] = json!("service-hall");
    doc["name"] = json!({"zh": "东江营业厅之旅", "en": "Dongjiang hall visit"});
    doc
}

#[test]
fn export_gives_the_16_moments_complete() {
    let db = peakend_testkit::sqlite();
    ok(&db.url, &["init"]);
    let doc = export(&db.url, "service-hall");
    let moments = doc["moments"].as_array().unwrap();
    let keys: Vec<&str> = moments.iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(keys, MOMENTS);
    for m in moments {
        let k = &m["key"];
        assert!(
            !m["name"]["zh"].as_str().unwrap().is_empty()
                && !m["name"]["en"].as_str().unwrap().is_empty(),
            "{k}"
        );
        assert!(
            ["people_flow", "customer_flow", "business_flow"]
                .contains(&m["stage"].as_str().unwrap()),
            "{k}"
        );
        assert!(
            !m["core_needs"].as_array().unwrap().is_empty(),
            "{k} core needs"
        );
        assert!(
            !m["standards"].as_array().unwrap().is_empty(),
            "{k} standards"
        );
        for lane in ["evidence", "customer", "frontstage", "backstage", "support"] {
            assert!(
                !m["blueprint"][lane].as_array().unwrap().is_empty(),
                "{k} {lane}"
            );
        }
    }
    let mean = moments
        .iter()
        .map(|m| m["importance"].as_f64().unwrap())
        .sum::<f64>()
        / 16.0;
    assert_eq!(format!("{mean:.2}"), "8.55");
    // YAML export carries the same journey.
    let yaml = ok(
        &db.url,
        &["journey", "export", "service-hall", "--format", "yaml"],
    );
    assert!(yaml.starts_with("key: service-hall\n"), "{yaml}");
}

peakend_testkit::on_both_backends!(an_extension_imports_and_a_drop_is_refused, |url| {
    let dir = tempfile::tempdir().unwrap();
    ok(url, &["init"]);
    let mut added = extension(url, "dongjiang-hall");
    let moments = added["moments"].as_array_mut().unwrap();
    moments.insert(1, json!({"key": "book_online", "name": {"zh": "线上预约取号", "en": "Book a ticket online"}, "stage": "people_flow"}));
    let file = write(dir.path(), "dongjiang.json", added.to_string().as_bytes());
    assert_eq!(
        ok(url, &["journey", "validate", &file]).trim(),
        format!("{file}: valid journey dongjiang-hall (17 moments, extends service-hall)")
    );
    assert_eq!(
        ok(url, &["journey", "import", &file]).trim(),
        "journey dongjiang-hall: created (17 moments)"
    );
    assert_eq!(
        export(url, "dongjiang-hall")["moments"][1]["key"],
        "book_online"
    );

    let mut dropped = extension(url, "no-dispute");
    dropped["moments"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["key"] != "dispute");
    let file = write(
        dir.path(),
        "no-dispute.json",
        dropped.to_string().as_bytes(),
    );
    let err = fails(url, &["journey", "import", &file]);
    assert!(err.contains("drops moments dispute"), "{err}");
    assert!(fails(url, &["journey", "validate", &file]).contains("dispute"));
    let list: Value =
        serde_json::from_str(&ok(url, &["journey", "list", "--format", "json"])).unwrap();
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["app", "dongjiang-hall", "hotline", "onsite", "service-hall"],
        "nothing stored for the refused journey (the four built-ins and the extension)"
    );
});

/// Import then export gives back the same bytes, and the same on both backends.
#[tokio::test]
async fn import_export_round_trips_identically_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let mut exports = Vec::new();
    for (_, db) in peakend_testkit::each_backend().await {
        ok(&db.url, &["init"]);
        let mut doc = extension(&db.url, "round-trip");
        doc["moments"][10]["standards"][0]["text"]["zh"] =
            json!("「引号」\"quotes\" & <tags> 和 emoji 🙂");
        let yaml_src = write(dir.path(), "rt.json", doc.to_string().as_bytes());
        ok(&db.url, &["journey", "import", &yaml_src]);
        let first = ok(
            &db.url,
            &["journey", "export", "round-trip", "--format", "json"],
        );
        let yaml = ok(
            &db.url,
            &["journey", "export", "round-trip", "--format", "yaml"],
        );
        // Re-importing the YAML export changes nothing and exports the same JSON.
        let yaml_file = write(dir.path(), "rt.yaml", yaml.as_bytes());
        assert_eq!(
            ok(&db.url, &["journey", "import", &yaml_file]).trim(),
            "journey round-trip: unchanged (16 moments)"
        );
        let second = ok(
            &db.url,
            &["journey", "export", "round-trip", "--format", "json"],
        );
        assert_eq!(first, second);
        assert_eq!(serde_json::from_str::<Value>(&first).unwrap(), doc);
        exports.push(first);
    }
    assert!(
        exports.windows(2).all(|w| w[0] == w[1]),
        "SQLite and PostgreSQL exports differ"
    );
}

#[test]
fn bad_journey_files_name_the_field() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    ok(&db.url, &["init"]);
    let mut doc = extension(&db.url, "bad");
    doc["moments"][3]["stage"] = json!("lobby");
    let file = write(dir.path(), "bad.json", doc.to_string().as_bytes());
    let err = fails(&db.url, &["journey", "validate", &file]);
    assert!(
        err.contains("bad.json: moments[3].stage: unknown variant `lobby`"),
        "{err}"
    );

    doc["moments"][3]["stage"] = json!("customer_flow");
    doc["moments"][5]["standards"][0]["owner"] = json!("manager");
    let file = write(
        dir.path(),
        "bad.yaml",
        serde_json::to_string(&doc).unwrap().as_bytes(),
    );
    assert!(
        fails(&db.url, &["journey", "import", &file])
            .contains("moments[5].standards[0].owner: unknown variant `manager`")
    );

    doc["moments"][5]["standards"][0]["owner"] = json!("hall_manager");
    doc["moments"][6]["key"] = json!("find");
    let file = write(dir.path(), "dup.json", doc.to_string().as_bytes());
    assert!(
        fails(&db.url, &["journey", "import", &file])
            .contains("moments[6].key: duplicate moment key `find` (also moments[0])")
    );
    assert!(
        fails(&db.url, &["journey", "import", "/no/such/file.json"])
            .contains("cannot read /no/such/file.json")
    );
    assert!(fails(&db.url, &["journey", "export", "nope"]).ends_with("journey `nope` not found\n"));
}

peakend_testkit::on_both_backends!(org_import_reports_rows_and_keeps_nothing_on_error, |url| {
    let dir = tempfile::tempdir().unwrap();
    let csv = "id,parent,level,name,counters,kiosks\nsz,,省,示范省,,\nsz-a,sz,市,东江市,,\nsz-a-1,sz-a,区县,城区,,\nsz-a-1-01,sz-a-1,营业厅,人民路营业厅,8,2\n";
    // Excel in China saves GBK: detected without being told.
    let (gbk, _, _) = encoding_rs::GBK.encode(csv);
    let file = write(dir.path(), "org.csv", &gbk);
    let out = ok(url, &["org", "import", &file]);
    assert_eq!(
        out.trim(),
        format!("{file}: 4 nodes imported (4 created, 0 updated)")
    );

    let bad = "id,parent,level,name\nsz-a-1-02,sz-a-1,hall,新厅\nsz-a-1-03,sz-x,hall,孤厅\nsz-b,sz,district,ok\n";
    let file = write(dir.path(), "bad.csv", bad.as_bytes());
    let err = fails(url, &["org", "import", &file]);
    assert!(
        err.contains(
            "bad.csv: row 3, column parent: node `sz-a-1-03`: parent `sz-x` does not exist"
        ),
        "{err}"
    );
    let tree: Value = serde_json::from_str(&ok(url, &["org", "list", "--format", "json"])).unwrap();
    let district = &tree[0]["children"][0]["children"][0];
    assert_eq!(
        district["children"].as_array().unwrap().len(),
        1,
        "row 2 was not stored either"
    );
    assert_eq!(district["children"][0]["counters"], 8);

    let cells = "id,parent,level,name\n,sz,hall,x\nok,sz,town,y\n";
    let err = fails(
        url,
        &[
            "org",
            "import",
            &write(dir.path(), "cells.csv", cells.as_bytes()),
        ],
    );
    assert!(
        err.contains(
            "row 2, column id: must not be empty; row 3, column level: unknown level `town`"
        ),
        "{err}"
    );
    // The CSV listing re-imports as it is.
    let listing = ok(url, &["org", "list", "--format", "csv"]);
    let again = ok(
        url,
        &[
            "org",
            "import",
            &write(dir.path(), "again.csv", listing.as_bytes()),
        ],
    );
    assert!(
        again.contains("4 nodes imported (0 created, 4 updated)"),
        "{again}"
    );
});

#[test]
fn demo_sets_up_a_province_and_is_idempotent() {
    let db = peakend_testkit::sqlite();
    let first = ok(&db.url, &["demo", "--no-serve"]);
    assert!(
        first.contains("demo province 示范省: 3 cities, 8 districts, 38 halls"),
        "{first}"
    );
    assert!(
        first.contains("survey: 2280 responses to service-hall"),
        "{first}"
    );
    // Everything but the passwords, which are new on each run.
    let data = |out: &str| out.split("logins").next().unwrap().to_owned();
    let second = ok(&db.url, &["demo", "--no-serve"]);
    assert_eq!(data(&second), data(&first), "a second run adds nothing");
    for role in [
        "admin",
        "director",
        "regional_manager",
        "hall_manager",
        "frontline",
    ] {
        assert!(
            second.contains(&format!("  {role} (")),
            "a login per role: {second}"
        );
    }
    assert_ne!(
        second, first,
        "the demo's printed passwords do not outlive a run"
    );
    let a: Value = serde_json::from_str(&ok(
        &db.url,
        &[
            "analyze",
            "--from-db",
            "--journey",
            "service-hall",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(a["respondents"], 2280);
    assert_eq!(a["end"], "leave");
    assert!(a.get("groups").is_none(), "no groups without --by");
    let by: Value = serde_json::from_str(&ok(
        &db.url,
        &[
            "analyze",
            "--from-db",
            "--journey",
            "service-hall",
            "--by",
            "city",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let cities: Vec<&str> = by["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(cities, ["demo-dj", "demo-nh", "demo-xl"]);
    let n: u64 = by["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["analysis"]["respondents"].as_u64().unwrap())
        .sum();
    assert_eq!(n, 2280);
    let table = ok(
        &db.url,
        &[
            "analyze",
            "--from-db",
            "--journey",
            "service-hall",
            "--by",
            "purpose",
        ],
    );
    assert!(
        table.contains("购机") && table.contains("GROUP 分组"),
        "{table}"
    );
    // synth writes a file that analyses, with the halls of the database.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("synth.csv");
    let file = file.to_str().unwrap();
    ok(
        &db.url,
        &[
            "survey",
            "synth",
            "--journey",
            "service-hall",
            "--rows",
            "300",
            "--seed",
            "9",
            "-o",
            file,
        ],
    );
    let s: Value = serde_json::from_str(&ok(
        &db.url,
        &[
            "analyze",
            file,
            "--journey",
            "service-hall",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(s["respondents"], 300);
    let list = ok(&db.url, &["org", "list"]);
    assert!(
        list.contains("demo-dj-cq-01") && list.contains("东江城区文化路营业厅"),
        "{list}"
    );
}

#[test]
fn bad_database_urls_fail_in_one_line() {
    assert!(
        fails("mysql://localhost/x", &["init"])
            .contains("invalid database URL `mysql://localhost/x`")
    );
    let err = fails("postgres://nobody:secret@127.0.0.1:1/x", &["init"]);
    assert!(
        err.contains("cannot open database postgres://nobody:***@127.0.0.1:1/x"),
        "{err}"
    );
}

/// Starts `peakend serve` on an ephemeral port; returns the process and its base URL.
fn spawn_server(db: &str) -> (std::process::Child, String) {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("peakend"))
        .args(["--db", db, "serve", "--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{line}"));
    let url = url.to_owned();
    // The API is for signed-in users: sign in an administrator of the first province,
    // when there is one (health needs nobody).
    let orgs = ok(db, &["org", "list", "--format", "csv"]);
    if let Some(root) = orgs
        .lines()
        .skip(1)
        .find(|l| l.split(',').nth(1) == Some(""))
        .and_then(|l| l.split(',').next())
    {
        let name = format!("cli-admin-{}", child.id());
        let password = ok(
            db,
            &[
                "user", "add", "--name", &name, "--role", "admin", "--org", root,
            ],
        );
        let login_url = format!("{url}/api/v1/session");
        let body = serde_json::json!({"name": name, "password": password.trim()});
        let token = spawn_async(move || async move {
            let v: Value = reqwest::Client::new()
                .post(login_url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_owned()
        })
        .join()
        .unwrap();
        SESSIONS.lock().unwrap().push((url.clone(), token));
    }
    (child, url)
}

/// The signed-in administrator's token of each server spawned, by base URL.
static SESSIONS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

#[test]
fn serve_answers_on_the_given_address() {
    let db = peakend_testkit::sqlite();
    let (mut child, url) = spawn_server(&db.url);
    let health = fetch_json(&format!("{url}/healthz"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(health["status"], "ok");
}

/// Imports an org CSV given as text.
fn import_org(db: &str, dir: &Path, csv: &str) {
    ok(
        db,
        &["org", "import", &write(dir, "org.csv", csv.as_bytes())],
    );
}

/// Runs `task` on a runtime of its own in a thread of its own: callers may already be
/// inside a runtime, and the server under test runs in another process.
fn spawn_async<T, Fut>(task: impl FnOnce() -> Fut + Send + 'static) -> std::thread::JoinHandle<T>
where
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(task())
    })
}

/// A GET, with the session of the server it goes to ([`spawn_async`]).
fn fetch_text(url: &str) -> String {
    let url = url.to_owned();
    let token = SESSIONS
        .lock()
        .unwrap()
        .iter()
        // The latest server on this address: an earlier test's server may have had
        // the same port, with another database and so another token.
        .rfind(|(base, _)| url.starts_with(&format!("{base}/")))
        .map(|(_, t)| t.clone());
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    spawn_async(move || async move { req.send().await.unwrap().text().await.unwrap() })
        .join()
        .unwrap()
}

fn fetch_json(url: &str) -> Value {
    let text = fetch_text(url);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The files under examples/ do what the README says they do.
#[test]
fn examples_behave_as_documented() {
    let db = peakend_testkit::sqlite();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let path = |p: &str| examples.join(p).to_str().unwrap().to_owned();
    let out = ok(&db.url, &["org", "import", &path("org.csv")]);
    assert!(
        out.contains("7 nodes imported (7 created, 0 updated)"),
        "{out}"
    );
    let out = ok(
        &db.url,
        &["journey", "import", &path("journeys/dongjiang-hall.json")],
    );
    assert_eq!(out.trim(), "journey dongjiang-hall: created (17 moments)");
    let regional = export(&db.url, "dongjiang-hall");
    assert_eq!(regional["moments"][1]["key"], "book_online");
    let err = fails(
        &db.url,
        &["journey", "import", &path("journeys/drops-dispute.json")],
    );
    assert!(err.contains("drops moments dispute"), "{err}");
}

/// Issue 3, done-when 1: the study's 16 published importances give its peaks and end.
#[test]
fn summary_analysis_of_the_study_figures() {
    let db = peakend_testkit::sqlite();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/study-importance.csv");
    let file = file.to_str().unwrap();
    let json: Value = serde_json::from_str(&ok(
        &db.url,
        &[
            "analyze",
            "--summary",
            file,
            "--journey",
            "service-hall",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(
        format!("{:.2}", json["mean_importance"].as_f64().unwrap()),
        "8.55"
    );
    assert_eq!(
        json["peaks"],
        json!(["result", "phone_purchase", "data_trial"])
    );
    assert_eq!(json["end"], "leave");
    assert_eq!(
        format!("{:.2}", json["peak_threshold"].as_f64().unwrap()),
        "9.08"
    );
    let table = ok(
        &db.url,
        &["analyze", "--summary", file, "--journey", "service-hall"],
    );
    assert!(
        table.contains("办理结果 Transaction result")
            && table.contains("peaks 峰: result, phone_purchase, data_trial"),
        "{table}"
    );
    let top = ok(
        &db.url,
        &[
            "analyze",
            "--summary",
            file,
            "--peak-rule",
            "top:4",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        top.lines().filter(|l| l.ends_with(",true,false")).count(),
        4,
        "{top}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.csv",
        b"moment,importance\nfind,8\nlobby,9\nleave,12\n",
    );
    let err = fails(
        &db.url,
        &["analyze", "--summary", &bad, "--journey", "service-hall"],
    );
    assert!(
        err.contains("bad.csv: row 4, column importance: `12` is not a rating from 1 to 10"),
        "{err}"
    );
    let bad = write(
        dir.path(),
        "bad2.csv",
        b"moment,importance\nfind,8\nlobby,9\n",
    );
    let err = fails(
        &db.url,
        &["analyze", "--summary", &bad, "--journey", "service-hall"],
    );
    assert!(
        err.contains("row 3, column moment: `lobby` is not a moment of journey `service-hall`"),
        "{err}"
    );
}

/// Issue 3: a GB18030 survey file with Chinese segments and purposes analyses; a file
/// with bad cells reports them all.
#[test]
fn survey_file_analysis_in_gb18030() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let header = ok(&db.url, &["survey", "template", "service-hall"]);
    assert!(
        header.starts_with("respondent,hall,date,segment,purpose,overall,nps,imp.find,sat.find,"),
        "{header}"
    );
    let csv = "respondent,hall,date,segment,purpose,overall,nps,imp.result,sat.result,imp.leave,sat.leave,imp.queue,sat.queue,tolerable_wait_min\n\
               r1,h1,2024/3/1,全球通,缴费,9,10,10,9,8,8,6,7,15\n\
               r2,h1,2024/3/2,全球通,购机,7,8,9,7,7,6,5,5,20\n\
               r3,h2,2024/3/3,动感地带,缴费,6,5,8,6,6,5,7,6,10\n\
               r4,h2,2024/3/4,动感地带,咨询,8,9,9,8,7,7,6,8,16\n";
    let (gb, _, _) = encoding_rs::GB18030.encode(csv);
    let file = write(dir.path(), "survey.csv", &gb);
    let json: Value = serde_json::from_str(&ok(
        &db.url,
        &[
            "analyze",
            &file,
            "--journey",
            "service-hall",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(json["respondents"], 4);
    assert_eq!(json["weights"]["全球通"], 0.5);
    // result: importance 10, 9 (全球通) and 8, 9 (动感地带), equal shares → 9.
    let result = json["moments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "result")
        .unwrap();
    assert_eq!(result["importance"], 9.0);
    assert_eq!(result["n"], 4);
    assert_eq!(json["end"], "leave");
    // 全球通 {10, 8}: NPS 50; 动感地带 {5, 9}: NPS 0; equal weights → 25.
    assert_eq!(json["indices"]["nps"], 25.0);
    let table = ok(
        &db.url,
        &[
            "analyze",
            &file,
            "--journey",
            "service-hall",
            "--weights",
            "全球通=3,动感地带=1",
        ],
    );
    assert!(
        table.contains("全球通=0.750") && table.contains("办理结果 Transaction result"),
        "{table}"
    );

    let bad = "respondent,hall,date,segment,sat.queue,imp.lobby\nr1,h1,2024-01-01,g,11,\n";
    let err = fails(
        &db.url,
        &[
            "analyze",
            &write(dir.path(), "bad.csv", bad.as_bytes()),
            "--journey",
            "service-hall",
        ],
    );
    assert!(
        err.contains("bad.csv: row 1, column imp.lobby: unknown moment `lobby`"),
        "{err}"
    );
    let bad =
        "respondent,hall,date,segment,sat.queue\nr1,h1,2024-01-01,g,11\nr1,h1,yesterday,g,5\n";
    let err = fails(
        &db.url,
        &[
            "analyze",
            &write(dir.path(), "bad2.csv", bad.as_bytes()),
            "--journey",
            "service-hall",
        ],
    );
    assert!(
        err.contains("row 2, column sat.queue: 11 is outside 1–10; row 3, column respondent: duplicate respondent `r1` (also row 2); row 3, column date: `yesterday` is not a date"),
        "{err}"
    );
}

const SURVEY: &str = "respondent,hall,date,segment,purpose,overall,nps,imp.result,sat.result,imp.leave,sat.leave,imp.queue,sat.queue,need.queue.wait_foresight,tolerable_wait_min\n\
    r1,h1,2024/3/1,全球通,缴费,9,10,10,9,8,8,6,7,9,15\n\
    r2,h1,2024/3/2,全球通,购机,7,8,9,7,7,6,5,5,,20\n\
    r3,h2,2024/3/3,动感地带,缴费,6,5,8,6,6,5,7,6,7,10\n\
    r4,h2,2024/4/4,动感地带,咨询,8,9,9,8,7,7,6,8,8,16\n";

// Issue 3: the analysis is the same from a file, from the database and through the API.
peakend_testkit::on_both_backends!(analysis_is_the_same_from_file_database_and_api, |url| {
    let dir = tempfile::tempdir().unwrap();
    import_org(
        url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nc,p,city,市\nh1,c,hall,一厅\nh2,c,hall,二厅\n",
    );
    let (gb, _, _) = encoding_rs::GB18030.encode(SURVEY);
    let file = write(dir.path(), "survey.csv", &gb);
    let out = ok(
        url,
        &["survey", "import", &file, "--journey", "service-hall"],
    );
    assert!(
        out.contains("4 responses imported for journey service-hall"),
        "{out}"
    );
    let err = fails(
        url,
        &["survey", "import", &file, "--journey", "service-hall"],
    );
    assert!(err.contains("4 respondents are already stored"), "{err}");
    // A respondent given twice is named on both its rows, however far apart (the
    // import's reader remembers no respondent: the store finds the repeat, and the file
    // is read again for its rows), and nothing of the file is kept.
    let mut big = String::from("respondent,hall,date,segment,sat.queue\n");
    for i in 0..2500 {
        big.push_str(&format!("s{i},h1,2024-03-01,g,7\n"));
    }
    big.push_str("s7,h2,2024-03-02,g,8\ns2499,h1,2024-03-01,g,6\n");
    let big_file = write(dir.path(), "repeats.csv", big.as_bytes());
    let err = fails(
        url,
        &["survey", "import", &big_file, "--journey", "service-hall"],
    );
    assert!(
        err.contains(
            "repeats.csv: row 2502, column respondent: duplicate respondent `s7` (also row 9); \
             row 2503, column respondent: duplicate respondent `s2499` (also row 2501)"
        ),
        "{err}"
    );

    let json = |args: &[&str]| serde_json::from_str::<Value>(&ok(url, args)).unwrap();
    let from_file = json(&[
        "analyze",
        &file,
        "--journey",
        "service-hall",
        "--format",
        "json",
    ]);
    let from_db = json(&[
        "analyze",
        "--from-db",
        "--journey",
        "service-hall",
        "--format",
        "json",
    ]);
    assert_eq!(from_file["respondents"], 4);
    assert_eq!(from_file, from_db);

    let (mut server, base) = spawn_server(url);
    let from_api = fetch_json(&format!("{base}/api/v1/analysis?journey=service-hall"));
    let march = fetch_json(&format!(
        "{base}/api/v1/analysis?journey=service-hall&org=h1&from=2024-03-01&to=2024-03-31"
    ));
    let missing = fetch_json(&format!(
        "{base}/api/v1/analysis?journey=service-hall&org=nowhere"
    ));
    let by_segment = fetch_json(&format!(
        "{base}/api/v1/analysis?journey=service-hall&by=segment"
    ));
    let csv_api = fetch_text(&format!(
        "{base}/api/v1/analysis?journey=service-hall&by=segment&format=csv"
    ));
    let bad_by = fetch_json(&format!(
        "{base}/api/v1/analysis?journey=service-hall&by=colour"
    ));
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(from_api, from_file);
    let csv_file = ok(
        url,
        &[
            "analyze",
            &file,
            "--journey",
            "service-hall",
            "--by",
            "segment",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_api, csv_file);
    assert_eq!(
        csv_file.lines().count(),
        1 + 16 * 3,
        "header, all, two segments"
    );
    assert!(csv_file.starts_with("group,moment,name_zh,name_en,importance,"));
    assert_eq!(march["respondents"], 2);
    assert_eq!(missing["error"]["message"], "org node `nowhere` not found");
    assert_eq!(by_segment["groups"].as_array().unwrap().len(), 2);
    assert_eq!(by_segment["groups"][0]["group"], "全球通");
    assert!(
        bad_by["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("by: cannot group by `colour`")
    );

    let h2 = json(&[
        "analyze",
        "--from-db",
        "--journey",
        "service-hall",
        "--org",
        "h2",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-31",
        "--format",
        "json",
    ]);
    assert_eq!(h2["respondents"], 1);
});

#[test]
fn survey_import_rejects_unknown_halls_with_the_row() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.csv", SURVEY.as_bytes());
    let err = fails(
        &db.url,
        &["survey", "import", &file, "--journey", "service-hall"],
    );
    assert!(
        err.contains("s.csv: row 2, column hall: unknown hall `h1`"),
        "{err}"
    );
    assert!(
        err.contains("row 5, column hall: unknown hall `h2`"),
        "{err}"
    );
}

// Issue 24: a large file is stored as it is read, batch by batch, and still all or
// nothing: a bad cell far into it (after two batches were stored) names its row and
// leaves nothing, so the mended file imports whole.
#[test]
fn a_large_survey_file_is_streamed_and_still_all_or_nothing() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    import_org(
        &db.url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nc,p,city,市\nh1,c,hall,一厅\nh2,c,hall,二厅\n",
    );
    let rows = 45_000;
    let file = |bad_row: Option<usize>| {
        let mut csv = String::from("respondent,hall,date,segment,overall,sat.queue,imp.queue\n");
        for i in 0..rows {
            // Spreadsheet rows: the header is row 1.
            let sat = if bad_row == Some(i + 2) {
                "eleven"
            } else {
                "7"
            };
            csv.push_str(&format!(
                "r{i},h{},2024-03-{:02},全球通,8,{sat},9\n",
                1 + i % 2,
                1 + i % 28
            ));
        }
        csv
    };
    // The file with a bad cell near its end stores nothing and names the row; the good
    // one stores every answer. In UTF-8, then in GBK as Excel in China saves it (found
    // and decoded as it streams).
    let import_both = |name: &str, bad: Vec<u8>, good: Vec<u8>, total: u64| {
        let bad = write(dir.path(), &format!("bad-{name}.csv"), &bad);
        let err = fails(
            &db.url,
            &["survey", "import", &bad, "--journey", "service-hall"],
        );
        assert!(
            err.contains(&format!("bad-{name}.csv: row 44002, column sat.queue")),
            "{err}"
        );
        let good = write(dir.path(), &format!("good-{name}.csv"), &good);
        let out = ok(
            &db.url,
            &["survey", "import", &good, "--journey", "service-hall"],
        );
        assert!(out.contains("45000 responses imported"), "{out}");
        let json: Value = serde_json::from_str(&ok(
            &db.url,
            &[
                "analyze",
                "--from-db",
                "--journey",
                "service-hall",
                "--format",
                "json",
            ],
        ))
        .unwrap();
        assert_eq!(json["respondents"], total);
    };
    import_both(
        "utf8",
        file(Some(44_002)).into_bytes(),
        file(None).into_bytes(),
        45_000,
    );
    let gbk = |bad_row| {
        let text = file(bad_row).replace("\nr", "\ng");
        encoding_rs::GBK.encode(&text).0.into_owned()
    };
    import_both("gbk", gbk(Some(44_002)), gbk(None), 90_000);
    // Said to be GBK but not: refused as a whole, nothing stored.
    let utf8 = write(
        dir.path(),
        "said-gbk.csv",
        b"respondent,hall\n\xFF\xFF,h1\n",
    );
    let err = fails(
        &db.url,
        &[
            "survey",
            "import",
            &utf8,
            "--journey",
            "service-hall",
            "--encoding",
            "gbk",
        ],
    );
    assert!(err.contains("not valid GBK"), "{err}");
}

/// SURVEY as a workbook, the way Excel users keep it: numbers as numbers, and the first
/// visit date as a real Excel date rather than text.
fn survey_xlsx() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (r, line) in SURVEY.lines().enumerate() {
        for (c, v) in line.split(',').enumerate() {
            let (r, c) = (r as u32, c as u16);
            if (r, c) == (1, 2) {
                let d = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 3, 1).unwrap();
                sheet.write_datetime_with_format(r, c, &d, &date).unwrap();
            } else if let Ok(x) = v.parse::<f64>() {
                sheet.write_number(r, c, x).unwrap();
            } else if !v.is_empty() {
                sheet.write_string(r, c, v).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

// Issue 3: XLSX with the same header imports and analyses like the CSV.
peakend_testkit::on_both_backends!(xlsx_surveys_import_and_analyse_like_csv, |url| {
    let dir = tempfile::tempdir().unwrap();
    import_org(
        url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nh1,p,hall,一厅\nh2,p,hall,二厅\n",
    );
    let csv = write(dir.path(), "survey.csv", SURVEY.as_bytes());
    let xlsx = write(dir.path(), "survey.xlsx", &survey_xlsx());
    let analyse = |file: &str| {
        serde_json::from_str::<Value>(&ok(
            url,
            &[
                "analyze",
                file,
                "--journey",
                "service-hall",
                "--format",
                "json",
            ],
        ))
        .unwrap()
    };
    assert_eq!(analyse(&xlsx), analyse(&csv));
    let out = ok(
        url,
        &["survey", "import", &xlsx, "--journey", "service-hall"],
    );
    assert!(out.contains("4 responses imported"), "{out}");
    let march = serde_json::from_str::<Value>(&ok(
        url,
        &[
            "analyze",
            "--from-db",
            "--journey",
            "service-hall",
            "--to",
            "2024-03-01",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(
        march["respondents"], 1,
        "the Excel date was read as 2024-03-01"
    );
});

/// Issue 3: a printable questionnaire with, per moment, an importance and a satisfaction
/// question, the need elements, and the overall, recommend and purpose questions; each
/// question carries its survey-file column.
#[test]
fn questionnaire_asks_every_question_of_the_survey_file() {
    let db = peakend_testkit::sqlite();
    let zh = ok(&db.url, &["survey", "questionnaire", "service-hall"]);
    let en = ok(
        &db.url,
        &["survey", "questionnaire", "service-hall", "--lang", "en"],
    );
    let header = ok(&db.url, &["survey", "template", "service-hall"]);
    for column in header.trim().split(',') {
        let code = format!("<span class=\"code\">{column}</span>");
        assert!(zh.contains(&code), "zh lacks {column}");
        assert!(en.contains(&code), "en lacks {column}");
    }
    assert!(zh.starts_with("<!doctype html>") && zh.contains("<html lang=\"zh-CN\">"));
    assert!(zh.contains("顾客体验调查问卷") && zh.contains("办理结果"));
    assert!(zh.contains("您有多大可能向亲友推荐") && zh.contains("本次来厅的主要目的"));
    assert!(en.contains("Customer experience survey") && en.contains("Transaction result"));
    assert!(
        !en.contains("办理结果"),
        "the English questionnaire is English"
    );
    let moments = zh.matches("class=\"moment\"").count();
    assert_eq!(moments, MOMENTS.len());
    let run = peakend(
        &db.url,
        &["survey", "questionnaire", "service-hall", "--lang", "fr"],
    );
    assert!(!run.ok && run.stderr.contains("invalid value 'fr'"));
}

/// Issue 4: Erlang C staffing matches the published worked example (100 calls per
/// 30 min, 180 s handling, 14 agents, 20 s target).
#[test]
fn staffing_with_patience_is_erlang_a() {
    let db = peakend_testkit::sqlite();
    let json = |args: &[&str]| serde_json::from_str::<Value>(&ok(&db.url, args)).unwrap();
    let base = [
        "staffing",
        "--arrivals-per-hour",
        "200",
        "--aht-min",
        "3",
        "--within-min",
        "0.33333333333333",
        "--patience-s",
        "120",
        "--format",
        "json",
    ];
    // Callers who give up lighten the queue: fewer agents than Erlang C's 14 reach 80 %.
    let needed = json(&base);
    assert_eq!(needed["model"], "erlang_a", "{needed}");
    let n = needed["counters"].as_u64().unwrap();
    assert!(n < 14, "{needed}");
    assert!(needed["service_level"].as_f64().unwrap() >= 0.8);
    // An abandonment ceiling of 2 % asks for more.
    let strict = json(&[&base[..], &["--max-abandon", "0.02"]].concat());
    assert!(strict["counters"].as_u64().unwrap() > n, "{strict}");
    assert!(strict["p_abandon"].as_f64().unwrap() <= 0.02);
    // Without --patience-s the model is Erlang C, as before.
    let c = json(&[
        "staffing",
        "--arrivals-per-hour",
        "200",
        "--aht-min",
        "3",
        "--within-min",
        "0.33333333333333",
        "--format",
        "json",
    ]);
    assert_eq!(c["counters"], 14);
    assert!(c.get("p_abandon").is_none(), "{c}");
}

#[test]
fn staffing_matches_published_erlang_c() {
    let db = peakend_testkit::sqlite();
    let json = |args: &[&str]| serde_json::from_str::<Value>(&ok(&db.url, args)).unwrap();
    let base = [
        "staffing",
        "--arrivals-per-hour",
        "200",
        "--aht-min",
        "3",
        "--within-min",
        "0.33333333333333",
        "--format",
        "json",
    ];
    let given = json(&[&base[..], &["--counters", "14"]].concat());
    let near = |v: &Value, x: f64, tol: f64| assert!((v.as_f64().unwrap() - x).abs() < tol, "{v}");
    near(&given["p_wait"], 0.1741, 5e-5);
    near(&given["service_level"], 0.8884, 5e-5);
    near(&given["asa_s"], 7.84, 5e-3);
    let needed = json(&base);
    assert_eq!(needed["counters"], 14, "13 counters reach only 79.6 %");
    let table = ok(
        &db.url,
        &["staffing", "--arrivals-per-hour", "40", "--aht-min", "6"],
    );
    assert!(
        table.contains("窗口数 counters") && table.contains("5"),
        "{table}"
    );
    let err = fails(
        &db.url,
        &["staffing", "--arrivals-per-hour", "40", "--aht-min", "0"],
    );
    assert!(err.contains("--aht-min must be"), "{err}");
}

/// `peakend kpi --format json` of 2026-08-07, the day the event tests replay, with
/// `args` added.
fn kpi_of_the_day(db: &str, args: &[&str]) -> Value {
    let mut all = vec![
        "kpi",
        "--from",
        "2026-08-07",
        "--to",
        "2026-08-07",
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(db, &all)).unwrap()
}

// Issue 4: device tokens, and an event file replayed with the API's semantics.
peakend_testkit::on_both_backends!(events_ingest_replays_a_file_and_quarantines, |url| {
    let dir = tempfile::tempdir().unwrap();
    import_org(
        url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nh1,p,hall,一厅\n",
    );
    let token = ok(url, &["token", "create", "--hall", "h1"]);
    assert_eq!(token.trim().len(), 64, "only the token: {token}");
    assert!(token.trim().chars().all(|c| c.is_ascii_hexdigit()));
    let err = fails(url, &["token", "create", "--hall", "h9"]);
    assert!(err.contains("hall `h9` not found"), "{err}");

    let day = [
        r#"{"id":"e1","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A1","service":"payment"}"#,
        r#"{"id":"e2","hall":"h1","type":"left","at":"2026-08-07T09:04:00+08:00","ticket":"A7"}"#,
        r#"{"id":"e3","hall":"h1","type":"called","at":"2026-08-07T09:05:00+08:00","ticket":"A1","counter":"c1"}"#,
    ]
    .join("\n");
    let file = write(dir.path(), "day.ndjson", day.as_bytes());
    let out = ok(url, &["events", "ingest", &file]);
    assert!(
        out.contains("2 accepted, 0 duplicates, 1 rejected")
            && out.contains("line 2: left: unknown ticket `A7`"),
        "{out}"
    );
    let out = ok(url, &["events", "ingest", &file]);
    assert!(
        out.contains("0 accepted, 2 duplicates, 1 rejected"),
        "{out}"
    );
    let q: Value =
        serde_json::from_str(&ok(url, &["events", "quarantine", "--format", "json"])).unwrap();
    assert_eq!(q.as_array().unwrap().len(), 1);
    assert_eq!(q[0]["reason"], "left: unknown ticket `A7`");
});

// Issue 4: the scripted morning replays to the hand-computed KPIs, for the hall and for
// the province above it, from the CLI and the API alike.
peakend_testkit::on_both_backends!(
    a_scripted_morning_replays_to_the_hand_computed_kpis,
    |url| {
        let dir = tempfile::tempdir().unwrap();
        import_org(
            url,
            dir.path(),
            "id,parent,level,name\np,,province,省\nc,p,city,市\nh1,c,hall,一厅\n",
        );
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/events/scripted-morning.ndjson"
        );
        let out = ok(url, &["events", "ingest", file]);
        assert!(
            out.contains("21 accepted, 0 duplicates, 0 rejected"),
            "{out}"
        );
        let kpi = |org: &str| kpi_of_the_day(url, &["--org", org, "--bucket", "hour"]);
        let hall = kpi("h1");
        let t = &hall["total"];
        assert_eq!(
            (
                t["arrivals"].as_u64(),
                t["served"].as_u64(),
                t["abandoned"].as_u64()
            ),
            (Some(5), Some(4), Some(1))
        );
        assert_eq!(t["abandonment_rate"], 0.2);
        assert_eq!(t["service_level"], 0.6);
        assert_eq!(t["asa_s"], 630.0);
        assert_eq!(t["aht_s"], 225.0);
        assert_eq!(t["longest_wait_s"], 1020.0);
        assert_eq!(t["avg_rating"], 4.5);
        assert_eq!(t["care_alerts"], 1);
        assert_eq!(hall["buckets"][0]["key"], "2026-08-07T09:00:00+08:00");
        assert_eq!(hall["staff"][0]["key"], "h1/s1");
        assert_eq!(hall["staff"][0]["kpis"]["served"], 4);
        assert_eq!(
            kpi("p")["total"],
            hall["total"],
            "the province is the sum of its halls"
        );

        let (mut server, base) = spawn_server(url);
        let api = fetch_json(&format!(
            "{base}/api/v1/kpi?org=h1&from=2026-08-07&to=2026-08-07&bucket=hour"
        ));
        server.kill().unwrap();
        server.wait().unwrap();
        assert_eq!(api, hall);
    }
);

/// Issue 4: an event file is applied as it is read: CRLF and blank lines are taken as
/// they come, a line that is not UTF-8 is quarantined under the hall it names, and a
/// hall whose events are parted by more lines than are held back is applied in two
/// batches, the second seeing the first.
#[test]
fn an_event_file_is_applied_as_it_is_read() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    import_org(
        &db.url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nh1,p,hall,一厅\nh2,p,hall,二厅\n",
    );
    let mut file = Vec::new();
    file.extend_from_slice(
        br#"{"id":"a1","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A1","service":"payment"}"#,
    );
    file.extend_from_slice(b"\r\n\n");
    file.extend_from_slice(
        b"{\"id\":\"a2\",\"hall\":\"h1\",\"type\":\"left\",\"at\":\"2026-08-07T09:01:00+08:00\",\"ticket\":\"\xff\"}\n",
    );
    // Tickets that come and go a millisecond apart, so that the hall's queue stays short.
    let filler = 60_000;
    for i in 0..filler / 2 {
        file.extend_from_slice(
            format!(
                concat!(
                    r#"{{"id":"b{i}","hall":"h2","type":"ticket_issued","at":"2026-08-07T09:00:{s:02}.{ms:03}+08:00","ticket":"B{i}","service":"payment"}}"#,
                    "\n",
                    r#"{{"id":"l{i}","hall":"h2","type":"left","at":"2026-08-07T09:00:{s:02}.{ms2:03}+08:00","ticket":"B{i}"}}"#,
                    "\n"
                ),
                i = i,
                s = 2 * i / 1000,
                ms = 2 * i % 1000,
                ms2 = 2 * i % 1000 + 1
            )
            .as_bytes(),
        );
    }
    file.extend_from_slice(
        concat!(
            r#"{"id":"a3","hall":"h1","type":"called","at":"2026-08-07T09:05:00+08:00","ticket":"A1","counter":"c1"}"#,
            "\n",
            r#"{"id":"a4","hall":"h1","type":"service_started","at":"2026-08-07T09:05:00+08:00","ticket":"A1","counter":"c1","staff":"s1"}"#,
            "\n",
            r#"{"id":"a5","hall":"h1","type":"service_ended","at":"2026-08-07T09:08:00+08:00","ticket":"A1","counter":"c1","staff":"s1","outcome":"done"}"#,
        )
        .as_bytes(),
    );
    let path = write(dir.path(), "day.ndjson", &file);
    let out = ok(&db.url, &["events", "ingest", &path]);
    assert!(
        out.contains(&format!(
            "{} accepted, 0 duplicates, 1 rejected",
            filler + 4
        )) && out.contains("line 3: the line is not valid UTF-8"),
        "{out}"
    );
    let q: Value =
        serde_json::from_str(&ok(&db.url, &["events", "quarantine", "--format", "json"])).unwrap();
    assert_eq!(q.as_array().unwrap().len(), 1);
    assert_eq!(q[0]["hall"], "h1");
    // A1, issued in the first batch, was called and served in the second.
    let kpi = kpi_of_the_day(&db.url, &["--org", "h1"]);
    assert_eq!(kpi["total"]["arrivals"], 1);
    assert_eq!(kpi["total"]["asa_s"], 300.0);
    assert_eq!(kpi["total"]["aht_s"], 180.0);
}

/// Issue 4: a simulated day is reproducible and ingests without a rejected event.
#[test]
fn a_simulated_day_ingests_cleanly() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    import_org(
        &db.url,
        dir.path(),
        "id,parent,level,name,counters,kiosks\np,,province,省\nh1,p,hall,一厅,4,2\nh2,p,hall,二厅,2,1\n",
    );
    let args = [
        "simulate",
        "--halls",
        "2",
        "--date",
        "2026-08-07",
        "--seed",
        "5",
    ];
    let day = ok(&db.url, &args);
    assert_eq!(day, ok(&db.url, &args), "the same seed gives the same day");
    assert!(day.contains(r#""hall":"h2""#) && day.contains(r#""type":"rated""#));
    let file = write(dir.path(), "day.ndjson", day.as_bytes());
    let out = ok(&db.url, &["events", "ingest", &file]);
    let n = day.lines().count();
    assert!(
        out.contains(&format!("{n} accepted, 0 duplicates, 0 rejected")),
        "{out}"
    );
}

// Issue 4: killing the server during ingest loses no acknowledged event.
peakend_testkit::on_both_backends!(a_killed_server_loses_no_acknowledged_event, |url| {
    let dir = tempfile::tempdir().unwrap();
    import_org(
        url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nh1,p,hall,一厅\n",
    );
    let token = ok(url, &["token", "create", "--hall", "h1"])
        .trim()
        .to_owned();
    let (mut server, base) = spawn_server(url);
    // Post batches of 200 tickets until the server is killed under the client; the kill
    // comes once a few batches were acknowledged, wherever the next one is then.
    let (acked_tx, acked_rx) = std::sync::mpsc::channel();
    let poster = spawn_async(move || async move {
        let client = reqwest::Client::new();
        let mut acknowledged = 0u64;
        for b in 0..1000 {
            let batch: String = (0..200)
                .map(|i| {
                    let n = b * 200 + i;
                    format!(
                        "{{\"id\":\"k{n}\",\"hall\":\"h1\",\"type\":\"ticket_issued\",\"at\":\"2026-08-07T09:{:02}:{:02}+08:00\",\"ticket\":\"T{n}\",\"service\":\"payment\"}}\n",
                        n / 60 % 60,
                        n % 60
                    )
                })
                .collect();
            let sent = client
                .post(format!("{base}/api/v1/events"))
                .bearer_auth(&token)
                .body(batch)
                .send()
                .await;
            let Ok(resp) = sent else { break };
            let Ok(out) = resp.json::<Value>().await else {
                break;
            };
            acknowledged += out["accepted"].as_u64().unwrap_or(0);
            if b == 3 {
                let _ = acked_tx.send(());
            }
        }
        acknowledged
    });
    acked_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("batches acknowledged before the kill");
    server.kill().unwrap();
    server.wait().unwrap();
    let acknowledged = poster.join().unwrap();
    assert!(
        acknowledged > 0,
        "some batches were acknowledged before the kill"
    );
    let kpi = kpi_of_the_day(url, &[]);
    let stored = kpi["total"]["arrivals"].as_u64().unwrap();
    assert!(
        stored >= acknowledged,
        "{stored} stored < {acknowledged} acknowledged"
    );
});

// Issue 19: the same under a busy load: four halls of 10 counters and 3 kiosks post
// their simulated day at once, in batches large enough that SQLite writes them in
// parts. Every event of an acknowledged batch is stored; after a restart, posting every
// batch again applies the rest exactly once (nothing half-applied stays half-applied)
// and the stored days equal a replay of all the events.
peakend_testkit::on_both_backends!(
    a_killed_server_under_a_busy_load_loses_no_acknowledged_event,
    |url| {
        use peakend_core::ops::event::Event;
        use peakend_store::Store;
        let dir = tempfile::tempdir().unwrap();
        import_org(
            url,
            dir.path(),
            "id,parent,level,name,counters,kiosks\np,,province,省,,\n\
         h1,p,hall,一厅,10,3\nh2,p,hall,二厅,10,3\nh3,p,hall,三厅,10,3\nh4,p,hall,四厅,10,3\n",
        );
        // Three days of the four halls (some 9,000 events each).
        let day: String = ["2026-08-07", "2026-08-08", "2026-08-10"]
            .iter()
            .map(|d| {
                ok(
                    url,
                    &["simulate", "--halls", "4", "--date", d, "--seed", "8"],
                )
            })
            .collect();
        // Each hall's lines in batches of 5,000 (over SQLite's part of 4,000).
        let mut batches: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut by_hall: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for line in day.lines() {
            let e = Event::from_json(line).unwrap();
            by_hall.entry(e.hall.to_string()).or_default().push(line);
        }
        for (hall, lines) in &by_hall {
            assert!(lines.len() > 5_000, "{hall}: {} events", lines.len());
            batches.insert(
                hall.clone(),
                lines.chunks(5_000).map(|c| c.join("\n")).collect(),
            );
        }
        let tokens: BTreeMap<String, String> = by_hall
            .keys()
            .map(|h| {
                (
                    h.clone(),
                    ok(url, &["token", "create", "--hall", h]).trim().to_owned(),
                )
            })
            .collect();
        // Posts every hall's batches (one client per hall) to `base`; returns the ids of the
        // events acknowledged, and the answers' counts summed.
        let post_all = |base: String, acked_tx: Option<std::sync::mpsc::Sender<()>>| {
            let posters: Vec<_> = batches
                .iter()
                .map(|(hall, bodies)| {
                    let (base, token, bodies) =
                        (base.clone(), tokens[hall].clone(), bodies.clone());
                    let acked_tx = acked_tx.clone();
                    spawn_async(move || async move {
                        let client = reqwest::Client::new();
                        let (mut ids, mut counts) = (Vec::new(), (0u64, 0u64, 0u64));
                        for body in bodies {
                            let sent = client
                                .post(format!("{base}/api/v1/events"))
                                .bearer_auth(&token)
                                .body(body.clone())
                                .send()
                                .await;
                            let Ok(resp) = sent else { break };
                            let Ok(out) = resp.json::<Value>().await else {
                                break;
                            };
                            counts.0 += out["accepted"].as_u64().unwrap();
                            counts.1 += out["released"].as_u64().unwrap();
                            counts.2 += out["duplicates"].as_u64().unwrap();
                            ids.extend(body.lines().map(|l| Event::from_json(l).unwrap()));
                            if let Some(tx) = &acked_tx {
                                let _ = tx.send(());
                            }
                        }
                        (ids, counts)
                    })
                })
                .collect();
            posters
                .into_iter()
                .map(|p| p.join().unwrap())
                .collect::<Vec<_>>()
        };
        let (mut server, base) = spawn_server(url);
        let (acked_tx, acked_rx) = std::sync::mpsc::channel();
        let killer = std::thread::spawn(move || {
            // Killed once three batches (of any hall) were acknowledged.
            for _ in 0..3 {
                acked_rx
                    .recv_timeout(std::time::Duration::from_secs(120))
                    .expect("acknowledged");
            }
            server.kill().unwrap();
            server.wait().unwrap();
        });
        let first = post_all(base, Some(acked_tx));
        killer.join().unwrap();
        let acknowledged: Vec<Event> = first.into_iter().flat_map(|(ids, _)| ids).collect();
        assert!(!acknowledged.is_empty());
        let store = peakend_store::connect(url).await.unwrap();
        let halls: Vec<peakend_core::HallId> = by_hall
            .keys()
            .map(|h| peakend_core::HallId::parse(h.as_str()).unwrap())
            .collect();
        let stored_ids = |store: &peakend_store::SqlStore| {
            let (store, halls) = (store.clone(), halls.clone());
            async move {
                let mut ids = std::collections::HashSet::new();
                for hall in &halls {
                    for e in store.hall_events(hall, 0, i64::MAX / 4).await.unwrap() {
                        ids.insert((e.hall.to_string(), e.id));
                    }
                }
                ids
            }
        };
        let stored = stored_ids(&store).await;
        let lost: Vec<_> = acknowledged
            .iter()
            .filter(|e| !stored.contains(&(e.hall.to_string(), e.id.clone())))
            .collect();
        assert!(lost.is_empty(), "{} acknowledged events lost", lost.len());
        // Restarted, every batch again: what was not stored is applied now, once.
        let (mut server, base) = spawn_server(url);
        let second = post_all(base, None);
        server.kill().unwrap();
        server.wait().unwrap();
        let total = day.lines().count() as u64;
        let (applied, dup) = second
            .iter()
            .fold((0, 0), |(a, d), (_, c)| (a + c.0 + c.1, d + c.2));
        assert_eq!(applied + dup, total, "{second:?}");
        assert_eq!(
            dup as usize,
            stored.len(),
            "what the first run stored comes back as duplicates"
        );
        assert_eq!(stored_ids(&store).await.len() as u64, total);
        // The stored days replay like the day itself.
        for (hall, lines) in &by_hall {
            let hall_id = peakend_core::HallId::parse(hall.as_str()).unwrap();
            let got = store.hall_events(&hall_id, 0, i64::MAX / 4).await.unwrap();
            let mut want: Vec<Event> = lines.iter().map(|l| Event::from_json(l).unwrap()).collect();
            peakend_core::ops::event::sort_for_replay(&mut want);
            let rules = peakend_core::ops::day::Rules::default();
            let end = i64::MAX / 4;
            let (a, b) = (
                peakend_core::ops::day::HallDay::replay(rules.clone(), &got, end),
                peakend_core::ops::day::HallDay::replay(rules, &want, end),
            );
            assert_eq!(
                a.tickets().collect::<Vec<_>>(),
                b.tickets().collect::<Vec<_>>(),
                "{hall}"
            );
            assert_eq!(a.alerts(), b.alerts(), "{hall}");
        }
    }
);

/// Issue 5: `user add` prints only a one-time password; names, roles and nodes are checked.
#[test]
fn users_are_added_with_a_one_time_password() {
    let db = peakend_testkit::sqlite();
    ok(&db.url, &["demo", "--no-serve"]);
    let password = ok(
        &db.url,
        &[
            "user",
            "add",
            "--name",
            "li.na",
            "--role",
            "hall_manager",
            "--org",
            "demo-dj-cq-02",
        ],
    );
    let password = password.trim_end();
    assert_eq!(password.len(), 16, "only the password: {password:?}");
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    let again = fails(
        &db.url,
        &[
            "user",
            "add",
            "--name",
            "li.na",
            "--role",
            "frontline",
            "--org",
            "demo",
        ],
    );
    assert!(again.contains("user `li.na` already exists"), "{again}");
    // clap refuses it with its usage hint, before anything runs.
    let role = peakend(
        &db.url,
        &[
            "user", "add", "--name", "x", "--role", "boss", "--org", "demo",
        ],
    );
    assert!(
        !role.ok && role.stderr.contains("`boss` is not a role"),
        "{}",
        role.stderr
    );
    let org = fails(
        &db.url,
        &[
            "user",
            "add",
            "--name",
            "y",
            "--role",
            "frontline",
            "--org",
            "nowhere",
        ],
    );
    assert!(org.contains("org node `nowhere` not found"), "{org}");
    let list = ok(&db.url, &["user", "list", "--format", "json"]);
    let users: Value = serde_json::from_str(&list).unwrap();
    let li = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "li.na")
        .unwrap();
    assert_eq!(
        (li["role"].as_str(), li["org"].as_str()),
        (Some("hall_manager"), Some("demo-dj-cq-02"))
    );
    assert!(!list.contains(password), "passwords are never listed");
}

// Issue 26: SIGTERM ends a server whose live board is open, within seconds.
#[test]
fn sigterm_stops_a_server_with_a_live_stream_open() {
    let db = peakend_testkit::sqlite();
    let dir = tempfile::tempdir().unwrap();
    import_org(
        &db.url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nh1,p,hall,一厅\n",
    );
    let token = ok(&db.url, &["token", "create", "--hall", "h1"])
        .trim()
        .to_owned();
    let (mut server, base) = spawn_server(&db.url);
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    // A live board: reads its stream until the server ends it.
    let board = spawn_async(move || async move {
        let mut live = reqwest::Client::new()
            .get(format!("{base}/api/v1/halls/h1/live"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(live.status().is_success());
        live.chunk().await.unwrap();
        opened_tx.send(()).unwrap();
        while let Ok(Some(_)) = live.chunk().await {}
    });
    opened_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the live stream opened");
    let asked = std::time::Instant::now();
    let killed = StdCommand::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if asked.elapsed() > std::time::Duration::from_secs(8) {
            server.kill().unwrap();
            panic!("the server was still running 8 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    board.join().unwrap();
}

// Issue 18: `journey assign` binds a region's journey to its halls; governance holds down
// the tree; `org list` shows each node's own and effective journey; analyses of a node
// default to it.
peakend_testkit::on_both_backends!(a_region_s_journey_is_assigned_and_followed, |url| {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let path = |p: &str| examples.join(p).to_str().unwrap().to_owned();
    ok(url, &["org", "import", &path("org.csv")]);
    ok(
        url,
        &["journey", "import", &path("journeys/dongjiang-hall.json")],
    );
    // Unknown journey, unknown node: one line each, exit 1.
    let err = fails(url, &["journey", "assign", "nope", "--org", "gd"]);
    assert!(err.contains("journey `nope` not found"), "{err}");
    let err = fails(url, &["journey", "assign", "dongjiang-hall", "--org", "zz"]);
    assert!(err.contains("node `zz` not found"), "{err}");

    let out = ok(
        url,
        &["journey", "assign", "dongjiang-hall", "--org", "gd-dj"],
    );
    assert_eq!(out.trim(), "gd-dj: journey dongjiang-hall assigned");
    // The district below cannot undo the city's added moment; nothing changes.
    let err = fails(
        url,
        &["journey", "assign", "service-hall", "--org", "gd-dj-cq"],
    );
    assert!(
        err.contains(
            "node `gd-dj-cq`: journey `service-hall` does not keep moment `book_online` of journey `dongjiang-hall` assigned to `gd-dj`"
        ),
        "{err}"
    );
    let tree: Value = serde_json::from_str(&ok(url, &["org", "list", "--format", "json"])).unwrap();
    let city = &tree[0]["children"][0];
    assert_eq!(city["journey"], "dongjiang-hall");
    assert_eq!(tree[0]["effective_journey"], "service-hall");
    let district = &city["children"][0];
    assert!(district.get("journey").is_none(), "{district}");
    assert_eq!(
        district["children"][0]["effective_journey"],
        "dongjiang-hall"
    );
    let table = ok(url, &["org", "list"]);
    let hall_line = table.lines().find(|l| l.contains("gd-dj-cq-01")).unwrap();
    assert!(hall_line.contains("dongjiang-hall"), "{table}");
    assert!(table.contains("LIVES BY"), "{table}");

    let history: Value =
        serde_json::from_str(&ok(url, &["journey", "history", "--format", "json"])).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history[0]["node"], "gd-dj");
    assert_eq!(history[0]["new"], "dongjiang-hall");
    assert!(history[0]["by"].as_str().unwrap().starts_with("cli:"));

    // Responses to the city's journey; `analyze --from-db --org` needs no --journey.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("synth.csv");
    let file = file.to_str().unwrap();
    ok(
        url,
        &[
            "survey",
            "synth",
            "--journey",
            "dongjiang-hall",
            "--rows",
            "200",
            "--seed",
            "3",
            "-o",
            file,
        ],
    );
    ok(
        url,
        &["survey", "import", file, "--journey", "dongjiang-hall"],
    );
    let a: Value = serde_json::from_str(&ok(
        url,
        &["analyze", "--from-db", "--org", "gd-dj", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(a["journey"], "dongjiang-hall");
    let city_respondents = a["respondents"].as_u64().unwrap();
    assert!(city_respondents > 0);
    // A second city on the built-in journey: the province's halls now live by two
    // journeys, so it is analysed on the one they share, and the CLI says so.
    import_org(
        url,
        dir.path(),
        "id,parent,level,name\ngd-xx,gd,city,新市\ngd-xx-01,gd-xx,hall,新市营业厅\n",
    );
    let run = peakend(
        url,
        &["analyze", "--from-db", "--org", "gd", "--format", "json"],
    );
    assert!(run.ok, "{}", run.stderr);
    let a: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(a["journey"], "service-hall");
    assert!(
        run.stderr
            .contains("live by journeys dongjiang-hall, service-hall")
            && run.stderr.contains("the journey they share, service-hall"),
        "{}",
        run.stderr
    );
    // Every hall's answers count, on the 16 moments they share.
    assert_eq!(a["respondents"].as_u64().unwrap(), city_respondents);
    assert_eq!(a["moments"].as_array().unwrap().len(), 16);
});

// Issue 18: kiosk faults outlive their day across separate ingest files and a restart of
// the server: a Friday fault restored by Monday's file is nothing to report; one never
// restored is overdue on Tuesday at the fault's hour, read by a freshly started server.
peakend_testkit::on_both_backends!(kiosk_faults_carry_across_files_and_restarts, |url| {
    let dir = tempfile::tempdir().unwrap();
    import_org(
        url,
        dir.path(),
        "id,parent,level,name,counters,kiosks\np,,province,省,,\nh1,p,hall,一厅,4,2\nh2,p,hall,二厅,4,2\n",
    );
    let friday = write(
        dir.path(),
        "friday.ndjson",
        concat!(
            r#"{"id":"f1","hall":"h1","type":"kiosk_fault","at":"2026-08-07T10:00:00+08:00","kiosk":"k1","fault":"卡纸"}"#,
            "\n",
            r#"{"id":"f2","hall":"h2","type":"kiosk_fault","at":"2026-08-07T10:00:00+08:00","kiosk":"k1","fault":"卡纸"}"#,
            "\n"
        )
        .as_bytes(),
    );
    let monday = write(
        dir.path(),
        "monday.ndjson",
        concat!(
            r#"{"id":"r1","hall":"h1","type":"kiosk_restored","at":"2026-08-10T09:00:00+08:00","kiosk":"k1"}"#,
            "\n"
        )
        .as_bytes(),
    );
    ok(url, &["events", "ingest", &friday]);
    ok(url, &["events", "ingest", &monday]);
    let quarantined: Value =
        serde_json::from_str(&ok(url, &["events", "quarantine", "--format", "json"])).unwrap();
    assert_eq!(quarantined, json!([]), "nothing quarantined");

    // A new server process reads the faults from the database.
    let (mut server, base) = spawn_server(url);
    let overdue = |hall: &str| {
        let alerts = fetch_json(&format!(
            "{base}/api/v1/halls/{hall}/alerts?state=open&at=2026-08-11T10:05:00%2B08:00"
        ));
        alerts
            .as_array()
            .unwrap_or_else(|| panic!("{alerts}"))
            .iter()
            .filter(|a| a["kind"] == "kiosk_overdue")
            .count()
    };
    let (h1, h2) = (overdue("h1"), overdue("h2"));
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!((h1, h2), (0, 1));
});

// Issue 18: the organisation names time zones: an optional `tz` column (IANA names),
// inherited down the tree, shown by `org list`, whose CSV re-imports as is; a zone that
// does not exist is one error naming the row and column, and nothing is imported.
peakend_testkit::on_both_backends!(org_nodes_carry_time_zones, |url| {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.csv",
        "id,parent,level,name,tz\np,,province,省,Asia/Urumqi\nh1,p,hall,一厅,Mars/Olympus\n"
            .as_bytes(),
    );
    let err = fails(url, &["org", "import", &bad]);
    assert!(
        err.contains("row 3") && err.contains("tz") && err.contains("Mars/Olympus"),
        "{err}"
    );
    let listed = ok(url, &["org", "list", "--format", "csv"]);
    assert_eq!(listed.lines().count(), 1, "nothing imported: {listed}");

    import_org(
        url,
        dir.path(),
        "id,parent,level,name,tz,nps_target\np,,province,省,Asia/Urumqi,30\nh1,p,hall,一厅,,\nq,,province,另一省,,\nh2,q,hall,二厅,,\n",
    );
    let csv = ok(url, &["org", "list", "--format", "csv"]);
    assert!(
        csv.starts_with("id,parent,level,name,counters,kiosks,tz,nps_target,index_target\n"),
        "{csv}"
    );
    assert!(
        csv.contains("p,,province,\"省\",0,0,Asia/Urumqi,30,\n"),
        "{csv}"
    );
    assert!(csv.contains("h1,p,hall,\"一厅\",0,0,,,\n"), "{csv}");
    // The listing re-imports as is.
    let again = write(dir.path(), "again.csv", csv.as_bytes());
    ok(url, &["org", "import", &again]);
    assert_eq!(ok(url, &["org", "list", "--format", "csv"]), csv);
    // Inherited: the hall lives in its province's zone; the other province in the default.
    let table = ok(url, &["org", "list"]);
    let zone = |id: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("{table}"))
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned()
    };
    assert_eq!(zone("h1"), "Asia/Urumqi");
    assert_eq!(zone("h2"), "Asia/Shanghai");
});

// Issue 20: a hotline's export is imported all or nothing, naming the row and column of
// every bad cell; imported again it opens nothing new; `case sweep --at` escalates as of
// a given time, one level a sweep; `case kpi` and `case list` report them. Both backends.
#[tokio::test(flavor = "multi_thread")]
async fn hotline_cases_are_imported_swept_and_reported() {
    for (_, db) in peakend_testkit::each_backend().await {
        let dir = tempfile::tempdir().unwrap();
        import_org(
            &db.url,
            dir.path(),
            "id,parent,level,name\np,,province,省\nc,p,city,市\nd,c,district,区\nh1,d,hall,一厅\n",
        );
        let bad = write(
            dir.path(),
            "bad.csv",
            "hall,opened_at,moment,summary,contact,severity\n\
             h1,2026-08-07 09:00,dispute,多收费,13812345678,high\n\
             h9,2026-08-07 09:00,dispute,x,,\n\
             h1,2026-08-07 09:00,teleport,x,,\n\
             h1,yesterday,dispute,x,,\n"
                .as_bytes(),
        );
        let err = fails(&db.url, &["case", "import", &bad]);
        assert!(
            err.contains("bad.csv: row 5, column opened_at: `yesterday`"),
            "{err}"
        );
        // Form first: then the halls and moments are checked, all before anything is stored.
        let bad2 = write(
            dir.path(),
            "bad2.csv",
            "hall,opened_at,moment,summary\nh9,2026-08-07 09:00,dispute,x\nh1,2026-08-07 09:00,teleport,x\n"
                .as_bytes(),
        );
        let err = fails(&db.url, &["case", "import", &bad2]);
        assert!(
            err.contains("row 2, column hall: `h9` is not a hall"),
            "{err}"
        );
        assert!(
            err.contains("row 3, column moment: `teleport` is not a moment"),
            "{err}"
        );
        assert_eq!(
            ok(&db.url, &["case", "list", "--format", "json"]).trim(),
            "[]"
        );

        let good = write(
            dir.path(),
            "hotline.csv",
            "hall,opened_at,moment,summary,contact,severity\n\
             h1,2026-08-07 09:00,dispute,多收费,13812345678,high\n\
             h1,2026-08-07T10:00:00+08:00,queue,排队太久,,\n"
                .as_bytes(),
        );
        let out = ok(&db.url, &["case", "import", &good]);
        assert!(out.contains("2 cases opened, 0 already open"), "{out}");
        let out = ok(&db.url, &["case", "import", &good]);
        assert!(out.contains("0 cases opened, 2 already open"), "{out}");

        let sweep = |at: &str| -> Value {
            serde_json::from_str(&ok(
                &db.url,
                &["case", "sweep", "--at", at, "--format", "json"],
            ))
            .unwrap()
        };
        let first = sweep("2026-08-07T11:30:00+08:00");
        assert_eq!(first.as_array().unwrap().len(), 1, "{first}");
        assert_eq!(
            (first[0]["from"].as_str(), first[0]["to"].as_str()),
            (Some("h1"), Some("d"))
        );
        let second = sweep("2026-08-07T13:30:00+08:00");
        let moves: Vec<(String, String)> = second
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["from"].as_str().unwrap().into(),
                    e["to"].as_str().unwrap().into(),
                )
            })
            .collect();
        // In the order their deadlines passed.
        assert_eq!(moves, [("h1".into(), "d".into()), ("d".into(), "c".into())]);
        let list: Value =
            serde_json::from_str(&ok(&db.url, &["case", "list", "--format", "json"])).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[1]["level"], "c");
        assert_eq!(list[1]["source"], "hotline");
        let show = ok(&db.url, &["case", "show", &list[1]["id"].to_string()]);
        assert!(show.contains("escalated from d to c"), "{show}");
        let kpi: Value = serde_json::from_str(&ok(
            &db.url,
            &[
                "case",
                "kpi",
                "--org",
                "p",
                "--from",
                "2026-08-01",
                "--to",
                "2026-08-31",
                "--format",
                "json",
            ],
        ))
        .unwrap();
        assert_eq!(kpi["opened"], 2);
        assert_eq!(kpi["by_source"]["hotline"], 2);
        assert_eq!(kpi["hidden"]["voiced"], 2);
        let err = fails(&db.url, &["case", "show", "77"]);
        assert!(err.contains("case 77 not found"), "{err}");
        let err = fails(
            &db.url,
            &[
                "webhook",
                "add",
                "--url",
                "http://x/h",
                "--secret",
                "0123456789abcdef",
                "--events",
                "case.opend",
            ],
        );
        assert!(err.contains("`case.opend` is not one of"), "{err}");
    }
}

// Issue 22: `peakend busy-hours` forecasts the coming week from the stored roll-ups:
// one week of history whose busy hour is Monday 10:00.
peakend_testkit::on_both_backends!(busy_hours_forecast_the_week_from_the_history, |url| {
    let dir = tempfile::tempdir().unwrap();
    import_org(
        url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nh1,p,hall,一厅\n",
    );
    let mut lines = Vec::new();
    for d in 23..=29 {
        for (hour, n) in [(9, 1), (10, if d == 23 { 6 } else { 2 }), (11, 3)] {
            for i in 0..n {
                lines.push(format!(
                    r#"{{"id":"{d}-{hour}-{i}","hall":"h1","type":"ticket_issued","at":"2026-11-{d}T{hour:02}:{:02}:00+08:00","ticket":"T{hour}{i}","service":"payment"}}"#,
                    i * 5
                ));
            }
        }
    }
    let file = write(dir.path(), "week.ndjson", lines.join("\n").as_bytes());
    ok(url, &["events", "ingest", &file]);
    let args = [
        "busy-hours",
        "--hall",
        "h1",
        "--weeks",
        "1",
        "--from",
        "2026-11-30",
    ];
    let json: Value =
        serde_json::from_str(&ok(url, &[&args[..], &["--format", "json"]].concat())).unwrap();
    assert_eq!(json["days"][0]["hours"][1]["expected"], 6.0);
    assert_eq!(json["days"][0]["hours"][1]["level"], "busy");
    let table = ok(url, &args);
    assert!(table.contains("6忙") && table.contains("1闲"), "{table}");
    let err = fails(url, &["busy-hours", "--hall", "h9"]);
    assert!(err.contains("`h9` is not a hall"), "{err}");
});

// Issue 22: a replay invites no one unless asked; with `--invite` the visits it ends are
// decided by the org's invitation rule, once, and listed.
peakend_testkit::on_both_backends!(a_replay_invites_only_when_asked, |url| {
    let dir = tempfile::tempdir().unwrap();
    import_org(
        url,
        dir.path(),
        "id,parent,level,name\np,,province,省\nh1,p,hall,一厅\n",
    );
    ok(
        url,
        &[
            "survey",
            "invite-rule",
            "--org",
            "p",
            "--share",
            "1",
            "--quiet",
            "21:00-08:00",
        ],
    );
    let customer = "a".repeat(64);
    // Yesterday in the hall's zone: a contact that ended within the 72 hours a link lives.
    let yesterday = (chrono::Utc::now() + chrono::Duration::hours(8) - chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let visit = |t: &str, day: &str| {
        [
            format!(r#"{{"id":"{t}i","hall":"h1","type":"ticket_issued","at":"{day}T09:00:00+08:00","ticket":"{t}","service":"缴费","customer":"{customer}"}}"#),
            format!(r#"{{"id":"{t}c","hall":"h1","type":"called","at":"{day}T09:12:00+08:00","ticket":"{t}","counter":"c1","staff":"S01"}}"#),
            format!(r#"{{"id":"{t}s","hall":"h1","type":"service_started","at":"{day}T09:12:00+08:00","ticket":"{t}","counter":"c1"}}"#),
            format!(r#"{{"id":"{t}e","hall":"h1","type":"service_ended","at":"{day}T09:20:00+08:00","ticket":"{t}","counter":"c1","outcome":"done"}}"#),
        ]
        .join("\n")
    };
    let file = write(dir.path(), "d1.ndjson", visit("A1", &yesterday).as_bytes());
    let out = ok(url, &["events", "ingest", &file]);
    assert!(!out.contains("survey invitations"), "{out}");
    let list = |url: &str| -> Value {
        serde_json::from_str(&ok(url, &["survey", "invitations", "--format", "json"])).unwrap()
    };
    assert_eq!(list(url).as_array().unwrap().len(), 0);

    let file = write(dir.path(), "d2.ndjson", visit("B1", &yesterday).as_bytes());
    let out = ok(url, &["events", "ingest", "--invite", &file]);
    assert!(
        out.contains("survey invitations: 1 sent, 0 held for quiet hours, 0 suppressed"),
        "{out}"
    );
    let l = list(url);
    assert_eq!(l.as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l[0]["contact"], format!("h1/{yesterday}/B1"));
    assert_eq!(l[0]["wait_s"], 720);
    assert_eq!(l[0]["staff"], "S01");
    // Replayed again with --invite: the events are duplicates and nothing is decided.
    let out = ok(url, &["events", "ingest", "--invite", &file]);
    assert!(out.contains("0 accepted, 4 duplicates"), "{out}");
    assert_eq!(list(url).as_array().unwrap().len(), 1);
    // A visit of August, replayed now with --invite: its link would be long dead.
    let file = write(
        dir.path(),
        "old.ndjson",
        visit("Z9", "2026-08-08").as_bytes(),
    );
    let out = ok(url, &["events", "ingest", "--invite", &file]);
    assert!(out.contains("survey invitations: 0 sent"), "{out}");
    assert_eq!(list(url).as_array().unwrap().len(), 1);
    // A phone number in place of a key is refused by line, never stored.
    let bad = r#"{"id":"x1","hall":"h1","type":"ticket_issued","at":"2026-08-08T10:00:00+08:00","ticket":"C1","service":"缴费","customer":"13800138000"}"#;
    let file = write(dir.path(), "bad.ndjson", bad.as_bytes());
    let out = ok(url, &["events", "ingest", &file]);
    assert!(
        out.contains("line 1: field `customer`: a customer key must be 64 hex digits"),
        "{out}"
    );
    // A device that knows only the number sends `phone`: with the network's salt it is
    // keyed at ingest; without one it is refused, and the quarantine masks the number.
    let phoned = r#"{"id":"p1","hall":"h1","type":"ticket_issued","at":"2026-08-08T10:05:00+08:00","ticket":"D1","service":"缴费","phone":"13900001111"}"#;
    let file = write(dir.path(), "phone.ndjson", phoned.as_bytes());
    let out = ok(url, &["events", "ingest", &file]);
    assert!(
        out.contains("line 1: field `phone`: this server has no customer salt"),
        "{out}"
    );
    let q = ok(url, &["events", "quarantine", "--format", "json"]);
    assert!(!q.contains("13900001111") && q.contains("***"), "{q}");
    let run = Command::cargo_bin("peakend")
        .unwrap()
        .env("PEAKEND_CUSTOMER_SALT", "net-salt")
        .args(["--db", url, "events", "ingest", &file])
        .output()
        .unwrap();
    let out = String::from_utf8(run.stdout).unwrap();
    assert!(out.contains("1 accepted"), "{out}");
});

// Issue 23: the house of quality from the journey, before any answer: stage 1, the
// cascade to stages 2 and 3, and the exports.
peakend_testkit::on_both_backends!(qfd_gives_the_three_stages_of_a_journey, |url| {
    ok(url, &["init"]);
    let out = ok(url, &["qfd", "service-hall"]);
    assert!(out.contains("stage 1"), "{out}");
    assert!(out.contains("prior importances"), "{out}");
    let json: Value =
        serde_json::from_str(&ok(url, &["qfd", "service-hall", "--format", "json"])).unwrap();
    let importance = json["importance"].as_array().unwrap();
    assert_eq!(importance.len(), 16);
    assert_eq!(importance[0]["rank"], 1);
    let share: f64 = importance
        .iter()
        .map(|c| c["relative"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-9);
    let out = ok(url, &["qfd", "service-hall", "--stage", "2"]);
    assert!(out.contains("stage 2 服务传递"), "{out}");
    let s3: Value = serde_json::from_str(&ok(
        url,
        &["qfd", "service-hall", "--stage", "3", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(s3["stage"], 3);
    assert!(!s3["importance"].as_array().unwrap().is_empty());
    let err = fails(url, &["qfd", "hotline", "--stage", "2"]);
    assert!(err.contains("process elements"), "{err}");
    let err = fails(url, &["qfd", "service-hall", "--format", "xlsx"]);
    assert!(err.contains("--out"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("house.svg");
    ok(
        url,
        &[
            "qfd",
            "service-hall",
            "--stage",
            "2",
            "--format",
            "svg",
            "--out",
            svg.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("网点信息发布"));
    let err = fails(url, &["qfd", "service-hall", "--org", "nowhere"]);
    assert!(
        err.contains("`nowhere` is not in the organisation"),
        "{err}"
    );
    // bench/qfd.py's command: the cascade and each stage's importances, the stage-3 ones
    // the sums of the stage-2 ones through the stage-3 cells (what the peers recompute).
    let b: Value = serde_json::from_str(&ok(
        url,
        &[
            "bench-qfd",
            "--responses",
            "500",
            "--halls",
            "3",
            "--runs",
            "2",
        ],
    ))
    .unwrap();
    assert_eq!(b["respondents"], 500);
    let carried: std::collections::BTreeMap<&str, f64> = b["importance"][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap(), c["absolute"].as_f64().unwrap()))
        .collect();
    let rows = b["cascade"]["stage3"]["rows"].as_array().unwrap();
    for r in rows {
        let w = r["weight"].as_f64().unwrap();
        assert!(
            (w - carried[r["key"].as_str().unwrap()]).abs() < 1e-9,
            "{r}"
        );
    }
});
