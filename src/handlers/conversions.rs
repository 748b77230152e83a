//! `/api/conversions`: deals and orders from the CRM, one at a time or as a CSV file.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::conversion::{ConversionInput, Upsert};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::import;
use crate::service::conversions;
use crate::state::AppState;

pub async fn upsert(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = http::json_body(request).await?;
    let now = jiff::Timestamp::now();
    let input = ConversionInput::from_json(&body, now)?;
    let (conversion, upsert) = conversions::record(&state.service, input, now).await?;
    let status = if upsert == Upsert::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut shown = conversion.to_json();
    shown["result"] = json!(match upsert {
        Upsert::Created => "created",
        Upsert::Updated => "updated",
        Upsert::Unchanged => "unchanged",
    });
    Ok(http::json(status, &shown))
}

pub async fn get(state: &AppState, id: &str) -> Result<Reply> {
    let conversion = conversions::get(&state.service, id).await?;
    Ok(http::json(StatusCode::OK, &conversion.to_json()))
}

/// CSV with a header row naming the JSON fields; good rows are kept when others fail.
pub async fn import(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let (parts, body) = request.into_parts();
    if http::content_type(&parts.headers).as_deref() != Some("text/csv") {
        return Err(Error::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "send the conversions as text/csv with a header row",
        ));
    }
    let body = http::read_body(&parts, body, import::IMPORT_BODY_LIMIT).await?;
    let report = conversions::import(&state.service, body).await?;
    Ok(http::json(StatusCode::OK, &report))
}
