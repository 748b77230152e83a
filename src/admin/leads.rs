//! `/admin/leads…`: filter and page through leads, change their status, export them, and
//! upload a CSV of leads (paper sign-up sheets) or conversions (CRM orders).

use askama::Template;
use bytes::Bytes;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Ui, Upload, csrf, field, read_form};
use crate::domain::LeadStatus;
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::import::{self, Format, RowError};
use crate::service::{campaigns, conversions, leads};
use crate::state::AppState;

const PAGE_SIZE: usize = 50;
const FILTERS: &[&str] = &["campaign", "since", "until", "status"];

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
    pub rows: Vec<LeadRow>,
    /// The filters as a query string, for the export and paging links.
    pub filters: String,
    /// This page's filters and cursor: where a status change returns to.
    pub back: String,
    /// The next page's address, when there is one.
    pub next_href: Option<String>,
    pub paged: bool,
    pub uploads: Vec<UploadForm>,
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
    let rows = leads
        .iter()
        .map(|lead| {
            let action = format!("/admin/leads/{}/status", lead.id);
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
        ui,
    };
    super::page(StatusCode::OK, &leads_page)
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
    // Back to the page of the list the marketer was on. Only the list's own parameters are
    // taken from the post, re-encoded, so it cannot send the browser anywhere else.
    let back = field(&fields, "back").unwrap_or_default();
    let kept: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(back.as_bytes())
                .filter(|(k, _)| FILTERS.contains(&k.as_ref()) || k == "cursor"),
        )
        .finish();
    Ok(http::see_other(&ui.link_with("/admin/leads", &kept)))
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
