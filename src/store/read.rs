//! Read queries, each inside one read transaction (a consistent snapshot).

use redb::{ReadTransaction, ReadableTable};

use super::storage;
use super::tables;
use super::write::decode;
use crate::campaign::Campaign;
use crate::domain::{LeadId, LeadStatus, Slug};
use crate::error::Result;
use crate::lead::Lead;

/// A page of `GET /api/leads`: newest first, ids strictly older than `before`.
#[derive(Debug, Clone)]
pub struct LeadQuery {
    pub campaign: Option<Slug>,
    /// Inclusive bounds on the lead id, which orders leads by time.
    pub from: LeadId,
    pub to: LeadId,
    /// Continue after this id (the previous page's last).
    pub before: Option<LeadId>,
    pub status: Option<LeadStatus>,
    pub limit: usize,
}

pub fn campaign(txn: &ReadTransaction, slug: &str) -> Result<Option<Campaign>> {
    let table = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
    match table.get(slug).map_err(storage)? {
        Some(bytes) => decode(bytes.value(), "campaign").map(Some),
        None => Ok(None),
    }
}

pub fn campaigns(txn: &ReadTransaction) -> Result<Vec<Campaign>> {
    let table = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
    let mut all = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, bytes) = entry.map_err(storage)?;
        all.push(decode(bytes.value(), "campaign")?);
    }
    Ok(all)
}

pub fn lead(txn: &ReadTransaction, id: LeadId) -> Result<Option<Lead>> {
    let table = txn.open_table(tables::LEADS).map_err(storage)?;
    match table.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode(bytes.value(), "lead").map(Some),
        None => Ok(None),
    }
}

pub fn leads(txn: &ReadTransaction, query: &LeadQuery) -> Result<(Vec<Lead>, bool)> {
    let lo = query.from.to_u128();
    let mut hi = query.to.to_u128();
    if let Some(before) = query.before {
        match before.to_u128().checked_sub(1) {
            Some(below) => hi = hi.min(below),
            None => return Ok((Vec::new(), false)),
        }
    }
    if lo > hi {
        return Ok((Vec::new(), false));
    }
    let leads = txn.open_table(tables::LEADS).map_err(storage)?;
    let mut page = Vec::with_capacity(query.limit.min(1024));
    let mut more = false;
    let mut take = |bytes: &[u8]| -> Result<bool> {
        let lead: Lead = decode(bytes, "lead")?;
        if query.status.is_some_and(|s| s != lead.status) {
            return Ok(true);
        }
        if page.len() == query.limit {
            more = true;
            return Ok(false);
        }
        page.push(lead);
        Ok(true)
    };
    match &query.campaign {
        Some(slug) => {
            let index = txn.open_table(tables::LEADS_BY_CAMPAIGN).map_err(storage)?;
            for entry in index
                .range((slug.as_str(), lo)..=(slug.as_str(), hi))
                .map_err(storage)?
                .rev()
            {
                let (key, _) = entry.map_err(storage)?;
                let id = key.value().1;
                if let Some(bytes) = leads.get(id).map_err(storage)?
                    && !take(bytes.value())?
                {
                    break;
                }
            }
        }
        None => {
            for entry in leads.range(lo..=hi).map_err(storage)?.rev() {
                let (_, bytes) = entry.map_err(storage)?;
                if !take(bytes.value())? {
                    break;
                }
            }
        }
    }
    Ok((page, more))
}

pub fn counter(txn: &ReadTransaction, slug: &str, day: u32, metric: &str) -> Result<u64> {
    let table = txn.open_table(tables::COUNTERS).map_err(storage)?;
    Ok(table
        .get((slug, day, metric))
        .map_err(storage)?
        .map(|v| v.value())
        .unwrap_or(0))
}

pub fn meta(txn: &ReadTransaction, key: &str) -> Result<Option<Vec<u8>>> {
    let table = txn.open_table(tables::META).map_err(storage)?;
    Ok(table.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
}
