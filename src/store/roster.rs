//! The sales roster and assignment: who a new lead goes to (a returning contact's
//! salesperson, the campaign's owner, or the next in its round robin), kept in the lead's
//! own transaction so that the turn survives restarts and never skips or repeats.

use redb::{ReadTransaction, ReadableTable};

use super::open::Tables;
use super::storage;
use super::tables;
use super::write::{ContactAssignee, decode_record, encode_record};
use super::writer::WriteContext;
use crate::campaign::{AssignMode, Campaign};
use crate::domain::LeadId;
use crate::error::{Error, Result};
use crate::lead::Lead;
use crate::salesperson::Salesperson;

/// A returning contact keeps its salesperson this long after its latest assigned lead.
const KEEP_CONTACT_MS: i64 = 90 * 24 * 3600 * 1000;

fn unknown(id: LeadId) -> Error {
    Error::not_found(
        "unknown_salesperson",
        format!("there is no salesperson {id}"),
    )
}

pub fn create(t: &mut Tables<'_>, person: &Salesperson) -> Result<()> {
    t.salespeople
        .insert(
            person.id.to_u128(),
            encode_record(person, "salesperson")?.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

pub fn get(t: &Tables<'_>, id: LeadId) -> Result<Option<Salesperson>> {
    match t.salespeople.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "salesperson").map(Some),
        None => Ok(None),
    }
}

/// Applies `change` inside the transaction, so two edits never overwrite each other.
pub fn update(
    t: &mut Tables<'_>,
    id: LeadId,
    change: impl FnOnce(&mut Salesperson) -> Result<()>,
) -> Result<Salesperson> {
    let mut person = get(t, id)?.ok_or_else(|| unknown(id))?;
    change(&mut person)?;
    create(t, &person)?;
    Ok(person)
}

/// What `DELETE` did: someone with leads is kept (their leads still name them), inactive.
#[derive(Debug, Clone, PartialEq)]
pub enum Removal {
    Deleted,
    Deactivated(Salesperson),
}

pub fn remove(t: &mut Tables<'_>, id: LeadId, now: jiff::Timestamp) -> Result<Removal> {
    let person = get(t, id)?.ok_or_else(|| unknown(id))?;
    let key = id.to_u128();
    let has_leads = t.leads_by_assignee.has_leads(key)?;
    if has_leads {
        let person = update(t, id, |p| {
            p.active = false;
            p.updated_at = now;
            Ok(())
        })?;
        return Ok(Removal::Deactivated(person));
    }
    drop(person);
    t.salespeople.remove(key).map_err(storage)?;
    Ok(Removal::Deleted)
}

/// How many leads each salesperson has, counting at most `cap` of each: the roster page
/// shows "more than" instead of walking a big index on every view.
pub fn lead_counts(
    txn: &ReadTransaction,
    cap: usize,
) -> Result<std::collections::HashMap<LeadId, usize>> {
    let people = txn.open_table(tables::SALESPEOPLE).map_err(storage)?;
    let index = txn.open_table(tables::LEADS_BY_ASSIGNEE).map_err(storage)?;
    let mut counts = std::collections::HashMap::new();
    for entry in people.iter().map_err(storage)? {
        let key = entry.map_err(storage)?.0.value();
        let count = super::assignee_index::count_leads(&index, key, cap)?;
        counts.insert(LeadId::from_u128(key), count);
    }
    Ok(counts)
}

pub fn list(txn: &ReadTransaction) -> Result<Vec<Salesperson>> {
    let table = txn.open_table(tables::SALESPEOPLE).map_err(storage)?;
    let mut people = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, bytes) = entry.map_err(storage)?;
        people.push(decode_record(bytes.value(), "salesperson")?);
    }
    Ok(people)
}

/// The salesperson a new `lead` of `campaign` goes to: the contact's, if it was assigned
/// within 90 days to someone still active; else by the campaign's rule. A round robin
/// moves its turn; keeping a contact's salesperson takes no turn. `keeper` is the
/// contact's salesperson as its stored record says.
pub fn choose(
    t: &mut Tables<'_>,
    ctx: &WriteContext,
    lead: &Lead,
    keeper: Option<ContactAssignee>,
    campaign: Option<&Campaign>,
) -> Result<Option<LeadId>> {
    if let Some(ContactAssignee { person, latest_ms }) = keeper {
        let recent = lead.received_at.as_millisecond() - latest_ms <= KEEP_CONTACT_MS;
        if recent && ctx.roster.is_active(person) {
            return Ok(Some(person));
        }
    }
    let Some(campaign) = campaign else {
        return Ok(None);
    };
    match campaign.assign.mode {
        AssignMode::None => Ok(None),
        AssignMode::Owner => {
            let owner = campaign.owner.as_deref().and_then(LeadId::parse);
            match owner {
                Some(owner) if ctx.roster.is_active(owner) => Ok(Some(owner)),
                _ => Ok(None),
            }
        }
        AssignMode::RoundRobin => {
            let list = &campaign.assign.salespeople;
            let slug = campaign.slug.as_str();
            let last = ctx.turns.last(t, slug)?;
            // The one after the last one served, in list order (the first at the start,
            // or when the last one has left the list).
            let start = last
                .and_then(|last| list.iter().position(|id| id.to_u128() == last))
                .map_or(0, |at| at + 1);
            for offset in 0..list.len() {
                let candidate = list[(start + offset) % list.len()];
                if ctx.roster.is_active(candidate) {
                    ctx.turns.took(slug, candidate);
                    return Ok(Some(candidate));
                }
            }
            Ok(None)
        }
    }
}

/// The round-robin turns a batch moves: each campaign's is read from the table once and
/// written back once before the commit, not at every lead (like the counters).
#[derive(Default)]
pub struct PendingTurns(std::cell::RefCell<std::collections::HashMap<String, u128>>);

impl PendingTurns {
    /// The salesperson who took `slug`'s latest turn, as this batch has it so far.
    fn last(&self, t: &Tables<'_>, slug: &str) -> Result<Option<u128>> {
        if let Some(&last) = self.0.borrow().get(slug) {
            return Ok(Some(last));
        }
        Ok(t.round_robin.get(slug).map_err(storage)?.map(|v| v.value()))
    }

    fn took(&self, slug: &str, person: LeadId) {
        let mut turns = self.0.borrow_mut();
        match turns.get_mut(slug) {
            Some(last) => *last = person.to_u128(),
            None => {
                turns.insert(slug.to_owned(), person.to_u128());
            }
        }
    }

    pub(super) fn discard(&self) {
        self.0.borrow_mut().clear();
    }

    pub(super) fn flush(&self, t: &mut Tables<'_>) -> Result<()> {
        for (slug, person) in std::mem::take(&mut *self.0.borrow_mut()) {
            t.round_robin
                .insert(slug.as_str(), person)
                .map_err(storage)?;
        }
        Ok(())
    }
}

/// Lists `lead` under its salesperson (if any), moving it off its previous
/// salesperson's list, when the batch commits. (The contact's record notes the
/// salesperson too.)
pub fn record(t: &mut Tables<'_>, lead: &Lead, previous: Option<LeadId>) {
    let id = lead.id.to_u128();
    if let Some(previous) = previous {
        t.leads_by_assignee.unlist(previous.to_u128(), id);
    }
    if let Some(person) = lead.assigned_to {
        t.leads_by_assignee.list(person.to_u128(), id);
    }
}

/// The salesperson's name, for a lead's JSON written in this transaction.
pub fn name_of(t: &Tables<'_>, id: LeadId) -> Option<String> {
    get(t, id).ok().flatten().map(|p| p.name)
}
