//! Follow-ups and deadlines. A lead's first follow-up (its first activity or its first
//! status change away from `new`, whichever came first) and its campaign's deadline are
//! kept beside it, and the counters the ROI summary reads (leads followed up, summed
//! response time, activities, overdue leads) move in the same transaction, so a report
//! never reads leads one by one.

use redb::{ReadTransaction, ReadableTable};

use super::open::Tables;
use super::outbox::{self, EventType};
use super::storage;
use super::tables::{self, metric};
use super::write::{decode_lead, decode_record, encode_record};
use super::writer::WriteContext;
use crate::activity::Activity;
use crate::domain::{LeadId, day_number};
use crate::error::{Error, Result};
use crate::lead::Lead;

fn read_lead(t: &Tables<'_>, id: LeadId) -> Result<Lead> {
    match t.leads.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_lead(bytes.value()),
        None => Err(Error::not_found(
            "unknown_lead",
            format!("there is no lead {id}"),
        )),
    }
}

/// Sets a new lead's deadline from its campaign's `follow_up_hours`, if any.
pub fn set_deadline(t: &mut Tables<'_>, lead: &Lead, hours: Option<u32>) -> Result<()> {
    let Some(hours) = hours else {
        return Ok(());
    };
    let deadline = lead.received_at.as_millisecond() + i64::from(hours) * 3_600_000;
    let id = lead.id.to_u128();
    t.lead_deadlines
        .insert(id, (deadline, false))
        .map_err(storage)?;
    t.deadlines.insert((deadline, id), ()).map_err(storage)?;
    Ok(())
}

/// Records an activity on its lead (which must exist): counted, and perhaps the lead's
/// first follow-up.
pub fn add_activity(t: &mut Tables<'_>, ctx: &WriteContext, activity: &Activity) -> Result<()> {
    let lead = read_lead(t, activity.lead)?;
    t.activities
        .insert(
            (
                activity.lead.to_u128(),
                activity.at.as_millisecond(),
                activity.id.to_u128(),
            ),
            encode_record(activity, "activity")?.as_slice(),
        )
        .map_err(storage)?;
    let day = day_number(lead.received_at, &ctx.tz);
    ctx.counters
        .bump(lead.campaign.as_str(), day, metric::ACTIVITIES, 1);
    followed_up(t, ctx, &lead, activity.at)
}

/// `lead` was followed up at `at`: if that is its first follow-up (or earlier than the one
/// known), the counters move and its deadline is settled. A follow-up after the deadline
/// makes the lead overdue (said once, if the check had not said it yet); one recorded
/// late but dated in time takes back an overdue count made meanwhile.
pub fn followed_up(
    t: &mut Tables<'_>,
    ctx: &WriteContext,
    lead: &Lead,
    at: jiff::Timestamp,
) -> Result<()> {
    let id = lead.id.to_u128();
    let at_ms = at.as_millisecond().max(lead.received_at.as_millisecond());
    let known = t.follow_ups.get(id).map_err(storage)?.map(|v| v.value());
    let slug = lead.campaign.as_str();
    let day = day_number(lead.received_at, &ctx.tz);
    match known {
        Some(first) if first <= at_ms => return Ok(()),
        Some(first) => ctx
            .counters
            .bump(slug, day, metric::RESPONSE_MS, at_ms - first),
        None => {
            ctx.counters.bump(slug, day, metric::FOLLOWED_UP, 1);
            let response = at_ms - lead.received_at.as_millisecond();
            ctx.counters.bump(slug, day, metric::RESPONSE_MS, response);
        }
    }
    t.follow_ups.insert(id, at_ms).map_err(storage)?;
    let deadline = t
        .lead_deadlines
        .get(id)
        .map_err(storage)?
        .map(|v| v.value());
    let Some((deadline, counted)) = deadline else {
        return Ok(());
    };
    // Met or missed, the deadline no longer waits for the check.
    t.deadlines.remove((deadline, id)).map_err(storage)?;
    let late = at_ms > deadline;
    if late && !counted {
        overdue(t, ctx, lead)?;
    } else if !late && counted {
        ctx.counters.bump(slug, day, metric::OVERDUE, -1);
    }
    t.lead_deadlines
        .insert(id, (deadline, late))
        .map_err(storage)?;
    Ok(())
}

/// Counts `lead` as overdue and tells the destinations, once: the caller has just taken
/// its deadline off the waiting list, or found it unmarked.
fn overdue(t: &mut Tables<'_>, ctx: &WriteContext, lead: &Lead) -> Result<()> {
    let day = day_number(lead.received_at, &ctx.tz);
    ctx.counters
        .bump(lead.campaign.as_str(), day, metric::OVERDUE, 1);
    let record = encode_record(lead, "lead")?;
    outbox::append_lead(t, EventType::LeadOverdue, lead, &record)
}

/// Whether any lead's deadline is at or before `now` and not yet fired.
pub fn any_due(txn: &ReadTransaction, now: jiff::Timestamp) -> Result<bool> {
    let deadlines = txn.open_table(tables::DEADLINES).map_err(storage)?;
    let first = deadlines.first().map_err(storage)?;
    Ok(first.is_some_and(|(key, _)| key.value().0 <= now.as_millisecond()))
}

/// Leads whose deadline is at or before `now` and that nobody followed up: each is counted
/// overdue and emits one `lead.overdue`. Returns how many. At most `limit` a call, so one
/// transaction stays short after a long outage; the next call takes the rest.
pub fn fire_due(
    t: &mut Tables<'_>,
    ctx: &WriteContext,
    now: jiff::Timestamp,
    limit: usize,
) -> Result<usize> {
    let due: Vec<(i64, u128)> = t
        .deadlines
        .range(..=(now.as_millisecond(), u128::MAX))
        .map_err(storage)?
        .take(limit)
        .map(|entry| entry.map(|(key, _)| key.value()).map_err(storage))
        .collect::<Result<_>>()?;
    for &(deadline, id) in &due {
        t.deadlines.remove((deadline, id)).map_err(storage)?;
        // A lead erased meanwhile has nothing left to remind of.
        let Ok(lead) = read_lead(t, LeadId::from_u128(id)) else {
            t.lead_deadlines.remove(id).map_err(storage)?;
            continue;
        };
        t.lead_deadlines
            .insert(id, (deadline, true))
            .map_err(storage)?;
        overdue(t, ctx, &lead)?;
    }
    Ok(due.len())
}

/// A lead's activities, in the order they happened.
pub fn activities(txn: &ReadTransaction, lead: LeadId) -> Result<Vec<Activity>> {
    let table = txn.open_table(tables::ACTIVITIES).map_err(storage)?;
    let key = lead.to_u128();
    let mut found = Vec::new();
    for entry in table
        .range((key, i64::MIN, 0)..=(key, i64::MAX, u128::MAX))
        .map_err(storage)?
    {
        let (_, bytes) = entry.map_err(storage)?;
        found.push(decode_record(bytes.value(), "activity")?);
    }
    Ok(found)
}

/// What the console's leads page shows of a lead's follow-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub activities: usize,
    /// The earlier of its first activity and its first status change away from `new`.
    pub first: Option<jiff::Timestamp>,
    /// When it should be followed up by, if its campaign has `follow_up_hours`.
    pub deadline: Option<jiff::Timestamp>,
    /// Counted overdue: followed up after the deadline, or reminded of as not followed up.
    pub overdue: bool,
}

/// The follow-up of each of `leads` (a page of them), by key lookups and one short range
/// each: no lead is read.
pub fn summaries(txn: &ReadTransaction, leads: &[LeadId]) -> Result<Vec<Summary>> {
    let activities = txn.open_table(tables::ACTIVITIES).map_err(storage)?;
    let follow_ups = txn.open_table(tables::FOLLOW_UPS).map_err(storage)?;
    let deadlines = txn.open_table(tables::LEAD_DEADLINES).map_err(storage)?;
    let time = |ms: i64| jiff::Timestamp::from_millisecond(ms).ok();
    leads
        .iter()
        .map(|lead| {
            let key = lead.to_u128();
            let count = activities
                .range((key, i64::MIN, 0)..=(key, i64::MAX, u128::MAX))
                .map_err(storage)?
                .count();
            let first = follow_ups.get(key).map_err(storage)?.map(|v| v.value());
            let deadline = deadlines.get(key).map_err(storage)?.map(|v| v.value());
            Ok(Summary {
                activities: count,
                first: first.and_then(time),
                deadline: deadline.and_then(|(at, _)| time(at)),
                overdue: deadline.is_some_and(|(_, counted)| counted),
            })
        })
        .collect()
}
