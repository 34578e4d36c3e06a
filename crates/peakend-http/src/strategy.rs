//! The strategy page (issue 23): `GET /api/v1/strategy/{journey}?org=` ranks the
//! dimensions of the node's halls beside its stored strategy (as `peakend strategy`
//! does), `PUT` saves a director's strategy (roles that may change standards; 422
//! listing every problem by its path), `…/export?format=csv|xlsx` gives the execution
//! map, and `/strategy/{journey}?org=` is the page that edits it.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::access::Action;
use peakend_core::strategy::{GapSource, Strategy};
use peakend_core::{Dimension, Journey, OrgNodeId};
use peakend_store::StrategyView;
use serde::Deserialize;

use crate::auth::Viewer;
use crate::download::{FileFormat, attachment};
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/strategy/{journey}", get(read).put(save))
        .route("/api/v1/strategy/{journey}/export", get(export))
        .route("/strategy/{journey}", get(page))
}

#[derive(Deserialize)]
struct StrategyQuery {
    org: Option<String>,
    /// Of the export: `csv` (default) or `xlsx`.
    format: Option<String>,
    /// Labels of the export: `zh` (default) or `en`.
    lang: Option<String>,
}

/// The journey and the org node asked (default the viewer's), in the viewer's scope.
async fn target(
    state: &AppState,
    viewer: &Viewer,
    journey: String,
    q: &StrategyQuery,
) -> Result<(Journey, OrgNodeId), ApiError> {
    viewer.require(Action::View)?;
    let org = match &q.org {
        Some(o) if !o.trim().is_empty() => {
            OrgNodeId::parse(o.trim()).map_err(|e| ApiError::bad_request(format!("org: {e}")))?
        }
        _ => viewer.user.org.clone(),
    };
    viewer.ensure_covers(&state.store.org_tree().await?, &org)?;
    let journey = crate::journeys::load(state, journey).await?;
    Ok((journey, org))
}

async fn read(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(journey): Path<String>,
    Query(q): Query<StrategyQuery>,
) -> Result<Json<StrategyView>, ApiError> {
    let (journey, org) = target(&state, &viewer, journey, &q).await?;
    Ok(Json(
        peakend_store::strategy_view(state.store.as_ref(), &journey, &org).await?,
    ))
}

/// A director's strategy, replaced whole; answered with the new ranking.
async fn save(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(journey): Path<String>,
    Query(q): Query<StrategyQuery>,
    body: Bytes,
) -> Result<Json<StrategyView>, ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::EditStandards)?;
    let (journey, org) = target(&state, &viewer, journey, &q).await?;
    let strategy = Strategy::parse(&body, &journey).map_err(|p| ApiError::unprocessable(&p))?;
    state
        .store
        .put_strategy(&org, journey.key(), &strategy, viewer.user.name.as_str())
        .await?;
    Ok(Json(
        peakend_store::strategy_view(state.store.as_ref(), &journey, &org).await?,
    ))
}

fn dimension_name(d: Dimension, en: bool) -> &'static str {
    let (zh, e) = d.name();
    if en { e } else { zh }
}

/// A spreadsheet cannot take a director's text for a formula.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

const MAP_HEADER: [(&str, &str); 8] = [
    ("主题", "theme"),
    ("主题名称", "theme_name"),
    ("子主题", "sub_themes"),
    ("举措", "initiative"),
    ("负责人", "owner"),
    ("截止日期", "due"),
    ("状态", "status"),
    ("关键时刻", "moments"),
];

/// The execution map: one row per initiative (the theme and sub-themes on each), or
/// one row with the theme alone before any initiative.
fn map_rows(journey: &Journey, s: &Strategy, en: bool) -> Vec<Vec<String>> {
    let theme = s.theme.map(|d| d.key().to_owned()).unwrap_or_default();
    let theme_name = s
        .theme
        .map(|d| dimension_name(d, en).to_owned())
        .unwrap_or_default();
    let subs = s
        .sub_themes
        .iter()
        .map(|t| cell(t))
        .collect::<Vec<_>>()
        .join(if en { "; " } else { "；" });
    let moment_name = |k: &peakend_core::MomentKey| {
        journey.moment(k).map_or_else(
            || k.to_string(),
            |m| format!("{} {}", k, if en { &m.name.en } else { &m.name.zh }),
        )
    };
    if s.initiatives.is_empty() {
        return vec![vec![
            theme,
            theme_name,
            subs,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]];
    }
    s.initiatives
        .iter()
        .map(|i| {
            let (zh, e) = i.status.name();
            vec![
                theme.clone(),
                theme_name.clone(),
                subs.clone(),
                cell(&i.title),
                cell(&i.owner),
                i.due.map(|d| d.to_string()).unwrap_or_default(),
                if en { e.to_owned() } else { zh.to_owned() },
                i.moments
                    .iter()
                    .map(moment_name)
                    .collect::<Vec<_>>()
                    .join("; "),
            ]
        })
        .collect()
}

fn ranking_rows(v: &StrategyView, en: bool) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = if en {
        vec![
            "rank",
            "dimension",
            "importance share",
            "satisfaction",
            "gap",
            "feasibility",
            "priority",
            "note",
        ]
    } else {
        vec![
            "排名",
            "维度",
            "重要性占比",
            "满意度",
            "差距",
            "可行性",
            "优先度",
            "说明",
        ]
    };
    let num = |x: Option<f64>, d: usize| x.map_or(String::new(), |x| format!("{x:.d$}"));
    let rows = v
        .ranking
        .iter()
        .map(|r| {
            vec![
                r.rank.map_or(String::new(), |n| n.to_string()),
                dimension_name(r.dimension, en).to_owned(),
                r.importance_share
                    .map_or(String::new(), |x| format!("{:.1}%", 100.0 * x)),
                num(r.satisfaction, 2),
                num(r.gap, 2),
                r.feasibility.to_string(),
                num(r.priority, 3),
                r.unranked
                    .map(|u| {
                        let (zh, e) = u.name();
                        (if en { e } else { zh }).to_owned()
                    })
                    .unwrap_or_default(),
            ]
        })
        .collect();
    (header, rows)
}

fn xlsx(journey: &Journey, v: &StrategyView, en: bool) -> Result<Vec<u8>, String> {
    use crate::download::write_sheet;
    let mut book = rust_xlsxwriter::Workbook::new();
    let e = |e: rust_xlsxwriter::XlsxError| e.to_string();
    let head: Vec<&str> = MAP_HEADER
        .iter()
        .map(|h| if en { h.1 } else { h.0 })
        .collect();
    let sheet = book
        .add_worksheet()
        .set_name(if en { "Execution map" } else { "执行地图" })
        .map_err(e)?;
    write_sheet(sheet, &head, &map_rows(journey, &v.strategy, en)).map_err(e)?;
    let sheet = book
        .add_worksheet()
        .set_name(if en { "Dimensions" } else { "维度排序" })
        .map_err(e)?;
    let (header, rows) = ranking_rows(v, en);
    write_sheet(sheet, &header, &rows).map_err(e)?;
    book.save_to_buffer().map_err(e)
}

fn csv(journey: &Journey, s: &Strategy, en: bool) -> Result<Vec<u8>, csv::Error> {
    // UTF-8 with a BOM, so Excel opens the Chinese as it is; machine-readable keys.
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(MAP_HEADER.iter().map(|h| h.1))?;
        for r in map_rows(journey, s, en) {
            w.write_record(&r)?;
        }
        w.flush()?;
    }
    Ok(out)
}

async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(journey): Path<String>,
    Query(q): Query<StrategyQuery>,
) -> Result<Response, ApiError> {
    let en = match q.lang.as_deref() {
        None | Some("zh") => false,
        Some("en") => true,
        Some(other) => return Err(ApiError::bad_request(format!("lang: {other}: zh or en"))),
    };
    let format = FileFormat::parse(q.format.as_deref())?;
    let (journey, org) = target(&state, &viewer, journey, &q).await?;
    let v = peakend_store::strategy_view(state.store.as_ref(), &journey, &org).await?;
    let name = format!("strategy-{}-{}", journey.key(), org);
    let bytes = match format {
        FileFormat::Xlsx => xlsx(&journey, &v, en),
        FileFormat::Csv => csv(&journey, &v.strategy, en).map_err(|e| e.to_string()),
    };
    attachment(format, &name, bytes)
}

struct DimensionRow {
    rank: String,
    key: String,
    name: String,
    importance_share: String,
    satisfaction: String,
    gap: String,
    gap5: bool,
    feasibility: u8,
    entered: bool,
    priority: String,
    note: String,
    theme: bool,
}

struct InitiativeRow {
    title: String,
    owner: String,
    due: String,
    status: String,
    status_name: String,
    /// (key, name, chosen) for every moment of the journey, and any stored key the
    /// journey has since dropped.
    moments: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "strategy.html")]
struct StrategyPage {
    lang: Lang,
    nav: Nav,
    key: String,
    title: String,
    org: String,
    org_name: String,
    respondents: u64,
    gap5: bool,
    rows: Vec<DimensionRow>,
    /// (key, name) of every dimension, for the theme.
    dimensions: Vec<(String, String)>,
    theme: String,
    theme_name: String,
    sub_themes: Vec<String>,
    initiatives: Vec<InitiativeRow>,
    /// (key, name) of the journey's moments, for a new initiative.
    moments: Vec<(String, String)>,
    statuses: Vec<(String, String)>,
    updated: String,
    editable: bool,
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(journey): Path<String>,
    Query(q): Query<StrategyQuery>,
) -> Result<Html<String>, PageError> {
    let tree = state.store.org_tree().await?;
    let nav = Nav::of(&viewer, &tree, &lang, &uri);
    let (journey, org) = target(&state, &viewer, journey, &q).await?;
    let v = peakend_store::strategy_view(state.store.as_ref(), &journey, &org).await?;
    let en = lang.en;
    let num = |x: Option<f64>, d: usize| x.map_or("—".to_owned(), |x| format!("{x:.d$}"));
    let rows = v
        .ranking
        .iter()
        .map(|r| DimensionRow {
            rank: r.rank.map_or("—".to_owned(), |n| n.to_string()),
            key: r.dimension.key().to_owned(),
            name: dimension_name(r.dimension, en).to_owned(),
            importance_share: r
                .importance_share
                .map_or("—".to_owned(), |x| format!("{:.1}%", 100.0 * x)),
            satisfaction: num(r.satisfaction, 2),
            gap: num(r.gap, 2),
            gap5: r.gap_source == Some(GapSource::Gap5),
            feasibility: r.feasibility,
            entered: r.feasibility_entered,
            priority: num(r.priority, 3),
            note: r
                .unranked
                .map(|u| lang.t(u.name().0, u.name().1).to_owned())
                .unwrap_or_default(),
            theme: r.theme,
        })
        .collect();
    let moment_list: Vec<(String, String)> = journey
        .moments()
        .iter()
        .map(|m| (m.key.to_string(), lang.text(&m.name).to_owned()))
        .collect();
    let initiatives = v
        .strategy
        .initiatives
        .iter()
        .map(|i| {
            let mut moments: Vec<(String, String, bool)> = moment_list
                .iter()
                .map(|(k, n)| {
                    (
                        k.clone(),
                        n.clone(),
                        i.moments.iter().any(|m| m.as_str() == k),
                    )
                })
                .collect();
            for m in &i.moments {
                if journey.moment(m).is_none() {
                    moments.push((m.to_string(), m.to_string(), true));
                }
            }
            InitiativeRow {
                title: i.title.clone(),
                owner: i.owner.clone(),
                due: i.due.map(|d| d.to_string()).unwrap_or_default(),
                status: i.status.key().to_owned(),
                status_name: lang.t(i.status.name().0, i.status.name().1).to_owned(),
                moments,
            }
        })
        .collect();
    use peakend_core::strategy::InitiativeStatus as S;
    let statuses = [S::Planned, S::Doing, S::Done]
        .into_iter()
        .map(|s| {
            (
                s.key().to_owned(),
                lang.t(s.name().0, s.name().1).to_owned(),
            )
        })
        .collect();
    let updated = match (v.updated_at, &v.updated_by) {
        (Some(at), Some(by)) => chrono::DateTime::from_timestamp_millis(at)
            .map(|t| {
                format!(
                    "{} {} · {by}",
                    lang.t("最后保存", "Last saved"),
                    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                        .format("%Y-%m-%d %H:%M")
                )
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    render(&StrategyPage {
        key: journey.key().to_string(),
        title: lang.text(journey.name()).to_owned(),
        org_name: tree
            .get(&org)
            .map_or_else(|| org.to_string(), |n| n.name.clone()),
        org: org.to_string(),
        respondents: v.respondents,
        gap5: v.gap5,
        rows,
        dimensions: Dimension::ALL
            .into_iter()
            .map(|d| (d.key().to_owned(), dimension_name(d, en).to_owned()))
            .collect(),
        theme: v
            .strategy
            .theme
            .map(|d| d.key().to_owned())
            .unwrap_or_default(),
        theme_name: v
            .strategy
            .theme
            .map(|d| dimension_name(d, en).to_owned())
            .unwrap_or_default(),
        sub_themes: v.strategy.sub_themes.clone(),
        initiatives,
        moments: moment_list,
        statuses,
        updated,
        editable: viewer.require(Action::EditStandards).is_ok(),
        lang,
        nav,
    })
    .map_err(Into::into)
}
