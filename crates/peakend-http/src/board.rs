//! The live hall board: the queue, open counters and open alerts of one hall, moving with
//! the hall's server-sent events, and today's KPIs. The page is rendered whole first, so
//! it is useful before (or without) its script.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Html;
use axum::routing::get;
use peakend_core::ops::day::{Alert, AlertKind};
use peakend_core::ops::ticket::Kpis;
use peakend_core::{HallId, OrgNodeId};

use crate::auth::Viewer;
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/halls/{hall}/board", get(board))
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

struct KpiCell {
    label: String,
    value: String,
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
    kpis: Vec<KpiCell>,
    /// Strings the script needs, as JSON.
    labels: String,
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

async fn board(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(hall): Path<String>,
) -> Result<Html<String>, PageError> {
    let tree = state.store.org_tree().await?;
    let hall = HallId::parse(hall).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let node_id =
        OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let node = tree
        .get(&node_id)
        .filter(|n| n.hall_id().is_some())
        .ok_or_else(|| ApiError::not_found(format!("hall `{hall}` not found")))?;
    viewer.ensure_covers(&tree, &node_id)?;
    let zone = tree.zone_of(&node_id);
    let offset = zone.offset_at(state.clock.now().timestamp_millis());
    // The halls' clock: the system's, or the demo's accelerated day.
    let now = state.clock.now().with_timezone(&offset);
    let now_ms = now.timestamp_millis();
    let midnight = peakend_store::local_midnight(now.date_naive(), offset);
    let rules = peakend_store::hall_rules(state.store.as_ref(), &hall).await?;
    let measure = rules.measure();
    let day =
        peakend_store::replay_day(state.store.as_ref(), &hall, rules, midnight, now_ms).await?;
    let queue = day.queue(now_ms);
    let acks = state.store.alert_acks(&hall).await?;
    let open: Vec<&Alert> = day
        .alerts()
        .iter()
        .filter(|a| a.cleared_at.is_none() && !acks.contains_key(&a.key()))
        .collect();
    // Today's KPIs from the day just replayed, not a second replay through the store.
    let k = &Kpis::of(day.tickets(), measure);
    let pct = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format!("{:.0}%", v * 100.0));
    let secs = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format!("{:.1}", v / 60.0));
    let kpis = vec![
        KpiCell {
            label: lang.t("到厅", "Arrivals").into(),
            value: k.arrivals.to_string(),
        },
        KpiCell {
            label: lang.t("已办理", "Served").into(),
            value: k.served.to_string(),
        },
        KpiCell {
            label: lang.t("放弃率", "Abandonment").into(),
            value: pct(k.abandonment_rate),
        },
        KpiCell {
            label: lang.t("服务水平", "Service level").into(),
            value: pct(k.service_level),
        },
        KpiCell {
            label: lang.t("平均等候（分）", "Avg wait (min)").into(),
            value: secs(k.asa_s),
        },
        KpiCell {
            label: lang.t("平均办理（分）", "Avg service (min)").into(),
            value: secs(k.aht_s),
        },
        KpiCell {
            label: lang.t("关怀提醒", "Care alerts").into(),
            value: k.care_alerts.to_string(),
        },
        // Sales beside service (issue 23): the sales booked on today's tickets.
        KpiCell {
            label: lang.t("今日销售", "Sales today").into(),
            value: k.sales.sales.to_string(),
        },
    ];
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
    });
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
        kpis,
        labels: labels.to_string().replace("</", "<\\/"),
        lang,
    })
    .map_err(Into::into)
}
