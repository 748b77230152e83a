//! What each write does inside the writer's transaction. Each function checks first and
//! writes after, so a refused request leaves nothing behind in the shared transaction.

use redb::{Database, ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::storage;
use super::tables::{self, metric};
use super::writer::WriteContext;
use crate::campaign::Campaign;
use crate::domain::{LeadId, LeadStatus, Slug, day_number};
use crate::error::{Error, Result};
use crate::lead::Lead;

pub const ADMIN_TOKEN_KEY: &str = "admin_token_sha256";
const SCHEMA_KEY: &str = "schema_version";
const TZ_KEY: &str = "tz";

/// A lead to store, with the idempotency key that makes a replay return the first one.
#[derive(Debug, Clone)]
pub struct NewLead {
    pub lead: Lead,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadOutcome {
    pub id: LeadId,
    /// The idempotency key was seen before: nothing new was stored.
    pub duplicate: bool,
}

/// First and latest sighting of a person, across campaigns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contact {
    pub first_seen: jiff::Timestamp,
    pub last_seen: jiff::Timestamp,
    pub first_lead: LeadId,
    pub leads: u64,
}

/// Creates every table and checks the schema version on open.
pub fn initialise(db: &Database, tz: &jiff::tz::TimeZone) -> Result<()> {
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut meta = txn.open_table(tables::META).map_err(storage)?;
        let stored = meta
            .get(SCHEMA_KEY)
            .map_err(storage)?
            .map(|v| v.value().to_vec());
        match stored {
            None => {
                meta.insert(SCHEMA_KEY, tables::SCHEMA_VERSION.to_le_bytes().as_slice())
                    .map_err(storage)?;
            }
            Some(bytes) if bytes == tables::SCHEMA_VERSION.to_le_bytes() => {}
            Some(_) => {
                return Err(Error::internal(format!(
                    "the store was written by another version of leadgate (schema version differs from {}); use a matching leadgate",
                    tables::SCHEMA_VERSION
                )));
            }
        }
        let tz_name = tz.iana_name().unwrap_or("UTC");
        let stored_tz = meta
            .get(TZ_KEY)
            .map_err(storage)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned());
        match stored_tz {
            Some(old) if old != tz_name => tracing::warn!(
                "reporting time zone changed from {old} to {tz_name}: daily counters already stored keep their {old} days"
            ),
            _ => {}
        }
        meta.insert(TZ_KEY, tz_name.as_bytes()).map_err(storage)?;
        txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
        txn.open_table(tables::LEADS).map_err(storage)?;
        txn.open_table(tables::LEADS_BY_CAMPAIGN).map_err(storage)?;
        txn.open_table(tables::CONTACTS).map_err(storage)?;
        txn.open_table(tables::TOUCHES).map_err(storage)?;
        txn.open_table(tables::TOKENS).map_err(storage)?;
        txn.open_table(tables::COUNTERS).map_err(storage)?;
        txn.open_table(tables::TRACKING_NUMBERS).map_err(storage)?;
    }
    txn.commit().map_err(storage)
}

pub fn set_meta(txn: &WriteTransaction, key: &str, value: &[u8]) -> Result<()> {
    let mut meta = txn.open_table(tables::META).map_err(storage)?;
    meta.insert(key, value).map_err(storage)?;
    Ok(())
}

pub fn insert_lead(
    txn: &WriteTransaction,
    ctx: &WriteContext,
    new: NewLead,
) -> Result<LeadOutcome> {
    let NewLead {
        lead,
        idempotency_key,
    } = new;
    let mut tokens = txn.open_table(tables::TOKENS).map_err(storage)?;
    if let Some(key) = &idempotency_key
        && let Some(first) = tokens.get(key.as_str()).map_err(storage)?
    {
        return Ok(LeadOutcome {
            id: LeadId::from_u128(first.value()),
            duplicate: true,
        });
    }
    {
        let campaigns = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
        if campaigns
            .get(lead.campaign.as_str())
            .map_err(storage)?
            .is_none()
        {
            return Err(Error::not_found(
                "unknown_campaign",
                format!("there is no campaign {:?}", lead.campaign.as_str()),
            ));
        }
    }
    let id = lead.id.to_u128();
    let slug = lead.campaign.as_str();
    let record = serde_json::to_vec(&lead)
        .map_err(|e| Error::internal(format!("cannot encode a lead: {e}")))?;
    txn.open_table(tables::LEADS)
        .map_err(storage)?
        .insert(id, record.as_slice())
        .map_err(storage)?;
    txn.open_table(tables::LEADS_BY_CAMPAIGN)
        .map_err(storage)?
        .insert((slug, id), ())
        .map_err(storage)?;
    let is_new_contact = record_contact(txn, &lead)?;
    let received_ms = lead.received_at.as_millisecond();
    txn.open_table(tables::TOUCHES)
        .map_err(storage)?
        .insert((lead.contact.as_str(), received_ms, id), slug)
        .map_err(storage)?;
    let day = day_number(lead.received_at, &ctx.tz);
    let mut counters = txn.open_table(tables::COUNTERS).map_err(storage)?;
    bump(&mut counters, slug, day, metric::LEADS, 1)?;
    if is_new_contact {
        bump(&mut counters, slug, day, metric::NEW_CONTACTS, 1)?;
    }
    for (metric, delta) in status_deltas(LeadStatus::New, lead.status) {
        bump(&mut counters, slug, day, metric, delta)?;
    }
    if let Some(key) = &idempotency_key {
        tokens.insert(key.as_str(), id).map_err(storage)?;
    }
    Ok(LeadOutcome {
        id: lead.id,
        duplicate: false,
    })
}

/// Adds the lead to its contact; true when the contact is new.
fn record_contact(txn: &WriteTransaction, lead: &Lead) -> Result<bool> {
    let mut contacts = txn.open_table(tables::CONTACTS).map_err(storage)?;
    let existing: Option<Contact> = match contacts.get(lead.contact.as_str()).map_err(storage)? {
        Some(bytes) => Some(decode(bytes.value(), "contact")?),
        None => None,
    };
    let is_new = existing.is_none();
    let contact = match existing {
        Some(mut c) => {
            c.leads += 1;
            c.first_seen = c.first_seen.min(lead.received_at);
            c.last_seen = c.last_seen.max(lead.received_at);
            c
        }
        None => Contact {
            first_seen: lead.received_at,
            last_seen: lead.received_at,
            first_lead: lead.id,
            leads: 1,
        },
    };
    let bytes = serde_json::to_vec(&contact)
        .map_err(|e| Error::internal(format!("cannot encode a contact: {e}")))?;
    contacts
        .insert(lead.contact.as_str(), bytes.as_slice())
        .map_err(storage)?;
    Ok(is_new)
}

pub fn count_form_view(
    txn: &WriteTransaction,
    ctx: &WriteContext,
    slug: &Slug,
    at: jiff::Timestamp,
) -> Result<()> {
    let mut counters = txn.open_table(tables::COUNTERS).map_err(storage)?;
    bump(
        &mut counters,
        slug.as_str(),
        day_number(at, &ctx.tz),
        metric::FORM_VIEWS,
        1,
    )
}

pub fn create_campaign(txn: &WriteTransaction, campaign: Campaign) -> Result<Campaign> {
    let mut campaigns = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
    if campaigns
        .get(campaign.slug.as_str())
        .map_err(storage)?
        .is_some()
    {
        return Err(Error::conflict(
            "slug_taken",
            format!(
                "a campaign with slug {:?} exists already",
                campaign.slug.as_str()
            ),
        )
        .with_field("slug"));
    }
    let mut numbers = txn.open_table(tables::TRACKING_NUMBERS).map_err(storage)?;
    check_tracking_numbers(&numbers, &campaign)?;
    check_utm_campaigns(&campaigns, &campaign)?;
    for number in &campaign.tracking_numbers {
        numbers
            .insert(number.as_str(), campaign.slug.as_str())
            .map_err(storage)?;
    }
    campaigns
        .insert(
            campaign.slug.as_str(),
            encode_campaign(&campaign)?.as_slice(),
        )
        .map_err(storage)?;
    Ok(campaign)
}

pub fn update_campaign<F>(txn: &WriteTransaction, slug: &Slug, change: F) -> Result<Campaign>
where
    F: FnOnce(&mut Campaign) -> Result<()>,
{
    let mut campaigns = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
    let before: Campaign = match campaigns.get(slug.as_str()).map_err(storage)? {
        Some(bytes) => decode(bytes.value(), "campaign")?,
        None => {
            return Err(Error::not_found(
                "unknown_campaign",
                format!("there is no campaign {:?}", slug.as_str()),
            ));
        }
    };
    let mut after = before.clone();
    change(&mut after)?;
    let mut numbers = txn.open_table(tables::TRACKING_NUMBERS).map_err(storage)?;
    check_tracking_numbers(&numbers, &after)?;
    check_utm_campaigns(&campaigns, &after)?;
    for number in &before.tracking_numbers {
        numbers.remove(number.as_str()).map_err(storage)?;
    }
    for number in &after.tracking_numbers {
        numbers
            .insert(number.as_str(), slug.as_str())
            .map_err(storage)?;
    }
    campaigns
        .insert(slug.as_str(), encode_campaign(&after)?.as_slice())
        .map_err(storage)?;
    Ok(after)
}

/// One tracking number selects one campaign: a number printed for two is a conflict.
fn check_tracking_numbers(numbers: &Table<&str, &str>, campaign: &Campaign) -> Result<()> {
    for number in &campaign.tracking_numbers {
        if let Some(owner) = numbers.get(number.as_str()).map_err(storage)?
            && owner.value() != campaign.slug.as_str()
        {
            return Err(Error::conflict(
                "tracking_number_taken",
                format!(
                    "tracking number {} belongs to campaign {:?}",
                    number.as_str(),
                    owner.value()
                ),
            )
            .with_field("tracking_numbers"));
        }
    }
    Ok(())
}

/// An extra `utm_campaign` value maps to one campaign only.
fn check_utm_campaigns(campaigns: &Table<&str, &[u8]>, campaign: &Campaign) -> Result<()> {
    if campaign.utm_campaigns.is_empty() {
        return Ok(());
    }
    for entry in campaigns.iter().map_err(storage)? {
        let (slug, bytes) = entry.map_err(storage)?;
        if slug.value() == campaign.slug.as_str() {
            continue;
        }
        let other: Campaign = decode(bytes.value(), "campaign")?;
        if let Some(value) = campaign
            .utm_campaigns
            .iter()
            .find(|v| other.utm_campaigns.contains(v) || v.as_str() == other.slug.as_str())
        {
            return Err(Error::conflict(
                "utm_campaign_taken",
                format!(
                    "utm_campaign {value:?} already maps to campaign {:?}",
                    other.slug.as_str()
                ),
            )
            .with_field("utm_campaigns"));
        }
    }
    Ok(())
}

pub fn set_lead_status(
    txn: &WriteTransaction,
    ctx: &WriteContext,
    id: LeadId,
    status: LeadStatus,
) -> Result<Lead> {
    let mut leads = txn.open_table(tables::LEADS).map_err(storage)?;
    let mut lead: Lead = match leads.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode(bytes.value(), "lead")?,
        None => {
            return Err(Error::not_found(
                "unknown_lead",
                format!("there is no lead {id}"),
            ));
        }
    };
    if lead.status == status {
        return Ok(lead);
    }
    let day = day_number(lead.received_at, &ctx.tz);
    let mut counters = txn.open_table(tables::COUNTERS).map_err(storage)?;
    for (metric, delta) in status_deltas(lead.status, status) {
        bump(&mut counters, lead.campaign.as_str(), day, metric, delta)?;
    }
    lead.status = status;
    let record = serde_json::to_vec(&lead)
        .map_err(|e| Error::internal(format!("cannot encode a lead: {e}")))?;
    leads
        .insert(id.to_u128(), record.as_slice())
        .map_err(storage)?;
    Ok(lead)
}

/// How the status counters move when a lead goes from `old` to `new`.
fn status_deltas(old: LeadStatus, new: LeadStatus) -> Vec<(&'static str, i64)> {
    let counted = |status: LeadStatus| -> Option<&'static str> {
        match status {
            LeadStatus::Mql | LeadStatus::Sql => Some(metric::MQLS),
            LeadStatus::Disqualified => Some(metric::DISQUALIFIED),
            LeadStatus::New => None,
        }
    };
    let (from, to) = (counted(old), counted(new));
    if from == to {
        return Vec::new();
    }
    from.map(|m| (m, -1))
        .into_iter()
        .chain(to.map(|m| (m, 1)))
        .collect()
}

fn bump(
    counters: &mut Table<(&str, u32, &str), u64>,
    slug: &str,
    day: u32,
    metric: &str,
    delta: i64,
) -> Result<()> {
    let key = (slug, day, metric);
    let current = counters
        .get(key)
        .map_err(storage)?
        .map(|v| v.value())
        .unwrap_or(0);
    let next = current.saturating_add_signed(delta);
    counters.insert(key, next).map_err(storage)?;
    Ok(())
}

fn encode_campaign(campaign: &Campaign) -> Result<Vec<u8>> {
    serde_json::to_vec(campaign)
        .map_err(|e| Error::internal(format!("cannot encode a campaign: {e}")))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("a stored {what} cannot be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_changes_move_the_right_counters() {
        use LeadStatus::*;
        assert_eq!(status_deltas(New, Mql), [(metric::MQLS, 1)]);
        assert_eq!(status_deltas(Mql, Sql), []);
        assert_eq!(
            status_deltas(Sql, Disqualified),
            [(metric::MQLS, -1), (metric::DISQUALIFIED, 1)]
        );
        assert_eq!(
            status_deltas(Disqualified, New),
            [(metric::DISQUALIFIED, -1)]
        );
    }
}
