//! `peakend qfd`: a journey's house of quality (issue 23, begun). Stage 1 — customer
//! needs × service encounters — seeded from the journey (each need strongly related to
//! its moment) and weighed by the survey's need elements for the org node and visit
//! purpose asked: where the customers' needs concentrate, moment by moment.

use anyhow::{Context, bail};
use clap::Args;
use peakend_core::{JourneyKey, OrgNodeId};
use peakend_store::Store;
use serde_json::json;

use crate::{Format, table};

#[derive(Args)]
pub struct QfdArgs {
    journey: JourneyKey,
    /// 1: customer needs × service encounters; 2 and 3 (encounters × process
    /// elements × quality parameters) need houses a journey file does not carry yet
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    stage: u8,
    /// The survey of the halls at or below this node (default: all)
    #[arg(long)]
    org: Option<OrgNodeId>,
    /// Only answers of this visit purpose
    #[arg(long)]
    purpose: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn run(db: &str, args: QfdArgs) -> anyhow::Result<()> {
    if args.stage != 1 {
        bail!(
            "--stage {}: only stage 1 (customer needs × service encounters) is built from a journey so far; stages 2 and 3 need its process elements and quality parameters",
            args.stage
        );
    }
    let store = crate::init(db).await?;
    let journey = crate::journey(&store, &args.journey).await?;
    if let Some(org) = &args.org
        && store.org_tree().await?.get(org).is_none()
    {
        bail!("--org: `{org}` is not in the organisation");
    }
    let (house, respondents) =
        peakend_store::qfd_stage1(&store, &journey, args.org.as_ref(), args.purpose.as_deref())
            .await
            .with_context(|| format!("journey {}: house of quality", args.journey))?;
    let ranking = house.ranking();
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "journey": args.journey.as_str(),
                "stage": 1,
                "org": args.org.as_ref().map(|o| o.as_str()),
                "purpose": args.purpose,
                "respondents": respondents,
                "house": house,
                "importance": ranking,
            }))?
        ),
        _ => {
            outln!(
                "house of quality 质量屋, stage 1 (customer needs × service encounters) of {}: {} needs × {} moments, weights from {}",
                args.journey,
                house.rows().len(),
                house.columns().len(),
                if respondents > 0 {
                    format!("{respondents} respondents' need elements")
                } else {
                    "the journey's prior importances (no answers yet)".into()
                }
            );
            let rows: Vec<Vec<String>> = ranking
                .iter()
                .map(|c| {
                    let name = house
                        .columns()
                        .iter()
                        .find(|col| col.key == c.key)
                        .map(|col| col.label.get("zh").to_owned())
                        .unwrap_or_default();
                    vec![
                        c.rank.to_string(),
                        c.key.clone(),
                        name,
                        format!("{:.1}", c.absolute),
                        format!("{:.1}%", 100.0 * c.relative),
                    ]
                })
                .collect();
            table::print(
                &["#", "MOMENT", "关键时刻", "IMPORTANCE 重要度", "SHARE 占比"],
                &rows,
            );
        }
    }
    Ok(())
}
