//! Service and sales (issue 23): the study judges a hall on what it sells as well as on
//! how it serves. A `sale` is booked on a visit's ticket; a data trial (the trial zone's
//! phones and data packages) is followed by id from `trial_started` to `trial_ended`.
//! Everything here is a mergeable sum, so a KPI over many days and halls comes from
//! the days' roll-ups.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::{SpearmanCi, spearman_ci};

/// What a sale sold: the study's four sales lines of a hall, and the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleCategory {
    /// A new customer (a new line, 新入网).
    NewCustomer,
    /// Data business (a data package, 流量).
    Data,
    /// A phone (终端销售).
    Phone,
    /// A group account (集团业务).
    Group,
    Other,
}

impl SaleCategory {
    pub const ALL: [SaleCategory; 5] = [
        SaleCategory::NewCustomer,
        SaleCategory::Data,
        SaleCategory::Phone,
        SaleCategory::Group,
        SaleCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SaleCategory::NewCustomer => "new_customer",
            SaleCategory::Data => "data",
            SaleCategory::Phone => "phone",
            SaleCategory::Group => "group",
            SaleCategory::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<SaleCategory> {
        SaleCategory::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The sales line a visit of this purpose (its ticket's service) is converted by,
    /// if any: a `phone` visit converts with a phone sale. Names of the simulator and
    /// the devices (`phone`, `data`, `new_line`), the journey's moments (`phone_purchase`,
    /// `data_trial`) and the survey's purposes (购机) alike.
    pub fn for_purpose(purpose: &str) -> Option<SaleCategory> {
        PURPOSE_LINES
            .iter()
            .find(|(p, _)| *p == purpose.trim())
            .map(|(_, c)| *c)
    }
}

impl<'de> Deserialize<'de> for SaleCategory {
    // serde's own message names neither the field nor the choices a device has.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SaleCategory::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "field `category`: `{s}` is not one of new_customer, data, phone, group, other"
            ))
        })
    }
}

/// Visit purpose → the sales line that converts it (docs/methods.md, Service and sales). A
/// purpose not listed (payment, enquiry, 缴费, 咨询) has no conversion line: its sales
/// still count, but no rate is made of its visits.
pub const PURPOSE_LINES: &[(&str, SaleCategory)] = &[
    ("phone", SaleCategory::Phone),
    ("phone_purchase", SaleCategory::Phone),
    ("购机", SaleCategory::Phone),
    ("data", SaleCategory::Data),
    ("data_trial", SaleCategory::Data),
    ("流量", SaleCategory::Data),
    ("new_line", SaleCategory::NewCustomer),
    ("new_customer", SaleCategory::NewCustomer),
    ("开户", SaleCategory::NewCustomer),
    ("入网", SaleCategory::NewCustomer),
    ("group", SaleCategory::Group),
    ("集团业务", SaleCategory::Group),
];

/// The largest amount a single sale may carry, in yuan: beyond it a device has sent
/// garbage (or fen for yuan), and the sums stay far from overflow.
pub const MAX_AMOUNT_YUAN: f64 = 10_000_000.0;

/// A sale's amount in fen (hundredths of a yuan), from a decimal amount in yuan: the
/// sums add fen exactly, where decimals of yuan would drift.
pub fn amount_fen(amount: f64) -> Result<i64, String> {
    if !amount.is_finite() {
        return Err(format!("field `amount`: {amount} is not a number"));
    }
    if amount < 0.0 {
        return Err(format!("field `amount`: {amount} is negative"));
    }
    if amount > MAX_AMOUNT_YUAN {
        return Err(format!(
            "field `amount`: {amount} is more than {MAX_AMOUNT_YUAN} yuan"
        ));
    }
    Ok((amount * 100.0).round() as i64)
}

/// A sale booked on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sale {
    pub category: SaleCategory,
    /// In fen; `None` when the device sent no amount.
    pub amount_fen: Option<i64>,
    /// Who sold, when the device says; else the visit's server is credited.
    pub staff: Option<String>,
    pub at: i64,
}

/// One sales line's count and amount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSums {
    pub sales: u64,
    /// Sum of the amounts given, in fen.
    pub amount_fen: i64,
    /// Sales that gave an amount.
    #[serde(default)]
    pub with_amount: u64,
}

/// Served visits of a purpose that has a sales line, and those that ended with a sale
/// of that line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionSums {
    pub visits: u64,
    pub converted: u64,
}

/// Data trials: started, ended, and ended with a purchase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialSums {
    pub started: u64,
    pub ended: u64,
    pub purchased: u64,
}

impl TrialSums {
    pub fn merge(&mut self, o: &TrialSums) {
        self.started += o.started;
        self.ended += o.ended;
        self.purchased += o.purchased;
    }
}

/// Mergeable sales sums of a set of tickets (and, at hall and staff level, of trials).
/// Kept inside `KpiSums` with `#[serde(default)]`, so roll-ups stored before sales
/// were counted still read (as no sales).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesSums {
    #[serde(default)]
    pub lines: BTreeMap<SaleCategory, LineSums>,
    #[serde(default)]
    pub conversions: BTreeMap<SaleCategory, ConversionSums>,
    #[serde(default)]
    pub trials: TrialSums,
}

impl SalesSums {
    pub fn is_empty(&self) -> bool {
        *self == SalesSums::default()
    }

    /// Counts one sale.
    pub fn add_sale(&mut self, s: &Sale) {
        let line = self.lines.entry(s.category).or_default();
        line.sales += 1;
        if let Some(f) = s.amount_fen {
            line.amount_fen += f;
            line.with_amount += 1;
        }
    }

    /// Counts a served visit of `purpose`, converted when `sales` hold one of its line.
    pub fn add_visit(&mut self, purpose: &str, sales: &[Sale]) {
        if let Some(c) = SaleCategory::for_purpose(purpose) {
            let conv = self.conversions.entry(c).or_default();
            conv.visits += 1;
            if sales.iter().any(|s| s.category == c) {
                conv.converted += 1;
            }
        }
    }

    pub fn merge(&mut self, o: &SalesSums) {
        for (c, l) in &o.lines {
            let m = self.lines.entry(*c).or_default();
            m.sales += l.sales;
            m.amount_fen += l.amount_fen;
            m.with_amount += l.with_amount;
        }
        for (c, v) in &o.conversions {
            let m = self.conversions.entry(*c).or_default();
            m.visits += v.visits;
            m.converted += v.converted;
        }
        self.trials.merge(&o.trials);
    }

    /// Takes back sums merged before (a ticket counted again after it changed).
    pub fn take(&mut self, o: &SalesSums) {
        for (c, l) in &o.lines {
            if let Some(m) = self.lines.get_mut(c) {
                m.sales = m.sales.saturating_sub(l.sales);
                m.amount_fen -= l.amount_fen;
                m.with_amount = m.with_amount.saturating_sub(l.with_amount);
                if m.sales == 0 {
                    self.lines.remove(c);
                }
            }
        }
        for (c, v) in &o.conversions {
            if let Some(m) = self.conversions.get_mut(c) {
                m.visits = m.visits.saturating_sub(v.visits);
                m.converted = m.converted.saturating_sub(v.converted);
                if m.visits == 0 {
                    self.conversions.remove(c);
                }
            }
        }
        let t = &mut self.trials;
        t.started = t.started.saturating_sub(o.trials.started);
        t.ended = t.ended.saturating_sub(o.trials.ended);
        t.purchased = t.purchased.saturating_sub(o.trials.purchased);
    }

    /// The figures, with `served` the visits served by the same set of tickets.
    pub fn kpis(&self, served: u64) -> SalesKpis {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let lines: Vec<SalesLine> = SaleCategory::ALL
            .into_iter()
            .map(|c| {
                let l = self.lines.get(&c).copied().unwrap_or_default();
                SalesLine {
                    category: c,
                    sales: l.sales,
                    amount: l.amount_fen as f64 / 100.0,
                }
            })
            .collect();
        let sales: u64 = lines.iter().map(|l| l.sales).sum();
        let amount_fen: i64 = self.lines.values().map(|l| l.amount_fen).sum();
        SalesKpis {
            sales,
            amount: amount_fen as f64 / 100.0,
            sales_per_served: ratio(sales, served),
            lines,
            conversions: SaleCategory::ALL[..4]
                .iter()
                .map(|c| {
                    let v = self.conversions.get(c).copied().unwrap_or_default();
                    Conversion {
                        category: *c,
                        visits: v.visits,
                        converted: v.converted,
                        rate: ratio(v.converted, v.visits),
                    }
                })
                .collect(),
            trials: self.trials,
            trial_conversion: ratio(self.trials.purchased, self.trials.ended),
        }
    }
}

/// A sales line's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalesLine {
    pub category: SaleCategory,
    pub sales: u64,
    /// Yuan, of the sales that gave an amount.
    pub amount: f64,
}

/// How the visits of a purpose with a sales line converted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    /// The line, which names the purposes (see [`PURPOSE_LINES`]).
    pub category: SaleCategory,
    /// Served visits of those purposes.
    pub visits: u64,
    /// Of them, visits with a sale of the line.
    pub converted: u64,
    pub rate: Option<f64>,
}

/// The sales KPIs of a hall, staff member or period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalesKpis {
    pub sales: u64,
    /// Yuan.
    pub amount: f64,
    /// Sales ÷ visits served.
    pub sales_per_served: Option<f64>,
    /// new_customer, data, phone, group, other: always all five.
    pub lines: Vec<SalesLine>,
    /// The four lines' purpose conversions.
    pub conversions: Vec<Conversion>,
    pub trials: TrialSums,
    /// Trials ended with a purchase ÷ trials ended.
    pub trial_conversion: Option<f64>,
}

/// A data trial of the day, from `trial_started` and `trial_ended`.
///
/// Which day counts what (issue 23): a trial's start counts on the day it started, its
/// end and purchase on the day it ended. A trial still open at the end of a day is
/// handed to the next ([`crate::ops::day::HallDay::open_trials`], then
/// [`crate::ops::day::HallDay::carry_trials`]) so that its end after midnight is
/// accepted and counted there, without its start counted twice. Device order is not
/// guaranteed: an end that comes before its start is kept (counted as ended on its
/// day) and completed by the start when it comes, never refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub trial: String,
    pub ticket: Option<String>,
    pub device: Option<String>,
    pub product: Option<String>,
    /// `None` while only its end has been seen.
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// Set by `trial_ended`; absent there means not known to have bought (counted as
    /// no purchase).
    pub purchased: Option<bool>,
    /// Started on an earlier day and carried into this one: its start was counted
    /// there, and its ticket is that day's (the ticket name may be reused today).
    #[serde(default)]
    pub carried: bool,
    /// For a carried trial, the server of its ticket as the day it started knew it:
    /// the staff member its end is credited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
}

impl Trial {
    /// Open: started (here or on an earlier day) and not yet ended.
    pub fn is_open(&self) -> bool {
        self.started_at.is_some() && self.ended_at.is_none()
    }

    /// What this trial adds to its day's sums (see [`Trial`] for which day counts what).
    pub fn sums(&self) -> TrialSums {
        let ended = self.ended_at.is_some();
        TrialSums {
            started: u64::from(self.started_at.is_some() && !self.carried),
            ended: u64::from(ended),
            purchased: u64::from(ended && self.purchased == Some(true)),
        }
    }
}

/// A day's trials as a roll-up keeps them: the hall's and, for trials tied to a
/// ticket that was served, its server's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialRollup {
    pub total: TrialSums,
    #[serde(default)]
    pub staff: BTreeMap<String, TrialSums>,
}

impl TrialRollup {
    /// Sums the trials, each credited to the server of its ticket (`staff_of`, looked up
    /// in the day), or for a carried trial to the server it carried in.
    pub fn of<'a>(
        trials: impl IntoIterator<Item = &'a Trial>,
        staff_of: impl Fn(&str) -> Option<String>,
    ) -> TrialRollup {
        let mut out = TrialRollup::default();
        for t in trials {
            let one = t.sums();
            // A carried trial still open counts nothing today.
            if one == TrialSums::default() {
                continue;
            }
            out.total.merge(&one);
            let staff = if t.carried {
                t.staff.clone()
            } else {
                t.ticket.as_deref().and_then(&staff_of)
            };
            if let Some(s) = staff {
                out.staff.entry(s).or_default().merge(&one);
            }
        }
        out
    }
}

/// The fewest respondents behind a hall's peak-moment satisfaction for the hall to be
/// ranked (the short form's floor too): fewer, and its mean is mostly noise.
pub const MIN_PEAK_RESPONDENTS: u64 = 30;

/// One hall for [`peaks_vs_sales`]: its peak moments' satisfaction (from its survey
/// analysis) and its sales over the same period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HallPoint {
    pub hall: String,
    /// Mean satisfaction of the hall's peak moments, each moment counting once; `None`
    /// when its analysis has no peak moment rated.
    pub peak_satisfaction: Option<f64>,
    /// Respondents behind it: the fewest who rated any one of those peak moments.
    pub respondents: u64,
    /// Visits served in the period.
    pub served: u64,
    /// Sales per line in the period.
    pub lines: BTreeMap<SaleCategory, u64>,
}

impl HallPoint {
    /// A hall's point from its figures: its peaks' satisfaction and respondents, and
    /// the served visits and sales KPIs of the same set of tickets.
    pub fn new(
        hall: &str,
        peak_satisfaction: Option<f64>,
        respondents: u64,
        served: u64,
        sales: &SalesKpis,
    ) -> HallPoint {
        HallPoint {
            hall: hall.to_owned(),
            peak_satisfaction,
            respondents,
            served,
            lines: sales
                .lines
                .iter()
                .filter(|l| l.sales > 0)
                .map(|l| (l.category, l.sales))
                .collect(),
        }
    }

    /// A hall's point from its survey analysis (its peak moments' satisfaction) and its
    /// sales.
    pub fn from_analysis(
        hall: &str,
        analysis: &crate::analysis::engine::Analysis,
        served: u64,
        sales: &SalesKpis,
    ) -> HallPoint {
        let rated: Vec<(f64, u64)> = analysis
            .moments
            .iter()
            .filter(|m| m.peak)
            .filter_map(|m| Some((m.satisfaction?, m.n)))
            .collect();
        let peak = (!rated.is_empty())
            .then(|| rated.iter().map(|(s, _)| s).sum::<f64>() / rated.len() as f64);
        let respondents = rated.iter().map(|(_, n)| *n).min().unwrap_or(0);
        HallPoint::new(hall, peak, respondents, served, sales)
    }

    /// Sales (of every line) per served visit.
    pub fn sales_per_served(&self) -> Option<f64> {
        (self.served > 0).then(|| self.lines.values().sum::<u64>() as f64 / self.served as f64)
    }

    /// One line's sales per served visit.
    pub fn line_per_served(&self, c: SaleCategory) -> Option<f64> {
        (self.served > 0)
            .then(|| self.lines.get(&c).copied().unwrap_or(0) as f64 / self.served as f64)
    }
}

/// Why a hall was left out of [`peaks_vs_sales`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Exclusion {
    /// Its analysis has no peak moment with a satisfaction (or it is not a number).
    NoPeakSatisfaction,
    /// Fewer respondents behind its peaks than the floor.
    TooFewRespondents { respondents: u64, min: u64 },
    /// It served no visit: no sales per served visit.
    NoServedVisits,
    /// The hall came twice; its first point is used.
    Duplicate,
}

impl Exclusion {
    /// The reason as a page shows it, Chinese first.
    pub fn label(&self) -> String {
        match self {
            Exclusion::NoPeakSatisfaction => {
                "峰值时刻无满意度评分 / no rated peak moment".to_owned()
            }
            Exclusion::TooFewRespondents { respondents, min } => format!(
                "受访者不足（{respondents} 人，至少 {min} 人）/ too few respondents ({respondents}, at least {min})"
            ),
            Exclusion::NoServedVisits => "无已服务客户 / no served visits".to_owned(),
            Exclusion::Duplicate => "营业厅重复 / hall given twice".to_owned(),
        }
    }
}

/// A hall left out, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExcludedHall {
    pub hall: String,
    #[serde(flatten)]
    pub reason: Exclusion,
    pub label: String,
}

/// One sales line's rank correlation with the peaks' satisfaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineCorrelation {
    pub category: SaleCategory,
    /// `None` when fewer than 4 halls are ranked or the line does not vary across them.
    pub correlation: Option<SpearmanCi>,
}

/// How the peak moments' satisfaction relates to sales across halls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeaksVsSales {
    /// The respondent floor applied.
    pub min_respondents: u64,
    /// The halls ranked, in the order given.
    pub halls: Vec<String>,
    /// Halls ranked: the `n` of the correlations.
    pub n: usize,
    /// Spearman's ρ of peak satisfaction and sales per served visit, with its 95 %
    /// interval; `None` below 4 halls or when either side does not vary.
    pub sales_per_served: Option<SpearmanCi>,
    /// The same per sales line (all five), of the line's sales per served visit.
    pub lines: Vec<LineCorrelation>,
    pub excluded: Vec<ExcludedHall>,
}

/// Across halls, the rank correlation of the peak moments' mean satisfaction with sales
/// per served visit, overall and per line ([`spearman_ci`]: ρ with its Bonett–Wright
/// 95 % interval). A hall is ranked when its peaks were rated by at least
/// `min_respondents` (see [`MIN_PEAK_RESPONDENTS`]) and it served a visit; the others
/// are listed with the reason. Ranks, not values: the halls' sales differ by orders of
/// magnitude and satisfaction is an ordinal mean. Always returns the exclusions, the
/// correlations being `None` when too few halls remain.
pub fn peaks_vs_sales(halls: &[HallPoint], min_respondents: u64) -> PeaksVsSales {
    let mut seen = std::collections::BTreeSet::new();
    let mut kept: Vec<(&HallPoint, f64)> = Vec::new();
    let mut excluded = Vec::new();
    for h in halls {
        let reason = if !seen.insert(h.hall.as_str()) {
            Some(Exclusion::Duplicate)
        } else if !h.peak_satisfaction.is_some_and(f64::is_finite) {
            Some(Exclusion::NoPeakSatisfaction)
        } else if h.respondents < min_respondents {
            Some(Exclusion::TooFewRespondents {
                respondents: h.respondents,
                min: min_respondents,
            })
        } else if h.served == 0 {
            Some(Exclusion::NoServedVisits)
        } else {
            None
        };
        match (reason, h.peak_satisfaction) {
            (None, Some(p)) => kept.push((h, p)),
            (reason, _) => {
                let reason = reason.unwrap_or(Exclusion::NoPeakSatisfaction);
                excluded.push(ExcludedHall {
                    hall: h.hall.clone(),
                    label: reason.label(),
                    reason,
                });
            }
        }
    }
    let peaks: Vec<f64> = kept.iter().map(|(_, p)| *p).collect();
    let against = |f: &dyn Fn(&HallPoint) -> Option<f64>| {
        let ys: Vec<f64> = kept.iter().filter_map(|(h, _)| f(h)).collect();
        spearman_ci(&peaks, &ys)
    };
    PeaksVsSales {
        min_respondents,
        halls: kept.iter().map(|(h, _)| h.hall.clone()).collect(),
        n: kept.len(),
        sales_per_served: against(&|h| h.sales_per_served()),
        lines: SaleCategory::ALL
            .into_iter()
            .map(|c| LineCorrelation {
                category: c,
                correlation: against(&|h| h.line_per_served(c)),
            })
            .collect(),
        excluded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_kept_in_fen_and_bad_ones_named() {
        assert_eq!(amount_fen(4999.0), Ok(499_900));
        assert_eq!(amount_fen(0.1 + 0.2), Ok(30));
        assert_eq!(amount_fen(0.0), Ok(0));
        assert_eq!(
            amount_fen(-1.0).unwrap_err(),
            "field `amount`: -1 is negative"
        );
        assert_eq!(
            amount_fen(f64::NAN).unwrap_err(),
            "field `amount`: NaN is not a number"
        );
        assert!(amount_fen(2e7).unwrap_err().starts_with("field `amount`"));
    }

    #[test]
    fn purposes_map_to_their_sales_line() {
        assert_eq!(
            SaleCategory::for_purpose("phone"),
            Some(SaleCategory::Phone)
        );
        assert_eq!(SaleCategory::for_purpose("购机"), Some(SaleCategory::Phone));
        assert_eq!(
            SaleCategory::for_purpose("new_line"),
            Some(SaleCategory::NewCustomer)
        );
        assert_eq!(SaleCategory::for_purpose("payment"), None);
        assert_eq!(SaleCategory::for_purpose("缴费"), None);
    }

    #[test]
    fn sums_merge_take_back_and_read_old_rollups() {
        let sale = |c, fen| Sale {
            category: c,
            amount_fen: fen,
            staff: None,
            at: 0,
        };
        let mut a = SalesSums::default();
        a.add_sale(&sale(SaleCategory::Phone, Some(299_900)));
        a.add_visit("phone", &[sale(SaleCategory::Phone, None)]);
        let mut b = SalesSums::default();
        b.add_sale(&sale(SaleCategory::Data, None));
        b.add_visit("phone", &[]);
        let mut both = a.clone();
        both.merge(&b);
        let k = both.kpis(4);
        // 2 sales over 4 served; phone visits 1 of 2 converted; 2,999 yuan.
        assert_eq!(k.sales, 2);
        assert_eq!(k.sales_per_served, Some(0.5));
        assert_eq!(k.amount, 2999.0);
        assert_eq!(k.conversions[2].category, SaleCategory::Phone);
        assert_eq!(
            (k.conversions[2].visits, k.conversions[2].converted),
            (2, 1)
        );
        assert_eq!(k.conversions[2].rate, Some(0.5));
        both.take(&b);
        assert_eq!(both, a);
        // A stored sum of an older version has no sales fields at all.
        let old: SalesSums = serde_json::from_str("{}").unwrap();
        assert!(old.is_empty());
    }

    use crate::ops::day::{HallDay, Rules};
    use crate::ops::event::Event;
    use crate::ops::fixtures::ms;
    use crate::ops::kpi::{Bucket, HallTickets, ReportSums, report};
    use crate::ops::rollup::{DayRollup, LiveRollup};

    fn ev(id: usize, hm: &str, kind: &str, fields: &str) -> Event {
        Event::from_json(&format!(
            r#"{{"id":"e{id}","hall":"h1","type":"{kind}","at":"2026-08-07T{hm}:00+08:00",{fields}}}"#
        ))
        .unwrap()
    }

    /// A morning of one counter (staff s1) and a floor walker (f1): two phone visits,
    /// a data visit and a payment, two trials, four sales.
    fn sales_morning() -> Vec<Event> {
        let served = |id: usize, t: &str, from: &str, to: &str| {
            vec![
                ev(
                    id,
                    from,
                    "called",
                    &format!(r#""ticket":"{t}","counter":"c1","staff":"s1""#),
                ),
                ev(
                    id + 1,
                    from,
                    "service_started",
                    &format!(r#""ticket":"{t}","counter":"c1""#),
                ),
                ev(
                    id + 2,
                    to,
                    "service_ended",
                    &format!(r#""ticket":"{t}","counter":"c1","outcome":"done""#),
                ),
            ]
        };
        let issued = |id: usize, t: &str, service: &str| {
            ev(
                id,
                "09:00",
                "ticket_issued",
                &format!(r#""ticket":"{t}","service":"{service}""#),
            )
        };
        let mut out = vec![
            ev(1, "09:00", "counter_opened", r#""counter":"c1""#),
            issued(2, "P1", "phone"),
            issued(3, "P2", "phone"),
            issued(4, "D1", "data"),
            issued(5, "B1", "payment"),
            ev(
                6,
                "09:01",
                "trial_started",
                r#""trial":"T1","ticket":"P2","device":"Mate 60""#,
            ),
            ev(
                7,
                "09:02",
                "trial_started",
                r#""trial":"T2","product":"5G 30GB""#,
            ),
        ];
        out.extend(served(10, "P1", "09:05", "09:15"));
        out.push(ev(
            13,
            "09:16",
            "sale",
            r#""ticket":"P1","category":"phone","amount":4999.00"#,
        ));
        out.push(ev(
            14,
            "09:16",
            "sale",
            r#""ticket":"P1","category":"data","amount":29.9,"staff":"f1""#,
        ));
        out.extend(served(20, "P2", "09:20", "09:30"));
        out.push(ev(
            23,
            "09:25",
            "trial_ended",
            r#""trial":"T1","purchased":false"#,
        ));
        out.extend(served(30, "D1", "09:30", "09:35"));
        out.push(ev(
            33,
            "09:35",
            "sale",
            r#""ticket":"D1","category":"data","amount":30"#,
        ));
        out.extend(served(40, "B1", "09:40", "09:42"));
        out.push(ev(
            43,
            "09:42",
            "sale",
            r#""ticket":"B1","category":"new_customer","staff":"s1""#,
        ));
        out.push(ev(
            44,
            "09:45",
            "trial_ended",
            r#""trial":"T2","purchased":true"#,
        ));
        crate::ops::event::sort_for_replay(&mut out);
        out
    }

    fn line(k: &SalesKpis, c: SaleCategory) -> (u64, f64) {
        let l = k.lines.iter().find(|l| l.category == c).unwrap();
        (l.sales, l.amount)
    }

    fn conversion(k: &SalesKpis, c: SaleCategory) -> (u64, u64, Option<f64>) {
        let v = k.conversions.iter().find(|v| v.category == c).unwrap();
        (v.visits, v.converted, v.rate)
    }

    /// The hand-computed figures of [`sales_morning`].
    fn assert_the_morning(total: &SalesKpis, s1: &SalesKpis, f1: &SalesKpis) {
        // Phone 4,999.00; data 29.90 + 30 = 59.90; a new customer without amount.
        assert_eq!(total.sales, 4);
        assert!((total.amount - 5058.9).abs() < 1e-9, "{}", total.amount);
        assert_eq!(line(total, SaleCategory::Phone), (1, 4999.0));
        assert_eq!(line(total, SaleCategory::Data).0, 2);
        assert!((line(total, SaleCategory::Data).1 - 59.9).abs() < 1e-9);
        assert_eq!(line(total, SaleCategory::NewCustomer), (1, 0.0));
        assert_eq!(line(total, SaleCategory::Group), (0, 0.0));
        assert_eq!(line(total, SaleCategory::Other), (0, 0.0));
        // 4 sales over 4 served visits.
        assert_eq!(total.sales_per_served, Some(1.0));
        // Phone visits P1 (a phone sale) and P2 (none): 1 of 2; data D1: 1 of 1; the
        // payment has no line; no new-line visit.
        assert_eq!(conversion(total, SaleCategory::Phone), (2, 1, Some(0.5)));
        assert_eq!(conversion(total, SaleCategory::Data), (1, 1, Some(1.0)));
        assert_eq!(conversion(total, SaleCategory::NewCustomer), (0, 0, None));
        // T1 ended without, T2 with a purchase.
        assert_eq!(
            total.trials,
            TrialSums {
                started: 2,
                ended: 2,
                purchased: 1
            }
        );
        assert_eq!(total.trial_conversion, Some(0.5));
        // s1 served all four and sold three (P1's data went to f1): 4,999 + 30.
        assert_eq!(s1.sales, 3);
        assert!((s1.amount - 5029.0).abs() < 1e-9);
        assert_eq!(s1.sales_per_served, Some(0.75));
        // Only T1 names a ticket, P2, which s1 served.
        assert_eq!(
            (s1.trials.started, s1.trials.ended, s1.trials.purchased),
            (1, 1, 0)
        );
        assert_eq!(s1.trial_conversion, Some(0.0));
        // f1 sold on the floor and served no one.
        assert_eq!(f1.sales, 1);
        assert!((f1.amount - 29.9).abs() < 1e-9);
        assert_eq!(f1.sales_per_served, None);
    }

    fn keyed<'a>(v: &'a [crate::ops::kpi::Keyed], key: &str) -> &'a SalesKpis {
        &v.iter().find(|k| k.key == key).unwrap().kpis.sales
    }

    #[test]
    fn a_scripted_sales_morning_gives_the_hand_computed_figures() {
        let rules = Rules::default();
        let measure = rules.measure();
        let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let events = sales_morning();
        let day = HallDay::replay(rules.clone(), &events, ms("10:00"));

        // From the replayed tickets, with the day's trials added.
        let tickets = HallTickets {
            hall: "h1".into(),
            tickets: day.tickets().cloned().collect(),
        };
        let mut sums = ReportSums::new(measure, Bucket::Day, cst);
        sums.add_tickets("h1", &tickets.tickets);
        sums.add_trials(
            "h1",
            &TrialRollup::of(day.trials(), |t| day.ticket(t)?.staff.clone()),
        );
        let replayed = sums.report();
        assert_the_morning(
            &replayed.total.sales,
            keyed(&replayed.staff, "h1/s1"),
            keyed(&replayed.staff, "h1/f1"),
        );
        assert_eq!(keyed(&replayed.halls, "h1"), &replayed.total.sales);
        // Without trials, the plain report carries the ticket sales alone.
        let plain = report(&[tickets], measure, Bucket::Day, cst);
        assert_eq!(plain.total.sales.sales, 4);
        assert_eq!(plain.total.sales.trials, TrialSums::default());

        // From the day's roll-up, stored and read back.
        let rollup = DayRollup::of(&day, measure, Some(ms("09:45")));
        let stored: DayRollup =
            serde_json::from_str(&serde_json::to_string(&rollup).unwrap()).unwrap();
        let mut sums = ReportSums::new(measure, Bucket::Day, cst);
        assert!(sums.add_rollup("h1", &stored, ms("10:00")));
        let from_rollup = sums.report();
        assert_eq!(from_rollup.total, replayed.total);
        assert_eq!(from_rollup.staff, replayed.staff);
        assert_eq!(from_rollup.halls, replayed.halls);

        // Kept live, batch by batch, it ends where the whole day's roll-up is.
        let mut live_day = HallDay::new(rules);
        live_day.track_changes();
        let mut live = LiveRollup::new(measure);
        for batch in events.chunks(3) {
            for e in batch {
                live_day.apply(e).unwrap();
            }
            live.update(&mut live_day);
        }
        assert_eq!(live.rollup(Some(ms("09:45"))), rollup);
    }

    #[test]
    fn a_rollup_stored_before_sales_still_reads() {
        let day = HallDay::replay(Rules::default(), &sales_morning(), ms("10:00"));
        let mut v =
            serde_json::to_value(DayRollup::of(&day, Rules::default().measure(), None)).unwrap();
        // Strip every sales and trials field, as an earlier version wrote it.
        fn strip(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    m.remove("sales");
                    m.remove("trials");
                    m.values_mut().for_each(strip);
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut v);
        let old: DayRollup = serde_json::from_value(v).unwrap();
        assert!(old.done.sales.is_empty() && old.trials.is_none());
        assert_eq!(old.done.served, 4);
    }

    #[test]
    fn bad_sales_and_trials_are_refused_and_change_nothing() {
        let mut day = HallDay::new(Rules::default());
        for e in sales_morning() {
            day.apply(&e).unwrap();
        }
        let before: Vec<_> = day.tickets().cloned().collect();
        let trials_before: Vec<_> = day.trials().cloned().collect();
        let err = |day: &mut HallDay, kind: &str, fields: &str| {
            day.apply(&ev(90, "09:50", kind, fields)).unwrap_err()
        };
        assert_eq!(
            err(&mut day, "sale", r#""ticket":"Z9","category":"data""#),
            "sale: unknown ticket `Z9`"
        );
        assert_eq!(
            err(&mut day, "trial_ended", r#""trial":"T2""#),
            "trial_ended: trial `T2` had already ended"
        );
        assert_eq!(
            err(&mut day, "trial_started", r#""trial":"T1""#),
            "trial_started: trial `T1` was already started"
        );
        assert_eq!(
            err(&mut day, "trial_started", r#""trial":"T3","ticket":"Z9""#),
            "trial_started: unknown ticket `Z9`"
        );
        day.apply(&ev(
            91,
            "09:50",
            "ticket_issued",
            r#""ticket":"W1","service":"phone""#,
        ))
        .unwrap();
        day.apply(&ev(
            92,
            "09:51",
            "trial_started",
            r#""trial":"T3","ticket":"W1""#,
        ))
        .unwrap();
        assert_eq!(
            err(&mut day, "sale", r#""ticket":"W1","category":"phone""#),
            "sale: ticket `W1` was not called"
        );
        assert_eq!(
            err(&mut day, "trial_ended", r#""trial":"T3","ticket":"P1""#),
            "trial_ended: trial `T3` was started for ticket `W1`"
        );
        let tickets: Vec<_> = day
            .tickets()
            .filter(|t| t.ticket != "W1")
            .cloned()
            .collect();
        assert_eq!(tickets, before);
        assert_eq!(
            day.trials()
                .filter(|t| t.trial != "T3")
                .cloned()
                .collect::<Vec<_>>(),
            trials_before
        );
    }

    /// An event of hall h1 at a local time of any day: `2026-08-08T00:10`.
    fn ev_on(id: usize, at: &str, kind: &str, fields: &str) -> Event {
        Event::from_json(&format!(
            r#"{{"id":"e{id}","hall":"h1","type":"{kind}","at":"{at}:00+08:00",{fields}}}"#
        ))
        .unwrap()
    }

    fn staff_sums(r: &TrialRollup, s: &str) -> TrialSums {
        r.staff.get(s).copied().unwrap_or_default()
    }

    #[test]
    fn a_trial_open_at_midnight_ends_the_next_day_counted_once_on_each() {
        let rules = Rules::default();
        let served = |id: usize, tk: &str, c: &str, s: &str, d: &str, from: &str, to: &str| {
            vec![
                ev_on(
                    id,
                    &format!("{d}T{from}"),
                    "ticket_issued",
                    &format!(r#""ticket":"{tk}","service":"phone""#),
                ),
                ev_on(
                    id + 1,
                    &format!("{d}T{from}"),
                    "called",
                    &format!(r#""ticket":"{tk}","counter":"{c}","staff":"{s}""#),
                ),
                ev_on(
                    id + 2,
                    &format!("{d}T{from}"),
                    "service_started",
                    &format!(r#""ticket":"{tk}","counter":"{c}""#),
                ),
                ev_on(
                    id + 3,
                    &format!("{d}T{to}"),
                    "service_ended",
                    &format!(r#""ticket":"{tk}","counter":"{c}","outcome":"done""#),
                ),
            ]
        };
        // Day 1: P1 served by s1 tries a phone from 23:50, still trying at midnight;
        // T2, on no ticket, started and ended with a purchase the same evening.
        let mut day1 = served(1, "P1", "c1", "s1", "2026-08-07", "23:40", "23:55");
        day1.extend([
            ev_on(
                10,
                "2026-08-07T23:30",
                "trial_started",
                r#""trial":"T2","product":"5G 30GB""#,
            ),
            ev_on(
                11,
                "2026-08-07T23:40",
                "trial_ended",
                r#""trial":"T2","purchased":true"#,
            ),
            ev_on(
                12,
                "2026-08-07T23:50",
                "trial_started",
                r#""trial":"T1","ticket":"P1","device":"Mate 60""#,
            ),
        ]);
        crate::ops::event::sort_for_replay(&mut day1);
        let d1 = HallDay::replay(rules.clone(), &day1, i64::MIN);
        let r1 = TrialRollup::of(d1.trials(), |t| d1.ticket(t)?.staff.clone());
        assert_eq!(
            r1.total,
            TrialSums {
                started: 2,
                ended: 1,
                purchased: 1
            }
        );
        assert_eq!(
            staff_sums(&r1, "s1"),
            TrialSums {
                started: 1,
                ended: 0,
                purchased: 0
            }
        );
        let open = d1.open_trials();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].trial.as_str(), open[0].staff.as_deref()),
            ("T1", Some("s1"))
        );
        // The day's roll-up keeps them for the next day, whole and kept up live, and
        // reads back from its JSON; a roll-up stored before them reads as none open.
        let rollup = crate::ops::rollup::DayRollup::of(&d1, rules.measure(), None);
        let json = serde_json::to_string(&rollup).unwrap();
        let back: crate::ops::rollup::DayRollup = serde_json::from_str(&json).unwrap();
        assert_eq!(back.open_trials, open);
        let mut live_day = HallDay::new(rules.clone());
        live_day.track_changes();
        let mut live = crate::ops::rollup::LiveRollup::new(rules.measure());
        for e in &day1 {
            live_day.apply(e).unwrap();
            live.update(&mut live_day);
        }
        assert_eq!(live.rollup(None).open_trials, open);
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old.as_object_mut().unwrap().remove("open_trials");
        let old: crate::ops::rollup::DayRollup = serde_json::from_value(old).unwrap();
        assert!(old.open_trials.is_empty());

        // Day 2: T1 ends with a purchase at 00:10, naming yesterday's ticket; s2 serves
        // a visit today.
        let midnight = chrono::DateTime::parse_from_rfc3339("2026-08-08T00:00:00+08:00")
            .unwrap()
            .timestamp_millis();
        let end = ev_on(
            30,
            "2026-08-08T00:10",
            "trial_ended",
            r#""trial":"T1","ticket":"P1","purchased":true"#,
        );
        // Without the carried trial, the end names a ticket the day does not know.
        let mut bare = HallDay::new(rules.clone());
        assert_eq!(
            bare.apply(&end).unwrap_err(),
            "trial_ended: unknown ticket `P1`"
        );
        let mut day2 = served(20, "Q1", "c2", "s2", "2026-08-08", "00:05", "00:20");
        day2.push(end.clone());
        crate::ops::event::sort_for_replay(&mut day2);
        let mut d2 = HallDay::new(rules.clone());
        d2.carry_trials(&open, midnight);
        for e in &day2 {
            d2.apply(e).unwrap();
        }
        // The end and the purchase count today, to the server who started it; the
        // start stays on day 1.
        let r2 = TrialRollup::of(d2.trials(), |t| d2.ticket(t)?.staff.clone());
        assert_eq!(
            r2.total,
            TrialSums {
                started: 0,
                ended: 1,
                purchased: 1
            }
        );
        assert_eq!(
            staff_sums(&r2, "s1"),
            TrialSums {
                started: 0,
                ended: 1,
                purchased: 1
            }
        );
        assert!(!r2.staff.contains_key("s2"));
        assert!(d2.open_trials().is_empty());
        // Over both days each trial started once and ended once.
        let mut both = r1.total;
        both.merge(&r2.total);
        assert_eq!(
            both,
            TrialSums {
                started: 2,
                ended: 2,
                purchased: 2
            }
        );
        // A second end is refused as on any day.
        assert_eq!(
            d2.apply(&end).unwrap_err(),
            "trial_ended: trial `T1` had already ended"
        );
        // A trial left open that counts nothing today, and is handed on again.
        let mut d3 = HallDay::new(rules.clone());
        d3.carry_trials(&open, midnight);
        assert_eq!(
            TrialRollup::of(d3.trials(), |_| None),
            TrialRollup::default()
        );
        assert_eq!(
            d3.open_trials(),
            d1.open_trials()
                .into_iter()
                .map(|mut t| {
                    t.carried = true;
                    t
                })
                .collect::<Vec<_>>()
        );
        // One open for more than a day is dropped, not carried for ever.
        let mut late = HallDay::new(rules);
        late.carry_trials(&open, midnight + 2 * 86_400_000);
        assert_eq!(late.trials().count(), 0);
    }

    #[test]
    fn a_trial_ended_before_it_started_is_kept_and_completed_not_refused() {
        let rules = Rules::default();
        let issued = ev(
            1,
            "09:00",
            "ticket_issued",
            r#""ticket":"D1","service":"data""#,
        );
        let start = ev(
            2,
            "09:01",
            "trial_started",
            r#""trial":"T5","ticket":"D1","product":"5G 30GB""#,
        );
        let end = ev(
            3,
            "09:10",
            "trial_ended",
            r#""trial":"T5","ticket":"D1","purchased":true"#,
        );
        let mut in_order = HallDay::new(rules.clone());
        for e in [&issued, &start, &end] {
            in_order.apply(e).unwrap();
        }
        // The end comes first (another device, another batch): kept, counted as ended,
        // and waiting for its start.
        let mut reversed = HallDay::new(rules.clone());
        reversed.apply(&issued).unwrap();
        reversed.apply(&end).unwrap();
        let only_end = reversed.trials().next().unwrap().clone();
        assert_eq!(only_end.started_at, None);
        assert!(!only_end.is_open());
        assert_eq!(
            only_end.sums(),
            TrialSums {
                started: 0,
                ended: 1,
                purchased: 1
            }
        );
        assert!(reversed.open_trials().is_empty());
        reversed.apply(&start).unwrap();
        // The start completes it: the same trial as in order.
        assert_eq!(
            reversed.trials().collect::<Vec<_>>(),
            in_order.trials().collect::<Vec<_>>()
        );
        assert_eq!(
            reversed.trials().next().unwrap().sums(),
            TrialSums {
                started: 1,
                ended: 1,
                purchased: 1
            }
        );
        // Its start once, and only for the ticket its end named.
        assert_eq!(
            reversed.apply(&start).unwrap_err(),
            "trial_started: trial `T5` was already started"
        );
        reversed
            .apply(&ev(
                4,
                "09:11",
                "ticket_issued",
                r#""ticket":"D2","service":"data""#,
            ))
            .unwrap();
        reversed
            .apply(&ev(
                5,
                "09:20",
                "trial_ended",
                r#""trial":"T6","ticket":"D1""#,
            ))
            .unwrap();
        assert_eq!(
            reversed
                .apply(&ev(
                    6,
                    "09:12",
                    "trial_started",
                    r#""trial":"T6","ticket":"D2""#,
                ))
                .unwrap_err(),
            "trial_started: trial `T6` was ended for ticket `D1`"
        );
        // An end naming a ticket still waits for that ticket (held by it at ingest).
        assert_eq!(
            reversed
                .apply(&ev(
                    7,
                    "09:30",
                    "trial_ended",
                    r#""trial":"T7","ticket":"Z9""#
                ))
                .unwrap_err(),
            "trial_ended: unknown ticket `Z9`"
        );
    }

    fn point(
        hall: &str,
        peak: Option<f64>,
        n: u64,
        served: u64,
        lines: &[(SaleCategory, u64)],
    ) -> HallPoint {
        HallPoint {
            hall: hall.into(),
            peak_satisfaction: peak,
            respondents: n,
            served,
            lines: lines.iter().copied().collect(),
        }
    }

    #[test]
    fn peaks_and_sales_rank_together_across_halls_by_hand() {
        use SaleCategory::{Data, Group, Phone};
        let halls = [
            // Peak satisfaction; sales per served: A 30/100, B 20/100, C 45/120,
            // D 10/80, E 33/110 (A and E tie at 0.30).
            point("A", Some(8.2), 60, 100, &[(Phone, 10), (Data, 20)]),
            point("B", Some(7.1), 45, 100, &[(Phone, 5), (Data, 15)]),
            point("C", Some(9.0), 80, 120, &[(Phone, 20), (Data, 25)]),
            point("D", Some(6.5), 30, 80, &[(Phone, 2), (Data, 8)]),
            point("E", Some(7.8), 50, 110, &[(Phone, 8), (Data, 25)]),
            // Left out: too few respondents, nothing served, no rated peak, twice.
            point("F", Some(9.5), 12, 90, &[(Phone, 40)]),
            point("G", Some(5.0), 40, 0, &[]),
            point("H", None, 0, 70, &[(Data, 9)]),
            point("A", Some(1.0), 90, 10, &[]),
        ];
        let r = peaks_vs_sales(&halls, MIN_PEAK_RESPONDENTS);
        assert_eq!(r.halls, ["A", "B", "C", "D", "E"]);
        assert_eq!(r.n, 5);
        // Ranks of the peaks A..E: 4 2 5 1 3; of the sales: 3.5 2 5 1 3.5. Deviations
        // from 3: (1 −1 2 −2 0) and (.5 −1 2 −2 .5): Σxy = 9.5, Σx² = 10, Σy² = 9.5,
        // ρ = 9.5 / √95 = √0.95.
        let all = r.sales_per_served.unwrap();
        assert_eq!(all.n, 5);
        assert!((all.rho - 0.95f64.sqrt()).abs() < 1e-12, "{all:?}");
        // z = atanh ρ = 2.17827, se = √((1 + 0.95/2)/2) = 0.85878: tanh(z ∓ 1.96 se).
        assert!((all.ci95.0 - 0.458_229).abs() < 1e-6, "{all:?}");
        assert!((all.ci95.1 - 0.999_115).abs() < 1e-6, "{all:?}");
        // Phones per served (.10 .05 .167 .025 .073) rank exactly as the peaks.
        let line = |c: SaleCategory| {
            r.lines
                .iter()
                .find(|l| l.category == c)
                .unwrap()
                .correlation
        };
        assert!((line(Phone).unwrap().rho - 1.0).abs() < 1e-12);
        // No hall sold a group account: that line does not vary.
        assert_eq!(line(Group), None);
        assert_eq!(r.lines.len(), 5);
        let why: Vec<(&str, &Exclusion)> = r
            .excluded
            .iter()
            .map(|e| (e.hall.as_str(), &e.reason))
            .collect();
        assert_eq!(
            why,
            [
                (
                    "F",
                    &Exclusion::TooFewRespondents {
                        respondents: 12,
                        min: 30
                    }
                ),
                ("G", &Exclusion::NoServedVisits),
                ("H", &Exclusion::NoPeakSatisfaction),
                ("A", &Exclusion::Duplicate),
            ]
        );
        assert!(r.excluded[0].label.starts_with("受访者不足（12 人"));
        // Fewer than four halls ranked: the exclusions, no correlation.
        let few = peaks_vs_sales(&halls[..3], MIN_PEAK_RESPONDENTS);
        assert_eq!((few.n, few.sales_per_served), (3, None));
        // Serialized, an exclusion names its reason.
        let v = serde_json::to_value(&r.excluded[0]).unwrap();
        assert_eq!(v["reason"], "too_few_respondents");
        assert_eq!(v["respondents"], 12);
    }

    #[test]
    fn a_hall_point_takes_its_peaks_from_the_analysis() {
        let j = crate::builtin::journeys().unwrap().remove(0);
        let halls = [crate::id::HallId::parse("h1").unwrap()];
        let mut g = crate::analysis::engine::GroupedStats::new(&j, None, None);
        crate::synth::responses(&j, &halls, 400, 3).for_each(|r| g.push(&r));
        let a = g.analyze(&j, None, crate::peak::PeakRule::Top(2)).unwrap();
        let peaks: Vec<_> = a.moments.iter().filter(|m| m.peak).collect();
        assert_eq!(peaks.len(), 2);
        let mut sums = SalesSums::default();
        sums.add_sale(&Sale {
            category: SaleCategory::Phone,
            amount_fen: None,
            staff: None,
            at: 0,
        });
        let p = HallPoint::from_analysis("h1", &a, 4, &sums.kpis(4));
        let mean = (peaks[0].satisfaction.unwrap() + peaks[1].satisfaction.unwrap()) / 2.0;
        assert!((p.peak_satisfaction.unwrap() - mean).abs() < 1e-12);
        assert_eq!(p.respondents, peaks[0].n.min(peaks[1].n));
        assert!(p.respondents > 0);
        assert_eq!(p.sales_per_served(), Some(0.25));
        assert_eq!(p.line_per_served(SaleCategory::Data), Some(0.0));
    }
}
