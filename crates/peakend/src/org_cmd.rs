use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use peakend_core::OrgLevel;
use peakend_io::{FileErrors, org_csv};
use peakend_store::{Store, StoreError};

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Upsert nodes from a CSV with columns id,parent,level,name[,counters,kiosks] (all or nothing)
    Import {
        file: PathBuf,
        /// Force the file's text encoding (default: detect UTF-8 or GB18030)
        #[arg(long)]
        encoding: Option<String>,
    },
    /// Print the organisation tree
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

pub async fn run(db: &str, cmd: OrgCmd) -> anyhow::Result<()> {
    match cmd {
        OrgCmd::Import { file, encoding } => {
            let name = file.display().to_string();
            let source = crate::read_table(&file, encoding.as_deref())?;
            let rows = org_csv::parse(&source).map_err(|errors| FileErrors {
                file: name.clone(),
                errors,
            })?;
            let store = crate::init(db).await?;
            let nodes = rows.iter().map(|r| r.node.clone()).collect();
            match store.import_org(nodes).await {
                Ok(s) => outln!(
                    "{name}: {} nodes imported ({} created, {} updated)",
                    s.total,
                    s.created,
                    s.updated
                ),
                Err(StoreError::Org(errors)) => {
                    bail!(FileErrors {
                        file: name,
                        errors: org_csv::locate(&errors, &rows)
                    })
                }
                Err(e) => return Err(e).context(format!("{name} not imported")),
            }
        }
        OrgCmd::List { format } => {
            let store = crate::init(db).await?;
            let tree = store.org_tree().await?;
            let assignments = store.journey_assignments().await?;
            match format {
                Format::Json => {
                    let mut nested = tree.to_nested();
                    assignments.annotate(&tree, &mut nested);
                    outln!("{}", serde_json::to_string_pretty(&nested)?)
                }
                Format::Csv => {
                    outln!("id,parent,level,name,counters,kiosks,tz,nps_target,index_target");
                    for root in tree.roots() {
                        for n in tree.subtree(&root.id) {
                            let quoted = format!("\"{}\"", n.name.replace('"', "\"\""));
                            let parent = n
                                .parent
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            let whole =
                                |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_default();
                            outln!(
                                "{},{parent},{},{quoted},{},{},{},{},{}",
                                n.id,
                                n.level,
                                n.counters,
                                n.kiosks,
                                n.tz.map(|z| z.name()).unwrap_or_default(),
                                whole(n.targets.nps),
                                whole(n.targets.index)
                            );
                        }
                    }
                }
                Format::Table => {
                    let mut rows = Vec::new();
                    for root in tree.roots() {
                        for n in tree.subtree(&root.id) {
                            let depth = tree.ancestry(&n.id).len() - 1;
                            let hall = n.level == OrgLevel::Hall;
                            rows.push(vec![
                                format!("{}{}", "  ".repeat(depth), n.id),
                                n.level.to_string(),
                                n.name.clone(),
                                if hall {
                                    n.counters.to_string()
                                } else {
                                    String::new()
                                },
                                if hall {
                                    n.kiosks.to_string()
                                } else {
                                    String::new()
                                },
                                assignments
                                    .own(&n.id)
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                                assignments.effective(&tree, &n.id).journey.to_string(),
                                tree.zone_of(&n.id).to_string(),
                            ]);
                        }
                    }
                    table::print(
                        &[
                            "ID", "LEVEL", "NAME", "COUNTERS", "KIOSKS", "JOURNEY", "LIVES BY",
                            "TZ",
                        ],
                        &rows,
                    );
                }
                other => bail!(
                    "org list supports --format table, json or csv, not {}",
                    format_name(other)
                ),
            }
        }
    }
    Ok(())
}
