//! `/api/leads`: list (JSON or CSV), read one, change its status.

use std::collections::HashMap;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::json;

use super::campaigns::json_body;
use super::find_campaign;
use crate::app::AppState;
use crate::campaign::{Campaign, parse_date};
use crate::domain::{LeadId, LeadStatus, is_tracking_key};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::import::{self, Format, RowError};
use crate::lead::{Lead, leads_csv};
use crate::store::LeadQuery;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// A CSV export without `limit` takes everything, up to this many rows.
pub(crate) const MAX_CSV_ROWS: usize = 1_000_000;

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
    let query = lead_query(state, value, default_limit).await?;
    let (leads, next_cursor) = page(state, query).await?;
    if as_csv {
        return csv_download(leads, next_cursor).await;
    }
    let shown: Vec<_> = leads.iter().map(|l| l.to_json()).collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({ "leads": shown, "next_cursor": next_cursor }),
    ))
}

/// The leads of `query` and the cursor of the next page, if there is one.
pub(crate) async fn page(
    state: &AppState,
    query: LeadQuery,
) -> Result<(Vec<Lead>, Option<String>)> {
    let (leads, more) = state.store.leads(query).await?;
    let next_cursor = if more {
        leads.last().map(|l| l.id.to_string())
    } else {
        None
    };
    Ok((leads, next_cursor))
}

/// Leads as a CSV file; `X-Next-Cursor` when the export stopped at its limit. Writing a
/// million rows is seconds of CPU: not on an async worker.
pub(crate) async fn csv_download(leads: Vec<Lead>, next_cursor: Option<String>) -> Result<Reply> {
    let body = tokio::task::spawn_blocking(move || leads_csv(&leads))
        .await
        .map_err(|e| Error::internal(format!("CSV task failed: {e}")))?;
    let mut reply = http::with_type(StatusCode::OK, body, "text/csv; charset=utf-8");
    reply.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"leads.csv\""),
    );
    if let Some(cursor) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
        reply.headers_mut().insert("x-next-cursor", cursor);
    }
    Ok(reply)
}

/// The filters of a lead listing (`campaign, since, until, status, cursor, limit`), checked.
pub(crate) async fn lead_query(
    state: &AppState,
    value: impl Fn(&str) -> Option<String>,
    default_limit: usize,
) -> Result<LeadQuery> {
    let campaign = match value("campaign") {
        Some(slug) => Some(find_campaign(state, &slug).await?.slug),
        None => None,
    };
    let tz = state.store.tz().clone();
    let from = match value("since") {
        Some(text) => LeadId::min_at(time_bound(&text, "since", &tz, false)?),
        None => LeadId::min_at(0),
    };
    let to = match value("until") {
        Some(text) => LeadId::max_at(time_bound(&text, "until", &tz, true)?),
        None => LeadId::from_u128(u128::MAX),
    };
    let before = match value("cursor") {
        Some(text) => Some(LeadId::parse(&text).ok_or_else(|| {
            Error::invalid(
                "cursor",
                "invalid_cursor",
                "cursor must be a next_cursor value from an earlier page",
            )
        })?),
        None => None,
    };
    let status = value("status")
        .map(|s| s.parse::<LeadStatus>())
        .transpose()?;
    let limit = match value("limit") {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::invalid(
                    "limit",
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
        None => default_limit,
    };
    Ok(LeadQuery {
        campaign,
        from,
        to,
        before,
        status,
        limit,
    })
}

pub async fn get(state: &AppState, id: &str) -> Result<Reply> {
    let lead = state
        .store
        .lead(parse_id(id)?)
        .await?
        .ok_or_else(|| unknown_lead(id))?;
    Ok(http::json(StatusCode::OK, &lead.to_json()))
}

pub async fn patch(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let lead_id = parse_id(id)?;
    let body = json_body(request).await?;
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
    let lead = state.store.set_lead_status(lead_id, status).await?;
    Ok(http::json(StatusCode::OK, &lead.to_json()))
}

pub(crate) fn parse_id(id: &str) -> Result<LeadId> {
    LeadId::parse(id).ok_or_else(|| unknown_lead(id))
}

fn unknown_lead(id: &str) -> Error {
    Error::not_found("unknown_lead", format!("there is no lead {id:?}"))
}

/// A `since`/`until` bound in Unix milliseconds: an RFC 3339 timestamp, or a date in the
/// reporting zone (its first millisecond, or its last for `until`).
fn time_bound(text: &str, field: &str, tz: &jiff::tz::TimeZone, end_of_day: bool) -> Result<u64> {
    let bad = || {
        Error::invalid(
            field,
            "invalid_time",
            format!(
                "{field} must be a date (2025-03-01) or an RFC 3339 time (2025-03-01T10:00:00+08:00)"
            ),
        )
    };
    let ts = if text.len() == 10 {
        let date = parse_date(text).map_err(|_| bad())?;
        let day = if end_of_day {
            date.tomorrow().map_err(|_| bad())?
        } else {
            date
        };
        let start = day
            .to_zoned_datetime(tz.clone())
            .map_err(|_| bad())?
            .timestamp();
        if end_of_day {
            start - jiff::SignedDuration::from_millis(1)
        } else {
            start
        }
    } else {
        text.parse::<jiff::Timestamp>().map_err(|_| bad())?
    };
    u64::try_from(ts.as_millisecond()).map_err(|_| bad())
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
    let report = import_leads(state, format, body).await?;
    Ok(http::json(StatusCode::OK, &report))
}

/// Imports a file of leads and reports what happened to each row, for the API and the
/// console's upload alike.
pub(crate) async fn import_leads(
    state: &AppState,
    format: Format,
    body: bytes::Bytes,
) -> Result<serde_json::Value> {
    let campaigns: HashMap<String, Campaign> = state
        .store
        .campaigns()
        .await?
        .into_iter()
        .map(|c| (c.slug.to_string(), c))
        .collect();
    let now = jiff::Timestamp::now();
    let forms = state.forms.clone();
    // Parsing and checking up to 200,000 rows is seconds of CPU: not on an async worker.
    let (rows, campaigns, leads, mut errors) = tokio::task::spawn_blocking(move || {
        let rows = import::read_rows(format, &body)?;
        let mut errors = Vec::new();
        let mut leads = Vec::new();
        for row in &rows {
            match import::lead_from_row(row, &campaigns, &forms, now) {
                Ok(lead) => leads.push((row.line, lead)),
                Err(error) => errors.push(RowError::new(row.line, &error)),
            }
        }
        Ok::<_, Error>((rows, campaigns, leads, errors))
    })
    .await
    .map_err(|e| Error::internal(format!("import task failed: {e}")))??;
    let outcomes = if leads.is_empty() {
        Vec::new()
    } else {
        state.store.import_leads(leads).await?
    };
    let (mut imported, mut skipped) = (0, 0);
    for (line, outcome) in outcomes {
        match outcome {
            Ok(outcome) if outcome.duplicate => skipped += 1,
            Ok(_) => imported += 1,
            Err(error) => errors.push(RowError::new(line, &error)),
        }
    }
    state
        .metrics
        .leads_stored(crate::domain::Source::Import, imported);
    errors.sort_by_key(|e| e.line);
    let form_fields: std::collections::HashSet<String> = campaigns
        .values()
        .flat_map(|c| {
            state
                .forms
                .for_campaign(c)
                .for_import()
                .fields
                .into_iter()
                .map(|f| f.name)
        })
        .collect();
    let known = |key: &str| {
        import::LEAD_COLUMNS.contains(&key) || is_tracking_key(key) || form_fields.contains(key)
    };
    let ignored = import::ignored_columns(&rows, known);
    Ok(
        json!({ "imported": imported, "skipped": skipped, "errors": errors, "ignored_columns": ignored }),
    )
}
