//! `peakend staffing`: how many counters a demand needs (Erlang C), or what a given
//! number of counters achieves.

use anyhow::bail;
use clap::Args;
use peakend_core::ops::erlang::{self, Staffing};

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Args)]
pub struct StaffingArgs {
    /// Customers arriving per hour
    #[arg(long)]
    arrivals_per_hour: f64,
    /// Average handling (service) time in minutes
    #[arg(long)]
    aht_min: f64,
    /// Share of customers to serve within --within-min, e.g. 0.8
    #[arg(long, default_value_t = 0.8)]
    target_level: f64,
    /// The wait target in minutes (the standard's care_after: 15)
    #[arg(long, default_value_t = 15.0)]
    within_min: f64,
    /// Evaluate this many counters instead of finding the fewest that meet the target
    #[arg(long)]
    counters: Option<u32>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(args: StaffingArgs) -> anyhow::Result<()> {
    let positive = |x: f64| x.is_finite() && x >= 0.0;
    if !positive(args.arrivals_per_hour) {
        bail!("--arrivals-per-hour must be a number ≥ 0");
    }
    if !positive(args.aht_min) || args.aht_min == 0.0 {
        bail!("--aht-min must be a number of minutes > 0");
    }
    if !positive(args.within_min) {
        bail!("--within-min must be a number of minutes ≥ 0");
    }
    if !(0.0..1.0).contains(&args.target_level) {
        bail!("--target-level must be a share from 0 to below 1, e.g. 0.8");
    }
    let (aht_s, within_s) = (args.aht_min * 60.0, args.within_min * 60.0);
    let s = match args.counters {
        Some(n) => erlang::evaluate(args.arrivals_per_hour, aht_s, n, within_s),
        None => erlang::counters_needed(args.arrivals_per_hour, aht_s, args.target_level, within_s)
            .expect("inputs checked above"),
    };
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&s)?),
        Format::Table => print(&s),
        other => bail!(
            "staffing supports --format table or json, not {}",
            format_name(other)
        ),
    }
    Ok(())
}

fn print(s: &Staffing) {
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let rows = vec![
        vec![
            "话务量 traffic".into(),
            format!("{:.2} Erlang", s.traffic_erlangs),
        ],
        vec!["窗口数 counters".into(), s.counters.to_string()],
        vec!["等候概率 P(wait)".into(), pct(s.p_wait)],
        vec![
            if s.target_s < 60.0 {
                format!("服务水平 service level (≤ {:.0} s)", s.target_s)
            } else {
                format!("服务水平 service level (≤ {:.1} min)", s.target_s / 60.0)
            },
            pct(s.service_level),
        ],
        vec![
            "平均等候 ASA".into(),
            if s.asa_s.is_finite() {
                format!("{:.1} s", s.asa_s)
            } else {
                "∞ (counters < load)".into()
            },
        ],
        vec!["利用率 occupancy".into(), pct(s.occupancy)],
    ];
    table::print(&["指标 MEASURE", "值 VALUE"], &rows);
}
