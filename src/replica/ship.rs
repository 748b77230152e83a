//! Ships one batch of outbox events in ONE PostgreSQL transaction: the events, the
//! leads they carry, erasures, and the node's shipped sequence number. Every row is
//! keyed and the node's row is locked and read first, so a batch retried after a lost
//! answer (or after a crash before the node recorded it) changes nothing: exactly once in
//! effect. The batch travels once, by binary `COPY` into a temporary table, and each
//! statement reads its rows from there: a batch is a handful of round trips, not one
//! per event.

use deadpool_postgres::{Client, Transaction};
use serde_json::Value;
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
    /// The keyed rows of `leadgate.leads` and `leadgate.counters` it writes (a lead's id;
    /// a counter row's campaign, day and metric), hashed: whether two batches write a row
    /// in common ([`apart`]). `None` when that cannot be told (counter rows that do not
    /// parse).
    rows: Option<Vec<u64>>,
}

impl Outgoing {
    pub fn new(seq: u64, event: Event, name_of: crate::lead::NameOf<'_>) -> Outgoing {
        let (data, contact, rows) = match event.data {
            Data::Lead(lead) => (
                lead.to_json(name_of).to_string(),
                Some(super::contact_hash(&lead.contact)),
                Some(vec![row_hash(&[&lead.id.to_string()])]),
            ),
            // Written by serde_json, so it is JSON; should it not be, PostgreSQL would
            // refuse the batch for ever: ship `null`, as destinations get it.
            Data::Json(text) if is_json(&text) => {
                let rows = match event.kind {
                    EventType::CountersChanged => counter_rows(&text),
                    _ => Some(Vec::new()),
                };
                (text, None, rows)
            }
            Data::Json(_) => ("null".to_owned(), None, Some(Vec::new())),
        };
        Outgoing {
            seq,
            kind: event.kind,
            id: event.id.to_string(),
            occurred_at: crate::lead::format_timestamp(event.occurred_at),
            data,
            contact,
            rows,
        }
    }

    /// The lead ids a `contact.erased` names.
    fn erased_leads(&self) -> Vec<String> {
        if self.kind != EventType::ContactErased {
            return Vec::new();
        }
        let data: Value = serde_json::from_str(&self.data).unwrap_or(Value::Null);
        match data {
            Value::Object(mut fields) => match fields.remove("lead_ids") {
                Some(Value::Array(ids)) => ids
                    .into_iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

/// The counter rows a `counters.changed` sets, hashed by key (see [`Outgoing::rows`]).
fn counter_rows(data: &str) -> Option<Vec<u64>> {
    #[derive(serde::Deserialize)]
    struct Rows<'a> {
        #[serde(borrow)]
        rows: Vec<Row<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Row<'a> {
        #[serde(borrow)]
        campaign: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        day: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        metric: std::borrow::Cow<'a, str>,
    }
    let parsed: Rows = serde_json::from_str(data).ok()?;
    let hashes = parsed.rows.iter();
    Some(
        hashes
            .map(|r| row_hash(&[&r.campaign, &r.day, &r.metric]))
            .collect(),
    )
}

/// A row's key, hashed. Two keys hashing alike only make two batches ship one after the
/// other, as they would if they shared the row.
fn row_hash(key: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// Whether `text` is one JSON value (checked without building it).
fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// The highest sequence number of `node` in PostgreSQL (0 before its first batch).
pub async fn shipped_seq(
    client: &tokio_postgres::Client,
    node: &str,
) -> Result<u64, tokio_postgres::Error> {
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
    run(
        &txn,
        "INSERT INTO leadgate.nodes (node, seq, seen_at) VALUES ($1, 0, now())
         ON CONFLICT (node) DO NOTHING",
        &[&node],
    )
    .await?;
    let shipped = lock_node(&txn, node).await?.unwrap_or(0).max(0) as u64;
    let fresh: Vec<&Outgoing> = batch.iter().filter(|e| e.seq > shipped).collect();
    let Some(last) = fresh.last().map(|e| e.seq) else {
        txn.commit().await?;
        return Ok(shipped);
    };
    stage(&txn, &fresh).await?;
    insert_events(&txn, node).await?;
    let all = Apart {
        leads: true,
        counters: true,
    };
    write_rows(&txn, node, &fresh, all).await?;
    finish(txn, node, &fresh, last).await?;
    Ok(last)
}

/// Ships `batch`, which follows `previous`, a batch another connection is still
/// committing (the worker ships two batches at once while catching up, on two
/// connections): copies it and writes its events, and the rows `apart` allows (the
/// worker's [`apart`] of the two), meanwhile, then waits for that commit on the node's
/// row and does the rest. Rows written before the wait are ones `previous`
/// cannot touch, so neither transaction waits for the other in a circle. Returns
/// `None`, shipping nothing, unless PostgreSQL then has exactly the events up to the end
/// of `previous` (it failed, or another process shipped for the node): the worker goes on
/// from what PostgreSQL has.
pub async fn ship_next(
    client: &mut Client,
    node: &str,
    batch: &[Outgoing],
    previous: &[Outgoing],
    apart: Apart,
) -> Result<Option<u64>, tokio_postgres::Error> {
    let Some(after) = previous.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let fresh: Vec<&Outgoing> = batch.iter().filter(|e| e.seq > after).collect();
    let Some(last) = fresh.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let txn = client.transaction().await?;
    stage(&txn, &fresh).await?;
    insert_events(&txn, node).await?;
    write_rows(&txn, node, &fresh, apart).await?;
    // Waits for the other batch's commit (or rollback), then reads what it left.
    let shipped = lock_node(&txn, node).await?;
    if shipped != Some(after as i64) {
        txn.rollback().await?;
        return Ok(None);
    }
    let rest = Apart {
        leads: !apart.leads,
        counters: !apart.counters,
    };
    write_rows(&txn, node, &fresh, rest).await?;
    finish(txn, node, &fresh, last).await?;
    Ok(Some(last))
}

/// Which of `batch`'s rows can be written before `previous` commits: its leads, its
/// counter rows. Those of a table where it writes none of the rows `previous` writes
/// (whose transaction would otherwise wait for this one's row while this one waits for
/// its commit); its leads only if `previous` erases no one (an erasure blanks lead rows by
/// contact, whichever batch wrote them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Apart {
    pub leads: bool,
    pub counters: bool,
}

/// [`Apart`] for two batches. Hashes a whole batch: for the blocking pool.
pub fn apart(batch: &[Outgoing], previous: &[Outgoing]) -> Apart {
    // No second batch (a node keeping up): nothing to hash.
    if batch.is_empty() {
        return Apart {
            leads: true,
            counters: true,
        };
    }
    let counters = |e: &&Outgoing| e.kind == EventType::CountersChanged;
    let erases = previous.iter().any(|e| e.kind == EventType::ContactErased);
    Apart {
        leads: !erases && rows_apart(batch, previous, |e| !counters(e)),
        counters: rows_apart(batch, previous, counters),
    }
}

/// Whether the events `of` picks in `batch` write none of the rows those of `previous` do.
fn rows_apart(batch: &[Outgoing], previous: &[Outgoing], of: impl Fn(&&Outgoing) -> bool) -> bool {
    let mut earlier: std::collections::HashSet<u64> = std::collections::HashSet::new();
    for rows in previous.iter().filter(&of).map(|e| e.rows.as_deref()) {
        let Some(rows) = rows else { return false };
        earlier.extend(rows.iter().copied());
    }
    batch.iter().filter(&of).all(|e| {
        e.rows
            .as_ref()
            .is_some_and(|rows| rows.iter().all(|r| !earlier.contains(r)))
    })
}

/// The batch's leads and (when `counters`) counter rows.
async fn write_rows(
    txn: &Transaction<'_>,
    node: &str,
    fresh: &[&Outgoing],
    write: Apart,
) -> Result<(), tokio_postgres::Error> {
    if write.leads {
        upsert_leads(txn, node).await?;
    }
    if write.counters && fresh.iter().any(|e| e.kind == EventType::CountersChanged) {
        upsert_counters(txn, node).await?;
    }
    Ok(())
}

/// Runs `sql`, prepared once per connection: every batch runs the same dozen statements,
/// and parsing and planning each one again is most of what a small batch (a node keeping
/// up with its leads) costs PostgreSQL.
async fn run(
    txn: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = txn.prepare_cached(sql).await?;
    txn.execute(&statement, params).await
}

/// Locks the node's row in `leadgate.nodes` until the transaction ends (a second
/// transaction shipping for the node waits here, then sees what this one shipped), and
/// reads its `seq` (`None`: no row).
async fn lock_node(
    txn: &Transaction<'_>,
    node: &str,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let statement = txn
        .prepare_cached("SELECT seq FROM leadgate.nodes WHERE node = $1 FOR UPDATE")
        .await?;
    Ok(txn
        .query_opt(&statement, &[&node])
        .await?
        .map(|row| row.get(0)))
}

/// The rest of a batch once its events, leads and counters are in and the node's row is
/// locked: its contacts' first leads, the other rows its events carry, then the node's
/// position, committed together.
async fn finish(
    txn: Transaction<'_>,
    node: &str,
    fresh: &[&Outgoing],
    last: u64,
) -> Result<(), tokio_postgres::Error> {
    note_first_leads(&txn).await?;
    erase(&txn, node, fresh).await?;
    // Statements only for what the batch holds: a stream of leads costs no more.
    let has = |kind: EventType| fresh.iter().any(|e| e.kind == kind);
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
    run(
        &txn,
        "UPDATE leadgate.nodes SET seq = greatest(seq, $2), seen_at = now() WHERE node = $1",
        &[&node, &(last as i64)],
    )
    .await?;
    txn.commit().await
}

/// Copies the batch into `pg_temp.leadgate_batch` (binary `COPY`), which the statements
/// below read: each event's JSON is parsed once, by the copy, however many statements
/// read it. The table is the connection's own and empties at commit (or rollback).
async fn stage(txn: &Transaction<'_>, events: &[&Outgoing]) -> Result<(), tokio_postgres::Error> {
    // Quietly: after a connection's first batch the table exists, and PostgreSQL's
    // notice saying so would be logged for every batch. `first_leads_by`: this
    // transaction notes its first leads itself ([`note_first_leads`], schema migration 6).
    txn.batch_execute(
        "SET LOCAL client_min_messages = warning;
         SET LOCAL leadgate.first_leads_by = 'batch';
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

/// A plain insert, without `ON CONFLICT`'s cost on every row: a batch holds only events
/// above the node's `seq`, read under the node's row lock, so none is there already.
/// Should one be (another process shipping as this node, or `ship_next`'s events after
/// such a process shipped them), its id refuses the batch and the worker goes on from
/// what PostgreSQL has.
async fn insert_events(txn: &Transaction<'_>, node: &str) -> Result<(), tokio_postgres::Error> {
    run(
        txn,
        "INSERT INTO leadgate.events (id, node, seq, type, occurred_at, data)
         SELECT e.id, $1, e.seq, e.type, e.occurred_at::timestamptz, e.data
         FROM pg_temp.leadgate_batch AS e",
        &[&node],
    )
    .await?;
    Ok(())
}

/// The events that carry a lead as it is now (lead.created, lead.updated, lead.overdue)
/// upsert it: one row per lead, its latest state (an upsert may not touch a row twice),
/// and never over a newer one or an erased one.
async fn upsert_leads(txn: &Transaction<'_>, node: &str) -> Result<(), tokio_postgres::Error> {
    run(
        txn,
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

/// Each contact's first lead anywhere (earliest received, ties by lead id), as the
/// trigger of schema migration 3 keeps it for other writers, from the batch's lead events:
/// a lead's contact and time never change, so a lead whose row was not updated (a newer
/// version is there, or it was erased) counts as the one there. Run once the batch holds
/// the node's row, and in contact order, so that batches of any two nodes lock the
/// contacts they share alike.
async fn note_first_leads(txn: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    run(
        txn,
        "INSERT INTO leadgate.first_leads (contact, lead, campaign, received_at)
         SELECT DISTINCT ON (e.contact COLLATE \"C\") e.contact, l->>'id', l->>'campaign',
             (l->>'received_at')::timestamptz
         FROM pg_temp.leadgate_batch AS e,
              LATERAL (SELECT e.data AS l) AS lead
         WHERE e.type IN ('lead.created', 'lead.updated', 'lead.overdue')
           AND e.contact IS NOT NULL AND l->>'id' IS NOT NULL
           AND l->>'received_at' IS NOT NULL
         ORDER BY e.contact COLLATE \"C\", (l->>'received_at')::timestamptz,
             l->>'id' COLLATE \"C\"
         ON CONFLICT (contact) DO UPDATE SET lead = excluded.lead,
             campaign = excluded.campaign, received_at = excluded.received_at
         WHERE (excluded.received_at, excluded.lead)
             < (leadgate.first_leads.received_at, leadgate.first_leads.lead)",
        &[],
    )
    .await?;
    Ok(())
}

/// A `contact.erased` blanks the contact's leads (and the lead events that held their
/// details) and marks them `erased`.
async fn erase(
    txn: &Transaction<'_>,
    node: &str,
    events: &[&Outgoing],
) -> Result<(), tokio_postgres::Error> {
    let ids: Vec<String> = events.iter().flat_map(|e| e.erased_leads()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    run(
        txn,
        "UPDATE leadgate.leads SET name = NULL, phone = NULL, email = NULL, company = NULL,
             fields = NULL, erased = true
         WHERE node = $1 AND id = ANY($2)",
        &[&node, &ids],
    )
    .await?;
    super::erasures::blank_lead_events(txn, &ids).await
}

/// `counters.changed` sets each day row to the value the node's latest event gives it.
async fn upsert_counters(txn: &Transaction<'_>, node: &str) -> Result<(), tokio_postgres::Error> {
    run(
        txn,
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
async fn upsert_campaigns(txn: &Transaction<'_>, node: &str) -> Result<(), tokio_postgres::Error> {
    run(
        txn,
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
async fn record_costs(txn: &Transaction<'_>, node: &str) -> Result<(), tokio_postgres::Error> {
    run(
        txn,
        "INSERT INTO leadgate.cost_deletions (id, campaign, node, deleted_at, txid)
         SELECT e.data->>'id', e.data->>'campaign', $1, e.occurred_at::timestamptz,
             pg_current_xact_id()::text::bigint
         FROM pg_temp.leadgate_batch AS e
         WHERE e.type = 'cost.deleted'
         ON CONFLICT (id) DO NOTHING",
        &[&node],
    )
    .await?;
    run(
        txn,
        "DELETE FROM leadgate.costs
         WHERE id IN (SELECT d.id FROM leadgate.cost_deletions d
                      WHERE d.txid = pg_current_xact_id()::text::bigint)",
        &[],
    )
    .await?;
    run(
        txn,
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
    txn: &Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    run(
        txn,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: EventType, data: &str, rows: Option<Vec<u64>>) -> Outgoing {
        Outgoing {
            seq,
            kind,
            id: format!("event-{seq}"),
            occurred_at: "2026-03-01T10:00:00.000Z".into(),
            data: data.into(),
            contact: None,
            rows,
        }
    }

    fn lead(seq: u64, id: &str) -> Outgoing {
        event(
            seq,
            EventType::LeadCreated,
            "{}",
            Some(vec![row_hash(&[id])]),
        )
    }

    fn counters(seq: u64, rows: &str) -> Outgoing {
        let data = format!(r#"{{"rows": [{rows}]}}"#);
        let hashed = counter_rows(&data);
        event(seq, EventType::CountersChanged, &data, hashed)
    }

    const EXPO_LEADS: &str =
        r#"{"campaign": "expo", "day": "2026-03-01", "metric": "leads", "value": 3}"#;
    const EXPO_MQLS: &str =
        r#"{"campaign": "expo", "day": "2026-03-01", "metric": "mqls", "value": 1}"#;

    #[test]
    fn batches_writing_no_row_in_common_are_apart() {
        let first = [lead(1, "A"), counters(2, EXPO_LEADS)];
        let second = [lead(3, "B"), counters(4, EXPO_MQLS)];
        let both = Apart {
            leads: true,
            counters: true,
        };
        assert_eq!(apart(&second, &first), both);
    }

    #[test]
    fn a_lead_or_a_counter_row_in_both_batches_keeps_that_table_in_order() {
        let first = [lead(1, "A"), counters(2, EXPO_LEADS)];
        let only_counters = Apart {
            leads: false,
            counters: true,
        };
        let only_leads = Apart {
            leads: true,
            counters: false,
        };
        let second = [lead(3, "A"), counters(4, EXPO_MQLS)];
        assert_eq!(apart(&second, &first), only_counters, "the same lead");
        // The same key, another value, escaped or not.
        let again =
            r#"{"campaign": "\u0065xpo", "day": "2026-03-01", "metric": "leads", "value": 9}"#;
        let second = [lead(3, "B"), counters(4, again)];
        assert_eq!(apart(&second, &first), only_leads, "the same counter row");
    }

    #[test]
    fn an_erasure_or_rows_that_cannot_be_told_keep_batches_in_order() {
        let erasure = event(2, EventType::ContactErased, "{}", Some(Vec::new()));
        assert!(!apart(&[lead(3, "B")], &[lead(1, "A"), erasure]).leads);
        let unreadable = counters(2, "not rows");
        assert_eq!(unreadable.rows, None);
        let second = [lead(3, "B"), counters(4, EXPO_MQLS)];
        let only_leads = Apart {
            leads: true,
            counters: false,
        };
        assert_eq!(apart(&second, &[unreadable]), only_leads);
        assert!(!apart(&[counters(3, "nor these")], &[lead(1, "A")]).counters);
    }
}
