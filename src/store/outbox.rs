//! The outbox: every change other systems care about (a lead stored, a lead's status
//! changed, a conversion recorded) is also written as an event, in the same transaction as
//! the change. An acknowledged change is therefore never "stored but not sent", and a
//! failed commit sends nothing. Each consumer (a webhook, a chat robot, replication) keeps
//! a cursor; events every consumer has handled are dropped.
//!
//! While no consumer is registered, nothing is written: there is nobody to send to, and
//! a consumer receives only the events after it was registered.

use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};

use super::open::Tables;
use super::storage;
use super::tables;
use super::write::{decode_lead, decode_record, encode_record};
use crate::domain::LeadId;
use crate::error::{Error, Result};
use crate::lead::{Lead, NameOf};
use crate::schedule::Period;

/// meta key of the last sequence number given to an event (u64 LE): numbers keep rising
/// after the events that had them are dropped.
const SEQ_KEY: &str = "outbox_seq";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    LeadCreated,
    LeadUpdated,
    ConversionRecorded,
    ContactErased,
    // New types go last: postcard stores a variant as its position.
    LeadOverdue,
    ReportRoi,
    // Read by replication only (no destination can ask for them): the definitions every
    // node shares, and the node's counters.
    CampaignSaved,
    CostRecorded,
    CostDeleted,
    CountersChanged,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadCreated => "lead.created",
            EventType::LeadUpdated => "lead.updated",
            EventType::ConversionRecorded => "conversion.recorded",
            EventType::ContactErased => "contact.erased",
            EventType::LeadOverdue => "lead.overdue",
            EventType::ReportRoi => "report.roi",
            EventType::CampaignSaved => "campaign.saved",
            EventType::CostRecorded => "cost.recorded",
            EventType::CostDeleted => "cost.deleted",
            EventType::CountersChanged => "counters.changed",
        }
    }
}

/// An event as read back. The node id is added when it is sent (it names this node, which
/// does not change while its events wait).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// A ULID: a repeat of a delivery carries the same id.
    pub id: LeadId,
    pub kind: EventType,
    pub occurred_at: jiff::Timestamp,
    /// The campaign it is about, for destinations that want some campaigns only: the
    /// lead's, or for a conversion the campaign of the contact's latest lead.
    pub campaign: Option<String>,
    pub data: Data,
    /// The one destination this event is for (a scheduled report), whatever the
    /// destinations' filters say; `None`: every destination whose filters take it.
    pub target: Option<LeadId>,
    /// For a `report.roi`: which schedule sent it, and for which period.
    pub report: Option<ReportAbout>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A lead as it was when the event happened. Its JSON is made when the event is sent:
    /// the writer's transaction, which every visitor's "thanks" waits for, only copies the
    /// lead's stored bytes.
    Lead(Box<Lead>),
    /// Anything else (a conversion, a report) as the API shows it, as JSON text.
    Json(String),
}

/// An event as stored (postcard). Fields are only ever added at the end, so an event
/// written by an older build reads as one of the shapes below.
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    id: LeadId,
    kind: EventType,
    #[serde(with = "crate::domain::compact_time")]
    occurred_at: jiff::Timestamp,
    campaign: Option<String>,
    /// JSON text; empty when `lead` holds what the event is about.
    data: String,
    target: Option<LeadId>,
    report: Option<ReportAbout>,
    /// The lead's record bytes, as in the leads table.
    lead: Option<Vec<u8>>,
}

/// What a `report.roi` event covers, shown beside its `data` (the `/api/roi` JSON, which
/// does not say its dates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportAbout {
    pub schedule: LeadId,
    pub period: Period,
    pub group_by: String,
}

impl ReportAbout {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "schedule": self.schedule,
            "every": self.period.every.as_str(),
            "period": self.period.label(),
            "from": self.period.first.to_string(),
            "to": self.period.last().to_string(),
            "group_by": self.group_by,
        })
    }
}

/// An event as written before events kept a lead's bytes.
#[derive(Deserialize)]
struct EventV2 {
    id: LeadId,
    kind: EventType,
    #[serde(with = "crate::domain::compact_time")]
    occurred_at: jiff::Timestamp,
    campaign: Option<String>,
    data: String,
    target: Option<LeadId>,
    report: Option<ReportAbout>,
}

/// An event as written before events had a target: it is for every destination whose
/// filters take it, as it was then.
#[derive(Deserialize)]
struct EventV1 {
    id: LeadId,
    kind: EventType,
    #[serde(with = "crate::domain::compact_time")]
    occurred_at: jiff::Timestamp,
    campaign: Option<String>,
    data: String,
}

/// A stored event, also one an older build wrote (each older shape lacks fields at the
/// end, so reading it as a newer one runs out of bytes).
fn decode_event(bytes: &[u8]) -> Result<Event> {
    let stored = decode_stored(bytes)?;
    let data = match stored.lead {
        Some(record) => Data::Lead(Box::new(decode_lead(&record)?)),
        None => Data::Json(stored.data),
    };
    Ok(Event {
        id: stored.id,
        kind: stored.kind,
        occurred_at: stored.occurred_at,
        campaign: stored.campaign,
        data,
        target: stored.target,
        report: stored.report,
    })
}

/// A stored event in the newest shape, whatever shape it was written in.
fn decode_stored(bytes: &[u8]) -> Result<StoredEvent> {
    let stored = match postcard::from_bytes::<StoredEvent>(bytes) {
        Ok(stored) => stored,
        Err(postcard::Error::DeserializeUnexpectedEnd) => {
            match postcard::from_bytes::<EventV2>(bytes) {
                Ok(old) => StoredEvent {
                    id: old.id,
                    kind: old.kind,
                    occurred_at: old.occurred_at,
                    campaign: old.campaign,
                    data: old.data,
                    target: old.target,
                    report: old.report,
                    lead: None,
                },
                Err(postcard::Error::DeserializeUnexpectedEnd) => {
                    let old: EventV1 = decode_record(bytes, "event")?;
                    StoredEvent {
                        id: old.id,
                        kind: old.kind,
                        occurred_at: old.occurred_at,
                        campaign: old.campaign,
                        data: old.data,
                        target: None,
                        report: None,
                        lead: None,
                    }
                }
                Err(e) => return Err(unreadable(e)),
            }
        }
        Err(e) => return Err(unreadable(e)),
    };
    Ok(stored)
}

fn unreadable(e: postcard::Error) -> Error {
    Error::internal(format!("a stored event cannot be read: {e}"))
}

impl Event {
    /// `{"id", "type", "occurred_at", "node", "data"}` as API.md gives it; a report adds
    /// `"report": {"schedule", "every", "period", "from", "to", "group_by"}` before `data`.
    /// `name_of` names a lead's salesperson (as they are called now).
    pub fn to_json(&self, node: &str, name_of: NameOf<'_>) -> serde_json::Value {
        let data = match &self.data {
            Data::Lead(lead) => lead.to_json(name_of),
            Data::Json(text) => serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        };
        let mut event = serde_json::json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "occurred_at": crate::lead::format_timestamp(self.occurred_at),
            "node": node,
        });
        if let Some(report) = &self.report {
            event["report"] = report.to_json();
        }
        event["data"] = data;
        event
    }
}

/// Whether any consumer is registered: events are written only then, and what only an
/// event needs need not be worked out otherwise.
pub fn listening(t: &Tables<'_>) -> Result<bool> {
    Ok(t.outbox_cursors.first().map_err(storage)?.is_some())
}

/// Appends an event about `campaign` in the writer's transaction, if any consumer is
/// registered (`data` is only made then).
pub fn append(
    t: &mut Tables<'_>,
    kind: EventType,
    campaign: Option<&str>,
    data: impl FnOnce(&Tables<'_>) -> serde_json::Value,
) -> Result<()> {
    if !listening(t)? {
        return Ok(());
    }
    let data = data(t).to_string();
    write(t, &new_event(kind, campaign, data, None))
}

/// Whether this node replicates to PostgreSQL (its consumer is registered): the events
/// only replication reads are written only then.
pub fn replicating(t: &Tables<'_>) -> Result<bool> {
    Ok(t.outbox_cursors
        .get(crate::replica::CONSUMER)
        .map_err(storage)?
        .is_some())
}

/// Appends an event only replication reads (a shared definition, counters), if this
/// node replicates (`data` is only made then).
pub fn append_for_replica(
    t: &mut Tables<'_>,
    kind: EventType,
    data: impl FnOnce() -> serde_json::Value,
) -> Result<()> {
    if !replicating(t)? {
        return Ok(());
    }
    write(t, &new_event(kind, None, data().to_string(), None))
}

/// The target of events for replication only although destinations take their kind (a
/// node's history, see `backfill`): no destination has this id.
pub const REPLICA_ONLY: LeadId = LeadId::NIL;

/// Appends an event for replication only (`data` JSON text, or a lead's record bytes).
pub(super) fn append_to_replica(
    t: &mut Tables<'_>,
    kind: EventType,
    data: String,
    lead: Option<Vec<u8>>,
) -> Result<()> {
    let event = StoredEvent {
        target: Some(REPLICA_ONLY),
        ..new_event(kind, None, data, lead)
    };
    write(t, &event)
}

/// Appends an event about a lead, given as its record's bytes, if any consumer is
/// registered.
pub fn append_lead(t: &mut Tables<'_>, kind: EventType, lead: &Lead, record: &[u8]) -> Result<()> {
    if !listening(t)? {
        return Ok(());
    }
    let event = new_event(
        kind,
        Some(lead.campaign.as_str()),
        String::new(),
        Some(record.to_vec()),
    );
    write(t, &event)
}

fn new_event(
    kind: EventType,
    campaign: Option<&str>,
    data: String,
    lead: Option<Vec<u8>>,
) -> StoredEvent {
    StoredEvent {
        id: LeadId::generate(),
        kind,
        occurred_at: jiff::Timestamp::now(),
        campaign: campaign.map(str::to_owned),
        data,
        target: None,
        report: None,
        lead,
    }
}

/// Appends a scheduled report for the one destination `target` (its consumer is
/// registered with it, so unlike [`append`] this always writes). Returns the event's id.
pub fn append_report(
    t: &mut Tables<'_>,
    target: LeadId,
    report: ReportAbout,
    data: &serde_json::Value,
) -> Result<LeadId> {
    let event = StoredEvent {
        target: Some(target),
        report: Some(report),
        ..new_event(EventType::ReportRoi, None, data.to_string(), None)
    };
    let id = event.id;
    write(t, &event)?;
    Ok(id)
}

fn write(t: &mut Tables<'_>, event: &StoredEvent) -> Result<()> {
    let seq = last_seq(t)? + 1;
    t.outbox
        .insert(seq, encode_record(event, "event")?.as_slice())
        .map_err(storage)?;
    t.meta
        .insert(SEQ_KEY, seq.to_le_bytes().as_slice())
        .map_err(storage)?;
    t.events_appended = true;
    Ok(())
}

/// Rewrites the events still waiting in the outbox about erased leads (`leads`: id ->
/// the lead with the person's details blanked) and unlinked conversions (`conversions`:
/// id -> its JSON now). Rewritten in place, not dropped: sequence numbers have no gaps,
/// and a replica still learns that the lead existed (its counts stay) without who it was.
pub fn redact_pending(
    t: &mut Tables<'_>,
    leads: &std::collections::HashMap<u128, Lead>,
    conversions: &std::collections::HashMap<String, String>,
) -> Result<()> {
    if leads.is_empty() && conversions.is_empty() {
        return Ok(());
    }
    let mut rewritten = Vec::new();
    for entry in t.outbox.iter().map_err(storage)? {
        let (seq, bytes) = entry.map_err(storage)?;
        let mut event = decode_stored(bytes.value())?;
        let changed = match (&event.lead, event.kind) {
            (Some(record), _) => match leads.get(&decode_lead(record)?.id.to_u128()) {
                Some(redacted) => {
                    event.lead = Some(encode_record(redacted, "lead")?);
                    true
                }
                None => false,
            },
            (None, EventType::ConversionRecorded) => {
                match json_id(&event.data).and_then(|id| conversions.get(&id)) {
                    Some(now) => {
                        event.data = now.clone();
                        true
                    }
                    None => false,
                }
            }
            // A lead event written before events kept the lead's bytes holds its JSON.
            (None, EventType::LeadCreated | EventType::LeadUpdated | EventType::LeadOverdue) => {
                match json_id(&event.data)
                    .and_then(|id| LeadId::parse(&id))
                    .and_then(|id| leads.get(&id.to_u128()))
                {
                    Some(redacted) => {
                        event.data = redacted.to_json(&|_| None).to_string();
                        true
                    }
                    None => false,
                }
            }
            (None, _) => false,
        };
        if changed {
            rewritten.push((seq.value(), encode_record(&event, "event")?));
        }
    }
    for (seq, bytes) in rewritten {
        t.outbox.insert(seq, bytes.as_slice()).map_err(storage)?;
    }
    Ok(())
}

fn json_id(data: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    value.get("id")?.as_str().map(str::to_owned)
}

fn last_seq(t: &Tables<'_>) -> Result<u64> {
    let stored = t.meta.get(SEQ_KEY).map_err(storage)?;
    Ok(stored
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map_or(0, u64::from_le_bytes))
}

/// Registers `consumer`, which then receives the events written from now on. Registering
/// again keeps its place. Whether it is new.
pub fn register(t: &mut Tables<'_>, consumer: &str) -> Result<bool> {
    if consumer.is_empty() || consumer.len() > 128 {
        return Err(Error::internal("an outbox consumer needs a short name"));
    }
    if t.outbox_cursors.get(consumer).map_err(storage)?.is_some() {
        return Ok(false);
    }
    let seq = last_seq(t)?;
    t.outbox_cursors.insert(consumer, seq).map_err(storage)?;
    Ok(true)
}

/// `consumer`'s cursor within the writer's transaction.
pub fn current_cursor(t: &Tables<'_>, consumer: &str) -> Result<u64> {
    Ok(t.outbox_cursors
        .get(consumer)
        .map_err(storage)?
        .map_or(0, |v| v.value()))
}

/// Forgets `consumer` and drops the events nobody else waits for.
pub fn unregister(t: &mut Tables<'_>, consumer: &str) -> Result<()> {
    t.outbox_cursors.remove(consumer).map_err(storage)?;
    drop_handled(t)
}

/// Records that `consumer` has handled every event up to `seq`, and drops the events
/// every consumer has handled.
pub fn acknowledge(t: &mut Tables<'_>, consumer: &str, seq: u64) -> Result<()> {
    let Some(cursor) = t
        .outbox_cursors
        .get(consumer)
        .map_err(storage)?
        .map(|v| v.value())
    else {
        return Err(Error::not_found(
            "unknown_consumer",
            format!("no outbox consumer {consumer:?}"),
        ));
    };
    // Acknowledgements may arrive out of order (a retried batch): a cursor never goes back.
    if seq > cursor {
        t.outbox_cursors
            .insert(consumer, seq.min(last_seq(t)?))
            .map_err(storage)?;
        drop_handled(t)?;
    }
    Ok(())
}

/// Drops the events at or below the lowest cursor (all of them when no consumer is left).
fn drop_handled(t: &mut Tables<'_>) -> Result<()> {
    let mut lowest = u64::MAX;
    for entry in t.outbox_cursors.iter().map_err(storage)? {
        lowest = lowest.min(entry.map_err(storage)?.1.value());
    }
    let handled: Vec<u64> = t
        .outbox
        .range(..=lowest)
        .map_err(storage)?
        .map(|entry| entry.map(|(seq, _)| seq.value()).map_err(storage))
        .collect::<Result<_>>()?;
    for seq in handled {
        t.outbox.remove(seq).map_err(storage)?;
    }
    Ok(())
}

/// Up to `limit` events after `consumer`'s cursor, in order, with their sequence numbers.
pub fn pending(txn: &ReadTransaction, consumer: &str, limit: usize) -> Result<Vec<(u64, Event)>> {
    let Some(cursor) = cursor(txn, consumer)? else {
        return Err(Error::not_found(
            "unknown_consumer",
            format!("no outbox consumer {consumer:?}"),
        ));
    };
    after(txn, cursor, limit)
}

/// Up to `limit` events after `seq`, in order: how a relay reads on from where it is,
/// ahead of the cursor it stores now and then.
pub fn after(txn: &ReadTransaction, seq: u64, limit: usize) -> Result<Vec<(u64, Event)>> {
    let outbox = txn.open_table(tables::OUTBOX).map_err(storage)?;
    let mut events = Vec::new();
    for entry in outbox.range(seq + 1..).map_err(storage)?.take(limit) {
        let (seq, bytes) = entry.map_err(storage)?;
        events.push((seq.value(), decode_event(bytes.value())?));
    }
    Ok(events)
}

/// A consumer's cursor, if it is registered.
pub fn cursor(txn: &ReadTransaction, consumer: &str) -> Result<Option<u64>> {
    let cursors = txn.open_table(tables::OUTBOX_CURSORS).map_err(storage)?;
    Ok(cursors.get(consumer).map_err(storage)?.map(|v| v.value()))
}

/// The sequence number of the latest event (0 before the first).
pub fn latest(txn: &ReadTransaction) -> Result<u64> {
    let meta = txn.open_table(tables::META).map_err(storage)?;
    let stored = meta.get(SEQ_KEY).map_err(storage)?;
    Ok(stored
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map_or(0, u64::from_le_bytes))
}

/// Events a consumer has not handled yet. Sequence numbers have no gaps, so this is a
/// subtraction, not a count.
pub fn backlog(txn: &ReadTransaction, consumer: &str) -> Result<u64> {
    let cursor = cursor(txn, consumer)?.unwrap_or(0);
    Ok(latest(txn)?.saturating_sub(cursor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::Campaign;
    use crate::domain::{LeadStatus, Phone, Reach, Slug};
    use crate::faults::FaultSwitch;
    use crate::lead::{Channel, Details, Lead};
    use crate::store::{NewLead, Store};

    fn open(dir: &std::path::Path, faults: FaultSwitch) -> Store {
        let tz = jiff::tz::TimeZone::UTC;
        let options = crate::store::OpenOptions {
            faults,
            ..Default::default()
        };
        Store::open_with(&dir.join("s.redb"), tz, options).unwrap()
    }

    async fn campaign(store: &Store) {
        let body = serde_json::json!({"slug": "expo", "name": "Expo"});
        let forms = crate::forms::FormSet::builtin();
        let campaign =
            Campaign::create(body.as_object().unwrap(), &forms, jiff::Timestamp::now()).unwrap();
        store.create_campaign(campaign).await.unwrap();
    }

    fn lead(phone: &str, token: &str) -> NewLead {
        let details = Details {
            name: None,
            reach: Reach::Phone(Phone::parse(phone).unwrap()),
            company: None,
            fields: Default::default(),
            tracking: Default::default(),
        };
        let channel = Channel::Form {
            token: Some(token.to_owned()),
            json: true,
        };
        let slug = Slug::parse("expo").unwrap();
        NewLead {
            idempotency_key: channel.idempotency_key(&slug),
            lead: Lead::new(slug, details, &channel).unwrap(),
        }
    }

    fn kinds(events: &[(u64, Event)]) -> Vec<&'static str> {
        events.iter().map(|(_, e)| e.kind.as_str()).collect()
    }

    #[tokio::test]
    async fn changes_become_events_in_order_once_someone_listens() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), FaultSwitch::default());
        campaign(&store).await;
        // Before any consumer: nothing is kept.
        store.insert_lead(lead("13800138000", "t0")).await.unwrap();
        store.register_consumer("crm".into()).await.unwrap();
        assert!(
            store
                .pending_events("crm".into(), 10)
                .await
                .unwrap()
                .is_empty()
        );

        let first = store.insert_lead(lead("13800138001", "t1")).await.unwrap();
        // A replay and a status that does not change are no events.
        store.insert_lead(lead("13800138001", "t1")).await.unwrap();
        store
            .set_lead_status(first.id, LeadStatus::New, jiff::Timestamp::now())
            .await
            .unwrap();
        let updated = store
            .set_lead_status(first.id, LeadStatus::Mql, jiff::Timestamp::now())
            .await
            .unwrap();
        let input = crate::conversion::ConversionInput::from_json(
            serde_json::json!({"id": "d1", "lead_id": first.id.to_string(), "stage": "deal"})
                .as_object()
                .unwrap(),
            jiff::Timestamp::now(),
        )
        .unwrap();
        let (conversion, _) = store
            .upsert_conversion(input.clone(), jiff::Timestamp::now())
            .await
            .unwrap();
        store
            .upsert_conversion(input, jiff::Timestamp::now())
            .await
            .unwrap();

        let events = store.pending_events("crm".into(), 10).await.unwrap();
        assert_eq!(
            kinds(&events),
            ["lead.created", "lead.updated", "conversion.recorded"]
        );
        let seqs: Vec<u64> = events.iter().map(|(seq, _)| *seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        let shown = events[1].1.to_json("booth-1", &|_| None);
        assert_eq!(shown["node"], "booth-1");
        assert_eq!(shown["type"], "lead.updated");
        assert_eq!(shown["data"], updated.to_json(&|_| None));
        assert_eq!(
            events[2].1.to_json("n", &|_| None)["data"],
            conversion.to_json()
        );
        store.close().await;
    }

    #[test]
    fn an_event_stored_before_events_had_a_target_still_reads() {
        #[derive(Serialize)]
        struct Old {
            id: LeadId,
            kind: EventType,
            #[serde(with = "crate::domain::compact_time")]
            occurred_at: jiff::Timestamp,
            campaign: Option<String>,
            data: String,
        }
        let old = Old {
            id: LeadId::generate(),
            kind: EventType::LeadCreated,
            occurred_at: jiff::Timestamp::from_millisecond(1_700_000_000_000).unwrap(),
            campaign: Some("expo".into()),
            data: "{}".into(),
        };
        let event = decode_event(&postcard::to_allocvec(&old).unwrap()).unwrap();
        assert_eq!((event.id, event.kind), (old.id, old.kind));
        assert_eq!(event.campaign.as_deref(), Some("expo"));
        assert_eq!((event.target, event.report), (None, None));
    }

    #[test]
    fn an_event_stored_with_its_lead_as_json_still_reads() {
        #[derive(Serialize)]
        struct Old {
            id: LeadId,
            kind: EventType,
            #[serde(with = "crate::domain::compact_time")]
            occurred_at: jiff::Timestamp,
            campaign: Option<String>,
            data: String,
            target: Option<LeadId>,
            report: Option<ReportAbout>,
        }
        let old = Old {
            id: LeadId::generate(),
            kind: EventType::LeadCreated,
            occurred_at: jiff::Timestamp::from_millisecond(1_700_000_000_000).unwrap(),
            campaign: Some("expo".into()),
            data: r#"{"phone":"+8613800138000"}"#.into(),
            target: None,
            report: None,
        };
        let event = decode_event(&postcard::to_allocvec(&old).unwrap()).unwrap();
        assert_eq!(event.id, old.id);
        assert_eq!(event.data, Data::Json(old.data.clone()));
        assert_eq!(
            event.to_json("n", &|_| None)["data"]["phone"],
            "+8613800138000"
        );
    }

    #[test]
    fn a_report_says_its_period_beside_its_data() {
        let period = crate::schedule::Period::before(
            crate::schedule::Every::Weekly,
            jiff::civil::date(2026, 11, 30),
        );
        let schedule = LeadId::generate();
        let event = Event {
            id: LeadId::generate(),
            kind: EventType::ReportRoi,
            occurred_at: jiff::Timestamp::UNIX_EPOCH,
            campaign: None,
            data: Data::Json(r#"{"model":"last_touch"}"#.into()),
            target: Some(LeadId::generate()),
            report: Some(ReportAbout {
                schedule,
                period,
                group_by: "kind".into(),
            }),
        };
        let stored = StoredEvent {
            occurred_at: event.occurred_at,
            target: event.target,
            report: event.report.clone(),
            ..new_event(
                EventType::ReportRoi,
                None,
                r#"{"model":"last_touch"}"#.into(),
                None,
            )
        };
        let event = Event {
            id: stored.id,
            ..event
        };
        let bytes = encode_record(&stored, "event").unwrap();
        assert_eq!(decode_event(&bytes).unwrap(), event);
        let shown = event.to_json("hq", &|_| None);
        let keys: Vec<&String> = shown.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["id", "type", "occurred_at", "node", "report", "data"]
        );
        assert_eq!(shown["type"], "report.roi");
        assert_eq!(
            shown["report"],
            serde_json::json!({"schedule": schedule, "every": "weekly", "period": "2026-W48",
                "from": "2026-11-23", "to": "2026-11-29", "group_by": "kind"})
        );
        assert_eq!(shown["data"]["model"], "last_touch");
    }

    #[tokio::test]
    async fn a_failed_commit_writes_no_event() {
        let dir = tempfile::tempdir().unwrap();
        let faults = FaultSwitch::default();
        let store = open(dir.path(), faults.clone());
        campaign(&store).await;
        store.register_consumer("crm".into()).await.unwrap();
        faults.fail_commits(true);
        assert!(store.insert_lead(lead("13800138000", "t1")).await.is_err());
        faults.fail_commits(false);
        assert!(
            store
                .pending_events("crm".into(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        store.insert_lead(lead("13800138000", "t1")).await.unwrap();
        assert_eq!(store.event_backlog("crm".into()).await.unwrap(), 1);
        store.close().await;
    }

    #[tokio::test]
    async fn events_are_dropped_once_every_consumer_has_them_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), FaultSwitch::default());
        campaign(&store).await;
        store.register_consumer("crm".into()).await.unwrap();
        store.register_consumer("chat".into()).await.unwrap();
        for n in 0..3 {
            let phone = format!("1380013800{n}");
            store
                .insert_lead(lead(&phone, &format!("t{n}")))
                .await
                .unwrap();
        }
        let events = store.pending_events("crm".into(), 10).await.unwrap();
        let (second, last) = (events[1].0, events[2].0);
        store.acknowledge_events("crm".into(), last).await.unwrap();
        // A late acknowledgement does not move the cursor back.
        store
            .acknowledge_events("crm".into(), second)
            .await
            .unwrap();
        assert_eq!(store.event_backlog("crm".into()).await.unwrap(), 0);
        assert_eq!(
            store.event_backlog("chat".into()).await.unwrap(),
            3,
            "chat still waits"
        );
        store
            .acknowledge_events("chat".into(), second)
            .await
            .unwrap();
        assert!(store.acknowledge_events("nobody".into(), 1).await.is_err());
        store.close().await;

        // After a restart the rest is still there, and numbers keep rising.
        let store = open(dir.path(), FaultSwitch::default());
        let waiting = store.pending_events("chat".into(), 10).await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].0, last);
        assert_eq!(waiting[0].1, events[2].1, "the same event, id and all");
        store.unregister_consumer("chat".into()).await.unwrap();
        store.insert_lead(lead("13800138009", "t9")).await.unwrap();
        let next = store.pending_events("crm".into(), 10).await.unwrap();
        assert_eq!(next.len(), 1);
        assert!(next[0].0 > last);
        store.unregister_consumer("crm".into()).await.unwrap();
        store.insert_lead(lead("13800138008", "t8")).await.unwrap();
        store.register_consumer("crm".into()).await.unwrap();
        assert!(
            store
                .pending_events("crm".into(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        store.close().await;
    }

    /// A store that held data before replication was registered queues it in steps of
    /// any size, each row once, for replication only; registering again queues nothing.
    #[tokio::test]
    async fn a_stores_history_is_queued_for_replication_once_whatever_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), FaultSwitch::default());
        campaign(&store).await;
        let mut leads = std::collections::BTreeSet::new();
        for n in 0..5 {
            let phone = format!("1380013800{n}");
            let outcome = store
                .insert_lead(lead(&phone, &format!("t{n}")))
                .await
                .unwrap();
            leads.insert(outcome.id);
        }
        for (id, lead_id) in [("d1", leads.first()), ("d2", leads.last())] {
            let input = crate::conversion::ConversionInput::from_json(
                serde_json::json!({"id": id, "lead_id": lead_id.unwrap().to_string(), "stage": "deal"})
                    .as_object()
                    .unwrap(),
                jiff::Timestamp::now(),
            )
            .unwrap();
            store
                .upsert_conversion(input, jiff::Timestamp::now())
                .await
                .unwrap();
        }
        store.register_replica().await.unwrap();
        let mut steps = 0;
        while !store.backfill_replica(1).await.unwrap() {
            steps += 1;
            assert!(steps < 100, "the walk ends");
        }
        let events = store.events_after(0, 100).await.unwrap();
        assert!(events.iter().all(|(_, e)| e.target == Some(REPLICA_ONLY)));
        let shipped: Vec<LeadId> = events
            .iter()
            .filter_map(|(_, e)| match &e.data {
                Data::Lead(lead) if e.kind == EventType::LeadCreated => Some(lead.id),
                _ => None,
            })
            .collect();
        assert_eq!(
            shipped
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            leads
        );
        assert_eq!(shipped.len(), 5, "each lead once");
        let count = |kind: EventType| events.iter().filter(|(_, e)| e.kind == kind).count();
        assert_eq!(count(EventType::CampaignSaved), 1);
        assert_eq!(count(EventType::ConversionRecorded), 2);
        assert!(count(EventType::CountersChanged) >= 1);
        assert!(steps >= 8, "one row a step: {steps}");

        store.register_replica().await.unwrap();
        assert!(store.backfill_replica(1000).await.unwrap());
        assert_eq!(
            store.events_after(0, 100).await.unwrap().len(),
            events.len()
        );
        store.close().await;
    }
}
