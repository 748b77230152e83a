//! Erasure of a person (PIPL art. 47, GDPR art. 17) and of leads past their retention, in
//! the writer's transaction. What identifies or describes the person goes: the leads'
//! records, the contact's record under its phone or e-mail, the e-mail index, the
//! follow-up notes, the person's details in events still waiting in the outbox. What the
//! reports count stays, with nothing personal left in it: the counters are not touched,
//! each erased lead leaves a stub (campaign, day, status: what `leadgate check` recounts),
//! and the contact's journey (its touches, its conversions) moves under an anonymous key,
//! so every attribution model credits exactly as before.
//!
//! Idempotency keys of erased leads are kept (they hold no personal data): a form retried
//! after the erasure answers with the erased id instead of storing the person again.

use std::collections::HashMap;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::open::Tables;
use super::outbox::{self, EventType};
use super::storage;
use super::write::{decode_contact, decode_lead, decode_record, encode_record};
use crate::conversion::Conversion;
use crate::domain::{LeadId, LeadStatus};
use crate::error::{Error, Result};
use crate::lead::Lead;

/// Prefix of the anonymous contact keys erased journeys live under. A real key starts with
/// `+` (a phone) or holds `@` (an e-mail): these never collide with one.
pub const ANONYMOUS_PREFIX: &str = "erased-";

/// Whom an erasure request names: a contact key (E.164 phone), or an e-mail address.
#[derive(Debug, Clone)]
pub enum Person {
    Phone(String),
    Email(String),
    /// The contact of a lead, by its key (the console's "erase this person").
    Key(String),
}

/// meta key: when the oldest erasure whose values may still lie in the file's freed pages
/// was committed (ms, LE). Written in the erasure's own transaction, so a crash before
/// the rewrite does not forget it; a copy of the store never holds it (a copy holds no
/// freed pages).
pub const REWRITE_PENDING_KEY: &str = "rewrite_pending";

/// What is left of an erased lead: enough for the counters to be recounted and for its id
/// to answer `410 Gone`, nothing about the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedLead {
    pub campaign: String,
    #[serde(with = "crate::domain::compact_time")]
    pub received_at: jiff::Timestamp,
    pub status: LeadStatus,
    /// The contact key its touch is kept under: anonymous once the contact is erased; the
    /// contact's own key while a contact whose older leads retention erased lives on.
    pub contact: String,
    #[serde(with = "crate::domain::compact_time")]
    pub erased_at: jiff::Timestamp,
}

/// The proof of an erasure, as `POST /api/erasures` answers and `GET` lists it: no
/// personal data, only a hash of the contact key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: LeadId,
    /// SHA-256 (hex) of the contact key: the E.164 phone, else the lower-cased e-mail.
    pub contact: String,
    pub leads: u64,
    pub conversions: u64,
    #[serde(with = "crate::domain::compact_time")]
    pub erased_at: jiff::Timestamp,
    /// Why: `request` (the person asked) or `retention`.
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    Request,
    Retention,
    /// Another node erased the person at their request (see [`erase_from_elsewhere`]).
    // New variants go last: postcard stores a variant as its position.
    Replicated,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Request => "request",
            Reason::Retention => "retention",
            Reason::Replicated => "replicated",
        }
    }
}

impl Receipt {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "contact": self.contact,
            "leads": self.leads,
            "conversions": self.conversions,
            "erased_at": crate::lead::format_timestamp(self.erased_at),
            "reason": self.reason.as_str(),
        })
    }
}

/// SHA-256 hex of a contact key, as receipts and `contact.erased` events name it.
pub fn contact_hash(key: &str) -> String {
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What one erasure removed, for its receipt and its event.
#[derive(Debug, Default)]
struct Erased {
    leads: Vec<LeadId>,
    conversions: Vec<String>,
    /// Contact key -> the anonymous key its journey moved to.
    moved: HashMap<String, String>,
}

/// The work of one transaction's erasures that reads a whole table (the conversions, the
/// outbox): gathered, and done once for all of them, not once per contact.
#[derive(Default)]
struct Sweep {
    /// Erased lead -> the lead as waiting events may still show it.
    redacted: HashMap<u128, Lead>,
}

impl Sweep {
    /// Unlinks the conversions of every contact the erasures moved, redacts the waiting
    /// events, and notes each erasure's conversions.
    fn finish(self, t: &mut Tables<'_>, erasures: &mut [&mut Erased]) -> Result<()> {
        let moved: HashMap<String, String> = erasures
            .iter()
            .flat_map(|e| e.moved.iter().map(|(k, a)| (k.clone(), a.clone())))
            .collect();
        let unlinked = unlink_conversions(t, &moved)?;
        let shown: HashMap<String, String> = unlinked
            .iter()
            .map(|(id, (_, json))| (id.clone(), json.clone()))
            .collect();
        outbox::redact_pending(t, &self.redacted, &shown)?;
        for erased in erasures.iter_mut() {
            for (id, (key, _)) in &unlinked {
                if erased.moved.contains_key(key) {
                    erased.conversions.push(id.clone());
                }
            }
        }
        Ok(())
    }
}

/// Erases the contacts `keys` (one person: the contact found by phone, or those an e-mail
/// names) in this transaction; `unknown_contact` (404) when none of them exists. Writes
/// receipt `receipt` and a `contact.erased` event.
pub fn erase_contacts(
    t: &mut Tables<'_>,
    keys: &[String],
    reason: Reason,
    receipt: LeadId,
    now: jiff::Timestamp,
) -> Result<Receipt> {
    let mut found = Vec::new();
    for key in keys {
        if t.contacts.get(key.as_str()).map_err(storage)?.is_some() && !found.contains(key) {
            found.push(key.clone());
        }
    }
    if found.is_empty() {
        return Err(Error::not_found(
            "unknown_contact",
            "no lead of this person is stored (never, or already erased)",
        ));
    }
    let mut erased = Erased::default();
    let mut sweep = Sweep::default();
    for key in &found {
        erase_contact(t, key, now, &mut erased, &mut sweep)?;
    }
    sweep.finish(t, &mut [&mut erased])?;
    let contacts = found.iter().map(|key| contact_hash(key)).collect();
    finish(t, receipt, contacts, erased, reason, now)
}

/// Writes the receipt (`id`) and the `contact.erased` event of an erasure of `contacts`
/// (hashes; the receipt names the first, the event all of them).
fn finish(
    t: &mut Tables<'_>,
    id: LeadId,
    contacts: Vec<String>,
    erased: Erased,
    reason: Reason,
    now: jiff::Timestamp,
) -> Result<Receipt> {
    mark_rewrite_pending(t, now)?;
    let receipt = Receipt {
        id,
        contact: contacts.first().cloned().unwrap_or_default(),
        leads: erased.leads.len() as u64,
        conversions: erased.conversions.len() as u64,
        erased_at: now,
        reason,
    };
    t.erasures
        .insert(
            receipt.id.to_u128(),
            encode_record(&receipt, "erasure")?.as_slice(),
        )
        .map_err(storage)?;
    outbox::append(t, EventType::ContactErased, None, |_| {
        serde_json::json!({
            "contact": receipt.contact,
            // An e-mail may name two contacts (the phone it came with, the address
            // itself): replication erases every one of them on the other nodes.
            "contacts": contacts,
            "lead_ids": erased.leads,
            "conversion_ids": erased.conversions,
            "erased_at": crate::lead::format_timestamp(now),
            // Replication carries a request to every node's copy of the person; retention
            // is each node's own rule, and a replicated erasure is not carried back.
            "reason": reason.as_str(),
        })
    })?;
    Ok(receipt)
}

/// Notes, in the erasure's transaction, that erased values may lie in the file's freed
/// pages until the store is rewritten (kept from the oldest such erasure).
fn mark_rewrite_pending(t: &mut Tables<'_>, now: jiff::Timestamp) -> Result<()> {
    if t.meta.get(REWRITE_PENDING_KEY).map_err(storage)?.is_none() {
        let ms = now.as_millisecond().to_le_bytes();
        t.meta
            .insert(REWRITE_PENDING_KEY, ms.as_slice())
            .map_err(storage)?;
    }
    Ok(())
}

/// What another node's erasure asks of this one, as PostgreSQL lists it: this node's
/// leads of the person (their rows there are blanked already), and the conversions as
/// they now are there (unlinked: an anonymous contact, no lead).
#[derive(Debug, Clone)]
pub struct FromElsewhere {
    pub node: String,
    pub leads: Vec<LeadId>,
    pub conversions: Vec<Conversion>,
}

/// What applying another node's erasure did here.
#[derive(Debug, Default)]
pub struct AppliedElsewhere {
    /// The receipt of the local erasure, when a lead of the person was here.
    pub receipt: Option<Receipt>,
    /// Contact keys whose journeys changed.
    pub contacts: Vec<String>,
    /// Copies of conversions unlinked here.
    pub conversions: Vec<String>,
}

/// Applies another node's erasure: the person's leads held here are erased as a request
/// would (receipt `replicated`, and a `contact.erased` for this node's destinations), and
/// the copies of the unlinked conversions lose the contact too. Seen again (PostgreSQL is
/// read with overlap), it finds nothing left to do.
pub fn erase_from_elsewhere(
    t: &mut Tables<'_>,
    erasure: &FromElsewhere,
    now: jiff::Timestamp,
) -> Result<AppliedElsewhere> {
    let mut keys: Vec<String> = Vec::new();
    for id in &erasure.leads {
        let Some(bytes) = t.leads.get(id.to_u128()).map_err(storage)? else {
            continue;
        };
        let lead = decode_lead(bytes.value())?;
        if !keys.contains(&lead.contact) {
            keys.push(lead.contact);
        }
    }
    let mut applied = AppliedElsewhere::default();
    if !keys.is_empty() {
        match erase_contacts(t, &keys, Reason::Replicated, LeadId::generate(), now) {
            Ok(receipt) => {
                applied.receipt = Some(receipt);
                applied.contacts = keys;
            }
            // A live lead always has its contact; if not, there is nobody here to erase.
            Err(error) if error.kind == crate::error::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    // Copies of conversions whose contact has no lead here (so the erasure above did not
    // unlink them): they take the anonymous contact PostgreSQL now holds.
    let mut shown = HashMap::new();
    for remote in &erasure.conversions {
        let Some(bytes) = t.conversions.get(remote.id.as_str()).map_err(storage)? else {
            continue;
        };
        let mut local: Conversion = decode_record(bytes.value(), "conversion")?;
        drop(bytes);
        if local.contact.starts_with(ANONYMOUS_PREFIX)
            || !remote.contact.starts_with(ANONYMOUS_PREFIX)
        {
            continue;
        }
        applied.contacts.push(std::mem::replace(
            &mut local.contact,
            remote.contact.clone(),
        ));
        local.lead_id = None;
        t.conversions
            .insert(
                local.id.as_str(),
                encode_record(&local, "conversion")?.as_slice(),
            )
            .map_err(storage)?;
        shown.insert(local.id.clone(), local.to_json().to_string());
        applied.conversions.push(local.id);
    }
    if !shown.is_empty() {
        outbox::redact_pending(t, &HashMap::new(), &shown)?;
        mark_rewrite_pending(t, now)?;
    }
    Ok(applied)
}

/// Erases one contact: its live leads, the stubs retention left keyed by it, its record,
/// its e-mail index entries; its touches, stubs and conversions move to `anonymous`.
fn erase_contact(
    t: &mut Tables<'_>,
    key: &str,
    now: jiff::Timestamp,
    erased: &mut Erased,
    sweep: &mut Sweep,
) -> Result<()> {
    let anonymous = format!("{ANONYMOUS_PREFIX}{}", LeadId::generate());
    let anonymous = anonymous.as_str();
    let touches: Vec<(i64, u128, String)> = t
        .touches
        .range((key, i64::MIN, 0)..=(key, i64::MAX, u128::MAX))
        .map_err(storage)?
        .map(|entry| {
            entry.map_err(storage).map(|(k, slug)| {
                let (_, at, id) = k.value();
                (at, id, slug.value().to_owned())
            })
        })
        .collect::<Result<_>>()?;
    let mut emails = Vec::new();
    for (at, id, slug) in touches {
        t.touches.remove((key, at, id)).map_err(storage)?;
        t.touches
            .insert((anonymous, at, id), slug.as_str())
            .map_err(storage)?;
        let lead = LeadId::from_u128(id);
        if let Some(gone) = erase_lead(t, lead, anonymous, now)? {
            emails.extend(gone.email.as_ref().map(|e| e.as_str().to_lowercase()));
            sweep.redacted.insert(id, redact(&gone, anonymous));
            erased.leads.push(lead);
        } else if let Some(mut stub) = stub(t, id)? {
            // Left by retention while the contact lived on: now it is anonymous too.
            stub.contact = anonymous.to_owned();
            write_stub(t, id, &stub)?;
        }
    }
    for email in emails {
        let points_here = t
            .emails
            .get(email.as_str())
            .map_err(storage)?
            .is_some_and(|entry| entry.value().1 == key);
        if points_here {
            t.emails.remove(email.as_str()).map_err(storage)?;
        }
    }
    // The contact's record holds no personal data but its key: it moves, so the counts of
    // contacts (and `leadgate check`) stay as they were.
    let removed = t
        .contacts
        .remove(key)
        .map_err(storage)?
        .map(|bytes| decode_contact(bytes.value()));
    if let Some(contact) = removed {
        let mut contact = contact?;
        contact.assignee = None;
        t.contacts
            .insert(anonymous, encode_record(&contact, "contact")?.as_slice())
            .map_err(storage)?;
    }
    erased.moved.insert(key.to_owned(), anonymous.to_owned());
    Ok(())
}

/// Points the conversions of the contacts in `moved` (key -> anonymous key) at their
/// anonymous keys (amount, stage and times stay): id -> (the contact key it had, its JSON
/// as the API now shows it).
fn unlink_conversions(
    t: &mut Tables<'_>,
    moved: &HashMap<String, String>,
) -> Result<HashMap<String, (String, String)>> {
    if moved.is_empty() {
        return Ok(HashMap::new());
    }
    // Conversions are keyed by the CRM's id: finding a contact's means reading them all,
    // once per transaction. They are far fewer than leads, and the ROI summary reads them
    // all anyway.
    let mut mine = Vec::new();
    for entry in t.conversions.iter().map_err(storage)? {
        let (id, bytes) = entry.map_err(storage)?;
        let conversion: Conversion = decode_record(bytes.value(), "conversion")?;
        if moved.contains_key(&conversion.contact) {
            mine.push((id.value().to_owned(), conversion));
        }
    }
    let mut shown = HashMap::new();
    for (id, mut conversion) in mine {
        let anonymous = moved[&conversion.contact].clone();
        let key = std::mem::replace(&mut conversion.contact, anonymous);
        conversion.lead_id = None;
        t.conversions
            .insert(
                id.as_str(),
                encode_record(&conversion, "conversion")?.as_slice(),
            )
            .map_err(storage)?;
        shown.insert(id, (key, conversion.to_json().to_string()));
    }
    Ok(shown)
}

/// Removes a live lead and every row that describes it, leaving its stub (keyed by
/// `contact`); `None` if it is not a live lead. Its touch is the caller's to keep.
fn erase_lead(
    t: &mut Tables<'_>,
    id: LeadId,
    contact: &str,
    now: jiff::Timestamp,
) -> Result<Option<Lead>> {
    let key = id.to_u128();
    let Some(bytes) = t.leads.remove(key).map_err(storage)? else {
        return Ok(None);
    };
    let lead = decode_lead(bytes.value())?;
    drop(bytes);
    t.leads_by_campaign
        .remove((lead.campaign.as_str(), key))
        .map_err(storage)?;
    if let Some(person) = lead.assigned_to {
        t.leads_by_assignee.unlist(person.to_u128(), key);
    }
    // Follow-up notes are free text about the person; the counters they moved stay.
    let notes: Vec<(u128, i64, u128)> = t
        .activities
        .range((key, i64::MIN, 0)..=(key, i64::MAX, u128::MAX))
        .map_err(storage)?
        .map(|entry| entry.map(|(k, _)| k.value()).map_err(storage))
        .collect::<Result<_>>()?;
    for note in notes {
        t.activities.remove(note).map_err(storage)?;
    }
    t.follow_ups.remove(key).map_err(storage)?;
    if let Some(deadline) = t.lead_deadlines.remove(key).map_err(storage)? {
        let (at, _) = deadline.value();
        drop(deadline);
        t.deadlines.remove((at, key)).map_err(storage)?;
    }
    let stub = ErasedLead {
        campaign: lead.campaign.to_string(),
        received_at: lead.received_at,
        status: lead.status,
        contact: contact.to_owned(),
        erased_at: now,
    };
    write_stub(t, key, &stub)?;
    Ok(Some(lead))
}

fn write_stub(t: &mut Tables<'_>, id: u128, stub: &ErasedLead) -> Result<()> {
    t.erased_leads
        .insert(id, encode_record(stub, "erased lead")?.as_slice())
        .map_err(storage)?;
    Ok(())
}

fn stub(t: &Tables<'_>, id: u128) -> Result<Option<ErasedLead>> {
    match t.erased_leads.get(id).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "erased lead").map(Some),
        None => Ok(None),
    }
}

/// Where and when an erased lead was received (the first lead of a contact may be one).
pub fn erased_origin(t: &Tables<'_>, id: LeadId) -> Result<Option<(String, jiff::Timestamp)>> {
    Ok(stub(t, id.to_u128())?.map(|s| (s.campaign, s.received_at)))
}

/// The lead as events still waiting in the outbox may show it: what it was about, not who.
fn redact(lead: &Lead, contact: &str) -> Lead {
    Lead {
        name: None,
        phone: None,
        email: None,
        company: None,
        fields: Default::default(),
        click_ids: Default::default(),
        referral: None,
        contact: contact.to_owned(),
        ..lead.clone()
    }
}

/// Erases the leads received before `cutoff`, at most `limit` of them (the next call takes
/// the rest): the retention rule. A contact with no lead left is erased whole; one that
/// still has newer leads keeps them, and its key, with the old leads' stubs. Returns the
/// receipts (one per contact touched) and the keys of those contacts (whose journeys the
/// kept ones must re-read).
pub fn erase_older_than(
    t: &mut Tables<'_>,
    cutoff: jiff::Timestamp,
    limit: usize,
    now: jiff::Timestamp,
) -> Result<(Vec<Receipt>, Vec<String>)> {
    let before = LeadId::at(cutoff.as_millisecond().max(0) as u64).to_u128() & !LOW_80_BITS;
    let old: Vec<(u128, String)> = {
        let mut old = Vec::new();
        for entry in t.leads.range(..before).map_err(storage)?.take(limit) {
            let (id, bytes) = entry.map_err(storage)?;
            let lead = decode_lead(bytes.value())?;
            if lead.received_at < cutoff {
                old.push((id.value(), lead.contact));
            }
        }
        old
    };
    let mut by_contact: std::collections::BTreeMap<String, Vec<u128>> = Default::default();
    for (id, contact) in old {
        by_contact.entry(contact).or_default().push(id);
    }
    let contacts: Vec<String> = by_contact.keys().cloned().collect();
    // Receipts are written after one sweep of the conversions and the outbox for all.
    let mut erasures: Vec<(String, Erased)> = Vec::new();
    let mut sweep = Sweep::default();
    for (contact, ids) in by_contact {
        let mut erased = Erased::default();
        if keeps_other_leads(t, &contact, &ids)? {
            for id in ids {
                let lead_id = LeadId::from_u128(id);
                if let Some(gone) = erase_lead(t, lead_id, &contact, now)? {
                    forget_email(t, &gone)?;
                    sweep.redacted.insert(id, redact(&gone, &contact));
                    erased.leads.push(lead_id);
                }
            }
        } else {
            erase_contact(t, &contact, now, &mut erased, &mut sweep)?;
        }
        erasures.push((contact_hash(&contact), erased));
    }
    sweep.finish(
        t,
        &mut erasures.iter_mut().map(|(_, e)| e).collect::<Vec<_>>(),
    )?;
    let receipts = erasures
        .into_iter()
        .map(|(contact, erased)| {
            finish(
                t,
                LeadId::generate(),
                vec![contact],
                erased,
                Reason::Retention,
                now,
            )
        })
        .collect::<Result<_>>()?;
    Ok((receipts, contacts))
}

/// Whether `contact` has a live lead besides `ids` (then retention leaves it in place).
fn keeps_other_leads(t: &Tables<'_>, contact: &str, ids: &[u128]) -> Result<bool> {
    for entry in t
        .touches
        .range((contact, i64::MIN, 0)..=(contact, i64::MAX, u128::MAX))
        .map_err(storage)?
    {
        let id = entry.map_err(storage)?.0.value().2;
        if !ids.contains(&id) && t.leads.get(id).map_err(storage)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A ULID's random bits: cleared, an id is the first of its millisecond.
const LOW_80_BITS: u128 = (1 << 80) - 1;

/// Drops the e-mail index entry an erased lead made, unless a later lead claims it.
fn forget_email(t: &mut Tables<'_>, lead: &Lead) -> Result<()> {
    let Some(email) = &lead.email else {
        return Ok(());
    };
    let key = email.as_str().to_lowercase();
    let mine = t
        .emails
        .get(key.as_str())
        .map_err(storage)?
        .is_some_and(|entry| {
            let (at, contact) = entry.value();
            at <= lead.received_at.as_millisecond() && contact == lead.contact
        });
    if mine {
        t.emails.remove(key.as_str()).map_err(storage)?;
    }
    Ok(())
}

/// The contact keys an e-mail address names: the contact of the latest lead that gave it
/// (which may be keyed by a phone), and the contact keyed by the address itself.
pub fn contacts_of_email(t: &Tables<'_>, email: &str) -> Result<Vec<String>> {
    let key = email.to_lowercase();
    let mut keys = Vec::new();
    if let Some(entry) = t.emails.get(key.as_str()).map_err(storage)? {
        keys.push(entry.value().1.to_owned());
    }
    keys.push(key);
    Ok(keys)
}

/// When the oldest erasure not yet rewritten out of the file was committed, as stored.
pub fn rewrite_pending(txn: &redb::ReadTransaction) -> Result<Option<jiff::Timestamp>> {
    let meta = txn.open_table(super::tables::META).map_err(storage)?;
    let stored = meta.get(REWRITE_PENDING_KEY).map_err(storage)?;
    Ok(stored
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .and_then(|ms| jiff::Timestamp::from_millisecond(i64::from_le_bytes(ms)).ok()))
}

/// Every receipt, oldest first.
pub fn receipts(txn: &redb::ReadTransaction) -> Result<Vec<Receipt>> {
    let table = txn.open_table(super::tables::ERASURES).map_err(storage)?;
    let mut all = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, bytes) = entry.map_err(storage)?;
        all.push(decode_record(bytes.value(), "erasure")?);
    }
    Ok(all)
}

/// Whether `id` is a lead that was erased.
pub fn is_erased(txn: &redb::ReadTransaction, id: LeadId) -> Result<bool> {
    let table = txn
        .open_table(super::tables::ERASED_LEADS)
        .map_err(storage)?;
    Ok(table.get(id.to_u128()).map_err(storage)?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::Campaign;
    use crate::domain::{Phone, Reach, Slug};
    use crate::lead::{Channel, Details};
    use crate::store::{NewLead, Store};

    async fn store_with_campaign(dir: &std::path::Path) -> Store {
        let store = Store::open(&dir.join("s.redb"), jiff::tz::TimeZone::UTC).unwrap();
        let body = serde_json::json!({"slug": "expo", "name": "Expo"});
        let forms = crate::forms::FormSet::builtin();
        let campaign =
            Campaign::create(body.as_object().unwrap(), &forms, jiff::Timestamp::now()).unwrap();
        store.create_campaign(campaign).await.unwrap();
        store
    }

    fn lead(phone: &str, name: &str) -> NewLead {
        lead_reaching(Reach::Phone(Phone::parse(phone).unwrap()), name)
    }

    fn lead_reaching(reach: Reach, name: &str) -> NewLead {
        let details = Details {
            name: Some(name.to_owned()),
            reach,
            company: Some("Erasecorp".into()),
            fields: Default::default(),
            tracking: Default::default(),
        };
        let channel = Channel::Form {
            token: None,
            json: true,
        };
        NewLead {
            idempotency_key: None,
            lead: Lead::new(Slug::parse("expo").unwrap(), details, &channel).unwrap(),
        }
    }

    #[tokio::test]
    async fn waiting_events_lose_the_persons_details_and_an_erasure_event_follows() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_campaign(dir.path()).await;
        store.register_consumer("crm".into()).await.unwrap();
        let gone = store
            .insert_lead(lead("13800138000", "Zhang"))
            .await
            .unwrap();
        let kept = store.insert_lead(lead("13900139000", "Li")).await.unwrap();
        let receipt = store
            .erase(
                Person::Phone("+8613800138000".into()),
                LeadId::generate(),
                jiff::Timestamp::now(),
            )
            .await
            .unwrap();
        assert_eq!(receipt.leads, 1);
        assert_eq!(receipt.contact, contact_hash("+8613800138000"));

        let events = store.pending_events("crm".into(), 10).await.unwrap();
        let shown: Vec<serde_json::Value> = events
            .iter()
            .map(|(_, e)| e.to_json("n", &|_| None))
            .collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        // Still there (sequence numbers have no gaps), but about nobody.
        assert_eq!(shown[0]["data"]["id"], gone.id.to_string());
        assert_eq!(shown[0]["data"]["campaign"], "expo");
        let text = shown[0].to_string();
        assert!(
            !text.contains("8613800138000") && !text.contains("Zhang"),
            "{text}"
        );
        assert!(!text.contains("Erasecorp"), "{text}");
        assert_eq!(
            shown[1]["data"]["name"], "Li",
            "another person's event is left alone"
        );
        assert_eq!(shown[1]["data"]["id"], kept.id.to_string());
        assert_eq!(shown[2]["type"], "contact.erased");
        assert_eq!(shown[2]["data"]["contact"], receipt.contact);
        assert_eq!(
            shown[2]["data"]["contacts"],
            serde_json::json!([receipt.contact])
        );
        assert_eq!(
            shown[2]["data"]["lead_ids"],
            serde_json::json!([gone.id.to_string()])
        );
        store.close().await;
    }

    /// An address that came without a phone, then with one, names two contacts: the
    /// erasure's event names both (the receipt the one the address last came with), so
    /// that replication erases both on every node.
    #[tokio::test]
    async fn an_erasure_by_email_names_every_contact_it_erased() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_campaign(dir.path()).await;
        store.register_consumer("crm".into()).await.unwrap();
        let email = || crate::domain::Email::parse("Pat@Example.com").unwrap();
        store
            .insert_lead(lead_reaching(Reach::Email(email()), "Pat"))
            .await
            .unwrap();
        let phone = Phone::parse("13800138000").unwrap();
        store
            .insert_lead(lead_reaching(Reach::Both(phone, email()), "Pat"))
            .await
            .unwrap();
        let receipt = store
            .erase(
                Person::Email("pat@example.com".into()),
                LeadId::generate(),
                jiff::Timestamp::now(),
            )
            .await
            .unwrap();
        assert_eq!(receipt.leads, 2);
        assert_eq!(receipt.contact, contact_hash("+8613800138000"));
        let events = store.pending_events("crm".into(), 10).await.unwrap();
        let erased = events
            .iter()
            .map(|(_, e)| e.to_json("n", &|_| None))
            .find(|e| e["type"] == "contact.erased")
            .expect("the erasure's event");
        assert_eq!(
            erased["data"]["contacts"],
            serde_json::json!([
                contact_hash("+8613800138000"),
                contact_hash("pat@example.com")
            ])
        );
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_during_a_rewrite_wait_for_it_and_none_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_campaign(dir.path()).await;
        for n in 0..200 {
            store
                .insert_lead(lead(&format!("1380013{n:04}"), "Before"))
                .await
                .unwrap();
        }
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for n in 0..50 {
                        let phone = format!("1390{w:02}{n:05}");
                        acked.push(store.insert_lead(lead(&phone, "During")).await.unwrap().id);
                    }
                    acked
                })
            })
            .collect();
        let rewritten = store.rewrite().await.unwrap();
        assert!(rewritten.copied.rows > 200, "{rewritten:?}");
        let mut acked = Vec::new();
        for writer in writers {
            acked.extend(writer.await.unwrap());
        }
        for id in acked {
            assert!(
                store.lead(id).await.unwrap().is_some(),
                "acknowledged {id} lost"
            );
        }
        let report = store.check_blocking().unwrap();
        assert_eq!(report.leads, 600);
        assert_eq!(report.problems, Vec::<String>::new());
        store.close().await;
        // The file in place is the one written last: it opens with everything.
        let reopened = Store::open(&dir.path().join("s.redb"), jiff::tz::TimeZone::UTC).unwrap();
        assert_eq!(reopened.check_blocking().unwrap().leads, 600);
        reopened.close().await;
    }

    fn copy_of_conversion(id: &str, contact: &str) -> Conversion {
        let at = jiff::Timestamp::now();
        Conversion {
            id: id.to_owned(),
            contact: contact.to_owned(),
            lead_id: None,
            stage: crate::conversion::Stage::Won,
            amount: 50_000,
            currency: crate::domain::Currency::CNY,
            moment: at,
            won_at: Some(at),
            lost_at: None,
            updated_at: at,
        }
    }

    #[tokio::test]
    async fn another_nodes_erasure_erases_the_leads_here_and_unlinks_the_copies_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_campaign(dir.path()).await;
        let gone = store
            .insert_lead(lead("13800138000", "Zhang"))
            .await
            .unwrap();
        let kept = store.insert_lead(lead("13900139000", "Li")).await.unwrap();
        // Copies pulled from PostgreSQL: one of the person, one of someone else.
        let changes = crate::store::shared::Changes {
            conversions: vec![
                (copy_of_conversion("e1", "+8613800138000"), "node1".into()),
                (copy_of_conversion("e2", "+8613900139000"), "node1".into()),
            ],
            ..Default::default()
        };
        store.apply_shared(changes, "node2".into()).await.unwrap();
        let unlinked = copy_of_conversion("e1", "erased-01K0000000000000000000000X");
        let erasure = FromElsewhere {
            node: "node1".into(),
            leads: vec![gone.id],
            conversions: vec![unlinked.clone()],
        };
        let now = jiff::Timestamp::now();
        let applied = store
            .erase_from_elsewhere(erasure.clone(), now)
            .await
            .unwrap();
        let receipt = applied.receipt.expect("the person had a lead here");
        assert_eq!(receipt.reason, Reason::Replicated);
        assert_eq!(receipt.contact, contact_hash("+8613800138000"));
        assert_eq!(receipt.leads, 1);
        assert!(store.lead(gone.id).await.unwrap().is_none());
        assert!(store.lead(kept.id).await.unwrap().is_some());
        // Unlinked by the erasure here: under the anonymous key the person's touches here
        // moved to, so this node's reports credit them as before.
        let e1 = store.conversion("e1".into()).await.unwrap().unwrap();
        assert!(e1.contact.starts_with(ANONYMOUS_PREFIX), "{e1:?}");
        assert_eq!(e1.lead_id, None);
        assert_eq!(
            (e1.amount, e1.stage),
            (50_000, crate::conversion::Stage::Won)
        );
        let e2 = store.conversion("e2".into()).await.unwrap().unwrap();
        assert_eq!(
            e2.contact, "+8613900139000",
            "another person's copy is left alone"
        );
        assert!(store.rewrite_pending_since().is_some());

        // Read again (PostgreSQL is read with overlap): nothing is left to do.
        let again = store.erase_from_elsewhere(erasure, now).await.unwrap();
        assert!(again.receipt.is_none() && again.conversions.is_empty());
        assert_eq!(store.erasures().await.unwrap().len(), 1);
        store.close().await;
    }

    #[tokio::test]
    async fn a_copy_of_a_conversion_whose_person_has_no_lead_here_loses_the_contact() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_campaign(dir.path()).await;
        let changes = crate::store::shared::Changes {
            conversions: vec![(copy_of_conversion("e1", "+8613800138000"), "node1".into())],
            ..Default::default()
        };
        store.apply_shared(changes, "node2".into()).await.unwrap();
        let erasure = FromElsewhere {
            node: "node1".into(),
            leads: vec![LeadId::generate()],
            conversions: vec![copy_of_conversion(
                "e1",
                "erased-01K0000000000000000000000X",
            )],
        };
        let applied = store
            .erase_from_elsewhere(erasure, jiff::Timestamp::now())
            .await
            .unwrap();
        assert!(applied.receipt.is_none(), "no lead of the person here");
        assert_eq!(applied.conversions, vec!["e1".to_owned()]);
        let e1 = store.conversion("e1".into()).await.unwrap().unwrap();
        assert!(e1.contact.starts_with(ANONYMOUS_PREFIX), "{e1:?}");
        assert!(
            store.rewrite_pending_since().is_some(),
            "the file is rewritten"
        );
        store.close().await;
    }

    #[test]
    fn anonymous_keys_never_look_like_a_phone_or_an_email() {
        let key = format!("{ANONYMOUS_PREFIX}{}", LeadId::generate());
        assert!(!key.starts_with('+') && !key.contains('@'));
        assert!(crate::domain::Email::parse(&key).is_err());
        assert!(Phone::parse(&key).is_err());
    }
}
