//! Journeys of key moments (moments of truth), their standards and service blueprints.
//!
//! A journey file is parsed into a [`Journey`] in two steps: serde builds the typed
//! structure (naming the path of the first bad field, e.g. `moments[3].stage`), then
//! [`Journey::check`] collects every cross-field problem (duplicate keys, ranges).
//! The governance rule between a journey and the one it extends lives in
//! [`Journey::check_extends`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{JourneyKey, MomentKey, NeedKey, StandardKey};
use crate::qfd::QfdSection;
use crate::text::Text;

/// How the customer meets the organisation (seed 004: remote, phone, face to face).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    FaceToFace,
    Phone,
    Remote,
}

/// The three flows of a hall visit: people outside become customers inside, who
/// become business at the counter (人流 → 客流 → 业务流).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    PeopleFlow,
    CustomerFlow,
    BusinessFlow,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::PeopleFlow, Stage::CustomerFlow, Stage::BusinessFlow];

    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Stage::PeopleFlow => ("人流", "People flow"),
            Stage::CustomerFlow => ("客流", "Customer flow"),
            Stage::BusinessFlow => ("业务流", "Business flow"),
        }
    }

    /// The heading a customer reads on the survey form when the journey gives none
    /// (`sections`): the flows' names are staff jargon (人流 also reads as "abortion").
    pub fn customer_heading(self) -> (&'static str, &'static str) {
        match self {
            Stage::PeopleFlow => ("开始之前", "Before you started"),
            Stage::CustomerFlow => ("过程之中", "Along the way"),
            Stage::BusinessFlow => ("办理与结束", "Getting it done"),
        }
    }
}

/// Who in the hall owns a standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerRole {
    Frontline,
    /// 流动岗: the floor walker who greets, guides and cares for waiting customers.
    FloorWalker,
    /// 保安
    Security,
    /// 保洁
    Cleaner,
    HallManager,
    BackOffice,
}

impl OwnerRole {
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            OwnerRole::Frontline => ("一线营业员", "Front-line staff"),
            OwnerRole::FloorWalker => ("流动岗", "Floor walker"),
            OwnerRole::Security => ("保安", "Security"),
            OwnerRole::Cleaner => ("保洁", "Cleaner"),
            OwnerRole::HallManager => ("厅经理", "Hall manager"),
            OwnerRole::BackOffice => ("后台支撑", "Back office"),
        }
    }
}

/// Unit of a measurable standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "min")]
    Minutes,
    #[serde(rename = "day")]
    Days,
    /// Monday to Friday, less the province's holidays.
    #[serde(rename = "working_day")]
    WorkingDays,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "m")]
    Metres,
    #[serde(rename = "chars_per_min")]
    CharsPerMinute,
    #[serde(rename = "percent")]
    Percent,
}

impl Unit {
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Minutes => "min",
            Unit::Days => "day",
            Unit::WorkingDays => "working_day",
            Unit::Count => "count",
            Unit::Metres => "m",
            Unit::CharsPerMinute => "chars_per_min",
            Unit::Percent => "percent",
        }
    }
}

/// Which side of the threshold complies: `max` means "at most value" (a wait, a
/// repair time), `min` means "at least value" (typing speed, share of VIPs given water).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    #[default]
    Max,
    Min,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub value: f64,
    pub unit: Unit,
    #[serde(default)]
    pub bound: Bound,
}

impl Threshold {
    /// True when `self` is at least as strict as `other` (same unit and bound).
    pub fn at_least_as_strict_as(&self, other: &Threshold) -> bool {
        self.unit == other.unit
            && self.bound == other.bound
            && match self.bound {
                Bound::Max => self.value <= other.value,
                Bound::Min => self.value >= other.value,
            }
    }

    /// Whether a measured value complies with the standard.
    pub fn complies(&self, measured: f64) -> bool {
        match self.bound {
            Bound::Max => measured <= self.value,
            Bound::Min => measured >= self.value,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.bound {
            Bound::Max => "≤",
            Bound::Min => "≥",
        };
        write!(f, "{op} {} {}", self.value, self.unit.symbol())
    }
}

/// The two families a [`Dimension`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DimensionFamily {
    /// The experience course's six dimensions (体验六维度).
    Experience,
    /// Parasuraman, Zeithaml & Berry's five SERVQUAL dimensions (1988).
    Servqual,
}

/// A dimension a moment, need or standard can be tagged with: one of the six
/// experience dimensions or one of the five SERVQUAL dimensions. Written in files by
/// its key (`efficiency`, `tangibles`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Efficiency,
    Knowledge,
    Control,
    Emotion,
    Attention,
    Trust,
    Tangibles,
    Reliability,
    Responsiveness,
    Assurance,
    Empathy,
}

impl Dimension {
    /// The six experience dimensions, then the five SERVQUAL ones.
    pub const ALL: [Dimension; 11] = [
        Dimension::Efficiency,
        Dimension::Knowledge,
        Dimension::Control,
        Dimension::Emotion,
        Dimension::Attention,
        Dimension::Trust,
        Dimension::Tangibles,
        Dimension::Reliability,
        Dimension::Responsiveness,
        Dimension::Assurance,
        Dimension::Empathy,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Dimension::Efficiency => "efficiency",
            Dimension::Knowledge => "knowledge",
            Dimension::Control => "control",
            Dimension::Emotion => "emotion",
            Dimension::Attention => "attention",
            Dimension::Trust => "trust",
            Dimension::Tangibles => "tangibles",
            Dimension::Reliability => "reliability",
            Dimension::Responsiveness => "responsiveness",
            Dimension::Assurance => "assurance",
            Dimension::Empathy => "empathy",
        }
    }

    pub fn family(self) -> DimensionFamily {
        match self {
            Dimension::Efficiency
            | Dimension::Knowledge
            | Dimension::Control
            | Dimension::Emotion
            | Dimension::Attention
            | Dimension::Trust => DimensionFamily::Experience,
            Dimension::Tangibles
            | Dimension::Reliability
            | Dimension::Responsiveness
            | Dimension::Assurance
            | Dimension::Empathy => DimensionFamily::Servqual,
        }
    }

    /// (zh, en) labels; the SERVQUAL ones in the usual Chinese renderings.
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Dimension::Efficiency => ("效率", "Efficiency"),
            Dimension::Knowledge => ("知识", "Knowledge"),
            Dimension::Control => ("控制", "Control"),
            Dimension::Emotion => ("情感", "Emotion"),
            Dimension::Attention => ("关注", "Attention"),
            Dimension::Trust => ("信任", "Trust"),
            Dimension::Tangibles => ("有形性", "Tangibles"),
            Dimension::Reliability => ("可靠性", "Reliability"),
            Dimension::Responsiveness => ("响应性", "Responsiveness"),
            Dimension::Assurance => ("保证性", "Assurance"),
            Dimension::Empathy => ("移情性", "Empathy"),
        }
    }

    /// Parses a key; the error lists every accepted key.
    pub fn parse(s: &str) -> Result<Dimension, String> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.key() == s)
            .ok_or_else(|| {
                let keys = |f| {
                    Dimension::ALL
                        .iter()
                        .filter(|d| d.family() == f)
                        .map(|d| d.key())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "unknown dimension `{s}` (expected an experience dimension: {}; or a SERVQUAL dimension: {})",
                    keys(DimensionFamily::Experience),
                    keys(DimensionFamily::Servqual)
                )
            })
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Serialize for Dimension {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Dimension {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dimension, D::Error> {
        let s = String::deserialize(d)?;
        Dimension::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standard {
    pub key: StandardKey,
    pub text: Text,
    pub owner: OwnerRole,
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// How the standard is checked (audits, mystery shopping, the events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<crate::audit::Check>,
    /// Experience and SERVQUAL dimensions this serves; optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<Dimension>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreNeed {
    pub key: NeedKey,
    pub text: Text,
    /// Experience and SERVQUAL dimensions this serves; optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<Dimension>,
}

/// The five lanes of a service blueprint, top to bottom; the line of interaction
/// runs between `customer` and `frontstage`, the line of visibility between
/// `frontstage` and `backstage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Evidence,
    Customer,
    Frontstage,
    Backstage,
    Support,
}

impl Lane {
    pub const ALL: [Lane; 5] = [
        Lane::Evidence,
        Lane::Customer,
        Lane::Frontstage,
        Lane::Backstage,
        Lane::Support,
    ];

    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Lane::Evidence => ("有形展示", "Physical evidence"),
            Lane::Customer => ("客户行为", "Customer actions"),
            Lane::Frontstage => ("前台员工行为", "Frontstage actions"),
            Lane::Backstage => ("后台员工行为", "Backstage actions"),
            Lane::Support => ("支持过程", "Support processes"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    #[serde(default)]
    pub evidence: Vec<Text>,
    #[serde(default)]
    pub customer: Vec<Text>,
    #[serde(default)]
    pub frontstage: Vec<Text>,
    #[serde(default)]
    pub backstage: Vec<Text>,
    #[serde(default)]
    pub support: Vec<Text>,
}

impl Blueprint {
    pub fn lane(&self, lane: Lane) -> &[Text] {
        match lane {
            Lane::Evidence => &self.evidence,
            Lane::Customer => &self.customer,
            Lane::Frontstage => &self.frontstage,
            Lane::Backstage => &self.backstage,
            Lane::Support => &self.support,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moment {
    pub key: MomentKey,
    pub name: Text,
    pub stage: Stage,
    /// Prior importance on the 1–10 scale, e.g. from the reference study.
    #[serde(default)]
    pub importance: Option<f64>,
    #[serde(default)]
    pub core_needs: Vec<CoreNeed>,
    #[serde(default)]
    pub standards: Vec<Standard>,
    #[serde(default)]
    pub blueprint: Blueprint,
    /// What kind of moment this is (`access`, `wait`, `staff`, `resolution`, `farewell`,
    /// `self_service`, `information`), so that satisfaction with the same kind of moment
    /// can be compared across channels whose journeys name their moments differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Experience and SERVQUAL dimensions of the moment; the dimension scores count
    /// the moment's satisfaction under each (see `dimensions.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<Dimension>,
    /// How the survey asks a customer about the moment, in their words ("Was it easy to
    /// find our hall?"); the moment's name is staff language (寻找, 徘徊, 厅前).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<Text>,
}

/// The wire form, identical field for field to [`Journey`]; kept private so the only
/// way to obtain a `Journey` from data is through [`Journey::check`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JourneyDoc {
    key: JourneyKey,
    name: Text,
    channel: Channel,
    #[serde(default)]
    extends: Option<JourneyKey>,
    moments: Vec<Moment>,
    /// The survey form's heading of each stage, in the customer's words (optional).
    #[serde(default)]
    sections: BTreeMap<Stage, Text>,
    /// The house of quality's edits and its stage-2/3 columns (optional).
    #[serde(default)]
    qfd: QfdSection,
}

/// A journey whose moments, needs and standards are known to be well formed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Journey {
    key: JourneyKey,
    name: Text,
    channel: Channel,
    extends: Option<JourneyKey>,
    moments: Vec<Moment>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    sections: BTreeMap<Stage, Text>,
    #[serde(skip_serializing_if = "QfdSection::is_empty")]
    qfd: QfdSection,
}

/// One problem in a journey document, located by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JourneyError {
    #[error("{}", join(.0))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Governance(#[from] Box<GovernanceError>),
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl JourneyError {
    /// A single problem at `path`, for checks made outside this module (e.g. a missing parent).
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        JourneyError::Invalid(vec![FieldError {
            path: path.into(),
            message: message.into(),
        }])
    }
}

/// A journey that extends another broke the governance rule of the study
/// (允许增加关键时刻但不能减少): it may add moments and add or tighten standards,
/// but must keep every moment and standard of its parent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct GovernanceError {
    pub journey: JourneyKey,
    pub parent: JourneyKey,
    /// Parent moments the journey drops.
    pub missing_moments: Vec<MomentKey>,
    /// Parent moments kept but moved out of the parent's order.
    pub reordered_moments: Vec<MomentKey>,
    /// Parent standards dropped, as `moment.standard`.
    pub missing_standards: Vec<String>,
    /// Parent thresholds made looser or removed, with the two values.
    pub loosened_standards: Vec<String>,
    /// Dimension tags of the parent a kept moment, need or standard no longer carries,
    /// as `moment (dims)`, `moment.core_needs.need (dims)` or `moment.standards.std (dims)`.
    pub dropped_dimensions: Vec<String>,
}

impl fmt::Display for GovernanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| v.join(", ");
        let keys = |v: &[MomentKey]| v.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !self.missing_moments.is_empty() {
            parts.push(format!("drops moments {}", keys(&self.missing_moments)));
        }
        if !self.reordered_moments.is_empty() {
            parts.push(format!(
                "changes the order of moments {}",
                keys(&self.reordered_moments)
            ));
        }
        if !self.missing_standards.is_empty() {
            parts.push(format!("drops standards {}", list(&self.missing_standards)));
        }
        if !self.loosened_standards.is_empty() {
            parts.push(format!(
                "loosens standards {}",
                list(&self.loosened_standards)
            ));
        }
        if !self.dropped_dimensions.is_empty() {
            parts.push(format!(
                "drops dimension tags {}",
                list(&self.dropped_dimensions)
            ));
        }
        write!(
            f,
            "journey `{}` extends `{}` but {} (a journey may add moments and add or tighten standards, never remove or loosen them)",
            self.journey,
            self.parent,
            parts.join("; ")
        )
    }
}

impl Journey {
    /// Parses a journey from the JSON file format (see `docs/journey-format.md`).
    pub fn from_json(input: &str) -> Result<Journey, JourneyError> {
        let de = &mut serde_json::Deserializer::from_str(input);
        let doc: JourneyDoc =
            serde_path_to_error::deserialize(de).map_err(|e| path_error(e.path(), e.inner()))?;
        Journey::check(doc)
    }

    /// Parses a journey from YAML with the same structure as the JSON format.
    pub fn from_yaml(input: &str) -> Result<Journey, JourneyError> {
        let de = yaml_serde::Deserializer::from_str(input);
        let doc: JourneyDoc =
            serde_path_to_error::deserialize(de).map_err(|e| path_error(e.path(), e.inner()))?;
        Journey::check(doc)
    }

    /// Parses either format: JSON when the first non-blank character is `{`.
    pub fn from_str_any(input: &str) -> Result<Journey, JourneyError> {
        if input.trim_start().starts_with('{') {
            Journey::from_json(input)
        } else {
            Journey::from_yaml(input)
        }
    }

    pub fn to_json_pretty(&self) -> String {
        // A journey is plain data (strings, finite numbers, enums): serialising cannot fail.
        serde_json::to_string_pretty(self).expect("journey serialises to JSON")
    }

    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(self).expect("journey serialises to YAML")
    }

    fn check(doc: JourneyDoc) -> Result<Journey, JourneyError> {
        let mut errors = Vec::new();
        let mut err = |path: String, message: String| errors.push(FieldError { path, message });
        if doc.moments.is_empty() {
            err(
                "moments".into(),
                "a journey needs at least one moment".into(),
            );
        }
        if doc.extends.as_ref() == Some(&doc.key) {
            err(
                "extends".into(),
                format!("journey `{}` cannot extend itself", doc.key),
            );
        }
        let mut moment_keys = HashMap::new();
        let mut standard_keys: HashMap<&StandardKey, String> = HashMap::new();
        for (i, m) in doc.moments.iter().enumerate() {
            let at = format!("moments[{i}]");
            if let Some(first) = moment_keys.insert(&m.key, i) {
                err(
                    format!("{at}.key"),
                    format!("duplicate moment key `{}` (also moments[{first}])", m.key),
                );
            }
            if let Some(v) = m.importance
                && !(1.0..=10.0).contains(&v)
            {
                err(
                    format!("{at}.importance"),
                    format!("{v} is outside the 1–10 rating scale"),
                );
            }
            duplicate_dimensions(&at, &m.dimensions, &mut err);
            let mut need_keys = HashSet::new();
            for (j, n) in m.core_needs.iter().enumerate() {
                if !need_keys.insert(&n.key) {
                    err(
                        format!("{at}.core_needs[{j}].key"),
                        format!("duplicate need key `{}` in moment `{}`", n.key, m.key),
                    );
                }
                duplicate_dimensions(&format!("{at}.core_needs[{j}]"), &n.dimensions, &mut err);
            }
            for (j, s) in m.standards.iter().enumerate() {
                let path = format!("{at}.standards[{j}]");
                duplicate_dimensions(&path, &s.dimensions, &mut err);
                if let Some(first) = standard_keys.insert(&s.key, path.clone()) {
                    err(
                        format!("{path}.key"),
                        format!("duplicate standard key `{}` (also {first})", s.key),
                    );
                }
                if let Some(c) = &s.check
                    && c.by.is_empty()
                    && c.auto.is_none()
                {
                    err(
                        format!("{path}.check.by"),
                        "a check needs someone to make it (self, walk, mystery, inspection, monitoring) or an automatic check".into(),
                    );
                }
                if let Some(t) = &s.threshold
                    && !(t.value.is_finite() && t.value >= 0.0)
                {
                    err(
                        format!("{path}.threshold.value"),
                        format!("{} is not a finite number ≥ 0", t.value),
                    );
                }
            }
        }
        for e in crate::qfd::section_problems(&doc.qfd, &doc.moments, doc.extends.is_some()) {
            err(e.field, e.reason);
        }
        if !errors.is_empty() {
            return Err(JourneyError::Invalid(errors));
        }
        Ok(Journey {
            key: doc.key,
            name: doc.name,
            channel: doc.channel,
            extends: doc.extends,
            moments: doc.moments,
            sections: doc.sections,
            qfd: doc.qfd,
        })
    }

    pub fn key(&self) -> &JourneyKey {
        &self.key
    }

    pub fn name(&self) -> &Text {
        &self.name
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Whether the journey's moments are those of a call (its channel is the phone):
    /// only such a journey's standards can be judged from a recorded call.
    pub fn has_call_moments(&self) -> bool {
        self.channel == Channel::Phone
    }

    pub fn extends(&self) -> Option<&JourneyKey> {
        self.extends.as_ref()
    }

    /// Moments in journey order.
    pub fn moments(&self) -> &[Moment] {
        &self.moments
    }

    /// The survey form's heading of a stage: the journey's own wording, else the
    /// generic customer heading (never the flows' staff names).
    pub fn section_heading(&self, stage: Stage) -> (&str, &str) {
        match self.sections.get(&stage) {
            Some(t) => (t.zh.as_str(), t.en.as_str()),
            None => stage.customer_heading(),
        }
    }

    /// The `qfd` section: stage-2/3 columns and the edits of each house (empty when the
    /// file has none). A region's section holds only its own additions until
    /// [`Journey::inherit_qfd`] merges its parent's.
    pub fn qfd(&self) -> &QfdSection {
        &self.qfd
    }

    /// Replaces the `qfd` section (a director's edit of the house), checked against this
    /// journey's moments and needs; a region's section may still name its parent's
    /// process elements and quality parameters.
    pub fn set_qfd(&mut self, section: QfdSection) -> Result<(), JourneyError> {
        let problems =
            crate::qfd::section_problems(&section, &self.moments, self.extends.is_some());
        if !problems.is_empty() {
            return Err(qfd_invalid(problems));
        }
        self.qfd = section;
        Ok(())
    }

    /// Merges the parent's `qfd` section under this region's ([`QfdSection::inherit`]: the
    /// region adds process elements, parameters and cells and may override an inherited
    /// cell, never remove one; the parent's cells of a need the region dropped go), then
    /// checks the merged section in full, now that every key it may name is known.
    /// Call it on the way to the effective journey, parent first (the chain's top down).
    pub fn inherit_qfd(&mut self, parent: &Journey) -> Result<(), JourneyError> {
        let needs: HashSet<String> = self
            .moments
            .iter()
            .flat_map(|m| {
                m.core_needs
                    .iter()
                    .map(move |n| format!("{}.{}", m.key, n.key))
            })
            .collect();
        self.qfd.inherit(&parent.qfd, |row| needs.contains(row));
        let problems = crate::qfd::section_problems(&self.qfd, &self.moments, false);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(qfd_invalid(problems))
        }
    }

    pub fn moment(&self, key: &MomentKey) -> Option<&Moment> {
        self.moments.iter().find(|m| &m.key == key)
    }

    /// The end (终) of the peak-end rule: structurally the last moment of the journey.
    pub fn end(&self) -> &Moment {
        self.moments
            .last()
            .expect("a checked journey has at least one moment")
    }

    /// All standards with the moment they belong to, in journey order.
    pub fn standards(&self) -> impl Iterator<Item = (&Moment, &Standard)> {
        self.moments
            .iter()
            .flat_map(|m| m.standards.iter().map(move |s| (m, s)))
    }

    /// The threshold of a standard by key, e.g. `care_after`; rules read their limits here.
    pub fn threshold(&self, key: &str) -> Option<&Threshold> {
        self.standards()
            .find(|(_, s)| s.key.as_str() == key)
            .and_then(|(_, s)| s.threshold.as_ref())
    }

    /// Mean of the prior importances that are given.
    pub fn mean_prior_importance(&self) -> Option<f64> {
        let given: Vec<f64> = self.moments.iter().filter_map(|m| m.importance).collect();
        (!given.is_empty()).then(|| given.iter().sum::<f64>() / given.len() as f64)
    }

    /// The peaks by prior importance (above mean + 1 sample sd), highest first.
    pub fn prior_peaks(&self) -> Vec<&Moment> {
        let with_prior: Vec<&Moment> = self
            .moments
            .iter()
            .filter(|m| m.importance.is_some())
            .collect();
        let values: Vec<f64> = with_prior.iter().filter_map(|m| m.importance).collect();
        crate::peak::peaks_above_sd(&values, 1.0)
            .into_iter()
            .map(|i| with_prior[i])
            .collect()
    }

    /// Gives every standard that has no check of its own its parent's check: a region's
    /// journey inherits the checks and states only those it tightens. It inherits the
    /// dimension tags the same way ([`Journey::inherit_dimensions`]), so that every
    /// caller that prepares a region's journey for [`Journey::check_extends`] gets both.
    pub fn inherit_checks(&mut self, parent: &Journey) {
        self.inherit_dimensions(parent);
        self.inherit_wording(parent);
        let theirs: HashMap<(&MomentKey, &StandardKey), &crate::audit::Check> = parent
            .standards()
            .filter_map(|(m, s)| s.check.as_ref().map(|c| ((&m.key, &s.key), c)))
            .collect();
        for m in &mut self.moments {
            for s in &mut m.standards {
                if s.check.is_none()
                    && let Some(c) = theirs.get(&(&m.key, &s.key))
                {
                    s.check = Some((*c).clone());
                }
            }
        }
    }

    /// Gives each moment the standards its parent has there and it lacks, after its own.
    /// A region's file names every standard of its parent when it is imported (the
    /// governance rule refuses one that drops any), so a standard missing later is one
    /// the parent gained since — a built-in journey upgraded with a new release — and the
    /// region lives by it too rather than stopping the upgrade.
    pub fn inherit_standards(&mut self, parent: &Journey) {
        let own: std::collections::HashSet<StandardKey> =
            self.standards().map(|(_, s)| s.key.clone()).collect();
        for m in &mut self.moments {
            let Some(pm) = parent.moment(&m.key) else {
                continue;
            };
            for s in &pm.standards {
                if !own.contains(&s.key) {
                    m.standards.push(s.clone());
                }
            }
        }
    }

    /// Gives every moment without a customer question its parent's, and the journey the
    /// parent's section headings it does not word itself: a region words only what differs.
    pub fn inherit_wording(&mut self, parent: &Journey) {
        for m in &mut self.moments {
            if m.question.is_none()
                && let Some(pm) = parent.moment(&m.key)
            {
                m.question = pm.question.clone();
            }
        }
        for (stage, text) in &parent.sections {
            self.sections.entry(*stage).or_insert_with(|| text.clone());
        }
    }

    /// Gives every moment, need and standard that lists no dimensions those of the same
    /// moment, need or standard of the parent: a region states tags only to add some.
    pub fn inherit_dimensions(&mut self, parent: &Journey) {
        for m in &mut self.moments {
            let Some(pm) = parent.moment(&m.key) else {
                continue;
            };
            if m.dimensions.is_empty() {
                m.dimensions = pm.dimensions.clone();
            }
            for n in &mut m.core_needs {
                if n.dimensions.is_empty()
                    && let Some(pn) = pm.core_needs.iter().find(|p| p.key == n.key)
                {
                    n.dimensions = pn.dimensions.clone();
                }
            }
            for s in &mut m.standards {
                if s.dimensions.is_empty()
                    && let Some(ps) = pm.standards.iter().find(|p| p.key == s.key)
                {
                    s.dimensions = ps.dimensions.clone();
                }
            }
        }
    }

    /// The standard of a key with its moment.
    pub fn standard(&self, key: &str) -> Option<(&Moment, &Standard)> {
        self.standards().find(|(_, s)| s.key.as_str() == key)
    }

    /// Applies the governance rule against the parent this journey extends.
    pub fn check_extends(&self, parent: &Journey) -> Result<(), Box<GovernanceError>> {
        let position: HashMap<&MomentKey, usize> = self
            .moments
            .iter()
            .enumerate()
            .map(|(i, m)| (&m.key, i))
            .collect();
        let missing_moments: Vec<MomentKey> = parent
            .moments
            .iter()
            .filter(|m| !position.contains_key(&m.key))
            .map(|m| m.key.clone())
            .collect();

        // Kept parent moments must appear in the parent's relative order.
        let mut reordered_moments = Vec::new();
        let mut last = None;
        for m in &parent.moments {
            if let Some(&p) = position.get(&m.key) {
                if last.is_some_and(|l| p < l) {
                    reordered_moments.push(m.key.clone());
                } else {
                    last = Some(p);
                }
            }
        }

        let own: BTreeMap<(&MomentKey, &StandardKey), &Standard> = self
            .standards()
            .map(|(m, s)| ((&m.key, &s.key), s))
            .collect();
        let mut missing_standards = Vec::new();
        let mut loosened_standards = Vec::new();
        for (m, s) in parent.standards() {
            if !position.contains_key(&m.key) {
                continue; // already reported as a missing moment
            }
            match own.get(&(&m.key, &s.key)) {
                None => missing_standards.push(format!("{}.{}", m.key, s.key)),
                Some(mine) => match (&s.threshold, &mine.threshold) {
                    (Some(theirs), Some(ours)) if !ours.at_least_as_strict_as(theirs) => {
                        loosened_standards.push(format!("{}.{} ({ours} vs {theirs})", m.key, s.key))
                    }
                    (Some(theirs), None) => loosened_standards
                        .push(format!("{}.{} (threshold {theirs} removed)", m.key, s.key)),
                    _ => match (&s.check, &mine.check) {
                        (Some(theirs), Some(ours)) if !ours.tightens(theirs) => loosened_standards
                            .push(format!(
                                "{}.{} (check `{}` vs `{}`)",
                                m.key, s.key, ours.verify, theirs.verify
                            )),
                        (Some(_), None) => {
                            loosened_standards.push(format!("{}.{} (check removed)", m.key, s.key))
                        }
                        _ => {}
                    },
                },
            }
        }

        let mut dropped_dimensions = Vec::new();
        let mut dropped = |at: String, theirs: &[Dimension], ours: &[Dimension]| {
            let gone: Vec<&str> = theirs
                .iter()
                .filter(|d| !ours.contains(d))
                .map(|d| d.key())
                .collect();
            if !gone.is_empty() {
                dropped_dimensions.push(format!("{at} ({})", gone.join(", ")));
            }
        };
        for pm in &parent.moments {
            let Some(m) = self.moment(&pm.key) else {
                continue; // already reported as a missing moment
            };
            dropped(pm.key.to_string(), &pm.dimensions, &m.dimensions);
            for pn in &pm.core_needs {
                // Needs are not under the rule; a need kept keeps its tags.
                if let Some(n) = m.core_needs.iter().find(|n| n.key == pn.key) {
                    dropped(
                        format!("{}.core_needs.{}", pm.key, pn.key),
                        &pn.dimensions,
                        &n.dimensions,
                    );
                }
            }
            for ps in &pm.standards {
                if let Some(s) = m.standards.iter().find(|s| s.key == ps.key) {
                    dropped(
                        format!("{}.standards.{}", pm.key, ps.key),
                        &ps.dimensions,
                        &s.dimensions,
                    );
                }
            }
        }

        if missing_moments.is_empty()
            && reordered_moments.is_empty()
            && missing_standards.is_empty()
            && loosened_standards.is_empty()
            && dropped_dimensions.is_empty()
        {
            Ok(())
        } else {
            Err(Box::new(GovernanceError {
                journey: self.key.clone(),
                parent: parent.key.clone(),
                missing_moments,
                reordered_moments,
                missing_standards,
                loosened_standards,
                dropped_dimensions,
            }))
        }
    }
}

fn qfd_invalid(problems: Vec<crate::qfd::QfdError>) -> JourneyError {
    JourneyError::Invalid(
        problems
            .into_iter()
            .map(|e| FieldError {
                path: e.field,
                message: e.reason,
            })
            .collect(),
    )
}

/// Reports a dimension listed twice at `{at}.dimensions[i]`: a repeat would count a
/// moment twice in that dimension's score.
fn duplicate_dimensions(at: &str, dims: &[Dimension], err: &mut impl FnMut(String, String)) {
    for (i, d) in dims.iter().enumerate() {
        if let Some(first) = dims[..i].iter().position(|e| e == d) {
            err(
                format!("{at}.dimensions[{i}]"),
                format!("duplicate dimension `{d}` (also {at}.dimensions[{first}])"),
            );
        }
    }
}

/// Turns a serde error at a path into a `FieldError` whose path reads like
/// `moments[3].stage` (serde_path_to_error writes `.` for the root).
fn path_error(path: &serde_path_to_error::Path, inner: &impl fmt::Display) -> JourneyError {
    let path = path.to_string();
    let path = if path == "." { String::new() } else { path };
    // The YAML deserializer already starts its message with the path (without the
    // index of a list item, e.g. `moments[0].dimensions`); say it once.
    let message = inner.to_string();
    let message = match message.split_once(": ") {
        Some((head, rest)) if !head.is_empty() && path.starts_with(head) => rest.to_owned(),
        _ => message,
    };
    JourneyError::field(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(moments: &str) -> String {
        format!(
            r#"{{"key":"t","name":{{"zh":"测试","en":"Test"}},"channel":"face_to_face","extends":null,"moments":[{moments}]}}"#
        )
    }

    fn moment(key: &str) -> String {
        format!(r#"{{"key":"{key}","name":{{"zh":"时刻","en":"Moment"}},"stage":"customer_flow"}}"#)
    }

    fn message(r: Result<Journey, JourneyError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn bad_stage_is_named_by_path() {
        let bad = doc(&format!(
            "{},{},{},{}",
            moment("a"),
            moment("b"),
            moment("c"),
            r#"{"key":"d","name":{"zh":"时刻","en":"Moment"},"stage":"lobby"}"#
        ));
        let msg = message(Journey::from_json(&bad));
        assert!(
            msg.starts_with("moments[3].stage: unknown variant `lobby`"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_field_is_named_by_path() {
        let bad = doc(
            r#"{"key":"a","name":{"zh":"时刻","en":"M"},"stage":"people_flow","colour":"red"}"#,
        );
        let msg = message(Journey::from_json(&bad));
        assert!(
            msg.contains("moments[0]") && msg.contains("unknown field `colour`"),
            "{msg}"
        );
    }

    #[test]
    fn missing_name_is_an_error() {
        let bad = doc(r#"{"key":"a","stage":"people_flow"}"#);
        let msg = message(Journey::from_json(&bad));
        assert!(
            msg.contains("moments[0]") && msg.contains("missing field `name`"),
            "{msg}"
        );
        let blank = doc(r#"{"key":"a","name":{"zh":"时刻","en":""},"stage":"people_flow"}"#);
        let msg = message(Journey::from_json(&blank));
        assert!(msg.starts_with("moments[0].name: `en` is empty"), "{msg}");
    }

    #[test]
    fn unknown_owner_is_named_by_path() {
        let bad = doc(
            r#"{"key":"a","name":{"zh":"时刻","en":"M"},"stage":"people_flow",
               "standards":[{"key":"s","text":{"zh":"标准","en":"Std"},"owner":"boss"}]}"#,
        );
        let msg = message(Journey::from_json(&bad));
        assert!(
            msg.starts_with("moments[0].standards[0].owner: unknown variant `boss`"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_moment_keys_are_reported_with_both_positions() {
        let bad = doc(&format!("{},{},{}", moment("a"), moment("b"), moment("a")));
        let msg = message(Journey::from_json(&bad));
        assert_eq!(
            msg,
            "moments[2].key: duplicate moment key `a` (also moments[0])"
        );
    }

    #[test]
    fn every_semantic_problem_is_reported() {
        let bad = doc(
            r#"{"key":"a","name":{"zh":"时刻","en":"M"},"stage":"people_flow","importance":11,
               "standards":[{"key":"s","text":{"zh":"标准","en":"S"},"owner":"cleaner"},
                            {"key":"s","text":{"zh":"标准","en":"S"},"owner":"cleaner"}]}"#,
        );
        let Err(JourneyError::Invalid(errors)) = Journey::from_json(&bad) else {
            panic!()
        };
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["moments[0].importance", "moments[0].standards[1].key"]
        );
    }

    #[test]
    fn empty_journey_is_rejected() {
        assert_eq!(
            message(Journey::from_json(&doc(""))),
            "moments: a journey needs at least one moment"
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let msg = message(Journey::from_json("{\"key\": "));
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn yaml_and_json_parse_alike() {
        let yaml = "key: t\nname: {zh: 测试, en: Test}\nchannel: phone\nmoments:\n  - key: a\n    name: {zh: 时刻, en: Moment}\n    stage: business_flow\n    importance: 8.5\n";
        let j = Journey::from_yaml(yaml).unwrap();
        assert_eq!(j.channel(), Channel::Phone);
        assert_eq!(Journey::from_json(&j.to_json_pretty()).unwrap(), j);
        assert_eq!(Journey::from_yaml(&j.to_yaml()).unwrap(), j);
        let bad = yaml.replace("business_flow", "lobby");
        assert!(message(Journey::from_yaml(&bad)).starts_with("moments[0].stage: unknown variant"));
    }

    fn with_standard(key: &str, threshold: &str) -> String {
        format!(
            r#"{{"key":"q","name":{{"zh":"排队","en":"Queue"}},"stage":"business_flow",
                "standards":[{{"key":"{key}","text":{{"zh":"关怀","en":"Care"}},"owner":"floor_walker","threshold":{threshold}}}]}}"#
        )
    }

    fn parent() -> Journey {
        Journey::from_json(&doc(&format!(
            "{},{},{}",
            moment("a"),
            with_standard("care_after", r#"{"value":15,"unit":"min"}"#),
            moment("z")
        )))
        .unwrap()
    }

    fn child(moments: &str) -> Journey {
        let d = doc(moments).replace(r#""key":"t""#, r#""key":"child""#);
        Journey::from_json(&d.replace(r#""extends":null"#, r#""extends":"t""#)).unwrap()
    }

    #[test]
    fn child_may_add_moments_and_tighten() {
        let c = child(&format!(
            "{},{},{},{}",
            moment("a"),
            moment("new"),
            with_standard("care_after", r#"{"value":10,"unit":"min","bound":"max"}"#),
            moment("z")
        ));
        assert_eq!(c.check_extends(&parent()), Ok(()));
    }

    #[test]
    fn child_dropping_a_moment_names_it() {
        let c = child(&format!(
            "{},{}",
            moment("a"),
            with_standard("care_after", r#"{"value":15,"unit":"min"}"#)
        ));
        let err = c.check_extends(&parent()).unwrap_err();
        assert_eq!(err.missing_moments, [MomentKey::parse("z").unwrap()]);
        assert!(err.to_string().contains("drops moments z"), "{err}");
    }

    #[test]
    fn child_loosening_or_dropping_a_standard_is_rejected() {
        let loose = child(&format!(
            "{},{},{}",
            moment("a"),
            with_standard("care_after", r#"{"value":20,"unit":"min"}"#),
            moment("z")
        ));
        let err = loose.check_extends(&parent()).unwrap_err();
        assert_eq!(
            err.loosened_standards,
            ["q.care_after (≤ 20 min vs ≤ 15 min)"]
        );
        let dropped = child(&format!("{},{},{}", moment("a"), moment("q"), moment("z")));
        let err = dropped.check_extends(&parent()).unwrap_err();
        assert_eq!(err.missing_standards, ["q.care_after"]);
    }

    #[test]
    fn child_reordering_parent_moments_is_rejected() {
        let c = child(&format!(
            "{},{},{}",
            moment("z"),
            moment("a"),
            with_standard("care_after", r#"{"value":15,"unit":"min"}"#)
        ));
        let err = c.check_extends(&parent()).unwrap_err();
        assert!(!err.reordered_moments.is_empty());
    }

    fn with_check(check: &str) -> String {
        format!(
            r#"{{"key":"q","name":{{"zh":"排队","en":"Queue"}},"stage":"business_flow",
                "standards":[{{"key":"care_after","text":{{"zh":"关怀","en":"Care"}},"owner":"floor_walker",
                  "threshold":{{"value":15,"unit":"min"}},"check":{check}}}]}}"#
        )
    }

    #[test]
    fn a_region_inherits_checks_and_may_only_tighten_them() {
        let base = r#"{"verify":"duration_max 300","by":["walk","mystery"],"every":"day","auto":"care_in_time"}"#;
        let parent = Journey::from_json(&doc(&format!(
            "{},{},{}",
            moment("a"),
            with_check(base),
            moment("z")
        )))
        .unwrap();
        // No check stated: the parent's is inherited, and that passes.
        let mut silent = child(&format!(
            "{},{},{}",
            moment("a"),
            with_standard("care_after", r#"{"value":15,"unit":"min"}"#),
            moment("z")
        ));
        assert!(silent.check_extends(&parent).is_err(), "a check removed");
        silent.inherit_checks(&parent);
        assert_eq!(silent.check_extends(&parent), Ok(()));
        assert_eq!(silent.threshold("care_after").map(|t| t.value), Some(15.0));
        let tighter = child(&format!(
            "{},{},{}",
            moment("a"),
            with_check(
                r#"{"verify":"duration_max 120","by":["walk","mystery","self"],"every":"day","auto":"care_in_time"}"#
            ),
            moment("z")
        ));
        assert_eq!(tighter.check_extends(&parent), Ok(()));
        for looser in [
            r#"{"verify":"duration_max 600","by":["walk","mystery"],"every":"day","auto":"care_in_time"}"#,
            r#"{"verify":"duration_max 300","by":["walk"],"every":"day","auto":"care_in_time"}"#,
            r#"{"verify":"duration_max 300","by":["walk","mystery"],"every":"month","auto":"care_in_time"}"#,
            r#"{"verify":"duration_max 300","by":["walk","mystery"],"every":"day"}"#,
            r#"{"verify":"yes_no","by":["walk","mystery"],"every":"day","auto":"care_in_time"}"#,
        ] {
            let c = child(&format!(
                "{},{},{}",
                moment("a"),
                with_check(looser),
                moment("z")
            ));
            let err = c.check_extends(&parent).unwrap_err();
            assert_eq!(err.loosened_standards.len(), 1, "{looser}: {err}");
            assert!(err.loosened_standards[0].contains("check"), "{err}");
        }
    }

    #[test]
    fn a_check_needs_a_checker_and_a_method_it_can_read() {
        let nobody = doc(&with_check(r#"{"verify":"yes_no","every":"day"}"#));
        let msg = message(Journey::from_json(&nobody));
        assert!(
            msg.starts_with("moments[0].standards[0].check.by:"),
            "{msg}"
        );
        let bad = doc(&with_check(
            r#"{"verify":"count_max lots","by":["walk"],"every":"day"}"#,
        ));
        let msg = message(Journey::from_json(&bad));
        assert!(
            msg.contains("moments[0].standards[0].check.verify") && msg.contains("not a number"),
            "{msg}"
        );
        let auto_only = doc(&with_check(
            r#"{"verify":"duration_max 150","every":"day","auto":"system_time"}"#,
        ));
        assert!(Journey::from_json(&auto_only).is_ok());
    }

    fn tagged(key: &str, dims: &str) -> String {
        format!(
            r#"{{"key":"{key}","name":{{"zh":"时刻","en":"Moment"}},"stage":"customer_flow","dimensions":{dims}}}"#
        )
    }

    #[test]
    fn an_unknown_dimension_is_named_by_path() {
        let bad = doc(&format!(
            "{},{},{},{}",
            moment("a"),
            moment("b"),
            moment("c"),
            tagged("d", r#"["efficiency","speed"]"#)
        ));
        let msg = message(Journey::from_json(&bad));
        assert!(
            msg.starts_with(
                "moments[3].dimensions[1]: unknown dimension `speed` (expected an experience dimension: efficiency, knowledge, control, emotion, attention, trust; or a SERVQUAL dimension: tangibles, reliability, responsiveness, assurance, empathy)"
            ),
            "{msg}"
        );
        let yaml = "key: t\nname: {zh: 测试, en: Test}\nchannel: phone\nmoments:\n  - key: a\n    name: {zh: 时刻, en: Moment}\n    stage: business_flow\n    standards:\n      - key: s\n        text: {zh: 标准, en: Std}\n        owner: frontline\n        dimensions: [trust, 效率]\n";
        let msg = message(Journey::from_yaml(yaml));
        assert!(
            msg.starts_with("moments[0].standards[0].dimensions[1]: unknown dimension `效率`"),
            "{msg}"
        );
    }

    #[test]
    fn a_dimension_listed_twice_is_reported() {
        let bad = doc(&tagged("a", r#"["trust","empathy","trust"]"#));
        assert_eq!(
            message(Journey::from_json(&bad)),
            "moments[0].dimensions[2]: duplicate dimension `trust` (also moments[0].dimensions[0])"
        );
    }

    #[test]
    fn dimensions_round_trip_and_are_optional() {
        let j = Journey::from_json(&doc(&format!(
            "{},{}",
            tagged("a", r#"["efficiency","responsiveness"]"#),
            moment("b")
        )))
        .unwrap();
        assert_eq!(
            j.moments()[0].dimensions,
            [Dimension::Efficiency, Dimension::Responsiveness]
        );
        assert!(j.moments()[1].dimensions.is_empty());
        let json = j.to_json_pretty();
        assert!(json.contains(r#""dimensions": ["#), "{json}");
        assert_eq!(
            json.matches("\"dimensions\"").count(),
            1,
            "none written when empty"
        );
        assert_eq!(Journey::from_json(&json).unwrap(), j);
        assert_eq!(Journey::from_yaml(&j.to_yaml()).unwrap(), j);
    }

    #[test]
    fn dimensions_have_a_family_and_both_labels() {
        assert_eq!(Dimension::ALL.len(), 11);
        let families: Vec<_> = Dimension::ALL.iter().map(|d| d.family()).collect();
        assert_eq!(
            families
                .iter()
                .filter(|f| **f == DimensionFamily::Experience)
                .count(),
            6
        );
        assert_eq!(Dimension::Control.name(), ("控制", "Control"));
        assert_eq!(Dimension::Attention.name(), ("关注", "Attention"));
        assert_eq!(Dimension::Empathy.family(), DimensionFamily::Servqual);
        for d in Dimension::ALL {
            assert_eq!(Dimension::parse(d.key()), Ok(d));
        }
    }

    fn tagged_parent() -> Journey {
        Journey::from_json(&doc(&format!(
            "{},{}",
            tagged("a", r#"["efficiency","responsiveness"]"#),
            r#"{"key":"q","name":{"zh":"排队","en":"Queue"},"stage":"business_flow",
                "core_needs":[{"key":"short","text":{"zh":"短","en":"Short"},"dimensions":["efficiency"]}],
                "standards":[{"key":"care_after","text":{"zh":"关怀","en":"Care"},"owner":"floor_walker","dimensions":["empathy"]}]}"#
        )))
        .unwrap()
    }

    #[test]
    fn a_region_inherits_tags_and_may_add_but_not_drop_them() {
        let parent = tagged_parent();
        let q = |need: &str, standard: &str| {
            format!(
                r#"{{"key":"q","name":{{"zh":"排队","en":"Queue"}},"stage":"business_flow",
                    "core_needs":[{{"key":"short","text":{{"zh":"短","en":"Short"}}{need}}}],
                    "standards":[{{"key":"care_after","text":{{"zh":"关怀","en":"Care"}},"owner":"floor_walker"{standard}}}]}}"#
            )
        };
        // Silent: inherits every tag, and passes.
        let mut silent = child(&format!("{},{}", moment("a"), q("", "")));
        silent.inherit_checks(&parent);
        assert_eq!(silent.check_extends(&parent), Ok(()));
        assert_eq!(
            silent.moments()[1].standards[0].dimensions,
            [Dimension::Empathy]
        );
        assert_eq!(
            silent.moments()[1].core_needs[0].dimensions,
            [Dimension::Efficiency]
        );
        // Adding tags passes.
        let mut more = child(&format!(
            "{},{}",
            tagged("a", r#"["responsiveness","efficiency","control"]"#),
            q("", r#","dimensions":["empathy","attention"]"#)
        ));
        more.inherit_checks(&parent);
        assert_eq!(more.check_extends(&parent), Ok(()));
        // Restating fewer is refused, naming what goes.
        let mut fewer = child(&format!(
            "{},{}",
            tagged("a", r#"["control"]"#),
            q(
                r#","dimensions":["trust"]"#,
                r#","dimensions":["attention"]"#
            )
        ));
        fewer.inherit_checks(&parent);
        let err = fewer.check_extends(&parent).unwrap_err();
        assert_eq!(
            err.dropped_dimensions,
            [
                "a (efficiency, responsiveness)",
                "q.core_needs.short (efficiency)",
                "q.standards.care_after (empathy)"
            ]
        );
        assert!(
            err.to_string()
                .contains("drops dimension tags a (efficiency, responsiveness)"),
            "{err}"
        );
    }

    #[test]
    fn thresholds_compare_by_bound() {
        let min = |v| Threshold {
            value: v,
            unit: Unit::CharsPerMinute,
            bound: Bound::Min,
        };
        assert!(min(50.0).at_least_as_strict_as(&min(40.0)));
        assert!(!min(30.0).at_least_as_strict_as(&min(40.0)));
        assert!(min(40.0).complies(41.0));
        let max = Threshold {
            value: 15.0,
            unit: Unit::Minutes,
            bound: Bound::Max,
        };
        assert!(!max.at_least_as_strict_as(&min(15.0)));
        assert!(!max.complies(15.5));
    }
}
