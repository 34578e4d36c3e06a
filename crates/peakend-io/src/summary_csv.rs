//! Aggregate figures: `moment,importance[,satisfaction]`, one row per moment in
//! journey order, ratings on the 1–10 scale.

use std::collections::HashMap;

use peakend_core::analysis::SummaryRow;

use crate::CellError;
use crate::table::{self, Input, Named};

pub fn parse<'a>(input: impl Into<Input<'a>>) -> Result<Vec<SummaryRow>, Vec<CellError>> {
    let (headers, records) = table::open(input).map_err(|e| vec![e])?;
    let col = Named::resolve(
        &headers,
        &["moment", "importance"],
        &["satisfaction"],
        "moment, importance and optionally satisfaction",
    )?;
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in records {
        let (row, record) = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let cell = |c: &str| col.cell(&record, c);
        let mut rating = |c: &str, required: bool| -> Option<Option<f64>> {
            match cell(c) {
                "" if !required => Some(None),
                "" => {
                    errors.push(CellError {
                        row,
                        column: Some(c.into()),
                        message: "empty".into(),
                    });
                    None
                }
                v => match v.parse::<f64>() {
                    Ok(x) if (1.0..=10.0).contains(&x) => Some(Some(x)),
                    _ => {
                        errors.push(CellError {
                            row,
                            column: Some(c.into()),
                            message: format!("`{v}` is not a rating from 1 to 10"),
                        });
                        None
                    }
                },
            }
        };
        let importance = rating("importance", true);
        let satisfaction = rating("satisfaction", false);
        let moment = cell("moment").to_owned();
        if moment.is_empty() {
            errors.push(CellError {
                row,
                column: Some("moment".into()),
                message: "empty".into(),
            });
        } else if let Some(first) = seen.insert(moment.clone(), row) {
            errors.push(CellError {
                row,
                column: Some("moment".into()),
                message: format!("`{moment}` already appears in row {first}"),
            });
        }
        if let (Some(Some(importance)), Some(satisfaction)) = (importance, satisfaction) {
            rows.push(SummaryRow {
                moment,
                importance,
                satisfaction,
            });
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
    fn reads_importance_and_optional_satisfaction() {
        let rows = parse("moment,importance,satisfaction\nfind,8.27,7.5\nleave,8.50,\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].satisfaction, Some(7.5));
        assert_eq!(rows[1].satisfaction, None);
    }

    #[test]
    fn reports_every_bad_cell() {
        let errors = parse("moment,importance\nfind,11\n,8\nfind,x\n").unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "row 2, column importance: `11` is not a rating from 1 to 10",
                "row 3, column moment: empty",
                "row 4, column importance: `x` is not a rating from 1 to 10",
                "row 4, column moment: `find` already appears in row 2",
            ]
        );
    }
}
