//! `/api/leads`: list (JSON or CSV), read one, change its status, import a file.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::domain::{LeadId, LeadStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::import::{self, Format};
use crate::service::leads::{self, LeadChange, MAX_CSV_ROWS};

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
    let shown: Vec<_> = page
        .leads
        .iter()
        .map(|l| leads::to_json(&state.service, l))
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({ "leads": shown, "next_cursor": page.next_cursor }),
    ))
}

pub async fn get(state: &AppState, id: &str) -> Result<Reply> {
    let lead = leads::get(&state.service, leads::lead_id(id)?).await?;
    Ok(http::json(
        StatusCode::OK,
        &leads::to_json(&state.service, &lead),
    ))
}

pub async fn patch(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    // An unknown lead is a 404 whatever the body holds.
    let id = leads::lead_id(id)?;
    let body = http::json_body(request).await?;
    if let Some(key) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "status" | "assigned_to"))
    {
        return Err(Error::invalid(
            key.clone(),
            "unknown_field",
            format!("{key:?} cannot be changed; send status and/or assigned_to"),
        ));
    }
    let status = match body.get("status") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.parse::<LeadStatus>()?),
        Some(_) => {
            return Err(Error::invalid(
                "status",
                "invalid_value",
                "status must be one of: new, mql, sql, disqualified",
            ));
        }
    };
    let assigned_to = match body.get("assigned_to") {
        None => None,
        Some(serde_json::Value::Null) => Some(None),
        Some(serde_json::Value::String(s)) => Some(Some(LeadId::parse(s).ok_or_else(|| {
            Error::invalid(
                "assigned_to",
                "unknown_salesperson",
                format!("there is no salesperson {s:?}"),
            )
        })?)),
        Some(_) => {
            return Err(Error::invalid(
                "assigned_to",
                "invalid_value",
                "assigned_to must be a salesperson id, or null for nobody",
            ));
        }
    };
    if status.is_none() && assigned_to.is_none() {
        return Err(Error::invalid(
            "status",
            "required",
            "send status and/or assigned_to",
        ));
    }
    let change = LeadChange {
        status,
        assigned_to,
    };
    let lead = leads::update(&state.service, id, change).await?;
    Ok(http::json(
        StatusCode::OK,
        &leads::to_json(&state.service, &lead),
    ))
}

/// `POST /api/leads/{id}/activities`: a follow-up (call, visit, message, e-mail, note).
pub async fn add_activity(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let id = leads::lead_id(id)?;
    // An unknown lead is a 404 whatever the body holds.
    leads::get(&state.service, id).await?;
    let body = http::json_body(request).await?;
    let activity = leads::add_activity(&state.service, id, &body).await?;
    Ok(http::json(StatusCode::CREATED, &activity.to_json()))
}

pub async fn activities(state: &AppState, id: &str) -> Result<Reply> {
    let found = leads::activities(&state.service, leads::lead_id(id)?).await?;
    let shown: Vec<_> = found.iter().map(|a| a.to_json()).collect();
    Ok(http::json(StatusCode::OK, &json!({ "activities": shown })))
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
