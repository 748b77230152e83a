//! `/api/erasures`: erase a person at their request; list the receipts.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::error::Result;
use crate::http::{self, Reply};
use crate::service::erasures;
use crate::state::AppState;

pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = http::json_body(request).await?;
    let person = erasures::person(&body)?;
    let receipt = erasures::erase(&state.service, person).await?;
    Ok(http::json(StatusCode::OK, &receipt.to_json()))
}

pub async fn list(state: &AppState) -> Result<Reply> {
    let receipts = erasures::list(&state.service).await?;
    let shown: Vec<_> = receipts.iter().map(|r| r.to_json()).collect();
    Ok(http::json(StatusCode::OK, &json!({ "erasures": shown })))
}
