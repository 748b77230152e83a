//! `/api/conversions`: deals and orders from the CRM, one at a time or as a CSV file.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::campaigns::json_body;
use crate::app::AppState;
use crate::conversion::{ConversionInput, Upsert};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::import::{self, Format, RowError};

pub async fn upsert(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = json_body(request).await?;
    let now = jiff::Timestamp::now();
    let input = ConversionInput::from_json(&body, now)?;
    let (conversion, upsert) = state.store.upsert_conversion(input, now).await?;
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
    let conversion = state
        .store
        .conversion(id.to_owned())
        .await?
        .ok_or_else(|| {
            Error::not_found(
                "unknown_conversion",
                format!("there is no conversion {id:?}"),
            )
        })?;
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
    let report = import_csv(state, body).await?;
    Ok(http::json(StatusCode::OK, &report))
}

/// Imports a CSV of conversions and reports each row, for the API and the console alike.
pub(crate) async fn import_csv(state: &AppState, body: bytes::Bytes) -> Result<serde_json::Value> {
    let now = jiff::Timestamp::now();
    // Parsing a large file is seconds of CPU: not on an async worker.
    let (rows, inputs, mut errors) = tokio::task::spawn_blocking(move || {
        let rows = import::read_rows(Format::Csv, &body)?;
        let mut errors = Vec::new();
        let mut inputs = Vec::new();
        for row in &rows {
            match ConversionInput::parse(|key| row.get(key).map(str::to_owned), now) {
                Ok(input) => inputs.push((row.line, input)),
                Err(error) => errors.push(RowError::new(row.line, &error)),
            }
        }
        Ok::<_, Error>((rows, inputs, errors))
    })
    .await
    .map_err(|e| Error::internal(format!("import task failed: {e}")))??;
    let outcomes = if inputs.is_empty() {
        Vec::new()
    } else {
        state.store.import_conversions(inputs, now).await?
    };
    let (mut imported, mut updated, mut unchanged) = (0, 0, 0);
    for (line, outcome) in outcomes {
        match outcome {
            Ok(Upsert::Created) => imported += 1,
            Ok(Upsert::Updated) => updated += 1,
            Ok(Upsert::Unchanged) => unchanged += 1,
            Err(error) => errors.push(RowError::new(line, &error)),
        }
    }
    errors.sort_by_key(|e| e.line);
    let ignored = import::ignored_columns(&rows, |k| crate::conversion::FIELDS.contains(&k));
    Ok(
        json!({ "imported": imported, "updated": updated, "unchanged": unchanged, "errors": errors, "ignored_columns": ignored }),
    )
}
