//! `peakend compliance`: checks passed / checks made for an org node, from audits and
//! the automatic checks together, with the compliance index, the monthly trend, the
//! league of halls and which standards move customers.

use chrono::NaiveDate;
use clap::Args;
use peakend_core::OrgNodeId;
use peakend_core::audit::ComplianceBy;
use peakend_store::Store;

use crate::{Format, table};

#[derive(Args)]
pub struct ComplianceArgs {
    /// A hall or any node above it (default: the root of the organisation); a contact
    /// centre for its own report (its call monitoring, mystery calls and inspections)
    #[arg(long)]
    org: Option<OrgNodeId>,
    /// First day, YYYY-MM-DD (default: 89 days before --to)
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    from: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD (default: today)
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    to: Option<NaiveDate>,
    /// hall, moment, standard, day or agent (a contact centre's agents, from call
    /// monitoring)
    #[arg(long, default_value = "standard")]
    by: ComplianceBy,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(db: &str, args: ComplianceArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    // Days that ended since a server last made their automatic checks count too.
    let now = chrono::Utc::now().timestamp_millis();
    while peakend_store::close_days(&store, now, 1000).await? > 0 {}
    let tree = store.org_tree().await?;
    let org = match args.org {
        Some(o) => o,
        None => tree
            .roots()
            .next()
            .map(|r| r.id.clone())
            .ok_or_else(|| anyhow::anyhow!("the organisation is empty: import it first"))?,
    };
    let today = tree
        .zone_of(&org)
        .local(now)
        .map_or(chrono::Utc::now().date_naive(), |t| t.date_naive());
    let to = args.to.unwrap_or(today);
    let from = args.from.unwrap_or(to - chrono::Days::new(89));
    if from > to {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    let report = peakend_store::compliance(&store, &org, from, to, args.by).await?;
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "org": org.to_string(), "from": from, "to": to, "report": report
            }))?
        ),
        Format::Csv => out!(
            "{}",
            String::from_utf8(peakend_io::compliance_csv(&report)?)?
        ),
        Format::Yaml => anyhow::bail!("--format yaml is not offered here; use json"),
        Format::Table => {
            let pct = |x: Option<f64>| x.map_or("–".into(), |c| format!("{:.1}%", c * 100.0));
            outln!(
                "{org} {from}…{to}: {} of {} checks passed ({}), compliance index {}",
                report.passed,
                report.made,
                pct(report.compliance),
                report.index.map_or("–".into(), |i| format!("{i:.1}"))
            );
            let rows: Vec<Vec<String>> = report
                .lines
                .iter()
                .map(|l| {
                    let sources: Vec<String> = l
                        .sources
                        .iter()
                        .map(|(s, t)| format!("{s} {}/{}", t.passed, t.made))
                        .collect();
                    vec![
                        l.key.clone(),
                        l.moment
                            .clone()
                            .or_else(|| l.hall.clone())
                            .unwrap_or_default(),
                        l.made.to_string(),
                        l.passed.to_string(),
                        pct(l.compliance),
                        sources.join(", "),
                    ]
                })
                .collect();
            let second = if args.by == ComplianceBy::Agent {
                "centre"
            } else {
                "moment"
            };
            table::print(
                &["key", second, "made", "passed", "compliance", "by source"],
                &rows,
            );
            if !report.league.is_empty() && args.by != ComplianceBy::Hall {
                outln!("");
                outln!("league (compliance index):");
                let rows: Vec<Vec<String>> = report
                    .league
                    .iter()
                    .take(20)
                    .enumerate()
                    .map(|(i, h)| {
                        vec![
                            (i + 1).to_string(),
                            h.hall.clone(),
                            h.index.map_or("–".into(), |x| format!("{x:.1}")),
                            format!("{}/{}", h.passed, h.made),
                        ]
                    })
                    .collect();
                table::print(&["#", "hall", "index", "passed/made"], &rows);
            }
        }
    }
    Ok(())
}
