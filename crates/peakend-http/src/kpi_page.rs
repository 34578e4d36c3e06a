//! The KPI page a hall or regional manager reads (`/kpi`): a node's operations by hour,
//! hall, counter and staff member, with device ratings and the sales lines, and the
//! same tables as CSV or XLSX (`/kpi/export?format=csv|xlsx`). The figures are the
//! API's (`GET /api/v1/kpi`, `peakend kpi`): one report, three ways to read it.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{Html, Response};
use axum::routing::get;
use chrono::NaiveDate;
use peakend_core::ops::kpi::{Bucket, Keyed, KpiReport};
use peakend_core::ops::ticket::Kpis;
use peakend_core::{OrgLevel, OrgNodeId, OrgTree};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::dashboard::{line_label, optional_date};
use crate::download::{FileFormat, attachment};
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/kpi", get(page))
        .route("/kpi/export", get(export))
}

#[derive(Deserialize)]
struct KpiPageQuery {
    node: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Of the export: `csv` (default) or `xlsx`.
    format: Option<String>,
}

/// The report of the node and dates asked (the user's own node and the node's today by
/// default), by hour.
async fn report(
    state: &AppState,
    viewer: &Viewer,
    q: &KpiPageQuery,
) -> Result<(OrgNodeId, String, NaiveDate, NaiveDate, KpiReport), ApiError> {
    let org = match q.node.as_deref().filter(|s| !s.is_empty()) {
        Some(o) => OrgNodeId::parse(o).map_err(|e| ApiError::bad_request(format!("node: {e}")))?,
        None => viewer.user.org.clone(),
    };
    let tree = state.store.org_tree().await?;
    viewer.ensure_covers(&tree, &org)?;
    let name = tree
        .get(&org)
        .map_or_else(|| org.to_string(), |n| n.name.clone());
    let zone = tree.zone_of(&org);
    let now = state.clock.now();
    let today = now
        .with_timezone(&zone.offset_at(now.timestamp_millis()))
        .date_naive();
    let from = optional_date("from", &q.from)?.unwrap_or(today);
    let to = optional_date("to", &q.to)?.unwrap_or(from.max(today));
    if to < from {
        return Err(ApiError::bad_request(format!(
            "to: {to} is before from: {from}"
        )));
    }
    // An hour table of more than a month is no longer read: a month at most.
    if (to - from).num_days() > 31 {
        return Err(ApiError::bad_request(
            "to: at most 31 days after from on this page (the API and `peakend kpi` take longer periods by day)",
        ));
    }
    // Above a district, the children (cities, districts) are the page's rows: a
    // province's every hall, counter and staff member is an export, not a page.
    let mut group_of = std::collections::HashMap::new();
    if tree.get(&org).is_some_and(|n| above_district(n.level)) {
        for child in tree.children(&org) {
            for h in tree.halls_under(&child.id) {
                group_of.insert(h.id.to_string(), child.id.to_string());
            }
        }
    }
    let report = peakend_store::stored_kpis_grouped(
        state.store.as_ref(),
        &peakend_store::KpiQuery {
            org: Some(&org),
            from,
            to,
            bucket: Bucket::Hour,
            offset: zone.offset_on(from),
            now_ms: now.timestamp_millis(),
        },
        group_of,
    )
    .await?;
    Ok((org, name, from, to, report))
}

fn above_district(level: OrgLevel) -> bool {
    matches!(level, OrgLevel::Province | OrgLevel::City)
}

/// Which tables a node's page shows: a hall's counters and staff; a district's halls,
/// counters and staff; a city's districts and halls; a province's cities. The export
/// carries every table whatever the node.
#[derive(Clone, Copy)]
struct Tables {
    groups: bool,
    halls: bool,
    detail: bool,
}

impl Tables {
    fn page(level: OrgLevel) -> Tables {
        Tables {
            groups: above_district(level),
            halls: matches!(level, OrgLevel::City | OrgLevel::District),
            detail: !above_district(level),
        }
    }

    fn export(level: OrgLevel) -> Tables {
        Tables {
            groups: above_district(level),
            halls: level != OrgLevel::Hall,
            detail: true,
        }
    }
}

/// One row of a table: its name and the figures, formatted.
struct Row {
    key: String,
    cells: Vec<String>,
}

struct Section {
    id: &'static str,
    title: String,
    rows: Vec<Row>,
}

fn headers(lang: &Lang) -> Vec<&'static str> {
    vec![
        lang.t("到厅", "Arrivals"),
        lang.t("已办理", "Served"),
        lang.t("放弃率", "Abandonment"),
        lang.t("服务水平", "Service level"),
        lang.t("平均等候（分）", "Avg wait (min)"),
        lang.t("平均办理（分）", "Avg service (min)"),
        lang.t("最长等候（分）", "Longest wait (min)"),
        lang.t("超系统时长", "Over system time"),
        lang.t("设备评价（5分制）", "Device rating (of 5)"),
        lang.t("满分评价占比", "Top ratings"),
        lang.t("评价数", "Ratings"),
        lang.t("关怀提醒", "Care alerts"),
        lang.t("销售笔数", "Sales"),
    ]
}

fn cells(k: &Kpis) -> Vec<String> {
    let pct = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format!("{:.1}%", v * 100.0));
    let min = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format!("{:.1}", v / 60.0));
    vec![
        k.arrivals.to_string(),
        k.served.to_string(),
        pct(k.abandonment_rate),
        pct(k.service_level),
        min(k.asa_s),
        min(k.aht_s),
        min(k.longest_wait_s),
        pct(k.over_system_time_rate),
        k.avg_rating
            .map_or_else(|| "–".into(), |v| format!("{v:.2}")),
        pct(k.top_rating_share),
        k.ratings.to_string(),
        k.care_alerts.to_string(),
        k.sales.sales.to_string(),
    ]
}

/// An hour bucket (`2026-12-05T09:00:00+08:00`) as `09:00`, with its date when the
/// period has several days.
fn hour_label(key: &str, one_day: bool) -> String {
    match (key.get(5..10), key.get(11..16)) {
        (Some(d), Some(t)) if !one_day => format!("{d} {t}"),
        (_, Some(t)) => t.to_owned(),
        _ => key.to_owned(),
    }
}

fn sections(
    lang: &Lang,
    tree: &OrgTree,
    org: &OrgNodeId,
    r: &KpiReport,
    one_day: bool,
    tables: Tables,
) -> Vec<Section> {
    let rows = |list: &[Keyed], label: &dyn Fn(&str) -> String| -> Vec<Row> {
        list.iter()
            .map(|k| Row {
                key: label(&k.key),
                cells: cells(&k.kpis),
            })
            .collect()
    };
    let hall_view = tree.get(org).is_some_and(|n| n.hall_id().is_some());
    // Nodes by their names; an id the tree no longer knows by itself.
    let name = |k: &str| {
        OrgNodeId::parse(k)
            .ok()
            .and_then(|id| tree.get(&id).map(|n| n.name.clone()))
            .unwrap_or_else(|| k.to_owned())
    };
    // `hall/counter` and `hall/staff`: within one hall its name is enough.
    let local = |k: &str| match (hall_view, k.split_once('/')) {
        (true, Some((_, rest))) => rest.to_owned(),
        (false, Some((hall, rest))) => format!("{} / {rest}", name(hall)),
        _ => k.to_owned(),
    };
    let mut out = vec![
        Section {
            id: "total",
            title: lang.t("合计", "Total").into(),
            rows: vec![Row {
                key: lang.t("全部", "All").into(),
                cells: cells(&r.total),
            }],
        },
        Section {
            id: "hours",
            title: lang.t("按小时", "By hour").into(),
            rows: rows(&r.buckets, &|k| hour_label(k, one_day)),
        },
    ];
    if tables.groups {
        let level = tree.children(org).next().map(|c| c.level);
        out.push(Section {
            id: "children",
            title: match level {
                Some(OrgLevel::City) => lang.t("按城市", "By city"),
                Some(OrgLevel::District) => lang.t("按区县", "By district"),
                _ => lang.t("按下级单位", "By unit below"),
            }
            .into(),
            rows: rows(&r.groups, &name),
        });
    }
    if tables.halls && !hall_view {
        out.push(Section {
            id: "halls",
            title: lang.t("按营业厅", "By hall").into(),
            rows: rows(&r.halls, &name),
        });
    }
    if tables.detail {
        let mut counters = rows(&r.counters, &local);
        counters.sort_by(|a, b| peakend_core::ops::day::natural_cmp(&a.key, &b.key));
        out.push(Section {
            id: "counters",
            title: lang.t("按窗口", "By counter").into(),
            rows: counters,
        });
        out.push(Section {
            id: "staff",
            title: lang.t("按营业员", "By staff member").into(),
            rows: rows(&r.staff, &local),
        });
    }
    out
}

struct LineRow {
    label: &'static str,
    sales: u64,
    amount: String,
}

#[derive(Template)]
#[template(path = "kpi.html")]
struct KpiPage {
    lang: Lang,
    nav: Nav,
    node: String,
    node_name: String,
    from: String,
    to: String,
    headers: Vec<&'static str>,
    sections: Vec<Section>,
    /// Halls, counters and staff are in the export only (a city's or province's page).
    detail_elsewhere: bool,
    lines: Vec<LineRow>,
    export: String,
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Query(q): Query<KpiPageQuery>,
) -> Result<Html<String>, PageError> {
    let (org, name, from, to, r) = report(&state, &viewer, &q).await?;
    let tree = state.store.org_tree().await?;
    let level = tree.get(&org).map_or(OrgLevel::Hall, |n| n.level);
    let lines = r
        .total
        .sales
        .lines
        .iter()
        .map(|l| LineRow {
            label: line_label(&lang, l.category),
            sales: l.sales,
            amount: format!("{:.2}", l.amount),
        })
        .collect();
    Ok(render(&KpiPage {
        nav: Nav::of(&viewer, &tree, &lang, &uri),
        node: org.to_string(),
        node_name: name,
        from: from.to_string(),
        to: to.to_string(),
        headers: headers(&lang),
        sections: sections(&lang, &tree, &org, &r, from == to, Tables::page(level)),
        detail_elsewhere: above_district(level),
        lines,
        export: format!("/kpi/export?node={org}&from={from}&to={to}"),
        lang,
    })?)
}

async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Query(q): Query<KpiPageQuery>,
) -> Result<Response, ApiError> {
    let format = FileFormat::parse(q.format.as_deref())?;
    let (org, _, from, to, r) = report(&state, &viewer, &q).await?;
    let tree = state.store.org_tree().await?;
    let level = tree.get(&org).map_or(OrgLevel::Hall, |n| n.level);
    let sections = sections(&lang, &tree, &org, &r, from == to, Tables::export(level));
    let head = headers(&lang);
    let bytes = match format {
        FileFormat::Xlsx => xlsx(&lang, &head, &sections),
        FileFormat::Csv => csv(&lang, &head, &sections).map_err(|e| e.to_string()),
    };
    attachment(format, &format!("kpi-{org}-{from}-{to}"), bytes)
}

/// One CSV for all tables: a `section` column says which (total, hours, halls, …).
fn csv(lang: &Lang, head: &[&str], sections: &[Section]) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let mut first = vec![lang.t("分组", "section"), lang.t("名称", "name")];
        first.extend_from_slice(head);
        w.write_record(&first)?;
        for s in sections {
            for r in &s.rows {
                let mut rec = vec![s.id.to_owned(), r.key.clone()];
                rec.extend(r.cells.iter().cloned());
                w.write_record(&rec)?;
            }
        }
        w.flush()?;
    }
    Ok(out)
}

/// A sheet per table, numbers as numbers where they are numbers.
fn xlsx(lang: &Lang, head: &[&str], sections: &[Section]) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let e = |e: rust_xlsxwriter::XlsxError| e.to_string();
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    for s in sections {
        let sheet = book.add_worksheet();
        sheet.set_name(&s.title).map_err(e)?;
        sheet
            .write_string_with_format(0, 0, lang.t("名称", "Name"), &bold)
            .map_err(e)?;
        for (c, h) in head.iter().enumerate() {
            sheet
                .write_string_with_format(0, c as u16 + 1, *h, &bold)
                .map_err(e)?;
        }
        for (i, r) in s.rows.iter().enumerate() {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, &r.key).map_err(e)?;
            for (c, v) in r.cells.iter().enumerate() {
                let col = c as u16 + 1;
                match v.trim_end_matches('%').parse::<f64>() {
                    Ok(n) if v.ends_with('%') => sheet.write_number(row, col, n / 100.0),
                    Ok(n) => sheet.write_number(row, col, n),
                    Err(_) => sheet.write_string(row, col, v),
                }
                .map_err(e)?;
            }
        }
        sheet.set_column_width(0, 18).map_err(e)?;
    }
    book.save_to_buffer().map_err(e)
}
