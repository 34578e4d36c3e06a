//! Issue 22: one customer across channels, on both backends. A hall's visits, a
//! centre's calls and an app transaction of two customers go through `ingest_events`;
//! the `customer_contact` projection holds each ended contact of a known customer once
//! (a second delivery adds nothing), the report's channels, repeats and failure demand
//! are counted by hand, satisfaction per kind of moment is compared across channels,
//! and the retention erases old contacts.

use chrono::NaiveDate;
use peakend_core::customer::{ChannelContacts, FailureDemand, customer_key};
use peakend_core::ops::event::Event;
use peakend_core::survey::{Rating, Response};
use peakend_core::{HallId, Journey, JourneyKey, OrgLevel, OrgNodeId};
use peakend_store::{CustomerStore, ProgrammeQuery, SqlStore, Store, connect, customer_report};

type Item = (usize, Event, String);
/// A kind of moment as compared: kind, (channel, n, mean)s, spread, flagged.
type KindRow<'a> = (&'a str, Vec<(&'a str, u64, f64)>, Option<f64>, bool);

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    store.load_builtin_journeys().await.unwrap();
    let node = |id, parent, level| peakend_testkit::org_node(id, parent, level, 2, 0);
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("d1", Some("c1"), OrgLevel::District),
            node("h1", Some("d1"), OrgLevel::Hall),
            node("cc", Some("c1"), OrgLevel::Centre),
        ])
        .await
        .unwrap();
    store
}

fn key(phone: &str) -> String {
    customer_key("test-salt", phone)
}

/// An event of `hall` at `at` (+08:00, August 2026: "DD HH:MM").
fn ev(hall: &str, id: &str, at: &str, fields: &str) -> Item {
    let (d, hm) = at.split_once(' ').unwrap();
    let line =
        format!(r#"{{"id":"{id}","hall":"{hall}","at":"2026-08-{d}T{hm}:00+08:00",{fields}}}"#);
    (0, Event::from_json(&line).unwrap(), line)
}

/// A visit of the hall: issued, called, served, ended with `outcome`.
fn visit(
    ticket: &str,
    at: &str,
    service: &str,
    customer: Option<&str>,
    outcome: &str,
) -> Vec<Item> {
    let (d, hm) = at.split_once(' ').unwrap();
    let (h, m): (u32, u32) = (hm[..2].parse().unwrap(), hm[3..].parse().unwrap());
    let t = |plus: u32| format!("{d} {:02}:{:02}", h + (m + plus) / 60, (m + plus) % 60);
    let customer = customer.map_or(String::new(), |c| format!(r#","customer":"{}""#, key(c)));
    vec![
        ev(
            "h1",
            &format!("{ticket}i"),
            &t(0),
            &format!(
                r#""type":"ticket_issued","ticket":"{ticket}","service":"{service}"{customer}"#
            ),
        ),
        ev(
            "h1",
            &format!("{ticket}c"),
            &t(1),
            &format!(r#""type":"called","ticket":"{ticket}","counter":"c1","staff":"S01""#),
        ),
        ev(
            "h1",
            &format!("{ticket}s"),
            &t(1),
            &format!(r#""type":"service_started","ticket":"{ticket}","counter":"c1""#),
        ),
        ev(
            "h1",
            &format!("{ticket}e"),
            &t(5),
            &format!(
                r#""type":"service_ended","ticket":"{ticket}","counter":"c1","outcome":"{outcome}""#
            ),
        ),
    ]
}

/// A call of the centre: offered, answered, ended with `outcome`.
fn call(id: &str, at: &str, queue: &str, customer: &str, outcome: &str) -> Vec<Item> {
    let (d, hm) = at.split_once(' ').unwrap();
    let h: u32 = hm[..2].parse().unwrap();
    vec![
        ev(
            "cc",
            &format!("{id}o"),
            &format!("{d} {h:02}:00"),
            &format!(
                r#""type":"call_offered","call":"{id}","queue":"{queue}","customer":"{}""#,
                key(customer)
            ),
        ),
        ev(
            "cc",
            &format!("{id}a"),
            &format!("{d} {h:02}:01"),
            &format!(r#""type":"call_answered","call":"{id}","agent":"a1""#),
        ),
        ev(
            "cc",
            &format!("{id}e"),
            &format!("{d} {h:02}:06"),
            &format!(r#""type":"call_ended","call":"{id}","outcome":"{outcome}","acw_s":30"#),
        ),
    ]
}

fn hall_events() -> Vec<Item> {
    let mut out = vec![ev(
        "h1",
        "open",
        "03 08:30",
        r#""type":"counter_opened","counter":"c1""#,
    )];
    // X's bill left unresolved; Y's plan done; someone without a key (not followed).
    out.extend(visit(
        "A1",
        "03 09:00",
        "bill",
        Some("138 0000 0001"),
        "unresolved",
    ));
    out.extend(visit("A2", "03 09:10", "plan", Some("13800000002"), "done"));
    out.extend(visit("A3", "03 09:20", "bill", None, "done"));
    // Y's plan in the app the day after Y's unresolved call (below).
    out.push(ev("h1", "t1", "06 12:00", &format!(
        r#""type":"app_transaction","transaction":"t1","purpose":"plan","outcome":"done","customer":"{}""#,
        key("13800000002")
    )));
    out
}

fn centre_events() -> Vec<Item> {
    let mut out = Vec::new();
    // X calls about the bill two days after the hall: failure demand hall → hotline.
    out.extend(call("k1", "05 10:00", "bill", "13800000001", "done"));
    // Y calls about the plan (done at the hall: a repeat, not failure demand); unresolved.
    out.extend(call("k2", "05 11:00", "plan", "13800000002", "unresolved"));
    // X again, 15 days after k1: outside the window.
    out.extend(call("k3", "20 10:00", "bill", "13800000001", "done"));
    out
}

async fn ingest(store: &SqlStore) {
    for (hall, events) in [("h1", hall_events()), ("cc", centre_events())] {
        let outcome = store
            .ingest_events(&HallId::parse(hall).unwrap(), events, Vec::new())
            .await
            .unwrap();
        assert!(
            outcome.rejected.is_empty(),
            "{hall}: {:?}",
            outcome.rejected
        );
    }
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

async fn journey(store: &SqlStore, key: &str) -> Journey {
    store
        .journey(&JourneyKey::parse(key).unwrap())
        .await
        .unwrap()
        .unwrap()
}

fn answer(j: &Journey, respondent: &str, hall: &str, day: &str, rated: &[(&str, f64)]) -> Response {
    let mut ratings = vec![
        Rating {
            importance: None,
            satisfaction: None,
            expectation: None,
            competitor: None,
        };
        j.moments().len()
    ];
    for (moment, s) in rated {
        let i = j
            .moments()
            .iter()
            .position(|m| m.key.as_str() == *moment)
            .unwrap();
        ratings[i].satisfaction = Some(*s);
    }
    Response {
        respondent: respondent.into(),
        hall: HallId::parse(hall).unwrap(),
        date: date(day),
        segment: "s".into(),
        purpose: None,
        overall: None,
        nps: None,
        tolerable_wait_min: None,
        ratings,
        needs: Vec::new(),
        contact: None,
        comment: None,
        customer: None,
        short_form: false,
    }
}

peakend_testkit::on_both_backends!(
    contacts_across_channels_are_followed_once_and_erased,
    |url| {
        let store = ready(url).await;
        ingest(&store).await;

        // One row per ended contact of a known customer: 2 visits, 3 calls, 1 app use.
        let all = store.customer_contacts(0, i64::MAX).await.unwrap();
        let rows: Vec<(&str, &str, &str, bool)> = all
            .iter()
            .map(|c| {
                (
                    c.contact_id.as_str(),
                    c.channel.as_str(),
                    c.purpose.as_str(),
                    c.resolved,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("h1/2026-08-03/A1", "hall", "bill", false),
                ("h1/2026-08-03/A2", "hall", "plan", true),
                ("cc/call/k1", "hotline", "bill", true),
                ("cc/call/k2", "hotline", "plan", false),
                ("h1/app/t1", "app", "plan", true),
                ("cc/call/k3", "hotline", "bill", true),
            ]
        );
        assert_eq!(all[0].customer_key, key("13800000001"));
        assert_eq!(all[0].outcome.as_deref(), Some("unresolved"));
        assert_eq!(all[2].hall, "cc");
        assert_eq!(all[0].at, ms("2026-08-03T09:05:00+08:00"));
        // No row holds a number.
        assert!(
            all.iter()
                .all(|c| c.customer_key.len() == 64 && !c.customer_key.contains("1380000"))
        );

        // Answers of both channels: wait and resolution compared.
        let hall_j = journey(&store, "service-hall").await;
        let hot_j = journey(&store, "hotline").await;
        store
            .import_responses(
                &hall_j,
                &[
                    // hall wait: 9, 7, 8 → 8.0 (n 3); resolution: 8, 6 → 7.0.
                    answer(
                        &hall_j,
                        "r1",
                        "h1",
                        "2026-08-03",
                        &[("queue", 9.0), ("counter_wait", 7.0), ("result", 8.0)],
                    ),
                    answer(
                        &hall_j,
                        "r2",
                        "h1",
                        "2026-08-04",
                        &[("queue", 8.0), ("result", 6.0)],
                    ),
                    // Outside the period.
                    answer(&hall_j, "r3", "h1", "2026-09-15", &[("queue", 1.0)]),
                ],
            )
            .await
            .unwrap();
        store
            .import_responses(
                &hot_j,
                &[
                    // hotline wait: 5, 7 → 6.0; resolution: 7, 8 → 7.5.
                    answer(
                        &hot_j,
                        "q1",
                        "cc",
                        "2026-08-05",
                        &[("queue", 5.0), ("resolve", 7.0)],
                    ),
                    answer(
                        &hot_j,
                        "q2",
                        "cc",
                        "2026-08-05",
                        &[("queue", 7.0), ("resolve", 8.0)],
                    ),
                ],
            )
            .await
            .unwrap();

        let p = OrgNodeId::parse("p").unwrap();
        let august = ProgrammeQuery {
            org: Some(&p),
            from: date("2026-08-01"),
            to: date("2026-08-31"),
        };
        let r = customer_report(&store, &august, 7).await.unwrap();
        assert_eq!((r.contacts, r.customers), (6, 2));
        let ch = |channel: &str, contacts, customers, unresolved| ChannelContacts {
            channel: channel.into(),
            contacts,
            customers,
            unresolved,
        };
        assert_eq!(
            r.channels,
            [
                ch("app", 1, 1, 0),
                ch("hall", 2, 2, 1),
                ch("hotline", 3, 2, 1)
            ]
        );
        // X: A1 → k1 (2 days); Y: A2 → k2 (2 days), k2 → t1 (1 day); k1 → k3 is 15 days.
        assert_eq!(r.repeats, 3);
        assert_eq!(r.repeat_rate, Some(0.5));
        let fd = |from: &str, to: &str| FailureDemand {
            from: from.into(),
            to: to.into(),
            count: 1,
            share: Some(1.0),
        };
        assert_eq!(
            r.failure_demand,
            [fd("hall", "hotline"), fd("hotline", "app")]
        );
        let kinds: Vec<KindRow> = r
            .consistency
            .iter()
            .map(|k| {
                (
                    k.kind.as_str(),
                    k.channels
                        .iter()
                        .map(|c| (c.channel.as_str(), c.n, c.mean))
                        .collect(),
                    k.spread,
                    k.inconsistent,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    "resolution",
                    vec![("hall", 2, 7.0), ("hotline", 2, 7.5)],
                    Some(0.5),
                    false
                ),
                (
                    "wait",
                    vec![("hall", 3, 8.0), ("hotline", 2, 6.0)],
                    Some(2.0),
                    true
                ),
            ]
        );
        // The JSON lists no key.
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains(&key("13800000001")) && !json.contains(&key("13800000002")));

        // The district's scope has the hall only: its visits and app use, no calls, no
        // failure demand (the calls are the centre's, outside it); Y's app use follows Y's visit.
        let d1 = OrgNodeId::parse("d1").unwrap();
        let district = ProgrammeQuery {
            org: Some(&d1),
            ..august
        };
        let r = customer_report(&store, &district, 7).await.unwrap();
        assert_eq!(r.channels, [ch("app", 1, 1, 0), ch("hall", 2, 2, 1)]);
        assert_eq!((r.repeats, r.failure_demand.len()), (1, 0));
        // A period that ends before k3.
        let early = ProgrammeQuery {
            org: Some(&p),
            from: date("2026-08-01"),
            to: date("2026-08-10"),
        };
        let r = customer_report(&store, &early, 7).await.unwrap();
        assert_eq!(r.channels[2], ch("hotline", 2, 2, 1));

        // The same events again: nothing new anywhere.
        ingest(&store).await;
        assert_eq!(store.customer_contacts(0, i64::MAX).await.unwrap(), all);
        let again = customer_report(&store, &august, 7).await.unwrap();
        assert_eq!(
            (again.contacts, again.repeats, again.failure_demand.len()),
            (6, 3, 2)
        );

        // The retention: contacts that ended before 6 August go (A1, A2, k1, k2), later stay.
        let n = store
            .erase_customer_contacts(ms("2026-08-06T00:00:00+08:00"))
            .await
            .unwrap();
        assert_eq!(n, 4);
        let left: Vec<String> = store
            .customer_contacts(0, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.contact_id)
            .collect();
        assert_eq!(left, ["h1/app/t1", "cc/call/k3"]);
        assert_eq!(
            store
                .erase_customer_contacts(ms("2026-08-06T00:00:00+08:00"))
                .await
                .unwrap(),
            0
        );
    }
);
