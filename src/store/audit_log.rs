//! The audit log's table: (at ms, entry id) -> Entry (JSON), in time order. Written only
//! inside the transaction of the change it records (see `crate::audit`).

use redb::{ReadTransaction, ReadableTable};

use super::open::Tables;
use super::storage;
use super::tables;
use super::write::decode;
use crate::audit::Entry;
use crate::error::{Error, Result};

pub fn append(t: &mut Tables<'_>, entry: &Entry) -> Result<()> {
    // JSON, like campaigns: few entries, and a shape that will grow.
    let bytes = serde_json::to_vec(entry)
        .map_err(|e| Error::internal(format!("an audit entry cannot be written: {e}")))?;
    t.audit_log
        .insert(
            (entry.at.as_millisecond(), entry.id.to_u128()),
            bytes.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

/// Which entries a reader wants.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    /// From `since` on, oldest first: how a program follows the log.
    OldestFrom(jiff::Timestamp),
    /// The latest, newest first: what a person looks at.
    Newest,
}

/// At most `limit` entries, and whether more follow.
pub fn entries(txn: &ReadTransaction, order: Order, limit: usize) -> Result<(Vec<Entry>, bool)> {
    let table = txn.open_table(tables::AUDIT_LOG).map_err(storage)?;
    let decode_entry = |value: &[u8]| decode::<Entry>(value, "audit entry");
    let mut entries = Vec::new();
    let mut more = false;
    let mut take = |value: &[u8]| -> Result<bool> {
        if entries.len() == limit {
            more = true;
            return Ok(false);
        }
        entries.push(decode_entry(value)?);
        Ok(true)
    };
    match order {
        Order::OldestFrom(since) => {
            for entry in table
                .range((since.as_millisecond(), 0)..)
                .map_err(storage)?
            {
                if !take(entry.map_err(storage)?.1.value())? {
                    break;
                }
            }
        }
        Order::Newest => {
            for entry in table.iter().map_err(storage)?.rev() {
                if !take(entry.map_err(storage)?.1.value())? {
                    break;
                }
            }
        }
    }
    Ok((entries, more))
}
