//! The dense fold: a faster way to the same [`SegmentStats`] for readers that fill
//! fixed slots per row (the fast survey reader), kept apart from the roll-up cells.
//!
//! A row is two flat arrays over the slots of a [`DenseLayout`] (one slot per number
//! column, in the file's order, so a reader fills them front to back): the values (0
//! where a cell is empty) and a presence mask (1 or 0). A [`DenseSegment`] adds rows into
//! column-wise sums that the compiler vectorises, and turns into the [`SegmentStats`]
//! that [`SegmentStats::push_view`] would have built from the same rows:
//!
//! - per variable, count, sum and sum of squares: the same additions in the same order,
//!   so bit for bit the same;
//! - the pair co-moments of (satisfaction₀…ₖ₋₁, overall) with pairwise deletion: only
//!   Σ xᵢxⱼ is kept per pair for every row (the Gram matrix; an empty cell adds zeros,
//!   so it is exact as it stands). The other five sums follow from the per-variable
//!   sums, corrected by what the rows with an empty cell j left out:
//!   Σ xᵢ·[j present] = Σ xᵢ − Σ xᵢ·[j empty], and likewise for xᵢ² and the count.
//!   Rows where every variable is present (most of them) cost one multiply-add per
//!   pair instead of six sums; a row with an empty cell adds three short vectors per
//!   empty cell. Whole and half-point ratings are summed exactly either way; other
//!   decimals agree with the careful path to rounding (1e-9 relative is tested);
//! - everything else (NPS counts, waits, the peak-end pairs, expectation items) the
//!   same arithmetic as the careful path.

use std::collections::{BTreeMap, HashMap};

use smallvec::SmallVec;

use super::engine::{ExpectationStats, GroupedStats, NpsCounts, SegmentStats, merge_expectations};
use super::stats::{PairStats, PairTable, RunningStats};

/// What a number of a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Satisfaction(usize),
    Importance(usize),
    /// Need `i` of all the journey's needs, moment by moment in journey order.
    Need(usize),
    Overall,
    Recommend,
    Wait,
    Expectation(usize),
    Competitor(usize),
}

/// Where each number of a dense row lives: a slot per number column of the file, in the
/// file's order (so that a reader fills them one after the other), and one more slot,
/// always empty, for every role the file has no column for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseLayout {
    pub moments: usize,
    /// Needs of all moments together.
    pub needs: usize,
    /// Whether any expectation (competitor) item has a column.
    pub expectations: bool,
    pub competitors: bool,
    /// The slot of every role, in [`role`](Self::role) order.
    slots: Vec<usize>,
    /// Number columns; their count is also the always-empty slot.
    columns: usize,
}

impl DenseLayout {
    /// `columns` number columns, each with its role; other roles are always empty.
    pub fn new(moments: usize, needs: usize, columns: &[Role]) -> DenseLayout {
        let empty = columns.len();
        let mut layout = DenseLayout {
            moments,
            needs,
            expectations: false,
            competitors: false,
            slots: vec![empty; 4 * moments + needs + 3],
            columns: empty,
        };
        for (slot, &role) in columns.iter().enumerate() {
            let r = layout.role(role);
            layout.slots[r] = slot;
            layout.expectations |= matches!(role, Role::Expectation(_));
            layout.competitors |= matches!(role, Role::Competitor(_));
        }
        layout
    }

    fn role(&self, role: Role) -> usize {
        let (k, n) = (self.moments, self.needs);
        match role {
            Role::Satisfaction(j) => j,
            Role::Importance(j) => k + j,
            Role::Need(i) => 2 * k + i,
            Role::Overall => 2 * k + n,
            Role::Recommend => 2 * k + n + 1,
            Role::Wait => 2 * k + n + 2,
            Role::Expectation(j) => 2 * k + n + 3 + j,
            Role::Competitor(j) => 3 * k + n + 3 + j,
        }
    }

    pub fn slot(&self, role: Role) -> usize {
        self.slots[self.role(role)]
    }

    pub fn sat(&self, j: usize) -> usize {
        self.slot(Role::Satisfaction(j))
    }

    pub fn overall(&self) -> usize {
        self.slot(Role::Overall)
    }

    pub fn imp(&self, j: usize) -> usize {
        self.slot(Role::Importance(j))
    }

    pub fn need(&self, i: usize) -> usize {
        self.slot(Role::Need(i))
    }

    pub fn nps(&self) -> usize {
        self.slot(Role::Recommend)
    }

    pub fn wait(&self) -> usize {
        self.slot(Role::Wait)
    }

    pub fn expectation(&self, j: usize) -> usize {
        self.slot(Role::Expectation(j))
    }

    pub fn competitor(&self, j: usize) -> usize {
        self.slot(Role::Competitor(j))
    }

    /// Slots in a row: the columns' and the empty one (the last).
    pub fn len(&self) -> usize {
        self.columns + 1
    }

    /// The slot that is always empty.
    pub fn empty(&self) -> usize {
        self.columns
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The pair variables: satisfaction 0…k−1, then overall.
    pub fn pair_vars(&self) -> usize {
        self.moments + 1
    }

    /// The pair variables rounded up to a multiple of four: the length of a row of the
    /// dense fold's co-moments (and of its gathered pair values, padded with zeros).
    fn pair_stride(&self) -> usize {
        self.pair_vars().next_multiple_of(4)
    }

    fn pair_slot(&self, i: usize) -> usize {
        if i < self.moments {
            self.sat(i)
        } else {
            self.overall()
        }
    }
}

/// One row in a [`DenseLayout`]'s slots.
#[derive(Debug, Clone, Copy)]
pub struct DenseRow<'a> {
    pub hall: &'a str,
    pub segment: &'a str,
    pub purpose: Option<&'a str>,
    /// The value of each slot, 0 when the cell is empty.
    pub x: &'a [f64],
    /// 1 where the cell holds a value, 0 where it is empty.
    pub m: &'a [f64],
}

/// Tolerable waits up to this many tenths of a minute are counted in an array.
const WAITS: usize = 4096;

/// One segment's statistics as the dense fold keeps them; see the module comment.
#[derive(Debug, Clone)]
pub struct DenseSegment {
    layout: DenseLayout,
    /// Where the pair variables are (looked up once), and the row's, gathered (values
    /// and presence).
    pair_slots: Vec<usize>,
    px: Vec<f64>,
    pm: Vec<f64>,
    /// The slots of overall, recommend and wait.
    fixed: [usize; 3],
    respondents: u64,
    n: Vec<f64>,
    sum: Vec<f64>,
    sumsq: Vec<f64>,
    satisfied: u64,
    fully_satisfied: u64,
    nps: NpsCounts,
    waits: Vec<u64>,
    other_waits: BTreeMap<i64, u64>,
    /// Σ xᵢxⱼ of the pair variables, row i at `i · pair_stride`: its cells j > i are the
    /// sums; the few before them in its first group of four are added too and never
    /// read, so that every row is whole groups of four (no scalar tail per row).
    xy: Vec<f64>,
    /// Row j, column i (at `j · pair_stride + i`): Σ xᵢ, Σ xᵢ² and Σ [i empty] over the rows
    /// with j empty.
    x_gone: Vec<f64>,
    xx_gone: Vec<f64>,
    both_gone: Vec<f64>,
    peak_end: PairStats,
    average: PairStats,
    expectations: Option<Box<ExpectationStats>>,
    competitors: Option<Box<ExpectationStats>>,
}

impl DenseSegment {
    pub fn new(layout: &DenseLayout) -> DenseSegment {
        let (s, v) = (layout.len(), layout.pair_vars());
        let stride = layout.pair_stride();
        DenseSegment {
            layout: layout.clone(),
            pair_slots: (0..v).map(|i| layout.pair_slot(i)).collect(),
            fixed: [layout.overall(), layout.nps(), layout.wait()],
            px: vec![0.0; stride],
            pm: vec![0.0; stride],
            respondents: 0,
            n: vec![0.0; s],
            sum: vec![0.0; s],
            sumsq: vec![0.0; s],
            satisfied: 0,
            fully_satisfied: 0,
            nps: NpsCounts::default(),
            waits: vec![0; WAITS],
            other_waits: BTreeMap::new(),
            xy: vec![0.0; v * stride],
            x_gone: vec![0.0; v * stride],
            xx_gone: vec![0.0; v * stride],
            both_gone: vec![0.0; v * stride],
            peak_end: PairStats::default(),
            average: PairStats::default(),
            expectations: None,
            competitors: None,
        }
    }

    /// Adds one row; `x` and `m` must hold the layout's slots.
    // Inlined into the fast reader's loop, which may be compiled for AVX2.
    #[inline(always)]
    pub fn push(&mut self, x: &[f64], m: &[f64]) {
        let l = &self.layout;
        let (x, m) = (&x[..l.len()], &m[..l.len()]);
        self.respondents += 1;
        let s = l.len();
        let (n, sum, sumsq) = (&mut self.n[..s], &mut self.sum[..s], &mut self.sumsq[..s]);
        let (xs, ms) = (&x[..s], &m[..s]);
        for t in 0..s {
            n[t] += ms[t];
            sum[t] += xs[t];
            sumsq[t] += xs[t] * xs[t];
        }

        let [overall, nps, wait] = self.fixed;
        let (o, has_o) = (x[overall], m[overall] != 0.0);
        self.satisfied += u64::from(has_o & (o >= 8.0));
        self.fully_satisfied += u64::from(has_o & (o >= 10.0));
        let (r, has_r) = (x[nps], m[nps] != 0.0);
        self.nps.n += u64::from(has_r);
        self.nps.promoters += u64::from(has_r & (r >= 9.0));
        self.nps.detractors += u64::from(has_r & (r <= 6.0));
        let (w, has_w) = (x[wait], m[wait] != 0.0);
        let key = (w * 10.0).round() as i64;
        match usize::try_from(key) {
            Ok(i) if i < WAITS => self.waits[i] += u64::from(has_w),
            _ if has_w => *self.other_waits.entry(key).or_default() += 1,
            _ => {}
        }

        let k = l.moments;
        for ((px, pm), &at) in self.px.iter_mut().zip(&mut self.pm).zip(&self.pair_slots) {
            *px = x[at];
            *pm = m[at];
        }
        let expectations = l.expectations;
        let competitors = l.competitors;
        self.push_pairs();

        // The peak-end score as `peak_end_score` finds it: the satisfaction farthest
        // from the scale's middle (the lower one of a tie), and the last one given.
        let (mut peak, mut far, mut last, mut total, mut given) = (0.0, -1.0, 0.0, 0.0, 0u32);
        for (&x, &m) in self.px[..k].iter().zip(&self.pm[..k]) {
            let present = m != 0.0;
            let d = (x - 5.5f64).abs();
            let better = present & ((d > far) | ((d == far) & (x < peak)));
            peak = if better { x } else { peak };
            far = if better { d } else { far };
            last = if present { x } else { last };
            total += x;
            given += u32::from(present);
        }
        if has_o && given > 0 {
            self.peak_end.push((peak + last) / 2.0, o, 1.0);
            self.average.push(total / f64::from(given), o, 1.0);
        }

        if expectations {
            let at = |j| self.layout.expectation(j);
            if (0..k).any(|j| m[at(j)] != 0.0) {
                let items: SmallVec<[(f64, f64); 32]> =
                    (0..k).map(|j| (x[at(j)], m[at(j)])).collect();
                push_items(&mut self.expectations, &items, &self.px, &self.pm);
            }
        }
        if competitors {
            let at = |j| self.layout.competitor(j);
            if (0..k).any(|j| m[at(j)] != 0.0) {
                let items: SmallVec<[(f64, f64); 32]> =
                    (0..k).map(|j| (x[at(j)], m[at(j)])).collect();
                push_items(&mut self.competitors, &items, &self.px, &self.pm);
            }
        }
    }

    /// The pair co-moments of the gathered row (`px`, `pm`).
    #[inline(always)]
    fn push_pairs(&mut self) {
        let (v, stride) = (self.layout.pair_vars(), self.layout.pair_stride());
        let (x, m) = (&self.px[..stride], &self.pm[..stride]);
        // In groups of four, which the compiler turns into whole vector operations.
        for i in 0..v {
            let from = (i + 1) & !3;
            let row = &mut self.xy[i * stride + from..(i + 1) * stride];
            let xi = x[i];
            for (a, b) in row.chunks_exact_mut(4).zip(x[from..].chunks_exact(4)) {
                for k in 0..4 {
                    a[k] += xi * b[k];
                }
            }
        }
        for j in 0..v {
            if m[j] != 0.0 {
                continue;
            }
            let range = j * stride..(j + 1) * stride;
            let xg = self.x_gone[range.clone()].chunks_exact_mut(4);
            let xxg = self.xx_gone[range.clone()].chunks_exact_mut(4);
            let bg = self.both_gone[range].chunks_exact_mut(4);
            let xm = x.chunks_exact(4).zip(m.chunks_exact(4));
            for (((xg, xxg), bg), (x, m)) in xg.zip(xxg).zip(bg).zip(xm) {
                for k in 0..4 {
                    xg[k] += x[k];
                    xxg[k] += x[k] * x[k];
                    bg[k] += 1.0 - m[k];
                }
            }
        }
    }

    /// Adds another part's rows (of the same layout).
    pub fn merge(&mut self, o: &DenseSegment) {
        self.respondents += o.respondents;
        for (a, b) in [
            (&mut self.n, &o.n),
            (&mut self.sum, &o.sum),
            (&mut self.sumsq, &o.sumsq),
            (&mut self.xy, &o.xy),
            (&mut self.x_gone, &o.x_gone),
            (&mut self.xx_gone, &o.xx_gone),
            (&mut self.both_gone, &o.both_gone),
        ] {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        self.satisfied += o.satisfied;
        self.fully_satisfied += o.fully_satisfied;
        self.nps.merge(&o.nps);
        self.waits
            .iter_mut()
            .zip(&o.waits)
            .for_each(|(a, b)| *a += b);
        for (k, v) in &o.other_waits {
            *self.other_waits.entry(*k).or_default() += v;
        }
        self.peak_end.merge(&o.peak_end);
        self.average.merge(&o.average);
        merge_expectations(&mut self.expectations, &o.expectations);
        merge_expectations(&mut self.competitors, &o.competitors);
    }

    /// The statistics [`SegmentStats::push_view`] would have built from the same rows.
    /// `need_counts`: needs per moment (summing to the layout's needs).
    pub fn to_segment_stats(&self, need_counts: &[usize]) -> SegmentStats {
        let l = &self.layout;
        let stats = |s: usize| RunningStats {
            n: self.n[s] as u64,
            sum: self.sum[s],
            sumsq: self.sumsq[s],
        };
        let mut out = SegmentStats::new(need_counts);
        out.respondents = self.respondents;
        out.importance = (0..l.moments).map(|j| stats(l.imp(j))).collect();
        out.satisfaction = (0..l.moments).map(|j| stats(l.sat(j))).collect();
        let mut i = 0;
        for needs in &mut out.needs {
            for s in needs {
                *s = stats(l.need(i));
                i += 1;
            }
        }
        out.overall = stats(l.overall());
        out.satisfied = self.satisfied;
        out.fully_satisfied = self.fully_satisfied;
        out.nps = self.nps;
        out.waits = self.other_waits.clone();
        for (i, &c) in self.waits.iter().enumerate() {
            if c > 0 {
                out.waits.insert(i as i64, c);
            }
        }
        out.wait = stats(l.wait());
        out.pairs = self.pair_table();
        out.peak_end = self.peak_end;
        out.average = self.average;
        out.expectations = self.expectations.clone();
        out.competitors = self.competitors.clone();
        out
    }

    fn pair_table(&self) -> PairTable {
        let (v, stride) = (self.layout.pair_vars(), self.layout.pair_stride());
        let total = self.respondents as f64;
        let pairs = v * (v - 1) / 2;
        let mut cols: [Vec<f64>; 6] = std::array::from_fn(|_| Vec::with_capacity(pairs));
        for i in 0..v {
            for j in i + 1..v {
                let (ij, ji) = (j * stride + i, i * stride + j);
                let (si, sj) = (self.layout.pair_slot(i), self.layout.pair_slot(j));
                let [w, wx, wy, wxx, wyy, wxy] = &mut cols;
                w.push(self.n[si] + self.n[sj] - total + self.both_gone[ij]);
                wx.push(self.sum[si] - self.x_gone[ij]);
                wy.push(self.sum[sj] - self.x_gone[ji]);
                wxx.push(self.sumsq[si] - self.xx_gone[ij]);
                wyy.push(self.sumsq[sj] - self.xx_gone[ji]);
                wxy.push(self.xy[ji]);
            }
        }
        PairTable::from_columns(v, cols).expect("one value per pair")
    }
}

/// The careful path's `ExpectationStats::push` over dense slots: per moment, the
/// item's value and presence, and the satisfaction's (`x`, `m`).
fn push_items(
    stats: &mut Option<Box<ExpectationStats>>,
    items: &[(f64, f64)],
    x: &[f64],
    m: &[f64],
) {
    let k = items.len();
    let s = stats.get_or_insert_with(|| Box::new(ExpectationStats::new(k)));
    s.respondents += 1;
    for (j, &(item, given)) in items.iter().enumerate() {
        match (given != 0.0, m[j] != 0.0) {
            (true, true) => {
                let (e, sat) = (item, x[j]);
                s.expectation[j].push(e);
                s.perception[j].push(sat);
                s.gap[j].push(e - sat);
            }
            (true, false) => s.unpaired[j] += 1,
            _ => {}
        }
    }
}

/// Per segment, in the order first seen (a file has a handful): a short list searched
/// by name beats a map for so few.
#[derive(Debug, Clone)]
pub struct DenseSegments {
    layout: DenseLayout,
    segments: Vec<(String, DenseSegment)>,
}

impl DenseSegments {
    pub fn new(layout: DenseLayout) -> DenseSegments {
        DenseSegments {
            layout,
            segments: Vec::new(),
        }
    }

    #[inline(always)]
    pub fn push(&mut self, segment: &str, x: &[f64], m: &[f64]) {
        let at = match self.segments.iter().position(|(s, _)| s == segment) {
            Some(at) => at,
            None => {
                self.segments
                    .push((segment.to_owned(), DenseSegment::new(&self.layout)));
                self.segments.len() - 1
            }
        };
        self.segments[at].1.push(x, m);
    }

    pub fn merge(&mut self, o: &DenseSegments) {
        for (name, s) in &o.segments {
            match self.segments.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => mine.merge(s),
                None => self.segments.push((name.clone(), s.clone())),
            }
        }
    }

    pub fn segments(&self) -> impl Iterator<Item = (&str, &DenseSegment)> {
        self.segments.iter().map(|(n, s)| (n.as_str(), s))
    }
}

/// [`GroupedStats`] folded densely: everything by segment and, when the template
/// groups, each group by segment.
#[derive(Debug, Clone)]
pub struct DenseGrouped {
    /// An empty [`GroupedStats`]: how to group, and what the result is added to.
    template: GroupedStats,
    layout: DenseLayout,
    all: DenseSegments,
    groups: HashMap<String, DenseSegments>,
}

impl DenseGrouped {
    pub fn new(template: GroupedStats, layout: DenseLayout) -> DenseGrouped {
        DenseGrouped {
            template,
            all: DenseSegments::new(layout.clone()),
            layout,
            groups: HashMap::new(),
        }
    }

    #[inline(always)]
    pub fn push(&mut self, row: &DenseRow) {
        self.all.push(row.segment, row.x, row.m);
        if let Some(key) = self
            .template
            .group_of_row(row.hall, row.segment, row.purpose)
        {
            match self.groups.get_mut(key) {
                Some(g) => g.push(row.segment, row.x, row.m),
                None => {
                    let mut g = DenseSegments::new(self.layout.clone());
                    g.push(row.segment, row.x, row.m);
                    self.groups.insert(key.to_owned(), g);
                }
            }
        }
    }

    pub fn merge(&mut self, o: &DenseGrouped) {
        self.all.merge(&o.all);
        for (key, g) in &o.groups {
            match self.groups.get_mut(key) {
                Some(mine) => mine.merge(g),
                None => {
                    self.groups.insert(key.clone(), g.clone());
                }
            }
        }
    }

    /// The template with every row's statistics added.
    pub fn into_grouped(self) -> GroupedStats {
        let mut out = self.template;
        let need_counts = out.all.need_counts().to_vec();
        for (segment, s) in self.all.segments() {
            out.add_segment(None, segment, &s.to_segment_stats(&need_counts));
        }
        for (key, g) in &self.groups {
            for (segment, s) in g.segments() {
                out.add_segment(Some(key), segment, &s.to_segment_stats(&need_counts));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::survey::{NeedsView, Rating, ResponseView};
    use proptest::prelude::*;

    fn journey() -> crate::Journey {
        crate::builtin::journeys().unwrap().remove(0)
    }

    fn need_counts(j: &crate::Journey) -> Vec<usize> {
        j.moments().iter().map(|m| m.core_needs.len()).collect()
    }

    /// A cell: empty, whole, half, tenths, or another decimal, within `lo..=hi`.
    fn cell(lo: f64, hi: f64) -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            2 => Just(None),
            6 => (lo as u32..=hi as u32).prop_map(|v| Some(f64::from(v))),
            1 => (lo as u32 * 2..=hi as u32 * 2).prop_map(|v| Some(f64::from(v) / 2.0)),
            1 => (lo as u32 * 10..=hi as u32 * 10).prop_map(|v| Some(f64::from(v) / 10.0)),
            1 => (lo..=hi).prop_map(Some),
        ]
    }

    /// Rows in dense slots (with `x` 0 where `m` is 0).
    fn rows(layout: &DenseLayout) -> impl Strategy<Value = Vec<Vec<Option<f64>>>> + use<> {
        let cells: Vec<BoxedStrategy<Option<f64>>> = (0..layout.len())
            .map(|s| {
                if s == layout.empty() {
                    Just(None).boxed()
                } else if s == layout.nps() {
                    cell(0.0, 10.0).boxed()
                } else if s == layout.wait() {
                    prop_oneof![
                        4 => cell(0.0, 120.0),
                        1 => prop_oneof![Just(Some(409.6)), Just(Some(1e6)), Just(Some(409.5))],
                    ]
                    .boxed()
                } else {
                    cell(1.0, 10.0).boxed()
                }
            })
            .collect();
        proptest::collection::vec(cells, 0..40)
    }

    fn careful(l: &DenseLayout, nc: &[usize], rows: &[Vec<Option<f64>>]) -> SegmentStats {
        let mut s = SegmentStats::new(nc);
        for row in rows {
            let ratings: Vec<Rating> = (0..l.moments)
                .map(|j| Rating {
                    importance: row[l.imp(j)],
                    satisfaction: row[l.sat(j)],
                    expectation: if l.expectations {
                        row[l.expectation(j)]
                    } else {
                        None
                    },
                    competitor: if l.competitors {
                        row[l.competitor(j)]
                    } else {
                        None
                    },
                })
                .collect();
            let needs: Vec<Option<f64>> = (0..l.needs).map(|i| row[l.need(i)]).collect();
            s.push_view(&ResponseView {
                hall: "h1",
                segment: "gold",
                purpose: None,
                overall: row[l.overall()],
                nps: row[l.nps()],
                tolerable_wait_min: row[l.wait()],
                ratings: &ratings,
                needs: NeedsView::Dense(&needs),
                short_form: false,
            });
        }
        s
    }

    fn dense(l: &DenseLayout, rows: &[Vec<Option<f64>>]) -> DenseSegment {
        let mut d = DenseSegment::new(l);
        for row in rows {
            let x: Vec<f64> = row.iter().map(|c| c.unwrap_or(0.0)).collect();
            let m: Vec<f64> = row
                .iter()
                .map(|c| f64::from(u8::from(c.is_some())))
                .collect();
            d.push(&x, &m);
        }
        d
    }

    /// Every role in some column order, but a few left out (no such column).
    fn layout_of(expectations: bool, competitors: bool, order: u64, drop: &[usize]) -> DenseLayout {
        let j = journey();
        let (k, n): (usize, usize) = (j.moments().len(), need_counts(&j).iter().sum());
        let mut roles: Vec<Role> = (0..k)
            .flat_map(|j| [Role::Importance(j), Role::Satisfaction(j)])
            .chain((0..n).map(Role::Need))
            .chain([Role::Overall, Role::Recommend, Role::Wait])
            .chain((0..k).filter(|_| expectations).map(Role::Expectation))
            .chain((0..k).filter(|_| competitors).map(Role::Competitor))
            .collect();
        // A deterministic shuffle and a few columns dropped.
        let mut state = order | 1;
        for i in (1..roles.len()).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            roles.swap(i, (state >> 33) as usize % (i + 1));
        }
        for &d in drop {
            if d < roles.len() {
                roles.remove(d);
            }
        }
        DenseLayout::new(k, n, &roles)
    }

    fn layouts() -> impl Strategy<Value = DenseLayout> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            proptest::collection::vec(0usize..120, 0..4),
        )
            .prop_map(|(e, c, order, drop)| layout_of(e, c, order, &drop))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The dense fold gives the careful fold's statistics, also from parts merged.
        #[test]
        fn the_dense_fold_equals_the_careful_one(
            (l, rows, cut) in layouts().prop_flat_map(|l| (Just(l.clone()), rows(&l), 0usize..40)),
        ) {
            let nc = need_counts(&journey());
            let expected = careful(&l, &nc, &rows);
            let whole = dense(&l, &rows).to_segment_stats(&nc);
            let cut = cut.min(rows.len());
            let mut parts = dense(&l, &rows[..cut]);
            parts.merge(&dense(&l, &rows[cut..]));
            let parts = parts.to_segment_stats(&nc);
            // Bit for bit but for the pair sums derived by subtraction.
            let mut same = whole.clone();
            same.pairs = expected.pairs.clone();
            prop_assert_eq!(&same, &expected);
            let json = |s: &SegmentStats| serde_json::to_value(s).unwrap();
            peakend_testkit::assert_json_near(&json(&whole), &json(&expected), "whole");
            peakend_testkit::assert_json_near(&json(&parts), &json(&expected), "parts");
            for idx in 0..expected.pairs.len() {
                prop_assert_eq!(whole.pairs.get(idx).w, expected.pairs.get(idx).w);
                prop_assert_eq!(whole.pairs.get(idx).wxy, expected.pairs.get(idx).wxy);
            }
        }
    }

    #[test]
    fn whole_and_half_ratings_sum_exactly() {
        let j = journey();
        let nc = need_counts(&j);
        let l = layout_of(false, false, 0, &[]);
        let rows: Vec<Vec<Option<f64>>> = (0..500)
            .map(|r| {
                (0..l.len())
                    .map(|s| match (r * 31 + s * 7) % 23 {
                        0 | 1 => None,
                        v => Some(1.0 + f64::from(v as u32 % 19) / 2.0),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            dense(&l, &rows).to_segment_stats(&nc),
            careful(&l, &nc, &rows)
        );
    }
}
