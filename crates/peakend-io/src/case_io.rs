//! Service cases in and out: a hotline's or complaint system's export
//! (`hall,opened_at,moment,summary[,contact,severity]`, CSV or XLSX) read into rows,
//! and a list of cases written as CSV or XLSX for people to work on elsewhere.

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use peakend_core::case::Severity;
use peakend_core::{HallId, MomentKey};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::CellError;
use crate::table::{self, Input, Named};

const REQUIRED: [&str; 4] = ["hall", "opened_at", "moment", "summary"];
const OPTIONAL: [&str; 2] = ["contact", "severity"];

/// When an imported case was opened: an instant with its offset, or a local time of
/// the hall (read in the hall's zone by the caller, who knows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedAt {
    Instant(DateTime<FixedOffset>),
    Local(NaiveDateTime),
}

/// One row of an import, checked for form; the caller checks the hall and the moment
/// against the organisation and the hall's journey.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub row: usize,
    pub hall: HallId,
    pub opened_at: OpenedAt,
    pub moment: MomentKey,
    pub summary: String,
    pub contact: Option<String>,
    pub severity: Severity,
}

/// Parses a whole import, every bad cell reported; nothing unless all rows are good.
pub fn parse<'a>(input: impl Into<Input<'a>>) -> Result<Vec<CaseRow>, Vec<CellError>> {
    let (headers, records) = table::open(input).map_err(|e| vec![e])?;
    let col = Named::resolve(
        &headers,
        &REQUIRED,
        &OPTIONAL,
        "hall,opened_at,moment,summary[,contact,severity]",
    )?;
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    for record in records {
        let (row, record) = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let before = errors.len();
        let mut bad = |column: &str, message: String| {
            errors.push(CellError {
                row,
                column: Some(column.into()),
                message,
            })
        };
        let cell = |c: &str| col.cell(&record, c);
        let hall = HallId::parse(cell("hall"))
            .map_err(|e| bad("hall", e.reason.into()))
            .ok();
        let opened_at = opened_at(cell("opened_at"))
            .map_err(|e| bad("opened_at", e))
            .ok();
        let moment = MomentKey::parse(cell("moment"))
            .map_err(|e| bad("moment", e.reason.into()))
            .ok();
        let summary = cell("summary").to_owned();
        if summary.is_empty() {
            bad("summary", "empty".into());
        } else if summary.chars().count() > peakend_core::case::MAX_NOTE {
            bad("summary", "longer than 2,000 characters".into());
        }
        let contact = match cell("contact") {
            "" => None,
            c if c.chars().count() > crate::survey_csv::MAX_CONTACT => {
                bad("contact", "longer than 100 characters".into());
                None
            }
            c => Some(c.to_owned()),
        };
        let severity = match cell("severity") {
            "" => Some(Severity::Medium),
            s => Severity::parse(s).map_err(|e| bad("severity", e)).ok(),
        };
        if errors.len() == before
            && let (Some(hall), Some(opened_at), Some(moment), Some(severity)) =
                (hall, opened_at, moment, severity)
        {
            rows.push(CaseRow {
                row,
                hall,
                opened_at,
                moment,
                summary,
                contact,
                severity,
            });
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// RFC 3339 (`2026-08-07T09:30:00+08:00`), or a local `YYYY-MM-DD HH:MM[:SS]` (also
/// with `T`), in the years 2000–2100.
fn opened_at(s: &str) -> Result<OpenedAt, String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if let Ok(t) = peakend_core::time::parse_instant(s) {
        return Ok(OpenedAt::Instant(t));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            peakend_core::time::check_date(t.date())?;
            return Ok(OpenedAt::Local(t));
        }
    }
    Err(format!(
        "`{s}` is not a time (2026-08-07 09:30 in the hall's time, or RFC 3339 with an offset)"
    ))
}

/// The columns of an export.
pub const EXPORT_HEADER: [&str; 17] = [
    "id",
    "hall",
    "source",
    "state",
    "severity",
    "moment",
    "summary",
    "owner",
    "level",
    "escalations",
    "opened_at",
    "acknowledged_at",
    "resolved_at",
    "followed_up_at",
    "closed_at",
    "recovery",
    "contact",
];

/// Writes rows of [`EXPORT_HEADER`]'s cells as CSV (UTF-8 with a BOM, for Excel).
pub fn write_csv(rows: &[Vec<String>]) -> Result<Vec<u8>, csv::Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(EXPORT_HEADER)?;
        for r in rows {
            w.write_record(r)?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// The same rows as an XLSX workbook.
pub fn write_xlsx(rows: &[Vec<String>]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("cases")?;
    for (c, h) in EXPORT_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, v)?;
        }
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_reads_every_row_or_names_every_bad_cell() {
        let good = "hall,opened_at,moment,summary,contact,severity\n\
            h1,2026-08-07 09:30,dispute,多收费,13812345678,高\n\
            h1,2026-08-07T10:00:00+08:00,queue,等太久,,\n";
        let rows = parse(good).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].severity, Severity::High);
        assert_eq!(rows[0].contact.as_deref(), Some("13812345678"));
        assert!(matches!(rows[0].opened_at, OpenedAt::Local(_)));
        assert!(matches!(rows[1].opened_at, OpenedAt::Instant(_)));
        assert_eq!(rows[1].severity, Severity::Medium);

        let bad = "hall,opened_at,moment,summary,severity\n\
            h1,yesterday,Dispute,,urgent\n";
        let errors: Vec<String> = parse(bad)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("row 2, column opened_at: `yesterday`"));
        assert!(errors[1].starts_with("row 2, column moment:"));
        assert_eq!(errors[2], "row 2, column summary: empty");
        assert!(errors[3].starts_with("row 2, column severity: `urgent`"));
        // A missing column is named.
        let missing = parse("hall,moment,summary\nh1,dispute,x\n").unwrap_err();
        assert!(missing[0].to_string().contains("opened_at"), "{missing:?}");
        // Out of the years the product accepts.
        let far = parse("hall,opened_at,moment,summary\nh1,9999-01-01 10:00,dispute,x\n");
        assert!(far.is_err());
    }

    #[test]
    fn exports_read_back_in_excel_and_as_csv() {
        let rows = vec![vec!["1".to_owned(); EXPORT_HEADER.len()]];
        let csv = write_csv(&rows).unwrap();
        assert!(csv.starts_with(b"\xEF\xBB\xBFid,hall,"));
        let xlsx = write_xlsx(&rows).unwrap();
        assert!(xlsx.starts_with(b"PK"));
    }
}
