//! `/api/campaigns`: create, list, read and patch campaigns; their cost entries.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::domain::format_money;
use crate::error::Result;
use crate::http::{self, Reply};
use crate::service::campaigns;
use crate::state::AppState;

pub async fn list(state: &AppState) -> Result<Reply> {
    let campaigns = campaigns::list(&state.service).await?;
    let shown: Vec<_> = campaigns
        .iter()
        .map(|c| c.to_json(&state.public_url))
        .collect();
    Ok(http::json(StatusCode::OK, &json!({ "campaigns": shown })))
}

pub async fn get(state: &AppState, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    Ok(http::json(
        StatusCode::OK,
        &campaign.to_json(&state.public_url),
    ))
}

pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = http::json_body(request).await?;
    let campaign = campaigns::create(&state.service, &body).await?;
    Ok(http::json(
        StatusCode::CREATED,
        &campaign.to_json(&state.public_url),
    ))
}

pub async fn patch(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    // An unknown campaign is a 404 whatever the body holds.
    let slug = campaigns::slug(slug)?;
    let body = http::json_body(request).await?;
    let campaign = campaigns::patch(&state.service, slug, body).await?;
    Ok(http::json(
        StatusCode::OK,
        &campaign.to_json(&state.public_url),
    ))
}

pub async fn add_cost(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let body = http::json_body(request).await?;
    let entry = campaigns::add_cost(&state.service, &campaign, &body).await?;
    Ok(http::json(StatusCode::CREATED, &entry.to_json(&campaign)))
}

pub async fn list_costs(state: &AppState, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let costs = campaigns::costs(&state.service, &campaign).await?;
    let shown: Vec<_> = costs.entries.iter().map(|e| e.to_json(&campaign)).collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "costs": shown,
            "total": format_money(costs.total, campaign.currency.exponent()),
            "currency": campaign.currency,
        }),
    ))
}

pub async fn delete_cost(state: &AppState, slug: &str, id: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    campaigns::delete_cost(&state.service, &campaign, id).await?;
    Ok(http::with_type(
        StatusCode::NO_CONTENT,
        Vec::new(),
        "text/plain",
    ))
}
