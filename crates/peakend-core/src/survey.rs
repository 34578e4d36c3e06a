//! Survey responses: one respondent's ratings of one visit, parsed against a journey
//! so that ratings sit in journey order and every moment and need is known to exist.

use chrono::NaiveDate;
use serde::Serialize;

use crate::id::HallId;

/// Importance and satisfaction of one moment, each on 1–10; `None` = not rated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rating {
    pub importance: Option<f64>,
    pub satisfaction: Option<f64>,
    /// The gap model's optional expectation item (what the respondent expected of the
    /// moment), 1–10; `None` = not asked. Left out of the JSON when absent, so output
    /// without expectation items is what it was before they existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectation: Option<f64>,
    /// The competitive assessment's optional item: the respondent's satisfaction with a
    /// competitor's service at this moment (1–10), for the house of quality's
    /// competitive column. Absent: not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competitor: Option<f64>,
}

/// Importance of one need element of one moment (indices into the journey).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NeedRating {
    pub moment: usize,
    pub need: usize,
    pub importance: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    pub respondent: String,
    pub hall: HallId,
    pub date: NaiveDate,
    pub segment: String,
    pub purpose: Option<String>,
    /// Overall satisfaction, 1–10.
    pub overall: Option<f64>,
    /// Likelihood to recommend, 0–10.
    pub nps: Option<f64>,
    pub tolerable_wait_min: Option<f64>,
    /// One per journey moment, in journey order.
    pub ratings: Vec<Rating>,
    pub needs: Vec<NeedRating>,
    /// A contact the respondent left *with consent* to be called back (readers drop a
    /// contact given without it). Never stored with the answer: only on the service
    /// case a bad answer opens.
    pub contact: Option<String>,
    /// Free text the respondent wrote (at most [`COMMENT_MAX_CHARS`] characters).
    pub comment: Option<String>,
    /// The customer key (a salted hash of the number, 64 hex digits, never the number)
    /// that links this answer to the customer's contacts in other channels.
    pub customer: Option<String>,
    /// Answered on the short form: the purpose's peaks and the end asked of everyone,
    /// a random few of the other moments (`crate::short_form`). The analysis weighs such
    /// answers by purpose so that the moments asked at random do not lean the figures.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub short_form: bool,
}

/// The longest comment accepted, in characters (not bytes: a Chinese character is one).
pub const COMMENT_MAX_CHARS: usize = 2000;

/// Checks a comment cell or field: blank is no comment, over the limit is refused
/// with the length found, so the row or form names why.
pub fn parse_comment(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    let n = s.chars().count();
    if n > COMMENT_MAX_CHARS {
        return Err(format!(
            "{n} characters, longer than the {COMMENT_MAX_CHARS} allowed"
        ));
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// Puts responses to one journey onto the moments of another that it extends (or any
/// other): each rating and need goes to the moment and need of the same key, moments
/// the target lacks are dropped and those the source lacks are unrated. So halls on a
/// region's journey and halls on the one it extends can be analysed together.
#[derive(Debug, Clone)]
pub struct Projection {
    /// For each target moment, the source moment of the same key.
    moments: Vec<Option<usize>>,
    /// (source moment, source need) → (target moment, target need).
    needs: std::collections::HashMap<(usize, usize), (usize, usize)>,
}

impl Projection {
    pub fn new(from: &crate::Journey, to: &crate::Journey) -> Projection {
        let source = |key: &crate::MomentKey| from.moments().iter().position(|m| m.key == *key);
        let mut needs = std::collections::HashMap::new();
        let moments = to
            .moments()
            .iter()
            .enumerate()
            .map(|(ti, tm)| {
                let si = source(&tm.key)?;
                for (tn, need) in tm.core_needs.iter().enumerate() {
                    if let Some(sn) = from.moments()[si]
                        .core_needs
                        .iter()
                        .position(|n| n.key == need.key)
                    {
                        needs.insert((si, sn), (ti, tn));
                    }
                }
                Some(si)
            })
            .collect();
        Projection { moments, needs }
    }

    pub fn apply(&self, r: &Response) -> Response {
        Response {
            ratings: self
                .moments
                .iter()
                .map(|si| {
                    si.and_then(|i| r.ratings.get(i).copied())
                        .unwrap_or_default()
                })
                .collect(),
            needs: r
                .needs
                .iter()
                .filter_map(|n| {
                    let &(moment, need) = self.needs.get(&(n.moment, n.need))?;
                    Some(NeedRating {
                        moment,
                        need,
                        importance: n.importance,
                    })
                })
                .collect(),
            ..r.clone()
        }
    }
}

/// What the statistics read of a response, borrowed: a reader that folds millions of
/// rows fills one of these from the cells in place instead of allocating a [`Response`]
/// per row. The visit date and respondent are checked by the reader and not needed here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponseView<'a> {
    pub hall: &'a str,
    pub segment: &'a str,
    pub purpose: Option<&'a str>,
    pub overall: Option<f64>,
    pub nps: Option<f64>,
    pub tolerable_wait_min: Option<f64>,
    pub ratings: &'a [Rating],
    pub needs: NeedsView<'a>,
    pub short_form: bool,
}

/// The need ratings of a [`ResponseView`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NeedsView<'a> {
    /// The rated needs only, as in [`Response::needs`].
    Listed(&'a [NeedRating]),
    /// Every need of the journey, moment by moment in journey order, `None` if not rated
    /// (what a reader filling fixed slots per column produces without a branch per cell).
    Dense(&'a [Option<f64>]),
}

impl Response {
    pub fn view(&self) -> ResponseView<'_> {
        ResponseView {
            hall: self.hall.as_str(),
            segment: &self.segment,
            purpose: self.purpose.as_deref(),
            overall: self.overall,
            nps: self.nps,
            tolerable_wait_min: self.tolerable_wait_min,
            ratings: &self.ratings,
            needs: NeedsView::Listed(&self.needs),
            short_form: self.short_form,
        }
    }
}

/// Parses a rating cell on the 1–10 scale (decimals allowed).
pub fn parse_rating(s: &str) -> Result<f64, String> {
    parse_in(s, 1.0, 10.0)
}

/// Parses a recommend cell on the 0–10 scale.
pub fn parse_recommend(s: &str) -> Result<f64, String> {
    parse_in(s, 0.0, 10.0)
}

fn parse_in(s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (lo..=hi).contains(&x) => Ok(x),
        Ok(x) => Err(format!("{x} is outside {lo}–{hi}")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

/// Visit dates are parsed like every other date: checked against peakend's window.
pub use crate::time::parse_date;

/// The peak-end memory score of one respondent (see docs/methods.md): the mean of the
/// satisfaction farthest from the scale midpoint 5.5 (ties to the lower) and the
/// satisfaction at the last journey moment they rated. `None` without any rating.
pub fn peak_end_score(ratings: &[Rating]) -> Option<f64> {
    // Runs once per respondent over millions of rows, hence no collected Vec.
    let mut rated = ratings.iter().filter_map(|r| r.satisfaction);
    let first = rated.next()?;
    let (peak, last) = rated.fold((first, first), |(b, _), x| {
        let (db, dx) = ((b - 5.5).abs(), (x - 5.5).abs());
        (if dx > db || (dx == db && x < b) { x } else { b }, x)
    });
    Some((peak + last) / 2.0)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_projection_puts_ratings_on_the_moments_of_the_same_key() {
        let base = crate::builtin::journeys().unwrap().remove(0);
        let mut doc: serde_json::Value = serde_json::from_str(&base.to_json_pretty()).unwrap();
        let mut extra = doc["moments"][0].clone();
        extra["key"] = "book_online".into();
        extra["standards"] = serde_json::json!([]);
        doc["moments"].as_array_mut().unwrap().insert(1, extra);
        doc["key"] = "region".into();
        doc["extends"] = "service-hall".into();
        let region = crate::Journey::from_json(&doc.to_string()).unwrap();
        let rating = |x: f64| Rating {
            importance: Some(x),
            satisfaction: Some(x - 1.0),
            expectation: Some(x + 0.5),
            competitor: None,
        };
        let r = Response {
            respondent: "r1".into(),
            hall: HallId::parse("h1").unwrap(),
            date: NaiveDate::from_ymd_opt(2026, 8, 7).unwrap(),
            segment: "全球通".into(),
            purpose: None,
            overall: Some(8.0),
            nps: Some(9.0),
            contact: None,
            comment: None,
            customer: None,
            tolerable_wait_min: None,
            ratings: (0..17).map(|i| rating(f64::from(i) + 2.0)).collect(),
            // A need of `find` (moment 0 in both) and one of the added moment.
            needs: vec![
                NeedRating {
                    moment: 0,
                    need: 0,
                    importance: 7.0,
                },
                NeedRating {
                    moment: 1,
                    need: 0,
                    importance: 5.0,
                },
                NeedRating {
                    moment: 2,
                    need: 0,
                    importance: 6.0,
                },
            ],
            short_form: false,
        };
        let down = Projection::new(&region, &base).apply(&r);
        assert_eq!(down.ratings.len(), 16);
        assert_eq!(down.ratings[0], rating(2.0));
        // `arrive` was moment 2 of the region's journey, moment 1 of the built-in one.
        assert_eq!(down.ratings[1], rating(4.0));
        assert_eq!(down.ratings[15], rating(18.0));
        assert_eq!(
            down.needs,
            vec![
                NeedRating {
                    moment: 0,
                    need: 0,
                    importance: 7.0
                },
                NeedRating {
                    moment: 1,
                    need: 0,
                    importance: 6.0
                },
            ]
        );
        assert_eq!(down.overall, Some(8.0));
        // Upwards, the added moment is unrated.
        let up = Projection::new(&base, &region).apply(&down);
        assert_eq!(up.ratings.len(), 17);
        assert_eq!(up.ratings[1], Rating::default());
        assert_eq!(up.ratings[2], rating(4.0));
    }
    use super::*;

    fn sat(xs: &[Option<f64>]) -> Vec<Rating> {
        xs.iter()
            .map(|&s| Rating {
                importance: None,
                satisfaction: s,
                expectation: None,
                competitor: None,
            })
            .collect()
    }

    #[test]
    fn peak_end_takes_the_most_extreme_and_the_last_rated() {
        // Most extreme: 2 (3.5 from the midpoint); last rated: 8.
        assert_eq!(
            peak_end_score(&sat(&[Some(7.0), Some(2.0), Some(9.0), Some(8.0), None])),
            Some(5.0)
        );
        // 1 and 10 are equally extreme (4.5): ties go to the lower.
        assert_eq!(
            peak_end_score(&sat(&[Some(10.0), Some(1.0), Some(6.0)])),
            Some(3.5)
        );
        assert_eq!(peak_end_score(&sat(&[None, None])), None);
    }

    #[test]
    fn cells_parse_with_reasons() {
        assert_eq!(parse_rating("7.5"), Ok(7.5));
        assert_eq!(parse_rating("0"), Err("0 is outside 1–10".into()));
        assert_eq!(parse_recommend("0"), Ok(0.0));
        assert_eq!(parse_rating("good"), Err("`good` is not a number".into()));
        assert_eq!(
            parse_date("2024/3/15"),
            Ok(NaiveDate::from_ymd_opt(2024, 3, 15).unwrap())
        );
        assert!(parse_date("2024-02-30").is_err());
    }

    #[test]
    fn comments_are_limited_in_characters_not_bytes() {
        assert_eq!(parse_comment("  "), Ok(None));
        let full = "排".repeat(COMMENT_MAX_CHARS);
        assert_eq!(parse_comment(&full), Ok(Some(full.clone())));
        assert_eq!(
            parse_comment(&format!("{full}队")),
            Err("2001 characters, longer than the 2000 allowed".into())
        );
    }
}
