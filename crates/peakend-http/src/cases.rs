//! Service cases (issue 20): the inbox and the case page, the JSON API, the case KPIs,
//! exports, and the customer's one-time callback page (`/c/{token}`, no sign-in).
//! Who sees and does what is `peakend_core::case::access`; a case outside the caller's
//! reach is answered exactly like a case that does not exist.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::NaiveDate;
use peakend_core::case::{
    Case, CaseAccess, CaseChange, CaseConflict, CaseEntry, CaseId, CaseSource, CaseState, MAX_NOTE,
    NewCase, Severity, access, contact_for,
};
use peakend_core::{HallId, MomentKey, OrgLevel, OrgNodeId, OrgTree, Role, UserName};
use peakend_store::{CaseFilter, CaseKpis, case_kpis};
use serde::{Deserialize, Serialize};

use crate::auth::Viewer;
use crate::download::{FileFormat, attachment};
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cases", get(list_api).post(open_api))
        .route("/api/v1/cases/kpi", get(kpi_api))
        .route("/api/v1/cases/export", get(export))
        .route("/api/v1/cases/{id}", get(show_api))
        .route("/api/v1/cases/{id}/transition", post(transition_api))
        .route("/api/v1/cases/{id}/assign", post(assign_api))
        .route("/api/v1/cases/{id}/callback", post(callback_api))
        .route("/cases", get(inbox_page))
        .route("/cases/new", post(open_page))
        .route("/cases/{id}", get(case_page))
        .route("/cases/{id}/act", post(act_page))
        .route("/c/{token}", get(customer_page).post(customer_answer))
}

fn now_ms(state: &AppState) -> i64 {
    state.clock.now().timestamp_millis()
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("case {id} not found"))
}

/// The case and what the viewer may do with it; one they may not see is not found.
async fn load(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<(Case, CaseAccess, OrgTree), ApiError> {
    let case_id = CaseId::parse(id).ok_or_else(|| not_found(id))?;
    let case = state
        .store
        .case(case_id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let tree = state.store.org_tree().await?;
    let may = reach(viewer, &tree, &case);
    if may == CaseAccess::None {
        return Err(not_found(id));
    }
    Ok((case, may, tree))
}

fn reach(viewer: &Viewer, tree: &OrgTree, case: &Case) -> CaseAccess {
    let node = OrgNodeId::parse(case.hall.as_str()).ok();
    let in_scope = node.is_some_and(|n| viewer.scope.covers(tree, &n));
    access(
        viewer.user.role,
        viewer.user.name.as_str(),
        in_scope,
        case.owner.as_deref(),
    )
}

/// A case as a caller sees it: the contact masked below hall manager, the moves they
/// may make, and the callback link while one is due (for those who work the case).
#[derive(Serialize)]
struct CaseView {
    #[serde(flatten)]
    case: Case,
    allowed: Vec<CaseState>,
    overdue: bool,
    may_assign: bool,
    callback_link: Option<String>,
}

fn view(case: &Case, may: CaseAccess, role: Role, now: i64) -> CaseView {
    let mut shown = case.clone();
    shown.contact = case.contact.as_deref().map(|c| contact_for(role, c, false));
    CaseView {
        allowed: case.allowed(),
        overdue: case.due_at.is_some_and(|d| d <= now),
        may_assign: may == CaseAccess::Manage,
        callback_link: case
            .callback_token
            .as_ref()
            .filter(|_| case.state == CaseState::Resolved)
            .map(|t| format!("/c/{t}")),
        case: shown,
    }
}

#[derive(Serialize)]
struct CaseDetail {
    #[serde(flatten)]
    view: CaseView,
    timeline: Vec<CaseEntry>,
}

/// The list's filters, as the API and the inbox page take them.
#[derive(Deserialize, Default, Clone)]
struct ListParams {
    /// `mine`, `hall`, `escalated` or `all` (default by role).
    inbox: Option<String>,
    /// States, comma-separated, or `active` (the default: not yet followed up), `all`.
    state: Option<String>,
    source: Option<String>,
    moment: Option<String>,
    hall: Option<String>,
    from: Option<String>,
    to: Option<String>,
    overdue: Option<String>,
    before: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

const ACTIVE: [CaseState; 4] = [
    CaseState::Open,
    CaseState::Acknowledged,
    CaseState::Investigating,
    CaseState::Resolved,
];

fn default_inbox(role: Role) -> &'static str {
    match role {
        Role::Frontline | Role::Auditor => "mine",
        Role::HallManager => "hall",
        _ => "escalated",
    }
}

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The store's filter for a viewer's list: always within their scope (a frontline
/// user's own cases), then what they asked.
fn filter_of(
    viewer: &Viewer,
    tree: &OrgTree,
    p: &ListParams,
    max_limit: i64,
) -> Result<CaseFilter, ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    let mine = tree.subtree(&viewer.user.org);
    let mut halls: Vec<HallId> = mine.iter().filter_map(|n| n.hall_id()).collect();
    if let Some(h) = blank(&p.hall) {
        let h = HallId::parse(h).map_err(|e| bad("hall", e.to_string()))?;
        // A hall outside the scope lists nothing, as an unknown one does.
        halls.retain(|x| *x == h);
    }
    let inbox = blank(&p.inbox).unwrap_or(default_inbox(viewer.user.role));
    let mut f = CaseFilter::default();
    match inbox {
        "mine" => {
            f.halls = Some(halls);
            f.owner = Some(viewer.user.name.to_string());
        }
        _ if viewer.user.role == Role::Frontline => {
            f.halls = Some(halls);
            f.owner = Some(viewer.user.name.to_string());
        }
        "hall" | "all" => f.halls = Some(halls),
        "escalated" => {
            f.levels = Some(
                mine.iter()
                    .filter(|n| n.level != OrgLevel::Hall)
                    .map(|n| n.id.clone())
                    .collect(),
            );
            if blank(&p.hall).is_some() {
                f.halls = Some(halls);
                // Both must hold: escalated, and of that hall.
                f.levels = f.levels.map(|l| {
                    if f.halls.as_ref().is_some_and(Vec::is_empty) {
                        Vec::new()
                    } else {
                        l
                    }
                });
            }
        }
        other => {
            return Err(bad(
                "inbox",
                format!("`{other}` is not mine, hall, escalated or all"),
            ));
        }
    }
    f.states = match blank(&p.state) {
        None | Some("active") => ACTIVE.to_vec(),
        Some("all") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| CaseState::parse(s.trim()).map_err(|e| bad("state", e.to_string())))
            .collect::<Result<_, _>>()?,
    };
    if let Some(s) = blank(&p.source) {
        f.source = Some(CaseSource::parse(s).ok_or_else(|| {
            bad(
                "source",
                format!(
                    "`{s}` is not unresolved, low_rating, complaint, survey, manual or hotline"
                ),
            )
        })?);
    }
    if let Some(m) = blank(&p.moment) {
        f.moment = Some(MomentKey::parse(m).map_err(|e| bad("moment", e.to_string()))?);
    }
    let zone = tree.zone_of(&viewer.user.org);
    let day_start = |d: NaiveDate| peakend_store::local_midnight(d, zone.offset_on(d));
    if let Some(d) = blank(&p.from) {
        let d = peakend_core::time::parse_date(d).map_err(|e| bad("from", e))?;
        f.opened_from = Some(day_start(d));
    }
    if let Some(d) = blank(&p.to) {
        let d = peakend_core::time::parse_date(d).map_err(|e| bad("to", e))?;
        f.opened_to = Some(day_start(d.succ_opt().unwrap_or(d)));
    }
    if matches!(blank(&p.overdue), Some("1" | "true" | "yes" | "on")) {
        f.overdue_at = Some(chrono::Utc::now().timestamp_millis());
    }
    if let Some(b) = blank(&p.before) {
        f.before = Some(CaseId::parse(b).ok_or_else(|| bad("before", "not a case number".into()))?);
    }
    f.limit = Some(match blank(&p.limit) {
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max_limit).contains(n))
            .ok_or_else(|| bad("limit", format!("a number from 1 to {max_limit}")))?,
        None => 50,
    });
    Ok(f)
}

async fn list_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Json<Vec<CaseView>>, ApiError> {
    let tree = state.store.org_tree().await?;
    let f = filter_of(&viewer, &tree, &p, 500)?;
    let now = now_ms(&state);
    let cases = state.store.cases(&f).await?;
    Ok(Json(
        cases
            .iter()
            .map(|c| view(c, reach(&viewer, &tree, c), viewer.user.role, now))
            .collect(),
    ))
}

async fn show_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    let (case, may, _) = load(&state, &viewer, &id).await?;
    let timeline = state.store.case_timeline(case.id).await?;
    Ok(Json(CaseDetail {
        view: view(&case, may, viewer.user.role, now_ms(&state)),
        timeline,
    }))
}

/// A case opened by hand, as the API and the page send it.
#[derive(Deserialize)]
struct OpenBody {
    hall: String,
    moment: String,
    summary: String,
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
}

/// Checks a hand-opened case against the hall's journey; every bad field is named.
async fn new_case(
    state: &AppState,
    viewer: &Viewer,
    tree: &OrgTree,
    b: &OpenBody,
) -> Result<NewCase, ApiError> {
    let hall = viewer.hall_in_scope(tree, &b.hall)?;
    // The opener owns a case of their own hall.
    let own_hall = viewer.user.org.as_str() == hall.as_str();
    let rules = peakend_store::hall_rules(state.store.as_ref(), &hall).await?;
    let mut problems = Vec::new();
    let moment = match MomentKey::parse(b.moment.trim()) {
        Ok(m) if rules.cases.knows(m.as_str()) => Some(m),
        Ok(m) => {
            problems.push(format!(
                "moment: `{m}` is not a moment of the hall's journey"
            ));
            None
        }
        Err(e) => {
            problems.push(format!("moment: {}", e.reason));
            None
        }
    };
    let summary = b.summary.trim();
    if summary.is_empty() {
        problems.push("summary: empty".into());
    } else if summary.chars().count() > MAX_NOTE {
        problems.push("summary: longer than 2,000 characters".into());
    }
    let contact = b
        .contact
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if contact.is_some_and(|c| c.chars().count() > 100 || c.chars().any(char::is_control)) {
        problems.push("contact: at most 100 characters, no control characters".into());
    }
    let severity = match blank(&b.severity) {
        None => Some(Severity::Medium),
        Some(s) => Severity::parse(s)
            .map_err(|e| problems.push(format!("severity: {e}")))
            .ok(),
    };
    let (Some(moment), Some(severity), true) = (moment, severity, problems.is_empty()) else {
        return Err(ApiError::unprocessable(&problems));
    };
    let at = state.clock.now();
    let (acknowledge_due, resolve_due) = rules.cases.deadlines(at, rules.zone, &rules.holidays);
    Ok(NewCase {
        hall,
        source: CaseSource::Manual,
        cause: format!("manual:{}", crate::auth::one_time_password()),
        ticket: None,
        response: None,
        moment,
        severity,
        summary: summary.to_owned(),
        contact: contact.map(str::to_owned),
        staff: None,
        // Asked first in their own hall: theirs.
        owner: own_hall.then(|| viewer.user.name.to_string()),
        opened_at: at.timestamp_millis(),
        acknowledge_due,
        resolve_due,
    })
}

async fn open_api(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Json(b): Json<OpenBody>,
) -> Result<(StatusCode, Json<CaseDetail>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    let tree = state.store.org_tree().await?;
    let new = new_case(&state, &viewer, &tree, &b).await?;
    let ids = state
        .store
        .open_cases(&[new], viewer.user.name.as_str())
        .await?;
    let id = ids
        .first()
        .copied()
        .flatten()
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "the case is open already"))?;
    let (case, may, _) = load(&state, &viewer, &id.to_string()).await?;
    let timeline = state.store.case_timeline(id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CaseDetail {
            view: view(&case, may, viewer.user.role, now_ms(&state)),
            timeline,
        }),
    ))
}

#[derive(Deserialize)]
struct TransitionBody {
    to: String,
    version: i64,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    root_cause: Option<String>,
    #[serde(default)]
    good_faith: Option<bool>,
}

#[derive(Deserialize)]
struct AssignBody {
    to: String,
    version: i64,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
struct CallbackBody {
    version: i64,
    recovery: i64,
    #[serde(default)]
    recommend: Option<i64>,
    #[serde(default)]
    note: Option<String>,
}

fn conflict(e: CaseConflict) -> ApiError {
    let status = match e {
        CaseConflict::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CONFLICT,
    };
    let mut err = ApiError::new(status, e.to_string());
    if status == StatusCode::CONFLICT {
        err.extra.insert(
            "allowed".into(),
            serde_json::json!(e.allowed().iter().map(|s| s.as_str()).collect::<Vec<_>>()),
        );
    }
    err
}

/// Makes a change on a case the viewer may act on.
async fn change(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    version: i64,
    change: CaseChange,
) -> Result<CaseDetail, ApiError> {
    let (case, may, _) = load(state, viewer, id).await?;
    if matches!(change, CaseChange::Assign { .. }) && may != CaseAccess::Manage {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "user `{}` ({}) may not reassign cases",
                viewer.user.name, viewer.user.role
            ),
        ));
    }
    let changed = state
        .store
        .change_case(
            case.id,
            version,
            &change,
            viewer.user.name.as_str(),
            now_ms(state),
        )
        .await?
        .map_err(conflict)?;
    let may = reach(viewer, &state.store.org_tree().await?, &changed);
    let timeline = state.store.case_timeline(case.id).await?;
    Ok(CaseDetail {
        view: view(
            &changed,
            may.max(CaseAccess::Act),
            viewer.user.role,
            now_ms(state),
        ),
        timeline,
    })
}

fn transition_of(b: TransitionBody) -> Result<(i64, CaseChange), ApiError> {
    let to = CaseState::parse(b.to.trim())
        .map_err(|e| ApiError::unprocessable(&[format!("to: {e}")]))?;
    Ok((
        b.version,
        CaseChange::Transition {
            to,
            note: b.note,
            root_cause: b.root_cause,
            good_faith: b.good_faith,
        },
    ))
}

async fn transition_api(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<TransitionBody>,
) -> Result<Json<CaseDetail>, ApiError> {
    viewer.check_csrf_header(&headers)?;
    let (version, c) = transition_of(b)?;
    Ok(Json(change(&state, &viewer, &id, version, c).await?))
}

async fn assign_api(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<AssignBody>,
) -> Result<Json<CaseDetail>, ApiError> {
    viewer.check_csrf_header(&headers)?;
    let to = UserName::parse(b.to.trim())
        .map_err(|e| ApiError::unprocessable(&[format!("to: {}", e.reason)]))?;
    let c = CaseChange::Assign { to, note: b.note };
    Ok(Json(change(&state, &viewer, &id, b.version, c).await?))
}

async fn callback_api(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<CallbackBody>,
) -> Result<Json<CaseDetail>, ApiError> {
    viewer.check_csrf_header(&headers)?;
    let c = CaseChange::Callback {
        recovery: b.recovery,
        recommend: b.recommend,
        note: b.note,
    };
    Ok(Json(change(&state, &viewer, &id, b.version, c).await?))
}

#[derive(Deserialize)]
struct KpiParams {
    org: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn kpi_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<KpiParams>,
) -> Result<Json<CaseKpis>, ApiError> {
    let tree = state.store.org_tree().await?;
    let (org, from, to) = kpi_scope(&state, &viewer, &tree, &q)?;
    Ok(Json(
        case_kpis(state.store.as_ref(), &org, from, to, now_ms(&state)).await?,
    ))
}

/// The node and days of a KPI request: the viewer's node and the last 30 days by
/// default.
fn kpi_scope(
    state: &AppState,
    viewer: &Viewer,
    tree: &OrgTree,
    q: &KpiParams,
) -> Result<(OrgNodeId, NaiveDate, NaiveDate), ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    let org = match blank(&q.org) {
        Some(o) => OrgNodeId::parse(o).map_err(|e| bad("org", e.to_string()))?,
        None => viewer.user.org.clone(),
    };
    viewer.ensure_covers(tree, &org)?;
    let today = state
        .clock
        .now()
        .with_timezone(&tree.zone_of(&org).offset_at(now_ms(state)))
        .date_naive();
    let to = match blank(&q.to) {
        Some(d) => peakend_core::time::parse_date(d).map_err(|e| bad("to", e))?,
        None => today,
    };
    let from = match blank(&q.from) {
        Some(d) => peakend_core::time::parse_date(d).map_err(|e| bad("from", e))?,
        None => to - chrono::Duration::days(29),
    };
    if from > to {
        return Err(bad("from", format!("{from} is after `to` ({to})")));
    }
    if (to - from).num_days() > 3660 {
        return Err(bad("from", "at most ten years at a time".into()));
    }
    Ok((org, from, to))
}

fn local_time(tree: &OrgTree, hall: &HallId, ms: Option<i64>) -> String {
    ms.map(|ms| tree.zone_of_hall(hall).minute_text(ms))
        .unwrap_or_default()
}

/// `GET /api/v1/cases/export?format=csv|xlsx` with the list's filters (up to 100,000
/// cases); contacts in full for admins only.
async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let tree = state.store.org_tree().await?;
    let mut f = filter_of(&viewer, &tree, &p, 100_000)?;
    if blank(&p.limit).is_none() {
        f.limit = Some(100_000);
    }
    let cases = state.store.cases(&f).await?;
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.hall.to_string(),
                c.source.as_str().into(),
                c.state.as_str().into(),
                c.severity.as_str().into(),
                c.moment.to_string(),
                c.summary.clone(),
                c.owner.clone().unwrap_or_default(),
                c.level.to_string(),
                c.escalations.to_string(),
                local_time(&tree, &c.hall, Some(c.opened_at)),
                local_time(&tree, &c.hall, c.acknowledged_at),
                local_time(&tree, &c.hall, c.resolved_at),
                local_time(&tree, &c.hall, c.followed_up_at),
                local_time(&tree, &c.hall, c.closed_at),
                c.recovery.map(|r| r.to_string()).unwrap_or_default(),
                c.contact
                    .as_deref()
                    .map(|x| contact_for(viewer.user.role, x, true))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let format = FileFormat::parse(blank(&p.format))?;
    let bytes = match format {
        FileFormat::Csv => peakend_io::case_io::write_csv(&rows).map_err(|e| e.to_string()),
        FileFormat::Xlsx => peakend_io::case_io::write_xlsx(&rows).map_err(|e| e.to_string()),
    };
    attachment(format, "cases", bytes)
}

// ---- pages ----

/// The moments of the journey `node` lives by, as (key, name in the page's language).
async fn moment_names(
    state: &AppState,
    tree: &OrgTree,
    node: &OrgNodeId,
    lang: &Lang,
) -> Result<Vec<(String, String)>, ApiError> {
    let key = state
        .store
        .journey_assignments()
        .await?
        .effective(tree, node)
        .journey;
    Ok(state
        .store
        .journey(&key)
        .await?
        .map(|j| {
            j.moments()
                .iter()
                .map(|m| (m.key.to_string(), lang.text(&m.name).to_owned()))
                .collect()
        })
        .unwrap_or_default())
}

fn name_in(names: &[(String, String)], key: &str) -> String {
    names
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| key.to_owned(), |(_, n)| n.clone())
}

fn entry_kind(lang: &Lang, kind: &str) -> String {
    let (zh, en) = match kind {
        "opened" => ("开单", "opened"),
        "transition" => ("流转", "moved"),
        "assigned" => ("转派", "reassigned"),
        "escalated" => ("升级", "escalated"),
        "callback" => ("回访", "called back"),
        "contact_erased" => ("联系方式已删除", "contact erased"),
        other => (other, other),
    };
    lang.t(zh, en).to_owned()
}

struct Row {
    id: i64,
    opened: String,
    hall: String,
    source: String,
    moment: String,
    severity: String,
    state: String,
    owner: String,
    level: String,
    due: String,
    overdue: bool,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct InboxPage {
    lang: Lang,
    nav: Nav,
    rows: Vec<Row>,
    inboxes: Vec<Choice>,
    states: Vec<Choice>,
    sources: Vec<Choice>,
    halls: Vec<Choice>,
    /// (key, name) of the moments a new case may be about.
    moments: Vec<(String, String)>,
    query: String,
    next: String,
    error: String,
    /// Hall managers and above see the case KPIs, fetched by the page after it shows.
    show_kpi: bool,
}

fn source_name(lang: &Lang, s: CaseSource) -> String {
    let (zh, en) = match s {
        CaseSource::Unresolved => ("未解决", "Unresolved"),
        CaseSource::LowRating => ("差评", "Low rating"),
        CaseSource::Complaint => ("投诉", "Complaint"),
        CaseSource::Survey => ("问卷", "Survey"),
        CaseSource::Manual => ("人工", "By hand"),
        CaseSource::Hotline => ("热线", "Hotline"),
    };
    lang.t(zh, en).to_owned()
}

fn state_name(lang: &Lang, s: CaseState) -> String {
    let (zh, en) = match s {
        CaseState::Open => ("待受理", "Open"),
        CaseState::Acknowledged => ("已受理", "Acknowledged"),
        CaseState::Investigating => ("处理中", "Investigating"),
        CaseState::Resolved => ("已解决", "Resolved"),
        CaseState::FollowedUp => ("已回访", "Followed up"),
        CaseState::Closed => ("已关闭", "Closed"),
    };
    lang.t(zh, en).to_owned()
}

async fn inbox_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Query(p): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    inbox(&state, &viewer, lang, &uri, &p, String::new()).await
}

async fn inbox(
    state: &AppState,
    viewer: &Viewer,
    lang: Lang,
    uri: &Uri,
    p: &ListParams,
    error: String,
) -> Result<Html<String>, PageError> {
    let tree = state.store.org_tree().await?;
    let f = filter_of(viewer, &tree, p, 500)?;
    let cases = state.store.cases(&f).await?;
    let now = now_ms(state);
    let name_of = |id: &str| {
        OrgNodeId::parse(id)
            .ok()
            .and_then(|n| tree.get(&n).map(|n| n.name.clone()))
            .unwrap_or_else(|| id.to_owned())
    };
    let moments = moment_names(state, &tree, &viewer.user.org, &lang).await?;
    let rows: Vec<Row> = cases
        .iter()
        .map(|c| Row {
            id: c.id.0,
            opened: local_time(&tree, &c.hall, Some(c.opened_at)),
            hall: name_of(c.hall.as_str()),
            source: source_name(&lang, c.source),
            moment: name_in(&moments, c.moment.as_str()),
            severity: lang.t(c.severity.zh(), c.severity.as_str()).to_owned(),
            state: state_name(&lang, c.state),
            owner: c.owner.clone().unwrap_or_default(),
            level: name_of(c.level.as_str()),
            due: local_time(&tree, &c.hall, c.due_at),
            overdue: c.due_at.is_some_and(|d| d <= now),
        })
        .collect();
    let next = match (cases.last(), cases.len() as i64 == f.limit.unwrap_or(50)) {
        (Some(last), true) => {
            let kept: Vec<&str> = uri
                .query()
                .unwrap_or("")
                .split('&')
                .filter(|kv| !kv.is_empty() && !kv.starts_with("before="))
                .collect();
            let mut q = kept.join("&");
            if !q.is_empty() {
                q.push('&');
            }
            format!("/cases?{q}before={}", last.id)
        }
        _ => String::new(),
    };
    let inbox = blank(&p.inbox).unwrap_or(default_inbox(viewer.user.role));
    let mut inboxes = vec![("mine", lang.t("我的", "Mine"))];
    if viewer.user.role >= Role::HallManager {
        inboxes.push(("hall", lang.t("本厅/辖区全部", "All in my scope")));
    }
    if viewer.user.role >= Role::RegionalManager {
        inboxes.push(("escalated", lang.t("升级到本级", "Escalated to me")));
    }
    let mine = tree.subtree(&viewer.user.org);
    let halls: Vec<Choice> = mine
        .iter()
        .filter(|n| n.level == OrgLevel::Hall)
        .map(|n| Choice {
            value: n.id.to_string(),
            label: n.name.clone(),
            selected: blank(&p.hall) == Some(n.id.as_str()),
        })
        .collect();
    // The moments of the journey the viewer's node lives by, for the new-case form.
    let chosen_states = blank(&p.state).unwrap_or("active");
    render(&InboxPage {
        nav: Nav::of(viewer, &tree, &lang, uri),
        rows,
        inboxes: inboxes
            .into_iter()
            .map(|(v, l)| Choice {
                value: v.into(),
                label: l.into(),
                selected: v == inbox,
            })
            .collect(),
        states: [
            ("active", lang.t("未回访", "Active")),
            ("all", lang.t("全部", "All")),
        ]
        .into_iter()
        .map(|(v, l)| (v.to_owned(), l.to_owned()))
        .chain(
            CaseState::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), state_name(&lang, *s))),
        )
        .map(|(v, l)| Choice {
            selected: v == chosen_states,
            value: v,
            label: l,
        })
        .collect(),
        sources: CaseSource::ALL
            .iter()
            .map(|s| Choice {
                value: s.as_str().into(),
                label: source_name(&lang, *s),
                selected: blank(&p.source) == Some(s.as_str()),
            })
            .collect(),
        halls,
        moments,
        query: uri.query().unwrap_or("").to_owned(),
        next,
        error,
        show_kpi: viewer.user.role >= Role::HallManager,
        lang,
    })
    .map_err(Into::into)
}

async fn open_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Form(b): Form<OpenBody>,
) -> Result<Response, PageError> {
    viewer.check_csrf(b.csrf.as_deref())?;
    let tree = state.store.org_tree().await?;
    match new_case(&state, &viewer, &tree, &b).await {
        Ok(new) => {
            let ids = state
                .store
                .open_cases(&[new], viewer.user.name.as_str())
                .await?;
            match ids.first().copied().flatten() {
                Some(id) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
                None => Ok(Redirect::to("/cases").into_response()),
            }
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => Ok(inbox(
            &state,
            &viewer,
            lang,
            &uri,
            &ListParams::default(),
            e.message,
        )
        .await?
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

struct Line {
    at: String,
    actor: String,
    what: String,
    note: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    lang: Lang,
    nav: Nav,
    id: i64,
    version: i64,
    hall: String,
    source: String,
    moment: String,
    severity: String,
    state: String,
    state_key: String,
    summary: String,
    contact: String,
    owner: String,
    level: String,
    opened: String,
    acknowledge_due: String,
    resolve_due: String,
    callback_due: String,
    due: String,
    overdue: bool,
    root_cause: String,
    recovery: String,
    timeline: Vec<Line>,
    moves: Vec<Choice>,
    investigating: bool,
    may_assign: bool,
    callback_due_now: bool,
    callback_link: String,
    sms: String,
    error: String,
}

async fn case_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    show_case(&state, &viewer, lang, &uri, &headers, &id, String::new()).await
}

async fn show_case(
    state: &AppState,
    viewer: &Viewer,
    lang: Lang,
    uri: &Uri,
    headers: &HeaderMap,
    id: &str,
    error: String,
) -> Result<Html<String>, PageError> {
    let (case, may, tree) = load(state, viewer, id).await?;
    let timeline = state.store.case_timeline(case.id).await?;
    let hall_node =
        OrgNodeId::parse(case.hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let moments = moment_names(state, &tree, &hall_node, &lang).await?;
    let v = view(&case, may, viewer.user.role, now_ms(state));
    let t = |ms: Option<i64>| local_time(&tree, &case.hall, ms);
    let name_of = |id: &str| {
        OrgNodeId::parse(id)
            .ok()
            .and_then(|n| tree.get(&n).map(|n| n.name.clone()))
            .unwrap_or_else(|| id.to_owned())
    };
    // The link as the customer's phone will open it: this server's own address.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .unwrap_or("127.0.0.1:8080");
    let link = v
        .callback_link
        .as_ref()
        .map(|l| format!("http://{host}{l}"))
        .unwrap_or_default();
    let sms = if link.is_empty() {
        String::new()
    } else {
        format!(
            "【{}】您好，您反映的问题已处理。请花10秒告诉我们处理是否满意：{link} （链接仅可使用一次）",
            name_of(case.hall.as_str())
        )
    };
    render(&CasePage {
        nav: Nav::of(viewer, &tree, &lang, uri),
        id: case.id.0,
        version: case.version,
        hall: name_of(case.hall.as_str()),
        source: source_name(&lang, case.source),
        moment: name_in(&moments, case.moment.as_str()),
        severity: lang
            .t(case.severity.zh(), case.severity.as_str())
            .to_owned(),
        state: state_name(&lang, case.state),
        state_key: case.state.as_str().into(),
        summary: case.summary.clone(),
        contact: v.case.contact.clone().unwrap_or_default(),
        owner: case.owner.clone().unwrap_or_default(),
        level: name_of(case.level.as_str()),
        opened: t(Some(case.opened_at)),
        acknowledge_due: t(Some(case.acknowledge_due)),
        resolve_due: t(Some(case.resolve_due)),
        callback_due: t(case.callback_due),
        due: t(case.due_at),
        overdue: v.overdue,
        root_cause: case.root_cause.clone().unwrap_or_default(),
        recovery: case.recovery.map(|r| format!("{r}/5")).unwrap_or_default(),
        timeline: timeline
            .iter()
            .map(|e| Line {
                at: t(Some(e.at)),
                actor: e.actor.clone(),
                what: {
                    let state_of = |s: &str| {
                        CaseState::parse(s).map_or_else(|_| s.to_owned(), |s| state_name(&lang, s))
                    };
                    match (&e.from, &e.to) {
                        (Some(f), Some(to)) => format!("{} → {}", state_of(f), state_of(to)),
                        (None, Some(to)) => {
                            format!("{} → {}", entry_kind(&lang, &e.kind), state_of(to))
                        }
                        _ => entry_kind(&lang, &e.kind),
                    }
                },
                note: e.note.clone().unwrap_or_default(),
            })
            .collect(),
        moves: v
            .allowed
            .iter()
            .map(|s| Choice {
                value: s.as_str().into(),
                label: state_name(&lang, *s),
                selected: false,
            })
            .collect(),
        investigating: case.state == CaseState::Investigating,
        may_assign: v.may_assign,
        callback_due_now: case.state == CaseState::Resolved,
        callback_link: link,
        sms,
        error,
        lang,
    })
    .map_err(Into::into)
}

/// Every action of the case page, one form each, told apart by `action`.
#[derive(Deserialize)]
struct ActForm {
    csrf: Option<String>,
    action: String,
    version: i64,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    root_cause: Option<String>,
    #[serde(default)]
    good_faith: Option<String>,
    #[serde(default)]
    recovery: Option<String>,
}

async fn act_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ActForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    let to = f.to.clone().unwrap_or_default();
    let c = match f.action.as_str() {
        "transition" => transition_of(TransitionBody {
            to,
            version: f.version,
            note: f.note,
            root_cause: f.root_cause.filter(|c| !c.trim().is_empty()),
            good_faith: match f.good_faith.as_deref() {
                Some("good") => Some(true),
                Some("bad") => Some(false),
                _ => None,
            },
        })
        .map(|(_, c)| c),
        "assign" => UserName::parse(to.trim())
            .map(|to| CaseChange::Assign { to, note: f.note })
            .map_err(|e| ApiError::unprocessable(&[format!("to: {}", e.reason)])),
        "callback" => f
            .recovery
            .as_deref()
            .and_then(|r| r.trim().parse::<i64>().ok())
            .map(|recovery| CaseChange::Callback {
                recovery,
                recommend: None,
                note: f.note,
            })
            .ok_or_else(|| ApiError::unprocessable(&["recovery: choose 1 to 5"])),
        other => Err(ApiError::bad_request(format!("unknown action `{other}`"))),
    };
    let result = match c {
        Ok(c) => change(&state, &viewer, &id, f.version, c).await.map(drop),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        // Shown on the case page, which reloads the case as it is now.
        Err(e)
            if matches!(
                e.status,
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
            ) =>
        {
            let page = show_case(&state, &viewer, lang, &uri, &headers, &id, e.message).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// ---- the customer's callback page ----

#[derive(Template)]
#[template(path = "case_callback.html")]
struct CallbackPage {
    lang: Lang,
    hall: String,
    token: String,
    done: bool,
    error: String,
}

fn spent(lang: Lang) -> PageError {
    PageError::for_customer(
        ApiError::not_found("this callback link is unknown or has been used"),
        lang,
    )
}

async fn customer_page(
    State(state): State<AppState>,
    lang: Lang,
    Path(token): Path<String>,
) -> Result<Html<String>, PageError> {
    let case = state
        .store
        .case_by_token(&token)
        .await
        .map_err(|e| PageError::for_customer(e.into(), lang))?
        .ok_or_else(|| spent(lang))?;
    let tree = state
        .store
        .org_tree()
        .await
        .map_err(|e| PageError::for_customer(e.into(), lang))?;
    let hall = OrgNodeId::parse(case.hall.as_str())
        .ok()
        .and_then(|n| tree.get(&n).map(|n| n.name.clone()))
        .unwrap_or_default();
    render(&CallbackPage {
        lang,
        hall,
        token,
        done: false,
        error: String::new(),
    })
    .map_err(|e| PageError::for_customer(e, lang))
}

#[derive(Deserialize)]
struct Answer {
    recovery: Option<String>,
    recommend: Option<String>,
}

async fn customer_answer(
    State(state): State<AppState>,
    lang: Lang,
    Path(token): Path<String>,
    Form(a): Form<Answer>,
) -> Result<Html<String>, PageError> {
    let number = |s: &Option<String>, lo: i64, hi: i64| {
        s.as_deref()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|n| (lo..=hi).contains(n))
    };
    let Some(recovery) = number(&a.recovery, 1, 5) else {
        return render(&CallbackPage {
            lang,
            hall: String::new(),
            token,
            done: false,
            error: lang
                .t("请选择对处理结果的满意程度（1–5）", "Please choose 1 to 5")
                .into(),
        })
        .map_err(|e| PageError::for_customer(e, lang));
    };
    let recommend = number(&a.recommend, 0, 10);
    let done = state
        .store
        .customer_callback(&token, recovery, recommend, now_ms(&state))
        .await
        .map_err(|e| PageError::for_customer(e.into(), lang))?;
    if done.is_none() {
        return Err(spent(lang));
    }
    render(&CallbackPage {
        lang,
        hall: String::new(),
        token: String::new(),
        done: true,
        error: String::new(),
    })
    .map_err(|e| PageError::for_customer(e, lang))
}

/// Case counts by moment for a set of halls over opening times [from, to): what the
/// analysis page shows next to the peak-end results.
pub async fn cases_by_moment(
    state: &AppState,
    halls: Option<&[HallId]>,
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<String, i64>, ApiError> {
    let f = state
        .store
        .case_figures(halls, from_ms, to_ms, now_ms(state))
        .await?;
    let mut out = BTreeMap::new();
    for (_, m, c) in f.by_source_moment {
        *out.entry(m).or_insert(0) += c;
    }
    Ok(out)
}
