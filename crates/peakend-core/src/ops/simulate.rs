//! A realistic simulated day of hall devices, reproducible from a seed: arrivals that
//! peak late morning and mid-afternoon, services with their own durations, counters
//! that open for the peaks, customers whose patience runs out, ratings that fall with
//! the wait, and kiosk faults. For demos, tests and benchmarks.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};

use super::event::{Event, EventKind, Outcome};
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
        });
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
}
