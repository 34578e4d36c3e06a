//! Import and export adapters: turning files people actually have (Excel CSVs in
//! GBK, UTF-8 with a BOM, YAML written by hand) into core types, with errors that
//! name the file, row and column.

// One function is unsafe: the fast survey reader's AVX2 version, called only once
// the CPU is found to have AVX2 (`survey_fast::read_fastest`).
#![deny(unsafe_code)]

pub mod analysis_csv;
pub mod analysis_xlsx;
pub mod case_io;
pub mod checklist_csv;
pub mod compliance_csv;
pub mod decode;
pub mod holiday_csv;
pub mod org_csv;
pub mod qfd_svg;
pub mod qfd_xlsx;
pub mod summary_csv;
pub mod survey_csv;
pub mod survey_fast;
pub mod survey_json;
mod table;

pub use compliance_csv::compliance_csv;
pub use table::{Input, Source, is_workbook};

use std::fmt;

/// A problem at a place in an input file. `row` is the spreadsheet row (the header is
/// row 1); row 0 means the problem is in stored data that the file would break.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CellError {
    pub row: usize,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.row, &self.column) {
            (0, _) => write!(f, "{} (a stored node this file would break)", self.message),
            (row, Some(c)) => write!(f, "row {row}, column {c}: {}", self.message),
            (row, None) => write!(f, "row {row}: {}", self.message),
        }
    }
}

/// Every problem of one file, reported together: the first 100, then a count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileErrors {
    pub file: String,
    pub errors: Vec<CellError>,
}

const SHOWN: usize = 100;

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .errors
            .iter()
            .take(SHOWN)
            .map(ToString::to_string)
            .collect();
        write!(f, "{}: {}", self.file, shown.join("; "))?;
        if self.errors.len() > SHOWN {
            write!(f, "; and {} more", self.errors.len() - SHOWN)?;
        }
        Ok(())
    }
}
