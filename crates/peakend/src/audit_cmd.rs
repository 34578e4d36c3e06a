//! `peakend audit`: audits of the standards. `audit template` prints the checklist of a
//! journey for one kind of checker (a hall's self-check, a manager's walk, a mystery
//! shopper, a regional inspection): a printable A4 page, a CSV to fill in, or JSON.

use clap::{Subcommand, ValueEnum};
use peakend_core::JourneyKey;
use peakend_core::audit::Checker;
use peakend_core::checklist::checklist;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// The checklist of a journey for one kind of audit: a printable A4 page (zh-CN),
    /// a CSV with empty result and note columns, or JSON
    Template {
        #[arg(long)]
        journey: JourneyKey,
        /// Who checks: self, walk, mystery, inspection or monitoring (a recorded call)
        #[arg(long, value_parser = parse_kind)]
        kind: Checker,
        #[arg(long, value_enum, default_value = "html")]
        format: TemplateFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TemplateFormat {
    Html,
    Csv,
    Json,
}

fn parse_kind(s: &str) -> Result<Checker, String> {
    Checker::parse(s)
}

pub async fn run(db: &str, cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Template {
            journey,
            kind,
            format,
        } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            let list = checklist(&j, kind);
            match format {
                TemplateFormat::Html => out!("{}", peakend_http::checklist_html(&j, &list)),
                TemplateFormat::Csv => out!(
                    "{}",
                    String::from_utf8(peakend_io::checklist_csv::checklist_csv(&list)?)?
                ),
                TemplateFormat::Json => outln!("{}", serde_json::to_string_pretty(&list)?),
            }
        }
    }
    Ok(())
}
