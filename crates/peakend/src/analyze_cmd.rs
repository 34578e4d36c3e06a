//! `peakend analyze`: the peak-end analysis. This first part reads aggregate figures
//! (`--summary`), as published studies report them.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use peakend_core::analysis::{Quadrant, SummaryAnalysis, SummaryRow, analyze_summary};
use peakend_core::peak::PeakRule;
use peakend_core::{Journey, JourneyKey};
use peakend_io::{CellError, FileErrors, summary_csv};
use peakend_store::Store;

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Aggregate input: a CSV with moment,importance[,satisfaction], one row per moment
    #[arg(long, value_name = "FILE")]
    summary: PathBuf,
    /// Journey whose moment keys the file uses: rows are put in journey order, the end is
    /// the journey's last moment, and names are shown in Chinese and English
    #[arg(long)]
    journey: Option<JourneyKey>,
    /// sd:K (peaks above mean + K sample standard deviations) or top:K
    #[arg(long, default_value = "sd:1")]
    peak_rule: PeakRule,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Force the file's text encoding (default: detect UTF-8 or GB18030)
    #[arg(long)]
    encoding: Option<String>,
}

/// Orders rows by the journey, rejecting moments it does not have.
fn in_journey_order(
    rows: Vec<SummaryRow>,
    journey: &Journey,
    file: &str,
) -> anyhow::Result<Vec<SummaryRow>> {
    let position = |m: &str| journey.moments().iter().position(|x| x.key.as_str() == m);
    let unknown: Vec<CellError> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| position(&r.moment).is_none())
        .map(|(i, r)| CellError {
            row: i + 2,
            column: Some("moment".into()),
            message: format!(
                "`{}` is not a moment of journey `{}`",
                r.moment,
                journey.key()
            ),
        })
        .collect();
    if !unknown.is_empty() {
        bail!(FileErrors {
            file: file.to_owned(),
            errors: unknown
        });
    }
    let mut rows = rows;
    rows.sort_by_key(|r| position(&r.moment));
    Ok(rows)
}

pub async fn run(db: &str, args: AnalyzeArgs) -> anyhow::Result<()> {
    let file = args.summary.display().to_string();
    let text = crate::read_text(&args.summary, args.encoding.as_deref())?;
    let rows = summary_csv::parse(&text).map_err(|errors| FileErrors {
        file: file.clone(),
        errors,
    })?;
    let journey = match &args.journey {
        Some(key) => Some(
            crate::init(db)
                .await?
                .journey(key)
                .await?
                .with_context(|| format!("journey `{key}` not found"))?,
        ),
        None => None,
    };
    let rows = match &journey {
        Some(j) => in_journey_order(rows, j, &file)?,
        None => rows,
    };
    let mut analysis =
        analyze_summary(&rows, args.peak_rule).with_context(|| format!("{file}: no rows"))?;
    if let Some(j) = &journey {
        // The end is structural: the journey's last moment, rated or not.
        analysis.end = j.end().key.to_string();
        for m in &mut analysis.moments {
            m.end = m.key == analysis.end;
        }
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&analysis)?),
        Format::Table => print_table(&analysis, journey.as_ref()),
        Format::Csv => {
            outln!("moment,importance,satisfaction,quadrant,peak,end");
            for m in &analysis.moments {
                outln!(
                    "{},{},{},{},{},{}",
                    m.key,
                    m.importance,
                    m.satisfaction.map(|s| s.to_string()).unwrap_or_default(),
                    m.quadrant.map(quadrant_key).unwrap_or_default(),
                    m.peak,
                    m.end
                );
            }
        }
        other => bail!(
            "analyze supports --format table, json or csv, not {}",
            format_name(other)
        ),
    }
    Ok(())
}

fn quadrant_key(q: Quadrant) -> &'static str {
    match q {
        Quadrant::Concentrate => "concentrate",
        Quadrant::KeepUp => "keep_up",
        Quadrant::LowPriority => "low_priority",
        Quadrant::Overkill => "overkill",
    }
}

fn print_table(a: &SummaryAnalysis, journey: Option<&Journey>) {
    let name = |key: &str| {
        journey
            .and_then(|j| j.moments().iter().find(|m| m.key.as_str() == key))
            .map(|m| format!("{} {}", m.name.zh, m.name.en))
            .unwrap_or_default()
    };
    let rows: Vec<Vec<String>> = a
        .moments
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mark = match (m.peak, m.end) {
                (true, true) => "峰 peak, 终 end",
                (true, false) => "峰 peak",
                (false, true) => "终 end",
                _ => "",
            };
            vec![
                (i + 1).to_string(),
                m.key.clone(),
                name(&m.key),
                format!("{:.2}", m.importance),
                m.satisfaction
                    .map(|s| format!("{s:.2}"))
                    .unwrap_or_default(),
                m.quadrant.map(quadrant_key).unwrap_or_default().to_owned(),
                mark.to_owned(),
            ]
        })
        .collect();
    table::print(
        &[
            "#",
            "MOMENT",
            "名称 NAME",
            "IMPORTANCE",
            "SATISFACTION",
            "QUADRANT",
            "",
        ],
        &rows,
    );
    outln!("");
    outln!("mean importance 平均重要性: {:.2}", a.mean_importance);
    if let (Some(sd), Some(line)) = (a.sd_importance, a.peak_threshold) {
        outln!("sample sd: {sd:.3}; peak line (mean + k·sd): {line:.2}");
    }
    outln!("peaks 峰: {}", a.peaks.join(", "));
    outln!("end 终: {}", a.end);
}
