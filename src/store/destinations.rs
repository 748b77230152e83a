//! Destinations and how delivery to each is going. A destination is created together
//! with its outbox cursor and deleted together with it, so there is never a cursor that
//! nobody moves (which would keep every event forever) nor a destination without one.

use redb::{ReadTransaction, ReadableTable};

use super::open::Tables;
use super::outbox;
use super::storage;
use super::tables;
use super::write::{decode_record, encode_record};
use crate::destination::{DeliveryRecord, Destination};
use crate::domain::LeadId;
use crate::error::{Error, Result};

/// A destination as stored, with its delivery record and outbox cursor.
#[derive(Debug, Clone)]
pub struct Stored {
    pub destination: Destination,
    pub record: DeliveryRecord,
    /// The last event it has been sent (or skipped).
    pub cursor: u64,
}

fn unknown(id: LeadId) -> Error {
    Error::not_found(
        "unknown_destination",
        format!("there is no destination {id}"),
    )
}

/// Stores a new destination and registers its cursor at the outbox's end; returns the
/// cursor (it receives the events written from now on).
pub fn create(t: &mut Tables<'_>, destination: &Destination) -> Result<u64> {
    let key = destination.id.to_u128();
    t.destinations
        .insert(key, encode_record(destination, "destination")?.as_slice())
        .map_err(storage)?;
    t.deliveries
        .insert(
            key,
            encode_record(&DeliveryRecord::default(), "delivery record")?.as_slice(),
        )
        .map_err(storage)?;
    outbox::register(t, &destination.consumer())?;
    outbox::current_cursor(t, &destination.consumer())
}

/// Applies `change` to the stored destination inside the transaction, so two edits
/// never overwrite each other.
pub fn update(
    t: &mut Tables<'_>,
    id: LeadId,
    change: impl FnOnce(&mut Destination) -> Result<()>,
) -> Result<Destination> {
    let mut destination: Destination = match t.destinations.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "destination")?,
        None => return Err(unknown(id)),
    };
    change(&mut destination)?;
    t.destinations
        .insert(
            id.to_u128(),
            encode_record(&destination, "destination")?.as_slice(),
        )
        .map_err(storage)?;
    Ok(destination)
}

/// Removes the destination, its record, its cursor (its backlog goes with it) and its
/// report schedules.
pub fn delete(t: &mut Tables<'_>, id: LeadId) -> Result<Destination> {
    let destination: Destination = match t.destinations.remove(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "destination")?,
        None => return Err(unknown(id)),
    };
    t.deliveries.remove(id.to_u128()).map_err(storage)?;
    super::schedules::delete_for_destination(t, id)?;
    outbox::unregister(t, &destination.consumer())?;
    Ok(destination)
}

/// Stores a worker's progress: its record, and its cursor moved to `seq` (events up to
/// it are sent or skipped). A destination deleted meanwhile is left deleted.
pub fn record_progress(
    t: &mut Tables<'_>,
    id: LeadId,
    seq: u64,
    record: &DeliveryRecord,
) -> Result<()> {
    let key = id.to_u128();
    if t.destinations.get(key).map_err(storage)?.is_none() {
        return Ok(());
    }
    t.deliveries
        .insert(key, encode_record(record, "delivery record")?.as_slice())
        .map_err(storage)?;
    outbox::acknowledge(t, &super::destination_consumer(id), seq)
}

pub fn list(txn: &ReadTransaction) -> Result<Vec<Stored>> {
    let destinations = txn.open_table(tables::DESTINATIONS).map_err(storage)?;
    let mut stored = Vec::new();
    for entry in destinations.iter().map_err(storage)? {
        let (_, bytes) = entry.map_err(storage)?;
        let destination: Destination = decode_record(bytes.value(), "destination")?;
        stored.push(with_progress(txn, destination)?);
    }
    Ok(stored)
}

pub fn get(txn: &ReadTransaction, id: LeadId) -> Result<Stored> {
    let destinations = txn.open_table(tables::DESTINATIONS).map_err(storage)?;
    let destination: Destination = match destinations.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "destination")?,
        None => return Err(unknown(id)),
    };
    with_progress(txn, destination)
}

fn with_progress(txn: &ReadTransaction, destination: Destination) -> Result<Stored> {
    let deliveries = txn.open_table(tables::DELIVERIES).map_err(storage)?;
    let record = match deliveries.get(destination.id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "delivery record")?,
        None => DeliveryRecord::default(),
    };
    let cursor = outbox::cursor(txn, &destination.consumer())?.unwrap_or(0);
    Ok(Stored {
        destination,
        record,
        cursor,
    })
}
