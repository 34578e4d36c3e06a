//! The strategy page (issue 23): a region's dimensions ranked by importance, gap and
//! the feasibility its director enters, the theme chosen from them with its
//! sub-themes, and the initiatives with their owners — the course's execution map.
//!
//! A [`Strategy`] is the director's document for one org node and journey, parsed and
//! checked here (every problem named by its path, e.g.
//! `initiatives[2].moments[0]: unknown moment "x"`); [`rank`] puts the survey's
//! dimension scores next to it. The formula is in docs/methods.md (strategy).

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::dimensions::{DimensionGap, DimensionScore};
use crate::id::MomentKey;
use crate::journey::{Dimension, DimensionFamily, Journey};

/// Longest sub-theme and initiative title, in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest owner (a role or a person's name), in characters.
pub const MAX_OWNER_CHARS: usize = 60;
/// At most this many sub-themes and initiatives: a map to execute, not a backlog.
pub const MAX_SUB_THEMES: usize = 20;
pub const MAX_INITIATIVES: usize = 100;
/// The feasibility assumed for a dimension the director has not rated yet: the middle
/// of 1–5, so the ranking is importance × gap until she does.
pub const DEFAULT_FEASIBILITY: u8 = 3;

/// One problem of a strategy document, located by its path in the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StrategyProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for StrategyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> StrategyProblem {
    StrategyProblem {
        path: path.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitiativeStatus {
    #[default]
    Planned,
    Doing,
    Done,
}

impl InitiativeStatus {
    pub fn key(self) -> &'static str {
        match self {
            InitiativeStatus::Planned => "planned",
            InitiativeStatus::Doing => "doing",
            InitiativeStatus::Done => "done",
        }
    }

    /// (zh, en) labels.
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            InitiativeStatus::Planned => ("计划", "Planned"),
            InitiativeStatus::Doing => ("进行中", "Doing"),
            InitiativeStatus::Done => ("完成", "Done"),
        }
    }
}

/// One initiative of the execution map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Initiative {
    pub title: String,
    /// A role or a person's name.
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    /// The journey's moments it acts on, in the order given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moments: Vec<MomentKey>,
    pub status: InitiativeStatus,
}

/// A director's strategy for one org node and journey.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Strategy {
    /// 1 (hard) – 5 (easy) per dimension rated; the others count as
    /// [`DEFAULT_FEASIBILITY`] in the ranking.
    pub feasibility: BTreeMap<Dimension, u8>,
    /// The chosen theme: one dimension.
    pub theme: Option<Dimension>,
    pub sub_themes: Vec<String>,
    pub initiatives: Vec<Initiative>,
}

// The document as sent: loose types, so that every semantic problem is found and
// named in one pass (a wrong type is still refused by serde, with its path).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrategy {
    #[serde(default)]
    feasibility: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    theme: Option<String>,
    #[serde(default)]
    sub_themes: Vec<String>,
    #[serde(default)]
    initiatives: Vec<RawInitiative>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInitiative {
    title: String,
    owner: String,
    #[serde(default)]
    due: Option<String>,
    #[serde(default)]
    moments: Vec<String>,
    #[serde(default)]
    status: Option<String>,
}

fn text(
    path: String,
    value: &str,
    max: usize,
    required: bool,
    problems: &mut Vec<StrategyProblem>,
) -> String {
    let t = value.trim();
    if required && t.is_empty() {
        problems.push(problem(path, "must not be empty"));
    } else if t.chars().count() > max {
        problems.push(problem(
            path,
            format!("{} characters, at most {max}", t.chars().count()),
        ));
    } else if t.chars().any(|c| c.is_control()) {
        problems.push(problem(path, "control characters are not allowed"));
    }
    t.to_owned()
}

impl Strategy {
    /// Parses and checks a strategy document against `journey`: dimensions and
    /// statuses by key, feasibility 1–5, texts trimmed and within their lengths, due
    /// dates in 2000–2100, moments of the journey, each once per initiative. Every
    /// problem is listed; a document that does not even have the right shape gives the
    /// one problem serde found, at its path.
    pub fn parse(body: &[u8], journey: &Journey) -> Result<Strategy, Vec<StrategyProblem>> {
        Self::parse_with(body, Some(journey))
    }

    /// A stored document, read back: the same checks but the moments', which a later
    /// version of the journey may have dropped (they stay listed; the page shows them
    /// as they were written).
    pub fn from_stored(json: &str) -> Result<Strategy, Vec<StrategyProblem>> {
        Self::parse_with(json.as_bytes(), None)
    }

    fn parse_with(
        body: &[u8],
        journey: Option<&Journey>,
    ) -> Result<Strategy, Vec<StrategyProblem>> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let raw: RawStrategy = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = match e.path().to_string() {
                p if p == "." => "(body)".to_owned(),
                p => p,
            };
            vec![problem(path, e.inner().to_string())]
        })?;
        let mut problems = Vec::new();
        let mut feasibility = BTreeMap::new();
        for (key, value) in &raw.feasibility {
            let path = format!("feasibility.{key}");
            let d = match Dimension::parse(key) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(problem(path, e));
                    continue;
                }
            };
            match value.as_u64().filter(|v| (1..=5).contains(v)) {
                Some(v) => {
                    feasibility.insert(d, v as u8);
                }
                None => problems.push(problem(path, format!("{value} is not a whole number 1–5"))),
            }
        }
        let theme = match raw.theme.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => match Dimension::parse(t) {
                Ok(d) => Some(d),
                Err(e) => {
                    problems.push(problem("theme", e));
                    None
                }
            },
        };
        if raw.sub_themes.len() > MAX_SUB_THEMES {
            problems.push(problem(
                "sub_themes",
                format!(
                    "{} sub-themes, at most {MAX_SUB_THEMES}",
                    raw.sub_themes.len()
                ),
            ));
        }
        let sub_themes = raw
            .sub_themes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                text(
                    format!("sub_themes[{i}]"),
                    s,
                    MAX_TEXT_CHARS,
                    true,
                    &mut problems,
                )
            })
            .collect();
        if raw.initiatives.len() > MAX_INITIATIVES {
            problems.push(problem(
                "initiatives",
                format!(
                    "{} initiatives, at most {MAX_INITIATIVES}",
                    raw.initiatives.len()
                ),
            ));
        }
        let mut initiatives = Vec::new();
        for (i, r) in raw.initiatives.iter().enumerate() {
            let at = format!("initiatives[{i}]");
            let title = text(
                format!("{at}.title"),
                &r.title,
                MAX_TEXT_CHARS,
                true,
                &mut problems,
            );
            let owner = text(
                format!("{at}.owner"),
                &r.owner,
                MAX_OWNER_CHARS,
                true,
                &mut problems,
            );
            let due = match r.due.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(d) => match crate::time::parse_date(d) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        problems.push(problem(format!("{at}.due"), e));
                        None
                    }
                },
            };
            let mut moments: Vec<MomentKey> = Vec::new();
            for (j, m) in r.moments.iter().enumerate() {
                let path = format!("{at}.moments[{j}]");
                let key = match MomentKey::parse(m.trim()) {
                    Ok(k) => k,
                    Err(_) => {
                        problems.push(problem(path, format!("unknown moment {m:?}")));
                        continue;
                    }
                };
                if let Some(j) = journey
                    && j.moment(&key).is_none()
                {
                    problems.push(problem(
                        path,
                        format!("unknown moment {m:?} (not in journey `{}`)", j.key()),
                    ));
                } else if moments.contains(&key) {
                    problems.push(problem(path, format!("moment {m:?} given twice")));
                } else {
                    moments.push(key);
                }
            }
            let status = match r.status.as_deref().map(str::trim) {
                None | Some("") | Some("planned") => InitiativeStatus::Planned,
                Some("doing") => InitiativeStatus::Doing,
                Some("done") => InitiativeStatus::Done,
                Some(other) => {
                    problems.push(problem(
                        format!("{at}.status"),
                        format!("unknown status {other:?} (planned, doing or done)"),
                    ));
                    InitiativeStatus::Planned
                }
            };
            initiatives.push(Initiative {
                title,
                owner,
                due,
                moments,
                status,
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Strategy {
            feasibility,
            theme,
            sub_themes,
            initiatives,
        })
    }

    /// The feasibility the ranking uses for `d`.
    pub fn feasibility_of(&self, d: Dimension) -> u8 {
        self.feasibility
            .get(&d)
            .copied()
            .unwrap_or(DEFAULT_FEASIBILITY)
    }

    /// The document as stored and as `parse` reads it back.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a strategy serialises")
    }
}

/// Where a dimension's gap comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapSource {
    /// 10 − the dimension's importance-weighted satisfaction (the survey's 1–10 scale).
    Satisfaction,
    /// Gap 5, expectation − perception, from the survey's expectation items.
    Gap5,
}

/// Why a dimension is not ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unranked {
    /// No moment of the journey is tagged with it.
    NotTagged,
    /// Its moments have no answers yet (or weigh nothing).
    NoAnswers,
}

impl Unranked {
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Unranked::NotTagged => (
                "旅程中没有关键时刻标注此维度",
                "no moment of the journey is tagged with it",
            ),
            Unranked::NoAnswers => (
                "所标注的关键时刻尚无调查数据",
                "its moments have no survey answers yet",
            ),
        }
    }
}

/// One dimension of the ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedDimension {
    /// 1 = first priority; `None` when the dimension cannot be ranked.
    pub rank: Option<usize>,
    pub dimension: Dimension,
    pub family: DimensionFamily,
    /// Σ customers' importance of its rated moments (the analysis' `dimensions`).
    pub importance: f64,
    /// `importance` ÷ Σ importance of the ranked dimensions of its family.
    pub importance_share: Option<f64>,
    /// Its importance-weighted satisfaction (1–10).
    pub satisfaction: Option<f64>,
    /// The gap as measured (gap 5 may be negative: the service exceeds expectations).
    pub gap: Option<f64>,
    pub gap_source: Option<GapSource>,
    /// 1–5: the director's, or [`DEFAULT_FEASIBILITY`] when `feasibility_entered` is false.
    pub feasibility: u8,
    pub feasibility_entered: bool,
    /// importance share × max(gap, 0) × feasibility / 5.
    pub priority: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unranked: Option<Unranked>,
    /// The strategy's chosen theme.
    pub theme: bool,
}

/// Ranks the eleven dimensions of `journey` for `strategy`: `scores` are the analysis'
/// `dimensions`, `gaps` its `gaps.dimensions` when the survey had expectation items.
/// A dimension's gap is its gap 5 where there is one, else 10 − satisfaction; its
/// priority = importance share (within its family) × max(gap, 0) × feasibility / 5.
/// Ranked by priority (then importance share, then the dimensions' order); the
/// dimensions nothing is tagged with, or whose moments have no answers, follow
/// unranked with the reason.
pub fn rank(
    journey: &Journey,
    scores: &[DimensionScore],
    gaps: Option<&[DimensionGap]>,
    strategy: &Strategy,
) -> Vec<RankedDimension> {
    let tagged = |d: Dimension| journey.moments().iter().any(|m| m.dimensions.contains(&d));
    let mut rows: Vec<RankedDimension> = Dimension::ALL
        .into_iter()
        .map(|d| {
            let score = scores.iter().find(|s| s.dimension == d);
            let satisfaction = score
                .and_then(|s| s.score)
                .filter(|_| score.is_some_and(|s| s.importance > 0.0));
            let gap5 = gaps
                .and_then(|g| g.iter().find(|x| x.dimension == d))
                .and_then(|x| x.gap5);
            let unranked = if !tagged(d) {
                Some(Unranked::NotTagged)
            } else if satisfaction.is_none() {
                Some(Unranked::NoAnswers)
            } else {
                None
            };
            let (gap, gap_source) = match (unranked, gap5, satisfaction) {
                (Some(_), _, _) => (None, None),
                (None, Some(g), _) => (Some(g), Some(GapSource::Gap5)),
                (None, None, Some(s)) => (Some(10.0 - s), Some(GapSource::Satisfaction)),
                (None, None, None) => (None, None),
            };
            RankedDimension {
                rank: None,
                dimension: d,
                family: d.family(),
                importance: score.map_or(0.0, |s| s.importance),
                importance_share: None,
                satisfaction,
                gap,
                gap_source,
                feasibility: strategy.feasibility_of(d),
                feasibility_entered: strategy.feasibility.contains_key(&d),
                priority: None,
                unranked,
                theme: strategy.theme == Some(d),
            }
        })
        .collect();
    for family in [DimensionFamily::Experience, DimensionFamily::Servqual] {
        let total: f64 = rows
            .iter()
            .filter(|r| r.family == family && r.unranked.is_none())
            .map(|r| r.importance)
            .sum();
        if total <= 0.0 {
            continue;
        }
        for r in rows
            .iter_mut()
            .filter(|r| r.family == family && r.unranked.is_none())
        {
            let share = r.importance / total;
            r.importance_share = Some(share);
            // A dimension that beats its customers' expectations has nothing to close.
            let gap = r.gap.unwrap_or(0.0).max(0.0);
            r.priority = Some(share * gap * f64::from(r.feasibility) / 5.0);
        }
    }
    // Stable sort: ties keep the dimensions' own order.
    rows.sort_by(|a, b| match (a.priority, b.priority) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| {
            b.importance_share
                .unwrap_or(0.0)
                .total_cmp(&a.importance_share.unwrap_or(0.0))
        }),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    for (i, r) in rows.iter_mut().filter(|r| r.priority.is_some()).enumerate() {
        r.rank = Some(i + 1);
    }
    rows
}

/// [`rank`] over a stored analysis (`None` before anyone answered).
pub fn rank_analysis(
    journey: &Journey,
    analysis: Option<&crate::analysis::Analysis>,
    strategy: &Strategy,
) -> Vec<RankedDimension> {
    match analysis {
        Some(a) => rank(
            journey,
            &a.dimensions,
            a.gaps.as_ref().map(|g| g.dimensions.as_slice()),
            strategy,
        ),
        None => rank(journey, &[], None, strategy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dimensions::{MomentScore, dimension_scores, gap5};

    /// a (efficiency, responsiveness), b (efficiency, empathy, knowledge), c (trust,
    /// assurance), d (control), as in the dimensions' tests plus d for control.
    fn journey() -> Journey {
        Journey::from_yaml(
            "key: t\nname: {zh: 测试, en: Test}\nchannel: face_to_face\nmoments:\n\
             - {key: a, name: {zh: 甲, en: A}, stage: people_flow, dimensions: [efficiency, responsiveness]}\n\
             - {key: b, name: {zh: 乙, en: B}, stage: customer_flow, dimensions: [efficiency, empathy, knowledge]}\n\
             - {key: c, name: {zh: 丙, en: C}, stage: business_flow, dimensions: [trust, assurance]}\n\
             - {key: d, name: {zh: 丁, en: D}, stage: business_flow, dimensions: [control]}\n",
        )
        .unwrap()
    }

    fn score(k: &str, importance: f64, satisfaction: f64, n: u64) -> MomentScore {
        MomentScore {
            moment: MomentKey::parse(k).unwrap(),
            importance,
            satisfaction,
            n,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    fn parse(json: &str) -> Result<Strategy, Vec<String>> {
        Strategy::parse(json.as_bytes(), &journey())
            .map_err(|p| p.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_document_is_parsed_trimmed_and_round_trips() {
        let s = parse(
            r#"{"feasibility": {"efficiency": 4, "trust": 2},
                "theme": "efficiency",
                "sub_themes": [" 缩短等候 ", "Faster payment"],
                "initiatives": [
                  {"title": "叫号屏显示预计等候", "owner": "厅经理", "due": "2027-03-31",
                   "moments": ["a", "b"], "status": "doing"},
                  {"title": "Kiosk for bills", "owner": "王丽"}
                ]}"#,
        )
        .unwrap();
        assert_eq!(s.feasibility_of(Dimension::Efficiency), 4);
        assert_eq!(s.feasibility_of(Dimension::Control), DEFAULT_FEASIBILITY);
        assert_eq!(s.theme, Some(Dimension::Efficiency));
        assert_eq!(s.sub_themes, ["缩短等候", "Faster payment"]);
        assert_eq!(s.initiatives[0].status, InitiativeStatus::Doing);
        assert_eq!(s.initiatives[0].due.unwrap().to_string(), "2027-03-31");
        assert_eq!(s.initiatives[1].status, InitiativeStatus::Planned);
        assert!(s.initiatives[1].moments.is_empty());
        let json = s.to_json();
        assert_eq!(Strategy::from_stored(&json).unwrap(), s);
        assert_eq!(Strategy::parse(json.as_bytes(), &journey()).unwrap(), s);
        assert_eq!(parse("{}").unwrap(), Strategy::default());
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let long = "长".repeat(201);
        let body = format!(
            r#"{{"feasibility": {{"speed": 3, "trust": 6, "control": 2.5}},
                "theme": "speed",
                "sub_themes": ["", "{long}"],
                "initiatives": [
                  {{"title": "ok", "owner": "厅经理"}},
                  {{"title": " ", "owner": "{owner}", "due": "2027-02-30"}},
                  {{"title": "x", "owner": "y", "moments": ["x", "a", "a"], "status": "later"}}
                ]}}"#,
            owner = "人".repeat(61)
        );
        let e = parse(&body).unwrap_err();
        assert_eq!(
            e,
            [
                "feasibility.control: 2.5 is not a whole number 1–5",
                "feasibility.speed: unknown dimension `speed` (expected an experience dimension: efficiency, knowledge, control, emotion, attention, trust; or a SERVQUAL dimension: tangibles, reliability, responsiveness, assurance, empathy)",
                "feasibility.trust: 6 is not a whole number 1–5",
                "theme: unknown dimension `speed` (expected an experience dimension: efficiency, knowledge, control, emotion, attention, trust; or a SERVQUAL dimension: tangibles, reliability, responsiveness, assurance, empathy)",
                "sub_themes[0]: must not be empty",
                "sub_themes[1]: 201 characters, at most 200",
                "initiatives[1].title: must not be empty",
                "initiatives[1].owner: 61 characters, at most 60",
                "initiatives[1].due: `2027-02-30` is not a date (expected YYYY-MM-DD)",
                "initiatives[2].moments[0]: unknown moment \"x\" (not in journey `t`)",
                "initiatives[2].moments[2]: moment \"a\" given twice",
                "initiatives[2].status: unknown status \"later\" (planned, doing or done)",
            ]
        );
        // A wrong shape: serde's one problem, at its path.
        assert_eq!(
            parse(r#"{"initiatives": [{"title": "t", "owner": "o"}, {"title": 3, "owner": "o"}]}"#)
                .unwrap_err(),
            [
                "initiatives[1].title: invalid type: integer `3`, expected a string at line 1 column 58"
            ]
        );
        assert!(parse(r#"{"owner": "x"}"#).unwrap_err()[0].starts_with("owner: unknown field"));
        assert!(parse("[").unwrap_err()[0].starts_with("(body): "));
        let e = parse(r#"{"initiatives": [{"title": "t", "owner": "o", "due": "1999-12-31"}]}"#)
            .unwrap_err();
        assert_eq!(
            e,
            ["initiatives[0].due: `1999-12-31` is outside the years 2000–2100"]
        );
        // A stored document keeps a moment a later journey dropped.
        let s = Strategy::from_stored(
            r#"{"initiatives": [{"title": "t", "owner": "o", "moments": ["gone"]}]}"#,
        )
        .unwrap();
        assert_eq!(s.initiatives[0].moments[0].as_str(), "gone");
    }

    /// The ranking by hand: a (8, 6), b (9, 8), c (7, 9), d tagged control but
    /// unrated; attention, emotion, tangibles, reliability tagged by nothing.
    #[test]
    fn priority_is_importance_share_times_gap_times_feasibility_over_five() {
        let j = journey();
        let scores = dimension_scores(
            &j,
            &[
                score("a", 8.0, 6.0, 40),
                score("b", 9.0, 8.0, 50),
                score("c", 7.0, 9.0, 30),
            ],
        )
        .unwrap();
        let strategy =
            parse(r#"{"feasibility": {"trust": 5, "knowledge": 1}, "theme": "trust"}"#).unwrap();
        let ranked = rank(&j, &scores, None, &strategy);
        let get = |d| ranked.iter().find(|r| r.dimension == d).unwrap();
        // Experience: efficiency 17 (a + b), knowledge 9 (b), trust 7 (c): Σ 33.
        let eff = get(Dimension::Efficiency);
        close(eff.importance_share.unwrap(), 17.0 / 33.0);
        close(eff.satisfaction.unwrap(), 120.0 / 17.0);
        close(eff.gap.unwrap(), 10.0 - 120.0 / 17.0);
        assert_eq!(eff.gap_source, Some(GapSource::Satisfaction));
        assert_eq!((eff.feasibility, eff.feasibility_entered), (3, false));
        // 17/33 × 50/17 × 3/5 = 30/33
        close(eff.priority.unwrap(), 30.0 / 33.0);
        // knowledge: 9/33 × 2 × 1/5 = 3.6/33; trust: 7/33 × 1 × 5/5 = 7/33
        close(get(Dimension::Knowledge).priority.unwrap(), 3.6 / 33.0);
        let trust = get(Dimension::Trust);
        close(trust.priority.unwrap(), 7.0 / 33.0);
        assert!(trust.theme && trust.feasibility_entered);
        // SERVQUAL: responsiveness 8 (a), empathy 9 (b), assurance 7 (c): Σ 24.
        // responsiveness 8/24 × 4 × 3/5 = 19.2/24; empathy 9/24 × 2 × 3/5 = 10.8/24;
        // assurance 7/24 × 1 × 3/5 = 4.2/24.
        close(get(Dimension::Responsiveness).priority.unwrap(), 0.8);
        close(get(Dimension::Empathy).priority.unwrap(), 0.45);
        close(get(Dimension::Assurance).priority.unwrap(), 0.175);
        let order: Vec<_> = ranked.iter().map(|r| r.dimension.key()).collect();
        assert_eq!(
            order,
            [
                "efficiency",
                "responsiveness",
                "empathy",
                "trust",
                "assurance",
                "knowledge",
                // unranked, in the dimensions' order
                "control",
                "emotion",
                "attention",
                "tangibles",
                "reliability",
            ]
        );
        let ranks: Vec<_> = ranked.iter().map(|r| r.rank).collect();
        assert_eq!(
            ranks[..7],
            [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6), None]
        );
        assert_eq!(get(Dimension::Control).unranked, Some(Unranked::NoAnswers));
        assert_eq!(get(Dimension::Emotion).unranked, Some(Unranked::NotTagged));
        assert_eq!(get(Dimension::Control).priority, None);
        // No analysis at all: nothing ranked, each with its reason.
        let none = rank(&j, &[], None, &strategy);
        assert!(none.iter().all(|r| r.rank.is_none()));
        assert_eq!(
            none.iter()
                .find(|r| r.dimension == Dimension::Efficiency)
                .unwrap()
                .unranked,
            Some(Unranked::NoAnswers)
        );
    }

    #[test]
    fn gap_five_replaces_ten_minus_satisfaction_where_there_is_one() {
        let j = journey();
        let moments = [
            score("a", 8.0, 6.0, 40),
            score("b", 9.0, 8.0, 50),
            score("c", 7.0, 9.0, 30),
        ];
        let scores = dimension_scores(&j, &moments).unwrap();
        let mk = |k: &str| MomentKey::parse(k).unwrap();
        // Expectations for a (9) and c (8.5): c exceeds them.
        let g = gap5(&j, &moments, &[(mk("a"), 9.0), (mk("c"), 8.5)]).unwrap();
        let ranked = rank(&j, &scores, Some(&g.dimensions), &Strategy::default());
        let get = |d| ranked.iter().find(|r| r.dimension == d).unwrap();
        // efficiency: only a carries an expectation: gap 9 − 6 = 3.
        let eff = get(Dimension::Efficiency);
        assert_eq!(eff.gap_source, Some(GapSource::Gap5));
        close(eff.gap.unwrap(), 3.0);
        close(eff.priority.unwrap(), 17.0 / 33.0 * 3.0 * 0.6);
        // trust: gap −0.5 shown, priority 0.
        let trust = get(Dimension::Trust);
        close(trust.gap.unwrap(), -0.5);
        assert_eq!(trust.priority, Some(0.0));
        // knowledge: b has no expectation: back to 10 − 8.
        let k = get(Dimension::Knowledge);
        assert_eq!(k.gap_source, Some(GapSource::Satisfaction));
        close(k.gap.unwrap(), 2.0);
    }
}
