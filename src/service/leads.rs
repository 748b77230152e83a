//! Leads: record one from any channel, import a file of them, find, page and export them,
//! change their status.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{Service, off_the_workers};
use crate::activity::Activity;
use crate::campaign::{Campaign, parse_date};
use crate::domain::{LeadId, LeadStatus, Source, is_tracking_key};
use crate::error::{Error, Result};
use crate::import::{self, Format, RowError};
use crate::lead::{Capture, Lead, leads_csv};

use crate::store::{LeadOutcome, LeadQuery, NewLead};

pub use crate::store::{FollowUpSummary, LeadChange};

/// Most leads one page of a listing holds.
pub const MAX_PAGE: usize = 1000;
/// A CSV export without `limit` takes everything, up to this many rows.
pub const MAX_CSV_ROWS: usize = 1_000_000;

/// Stores the lead of `capture` durably; returns only after the commit. A replay (same
/// form token, call id or external id) returns the first lead with `duplicate` set.
pub async fn record(service: &Service, capture: Capture) -> Result<LeadOutcome> {
    let new_lead = NewLead::from_capture(capture)?;
    let source = new_lead.lead.source;
    let outcome = service.store.insert_lead(new_lead).await?;
    if !outcome.duplicate {
        service.metrics.lead_stored(source);
    }
    Ok(outcome)
}

/// What an import did with each row.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Names this import in the audit log (an import has no address of its own).
    pub id: LeadId,
    pub imported: u64,
    pub skipped: u64,
    pub errors: Vec<RowError>,
    /// Columns no form, tracking key or import column knows: not stored.
    pub ignored_columns: Vec<String>,
}

/// Imports a file of leads (CSV with a header row, or a JSON array). Good rows are kept
/// when others fail; each failure names its line and field.
pub async fn import(service: &Service, format: Format, body: bytes::Bytes) -> Result<ImportReport> {
    let id = LeadId::generate();
    crate::audit::name_target(id);
    let campaigns: HashMap<String, Campaign> = service
        .store
        .campaigns()
        .await?
        .into_iter()
        .map(|c| (c.slug.to_string(), c))
        .collect();
    let now = jiff::Timestamp::now();
    let forms = service.forms.clone();
    let (rows, ignored_columns, campaigns, forms) = off_the_workers("import", move || {
        let rows = import::read_rows(format, &body)?;
        let form_fields: HashSet<String> = campaigns
            .values()
            .flat_map(|c| forms.for_campaign(c).for_import().fields)
            .map(|f| f.name)
            .collect();
        let known = |key: &str| {
            import::LEAD_COLUMNS.contains(&key) || is_tracking_key(key) || form_fields.contains(key)
        };
        let ignored = import::ignored_columns(&rows, known);
        Ok::<_, Error>((rows, ignored, campaigns, forms))
    })
    .await??;
    let outcomes = if rows.is_empty() {
        Vec::new()
    } else {
        // Each row becomes a lead on the writer, just before it is stored.
        let make = move |row: import::Row| {
            let lead = import::lead_from_row(&row, &campaigns, &forms, now)
                .and_then(NewLead::from_capture);
            (row.line, lead)
        };
        service.store.import_leads_from(rows, make).await?
    };
    let mut errors = Vec::new();
    let mut report = ImportReport {
        id,
        imported: 0,
        skipped: 0,
        errors: Vec::new(),
        ignored_columns,
    };
    for (line, outcome) in outcomes {
        match outcome {
            Ok(outcome) if outcome.duplicate => report.skipped += 1,
            Ok(_) => report.imported += 1,
            Err(error) => errors.push(RowError::new(line, &error)),
        }
    }
    service
        .metrics
        .leads_stored(Source::Import, report.imported);
    errors.sort_by_key(|e| e.line);
    report.errors = errors;
    Ok(report)
}

pub async fn get(service: &Service, id: LeadId) -> Result<Lead> {
    match service.store.lead(id).await? {
        Some(lead) => Ok(lead),
        None if service.store.is_erased(id).await? => Err(Error::not_found(
            "erased_lead",
            format!("lead {id} was erased (its person asked, or it passed the retention period)"),
        )),
        None => Err(unknown_lead(&id.to_string())),
    }
}

pub async fn set_status(service: &Service, id: LeadId, status: LeadStatus) -> Result<Lead> {
    service
        .store
        .set_lead_status(id, status, service.clock.now())
        .await
}

/// Changes a lead's status, its salesperson, or both (a `lead.updated` event when either
/// changes).
pub async fn update(service: &Service, id: LeadId, change: LeadChange) -> Result<Lead> {
    service
        .store
        .update_lead(id, change, service.clock.now())
        .await
}

/// Records a follow-up on lead `id` from an API body (or the console's form).
pub async fn add_activity(
    service: &Service,
    id: LeadId,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<Activity> {
    let lead = get(service, id).await?;
    let activity = Activity::create(body, lead.id, lead.received_at, jiff::Timestamp::now())?;
    crate::audit::name_target(format_args!("{}/{}", lead.id, activity.id));
    service.store.add_activity(activity).await
}

/// Lead `id`'s follow-ups in the order they happened.
pub async fn activities(service: &Service, id: LeadId) -> Result<Vec<Activity>> {
    get(service, id).await?;
    service.store.activities(id).await
}

/// How each of `leads` was followed up (count, first follow-up, deadline), in their order.
pub async fn follow_ups(service: &Service, leads: &[Lead]) -> Result<Vec<FollowUpSummary>> {
    let ids = leads.iter().map(|l| l.id).collect();
    service.store.follow_up_summaries(ids).await
}

/// Leads a check may remind of in one transaction; the rest wait for the next round.
const OVERDUE_BATCH: usize = 1000;

/// Reminds of every lead whose follow-up deadline passed by `now` unanswered: each counts
/// as overdue and emits one `lead.overdue`. Returns how many.
pub async fn remind_overdue(service: &Service, now: jiff::Timestamp) -> Result<usize> {
    let mut total = 0;
    loop {
        let fired = service.store.fire_overdue(now, OVERDUE_BATCH).await?;
        total += fired;
        if fired < OVERDUE_BATCH {
            return Ok(total);
        }
    }
}

/// `remind_overdue` before a read that shows overdue counts, so that a report counts every
/// lead whose deadline has passed, not only those the once-a-minute check has seen. Cheap
/// when nothing is due (one read); a failure is logged and the check catches up later.
pub(crate) async fn remind_for_reading(service: &Service) {
    let now = service.clock.now();
    let reminded = match service.store.overdue_waiting(now).await {
        Ok(true) => remind_overdue(service, now).await.map(|_| ()),
        Ok(false) => Ok(()),
        Err(error) => Err(error),
    };
    if let Err(error) = reminded {
        tracing::warn!("overdue leads not counted before a report: {error}");
    }
}

/// The lead as the API shows it, naming its salesperson as the roster does now.
pub fn to_json(service: &Service, lead: &Lead) -> serde_json::Value {
    lead.to_json(&|id| service.store.salesperson_name(id))
}

/// A lead id from an address: one that is not a ULID is an unknown lead (404).
pub fn lead_id(text: &str) -> Result<LeadId> {
    LeadId::parse(text).ok_or_else(|| unknown_lead(text))
}

fn unknown_lead(id: &str) -> Error {
    Error::not_found("unknown_lead", format!("there is no lead {id:?}"))
}

/// One page of a listing, newest first, and the cursor of the next page.
pub struct Page {
    pub leads: Vec<Lead>,
    pub next_cursor: Option<String>,
}

pub async fn page(service: &Service, query: LeadQuery) -> Result<Page> {
    let (leads, more) = service.store.leads(query).await?;
    let next_cursor = if more {
        leads.last().map(|l| l.id.to_string())
    } else {
        None
    };
    Ok(Page { leads, next_cursor })
}

/// The leads of `query` as spreadsheet-safe CSV, and the cursor where an export that
/// stopped at its limit would go on. A million rows is seconds of CPU: not on an async
/// worker.
pub async fn export(service: &Service, query: LeadQuery) -> Result<(Vec<u8>, Option<String>)> {
    let Page { leads, next_cursor } = page(service, query).await?;
    let store = service.store.clone();
    let csv = off_the_workers("CSV", move || {
        leads_csv(&leads, &|id| store.salesperson_name(id))
    })
    .await?;
    Ok((csv, next_cursor))
}

/// The filters of a listing (`campaign, since, until, status, assigned_to, cursor,
/// limit`), checked; `value` gives each one's text, if set.
pub async fn query(
    service: &Service,
    value: impl Fn(&str) -> Option<String>,
    default_limit: usize,
) -> Result<LeadQuery> {
    let campaign = match value("campaign") {
        Some(slug) => Some(super::campaigns::find(service, &slug).await?.slug),
        None => None,
    };
    let tz = service.store.tz();
    let from = match value("since") {
        Some(text) => LeadId::min_at(time_bound(&text, "since", tz, false)?),
        None => LeadId::min_at(0),
    };
    let to = match value("until") {
        Some(text) => LeadId::max_at(time_bound(&text, "until", tz, true)?),
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
    let assigned_to = value("assigned_to")
        .map(|text| assignee_filter(&text))
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
        assigned_to,
        limit,
    })
}

/// `assigned_to=none` (leads of nobody) or a salesperson's id. An id that is not on the
/// roster filters to no leads rather than failing: people are deleted only when they have
/// none, so a link to a deleted person's leads is simply empty.
fn assignee_filter(text: &str) -> Result<Option<LeadId>> {
    if text == "none" {
        return Ok(None);
    }
    LeadId::parse(text).map(Some).ok_or_else(|| {
        Error::invalid(
            "assigned_to",
            "invalid_value",
            "assigned_to must be a salesperson id or none",
        )
    })
}

/// A `since`/`until` bound in Unix milliseconds: an RFC 3339 timestamp, or a date in the
/// reporting zone (its first millisecond, or its last for `until`).
pub(crate) fn time_bound(
    text: &str,
    field: &str,
    tz: &jiff::tz::TimeZone,
    end_of_day: bool,
) -> Result<u64> {
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
    // Lead ids hold no time before 1970, so an earlier bound (1970-01-01 is still
    // 1969 in UTC east of Greenwich) is 1970's first millisecond.
    Ok(u64::try_from(ts.as_millisecond()).unwrap_or(0))
}
