//! Roll-ups. Responses are folded once into cells of mergeable statistics per
//! (hall, month, segment), and again per (hall, month, segment, visit purpose); an
//! analysis of any org node, any run of whole months, any grouping and any one visit
//! purpose is then a merge of cells, never a rescan of responses. The database keeps
//! these cells up to date as responses are imported.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};

use super::engine::SegmentStats;
use crate::id::HallId;
use crate::journey::Journey;
use crate::survey::Response;

/// A cell of the roll-up: one hall, one calendar month (`YYYY-MM`), one segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub hall: HallId,
    pub period: String,
    pub segment: String,
}

/// The roll-up period of a visit date: its calendar month, `YYYY-MM`.
pub fn period_of(date: NaiveDate) -> String {
    date.format("%Y-%m").to_string()
}

/// The months that [from, to] covers when it starts on a first and ends on a last day
/// of a month (either side may be open); `None` when month cells cannot answer it.
pub fn whole_months(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Option<(Option<String>, Option<String>)> {
    let starts_month = from.is_none_or(|d| d.day() == 1);
    let ends_month = to.is_none_or(|d| d.succ_opt().is_none_or(|next| next.day() == 1));
    (starts_month && ends_month).then(|| (from.map(period_of), to.map(period_of)))
}

/// Per-moment need counts of a journey: the shape every cell of it has.
pub fn layout(journey: &Journey) -> Vec<usize> {
    journey
        .moments()
        .iter()
        .map(|m| m.core_needs.len())
        .collect()
}

/// Whether stored statistics still have the journey's shape (a journey can be
/// re-imported with other moments; its old cells then no longer apply).
pub fn fits(stats: &SegmentStats, layout: &[usize]) -> bool {
    let k = layout.len();
    stats.importance.len() == k
        && stats.satisfaction.len() == k
        && stats.needs.iter().map(Vec::len).eq(layout.iter().copied())
        && stats.pairs.has_vars(k + 1)
        && stats.expectations.as_ref().is_none_or(|e| e.has_moments(k))
        && stats.competitors.as_ref().is_none_or(|e| e.has_moments(k))
        && stats.short.values().all(|s| s.satisfaction.len() == k)
}

/// The purpose of a purpose cell whose responses name none.
pub const NO_PURPOSE: &str = "";

/// Which cells answer a question: the all-purpose cells, the cells of one visit
/// purpose ([`NO_PURPOSE`] for responses that name none), or every purpose's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurposeCells<'a> {
    All,
    One(&'a str),
    Each,
}

impl PurposeCells<'_> {
    /// Whether a purpose cell (`Some(purpose)`) or an all-purpose cell (`None`) is one
    /// of these.
    pub fn wants(&self, purpose: Option<&str>) -> bool {
        match (self, purpose) {
            (PurposeCells::All, None) => true,
            (PurposeCells::One(p), Some(q)) => *p == q,
            (PurposeCells::Each, Some(_)) => true,
            _ => false,
        }
    }
}

/// Responses folded into cells: all purposes together, and each purpose apart (the
/// second set is as large as the first, and only purpose questions read it).
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    layout: Vec<usize>,
    pub cells: BTreeMap<CellKey, SegmentStats>,
    pub purposes: BTreeMap<(CellKey, String), SegmentStats>,
}

impl Rollup {
    pub fn new(journey: &Journey) -> Rollup {
        Rollup {
            layout: layout(journey),
            cells: BTreeMap::new(),
            purposes: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, r: &Response) {
        let key = CellKey {
            hall: r.hall.clone(),
            period: period_of(r.date),
            segment: r.segment.clone(),
        };
        let layout = &self.layout;
        let purpose = r.purpose.as_deref().unwrap_or(NO_PURPOSE).to_owned();
        self.purposes
            .entry((key.clone(), purpose))
            .or_insert_with(|| SegmentStats::new(layout))
            .push(r);
        self.cells
            .entry(key)
            .or_insert_with(|| SegmentStats::new(layout))
            .push(r);
    }

    /// Every cell of `which`, with its purpose (`None` for all-purpose cells).
    pub fn select<'s>(
        &'s self,
        which: PurposeCells<'s>,
    ) -> Box<dyn Iterator<Item = (&'s CellKey, Option<&'s str>, &'s SegmentStats)> + 's> {
        match which {
            PurposeCells::All => Box::new(self.cells.iter().map(|(k, c)| (k, None, c))),
            _ => Box::new(
                self.purposes
                    .iter()
                    .filter(move |((_, p), _)| which.wants(Some(p)))
                    .map(|((k, p), c)| (k, Some(p.as_str()), c)),
            ),
        }
    }
}

/// A roll-up folded from many responses, as an import folds a file. Each row is folded
/// once, into its purpose cell, found by small numbers (comparing keys' strings down a
/// tree and allocating a key per row was most of an import's fold); the all-purpose
/// cells are the sums of their purpose cells, made at the end. The purpose cells are
/// the very ones of [`Rollup::push`]; the all-purpose cells add the same numbers in
/// another order, so they agree to rounding (exactly for whole and half points).
#[derive(Debug)]
pub struct RollupFold {
    layout: Vec<usize>,
    /// Halls, segments and purposes seen, numbered.
    halls: HashMap<String, u32, foldhash::fast::RandomState>,
    names: HashMap<String, u32, foldhash::fast::RandomState>,
    /// (hall, month, segment, purpose) → its slot.
    index: HashMap<(u32, u32, u32, u32), usize, foldhash::fast::RandomState>,
    slots: Vec<((CellKey, String), SegmentStats)>,
}

impl RollupFold {
    pub fn new(journey: &Journey) -> RollupFold {
        RollupFold {
            layout: layout(journey),
            halls: HashMap::default(),
            names: HashMap::default(),
            index: HashMap::default(),
            slots: Vec::new(),
        }
    }

    fn number(map: &mut HashMap<String, u32, foldhash::fast::RandomState>, s: &str) -> u32 {
        if let Some(n) = map.get(s) {
            return *n;
        }
        let n = map.len() as u32;
        map.insert(s.to_owned(), n);
        n
    }

    pub fn push(&mut self, r: &Response) {
        let hall = Self::number(&mut self.halls, r.hall.as_str());
        let segment = Self::number(&mut self.names, &r.segment);
        let purpose = r.purpose.as_deref().unwrap_or(NO_PURPOSE);
        let purpose_n = Self::number(&mut self.names, purpose);
        let month = u32::try_from(r.date.year()).unwrap_or(0) * 12 + r.date.month0();
        let slots = &mut self.slots;
        let layout = &self.layout;
        let slot = *self
            .index
            .entry((hall, month, segment, purpose_n))
            .or_insert_with(|| {
                let key = CellKey {
                    hall: r.hall.clone(),
                    period: period_of(r.date),
                    segment: r.segment.clone(),
                };
                slots.push(((key, purpose.to_owned()), SegmentStats::new(layout)));
                slots.len() - 1
            });
        self.slots[slot].1.push(r);
    }

    pub fn into_rollup(self) -> Rollup {
        let mut cells: BTreeMap<CellKey, SegmentStats> = BTreeMap::new();
        // In the order the purpose cells began, so the sums are always added alike.
        for ((key, _), stats) in &self.slots {
            match cells.get_mut(key) {
                Some(all) => all.merge(stats),
                None => {
                    cells.insert(key.clone(), stats.clone());
                }
            }
        }
        Rollup {
            layout: self.layout,
            cells,
            purposes: self.slots.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{GroupBy, GroupedStats};
    use crate::org::{OrgLevel, OrgNode, OrgTree};
    use crate::peak::PeakRule;

    fn id(s: &str) -> crate::id::OrgNodeId {
        crate::id::OrgNodeId::parse(s).unwrap()
    }

    fn tree() -> OrgTree {
        let node = |i: &str, parent: Option<&str>, level| OrgNode {
            id: id(i),
            parent: parent.map(id),
            level,
            name: i.into(),
            counters: 0,
            kiosks: 0,
            tz: None,
            targets: Default::default(),
        };
        OrgTree::build(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("c2", Some("p"), OrgLevel::City),
            node("h1", Some("c1"), OrgLevel::Hall),
            node("h2", Some("c1"), OrgLevel::Hall),
            node("h3", Some("c2"), OrgLevel::Hall),
        ])
        .unwrap()
    }

    /// The import's fold makes the cells of pushing row by row: responses of several
    /// halls, months, segments and purposes, some with none.
    #[test]
    fn the_fold_makes_the_cells_of_pushing_row_by_row() {
        let j = crate::builtin::journeys().unwrap().remove(0);
        let halls: Vec<HallId> = ["h1", "h2", "h3"]
            .iter()
            .map(|h| HallId::parse(*h).unwrap())
            .collect();
        let mut responses: Vec<Response> = crate::synth::responses(&j, &halls, 4000, 3).collect();
        for (i, r) in responses.iter_mut().enumerate() {
            if i % 7 == 0 {
                r.purpose = None;
            }
            // Tenths, which sums in another order round differently.
            if i % 3 == 0 {
                r.tolerable_wait_min = Some((i % 50) as f64 * 0.1);
            }
        }
        let months: std::collections::BTreeSet<String> =
            responses.iter().map(|r| period_of(r.date)).collect();
        assert!(months.len() > 1, "the rows span months");
        let mut by_row = Rollup::new(&j);
        let mut fold = RollupFold::new(&j);
        for r in &responses {
            by_row.push(r);
            fold.push(r);
        }
        let folded = fold.into_rollup();
        assert!(folded.purposes.keys().any(|(_, p)| p == NO_PURPOSE));
        assert_eq!(folded.purposes, by_row.purposes);
        // The all-purpose cells: the same sums added in another order.
        assert_eq!(
            folded.cells.keys().collect::<Vec<_>>(),
            by_row.cells.keys().collect::<Vec<_>>()
        );
        for (k, cell) in &folded.cells {
            peakend_testkit::assert_json_near(
                &serde_json::to_value(cell).unwrap(),
                &serde_json::to_value(&by_row.cells[k]).unwrap(),
                &format!("{k:?}"),
            );
        }
    }

    #[test]
    fn periods_and_whole_months() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(period_of(d("2024-03-15")), "2024-03");
        assert_eq!(
            whole_months(Some(d("2024-02-01")), Some(d("2024-02-29"))),
            Some((Some("2024-02".into()), Some("2024-02".into())))
        );
        assert_eq!(whole_months(None, None), Some((None, None)));
        assert_eq!(whole_months(Some(d("2024-02-02")), None), None);
        assert_eq!(whole_months(None, Some(d("2024-02-28"))), None);
    }

    /// Cells of halls merged into cities and the province give the analysis of
    /// folding every response directly.
    #[test]
    fn merged_cells_give_the_analysis_of_the_responses() {
        let j = crate::builtin::journeys().unwrap().remove(0);
        let tree = tree();
        let halls: Vec<HallId> = ["h1", "h2", "h3"]
            .iter()
            .map(|h| HallId::parse(*h).unwrap())
            .collect();
        let responses: Vec<Response> = crate::synth::responses(&j, &halls, 3000, 9).collect();
        let mut rollup = Rollup::new(&j);
        // Two imports of one month each half: cells merge across imports too.
        let (a, b) = responses.split_at(1700);
        let mut second = Rollup::new(&j);
        a.iter().for_each(|r| rollup.push(r));
        b.iter().for_each(|r| second.push(r));
        for (k, cell) in second.cells {
            match rollup.cells.get_mut(&k) {
                Some(mine) => mine.merge(&cell),
                None => {
                    rollup.cells.insert(k, cell);
                }
            }
        }
        for (k, cell) in second.purposes {
            match rollup.purposes.get_mut(&k) {
                Some(mine) => mine.merge(&cell),
                None => {
                    rollup.purposes.insert(k, cell);
                }
            }
        }
        for by in [None, Some(GroupBy::City), Some(GroupBy::Segment)] {
            let mut direct = GroupedStats::new(&j, by, Some(&tree));
            responses.iter().for_each(|r| direct.push(r));
            let mut merged = GroupedStats::new(&j, by, Some(&tree));
            for (k, cell) in &rollup.cells {
                assert!(fits(cell, &layout(&j)));
                assert!(merged.merge_cell(&k.hall, &k.segment, None, cell));
            }
            let json = |g: &GroupedStats| {
                serde_json::to_value(g.analyze(&j, None, PeakRule::default()).unwrap()).unwrap()
            };
            let (d, m) = (json(&direct), json(&merged));
            assert_eq!(d["respondents"], 3000);
            peakend_testkit::assert_json_near(&m, &d, "analysis");
        }
        let mut by_purpose = GroupedStats::new(&j, Some(GroupBy::Purpose), None);
        let (k, cell) = rollup.cells.iter().next().unwrap();
        assert!(
            !by_purpose.merge_cell(&k.hall, &k.segment, None, cell),
            "all-purpose cells do not know visit purposes"
        );
        // Purpose cells answer grouping by purpose, and one purpose alone.
        let mut direct = GroupedStats::new(&j, Some(GroupBy::Purpose), None);
        responses.iter().for_each(|r| direct.push(r));
        for (k, p, cell) in rollup.select(PurposeCells::Each) {
            assert!(by_purpose.merge_cell(&k.hall, &k.segment, p, cell));
        }
        let json = |g: &GroupedStats| {
            serde_json::to_value(g.analyze(&j, None, PeakRule::default()).unwrap()).unwrap()
        };
        let grouped = json(&by_purpose);
        assert_eq!(grouped["groups"].as_array().unwrap().len(), 4);
        peakend_testkit::assert_json_near(&grouped, &json(&direct), "by purpose");
        let mut one = GroupedStats::new(&j, None, None);
        for (k, p, cell) in rollup.select(PurposeCells::One("购机")) {
            assert!(one.merge_cell(&k.hall, &k.segment, p, cell));
        }
        let mut direct_one = GroupedStats::new(&j, None, None);
        responses
            .iter()
            .filter(|r| r.purpose.as_deref() == Some("购机"))
            .for_each(|r| direct_one.push(r));
        let one = json(&one);
        assert!(one["respondents"].as_u64().unwrap() > 300);
        peakend_testkit::assert_json_near(&one, &json(&direct_one), "one purpose");
    }
}
