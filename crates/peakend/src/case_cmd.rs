//! `peakend case`: service cases from the command line (list, show, import a hotline's
//! export, sweep as of a time, KPIs), and `peakend webhook`: the receivers of case
//! events. The CLI is an operator's tool: it prints contacts whole, as an admin's
//! export does.

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Subcommand;
use peakend_core::case::{CaseId, CaseSource, CaseState, NewCase};
use peakend_core::{HallId, OrgLevel, OrgNodeId};
use peakend_io::case_io::{self, OpenedAt};
use peakend_io::{CellError, FileErrors};
use peakend_store::{CaseFilter, CaseStore, RulesBook, Store, WEBHOOK_EVENTS, case_kpis};

use crate::{Format, table};

#[derive(Subcommand)]
pub enum CaseCmd {
    /// List cases, newest first
    List {
        /// Cases of the halls at or below this node (default: all)
        #[arg(long)]
        org: Option<OrgNodeId>,
        /// open, acknowledged, investigating, resolved, followed_up, closed (comma-separated)
        #[arg(long)]
        state: Option<String>,
        /// Only cases whose running deadline has passed
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One case with its timeline
    Show {
        id: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Import a hotline's or complaint system's export (CSV or XLSX, columns
    /// hall,opened_at,moment,summary[,contact,severity]); all or nothing
    Import {
        file: PathBuf,
        /// Force the file's text encoding (default: detect UTF-8 or GB18030)
        #[arg(long)]
        encoding: Option<String>,
    },
    /// Escalate the cases whose deadline passed, as of TIME (RFC 3339; default now)
    Sweep {
        #[arg(long, value_parser = peakend_core::time::parse_instant)]
        at: Option<chrono::DateTime<chrono::FixedOffset>>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Case KPIs of a node over [from, to]: sources, moments, SLAs, recovery, hidden dissatisfaction
    Kpi {
        /// A hall or any node above it (default: the first root)
        #[arg(long)]
        org: Option<OrgNodeId>,
        #[arg(long, value_parser = peakend_core::survey::parse_date)]
        from: NaiveDate,
        #[arg(long, value_parser = peakend_core::survey::parse_date)]
        to: NaiveDate,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum WebhookCmd {
    /// Add a receiver of case events, signed with HMAC-SHA256 of the body under SECRET
    Add {
        #[arg(long)]
        url: String,
        #[arg(long)]
        secret: String,
        /// Comma-separated: case.opened, case.acknowledged, case.escalated, case.resolved, case.reopened, case.closed
        #[arg(long)]
        events: String,
    },
    /// List the receivers (never their secrets)
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Remove a receiver and its undelivered events
    Remove { id: i64 },
}

fn local(tree: &peakend_core::OrgTree, hall: &HallId, ms: Option<i64>) -> String {
    ms.map(|ms| tree.zone_of_hall(hall).minute_text(ms))
        .unwrap_or_default()
}

pub async fn run(db: &str, cmd: CaseCmd) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    match cmd {
        CaseCmd::List {
            org,
            state,
            overdue,
            limit,
            format,
        } => {
            let tree = store.org_tree().await?;
            let mut f = CaseFilter {
                limit: Some(limit.clamp(1, 100_000)),
                ..CaseFilter::default()
            };
            if let Some(o) = &org {
                if tree.get(o).is_none() {
                    anyhow::bail!("--org: `{o}` is not in the organisation");
                }
                f.halls = Some(tree.subtree(o).iter().filter_map(|n| n.hall_id()).collect());
            }
            if let Some(s) = state {
                f.states = s
                    .split(',')
                    .map(|x| CaseState::parse(x.trim()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
            }
            if overdue {
                f.overdue_at = Some(chrono::Utc::now().timestamp_millis());
            }
            let cases = store.cases(&f).await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&cases)?),
                _ => {
                    let rows: Vec<Vec<String>> = cases
                        .iter()
                        .map(|c| {
                            vec![
                                c.id.to_string(),
                                local(&tree, &c.hall, Some(c.opened_at)),
                                c.hall.to_string(),
                                c.source.as_str().into(),
                                c.moment.to_string(),
                                c.severity.as_str().into(),
                                c.state.as_str().into(),
                                c.owner.clone().unwrap_or_default(),
                                c.level.to_string(),
                                local(&tree, &c.hall, c.due_at),
                            ]
                        })
                        .collect();
                    table::print(
                        &[
                            "id", "opened", "hall", "source", "moment", "severity", "state",
                            "owner", "level", "due",
                        ],
                        &rows,
                    );
                }
            }
        }
        CaseCmd::Show { id, format } => {
            let case_id =
                CaseId::parse(&id).with_context(|| format!("`{id}` is not a case number"))?;
            let case = store
                .case(case_id)
                .await?
                .with_context(|| format!("case {id} not found"))?;
            let timeline = store.case_timeline(case_id).await?;
            let tree = store.org_tree().await?;
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "case": case, "timeline": timeline
                    }))?
                ),
                _ => {
                    outln!(
                        "case {} · {} · {} · {} · {}",
                        case.id,
                        case.hall,
                        case.source.as_str(),
                        case.moment,
                        case.state.as_str()
                    );
                    outln!("summary: {}", case.summary);
                    outln!(
                        "owner: {} · level: {} · version {}",
                        case.owner.as_deref().unwrap_or("-"),
                        case.level,
                        case.version
                    );
                    let rows: Vec<Vec<String>> = timeline
                        .iter()
                        .map(|e| {
                            vec![
                                local(&tree, &case.hall, Some(e.at)),
                                e.actor.clone(),
                                e.kind.clone(),
                                e.to.clone().unwrap_or_default(),
                                e.note.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    table::print(&["at", "actor", "kind", "to", "note"], &rows);
                }
            }
        }
        CaseCmd::Import { file, encoding } => {
            let name = file.display().to_string();
            let source = crate::read_table(&file, encoding.as_deref())?;
            let rows = case_io::parse(&source).map_err(|errors| FileErrors {
                file: name.clone(),
                errors,
            })?;
            let book = RulesBook::load(&store).await?;
            let tree = book.tree().clone();
            // Every hall, moment and time checked against the organisation and each
            // hall's journey before anything is stored.
            let mut errors = Vec::new();
            let mut cases = Vec::with_capacity(rows.len());
            for r in &rows {
                let bad = |column: &str, message: String| CellError {
                    row: r.row,
                    column: Some(column.into()),
                    message,
                };
                let node = OrgNodeId::parse(r.hall.as_str()).ok();
                if node
                    .as_ref()
                    .and_then(|n| tree.get(n))
                    .is_none_or(|n| n.level != OrgLevel::Hall)
                {
                    errors.push(bad(
                        "hall",
                        format!("`{}` is not a hall of the organisation", r.hall),
                    ));
                    continue;
                }
                let rules = book.hall(&r.hall);
                if !rules.cases.knows(r.moment.as_str()) {
                    errors.push(bad(
                        "moment",
                        format!("`{}` is not a moment of the hall's journey", r.moment),
                    ));
                    continue;
                }
                let at = match r.opened_at {
                    OpenedAt::Instant(t) => Some(t),
                    OpenedAt::Local(t) => {
                        let offset = rules.zone.offset_on(t.date());
                        t.and_local_timezone(offset).single()
                    }
                };
                let Some(at) = at else {
                    errors.push(bad("opened_at", "not a time in the hall's zone".into()));
                    continue;
                };
                let (acknowledge_due, resolve_due) =
                    rules.cases.deadlines(at, rules.zone, &rules.holidays);
                // The same row imported again opens nothing new.
                let cause = format!(
                    "hotline:{}",
                    peakend_store::contact_key(&format!(
                        "{}|{}|{}|{}",
                        r.hall,
                        at.timestamp_millis(),
                        r.moment,
                        r.summary
                    ))
                );
                cases.push(NewCase {
                    hall: r.hall.clone(),
                    source: CaseSource::Hotline,
                    cause,
                    ticket: None,
                    response: None,
                    moment: r.moment.clone(),
                    severity: r.severity,
                    summary: r.summary.clone(),
                    contact: r.contact.clone(),
                    staff: None,
                    owner: None,
                    opened_at: at.timestamp_millis(),
                    acknowledge_due,
                    resolve_due,
                });
            }
            if !errors.is_empty() {
                anyhow::bail!(FileErrors { file: name, errors });
            }
            let ids = store.open_cases(&cases, "import").await?;
            let new = ids.iter().filter(|i| i.is_some()).count();
            outln!(
                "{name}: {new} cases opened, {} already open",
                ids.len() - new
            );
        }
        CaseCmd::Sweep { at, format } => {
            let at = at.map_or_else(
                || chrono::Utc::now().timestamp_millis(),
                |t| t.timestamp_millis(),
            );
            let escalated = store.sweep_cases(at).await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&escalated)?),
                _ => {
                    let rows: Vec<Vec<String>> = escalated
                        .iter()
                        .map(|e| {
                            vec![
                                e.case.to_string(),
                                e.hall.to_string(),
                                format!("{:?}", e.stage).to_lowercase(),
                                e.from.to_string(),
                                e.to.as_ref().map_or("(top)".into(), ToString::to_string),
                            ]
                        })
                        .collect();
                    table::print(&["case", "hall", "stage", "from", "to"], &rows);
                    eprintln!("{} cases escalated", escalated.len());
                }
            }
        }
        CaseCmd::Kpi {
            org,
            from,
            to,
            format,
        } => {
            let tree = store.org_tree().await?;
            let org = match org {
                Some(o) => o,
                None => tree
                    .roots()
                    .next()
                    .map(|r| r.id.clone())
                    .context("the organisation is empty: import it first")?,
            };
            if tree.get(&org).is_none() {
                anyhow::bail!("--org: `{org}` is not in the organisation");
            }
            if from > to {
                anyhow::bail!("--from {from} is after --to {to}");
            }
            let k = case_kpis(
                &store,
                &org,
                from,
                to,
                chrono::Utc::now().timestamp_millis(),
            )
            .await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&k)?),
                _ => {
                    let pct =
                        |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0));
                    let num = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.1}"));
                    let mut rows = vec![
                        vec!["cases opened".into(), k.opened.to_string()],
                        vec!["visits".into(), k.visits.to_string()],
                        vec!["per 1,000 visits".into(), num(k.per_1000_visits)],
                    ];
                    for (s, n) in &k.by_source {
                        rows.push(vec![format!("source {s}"), n.to_string()]);
                    }
                    for (m, n) in &k.by_moment {
                        rows.push(vec![format!("moment {m}"), n.to_string()]);
                    }
                    for (stage, met) in &k.sla_met {
                        rows.push(vec![format!("SLA met: {stage}"), pct(*met)]);
                    }
                    rows.extend([
                        vec![
                            "median minutes to acknowledge".into(),
                            num(k.median_minutes_to_acknowledge),
                        ],
                        vec![
                            "median minutes to resolve".into(),
                            num(k.median_minutes_to_resolve),
                        ],
                        vec![
                            "first-contact resolution".into(),
                            pct(k.first_contact_resolution),
                        ],
                        vec!["repeat cases (30 days)".into(), k.repeat_cases.to_string()],
                        vec![
                            "mean recovery satisfaction (1-5)".into(),
                            num(k.mean_recovery_satisfaction),
                        ],
                        vec!["NPS, recovered customers".into(), num(k.nps_recovered)],
                        vec![
                            "NPS, customers without a case".into(),
                            num(k.nps_without_case),
                        ],
                        vec![
                            "bad visits (silent signals)".into(),
                            k.hidden.bad_visits.to_string(),
                        ],
                        vec![
                            "detractor answers".into(),
                            k.hidden.detractor_answers.to_string(),
                        ],
                        vec!["voiced complaints".into(), k.hidden.voiced.to_string()],
                        vec![
                            "silent for each voiced".into(),
                            num(k.hidden.silent_per_voiced),
                        ],
                    ]);
                    table::print(&["figure", "value"], &rows);
                }
            }
        }
    }
    Ok(())
}

pub async fn run_webhook(db: &str, cmd: WebhookCmd) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    match cmd {
        WebhookCmd::Add {
            url,
            secret,
            events,
        } => {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
                anyhow::bail!("--url: an http:// or https:// address");
            }
            if secret.len() < 16 {
                anyhow::bail!("--secret: at least 16 characters");
            }
            let events: Vec<String> = events
                .split(',')
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect();
            if events.is_empty() {
                anyhow::bail!(
                    "--events: name at least one of {}",
                    WEBHOOK_EVENTS.join(", ")
                );
            }
            if let Some(bad) = events
                .iter()
                .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
            {
                anyhow::bail!(
                    "--events: `{bad}` is not one of {}",
                    WEBHOOK_EVENTS.join(", ")
                );
            }
            let id = store.add_webhook(&url, &secret, &events).await?;
            outln!("{id}");
        }
        WebhookCmd::List { format } => {
            let hooks = store.webhooks().await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&hooks)?),
                _ => {
                    let rows: Vec<Vec<String>> = hooks
                        .iter()
                        .map(|h| vec![h.id.to_string(), h.url.clone(), h.events.join(",")])
                        .collect();
                    table::print(&["id", "url", "events"], &rows);
                }
            }
        }
        WebhookCmd::Remove { id } => {
            if !store.remove_webhook(id).await? {
                anyhow::bail!("webhook {id} not found");
            }
        }
    }
    Ok(())
}
