//! The checklist of one kind of audit (issue 21): for a self-check, a manager's walk, a
//! mystery visit, an inspection or the monitoring of a recorded call (issue 22), the standards of a journey that kind of checker
//! checks by hand, by moment in journey order, each with its limit, how often, whether
//! the device events also check it, and how to record the result. Pure: the printable
//! page, the CSV, the CLI and the phone's audit page are all drawn from it.

use serde::Serialize;

use crate::audit::{AutoCheck, CheckMethod, Checker, Frequency};
use crate::journey::{Journey, OwnerRole, Threshold};
use crate::text::Text;

/// The standards one kind of checker checks, moment by moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checklist {
    pub journey: String,
    pub journey_name: Text,
    pub kind: Checker,
    /// In journey order; moments with nothing to check are left out.
    pub moments: Vec<ChecklistMoment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistMoment {
    pub key: String,
    pub name: Text,
    pub items: Vec<ChecklistItem>,
}

/// One standard to check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistItem {
    pub standard: String,
    pub text: Text,
    pub owner: OwnerRole,
    pub threshold: Option<Threshold>,
    /// The method and its limit (`yes_no`, `count_max 3`, `duration_max 15`,
    /// `share_min 1`).
    pub verify: CheckMethod,
    pub every: Frequency,
    /// The automatic check from the device events that also covers this standard.
    pub auto: Option<AutoCheck>,
    /// How to record the result, e.g. 记录数量（不超过 3 个）.
    pub how: Text,
}

impl Checklist {
    /// Every item, in order, with its moment.
    pub fn items(&self) -> impl Iterator<Item = (&ChecklistMoment, &ChecklistItem)> {
        self.moments
            .iter()
            .flat_map(|m| m.items.iter().map(move |i| (m, i)))
    }

    pub fn len(&self) -> usize {
        self.moments.iter().map(|m| m.items.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.moments.is_empty()
    }
}

/// The checklist of `kind` for `journey`: the standards whose check names `kind` among
/// those who make it.
pub fn checklist(journey: &Journey, kind: Checker) -> Checklist {
    let moments = journey
        .moments()
        .iter()
        .filter_map(|m| {
            let items: Vec<ChecklistItem> = m
                .standards
                .iter()
                .filter_map(|s| {
                    let check = s.check.as_ref().filter(|c| c.by.contains(&kind))?;
                    Some(ChecklistItem {
                        standard: s.key.to_string(),
                        text: s.text.clone(),
                        owner: s.owner,
                        threshold: s.threshold.clone(),
                        verify: check.verify,
                        every: check.every,
                        auto: check.auto,
                        how: how_to_record(&check.verify),
                    })
                })
                .collect();
            (!items.is_empty()).then(|| ChecklistMoment {
                key: m.key.to_string(),
                name: m.name.clone(),
                items,
            })
        })
        .collect();
    Checklist {
        journey: journey.key().to_string(),
        journey_name: journey.name().clone(),
        kind,
        moments,
    }
}

/// A number as a person writes it: `3`, `2.5`, `95` (at most 4 decimals, no `.0`).
pub fn plain_number(x: f64) -> String {
    let r = (x * 10_000.0).round() / 10_000.0;
    // `-0` prints as "-0".
    if r == 0.0 { "0".into() } else { r.to_string() }
}

/// How to record a result of `method`, in Chinese and English.
pub fn how_to_record(method: &CheckMethod) -> Text {
    let (zh, en) = match method {
        CheckMethod::YesNo => ("是/否".to_owned(), "Yes / no".to_owned()),
        CheckMethod::CountMax { max } => {
            let n = plain_number(*max);
            (
                format!("记录数量（不超过 {n} 个）"),
                format!("Record the count (at most {n})"),
            )
        }
        CheckMethod::DurationMax { max } => {
            let s = plain_number(*max);
            (
                format!("记录秒数（不超过 {s} 秒）"),
                format!("Record the seconds (at most {s} s)"),
            )
        }
        CheckMethod::ShareMin { min } => {
            let p = plain_number(min * 100.0);
            (
                format!("记录比例（不低于 {p}%）"),
                format!("Record the share (at least {p}%)"),
            )
        }
    };
    Text { zh, en }
}

/// What a checker is called, (Chinese, English); the Chinese as the handbook says it.
pub fn checker_name(kind: Checker) -> (&'static str, &'static str) {
    match kind {
        Checker::SelfCheck => ("营业厅自查", "Self-check"),
        Checker::Walk => ("厅经理走动巡查", "Manager's walk"),
        Checker::Mystery => ("神秘顾客", "Mystery shopper"),
        Checker::Inspection => ("上级检查", "Inspection"),
        Checker::Monitoring => ("服务监听", "Call monitoring"),
    }
}

/// What an automatic check counts, (Chinese, English).
pub fn auto_name(auto: AutoCheck) -> (&'static str, &'static str) {
    match auto {
        AutoCheck::ClosedCountersAtPeak => ("高峰期座席关闭", "Counters closed at peak"),
        AutoCheck::SystemTime => ("单笔业务系统时长", "System time per transaction"),
        AutoCheck::CareInTime => ("关怀提醒及时响应", "Care alerts answered in time"),
        AutoCheck::PremiumCare => ("贵宾客户关怀", "Premium customers cared for"),
        AutoCheck::KioskDailyCheck => ("自助终端每日检查", "Kiosks checked daily"),
        AutoCheck::KioskRepair => ("自助终端按时修复", "Kiosks repaired in time"),
        AutoCheck::WaitAsAnnounced => ("按预告时长叫号", "Called within the announced wait"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn service_hall() -> Journey {
        crate::builtin::journeys()
            .unwrap()
            .into_iter()
            .find(|j| j.key().as_str() == crate::builtin::SERVICE_HALL)
            .unwrap()
    }

    #[test]
    fn the_walk_checklist_of_the_built_in_journey() {
        let j = service_hall();
        let walk = checklist(&j, Checker::Walk);
        assert_eq!(walk.kind, Checker::Walk);
        assert_eq!(walk.journey, "service-hall");
        let keys: Vec<&str> = walk.items().map(|(_, i)| i.standard.as_str()).collect();
        for k in ["care_after", "system_time", "no_closed_counters_peak"] {
            assert!(keys.contains(&k), "walk lacks {k}: {keys:?}");
        }
        // Journey order, and no empty moment.
        let order: Vec<&str> = j.moments().iter().map(|m| m.key.as_str()).collect();
        let positions: Vec<usize> = walk
            .moments
            .iter()
            .map(|m| order.iter().position(|k| *k == m.key).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(walk.moments.iter().all(|m| !m.items.is_empty()));
        assert_eq!(walk.len(), keys.len());
        let (_, care) = walk
            .items()
            .find(|(_, i)| i.standard == "care_after")
            .unwrap();
        assert_eq!(care.how.zh, "记录秒数（不超过 300 秒）");
        assert_eq!(care.auto, Some(AutoCheck::CareInTime));
        assert_eq!(care.owner, OwnerRole::FloorWalker);
        // `online_map` is checked by inspection only.
        assert!(!keys.contains(&"online_map"));
        let json = serde_json::to_value(&walk).unwrap();
        assert_eq!(json["kind"], "walk");
    }

    #[test]
    fn the_four_kinds_together_cover_every_standard_checked_by_hand() {
        let j = service_hall();
        let by_hand: BTreeSet<String> = j
            .standards()
            .filter(|(_, s)| s.check.as_ref().is_some_and(|c| !c.by.is_empty()))
            .map(|(_, s)| s.key.to_string())
            .collect();
        assert!(!by_hand.is_empty());
        let covered: BTreeSet<String> = Checker::ALL
            .into_iter()
            .flat_map(|k| {
                checklist(&j, k)
                    .items()
                    .map(|(_, i)| i.standard.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(covered, by_hand);
        let mystery = checklist(&j, Checker::Mystery);
        assert!(mystery.items().any(|(_, i)| i.standard == "vip_water"));
    }

    #[test]
    fn call_monitoring_checks_what_a_recording_can_judge() {
        let hotline = crate::builtin::journeys()
            .unwrap()
            .into_iter()
            .find(|j| j.key().as_str() == crate::builtin::HOTLINE)
            .unwrap();
        assert!(hotline.has_call_moments());
        let list = checklist(&hotline, Checker::Monitoring);
        let keys: Vec<&str> = list.items().map(|(_, i)| i.standard.as_str()).collect();
        assert_eq!(
            keys,
            [
                "standard_greeting",
                "verify_once",
                "listen_and_restate",
                "hold_max",
                "transfer_max",
                "summarise_result",
                "closing_phrase"
            ]
        );
        // A centre's share of calls answered in 20 s is not judged from one call, nor
        // the after-call work, which the recording does not hold.
        assert!(!keys.contains(&"answer_within"));
        assert!(!keys.contains(&"after_call_work_max"));
        assert_eq!(checker_name(Checker::Monitoring).0, "服务监听");
        // The hall's journey has no call moments, and nothing for a monitor to score.
        let hall = service_hall();
        assert!(!hall.has_call_moments());
        assert!(checklist(&hall, Checker::Monitoring).is_empty());
    }

    #[test]
    fn each_method_says_how_to_record_it() {
        let h = |m: CheckMethod| how_to_record(&m);
        assert_eq!(h(CheckMethod::YesNo).zh, "是/否");
        assert_eq!(
            h(CheckMethod::CountMax { max: 3.0 }).zh,
            "记录数量（不超过 3 个）"
        );
        assert_eq!(
            h(CheckMethod::DurationMax { max: 15.0 }).zh,
            "记录秒数（不超过 15 秒）"
        );
        assert_eq!(
            h(CheckMethod::ShareMin { min: 1.0 }).zh,
            "记录比例（不低于 100%）"
        );
        assert_eq!(
            h(CheckMethod::ShareMin { min: 0.95 }).zh,
            "记录比例（不低于 95%）"
        );
        assert_eq!(
            h(CheckMethod::DurationMax { max: 2.5 }).en,
            "Record the seconds (at most 2.5 s)"
        );
        assert_eq!(plain_number(0.0), "0");
        assert_eq!(plain_number(-0.0), "0");
    }
}
