//! Report schedules, and the sending of a scheduled report: its `report.roi` event and the
//! schedule's "last period sent" are written in one transaction, so a report is sent once
//! per period even across a crash (and never marked sent without being sent).

use redb::{ReadTransaction, ReadableTable};

use super::open::Tables;
use super::outbox::{self, ReportAbout};
use super::storage;
use super::tables;
use super::write::{decode_record, encode_record};
use crate::domain::LeadId;
use crate::error::{Error, Result};
use crate::schedule::{Period, Schedule};

fn unknown(id: LeadId) -> Error {
    Error::not_found(
        "unknown_report_schedule",
        format!("there is no report schedule {id}"),
    )
}

fn put(t: &mut Tables<'_>, schedule: &Schedule) -> Result<()> {
    t.report_schedules
        .insert(
            schedule.id.to_u128(),
            encode_record(schedule, "report schedule")?.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

fn find(t: &Tables<'_>, id: LeadId) -> Result<Option<Schedule>> {
    match t.report_schedules.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "report schedule").map(Some),
        None => Ok(None),
    }
}

/// Stores a new schedule, if its destination still exists (it may have been deleted
/// since the request was checked).
pub fn create(t: &mut Tables<'_>, schedule: &Schedule) -> Result<()> {
    let destination = schedule.destination;
    if t.destinations
        .get(destination.to_u128())
        .map_err(storage)?
        .is_none()
    {
        return Err(crate::schedule::unknown_destination(
            &serde_json::Value::String(destination.to_string()),
        ));
    }
    put(t, schedule)
}

pub fn delete(t: &mut Tables<'_>, id: LeadId) -> Result<()> {
    match t.report_schedules.remove(id.to_u128()).map_err(storage)? {
        Some(_) => Ok(()),
        None => Err(unknown(id)),
    }
}

/// Deletes the schedules of a destination that is being deleted. Schedules are few (a
/// handful per destination): a scan is cheaper than an index to keep.
pub fn delete_for_destination(t: &mut Tables<'_>, destination: LeadId) -> Result<()> {
    let mut doomed = Vec::new();
    for entry in t.report_schedules.iter().map_err(storage)? {
        let (key, bytes) = entry.map_err(storage)?;
        let schedule: Schedule = decode_record(bytes.value(), "report schedule")?;
        if schedule.destination == destination {
            doomed.push(key.value());
        }
    }
    for key in doomed {
        t.report_schedules.remove(key).map_err(storage)?;
    }
    Ok(())
}

/// A report ready to go: its schedule, period and `/api/roi` JSON.
pub struct Report {
    pub schedule: LeadId,
    pub period: Period,
    pub data: serde_json::Value,
    /// Sent by the schedule itself (moves its last period) rather than by `run`.
    pub scheduled: bool,
    pub now: jiff::Timestamp,
}

/// What writing a report did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The schedule as it is after the send.
    pub schedule: Schedule,
    /// The `report.roi` event's id.
    pub event: LeadId,
}

/// Writes the report's event for the schedule's destination; a scheduled one also
/// becomes the schedule's last period. `None` when there is nothing to do: the schedule
/// was deleted meanwhile, or (scheduled) this period or a later one was already sent.
pub fn send(t: &mut Tables<'_>, report: Report) -> Result<Option<Sent>> {
    let Some(mut schedule) = find(t, report.schedule)? else {
        return Ok(None);
    };
    if report.scheduled {
        if schedule
            .last_sent
            .is_some_and(|sent| sent.first >= report.period.first)
        {
            return Ok(None);
        }
        schedule.last_sent = Some(report.period);
        schedule.last_sent_at = Some(report.now);
        put(t, &schedule)?;
    }
    let about = ReportAbout {
        schedule: schedule.id,
        period: report.period,
        group_by: schedule.group_by.clone(),
    };
    let event = outbox::append_report(t, schedule.destination, about, &report.data)?;
    Ok(Some(Sent { schedule, event }))
}

/// Every schedule, oldest first (ids are ULIDs).
pub fn list(txn: &ReadTransaction) -> Result<Vec<Schedule>> {
    let table = txn.open_table(tables::REPORT_SCHEDULES).map_err(storage)?;
    let mut schedules = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, bytes) = entry.map_err(storage)?;
        schedules.push(decode_record(bytes.value(), "report schedule")?);
    }
    Ok(schedules)
}

pub fn get(txn: &ReadTransaction, id: LeadId) -> Result<Schedule> {
    let table = txn.open_table(tables::REPORT_SCHEDULES).map_err(storage)?;
    match table.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "report schedule"),
        None => Err(unknown(id)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::destination::Destination;
    use crate::store::Store;

    fn period(day: i8) -> Period {
        Period::containing(
            crate::schedule::Every::Daily,
            jiff::civil::date(2026, 11, day),
        )
    }

    fn report(schedule: &Schedule, day: i8, scheduled: bool) -> Report {
        Report {
            schedule: schedule.id,
            period: period(day),
            data: json!({"rows": []}),
            scheduled,
            now: jiff::Timestamp::now(),
        }
    }

    #[tokio::test]
    async fn a_period_is_sent_once_and_schedules_go_with_their_destination() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), jiff::tz::TimeZone::UTC).unwrap();
        let now = jiff::Timestamp::now();
        let destination = Destination::create(
            json!({"name": "CRM", "kind": "webhook", "url": "https://crm.example.com/h"})
                .as_object()
                .unwrap(),
            |_| true,
            now,
        )
        .unwrap();
        store.create_destination(destination.clone()).await.unwrap();
        let body =
            json!({"destination": destination.id.to_string(), "every": "daily", "at": "09:00"});
        let schedule = Schedule::create(body.as_object().unwrap(), |_| true, now).unwrap();
        store.create_schedule(schedule.clone()).await.unwrap();

        let sent = store
            .send_report(report(&schedule, 28, true))
            .await
            .unwrap();
        assert_eq!(sent.unwrap().schedule.last_sent, Some(period(28)));
        // The same period again, or an older one: nothing.
        assert!(
            store
                .send_report(report(&schedule, 28, true))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .send_report(report(&schedule, 27, true))
                .await
                .unwrap()
                .is_none()
        );
        // A run sends any period and leaves the schedule's own as it was.
        let ran = store
            .send_report(report(&schedule, 20, false))
            .await
            .unwrap();
        assert_eq!(ran.unwrap().schedule.last_sent, Some(period(28)));
        let events = store.events_after(0, 10).await.unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|(_, e)| e.target == Some(destination.id)));

        store.delete_destination(destination.id).await.unwrap();
        assert!(store.schedules().await.unwrap().is_empty());
        assert!(
            store
                .send_report(report(&schedule, 29, true))
                .await
                .unwrap()
                .is_none()
        );
        let orphan = Schedule::create(body.as_object().unwrap(), |_| true, now).unwrap();
        let refused = store.create_schedule(orphan).await.unwrap_err();
        assert_eq!(refused.code, "unknown_destination");
        store.close().await;
    }
}
