//! Fresh databases for tests. Every test gets its own: a SQLite file in a temp
//! directory, or a new PostgreSQL database created on the server named by
//! `PEAKEND_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! PostgreSQL tests fail, rather than skip, when the server is unreachable, so a
//! green run always means both backends were exercised. Set `PEAKEND_TEST_SKIP_POSTGRES=1`
//! to skip them deliberately on a machine without PostgreSQL.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that lives as long as this value: the SQLite temp dir is removed and
/// the PostgreSQL database dropped when it goes out of scope.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; use a
        // private one on its own thread. FORCE closes pool connections still open.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url()).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("peakend.db").display());
    TestDb {
        url,
        _dir: Some(dir),
        pg_name: None,
    }
}

pub fn postgres_skipped() -> bool {
    std::env::var("PEAKEND_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

fn admin_url() -> String {
    std::env::var("PEAKEND_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Creates a new, empty PostgreSQL database and returns its URL.
pub async fn postgres() -> TestDb {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL tests need a server at {admin} ({e}); set PEAKEND_TEST_SKIP_POSTGRES=1 to skip them")
    });
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!(
        "peakend_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    TestDb {
        url: format!("{base}/{name}"),
        _dir: None,
        pg_name: Some(name),
    }
}

/// Both backends, for suites that run the same story against each.
pub async fn each_backend() -> Vec<(&'static str, TestDb)> {
    let mut dbs = vec![("sqlite", sqlite())];
    if !postgres_skipped() {
        dbs.push(("postgres", postgres().await));
    }
    dbs
}

/// Drops test databases left by earlier runs (called by .ci/run before the suite).
pub async fn drop_stale_databases() -> Result<usize, sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await?;
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'peakend_test_%'")
            .fetch_all(&mut conn)
            .await?;
    for (name,) in &names {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
    }
    Ok(names.len())
}

/// Declares `mod $name { fn sqlite(); fn postgres(); }`: the same story, run as two
/// tests, each against a fresh database whose URL is bound to `$url`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, |$url:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($url: &str) $body

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::sqlite();
                run(&db.url).await;
            }

            #[tokio::test]
            async fn postgres() {
                if $crate::postgres_skipped() {
                    return;
                }
                let db = $crate::postgres().await;
                run(&db.url).await;
            }
        }
    };
}

/// Runs one SQL statement on a test database behind the store's back, e.g. to age
/// data the way an older version of peakend would have left it.
pub async fn execute(url: &str, sql: &str) {
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(sql).execute(&mut conn).await.expect("execute");
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(sql).execute(&mut conn).await.expect("execute");
    }
}

/// Reads one integer (a `SELECT COUNT(*) …`) from a test database behind the store's
/// back, to see what no store method shows (e.g. that a token is gone).
pub async fn fetch_i64(url: &str, sql: &str) -> i64 {
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect("query")
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect("query")
    }
}

/// Asserts two JSON documents are equal but for floating-point rounding (relative
/// 1e-9): analyses merged in a different order agree to that, not to the last bit.
pub fn assert_json_near(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
    use serde_json::Value::{Array, Number, Object};
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                "{path}: {x} vs {y}"
            );
        }
        (Array(x), Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_json_near(x, y, &format!("{path}[{i}]"));
            }
        }
        (Object(x), Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (k, v) in x {
                assert_json_near(v, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// An org node for a test: named `{id}厅`, a hall with `counters` counters and
/// `kiosks` kiosks (other levels none), no time zone of its own. Tests that need
/// another name or zone change the field.
pub fn org_node(
    id: &str,
    parent: Option<&str>,
    level: peakend_core::OrgLevel,
    counters: u32,
    kiosks: u32,
) -> peakend_core::OrgNode {
    use peakend_core::{OrgLevel, OrgNode, OrgNodeId};
    let hall = level == OrgLevel::Hall;
    OrgNode {
        id: OrgNodeId::parse(id).unwrap(),
        parent: parent.map(|p| OrgNodeId::parse(p).unwrap()),
        level,
        name: format!("{id}厅"),
        counters: if hall { counters } else { 0 },
        kiosks: if hall { kiosks } else { 0 },
        tz: None,
        targets: Default::default(),
    }
}

/// The small organisation the HTTP stories share: province `p` (示范省), city `c`,
/// district `d`, and the given halls under `d` as (id, name), each with 6 counters and
/// 2 kiosks.
pub fn small_org(halls: &[(&str, &str)]) -> Vec<peakend_core::OrgNode> {
    use peakend_core::{OrgLevel, OrgNode};
    let node = |id: &str, parent: Option<&str>, level, name: &str| OrgNode {
        name: name.into(),
        ..org_node(id, parent, level, 6, 2)
    };
    let mut nodes = vec![
        node("p", None, OrgLevel::Province, "示范省"),
        node("c", Some("p"), OrgLevel::City, "东江市"),
        node("d", Some("c"), OrgLevel::District, "城区"),
    ];
    nodes.extend(
        halls
            .iter()
            .map(|(id, name)| node(id, Some("d"), OrgLevel::Hall, name)),
    );
    nodes
}

/// Device event lines as an ingest batch: (line number from 1, the event, its text).
pub fn event_batch(lines: &[&str]) -> Vec<(usize, peakend_core::ops::event::Event, String)> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let e = peakend_core::ops::event::Event::from_json(l)
                .unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1));
            (i + 1, e, l.to_string())
        })
        .collect()
}
