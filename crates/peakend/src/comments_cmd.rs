//! `peakend survey comments`: the stored comments of a journey, each with its hall,
//! date, moments and sentiment, and the top phrases per moment and hall; and the
//! hidden `peakend bench-comments FILE` that times the same reading on a file of
//! comments (one a line) for bench/comments.py.

use std::collections::BTreeMap;

use peakend_core::{Journey, JourneyKey, OrgNodeId};
use peakend_store::Store;
use peakend_text::{Analyser, PhraseCounts, Reading};
use serde_json::json;

use crate::Format;

/// How many top phrases are listed per moment and hall.
const TOP: usize = 5;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Top phrases per (moment, hall): the content words of the clauses on each moment.
fn top_phrases<'a>(
    readings: impl Iterator<Item = (&'a Reading, &'a str)>,
) -> BTreeMap<(usize, String), Vec<(String, u32)>> {
    let mut counts: BTreeMap<(usize, String), PhraseCounts> = BTreeMap::new();
    for (reading, hall) in readings {
        for (m, phrase) in &reading.phrases {
            counts.entry((*m, hall.to_owned())).or_default().add(phrase);
        }
    }
    counts.into_iter().map(|(k, c)| (k, c.top(TOP))).collect()
}

fn moment_names(j: &Journey, r: &Reading) -> Vec<String> {
    r.moments
        .iter()
        .map(|m| j.moments()[m.moment].name.zh.clone())
        .collect()
}

pub async fn run(
    db: &str,
    journey: JourneyKey,
    org: Option<OrgNodeId>,
    format: Format,
) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let j = crate::journey(&store, &journey).await?;
    let halls = match &org {
        Some(o) => {
            let tree = store.org_tree().await?;
            if tree.get(o).is_none() {
                anyhow::bail!("--org: `{o}` is not in the organisation");
            }
            Some(
                tree.subtree(o)
                    .iter()
                    .filter_map(|n| n.hall_id())
                    .collect::<Vec<_>>(),
            )
        }
        None => None,
    };
    let comments = store.comments(&j, halls.as_deref(), None, None).await?;
    let analyser = peakend_store::comment_analyser(&j);
    let texts: Vec<&str> = comments.iter().map(|c| c.comment.as_str()).collect();
    let readings = analyser.read_many(&texts, threads());
    let top = top_phrases(
        readings
            .iter()
            .zip(comments.iter().map(|c| c.hall.as_str())),
    );
    match format {
        Format::Json | Format::Yaml => {
            let items: Vec<_> = comments
                .iter()
                .zip(&readings)
                .map(|(c, r)| {
                    json!({
                        "respondent": c.respondent,
                        "hall": c.hall.as_str(),
                        "date": c.date.to_string(),
                        "comment": c.comment,
                        "sentiment": r.sentiment.as_str(),
                        "score": (r.score * 100.0).round() / 100.0,
                        "moments": r.moments.iter().map(|m| json!({
                            "moment": j.moments()[m.moment].key.as_str(),
                            "name": j.moments()[m.moment].name.zh,
                            "sentiment": m.sentiment.as_str(),
                            "score": (m.score * 100.0).round() / 100.0,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let phrases: Vec<_> = top
                .iter()
                .map(|((m, hall), top)| {
                    json!({
                        "moment": j.moments()[*m].key.as_str(),
                        "hall": hall,
                        "phrases": top.iter().map(|(p, n)| json!({"phrase": p, "count": n})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let doc =
                json!({"journey": j.key().as_str(), "comments": items, "top_phrases": phrases});
            outln!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table | Format::Csv => {
            let rows: Vec<Vec<String>> = comments
                .iter()
                .zip(&readings)
                .map(|(c, r)| {
                    let text: String = c.comment.chars().take(60).collect();
                    let more = if c.comment.chars().count() > 60 {
                        "…"
                    } else {
                        ""
                    };
                    vec![
                        c.hall.to_string(),
                        c.date.to_string(),
                        r.sentiment.zh().to_owned(),
                        moment_names(&j, r).join("、"),
                        format!("{text}{more}"),
                    ]
                })
                .collect();
            crate::table::print(&["厅", "日期", "情感", "环节", "留言"], &rows);
            outln!("");
            let rows: Vec<Vec<String>> = top
                .iter()
                .map(|((m, hall), top)| {
                    vec![
                        j.moments()[*m].name.zh.clone(),
                        hall.clone(),
                        top.iter()
                            .map(|(p, n)| format!("{p}({n})"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]
                })
                .collect();
            crate::table::print(&["环节", "厅", "高频短语"], &rows);
        }
    }
    Ok(())
}

/// Reads every line of `file` as a comment on the built-in service-hall journey, as
/// `survey comments` reads stored ones, and prints what it took.
pub fn bench(file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)?;
    let comments: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let j = peakend_core::builtin::journeys()
        .map_err(anyhow::Error::msg)?
        .remove(0);
    let start = std::time::Instant::now();
    let analyser = Analyser::new(&j);
    let built = start.elapsed();
    let readings = analyser.read_many(&comments, threads());
    let top = top_phrases(readings.iter().map(|r| (r, "all")));
    let took = start.elapsed();
    let assigned = readings.iter().filter(|r| !r.moments.is_empty()).count();
    let negative = readings
        .iter()
        .filter(|r| r.sentiment == peakend_text::Sentiment::Negative)
        .count();
    outln!(
        "{}",
        json!({
            "comments": comments.len(),
            "threads": threads(),
            "build_s": built.as_secs_f64(),
            "total_s": took.as_secs_f64(),
            "assigned": assigned,
            "negative": negative,
            "moments_with_phrases": top.len(),
        })
    );
    Ok(())
}
