//! `/api/destinations`: where leads, status changes and conversions are sent; test and
//! retry.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::error::Result;
use crate::http::{self, Reply};
use crate::service::destinations;
use crate::state::AppState;

pub async fn list(state: &AppState) -> Result<Reply> {
    let shown: Vec<_> = destinations::list(&state.service)
        .await?
        .iter()
        .map(destinations::Shown::to_json)
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({ "destinations": shown }),
    ))
}

pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = http::json_body(request).await?;
    let shown = destinations::create(&state.service, &body).await?;
    Ok(http::json(StatusCode::CREATED, &shown.to_json()))
}

pub async fn get(state: &AppState, id: &str) -> Result<Reply> {
    let shown = destinations::get(&state.service, id).await?;
    Ok(http::json(StatusCode::OK, &shown.to_json()))
}

pub async fn patch(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    // An unknown destination is a 404 whatever the body holds.
    destinations::get(&state.service, id).await?;
    let body = http::json_body(request).await?;
    let shown = destinations::patch(&state.service, id, body).await?;
    Ok(http::json(StatusCode::OK, &shown.to_json()))
}

pub async fn delete(state: &AppState, id: &str) -> Result<Reply> {
    destinations::delete(&state.service, id).await?;
    Ok(http::with_type(
        StatusCode::NO_CONTENT,
        Vec::new(),
        "text/plain",
    ))
}

pub async fn retry(state: &AppState, id: &str) -> Result<Reply> {
    let shown = destinations::retry(&state.service, id).await?;
    Ok(http::json(StatusCode::OK, &shown.to_json()))
}

pub async fn test(state: &AppState, id: &str) -> Result<Reply> {
    let answer = destinations::test(&state.service, id).await?;
    Ok(http::json(StatusCode::OK, &answer.to_json()))
}
