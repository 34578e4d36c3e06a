//! Post-contact survey invitations end to end (issue 22): a visit's events through the
//! API decide an invitation by the province's rule; its one-time link opens the short
//! form bound to the visit, and the answer is stored joined to the visit's wait, staff
//! and counter; the link then answers 410, as an expired one does; opting out stops
//! every later invitation and the pending reminder. On both backends.

use crate::helpers;
use helpers::nonce_of;

use chrono::DateTime;
use helpers::{Setup, TestApp};
use peakend_core::invitation::{InviteRule, parse_quiet};
use peakend_core::{HallId, JourneyKey, OrgNodeId};
use peakend_store::{EndedContact, InvitationStore, Store};
use reqwest::StatusCode;

fn ms(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
}

fn key(n: u32) -> String {
    peakend_core::customer::customer_key("story", &format!("1391234{n:04}"))
}

fn event(id: &str, hm: &str, kind: &str, fields: &str) -> String {
    format!(
        r#"{{"id":"{id}","hall":"h1","type":"{kind}","at":"2026-08-07T{hm}:00+08:00",{fields}}}"#
    )
}

/// A visit of `customer`: ticket at 09:10, called by staff S07 at counter 3 at 09:27
/// (17 minutes' wait), served until 09:35.
fn visit(ticket: &str, customer: &str) -> String {
    let c = |s: &str| format!("{ticket}-{s}");
    [
        event(
            &c("i"),
            "09:10",
            "ticket_issued",
            &format!(
                r#""ticket":"{ticket}","service":"缴费","segment":"全球通","customer":"{customer}""#
            ),
        ),
        event(
            &c("c"),
            "09:27",
            "called",
            &format!(r#""ticket":"{ticket}","counter":"3","staff":"S07""#),
        ),
        event(
            &c("s"),
            "09:27",
            "service_started",
            &format!(r#""ticket":"{ticket}","counter":"3","staff":"S07""#),
        ),
        event(
            &c("e"),
            "09:35",
            "service_ended",
            &format!(r#""ticket":"{ticket}","counter":"3","staff":"S07","outcome":"done""#),
        ),
    ]
    .join("\n")
}

/// Posts a batch as a device does, then drains the invitation queue as the server's
/// decider would a second later (the test servers run no background workers).
async fn post_events(app: &TestApp, token: &str, body: String) {
    let resp = reqwest::Client::new()
        .post(app.url("/api/v1/events"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    let d = app
        .store
        .decide_pending(ms("2026-08-07T10:00:01+08:00"), 1000)
        .await
        .unwrap();
    assert!(d.taken < 1000, "the queue is drained: {d:?}");
}

/// The token of invitation `id`'s first message due by `at` (what a sender gets).
async fn token_of(store: &impl Store, id: i64, at: i64) -> String {
    store
        .sweep_invitations(at)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.invitation_id == id && o.kind == "invite")
        .expect("the invitation is due")
        .token
}

peakend_testkit::on_both_backends!(
    an_answer_through_the_link_joins_its_visit_and_the_link_then_is_gone,
    |url| {
        let app = TestApp::spawn_with(
            url,
            Setup {
                clock: Some(peakend_http::live::Clock::accelerated(
                    DateTime::parse_from_rfc3339("2026-08-07T10:00:00+08:00").unwrap(),
                    1.0,
                )),
                ..Setup::default()
            },
        )
        .await;
        let store = &app.store;
        let rule = InviteRule {
            quiet: Some(parse_quiet("21:00-08:00").unwrap()),
            ..InviteRule::default()
        };
        store
            .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
            .await
            .unwrap();
        let (_, device) = app.device("h1").await;
        post_events(&app, &device, visit("A001", &key(1))).await;

        // One invitation, sent, with the visit's facts.
        let list = store.invitations(None).await.unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        let inv = &list[0];
        assert_eq!(inv.status, "sent");
        assert_eq!(inv.contact, "h1/2026-08-07/A001");
        assert_eq!(inv.customer_key.as_deref(), Some(key(1).as_str()));
        assert_eq!(
            (inv.wait_s, inv.staff.as_deref(), inv.counter.as_deref()),
            (Some(17 * 60), Some("S07"), Some("3"))
        );
        assert_eq!(inv.ended_at, Some(ms("2026-08-07T09:35:00+08:00")));
        // The same batch sent again decides nothing twice.
        post_events(&app, &device, visit("A001", &key(1))).await;
        assert_eq!(store.invitations(None).await.unwrap().len(), 1);

        let token = token_of(store, inv.id, ms("2026-08-07T10:05:00+08:00")).await;
        let link = app.url(&format!("/i/{token}"));
        let c = helpers::customer();
        // The short form, bound: the purpose is known, so no purpose page; moments asked.
        let resp = c.get(&link).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        assert!(html.contains(r#"name="sat."#), "{html}");
        assert!(html.contains(&format!(r#"action="/i/{token}"#)), "{html}");
        let nonce = nonce_of(&html);
        let answers = [
            ("nonce", nonce.as_str()),
            ("purpose", "缴费"),
            ("sat.queue", "6"),
            ("sat.leave", "9"),
            ("overall", "8"),
        ];
        let resp = c.post(&link).form(&answers).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            format!("/i/{token}/thanks")
        );
        let resp = c
            .get(app.url(&format!("/i/{token}/thanks")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // A hall's customer is pointed at its quiet hours for the next visit.
        assert!(resp.text().await.unwrap().contains(r#"id="busy-link""#));

        // Answered, joined: the response is the invitation's, with the customer's key,
        // the visit's date and segment; the invitation keeps the wait it joins to.
        let inv = store.invitations(None).await.unwrap().remove(0);
        assert_eq!(inv.status, "answered");
        let journey = store
            .journey(&JourneyKey::parse("service-hall").unwrap())
            .await
            .unwrap()
            .unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let responses = store
            .responses(
                &journey,
                Some(&[HallId::parse("h1").unwrap()]),
                Some(day),
                Some(day),
            )
            .await
            .unwrap();
        assert_eq!(responses.len(), 1);
        let r = &responses[0];
        assert_eq!(r.respondent, format!("inv-{}", inv.id));
        assert_eq!(r.customer.as_deref(), Some(key(1).as_str()));
        assert_eq!(r.segment, "全球通");
        let queue = journey
            .moments()
            .iter()
            .position(|m| m.key.as_str() == "queue")
            .unwrap();
        assert_eq!(r.ratings[queue].satisfaction, Some(6.0));
        assert_eq!(inv.wait_s, Some(17 * 60));

        // Used: the form and a second answer are 410 and store nothing more.
        let again = [("nonce", nonce.as_str()), ("overall", "2")];
        assert_eq!(
            c.post(&link).form(&again).send().await.unwrap().status(),
            StatusCode::GONE
        );
        assert_eq!(
            c.get(&link).send().await.unwrap().status(),
            StatusCode::GONE
        );
        let n = store
            .responses(
                &journey,
                Some(&[HallId::parse("h1").unwrap()]),
                Some(day),
                Some(day),
            )
            .await
            .unwrap()
            .len();
        assert_eq!(n, 1);
        // Unknown and malformed tokens are not found: the invitation's id with another
        // verifier too.
        for t in [
            "0".repeat(64),
            "nonsense".into(),
            format!("{}.{}", inv.id, "0".repeat(64)),
            format!("{}.{}", inv.id, "0".repeat(63)),
            format!("{}.{}", inv.id + 1, &token[token.len() - 64..]),
            format!("-{token}"),
        ] {
            let resp = c.get(app.url(&format!("/i/{t}"))).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        }

        // An invitation of four days ago has expired: its link is 410.
        let old = EndedContact {
            hall: HallId::parse("h1").unwrap(),
            id: "h1/2026-08-03/B009".into(),
            channel: "hall".into(),
            customer: Some(key(3)),
            segment: "神州行".into(),
            purpose: "缴费".into(),
            staff: None,
            counter: None,
            wait_s: Some(60),
            outcome: Some("done".into()),
            ended_at: ms("2026-08-03T11:00:00+08:00"),
        };
        store
            .decide_invitations(&[old], ms("2026-08-03T11:00:00+08:00"))
            .await
            .unwrap();
        let old_id = store
            .invitations(None)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.contact == "h1/2026-08-03/B009")
            .unwrap()
            .id;
        let old_token = token_of(store, old_id, ms("2026-08-03T11:01:00+08:00")).await;
        let resp = c
            .get(app.url(&format!("/i/{old_token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::GONE);
        let resp = c
            .post(app.url(&format!("/i/{old_token}")))
            .form(&[("overall", "9")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::GONE);
    }
);

peakend_testkit::on_both_backends!(
    opting_out_by_the_link_stops_the_reminder_and_every_later_invitation,
    |url| {
        let app = TestApp::spawn_with(
            url,
            Setup {
                clock: Some(peakend_http::live::Clock::accelerated(
                    DateTime::parse_from_rfc3339("2026-08-07T10:00:00+08:00").unwrap(),
                    1.0,
                )),
                ..Setup::default()
            },
        )
        .await;
        let store = &app.store;
        let rule = InviteRule {
            suppress_days: 0,
            quiet: None,
            ..InviteRule::default()
        };
        store
            .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
            .await
            .unwrap();
        let (_, device) = app.device("h1").await;
        post_events(&app, &device, visit("A002", &key(2))).await;
        let inv = store.invitations(None).await.unwrap().remove(0);
        let token = token_of(store, inv.id, ms("2026-08-07T10:05:00+08:00")).await;
        // The sender delivered the invitation; its reminder waits a day.
        let outbox = store
            .sweep_invitations(ms("2026-08-07T10:06:00+08:00"))
            .await
            .unwrap();
        let first = outbox.iter().find(|o| o.kind == "invite").unwrap();
        store
            .invitation_delivered(first.outbox_id, ms("2026-08-07T10:06:00+08:00"))
            .await
            .unwrap();

        let c = helpers::customer();
        let page = app.url(&format!("/i/{token}/optout"));
        // Opening the link opts nobody out (a link scanner may open it): it asks.
        let resp = c.get(&page).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.text().await.unwrap().contains("optout-confirm"));
        let resp = c.post(&page).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);

        // No reminder leaves a day later.
        let later = store
            .sweep_invitations(ms("2026-08-08T11:00:00+08:00"))
            .await
            .unwrap();
        assert!(later.iter().all(|o| o.invitation_id != inv.id), "{later:?}");
        // A later visit of theirs is suppressed as opted out, with no link.
        let next = visit("A003", &key(2)).replace("A003-", "A003x-");
        post_events(&app, &device, next).await;
        let list = store.invitations(None).await.unwrap();
        let second = list
            .iter()
            .find(|i| i.contact == "h1/2026-08-07/A003")
            .unwrap();
        assert_eq!(second.status, "suppressed");
        assert_eq!(second.reason.as_deref(), Some("opted out"));
    }
);

peakend_testkit::on_both_backends!(
    a_call_s_link_thanks_without_pointing_at_a_hall_s_busy_hours,
    |url| {
        let mut org = peakend_testkit::small_org(&[("h1", "人民路营业厅")]);
        org.push(peakend_core::OrgNode {
            name: "东江客服中心".into(),
            ..peakend_testkit::org_node("cc", Some("c"), peakend_core::OrgLevel::Centre, 0, 0)
        });
        let app = TestApp::spawn_with(
            url,
            Setup {
                org,
                clock: Some(peakend_http::live::Clock::accelerated(
                    DateTime::parse_from_rfc3339("2026-08-07T10:00:00+08:00").unwrap(),
                    1.0,
                )),
                ..Setup::default()
            },
        )
        .await;
        let store = &app.store;
        let rule = InviteRule {
            quiet: None,
            ..InviteRule::default()
        };
        store
            .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
            .await
            .unwrap();
        let call = EndedContact {
            hall: HallId::parse("cc").unwrap(),
            id: "cc/call/k1".into(),
            channel: "hotline".into(),
            customer: Some(key(9)),
            segment: "全球通".into(),
            purpose: "bill".into(),
            staff: Some("A01".into()),
            counter: None,
            wait_s: Some(12),
            outcome: Some("done".into()),
            ended_at: ms("2026-08-07T09:40:00+08:00"),
        };
        let at = ms("2026-08-07T09:41:00+08:00");
        let d = store.decide_invitations(&[call], at).await.unwrap();
        assert_eq!(d.sent, 1, "{d:?}");
        let id = store.invitations(None).await.unwrap()[0].id;
        let token = token_of(store, id, at).await;
        let resp = helpers::customer()
            .get(app.url(&format!("/i/{token}/thanks")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.text().await.unwrap();
        // A caller has no hall to come to: thanked, and asked to call again, not to visit.
        assert!(html.contains("东江客服中心"), "{html}");
        assert!(!html.contains("busy-link"), "{html}");
    }
);

// A link sent before the token named its invitation (64 hex digits, only their SHA-256
// in the row) still opens its form and takes its one answer; then it is gone.
peakend_testkit::on_both_backends!(a_link_sent_before_the_new_token_form_still_works, |url| {
    let app = TestApp::spawn_with(
        url,
        Setup {
            clock: Some(peakend_http::live::Clock::accelerated(
                DateTime::parse_from_rfc3339("2026-08-07T10:00:00+08:00").unwrap(),
                1.0,
            )),
            ..Setup::default()
        },
    )
    .await;
    let store = &app.store;
    store
        .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &InviteRule::default())
        .await
        .unwrap();
    let (_, device) = app.device("h1").await;
    post_events(&app, &device, visit("A005", &key(5))).await;
    let inv = store.invitations(None).await.unwrap().remove(0);
    assert_eq!(inv.status, "sent");
    let new = token_of(store, inv.id, ms("2026-08-07T10:05:00+08:00")).await;
    // As an older version stored it: the SHA-256 of the token, no verifier's hash.
    let old = "7".repeat(64);
    peakend_testkit::execute(
        url,
        &format!(
            "UPDATE invitation SET link_hash = NULL, token_hash =
               'c0b6304bd6ce9b3e65150392c91a3aa76803a59c29e46f9fb2b9aac235e58386'
             WHERE id = {}",
            inv.id
        ),
    )
    .await;
    let c = helpers::customer();
    assert_eq!(
        c.get(app.url(&format!("/i/{new}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let link = app.url(&format!("/i/{old}"));
    let resp = c.get(&link).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!(r#"action="/i/{old}"#)), "{html}");
    let nonce = nonce_of(&html);
    let answers = [
        ("nonce", nonce.as_str()),
        ("purpose", "缴费"),
        ("sat.queue", "6"),
        ("sat.leave", "9"),
        ("overall", "7"),
    ];
    let resp = c.post(&link).form(&answers).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(store.invitations(None).await.unwrap()[0].status, "answered");
    assert_eq!(
        c.get(&link).send().await.unwrap().status(),
        StatusCode::GONE
    );
});
