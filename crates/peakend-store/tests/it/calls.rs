//! Issue 22: a contact centre's calls through the hall ingest, on both backends. A
//! scripted day of ten calls whose every KPI was computed by hand (see `script`), the
//! impossible transitions quarantined (and a call's early event held until its offer
//! comes), and a second delivery or a restart that does not double anything.

use chrono::{FixedOffset, NaiveDate};
use peakend_core::ops::event::Event;
use peakend_core::ops::kpi::Bucket;
use peakend_core::{HallId, OrgLevel, OrgNodeId};
use peakend_store::{KpiQuery, SqlStore, Store, connect};

type Item = (usize, Event, String);

async fn ready(url: &str) -> (SqlStore, HallId) {
    let store = connect(url).await.unwrap();
    store.load_builtin_journeys().await.unwrap();
    let node = |id, parent, level| peakend_testkit::org_node(id, parent, level, 0, 0);
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("cc", Some("c1"), OrgLevel::Centre),
        ])
        .await
        .unwrap();
    (store, HallId::parse("cc").unwrap())
}

/// A call event of centre `cc`, `s` seconds after 09:00 (+08:00) on `day` of August 2026.
fn ev(day: u32, id: &str, s: u32, kind: &str, fields: &str) -> Item {
    let line = format!(
        r#"{{"id":"{id}","hall":"cc","type":"{kind}","at":"2026-08-{day:02}T{:02}:{:02}:{:02}+08:00",{fields}}}"#,
        9 + s / 3600,
        s / 60 % 60,
        s % 60
    );
    (0, Event::from_json(&line).unwrap(), line)
}

fn offered(day: u32, id: &str, s: u32, queue: &str, customer: Option<&str>) -> Item {
    // A customer key is a salted hash: `x1` stands for a caller's number.
    let customer = customer.map_or(String::new(), |c| {
        format!(
            r#","customer":"{}""#,
            peakend_core::customer::customer_key("test", c)
        )
    });
    ev(
        day,
        &format!("{id}o"),
        s,
        "call_offered",
        &format!(r#""call":"{id}","queue":"{queue}"{customer}"#),
    )
}

fn answered(id: &str, s: u32, agent: &str) -> Item {
    ev(
        7,
        &format!("{id}a"),
        s,
        "call_answered",
        &format!(r#""call":"{id}","agent":"{agent}""#),
    )
}

fn plain(day: u32, id: &str, s: u32, kind: &str) -> Item {
    ev(
        day,
        &format!("{id}{kind}"),
        s,
        kind,
        &format!(r#""call":"{id}""#),
    )
}

fn ended(id: &str, s: u32, outcome: &str, acw: u32) -> Item {
    ev(
        7,
        &format!("{id}e"),
        s,
        "call_ended",
        &format!(r#""call":"{id}","outcome":"{outcome}","acw_s":{acw}"#),
    )
}

/// Ten calls on Friday 7 August, seconds after 09:00 (target 20 s, short abandon < 5 s):
///
/// | call | queue | customer | offered | answered (agent) | wait | end | hold | ACW | talk |
/// |------|-------|----------|---------|------------------|------|-----|------|-----|------|
/// | c1   | bill  | x1       | 0       | 10 (a1)          | 10   | 130 done, held 30–50 | 20 | 20 | 100 |
/// | c2   | bill  | x2       | 60      | 90 (a2)          | 30   | 270 unresolved | 0 | 10 | 180 |
/// | c3   | bill  | –        | 100     | abandoned 103 (short) | | | | | |
/// | c4   | tech  | x3       | 120     | abandoned 180    |      |     |      |     |      |
/// | c5   | tech→bill | x4   | 200     | 215 (a1)         | 15   | 400 done | 0 | 30 | 185 |
/// | c6   | bill  | x1       | 600     | 605 (a2)         | 5    | 760 done, held 700– | 60 | 0 | 95 |
/// | c7   | bill  | –        | 800     | 820 (a1)         | 20   | 880 done | 0 | 40 | 60 |
/// | c8   | tech  | x5       | 900     | abandoned 904 (short) | | | | | |
/// | c9   | tech  | x6       | 1000    | 1040 (a2)        | 40   | 1100 referred | 0 | 15 | 60 |
/// | c10  | bill  | x7       | 1200    | 1201 (a1)        | 1    | still talking | | | |
///
/// Offered 10, answered 7, abandoned 3 of which 2 short. In target: c1, c5, c6, c7,
/// c10 = 5, so SL = 5 ÷ (10 − 2) = 0.625; abandonment (3 − 2) ÷ 8 = 0.125. ASA =
/// 121 ÷ 7 s. Handled 6: talk 680 ÷ 6, hold 80 ÷ 6, ACW 115 ÷ 6, AHT 875 ÷ 6 s.
/// FCR over the handled calls of known customers (c1, c2, c5, c6, c9 = 5): c1 is
/// followed by c6 (x1), c2 unresolved, c9 referred, and x4 calls again on 10 August
/// (c11), so only c6 is resolved at first contact: 1 ÷ 5.
fn script() -> Vec<Item> {
    vec![
        offered(7, "c1", 0, "bill", Some("x1")),
        answered("c1", 10, "a1"),
        plain(7, "c1", 30, "call_held"),
        plain(7, "c1", 50, "call_resumed"),
        ended("c1", 130, "done", 20),
        offered(7, "c2", 60, "bill", Some("x2")),
        answered("c2", 90, "a2"),
        ended("c2", 270, "unresolved", 10),
        offered(7, "c3", 100, "bill", None),
        plain(7, "c3", 103, "call_abandoned"),
        offered(7, "c4", 120, "tech", Some("x3")),
        plain(7, "c4", 180, "call_abandoned"),
        offered(7, "c5", 200, "tech", Some("x4")),
        answered("c5", 215, "a1"),
        ev(
            7,
            "c5t",
            250,
            "call_transferred",
            r#""call":"c5","queue":"bill""#,
        ),
        ended("c5", 400, "done", 30),
        offered(7, "c6", 600, "bill", Some("x1")),
        answered("c6", 605, "a2"),
        plain(7, "c6", 700, "call_held"),
        ended("c6", 760, "done", 0),
        offered(7, "c7", 800, "bill", None),
        answered("c7", 820, "a1"),
        ended("c7", 880, "done", 40),
        offered(7, "c8", 900, "tech", Some("x5")),
        plain(7, "c8", 904, "call_abandoned"),
        offered(7, "c9", 1000, "tech", Some("x6")),
        answered("c9", 1040, "a2"),
        ended("c9", 1100, "referred", 15),
        offered(7, "c10", 1200, "bill", Some("x7")),
        answered("c10", 1201, "a1"),
        // x4 again three days later: c5 was not resolved at first contact.
        offered(10, "c11", 0, "bill", Some("x4")),
        plain(10, "c11", 30, "call_abandoned"),
    ]
}

fn query(bucket: Bucket) -> (OrgNodeId, NaiveDate, Bucket) {
    (
        OrgNodeId::parse("p").unwrap(),
        NaiveDate::from_ymd_opt(2026, 8, 7).unwrap(),
        bucket,
    )
}

async fn report(store: &SqlStore, bucket: Bucket) -> peakend_core::ops::call::CallReport {
    let (org, day, bucket) = query(bucket);
    let r = peakend_store::stored_kpis(
        store,
        &KpiQuery {
            org: Some(&org),
            from: day,
            to: day,
            bucket,
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
            // A month later: every 7-day window has passed.
            now_ms: 1_788_220_800_000,
        },
    )
    .await
    .unwrap();
    r.calls.expect("the province has a centre with calls")
}

fn near(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

async fn assert_hand_figures(store: &SqlStore) {
    let r = report(store, Bucket::Day).await;
    let k = &r.total;
    assert_eq!((k.offered, k.answered, k.abandoned), (10, 7, 3));
    assert_eq!(k.short_abandoned, 2);
    assert_eq!(r.target_s, 20.0, "the hotline journey's answer_within");
    assert!(near(k.service_level, 0.625), "{k:?}");
    assert!(near(k.abandonment_rate, 0.125), "{k:?}");
    assert!(near(k.asa_s, 121.0 / 7.0), "{k:?}");
    assert!(near(k.talk_s, 680.0 / 6.0), "{k:?}");
    assert!(near(k.hold_s, 80.0 / 6.0), "{k:?}");
    assert!(near(k.acw_s, 115.0 / 6.0), "{k:?}");
    assert!(near(k.aht_s, 875.0 / 6.0), "{k:?}");
    assert_eq!(r.fcr_measured, 5);
    assert!(near(r.fcr, 0.2), "{:?}", r.fcr);
    // Per queue (the last one, after transfers) and agent.
    let offered: Vec<(&str, u64)> = r
        .queues
        .iter()
        .map(|q| (q.key.as_str(), q.kpis.offered))
        .collect();
    assert_eq!(offered, [("cc/bill", 7), ("cc/tech", 3)]);
    let answered: Vec<(&str, u64)> = r
        .agents
        .iter()
        .map(|a| (a.key.as_str(), a.kpis.answered))
        .collect();
    assert_eq!(answered, [("cc/a1", 4), ("cc/a2", 3)]);
    assert_eq!(r.centres.len(), 1);
    assert_eq!(r.buckets.len(), 1);
    // Half-hours: 09:00–09:30 holds c1–c9 (offered up to 09:16:40), 09:30 holds none,
    // c10 was offered at 09:20 — all ten in the first half-hour.
    let r = report(store, Bucket::HalfHour).await;
    let halves: Vec<(&str, u64)> = r
        .buckets
        .iter()
        .map(|b| (b.key.as_str(), b.kpis.offered))
        .collect();
    assert_eq!(halves, [("2026-08-07T09:00:00+08:00", 10)]);
}

peakend_testkit::on_both_backends!(a_scripted_centre_day_gives_the_hand_figures, |url| {
    let (store, cc) = ready(url).await;
    let o = store.ingest_events(&cc, script(), vec![]).await.unwrap();
    assert_eq!(o.accepted, 32, "{:?}", o.rejected);
    assert!(o.rejected.is_empty());
    assert_hand_figures(&store).await;

    // Sent again, and after a restart (a new store on the same database): duplicates,
    // nothing doubles.
    let o = store.ingest_events(&cc, script(), vec![]).await.unwrap();
    assert_eq!((o.accepted, o.duplicates), (0, 32));
    drop(store);
    let store = connect(url).await.unwrap();
    let o = store.ingest_events(&cc, script(), vec![]).await.unwrap();
    assert_eq!((o.accepted, o.duplicates), (0, 32));
    assert_hand_figures(&store).await;
});

peakend_testkit::on_both_backends!(impossible_call_transitions_are_quarantined, |url| {
    let (store, cc) = ready(url).await;
    store.ingest_events(&cc, script(), vec![]).await.unwrap();
    let o = store
        .ingest_events(
            &cc,
            vec![
                // A second end, a hold of an abandoned call, an answer of an
                // abandoned one.
                ev(
                    7,
                    "x1",
                    2000,
                    "call_ended",
                    r#""call":"c1","outcome":"done""#,
                ),
                plain(7, "c3", 2001, "call_held"),
                answered("c4", 2002, "a1"),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(o.accepted, 0);
    let reasons: Vec<&str> = o.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "call_ended: call `c1` had already ended",
            "call_held: call `c3` is not in conversation",
            "call_answered: call `c4` was abandoned",
        ]
    );
    // Nothing of them counts.
    assert_hand_figures(&store).await;

    // An answer before its offer (on 8 August): held with its reason, applied once the
    // offer comes.
    let early = vec![ev(
        8,
        "z1a",
        10,
        "call_answered",
        r#""call":"z1","agent":"a1""#,
    )];
    let o = store.ingest_events(&cc, early, vec![]).await.unwrap();
    assert_eq!(o.rejected.len(), 1);
    assert_eq!(o.rejected[0].reason, "call_answered: unknown call `z1`");
    let held = store.quarantined(Some(&cc)).await.unwrap();
    assert!(
        held.iter()
            .any(|q| q.reason == "call_answered: unknown call `z1`")
    );
    let o = store
        .ingest_events(&cc, vec![offered(8, "z1", 0, "bill", None)], vec![])
        .await
        .unwrap();
    assert_eq!((o.accepted, o.released), (1, 1));
    let (org, _, _) = query(Bucket::Day);
    let day8 = NaiveDate::from_ymd_opt(2026, 8, 8).unwrap();
    let r = peakend_store::stored_kpis(
        &store,
        &KpiQuery {
            org: Some(&org),
            from: day8,
            to: day8,
            bucket: Bucket::Day,
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
            now_ms: 1_788_220_800_000,
        },
    )
    .await
    .unwrap()
    .calls
    .unwrap();
    assert_eq!((r.total.offered, r.total.answered), (1, 1));
    assert!(near(r.total.asa_s, 10.0));
});
