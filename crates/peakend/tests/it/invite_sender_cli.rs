//! `peakend serve --invite-sender …` refuses a sender it cannot work with in one line
//! naming the option, exit 1, before the database is touched.

use assert_cmd::Command;

/// Runs `peakend --db <fresh file> ARGS`; returns (success, stderr, whether the
/// database file was created).
fn run(args: &[&str]) -> (bool, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("peakend.db");
    let out = Command::cargo_bin("peakend")
        .unwrap()
        .env_remove("PEAKEND_INVITE_WEBHOOK_SECRET")
        .arg("--db")
        .arg(&db)
        .args(args)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stderr).unwrap(),
        db.exists(),
    )
}

fn fails_with(args: &[&str], reason: &str) {
    let (ok, stderr, created) = run(args);
    assert!(!ok, "{args:?} should fail");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(stderr.trim_end(), format!("peakend: error: {reason}"));
    assert!(!created, "{args:?}: the database was touched");
}

#[test]
fn a_sender_without_its_settings_is_refused_in_one_line() {
    let serve = |more: &[&str]| {
        let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
        args.extend_from_slice(more);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let call = |v: Vec<String>, reason: &str| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        fails_with(&refs, reason);
    };
    call(
        serve(&["--invite-sender", "webhook"]),
        "--invite-sender webhook needs --invite-webhook-url URL",
    );
    call(
        serve(&[
            "--invite-sender",
            "webhook",
            "--invite-webhook-url",
            "http://127.0.0.1:9/sms",
        ]),
        "--invite-sender webhook needs --invite-webhook-secret S (or PEAKEND_INVITE_WEBHOOK_SECRET)",
    );
    call(
        serve(&[
            "--invite-sender",
            "webhook",
            "--invite-webhook-url",
            "https://sms.example.net/send",
            "--invite-webhook-secret",
            "s3cret",
        ]),
        "--invite-webhook-url `https://sms.example.net/send`: https is not built in; reach the \
         gateway through a local TLS-terminating proxy (http://…)",
    );
    call(
        serve(&[
            "--invite-sender",
            "smtp",
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--invite-mail-from",
            "cx@hall.example.net",
        ]),
        "--invite-sender smtp needs --invite-mail-to TEMPLATE (e.g. {customer}@sms-gw.example.net)",
    );
    call(
        serve(&[
            "--invite-sender",
            "smtp",
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--invite-mail-from",
            "cx@hall.example.net",
            "--invite-mail-to",
            "sms@sms-gw.example.net",
        ]),
        "--invite-mail-to `sms@sms-gw.example.net`: must contain {customer} (e.g. {customer}@sms-gw.example.net)",
    );
    call(
        serve(&["--invite-link-base", "cx.example.net"]),
        "--invite-link-base `cx.example.net`: not a URL (relative URL without a base)",
    );
    // The demo takes the same options (and keeps `log` unless told).
    fails_with(
        &["demo", "--no-serve", "--invite-sender", "webhook"],
        "--invite-sender webhook needs --invite-webhook-url URL",
    );
}
