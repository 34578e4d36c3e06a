//! `peakend holidays`: public holidays per province, which the kiosk repair rule skips
//! like weekends.

use std::path::PathBuf;

use clap::Subcommand;
use peakend_core::OrgLevel;
use peakend_io::{CellError, FileErrors, holiday_csv};
use peakend_store::Store;

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Subcommand)]
pub enum HolidaysCmd {
    /// Store holidays from a CSV with columns province,date,name (all or nothing)
    Import {
        file: PathBuf,
        /// Force the file's text encoding (default: detect UTF-8 or GB18030)
        #[arg(long)]
        encoding: Option<String>,
    },
    /// Print the stored holidays
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

pub async fn run(db: &str, cmd: HolidaysCmd) -> anyhow::Result<()> {
    match cmd {
        HolidaysCmd::Import { file, encoding } => {
            let name = file.display().to_string();
            let source = crate::read_table(&file, encoding.as_deref())?;
            let rows = holiday_csv::parse(&source).map_err(|errors| FileErrors {
                file: name.clone(),
                errors,
            })?;
            let store = crate::init(db).await?;
            let tree = store.org_tree().await?;
            // Every province must be one: checked before anything is stored.
            let errors: Vec<CellError> = rows
                .iter()
                .filter_map(|r| {
                    let p = &r.holiday.province;
                    let message = match tree.get(p) {
                        None => format!("`{p}` is not in the organisation"),
                        Some(n) if n.level != OrgLevel::Province => {
                            format!("`{p}` is a {}, not a province", n.level)
                        }
                        Some(_) => return None,
                    };
                    Some(CellError {
                        row: r.row,
                        column: Some("province".into()),
                        message,
                    })
                })
                .collect();
            if !errors.is_empty() {
                anyhow::bail!(FileErrors { file: name, errors });
            }
            let holidays: Vec<_> = rows.into_iter().map(|r| r.holiday).collect();
            let n = store.import_holidays(&holidays).await?;
            outln!("{name}: {n} holidays imported");
        }
        HolidaysCmd::List { format } => {
            let store = crate::init(db).await?;
            let holidays = store.holidays().await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&holidays)?),
                Format::Csv => {
                    outln!("province,date,name");
                    for h in &holidays {
                        outln!(
                            "{},{},\"{}\"",
                            h.province,
                            h.date,
                            h.name.replace('"', "\"\"")
                        );
                    }
                }
                Format::Table => table::print(
                    &["PROVINCE", "DATE", "NAME"],
                    &holidays
                        .iter()
                        .map(|h| vec![h.province.to_string(), h.date.to_string(), h.name.clone()])
                        .collect::<Vec<_>>(),
                ),
                other => anyhow::bail!(
                    "holidays list supports --format table, json or csv, not {}",
                    format_name(other)
                ),
            }
        }
    }
    Ok(())
}
