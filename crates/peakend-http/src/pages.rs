//! What every page shares (the language, the header, errors as pages), and the
//! journey pages: the service blueprint, its wall poster and the paper questionnaire.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use peakend_core::{Action, Journey, Lane, OrgTree, Stage, Text};
use serde::Deserialize;

use crate::auth::Viewer;
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

/// The page language: `?lang=en|zh` on the URL, else the `lang` cookie the switch sets,
/// else Chinese.
#[derive(Debug, Clone, Copy)]
pub struct Lang {
    pub en: bool,
}

impl Lang {
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en { en } else { zh }
    }

    pub fn text<'a>(&self, text: &'a Text) -> &'a str {
        self.t(&text.zh, &text.en)
    }

    pub fn code(&self) -> &'static str {
        if self.en { "en" } else { "zh-CN" }
    }

    fn of(parts: &Parts) -> Lang {
        let query = parts.uri.query().unwrap_or("");
        let asked = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .or_else(|| crate::auth::cookie(&parts.headers, "lang"));
        Lang {
            en: asked.is_some_and(|l| l.starts_with("en")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of(parts))
    }
}

/// The header of every page: who is signed in, where they are, the switch and logout.
pub struct Nav {
    pub user: String,
    pub role: String,
    pub org: String,
    pub csrf: String,
    pub admin: bool,
    /// A hall user's own hall, for the live board link.
    pub hall: String,
    /// The path and query of this page, to come back to after switching language.
    pub here: String,
}

impl Nav {
    pub fn anonymous() -> Nav {
        Nav {
            user: String::new(),
            role: String::new(),
            org: String::new(),
            csrf: String::new(),
            admin: false,
            hall: String::new(),
            here: "/".into(),
        }
    }

    pub fn of(viewer: &Viewer, tree: &OrgTree, lang: &Lang, here: &Uri) -> Nav {
        let node = tree.get(&viewer.user.org);
        let (zh, en) = viewer.user.role.name();
        Nav {
            user: viewer.user.name.to_string(),
            role: lang.t(zh, en).to_owned(),
            org: node.map_or_else(|| viewer.user.org.to_string(), |n| n.name.clone()),
            csrf: viewer.csrf.clone(),
            admin: viewer.user.role.may(Action::ManageUsers),
            hall: node
                .and_then(|n| n.hall_id())
                .map(|h| h.to_string())
                .unwrap_or_default(),
            here: here
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        }
    }

    pub fn signed_in(&self) -> bool {
        !self.user.is_empty()
    }

    /// This page without a `lang=` parameter, so the switch (a cookie) takes effect.
    pub fn here_without_lang(&self) -> String {
        let (path, query) = self.here.split_once('?').unwrap_or((&self.here, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
            .collect();
        if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        }
    }
}

/// An error on a page: the same statuses as the API, shown as a page, not JSON. Staff
/// see the status and the reason; a customer (the survey form) sees a friendly page in
/// their language that says what to do. One type for every page, so every page answers
/// errors the same way (and a 429's or 503's `Retry-After` is always sent).
#[derive(Debug)]
pub struct PageError {
    pub error: ApiError,
    /// A customer's page, in this language.
    pub customer: Option<Lang>,
}

impl PageError {
    pub fn for_customer(error: ApiError, lang: Lang) -> PageError {
        PageError {
            error,
            customer: Some(lang),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError {
            error,
            customer: None,
        }
    }
}

impl From<peakend_store::StoreError> for PageError {
    fn from(e: peakend_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "survey_error.html")]
struct CustomerErrorPage {
    lang: Lang,
    title: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status;
        let body = match self.customer {
            Some(lang) => customer_page(status, lang),
            None => {
                let title = match status {
                    StatusCode::FORBIDDEN => "无权访问 · Forbidden",
                    StatusCode::NOT_FOUND => "未找到 · Not found",
                    StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                        "请求有误 · Bad request"
                    }
                    s if s.is_server_error() => "服务器出错 · Server error",
                    _ => "出错了 · Error",
                };
                ErrorPage {
                    status: status.as_u16(),
                    title,
                    message: self.error.message,
                }
                .render()
            }
        };
        let mut response = match body {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => (status, status.to_string()).into_response(),
        };
        if let Some(secs) = self.error.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// What a customer is told: what happened and what to do, never the reason's text.
fn customer_page(status: StatusCode, lang: Lang) -> askama::Result<String> {
    let (title, message) = match status {
        StatusCode::NOT_FOUND => (
            lang.t("找不到这份问卷", "We cannot find this survey"),
            lang.t(
                "这个营业厅或问卷不存在，可能二维码已更换。请向工作人员索取新的二维码，谢谢！",
                "This hall or survey does not exist; the QR code may have been replaced. Please ask a member of staff for the current one. Thank you!",
            ),
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            lang.t("请稍候再试", "Please wait a moment"),
            lang.t(
                "这个网络在短时间内提交了太多问卷。请一分钟后再提交，您的回答对我们很重要。",
                "Too many answers were sent from this network in a short time. Please try again in a minute: your answers matter to us.",
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            lang.t("回答内容过长", "This answer is too long"),
            lang.t(
                "请缩短文字后重新提交，谢谢！",
                "Please shorten what you wrote and send it again. Thank you!",
            ),
        ),
        s if s.is_client_error() => (
            lang.t("无法处理这次提交", "We could not read this submission"),
            lang.t(
                "请返回问卷重新提交。",
                "Please go back to the survey and send it again.",
            ),
        ),
        _ => (
            lang.t("抱歉，出了点问题", "Sorry, something went wrong"),
            lang.t(
                "我们的系统暂时出了点问题，请稍后再试。",
                "Our system has a problem just now. Please try again a little later.",
            ),
        ),
    };
    CustomerErrorPage {
        lang,
        title: title.to_owned(),
        message: message.to_owned(),
    }
    .render()
}

pub fn render(t: &impl Template) -> Result<Html<String>, ApiError> {
    html(t.render())
}

fn html(rendered: Result<String, askama::Error>) -> Result<Html<String>, ApiError> {
    rendered
        .map(Html)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[derive(Deserialize)]
struct SwitchQuery {
    back: Option<String>,
}

/// The language switch: remembers the choice in a cookie and goes back to the page.
async fn switch_lang(Path(code): Path<String>, Query(q): Query<SwitchQuery>) -> Response {
    let code = if code.starts_with("en") { "en" } else { "zh" };
    let back = crate::redirect::local_target_or_home(q.back.as_deref());
    let mut resp = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "lang={code}; Path=/; Max-Age=31536000; SameSite=Lax"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
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
}

fn journey_page(j: &Journey, lang: Lang, nav: Nav) -> JourneyPage {
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
        nav,
    }
}

async fn journey(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(key): Path<String>,
) -> Result<Html<String>, PageError> {
    let j = crate::journeys::load(&state, key).await?;
    let tree = state.store.org_tree().await?;
    let nav = Nav::of(&viewer, &tree, &lang, &uri);
    render(&journey_page(&j, lang, nav)).map_err(Into::into)
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
        page: journey_page(&j, lang, nav),
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
