//! Scheduled ROI reports (API.md, "Sales follow-through"): the schedules, `run`, and the
//! scheduler's look for due reports. A report is the `/api/roi` summary of its period
//! under the schedule's model and grouping, sent as a `report.roi` event to the schedule's
//! one destination, in order with that destination's other events and with their retries.

use super::Service;
use super::campaigns::Changes;
use super::reports::{self, RoiRequest};
use crate::domain::LeadId;
use crate::error::{Error, Result};
use crate::schedule::{Period, Schedule};
use crate::store::schedules::{Report, Sent};

fn id(text: &str) -> Result<LeadId> {
    LeadId::parse(text).ok_or_else(|| {
        Error::not_found(
            "unknown_report_schedule",
            format!("there is no report schedule {text:?}"),
        )
    })
}

pub async fn create(service: &Service, changes: &Changes) -> Result<Schedule> {
    let destinations: Vec<LeadId> = service
        .store
        .destinations()
        .await?
        .into_iter()
        .map(|stored| stored.destination.id)
        .collect();
    let schedule = Schedule::create(
        changes,
        |id| destinations.contains(&id),
        service.clock.now(),
    )?;
    crate::audit::name_target(schedule.id);
    service.store.create_schedule(schedule).await
}

/// Every schedule, oldest first.
pub async fn list(service: &Service) -> Result<Vec<Schedule>> {
    service.store.schedules().await
}

pub async fn get(service: &Service, id: &str) -> Result<Schedule> {
    service.store.schedule(self::id(id)?).await
}

pub async fn delete(service: &Service, id: &str) -> Result<()> {
    service.store.delete_schedule(self::id(id)?).await
}

/// Sends now what the schedule would send now: the day, ISO week or month before today.
/// It is an extra send: the schedule's own rhythm (and `last_run_for`) stays as it was.
pub async fn run(service: &Service, id: &str) -> Result<(Period, Sent)> {
    let id = self::id(id)?;
    let schedule = service.store.schedule(id).await?;
    let period = schedule.period_now(service.clock.now(), service.tz());
    match send(service, &schedule, period, false).await? {
        Some(sent) => Ok((period, sent)),
        // Deleted while its report was being built.
        None => Err(Error::not_found(
            "unknown_report_schedule",
            format!("there is no report schedule {id}"),
        )),
    }
}

/// One look of the scheduler: sends every report that is due now. A failure (the store
/// is busy or full) leaves that report due: the next look tries again.
pub async fn send_due(service: &Service) {
    let schedules = match service.store.schedules().await {
        Ok(schedules) => schedules,
        Err(error) => {
            tracing::warn!("report schedules not read: {error}");
            return;
        }
    };
    let now = service.clock.now();
    for schedule in schedules {
        let Some(period) = schedule.due(now, service.tz()) else {
            continue;
        };
        match send(service, &schedule, period, true).await {
            Ok(Some(_)) => tracing::info!(
                "report schedule {}: sent the report of {}",
                schedule.id,
                period.label()
            ),
            Ok(None) => {}
            Err(error) => tracing::warn!(
                "report schedule {}: the report of {} is not sent yet: {error}",
                schedule.id,
                period.label()
            ),
        }
    }
}

/// Builds the period's summary and writes its event; `scheduled` also records the period
/// as the schedule's last (in the same transaction as the event).
async fn send(
    service: &Service,
    schedule: &Schedule,
    period: Period,
    scheduled: bool,
) -> Result<Option<Sent>> {
    let report = reports::build(service, roi_request(schedule, period, service.tz())?).await?;
    service
        .store
        .send_report(Report {
            schedule: schedule.id,
            period,
            data: report.to_json(),
            scheduled,
            now: service.clock.now(),
        })
        .await
}

/// The request `GET /api/roi?from=…&to=…&model=…&group_by=…` makes for the period, so
/// the report is exactly what the API shows for it.
fn roi_request(schedule: &Schedule, period: Period, tz: &jiff::tz::TimeZone) -> Result<RoiRequest> {
    RoiRequest::parse(
        |key| match key {
            "model" => Some(schedule.model.clone()),
            "group_by" => Some(schedule.group_by.clone()),
            "from" => Some(period.first.to_string()),
            "to" => Some(period.last().to_string()),
            _ => None,
        },
        tz,
    )
}
