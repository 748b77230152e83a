//! `GET /api/roi` (JSON) and `GET /api/roi.csv`.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::report::{self, Lang};
use crate::roi::{self, Report};

pub async fn json(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let report = build(state, request.uri().query(), &[]).await?;
    Ok(http::json(StatusCode::OK, &report.to_json()))
}

pub async fn csv(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let query = request.uri().query();
    let lang = Lang::parse(http::query_value(query, "lang").as_deref())?;
    let report = build(state, query, &["lang"]).await?;
    let mut reply = http::with_type(
        StatusCode::OK,
        report::csv(&report, lang),
        "text/csv; charset=utf-8",
    );
    reply.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"roi.csv\""),
    );
    Ok(reply)
}

/// Reads the snapshot and rolls it up; `extra` names query keys the caller handles.
async fn build(state: &AppState, query: Option<&str>, extra: &[&str]) -> Result<Report> {
    let pairs = crate::submission::query_pairs(query.unwrap_or(""));
    if let Some((key, _)) = pairs
        .iter()
        .find(|(k, _)| !roi::QUERY_KEYS.contains(&k.as_str()) && !extra.contains(&k.as_str()))
    {
        return Err(Error::invalid(
            key.clone(),
            "unknown_parameter",
            format!(
                "{key:?} is not a parameter of the ROI summary; use {}",
                roi::QUERY_KEYS.join(", ")
            ),
        ));
    }
    let get = |key: &str| {
        crate::submission::first_value(&pairs, key)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (query, days) = roi::parse_query(get, state.store.tz())?;
    let input = state.store.roi_input(days.from, days.to).await?;
    // The roll-up is pure CPU over every conversion: keep it off the async workers.
    tokio::task::spawn_blocking(move || roi::summarise(&input, &query))
        .await
        .map_err(|e| Error::internal(format!("ROI task failed: {e}")))
}
