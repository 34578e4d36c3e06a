//! Issue 21's storage stories, each on a fresh SQLite file and a fresh PostgreSQL
//! database: a day's automatic checks made from its events (a counter closed during
//! pre-processing fails the peak check where another hall passes), made again when a
//! late event changes the day, and an audit with a photo counted into the hall's
//! compliance, all or nothing.

use chrono::NaiveDate;
use peakend_core::audit::{Checker, ComplianceBy};
use peakend_core::{HallId, MomentKey, OrgLevel, OrgNodeId, StandardKey};
use peakend_store::{AuditStore, CheckGrouping, NewAudit, NewAuditItem, SqlStore, Store, connect};

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
    store
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// A busy morning at `hall` on Friday 2026-08-07: two counters open, eight customers
/// in eight minutes (four a counter: pre-processing), then, at `hall` h1 only, counter
/// c2 closes while the queue is still long. Both kiosks are checked at h1, one at h2.
fn morning(hall: &str) -> Vec<String> {
    let ev = |id: String, hm: &str, body: String| {
        format!(r#"{{"id":"{id}","hall":"{hall}","at":"2026-08-07T{hm}:00+08:00",{body}}}"#)
    };
    let mut lines = vec![
        ev(
            "o1".into(),
            "08:55",
            r#""type":"counter_opened","counter":"c1""#.into(),
        ),
        ev(
            "o2".into(),
            "08:55",
            r#""type":"counter_opened","counter":"c2""#.into(),
        ),
        ev(
            "k1".into(),
            "08:50",
            r#""type":"kiosk_checked","kiosk":"k1""#.into(),
        ),
    ];
    if hall == "h1" {
        lines.push(ev(
            "k2".into(),
            "08:51",
            r#""type":"kiosk_checked","kiosk":"k2""#.into(),
        ));
    }
    for i in 1..=8 {
        lines.push(ev(
            format!("t{i}"),
            &format!("09:0{i}"),
            format!(r#""type":"ticket_issued","ticket":"A{i}","service":"bill""#),
        ));
    }
    if hall == "h1" {
        lines.push(ev(
            "x".into(),
            "09:09",
            r#""type":"counter_closed","counter":"c2""#.into(),
        ));
    }
    lines
}

async fn ingest(store: &SqlStore, hall: &str, lines: &[String]) {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = store
        .ingest_events(
            &HallId::parse(hall).unwrap(),
            peakend_testkit::event_batch(&refs),
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(out.rejected.is_empty(), "{out:?}");
}

fn auto(rows: &[peakend_core::audit::CheckRow], hall: &str, standard: &str) -> (i64, i64) {
    rows.iter()
        .filter(|r| r.hall == hall && r.standard == standard && r.source == "auto")
        .fold((0, 0), |(m, p), r| (m + r.made, p + r.passed))
}

const DAY: &str = "2026-08-07";

peakend_testkit::on_both_backends!(
    a_counter_closed_during_pre_processing_fails_the_peak_check_where_another_hall_passes,
    |url| {
        let store = ready(url).await;
        ingest(&store, "h1", &morning("h1")).await;
        ingest(&store, "h2", &morning("h2")).await;
        let day = NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
        // Not before the day has ended.
        let n = peakend_store::close_days(&store, ms("2026-08-07T23:00:00+08:00"), 100)
            .await
            .unwrap();
        assert_eq!(n, 0);
        let n = peakend_store::close_days(&store, ms("2026-08-09T01:00:00+08:00"), 100)
            .await
            .unwrap();
        assert_eq!(n, 2, "both hall-days checked");
        let rows = store
            .check_rows(None, day, day, CheckGrouping::Standards)
            .await
            .unwrap();
        assert_eq!(auto(&rows, "h1", "no_closed_counters_peak"), (1, 0));
        assert_eq!(auto(&rows, "h2", "no_closed_counters_peak"), (1, 1));
        // Two kiosks each (the org says so): h1 checked both, h2 one.
        assert_eq!(auto(&rows, "h1", "device_check"), (1, 1));
        assert_eq!(auto(&rows, "h2", "device_check"), (1, 0));
        // Checked once: a second sweep finds nothing to do.
        assert_eq!(
            peakend_store::close_days(&store, ms("2026-08-09T02:00:00+08:00"), 100)
                .await
                .unwrap(),
            0
        );

        // A late event of that day (h2's second kiosk was checked after all): the day
        // is checked again, replacing its figures, and the month does not double.
        ingest(
            &store,
            "h2",
            &[r#"{"id":"late","hall":"h2","at":"2026-08-07T17:00:00+08:00","type":"kiosk_checked","kiosk":"k2"}"#.to_owned()],
        )
        .await;
        assert_eq!(
            peakend_store::close_days(&store, ms("2026-08-09T03:00:00+08:00"), 100)
                .await
                .unwrap(),
            1
        );
        let month = store
            .check_rows(
                None,
                NaiveDate::from_ymd_opt(2026, 8, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 8, 31).unwrap(),
                CheckGrouping::Standards,
            )
            .await
            .unwrap();
        assert_eq!(auto(&month, "h2", "device_check"), (1, 1));
        assert_eq!(auto(&month, "h2", "no_closed_counters_peak"), (1, 1));
        assert_eq!(auto(&month, "h1", "no_closed_counters_peak"), (1, 0));

        // The server's sweep waits for a day to stop gaining events: a later event of
        // that day is seen by one sweep and checked by the next.
        let mut settling = peakend_store::Settling::default();
        let at = ms("2026-08-09T04:00:00+08:00");
        assert_eq!(
            peakend_store::close_settled_days(&store, at, 100, &mut settling)
                .await
                .unwrap(),
            0,
            "nothing due"
        );
        ingest(
            &store,
            "h1",
            &[r#"{"id":"late2","hall":"h1","at":"2026-08-07T18:00:00+08:00","type":"kiosk_checked","kiosk":"k1"}"#.to_owned()],
        )
        .await;
        for (sweep, checked) in [(1, 0), (2, 1), (3, 0)] {
            let n = peakend_store::close_settled_days(&store, at, 100, &mut settling)
                .await
                .unwrap();
            assert_eq!(n, checked, "sweep {sweep}");
        }

        let report = peakend_store::compliance(
            &store,
            &OrgNodeId::parse("d1").unwrap(),
            day,
            day,
            ComplianceBy::Hall,
        )
        .await
        .unwrap();
        assert_eq!(report.league.len(), 2);
        assert_eq!(report.league[0].hall, "h2", "{:?}", report.league);
        assert!(report.league[0].index > report.league[1].index);
    }
);

fn item(
    standard: &str,
    moment: &str,
    result: &str,
    passed: bool,
    photo: Option<&str>,
) -> NewAuditItem {
    NewAuditItem {
        standard: StandardKey::parse(standard).unwrap(),
        moment: MomentKey::parse(moment).unwrap(),
        result: result.into(),
        passed,
        note: None,
        photo: photo.map(str::to_owned),
    }
}

peakend_testkit::on_both_backends!(
    an_audit_with_a_photo_counts_into_the_hall_s_compliance,
    |url| {
        let store = ready(url).await;
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let photo = store.put_photo(&jpeg, "image/jpeg", "mgr").await.unwrap();
        assert_eq!(photo.len(), 64);
        // The same bytes again are the same photo.
        assert_eq!(
            store.put_photo(&jpeg, "image/jpeg", "mgr").await.unwrap(),
            photo
        );
        assert_eq!(
            store.photo(&photo).await.unwrap(),
            Some(("image/jpeg".to_owned(), jpeg.to_vec()))
        );
        let day = NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let audit = |items| NewAudit {
            hall: HallId::parse("h1").unwrap(),
            kind: Checker::Walk,
            at_ms: ms("2026-08-07T10:00:00+08:00"),
            day,
            journey: peakend_core::JourneyKey::parse("service-hall").unwrap(),
            by: "mgr".into(),
            call: None,
            agent: None,
            items,
        };
        // A photo never uploaded refuses the whole audit: nothing is counted.
        let err = store
            .record_audit(&audit(vec![
                item("clean_radius", "storefront", "yes", true, None),
                item(
                    "max_standing_signs",
                    "storefront",
                    "5",
                    false,
                    Some(&"0".repeat(64)),
                ),
            ]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("was not uploaded"), "{err}");
        assert!(
            store
                .check_rows(None, day, day, CheckGrouping::Standards)
                .await
                .unwrap()
                .is_empty()
        );

        let id = store
            .record_audit(&audit(vec![
                item("clean_radius", "storefront", "yes", true, None),
                item("max_standing_signs", "storefront", "5", false, Some(&photo)),
            ]))
            .await
            .unwrap();
        assert!(id > 0);
        let rows = store
            .check_rows(None, day, day, CheckGrouping::Standards)
            .await
            .unwrap();
        let walk: Vec<(&str, i64, i64)> = rows
            .iter()
            .filter(|r| r.source == "walk")
            .map(|r| (r.standard.as_str(), r.made, r.passed))
            .collect();
        assert_eq!(walk.len(), 2);
        assert!(walk.contains(&("clean_radius", 1, 1)));
        assert!(walk.contains(&("max_standing_signs", 1, 0)));
        let summary = store
            .audits(&HallId::parse("h1").unwrap(), 0)
            .await
            .unwrap();
        assert_eq!(
            (summary.len(), summary[0].items, summary[0].passed),
            (1, 2, 1)
        );
        let report = peakend_store::compliance(
            &store,
            &OrgNodeId::parse("h1").unwrap(),
            day,
            day,
            ComplianceBy::Moment,
        )
        .await
        .unwrap();
        let storefront = report.lines.iter().find(|l| l.key == "storefront").unwrap();
        assert_eq!((storefront.made, storefront.passed), (2, 1));
    }
);
