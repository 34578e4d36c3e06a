//! Issue 22's call monitoring as stored, on a fresh SQLite file and a fresh PostgreSQL
//! database: a monitored call is found among its centre's stored events (with the
//! agents who took it), an unknown one is told apart from a centre that sends no
//! events, and a monitoring audit counts in the centre's compliance under the source
//! `monitoring`, per agent too, but not in the region's report of its halls.

use chrono::NaiveDate;
use peakend_core::audit::{Checker, ComplianceBy};
use peakend_core::{HallId, MomentKey, OrgLevel, OrgNodeId, StandardKey};
use peakend_store::{
    AuditStore, CallOnRecord, CheckGrouping, NewAudit, NewAuditItem, SqlStore, Store, connect,
};

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    store.load_builtin_journeys().await.unwrap();
    let node = |id, parent, level| peakend_testkit::org_node(id, parent, level, 0, 0);
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("d1", Some("c1"), OrgLevel::District),
            node("h1", Some("d1"), OrgLevel::Hall),
            node("cc", Some("c1"), OrgLevel::Centre),
            node("cc2", Some("c1"), OrgLevel::Centre),
            node("c2", Some("p"), OrgLevel::City),
            node("d2", Some("c2"), OrgLevel::District),
            node("h2", Some("d2"), OrgLevel::Hall),
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

/// Centre `cc`'s morning of 2026-08-07: k1 answered by A01; k2 abandoned; k3 answered
/// by A01 and transferred to A02; k4 (a call id with spaces and Chinese) answered by A03.
fn calls() -> Vec<String> {
    let ev = |id: &str, hms: &str, body: &str| {
        format!(r#"{{"id":"{id}","hall":"cc","at":"2026-08-07T{hms}+08:00",{body}}}"#)
    };
    vec![
        ev(
            "e1",
            "09:00:00",
            r#""type":"call_offered","call":"k1","queue":"bill""#,
        ),
        ev(
            "e2",
            "09:00:10",
            r#""type":"call_answered","call":"k1","agent":"A01""#,
        ),
        ev(
            "e3",
            "09:03:00",
            r#""type":"call_ended","call":"k1","outcome":"done","acw_s":20"#,
        ),
        ev(
            "e4",
            "09:01:00",
            r#""type":"call_offered","call":"k2","queue":"bill""#,
        ),
        ev("e5", "09:01:40", r#""type":"call_abandoned","call":"k2""#),
        ev(
            "e6",
            "09:05:00",
            r#""type":"call_offered", "call" : "k3","queue":"tech""#,
        ),
        ev(
            "e7",
            "09:05:05",
            r#""type":"call_answered","call":"k3","agent":"A01""#,
        ),
        ev(
            "e8",
            "09:06:00",
            r#""type":"call_transferred","call":"k3","queue":"bill","agent":"A02""#,
        ),
        ev(
            "e9",
            "09:09:00",
            r#""type":"call_ended","call":"k3","outcome":"done","acw_s":10"#,
        ),
        ev(
            "e10",
            "09:10:00",
            r#""type":"call_offered","call":"话务 k4","queue":"bill""#,
        ),
        ev(
            "e11",
            "09:10:02",
            r#""type":"call_answered","call":"话务 k4","agent":"A03""#,
        ),
    ]
}

fn item(moment: &str, standard: &str, result: &str, passed: bool) -> NewAuditItem {
    NewAuditItem {
        standard: StandardKey::parse(standard).unwrap(),
        moment: MomentKey::parse(moment).unwrap(),
        result: result.into(),
        passed,
        note: None,
        photo: None,
    }
}

fn monitoring(call: &str, agent: &str, items: Vec<NewAuditItem>) -> NewAudit {
    NewAudit {
        hall: HallId::parse("cc").unwrap(),
        kind: Checker::Monitoring,
        at_ms: ms("2026-08-07T15:00:00+08:00"),
        day: NaiveDate::from_ymd_opt(2026, 8, 7).unwrap(),
        journey: peakend_core::JourneyKey::parse("hotline").unwrap(),
        by: "qa".into(),
        call: Some(call.into()),
        agent: Some(agent.into()),
        items,
    }
}

peakend_testkit::on_both_backends!(
    a_monitored_call_is_found_by_its_id_and_counts_in_its_centre_s_compliance,
    |url| {
        let store = ready(url).await;
        let lines = calls();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let out = store
            .ingest_events(
                &HallId::parse("cc").unwrap(),
                peakend_testkit::event_batch(&refs),
                Vec::new(),
            )
            .await
            .unwrap();
        assert!(out.rejected.is_empty(), "{out:?}");
        let cc = HallId::parse("cc").unwrap();

        // The calls as their events tell them.
        assert_eq!(
            store.call_on_record(&cc, "k1").await.unwrap(),
            CallOnRecord::Found {
                offered_at: Some(ms("2026-08-07T09:00:00+08:00")),
                agents: vec!["A01".into()],
            }
        );
        assert_eq!(
            store.call_on_record(&cc, "k3").await.unwrap(),
            CallOnRecord::Found {
                offered_at: Some(ms("2026-08-07T09:05:00+08:00")),
                agents: vec!["A01".into(), "A02".into()],
            },
            "the agent it was transferred to took it too"
        );
        assert_eq!(
            store.call_on_record(&cc, "k2").await.unwrap(),
            CallOnRecord::Found {
                offered_at: Some(ms("2026-08-07T09:01:00+08:00")),
                agents: vec![],
            },
            "abandoned: never answered"
        );
        assert_eq!(
            store.call_on_record(&cc, "话务 k4").await.unwrap(),
            CallOnRecord::Found {
                offered_at: Some(ms("2026-08-07T09:10:00+08:00")),
                agents: vec!["A03".into()],
            }
        );
        assert_eq!(
            store.call_on_record(&cc, "k9").await.unwrap(),
            CallOnRecord::Unknown
        );
        // A call id is matched whole, not as a prefix or a pattern.
        assert_eq!(
            store.call_on_record(&cc, "k%").await.unwrap(),
            CallOnRecord::Unknown
        );
        // The other centre sends no events: its calls cannot be checked.
        assert_eq!(
            store
                .call_on_record(&HallId::parse("cc2").unwrap(), "k1")
                .await
                .unwrap(),
            CallOnRecord::NoEvents
        );

        // Two monitored calls: A01's k1 (a hold of 75 s fails), A02's part of k3.
        store
            .record_audit(&monitoring(
                "k1",
                "A01",
                vec![
                    item("greeting", "standard_greeting", "yes", true),
                    item("resolve", "hold_max", "75", false),
                    item("close", "closing_phrase", "yes", true),
                ],
            ))
            .await
            .unwrap();
        store
            .record_audit(&monitoring(
                "k3",
                "A02",
                vec![
                    item("greeting", "standard_greeting", "yes", true),
                    item("resolve", "transfer_max", "1", true),
                ],
            ))
            .await
            .unwrap();
        let listed = store.audits(&cc, 0).await.unwrap();
        assert_eq!(listed.len(), 2);
        let k1 = listed
            .iter()
            .find(|a| a.call.as_deref() == Some("k1"))
            .unwrap();
        assert_eq!(
            (k1.kind.as_str(), k1.agent.as_deref(), k1.items, k1.passed),
            ("monitoring", Some("A01"), 3, 2)
        );

        let day = NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let rows = store
            .check_rows(None, day, day, CheckGrouping::Standards)
            .await
            .unwrap();
        let greeting: Vec<_> = rows
            .iter()
            .filter(|r| r.standard == "standard_greeting")
            .collect();
        assert_eq!(greeting.len(), 1);
        assert_eq!(
            (
                greeting[0].hall.as_str(),
                greeting[0].source.as_str(),
                greeting[0].made,
                greeting[0].passed
            ),
            ("cc", "monitoring", 2, 2)
        );

        // The centre's own report: 5 checks, 4 passed, by standard with its source.
        let centre = OrgNodeId::parse("cc").unwrap();
        let from = NaiveDate::from_ymd_opt(2026, 8, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 8, 31).unwrap();
        let rep = peakend_store::compliance(&store, &centre, from, to, ComplianceBy::Standard)
            .await
            .unwrap();
        assert_eq!((rep.made, rep.passed), (5, 4));
        let hold = rep.lines.iter().find(|l| l.key == "hold_max").unwrap();
        assert_eq!(hold.moment.as_deref(), Some("resolve"));
        assert_eq!(hold.compliance, Some(0.0));
        assert_eq!(
            (
                hold.sources["monitoring"].made,
                hold.sources["monitoring"].passed
            ),
            (1, 0)
        );
        assert_eq!(
            rep.lines.first().map(|l| l.key.as_str()),
            Some("standard_greeting"),
            "the hotline's order"
        );
        assert_eq!(rep.months.len(), 1);
        assert_eq!((rep.months[0].made, rep.months[0].passed), (5, 4));

        // Per agent: A01 2 of 3, A02 2 of 2 (asked of the centre or of the city).
        for node in ["cc", "c1"] {
            let rep = peakend_store::compliance(
                &store,
                &OrgNodeId::parse(node).unwrap(),
                from,
                to,
                ComplianceBy::Agent,
            )
            .await
            .unwrap();
            let agents: Vec<(&str, &str, i64, i64)> = rep
                .lines
                .iter()
                .map(|l| (l.hall.as_deref().unwrap(), l.key.as_str(), l.made, l.passed))
                .collect();
            assert_eq!(agents, [("cc", "A01", 3, 2), ("cc", "A02", 2, 2)], "{node}");
            assert_eq!((rep.made, rep.passed), (5, 4), "{node}");
        }
        // Another month: no agent checks.
        let rep = peakend_store::compliance(
            &store,
            &centre,
            NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(),
            ComplianceBy::Agent,
        )
        .await
        .unwrap();
        assert!(rep.lines.is_empty());

        // The region's report is of its halls: the centre's calls are not in it, whether
        // the node covers every hall (the province) or names its halls (the city).
        for node in ["p", "c1"] {
            let rep = peakend_store::compliance(
                &store,
                &OrgNodeId::parse(node).unwrap(),
                from,
                to,
                ComplianceBy::Standard,
            )
            .await
            .unwrap();
            assert_eq!((rep.made, rep.passed), (0, 0), "{node}");
            assert!(rep.months.iter().all(|m| m.made == 0), "{node}");
        }
    }
);
