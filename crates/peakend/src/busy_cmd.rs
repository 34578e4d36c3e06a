//! `peakend busy-hours`: a hall's busy-hour forecast for the coming week, from its
//! stored day roll-ups, with last week's forecast error.

use anyhow::bail;
use chrono::NaiveDate;
use clap::Args;
use peakend_core::HallId;
use peakend_core::ops::busy::Level;
use peakend_store::Store;

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Args)]
pub struct BusyArgs {
    /// The hall
    #[arg(long)]
    hall: HallId,
    /// Weeks of history the forecast is the mean of (1–52)
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=52))]
    weeks: u32,
    /// The first day of the forecast, YYYY-MM-DD (default: today in the hall's zone)
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    from: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(db: &str, args: BusyArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let today = match args.from {
        Some(d) => d,
        None => {
            let tree = store.org_tree().await?;
            let now = chrono::Utc::now().timestamp_millis();
            match tree.zone_of_hall(&args.hall).local(now) {
                Some(t) => t.date_naive(),
                None => bail!("the system clock is outside the supported years"),
            }
        }
    };
    let b = peakend_store::busy_hours(&store, &args.hall, today, args.weeks).await?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&b)?),
        Format::Table => {
            let hours: Vec<u32> = (b.open..b.close).collect();
            let mut header = vec!["DAY 日期".to_owned()];
            header.extend(hours.iter().map(|h| format!("{h:02}")));
            let rows: Vec<Vec<String>> = b
                .days
                .iter()
                .map(|d| {
                    let mut row = vec![format!(
                        "{} {}{}",
                        d.date,
                        d.date.format("%a"),
                        if d.holiday { " 节假日" } else { "" }
                    )];
                    row.extend(hours.iter().map(|h| {
                        d.hours.iter().find(|x| x.hour == *h).map_or_else(
                            || "-".to_owned(),
                            |x| {
                                let mark = match x.level {
                                    Level::Quiet => "闲",
                                    Level::Normal => "",
                                    Level::Busy => "忙",
                                };
                                format!("{:.0}{mark}", x.expected)
                            },
                        )
                    }));
                    row
                })
                .collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            table::print(&header, &rows);
            match &b.last_week {
                Some(w) => outln!(
                    "last week {}–{}: MAE {:.1} arrivals/hour, MAPE {}, busy hours named {} (hit {})",
                    w.from,
                    w.to,
                    w.error.mae,
                    w.error
                        .mape
                        .map_or("-".to_owned(), |m| format!("{:.0}%", 100.0 * m)),
                    w.error.busy_named,
                    w.error.busy_hit
                ),
                None => outln!("last week: no history to judge the forecast by"),
            }
        }
        other => bail!(
            "busy-hours supports --format table or json, not {}",
            format_name(other)
        ),
    }
    Ok(())
}
