//! Issue 22's invitation stories, each on a fresh SQLite file and a fresh PostgreSQL
//! database: the nearest rule decides, a contact is sent, suppressed or held for quiet
//! hours in the hall's zone, each decision is stored once with its visit's facts, and
//! a sent or held one waits in the outbox.

use peakend_core::invitation::{InviteRule, parse_quiet};
use peakend_core::{HallId, OrgLevel, OrgNodeId};
use peakend_store::{EndedContact, InvitationStore, SqlStore, Store, StoreError, connect};

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    let node = |id, parent, level| peakend_testkit::org_node(id, parent, level, 6, 2);
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("d1", Some("c1"), OrgLevel::District),
            node("h1", Some("d1"), OrgLevel::Hall),
        ])
        .await
        .unwrap();
    store
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

fn visit(ticket: &str, customer: Option<&str>, at: &str) -> EndedContact {
    EndedContact {
        hall: HallId::parse("h1").unwrap(),
        id: format!("h1/2026-08-07/{ticket}"),
        channel: "hall".into(),
        customer: customer.map(str::to_owned),
        segment: "个人".into(),
        purpose: "bill".into(),
        staff: Some("S01".into()),
        counter: Some("3".into()),
        wait_s: Some(17 * 60),
        outcome: Some("done".into()),
        ended_at: ms(at),
    }
}

peakend_testkit::on_both_backends!(
    one_sent_one_suppressed_one_held_for_quiet_hours_each_stored_once,
    |url| {
        let store = ready(url).await;
        let province = OrgNodeId::parse("p").unwrap();
        // An unknown node and a share above 1 are refused.
        let err = store
            .set_invite_rule(
                &OrgNodeId::parse("nowhere").unwrap(),
                &InviteRule::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(ref m) if m.contains("nowhere")));
        let bad = InviteRule {
            share: 1.5,
            ..InviteRule::default()
        };
        assert!(matches!(
            store.set_invite_rule(&province, &bad).await,
            Err(StoreError::Invalid(_))
        ));
        // The province's rule (every contact sampled, 21:00–08:00 quiet) reaches h1.
        let rule = InviteRule {
            share: 1.0,
            quiet: Some(parse_quiet("21:00-08:00").unwrap()),
            ..InviteRule::default()
        };
        store.set_invite_rule(&province, &rule).await.unwrap();
        assert_eq!(store.invite_rules().await.unwrap(), vec![(province, rule)]);

        store.opt_out("k-opted", 0).await.unwrap();
        let contacts = vec![
            visit("A1", Some("k1"), "2026-08-07T10:00:00+08:00"),
            // The same customer again that afternoon: invited within 30 days.
            visit("A2", Some("k1"), "2026-08-07T15:00:00+08:00"),
            // 21:30 in the hall's zone (Asia/Shanghai): held to 08:00 the next day.
            visit("A3", Some("k3"), "2026-08-07T21:30:00+08:00"),
            visit("A4", None, "2026-08-07T11:00:00+08:00"),
            visit("A5", Some("k-opted"), "2026-08-07T11:00:00+08:00"),
        ];
        let now = ms("2026-08-07T22:00:00+08:00");
        let d = store.decide_invitations(&contacts, now).await.unwrap();
        assert_eq!((d.sent, d.held, d.suppressed, d.skipped), (1, 1, 3, 0));
        // A retry (a replay) decides nothing twice.
        let again = store.decide_invitations(&contacts, now).await.unwrap();
        assert_eq!(again.skipped, 5);

        let list = store.invitations(None).await.unwrap();
        assert_eq!(list.len(), 5);
        let of = |t: &str| {
            list.iter()
                .find(|i| i.contact.ends_with(t))
                .unwrap()
                .clone()
        };
        let a1 = of("A1");
        assert_eq!(a1.status, "sent");
        assert_eq!(a1.wait_s, Some(17 * 60));
        assert_eq!(a1.staff.as_deref(), Some("S01"));
        assert_eq!(
            a1.expires_at,
            Some(a1.send_at.unwrap() + 72 * 3_600_000),
            "72 hours to answer"
        );
        assert_eq!(of("A2").status, "suppressed");
        assert!(of("A2").reason.unwrap().contains("30 days"));
        let a3 = of("A3");
        assert_eq!(a3.status, "held");
        assert_eq!(a3.reason.as_deref(), Some("quiet_hours"));
        assert_eq!(a3.send_at, Some(ms("2026-08-08T08:00:00+08:00")));
        assert_eq!(of("A4").reason.as_deref(), Some("no_customer"));
        assert_eq!(of("A5").reason.as_deref(), Some("opted out"));

        // A later batch sees the stored invitation: k1 is still suppressed.
        let later = store
            .decide_invitations(
                &[visit("B1", Some("k1"), "2026-08-20T10:00:00+08:00")],
                ms("2026-08-20T10:01:00+08:00"),
            )
            .await
            .unwrap();
        assert_eq!(later.suppressed, 1);

        // The sweep at 22:00 hands out A1 (due at once), not A3 (held to 08:00).
        let due = store.sweep_invitations(now).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].invitation_id, due[0].kind.as_str()),
            (a1.id, "invite")
        );
        // The link's token names its invitation: `{id}.{64 hex digits}`.
        let (id, verifier) = due[0].token.split_once('.').unwrap();
        assert_eq!(id, a1.id.to_string());
        assert!(verifier.len() == 64 && verifier.bytes().all(|b| b.is_ascii_hexdigit()));
        store
            .invitation_delivered(due[0].outbox_id, now)
            .await
            .unwrap();
        assert!(
            store.sweep_invitations(now).await.unwrap().is_empty(),
            "sent once"
        );
        // 08:00: A3 leaves and becomes `sent`.
        let morning = ms("2026-08-08T08:00:00+08:00");
        let due = store.sweep_invitations(morning).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].invitation_id, a3.id);
        store
            .invitation_delivered(due[0].outbox_id, morning)
            .await
            .unwrap();
        // A day after A1 was sent (10:00, Friday): its one reminder.
        let due = store
            .sweep_invitations(ms("2026-08-08T22:00:00+08:00"))
            .await
            .unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].invitation_id, due[0].kind.as_str()),
            (a1.id, "reminder")
        );
        store
            .invitation_delivered(due[0].outbox_id, ms("2026-08-08T22:00:00+08:00"))
            .await
            .unwrap();
        // 72 hours on, unanswered: expired, and A3's reminder is not needed any more.
        let late = ms("2026-08-11T09:00:00+08:00");
        assert!(store.sweep_invitations(late).await.unwrap().is_empty());
        let list = store.invitations(None).await.unwrap();
        for t in ["A1", "A3"] {
            let i = list.iter().find(|i| i.contact.ends_with(t)).unwrap();
            assert_eq!(i.status, "expired", "{t}");
        }
    }
);

peakend_testkit::on_both_backends!(
    a_failed_send_waits_for_its_retry_keeps_its_token_and_gives_up_at_expiry,
    |url| {
        let store = ready(url).await;
        let rule = InviteRule {
            share: 1.0,
            quiet: None,
            ..InviteRule::default()
        };
        store
            .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
            .await
            .unwrap();
        let now = ms("2026-08-07T10:01:00+08:00");
        let d = store
            .decide_invitations(
                &[
                    visit("A1", Some("k1"), "2026-08-07T10:00:00+08:00"),
                    visit("A2", Some("k2"), "2026-08-07T10:00:00+08:00"),
                ],
                now,
            )
            .await
            .unwrap();
        assert_eq!(d.sent, 2);
        let due = store.sweep_invitations(now).await.unwrap();
        assert_eq!(due.len(), 2);
        let (a1, a2) = (due[0].clone(), due[1].clone());
        // What a sender needs: the hall's name, the link's expiry, no failures yet.
        assert_eq!(a1.hall_name, "h1厅");
        assert_eq!(a1.expires_at, Some(now + 72 * 3_600_000));
        assert_eq!((a1.attempts, a1.last_error.as_deref()), (0, None));
        assert_eq!(a1.kind, "invite");

        // A1's send fails: not due again before its retry, then due with the same
        // token, one attempt and the reason.
        let retry = now + 10_000;
        store
            .invitation_send_failed(a1.outbox_id, "HTTP 500", retry)
            .await
            .unwrap();
        store
            .invitation_send_failed(a2.outbox_id, "cannot connect", retry)
            .await
            .unwrap();
        assert!(store.sweep_invitations(retry - 1).await.unwrap().is_empty());
        let again = store.sweep_invitations(retry).await.unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].outbox_id, a1.outbox_id);
        assert_eq!(again[0].token, a1.token, "the token stays until delivered");
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));

        // A long reason is cut; the next retry is past the reminder's time, yet the
        // reminder waits until its invitation has left.
        let long = "x".repeat(1_000);
        let later = now + 25 * 3_600_000;
        store
            .invitation_send_failed(a1.outbox_id, &long, later)
            .await
            .unwrap();
        store
            .invitation_send_failed(a2.outbox_id, "cannot connect", later)
            .await
            .unwrap();
        let due = store.sweep_invitations(later).await.unwrap();
        assert_eq!(
            due.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(),
            ["invite", "invite"],
            "no reminder before its invitation"
        );
        assert_eq!(due[0].attempts, 2);
        assert_eq!(due[0].last_error.as_ref().map(String::len), Some(200));
        store
            .invitation_delivered(a1.outbox_id, later)
            .await
            .unwrap();
        // A failure reported after the delivery changes nothing.
        store
            .invitation_send_failed(a1.outbox_id, "late", later)
            .await
            .unwrap();
        let due = store.sweep_invitations(later).await.unwrap();
        let kinds: Vec<(i64, &str)> = due
            .iter()
            .map(|o| (o.invitation_id, o.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [(a1.invitation_id, "reminder"), (a2.invitation_id, "invite")]
        );

        // A2's sends keep failing until its link expires: then it is given up, never
        // sent with a dead link, and its reminder with it.
        store
            .invitation_send_failed(a2.outbox_id, "cannot connect", now + 80 * 3_600_000)
            .await
            .unwrap();
        let expired = now + 72 * 3_600_000;
        let due = store.sweep_invitations(expired).await.unwrap();
        assert!(
            due.iter().all(|o| o.invitation_id != a2.invitation_id),
            "{due:?}"
        );
        assert!(
            store
                .sweep_invitations(now + 90 * 3_600_000)
                .await
                .unwrap()
                .iter()
                .all(|o| o.invitation_id != a2.invitation_id),
            "not retried after expiry"
        );
        let list = store.invitations(None).await.unwrap();
        let a2_row = list.iter().find(|i| i.id == a2.invitation_id).unwrap();
        assert_eq!(a2_row.status, "expired");
    }
);

/// A small reproducible stream of numbers for the generated batches.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// `n` contacts of halls h1–h6 on `day` (August 2026, local 07:00–22:59), customers
/// drawn from 300 keys (every 40th contact without one), two segments and three
/// purposes; every 50th contact repeats an earlier one's id.
fn batch(day: u32, n: usize, seed: u64) -> Vec<EndedContact> {
    batch_in(8, day, n, seed)
}

/// [`batch`] in `month` of 2026.
fn batch_in(month: u32, day: u32, n: usize, seed: u64) -> Vec<EndedContact> {
    let mut r = Lcg(seed);
    let mut out: Vec<EndedContact> = Vec::with_capacity(n);
    for i in 0..n {
        if i % 50 == 49 {
            let again = out[r.next(out.len() as u64) as usize].clone();
            out.push(again);
            continue;
        }
        let hall = format!("h{}", 1 + r.next(6));
        let minute = 7 * 60 + r.next(16 * 60);
        let at = format!(
            "2026-{month:02}-{day:02}T{:02}:{:02}:00+08:00",
            minute / 60,
            minute % 60
        );
        out.push(EndedContact {
            channel: "hall".into(),
            hall: HallId::parse(&hall).unwrap(),
            id: format!("{hall}/2026-{month:02}-{day:02}/T{i}"),
            customer: (i % 40 != 7).then(|| format!("k{}", r.next(300))),
            segment: ["个人", "政企"][r.next(2) as usize].into(),
            purpose: ["bill", "plan", "repair"][r.next(3) as usize].into(),
            staff: Some(format!("S{}", r.next(9))),
            counter: None,
            wait_s: Some(r.next(1800) as i64),
            outcome: Some("done".into()),
            ended_at: ms(&at),
        });
    }
    out
}

/// Decisions by contact id: (status, reason).
type Decisions = std::collections::BTreeMap<String, (String, Option<String>)>;

/// The decisions of `contacts` as the rules make them one contact at a time, from what
/// was stored before (`stored`: hall, contact, customer, segment, purpose, decided_at,
/// status): the reference the store's batch decisions must equal.
fn reference(
    tree: &peakend_core::OrgTree,
    rules: &std::collections::HashMap<OrgNodeId, InviteRule>,
    opted: &[&str],
    stored: &[peakend_store::Invitation],
    contacts: &[EndedContact],
) -> Decisions {
    use peakend_core::invitation::{Decision, Ended, Programme};
    let rule_node = |hall: &HallId| {
        tree.ancestry(&OrgNodeId::parse(hall.as_str()).unwrap())
            .into_iter()
            .find(|n| rules.contains_key(&n.id))
            .map(|n| n.id.clone())
    };
    let longest = rules.values().map(|r| r.suppress_days).max().unwrap_or(0);
    let earliest = contacts.iter().map(|c| c.ended_at).min().unwrap();
    let since = earliest - i64::from(longest.max(8)) * 86_400_000;
    let past: Vec<&peakend_store::Invitation> = stored
        .iter()
        .filter(|i| i.decided_at >= since && i.status != "suppressed")
        .collect();
    let mut programmes: std::collections::HashMap<OrgNodeId, Programme> = rules
        .keys()
        .map(|n| {
            let mut p = Programme::new();
            opted.iter().for_each(|c| p.opt_out(c));
            for i in &past {
                if let Some(c) = &i.customer_key {
                    p.invited(c, i.decided_at);
                }
            }
            (n.clone(), p)
        })
        .collect();
    for i in &past {
        let hall = HallId::parse(&i.hall).unwrap();
        if let Some(node) = rule_node(&hall) {
            let local = tree.zone_of_hall(&hall).local(i.decided_at).unwrap();
            programmes
                .get_mut(&node)
                .unwrap()
                .counted(&i.segment, &i.purpose, local, 1);
        }
    }
    let mut decided: std::collections::HashSet<String> =
        stored.iter().map(|i| i.contact.clone()).collect();
    let mut out = std::collections::BTreeMap::new();
    for c in contacts {
        let Some(node) = rule_node(&c.hall) else {
            continue;
        };
        if decided.contains(&c.id) {
            continue;
        }
        let ended = Ended {
            id: c.id.clone(),
            customer: c.customer.clone(),
            segment: c.segment.clone(),
            purpose: c.purpose.clone(),
            at: tree.zone_of_hall(&c.hall).local(c.ended_at).unwrap(),
        };
        let d = programmes
            .get_mut(&node)
            .unwrap()
            .decide(&ended, &rules[&node]);
        // Invited under one rule: suppressed under every other too.
        if let (Decision::Sent | Decision::Held { .. }, Some(k)) = (&d, &c.customer) {
            let at = ended.at.timestamp_millis();
            programmes.values_mut().for_each(|p| p.invited(k, at));
        }
        let row = match d {
            Decision::NotSampled => continue,
            Decision::Sent => ("sent".to_owned(), None),
            Decision::Held { .. } => ("held".to_owned(), Some("quiet_hours".to_owned())),
            Decision::Suppressed { reason } => (
                "suppressed".to_owned(),
                Some(if c.customer.is_none() {
                    "no_customer".to_owned()
                } else {
                    reason
                }),
            ),
        };
        decided.insert(c.id.clone());
        out.insert(c.id.clone(), row);
    }
    out
}

/// The stored decisions by contact, (status, reason): all, or those decided at `at`.
async fn decisions(store: &SqlStore, at: Option<i64>) -> Decisions {
    store
        .invitations(None)
        .await
        .unwrap()
        .iter()
        .filter(|i| at.is_none_or(|at| i.decided_at == at))
        .map(|i| (i.contact.clone(), (i.status.clone(), i.reason.clone())))
        .collect()
}

/// Six halls in two cities of two zones; the province's rule (half the contacts, quiet
/// hours, quotas) and city c1's own (its `plan` visits at their own share); three
/// customers opted out. Returns the tree, the rules and the opted-out keys.
async fn programme(
    store: &SqlStore,
) -> (
    peakend_core::OrgTree,
    std::collections::HashMap<OrgNodeId, InviteRule>,
    [&'static str; 3],
) {
    let node = |id, parent, level| peakend_testkit::org_node(id, parent, level, 6, 2);
    let mut far = node("h6", Some("d2"), OrgLevel::Hall);
    far.tz = Some(peakend_core::time::Zone::parse("Asia/Urumqi").unwrap());
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("d1", Some("c1"), OrgLevel::District),
            node("h1", Some("d1"), OrgLevel::Hall),
            node("h2", Some("d1"), OrgLevel::Hall),
            node("h3", Some("d1"), OrgLevel::Hall),
            node("c2", Some("p"), OrgLevel::City),
            node("d2", Some("c2"), OrgLevel::District),
            node("h4", Some("d2"), OrgLevel::Hall),
            node("h5", Some("d2"), OrgLevel::Hall),
            far,
        ])
        .await
        .unwrap();
    // The province: half the contacts, quiet 21:00–08:00, quotas; the city c1 its
    // own tighter rule; hall h5 none of its own (the province's).
    let province = InviteRule {
        share: 0.5,
        queue_shares: Default::default(),
        quotas: peakend_core::invitation::parse_quotas("个人:bill=40,政企:plan=12").unwrap(),
        suppress_days: 30,
        quiet: Some(parse_quiet("21:00-08:00").unwrap()),
    };
    // The city samples its `plan` visits at their own share.
    let city = InviteRule {
        share: 0.8,
        queue_shares: peakend_core::invitation::parse_queue_shares("plan=0.3").unwrap(),
        quotas: peakend_core::invitation::parse_quotas("个人:bill=15,政企:bill=5").unwrap(),
        suppress_days: 7,
        quiet: None,
    };
    let (p, c1) = (
        OrgNodeId::parse("p").unwrap(),
        OrgNodeId::parse("c1").unwrap(),
    );
    store.set_invite_rule(&p, &province).await.unwrap();
    store.set_invite_rule(&c1, &city).await.unwrap();
    let opted = ["k3", "k17", "k250"];
    for k in opted {
        store.opt_out(k, 0).await.unwrap();
    }
    let tree = store.org_tree().await.unwrap();
    (tree, [(p, province), (c1, city)].into(), opted)
}

peakend_testkit::on_both_backends!(
    the_queue_drained_in_parts_decides_as_the_rules_decide_one_contact_at_a_time,
    |url| {
        // Through the server's path: queued, then drained 700 at a time. A drain reads
        // only the queued contacts drawn below the largest share (0.8 here) and drops
        // the rest unread; those drawn between a rule's own share and 0.8 are still
        // judged by their rule.
        let store = connect(url).await.unwrap();
        let (tree, rules, opted) = programme(&store).await;
        let contacts = batch(10, 2500, 7);
        let expected = reference(&tree, &rules, &opted, &[], &contacts);
        store.queue_invitations(&contacts).await.unwrap();
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM invite_pending WHERE draw IS NULL"
            )
            .await,
            0
        );
        // Every third queued as before draws were kept: read, and drawn as before.
        peakend_testkit::execute(
            url,
            "UPDATE invite_pending SET draw = NULL WHERE id % 3 = 0",
        )
        .await;
        let at = ms("2026-08-10T23:30:00+08:00");
        let (mut taken, mut total) = (0, peakend_store::Decided::default());
        loop {
            let d = store.decide_pending(at, 700).await.unwrap();
            if d.taken == 0 {
                break;
            }
            assert!(d.taken <= 700, "{d:?}");
            taken += d.taken;
            total.add(&d.decided);
        }
        assert_eq!(taken, contacts.len());
        assert_eq!(
            total.sent + total.held + total.suppressed + total.skipped,
            contacts.len(),
            "{total:?}"
        );
        let got = decisions(&store, None).await;
        let differ: Vec<_> = expected
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .map(|(k, v)| (k, v, got.get(k)))
            .collect();
        assert!(
            differ.is_empty(),
            "{} of {}: {differ:?}",
            differ.len(),
            expected.len()
        );
        assert_eq!(got.len(), expected.len());
        assert!(total.sent > 0 && total.suppressed > 0, "{total:?}");
    }
);

peakend_testkit::on_both_backends!(
    a_large_batch_is_decided_as_the_rules_decide_one_contact_at_a_time,
    |url| {
        let store = connect(url).await.unwrap();
        let (tree, rules, opted) = programme(&store).await;
        // Monday, then Wednesday of the same week (quotas carry over), then the
        // Wednesday batch again (a replay decides nothing).
        for (day, n, seed) in [(10, 1500, 1), (12, 2500, 2)] {
            let contacts = batch(day, n, seed);
            let before = store.invitations(None).await.unwrap();
            let expected = reference(&tree, &rules, &opted, &before, &contacts);
            let at = ms(&format!("2026-08-{day:02}T23:30:00+08:00"));
            let d = store.decide_invitations(&contacts, at).await.unwrap();
            assert_eq!(
                d.sent + d.held + d.suppressed + d.skipped,
                contacts.len(),
                "{d:?}"
            );
            let got = decisions(&store, Some(at)).await;
            assert_eq!(got.len(), expected.len(), "day {day}");
            assert_eq!(got, expected, "day {day}");
            let count = |s: &str| expected.values().filter(|(st, _)| st == s).count();
            assert_eq!(
                (d.sent, d.held, d.suppressed),
                (count("sent"), count("held"), count("suppressed"))
            );
            // Every kind of decision happens, quotas and suppression included.
            assert!(d.sent > 0 && d.held > 0, "{d:?}");
            let reasons: Vec<&str> = expected
                .values()
                .filter_map(|(_, r)| r.as_deref())
                .collect();
            for part in [
                "quota",
                "last 30 days",
                "last 7 days",
                "opted out",
                "no_customer",
            ] {
                assert!(
                    reasons.iter().any(|r| r.contains(part)),
                    "day {day}: no `{part}` in {reasons:?}"
                );
            }
            let again = store.decide_invitations(&contacts, at).await.unwrap();
            assert_eq!(again.skipped, contacts.len());
        }
        // Each sent or held invitation waits in the outbox with its invite and one
        // reminder: at 07:30 on the 13th every invite is due, and the reminders of
        // Monday's (a day after they left), none expired yet (the first expire at 08:00,
        // 72 hours after the ones held on Monday morning left).
        let list = store.invitations(None).await.unwrap();
        let sweep = ms("2026-08-13T07:30:00+08:00");
        // Held ones of halls in later zones are not due yet (their 08:00 is later).
        let live = list
            .iter()
            .filter(|i| i.status == "sent" || i.status == "held")
            .filter(|i| i.send_at.is_some_and(|s| s <= sweep))
            .count();
        assert!(live > 200, "{live}");
        let due = store.sweep_invitations(sweep).await.unwrap();
        let invites = due.iter().filter(|o| o.kind == "invite").count();
        let reminders = due.iter().filter(|o| o.kind == "reminder").count();
        // A reminder waits until its invitation has left: none of these was delivered.
        assert_eq!((invites, reminders), (live, 0));
        assert!(due.iter().all(
            |o| o.token.len() == 64 + 1 + o.invitation_id.to_string().len()
                && o.token.starts_with(&format!("{}.", o.invitation_id))
        ));
    }
);

peakend_testkit::on_both_backends!(
    suppression_sees_every_invitation_whoever_decided_it_and_however_old_the_day,
    |url| {
        // The decider remembers each customer's latest invitation, caught up from the
        // table: another process on the same database, a restart, a day older than
        // what it has read and one after it has forgotten must all decide as the rules
        // do over everything stored.
        let a = connect(url).await.unwrap();
        let (tree, rules, opted) = programme(&a).await;
        let b = connect(url).await.unwrap();
        let mut restarted = None;
        let steps = [
            ("a", 8, 2),
            ("b", 8, 10),
            ("a", 8, 11),
            ("restarted", 8, 13),
            // Its window moves past every invitation so far: they are forgotten…
            ("a", 9, 25),
            // …and read back for an older day.
            ("a", 8, 12),
            ("b", 8, 1),
        ];
        let mut reasons = std::collections::BTreeSet::new();
        for (i, (who, month, day)) in steps.into_iter().enumerate() {
            let store = match who {
                "a" => &a,
                "b" => &b,
                _ => &*restarted.insert(connect(url).await.unwrap()),
            };
            let contacts = batch_in(month, day, 600, 40 + i as u64);
            let before = store.invitations(None).await.unwrap();
            let expected = reference(&tree, &rules, &opted, &before, &contacts);
            let at = ms(&format!("2026-{month:02}-{day:02}T23:30:00+08:00"));
            store.decide_invitations(&contacts, at).await.unwrap();
            let got = decisions(store, Some(at)).await;
            assert_eq!(got, expected, "{who} on {month}-{day}");
            reasons.extend(expected.into_values().filter_map(|(_, r)| r));
        }
        assert!(
            reasons.iter().any(|r| r.contains("last 30 days"))
                && reasons.iter().any(|r| r.contains("last 7 days")),
            "{reasons:?}"
        );

        // An opt-out finds its customer's held invitations and unsent entries without
        // an index by customer.
        let list = a.invitations(None).await.unwrap();
        let held = list
            .iter()
            .find(|i| i.status == "held" && i.customer_key.is_some())
            .expect("a held invitation");
        let key = held.customer_key.clone().unwrap();
        let unsent = format!(
            "SELECT COUNT(*) FROM invite_outbox o JOIN invitation i ON i.id = o.invitation_id
             WHERE i.customer_key = '{key}' AND o.sent_at IS NULL"
        );
        assert!(peakend_testkit::fetch_i64(url, &unsent).await > 0);
        b.opt_out(&key, ms("2026-09-26T09:00:00+08:00"))
            .await
            .unwrap();
        assert_eq!(peakend_testkit::fetch_i64(url, &unsent).await, 0);
        let after = a.invitations(None).await.unwrap();
        assert!(
            after
                .iter()
                .filter(|i| i.customer_key.as_deref() == Some(key.as_str()))
                .all(|i| i.status != "held")
        );
        assert_eq!(
            after
                .iter()
                .find(|i| i.id == held.id)
                .unwrap()
                .reason
                .as_deref(),
            Some("opted_out")
        );
    }
);

/// A visit's four events at hall h1 on 7 August, as (position, event, line).
fn visit_events(
    ticket: &str,
    customer: &str,
) -> Vec<(usize, peakend_core::ops::event::Event, String)> {
    let at = |hm: &str| format!("2026-08-07T{hm}:00+08:00");
    [
        ("i", "09:10", format!(r#""type":"ticket_issued","ticket":"{ticket}","service":"bill","segment":"个人","customer":"{customer}""#)),
        ("c", "09:27", format!(r#""type":"called","ticket":"{ticket}","counter":"3","staff":"S07""#)),
        ("s", "09:27", format!(r#""type":"service_started","ticket":"{ticket}","counter":"3","staff":"S07""#)),
        ("e", "09:35", format!(r#""type":"service_ended","ticket":"{ticket}","counter":"3","staff":"S07","outcome":"done""#)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (suffix, hm, body))| {
        let line = format!(r#"{{"id":"{ticket}-{suffix}","hall":"h1","at":"{}",{body}}}"#, at(hm));
        let e = peakend_core::ops::event::Event::from_json(&line).unwrap();
        (i + 1, e, line)
    })
    .collect()
}

peakend_testkit::on_both_backends!(
    the_ingest_queues_contacts_in_its_transaction_and_a_drain_decides_them_after_a_restart,
    |url| {
        let store = ready(url).await;
        let h1 = HallId::parse("h1").unwrap();
        let key = |n: u32| format!("{n:064x}");
        let now = ms("2026-08-07T09:36:00+08:00");
        // No survey programme yet (no rule anywhere): the API's ingest queues nothing.
        let o = store
            .ingest_events_inviting(&h1, visit_events("A000", &key(9)), vec![])
            .await
            .unwrap();
        assert_eq!((o.accepted, o.ended.len()), (4, 1));
        assert_eq!(store.decide_pending(now, 100).await.unwrap().taken, 0);
        let rule = InviteRule {
            quiet: None,
            ..InviteRule::default()
        };
        store
            .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
            .await
            .unwrap();
        // A plain ingest (a replay not asked to invite) queues nothing.
        let o = store
            .ingest_events(&h1, visit_events("A001", &key(1)), vec![])
            .await
            .unwrap();
        assert_eq!((o.accepted, o.ended.len()), (4, 1));
        assert_eq!(store.decide_pending(now, 100).await.unwrap().taken, 0);
        // The API's ingest queues the contact it ends, with its events.
        let o = store
            .ingest_events_inviting(&h1, visit_events("A002", &key(2)), vec![])
            .await
            .unwrap();
        assert_eq!(o.ended.len(), 1);
        assert!(store.invitations(None).await.unwrap().is_empty());
        // The server stops before its decider runs: the queue outlives it.
        drop(store);
        let store = connect(url).await.unwrap();
        let d = store.decide_pending(now, 100).await.unwrap();
        assert_eq!((d.taken, d.decided.sent), (1, 1), "{d:?}");
        let list = store.invitations(None).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].contact, "h1/2026-08-07/A002");
        assert_eq!(list[0].wait_s, Some(17 * 60));
        assert_eq!(store.decide_pending(now, 100).await.unwrap().taken, 0);

        // Queued twice, decided once; one that ended four days before the drain is
        // dropped unasked (its link would be dead); drains take the oldest first.
        let fresh = visit("B001", Some(&key(3)), "2026-08-07T10:00:00+08:00");
        let stale = visit("B002", Some(&key(4)), "2026-08-03T10:00:00+08:00");
        store
            .queue_invitations(&[fresh.clone(), stale, fresh])
            .await
            .unwrap();
        let at = ms("2026-08-07T10:01:00+08:00");
        let first = store.decide_pending(at, 2).await.unwrap();
        assert_eq!(first.taken, 2);
        assert_eq!((first.decided.sent, first.decided.skipped), (1, 1));
        let second = store.decide_pending(at, 2).await.unwrap();
        assert_eq!((second.taken, second.decided.skipped), (1, 1), "{second:?}");
        assert_eq!(store.invitations(None).await.unwrap().len(), 2);
    }
);

// A link's token names its invitation (`{id}.{verifier}`): it opens that invitation
// only with its own verifier, whose hash is all the row keeps (no token hash, so no
// index takes a random key per decision). A link sent before (64 hex digits whose
// SHA-256 the row kept) still opens its invitation.
peakend_testkit::on_both_backends!(
    a_link_token_names_its_invitation_and_an_old_link_still_opens,
    |url| {
        let store = ready(url).await;
        let rule = InviteRule {
            share: 1.0,
            ..InviteRule::default()
        };
        store
            .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
            .await
            .unwrap();
        let now = ms("2026-08-07T12:00:00+08:00");
        let d = store
            .decide_invitations(
                &[
                    visit("L1", Some("k1"), "2026-08-07T10:00:00+08:00"),
                    visit("L2", Some("k2"), "2026-08-07T10:30:00+08:00"),
                    visit("L3", Some("k1"), "2026-08-07T11:00:00+08:00"),
                ],
                now,
            )
            .await
            .unwrap();
        assert_eq!((d.sent, d.suppressed), (2, 1));
        let list = store.invitations(None).await.unwrap();
        let id_of = |t: &str| list.iter().find(|i| i.contact.ends_with(t)).unwrap().id;
        let (l1, l2, l3) = (id_of("L1"), id_of("L2"), id_of("L3"));
        let due = store.sweep_invitations(now).await.unwrap();
        let token_of = |id: i64| {
            due.iter()
                .find(|o| o.invitation_id == id && o.kind == "invite")
                .unwrap()
                .token
                .clone()
        };
        let (t1, t2) = (token_of(l1), token_of(l2));
        let (id, v1) = t1.split_once('.').unwrap();
        assert_eq!(id, l1.to_string());
        let v2 = t2.split_once('.').unwrap().1;
        assert_ne!(v1, v2, "each link its own verifier");

        let opened = |t: String| {
            let store = &store;
            async move { store.invitation_by_token(&t).await.unwrap().map(|i| i.id) }
        };
        assert_eq!(opened(t1.clone()).await, Some(l1));
        assert_eq!(opened(t2.clone()).await, Some(l2));
        // Another invitation's id, a changed verifier, an unknown id, a suppressed
        // decision (no link) and nonsense open nothing.
        assert_eq!(opened(format!("{l2}.{v1}")).await, None);
        let flipped: String = v1
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i == 63 {
                    if c == '0' { '1' } else { '0' }
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(opened(format!("{l1}.{flipped}")).await, None);
        assert_eq!(opened(format!("{}.{v1}", l1 + l2 + l3 + 1000)).await, None);
        assert_eq!(opened(format!("{l3}.{v1}")).await, None);
        assert_eq!(opened(format!("{l1}.")).await, None);
        assert_eq!(opened(format!("x{l1}.{v1}")).await, None);
        assert_eq!(opened(v1.to_owned()).await, None, "the verifier alone");
        // The row keeps the verifier's hash, not the token; no token hash.
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM invitation WHERE token_hash IS NOT NULL",
            )
            .await,
            0
        );
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM invitation WHERE link_hash IS NOT NULL",
            )
            .await,
            2
        );
        // Delivered: the outbox forgets the token, the link still opens.
        let o1 = due
            .iter()
            .find(|o| o.invitation_id == l1 && o.kind == "invite")
            .unwrap();
        store.invitation_delivered(o1.outbox_id, now).await.unwrap();
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                &format!(
                    "SELECT COUNT(*) FROM invite_outbox WHERE invitation_id = {l1}
                       AND kind = 'invite' AND token IS NOT NULL"
                ),
            )
            .await,
            0
        );
        assert_eq!(opened(t1.clone()).await, Some(l1));

        // L2 as a link sent before 0040 left it: the SHA-256 of 64 hex digits.
        let old = "7".repeat(64);
        peakend_testkit::execute(
            url,
            &format!(
                "UPDATE invitation SET link_hash = NULL, token_hash =
                   'c0b6304bd6ce9b3e65150392c91a3aa76803a59c29e46f9fb2b9aac235e58386'
                 WHERE id = {l2}"
            ),
        )
        .await;
        assert_eq!(
            opened(old.clone()).await,
            Some(l2),
            "an old link still opens"
        );
        assert_eq!(opened(t2).await, None);
        assert_eq!(opened("8".repeat(64)).await, None);
        assert_eq!(opened(format!("{l2}.{old}")).await, None);
    }
);

// An invitation's one reminder is made when its invite has left, a day after the
// invitation was to be sent, with the same link: not at the decision (one outbox row a
// decision, not two), never twice (an acknowledgement repeated, or an invitation
// decided before migration 0040 whose reminder was made with it), and not for an
// invite that never left.
peakend_testkit::on_both_backends!(
    an_invitations_one_reminder_is_made_when_its_invite_has_left,
    |url| {
        let store = ready(url).await;
        let rule = InviteRule {
            share: 1.0,
            quiet: None,
            ..InviteRule::default()
        };
        store
            .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
            .await
            .unwrap();
        let now = ms("2026-08-07T10:01:00+08:00");
        let d = store
            .decide_invitations(
                &[
                    visit("R1", Some("k1"), "2026-08-07T10:00:00+08:00"),
                    visit("R2", Some("k2"), "2026-08-07T10:00:00+08:00"),
                    visit("R3", Some("k3"), "2026-08-07T10:00:00+08:00"),
                ],
                now,
            )
            .await
            .unwrap();
        assert_eq!(d.sent, 3);
        let reminders = |id: i64| async move {
            peakend_testkit::fetch_i64(
                url,
                &format!(
                    "SELECT COUNT(*) FROM invite_outbox WHERE invitation_id = {id}
                       AND kind = 'reminder'"
                ),
            )
            .await
        };
        assert_eq!(
            peakend_testkit::fetch_i64(url, "SELECT COUNT(*) FROM invite_outbox").await,
            3,
            "one entry a decision"
        );
        let due = store.sweep_invitations(now).await.unwrap();
        assert_eq!(due.len(), 3);
        let (r1, r2, r3) = (due[0].clone(), due[1].clone(), due[2].clone());
        let send_at = store
            .invitations(None)
            .await
            .unwrap()
            .iter()
            .find(|i| i.id == r1.invitation_id)
            .unwrap()
            .send_at
            .unwrap();

        // R1 delivered: its reminder, due a day after R1 was sent; acknowledged again,
        // still one.
        store
            .invitation_delivered(r1.outbox_id, now + 60_000)
            .await
            .unwrap();
        assert_eq!(reminders(r1.invitation_id).await, 1);
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                &format!(
                    "SELECT due_at FROM invite_outbox WHERE invitation_id = {}
                       AND kind = 'reminder'",
                    r1.invitation_id
                ),
            )
            .await,
            send_at + 24 * 3_600_000
        );
        store
            .invitation_delivered(r1.outbox_id, now + 120_000)
            .await
            .unwrap();
        assert_eq!(reminders(r1.invitation_id).await, 1);

        // R2 as decided before 0040: its reminder made with it already waits.
        peakend_testkit::execute(
            url,
            &format!(
                "INSERT INTO invite_outbox (invitation_id, kind, token, due_at)
                 VALUES ({}, 'reminder', '{}', {})",
                r2.invitation_id,
                r2.token,
                send_at + 24 * 3_600_000
            ),
        )
        .await;
        store
            .invitation_delivered(r2.outbox_id, now + 60_000)
            .await
            .unwrap();
        assert_eq!(reminders(r2.invitation_id).await, 1);

        // R3's customer opts out before its invite's delivery is acknowledged: no
        // reminder.
        store.opt_out("k3", now + 30_000).await.unwrap();
        store
            .invitation_delivered(r3.outbox_id, now + 60_000)
            .await
            .unwrap();
        assert_eq!(reminders(r3.invitation_id).await, 0);

        // Not before their day; then R1's and R2's reminders leave, with their links.
        let day_on = send_at + 24 * 3_600_000;
        assert!(
            store
                .sweep_invitations(day_on - 1)
                .await
                .unwrap()
                .is_empty()
        );
        let due = store.sweep_invitations(day_on).await.unwrap();
        let got: Vec<(i64, &str, &str)> = due
            .iter()
            .map(|o| (o.invitation_id, o.kind.as_str(), o.token.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (r1.invitation_id, "reminder", r1.token.as_str()),
                (r2.invitation_id, "reminder", r2.token.as_str()),
            ]
        );
    }
);

peakend_testkit::on_both_backends!(
    quota_weeks_are_each_halls_own_when_past_invitations_are_counted_together,
    |url| {
        // The store counts a quota cell's past invitations one row per hall and part of
        // the window between local week starts; the week a hall's invitation counts in
        // is still its own zone's. h6 (Asia/Urumqi, UTC+6) is under the province's rule
        // with h4 and h5 (Asia/Shanghai, UTC+8); its Monday starts two hours later.
        let store = connect(url).await.unwrap();
        let (tree, rules, opted) = programme(&store).await;
        let sampled = |hall: &str, n: usize, ended: &str, tag: &str| -> Vec<EndedContact> {
            (0..)
                .map(|i| format!("{hall}/{tag}/{i}"))
                .filter(|id| peakend_core::invitation::draw(id) < 0.5)
                .take(n)
                .enumerate()
                .map(|(i, id)| EndedContact {
                    channel: "hall".into(),
                    hall: HallId::parse(hall).unwrap(),
                    id,
                    customer: Some(format!("{tag}-{hall}-{i}")),
                    segment: "个人".into(),
                    purpose: "bill".into(),
                    staff: None,
                    counter: None,
                    wait_s: Some(60),
                    outcome: Some("done".into()),
                    ended_at: ms(ended),
                })
                .collect()
        };
        // Sunday 23:30 in Urumqi (Monday 01:30 in Shanghai): last week's cell there.
        // Monday 01:00 in Urumqi: this week's. Then h4 and h5 on Monday morning, with
        // no h6 contact among them, so no cut was made at Urumqi's Monday.
        let drains = [
            (
                sampled("h6", 12, "2026-08-10T01:30:00+08:00", "sun"),
                "2026-08-10T01:40:00+08:00",
            ),
            (
                sampled("h6", 14, "2026-08-10T03:00:00+08:00", "mon"),
                "2026-08-10T03:10:00+08:00",
            ),
            (
                [
                    sampled("h4", 20, "2026-08-10T09:00:00+08:00", "a"),
                    sampled("h5", 20, "2026-08-10T09:05:00+08:00", "b"),
                ]
                .concat(),
                "2026-08-10T09:30:00+08:00",
            ),
            // The same again with an h6 contact among them: the cut is made, no fallback.
            (
                [
                    sampled("h4", 8, "2026-08-10T10:00:00+08:00", "c"),
                    sampled("h6", 2, "2026-08-10T10:00:00+08:00", "d"),
                ]
                .concat(),
                "2026-08-10T10:30:00+08:00",
            ),
        ];
        for (contacts, at) in drains {
            let before = store.invitations(None).await.unwrap();
            let expected = reference(&tree, &rules, &opted, &before, &contacts);
            let at = ms(at);
            store.decide_invitations(&contacts, at).await.unwrap();
            let got = decisions(&store, Some(at)).await;
            assert_eq!(got, expected);
        }
        // The province's 个人:bill cell holds 40 a week: this week's 14 of h6 and 26 of
        // h4 and h5; the rest quota-full, last week's 12 not counted against it.
        let list = store.invitations(None).await.unwrap();
        let counted = |hall: &str| {
            list.iter()
                .filter(|i| i.hall == hall && i.decided_at >= ms("2026-08-10T09:00:00+08:00"))
                .filter(|i| i.status != "suppressed")
                .count()
        };
        assert_eq!(counted("h4") + counted("h5") + counted("h6"), 26);
    }
);

peakend_testkit::on_both_backends!(
    two_stores_deciding_at_once_decide_as_one_after_the_other,
    |url| {
        // Two nodes on one database decide contacts of the same customers at the same
        // moment (the direct path, as a replay asked to invite does). Each must see the
        // other's invitations: the outcome is the rules applied to one batch and then
        // the other, in one order or the other, never a customer invited twice.
        let store = connect(url).await.unwrap();
        let (tree, rules, opted) = programme(&store).await;
        let other = connect(url).await.unwrap();
        let contacts = batch(10, 2000, 11);
        let (a, b): (Vec<_>, Vec<_>) = contacts
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        let a: Vec<EndedContact> = a.into_iter().map(|(_, c)| c).collect();
        let b: Vec<EndedContact> = b.into_iter().map(|(_, c)| c).collect();
        let at = ms("2026-08-10T23:30:00+08:00");
        let (da, db) = tokio::join!(
            store.decide_invitations(&a, at),
            other.decide_invitations(&b, at)
        );
        let (da, db) = (da.unwrap(), db.unwrap());
        let got = decisions(&store, None).await;
        let a_then_b = reference(&tree, &rules, &opted, &[], &[a.clone(), b.clone()].concat());
        let b_then_a = reference(&tree, &rules, &opted, &[], &[b, a].concat());
        assert!(
            got == a_then_b || got == b_then_a,
            "{} differ from a then b, {} from b then a",
            a_then_b
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .count(),
            b_then_a
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .count(),
        );
        assert!(da.sent + db.sent > 0 && da.suppressed + db.suppressed > 0);
    }
);
