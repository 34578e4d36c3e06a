//! Each hall's 5-step improvement plan (issue 21): (1) the data it gathers by itself,
//! (2) the stock-take, (3) its most urgent problems ranked by
//! `importance × (10 − satisfaction) × (1 − compliance)`, (4) actions with the metric
//! they must move, (5) a morning-meeting calendar, the drills held, and each action
//! re-measured after its due date. The page and `GET /api/v1/halls/{hall}/plan` show
//! the same plan.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Days, NaiveDate};
use peakend_core::audit::{
    BeforeAfter, ComplianceBy, ComplianceLine, MomentStanding, Tally, before_after, rank_problems,
    share_sample,
};
use peakend_core::case::CaseState;
use peakend_core::ops::ticket::Kpis;
use peakend_core::{Action, HallId, Journey, OrgNodeId, OrgTree};
use peakend_store::{AnalysisQuery, CaseFilter, Drill, KpiQuery, PlanAction, Stocktake};
use serde::{Deserialize, Serialize};

use crate::audits::json_body;
use crate::auth::Viewer;
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/halls/{hall}/plan", get(plan_api))
        .route("/api/v1/halls/{hall}/plan/stocktake", post(stocktake_api))
        .route("/api/v1/halls/{hall}/plan/actions", post(action_api))
        .route("/api/v1/halls/{hall}/plan/drills", post(drill_api))
        .route("/halls/{hall}/plan", get(plan_page))
}

/// The days of survey, compliance and exams a plan looks back on.
const LOOKBACK_DAYS: u64 = 90;
/// The days of the morning-meeting calendar ahead.
const CALENDAR_DAYS: u64 = 14;
/// The moments the calendar cycles through.
const CALENDAR_MOMENTS: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub hall: String,
    pub hall_name: String,
    pub journey: String,
    pub as_of: NaiveDate,
    /// Step 3, first: the moments ranked by priority, with the figures behind it.
    pub problems: Vec<ProblemView>,
    /// Moments the survey gave no satisfaction for: not ranked.
    pub unranked: Vec<String>,
    /// Step 1.
    pub data: PlanData,
    /// Step 2: the latest stock-take.
    pub stocktake: Option<Stocktake>,
    /// Step 4, with step 5's review after each due date.
    pub actions: Vec<ActionView>,
    /// Step 5.
    pub calendar: Vec<CalendarDay>,
    pub drills: Vec<Drill>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProblemView {
    pub rank: usize,
    pub moment: String,
    pub name: String,
    pub importance: f64,
    pub satisfaction: f64,
    pub compliance: Option<f64>,
    pub priority: f64,
    pub peak: bool,
    pub end: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanData {
    pub from: NaiveDate,
    pub survey: Option<SurveyData>,
    pub kpis: Option<Kpis>,
    pub compliance_index: Option<f64>,
    pub compliance: Vec<ComplianceLine>,
    pub open_cases: usize,
    pub overdue_cases: usize,
    pub cases_by_moment: BTreeMap<String, usize>,
    pub exams: ExamData,
}

#[derive(Debug, Clone, Serialize)]
pub struct SurveyData {
    /// The visit dates the survey figures are of: the last 90 days, or the 90 days up
    /// to the hall's latest answer when it has none in those.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub respondents: u64,
    pub peaks: Vec<String>,
    pub end: String,
    pub moments: Vec<MomentData>,
    pub by_purpose: Vec<PurposeData>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MomentData {
    pub key: String,
    pub importance: Option<f64>,
    pub satisfaction: Option<f64>,
    pub n: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PurposeData {
    pub purpose: String,
    pub respondents: u64,
    pub peaks: Vec<String>,
    pub end: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExamData {
    pub sat: usize,
    /// Mean score as a percentage of the maximum.
    pub mean_percent: Option<f64>,
    /// Per period (`week`, `month`, `quarter`): (exams, mean percentage).
    pub by_period: BTreeMap<String, (usize, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    #[serde(flatten)]
    pub action: PlanAction,
    pub review: Option<Review>,
}

/// An action re-measured once its due date has passed: the metric over the 90 days
/// before the action against the days since, with the change's 95 % interval.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub before_from: NaiveDate,
    pub after_from: NaiveDate,
    pub after_to: NaiveDate,
    pub result: Option<BeforeAfter>,
    /// Whether the metric after reached the target; `None` without data after.
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalendarDay {
    pub day: NaiveDate,
    pub moment: String,
    pub name: String,
    pub standards: Vec<String>,
    pub guides: Vec<String>,
}

fn hall_node(hall: &HallId) -> Result<OrgNodeId, ApiError> {
    OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The node's local date on the halls' clock.
pub(crate) fn today(state: &AppState, tree: &OrgTree, node: &OrgNodeId) -> NaiveDate {
    let now = state.clock.now();
    tree.zone_of(node)
        .local(now.timestamp_millis())
        .map_or(now.date_naive(), |t| t.date_naive())
}

/// A metric an action may name: `satisfaction.<moment>`, `overall` or
/// `compliance.<moment>`.
#[derive(Debug, Clone, PartialEq)]
enum Metric {
    Satisfaction(usize),
    Overall,
    Compliance(String),
}

fn parse_metric(journey: &Journey, s: &str) -> Result<Metric, String> {
    let moment = |key: &str| {
        journey
            .moments()
            .iter()
            .position(|m| m.key.as_str() == key)
            .ok_or_else(|| format!("`{key}` is not a moment of journey `{}`", journey.key()))
    };
    match s.trim().split_once('.') {
        None if s.trim() == "overall" => Ok(Metric::Overall),
        Some(("satisfaction", m)) => Ok(Metric::Satisfaction(moment(m)?)),
        Some(("compliance", m)) => {
            moment(m)?;
            Ok(Metric::Compliance(m.to_owned()))
        }
        _ => Err(format!(
            "`{s}` is not satisfaction.<moment>, overall or compliance.<moment>"
        )),
    }
}

/// A metric's sample over the hall's days [from, to]: (n, mean, variance).
async fn measure(
    state: &AppState,
    hall: &HallId,
    journey: &Journey,
    metric: &Metric,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(u64, f64, Option<f64>), ApiError> {
    let halls = std::slice::from_ref(hall);
    match metric {
        Metric::Compliance(moment) => {
            let mut t = Tally::default();
            for r in state
                .store
                .check_rows(
                    Some(halls),
                    from,
                    to,
                    peakend_store::CheckGrouping::Standards,
                )
                .await?
                .iter()
                .filter(|r| &r.moment == moment)
            {
                t.add(r.made, r.passed);
            }
            Ok(share_sample(t))
        }
        Metric::Satisfaction(_) | Metric::Overall => {
            let mut s = peakend_core::analysis::RunningStats::default();
            for r in state
                .store
                .responses(journey, Some(halls), Some(from), Some(to))
                .await?
            {
                let x = match metric {
                    Metric::Satisfaction(i) => r.ratings.get(*i).and_then(|x| x.satisfaction),
                    _ => r.overall,
                };
                s.push_present(x);
            }
            Ok((s.n, s.mean().unwrap_or(0.0), s.variance()))
        }
    }
}

/// Builds the whole plan of a hall as of its local today, on `journey`, the one the
/// hall lives by.
pub async fn build_plan(
    state: &AppState,
    tree: &OrgTree,
    hall: &HallId,
    journey: &Journey,
) -> Result<Plan, ApiError> {
    let store = state.store.as_ref();
    let node = hall_node(hall)?;
    let today = today(state, tree, &node);
    let from = today - Days::new(LOOKBACK_DAYS);

    // Step 1: the data.
    let q = AnalysisQuery {
        org: Some(&node),
        from: Some(from),
        to: Some(today),
        ..Default::default()
    };
    let mut analysis = peakend_store::stored_analysis(store, journey, &q)
        .await
        .ok()
        .filter(|a| a.respondents > 0);
    let (mut survey_from, mut survey_to) = (from, today);
    let mut q = q;
    if analysis.is_none() {
        // No survey in the last 90 days: the 90 days up to the hall's latest answer,
        // said on the plan, rather than no ranking at all until the next wave.
        let latest = store
            .responses(journey, Some(std::slice::from_ref(hall)), None, Some(today))
            .await?
            .iter()
            .map(|r| r.date)
            .max();
        if let Some(last) = latest {
            survey_to = last;
            survey_from = last - Days::new(LOOKBACK_DAYS);
            q.from = Some(survey_from);
            q.to = Some(survey_to);
            analysis = peakend_store::stored_analysis(store, journey, &q)
                .await
                .ok()
                .filter(|a| a.respondents > 0);
        }
    }
    let by_purpose = peakend_store::stored_analysis(
        store,
        journey,
        &AnalysisQuery {
            by: Some(peakend_core::analysis::GroupBy::Purpose),
            ..q.clone()
        },
    )
    .await
    .ok();
    let survey = analysis.as_ref().map(|a| SurveyData {
        from: survey_from,
        to: survey_to,
        respondents: a.respondents,
        peaks: a.peaks.clone(),
        end: a.end.clone(),
        moments: a
            .moments
            .iter()
            .map(|m| MomentData {
                key: m.key.clone(),
                importance: m.importance,
                satisfaction: m.satisfaction,
                n: m.n,
            })
            .collect(),
        by_purpose: by_purpose
            .map(|b| {
                b.groups
                    .iter()
                    .map(|g| PurposeData {
                        purpose: g.group.clone(),
                        respondents: g.analysis.respondents,
                        peaks: g.analysis.peaks.clone(),
                        end: g.analysis.end.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    });
    let offset = tree
        .zone_of(&node)
        .offset_at(state.clock.now().timestamp_millis());
    let kpis = peakend_store::stored_kpis(
        store,
        &KpiQuery {
            org: Some(&node),
            from: today - Days::new(29),
            to: today,
            bucket: peakend_core::ops::kpi::Bucket::Day,
            offset,
            now_ms: state.clock.now().timestamp_millis(),
        },
    )
    .await
    .ok()
    .map(|r| r.total);
    let compliance =
        peakend_store::compliance(store, &node, from, today, ComplianceBy::Moment).await?;
    let active = vec![
        CaseState::Open,
        CaseState::Acknowledged,
        CaseState::Investigating,
        CaseState::Resolved,
    ];
    let cases = store
        .cases(&CaseFilter {
            halls: Some(vec![hall.clone()]),
            states: active,
            limit: Some(1000),
            ..Default::default()
        })
        .await?;
    let now_ms = state.clock.now().timestamp_millis();
    let mut cases_by_moment = BTreeMap::new();
    for c in &cases {
        *cases_by_moment.entry(c.moment.to_string()).or_insert(0) += 1;
    }
    let exams = store.exams(hall, from).await?;
    let mut exam_data = ExamData {
        sat: exams.len(),
        ..Default::default()
    };
    if !exams.is_empty() {
        let pct = |e: &peakend_store::Exam| 100.0 * e.score / e.out_of;
        exam_data.mean_percent = Some(exams.iter().map(pct).sum::<f64>() / exams.len() as f64);
        let mut by: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for e in &exams {
            let x = by.entry(e.period.clone()).or_default();
            x.0 += 1;
            x.1 += pct(e);
        }
        exam_data.by_period = by
            .into_iter()
            .map(|(k, (n, sum))| (k, (n, sum / n as f64)))
            .collect();
    }

    // Step 3: the ranking, from the hall's own survey and compliance.
    let by_moment: BTreeMap<&str, &ComplianceLine> = compliance
        .lines
        .iter()
        .map(|l| (l.key.as_str(), l))
        .collect();
    let mut standings = Vec::new();
    let mut unranked = Vec::new();
    for m in journey.moments() {
        let figures = analysis
            .as_ref()
            .and_then(|a| a.moments.iter().find(|x| x.key == m.key.as_str()));
        let importance = figures.and_then(|f| f.importance).or(m.importance);
        match (importance, figures.and_then(|f| f.satisfaction)) {
            (Some(importance), Some(satisfaction)) => standings.push(MomentStanding {
                moment: m.key.to_string(),
                importance,
                satisfaction,
                compliance: by_moment.get(m.key.as_str()).and_then(|l| l.compliance),
            }),
            _ => unranked.push(m.key.to_string()),
        }
    }
    let peaks: Vec<String> = match &analysis {
        Some(a) => a.peaks.clone(),
        None => journey
            .prior_peaks()
            .iter()
            .map(|m| m.key.to_string())
            .collect(),
    };
    let name = |key: &str| {
        journey
            .moments()
            .iter()
            .find(|m| m.key.as_str() == key)
            .map_or(key.to_owned(), |m| m.name.zh.clone())
    };
    let problems: Vec<ProblemView> = rank_problems(&standings)
        .into_iter()
        .enumerate()
        .map(|(i, p)| ProblemView {
            rank: i + 1,
            name: name(&p.standing.moment),
            peak: peaks.contains(&p.standing.moment),
            end: journey.end().key.as_str() == p.standing.moment,
            moment: p.standing.moment,
            importance: p.standing.importance,
            satisfaction: p.standing.satisfaction,
            compliance: p.standing.compliance,
            priority: p.priority,
        })
        .collect();

    // Step 4 and the review of step 5.
    let mut actions = Vec::new();
    for a in store.actions(hall).await? {
        let review = if today > a.due {
            let created = tree
                .zone_of(&node)
                .local(a.created_at)
                .map_or(today, |t| t.date_naive());
            let metric = parse_metric(journey, &a.metric).ok();
            let before_from = created - Days::new(LOOKBACK_DAYS);
            let before_to = created.pred_opt().unwrap_or(created);
            let result = match &metric {
                Some(m) => {
                    let before = measure(state, hall, journey, m, before_from, before_to).await?;
                    let after = measure(state, hall, journey, m, created, today).await?;
                    before_after(before, after)
                }
                None => None,
            };
            Some(Review {
                before_from,
                after_from: created,
                after_to: today,
                met: result.map(|r| r.after >= a.target),
                result,
            })
        } else {
            None
        };
        actions.push(ActionView { action: a, review });
    }

    // Step 5: one theme a day, cycling the top moments (the ranking, else the peaks
    // and the end).
    let mut top: Vec<String> = problems
        .iter()
        .take(CALENDAR_MOMENTS)
        .map(|p| p.moment.clone())
        .collect();
    if top.is_empty() {
        top = peaks.clone();
        top.push(journey.end().key.to_string());
        top.dedup();
    }
    let calendar = (0..CALENDAR_DAYS)
        .filter_map(|i| {
            let key = top.get(i as usize % top.len().max(1))?;
            let m = journey.moments().iter().find(|m| m.key.as_str() == key)?;
            Some(CalendarDay {
                day: today + Days::new(i),
                moment: key.clone(),
                name: m.name.zh.clone(),
                standards: m.standards.iter().map(|s| s.text.zh.clone()).collect(),
                guides: m
                    .blueprint
                    .frontstage
                    .iter()
                    .map(|t| t.zh.clone())
                    .collect(),
            })
        })
        .collect();
    let drills = store.drills(hall, from).await?;
    let stocktake = store.stocktakes(hall, 1).await?.into_iter().next();
    Ok(Plan {
        hall: hall.to_string(),
        hall_name: tree.get(&node).map_or(hall.to_string(), |n| n.name.clone()),
        journey: journey.key().to_string(),
        as_of: today,
        problems,
        unranked,
        data: PlanData {
            from,
            survey,
            kpis,
            compliance_index: compliance.index,
            compliance: compliance.lines,
            open_cases: cases.len(),
            overdue_cases: cases
                .iter()
                .filter(|c| c.due_at.is_some_and(|d| d <= now_ms))
                .count(),
            cases_by_moment,
            exams: exam_data,
        },
        stocktake,
        actions,
        calendar,
        drills,
    })
}

/// The hall of a path, checked: a hall of the tree, in the viewer's scope.
async fn path_hall(
    state: &AppState,
    viewer: &Viewer,
    hall: &str,
) -> Result<(HallId, OrgTree), ApiError> {
    let tree = state.store.org_tree().await?;
    let hall = viewer.path_hall(&tree, hall)?;
    Ok((hall, tree))
}

async fn plan_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(hall): Path<String>,
) -> Result<Json<Plan>, ApiError> {
    let (hall, tree) = path_hall(&state, &viewer, &hall).await?;
    let (journey, _) =
        peakend_store::effective_journey(state.store.as_ref(), &hall_node(&hall)?).await?;
    Ok(Json(build_plan(&state, &tree, &hall, &journey).await?))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct StocktakeBody {
    staff: u32,
    counters: u32,
    kiosks: u32,
    #[serde(default)]
    zones: String,
    #[serde(default)]
    signage: String,
    #[serde(default)]
    rosters: String,
    #[serde(default)]
    roles: String,
    #[serde(default)]
    note: String,
}

async fn stocktake_api(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(hall): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::KeepPlan)?;
    let (hall, _) = path_hall(&state, &viewer, &hall).await?;
    let b: StocktakeBody = json_body(&body)?;
    let problems: Vec<String> = [
        ("zones", &b.zones),
        ("signage", &b.signage),
        ("rosters", &b.rosters),
        ("roles", &b.roles),
        ("note", &b.note),
    ]
    .iter()
    .filter(|(_, v)| v.chars().count() > 2000)
    .map(|(k, _)| format!("{k}: longer than 2,000 characters"))
    .collect();
    if !problems.is_empty() {
        return Err(ApiError::unprocessable(&problems));
    }
    let body = serde_json::to_value(&b)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let id = state
        .store
        .add_stocktake(
            &hall,
            state.clock.now().timestamp_millis(),
            &body,
            viewer.user.name.as_str(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    moment: String,
    #[serde(default)]
    standard: Option<String>,
    what: String,
    owner: String,
    due: String,
    metric: String,
    target: f64,
    #[serde(default)]
    baseline: Option<f64>,
}

async fn action_api(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(hall): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::KeepPlan)?;
    let (hall, tree) = path_hall(&state, &viewer, &hall).await?;
    let b: ActionBody = json_body(&body)?;
    let node = hall_node(&hall)?;
    let (journey, _) = peakend_store::effective_journey(state.store.as_ref(), &node).await?;
    let mut problems = Vec::new();
    let moment = journey
        .moments()
        .iter()
        .find(|m| m.key.as_str() == b.moment.trim());
    if moment.is_none() {
        problems.push(format!(
            "moment: `{}` is not a moment of journey `{}`",
            b.moment,
            journey.key()
        ));
    }
    let standard = b
        .standard
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let (Some(m), Some(s)) = (moment, standard)
        && !m.standards.iter().any(|x| x.key.as_str() == s)
    {
        problems.push(format!(
            "standard: `{s}` is not a standard of moment `{}`",
            m.key
        ));
    }
    for (field, v) in [("what", &b.what), ("owner", &b.owner)] {
        let n = v.trim().chars().count();
        if n == 0 || n > 2000 {
            problems.push(format!("{field}: 1 to 2,000 characters"));
        }
    }
    let due = peakend_core::time::parse_date(&b.due)
        .map_err(|e| problems.push(format!("due: {e}")))
        .ok();
    let metric = parse_metric(&journey, &b.metric)
        .map_err(|e| problems.push(format!("metric: {e}")))
        .ok();
    if !b.target.is_finite() || b.baseline.is_some_and(|x| !x.is_finite()) {
        problems.push("target: a finite number".into());
    }
    let (Some(due), Some(metric), Some(moment), true) = (due, metric, moment, problems.is_empty())
    else {
        return Err(ApiError::unprocessable(&problems));
    };
    let today = today(&state, &tree, &node);
    // The baseline is the metric over the 90 days before the action, unless given.
    let baseline = match b.baseline {
        Some(x) => Some(x),
        None => {
            let (n, mean, _) = measure(
                &state,
                &hall,
                &journey,
                &metric,
                today - Days::new(LOOKBACK_DAYS),
                today.pred_opt().unwrap_or(today),
            )
            .await?;
            (n > 0).then_some(mean)
        }
    };
    let action = PlanAction {
        id: 0,
        moment: moment.key.to_string(),
        standard: standard.map(str::to_owned),
        what: b.what.trim().to_owned(),
        owner: b.owner.trim().to_owned(),
        due,
        metric: b.metric.trim().to_owned(),
        baseline,
        target: b.target,
        created_at: state.clock.now().timestamp_millis(),
        by: viewer.user.name.to_string(),
    };
    let id = state.store.add_action(&hall, &action).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "baseline": baseline })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrillBody {
    day: String,
    moment: String,
    attendees: Vec<String>,
    #[serde(default)]
    note: Option<String>,
}

async fn drill_api(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(hall): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::KeepPlan)?;
    let (hall, _) = path_hall(&state, &viewer, &hall).await?;
    let b: DrillBody = json_body(&body)?;
    let node = hall_node(&hall)?;
    let (journey, _) = peakend_store::effective_journey(state.store.as_ref(), &node).await?;
    let mut problems = Vec::new();
    let day = peakend_core::time::parse_date(&b.day)
        .map_err(|e| problems.push(format!("day: {e}")))
        .ok();
    if !journey
        .moments()
        .iter()
        .any(|m| m.key.as_str() == b.moment.trim())
    {
        problems.push(format!(
            "moment: `{}` is not a moment of journey `{}`",
            b.moment,
            journey.key()
        ));
    }
    let attendees: Vec<String> = b
        .attendees
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if attendees.is_empty() {
        problems.push("attendees: at least one".into());
    }
    if attendees.len() > 200 || attendees.iter().any(|a| a.chars().count() > 64) {
        problems.push("attendees: at most 200 names of 64 characters".into());
    }
    let note = b.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        problems.push("note: longer than 2,000 characters".into());
    }
    let (Some(day), true) = (day, problems.is_empty()) else {
        return Err(ApiError::unprocessable(&problems));
    };
    let id = state
        .store
        .add_drill(
            &hall,
            &Drill {
                id: 0,
                day,
                moment: b.moment.trim().to_owned(),
                attendees,
                note: note.map(str::to_owned),
                by: viewer.user.name.to_string(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

#[derive(Template)]
#[template(path = "plan.html")]
struct PlanPage {
    nav: Nav,
    lang: Lang,
    plan: Plan,
    may_edit: bool,
    moments: Vec<(String, String)>,
}

impl PlanPage {
    fn pct(&self, x: &Option<f64>) -> String {
        x.map_or("–".into(), |c| format!("{:.0}%", c * 100.0))
    }

    fn num(&self, x: &Option<f64>) -> String {
        x.map_or("–".into(), |v| format!("{v:.2}"))
    }

    fn moment_name(&self, key: &str) -> String {
        self.moments
            .iter()
            .find(|(k, _)| k == key)
            .map_or(key.to_owned(), |(_, n)| n.clone())
    }

    fn stock(&self, field: &str) -> String {
        self.plan
            .stocktake
            .as_ref()
            .and_then(|s| s.body.get(field))
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    }
}

async fn plan_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(hall): Path<String>,
) -> Result<Html<String>, PageError> {
    let (hall, tree) = path_hall(&state, &viewer, &hall).await?;
    let (journey, _) =
        peakend_store::effective_journey(state.store.as_ref(), &hall_node(&hall)?).await?;
    let plan = build_plan(&state, &tree, &hall, &journey).await?;
    let moments = journey
        .moments()
        .iter()
        .map(|m| (m.key.to_string(), lang.t(&m.name.zh, &m.name.en).to_owned()))
        .collect();
    Ok(render(&PlanPage {
        nav: Nav::of(&viewer, &tree, &lang, &uri),
        may_edit: viewer.user.role.may(Action::KeepPlan),
        lang,
        plan,
        moments,
    })?)
}
