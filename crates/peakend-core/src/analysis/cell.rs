//! A roll-up cell ([`SegmentStats`]) in bytes, for storage.
//!
//! Cells were stored as JSON: a province's 500,000 cells took most of a survey
//! import's time to print and most of a cold start's to parse (every sum a decimal
//! number). This format writes each number as the counts and sums it almost always is —
//! a whole number, as a variable-length integer of one to three bytes — and any other
//! `f64` as its eight bytes, so a cell reads back bit for bit, in a fraction of the
//! space and time.
//!
//! Layout (version 1), in field order of [`SegmentStats`]: counts as LEB128 integers,
//! numbers as described above, a vector as its length then its items, the two optional
//! parts as a 0/1 byte then the part.

use std::collections::BTreeMap;

use super::engine::{ExpectationStats, NpsCounts, SegmentStats, ShortStats};
use super::stats::{PairStats, PairTable, RunningStats};

const VERSION: u8 = 1;

/// Tags of a number: a whole number ≥ 0, a whole number < 0, any other `f64`.
const WHOLE: u8 = 0;
const NEGATIVE: u8 = 1;
const FLOAT: u8 = 2;
/// Whole numbers up to this are exact in an `f64`.
const EXACT: f64 = 9_007_199_254_740_992.0;

impl SegmentStats {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(2048));
        w.byte(VERSION);
        w.count(self.respondents);
        w.runs(&self.importance);
        w.runs(&self.satisfaction);
        w.count(self.needs.len() as u64);
        self.needs.iter().for_each(|n| w.runs(n));
        w.run(&self.overall);
        w.count(self.satisfied);
        w.count(self.fully_satisfied);
        w.count(self.nps.n);
        w.count(self.nps.promoters);
        w.count(self.nps.detractors);
        w.count(self.waits.len() as u64);
        for (k, v) in &self.waits {
            w.number(*k as f64);
            w.count(*v);
        }
        w.run(&self.wait);
        w.count(self.pairs.vars() as u64);
        for column in self.pairs.columns() {
            column.iter().for_each(|x| w.number(*x));
        }
        w.pair(&self.peak_end);
        w.pair(&self.average);
        w.expectations(self.expectations.as_deref());
        w.expectations(self.competitors.as_deref());
        // The short form's part only when there is one: a cell without it is written
        // byte for byte as before it existed.
        if !self.short.is_empty() {
            w.count(self.short.len() as u64);
            for (purpose, s) in &self.short {
                w.count(purpose.len() as u64);
                w.0.extend_from_slice(purpose.as_bytes());
                w.count(s.respondents);
                w.runs(&s.satisfaction);
            }
        }
        w.0
    }

    /// A cell from [`SegmentStats::to_bytes`]; anything else is refused with the reason,
    /// never a panic, and never a vector longer than the bytes could hold.
    pub fn from_bytes(bytes: &[u8]) -> Result<SegmentStats, String> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.byte()?;
        if version != VERSION {
            return Err(format!("cell of version {version}"));
        }
        let respondents = r.count()?;
        let importance = r.runs()?;
        let satisfaction = r.runs()?;
        let n = r.len(1)?;
        let needs = (0..n).map(|_| r.runs()).collect::<Result<_, _>>()?;
        let overall = r.run()?;
        let satisfied = r.count()?;
        let fully_satisfied = r.count()?;
        let nps = NpsCounts {
            n: r.count()?,
            promoters: r.count()?,
            detractors: r.count()?,
        };
        let n = r.len(2)?;
        let mut waits = BTreeMap::new();
        for _ in 0..n {
            let k = r.number()?;
            if k.fract() != 0.0 || k.abs() > EXACT {
                return Err(format!("wait key {k} is not a whole number"));
            }
            waits.insert(k as i64, r.count()?);
        }
        let wait = r.run()?;
        let vars = r.count()?;
        let vars = usize::try_from(vars)
            .ok()
            .filter(|v| *v <= 1 << 16)
            .ok_or_else(|| format!("{vars} paired variables"))?;
        let per = vars * vars.saturating_sub(1) / 2;
        if per > r.left() {
            return Err(format!("{vars} paired variables in {} bytes", r.left()));
        }
        let mut column = || (0..per).map(|_| r.number()).collect::<Result<Vec<_>, _>>();
        let columns = [
            column()?,
            column()?,
            column()?,
            column()?,
            column()?,
            column()?,
        ];
        let pairs = PairTable::from_columns(vars, columns)
            .ok_or_else(|| format!("a pair table of {vars} variables is not whole"))?;
        let peak_end = r.pair()?;
        let average = r.pair()?;
        let expectations = r.expectations()?;
        let competitors = r.expectations()?;
        let mut short = BTreeMap::new();
        if r.left() != 0 {
            // A purpose is at least a length, a count and an empty vector.
            let n = r.len(3)?;
            if n == 0 {
                return Err("an empty short-form part".into());
            }
            for _ in 0..n {
                let len = r.len(1)?;
                let purpose = std::str::from_utf8(&r.bytes[r.at..r.at + len])
                    .map_err(|_| "a purpose that is not UTF-8".to_string())?
                    .to_owned();
                r.at += len;
                let stats = ShortStats {
                    respondents: r.count()?,
                    satisfaction: r.runs()?,
                };
                if short.insert(purpose, stats).is_some() {
                    return Err("a purpose twice in the short form's part".into());
                }
            }
        }
        if r.left() != 0 {
            return Err(format!("{} bytes after the cell", r.left()));
        }
        Ok(SegmentStats {
            respondents,
            importance,
            satisfaction,
            needs,
            overall,
            satisfied,
            fully_satisfied,
            nps,
            waits,
            wait,
            pairs,
            peak_end,
            average,
            expectations,
            competitors,
            short,
        })
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn count(&mut self, mut v: u64) {
        loop {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(low);
                return;
            }
            self.0.push(low | 0x80);
        }
    }

    fn number(&mut self, x: f64) {
        // -0.0 keeps its sign bit: it goes as a float.
        if x.fract() == 0.0 && x.abs() <= EXACT && x.to_bits() != (-0.0f64).to_bits() {
            if x >= 0.0 {
                self.byte(WHOLE);
                self.count(x as u64);
            } else {
                self.byte(NEGATIVE);
                self.count((-x) as u64);
            }
        } else {
            self.byte(FLOAT);
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn run(&mut self, s: &RunningStats) {
        self.count(s.n);
        self.number(s.sum);
        self.number(s.sumsq);
    }

    fn runs(&mut self, v: &[RunningStats]) {
        self.count(v.len() as u64);
        v.iter().for_each(|s| self.run(s));
    }

    fn pair(&mut self, p: &PairStats) {
        for x in [p.w, p.wx, p.wy, p.wxx, p.wyy, p.wxy] {
            self.number(x);
        }
    }

    fn expectations(&mut self, e: Option<&ExpectationStats>) {
        let Some(e) = e else {
            self.byte(0);
            return;
        };
        self.byte(1);
        self.count(e.respondents);
        self.runs(&e.expectation);
        self.runs(&e.perception);
        self.runs(&e.gap);
        self.count(e.unpaired.len() as u64);
        e.unpaired.iter().for_each(|u| self.count(*u));
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("the cell ends at byte {}", self.bytes.len()))?;
        self.at += 1;
        Ok(b)
    }

    fn count(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let low = u64::from(b & 0x7f);
            if shift == 63 && low > 1 {
                return Err("a count beyond 64 bits".into());
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a count beyond 64 bits".into())
    }

    /// A length of items each at least `min` bytes long: never more than the bytes left
    /// could hold, so a corrupt length cannot ask for a huge allocation.
    fn len(&mut self, min: usize) -> Result<usize, String> {
        let n = self.count()?;
        usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(min) <= self.left())
            .ok_or_else(|| format!("{n} items in {} bytes", self.left()))
    }

    fn number(&mut self) -> Result<f64, String> {
        match self.byte()? {
            WHOLE => Ok(self.count()? as f64),
            NEGATIVE => Ok(-(self.count()? as f64)),
            FLOAT => {
                let end = self.at + 8;
                let b = self
                    .bytes
                    .get(self.at..end)
                    .ok_or_else(|| format!("the cell ends at byte {}", self.bytes.len()))?;
                self.at = end;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(f64::from_le_bytes(a))
            }
            t => Err(format!("number tag {t}")),
        }
    }

    fn run(&mut self) -> Result<RunningStats, String> {
        Ok(RunningStats {
            n: self.count()?,
            sum: self.number()?,
            sumsq: self.number()?,
        })
    }

    fn runs(&mut self) -> Result<Vec<RunningStats>, String> {
        // A running stat is at least five bytes (a count and two tagged numbers).
        let n = self.len(5)?;
        (0..n).map(|_| self.run()).collect()
    }

    fn pair(&mut self) -> Result<PairStats, String> {
        Ok(PairStats {
            w: self.number()?,
            wx: self.number()?,
            wy: self.number()?,
            wxx: self.number()?,
            wyy: self.number()?,
            wxy: self.number()?,
        })
    }

    fn expectations(&mut self) -> Result<Option<Box<ExpectationStats>>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => {
                let respondents = self.count()?;
                let expectation = self.runs()?;
                let perception = self.runs()?;
                let gap = self.runs()?;
                let n = self.len(1)?;
                let unpaired = (0..n).map(|_| self.count()).collect::<Result<_, _>>()?;
                Ok(Some(Box::new(ExpectationStats {
                    respondents,
                    expectation,
                    perception,
                    gap,
                    unpaired,
                })))
            }
            b => Err(format!("optional part marked {b}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use crate::synth;
    use proptest::prelude::*;

    /// A cell of `rows` synthetic answers; with `expectations`, the gap model's and the
    /// competitive items too, and every third answer from the short form.
    fn cell(rows: usize, seed: u64, expectations: bool) -> SegmentStats {
        let j = builtin::journeys().unwrap().remove(0);
        let halls = [crate::HallId::parse("h1").unwrap()];
        let responses = synth::responses_with(
            &j,
            &halls,
            rows,
            seed,
            synth::SynthOptions {
                expectations,
                competitors: expectations,
            },
        );
        let needs: Vec<usize> = j.moments().iter().map(|m| m.core_needs.len()).collect();
        let mut s = SegmentStats::new(&needs);
        responses.enumerate().for_each(|(i, mut r)| {
            r.short_form = expectations && i % 3 == 0;
            s.push(&r)
        });
        s
    }

    #[test]
    fn the_short_forms_part_reads_back_and_costs_nothing_when_absent() {
        let with = cell(40, 5, true);
        assert!(!with.short.is_empty());
        assert_eq!(SegmentStats::from_bytes(&with.to_bytes()).unwrap(), with);
        let mut without = with.clone();
        without.short.clear();
        // The long-form cell is a prefix: the same bytes it had before the part existed.
        let (a, b) = (without.to_bytes(), with.to_bytes());
        assert!(b.starts_with(&a) && b.len() > a.len());
    }

    #[test]
    fn a_cell_reads_back_whole_and_is_much_smaller_than_its_json() {
        for (rows, exp) in [(0, false), (1, false), (40, false), (40, true)] {
            let c = cell(rows, 7, exp);
            let bytes = c.to_bytes();
            assert_eq!(SegmentStats::from_bytes(&bytes).unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert!(
                bytes.len() * 2 < json.len(),
                "{} vs {}",
                bytes.len(),
                json.len()
            );
        }
    }

    #[test]
    fn cut_padded_or_foreign_bytes_are_refused() {
        let bytes = cell(20, 3, true).to_bytes();
        for end in [0, 1, 2, bytes.len() / 2, bytes.len() - 1] {
            assert!(SegmentStats::from_bytes(&bytes[..end]).is_err(), "{end}");
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(SegmentStats::from_bytes(&more).is_err());
        assert!(SegmentStats::from_bytes(b"{\"respondents\":1}").is_err());
    }

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            (0u32..5000).prop_map(f64::from),
            (-5000i32..0).prop_map(f64::from),
            any::<f64>(),
            Just(-0.0),
            Just(EXACT),
            Just(EXACT * 2.0),
            Just(-EXACT),
            Just(f64::NAN),
            Just(f64::INFINITY),
        ]
    }

    proptest! {
        #[test]
        fn every_number_comes_back_bit_for_bit(xs in proptest::collection::vec(number(), 0..50)) {
            let mut w = Writer(Vec::new());
            xs.iter().for_each(|x| w.number(*x));
            let mut r = Reader { bytes: &w.0, at: 0 };
            for x in &xs {
                prop_assert_eq!(r.number().unwrap().to_bits(), x.to_bits());
            }
            prop_assert_eq!(r.left(), 0);
        }

        #[test]
        fn cells_of_any_answers_read_back(rows in 0usize..30, seed in 0u64..1000, exp in any::<bool>()) {
            let c = cell(rows, seed, exp);
            prop_assert_eq!(SegmentStats::from_bytes(&c.to_bytes()).unwrap(), c);
        }

        #[test]
        fn any_bytes_read_or_refuse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SegmentStats::from_bytes(&bytes);
        }

        #[test]
        fn a_flipped_byte_never_panics(at in 0usize..10_000, to in any::<u8>()) {
            let mut bytes = cell(10, 1, true).to_bytes();
            let i = at % bytes.len();
            bytes[i] = to;
            let _ = SegmentStats::from_bytes(&bytes);
        }
    }
}
