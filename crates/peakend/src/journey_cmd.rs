use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use peakend_core::{Journey, JourneyKey, OrgNodeId, builtin};
use peakend_store::{Origin, Store};

use crate::{Format, table};

#[derive(Subcommand)]
pub enum JourneyCmd {
    /// List the stored journeys
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Print a journey in the file format that `journey import` reads
    Export {
        key: JourneyKey,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Store a journey from a JSON or YAML file (all or nothing)
    Import {
        file: PathBuf,
        /// Force the file's text encoding (default: detect UTF-8 or GB18030)
        #[arg(long)]
        encoding: Option<String>,
    },
    /// Check a journey file, and the governance rule against its parent, without storing it
    Validate {
        file: PathBuf,
        #[arg(long)]
        encoding: Option<String>,
    },
    /// Make an org node and everything below it live by a journey (the journey above
    /// the node must be kept: the same journey or one that extends it)
    Assign {
        key: JourneyKey,
        #[arg(long)]
        org: OrgNodeId,
    },
    /// The recorded changes of journey assignments (who, when, old, new)
    History {
        #[arg(long)]
        org: Option<OrgNodeId>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// Reads and parses a journey file; errors start with the file name.
pub fn read_journey(file: &Path, encoding: Option<&str>) -> anyhow::Result<Journey> {
    let text = crate::read_text(file, encoding)?;
    let parsed = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => Journey::from_json(&text),
        Some("yaml" | "yml") => Journey::from_yaml(&text),
        _ => Journey::from_str_any(&text),
    };
    parsed.with_context(|| file.display().to_string())
}

pub async fn run(db: &str, cmd: JourneyCmd) -> anyhow::Result<()> {
    match cmd {
        JourneyCmd::Assign { key, org } => {
            let store = crate::init(db).await?;
            let by = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let now = chrono::Utc::now().timestamp_millis();
            let old = store.assign_journey(&org, &key, &by, now).await?;
            match old {
                Some(old) if old == key => outln!("{org} already lives by journey {key}"),
                Some(old) => outln!("{org}: journey {old} -> {key}"),
                None => outln!("{org}: journey {key} assigned"),
            }
        }
        JourneyCmd::History { org, format } => {
            let store = crate::init(db).await?;
            let changes = store.journey_changes(org.as_ref()).await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&changes)?),
                _ => table::print(
                    &["NODE", "OLD", "NEW", "BY", "AT"],
                    &changes
                        .iter()
                        .map(|c| {
                            vec![
                                c.node.to_string(),
                                c.old.as_ref().map(ToString::to_string).unwrap_or_default(),
                                c.new.to_string(),
                                c.by.clone(),
                                chrono::DateTime::from_timestamp_millis(c.at)
                                    .map(|t| t.to_rfc3339())
                                    .unwrap_or_default(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        JourneyCmd::List { format } => {
            let store = crate::init(db).await?;
            let journeys = store.list_journeys().await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&journeys)?),
                Format::Table => table::print(
                    &[
                        "KEY", "名称", "NAME", "CHANNEL", "EXTENDS", "MOMENTS", "BUILTIN",
                    ],
                    &journeys
                        .iter()
                        .map(|j| {
                            vec![
                                j.key.to_string(),
                                j.name.zh.clone(),
                                j.name.en.clone(),
                                serde_json::to_value(j.channel)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_owned))
                                    .unwrap_or_default(),
                                j.extends
                                    .as_ref()
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                                j.moments.to_string(),
                                if j.builtin {
                                    "yes".into()
                                } else {
                                    String::new()
                                },
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
                other => bail!(
                    "journey list supports --format table or json, not {}",
                    format_name(other)
                ),
            }
        }
        JourneyCmd::Export { key, format } => {
            let store = crate::init(db).await?;
            let journey = crate::journey(&store, &key).await?;
            match format {
                Format::Json => outln!("{}", journey.to_json_pretty()),
                Format::Yaml => out!("{}", journey.to_yaml()),
                other => bail!(
                    "journey export supports --format json or yaml, not {}",
                    format_name(other)
                ),
            }
        }
        JourneyCmd::Import { file, encoding } => {
            let journey = read_journey(&file, encoding.as_deref())?;
            let store = crate::init(db).await?;
            let outcome = store
                .put_journey(&journey, Origin::User)
                .await
                .with_context(|| format!("{} not imported", file.display()))?;
            outln!(
                "journey {}: {} ({} moments)",
                journey.key(),
                serde_json::to_value(outcome)?.as_str().unwrap_or(""),
                journey.moments().len()
            );
        }
        JourneyCmd::Validate { file, encoding } => {
            let mut journey = read_journey(&file, encoding.as_deref())?;
            if let Some(parent_key) = journey.extends().cloned() {
                let parent_key = &parent_key;
                let parent = match builtin::journeys()
                    .map_err(anyhow::Error::msg)?
                    .into_iter()
                    .find(|j| j.key() == parent_key)
                {
                    Some(p) => p,
                    None => crate::init(db)
                        .await?
                        .journey(parent_key)
                        .await?
                        .with_context(|| {
                            format!(
                                "{}: extends: parent journey `{parent_key}` not found",
                                file.display()
                            )
                        })?,
                };
                journey.inherit_checks(&parent);
                journey
                    .check_extends(&parent)
                    .with_context(|| file.display().to_string())?;
                journey
                    .clone()
                    .inherit_qfd(&parent)
                    .with_context(|| file.display().to_string())?;
            }
            outln!(
                "{}: valid journey {} ({} moments{})",
                file.display(),
                journey.key(),
                journey.moments().len(),
                journey
                    .extends()
                    .map(|p| format!(", extends {p}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Table => "table",
        Format::Json => "json",
        Format::Csv => "csv",
        Format::Yaml => "yaml",
    }
}
