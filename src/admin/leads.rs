//! `/admin/leads…`: filter and page through leads, change their status and salesperson,
//! record a follow-up, export them, and upload a CSV of leads (paper sign-up sheets) or
//! conversions (CRM orders).

use askama::Template;
use bytes::Bytes;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Ui, Upload, csrf, field, read_form};
use crate::activity::ActivityKind;
use crate::domain::{LeadId, LeadStatus};
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::import::{self, Format, RowError};
use crate::lead::Lead;
use crate::salesperson::Salesperson;
use crate::service::leads::{FollowUpSummary, LeadChange};
use crate::service::{campaigns, conversions, leads, salespeople};
use crate::state::AppState;

const PAGE_SIZE: usize = 50;
const FILTERS: &[&str] = &["campaign", "since", "until", "status", "assigned_to"];

#[derive(Template)]
#[template(path = "admin/leads.html")]
pub struct LeadsPage {
    pub ui: Ui,
    pub campaigns: Vec<(String, String)>,
    pub campaign: String,
    pub since: String,
    pub until: String,
    pub status: String,
    pub statuses: Vec<&'static str>,
    /// The assignee filter: empty (everyone), `none` or a salesperson's id.
    pub assigned_to: String,
    /// (id, name) of everyone on the roster, for the filter.
    pub salespeople: Vec<(String, String)>,
    pub activity_kinds: Vec<&'static str>,
    pub rows: Vec<LeadRow>,
    /// The filters as a query string, for the export and paging links.
    pub filters: String,
    /// This page's filters and cursor: where a status change returns to.
    pub back: String,
    /// The next page's address, when there is one.
    pub next_href: Option<String>,
    pub paged: bool,
    pub uploads: Vec<UploadForm>,
    /// A follow-up was just recorded.
    pub recorded: bool,
}

pub struct LeadRow {
    pub id: String,
    pub received_at: String,
    pub campaign: String,
    pub name: String,
    pub contact: String,
    pub source: String,
    pub status: &'static str,
    pub action: String,
    pub csrf: String,
    /// The salesperson's name, empty when nobody.
    pub assigned_name: String,
    /// The assignee's id, empty when nobody: the selected option of the reassign control.
    pub assigned_id: String,
    /// (id, name) of whom it may go to: the active people, and its own if inactive.
    pub assignees: Vec<(String, String)>,
    pub assign_action: String,
    pub assign_csrf: String,
    pub follow_up: FollowUpView,
    pub activity_action: String,
    pub activity_csrf: String,
    /// The page that erases this lead's person, after asking.
    pub erase_href: String,
}

/// A lead's follow-up as its row shows it.
pub struct FollowUpView {
    /// Counted overdue: followed up after its deadline, or reminded of as not followed up.
    pub overdue: bool,
    /// The first follow-up's time; empty when there was none.
    pub first: String,
    /// The deadline's time, if the campaign sets `follow_up_hours`.
    pub deadline: String,
    pub activities: usize,
}

pub struct UploadForm {
    pub id: &'static str,
    pub label: &'static str,
    pub action: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "admin/import.html")]
pub struct ImportPage {
    pub ui: Ui,
    pub title: &'static str,
    /// (id, label, count) lines of the summary.
    pub counts: Vec<(&'static str, &'static str, u64)>,
    pub errors: Vec<(u64, String, String)>,
    pub ignored: Vec<String>,
}

pub async fn page(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    let query = request.uri().query();
    let value = |key: &str| http::query_value(query, key).filter(|v| !v.is_empty());
    let service = &state.service;
    let filter = leads::query(
        service,
        |k| (k != "limit").then(|| value(k)).flatten(),
        PAGE_SIZE,
    )
    .await?;
    let leads::Page { leads, next_cursor } = leads::page(service, filter).await?;
    let mut campaign_names: Vec<(String, String)> = campaigns::list(service)
        .await?
        .into_iter()
        .map(|c| (c.slug.to_string(), c.name))
        .collect();
    campaign_names.sort();
    let tz = service.tz().clone();
    let roster = salespeople::list(service);
    let follow_ups = leads::follow_ups(service, &leads).await?;
    let short_time = |at: jiff::Timestamp| {
        at.to_zoned_datetime(tz.clone())
            .strftime("%m-%d %H:%M")
            .to_string()
    };
    let rows = leads
        .iter()
        .zip(follow_ups)
        .map(|(lead, follow_up)| {
            let action = format!("/admin/leads/{}/status", lead.id);
            let assign_action = format!("/admin/leads/{}/assign", lead.id);
            let activity_action = format!("/admin/leads/{}/activities", lead.id);
            LeadRow {
                id: lead.id.to_string(),
                received_at: lead
                    .received_at
                    .to_zoned_datetime(tz.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string(),
                campaign: lead.campaign.to_string(),
                name: lead.name.clone().unwrap_or_default(),
                contact: [
                    lead.phone.as_ref().map(|p| p.as_str().to_owned()),
                    lead.email.as_ref().map(|e| e.as_str().to_owned()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
                source: lead.source.as_str().to_owned(),
                status: lead.status.as_str(),
                csrf: csrf::token(&state.admin_token_hash, &action),
                action,
                assigned_name: lead
                    .assigned_to
                    .and_then(|id| roster.iter().find(|p| p.id == id))
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                assigned_id: lead
                    .assigned_to
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                assignees: assignees(&ui, &roster, lead),
                assign_csrf: csrf::token(&state.admin_token_hash, &assign_action),
                assign_action,
                follow_up: follow_up_view(&follow_up, &short_time),
                activity_csrf: csrf::token(&state.admin_token_hash, &activity_action),
                activity_action,
                erase_href: ui.link(&format!("/admin/leads/{}/erase", lead.id)),
            }
        })
        .collect();
    let filters: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(FILTERS.iter().filter_map(|k| value(k).map(|v| (*k, v))))
        .finish();
    let uploads = [
        ("upload-leads", ui.t.upload_leads, "/admin/leads/import"),
        (
            "upload-conversions",
            ui.t.upload_conversions,
            "/admin/conversions/import",
        ),
    ]
    .into_iter()
    .map(|(id, label, action)| UploadForm {
        id,
        label,
        csrf: csrf::token(&state.admin_token_hash, action),
        action: ui.link(action),
    })
    .collect();
    let leads_page = LeadsPage {
        campaigns: campaign_names,
        campaign: value("campaign").unwrap_or_default(),
        since: value("since").unwrap_or_default(),
        until: value("until").unwrap_or_default(),
        status: value("status").unwrap_or_default(),
        statuses: LeadStatus::ALL.iter().map(|s| s.as_str()).collect(),
        assigned_to: value("assigned_to").unwrap_or_default(),
        salespeople: roster
            .iter()
            .map(|p| (p.id.to_string(), person_label(&ui, p)))
            .collect(),
        activity_kinds: ActivityKind::ALL.iter().map(|k| k.as_str()).collect(),
        rows,
        back: match value("cursor") {
            Some(cursor) if filters.is_empty() => format!("cursor={cursor}"),
            Some(cursor) => format!("{filters}&cursor={cursor}"),
            None => filters.clone(),
        },
        next_href: next_cursor.map(|cursor| {
            let query = if filters.is_empty() {
                format!("cursor={cursor}")
            } else {
                format!("{filters}&cursor={cursor}")
            };
            ui.link_with("/admin/leads", &query)
        }),
        filters,
        paged: value("cursor").is_some(),
        uploads,
        recorded: value("recorded").is_some(),
        ui,
    };
    super::page(StatusCode::OK, &leads_page)
}

/// A salesperson's name, marked when they get no new leads.
fn person_label(ui: &Ui, person: &Salesperson) -> String {
    if person.active {
        person.name.clone()
    } else {
        format!("{}{}", person.name, ui.t.inactive_suffix)
    }
}

/// Whom `lead` may be reassigned to: everyone active, and whoever has it now (so that the
/// control shows them even after they were deactivated).
fn assignees(ui: &Ui, roster: &[Salesperson], lead: &Lead) -> Vec<(String, String)> {
    roster
        .iter()
        .filter(|p| p.active || lead.assigned_to == Some(p.id))
        .map(|p| (p.id.to_string(), person_label(ui, p)))
        .collect()
}

fn follow_up_view(
    summary: &FollowUpSummary,
    time: &impl Fn(jiff::Timestamp) -> String,
) -> FollowUpView {
    FollowUpView {
        overdue: summary.overdue,
        first: summary.first.map(time).unwrap_or_default(),
        deadline: summary.deadline.map(time).unwrap_or_default(),
        activities: summary.activities,
    }
}

/// `GET /admin/leads.csv`: every lead the page's filters match.
pub async fn export(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let query = request.uri().query();
    let value = |key: &str| {
        FILTERS
            .contains(&key)
            .then(|| http::query_value(query, key).filter(|v| !v.is_empty()))
            .flatten()
    };
    let filter = leads::query(&state.service, value, leads::MAX_CSV_ROWS).await?;
    let (body, next_cursor) = leads::export(&state.service, filter).await?;
    Ok(http::csv_attachment(
        body,
        "leads.csv",
        next_cursor.as_deref(),
    ))
}

/// `POST /admin/leads/{id}/status`, then back to the list the marketer was looking at.
pub async fn set_status(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    let fields = read_form(state, request).await?;
    let id = leads::lead_id(id)?;
    let status: LeadStatus = field(&fields, "status")
        .ok_or_else(|| Error::invalid("status", "required", "status is required"))?
        .parse()?;
    leads::set_status(&state.service, id, status).await?;
    Ok(back_to_list(&ui, &fields, None))
}

/// `POST /admin/leads/{id}/assign`: gives the lead to the chosen salesperson (none: to
/// nobody), as `PATCH /api/leads/{id}` does (a `lead.updated` event), then back.
pub async fn assign(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    let fields = read_form(state, request).await?;
    let id = leads::lead_id(id)?;
    let assigned_to = match field(&fields, "assigned_to") {
        None => None,
        Some(text) => Some(LeadId::parse(text).ok_or_else(|| {
            Error::invalid(
                "assigned_to",
                "unknown_salesperson",
                format!("there is no salesperson {text:?}"),
            )
        })?),
    };
    let change = LeadChange {
        status: None,
        assigned_to: Some(assigned_to),
    };
    leads::update(&state.service, id, change).await?;
    Ok(back_to_list(&ui, &fields, None))
}

/// `POST /admin/leads/{id}/activities`: records a follow-up (`kind`, optional `note`, and
/// optional `at`: when it happened, for yesterday's call logged today; empty is now), as
/// `POST /api/leads/{id}/activities` does, then back with a notice.
pub async fn add_activity(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    let fields = read_form(state, request).await?;
    let id = leads::lead_id(id)?;
    let mut body = serde_json::Map::new();
    for key in ["kind", "note"] {
        if let Some(value) = field(&fields, key) {
            body.insert(key.to_owned(), value.into());
        }
    }
    if let Some(text) = field(&fields, "at") {
        let at = local_moment(text, state.service.tz())
            .ok_or_else(|| Error::invalid("at", "invalid_time", ui.t.follow_up_when_invalid))?;
        // The API's rules (not in the future, not before the lead) judge it from here.
        body.insert("at".to_owned(), at.to_string().into());
    }
    leads::add_activity(&state.service, id, &body).await?;
    Ok(back_to_list(&ui, &fields, Some("recorded=1")))
}

/// The moment a `<input type="datetime-local">` names (`2026-11-29T10:30`, seconds
/// optional) on the reporting zone's clock: the zone the console shows every time in,
/// whatever the browser's. A time that a daylight-saving change skips or repeats is
/// taken as clocks show it (jiff's "compatible" choice).
fn local_moment(text: &str, tz: &jiff::tz::TimeZone) -> Option<jiff::Timestamp> {
    let civil = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .into_iter()
        .find_map(|format| jiff::civil::DateTime::strptime(format, text).ok())?;
    civil
        .to_zoned_datetime(tz.clone())
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// Back to the page of the list the marketer was on (and `notice`, if any). Only the
/// list's own parameters are taken from the posted `back`, re-encoded, so it cannot send
/// the browser anywhere else.
fn back_to_list(ui: &Ui, fields: &[(String, String)], notice: Option<&str>) -> Reply {
    let back = field(fields, "back").unwrap_or_default();
    let kept: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(back.as_bytes())
                .filter(|(k, _)| FILTERS.contains(&k.as_ref()) || k == "cursor"),
        )
        .finish();
    let query = match notice {
        Some(notice) if kept.is_empty() => notice.to_owned(),
        Some(notice) => format!("{kept}&{notice}"),
        None => kept,
    };
    http::see_other(&ui.link_with("/admin/leads", &query))
}

/// `POST /admin/leads/import` and `/admin/conversions/import`: a `multipart/form-data`
/// upload (a file input), imported like the API's CSV import, answered with its report.
pub async fn import(state: &AppState, request: Request<Incoming>, upload: Upload) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    let action = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = http::read_body(&parts, body, import::IMPORT_BODY_LIMIT).await?;
    // No boundary, no readable parts: no token either, so refused like a forged post.
    let boundary = multer::parse_boundary(&content_type).map_err(|_| csrf::refused())?;
    let file = multipart_file(bytes, boundary, |token| {
        csrf::verify(&state.admin_token_hash, &action, token)
    })
    .await?;
    let file = file
        .filter(|f| !f.is_empty())
        .ok_or_else(|| Error::invalid("file", "required", "choose a CSV file to upload"))?;
    let t = ui.t;
    let (counts, errors, ignored): (_, Vec<RowError>, _) = match upload {
        Upload::Leads => {
            let report = leads::import(&state.service, Format::Csv, file).await?;
            let counts = vec![
                ("imported", t.imported, report.imported),
                ("skipped", t.skipped, report.skipped),
            ];
            (counts, report.errors, report.ignored_columns)
        }
        Upload::Conversions => {
            let report = conversions::import(&state.service, file).await?;
            let counts = vec![
                ("imported", t.imported, report.imported),
                ("updated", t.updated, report.updated),
                ("unchanged", t.unchanged, report.unchanged),
            ];
            (counts, report.errors, report.ignored_columns)
        }
    };
    let errors = errors
        .into_iter()
        .map(|e| (e.line as u64, e.field.unwrap_or_default(), e.message))
        .collect();
    let title = match upload {
        Upload::Leads => t.upload_leads,
        Upload::Conversions => t.upload_conversions,
    };
    super::page(
        StatusCode::OK,
        &ImportPage {
            ui,
            title,
            counts,
            errors,
            ignored,
        },
    )
}

/// The `file` part of an upload whose `_csrf` part passes `verify`. Until the token has
/// passed, any failure (a malformed body included) is the token's failure: 403.
async fn multipart_file(
    body: Bytes,
    boundary: String,
    verify: impl Fn(Option<&str>) -> Result<()>,
) -> Result<Option<Bytes>> {
    let stream = BodyDataStream::new(http_body_util::Full::new(body));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let (mut verified, mut file) = (false, None);
    loop {
        let part = match multipart.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            Err(_) if !verified => return verify(None).map(|_| None),
            Err(e) => return Err(malformed(e)),
        };
        match part.name() {
            Some(csrf::FIELD) => {
                let token = part.text().await.ok();
                verify(token.as_deref())?;
                verified = true;
            }
            Some("file") => match part.bytes().await {
                Ok(bytes) => file = Some(bytes),
                Err(_) if !verified => return verify(None).map(|_| None),
                Err(e) => return Err(malformed(e)),
            },
            _ => {}
        }
    }
    if !verified {
        verify(None)?;
    }
    Ok(file)
}

fn malformed(e: multer::Error) -> Error {
    Error::bad_request(
        "malformed_upload",
        format!("the upload could not be read: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follow_up_time_is_read_on_the_reporting_zones_clock() {
        let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let at = |text| local_moment(text, &shanghai).map(|t| t.to_string());
        assert_eq!(
            at("2026-11-28T18:30").as_deref(),
            Some("2026-11-28T10:30:00Z")
        );
        assert_eq!(
            at("2026-11-28T18:30:15").as_deref(),
            Some("2026-11-28T10:30:15Z")
        );
        for bad in [
            "yesterday",
            "2026-11-28",
            "2026-11-28T25:00",
            "2026-02-30T10:00",
            "2026-11-28T18:30Z",
            "2026-11-28T18:30+08:00",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
        // Skipped by a spring-forward: the moment after the gap, as clocks show it.
        let new_york = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let skipped = local_moment("2026-03-08T02:30", &new_york).unwrap();
        assert_eq!(skipped.to_string(), "2026-03-08T07:30:00Z");
    }
}
