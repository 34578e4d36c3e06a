//! Audit checklists (issue 21): the printable A4 checklist of a journey for one kind of
//! checker (`GET /journeys/{key}/checklist?kind=walk`, also `peakend audit template`),
//! and the phone page an auditor fills in on the hall floor (`GET /halls/{hall}/audit`):
//! the checklist of the journey the hall lives by, one card per standard, sent to
//! `POST /api/v1/audits` (photos first to `POST /api/v1/audits/photos`). At a contact
//! centre the same page scores a recorded call (`?kind=monitoring`, the default there),
//! asking first for the call and the agent.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::Html;
use axum::routing::get;
use peakend_core::audit::{CheckMethod, Checker};
use peakend_core::checklist::{Checklist, ChecklistItem, auto_name, checker_name, checklist};
use peakend_core::{Action, Journey, OrgNodeId, Role};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/journeys/{key}/checklist", get(checklist_page))
        .route("/halls/{hall}/audit", get(audit_page))
}

/// The unit a number result is written in, (Chinese, English); empty for yes-no.
fn unit(method: &CheckMethod) -> (&'static str, &'static str) {
    match method {
        CheckMethod::YesNo => ("", ""),
        CheckMethod::CountMax { .. } => ("个", "count"),
        CheckMethod::DurationMax { .. } => ("秒", "s"),
        CheckMethod::ShareMin { .. } => ("%", "%"),
    }
}

/// The method's name as the page's script and the API know it.
fn method_key(method: &CheckMethod) -> &'static str {
    match method {
        CheckMethod::YesNo => "yes_no",
        CheckMethod::CountMax { .. } => "count_max",
        CheckMethod::DurationMax { .. } => "duration_max",
        CheckMethod::ShareMin { .. } => "share_min",
    }
}

/// One standard as a page shows it, in one language.
struct ItemView {
    n: usize,
    standard: String,
    text: String,
    owner: String,
    how: String,
    every: String,
    /// What the device events check too; empty when nothing.
    auto: String,
    method: &'static str,
    yes_no: bool,
    unit: String,
}

struct MomentView {
    key: String,
    name: String,
    items: Vec<ItemView>,
}

fn item_view(n: usize, i: &ChecklistItem, lang: Lang) -> ItemView {
    let pick = |(zh, en): (&str, &str)| lang.t(zh, en).to_owned();
    ItemView {
        n,
        standard: i.standard.clone(),
        text: lang.text(&i.text).to_owned(),
        owner: pick(i.owner.name()),
        how: lang.text(&i.how).to_owned(),
        every: pick(i.every.name()),
        auto: i.auto.map(|a| pick(auto_name(a))).unwrap_or_default(),
        method: method_key(&i.verify),
        yes_no: i.verify == CheckMethod::YesNo,
        unit: pick(unit(&i.verify)),
    }
}

fn moment_views(list: &Checklist, lang: Lang) -> Vec<MomentView> {
    let mut n = 0;
    list.moments
        .iter()
        .map(|m| MomentView {
            key: m.key.clone(),
            name: lang.text(&m.name).to_owned(),
            items: m
                .items
                .iter()
                .map(|i| {
                    n += 1;
                    item_view(n, i, lang)
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "checklist_print.html")]
struct PrintPage {
    title: String,
    journey: String,
    kind: &'static str,
    kind_name: &'static str,
    total: usize,
    moments: Vec<MomentView>,
}

/// The printable A4 checklist (zh-CN): a header for the hall, date and auditor, then
/// per moment a table of the standards with how to record each, a result box and room
/// for a note. Self-contained: inline CSS, no external assets.
pub fn checklist_html(journey: &Journey, list: &Checklist) -> String {
    let lang = Lang { en: false };
    let (kind_name, _) = checker_name(list.kind);
    let page = PrintPage {
        title: format!("{} · {kind_name}检查表", journey.name().zh),
        journey: journey.key().to_string(),
        kind: list.kind.as_str(),
        kind_name,
        total: list.len(),
        moments: moment_views(list, lang),
    };
    // The template only prints strings it is given; rendering cannot fail but for a
    // formatter error, which is shown rather than hidden.
    page.render()
        .unwrap_or_else(|e| format!("<!doctype html><p>checklist: {e}</p>"))
}

#[derive(Deserialize)]
struct KindQuery {
    kind: Option<String>,
}

fn parse_kind(q: &KindQuery, default: Checker) -> Result<Checker, ApiError> {
    match q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok(default),
        Some(k) => Checker::parse(k).map_err(|e| ApiError::bad_request(format!("kind: {e}"))),
    }
}

/// `GET /journeys/{key}/checklist?kind=walk`: the printable checklist, for anyone signed
/// in who may see the journey or audit by it.
async fn checklist_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<KindQuery>,
) -> Result<Html<String>, PageError> {
    let role = viewer.user.role;
    if !(role.may(Action::View) || role.may(Action::SubmitAudit)) {
        viewer.require(Action::View)?;
    }
    let kind = parse_kind(&q, Checker::Walk)?;
    let journey = crate::journeys::load(&state, key).await?;
    let list = checklist(&journey, kind);
    Ok(Html(checklist_html(&journey, &list)))
}

struct KindTab {
    key: &'static str,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    lang: Lang,
    nav: Nav,
    hall: String,
    hall_name: String,
    journey: String,
    journey_name: String,
    kind: &'static str,
    kind_name: String,
    kinds: Vec<KindTab>,
    total: usize,
    moments: Vec<MomentView>,
    /// A call-monitoring audit: the page asks for the call and the agent.
    monitoring: bool,
}

/// The kind an audit page opens with: a recorded call's monitoring at a contact
/// centre; else a mystery shopper's visit for an auditor, or the manager's walk.
fn default_kind(role: Role, centre: bool) -> Checker {
    match role {
        _ if centre => Checker::Monitoring,
        Role::Auditor => Checker::Mystery,
        _ => Checker::Walk,
    }
}

/// `GET /halls/{hall}/audit?kind=walk`: the audit page for a phone. Anyone whose scope
/// covers the hall may open it (403 otherwise, 404 for what is not a hall).
async fn audit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(hall): Path<String>,
    Query(q): Query<KindQuery>,
) -> Result<Html<String>, PageError> {
    viewer.require(Action::SubmitAudit)?;
    let tree = state.store.org_tree().await?;
    let hall = viewer.path_site(&tree, &hall)?;
    let node = OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let centre = tree
        .get(&node)
        .is_some_and(|n| n.level == peakend_core::OrgLevel::Centre);
    let kind = parse_kind(&q, default_kind(viewer.user.role, centre))?;
    let (journey, _) = peakend_store::effective_journey(state.store.as_ref(), &node).await?;
    // A recorded call is scored only on a journey of calls; the API refuses it likewise.
    if kind == Checker::Monitoring && !journey.has_call_moments() {
        return Err(ApiError::unprocessable(&[format!(
            "kind: `monitoring` scores a recorded call, and journey `{}` that `{hall}` lives by has no call moments (its channel is not the phone)",
            journey.key()
        )])
        .into());
    }
    let list = checklist(&journey, kind);
    let pick = |(zh, en): (&'static str, &'static str)| lang.t(zh, en).to_owned();
    let page = AuditPage {
        nav: Nav::of(&viewer, &tree, &lang, &uri),
        hall: hall.to_string(),
        hall_name: tree
            .get(&node)
            .map_or_else(|| hall.to_string(), |n| n.name.clone()),
        journey: journey.key().to_string(),
        journey_name: lang.text(journey.name()).to_owned(),
        kind: kind.as_str(),
        kind_name: pick(checker_name(kind)),
        kinds: Checker::ALL
            .into_iter()
            .filter(|k| *k != Checker::Monitoring || journey.has_call_moments())
            .map(|k| KindTab {
                key: k.as_str(),
                name: pick(checker_name(k)),
                selected: k == kind,
            })
            .collect(),
        total: list.len(),
        moments: moment_views(&list, lang),
        monitoring: kind == Checker::Monitoring,
        lang,
    };
    Ok(render(&page)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printable_checklist_has_a_table_per_moment() {
        let j = peakend_core::builtin::journeys()
            .unwrap()
            .into_iter()
            .find(|j| j.key().as_str() == "service-hall")
            .unwrap();
        let list = checklist(&j, Checker::Walk);
        let page = checklist_html(&j, &list);
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<html lang=\"zh-CN\">"));
        assert!(page.contains("厅经理走动巡查检查表"));
        assert_eq!(
            page.matches("<table class=\"items\"").count(),
            list.moments.len()
        );
        assert!(page.contains("记录秒数（不超过 300 秒）"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external assets"
        );
    }
}
