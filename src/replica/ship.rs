//! Ships one batch of outbox events in ONE PostgreSQL transaction: the events, the
//! leads they carry, erasures, and the node's shipped sequence number. Every row is
//! keyed and the node's row is locked and read first, so a batch retried after a lost
//! answer (or after a crash before the node recorded it) changes nothing: exactly once in
//! effect. The batch travels once, by binary `COPY` into a temporary table, and each
//! statement reads its rows from there: a batch is a handful of round trips, not one
//! per event.

use serde_json::Value;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, accepts, to_sql_checked};

use crate::store::outbox::{Data, Event, EventType};

/// An event ready to ship: its sequence number and the columns `leadgate.events` keeps,
/// as text. Only text: a batch waiting to ship (and the one read ahead) holds a few
/// strings per event, not the tree of JSON values a lead makes.
pub struct Outgoing {
    pub seq: u64,
    pub kind: EventType,
    /// The event's id (a ULID).
    id: String,
    /// When it happened, RFC 3339 as the API writes it.
    occurred_at: String,
    /// Its `data` as destinations get it, JSON text.
    data: String,
    /// For an event about a lead: its contact, as `leadgate.leads.contact` keeps it.
    contact: Option<String>,
}

impl Outgoing {
    pub fn new(seq: u64, event: Event, name_of: crate::lead::NameOf<'_>) -> Outgoing {
        let (data, contact) = match event.data {
            Data::Lead(lead) => (
                lead.to_json(name_of).to_string(),
                Some(super::contact_hash(&lead.contact)),
            ),
            // Written by serde_json, so it is JSON; should it not be, PostgreSQL would
            // refuse the batch for ever: ship `null`, as destinations get it.
            Data::Json(text) if is_json(&text) => (text, None),
            Data::Json(_) => ("null".to_owned(), None),
        };
        Outgoing {
            seq,
            kind: event.kind,
            id: event.id.to_string(),
            occurred_at: crate::lead::format_timestamp(event.occurred_at),
            data,
            contact,
        }
    }

    /// The lead ids a `contact.erased` names.
    fn erased_leads(&self) -> Vec<Value> {
        if self.kind != EventType::ContactErased {
            return Vec::new();
        }
        let data: Value = serde_json::from_str(&self.data).unwrap_or(Value::Null);
        match data {
            Value::Object(mut fields) => match fields.remove("lead_ids") {
                Some(Value::Array(ids)) => ids,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

/// Whether `text` is one JSON value (checked without building it).
fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// The highest sequence number of `node` in PostgreSQL (0 before its first batch).
pub async fn shipped_seq(client: &Client, node: &str) -> Result<u64, tokio_postgres::Error> {
    let row = client
        .query_opt("SELECT seq FROM leadgate.nodes WHERE node = $1", &[&node])
        .await?;
    Ok(row.map_or(0, |row| row.get::<_, i64>(0).max(0) as u64))
}

/// Ships `batch` (in sequence order) for `node`; returns the node's shipped sequence
/// number afterwards. Events at or below what PostgreSQL already has are skipped.
pub async fn ship(
    client: &mut Client,
    node: &str,
    batch: &[Outgoing],
) -> Result<u64, tokio_postgres::Error> {
    let txn = client.transaction().await?;
    txn.execute(
        "INSERT INTO leadgate.nodes (node, seq, seen_at) VALUES ($1, 0, now())
         ON CONFLICT (node) DO NOTHING",
        &[&node],
    )
    .await?;
    // Locked until commit: a second process shipping as the same node waits here, then
    // sees what this one shipped.
    let row = txn
        .query_one(
            "SELECT seq FROM leadgate.nodes WHERE node = $1 FOR UPDATE",
            &[&node],
        )
        .await?;
    let shipped = row.get::<_, i64>(0).max(0) as u64;
    let fresh: Vec<&Outgoing> = batch.iter().filter(|e| e.seq > shipped).collect();
    let Some(last) = fresh.last().map(|e| e.seq) else {
        txn.commit().await?;
        return Ok(shipped);
    };
    stage(&txn, &fresh).await?;
    insert_events(&txn, node).await?;
    finish(txn, node, &fresh, last).await?;
    Ok(last)
}

/// Ships `batch`, which follows events up to `after` that another connection is still
/// committing (the worker ships two batches at once while catching up, on two
/// connections): copies it and inserts its events meanwhile, then waits for that commit
/// on the node's row and does the rest. The rows written before the wait are new events
/// only (no lock the other transaction could wait for, so neither waits for the other in
/// a circle). Returns `None`, shipping nothing, unless PostgreSQL then has exactly the
/// events up to `after` (the other batch failed, or another process shipped for the
/// node): the worker goes on from what PostgreSQL has.
pub async fn ship_next(
    client: &mut Client,
    node: &str,
    batch: &[Outgoing],
    after: u64,
) -> Result<Option<u64>, tokio_postgres::Error> {
    let fresh: Vec<&Outgoing> = batch.iter().filter(|e| e.seq > after).collect();
    let Some(last) = fresh.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let txn = client.transaction().await?;
    stage(&txn, &fresh).await?;
    insert_events(&txn, node).await?;
    // Waits for the other batch's commit (or rollback), then reads what it left.
    let shipped = txn
        .query_opt(
            "SELECT seq FROM leadgate.nodes WHERE node = $1 FOR UPDATE",
            &[&node],
        )
        .await?
        .map(|row| row.get::<_, i64>(0));
    if shipped != Some(after as i64) {
        txn.rollback().await?;
        return Ok(None);
    }
    finish(txn, node, &fresh, last).await?;
    Ok(Some(last))
}

/// The rest of a batch once its events are in and the node's row is locked: the rows
/// its events carry, then the node's position, committed together.
async fn finish(
    txn: tokio_postgres::Transaction<'_>,
    node: &str,
    fresh: &[&Outgoing],
    last: u64,
) -> Result<(), tokio_postgres::Error> {
    upsert_leads(&txn, node).await?;
    erase(&txn, node, fresh).await?;
    // Statements only for what the batch holds: a stream of leads costs no more.
    let has = |kind: EventType| fresh.iter().any(|e| e.kind == kind);
    if has(EventType::CountersChanged) {
        upsert_counters(&txn, node).await?;
    }
    if has(EventType::CampaignSaved) {
        upsert_campaigns(&txn, node).await?;
    }
    if has(EventType::CostRecorded) || has(EventType::CostDeleted) {
        record_costs(&txn, node).await?;
    }
    if has(EventType::ConversionRecorded) {
        upsert_conversions(&txn, node).await?;
    }
    // Last: a conversion this batch wrote is unlinked too.
    if has(EventType::ContactErased) {
        super::erasures::ship(&txn, node).await?;
    }
    if has(EventType::LeadCreated) || has(EventType::LeadUpdated) {
        super::erasures::ship_late(&txn, node).await?;
    }
    txn.execute(
        "UPDATE leadgate.nodes SET seq = greatest(seq, $2), seen_at = now() WHERE node = $1",
        &[&node, &(last as i64)],
    )
    .await?;
    txn.commit().await
}

/// Copies the batch into `pg_temp.leadgate_batch` (binary `COPY`), which the statements
/// below read: each event's JSON is parsed once, by the copy, however many statements
/// read it. The table is the connection's own and empties at commit (or rollback).
async fn stage(
    txn: &tokio_postgres::Transaction<'_>,
    events: &[&Outgoing],
) -> Result<(), tokio_postgres::Error> {
    // Quietly: after a connection's first batch the table exists, and PostgreSQL's
    // notice saying so would be logged for every batch.
    txn.batch_execute(
        "SET LOCAL client_min_messages = warning;
         CREATE TEMPORARY TABLE IF NOT EXISTS leadgate_batch (
             id text, seq bigint, type text, occurred_at text, data jsonb, contact text
         ) ON COMMIT DELETE ROWS",
    )
    .await?;
    let sink = txn
        .copy_in(
            "COPY pg_temp.leadgate_batch (id, seq, type, occurred_at, data, contact)
             FROM STDIN BINARY",
        )
        .await?;
    let types = [
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
        Type::TEXT,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for event in events {
        let seq = event.seq as i64;
        writer
            .as_mut()
            .write(&[
                &event.id,
                &seq,
                &event.kind.as_str(),
                &event.occurred_at,
                &JsonbText(&event.data),
                &event.contact,
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// JSON text sent as `jsonb` in binary: the format's version byte, then the text.
#[derive(Debug)]
struct JsonbText<'a>(&'a str);

impl ToSql for JsonbText<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    accepts!(JSONB);
    to_sql_checked!();
}

async fn insert_events(
    txn: &tokio_postgres::Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "INSERT INTO leadgate.events (id, node, seq, type, occurred_at, data)
         SELECT e.id, $1, e.seq, e.type, e.occurred_at::timestamptz, e.data
         FROM pg_temp.leadgate_batch AS e
         ON CONFLICT (id) DO NOTHING",
        &[&node],
    )
    .await?;
    Ok(())
}

/// The events that carry a lead as it is now (lead.created, lead.updated, lead.overdue)
/// upsert it: one row per lead, its latest state (an upsert may not touch a row twice),
/// and never over a newer one or an erased one.
async fn upsert_leads(
    txn: &tokio_postgres::Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "INSERT INTO leadgate.leads (id, node, campaign, received_at, status, source, name,
             phone, email, company, fields, utm, click_ids, assigned_to, erased, seq, contact)
         SELECT DISTINCT ON (l->>'id') l->>'id', $1, l->>'campaign',
             (l->>'received_at')::timestamptz, l->>'status', l->>'source', l->>'name',
             l->>'phone', l->>'email', l->>'company', l->'fields', l->'utm', l->'click_ids',
             l->>'assigned_to', false, e.seq, e.contact
         FROM pg_temp.leadgate_batch AS e,
              LATERAL (SELECT e.data AS l) AS lead
         WHERE e.type IN ('lead.created', 'lead.updated', 'lead.overdue')
           AND l->>'id' IS NOT NULL
         ORDER BY l->>'id', e.seq DESC
         ON CONFLICT (id) DO UPDATE SET
             campaign = excluded.campaign, received_at = excluded.received_at,
             status = excluded.status, source = excluded.source, name = excluded.name,
             phone = excluded.phone, email = excluded.email, company = excluded.company,
             fields = excluded.fields, utm = excluded.utm, click_ids = excluded.click_ids,
             assigned_to = excluded.assigned_to, seq = excluded.seq,
             contact = excluded.contact
         WHERE leadgate.leads.seq < excluded.seq AND NOT leadgate.leads.erased",
        &[&node],
    )
    .await?;
    Ok(())
}

/// A `contact.erased` blanks the contact's leads (and the lead events that held their
/// details) and marks them `erased`.
async fn erase(
    txn: &tokio_postgres::Transaction<'_>,
    node: &str,
    events: &[&Outgoing],
) -> Result<(), tokio_postgres::Error> {
    let ids: Vec<Value> = events.iter().flat_map(|e| e.erased_leads()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let ids = Value::Array(ids).to_string();
    txn.execute(
        "UPDATE leadgate.leads SET name = NULL, phone = NULL, email = NULL, company = NULL,
             fields = NULL, erased = true
         WHERE node = $1 AND id IN (SELECT jsonb_array_elements_text($2::text::jsonb))",
        &[&node, &ids],
    )
    .await?;
    txn.execute(
        "UPDATE leadgate.events SET data = jsonb_build_object('id', data->'id', 'erased', true)
         WHERE node = $1 AND type LIKE 'lead.%'
           AND (data->>'id') COLLATE \"C\" IN (SELECT jsonb_array_elements_text($2::text::jsonb))",
        &[&node, &ids],
    )
    .await?;
    Ok(())
}

/// `counters.changed` sets each day row to the value the node's latest event gives it.
async fn upsert_counters(
    txn: &tokio_postgres::Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "INSERT INTO leadgate.counters (node, campaign, day, metric, value)
         SELECT DISTINCT ON (c->>'campaign', c->>'day', c->>'metric')
             $1, c->>'campaign', (c->>'day')::date, c->>'metric', (c->>'value')::bigint
         FROM pg_temp.leadgate_batch AS e,
              LATERAL jsonb_array_elements(
                  CASE WHEN e.type = 'counters.changed' THEN e.data->'rows' END) AS c
         ORDER BY c->>'campaign', c->>'day', c->>'metric', e.seq DESC
         ON CONFLICT (node, campaign, day, metric) DO UPDATE SET value = excluded.value",
        &[&node],
    )
    .await?;
    Ok(())
}

/// The latest `updated_at` wins, ties by node id: a node that saved a campaign earlier,
/// or shipped late (a booth back online), does not undo a later change made elsewhere.
/// A node's own later event wins at the same instant too (two saves within a clock tick,
/// shipped in two batches: the second is the newer).
async fn upsert_campaigns(
    txn: &tokio_postgres::Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "INSERT INTO leadgate.campaigns (slug, record, updated_at, node, txid)
         SELECT DISTINCT ON (e.data->>'slug') e.data->>'slug', e.data,
             (e.data->>'updated_at')::timestamptz, $1, pg_current_xact_id()::text::bigint
         FROM pg_temp.leadgate_batch AS e
         WHERE e.type = 'campaign.saved'
         ORDER BY e.data->>'slug', e.seq DESC
         ON CONFLICT (slug) DO UPDATE SET record = excluded.record,
             updated_at = excluded.updated_at, node = excluded.node, txid = excluded.txid
         WHERE (leadgate.campaigns.updated_at, coalesce(leadgate.campaigns.node, ''))
                 < (excluded.updated_at, excluded.node)
             OR (leadgate.campaigns.node = excluded.node
                 AND leadgate.campaigns.updated_at <= excluded.updated_at)",
        &[&node],
    )
    .await?;
    Ok(())
}

/// Cost entries are never changed, only added and deleted; a deletion is kept, so an
/// entry a late node ships again after another deleted it stays deleted.
async fn record_costs(
    txn: &tokio_postgres::Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "INSERT INTO leadgate.cost_deletions (id, campaign, node, deleted_at, txid)
         SELECT e.data->>'id', e.data->>'campaign', $1, e.occurred_at::timestamptz,
             pg_current_xact_id()::text::bigint
         FROM pg_temp.leadgate_batch AS e
         WHERE e.type = 'cost.deleted'
         ON CONFLICT (id) DO NOTHING",
        &[&node],
    )
    .await?;
    txn.execute(
        "DELETE FROM leadgate.costs
         WHERE id IN (SELECT d.id FROM leadgate.cost_deletions d
                      WHERE d.txid = pg_current_xact_id()::text::bigint)",
        &[],
    )
    .await?;
    txn.execute(
        "INSERT INTO leadgate.costs (id, campaign, incurred_on, amount, currency, note,
             created_at, node, txid)
         SELECT e.data->>'id', e.data->>'campaign', (e.data->>'incurred_on')::date,
             (e.data->>'amount')::numeric, e.data->>'currency', e.data->>'note',
             (e.data->>'created_at')::timestamptz, $1, pg_current_xact_id()::text::bigint
         FROM pg_temp.leadgate_batch AS e
         WHERE e.type = 'cost.recorded'
           AND NOT EXISTS (SELECT 1 FROM leadgate.cost_deletions d WHERE d.id = e.data->>'id')
         ON CONFLICT (id) DO NOTHING",
        &[&node],
    )
    .await?;
    Ok(())
}

/// Like campaigns: the latest `updated_at` wins, ties by node id.
async fn upsert_conversions(
    txn: &tokio_postgres::Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    txn.execute(
        "INSERT INTO leadgate.conversions (id, record, updated_at, node, txid)
         SELECT DISTINCT ON (e.data->>'id') e.data->>'id', e.data,
             (e.data->>'updated_at')::timestamptz, $1, pg_current_xact_id()::text::bigint
         FROM pg_temp.leadgate_batch AS e
         WHERE e.type = 'conversion.recorded'
         ORDER BY e.data->>'id', e.seq DESC
         ON CONFLICT (id) DO UPDATE SET record = excluded.record,
             updated_at = excluded.updated_at, node = excluded.node, txid = excluded.txid
         WHERE (leadgate.conversions.updated_at, coalesce(leadgate.conversions.node, ''))
                 < (excluded.updated_at, excluded.node)
             OR (leadgate.conversions.node = excluded.node
                 AND leadgate.conversions.updated_at <= excluded.updated_at)",
        &[&node],
    )
    .await?;
    Ok(())
}
