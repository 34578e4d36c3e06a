//! Data trials across midnight, stored (issue 23): a trial started at 23:50 and ended
//! at 00:10 with a purchase counts its start on the first day and its end and purchase
//! on the second, from the ingest's roll-ups and from a replay alike, on SQLite and
//! PostgreSQL; nothing is quarantined.

use chrono::{FixedOffset, NaiveDate};
use peakend_core::HallId;
use peakend_core::ops::kpi::{Bucket, KpiReport};
use peakend_core::ops::sales::TrialSums;
use peakend_store::{KpiQuery, SqlStore, Store, connect, stored_kpis};

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    crate::with_small_org(&store, &[("h1", "一号厅"), ("h2", "二号厅")]).await;
    store
}

fn line(hall: &str, id: &str, at: &str, kind: &str, fields: &str) -> String {
    format!(r#"{{"id":"{id}","hall":"{hall}","type":"{kind}","at":"{at}:00+08:00",{fields}}}"#)
}

/// Day 1 (2026-08-07): P1 served by s1 from 23:40 to 23:55, its customer trying a phone
/// from 23:50 (trial T1). Day 2: T1 ends at 00:10 with a purchase, naming yesterday's
/// ticket; Q1 is served by s2.
fn evening(hall: &str) -> Vec<String> {
    let d1 = |hm: &str| format!("2026-08-07T{hm}");
    vec![
        line(
            hall,
            "a1",
            &d1("23:40"),
            "ticket_issued",
            r#""ticket":"P1","service":"phone""#,
        ),
        line(
            hall,
            "a2",
            &d1("23:40"),
            "called",
            r#""ticket":"P1","counter":"c1","staff":"s1""#,
        ),
        line(
            hall,
            "a3",
            &d1("23:41"),
            "service_started",
            r#""ticket":"P1","counter":"c1""#,
        ),
        line(
            hall,
            "a4",
            &d1("23:50"),
            "trial_started",
            r#""trial":"T1","ticket":"P1","device":"Mate 60""#,
        ),
        line(
            hall,
            "a5",
            &d1("23:55"),
            "service_ended",
            r#""ticket":"P1","counter":"c1","outcome":"done""#,
        ),
    ]
}

fn after_midnight(hall: &str) -> Vec<String> {
    let d2 = |hm: &str| format!("2026-08-08T{hm}");
    vec![
        line(
            hall,
            "b1",
            &d2("00:05"),
            "ticket_issued",
            r#""ticket":"Q1","service":"data""#,
        ),
        line(
            hall,
            "b2",
            &d2("00:05"),
            "called",
            r#""ticket":"Q1","counter":"c2","staff":"s2""#,
        ),
        line(
            hall,
            "b3",
            &d2("00:10"),
            "trial_ended",
            r#""trial":"T1","ticket":"P1","purchased":true"#,
        ),
    ]
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
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(out.accepted, lines.len());
}

async fn kpis(store: &SqlStore, from: &str, to: &str) -> KpiReport {
    let date = |d: &str| d.parse::<NaiveDate>().unwrap();
    stored_kpis(
        store,
        &KpiQuery {
            org: None,
            from: date(from),
            to: date(to),
            bucket: Bucket::Day,
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
            now_ms: i64::MAX / 4,
        },
    )
    .await
    .unwrap()
}

fn trials(r: &KpiReport, key: &str) -> TrialSums {
    r.halls
        .iter()
        .chain(&r.staff)
        .find(|k| k.key == key)
        .map(|k| k.kpis.sales.trials)
        .unwrap_or_default()
}

const fn sums(started: u64, ended: u64, purchased: u64) -> TrialSums {
    TrialSums {
        started,
        ended,
        purchased,
    }
}

/// What both halls must show, however their days were answered.
fn check(r1: &KpiReport, r2: &KpiReport, both: &KpiReport, hall: &str) {
    assert_eq!(trials(r1, hall), sums(1, 0, 0));
    assert_eq!(trials(r1, &format!("{hall}/s1")), sums(1, 0, 0));
    // The second day counts the end and the purchase, to the server who started it.
    assert_eq!(trials(r2, hall), sums(0, 1, 1));
    assert_eq!(trials(r2, &format!("{hall}/s1")), sums(0, 1, 1));
    assert_eq!(trials(r2, &format!("{hall}/s2")), sums(0, 0, 0));
    let h2 = r2.halls.iter().find(|k| k.key == hall).unwrap();
    assert_eq!(h2.kpis.sales.trial_conversion, Some(1.0));
    // Over both days: started once, ended once.
    assert_eq!(trials(both, hall), sums(1, 1, 1));
}

peakend_testkit::on_both_backends!(a_trial_across_midnight_counts_on_each_day, |url| {
    let store = ready(url).await;
    // h1: the evening in one batch, the morning in another; h2: both days in one batch.
    ingest(&store, "h1", &evening("h1")).await;
    ingest(&store, "h1", &after_midnight("h1")).await;
    let mut all = evening("h2");
    all.extend(after_midnight("h2"));
    ingest(&store, "h2", &all).await;
    assert!(store.quarantined(None).await.unwrap().is_empty());

    let r1 = kpis(&store, "2026-08-07", "2026-08-07").await;
    let r2 = kpis(&store, "2026-08-08", "2026-08-08").await;
    let both = kpis(&store, "2026-08-07", "2026-08-08").await;
    for hall in ["h1", "h2"] {
        check(&r1, &r2, &both, hall);
    }
    assert_eq!(r2.total.sales.trials, sums(0, 2, 2));
    assert_eq!(r2.total.sales.trial_conversion, Some(1.0));

    // The day's roll-up hands its open trial on; the second day's has none open.
    let rollup = |day: &str| {
        let store = store.clone();
        let day = day.parse::<NaiveDate>().unwrap();
        async move {
            store
                .ops_rollup(&HallId::parse("h1").unwrap(), day)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let first = rollup("2026-08-07").await;
    assert_eq!(first.open_trials.len(), 1);
    assert_eq!(first.open_trials[0].trial, "T1");
    assert_eq!(first.open_trials[0].staff.as_deref(), Some("s1"));
    assert!(rollup("2026-08-08").await.open_trials.is_empty());

    // The live replay of the second day (the board's) knows the trial ended.
    let rules = peakend_store::hall_rules(&store, &HallId::parse("h1").unwrap())
        .await
        .unwrap();
    let midnight = peakend_store::local_midnight(
        "2026-08-08".parse().unwrap(),
        FixedOffset::east_opt(8 * 3600).unwrap(),
    );
    let day = peakend_store::replay_day(
        &store,
        &HallId::parse("h1").unwrap(),
        rules,
        midnight,
        midnight + 3_600_000,
    )
    .await
    .unwrap();
    let t1 = day.trials().find(|t| t.trial == "T1").unwrap();
    assert!(t1.carried && t1.purchased == Some(true));

    // Replayed instead of read from roll-ups (the second day alone, then both): the
    // same figures, the first day's open trial from its roll-up or its replay.
    peakend_testkit::execute(
        url,
        "UPDATE ops_rollup SET rollup = NULL WHERE day = '2026-08-08'",
    )
    .await;
    let r2 = kpis(&store, "2026-08-08", "2026-08-08").await;
    let both = kpis(&store, "2026-08-07", "2026-08-08").await;
    for hall in ["h1", "h2"] {
        check(&r1, &r2, &both, hall);
    }
    // With no roll-up at all, the second day alone replays the first for its trials.
    peakend_testkit::execute(url, "UPDATE ops_rollup SET rollup = NULL").await;
    let r1 = kpis(&store, "2026-08-07", "2026-08-07").await;
    let r2 = kpis(&store, "2026-08-08", "2026-08-08").await;
    let both = kpis(&store, "2026-08-07", "2026-08-08").await;
    for hall in ["h1", "h2"] {
        check(&r1, &r2, &both, hall);
    }
});

peakend_testkit::on_both_backends!(
    a_trial_end_sent_before_the_evening_it_started_is_judged_again_then,
    |url| {
        let store = ready(url).await;
        let h1 = HallId::parse("h1").unwrap();
        // The morning first: its trial_ended names last night's ticket, not known yet.
        let morning = after_midnight("h1");
        let refs: Vec<&str> = morning.iter().map(String::as_str).collect();
        let out = store
            .ingest_events(&h1, peakend_testkit::event_batch(&refs), Vec::new())
            .await
            .unwrap();
        assert_eq!(out.accepted, 2);
        assert_eq!(out.rejected.len(), 1, "{:?}", out.rejected);
        assert!(out.rejected[0].reason.contains("unknown ticket `P1`"));
        // The evening comes late: its trial is carried into the morning, and the held
        // end is applied there, counted to the server who started it.
        let evening = evening("h1");
        let refs: Vec<&str> = evening.iter().map(String::as_str).collect();
        let out = store
            .ingest_events(&h1, peakend_testkit::event_batch(&refs), Vec::new())
            .await
            .unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        assert_eq!((out.accepted, out.released), (5, 1));
        assert!(store.quarantined(None).await.unwrap().is_empty());
        let r1 = kpis(&store, "2026-08-07", "2026-08-07").await;
        let r2 = kpis(&store, "2026-08-08", "2026-08-08").await;
        let both = kpis(&store, "2026-08-07", "2026-08-08").await;
        check(&r1, &r2, &both, "h1");
        // Sent again, nothing changes.
        let out = store
            .ingest_events(&h1, peakend_testkit::event_batch(&refs), Vec::new())
            .await
            .unwrap();
        assert_eq!((out.accepted, out.duplicates, out.released), (0, 5, 0));
    }
);
