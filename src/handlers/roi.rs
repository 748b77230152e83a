//! `GET /api/roi` (JSON) and `GET /api/roi.csv`.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::report::{self, Lang};
use crate::roi::{self, DayRange, Report, RoiInput, RoiQuery};

pub async fn json(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let report = build(state, request.uri().query(), &[]).await?;
    Ok(http::json(StatusCode::OK, &report))
}

/// `default` is the header language without `lang=`: field names for the API, Chinese
/// titles for the console's download buttons.
pub async fn csv(state: &AppState, request: Request<Incoming>, default: Lang) -> Result<Reply> {
    let query = request.uri().query();
    let lang = Lang::parse(http::query_value(query, "lang").as_deref(), default)?;
    let report = build(state, query, &["lang"]).await?;
    Ok(download(
        report::csv(&report, lang),
        "text/csv; charset=utf-8",
        "roi.csv",
    ))
}

pub async fn xlsx(state: &AppState, request: Request<Incoming>, default: Lang) -> Result<Reply> {
    let query = request.uri().query();
    let lang = Lang::parse(http::query_value(query, "lang").as_deref(), default)?;
    let report = build(state, query, &["lang"]).await?;
    let bytes = tokio::task::spawn_blocking(move || crate::xlsx::workbook(&report, lang))
        .await
        .map_err(|e| Error::internal(format!("workbook task failed: {e}")))??;
    Ok(download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "roi.xlsx",
    ))
}

/// A file the browser saves rather than shows.
fn download(bytes: Vec<u8>, content_type: &'static str, filename: &'static str) -> Reply {
    let mut reply = http::with_type(StatusCode::OK, bytes, content_type);
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        reply
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    reply
}

/// Reads the snapshot and rolls it up; `extra` names query keys the caller handles.
pub(crate) async fn build(state: &AppState, query: Option<&str>, extra: &[&str]) -> Result<Report> {
    Ok(build_with(state, query, extra, |_| ()).await?.0)
}

/// `build`, also handing the snapshot to `also` on the same blocking thread (the console's
/// overview counts leads by kind from it).
pub(crate) async fn build_with<T: Send + 'static>(
    state: &AppState,
    query: Option<&str>,
    extra: &[&str],
    also: impl FnOnce(&RoiInput) -> T + Send + 'static,
) -> Result<(Report, T)> {
    let (query, days) = parse_query(state, query, extra)?;
    let input = state.store.roi_input(days.from, days.to).await?;
    // The roll-up is pure CPU over every conversion: keep it off the async workers.
    tokio::task::spawn_blocking(move || (roi::summarise(&input, &query), also(&input)))
        .await
        .map_err(|e| Error::internal(format!("ROI task failed: {e}")))
}

/// The ROI query of a query string, refusing keys that are neither the summary's nor
/// in `extra`.
pub(crate) fn parse_query(
    state: &AppState,
    query: Option<&str>,
    extra: &[&str],
) -> Result<(RoiQuery, DayRange)> {
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
    roi::parse_query(get, state.store.tz())
}
