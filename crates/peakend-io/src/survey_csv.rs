//! The wide survey format: `respondent,hall,date,segment,purpose,overall,nps`, then per
//! moment `imp.<moment>` and `sat.<moment>` (and, optionally, the gap model's
//! expectation item `exp.<moment>`), optionally `need.<moment>.<need>` and
//! `tolerable_wait_min`. Columns may come in any order; an empty cell is "not rated"
//! (for `exp.`, "not asked").

use std::collections::{HashMap, HashSet};

use peakend_core::survey::{
    NeedRating, Rating, Response, parse_date, parse_rating, parse_recommend,
};
use peakend_core::{HallId, Journey};

use crate::CellError;
use crate::table::{self, Input};

pub(crate) const FIXED: [&str; 12] = [
    "respondent",
    "hall",
    "date",
    "segment",
    "purpose",
    "overall",
    "nps",
    "tolerable_wait_min",
    // Optional: a contact for a callback and the respondent's consent to it. Never
    // written back out (see `header`).
    "contact",
    "consent",
    // Optional free text, at most 2,000 characters.
    "comment",
    // Optional: the customer key (64 hex digits, a salted hash of the number).
    "customer",
];

/// The longest contact kept.
pub const MAX_CONTACT: usize = 100;

/// The contact to keep: the one given when consent is given (yes, true, 1, 是, 同意),
/// nothing when it is not (no, false, 0, 否, 不同意, or empty). A bad consent word or an
/// over-long contact is an error naming the column.
pub fn contact_with_consent(
    contact: &str,
    consent: &str,
) -> Result<Option<String>, (&'static str, String)> {
    let given = match consent.trim().to_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "是" | "同意" => true,
        "" | "no" | "n" | "false" | "0" | "否" | "不同意" => false,
        other => {
            return Err((
                "consent",
                format!("`{other}` is not yes or no (yes, no, true, false, 1, 0, 是, 否)"),
            ));
        }
    };
    let contact = contact.trim();
    if contact.chars().count() > MAX_CONTACT {
        return Err(("contact", "longer than 100 characters".into()));
    }
    if contact.chars().any(char::is_control) {
        return Err(("contact", "contains a control character".into()));
    }
    Ok((given && !contact.is_empty()).then(|| contact.to_owned()))
}
pub(crate) const REQUIRED: [&str; 4] = ["respondent", "hall", "date", "segment"];

/// The header of a survey file for `journey`, in the canonical order.
pub fn header(journey: &Journey) -> Vec<String> {
    header_with(journey, WriteOptions::default())
}

/// What a written survey file carries beyond the standard columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// The gap model's expectation items, `exp.<moment>` after each moment's
    /// `sat.<moment>`.
    pub expectations: bool,
    /// The competitive assessment's items, `comp.<moment>` after the moment's other
    /// columns.
    pub competitors: bool,
}

/// The header with `options`' extra columns (in the canonical order).
pub fn header_with(journey: &Journey, options: WriteOptions) -> Vec<String> {
    let mut cols: Vec<String> = FIXED[..7].iter().map(|s| (*s).to_owned()).collect();
    for m in journey.moments() {
        cols.push(format!("imp.{}", m.key));
        cols.push(format!("sat.{}", m.key));
        if options.expectations {
            cols.push(format!("exp.{}", m.key));
        }
        if options.competitors {
            cols.push(format!("comp.{}", m.key));
        }
    }
    for m in journey.moments() {
        cols.extend(
            m.core_needs
                .iter()
                .map(|n| format!("need.{}.{}", m.key, n.key)),
        );
    }
    cols.push(FIXED[7].to_owned());
    // Free text and the customer key last, so a file written here reads back whole.
    cols.push("comment".to_owned());
    cols.push("customer".to_owned());
    cols
}

/// Writes responses in the wide format with [`header`]'s columns; what it writes,
/// [`parse`] reads back. A response with an expectation item is refused (use
/// [`write_with`] and [`WriteOptions::expectations`]) rather than written without it.
pub fn write<W: std::io::Write>(
    journey: &Journey,
    responses: impl IntoIterator<Item = Response>,
    out: W,
) -> csv::Result<()> {
    write_with(journey, responses, out, WriteOptions::default())
}

/// [`write`] with [`header_with`]'s columns.
pub fn write_with<W: std::io::Write>(
    journey: &Journey,
    responses: impl IntoIterator<Item = Response>,
    out: W,
    options: WriteOptions,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header_with(journey, options))?;
    let fmt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    let need_cols: Vec<(usize, usize)> = journey
        .moments()
        .iter()
        .enumerate()
        .flat_map(|(j, m)| (0..m.core_needs.len()).map(move |n| (j, n)))
        .collect();
    for r in responses {
        let mut rec = vec![
            r.respondent.clone(),
            r.hall.to_string(),
            r.date.format("%Y-%m-%d").to_string(),
            r.segment.clone(),
            r.purpose.clone().unwrap_or_default(),
            fmt(r.overall),
            fmt(r.nps),
        ];
        for rating in &r.ratings {
            rec.push(fmt(rating.importance));
            rec.push(fmt(rating.satisfaction));
            if options.expectations {
                rec.push(fmt(rating.expectation));
            } else if rating.expectation.is_some() {
                // Dropping answers silently would lose them on a round trip.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "respondent `{}` has expectation items; write them with the expectation columns",
                        r.respondent
                    ),
                )
                .into());
            }
            if options.competitors {
                rec.push(fmt(rating.competitor));
            } else if rating.competitor.is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "respondent `{}` has competitor ratings; write them with the comp. columns",
                        r.respondent
                    ),
                )
                .into());
            }
        }
        for (j, n) in &need_cols {
            rec.push(fmt(r
                .needs
                .iter()
                .find(|x| x.moment == *j && x.need == *n)
                .map(|x| x.importance)));
        }
        rec.push(fmt(r.tolerable_wait_min));
        rec.push(r.comment.clone().unwrap_or_default());
        rec.push(r.customer.clone().unwrap_or_default());
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

/// What a column holds.
#[derive(Clone, Copy)]
pub(crate) enum Col {
    Fixed(usize),
    Imp(usize),
    Sat(usize),
    Exp(usize),
    Comp(usize),
    Need(usize, usize),
    Ignored,
}

#[derive(Default)]
pub struct Options<'a> {
    /// Skip unknown columns instead of rejecting the file (moment columns must still exist).
    pub ignore_unknown: bool,
    /// Halls that exist; `None` accepts any well-formed hall id.
    pub halls: Option<&'a HashSet<String>>,
    /// Which respondents the reader remembers to find one given twice.
    pub repeats: Repeats<'a>,
}

/// Which respondents the careful reader remembers, to report a row that gives one
/// again (with the row that gave it first).
#[derive(Debug, Clone, Copy, Default)]
pub enum Repeats<'a> {
    /// Every one: the reader's memory grows with the file (tens of bytes a row).
    #[default]
    All,
    /// None: the caller finds repeats itself (the store's unique index, as the rows are
    /// stored), and a file of any size is read in the memory of a few rows.
    Unchecked,
    /// Only these (the few the store found given twice), to name their rows.
    Among(&'a HashSet<String>),
}

pub(crate) fn classify(journey: &Journey, name: &str, ignore_unknown: bool) -> Result<Col, String> {
    if let Some(i) = FIXED.iter().position(|f| *f == name) {
        return Ok(Col::Fixed(i));
    }
    let moment = |key: &str| {
        journey
            .moments()
            .iter()
            .position(|m| m.key.as_str() == key)
            .ok_or_else(|| format!("unknown moment `{key}` (journey `{}`)", journey.key()))
    };
    if let Some(key) = name.strip_prefix("imp.") {
        return moment(key).map(Col::Imp);
    }
    if let Some(key) = name.strip_prefix("sat.") {
        return moment(key).map(Col::Sat);
    }
    if let Some(key) = name.strip_prefix("exp.") {
        return moment(key).map(Col::Exp);
    }
    if let Some(key) = name.strip_prefix("comp.") {
        return moment(key).map(Col::Comp);
    }
    if let Some(rest) = name.strip_prefix("need.") {
        let (m, n) = rest
            .split_once('.')
            .ok_or_else(|| "expected need.<moment>.<need>".to_owned())?;
        let mi = moment(m)?;
        let ni = journey.moments()[mi]
            .core_needs
            .iter()
            .position(|x| x.key.as_str() == n)
            .ok_or_else(|| format!("unknown need `{n}` of moment `{m}`"))?;
        return Ok(Col::Need(mi, ni));
    }
    if ignore_unknown {
        Ok(Col::Ignored)
    } else {
        Err("unknown column (use --ignore-unknown to skip it)".into())
    }
}

/// Parses the whole file. Every bad cell is reported; no response is returned unless
/// all rows are good, so an import can store all or nothing.
pub fn parse<'a>(
    input: impl Into<Input<'a>>,
    journey: &Journey,
    opts: &Options,
) -> Result<Vec<Response>, Vec<CellError>> {
    let mut responses = Vec::new();
    let errors = for_each_row(input, journey, opts, |r| responses.push(r));
    if errors.is_empty() {
        Ok(responses)
    } else {
        Err(errors)
    }
}

/// Streams the parsed rows to `each` (for folding large files without holding them)
/// and returns every problem found; callers must discard what they folded if any
/// (rows after the first problem are not passed on).
pub fn for_each_row<'a>(
    input: impl Into<Input<'a>>,
    journey: &Journey,
    opts: &Options,
    each: impl FnMut(Response),
) -> Vec<CellError> {
    match table::open(input) {
        Ok((headers, records)) => each_record(headers, records, journey, opts, each),
        Err(e) => vec![e],
    }
}

/// [`for_each_row`] over CSV text read as it is parsed (UTF-8; a file in another
/// encoding is decoded whole by [`crate::Source`] instead), so a file of any size is
/// parsed in the memory of a few rows. Bytes that are not UTF-8 are reported on their row.
pub fn for_each_row_read<'a>(
    reader: impl std::io::Read + 'a,
    journey: &Journey,
    opts: &Options,
    each: impl FnMut(Response),
) -> Vec<CellError> {
    match table::open_csv_reader(reader) {
        Ok((headers, records)) => each_record(headers, records, journey, opts, each),
        Err(e) => vec![e],
    }
}

fn each_record(
    headers: csv::StringRecord,
    records: table::Rows<'_>,
    journey: &Journey,
    opts: &Options,
    mut each: impl FnMut(Response),
) -> Vec<CellError> {
    let cols = match table::resolve_columns(&headers, &REQUIRED, |h| {
        classify(journey, h, opts.ignore_unknown)
    }) {
        Ok(cols) => cols,
        Err(errors) => return errors,
    };
    let mut errors = Vec::new();

    let k = journey.moments().len();
    // Every respondent of the file, to name a repeated one: a fast seeded hash (SipHash
    // was a tenth of the reader's time at 2,000,000 rows).
    let mut respondents: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
    for record in records {
        let (row, record) = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut bad = |col: usize, message: String| {
            errors.push(CellError {
                row,
                column: Some(headers[col].to_owned()),
                message,
            })
        };
        let mut fixed: [&str; FIXED.len()] = [""; FIXED.len()];
        let mut ratings = vec![Rating::default(); k];
        let mut needs = Vec::new();
        for (c, value) in record.iter().enumerate() {
            let Some(&col) = cols.get(c) else {
                bad(
                    c.min(headers.len().saturating_sub(1)),
                    "more cells than columns".into(),
                );
                continue;
            };
            if value.is_empty() {
                continue;
            }
            // In no text a person writes, and PostgreSQL's text cannot hold it.
            if value.contains('\0') {
                bad(c, "holds the character U+0000, which is not allowed".into());
                continue;
            }
            match col {
                Col::Fixed(f) => fixed[f] = value,
                Col::Imp(j) => match parse_rating(value) {
                    Ok(x) => ratings[j].importance = Some(x),
                    Err(e) => bad(c, e),
                },
                Col::Sat(j) => match parse_rating(value) {
                    Ok(x) => ratings[j].satisfaction = Some(x),
                    Err(e) => bad(c, e),
                },
                Col::Exp(j) => match parse_rating(value) {
                    Ok(x) => ratings[j].expectation = Some(x),
                    Err(e) => bad(c, e),
                },
                Col::Comp(j) => match parse_rating(value) {
                    Ok(x) => ratings[j].competitor = Some(x),
                    Err(e) => bad(c, e),
                },
                Col::Need(m, n) => match parse_rating(value) {
                    Ok(x) => needs.push(NeedRating {
                        moment: m,
                        need: n,
                        importance: x,
                    }),
                    Err(e) => bad(c, e),
                },
                Col::Ignored => {}
            }
        }
        let col_of = |name: &str| headers.iter().position(|h| h == name).unwrap_or(0);
        let respondent = fixed[0].to_owned();
        if respondent.is_empty() {
            bad(col_of("respondent"), "empty".into());
        } else if let Some(first) = match opts.repeats {
            Repeats::All => respondents.insert(respondent.clone(), row),
            Repeats::Among(these) if these.contains(&respondent) => {
                respondents.insert(respondent.clone(), row)
            }
            _ => None,
        } {
            bad(
                col_of("respondent"),
                format!("duplicate respondent `{respondent}` (also row {first})"),
            );
        }
        let hall = match HallId::parse(fixed[1]) {
            Ok(h) if opts.halls.is_none_or(|known| known.contains(h.as_str())) => Some(h),
            Ok(h) => {
                bad(col_of("hall"), format!("unknown hall `{h}`"));
                None
            }
            Err(e) => {
                bad(
                    col_of("hall"),
                    if fixed[1].is_empty() {
                        "empty".into()
                    } else {
                        e.reason.into()
                    },
                );
                None
            }
        };
        let date = parse_date(fixed[2])
            .map_err(|e| bad(col_of("date"), e))
            .ok();
        if fixed[3].is_empty() {
            bad(col_of("segment"), "empty".into());
        }
        let number =
            |f: usize, parse: fn(&str) -> Result<f64, String>| -> Result<Option<f64>, String> {
                if fixed[f].is_empty() {
                    Ok(None)
                } else {
                    parse(fixed[f]).map(Some)
                }
            };
        let overall = number(5, parse_rating)
            .map_err(|e| bad(col_of("overall"), e))
            .ok()
            .flatten();
        let nps = number(6, parse_recommend)
            .map_err(|e| bad(col_of("nps"), e))
            .ok()
            .flatten();
        let wait = number(7, |s| match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
            _ => Err(format!("`{s}` is not a number of minutes ≥ 0")),
        })
        .map_err(|e| bad(col_of("tolerable_wait_min"), e))
        .ok()
        .flatten();
        let contact = contact_with_consent(fixed[8], fixed[9])
            .map_err(|(column, e)| bad(col_of(column), e))
            .ok()
            .flatten();
        let comment = peakend_core::survey::parse_comment(fixed[10])
            .map_err(|e| bad(col_of("comment"), e))
            .ok()
            .flatten();
        let customer = (!fixed[11].is_empty())
            .then(|| {
                peakend_core::customer::parse_customer_key(fixed[11])
                    .map_err(|e| bad(col_of("customer"), e))
                    .ok()
            })
            .flatten();
        // After the first problem no row is passed on (callers keep nothing of a file
        // with one); the rest is still read for its problems.
        if errors.is_empty() {
            if let (Some(hall), Some(date)) = (hall, date) {
                each(Response {
                    respondent,
                    hall,
                    date,
                    segment: fixed[3].to_owned(),
                    purpose: (!fixed[4].is_empty()).then(|| fixed[4].to_owned()),
                    overall,
                    nps,
                    tolerable_wait_min: wait,
                    ratings,
                    needs,
                    contact,
                    comment,
                    customer,
                    short_form: false,
                });
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journey() -> Journey {
        peakend_core::builtin::journeys().unwrap().remove(0)
    }

    fn opts() -> Options<'static> {
        Options {
            ignore_unknown: false,
            halls: None,
            ..Default::default()
        }
    }

    #[test]
    fn header_lists_every_moment_need_and_the_fixed_columns() {
        let h = header(&journey());
        assert_eq!(
            &h[..7],
            [
                "respondent",
                "hall",
                "date",
                "segment",
                "purpose",
                "overall",
                "nps"
            ]
        );
        assert_eq!(h[7], "imp.find");
        assert!(
            h.contains(&"sat.leave".to_owned())
                && h.contains(&"need.queue.wait_foresight".to_owned())
        );
        assert_eq!(
            &h[h.len() - 3..],
            ["tolerable_wait_min", "comment", "customer"]
        );
    }

    #[test]
    fn a_written_file_reads_back_with_its_comment_and_customer() {
        let j = journey();
        let text = "respondent,hall,date,segment,comment,customer\n\
                    r1,h1,2024-03-05,全球通,\"排队太久, 不过态度好\",ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n";
        let rs = parse(text, &j, &opts()).unwrap();
        let mut out = Vec::new();
        write(&j, rs.clone(), &mut out).unwrap();
        let again = parse(std::str::from_utf8(&out).unwrap(), &j, &opts()).unwrap();
        assert_eq!(again, rs);
        assert_eq!(again[0].comment.as_deref(), Some("排队太久, 不过态度好"));
        assert_eq!(
            again[0].customer.as_deref(),
            Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
    }

    #[test]
    fn parses_columns_in_any_order_with_blanks_as_not_rated() {
        let text = "sat.queue,segment,hall,respondent,date,imp.queue,nps,purpose,need.queue.wait_foresight,tolerable_wait_min\n\
                    7.5,全球通,h1,r1,2024/3/5,9,10,缴费,8,16\n\
                    ,动感地带,h1,r2,2024-03-06,,,,,\n";
        let rs = parse(text, &journey(), &opts()).unwrap();
        assert_eq!(rs.len(), 2);
        let q = journey()
            .moments()
            .iter()
            .position(|m| m.key.as_str() == "queue")
            .unwrap();
        assert_eq!(
            rs[0].ratings[q],
            Rating {
                importance: Some(9.0),
                satisfaction: Some(7.5),
                expectation: None,
                competitor: None,
            }
        );
        assert_eq!(
            (rs[0].segment.as_str(), rs[0].purpose.as_deref()),
            ("全球通", Some("缴费"))
        );
        assert_eq!(
            (rs[0].nps, rs[0].tolerable_wait_min),
            (Some(10.0), Some(16.0))
        );
        assert_eq!(rs[0].needs.len(), 1);
        assert_eq!(rs[1].ratings[q], Rating::default());
        assert_eq!(rs[1].purpose, None);
    }

    #[test]
    fn written_files_read_back_identically() {
        let j = journey();
        let halls = [HallId::parse("h1").unwrap()];
        let rows: Vec<Response> = peakend_core::synth::responses(&j, &halls, 40, 3).collect();
        let mut buf = Vec::new();
        write(&j, rows.clone(), &mut buf).unwrap();
        let back = parse(std::str::from_utf8(&buf).unwrap(), &j, &opts()).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn expectation_items_are_read_and_bad_ones_named_by_row_and_column() {
        let j = journey();
        let q = j
            .moments()
            .iter()
            .position(|m| m.key.as_str() == "queue")
            .unwrap();
        let text = "respondent,hall,date,segment,sat.queue,exp.queue\n\
                    r1,h1,2024-03-05,gold,7,8.5\n\
                    r2,h1,2024-03-05,gold,7,\n";
        let rs = parse(text, &j, &opts()).unwrap();
        assert_eq!(rs[0].ratings[q].expectation, Some(8.5));
        assert_eq!(rs[1].ratings[q].expectation, None, "blank = not asked");
        let bad = "respondent,hall,date,segment,exp.queue,exp.lobby\n\
                   r1,h1,2024-03-05,gold,11,\n\
                   r2,h1,2024-03-05,gold,high,\n";
        let shown: Vec<String> = parse(bad, &j, &opts())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            ["row 1, column exp.lobby: unknown moment `lobby` (journey `service-hall`)"]
        );
        let bad = bad.replace(",exp.lobby", "").replace(",\n", "\n");
        let shown: Vec<String> = parse(bad.as_str(), &j, &opts())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "row 2, column exp.queue: 11 is outside 1–10",
                "row 3, column exp.queue: `high` is not a number",
            ]
        );
    }

    #[test]
    fn expectations_are_written_with_their_columns_and_never_dropped() {
        let j = journey();
        let halls = [HallId::parse("h1").unwrap()];
        let on = peakend_core::synth::SynthOptions {
            expectations: true,
            ..Default::default()
        };
        let rows: Vec<Response> =
            peakend_core::synth::responses_with(&j, &halls, 40, 3, on).collect();
        assert!(
            rows.iter()
                .any(|r| r.ratings.iter().any(|x| x.expectation.is_some()))
        );
        let with = WriteOptions {
            expectations: true,
            ..Default::default()
        };
        let h = header_with(&j, with);
        assert_eq!(&h[7..10], ["imp.find", "sat.find", "exp.find"]);
        let mut buf = Vec::new();
        write_with(&j, rows.clone(), &mut buf, with).unwrap();
        let back = parse(std::str::from_utf8(&buf).unwrap(), &j, &opts()).unwrap();
        assert_eq!(back, rows);
        let err = write(&j, rows, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("has expectation items"), "{err}");
        assert!(!header(&j).iter().any(|c| c.starts_with("exp.")));
    }

    #[test]
    fn a_customer_key_is_kept_and_a_phone_number_refused() {
        let key = "ab".repeat(32);
        let good = format!("respondent,hall,date,segment,customer\nr1,h1,2024-03-01,gold,{key}\n");
        let rs = parse(good.as_str(), &journey(), &opts()).unwrap();
        assert_eq!(rs[0].customer.as_deref(), Some(key.as_str()));
        let bad = "respondent,hall,date,segment,customer\n\
                   r1,h1,2024-03-01,gold,\n\
                   r2,h1,2024-03-01,gold,13812345678\n";
        let errors = parse(bad, &journey(), &opts()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "row 3, column customer: a customer key must be 64 hex digits (a salted hash of the number, never the number)"
            ]
        );
    }

    #[test]
    fn every_bad_cell_is_reported() {
        let text = "respondent,hall,date,segment,overall,nps,sat.queue\n\
                    r1,h1,2024-13-01,gold,11,10,5\n\
                    r1,nowhere,2024-01-01,,8,11,x\n";
        let halls = HashSet::from(["h1".to_owned()]);
        let errors = parse(
            text,
            &journey(),
            &Options {
                ignore_unknown: false,
                halls: Some(&halls),
                ..Default::default()
            },
        )
        .unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "row 2, column date: `2024-13-01` is not a date (expected YYYY-MM-DD)",
                "row 2, column overall: 11 is outside 1–10",
                "row 3, column sat.queue: `x` is not a number",
                "row 3, column respondent: duplicate respondent `r1` (also row 2)",
                "row 3, column hall: unknown hall `nowhere`",
                "row 3, column segment: empty",
                "row 3, column nps: 11 is outside 0–10",
            ]
        );
    }

    #[test]
    fn comments_are_read_and_an_over_long_one_is_refused_by_row_and_column() {
        let long = "慢".repeat(2001);
        let text = "respondent,hall,date,segment,comment,contact,consent\n\
             r1,h1,2024-01-01,g,\"排队太久了, 叫号也不清楚\",138,yes\n\
             r2,h1,2024-01-01,g,,,\n";
        let rs = parse(text, &journey(), &opts()).unwrap();
        assert_eq!(rs[0].comment.as_deref(), Some("排队太久了, 叫号也不清楚"));
        assert_eq!(rs[1].comment, None);
        let bad = format!("{text}r3,h1,2024-01-01,g,{long},,\n");
        let errors = parse(bad.as_str(), &journey(), &opts()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["row 4, column comment: 2001 characters, longer than the 2000 allowed"]
        );
        // U+0000, which PostgreSQL's text cannot hold: named, not stored on one backend
        // and refused by the other.
        let nul = format!("{text}r3,h1,2024-01-01,g,排队\0太久,,\n");
        let errors = parse(nul.as_str(), &journey(), &opts()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["row 4, column comment: holds the character U+0000, which is not allowed"]
        );
    }

    #[test]
    fn unknown_columns_are_errors_unless_ignored_but_moments_must_exist() {
        let text = "respondent,hall,date,segment,colour,imp.lobby\nr1,h1,2024-01-01,g,red,5\n";
        let errors = parse(text, &journey(), &opts()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown[0],
            "row 1, column colour: unknown column (use --ignore-unknown to skip it)"
        );
        assert_eq!(
            shown[1],
            "row 1, column imp.lobby: unknown moment `lobby` (journey `service-hall`)"
        );
        let lenient = Options {
            ignore_unknown: true,
            halls: None,
            ..Default::default()
        };
        let errors = parse(text, &journey(), &lenient).unwrap_err();
        assert_eq!(errors.len(), 1, "the moment column is still an error");
    }
}
