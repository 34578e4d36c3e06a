//! `peakend token` and `peakend events`: device tokens, replaying event files with the
//! same semantics as the API, and the quarantine.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Subcommand;
use peakend_core::HallId;
use peakend_core::ops::event::Event;
use peakend_store::Store;

use crate::{Format, table};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a device token for a hall's devices; prints only the token
    Create {
        #[arg(long)]
        hall: HallId,
    },
}

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Apply an NDJSON file of events (a replay): duplicates counted, bad events
    /// quarantined with their reason, the rest applied
    Ingest { file: std::path::PathBuf },
    /// Events that could not be applied, newest first
    Quarantine {
        #[arg(long)]
        hall: Option<HallId>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

pub async fn token(db: &str, cmd: TokenCmd) -> anyhow::Result<()> {
    let TokenCmd::Create { hall } = cmd;
    let store = crate::init(db).await?;
    outln!("{}", store.create_device_token(&hall).await?);
    Ok(())
}

/// Events applied per transaction: large enough to amortise the commit, small enough
/// that a crash loses at most one uncommitted batch, which a replay re-applies.
const BATCH: usize = 5_000;

pub async fn run(db: &str, cmd: EventsCmd) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    match cmd {
        EventsCmd::Ingest { file } => {
            let name = file.display().to_string();
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {name}"))?;
            // Lines are grouped by hall (a file may hold a province's day); a line whose
            // hall cannot be read is quarantined under the hall it names, if any.
            let mut by_hall: BTreeMap<HallId, (Vec<_>, Vec<_>)> = BTreeMap::new();
            let mut unplaced = Vec::new();
            for (n, parsed, line) in parse_lines(&text) {
                match parsed {
                    Ok(e) => by_hall
                        .entry(e.hall.clone())
                        .or_default()
                        .0
                        .push((n, e, line)),
                    Err(reason) => match hall_of(&line) {
                        Some(h) => by_hall.entry(h).or_default().1.push((n, reason, line)),
                        None => unplaced.push(format!("line {n}: {reason}")),
                    },
                }
            }
            let (mut accepted, mut duplicates, mut rejected) = (0, 0, Vec::new());
            // Drawn on stderr only when it is a terminal; scripts see just the summary.
            let lines: usize = by_hall.values().map(|(e, r)| e.len() + r.len()).sum();
            let progress = indicatif::ProgressBar::new(lines as u64).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} events  {per_sec}  eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            for (hall, (events, refused)) in by_hall {
                let mut events = events.into_iter().peekable();
                let mut refused = Some(refused);
                while events.peek().is_some() || refused.is_some() {
                    let batch: Vec<_> = events.by_ref().take(BATCH).collect();
                    let refused = refused.take().unwrap_or_default();
                    progress.inc((batch.len() + refused.len()) as u64);
                    let out = store
                        .ingest_events(&hall, batch, refused)
                        .await
                        .with_context(|| format!("{name}: hall {hall}"))?;
                    accepted += out.accepted;
                    duplicates += out.duplicates;
                    rejected.extend(
                        out.rejected
                            .into_iter()
                            .map(|r| format!("line {}: {}", r.line, r.reason)),
                    );
                }
            }
            progress.finish_and_clear();
            rejected.extend(unplaced);
            outln!(
                "{name}: {accepted} accepted, {duplicates} duplicates, {} rejected",
                rejected.len()
            );
            for r in rejected.iter().take(100) {
                outln!("  {r}");
            }
            if rejected.len() > 100 {
                outln!(
                    "  and {} more (peakend events quarantine)",
                    rejected.len() - 100
                );
            }
        }
        EventsCmd::Quarantine { hall, format } => {
            let rows = store.quarantined(hall.as_ref()).await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
                _ => table::print(
                    &["HALL", "RECEIVED", "REASON", "EVENT"],
                    &rows
                        .iter()
                        .map(|q| {
                            vec![
                                q.hall.clone(),
                                chrono::DateTime::from_timestamp_millis(q.received_at)
                                    .map(|t| t.to_rfc3339())
                                    .unwrap_or_default(),
                                q.reason.clone(),
                                q.payload.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
    }
    Ok(())
}

/// The hall a line names, even when the rest of it does not parse.
/// Each non-blank line's number, its parse and its text, in file order, parsed on every
/// core: a province's day is millions of lines.
fn parse_lines(text: &str) -> Vec<(usize, Result<Event, String>, String)> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let size = lines.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = lines
            .chunks(size)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|&(n, l)| (n, Event::from_json(l), l.to_owned()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("a parser thread does not panic"))
            .collect()
    })
}

fn hall_of(line: &str) -> Option<HallId> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    HallId::parse(v.get("hall")?.as_str()?).ok()
}
