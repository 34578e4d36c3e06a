//! `peakend survey rates` and `peakend survey waits`: the survey programme's response
//! rates with the non-response check, and satisfaction by minutes waited with the
//! tolerance point and staff and counter effects (issue 22).

use anyhow::bail;
use chrono::NaiveDate;
use peakend_core::OrgNodeId;
use peakend_core::analysis::programme::{Effect, RateCounts};
use peakend_store::{ProgrammeQuery, RateLine, RatesReport, Store, WaitsReport};

use crate::{Format, table};

/// The period asked for; by default the 30 days up to today in the node's zone.
pub async fn period(
    store: &dyn Store,
    org: Option<&OrgNodeId>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<(NaiveDate, NaiveDate)> {
    let tree = store.org_tree().await?;
    if let Some(o) = org
        && tree.get(o).is_none()
    {
        bail!("--org: `{o}` is not in the organisation");
    }
    peakend_store::programme_period(&tree, org, from, to, chrono::Utc::now().timestamp_millis())
        .map_err(|e| anyhow::anyhow!("--{e}"))
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", 100.0 * v)).unwrap_or_default()
}

fn f2(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_default()
}

fn interval(x: Option<(f64, f64)>) -> String {
    x.map(|(lo, hi)| format!("{lo:.2}–{hi:.2}"))
        .unwrap_or_default()
}

fn rate_rows(lines: &[RateLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| rate_row(&l.key, l.name.as_deref().unwrap_or(""), &l.counts))
        .collect()
}

fn rate_row(key: &str, name: &str, c: &RateCounts) -> Vec<String> {
    vec![
        key.to_owned(),
        name.to_owned(),
        c.invited.to_string(),
        c.answered.to_string(),
        pct(c.rate),
        c.suppressed.to_string(),
    ]
}

pub async fn rates(
    db: &str,
    org: Option<OrgNodeId>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    format: Format,
) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let (from, to) = period(&store, org.as_ref(), from, to).await?;
    let report = peakend_store::response_rates(
        &store,
        &ProgrammeQuery {
            org: org.as_ref(),
            from,
            to,
        },
    )
    .await?;
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => print_rates(&report),
        other => bail!(
            "survey rates supports --format table or json, not {}",
            crate::journey_cmd::format_name(other)
        ),
    }
    Ok(())
}

fn print_rates(r: &RatesReport) {
    outln!("回答率 Response rates {} – {}", r.from, r.to);
    let head = |first: &'static str| {
        [
            first,
            "名称 NAME",
            "邀请 INVITED",
            "回答 ANSWERED",
            "回答率 RATE",
            "未邀请 SUPPRESSED",
        ]
    };
    let mut rows = rate_rows(&r.halls);
    rows.push(rate_row("合计 total", "", &r.total));
    table::print(&head("营业厅 HALL"), &rows);
    outln!("");
    table::print(&head("客户群 SEGMENT"), &rate_rows(&r.segments));
    outln!("");
    table::print(&head("目的 PURPOSE"), &rate_rows(&r.purposes));
    if !r.total.suppressed_by.is_empty() {
        let why: Vec<String> = r
            .total
            .suppressed_by
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        outln!("未邀请原因 suppressed: {}", why.join("; "));
    }
    let nr = &r.non_response;
    outln!("");
    outln!(
        "无应答检查 Non-response check: {} respondents 回答者 against {} served visits 到访",
        nr.respondents,
        nr.visits
    );
    let rows: Vec<Vec<String>> = nr
        .cells
        .iter()
        .map(|c| {
            vec![
                c.segment.clone(),
                c.purpose.clone(),
                c.respondents.to_string(),
                c.visits.to_string(),
                pct(c.respondent_share),
                pct(c.visit_share),
                c.difference
                    .map(|d| format!("{:+.1}", 100.0 * d))
                    .unwrap_or_default(),
                f2(c.expected),
            ]
        })
        .collect();
    table::print(
        &[
            "客户群 SEGMENT",
            "目的 PURPOSE",
            "回答 RESP",
            "到访 VISITS",
            "RESP%",
            "VISIT%",
            "DIFF pts",
            "EXPECTED",
        ],
        &rows,
    );
    match (nr.chi_square, nr.df, nr.p_value) {
        (Some(x), Some(df), Some(p)) => {
            outln!(
                "χ² = {x:.3}, df {df}, p = {p:.4}: {}",
                if p < 0.05 {
                    "回答者与到访客户构成不同 respondents differ from the visits (p < 0.05): consider --rake"
                } else {
                    "未见显著差异 no significant difference from the visits"
                }
            );
            if nr.small_expected > 0 {
                outln!(
                    "注意 note: {} cells expect fewer than 5 respondents; the χ² is rough",
                    nr.small_expected
                );
            }
        }
        _ => outln!("χ²: 数据不足 not enough cells with visits and respondents to test"),
    }
    if nr.unmatched_respondents > 0 {
        outln!(
            "{} respondents 回答者 are in cells without visits, left out of the test",
            nr.unmatched_respondents
        );
    }
}

pub async fn waits(
    db: &str,
    org: Option<OrgNodeId>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    format: Format,
) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    let (from, to) = period(&store, org.as_ref(), from, to).await?;
    let report = peakend_store::wait_report(
        &store,
        &ProgrammeQuery {
            org: org.as_ref(),
            from,
            to,
        },
    )
    .await?;
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => print_waits(&report),
        other => bail!(
            "survey waits supports --format table or json, not {}",
            crate::journey_cmd::format_name(other)
        ),
    }
    Ok(())
}

fn effect_rows(effects: &[Effect]) -> Vec<Vec<String>> {
    effects
        .iter()
        .map(|e| {
            vec![
                e.hall.clone(),
                e.key.clone(),
                e.n.to_string(),
                format!("{:.2}", e.mean),
                format!("{:.2}", e.hall_mean),
                format!("{:.2}", e.shrunk),
                interval(Some(e.shrunk_ci95)),
                format!("{:.2}", e.weight),
            ]
        })
        .collect()
}

fn print_waits(r: &WaitsReport) {
    outln!(
        "等候与满意度 Satisfaction by minutes waited {} – {}: {} answers through invitations 邀请回答, {} with a wait and a rating of {}",
        r.from,
        r.to,
        r.answers,
        r.rated_waits,
        if r.wait_moments.is_empty() {
            "the queue moment".to_owned()
        } else {
            r.wait_moments.join(", ")
        }
    );
    let rows: Vec<Vec<String>> = r
        .bins
        .iter()
        .map(|b| {
            vec![
                match b.to_min {
                    Some(hi) => format!("{}–{}", b.from_min, hi),
                    None => format!("{}+", b.from_min),
                },
                b.n.to_string(),
                f2(b.mean),
                interval(b.ci95),
            ]
        })
        .collect();
    table::print(&["等候分钟 WAIT MIN", "N", "满意度 MEAN", "95% CI"], &rows);
    let t = &r.tolerance;
    let source = match t.source {
        "journey" => "the journey's tolerable_wait 旅程标准",
        "respondents" => "the respondents' stated tolerable wait 客户自报",
        _ => "the study 研究结论",
    };
    match &r.fit {
        Some(f) => outln!(
            "容忍点 tolerance point: {:.1} min (95% {}; {} resamples), slope 斜率 {:.3} → {:.3} per min; reference 参照 {:.1} min ({source}), difference 差 {:+.1} min{}",
            f.break_min,
            f.break_ci95
                .map(|(lo, hi)| format!("{lo:.1}–{hi:.1}"))
                .unwrap_or_else(|| "–".into()),
            f.resamples,
            f.slope_before,
            f.slope_after,
            t.reference_min,
            t.difference_min.unwrap_or_default(),
            match t.reference_in_interval {
                Some(true) => "; within the interval 在区间内",
                Some(false) => "; outside the interval 在区间外",
                None => "",
            }
        ),
        None => outln!(
            "容忍点 tolerance point: 数据不足 too few answers with a wait (at least 6, on several waits); reference 参照 {:.1} min ({source})",
            t.reference_min
        ),
    }
    let head = |what: &'static str| {
        [
            "营业厅 HALL",
            what,
            "N",
            "均值 MEAN",
            "厅均值 HALL",
            "收缩 SHRUNK",
            "95% CI",
            "B",
        ]
    };
    outln!("");
    outln!(
        "员工与柜台 Staff and counter effects on {} (empirical Bayes, shrunk to the hall mean 向厅均值收缩)",
        if r.staff_moments.is_empty() {
            "the staff moments".to_owned()
        } else {
            r.staff_moments.join(", ")
        }
    );
    table::print(&head("工号 STAFF"), &effect_rows(&r.staff));
    outln!("");
    table::print(&head("柜台 COUNTER"), &effect_rows(&r.counters));
}
