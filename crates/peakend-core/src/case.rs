//! Service cases, the closed loop (issue 20): the pure rules a case follows. Its states
//! and the moves between them, the service-level deadlines the journey's `dispute`
//! standards set (in the hall's working days), the level a late case escalates to, and
//! how a customer's contact is shown to those who may not see it whole. Storage, the
//! sweep and the pages are adapters around these.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::journey::{Journey, Unit};
use crate::ops::event::{EventKind, Outcome};
use crate::ops::holiday::add_working_days;
use crate::{OrgNodeId, OrgTree};

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
    /// Voiced by the customer (against the silent signals of a bad visit): what "for
    /// each voiced complaint, N silent" counts on the voiced side.
    pub fn voiced(self) -> bool {
        matches!(
            self,
            CaseSource::Complaint | CaseSource::Manual | CaseSource::Hotline
        )
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
    fn contacts_are_masked_below_the_hall_manager() {
        assert_eq!(mask_contact("13812345678"), "138****5678");
        assert_eq!(mask_contact(" 13812345678 "), "138****5678");
        assert_eq!(mask_contact("li.na@example.cn"), "l**************n");
        assert_eq!(mask_contact("王"), "*");
        assert_eq!(mask_contact(""), "");
        assert!(CaseSource::Hotline.voiced() && !CaseSource::LowRating.voiced());
    }
}
