//! The live hall board: the queue, open counters and open alerts of one hall, moving with
//! the hall's server-sent events, and today's KPIs. The page is rendered whole first, so
//! it is useful before (or without) its script.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Html;
use axum::routing::get;
use peakend_core::ops::day::{Alert, AlertKind, Rules};
use peakend_core::ops::ticket::{KpiSums, Kpis};
use peakend_core::{HallId, OrgNodeId};

use crate::auth::Viewer;
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/halls/{hall}/board", get(board))
        .route("/halls/{hall}/board/kpis", get(board_kpis))
}

pub fn alert_label(lang: &Lang, kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::CareDue => lang.t("关怀提醒：已等候15分钟", "Care due: waited 15 minutes"),
        AlertKind::PreProcessing => lang.t(
            "预处理：每窗口等候超过3人",
            "Pre-process: more than 3 waiting per counter",
        ),
        AlertKind::KioskOverdue => lang.t(
            "自助终端故障超过2个工作日",
            "Kiosk fault past 2 working days",
        ),
    }
}

/// The services devices name (`service` of `ticket_issued`), as the hall says them; an
/// unknown code is shown as sent.
fn service_label(lang: &Lang, code: &str) -> String {
    let (zh, en) = match code {
        "payment" => ("缴费", "Payment"),
        "data" => ("流量业务", "Data plans"),
        "new_line" => ("新入网", "New line"),
        "phone" => ("购机", "Phone purchase"),
        "vip" => ("VIP业务", "VIP"),
        "enquiry" => ("咨询", "Enquiry"),
        other => return other.to_owned(),
    };
    lang.t(zh, en).to_owned()
}

struct WaitingRow {
    /// Waited past the journey's `care_after`.
    late: bool,
    ticket: String,
    service: String,
    waited_min: String,
    ahead: usize,
    predicted_min: String,
}

struct AlertRow {
    id: String,
    label: String,
    subject: String,
    raised: String,
    vip: bool,
}

#[derive(serde::Serialize)]
struct KpiCell {
    key: &'static str,
    label: String,
    value: String,
    /// The standard the figure misses, said in words (empty when it meets it).
    miss: String,
}

/// A row of today's alerts, open or over.
struct DayAlertRow {
    label: String,
    subject: String,
    raised: String,
    /// 已处理 09:20 / 已解除 09:18 / 未处理.
    state: String,
    open: bool,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    lang: Lang,
    nav: Nav,
    hall: String,
    hall_name: String,
    counters: String,
    waiting: Vec<WaitingRow>,
    alerts: Vec<AlertRow>,
    day_alerts: Vec<DayAlertRow>,
    kpis: Vec<KpiCell>,
    /// The hall's time now (HH:MM), ticking on in the page.
    clock: String,
    /// No counter open and nobody waiting: the hall is closed or not yet open.
    closed: bool,
    /// Waiting per open counter above the journey's `max_per_counter`, in words.
    crowded: String,
    /// Strings the script needs, as JSON.
    labels: String,
}

/// "12 waiting at 3 counters: 4.0 per counter, above the standard of 3: pre-process";
/// with no counts, the template the page fills in ({w}, {c}, {r}).
fn crowded_text(lang: &Lang, waiting: usize, counters: usize, max: f64) -> String {
    let (w, c, r) = if counters == 0 {
        ("{w}".to_owned(), "{c}".to_owned(), "{r}".to_owned())
    } else {
        (
            waiting.to_string(),
            counters.to_string(),
            format!("{:.1}", waiting as f64 / counters as f64),
        )
    };
    match lang.en {
        true => format!(
            "{w} waiting at {c} open counters: {r} per counter, above the standard of {max}: start pre-processing."
        ),
        false => {
            format!("{w} 人等候、{c} 个窗口开放：每窗口 {r} 人，超过标准 {max} 人，请启动预处理。")
        }
    }
}

fn minutes(s: f64) -> String {
    format!("{:.0}", (s / 60.0).round())
}

/// The hall's local time of day of an instant.
fn clock(ms: i64, zone: peakend_core::time::Zone) -> String {
    zone.local(ms)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// The hall a board route names, if it is a hall and the viewer covers it: 400 for a
/// malformed id, 404 for no such hall, 403 outside the viewer's scope.
fn viewers_hall<'t>(
    tree: &'t peakend_core::OrgTree,
    viewer: &Viewer,
    hall: String,
) -> Result<(HallId, OrgNodeId, &'t peakend_core::OrgNode), ApiError> {
    let hall = HallId::parse(hall).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let node_id =
        OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let node = tree
        .get(&node_id)
        .filter(|n| n.hall_id().is_some())
        .ok_or_else(|| ApiError::not_found(format!("hall `{hall}` not found")))?;
    viewer.ensure_covers(tree, &node_id)?;
    Ok((hall, node_id, node))
}

/// Today's KPI cards, each against the journey's standard where it has one: the wait
/// against `care_after` (every customer called within it, so a service level under
/// 100 % misses it too) and the care alerts raised.
fn kpi_cards(lang: &Lang, k: &Kpis, rules: &Rules) -> Vec<KpiCell> {
    let pct = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format!("{:.0}%", v * 100.0));
    let mins = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format!("{:.1}", v / 60.0));
    let care_min = rules.care_after_ms as f64 / 60_000.0;
    let within = format!(
        "{} {care_min:.0} {}",
        lang.t("标准：每位顾客", "Standard: every customer called within"),
        lang.t("分钟内叫号", "min")
    );
    let miss = |missed: bool, what: &str| {
        if missed {
            what.to_owned()
        } else {
            String::new()
        }
    };
    vec![
        KpiCell {
            key: "arrivals",
            label: lang.t("到厅", "Arrivals").into(),
            value: k.arrivals.to_string(),
            miss: String::new(),
        },
        KpiCell {
            key: "served",
            label: lang.t("已办理", "Served").into(),
            value: k.served.to_string(),
            miss: String::new(),
        },
        KpiCell {
            key: "abandonment",
            label: lang.t("放弃率", "Abandonment").into(),
            value: pct(k.abandonment_rate),
            miss: String::new(),
        },
        KpiCell {
            key: "service_level",
            label: lang.t("服务水平", "Service level").into(),
            value: pct(k.service_level),
            miss: miss(k.service_level.is_some_and(|v| v < 1.0), &within),
        },
        KpiCell {
            key: "asa",
            label: lang.t("平均等候（分）", "Avg wait (min)").into(),
            value: mins(k.asa_s),
            miss: miss(
                k.asa_s
                    .is_some_and(|s| s * 1000.0 > rules.care_after_ms as f64),
                &within,
            ),
        },
        KpiCell {
            key: "aht",
            label: lang.t("平均办理（分）", "Avg service (min)").into(),
            value: mins(k.aht_s),
            miss: String::new(),
        },
        KpiCell {
            key: "care_alerts",
            label: lang.t("关怀提醒", "Care alerts").into(),
            value: k.care_alerts.to_string(),
            miss: miss(
                k.care_alerts > 0,
                lang.t(
                    "有顾客等候超过关怀时限",
                    "Customers waited past the care limit",
                ),
            ),
        },
        // Sales beside service (issue 23): the sales booked on today's tickets.
        KpiCell {
            key: "sales",
            label: lang.t("今日销售", "Sales today").into(),
            value: k.sales.sales.to_string(),
            miss: String::new(),
        },
    ]
}

/// Today's KPI cards of a hall as JSON, for the board to refresh after events without
/// a reload: read from the day's stored roll-up (the ingest keeps it batch by batch),
/// so a refresh costs the same at 09:00 and at 18:00; a day the roll-up cannot answer
/// for (another rule, none stored yet) is replayed.
async fn board_kpis(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    Path(hall): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tree = state.store.org_tree().await?;
    let (hall, node_id, _) = viewers_hall(&tree, &viewer, hall)?;
    let zone = tree.zone_of(&node_id);
    let now_ms = state.clock.now().timestamp_millis();
    let offset = zone.offset_at(now_ms);
    let today = state.clock.now().with_timezone(&offset).date_naive();
    let rules = peakend_store::hall_rules(state.store.as_ref(), &hall).await?;
    let measure = rules.measure();
    let stored = state
        .store
        .ops_rollup(&hall, today)
        .await?
        .filter(|r| r.measure() == measure);
    let kpis = match stored {
        Some(r) => {
            let mut sums: KpiSums = r.sums_at(now_ms);
            if let Some(t) = &r.trials {
                sums.sales.trials.merge(&t.total);
            }
            sums.kpis()
        }
        None => {
            let midnight = peakend_store::local_midnight(today, offset);
            let day = peakend_store::replay_day(
                state.store.as_ref(),
                &hall,
                rules.clone(),
                midnight,
                now_ms,
            )
            .await?;
            Kpis::of(day.tickets(), measure)
        }
    };
    Ok(Json(serde_json::json!({
        "hall": hall.as_str(),
        "at": now_ms,
        "cards": kpi_cards(&lang, &kpis, &rules),
    })))
}

async fn board(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(hall): Path<String>,
) -> Result<Html<String>, PageError> {
    let tree = state.store.org_tree().await?;
    let (hall, node_id, node) = viewers_hall(&tree, &viewer, hall)?;
    let zone = tree.zone_of(&node_id);
    let offset = zone.offset_at(state.clock.now().timestamp_millis());
    // The halls' clock: the system's, or the demo's accelerated day.
    let now = state.clock.now().with_timezone(&offset);
    let now_ms = now.timestamp_millis();
    let midnight = peakend_store::local_midnight(now.date_naive(), offset);
    let rules = peakend_store::hall_rules(state.store.as_ref(), &hall).await?;
    let measure = rules.measure();
    let day =
        peakend_store::replay_day(state.store.as_ref(), &hall, rules.clone(), midnight, now_ms)
            .await?;
    let queue = day.queue(now_ms);
    let acks = state.store.alert_acks(&hall).await?;
    let open: Vec<&Alert> = day
        .alerts()
        .iter()
        .filter(|a| a.cleared_at.is_none() && !acks.contains_key(&a.key()))
        .collect();
    // Today's KPIs from the day just replayed, not a second replay through the store.
    let k = &Kpis::of(day.tickets(), measure);
    let kpis = kpi_cards(&lang, k, &rules);
    let services: serde_json::Map<String, serde_json::Value> =
        ["payment", "data", "new_line", "phone", "vip", "enquiry"]
            .iter()
            .map(|c| (c.to_string(), service_label(&lang, c).into()))
            .collect();
    let labels = serde_json::json!({
        "hall": hall.as_str(),
        // The hall's clock, so waits tick on in the page (the demo's runs faster).
        "now": now_ms,
        "speed": state.clock.speed(),
        "user": viewer.user.name.as_str(),
        "csrf": viewer.csrf,
        "kinds": {
            "care_due": alert_label(&lang, AlertKind::CareDue),
            "pre_processing": alert_label(&lang, AlertKind::PreProcessing),
            "kiosk_overdue": alert_label(&lang, AlertKind::KioskOverdue),
        },
        "services": services,
        "ack": lang.t("已处理", "Acknowledge"),
        "acked": lang.t("已确认", "Acknowledged"),
        "vip": lang.t("VIP：送水", "VIP: bring water"),
        "none_waiting": lang.t("无人等候", "Nobody waiting"),
        "none_open": lang.t("无", "None"),
        "no_alerts": lang.t("没有未处理的提醒", "No open alerts"),
        "no_day_alerts": lang.t("今天还没有提醒", "No alerts today yet"),
        "closed": lang.t(
            "没有开放的窗口，也无人等候：营业厅已下班或尚未开门。",
            "No counter is open and nobody is waiting: the hall is closed or not yet open.",
        ),
        "late": lang.t("超过关怀时限", "past the care limit"),
        "acked_at": lang.t("已处理", "Acknowledged"),
        "cleared_at": lang.t("已解除", "Cleared"),
        "open": lang.t("未处理", "Open"),
        "live": lang.t("实时连接中", "Live"),
        "reconnecting": lang.t("连接中断，正在重连…", "Connection lost, reconnecting…"),
        "crowded": crowded_text(&lang, 0, 0, rules.max_per_counter),
        "care_after_ms": rules.care_after_ms,
        "max_per_counter": rules.max_per_counter,
        // The hall's UTC offset now, for its clock and alert times in the page.
        "offset_min": offset.local_minus_utc() / 60,
    });
    let crowded = {
        let (w, c) = (queue.waiting.len(), queue.open_counters.len());
        if c > 0 && w as f64 / c as f64 > rules.max_per_counter {
            crowded_text(&lang, w, c, rules.max_per_counter)
        } else {
            String::new()
        }
    };
    let day_alerts: Vec<DayAlertRow> = day
        .alerts()
        .iter()
        .rev()
        .map(|a| {
            let ack = acks.get(&a.key());
            let (state_text, open) = match (ack, a.cleared_at) {
                (Some((at, by)), _) => (
                    format!(
                        "{} {} · {by}",
                        lang.t("已处理", "Acknowledged"),
                        clock(*at, zone)
                    ),
                    false,
                ),
                (None, Some(at)) => (
                    format!("{} {}", lang.t("已解除", "Cleared"), clock(at, zone)),
                    false,
                ),
                (None, None) => (lang.t("未处理", "Open").to_owned(), true),
            };
            DayAlertRow {
                label: alert_label(&lang, a.kind).into(),
                subject: a
                    .ticket
                    .clone()
                    .or_else(|| a.kiosk.clone())
                    .unwrap_or_default(),
                raised: clock(a.raised_at, zone),
                state: state_text,
                open,
            }
        })
        .collect();
    render(&BoardPage {
        nav: Nav::of(&viewer, &tree, &lang, &uri),
        hall: hall.to_string(),
        hall_name: node.name.clone(),
        counters: if queue.open_counters.is_empty() {
            lang.t("无", "None").into()
        } else {
            queue.open_counters.join(" · ")
        },
        waiting: queue
            .waiting
            .iter()
            .map(|w| WaitingRow {
                late: w.waited_s * 1000.0 > rules.care_after_ms as f64,
                ticket: w.ticket.clone(),
                service: service_label(&lang, &w.service),
                waited_min: minutes(w.waited_s),
                ahead: w.ahead,
                predicted_min: w
                    .predicted_wait_s
                    .map(minutes)
                    .unwrap_or_else(|| "–".into()),
            })
            .collect(),
        alerts: open
            .iter()
            .map(|a| AlertRow {
                id: format!("{hall}~{}", a.key()),
                label: alert_label(&lang, a.kind).into(),
                subject: a
                    .ticket
                    .clone()
                    .or_else(|| a.kiosk.clone())
                    .unwrap_or_default(),
                raised: clock(a.raised_at, zone),
                vip: a.vip,
            })
            .collect(),
        day_alerts,
        kpis,
        clock: clock(now_ms, zone),
        closed: queue.open_counters.is_empty() && queue.waiting.is_empty(),
        crowded,
        labels: labels.to_string().replace("</", "<\\/"),
        lang,
    })
    .map_err(Into::into)
}
