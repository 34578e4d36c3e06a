//! Standards checked (issue 21, begun): how a standard is verified, by whom and how
//! often, what a check's result is and whether it passes, and the ranking of a hall's
//! most urgent problems that its improvement plan starts from. Pure rules; the journey
//! format, audits, automatic checks, compliance and the plan's pages build on them.

use serde::{Deserialize, Serialize};

/// How a standard is verified, and the limit a result is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
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
}

impl Checker {
    pub const ALL: [Checker; 4] = [
        Checker::SelfCheck,
        Checker::Walk,
        Checker::Mystery,
        Checker::Inspection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Checker::SelfCheck => "self",
            Checker::Walk => "walk",
            Checker::Mystery => "mystery",
            Checker::Inspection => "inspection",
        }
    }

    pub fn parse(s: &str) -> Result<Checker, String> {
        Checker::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| format!("`{s}` is not self, walk, mystery or inspection"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
