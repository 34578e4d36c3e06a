//! `peakend kpi`: hall KPIs for any org node, by hour or day.

use anyhow::bail;
use chrono::{FixedOffset, NaiveDate};
use clap::Args;
use peakend_core::OrgNodeId;
use peakend_core::ops::kpi::{Bucket, Keyed};
use peakend_core::ops::ticket::Kpis;

use peakend_store::Store;

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Args)]
pub struct KpiArgs {
    /// A hall or any node above it (default: every hall)
    #[arg(long)]
    org: Option<OrgNodeId>,
    /// First day, YYYY-MM-DD
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    from: NaiveDate,
    /// Last day, YYYY-MM-DD
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    to: NaiveDate,
    /// half-hour, hour or day
    #[arg(long, default_value = "day")]
    bucket: Bucket,
    /// The report's UTC offset (default: the node's time zone, from the organisation)
    #[arg(long, value_parser = peakend_http::parse_offset)]
    tz: Option<FixedOffset>,
    /// Across the node's halls, how the peak moments' satisfaction ranks with sales
    /// per served visit (Spearman's ρ with its 95 % interval; the halls left out, why)
    #[arg(long)]
    peaks_vs_sales: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(db: &str, args: KpiArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let tree = store.org_tree().await?;
    let zone = match &args.org {
        Some(n) => tree.zone_of(n),
        None => tree
            .roots()
            .next()
            .map(|r| tree.zone_of(&r.id))
            .unwrap_or_default(),
    };
    let offset = args.tz.unwrap_or_else(|| zone.offset_on(args.from));
    let mut report = peakend_store::stored_kpis(
        &store,
        &peakend_store::KpiQuery {
            org: args.org.as_ref(),
            from: args.from,
            to: args.to,
            bucket: args.bucket,
            offset,
            now_ms: chrono::Utc::now().timestamp_millis(),
        },
    )
    .await?;
    if args.peaks_vs_sales {
        report.peaks_vs_sales = Some(
            peakend_store::stored_peaks_vs_sales(
                &store,
                args.org.as_ref(),
                args.from,
                args.to,
                &report,
            )
            .await?,
        );
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => {
            let mut rows = vec![row("total 合计", &report.total)];
            for (label, groups) in [
                ("", &report.buckets),
                ("hall ", &report.halls),
                ("counter ", &report.counters),
                ("staff ", &report.staff),
            ] {
                rows.extend(
                    groups
                        .iter()
                        .map(|Keyed { key, kpis }| row(&format!("{label}{key}"), kpis)),
                );
            }
            // Each tier against its own target (TARGET%), and each channel.
            rows.extend(report.tiers.iter().map(|t| {
                row(
                    &format!("tier {} ≤{:.0}s", t.tier.as_str(), t.target_s),
                    &t.kpis,
                )
            }));
            rows.extend(
                report
                    .channels
                    .iter()
                    .map(|Keyed { key, kpis }| row(&format!("channel {key}"), kpis)),
            );
            table::print(
                &[
                    "",
                    "ARRIVALS",
                    "SERVED",
                    "ABANDON%",
                    "SL%",
                    "ASA s",
                    "AHT s",
                    "OVER STD%",
                    "MAX WAIT s",
                    "RATING",
                    "CARE",
                    "TARGET%",
                    "EXPIRED",
                ],
                &rows,
            );
            sales_table(&report);
            if let Some(p) = &report.peaks_vs_sales {
                peaks_table(p);
            }
            if let Some(calls) = &report.calls {
                call_table(calls);
            }
        }
        other => bail!(
            "kpi supports --format table or json, not {}",
            format_name(other)
        ),
    }
    Ok(())
}

fn row(label: &str, k: &Kpis) -> Vec<String> {
    let pct = |x: Option<f64>| x.map(|v| format!("{:.1}", 100.0 * v)).unwrap_or_default();
    let num = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or_default();
    vec![
        label.to_owned(),
        k.arrivals.to_string(),
        k.served.to_string(),
        pct(k.abandonment_rate),
        pct(k.service_level),
        num(k.asa_s),
        num(k.aht_s),
        pct(k.over_system_time_rate),
        num(k.longest_wait_s),
        k.avg_rating.map(|v| format!("{v:.2}")).unwrap_or_default(),
        k.care_alerts.to_string(),
        pct(k.target_level),
        k.expired.to_string(),
    ]
}

/// The contact centres' calls (when the node has centres), after the halls' table.
fn call_table(calls: &peakend_core::ops::call::CallReport) {
    use peakend_core::ops::call::{CallKeyed, CallKpis};
    let pct = |x: Option<f64>| x.map(|v| format!("{:.1}", 100.0 * v)).unwrap_or_default();
    let num = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or_default();
    let row = |label: String, k: &CallKpis| {
        vec![
            label,
            k.offered.to_string(),
            k.answered.to_string(),
            k.abandoned.to_string(),
            k.short_abandoned.to_string(),
            pct(k.service_level),
            num(k.asa_s),
            num(k.talk_s),
            num(k.hold_s),
            num(k.acw_s),
            num(k.aht_s),
        ]
    };
    let mut rows = vec![row("calls total 合计".into(), &calls.total)];
    for (label, groups) in [
        ("", &calls.buckets),
        ("centre ", &calls.centres),
        ("queue ", &calls.queues),
        ("agent ", &calls.agents),
    ] {
        rows.extend(
            groups
                .iter()
                .map(|CallKeyed { key, kpis }| row(format!("{label}{key}"), kpis)),
        );
    }
    outln!("");
    table::print(
        &[
            "CALLS",
            "OFFERED",
            "ANSWERED",
            "ABANDONED",
            "SHORT",
            "SL%",
            "ASA s",
            "TALK s",
            "HOLD s",
            "ACW s",
            "AHT s",
        ],
        &rows,
    );
    outln!(
        "service level: answered within {:.0} s ÷ (offered − abandons under {:.0} s); FCR {} ({} calls measured)",
        calls.target_s,
        calls.short_abandon_s,
        pct(calls.fcr).to_string() + if calls.fcr.is_some() { "%" } else { "–" },
        calls.fcr_measured
    );
}

/// The sales block (issue 23), after the service figures: per total, hall and staff
/// member, sales and amount, sales per served visit, the four lines and `other`, each
/// line's purpose conversion and the trials' conversion to a purchase.
fn sales_table(report: &peakend_core::ops::kpi::KpiReport) {
    use peakend_core::ops::sales::{SaleCategory, SalesKpis};
    let pct = |x: Option<f64>| x.map(|v| format!("{:.1}", 100.0 * v)).unwrap_or_default();
    let row = |label: String, k: &SalesKpis| {
        let line = |c: SaleCategory| {
            k.lines
                .iter()
                .find(|l| l.category == c)
                .map_or(0, |l| l.sales)
                .to_string()
        };
        let conv = |c: SaleCategory| {
            k.conversions
                .iter()
                .find(|v| v.category == c)
                .map(|v| {
                    if v.visits == 0 {
                        String::new()
                    } else {
                        format!("{} ({}/{})", pct(v.rate), v.converted, v.visits)
                    }
                })
                .unwrap_or_default()
        };
        vec![
            label,
            k.sales.to_string(),
            format!("{:.2}", k.amount),
            k.sales_per_served
                .map(|v| format!("{v:.3}"))
                .unwrap_or_default(),
            line(SaleCategory::NewCustomer),
            line(SaleCategory::Data),
            line(SaleCategory::Phone),
            line(SaleCategory::Group),
            line(SaleCategory::Other),
            conv(SaleCategory::NewCustomer),
            conv(SaleCategory::Data),
            conv(SaleCategory::Phone),
            conv(SaleCategory::Group),
            format!("{}/{}", k.trials.purchased, k.trials.ended),
            pct(k.trial_conversion),
        ]
    };
    let mut rows = vec![row("sales total 合计".into(), &report.total.sales)];
    for (label, groups) in [("hall ", &report.halls), ("staff ", &report.staff)] {
        rows.extend(
            groups
                .iter()
                .map(|Keyed { key, kpis }| row(format!("{label}{key}"), &kpis.sales)),
        );
    }
    outln!("");
    table::print(
        &[
            "SALES 销售",
            "SALES",
            "AMOUNT ¥",
            "PER SERVED",
            "NEW 新入网",
            "DATA 流量",
            "PHONE 终端",
            "GROUP 集团",
            "OTHER",
            "NEW CONV%",
            "DATA CONV%",
            "PHONE CONV%",
            "GROUP CONV%",
            "TRIALS BOUGHT/ENDED",
            "TRIAL CONV%",
        ],
        &rows,
    );
}

/// Peaks vs sales across the halls: ρ, its interval and n, per line, and the halls left
/// out with their reasons.
fn peaks_table(p: &peakend_core::ops::sales::PeaksVsSales) {
    use peakend_core::analysis::stats::SpearmanCi;
    let rho = |c: &Option<SpearmanCi>| {
        c.as_ref()
            .map(|c| format!("{:.3}", c.rho))
            .unwrap_or_else(|| "–".into())
    };
    let ci = |c: &Option<SpearmanCi>| {
        c.as_ref()
            .map(|c| format!("[{:.3}, {:.3}]", c.ci95.0, c.ci95.1))
            .unwrap_or_default()
    };
    let mut rows = vec![vec![
        "sales per served 人均销售".to_owned(),
        rho(&p.sales_per_served),
        ci(&p.sales_per_served),
        p.n.to_string(),
    ]];
    rows.extend(p.lines.iter().map(|l| {
        vec![
            format!("{} per served", l.category.as_str()),
            rho(&l.correlation),
            ci(&l.correlation),
            p.n.to_string(),
        ]
    }));
    outln!("");
    outln!(
        "peaks vs sales 峰值满意度与销售 (Spearman ρ; halls with ≥ {} respondents behind their peaks): {}",
        p.min_respondents,
        p.halls.join(", ")
    );
    table::print(&["PEAK SATISFACTION VS", "RHO", "95% CI", "N"], &rows);
    for e in &p.excluded {
        outln!("left out 未纳入 {}: {}", e.hall, e.label);
    }
}
