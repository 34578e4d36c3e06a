//! Server-rendered pages (askama). Chinese first; `?lang=en` switches to English.
//! The full role-based dashboard builds on these (see the dashboard issue).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use peakend_core::{Journey, Lane, OrgLevel, OrgTree, Stage, Text};
use serde::Deserialize;

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/journeys/{key}", get(journey))
        .route("/journeys/{key}/questionnaire", get(questionnaire))
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// The page language and the link that switches to the other one.
struct Lang {
    en: bool,
}

impl Lang {
    fn from(q: &LangQuery) -> Lang {
        Lang {
            en: q.lang.as_deref().is_some_and(|l| l.starts_with("en")),
        }
    }

    fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en { en } else { zh }
    }

    fn text<'a>(&self, text: &'a Text) -> &'a str {
        self.t(&text.zh, &text.en)
    }

    fn code(&self) -> &'static str {
        if self.en { "en" } else { "zh-CN" }
    }

    /// Query string that keeps the current language on links.
    fn suffix(&self) -> &'static str {
        if self.en { "?lang=en" } else { "" }
    }
}

fn render(t: &impl Template) -> Result<Html<String>, ApiError> {
    html(t.render())
}

fn html(rendered: Result<String, askama::Error>) -> Result<Html<String>, ApiError> {
    rendered
        .map(Html)
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

struct LevelCount {
    label: String,
    count: usize,
}

struct TreeRow {
    indent: usize,
    level: String,
    name: String,
    id: String,
    detail: String,
}

struct JourneyLink {
    key: String,
    name: String,
    moments: usize,
    extends: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    lang: Lang,
    counts: Vec<LevelCount>,
    tree: Vec<TreeRow>,
    journeys: Vec<JourneyLink>,
}

fn tree_rows(tree: &OrgTree, lang: &Lang) -> Vec<TreeRow> {
    let mut rows = Vec::new();
    for root in tree.roots() {
        for node in tree.subtree(&root.id) {
            let depth = tree.ancestry(&node.id).len() - 1;
            let detail = if node.level == OrgLevel::Hall {
                format!(
                    "{} {} · {} {}",
                    node.counters,
                    lang.t("个窗口", "counters"),
                    node.kiosks,
                    lang.t("台自助终端", "kiosks")
                )
            } else {
                format!(
                    "{} {}",
                    tree.halls_under(&node.id).len(),
                    lang.t("个营业厅", "halls")
                )
            };
            rows.push(TreeRow {
                indent: depth,
                level: lang.t(node.level.name_zh(), node.level.as_str()).to_owned(),
                name: node.name.clone(),
                id: node.id.to_string(),
                detail,
            });
        }
    }
    rows
}

async fn overview(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, ApiError> {
    let lang = Lang::from(&q);
    let tree = state.store.org_tree().await?;
    let counts = OrgLevel::ALL
        .iter()
        .map(|&l| LevelCount {
            label: lang.t(l.name_zh(), l.as_str()).to_owned(),
            count: tree.count(l),
        })
        .collect();
    let journeys = state
        .store
        .list_journeys()
        .await?
        .into_iter()
        .map(|j| JourneyLink {
            key: j.key.to_string(),
            name: lang.text(&j.name).to_owned(),
            moments: j.moments,
            extends: j.extends.map(|e| e.to_string()).unwrap_or_default(),
        })
        .collect();
    render(&OverviewPage {
        tree: tree_rows(&tree, &lang),
        lang,
        counts,
        journeys,
    })
}

struct StageGroup {
    name: String,
    span: usize,
}

struct MomentColumn {
    name: String,
    key: String,
    importance: String,
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
    key: String,
    name: String,
    stages: Vec<StageGroup>,
    moments: Vec<MomentColumn>,
    lanes: Vec<LaneRow>,
    peaks: String,
    end: String,
}

fn journey_page(j: &Journey, lang: Lang) -> JourneyPage {
    let peaks = j.prior_peaks();
    let mut stages: Vec<StageGroup> = Vec::new();
    let mut last: Option<Stage> = None;
    for m in j.moments() {
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
        .map(|m| MomentColumn {
            name: lang.text(&m.name).to_owned(),
            key: m.key.to_string(),
            importance: m.importance.map(|v| format!("{v:.2}")).unwrap_or_default(),
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
                        threshold: s
                            .threshold
                            .as_ref()
                            .map(ToString::to_string)
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
        lang,
    }
}

async fn journey(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, ApiError> {
    let j = crate::journeys::load(&state, key).await?;
    render(&journey_page(&j, Lang::from(&q)))
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
    Path(key): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Html<String>, ApiError> {
    let j = crate::journeys::load(&state, key).await?;
    html(questionnaire_html(&j, Lang::from(&q).en))
}
