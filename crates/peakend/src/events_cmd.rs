//! `peakend token` and `peakend events`: device tokens, replaying event files with the
//! same semantics as the API, and the quarantine.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use anyhow::Context;
use clap::Subcommand;
use futures_util::StreamExt;
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
    /// quarantined with their reason, the rest applied. A replay invites no one to a
    /// survey unless asked with `--invite` (then the contacts it ends are decided by
    /// their org node's invitation rule, as the API's are)
    Ingest {
        file: std::path::PathBuf,
        #[arg(long)]
        invite: bool,
    },
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
/// Lines read and parsed as one piece of work.
const CHUNK: usize = 8_192;
/// A hall not named for this many lines is applied while the rest of the file is still
/// being read: files are usually written hall by hall, and applying as we go overlaps
/// the parse with the writes and keeps memory flat.
const QUIET: usize = 50_000;
/// Lines held back at most; past it every hall held is applied (a file ordered by time
/// across many halls would otherwise be held whole).
const HELD: usize = 500_000;
/// Halls being applied at once (each hall's batches in turn).
const IN_FLIGHT: usize = 4;

pub async fn run(db: &str, cmd: EventsCmd) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    match cmd {
        EventsCmd::Ingest { file, invite } => ingest(&store, &file, invite).await?,
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

/// One hall's lines read but not yet applied.
#[derive(Default)]
struct Held {
    events: Vec<(usize, Event, String)>,
    refused: Vec<(usize, String, String)>,
    last_line: usize,
}

/// Tallies of the whole file.
#[derive(Default)]
struct Tally {
    accepted: usize,
    /// Quarantined events (of this file or before) applied once the event they follow
    /// came.
    released: usize,
    duplicates: usize,
    rejected: Vec<(usize, String)>,
    /// Survey invitations decided (`--invite`).
    invited: peakend_store::Decided,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.invited.add(&other.invited);
        self.accepted += other.accepted;
        self.released += other.released;
        self.duplicates += other.duplicates;
        self.rejected.extend(other.rejected);
    }
}

/// Applies an event file as it is read: a reader thread cuts it into chunks, a parser
/// per core turns them into events, and this task groups them by hall and applies each
/// hall's events in batches while the next chunks are being parsed. A hall's events
/// are applied together unless more than [`QUIET`] lines part them (or it has more
/// than [`BATCH`]): an event judged in an earlier batch is judged without the ones
/// the file holds for later, as a device's separate posts would be.
async fn ingest(store: &impl Store, file: &std::path::Path, invite: bool) -> anyhow::Result<()> {
    let name = &file.display().to_string();
    let f = std::fs::File::open(file).with_context(|| format!("cannot read {name}"))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let parsers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut chunks = start_parsers(f, parsers).context("cannot start the parser threads")?;
    // Drawn on stderr only when it is a terminal; scripts see just the summary.
    let progress = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Reading and writing are joined: while a batch waits on the database, the next
    // lines are grouped.
    let (to_writer, batches) = tokio::sync::mpsc::channel::<(HallId, Held)>(2);
    let read = async {
        // A closed writer failed; its error ends the ingest.
        let send = |hall: HallId, h: Held| {
            let to_writer = &to_writer;
            async move { to_writer.send((hall, h)).await.is_ok() }
        };
        let mut held: HashMap<HallId, Held> = HashMap::new();
        let (mut held_lines, mut unplaced) = (0usize, Vec::new());
        let mut read_error = None;
        // Chunk k comes from parser k mod n, so taking them in turn keeps the file's order.
        'chunks: for k in 0.. {
            let Some(chunk) = chunks[k % parsers].recv().await else {
                break;
            };
            let (lines, bytes) = match chunk {
                Ok(c) => c,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            };
            let last_line = lines.last().map_or(0, |l| l.0);
            for (n, parsed, line) in lines {
                // A line whose event cannot be read is quarantined under the hall it
                // names, if any.
                let hall = match &parsed {
                    Ok(e) => e.hall.clone(),
                    Err(reason) => match hall_of(&line) {
                        Some(h) => h,
                        None => {
                            unplaced.push((n, reason.clone()));
                            continue;
                        }
                    },
                };
                let h = held.entry(hall.clone()).or_default();
                h.last_line = n;
                match parsed {
                    Ok(e) => h.events.push((n, e, line)),
                    Err(reason) => h.refused.push((n, reason, line)),
                }
                held_lines += 1;
                if h.events.len() >= BATCH {
                    let h = std::mem::take(h);
                    held_lines -= h.events.len() + h.refused.len();
                    if !send(hall, h).await {
                        break 'chunks;
                    }
                }
            }
            progress.inc(bytes);
            let mut due: Vec<HallId> = held
                .iter()
                .filter(|(_, h)| held_lines > HELD || h.last_line + QUIET < last_line)
                .map(|(hall, _)| hall.clone())
                .collect();
            due.sort();
            for hall in due {
                let h = held.remove(&hall).expect("a held hall");
                held_lines -= h.events.len() + h.refused.len();
                if !send(hall, h).await {
                    break 'chunks;
                }
            }
        }
        // What was read before a read error is applied all the same.
        let mut rest: Vec<_> = held.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for (hall, h) in rest {
            if !send(hall, h).await {
                break;
            }
        }
        drop(to_writer);
        anyhow::Ok((unplaced, read_error))
    };
    let write = async {
        let mut batches = batches;
        let mut tally = Tally::default();
        // A few halls in flight, so the store can commit them together; a hall's own
        // batches one after another, in the file's order.
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        let mut flying: HashSet<HallId> = HashSet::new();
        while let Some((hall, h)) = batches.recv().await {
            while in_flight.len() >= IN_FLIGHT || flying.contains(&hall) {
                let Some((done, part)) = in_flight.next().await else {
                    break;
                };
                flying.remove(&done);
                tally.add(part?);
            }
            flying.insert(hall.clone());
            in_flight.push(async move {
                let part = apply(store, name, &hall, h, invite).await;
                (hall, part)
            });
        }
        while let Some((_, part)) = in_flight.next().await {
            tally.add(part?);
        }
        anyhow::Ok(tally)
    };
    let ((unplaced, read_error), mut tally) = tokio::try_join!(read, write)?;
    progress.finish_and_clear();
    if invite {
        // The contacts the replay queued, decided together (what a server's decider does).
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let d = store
                .decide_pending(now, DRAIN)
                .await
                .with_context(|| format!("{name}: survey invitations (still queued)"))?;
            tally.invited.add(&d.decided);
            if d.taken < DRAIN {
                break;
            }
        }
    }
    if let Some(e) = read_error {
        anyhow::bail!(
            "{name}: {e}; the lines before it were applied (a rerun counts them as duplicates)"
        );
    }
    let Tally {
        accepted,
        released,
        duplicates,
        mut rejected,
        invited,
    } = tally;
    rejected.extend(unplaced);
    rejected.sort_by_key(|r| r.0);
    outln!(
        "{name}: {accepted} accepted, {duplicates} duplicates, {} rejected",
        rejected.len()
    );
    if released > 0 {
        outln!(
            "  {released} quarantined events applied once the event they follow came \
             (peakend events quarantine lists what is still held)"
        );
    }
    if invite {
        outln!(
            "  survey invitations: {} sent, {} held for quiet hours, {} suppressed \
             (peakend survey invitations)",
            invited.sent,
            invited.held,
            invited.suppressed
        );
    }
    for (line, reason) in rejected.iter().take(100) {
        outln!("  line {line}: {reason}");
    }
    if rejected.len() > 100 {
        outln!(
            "  and {} more (peakend events quarantine)",
            rejected.len() - 100
        );
    }
    Ok(())
}

/// Queued contacts decided in one transaction.
const DRAIN: usize = 20_000;

/// Applies one hall's held lines, in batches of at most [`BATCH`].
async fn apply(
    store: &impl Store,
    name: &str,
    hall: &HallId,
    held: Held,
    invite: bool,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let mut events = held.events.into_iter().peekable();
    let mut refused = Some(held.refused);
    while events.peek().is_some() || refused.as_ref().is_some_and(|r| !r.is_empty()) {
        let batch: Vec<_> = events.by_ref().take(BATCH).collect();
        let refused = refused.take().unwrap_or_default();
        // Asked to invite: the contacts it ends are queued in its transaction.
        let out = if invite {
            store.ingest_events_inviting(hall, batch, refused).await
        } else {
            store.ingest_events(hall, batch, refused).await
        }
        .with_context(|| format!("{name}: hall {hall}"))?;
        tally.accepted += out.accepted;
        tally.released += out.released;
        tally.duplicates += out.duplicates;
        tally
            .rejected
            .extend(out.rejected.into_iter().map(|r| (r.line, r.reason)));
    }
    Ok(tally)
}

/// A chunk of parsed lines (number, parse, text) and the bytes it took, or why the
/// file could not be read on.
type Parsed = Result<(Vec<(usize, Result<Event, String>, String)>, u64), String>;

/// Starts the reader and `n` parsers; parser i's channel yields chunks i, i + n, …
fn start_parsers(
    file: std::fs::File,
    n: usize,
) -> std::io::Result<Vec<tokio::sync::mpsc::Receiver<Parsed>>> {
    type Raw = Result<(Vec<(usize, Vec<u8>)>, u64), String>;
    let mut to_parsers = Vec::with_capacity(n);
    let mut outputs = Vec::with_capacity(n);
    for _ in 0..n {
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Raw>(1);
        let (tx, rx) = tokio::sync::mpsc::channel::<Parsed>(2);
        let parser = std::thread::Builder::new().name("peakend-parse".into());
        let salt = std::env::var(peakend_core::customer::SALT_ENV)
            .ok()
            .filter(|s| !s.is_empty());
        parser.spawn(move || {
            for raw in raw_rx {
                let parsed = raw.map(|(lines, bytes)| {
                    let lines = lines
                        .into_iter()
                        .map(|(n, bytes)| match String::from_utf8(bytes) {
                            // A number sent as `phone` becomes its salted key first.
                            Ok(line) => {
                                match peakend_core::customer::pseudonymise(&line, salt.as_deref()) {
                                    Ok(std::borrow::Cow::Borrowed(_)) => {
                                        (n, Event::from_json(&line), line)
                                    }
                                    Ok(std::borrow::Cow::Owned(keyed)) => {
                                        (n, Event::from_json(&keyed), keyed)
                                    }
                                    Err((reason, masked)) => (n, Err(reason), masked),
                                }
                            }
                            Err(e) => (
                                n,
                                Err("the line is not valid UTF-8".to_owned()),
                                String::from_utf8_lossy(e.as_bytes()).into_owned(),
                            ),
                        })
                        .collect();
                    (lines, bytes)
                });
                // A closed channel means the ingest stopped; so does this parser.
                if tx.blocking_send(parsed).is_err() {
                    return;
                }
            }
        })?;
        to_parsers.push(raw_tx);
        outputs.push(rx);
    }
    let reader = std::thread::Builder::new().name("peakend-read".into());
    reader.spawn(move || {
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut number = 0;
        for k in 0.. {
            let (mut lines, mut bytes) = (Vec::with_capacity(CHUNK), 0u64);
            let mut failed = None;
            while lines.len() < CHUNK {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(read) => {
                        number += 1;
                        bytes += read as u64;
                        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                            line.pop();
                        }
                        if !line.iter().all(u8::is_ascii_whitespace) {
                            lines.push((number, line));
                        }
                    }
                    Err(e) => {
                        failed = Some(format!("cannot read past line {number}: {e}"));
                        break;
                    }
                }
            }
            // Chunk numbers stay consecutive: an empty read ends the file, and an error
            // takes the number of the chunk it cut short.
            let mut next = k;
            if bytes > 0 {
                if to_parsers[k % n].send(Ok((lines, bytes))).is_err() {
                    return;
                }
                next += 1;
            }
            if let Some(e) = failed {
                let _ = to_parsers[next % n].send(Err(e));
                return;
            }
            if bytes == 0 {
                return;
            }
        }
    })?;
    Ok(outputs)
}

/// The hall a line names, even when the rest of it does not parse.
fn hall_of(line: &str) -> Option<HallId> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    HallId::parse(v.get("hall")?.as_str()?).ok()
}
