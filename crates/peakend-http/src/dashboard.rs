//! The dashboard's two main pages for a node of the org tree: the overview (key figures,
//! drill-down, halls ranked) and the analysis (the study's charts, with filters and
//! export). Both read what the API reads, through the same store functions, so a figure
//! on a page is the figure the API gives.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Html;
use axum::routing::get;
use chrono::NaiveDate;
use peakend_core::analysis::{Analysis, GroupBy};
use peakend_core::survey::parse_date;
use peakend_core::{Journey, OrgLevel, OrgNodeId, OrgTree};
use peakend_store::{AnalysisQuery, ErrorKind};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::overview_parts::{self, TrendMonth};
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/analysis", get(analysis_page))
        .route("/overview/trend", get(overview_trend))
}

/// Filters shared by both pages; dates are `YYYY-MM-DD`, inclusive.
#[derive(Deserialize, Default)]
pub struct Filters {
    node: Option<String>,
    from: Option<String>,
    to: Option<String>,
    rank: Option<String>,
    segment: Option<String>,
    purpose: Option<String>,
    journey: Option<String>,
    /// `1`: every hall of the ranking on the page, not only the top and bottom.
    all: Option<String>,
    /// `csv` or `xlsx`: the whole ranking as a file instead of the page.
    format: Option<String>,
}

/// Rows of the ranking a page shows when it does not show all: the first and the last
/// half of this many (a province's 2,000 halls made a 1 MB page).
const RANKING_ON_PAGE: usize = 50;

#[derive(Clone, Copy)]
struct Period {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// A date the address may leave blank: `None` when absent or blank, 400 naming the
/// field when it is not a date.
pub(crate) fn optional_date(
    field: &str,
    v: &Option<String>,
) -> Result<Option<NaiveDate>, ApiError> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_date(s.trim()))
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

fn period(f: &Filters) -> Result<Period, ApiError> {
    Ok(Period {
        from: optional_date("from", &f.from)?,
        to: optional_date("to", &f.to)?,
    })
}

/// The node asked for (the user's own by default), if the user may see it.
fn chosen_node(viewer: &Viewer, tree: &OrgTree, f: &Filters) -> Result<OrgNodeId, ApiError> {
    let node = match f.node.as_deref().filter(|s| !s.is_empty()) {
        Some(n) => OrgNodeId::parse(n).map_err(|e| ApiError::bad_request(format!("node: {e}")))?,
        None => viewer.user.org.clone(),
    };
    if tree.get(&node).is_none() {
        return Err(ApiError::not_found(format!("org node `{node}` not found")));
    }
    viewer.ensure_covers(tree, &node)?;
    Ok(node)
}

/// The journey named by the filters, else the one the node's halls live by (their
/// shared one when they live by different journeys, with those others to include).
async fn journey(
    state: &AppState,
    f: &Filters,
    node: &OrgNodeId,
) -> Result<(Journey, Vec<Journey>), ApiError> {
    match f.journey.clone().filter(|k| !k.is_empty()) {
        Some(key) => Ok((crate::journeys::load(state, key).await?, Vec::new())),
        None => Ok(peakend_store::analysis_journey(state.store.as_ref(), node).await?),
    }
}

/// The analysis, or `None` when nothing was answered in range.
async fn analysis(
    state: &AppState,
    journey: &Journey,
    q: &AnalysisQuery<'_>,
) -> Result<Option<Arc<Analysis>>, ApiError> {
    match peakend_store::stored_analysis_shared(state.store.as_ref(), journey, q).await {
        Ok(a) if a.respondents > 0 => Ok(Some(a)),
        Ok(_) => Ok(None),
        // No responses in range (or none of a filtered segment): an empty page.
        Err(e) if e.kind() == ErrorKind::Invalid => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{:.1}%", v * 100.0))
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
}

struct Figure {
    key: &'static str,
    label: String,
    value: String,
    /// The latest month's change against the month before (survey figures only).
    change: String,
    /// The target the node is held to (its own or its nearest ancestor's, from the
    /// organisation), with the figure's distance to it; empty without one.
    target: String,
    /// Below its target.
    missed: bool,
}

/// A headline figure against its target: ("目标 30 · 差 −4.2", missed) in the reader's
/// language; nothing without a target or a figure.
fn against(lang: &Lang, value: Option<f64>, target: Option<i32>) -> (String, bool) {
    let (Some(v), Some(t)) = (value, target) else {
        return (String::new(), false);
    };
    let gap = v - f64::from(t);
    let signed = if gap < 0.0 {
        format!("−{:.1}", -gap)
    } else {
        format!("+{gap:.1}")
    };
    let text = if gap < 0.0 {
        lang.t("差", "short by")
    } else {
        lang.t("已达成", "met")
    };
    (
        format!("{} {t} · {text} {signed}", lang.t("目标", "Target")),
        gap < 0.0,
    )
}

struct Crumb {
    id: String,
    name: String,
}

struct RankRow {
    /// Its place in the ranking, from 1.
    pos: usize,
    id: String,
    name: String,
    parent: String,
    respondents: String,
    nps: String,
    /// `±12.3`: the NPS's conservative 95 % half-width.
    nps_ci: String,
    /// Fewer than [`overview_parts::SMALL_SAMPLE`] respondents.
    small: bool,
    /// Ranked by NPS, its interval overlaps the row above's: not told apart.
    tie: bool,
    /// The NPS and its half-width, to tell ties.
    nps_interval: Option<(f64, f64)>,
    index: String,
    /// The value tier by the share of fully satisfied respondents, with that share.
    tier: String,
    service_level: String,
    abandonment: String,
    care_alerts: String,
    sales: String,
    sales_per_served: String,
    trial_conversion: String,
}

/// A child node's card: its survey figures over the survey period, its service and
/// sales over the operations period.
struct ChildCard {
    id: String,
    name: String,
    respondents: String,
    nps: String,
    index: String,
    service_level: String,
    sales: String,
    sales_per_served: String,
    trial_conversion: String,
}

/// A hall's own view: where it stands among its district's halls, its gaps to the
/// district, the moments to work on first and what changed since yesterday.
struct HallView {
    district: String,
    /// `2 / 5`, by NPS among the district's halls with answers.
    rank: String,
    /// (figure, the hall's, the district's, hall − district, hall below).
    gaps: Vec<(String, String, String, String, bool)>,
    /// (moment, importance, satisfaction).
    weakest: Vec<(String, String, String)>,
    /// (figure, yesterday, today, change).
    since_yesterday: Vec<(String, String, String, String)>,
}

/// A sales line of the node over the operations period (issue 23).
struct SalesLineRow {
    key: &'static str,
    label: String,
    sales: u64,
    amount: String,
    /// The visits of the line's purposes converted, `converted/visits (rate)`.
    conversion: String,
}

/// The sales lines as the hall says them, Chinese first.
pub(crate) fn line_label(lang: &Lang, c: peakend_core::ops::sales::SaleCategory) -> &'static str {
    use peakend_core::ops::sales::SaleCategory;
    match c {
        SaleCategory::NewCustomer => lang.t("新入网", "New customers"),
        SaleCategory::Data => lang.t("流量业务", "Data"),
        SaleCategory::Phone => lang.t("终端销售", "Phones"),
        SaleCategory::Group => lang.t("集团业务", "Group accounts"),
        SaleCategory::Other => lang.t("其他", "Other"),
    }
}

struct RankChoice {
    key: &'static str,
    label: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    lang: Lang,
    nav: Nav,
    /// The survey figures' period in words (the chosen dates, or all answers).
    survey_period: String,
    peak_cards: Vec<overview_parts::PeakCard>,
    /// Whether the node has answers in the period (the trend panel then loads).
    has_answers: bool,
    /// The query of `/overview/trend` for this node and period.
    trend_query: String,
    /// Halls with open care alerts now: (hall id, name, count).
    alert_halls: Vec<(String, String, usize)>,
    hall_view: Option<HallView>,
    node: String,
    node_name: String,
    level: String,
    crumbs: Vec<Crumb>,
    children: Vec<ChildCard>,
    sales_lines: Vec<SalesLineRow>,
    from: String,
    to: String,
    ops_period: String,
    figures: Vec<Figure>,
    survey_figures: Vec<Figure>,
    ranks: Vec<RankChoice>,
    rows: Vec<RankRow>,
    /// The bottom of a long ranking, after `hidden` halls left out between.
    rows_tail: Vec<RankRow>,
    hidden: usize,
    /// The page's query with `all=1` (to show every hall) and for the file export.
    all_query: String,
    export_query: String,
    journeys: Vec<(String, String)>,
    hall_board: String,
}

async fn overview(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Query(f): Query<Filters>,
) -> Result<axum::response::Response, PageError> {
    use axum::response::IntoResponse;
    let export = f
        .format
        .as_deref()
        .map(|x| crate::download::FileFormat::parse(Some(x)))
        .transpose()?;
    let tree = state.store.org_tree().await?;
    let node = chosen_node(&viewer, &tree, &f)?;
    let p = period(&f)?;
    let (journey, also) = journey(&state, &f, &node).await?;
    // The children's survey figures: the halls' groups when they are halls, else the
    // node's answers grouped by the children's level (one more analysis, on a task of
    // its own: after a start both read and merge every cell of the node, on two cores).
    let child_level = tree.children(&node).next().map(|c| c.level);
    let child_task = match child_level {
        Some(OrgLevel::City | OrgLevel::District) => {
            let by = if child_level == Some(OrgLevel::City) {
                GroupBy::City
            } else {
                GroupBy::District
            };
            let (state, journey, also, node) =
                (state.clone(), journey.clone(), also.clone(), node.clone());
            Some(tokio::spawn(async move {
                analysis(
                    &state,
                    &journey,
                    &AnalysisQuery {
                        org: Some(&node),
                        from: p.from,
                        to: p.to,
                        by: Some(by),
                        also: &also,
                        ..Default::default()
                    },
                )
                .await
            }))
        }
        _ => None,
    };
    let by_hall = analysis(
        &state,
        &journey,
        &AnalysisQuery {
            org: Some(&node),
            from: p.from,
            to: p.to,
            by: Some(GroupBy::Hall),
            also: &also,
            ..Default::default()
        },
    )
    .await?;
    let child_groups: Option<Arc<Analysis>> = match child_task {
        Some(task) => task.await.map_err(|e| {
            tracing::error!(error = %e, "the children's analysis stopped");
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            )
        })??,
        None => None,
    };
    // The trend and the monthly changes come after the page, from `/overview/trend`:
    // twelve monthly analyses stay off the overview's first answer.
    let peak_cards = by_hall
        .as_ref()
        .map(|a| overview_parts::peak_cards(&lang, &journey, a, &[]))
        .unwrap_or_default();
    let survey_period = match (p.from, p.to) {
        (Some(f), Some(t)) => format!("{f} – {t}"),
        (Some(f), None) => format!("{f} {}", lang.t("起", "onwards")),
        (None, Some(t)) => format!("{} {t}", lang.t("截至", "up to")),
        _ => lang.t("全部问卷", "all answers").to_owned(),
    };
    let (nps_change, index_change) = (String::new(), String::new());
    // Operations figures for the same dates, or today when no period is chosen.
    let clock = state.clock.now();
    let offset = tree.zone_of(&node).offset_at(clock.timestamp_millis());
    let today = clock.with_timezone(&offset).date_naive();
    let (ops_from, ops_to) = (p.from.unwrap_or(today), p.to.unwrap_or(today));
    let halls: Vec<_> = tree
        .halls_under(&node)
        .iter()
        .filter_map(|n| n.hall_id())
        .collect();
    let ops = peakend_store::stored_day_ops(
        state.store.as_ref(),
        &halls,
        ops_from,
        ops_to,
        clock.timestamp_millis(),
    )
    .await?;
    let care: BTreeMap<&str, usize> = ops
        .open_care
        .iter()
        .map(|(h, n)| (h.as_str(), *n))
        .collect();
    let ix = by_hall.as_ref().map(|a| &a.indices);
    let targets = tree.targets_of(&node);
    let (nps_target, nps_missed) = against(&lang, ix.and_then(|i| i.nps), targets.nps);
    let (index_target, index_missed) = against(&lang, ix.and_then(|i| i.index), targets.index);
    let figures = vec![
        Figure {
            key: "respondents",
            label: lang.t("受访顾客", "Respondents").into(),
            value: by_hall
                .as_ref()
                .map_or_else(|| "0".into(), |a| a.respondents.to_string()),
            change: String::new(),
            target: String::new(),
            missed: false,
        },
        Figure {
            key: "nps",
            label: "NPS".into(),
            value: num(ix.and_then(|i| i.nps), 1),
            change: nps_change.clone(),
            target: nps_target,
            missed: nps_missed,
        },
        Figure {
            key: "index",
            label: lang.t("满意度指数", "Satisfaction index").into(),
            value: num(ix.and_then(|i| i.index), 1),
            change: index_change.clone(),
            target: index_target,
            missed: index_missed,
        },
        Figure {
            key: "service_level",
            label: lang.t("服务水平", "Service level").into(),
            value: pct(ops.total.service_level),
            change: String::new(),
            target: String::new(),
            missed: false,
        },
        Figure {
            key: "abandonment",
            label: lang.t("放弃率", "Abandonment").into(),
            value: pct(ops.total.abandonment_rate),
            change: String::new(),
            target: String::new(),
            missed: false,
        },
        Figure {
            key: "care_alerts",
            label: lang.t("未处理关怀提醒", "Open care alerts").into(),
            value: care.values().sum::<usize>().to_string(),
            change: String::new(),
            target: String::new(),
            missed: false,
        },
        // Sales beside service, as the study's hall KPIs show them (issue 23).
        Figure {
            key: "sales",
            label: if p.from.is_none() && p.to.is_none() {
                lang.t("今日销售", "Sales today")
            } else {
                lang.t("销售笔数", "Sales")
            }
            .into(),
            value: ops.total.sales.sales.to_string(),
            change: String::new(),
            target: String::new(),
            missed: false,
        },
        Figure {
            key: "sales_per_served",
            label: lang
                .t("人均销售（每位已服务客户）", "Sales per served customer")
                .into(),
            value: num(ops.total.sales.sales_per_served, 2),
            change: String::new(),
            target: String::new(),
            missed: false,
        },
        Figure {
            key: "trial_conversion",
            label: lang.t("体验转化率", "Trial conversion").into(),
            value: pct(ops.total.sales.trial_conversion),
            change: String::new(),
            target: String::new(),
            missed: false,
        },
    ];
    let sales_lines = ops
        .total
        .sales
        .lines
        .iter()
        .map(|l| {
            let conv = ops
                .total
                .sales
                .conversions
                .iter()
                .find(|c| c.category == l.category && c.visits > 0);
            SalesLineRow {
                key: l.category.as_str(),
                label: line_label(&lang, l.category).into(),
                sales: l.sales,
                amount: format!("{:.2}", l.amount),
                conversion: conv.map_or_else(
                    || "–".into(),
                    |c| format!("{}/{} ({})", c.converted, c.visits, pct(c.rate)),
                ),
            }
        })
        .collect();
    let rank = f.rank.as_deref().unwrap_or("nps");
    let groups: BTreeMap<&str, &Analysis> = by_hall
        .as_ref()
        .map(|a| {
            a.groups
                .iter()
                .map(|g| (g.group.as_str(), &g.analysis))
                .collect()
        })
        .unwrap_or_default();
    let hall_kpis: BTreeMap<&str, _> = ops.halls.iter().map(|(h, k)| (h.as_str(), k)).collect();
    let mut ranked: Vec<(f64, RankRow)> = halls
        .iter()
        .map(|h| {
            let a = groups.get(h.as_str());
            let k = hall_kpis.get(h.as_str());
            let sort = match rank {
                "respondents" => a.map(|a| a.respondents as f64),
                "index" => a.and_then(|a| a.indices.index),
                "top_box" => a.and_then(|a| a.indices.top_box.as_ref().map(|t| t.share)),
                "service_level" => k.and_then(|k| k.service_level),
                // Lower is better: rank by the negative.
                "abandonment" => k.and_then(|k| k.abandonment_rate).map(|x| -x),
                "care_alerts" => care.get(h.as_str()).map(|&n| n as f64),
                "sales_per_served" => k.and_then(|k| k.sales.sales_per_served),
                _ => a.and_then(|a| a.indices.nps),
            };
            let node = tree.get(&OrgNodeId::parse(h.as_str()).expect("hall ids are node ids"));
            let parent = node
                .and_then(|n| n.parent.as_ref())
                .and_then(|p| tree.get(p))
                .map(|p| p.name.clone())
                .unwrap_or_default();
            (
                sort.unwrap_or(f64::NEG_INFINITY),
                RankRow {
                    pos: 0,
                    id: h.to_string(),
                    name: node.map(|n| n.name.clone()).unwrap_or_default(),
                    parent,
                    respondents: a.map_or_else(|| "0".into(), |a| a.respondents.to_string()),
                    nps: num(a.and_then(|a| a.indices.nps), 1),
                    nps_ci: a
                        .and_then(|a| overview_parts::nps_half_width(a.indices.nps, a.respondents))
                        .map_or_else(String::new, |w| format!("±{w:.1}")),
                    small: a.is_none_or(|a| a.respondents < overview_parts::SMALL_SAMPLE),
                    tie: false,
                    nps_interval: a.and_then(|a| {
                        Some((
                            a.indices.nps?,
                            overview_parts::nps_half_width(a.indices.nps, a.respondents)?,
                        ))
                    }),
                    index: num(a.and_then(|a| a.indices.index), 1),
                    tier: a
                        .and_then(|a| a.indices.top_box.as_ref())
                        .map(|t| {
                            let name = t.tier.map_or("—", |t| {
                                let (zh, en) = t.name();
                                if lang.en { en } else { zh }
                            });
                            format!("{name} {:.0}%", 100.0 * t.share)
                        })
                        .unwrap_or_default(),
                    service_level: pct(k.and_then(|k| k.service_level)),
                    abandonment: pct(k.and_then(|k| k.abandonment_rate)),
                    care_alerts: care.get(h.as_str()).copied().unwrap_or(0).to_string(),
                    sales: k.map_or(0, |k| k.sales.sales).to_string(),
                    sales_per_served: num(k.and_then(|k| k.sales.sales_per_served), 2),
                    trial_conversion: pct(k.and_then(|k| k.sales.trial_conversion)),
                },
            )
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    // By NPS, a hall whose interval overlaps the one above it is not told apart from it.
    if rank == "nps" {
        for i in 1..ranked.len() {
            if let (Some(above), Some(here)) =
                (ranked[i - 1].1.nps_interval, ranked[i].1.nps_interval)
            {
                ranked[i].1.tie = overview_parts::intervals_overlap(above, here);
            }
        }
    }
    let mut rows: Vec<RankRow> = ranked.into_iter().map(|(_, r)| r).collect();
    for (i, r) in rows.iter_mut().enumerate() {
        r.pos = i + 1;
    }
    if let Some(format) = export {
        return ranking_file(&lang, format, &node, &rows).map_err(Into::into);
    }
    // A long ranking shows its top and bottom; every hall is one click (or the file) away.
    let (rows, rows_tail, hidden) = if rows.len() > RANKING_ON_PAGE && f.all.is_none() {
        let mut top = rows;
        let tail = top.split_off(top.len() - RANKING_ON_PAGE / 2);
        let hidden = top.len() - RANKING_ON_PAGE / 2;
        top.truncate(RANKING_ON_PAGE / 2);
        (top, tail, hidden)
    } else {
        (rows, Vec::new(), 0)
    };
    let (all_query, export_query) = {
        // The page's own query without `all` and `format`, then the one each link adds.
        let kept: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("all=") && !kv.starts_with("format="))
            .collect();
        let with = |extra: &str| {
            let mut q = kept.clone();
            q.push(extra);
            q.join("&")
        };
        (with("all=1"), with("format=csv"))
    };
    let ranks = [
        ("nps", "NPS", "NPS"),
        ("index", "满意度指数", "Satisfaction index"),
        (
            "top_box",
            "百分百满意占比（价值层级）",
            "Fully satisfied share (value tier)",
        ),
        ("respondents", "受访顾客", "Respondents"),
        ("service_level", "服务水平", "Service level"),
        (
            "abandonment",
            "放弃率（低者优先）",
            "Abandonment (lowest first)",
        ),
        ("care_alerts", "未处理关怀提醒", "Open care alerts"),
        ("sales_per_served", "人均销售", "Sales per served customer"),
    ]
    .into_iter()
    .map(|(key, zh, en)| RankChoice {
        key,
        label: lang.t(zh, en).into(),
        chosen: key == rank,
    })
    .collect();
    let this = tree.get(&node).expect("checked above");
    let crumbs = tree
        .ancestry(&node)
        .into_iter()
        .rev()
        .filter(|n| viewer.scope.covers(&tree, &n.id))
        .map(|n| Crumb {
            id: n.id.to_string(),
            name: n.name.clone(),
        })
        .collect();
    let child_survey: BTreeMap<&str, &Analysis> = match &child_groups {
        Some(g) => g
            .groups
            .iter()
            .map(|g| (g.group.as_str(), &g.analysis))
            .collect(),
        None => groups.clone(),
    };
    // Each child's halls added up from the same day sums: no second read.
    let children = tree
        .children(&node)
        .map(|n| {
            let a = child_survey.get(n.id.as_str());
            let mut sums = peakend_core::ops::ticket::KpiSums::default();
            for h in tree.halls_under(&n.id).iter().filter_map(|h| h.hall_id()) {
                if let Some(s) = ops.hall_sums.get(&h) {
                    sums.merge(s);
                }
            }
            let k = sums.kpis();
            ChildCard {
                id: n.id.to_string(),
                name: n.name.clone(),
                respondents: a.map_or_else(|| "0".into(), |a| a.respondents.to_string()),
                nps: num(a.and_then(|a| a.indices.nps), 1),
                index: num(a.and_then(|a| a.indices.index), 1),
                service_level: pct(k.service_level),
                sales: k.sales.sales.to_string(),
                sales_per_served: num(k.sales.sales_per_served, 2),
                trial_conversion: pct(k.sales.trial_conversion),
            }
        })
        .collect();
    let alert_halls: Vec<(String, String, usize)> = care
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(h, n)| {
            let name = OrgNodeId::parse(*h)
                .ok()
                .and_then(|id| tree.get(&id).map(|x| x.name.clone()))
                .unwrap_or_else(|| h.to_string());
            (h.to_string(), name, *n)
        })
        .collect();
    let hall_view = if this.level == OrgLevel::Hall {
        Some(
            hall_view(
                &state,
                &lang,
                &tree,
                &node,
                &journey,
                &also,
                &p,
                by_hall.as_deref(),
                today,
            )
            .await?,
        )
    } else {
        None
    };
    let (survey_figures, figures): (Vec<Figure>, Vec<Figure>) = figures
        .into_iter()
        .partition(|f| matches!(f.key, "respondents" | "nps" | "index"));
    let journeys = state
        .store
        .list_journeys()
        .await?
        .into_iter()
        .map(|j| (j.key.to_string(), lang.text(&j.name).to_owned()))
        .collect();
    let fmt = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    render(&OverviewPage {
        survey_period,
        peak_cards,
        has_answers: by_hall.is_some(),
        trend_query: trend_query(&node, &p, f.journey.as_deref()),
        alert_halls,
        hall_view,
        survey_figures,
        nav: Nav::of(&viewer, &tree, &lang, &uri),
        node: node.to_string(),
        node_name: this.name.clone(),
        level: lang.t(this.level.name_zh(), this.level.as_str()).into(),
        hall_board: if this.level == OrgLevel::Hall {
            node.to_string()
        } else {
            String::new()
        },
        crumbs,
        children,
        sales_lines,
        from: fmt(p.from),
        to: fmt(p.to),
        ops_period: if ops_from == ops_to {
            ops_from.to_string()
        } else {
            format!("{ops_from} – {ops_to}")
        },
        figures,
        ranks,
        rows,
        rows_tail,
        hidden,
        all_query,
        export_query,
        journeys,
        lang,
    })
    .map(IntoResponse::into_response)
    .map_err(Into::into)
}

/// The whole ranking as a file (`?format=csv|xlsx` on the overview): a row per hall in
/// the page's order, with what the page shows and the flags as words.
fn ranking_file(
    lang: &Lang,
    format: crate::download::FileFormat,
    node: &OrgNodeId,
    rows: &[RankRow],
) -> Result<axum::response::Response, ApiError> {
    let head = [
        lang.t("名次", "Rank"),
        lang.t("营业厅编号", "Hall id"),
        lang.t("营业厅", "Hall"),
        lang.t("上级", "Under"),
        lang.t("受访顾客", "Respondents"),
        lang.t("样本少", "Small sample"),
        "NPS",
        lang.t("NPS 95% 区间", "NPS 95 % interval"),
        lang.t("≈上一名", "≈ above"),
        lang.t("满意度指数", "Satisfaction index"),
        lang.t("价值层级", "Value tier"),
        lang.t("服务水平", "Service level"),
        lang.t("放弃率", "Abandonment"),
        lang.t("未处理关怀提醒", "Open care alerts"),
        lang.t("销售", "Sales"),
        lang.t("人均销售", "Sales per served"),
        lang.t("体验转化", "Trial conversion"),
    ];
    let yes = |b: bool| if b { lang.t("是", "yes") } else { "" };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.pos.to_string(),
                r.id.clone(),
                r.name.clone(),
                r.parent.clone(),
                r.respondents.clone(),
                yes(r.small).to_owned(),
                r.nps.clone(),
                r.nps_ci.clone(),
                yes(r.tie).to_owned(),
                r.index.clone(),
                r.tier.clone(),
                r.service_level.clone(),
                r.abandonment.clone(),
                r.care_alerts.clone(),
                r.sales.clone(),
                r.sales_per_served.clone(),
                r.trial_conversion.clone(),
            ]
        })
        .collect();
    let bytes = crate::download::table(format, &head, &table);
    crate::download::attachment(format, &format!("ranking-{node}"), bytes)
}

/// The hall's own view (see [`HallView`]).
#[allow(clippy::too_many_arguments)]
async fn hall_view(
    state: &AppState,
    lang: &Lang,
    tree: &OrgTree,
    hall: &OrgNodeId,
    journey: &Journey,
    also: &[Journey],
    p: &Period,
    mine: Option<&Analysis>,
    today: NaiveDate,
) -> Result<HallView, ApiError> {
    let district = tree.get(hall).and_then(|n| n.parent.clone());
    let district_name = district
        .as_ref()
        .and_then(|d| tree.get(d))
        .map(|d| d.name.clone())
        .unwrap_or_default();
    let peers = match &district {
        Some(d) => {
            analysis(
                state,
                journey,
                &AnalysisQuery {
                    org: Some(d),
                    from: p.from,
                    to: p.to,
                    by: Some(GroupBy::Hall),
                    also,
                    ..Default::default()
                },
            )
            .await?
        }
        None => None,
    };
    let name_of = |key: &str| {
        journey
            .moments()
            .iter()
            .find(|m| m.key.as_str() == key)
            .map_or_else(|| key.to_owned(), |m| lang.text(&m.name).to_owned())
    };
    let rank = peers
        .as_ref()
        .and_then(|d| {
            let list: Vec<(String, Option<f64>)> = d
                .groups
                .iter()
                .map(|g| (g.group.clone(), g.analysis.indices.nps))
                .collect();
            overview_parts::rank_among(hall, &list)
        })
        .map_or_else(|| "–".into(), |(r, n)| format!("{r} / {n}"));
    let mut gaps = Vec::new();
    if let (Some(a), Some(d)) = (mine, peers.as_ref()) {
        let row = |label: String, h: Option<f64>, dv: Option<f64>, digits: usize| {
            let gap = overview_parts::change(h, dv, digits);
            let below = matches!((h, dv), (Some(x), Some(y)) if x < y);
            (label, num(h, digits), num(dv, digits), gap, below)
        };
        gaps.push(row("NPS".into(), a.indices.nps, d.indices.nps, 1));
        gaps.push(row(
            lang.t("满意度指数", "Satisfaction index").into(),
            a.indices.index,
            d.indices.index,
            1,
        ));
        for k in a.peaks.iter().chain(std::iter::once(&a.end)) {
            let sat = |x: &Analysis| {
                x.moments
                    .iter()
                    .find(|m| &m.key == k)
                    .and_then(|m| m.satisfaction)
            };
            gaps.push(row(
                format!("{}（{}）", name_of(k), lang.t("满意度", "satisfaction")),
                sat(a),
                sat(d),
                2,
            ));
        }
    }
    let weakest = mine
        .map(|a| {
            overview_parts::weakest(a, 3)
                .into_iter()
                .map(|(k, imp, sat)| (name_of(&k), format!("{imp:.2}"), format!("{sat:.2}")))
                .collect()
        })
        .unwrap_or_default();
    // Today against yesterday, from the day roll-ups.
    let hall_id = hall.as_str().parse::<peakend_core::HallId>().ok();
    let mut since_yesterday = Vec::new();
    if let (Some(h), Some(yesterday)) = (hall_id, today.pred_opt()) {
        let now = state.clock.now().timestamp_millis();
        let day = |d: NaiveDate| {
            let h = h.clone();
            async move {
                peakend_store::stored_day_ops(
                    state.store.as_ref(),
                    std::slice::from_ref(&h),
                    d,
                    d,
                    now,
                )
                .await
                .map(|o| o.total)
            }
        };
        let (y, t) = (day(yesterday).await?, day(today).await?);
        let mins = |x: Option<f64>| x.map(|s| s / 60.0);
        // (Chinese, English, yesterday, today, digits)
        let lines = [
            (
                "到厅",
                "Arrivals",
                Some(y.arrivals as f64),
                Some(t.arrivals as f64),
                0,
            ),
            (
                "已办理",
                "Served",
                Some(y.served as f64),
                Some(t.served as f64),
                0,
            ),
            (
                "服务水平（%）",
                "Service level (%)",
                y.service_level.map(|v| v * 100.0),
                t.service_level.map(|v| v * 100.0),
                1,
            ),
            (
                "平均等候（分）",
                "Avg wait (min)",
                mins(y.asa_s),
                mins(t.asa_s),
                1,
            ),
            (
                "关怀提醒",
                "Care alerts",
                Some(y.care_alerts as f64),
                Some(t.care_alerts as f64),
                0,
            ),
            (
                "销售笔数",
                "Sales",
                Some(y.sales.sales as f64),
                Some(t.sales.sales as f64),
                0,
            ),
        ];
        for (zh, en, yv, tv, digits) in lines {
            since_yesterday.push((
                lang.t(zh, en).to_owned(),
                num(yv, digits),
                num(tv, digits),
                overview_parts::change(tv, yv, digits),
            ));
        }
    }
    Ok(HallView {
        district: district_name,
        rank,
        gaps,
        weakest,
        since_yesterday,
    })
}

struct Choice {
    value: String,
    label: String,
    chosen: bool,
}

struct NeedRow {
    moment: String,
    core: String,
    others: String,
}

#[derive(Template)]
#[template(path = "analysis.html")]
struct AnalysisPage {
    lang: Lang,
    nav: Nav,
    node_name: String,
    /// The node's id, for the link to its strategy page.
    node: String,
    journey: String,
    from: String,
    to: String,
    nodes: Vec<Choice>,
    segments: Vec<Choice>,
    purposes: Vec<Choice>,
    empty: bool,
    respondents: u64,
    peaks: String,
    end: String,
    memory_peak_end: String,
    memory_average: String,
    needs: Vec<NeedRow>,
    /// Each dimension with a score: (name, satisfaction), the radar's table.
    dimensions: Vec<(String, String)>,
    /// Service cases opened in the period by moment, most first: (moment, cases, peak
    /// or end mark), beside the peak-end results.
    case_moments: Vec<(String, i64, String)>,
    /// Each moment's comments beside its scores (issue 22).
    moment_comments: Vec<crate::analysis::MomentComments>,
    /// Gap 5 per moment: (moment, expectation, perception, gap 5, respondents).
    gap5: Vec<(String, String, String, String, u64)>,
    /// Gap 1 per moment: (moment, managers, customers, gap 1, estimates).
    gap1: Vec<(String, String, String, String, u64)>,
    /// A manager's estimate form: (moment key, name, their last estimate); empty for
    /// the other roles.
    estimate_form: Vec<(String, String, String)>,
    /// The chart data as JSON, for the page's script.
    data: String,
    export_query: String,
    /// Each moment's figures, the charts' table alternative.
    moment_rows: Vec<MomentRow>,
    /// The same moments by child of the node (halls of a district, …): the heading of
    /// each child column and a row per moment; empty for a hall.
    compare_heads: Vec<(String, u64)>,
    compare_rows: Vec<CompareRow>,
    /// What the children are (halls, districts, cities).
    compare_level: String,
}

/// One moment's figures as the charts draw them, for the tables under them.
struct MomentRow {
    name: String,
    /// 峰 / 终 and its badge's class.
    mark: (String, &'static str),
    importance: String,
    importance_ci: String,
    satisfaction: String,
    satisfaction_ci: String,
    n: u64,
    quadrant: String,
    driver: String,
}

/// One moment across the node's children: each child's satisfaction, and how far it
/// is from the node's own (a heat shade: -3…3 steps of half a point).
struct CompareRow {
    name: String,
    mark: (String, &'static str),
    cells: Vec<(String, i8)>,
}

fn trend_query(node: &OrgNodeId, p: &Period, journey: Option<&str>) -> String {
    let mut q = vec![format!("node={node}")];
    if let Some(d) = p.from {
        q.push(format!("from={d}"));
    }
    if let Some(d) = p.to {
        q.push(format!("to={d}"));
    }
    if let Some(j) = journey.filter(|j| !j.is_empty()) {
        q.push(format!("journey={}", overview_parts::encode(j)));
    }
    q.join("&")
}

/// The node's survey month by month: the twelve months up to the chosen end, or up to
/// the last month with answers (looked for two years back), each from its month's
/// roll-up cells; months before the first answer left out.
async fn monthly_trend(
    state: &AppState,
    journey: &Journey,
    node: &OrgNodeId,
    also: &[Journey],
    until: Option<NaiveDate>,
    peaks: &[String],
) -> Result<Vec<TrendMonth>, ApiError> {
    let month_of = |first: NaiveDate| {
        let (from, to) = overview_parts::month_bounds(first);
        AnalysisQuery {
            org: Some(node),
            from: Some(from),
            to: Some(to),
            also,
            ..Default::default()
        }
    };
    let mut trend = Vec::new();
    let mut first = overview_parts::month_bounds(until.unwrap_or(state.clock.now().date_naive())).0;
    for _ in 0..24 {
        let found = analysis(state, journey, &month_of(first)).await?;
        first = overview_parts::month_before(first);
        if let Some(a) = found {
            trend.push(TrendMonth::of(
                overview_parts::month_after(first),
                &a,
                peaks,
            ));
            break;
        }
    }
    if trend.is_empty() {
        return Ok(trend);
    }
    for _ in 0..11 {
        match analysis(state, journey, &month_of(first)).await? {
            Some(a) => trend.push(TrendMonth::of(first, &a, peaks)),
            None => trend.push(TrendMonth {
                month: first,
                respondents: 0,
                nps: None,
                index: None,
                peaks: None,
                moments: BTreeMap::new(),
            }),
        }
        first = overview_parts::month_before(first);
    }
    while trend.last().is_some_and(|t| t.respondents == 0) {
        trend.pop();
    }
    trend.reverse();
    Ok(trend)
}

/// `GET /overview/trend`: the overview's monthly trend and changes as JSON, fetched by
/// the page after it shows (same node, dates and scope as the overview).
async fn overview_trend(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Query(f): Query<Filters>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let tree = state.store.org_tree().await?;
    let node = chosen_node(&viewer, &tree, &f)?;
    let p = period(&f)?;
    let (journey, also) = journey(&state, &f, &node).await?;
    let whole = analysis(
        &state,
        &journey,
        &AnalysisQuery {
            org: Some(&node),
            from: p.from,
            to: p.to,
            also: &also,
            ..Default::default()
        },
    )
    .await?;
    let Some(whole) = whole else {
        return Ok(axum::Json(serde_json::json!({ "months": [] })));
    };
    let trend = monthly_trend(&state, &journey, &node, &also, p.to, &whole.peaks).await?;
    let latest = |f: &dyn Fn(&TrendMonth) -> Option<f64>, digits: usize| -> String {
        match trend.as_slice() {
            [.., b, l] => overview_parts::change(f(l), f(b), digits),
            _ => String::new(),
        }
    };
    let moments: serde_json::Map<String, serde_json::Value> =
        overview_parts::peak_cards(&lang, &journey, &whole, &trend)
            .into_iter()
            .map(|c| {
                (
                    c.key,
                    serde_json::json!({ "change": c.change, "worse": c.worse }),
                )
            })
            .collect();
    Ok(axum::Json(serde_json::json!({
        "months": trend.iter().map(TrendMonth::label).collect::<Vec<_>>(),
        "respondents": trend.iter().map(|t| t.respondents).collect::<Vec<_>>(),
        "nps": trend.iter().map(|t| t.nps.map(|x| (x * 10.0).round() / 10.0)).collect::<Vec<_>>(),
        "index": trend.iter().map(|t| t.index.map(|x| (x * 10.0).round() / 10.0)).collect::<Vec<_>>(),
        "peaks": trend.iter().map(|t| t.peaks.map(|x| (x * 100.0).round() / 100.0)).collect::<Vec<_>>(),
        "changes": {
            "nps": latest(&|t| t.nps, 1),
            "index": latest(&|t| t.index, 1),
            "moments": moments,
        },
        "labels": {
            "nps": "NPS",
            "index": lang.t("满意度指数（0–100）", "Satisfaction index (0–100)"),
            "peaks": lang.t("峰值时刻满意度（1–10 分）", "Peak moments' satisfaction (score 1–10)"),
            "left": lang.t("NPS / 指数", "NPS / index"),
            "right": lang.t("满意度（1–10 分）", "Satisfaction (1–10)"),
            "vs": lang.t("最近一月较上月", "latest month vs the one before"),
            "trend": lang.t("最近12个月趋势", "trend of the last 12 months"),
        }
    })))
}

fn quadrant_name(lang: &Lang, q: peakend_core::analysis::indices::Quadrant) -> String {
    use peakend_core::analysis::indices::Quadrant;
    match q {
        Quadrant::KeepUp => lang.t("优势区（保持）", "Strengths (keep up)"),
        Quadrant::Concentrate => lang.t("改进区（优先）", "Improve first"),
        Quadrant::LowPriority => lang.t("次要改进区", "Lower priority"),
        Quadrant::Overkill => lang.t("过度区", "Possible overkill"),
    }
    .to_owned()
}

/// Visit purposes as the questionnaire asks them (and as responses store them).
const PURPOSES: [(&str, &str); 4] = [
    ("缴费", "Paying a bill"),
    ("购机", "Buying a phone"),
    ("办理业务", "A transaction"),
    ("咨询", "An enquiry"),
];

/// JSON that is safe inside a `<script>` element.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace("</", "<\\/")
}

async fn analysis_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Query(f): Query<Filters>,
) -> Result<Html<String>, PageError> {
    let tree = state.store.org_tree().await?;
    let node = chosen_node(&viewer, &tree, &f)?;
    let p = period(&f)?;
    let (journey, also) = journey(&state, &f, &node).await?;
    let segment = f.segment.clone().filter(|s| !s.is_empty());
    let purpose = f.purpose.clone().filter(|s| !s.is_empty());
    let base = AnalysisQuery {
        org: Some(&node),
        from: p.from,
        to: p.to,
        also: &also,
        ..Default::default()
    };
    // All segments first: their list for the filter, and the weights to zero the others.
    let whole = analysis(&state, &journey, &base).await?;
    let segments_seen: Vec<String> = whole
        .as_ref()
        .map(|a| a.weights.keys().cloned().collect())
        .unwrap_or_default();
    let weights: Option<BTreeMap<String, f64>> = segment.as_ref().map(|s| {
        segments_seen
            .iter()
            .map(|k| (k.clone(), if k == s { 1.0 } else { 0.0 }))
            .collect()
    });
    let chosen = if segment.is_none() && purpose.is_none() {
        whole
    } else {
        let q = AnalysisQuery {
            weights: weights.as_ref(),
            purpose: purpose.as_deref(),
            ..base.clone()
        };
        match analysis(&state, &journey, &q).await {
            Ok(a) => a,
            // A segment or purpose with no answers in range: nothing to show, not an error.
            Err(e) if e.status.is_client_error() => None,
            Err(e) => return Err(e.into()),
        }
    };
    let name_of = |key: &str| {
        journey
            .moments()
            .iter()
            .find(|m| m.key.as_str() == key)
            .map_or_else(|| key.to_owned(), |m| lang.text(&m.name).to_owned())
    };
    let need_name = |key: &str| {
        journey
            .moments()
            .iter()
            .flat_map(|m| &m.core_needs)
            .find(|n| n.key.as_str() == key)
            .map_or_else(|| key.to_owned(), |n| lang.text(&n.text).to_owned())
    };
    let data = chosen.as_ref().map(|a| {
        serde_json::json!({
            "moments": a.moments.iter().map(|m| serde_json::json!({
                "key": m.key,
                "name": name_of(&m.key),
                "importance": m.importance,
                "importance_ci": m.importance_ci95,
                "satisfaction": m.satisfaction,
                "satisfaction_ci": m.satisfaction_ci95,
                "n": m.n,
                "driver_share": m.driver_share,
                "peak": a.peaks.contains(&m.key),
                "end": a.end == m.key,
            })).collect::<Vec<_>>(),
            "mean_importance": a.mean_importance,
            "mean_satisfaction": a.mean_satisfaction,
            "peak_threshold": a.peak_threshold,
            "memory": { "peak_end": a.memory_model.peak_end_r, "average": a.memory_model.average_r },
            "dimensions": a.dimensions.iter().filter(|d| d.score.is_some()).map(|d| {
                let (zh, en) = d.dimension.name();
                serde_json::json!({
                    "key": d.dimension.key(),
                    "name": if lang.en { en } else { zh },
                    "family": d.family,
                    "score": d.score,
                })
            }).collect::<Vec<_>>(),
            "labels": {
                "experience": lang.t("六大体验维度", "Six experience dimensions"),
                "servqual": lang.t("SERVQUAL 服务质量维度", "SERVQUAL dimensions"),
                "importance": lang.t("重要性", "Importance"),
                "satisfaction": lang.t("满意度", "Satisfaction"),
                "importance_axis": lang.t("重要性（1–10 分）", "Importance (score 1–10)"),
                "satisfaction_axis": lang.t("满意度（1–10 分）", "Satisfaction (score 1–10)"),
                "ci": lang.t("95% 置信区间", "95 % interval"),
                "mean_satisfaction": lang.t("平均满意度", "Mean satisfaction"),
                "driver_axis": lang.t("解释的方差占比（%）", "Share of explained variance (%)"),
                "mean": lang.t("平均重要性", "Mean importance"),
                "threshold": lang.t("峰值阈值", "Peak threshold"),
                "peak": lang.t("峰", "Peak"),
                "end": lang.t("终", "End"),
                "driver": lang.t("关键驱动（相对权重 %）", "Key drivers (relative weight %)"),
                "peak_end": lang.t("峰终模型", "Peak-end"),
                "average": lang.t("平均模型", "Average"),
                "memory": lang.t("与总体满意度的相关系数 r", "Correlation r with overall satisfaction"),
                "quadrant": [
                    lang.t("优势区（保持）", "Strengths (keep up)"),
                    lang.t("改进区（优先）", "Improve first"),
                    lang.t("次要改进区", "Lower priority"),
                    lang.t("过度区", "Possible overkill"),
                ],
            },
        })
    });
    let mut export = vec![format!("journey={}", journey.key()), format!("org={node}")];
    if let Some(d) = p.from {
        export.push(format!("from={d}"));
    }
    if let Some(d) = p.to {
        export.push(format!("to={d}"));
    }
    let choice = |value: &str, label: String, chosen: bool| Choice {
        value: value.to_owned(),
        label,
        chosen,
    };
    let nodes = tree
        .subtree(&viewer.user.org)
        .into_iter()
        .map(|n| {
            let depth = tree
                .ancestry(&n.id)
                .len()
                .saturating_sub(tree.ancestry(&viewer.user.org).len());
            choice(
                n.id.as_str(),
                format!("{}{}", "　".repeat(depth), n.name),
                n.id == node,
            )
        })
        .collect();
    let mut segments = vec![choice(
        "",
        lang.t("全部（按人数加权）", "All (weighted by respondents)")
            .into(),
        segment.is_none(),
    )];
    segments.extend(
        segments_seen
            .iter()
            .map(|s| choice(s, s.clone(), segment.as_deref() == Some(s.as_str()))),
    );
    let mut purposes = vec![choice("", lang.t("全部", "All").into(), purpose.is_none())];
    purposes.extend(
        PURPOSES
            .iter()
            .map(|(zh, en)| choice(zh, lang.t(zh, en).into(), purpose.as_deref() == Some(*zh))),
    );
    let needs = chosen
        .as_ref()
        .map(|a| {
            a.moments
                .iter()
                .map(|m| NeedRow {
                    moment: name_of(&m.key),
                    core: m.core_need.as_deref().map(need_name).unwrap_or_default(),
                    others: m
                        .needs
                        .iter()
                        .skip(1)
                        .map(|(k, v)| format!("{} {v:.2}", need_name(k)))
                        .collect::<Vec<_>>()
                        .join(" · "),
                })
                .collect()
        })
        .unwrap_or_default();
    let fmt = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let node_name = tree.get(&node).map(|n| n.name.clone()).unwrap_or_default();
    let case_moments = {
        let halls: Vec<peakend_core::HallId> = tree
            .subtree(&node)
            .iter()
            .filter_map(|n| n.hall_id())
            .collect();
        let zone = tree.zone_of(&node);
        let ms = |d: NaiveDate| peakend_store::local_midnight(d, zone.offset_on(d));
        let from = p.from.map(ms).unwrap_or(i64::MIN / 2);
        let to =
            p.to.and_then(|d| d.succ_opt())
                .map(ms)
                .unwrap_or(i64::MAX / 2);
        let counts = crate::cases::cases_by_moment(&state, Some(&halls), from, to).await?;
        let mut rows: Vec<(String, i64, String)> = counts
            .into_iter()
            .map(|(k, c)| {
                let mark = match chosen.as_ref() {
                    Some(a) if a.peaks.contains(&k) => lang.t("峰", "Peak").to_owned(),
                    Some(a) if a.end == k => lang.t("终", "End").to_owned(),
                    _ => String::new(),
                };
                (name_of(&k), c, mark)
            })
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    };
    let moment_comments = {
        let halls: Vec<peakend_core::HallId> = tree
            .subtree(&node)
            .iter()
            .filter_map(|n| n.hall_id())
            .collect();
        let scores = |key: &str| {
            chosen
                .as_ref()
                .and_then(|a| a.moments.iter().find(|m| m.key == key))
                .map(|m| {
                    let f = |x: Option<f64>| x.map(|x| format!("{x:.2}")).unwrap_or_default();
                    (f(m.importance), f(m.satisfaction))
                })
                .unwrap_or_default()
        };
        crate::analysis::moment_comments(&state, &journey, &halls, p.from, p.to, &scores, lang)
            .await?
    };
    let gap5 = chosen
        .as_ref()
        .and_then(|a| a.gaps.as_ref())
        .map(|g| {
            g.moments
                .iter()
                .map(|m| {
                    (
                        name_of(m.moment.as_str()),
                        format!("{:.2}", m.expectation),
                        format!("{:.2}", m.perception),
                        format!("{:+.2}", m.gap5),
                        m.n,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let gap1 = peakend_store::gap1_report(state.store.as_ref(), &journey, &node)
        .await?
        .map(|r| {
            r.moments
                .iter()
                .map(|m| {
                    (
                        name_of(m.moment.as_str()),
                        format!("{:.2}", m.managers),
                        format!("{:.2}", m.customers),
                        format!("{:+.2}", m.gap1),
                        m.estimates,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let estimate_form =
        if peakend_core::analysis::gaps::ESTIMATING_ROLES.contains(&viewer.user.role) {
            let mine = state
                .store
                .estimates(journey.key())
                .await?
                .into_iter()
                .find(|(user, _, _)| user == viewer.user.name.as_str())
                .map(|(_, b, _)| b.estimates)
                .unwrap_or_default();
            journey
                .moments()
                .iter()
                .map(|m| {
                    let last = mine
                        .iter()
                        .find(|e| e.moment == m.key)
                        .map(|e| format!("{}", e.importance))
                        .unwrap_or_default();
                    (m.key.to_string(), lang.text(&m.name).to_owned(), last)
                })
                .collect()
        } else {
            Vec::new()
        };
    let f2 = |x: Option<f64>| x.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"));
    let ci = |x: Option<(f64, f64)>| {
        x.map_or_else(|| "–".to_owned(), |(lo, hi)| format!("{lo:.2}–{hi:.2}"))
    };
    let mark_of = |a: &Analysis, key: &str| match (a.peaks.iter().any(|p| p == key), a.end == key) {
        (true, _) => (lang.t("峰", "Peak").to_owned(), "peak"),
        (_, true) => (lang.t("终", "End").to_owned(), "end"),
        _ => (String::new(), ""),
    };
    let moment_rows: Vec<MomentRow> = chosen
        .as_ref()
        .map(|a| {
            a.moments
                .iter()
                .map(|m| MomentRow {
                    name: name_of(&m.key),
                    mark: mark_of(a, &m.key),
                    importance: f2(m.importance),
                    importance_ci: ci(m.importance_ci95),
                    satisfaction: f2(m.satisfaction),
                    satisfaction_ci: ci(m.satisfaction_ci95),
                    n: m.n,
                    quadrant: m
                        .quadrant
                        .map(|q| quadrant_name(&lang, q))
                        .unwrap_or_default(),
                    driver: m
                        .driver_share
                        .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}%")),
                })
                .collect()
        })
        .unwrap_or_default();
    // The same moments by the node's children, on the same filters.
    let child_level = match tree.get(&node).map(|n| n.level) {
        Some(OrgLevel::Province) => Some((GroupBy::City, lang.t("各地市", "By city"))),
        Some(OrgLevel::City) => Some((GroupBy::District, lang.t("各区县", "By district"))),
        Some(OrgLevel::District) => Some((GroupBy::Hall, lang.t("各营业厅", "By hall"))),
        _ => None,
    };
    let (mut compare_heads, mut compare_rows, mut compare_level) =
        (Vec::new(), Vec::new(), String::new());
    if let (Some(a), Some((by, label))) = (chosen.as_ref(), child_level) {
        let q = AnalysisQuery {
            weights: weights.as_ref(),
            purpose: purpose.as_deref(),
            by: Some(by),
            ..base.clone()
        };
        let grouped = match analysis(&state, &journey, &q).await {
            Ok(g) => g,
            Err(e) if e.status.is_client_error() => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(g) = grouped.filter(|g| g.groups.len() > 1) {
            compare_level = label.to_owned();
            let name = |id: &str| {
                OrgNodeId::parse(id)
                    .ok()
                    .and_then(|n| tree.get(&n).map(|n| n.name.clone()))
                    .unwrap_or_else(|| id.to_owned())
            };
            compare_heads = g
                .groups
                .iter()
                .map(|c| (name(&c.group), c.analysis.respondents))
                .collect();
            compare_rows = a
                .moments
                .iter()
                .map(|m| CompareRow {
                    name: name_of(&m.key),
                    mark: mark_of(a, &m.key),
                    cells: g
                        .groups
                        .iter()
                        .map(|c| {
                            let sat = c
                                .analysis
                                .moments
                                .iter()
                                .find(|x| x.key == m.key)
                                .and_then(|x| x.satisfaction);
                            let shade = match (sat, m.satisfaction) {
                                (Some(x), Some(all)) => {
                                    ((x - all) / 0.5).round().clamp(-3.0, 3.0) as i8
                                }
                                _ => 0,
                            };
                            (f2(sat), shade)
                        })
                        .collect(),
                })
                .collect();
        }
    }
    render(&AnalysisPage {
        moment_rows,
        compare_heads,
        compare_rows,
        compare_level,
        gap5,
        gap1,
        estimate_form,
        moment_comments,
        case_moments,
        nav: Nav::of(&viewer, &tree, &lang, &uri),
        node_name,
        node: node.to_string(),
        journey: journey.key().to_string(),
        from: fmt(p.from),
        to: fmt(p.to),
        nodes,
        segments,
        purposes,
        empty: chosen.is_none(),
        respondents: chosen.as_ref().map_or(0, |a| a.respondents),
        peaks: chosen
            .as_ref()
            .map(|a| {
                a.peaks
                    .iter()
                    .map(|k| name_of(k))
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default(),
        end: chosen.as_ref().map(|a| name_of(&a.end)).unwrap_or_default(),
        memory_peak_end: num(chosen.as_ref().and_then(|a| a.memory_model.peak_end_r), 3),
        memory_average: num(chosen.as_ref().and_then(|a| a.memory_model.average_r), 3),
        needs,
        dimensions: chosen
            .as_ref()
            .map(|a| {
                a.dimensions
                    .iter()
                    .filter_map(|d| {
                        let (zh, en) = d.dimension.name();
                        let name = if lang.en { en } else { zh };
                        Some((name.to_owned(), format!("{:.2}", d.score?)))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        data: data
            .as_ref()
            .map(script_json)
            .unwrap_or_else(|| "null".into()),
        export_query: export.join("&"),
        lang,
    })
    .map_err(Into::into)
}
