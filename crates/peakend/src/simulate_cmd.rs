//! `peakend simulate`: a realistic day of device events for the halls in the database.

use anyhow::bail;
use chrono::NaiveDate;
use clap::Args;
use peakend_core::ops::simulate::{self, SimHall};
use peakend_store::Store;

#[derive(Args)]
pub struct SimulateArgs {
    /// How many halls (the first N of the organisation)
    #[arg(long, default_value_t = 1)]
    halls: usize,
    /// The day, YYYY-MM-DD (times are +08:00)
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    date: NaiveDate,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub async fn run(db: &str, args: SimulateArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let halls: Vec<SimHall> = store
        .org_nodes()
        .await?
        .into_iter()
        .filter_map(|n| {
            n.hall_id().map(|hall| SimHall {
                hall,
                counters: n.counters,
                kiosks: n.kiosks,
            })
        })
        .take(args.halls)
        .collect();
    if halls.is_empty() {
        bail!(
            "no halls in {db}: import an organisation (peakend org import) or run peakend demo first"
        );
    }
    for e in simulate::day(&halls, args.date, args.seed) {
        outln!("{}", serde_json::to_string(&e)?);
    }
    Ok(())
}
