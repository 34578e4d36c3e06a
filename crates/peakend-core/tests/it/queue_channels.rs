//! The hall's queue from every channel (issue 22): remote tickets, bookings and the
//! green channel, tier priority and per-tier KPIs, replayed by hand-checked scripts.

use peakend_core::ops::day::{HallDay, Rules};
use peakend_core::ops::event::{Event, Tier};
use peakend_core::ops::ticket::{KpiSums, Kpis};

/// An event at local time `hm` on Friday 2026-08-07 (+08:00).
fn ev(id: &str, hm: &str, kind: &str, fields: &str) -> Event {
    let sep = if fields.is_empty() { "" } else { "," };
    Event::from_json(&format!(
        r#"{{"id":"{id}","hall":"h1","type":"{kind}","at":"2026-08-07T{hm}:00+08:00"{sep}{fields}}}"#
    ))
    .unwrap()
}

fn ms(hm: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&format!("2026-08-07T{hm}:00+08:00"))
        .unwrap()
        .timestamp_millis()
}

fn issue(id: &str, hm: &str, ticket: &str, extra: &str) -> Event {
    let fields = format!(r#""ticket":"{ticket}","service":"payment"{extra}"#);
    ev(id, hm, "ticket_issued", &fields)
}

fn order(day: &HallDay, at: &str) -> Vec<String> {
    day.queue(ms(at))
        .waiting
        .iter()
        .map(|w| w.ticket.clone())
        .collect()
}

#[test]
fn a_remote_ticket_is_in_the_queue_from_issue_and_expires_30_min_after_its_time() {
    let mut day = HallDay::new(Rules::default());
    for e in [
        ev("e1", "09:00", "counter_opened", r#""counter":"c1""#),
        issue("e2", "09:00", "A1", ""),
        // Taken by SMS at 09:01, told to come at 09:30.
        issue(
            "e3",
            "09:01",
            "S1",
            r#","channel":"sms","appointed_at":"2026-08-07T09:30:00+08:00""#,
        ),
        issue("e4", "09:02", "A2", ""),
    ] {
        day.apply(&e).unwrap();
    }
    let q = day.queue(ms("09:03"));
    let a2 = q.waiting.iter().find(|w| w.ticket == "A2").unwrap();
    assert_eq!(a2.ahead, 2, "A1 and the SMS ticket are ahead of A2");
    let s1 = q.waiting.iter().find(|w| w.ticket == "S1").unwrap();
    assert_eq!(s1.come_by, Some(ms("09:30")));
    assert_eq!(s1.text.zh, "前面还有 1 人；请于 09:30 前到厅");
    assert_eq!(s1.text.en, "1 ahead; come by 09:30");
    // Valid until 10:00 (09:30 + 30 min): a millisecond before, still waiting.
    day.advance_to(ms("10:00") - 1);
    assert!(order(&day, "09:59").contains(&"S1".to_owned()));
    day.advance_to(ms("10:00"));
    assert_eq!(order(&day, "10:00"), ["A1", "A2"]);
    let s1 = day.ticket("S1").unwrap();
    assert_eq!(s1.expired_at, Some(ms("10:00")));
    assert_eq!(s1.left_at, None);
    // Expired, not abandoned in the hall, and no arrival in it.
    let k = Kpis::of(day.tickets(), Rules::default().measure());
    assert_eq!((k.arrivals, k.abandoned, k.expired), (2, 0, 1));
    // An expired ticket can no longer be called.
    let late = ev("e5", "10:01", "called", r#""ticket":"S1","counter":"c1""#);
    assert_eq!(
        day.apply(&late).unwrap_err(),
        "called: ticket `S1` had expired"
    );
}

#[test]
fn a_remote_holder_who_reports_in_does_not_expire_and_waits_from_arrival() {
    let mut day = HallDay::new(Rules::default());
    for e in [
        ev("e1", "09:00", "counter_opened", r#""counter":"c1""#),
        issue(
            "e2",
            "09:00",
            "S1",
            r#","channel":"app","appointed_at":"2026-08-07T09:10:00+08:00""#,
        ),
        ev("e3", "09:20", "arrived", r#""ticket":"S1""#),
    ] {
        day.apply(&e).unwrap();
    }
    day.advance_to(ms("09:45"));
    let s1 = day.ticket("S1").unwrap();
    assert_eq!(s1.expired_at, None, "in the hall: it no longer lapses");
    // Care after 15 min of waiting in the hall: from 09:20, at 09:35.
    assert_eq!(s1.care_due_at, Some(ms("09:35")));
    let again = ev("e4", "09:46", "arrived", r#""ticket":"S1""#);
    assert_eq!(
        day.apply(&again).unwrap_err(),
        "arrived: ticket `S1` had already arrived"
    );
}

#[test]
fn a_booking_arriving_in_its_slot_enters_the_green_channel_ahead_of_walk_ins() {
    let mut day = HallDay::new(Rules::default());
    for e in [
        ev("e1", "09:00", "counter_opened", r#""counter":"c1""#),
        ev(
            "e2",
            "08:00",
            "booking",
            r#""booking":"B1","slot_start":"2026-08-07T09:00:00+08:00","slot_end":"2026-08-07T09:30:00+08:00","service":"new_line","customer":"7f3a000000000000000000000000000000000000000000000000000000000001""#,
        ),
        ev(
            "e3",
            "08:00",
            "booking",
            r#""booking":"B2","slot_start":"2026-08-07T09:00:00+08:00","slot_end":"2026-08-07T09:10:00+08:00""#,
        ),
        issue("e4", "09:01", "A1", r#","tier":"diamond""#),
        issue("e5", "09:02", "A2", ""),
        ev("e6", "09:05", "arrived", r#""ticket":"G1","booking":"B1""#),
        // B2's customer comes after the slot: a walk-in like the others.
        ev("e7", "09:15", "arrived", r#""ticket":"G2","booking":"B2""#),
    ] {
        day.apply(&e).unwrap();
    }
    assert_eq!(order(&day, "09:15"), ["G1", "A1", "A2", "G2"]);
    let q = day.queue(ms("09:15"));
    assert!(q.waiting[0].green && !q.waiting[3].green);
    assert_eq!(q.waiting[0].service, "new_line");
    // Impossible ones are refused and change nothing.
    let before = day.queue(ms("09:15"));
    for (e, why) in [
        (
            ev("x1", "09:16", "arrived", r#""ticket":"G9","booking":"B9""#),
            "arrived: unknown booking `B9`",
        ),
        (
            ev("x2", "09:16", "arrived", r#""ticket":"G3","booking":"B1""#),
            "arrived: booking `B1` was already used",
        ),
        (
            ev("x3", "09:16", "booking_cancelled", r#""booking":"B1""#),
            "booking_cancelled: booking `B1` was already used",
        ),
        (
            ev("x4", "09:16", "arrived", r#""ticket":"A2""#),
            "arrived: ticket `A2` was taken in the hall",
        ),
    ] {
        assert_eq!(day.apply(&e).unwrap_err(), why);
    }
    assert_eq!(day.queue(ms("09:15")), before);
    let cancel = ev("e8", "08:30", "booking_cancelled", r#""booking":"B3""#);
    assert_eq!(
        day.apply(&cancel).unwrap_err(),
        "booking_cancelled: unknown booking `B3`"
    );
}

#[test]
fn tiers_are_called_in_the_journey_order_and_people_ahead_follow_it() {
    let mut day = HallDay::new(Rules::default());
    for e in [
        ev("e1", "09:00", "counter_opened", r#""counter":"c1""#),
        issue("e2", "09:00", "O1", ""),
        issue("e3", "09:01", "S1", r#","tier":"silver""#),
        issue("e4", "09:02", "G1", r#","vip":true"#),
        issue("e5", "09:03", "D1", r#","tier":"diamond""#),
        issue("e6", "09:04", "O2", r#","tier":"ordinary""#),
    ] {
        day.apply(&e).unwrap();
    }
    assert_eq!(order(&day, "09:05"), ["D1", "G1", "S1", "O1", "O2"]);
    let tiers: Vec<Tier> = day
        .queue(ms("09:05"))
        .waiting
        .iter()
        .map(|w| w.tier)
        .collect();
    assert_eq!(
        tiers,
        [
            Tier::Diamond,
            Tier::Gold,
            Tier::Silver,
            Tier::Ordinary,
            Tier::Ordinary
        ]
    );
    // A journey that lists silver before gold calls silver first.
    let rules = Rules {
        tiers: vec![
            (Tier::Diamond, 300_000),
            (Tier::Silver, 600_000),
            (Tier::Gold, 600_000),
            (Tier::Ordinary, 900_000),
        ],
        ..Rules::default()
    };
    let mut day2 = HallDay::new(rules);
    for e in [
        issue("e2", "09:00", "G1", r#","tier":"gold""#),
        issue("e3", "09:01", "S1", r#","tier":"silver""#),
    ] {
        day2.apply(&e).unwrap();
    }
    assert_eq!(order(&day2, "09:02"), ["S1", "G1"]);
}

#[test]
fn each_tier_is_measured_against_its_own_target() {
    let mut day = HallDay::new(Rules::default());
    // Diamond called after 6 min (target 5: missed), gold after 8 (target 10: met),
    // ordinary after 14 (target 15: met).
    for e in [
        ev("e1", "09:00", "counter_opened", r#""counter":"c1""#),
        issue("e2", "09:00", "D1", r#","tier":"diamond""#),
        issue("e3", "09:00", "G1", r#","tier":"gold""#),
        issue("e4", "09:00", "O1", ""),
        ev("e5", "09:06", "called", r#""ticket":"D1","counter":"c1""#),
        ev("e6", "09:08", "called", r#""ticket":"G1","counter":"c1""#),
        ev("e7", "09:14", "called", r#""ticket":"O1","counter":"c1""#),
    ] {
        day.apply(&e).unwrap();
    }
    let m = Rules::default().measure();
    let of = |tier: Tier| {
        let mut s = KpiSums::default();
        day.tickets()
            .filter(|t| t.tier == tier)
            .for_each(|t| s.add(t, m));
        s.kpis()
    };
    assert_eq!(of(Tier::Diamond).target_level, Some(0.0));
    assert_eq!(of(Tier::Gold).target_level, Some(1.0));
    assert_eq!(of(Tier::Ordinary).target_level, Some(1.0));
    // All three were called within the hall's 15-minute care rule.
    let all = Kpis::of(day.tickets(), m);
    assert_eq!(all.service_level, Some(1.0));
    assert_eq!(all.target_level, Some(2.0 / 3.0));
}

#[test]
fn the_built_in_journey_carries_the_tiers_and_the_remote_validity() {
    let j = peakend_core::builtin::journeys().unwrap().remove(0);
    let rules = Rules::from_journey(&j);
    assert_eq!(rules.remote_valid_ms, 30 * 60_000);
    assert_eq!(
        rules.tiers,
        [
            (Tier::Diamond, 5 * 60_000),
            (Tier::Gold, 10 * 60_000),
            (Tier::Silver, 15 * 60_000),
            (Tier::Ordinary, 15 * 60_000)
        ]
    );
    assert!(rules.green_channel);
}

#[test]
fn a_roll_up_read_later_counts_a_lapsed_remote_ticket_as_a_replay_does() {
    use peakend_core::ops::rollup::DayRollup;
    let events = [
        ev("e1", "09:00", "counter_opened", r#""counter":"c1""#),
        issue(
            "e2",
            "08:50",
            "S1",
            r#","channel":"sms","appointed_at":"2026-08-07T09:00:00+08:00""#,
        ),
    ];
    let rules = Rules::default();
    let day = HallDay::replay(rules.clone(), &events, ms("09:01"));
    let rollup = DayRollup::of(&day, rules.measure(), Some(ms("09:00")));
    for at in ["09:20", "09:31"] {
        let replayed = HallDay::replay(rules.clone(), &events, ms(at));
        let open = replayed
            .alerts()
            .iter()
            .filter(|a| a.cleared_at.is_none())
            .count();
        assert_eq!(rollup.open_care_at(ms(at)).unwrap().len(), open, "{at}");
        let k = Kpis::of(replayed.tickets(), rules.measure());
        assert_eq!(rollup.sums_at(ms(at)).kpis(), k, "{at}");
    }
    // Care at 09:15 (15 min after its announced time), lapsed at 09:30.
    assert_eq!(rollup.open_care_at(ms("09:20")).unwrap().len(), 1);
    assert_eq!(rollup.sums_at(ms("09:31")).expired, 1);
}

/// A morning of remote and kiosk tickets — one that arrives and waits past the care
/// limit, one that never comes and lapses, one called before it reports in, one that
/// arrives after its announced time — rolled up after every event and read at every
/// minute to 10:30: the roll-up's KPIs and open care alerts are a replay's.
#[test]
fn roll_ups_of_remote_tickets_equal_replays_at_every_cut_and_minute() {
    use peakend_core::ops::day::AlertKind;
    use peakend_core::ops::rollup::DayRollup;
    let remote = |ch: &str, at: &str| {
        format!(r#","channel":"{ch}","appointed_at":"2026-08-07T{at}:00+08:00""#)
    };
    let events = [
        ev("o1", "08:55", "counter_opened", r#""counter":"c1""#),
        issue("r1", "08:30", "R1", &remote("sms", "09:00")),
        issue("r2", "08:40", "R2", &remote("app", "09:10")),
        issue("r3", "08:45", "R3", &remote("sms", "09:05")),
        issue("r4", "08:50", "R4", &remote("app", "09:00")),
        issue("k1", "09:00", "K1", ""),
        ev("a1", "09:03", "arrived", r#""ticket":"R1""#),
        ev("c3", "09:12", "called", r#""ticket":"R3","counter":"c1""#),
        ev(
            "d3",
            "09:14",
            "service_ended",
            r#""ticket":"R3","counter":"c1","outcome":"done""#,
        ),
        ev("a4", "09:20", "arrived", r#""ticket":"R4""#),
        ev("ck", "09:22", "called", r#""ticket":"K1","counter":"c1""#),
        ev("c1", "09:30", "called", r#""ticket":"R1","counter":"c1""#),
        ev(
            "d1",
            "09:35",
            "service_ended",
            r#""ticket":"R1","counter":"c1","outcome":"done""#,
        ),
        ev("c4", "09:50", "called", r#""ticket":"R4","counter":"c1""#),
    ];
    let rules = Rules::default();
    for cut in 1..=events.len() {
        let prefix = &events[..cut];
        let last = prefix.iter().map(|e| e.at_ms()).max().unwrap();
        let day = HallDay::replay(rules.clone(), prefix, i64::MIN);
        let rollup = DayRollup::of(&day, rules.measure(), Some(last));
        let mut at = last;
        while at <= ms("10:30") {
            let replayed = HallDay::replay(rules.clone(), prefix, at);
            assert_eq!(
                rollup.sums_at(at).kpis(),
                Kpis::of(replayed.tickets(), rules.measure()),
                "cut {cut} at {at}"
            );
            let mut open: Vec<(String, i64)> = replayed
                .alerts()
                .iter()
                .filter(|a| a.kind == AlertKind::CareDue && a.cleared_at.is_none())
                .map(|a| (a.ticket.clone().unwrap(), a.raised_at))
                .collect();
            open.sort();
            let mut got: Vec<(String, i64)> = rollup
                .open_care_at(at)
                .unwrap()
                .into_iter()
                .map(|(t, at)| (t.to_owned(), at))
                .collect();
            got.sort();
            assert_eq!(got, open, "cut {cut} at {at}");
            at += 60_000;
        }
    }
}
