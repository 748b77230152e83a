//! Where each printed code points (`PUT /api/campaigns/{slug}/qr/{variant}`), with its
//! history. Every scan needs its code's target, so the current targets are also kept in
//! memory ([`TargetCache`], refreshed after each commit that changes one): a scan reads no
//! table for it.

use std::collections::HashMap;
use std::sync::RwLock;

use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};

use super::open::Tables;
use super::storage;
use super::tables;
use super::write::decode;
use crate::error::{Error, Result};
use crate::qr_target::Target;

/// One change of a code's target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetChange {
    pub target: String,
    pub since: jiff::Timestamp,
}

/// Points the code `(slug, variant)` at `target` from `now` on; returns its history,
/// oldest first. Pointing it where it points already changes nothing.
pub fn set(
    t: &mut Tables<'_>,
    slug: &str,
    variant: &str,
    target: &Target,
    now: jiff::Timestamp,
) -> Result<Vec<TargetChange>> {
    if t.campaigns.get(slug).map_err(storage)?.is_none() {
        return Err(Error::not_found(
            "unknown_campaign",
            format!("there is no campaign {slug:?}"),
        ));
    }
    require_placement(
        t.placements
            .get((slug, variant))
            .map_err(storage)?
            .is_some(),
        variant,
    )?;
    if let Target::Campaign(other) = target
        && t.campaigns.get(other.as_str()).map_err(storage)?.is_none()
    {
        return Err(Error::invalid(
            "target",
            "unknown_campaign",
            format!(
                "there is no campaign {:?} to point the code at",
                other.as_str()
            ),
        ));
    }
    let mut history = read(t.qr_targets.get((slug, variant)).map_err(storage)?)?;
    let text = target.as_text();
    let current = history.last().map_or("form", |c| c.target.as_str());
    if current != text {
        history.push(TargetChange {
            target: text,
            since: now,
        });
        let bytes = serde_json::to_vec(&history)
            .map_err(|e| Error::internal(format!("cannot encode a code's targets: {e}")))?;
        t.qr_targets
            .insert((slug, variant), bytes.as_slice())
            .map_err(storage)?;
    }
    Ok(history)
}

/// The code's history, oldest first (empty: it has always gone to its form). 404 for a
/// name that is no placement of the campaign.
pub fn history(txn: &ReadTransaction, slug: &str, variant: &str) -> Result<Vec<TargetChange>> {
    let placements = txn.open_table(tables::PLACEMENTS).map_err(storage)?;
    require_placement(
        placements.get((slug, variant)).map_err(storage)?.is_some(),
        variant,
    )?;
    let table = txn.open_table(tables::QR_TARGETS).map_err(storage)?;
    read(table.get((slug, variant)).map_err(storage)?)
}

/// Every code's current target, for the cache.
pub fn all(txn: &ReadTransaction) -> Result<HashMap<(String, String), Target>> {
    let table = txn.open_table(tables::QR_TARGETS).map_err(storage)?;
    let mut current = HashMap::new();
    for entry in table.iter().map_err(storage)? {
        let (key, bytes) = entry.map_err(storage)?;
        let (slug, variant) = key.value();
        let history: Vec<TargetChange> = decode(bytes.value(), "code's targets")?;
        if let Some(last) = history.last() {
            current.insert(
                (slug.to_owned(), variant.to_owned()),
                Target::parse(&last.target)?,
            );
        }
    }
    Ok(current)
}

fn require_placement(exists: bool, variant: &str) -> Result<()> {
    if exists {
        return Ok(());
    }
    Err(Error::not_found(
        "unknown_placement",
        format!(
            "the campaign has no placement {variant:?} (declare it in qr_variants, or scan it once)"
        ),
    ))
}

fn read(bytes: Option<redb::AccessGuard<'_, &[u8]>>) -> Result<Vec<TargetChange>> {
    match bytes {
        Some(bytes) => decode(bytes.value(), "code's targets"),
        None => Ok(Vec::new()),
    }
}

/// The current targets, as committed: campaign -> placement -> target. Nested, so a scan
/// looks its code up without building a key.
#[derive(Default)]
pub struct TargetCache(RwLock<HashMap<String, HashMap<String, Target>>>);

impl TargetCache {
    pub fn new(current: HashMap<(String, String), Target>) -> TargetCache {
        let cache = TargetCache::default();
        for ((slug, variant), target) in current {
            cache.put(&slug, &variant, target);
        }
        cache
    }

    pub fn get(&self, slug: &str, variant: &str) -> Target {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .and_then(|codes| codes.get(variant))
            .cloned()
            .unwrap_or(Target::Form)
    }

    pub fn put(&self, slug: &str, variant: &str, target: Target) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(slug.to_owned())
            .or_default()
            .insert(variant.to_owned(), target);
    }
}
