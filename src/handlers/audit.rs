//! `GET /api/audit?since=&limit=`: the audit log, oldest first from `since`, for a program
//! that follows it (ask again with the last entry's `at`; entries at that very millisecond
//! come again, so keep their ids).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::service::leads::time_bound;
use crate::state::AppState;
use crate::store::audit_log::Order;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let query = request.uri().query();
    let since = match http::query_value(query, "since") {
        Some(text) => {
            let ms = time_bound(&text, "since", state.service.tz(), false)?;
            jiff::Timestamp::from_millisecond(ms as i64).map_err(|_| bad_since())?
        }
        None => jiff::Timestamp::MIN,
    };
    let limit = match http::query_value(query, "limit") {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::invalid(
                    "limit",
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
        None => DEFAULT_LIMIT,
    };
    let (entries, more) = state
        .service
        .store
        .audit_entries(Order::OldestFrom(since), limit)
        .await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"entries": entries, "more": more}),
    ))
}

fn bad_since() -> Error {
    Error::invalid(
        "since",
        "invalid_time",
        "since must be a date (2025-03-01) or an RFC 3339 time (2025-03-01T10:00:00+08:00)",
    )
}
