//! `peakend handbook`: a role's printable handbook of a journey (HTML, or the JSON of
//! `peakend_core::handbook::Handbook`), and `peakend exam`: the exam question bank the
//! journey's standards give (`exam questions`).

use clap::{Subcommand, ValueEnum};
use peakend_core::handbook::{self, parse_owner_role, unit_name};
use peakend_core::{JourneyKey, OwnerRole};

use crate::table;

#[derive(Clone, Copy, ValueEnum)]
pub enum HandbookFormat {
    Html,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum QuestionsFormat {
    Json,
    Table,
}

/// `peakend handbook --journey KEY --role ROLE [--format html|json]`
#[derive(clap::Args)]
pub struct HandbookArgs {
    #[arg(long)]
    journey: JourneyKey,
    /// frontline, floor_walker, security, cleaner, hall_manager or back_office
    #[arg(long, value_parser = parse_owner_role)]
    role: OwnerRole,
    /// html (a standalone printable page, zh-CN) or json
    #[arg(long, value_enum, default_value = "html")]
    format: HandbookFormat,
}

#[derive(Subcommand)]
pub enum ExamCmd {
    /// The question bank of a journey: one question per standard with a threshold,
    /// with its answer
    Questions {
        #[arg(long)]
        journey: JourneyKey,
        #[arg(long, value_enum, default_value = "table")]
        format: QuestionsFormat,
    },
}

pub async fn run(db: &str, args: HandbookArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let j = crate::journey(&store, &args.journey).await?;
    match args.format {
        HandbookFormat::Html => out!("{}", peakend_http::handbook_html(&j, args.role)),
        HandbookFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&handbook::handbook(&j, args.role))?
        ),
    }
    Ok(())
}

pub async fn run_exam(db: &str, cmd: ExamCmd) -> anyhow::Result<()> {
    match cmd {
        ExamCmd::Questions { journey, format } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            let bank = handbook::questions(&j);
            match format {
                QuestionsFormat::Json => outln!("{}", serde_json::to_string_pretty(&bank)?),
                QuestionsFormat::Table => table::print(
                    &["KEY", "MOMENT", "OWNER", "ANSWER", "QUESTION"],
                    &bank
                        .iter()
                        .map(|q| {
                            let unit = unit_name(q.unit).0;
                            vec![
                                q.key.clone(),
                                q.moment.to_string(),
                                handbook::owner_role_key(q.owner).to_owned(),
                                match unit {
                                    "%" => format!("{}%", q.answer),
                                    _ => format!("{} {unit}", q.answer),
                                },
                                q.question.zh.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
    }
    Ok(())
}
