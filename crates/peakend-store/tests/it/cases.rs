//! Issue 20's storage stories, each on a fresh SQLite file and a fresh PostgreSQL
//! database: cases open themselves once per cause with the first-asked owner, move
//! along the loop on the version they were read at, escalate a level a sweep, keep a
//! survey contact only where it is needed and erase it on schedule, and announce
//! themselves through the outbox.

use peakend_core::case::{CaseChange, CaseConflict, CaseSource, CaseState, NewCase, Severity};
use peakend_core::{HallId, MomentKey, OrgLevel, OrgNodeId, Role, UserName};
use peakend_store::{CaseFilter, CaseStore, SqlStore, Store, User, connect};

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    store.load_builtin_journeys().await.unwrap();
    let node = |id, parent, level| peakend_testkit::org_node(id, parent, level, 6, 2);
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("d1", Some("c1"), OrgLevel::District),
            node("h1", Some("d1"), OrgLevel::Hall),
            node("h2", Some("d1"), OrgLevel::Hall),
        ])
        .await
        .unwrap();
    for (name, role, org, staff) in [
        ("mgr", Role::HallManager, "h1", None),
        ("li", Role::Frontline, "h1", Some("S01")),
        ("wang", Role::Frontline, "h2", Some("S01")),
    ] {
        let user = User {
            name: UserName::parse(name).unwrap(),
            role,
            org: OrgNodeId::parse(org).unwrap(),
            created_at: 0,
            staff: staff.map(str::to_owned),
        };
        store.create_user(&user, "x").await.unwrap();
    }
    store
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// A case of hall h1 opened by hand at `at` (+08:00, Friday 2026-08-07 unless given),
/// with the default deadlines (acknowledge in 2 hours, resolve in 2 working days).
fn manual(at: &str, summary: &str, contact: Option<&str>) -> NewCase {
    let rules = peakend_core::ops::day::Rules::default();
    let t = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    let (acknowledge_due, resolve_due) = rules.cases.deadlines(t, rules.zone, &rules.holidays);
    NewCase {
        hall: HallId::parse("h1").unwrap(),
        source: CaseSource::Manual,
        cause: format!("manual:{summary}"),
        ticket: None,
        response: None,
        moment: MomentKey::parse("dispute").unwrap(),
        severity: Severity::High,
        summary: summary.into(),
        contact: contact.map(str::to_owned),
        staff: None,
        owner: None,
        opened_at: t.timestamp_millis(),
        acknowledge_due,
        resolve_due,
    }
}

fn lines(events: &[String]) -> Vec<(usize, peakend_core::ops::event::Event, String)> {
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    peakend_testkit::event_batch(&refs)
}

fn event(id: &str, hm: &str, body: &str) -> String {
    format!(r#"{{"id":"{id}","hall":"h1","at":"2026-08-07T{hm}:00+08:00",{body}}}"#)
}

peakend_testkit::on_both_backends!(
    every_device_source_opens_one_case_per_cause_with_its_first_asked_owner,
    |url| {
        let store = ready(url).await;
        let h1 = HallId::parse("h1").unwrap();
        let batch = vec![
            event(
                "e1",
                "09:00",
                r#""type":"ticket_issued","ticket":"A1","service":"bill""#,
            ),
            event(
                "e2",
                "09:01",
                r#""type":"called","ticket":"A1","counter":"c1","staff":"S01""#,
            ),
            event(
                "e3",
                "09:01",
                r#""type":"service_started","ticket":"A1","counter":"c1""#,
            ),
            // Ended unresolved: the staff code comes from the call.
            event(
                "e4",
                "09:05",
                r#""type":"service_ended","ticket":"A1","counter":"c1","outcome":"unresolved""#,
            ),
            event(
                "e5",
                "09:05",
                r#""type":"rated","ticket":"A1","score":1,"scale":5"#,
            ),
            event(
                "e6",
                "09:06",
                r#""type":"ticket_issued","ticket":"A2","service":"bill""#,
            ),
            event(
                "e7",
                "09:07",
                r#""type":"called","ticket":"A2","counter":"c2","staff":"S02""#,
            ),
            event(
                "e8",
                "09:07",
                r#""type":"service_started","ticket":"A2","counter":"c2""#,
            ),
            event(
                "e9",
                "09:09",
                r#""type":"service_ended","ticket":"A2","counter":"c2","outcome":"done""#,
            ),
            event(
                "e10",
                "09:09",
                r#""type":"rated","ticket":"A2","score":5,"scale":5"#,
            ),
            // The dispute button, by a staff code no user has: the hall manager owns it.
            event(
                "e11",
                "09:10",
                r#""type":"complaint","counter":"c2","staff":"S99","moment":"queue","text":"等了太久""#,
            ),
        ];
        let out = store
            .ingest_events(&h1, lines(&batch), Vec::new())
            .await
            .unwrap();
        assert_eq!(out.rejected, Vec::new());
        assert_eq!(out.cases_opened, 3);
        // The same batch again, and a second rating of A1: no new case.
        let again = store
            .ingest_events(&h1, lines(&batch), Vec::new())
            .await
            .unwrap();
        assert_eq!((again.duplicates, again.cases_opened), (batch.len(), 0));
        let rerated = vec![event(
            "e12",
            "09:11",
            r#""type":"rated","ticket":"A1","score":2,"scale":5"#,
        )];
        let out = store
            .ingest_events(&h1, lines(&rerated), Vec::new())
            .await
            .unwrap();
        assert_eq!((out.accepted, out.cases_opened), (1, 0));

        let mut cases = store
            .cases(&CaseFilter {
                limit: Some(10),
                ..CaseFilter::default()
            })
            .await
            .unwrap();
        cases.sort_by_key(|c| c.id);
        let seen: Vec<(CaseSource, &str, Option<&str>, Option<&str>)> = cases
            .iter()
            .map(|c| {
                (
                    c.source,
                    c.moment.as_str(),
                    c.owner.as_deref(),
                    c.ticket.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (CaseSource::Unresolved, "result", Some("li"), Some("A1")),
                (CaseSource::LowRating, "result", Some("li"), Some("A1")),
                (CaseSource::Complaint, "queue", Some("mgr"), None),
            ]
        );
        let low = &cases[1];
        assert_eq!(
            (low.state, low.version, low.severity),
            (CaseState::Open, 1, Severity::High)
        );
        assert_eq!(low.level.as_str(), "h1");
        // Acknowledge within 2 hours of the event; resolve by Tuesday (the weekend skipped).
        assert_eq!(low.acknowledge_due, ms("2026-08-07T11:05:00+08:00"));
        assert_eq!(low.resolve_due, ms("2026-08-11T09:05:00+08:00"));
        let timeline = store.case_timeline(low.id).await.unwrap();
        assert_eq!(timeline.len(), 1);
        assert_eq!(
            (
                timeline[0].kind.as_str(),
                timeline[0].actor.as_str(),
                timeline[0].note.as_deref()
            ),
            ("opened", "system", Some("owner: li"))
        );
    }
);

peakend_testkit::on_both_backends!(
    a_case_moves_along_the_loop_and_refuses_illegal_and_stale_moves,
    |url| {
        let store = ready(url).await;
        let ids = store
            .open_cases(
                &[manual(
                    "2026-08-07T09:00:00+08:00",
                    "多收了话费",
                    Some("13812345678"),
                )],
                "mgr",
            )
            .await
            .unwrap();
        let id = ids[0].unwrap();
        // Opened once per cause.
        let again = store
            .open_cases(
                &[manual("2026-08-07T09:00:00+08:00", "多收了话费", None)],
                "mgr",
            )
            .await
            .unwrap();
        assert_eq!(again, vec![None]);
        let at = ms("2026-08-07T09:30:00+08:00");
        let go = |to| CaseChange::Transition {
            to,
            note: None,
            root_cause: None,
            good_faith: None,
        };

        // Skipping a step: 409 with the move allowed.
        let err = store
            .change_case(id, 1, &go(CaseState::Resolved), "mgr", at)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.allowed(), vec![CaseState::Acknowledged]);
        let c = store
            .change_case(id, 1, &go(CaseState::Acknowledged), "mgr", at)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.state, c.version, c.acknowledged_at),
            (CaseState::Acknowledged, 2, Some(at))
        );
        // A stale write (version 1 again) is refused and names the state now.
        let stale = store
            .change_case(id, 1, &go(CaseState::Investigating), "li", at)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(stale, CaseConflict::Stale { now: 2, .. }),
            "{stale:?}"
        );
        assert_eq!(stale.allowed(), vec![CaseState::Investigating]);
        store
            .change_case(id, 2, &go(CaseState::Investigating), "mgr", at)
            .await
            .unwrap()
            .unwrap();
        // Resolving needs the cause, recorded while investigating.
        let no_cause = store
            .change_case(id, 3, &go(CaseState::Resolved), "mgr", at)
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(no_cause, CaseConflict::Refused(_)));
        let resolve = CaseChange::Transition {
            to: CaseState::Resolved,
            note: Some("退还多收费用".into()),
            root_cause: Some("套餐变更未生效".into()),
            good_faith: Some(true),
        };
        let c = store
            .change_case(id, 3, &resolve, "mgr", at)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.good_faith, Some(true));
        // A callback is due within 3 working days: Wednesday.
        assert_eq!(c.callback_due, Some(ms("2026-08-12T09:30:00+08:00")));
        assert_eq!(c.due_at, c.callback_due);
        let token = c.callback_token.clone().unwrap();
        assert_eq!(
            store.case_by_token(&token).await.unwrap().map(|c| c.id),
            Some(id)
        );
        // The customer's link works once.
        assert_eq!(
            store
                .customer_callback(&token, 5, Some(9), at + 1)
                .await
                .unwrap(),
            Some(id)
        );
        assert_eq!(
            store
                .customer_callback(&token, 1, None, at + 2)
                .await
                .unwrap(),
            None
        );
        let c = store.case(id).await.unwrap().unwrap();
        assert_eq!(
            (c.state, c.recovery, c.recommend, c.due_at),
            (CaseState::FollowedUp, Some(5), Some(9), None)
        );
        // Reopened: resolving runs again, then the owner records the callback.
        let c = store
            .change_case(id, c.version, &go(CaseState::Investigating), "mgr", at + 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.reopened, c.callback_due), (1, None));
        let c = store
            .change_case(id, c.version, &resolve, "mgr", at + 4)
            .await
            .unwrap()
            .unwrap();
        let cb = CaseChange::Callback {
            recovery: 4,
            recommend: None,
            note: Some("电话回访".into()),
        };
        let c = store
            .change_case(id, c.version, &cb, "mgr", at + 5)
            .await
            .unwrap()
            .unwrap();
        let c = store
            .change_case(id, c.version, &go(CaseState::Closed), "mgr", at + 6)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.state, c.closed_at), (CaseState::Closed, Some(at + 6)));
        let closed = store
            .change_case(id, c.version, &go(CaseState::Investigating), "mgr", at + 7)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(closed.allowed(), Vec::new());
        // The timeline keeps every step, in order.
        let kinds: Vec<String> = store
            .case_timeline(id)
            .await
            .unwrap()
            .iter()
            .map(|e| format!("{}:{}", e.kind, e.to.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            kinds,
            [
                "opened:open",
                "transition:acknowledged",
                "transition:investigating",
                "transition:resolved",
                "callback:followed_up",
                "transition:investigating",
                "transition:resolved",
                "callback:followed_up",
                "transition:closed"
            ]
        );
        // Reassigning needs a user of the hall or above it.
        let other = manual("2026-08-07T10:00:00+08:00", "另一件", None);
        let id2 = store.open_cases(&[other], "mgr").await.unwrap()[0].unwrap();
        let to = |n: &str| CaseChange::Assign {
            to: UserName::parse(n).unwrap(),
            note: None,
        };
        let refused = store
            .change_case(id2, 1, &to("wang"), "mgr", at)
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(refused, CaseConflict::Refused(_)));
        let c = store
            .change_case(id2, 1, &to("li"), "mgr", at)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.owner.as_deref(), Some("li"));
        // The figures: one resolved case, reopened, so no first-contact resolution.
        let f = store
            .case_figures(None, 0, i64::MAX / 2, at + 10)
            .await
            .unwrap();
        assert_eq!((f.resolved, f.first_contact_resolved), (1, 0));
        assert_eq!(f.acknowledge_minutes, vec![(30, 1)]);
        assert_eq!(f.recovery, vec![(4, 1)]);
        assert_eq!(f.sla[0], (1, 1));
    }
);

peakend_testkit::on_both_backends!(late_cases_escalate_one_level_a_sweep, |url| {
    let store = ready(url).await;
    let id = store
        .open_cases(
            &[manual("2026-08-07T09:00:00+08:00", "无人受理", None)],
            "mgr",
        )
        .await
        .unwrap()[0]
        .unwrap();
    // Before the deadline nothing happens.
    assert!(
        store
            .sweep_cases(ms("2026-08-07T10:59:00+08:00"))
            .await
            .unwrap()
            .is_empty()
    );
    let levels = |e: &[peakend_store::Escalation]| -> Vec<(String, Option<String>)> {
        e.iter()
            .map(|x| (x.from.to_string(), x.to.as_ref().map(ToString::to_string)))
            .collect()
    };
    let first = store
        .sweep_cases(ms("2026-08-07T11:01:00+08:00"))
        .await
        .unwrap();
    assert_eq!(levels(&first), [("h1".to_owned(), Some("d1".to_owned()))]);
    // The district has the stage's allowance again: no second escalation at once.
    assert!(
        store
            .sweep_cases(ms("2026-08-07T11:02:00+08:00"))
            .await
            .unwrap()
            .is_empty()
    );
    let second = store
        .sweep_cases(ms("2026-08-07T13:01:00+08:00"))
        .await
        .unwrap();
    assert_eq!(levels(&second), [("d1".to_owned(), Some("c1".to_owned()))]);
    // It shows in the city's inbox, not the district's.
    let inbox = |level: &str| CaseFilter {
        levels: Some(vec![OrgNodeId::parse(level).unwrap()]),
        ..CaseFilter::default()
    };
    assert_eq!(store.cases(&inbox("c1")).await.unwrap().len(), 1);
    assert!(store.cases(&inbox("d1")).await.unwrap().is_empty());
    let third = store
        .sweep_cases(ms("2026-08-07T15:01:00+08:00"))
        .await
        .unwrap();
    assert_eq!(levels(&third), [("c1".to_owned(), Some("p".to_owned()))]);
    // At the top the breach is recorded and the clock stops.
    let top = store
        .sweep_cases(ms("2026-08-07T17:01:00+08:00"))
        .await
        .unwrap();
    assert_eq!(levels(&top), [("p".to_owned(), None)]);
    assert!(
        store
            .sweep_cases(ms("2026-08-08T17:01:00+08:00"))
            .await
            .unwrap()
            .is_empty()
    );
    let c = store.case(id).await.unwrap().unwrap();
    assert_eq!((c.level.as_str(), c.escalations, c.due_at), ("p", 3, None));
    let escalations = store
        .case_timeline(id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "escalated")
        .count();
    assert_eq!(escalations, 4);
    // Acknowledging late at the province runs the resolve clock, from where it was.
    let go = CaseChange::Transition {
        to: CaseState::Acknowledged,
        note: None,
        root_cause: None,
        good_faith: None,
    };
    let c = store
        .change_case(id, c.version, &go, "mgr", ms("2026-08-07T18:00:00+08:00"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.due_at, Some(ms("2026-08-11T09:00:00+08:00")));
    let f = store
        .case_figures(None, 0, i64::MAX / 2, ms("2026-08-07T18:00:00+08:00"))
        .await
        .unwrap();
    assert_eq!(f.sla[0], (0, 1), "acknowledged after its deadline");
});

peakend_testkit::on_both_backends!(
    survey_answers_with_consent_open_cases_and_keep_the_contact_only_there,
    |url| {
        let store = ready(url).await;
        let journey = store
            .journey(&peakend_core::JourneyKey::parse("service-hall").unwrap())
            .await
            .unwrap()
            .unwrap();
        let header = "respondent,hall,date,segment,nps,sat.queue,sat.result,contact,consent";
        let csv = format!(
            "{header}\n\
             r1,h1,2026-08-07,全球通,3,2,7,13812345678,是\n\
             r2,h1,2026-08-07,全球通,2,8,7,13900000000,否\n\
             r3,h1,2026-08-07,全球通,9,9,9,13700000000,yes\n\
             r4,h1,2026-08-07,全球通,8,4,9,li@example.cn,yes\n"
        );
        let opts = peakend_io::survey_csv::Options {
            ignore_unknown: false,
            halls: None,
            ..Default::default()
        };
        let responses = peakend_io::survey_csv::parse(csv.as_str(), &journey, &opts).unwrap();
        assert_eq!(responses[1].contact, None, "no consent, no contact");
        store.import_responses(&journey, &responses).await.unwrap();
        let mut cases = store.cases(&CaseFilter::default()).await.unwrap();
        cases.sort_by(|a, b| a.response.cmp(&b.response));
        let seen: Vec<(Option<&str>, &str, Option<&str>)> = cases
            .iter()
            .map(|c| {
                (
                    c.response.as_deref(),
                    c.moment.as_str(),
                    c.contact.as_deref(),
                )
            })
            .collect();
        // r1: a detractor, about its lowest-rated moment; r4: a moment rated 4 of 10.
        assert_eq!(
            seen,
            vec![
                (Some("r1"), "queue", Some("13812345678")),
                (Some("r4"), "queue", Some("li@example.cn")),
            ]
        );
        assert!(cases.iter().all(|c| c.source == CaseSource::Survey));
        // The stored answers carry no contact.
        let stored = store.responses(&journey, None, None, None).await.unwrap();
        assert!(stored.iter().all(|r| r.contact.is_none()));
        // Recommend of respondents without a case: r2 and r3.
        let (all, without) = store
            .survey_recommend(
                None,
                chrono::NaiveDate::from_ymd_opt(2026, 8, 1).unwrap(),
                chrono::NaiveDate::from_ymd_opt(2026, 8, 31).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(all.iter().map(|(_, c)| c).sum::<i64>(), 4);
        assert_eq!(without, vec![(2, 1), (9, 1)]);
    }
);

peakend_testkit::on_both_backends!(
    contacts_are_erased_on_schedule_and_repeat_customers_are_counted,
    |url| {
        let store = ready(url).await;
        let ids = store
            .open_cases(
                &[
                    manual("2026-08-01T09:00:00+08:00", "first", Some("138 1234 5678")),
                    manual("2026-08-20T09:00:00+08:00", "again", Some("+8613812345678")),
                    manual(
                        "2026-10-20T09:00:00+08:00",
                        "much later",
                        Some("13812345678"),
                    ),
                ],
                "mgr",
            )
            .await
            .unwrap();
        let f = store.case_figures(None, 0, i64::MAX / 2, 0).await.unwrap();
        assert_eq!(
            (f.with_contact, f.repeat),
            (3, 1),
            "the same customer within 30 days"
        );
        let id = ids[0].unwrap();
        let mut v = 1;
        for to in [CaseState::Acknowledged, CaseState::Investigating] {
            let go = CaseChange::Transition {
                to,
                note: None,
                root_cause: None,
                good_faith: None,
            };
            v = store
                .change_case(id, v, &go, "mgr", ms("2026-08-01T10:00:00+08:00"))
                .await
                .unwrap()
                .unwrap()
                .version;
        }
        let resolve = CaseChange::Transition {
            to: CaseState::Resolved,
            note: None,
            root_cause: Some("x".into()),
            good_faith: None,
        };
        v = store
            .change_case(id, v, &resolve, "mgr", ms("2026-08-01T10:00:00+08:00"))
            .await
            .unwrap()
            .unwrap()
            .version;
        let up = CaseChange::Transition {
            to: CaseState::FollowedUp,
            note: None,
            root_cause: None,
            good_faith: None,
        };
        v = store
            .change_case(id, v, &up, "mgr", ms("2026-08-01T10:00:00+08:00"))
            .await
            .unwrap()
            .unwrap()
            .version;
        let close = CaseChange::Transition {
            to: CaseState::Closed,
            note: None,
            root_cause: None,
            good_faith: None,
        };
        store
            .change_case(id, v, &close, "mgr", ms("2026-08-02T10:00:00+08:00"))
            .await
            .unwrap()
            .unwrap();
        // Not yet: closed after the cut-off.
        assert_eq!(
            store
                .erase_contacts(ms("2026-08-02T00:00:00+08:00"), 1)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .erase_contacts(ms("2026-09-01T00:00:00+08:00"), 2)
                .await
                .unwrap(),
            1
        );
        let c = store.case(id).await.unwrap().unwrap();
        assert_eq!(
            (c.contact, c.contact_erased_at, c.state),
            (None, Some(2), CaseState::Closed)
        );
        // Open cases keep theirs.
        assert!(
            store
                .case(ids[1].unwrap())
                .await
                .unwrap()
                .unwrap()
                .contact
                .is_some()
        );
    }
);

peakend_testkit::on_both_backends!(case_events_wait_in_the_outbox_until_delivered, |url| {
    let store = ready(url).await;
    let hook = store
        .add_webhook(
            "http://127.0.0.1:9/hook",
            "a-long-enough-secret",
            &["case.opened".into(), "case.escalated".into()],
        )
        .await
        .unwrap();
    let quiet = store
        .add_webhook(
            "http://127.0.0.1:9/other",
            "another-long-secret",
            &["case.closed".into()],
        )
        .await
        .unwrap();
    assert_ne!(hook, quiet);
    let id = store
        .open_cases(
            &[manual(
                "2026-08-07T09:00:00+08:00",
                "x",
                Some("13812345678"),
            )],
            "mgr",
        )
        .await
        .unwrap()[0]
        .unwrap();
    store
        .sweep_cases(ms("2026-08-07T11:01:00+08:00"))
        .await
        .unwrap();
    let due = store.due_deliveries(i64::MAX / 2, 10).await.unwrap();
    let events: Vec<&str> = due.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events, ["case.opened", "case.escalated"]);
    let body: serde_json::Value = serde_json::from_str(&due[0].body).unwrap();
    assert_eq!(body["case"]["id"], id.0);
    assert!(
        !due[0].body.contains("13812345678"),
        "no contact leaves in a webhook"
    );
    // A failed attempt waits for its retry; a delivered one is done.
    store
        .delivery_attempted(due[0].id, false, Some("HTTP 500"), 10, 1_000)
        .await
        .unwrap();
    store
        .delivery_attempted(due[1].id, true, None, 10, 0)
        .await
        .unwrap();
    assert!(store.due_deliveries(999, 10).await.unwrap().is_empty());
    assert_eq!(store.due_deliveries(1_000, 10).await.unwrap().len(), 1);
    assert!(store.remove_webhook(hook).await.unwrap());
    assert!(
        store
            .due_deliveries(i64::MAX / 2, 10)
            .await
            .unwrap()
            .is_empty()
    );
});

// Case KPIs of whole months come from each hall's kept month, counted again after any
// write to one of its cases: the kept figures always equal a count of the cases.
peakend_testkit::on_both_backends!(kept_months_of_cases_equal_a_fresh_count, |url| {
    let store = ready(url).await;
    let ids = store
        .open_cases(
            &[
                manual("2026-06-10T09:00:00+08:00", "june", Some("13812345678")),
                manual("2026-07-15T09:00:00+08:00", "july", Some("13812345678")),
                manual(
                    "2026-07-20T09:00:00+08:00",
                    "july again",
                    Some("13812345678"),
                ),
            ],
            "mgr",
        )
        .await
        .unwrap();
    let now = ms("2026-08-20T00:00:00+08:00");
    let june = ms("2026-06-01T00:00:00Z");
    let august = ms("2026-08-01T00:00:00Z");
    // June and July whole (kept), and June from its first millisecond on (counted).
    let kept = store.case_figures(None, june, august, now).await.unwrap();
    let counted = store
        .case_figures(None, june + 1, august, now)
        .await
        .unwrap();
    assert_eq!(kept, counted);
    assert_eq!(
        kept.by_source_moment,
        vec![(CaseSource::Manual, "dispute".into(), 3)]
    );
    // July 20 follows July 15 within 30 days; July 15 is 35 days after June 10.
    assert_eq!((kept.with_contact, kept.repeat), (3, 1));
    // Every deadline passed unmet: measured, not met.
    assert_eq!(kept.sla[0], (0, 3));
    assert_eq!(
        store.case_figures(None, june, august, now).await.unwrap(),
        kept,
        "read again"
    );
    // A write to a July case: July is counted again.
    let go = CaseChange::Transition {
        to: CaseState::Acknowledged,
        note: None,
        root_cause: None,
        good_faith: None,
    };
    store
        .change_case(
            ids[1].unwrap(),
            1,
            &go,
            "mgr",
            ms("2026-07-15T09:30:00+08:00"),
        )
        .await
        .unwrap()
        .unwrap();
    let after = store.case_figures(None, june, august, now).await.unwrap();
    assert_eq!(after.sla[0], (1, 3));
    assert_eq!(after.acknowledge_minutes, vec![(30, 1)]);
    assert_eq!(
        after,
        store
            .case_figures(None, june + 1, august, now)
            .await
            .unwrap()
    );
    // A hall's months only.
    let h2 = [HallId::parse("h2").unwrap()];
    let none = store
        .case_figures(Some(&h2), june, august, now)
        .await
        .unwrap();
    assert!(none.by_source_moment.is_empty());
});

// Ticket names start over each day: the same name on the next day, after midnight in
// the hall's zone, is another visit and opens its own case; the same day's does not.
peakend_testkit::on_both_backends!(a_ticket_name_of_the_next_day_is_another_cause, |url| {
    let store = ready(url).await;
    let h1 = HallId::parse("h1").unwrap();
    let visit = |day: &str, n: &str, hm: &str| {
        let at = |m: &str| format!("{day}T{m}:00+08:00");
        [
            format!(r#"{{"id":"{n}a","hall":"h1","at":"{}","type":"ticket_issued","ticket":"A1","service":"bill"}}"#, at(hm)),
            format!(r#"{{"id":"{n}b","hall":"h1","at":"{}","type":"called","ticket":"A1","counter":"c1","staff":"S01"}}"#, at(hm)),
            format!(r#"{{"id":"{n}c","hall":"h1","at":"{}","type":"service_started","ticket":"A1","counter":"c1"}}"#, at(hm)),
            format!(r#"{{"id":"{n}d","hall":"h1","at":"{}","type":"service_ended","ticket":"A1","counter":"c1","outcome":"unresolved"}}"#, at(hm)),
        ]
        .to_vec()
    };
    // 23:50 on Friday and 00:10 on Saturday, in one batch across midnight.
    let mut batch = visit("2026-08-07", "f", "23:50");
    batch.extend(visit("2026-08-08", "s", "00:10"));
    let out = store
        .ingest_events(&h1, lines(&batch), Vec::new())
        .await
        .unwrap();
    assert_eq!((out.accepted, out.cases_opened), (8, 2), "{out:?}");
    // A second batch of Saturday's day: a rating of the same ticket is its own cause
    // (low rating), but no second unresolved case.
    let later = vec![
        event(
            "s9",
            "00:20",
            r#""type":"rated","ticket":"A1","score":1,"scale":5"#,
        )
        .replace("2026-08-07T00:20", "2026-08-08T00:20"),
    ];
    let out = store
        .ingest_events(&h1, lines(&later), Vec::new())
        .await
        .unwrap();
    assert_eq!(out.cases_opened, 1);
    let cases = store.cases(&CaseFilter::default()).await.unwrap();
    let mut opened: Vec<(CaseSource, i64)> =
        cases.iter().map(|c| (c.source, c.opened_at)).collect();
    opened.sort();
    assert_eq!(
        opened,
        vec![
            (CaseSource::Unresolved, ms("2026-08-07T23:50:00+08:00")),
            (CaseSource::Unresolved, ms("2026-08-08T00:10:00+08:00")),
            (CaseSource::LowRating, ms("2026-08-08T00:20:00+08:00")),
        ]
    );
    // Saturday's case: acknowledge by 02:10, resolve by Tuesday (two working days on
    // from a weekend start: Monday and Tuesday).
    let saturday = cases
        .iter()
        .find(|c| c.opened_at == ms("2026-08-08T00:10:00+08:00"))
        .unwrap();
    assert_eq!(saturday.acknowledge_due, ms("2026-08-08T02:10:00+08:00"));
    assert_eq!(saturday.resolve_due, ms("2026-08-11T00:10:00+08:00"));
});
