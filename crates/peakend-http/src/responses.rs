//! Survey responses in: one at a time as JSON (the web form, kiosks), or a whole CSV or
//! XLSX file. Both run the same checks as `peakend survey import` and store all or
//! nothing.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use peakend_core::{Action, Journey, OrgNodeId};
use peakend_io::{Source, survey_csv, survey_json};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router(limits: &crate::BodyLimits) -> Router<AppState> {
    Router::new()
        .route("/api/v1/journeys/{key}/responses", post(submit))
        .route(
            "/api/v1/journeys/{key}/responses/import",
            post(import).layer(DefaultBodyLimit::max(limits.upload)),
        )
}

async fn known_halls(state: &AppState) -> Result<HashSet<String>, ApiError> {
    Ok(state
        .store
        .org_nodes()
        .await?
        .into_iter()
        .filter_map(|n| n.hall_id())
        .map(String::from)
        .collect())
}

/// 403 unless every response is for a hall the caller's node covers (the role and the
/// CSRF token were checked before the body was read) (`row` numbers a file's rows from its header at 1).
async fn check_scope(
    state: &AppState,
    viewer: &Viewer,
    responses: &[peakend_core::survey::Response],
) -> Result<(), ApiError> {
    let tree = state.store.org_tree().await?;
    for (i, r) in responses.iter().enumerate() {
        let node =
            OrgNodeId::parse(r.hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        viewer.ensure_covers(&tree, &node).map_err(|mut e| {
            if responses.len() > 1 {
                e.message = format!("row {}: {}; nothing was imported", i + 2, e.message);
            }
            e
        })?;
    }
    Ok(())
}

async fn store(
    state: &AppState,
    journey: &Journey,
    responses: &[peakend_core::survey::Response],
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let n = state.store.import_responses(journey, responses).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "journey": journey.key().as_str(), "imported": n })),
    ))
}

/// One response as JSON (see peakend_io::survey_json for the shape).
async fn submit(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::ImportResponses)?;
    let journey = crate::journeys::load(&state, key).await?;
    let form = survey_json::from_json(&body)
        .map_err(|p| ApiError::unprocessable(std::slice::from_ref(&p)))?;
    let halls = known_halls(&state).await?;
    let response = form
        .parse(&journey, Some(&halls))
        .map_err(|problems| ApiError::unprocessable(&problems))?;
    check_scope(&state, &viewer, std::slice::from_ref(&response)).await?;
    store(&state, &journey, &[response]).await
}

#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default)]
    ignore_unknown: bool,
    encoding: Option<String>,
}

/// A whole survey file: the request body itself (`curl --data-binary @file.csv`), or the
/// first file of a multipart form (a browser upload).
async fn import(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<ImportQuery>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // The session, its CSRF token and the role are checked before the upload is read:
    // a forged or unauthorised request costs no parsing.
    let headers = request.headers().clone();
    viewer.check_csrf_header(&headers)?;
    viewer.require(Action::ImportResponses)?;
    let journey = crate::journeys::load(&state, key).await?;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bytes = if multipart {
        first_file(
            Multipart::from_request(request, &state)
                .await
                .map_err(|e| ApiError::new(e.status(), e.body_text()))?,
        )
        .await?
    } else {
        axum::body::to_bytes(request.into_body(), state.limits.upload)
            .await
            .map_err(|_| too_large(state.limits.upload))?
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the upload is empty"));
    }
    let forced = q
        .encoding
        .as_deref()
        .map(peakend_io::decode::encoding_for)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let source = Source::from_bytes(bytes.to_vec(), forced)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let halls = known_halls(&state).await?;
    let opts = survey_csv::Options {
        ignore_unknown: q.ignore_unknown,
        halls: Some(&halls),
        ..Default::default()
    };
    let responses = survey_csv::parse(&source, &journey, &opts).map_err(|errors| {
        let mut e = ApiError::unprocessable(&errors);
        // The message is what the CLI prints: the first 100 problems, then a count.
        e.message = peakend_io::FileErrors {
            file: "upload".into(),
            errors,
        }
        .to_string();
        e
    })?;
    check_scope(&state, &viewer, &responses).await?;
    store(&state, &journey, &responses).await
}

/// 413 naming the limit.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is larger than {} MiB; import larger files with `peakend survey import`",
            limit / (1024 * 1024)
        ),
    )
}

async fn first_file(mut form: Multipart) -> Result<Bytes, ApiError> {
    let bad =
        |e: axum::extract::multipart::MultipartError| ApiError::new(e.status(), e.body_text());
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.file_name().is_some() || field.name() == Some("file") {
            return field.bytes().await.map_err(bad);
        }
    }
    Err(ApiError::bad_request(
        "the form has no file field (send the file as `file`)",
    ))
}
