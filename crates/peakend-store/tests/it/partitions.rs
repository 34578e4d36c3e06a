//! Issue 24's per-partition sweeps, on a fresh SQLite file and a fresh PostgreSQL
//! database: two nodes' sweeps (partitions {0, 1} and {2, 3} of 4) each take only their
//! halls' overdue cases, ended days, queued contacts and due invitations, and together
//! all of them, once each; a sweep of every hall afterwards finds nothing left. A hall
//! whose org node has no hash yet (stored by an older build) is hashed at the start.

use std::collections::BTreeSet;

use peakend_core::case::{CaseSource, NewCase, Severity};
use peakend_core::invitation::InviteRule;
use peakend_core::{HallId, MomentKey, OrgLevel, OrgNodeId};
use peakend_store::{
    AuditStore, CaseStore, EndedContact, InvitationStore, SqlStore, Store, SweepHalls, connect,
};

const HALLS: usize = 12;

fn halls() -> Vec<String> {
    (1..=HALLS).map(|i| format!("h{i:02}")).collect()
}

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    store.load_builtin_journeys().await.unwrap();
    let node = |id: &str, parent, level| peakend_testkit::org_node(id, parent, level, 6, 2);
    let mut nodes = vec![
        node("p", None, OrgLevel::Province),
        node("c1", Some("p"), OrgLevel::City),
        node("d1", Some("c1"), OrgLevel::District),
    ];
    for h in halls() {
        nodes.push(node(&h, Some("d1"), OrgLevel::Hall));
    }
    store.import_org(nodes).await.unwrap();
    store
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

fn case(hall: &str) -> NewCase {
    let rules = peakend_core::ops::day::Rules::default();
    let t = chrono::DateTime::parse_from_rfc3339("2026-08-07T09:00:00+08:00").unwrap();
    let (acknowledge_due, resolve_due) = rules.cases.deadlines(t, rules.zone, &rules.holidays);
    NewCase {
        hall: HallId::parse(hall).unwrap(),
        source: CaseSource::Manual,
        cause: format!("manual:{hall}"),
        ticket: None,
        response: None,
        moment: MomentKey::parse("dispute").unwrap(),
        severity: Severity::High,
        summary: "无人受理".into(),
        contact: None,
        staff: None,
        owner: None,
        opened_at: t.timestamp_millis(),
        acknowledge_due,
        resolve_due,
    }
}

fn contact(hall: &str) -> EndedContact {
    EndedContact {
        hall: HallId::parse(hall).unwrap(),
        id: format!("{hall}/2026-08-07/A1"),
        channel: "hall".into(),
        customer: Some(format!("k-{hall}")),
        segment: "个人".into(),
        purpose: "bill".into(),
        staff: Some("S01".into()),
        counter: Some("3".into()),
        wait_s: Some(60),
        outcome: Some("done".into()),
        ended_at: ms("2026-08-07T10:00:00+08:00"),
    }
}

fn split() -> (SweepHalls, SweepHalls) {
    let a = SweepHalls::Partitions {
        of: 4,
        held: vec![0, 1],
    };
    let b = SweepHalls::Partitions {
        of: 4,
        held: vec![2, 3],
    };
    (a, b)
}

/// The halls a scope takes, as the Rust side computes them.
fn expected(scope: &SweepHalls) -> BTreeSet<String> {
    halls().into_iter().filter(|h| scope.takes(h)).collect()
}

peakend_testkit::on_both_backends!(two_nodes_sweep_their_own_halls_once_each, |url| {
    let store = ready(url).await;
    // An org node stored before its hash existed (migration 0044): the start fills it.
    peakend_testkit::execute(url, "UPDATE org_node SET part_hash = NULL WHERE id = 'h03'").await;
    drop(store);
    let store = connect(url).await.unwrap();
    assert_eq!(
        peakend_testkit::fetch_i64(url, "SELECT COUNT(*) FROM org_node WHERE part_hash IS NULL")
            .await,
        0
    );
    let (a, b) = split();
    let (mine_a, mine_b) = (expected(&a), expected(&b));
    // Both nodes have halls to sweep (the hash spreads these twelve).
    assert!(
        !mine_a.is_empty() && !mine_b.is_empty(),
        "{mine_a:?} {mine_b:?}"
    );
    assert_eq!(mine_a.len() + mine_b.len(), HALLS);
    assert!(mine_b.len() >= 2, "a batch of one leaves some: {mine_b:?}");

    // Cases: one a hall, all overdue at 11:01.
    let cases: Vec<NewCase> = halls().iter().map(|h| case(h)).collect();
    store.open_cases(&cases, "system").await.unwrap();
    let at = ms("2026-08-07T11:01:00+08:00");
    let swept = |e: Vec<peakend_store::Escalation>| -> Vec<String> {
        e.into_iter().map(|x| x.hall.to_string()).collect()
    };
    let by_a = swept(store.sweep_cases_of(at, &a).await.unwrap());
    assert_eq!(
        by_a.iter().cloned().collect::<BTreeSet<_>>(),
        mine_a,
        "node A escalates its halls' cases"
    );
    assert_eq!(by_a.len(), mine_a.len(), "each once");
    assert!(store.sweep_cases_of(at, &a).await.unwrap().is_empty());
    let by_b = swept(store.sweep_cases_of(at, &b).await.unwrap());
    assert_eq!(by_b.iter().cloned().collect::<BTreeSet<_>>(), mine_b);
    assert_eq!(by_b.len(), mine_b.len());
    // Nothing missed: a sweep of every hall finds nothing left at that time.
    assert!(store.sweep_cases(at).await.unwrap().is_empty());
    // A node that holds nothing sweeps nothing, even when all is due (13:01).
    let later = ms("2026-08-07T13:01:00+08:00");
    let none = SweepHalls::Partitions {
        of: 4,
        held: vec![],
    };
    assert!(store.sweep_cases_of(later, &none).await.unwrap().is_empty());
    if url.starts_with("postgres") {
        // A partition changing hands mid-sweep: two sweeps of the same halls at once
        // escalate each case one level, once.
        let all = SweepHalls::Partitions {
            of: 4,
            held: vec![0, 1, 2, 3],
        };
        let (x, y) = tokio::join!(store.sweep_cases_of(later, &all), store.sweep_cases(later));
        assert_eq!(x.unwrap().len() + y.unwrap().len(), HALLS);
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM case_event WHERE kind = 'escalated'"
            )
            .await,
            2 * HALLS as i64
        );
    }

    // Ended days: one a hall, and one of a hall not in the organisation (`gone`, whose
    // hash says partition 2), which counts as partition 0 (node A's) on every node.
    assert_eq!(SweepHalls::partition("gone", 4), 2);
    for (i, h) in halls().iter().chain(["gone".to_owned()].iter()).enumerate() {
        peakend_testkit::execute(
            url,
            &format!(
                "INSERT INTO event_day (hall_id, day_start, events) VALUES ('{h}', {}, {})",
                ms("2026-08-06T00:00:00+08:00"),
                i + 1
            ),
        )
        .await;
    }
    let days = |v: Vec<peakend_store::DayToCheck>| -> BTreeSet<String> {
        v.into_iter().map(|d| d.hall.to_string()).collect()
    };
    let mut with_gone = mine_a.clone();
    with_gone.insert("gone".into());
    assert_eq!(
        days(store.days_to_check_of(at, 100, &a).await.unwrap()),
        with_gone
    );
    assert_eq!(
        days(store.days_to_check_of(at, 100, &b).await.unwrap()),
        mine_b
    );
    assert_eq!(store.days_to_check(at, 100).await.unwrap().len(), HALLS + 1);

    // Queued contacts: each node decides its halls' and leaves the others' queued.
    let rule = InviteRule {
        share: 1.0,
        ..InviteRule::default()
    };
    store
        .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
        .await
        .unwrap();
    let contacts: Vec<EndedContact> = halls().iter().map(|h| contact(h)).collect();
    store.queue_invitations(&contacts).await.unwrap();
    let now = ms("2026-08-07T10:05:00+08:00");
    let da = store.decide_pending_of(now, 100, &a).await.unwrap();
    assert_eq!((da.taken, da.decided.sent), (mine_a.len(), mine_a.len()));
    let left = peakend_testkit::fetch_i64(url, "SELECT COUNT(*) FROM invite_pending").await;
    assert_eq!(left, mine_b.len() as i64, "node B's contacts stay queued");
    let db = store.decide_pending_of(now, 100, &b).await.unwrap();
    assert_eq!((db.taken, db.decided.sent), (mine_b.len(), mine_b.len()));
    assert_eq!(store.decide_pending(now, 100).await.unwrap().taken, 0);

    // Due invitations: each node takes its halls' and claims them, so a second sweep
    // (the partition's next holder) does not send them again; the claim runs out.
    let outgoing = |v: &[peakend_store::Outgoing]| -> BTreeSet<String> {
        v.iter().map(|o| o.hall.clone()).collect()
    };
    let (sa, left_a) = store.sweep_invitations_of(now, &a, 100).await.unwrap();
    assert_eq!((outgoing(&sa), left_a), (mine_a.clone(), 0));
    assert!(
        store
            .sweep_invitations_of(now, &a, 100)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    // A batch of one: one claimed, the rest said to wait.
    let (sb, left_b) = store.sweep_invitations_of(now, &b, 1).await.unwrap();
    assert_eq!((sb.len(), left_b), (1, 1));
    let (sb2, _) = store.sweep_invitations_of(now, &b, 100).await.unwrap();
    assert_eq!(sb2.len(), mine_b.len() - 1);
    assert!(
        !sb2.iter().any(|o| o.outbox_id == sb[0].outbox_id),
        "a claimed invitation is not handed out twice"
    );
    // A node died with A's claims: they are due again once the claim has run out.
    let (again, _) = store
        .sweep_invitations_of(now + peakend_store::INVITE_CLAIM_MS, &a, 100)
        .await
        .unwrap();
    assert_eq!(outgoing(&again), mine_a);
    // Sent: never again, for any node.
    for o in again.iter().chain(&sb).chain(&sb2) {
        store.invitation_delivered(o.outbox_id, now).await.unwrap();
    }
    let (rest, _) = store
        .sweep_invitations_of(now + 2 * peakend_store::INVITE_CLAIM_MS, &a, 100)
        .await
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
});
