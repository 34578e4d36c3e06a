//! `peakend customers`: one customer across channels (issue 22) for any org node:
//! contacts and customers per channel, repeat contacts, failure demand per channel
//! pair and satisfaction per kind of moment compared across channels. Aggregates
//! only: no customer key is printed.

use anyhow::bail;
use chrono::NaiveDate;
use clap::Args;
use peakend_core::OrgNodeId;
use peakend_store::ProgrammeQuery;

use crate::journey_cmd::format_name;
use crate::{Format, table};

#[derive(Args)]
pub struct CustomersArgs {
    /// A hall, a centre or any node above them (default: all)
    #[arg(long)]
    org: Option<OrgNodeId>,
    /// First day, YYYY-MM-DD (default: 29 days before --to)
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    from: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD (default: today in the node's zone)
    #[arg(long, value_parser = peakend_core::survey::parse_date)]
    to: Option<NaiveDate>,
    /// A contact followed within this many days is a repeat (failure demand when it
    /// was unresolved and the next is about the same purpose)
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    window_days: u32,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", 100.0 * v)).unwrap_or_default()
}

pub async fn run(db: &str, args: CustomersArgs) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let (from, to) =
        crate::programme_cmd::period(&store, args.org.as_ref(), args.from, args.to).await?;
    let r = peakend_store::customer_report(
        &store,
        &ProgrammeQuery {
            org: args.org.as_ref(),
            from,
            to,
        },
        args.window_days,
    )
    .await?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&r)?),
        Format::Table => {
            outln!(
                "{from} – {to}: {} contacts 接触, {} customers 客户, repeats 重复接触 {} ({}) within {} days",
                r.contacts,
                r.customers,
                r.repeats,
                pct(r.repeat_rate),
                r.window_days
            );
            let rows: Vec<Vec<String>> = r
                .channels
                .iter()
                .map(|c| {
                    vec![
                        c.channel.clone(),
                        c.contacts.to_string(),
                        c.customers.to_string(),
                        c.unresolved.to_string(),
                    ]
                })
                .collect();
            table::print(
                &["CHANNEL 渠道", "CONTACTS", "CUSTOMERS", "UNRESOLVED"],
                &rows,
            );
            outln!("\nFailure demand 失败需求 (unresolved, then the same purpose elsewhere)");
            let rows: Vec<Vec<String>> = r
                .failure_demand
                .iter()
                .map(|f| {
                    vec![
                        f.from.clone(),
                        f.to.clone(),
                        f.count.to_string(),
                        pct(f.share),
                    ]
                })
                .collect();
            table::print(&["FROM 从", "TO 到", "COUNT", "SHARE OF UNRESOLVED"], &rows);
            outln!("\nConsistency 跨渠道一致性 (mean satisfaction per kind of moment, 1–10)");
            let rows: Vec<Vec<String>> = r
                .consistency
                .iter()
                .map(|k| {
                    let means = k
                        .channels
                        .iter()
                        .map(|c| format!("{} {:.2} (n {})", c.channel, c.mean, c.n))
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![
                        k.kind.clone(),
                        means,
                        k.spread.map(|s| format!("{s:.2}")).unwrap_or_default(),
                        if k.inconsistent {
                            "不一致 inconsistent".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            table::print(&["KIND 类型", "CHANNELS", "SPREAD", ""], &rows);
        }
        other => bail!(
            "customers supports --format table or json, not {}",
            format_name(other)
        ),
    }
    Ok(())
}
