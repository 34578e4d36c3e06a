//! The journey pages: the service blueprint, its wall poster and the paper
//! questionnaire; the hall's links to them; the language switch.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use peakend_core::handbook::threshold_text;
use peakend_core::{Journey, Lane, Stage};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::view::{Lang, Nav, PageError, html, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/journeys/{key}", get(journey))
        .route("/journeys/{key}/poster", get(poster))
        .route("/journeys/{key}/questionnaire", get(questionnaire))
        .route("/blueprint", get(my_blueprint))
        .route("/halls/{hall}/blueprint", get(hall_page))
        .route("/halls/{hall}/poster", get(hall_page))
        .route("/halls/{hall}/questionnaire", get(hall_page))
        .route("/lang/{code}", get(switch_lang))
}

/// The blueprint of the journey the user's node lives by (the header's link).
async fn my_blueprint(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let (journey, _) =
        peakend_store::effective_journey(state.store.as_ref(), &viewer.user.org).await?;
    Ok(Redirect::to(&format!("/journeys/{}", journey.key())).into_response())
}

/// A hall's blueprint, poster or questionnaire: those of the journey the hall lives by
/// (its region's, when one was assigned), so the wall shows what the hall is held to.
async fn hall_page(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    Path(hall): Path<String>,
) -> Result<Response, PageError> {
    let node = peakend_core::OrgNodeId::parse(hall.as_str())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let tree = state.store.org_tree().await?;
    viewer.ensure_covers(&tree, &node)?;
    let (journey, _) = peakend_store::effective_journey(state.store.as_ref(), &node).await?;
    let page = uri.path().rsplit('/').next().unwrap_or("blueprint");
    let target = match page {
        "poster" | "questionnaire" => format!("/journeys/{}/{page}", journey.key()),
        _ => format!("/journeys/{}", journey.key()),
    };
    let target = match uri.query() {
        Some(q) => format!("{target}?{q}"),
        None => target,
    };
    Ok(Redirect::to(&crate::redirect::local_target_or_home(Some(&target))).into_response())
}

#[derive(Deserialize)]
struct SwitchQuery {
    back: Option<String>,
}

/// The language switch: remembers the choice in a cookie and goes back to the page.
async fn switch_lang(Path(code): Path<String>, Query(q): Query<SwitchQuery>) -> Response {
    let lang = Lang {
        en: code.starts_with("en"),
    };
    let back = crate::redirect::local_target_or_home(q.back.as_deref());
    let mut resp = Redirect::to(&back).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, lang.cookie());
    resp
}

struct StageGroup {
    name: String,
    span: usize,
}

struct MomentColumn {
    name: String,
    key: String,
    importance: String,
    /// How the moment is doing now at the viewer's node: satisfaction and its answers
    /// (empty before any answer, and on the poster).
    performance: String,
    /// How much the viewer's customers care about it now (weighted importance, 1–10).
    importance_now: String,
    /// Fewer answers than [`crate::overview_parts::SMALL_SAMPLE`]: read with care.
    small_sample: bool,
    peak: bool,
    end: bool,
    needs: Vec<String>,
    standards: Vec<StandardCell>,
}

struct StandardCell {
    text: String,
    owner: String,
    threshold: String,
}

struct LaneRow {
    name: String,
    /// The line drawn under this lane: interaction (below customer) or visibility (below frontstage).
    line_below: String,
    cells: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "journey.html")]
struct JourneyPage {
    lang: Lang,
    nav: Nav,
    key: String,
    name: String,
    stages: Vec<StageGroup>,
    moments: Vec<MomentColumn>,
    lanes: Vec<LaneRow>,
    peaks: String,
    end: String,
    /// The stage tabs: (query value, label, chosen); the first is "all".
    tabs: Vec<(String, String, bool)>,
    /// Whose answers the performance row shows.
    performance_of: String,
    /// Below this many respondents a moment's figures are marked a small sample.
    small_sample_min: u64,
}

/// A stage as the blueprint's tabs name it in the address.
fn stage_key(s: Stage) -> &'static str {
    match s {
        Stage::PeopleFlow => "people_flow",
        Stage::CustomerFlow => "customer_flow",
        Stage::BusinessFlow => "business_flow",
    }
}

/// A moment's figures now, from the stored answers at the viewer's node.
#[derive(Default)]
struct MomentNow {
    satisfaction: Option<f64>,
    importance: Option<f64>,
    /// Respondents who rated it.
    n: u64,
}

/// The blueprint of `j` (only the moments of `stage` when one is chosen), each moment
/// with its current satisfaction and importance from `performance` (by moment key).
fn journey_page(
    j: &Journey,
    lang: Lang,
    nav: Nav,
    stage: Option<Stage>,
    performance: &std::collections::BTreeMap<String, MomentNow>,
) -> JourneyPage {
    let peaks = j.prior_peaks();
    let shown = |m: &&peakend_core::Moment| stage.is_none_or(|s| m.stage == s);
    let mut stages: Vec<StageGroup> = Vec::new();
    let mut last: Option<Stage> = None;
    for m in j.moments().iter().filter(shown) {
        let (zh, en) = m.stage.name();
        match stages.last_mut() {
            Some(g) if last == Some(m.stage) => g.span += 1,
            _ => stages.push(StageGroup {
                name: lang.t(zh, en).to_owned(),
                span: 1,
            }),
        }
        last = Some(m.stage);
    }
    let moments = j
        .moments()
        .iter()
        .filter(shown)
        .map(|m| MomentColumn {
            name: lang.text(&m.name).to_owned(),
            key: m.key.to_string(),
            importance: m.importance.map(|v| format!("{v:.2}")).unwrap_or_default(),
            performance: performance
                .get(m.key.as_str())
                .and_then(|p| Some(format!("{:.2}（n={}）", p.satisfaction?, p.n)))
                .unwrap_or_default(),
            importance_now: performance
                .get(m.key.as_str())
                .and_then(|p| Some(format!("{:.2}", p.importance?)))
                .unwrap_or_default(),
            small_sample: performance.get(m.key.as_str()).is_some_and(|p| {
                (p.satisfaction.is_some() || p.importance.is_some())
                    && p.n < crate::overview_parts::SMALL_SAMPLE
            }),
            peak: peaks.iter().any(|p| p.key == m.key),
            end: m.key == j.end().key,
            needs: m
                .core_needs
                .iter()
                .map(|n| lang.text(&n.text).to_owned())
                .collect(),
            standards: m
                .standards
                .iter()
                .map(|s| {
                    let (zh, en) = s.owner.name();
                    StandardCell {
                        text: lang.text(&s.text).to_owned(),
                        owner: lang.t(zh, en).to_owned(),
                        // 字/分钟, 个工作日, %: the unit as people read it, not its key.
                        threshold: s
                            .threshold
                            .as_ref()
                            .map(|t| lang.text(&threshold_text(t)).to_owned())
                            .unwrap_or_default(),
                    }
                })
                .collect(),
        })
        .collect();
    let lanes = Lane::ALL
        .iter()
        .map(|&lane| {
            let (zh, en) = lane.name();
            let line_below = match lane {
                Lane::Customer => lang.t("互动分界线", "Line of interaction"),
                Lane::Frontstage => lang.t("可视分界线", "Line of visibility"),
                _ => "",
            };
            LaneRow {
                name: lang.t(zh, en).to_owned(),
                line_below: line_below.to_owned(),
                cells: j
                    .moments()
                    .iter()
                    .filter(shown)
                    .map(|m| {
                        m.blueprint
                            .lane(lane)
                            .iter()
                            .map(|t| lang.text(t).to_owned())
                            .collect()
                    })
                    .collect(),
            }
        })
        .collect();
    JourneyPage {
        key: j.key().to_string(),
        name: lang.text(j.name()).to_owned(),
        stages,
        moments,
        lanes,
        peaks: peaks
            .iter()
            .map(|m| lang.text(&m.name))
            .collect::<Vec<_>>()
            .join(" · "),
        end: lang.text(&j.end().name).to_owned(),
        tabs: std::iter::once((
            String::new(),
            lang.t("全部", "All").to_owned(),
            stage.is_none(),
        ))
        .chain(
            Stage::ALL
                .iter()
                .filter(|s| j.moments().iter().any(|m| m.stage == **s))
                .map(|s| {
                    let (zh, en) = s.name();
                    (
                        stage_key(*s).to_owned(),
                        lang.t(zh, en).to_owned(),
                        stage == Some(*s),
                    )
                }),
        )
        .collect(),
        performance_of: String::new(),
        small_sample_min: crate::overview_parts::SMALL_SAMPLE,
        lang,
        nav,
    }
}

#[derive(Deserialize)]
struct BlueprintQuery {
    /// Only this stage's moments (`people_flow`, `customer_flow`, `business_flow`).
    stage: Option<String>,
}

async fn journey(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(key): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BlueprintQuery>,
) -> Result<Html<String>, PageError> {
    let j = crate::journeys::load(&state, key).await?;
    let tree = state.store.org_tree().await?;
    let nav = Nav::of(&viewer, &tree, &lang, &uri);
    let stage = match q.stage.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            Stage::ALL
                .into_iter()
                .find(|x| stage_key(*x) == s)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "stage: `{s}` is not people_flow, customer_flow or business_flow"
                    ))
                })?,
        ),
    };
    // Each moment's satisfaction and importance now, from the answers at the viewer's node.
    let org = viewer.user.org.clone();
    let performance = match peakend_store::stored_analysis(
        state.store.as_ref(),
        &j,
        &peakend_store::AnalysisQuery {
            org: Some(&org),
            ..Default::default()
        },
    )
    .await
    {
        Ok(a) => a
            .moments
            .iter()
            .map(|m| {
                let now = MomentNow {
                    satisfaction: m.satisfaction,
                    importance: m.importance,
                    n: m.n,
                };
                (m.key.clone(), now)
            })
            .collect(),
        // No answers yet (or none of this journey): the row stays empty.
        Err(e) if e.kind() == peakend_store::ErrorKind::Invalid => Default::default(),
        Err(e) => return Err(e.into()),
    };
    let mut page = journey_page(&j, lang, nav, stage, &performance);
    page.performance_of = tree
        .get(&org)
        .map_or_else(|| org.to_string(), |n| n.name.clone());
    render(&page).map_err(Into::into)
}

#[derive(Template)]
#[template(path = "poster.html")]
struct PosterPage {
    page: JourneyPage,
    org: String,
}

/// The blueprint for the wall of each hall's back office (上墙固化): one A3 landscape
/// sheet with the moments, their standards and owners, peaks and the end marked.
async fn poster(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(key): Path<String>,
) -> Result<Html<String>, PageError> {
    let j = crate::journeys::load(&state, key).await?;
    let tree = state.store.org_tree().await?;
    let nav = Nav::of(&viewer, &tree, &lang, &uri);
    let org = nav.org.clone();
    render(&PosterPage {
        page: journey_page(&j, lang, nav, None, &Default::default()),
        org,
    })
    .map_err(Into::into)
}

struct NeedQuestion {
    key: String,
    text: String,
}

struct MomentQuestions {
    key: String,
    name: String,
    stage: String,
    needs: Vec<NeedQuestion>,
}

#[derive(Template)]
#[template(path = "questionnaire.html")]
struct QuestionnairePage {
    lang: Lang,
    key: String,
    title: String,
    purposes: Vec<&'static str>,
    moments: Vec<MomentQuestions>,
}

/// The printable questionnaire of a journey: per moment an importance and a satisfaction
/// question and its need elements, then overall, recommend and tolerable wait. Each
/// question shows its column in the survey file, so answers are keyed in directly.
pub fn questionnaire_html(j: &Journey, english: bool) -> Result<String, askama::Error> {
    let lang = Lang { en: english };
    let purposes = [
        ("缴费", "Paying a bill"),
        ("购机", "Buying a phone"),
        ("办理业务", "A transaction"),
        ("咨询", "An enquiry"),
    ];
    QuestionnairePage {
        key: j.key().to_string(),
        title: format!(
            "{} · {}",
            lang.text(j.name()),
            lang.t("顾客体验调查问卷", "Customer experience survey")
        ),
        purposes: purposes.iter().map(|(zh, en)| lang.t(zh, en)).collect(),
        moments: j
            .moments()
            .iter()
            .map(|m| {
                let (zh, en) = m.stage.name();
                MomentQuestions {
                    key: m.key.to_string(),
                    name: lang.text(&m.name).to_owned(),
                    stage: lang.t(zh, en).to_owned(),
                    needs: m
                        .core_needs
                        .iter()
                        .map(|n| NeedQuestion {
                            key: n.key.to_string(),
                            text: lang.text(&n.text).to_owned(),
                        })
                        .collect(),
                }
            })
            .collect(),
        lang,
    }
    .render()
}

async fn questionnaire(
    State(state): State<AppState>,
    _viewer: Viewer,
    lang: Lang,
    Path(key): Path<String>,
) -> Result<Html<String>, PageError> {
    let j = crate::journeys::load(&state, key).await?;
    html(questionnaire_html(&j, lang.en)).map_err(Into::into)
}
