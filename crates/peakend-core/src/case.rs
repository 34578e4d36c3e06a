//! Service cases, the closed loop (issue 20): the pure rules a case follows. Its states
//! and the moves between them, the service-level deadlines the journey's `dispute`
//! standards set (in the hall's working days), the level a late case escalates to, and
//! how a customer's contact is shown to those who may not see it whole. Storage, the
//! sweep and the pages are adapters around these.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::journey::{Journey, Unit};
use crate::ops::event::{Event, EventKind, Outcome};
use crate::ops::holiday::add_working_days;
use crate::ops::ticket::Ticket;
use crate::survey::Response;
use crate::time::Zone;
use crate::{HallId, MomentKey, OrgNodeId, OrgTree, UserName};

/// Where a case came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseSource {
    /// A service ended `unresolved` or `referred`.
    Unresolved,
    /// A rating at or below the journey's low-rating standard.
    LowRating,
    /// The counter's dispute button (a `complaint` device event).
    Complaint,
    /// A detractor's or a low-rating survey answer with a contact given with consent.
    Survey,
    /// Opened by hand.
    Manual,
    /// Imported from a hotline or complaint system.
    Hotline,
}

impl CaseSource {
    pub const ALL: [CaseSource; 6] = [
        CaseSource::Unresolved,
        CaseSource::LowRating,
        CaseSource::Complaint,
        CaseSource::Survey,
        CaseSource::Manual,
        CaseSource::Hotline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseSource::Unresolved => "unresolved",
            CaseSource::LowRating => "low_rating",
            CaseSource::Complaint => "complaint",
            CaseSource::Survey => "survey",
            CaseSource::Manual => "manual",
            CaseSource::Hotline => "hotline",
        }
    }

    pub fn parse(s: &str) -> Option<CaseSource> {
        CaseSource::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Voiced by the customer (against the silent signals of a bad visit): what "for
    /// each voiced complaint, N silent" counts on the voiced side.
    pub fn voiced(self) -> bool {
        matches!(
            self,
            CaseSource::Complaint | CaseSource::Manual | CaseSource::Hotline
        )
    }
}

/// How bad it is: what the inbox sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Low, Severity::Medium, Severity::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Result<Severity, String> {
        let t = s.trim();
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == t || v.zh() == t)
            .ok_or_else(|| format!("`{s}` is not a severity (low, medium, high)"))
    }

    pub fn zh(self) -> &'static str {
        match self {
            Severity::Low => "低",
            Severity::Medium => "中",
            Severity::High => "高",
        }
    }
}

/// A case's state. The loop: open → acknowledged → investigating → resolved →
/// followed_up (the callback) → closed, and a resolved or followed-up case may be
/// reopened into investigating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Open,
    Acknowledged,
    Investigating,
    Resolved,
    FollowedUp,
    Closed,
}

impl CaseState {
    pub const ALL: [CaseState; 6] = [
        CaseState::Open,
        CaseState::Acknowledged,
        CaseState::Investigating,
        CaseState::Resolved,
        CaseState::FollowedUp,
        CaseState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Open => "open",
            CaseState::Acknowledged => "acknowledged",
            CaseState::Investigating => "investigating",
            CaseState::Resolved => "resolved",
            CaseState::FollowedUp => "followed_up",
            CaseState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Result<CaseState, CaseError> {
        CaseState::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CaseError::UnknownState(s.to_owned()))
    }

    /// The states a case may move to from this one.
    pub fn next(self) -> &'static [CaseState] {
        use CaseState::*;
        match self {
            Open => &[Acknowledged],
            Acknowledged => &[Investigating],
            Investigating => &[Resolved],
            Resolved => &[FollowedUp, Investigating],
            FollowedUp => &[Closed, Investigating],
            Closed => &[],
        }
    }

    /// Checks a move; the error names the states allowed instead.
    pub fn check(self, to: CaseState) -> Result<(), CaseError> {
        if self.next().contains(&to) {
            Ok(())
        } else {
            Err(CaseError::IllegalTransition {
                from: self,
                to,
                allowed: self.next().to_vec(),
            })
        }
    }

    /// The deadline running in this state, if any.
    pub fn stage(self) -> Option<Stage> {
        match self {
            CaseState::Open => Some(Stage::Acknowledge),
            CaseState::Acknowledged | CaseState::Investigating => Some(Stage::Resolve),
            CaseState::Resolved => Some(Stage::Callback),
            CaseState::FollowedUp | CaseState::Closed => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("unknown case state `{0}`")]
    UnknownState(String),
    #[error("a case cannot go from {} to {}; allowed: {}", from.as_str(), to.as_str(), names(allowed))]
    IllegalTransition {
        from: CaseState,
        to: CaseState,
        allowed: Vec<CaseState>,
    },
}

fn names(states: &[CaseState]) -> String {
    if states.is_empty() {
        return "none (the case is closed)".into();
    }
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A service-level stage, each with its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// From opening to acknowledged.
    Acknowledge,
    /// From opening to resolved.
    Resolve,
    /// From resolution to the callback.
    Callback,
}

/// An allowance: a duration, or working days (Monday to Friday, less holidays, at the
/// same local time of day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Allowance {
    Minutes(i64),
    WorkingDays(u32),
}

/// The deadlines of a journey's `dispute` standards: `acknowledge_within`,
/// `resolve_within`, `callback_within`, each in minutes, days or working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaPolicy {
    pub acknowledge: Allowance,
    pub resolve: Allowance,
    pub callback: Allowance,
}

impl Default for SlaPolicy {
    /// Acknowledge within 2 hours, resolve within 2 working days, call back within 3
    /// working days of resolution.
    fn default() -> Self {
        SlaPolicy {
            acknowledge: Allowance::Minutes(120),
            resolve: Allowance::WorkingDays(2),
            callback: Allowance::WorkingDays(3),
        }
    }
}

impl SlaPolicy {
    /// The journey's standards where it sets them, the defaults elsewhere.
    pub fn from_journey(journey: &Journey) -> SlaPolicy {
        let allowance = |key: &str| {
            let t = journey.threshold(key)?;
            match t.unit {
                Unit::Seconds => Some(Allowance::Minutes((t.value / 60.0).round() as i64)),
                Unit::Minutes => Some(Allowance::Minutes(t.value.round() as i64)),
                Unit::Days => Some(Allowance::Minutes((t.value * 1440.0).round() as i64)),
                Unit::WorkingDays => Some(Allowance::WorkingDays(t.value.round().max(0.0) as u32)),
                _ => None,
            }
        };
        let d = SlaPolicy::default();
        SlaPolicy {
            acknowledge: allowance("acknowledge_within").unwrap_or(d.acknowledge),
            resolve: allowance("resolve_within").unwrap_or(d.resolve),
            callback: allowance("callback_within").unwrap_or(d.callback),
        }
    }

    pub fn allowance(&self, stage: Stage) -> Allowance {
        match stage {
            Stage::Acknowledge => self.acknowledge,
            Stage::Resolve => self.resolve,
            Stage::Callback => self.callback,
        }
    }

    /// When `stage`, started at `since` (the hall's local time), is due.
    pub fn deadline(
        &self,
        stage: Stage,
        since: DateTime<FixedOffset>,
        holidays: &BTreeSet<NaiveDate>,
    ) -> DateTime<FixedOffset> {
        match self.allowance(stage) {
            Allowance::Minutes(m) => since + Duration::minutes(m),
            Allowance::WorkingDays(n) => add_working_days(since, n, holidays),
        }
    }
}

/// What opens a case in a hall and the deadlines it then runs on, read from the hall's
/// journey.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRules {
    pub sla: SlaPolicy,
    /// See [`low_rating_of`].
    pub low_rating: f64,
    /// The journey's moments: what a case may be about (any key when empty, a hall on
    /// no stored journey).
    pub moments: Vec<MomentKey>,
    /// The moment each device source is about.
    pub unresolved_moment: MomentKey,
    pub rating_moment: MomentKey,
    pub complaint_moment: MomentKey,
}

fn key(s: &str) -> MomentKey {
    MomentKey::parse(s).expect("a built-in moment key")
}

impl Default for CaseRules {
    fn default() -> Self {
        CaseRules {
            sla: SlaPolicy::default(),
            low_rating: 2.0,
            moments: Vec::new(),
            unresolved_moment: key("result"),
            rating_moment: key("result"),
            complaint_moment: key("dispute"),
        }
    }
}

impl CaseRules {
    pub fn from_journey(journey: &Journey) -> CaseRules {
        let moments: Vec<MomentKey> = journey.moments().iter().map(|m| m.key.clone()).collect();
        // The first of the preferred moments the journey has, else its last (the end).
        let pick = |preferred: &[&str]| -> Option<MomentKey> {
            let found: Option<&MomentKey> = preferred
                .iter()
                .find_map(|p| moments.iter().find(|m| m.as_str() == *p));
            found.or(moments.last()).cloned()
        };
        // A rating is about the moment that holds the low-rating standard, else the
        // `evaluate` moment, else the result of the service.
        let rating_at = journey
            .standards()
            .find(|(_, s)| s.key.as_str() == "low_rating")
            .map(|(m, _)| m.key.clone());
        let d = CaseRules::default();
        CaseRules {
            sla: SlaPolicy::from_journey(journey),
            low_rating: low_rating_of(journey),
            unresolved_moment: pick(&["result"]).unwrap_or(d.unresolved_moment),
            rating_moment: rating_at
                .or_else(|| pick(&["evaluate", "result"]))
                .unwrap_or(d.rating_moment),
            complaint_moment: pick(&["dispute"]).unwrap_or(d.complaint_moment),
            moments,
        }
    }

    /// Whether a case may be about `moment` in this hall.
    pub fn knows(&self, moment: &str) -> bool {
        self.moments.is_empty() || self.moments.iter().any(|m| m.as_str() == moment)
    }

    /// The first deadlines of a case opened at `at`: acknowledge and resolve.
    pub fn deadlines(
        &self,
        at: DateTime<FixedOffset>,
        zone: Zone,
        holidays: &BTreeSet<NaiveDate>,
    ) -> (i64, i64) {
        let local = at.with_timezone(&zone.offset_at(at.timestamp_millis()));
        (
            self.sla
                .deadline(Stage::Acknowledge, local, holidays)
                .timestamp_millis(),
            self.sla
                .deadline(Stage::Resolve, local, holidays)
                .timestamp_millis(),
        )
    }
}

/// A case about to be opened: everything but its id and owner, which the store gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCase {
    pub hall: HallId,
    pub source: CaseSource,
    /// What opened it, unique per hall and source: a case opens once per cause.
    pub cause: String,
    pub ticket: Option<String>,
    pub response: Option<String>,
    pub moment: MomentKey,
    pub severity: Severity,
    pub summary: String,
    /// The customer's contact, given with consent.
    pub contact: Option<String>,
    /// The staff code of who served the customer: the first-asked owner.
    pub staff: Option<String>,
    /// The owner when known already (a user who opens a case by hand in their own
    /// hall is the first asked); else by `staff`, else the hall's manager.
    pub owner: Option<String>,
    pub opened_at: i64,
    pub acknowledge_due: i64,
    pub resolve_due: i64,
}

/// The case a device event opens in its hall, if it opens one. `ticket` is the
/// ticket's state after the event (for who served it); the cause is the ticket of the
/// day for services and ratings (a ticket rated twice opens one case), the event for
/// complaints.
pub fn case_of_event(
    rules: &crate::ops::day::Rules,
    event: &Event,
    ticket: Option<&Ticket>,
) -> Option<NewCase> {
    let c = &rules.cases;
    let (source, cause, ticket_name, moment, severity, summary, staff) = match &event.kind {
        EventKind::Complaint {
            ticket: t,
            counter,
            staff,
            moment,
            text,
        } => {
            let moment = moment
                .as_deref()
                .map(str::trim)
                .filter(|m| c.knows(m))
                .and_then(|m| MomentKey::parse(m).ok())
                .unwrap_or_else(|| c.complaint_moment.clone());
            (
                CaseSource::Complaint,
                format!("event:{}", event.id),
                t.clone(),
                moment,
                Severity::High,
                format!("{} (counter {counter})", text.trim()),
                staff.clone(),
            )
        }
        kind => {
            let source = opened_by(kind, c.low_rating)?;
            let t = kind.ticket()?;
            let staff = match kind {
                EventKind::ServiceEnded { staff, .. } | EventKind::Rated { staff, .. } => {
                    staff.clone()
                }
                _ => None,
            }
            .or_else(|| ticket.and_then(|tk| tk.staff.clone()));
            let (moment, severity, summary) = match kind {
                EventKind::Rated { score, scale, .. } => (
                    c.rating_moment.clone(),
                    if score / scale * 5.0 <= 1.0 {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    format!("rated {score} of {scale} (ticket {t})"),
                ),
                EventKind::ServiceEnded {
                    outcome, counter, ..
                } => (
                    c.unresolved_moment.clone(),
                    Severity::Medium,
                    format!(
                        "service ended {} at counter {counter} (ticket {t})",
                        if *outcome == Outcome::Referred {
                            "referred"
                        } else {
                            "unresolved"
                        }
                    ),
                ),
                _ => return None,
            };
            (
                source,
                // Ticket names start over each day, in the hall's zone.
                format!(
                    "ticket:{}:{t}",
                    event
                        .at
                        .with_timezone(&rules.zone.offset_at(event.at_ms()))
                        .date_naive()
                ),
                Some(t.to_owned()),
                moment,
                severity,
                summary,
                staff,
            )
        }
    };
    let (acknowledge_due, resolve_due) = c.deadlines(event.at, rules.zone, &rules.holidays);
    Some(NewCase {
        hall: event.hall.clone(),
        source,
        cause,
        ticket: ticket_name,
        response: None,
        moment,
        severity,
        summary,
        contact: None,
        staff,
        owner: None,
        opened_at: event.at_ms(),
        acknowledge_due,
        resolve_due,
    })
}

/// Below this on the 0–10 recommend question a respondent is a detractor.
pub const DETRACTOR_MAX: f64 = 6.0;
/// A moment rated at or below this (of 10) is a bad experience.
pub const LOW_MOMENT_MAX: f64 = 4.0;

/// The case a survey answer opens: a detractor (recommend ≤ 6) or a moment rated ≤ 4
/// of 10, when the respondent left a contact with consent. It is about the
/// lowest-rated moment (the first of equals), else the journey's end. `moments` are
/// the journey's moments in the order of the answer's ratings; `opened_at` is when
/// the answer came in.
pub fn case_of_response(
    rules: &CaseRules,
    moments: &[MomentKey],
    response: &Response,
    opened_at: DateTime<FixedOffset>,
    zone: Zone,
    holidays: &BTreeSet<NaiveDate>,
) -> Option<NewCase> {
    let contact = response.contact.as_ref()?.trim();
    if contact.is_empty() {
        return None;
    }
    let detractor = response.nps.is_some_and(|n| n <= DETRACTOR_MAX);
    let lowest = response
        .ratings
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.satisfaction?)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let low_moment = lowest.filter(|(_, s)| *s <= LOW_MOMENT_MAX);
    if !detractor && low_moment.is_none() {
        return None;
    }
    let moment = lowest
        .and_then(|(i, _)| moments.get(i).cloned())
        .or_else(|| moments.last().cloned())
        .unwrap_or_else(|| rules.complaint_moment.clone());
    let mut summary = Vec::new();
    if let Some(n) = response.nps.filter(|n| *n <= DETRACTOR_MAX) {
        summary.push(format!("would recommend {n} of 10"));
    }
    if let Some((_, s)) = low_moment {
        summary.push(format!("rated {moment} {s} of 10"));
    }
    let severity =
        if response.nps.is_some_and(|n| n <= 3.0) || low_moment.is_some_and(|l| l.1 <= 2.0) {
            Severity::High
        } else {
            Severity::Medium
        };
    let (acknowledge_due, resolve_due) = rules.deadlines(opened_at, zone, holidays);
    Some(NewCase {
        hall: response.hall.clone(),
        source: CaseSource::Survey,
        cause: format!("response:{}", response.respondent),
        ticket: None,
        response: Some(response.respondent.clone()),
        moment,
        severity,
        summary: format!("survey {}: {}", response.respondent, summary.join("; ")),
        contact: Some(contact.to_owned()),
        staff: None,
        owner: None,
        opened_at: opened_at.timestamp_millis(),
        acknowledge_due,
        resolve_due,
    })
}

/// The median of values given as (value, count) in ascending value order: what a
/// database's `GROUP BY` of durations returns, so a median over a million cases
/// needs only the distinct minutes.
pub fn median_of_counts(counts: &[(i64, i64)]) -> Option<f64> {
    let n: i64 = counts.iter().map(|(_, c)| c.max(&0)).sum();
    if n == 0 {
        return None;
    }
    // The values at ranks ⌊(n-1)/2⌋ and ⌊n/2⌋ (0-based), averaged.
    let at = |rank: i64| {
        let mut seen = 0;
        for (v, c) in counts {
            seen += c.max(&0);
            if seen > rank {
                return *v as f64;
            }
        }
        counts.last().map_or(0.0, |(v, _)| *v as f64)
    };
    Some((at((n - 1) / 2) + at(n / 2)) / 2.0)
}

/// The net promoter score of 0–10 answers given as counts per score: % promoters (9–10)
/// less % detractors (0–6).
pub fn nps_of_counts(counts: &[(i64, i64)]) -> Option<f64> {
    let n: i64 = counts.iter().map(|(_, c)| *c).sum();
    if n == 0 {
        return None;
    }
    let promoters: i64 = counts.iter().filter(|(s, _)| *s >= 9).map(|(_, c)| c).sum();
    let detractors: i64 = counts.iter().filter(|(s, _)| *s <= 6).map(|(_, c)| c).sum();
    Some(100.0 * (promoters - detractors) as f64 / n as f64)
}

/// A case's number, the one in its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CaseId(pub i64);

impl CaseId {
    /// Parses a case number from a path or a command line.
    pub fn parse(s: &str) -> Option<CaseId> {
        s.trim().parse::<i64>().ok().filter(|n| *n > 0).map(CaseId)
    }
}

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A stored case. Times are ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub id: CaseId,
    pub hall: HallId,
    pub source: CaseSource,
    pub ticket: Option<String>,
    pub response: Option<String>,
    pub moment: MomentKey,
    pub severity: Severity,
    pub summary: String,
    /// The customer's contact, whole (callers mask it for roles below hall manager);
    /// `None` once erased.
    pub contact: Option<String>,
    pub state: CaseState,
    /// Sent back with every change: a change made on an older version is refused.
    pub version: i64,
    pub owner: Option<String>,
    /// The org node whose inbox the case is in: its hall, or where it escalated to.
    pub level: OrgNodeId,
    pub escalations: i64,
    pub opened_at: i64,
    pub acknowledge_due: i64,
    pub resolve_due: i64,
    pub callback_due: Option<i64>,
    /// When the running stage escalates next, if a clock runs.
    pub due_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub followed_up_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reopened: i64,
    pub root_cause: Option<String>,
    pub good_faith: Option<bool>,
    /// Recovery satisfaction 1–5, from the callback.
    pub recovery: Option<i64>,
    /// Likelihood to recommend 0–10, from the customer's callback page.
    pub recommend: Option<i64>,
    /// The one-time callback link's token while the callback is due.
    #[serde(skip)]
    pub callback_token: Option<String>,
    pub contact_erased_at: Option<i64>,
}

/// One line of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEntry {
    pub at: i64,
    /// A user name, `system` (opening, the sweep) or `customer` (the callback page).
    pub actor: String,
    /// `opened`, `transition`, `assigned`, `escalated`, `callback`, `contact_erased`.
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub note: Option<String>,
}

/// A move someone makes on a case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseChange {
    /// To another state, with a note; in `investigating` the owner may record the
    /// cause and good or bad faith (a case is resolved only with a cause).
    Transition {
        to: CaseState,
        note: Option<String>,
        root_cause: Option<String>,
        good_faith: Option<bool>,
    },
    /// To another owner (a user of the hall or above in its line).
    Assign { to: UserName, note: Option<String> },
    /// The callback: recovery satisfaction 1–5 and a note; follows the case up.
    Callback {
        recovery: i64,
        recommend: Option<i64>,
        note: Option<String>,
    },
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseConflict {
    #[error(transparent)]
    Move(#[from] CaseError),
    #[error(
        "the case changed since version {sent} (it is at version {now}, {}): reload it and try again",
        state.as_str()
    )]
    Stale {
        sent: i64,
        now: i64,
        state: CaseState,
        allowed: Vec<CaseState>,
    },
    #[error("{0}")]
    Refused(String),
}

impl CaseConflict {
    /// The states the case may move to now.
    pub fn allowed(&self) -> Vec<CaseState> {
        match self {
            CaseConflict::Move(CaseError::IllegalTransition { allowed, .. }) => allowed.clone(),
            CaseConflict::Stale { allowed, .. } => allowed.clone(),
            _ => Vec::new(),
        }
    }
}

/// What a change did, for the timeline and the webhooks.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub entry: CaseEntry,
    /// The webhook event it announces, if any.
    pub event: Option<&'static str>,
}

/// The longest note, cause or summary a person may write on a case.
pub const MAX_NOTE: usize = 2000;

fn note_of(note: &Option<String>) -> Result<Option<String>, CaseConflict> {
    let note = note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(CaseConflict::Refused(
            "note: longer than 2,000 characters".into(),
        ));
    }
    Ok(note.map(str::to_owned))
}

impl Case {
    /// The states this case may move to now.
    pub fn allowed(&self) -> Vec<CaseState> {
        self.state.next().to_vec()
    }

    /// Applies a change made at `at` by `actor` on the hall's `rules` (its SLAs,
    /// calendar and zone). `token` is the one-time callback link's token, taken on
    /// resolution. The version is checked by the caller against the stored one.
    pub fn apply(
        &mut self,
        change: &CaseChange,
        rules: &crate::ops::day::Rules,
        actor: &str,
        at: i64,
        token: &str,
    ) -> Result<Applied, CaseConflict> {
        let local = |ms: i64| {
            crate::time::instant_from_millis(ms)
                .map(|t| t.with_timezone(&rules.zone.offset_at(ms)))
                .ok_or_else(|| CaseConflict::Refused("time out of range".into()))
        };
        let sla = &rules.cases.sla;
        let entry = |kind: &str,
                     from: Option<CaseState>,
                     to: Option<CaseState>,
                     note: Option<String>| CaseEntry {
            at,
            actor: actor.to_owned(),
            kind: kind.to_owned(),
            from: from.map(|s| s.as_str().to_owned()),
            to: to.map(|s| s.as_str().to_owned()),
            note,
        };
        match change {
            CaseChange::Transition {
                to,
                note,
                root_cause,
                good_faith,
            } => {
                let from = self.state;
                from.check(*to)?;
                let note = note_of(note)?;
                let cause = note_of(root_cause)?;
                if (root_cause.is_some() || good_faith.is_some())
                    && from != CaseState::Investigating
                {
                    return Err(CaseConflict::Refused(
                        "the cause and good faith are recorded while investigating".into(),
                    ));
                }
                if cause.is_some() {
                    self.root_cause = cause;
                }
                if good_faith.is_some() {
                    self.good_faith = *good_faith;
                }
                let mut event = None;
                match to {
                    CaseState::Acknowledged => {
                        self.acknowledged_at.get_or_insert(at);
                        self.due_at = Some(self.resolve_due);
                        event = Some("case.acknowledged");
                    }
                    CaseState::Investigating if from == CaseState::Acknowledged => {}
                    CaseState::Investigating => {
                        // Reopened: resolving runs again from now; no callback is due.
                        self.reopened += 1;
                        self.callback_due = None;
                        self.callback_token = None;
                        self.resolved_at = None;
                        self.followed_up_at = None;
                        self.resolve_due = sla
                            .deadline(Stage::Resolve, local(at)?, &rules.holidays)
                            .timestamp_millis();
                        self.due_at = Some(self.resolve_due);
                        event = Some("case.reopened");
                    }
                    CaseState::Resolved => {
                        if self.root_cause.is_none() {
                            return Err(CaseConflict::Refused(
                                "a case is resolved with its cause: send `root_cause`".into(),
                            ));
                        }
                        self.resolved_at = Some(at);
                        let due = sla
                            .deadline(Stage::Callback, local(at)?, &rules.holidays)
                            .timestamp_millis();
                        self.callback_due = Some(due);
                        self.due_at = Some(due);
                        self.callback_token = Some(token.to_owned());
                        event = Some("case.resolved");
                    }
                    CaseState::FollowedUp => {
                        self.followed_up_at = Some(at);
                        self.due_at = None;
                        self.callback_token = None;
                    }
                    CaseState::Closed => {
                        self.closed_at = Some(at);
                        self.due_at = None;
                        self.callback_token = None;
                        event = Some("case.closed");
                    }
                    CaseState::Open => {}
                }
                self.state = *to;
                let mut text = note.unwrap_or_default();
                if let Some(c) = &self.root_cause {
                    if *to == CaseState::Resolved || root_cause.is_some() {
                        text = join(&text, &format!("cause: {c}"));
                    }
                }
                if let Some(g) = good_faith {
                    text = join(&text, if *g { "good faith" } else { "bad faith" });
                }
                Ok(Applied {
                    entry: entry(
                        "transition",
                        Some(from),
                        Some(*to),
                        Some(text).filter(|t| !t.is_empty()),
                    ),
                    event,
                })
            }
            CaseChange::Assign { to, note } => {
                if self.state == CaseState::Closed {
                    return Err(CaseConflict::Refused(
                        "a closed case keeps its owner".into(),
                    ));
                }
                let note = note_of(note)?;
                let from = self.owner.replace(to.as_str().to_owned());
                let text = format!("{} → {}", from.as_deref().unwrap_or("(none)"), to.as_str());
                Ok(Applied {
                    entry: entry(
                        "assigned",
                        None,
                        None,
                        Some(join(&text, note.as_deref().unwrap_or(""))),
                    ),
                    event: None,
                })
            }
            CaseChange::Callback {
                recovery,
                recommend,
                note,
            } => {
                if !(1..=5).contains(recovery) {
                    return Err(CaseConflict::Refused(format!(
                        "recovery: {recovery} is outside 1–5"
                    )));
                }
                if recommend.is_some_and(|r| !(0..=10).contains(&r)) {
                    return Err(CaseConflict::Refused("recommend: outside 0–10".into()));
                }
                let from = self.state;
                from.check(CaseState::FollowedUp)?;
                let note = note_of(note)?;
                self.recovery = Some(*recovery);
                if recommend.is_some() {
                    self.recommend = *recommend;
                }
                self.followed_up_at = Some(at);
                self.due_at = None;
                self.callback_token = None;
                self.state = CaseState::FollowedUp;
                let text = join(
                    &format!("recovery {recovery}/5"),
                    note.as_deref().unwrap_or(""),
                );
                Ok(Applied {
                    entry: entry(
                        "callback",
                        Some(from),
                        Some(CaseState::FollowedUp),
                        Some(text),
                    ),
                    event: None,
                })
            }
        }
    }

    /// The stage whose deadline is running, and the level it escalates to when it
    /// passes: one level up from where the case is now (`None` at the top).
    /// Escalating gives the next level the stage's allowance again, from the deadline
    /// that passed.
    pub fn escalate(
        &mut self,
        tree: &OrgTree,
        rules: &crate::ops::day::Rules,
        at: i64,
    ) -> Option<(Stage, OrgNodeId, Option<OrgNodeId>, i64)> {
        let due = self.due_at.filter(|d| *d <= at)?;
        let stage = self.state.stage()?;
        let from = self.level.clone();
        let to = escalate_from(tree, &from).cloned();
        let next = crate::time::instant_from_millis(due)
            .map(|t| t.with_timezone(&rules.zone.offset_at(due)))
            .map(|t| {
                rules
                    .cases
                    .sla
                    .deadline(stage, t, &rules.holidays)
                    .timestamp_millis()
            });
        match &to {
            Some(level) => {
                self.level = level.clone();
                self.escalations += 1;
                self.due_at = next.filter(|n| *n > due);
            }
            // Nothing above: the breach stays on record, no clock runs on.
            None => self.due_at = None,
        }
        Some((stage, from, to, due))
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}; {b}"),
    }
}

/// What a user may do with a case in their scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaseAccess {
    /// Nothing, not even that it exists.
    None,
    /// Move it along and record its callback (its owner, or anyone above frontline).
    Act,
    /// Act, and give it to another owner (hall manager and above).
    Manage,
}

/// A frontline user works their own cases; a hall manager and above, every case of
/// the halls in their scope. `in_scope`: the user's node covers the case's hall.
pub fn access(role: crate::Role, user: &str, in_scope: bool, owner: Option<&str>) -> CaseAccess {
    if !in_scope {
        return CaseAccess::None;
    }
    match role {
        crate::Role::Frontline if owner == Some(user) => CaseAccess::Act,
        crate::Role::Frontline | crate::Role::Auditor => CaseAccess::None,
        _ => CaseAccess::Manage,
    }
}

/// A customer's contact as `role` sees it: whole from hall manager up on screen, whole
/// in an export for admins only, masked otherwise.
pub fn contact_for(role: crate::Role, contact: &str, export: bool) -> String {
    let whole = if export {
        role == crate::Role::Admin
    } else {
        role >= crate::Role::HallManager
    };
    if whole {
        contact.to_owned()
    } else {
        mask_contact(contact)
    }
}

/// The rating at or below which a case opens, on a 5-point scale: the journey's
/// `low_rating` standard (in points of 5), else 2.
pub fn low_rating_of(journey: &Journey) -> f64 {
    journey
        .threshold("low_rating")
        .filter(|t| t.unit == Unit::Count)
        .map_or(2.0, |t| t.value)
}

/// The case a device event opens, if it opens one: a service that ended unresolved or
/// referred, a rating at or below `low_rating` (of 5, whatever the device's scale).
pub fn opened_by(kind: &EventKind, low_rating: f64) -> Option<CaseSource> {
    match kind {
        EventKind::ServiceEnded {
            outcome: Outcome::Unresolved | Outcome::Referred,
            ..
        } => Some(CaseSource::Unresolved),
        EventKind::Rated { score, scale, .. }
            if *scale > 0.0 && score / scale * 5.0 <= low_rating =>
        {
            Some(CaseSource::LowRating)
        }
        _ => None,
    }
}

/// Where a case escalates from `level` (the node whose inbox it is in): one level up
/// the tree; `None` at the top.
pub fn escalate_from<'t>(tree: &'t OrgTree, level: &OrgNodeId) -> Option<&'t OrgNodeId> {
    tree.get(level)?.parent.as_ref()
}

/// A customer contact as shown to those below a hall manager: a phone number keeps
/// its first three and last four digits (138****5678); anything else its first and
/// last character.
pub fn mask_contact(contact: &str) -> String {
    let chars: Vec<char> = contact.trim().chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if digits >= 7 && digits == chars.len() {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        return format!("{head}****{tail}");
    }
    match chars.len() {
        0 => String::new(),
        1 | 2 => "*".repeat(chars.len()),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn a_case_moves_only_along_the_loop_and_names_the_moves_it_allows() {
        use CaseState::*;
        let path = [
            Open,
            Acknowledged,
            Investigating,
            Resolved,
            FollowedUp,
            Closed,
        ];
        for w in path.windows(2) {
            assert_eq!(w[0].check(w[1]), Ok(()), "{w:?}");
        }
        // Reopening a resolved or followed-up case.
        assert_eq!(Resolved.check(Investigating), Ok(()));
        assert_eq!(FollowedUp.check(Investigating), Ok(()));
        // Skipping a step, going back from open, moving a closed case.
        let err = Open.check(Resolved).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a case cannot go from open to resolved; allowed: acknowledged"
        );
        assert!(Acknowledged.check(Open).is_err());
        assert_eq!(
            Closed.check(Investigating).unwrap_err().to_string(),
            "a case cannot go from closed to investigating; allowed: none (the case is closed)"
        );
        for s in CaseState::ALL {
            assert_eq!(CaseState::parse(s.as_str()), Ok(s));
            assert!(s.check(s).is_err(), "{s:?} to itself");
        }
        assert!(CaseState::parse("done").is_err());
    }

    #[test]
    fn deadlines_count_working_days_in_the_hall_s_calendar() {
        let p = SlaPolicy::default();
        let none = BTreeSet::new();
        // Opened Friday 2026-08-07 17:00 (+08:00): acknowledge by 19:00, resolve by
        // Tuesday 17:00 (two working days, the weekend skipped).
        let opened = at("2026-08-07T17:00:00+08:00");
        assert_eq!(
            p.deadline(Stage::Acknowledge, opened, &none),
            at("2026-08-07T19:00:00+08:00")
        );
        assert_eq!(
            p.deadline(Stage::Resolve, opened, &none),
            at("2026-08-11T17:00:00+08:00")
        );
        // With Monday a holiday: Wednesday.
        let holiday: BTreeSet<NaiveDate> = [NaiveDate::from_ymd_opt(2026, 8, 10).unwrap()].into();
        assert_eq!(
            p.deadline(Stage::Resolve, opened, &holiday),
            at("2026-08-12T17:00:00+08:00")
        );
        // Callback: three working days from resolution on Tuesday.
        assert_eq!(
            p.deadline(Stage::Callback, at("2026-08-11T10:00:00+08:00"), &none),
            at("2026-08-14T10:00:00+08:00")
        );
        // Each state runs its stage's clock.
        assert_eq!(CaseState::Open.stage(), Some(Stage::Acknowledge));
        assert_eq!(CaseState::Investigating.stage(), Some(Stage::Resolve));
        assert_eq!(CaseState::Resolved.stage(), Some(Stage::Callback));
        assert_eq!(CaseState::Closed.stage(), None);
    }

    #[test]
    fn the_journey_s_dispute_standards_set_the_deadlines() {
        let mut doc: serde_json::Value = serde_json::from_str(
            &crate::builtin::journeys()
                .unwrap()
                .remove(0)
                .to_json_pretty(),
        )
        .unwrap();
        let moments = doc["moments"].as_array_mut().unwrap();
        let dispute = moments.iter_mut().find(|m| m["key"] == "dispute").unwrap();
        dispute["standards"].as_array_mut().unwrap().extend([
            serde_json::json!({"key": "acknowledge_within",
                "text": {"zh": "30分钟内受理", "en": "Acknowledge within 30 minutes"},
                "owner": "hall_manager",
                "threshold": {"value": 30, "unit": "min", "bound": "max"}}),
            serde_json::json!({"key": "resolve_within",
                "text": {"zh": "1个工作日内解决", "en": "Resolve within 1 working day"},
                "owner": "hall_manager",
                "threshold": {"value": 1, "unit": "working_day", "bound": "max"}}),
        ]);
        let journey = Journey::from_json(&doc.to_string()).unwrap();
        let p = SlaPolicy::from_journey(&journey);
        assert_eq!(p.acknowledge, Allowance::Minutes(30));
        assert_eq!(p.resolve, Allowance::WorkingDays(1));
        assert_eq!(p.callback, SlaPolicy::default().callback);
    }

    #[test]
    fn unresolved_services_and_low_ratings_open_cases() {
        let kind = |json: &str| {
            crate::ops::event::Event::from_json(&format!(
                r#"{{"id":"e","hall":"h1","at":"2026-08-07T09:00:00+08:00",{json}}}"#
            ))
            .unwrap()
            .kind
        };
        let ended = |outcome| {
            kind(&format!(
                r#""type":"service_ended","ticket":"A1","counter":"c1","outcome":"{outcome}""#
            ))
        };
        let rated = |score, scale| {
            kind(&format!(
                r#""type":"rated","ticket":"A1","score":{score},"scale":{scale}"#
            ))
        };
        assert_eq!(
            opened_by(&ended("unresolved"), 2.0),
            Some(CaseSource::Unresolved)
        );
        assert_eq!(
            opened_by(&ended("referred"), 2.0),
            Some(CaseSource::Unresolved)
        );
        assert_eq!(opened_by(&ended("done"), 2.0), None);
        // 2 of 5 opens one, 3 of 5 does not; 4 of 10 is 2 of 5.
        assert_eq!(opened_by(&rated(2, 5), 2.0), Some(CaseSource::LowRating));
        assert_eq!(opened_by(&rated(3, 5), 2.0), None);
        assert_eq!(opened_by(&rated(4, 10), 2.0), Some(CaseSource::LowRating));
        assert_eq!(opened_by(&rated(5, 10), 2.0), None);
        let journey = crate::builtin::journeys().unwrap().remove(0);
        assert_eq!(low_rating_of(&journey), 2.0);
    }

    #[test]
    fn medians_and_nps_from_counts_match_their_definitions() {
        // Median of 1, 2, 2, 3, 9 is 2; of 1, 2, 3, 4 is 2.5.
        assert_eq!(
            median_of_counts(&[(1, 1), (2, 2), (3, 1), (9, 1)]),
            Some(2.0)
        );
        assert_eq!(
            median_of_counts(&[(1, 1), (2, 1), (3, 1), (4, 1)]),
            Some(2.5)
        );
        assert_eq!(median_of_counts(&[]), None);
        // Reichheld's definition: 60 promoters (9-10), 25 passives (7-8), 15 detractors
        // (0-6) of 100 is an NPS of 45.
        assert_eq!(
            nps_of_counts(&[(10, 30), (9, 30), (8, 20), (7, 5), (6, 10), (0, 5)]),
            Some(45.0)
        );
        assert_eq!(nps_of_counts(&[]), None);
    }

    #[test]
    fn a_complaint_opens_a_case_about_its_moment_else_the_dispute() {
        let rules = crate::ops::day::Rules::from_journey(&crate::builtin::journeys().unwrap()[0]);
        let event = |moment: &str| {
            Event::from_json(&format!(
                r#"{{"id":"e9","hall":"h1","at":"2026-08-07T09:00:00+08:00","type":"complaint","counter":"c2","staff":"S1"{moment},"text":"多收费"}}"#
            ))
            .unwrap()
        };
        let c = case_of_event(&rules, &event(r#","moment":"queue""#), None).unwrap();
        assert_eq!(
            (c.source, c.moment.as_str(), c.severity),
            (CaseSource::Complaint, "queue", Severity::High)
        );
        assert_eq!(
            (c.cause.as_str(), c.staff.as_deref()),
            ("event:e9", Some("S1"))
        );
        // A moment the hall's journey lacks: the dispute moment.
        let c = case_of_event(&rules, &event(r#","moment":"teleport""#), None).unwrap();
        assert_eq!(c.moment.as_str(), "dispute");
        let c = case_of_event(&rules, &event(""), None).unwrap();
        assert_eq!(c.moment.as_str(), "dispute");
        // Bad complaints are refused naming the field.
        for (json, field) in [
            (r#""counter":"","text":"x""#, "counter"),
            (r#""counter":"c1","text":" ""#, "text"),
            (r#""counter":"c1","text":"x","moment":"Queue""#, "moment"),
        ] {
            let err = Event::from_json(&format!(
                r#"{{"id":"e","hall":"h1","at":"2026-08-07T09:00:00+08:00","type":"complaint",{json}}}"#
            ))
            .unwrap_err();
            assert!(err.contains(&format!("field `{field}`")), "{err}");
        }
    }

    #[test]
    fn contacts_are_masked_below_the_hall_manager() {
        assert_eq!(mask_contact("13812345678"), "138****5678");
        assert_eq!(mask_contact(" 13812345678 "), "138****5678");
        assert_eq!(mask_contact("li.na@example.cn"), "l**************n");
        assert_eq!(mask_contact("王"), "*");
        assert_eq!(mask_contact(""), "");
        assert!(CaseSource::Hotline.voiced() && !CaseSource::LowRating.voiced());
        use crate::Role;
        assert_eq!(
            contact_for(Role::Frontline, "13812345678", false),
            "138****5678"
        );
        assert_eq!(
            contact_for(Role::HallManager, "13812345678", false),
            "13812345678"
        );
        assert_eq!(
            contact_for(Role::Director, "13812345678", true),
            "138****5678"
        );
        assert_eq!(contact_for(Role::Admin, "13812345678", true), "13812345678");
        // A frontline user reaches only their own cases; others all in scope; nobody
        // outside it.
        assert_eq!(
            access(Role::Frontline, "li", true, Some("li")),
            CaseAccess::Act
        );
        assert_eq!(
            access(Role::Frontline, "li", true, Some("wang")),
            CaseAccess::None
        );
        assert_eq!(
            access(Role::HallManager, "m", true, None),
            CaseAccess::Manage
        );
        assert_eq!(access(Role::Admin, "a", false, None), CaseAccess::None);
    }
}
