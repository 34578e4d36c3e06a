//! A house of quality as an XLSX workbook: the matrix (rows × columns, strengths as
//! numbers 9/3/1, blank for none) with the row weights and, under it, each column's
//! importance, share, rank, target and difficulty; the roof and the competitive
//! assessment on sheets of their own. Keys in column A and row 1 for machines, labels
//! in `lang` beside them for people.

use peakend_core::qfd::{House, Improve, stage_titles};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

fn pick<'a>(lang: &str, (zh, en): (&'a str, &'a str)) -> &'a str {
    if lang.starts_with("en") { en } else { zh }
}

/// Column of the first matrix column: key, label, weight come first.
const FIRST: u16 = 3;
/// Row of the first house row: column keys, then column labels come first.
const TOP: u32 = 2;

pub fn write(house: &House, lang: &str) -> Result<Vec<u8>, XlsxError> {
    let t = |pair| pick(lang, pair);
    let titles = stage_titles(house.stage());
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");

    let sheet = book.add_worksheet().set_name("matrix")?;
    sheet.write_string_with_format(0, 0, "key", &bold)?;
    sheet.write_string_with_format(0, 1, t(titles.rows), &bold)?;
    sheet.write_string_with_format(0, 2, t(("权重", "Weight")), &bold)?;
    sheet.write_string_with_format(1, 1, t(titles.columns), &bold)?;
    for (j, c) in house.columns().iter().enumerate() {
        let col = FIRST + j as u16;
        sheet.write_string_with_format(0, col, &c.key, &bold)?;
        sheet.write_string_with_format(1, col, c.label.get(lang), &bold)?;
    }
    for (i, r) in house.rows().iter().enumerate() {
        let row = TOP + i as u32;
        sheet.write_string(row, 0, &r.key)?;
        sheet.write_string(row, 1, r.label.get(lang))?;
        sheet.write_number(row, 2, r.weight)?;
        for (j, c) in house.columns().iter().enumerate() {
            if let Some(s) = house.relationship(&r.key, &c.key) {
                sheet.write_number(row, FIRST + j as u16, s.value())?;
            }
        }
    }
    let foot = TOP + house.rows().len() as u32;
    let names = [
        ("importance", t(("技术重要度", "Importance"))),
        ("relative", t(("相对重要度", "Relative importance"))),
        ("rank", t(("排序", "Rank"))),
        ("target", t(("目标值", "Target"))),
        ("unit", t(("单位", "Unit"))),
        ("direction", t(("改进方向", "Direction"))),
        ("difficulty", t(("技术难度", "Difficulty"))),
    ];
    for (k, (key, label)) in names.iter().enumerate() {
        sheet.write_string_with_format(foot + k as u32, 0, *key, &bold)?;
        sheet.write_string_with_format(foot + k as u32, 1, *label, &bold)?;
    }
    for (j, (imp, c)) in house.importance().iter().zip(house.columns()).enumerate() {
        let col = FIRST + j as u16;
        sheet.write_number(foot, col, imp.absolute)?;
        sheet.write_number_with_format(foot + 1, col, imp.relative, &percent)?;
        sheet.write_number(foot + 2, col, imp.rank as f64)?;
        if let Some(v) = c.target {
            sheet.write_number(foot + 3, col, v)?;
        }
        if let Some(u) = &c.unit {
            let label = peakend_core::handbook::unit_label(u, lang.starts_with("en"));
            sheet.write_string(foot + 4, col, &label)?;
        }
        if let Some(d) = c.direction {
            let d = match d {
                Improve::Up => "up",
                Improve::Down => "down",
                Improve::Target => "target",
            };
            sheet.write_string(foot + 5, col, d)?;
        }
        if let Some(d) = c.difficulty {
            sheet.write_number(foot + 6, col, f64::from(d))?;
        }
    }
    sheet.set_freeze_panes(TOP, FIRST)?;

    let label = |key: &str| {
        house
            .columns()
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.label.get(lang).to_string())
            .unwrap_or_default()
    };
    let roof = book.add_worksheet().set_name("roof")?;
    let heads = [
        "a",
        t(("列 A", "Column A")),
        "b",
        t(("列 B", "Column B")),
        "correlation",
        t(("符号", "Symbol")),
    ];
    for (c, h) in heads.iter().enumerate() {
        roof.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (n, (a, b, c)) in house.roof_cells().enumerate() {
        let r = n as u32 + 1;
        roof.write_string(r, 0, a)?;
        roof.write_string(r, 1, label(a))?;
        roof.write_string(r, 2, b)?;
        roof.write_string(r, 3, label(b))?;
        roof.write_string(r, 4, c.name())?;
        roof.write_string(r, 5, c.symbol())?;
    }

    let comp = book.add_worksheet().set_name("competitive")?;
    let heads = [
        "key",
        t(titles.rows),
        t(("我方", "Ours")),
        t(("竞争对手", "Competitor")),
        t(("差距", "Gap")),
    ];
    for (c, h) in heads.iter().enumerate() {
        comp.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    let mut r = 1;
    for row in house.rows() {
        let Some(c) = row.competitive else { continue };
        comp.write_string(r, 0, &row.key)?;
        comp.write_string(r, 1, row.label.get(lang))?;
        comp.write_number(r, 2, c.ours)?;
        comp.write_number(r, 3, c.competitor)?;
        comp.write_number(r, 4, c.ours - c.competitor)?;
        r += 1;
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};
    use peakend_core::qfd;

    fn read(bytes: Vec<u8>) -> Xlsx<std::io::Cursor<Vec<u8>>> {
        Xlsx::new(std::io::Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn the_matrix_and_its_foot_read_back() {
        let j = peakend_core::builtin::journeys().unwrap().remove(0);
        for stage in 1..=3 {
            let house = qfd::house(&j, stage, None).unwrap();
            let mut book = read(write(&house, "zh").unwrap());
            let m = book.worksheet_range("matrix").unwrap();
            let at = |r: u32, c: u16| m.get_value((r, c as u32)).cloned().unwrap_or(Data::Empty);
            for (j_, c) in house.columns().iter().enumerate() {
                let col = FIRST + j_ as u16;
                assert_eq!(at(0, col), Data::String(c.key.clone()));
                assert_eq!(at(1, col), Data::String(c.label.get("zh").to_string()));
            }
            for (i, r) in house.rows().iter().enumerate() {
                let row = TOP + i as u32;
                assert_eq!(at(row, 0), Data::String(r.key.clone()));
                assert_eq!(at(row, 2), Data::Float(r.weight));
                for (j_, c) in house.columns().iter().enumerate() {
                    let want = match house.relationship(&r.key, &c.key) {
                        Some(s) => Data::Float(s.value()),
                        None => Data::Empty,
                    };
                    assert_eq!(at(row, FIRST + j_ as u16), want, "{} × {}", r.key, c.key);
                }
            }
            let foot = TOP + house.rows().len() as u32;
            assert_eq!(at(foot, 0), Data::String("importance".into()));
            for (j_, (imp, c)) in house.importance().iter().zip(house.columns()).enumerate() {
                let col = FIRST + j_ as u16;
                assert_eq!(at(foot, col), Data::Float(imp.absolute));
                assert_eq!(at(foot + 1, col), Data::Float(imp.relative));
                assert_eq!(at(foot + 2, col), Data::Float(imp.rank as f64));
                let target = c.target.map_or(Data::Empty, Data::Float);
                assert_eq!(at(foot + 3, col), target, "{}", c.key);
                let diff = c
                    .difficulty
                    .map_or(Data::Empty, |d| Data::Float(f64::from(d)));
                assert_eq!(at(foot + 6, col), diff, "{}", c.key);
            }
            let roof = book.worksheet_range("roof").unwrap();
            let cells: Vec<(String, String, String)> = roof
                .rows()
                .skip(1)
                .map(|r| (r[0].to_string(), r[2].to_string(), r[4].to_string()))
                .collect();
            let want: Vec<(String, String, String)> = house
                .roof_cells()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.name().to_string()))
                .collect();
            assert_eq!(cells, want);
            assert!(!want.is_empty(), "stage {stage} has a roof");
        }
    }

    #[test]
    fn the_competitive_sheet_lists_the_rows_that_carry_it() {
        let raw: qfd::RawHouse = serde_json::from_str(
            r#"{"stage":1,"rows":[{"key":"a","label":{"zh":"快","en":"Fast"},"weight":5,"competitive":{"ours":3.5,"competitor":4}},{"key":"b","label":"B","weight":2}],
               "columns":[{"key":"x","label":"X"}],"relationships":[{"row":"a","column":"x","strength":3}]}"#,
        )
        .unwrap();
        let house = qfd::House::try_from(raw).unwrap();
        let mut book = read(write(&house, "en").unwrap());
        let comp = book.worksheet_range("competitive").unwrap();
        assert_eq!(comp.height(), 2);
        let row: Vec<Data> = comp.rows().nth(1).unwrap().to_vec();
        assert_eq!(
            row,
            vec![
                Data::String("a".into()),
                Data::String("Fast".into()),
                Data::Float(3.5),
                Data::Float(4.0),
                Data::Float(-0.5)
            ]
        );
        let m = book.worksheet_range("matrix").unwrap();
        assert_eq!(m.get_value((2, 3)), Some(&Data::Float(3.0)));
        assert_eq!(
            m.get_value((4, 3)),
            Some(&Data::Float(15.0)),
            "importance 5 × 3"
        );
        assert_eq!(m.get_value((0, 2)), Some(&Data::String("Weight".into())));
    }
}
