//! The organisation CSV: `id,parent,level,name`, optionally `counters,kiosks`
//! (for halls), `tz` (an IANA time zone, inherited by the nodes below) and
//! `nps_target`, `index_target` (the headline targets, inherited likewise). Columns may come in any order; the level may be written in English
//! (`hall`) or Chinese (`营业厅`).

use std::collections::HashMap;

use peakend_core::{OrgError, OrgLevel, OrgNode, OrgNodeId};

use crate::CellError;
use crate::table::{self, Input, Named};

const REQUIRED: [&str; 4] = ["id", "parent", "level", "name"];
const OPTIONAL: [&str; 5] = ["counters", "kiosks", "tz", "nps_target", "index_target"];

/// A parsed row with the spreadsheet row it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub row: usize,
    pub node: OrgNode,
}

/// Parses the whole file, collecting every bad cell rather than stopping at the first.
pub fn parse<'a>(input: impl Into<Input<'a>>) -> Result<Vec<OrgRow>, Vec<CellError>> {
    let (headers, records) = table::open(input).map_err(|e| vec![e])?;
    let col = Named::resolve(
        &headers,
        &REQUIRED,
        &OPTIONAL,
        &format!("{}, optionally {}", REQUIRED.join(","), OPTIONAL.join(",")),
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
        let mut cell_err = |column: &str, message: String| {
            errors.push(CellError {
                row,
                column: Some(column.into()),
                message,
            })
        };
        let cell = |c: &str| col.cell(&record, c);
        let id = OrgNodeId::parse(cell("id")).map_err(|e| cell_err("id", e.reason.into()));
        let parent = match cell("parent") {
            "" => Ok(None),
            p => OrgNodeId::parse(p)
                .map(Some)
                .map_err(|e| cell_err("parent", e.reason.into())),
        };
        let level = cell("level")
            .parse::<OrgLevel>()
            .map_err(|e| cell_err("level", e));
        let name = cell("name").to_owned();
        if name.is_empty() {
            cell_err("name", "name is empty".into());
        }
        let mut count = |c: &str| match cell(c) {
            "" => Ok(0),
            v => v
                .parse::<u32>()
                .map_err(|_| cell_err(c, format!("`{v}` is not a whole number ≥ 0"))),
        };
        let (counters, kiosks) = (count("counters"), count("kiosks"));
        let tz = match cell("tz").trim() {
            "" => Ok(None),
            z => peakend_core::time::Zone::parse(z)
                .map(Some)
                .map_err(|e| cell_err("tz", e)),
        };
        let nps = peakend_core::Targets::parse_nps(cell("nps_target"))
            .map_err(|e| cell_err("nps_target", e));
        let index = peakend_core::Targets::parse_index(cell("index_target"))
            .map_err(|e| cell_err("index_target", e));
        if let (
            Ok(id),
            Ok(parent),
            Ok(level),
            Ok(counters),
            Ok(kiosks),
            Ok(tz),
            Ok(nps),
            Ok(index),
        ) = (id, parent, level, counters, kiosks, tz, nps, index)
        {
            rows.push(OrgRow {
                row,
                node: OrgNode {
                    id,
                    parent,
                    level,
                    name,
                    counters,
                    kiosks,
                    tz,
                    targets: peakend_core::Targets { nps, index },
                },
            });
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Points tree errors (unknown parent, wrong level…) back at the rows that caused them.
pub fn locate(errors: &[OrgError], rows: &[OrgRow]) -> Vec<CellError> {
    let row_of: HashMap<&OrgNodeId, usize> = rows.iter().map(|r| (&r.node.id, r.row)).collect();
    errors
        .iter()
        .map(|e| {
            let column = match e {
                OrgError::UnknownParent { .. } => Some("parent"),
                OrgError::LevelNotBelowParent { .. } | OrgError::RootNotProvince { .. } => {
                    Some("level")
                }
                OrgError::EquipmentOnNonHall { .. } => Some("counters"),
                OrgError::EmptyName { .. } => Some("name"),
                OrgError::DuplicateId { .. } => Some("id"),
            };
            CellError {
                // An error about an already stored node (not in this file) is row 0 → no row.
                row: row_of.get(e.node()).copied().unwrap_or(0),
                column: column.map(str::to_owned),
                message: e.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_column_order_and_chinese_levels() {
        let rows = parse("name,level,parent,id,counters\n示范省,省,,p,\n一号厅,营业厅,p,h1,6\n\n")
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].row, 3);
        assert_eq!(rows[1].node.level, OrgLevel::Hall);
        assert_eq!(rows[1].node.counters, 6);
        assert_eq!(rows[0].node.parent, None);
    }

    #[test]
    fn reports_every_bad_cell_with_row_and_column() {
        let errors =
            parse("id,parent,level,name,counters\nok,,province,P,\nbad id,,town,,x\n").unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "row 3, column id: may only contain A-Z, a-z, 0-9, `_`, `-` and `.`",
                "row 3, column level: unknown level `town` (expected province, city, district, hall or centre)",
                "row 3, column name: name is empty",
                "row 3, column counters: `x` is not a whole number ≥ 0",
            ]
        );
    }

    #[test]
    fn targets_are_whole_numbers_in_their_range() {
        let rows = parse(
            "id,parent,level,name,nps_target,index_target\np,,province,P,30,80\nc,p,city,C,,\n",
        )
        .unwrap();
        assert_eq!(rows[0].node.targets.nps, Some(30));
        assert_eq!(rows[0].node.targets.index, Some(80));
        assert_eq!(rows[1].node.targets, peakend_core::Targets::default());
        let errors = parse("id,parent,level,name,nps_target,index_target\np,,province,P,101,-1\nq,,province,Q,3.5,x\n")
            .unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "row 2, column nps_target: `101` is not a whole number from -100 to 100",
                "row 2, column index_target: `-1` is not a whole number from 0 to 100",
                "row 3, column nps_target: `3.5` is not a whole number from -100 to 100",
                "row 3, column index_target: `x` is not a whole number from 0 to 100",
            ]
        );
    }

    #[test]
    fn tree_errors_point_at_rows_or_at_stored_nodes() {
        let rows = parse("id,parent,level,name\nd,c,hall,turned into a hall\n").unwrap();
        let id = |s| OrgNodeId::parse(s).unwrap();
        let errors = [
            OrgError::UnknownParent {
                id: id("d"),
                parent: id("c"),
            },
            OrgError::LevelNotBelowParent {
                id: id("h"),
                level: OrgLevel::Hall,
                parent: id("d"),
                parent_level: OrgLevel::Hall,
            },
        ];
        let shown: Vec<String> = locate(&errors, &rows)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown[0],
            "row 2, column parent: node `d`: parent `c` does not exist"
        );
        assert!(
            shown[1].ends_with("(a stored node this file would break)"),
            "{}",
            shown[1]
        );
    }

    #[test]
    fn header_problems_are_row_one() {
        let errors = parse("id,parent,name,colour\n").unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            shown[0].starts_with("row 1, column colour: unknown column"),
            "{shown:?}"
        );
        assert_eq!(shown[1], "row 1, column level: required column is missing");
    }
}
