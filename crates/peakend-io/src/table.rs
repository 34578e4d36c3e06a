//! Tabular input: a CSV text or the first worksheet of an XLSX workbook, read the same
//! way (a header row, then data rows numbered as the spreadsheet numbers them), so the
//! org, summary and survey parsers are written once for both.

use std::io::Cursor;

use calamine::{Data, DataType, Reader, Xlsx};
use csv::StringRecord;

use crate::CellError;
use crate::decode::{DecodeError, decode_vec};

/// A file's content, once its kind is known.
#[derive(Debug, Clone)]
pub enum Source {
    Text(String),
    Xlsx(Vec<u8>),
}

/// A borrowed [`Source`]; parsers take `impl Into<Input>`, so `&str` works directly.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Text(&'a str),
    Xlsx(&'a [u8]),
}

impl<'a> From<&'a str> for Input<'a> {
    fn from(text: &'a str) -> Self {
        Input::Text(text)
    }
}

impl<'a> From<&'a String> for Input<'a> {
    fn from(text: &'a String) -> Self {
        Input::Text(text)
    }
}

impl<'a> From<&'a Source> for Input<'a> {
    fn from(s: &'a Source) -> Self {
        match s {
            Source::Text(t) => Input::Text(t),
            Source::Xlsx(b) => Input::Xlsx(b),
        }
    }
}

/// Zip's local-file signature: every XLSX workbook starts with it, no text file does.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Whether a file starting with `head` (its first four bytes suffice) is an XLSX
/// workbook rather than text.
pub fn is_workbook(head: &[u8]) -> bool {
    head.starts_with(ZIP_MAGIC)
}

impl Source {
    /// An XLSX workbook is kept as bytes; anything else is decoded as text (UTF-8 or
    /// GB18030, detected, unless `forced`).
    pub fn from_bytes(
        bytes: Vec<u8>,
        forced: Option<&'static encoding_rs::Encoding>,
    ) -> Result<Source, DecodeError> {
        if is_workbook(&bytes) {
            return Ok(Source::Xlsx(bytes));
        }
        Ok(Source::Text(decode_vec(bytes, forced)?.0))
    }

    pub fn input(&self) -> Input<'_> {
        self.into()
    }
}

pub(crate) type Rows<'a> = Box<dyn Iterator<Item = Result<(usize, StringRecord), CellError>> + 'a>;

/// Opens a table whose first row is the header. Data rows come with their spreadsheet
/// row numbers (header = row 1); blank rows, which spreadsheets leave at the end, are
/// skipped; cells are trimmed and short rows read missing cells as empty.
pub(crate) fn open<'a>(input: impl Into<Input<'a>>) -> Result<(StringRecord, Rows<'a>), CellError> {
    match input.into() {
        Input::Text(text) => open_csv(text),
        Input::Xlsx(bytes) => open_xlsx(bytes),
    }
}

fn open_csv(text: &str) -> Result<(StringRecord, Rows<'_>), CellError> {
    open_csv_reader(text.as_bytes())
}

/// [`open`] for CSV bytes read as they are parsed.
pub(crate) fn open_csv_reader<'a>(
    input: impl std::io::Read + 'a,
) -> Result<(StringRecord, Rows<'a>), CellError> {
    // Cells are trimmed here, not by the reader: its trim copies every record, which
    // was a quarter of reading a large survey file whose cells need none.
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let mut headers = reader
        .headers()
        .map_err(|e| CellError {
            row: 1,
            column: None,
            message: e.to_string(),
        })?
        .clone();
    headers.trim();
    if headers.get(0).is_some_and(|h| h.starts_with('\u{feff}')) {
        headers = headers
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}'))
            .collect();
    }
    let rows = reader.into_records().enumerate().filter_map(|(i, record)| {
        let row = i + 2;
        match record.map(trimmed) {
            Ok(r) if r.iter().all(str::is_empty) => None,
            Ok(r) => Some(Ok((row, r))),
            Err(e) => Some(Err(CellError {
                row,
                column: None,
                message: e.to_string(),
            })),
        }
    });
    Ok((headers, Box::new(rows)))
}

/// The record with each cell trimmed of white space at either end.
fn trimmed(mut r: StringRecord) -> StringRecord {
    if r.iter().any(|cell| cell.trim().len() != cell.len()) {
        r.trim();
    }
    r
}

fn open_xlsx(bytes: &[u8]) -> Result<(StringRecord, Rows<'_>), CellError> {
    let whole = |message: String| CellError {
        row: 1,
        column: None,
        message,
    };
    let mut book = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| whole(format!("not a readable XLSX workbook: {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| whole("the workbook has no worksheet".into()))?
        .map_err(|e| whole(format!("cannot read the first worksheet: {e}")))?;
    let Some((first_row, _)) = range.start() else {
        return Err(whole("the first worksheet is empty".into()));
    };
    // The worksheet is already in memory as cells; turning it into records up front
    // frees the range, which the rows would otherwise borrow.
    let grid: Vec<Result<(usize, StringRecord), CellError>> = range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            // Spreadsheet rows are 1-based and the used range may start below row 1.
            let row = first_row as usize + i + 1;
            let mut bad = None;
            let record: StringRecord = cells
                .iter()
                .map(|c| {
                    cell_text(c).unwrap_or_else(|e| {
                        bad.get_or_insert(e);
                        String::new()
                    })
                })
                .collect();
            match bad {
                None => Ok((row, record)),
                Some(message) => Err(CellError {
                    row,
                    column: None,
                    message,
                }),
            }
        })
        .collect();
    let mut grid = grid.into_iter();
    let (_, headers) = grid
        .next()
        .ok_or_else(|| whole("the first worksheet is empty".into()))??;
    let rows = grid.filter(|r| !matches!(r, Ok((_, rec)) if rec.iter().all(str::is_empty)));
    Ok((headers, Box::new(rows)))
}

/// A cell as the text a CSV export of it would hold: whole numbers without `.0`, dates
/// as YYYY-MM-DD, so the same parsers and messages serve both formats.
fn cell_text(c: &Data) -> Result<String, String> {
    Ok(match c {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(_) | Data::DateTimeIso(_) => match c.as_date() {
            Some(d) => d.format("%Y-%m-%d").to_string(),
            None => return Err(format!("cell `{c}` is not a date Excel can express")),
        },
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("a cell holds the Excel error {e}")),
    })
}

/// A table's header, resolved once for its reader: each column classified by
/// `classify` (what it holds, or why the reader takes no such column), and every
/// problem reported on row 1 at once: unknown, repeated and missing required columns.
/// One resolver for every reader (organisation, holidays, summary, survey).
pub(crate) fn resolve_columns<C>(
    headers: &StringRecord,
    required: &[&str],
    classify: impl Fn(&str) -> Result<C, String>,
) -> Result<Vec<C>, Vec<CellError>> {
    let mut errors = Vec::new();
    let mut cols = Vec::with_capacity(headers.len());
    let mut seen = std::collections::HashSet::new();
    let mut header_error = |column: &str, message: String| {
        errors.push(CellError {
            row: 1,
            column: Some(column.to_owned()),
            message,
        })
    };
    for h in headers.iter() {
        if !seen.insert(h) {
            header_error(h, "column appears twice".into());
        }
        match classify(h) {
            Ok(c) => cols.push(c),
            Err(message) => header_error(h, message),
        }
    }
    for r in required {
        if !seen.contains(r) {
            header_error(r, "required column is missing".into());
        }
    }
    if errors.is_empty() {
        Ok(cols)
    } else {
        Err(errors)
    }
}

/// The columns of a table with fixed column names, by name.
pub(crate) struct Named {
    index: std::collections::HashMap<&'static str, usize>,
}

impl Named {
    /// Resolves `headers` against the `required` and `optional` names; an unknown
    /// column is reported as expecting `expected`.
    pub(crate) fn resolve(
        headers: &StringRecord,
        required: &[&'static str],
        optional: &[&'static str],
        expected: &str,
    ) -> Result<Named, Vec<CellError>> {
        let cols = resolve_columns(headers, required, |h| {
            required
                .iter()
                .chain(optional)
                .find(|c| **c == h)
                .copied()
                .ok_or_else(|| format!("unknown column (expected {expected})"))
        })?;
        Ok(Named {
            index: cols.into_iter().enumerate().map(|(i, c)| (c, i)).collect(),
        })
    }

    /// The trimmed cell of column `name` in `record` ("" when the table has no such
    /// column or the row is short).
    pub(crate) fn cell<'r>(&self, record: &'r StringRecord, name: &str) -> &'r str {
        self.index
            .get(name)
            .and_then(|&i| record.get(i))
            .unwrap_or("")
            .trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workbook(rows: &[&[&str]]) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, cells) in rows.iter().enumerate() {
            for (c, v) in cells.iter().enumerate() {
                match v.parse::<f64>() {
                    Ok(x) => sheet.write_number(r as u32, c as u16, x).unwrap(),
                    Err(_) if v.is_empty() => sheet,
                    Err(_) => sheet.write_string(r as u32, c as u16, *v).unwrap(),
                };
            }
        }
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_reads_like_the_same_csv() {
        let rows: &[&[&str]] = &[&["id", "score"], &["a", "7"], &["b", "7.5"], &["", ""]];
        let bytes = workbook(rows);
        let source = Source::from_bytes(bytes, None).unwrap();
        assert!(matches!(source, Source::Xlsx(_)));
        let (h, rows) = open(&source).unwrap();
        let csv = "id,score\na,7\nb,7.5\n,\n";
        let (hc, rows_c) = open(csv).unwrap();
        assert_eq!(h, hc);
        let a: Vec<_> = rows.map(Result::unwrap).collect();
        let b: Vec<_> = rows_c.map(Result::unwrap).collect();
        assert_eq!(a, b);
        assert_eq!(a[1].0, 3, "spreadsheet row numbers");
    }

    #[test]
    fn xlsx_dates_read_as_iso_dates() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy/m/d");
        sheet.write_string(0, 0, "date").unwrap();
        let d = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 3, 5).unwrap();
        sheet.write_datetime_with_format(1, 0, &d, &fmt).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let (_, mut rows) = open(Input::Xlsx(&bytes)).unwrap();
        assert_eq!(&rows.next().unwrap().unwrap().1[0], "2024-03-05");
    }

    #[test]
    fn a_broken_workbook_is_an_error_not_a_panic() {
        let mut bytes = ZIP_MAGIC.to_vec();
        bytes.extend_from_slice(b"not really a zip");
        let e = open(Input::Xlsx(&bytes)).err().unwrap();
        assert!(e.message.starts_with("not a readable XLSX workbook"), "{e}");
    }

    #[test]
    fn csv_cells_and_names_are_read_trimmed() {
        let (h, rows) = open(" id ,\tscore\n a , 7\u{3000}\nb,7.5\n  ,  \n").unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), ["id", "score"]);
        let rows: Vec<Vec<String>> = rows
            .map(|r| r.unwrap().1.iter().map(str::to_owned).collect())
            .collect();
        // A row of blanks is no row.
        assert_eq!(rows, [["a", "7"], ["b", "7.5"]]);
    }

    #[test]
    fn csv_bom_is_not_part_of_the_first_column_name() {
        let (h, _) = open("\u{feff}id,name\n").unwrap();
        assert_eq!(&h[0], "id");
    }
}
