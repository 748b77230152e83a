//! The landing form: `GET /f/{slug}` shows it, `POST /f/{slug}` stores a lead,
//! `GET /f/{slug}/thanks` confirms.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::campaign::Campaign;
use crate::domain::LeadId;
use crate::error::{Error, ErrorKind, Result};
use crate::forms::FormDef;
use crate::http::{self, Reply};
use crate::lead::{Capture, Channel};
use crate::service::{campaigns, leads, visits};
use crate::state::AppState;
use crate::submission::{self, FieldError, RawSubmission, Tracking};
use crate::templates::{FormPage, ThanksPage};

pub async fn show(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let service = &state.service;
    let campaign = campaigns::find(service, slug).await?;
    let form = service.forms.for_campaign(&campaign);
    let tracking = Tracking::from_query(request.uri().query().unwrap_or(""));
    let qr_variant = tracking
        .is_qr_scan()
        .then(|| crate::qr::variant_of(&tracking.utm).to_owned());
    // A HEAD renders nothing anyone sees (a link preview, an uptime check): not a view.
    if request.method() != hyper::Method::HEAD
        && let Some(http::ClientAddr(address)) =
            request.extensions().get::<http::ClientAddr>().copied()
    {
        let user_agent = request
            .headers()
            .get(hyper::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let viewer = visits::Viewer {
            address,
            user_agent,
        };
        visits::count_form_view(service, &campaign, qr_variant, viewer);
    }
    let page = FormPage {
        fields: FormPage::fields(&form, |_| None, &[]),
        hidden: tracking.pairs(),
        token: LeadId::generate().to_string(),
        errors: Vec::new(),
        ..page_frame(&campaign, &form)
    };
    render(StatusCode::OK, &page)
}

pub async fn submit(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let service = &state.service;
    let campaign = campaigns::find(service, slug).await?;
    state.check_rate(&request, Some(&campaign))?;
    let form = service.forms.for_campaign(&campaign);
    let (parts, body) = request.into_parts();
    let as_json = http::wants_json(&parts.headers);
    let raw = match http::content_type(&parts.headers).as_deref() {
        Some("application/x-www-form-urlencoded") => RawSubmission::from_urlencoded(
            &http::read_body(&parts, body, http::FORM_BODY_LIMIT).await?,
        )?,
        Some("application/json") => {
            let body = http::read_body(&parts, body, http::FORM_BODY_LIMIT).await?;
            RawSubmission::from_json(http::json_object(&body)?)
        }
        _ => {
            return Err(Error::new(
                ErrorKind::UnsupportedMediaType,
                "unsupported_media_type",
                "send the form as application/x-www-form-urlencoded or application/json",
            ));
        }
    };
    let thanks = format!("/f/{}/thanks", campaign.slug);
    // A bot that filled the honeypot sees success whatever else it sent: an error listing
    // its bad fields would teach it how to pass.
    if raw
        .get(submission::HONEYPOT_FIELD)
        .flatten()
        .is_some_and(|v| !v.trim().is_empty())
    {
        service.metrics.reject(crate::metrics::Reject::Honeypot);
        let decoy = LeadId::generate();
        return Ok(if as_json {
            created(&campaign, decoy, false)
        } else {
            http::see_other(&thanks)
        });
    }
    let referer_query = http::referer_query(&parts.headers);
    let submission = match submission::validate(&form, &raw, referer_query.as_deref()) {
        Ok(submission) => submission,
        Err(errors) if as_json => return Ok(invalid_json(&errors)),
        Err(errors) => return invalid_page(&campaign, &form, &raw, &errors),
    };
    let capture = Capture {
        campaign: campaign.slug.clone(),
        details: submission.details,
        channel: Channel::Form {
            token: submission.token,
            json: as_json,
        },
    };
    let outcome = leads::record(service, capture).await?;
    Ok(if as_json {
        created(&campaign, outcome.id, outcome.duplicate)
    } else {
        http::see_other(&thanks)
    })
}

pub async fn thanks(state: &AppState, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let form = state.service.forms.for_campaign(&campaign);
    render(
        StatusCode::OK,
        &ThanksPage {
            campaign_name: campaign.name.clone(),
            message: form.thanks.clone(),
        },
    )
}

fn created(campaign: &Campaign, id: LeadId, duplicate: bool) -> Reply {
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    http::json(
        status,
        &json!({ "lead_id": id, "campaign": campaign.slug, "duplicate": duplicate }),
    )
}

/// 422 in the API's error shape, naming the first bad field and listing all of them.
fn invalid_json(errors: &[FieldError]) -> Reply {
    let first = &errors[0];
    let details: Vec<_> = errors
        .iter()
        .map(|e| json!({"field": e.field, "code": e.code, "message": e.message}))
        .collect();
    let body = json!({
        "error": { "code": first.code, "message": first.message, "field": first.field, "details": details }
    });
    http::json(StatusCode::UNPROCESSABLE_ENTITY, &body)
}

/// 422: the same form again, with what the visitor typed and a message at each bad field.
fn invalid_page(
    campaign: &Campaign,
    form: &FormDef,
    raw: &RawSubmission,
    errors: &[FieldError],
) -> Result<Reply> {
    let value_of = |name: &str| raw.get(name).flatten().map(str::to_owned);
    let tracking = Tracking::collect(|k| raw.get(k).flatten(), |_| None);
    let page = FormPage {
        fields: FormPage::fields(form, value_of, errors),
        hidden: tracking.pairs(),
        token: raw
            .get(submission::TOKEN_FIELD)
            .flatten()
            .filter(|t| t.len() <= 128 && t.chars().all(|c| c.is_ascii_graphic()))
            .map(str::to_owned)
            .unwrap_or_else(|| LeadId::generate().to_string()),
        errors: errors.iter().map(|e| e.message_zh.clone()).collect(),
        ..page_frame(campaign, form)
    };
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

fn page_frame(campaign: &Campaign, form: &FormDef) -> FormPage {
    FormPage {
        campaign_name: campaign.name.clone(),
        form_title: form.title.clone(),
        intro: form.intro.clone(),
        submit_label: form.submit_label.clone(),
        action: format!("/f/{}", campaign.slug),
        fields: Vec::new(),
        hidden: Vec::new(),
        token: String::new(),
        errors: Vec::new(),
        ended: campaign.status == crate::domain::CampaignStatus::Ended,
    }
}

fn render(status: StatusCode, page: &impl Template) -> Result<Reply> {
    let body = page
        .render()
        .map_err(|e| Error::internal(format!("template failed: {e}")))?;
    Ok(http::html(status, body))
}
