//! `/api/leads`: list (JSON or CSV), read one, change its status, import a file.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::domain::LeadStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::import::{self, Format};
use crate::service::leads::{self, MAX_CSV_ROWS};
use crate::state::AppState;

const DEFAULT_PAGE: usize = 100;

pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let query = request.uri().query();
    let value = |key: &str| http::query_value(query, key).filter(|v| !v.is_empty());
    let as_csv = match value("format").as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(Error::invalid(
                "format",
                "invalid_value",
                "format must be json or csv",
            ));
        }
    };
    let default_limit = if as_csv { MAX_CSV_ROWS } else { DEFAULT_PAGE };
    let query = leads::query(&state.service, value, default_limit).await?;
    if as_csv {
        let (body, next_cursor) = leads::export(&state.service, query).await?;
        return Ok(http::csv_attachment(
            body,
            "leads.csv",
            next_cursor.as_deref(),
        ));
    }
    let page = leads::page(&state.service, query).await?;
    let shown: Vec<_> = page.leads.iter().map(|l| l.to_json()).collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({ "leads": shown, "next_cursor": page.next_cursor }),
    ))
}

pub async fn get(state: &AppState, id: &str) -> Result<Reply> {
    let lead = leads::get(&state.service, leads::lead_id(id)?).await?;
    Ok(http::json(StatusCode::OK, &lead.to_json()))
}

pub async fn patch(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    // An unknown lead is a 404 whatever the body holds.
    let id = leads::lead_id(id)?;
    let body = http::json_body(request).await?;
    if let Some(key) = body.keys().find(|k| k.as_str() != "status") {
        return Err(Error::invalid(
            key.clone(),
            "unknown_field",
            format!("{key:?} cannot be changed; send {{\"status\": ...}}"),
        ));
    }
    let status: LeadStatus = match body.get("status") {
        Some(serde_json::Value::String(s)) => s.parse()?,
        _ => {
            return Err(Error::invalid(
                "status",
                "invalid_value",
                "status must be one of: new, mql, sql, disqualified",
            ));
        }
    };
    let lead = leads::set_status(&state.service, id, status).await?;
    Ok(http::json(StatusCode::OK, &lead.to_json()))
}

/// `POST /api/leads/import`: CSV or a JSON array; good rows are kept when others fail.
pub async fn import(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let (parts, body) = request.into_parts();
    let format = match http::content_type(&parts.headers).as_deref() {
        Some("text/csv") => Format::Csv,
        Some("application/json") => Format::Json,
        _ => {
            return Err(Error::new(
                ErrorKind::UnsupportedMediaType,
                "unsupported_media_type",
                "send the leads as text/csv (with a header row) or as a JSON array",
            ));
        }
    };
    let body = http::read_body(&parts, body, import::IMPORT_BODY_LIMIT).await?;
    let report = leads::import(&state.service, format, body).await?;
    Ok(http::json(StatusCode::OK, &report))
}
