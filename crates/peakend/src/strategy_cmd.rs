//! `peakend strategy`: the strategy page's ranking and stored strategy (issue 23).
//! The dimensions of the node's halls ranked by importance share × gap × feasibility
//! / 5 beside the director's theme, sub-themes and initiatives; `--set FILE.json`
//! stores a strategy with the API's checks.

use anyhow::{Context, bail};
use clap::Args;
use peakend_core::JourneyKey;
use peakend_core::OrgNodeId;
use peakend_core::strategy::{GapSource, Strategy};
use peakend_store::{Store, StrategyStore};

use crate::table;

#[derive(Args)]
pub struct StrategyArgs {
    journey: JourneyKey,
    /// The org node (default: the root of the organisation)
    #[arg(long)]
    org: Option<OrgNodeId>,
    #[arg(long, value_enum, default_value = "table")]
    format: StrategyFormat,
    /// Store this strategy document (JSON) for --org and the journey, then print
    #[arg(long, value_name = "FILE.json")]
    set: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyFormat {
    Table,
    Json,
}

pub async fn run(db: &str, args: StrategyArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let journey = crate::journey(&store, &args.journey).await?;
    let tree = store.org_tree().await?;
    let org = match &args.org {
        Some(org) if tree.get(org).is_none() => {
            bail!("--org: `{org}` is not in the organisation")
        }
        Some(org) => org.clone(),
        None if args.set.is_some() => bail!("--set: name the org node with --org NODE"),
        None => match tree.roots().next() {
            Some(root) => root.id.clone(),
            None => bail!("--org: the organisation is empty (run `peakend org import`)"),
        },
    };
    if let Some(path) = &args.set {
        let body = std::fs::read(path)
            .with_context(|| format!("--set {}: cannot read", path.display()))?;
        let strategy = Strategy::parse(&body, &journey).map_err(|p| {
            anyhow::anyhow!(
                "{}: {}",
                path.display(),
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        // Who saved it: the command line, not a dashboard user.
        store
            .put_strategy(&org, journey.key(), &strategy, "cli")
            .await?;
    }
    let view = peakend_store::strategy_view(&store, &journey, &org)
        .await
        .with_context(|| format!("journey {}: strategy of `{org}`", args.journey))?;
    if args.format == StrategyFormat::Json {
        outln!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    outln!(
        "strategy 体验战略 of {} on {}: {}",
        view.org,
        view.journey,
        if view.respondents > 0 {
            format!(
                "{} respondents, gap = {}",
                view.respondents,
                if view.gap5 {
                    "gap 5 (expectation − perception) where asked, else 10 − satisfaction"
                } else {
                    "10 − satisfaction"
                }
            )
        } else {
            "no answers yet, nothing ranked".into()
        }
    );
    let num = |x: Option<f64>, d: usize| x.map_or("—".to_owned(), |x| format!("{x:.d$}"));
    let rows: Vec<Vec<String>> = view
        .ranking
        .iter()
        .map(|r| {
            let (zh, _) = r.dimension.name();
            vec![
                r.rank.map_or("—".into(), |n| n.to_string()),
                r.dimension.key().to_owned(),
                zh.to_owned(),
                r.importance_share
                    .map_or("—".into(), |x| format!("{:.1}%", 100.0 * x)),
                num(r.satisfaction, 2),
                match r.gap_source {
                    Some(GapSource::Gap5) => format!("{} (gap 5)", num(r.gap, 2)),
                    _ => num(r.gap, 2),
                },
                if r.feasibility_entered {
                    r.feasibility.to_string()
                } else {
                    format!("{} (default)", r.feasibility)
                },
                num(r.priority, 3),
                match (r.theme, r.unranked) {
                    (true, _) => "★ theme 主题".into(),
                    (false, Some(u)) => u.name().1.to_owned(),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    table::print(
        &[
            "#",
            "DIMENSION",
            "维度",
            "SHARE 占比",
            "SAT 满意度",
            "GAP 差距",
            "FEASIBLE 可行性",
            "PRIORITY 优先度",
            "NOTE",
        ],
        &rows,
    );
    let s = &view.strategy;
    outln!("");
    match s.theme {
        Some(d) => outln!("theme 主题: {} {}", d.key(), d.name().0),
        None => outln!("theme 主题: (none chosen)"),
    }
    for t in &s.sub_themes {
        outln!("  sub-theme 子主题: {t}");
    }
    if s.initiatives.is_empty() {
        outln!("initiatives 举措: none");
    } else {
        let rows: Vec<Vec<String>> = s
            .initiatives
            .iter()
            .map(|i| {
                vec![
                    i.title.clone(),
                    i.owner.clone(),
                    i.due.map(|d| d.to_string()).unwrap_or_default(),
                    i.status.key().to_owned(),
                    i.moments
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        table::print(
            &[
                "INITIATIVE 举措",
                "OWNER 负责人",
                "DUE 截止",
                "STATUS 状态",
                "MOMENTS 关键时刻",
            ],
            &rows,
        );
    }
    if let (Some(at), Some(by)) = (view.updated_at, &view.updated_by) {
        let when = chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        outln!("saved {when} by {by}");
    }
    Ok(())
}
