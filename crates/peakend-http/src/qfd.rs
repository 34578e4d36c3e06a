//! The house of quality (issue 23): `GET /api/v1/qfd/{journey}?stage=&org=&purpose=&format=`
//! gives a stage of the journey's house as `peakend qfd` does (JSON, or the SVG and
//! XLSX exports), `POST /api/v1/qfd/{journey}/relationships` is a director's edit of
//! one cell, written into the journey's own `qfd` section (a region's edits stay its
//! own, over its parent's), and `/journeys/{key}/qfd` is the page that draws it.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use peakend_core::access::Action;
use peakend_core::qfd::{ColumnImportance, House, RawStrength, StageTitles};
use peakend_core::{Journey, JourneyKey, OrgNodeId};
use peakend_store::Origin;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Viewer;
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/qfd/{journey}", get(house))
        .route("/api/v1/qfd/{journey}/relationships", post(edit))
        .route("/journeys/{key}/qfd", get(page))
}

#[derive(Deserialize)]
struct QfdQuery {
    org: Option<String>,
    purpose: Option<String>,
    stage: Option<u8>,
    /// `json` (default), `svg` or `xlsx`.
    format: Option<String>,
    /// Labels of the exports: `zh` (default) or `en`.
    lang: Option<String>,
}

struct Built {
    journey: Journey,
    stage: u8,
    org: OrgNodeId,
    purpose: Option<String>,
    house: House,
    respondents: u64,
}

async fn build(
    state: &AppState,
    viewer: &Viewer,
    journey: String,
    q: &QfdQuery,
) -> Result<Built, ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    let stage = q.stage.unwrap_or(1);
    if !(1..=3).contains(&stage) {
        return Err(bad("stage", format!("{stage}: 1, 2 or 3")));
    }
    let org = match &q.org {
        Some(o) if !o.trim().is_empty() => {
            OrgNodeId::parse(o.trim()).map_err(|e| bad("org", e.to_string()))?
        }
        _ => viewer.user.org.clone(),
    };
    viewer.ensure_covers(&state.store.org_tree().await?, &org)?;
    let journey = crate::journeys::load(state, journey).await?;
    let purpose = q.purpose.clone().filter(|p| !p.trim().is_empty());
    let (house, respondents) = peakend_store::qfd_house(
        state.store.as_ref(),
        &journey,
        stage,
        Some(&org),
        purpose.as_deref(),
    )
    .await?;
    Ok(Built {
        journey,
        stage,
        org,
        purpose,
        house,
        respondents,
    })
}

async fn house(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(journey): Path<String>,
    Query(q): Query<QfdQuery>,
) -> Result<Response, ApiError> {
    let lang = match q.lang.as_deref() {
        None | Some("zh") => "zh",
        Some("en") => "en",
        Some(other) => return Err(ApiError::bad_request(format!("lang: {other}: zh or en"))),
    };
    let format = q.format.clone().unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "svg" | "xlsx") {
        return Err(ApiError::bad_request(format!(
            "format: {format}: json, svg or xlsx"
        )));
    }
    let b = build(&state, &viewer, journey, &q).await?;
    let name = format!("qfd-{}-stage{}", b.journey.key(), b.stage);
    Ok(match format.as_str() {
        "svg" => (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            peakend_io::qfd_svg::render(&b.house, lang),
        )
            .into_response(),
        "xlsx" => crate::download::attachment(
            crate::download::FileFormat::Xlsx,
            &name,
            peakend_io::qfd_xlsx::write(&b.house, lang),
        )?,
        _ => Json(json!({
            "journey": b.journey.key().as_str(),
            "stage": b.stage,
            "org": b.org.as_str(),
            "purpose": b.purpose,
            "respondents": b.respondents,
            "importance": b.house.ranking(),
            "house": b.house,
        }))
        .into_response(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    stage: u8,
    row: String,
    column: String,
    /// 9, 3, 1, or 0 / "none" to remove the cell.
    strength: RawStrength,
}

/// One relationship cell set by a director. A built-in journey is the study's and
/// cannot be changed: the edit goes into a region's journey that extends it.
async fn edit(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(journey): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::EditStandards)?;
    let key = JourneyKey::parse(journey.trim())
        .map_err(|e| ApiError::bad_request(format!("journey: {e}")))?;
    let b: EditBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    if !(1..=3).contains(&b.stage) {
        return Err(ApiError::bad_request(format!(
            "stage: {}: 1, 2 or 3",
            b.stage
        )));
    }
    if peakend_core::builtin::is_builtin(key.as_str()) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "journey `{key}` is built in: edit the house of a region's journey that extends it"
            ),
        ));
    }
    let mut stored = state
        .store
        .journey_as_stored(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("journey `{key}` not found")))?;
    let mut section = stored.qfd().clone();
    section
        .set_relationship(b.stage, &b.row, &b.column, b.strength)
        .map_err(|e| ApiError::unprocessable(&[e.to_string()]))?;
    stored
        .set_qfd(section)
        .map_err(|e| ApiError::unprocessable(&[e.to_string()]))?;
    // put_journey checks the merged house against the parent's before it writes.
    state.store.put_journey(&stored, Origin::User).await?;
    let effective = crate::journeys::load(&state, key.to_string()).await?;
    let house = peakend_core::qfd::house(&effective, b.stage, None)
        .map_err(|e| ApiError::unprocessable(&[e.to_string()]))?;
    Ok(Json(json!({
        "journey": key.as_str(),
        "stage": b.stage,
        "row": b.row,
        "column": b.column,
        "strength": house.relationship(&b.row, &b.column).map_or(0.0, |s| s.value()),
    })))
}

struct ImportanceRow {
    rank: usize,
    key: String,
    label: String,
    absolute: String,
    share: String,
}

#[derive(Template)]
#[template(path = "qfd.html")]
struct QfdPage {
    lang: Lang,
    nav: Nav,
    key: String,
    title: String,
    stage: u8,
    titles: StageTitles,
    org: String,
    purpose: String,
    respondents: u64,
    svg: String,
    importance: Vec<ImportanceRow>,
    rows: Vec<(String, String)>,
    columns: Vec<(String, String)>,
    editable: bool,
    builtin: bool,
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Path(key): Path<String>,
    Query(q): Query<QfdQuery>,
) -> Result<Html<String>, PageError> {
    let tree = state.store.org_tree().await?;
    let nav = Nav::of(&viewer, &tree, &lang, &uri);
    let b = build(&state, &viewer, key, &q).await?;
    let code = if lang.en { "en" } else { "zh" };
    let label = |keys: &str, cols: bool| -> String {
        let found = if cols {
            b.house
                .columns()
                .iter()
                .find(|c| c.key == keys)
                .map(|c| c.label.get(code).to_owned())
        } else {
            b.house
                .rows()
                .iter()
                .find(|r| r.key == keys)
                .map(|r| r.label.get(code).to_owned())
        };
        found.unwrap_or_else(|| keys.to_owned())
    };
    let importance = b
        .house
        .ranking()
        .iter()
        .map(|c: &ColumnImportance| ImportanceRow {
            rank: c.rank,
            key: c.key.clone(),
            label: label(&c.key, true),
            absolute: format!("{:.1}", c.absolute),
            share: format!("{:.1}%", 100.0 * c.relative),
        })
        .collect();
    let rows = b
        .house
        .rows()
        .iter()
        .map(|r| (r.key.clone(), r.label.get(code).to_owned()))
        .collect();
    let columns = b
        .house
        .columns()
        .iter()
        .map(|c| (c.key.clone(), c.label.get(code).to_owned()))
        .collect();
    let builtin = peakend_core::builtin::is_builtin(b.journey.key().as_str());
    render(&QfdPage {
        key: b.journey.key().to_string(),
        title: lang.text(b.journey.name()).to_owned(),
        stage: b.stage,
        titles: peakend_core::qfd::stage_titles(b.stage),
        org: b.org.to_string(),
        purpose: b.purpose.clone().unwrap_or_default(),
        respondents: b.respondents,
        svg: peakend_io::qfd_svg::render(&b.house, code),
        importance,
        rows,
        columns,
        editable: viewer.require(Action::EditStandards).is_ok() && !builtin,
        builtin,
        lang,
        nav,
    })
    .map_err(Into::into)
}
