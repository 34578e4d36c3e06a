//! Issue 22's invitation senders: invitations decided in the store leave through the
//! minute sweep's [`send_invitations`] to an SMS gateway's webhook (signed, the link and
//! the opt-out link in the JSON), stay due with their reason when the gateway fails or
//! is down, and lose their token once delivered; the SMTP sender mails an
//! email-to-SMS gateway at the address made from the customer's salted key. The
//! gateways are fakes on this machine (port 0).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use peakend_core::invitation::InviteRule;
use peakend_core::{HallId, OrgNodeId};
use peakend_http::AppState;
use peakend_http::case_worker::send_invitations;
use peakend_http::invite_sender::{
    InviteMessage, InviteSender, Invites, SenderConfig, SmtpSender, WebhookSender,
};
use peakend_store::{EndedContact, InvitationStore, Outgoing, SqlStore, Store};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const SECRET: &str = "gateway-secret-0001";

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

fn key(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// Hall h1 (人民路营业厅) under a province whose rule invites every contact, and `n`
/// visits that ended at 10:00, decided at 10:01.
async fn decided(url: &str, n: u8) -> (SqlStore, i64) {
    let store = peakend_store::connect(url).await.unwrap();
    store
        .import_org(peakend_testkit::small_org(&[("h1", "人民路营业厅")]))
        .await
        .unwrap();
    let rule = InviteRule {
        share: 1.0,
        quiet: None,
        ..InviteRule::default()
    };
    store
        .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
        .await
        .unwrap();
    let contacts: Vec<EndedContact> = (1..=n)
        .map(|i| EndedContact {
            hall: HallId::parse("h1").unwrap(),
            id: format!("h1/2026-08-07/A{i}"),
            channel: "hall".into(),
            customer: Some(key(i)),
            segment: "个人".into(),
            purpose: "bill".into(),
            staff: Some("S01".into()),
            counter: Some("3".into()),
            wait_s: Some(600),
            outcome: Some("done".into()),
            ended_at: ms("2026-08-07T10:00:00+08:00"),
        })
        .collect();
    let now = ms("2026-08-07T10:01:00+08:00");
    let d = store.decide_invitations(&contacts, now).await.unwrap();
    assert_eq!(d.sent, usize::from(n));
    (store, now)
}

fn state(store: &SqlStore, sender: Arc<dyn InviteSender>) -> AppState {
    let mut state = AppState::new(Arc::new(store.clone()));
    state.cases.workers = false;
    state.invites = Invites {
        sender,
        link_base: "https://cx.example.net".into(),
    };
    state
}

type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// A gateway on port 0 that answers `status` (changeable) and records each request's
/// event header, body and whether its signature checks.
async fn gateway(status: Arc<AtomicU16>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (seen, status) = (s.clone(), status.clone());
            async move {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(body.as_bytes());
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let valid = headers["x-peakend-signature"].to_str().unwrap()
                    == format!("sha256={hex}")
                    && headers["content-type"] == "application/json";
                let event = headers["x-peakend-event"].to_str().unwrap().to_owned();
                seen.lock().unwrap().push((event, body, valid));
                axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

peakend_testkit::on_both_backends!(
    invitations_leave_signed_through_the_webhook_and_a_failing_gateway_keeps_them_due,
    |url| {
        let (store, now) = decided(url, 2).await;
        let status = Arc::new(AtomicU16::new(500));
        let (hook, seen) = gateway(status.clone()).await;
        let sender = SenderConfig::Webhook {
            url: hook,
            secret: SECRET.into(),
        }
        .build()
        .unwrap();
        assert_eq!(sender.name(), "webhook");
        let state = state(&store, sender);

        // The gateway answers 500: both stay in the outbox, due again 10 s later, with
        // one attempt and the reason.
        let run = send_invitations(&state, now).await;
        assert_eq!((run.sent, run.failed, run.waiting), (0, 2, 0));
        assert!(store.sweep_invitations(now).await.unwrap().is_empty());
        let retry = now + 10_000;
        let due = store.sweep_invitations(retry).await.unwrap();
        assert_eq!(due.len(), 2);
        for o in &due {
            assert_eq!(o.attempts, 1);
            assert_eq!(o.last_error.as_deref(), Some("HTTP 500"));
            assert_eq!(
                o.token
                    .split_once('.')
                    .map(|(id, v)| (id.to_owned(), v.len())),
                Some((o.invitation_id.to_string(), 64)),
                "the token ({{id}}.{{verifier}}) stays until delivered"
            );
        }
        let tokens: Vec<String> = due.iter().map(|o| o.token.clone()).collect();

        // It recovers: the next run delivers both, signed, and their tokens go.
        status.store(204, Ordering::SeqCst);
        let run = send_invitations(&state, retry).await;
        assert_eq!((run.sent, run.failed, run.waiting), (2, 0, 0));
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), 4, "two failed, two delivered");
        assert!(
            got.iter()
                .all(|(event, _, valid)| event == "survey.invitation" && *valid)
        );
        let mut bodies: Vec<Value> = got[2..]
            .iter()
            .map(|(_, b, _)| serde_json::from_str(b).unwrap())
            .collect();
        bodies.sort_by_key(|b| b["invitation"].as_i64());
        let first = &bodies[0];
        let link = format!("https://cx.example.net/i/{}", tokens[0]);
        assert_eq!(first["link"], link.as_str());
        assert_eq!(first["optout_link"], format!("{link}/optout").as_str());
        assert_eq!(first["kind"], "invite");
        assert_eq!(first["hall"], "h1");
        assert_eq!(first["hall_name"], "人民路营业厅");
        assert_eq!(first["customer"], key(1).as_str());
        assert_eq!(
            first["id"],
            format!("{}-invite", due[0].invitation_id).as_str()
        );
        assert_eq!(first["expires_at"], "2026-08-10T02:01:00Z");
        let zh = first["text_zh"].as_str().unwrap();
        assert!(
            zh.starts_with("【服务评价】感谢您到访人民路营业厅。"),
            "{zh}"
        );
        assert!(zh.contains(&link) && zh.contains("71小时内有效"), "{zh}");
        assert!(first["text_en"].as_str().unwrap().contains(&link));
        assert_eq!(bodies[1]["customer"], key(2).as_str());

        // Delivered: not sent again, the invitation entries' tokens are gone (only the
        // hash stays), and the reminders wait for their day.
        assert!(store.sweep_invitations(retry).await.unwrap().is_empty());
        assert_eq!(
            send_invitations(&state, retry).await,
            Default::default(),
            "nothing due"
        );
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM invite_outbox
                 WHERE kind = 'invite' AND token IS NULL AND sent_at IS NOT NULL"
            )
            .await,
            2
        );
        let list = store.invitations(None).await.unwrap();
        assert!(list.iter().all(|i| i.status == "sent"));
        let day_on = now + 24 * 3_600_000;
        let run = send_invitations(&state, day_on).await;
        assert_eq!(run.sent, 2);
        let got = seen.lock().unwrap().clone();
        let reminder: Value = serde_json::from_str(&got[4].1).unwrap();
        assert_eq!(reminder["kind"], "reminder");
        assert!(reminder["text_zh"].as_str().unwrap().contains("提醒"));
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM invite_outbox WHERE token IS NOT NULL"
            )
            .await,
            0,
            "no plain token left once all have left"
        );
    }
);

peakend_testkit::on_both_backends!(
    a_gateway_that_is_down_halts_the_run_and_the_rest_wait_untried,
    |url| {
        let (store, now) = decided(url, 12).await;
        // A port nothing listens on.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let sender = WebhookSender::new(&format!("http://{addr}/sms"), SECRET).unwrap();
        let state = state(&store, Arc::new(sender));
        let run = send_invitations(&state, now).await;
        assert!(run.halted, "{run:?}");
        assert_eq!(run.sent, 0);
        assert!(run.failed >= 3, "{run:?}");
        assert!(run.waiting >= 1, "{run:?}");
        assert_eq!(run.failed + run.waiting, 12);
        // The untried are still due now, no attempt counted; the failed after 10 s.
        let due = store.sweep_invitations(now).await.unwrap();
        assert_eq!(due.len(), run.waiting);
        assert!(due.iter().all(|o| o.attempts == 0));
        let later = store.sweep_invitations(now + 10_000).await.unwrap();
        assert_eq!(later.len(), 12);
        let failed: Vec<&Outgoing> = later.iter().filter(|o| o.attempts == 1).collect();
        assert_eq!(failed.len(), run.failed);
        assert!(
            failed
                .iter()
                .all(|o| o.last_error.as_deref() == Some("cannot connect"))
        );
    }
);

/// What a fake SMTP server saw of one session.
#[derive(Debug, Default, Clone)]
struct Mail {
    rcpt: Vec<String>,
    data: String,
}

/// A one-session SMTP server on port 0 (220/250/354/221), answering `rcpt_reply` to
/// RCPT TO.
async fn fake_smtp(rcpt_reply: &'static str) -> (String, tokio::task::JoinHandle<Mail>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut mail = Mail::default();
        write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        while let Some(line) = lines.next_line().await.unwrap() {
            let verb = line.to_ascii_uppercase();
            let reply: &str = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                "250 fake\r\n"
            } else if verb.starts_with("MAIL FROM") {
                "250 ok\r\n"
            } else if verb.starts_with("RCPT TO") {
                mail.rcpt.push(line.clone());
                rcpt_reply
            } else if verb == "DATA" {
                write.write_all(b"354 go on\r\n").await.unwrap();
                while let Some(l) = lines.next_line().await.unwrap() {
                    if l == "." {
                        break;
                    }
                    mail.data.push_str(&l);
                    mail.data.push('\n');
                }
                "250 queued\r\n"
            } else if verb == "QUIT" {
                write.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else if verb == "RSET" {
                "250 ok\r\n"
            } else {
                "500 what\r\n"
            };
            write.write_all(reply.as_bytes()).await.unwrap();
        }
        mail
    });
    (url, task)
}

/// Decodes standard base64 (the body lines joined).
fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn message() -> InviteMessage {
    let outgoing = Outgoing {
        outbox_id: 1,
        invitation_id: 5,
        hall: "h1".into(),
        hall_name: "人民路营业厅".into(),
        kind: "invite".into(),
        customer_key: Some(key(7)),
        token: "c".repeat(64),
        expires_at: Some(ms("2026-08-10T10:00:00+08:00")),
        attempts: 0,
        last_error: None,
    };
    InviteMessage::of(
        &outgoing,
        "http://127.0.0.1:8080",
        ms("2026-08-07T10:00:00+08:00"),
    )
}

#[tokio::test]
async fn the_smtp_sender_mails_the_gateway_address_of_the_salted_key() {
    let (url, server) = fake_smtp("250 ok\r\n").await;
    let sender =
        SmtpSender::new(&url, "cx@hall.example.net", "{customer}@sms-gw.example.net").unwrap();
    let m = message();
    sender.send(&m).await.unwrap();
    let mail = server.await.unwrap();
    assert_eq!(
        mail.rcpt,
        [format!("RCPT TO:<{}@sms-gw.example.net>", key(7))]
    );
    let (head, body) = mail.data.split_once("\n\n").unwrap();
    assert!(head.contains("From: cx@hall.example.net"), "{head}");
    assert!(head.contains("Content-Transfer-Encoding: base64"), "{head}");
    let text = String::from_utf8(base64(body)).unwrap();
    let link = format!("http://127.0.0.1:8080/i/{}", "c".repeat(64));
    assert!(
        text.starts_with("【服务评价】感谢您到访人民路营业厅。"),
        "{text}"
    );
    assert!(text.contains(&link), "{text}");
    assert!(text.contains(&format!("{link}/optout")), "{text}");
    assert!(text.contains("(valid for 72 hours)"), "{text}");
}

#[tokio::test]
async fn a_refused_recipient_or_a_closed_relay_is_a_failure_with_a_short_reason() {
    let (url, server) = fake_smtp("550 no such user\r\n").await;
    let sender =
        SmtpSender::new(&url, "cx@hall.example.net", "{customer}@sms-gw.example.net").unwrap();
    let err = sender.send(&message()).await.unwrap_err();
    assert_eq!(err.reason, "SMTP 550");
    assert!(!err.unreachable);
    server.abort();

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let sender = SmtpSender::new(
        &format!("smtp://{addr}"),
        "cx@hall.example.net",
        "{customer}@sms-gw.example.net",
    )
    .unwrap();
    let err = sender.send(&message()).await.unwrap_err();
    assert!(err.unreachable, "{err:?}");
    assert_eq!(err.reason, "cannot connect");
    // No key, no mail.
    let mut m = message();
    m.customer = None;
    assert_eq!(sender.send(&m).await.unwrap_err().reason, "no customer key");
}
