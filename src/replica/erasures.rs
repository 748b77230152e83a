//! A person's erasure on every node (API.md, "Privacy and backups": a contact seen on two
//! nodes is one contact). The node where the person asked erases its own copy; shipping
//! its `contact.erased` then, in the batch's transaction:
//!
//! - blanks every node's lead rows of the contact (by `leads.contact`, the hash that
//!   survives erasure; every contact the erasure names, when an e-mail named two) and the
//!   lead events that held their details;
//! - unlinks the contact's conversions: an anonymous contact and no lead, with the hash
//!   kept as `contact_hash` so that reports over every node credit exactly as before; the
//!   `conversion.recorded` events that held the contact get the same;
//! - records a `leadgate.erasures` row naming the other nodes' leads it blanked and the
//!   conversions it unlinked.
//!
//! A lead of the person received before the erasure but shipped after it (its node was
//! away) is blanked as it arrives and gets a row of its own ([`ship_late`]).
//!
//! Every other node reads those rows as it reads shared definitions, and erases the
//! listed leads it holds as the request would (its receipt says `replicated`), and takes
//! the unlinked state of its copies of the conversions. Only erasures at a person's
//! request travel: retention is each node's own rule, and a `replicated` erasure shipped
//! back finds nothing left to do, so an erasure does not echo between nodes.
//!
//! A retention erasure still leaves PostgreSQL as it left its node: its leads' rows are
//! blanked (`ship`'s `erase`), and the conversions it unlinked there lose the person here
//! too ([`unlink_retained`]), so the phone does not outlive the retention period in
//! PostgreSQL. Other nodes' rows and copies are left to their own rule.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio_postgres::Transaction;

use super::Shared;
use crate::domain::LeadId;
use crate::store::erasure::FromElsewhere;

/// The batch's erasures at a person's request (from `pg_temp.leadgate_batch`, see `ship`):
/// a row per contact erased, `first` the one the receipt names. An erasure by e-mail may
/// erase two contacts (the phone the address came with, and the address itself), and
/// every one of them is erased on every node; an event from before `contacts` was added
/// names its one contact.
const REQUESTED: &str = "SELECT e.id, c.contact, c.contact = e.data->>'contact' AS first,
        e.data->'conversion_ids' AS conversions
    FROM pg_temp.leadgate_batch AS e,
        jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.data->'contacts') = 'array'
            THEN e.data->'contacts' ELSE jsonb_build_array(e.data->>'contact') END)
            AS c(contact)
    WHERE e.type = 'contact.erased' AND e.data->>'reason' = 'request'";

/// The batch's erasures by the retention rule.
const RETAINED: &str = "SELECT e.id, e.data->>'contact' AS contact,
        e.data->'conversion_ids' AS conversions
    FROM pg_temp.leadgate_batch AS e
    WHERE e.type = 'contact.erased' AND e.data->>'reason' = 'retention'";

/// Carries the batch's erasures to PostgreSQL's rows: requested ones to every node's,
/// retention's to the conversions their node unlinked. Called by `ship` when the batch
/// holds a `contact.erased`, after its own rows were written.
pub async fn ship(txn: &Transaction<'_>, node: &str) -> Result<(), tokio_postgres::Error> {
    ship_requested(txn, node).await?;
    unlink_retained(txn).await
}

/// Carries the batch's requested erasures to every node's rows.
async fn ship_requested(txn: &Transaction<'_>, node: &str) -> Result<(), tokio_postgres::Error> {
    let blanked = txn
        .query(
            &format!(
                "WITH erasure AS ({REQUESTED})
                 UPDATE leadgate.leads AS l SET name = NULL, phone = NULL, email = NULL,
                     company = NULL, fields = NULL, erased = true
                 FROM erasure
                 WHERE l.contact = erasure.contact AND NOT l.erased
                 RETURNING erasure.id, l.node, l.id"
            ),
            &[],
        )
        .await?;
    let lead_ids: Vec<String> = blanked.iter().map(|row| row.get(2)).collect();
    blank_lead_events(txn, &lead_ids).await?;
    // Every conversion of the contact, whichever node recorded it: those the erasing node
    // unlinked (listed), and those it had not heard of yet (by the contact's hash, worked
    // out once per conversion still naming someone).
    let unlinked = txn
        .query(
            &format!(
                "WITH erasure AS ({REQUESTED}),
                 named AS (
                     SELECT id, encode(sha256(convert_to(record->>'contact', 'UTF8')), 'hex')
                         AS contact
                     FROM leadgate.conversions WHERE NOT record ? 'contact_hash'),
                 theirs AS (
                     SELECT named.id, erasure.id AS erasure, erasure.contact, 0 AS rank
                     FROM named JOIN erasure ON named.contact = erasure.contact
                     UNION
                     SELECT listed.id, erasure.id, erasure.contact, 1
                     FROM erasure, jsonb_array_elements_text(erasure.conversions) AS listed(id)
                     WHERE erasure.first)
                 UPDATE leadgate.conversions AS c SET
                     record = c.record || jsonb_build_object(
                         'contact', CASE WHEN c.record->>'contact' LIKE 'erased-%'
                             THEN c.record->>'contact' ELSE 'erased-' || t.erasure END,
                         'lead_id', NULL,
                         'contact_hash', t.contact),
                     node = $1, txid = pg_current_xact_id()::text::bigint
                 FROM (SELECT DISTINCT ON (id) * FROM theirs ORDER BY id, erasure, rank) AS t
                 WHERE c.id = t.id AND NOT c.record ? 'contact_hash'
                 RETURNING t.erasure, c.id"
            ),
            &[&node],
        )
        .await?;
    let conversion_ids: Vec<String> = unlinked.iter().map(|row| row.get(1)).collect();
    unlink_conversion_events(txn, &conversion_ids).await?;
    // Per erasure: the other nodes' leads blanked, the conversions unlinked, listed in the
    // row of its first contact. Its other contacts get a row each (`<id>:<contact>`,
    // listing nothing), so that a late lead of any of them is found (`ship_late`).
    let mut leads: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for row in &blanked {
        let of: &str = row.get(1);
        if of != node {
            leads
                .entry(row.get(0))
                .or_default()
                .push(json!({"node": of, "id": row.get::<_, String>(2)}));
        }
    }
    let mut conversions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &unlinked {
        conversions.entry(row.get(0)).or_default().push(row.get(1));
    }
    txn.execute(
        &format!(
            "INSERT INTO leadgate.erasures (id, contact, node, erased_at, leads, conversions,
                 txid)
             SELECT CASE WHEN e.first THEN e.id ELSE e.id || ':' || e.contact END, e.contact,
                 $1, (b.data->>'erased_at')::timestamptz,
                 CASE WHEN e.first THEN coalesce($2::text::jsonb -> e.id, '[]') ELSE '[]' END,
                 CASE WHEN e.first THEN coalesce($3::text::jsonb -> e.id, '[]') ELSE '[]' END,
                 pg_current_xact_id()::text::bigint
             FROM ({REQUESTED}) AS e JOIN pg_temp.leadgate_batch AS b ON b.id = e.id
             ON CONFLICT (id) DO NOTHING"
        ),
        &[
            &node,
            &json!(leads).to_string(),
            &json!(conversions).to_string(),
        ],
    )
    .await?;
    Ok(())
}

/// Unlinks the conversions the batch's retention erasures unlinked on their node, as a
/// request's erasure unlinks them: an anonymous contact, no lead, and the contact's hash
/// kept for the reports over every node. Only the listed ones, and only while their
/// record names the erased contact (or already nobody: an event redacted while it
/// waited); the row keeps its `node` and `txid`, so other nodes do not pull it again:
/// their copies are their own retention's business. The contact's lead rows were blanked
/// by `ship`'s `erase` (they are listed in the event).
async fn unlink_retained(txn: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let unlinked: Vec<String> = txn
        .query(
            &format!(
                "WITH erasure AS ({RETAINED}),
                 listed AS (
                     SELECT DISTINCT ON (ids.id) ids.id, erasure.id AS erasure,
                         erasure.contact
                     FROM erasure, jsonb_array_elements_text(erasure.conversions) AS ids(id)
                     ORDER BY ids.id, erasure.id)
                 UPDATE leadgate.conversions AS c SET
                     record = c.record || jsonb_build_object(
                         'contact', CASE WHEN c.record->>'contact' LIKE 'erased-%'
                             THEN c.record->>'contact' ELSE 'erased-' || t.erasure END,
                         'lead_id', NULL,
                         'contact_hash', t.contact)
                 FROM listed AS t
                 WHERE c.id = t.id AND NOT c.record ? 'contact_hash'
                   AND (c.record->>'contact' LIKE 'erased-%'
                     OR encode(sha256(convert_to(c.record->>'contact', 'UTF8')), 'hex')
                         = t.contact)
                 RETURNING c.id"
            ),
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    unlink_conversion_events(txn, &unlinked).await
}

/// Gives the stored `conversion.recorded` events of `conversion_ids` the unlinked contact
/// their records now hold (the events held the person's phone or e-mail).
async fn unlink_conversion_events(
    txn: &Transaction<'_>,
    conversion_ids: &[String],
) -> Result<(), tokio_postgres::Error> {
    if !conversion_ids.is_empty() {
        txn.execute(
            "UPDATE leadgate.events AS ev SET data = ev.data || jsonb_build_object(
                 'contact', c.record->'contact', 'lead_id', NULL)
             FROM leadgate.conversions AS c
             WHERE ev.type = 'conversion.recorded' AND ev.data->>'id' = c.id
               AND c.id = ANY($1)",
            &[&conversion_ids],
        )
        .await?;
    }
    Ok(())
}

/// Leads a node ships after another node erased their person, received before that
/// erasure (the node was away, or served before it replicated): blanked as they arrive,
/// each listed in an `erasures` row of its own (under the erasing node) so that the node
/// that shipped it erases it too when it reads the row. One index probe per lead event;
/// prepared once per connection, as `ship` runs it for every batch of leads.
pub async fn ship_late(
    txn: &deadpool_postgres::Transaction<'_>,
    node: &str,
) -> Result<(), tokio_postgres::Error> {
    let statement = txn
        .prepare_cached(
            "WITH late AS (
                 SELECT DISTINCT ON (b.data->>'id') b.data->>'id' AS id, x.id AS erasure,
                     x.node AS erased_by, x.contact, x.erased_at
                 FROM pg_temp.leadgate_batch AS b
                 JOIN leadgate.erasures AS x ON x.contact = b.contact
                 WHERE b.type IN ('lead.created', 'lead.updated', 'lead.overdue')
                   AND (b.data->>'received_at')::timestamptz <= x.erased_at
                 ORDER BY b.data->>'id', x.erased_at),
             blanked AS (
                 UPDATE leadgate.leads AS l SET name = NULL, phone = NULL, email = NULL,
                     company = NULL, fields = NULL, erased = true
                 FROM late WHERE l.id = late.id AND NOT l.erased
                 RETURNING late.id, late.erasure, late.erased_by, late.contact, late.erased_at)
             INSERT INTO leadgate.erasures (id, contact, node, erased_at, leads, conversions,
                 txid)
             SELECT erasure || ':' || id, contact, erased_by, erased_at,
                 jsonb_build_array(jsonb_build_object('node', $1::text, 'id', id)), '[]',
                 pg_current_xact_id()::text::bigint
             FROM blanked
             ON CONFLICT (id) DO NOTHING
             RETURNING leads->0->>'id'",
        )
        .await?;
    let late: Vec<String> = txn
        .query(&statement, &[&node])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    blank_lead_events(txn, &late).await?;
    Ok(())
}

/// The erasures other nodes shipped in transactions at or after `since` (see `pull`): for
/// each, this node's leads in it and the unlinked conversions as PostgreSQL holds them.
pub async fn read(
    txn: &Transaction<'_>,
    since: i64,
    node: &str,
) -> Result<Vec<FromElsewhere>, tokio_postgres::Error> {
    let mut erasures = Vec::new();
    for row in txn
        .query(
            "SELECT id, node, leads::text, conversions::text FROM leadgate.erasures
             WHERE txid >= $1 AND node IS DISTINCT FROM $2
             ORDER BY txid, id",
            &[&since, &node],
        )
        .await?
    {
        let leads: Vec<Value> = serde_json::from_str(row.get(2)).unwrap_or_default();
        let leads: Vec<LeadId> = leads
            .iter()
            .filter(|lead| lead["node"] == node)
            .filter_map(|lead| serde_json::from_value(lead["id"].clone()).ok())
            .collect();
        let ids: Vec<String> = serde_json::from_str(row.get(3)).unwrap_or_default();
        let mut conversions = Vec::new();
        if !ids.is_empty() {
            for found in txn
                .query(
                    "SELECT id, record::text FROM leadgate.conversions WHERE id = ANY($1)",
                    &[&ids],
                )
                .await?
            {
                let record: Value = serde_json::from_str(found.get(1)).unwrap_or_default();
                match super::report::conversion(&record) {
                    Ok(conversion) => conversions.push(conversion),
                    Err(e) => tracing::warn!(
                        "conversion {:?} in PostgreSQL unreadable: {e}",
                        found.get::<_, &str>(0)
                    ),
                }
            }
        }
        if !leads.is_empty() || !conversions.is_empty() {
            erasures.push(FromElsewhere {
                node: row.get(1),
                leads,
                conversions,
            });
        }
    }
    Ok(erasures)
}

/// Applies the erasures [`read`] found, each in its own transaction of the store.
pub async fn apply(shared: &Shared, erasures: Vec<FromElsewhere>) -> Result<(), String> {
    for erasure in erasures {
        let from = erasure.node.clone();
        let applied = shared
            .store
            .erase_from_elsewhere(erasure, shared.settings.clock.now())
            .await
            .map_err(|e| format!("the store: {e}"))?;
        let redacted = applied.receipt.is_some() || !applied.conversions.is_empty();
        if let (true, Some(relays)) = (redacted, shared.relays.get()) {
            relays.erased();
        }
        if let Some(receipt) = &applied.receipt {
            tracing::info!(
                "erased contact {} as node {from} did ({} leads, {} conversions unlinked)",
                receipt.contact,
                receipt.leads,
                receipt.conversions
            );
        }
        if !applied.conversions.is_empty() {
            tracing::info!(
                "unlinked {} conversions from their contact as node {from} did",
                applied.conversions.len()
            );
        }
    }
    Ok(())
}

/// Empties the stored `lead.*` events of `lead_ids` (they held the person's details), leaving
/// each its lead's id and `erased`. Ids compare as bytes, as the index on them does.
pub(super) async fn blank_lead_events(
    txn: &Transaction<'_>,
    lead_ids: &[String],
) -> Result<(), tokio_postgres::Error> {
    if !lead_ids.is_empty() {
        txn.execute(
            "UPDATE leadgate.events
             SET data = jsonb_build_object('id', data->'id', 'erased', true)
             WHERE type LIKE 'lead.%' AND (data->>'id') COLLATE \"C\" = ANY($1)",
            &[&lead_ids],
        )
        .await?;
    }
    Ok(())
}
