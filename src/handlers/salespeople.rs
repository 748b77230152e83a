//! `/api/salespeople`: the sales roster.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::error::Result;
use crate::http::{self, Reply};
use crate::service::salespeople;
use crate::state::AppState;

pub async fn list(state: &AppState) -> Result<Reply> {
    let shown: Vec<_> = salespeople::list(&state.service)
        .iter()
        .map(|p| p.to_json())
        .collect();
    Ok(http::json(StatusCode::OK, &json!({ "salespeople": shown })))
}

pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = http::json_body(request).await?;
    let person = salespeople::create(&state.service, &body).await?;
    Ok(http::json(StatusCode::CREATED, &person.to_json()))
}

pub async fn get(state: &AppState, id: &str) -> Result<Reply> {
    let person = salespeople::get(&state.service, id)?;
    Ok(http::json(StatusCode::OK, &person.to_json()))
}

pub async fn patch(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    // An unknown salesperson is a 404 whatever the body holds.
    salespeople::get(&state.service, id)?;
    let body = http::json_body(request).await?;
    let person = salespeople::patch(&state.service, id, body).await?;
    Ok(http::json(StatusCode::OK, &person.to_json()))
}

pub async fn delete(state: &AppState, id: &str) -> Result<Reply> {
    salespeople::delete(&state.service, id).await?;
    Ok(http::with_type(
        StatusCode::NO_CONTENT,
        Vec::new(),
        "text/plain",
    ))
}
