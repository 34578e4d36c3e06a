//! The automatic checks a hall's day makes from its events (issue 21), each on a
//! scripted day of the built-in journey: transactions against the system-time limit,
//! care alerts acknowledged in time, premium customers cared for, waits within what the
//! ticket announced, kiosks checked every day and repaired in time (across days and a
//! weekend), and counters at peak hours.

use std::collections::BTreeMap;

use peakend_core::audit::AutoCheck;
use peakend_core::ops::day::{AlertKind, CheckTally, HallDay, KioskFault, Rules};
use peakend_core::ops::event::Event;

fn rules(kiosks: u32) -> Rules {
    let journey = peakend_core::builtin::journeys()
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let mut r = Rules::from_journey(&journey);
    r.kiosks = kiosks;
    r
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// Events of hall h on Friday 2026-08-07 at `hh:mm:ss` (+08:00).
fn events(lines: &[(&str, &str)]) -> Vec<Event> {
    lines
        .iter()
        .enumerate()
        .map(|(i, (t, body))| {
            Event::from_json(&format!(
                r#"{{"id":"e{i}","hall":"h","at":"2026-08-07T{t}+08:00",{body}}}"#
            ))
            .unwrap()
        })
        .collect()
}

fn tally(checks: &[CheckTally], auto: AutoCheck) -> (u64, u64) {
    let t = checks.iter().find(|t| t.auto == auto).unwrap();
    (t.made, t.passed)
}

const END: &str = "2026-08-07T23:59:59+08:00";

#[test]
fn the_built_in_journey_makes_its_seven_automatic_checks_on_the_right_standards() {
    let r = rules(0);
    let on: BTreeMap<AutoCheck, &str> = r
        .checks
        .iter()
        .map(|c| (c.auto, c.standard.as_str()))
        .collect();
    assert_eq!(on.len(), AutoCheck::ALL.len());
    assert_eq!(
        on[&AutoCheck::ClosedCountersAtPeak],
        "no_closed_counters_peak"
    );
    assert_eq!(on[&AutoCheck::SystemTime], "system_time");
    assert_eq!(on[&AutoCheck::CareInTime], "care_after");
    assert_eq!(on[&AutoCheck::PremiumCare], "vip_water");
    assert_eq!(on[&AutoCheck::KioskDailyCheck], "device_check");
    assert_eq!(on[&AutoCheck::KioskRepair], "repair_within");
    assert_eq!(on[&AutoCheck::WaitAsAnnounced], "show_ahead");
}

#[test]
fn transactions_care_and_announced_waits_are_judged_one_by_one() {
    let evs = events(&[
        ("08:59:00", r#""type":"counter_opened","counter":"c1""#),
        // A: 2 min at the counter (within 2.5), B: 3 min (over).
        (
            "09:00:00",
            r#""type":"ticket_issued","ticket":"A","service":"bill""#,
        ),
        ("09:00:30", r#""type":"called","ticket":"A","counter":"c1""#),
        (
            "09:00:30",
            r#""type":"service_started","ticket":"A","counter":"c1""#,
        ),
        (
            "09:02:30",
            r#""type":"service_ended","ticket":"A","counter":"c1","outcome":"done""#,
        ),
        (
            "09:03:00",
            r#""type":"ticket_issued","ticket":"B","service":"bill""#,
        ),
        ("09:03:10", r#""type":"called","ticket":"B","counter":"c1""#),
        (
            "09:03:10",
            r#""type":"service_started","ticket":"B","counter":"c1""#,
        ),
        (
            "09:06:10",
            r#""type":"service_ended","ticket":"B","counter":"c1","outcome":"done""#,
        ),
        // C (VIP) and D wait past 15 minutes: two care alerts, at 09:25 and 09:26.
        (
            "09:10:00",
            r#""type":"ticket_issued","ticket":"C","service":"bill","vip":true"#,
        ),
        (
            "09:11:00",
            r#""type":"ticket_issued","ticket":"D","service":"bill""#,
        ),
        ("09:40:00", r#""type":"called","ticket":"C","counter":"c1""#),
        ("09:41:00", r#""type":"left","ticket":"D""#),
    ]);
    let day = HallDay::replay(rules(0), &evs, ms(END));
    let care: Vec<_> = day
        .alerts()
        .iter()
        .filter(|a| a.kind == AlertKind::CareDue)
        .collect();
    assert_eq!(care.len(), 2);
    // C's care acknowledged 4 minutes after it was raised, D's after 6.
    let mut acks = BTreeMap::new();
    for a in &care {
        let after = if a.vip { 4 } else { 6 };
        acks.insert(a.key(), (a.raised_at + after * 60_000, "walker".to_owned()));
    }
    let checks = day.checks(&acks);
    assert_eq!(tally(&checks, AutoCheck::SystemTime), (2, 1));
    assert_eq!(
        tally(&checks, AutoCheck::CareInTime),
        (2, 1),
        "5 minutes allowed"
    );
    assert_eq!(tally(&checks, AutoCheck::PremiumCare), (1, 1));
    let none = day.checks(&BTreeMap::new());
    assert_eq!(tally(&none, AutoCheck::CareInTime), (2, 0));
    assert_eq!(tally(&none, AutoCheck::PremiumCare), (1, 0));
    // Announced waits: A had no service history to predict from; B was told 2 min
    // (A's 2 min at the counter) and waited 10 s; C was told 3 min (the mean of 2 and 3)
    // and waited 30; D left uncalled.
    assert_eq!(tally(&checks, AutoCheck::WaitAsAnnounced), (2, 1));
    // No counter closed at peak; no kiosks: that check is not made.
    assert_eq!(tally(&checks, AutoCheck::ClosedCountersAtPeak), (1, 1));
    assert_eq!(tally(&checks, AutoCheck::KioskDailyCheck), (0, 0));
}

#[test]
fn kiosks_are_checked_daily_and_repaired_within_two_working_days_across_days() {
    // Friday: k1 fails at 10:00 and is due Tuesday 10:00 (the weekend does not count);
    // k2 fails at 11:00 and is restored at 15:00. Only k1 and k2 are checked of 3.
    let friday = events(&[
        ("08:50:00", r#""type":"kiosk_checked","kiosk":"k1""#),
        (
            "08:51:00",
            r#""type":"kiosk_checked","kiosk":"k2","ok":false"#,
        ),
        (
            "09:00:00",
            r#""type":"ticket_issued","ticket":"A","service":"bill""#,
        ),
        (
            "10:00:00",
            r#""type":"kiosk_fault","kiosk":"k1","fault":"printer""#,
        ),
        (
            "11:00:00",
            r#""type":"kiosk_fault","kiosk":"k2","fault":"screen""#,
        ),
        ("15:00:00", r#""type":"kiosk_restored","kiosk":"k2""#),
    ]);
    let day = HallDay::replay(rules(3), &friday, ms(END));
    let checks = day.checks(&BTreeMap::new());
    assert_eq!(
        tally(&checks, AutoCheck::KioskDailyCheck),
        (1, 0),
        "k3 unchecked"
    );
    assert_eq!(tally(&checks, AutoCheck::KioskRepair), (1, 1), "k2 in time");
    let with_two = HallDay::replay(rules(2), &friday, ms(END));
    assert_eq!(
        tally(
            &with_two.checks(&BTreeMap::new()),
            AutoCheck::KioskDailyCheck
        ),
        (1, 1)
    );

    // Tuesday: k1 is still broken, carried in from Friday: overdue at 10:00, one
    // failed repair counted on the day it became late.
    let carried = [KioskFault {
        kiosk: "k1".into(),
        fault_at: ms("2026-08-07T10:00:00+08:00"),
        offset_s: 8 * 3600,
        fault: "printer".into(),
        restored_at: None,
    }];
    let tuesday: Vec<Event> = [
        r#"{"id":"t1","hall":"h","at":"2026-08-11T09:00:00+08:00","type":"ticket_issued","ticket":"A","service":"bill"}"#,
    ]
    .iter()
    .map(|l| Event::from_json(l).unwrap())
    .collect();
    let day = HallDay::replay_with(
        rules(3),
        &carried,
        &tuesday,
        ms("2026-08-11T23:59:59+08:00"),
    );
    let checks = day.checks(&BTreeMap::new());
    assert_eq!(tally(&checks, AutoCheck::KioskRepair), (1, 0));
    // Monday it was not yet late: nothing counted for it.
    let monday = HallDay::replay_with(rules(3), &carried, &[], ms("2026-08-10T23:59:59+08:00"));
    assert_eq!(
        tally(&monday.checks(&BTreeMap::new()), AutoCheck::KioskRepair),
        (0, 0)
    );
    // A day without tickets was not open: its once-a-day checks are not made.
    assert_eq!(
        tally(&monday.checks(&BTreeMap::new()), AutoCheck::KioskDailyCheck),
        (0, 0)
    );
}

#[test]
fn a_counter_left_closed_at_peak_fails_the_day_and_one_opened_passes() {
    let mut lines = vec![
        (
            "08:55:00",
            r#""type":"counter_opened","counter":"c1""#.to_owned(),
        ),
        (
            "08:55:00",
            r#""type":"counter_opened","counter":"c2""#.to_owned(),
        ),
        (
            "08:58:00",
            r#""type":"counter_closed","counter":"c2""#.to_owned(),
        ),
    ];
    for i in 0..5 {
        lines.push((
            ["09:00:00", "09:00:10", "09:00:20", "09:00:30", "09:00:40"][i],
            format!(r#""type":"ticket_issued","ticket":"A{i}","service":"bill""#),
        ));
    }
    let refs: Vec<(&str, &str)> = lines.iter().map(|(t, b)| (*t, b.as_str())).collect();
    // Four waiting on one counter while c2, staffed today, stands closed.
    let day = HallDay::replay(rules(0), &events(&refs), ms(END));
    assert_eq!(
        tally(
            &day.checks(&BTreeMap::new()),
            AutoCheck::ClosedCountersAtPeak
        ),
        (1, 0)
    );
    // The same queue with both counters open: 5 on 2 is not above 3 a counter.
    let open: Vec<(&str, &str)> = refs
        .iter()
        .filter(|(t, _)| *t != "08:58:00")
        .copied()
        .collect();
    let day = HallDay::replay(rules(0), &events(&open), ms(END));
    assert_eq!(
        tally(
            &day.checks(&BTreeMap::new()),
            AutoCheck::ClosedCountersAtPeak
        ),
        (1, 1)
    );
}
