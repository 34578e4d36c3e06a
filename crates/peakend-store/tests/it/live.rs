//! A live board's looks (issue 24): each look reads only the day's tail and must show
//! what a whole replay of the day shows, whatever order the events arrive in, on SQLite
//! and PostgreSQL.

use chrono::FixedOffset;
use peakend_core::HallId;
use peakend_core::ops::day::HallDay;
use peakend_store::{LiveDay, SqlStore, Store, connect, hall_rules, local_midnight, replay_day};

fn line(id: &str, at: &str, kind: &str, fields: &str) -> String {
    format!(r#"{{"id":"{id}","hall":"h1","type":"{kind}","at":"2026-08-07T{at}+08:00",{fields}}}"#)
}

fn ms(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&format!("2026-08-07T{at}+08:00"))
        .unwrap()
        .timestamp_millis()
}

/// What a board shows of a day: the queue and every alert.
fn shown(day: &HallDay, now: i64) -> String {
    format!(
        "{}\n{}",
        serde_json::to_string(&day.queue(now)).unwrap(),
        serde_json::to_string(day.alerts()).unwrap()
    )
}

async fn ingest(store: &SqlStore, lines: &[String]) {
    let h1 = HallId::parse("h1").unwrap();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    store
        .ingest_events(&h1, peakend_testkit::event_batch(&lines), Vec::new())
        .await
        .unwrap();
}

/// Looks at `now`, checks it against a whole replay and returns what to keep.
async fn look(store: &SqlStore, kept: Option<LiveDay>, start: i64, now: i64) -> LiveDay {
    let h1 = HallId::parse("h1").unwrap();
    let rules = hall_rules(store, &h1).await.unwrap();
    let (day, kept) = LiveDay::look(kept, store, &h1, rules.clone(), start, now)
        .await
        .unwrap();
    let whole = replay_day(store, &h1, rules, start, now).await.unwrap();
    assert_eq!(shown(&day, now), shown(&whole, now), "the look at {now}");
    kept
}

peakend_testkit::on_both_backends!(
    a_live_look_reads_the_days_tail_and_shows_what_a_whole_replay_shows,
    |url| {
        let store = connect(url).await.unwrap();
        crate::with_small_org(&store, &[("h1", "一号厅")]).await;
        let start = local_midnight(
            "2026-08-07".parse().unwrap(),
            FixedOffset::east_opt(8 * 3600).unwrap(),
        );
        ingest(
            &store,
            &[
                line("e1", "09:00:00", "counter_opened", r#""counter":"c1""#),
                line(
                    "e2",
                    "09:00:00",
                    "ticket_issued",
                    r#""ticket":"A1","service":"payment""#,
                ),
                line(
                    "e3",
                    "09:01:00",
                    "ticket_issued",
                    r#""ticket":"A2","service":"payment""#,
                ),
            ],
        )
        .await;
        let kept = look(&store, None, start, ms("09:02:00")).await;
        assert_eq!(kept.replays, 1);

        // Events after the last one read: applied to the kept day, no whole replay.
        ingest(
            &store,
            &[
                line(
                    "e4",
                    "09:03:00",
                    "called",
                    r#""ticket":"A1","counter":"c1""#,
                ),
                line(
                    "e5",
                    "09:03:00",
                    "service_started",
                    r#""ticket":"A1","counter":"c1""#,
                ),
                line(
                    "e5b",
                    "09:08:00",
                    "service_ended",
                    r#""ticket":"A1","counter":"c1","outcome":"done""#,
                ),
            ],
        )
        .await;
        let kept = look(&store, Some(kept), start, ms("09:04:00")).await;
        assert_eq!(kept.replays, 1, "a tail in order is applied, not replayed");

        // A2 has waited 15 minutes by 09:16: the wait alert comes due on the copy the
        // look advances, and again on the next look's copy, never on the kept day.
        let h1 = HallId::parse("h1").unwrap();
        let rules = hall_rules(&store, &h1).await.unwrap();
        let (day, kept) = LiveDay::look(Some(kept), &store, &h1, rules, start, ms("09:16:30"))
            .await
            .unwrap();
        assert_eq!(day.alerts().len(), 1, "{:?}", day.alerts());
        assert_eq!(kept.replays, 1);

        // A device's event sent at 09:10 and stored after the 09:16 look: A2 was called
        // before its wait ran out, so no alert. It follows the last event read (09:08),
        // so it is applied to the kept day, which was never advanced past 09:08: had
        // it been, it would keep the alert.
        ingest(
            &store,
            &[line(
                "e6",
                "09:10:00",
                "called",
                r#""ticket":"A2","counter":"c1""#,
            )],
        )
        .await;
        let kept = look(&store, Some(kept), start, ms("09:17:00")).await;
        assert_eq!(kept.replays, 1);
        let whole = replay_day(
            &store,
            &h1,
            hall_rules(&store, &h1).await.unwrap(),
            start,
            ms("09:17:00"),
        )
        .await
        .unwrap();
        assert!(whole.alerts().is_empty(), "{:?}", whole.alerts());

        // An event before the last one read (09:05 < 09:10): the count of the day's
        // events finds it and the day is replayed whole.
        ingest(
            &store,
            &[line(
                "e7",
                "09:05:00",
                "ticket_issued",
                r#""ticket":"A3","service":"payment""#,
            )],
        )
        .await;
        let kept = look(&store, Some(kept), start, ms("09:17:30")).await;
        assert_eq!(
            kept.replays, 2,
            "an event before the tail replays the day whole"
        );

        // An event at the very instant of the last one read, but sorting before it.
        ingest(
            &store,
            &[line(
                "e0",
                "09:10:00",
                "counter_opened",
                r#""counter":"c2""#,
            )],
        )
        .await;
        let kept = look(&store, Some(kept), start, ms("09:18:00")).await;
        assert_eq!(kept.replays, 3);

        // Same instant, sorting after: follows.
        ingest(
            &store,
            &[line(
                "e9",
                "09:10:00",
                "service_started",
                r#""ticket":"A2","counter":"c1""#,
            )],
        )
        .await;
        let kept = look(&store, Some(kept), start, ms("09:19:00")).await;
        assert_eq!(
            kept.replays, 3,
            "same instant, sorting after the last read: follows"
        );

        // The next day starts from its own midnight.
        let next = start + 86_400_000;
        let kept = look(&store, Some(kept), next, next + 3_600_000).await;
        assert_eq!(kept.replays, 4);
    }
);
