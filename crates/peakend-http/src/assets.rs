//! Static assets compiled into the binary: halls' networks are often closed, so nothing
//! is fetched from a CDN. ECharts is vendored unmodified (its licence beside it in
//! `static/vendor/`): its published "common" build (line, bar, pie, scatter, graphic,
//! markers, tooltip, legend), 650 KB instead of the full 1 MB, because parsing the
//! script was most of an analysis page's first load.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

const ECHARTS: &str = include_str!("../static/vendor/echarts-5.6.0.common.min.js");
const ANALYSIS_JS: &str = include_str!("../static/analysis.js");
const BOARD_JS: &str = include_str!("../static/board.js");

pub fn router() -> Router<AppState> {
    Router::new().route("/static/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "echarts.min.js" => (ECHARTS, "text/javascript; charset=utf-8"),
        "analysis.js" => (ANALYSIS_JS, "text/javascript; charset=utf-8"),
        "board.js" => (BOARD_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // The vendored libraries change only with the binary; a day is a safe cache.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
