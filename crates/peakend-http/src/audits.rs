//! Standards checked (issue 21): audits and their photos, exams sat, and the compliance
//! report. An audit is judged against the journey its hall lives by: a standard the
//! journey lacks, a result of the wrong kind or a photo never uploaded refuses it whole.
//! A call-monitoring audit (issue 22) scores one recorded call of a contact centre: it
//! names the call and the agent, checks only what a recording can judge, and is refused
//! for a journey without call moments, a call the centre's stored events do not hold,
//! or an agent who did not take it.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use peakend_core::audit::{Checker, ComplianceBy};
use peakend_core::{Action, OrgNodeId, OrgTree};
use peakend_store::{Exam, MAX_PHOTO_BYTES, NewAudit, NewAuditItem};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audits", post(submit))
        .route(
            "/api/v1/audits/photos",
            // The photo's own limit is checked in the handler (413 with a message);
            // the route lets a little more through so that it can be.
            post(upload_photo).layer(DefaultBodyLimit::max(MAX_PHOTO_BYTES + 1024)),
        )
        .route("/api/v1/audits/photos/{id}", get(photo))
        .route("/api/v1/compliance", get(compliance_api))
        .route("/api/v1/exams", post(record_exam))
        .route("/compliance", get(compliance_page))
        .route("/audit", get(audit_home))
}

#[derive(askama::Template)]
#[template(path = "audit_home.html")]
struct AuditHome {
    nav: crate::view::Nav,
    lang: crate::view::Lang,
    /// (hall id, name, district name) of the halls in the viewer's scope.
    halls: Vec<(String, String, String)>,
}

/// Where an auditor starts: the halls it may audit, each to its phone page.
async fn audit_home(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: crate::view::Lang,
    uri: axum::http::Uri,
) -> Result<axum::response::Html<String>, crate::view::PageError> {
    viewer.require(Action::SubmitAudit)?;
    let tree = state.store.org_tree().await?;
    let halls = tree
        .subtree(&viewer.user.org)
        .into_iter()
        .filter(|n| n.level.is_leaf())
        .map(|h| {
            let parent = h
                .parent
                .as_ref()
                .and_then(|p| tree.get(p))
                .map_or(String::new(), |p| p.name.clone());
            (h.id.to_string(), h.name.clone(), parent)
        })
        .collect();
    Ok(crate::view::render(&AuditHome {
        nav: crate::view::Nav::of(&viewer, &tree, &lang, &uri),
        lang,
        halls,
    })?)
}

/// A JSON body read by hand, so that a bad one is a 400 naming the field.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        ApiError::bad_request(format!("the JSON body does not parse: {at}{}", e.inner()))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditBody {
    hall: String,
    kind: String,
    /// RFC 3339 with an offset.
    at: String,
    /// The call a `monitoring` audit scores, and the agent who took it.
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    items: Vec<ItemBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    standard: String,
    result: serde_json::Value,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    photo: Option<String>,
}

/// A result as text, whether the client sent `"yes"`, `true` or `3`.
fn result_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(if *b { "yes" } else { "no" }.into()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Records an audit of a hall: `{"hall","kind","at","items":[{"standard","result",
/// "note","photo"}]}` → `{"id": n}`. Every problem is listed in one 422.
async fn submit(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::SubmitAudit)?;
    let b: AuditBody = json_body(&body)?;
    let tree = state.store.org_tree().await?;
    let hall = viewer.site_in_scope(&tree, &b.hall)?;
    let node = OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut problems = Vec::new();
    let kind = Checker::parse(&b.kind)
        .map_err(|e| problems.push(format!("kind: {e}")))
        .ok();
    let at = peakend_core::time::parse_instant(&b.at)
        .map_err(|e| problems.push(format!("at: {e}")))
        .ok();
    let now = state.clock.now().timestamp_millis();
    if at.is_some_and(|at| at.timestamp_millis() > now + 3_600_000) {
        problems.push("at: in the future".to_owned());
    }
    if b.items.is_empty() {
        problems.push("items: an audit checks at least one standard".to_owned());
    }
    let (journey, _) = peakend_store::effective_journey(state.store.as_ref(), &node).await?;
    let monitoring = kind == Some(Checker::Monitoring);
    let (call, agent) = monitored_call(
        &state,
        &hall,
        &journey,
        monitoring,
        &b,
        at.map(|a| a.timestamp_millis()),
        &mut problems,
    )
    .await?;
    let recordable = monitoring.then(|| {
        peakend_core::checklist::checklist(&journey, Checker::Monitoring)
            .items()
            .map(|(_, i)| i.standard.clone())
            .collect::<std::collections::HashSet<String>>()
    });
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, it) in b.items.iter().enumerate() {
        let at_item = format!("items[{i}]");
        let Some((moment, standard)) = journey.standard(it.standard.trim()) else {
            problems.push(format!(
                "{at_item}.standard: `{}` is not a standard of journey `{}`",
                it.standard,
                journey.key()
            ));
            continue;
        };
        if !seen.insert(standard.key.clone()) {
            problems.push(format!(
                "{at_item}.standard: `{}` is checked twice",
                standard.key
            ));
            continue;
        }
        if recordable
            .as_ref()
            .is_some_and(|r| !r.contains(standard.key.as_str()))
            && journey.has_call_moments()
        {
            problems.push(format!(
                "{at_item}.standard: `{}` is not judged from a recorded call (not on the monitoring checklist of journey `{}`)",
                standard.key,
                journey.key()
            ));
            continue;
        }
        let Some(check) = &standard.check else {
            problems.push(format!(
                "{at_item}.standard: `{}` has no check in journey `{}`",
                standard.key,
                journey.key()
            ));
            continue;
        };
        let Some(text) = result_text(&it.result) else {
            problems.push(format!("{at_item}.result: not a text, number or boolean"));
            continue;
        };
        let result = match check.verify.parse_result(&text) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!(
                    "{at_item}.result: {e} (`{}` is checked by `{}`)",
                    standard.key, check.verify
                ));
                continue;
            }
        };
        let note = it
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            problems.push(format!("{at_item}.note: longer than 2,000 characters"));
        }
        let photo = it
            .photo
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        if photo
            .as_ref()
            .is_some_and(|p| p.len() != 64 || !p.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            problems.push(format!("{at_item}.photo: not a photo id"));
        }
        items.push(NewAuditItem {
            standard: standard.key.clone(),
            moment: moment.key.clone(),
            result: text.trim().to_owned(),
            passed: check.verify.passes(result),
            note,
            photo,
        });
    }
    let (Some(kind), Some(at), true) = (kind, at, problems.is_empty()) else {
        return Err(ApiError::unprocessable(&problems));
    };
    let zone = tree.zone_of(&node);
    let day = zone
        .local(at.timestamp_millis())
        .map(|t| t.date_naive())
        .ok_or_else(|| ApiError::unprocessable(&["at: out of range"]))?;
    let id = state
        .store
        .record_audit(&NewAudit {
            hall,
            kind,
            at_ms: at.timestamp_millis(),
            day,
            journey: journey.key().clone(),
            by: viewer.user.name.to_string(),
            call,
            agent,
            items,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

/// The call and agent of an audit, checked: a `monitoring` audit needs both, on a
/// journey with call moments, and a call its centre's stored events hold (when the
/// centre sends its events), taken by that agent, offered before the audit; another
/// kind names neither. Problems are added to `problems`.
async fn monitored_call(
    state: &AppState,
    site: &peakend_core::HallId,
    journey: &peakend_core::Journey,
    monitoring: bool,
    b: &AuditBody,
    at_ms: Option<i64>,
    problems: &mut Vec<String>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (call, agent) = (text(&b.call), text(&b.agent));
    if !monitoring {
        for (field, v) in [("call", &call), ("agent", &agent)] {
            if v.is_some() {
                problems.push(format!(
                    "{field}: only a `monitoring` audit names a call and its agent"
                ));
            }
        }
        return Ok((None, None));
    }
    if !journey.has_call_moments() {
        problems.push(format!(
            "kind: `monitoring` scores a recorded call, and journey `{}` that `{site}` lives by has no call moments (its channel is not the phone)",
            journey.key()
        ));
        return Ok((None, None));
    }
    match &call {
        None => problems.push("call: a `monitoring` audit names the call it scores".into()),
        Some(c) if c.chars().count() > 128 => {
            problems.push("call: longer than 128 characters".into())
        }
        Some(_) => {}
    }
    match &agent {
        None => {
            problems.push("agent: a `monitoring` audit names the agent who took the call".into())
        }
        Some(a) if a.chars().count() > 64 => {
            problems.push("agent: longer than 64 characters".into())
        }
        Some(_) => {}
    }
    let (Some(c), Some(a)) = (&call, &agent) else {
        return Ok((call, agent));
    };
    if c.chars().count() > 128 || a.chars().count() > 64 {
        return Ok((call, agent));
    }
    match state.store.call_on_record(site, c).await? {
        // A centre that sends no events: its recordings are scored on the monitor's word.
        peakend_store::CallOnRecord::NoEvents => {}
        peakend_store::CallOnRecord::Unknown => problems.push(format!(
            "call: `{c}` is not a call of `{site}`: none of its stored call events names it"
        )),
        peakend_store::CallOnRecord::Found { offered_at, agents } => {
            if agents.is_empty() {
                problems.push(format!(
                    "call: `{c}` was never answered by an agent: there is no conversation to score"
                ));
            } else if !agents.contains(a) {
                problems.push(format!(
                    "agent: `{a}` did not take call `{c}` (taken by {})",
                    agents.join(", ")
                ));
            }
            if let (Some(offered), Some(at)) = (offered_at, at_ms)
                && at < offered
            {
                problems.push(format!("at: before call `{c}` was offered"));
            }
        }
    }
    Ok((call, agent))
}

/// The image type of some bytes, by their signature.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// A photo as the body (`Content-Type: image/jpeg|png`, ≤ 5 MB, the type checked by
/// content), kept once by its SHA-256 → `{"id": …}`.
async fn upload_photo(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::SubmitAudit)?;
    if body.len() > MAX_PHOTO_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the photo is {} bytes; at most 5 MB ({MAX_PHOTO_BYTES} bytes)",
                body.len()
            ),
        ));
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if declared != "image/jpeg" && declared != "image/png" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type `{declared}`: send image/jpeg or image/png"),
        ));
    }
    match image_type(&body) {
        Some(t) if t == declared => {}
        Some(t) => {
            return Err(ApiError::unprocessable(&[format!(
                "the body is {t}, not the {declared} its Content-Type says"
            )]));
        }
        None => {
            return Err(ApiError::unprocessable(&[format!(
                "the body is not a {declared} image"
            )]));
        }
    }
    let id = state
        .store
        .put_photo(&body, &declared, viewer.user.name.as_str())
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

/// A photo, to those who may see results (any signed-in user but an auditor).
async fn photo(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    viewer.require(Action::View)?;
    // A photo is seen by those who see a hall whose audit shows it; to others it does
    // not exist.
    let tree = state.store.org_tree().await?;
    let halls = state.store.photo_halls(id.trim()).await?;
    let visible = halls
        .iter()
        .any(|h| OrgNodeId::parse(h.as_str()).is_ok_and(|n| viewer.scope.covers(&tree, &n)));
    if !visible {
        return Err(ApiError::not_found(format!("photo `{id}` not found")));
    }
    let (content_type, bytes) = state
        .store
        .photo(id.trim())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("photo `{id}` not found")))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=86400".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// The node, dates and grouping of a compliance question, read from its parameters:
/// the viewer's node and the last 90 days (its local dates) by default.
async fn compliance_question(
    state: &AppState,
    viewer: &Viewer,
    p: &ComplianceParams,
    default_by: ComplianceBy,
) -> Result<(OrgTree, OrgNodeId, NaiveDate, NaiveDate, ComplianceBy), ApiError> {
    let tree = state.store.org_tree().await?;
    let org = match p.org.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(o) => OrgNodeId::parse(o).map_err(|e| ApiError::bad_request(format!("org: {e}")))?,
        None => viewer.user.org.clone(),
    };
    viewer.ensure_covers(&tree, &org)?;
    let today = crate::plan::today(state, &tree, &org);
    let date = |field: &str, v: &Option<String>, default: NaiveDate| match v
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Ok(default),
        Some(s) => peakend_core::time::parse_date(s)
            .map_err(|e| ApiError::bad_request(format!("{field}: {e}"))),
    };
    let to = date("to", &p.to, today)?;
    let from = date("from", &p.from, to - chrono::Days::new(89))?;
    if from > to {
        return Err(ApiError::bad_request("from: after to"));
    }
    if (to - from).num_days() > 3 * 366 {
        return Err(ApiError::bad_request("from: at most three years before to"));
    }
    let by = match p.by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => default_by,
        Some(b) => b
            .parse()
            .map_err(|e: String| ApiError::bad_request(format!("by: {e}")))?,
    };
    Ok((tree, org, from, to, by))
}

#[derive(Deserialize)]
struct ComplianceParams {
    org: Option<String>,
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    format: Option<String>,
}

/// `GET /api/v1/compliance?org=&from=&to=&by=hall|moment|standard|day|agent[&format=csv]`:
/// dates are the halls' local dates, inclusive; the last 90 days by default. A contact
/// centre's report is asked of the centre (or `by=agent`, its agents' call monitoring).
async fn compliance_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(p): Query<ComplianceParams>,
) -> Result<Response, ApiError> {
    let (_, org, from, to, by) =
        compliance_question(&state, &viewer, &p, ComplianceBy::Standard).await?;
    let report = peakend_store::compliance(state.store.as_ref(), &org, from, to, by).await?;
    match p.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(serde_json::json!({
            "org": org.to_string(),
            "from": from,
            "to": to,
            "report": report,
        }))
        .into_response()),
        "csv" => crate::download::attachment(
            crate::download::FileFormat::Csv,
            "compliance",
            peakend_io::compliance_csv(&report),
        ),
        other => Err(ApiError::bad_request(format!(
            "format: `{other}` is not json or csv"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamBody {
    hall: String,
    staff: String,
    /// `week`, `month` or `quarter` (weekly, monthly, quarterly exams).
    period: String,
    /// The date it was sat (the hall's local date).
    taken: String,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    out_of: Option<f64>,
    /// Answers to the journey's question bank, graded here: `[{"question","answer"}]`.
    #[serde(default)]
    answers: Option<Vec<AnswerBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    question: String,
    answer: serde_json::Value,
}

/// Records an exam a staff member sat: a score out of a maximum, or the answers to the
/// question bank of the hall's journey, graded → `{"id", "score", "out_of"}`.
async fn record_exam(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::KeepPlan)?;
    let b: ExamBody = json_body(&body)?;
    let tree = state.store.org_tree().await?;
    let hall = viewer.hall_in_scope(&tree, &b.hall)?;
    let mut problems = Vec::new();
    let staff = b.staff.trim();
    if staff.is_empty() || staff.chars().count() > 64 {
        problems.push("staff: 1 to 64 characters".to_owned());
    }
    if !matches!(b.period.as_str(), "week" | "month" | "quarter") {
        problems.push(format!(
            "period: `{}` is not week, month or quarter",
            b.period
        ));
    }
    let taken = peakend_core::time::parse_date(&b.taken)
        .map_err(|e| problems.push(format!("taken: {e}")))
        .ok();
    let graded = match (&b.answers, b.score, b.out_of) {
        (Some(answers), None, None) => {
            let node = OrgNodeId::parse(hall.as_str())
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let (journey, _) =
                peakend_store::effective_journey(state.store.as_ref(), &node).await?;
            let bank = peakend_core::handbook::questions(&journey);
            let pairs: Vec<(String, String)> = answers
                .iter()
                .map(|a| {
                    let text = match &a.answer {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (a.question.clone(), text)
                })
                .collect();
            match peakend_core::handbook::grade(&bank, &pairs) {
                Ok(g) if g.asked > 0 => Some((f64::from(g.right), f64::from(g.asked))),
                Ok(_) => {
                    problems.push("answers: empty".to_owned());
                    None
                }
                Err(e) => {
                    problems.push(format!("answers: {e}"));
                    None
                }
            }
        }
        (None, Some(score), Some(out_of)) => {
            if !(out_of.is_finite() && out_of > 0.0) {
                problems.push("out_of: a number above 0".to_owned());
                None
            } else if !(score.is_finite() && (0.0..=out_of).contains(&score)) {
                problems.push(format!("score: {score} is outside 0–{out_of}"));
                None
            } else {
                Some((score, out_of))
            }
        }
        _ => {
            problems.push("give either `score` and `out_of`, or `answers`".to_owned());
            None
        }
    };
    let (Some(taken), Some((score, out_of)), true) = (taken, graded, problems.is_empty()) else {
        return Err(ApiError::unprocessable(&problems));
    };
    let exam = Exam {
        id: 0,
        hall: hall.to_string(),
        staff: staff.to_owned(),
        period: b.period.clone(),
        taken,
        score,
        out_of,
    };
    let id = state
        .store
        .add_exam(&exam, viewer.user.name.as_str())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "score": score, "out_of": out_of })),
    ))
}

#[derive(askama::Template)]
#[template(path = "compliance.html")]
struct CompliancePage {
    nav: crate::view::Nav,
    lang: crate::view::Lang,
    org: String,
    org_name: String,
    from: NaiveDate,
    to: NaiveDate,
    report: peakend_core::audit::ComplianceReport,
    /// Per agent of the contact centres under the node, from call monitoring.
    agents: Vec<peakend_core::audit::ComplianceLine>,
    /// (key, name) of the journey's moments, standards and the halls in the report.
    names: std::collections::BTreeMap<String, String>,
}

impl CompliancePage {
    fn pct(&self, x: &Option<f64>) -> String {
        x.map_or("–".into(), |c| format!("{:.1}%", c * 100.0))
    }

    fn num(&self, x: &Option<f64>) -> String {
        x.map_or("–".into(), |v| format!("{v:.1}"))
    }

    fn name(&self, key: &str) -> String {
        self.names
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    fn rho(&self, e: &peakend_core::audit::MomentEffect) -> String {
        match &e.correlation {
            Some(c) => match c.ci95 {
                Some((lo, hi)) => format!("{:+.2} ({:+.2}…{:+.2})", c.rho, lo, hi),
                None => format!("{:+.2}", c.rho),
            },
            None => "–".into(),
        }
    }
}

/// The compliance page: a node's figures by moment and standard, its month trend, the
/// league of its halls and which moments' standards move their customers.
async fn compliance_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: crate::view::Lang,
    uri: axum::http::Uri,
    Query(p): Query<ComplianceParams>,
) -> Result<axum::response::Html<String>, crate::view::PageError> {
    let (tree, org, from, to, by) =
        compliance_question(&state, &viewer, &p, ComplianceBy::Standard).await?;
    let report = peakend_store::compliance(state.store.as_ref(), &org, from, to, by).await?;
    let (journey, _) = peakend_store::analysis_journey(state.store.as_ref(), &org).await?;
    let mut names = std::collections::BTreeMap::new();
    for m in journey.moments() {
        names.insert(m.key.to_string(), lang.text(&m.name).to_owned());
        for s in &m.standards {
            let text = lang.text(&s.text);
            let short: String = text.chars().take(28).collect();
            let short = if text.chars().count() > 28 {
                format!("{short}…")
            } else {
                short
            };
            names.insert(s.key.to_string(), short);
        }
    }
    for h in &report.league {
        if let Some(n) = OrgNodeId::parse(&h.hall).ok().and_then(|id| tree.get(&id)) {
            names.insert(h.hall.clone(), n.name.clone());
        }
    }
    let centres: Vec<peakend_core::HallId> = tree
        .subtree(&org)
        .into_iter()
        .filter(|n| n.level == peakend_core::OrgLevel::Centre)
        .filter_map(|n| {
            names.insert(n.id.to_string(), n.name.clone());
            peakend_core::HallId::parse(n.id.as_str()).ok()
        })
        .collect();
    let agents = if centres.is_empty() {
        Vec::new()
    } else {
        peakend_core::audit::agent_lines(&state.store.agent_checks(&centres, from, to).await?)
    };
    let org_name = tree.get(&org).map_or(org.to_string(), |n| n.name.clone());
    Ok(crate::view::render(&CompliancePage {
        nav: crate::view::Nav::of(&viewer, &tree, &lang, &uri),
        lang,
        org: org.to_string(),
        org_name,
        from,
        to,
        report,
        agents,
        names,
    })?)
}
