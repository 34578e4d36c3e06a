//! `peakend qfd`: a journey's house of quality in the study's three stages (issue 23).
//! Stage 1 — customer needs × service encounters — is seeded from the journey (each
//! need strongly related to its moment) with the file's `qfd` edits, weighed by the
//! survey's need elements for the org node and visit purpose asked; stages 2 (process
//! elements) and 3 (quality parameters) come from the journey's `qfd` section, each
//! weighed by the importances of the stage before.

use anyhow::{Context, bail};
use clap::Args;
use peakend_core::{JourneyKey, OrgNodeId};
use peakend_store::Store;
use serde_json::json;

use crate::table;

#[derive(Args)]
pub struct QfdArgs {
    journey: JourneyKey,
    /// 1: customer needs × service encounters; 2: encounters × process elements;
    /// 3: process elements × quality parameters
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    stage: u8,
    /// The survey of the halls at or below this node (default: all)
    #[arg(long)]
    org: Option<OrgNodeId>,
    /// Only answers of this visit purpose
    #[arg(long)]
    purpose: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: QfdFormat,
    /// Write the export here (required for xlsx; svg goes to stdout without it)
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Labels of the xlsx and svg exports: zh or en
    #[arg(long, default_value = "zh")]
    lang: String,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QfdFormat {
    Table,
    Json,
    Xlsx,
    Svg,
}

pub async fn run(db: &str, args: QfdArgs) -> anyhow::Result<()> {
    if args.format == QfdFormat::Xlsx && args.out.is_none() {
        bail!("--format xlsx: give the file to write with --out FILE");
    }
    if !matches!(args.lang.as_str(), "zh" | "en") {
        bail!("--lang {}: zh or en", args.lang);
    }
    let store = crate::init(db).await?;
    let journey = crate::journey(&store, &args.journey).await?;
    if let Some(org) = &args.org
        && store.org_tree().await?.get(org).is_none()
    {
        bail!("--org: `{org}` is not in the organisation");
    }
    let (house, respondents) = peakend_store::qfd_house(
        &store,
        &journey,
        args.stage,
        args.org.as_ref(),
        args.purpose.as_deref(),
    )
    .await
    .with_context(|| format!("journey {}: house of quality", args.journey))?;
    let ranking = house.ranking();
    let titles = peakend_core::qfd::stage_titles(args.stage);
    let export = |bytes: Vec<u8>| -> anyhow::Result<()> {
        match &args.out {
            Some(path) => std::fs::write(path, &bytes)
                .with_context(|| format!("--out {}: cannot write", path.display())),
            None => {
                use std::io::Write;
                std::io::stdout().write_all(&bytes)?;
                Ok(())
            }
        }
    };
    match args.format {
        QfdFormat::Xlsx => export(
            peakend_io::qfd_xlsx::write(&house, &args.lang)
                .map_err(|e| anyhow::anyhow!("xlsx: {e}"))?,
        )?,
        QfdFormat::Svg => export(peakend_io::qfd_svg::render(&house, &args.lang).into_bytes())?,
        QfdFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "journey": args.journey.as_str(),
                "stage": args.stage,
                "org": args.org.as_ref().map(|o| o.as_str()),
                "purpose": args.purpose,
                "respondents": respondents,
                "house": house,
                "importance": ranking,
            }))?
        ),
        QfdFormat::Table => {
            outln!(
                "house of quality 质量屋, stage {} {} ({}): {} {} × {} {}, weights from {}",
                args.stage,
                titles.name.0,
                titles.name.1,
                house.rows().len(),
                titles.rows.1.to_lowercase(),
                house.columns().len(),
                titles.columns.1.to_lowercase(),
                if respondents > 0 {
                    format!("{respondents} respondents' need elements")
                } else {
                    "the journey's prior importances (no answers yet)".into()
                }
            );
            let rows: Vec<Vec<String>> = ranking
                .iter()
                .map(|c| {
                    let name = house
                        .columns()
                        .iter()
                        .find(|col| col.key == c.key)
                        .map(|col| col.label.get("zh").to_owned())
                        .unwrap_or_default();
                    vec![
                        c.rank.to_string(),
                        c.key.clone(),
                        name,
                        format!("{:.1}", c.absolute),
                        format!("{:.1}%", 100.0 * c.relative),
                    ]
                })
                .collect();
            table::print(
                &[
                    "#",
                    "COLUMN",
                    titles.columns.0,
                    "IMPORTANCE 重要度",
                    "SHARE 占比",
                ],
                &rows,
            );
        }
    }
    Ok(())
}

/// `peakend bench-qfd` (hidden, for bench/qfd.py): the three houses of the built-in
/// service hall for a survey of `responses` synthetic answers across `halls` halls.
/// The answers are folded and analysed first (each timed apart); then the whole
/// deployment (`qfd::deploy`: stage 1 weighed by the analysis, stages 2 and 3 by the
/// stage before) is built `runs` times. Prints JSON: the timings, the cascade and every
/// stage's column importances, for the peer to recompute and compare.
pub fn bench(responses: usize, halls: usize, runs: usize) -> anyhow::Result<()> {
    use peakend_core::analysis::{SurveyStats, analyze};
    use std::time::Instant;
    let journey = peakend_core::builtin::journeys()
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .find(|j| j.key().as_str() == "service-hall")
        .context("the built-in service-hall journey")?;
    let halls: Vec<peakend_core::HallId> = (0..halls.max(1))
        .map(|i| peakend_core::HallId::parse(format!("h{i:05}")))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut stats = SurveyStats::new(&journey);
    peakend_core::synth::responses(&journey, &halls, responses, 24).for_each(|r| stats.push(&r));
    let fold_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let analysis = analyze(&journey, &stats, None, Default::default())?;
    let analysis_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut times = Vec::with_capacity(runs.max(1));
    let mut cascade = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let c = peakend_core::qfd::deploy(&journey, Some(&analysis))?;
        // The importances are what a reader of the houses is given: computed, not lazy.
        let importances = [&c.stage1, &c.stage2, &c.stage3].map(|h| h.importance());
        times.push(started.elapsed().as_secs_f64() * 1e3);
        cascade = Some((c, importances));
    }
    times.sort_by(f64::total_cmp);
    let (cascade, importances) = cascade.context("at least one run")?;
    let out = json!({
        "responses": responses,
        "respondents": analysis.respondents,
        "fold_ms": fold_ms,
        "analysis_ms": analysis_ms,
        "houses_ms": {"median": times[times.len() / 2], "max": times[times.len() - 1], "runs": times.len()},
        "cascade": cascade,
        "importance": importances,
    });
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
