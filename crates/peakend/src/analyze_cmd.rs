//! `peakend analyze`: the peak-end analysis of a survey file (`FILE --journey KEY`), or
//! of aggregate figures (`--summary FILE`) as published studies report them.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::Args;
use peakend_core::analysis::dense::DenseGrouped;
use peakend_core::analysis::rake::RakeMargin;
use peakend_core::analysis::{
    Analysis, GroupBy, GroupedStats, Quadrant, SummaryAnalysis, SummaryRow, analyze_summary,
};
use peakend_core::peak::PeakRule;
use peakend_core::{Journey, JourneyKey, OrgNodeId};
use peakend_io::{CellError, FileErrors, Source, summary_csv, survey_csv, survey_fast};
use peakend_store::Store;

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["file", "summary", "from_db"])))]
pub struct AnalyzeArgs {
    /// A survey file in the wide format (see `peakend survey template`); needs --journey
    #[arg(requires = "journey")]
    file: Option<PathBuf>,
    /// Aggregate input: a CSV with moment,importance[,satisfaction], one row per moment
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Analyse the stored responses (optionally --org, --from, --to; without --journey,
    /// on the journey the node's halls live by)
    #[arg(long)]
    from_db: bool,
    /// With --from-db: the halls at or below this org node
    #[arg(long, requires = "from_db")]
    org: Option<OrgNodeId>,
    /// With --from-db: first visit date, YYYY-MM-DD
    #[arg(long, requires = "from_db", value_parser = peakend_core::survey::parse_date)]
    from: Option<NaiveDate>,
    /// With --from-db: last visit date, YYYY-MM-DD
    #[arg(long, requires = "from_db", value_parser = peakend_core::survey::parse_date)]
    to: Option<NaiveDate>,
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
    /// Segment weights as seg=share,… (default: each segment's share of respondents)
    #[arg(long, value_parser = parse_weights, conflicts_with = "rake")]
    weights: Option<BTreeMap<String, f64>>,
    /// With --from-db: rake the respondents to the period's served visits on these
    /// margins (segment,purpose; docs/raking.md)
    #[arg(long, requires = "from_db", value_parser = parse_margins)]
    rake: Option<Margins>,
    /// Skip columns that are not part of the survey format
    #[arg(long)]
    ignore_unknown: bool,
    /// The whole analysis per group as well: purpose, segment, hall, district or city
    #[arg(long)]
    by: Option<GroupBy>,
}

/// The margins of `--rake`.
#[derive(Clone)]
struct Margins(Vec<RakeMargin>);

fn parse_margins(s: &str) -> Result<Margins, String> {
    RakeMargin::parse_list(s).map(Margins)
}

fn parse_weights(s: &str) -> Result<BTreeMap<String, f64>, String> {
    s.split(',')
        .map(|part| {
            let (seg, w) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not seg=share"))?;
            match w.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok((seg.trim().to_owned(), x)),
                _ => Err(format!("weight `{w}` of `{seg}` is not a number ≥ 0")),
            }
        })
        .collect()
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
    let Some(summary) = &args.summary else {
        return run_survey(db, &args).await;
    };
    let file = summary.display().to_string();
    let source = crate::read_table(summary, args.encoding.as_deref())?;
    let rows = summary_csv::parse(&source).map_err(|errors| FileErrors {
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

/// Analyses a survey file (rows folded into statistics as they are read; nothing is
/// reported unless every row is good) or, with --from-db, the stored responses.
async fn run_survey(db: &str, args: &AnalyzeArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let (journey, also) = match &args.journey {
        Some(key) => (
            store
                .journey(key)
                .await?
                .with_context(|| format!("journey `{key}` not found"))?,
            Vec::new(),
        ),
        None => {
            // The node's own journey; without --org, the one province's (or say so).
            let node = match &args.org {
                Some(n) => n.clone(),
                None => {
                    let tree = store.org_tree().await?;
                    let roots: Vec<_> = tree.roots().collect();
                    match roots.as_slice() {
                        [root] => root.id.clone(),
                        _ => bail!("--journey or --org is required to analyse responses"),
                    }
                }
            };
            let (journey, also) = peakend_store::analysis_journey(&store, &node).await?;
            if !also.is_empty() {
                let mut lived: Vec<&str> = also.iter().map(|j| j.key().as_str()).collect();
                lived.push(journey.key().as_str());
                lived.sort_unstable();
                eprintln!(
                    "note: the halls under {node} live by journeys {}; analysed on the journey they share, {}, with every hall's answers to its moments",
                    lived.join(", "),
                    journey.key()
                );
            }
            (journey, also)
        }
    };
    let analysis = match &args.file {
        None => {
            let query = peakend_store::AnalysisQuery {
                org: args.org.as_ref(),
                from: args.from,
                to: args.to,
                weights: args.weights.as_ref(),
                rule: args.peak_rule,
                by: args.by,
                purpose: None,
                also: &also,
            };
            match &args.rake {
                Some(Margins(margins)) => {
                    peakend_store::raked_analysis(&store, &journey, &query, margins).await?
                }
                None => peakend_store::stored_analysis(&store, &journey, &query).await?,
            }
        }
        Some(path) => {
            let file = path.display().to_string();
            // District and city groups need the organisation to place each hall.
            let tree = match args.by {
                Some(GroupBy::District | GroupBy::City) => Some(store.org_tree().await?),
                _ => None,
            };
            let opts = survey_csv::Options {
                ignore_unknown: args.ignore_unknown,
                halls: None,
                ..Default::default()
            };
            let stats = fold_survey_file(path, args.encoding.as_deref(), &journey, &opts, || {
                GroupedStats::new(&journey, args.by, tree.as_ref())
            })?;
            stats
                .analyze(&journey, args.weights.as_ref(), args.peak_rule)
                .with_context(|| file.clone())?
        }
    };
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&analysis)?),
        Format::Table => print_analysis(&analysis, &journey),
        Format::Csv => {
            let mut buf = Vec::new();
            peakend_io::analysis_csv::write(&analysis, &journey, &mut buf)?;
            out!("{}", String::from_utf8_lossy(&buf));
        }
        other => bail!(
            "survey analysis supports --format table, json or csv, not {}",
            format_name(other)
        ),
    }
    Ok(())
}

/// Folds a survey file into statistics: chunks in parallel on the fast path when the
/// file is clean, otherwise the careful reader, whose errors name every bad cell.
fn fold_survey_file(
    path: &Path,
    encoding: Option<&str>,
    journey: &Journey,
    opts: &survey_csv::Options,
    new: impl Fn() -> GroupedStats + Sync,
) -> anyhow::Result<GroupedStats> {
    let file = path.display().to_string();
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    // Folded densely per chunk (see `peakend_core::analysis::dense`), then merged.
    let fast = |bytes: &[u8]| {
        let parts = survey_fast::fold_dense(bytes, journey, opts, threads, |layout| {
            DenseGrouped::new(new(), layout)
        })?;
        let mut parts = parts.into_iter();
        let Some(mut all) = parts.next() else {
            return Some(new());
        };
        parts.for_each(|p| all.merge(&p));
        Some(all.into_grouped())
    };
    // Mapped rather than read: no copy of a multi-gigabyte file, and each thread pages
    // in its own chunk. Only plain UTF-8 can take the fast path as it is on disk.
    let mapped = match encoding {
        None => {
            let f = std::fs::File::open(path).with_context(|| format!("cannot read {file}"))?;
            // SAFETY: the map is only read, and only during this call. Rust cannot rule out
            // another process rewriting or truncating the file meanwhile; as with grep-like
            // tools, that is accepted for an input the user named: the figures could then be
            // wrong or the process stop with SIGBUS, but nothing is written anywhere.
            #[allow(unsafe_code)]
            let map =
                unsafe { memmap2::Mmap::map(&f) }.with_context(|| format!("cannot read {file}"))?;
            if let Some(stats) = fast(&map) {
                return Ok(stats);
            }
            Some(map)
        }
        Some(_) => None,
    };
    let source = crate::read_table(path, encoding)?;
    // A BOM, GBK or a forced encoding: the decoded text may still be clean.
    if let Source::Text(text) = &source {
        if mapped.is_none_or(|m| m[..] != *text.as_bytes()) {
            if let Some(stats) = fast(text.as_bytes()) {
                return Ok(stats);
            }
        }
    }
    let mut stats = new();
    let errors = survey_csv::for_each_row(&source, journey, opts, |r| stats.push(&r));
    if !errors.is_empty() {
        bail!(FileErrors { file, errors });
    }
    Ok(stats)
}

fn print_analysis(a: &Analysis, journey: &Journey) {
    let f2 = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_default();
    let rows: Vec<Vec<String>> = a
        .moments
        .iter()
        .zip(journey.moments())
        .enumerate()
        .map(|(i, (m, jm))| {
            let mark = [(m.peak, "峰 peak"), (m.end, "终 end")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, t)| *t)
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                (i + 1).to_string(),
                format!("{} {}", jm.name.zh, jm.name.en),
                f2(m.importance),
                f2(m.satisfaction),
                m.n.to_string(),
                m.quadrant.map(quadrant_key).unwrap_or_default().to_owned(),
                m.driver_share
                    .map(|s| format!("{s:.1}%"))
                    .unwrap_or_default(),
                m.core_need.clone().unwrap_or_default(),
                mark,
            ]
        })
        .collect();
    table::print(
        &[
            "#",
            "关键时刻 MOMENT",
            "IMP",
            "SAT",
            "N",
            "QUADRANT",
            "DRIVER",
            "CORE NEED",
            "",
        ],
        &rows,
    );
    outln!("");
    let weights: Vec<String> = a
        .weights
        .iter()
        .map(|(k, v)| format!("{k}={v:.3}"))
        .collect();
    outln!(
        "respondents 样本量: {}; weights 权重: {}",
        a.respondents,
        weights.join(", ")
    );
    outln!(
        "mean importance 平均重要性: {}; peak line: {}",
        f2(a.mean_importance),
        f2(a.peak_threshold)
    );
    outln!("peaks 峰: {}; end 终: {}", a.peaks.join(", "), a.end);
    outln!("drivers: relative weights, R² = {}", f2(a.drivers.r2));
    outln!(
        "memory model: r(peak-end, overall) = {}, r(average, overall) = {}",
        f2(a.memory_model.peak_end_r),
        f2(a.memory_model.average_r)
    );
    let i = &a.indices;
    outln!(
        "NPS {}; satisfied (≥8) {}; index {}; tolerable wait median {} / mean {} min",
        f2(i.nps),
        i.satisfied_share
            .map(|s| format!("{:.1}%", 100.0 * s))
            .unwrap_or_default(),
        f2(i.index),
        f2(i.tolerable_wait.median),
        f2(i.tolerable_wait.mean)
    );
    if let Some(t) = &i.top_box {
        outln!(
            "fully satisfied 百分百满意 (overall 10): {} ({}–{}), {} of {}; value tier 价值层级: {}",
            pct(t.share),
            pct(t.ci95.0),
            pct(t.ci95.1),
            t.satisfied,
            t.n,
            tier_text(t.tier)
        );
    }
    let dims: Vec<String> = a
        .dimensions
        .iter()
        .filter_map(|d| {
            let (zh, en) = d.dimension.name();
            d.score.map(|s| format!("{zh} {en} {s:.2}"))
        })
        .collect();
    if !dims.is_empty() {
        outln!("dimensions 体验维度: {}", dims.join(", "));
    }
    if !a.groups.is_empty() {
        outln!("");
        let rows: Vec<Vec<String>> = a
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.group.clone(),
                    g.analysis.respondents.to_string(),
                    g.analysis.peaks.join(", "),
                    f2(g.analysis.indices.nps),
                    f2(g.analysis.indices.index),
                    g.analysis
                        .indices
                        .top_box
                        .as_ref()
                        .map(|t| pct(t.share))
                        .unwrap_or_default(),
                    tier_text(g.analysis.indices.top_box.as_ref().and_then(|t| t.tier)),
                ]
            })
            .collect();
        table::print(
            &[
                "GROUP 分组",
                "N",
                "PEAKS 峰",
                "NPS",
                "INDEX",
                "TOP BOX 百分百满意",
                "TIER 价值层级",
            ],
            &rows,
        );
    }
    if let Some(r) = &a.raking {
        outln!("");
        outln!(
            "raked 加权调整 (raking) on {} to {} served visits 到访 ({} passes): weights 权重 {:.2}–{:.2}, design effect 设计效应 {:.2}, effective n 有效样本 {:.1}",
            r.margins.join(" + "),
            r.visits,
            r.iterations,
            r.weight_min,
            r.weight_max,
            r.design_effect,
            r.effective_n
        );
        let rows: Vec<Vec<String>> = r
            .cells
            .iter()
            .map(|c| {
                vec![
                    c.segment.clone(),
                    c.purpose.clone(),
                    c.respondents.to_string(),
                    format!("{:.3}", c.weight),
                ]
            })
            .collect();
        table::print(
            &["SEGMENT 客户群", "PURPOSE 目的", "N", "WEIGHT 权重"],
            &rows,
        );
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A value tier as the tables print it: 金牌 Gold … or a dash below bronze.
fn tier_text(t: Option<peakend_core::dimensions::ValueTier>) -> String {
    t.map(|t| {
        let (zh, en) = t.name();
        format!("{zh} {en}")
    })
    .unwrap_or_else(|| "—".into())
}
