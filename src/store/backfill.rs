//! A node's history for PostgreSQL. The outbox holds only what happened after a consumer
//! was registered, so a node that served for a while before it was started with
//! `--replicate` (a booth laptop at its first show, a node that joins later) would ship
//! only its new leads, and reports over every node would lack the rest. When replication
//! is registered on a store that already holds data, this walks the store once, in
//! small steps on the writer thread between ordinary batches, and appends what it holds
//! as events for replication only: campaigns, cost entries, leads, conversions, then the
//! day counters. They are numbered after the events written meanwhile; PostgreSQL keeps
//! the newest state either way (leads by sequence number, the rest by key).
//!
//! Destinations never see them (their target is [`outbox::REPLICA_ONLY`]). Leads erased
//! before the walk reaches them are not shipped, as the erasure asks.

use std::ops::Bound::{Excluded, Unbounded};

use redb::ReadableTable;

use serde::{Deserialize, Serialize};

use super::open::Tables;
use super::outbox::{self, EventType};
use super::storage;
use super::write::{counter_row, decode, decode_record, encode_record};
use crate::campaign::Campaign;
use crate::conversion::Conversion;
use crate::cost::CostEntry;
use crate::error::Result;

/// meta key of the walk's position while it is unfinished (postcard [`Position`]).
const KEY: &str = "replica_backfill";

/// Counter rows shipped in one event: about a lead event's size (1.4 KB of JSON), since
/// replication reads and ships events by the batch of 2000. At 500 rows an event, the
/// history's last batches (740k rows for a million leads) held 150 MB of JSON at once
/// and made the node's peak memory while it caught up (heaptrack).
const COUNTER_ROWS_PER_EVENT: usize = 20;

/// Where the walk is: the table, and the last key already shipped from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Position {
    Campaigns(Option<String>),
    Costs(Option<(String, u32, String)>),
    Leads(Option<u128>),
    Conversions(Option<String>),
    Counters(Option<(String, u32, String)>),
}

/// Called when replication is registered: starts the walk if there is anything to ship.
pub fn begin(t: &mut Tables<'_>) -> Result<()> {
    if t.campaigns.first().map_err(storage)?.is_some() {
        save(t, Some(&Position::Campaigns(None)))?;
    }
    Ok(())
}

/// Appends up to about `budget` rows of the history as events; `true` once all of it is.
pub fn step(t: &mut Tables<'_>, budget: usize) -> Result<bool> {
    let Some(stored) = t.meta.get(KEY).map_err(storage)? else {
        return Ok(true);
    };
    let mut position: Position = decode_record(stored.value(), "backfill position")?;
    drop(stored);
    let mut left = budget.max(1);
    while left > 0 {
        let (shipped, next) = match position.clone() {
            Position::Campaigns(after) => campaigns(t, after, left)?,
            Position::Costs(after) => costs(t, after, left)?,
            Position::Leads(after) => leads(t, after, left)?,
            Position::Conversions(after) => conversions(t, after, left)?,
            Position::Counters(after) => counters(t, after, left)?,
        };
        left = left.saturating_sub(shipped.max(1));
        match next {
            Some(next) => position = next,
            None => {
                save(t, None)?;
                return Ok(true);
            }
        }
    }
    save(t, Some(&position))?;
    Ok(false)
}

fn save(t: &mut Tables<'_>, position: Option<&Position>) -> Result<()> {
    match position {
        Some(position) => {
            let bytes = encode_record(position, "backfill position")?;
            t.meta.insert(KEY, bytes.as_slice()).map_err(storage)?;
        }
        None => {
            t.meta.remove(KEY).map_err(storage)?;
        }
    }
    Ok(())
}

/// What one table's step shipped, and where the walk goes on: the same table after the
/// last row shipped while it had `limit` rows, else the next table (`None`: done).
type Stepped = (usize, Option<Position>);

fn campaigns(t: &mut Tables<'_>, after: Option<String>, limit: usize) -> Result<Stepped> {
    let mut rows: Vec<(String, Campaign)> = Vec::new();
    let range = match &after {
        Some(a) => t.campaigns.range::<&str>((Excluded(a.as_str()), Unbounded)),
        None => t.campaigns.range::<&str>(..),
    };
    for entry in range.map_err(storage)? {
        let (slug, bytes) = entry.map_err(storage)?;
        rows.push((slug.value().to_owned(), decode(bytes.value(), "campaign")?));
        if rows.len() == limit {
            break;
        }
    }
    let last = rows.last().map(|(slug, _)| slug.clone());
    for (_, campaign) in &rows {
        let data = serde_json::to_value(campaign).unwrap_or_default();
        outbox::append_to_replica(t, EventType::CampaignSaved, data.to_string(), None)?;
    }
    Ok(match last {
        Some(last) if rows.len() == limit => (rows.len(), Some(Position::Campaigns(Some(last)))),
        _ => (rows.len(), Some(Position::Costs(None))),
    })
}

fn costs(
    t: &mut Tables<'_>,
    after: Option<(String, u32, String)>,
    limit: usize,
) -> Result<Stepped> {
    let mut rows: Vec<((String, u32, String), CostEntry)> = Vec::new();
    let range = match &after {
        Some((slug, day, id)) => t
            .costs
            .range::<(&str, u32, &str)>((Excluded((slug.as_str(), *day, id.as_str())), Unbounded)),
        None => t.costs.range::<(&str, u32, &str)>(..),
    };
    for entry in range.map_err(storage)? {
        let (key, bytes) = entry.map_err(storage)?;
        let (slug, day, id) = key.value();
        let key = (slug.to_owned(), day, id.to_owned());
        rows.push((key, decode(bytes.value(), "cost")?));
        if rows.len() == limit {
            break;
        }
    }
    let last = rows.last().map(|(key, _)| key.clone());
    let mut campaign: Option<Campaign> = None;
    for ((slug, _, _), entry) in &rows {
        if campaign.as_ref().is_none_or(|c| c.slug.as_str() != slug) {
            let Some(bytes) = t.campaigns.get(slug.as_str()).map_err(storage)? else {
                continue;
            };
            campaign = Some(decode(bytes.value(), "campaign")?);
        }
        if let Some(campaign) = &campaign {
            let data = entry.to_json(campaign).to_string();
            outbox::append_to_replica(t, EventType::CostRecorded, data, None)?;
        }
    }
    Ok(match last {
        Some(last) if rows.len() == limit => (rows.len(), Some(Position::Costs(Some(last)))),
        _ => (rows.len(), Some(Position::Leads(None))),
    })
}

fn leads(t: &mut Tables<'_>, after: Option<u128>, limit: usize) -> Result<Stepped> {
    let mut rows: Vec<(u128, Vec<u8>)> = Vec::new();
    let range = match after {
        Some(a) => t.leads.range::<u128>((Excluded(a), Unbounded)),
        None => t.leads.range::<u128>(..),
    };
    for entry in range.map_err(storage)? {
        let (id, bytes) = entry.map_err(storage)?;
        rows.push((id.value(), bytes.value().to_vec()));
        if rows.len() == limit {
            break;
        }
    }
    let last = rows.last().map(|(id, _)| *id);
    let shipped = rows.len();
    for (_, record) in rows {
        outbox::append_to_replica(t, EventType::LeadCreated, String::new(), Some(record))?;
    }
    Ok(match last {
        Some(last) if shipped == limit => (shipped, Some(Position::Leads(Some(last)))),
        _ => (shipped, Some(Position::Conversions(None))),
    })
}

fn conversions(t: &mut Tables<'_>, after: Option<String>, limit: usize) -> Result<Stepped> {
    let mut rows: Vec<(String, Conversion)> = Vec::new();
    let range = match &after {
        Some(a) => t
            .conversions
            .range::<&str>((Excluded(a.as_str()), Unbounded)),
        None => t.conversions.range::<&str>(..),
    };
    for entry in range.map_err(storage)? {
        let (id, bytes) = entry.map_err(storage)?;
        rows.push((
            id.value().to_owned(),
            decode_record(bytes.value(), "conversion")?,
        ));
        if rows.len() == limit {
            break;
        }
    }
    let last = rows.last().map(|(id, _)| id.clone());
    for (_, conversion) in &rows {
        let data = conversion.to_json().to_string();
        outbox::append_to_replica(t, EventType::ConversionRecorded, data, None)?;
    }
    Ok(match last {
        Some(last) if rows.len() == limit => (rows.len(), Some(Position::Conversions(Some(last)))),
        _ => (rows.len(), Some(Position::Counters(None))),
    })
}

fn counters(
    t: &mut Tables<'_>,
    after: Option<(String, u32, String)>,
    limit: usize,
) -> Result<Stepped> {
    let limit = limit.max(COUNTER_ROWS_PER_EVENT);
    let mut rows: Vec<((String, u32, String), u64)> = Vec::new();
    let range = match &after {
        Some((slug, day, metric)) => t.counters.range::<(&str, u32, &str)>((
            Excluded((slug.as_str(), *day, metric.as_str())),
            Unbounded,
        )),
        None => t.counters.range::<(&str, u32, &str)>(..),
    };
    for entry in range.map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        let (slug, day, metric) = key.value();
        let key = (slug.to_owned(), day, metric.to_owned());
        rows.push((key, value.value()));
        if rows.len() == limit {
            break;
        }
    }
    let last = rows.last().map(|(key, _)| key.clone());
    for chunk in rows.chunks(COUNTER_ROWS_PER_EVENT) {
        let shipped: Vec<serde_json::Value> = chunk
            .iter()
            .map(|((slug, day, metric), value)| counter_row(slug, *day, metric, *value))
            .collect();
        let data = serde_json::json!({ "rows": shipped }).to_string();
        outbox::append_to_replica(t, EventType::CountersChanged, data, None)?;
    }
    Ok(match last {
        Some(last) if rows.len() == limit => (rows.len(), Some(Position::Counters(Some(last)))),
        _ => (rows.len(), None),
    })
}
