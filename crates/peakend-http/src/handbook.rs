//! Staff handbooks and the exam question bank of a journey (issue 21): the printable
//! handbook of one role (`/journeys/{key}/handbook?role=floor_walker`), the question
//! bank with its answers for trainers (`/journeys/{key}/exam`), and the standalone
//! handbook page the CLI prints (`peakend handbook`). What goes in them is
//! `peakend_core::handbook`; this module only renders it.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Html;
use axum::routing::get;
use peakend_core::handbook::{
    self as core, Handbook, OWNER_ROLES, Question, owner_role_key, parse_owner_role, unit_name,
};
use peakend_core::{Action, Journey, OwnerRole};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/journeys/{key}/handbook", get(handbook_page))
        .route("/journeys/{key}/exam", get(exam_page))
}

struct LaneView {
    name: String,
    items: Vec<String>,
}

struct StandardView {
    key: String,
    text: String,
    /// The owner, when the handbook shows standards of others (the manager's).
    owner: String,
    threshold: String,
    check: String,
}

struct MomentView {
    key: String,
    name: String,
    stage: String,
    importance: String,
    peak: bool,
    end: bool,
    needs: Vec<String>,
    standards: Vec<StandardView>,
    lanes: Vec<LaneView>,
}

/// A handbook in one language, as both handbook templates show it.
struct HandbookView {
    title: String,
    journey_key: String,
    journey_name: String,
    role_key: &'static str,
    role_name: String,
    lanes: String,
    standards: usize,
    moments: Vec<MomentView>,
}

fn handbook_view(h: &Handbook, lang: Lang) -> HandbookView {
    let role_name = lang.text(&h.role_name).to_owned();
    let journey_name = lang.text(&h.journey_name).to_owned();
    HandbookView {
        title: if lang.en {
            format!("{role_name} handbook · {journey_name}")
        } else {
            format!("{role_name}服务手册 · {journey_name}")
        },
        journey_key: h.journey.to_string(),
        role_key: owner_role_key(h.role),
        lanes: h
            .lanes
            .iter()
            .map(|l| {
                let (zh, en) = l.name();
                lang.t(zh, en)
            })
            .collect::<Vec<_>>()
            .join(lang.t("、", ", ")),
        standards: h.moments.iter().map(|m| m.standards.len()).sum(),
        moments: h
            .moments
            .iter()
            .map(|m| MomentView {
                key: m.key.to_string(),
                name: lang.text(&m.name).to_owned(),
                stage: lang.text(&m.stage_name).to_owned(),
                importance: m.importance.map(|v| format!("{v:.2}")).unwrap_or_default(),
                peak: m.peak,
                end: m.end,
                needs: m
                    .core_needs
                    .iter()
                    .map(|n| lang.text(&n.text).to_owned())
                    .collect(),
                standards: m
                    .standards
                    .iter()
                    .map(|s| StandardView {
                        key: s.key.to_string(),
                        text: lang.text(&s.text).to_owned(),
                        owner: if s.owner == h.role {
                            String::new()
                        } else {
                            lang.text(&s.owner_name).to_owned()
                        },
                        threshold: s
                            .threshold_text
                            .as_ref()
                            .map(|t| lang.text(t).to_owned())
                            .unwrap_or_default(),
                        check: s
                            .check
                            .as_ref()
                            .map(|c| lang.text(&c.text).to_owned())
                            .unwrap_or_default(),
                    })
                    .collect(),
                lanes: m
                    .lanes
                    .iter()
                    .map(|l| LaneView {
                        name: lang.text(&l.name).to_owned(),
                        items: l.items.iter().map(|t| lang.text(t).to_owned()).collect(),
                    })
                    .collect(),
            })
            .collect(),
        journey_name,
        role_name,
    }
}

#[derive(Template)]
#[template(path = "handbook_print.html")]
struct PrintPage {
    lang: Lang,
    hb: HandbookView,
}

/// The handbook of `role` as a standalone printable page in Chinese (inline CSS, no
/// external assets), for `peakend handbook`.
pub fn handbook_html(journey: &Journey, role: OwnerRole) -> String {
    let lang = Lang { en: false };
    PrintPage {
        hb: handbook_view(&core::handbook(journey, role), lang),
        lang,
    }
    .render()
    // Rendering strings into a template cannot fail but for a broken formatter.
    .unwrap_or_else(|e| format!("<!doctype html><title>peakend</title><p>{e}</p>\n"))
}

struct RoleOption {
    key: &'static str,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "handbook.html")]
struct HandbookPage {
    lang: Lang,
    nav: Nav,
    hb: HandbookView,
    roles: Vec<RoleOption>,
    /// The viewer may see the exam (with its answers).
    trainer: bool,
}

#[derive(Deserialize)]
struct HandbookQuery {
    role: Option<String>,
}

/// The role a page asks for (front-line staff unless it says), or 422 naming the roles.
fn role_of(q: &HandbookQuery) -> Result<OwnerRole, ApiError> {
    match q.role.as_deref().map(str::trim) {
        None | Some("") => Ok(OwnerRole::Frontline),
        Some(r) => {
            parse_owner_role(r).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))
        }
    }
}

async fn handbook_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(key): Path<String>,
    Query(q): Query<HandbookQuery>,
) -> Result<Html<String>, PageError> {
    viewer.require(Action::View)?;
    let role = role_of(&q)?;
    let j = crate::journeys::load(&state, key).await?;
    let tree = state.store.org_tree().await?;
    let nav = Nav::of(&viewer, &tree, &lang, &uri);
    render(&HandbookPage {
        hb: handbook_view(&core::handbook(&j, role), lang),
        roles: OWNER_ROLES
            .iter()
            .map(|&r| {
                let (zh, en) = r.name();
                RoleOption {
                    key: owner_role_key(r),
                    name: lang.t(zh, en).to_owned(),
                    selected: r == role,
                }
            })
            .collect(),
        trainer: viewer.user.role.may(Action::KeepPlan),
        lang,
        nav,
    })
    .map_err(Into::into)
}

struct QuestionRow {
    n: usize,
    key: String,
    moment: String,
    owner: String,
    question: String,
    answer: String,
}

#[derive(Template)]
#[template(path = "exam.html")]
struct ExamPage {
    lang: Lang,
    nav: Nav,
    key: String,
    name: String,
    questions: Vec<QuestionRow>,
}

/// An answer with its unit for people: `15 分钟`, `100%`, `3` (a count in English).
fn answer_text(q: &Question, lang: Lang) -> String {
    let (zh, en) = unit_name(q.unit);
    match lang.t(zh, en) {
        "" => q.answer.to_string(),
        "%" => format!("{}%", q.answer),
        unit => format!("{} {unit}", q.answer),
    }
}

/// The question bank of a journey with its answers: for those who train the staff and
/// keep the hall's plan (its drills and exams).
async fn exam_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(key): Path<String>,
) -> Result<Html<String>, PageError> {
    viewer.require(Action::KeepPlan)?;
    let j = crate::journeys::load(&state, key).await?;
    let tree = state.store.org_tree().await?;
    let nav = Nav::of(&viewer, &tree, &lang, &uri);
    let questions = core::questions(&j)
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let (zh, en) = q.owner.name();
            QuestionRow {
                n: i + 1,
                key: q.key.clone(),
                moment: j
                    .moment(&q.moment)
                    .map_or_else(|| q.moment.to_string(), |m| lang.text(&m.name).to_owned()),
                owner: lang.t(zh, en).to_owned(),
                question: lang.text(&q.question).to_owned(),
                answer: answer_text(q, lang),
            }
        })
        .collect();
    render(&ExamPage {
        key: j.key().to_string(),
        name: lang.text(j.name()).to_owned(),
        questions,
        lang,
        nav,
    })
    .map_err(Into::into)
}
