//! Quality function deployment: the house of quality in the study's three stages.
//!
//! Stage 1 relates customer needs (rows) to service encounters, the journey's moments
//! (columns); stage 2 encounters to process elements; stage 3 process elements to
//! quality parameters. A column's technical importance is Σ row weight × relationship
//! (9 strong, 3 medium, 1 weak), and the column importances of one house are the row
//! weights of the next (`next_weights`, `cascade`).
//!
//! A `House` that exists is well formed: keys unique, every relationship and roof cell
//! names a known row and column, weights finite and not negative, strengths 9/3/1.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::Text;

/// One problem in a house, located by the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct QfdError {
    pub field: String,
    pub reason: String,
}

impl QfdError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        QfdError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A row's or column's name: bilingual like the journey's texts, or one plain string
/// (a quality parameter such as `ASA` often has no translation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Label {
    Text(Text),
    Plain(String),
}

impl Label {
    /// The label in the requested language; a plain label reads the same in both.
    pub fn get(&self, lang: &str) -> &str {
        match self {
            Label::Text(t) => t.get(lang),
            Label::Plain(s) => s,
        }
    }
}

/// Strength of a relationship cell, on the usual 9-3-1 scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strength {
    Strong,
    Medium,
    Weak,
}

impl Strength {
    pub fn value(self) -> f64 {
        match self {
            Strength::Strong => 9.0,
            Strength::Medium => 3.0,
            Strength::Weak => 1.0,
        }
    }

    /// 9/3/1, the words, or the symbols of Chinese QFD charts (◎ 强, ○ 中, △ 弱).
    /// `Ok(None)` is an explicit "no relationship" (0, blank).
    fn parse(raw: &RawStrength) -> Result<Option<Strength>, String> {
        match raw {
            RawStrength::Integer(n) => match *n {
                9 => Ok(Some(Strength::Strong)),
                3 => Ok(Some(Strength::Medium)),
                1 => Ok(Some(Strength::Weak)),
                0 => Ok(None),
                n => Err(format!("{n} is not a relationship strength ({STRENGTHS})")),
            },
            RawStrength::Number(n) if n.fract() == 0.0 && n.abs() <= 9.0 => {
                Strength::parse(&RawStrength::Integer(*n as i64))
            }
            RawStrength::Number(n) => {
                Err(format!("{n} is not a relationship strength ({STRENGTHS})"))
            }
            RawStrength::Text(s) => match s.trim().to_lowercase().as_str() {
                "9" | "strong" | "◎" | "●" | "强" => Ok(Some(Strength::Strong)),
                "3" | "medium" | "moderate" | "○" | "中" => Ok(Some(Strength::Medium)),
                "1" | "weak" | "△" | "▲" | "弱" => Ok(Some(Strength::Weak)),
                "0" | "" | "none" => Ok(None),
                _ => Err(format!(
                    "{s:?} is not a relationship strength ({STRENGTHS})"
                )),
            },
        }
    }
}

const STRENGTHS: &str = "9, 3, 1 or 0; strong, medium, weak; ◎, ○, △";

impl Serialize for Strength {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.value() as u8)
    }
}

impl<'de> Deserialize<'de> for Strength {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawStrength::deserialize(d)?;
        match Strength::parse(&raw) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(serde::de::Error::custom("0 is no relationship strength")),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawStrength {
    // Integers first, so a house written back out says 9, not 9.0.
    Integer(i64),
    Number(f64),
    Text(String),
}

/// A cell of the roof: how improving one column moves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Correlation {
    StrongPositive,
    Positive,
    Negative,
    StrongNegative,
}

impl Correlation {
    /// The name written in files and the API (`strong_positive`, …).
    pub fn name(self) -> &'static str {
        match self {
            Correlation::StrongPositive => "strong_positive",
            Correlation::Positive => "positive",
            Correlation::Negative => "negative",
            Correlation::StrongNegative => "strong_negative",
        }
    }

    /// The roof's mark: `++`, `+`, `−`, `−−`.
    pub fn symbol(self) -> &'static str {
        match self {
            Correlation::StrongPositive => "++",
            Correlation::Positive => "+",
            Correlation::Negative => "−",
            Correlation::StrongNegative => "−−",
        }
    }

    fn parse(s: &str) -> Result<Correlation, String> {
        match s.trim().to_lowercase().as_str() {
            "strong_positive" | "++" | "◎" => Ok(Correlation::StrongPositive),
            "positive" | "+" | "○" => Ok(Correlation::Positive),
            "negative" | "-" | "−" | "×" => Ok(Correlation::Negative),
            "strong_negative" | "--" | "−−" | "#" => Ok(Correlation::StrongNegative),
            _ => Err(format!(
                "{s:?} is not a correlation (strong_positive, positive, negative, \
                 strong_negative; ++, +, -, --)"
            )),
        }
    }
}

impl Serialize for Correlation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Correlation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Correlation::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Which way a column's value should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Improve {
    Up,
    Down,
    Target,
}

/// The competitive assessment of a row: our customers' satisfaction and a competitor's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Competitive {
    pub ours: f64,
    pub competitor: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub key: String,
    pub label: Label,
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competitive: Option<Competitive>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub key: String,
    pub label: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Improve>,
    /// Technical difficulty, 1 (easy) to 5 (hard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<u8>,
}

/// One relationship cell as written in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelationship {
    pub row: String,
    pub column: String,
    pub strength: RawStrength,
}

/// One roof cell as written in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoof {
    pub a: String,
    pub b: String,
    pub correlation: String,
}

/// A house as written in a journey file or sent to the API, before it is checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHouse {
    pub stage: u8,
    pub rows: Vec<Row>,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub relationships: Vec<RawRelationship>,
    #[serde(default)]
    pub roof: Vec<RawRoof>,
}

/// A checked house of quality. Relationships and roof are kept by row and column
/// position; the roof's pairs are stored with the earlier column first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawHouse", into = "RawHouse")]
pub struct House {
    stage: u8,
    rows: Vec<Row>,
    columns: Vec<Column>,
    relationships: BTreeMap<(usize, usize), Strength>,
    roof: BTreeMap<(usize, usize), Correlation>,
}

/// A column's importance in its house.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnImportance {
    pub key: String,
    /// Σ_i w_i · r_ij.
    pub absolute: f64,
    /// absolute / Σ absolute over the columns; 0 when every column is 0.
    pub relative: f64,
    /// 1 for the most important; ties share a rank (1, 2, 2, 4).
    pub rank: usize,
}

fn check_key(field: String, key: &str) -> Result<(), QfdError> {
    if key.trim().is_empty() {
        return Err(QfdError::new(field, "is empty"));
    }
    if key.trim() != key {
        return Err(QfdError::new(
            field,
            format!("{key:?} has leading or trailing spaces"),
        ));
    }
    Ok(())
}

fn check_label(field: String, label: &Label) -> Result<(), QfdError> {
    match label {
        Label::Plain(s) if s.trim().is_empty() => Err(QfdError::new(field, "is empty")),
        _ => Ok(()),
    }
}

fn check_finite(field: String, v: f64) -> Result<(), QfdError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(QfdError::new(field, format!("{v} is not a finite number")))
    }
}

fn index_of(
    keys: &HashMap<&str, usize>,
    key: &str,
    field: String,
    what: &str,
) -> Result<usize, QfdError> {
    keys.get(key)
        .copied()
        .ok_or_else(|| QfdError::new(field, format!("{key:?} is not a {what} of this house")))
}

impl TryFrom<RawHouse> for House {
    type Error = QfdError;

    fn try_from(raw: RawHouse) -> Result<House, QfdError> {
        if !(1..=3).contains(&raw.stage) {
            return Err(QfdError::new(
                "stage",
                format!("{} is not a stage (1, 2 or 3)", raw.stage),
            ));
        }
        let mut row_index = HashMap::new();
        for (i, row) in raw.rows.iter().enumerate() {
            check_key(format!("rows[{i}].key"), &row.key)?;
            if row_index.insert(row.key.as_str(), i).is_some() {
                return Err(QfdError::new(
                    format!("rows[{i}].key"),
                    format!("{:?} appears twice", row.key),
                ));
            }
            check_label(format!("rows[{i}].label"), &row.label)?;
            check_weight(format!("rows[{i}].weight"), row.weight)?;
            if let Some(c) = row.competitive {
                for (name, v) in [("ours", c.ours), ("competitor", c.competitor)] {
                    let field = format!("rows[{i}].competitive.{name}");
                    check_finite(field.clone(), v)?;
                    if v < 0.0 {
                        return Err(QfdError::new(field, format!("{v} is negative")));
                    }
                }
            }
        }
        let mut column_index = HashMap::new();
        for (j, column) in raw.columns.iter().enumerate() {
            check_key(format!("columns[{j}].key"), &column.key)?;
            if column_index.insert(column.key.as_str(), j).is_some() {
                return Err(QfdError::new(
                    format!("columns[{j}].key"),
                    format!("{:?} appears twice", column.key),
                ));
            }
            check_label(format!("columns[{j}].label"), &column.label)?;
            if let Some(t) = column.target {
                check_finite(format!("columns[{j}].target"), t)?;
            }
            check_difficulty(format!("columns[{j}].difficulty"), column.difficulty)?;
        }

        let mut relationships = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for (n, cell) in raw.relationships.iter().enumerate() {
            let i = index_of(
                &row_index,
                &cell.row,
                format!("relationships[{n}].row"),
                "row",
            )?;
            let j = index_of(
                &column_index,
                &cell.column,
                format!("relationships[{n}].column"),
                "column",
            )?;
            let strength = Strength::parse(&cell.strength)
                .map_err(|e| QfdError::new(format!("relationships[{n}].strength"), e))?;
            // An explicit 0 is a cell too: the same pair again is a duplicate.
            if !seen.insert((i, j)) {
                return Err(QfdError::new(
                    format!("relationships[{n}]"),
                    format!("{:?} × {:?} is given twice", cell.row, cell.column),
                ));
            }
            if let Some(s) = strength {
                relationships.insert((i, j), s);
            }
        }

        let mut roof = BTreeMap::new();
        for (n, cell) in raw.roof.iter().enumerate() {
            let a = index_of(&column_index, &cell.a, format!("roof[{n}].a"), "column")?;
            let b = index_of(&column_index, &cell.b, format!("roof[{n}].b"), "column")?;
            if a == b {
                return Err(QfdError::new(
                    format!("roof[{n}]"),
                    format!("{:?} is paired with itself", cell.a),
                ));
            }
            let correlation = Correlation::parse(&cell.correlation)
                .map_err(|e| QfdError::new(format!("roof[{n}].correlation"), e))?;
            // The roof is symmetric: a pair is one cell whichever way it is written.
            if roof.insert((a.min(b), a.max(b)), correlation).is_some() {
                return Err(QfdError::new(
                    format!("roof[{n}]"),
                    format!("{:?} and {:?} are given twice", cell.a, cell.b),
                ));
            }
        }

        Ok(House {
            stage: raw.stage,
            rows: raw.rows,
            columns: raw.columns,
            relationships,
            roof,
        })
    }
}

fn check_weight(field: String, w: f64) -> Result<(), QfdError> {
    check_finite(field.clone(), w)?;
    if w < 0.0 {
        return Err(QfdError::new(field, format!("{w} is negative")));
    }
    Ok(())
}

impl From<House> for RawHouse {
    fn from(h: House) -> RawHouse {
        let relationships = h
            .relationships
            .iter()
            .map(|(&(i, j), s)| RawRelationship {
                row: h.rows[i].key.clone(),
                column: h.columns[j].key.clone(),
                strength: RawStrength::Integer(s.value() as i64),
            })
            .collect();
        let roof = h
            .roof
            .iter()
            .map(|(&(a, b), c)| RawRoof {
                a: h.columns[a].key.clone(),
                b: h.columns[b].key.clone(),
                correlation: c.name().to_string(),
            })
            .collect();
        RawHouse {
            stage: h.stage,
            rows: h.rows,
            columns: h.columns,
            relationships,
            roof,
        }
    }
}

impl House {
    pub fn stage(&self) -> u8 {
        self.stage
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The cell at (row key, column key), if the two are related.
    pub fn relationship(&self, row: &str, column: &str) -> Option<Strength> {
        let i = self.rows.iter().position(|r| r.key == row)?;
        let j = self.columns.iter().position(|c| c.key == column)?;
        self.relationships.get(&(i, j)).copied()
    }

    /// The roof cell of two columns, in either order.
    pub fn correlation(&self, a: &str, b: &str) -> Option<Correlation> {
        let a = self.columns.iter().position(|c| c.key == a)?;
        let b = self.columns.iter().position(|c| c.key == b)?;
        self.roof.get(&(a.min(b), a.max(b))).copied()
    }

    /// Every related cell: (row key, column key, strength), rows then columns in order.
    pub fn cells(&self) -> impl Iterator<Item = (&str, &str, Strength)> {
        self.relationships
            .iter()
            .map(|(&(i, j), &s)| (self.rows[i].key.as_str(), self.columns[j].key.as_str(), s))
    }

    /// Every roof cell: (column key, column key, correlation), the earlier column first.
    pub fn roof_cells(&self) -> impl Iterator<Item = (&str, &str, Correlation)> {
        self.roof.iter().map(|(&(a, b), &c)| {
            (
                self.columns[a].key.as_str(),
                self.columns[b].key.as_str(),
                c,
            )
        })
    }

    /// Row weights divided by their sum (all 0 when they sum to 0).
    pub fn normalised_weights(&self) -> Vec<(String, f64)> {
        let total: f64 = self.rows.iter().map(|r| r.weight).sum();
        self.rows
            .iter()
            .map(|r| {
                let w = if total > 0.0 { r.weight / total } else { 0.0 };
                (r.key.clone(), w)
            })
            .collect()
    }

    /// Technical importance of each column, in column order.
    pub fn importance(&self) -> Vec<ColumnImportance> {
        let mut absolute = vec![0.0; self.columns.len()];
        for (&(i, j), s) in &self.relationships {
            absolute[j] += self.rows[i].weight * s.value();
        }
        let total: f64 = absolute.iter().sum();
        absolute
            .iter()
            .enumerate()
            .map(|(j, &a)| ColumnImportance {
                key: self.columns[j].key.clone(),
                absolute: a,
                relative: if total > 0.0 { a / total } else { 0.0 },
                rank: 1 + absolute.iter().filter(|&&other| other > a).count(),
            })
            .collect()
    }

    /// The columns from most to least important (ties in column order).
    pub fn ranking(&self) -> Vec<ColumnImportance> {
        let mut all = self.importance();
        all.sort_by_key(|c| c.rank);
        all
    }

    /// The same house with new row weights, matched by row key. Every row must get
    /// exactly one weight; a key that is not a row is refused too.
    pub fn with_row_weights(&self, weights: &[(String, f64)]) -> Result<House, QfdError> {
        let given: HashMap<&str, f64> = weights.iter().map(|(k, w)| (k.as_str(), *w)).collect();
        let mut house = self.clone();
        for (i, row) in house.rows.iter_mut().enumerate() {
            let Some(&w) = given.get(row.key.as_str()) else {
                return Err(QfdError::new(
                    format!("stage {} rows[{i}].key", self.stage),
                    format!(
                        "{:?} has no weight from the previous stage (no column with that key)",
                        row.key
                    ),
                ));
            };
            check_weight(format!("stage {} rows[{i}].weight", self.stage), w)?;
            row.weight = w;
        }
        Ok(house)
    }
}

/// What a stage is called and what its rows and columns are, (zh, en) each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageTitles {
    pub name: (&'static str, &'static str),
    pub rows: (&'static str, &'static str),
    pub columns: (&'static str, &'static str),
}

/// The titles of stage 1, 2 or 3 (any other number reads as stage 3).
pub fn stage_titles(stage: u8) -> StageTitles {
    match stage {
        1 => StageTitles {
            name: ("服务包规划", "Service package planning"),
            rows: ("顾客需求", "Customer needs"),
            columns: ("服务接触（关键时刻）", "Service encounters (moments)"),
        },
        2 => StageTitles {
            name: ("服务传递", "Service delivery"),
            rows: ("服务接触（关键时刻）", "Service encounters (moments)"),
            columns: ("过程要素", "Process elements"),
        },
        _ => StageTitles {
            name: ("过程控制", "Process control"),
            rows: ("过程要素", "Process elements"),
            columns: ("质量参数", "Quality parameters"),
        },
    }
}

/// The column importances of a house as the row weights of the next stage: (column
/// key, absolute importance). Absolute rather than relative keeps the next house's
/// importances the plain sums a reader can check; its relative importances are the
/// same either way, since scaling every row weight scales every column.
pub fn next_weights(house: &House) -> Vec<(String, f64)> {
    house
        .importance()
        .into_iter()
        .map(|c| (c.key, c.absolute))
        .collect()
}

/// The three houses with stage 2 and 3 re-weighted from the stage before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cascade {
    pub stage1: House,
    pub stage2: House,
    pub stage3: House,
}

/// Recompute the row weights of stage 2 from stage 1's column importances and of
/// stage 3 from the new stage 2's. A next-stage row is matched to the previous
/// stage's column of the same key; one without is an error naming it. A column not
/// carried on as a row is allowed (it is simply not deployed further).
pub fn cascade(stage1: &House, stage2: &House, stage3: &House) -> Result<Cascade, QfdError> {
    for (house, stage) in [(stage1, 1), (stage2, 2), (stage3, 3)] {
        if house.stage != stage {
            return Err(QfdError::new(
                format!("stage{stage}.stage"),
                format!("is {}, expected {stage}", house.stage),
            ));
        }
    }
    let stage2 = stage2.with_row_weights(&next_weights(stage1))?;
    let stage3 = stage3.with_row_weights(&next_weights(&stage2))?;
    Ok(Cascade {
        stage1: stage1.clone(),
        stage2,
        stage3,
    })
}

impl fmt::Display for Strength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

// ------------------------------------------------------------ the journey's `qfd` section

/// The `qfd` section of a journey file: the columns of stages 2 and 3 and the edits of
/// each house. Every field is optional, so a journey without a section has the seeded
/// stage 1 and no stage 2 or 3.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QfdSection {
    /// Stage 2's columns (service delivery), stage 3's rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process_elements: Vec<Column>,
    /// Stage 3's columns (process control): the measurable standards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality_parameters: Vec<Column>,
    #[serde(default, skip_serializing_if = "Stage1Edits::is_empty")]
    pub stage1: Stage1Edits,
    #[serde(default, skip_serializing_if = "StageEdits::is_empty")]
    pub stage2: StageEdits,
    #[serde(default, skip_serializing_if = "StageEdits::is_empty")]
    pub stage3: StageEdits,
}

/// Edits of stage 1 (rows `moment.need`, columns the moments) over the seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage1Edits {
    /// Cells set over the seed; strength 0 (`none`) removes a seeded cell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<RawRelationship>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roof: Vec<RawRoof>,
    /// Our and a competitor's satisfaction per need row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub competitive: Vec<CompetitiveEntry>,
    /// Target, unit, direction and difficulty of a moment column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnEdit>,
}

/// Edits of stage 2 (moments × process elements) or 3 (process elements × quality
/// parameters): these houses have no seed, so their cells are all here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageEdits {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<RawRelationship>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roof: Vec<RawRoof>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompetitiveEntry {
    pub row: String,
    pub ours: f64,
    pub competitor: f64,
}

/// Overrides of a moment column's target values; a field left out stays unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnEdit {
    pub column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Improve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<u8>,
}

impl Stage1Edits {
    pub fn is_empty(&self) -> bool {
        self.relationships.is_empty()
            && self.roof.is_empty()
            && self.competitive.is_empty()
            && self.columns.is_empty()
    }
}

impl StageEdits {
    pub fn is_empty(&self) -> bool {
        self.relationships.is_empty() && self.roof.is_empty()
    }
}

impl QfdSection {
    pub fn is_empty(&self) -> bool {
        self.process_elements.is_empty()
            && self.quality_parameters.is_empty()
            && self.stage1.is_empty()
            && self.stage2.is_empty()
            && self.stage3.is_empty()
    }

    /// Sets (or, with strength 0, clears) one relationship cell of a stage, replacing
    /// the cell of the same row and column if the section has one: a director's edit.
    /// The section is not checked here; [`crate::Journey::set_qfd`] checks it whole.
    pub fn set_relationship(
        &mut self,
        stage: u8,
        row: &str,
        column: &str,
        strength: RawStrength,
    ) -> Result<(), QfdError> {
        let cells = match stage {
            1 => &mut self.stage1.relationships,
            2 => &mut self.stage2.relationships,
            3 => &mut self.stage3.relationships,
            n => {
                return Err(QfdError::new(
                    "stage",
                    format!("{n} is not a stage (1, 2 or 3)"),
                ));
            }
        };
        let cell = RawRelationship {
            row: row.to_string(),
            column: column.to_string(),
            strength,
        };
        match cells
            .iter_mut()
            .find(|c| c.row == row && c.column == column)
        {
            Some(c) => *c = cell,
            None => cells.push(cell),
        }
        Ok(())
    }

    /// A region's section over its parent's (a region adds, never removes): the
    /// parent's process elements and quality parameters, then the region's new ones; the
    /// parent's cells, with the strength (or correlation, satisfaction, target) the
    /// region gives the same cell instead, then the region's new cells. `keep_row` says
    /// whether a stage-1 row (`moment.need`) still exists in the region's journey: a
    /// region may drop a need, and the parent's cells of that need go with it.
    /// Merging the same parent twice gives the same section.
    pub fn inherit(&mut self, parent: &QfdSection, keep_row: impl Fn(&str) -> bool) {
        self.process_elements = merge_by(
            &parent.process_elements,
            &self.process_elements,
            |c| c.key.clone(),
            |_| true,
        );
        self.quality_parameters = merge_by(
            &parent.quality_parameters,
            &self.quality_parameters,
            |c| c.key.clone(),
            |_| true,
        );
        let s1 = &mut self.stage1;
        s1.relationships = merge_by(
            &parent.stage1.relationships,
            &s1.relationships,
            cell_key,
            |c| keep_row(&c.row),
        );
        s1.roof = merge_by(&parent.stage1.roof, &s1.roof, roof_key, |_| true);
        s1.competitive = merge_by(
            &parent.stage1.competitive,
            &s1.competitive,
            |c| c.row.clone(),
            |c| keep_row(&c.row),
        );
        s1.columns = merge_by(
            &parent.stage1.columns,
            &s1.columns,
            |c| c.column.clone(),
            |_| true,
        );
        for (mine, theirs) in [
            (&mut self.stage2, &parent.stage2),
            (&mut self.stage3, &parent.stage3),
        ] {
            mine.relationships =
                merge_by(&theirs.relationships, &mine.relationships, cell_key, |_| {
                    true
                });
            mine.roof = merge_by(&theirs.roof, &mine.roof, roof_key, |_| true);
        }
    }
}

fn cell_key(c: &RawRelationship) -> String {
    format!("{}\u{1f}{}", c.row, c.column)
}

/// The roof is symmetric: `a, b` and `b, a` are the same cell.
fn roof_key(c: &RawRoof) -> String {
    let (a, b) = if c.a <= c.b {
        (&c.a, &c.b)
    } else {
        (&c.b, &c.a)
    };
    format!("{a}\u{1f}{b}")
}

/// The parent's items in order (each replaced by the child's item of the same key), then
/// the child's items the parent does not have.
fn merge_by<T: Clone>(
    parent: &[T],
    child: &[T],
    key: impl Fn(&T) -> String,
    keep_parent: impl Fn(&T) -> bool,
) -> Vec<T> {
    let theirs: std::collections::HashSet<String> = parent.iter().map(&key).collect();
    let mine: HashMap<String, &T> = child.iter().map(|c| (key(c), c)).collect();
    let mut out: Vec<T> = parent
        .iter()
        .filter_map(|p| match mine.get(&key(p)) {
            Some(c) => Some((*c).clone()),
            None => keep_parent(p).then(|| p.clone()),
        })
        .collect();
    out.extend(child.iter().filter(|c| !theirs.contains(&key(c))).cloned());
    out
}

/// What a key in one of the section's lists must name.
struct Names<'a> {
    moments: std::collections::HashSet<&'a str>,
    needs: std::collections::HashSet<String>,
    elements: std::collections::HashSet<&'a str>,
    parameters: std::collections::HashSet<&'a str>,
    /// A region's section may name its parent's process elements and parameters, known
    /// only once the two are merged; and a region that drops a moment is told so by the
    /// governance rule, not by the cells it copied from its parent. So a region's names
    /// are checked after [`QfdSection::inherit`], not as the file is read.
    inherits: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    Need,
    Moment,
    Element,
    Parameter,
}

impl Names<'_> {
    fn check(&self, kind: Kind, key: &str, field: String, out: &mut Vec<QfdError>) {
        let (known, what) = match kind {
            Kind::Need => (
                self.needs.contains(key),
                "need (stage 1 rows are `moment.need`)",
            ),
            Kind::Moment => (self.moments.contains(key), "moment"),
            Kind::Element => (self.elements.contains(key), "process element"),
            Kind::Parameter => (self.parameters.contains(key), "quality parameter"),
        };
        if !known && !self.inherits {
            out.push(QfdError::new(field, format!("unknown {what} {key:?}")));
        }
    }
}

/// Every problem of a journey's `qfd` section, each at its path (`qfd.stage2.
/// relationships[3].column: unknown process element "x"`). `inherits`: the journey
/// extends another, so the keys its cells name are checked only after
/// [`QfdSection::inherit`] (strengths, numbers, duplicates and self pairs at once).
pub fn section_problems(
    section: &QfdSection,
    moments: &[crate::Moment],
    inherits: bool,
) -> Vec<QfdError> {
    let mut out = Vec::new();
    let names = Names {
        moments: moments.iter().map(|m| m.key.as_str()).collect(),
        needs: moments
            .iter()
            .flat_map(|m| {
                m.core_needs
                    .iter()
                    .map(move |n| format!("{}.{}", m.key, n.key))
            })
            .collect(),
        elements: section
            .process_elements
            .iter()
            .map(|c| c.key.as_str())
            .collect(),
        parameters: section
            .quality_parameters
            .iter()
            .map(|c| c.key.as_str())
            .collect(),
        inherits,
    };
    for (list, at) in [
        (&section.process_elements, "qfd.process_elements"),
        (&section.quality_parameters, "qfd.quality_parameters"),
    ] {
        check_columns(list, at, &mut out);
    }
    let s1 = &section.stage1;
    check_cells(
        &s1.relationships,
        "qfd.stage1",
        (Kind::Need, Kind::Moment),
        &names,
        &mut out,
    );
    check_roof(&s1.roof, "qfd.stage1", Kind::Moment, &names, &mut out);
    let mut rows = std::collections::HashSet::new();
    for (n, c) in s1.competitive.iter().enumerate() {
        let at = format!("qfd.stage1.competitive[{n}]");
        names.check(Kind::Need, &c.row, format!("{at}.row"), &mut out);
        if !rows.insert(c.row.as_str()) {
            out.push(QfdError::new(
                at.clone(),
                format!("{:?} is given twice", c.row),
            ));
        }
        for (name, v) in [("ours", c.ours), ("competitor", c.competitor)] {
            if let Err(e) = check_weight(format!("{at}.{name}"), v) {
                out.push(e);
            }
        }
    }
    let mut cols = std::collections::HashSet::new();
    for (n, c) in s1.columns.iter().enumerate() {
        let at = format!("qfd.stage1.columns[{n}]");
        names.check(Kind::Moment, &c.column, format!("{at}.column"), &mut out);
        if !cols.insert(c.column.as_str()) {
            out.push(QfdError::new(
                at.clone(),
                format!("{:?} is given twice", c.column),
            ));
        }
        if let Some(t) = c.target
            && let Err(e) = check_finite(format!("{at}.target"), t)
        {
            out.push(e);
        }
        if let Err(e) = check_difficulty(format!("{at}.difficulty"), c.difficulty) {
            out.push(e);
        }
    }
    check_cells(
        &section.stage2.relationships,
        "qfd.stage2",
        (Kind::Moment, Kind::Element),
        &names,
        &mut out,
    );
    check_roof(
        &section.stage2.roof,
        "qfd.stage2",
        Kind::Element,
        &names,
        &mut out,
    );
    check_cells(
        &section.stage3.relationships,
        "qfd.stage3",
        (Kind::Element, Kind::Parameter),
        &names,
        &mut out,
    );
    check_roof(
        &section.stage3.roof,
        "qfd.stage3",
        Kind::Parameter,
        &names,
        &mut out,
    );
    out
}

fn check_difficulty(field: String, d: Option<u8>) -> Result<(), QfdError> {
    match d {
        Some(d) if !(1..=5).contains(&d) => Err(QfdError::new(
            field,
            format!("{d} is not a difficulty (1 to 5)"),
        )),
        _ => Ok(()),
    }
}

fn check_columns(list: &[Column], at: &str, out: &mut Vec<QfdError>) {
    let mut keys = HashMap::new();
    for (j, c) in list.iter().enumerate() {
        let here = format!("{at}[{j}]");
        if let Err(e) = check_key(format!("{here}.key"), &c.key) {
            out.push(e);
        }
        if let Some(first) = keys.insert(c.key.as_str(), j) {
            out.push(QfdError::new(
                format!("{here}.key"),
                format!("{:?} appears twice (also {at}[{first}])", c.key),
            ));
        }
        if let Err(e) = check_label(format!("{here}.label"), &c.label) {
            out.push(e);
        }
        if let Some(t) = c.target
            && let Err(e) = check_finite(format!("{here}.target"), t)
        {
            out.push(e);
        }
        if let Err(e) = check_difficulty(format!("{here}.difficulty"), c.difficulty) {
            out.push(e);
        }
    }
}

fn check_cells(
    cells: &[RawRelationship],
    at: &str,
    (rows, columns): (Kind, Kind),
    names: &Names<'_>,
    out: &mut Vec<QfdError>,
) {
    let mut seen = std::collections::HashSet::new();
    for (n, c) in cells.iter().enumerate() {
        let here = format!("{at}.relationships[{n}]");
        names.check(rows, &c.row, format!("{here}.row"), out);
        names.check(columns, &c.column, format!("{here}.column"), out);
        if let Err(e) = Strength::parse(&c.strength) {
            out.push(QfdError::new(format!("{here}.strength"), e));
        }
        if !seen.insert((c.row.as_str(), c.column.as_str())) {
            out.push(QfdError::new(
                here,
                format!("{:?} × {:?} is given twice", c.row, c.column),
            ));
        }
    }
}

fn check_roof(cells: &[RawRoof], at: &str, kind: Kind, names: &Names<'_>, out: &mut Vec<QfdError>) {
    let mut seen = std::collections::HashSet::new();
    for (n, c) in cells.iter().enumerate() {
        let here = format!("{at}.roof[{n}]");
        names.check(kind, &c.a, format!("{here}.a"), out);
        names.check(kind, &c.b, format!("{here}.b"), out);
        if c.a == c.b {
            out.push(QfdError::new(
                here.clone(),
                format!("{:?} is paired with itself", c.a),
            ));
        }
        if let Err(e) = Correlation::parse(&c.correlation) {
            out.push(QfdError::new(format!("{here}.correlation"), e));
        }
        if !seen.insert(roof_key(c)) {
            out.push(QfdError::new(
                here,
                format!("{:?} and {:?} are given twice", c.a, c.b),
            ));
        }
    }
}

/// Sets each edited cell over the house's own cells (an edit of a seeded cell replaces
/// it; strength 0 removes it) and adds the roof.
fn apply_cells(raw: &mut RawHouse, cells: &[RawRelationship], roof: &[RawRoof]) {
    for cell in cells {
        match raw
            .relationships
            .iter_mut()
            .find(|c| c.row == cell.row && c.column == cell.column)
        {
            Some(c) => c.strength = cell.strength.clone(),
            None => raw.relationships.push(cell.clone()),
        }
    }
    for cell in roof {
        let key = roof_key(cell);
        match raw.roof.iter_mut().find(|c| roof_key(c) == key) {
            Some(c) => *c = cell.clone(),
            None => raw.roof.push(cell.clone()),
        }
    }
}

/// The journey's section, checked (a region's after its parent's was merged) as far as
/// the house of `stage` reads it: the first problem as the error. Stage 1 reads only
/// `qfd.stage1`, so a region whose stage-2 cells name its parent's process elements
/// still has its stage 1 before the sections are merged.
fn checked_section(journey: &crate::Journey, stage: u8) -> Result<&QfdSection, QfdError> {
    let section = journey.qfd();
    let read: &[&str] = match stage {
        1 => &["qfd.stage1"],
        2 => &["qfd.stage1", "qfd.stage2", "qfd.process_elements"],
        _ => &["qfd."],
    };
    match section_problems(section, journey.moments(), false)
        .into_iter()
        .find(|e| read.iter().any(|p| e.field.starts_with(p)))
    {
        Some(e) => Err(e),
        None => Ok(section),
    }
}

/// Stage 1 of a journey — customer needs × service encounters (service package
/// planning) — as the journey itself seeds it: a row per core need (`moment.need`), a
/// column per moment, each need strongly (9) related to the moment it belongs to. Row
/// weights are the need elements' segment-weighted importance from `analysis` (a need
/// nobody rated takes its moment's importance, and without either the journey's prior,
/// else 1), so the column importances say where the customers' needs concentrate.
/// Without the edits of the journey's `qfd.stage1`; [`stage1`] applies them.
pub fn stage1_seed(
    journey: &crate::Journey,
    analysis: Option<&crate::analysis::Analysis>,
) -> Result<House, QfdError> {
    House::try_from(seed_raw(journey, analysis))
}

fn seed_raw(journey: &crate::Journey, analysis: Option<&crate::analysis::Analysis>) -> RawHouse {
    let mut rows = Vec::new();
    let mut relationships = Vec::new();
    let columns = journey
        .moments()
        .iter()
        .map(|m| Column {
            key: m.key.to_string(),
            label: Label::Text(m.name.clone()),
            target: None,
            unit: None,
            direction: None,
            difficulty: None,
        })
        .collect();
    for m in journey.moments() {
        let result = analysis.and_then(|a| a.moments.iter().find(|r| r.key == m.key.as_str()));
        // The survey's competitive items rate the moment: each of its needs takes them.
        let competitive = analysis
            .and_then(|a| a.competitive.as_ref())
            .and_then(|c| c.iter().find(|c| c.moment == m.key))
            .map(|c| Competitive {
                ours: c.ours,
                competitor: c.competitor,
            });
        for n in &m.core_needs {
            let measured = result.and_then(|r| {
                r.needs
                    .iter()
                    .find(|(k, _)| k == n.key.as_str())
                    .map(|(_, w)| *w)
            });
            let weight = measured
                .or_else(|| result.and_then(|r| r.importance))
                .or(m.importance)
                .unwrap_or(1.0);
            let key = format!("{}.{}", m.key, n.key);
            relationships.push(RawRelationship {
                row: key.clone(),
                column: m.key.to_string(),
                strength: RawStrength::Integer(9),
            });
            rows.push(Row {
                key,
                label: Label::Text(n.text.clone()),
                weight,
                competitive,
            });
        }
    }
    RawHouse {
        stage: 1,
        rows,
        columns,
        relationships,
        roof: Vec::new(),
    }
}

/// Stage 1 as the journey's file has it: the seed ([`stage1_seed`]) with the edits of
/// `qfd.stage1` — relationship cells set or removed, the roof, the competitive
/// assessment per need (over the survey's, when its answers rated a competitor) and each
/// moment column's target, unit, direction and difficulty.
pub fn stage1(
    journey: &crate::Journey,
    analysis: Option<&crate::analysis::Analysis>,
) -> Result<House, QfdError> {
    let section = checked_section(journey, 1)?;
    let edits = &section.stage1;
    let mut raw = seed_raw(journey, analysis);
    apply_cells(&mut raw, &edits.relationships, &edits.roof);
    for c in &edits.competitive {
        if let Some(row) = raw.rows.iter_mut().find(|r| r.key == c.row) {
            row.competitive = Some(Competitive {
                ours: c.ours,
                competitor: c.competitor,
            });
        }
    }
    for e in &edits.columns {
        if let Some(col) = raw.columns.iter_mut().find(|c| c.key == e.column) {
            col.target = e.target.or(col.target);
            col.unit = e.unit.clone().or(col.unit.take());
            col.direction = e.direction.or(col.direction);
            col.difficulty = e.difficulty.or(col.difficulty);
        }
    }
    House::try_from(raw)
}

/// Stage 2 — service encounters × process elements (service delivery): a row per
/// moment weighted by its technical importance in `stage1` (via [`next_weights`]), a
/// column per process element of the journey's `qfd.process_elements`, and the cells and
/// roof of `qfd.stage2`. A journey without process elements is an error naming the field.
pub fn stage2(journey: &crate::Journey, stage1: &House) -> Result<House, QfdError> {
    let section = checked_section(journey, 2)?;
    if section.process_elements.is_empty() {
        return Err(QfdError::new(
            "qfd.process_elements",
            format!(
                "the journey `{}` has no process elements, so it has no stage 2 or 3",
                journey.key()
            ),
        ));
    }
    let rows = journey
        .moments()
        .iter()
        .map(|m| Row {
            key: m.key.to_string(),
            label: Label::Text(m.name.clone()),
            weight: 0.0,
            competitive: None,
        })
        .collect();
    next_stage(2, rows, &section.process_elements, &section.stage2, stage1)
}

/// Stage 3 — process elements × quality parameters (process control): a row per process
/// element weighted by its technical importance in `stage2`, a column per quality
/// parameter of `qfd.quality_parameters`, and the cells and roof of `qfd.stage3`.
pub fn stage3(journey: &crate::Journey, stage2: &House) -> Result<House, QfdError> {
    let section = checked_section(journey, 3)?;
    if section.quality_parameters.is_empty() {
        return Err(QfdError::new(
            "qfd.quality_parameters",
            format!(
                "the journey `{}` has no quality parameters, so it has no stage 3",
                journey.key()
            ),
        ));
    }
    let rows = section
        .process_elements
        .iter()
        .map(|c| Row {
            key: c.key.clone(),
            label: c.label.clone(),
            weight: 0.0,
            competitive: None,
        })
        .collect();
    next_stage(
        3,
        rows,
        &section.quality_parameters,
        &section.stage3,
        stage2,
    )
}

fn next_stage(
    stage: u8,
    rows: Vec<Row>,
    columns: &[Column],
    edits: &StageEdits,
    previous: &House,
) -> Result<House, QfdError> {
    if previous.stage + 1 != stage {
        return Err(QfdError::new(
            format!("stage{}", stage - 1),
            format!("is stage {}, expected stage {}", previous.stage, stage - 1),
        ));
    }
    let mut raw = RawHouse {
        stage,
        rows,
        columns: columns.to_vec(),
        relationships: Vec::new(),
        roof: Vec::new(),
    };
    apply_cells(&mut raw, &edits.relationships, &edits.roof);
    House::try_from(raw)?.with_row_weights(&next_weights(previous))
}

/// The house of one stage of a journey, built from stage 1 (with `analysis`'s need
/// weights, else the journey's priors) and cascaded as far as asked, the journey's `qfd`
/// edits applied at each stage.
pub fn house(
    journey: &crate::Journey,
    stage: u8,
    analysis: Option<&crate::analysis::Analysis>,
) -> Result<House, QfdError> {
    if !(1..=3).contains(&stage) {
        return Err(QfdError::new(
            "stage",
            format!("{stage} is not a stage (1, 2 or 3)"),
        ));
    }
    let s1 = stage1(journey, analysis)?;
    if stage == 1 {
        return Ok(s1);
    }
    let s2 = stage2(journey, &s1)?;
    if stage == 2 {
        return Ok(s2);
    }
    stage3(journey, &s2)
}

/// All three houses of a journey (for an export of the whole deployment); an error when
/// the journey has no process elements or quality parameters.
pub fn deploy(
    journey: &crate::Journey,
    analysis: Option<&crate::analysis::Analysis>,
) -> Result<Cascade, QfdError> {
    let stage1 = stage1(journey, analysis)?;
    let stage2 = stage2(journey, &stage1)?;
    let stage3 = stage3(journey, &stage2)?;
    Ok(Cascade {
        stage1,
        stage2,
        stage3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn house(yaml: &str) -> Result<House, String> {
        let raw: RawHouse = yaml_serde::from_str(yaml).map_err(|e| e.to_string())?;
        House::try_from(raw).map_err(|e| e.to_string())
    }

    /// The coffee-maker house of quality published as a worked example by Schematex
    /// ("Coffee maker House of Quality", https://schematex.js.org/examples/matrix-qfd-coffee-maker,
    /// the matrix example after Akao's QFD). Published there: rows Quiet operation 5,
    /// Brews fast 3, Energy efficient 4; columns Fan RPM, Heater watts, Insulation;
    /// cells Quiet × Fan RPM 9, Quiet × Insulation 3, Brews fast × Heater watts 9,
    /// Energy efficient × Heater watts 3, Energy efficient × Insulation 9; roof Fan RPM ↔
    /// Heater watts strong negative, Heater watts ↔ Insulation positive, Fan RPM ↔
    /// Insulation none; technical importance 45 / 39 / 51 and, normalised, 33 % / 29 % /
    /// 38 % (Insulation first, Heater watts last). Every one of those numbers is
    /// checked here: the absolute importances exactly, the relative ones to the
    /// published whole percent.
    #[test]
    fn reproduces_the_published_coffee_maker_house() {
        let h = house(
            r#"
stage: 1
rows:
  - {key: quiet, label: Quiet operation, weight: 5}
  - {key: fast, label: Brews fast, weight: 3}
  - {key: efficient, label: Energy efficient, weight: 4}
columns:
  - {key: fan_rpm, label: Fan RPM, direction: down}
  - {key: heater_watts, label: Heater watts, direction: up}
  - {key: insulation, label: Insulation, direction: up}
relationships:
  - {row: quiet, column: fan_rpm, strength: 9}
  - {row: quiet, column: insulation, strength: 3}
  - {row: fast, column: heater_watts, strength: strong}
  - {row: efficient, column: heater_watts, strength: ○}
  - {row: efficient, column: insulation, strength: ◎}
roof:
  - {a: heater_watts, b: fan_rpm, correlation: "--"}
  - {a: heater_watts, b: insulation, correlation: positive}
"#,
        )
        .unwrap();
        let imp = h.importance();
        let absolute: Vec<f64> = imp.iter().map(|c| c.absolute).collect();
        assert_eq!(absolute, vec![45.0, 39.0, 51.0]);
        let percent: Vec<f64> = imp.iter().map(|c| (c.relative * 100.0).round()).collect();
        assert_eq!(percent, vec![33.0, 29.0, 38.0]);
        let ranked: Vec<String> = h.ranking().into_iter().map(|c| c.key).collect();
        assert_eq!(ranked, vec!["insulation", "fan_rpm", "heater_watts"]);
        assert_eq!(
            h.correlation("fan_rpm", "heater_watts"),
            Some(Correlation::StrongNegative)
        );
        assert_eq!(
            h.correlation("insulation", "heater_watts"),
            Some(Correlation::Positive)
        );
        assert_eq!(h.correlation("fan_rpm", "insulation"), None);
        assert_eq!(
            h.relationship("fast", "heater_watts"),
            Some(Strength::Strong)
        );
        assert_eq!(h.relationship("fast", "fan_rpm"), None);
    }

    /// The worked example of the `quality-house` package's README
    /// (https://pypi.org/project/quality-house/, "Create and deploy a house"): criteria
    /// Easy to open 5 and Easy to clean 3 against Latch force and Seal compression with
    /// cells [[9, 1], [1, 9]] score (48, 32); deployed into Latch spring with cells
    /// [[1], [3]] the next house scores 144. It checks the cascade: the published
    /// deployment carries the previous house's scores as its row weights.
    #[test]
    fn reproduces_the_published_deployment() {
        let first = house(
            r#"
stage: 1
rows:
  - {key: open, label: Easy to open, weight: 5}
  - {key: clean, label: Easy to clean, weight: 3}
columns:
  - {key: latch, label: Latch force}
  - {key: seal, label: Seal compression}
relationships:
  - {row: open, column: latch, strength: 9}
  - {row: open, column: seal, strength: 1}
  - {row: clean, column: latch, strength: 1}
  - {row: clean, column: seal, strength: 9}
roof:
  - {a: latch, b: seal, correlation: negative}
"#,
        )
        .unwrap();
        assert_eq!(
            next_weights(&first),
            vec![("latch".to_string(), 48.0), ("seal".to_string(), 32.0)]
        );
        let second = house(
            r#"
stage: 2
rows:
  - {key: latch, label: Latch force, weight: 0}
  - {key: seal, label: Seal compression, weight: 0}
columns:
  - {key: spring, label: Latch spring}
relationships:
  - {row: latch, column: spring, strength: 1}
  - {row: seal, column: spring, strength: 3}
"#,
        )
        .unwrap();
        let second = second.with_row_weights(&next_weights(&first)).unwrap();
        assert_eq!(second.importance()[0].absolute, 144.0);
        assert_eq!(second.importance()[0].relative, 1.0);
    }

    fn stage(n: u8, rows: &[(&str, f64)], cols: &[&str], cells: &[(&str, &str, u8)]) -> House {
        House::try_from(RawHouse {
            stage: n,
            rows: rows
                .iter()
                .map(|(k, w)| Row {
                    key: k.to_string(),
                    label: Label::Plain(k.to_string()),
                    weight: *w,
                    competitive: None,
                })
                .collect(),
            columns: cols
                .iter()
                .map(|k| Column {
                    key: k.to_string(),
                    label: Label::Plain(k.to_string()),
                    target: None,
                    unit: None,
                    direction: None,
                    difficulty: None,
                })
                .collect(),
            relationships: cells
                .iter()
                .map(|(r, c, s)| RawRelationship {
                    row: r.to_string(),
                    column: c.to_string(),
                    strength: RawStrength::Number(f64::from(*s)),
                })
                .collect(),
            roof: vec![],
        })
        .unwrap()
    }

    /// A small hall journey worked by hand: needs → moments → process → parameters.
    /// Stage 1: short_wait (w 9) ~ queue 9, counter 1; clear_answer (w 8) ~ counter 9,
    /// enquiry 3 → queue 81, counter 9 + 72 = 81, enquiry 24. Stage 2: queue ~
    /// ticketing 9; counter ~ staffing 9, ticketing 1; enquiry ~ staffing 3 → ticketing
    /// 729 + 81 = 810, staffing 729 + 72 = 801. Stage 3: ticketing ~ asa 3; staffing ~
    /// asa 9, fcr 3 → asa 2430 + 7209 = 9639, fcr 2403.
    #[test]
    fn cascade_of_three_stages_by_hand() {
        let s1 = stage(
            1,
            &[("short_wait", 9.0), ("clear_answer", 8.0)],
            &["queue", "counter", "enquiry"],
            &[
                ("short_wait", "queue", 9),
                ("short_wait", "counter", 1),
                ("clear_answer", "counter", 9),
                ("clear_answer", "enquiry", 3),
            ],
        );
        let s2 = stage(
            2,
            &[("queue", 1.0), ("counter", 1.0), ("enquiry", 1.0)],
            &["ticketing", "staffing"],
            &[
                ("queue", "ticketing", 9),
                ("counter", "staffing", 9),
                ("counter", "ticketing", 1),
                ("enquiry", "staffing", 3),
            ],
        );
        let s3 = stage(
            3,
            &[("ticketing", 1.0), ("staffing", 1.0)],
            &["asa", "fcr"],
            &[
                ("ticketing", "asa", 3),
                ("staffing", "asa", 9),
                ("staffing", "fcr", 3),
            ],
        );
        let c = cascade(&s1, &s2, &s3).unwrap();
        let w2: Vec<f64> = c.stage2.rows().iter().map(|r| r.weight).collect();
        assert_eq!(w2, vec![81.0, 81.0, 24.0]);
        let w3: Vec<f64> = c.stage3.rows().iter().map(|r| r.weight).collect();
        assert_eq!(w3, vec![810.0, 801.0]);
        let last: Vec<f64> = c.stage3.importance().iter().map(|i| i.absolute).collect();
        assert_eq!(last, vec![9639.0, 2403.0]);
        assert_eq!(c.stage2.importance()[0].rank, 1);

        // A stage-2 row that is no stage-1 column is named.
        let orphan = stage(2, &[("parking", 1.0)], &["ticketing"], &[]);
        let err = cascade(&s1, &orphan, &s3).unwrap_err().to_string();
        assert!(
            err.contains("\"parking\"") && err.contains("previous stage"),
            "{err}"
        );
        // Houses in the wrong slot are refused.
        let err = cascade(&s2, &s2, &s3).unwrap_err().to_string();
        assert!(err.contains("stage1.stage"), "{err}");
    }

    #[test]
    fn ties_share_a_rank_and_zero_houses_have_zero_shares() {
        let h = stage(
            1,
            &[("a", 1.0), ("b", 1.0)],
            &["x", "y", "z"],
            &[("a", "x", 3), ("b", "y", 3)],
        );
        let ranks: Vec<usize> = h.importance().iter().map(|c| c.rank).collect();
        assert_eq!(ranks, vec![1, 1, 3]);
        let zero = stage(1, &[("a", 0.0)], &["x"], &[("a", "x", 9)]);
        assert_eq!(zero.importance()[0].relative, 0.0);
        assert_eq!(zero.normalised_weights(), vec![("a".to_string(), 0.0)]);
        let n = h.normalised_weights();
        assert_eq!(n[0].1, 0.5);
    }

    #[test]
    fn bad_houses_name_the_field_and_reason() {
        let base = |extra: &str, cells: &str| {
            format!(
                "stage: 1\nrows:\n  - {{key: a, label: A, weight: 1}}\n{extra}\
                 columns:\n  - {{key: x, label: X}}\n  - {{key: y, label: Y}}\n{cells}"
            )
        };
        let cases = [
            (
                base("", "relationships:\n  - {row: a, column: q, strength: 9}\n"),
                "relationships[0].column: \"q\" is not a column",
            ),
            (
                base("", "relationships:\n  - {row: b, column: x, strength: 9}\n"),
                "relationships[0].row: \"b\" is not a row",
            ),
            (
                base("", "relationships:\n  - {row: a, column: x, strength: 5}\n"),
                "relationships[0].strength: 5 is not a relationship strength",
            ),
            (
                base(
                    "",
                    "relationships:\n  - {row: a, column: x, strength: 2.5}\n",
                ),
                "relationships[0].strength: 2.5 is not a relationship strength",
            ),
            (
                base(
                    "",
                    "relationships:\n  - {row: a, column: x, strength: 0}\n  - {row: a, column: x, strength: 9}\n",
                ),
                "relationships[1]: \"a\" × \"x\" is given twice",
            ),
            (
                base(
                    "",
                    "relationships:\n  - {row: a, column: x, strength: huge}\n",
                ),
                "relationships[0].strength: \"huge\" is not",
            ),
            (
                base(
                    "",
                    "relationships:\n  - {row: a, column: x, strength: 9}\n  - {row: a, column: x, strength: 1}\n",
                ),
                "relationships[1]: \"a\" × \"x\" is given twice",
            ),
            (
                base("", "roof:\n  - {a: x, b: x, correlation: +}\n"),
                "roof[0]: \"x\" is paired with itself",
            ),
            (
                base("", "roof:\n  - {a: x, b: z, correlation: +}\n"),
                "roof[0].b: \"z\" is not a column",
            ),
            (
                base(
                    "",
                    "roof:\n  - {a: x, b: y, correlation: +}\n  - {a: y, b: x, correlation: -}\n",
                ),
                "roof[1]: \"y\" and \"x\" are given twice",
            ),
            (
                base("", "roof:\n  - {a: x, b: y, correlation: maybe}\n"),
                "roof[0].correlation: \"maybe\" is not a correlation",
            ),
            (
                base("  - {key: a, label: A2, weight: 2}\n", ""),
                "rows[1].key: \"a\" appears twice",
            ),
            (
                base("  - {key: b, label: B, weight: -1}\n", ""),
                "rows[1].weight: -1 is negative",
            ),
            (
                base("  - {key: b, label: B, weight: .nan}\n", ""),
                "rows[1].weight: NaN is not a finite number",
            ),
            (
                base("  - {key: b, label: \" \", weight: 1}\n", ""),
                "rows[1].label: is empty",
            ),
        ];
        for (yaml, want) in cases {
            let err = house(&yaml).unwrap_err();
            assert!(err.contains(want), "want {want:?}, got {err:?}\n{yaml}");
        }
        let err = house("stage: 4\nrows: []\ncolumns: []\n").unwrap_err();
        assert!(err.contains("stage: 4 is not a stage"), "{err}");
        let err =
            house("stage: 1\nrows: []\ncolumns:\n  - {key: x, label: X}\n  - {key: x, label: X}\n")
                .unwrap_err();
        assert!(err.contains("columns[1].key: \"x\" appears twice"), "{err}");
        let err = house("stage: 1\nrows: []\ncolumns:\n  - {key: x, label: X, difficulty: 6}\n")
            .unwrap_err();
        assert!(
            err.contains("columns[0].difficulty: 6 is not a difficulty"),
            "{err}"
        );
    }

    #[test]
    fn zero_means_no_relationship_and_symbols_parse() {
        let h = house(
            "stage: 1\nrows:\n  - {key: a, label: {zh: 等候短, en: Short wait}, weight: 2}\n\
             columns:\n  - {key: x, label: X}\n  - {key: y, label: Y}\n  - {key: z, label: Z}\n\
             \x20 - {key: w, label: W}\n\
             relationships:\n  - {row: a, column: x, strength: 0}\n  - {row: a, column: y, strength: △}\n\
             \x20 - {row: a, column: z, strength: medium}\n  - {row: a, column: w, strength: 9.0}\n",
        )
        .unwrap();
        assert_eq!(h.relationship("a", "x"), None);
        assert_eq!(h.relationship("a", "y"), Some(Strength::Weak));
        assert_eq!(h.relationship("a", "z"), Some(Strength::Medium));
        assert_eq!(h.relationship("a", "w"), Some(Strength::Strong));
        assert_eq!(h.rows()[0].label.get("zh"), "等候短");
        assert_eq!(h.cells().count(), 3);
    }

    #[test]
    fn serde_round_trips_through_yaml_and_json() {
        let yaml = r#"
stage: 3
rows:
  - key: staffing
    label: {zh: 排班, en: Staffing}
    weight: 2.5
    competitive: {ours: 3.5, competitor: 4}
columns:
  - {key: asa, label: ASA, target: 10, unit: min, direction: down, difficulty: 3}
  - {key: fcr, label: FCR, direction: up}
relationships:
  - {row: staffing, column: asa, strength: 9}
roof:
  - {a: fcr, b: asa, correlation: "+"}
"#;
        let h: House = yaml_serde::from_str(yaml).unwrap();
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.contains(r#""strength":9"#), "{json}");
        assert!(json.contains(r#""correlation":"positive""#), "{json}");
        let back: House = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        let again: House = yaml_serde::from_str(&yaml_serde::to_string(&h).unwrap()).unwrap();
        assert_eq!(again, h);
        // A bad cell is refused by serde too, with the field and reason.
        let err =
            serde_json::from_str::<House>(&json.replace(r#""strength":9"#, r#""strength":4"#))
                .unwrap_err()
                .to_string();
        assert!(err.contains("relationships[0].strength: 4 is not"), "{err}");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn plain(key: String, weight: f64) -> Row {
        Row {
            label: Label::Plain(key.clone()),
            key,
            weight,
            competitive: None,
        }
    }

    fn column(key: String) -> Column {
        Column {
            label: Label::Plain(key.clone()),
            key,
            target: None,
            unit: None,
            direction: None,
            difficulty: None,
        }
    }

    proptest! {
        /// Relative importances are shares: each in 0..=1, summing to 1 whenever any
        /// column is related to a row of positive weight, else all 0.
        #[test]
        fn relative_importances_sum_to_one(
            weights in prop::collection::vec(0.0f64..100.0, 1..8),
            n_cols in 1usize..8,
            cells in prop::collection::vec((0usize..8, 0usize..8, prop::sample::select(vec![0u8, 1, 3, 9])), 0..40),
        ) {
            let mut seen = std::collections::HashSet::new();
            let raw = RawHouse {
                stage: 1,
                rows: weights.iter().enumerate().map(|(i, &w)| plain(format!("r{i}"), w)).collect(),
                columns: (0..n_cols).map(|j| column(format!("c{j}"))).collect(),
                relationships: cells
                    .into_iter()
                    .filter(|&(i, j, _)| i < weights.len() && j < n_cols && seen.insert((i, j)))
                    .map(|(i, j, s)| RawRelationship {
                        row: format!("r{i}"),
                        column: format!("c{j}"),
                        strength: RawStrength::Number(f64::from(s)),
                    })
                    .collect(),
                roof: vec![],
            };
            let h = House::try_from(raw).unwrap();
            let imp = h.importance();
            let total: f64 = imp.iter().map(|c| c.relative).sum();
            if imp.iter().any(|c| c.absolute > 0.0) {
                prop_assert!((total - 1.0).abs() < 1e-9, "sum {total}");
            } else {
                prop_assert_eq!(total, 0.0);
            }
            for c in &imp {
                prop_assert!((0.0..=1.0 + 1e-12).contains(&c.relative));
            }
        }

        /// A house whose relationship is the identity (row i weakly = 1 related to
        /// column i only) passes its weights through unchanged; a strong identity
        /// scales them by 9 and keeps their shares.
        #[test]
        fn identity_cascade_passes_weights_through(
            weights in prop::collection::vec(0.0f64..1000.0, 1..10),
        ) {
            let n = weights.len();
            let identity = |stage: u8, s: u8, w: &[f64]| {
                House::try_from(RawHouse {
                    stage,
                    rows: w.iter().enumerate().map(|(i, &w)| plain(format!("k{i}"), w)).collect(),
                    columns: (0..n).map(|j| column(format!("k{j}"))).collect(),
                    relationships: (0..n)
                        .map(|i| RawRelationship {
                            row: format!("k{i}"),
                            column: format!("k{i}"),
                            strength: RawStrength::Number(f64::from(s)),
                        })
                        .collect(),
                    roof: vec![],
                })
                .unwrap()
            };
            let ones = vec![1.0; n];
            let c = cascade(
                &identity(1, 1, &weights),
                &identity(2, 1, &ones),
                &identity(3, 9, &ones),
            )
            .unwrap();
            let w2: Vec<f64> = c.stage2.rows().iter().map(|r| r.weight).collect();
            let w3: Vec<f64> = c.stage3.rows().iter().map(|r| r.weight).collect();
            prop_assert_eq!(&w2, &weights);
            prop_assert_eq!(&w3, &weights);
            let out = c.stage3.importance();
            let total: f64 = weights.iter().sum();
            for (i, col) in out.iter().enumerate() {
                prop_assert_eq!(col.absolute, 9.0 * weights[i]);
                if total > 0.0 {
                    prop_assert!((col.relative - weights[i] / total).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn stage_one_of_the_service_hall_weighs_each_moment_by_its_needs() {
        let j = crate::builtin::journeys().unwrap().remove(0);
        // Without a survey: each need weighs its moment's prior importance.
        let house = stage1_seed(&j, None).unwrap();
        let needs: usize = j.moments().iter().map(|m| m.core_needs.len()).sum();
        assert_eq!((house.rows().len(), house.columns().len()), (needs, 16));
        let imp = house.importance();
        for (m, c) in j.moments().iter().zip(&imp) {
            // Σ over the moment's own needs of 9 × its prior importance, by hand.
            let by_hand = 9.0 * m.importance.unwrap_or(1.0) * m.core_needs.len() as f64;
            assert!((c.absolute - by_hand).abs() < 1e-9, "{}", m.key);
        }
        let total: f64 = imp.iter().map(|c| c.relative).sum();
        assert!((total - 1.0).abs() < 1e-9);
        // With a survey, the need elements' importances weigh the rows.
        let halls = [crate::HallId::parse("h1").unwrap()];
        let mut g = crate::analysis::GroupedStats::new(&j, None, None);
        crate::synth::responses(&j, &halls, 2000, 3).for_each(|r| g.push(&r));
        let a = g
            .analyze(&j, None, crate::peak::PeakRule::default())
            .unwrap();
        let house = stage1_seed(&j, Some(&a)).unwrap();
        let queue = &a.moments.iter().find(|m| m.key == "queue").unwrap();
        let (need, w) = &queue.needs[0];
        let row = house
            .rows()
            .iter()
            .find(|r| r.key == format!("queue.{need}"))
            .unwrap();
        assert!((row.weight - w).abs() < 1e-12);
    }

    /// Answers that rate a competitor fill the competitive assessment of each need row
    /// with its moment's ours-versus-theirs; a value the journey file states wins.
    #[test]
    fn the_surveys_competitor_ratings_fill_the_competitive_assessment() {
        let j = crate::builtin::journeys().unwrap().remove(0);
        let halls = [crate::HallId::parse("h1").unwrap()];
        let mut g = crate::analysis::GroupedStats::new(&j, None, None);
        let on = crate::synth::SynthOptions {
            competitors: true,
            ..Default::default()
        };
        crate::synth::responses_with(&j, &halls, 1500, 4, on).for_each(|r| g.push(&r));
        let a = g
            .analyze(&j, None, crate::peak::PeakRule::default())
            .unwrap();
        let measured = a.competitive.as_ref().expect("competitors rated");
        let queue = measured
            .iter()
            .find(|c| c.moment.as_str() == "queue")
            .unwrap();
        let house = stage1(&j, Some(&a)).unwrap();
        for row in house.rows().iter().filter(|r| r.key.starts_with("queue.")) {
            let c = row.competitive.expect("the queue's needs take the queue's");
            assert_eq!((c.ours, c.competitor), (queue.ours, queue.competitor));
        }
        // The simulated competitor serves a little worse on average.
        assert!(queue.competitor < queue.ours, "{queue:?}");
        // Without competitor ratings the rows carry none (the built-in file states none).
        let mut plain = crate::analysis::GroupedStats::new(&j, None, None);
        crate::synth::responses(&j, &halls, 300, 4).for_each(|r| plain.push(&r));
        let a = plain
            .analyze(&j, None, crate::peak::PeakRule::default())
            .unwrap();
        assert!(
            stage1(&j, Some(&a))
                .unwrap()
                .rows()
                .iter()
                .all(|r| r.competitive.is_none())
        );
    }
}

#[cfg(test)]
mod journey_section {
    use super::*;
    use crate::Journey;

    fn service_hall() -> Journey {
        crate::builtin::journeys().unwrap().remove(0)
    }

    /// A small journey with a `qfd` section, `extra` appended under `qfd:`.
    fn small(key: &str, extends: Option<&str>, needs: &str, qfd: &str) -> String {
        format!(
            "key: {key}\nname: {{zh: 小厅, en: Small hall}}\nchannel: face_to_face\n\
             extends: {}\nmoments:\n\
             \x20 - key: queue\n    name: {{zh: 排队, en: Queue}}\n    stage: business_flow\n    importance: 8\n\
             \x20   core_needs:\n      - {{key: short, text: {{zh: 短, en: Short}}}}\n{needs}\
             \x20 - key: counter\n    name: {{zh: 柜台, en: Counter}}\n    stage: business_flow\n    importance: 9\n\
             \x20   core_needs:\n      - {{key: polite, text: {{zh: 礼貌, en: Polite}}}}\n\
             qfd:\n{qfd}",
            extends.unwrap_or("null")
        )
    }

    const PARENT_QFD: &str = "  process_elements:
    - {key: ticketing, label: {zh: 叫号, en: Ticketing}}
    - {key: staffing, label: {zh: 排班, en: Staffing}, difficulty: 4}
  quality_parameters:
    - {key: asa, label: ASA, target: 15, unit: min, direction: down}
  stage1:
    relationships:
      - {row: queue.short, column: counter, strength: 3}
      - {row: queue.known, column: counter, strength: 1}
    roof:
      - {a: queue, b: counter, correlation: '-'}
    competitive:
      - {row: counter.polite, ours: 4.1, competitor: 3.9}
    columns:
      - {column: queue, target: 15, unit: min, direction: down, difficulty: 3}
  stage2:
    relationships:
      - {row: queue, column: ticketing, strength: 9}
      - {row: counter, column: staffing, strength: 9}
      - {row: counter, column: ticketing, strength: 1}
    roof:
      - {a: ticketing, b: staffing, correlation: '+'}
  stage3:
    relationships:
      - {row: ticketing, column: asa, strength: 3}
      - {row: staffing, column: asa, strength: 9}
";

    const KNOWN: &str = "      - {key: known, text: {zh: 可预知, en: Known}}\n";

    fn parent() -> Journey {
        Journey::from_yaml(&small("small", None, KNOWN, PARENT_QFD)).unwrap()
    }

    /// The parent worked by hand. Stage 1 (no survey, weights = priors): queue.short 8,
    /// queue.known 8, counter.polite 9; queue = 9·8 + 9·8 = 144, counter = 3·8 + 1·8 +
    /// 9·9 = 113. Stage 2: ticketing = 144·9 + 113·1 = 1409, staffing = 113·9 = 1017.
    /// Stage 3: asa = 1409·3 + 1017·9 = 4227 + 9153 = 13380.
    #[test]
    fn a_journey_section_builds_three_stages_by_hand() {
        let j = parent();
        let s1 = house(&j, 1, None).unwrap();
        let imp: Vec<f64> = s1.importance().iter().map(|c| c.absolute).collect();
        assert_eq!(imp, vec![144.0, 113.0]);
        assert_eq!(
            s1.correlation("counter", "queue"),
            Some(Correlation::Negative)
        );
        let polite = s1
            .rows()
            .iter()
            .find(|r| r.key == "counter.polite")
            .unwrap();
        assert_eq!(
            polite.competitive,
            Some(Competitive {
                ours: 4.1,
                competitor: 3.9
            })
        );
        let queue = &s1.columns()[0];
        assert_eq!(
            (
                queue.target,
                queue.unit.as_deref(),
                queue.direction,
                queue.difficulty
            ),
            (Some(15.0), Some("min"), Some(Improve::Down), Some(3))
        );
        assert_eq!(s1.columns()[1].target, None);

        let s2 = house(&j, 2, None).unwrap();
        let w: Vec<f64> = s2.rows().iter().map(|r| r.weight).collect();
        assert_eq!(w, vec![144.0, 113.0]);
        let imp: Vec<f64> = s2.importance().iter().map(|c| c.absolute).collect();
        assert_eq!(imp, vec![1409.0, 1017.0]);
        assert_eq!(s2.columns()[1].difficulty, Some(4));
        assert_eq!(
            s2.correlation("staffing", "ticketing"),
            Some(Correlation::Positive)
        );
        let s3 = house(&j, 3, None).unwrap();
        assert_eq!(s3.stage(), 3);
        assert_eq!(s3.importance()[0].absolute, 13380.0);
        assert_eq!(s3.importance()[0].relative, 1.0);
        let all = deploy(&j, None).unwrap();
        assert_eq!((all.stage1, all.stage2, all.stage3), (s1, s2, s3));
        let err = house(&j, 4, None).unwrap_err().to_string();
        assert_eq!(err, "stage: 4 is not a stage (1, 2 or 3)");
        // The seed is stage 1 without the file's edits.
        let seed = stage1_seed(&j, None).unwrap();
        assert_eq!(seed.relationship("queue.short", "counter"), None);
        assert_eq!(seed.importance()[1].absolute, 81.0);
    }

    /// The section survives export and import in both formats; a journey without one
    /// writes none.
    #[test]
    fn the_section_round_trips_and_is_left_out_when_empty() {
        let j = service_hall();
        assert_eq!(Journey::from_json(&j.to_json_pretty()).unwrap(), j);
        assert_eq!(Journey::from_yaml(&j.to_yaml()).unwrap(), j);
        let hotline = crate::builtin::journeys().unwrap().remove(1);
        assert!(hotline.qfd().is_empty());
        assert!(!hotline.to_json_pretty().contains("\"qfd\""));
    }

    #[test]
    fn strength_zero_removes_a_seeded_cell() {
        let q = "  stage1:\n    relationships:\n      - {row: queue.short, column: queue, strength: none}\n";
        let j = Journey::from_yaml(&small("small", None, "", q)).unwrap();
        let h = stage1(&j, None).unwrap();
        assert_eq!(h.relationship("queue.short", "queue"), None);
        assert_eq!(h.importance()[0].absolute, 0.0);
        assert_eq!(
            h.relationship("counter.polite", "counter"),
            Some(Strength::Strong)
        );
    }

    #[test]
    fn a_journey_without_process_elements_names_the_field() {
        let j = Journey::from_yaml(&small("small", None, "", "  stage1: {}\n")).unwrap();
        assert!(j.qfd().is_empty());
        let err = house(&j, 2, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "qfd.process_elements: the journey `small` has no process elements, so it has no stage 2 or 3"
        );
        assert!(house(&j, 1, None).is_ok());
        let q = "  process_elements:\n    - {key: t, label: T}\n";
        let j = Journey::from_yaml(&small("small", None, "", q)).unwrap();
        let err = house(&j, 3, None).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "qfd.quality_parameters: the journey `small` has no quality parameters"
            ),
            "{err}"
        );
        // Every other built-in journey may stay without a section: stage 1 still works.
        for j in crate::builtin::journeys().unwrap().iter().skip(1) {
            assert!(house(j, 1, None).is_ok(), "{}", j.key());
        }
    }

    #[test]
    fn bad_sections_name_the_field_and_reason() {
        let cases = [
            (
                "  process_elements:\n    - {key: t, label: T}\n  stage2:\n    relationships:\n      - {row: queue, column: t, strength: 9}\n      - {row: queue, column: x, strength: 9}\n",
                "qfd.stage2.relationships[1].column: unknown process element \"x\"",
            ),
            (
                "  process_elements:\n    - {key: t, label: T}\n  stage2:\n    relationships:\n      - {row: lobby, column: t, strength: 9}\n",
                "qfd.stage2.relationships[0].row: unknown moment \"lobby\"",
            ),
            (
                "  process_elements:\n    - {key: t, label: T}\n  stage2:\n    relationships:\n      - {row: queue, column: t, strength: 5}\n",
                "qfd.stage2.relationships[0].strength: 5 is not a relationship strength",
            ),
            (
                "  process_elements:\n    - {key: t, label: T}\n    - {key: t, label: U}\n",
                "qfd.process_elements[1].key: \"t\" appears twice (also qfd.process_elements[0])",
            ),
            (
                "  quality_parameters:\n    - {key: a, label: A, difficulty: 7}\n",
                "qfd.quality_parameters[0].difficulty: 7 is not a difficulty (1 to 5)",
            ),
            (
                "  stage1:\n    relationships:\n      - {row: queue, column: queue, strength: 9}\n",
                "qfd.stage1.relationships[0].row: unknown need (stage 1 rows are `moment.need`) \"queue\"",
            ),
            (
                "  stage1:\n    relationships:\n      - {row: queue.short, column: counter, strength: 9}\n      - {row: queue.short, column: counter, strength: 3}\n",
                "qfd.stage1.relationships[1]: \"queue.short\" × \"counter\" is given twice",
            ),
            (
                "  stage1:\n    roof:\n      - {a: queue, b: queue, correlation: '+'}\n",
                "qfd.stage1.roof[0]: \"queue\" is paired with itself",
            ),
            (
                "  stage1:\n    roof:\n      - {a: queue, b: counter, correlation: '+'}\n      - {a: counter, b: queue, correlation: '-'}\n",
                "qfd.stage1.roof[1]: \"counter\" and \"queue\" are given twice",
            ),
            (
                "  stage1:\n    competitive:\n      - {row: counter.polite, ours: -1, competitor: 3}\n",
                "qfd.stage1.competitive[0].ours: -1 is negative",
            ),
            (
                "  stage1:\n    columns:\n      - {column: parking, target: 3}\n",
                "qfd.stage1.columns[0].column: unknown moment \"parking\"",
            ),
            (
                "  quality_parameters:\n    - {key: a, label: A}\n  stage3:\n    roof:\n      - {a: a, b: b, correlation: maybe}\n",
                "qfd.stage3.roof[0].b: unknown quality parameter \"b\"",
            ),
            (
                "  stage2:\n    competitive: []\n",
                "unknown field `competitive`",
            ),
        ];
        for (q, want) in cases {
            let err = Journey::from_yaml(&small("small", None, "", q))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "want {want:?}, got {err:?}\n{q}");
        }
        // Every problem is reported, not only the first.
        let q = "  stage3:\n    roof:\n      - {a: a, b: b, correlation: maybe}\n";
        let err = Journey::from_yaml(&small("small", None, "", q))
            .unwrap_err()
            .to_string();
        for want in [
            "roof[0].a: unknown",
            "roof[0].b: unknown",
            "roof[0].correlation: \"maybe\"",
        ] {
            assert!(err.contains(want), "want {want:?} in {err}");
        }
    }

    /// A region adds process elements, parameters and cells and overrides an inherited
    /// cell; it never loses one of its parent's. Its references to the parent's
    /// elements are checked once the sections are merged.
    #[test]
    fn a_region_inherits_adds_and_overrides() {
        let parent = parent();
        let region_qfd = "  process_elements:
    - {key: greeter, label: {zh: 迎宾, en: Greeter}}
  stage2:
    relationships:
      - {row: counter, column: ticketing, strength: 9}
      - {row: queue, column: greeter, strength: 3}
      - {row: queue, column: ticketing, strength: 0}
    roof:
      - {a: staffing, b: ticketing, correlation: '--'}
  stage3:
    relationships:
      - {row: greeter, column: asa, strength: 1}
";
        // The region drops the need `queue.known` (needs are not governed).
        let mut region =
            Journey::from_yaml(&small("region", Some("small"), "", region_qfd)).unwrap();
        assert_eq!(region.qfd().process_elements.len(), 1);
        // Before the merge its stage 1 is there; stage 2 names what is missing.
        assert!(house(&region, 1, None).is_ok());
        let err = house(&region, 2, None).unwrap_err().to_string();
        assert!(
            err.contains("unknown process element \"ticketing\""),
            "{err}"
        );
        region.inherit_qfd(&parent).unwrap();
        let q = region.qfd();
        let keys: Vec<&str> = q.process_elements.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, vec!["ticketing", "staffing", "greeter"]);
        assert_eq!(q.quality_parameters.len(), 1);
        // The parent's cell of the dropped need is gone, the other kept.
        assert_eq!(q.stage1.relationships.len(), 1);
        assert_eq!(q.stage1.competitive.len(), 1);
        let s2 = house(&region, 2, None).unwrap();
        assert_eq!(
            s2.relationship("counter", "ticketing"),
            Some(Strength::Strong)
        );
        assert_eq!(s2.relationship("queue", "ticketing"), None);
        assert_eq!(s2.relationship("queue", "greeter"), Some(Strength::Medium));
        assert_eq!(
            s2.relationship("counter", "staffing"),
            Some(Strength::Strong)
        );
        assert_eq!(
            s2.correlation("ticketing", "staffing"),
            Some(Correlation::StrongNegative)
        );
        let s3 = house(&region, 3, None).unwrap();
        assert_eq!(s3.rows().len(), 3);
        assert_eq!(s3.relationship("greeter", "asa"), Some(Strength::Weak));

        // Merging again (a stored, already merged region) changes nothing.
        let once = region.qfd().clone();
        region.inherit_qfd(&parent).unwrap();
        assert_eq!(region.qfd(), &once);

        // A name neither defines is refused once merged, at its path.
        let q = "  stage2:\n    relationships:\n      - {row: queue, column: valet, strength: 9}\n";
        let mut bad = Journey::from_yaml(&small("region", Some("small"), "", q)).unwrap();
        let err = bad.inherit_qfd(&parent).unwrap_err().to_string();
        assert!(
            err.contains("qfd.stage2.relationships[3].column: unknown process element \"valet\""),
            "{err}"
        );
        // A region that drops a moment its copied cells name still parses: the
        // governance rule is the one to say it drops a moment.
        let dropped = "  stage2:\n    relationships:\n      - {row: lobby, column: ticketing, strength: 9}\n      - {row: queue, column: ticketing, strength: 7}\n";
        let err = Journey::from_yaml(&small("region", Some("small"), "", dropped))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "qfd.stage2.relationships[1].strength: 7 is not a relationship strength (9, 3, 1 or 0; strong, medium, weak; ◎, ○, △)"
        );
        // The same file without `extends` is refused as it is read.
        let err = Journey::from_yaml(&small("region", None, "", q))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown process element \"valet\""), "{err}");
    }

    #[test]
    fn a_directors_edit_sets_one_cell() {
        let mut j = parent();
        let mut q = j.qfd().clone();
        q.set_relationship(2, "queue", "staffing", RawStrength::Integer(3))
            .unwrap();
        q.set_relationship(2, "counter", "ticketing", RawStrength::Text("none".into()))
            .unwrap();
        j.set_qfd(q.clone()).unwrap();
        let s2 = house(&j, 2, None).unwrap();
        assert_eq!(s2.relationship("queue", "staffing"), Some(Strength::Medium));
        assert_eq!(s2.relationship("counter", "ticketing"), None);
        // Written out and read back, the edit stays.
        let back = Journey::from_json(&j.to_json_pretty()).unwrap();
        assert_eq!(back.qfd(), j.qfd());
        assert_eq!(house(&back, 2, None).unwrap(), s2);
        q.set_relationship(2, "queue", "nowhere", RawStrength::Integer(9))
            .unwrap();
        let err = j.set_qfd(q.clone()).unwrap_err().to_string();
        assert!(err.contains("unknown process element \"nowhere\""), "{err}");
        let err = q
            .set_relationship(5, "queue", "staffing", RawStrength::Integer(9))
            .unwrap_err()
            .to_string();
        assert!(err.contains("5 is not a stage"), "{err}");
    }

    /// The built-in service hall carries a full deployment: every process element is
    /// served by some moment and serves some parameter or is reported as not deployed,
    /// and every quality parameter named after a standard has that standard's threshold
    /// as its target, in the same unit.
    #[test]
    fn the_service_hall_deploys_into_its_standards() {
        let j = service_hall();
        let q = j.qfd();
        assert!((8..=15).contains(&q.process_elements.len()));
        let all = deploy(&j, None).unwrap();
        assert_eq!(all.stage2.rows().len(), 16);
        assert_eq!(all.stage2.columns().len(), q.process_elements.len());
        let w2: Vec<f64> = all.stage2.rows().iter().map(|r| r.weight).collect();
        let imp1: Vec<f64> = all.stage1.importance().iter().map(|c| c.absolute).collect();
        assert_eq!(w2, imp1);
        let w3: Vec<f64> = all.stage3.rows().iter().map(|r| r.weight).collect();
        let imp2: Vec<f64> = all.stage2.importance().iter().map(|c| c.absolute).collect();
        assert_eq!(w3, imp2);
        for (j_, c) in all.stage2.importance().iter().enumerate() {
            assert!(
                c.absolute > 0.0,
                "process element {} unrelated",
                all.stage2.columns()[j_].key
            );
        }
        for c in all.stage3.importance() {
            assert!(c.absolute > 0.0, "quality parameter {} unrelated", c.key);
        }
        let mut matched = 0;
        for p in &q.quality_parameters {
            if let Some(t) = j.threshold(&p.key) {
                matched += 1;
                assert_eq!(p.target, Some(t.value), "{}", p.key);
                assert_eq!(p.unit.as_deref(), Some(t.unit.symbol()), "{}", p.key);
            }
        }
        assert!(matched >= 10, "{matched}");
        // Stage 1 carries the file's edits over the seed.
        let s1 = &all.stage1;
        assert_eq!(
            s1.relationship("queue.wait_length", "counter_wait"),
            Some(Strength::Medium)
        );
        assert_eq!(
            s1.correlation("queue", "self_service"),
            Some(Correlation::Positive)
        );
        let seed = stage1_seed(&j, None).unwrap();
        let at = |h: &House, k: &str| {
            h.importance()
                .into_iter()
                .find(|c| c.key == k)
                .unwrap()
                .absolute
        };
        // counter_wait gains queue.wait_length (prior 8.14) × 3 and result.quick (9.33) × 3.
        let gain = at(s1, "counter_wait") - at(&seed, "counter_wait");
        assert!((gain - 3.0 * (8.14 + 9.33)).abs() < 1e-9, "{gain}");
    }
}
