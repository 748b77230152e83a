//! What each write does inside the writer's transaction. Each function checks first and
//! writes after, so a refused request leaves nothing behind in the shared transaction.

use redb::{Database, ReadableTable, Table};
use serde::{Deserialize, Serialize};

use super::follow_ups;
use super::open::Tables;
use super::outbox::{self, EventType};
use super::roster;
use super::storage;
use super::tables::{self, metric};
use super::writer::WriteContext;
use crate::campaign::Campaign;
use crate::conversion::{ContactRef, Conversion, ConversionInput, Matched, Upsert, merge};
use crate::cost::CostEntry;
use crate::domain::{LeadId, LeadStatus, Slug, Source, day_number};
use crate::error::{Error, Result};
use crate::lead::{Capture, Lead};

pub const ADMIN_TOKEN_KEY: &str = "admin_token_sha256";
const SCHEMA_KEY: &str = "schema_version";
const TZ_KEY: &str = "tz";

/// A lead to store, with the idempotency key that makes a replay return the first one.
#[derive(Debug, Clone)]
pub struct NewLead {
    pub lead: Lead,
    pub idempotency_key: Option<String>,
}

impl NewLead {
    /// The lead a capture makes, with the key that recognises its replay.
    pub fn from_capture(capture: Capture) -> Result<NewLead> {
        let idempotency_key = capture.channel.idempotency_key(&capture.campaign);
        Ok(NewLead {
            lead: Lead::new(capture.campaign, capture.details, &capture.channel)?,
            idempotency_key,
        })
    }
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
    #[serde(with = "crate::domain::compact_time")]
    pub first_seen: jiff::Timestamp,
    #[serde(with = "crate::domain::compact_time")]
    pub last_seen: jiff::Timestamp,
    pub first_lead: LeadId,
    pub leads: u64,
    /// The salesperson the contact's leads go to. Kept in the contact's record, which
    /// every lead writes anyway, rather than in a table of its own (one more page written
    /// per lead).
    pub assignee: Option<ContactAssignee>,
}

/// Who a contact's leads go to, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAssignee {
    pub person: LeadId,
    /// When the contact's latest assigned lead was received (ms): a returning contact
    /// keeps its salesperson for 90 days from then.
    pub latest_ms: i64,
}

impl Contact {
    /// Notes `lead`'s salesperson (if any) as the one the contact's leads go to.
    pub fn remember_assignee(&mut self, lead: &Lead) {
        if let Some(person) = lead.assigned_to {
            let at = lead.received_at.as_millisecond();
            let latest = self.assignee.map_or(i64::MIN, |a| a.latest_ms);
            self.assignee = Some(ContactAssignee {
                person,
                latest_ms: at.max(latest),
            });
        }
    }
}

/// A contact as written before contacts kept their salesperson.
#[derive(Serialize, Deserialize)]
struct ContactV1 {
    #[serde(with = "crate::domain::compact_time")]
    first_seen: jiff::Timestamp,
    #[serde(with = "crate::domain::compact_time")]
    last_seen: jiff::Timestamp,
    first_lead: LeadId,
    leads: u64,
}

pub(crate) fn decode_contact(bytes: &[u8]) -> Result<Contact> {
    match postcard::from_bytes::<Contact>(bytes) {
        Ok(contact) => Ok(contact),
        Err(postcard::Error::DeserializeUnexpectedEnd) => {
            let old: ContactV1 = decode_record(bytes, "contact")?;
            Ok(Contact {
                first_seen: old.first_seen,
                last_seen: old.last_seen,
                first_lead: old.first_lead,
                leads: old.leads,
                assignee: None,
            })
        }
        Err(e) => Err(Error::internal(format!(
            "a stored contact cannot be read: {e}"
        ))),
    }
}

/// The stored contact of `lead`, with the lead's salesperson noted (a reassignment).
pub fn remember_assignee(t: &mut Tables<'_>, lead: &Lead) -> Result<()> {
    let Some(bytes) = t.contacts.get(lead.contact.as_str()).map_err(storage)? else {
        return Ok(());
    };
    let mut contact = decode_contact(bytes.value())?;
    drop(bytes);
    contact.remember_assignee(lead);
    let bytes = encode_record(&contact, "contact")?;
    t.contacts
        .insert(lead.contact.as_str(), bytes.as_slice())
        .map_err(storage)?;
    Ok(())
}

/// Creates every table and checks the schema version on open.
pub fn initialise(db: &Database, tz: &jiff::tz::TimeZone) -> Result<()> {
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut meta = txn.open_table(tables::META).map_err(storage)?;
        // A version that is not 8 bytes is no version this build knows: refused below.
        let stored = meta
            .get(SCHEMA_KEY)
            .map_err(storage)?
            .map(|v| <[u8; 8]>::try_from(v.value()).map_or(u64::MAX, u64::from_le_bytes));
        match stored {
            None => {
                meta.insert(SCHEMA_KEY, tables::SCHEMA_VERSION.to_le_bytes().as_slice())
                    .map_err(storage)?;
            }
            Some(tables::SCHEMA_VERSION) => {}
            // Each step brings a store of an older schema one version on, in this one
            // transaction: all or nothing.
            Some(version @ 3..tables::SCHEMA_VERSION) => {
                drop(meta);
                if version < 4 {
                    migrate_conversions_to_postcard(&txn)?;
                }
                if version < 5 {
                    register_placements(&txn)?;
                }
                if version < 6 {
                    migrate_tokens_to_digests(&txn)?;
                }
                meta = txn.open_table(tables::META).map_err(storage)?;
                meta.insert(SCHEMA_KEY, tables::SCHEMA_VERSION.to_le_bytes().as_slice())
                    .map_err(storage)?;
            }
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
        // Daily counters are keyed by days of the reporting zone, and status changes move
        // them by the lead's day: with another zone the -1 could land on another day than
        // the +1. A store that holds counted events keeps its zone.
        if let Some(old) = stored_tz.filter(|old| old != tz_name) {
            let counted = txn
                .open_table(tables::COUNTERS)
                .map_err(storage)?
                .first()
                .map_err(storage)?
                .is_some();
            if counted {
                return Err(Error::internal(format!(
                    "this store counts its days in the {old} time zone, not {tz_name}: set LEADGATE_TZ={old} (the reporting zone of a store with data cannot change)"
                )));
            }
        }
        meta.insert(TZ_KEY, tz_name.as_bytes()).map_err(storage)?;
        txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
        txn.open_table(tables::LEADS).map_err(storage)?;
        txn.open_table(tables::LEADS_BY_CAMPAIGN).map_err(storage)?;
        txn.open_table(tables::CONTACTS).map_err(storage)?;
        txn.open_table(tables::EMAILS).map_err(storage)?;
        txn.open_table(tables::TOUCHES).map_err(storage)?;
        txn.open_table(tables::TOKENS).map_err(storage)?;
        txn.open_table(tables::COUNTERS).map_err(storage)?;
        txn.open_table(tables::MONTHLY_COUNTERS).map_err(storage)?;
        txn.open_table(tables::TOTAL_COUNTERS).map_err(storage)?;
        txn.open_table(tables::TRACKING_NUMBERS).map_err(storage)?;
        txn.open_table(tables::COSTS).map_err(storage)?;
        txn.open_table(tables::CONVERSIONS).map_err(storage)?;
        txn.open_table(tables::PLACEMENTS).map_err(storage)?;
        txn.open_table(tables::OUTBOX).map_err(storage)?;
        txn.open_table(tables::OUTBOX_CURSORS).map_err(storage)?;
        txn.open_table(tables::DESTINATIONS).map_err(storage)?;
        txn.open_table(tables::DELIVERIES).map_err(storage)?;
        txn.open_table(tables::SALESPEOPLE).map_err(storage)?;
        txn.open_table(tables::LEADS_BY_ASSIGNEE).map_err(storage)?;
        txn.open_table(tables::ROUND_ROBIN).map_err(storage)?;
        txn.open_table(tables::ACTIVITIES).map_err(storage)?;
        txn.open_table(tables::FOLLOW_UPS).map_err(storage)?;
        txn.open_table(tables::LEAD_DEADLINES).map_err(storage)?;
        txn.open_table(tables::DEADLINES).map_err(storage)?;
        txn.open_table(tables::REPORT_SCHEDULES).map_err(storage)?;
        txn.open_table(tables::QR_TARGETS).map_err(storage)?;
        txn.open_table(tables::AUDIT_LOG).map_err(storage)?;
        txn.open_table(tables::ERASED_LEADS).map_err(storage)?;
        txn.open_table(tables::ERASURES).map_err(storage)?;
    }
    move_contact_assignees(&txn)?;
    chunk_assignee_index(&txn)?;
    txn.commit().map_err(storage)
}

/// The first builds with assignment kept one index entry per lead; the entries move into
/// chunks (`assignee_index`), and their table goes.
fn chunk_assignee_index(txn: &redb::WriteTransaction) -> Result<()> {
    let old_name = redb::TableHandle::name(&tables::LEADS_BY_ASSIGNEE_ENTRIES);
    let exists = txn
        .list_tables()
        .map_err(storage)?
        .any(|table| redb::TableHandle::name(&table) == old_name);
    if !exists {
        return Ok(());
    }
    {
        let old = txn
            .open_table(tables::LEADS_BY_ASSIGNEE_ENTRIES)
            .map_err(storage)?;
        let mut chunks = txn.open_table(tables::LEADS_BY_ASSIGNEE).map_err(storage)?;
        let mut person = None;
        let mut ids = Vec::new();
        // Entries come in key order: one salesperson's leads, ascending, then the next's.
        for entry in old.iter().map_err(storage)? {
            let (owner, lead) = entry.map_err(storage)?.0.value();
            if let Some(previous) = person
                && previous != owner
            {
                super::assignee_index::write_all(&mut chunks, previous, &ids)?;
                ids.clear();
            }
            person = Some(owner);
            ids.push(lead);
        }
        if let Some(person) = person {
            super::assignee_index::write_all(&mut chunks, person, &ids)?;
        }
    }
    txn.delete_table(tables::LEADS_BY_ASSIGNEE_ENTRIES)
        .map_err(storage)?;
    Ok(())
}

/// A store written by the first build with assignment kept each contact's salesperson in
/// a table of its own: they move into the contacts' records, and the table goes.
fn move_contact_assignees(txn: &redb::WriteTransaction) -> Result<()> {
    let exists = txn.list_tables().map_err(storage)?.any(|table| {
        redb::TableHandle::name(&table) == redb::TableHandle::name(&tables::CONTACT_ASSIGNEES)
    });
    if !exists {
        return Ok(());
    }
    {
        let old = txn.open_table(tables::CONTACT_ASSIGNEES).map_err(storage)?;
        let mut contacts = txn.open_table(tables::CONTACTS).map_err(storage)?;
        for entry in old.iter().map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let (person, latest_ms) = value.value();
            let Some(bytes) = contacts.get(key.value()).map_err(storage)? else {
                continue;
            };
            let mut contact = decode_contact(bytes.value())?;
            drop(bytes);
            contact.assignee = Some(ContactAssignee {
                person: LeadId::from_u128(person),
                latest_ms,
            });
            let bytes = encode_record(&contact, "contact")?;
            contacts
                .insert(key.value(), bytes.as_slice())
                .map_err(storage)?;
        }
    }
    txn.delete_table(tables::CONTACT_ASSIGNEES)
        .map_err(storage)?;
    Ok(())
}

/// Schema 4 knew a campaign's placements only from its counters, so any scanned name was
/// one. Schema 5 lists them: the declared ones, and of the scanned ones the
/// `MAX_SCANNED_PLACEMENTS` with the most scans (names beyond those, such as a flood of
/// made-up ones, keep their counts in the campaign's totals but are no placements).
fn register_placements(txn: &redb::WriteTransaction) -> Result<()> {
    let campaigns: Vec<Campaign> = {
        let table = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
        let mut campaigns = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (_, bytes) = entry.map_err(storage)?;
            campaigns.push(decode(bytes.value(), "campaign")?);
        }
        campaigns
    };
    let totals = txn.open_table(tables::TOTAL_COUNTERS).map_err(storage)?;
    let mut placements = txn.open_table(tables::PLACEMENTS).map_err(storage)?;
    let prefix = format!("{}:", metric::QR_SCANS);
    for campaign in &campaigns {
        let slug = campaign.slug.as_str();
        for variant in &campaign.qr_variants {
            placements
                .insert((slug, variant.as_str()), tables::DECLARED)
                .map_err(storage)?;
        }
        let mut scanned: Vec<(u64, String)> = Vec::new();
        for entry in totals
            .range((slug, prefix.as_str())..(slug, "qr_scans;"))
            .map_err(storage)?
        {
            let (key, count) = entry.map_err(storage)?;
            let variant = &key.value().1[prefix.len()..];
            if !variant.is_empty() && !campaign.qr_variants.iter().any(|v| v == variant) {
                scanned.push((count.value(), variant.to_owned()));
            }
        }
        scanned.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, variant) in scanned.iter().take(tables::MAX_SCANNED_PLACEMENTS) {
            placements
                .insert((slug, variant.as_str()), tables::SCANNED)
                .map_err(storage)?;
        }
    }
    Ok(())
}

/// Whether `variant` is one of the campaign's placements (declared, or made by a scan).
fn is_placement(t: &Tables<'_>, slug: &str, variant: &str) -> Result<bool> {
    Ok(variant.is_empty()
        || t.placements
            .get((slug, variant))
            .map_err(storage)?
            .is_some())
}

/// Keeps the placements table in step with a campaign's declared `qr_variants`.
fn declare_placements(
    t: &mut Tables<'_>,
    before: Option<&Campaign>,
    after: &Campaign,
) -> Result<()> {
    let slug = after.slug.as_str();
    for variant in before.map(|c| c.qr_variants.as_slice()).unwrap_or_default() {
        if !after.qr_variants.contains(variant) {
            t.placements
                .remove((slug, variant.as_str()))
                .map_err(storage)?;
        }
    }
    for variant in &after.qr_variants {
        t.placements
            .insert((slug, variant.as_str()), tables::DECLARED)
            .map_err(storage)?;
    }
    Ok(())
}

/// Schema 3 stored conversions as JSON; 4 stores them as postcard, which the ROI summary
/// reads ten times faster. Rewritten in the opening transaction: all or nothing.
fn migrate_conversions_to_postcard(txn: &redb::WriteTransaction) -> Result<()> {
    let mut table = txn.open_table(tables::CONVERSIONS).map_err(storage)?;
    let mut rewritten = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (id, bytes) = entry.map_err(storage)?;
        let conversion: Conversion = decode(bytes.value(), "conversion")?;
        rewritten.push((
            id.value().to_owned(),
            encode_record(&conversion, "conversion")?,
        ));
    }
    for (id, bytes) in rewritten {
        table
            .insert(id.as_str(), bytes.as_slice())
            .map_err(storage)?;
    }
    Ok(())
}

pub fn set_meta(t: &mut Tables<'_>, key: &str, value: &[u8]) -> Result<()> {
    t.meta.insert(key, value).map_err(storage)?;
    Ok(())
}

pub fn remove_meta(t: &mut Tables<'_>, key: &str) -> Result<()> {
    t.meta.remove(key).map_err(storage)?;
    Ok(())
}

/// The `tokens` table's key for an idempotency key: a digest, never the key itself. An
/// external id or a call id may hold a phone number, and an erasure cannot find the keys of
/// a person's leads (a lead does not keep its key), so the file must not hold them in clear.
/// 16 bytes of SHA-256 in base64url: 22 characters, shorter than most keys.
pub fn token_key(key: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Schema 5 kept idempotency keys in clear: they become [`token_key`]s, in the opening
/// transaction (all or nothing).
fn migrate_tokens_to_digests(txn: &redb::WriteTransaction) -> Result<()> {
    let clear: Vec<(String, u128)> = {
        let table = txn.open_table(tables::TOKENS).map_err(storage)?;
        table
            .iter()
            .map_err(storage)?
            .map(|entry| {
                let (key, id) = entry.map_err(storage)?;
                Ok((token_key(key.value()), id.value()))
            })
            .collect::<Result<_>>()?
    };
    txn.delete_table(tables::TOKENS).map_err(storage)?;
    let mut table = txn.open_table(tables::TOKENS).map_err(storage)?;
    for (token, id) in clear {
        table.insert(token.as_str(), id).map_err(storage)?;
    }
    Ok(())
}

pub fn insert_lead(t: &mut Tables<'_>, ctx: &WriteContext, new: NewLead) -> Result<LeadOutcome> {
    let NewLead {
        mut lead,
        idempotency_key,
    } = new;
    let token = idempotency_key.as_deref().map(token_key);
    if let Some(token) = &token
        && let Some(first) = t.tokens.get(token.as_str()).map_err(storage)?
    {
        return Ok(LeadOutcome {
            id: LeadId::from_u128(first.value()),
            duplicate: true,
        });
    }
    require_campaign(t, lead.campaign.as_str())?;
    let campaign = ctx.campaigns.get(lead.campaign.as_str());
    // Read once: who the contact's leads go to, then its counts.
    let contact = read_contact(t, lead.contact.as_str())?;
    let keeper = contact.as_ref().and_then(|c| c.assignee);
    lead.assigned_to = roster::choose(t, ctx, &lead, keeper, campaign.as_deref())?;
    roster::record(t, &lead, None);
    follow_ups::set_deadline(t, &lead, campaign.and_then(|c| c.follow_up_hours))?;
    let id = lead.id.to_u128();
    let slug = lead.campaign.as_str();
    let record = encode_record(&lead, "lead")?;
    t.leads.insert(id, record.as_slice()).map_err(storage)?;
    t.leads_by_campaign
        .insert((slug, id), ())
        .map_err(storage)?;
    let first = record_contact(t, &lead, contact)?;
    if let Some(email) = &lead.email {
        record_email(t, email.as_str(), &lead)?;
    }
    let received_ms = lead.received_at.as_millisecond();
    t.touches
        .insert((lead.contact.as_str(), received_ms, id), slug)
        .map_err(storage)?;
    let day = day_number(lead.received_at, &ctx.tz);
    ctx.counters.bump(slug, day, metric::LEADS, 1);
    if let FirstLead::Now { replaced } = first {
        ctx.counters.bump(slug, day, metric::NEW_CONTACTS, 1);
        // A back-dated import can precede the lead that was the contact's first until now.
        if let Some((old_slug, old_at)) = replaced {
            ctx.counters.bump(
                &old_slug,
                day_number(old_at, &ctx.tz),
                metric::NEW_CONTACTS,
                -1,
            );
        }
    }
    for (metric, delta) in status_deltas(LeadStatus::New, lead.status) {
        ctx.counters.bump(slug, day, metric, delta);
    }
    if lead.source == Source::Qr {
        // A name that is no placement (made up, or past the cap) counts as "no placement".
        let variant = crate::qr::variant_of(&lead.utm);
        let placement = if is_placement(t, slug, variant)? {
            variant
        } else {
            ""
        };
        ctx.counters.bump(
            slug,
            day,
            &metric::per_variant(metric::QR_LEADS, placement),
            1,
        );
    }
    if let Some(token) = &token {
        t.tokens.insert(token.as_str(), id).map_err(storage)?;
    }
    outbox::append_lead(t, EventType::LeadCreated, &lead, &record)?;
    Ok(LeadOutcome {
        id: lead.id,
        duplicate: false,
    })
}

/// Whether a lead is its contact's first (earliest received, ties by lead id).
enum FirstLead {
    Now {
        /// The campaign and time of the lead that was first until this one.
        replaced: Option<(String, jiff::Timestamp)>,
    },
    No,
}

fn read_contact(t: &Tables<'_>, key: &str) -> Result<Option<Contact>> {
    match t.contacts.get(key).map_err(storage)? {
        Some(bytes) => Ok(Some(decode_contact(bytes.value())?)),
        None => Ok(None),
    }
}

/// Adds the lead to its contact, and says whether it is now the contact's first lead.
/// `existing` is the contact as stored ([`read_contact`]).
fn record_contact(t: &mut Tables<'_>, lead: &Lead, existing: Option<Contact>) -> Result<FirstLead> {
    let (contact, first) = match existing {
        None => (
            Contact {
                first_seen: lead.received_at,
                last_seen: lead.received_at,
                first_lead: lead.id,
                leads: 1,
                assignee: None,
            },
            FirstLead::Now { replaced: None },
        ),
        Some(mut c) => {
            c.leads += 1;
            c.last_seen = c.last_seen.max(lead.received_at);
            let precedes = (lead.received_at, lead.id) < (c.first_seen, c.first_lead);
            let first = if precedes {
                let replaced = match t.leads.get(c.first_lead.to_u128()).map_err(storage)? {
                    Some(bytes) => {
                        let old: Lead = decode_lead(bytes.value())?;
                        Some((old.campaign.to_string(), old.received_at))
                    }
                    // Retention may have erased it; its stub still says where it counted.
                    None => super::erasure::erased_origin(t, c.first_lead)?,
                };
                c.first_seen = lead.received_at;
                c.first_lead = lead.id;
                FirstLead::Now { replaced }
            } else {
                FirstLead::No
            };
            (c, first)
        }
    };
    let mut contact = contact;
    contact.remember_assignee(lead);
    let bytes = encode_record(&contact, "contact")?;
    t.contacts
        .insert(lead.contact.as_str(), bytes.as_slice())
        .map_err(storage)?;
    Ok(first)
}

/// Points the e-mail at this lead's contact unless a later lead already claims it.
fn record_email(t: &mut Tables<'_>, email: &str, lead: &Lead) -> Result<()> {
    let key = email.to_lowercase();
    let at = lead.received_at.as_millisecond();
    let newer = match t.emails.get(key.as_str()).map_err(storage)? {
        Some(existing) => at >= existing.value().0,
        None => true,
    };
    if newer {
        t.emails
            .insert(key.as_str(), (at, lead.contact.as_str()))
            .map_err(storage)?;
    }
    Ok(())
}

/// The outcome of each row of an import by line, and the contacts it wrote to.
pub type Imported = (Vec<(usize, Result<LeadOutcome>)>, Vec<String>);

/// Stores many leads in this one transaction, each made from its row by `make` just
/// before it is written: a file of 200,000 rows never exists as 200,000 leads at once.
/// Each row succeeds or fails on its own; only a storage failure fails the whole batch.
pub fn import_leads<T>(
    t: &mut Tables<'_>,
    ctx: &WriteContext,
    rows: Vec<T>,
    mut make: impl FnMut(T) -> (usize, Result<NewLead>),
) -> Result<Imported> {
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut contacts = Vec::new();
    for row in rows {
        let (line, lead) = make(row);
        let lead = match lead {
            Ok(lead) => lead,
            Err(error) => {
                outcomes.push((line, Err(error)));
                continue;
            }
        };
        let contact = lead.lead.contact.clone();
        match insert_lead(t, ctx, lead) {
            Err(error) if error.kind == crate::error::ErrorKind::Unavailable => return Err(error),
            outcome => {
                if matches!(
                    outcome,
                    Ok(LeadOutcome {
                        duplicate: false,
                        ..
                    })
                ) {
                    contacts.push(contact);
                }
                outcomes.push((line, outcome));
            }
        }
    }
    Ok((outcomes, contacts))
}

/// Counts `views` renders of a campaign's form on `day`; for `qr_variant` too when the
/// visitors came by a scan of an existing placement (a view never creates one).
pub fn count_form_views(
    t: &Tables<'_>,
    ctx: &WriteContext,
    slug: &Slug,
    day: u32,
    qr_variant: Option<&str>,
    views: u64,
) -> Result<()> {
    if t.campaigns.get(slug.as_str()).map_err(storage)?.is_none() {
        // Viewed, then deleted before the flush: nothing to count for.
        return Ok(());
    }
    let views = i64::try_from(views).unwrap_or(i64::MAX);
    ctx.counters
        .bump(slug.as_str(), day, metric::FORM_VIEWS, views);
    if let Some(variant) = qr_variant {
        // A name that is no placement (made up, or past the cap) counts as "no placement".
        let placement = if is_placement(t, slug.as_str(), variant)? {
            variant
        } else {
            ""
        };
        ctx.counters.bump(
            slug.as_str(),
            day,
            &metric::per_variant(metric::QR_FORM_VIEWS, placement),
            views,
        );
    }
    Ok(())
}

/// Counts one QR scan, in total and for its placement. An unknown placement is created while the campaign has fewer than
/// `MAX_SCANNED_PLACEMENTS` made by scans; past that the scan counts for the campaign with
/// no placement (`""`), so made-up names cannot grow the store.
pub fn count_scan(
    t: &mut Tables<'_>,
    ctx: &WriteContext,
    slug: &Slug,
    variant: &str,
    at: jiff::Timestamp,
    by: crate::scanner::Scanner,
) -> Result<()> {
    require_campaign(t, slug.as_str())?;
    let slug = slug.as_str();
    let day = day_number(at, &ctx.tz);
    ctx.counters.bump(slug, day, metric::SCANS, 1);
    let hour = at.to_zoned_datetime(ctx.tz.clone()).hour();
    for (kind, value) in [
        (metric::SCAN_APP, by.app),
        (metric::SCAN_OS, by.os),
        (metric::SCAN_HOUR, &format!("{hour:02}")),
    ] {
        ctx.counters
            .bump(slug, day, &metric::per_variant(kind, value), 1);
    }
    let placement = if is_placement(t, slug, variant)? {
        variant
    } else if scanned_placements(t, slug)? < tables::MAX_SCANNED_PLACEMENTS {
        t.placements
            .insert((slug, variant), tables::SCANNED)
            .map_err(storage)?;
        variant
    } else {
        ""
    };
    ctx.counters.bump(
        slug,
        day,
        &metric::per_variant(metric::QR_SCANS, placement),
        1,
    );
    Ok(())
}

fn scanned_placements(t: &Tables<'_>, slug: &str) -> Result<usize> {
    let mut count = 0;
    for entry in t
        .placements
        .range((slug, "")..=(slug, "\u{10FFFF}"))
        .map_err(storage)?
    {
        if entry.map_err(storage)?.1.value() == tables::SCANNED {
            count += 1;
        }
    }
    Ok(count)
}

pub fn create_campaign(t: &mut Tables<'_>, campaign: Campaign) -> Result<Campaign> {
    if t.campaigns
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
    insert_campaign(t, &campaign)?;
    outbox::append_for_replica(t, EventType::CampaignSaved, || shared_record(&campaign))?;
    Ok(campaign)
}

/// Stores a new campaign with its tracking numbers and placements.
pub(super) fn insert_campaign(t: &mut Tables<'_>, campaign: &Campaign) -> Result<()> {
    check_tracking_numbers(&t.tracking_numbers, campaign)?;
    check_utm_campaigns(&t.campaigns, campaign)?;
    for number in &campaign.tracking_numbers {
        t.tracking_numbers
            .insert(number.as_str(), campaign.slug.as_str())
            .map_err(storage)?;
    }
    t.campaigns
        .insert(
            campaign.slug.as_str(),
            encode_campaign(campaign)?.as_slice(),
        )
        .map_err(storage)?;
    declare_placements(t, None, campaign)
}

/// A campaign as replication shares it: its stored form, which a node reads back as is.
fn shared_record(campaign: &Campaign) -> serde_json::Value {
    serde_json::to_value(campaign).unwrap_or(serde_json::Value::Null)
}

pub fn update_campaign<F>(t: &mut Tables<'_>, slug: &Slug, change: F) -> Result<Campaign>
where
    F: FnOnce(&mut Campaign) -> Result<()>,
{
    let before: Campaign = match t.campaigns.get(slug.as_str()).map_err(storage)? {
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
    replace_campaign(t, &before, &after)?;
    if after != before {
        outbox::append_for_replica(t, EventType::CampaignSaved, || shared_record(&after))?;
    }
    Ok(after)
}

/// Replaces a stored campaign, moving its tracking numbers and placements.
pub(super) fn replace_campaign(
    t: &mut Tables<'_>,
    before: &Campaign,
    after: &Campaign,
) -> Result<()> {
    let slug = &after.slug;
    if after.currency != before.currency && has_costs(t, slug.as_str())? {
        return Err(Error::conflict(
            "currency_locked",
            "this campaign has cost entries in its currency; delete them before changing the currency",
        )
        .with_field("currency"));
    }
    check_tracking_numbers(&t.tracking_numbers, after)?;
    check_utm_campaigns(&t.campaigns, after)?;
    for number in &before.tracking_numbers {
        t.tracking_numbers
            .remove(number.as_str())
            .map_err(storage)?;
    }
    for number in &after.tracking_numbers {
        t.tracking_numbers
            .insert(number.as_str(), slug.as_str())
            .map_err(storage)?;
    }
    t.campaigns
        .insert(slug.as_str(), encode_campaign(after)?.as_slice())
        .map_err(storage)?;
    declare_placements(t, Some(before), after)
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

/// What a `PATCH` of a lead changes: its status, its salesperson (`Some(None)` = nobody),
/// or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeadChange {
    pub status: Option<LeadStatus>,
    pub assigned_to: Option<Option<LeadId>>,
}

pub fn update_lead(
    t: &mut Tables<'_>,
    ctx: &WriteContext,
    id: LeadId,
    change: LeadChange,
    now: jiff::Timestamp,
) -> Result<Lead> {
    let mut lead: Lead = match t.leads.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_lead(bytes.value())?,
        None => {
            return Err(Error::not_found(
                "unknown_lead",
                format!("there is no lead {id}"),
            ));
        }
    };
    // Checked before anything is written: the writer's transaction is shared.
    if let Some(Some(person)) = change.assigned_to
        && roster::get(t, person)?.is_none()
    {
        return Err(Error::invalid(
            "assigned_to",
            "unknown_salesperson",
            format!("there is no salesperson {person}"),
        ));
    }
    let status = change.status.unwrap_or(lead.status);
    let assigned_to = change.assigned_to.unwrap_or(lead.assigned_to);
    if lead.status == status && lead.assigned_to == assigned_to {
        return Ok(lead);
    }
    let day = day_number(lead.received_at, &ctx.tz);
    for (metric, delta) in status_deltas(lead.status, status) {
        ctx.counters
            .bump(lead.campaign.as_str(), day, metric, delta);
    }
    // Moving a lead on from `new` is following it up.
    if lead.status == LeadStatus::New && status != LeadStatus::New {
        follow_ups::followed_up(t, ctx, &lead, now)?;
    }
    lead.status = status;
    if lead.assigned_to != assigned_to {
        let previous = lead.assigned_to;
        lead.assigned_to = assigned_to;
        roster::record(t, &lead, previous);
        remember_assignee(t, &lead)?;
    }
    let record = encode_record(&lead, "lead")?;
    t.leads
        .insert(id.to_u128(), record.as_slice())
        .map_err(storage)?;
    outbox::append_lead(t, EventType::LeadUpdated, &lead, &record)?;
    Ok(lead)
}

/// 404 unless the campaign exists (it may not, if a request raced a bad slug).
fn require_campaign(t: &Tables<'_>, slug: &str) -> Result<()> {
    if t.campaigns.get(slug).map_err(storage)?.is_none() {
        return Err(Error::not_found(
            "unknown_campaign",
            format!("there is no campaign {slug:?}"),
        ));
    }
    Ok(())
}

fn has_costs(t: &Tables<'_>, slug: &str) -> Result<bool> {
    let mut range = t
        .costs
        .range((slug, 0, "")..=(slug, u32::MAX, "\u{10FFFF}"))
        .map_err(storage)?;
    Ok(range.next().is_some())
}

/// `currency` is the one the amount was read in: if the campaign's currency changed since,
/// the amount would mean something else, so the entry is refused.
pub fn add_cost(
    t: &mut Tables<'_>,
    slug: &Slug,
    entry: CostEntry,
    currency: crate::domain::Currency,
) -> Result<CostEntry> {
    let stored: Campaign = match t.campaigns.get(slug.as_str()).map_err(storage)? {
        Some(bytes) => decode(bytes.value(), "campaign")?,
        None => {
            return Err(Error::not_found(
                "unknown_campaign",
                format!("there is no campaign {:?}", slug.as_str()),
            ));
        }
    };
    if stored.currency != currency {
        return Err(Error::conflict(
            "currency_changed",
            "the campaign's currency changed meanwhile; send the amount again",
        )
        .with_field("amount"));
    }
    insert_cost(t, slug, &entry)?;
    outbox::append_for_replica(t, EventType::CostRecorded, || entry.to_json(&stored))?;
    Ok(entry)
}

pub(super) fn insert_cost(t: &mut Tables<'_>, slug: &Slug, entry: &CostEntry) -> Result<()> {
    let bytes = serde_json::to_vec(entry)
        .map_err(|e| Error::internal(format!("cannot encode a cost: {e}")))?;
    t.costs
        .insert(
            (slug.as_str(), entry.day(), entry.id.as_str()),
            bytes.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

pub fn delete_cost(t: &mut Tables<'_>, slug: &Slug, id: &str) -> Result<()> {
    remove_cost(t, slug, id)?;
    // Every node deletes it too (API.md: deleted everywhere).
    outbox::append_for_replica(
        t,
        EventType::CostDeleted,
        || serde_json::json!({"id": id, "campaign": slug.as_str()}),
    )
}

/// Removes a cost entry of `slug` by id: `unknown_cost` (404) when it has none.
pub(super) fn remove_cost(t: &mut Tables<'_>, slug: &Slug, id: &str) -> Result<()> {
    let mut found = None;
    for entry in t
        .costs
        .range((slug.as_str(), 0, "")..=(slug.as_str(), u32::MAX, "\u{10FFFF}"))
        .map_err(storage)?
    {
        let (key, _) = entry.map_err(storage)?;
        let (_, day, entry_id) = key.value();
        if entry_id == id {
            found = Some(day);
            break;
        }
    }
    let day = found.ok_or_else(|| {
        Error::not_found(
            "unknown_cost",
            format!("campaign {:?} has no cost entry {id:?}", slug.as_str()),
        )
    })?;
    t.costs.remove((slug.as_str(), day, id)).map_err(storage)?;
    Ok(())
}

/// Finds the contact a conversion names, and the currency its amount is read in by
/// default (that of the campaign of the lead it names, else of the contact's first lead).
fn match_contact(t: &Tables<'_>, reference: &ContactRef) -> Result<Matched> {
    let unknown = || {
        Error::invalid(
            reference.field(),
            "unknown_contact",
            format!("no lead matches this {}", reference.field()),
        )
    };
    let read_lead = |id: LeadId| -> Result<Option<Lead>> {
        match t.leads.get(id.to_u128()).map_err(storage)? {
            Some(bytes) => decode_lead(bytes.value()).map(Some),
            None => Ok(None),
        }
    };
    let lead = match reference {
        ContactRef::Lead(id) => {
            let lead = read_lead(*id)?.ok_or_else(unknown)?;
            (lead.campaign.to_string(), lead.contact, Some(*id))
        }
        ContactRef::Phone(_) | ContactRef::Email(_) => {
            let key = match reference {
                ContactRef::Phone(phone) => phone.as_str().to_owned(),
                // The address may belong to a contact keyed by phone.
                ContactRef::Email(email) => {
                    let found = t
                        .emails
                        .get(email.as_str().to_lowercase().as_str())
                        .map_err(storage)?;
                    found
                        .map(|entry| entry.value().1.to_owned())
                        .ok_or_else(unknown)?
                }
                ContactRef::Lead(_) => unreachable!(),
            };
            let contact: Contact = match t.contacts.get(key.as_str()).map_err(storage)? {
                Some(bytes) => decode_contact(bytes.value())?,
                None => return Err(unknown()),
            };
            match read_lead(contact.first_lead)? {
                Some(lead) => (lead.campaign.to_string(), key, None),
                // Retention erased the contact's first lead; its stub keeps the campaign.
                None => {
                    let (campaign, _) = super::erasure::erased_origin(t, contact.first_lead)?
                        .ok_or_else(unknown)?;
                    (campaign, key, None)
                }
            }
        }
    };
    let (campaign, contact, named) = lead;
    let currency = match t.campaigns.get(campaign.as_str()).map_err(storage)? {
        Some(bytes) => decode::<Campaign>(bytes.value(), "campaign")?.currency,
        None => crate::domain::Currency::CNY,
    };
    Ok(Matched {
        contact,
        lead_id: named,
        currency,
    })
}

/// The campaign of the contact's latest lead: whose sales team a conversion concerns.
fn latest_campaign(t: &Tables<'_>, contact: &str) -> Result<Option<String>> {
    let latest = t
        .touches
        .range((contact, i64::MIN, 0)..=(contact, i64::MAX, u128::MAX))
        .map_err(storage)?
        .next_back()
        .transpose()
        .map_err(storage)?;
    Ok(latest.map(|(_, slug)| slug.value().to_owned()))
}

/// Upserts a conversion matched to a lead here; `elsewhere` is the contact as other nodes' leads (in PostgreSQL)
/// name it, taken when no lead here matches (API.md: a replicating node matches a
/// conversion against every node's leads as well as its own).
pub fn upsert_conversion_as(
    t: &mut Tables<'_>,
    input: &ConversionInput,
    now: jiff::Timestamp,
    elsewhere: Option<&Matched>,
) -> Result<(Conversion, Upsert)> {
    let matched = match (match_contact(t, &input.contact), elsewhere) {
        (Err(error), Some(matched)) if error.code == "unknown_contact" => matched.clone(),
        (matched, _) => matched?,
    };
    let existing: Option<Conversion> =
        match t.conversions.get(input.id.as_str()).map_err(storage)? {
            Some(bytes) => Some(decode_record(bytes.value(), "conversion")?),
            None => None,
        };
    let (conversion, upsert) = merge(existing.as_ref(), input, matched, now)?;
    if upsert != Upsert::Unchanged {
        let bytes = encode_record(&conversion, "conversion")?;
        t.conversions
            .insert(conversion.id.as_str(), bytes.as_slice())
            .map_err(storage)?;
        // Found only for the event: an import of 100,000 conversions with nobody listening
        // does not look up 100,000 journeys for nothing.
        if outbox::listening(t)? {
            let campaign = latest_campaign(t, &conversion.contact)?;
            outbox::append(
                t,
                EventType::ConversionRecorded,
                campaign.as_deref(),
                |_| conversion.to_json(),
            )?;
        }
    }
    Ok((conversion, upsert))
}

/// Upserts many conversions in this one transaction; rows fail on their own.
pub fn import_conversions(
    t: &mut Tables<'_>,
    rows: Vec<(usize, ConversionInput, Option<Matched>)>,
    now: jiff::Timestamp,
) -> Result<Vec<(usize, Result<Upsert>)>> {
    let mut outcomes = Vec::with_capacity(rows.len());
    for (line, input, elsewhere) in rows {
        match upsert_conversion_as(t, &input, now, elsewhere.as_ref()) {
            Err(error) if error.kind == crate::error::ErrorKind::Unavailable => return Err(error),
            outcome => outcomes.push((line, outcome.map(|(_, upsert)| upsert))),
        }
    }
    Ok(outcomes)
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

/// Counter changes of one batch, summed in memory and written once before its commit:
/// twenty leads for one campaign and day cost one update per tier, not twenty. Discarded
/// with the batch when it fails.
#[derive(Debug, Default)]
pub struct PendingCounters(
    std::cell::RefCell<std::collections::HashMap<(String, u32, String), i64>>,
);

impl PendingCounters {
    /// Adds `delta` to `metric` of `slug` on `day` (`YYYYMMDD`).
    pub(super) fn bump(&self, slug: &str, day: u32, metric: &str, delta: i64) {
        *self
            .0
            .borrow_mut()
            .entry((slug.to_owned(), day, metric.to_owned()))
            .or_default() += delta;
    }

    pub(super) fn discard(&self) {
        self.0.borrow_mut().clear();
    }

    /// Writes the summed changes to the day, month and all-time tables: a summary of any
    /// range then reads few rows.
    pub(super) fn flush(&self, t: &mut Tables<'_>) -> Result<()> {
        let pending = std::mem::take(&mut *self.0.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        // A replicating node ships each changed day row's new value (not the change): a
        // row shipped twice, or out of order, then still ends at its latest value.
        let mut shipped = outbox::replicating(t)?.then(Vec::new);
        let Tables {
            counters: day,
            monthly_counters: month,
            total_counters: total,
            ..
        } = t;
        let mut months: std::collections::HashMap<(&str, u32, &str), i64> =
            std::collections::HashMap::new();
        let mut totals: std::collections::HashMap<(&str, &str), i64> =
            std::collections::HashMap::new();
        for ((slug, date, metric), delta) in &pending {
            let key = (slug.as_str(), *date, metric.as_str());
            let next = day
                .get(key)
                .map_err(storage)?
                .map_or(0, |v| v.value())
                .saturating_add_signed(*delta);
            day.insert(key, next).map_err(storage)?;
            if let Some(rows) = &mut shipped {
                rows.push(counter_row(slug, *date, metric, next));
            }
            if metric::is_daily_only(metric) {
                continue;
            }
            *months
                .entry((slug.as_str(), date / 100, metric.as_str()))
                .or_default() += delta;
            *totals.entry((slug.as_str(), metric.as_str())).or_default() += delta;
        }
        for (key, delta) in months {
            let next = month
                .get(key)
                .map_err(storage)?
                .map_or(0, |v| v.value())
                .saturating_add_signed(delta);
            month.insert(key, next).map_err(storage)?;
        }
        for (key, delta) in totals {
            let next = total
                .get(key)
                .map_err(storage)?
                .map_or(0, |v| v.value())
                .saturating_add_signed(delta);
            total.insert(key, next).map_err(storage)?;
        }
        if let Some(rows) = shipped {
            outbox::append_for_replica(
                t,
                EventType::CountersChanged,
                || serde_json::json!({ "rows": rows }),
            )?;
        }
        Ok(())
    }
}

/// A day counter as replication ships it (`date` as YYYYMMDD).
pub(super) fn counter_row(slug: &str, date: u32, metric: &str, value: u64) -> serde_json::Value {
    serde_json::json!({
        "campaign": slug,
        "day": format!("{:04}-{:02}-{:02}", date / 10_000, date / 100 % 100, date % 100),
        "metric": metric,
        "value": value,
    })
}

fn encode_campaign(campaign: &Campaign) -> Result<Vec<u8>> {
    serde_json::to_vec(campaign)
        .map_err(|e| Error::internal(format!("cannot encode a campaign: {e}")))
}

/// Leads, contacts and conversions, the records read in bulk, are stored as compact
/// postcard bytes;
/// their layout is fixed by `SCHEMA_VERSION`.
pub(crate) fn encode_record<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    postcard::to_allocvec(value)
        .map_err(|e| Error::internal(format!("cannot encode a {what}: {e}")))
}

/// A stored lead, also one written before leads had an assignee (schema 5 records end one
/// field earlier; such a lead is unassigned).
pub(crate) fn decode_lead(bytes: &[u8]) -> Result<Lead> {
    match postcard::from_bytes::<Lead>(bytes) {
        Ok(lead) => Ok(lead),
        Err(postcard::Error::DeserializeUnexpectedEnd) => {
            decode_record::<crate::lead::LeadV5>(bytes, "lead").map(Lead::from)
        }
        Err(e) => Err(Error::internal(format!(
            "a stored lead cannot be read: {e}"
        ))),
    }
}

pub(crate) fn decode_record<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes)
        .map_err(|e| Error::internal(format!("a stored {what} cannot be read: {e}")))
}

/// Campaigns and costs are few and change shape as features grow: JSON.
pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("a stored {what} cannot be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_names(txn: &redb::ReadTransaction) -> Vec<String> {
        txn.list_tables()
            .unwrap()
            .map(|t| redb::TableHandle::name(&t).to_owned())
            .collect()
    }

    #[test]
    fn a_contacts_salesperson_moves_from_its_old_table_into_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("s.redb")).unwrap();
        let tz = jiff::tz::TimeZone::UTC;
        initialise(&db, &tz).unwrap();
        // As the first build with assignment left a store: the contact's record without a
        // salesperson, and the salesperson in a table of its own.
        let person = LeadId::generate();
        let old = ContactV1 {
            first_seen: jiff::Timestamp::UNIX_EPOCH,
            last_seen: jiff::Timestamp::UNIX_EPOCH,
            first_lead: LeadId::generate(),
            leads: 2,
        };
        let txn = db.begin_write().unwrap();
        {
            let mut contacts = txn.open_table(tables::CONTACTS).unwrap();
            let bytes = postcard::to_allocvec(&old).unwrap();
            contacts.insert("+8613800138000", bytes.as_slice()).unwrap();
            let mut assignees = txn.open_table(tables::CONTACT_ASSIGNEES).unwrap();
            assignees
                .insert("+8613800138000", (person.to_u128(), 42))
                .unwrap();
        }
        txn.commit().unwrap();

        initialise(&db, &tz).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let contacts = txn.open_table(tables::CONTACTS).unwrap();
        let contact =
            decode_contact(contacts.get("+8613800138000").unwrap().unwrap().value()).unwrap();
        assert_eq!((contact.leads, contact.first_lead), (2, old.first_lead));
        assert_eq!(
            contact.assignee,
            Some(ContactAssignee {
                person,
                latest_ms: 42
            })
        );
        let names = table_names(&txn);
        assert!(
            !names.contains(&"contact_assignees".to_owned()),
            "{names:?}"
        );
    }

    #[test]
    fn a_salespersons_index_entries_move_into_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("s.redb")).unwrap();
        let tz = jiff::tz::TimeZone::UTC;
        initialise(&db, &tz).unwrap();
        // As the first builds with assignment left a store: one entry per lead.
        let (first, second) = (LeadId::generate().to_u128(), LeadId::generate().to_u128());
        let leads: Vec<u128> = (0..300).collect();
        let txn = db.begin_write().unwrap();
        {
            let mut entries = txn.open_table(tables::LEADS_BY_ASSIGNEE_ENTRIES).unwrap();
            for &lead in &leads {
                entries.insert((first, lead), ()).unwrap();
            }
            entries.insert((second, 7), ()).unwrap();
        }
        txn.commit().unwrap();

        initialise(&db, &tz).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let chunks = txn.open_table(tables::LEADS_BY_ASSIGNEE).unwrap();
        let newest_first = |person| {
            let mut ids = Vec::new();
            super::super::assignee_index::each_lead_newest_first(
                &chunks,
                person,
                0,
                u128::MAX,
                |id| {
                    ids.push(id);
                    Ok(true)
                },
            )
            .unwrap();
            ids
        };
        assert_eq!(
            newest_first(first),
            leads.iter().rev().copied().collect::<Vec<_>>()
        );
        assert_eq!(newest_first(second), vec![7]);
        let names = table_names(&txn);
        assert!(
            !names.contains(&"leads_by_assignee".to_owned()),
            "{names:?}"
        );
    }

    fn conversion() -> Conversion {
        let at = |text: &str| text.parse::<jiff::Timestamp>().unwrap();
        Conversion {
            id: "crm-1".into(),
            contact: "+8613800138000".into(),
            lead_id: None,
            stage: crate::conversion::Stage::Won,
            amount: 123_456,
            currency: crate::domain::Currency::CNY,
            moment: at("2025-03-01T10:00:00.123456789+08:00"),
            won_at: Some(at("2025-03-09T18:30:00.5Z")),
            lost_at: None,
            updated_at: at("2025-03-10T00:00:00Z"),
        }
    }

    #[test]
    fn conversions_keep_every_digit_of_their_times_in_postcard() {
        let bytes = encode_record(&conversion(), "conversion").unwrap();
        let back: Conversion = decode_record(&bytes, "conversion").unwrap();
        assert_eq!(back, conversion());
    }

    /// A store as a build of schema `version` left it: every table of today's build, the
    /// older version number, and what `fill` writes in the old layout.
    fn store_at_schema(
        version: u64,
        fill: impl FnOnce(&redb::WriteTransaction),
    ) -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("s.redb")).unwrap();
        initialise(&db, &jiff::tz::TimeZone::UTC).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(SCHEMA_KEY, version.to_le_bytes().as_slice())
            .unwrap();
        fill(&txn);
        txn.commit().unwrap();
        (dir, db)
    }

    #[test]
    fn a_schema_4_store_gets_its_placements_listed_on_open() {
        let tz = jiff::tz::TimeZone::UTC;
        let body = serde_json::json!({"slug": "expo", "name": "Expo", "qr_variants": ["booth-a"]});
        let campaign = Campaign::create(
            body.as_object().unwrap(),
            &crate::forms::FormSet::builtin(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap();
        let (_dir, db) = store_at_schema(4, |txn| {
            let mut campaigns = txn.open_table(tables::CAMPAIGNS).unwrap();
            campaigns
                .insert("expo", encode_campaign(&campaign).unwrap().as_slice())
                .unwrap();
            // Schema 4 knew placements only by their counters: a real one, and a flood.
            let mut totals = txn.open_table(tables::TOTAL_COUNTERS).unwrap();
            totals.insert(("expo", "qr_scans:poster"), 500).unwrap();
            totals.insert(("expo", "qr_scans:booth-a"), 900).unwrap();
            totals.insert(("expo", "qr_scans:"), 7).unwrap();
            for n in 0..100 {
                let name = format!("qr_scans:junk-{n:03}");
                totals.insert(("expo", name.as_str()), 1).unwrap();
            }
        });

        initialise(&db, &tz).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let placements = txn.open_table(tables::PLACEMENTS).unwrap();
        let listed: Vec<(String, u8)> = placements
            .iter()
            .unwrap()
            .map(|e| {
                let (key, kind) = e.unwrap();
                (key.value().1.to_owned(), kind.value())
            })
            .collect();
        assert_eq!(listed.len(), 1 + tables::MAX_SCANNED_PLACEMENTS);
        assert!(listed.contains(&("booth-a".into(), tables::DECLARED)));
        assert!(
            listed.contains(&("poster".into(), tables::SCANNED)),
            "the most scanned first"
        );
        let version = txn.open_table(tables::META).unwrap();
        let version = version.get(SCHEMA_KEY).unwrap().unwrap().value().to_vec();
        assert_eq!(version, tables::SCHEMA_VERSION.to_le_bytes());
    }

    #[test]
    fn a_schema_3_store_has_its_json_conversions_rewritten_on_open() {
        let tz = jiff::tz::TimeZone::UTC;
        let (_dir, db) = store_at_schema(3, |txn| {
            let json = serde_json::to_vec(&conversion()).unwrap();
            let mut conversions = txn.open_table(tables::CONVERSIONS).unwrap();
            conversions.insert("crm-1", json.as_slice()).unwrap();
        });

        initialise(&db, &tz).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let meta = txn.open_table(tables::META).unwrap();
            let version = meta.get(SCHEMA_KEY).unwrap().unwrap().value().to_vec();
            assert_eq!(version, tables::SCHEMA_VERSION.to_le_bytes());
            let conversions = txn.open_table(tables::CONVERSIONS).unwrap();
            let stored = conversions.get("crm-1").unwrap().unwrap();
            let back: Conversion = decode_record(stored.value(), "conversion").unwrap();
            assert_eq!(back, conversion());
        }
        txn.abort().unwrap();
    }

    #[test]
    fn a_schema_5_store_has_its_idempotency_keys_digested_on_open() {
        let tz = jiff::tz::TimeZone::UTC;
        let (_dir, db) = store_at_schema(5, |txn| {
            let mut tokens = txn.open_table(tables::TOKENS).unwrap();
            tokens.insert("import:card-13899997777", 7).unwrap();
            tokens.insert("form:expo:t-1", 8).unwrap();
        });

        initialise(&db, &tz).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let version = txn.open_table(tables::META).unwrap();
        let version = version.get(SCHEMA_KEY).unwrap().unwrap().value().to_vec();
        assert_eq!(version, tables::SCHEMA_VERSION.to_le_bytes());
        let tokens = txn.open_table(tables::TOKENS).unwrap();
        let stored: Vec<(String, u128)> = tokens
            .iter()
            .unwrap()
            .map(|e| e.map(|(k, v)| (k.value().to_owned(), v.value())).unwrap())
            .collect();
        assert_eq!(stored.len(), 2);
        // A replay still finds its lead; the phone in the external id is gone.
        let card = token_key("import:card-13899997777");
        assert_eq!(tokens.get(card.as_str()).unwrap().unwrap().value(), 7);
        assert!(
            stored.iter().all(|(k, _)| !k.contains("1389999")),
            "{stored:?}"
        );
        assert_eq!(card.len(), 22);
        assert_ne!(card, token_key("import:card-13899997778"));
    }

    #[test]
    fn other_schema_versions_are_refused() {
        let tz = jiff::tz::TimeZone::UTC;
        let (_dir, db) = store_at_schema(2, |_| {});
        let error = initialise(&db, &tz).unwrap_err();
        assert!(error.message.contains("another version"), "{error:?}");
    }

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
