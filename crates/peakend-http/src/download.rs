//! Files a page or the API hands over for download (CSV, XLSX): the `format` parameter
//! read one way, and one answer shape (type, attachment name, bytes) for every export.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    /// `format=csv|xlsx`, CSV when absent or blank; anything else is the client's error.
    pub fn parse(format: Option<&str>) -> Result<FileFormat, ApiError> {
        match format.map(str::trim).filter(|f| !f.is_empty()) {
            None | Some("csv") => Ok(FileFormat::Csv),
            Some("xlsx") => Ok(FileFormat::Xlsx),
            Some(other) => Err(ApiError::bad_request(format!(
                "format: `{other}` is not csv or xlsx"
            ))),
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv; charset=utf-8",
            FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// The file `name.ext` as an attachment. A writer's failure is ours (500): its text
/// goes to the log through the error shaper, not to the client.
pub fn attachment<E: std::fmt::Display>(
    format: FileFormat,
    name: &str,
    bytes: Result<Vec<u8>, E>,
) -> Result<Response, ApiError> {
    let bytes = bytes.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("writing {name}.{}: {e}", format.ext()),
        )
    })?;
    // Names are ours (keys, ids, dates); quotes would end the header's value.
    let name = name.replace(['"', '\\', '\r', '\n'], "_");
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{}\"", format.ext()),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A sheet of one table: the header bold in the first row, then the rows as text.
pub fn write_sheet(
    sheet: &mut rust_xlsxwriter::Worksheet,
    head: &[&str],
    rows: &[Vec<String>],
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, h) in head.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, v)?;
        }
    }
    Ok(())
}

/// One table as a file: CSV (header, then the rows) or a workbook of one sheet.
pub fn table(format: FileFormat, head: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, String> {
    match format {
        FileFormat::Csv => {
            let mut out = Vec::new();
            {
                let mut w = csv::Writer::from_writer(&mut out);
                w.write_record(head).map_err(|e| e.to_string())?;
                for row in rows {
                    w.write_record(row).map_err(|e| e.to_string())?;
                }
                w.flush().map_err(|e| e.to_string())?;
            }
            Ok(out)
        }
        FileFormat::Xlsx => {
            let mut book = rust_xlsxwriter::Workbook::new();
            write_sheet(book.add_worksheet(), head, rows).map_err(|e| e.to_string())?;
            book.save_to_buffer().map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_anything_else_is_a_400() {
        assert_eq!(FileFormat::parse(None).unwrap(), FileFormat::Csv);
        assert_eq!(FileFormat::parse(Some(" ")).unwrap(), FileFormat::Csv);
        assert_eq!(FileFormat::parse(Some("xlsx")).unwrap(), FileFormat::Xlsx);
        let e = FileFormat::parse(Some("pdf")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("pdf"));
    }

    #[test]
    fn an_attachment_names_its_file_and_a_writer_failure_is_ours() {
        let r = attachment::<String>(FileFormat::Xlsx, "kpi-\"h1\"", Ok(b"PK".to_vec())).unwrap();
        assert_eq!(
            r.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"kpi-_h1_.xlsx\""
        );
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("spreadsheetml")
        );
        let e = attachment(FileFormat::Csv, "x", Err("disk full")).unwrap_err();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
