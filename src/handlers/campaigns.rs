//! `/api/campaigns`: create, list, read and patch campaigns.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::find_campaign;
use crate::app::AppState;
use crate::campaign::Campaign;
use crate::cost::CostEntry;
use crate::domain::{Slug, format_money};
use crate::error::{Error, Result};
use crate::http::{self, Reply};

pub async fn list(state: &AppState) -> Result<Reply> {
    let campaigns = state.store.campaigns().await?;
    let shown: Vec<_> = campaigns
        .iter()
        .map(|c| c.to_json(&state.public_url))
        .collect();
    Ok(http::json(StatusCode::OK, &json!({ "campaigns": shown })))
}

pub async fn get(state: &AppState, slug: &str) -> Result<Reply> {
    let campaign = find_campaign(state, slug).await?;
    Ok(http::json(
        StatusCode::OK,
        &campaign.to_json(&state.public_url),
    ))
}

pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = json_body(request).await?;
    let campaign = Campaign::create(&body, &state.forms, jiff::Timestamp::now())?;
    let campaign = state.store.create_campaign(campaign).await?;
    Ok(http::json(
        StatusCode::CREATED,
        &campaign.to_json(&state.public_url),
    ))
}

pub async fn patch(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let slug = Slug::parse(slug).map_err(|_| {
        Error::not_found("unknown_campaign", format!("there is no campaign {slug:?}"))
    })?;
    let body = json_body(request).await?;
    let forms = state.forms.clone();
    let now = jiff::Timestamp::now();
    let campaign = state
        .store
        .update_campaign(slug, move |campaign| campaign.patch(&body, &forms, now))
        .await?;
    Ok(http::json(
        StatusCode::OK,
        &campaign.to_json(&state.public_url),
    ))
}

/// Admin bodies are JSON objects; anything else is refused before it is read further.
pub(crate) async fn json_body(
    request: Request<Incoming>,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let (parts, body) = request.into_parts();
    if http::content_type(&parts.headers).as_deref() != Some("application/json") {
        return Err(Error::new(
            crate::error::ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let bytes = http::read_body(&parts, body, http::JSON_BODY_LIMIT).await?;
    http::json_object(&bytes)
}

pub async fn add_cost(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let campaign = find_campaign(state, slug).await?;
    let body = json_body(request).await?;
    let entry = CostEntry::from_json(&body, &campaign, jiff::Timestamp::now())?;
    let entry = state
        .store
        .add_cost(campaign.slug.clone(), entry, campaign.currency)
        .await?;
    Ok(http::json(StatusCode::CREATED, &entry.to_json(&campaign)))
}

pub async fn list_costs(state: &AppState, slug: &str) -> Result<Reply> {
    let campaign = find_campaign(state, slug).await?;
    let entries = state.store.costs(campaign.slug.clone()).await?;
    let total: i64 = entries.iter().map(|e| e.amount).sum();
    let shown: Vec<_> = entries.iter().map(|e| e.to_json(&campaign)).collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "costs": shown,
            "total": format_money(total, campaign.currency.exponent()),
            "currency": campaign.currency,
        }),
    ))
}

pub async fn delete_cost(state: &AppState, slug: &str, id: &str) -> Result<Reply> {
    let campaign = find_campaign(state, slug).await?;
    state
        .store
        .delete_cost(campaign.slug, id.to_owned())
        .await?;
    Ok(http::with_type(
        StatusCode::NO_CONTENT,
        Vec::new(),
        "text/plain",
    ))
}
