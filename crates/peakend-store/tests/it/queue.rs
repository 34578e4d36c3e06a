//! The hall's queue from every channel (issue 22), stored: per-tier and per-channel KPIs
//! and expired remote tickets from the ingest's roll-ups, and the busy-hour forecast
//! from stored roll-ups, on SQLite and PostgreSQL.

use chrono::{Datelike, NaiveDate};
use peakend_core::ops::busy::Level;
use peakend_core::ops::event::{Channel, Tier};
use peakend_core::ops::kpi::Bucket;
use peakend_core::{HallId, OrgNodeId};
use peakend_store::{KpiQuery, SqlStore, Store, busy_hours, connect, stored_kpis};

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    crate::with_small_org(&store, &[("h1", "一号厅")]).await;
    store
}

/// The province's KPIs of 2026-08-07, the day these stories play.
async fn day_kpis(store: &SqlStore) -> peakend_core::ops::kpi::KpiReport {
    let date = NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
    stored_kpis(
        store,
        &KpiQuery {
            org: Some(&OrgNodeId::parse("p").unwrap()),
            from: date,
            to: date,
            bucket: Bucket::Day,
            offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
            now_ms: 1_900_000_000_000,
        },
    )
    .await
    .unwrap()
}

fn line(id: &str, at: &str, kind: &str, fields: &str) -> String {
    format!(r#"{{"id":"{id}","hall":"h1","type":"{kind}","at":"{at}+08:00",{fields}}}"#)
}

peakend_testkit::on_both_backends!(
    each_tier_and_channel_has_its_kpis_and_expired_remote_tickets_are_apart,
    |url| {
        let store = ready(url).await;
        let t = |h: &str| format!("2026-08-07T{h}:00");
        // Diamond called after 6 min (its target is 5), gold after 8 (target 10), an
        // ordinary walk-in after 14 (target 15), and an SMS ticket for 09:05 never
        // called: it lapses at 09:35, expired.
        let lines = [
            line("e1", &t("09:00"), "counter_opened", r#""counter":"c1""#),
            line(
                "e2",
                &t("09:00"),
                "ticket_issued",
                r#""ticket":"D1","service":"payment","tier":"diamond""#,
            ),
            line(
                "e3",
                &t("09:00"),
                "ticket_issued",
                r#""ticket":"G1","service":"payment","vip":true"#,
            ),
            line(
                "e4",
                &t("09:00"),
                "ticket_issued",
                r#""ticket":"O1","service":"payment""#,
            ),
            line(
                "e5",
                &t("09:00"),
                "ticket_issued",
                r#""ticket":"S1","service":"payment","channel":"sms","appointed_at":"2026-08-07T09:05:00+08:00""#,
            ),
            line(
                "e6",
                &t("09:06"),
                "called",
                r#""ticket":"D1","counter":"c1""#,
            ),
            line(
                "e7",
                &t("09:08"),
                "called",
                r#""ticket":"G1","counter":"c1""#,
            ),
            line(
                "e8",
                &t("09:14"),
                "called",
                r#""ticket":"O1","counter":"c1""#,
            ),
            line(
                "e9",
                &t("09:15"),
                "arrived",
                r#""ticket":"X1","booking":"nope""#,
            ),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let h1 = HallId::parse("h1").unwrap();
        let out = store
            .ingest_events(&h1, peakend_testkit::event_batch(&lines), Vec::new())
            .await
            .unwrap();
        // The arrival for an unknown booking is quarantined like a ticket transition.
        let q = store.quarantined(Some(&h1)).await.unwrap();
        assert!(
            q.iter()
                .any(|x| x.reason.contains("arrived: unknown booking `nope`")),
            "{q:?} / {out:?}"
        );
        let r = day_kpis(&store).await;
        assert_eq!(
            (r.total.arrivals, r.total.expired, r.total.abandoned),
            (3, 1, 0)
        );
        let tier = |t: Tier| r.tiers.iter().find(|x| x.tier == t).unwrap();
        assert_eq!(tier(Tier::Diamond).target_s, 300.0);
        assert_eq!(tier(Tier::Diamond).kpis.target_level, Some(0.0));
        assert_eq!(tier(Tier::Gold).kpis.target_level, Some(1.0));
        assert_eq!(tier(Tier::Gold).kpis.longest_wait_s, Some(480.0));
        assert_eq!(tier(Tier::Ordinary).kpis.arrivals, 1);
        assert_eq!(tier(Tier::Ordinary).kpis.expired, 1);
        let channel = |c: Channel| {
            r.channels
                .iter()
                .find(|x| x.key == c.as_str())
                .unwrap()
                .kpis
                .clone()
        };
        assert_eq!(channel(Channel::Kiosk).arrivals, 3);
        assert_eq!(
            (
                channel(Channel::Sms).arrivals,
                channel(Channel::Sms).expired
            ),
            (0, 1)
        );
    }
);

/// Nine weeks of a hall whose busiest hour is Monday 10:00: each day 1 arrival at
/// 09:00, 2 at 10:00, 3 at 11:00, but 8 at Monday 10:00 (12 in the last week).
async fn nine_weeks(store: &SqlStore) {
    let h1 = HallId::parse("h1").unwrap();
    let first = NaiveDate::from_ymd_opt(2026, 9, 28).unwrap(); // a Monday
    let last_week = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let mut lines = Vec::new();
    for d in 0..63 {
        let date = first + chrono::Days::new(d);
        for (hour, mut n) in [(9, 1), (10, 2), (11, 3)] {
            if date.weekday() == chrono::Weekday::Mon && hour == 10 {
                n = if date >= last_week { 12 } else { 8 };
            }
            for i in 0..n {
                lines.push(line(
                    &format!("{date}-{hour}-{i}"),
                    &format!("{date}T{hour:02}:{:02}:00", i * 4),
                    "ticket_issued",
                    &format!(r#""ticket":"T{hour}{i}","service":"payment""#),
                ));
            }
        }
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    store
        .ingest_events(&h1, peakend_testkit::event_batch(&lines), Vec::new())
        .await
        .unwrap();
}

peakend_testkit::on_both_backends!(
    the_busy_hour_forecast_names_the_known_busy_hour_from_stored_rollups,
    |url| {
        let store = ready(url).await;
        nine_weeks(&store).await;
        let h1 = HallId::parse("h1").unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(); // a Monday
        let b = busy_hours(&store, &h1, today, 8).await.unwrap();
        assert_eq!((b.open, b.close), (9, 12));
        assert_eq!(b.days.len(), 7);
        let monday = &b.days[0];
        assert_eq!((monday.date, monday.weekday), (today, 1));
        let at = |d: usize, h: u32| b.days[d].hours.iter().find(|x| x.hour == h).unwrap();
        // Monday 10:00: seven weeks of 8 and one of 12, (7 × 8 + 12) / 8 = 8.5.
        assert_eq!(at(0, 10).expected, 8.5);
        assert_eq!(at(0, 10).level, Level::Busy);
        assert_eq!(at(1, 10).expected, 2.0);
        assert_eq!(at(1, 9).level, Level::Quiet);
        // Last week (23–29 November) forecast from the eight weeks before it: exact but
        // for Monday 10:00 (8 forecast, 12 came), so MAE 4/21 and MAPE (4/12)/21.
        let w = b.last_week.unwrap();
        assert_eq!(
            (w.from, w.to),
            (
                NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
            )
        );
        assert_eq!(w.error.hours, 21);
        assert!((w.error.mae - 4.0 / 21.0).abs() < 1e-9, "{w:?}");
        assert!((w.error.mape.unwrap() - 4.0 / 12.0 / 21.0).abs() < 1e-9);
        // A hall that is not one is a client's fault, named.
        let err = busy_hours(&store, &HallId::parse("zz").unwrap(), today, 8)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`zz` is not a hall"), "{err}");
    }
);

peakend_testkit::on_both_backends!(
    an_arrival_sent_before_its_booking_is_applied_when_the_booking_comes,
    |url| {
        let store = ready(url).await;
        let h1 = HallId::parse("h1").unwrap();
        let arrival = [line(
            "a1",
            "2026-08-07T10:05:00",
            "arrived",
            r#""ticket":"B1","booking":"bk-1""#,
        )];
        let lines: Vec<&str> = arrival.iter().map(String::as_str).collect();
        store
            .ingest_events(&h1, peakend_testkit::event_batch(&lines), Vec::new())
            .await
            .unwrap();
        let q = store.quarantined(Some(&h1)).await.unwrap();
        assert!(
            q.iter()
                .any(|x| x.reason.contains("unknown booking `bk-1`")),
            "{q:?}"
        );
        // The booking, sent late by the booking system, releases the arrival.
        let booking = [line(
            "b1",
            "2026-08-07T08:00:00",
            "booking",
            r#""booking":"bk-1","slot_start":"2026-08-07T10:00:00+08:00","slot_end":"2026-08-07T10:30:00+08:00""#,
        )];
        let lines: Vec<&str> = booking.iter().map(String::as_str).collect();
        let out = store
            .ingest_events(&h1, peakend_testkit::event_batch(&lines), Vec::new())
            .await
            .unwrap();
        assert!(
            store.quarantined(Some(&h1)).await.unwrap().is_empty(),
            "{out:?}"
        );
        let r = day_kpis(&store).await;
        assert_eq!(r.total.arrivals, 1, "the booked customer is in the queue");
    }
);

peakend_testkit::on_both_backends!(
    a_whole_chain_sent_backwards_is_settled_by_the_booking,
    |url| {
        let store = ready(url).await;
        let h1 = HallId::parse("h1").unwrap();
        let send = |lines: Vec<String>| {
            let store = &store;
            let h1 = &h1;
            async move {
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                store
                    .ingest_events(h1, peakend_testkit::event_batch(&lines), Vec::new())
                    .await
                    .unwrap()
            }
        };
        let t = |h: &str| format!("2026-08-07T{h}:00");
        send(vec![line(
            "o1",
            &t("09:00"),
            "counter_opened",
            r#""counter":"c1""#,
        )])
        .await;
        // The counter's events come first: the ticket they name does not exist yet.
        send(vec![
            line(
                "c1",
                &t("10:10"),
                "called",
                r#""ticket":"B1","counter":"c1""#,
            ),
            line(
                "s1",
                &t("10:11"),
                "service_started",
                r#""ticket":"B1","counter":"c1""#,
            ),
            line(
                "x1",
                &t("10:20"),
                "service_ended",
                r#""ticket":"B1","counter":"c1","outcome":"done""#,
            ),
        ])
        .await;
        // Then the arrival, whose booking is not known yet.
        send(vec![line(
            "a1",
            &t("10:05"),
            "arrived",
            r#""ticket":"B1","booking":"bk-1""#,
        )])
        .await;
        assert_eq!(store.quarantined(Some(&h1)).await.unwrap().len(), 4);
        // The booking releases the arrival, and the arrival its ticket's events.
        send(vec![line(
            "b1",
            &t("08:00"),
            "booking",
            r#""booking":"bk-1","slot_start":"2026-08-07T10:00:00+08:00","slot_end":"2026-08-07T10:30:00+08:00""#,
        )])
        .await;
        let q = store.quarantined(Some(&h1)).await.unwrap();
        assert!(q.is_empty(), "{q:?}");
        let r = day_kpis(&store).await;
        assert_eq!((r.total.arrivals, r.total.served), (1, 1));
        assert!(
            r.total.aht_s.is_some_and(|s| (s - 540.0).abs() < 1e-9),
            "{r:?}"
        );
    }
);
