//! The customer survey form: what a customer reaches by scanning the QR code printed
//! for a hall. No login; Chinese first, `?lang=en` for English; plain HTML forms, so
//! it works without JavaScript on any phone.
//!
//! - `GET /halls/{hall}/survey?journey=KEY` (default `service-hall`): the form, every
//!   moment of the journey grouped by stage, each a row of tap buttons.
//! - `POST /halls/{hall}/survey?journey=KEY`: checked by the same rules as the JSON
//!   endpoint (`peakend_io::survey_json`); problems re-render the form with the answers
//!   kept; success redirects (303) to `/halls/{hall}/survey/thanks`.
//! - `GET /halls/{hall}/qr.png` and `GET /halls/{hall}/qr`: the QR code of the form's
//!   address and a printable A5 card around it.
//!
//! Repeat submissions: each rendered form carries a random one-time nonce that becomes
//! the response's respondent id, and the store refuses a second response of the same
//! respondent to a journey, so a double tap or a re-post stores nothing twice. After a
//! response the phone keeps a cookie for [`ANSWERED_WINDOW_SECS`] (12 hours) scoped to
//! the hall's survey, and opening the form again in that window shows "already
//! answered". Both are courtesy against accidents, not proof of a unique person: the
//! nonce is not secret and cookies can be cleared. Abuse is what the rate limit is for:
//! [`SUBMISSIONS_PER_MINUTE`] posts per client address and minute (see [`RateLimiter`]).
//! See docs/survey-form.md for the deployment knobs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use peakend_core::short_form::{ROTATING, ShortPlan, peaks_of, seed_of};
use peakend_core::{HallId, Journey, JourneyKey, OrgNode, Stage};
use peakend_io::survey_json::{FieldProblem, RatingForm, ResponseForm};
use serde::Deserialize;

use crate::limiter::RateLimiter;
use crate::view::{Lang, PageError};
use crate::{ApiError, AppState};

/// How long a phone that answered sees "already answered" instead of the form: long
/// enough to cover the visit and the rest of the day, short enough that a regular
/// customer can rate tomorrow's visit.
pub const ANSWERED_WINDOW_SECS: u64 = 12 * 60 * 60;

/// Submissions per client address and minute. A person needs one; a hall's guest Wi-Fi
/// puts many phones behind one address, and even at a busy hour fewer than ten finish
/// the form within the same minute. A script posting hundreds is refused.
pub const SUBMISSIONS_PER_MINUTE: u32 = 10;

/// Set to `1` when peakend runs behind a reverse proxy that appends the client's address
/// to `X-Forwarded-For`: the limit then keys on the last address of that header (the one
/// the proxy saw). Off by default, because without a proxy any client could write the
/// header and pick a fresh address for every post.
const TRUST_FORWARDED_FOR_ENV: &str = "PEAKEND_TRUST_FORWARDED_FOR";

/// The address customers' phones reach peakend at (e.g. `https://survey.example.cn`),
/// for the QR code; the request's own `Host` when unset.
const PUBLIC_URL_ENV: &str = "PEAKEND_PUBLIC_URL";

/// Customer segments (the operator's brands) and visit purposes as the telecom
/// questionnaire asks them (`peakend survey questionnaire`); the stored value is the
/// Chinese one, as in survey files. Journeys do not carry their own lists yet.
const SEGMENTS: [(&str, &str); 5] = [
    ("全球通", "GoTone (全球通)"),
    ("神州行", "Easyown (神州行)"),
    ("动感地带", "M-Zone (动感地带)"),
    ("其他", "Other"),
    (NOT_SURE, "Not sure"),
];
/// The brand stored when the customer does not know it or skips the question: the
/// question is optional, and the analysis keeps such answers as a segment of their own.
const NOT_SURE: &str = "不清楚";
const PURPOSES: [(&str, &str); 5] = [
    ("缴费", "Paying a bill"),
    ("购机", "Buying a phone"),
    ("办理业务", "A transaction"),
    ("咨询", "An enquiry"),
    ("其他", "Something else"),
];
/// Tolerable wait in minutes, offered as choices so that nobody has to type.
const WAITS: [u32; 6] = [5, 10, 15, 20, 30, 45];

const WRITE_LOCK_STRIPES: usize = 64;

/// What the survey routes share besides [`AppState`] (which belongs to the whole app
/// and is not widened for one module): the limiter and the deployment knobs.
struct SurveyContext {
    limiter: RateLimiter,
    /// Posts of one form (one nonce) store one after the other: the second then meets
    /// the first's respondent and is told "already received". Striped by the nonce's
    /// hash so that memory stays fixed and different forms rarely wait for each other.
    write_locks: Vec<tokio::sync::Mutex<()>>,
    trust_forwarded_for: bool,
    public_url: Option<String>,
}

pub fn router() -> Router<AppState> {
    let context = Arc::new(SurveyContext {
        limiter: RateLimiter::new(SUBMISSIONS_PER_MINUTE, Duration::from_secs(60)),
        write_locks: (0..WRITE_LOCK_STRIPES)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect(),
        trust_forwarded_for: std::env::var(TRUST_FORWARDED_FOR_ENV).is_ok_and(|v| v == "1"),
        public_url: std::env::var(PUBLIC_URL_ENV)
            .ok()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty()),
    });
    Router::new()
        .route("/halls/{hall}/survey", get(form).post(submit))
        .route("/halls/{hall}/survey/thanks", get(thanks))
        .route("/halls/{hall}/qr.png", get(qr_png))
        .route("/halls/{hall}/qr", get(qr_page))
        .route("/i/{token}", get(link_form).post(link_submit))
        .route("/i/{token}/thanks", get(link_thanks))
        .route("/i/{token}/optout", get(optout_page).post(optout))
        .layer(Extension(context))
}

// ---------------------------------------------------------------- language

#[derive(Deserialize)]
struct PageQuery {
    journey: Option<String>,
    lang: Option<String>,
    /// On the thank-you page: the answers had already been received.
    again: Option<String>,
    /// `1`: the short form (purpose first, its peaks and end and a few others).
    short: Option<String>,
    /// The short form's purpose, chosen on its first page.
    purpose: Option<String>,
}

impl PageQuery {
    fn is_short(&self) -> bool {
        self.short
            .as_deref()
            .is_some_and(|v| v == "1" || v == "true")
    }

    /// An invitation's link opens the short form unless `short=0` asks for the long one.
    fn short_by_default(mut self) -> PageQuery {
        if self.short.is_none() {
            self.short = Some("1".into());
        }
        self
    }
}

/// The page language of a customer page: `?lang=en` (the same switch as the other pages).
fn lang_of(q: &PageQuery) -> Lang {
    Lang {
        en: q.lang.as_deref().is_some_and(|l| l.starts_with("en")),
    }
}

/// `?journey=…&lang=en` for links between the survey pages: the journey only when the
/// URL named one (keeps the QR code's address short), the language only when English.
fn query_suffix(journey: Option<&str>, lang: Lang) -> String {
    query_suffix_with(journey, lang, None)
}

/// [`query_suffix`], and for the short form `short=1` with its purpose once chosen.
fn query_suffix_with(journey: Option<&str>, lang: Lang, short: Option<Option<&str>>) -> String {
    let mut parts = Vec::new();
    if let Some(j) = journey {
        parts.push(format!("journey={j}"));
    }
    if let Some(purpose) = short {
        parts.push("short=1".to_owned());
        if let Some(p) = purpose {
            parts.push(format!("purpose={}", encode_query(p)));
        }
    }
    if lang.en {
        parts.push("lang=en".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes a query value (purposes are Chinese words).
fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------- errors as pages

trait InLang<T> {
    fn in_lang(self, lang: Lang) -> Result<T, PageError>;
}

impl<T, E: Into<ApiError>> InLang<T> for Result<T, E> {
    fn in_lang(self, lang: Lang) -> Result<T, PageError> {
        self.map_err(|e| PageError::for_customer(e.into(), lang))
    }
}

fn render(t: &impl Template, lang: Lang) -> Result<Html<String>, PageError> {
    t.render()
        .map(Html)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        .in_lang(lang)
}

// ---------------------------------------------------------------- hall and journey

/// The hall and journey a survey URL names: 404 unless the hall is an org node of level
/// hall and the journey is stored (a malformed key is just as unknown to a customer).
struct Target {
    hall: HallId,
    hall_name: String,
    /// The hall's time zone: the visit's date is the hall's today.
    zone: peakend_core::time::Zone,
    journey: Journey,
    /// The journey as the URL named it, to pass on to links; `None` for the default.
    named: Option<String>,
    /// The short form: its purpose (once chosen) and that purpose's plan.
    short: Option<Short>,
    /// The form's own address: the hall's `/halls/{hall}/survey`, or an invitation's
    /// `/i/{token}`.
    path: String,
    /// The invitation whose link opened the form, if one did.
    bound: Option<Bound>,
    /// A hall (customers come to it, so its busy hours matter), not a contact centre.
    walk_in: bool,
}

/// An invitation's link (issue 22): the form bound to the visit or call it follows, so
/// the answer joins that contact's facts (its wait, who served, the outcome).
struct Bound {
    id: i64,
    /// The contact's segment, when it is one the form offers (else the form asks).
    segment: Option<String>,
    /// The contact's local date: the answer's visit date.
    date: String,
    customer: Option<String>,
}

/// A short form's purpose and which moments its respondents are asked.
struct Short {
    purpose: Option<String>,
    plan: Option<ShortPlan>,
}

impl Target {
    /// The query of links between this form's pages.
    fn suffix(&self, lang: Lang) -> String {
        query_suffix_with(
            self.named.as_deref(),
            lang,
            self.short.as_ref().map(|s| s.purpose.as_deref()),
        )
    }

    /// The long form's address, offered from the short one.
    fn long_url(&self, lang: Lang) -> String {
        match self.bound {
            Some(_) => format!(
                "{}?short=0{}",
                self.path,
                if lang.en { "&lang=en" } else { "" }
            ),
            None => format!("{}{}", self.path, query_suffix(self.named.as_deref(), lang)),
        }
    }
}

async fn target(state: &AppState, hall: &str, q: &PageQuery) -> Result<Target, ApiError> {
    let tree = state.store.org_tree().await?;
    let node: OrgNode = tree
        .nodes()
        .iter()
        .find(|n| n.id.as_str() == hall)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("hall `{hall}` not found")))?;
    let zone = tree.zone_of(&node.id);
    let hall_id = node
        .hall_id()
        .ok_or_else(|| ApiError::not_found(format!("`{hall}` is not a hall")))?;
    // The hall's own journey (its region's, when one is assigned) unless the QR code
    // names another.
    let journey = match q.journey.as_deref() {
        Some(key) => match JourneyKey::parse(key) {
            Ok(k) => state.store.journey(&k).await?,
            Err(_) => None,
        }
        .ok_or_else(|| ApiError::not_found(format!("journey `{key}` not found")))?,
        None => {
            peakend_store::effective_journey(state.store.as_ref(), &node.id)
                .await?
                .0
        }
    };
    let short = short_of(state, &journey, q, None).await?;
    Ok(Target {
        path: format!("/halls/{hall_id}/survey"),
        hall: hall_id,
        hall_name: node.name,
        zone,
        journey,
        named: q.journey.clone(),
        short,
        bound: None,
        walk_in: true,
    })
}

/// A purpose the form offers (the stored value, Chinese), if `p` is one.
fn offered_purpose(p: &str) -> Option<String> {
    let p = p.trim();
    PURPOSES
        .iter()
        .any(|(zh, _)| *zh == p)
        .then(|| p.to_owned())
}

/// The short form the query asks for: its purpose (the query's, else `known`) and plan.
async fn short_of(
    state: &AppState,
    journey: &Journey,
    q: &PageQuery,
    known: Option<String>,
) -> Result<Option<Short>, ApiError> {
    Ok(if q.is_short() {
        let purpose = q.purpose.as_deref().and_then(offered_purpose).or(known);
        let plan = match &purpose {
            Some(p) => Some(short_plan(state, journey, p).await?),
            None => None,
        };
        Some(Short { purpose, plan })
    } else {
        None
    })
}

/// The form an invitation's link opens: the invitation's hall or centre, the journey it
/// lives by, the short form (purpose known when the contact's is one the form offers).
/// An unknown token is 404; whether it is still open is the caller's to judge.
async fn link_target(
    state: &AppState,
    token: &str,
    q: &PageQuery,
) -> Result<(Target, peakend_store::Invitation), ApiError> {
    let unknown = || ApiError::not_found("survey link not found");
    // A token is `{invitation id}.{64 hex digits}` (or, for a link sent before the
    // id was in it, the 64 hex digits alone); anything else is looked up no further.
    let hex64 = |t: &str| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit());
    let well_formed = match token.split_once('.') {
        Some((id, verifier)) => {
            (1..=18).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_digit())
                && hex64(verifier)
        }
        None => hex64(token),
    };
    if !well_formed {
        return Err(unknown());
    }
    let invitation = state
        .store
        .invitation_by_token(token)
        .await?
        .ok_or_else(unknown)?;
    let tree = state.store.org_tree().await?;
    let node: OrgNode = tree
        .nodes()
        .iter()
        .find(|n| n.id.as_str() == invitation.hall)
        .cloned()
        .ok_or_else(unknown)?;
    let hall = HallId::parse(node.id.as_str()).map_err(|_| unknown())?;
    let walk_in = node.level == peakend_core::OrgLevel::Hall;
    let zone = tree.zone_of(&node.id);
    let journey = peakend_store::effective_journey(state.store.as_ref(), &node.id)
        .await?
        .0;
    let short = short_of(state, &journey, q, offered_purpose(&invitation.purpose)).await?;
    let at = invitation.ended_at.unwrap_or(invitation.decided_at);
    let date = zone
        .local(at)
        .map(|d| d.date_naive().format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let bound = Bound {
        id: invitation.id,
        segment: SEGMENTS
            .iter()
            .any(|(zh, _)| *zh == invitation.segment)
            .then(|| invitation.segment.clone()),
        date,
        customer: invitation.customer_key.clone(),
    };
    Ok((
        Target {
            path: format!("/i/{token}"),
            hall,
            hall_name: node.name,
            zone,
            journey,
            named: None,
            short,
            bound: Some(bound),
            walk_in,
        },
        invitation,
    ))
}

/// Responses of a purpose it takes before its own peaks decide its short form; below
/// that, the journey's prior importances (the study's, for the built-in journey) do.
const SHORT_FORM_MIN_RESPONDENTS: u64 = 30;

/// The short form of a purpose: the peaks of the purpose's stored answers across the
/// network when there are enough of them, else the journey's prior importances; the
/// end; and [`ROTATING`] of the others. (Answered from the analysis cache.)
async fn short_plan(
    state: &AppState,
    journey: &Journey,
    purpose: &str,
) -> Result<ShortPlan, ApiError> {
    let moments = journey.moments();
    let q = peakend_store::AnalysisQuery {
        purpose: Some(purpose),
        ..Default::default()
    };
    let stored = peakend_store::stored_analysis(state.store.as_ref(), journey, &q)
        .await
        .ok()
        .filter(|a| a.respondents >= SHORT_FORM_MIN_RESPONDENTS);
    let peaks: Vec<usize> = match stored {
        Some(a) => a
            .peaks
            .iter()
            .filter_map(|k| moments.iter().position(|m| m.key.as_str() == k))
            .collect(),
        None => {
            let prior: Vec<Option<f64>> = moments.iter().map(|m| m.importance).collect();
            peaks_of(&prior, peakend_core::peak::PeakRule::default())
        }
    };
    Ok(ShortPlan::new(moments.len(), &peaks, ROTATING))
}

// ---------------------------------------------------------------- the form

struct Choice {
    value: String,
    label: String,
    checked: bool,
}

/// One question: a row of radio buttons named `name`, with the problem found in the
/// last submission (empty if none).
struct Question {
    name: String,
    label: String,
    choices: Vec<Choice>,
    problem: String,
    /// Scales get square tap buttons; word choices wrap as chips.
    scale: bool,
    /// What the list of problems at the top calls this question.
    short: String,
    /// What the scale's lowest and highest scores mean, shown under every scale (the
    /// meaning given once in the introduction is long gone by the tenth question).
    ends: Option<(String, String)>,
}

impl Question {
    fn short(mut self, short: impl Into<String>) -> Question {
        self.short = short.into();
        self
    }

    fn ends(mut self, low: &str, high: &str) -> Question {
        self.ends = Some((low.to_owned(), high.to_owned()));
        self
    }
}

/// A link from the list of problems at the top of the form to the question below.
struct Marked {
    anchor: String,
    label: String,
}

struct MomentQuestions {
    number: usize,
    /// The moment's question in the customer's words (the journey's `question`).
    question: String,
    satisfaction: Question,
    importance: Question,
    /// The moment's need elements: how important each is (the study's questionnaire).
    needs: Vec<Question>,
    /// Open the importance part when it was answered or has a problem.
    importance_open: bool,
}

struct StageQuestions {
    name: String,
    number: usize,
    moments: Vec<MomentQuestions>,
}

#[derive(Template)]
#[template(path = "survey_form.html")]
struct FormPage {
    lang: Lang,
    hall_name: String,
    journey_name: String,
    action: String,
    switch_lang: String,
    nonce: String,
    /// Problems that belong to no single question (an expired form, nothing answered).
    general: Vec<String>,
    /// The questions with a problem, in page order.
    marked: Vec<Marked>,
    has_problems: bool,
    purpose: Question,
    stages: Vec<StageQuestions>,
    /// How many moments the form asks, for "3 / 16" beside each.
    total: usize,
    overall: Question,
    nps: Question,
    wait: Question,
    segment: Question,
    /// The short form: the purpose is chosen, only the planned moments are asked, and the
    /// optional questions (importance, needs, tolerable wait) are left out.
    short: bool,
    /// The short form's moments, as keys (a hidden field: a re-rendered form asks the same).
    plan: String,
    /// The long form's address, offered from the short one.
    long_url: String,
    /// The short form's purpose, sent back as a hidden field.
    chosen_purpose: String,
    /// The comment as typed (kept when the page comes back with problems) and its problem.
    comment: String,
    comment_problem: String,
}

/// The submitted answers by field name (`sat.queue`, `overall`, …); the last value
/// wins, as with a radio group.
type Answers = HashMap<String, String>;

fn scale(name: String, label: String, lo: u32, hi: u32, answers: &Answers, lang: Lang) -> Question {
    let given = answers.get(&name).map(|v| v.trim()).unwrap_or("");
    let mut choices: Vec<Choice> = (lo..=hi)
        .map(|i| Choice {
            value: i.to_string(),
            label: i.to_string(),
            checked: given == i.to_string(),
        })
        .collect();
    // A way back out of a tapped answer without JavaScript: "skip" is a choice too.
    choices.push(Choice {
        value: String::new(),
        label: lang.t("跳过", "Skip").to_owned(),
        checked: false,
    });
    Question {
        name,
        label,
        choices,
        problem: String::new(),
        scale: true,
        short: String::new(),
        ends: None,
    }
}

fn options(
    name: &str,
    label: &str,
    list: &[(&str, &str)],
    answers: &Answers,
    lang: Lang,
) -> Question {
    let given = answers.get(name).map(|v| v.trim()).unwrap_or("");
    Question {
        name: name.to_owned(),
        label: label.to_owned(),
        choices: list
            .iter()
            .map(|&(zh, en)| Choice {
                value: zh.to_owned(),
                label: lang.t(zh, en).to_owned(),
                checked: given == zh,
            })
            .collect(),
        problem: String::new(),
        scale: false,
        short: String::new(),
        ends: None,
    }
}

fn form_page(
    t: &Target,
    lang: Lang,
    nonce: String,
    answers: &Answers,
    problems: &[FieldProblem],
) -> FormPage {
    let mut stages: Vec<StageQuestions> = Vec::new();
    let mut last: Option<Stage> = None;
    let short = t.short.as_ref().and_then(|s| s.plan.as_ref());
    // The moments a short form asks follow from its nonce, so a form shown again after a
    // problem asks the same ones.
    let asked: Option<Vec<usize>> = short.map(|plan| plan.draw(seed_of(&nonce)));
    for (i, m) in t.journey.moments().iter().enumerate() {
        if asked.as_ref().is_some_and(|a| !a.contains(&i)) {
            continue;
        }
        let name = lang.text(&m.name).to_owned();
        // The customer reads the journey's question; a moment a region added without one
        // is asked about by its name.
        let question = match &m.question {
            Some(q) => lang.text(q).to_owned(),
            None => match lang.en {
                true => format!("How satisfied are you with “{name}”?"),
                false => format!("您对“{name}”满意吗？"),
            },
        };
        let key = m.key.as_str();
        let satisfaction = scale(
            format!("sat.{key}"),
            lang.t("您的评分", "Your score").to_owned(),
            1,
            10,
            answers,
            lang,
        )
        .short(question.clone())
        .ends(
            lang.t("1 = 很不满意", "1 = very dissatisfied"),
            lang.t("10 = 非常满意", "10 = very satisfied"),
        );
        let importance = scale(
            format!("imp.{key}"),
            lang.t("这一步对您有多重要", "How important this step is to you")
                .to_owned(),
            1,
            10,
            answers,
            lang,
        )
        .short(format!("{question} · {}", lang.t("重要性", "importance")))
        .ends(
            lang.t("1 = 毫不重要", "1 = not at all important"),
            lang.t("10 = 非常重要", "10 = very important"),
        );
        let needs: Vec<Question> = if short.is_some() {
            Vec::new()
        } else {
            m.core_needs
                .iter()
                .map(|n| {
                    let text = lang.text(&n.text).to_owned();
                    scale(
                        format!("need.{key}.{}", n.key),
                        text.clone(),
                        1,
                        10,
                        answers,
                        lang,
                    )
                    .short(format!("{question} · {text}"))
                    .ends(
                        lang.t("1 = 毫不重要", "1 = not at all important"),
                        lang.t("10 = 非常重要", "10 = very important"),
                    )
                })
                .collect()
        };
        let importance_open = importance.choices.iter().any(|c| c.checked)
            || needs.iter().any(|q| q.choices.iter().any(|c| c.checked));
        let questions = MomentQuestions {
            number: stages.iter().map(|s| s.moments.len()).sum::<usize>() + 1,
            question,
            satisfaction,
            importance,
            needs,
            importance_open,
        };
        if last != Some(m.stage) {
            let (zh, en) = t.journey.section_heading(m.stage);
            stages.push(StageQuestions {
                name: lang.t(zh, en).to_owned(),
                number: stages.len() + 1,
                moments: Vec::new(),
            });
            last = Some(m.stage);
        }
        stages
            .last_mut()
            .expect("pushed above")
            .moments
            .push(questions);
    }
    let waits: Vec<(String, String)> = WAITS
        .iter()
        .map(|w| (w.to_string(), format!("{w} {}", lang.t("分钟", "min"))))
        .collect();
    let given_wait = answers
        .get("tolerable_wait_min")
        .map(|v| v.trim())
        .unwrap_or("");
    let plan = asked
        .iter()
        .flatten()
        .map(|&i| t.journey.moments()[i].key.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let total = stages.iter().map(|s| s.moments.len()).sum();
    let mut page = FormPage {
        lang,
        total,
        hall_name: t.hall_name.clone(),
        journey_name: lang.text(t.journey.name()).to_owned(),
        action: format!("{}{}", t.path, t.suffix(lang)),
        switch_lang: format!("{}{}", t.path, t.suffix(Lang { en: !lang.en })),
        short: short.is_some(),
        plan,
        chosen_purpose: t
            .short
            .as_ref()
            .and_then(|s| s.purpose.clone())
            .unwrap_or_default(),
        long_url: t.long_url(lang),
        nonce,
        general: Vec::new(),
        marked: Vec::new(),
        has_problems: !problems.is_empty(),
        purpose: options(
            "purpose",
            lang.t("您今天来厅主要办什么？", "What brought you here today?"),
            &PURPOSES,
            answers,
            lang,
        )
        .short(lang.t("来厅目的", "Purpose of visit")),
        stages,
        overall: scale(
            "overall".into(),
            lang.t(
                "总的来说，您对这次到厅满意吗？",
                "Overall, how satisfied are you with this visit?",
            )
            .into(),
            1,
            10,
            answers,
            lang,
        )
        .short(lang.t("总体满意度", "Overall satisfaction"))
        .ends(
            lang.t("1 = 很不满意", "1 = very dissatisfied"),
            lang.t("10 = 非常满意", "10 = very satisfied"),
        ),
        nps: scale(
            "nps".into(),
            lang.t(
                "您有多大可能向亲友推荐这个营业厅？",
                "How likely are you to recommend this hall to friends or family?",
            )
            .into(),
            0,
            10,
            answers,
            lang,
        )
        .short(lang.t("推荐意愿", "Recommendation"))
        .ends(
            lang.t("0 = 完全不可能", "0 = not at all likely"),
            lang.t("10 = 非常可能", "10 = extremely likely"),
        ),
        wait: Question {
            name: "tolerable_wait_min".into(),
            label: lang
                .t(
                    "排队时，您最多能接受等多久？",
                    "When queuing, what is the longest wait you would accept?",
                )
                .into(),
            choices: waits
                .into_iter()
                .map(|(value, label)| Choice {
                    checked: given_wait == value,
                    value,
                    label,
                })
                .collect(),
            problem: String::new(),
            scale: false,
            short: lang.t("可接受的等候", "Acceptable wait").into(),
            ends: None,
        },
        segment: options(
            "segment",
            lang.t(
                "您使用的是我们哪个品牌？（选填，不清楚可跳过）",
                "Which of our brands are you with? (optional; skip it if you are not sure)",
            ),
            &SEGMENTS,
            answers,
            lang,
        )
        .short(lang.t("品牌", "Brand")),
        comment: answers.get("comment").cloned().unwrap_or_default(),
        comment_problem: String::new(),
    };
    for p in problems {
        attach(&mut page, p, lang);
    }
    for m in page.stages.iter_mut().flat_map(|s| s.moments.iter_mut()) {
        if m.needs.iter().any(|q| !q.problem.is_empty()) {
            m.importance_open = true;
        }
    }
    // In page order, whatever order the checks found them in.
    let moments = page.stages.iter().flat_map(|s| &s.moments);
    page.marked = std::iter::once(&page.purpose)
        .chain(moments.flat_map(|m| {
            [&m.satisfaction, &m.importance]
                .into_iter()
                .chain(m.needs.iter())
        }))
        .chain([&page.overall, &page.nps, &page.wait, &page.segment])
        .filter(|q| !q.problem.is_empty())
        .map(|q| Marked {
            anchor: format!("q-{}", q.name),
            label: q.short.clone(),
        })
        .collect();
    page
}

/// Puts a problem under the question it names, in the page's language. The checks are
/// the core's; only their wording is the form's, since a customer picks from buttons and
/// only a stale or hand-made post can carry a bad value.
fn attach(page: &mut FormPage, p: &FieldProblem, lang: Lang) {
    let one_to_ten = lang.t(
        "请在 1–10 中选择一个分数",
        "Please choose a score from 1 to 10",
    );
    let field = p.field.as_str();
    let question = match field {
        "segment" => Some((
            &mut page.segment,
            lang.t("请选择您的品牌", "Please choose your brand"),
        )),
        "purpose" => Some((&mut page.purpose, lang.t("请选择一项", "Please choose one"))),
        "overall" => Some((&mut page.overall, one_to_ten)),
        "nps" => Some((
            &mut page.nps,
            lang.t(
                "请在 0–10 中选择一个分数",
                "Please choose a score from 0 to 10",
            ),
        )),
        "tolerable_wait_min" => Some((
            &mut page.wait,
            lang.t("请选择一个时长", "Please choose a duration"),
        )),
        _ if field.starts_with("needs.") => {
            let name = format!("need.{}", &field["needs.".len()..]);
            page.stages
                .iter_mut()
                .flat_map(|s| s.moments.iter_mut())
                .find_map(|m| {
                    let q = m.needs.iter_mut().find(|q| q.name == name)?;
                    // The part is opened by the answer already given (see form_page).
                    Some((q, one_to_ten))
                })
        }
        _ => field.strip_prefix("ratings.").and_then(|rest| {
            let (key, what) = rest.split_once('.')?;
            let moment = page
                .stages
                .iter_mut()
                .flat_map(|s| s.moments.iter_mut())
                .find(|m| m.satisfaction.name == format!("sat.{key}"))?;
            match what {
                "satisfaction" => Some((&mut moment.satisfaction, one_to_ten)),
                "importance" => {
                    moment.importance_open = true;
                    Some((&mut moment.importance, one_to_ten))
                }
                _ => None,
            }
        }),
    };
    match question {
        Some((q, message)) => q.problem = message.to_owned(),
        None if field == "respondent" => page.general.push(
            lang.t(
                "这份问卷页面已过期，请检查您的回答后再提交一次。",
                "This copy of the form has expired: please check your answers and send it again.",
            )
            .to_owned(),
        ),
        None if field == "(form)" => page.general.push(p.message.clone()),
        None if field == "comment" => {
            page.comment_problem = lang
                .t(
                    "留言请不超过 2000 字",
                    "Please keep the comment within 2,000 characters",
                )
                .to_owned()
        }
        // A field of no question on this page (a moment of another journey, say).
        None => page.general.push(format!(
            "{}: {}",
            lang.t("无法识别的回答", "An answer we could not use"),
            p.field
        )),
    }
}

/// A fresh one-time id for a rendered form: 128 random bits from the thread's CSPRNG,
/// so two forms never share one, prefixed so web answers stand apart from the
/// questionnaire numbers of paper surveys in the same journey.
fn new_nonce() -> String {
    use rand::Rng;
    format!("web-{:032x}", rand::rng().random::<u128>())
}

fn is_nonce(s: &str) -> bool {
    s.strip_prefix("web-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------- the cookie

fn answered_cookie_name(journey: &JourneyKey) -> String {
    // Journey keys are a-z, 0-9, `_` and `-`: all valid in a cookie name.
    format!("peakend_answered_{journey}")
}

fn has_answered(headers: &HeaderMap, journey: &JourneyKey) -> bool {
    let name = answered_cookie_name(journey);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().split_once('=').is_some_and(|(n, _)| n == name))
}

/// The "already answered" marker, scoped to this hall's survey pages. HttpOnly (no
/// script needs it) and SameSite=Lax; not `Secure`, because halls often serve the form
/// over plain HTTP on their own network and the cookie carries nothing secret.
fn answered_cookie(hall: &HallId, journey: &JourneyKey) -> HeaderValue {
    let cookie = format!(
        "{}=1; Max-Age={ANSWERED_WINDOW_SECS}; Path=/halls/{hall}/survey; HttpOnly; SameSite=Lax",
        answered_cookie_name(journey)
    );
    HeaderValue::from_str(&cookie).expect("ids are header-safe")
}

// ---------------------------------------------------------------- handlers

async fn form(
    State(state): State<AppState>,
    Path(hall): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = lang_of(&q);
    let t = target(&state, &hall, &q).await.in_lang(lang)?;
    if has_answered(&headers, t.journey.key()) {
        return Ok(thanks_page(&t, lang, Thanks::AlreadyAnswered)?.into_response());
    }
    if t.short.as_ref().is_some_and(|s| s.purpose.is_none()) {
        return Ok(render(&purpose_page(&t, lang), lang)?.into_response());
    }
    let page = form_page(&t, lang, new_nonce(), &Answers::new(), &[]);
    // A form holds a one-time nonce: a cached copy would hand the same one to the next
    // person on a shared device.
    Ok(([(header::CACHE_CONTROL, "no-store")], render(&page, lang)?).into_response())
}

fn number(
    answers: &Answers,
    field: &str,
    problems: &mut Vec<FieldProblem>,
    lang: Lang,
) -> Option<f64> {
    let v = answers.get(field).map(|v| v.trim()).unwrap_or("");
    if v.is_empty() {
        return None;
    }
    match v.parse::<f64>() {
        Ok(x) => Some(x),
        Err(_) => {
            problems.push(FieldProblem {
                field: field.to_owned(),
                message: lang.t("不是数字", "not a number").to_owned(),
            });
            None
        }
    }
}

/// The form's fields as the JSON endpoint's [`ResponseForm`], so the same rules check
/// both; values that are not numbers at all are named here (as serde names them there).
fn response_form(
    answers: &Answers,
    t: &Target,
    nonce: &str,
    lang: Lang,
) -> (ResponseForm, Vec<FieldProblem>) {
    let mut problems = Vec::new();
    let mut ratings: BTreeMap<String, RatingForm> = BTreeMap::new();
    let mut needs: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for name in answers.keys() {
        let (what, key) = match name.split_once('.') {
            Some(("sat", key)) => ("satisfaction", key),
            Some(("imp", key)) => ("importance", key),
            Some(("need", rest)) => {
                let Some((moment, need)) = rest.split_once('.') else {
                    continue;
                };
                let x = number(answers, name, &mut problems, lang);
                if let Some(p) = problems.last_mut().filter(|p| &p.field == name) {
                    p.field = format!("needs.{moment}.{need}");
                }
                if let Some(x) = x {
                    needs
                        .entry(moment.to_owned())
                        .or_default()
                        .insert(need.to_owned(), x);
                }
                continue;
            }
            _ => continue,
        };
        let x = number(answers, name, &mut problems, lang);
        if let Some(p) = problems.last_mut().filter(|p| &p.field == name) {
            p.field = format!("ratings.{key}.{what}");
        }
        let entry = ratings.entry(key.to_owned()).or_default();
        match what {
            "satisfaction" => entry.satisfaction = x,
            _ => entry.importance = x,
        }
    }
    // Skipped moments stay out, as an empty cell does in a survey file.
    ratings.retain(|_, r| r.satisfaction.is_some() || r.importance.is_some());
    let form = ResponseForm {
        // Only a form whose moments were drawn by a plan is a short form's answer.
        short_form: t.short.as_ref().is_some_and(|s| s.plan.is_some()),
        // An invitation's answer is known by its invitation: one per link.
        respondent: match &t.bound {
            Some(b) => format!("inv-{}", b.id),
            None => nonce.to_owned(),
        },
        hall: t.hall.to_string(),
        // The visit is today, in the hall's time zone.
        date: match &t.bound {
            Some(b) => b.date.clone(),
            None => t
                .zone
                .local(chrono::Utc::now().timestamp_millis())
                .map(|d| d.date_naive().format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
        },
        segment: answers
            .get("segment")
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .or_else(|| t.bound.as_ref().and_then(|b| b.segment.clone()))
            .unwrap_or_else(|| NOT_SURE.to_owned()),
        purpose: answers.get("purpose").cloned(),
        overall: number(answers, "overall", &mut problems, lang),
        nps: number(answers, "nps", &mut problems, lang),
        tolerable_wait_min: number(answers, "tolerable_wait_min", &mut problems, lang),
        contact: answers.get("contact").cloned(),
        comment: answers.get("comment").cloned(),
        // A checkbox: present when ticked.
        consent: Some(matches!(
            answers.get("consent").map(|v| v.trim()),
            Some("on" | "yes" | "true" | "1")
        )),
        // The web form does not ask for it: a key comes only from a sender, or from the
        // invitation whose link was followed.
        customer: t.bound.as_ref().and_then(|b| b.customer.clone()),
        ratings,
        needs,
    };
    (form, problems)
}

/// The survey posts' rate limit, per client address: 429 with when to try again.
fn admit(
    context: &SurveyContext,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    lang: Lang,
) -> Result<(), PageError> {
    let peer = connect_info.map(|Extension(ConnectInfo(addr))| addr.ip());
    let client = client_key(headers, peer, context.trust_forwarded_for);
    context
        .limiter
        .check(client, Instant::now())
        .map_err(|wait| {
            let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "survey rate limit");
            error.retry_after = Some(wait.as_secs().max(1));
            PageError::for_customer(error, lang)
        })
}

async fn submit(
    State(state): State<AppState>,
    Extension(context): Extension<Arc<SurveyContext>>,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(hall): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    body: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let lang = lang_of(&q);
    admit(&context, connect_info, &headers, lang)?;
    let t = target(&state, &hall, &q).await.in_lang(lang)?;
    let Form(fields) = body
        .map_err(|e| ApiError::new(e.status(), e.body_text()))
        .in_lang(lang)?;
    let answers: Answers = fields.into_iter().collect();
    let thanks_url = |again: bool| {
        let mut url = format!(
            "/halls/{}/survey/thanks{}",
            t.hall,
            query_suffix(t.named.as_deref(), lang)
        );
        if again {
            url.push_str(if url.contains('?') { "&" } else { "?" });
            url.push_str("again=1");
        }
        url
    };
    let cookie = answered_cookie(&t.hall, t.journey.key());
    let done = |again: bool| {
        (
            [(header::SET_COOKIE, cookie.clone())],
            Redirect::to(&thanks_url(again)),
        )
            .into_response()
    };
    // A second tab opened before the first answer was sent: refused like a re-post.
    if has_answered(&headers, t.journey.key()) {
        return Ok(done(true));
    }

    let (nonce, response) = match checked(&t, lang, &answers) {
        Ok(r) => r,
        Err(page) => return Ok(*page),
    };

    // The nonce is random hex: its last two digits spread forms evenly over the
    // stripes. SQLite takes one writer at a time anyway, and a transaction that read
    // before another's commit cannot write after it (SQLITE_BUSY), so there all survey
    // posts of the process take turns.
    let stripe = match state.store.backend() {
        peakend_store::Backend::Sqlite => 0,
        peakend_store::Backend::Postgres => {
            usize::from_str_radix(&nonce[nonce.len() - 2..], 16).unwrap_or(0) % WRITE_LOCK_STRIPES
        }
    };
    let _one_at_a_time = context.write_locks[stripe].lock().await;
    let mut tries = 0;
    loop {
        tries += 1;
        match state
            .store
            .import_responses(&t.journey, std::slice::from_ref(&response))
            .await
        {
            Ok(_) => return Ok(done(false)),
            // The one conflict a single response can meet: its respondent (this form's
            // nonce) is already stored, i.e. the same form was sent before.
            Err(e) if e.kind() == peakend_store::ErrorKind::Conflict => return Ok(done(true)),
            // Two posts of one form racing past the store's check (from two processes)
            // meet the unique index instead, as a database error; the first one's row
            // tells them apart from a real failure. A writer of another kind (a file
            // import, say) can also make one attempt fail on SQLite: one more try.
            Err(e) => {
                if stored(&state, &t, &nonce).await {
                    return Ok(done(true));
                }
                if tries >= 2 {
                    return Err(e).in_lang(lang);
                }
                tracing::warn!(error = %e, "survey answer not stored, trying once more");
            }
        }
    }
}

/// The posted answers checked by the JSON endpoint's rules: the form's nonce and the
/// response, or the form again (422) with every problem under its question.
fn checked(
    t: &Target,
    lang: Lang,
    answers: &Answers,
) -> Result<(String, peakend_core::survey::Response), Box<Response>> {
    let nonce = answers.get("nonce").map(|n| n.trim()).unwrap_or("");
    let (nonce, mut problems) = if is_nonce(nonce) {
        (nonce.to_owned(), Vec::new())
    } else {
        let p = FieldProblem {
            field: "respondent".into(),
            message: "the form carries no valid nonce".into(),
        };
        (new_nonce(), vec![p])
    };
    let (response_form, conversion) = response_form(answers, t, &nonce, lang);
    problems.extend(conversion);
    let answered_any = response_form.overall.is_some()
        || response_form.nps.is_some()
        || !response_form.ratings.is_empty();
    let halls = HashSet::from([t.hall.to_string()]);
    let parsed = response_form.parse(&t.journey, Some(&halls));
    let response = match parsed {
        Ok(r) if problems.is_empty() && answered_any => r,
        Ok(_) => {
            if problems.is_empty() {
                problems.push(FieldProblem {
                    field: "(form)".into(),
                    message: lang
                        .t(
                            "请至少回答一个问题再提交。",
                            "Please answer at least one question before sending.",
                        )
                        .into(),
                });
            }
            return Err(Box::new(again(t, lang, nonce, answers, &problems)));
        }
        Err(core) => {
            problems.extend(core);
            return Err(Box::new(again(t, lang, nonce, answers, &problems)));
        }
    };
    Ok((nonce, response))
}

/// The form again, 422, with every problem under its question and the answers kept
/// (and the same nonce: nothing was stored under it).
fn again(
    t: &Target,
    lang: Lang,
    nonce: String,
    answers: &Answers,
    problems: &[FieldProblem],
) -> Response {
    match render(&form_page(t, lang, nonce, answers, problems), lang) {
        Ok(html) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CACHE_CONTROL, "no-store")],
            html,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether a response of `respondent` to the target's journey is stored for its hall
/// (looked up among today's and yesterday's, which a just-sent form falls within).
async fn stored(state: &AppState, t: &Target, respondent: &str) -> bool {
    let now = chrono::Utc::now();
    let today = t
        .zone
        .local(now.timestamp_millis())
        .map_or(now.date_naive(), |d| d.date_naive());
    let from = today.pred_opt().unwrap_or(today);
    state
        .store
        .responses(
            &t.journey,
            Some(std::slice::from_ref(&t.hall)),
            Some(from),
            Some(today),
        )
        .await
        .is_ok_and(|rs| rs.iter().any(|r| r.respondent == respondent))
}

// ---------------------------------------------------------------- the short form's first page

#[derive(Template)]
#[template(path = "survey_purpose.html")]
struct PurposePage {
    lang: Lang,
    hall_name: String,
    journey_name: String,
    switch_lang: String,
    /// (label, address of the short form for that purpose)
    purposes: Vec<(String, String)>,
    long_url: String,
}

/// The short form starts with the visit purpose: it decides which moments are asked.
fn purpose_page(t: &Target, lang: Lang) -> PurposePage {
    PurposePage {
        lang,
        hall_name: t.hall_name.clone(),
        journey_name: lang.text(t.journey.name()).to_owned(),
        switch_lang: format!("{}{}", t.path, t.suffix(Lang { en: !lang.en })),
        purposes: PURPOSES
            .iter()
            .map(|&(zh, en)| {
                let url = format!(
                    "{}{}",
                    t.path,
                    query_suffix_with(t.named.as_deref(), lang, Some(Some(zh)))
                );
                (lang.t(zh, en).to_owned(), url)
            })
            .collect(),
        long_url: t.long_url(lang),
    }
}

// ---------------------------------------------------------------- thank-you page

enum Thanks {
    /// The answers were just stored.
    Received,
    /// The same form was sent again: nothing stored twice, and the customer is thanked all the same.
    ReceivedBefore,
    /// The phone answered within the window and opened the form again.
    AlreadyAnswered,
}

#[derive(Template)]
#[template(path = "survey_thanks.html")]
struct ThanksPage {
    lang: Lang,
    hall_name: String,
    title: String,
    message: String,
    note: String,
    /// The hall's busy-hour forecast, so the customer can pick a quiet time next visit;
    /// none for a contact centre, which has no hall to come to.
    busy_url: Option<String>,
}

fn thanks_page(t: &Target, lang: Lang, kind: Thanks) -> Result<Html<String>, PageError> {
    let hours = ANSWERED_WINDOW_SECS / 3600;
    let (title, note) = match kind {
        Thanks::Received => (lang.t("谢谢您！", "Thank you!"), String::new()),
        Thanks::ReceivedBefore => (
            lang.t("谢谢您！", "Thank you!"),
            lang.t(
                "您的回答我们已经收到，无需再次提交。",
                "We had already received your answers; there is no need to send them again.",
            )
            .to_owned(),
        ),
        Thanks::AlreadyAnswered => (
            lang.t(
                "您已经评价过了，谢谢！",
                "You have already answered, thank you!",
            ),
            if lang.en {
                format!(
                    "Each phone can answer once every {hours} hours. Next time you {}, we would love to hear from you again.",
                    if t.walk_in { "visit" } else { "call us" }
                )
            } else {
                format!(
                    "每部手机每 {hours} 小时可评价一次。{}，欢迎再告诉我们您的感受。",
                    if t.walk_in {
                        "下次来厅时"
                    } else {
                        "下次联系我们时"
                    }
                )
            },
        ),
    };
    let message = if lang.en {
        format!(
            "Your answers help {} make every visit better. We wish you a wonderful day!",
            t.hall_name
        )
    } else {
        format!(
            "您的评价会帮助{}把每一次服务做得更好。祝您生活愉快！",
            t.hall_name
        )
    };
    render(
        &ThanksPage {
            lang,
            hall_name: t.hall_name.clone(),
            title: title.to_owned(),
            message,
            note,
            busy_url: t.walk_in.then(|| {
                format!(
                    "/halls/{}/busy{}",
                    t.hall,
                    if lang.en { "?lang=en" } else { "" }
                )
            }),
        },
        lang,
    )
}

async fn thanks(
    State(state): State<AppState>,
    Path(hall): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&q);
    let t = target(&state, &hall, &q).await.in_lang(lang)?;
    let kind = if q.again.is_some() {
        Thanks::ReceivedBefore
    } else {
        Thanks::Received
    };
    thanks_page(&t, lang, kind)
}

// ---------------------------------------------------------------- invitation links

/// A link used before or past its 72 hours: 410, told kindly.
fn gone(lang: Lang) -> PageError {
    PageError::for_customer(
        ApiError::new(StatusCode::GONE, "survey link used or expired"),
        lang,
    )
}

/// `GET /i/{token}`: the short form bound to the invitation's visit or call (purpose
/// first unless the contact's is known); `?short=0` the long one.
async fn link_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let lang = lang_of(&q);
    let q = q.short_by_default();
    let (t, invitation) = link_target(&state, &token, &q).await.in_lang(lang)?;
    // The app's clock: the demo's runs ahead, and its invitations live by it.
    if !invitation.open_at(state.clock.now().timestamp_millis()) {
        return Err(gone(lang));
    }
    if t.short.as_ref().is_some_and(|s| s.purpose.is_none()) {
        return Ok(render(&purpose_page(&t, lang), lang)?.into_response());
    }
    // The contact's segment is known: the form shows it chosen.
    let mut known = Answers::new();
    if let Some(segment) = t.bound.as_ref().and_then(|b| b.segment.clone()) {
        known.insert("segment".into(), segment);
    }
    let page = form_page(&t, lang, new_nonce(), &known, &[]);
    Ok(([(header::CACHE_CONTROL, "no-store")], render(&page, lang)?).into_response())
}

/// `POST /i/{token}`: the answer, stored with the invitation marked answered in one
/// transaction; a link used or expired is 410 and stores nothing.
async fn link_submit(
    State(state): State<AppState>,
    Extension(context): Extension<Arc<SurveyContext>>,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(token): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    body: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let lang = lang_of(&q);
    admit(&context, connect_info, &headers, lang)?;
    let q = q.short_by_default();
    let (t, invitation) = link_target(&state, &token, &q).await.in_lang(lang)?;
    let now = state.clock.now().timestamp_millis();
    if !invitation.open_at(now) {
        return Err(gone(lang));
    }
    let Form(fields) = body
        .map_err(|e| ApiError::new(e.status(), e.body_text()))
        .in_lang(lang)?;
    let answers: Answers = fields.into_iter().collect();
    let (_, response) = match checked(&t, lang, &answers) {
        Ok(r) => r,
        Err(page) => return Ok(*page),
    };
    match state
        .store
        .answer_invitation(invitation.id, &t.journey, &response, now)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!(
            "/i/{token}/thanks{}",
            if lang.en { "?lang=en" } else { "" }
        ))
        .into_response()),
        Err(e) if e.kind() == peakend_store::ErrorKind::Gone => Err(gone(lang)),
        Err(e) => Err(e).in_lang(lang),
    }
}

/// `GET /i/{token}/thanks`: the thank-you page of an answered link.
async fn link_thanks(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&q);
    let (t, _) = link_target(&state, &token, &q).await.in_lang(lang)?;
    thanks_page(&t, lang, Thanks::Received)
}

#[derive(Template)]
#[template(path = "survey_optout.html")]
struct OptOutPage {
    lang: Lang,
    hall_name: String,
    action: String,
    done: bool,
}

/// `GET /i/{token}/optout`: asks to confirm (a link scanner following the link opts
/// nobody out); works after the link has lapsed, as a refusal should.
async fn optout_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let lang = lang_of(&q);
    let (t, _) = link_target(&state, &token, &q).await.in_lang(lang)?;
    let page = OptOutPage {
        lang,
        hall_name: t.hall_name.clone(),
        action: format!("/i/{token}/optout{}", if lang.en { "?lang=en" } else { "" }),
        done: false,
    };
    Ok(render(&page, lang)?.into_response())
}

/// `POST /i/{token}/optout`: the invitation's customer is never invited again (any
/// hall, any channel); their unanswered invitations' reminders are not sent.
async fn optout(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let lang = lang_of(&q);
    let (t, invitation) = link_target(&state, &token, &q).await.in_lang(lang)?;
    if let Some(key) = &invitation.customer_key {
        state
            .store
            .opt_out(key, state.clock.now().timestamp_millis())
            .await
            .in_lang(lang)?;
    }
    let page = OptOutPage {
        lang,
        hall_name: t.hall_name.clone(),
        action: String::new(),
        done: true,
    };
    Ok(render(&page, lang)?.into_response())
}

// ---------------------------------------------------------------- QR code

/// Pixels per QR module: 10 px prints about 2.5 mm per module at 100 dpi and stays
/// crisp when a browser scales the image down for an A5 card.
const QR_MODULE_PX: usize = 10;
/// The quiet zone the QR standard asks for around the symbol, in modules.
const QR_QUIET_MODULES: usize = 4;

/// The absolute address of a hall's form: the configured public URL, else the scheme
/// and `Host` this request came with (so print the card from the address customers use).
fn form_url(context: &SurveyContext, headers: &HeaderMap, t: &Target) -> String {
    let base = context.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|p| p.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        format!("{}://{host}", if https { "https" } else { "http" })
    });
    format!(
        "{base}/halls/{}/survey{}",
        t.hall,
        query_suffix(t.named.as_deref(), Lang { en: false })
    )
}

/// A black-on-white greyscale PNG of the QR code of `text` (error correction M: still
/// reads with a smudge or a fold in a printed card).
pub fn qr_png_bytes(text: &str) -> Result<Vec<u8>, String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QR_QUIET_MODULES) * QR_MODULE_PX;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules, i / modules);
        let (x0, y0) = (
            (mx + QR_QUIET_MODULES) * QR_MODULE_PX,
            (my + QR_QUIET_MODULES) * QR_MODULE_PX,
        );
        for y in y0..y0 + QR_MODULE_PX {
            pixels[y * side + x0..y * side + x0 + QR_MODULE_PX].fill(0);
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

async fn qr_png(
    State(state): State<AppState>,
    Extension(context): Extension<Arc<SurveyContext>>,
    Path(hall): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = lang_of(&q);
    let t = target(&state, &hall, &q).await.in_lang(lang)?;
    let png = qr_png_bytes(&form_url(&context, &headers, &t))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))
        .in_lang(lang)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

#[derive(Template)]
#[template(path = "survey_qr.html")]
struct QrPage {
    lang: Lang,
    hall_name: String,
    journey_name: String,
    png: String,
    url: String,
    /// No `PEAKEND_PUBLIC_URL`: the code carries the address this page was opened
    /// with, which customers' phones may not reach (a 127.0.0.1 or an office address).
    no_public_url: bool,
}

async fn qr_page(
    State(state): State<AppState>,
    Extension(context): Extension<Arc<SurveyContext>>,
    Path(hall): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Html<String>, PageError> {
    let lang = lang_of(&q);
    let t = target(&state, &hall, &q).await.in_lang(lang)?;
    let page = QrPage {
        lang,
        hall_name: t.hall_name.clone(),
        journey_name: lang.text(t.journey.name()).to_owned(),
        png: format!(
            "/halls/{}/qr.png{}",
            t.hall,
            query_suffix(t.named.as_deref(), Lang { en: false })
        ),
        url: form_url(&context, &headers, &t),
        no_public_url: context.public_url.is_none(),
    };
    render(&page, lang)
}

// ---------------------------------------------------------------- rate limit

/// The address a submission is counted against: the connection's peer, or (when
/// trusted, behind a proxy) the last `X-Forwarded-For` entry, which is the one the proxy
/// itself appended. IPv6 addresses count per /64, the block one subscriber gets.
/// `None` when neither is known (a server started without connection info): all such
/// posts then share one allowance, so the limit still holds.
fn client_key(headers: &HeaderMap, peer: Option<IpAddr>, trust_forwarded: bool) -> Option<IpAddr> {
    let forwarded = trust_forwarded
        .then(|| {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back()
        })
        .flatten();
    forwarded.or(peer).map(|ip| match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
        v4 => v4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_when_trusted_and_ipv6_per_64() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.7"),
        );
        let peer: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        assert_eq!(client_key(&headers, peer, false), peer);
        assert_eq!(
            client_key(&headers, peer, true),
            Some("203.0.113.7".parse().unwrap())
        );
        let a = client_key(
            &HeaderMap::new(),
            Some("2001:db8::1".parse().unwrap()),
            false,
        );
        let b = client_key(
            &HeaderMap::new(),
            Some("2001:db8::ffff:2".parse().unwrap()),
            false,
        );
        assert_eq!(a, b);
        assert_eq!(
            client_key(
                &HeaderMap::new(),
                Some("::ffff:10.1.2.3".parse().unwrap()),
                false
            ),
            Some("10.1.2.3".parse().unwrap())
        );
    }

    #[test]
    fn the_qr_address_is_the_public_url_or_the_request_host() {
        let t = Target {
            hall: HallId::parse("h1").unwrap(),
            hall_name: "人民路营业厅".into(),
            zone: peakend_core::time::Zone::DEFAULT,
            journey: peakend_core::builtin::journeys().unwrap().remove(0),
            named: Some("service-hall".into()),
            short: None,
            path: "/halls/h1/survey".into(),
            bound: None,
            walk_in: true,
        };
        let context = |public_url: Option<&str>| SurveyContext {
            limiter: RateLimiter::new(1, Duration::from_secs(60)),
            write_locks: Vec::new(),
            trust_forwarded_for: false,
            public_url: public_url.map(String::from),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("10.1.2.3:8080"));
        assert_eq!(
            form_url(&context(None), &headers, &t),
            "http://10.1.2.3:8080/halls/h1/survey?journey=service-hall"
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert(header::HOST, HeaderValue::from_static("survey.example.cn"));
        assert_eq!(
            form_url(&context(None), &headers, &t),
            "https://survey.example.cn/halls/h1/survey?journey=service-hall"
        );
        // A Host that is no host name is not put into a printed code.
        headers.insert(header::HOST, HeaderValue::from_static("evil\"/x"));
        assert!(form_url(&context(None), &headers, &t).starts_with("https://localhost/"));
        assert_eq!(
            form_url(&context(Some("https://cx.example.cn")), &headers, &t),
            "https://cx.example.cn/halls/h1/survey?journey=service-hall"
        );
    }

    #[test]
    fn only_well_formed_nonces_are_taken() {
        let n = new_nonce();
        assert!(is_nonce(&n), "{n}");
        assert_ne!(n, new_nonce());
        assert!(!is_nonce("r1"));
        assert!(!is_nonce("web-xyz"));
    }
}
