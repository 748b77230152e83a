//! Deals and orders from the CRM: one at a time, or a CSV file of them.

use serde::Serialize;

use super::{Service, off_the_workers};
use crate::conversion::{Conversion, ConversionInput, Upsert};
use crate::error::{Error, Result};
use crate::import::{self, Format, RowError};

/// Creates or advances the conversion `input.id`; says which it was. `now` is the clock
/// reading `input` was checked against, so a conversion without a time of its own
/// happened when it was recorded.
pub async fn record(
    service: &Service,
    input: ConversionInput,
    now: jiff::Timestamp,
) -> Result<(Conversion, Upsert)> {
    service.store.upsert_conversion(input, now).await
}

pub async fn get(service: &Service, id: &str) -> Result<Conversion> {
    service
        .store
        .conversion(id.to_owned())
        .await?
        .ok_or_else(|| {
            Error::not_found(
                "unknown_conversion",
                format!("there is no conversion {id:?}"),
            )
        })
}

/// What an import did with each row.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub errors: Vec<RowError>,
    /// Columns that are not conversion fields: not stored.
    pub ignored_columns: Vec<String>,
}

/// Imports a CSV of conversions (header row naming the JSON fields). Good rows are kept
/// when others fail.
pub async fn import(service: &Service, body: bytes::Bytes) -> Result<ImportReport> {
    let now = service.clock.now();
    let (inputs, mut errors, ignored_columns) = off_the_workers("import", move || {
        let rows = import::read_rows(Format::Csv, &body)?;
        let mut errors = Vec::new();
        let mut inputs = Vec::new();
        for row in &rows {
            match ConversionInput::parse(|key| row.get(key).map(str::to_owned), now) {
                Ok(input) => inputs.push((row.line, input)),
                Err(error) => errors.push(RowError::new(row.line, &error)),
            }
        }
        let ignored = import::ignored_columns(&rows, |k| crate::conversion::FIELDS.contains(&k));
        Ok::<_, Error>((inputs, errors, ignored))
    })
    .await??;
    let outcomes = if inputs.is_empty() {
        Vec::new()
    } else {
        service.store.import_conversions(inputs, now).await?
    };
    let mut report = ImportReport {
        ignored_columns,
        ..ImportReport::default()
    };
    for (line, outcome) in outcomes {
        match outcome {
            Ok(Upsert::Created) => report.imported += 1,
            Ok(Upsert::Updated) => report.updated += 1,
            Ok(Upsert::Unchanged) => report.unchanged += 1,
            Err(error) => errors.push(RowError::new(line, &error)),
        }
    }
    errors.sort_by_key(|e| e.line);
    report.errors = errors;
    Ok(report)
}
