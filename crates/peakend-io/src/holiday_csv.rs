//! The holidays CSV (or XLSX): `province,date,name`, one public holiday of a province
//! a row, the date as `YYYY-MM-DD`. Columns may come in any order.

use std::collections::HashMap;

use chrono::NaiveDate;
use peakend_core::OrgNodeId;
use peakend_core::ops::holiday::Holiday;

use crate::CellError;
use crate::table::{self, Input, Named};

const COLUMNS: [&str; 3] = ["province", "date", "name"];

/// A parsed row with the spreadsheet row it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayRow {
    pub row: usize,
    pub holiday: Holiday,
}

/// Parses the whole file, collecting every bad cell rather than stopping at the first.
pub fn parse<'a>(input: impl Into<Input<'a>>) -> Result<Vec<HolidayRow>, Vec<CellError>> {
    let (headers, records) = table::open(input).map_err(|e| vec![e])?;
    let col = Named::resolve(&headers, &COLUMNS, &[], &COLUMNS.join(","))?;
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut seen: HashMap<(OrgNodeId, NaiveDate), usize> = HashMap::new();
    for record in records {
        let (row, record) = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut cell_err = |column: &str, message: String| {
            errors.push(CellError {
                row,
                column: Some(column.into()),
                message,
            })
        };
        let cell = |c: &str| col.cell(&record, c);
        let province =
            OrgNodeId::parse(cell("province")).map_err(|e| cell_err("province", e.reason.into()));
        let date = NaiveDate::parse_from_str(cell("date"), "%Y-%m-%d").map_err(|_| {
            cell_err(
                "date",
                format!("`{}` is not a date (YYYY-MM-DD)", cell("date")),
            )
        });
        let name = cell("name").to_owned();
        if name.is_empty() {
            cell_err("name", "name is empty".into());
        }
        if let (Ok(province), Ok(date)) = (province, date) {
            if let Some(first) = seen.insert((province.clone(), date), row) {
                cell_err(
                    "date",
                    format!("{date} is already a holiday of {province} in row {first}"),
                );
            } else if !name.is_empty() {
                rows.push(HolidayRow {
                    row,
                    holiday: Holiday {
                        province,
                        date,
                        name,
                    },
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_every_bad_cell_is_named() {
        let ok = parse("province,date,name\ngd,2026-10-01,国庆节\ngd,2026-10-02,国庆节\n").unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].row, 2);
        assert_eq!(
            ok[0].holiday.date,
            NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
        );
        let errs = parse("name,province,date\n国庆节,gd,2026-13-01\n,gd,2026-10-02\n").unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "row 2, column date: `2026-13-01` is not a date (YYYY-MM-DD)",
                "row 3, column name: name is empty"
            ]
        );
    }
}
