//! `/api/report-schedules`: ROI reports sent to a destination every day, week or month.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use crate::error::Result;
use crate::http::{self, Reply};
use crate::schedule::Schedule;
use crate::service::schedules;
use crate::state::AppState;

fn shown(state: &AppState, schedule: &Schedule) -> Value {
    schedule.to_json(state.service.clock.now(), state.service.tz())
}

pub async fn list(state: &AppState) -> Result<Reply> {
    let shown: Vec<Value> = schedules::list(&state.service)
        .await?
        .iter()
        .map(|s| shown(state, s))
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({ "report_schedules": shown }),
    ))
}

pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let body = http::json_body(request).await?;
    let schedule = schedules::create(&state.service, &body).await?;
    Ok(http::json(StatusCode::CREATED, &shown(state, &schedule)))
}

pub async fn get(state: &AppState, id: &str) -> Result<Reply> {
    let schedule = schedules::get(&state.service, id).await?;
    Ok(http::json(StatusCode::OK, &shown(state, &schedule)))
}

pub async fn delete(state: &AppState, id: &str) -> Result<Reply> {
    schedules::delete(&state.service, id).await?;
    Ok(http::with_type(
        StatusCode::NO_CONTENT,
        Vec::new(),
        "text/plain",
    ))
}

/// The schedule, and under `sent` which period went out as which event.
pub async fn run(state: &AppState, id: &str) -> Result<Reply> {
    let (period, sent) = schedules::run(&state.service, id).await?;
    let mut answer = shown(state, &sent.schedule);
    answer["sent"] = json!({
        "period": period.label(),
        "from": period.first.to_string(),
        "to": period.last().to_string(),
        "event_id": sent.event,
    });
    Ok(http::json(StatusCode::OK, &answer))
}
