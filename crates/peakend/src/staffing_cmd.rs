//! `peakend staffing`: how many counters a demand needs (Erlang C, or Erlang A when
//! customers' patience is given), or what a given number of counters achieves.

use anyhow::bail;
use chrono::NaiveDate;
use clap::Args;
use peakend_core::HallId;
use peakend_core::ops::erlang::{self, Staffing};
use peakend_core::ops::erlang_a::{self, ErlangAStaffing};
use peakend_core::ops::roster;

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Args)]
#[command(group(clap::ArgGroup::new("demand").required(true).args(["arrivals_per_hour", "hall"])))]
pub struct StaffingArgs {
    /// Customers arriving per hour
    #[arg(long, requires = "aht_min")]
    arrivals_per_hour: Option<f64>,
    /// Average handling (service) time in minutes
    #[arg(long)]
    aht_min: Option<f64>,
    /// Plan counters per half-hour from this hall's own history (with --from, --to);
    /// Erlang C only (no --patience-s)
    #[arg(long, requires_all = ["from", "to"], conflicts_with_all = ["arrivals_per_hour", "counters", "patience_s"])]
    hall: Option<HallId>,
    /// First day of the history, YYYY-MM-DD
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    from: Option<NaiveDate>,
    /// Last day of the history, YYYY-MM-DD
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    to: Option<NaiveDate>,
    /// Share of customers to serve within --within-min, e.g. 0.8
    #[arg(long, default_value_t = 0.8)]
    target_level: f64,
    /// The wait target in minutes (the standard's care_after: 15)
    #[arg(long, default_value_t = 15.0)]
    within_min: f64,
    /// Evaluate this many counters instead of finding the fewest that meet the target
    #[arg(long)]
    counters: Option<u32>,
    /// Customers' mean patience in seconds: model those who give up (Erlang A, M/M/N+M)
    /// instead of Erlang C; the service level then counts abandons against the target
    #[arg(long)]
    patience_s: Option<f64>,
    /// Also keep the share who abandon at most this, e.g. 0.05 (Erlang A only)
    #[arg(long, requires = "patience_s", conflicts_with = "counters")]
    max_abandon: Option<f64>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(db: &str, args: StaffingArgs) -> anyhow::Result<()> {
    let positive = |x: f64| x.is_finite() && x >= 0.0;
    if !positive(args.within_min) {
        bail!("--within-min must be a number of minutes ≥ 0");
    }
    if !(0.0..1.0).contains(&args.target_level) {
        bail!("--target-level must be a share from 0 to below 1, e.g. 0.8");
    }
    let within_s = args.within_min * 60.0;
    if let (Some(hall), Some(from), Some(to)) = (&args.hall, args.from, args.to) {
        return history(db, hall, from, to, args.target_level, within_s, args.format).await;
    }
    let arrivals = args.arrivals_per_hour.unwrap_or_default();
    let aht_min = args.aht_min.unwrap_or_default();
    if !positive(arrivals) {
        bail!("--arrivals-per-hour must be a number ≥ 0");
    }
    if !positive(aht_min) || aht_min == 0.0 {
        bail!("--aht-min must be a number of minutes > 0");
    }
    let aht_s = aht_min * 60.0;
    if let Some(patience_s) = args.patience_s {
        if !(patience_s.is_finite() && patience_s > 0.0) {
            bail!("--patience-s must be a number of seconds > 0");
        }
        if let Some(p) = args.max_abandon
            && !(p > 0.0 && p <= 1.0)
        {
            bail!("--max-abandon must be a share above 0 and at most 1, e.g. 0.05");
        }
        let s = match args.counters {
            Some(n) => erlang_a::evaluate(arrivals, aht_s, patience_s, n, within_s),
            None => erlang_a::counters_needed(
                arrivals,
                aht_s,
                patience_s,
                args.target_level,
                within_s,
                args.max_abandon,
            ),
        }
        .expect("inputs checked above");
        match args.format {
            Format::Json => {
                let mut v = serde_json::to_value(s)?;
                v["model"] = "erlang_a".into();
                outln!("{}", serde_json::to_string_pretty(&v)?)
            }
            Format::Table => print_a(&s),
            other => bail!(
                "staffing supports --format table or json, not {}",
                format_name(other)
            ),
        }
        return Ok(());
    }
    let s = match args.counters {
        Some(n) => erlang::evaluate(arrivals, aht_s, n, within_s),
        None => erlang::counters_needed(arrivals, aht_s, args.target_level, within_s)
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

/// Counters per half-hour from the hall's tickets over whole days [from, to] (+08:00).
async fn history(
    db: &str,
    hall: &HallId,
    from: NaiveDate,
    to: NaiveDate,
    target_level: f64,
    within_s: f64,
    format: Format,
) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let rules = peakend_store::hall_rules(&store, hall).await?;
    // The hall's own days (its zone, from the organisation).
    let offset = rules.zone.offset_on(from);
    let replayed = peakend_store::replay_hall(
        &store,
        hall,
        &rules,
        peakend_store::local_midnight(from, offset),
        peakend_store::local_midnight(to.succ_opt().unwrap_or(to), offset),
        offset,
        chrono::Utc::now().timestamp_millis(),
    )
    .await?;
    let days = (to - from).num_days().max(0) as usize + 1;
    let tickets: Vec<_> = replayed.tickets.iter().collect();
    let plan = roster::plan(&tickets, days, offset, target_level, within_s);
    if plan.is_empty() {
        bail!("hall {hall} has no served tickets from {from} to {to} to plan from");
    }
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&plan)?),
        Format::Table => table::print(
            &[
                "时段 SLOT",
                "ARRIVALS/h",
                "AHT s",
                "窗口 COUNTERS",
                "SL",
                "ASA s",
            ],
            &plan
                .iter()
                .map(|p| {
                    vec![
                        p.start.clone(),
                        format!("{:.1}", p.arrivals_per_hour),
                        format!("{:.0}", p.staffing.aht_s),
                        p.staffing.counters.to_string(),
                        format!("{:.1}%", 100.0 * p.staffing.service_level),
                        format!("{:.0}", p.staffing.asa_s),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        other => bail!(
            "staffing supports --format table or json, not {}",
            format_name(other)
        ),
    }
    Ok(())
}

/// "服务水平 service level (≤ t)" in seconds or minutes.
fn level_label(target_s: f64) -> String {
    if target_s < 60.0 {
        format!("服务水平 service level (≤ {:.0} s)", target_s)
    } else {
        format!("服务水平 service level (≤ {:.1} min)", target_s / 60.0)
    }
}

fn print_a(s: &ErlangAStaffing) {
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let rows = vec![
        vec!["模型 model".into(), "Erlang A (M/M/N+M)".into()],
        vec![
            "话务量 traffic".into(),
            format!("{:.2} Erlang", s.traffic_erlangs),
        ],
        vec!["平均耐心 patience".into(), format!("{:.0} s", s.patience_s)],
        vec!["窗口数 counters".into(), s.counters.to_string()],
        vec!["等候概率 P(wait)".into(), pct(s.p_wait)],
        vec!["放弃率 P(abandon)".into(), pct(s.p_abandon)],
        vec![level_label(s.target_s), pct(s.service_level)],
        vec![
            "平均等候 ASA (answered)".into(),
            if s.asa_s.is_finite() {
                format!("{:.1} s", s.asa_s)
            } else {
                "∞ (nobody answered)".into()
            },
        ],
        vec!["利用率 occupancy".into(), pct(s.occupancy)],
    ];
    table::print(&["指标 MEASURE", "值 VALUE"], &rows);
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
        vec![level_label(s.target_s), pct(s.service_level)],
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
