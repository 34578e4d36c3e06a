//! A realistic simulated day of hall devices, reproducible from a seed: arrivals that
//! peak late morning and mid-afternoon, services with their own durations, counters
//! that open for the peaks, customers whose patience runs out, ratings that fall with
//! the wait, kiosk faults, and (issue 23) the sales made after a served visit and the
//! data trials customers take while they wait. For demos, tests and benchmarks.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};

use super::event::{Event, EventKind, Outcome};
use super::sales::SaleCategory;
use crate::id::HallId;

pub struct SimHall {
    pub hall: HallId,
    pub counters: u32,
    pub kiosks: u32,
    /// The hall's time zone: its day runs from its own midnight.
    pub zone: crate::time::Zone,
}

/// (service, share of arrivals, median minutes at the counter)
const SERVICES: [(&str, f64, f64); 5] = [
    ("payment", 0.35, 2.5),
    ("data", 0.25, 5.0),
    ("new_line", 0.15, 9.0),
    ("phone", 0.15, 12.0),
    ("enquiry", 0.10, 3.0),
];
const SEGMENTS: [&str; 3] = ["全球通", "神州行", "动感地带"];

/// Relative arrival intensity by local hour: the late-morning and afternoon peaks.
fn intensity(hour: f64) -> f64 {
    let bump = |centre: f64, width: f64| (-((hour - centre) / width).powi(2)).exp();
    0.25 + bump(10.5, 1.2) + 0.8 * bump(15.5, 1.3)
}

const OPEN: f64 = 8.5;
const CLOSE: f64 = 18.0;

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Step {
    /// A counter finishes its customer.
    Free(usize),
    Arrive(usize),
    /// A waiting customer gives up.
    GiveUp(usize),
}

struct Customer {
    ticket: String,
    service: usize,
    arrived: i64,
    patience: i64,
    gone: bool,
    /// What the customer buys if served (decided on arrival).
    buys: Vec<Purchase>,
    trial: Option<Tried>,
}

/// A sale a customer makes if served: its line and amount in yuan.
type Purchase = (SaleCategory, f64);
/// A data trial taken while waiting: minutes after arrival it starts, and how long.
type Tried = (i64, i64);

/// Phones on sale, in yuan: the ~1,000–5,000 of a hall's shelf.
const PHONE_PRICES: [f64; 6] = [999.0, 1_499.0, 1_999.0, 2_699.0, 3_999.0, 4_999.0];
/// Data packages, in yuan: tens of yuan a month.
const DATA_PRICES: [f64; 5] = [10.0, 19.0, 29.0, 39.0, 59.0];
/// A new line's first plan, in yuan.
const PLAN_PRICES: [f64; 3] = [58.0, 88.0, 128.0];
const TRIAL_PHONES: [&str; 4] = ["Mate 60", "iPhone 15", "Xiaomi 14", "nova 12"];
const TRIAL_PACKAGES: [&str; 3] = ["5G 30GB", "5G 100GB", "流量包 10GB"];

/// What a customer of `service` (an index of [`SERVICES`]) buys if served, and the data
/// trial they take while waiting. Phone and data customers who try are more likely to
/// buy; a phone visit buys a phone about half the time, a data visit a package more
/// often, a new-line visit mostly opens the line; cross-sales (a package on a payment
/// or phone visit) and group accounts are occasional.
fn intentions(service: usize, rng: &mut ChaCha8Rng) -> (Vec<Purchase>, Option<Tried>) {
    let pick = |rng: &mut ChaCha8Rng, prices: &[f64]| prices[rng.random_range(0..prices.len())];
    let name = SERVICES[service].0;
    let trial = matches!(name, "phone" | "data") && rng.random_bool(0.35);
    let mut buys = Vec::new();
    match name {
        "phone" => {
            if rng.random_bool(if trial { 0.65 } else { 0.45 }) {
                buys.push((SaleCategory::Phone, pick(rng, &PHONE_PRICES)));
            }
            if rng.random_bool(0.15) {
                buys.push((SaleCategory::Data, pick(rng, &DATA_PRICES)));
            }
        }
        "data" => {
            if rng.random_bool(if trial { 0.75 } else { 0.55 }) {
                buys.push((SaleCategory::Data, pick(rng, &DATA_PRICES)));
            }
        }
        "new_line" => {
            if rng.random_bool(0.7) {
                buys.push((SaleCategory::NewCustomer, pick(rng, &PLAN_PRICES)));
            }
            if rng.random_bool(0.1) {
                buys.push((SaleCategory::Data, pick(rng, &DATA_PRICES)));
            }
        }
        _ => {
            if rng.random_bool(0.06) {
                buys.push((SaleCategory::Data, pick(rng, &DATA_PRICES)));
            }
        }
    }
    if rng.random_bool(0.01) {
        buys.push((SaleCategory::Group, (rng.random_range(5..=40) * 100) as f64));
    }
    let trial = trial.then(|| (rng.random_range(1..=4), rng.random_range(3..=10)));
    (buys, trial)
}

/// The events of one day (the local date in each hall's zone) for each hall, each
/// hall's in time order, with ids unique per hall.
pub fn day(halls: &[SimHall], date: NaiveDate, seed: u64) -> Vec<Event> {
    let mut out = Vec::new();
    for (i, h) in halls.iter().enumerate() {
        let offset = h.zone.offset_on(date);
        let Some(midnight) = date
            .and_hms_opt(0, 0, 0)
            .and_then(|m| m.and_local_timezone(offset).single())
        else {
            continue;
        };
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        out.extend(hall_day(h, midnight, &mut rng));
    }
    out
}

fn hall_day(h: &SimHall, midnight: DateTime<FixedOffset>, rng: &mut ChaCha8Rng) -> Vec<Event> {
    let mut sales_rng = rng.clone();
    sales_rng.set_stream(1);
    let at = |ms: i64| midnight + Duration::milliseconds(ms);
    let hour_ms = |hour: f64| (hour * 3_600_000.0) as i64;
    let counters = h.counters.max(1) as usize;
    let mut events: Vec<(i64, EventKind)> = Vec::new();
    // The base shift opens at 08:30; the rest of the counters only for the peaks.
    let base = counters.div_ceil(2);
    let peaks = [(10.0, 12.0), (14.5, 16.5)];
    let open_spans = |c: usize| -> Vec<(f64, f64)> {
        if c < base {
            vec![(OPEN, CLOSE)]
        } else {
            peaks.to_vec()
        }
    };
    for c in 0..counters {
        for (from, to) in open_spans(c) {
            events.push((
                hour_ms(from),
                EventKind::CounterOpened {
                    counter: format!("c{}", c + 1),
                },
            ));
            events.push((
                hour_ms(to),
                EventKind::CounterClosed {
                    counter: format!("c{}", c + 1),
                },
            ));
        }
    }
    let is_open = |c: usize, t: i64| {
        open_spans(c)
            .iter()
            .any(|&(a, b)| t >= hour_ms(a) && t < hour_ms(b))
    };

    // Arrivals: a Poisson process thinned by the day's intensity, scaled so the peaks
    // overload the open counters, as real peaks do.
    let mean_service_min: f64 = SERVICES.iter().map(|s| s.1 * s.2 * 1.1).sum();
    let peak_rate_per_min = 1.6 * counters as f64 / mean_service_min;
    let max_intensity = 1.3;
    let gap = Exp::new(peak_rate_per_min).expect("positive rate");
    let mut customers = Vec::new();
    let mut t_min = OPEN * 60.0;
    loop {
        t_min += gap.sample(rng);
        if t_min >= CLOSE * 60.0 - 30.0 {
            break;
        }
        if rng.random::<f64>() * max_intensity > intensity(t_min / 60.0) {
            continue;
        }
        let r = rng.random::<f64>();
        let mut acc = 0.0;
        let service = SERVICES
            .iter()
            .position(|s| {
                acc += s.1;
                r < acc
            })
            .unwrap_or(0);
        customers.push(Customer {
            ticket: format!(
                "{}{:03}",
                (b'A' + service as u8) as char,
                customers.len() + 1
            ),
            service,
            arrived: (t_min * 60_000.0) as i64,
            patience: (Exp::new(1.0 / 30.0).expect("positive").sample(rng) * 60_000.0) as i64,
            gone: false,
            buys: Vec::new(),
            trial: None,
        });
    }
    // Sales and trials draw from their own stream, so the queue's day (arrivals,
    // services, ratings, faults) is the same as a simulator without them made.
    for c in customers.iter_mut() {
        (c.buys, c.trial) = intentions(c.service, &mut sales_rng);
    }

    let mut steps: BinaryHeap<Reverse<(i64, Step)>> = BinaryHeap::new();
    for (i, c) in customers.iter().enumerate() {
        steps.push(Reverse((c.arrived, Step::Arrive(i))));
    }
    // Counters also look for work when they open.
    for c in 0..counters {
        for (from, _) in open_spans(c) {
            steps.push(Reverse((hour_ms(from), Step::Free(c))));
        }
    }
    let mut busy = vec![false; counters];
    let mut queue: VecDeque<usize> = VecDeque::new();
    // Trials started: customer, trial id, when it ends.
    let mut trials: Vec<(usize, String, i64)> = Vec::new();
    // Customers who bought: their trial ends with a purchase.
    let mut bought = vec![false; customers.len()];
    while let Some(Reverse((t, step))) = steps.pop() {
        match step {
            Step::Arrive(i) => {
                let c = &customers[i];
                events.push((
                    t,
                    EventKind::TicketIssued {
                        ticket: c.ticket.clone(),
                        service: SERVICES[c.service].0.to_owned(),
                        segment: Some(SEGMENTS[rng.random_range(0..SEGMENTS.len())].to_owned()),
                        vip: rng.random_bool(0.05),
                        channel: Default::default(),
                        appointed_at: None,
                        tier: None,
                        customer: None,
                    },
                ));
                if let Some((after, lasts)) = c.trial {
                    let trial = format!("t-{}", c.ticket);
                    let phone = SERVICES[c.service].0 == "phone";
                    let n = i % 4;
                    let start = t + after * 60_000;
                    events.push((
                        start,
                        EventKind::TrialStarted {
                            trial: trial.clone(),
                            ticket: Some(c.ticket.clone()),
                            device: phone.then(|| TRIAL_PHONES[n].to_owned()),
                            product: (!phone).then(|| TRIAL_PACKAGES[n % 3].to_owned()),
                        },
                    ));
                    trials.push((i, trial, start + lasts * 60_000));
                }
                queue.push_back(i);
                steps.push(Reverse((t + c.patience, Step::GiveUp(i))));
            }
            Step::GiveUp(i) => {
                if let Some(pos) = queue.iter().position(|&q| q == i) {
                    queue.remove(pos);
                    customers[i].gone = true;
                    events.push((
                        t,
                        EventKind::Left {
                            ticket: customers[i].ticket.clone(),
                        },
                    ));
                }
            }
            Step::Free(c) => busy[c] = false,
        }
        // Every idle open counter calls the next customer.
        for (c, busy) in busy.iter_mut().enumerate() {
            if *busy || !is_open(c, t) {
                continue;
            }
            let Some(i) = queue.pop_front() else { break };
            let cust = &customers[i];
            let counter = format!("c{}", c + 1);
            let staff = Some(format!("s{}", c + 1));
            let median = SERVICES[cust.service].2 * 60_000.0;
            let service = LogNormal::new(median.ln(), 0.45)
                .expect("valid spread")
                .sample(rng) as i64;
            let walk = 20_000;
            let (called, start, end) = (t, t + walk, t + walk + service);
            let waited_min = (called - cust.arrived) as f64 / 60_000.0;
            events.push((
                called,
                EventKind::Called {
                    ticket: cust.ticket.clone(),
                    counter: counter.clone(),
                    staff: staff.clone(),
                },
            ));
            events.push((
                start,
                EventKind::ServiceStarted {
                    ticket: cust.ticket.clone(),
                    counter: counter.clone(),
                    staff: staff.clone(),
                },
            ));
            let outcome = match rng.random::<f64>() {
                x if x < 0.9 => Outcome::Done,
                x if x < 0.96 => Outcome::Unresolved,
                _ => Outcome::Referred,
            };
            events.push((
                end,
                EventKind::ServiceEnded {
                    ticket: cust.ticket.clone(),
                    counter,
                    staff: staff.clone(),
                    outcome,
                },
            ));
            // A referred customer buys elsewhere; the others buy at the till, a second
            // apart, right after the service ends.
            if outcome != Outcome::Referred {
                for (k, (category, amount)) in cust.buys.iter().enumerate() {
                    events.push((
                        end + 1_000 * (k as i64 + 1),
                        EventKind::Sale {
                            ticket: cust.ticket.clone(),
                            category: *category,
                            amount: Some(*amount),
                            staff: staff.clone(),
                        },
                    ));
                }
                bought[i] = !cust.buys.is_empty();
            }
            // Three in four rate; the score falls as the wait grows past ten minutes.
            if rng.random_bool(0.75) {
                let mood = 4.7 - (waited_min - 10.0).max(0.0) * 0.12 + rng.random_range(-0.8..0.5);
                events.push((
                    end + 5_000,
                    EventKind::Rated {
                        ticket: cust.ticket.clone(),
                        score: mood.round().clamp(1.0, 5.0),
                        scale: 5.0,
                        staff,
                    },
                ));
            }
            *busy = true;
            steps.push(Reverse((end + 30_000, Step::Free(c))));
        }
    }

    // Each trial ends a few minutes after it began, before or around the call; the
    // customer bought what they tried when they bought anything of its line.
    for (i, trial, end) in trials {
        let line = if SERVICES[customers[i].service].0 == "phone" {
            SaleCategory::Phone
        } else {
            SaleCategory::Data
        };
        let purchased = bought[i] && customers[i].buys.iter().any(|(c, _)| *c == line);
        events.push((
            end,
            EventKind::TrialEnded {
                trial,
                ticket: Some(customers[i].ticket.clone()),
                device: None,
                product: None,
                purchased: Some(purchased),
            },
        ));
    }

    // The person on duty checks each kiosk before opening (the `device_check` standard),
    // forgetting one now and then; no random draw, so the rest of the day is as before.
    let day_no = midnight.ordinal();
    for k in 0..h.kiosks {
        if (k + day_no) % 17 != 0 {
            events.push((
                hour_ms(OPEN) - (10 + i64::from(k)) * 60_000,
                EventKind::KioskChecked {
                    kiosk: format!("k{}", k + 1),
                    ok: true,
                },
            ));
        }
    }

    // Now and then a kiosk fails; most are restored the same day, some are not.
    for k in 0..h.kiosks {
        if rng.random_bool(0.15) {
            let fault = hour_ms(rng.random_range(OPEN..CLOSE - 1.0));
            let kiosk = format!("k{}", k + 1);
            events.push((
                fault,
                EventKind::KioskFault {
                    kiosk: kiosk.clone(),
                    fault: "printer".into(),
                },
            ));
            if rng.random_bool(0.7) {
                events.push((
                    fault + rng.random_range(20..180) * 60_000,
                    EventKind::KioskRestored { kiosk },
                ));
            }
        }
    }

    let mut out: Vec<Event> = events
        .into_iter()
        .map(|(ms, kind)| Event {
            id: String::new(),
            hall: h.hall.clone(),
            at: at(ms),
            kind,
        })
        .collect();
    super::event::sort_for_replay(&mut out);
    for (n, e) in out.iter_mut().enumerate() {
        e.id = format!("{}-{}-{n:05}", h.hall, midnight.format("%Y%m%d"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::day::{AlertKind, HallDay, Rules};
    use crate::ops::ticket::Kpis;

    fn halls() -> Vec<SimHall> {
        ["h1", "h2"]
            .iter()
            .map(|h| SimHall {
                hall: HallId::parse(*h).unwrap(),
                counters: 6,
                kiosks: 3,
                zone: crate::time::Zone::DEFAULT,
            })
            .collect()
    }

    #[test]
    fn a_simulated_day_replays_cleanly_and_looks_like_a_hall() {
        let date = NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let events = day(&halls(), date, 7);
        assert_eq!(events, day(&halls(), date, 7), "reproducible");
        let h1: Vec<&Event> = events.iter().filter(|e| e.hall.as_str() == "h1").collect();
        let mut d = HallDay::new(Rules::default());
        for e in &h1 {
            d.apply(e).unwrap_or_else(|err| panic!("{err}: {e:?}"));
        }
        d.advance_to(h1.last().unwrap().at_ms() + 3_600_000);
        let k = Kpis::of(d.tickets(), Rules::default().measure());
        assert!(k.arrivals > 150 && k.arrivals < 600, "{k:?}");
        assert!(
            k.abandoned > 0 && k.abandonment_rate.unwrap() < 0.3,
            "{k:?}"
        );
        assert!(k.service_level.unwrap() > 0.5, "{k:?}");
        assert!(k.avg_rating.unwrap() > 3.0, "{k:?}");
        assert!(
            k.care_alerts > 0,
            "a busy day has customers waiting past 15 min"
        );
        assert!(
            d.alerts()
                .iter()
                .any(|a| a.kind == AlertKind::PreProcessing)
        );
        // Arrivals peak late morning rather than at opening.
        let hour_of = |t: i64| (t - h1[0].at_ms()) / 3_600_000;
        let per_hour = |h: i64| d.tickets().filter(|t| hour_of(t.issued_at) == h).count();
        assert!(
            per_hour(2) > per_hour(0),
            "{} vs {}",
            per_hour(2),
            per_hour(0)
        );
        let ids: std::collections::HashSet<&str> = h1.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), h1.len());
    }

    /// The sales and trials of a simulated day: every sale on a served visit and
    /// credited to its server, amounts in their price ranges, and the KPIs in the
    /// ranges a hall's would be (phone visits converting between 20 % and 80 %).
    #[test]
    fn a_simulated_day_sells_plausibly() {
        use crate::ops::kpi::{Bucket, ReportSums};
        use crate::ops::sales::{SaleCategory, TrialRollup};
        let date = NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let events = day(&halls(), date, 7);
        let rules = Rules::default();
        let h1: Vec<&Event> = events.iter().filter(|e| e.hall.as_str() == "h1").collect();
        let d = HallDay::replay(rules.clone(), h1.iter().copied(), i64::MAX / 2);
        let mut sales = 0;
        for t in d.tickets() {
            for s in &t.sales {
                sales += 1;
                assert!(t.ended_at.is_some(), "{t:?}");
                assert_eq!(s.staff, t.staff, "{t:?}");
                let yuan = s.amount_fen.unwrap() as f64 / 100.0;
                let range = match s.category {
                    SaleCategory::Phone => 999.0..=4_999.0,
                    SaleCategory::Data => 10.0..=59.0,
                    SaleCategory::NewCustomer => 58.0..=128.0,
                    SaleCategory::Group => 500.0..=4_000.0,
                    SaleCategory::Other => 0.0..=0.0,
                };
                assert!(range.contains(&yuan), "{s:?}");
            }
        }
        // Every sale event was applied: none was refused by the day.
        let sale_events = h1
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Sale { .. }))
            .count();
        assert_eq!(sales, sale_events);
        assert!(sales > 50, "{sales}");

        let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let mut sums = ReportSums::new(rules.measure(), Bucket::Day, cst);
        let tickets: Vec<_> = d.tickets().cloned().collect();
        sums.add_tickets("h1", &tickets);
        sums.add_trials(
            "h1",
            &TrialRollup::of(d.trials(), |t| d.ticket(t)?.staff.clone()),
        );
        let report = sums.report();
        let k = &report.total.sales;
        let rate = |c: SaleCategory| {
            let v = k.conversions.iter().find(|v| v.category == c).unwrap();
            assert!(v.visits > 10, "{c:?}: {v:?}");
            v.rate.unwrap()
        };
        let phone = rate(SaleCategory::Phone);
        assert!((0.2..=0.8).contains(&phone), "{phone}");
        let data = rate(SaleCategory::Data);
        assert!((0.3..=0.9).contains(&data), "{data}");
        let new_line = rate(SaleCategory::NewCustomer);
        assert!((0.4..=0.95).contains(&new_line), "{new_line}");
        let per_served = k.sales_per_served.unwrap();
        assert!((0.2..=1.0).contains(&per_served), "{per_served}");
        // Trials: taken by phone and data customers, all ended by the evening, and
        // bought from more often than not bought from.
        assert!(k.trials.started > 10, "{:?}", k.trials);
        assert_eq!(k.trials.ended, k.trials.started);
        let tc = k.trial_conversion.unwrap();
        assert!((0.2..=0.9).contains(&tc), "{tc}");
        for t in d.trials() {
            let tk = d.ticket(t.ticket.as_deref().unwrap()).unwrap();
            assert!(matches!(tk.service.as_str(), "phone" | "data"), "{t:?}");
            assert!(t.started_at.unwrap() > tk.issued_at && t.ended_at > t.started_at);
        }

        // Per staff member: every counter's staff sold, and the staff lines add up to
        // the hall's (every sale names its server).
        let staff: Vec<_> = report
            .staff
            .iter()
            .filter(|s| s.kpis.sales.sales > 0)
            .collect();
        assert!(staff.len() >= 3, "{}", staff.len());
        assert_eq!(
            staff.iter().map(|s| s.kpis.sales.sales).sum::<u64>(),
            k.sales
        );
        assert_eq!(
            report
                .staff
                .iter()
                .map(|s| s.kpis.sales.trials.purchased)
                .sum::<u64>(),
            k.trials.purchased
        );
    }

    /// The hall sizes and seeds the workspace's tests simulate (CLI, store, roll-ups):
    /// every event, sales and trials included, applies in replay order, as an ingest
    /// in time order needs.
    #[test]
    fn simulated_days_of_every_size_apply_without_a_refusal() {
        for (counters, kiosks, seed, day_no) in [
            (1, 0, 1, 0),
            (2, 1, 11, 0),
            (3, 2, 3, 3),
            (4, 2, 5, 0),
            (10, 3, 6, 1),
        ] {
            let date = NaiveDate::from_ymd_opt(2026, 8, 7).unwrap() + Duration::days(day_no);
            let hall = [SimHall {
                hall: HallId::parse("h1").unwrap(),
                counters,
                kiosks,
                zone: crate::time::Zone::DEFAULT,
            }];
            let events = day(&hall, date, seed);
            let mut d = HallDay::new(Rules::default());
            for e in &events {
                d.apply(e)
                    .unwrap_or_else(|err| panic!("{counters} counters, seed {seed}: {err}: {e:?}"));
            }
            let sales = events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::Sale { .. }))
                .count();
            assert!(sales > 0, "{counters} counters, seed {seed}");
            assert!(d.open_trials().is_empty(), "every trial ends the same day");
        }
    }
}
