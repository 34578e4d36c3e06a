use anyhow::{Context, bail};
use clap::Subcommand;
use peakend_core::{JourneyKey, OrgNodeId};
use std::collections::HashSet;

use peakend_io::{FileErrors, survey_csv};
use peakend_store::{InvitationStore, Store};

#[derive(Subcommand)]
pub enum SurveyCmd {
    /// Print the CSV header of the survey file for a journey
    Template {
        journey: JourneyKey,
        /// With the gap model's expectation columns (`exp.<moment>`)
        #[arg(long)]
        expectations: bool,
        /// With the competitive assessment's columns (`comp.<moment>`)
        #[arg(long)]
        competitors: bool,
    },
    /// Print a questionnaire (HTML, ready to print) for a journey
    Questionnaire {
        journey: JourneyKey,
        /// zh (default) or en
        #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
        lang: String,
    },
    /// Write a realistic synthetic survey file for the halls in the database
    Synth {
        #[arg(long)]
        journey: JourneyKey,
        #[arg(long, default_value_t = 1000)]
        rows: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write to this file instead of stdout
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Ask about half the respondents the gap model's expectation items
        /// (`exp.<moment>` columns)
        #[arg(long)]
        expectations: bool,
        /// Let about a third rate a competitor's service too (`comp.<moment>`)
        #[arg(long)]
        competitors: bool,
    },
    /// Store the responses of a survey file in one transaction (all or nothing)
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        journey: JourneyKey,
        /// Skip columns that are not part of the survey format
        #[arg(long)]
        ignore_unknown: bool,
        /// Force the file's text encoding (default: detect UTF-8 or GB18030)
        #[arg(long)]
        encoding: Option<String>,
    },
    /// The stored comments of a journey with their moments and sentiment, and the
    /// top phrases per moment and hall
    Comments {
        #[arg(long)]
        journey: JourneyKey,
        /// Only the halls under this org node
        #[arg(long)]
        org: Option<peakend_core::OrgNodeId>,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::Format,
    },
    /// Set the invitation rule of an org node (its halls below take the nearest rule)
    InviteRule {
        #[arg(long)]
        org: OrgNodeId,
        /// Share of ended contacts invited, 0–1 (a replayable draw by the contact's id)
        #[arg(long)]
        share: f64,
        /// Shares of particular queues (a call's queue, a visit's service): QUEUE=S,…
        #[arg(long, value_name = "QUEUE=S,…")]
        queue_share: Option<String>,
        /// Weekly quotas per segment × purpose: SEGMENT:PURPOSE=N,…
        #[arg(long)]
        quota: Option<String>,
        /// A customer invited within this many days is not invited again
        #[arg(long, default_value_t = 30)]
        suppress_days: u32,
        /// Local quiet hours HH:MM-HH:MM (held to their end); `none` for none
        #[arg(long, default_value = "21:00-08:00")]
        quiet: String,
    },
    /// Response rates per hall, segment and purpose (suppressed apart) and the
    /// non-response check against the period's served visits
    Rates {
        /// Of the halls at or below this node (default: all)
        #[arg(long)]
        org: Option<OrgNodeId>,
        /// First day, YYYY-MM-DD (default: 29 days before --to)
        #[arg(long, value_parser = peakend_core::survey::parse_date)]
        from: Option<chrono::NaiveDate>,
        /// Last day, YYYY-MM-DD (default: today)
        #[arg(long, value_parser = peakend_core::survey::parse_date)]
        to: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::Format,
    },
    /// Satisfaction of the queue moment by minutes waited, the tolerance point, and
    /// staff and counter effects, from answers joined to their invitations
    Waits {
        #[arg(long)]
        org: Option<OrgNodeId>,
        #[arg(long, value_parser = peakend_core::survey::parse_date)]
        from: Option<chrono::NaiveDate>,
        #[arg(long, value_parser = peakend_core::survey::parse_date)]
        to: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::Format,
    },
    /// List invitation decisions: ticket or call, customer key, status and reason
    Invitations {
        /// Of the halls at or below this node (default: all)
        #[arg(long)]
        org: Option<OrgNodeId>,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::Format,
    },
}

pub async fn run(db: &str, cmd: SurveyCmd) -> anyhow::Result<()> {
    match cmd {
        SurveyCmd::Comments {
            journey,
            org,
            format,
        } => crate::comments_cmd::run(db, journey, org, format).await?,
        SurveyCmd::Rates {
            org,
            from,
            to,
            format,
        } => crate::programme_cmd::rates(db, org, from, to, format).await?,
        SurveyCmd::Waits {
            org,
            from,
            to,
            format,
        } => crate::programme_cmd::waits(db, org, from, to, format).await?,
        SurveyCmd::Template {
            journey,
            expectations,
            competitors,
        } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            let options = survey_csv::WriteOptions {
                expectations,
                competitors,
            };
            outln!("{}", survey_csv::header_with(&j, options).join(","));
        }
        SurveyCmd::Questionnaire { journey, lang } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            out!("{}", peakend_http::questionnaire_html(&j, lang == "en")?);
        }
        SurveyCmd::Synth {
            journey,
            rows,
            seed,
            output,
            expectations,
            competitors,
        } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            let halls: Vec<_> = store
                .org_nodes()
                .await?
                .iter()
                .filter_map(|n| n.hall_id())
                .collect();
            if halls.is_empty() {
                bail!(
                    "no halls in {db}: import an organisation (peakend org import) or run peakend demo first"
                );
            }
            let responses = peakend_core::synth::responses_with(
                &j,
                &halls,
                rows,
                seed,
                peakend_core::synth::SynthOptions {
                    expectations,
                    competitors,
                },
            );
            let options = survey_csv::WriteOptions {
                expectations,
                competitors,
            };
            match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    survey_csv::write_with(&j, responses, std::io::BufWriter::new(file), options)?;
                }
                None => {
                    match survey_csv::write_with(&j, responses, std::io::stdout().lock(), options) {
                        // `peakend survey synth … | head` closes the pipe early: not an error.
                        Err(e) if matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe) =>
                            {}
                        other => other?,
                    }
                }
            }
        }
        SurveyCmd::Import {
            file,
            journey,
            ignore_unknown,
            encoding,
        } => {
            let name = file.display().to_string();
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            let halls: HashSet<String> = store
                .org_nodes()
                .await?
                .into_iter()
                .filter_map(|n| n.hall_id())
                .map(String::from)
                .collect();
            let n = import_file(
                &store,
                &j,
                &file,
                encoding.as_deref(),
                ignore_unknown,
                halls,
            )
            .await?;
            outln!("{name}: {n} responses imported for journey {journey}");
        }
        SurveyCmd::InviteRule {
            org,
            share,
            queue_share,
            quota,
            suppress_days,
            quiet,
        } => {
            use peakend_core::invitation::{
                InviteRule, parse_queue_shares, parse_quiet, parse_quotas, queue_shares_text,
                quiet_text,
            };
            if !(0.0..=1.0).contains(&share) {
                bail!("--share {share}: must be between 0 and 1");
            }
            let quotas = parse_quotas(quota.as_deref().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("--quota: {e}"))?;
            let queue_shares = parse_queue_shares(queue_share.as_deref().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("--queue-share: {e}"))?;
            let quiet = match quiet.trim() {
                "none" | "" => None,
                q => Some(parse_quiet(q).map_err(|e| anyhow::anyhow!("--quiet: {e}"))?),
            };
            let store = crate::init(db).await?;
            let rule = InviteRule {
                share,
                queue_shares,
                quotas,
                suppress_days,
                quiet,
            };
            store
                .set_invite_rule(&org, &rule)
                .await
                .with_context(|| format!("--org {org}: rule not set"))?;
            let queues = if rule.queue_shares.is_empty() {
                String::new()
            } else {
                format!(" ({})", queue_shares_text(&rule.queue_shares))
            };
            outln!(
                "{org}: invite {:.0}% of ended contacts{queues}, {} quota cell(s), suppressed {suppress_days} days, quiet {}",
                share * 100.0,
                rule.quotas.len(),
                rule.quiet.map(quiet_text).unwrap_or_else(|| "none".into())
            );
        }
        SurveyCmd::Invitations { org, format } => {
            let store = crate::init(db).await?;
            let tree = store.org_tree().await?;
            let halls: Option<Vec<peakend_core::HallId>> = match &org {
                Some(o) => {
                    if tree.get(o).is_none() {
                        bail!("--org: `{o}` is not in the organisation");
                    }
                    Some(tree.subtree(o).iter().filter_map(|n| n.hall_id()).collect())
                }
                None => None,
            };
            let list = store.invitations(halls.as_deref()).await?;
            match format {
                crate::Format::Json => outln!("{}", serde_json::to_string_pretty(&list)?),
                _ => {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|i| {
                            let zone = peakend_core::HallId::parse(i.hall.as_str())
                                .map(|h| tree.zone_of_hall(&h))
                                .unwrap_or_default();
                            vec![
                                zone.minute_text(i.decided_at),
                                i.hall.clone(),
                                i.contact.clone(),
                                i.customer_key.clone().unwrap_or_default(),
                                format!("{} × {}", i.segment, i.purpose),
                                i.status.clone(),
                                i.reason.clone().unwrap_or_default(),
                                i.send_at.map(|t| zone.minute_text(t)).unwrap_or_default(),
                            ]
                        })
                        .collect();
                    crate::table::print(
                        &[
                            "decided", "hall", "contact", "customer", "cell", "status", "reason",
                            "send at",
                        ],
                        &rows,
                    );
                }
            }
        }
    }
    Ok(())
}

/// Decides a file of ended contacts (CSV: hall,id,channel,customer,segment,purpose,
/// staff,counter,wait_s,outcome,ended_at) as the server's decider does: queued (not
/// timed; the ingest queues them in its own transactions), then drained `batch` at a
/// time, each drain at the latest end it holds; prints the time and the counts
/// (bench/invitations.py).
pub async fn bench_invitations(
    db: &str,
    file: &std::path::Path,
    batch: usize,
) -> anyhow::Result<()> {
    use peakend_core::customer::EndedContact;
    // `RUST_LOG=peakend_store=debug` shows where each drain's time goes.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let mut contacts = Vec::new();
    let mut reader = csv::Reader::from_path(file).with_context(|| file.display().to_string())?;
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    for (i, row) in reader.records().enumerate() {
        let r = row.with_context(|| format!("{}: row {}", file.display(), i + 2))?;
        let field = |k: usize| r.get(k).unwrap_or("");
        contacts.push(EndedContact {
            hall: peakend_core::HallId::parse(field(0))
                .map_err(|e| anyhow::anyhow!("row {}: hall: {e}", i + 2))?,
            id: field(1).to_owned(),
            channel: field(2).to_owned(),
            customer: opt(field(3)),
            segment: field(4).to_owned(),
            purpose: field(5).to_owned(),
            staff: opt(field(6)),
            counter: opt(field(7)),
            wait_s: field(8).parse().ok(),
            outcome: opt(field(9)),
            ended_at: field(10)
                .parse()
                .with_context(|| format!("row {}: ended_at", i + 2))?,
        });
    }
    let store = crate::init(db).await?;
    let queued = std::time::Instant::now();
    store.queue_invitations(&contacts).await?;
    let queue_s = queued.elapsed().as_secs_f64();
    // The queue's own write-back is the ingest's work, done beside it as it goes: not
    // the decider's to pay for in the timed drains.
    let settled = std::time::Instant::now();
    store.settle().await?;
    let settle_s = settled.elapsed().as_secs_f64();
    // What a running server's decider remembers (it reads it once when it starts, before
    // its first drain): timed apart.
    let warmed = std::time::Instant::now();
    let first = contacts.iter().map(|c| c.ended_at).min().unwrap_or(0);
    store.warm_decider(first).await?;
    let warm_s = warmed.elapsed().as_secs_f64();
    let batch = batch.max(1);
    let start = std::time::Instant::now();
    let mut total = peakend_store::Decided::default();
    let mut drains = 0usize;
    for chunk in contacts.chunks(batch) {
        let at = chunk.iter().map(|c| c.ended_at).max().unwrap_or(0);
        let d = store.decide_pending(at, batch).await?;
        total.add(&d.decided);
        drains += 1;
    }
    let took = start.elapsed().as_secs_f64();
    outln!(
        "{}",
        serde_json::json!({
            "contacts": contacts.len(),
            "batch": batch,
            "calls": drains,
            "queue_s": queue_s,
            "settle_s": settle_s,
            "warm_s": warm_s,
            "total_s": took,
            "sent": total.sent,
            "held": total.held,
            "suppressed": total.suppressed,
            "skipped": total.skipped,
        })
    );
    Ok(())
}

/// Responses a batch of a streamed import: the memory of a few of them, never the file's.
const IMPORT_BATCH: usize = 20_000;

/// Imports a survey file in one transaction, all or nothing. A UTF-8 CSV file is read
/// as it is parsed, on a thread of its own, and stored batch by batch while the next is
/// read, so memory stays that of a few batches whatever the file's size; a workbook or a
/// file in another encoding is decoded whole first. Every bad cell of the file is
/// reported (and nothing stored), as before.
/// A survey file to read: parsed as it is read (CSV in UTF-8 or another encoding it is
/// decoded from on the way), or whole (a workbook, or text found in no encoding).
enum Read {
    Whole(peakend_io::Source),
    Streamed(std::fs::File, &'static encoding_rs::Encoding),
}

impl Read {
    fn rows(
        self,
        journey: &peakend_core::Journey,
        opts: &survey_csv::Options,
        each: impl FnMut(peakend_core::survey::Response),
    ) -> Vec<peakend_io::CellError> {
        match self {
            Read::Whole(source) => survey_csv::for_each_row(&source, journey, opts, each),
            Read::Streamed(file, e) if e == encoding_rs::UTF_8 => survey_csv::for_each_row_read(
                std::io::BufReader::with_capacity(1 << 20, file),
                journey,
                opts,
                each,
            ),
            Read::Streamed(file, e) => survey_csv::for_each_row_read(
                peakend_io::decode::Utf8Reader::new(
                    std::io::BufReader::with_capacity(1 << 20, file),
                    e,
                ),
                journey,
                opts,
                each,
            ),
        }
    }
}

async fn import_file(
    store: &peakend_store::SqlStore,
    journey: &peakend_core::Journey,
    file: &std::path::Path,
    encoding: Option<&str>,
    ignore_unknown: bool,
    halls: HashSet<String>,
) -> anyhow::Result<usize> {
    use peakend_store::ImportBatch;
    let name = file.display().to_string();
    let forced = encoding.map(peakend_io::decode::encoding_for).transpose()?;
    let open = || std::fs::File::open(file).with_context(|| format!("cannot read {name}"));
    let mut magic = [0u8; 4];
    let head = std::io::Read::read(&mut open()?, &mut magic)
        .with_context(|| format!("cannot read {name}"))?;
    // A CSV in UTF-8 or GB18030 (said or found) is parsed as it is read; a workbook, or
    // a file in neither, is read whole (which reports what is wrong with it).
    let readable = |e: &'static encoding_rs::Encoding| -> anyhow::Result<bool> {
        let file = std::io::BufReader::new(open()?);
        if e == encoding_rs::UTF_8 {
            peakend_io::decode::is_utf8(file)
        } else {
            peakend_io::decode::is_text_in(file, e)
        }
        .with_context(|| format!("cannot read {name}"))
    };
    let streamed = if peakend_io::is_workbook(&magic[..head]) {
        None
    } else if let Some(e) = forced {
        // Said by the user and checked first, so a bad byte is reported as before.
        readable(e)?.then_some(e)
    } else if readable(encoding_rs::UTF_8)? {
        Some(encoding_rs::UTF_8)
    } else if readable(encoding_rs::GB18030)? {
        Some(encoding_rs::GB18030)
    } else {
        None
    };
    let read = || -> anyhow::Result<Read> {
        Ok(match streamed {
            Some(e) => Read::Streamed(open()?, e),
            None => Read::Whole(crate::read_table(file, encoding)?),
        })
    };
    let first = read()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<ImportBatch>(2);
    let parse_journey = journey.clone();
    let halls = std::sync::Arc::new(halls);
    let parse_halls = halls.clone();
    let parser = tokio::task::spawn_blocking(move || {
        // No respondent is remembered, so a file of any size is read in the memory of
        // a few batches: the store's unique index finds one given twice.
        let opts = survey_csv::Options {
            ignore_unknown,
            halls: Some(&parse_halls),
            repeats: survey_csv::Repeats::Unchecked,
        };
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        // The reader passes on no row after a bad one; the store drops what it had when
        // the channel closes without `End`.
        let mut stopped = false;
        let mut each = |r| {
            if stopped {
                return;
            }
            batch.push(r);
            if batch.len() == IMPORT_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH));
                if tx.blocking_send(ImportBatch::Rows(full)).is_err() {
                    // The store gave up (its error is reported): stop reading.
                    stopped = true;
                }
            }
        };
        let errors = first.rows(&parse_journey, &opts, &mut each);
        if errors.is_empty() && !stopped {
            let rest = std::mem::take(&mut batch);
            if !rest.is_empty() && tx.blocking_send(ImportBatch::Rows(rest)).is_err() {
                return errors;
            }
            let _ = tx.blocking_send(ImportBatch::End);
        }
        errors
    });
    let stored = store.import_response_stream(journey, rx).await;
    let errors = parser.await.context("the survey reader stopped")?;
    if !errors.is_empty() {
        return Err(FileErrors { file: name, errors }.into());
    }
    if let Err(peakend_store::StoreError::Repeated { respondents, .. }) = &stored {
        // The file gives a respondent twice: read it again remembering only the few the
        // store named, to report each repeat on its row as the reader always has.
        let these: HashSet<String> = respondents.iter().cloned().collect();
        let (again, journey) = (read()?, journey.clone());
        let errors = tokio::task::spawn_blocking(move || {
            let opts = survey_csv::Options {
                ignore_unknown,
                halls: Some(&halls),
                repeats: survey_csv::Repeats::Among(&these),
            };
            again.rows(&journey, &opts, |_| {})
        })
        .await
        .context("the survey reader stopped")?;
        if !errors.is_empty() {
            return Err(FileErrors { file: name, errors }.into());
        }
    }
    stored.with_context(|| format!("{name} not imported"))
}
