//! Standards checked (issue 21, begun): how a standard is verified, by whom and how
//! often, what a check's result is and whether it passes, and the ranking of a hall's
//! most urgent problems that its improvement plan starts from. Pure rules; the journey
//! format, audits, automatic checks, compliance and the plan's pages build on them.

use serde::{Deserialize, Serialize};

/// How a standard is verified, and the limit a result is judged against. Written in a
/// journey file as one string: `yes_no`, `count_max 3`, `duration_max 15` (seconds),
/// `share_min 1` (or `share_min 100%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckMethod {
    /// Met or not (e.g. no litter or touts within 3 m of the door).
    YesNo,
    /// A count that must not exceed `max` (e.g. at most 3 standing signs).
    CountMax { max: f64 },
    /// A duration in seconds that must not exceed `max` (e.g. the first 15 s).
    DurationMax { max: f64 },
    /// A share in [0, 1] that must reach `min` (e.g. water for premium customers: 1.0).
    ShareMin { min: f64 },
}

impl std::fmt::Display for CheckMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckMethod::YesNo => f.write_str("yes_no"),
            CheckMethod::CountMax { max } => write!(f, "count_max {max}"),
            CheckMethod::DurationMax { max } => write!(f, "duration_max {max}"),
            CheckMethod::ShareMin { min } => write!(f, "share_min {min}"),
        }
    }
}

impl std::str::FromStr for CheckMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<CheckMethod, String> {
        let mut parts = s.split_whitespace();
        let kind = parts.next().unwrap_or("");
        let arg = parts.next();
        if parts.next().is_some() {
            return Err(format!("`{s}`: a check is a method and at most one number"));
        }
        let number = |what: &str| -> Result<f64, String> {
            let a = arg.ok_or_else(|| format!("`{s}`: `{kind}` needs {what}"))?;
            let (a, percent) = match a.strip_suffix('%') {
                Some(p) => (p, true),
                None => (a, false),
            };
            let x: f64 = a
                .parse()
                .map_err(|_| format!("`{s}`: `{a}` is not a number"))?;
            let x = if percent { x / 100.0 } else { x };
            if x.is_finite() && x >= 0.0 {
                Ok(x)
            } else {
                Err(format!("`{s}`: the limit must be a finite number ≥ 0"))
            }
        };
        match kind {
            "yes_no" if arg.is_none() => Ok(CheckMethod::YesNo),
            "yes_no" => Err(format!("`{s}`: `yes_no` takes no number")),
            "count_max" => Ok(CheckMethod::CountMax {
                max: number("a count")?,
            }),
            "duration_max" => Ok(CheckMethod::DurationMax {
                max: number("a number of seconds")?,
            }),
            "share_min" => {
                let min = number("a share (0–1 or a percentage)")?;
                if min > 1.0 {
                    Err(format!("`{s}`: a share is at most 1 (100%)"))
                } else {
                    Ok(CheckMethod::ShareMin { min })
                }
            }
            _ => Err(format!(
                "`{s}` is not yes_no, count_max N, duration_max S or share_min P"
            )),
        }
    }
}

impl Serialize for CheckMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CheckMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CheckMethod, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How often a check is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Day,
    Week,
    Month,
    Quarter,
}

impl Frequency {
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Frequency::Day => ("每日", "daily"),
            Frequency::Week => ("每周", "weekly"),
            Frequency::Month => ("每月", "monthly"),
            Frequency::Quarter => ("每季度", "quarterly"),
        }
    }
}

/// A check the device events make by themselves, per hall and day (see
/// [`crate::ops::day::HallDay::checks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoCheck {
    /// No counter closed, and none left closed, while pre-processing is active: one
    /// check a day.
    ClosedCountersAtPeak,
    /// Each transaction within the limit (call to end of service).
    SystemTime,
    /// Each care alert acknowledged within the limit of being raised.
    CareInTime,
    /// Each premium (VIP) customer's care alert acknowledged at all.
    PremiumCare,
    /// Every kiosk of the day checked (`kiosk_checked`): one check a day.
    KioskDailyCheck,
    /// Each kiosk fault restored before its repair deadline (counted when restored or
    /// when the deadline passes).
    KioskRepair,
    /// Each customer called within the wait the ticket announced (in whole minutes,
    /// rounded up, as the ticket shows it).
    WaitAsAnnounced,
}

impl AutoCheck {
    pub const ALL: [AutoCheck; 7] = [
        AutoCheck::ClosedCountersAtPeak,
        AutoCheck::SystemTime,
        AutoCheck::CareInTime,
        AutoCheck::PremiumCare,
        AutoCheck::KioskDailyCheck,
        AutoCheck::KioskRepair,
        AutoCheck::WaitAsAnnounced,
    ];
}

/// How a standard is checked: the method and its limit, who checks, how often, and the
/// automatic check from the device events where there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub verify: CheckMethod,
    /// Who checks it by hand: at least one unless the check is automatic.
    #[serde(default)]
    pub by: Vec<Checker>,
    pub every: Frequency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoCheck>,
}

impl Check {
    /// Whether a region's check keeps what the parent's does: a method at least as
    /// strict, every checker and the automatic check kept, made at least as often.
    pub fn tightens(&self, base: &Check) -> bool {
        self.verify.tightens(&base.verify)
            && base.by.iter().all(|b| self.by.contains(b))
            && (base.auto.is_none() || self.auto == base.auto)
            && self.every <= base.every
    }
}

/// Who checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checker {
    /// The hall's own daily self-check.
    #[serde(rename = "self")]
    SelfCheck,
    /// The manager's walk through the hall.
    Walk,
    /// A mystery shopper.
    Mystery,
    /// An inspection by the region.
    Inspection,
    /// Call monitoring (服务监听): a quality monitor scores one recorded call of a
    /// contact centre, naming the call and the agent, against the standards that can
    /// be judged from a recording.
    Monitoring,
}

impl Checker {
    pub const ALL: [Checker; 5] = [
        Checker::SelfCheck,
        Checker::Walk,
        Checker::Mystery,
        Checker::Inspection,
        Checker::Monitoring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Checker::SelfCheck => "self",
            Checker::Walk => "walk",
            Checker::Mystery => "mystery",
            Checker::Inspection => "inspection",
            Checker::Monitoring => "monitoring",
        }
    }

    pub fn parse(s: &str) -> Result<Checker, String> {
        Checker::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| format!("`{s}` is not self, walk, mystery, inspection or monitoring"))
    }
}

/// A check's result as recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckResult {
    Yes(bool),
    Number(f64),
}

impl CheckMethod {
    /// Reads a recorded result (`yes`/`no`/`是`/`否`/`true`/`false` for yes-no; a number
    /// otherwise, a share as 0–1 or a percentage with `%`), refusing one of the wrong
    /// kind.
    pub fn parse_result(&self, s: &str) -> Result<CheckResult, String> {
        let t = s.trim();
        match self {
            CheckMethod::YesNo => match t.to_lowercase().as_str() {
                "yes" | "y" | "true" | "1" | "是" | "合格" => Ok(CheckResult::Yes(true)),
                "no" | "n" | "false" | "0" | "否" | "不合格" => Ok(CheckResult::Yes(false)),
                _ => Err(format!("`{t}` is not yes or no")),
            },
            CheckMethod::ShareMin { .. } => {
                let (number, percent) = match t.strip_suffix('%') {
                    Some(p) => (p.trim(), true),
                    None => (t, false),
                };
                let x: f64 = number
                    .parse()
                    .map_err(|_| format!("`{t}` is not a share (0–1 or a percentage)"))?;
                let x = if percent { x / 100.0 } else { x };
                if x.is_finite() && (0.0..=1.0).contains(&x) {
                    Ok(CheckResult::Number(x))
                } else {
                    Err(format!("`{t}` is outside 0–100 %"))
                }
            }
            CheckMethod::CountMax { .. } | CheckMethod::DurationMax { .. } => {
                let x: f64 = t.parse().map_err(|_| format!("`{t}` is not a number"))?;
                if x.is_finite() && x >= 0.0 {
                    Ok(CheckResult::Number(x))
                } else {
                    Err(format!("`{t}` is not a number ≥ 0"))
                }
            }
        }
    }

    /// Whether a result passes the check.
    pub fn passes(&self, r: CheckResult) -> bool {
        match (self, r) {
            (CheckMethod::YesNo, CheckResult::Yes(y)) => y,
            (
                CheckMethod::CountMax { max } | CheckMethod::DurationMax { max },
                CheckResult::Number(x),
            ) => x <= *max,
            (CheckMethod::ShareMin { min }, CheckResult::Number(x)) => x >= *min,
            _ => false,
        }
    }

    /// Whether `self` is at least as strict as `base`: a regional journey may tighten a
    /// check it inherits, never loosen it or change what it measures.
    pub fn tightens(&self, base: &CheckMethod) -> bool {
        match (self, base) {
            (CheckMethod::YesNo, CheckMethod::YesNo) => true,
            (CheckMethod::CountMax { max: a }, CheckMethod::CountMax { max: b })
            | (CheckMethod::DurationMax { max: a }, CheckMethod::DurationMax { max: b }) => a <= b,
            (CheckMethod::ShareMin { min: a }, CheckMethod::ShareMin { min: b }) => a >= b,
            _ => false,
        }
    }
}

/// A moment's figures behind the plan's ranking: its importance and satisfaction
/// (1–10, segment-weighted) and its compliance (0–1; `None` where no check was made).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MomentStanding {
    pub moment: String,
    pub importance: f64,
    pub satisfaction: f64,
    pub compliance: Option<f64>,
}

/// A ranked problem: the moment, its priority and the figures that put it there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub standing: MomentStanding,
    pub priority: f64,
}

/// The hall's most urgent problems, highest priority first:
/// `importance × (10 − satisfaction) × (1 − compliance)`, compliance 0 where no check
/// was made (an unchecked moment is not presumed lived). Ties keep journey order.
pub fn rank_problems(moments: &[MomentStanding]) -> Vec<Problem> {
    let mut ranked: Vec<Problem> = moments
        .iter()
        .map(|m| {
            let gap = (10.0 - m.satisfaction).max(0.0);
            let unmet = 1.0 - m.compliance.unwrap_or(0.0).clamp(0.0, 1.0);
            Problem {
                standing: m.clone(),
                priority: m.importance * gap * unmet,
            }
        })
        .collect();
    ranked.sort_by(|a, b| b.priority.total_cmp(&a.priority));
    ranked
}

/// Checks made and passed of one hall, period (a month `YYYY-MM` or a day
/// `YYYY-MM-DD`), moment, standard and source (`auto` or an audit kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRow {
    pub hall: String,
    pub period: String,
    pub moment: String,
    pub standard: String,
    pub source: String,
    pub made: i64,
    pub passed: i64,
}

/// Checks made and passed: compliance is their ratio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub made: i64,
    pub passed: i64,
}

impl Tally {
    pub fn add(&mut self, made: i64, passed: i64) {
        self.made += made;
        self.passed += passed;
    }

    /// passed / made in [0, 1]; `None` when no check was made.
    pub fn share(&self) -> Option<f64> {
        (self.made > 0).then(|| self.passed as f64 / self.made as f64)
    }
}

/// A compliance index on 0–100: each moment's compliance (its checks passed / made)
/// weighted by its importance, over the moments with a check made and a weight, so the
/// peaks and the end (the most important moments) count most. `None` without any.
pub fn compliance_index(
    by_moment: &std::collections::BTreeMap<String, Tally>,
    importance: &std::collections::BTreeMap<String, f64>,
) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (moment, t) in by_moment {
        if let (Some(c), Some(w)) = (t.share(), importance.get(moment)) {
            num += w * c;
            den += w;
        }
    }
    (den > 0.0).then(|| 100.0 * num / den)
}

/// A rank correlation with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankCorrelation {
    pub n: usize,
    pub rho: f64,
    /// Fisher's z with the standard error sqrt(1.06 / (n − 3)) of Fieller, Hartley and
    /// Pearson (1957); `None` below 4 pairs.
    pub ci95: Option<(f64, f64)>,
}

/// Spearman's rank correlation (the Pearson correlation of the ranks, ties averaged);
/// `None` below 3 pairs or when either side does not vary.
pub fn spearman(xs: &[f64], ys: &[f64]) -> Option<RankCorrelation> {
    let n = xs.len().min(ys.len());
    if n < 3 {
        return None;
    }
    let (rx, ry) = (
        crate::analysis::stats::average_ranks(&xs[..n]),
        crate::analysis::stats::average_ranks(&ys[..n]),
    );
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (a, b) = (rx[i] - mean, ry[i] - mean);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    let rho = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let ci95 = (n >= 4).then(|| {
        let z = rho.clamp(-0.999_999, 0.999_999).atanh();
        let se = (1.06 / (n as f64 - 3.0)).sqrt();
        ((z - 1.96 * se).tanh(), (z + 1.96 * se).tanh())
    });
    Some(RankCorrelation { n, rho, ci95 })
}

/// The difference of two means (after − before) with its 95 % interval (Welch's
/// standard error, normal quantile): how an action moved a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BeforeAfter {
    pub before: f64,
    pub before_n: u64,
    pub after: f64,
    pub after_n: u64,
    pub change: f64,
    pub ci95: Option<(f64, f64)>,
}

/// Compares two samples given as (n, mean, sample variance); `None` when either is
/// empty. The interval needs two observations a side.
pub fn before_after(
    before: (u64, f64, Option<f64>),
    after: (u64, f64, Option<f64>),
) -> Option<BeforeAfter> {
    let ((n1, m1, v1), (n2, m2, v2)) = (before, after);
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let change = m2 - m1;
    let ci95 = match (v1, v2) {
        (Some(v1), Some(v2)) => {
            let se = (v1 / n1 as f64 + v2 / n2 as f64).sqrt();
            Some((change - 1.96 * se, change + 1.96 * se))
        }
        _ => None,
    };
    Some(BeforeAfter {
        before: m1,
        before_n: n1,
        after: m2,
        after_n: n2,
        change,
        ci95,
    })
}

/// A share's (n, mean, variance) for [`before_after`]: `passed` of `made` checks.
pub fn share_sample(t: Tally) -> (u64, f64, Option<f64>) {
    if t.made <= 0 {
        return (0, 0.0, None);
    }
    let p = t.passed as f64 / t.made as f64;
    let n = t.made as u64;
    (
        n,
        p,
        (n >= 2).then(|| p * (1.0 - p) * n as f64 / (n as f64 - 1.0)),
    )
}

/// What a compliance report groups its lines by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceBy {
    Hall,
    Moment,
    Standard,
    Day,
    /// Per agent of a contact centre, from the call-monitoring audits that name one.
    Agent,
}

impl std::str::FromStr for ComplianceBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hall" => Ok(ComplianceBy::Hall),
            "moment" => Ok(ComplianceBy::Moment),
            "standard" => Ok(ComplianceBy::Standard),
            "day" => Ok(ComplianceBy::Day),
            "agent" => Ok(ComplianceBy::Agent),
            _ => Err(format!("`{s}` is not hall, moment, standard, day or agent")),
        }
    }
}

/// One line of a compliance report: its checks, and the same by source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceLine {
    pub key: String,
    /// The moment of a standard's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moment: Option<String>,
    /// The contact centre of an agent's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hall: Option<String>,
    pub made: i64,
    pub passed: i64,
    pub compliance: Option<f64>,
    pub sources: BTreeMap<String, Tally>,
}

/// The checks of one agent of a contact centre, from the call-monitoring audits that
/// name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentChecks {
    pub hall: String,
    pub agent: String,
    pub made: i64,
    pub passed: i64,
}

/// A report's lines per agent (`--by agent`): by centre, then agent, each with its
/// checks under the source `monitoring`.
pub fn agent_lines(rows: &[AgentChecks]) -> Vec<ComplianceLine> {
    let mut sums: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for r in rows {
        sums.entry((r.hall.clone(), r.agent.clone()))
            .or_default()
            .add(r.made, r.passed);
    }
    sums.into_iter()
        .map(|((hall, agent), t)| ComplianceLine {
            key: agent,
            moment: None,
            hall: Some(hall),
            made: t.made,
            passed: t.passed,
            compliance: t.share(),
            sources: [(Checker::Monitoring.as_str().to_owned(), t)].into(),
        })
        .collect()
}

/// A hall in the league table, best index first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeagueLine {
    pub hall: String,
    pub index: Option<f64>,
    pub made: i64,
    pub passed: i64,
}

/// A month of the trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthLine {
    pub month: String,
    pub made: i64,
    pub passed: i64,
    pub compliance: Option<f64>,
    pub index: Option<f64>,
}

/// Whether a moment's standards move its customers: across halls, the rank correlation
/// of the moment's compliance with its satisfaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MomentEffect {
    pub moment: String,
    pub halls: usize,
    pub correlation: Option<RankCorrelation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    pub by: ComplianceBy,
    pub made: i64,
    pub passed: i64,
    pub compliance: Option<f64>,
    /// 0–100, moments weighted by importance.
    pub index: Option<f64>,
    pub lines: Vec<ComplianceLine>,
    pub months: Vec<MonthLine>,
    pub league: Vec<LeagueLine>,
    pub effects: Vec<MomentEffect>,
}

use std::collections::BTreeMap;

/// The compliance of checks grouped `by`, with the index (moments weighted by
/// `importance`), the trend by month, the league of halls and, per moment across
/// halls, compliance against satisfaction (`satisfaction`: (hall, moment) → mean).
/// `rows` carry hall, moment, standard and source (their period is not read);
/// `periods` carry the period (a month, or a day for lines by day), moment and source
/// of the same checks. `moments` gives the journey order lines follow.
pub fn compliance_report(
    rows: &[CheckRow],
    periods: &[CheckRow],
    by: ComplianceBy,
    moments: &[String],
    importance: &BTreeMap<String, f64>,
    satisfaction: &BTreeMap<(String, String), f64>,
) -> ComplianceReport {
    let mut total = Tally::default();
    /// A line's moment (for a standard), its checks and the same by source.
    type Line = (Option<String>, Tally, BTreeMap<String, Tally>);
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    let mut by_moment: BTreeMap<String, Tally> = BTreeMap::new();
    let mut hall_moment: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
    let mut month_moment: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
    let mut line = |key: &str, moment: Option<&str>, r: &CheckRow| {
        let l = lines
            .entry(key.to_owned())
            .or_insert_with(|| (moment.map(str::to_owned), Tally::default(), BTreeMap::new()));
        l.1.add(r.made, r.passed);
        l.2.entry(r.source.clone())
            .or_default()
            .add(r.made, r.passed);
    };
    for r in periods {
        if by == ComplianceBy::Day {
            line(&r.period, None, r);
        }
        let month = r.period.get(..7).unwrap_or(&r.period).to_owned();
        month_moment
            .entry(month)
            .or_default()
            .entry(r.moment.clone())
            .or_default()
            .add(r.made, r.passed);
    }
    for r in rows {
        total.add(r.made, r.passed);
        match by {
            ComplianceBy::Hall => line(&r.hall, None, r),
            ComplianceBy::Moment => line(&r.moment, None, r),
            ComplianceBy::Standard => line(&r.standard, Some(&r.moment), r),
            ComplianceBy::Day | ComplianceBy::Agent => {}
        }
        by_moment
            .entry(r.moment.clone())
            .or_default()
            .add(r.made, r.passed);
        hall_moment
            .entry(r.hall.clone())
            .or_default()
            .entry(r.moment.clone())
            .or_default()
            .add(r.made, r.passed);
    }
    let position = |m: &str| moments.iter().position(|k| k == m).unwrap_or(usize::MAX);
    let mut lines: Vec<ComplianceLine> = lines
        .into_iter()
        .map(|(key, (moment, t, sources))| ComplianceLine {
            key,
            moment,
            hall: None,
            made: t.made,
            passed: t.passed,
            compliance: t.share(),
            sources,
        })
        .collect();
    match by {
        ComplianceBy::Moment => lines.sort_by_key(|l| position(&l.key)),
        ComplianceBy::Standard => {
            lines.sort_by_key(|l| position(l.moment.as_deref().unwrap_or("")))
        }
        _ => {}
    }
    let months = month_moment
        .iter()
        .map(|(month, m)| {
            let mut t = Tally::default();
            m.values().for_each(|x| t.add(x.made, x.passed));
            MonthLine {
                month: month.clone(),
                made: t.made,
                passed: t.passed,
                compliance: t.share(),
                index: compliance_index(m, importance),
            }
        })
        .collect();
    let mut league: Vec<LeagueLine> = hall_moment
        .iter()
        .map(|(hall, m)| {
            let mut t = Tally::default();
            m.values().for_each(|x| t.add(x.made, x.passed));
            LeagueLine {
                hall: hall.clone(),
                index: compliance_index(m, importance),
                made: t.made,
                passed: t.passed,
            }
        })
        .collect();
    league.sort_by(|a, b| {
        b.index
            .unwrap_or(-1.0)
            .total_cmp(&a.index.unwrap_or(-1.0))
            .then_with(|| a.hall.cmp(&b.hall))
    });
    let mut effects = Vec::new();
    for moment in moments {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for (hall, m) in &hall_moment {
            if let (Some(c), Some(s)) = (
                m.get(moment).and_then(Tally::share),
                satisfaction.get(&(hall.clone(), moment.clone())),
            ) {
                xs.push(c);
                ys.push(*s);
            }
        }
        if !xs.is_empty() {
            effects.push(MomentEffect {
                moment: moment.clone(),
                halls: xs.len(),
                correlation: spearman(&xs, &ys),
            });
        }
    }
    ComplianceReport {
        by,
        made: total.made,
        passed: total.passed,
        compliance: total.share(),
        index: compliance_index(&by_moment, importance),
        lines,
        months,
        league,
        effects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_groups_checks_ranks_halls_and_relates_compliance_to_satisfaction() {
        let r =
            |hall: &str, period: &str, moment: &str, standard: &str, source: &str, made, passed| {
                CheckRow {
                    hall: hall.into(),
                    period: period.into(),
                    moment: moment.into(),
                    standard: standard.into(),
                    source: source.into(),
                    made,
                    passed,
                }
            };
        let rows = [
            r("h1", "2026-10", "queue", "care_after", "auto", 10, 10),
            r("h1", "2026-11", "storefront", "clean_radius", "walk", 2, 1),
            r("h2", "2026-11", "queue", "care_after", "auto", 10, 5),
            r(
                "h2",
                "2026-11",
                "storefront",
                "clean_radius",
                "mystery",
                1,
                1,
            ),
            r("h3", "2026-11", "queue", "care_after", "auto", 10, 2),
        ];
        let moments = vec!["storefront".to_owned(), "queue".to_owned()];
        let importance: BTreeMap<String, f64> =
            [("queue".to_owned(), 9.0), ("storefront".to_owned(), 8.0)].into();
        let satisfaction: BTreeMap<(String, String), f64> = [
            (("h1".to_owned(), "queue".to_owned()), 9.0),
            (("h2".to_owned(), "queue".to_owned()), 8.0),
            (("h3".to_owned(), "queue".to_owned()), 6.0),
        ]
        .into();
        let rep = compliance_report(
            &rows,
            &rows,
            ComplianceBy::Standard,
            &moments,
            &importance,
            &satisfaction,
        );
        assert_eq!((rep.made, rep.passed), (33, 19));
        assert_eq!(rep.lines[0].key, "clean_radius", "journey order");
        assert_eq!(rep.lines[0].sources["walk"], Tally { made: 2, passed: 1 });
        assert_eq!(rep.lines[1].compliance, Some(17.0 / 30.0));
        // h1: (9 × 1 + 8 × 0.5) / 17; h2: (9 × 0.5 + 8 × 1) / 17; h3: queue only, 0.2.
        assert_eq!(
            rep.league
                .iter()
                .map(|l| l.hall.as_str())
                .collect::<Vec<_>>(),
            ["h1", "h2", "h3"]
        );
        assert!((rep.league[0].index.unwrap() - 100.0 * 13.0 / 17.0).abs() < 1e-9);
        assert!((rep.league[2].index.unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(
            rep.months
                .iter()
                .map(|m| m.month.as_str())
                .collect::<Vec<_>>(),
            ["2026-10", "2026-11"]
        );
        let queue = rep.effects.iter().find(|e| e.moment == "queue").unwrap();
        assert_eq!(queue.halls, 3);
        assert!((queue.correlation.unwrap().rho - 1.0).abs() < 1e-12);
        let by_hall = compliance_report(
            &rows,
            &rows,
            ComplianceBy::Hall,
            &moments,
            &importance,
            &satisfaction,
        );
        assert_eq!(by_hall.lines.len(), 3);
    }

    #[test]
    fn agent_lines_sum_each_agent_of_each_centre() {
        let r = |hall: &str, agent: &str, made, passed| AgentChecks {
            hall: hall.into(),
            agent: agent.into(),
            made,
            passed,
        };
        let lines = agent_lines(&[
            r("cc", "A02", 7, 7),
            r("cc", "A01", 7, 5),
            r("cc", "A01", 3, 1),
            r("cc2", "A01", 2, 2),
        ]);
        let keys: Vec<(&str, &str, i64, i64)> = lines
            .iter()
            .map(|l| (l.hall.as_deref().unwrap(), l.key.as_str(), l.made, l.passed))
            .collect();
        assert_eq!(
            keys,
            [
                ("cc", "A01", 10, 6),
                ("cc", "A02", 7, 7),
                ("cc2", "A01", 2, 2)
            ]
        );
        assert_eq!(lines[0].compliance, Some(0.6));
        assert_eq!(
            lines[0].sources["monitoring"],
            Tally {
                made: 10,
                passed: 6
            }
        );
        assert_eq!("agent".parse::<ComplianceBy>(), Ok(ComplianceBy::Agent));
        assert_eq!(Checker::parse("monitoring"), Ok(Checker::Monitoring));
        let json = serde_json::to_value(Checker::Monitoring).unwrap();
        assert_eq!(json, "monitoring");
    }

    #[test]
    fn spearman_matches_the_published_example() {
        // Wikipedia, "Spearman's rank correlation coefficient", the example of IQ
        // against hours of television a week: ρ = −29/165 ≈ −0.175757575.
        let iq = [
            106.0, 100.0, 86.0, 101.0, 99.0, 103.0, 97.0, 113.0, 112.0, 110.0,
        ];
        let tv = [7.0, 27.0, 2.0, 50.0, 28.0, 29.0, 20.0, 12.0, 6.0, 17.0];
        let r = spearman(&iq, &tv).unwrap();
        assert!((r.rho - (-29.0 / 165.0)).abs() < 1e-12, "{}", r.rho);
        let (lo, hi) = r.ci95.unwrap();
        assert!(lo < r.rho && r.rho < hi && lo > -1.0 && hi < 1.0);
        // Ties take their average rank: a perfect monotone relation with ties is 1.
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[10.0, 20.0, 20.0, 30.0]).unwrap();
        assert!((r.rho - 1.0).abs() < 1e-12);
        assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn the_index_weights_moments_by_importance() {
        let t = |made, passed| Tally { made, passed };
        let by: std::collections::BTreeMap<String, Tally> = [
            ("queue".to_owned(), t(10, 5)),
            ("leave".to_owned(), t(4, 4)),
            ("find".to_owned(), t(0, 0)),
        ]
        .into();
        let w: std::collections::BTreeMap<String, f64> = [
            ("queue".to_owned(), 9.0),
            ("leave".to_owned(), 8.0),
            ("find".to_owned(), 7.0),
        ]
        .into();
        // (9 × 0.5 + 8 × 1) / 17 = 0.73529…; `find` has no check made and is left out.
        let idx = compliance_index(&by, &w).unwrap();
        assert!((idx - 100.0 * 12.5 / 17.0).abs() < 1e-9, "{idx}");
        assert_eq!(compliance_index(&Default::default(), &w), None);
    }

    #[test]
    fn before_and_after_compare_means_with_welch_s_error() {
        // before: n 100, mean 6.8, var 4; after: n 100, mean 7.5, var 4:
        // change 0.7, se sqrt(0.04 + 0.04) = 0.28284…
        let b = before_after((100, 6.8, Some(4.0)), (100, 7.5, Some(4.0))).unwrap();
        assert!((b.change - 0.7).abs() < 1e-12);
        let (lo, hi) = b.ci95.unwrap();
        assert!((lo - (0.7 - 1.96 * 0.08f64.sqrt())).abs() < 1e-12);
        assert!((hi - (0.7 + 1.96 * 0.08f64.sqrt())).abs() < 1e-12);
        assert!(before_after((0, 0.0, None), (3, 1.0, None)).is_none());
        let (n, p, v) = share_sample(Tally { made: 4, passed: 3 });
        assert_eq!((n, p), (4, 0.75));
        assert!((v.unwrap() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn results_are_read_by_the_check_s_kind_and_judged_against_its_limit() {
        let signs = CheckMethod::CountMax { max: 3.0 };
        assert!(signs.passes(signs.parse_result("3").unwrap()));
        assert!(!signs.passes(signs.parse_result("4").unwrap()));
        assert!(signs.parse_result("many").is_err());
        assert!(signs.parse_result("-1").is_err());
        let first = CheckMethod::DurationMax { max: 15.0 };
        assert!(!first.passes(first.parse_result("15.5").unwrap()));
        let water = CheckMethod::ShareMin { min: 1.0 };
        assert!(water.passes(water.parse_result("100%").unwrap()));
        assert!(!water.passes(water.parse_result("0.95").unwrap()));
        assert!(water.parse_result("120%").is_err());
        let litter = CheckMethod::YesNo;
        assert!(litter.passes(litter.parse_result("是").unwrap()));
        assert!(!litter.passes(litter.parse_result("否").unwrap()));
        assert!(litter.parse_result("3").is_err());
        // A result of another kind never passes.
        assert!(!litter.passes(CheckResult::Number(1.0)));
        assert_eq!(Checker::parse("mystery"), Ok(Checker::Mystery));
        assert!(Checker::parse("boss").is_err());
    }

    #[test]
    fn a_region_may_tighten_a_check_never_loosen_it() {
        let base = CheckMethod::CountMax { max: 3.0 };
        assert!(CheckMethod::CountMax { max: 2.0 }.tightens(&base));
        assert!(CheckMethod::CountMax { max: 3.0 }.tightens(&base));
        assert!(!CheckMethod::CountMax { max: 4.0 }.tightens(&base));
        assert!(!CheckMethod::YesNo.tightens(&base));
        let share = CheckMethod::ShareMin { min: 0.9 };
        assert!(CheckMethod::ShareMin { min: 1.0 }.tightens(&share));
        assert!(!CheckMethod::ShareMin { min: 0.8 }.tightens(&share));
    }

    #[test]
    fn problems_rank_by_importance_gap_and_unmet_standards() {
        let m = |moment: &str, importance, satisfaction, compliance| MomentStanding {
            moment: moment.into(),
            importance,
            satisfaction,
            compliance,
        };
        let ranked = rank_problems(&[
            m("find", 7.0, 8.0, Some(0.5)),
            m("queue", 9.0, 6.8, Some(0.5)),
            m("result", 9.5, 7.0, None),
            m("leave", 8.0, 9.0, Some(1.0)),
        ]);
        let order: Vec<(&str, f64)> = ranked
            .iter()
            .map(|p| {
                (
                    p.standing.moment.as_str(),
                    (p.priority * 1000.0).round() / 1000.0,
                )
            })
            .collect();
        // result 9.5 × 3 × 1 = 28.5; queue 9 × 3.2 × 0.5 = 14.4; find 7 × 2 × 0.5 = 7;
        // leave: every check passed, 0.
        assert_eq!(
            order,
            [
                ("result", 28.5),
                ("queue", 14.4),
                ("find", 7.0),
                ("leave", 0.0)
            ]
        );
    }
}
