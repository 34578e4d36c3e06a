//! A response's answers packed into a few bytes for storage.
//!
//! A row per rating (16 moments, 45 need elements) made a survey import write 60 rows
//! per respondent: 2,000,000 respondents took twelve minutes and most of the database.
//! The answers are now one value per response, read back against the **layout** they
//! were packed with (the journey's moment keys and each moment's need keys at the time),
//! so a journey that later gains, drops or reorders moments still reads its old answers
//! by key, the way rows keyed by moment did.
//!
//! Format (version 1):
//! - byte 0: the version, `1`;
//! - per layout moment, in order: a flags byte (bit 0 importance, 1 satisfaction,
//!   2 expectation, 3 competitor) followed by the values present, in that order;
//! - a bitmap of the layout's need elements (one bit each, in order, low bit first),
//!   then the values of those present.
//!
//! A value is one byte `b < 255` meaning `b / 2` (every whole and half score 0–127 the
//! scales can take), or `255` followed by the `f64`'s eight little-endian bytes, so
//! any value a reader accepted comes back bit for bit.

use serde::{Deserialize, Serialize};

use crate::Journey;
use crate::survey::{NeedRating, Rating};

/// The moment and need keys a response's answers were packed against, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerLayout {
    pub moments: Vec<LayoutMoment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutMoment {
    pub key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
}

const VERSION: u8 = 1;
const ESCAPE: u8 = 255;

impl AnswerLayout {
    pub fn of(journey: &Journey) -> AnswerLayout {
        AnswerLayout {
            moments: journey
                .moments()
                .iter()
                .map(|m| LayoutMoment {
                    key: m.key.as_str().to_owned(),
                    needs: m
                        .core_needs
                        .iter()
                        .map(|n| n.key.as_str().to_owned())
                        .collect(),
                })
                .collect(),
        }
    }

    /// The stored form (its JSON), compared whole to find an existing layout.
    pub fn text(&self) -> String {
        serde_json::to_string(self).expect("a layout is plain strings")
    }

    pub fn parse(text: &str) -> Result<AnswerLayout, String> {
        serde_json::from_str(text).map_err(|e| format!("answer layout: {e}"))
    }

    fn need_count(&self) -> usize {
        self.moments.iter().map(|m| m.needs.len()).sum()
    }

    /// Where each of this layout's moments and needs sits in `journey` (`None`: the
    /// journey no longer has it, and its answers are dropped on reading).
    pub fn map_to(&self, journey: &Journey) -> LayoutMap {
        let moments: Vec<Option<usize>> = self
            .moments
            .iter()
            .map(|m| {
                journey
                    .moments()
                    .iter()
                    .position(|j| j.key.as_str() == m.key)
            })
            .collect();
        let needs = self
            .moments
            .iter()
            .zip(&moments)
            .flat_map(|(m, at)| {
                m.needs.iter().map(move |n| {
                    let jm = (*at)?;
                    journey.moments()[jm]
                        .core_needs
                        .iter()
                        .position(|x| x.key.as_str() == n)
                        .map(|jn| (jm, jn))
                })
            })
            .collect();
        LayoutMap {
            moments,
            needs,
            width: journey.moments().len(),
        }
    }
}

/// A layout's positions in one journey (see [`AnswerLayout::map_to`]).
#[derive(Debug, Clone)]
pub struct LayoutMap {
    moments: Vec<Option<usize>>,
    needs: Vec<Option<(usize, usize)>>,
    width: usize,
}

/// Packs `ratings` (one per layout moment, in order) and `needs` (indices into the
/// same journey the layout was made of).
pub fn pack(layout: &AnswerLayout, ratings: &[Rating], needs: &[NeedRating]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + ratings.len() * 3 + needs.len() + 8);
    out.push(VERSION);
    for i in 0..layout.moments.len() {
        let r = ratings.get(i).copied().unwrap_or_default();
        let values = [r.importance, r.satisfaction, r.expectation, r.competitor];
        let flags = values
            .iter()
            .enumerate()
            .fold(0u8, |f, (b, v)| if v.is_some() { f | 1 << b } else { f });
        out.push(flags);
        values.iter().flatten().for_each(|v| put(&mut out, *v));
    }
    // Need indices by their place in the layout's flat list.
    let mut offsets = Vec::with_capacity(layout.moments.len());
    let mut total = 0;
    for m in &layout.moments {
        offsets.push(total);
        total += m.needs.len();
    }
    let mut values: Vec<Option<f64>> = vec![None; total];
    for n in needs {
        if let Some(&o) = offsets.get(n.moment)
            && n.need < layout.moments[n.moment].needs.len()
        {
            values[o + n.need] = Some(n.importance);
        }
    }
    let mut bitmap = vec![0u8; total.div_ceil(8)];
    for (k, v) in values.iter().enumerate() {
        if v.is_some() {
            bitmap[k / 8] |= 1 << (k % 8);
        }
    }
    out.extend_from_slice(&bitmap);
    values.iter().flatten().for_each(|v| put(&mut out, *v));
    out
}

fn put(out: &mut Vec<u8>, v: f64) {
    let twice = v * 2.0;
    if twice >= 0.0
        && twice < f64::from(ESCAPE)
        && twice.fract() == 0.0
        && v.to_bits() != (-0.0f64).to_bits()
    {
        out.push(twice as u8);
    } else {
        out.push(ESCAPE);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// The answers a packed value holds, placed in `map`'s journey: its ratings (one per
/// journey moment) and its needs in journey order. Refuses bytes that are not a whole
/// packed value of this layout, never panics.
pub fn unpack(
    layout: &AnswerLayout,
    map: &LayoutMap,
    bytes: &[u8],
) -> Result<(Vec<Rating>, Vec<NeedRating>), String> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.byte()?;
    if version != VERSION {
        return Err(format!("packed answers of version {version}"));
    }
    let mut ratings = vec![Rating::default(); map.width];
    for (i, _) in layout.moments.iter().enumerate() {
        let flags = r.byte()?;
        if flags > 0b1111 {
            return Err(format!("moment {i}: flags {flags:#x}"));
        }
        let mut values = [None; 4];
        for (b, v) in values.iter_mut().enumerate() {
            if flags & 1 << b != 0 {
                *v = Some(r.value()?);
            }
        }
        if let Some(Some(j)) = map.moments.get(i) {
            ratings[*j] = Rating {
                importance: values[0],
                satisfaction: values[1],
                expectation: values[2],
                competitor: values[3],
            };
        }
    }
    let total = layout.need_count();
    let bitmap = r.take(total.div_ceil(8))?;
    let mut needs = Vec::new();
    for k in 0..total {
        if bitmap[k / 8] & 1 << (k % 8) != 0 {
            let importance = r.value()?;
            if let Some(Some((moment, need))) = map.needs.get(k) {
                needs.push(NeedRating {
                    moment: *moment,
                    need: *need,
                    importance,
                });
            }
        }
    }
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes after the packed answers",
            bytes.len() - r.at
        ));
    }
    needs.sort_by_key(|n| (n.moment, n.need));
    Ok((ratings, needs))
}

/// Only the satisfaction per layout moment (for sums across channels), without a
/// journey: `(layout moment, satisfaction)`.
pub fn satisfactions(layout: &AnswerLayout, bytes: &[u8]) -> Result<Vec<(usize, f64)>, String> {
    let identity = LayoutMap {
        moments: (0..layout.moments.len()).map(Some).collect(),
        needs: vec![None; layout.need_count()],
        width: layout.moments.len(),
    };
    let (ratings, _) = unpack(layout, &identity, bytes)?;
    Ok(ratings
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.satisfaction.map(|s| (i, s)))
        .collect())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("packed answers end at byte {}", self.bytes.len()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn value(&mut self) -> Result<f64, String> {
        match self.byte()? {
            ESCAPE => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(f64::from_le_bytes(a))
            }
            b => Ok(f64::from(b) / 2.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use proptest::prelude::*;

    fn hall() -> Journey {
        builtin::journeys().unwrap().remove(0)
    }

    #[test]
    fn a_typical_answer_is_about_a_hundred_bytes_and_reads_back() {
        let j = hall();
        let layout = AnswerLayout::of(&j);
        let ratings: Vec<Rating> = (0..j.moments().len())
            .map(|i| Rating {
                importance: Some((i % 10 + 1) as f64),
                satisfaction: Some(7.5),
                expectation: None,
                competitor: (i == 3).then_some(6.0),
            })
            .collect();
        let needs: Vec<NeedRating> = j
            .moments()
            .iter()
            .enumerate()
            .flat_map(|(m, mo)| {
                (0..mo.core_needs.len()).map(move |n| NeedRating {
                    moment: m,
                    need: n,
                    importance: 8.0,
                })
            })
            .collect();
        let bytes = pack(&layout, &ratings, &needs);
        assert!(
            bytes.len() < 1 + 16 * 3 + 8 + needs.len() + 2,
            "{}",
            bytes.len()
        );
        let map = layout.map_to(&j);
        assert_eq!(unpack(&layout, &map, &bytes).unwrap(), (ratings, needs));
    }

    #[test]
    fn answers_follow_their_keys_into_a_changed_journey() {
        let j = hall();
        let mut layout = AnswerLayout::of(&j);
        // Packed when the journey had a moment it has since lost, ahead of the others.
        layout.moments.insert(
            0,
            LayoutMoment {
                key: "gone".into(),
                needs: vec!["x".into()],
            },
        );
        let mut ratings = vec![Rating::default(); layout.moments.len()];
        ratings[0].satisfaction = Some(3.0);
        ratings[2].satisfaction = Some(9.0); // the journey's moment 1
        let needs = vec![
            NeedRating {
                moment: 0,
                need: 0,
                importance: 4.0,
            },
            NeedRating {
                moment: 1,
                need: 0,
                importance: 6.0,
            },
        ];
        let bytes = pack(&layout, &ratings, &needs);
        let (read, read_needs) = unpack(&layout, &layout.map_to(&j), &bytes).unwrap();
        assert_eq!(read.len(), j.moments().len());
        assert_eq!(read[1].satisfaction, Some(9.0));
        assert_eq!(read[0].satisfaction, None);
        assert_eq!(
            read_needs,
            vec![NeedRating {
                moment: 0,
                need: 0,
                importance: 6.0
            }]
        );
        assert_eq!(
            satisfactions(&layout, &bytes).unwrap(),
            vec![(0, 3.0), (2, 9.0)]
        );
    }

    #[test]
    fn a_layout_reads_back_from_its_text() {
        let layout = AnswerLayout::of(&hall());
        assert_eq!(AnswerLayout::parse(&layout.text()).unwrap(), layout);
        assert!(AnswerLayout::parse("{").is_err());
    }

    #[test]
    fn cut_or_padded_bytes_are_refused() {
        let j = hall();
        let layout = AnswerLayout::of(&j);
        let map = layout.map_to(&j);
        let bytes = pack(&layout, &[Rating::default()], &[]);
        assert!(unpack(&layout, &map, &bytes[..bytes.len() - 1]).is_err());
        let mut more = bytes.clone();
        more.push(0);
        assert!(unpack(&layout, &map, &more).is_err());
        assert!(unpack(&layout, &map, &[2]).is_err());
        assert!(unpack(&layout, &map, &[]).is_err());
    }

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            (0u8..=20).prop_map(|v| Some(f64::from(v) / 2.0)),
            any::<f64>().prop_map(Some),
            Just(Some(-0.0)),
            Just(Some(127.5)),
            Just(Some(200.0)),
        ]
    }

    proptest! {
        #[test]
        fn packing_is_lossless(
            values in proptest::collection::vec((value(), value(), value(), value()), 16),
            need_values in proptest::collection::vec(value(), 64),
        ) {
            let j = hall();
            let layout = AnswerLayout::of(&j);
            let ratings: Vec<Rating> = values
                .iter()
                .map(|(a, b, c, d)| Rating { importance: *a, satisfaction: *b, expectation: *c, competitor: *d })
                .collect();
            let mut k = 0;
            let mut needs = Vec::new();
            for (m, mo) in j.moments().iter().enumerate() {
                for n in 0..mo.core_needs.len() {
                    if let Some(Some(v)) = need_values.get(k) {
                        needs.push(NeedRating { moment: m, need: n, importance: *v });
                    }
                    k += 1;
                }
            }
            let bytes = pack(&layout, &ratings, &needs);
            let (r, n) = unpack(&layout, &layout.map_to(&j), &bytes).unwrap();
            // Bit for bit (NaN included), not just ==.
            let bits = |v: &Option<f64>| v.map(f64::to_bits);
            for (a, b) in r.iter().zip(&ratings) {
                prop_assert_eq!(bits(&a.importance), bits(&b.importance));
                prop_assert_eq!(bits(&a.satisfaction), bits(&b.satisfaction));
                prop_assert_eq!(bits(&a.expectation), bits(&b.expectation));
                prop_assert_eq!(bits(&a.competitor), bits(&b.competitor));
            }
            prop_assert_eq!(n.len(), needs.len());
            for (a, b) in n.iter().zip(&needs) {
                prop_assert_eq!((a.moment, a.need, a.importance.to_bits()), (b.moment, b.need, b.importance.to_bits()));
            }
        }

        #[test]
        fn any_bytes_read_or_refuse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let j = hall();
            let layout = AnswerLayout::of(&j);
            let _ = unpack(&layout, &layout.map_to(&j), &bytes);
            let _ = satisfactions(&layout, &bytes);
        }
    }
}
