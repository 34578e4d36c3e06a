//! A ticket's timeline and what KPIs make of tickets: the standards they are measured
//! against ([`Measure`]), the mergeable sums ([`KpiSums`], [`AnnouncedSums`]) and the
//! figures ([`Kpis`], [`PredictorAccuracy`]). Below both the day's replay and its
//! roll-up, which each use them.

use serde::{Deserialize, Serialize};

use super::event::{Channel, Outcome, Tier};
use super::sales::{Sale, SalesKpis, SalesSums};

/// What a hall's KPIs measure its tickets against: the journey's care standard (a
/// ticket called within it counts for the service level) and its system-time standard
/// (a transaction longer than it counts against the counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    pub care_after_ms: i64,
    pub system_time_ms: i64,
    /// The rating at or below which a visit counts as a bad experience, in thousandths
    /// of a point of 5 (the journey's `low_rating` standard; 2,000 is 2 of 5).
    #[serde(default)]
    pub low_rating_milli: i64,
}

impl Default for Measure {
    /// The service-hall standards: care after 15 min, a transaction within 2.5 min.
    fn default() -> Self {
        Measure {
            care_after_ms: 15 * 60_000,
            system_time_ms: 150_000,
            low_rating_milli: 2000,
        }
    }
}

/// One ticket's timeline, times in ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub ticket: String,
    pub service: String,
    pub segment: Option<String>,
    pub vip: bool,
    pub issued_at: i64,
    pub called_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub left_at: Option<i64>,
    pub counter: Option<String>,
    pub staff: Option<String>,
    pub outcome: Option<Outcome>,
    /// (score, scale)
    pub rating: Option<(f64, f64)>,
    /// The wait announced when the ticket was issued ("about M minutes"), if the hall
    /// had a counter open and a service history to predict from.
    pub announced_wait_s: Option<f64>,
    /// When a care alert was raised for this ticket's wait, if one was.
    pub care_due_at: Option<i64>,
    /// The customer's tier (ordinary unless the ticket or its booking says otherwise).
    pub tier: Tier,
    pub channel: Channel,
    /// A remote ticket's announced time to come by.
    pub appointed_at: Option<i64>,
    /// When the holder reported in the hall (a remote ticket or a booking).
    pub arrived_at: Option<i64>,
    /// The booking the ticket was given for.
    pub booking: Option<String>,
    /// Arrived within its booked slot: served ahead of walk-ins (the green channel).
    pub green: bool,
    /// When a remote ticket lapsed, not called by its announced time plus the grace.
    pub expired_at: Option<i64>,
    /// When a remote ticket whose holder has not reported will lapse if not called.
    pub valid_until: Option<i64>,
    /// The service-level target of its tier (called within it), from the journey.
    pub target_ms: Option<i64>,
    /// The customer's salted key, from the ticket or its booking (never serialized to
    /// boards or snapshots).
    #[serde(skip)]
    pub customer: Option<String>,
    /// Sales booked on the visit (issue 23), in the order booked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sales: Vec<Sale>,
}

impl Ticket {
    /// A ticket just issued, with nothing else yet on its timeline.
    pub fn issued(
        ticket: &str,
        service: &str,
        segment: Option<String>,
        vip: bool,
        at: i64,
    ) -> Ticket {
        Ticket {
            ticket: ticket.to_owned(),
            service: service.to_owned(),
            segment,
            vip,
            issued_at: at,
            called_at: None,
            started_at: None,
            ended_at: None,
            left_at: None,
            counter: None,
            staff: None,
            outcome: None,
            rating: None,
            announced_wait_s: None,
            care_due_at: None,
            tier: if vip { Tier::Gold } else { Tier::Ordinary },
            channel: Channel::Kiosk,
            appointed_at: None,
            arrived_at: None,
            booking: None,
            green: false,
            expired_at: None,
            valid_until: None,
            target_ms: None,
            customer: None,
            sales: Vec::new(),
        }
    }

    /// Not yet called nor gone.
    pub fn waiting(&self) -> bool {
        self.called_at.is_none() && self.left_at.is_none() && self.expired_at.is_none()
    }

    /// When the wait in the hall began: on arrival for a customer who reported in, at
    /// the announced time for a remote ticket taken earlier, else at issue. A ticket
    /// taken by SMS at 08:00 for 10:00 has not waited two hours at 10:00.
    pub fn wait_from(&self) -> i64 {
        self.arrived_at
            .or(self.appointed_at.filter(|a| *a > self.issued_at))
            .unwrap_or(self.issued_at)
    }

    /// Time from the start of the wait to call (served) or to leaving (abandoned).
    pub fn wait_ms(&self) -> Option<i64> {
        self.called_at
            .or(self.left_at)
            .map(|end| (end - self.wait_from()).max(0))
    }

    pub fn abandoned(&self) -> bool {
        self.left_at.is_some() && self.called_at.is_none()
    }

    pub fn service_ms(&self) -> Option<i64> {
        Some(self.ended_at? - self.started_at?)
    }

    /// A visit that went badly, voiced or not: the customer left after waiting past
    /// the care rule, rated at or below the low-rating standard, or left unresolved.
    pub fn bad_experience(&self, measure: Measure) -> bool {
        let left_late =
            self.abandoned() && self.wait_ms().is_some_and(|w| w >= measure.care_after_ms);
        let low = self.rating.is_some_and(|(score, scale)| {
            scale > 0.0 && (score / scale * 5000.0).round() as i64 <= measure.low_rating_milli
        });
        let unresolved = matches!(
            self.outcome,
            Some(super::event::Outcome::Unresolved | super::event::Outcome::Referred)
        );
        left_late || low || unresolved
    }
}

/// How well the announced waits matched: over called tickets that had an announcement,
/// the root-mean-square and mean absolute errors and the share who waited longer than
/// announced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictorAccuracy {
    pub n: u64,
    pub rmse_s: Option<f64>,
    pub mae_s: Option<f64>,
    pub longer_than_announced: Option<f64>,
}

impl PredictorAccuracy {
    pub fn of<'a>(tickets: impl IntoIterator<Item = &'a Ticket>) -> PredictorAccuracy {
        let mut sums = AnnouncedSums::default();
        tickets.into_iter().for_each(|t| sums.add(t));
        sums.accuracy()
    }
}

/// Mergeable sums behind [`PredictorAccuracy`], so that a day's roll-up can carry them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnnouncedSums {
    pub n: u64,
    /// Sums of the errors (waited − announced, seconds), squared and absolute.
    pub squared_s2: f64,
    pub absolute_s: f64,
    /// Called after the announced wait.
    pub longer: u64,
}

impl AnnouncedSums {
    pub fn add(&mut self, t: &Ticket) {
        let (Some(called), Some(told)) = (t.called_at, t.announced_wait_s) else {
            return;
        };
        let error = called as f64 / 1000.0 - t.issued_at as f64 / 1000.0 - told;
        self.n += 1;
        self.squared_s2 += error * error;
        self.absolute_s += error.abs();
        if error > 0.0 {
            self.longer += 1;
        }
    }

    pub fn merge(&mut self, o: &AnnouncedSums) {
        self.n += o.n;
        self.squared_s2 += o.squared_s2;
        self.absolute_s += o.absolute_s;
        self.longer += o.longer;
    }

    /// Takes back sums merged before (a ticket counted again after it changed).
    pub fn take(&mut self, o: &AnnouncedSums) {
        self.n -= o.n;
        self.squared_s2 -= o.squared_s2;
        self.absolute_s -= o.absolute_s;
        self.longer -= o.longer;
        if self.n == 0 {
            // No rounding left behind by the subtractions.
            self.squared_s2 = 0.0;
            self.absolute_s = 0.0;
        }
    }

    pub fn accuracy(&self) -> PredictorAccuracy {
        let n = self.n as f64;
        let some = |x: f64| (self.n > 0).then_some(x);
        PredictorAccuracy {
            n: self.n,
            rmse_s: some((self.squared_s2 / n).sqrt()),
            mae_s: some(self.absolute_s / n),
            longer_than_announced: some(self.longer as f64 / n),
        }
    }
}

/// The hall KPIs of a set of tickets (one hall, counter or staff member, one bucket).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    pub arrivals: u64,
    pub served: u64,
    pub abandoned: u64,
    /// Left before being called ÷ issued.
    pub abandonment_rate: Option<f64>,
    /// Called within `care_after` ÷ issued: abandons and tickets never called count
    /// against.
    pub service_level: Option<f64>,
    /// Mean wait from issue to call of the served.
    pub asa_s: Option<f64>,
    /// Mean service time of the served.
    pub aht_s: Option<f64>,
    /// Longest wait to call or to leaving.
    pub longest_wait_s: Option<f64>,
    /// Transactions longer than the journey's system-time standard ÷ transactions
    /// with a duration (start to end at the counter).
    pub over_system_time_rate: Option<f64>,
    /// Mean rating on a 5-point scale (each score ÷ its scale × 5).
    pub avg_rating: Option<f64>,
    /// Ratings at the top of their scale ÷ ratings.
    pub top_rating_share: Option<f64>,
    /// How many device ratings the two figures above rest on.
    pub ratings: u64,
    pub care_alerts: u64,
    /// Visits with a bad-experience signal (see [`Ticket::bad_experience`]).
    pub bad_visits: u64,
    /// Remote tickets that lapsed uncalled: not arrivals in the hall, not abandons.
    pub expired: u64,
    /// Called within the target of the ticket's own tier ÷ arrivals.
    pub target_level: Option<f64>,
    /// What the visits sold (issue 23): the sales lines, sales per served visit,
    /// conversions by purpose and, for a hall or staff member, data trials.
    pub sales: SalesKpis,
}

impl Kpis {
    pub fn of<'a>(tickets: impl IntoIterator<Item = &'a Ticket>, measure: Measure) -> Kpis {
        let mut sums = KpiSums::default();
        for t in tickets {
            sums.add(t, measure);
        }
        sums.kpis()
    }
}

/// Mergeable sums behind [`Kpis`]: the KPIs of any union of ticket sets are the KPIs
/// of the merged sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KpiSums {
    pub arrivals: u64,
    pub served: u64,
    pub abandoned: u64,
    /// Called within `care_after` of issue.
    pub called_in_time: u64,
    /// Waits of the served (issue to call), for ASA.
    pub served_wait_ms: i64,
    pub served_waits: u64,
    pub service_ms: i64,
    pub services: u64,
    /// Transactions longer than the system-time standard.
    #[serde(default)]
    pub over_system_time: u64,
    pub longest_wait_ms: Option<i64>,
    /// Ratings on a 5-point scale, summed.
    pub rating_sum: f64,
    pub ratings: u64,
    pub top_ratings: u64,
    pub care_alerts: u64,
    /// Visits with a bad-experience signal: left after waiting past the care rule, a
    /// rating at or below the low-rating standard, or a service that ended unresolved
    /// or referred (the silent side of hidden dissatisfaction).
    #[serde(default)]
    pub bad_visits: u64,
    /// Remote tickets that expired uncalled.
    #[serde(default)]
    pub expired: u64,
    /// Called within their tier's service-level target.
    #[serde(default)]
    pub called_in_target: u64,
    /// Sales of the tickets and conversions of their served visits; trials are added
    /// at hall and staff level only (absent in roll-ups stored before sales counted).
    #[serde(default)]
    pub sales: SalesSums,
}

impl KpiSums {
    pub fn add(&mut self, t: &Ticket, measure: Measure) {
        let care_after_ms = measure.care_after_ms;
        for sale in &t.sales {
            self.sales.add_sale(sale);
        }
        if t.expired_at.is_some() {
            // Never came (or never reported): no wait in the hall to measure.
            self.expired += 1;
            return;
        }
        self.arrivals += 1;
        if t.called_at
            .is_some_and(|c| c - t.wait_from() <= t.target_ms.unwrap_or(care_after_ms))
        {
            self.called_in_target += 1;
        }
        if t.abandoned() {
            self.abandoned += 1;
        }
        if t.called_at
            .is_some_and(|c| c - t.wait_from() <= care_after_ms)
        {
            self.called_in_time += 1;
        }
        if t.ended_at.is_some() {
            self.served += 1;
            self.sales.add_visit(&t.service, &t.sales);
            if let Some(w) = t.wait_ms() {
                self.served_wait_ms += w;
                self.served_waits += 1;
            }
            if let Some(s) = t.service_ms() {
                self.service_ms += s;
                self.services += 1;
                if s > measure.system_time_ms {
                    self.over_system_time += 1;
                }
            }
        }
        if let Some(w) = t.wait_ms() {
            self.longest_wait_ms = Some(self.longest_wait_ms.map_or(w, |l| l.max(w)));
        }
        if let Some((score, scale)) = t.rating {
            self.rating_sum += score / scale * 5.0;
            self.ratings += 1;
            if score >= scale {
                self.top_ratings += 1;
            }
        }
        if t.care_due_at.is_some() {
            self.care_alerts += 1;
        }
        if t.bad_experience(measure) {
            self.bad_visits += 1;
        }
    }

    pub fn merge(&mut self, o: &KpiSums) {
        self.arrivals += o.arrivals;
        self.served += o.served;
        self.abandoned += o.abandoned;
        self.called_in_time += o.called_in_time;
        self.served_wait_ms += o.served_wait_ms;
        self.served_waits += o.served_waits;
        self.service_ms += o.service_ms;
        self.services += o.services;
        self.over_system_time += o.over_system_time;
        self.longest_wait_ms = match (self.longest_wait_ms, o.longest_wait_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.rating_sum += o.rating_sum;
        self.ratings += o.ratings;
        self.top_ratings += o.top_ratings;
        self.care_alerts += o.care_alerts;
        self.bad_visits += o.bad_visits;
        self.expired += o.expired;
        self.called_in_target += o.called_in_target;
        self.sales.merge(&o.sales);
    }

    /// The sums of one ticket.
    pub fn of(t: &Ticket, measure: Measure) -> KpiSums {
        let mut sums = KpiSums::default();
        sums.add(t, measure);
        sums
    }

    /// Takes back sums merged before, all but the longest wait, which no subtraction
    /// can undo (the caller keeps the waits, see `rollup::LiveRollup`).
    pub fn take(&mut self, o: &KpiSums) {
        self.arrivals -= o.arrivals;
        self.served -= o.served;
        self.abandoned -= o.abandoned;
        self.called_in_time -= o.called_in_time;
        self.served_wait_ms -= o.served_wait_ms;
        self.served_waits -= o.served_waits;
        self.service_ms -= o.service_ms;
        self.services -= o.services;
        self.over_system_time -= o.over_system_time;
        self.rating_sum -= o.rating_sum;
        self.ratings -= o.ratings;
        self.top_ratings -= o.top_ratings;
        self.care_alerts -= o.care_alerts;
        self.bad_visits -= o.bad_visits;
        self.expired -= o.expired;
        self.called_in_target -= o.called_in_target;
        self.sales.take(&o.sales);
        if self.ratings == 0 {
            self.rating_sum = 0.0;
        }
    }

    pub fn kpis(&self) -> Kpis {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let mean_s = |sum: i64, n: u64| (n > 0).then(|| sum as f64 / n as f64 / 1000.0);
        Kpis {
            arrivals: self.arrivals,
            served: self.served,
            abandoned: self.abandoned,
            abandonment_rate: ratio(self.abandoned, self.arrivals),
            service_level: ratio(self.called_in_time, self.arrivals),
            asa_s: mean_s(self.served_wait_ms, self.served_waits),
            aht_s: mean_s(self.service_ms, self.services),
            longest_wait_s: self.longest_wait_ms.map(|ms| ms as f64 / 1000.0),
            over_system_time_rate: ratio(self.over_system_time, self.services),
            avg_rating: (self.ratings > 0).then(|| self.rating_sum / self.ratings as f64),
            top_rating_share: ratio(self.top_ratings, self.ratings),
            ratings: self.ratings,
            care_alerts: self.care_alerts,
            bad_visits: self.bad_visits,
            expired: self.expired,
            target_level: ratio(self.called_in_target, self.arrivals),
            sales: self.sales.kpis(self.served),
        }
    }

    /// A ticket's sums by the staff member credited: the server takes the visit with
    /// every sale that names no other seller; a seller a sale names (a floor walker, the
    /// trial zone's staff) takes that sale alone, as a sale without a visit.
    pub fn staff_shares(t: &Ticket, measure: Measure) -> Vec<(String, KpiSums)> {
        let mut visit = KpiSums::of(t, measure);
        let mut sellers: Vec<(String, KpiSums)> = Vec::new();
        for sale in &t.sales {
            let Some(seller) = sale.staff.as_ref().filter(|s| Some(*s) != t.staff.as_ref()) else {
                continue;
            };
            let mut one = SalesSums::default();
            one.add_sale(sale);
            visit.sales.take(&one);
            match sellers.iter_mut().find(|(s, _)| s == seller) {
                Some((_, sums)) => sums.sales.merge(&one),
                None => sellers.push((
                    seller.clone(),
                    KpiSums {
                        sales: one,
                        ..KpiSums::default()
                    },
                )),
            }
        }
        let mut out: Vec<(String, KpiSums)> =
            t.staff.iter().map(|s| (s.clone(), visit.clone())).collect();
        out.extend(sellers);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::event::Outcome;

    #[test]
    fn a_bad_experience_is_a_late_walk_out_a_low_rating_or_an_unresolved_visit() {
        let m = Measure::default();
        let t = Ticket::issued("A1", "bill", None, false, 0);
        let mut left = t.clone();
        left.left_at = Some(m.care_after_ms);
        assert!(
            left.bad_experience(m),
            "left after waiting the care threshold"
        );
        left.left_at = Some(m.care_after_ms - 1);
        assert!(!left.bad_experience(m), "left before it");
        let mut rated = t.clone();
        rated.rating = Some((4.0, 10.0));
        assert!(rated.bad_experience(m), "4 of 10 is 2 of 5");
        rated.rating = Some((3.0, 5.0));
        assert!(!rated.bad_experience(m));
        let mut ended = t.clone();
        ended.outcome = Some(Outcome::Referred);
        assert!(ended.bad_experience(m));
        ended.outcome = Some(Outcome::Done);
        assert!(!ended.bad_experience(m));
        assert_eq!(KpiSums::of(&left, m).bad_visits, 0);
    }
}
