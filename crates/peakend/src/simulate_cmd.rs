//! `peakend simulate`: a realistic day of device events for the halls in the database.

use std::io::Write;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::Args;
use peakend_core::ops::simulate::{self, SimHall};
use peakend_store::Store;

#[derive(Args)]
pub struct SimulateArgs {
    /// How many halls (the first N of the organisation)
    #[arg(long, default_value_t = 1)]
    halls: usize,
    /// The day, YYYY-MM-DD (each hall's local day, in its org node's time zone)
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    date: NaiveDate,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub async fn run(db: &str, args: SimulateArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let tree = store.org_tree().await?;
    let halls: Vec<SimHall> = tree
        .nodes()
        .iter()
        .filter_map(|n| {
            n.hall_id().map(|hall| SimHall {
                hall,
                counters: n.counters,
                kiosks: n.kiosks,
                zone: tree.zone_of(&n.id),
            })
        })
        .take(args.halls)
        .collect();
    if halls.is_empty() {
        bail!(
            "no halls in {db}: import an organisation (peakend org import) or run peakend demo first"
        );
    }
    // Buffered: a province day is millions of lines, and stdout flushes every line.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = simulate::day(&halls, args.date, args.seed)
        .iter()
        .try_for_each(|e| {
            serde_json::to_writer(&mut out, e).map_err(std::io::Error::from)?;
            out.write_all(b"\n")
        });
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("cannot write to stdout")?),
    }
}
