//! One survey response as JSON, for the web form and (later) kiosks:
//!
//! ```json
//! {"respondent": "r1", "hall": "h1", "date": "2024-03-01", "segment": "全球通",
//!  "purpose": "缴费", "overall": 9, "nps": 10, "tolerable_wait_min": 15,
//!  "ratings": {"queue": {"importance": 9, "satisfaction": 7, "expectation": 8}},
//!  "needs": {"queue": {"wait_foresight": 8}}, "comment": "排队太久了"}
//! ```
//!
//! The same rules as a row of the wide CSV; every problem is named by its field path.
//! `expectation` is the gap model's optional expectation item (the CSV's `exp.<moment>`).

use std::collections::{BTreeMap, HashSet};

use peakend_core::survey::{NeedRating, Rating, Response, parse_date};
use peakend_core::{HallId, Journey};
use serde::Deserialize;

/// A problem with one field of a JSON response, e.g. `ratings.queue.satisfaction`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingForm {
    pub importance: Option<f64>,
    pub satisfaction: Option<f64>,
    /// The optional expectation item, 1–10; absent = not asked.
    #[serde(default)]
    pub expectation: Option<f64>,
    /// The optional competitor rating (satisfaction with a competitor's service at
    /// this moment), 1–10; absent = not asked.
    #[serde(default)]
    pub competitor: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseForm {
    pub respondent: String,
    pub hall: String,
    pub date: String,
    pub segment: String,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub overall: Option<f64>,
    #[serde(default)]
    pub nps: Option<f64>,
    #[serde(default)]
    pub tolerable_wait_min: Option<f64>,
    /// A contact for a callback, kept only with `consent: true`.
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub consent: Option<bool>,
    /// Free text, at most 2,000 characters.
    #[serde(default)]
    pub comment: Option<String>,
    /// The customer key (64 hex digits), never the number.
    #[serde(default)]
    pub customer: Option<String>,
    /// Answered on the short form (a purpose's peaks and end, a random few others):
    /// the analysis weighs such answers by purpose (docs/survey-form.md).
    #[serde(default)]
    pub short_form: bool,
    #[serde(default)]
    pub ratings: BTreeMap<String, RatingForm>,
    #[serde(default)]
    pub needs: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Parses JSON text into a form, naming the field where the JSON does not fit.
pub fn from_json(body: &[u8]) -> Result<ResponseForm, FieldProblem> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| FieldProblem {
        field: match e.path().to_string() {
            p if p == "." => "(body)".to_owned(),
            p => p,
        },
        message: e.inner().to_string(),
    })
}

fn in_range(x: f64, lo: f64, hi: f64) -> Result<f64, String> {
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(format!("{x} is outside {lo}–{hi}"))
    }
}

impl ResponseForm {
    /// Checks the form against the journey (and the known halls, when given).
    pub fn parse(
        self,
        journey: &Journey,
        halls: Option<&HashSet<String>>,
    ) -> Result<Response, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut bad =
            |field: String, message: String| problems.push(FieldProblem { field, message });
        let respondent = self.respondent.trim().to_owned();
        if respondent.is_empty() {
            bad("respondent".into(), "empty".into());
        }
        let hall = match HallId::parse(self.hall.trim()) {
            Ok(h) if halls.is_none_or(|known| known.contains(h.as_str())) => Some(h),
            Ok(h) => {
                bad("hall".into(), format!("unknown hall `{h}`"));
                None
            }
            Err(e) => {
                bad("hall".into(), e.reason.into());
                None
            }
        };
        let date = parse_date(&self.date)
            .map_err(|e| bad("date".into(), e))
            .ok();
        let segment = self.segment.trim().to_owned();
        if segment.is_empty() {
            bad("segment".into(), "empty".into());
        }
        let customer = self.customer.as_deref().and_then(|c| {
            peakend_core::customer::parse_customer_key(c)
                .map_err(|e| bad("customer".into(), e))
                .ok()
        });
        let mut number = |field: &str, x: Option<f64>, lo: f64, hi: f64| {
            x.and_then(|x| in_range(x, lo, hi).map_err(|e| bad(field.into(), e)).ok())
        };
        let overall = number("overall", self.overall, 1.0, 10.0);
        let nps = number("nps", self.nps, 0.0, 10.0);
        let wait = number("tolerable_wait_min", self.tolerable_wait_min, 0.0, f64::MAX);
        let consent = if self.consent == Some(true) {
            "yes"
        } else {
            "no"
        };
        let contact =
            crate::survey_csv::contact_with_consent(self.contact.as_deref().unwrap_or(""), consent)
                .map_err(|(field, e)| bad(field.into(), e))
                .ok()
                .flatten();
        let comment = peakend_core::survey::parse_comment(self.comment.as_deref().unwrap_or(""))
            .map_err(|e| bad("comment".into(), e))
            .ok()
            .flatten();
        let moments = journey.moments();
        let position = |key: &str| {
            moments
                .iter()
                .position(|m| m.key.as_str() == key)
                .ok_or_else(|| format!("unknown moment `{key}` (journey `{}`)", journey.key()))
        };
        let mut ratings = vec![Rating::default(); moments.len()];
        for (key, form) in &self.ratings {
            let j = match position(key) {
                Ok(j) => j,
                Err(e) => {
                    bad(format!("ratings.{key}"), e);
                    continue;
                }
            };
            let mut rate = |what: &str, x: Option<f64>| {
                x.and_then(|x| {
                    in_range(x, 1.0, 10.0)
                        .map_err(|e| bad(format!("ratings.{key}.{what}"), e))
                        .ok()
                })
            };
            ratings[j] = Rating {
                importance: rate("importance", form.importance),
                satisfaction: rate("satisfaction", form.satisfaction),
                expectation: rate("expectation", form.expectation),
                competitor: rate("competitor", form.competitor),
            };
        }
        let mut needs = Vec::new();
        for (key, elements) in &self.needs {
            let m = match position(key) {
                Ok(m) => m,
                Err(e) => {
                    bad(format!("needs.{key}"), e);
                    continue;
                }
            };
            for (need, &x) in elements {
                let field = format!("needs.{key}.{need}");
                let Some(n) = moments[m]
                    .core_needs
                    .iter()
                    .position(|c| c.key.as_str() == need)
                else {
                    bad(field, format!("unknown need `{need}` of moment `{key}`"));
                    continue;
                };
                match in_range(x, 1.0, 10.0) {
                    Ok(importance) => needs.push(NeedRating {
                        moment: m,
                        need: n,
                        importance,
                    }),
                    Err(e) => bad(field, e),
                }
            }
        }
        // Needs in journey order, as the CSV reader yields them, so both forms store alike.
        needs.sort_by_key(|n| (n.moment, n.need));
        match (hall, date) {
            (Some(hall), Some(date)) if problems.is_empty() => Ok(Response {
                respondent,
                hall,
                date,
                segment,
                purpose: self
                    .purpose
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty()),
                overall,
                nps,
                tolerable_wait_min: wait,
                ratings,
                needs,
                contact,
                comment,
                customer,
                short_form: self.short_form,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journey() -> Journey {
        peakend_core::builtin::journeys().unwrap().remove(0)
    }

    #[test]
    fn a_json_response_equals_the_same_csv_row() {
        let json = r#"{"respondent": "r1", "hall": "h1", "date": "2024/3/5", "segment": "全球通",
            "purpose": "缴费", "overall": 9, "nps": 10, "tolerable_wait_min": 16,
            "ratings": {"queue": {"importance": 9, "satisfaction": 7.5, "expectation": 8.5}, "find": {"satisfaction": 6}},
            "needs": {"queue": {"wait_foresight": 8}}}"#;
        let from_json = from_json(json.as_bytes())
            .unwrap()
            .parse(&journey(), None)
            .unwrap();
        let csv = "respondent,hall,date,segment,purpose,overall,nps,tolerable_wait_min,imp.queue,sat.queue,exp.queue,sat.find,need.queue.wait_foresight\n\
                   r1,h1,2024-03-05,全球通,缴费,9,10,16,9,7.5,8.5,6,8\n";
        let opts = crate::survey_csv::Options {
            ignore_unknown: false,
            halls: None,
            ..Default::default()
        };
        let from_csv = crate::survey_csv::parse(csv, &journey(), &opts).unwrap();
        let q = journey()
            .moments()
            .iter()
            .position(|m| m.key.as_str() == "queue")
            .unwrap();
        assert_eq!(from_json.ratings[q].expectation, Some(8.5));
        assert_eq!(vec![from_json], from_csv);
    }

    #[test]
    fn every_bad_field_is_named() {
        let json = r#"{"respondent": " ", "hall": "nowhere", "date": "2024-02-30", "segment": "g",
            "overall": 11, "nps": -1,
            "ratings": {"queue": {"satisfaction": 0, "expectation": 10.5}, "lobby": {"importance": 5}},
            "needs": {"queue": {"speed": 5}}}"#;
        let halls = HashSet::from(["h1".to_owned()]);
        let problems = from_json(json.as_bytes())
            .unwrap()
            .parse(&journey(), Some(&halls))
            .unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "respondent: empty",
                "hall: unknown hall `nowhere`",
                "date: `2024-02-30` is not a date (expected YYYY-MM-DD)",
                "overall: 11 is outside 1–10",
                "nps: -1 is outside 0–10",
                "ratings.lobby: unknown moment `lobby` (journey `service-hall`)",
                "ratings.queue.satisfaction: 0 is outside 1–10",
                "ratings.queue.expectation: 10.5 is outside 1–10",
                "needs.queue.speed: unknown need `speed` of moment `queue`",
            ]
        );
    }

    #[test]
    fn json_that_does_not_fit_names_the_field() {
        let e = from_json(br#"{"respondent": "r1", "hall": "h1", "date": "2024-01-01", "segment": "g", "ratings": {"queue": {"satisfaction": "high"}}}"#).unwrap_err();
        assert_eq!(e.field, "ratings.queue.satisfaction");
        let e = from_json(br#"{"respondent": "r1", "hall": "h1", "date": "2024-01-01", "segment": "g", "colour": 1}"#).unwrap_err();
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        let e = from_json(br#"{"respondent": "r1"}"#).unwrap_err();
        assert!(e.message.contains("missing field"), "{e}");
    }

    #[test]
    fn a_comment_is_kept_and_an_over_long_one_is_a_field_problem() {
        let body = |c: &str| {
            serde_json::json!({"respondent": "r1", "hall": "h1", "date": "2024-01-01",
                "segment": "g", "comment": c})
            .to_string()
        };
        let r = from_json(body(" 营业员很耐心 ").as_bytes())
            .unwrap()
            .parse(&journey(), None)
            .unwrap();
        assert_eq!(r.comment.as_deref(), Some("营业员很耐心"));
        let problems = from_json(body(&"等".repeat(2001)).as_bytes())
            .unwrap()
            .parse(&journey(), None)
            .unwrap_err();
        assert_eq!(
            problems,
            [FieldProblem {
                field: "comment".into(),
                message: "2001 characters, longer than the 2000 allowed".into()
            }]
        );
    }
}
