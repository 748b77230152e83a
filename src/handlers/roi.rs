//! `GET /api/roi` (JSON), `/api/roi.csv` and `/api/roi.xlsx`; the console's downloads.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::error::Result;
use crate::http::{self, Reply};
use crate::report::{self, Lang};
use crate::roi::Report;
use crate::service::reports::{self, RoiRequest};
use crate::state::AppState;

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
    Ok(http::attachment(
        report::csv(&report, lang),
        "text/csv; charset=utf-8",
        "roi.csv",
    ))
}

pub async fn xlsx(state: &AppState, request: Request<Incoming>, default: Lang) -> Result<Reply> {
    let query = request.uri().query();
    let lang = Lang::parse(http::query_value(query, "lang").as_deref(), default)?;
    let report = build(state, query, &["lang"]).await?;
    let bytes = reports::workbook(report, lang).await?;
    Ok(http::attachment(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "roi.xlsx",
    ))
}

/// The summary a query string asks for; `extra` names query keys the caller handles.
async fn build(state: &AppState, query: Option<&str>, extra: &[&str]) -> Result<Report> {
    let pairs = crate::submission::query_pairs(query.unwrap_or(""));
    let request = RoiRequest::from_pairs(&pairs, extra, state.service.tz())?;
    reports::build(&state.service, request).await
}
