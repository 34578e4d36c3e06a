//! Issue 24: two nodes on one PostgreSQL database with device events through the local
//! NATS JetStream server (127.0.0.1:4222). Batches of the same halls posted to both
//! nodes in shuffled order give the KPIs and alerts of a one-node replay; a board on
//! one node sees the other node's event within a second; a node killed with SIGKILL
//! during ingest loses no acknowledged batch, and none is applied twice.
//! Two more stories start NATS servers of their own (`nats-server`, Debian's package),
//! so they can kill them: deploy/compose.yaml's three-server cluster losing its stream's
//! leader, and one server lost and back while the nodes run.
//! `PEAKEND_TEST_SKIP_NATS=1` skips them all on a machine without NATS (CI has one).
//!
//! A test binary of its own (the others are one binary a crate): it times a push across
//! nodes, so it runs alone, not beside sixty other stories on two cores.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const NATS: &str = "nats://127.0.0.1:4222";
const DAY: &str = "2026-08-07";

fn peakend(db: &str, args: &[&str]) -> String {
    let out = Command::new(assert_cmd::cargo::cargo_bin("peakend"))
        .args(["--db", db])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "peakend {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A node's process, killed when the test ends however it ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tests of this binary run one at a time: each times or counts what its nodes do
/// on two cores.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A node's log lines, kept for the test to read.
type Log = Arc<Mutex<Vec<String>>>;

/// A node: `peakend serve --nats NATS` on an ephemeral port with more arguments `args`; its
/// process, base URL and log (each partition it took or gave back, each case escalation
/// it made).
fn node_with(db: &str, nats: &str, prefix: &str, args: &[&str]) -> (Node, String, Log) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("peakend"))
        .args(["--db", db, "serve", "--addr", "127.0.0.1:0", "--nats", nats])
        .args(["--nats-prefix", prefix, "--partitions", "4"])
        .args(args)
        .env(
            "RUST_LOG",
            "info,sqlx=warn,tower_http=warn,peakend_http::case_worker=debug",
        )
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let log: Log = Arc::default();
    let url = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "the node ended");
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break url.to_owned();
        }
        log.lock().unwrap().push(plain(&line));
    };
    // The rest of its log is read and kept, so a full pipe never blocks it.
    let keep = log.clone();
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            if std::env::var("PEAKEND_TEST_NODE_LOG").is_ok() {
                eprintln!("node: {l}");
            }
            keep.lock().unwrap().push(plain(&l));
        }
    });
    (Node(child), url, log)
}

/// A log line without terminal colours.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `key=` in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn event(id: &str, hall: &str, hm: &str, kind: &str, fields: &str) -> String {
    format!(
        r#"{{"id":"{id}","hall":"{hall}","type":"{kind}","at":"{DAY}T{hm}:00+08:00",{fields}}}"#
    )
}

fn hm(minutes: u32) -> String {
    format!("{:02}:{:02}", 9 + minutes / 60, minutes % 60)
}

/// A hall's morning: the counter opens, then `n` tickets from `first`, each issued a
/// minute apart, served in turn; every 7th waits 20 minutes (a care alert).
/// Four events a ticket.
fn morning(hall: &str, first: u32, n: u32) -> Vec<String> {
    let mut out = Vec::new();
    if first == 0 {
        out.push(event(
            &format!("{hall}-open"),
            hall,
            "08:59",
            "counter_opened",
            r#""counter":"c1""#,
        ));
    }
    for i in first..first + n {
        let t = format!("A{i}");
        let id = |k: &str| format!("{hall}-{t}-{k}");
        let wait = if i % 7 == 0 { 20 } else { 2 };
        let f = |extra: &str| format!(r#""ticket":"{t}"{extra}"#);
        out.push(event(
            &id("i"),
            hall,
            &hm(i),
            "ticket_issued",
            &f(r#","service":"payment""#),
        ));
        out.push(event(
            &id("c"),
            hall,
            &hm(i + wait),
            "called",
            &f(r#","counter":"c1""#),
        ));
        out.push(event(
            &id("s"),
            hall,
            &hm(i + wait + 1),
            "service_started",
            &f(r#","counter":"c1""#),
        ));
        out.push(event(
            &id("e"),
            hall,
            &hm(i + wait + 2),
            "service_ended",
            &f(r#","counter":"c1","outcome":"done""#),
        ));
    }
    out
}

/// A deterministic shuffle (a linear congruential generator): the same order each run.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

async fn stored(db: &str) -> i64 {
    peakend_testkit::fetch_i64(db, "SELECT COUNT(*) FROM visit_event").await
}

async fn wait_for(db: &str, n: i64) {
    let start = Instant::now();
    while stored(db).await < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} of {n} applied, {} quarantined: {}",
            stored(db).await,
            peakend_testkit::fetch_i64(db, "SELECT COUNT(*) FROM event_quarantine").await,
            peakend(db, &["events", "quarantine"]),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kpis(db: &str) -> Value {
    let out = peakend(
        db,
        &[
            "kpi", "--org", "p", "--from", DAY, "--to", DAY, "--format", "json",
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    v
}

/// PostgreSQL and NATS both here (else `None`: the test is skipped): a fresh database
/// with the organisation `org` (CSV) imported, a directory for files (the organisation
/// stays there as `org.csv`), and a JetStream prefix of the test's own.
async fn cluster_db(org: &str) -> Option<(peakend_testkit::TestDb, tempfile::TempDir, String)> {
    if peakend_testkit::postgres_skipped()
        || std::env::var("PEAKEND_TEST_SKIP_NATS").is_ok_and(|v| v == "1")
    {
        return None;
    }
    let pg = peakend_testkit::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let org_file = dir.path().join("org.csv");
    std::fs::write(&org_file, org).unwrap();
    peakend(&pg.url, &["init"]);
    peakend(&pg.url, &["org", "import", org_file.to_str().unwrap()]);
    forget_old_streams().await;
    // The second it began, so a later run knows this test's stream is over.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let prefix = format!("t{}-{}", now.as_secs(), now.subsec_nanos());
    Some((pg, dir, prefix))
}

/// The JetStream stream of a test's prefix, as `serve --nats` names it.
fn stream_of(prefix: &str) -> String {
    format!("{}_EVENTS", prefix.to_uppercase().replace('-', "_"))
}

/// Deletes the streams these tests made more than ten minutes ago (one that failed
/// left its own): the machine's NATS keeps every stream on disk, run after run.
async fn forget_old_streams() {
    use futures_util::StreamExt;
    let Ok(client) = async_nats::connect(NATS).await else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut names = js.stream_names();
    let mut old = Vec::new();
    while let Some(Ok(name)) = names.next().await {
        let Some(stamp) = name
            .strip_prefix('T')
            .and_then(|r| r.strip_suffix("_EVENTS"))
        else {
            continue;
        };
        let over = match stamp.split_once('_') {
            Some((secs, _)) => secs.parse::<u64>().is_ok_and(|s| s + 600 < now),
            // The earlier tests' names, a number without the second they began.
            None => !stamp.is_empty() && stamp.bytes().all(|b| b.is_ascii_digit()),
        };
        if over {
            old.push(name);
        }
    }
    for name in old {
        let _ = js.delete_stream(&name).await;
    }
}

/// Waits until the stream at `urls` of `prefix` holds no batch: each applied batch left
/// it (a work queue, or the partitions' purges on a stream that keeps them).
async fn drained(urls: &str, prefix: &str) {
    let servers: Vec<&str> = urls.split(',').collect();
    let client = async_nats::connect(servers.as_slice()).await.unwrap();
    let mut stream = async_nats::jetstream::new(client)
        .get_stream(stream_of(prefix))
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        let messages = stream.info().await.unwrap().state.messages;
        if messages == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{messages} applied batches are still in the stream"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deletes a finished test's stream.
async fn forget_stream(prefix: &str) {
    if let Ok(client) = async_nats::connect(NATS).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(stream_of(prefix))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_apply_what_one_would_survive_a_kill_and_push_across_nodes() {
    let _alone = ALONE.lock().await;
    let Some((pg, dir, prefix)) = cluster_db(TWO_HALLS).await else {
        return;
    };
    let db = pg.url.as_str();
    let tokens = hall_tokens(db);
    let (a, url_a, log_a) = node_with(db, NATS, &prefix, &[]);
    let (mut b, url_b, log_b) = node_with(db, NATS, &prefix, &[]);
    // Each node applies partitions of its own before the first batch, and the node
    // killed below holds some.
    shared_out(&log_a, &log_b).await;
    let http = reqwest::Client::new();
    let post = |url: String, hall: &'static str, lines: Vec<String>| {
        let http = http.clone();
        let token = tokens.iter().find(|t| t.0 == hall).unwrap().1.clone();
        async move {
            http.post(format!("{url}/api/v1/events"))
                .bearer_auth(token)
                .body(lines.join("\n"))
                .send()
                .await
        }
    };

    // The first part of the morning, in batches of five shuffled over both halls and
    // posted to both nodes in turn.
    let mut all: Vec<String> = Vec::new();
    let mut batches: Vec<(&'static str, Vec<String>)> = Vec::new();
    for hall in ["h1", "h2"] {
        let m = morning(hall, 0, 30);
        all.extend(m.iter().cloned());
        batches.extend(m.chunks(5).map(|c| (hall, c.to_vec())));
    }
    shuffle(&mut batches, 24);
    for (i, (hall, lines)) in batches.into_iter().enumerate() {
        let url = if i % 2 == 0 { &url_a } else { &url_b };
        let r = post(url.clone(), hall, lines).await.unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::ACCEPTED,
            "{}",
            r.text().await.unwrap()
        );
    }
    wait_for(db, all.len() as i64).await;

    // The same events replayed by one node into a database of its own.
    let (two, one) = (kpis(db), replayed_kpis(dir.path(), &all));
    assert_eq!(two["total"], one["total"], "{two}");
    assert_eq!(two["total"]["care_alerts"], 10, "{two}");
    assert_eq!(two["halls"], one["halls"]);

    // A board on node A sees an event posted to node B within a second.
    let mut live = http
        .get(format!("{url_a}/api/v1/halls/h1/live"))
        .bearer_auth(&tokens[0].1)
        .send()
        .await
        .unwrap();
    // Its first snapshot, then nothing until the hall changes.
    let first = tokio::time::timeout(Duration::from_secs(5), live.chunk()).await;
    assert!(first.is_ok_and(|c| c.unwrap().is_some()));
    while let Ok(Ok(Some(_))) = tokio::time::timeout(Duration::from_millis(300), live.chunk()).await
    {
    }
    // The board shows the hall's today: a ticket taken now, in the hall's zone.
    let now = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    let sent = Instant::now();
    let late = vec![format!(
        r#"{{"id":"h1-now","hall":"h1","type":"ticket_issued","at":"{now}","ticket":"Z1","service":"payment"}}"#
    )];
    let r = post(url_b.clone(), "h1", late).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let pushed = tokio::time::timeout(Duration::from_secs(5), async {
        // An event of the stream may come in more than one chunk.
        let mut text = String::new();
        loop {
            let chunk = live.chunk().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("Z1") {
                return sent.elapsed();
            }
        }
    })
    .await
    .expect("the board on node A never saw node B's event");
    assert!(pushed < Duration::from_secs(1), "{pushed:?}");
    drop(live);

    // Node B killed in the middle of the rest of the morning: what either node
    // acknowledged is applied, once.
    let mut rest: Vec<(&'static str, Vec<String>)> = Vec::new();
    for hall in ["h1", "h2"] {
        rest.extend(morning(hall, 30, 30).chunks(5).map(|c| (hall, c.to_vec())));
    }
    shuffle(&mut rest, 25);
    let half = rest.len() / 2;
    let mut acked = 0usize;
    for (i, (hall, lines)) in rest.into_iter().enumerate() {
        if i == half {
            b.0.kill().unwrap();
            b.0.wait().unwrap();
        }
        let url = if i % 2 == 1 && i < half {
            &url_b
        } else {
            &url_a
        };
        let n = lines.len();
        if let Ok(r) = post(url.clone(), hall, lines.clone()).await
            && r.status() == reqwest::StatusCode::ACCEPTED
        {
            acked += n;
            all.extend(lines);
        }
    }
    assert!(acked > 0);
    // And today's ticket of the board's check.
    wait_for(db, all.len() as i64 + 1).await;
    // Nothing beyond: no batch applied twice, none lost.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stored(db).await, all.len() as i64 + 1);
    assert_eq!(kpis(db)["total"], replayed_kpis(dir.path(), &all)["total"]);
    // Applied batches leave the stream: it does not grow for ever.
    drained(NATS, &prefix).await;
    drop(a);
    forget_stream(&prefix).await;
}

/// A stream an earlier build made keeps every batch (limits retention, which cannot be
/// changed on a stream): a node says so at start and purges each batch it applies, so
/// the stream empties all the same; a batch sent again is still stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_keeps_batches_is_purged_of_the_applied_ones() {
    let _alone = ALONE.lock().await;
    let Some((pg, _dir, prefix)) = cluster_db(TWO_HALLS).await else {
        return;
    };
    let db = pg.url.as_str();
    let client = async_nats::connect(NATS).await.unwrap();
    async_nats::jetstream::new(client)
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream_of(&prefix),
            subjects: vec![format!("{prefix}.events.>")],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();
    let (_a, url, log) = node_with(db, NATS, &prefix, &[]);
    holds_every_partition(&log).await;
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("the stream keeps acknowledged batches")),
        "{:?}",
        log.lock().unwrap()
    );
    let tokens = hall_tokens(db);
    let http = reqwest::Client::new();
    let mut all = Vec::new();
    for (hall, token) in &tokens {
        for lines in morning(hall, 0, 12).chunks(8) {
            send_until_stored(&http, &url, token, lines).await;
            all.extend(lines.iter().cloned());
        }
    }
    // Sent again: JetStream's duplicate window still knows it after the purge.
    let again = &morning("h1", 0, 12)[..8];
    let r = http
        .post(format!("{url}/api/v1/events"))
        .bearer_auth(&tokens[0].1)
        .body(again.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["duplicate"], true, "{body}");
    wait_for(db, all.len() as i64).await;
    drained(NATS, &prefix).await;
    assert_eq!(stored(db).await, all.len() as i64);
    forget_stream(&prefix).await;
}

/// A node started with another `--partitions` than the batches waiting in the stream
/// were published under is refused, naming the fix: it would give their hall another
/// partition, whose consumer could apply the hall's later batches before them. Started
/// as before, it applies them.
#[tokio::test]
async fn a_changed_partition_count_is_refused_while_batches_wait() {
    let _alone = ALONE.lock().await;
    let Some((pg, _dir, prefix)) = cluster_db(TWO_HALLS).await else {
        return;
    };
    let db = pg.url.as_str();
    let js = async_nats::jetstream::new(async_nats::connect(NATS).await.unwrap());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream_of(&prefix),
        subjects: vec![format!("{prefix}.events.>")],
        retention: async_nats::jetstream::stream::RetentionPolicy::WorkQueue,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .unwrap();
    // A batch of h1 published under four partitions, as a node of `node_with` does.
    let lines = morning("h1", 0, 3);
    let batch = serde_json::json!({
        "hall": "h1",
        "events": lines.iter().enumerate().collect::<Vec<_>>(),
        "refused": [],
    });
    let p4 = peakend_store::SweepHalls::partition("h1", 4);
    js.publish(
        format!("{prefix}.events.{p4}.h1"),
        serde_json::to_vec(&batch).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let other = (5..64)
        .find(|&n| peakend_store::SweepHalls::partition("h1", n) != p4)
        .unwrap();
    let mut refused = Command::new(assert_cmd::cargo::cargo_bin("peakend"))
        .args(["--db", db, "serve", "--addr", "127.0.0.1:0", "--nats", NATS])
        .args(["--nats-prefix", &prefix, "--partitions", &other.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = refused.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = refused.kill();
            panic!("a node with --partitions {other} started");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut refused.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains(&format!("--partitions {other} would not give their halls"))
            && err.contains("hall `h1`"),
        "{err}"
    );
    let (_a, _url, log) = node_with(db, NATS, &prefix, &[]);
    holds_every_partition(&log).await;
    wait_for(db, lines.len() as i64).await;
    drained(NATS, &prefix).await;
    forget_stream(&prefix).await;
}

/// The partitions a node holds now, by its log.
fn held(log: &Log) -> BTreeSet<u32> {
    let mut held = BTreeSet::new();
    for l in log.lock().unwrap().iter() {
        let p = field(l, "partition").and_then(|p| p.parse().ok());
        match p {
            Some(p) if l.contains("partition taken") => held.insert(p),
            Some(p) if l.contains("partition given back") => held.remove(&p),
            _ => false,
        };
    }
    held
}

/// Waits until a node holds all four partitions (the other died).
async fn holds_every_partition(log: &Log) {
    let start = Instant::now();
    while held(log).len() < 4 {
        assert!(start.elapsed() < Duration::from_secs(20), "{:?}", held(log));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Device tokens of the two halls of [`TWO_HALLS`].
fn hall_tokens(db: &str) -> [(&'static str, String); 2] {
    ["h1", "h2"].map(|hall| {
        let token = peakend(db, &["token", "create", "--hall", hall]);
        (hall, token.trim().to_owned())
    })
}

/// Waits until the two nodes hold two of the four partitions each: the first node
/// takes all four alone and gives two back within a second or two of the second's
/// start.
async fn shared_out(log_a: &Log, log_b: &Log) {
    let start = Instant::now();
    while !(held(log_a).len() == 2 && held(log_b).len() == 2) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?} {:?}",
            held(log_a),
            held(log_b)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The cases a node escalated, from the `n`-th line of its log on: (case, hall) and
/// how many times.
fn escalated(log: &Log, from: usize) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for l in log.lock().unwrap().iter().skip(from) {
        if l.contains("case escalated")
            && let (Some(case), Some(hall)) = (field(l, "case"), field(l, "hall"))
        {
            *out.entry((case.to_owned(), hall.to_owned())).or_default() += 1;
        }
    }
    out
}

fn halls_of(e: &BTreeMap<(String, String), usize>) -> BTreeSet<String> {
    e.keys().map(|(_, h)| h.clone()).collect()
}

/// Waits until no case has a running deadline (all escalated to the top).
async fn all_at_the_top(db: &str, cases: i64) {
    let start = Instant::now();
    loop {
        let (n, running) = (
            peakend_testkit::fetch_i64(db, "SELECT COUNT(*) FROM service_case").await,
            peakend_testkit::fetch_i64(
                db,
                "SELECT COUNT(*) FROM service_case WHERE due_at IS NOT NULL",
            )
            .await,
        );
        if n == cases && running == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{running} of {n} cases still escalating"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Issue 24's sweeps: each node escalates the overdue cases of the halls of its own
/// partitions, the two together all of them, each step once; after one node is
/// killed the other escalates the rest. The nodes sweep every second here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_sweeps_its_partitions_halls_and_the_survivor_all() {
    let _alone = ALONE.lock().await;
    let halls: Vec<String> = (1..=8).map(|i| format!("h{i}")).collect();
    let mut org = String::from(
        "id,parent,level,name,counters\np,,province,省,\nc,p,city,市,\nd,c,district,区,\n",
    );
    for h in &halls {
        org.push_str(&format!("{h},d,hall,{h}厅,2\n"));
    }
    let Some((pg, dir, prefix)) = cluster_db(&org).await else {
        return;
    };
    let db = pg.url.as_str();
    let every = ["--sweep-every-secs", "1"];
    let (a, _, log_a) = node_with(db, NATS, &prefix, &every);
    let (mut b, _, log_b) = node_with(db, NATS, &prefix, &every);
    shared_out(&log_a, &log_b).await;
    let (held_a, held_b) = (held(&log_a), held(&log_b));
    let halls_in = |held: &BTreeSet<u32>| -> BTreeSet<String> {
        halls
            .iter()
            .filter(|h| held.contains(&peakend_store::SweepHalls::partition(h, 4)))
            .cloned()
            .collect()
    };
    assert!(held_a.is_disjoint(&held_b));

    // A case a hall, opened ten days ago: each escalates hall → district → city →
    // province → the top, a step a sweep.
    let opened = (chrono::Utc::now() - chrono::Duration::days(10))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    let import = |round: &str| {
        let mut csv = String::from("hall,opened_at,moment,summary\n");
        for h in &halls {
            csv.push_str(&format!("{h},{opened},dispute,{round}{h}\n"));
        }
        let file = dir.path().join(format!("{round}.csv"));
        std::fs::write(&file, csv).unwrap();
        peakend(db, &["case", "import", file.to_str().unwrap()]);
    };
    import("first");
    all_at_the_top(db, 8).await;
    let steps = |db: &str| {
        let db = db.to_owned();
        async move {
            peakend_testkit::fetch_i64(
                &db,
                "SELECT COUNT(*) FROM case_event WHERE kind = 'escalated'",
            )
            .await
        }
    };
    assert_eq!(steps(db).await, 8 * 4);
    let (by_a, by_b) = (escalated(&log_a, 0), escalated(&log_b, 0));
    // Each node its own halls, every one of them, and none of the other's.
    assert_eq!(halls_of(&by_a), halls_in(&held_a), "{by_a:?}");
    assert_eq!(halls_of(&by_b), halls_in(&held_b), "{by_b:?}");
    assert!(halls_of(&by_a).is_disjoint(&halls_of(&by_b)));
    // Each step of each case by one node: as many as the database recorded.
    let logged: usize = by_a.values().chain(by_b.values()).sum();
    assert_eq!(logged, 8 * 4, "{by_a:?} {by_b:?}");
    assert!(by_a.values().chain(by_b.values()).all(|n| *n == 4));

    // Node B dies: node A takes its partitions and sweeps all the halls.
    b.0.kill().unwrap();
    b.0.wait().unwrap();
    holds_every_partition(&log_a).await;
    let seen = log_a.lock().unwrap().len();
    import("second");
    all_at_the_top(db, 16).await;
    assert_eq!(steps(db).await, 16 * 4);
    let after = escalated(&log_a, seen);
    assert_eq!(
        halls_of(&after),
        halls.iter().cloned().collect(),
        "{after:?}"
    );
    assert_eq!(after.values().sum::<usize>(), 8 * 4);
    drop(a);
    forget_stream(&prefix).await;
}

/// The start refuses what cannot work, with the reason: several nodes need PostgreSQL,
/// and a NATS that cannot be reached is said so (not a silent single node).
#[test]
fn a_node_without_postgres_or_nats_does_not_start() {
    let run = |db: &str, nats: &str| {
        let out = Command::new(assert_cmd::cargo::cargo_bin("peakend"))
            .args(["--db", db, "serve", "--addr", "127.0.0.1:0", "--nats", nats])
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let sqlite = peakend_testkit::sqlite();
    let err = run(&sqlite.url, NATS);
    assert!(
        err.contains("several nodes share one PostgreSQL database"),
        "{err}"
    );
    if peakend_testkit::postgres_skipped() {
        return;
    }
    let pg = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(peakend_testkit::postgres());
    let err = run(&pg.url, "nats://127.0.0.1:1");
    assert!(
        err.contains("NATS at nats://127.0.0.1:1 cannot be reached"),
        "{err}"
    );
}

/// Two halls of one district, the organisation of the NATS stories.
const TWO_HALLS: &str = "id,parent,level,name,counters\np,,province,省,\nc,p,city,市,\nd,c,district,区,\nh1,d,hall,一厅,2\nh2,d,hall,二厅,2\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A NATS server of the test's own, so it can be killed and started again without
/// touching the machine's: JetStream on 127.0.0.1, its store in a directory that
/// outlives a kill. A server of a cluster gets the flags deploy/compose.yaml gives each
/// of its three (`--cluster_name`, `--cluster`, `--routes`).
struct NatsServer {
    name: String,
    port: u16,
    /// Its own cluster port and those of the others.
    cluster: Option<(u16, Vec<u16>)>,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    fn new(name: &str, port: u16, cluster: Option<(u16, Vec<u16>)>) -> Self {
        NatsServer {
            name: name.to_owned(),
            port,
            cluster,
            store: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let port = self.port.to_string();
        let mut cmd = Command::new("nats-server");
        cmd.args(["-js", "-sd"]).arg(self.store.path()).args([
            "--server_name",
            &self.name,
            "-a",
            "127.0.0.1",
            "-p",
            &port,
        ]);
        if let Some((own, others)) = &self.cluster {
            let routes: Vec<String> = others
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            cmd.args(["--cluster_name", "peakend", "--cluster"])
                .arg(format!("nats://127.0.0.1:{own}"))
                .args(["--routes", &routes.join(",")]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian's package nats-server) runs the tests' own servers");
        self.child = Some(child);
    }

    /// SIGKILL: no goodbye to its clients or its cluster.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until JetStream at `urls` can hold a stream of `replicas` copies (a cluster
/// elects its leaders first), by making one and deleting it.
async fn jetstream_ready(urls: &str, replicas: usize) -> async_nats::jetstream::Context {
    let start = Instant::now();
    let servers: Vec<&str> = urls.split(',').collect();
    loop {
        if let Ok(client) = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(1))
            .connect(servers.as_slice())
            .await
        {
            let js = async_nats::jetstream::new(client);
            let probe = async_nats::jetstream::stream::Config {
                name: "READY".into(),
                subjects: vec!["ready".into()],
                num_replicas: replicas,
                ..Default::default()
            };
            if js.get_or_create_stream(probe).await.is_ok()
                && js.delete_stream("READY").await.is_ok()
            {
                return js;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "JetStream at {urls} never became ready for {replicas} replicas"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Sends a batch as a device does until it is stored (202), waiting as each 503's
/// `Retry-After` says; how many 503s came first. Any other answer fails the test.
async fn send_until_stored(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    lines: &[String],
) -> usize {
    let start = Instant::now();
    let mut unavailable = 0;
    loop {
        let r = http
            .post(format!("{url}/api/v1/events"))
            .bearer_auth(token)
            .body(lines.join("\n"))
            .send()
            .await
            .unwrap();
        match r.status() {
            reqwest::StatusCode::ACCEPTED => return unavailable,
            reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                let wait: u64 = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .expect("a 503 says when to send again")
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                unavailable += 1;
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "not stored in a minute"
                );
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            s => panic!("{s}: {}", r.text().await.unwrap()),
        }
    }
}

/// The KPIs of `lines` replayed by one node into a database of its own.
fn replayed_kpis(dir: &std::path::Path, lines: &[String]) -> Value {
    let replay = peakend_testkit::sqlite();
    peakend(&replay.url, &["init"]);
    let org = dir.join("org.csv");
    peakend(&replay.url, &["org", "import", org.to_str().unwrap()]);
    let file = dir.join("replayed.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    peakend(&replay.url, &["events", "ingest", file.to_str().unwrap()]);
    kpis(&replay.url)
}

/// deploy/compose.yaml's NATS run as processes instead of containers: three servers in
/// one cluster with the compose file's flags, and two nodes given all three
/// (`--nats a,b,c --nats-replicas 3`). The stream's leader killed with SIGKILL during
/// ingest: devices told 503 meanwhile were told when to send again and then stored, and
/// every batch either node acknowledged is applied, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_server_nats_cluster_loses_no_acknowledged_batch_when_its_leader_dies() {
    let _alone = ALONE.lock().await;
    let Some((pg, dir, prefix)) = cluster_db(TWO_HALLS).await else {
        return;
    };
    let db = pg.url.as_str();
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut nats: Vec<NatsServer> = (0..3)
        .map(|i| {
            let others = (0..3).filter(|&j| j != i).map(|j| ports[j].1).collect();
            NatsServer::new(
                &format!("n{}", i + 1),
                ports[i].0,
                Some((ports[i].1, others)),
            )
        })
        .collect();
    nats.iter_mut().for_each(NatsServer::start);
    let urls = nats
        .iter()
        .map(NatsServer::url)
        .collect::<Vec<_>>()
        .join(",");
    let js = jetstream_ready(&urls, 3).await;
    let (_a, url_a, log_a) = node_with(db, &urls, &prefix, &["--nats-replicas", "3"]);
    let (_b, url_b, log_b) = node_with(db, &urls, &prefix, &["--nats-replicas", "3"]);
    shared_out(&log_a, &log_b).await;
    let mut stream = js.get_stream(stream_of(&prefix)).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.num_replicas, 3);
    // A batch leaves the stream once applied.
    assert_eq!(
        info.config.retention,
        async_nats::jetstream::stream::RetentionPolicy::WorkQueue
    );
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .unwrap();

    let tokens = hall_tokens(db);
    let mut batches: Vec<(&str, Vec<String>)> = Vec::new();
    for hall in ["h1", "h2"] {
        batches.extend(morning(hall, 0, 60).chunks(5).map(|c| (hall, c.to_vec())));
    }
    shuffle(&mut batches, 26);
    let http = reqwest::Client::new();
    let (half, mut all, mut unavailable) = (batches.len() / 2, Vec::new(), 0);
    for (i, (hall, lines)) in batches.into_iter().enumerate() {
        if i == half {
            nats.iter_mut()
                .find(|n| n.name == leader)
                .expect("the leader is one of the three")
                .kill();
        }
        let url = if i % 2 == 0 { &url_a } else { &url_b };
        let token = &tokens.iter().find(|t| t.0 == hall).unwrap().1;
        unavailable += send_until_stored(&http, url, token, &lines).await;
        all.extend(lines);
    }
    eprintln!("503s while the leader was elected again: {unavailable}");
    wait_for(db, all.len() as i64).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stored(db).await, all.len() as i64, "a batch applied twice");
    let one = replayed_kpis(dir.path(), &all);
    assert_eq!(kpis(db)["total"], one["total"]);
    assert_eq!(one["total"]["care_alerts"], 18, "{one}");
    // On every copy: the stream's new leader removed the applied batches too.
    drained(&urls, &prefix).await;
}

/// NATS lost while the nodes run: a device is answered 503 with `Retry-After` and
/// nothing is stored; a node dies meanwhile and the other takes its partitions without
/// NATS; NATS back (the same server, its store kept): with no node restarted, the
/// batches sent again are stored, and every acknowledged batch is applied, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_lost_while_running_answers_503_and_recovers_without_a_restart() {
    let _alone = ALONE.lock().await;
    let Some((pg, dir, prefix)) = cluster_db(TWO_HALLS).await else {
        return;
    };
    let db = pg.url.as_str();
    let mut server = NatsServer::new("solo", free_port(), None);
    server.start();
    jetstream_ready(&server.url(), 1).await;
    let (a, url_a, log_a) = node_with(db, &server.url(), &prefix, &[]);
    let (b, url_b, log_b) = node_with(db, &server.url(), &prefix, &[]);
    shared_out(&log_a, &log_b).await;
    let tokens = hall_tokens(db);
    let http = reqwest::Client::new();
    let mut all = Vec::new();
    for (hall, token) in &tokens {
        let lines = morning(hall, 0, 10);
        assert_eq!(send_until_stored(&http, &url_a, token, &lines).await, 0);
        all.extend(lines);
    }
    wait_for(db, all.len() as i64).await;

    server.kill();
    let later: Vec<(&str, Vec<String>)> = tokens
        .iter()
        .map(|(hall, _)| (*hall, morning(hall, 10, 10)))
        .collect();
    let r = http
        .post(format!("{url_a}/api/v1/events"))
        .bearer_auth(&tokens[0].1)
        .body(later[0].1.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));

    // The node holding h1's partition dies while NATS is away; the other takes every
    // partition, though it cannot reach NATS to read them yet.
    let p1 = peakend_store::SweepHalls::partition("h1", 4);
    let ((dead, _), (_alive, url, log)) = if held(&log_a).contains(&p1) {
        ((a, log_a), (b, url_b, log_b))
    } else {
        ((b, log_b), (a, url_a, log_a))
    };
    drop(dead);
    holds_every_partition(&log).await;
    assert_eq!(stored(db).await, all.len() as i64, "stored without NATS");
    // Away longer than a JetStream request waits (5 s), so the survivor's first asks
    // for the consumers of the partitions it took fail.
    tokio::time::sleep(Duration::from_secs(7)).await;

    server.start();
    for (hall, lines) in later {
        let token = &tokens.iter().find(|t| t.0 == hall).unwrap().1;
        send_until_stored(&http, &url, token, &lines).await;
        all.extend(lines);
    }
    wait_for(db, all.len() as i64).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stored(db).await, all.len() as i64, "a batch applied twice");
    assert_eq!(kpis(db)["total"], replayed_kpis(dir.path(), &all)["total"]);
}
