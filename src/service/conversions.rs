//! Deals and orders from the CRM: one at a time, or a CSV file of them.

use serde::Serialize;

use super::{Service, off_the_workers};
use crate::conversion::{Conversion, ConversionInput, Upsert};
use crate::domain::LeadId;
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
    crate::audit::name_target(&input.id);
    match service.store.upsert_conversion(input.clone(), now).await {
        Err(error) if error.code == "unknown_contact" => {
            // No lead here: a replicating node also asks every node's leads.
            let Some(matched) = find_elsewhere(service, &input).await else {
                return Err(error);
            };
            service
                .store
                .upsert_conversion_as(input, now, Some(matched))
                .await
        }
        outcome => outcome,
    }
}

/// The contact of `input` among other nodes' leads (PostgreSQL), on a replicating node.
async fn find_elsewhere(
    service: &Service,
    input: &ConversionInput,
) -> Option<crate::conversion::Matched> {
    service.replica.as_ref()?.find_contact(&input.contact).await
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
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Names this import in the audit log (an import has no address of its own).
    pub id: LeadId,
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
    let id = LeadId::generate();
    crate::audit::name_target(id);
    let now = jiff::Timestamp::now();
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
    let mut outcomes = if inputs.is_empty() {
        Vec::new()
    } else {
        service
            .store
            .import_conversions(inputs.clone(), now)
            .await?
    };
    // Rows no lead here matches: a replicating node also asks every node's leads, then
    // imports the ones found there.
    if service.replica.is_some() {
        let by_line: std::collections::HashMap<usize, &ConversionInput> =
            inputs.iter().map(|(line, input)| (*line, input)).collect();
        let mut again = Vec::new();
        for (line, outcome) in &outcomes {
            if let Err(error) = outcome
                && error.code == "unknown_contact"
                && let Some(input) = by_line.get(line)
                && let Some(matched) = find_elsewhere(service, input).await
            {
                again.push((*line, (*input).clone(), Some(matched)));
            }
        }
        if !again.is_empty() {
            let mut retried: std::collections::HashMap<usize, Result<Upsert>> = service
                .store
                .import_conversions_as(again, now)
                .await?
                .into_iter()
                .collect();
            for (line, outcome) in &mut outcomes {
                if let Some(now_done) = retried.remove(line) {
                    *outcome = now_done;
                }
            }
        }
    }
    let mut report = ImportReport {
        id,
        imported: 0,
        updated: 0,
        unchanged: 0,
        errors: Vec::new(),
        ignored_columns,
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
