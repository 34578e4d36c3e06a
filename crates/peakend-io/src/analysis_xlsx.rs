//! The survey analysis as an XLSX workbook: the CSV's rows with numbers as numbers, so
//! a spreadsheet can sort and chart them at once, and a sheet of the headline figures.

use peakend_core::Journey;
use peakend_core::analysis::Analysis;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::analysis_csv;

pub fn write(a: &Analysis, journey: &Journey) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("moments")?;
    for (c, h) in analysis_csv::HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, row) in analysis_csv::rows(a, journey).iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => sheet.write_number(r, c, v)?,
                _ => sheet.write_string(r, c, cell)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 2)?;
    let summary = book.add_worksheet().set_name("summary")?;
    let figures: [(&str, Option<f64>); 8] = [
        ("respondents", Some(a.respondents as f64)),
        ("mean_importance", a.mean_importance),
        ("mean_satisfaction", a.mean_satisfaction),
        ("peak_threshold", a.peak_threshold),
        ("nps", a.indices.nps),
        ("satisfaction_index", a.indices.index),
        ("memory_peak_end_r", a.memory_model.peak_end_r),
        ("memory_average_r", a.memory_model.average_r),
    ];
    summary.write_string_with_format(0, 0, "journey", &bold)?;
    summary.write_string(0, 1, journey.key().as_str())?;
    for (i, (name, v)) in figures.iter().enumerate() {
        let r = i as u32 + 1;
        summary.write_string_with_format(r, 0, *name, &bold)?;
        if let Some(v) = v {
            summary.write_number(r, 1, *v)?;
        }
    }
    let r = figures.len() as u32 + 1;
    summary.write_string_with_format(r, 0, "peaks", &bold)?;
    summary.write_string(r, 1, a.peaks.join(", "))?;
    summary.write_string_with_format(r + 1, 0, "end", &bold)?;
    summary.write_string(r + 1, 1, &a.end)?;
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};
    use peakend_core::analysis::GroupedStats;
    use peakend_core::peak::PeakRule;

    #[test]
    fn the_workbook_reads_back_with_numbers_as_numbers() {
        let j = peakend_core::builtin::journeys().unwrap().remove(0);
        let halls = [peakend_core::HallId::parse("h1").unwrap()];
        let mut stats = GroupedStats::new(&j, None, None);
        peakend_core::synth::responses(&j, &halls, 300, 2).for_each(|r| stats.push(&r));
        let a = stats.analyze(&j, None, PeakRule::default()).unwrap();
        let bytes = write(&a, &j).unwrap();
        let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let moments = book.worksheet_range("moments").unwrap();
        assert_eq!(moments.height(), 17, "a header and 16 moments");
        let result = moments
            .rows()
            .find(|r| r[1] == Data::String("result".into()))
            .unwrap();
        let m = a.moments.iter().find(|m| m.key == "result").unwrap();
        assert_eq!(result[4], Data::Float(m.importance.unwrap()));
        let summary = book.worksheet_range("summary").unwrap();
        assert_eq!(summary.get((1, 1)), Some(&Data::Float(300.0)));
        assert_eq!(summary.get((10, 1)), Some(&Data::String(a.end.clone())));
    }
}
