//! Issue 19: the merge laws the stored statistics rely on. Survey statistics and the
//! operations' KPI sums are kept in parts (roll-up cells per hall and month, chunks of
//! a file, hall-days) and merged; merging any split of the data in any order must give
//! the statistics of all of it at once.

use peakend_core::analysis::{GroupBy, GroupedStats};
use peakend_core::ops::day::{HallDay, Rules};
use peakend_core::ops::event::Event;
use peakend_core::ops::ticket::KpiSums;
use peakend_core::peak::PeakRule;
use peakend_core::{HallId, builtin};
use proptest::prelude::*;

fn journey() -> peakend_core::Journey {
    builtin::journeys().unwrap().remove(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any split of the responses into parts, merged in any order, analyses like the
    /// whole (up to floating-point rounding).
    #[test]
    fn survey_statistics_merge_like_the_whole(
        seed in 0u64..1000,
        rows in 40usize..400,
        cuts in proptest::collection::vec(0.0f64..1.0, 1..5),
        reversed in any::<bool>(),
        by_purpose in any::<bool>(),
    ) {
        let j = journey();
        let halls = [HallId::parse("h1").unwrap(), HallId::parse("h2").unwrap()];
        let all: Vec<_> = peakend_core::synth::responses(&j, &halls, rows, seed).collect();
        let by = by_purpose.then_some(GroupBy::Purpose);
        let mut whole = GroupedStats::new(&j, by, None);
        all.iter().for_each(|r| whole.push(r));

        let mut bounds: Vec<usize> = cuts.iter().map(|c| (c * rows as f64) as usize).collect();
        bounds.push(0);
        bounds.push(rows);
        bounds.sort_unstable();
        let mut parts: Vec<GroupedStats> = bounds
            .windows(2)
            .map(|w| {
                let mut g = GroupedStats::new(&j, by, None);
                all[w[0]..w[1]].iter().for_each(|r| g.push(r));
                g
            })
            .collect();
        if reversed {
            parts.reverse();
        }
        let mut merged = GroupedStats::new(&j, by, None);
        parts.iter().for_each(|p| merged.merge(p));

        let a = whole.analyze(&j, None, PeakRule::default()).unwrap();
        let b = merged.analyze(&j, None, PeakRule::default()).unwrap();
        peakend_testkit::assert_json_near(
            &serde_json::to_value(&a).unwrap(),
            &serde_json::to_value(&b).unwrap(),
            "analysis",
        );
    }

    /// KPI sums of any split of a day's tickets, merged, equal the sums of all of them.
    #[test]
    fn kpi_sums_merge_like_the_whole(
        seed in 0u64..500,
        cut in 0.0f64..1.0,
    ) {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let halls = [peakend_core::ops::simulate::SimHall {
            hall: HallId::parse("h1").unwrap(),
            counters: 6,
            kiosks: 3,
            zone: peakend_core::time::Zone::DEFAULT,
        }];
        let events: Vec<Event> = peakend_core::ops::simulate::day(&halls, date, seed);
        let rules = Rules::default();
        let end = events.iter().map(Event::at_ms).max().unwrap_or(0) + 3_600_000;
        let day = HallDay::replay(rules.clone(), &events, end);
        let tickets: Vec<_> = day.tickets().cloned().collect();
        let mut whole = KpiSums::default();
        tickets.iter().for_each(|t| whole.add(t, rules.measure()));
        let k = (cut * tickets.len() as f64) as usize;
        let (mut a, mut b) = (KpiSums::default(), KpiSums::default());
        tickets[..k].iter().for_each(|t| a.add(t, rules.measure()));
        tickets[k..].iter().for_each(|t| b.add(t, rules.measure()));
        b.merge(&a);
        prop_assert_eq!(b.kpis(), whole.kpis());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The same events in any arrival order, put in replay order, replay to the same
    /// tickets, KPIs and alerts: replay order is a total order of the events themselves.
    #[test]
    fn any_arrival_order_replays_to_the_same_day(seed in 0u64..500, shuffle in any::<u64>()) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let halls = [peakend_core::ops::simulate::SimHall {
            hall: HallId::parse("h1").unwrap(),
            counters: 4,
            kiosks: 2,
            zone: peakend_core::time::Zone::DEFAULT,
        }];
        let mut events = peakend_core::ops::simulate::day(&halls, date, seed);
        let end = events.iter().map(Event::at_ms).max().unwrap_or(0) + 3_600_000;
        let mut arrived = events.clone();
        arrived.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(shuffle));
        peakend_core::ops::event::sort_for_replay(&mut events);
        peakend_core::ops::event::sort_for_replay(&mut arrived);
        let a = HallDay::replay(Rules::default(), &events, end);
        let b = HallDay::replay(Rules::default(), &arrived, end);
        prop_assert_eq!(a.tickets().collect::<Vec<_>>(), b.tickets().collect::<Vec<_>>());
        prop_assert_eq!(a.alerts(), b.alerts());
    }
}

/// One ticket's script for [`a_rollup_kept_batch_by_batch_equals_the_day_s`]: when it
/// comes, whether it is called or leaves, where it is served (the counter and staff
/// may change between call and start, as at a hall that passes a customer on), and
/// how many times it is rated.
#[derive(Debug, Clone)]
struct Script {
    gap_s: i64,
    wait_s: i64,
    called: bool,
    leaves_after_call: bool,
    counters: (u8, u8),
    staff: (u8, u8),
    service_s: i64,
    ratings: Vec<(u8, u8)>,
    /// The visit's purpose: payment, phone or data (issue 23).
    purpose: u8,
    /// Sales after the call: (category, seller named or not, amount in yuan).
    sales: Vec<(u8, Option<u8>, u16)>,
    /// A data trial tied to the ticket, ended with a purchase or not.
    trial: Option<bool>,
}

fn script() -> impl Strategy<Value = Script> {
    (
        (0i64..300, 0i64..2400, any::<bool>(), any::<bool>()),
        ((0u8..3, 0u8..3), (0u8..4, 0u8..4), 10i64..600),
        proptest::collection::vec((1u8..=10, 0u8..3), 0..3),
        (
            0u8..3,
            proptest::collection::vec((0u8..5, proptest::option::of(0u8..4), 0u16..5000), 0..3),
            proptest::option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (gap_s, wait_s, called, leaves_after_call),
                (counters, staff, service_s),
                ratings,
                (purpose, sales, trial),
            )| {
                Script {
                    gap_s,
                    wait_s,
                    called,
                    leaves_after_call,
                    counters,
                    staff,
                    service_s,
                    ratings,
                    purpose,
                    sales,
                    trial,
                }
            },
        )
}

/// The events of the scripts, in time order, from 08:30 on 2026-08-07 (+08:00).
fn scripted_events(scripts: &[Script]) -> Vec<Event> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-08-07T08:30:00+08:00").unwrap();
    let mut timed: Vec<(i64, String)> = Vec::new();
    let mut at = 0;
    for (n, s) in scripts.iter().enumerate() {
        at += s.gap_s;
        let t = format!("A{n:03}");
        let mut add = |secs: i64, body: String| timed.push((secs, body));
        let service = ["pay", "phone", "data"][s.purpose as usize];
        add(
            at,
            format!(r#""type":"ticket_issued","ticket":"{t}","service":"{service}""#),
        );
        let end = at + s.wait_s;
        if let Some(bought) = s.trial {
            add(
                at + 1,
                format!(r#""type":"trial_started","trial":"T{n}","ticket":"{t}""#),
            );
            add(
                end,
                format!(r#""type":"trial_ended","trial":"T{n}","purchased":{bought}"#),
            );
        }
        // Booked between call and start, where the ticket's staff may still change
        // (refused, and left out, when the ticket is never called).
        for (k, (category, seller, amount)) in s.sales.iter().enumerate() {
            let category = ["new_customer", "data", "phone", "group", "other"][*category as usize];
            let seller = seller.map_or(String::new(), |x| format!(r#","staff":"s{x}""#));
            add(
                end + 1 + k as i64,
                format!(
                    r#""type":"sale","ticket":"{t}","category":"{category}","amount":{amount}.5{seller}"#
                ),
            );
        }
        if !s.called {
            add(end, format!(r#""type":"left","ticket":"{t}""#));
            continue;
        }
        let (c1, c2) = s.counters;
        let (s1, s2) = s.staff;
        add(
            end,
            format!(r#""type":"called","ticket":"{t}","counter":"c{c1}","staff":"s{s1}""#),
        );
        if s.leaves_after_call {
            add(end + 5, format!(r#""type":"left","ticket":"{t}""#));
        } else {
            let on = format!(r#""counter":"c{c2}","staff":"s{s2}""#);
            add(
                end + 30,
                format!(r#""type":"service_started","ticket":"{t}",{on}"#),
            );
            add(
                end + 30 + s.service_s,
                format!(r#""type":"service_ended","ticket":"{t}",{on},"outcome":"done""#),
            );
        }
        for (k, (score, scale)) in s.ratings.iter().enumerate() {
            let scale = [5, 3, 10][*scale as usize];
            let score = (*score).min(scale);
            add(
                end + 40 + s.service_s + k as i64,
                format!(r#""type":"rated","ticket":"{t}","score":{score},"scale":{scale}"#),
            );
        }
    }
    timed.sort_by_key(|(secs, _)| *secs);
    timed
        .into_iter()
        .enumerate()
        .map(|(i, (secs, body))| {
            let at = (start + chrono::Duration::seconds(secs)).to_rfc3339();
            Event::from_json(&format!(
                r#"{{"id":"e{i}","hall":"h1","at":"{at}",{body}}}"#
            ))
            .unwrap()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Issue 19: the ingest keeps a hall-day's roll-up batch by batch, counting again
    /// only the tickets each batch changed. After every batch it equals the roll-up of
    /// the whole day counted at once, whatever the batches, including tickets that
    /// change counter or staff and are rated more than once, with sales credited to
    /// sellers other than the server and trials credited to the server.
    #[test]
    fn a_rollup_kept_batch_by_batch_equals_the_day_s(
        scripts in proptest::collection::vec(script(), 1..40),
        cuts in proptest::collection::vec(0.0f64..1.0, 0..6),
    ) {
        use peakend_core::ops::rollup::{DayRollup, LiveRollup};
        let events = scripted_events(&scripts);
        let rules = Rules::default();
        let mut bounds: Vec<usize> =
            cuts.iter().map(|c| (c * events.len() as f64) as usize).collect();
        bounds.extend([0, events.len()]);
        bounds.sort_unstable();
        let mut day = HallDay::new(rules.clone());
        day.track_changes();
        let mut live = LiveRollup::new(rules.measure());
        for w in bounds.windows(2) {
            for e in &events[w[0]..w[1]] {
                let _ = day.apply(e);
            }
            live.update(&mut day);
            let last = events[..w[1]].iter().map(Event::at_ms).max();
            peakend_testkit::assert_json_near(
                &serde_json::to_value(live.rollup(last)).unwrap(),
                &serde_json::to_value(DayRollup::of(&day, rules.measure(), last)).unwrap(),
                "roll-up",
            );
        }
        // The sales were booked, not all refused: a called ticket's sales count.
        let sold: u64 = scripts.iter().filter(|s| s.called).map(|s| s.sales.len() as u64).sum();
        let counted: u64 = DayRollup::of(&day, rules.measure(), None)
            .done
            .sales
            .lines
            .values()
            .map(|l| l.sales)
            .sum();
        prop_assert_eq!(counted, sold);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The same with the gap model's expectation items, asked of about half of the
    /// respondents: parts that have none (their accumulator not yet allocated) merge
    /// with parts that have some, in any order, into the gaps of the whole.
    #[test]
    fn expectation_statistics_merge_like_the_whole(
        seed in 0u64..1000,
        rows in 2usize..200,
        cuts in proptest::collection::vec(0.0f64..1.0, 1..5),
        order in any::<u64>(),
    ) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let j = journey();
        let halls = [HallId::parse("h1").unwrap(), HallId::parse("h2").unwrap()];
        let on = peakend_core::synth::SynthOptions {
            expectations: true,
            ..Default::default()
        };
        let all: Vec<_> = peakend_core::synth::responses_with(&j, &halls, rows, seed, on).collect();
        let mut whole = GroupedStats::new(&j, None, None);
        all.iter().for_each(|r| whole.push(r));

        let mut bounds: Vec<usize> = cuts.iter().map(|c| (c * rows as f64) as usize).collect();
        bounds.extend([0, rows]);
        bounds.sort_unstable();
        let mut parts: Vec<GroupedStats> = bounds
            .windows(2)
            .map(|w| {
                let mut g = GroupedStats::new(&j, None, None);
                all[w[0]..w[1]].iter().for_each(|r| g.push(r));
                g
            })
            .collect();
        parts.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(order));
        // Merged left to right, and as a tree (a + (b + c)), in the shuffled order.
        let mut left = GroupedStats::new(&j, None, None);
        parts.iter().for_each(|p| left.merge(p));
        let mut right = GroupedStats::new(&j, None, None);
        for p in parts.iter().rev() {
            let mut next = p.clone();
            next.merge(&right);
            right = next;
        }
        for (seg, s) in &whole.all.segments {
            let counts = |g: &GroupedStats| {
                g.all.segments[seg].expectations.as_ref().map(|e| {
                    (e.respondents, e.unpaired.clone(), e.expectation.iter().map(|x| x.n).collect::<Vec<_>>())
                })
            };
            let expected = s.expectations.as_ref().map(|e| {
                (e.respondents, e.unpaired.clone(), e.expectation.iter().map(|x| x.n).collect::<Vec<_>>())
            });
            prop_assert_eq!(counts(&left), expected.clone());
            prop_assert_eq!(counts(&right), expected);
        }
        let a = whole.analyze(&j, None, PeakRule::default()).unwrap();
        for merged in [&left, &right] {
            let b = merged.analyze(&j, None, PeakRule::default()).unwrap();
            prop_assert_eq!(a.gaps.is_some(), b.gaps.is_some());
            peakend_testkit::assert_json_near(
                &serde_json::to_value(&a).unwrap(),
                &serde_json::to_value(&b).unwrap(),
                "analysis",
            );
        }
    }
}
