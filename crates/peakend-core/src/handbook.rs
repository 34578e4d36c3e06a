//! Staff handbooks and the exam question bank, generated from a journey (issue 21):
//! what one role of the hall has to know and do at each key moment, and questions on
//! the standards' numbers that trainers ask and grade. Pure: the pages and the CLI
//! render what these functions return.
//!
//! - [`handbook`]: per moment (in journey order) its name, stage, importance, whether it
//!   is a prior peak or the end, its core needs, the role's standards with their
//!   thresholds and checks in words, and the role's lanes of the service blueprint.
//! - [`questions`]: one question per standard with a threshold, the standard's own text
//!   with its number blanked out (or, when the number is not in the text, a direct
//!   question about the standard value).
//! - [`grade`]: answers checked against the bank.

use serde::{Deserialize, Serialize};

use crate::audit::{AutoCheck, CheckMethod, Checker, Frequency};
use crate::id::{JourneyKey, MomentKey, StandardKey};
use crate::journey::{Bound, CoreNeed, Journey, Lane, OwnerRole, Stage, Threshold, Unit};
use crate::text::Text;

/// Every role that can own a standard, in the order the pages offer them.
pub const OWNER_ROLES: [OwnerRole; 6] = [
    OwnerRole::Frontline,
    OwnerRole::FloorWalker,
    OwnerRole::Security,
    OwnerRole::Cleaner,
    OwnerRole::HallManager,
    OwnerRole::BackOffice,
];

/// The key of a role as journey files spell it (`floor_walker`).
pub fn owner_role_key(role: OwnerRole) -> &'static str {
    match role {
        OwnerRole::Frontline => "frontline",
        OwnerRole::FloorWalker => "floor_walker",
        OwnerRole::Security => "security",
        OwnerRole::Cleaner => "cleaner",
        OwnerRole::HallManager => "hall_manager",
        OwnerRole::BackOffice => "back_office",
    }
}

/// Reads a role by its key (`floor_walker`) or its Chinese name (`流动岗`).
pub fn parse_owner_role(s: &str) -> Result<OwnerRole, String> {
    let s = s.trim();
    OWNER_ROLES
        .into_iter()
        .find(|&r| owner_role_key(r) == s || r.name().0 == s)
        .ok_or_else(|| {
            let keys: Vec<&str> = OWNER_ROLES.iter().map(|&r| owner_role_key(r)).collect();
            format!("`{s}` is not a role of the hall ({})", keys.join(", "))
        })
}

/// The blueprint lanes a role works in: the hall's staff in front of the customer, the
/// back office behind the line of visibility, the manager in all five.
pub fn lanes_of(role: OwnerRole) -> &'static [Lane] {
    match role {
        OwnerRole::Frontline
        | OwnerRole::FloorWalker
        | OwnerRole::Security
        | OwnerRole::Cleaner => &[Lane::Frontstage],
        OwnerRole::BackOffice => &[Lane::Backstage, Lane::Support],
        OwnerRole::HallManager => &Lane::ALL,
    }
}

/// A unit in words for people: (Chinese, English), e.g. `分钟`/`min`.
pub fn unit_name(unit: Unit) -> (&'static str, &'static str) {
    match unit {
        Unit::Seconds => ("秒", "s"),
        Unit::Minutes => ("分钟", "min"),
        Unit::Days => ("天", "days"),
        Unit::WorkingDays => ("个工作日", "working days"),
        Unit::Count => ("个", ""),
        Unit::Metres => ("米", "m"),
        Unit::CharsPerMinute => ("字/分钟", "chars/min"),
        Unit::Percent => ("%", "%"),
    }
}

/// A unit key as written in a journey file (`working_day`, `chars_per_min`, …) as a
/// reader's label (个工作日 / working days); a key that is no standard unit (a QFD
/// column's own `元`, say) is shown as written.
pub fn unit_label(key: &str, en: bool) -> String {
    match serde_json::from_value::<Unit>(serde_json::Value::String(key.to_owned())) {
        Ok(u) => {
            let (zh, e) = unit_name(u);
            (if en { e } else { zh }).to_owned()
        }
        Err(_) => key.to_owned(),
    }
}

/// A unit as a question names it: (Chinese, English), e.g. `分钟`/`minutes`.
fn unit_question_name(unit: Unit) -> (&'static str, &'static str) {
    match unit {
        Unit::Seconds => ("秒", "seconds"),
        Unit::Minutes => ("分钟", "minutes"),
        Unit::Days => ("天", "days"),
        Unit::WorkingDays => ("个工作日", "working days"),
        Unit::Count => ("个", "count"),
        Unit::Metres => ("米", "metres"),
        Unit::CharsPerMinute => ("字/分钟", "characters per minute"),
        Unit::Percent => ("%", "percent"),
    }
}

/// A threshold for people: `≤ 15 分钟` / `≤ 15 min`, `≥ 100%`, `≤ 3 个` / `≤ 3`.
pub fn threshold_text(t: &Threshold) -> Text {
    let op = match t.bound {
        Bound::Max => "≤",
        Bound::Min => "≥",
    };
    let (zh, en) = unit_name(t.unit);
    let v = t.value;
    let with = |word: &str| match (t.unit, word) {
        (_, "") => format!("{op} {v}"),
        (Unit::Percent, w) => format!("{op} {v}{w}"),
        (_, w) => format!("{op} {v} {w}"),
    };
    Text {
        zh: with(zh),
        en: with(if t.unit == Unit::Days && v == 1.0 {
            "day"
        } else {
            en
        }),
    }
}

/// A role's handbook of a journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handbook {
    pub journey: JourneyKey,
    pub journey_name: Text,
    pub role: OwnerRole,
    pub role_name: Text,
    /// The blueprint lanes the role works in.
    pub lanes: Vec<Lane>,
    /// The moments the role has standards at (every moment for the hall manager), in
    /// journey order.
    pub moments: Vec<HandbookMoment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandbookMoment {
    pub key: MomentKey,
    pub name: Text,
    pub stage: Stage,
    pub stage_name: Text,
    /// Prior importance (1–10), when the journey gives one.
    pub importance: Option<f64>,
    /// A peak by prior importance ([`Journey::prior_peaks`]).
    pub peak: bool,
    /// The end of the journey ([`Journey::end`]).
    pub end: bool,
    pub core_needs: Vec<CoreNeed>,
    /// The role's standards; for the hall manager, every standard of the moment with
    /// its owner (the manager answers for the whole hall).
    pub standards: Vec<HandbookStandard>,
    /// The role's blueprint lanes of this moment that have something in them.
    pub lanes: Vec<HandbookLane>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandbookStandard {
    pub key: StandardKey,
    pub text: Text,
    pub owner: OwnerRole,
    pub owner_name: Text,
    pub threshold: Option<Threshold>,
    /// The threshold for people, e.g. `≤ 15 分钟`.
    pub threshold_text: Option<Text>,
    pub check: Option<HandbookCheck>,
}

/// How a standard is checked, in words as well as in data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandbookCheck {
    pub verify: CheckMethod,
    pub by: Vec<Checker>,
    pub every: Frequency,
    pub auto: Option<AutoCheck>,
    /// Who checks and how often, e.g. `厅经理走动巡查、神秘顾客 · 每周`.
    pub text: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandbookLane {
    pub lane: Lane,
    pub name: Text,
    pub items: Vec<Text>,
}

fn check_of(c: &crate::audit::Check) -> HandbookCheck {
    let mut zh: Vec<&str> =
        c.by.iter()
            .map(|&b| crate::checklist::checker_name(b).0)
            .collect();
    let mut en: Vec<&str> =
        c.by.iter()
            .map(|&b| crate::checklist::checker_name(b).1)
            .collect();
    if c.auto.is_some() {
        zh.push("设备数据自动检查");
        en.push("automatically from the device events");
    }
    let (every_zh, every_en) = c.every.name();
    HandbookCheck {
        verify: c.verify,
        by: c.by.clone(),
        every: c.every,
        auto: c.auto,
        text: Text {
            zh: format!("{} · {every_zh}", zh.join("、")),
            en: format!("{} · {every_en}", en.join(", ")),
        },
    }
}

fn pair((zh, en): (&str, &str)) -> Text {
    Text {
        zh: zh.to_owned(),
        en: en.to_owned(),
    }
}

/// The handbook of `role` for `journey`: the moments where the role owns at least one
/// standard (every moment for the hall manager), each with its name, stage, importance,
/// peak and end marks, core needs, the role's standards (thresholds and checks in
/// words) and the role's blueprint lanes.
pub fn handbook(journey: &Journey, role: OwnerRole) -> Handbook {
    let peaks = journey.prior_peaks();
    let end = &journey.end().key;
    let manager = role == OwnerRole::HallManager;
    let lanes = lanes_of(role);
    let moments = journey
        .moments()
        .iter()
        .filter(|m| manager || m.standards.iter().any(|s| s.owner == role))
        .map(|m| HandbookMoment {
            key: m.key.clone(),
            name: m.name.clone(),
            stage: m.stage,
            stage_name: pair(m.stage.name()),
            importance: m.importance,
            peak: peaks.iter().any(|p| p.key == m.key),
            end: &m.key == end,
            core_needs: m.core_needs.clone(),
            standards: m
                .standards
                .iter()
                .filter(|s| manager || s.owner == role)
                .map(|s| HandbookStandard {
                    key: s.key.clone(),
                    text: s.text.clone(),
                    owner: s.owner,
                    owner_name: pair(s.owner.name()),
                    threshold: s.threshold.clone(),
                    threshold_text: s.threshold.as_ref().map(threshold_text),
                    check: s.check.as_ref().map(check_of),
                })
                .collect(),
            lanes: lanes
                .iter()
                .filter(|&&l| !m.blueprint.lane(l).is_empty())
                .map(|&l| HandbookLane {
                    lane: l,
                    name: pair(l.name()),
                    items: m.blueprint.lane(l).to_vec(),
                })
                .collect(),
        })
        .collect();
    Handbook {
        journey: journey.key().clone(),
        journey_name: journey.name().clone(),
        role,
        role_name: pair(role.name()),
        lanes: lanes.to_vec(),
        moments,
    }
}

/// One exam question on a standard's number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The standard's key (unique in the journey).
    pub key: String,
    pub moment: MomentKey,
    pub owner: OwnerRole,
    pub question: Text,
    pub answer: f64,
    pub unit: Unit,
}

/// The blank a question leaves for the answer.
pub const BLANK: &str = "____";

/// The digit a character stands for, ASCII or full-width.
fn digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '０'..='９' => Some(c as u32 - '０' as u32),
        _ => None,
    }
}

/// Full-width digits and points as ASCII.
fn narrow(s: &str) -> String {
    s.chars()
        .map(|c| match (digit(c), c) {
            (Some(d), _) => char::from_digit(d, 10).unwrap_or(c),
            (None, '．') => '.',
            (None, '－') => '-',
            (None, '＋') => '+',
            _ => c,
        })
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9
}

/// The byte ranges of the numbers in `text` that equal `value`: runs of digits (ASCII
/// or full-width) with at most one inner point, not glued to a Latin letter (`3G`,
/// `A3` are names, not numbers).
fn occurrences(text: &str, value: f64) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if digit(chars[i].1).is_none() {
            i += 1;
            continue;
        }
        let start = i;
        let mut point = false;
        while i < chars.len() {
            let c = chars[i].1;
            if digit(c).is_some() {
                i += 1;
            } else if (c == '.' || c == '．')
                && !point
                && chars.get(i + 1).is_some_and(|&(_, n)| digit(n).is_some())
            {
                point = true;
                i += 1;
            } else {
                break;
            }
        }
        let latin = |c: Option<&(usize, char)>| c.is_some_and(|&(_, c)| c.is_ascii_alphabetic());
        let glued = latin(start.checked_sub(1).and_then(|p| chars.get(p))) || latin(chars.get(i));
        let from = chars[start].0;
        let to = chars.get(i).map_or(text.len(), |&(b, _)| b);
        if !glued
            && narrow(&text[from..to])
                .parse::<f64>()
                .is_ok_and(|x| same(x, value))
        {
            found.push((from, to));
        }
    }
    found
}

/// The text with every occurrence of `value` blanked, or `None` when it has none. Every
/// occurrence goes, not only the first, so the answer is never left in the question.
fn blanked(text: &str, value: f64) -> Option<String> {
    let found = occurrences(text, value);
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (from, to) in found {
        out.push_str(&text[at..from]);
        out.push_str(BLANK);
        at = to;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The question bank of a journey: one question per standard with a threshold, in
/// journey order. The question is the standard's text with its number blanked
/// (`等候超过____分钟的客户主动进行关怀…`); where the text does not state the number, it
/// asks for the standard value of the moment's standard directly.
pub fn questions(journey: &Journey) -> Vec<Question> {
    journey
        .standards()
        .filter_map(|(m, s)| s.threshold.as_ref().map(|t| (m, s, t)))
        .map(|(m, s, t)| {
            let (unit_zh, unit_en) = unit_question_name(t.unit);
            let zh = blanked(&s.text.zh, t.value).unwrap_or_else(|| {
                format!(
                    "「{}」：{} —— 标准值是多少（{unit_zh}）？",
                    m.name.zh, s.text.zh
                )
            });
            let en = blanked(&s.text.en, t.value).unwrap_or_else(|| {
                format!(
                    "“{}”: {} — what is the standard value ({unit_en})?",
                    m.name.en, s.text.en
                )
            });
            Question {
                key: s.key.to_string(),
                moment: m.key.clone(),
                owner: s.owner,
                question: Text { zh, en },
                answer: t.value,
                unit: t.unit,
            }
        })
        .collect()
}

/// The result of an exam.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    pub right: u32,
    pub asked: u32,
    /// The keys of the questions answered wrong, in the order answered.
    pub wrong: Vec<String>,
}

/// Reads an answer as a number: full-width digits allowed, a unit word after it
/// (`15分钟`, `2.5 min`, `100%`) ignored; anything else with digits in it is not an
/// answer (`15-20`, `约15`).
fn read_answer(answer: &str) -> Option<f64> {
    let a = narrow(answer);
    let a = a.trim();
    let end = a
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+'))))
        .map_or(a.len(), |(i, _)| i);
    let (number, rest) = a.split_at(end);
    if rest.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    number.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Grades `(question key, answer text)` pairs against the bank: an answer is right when
/// it reads as a number (a unit word after it and full-width digits allowed) within
/// 1e-9 of the question's answer. A key not in the bank, or a question answered twice,
/// is an error naming the key.
pub fn grade(bank: &[Question], answers: &[(String, String)]) -> Result<Grade, String> {
    let mut grade = Grade {
        right: 0,
        asked: 0,
        wrong: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for (key, answer) in answers {
        let q = bank
            .iter()
            .find(|q| &q.key == key)
            .ok_or_else(|| format!("`{key}` is not a question of this exam"))?;
        if !seen.insert(key.as_str()) {
            return Err(format!("question `{key}` is answered twice"));
        }
        grade.asked += 1;
        if read_answer(answer).is_some_and(|x| same(x, q.answer)) {
            grade.right += 1;
        } else {
            grade.wrong.push(key.clone());
        }
    }
    Ok(grade)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    fn service_hall() -> Journey {
        builtin::journeys()
            .expect("the built-in journeys parse")
            .into_iter()
            .find(|j| j.key().as_str() == "service-hall")
            .expect("the built-in service-hall journey")
    }

    #[test]
    fn unit_keys_read_as_words_and_other_units_as_written() {
        assert_eq!(unit_label("working_day", false), "个工作日");
        assert_eq!(unit_label("working_day", true), "working days");
        assert_eq!(unit_label("chars_per_min", false), "字/分钟");
        assert_eq!(unit_label("percent", true), "%");
        assert_eq!(unit_label("元", true), "元");
    }

    fn question<'a>(bank: &'a [Question], key: &str) -> &'a Question {
        bank.iter()
            .find(|q| q.key == key)
            .unwrap_or_else(|| panic!("no question `{key}`"))
    }

    #[test]
    fn the_well_known_numbers_are_asked_and_answered() {
        let bank = questions(&service_hall());
        let care = question(&bank, "care_after");
        assert_eq!(care.answer, 15.0);
        assert_eq!(care.unit, Unit::Minutes);
        assert_eq!(care.moment.as_str(), "queue");
        assert_eq!(care.owner, OwnerRole::FloorWalker);
        assert!(
            care.question
                .zh
                .contains("等候超过____分钟的客户主动进行关怀"),
            "{}",
            care.question.zh
        );
        assert!(care.question.zh.contains("16分钟"), "only 15 is blanked");
        assert!(!care.question.zh.contains("15"), "{}", care.question.zh);
        assert!(
            care.question.en.contains("after ____ minutes"),
            "{}",
            care.question.en
        );
        for (key, answer) in [
            ("system_time", 2.5),
            ("typing_speed", 40.0),
            ("max_per_counter", 3.0),
        ] {
            let q = question(&bank, key);
            assert_eq!(q.answer, answer, "{key}");
            assert!(q.question.zh.contains(BLANK), "{key}: {}", q.question.zh);
            assert!(q.question.en.contains(BLANK), "{key}: {}", q.question.en);
        }
        assert!(
            question(&bank, "system_time")
                .question
                .zh
                .contains("小于____分钟")
        );
        assert!(
            question(&bank, "typing_speed")
                .question
                .zh
                .contains("____字/分钟")
        );
    }

    #[test]
    fn every_threshold_standard_yields_exactly_one_question() {
        let j = service_hall();
        let bank = questions(&j);
        let with: Vec<String> = j
            .standards()
            .filter(|(_, s)| s.threshold.is_some())
            .map(|(_, s)| s.key.to_string())
            .collect();
        let keys: Vec<String> = bank.iter().map(|q| q.key.clone()).collect();
        assert_eq!(keys, with);
        assert!(!bank.is_empty());
        for q in &bank {
            let (m, s) = j.standard(&q.key).unwrap();
            assert_eq!(q.moment, m.key);
            assert_eq!(Some(q.answer), s.threshold.as_ref().map(|t| t.value));
            // Blanked, or asked directly: either way the question asks for a number.
            assert!(
                q.question.zh.contains(BLANK) || q.question.zh.contains("标准值是多少"),
                "{}: {}",
                q.key,
                q.question.zh
            );
        }
    }

    #[test]
    fn a_number_not_in_the_text_is_asked_directly() {
        let bank = questions(&service_hall());
        // "no counter closed at peak": 0 is not written in the text.
        let q = question(&bank, "no_closed_counters_peak");
        assert_eq!(q.answer, 0.0);
        assert!(
            q.question.zh.starts_with("「厅前」：业务高峰期")
                && q.question.zh.ends_with("—— 标准值是多少（个）？"),
            "{}",
            q.question.zh
        );
        assert!(
            q.question
                .en
                .ends_with("what is the standard value (count)?")
        );
    }

    #[test]
    fn numbers_are_whole_tokens() {
        assert_eq!(blanked("超过15分钟", 15.0).unwrap(), "超过____分钟");
        assert_eq!(blanked("约150分钟", 15.0), None);
        assert_eq!(blanked("约1.5分钟", 15.0), None);
        assert_eq!(blanked("小于2.5分钟。", 2.5).unwrap(), "小于____分钟。");
        assert_eq!(blanked("3G 网络", 3.0), None);
        assert_eq!(blanked("超过１５分钟", 15.0).unwrap(), "超过____分钟");
        assert_eq!(blanked("1-2种，1-2种", 2.0).unwrap(), "1-____种，1-____种");
        assert_eq!(blanked("必须100%递送", 100.0).unwrap(), "必须____%递送");
    }

    #[test]
    fn grading_counts_right_and_wrong_and_refuses_unknown_keys() {
        let bank = questions(&service_hall());
        let a = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let g = grade(
            &bank,
            &[
                a("care_after", "15"),
                a("system_time", " 2.5 分钟 "),
                a("typing_speed", "４０字/分钟"),
                a("max_per_counter", "4"),
                a("vip_water", "100%"),
                a("clean_radius", "about 3"),
                a("repair_within", "2-3"),
            ],
        )
        .unwrap();
        assert_eq!(g.asked, 7);
        assert_eq!(g.right, 4);
        assert_eq!(
            g.wrong,
            ["max_per_counter", "clean_radius", "repair_within"]
        );

        let err = grade(&bank, &[a("care_after", "15"), a("no_such", "1")]).unwrap_err();
        assert!(err.contains("no_such"), "{err}");
        let err = grade(&bank, &[a("care_after", "15"), a("care_after", "15")]).unwrap_err();
        assert!(err.contains("care_after"), "{err}");
        assert_eq!(
            grade(&bank, &[]).unwrap(),
            Grade {
                right: 0,
                asked: 0,
                wrong: vec![]
            }
        );
    }

    #[test]
    fn a_floor_walkers_handbook_has_their_moments_and_standards() {
        let j = service_hall();
        let h = handbook(&j, OwnerRole::FloorWalker);
        assert_eq!(h.lanes, [Lane::Frontstage]);
        assert_eq!(h.role_name.zh, "流动岗");
        let keys: Vec<&str> = h.moments.iter().map(|m| m.key.as_str()).collect();
        assert!(
            keys.contains(&"queue") && keys.contains(&"wandering"),
            "{keys:?}"
        );
        assert!(!keys.contains(&"counter_wait"), "{keys:?}");
        for m in &h.moments {
            assert!(!m.standards.is_empty(), "{}", m.key);
            assert!(
                m.standards
                    .iter()
                    .all(|s| s.owner == OwnerRole::FloorWalker)
            );
            assert!(m.lanes.iter().all(|l| l.lane == Lane::Frontstage));
        }
        let queue = h
            .moments
            .iter()
            .find(|m| m.key.as_str() == "queue")
            .unwrap();
        let care = queue
            .standards
            .iter()
            .find(|s| s.key.as_str() == "care_after")
            .unwrap();
        assert_eq!(care.threshold_text.as_ref().unwrap().zh, "≤ 15 分钟");
        assert_eq!(care.threshold_text.as_ref().unwrap().en, "≤ 15 min");
        assert!(!queue.core_needs.is_empty());
        // Journey order is kept.
        let order: Vec<&str> = j
            .moments()
            .iter()
            .map(|m| m.key.as_str())
            .filter(|k| keys.contains(k))
            .collect();
        assert_eq!(order, keys);
    }

    #[test]
    fn the_hall_manager_answers_for_every_moment_in_all_lanes() {
        let j = service_hall();
        let h = handbook(&j, OwnerRole::HallManager);
        assert_eq!(h.moments.len(), j.moments().len());
        assert_eq!(h.lanes, Lane::ALL);
        assert_eq!(
            h.moments.iter().map(|m| m.standards.len()).sum::<usize>(),
            j.standards().count()
        );
        assert!(h.moments.last().unwrap().end);
        let peaks: Vec<&str> = h
            .moments
            .iter()
            .filter(|m| m.peak)
            .map(|m| m.key.as_str())
            .collect();
        let prior: Vec<&str> = j.prior_peaks().iter().map(|m| m.key.as_str()).collect();
        assert_eq!(peaks.len(), prior.len());
        assert!(peaks.iter().all(|p| prior.contains(p)));
        assert!(h.moments.iter().any(|m| m.lanes.len() > 1));
    }

    #[test]
    fn the_back_office_works_behind_the_line_of_visibility() {
        let h = handbook(&service_hall(), OwnerRole::BackOffice);
        assert_eq!(h.lanes, [Lane::Backstage, Lane::Support]);
        for m in &h.moments {
            assert!(m.lanes.iter().all(|l| l.lane != Lane::Frontstage));
        }
        let repair = h
            .moments
            .iter()
            .flat_map(|m| &m.standards)
            .find(|s| s.key.as_str() == "repair_within")
            .expect("the back office repairs kiosks");
        assert_eq!(repair.threshold_text.as_ref().unwrap().zh, "≤ 2 个工作日");
    }

    #[test]
    fn thresholds_read_as_people_say_them() {
        let t = |value, unit, bound| threshold_text(&Threshold { value, unit, bound });
        assert_eq!(t(100.0, Unit::Percent, Bound::Min).zh, "≥ 100%");
        assert_eq!(t(40.0, Unit::CharsPerMinute, Bound::Min).zh, "≥ 40 字/分钟");
        assert_eq!(t(3.0, Unit::Count, Bound::Max).zh, "≤ 3 个");
        assert_eq!(t(3.0, Unit::Count, Bound::Max).en, "≤ 3");
        assert_eq!(t(1.0, Unit::Days, Bound::Max).en, "≤ 1 day");
        assert_eq!(t(2.5, Unit::Minutes, Bound::Max).zh, "≤ 2.5 分钟");
        assert_eq!(t(15.0, Unit::Seconds, Bound::Min).zh, "≥ 15 秒");
        assert_eq!(t(3.0, Unit::Metres, Bound::Min).zh, "≥ 3 米");
    }

    /// Every threshold of the four built-in journeys reads in words on the blueprint, the
    /// poster and the handbook: a unit people say (字/分钟, 个工作日, 个, %) in both
    /// languages, never the file's key (`chars_per_min`, `working_day`). An English count
    /// is a bare number by design ("≤ 3": at most 3 taps, levels, boards).
    #[test]
    fn every_builtin_threshold_unit_has_a_label_in_both_languages() {
        let keys = ["chars_per_min", "working_day", "percent", "count"];
        let mut units = std::collections::BTreeSet::new();
        for j in builtin::journeys().unwrap() {
            for m in j.moments() {
                for st in &m.standards {
                    let Some(t) = &st.threshold else { continue };
                    units.insert(t.unit.symbol());
                    let (zh, en) = unit_name(t.unit);
                    assert!(
                        !zh.is_empty(),
                        "{}: {:?} has no Chinese label",
                        st.key,
                        t.unit
                    );
                    assert!(
                        !en.is_empty() || t.unit == Unit::Count,
                        "{}: {:?} has no English label",
                        st.key,
                        t.unit
                    );
                    let text = threshold_text(t);
                    assert!(text.zh.contains(zh), "{}: {}", st.key, text.zh);
                    for key in keys {
                        assert!(
                            !text.zh.contains(key) && !text.en.contains(key),
                            "{}",
                            st.key
                        );
                    }
                    assert!(text.en.starts_with(['≤', '≥']), "{}: {}", st.key, text.en);
                }
            }
        }
        // All eight units are in use, so each label above was checked.
        assert_eq!(units.len(), 8, "{units:?}");
    }

    #[test]
    fn roles_parse_by_key_or_chinese_name() {
        for r in OWNER_ROLES {
            assert_eq!(parse_owner_role(owner_role_key(r)), Ok(r));
            assert_eq!(parse_owner_role(r.name().0), Ok(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(owner_role_key(r))
            );
        }
        let err = parse_owner_role("chef").unwrap_err();
        assert!(
            err.contains("`chef`") && err.contains("floor_walker"),
            "{err}"
        );
    }

    #[test]
    fn the_handbook_serializes() {
        let h = handbook(&service_hall(), OwnerRole::Frontline);
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["role"], "frontline");
        assert_eq!(v["lanes"], serde_json::json!(["frontstage"]));
        let back: Handbook = serde_json::from_value(v).unwrap();
        assert_eq!(back, h);
    }
}
