//! `peakend`: the command line and server of peakend. This crate only wires
//! adapters together: parsing arguments, reading files, printing results.

// The `unsafe` blocks of the workspace (mapping a survey file, `analyze_cmd.rs`;
// setting allocator options, `alloc.rs`) are allowed where they stand; every other
// crate forbids unsafe code outright.
#![deny(unsafe_code)]

/// `println!` that ends the program quietly when stdout is closed (`peakend … | head`).
macro_rules! outln {
    ($($arg:tt)*) => { $crate::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` with the same broken-pipe handling.
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_out(format_args!($($arg)*)) };
}

mod alloc;
mod analyze_cmd;
mod audit_cmd;
mod busy_cmd;
mod case_cmd;
mod comments_cmd;
mod compliance_cmd;
mod customers_cmd;
mod demo;
mod demo_live;
mod events_cmd;
mod handbook_cmd;
mod holidays_cmd;
mod journey_cmd;
mod kpi_cmd;
mod org_cmd;
mod programme_cmd;
mod qfd_cmd;
mod simulate_cmd;
mod staffing_cmd;
mod strategy_cmd;
mod survey_cmd;
mod table;
mod user_cmd;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use peakend_store::{SqlStore, Store};

#[derive(Parser)]
#[command(
    name = "peakend",
    version,
    about = "Peak-end customer experience for networks of service outlets"
)]
struct Cli {
    /// Database: a SQLite file path or sqlite://PATH (default ./peakend.db), or postgres://…
    #[arg(
        long,
        global = true,
        env = "PEAKEND_DATABASE_URL",
        default_value = "peakend.db"
    )]
    db: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or migrate the database and load the built-in journeys (idempotent)
    Init,
    /// Journeys of key moments: list, export, import, validate
    #[command(subcommand)]
    Journey(journey_cmd::JourneyCmd),
    /// The organisation tree (province → city → district → hall)
    #[command(subcommand)]
    Org(org_cmd::OrgCmd),
    /// Serve the API and dashboard
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Always mark the session cookie Secure (behind a TLS proxy that does not send
        /// X-Forwarded-Proto)
        #[arg(long)]
        secure_cookies: bool,
        /// Erase a case's customer contact this many days after the case closes
        #[arg(long, default_value_t = 180)]
        erase_contacts_after_days: u32,
        #[command(flatten)]
        invites: InviteArgs,
        /// Delete customers' contacts across channels this many days after they ended
        #[arg(long, default_value_t = peakend_store::CUSTOMER_CONTACT_RETENTION_DAYS)]
        erase_customer_contacts_after_days: u32,
        /// Run as one of several nodes: device events through NATS JetStream at this
        /// URL (e.g. nats://127.0.0.1:4222); needs --db postgres://…
        #[arg(long)]
        nats: Option<String>,
        /// Hall partitions of the event stream (the same on every node)
        #[arg(long, default_value_t = 16, requires = "nats")]
        partitions: u32,
        /// Copies JetStream keeps of each batch (3 on a three-server NATS cluster)
        #[arg(long, default_value_t = 1, requires = "nats")]
        nats_replicas: usize,
        /// Names of the stream, subjects and consumers (one network per prefix)
        #[arg(long, default_value = "peakend", hide = true)]
        nats_prefix: String,
        /// Seconds between the minute sweeps (shorter for tests of several nodes)
        #[arg(long, default_value_t = 60, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
        sweep_every_secs: u64,
    },
    /// Dashboard users: add, reset a password, list
    #[command(subcommand)]
    User(user_cmd::UserCmd),
    /// Survey instruments and data: template, questionnaire, synth, import, comments
    #[command(subcommand)]
    Survey(survey_cmd::SurveyCmd),
    /// Peak-end analysis of a survey file (FILE --journey KEY) or of aggregate figures (--summary FILE)
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Device tokens for a hall's devices
    #[command(subcommand)]
    Token(events_cmd::TokenCmd),
    /// Hall device events: ingest a file, list the quarantine
    #[command(subcommand)]
    Events(events_cmd::EventsCmd),
    /// Hall KPIs (arrivals, abandonment, service level, ASA, AHT, ratings, care) for a node
    Kpi(kpi_cmd::KpiArgs),
    /// One customer across channels (跨渠道客户): contacts, repeats, failure demand, consistency
    Customers(customers_cmd::CustomersArgs),
    /// A journey's house of quality (QFD): stage 1, customer needs × service
    /// encounters, weighed by the survey's need elements
    Qfd(qfd_cmd::QfdArgs),
    /// The strategy page (体验战略): dimensions ranked by importance share × gap ×
    /// feasibility, and the stored theme, sub-themes and initiatives (`--set FILE.json`)
    Strategy(strategy_cmd::StrategyArgs),
    /// A hall's busy-hour forecast for the coming week (一周忙闲预报) and last week's error
    BusyHours(busy_cmd::BusyArgs),
    /// A realistic simulated day of device events (NDJSON) for the first N halls
    Simulate(simulate_cmd::SimulateArgs),
    /// Public holidays per province (not working days for the kiosk repair rule)
    #[command(subcommand)]
    Holidays(holidays_cmd::HolidaysCmd),
    /// Counters needed for a demand (Erlang C), or what N counters achieve
    Staffing(staffing_cmd::StaffingArgs),
    /// Service cases: list, show, import a hotline's export, sweep, KPIs
    #[command(subcommand)]
    Case(case_cmd::CaseCmd),
    /// Compliance with the standards (audits and automatic checks) for a node
    Compliance(compliance_cmd::ComplianceArgs),
    /// Audits of the standards: the checklist of a journey for a kind of audit
    #[command(subcommand)]
    Audit(audit_cmd::AuditCmd),
    /// A role's printable handbook of a journey (HTML or JSON)
    Handbook(handbook_cmd::HandbookArgs),
    /// Staff exams: the question bank of a journey
    #[command(subcommand)]
    Exam(handbook_cmd::ExamCmd),
    /// Webhook receivers of case events: add, list, remove
    #[command(subcommand)]
    Webhook(case_cmd::WebhookCmd),
    /// Set up a demo province with its data, then serve it
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Set up the data only; do not start the server
        #[arg(long)]
        no_serve: bool,
        /// How many times faster than real time the demo day runs (from 08:30 today)
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        /// Serve on the system clock without replaying a simulated day
        #[arg(long)]
        no_live: bool,
        #[command(flatten)]
        invites: InviteArgs,
    },
    /// Time the reading of comments (one a line) for bench/comments.py
    #[command(hide = true)]
    BenchComments { file: std::path::PathBuf },
    /// The three houses of quality of a synthetic survey, timed, for bench/qfd.py
    #[command(hide = true)]
    BenchQfd {
        #[arg(long, default_value_t = 1_000_000)]
        responses: usize,
        #[arg(long, default_value_t = 2000)]
        halls: usize,
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// Decide a file of ended contacts in batches for bench/invitations.py
    #[command(hide = true)]
    BenchInvitations {
        file: std::path::PathBuf,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
}

/// How survey invitations leave the server.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InviteSenderKind {
    /// A log line per invitation; nothing leaves (the default and the demo's)
    Log,
    /// A signed JSON POST to an SMS gateway's HTTP API
    Webhook,
    /// A mail to an email-to-SMS gateway, addressed by the customer's salted key
    Smtp,
}

/// The survey invitations' sender and links (`serve` and `demo`).
#[derive(clap::Args)]
struct InviteArgs {
    /// How survey invitations leave: log, webhook (an SMS gateway's HTTP API) or smtp
    #[arg(long, value_enum, default_value = "log")]
    invite_sender: InviteSenderKind,
    /// The base of the invitations' links ({base}/i/{token}); default the server's own address
    #[arg(long, value_name = "URL")]
    invite_link_base: Option<String>,
    /// The SMS gateway's URL (http://; --invite-sender webhook)
    #[arg(long, value_name = "URL")]
    invite_webhook_url: Option<String>,
    /// The secret the webhook's body is signed with (HMAC-SHA256, X-Peakend-Signature)
    #[arg(long, env = "PEAKEND_INVITE_WEBHOOK_SECRET", hide_env_values = true)]
    invite_webhook_secret: Option<String>,
    /// The SMTP relay, smtp://host:port (--invite-sender smtp; no TLS: a local relay)
    #[arg(long, value_name = "URL")]
    smtp_url: Option<String>,
    /// The invitation mails' sender address (--invite-sender smtp)
    #[arg(long, value_name = "ADDRESS")]
    invite_mail_from: Option<String>,
    /// The recipient, with {customer} for the salted key: {customer}@sms-gw.example.net
    #[arg(long, value_name = "TEMPLATE")]
    invite_mail_to: Option<String>,
}

impl InviteArgs {
    /// The sender and link base, or one line naming the missing or bad option.
    fn invites(&self, addr: SocketAddr) -> anyhow::Result<peakend_http::invite_sender::Invites> {
        use peakend_http::invite_sender::{Invites, SenderConfig, link_base};
        let need = |value: &Option<String>, option: &str| -> anyhow::Result<String> {
            match value.as_deref().map(str::trim) {
                Some(v) if !v.is_empty() => Ok(v.to_owned()),
                _ => anyhow::bail!(
                    "--invite-sender {} needs {option}",
                    match self.invite_sender {
                        InviteSenderKind::Log => "log",
                        InviteSenderKind::Webhook => "webhook",
                        InviteSenderKind::Smtp => "smtp",
                    }
                ),
            }
        };
        let config = match self.invite_sender {
            InviteSenderKind::Log => SenderConfig::Log,
            InviteSenderKind::Webhook => SenderConfig::Webhook {
                url: need(&self.invite_webhook_url, "--invite-webhook-url URL")?,
                secret: need(
                    &self.invite_webhook_secret,
                    "--invite-webhook-secret S (or PEAKEND_INVITE_WEBHOOK_SECRET)",
                )?,
            },
            InviteSenderKind::Smtp => SenderConfig::Smtp {
                url: need(&self.smtp_url, "--smtp-url smtp://host:port")?,
                from: need(&self.invite_mail_from, "--invite-mail-from ADDRESS")?,
                to: need(
                    &self.invite_mail_to,
                    "--invite-mail-to TEMPLATE (e.g. {customer}@sms-gw.example.net)",
                )?,
            },
        };
        let base = match &self.invite_link_base {
            Some(b) => b.clone(),
            None => own_link_base(addr),
        };
        Ok(Invites {
            sender: config.build().map_err(anyhow::Error::msg)?,
            link_base: link_base(&base).map_err(anyhow::Error::msg)?,
        })
    }
}

/// The server's own address as the links' base; a wildcard one is reached on the
/// loopback.
fn own_link_base(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Yaml,
}

// glibc's allocator spent a quarter of an event ingest in malloc and free (strings made
// on the parser threads and freed on the writer's); mimalloc's per-thread heaps do not.
// Its `override` feature serves the C `malloc` of the process too (SQLite's).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    alloc::sqlite_without_memory_statistics();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peakend: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined, newlines folded.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("peakend: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("peakend: error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Reads a text file people made: UTF-8 (with or without BOM) or GB18030/GBK,
/// detected unless `encoding` forces one. Errors name the file.
pub fn read_text(file: &std::path::Path, encoding: Option<&str>) -> anyhow::Result<String> {
    let name = file.display();
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {name}"))?;
    let forced = encoding.map(peakend_io::decode::encoding_for).transpose()?;
    let (text, _) =
        peakend_io::decode::decode_vec(bytes, forced).with_context(|| name.to_string())?;
    Ok(text)
}

/// Reads a table file: an XLSX workbook (its first sheet), or CSV text in UTF-8 or
/// GB18030, detected unless `encoding` forces one.
pub fn read_table(
    file: &std::path::Path,
    encoding: Option<&str>,
) -> anyhow::Result<peakend_io::Source> {
    let name = file.display();
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {name}"))?;
    let forced = encoding.map(peakend_io::decode::encoding_for).transpose()?;
    peakend_io::Source::from_bytes(bytes, forced).with_context(|| name.to_string())
}

pub async fn open(db: &str) -> anyhow::Result<SqlStore> {
    Ok(peakend_store::connect(db).await?)
}

/// Opens the database and makes sure the built-in journeys are loaded.
pub async fn init(db: &str) -> anyhow::Result<SqlStore> {
    let store = open(db).await?;
    store
        .load_builtin_journeys()
        .await
        .context("loading the built-in journeys")?;
    Ok(store)
}

/// A stored journey, or an error naming the key.
pub async fn journey(
    store: &impl Store,
    key: &peakend_core::JourneyKey,
) -> anyhow::Result<peakend_core::Journey> {
    store
        .journey(key)
        .await?
        .with_context(|| format!("journey `{key}` not found"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init => {
            let store = open(&cli.db).await?;
            for (key, outcome) in store.load_builtin_journeys().await? {
                outln!(
                    "journey {key}: {}",
                    serde_json::to_value(outcome)?.as_str().unwrap_or("")
                );
            }
            let backend = serde_json::to_value(store.backend())?;
            outln!(
                "database {} ready ({})",
                cli.db,
                backend.as_str().unwrap_or("")
            );
            Ok(())
        }
        Command::Journey(cmd) => journey_cmd::run(&cli.db, cmd).await,
        Command::Analyze(args) => analyze_cmd::run(&cli.db, args).await,
        Command::Staffing(args) => staffing_cmd::run(&cli.db, args).await,
        Command::Case(cmd) => case_cmd::run(&cli.db, cmd).await,
        Command::Compliance(args) => compliance_cmd::run(&cli.db, args).await,
        Command::Audit(cmd) => audit_cmd::run(&cli.db, cmd).await,
        Command::Webhook(cmd) => case_cmd::run_webhook(&cli.db, cmd).await,
        Command::Handbook(args) => handbook_cmd::run(&cli.db, args).await,
        Command::Exam(cmd) => handbook_cmd::run_exam(&cli.db, cmd).await,
        Command::Holidays(cmd) => holidays_cmd::run(&cli.db, cmd).await,
        Command::Simulate(args) => simulate_cmd::run(&cli.db, args).await,
        Command::Kpi(args) => kpi_cmd::run(&cli.db, args).await,
        Command::Customers(args) => customers_cmd::run(&cli.db, args).await,
        Command::Qfd(args) => qfd_cmd::run(&cli.db, args).await,
        Command::Strategy(args) => strategy_cmd::run(&cli.db, args).await,
        Command::BusyHours(args) => busy_cmd::run(&cli.db, args).await,
        Command::Token(cmd) => events_cmd::token(&cli.db, cmd).await,
        Command::Events(cmd) => events_cmd::run(&cli.db, cmd).await,
        Command::Survey(cmd) => survey_cmd::run(&cli.db, cmd).await,
        Command::BenchComments { file } => comments_cmd::bench(&file),
        Command::BenchQfd {
            responses,
            halls,
            runs,
        } => qfd_cmd::bench(responses, halls, runs),
        Command::BenchInvitations { file, batch } => {
            survey_cmd::bench_invitations(&cli.db, &file, batch).await
        }
        Command::Org(cmd) => org_cmd::run(&cli.db, cmd).await,
        Command::Serve {
            addr,
            secure_cookies,
            erase_contacts_after_days,
            invites,
            erase_customer_contacts_after_days,
            nats,
            partitions,
            nats_replicas,
            nats_prefix,
            sweep_every_secs,
        } => {
            // Settings first: a sender that cannot work stops the start, before the
            // database is touched.
            let invites = invites.invites(addr)?;
            // Before NATS: what the stream is like is said at the start.
            init_tracing();
            if nats.is_some() && !cli.db.starts_with("postgres") {
                anyhow::bail!(
                    "--nats: several nodes share one PostgreSQL database; give --db postgres://…"
                );
            }
            let cluster = match &nats {
                Some(url) => Some(
                    peakend_http::cluster::Cluster::connect(
                        url,
                        &nats_prefix,
                        partitions,
                        nats_replicas,
                    )
                    .await
                    .map_err(anyhow::Error::msg)?,
                ),
                None => None,
            };
            let store = init(&cli.db).await?;
            let cases = peakend_http::case_worker::CaseSettings {
                erase_contacts_after_days,
                erase_customer_contacts_after_days,
                workers: true,
                sweep_every: std::time::Duration::from_secs(sweep_every_secs),
            };
            let state = peakend_http::AppState {
                secure_cookies,
                cases,
                invites,
                cluster: cluster.clone(),
                ..peakend_http::AppState::new(Arc::new(store))
            };
            if let Some(cluster) = cluster {
                peakend_http::cluster::spawn(state.clone(), cluster, cli.db.clone());
            }
            serve_state(state, addr).await
        }
        Command::User(cmd) => user_cmd::run(&cli.db, cmd).await,
        Command::Demo {
            addr,
            no_serve,
            speed,
            no_live,
            invites,
        } => {
            let invites = invites.invites(addr)?;
            let store = init(&cli.db).await?;
            demo::load(&store).await?;
            if no_serve {
                return Ok(());
            }
            let mut state = peakend_http::AppState::new(Arc::new(store));
            state.invites = invites;
            if !no_live {
                // The halls live on the demo clock, and its day is ingested as it comes.
                let tree = state.store.org_tree().await?;
                let zone = tree
                    .roots()
                    .next()
                    .map(|r| tree.zone_of(&r.id))
                    .unwrap_or_default();
                state.clock = demo_live::clock(zone, speed);
                tokio::spawn(demo_live::replay(state.clone()));
            }
            init_tracing();
            serve_state(state, addr).await
        }
    }
}

/// The server's log, on stderr.
fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        // A closed stderr must not break the server: tracing would report the failed
        // write with `eprintln!`, which panics the task that logged (the shutdown
        // signal's, a request's).
        .log_internal_errors(false)
        .init();
}

async fn serve_state(state: peakend_http::AppState, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Port 0 was asked for: the links take the port the server got.
    let mut state = state;
    if addr.port() == 0 && state.invites.link_base == own_link_base(addr) {
        state.invites.link_base = own_link_base(local);
    }
    eprintln!("peakend: serving http://{local} (Ctrl-C to stop)");
    peakend_http::serve(listener, state).await?;
    Ok(())
}
