//! Campaigns, cost entries and conversions made on other nodes, applied as PostgreSQL
//! hands them over (API.md, "Several nodes"): the latest `updated_at` wins, ties by node
//! id. They are applied without outbox events: they came from PostgreSQL and need not go
//! back, and destinations heard of them from the node where they were made.

use redb::ReadableTable;

use super::open::Tables;
use super::storage;
use super::write::{decode, decode_record, encode_record};
use crate::campaign::Campaign;
use crate::conversion::Conversion;
use crate::cost::CostEntry;
use crate::domain::{Slug, parse_money};
use crate::error::{Error, ErrorKind, Result};

/// What another node made, as read from PostgreSQL.
#[derive(Debug, Default)]
pub struct Changes {
    /// With the node that saved each.
    pub campaigns: Vec<(Campaign, String)>,
    pub costs: Vec<SharedCost>,
    /// Cost entries deleted: (campaign, id).
    pub deleted_costs: Vec<(String, String)>,
    pub conversions: Vec<(Conversion, String)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty()
            && self.costs.is_empty()
            && self.deleted_costs.is_empty()
            && self.conversions.is_empty()
    }
}

/// A cost entry as `leadgate.costs` holds it (its amount read in the campaign's currency
/// once the campaign is known).
#[derive(Debug)]
pub struct SharedCost {
    pub id: String,
    pub campaign: String,
    pub incurred_on: jiff::civil::Date,
    /// Decimal text.
    pub amount: String,
    pub currency: String,
    pub note: Option<String>,
    pub created_at: jiff::Timestamp,
}

/// What applying changed here.
#[derive(Debug, Default)]
pub struct Applied {
    /// Campaigns stored or replaced (for the campaign cache).
    pub campaigns: Vec<Campaign>,
    pub costs: usize,
    pub conversions: usize,
}

/// Whether a record saved at `remote` by `node` replaces one saved here at `local`: the
/// later wins; at the same instant, the greater node id (a record here counts as this
/// node's).
pub fn wins(remote: jiff::Timestamp, node: &str, local: jiff::Timestamp, this_node: &str) -> bool {
    remote > local || (remote == local && node > this_node)
}

/// Applies `changes`. A change this store refuses (a tracking number another campaign
/// here prints, a cost in another currency than the campaign's here) is left out with a
/// warning; the others go on.
pub fn apply(t: &mut Tables<'_>, changes: Changes, this_node: &str) -> Result<Applied> {
    let mut applied = Applied::default();
    for (campaign, node) in changes.campaigns {
        let slug = campaign.slug.to_string();
        let outcome = apply_campaign(t, &campaign, &node, this_node);
        if let Some(true) = skip_refused(outcome, "campaign", &slug)? {
            applied.campaigns.push(campaign);
        }
    }
    for cost in changes.costs {
        let id = cost.id.clone();
        if let Some(true) = skip_refused(apply_cost(t, cost), "cost entry", &id)? {
            applied.costs += 1;
        }
    }
    for (campaign, id) in changes.deleted_costs {
        let Ok(slug) = Slug::parse(&campaign) else {
            continue;
        };
        match super::write::remove_cost(t, &slug, &id) {
            Ok(()) => applied.costs += 1,
            Err(error) if error.kind == ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    for (conversion, node) in changes.conversions {
        let id = conversion.id.clone();
        let outcome = apply_conversion(t, conversion, &node, this_node);
        if let Some(true) = skip_refused(outcome, "conversion", &id)? {
            applied.conversions += 1;
        }
    }
    Ok(applied)
}

/// A refused change is logged and skipped; a storage failure ends the batch.
fn skip_refused<T>(outcome: Result<T>, what: &str, key: &str) -> Result<Option<T>> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(error) if matches!(error.kind, ErrorKind::Unavailable | ErrorKind::Internal) => {
            Err(error)
        }
        Err(error) => {
            tracing::warn!("the {what} {key:?} made on another node is not applied here: {error}");
            Ok(None)
        }
    }
}

fn apply_campaign(
    t: &mut Tables<'_>,
    campaign: &Campaign,
    node: &str,
    this_node: &str,
) -> Result<bool> {
    let existing: Option<Campaign> =
        match t.campaigns.get(campaign.slug.as_str()).map_err(storage)? {
            Some(bytes) => Some(decode(bytes.value(), "campaign")?),
            None => None,
        };
    match existing {
        None => super::write::insert_campaign(t, campaign).map(|()| true),
        Some(before)
            if before != *campaign
                && wins(campaign.updated_at, node, before.updated_at, this_node) =>
        {
            super::write::replace_campaign(t, &before, campaign).map(|()| true)
        }
        Some(_) => Ok(false),
    }
}

/// Cost entries never change: one this store lacks is added, in its campaign's currency.
fn apply_cost(t: &mut Tables<'_>, cost: SharedCost) -> Result<bool> {
    let stored: Option<Campaign> = match t.campaigns.get(cost.campaign.as_str()).map_err(storage)? {
        Some(bytes) => Some(decode(bytes.value(), "campaign")?),
        None => None,
    };
    let Some(campaign) = stored else {
        return Err(Error::conflict(
            "unknown_campaign",
            format!("there is no campaign {:?} here yet", cost.campaign),
        ));
    };
    if campaign.currency.code() != cost.currency {
        return Err(Error::conflict(
            "currency_changed",
            format!(
                "it is in {} and the campaign here reports in {}",
                cost.currency,
                campaign.currency.code()
            ),
        ));
    }
    let entry = CostEntry {
        amount: parse_money(&cost.amount, campaign.currency.exponent())
            .map_err(|why| Error::conflict("invalid_amount", format!("amount {why}")))?,
        id: cost.id,
        incurred_on: cost.incurred_on,
        note: cost.note,
        created_at: cost.created_at,
    };
    let key = (campaign.slug.as_str(), entry.day(), entry.id.as_str());
    if t.costs.get(key).map_err(storage)?.is_some() {
        return Ok(false);
    }
    super::write::insert_cost(t, &campaign.slug, &entry).map(|()| true)
}

fn apply_conversion(
    t: &mut Tables<'_>,
    conversion: Conversion,
    node: &str,
    this_node: &str,
) -> Result<bool> {
    let existing: Option<Conversion> =
        match t.conversions.get(conversion.id.as_str()).map_err(storage)? {
            Some(bytes) => Some(decode_record(bytes.value(), "conversion")?),
            None => None,
        };
    if let Some(before) = existing
        && (before == conversion
            || !wins(conversion.updated_at, node, before.updated_at, this_node))
    {
        return Ok(false);
    }
    let bytes = encode_record(&conversion, "conversion")?;
    t.conversions
        .insert(conversion.id.as_str(), bytes.as_slice())
        .map_err(storage)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::wins;

    #[test]
    fn the_later_record_wins_and_the_greater_node_breaks_ties() {
        let early: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let late: jiff::Timestamp = "2025-01-01T00:00:01Z".parse().unwrap();
        assert!(wins(late, "a", early, "b"));
        assert!(!wins(early, "z", late, "b"));
        assert!(wins(early, "c", early, "b"));
        assert!(!wins(early, "a", early, "b"));
        assert!(
            !wins(early, "b", early, "b"),
            "a node's own record does not replace itself"
        );
    }
}
