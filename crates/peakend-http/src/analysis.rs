use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use peakend_core::analysis::GroupBy;
use peakend_core::peak::PeakRule;
use peakend_core::survey::parse_date;
use peakend_core::{JourneyKey, OrgNodeId};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/analysis", get(analysis))
        .route(
            "/api/v1/estimates/{journey}",
            get(my_estimate).put(put_estimate),
        )
        .route("/api/v1/gap1/{journey}", get(gap1))
}

/// The viewer's own importance estimate of a journey's moments (gap 1), if given.
async fn my_estimate(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Path(journey): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let journey = crate::journeys::load(&state, journey).await?;
    let mine = state
        .store
        .estimates(journey.key())
        .await?
        .into_iter()
        .find(|(user, _, _)| user == viewer.user.name.as_str());
    Ok(Json(match mine {
        Some((_, b, at)) => serde_json::json!({
            "journey": journey.key().as_str(),
            "org": b.org.as_str(),
            "role": b.role.as_str(),
            "estimates": b.estimates,
            "at": at,
        }),
        None => serde_json::json!({ "journey": journey.key().as_str(), "estimates": [] }),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EstimateBody {
    estimates: serde_json::Value,
}

/// A hall or regional manager's estimate of how much customers care about each moment
/// (1–10): body `{"estimates": [{"moment": "queue", "importance": 9}, …]}`, for the
/// manager's own node and role. A new one replaces the manager's previous one.
async fn put_estimate(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: axum::http::HeaderMap,
    axum::extract::Path(journey): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    use peakend_core::analysis::EstimateBatch;
    use peakend_core::analysis::gaps::ESTIMATING_ROLES;
    viewer.check_csrf_header(&headers)?;
    if !ESTIMATING_ROLES.contains(&viewer.user.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only hall and regional managers give importance estimates (gap 1)",
        ));
    }
    let journey = crate::journeys::load(&state, journey).await?;
    let b: EstimateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    // The batch's node and role are the manager's own, whatever the body says.
    let doc = serde_json::json!({
        "org": viewer.user.org.as_str(),
        "role": viewer.user.role.as_str(),
        "estimates": b.estimates,
    });
    let batch =
        EstimateBatch::from_json(doc.to_string().as_bytes(), &journey).map_err(|problems| {
            let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
            ApiError::unprocessable(&shown)
        })?;
    state
        .store
        .put_estimate(
            journey.key(),
            viewer.user.name.as_str(),
            &batch,
            state.clock.now().timestamp_millis(),
        )
        .await?;
    Ok(Json(serde_json::json!({
        "journey": journey.key().as_str(),
        "estimates": batch.estimates.len(),
    })))
}

#[derive(Deserialize)]
struct Gap1Query {
    org: Option<String>,
}

/// Gap 1 at a node: its managers' estimates against its customers' importances.
async fn gap1(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Path(journey): axum::extract::Path<String>,
    Query(q): Query<Gap1Query>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let org = match q.org.filter(|o| !o.trim().is_empty()) {
        Some(o) => {
            OrgNodeId::parse(o.trim()).map_err(|e| ApiError::bad_request(format!("org: {e}")))?
        }
        None => viewer.user.org.clone(),
    };
    viewer.ensure_covers(&state.store.org_tree().await?, &org)?;
    let journey = crate::journeys::load(&state, journey).await?;
    let report = peakend_store::gap1_report(state.store.as_ref(), &journey, &org).await?;
    Ok(Json(serde_json::json!({
        "journey": journey.key().as_str(),
        "org": org.as_str(),
        "gap1": report,
    })))
}

#[derive(Deserialize)]
struct AnalysisQuery {
    /// Default: the journey the node's halls live by (or the one they share).
    journey: Option<String>,
    org: Option<String>,
    from: Option<String>,
    to: Option<String>,
    peak_rule: Option<String>,
    by: Option<String>,
    /// Only responses of this visit purpose (empty: those that name none).
    purpose: Option<String>,
    /// json (default) or csv (one row per moment and group, for spreadsheets)
    format: Option<String>,
}

/// The same analysis as `peakend analyze --from-db`, for the stored responses.
async fn analysis(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AnalysisQuery>,
) -> Result<Response, ApiError> {
    let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
    let key = q
        .journey
        .filter(|k| !k.trim().is_empty())
        .map(|k| JourneyKey::parse(k.trim()).map_err(|e| bad("journey", e.to_string())))
        .transpose()?;
    // The user's own node unless they ask for one below it.
    let org = match q.org {
        Some(o) => OrgNodeId::parse(o).map_err(|e| bad("org", e.to_string()))?,
        None => viewer.user.org.clone(),
    };
    viewer.ensure_covers(&state.store.org_tree().await?, &org)?;
    let org = Some(org);
    let from = q
        .from
        .as_deref()
        .map(parse_date)
        .transpose()
        .map_err(|e| bad("from", e))?;
    let to =
        q.to.as_deref()
            .map(parse_date)
            .transpose()
            .map_err(|e| bad("to", e))?;
    let rule = q
        .peak_rule
        .as_deref()
        .map(str::parse::<PeakRule>)
        .transpose()
        .map_err(|e| bad("peak_rule", e))?;
    let by =
        q.by.as_deref()
            .map(str::parse::<GroupBy>)
            .transpose()
            .map_err(|e| bad("by", e))?;
    let format = match q.format.as_deref() {
        None => "json",
        Some(f @ ("json" | "csv" | "xlsx")) => f,
        Some(other) => {
            return Err(bad("format", format!("`{other}` is not json, csv or xlsx")));
        }
    };
    let (journey, also) = match key {
        Some(key) => (
            crate::journeys::load(&state, key.to_string()).await?,
            Vec::new(),
        ),
        None => {
            peakend_store::analysis_journey(
                state.store.as_ref(),
                org.as_ref().unwrap_or(&viewer.user.org),
            )
            .await?
        }
    };
    let query = peakend_store::AnalysisQuery {
        org: org.as_ref(),
        from,
        to,
        weights: None,
        rule: rule.unwrap_or_default(),
        by,
        purpose: q.purpose.as_deref(),
        also: &also,
    };
    let analysis = peakend_store::stored_analysis(state.store.as_ref(), &journey, &query).await?;
    let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e);
    match format {
        "json" if also.is_empty() => return Ok(Json(analysis).into_response()),
        "json" => {
            // Halls on different journeys: say which, and that the shared one was used.
            let mut value = serde_json::to_value(&analysis).map_err(|e| internal(e.to_string()))?;
            let mut lived_by: Vec<&str> = also.iter().map(|j| j.key().as_str()).collect();
            lived_by.push(journey.key().as_str());
            lived_by.sort_unstable();
            value["journeys_lived_by"] = serde_json::json!(lived_by);
            return Ok(Json(value).into_response());
        }
        "xlsx" => {
            return crate::download::attachment(
                crate::download::FileFormat::Xlsx,
                &format!("analysis-{}", journey.key()),
                peakend_io::analysis_xlsx::write(&analysis, &journey),
            );
        }
        _ => {}
    }
    let mut body = Vec::new();
    peakend_io::analysis_csv::write(&analysis, &journey, &mut body)
        .map_err(|e| internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

/// A moment's comments beside its scores on the analysis page.
pub(crate) struct MomentComments {
    pub moment: String,
    pub importance: String,
    pub satisfaction: String,
    pub count: usize,
    /// Share negative, as a percentage with no decimals.
    pub negative: String,
    /// Up to three, negative first, newest first; escaped by the template.
    pub examples: Vec<String>,
}

/// How many example comments a moment shows, and how much of each.
const EXAMPLES: usize = 3;
const EXAMPLE_CHARS: usize = 120;

/// The comments of the halls in range, by moment, in journey order: one query for the
/// page, read on a blocking thread (a large network has many).
pub(crate) async fn moment_comments(
    state: &AppState,
    journey: &peakend_core::Journey,
    halls: &[peakend_core::HallId],
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    scores: &(dyn Fn(&str) -> (String, String) + Sync),
    lang: crate::view::Lang,
) -> Result<Vec<MomentComments>, ApiError> {
    let comments = state.store.comments(journey, Some(halls), from, to).await?;
    if comments.is_empty() {
        return Ok(Vec::new());
    }
    let analyser = peakend_store::comment_analyser(journey);
    let (comments, readings) = tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = comments.iter().map(|c| c.comment.as_str()).collect();
        let readings = analyser.read_many(&texts, 2);
        (comments, readings)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let k = journey.moments().len();
    /// Per moment: comments, negative ones, examples as (negative, index).
    type Tally = (usize, usize, Vec<(bool, usize)>);
    let mut per: Vec<Tally> = vec![(0, 0, Vec::new()); k];
    for (i, r) in readings.iter().enumerate() {
        for m in &r.moments {
            let e = &mut per[m.moment];
            let negative = m.sentiment == peakend_text::Sentiment::Negative;
            e.0 += 1;
            e.1 += usize::from(negative);
            e.2.push((negative, i));
        }
    }
    Ok(journey
        .moments()
        .iter()
        .zip(per)
        .filter(|(_, (count, _, _))| *count > 0)
        .map(|(m, (count, negative, mut examples))| {
            // Negative first, then the newest (comments come oldest first).
            examples.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
            let (importance, satisfaction) = scores(m.key.as_str());
            MomentComments {
                moment: lang.text(&m.name).to_owned(),
                importance,
                satisfaction,
                count,
                negative: format!("{:.0}%", 100.0 * negative as f64 / count as f64),
                examples: examples
                    .iter()
                    .take(EXAMPLES)
                    .map(|&(_, i)| {
                        let c = &comments[i].comment;
                        let mut text: String = c.chars().take(EXAMPLE_CHARS).collect();
                        if c.chars().count() > EXAMPLE_CHARS {
                            text.push('…');
                        }
                        text
                    })
                    .collect(),
            }
        })
        .collect())
}
