//! The converted contacts' journeys (each conversion with its contact's touches), kept in
//! memory between ROI requests. Reading them all is most of the summary's cost at scale
//! (one range scan per converted contact), yet a write changes few of them: a conversion
//! written changes its own journey, a lead changes the journeys of its contact if that
//! contact has converted, an erasure moves its contacts' journeys under anonymous keys, and
//! a campaign created moves the positions touches name campaigns by.
//!
//! So writes report what they changed (after their commit, before their answer), and the
//! next request brings the kept journeys up to date from its own snapshot: it re-reads only
//! the reported conversions and the journeys of the reported contacts, and renumbers the
//! touches when the campaign list grew. Work is proportional to the change, not to the
//! 40k journeys.
//!
//! Races: a request notes the generation and takes the reported changes before it opens its
//! snapshot, so every change it takes is in that snapshot; changes reported later stay
//! pending for the next request, which re-reads them (again, if the snapshot already had
//! them: re-reading is idempotent). One case needs more: a lead of a contact whose first
//! conversion is pending is not recognised as touching a journey (the contact is not among
//! the kept ones yet), and if it commits after the refreshing request's snapshot, that
//! request would keep the journey without it. So while a request refreshes, every lead's
//! contact is noted.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::ReadTransaction;

use super::read;
use crate::campaign::Campaign;
use crate::error::Result;
use crate::roi::Journey;

/// Noted changes beyond which the kept journeys are dropped instead (the next request
/// reads them all): a re-read per change would cost more, and memory stays bounded when
/// no report is asked for.
const MAX_PENDING: usize = 10_000;

/// Journeys as read from one snapshot, with the campaigns their touches are numbered by.
#[derive(Clone)]
pub struct Kept {
    /// Sorted by conversion id, as a full read returns them.
    pub journeys: Arc<Vec<Journey>>,
    /// The campaigns' slugs in the order the touches' positions refer to.
    slugs: Arc<Vec<String>>,
}

impl Kept {
    /// Whether the touches number campaigns as `campaigns` lists them.
    pub fn numbers(&self, campaigns: &[Campaign]) -> bool {
        numbers(&self.slugs, campaigns)
    }
}

/// What changed since the kept journeys were read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Contacts whose journeys changed: re-read each of their conversions and touches.
    pub contacts: HashSet<String>,
    /// Conversions written (by id): re-read, with their contacts' touches.
    pub conversions: BTreeSet<String>,
    /// Campaigns were created: the touches may need renumbering (the request compares the
    /// campaign lists; this only sends it to look).
    pub campaigns: bool,
}

impl Changes {
    /// The journeys to re-read, at most.
    fn to_reread(&self) -> usize {
        self.contacts.len() + self.conversions.len()
    }

    fn is_empty(&self) -> bool {
        self.to_reread() == 0 && !self.campaigns
    }
}

#[derive(Default)]
struct State {
    /// Bumped with every reported change.
    generation: u64,
    kept: Option<Kept>,
    /// Changes reported since `kept` was read, each with the generation it bumped to.
    pending: Vec<(u64, Changes)>,
    pending_len: usize,
    /// Every contact with a journey in `kept` (and perhaps a few more, since erased or
    /// moved: a lead of one of those costs a re-read that finds nothing).
    converted: HashSet<String>,
    /// A request is refreshing: every lead's contact is noted (see the module's note).
    refreshing: bool,
    /// The generation of the last change that dropped the kept journeys: journeys read
    /// from an older snapshot are not kept.
    dropped_at: u64,
}

impl State {
    fn note(&mut self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        self.generation += 1;
        if self.kept.is_none() && !self.refreshing {
            // Nothing to patch: the next request reads everything anyway.
            return;
        }
        self.pending_len += changes.to_reread();
        self.pending.push((self.generation, changes));
        // While a request refreshes, the leads of every contact are noted (most of them
        // are dropped when it ends, see `Refresh::finish`): under a burst of leads, dropping
        // here would make that request's work, and the next one's, for nothing.
        if self.pending_len > MAX_PENDING && !self.refreshing {
            self.drop_kept();
        }
    }

    fn drop_kept(&mut self) {
        self.generation += 1;
        self.dropped_at = self.generation;
        self.kept = None;
        self.pending.clear();
        self.pending_len = 0;
        self.converted.clear();
    }
}

#[derive(Default)]
pub struct JourneyCache {
    state: Mutex<State>,
    /// Held by the request that brings the kept journeys up to date: others wait for it
    /// instead of reading the same journeys again.
    refresh: Mutex<()>,
}

impl JourneyCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept journeys if no change is pending. Call before opening the snapshot.
    pub fn warm(&self) -> Option<Kept> {
        let state = self.lock();
        match &state.kept {
            Some(kept) if state.pending.is_empty() => Some(kept.clone()),
            _ => None,
        }
    }

    /// Starts bringing the kept journeys up to date: waits for another request doing so,
    /// then takes the kept journeys and the changes pending. Open the snapshot after this.
    /// Blocking: call on a blocking thread.
    pub fn refresh(&self) -> Refresh<'_> {
        let turn = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.lock();
        state.refreshing = true;
        let mut changes = Changes::default();
        for (_, noted) in &state.pending {
            changes.contacts.extend(noted.contacts.iter().cloned());
            changes
                .conversions
                .extend(noted.conversions.iter().cloned());
            changes.campaigns |= noted.campaigns;
        }
        Refresh {
            cache: self,
            _turn: turn,
            generation: state.generation,
            // Taken, not shared: the patch then edits the journeys in place unless a
            // request still reads them.
            kept: state.kept.take(),
            changes,
        }
    }

    /// After a commit that wrote these conversions.
    pub fn conversions_written(&self, ids: impl IntoIterator<Item = String>) {
        self.lock().note(Changes {
            conversions: ids.into_iter().collect(),
            ..Changes::default()
        });
    }

    /// After a commit that changed these contacts' journeys (an erasure moved them).
    pub fn contacts_changed(&self, contacts: impl IntoIterator<Item = String>) {
        self.lock().note(Changes {
            contacts: contacts.into_iter().collect(),
            ..Changes::default()
        });
    }

    /// After a commit that wrote leads of these contacts: a change only for a contact who
    /// has converted, or for any while a request refreshes.
    pub fn leads_written<'a>(&self, contacts: impl IntoIterator<Item = &'a str>) {
        let mut state = self.lock();
        let state = &mut *state;
        let contacts: HashSet<String> = if state.refreshing {
            contacts.into_iter().map(str::to_owned).collect()
        } else if state.kept.is_some() {
            contacts
                .into_iter()
                .filter(|c| state.converted.contains(*c))
                .map(str::to_owned)
                .collect()
        } else {
            return;
        };
        state.note(Changes {
            contacts,
            ..Changes::default()
        });
    }

    /// After a commit that created or replaced campaigns: positions may have moved.
    pub fn campaigns_written(&self) {
        self.lock().note(Changes {
            campaigns: true,
            ..Changes::default()
        });
    }
}

/// A request's turn to bring the kept journeys up to date; see [`JourneyCache::refresh`].
pub struct Refresh<'a> {
    cache: &'a JourneyCache,
    _turn: MutexGuard<'a, ()>,
    generation: u64,
    kept: Option<Kept>,
    changes: Changes,
}

impl Refresh<'_> {
    /// The journeys in `txn` (opened after [`JourneyCache::refresh`]), numbering touches by
    /// `campaigns` as `txn` lists them; kept for the next requests.
    pub fn journeys(mut self, txn: &ReadTransaction, campaigns: &[Campaign]) -> Result<Kept> {
        let (fresh, converted) = match self.kept.take() {
            Some(kept) => match patch(txn, kept, &self.changes, campaigns)? {
                Some((kept, added)) => (kept, Converted::Added(added)),
                None => cold(txn, campaigns)?,
            },
            None => cold(txn, campaigns)?,
        };
        self.finish(fresh.clone(), converted);
        Ok(fresh)
    }

    fn finish(self, kept: Kept, converted: Converted) {
        let mut state = self.cache.lock();
        state.refreshing = false;
        if state.dropped_at > self.generation {
            // Dropped while this request read: its journeys may miss what dropped them.
            state.pending.clear();
            state.pending_len = 0;
            return;
        }
        let generation = self.generation;
        match converted {
            Converted::All(all) => state.converted = all,
            Converted::Added(added) => state.converted.extend(added),
        }
        let state = &mut *state;
        state.pending.retain(|(at, _)| *at > generation);
        // Noted while this request read: a contact without a kept journey has nothing to
        // re-read (a conversion of it that this request missed is pending by its id, and
        // is read from a snapshot that has the lead too).
        for (_, changes) in &mut state.pending {
            changes.contacts.retain(|c| state.converted.contains(c));
        }
        state.pending.retain(|(_, changes)| !changes.is_empty());
        state.pending_len = state.pending.iter().map(|(_, c)| c.to_reread()).sum();
        state.kept = Some(kept);
        if state.pending_len > MAX_PENDING {
            state.drop_kept();
        }
    }
}

impl Drop for Refresh<'_> {
    fn drop(&mut self) {
        // A read that failed: the journeys were taken, so nothing is kept, and nothing
        // needs noting until the next request reads them all.
        let mut state = self.cache.lock();
        if state.refreshing {
            state.refreshing = false;
            if state.kept.is_none() {
                state.pending.clear();
                state.pending_len = 0;
                state.converted.clear();
            }
        }
    }
}

/// The contacts with a journey after a refresh: all of them, or those to add.
enum Converted {
    All(HashSet<String>),
    Added(Vec<String>),
}

fn slugs(campaigns: &[Campaign]) -> Arc<Vec<String>> {
    Arc::new(campaigns.iter().map(|c| c.slug.to_string()).collect())
}

/// Every journey, read from the store.
fn cold(txn: &ReadTransaction, campaigns: &[Campaign]) -> Result<(Kept, Converted)> {
    let started = std::time::Instant::now();
    let journeys = read::journeys(txn, campaigns)?;
    tracing::debug!(
        "journeys read in full: {} in {:?}",
        journeys.len(),
        started.elapsed()
    );
    let converted = journeys
        .iter()
        .map(|j| j.conversion.contact.clone())
        .collect();
    let kept = Kept {
        journeys: Arc::new(journeys),
        slugs: slugs(campaigns),
    };
    Ok((kept, Converted::All(converted)))
}

/// `kept` brought up to date with `changes` from `txn`, and the contacts of the journeys
/// re-read; `None` if the campaign list lost a campaign (then only a full read will do).
fn patch(
    txn: &ReadTransaction,
    kept: Kept,
    changes: &Changes,
    campaigns: &[Campaign],
) -> Result<Option<(Kept, Vec<String>)>> {
    let started = std::time::Instant::now();
    let Kept { journeys, slugs } = kept;
    let renumbered = !numbers(&slugs, campaigns);
    if !renumbered && changes.to_reread() == 0 {
        return Ok(Some((Kept { journeys, slugs }, Vec::new())));
    }
    let mut journeys = Arc::unwrap_or_clone(journeys);
    if renumbered {
        let Some(new) = positions(&slugs, campaigns) else {
            return Ok(None);
        };
        for touch in journeys.iter_mut().flat_map(|j| j.touches.iter_mut()) {
            touch.campaign = new[touch.campaign];
        }
    }
    // The conversions to read again: those written, and every one of a changed contact.
    let mut stale: BTreeSet<&str> = changes.conversions.iter().map(String::as_str).collect();
    if !changes.contacts.is_empty() {
        let changed = |contact: &String| {
            // A handful of contacts is the usual change: comparing with each beats hashing
            // every one of 40k contacts by far.
            if changes.contacts.len() <= FEW {
                changes.contacts.iter().any(|c| c == contact)
            } else {
                changes.contacts.contains(contact)
            }
        };
        for journey in &journeys {
            if changed(&journey.conversion.contact) {
                stale.insert(&journey.conversion.id);
            }
        }
    }
    let stale: Vec<String> = stale.into_iter().map(str::to_owned).collect();
    let mut reader = read::JourneyReader::new(txn, campaigns)?;
    let mut added = Vec::new();
    let mut fresh = Vec::with_capacity(stale.len());
    for id in &stale {
        let journey = reader.journey(id)?;
        if let Some(journey) = &journey {
            added.push(journey.conversion.contact.clone());
        }
        fresh.push((id, journey));
    }
    splice(&mut journeys, fresh);
    tracing::debug!(
        "journeys brought up to date: {} re-read{} in {:?}",
        stale.len(),
        if renumbered {
            ", touches renumbered"
        } else {
            ""
        },
        started.elapsed()
    );
    let kept = Kept {
        journeys: Arc::new(journeys),
        slugs: if renumbered {
            self::slugs(campaigns)
        } else {
            slugs
        },
    };
    Ok(Some((kept, added)))
}

/// Up to this many changed contacts are compared one by one, more are looked up by hash.
const FEW: usize = 16;

/// Puts the journeys re-read (by conversion id; `None`: no longer stored) into `journeys`,
/// sorted by conversion id. Most replace a journey in place; a new or vanished conversion
/// moves the ones after it, so many of those are spliced in one pass instead.
fn splice(journeys: &mut Vec<Journey>, fresh: Vec<(&String, Option<Journey>)>) {
    let position = |journeys: &[Journey], id: &str| {
        journeys.binary_search_by(|j| j.conversion.id.as_str().cmp(id))
    };
    let mut moved = Vec::new();
    for (id, journey) in fresh {
        match (position(journeys, id), journey) {
            (Ok(at), Some(journey)) => journeys[at] = journey,
            (Err(_), None) => {}
            (_, journey) => moved.push((id, journey)),
        }
    }
    if moved.len() <= FEW {
        for (id, journey) in moved {
            match (position(journeys, id), journey) {
                (Ok(at), None) => {
                    journeys.remove(at);
                }
                (Err(at), Some(journey)) => journeys.insert(at, journey),
                (Ok(at), Some(journey)) => journeys[at] = journey,
                (Err(_), None) => {}
            }
        }
        return;
    }
    let gone: HashSet<&str> = moved
        .iter()
        .filter(|(_, j)| j.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if !gone.is_empty() {
        journeys.retain(|j| !gone.contains(j.conversion.id.as_str()));
    }
    journeys.extend(moved.into_iter().filter_map(|(_, j)| j));
    // One sorted run and the new ones: the sort finds the runs and merges them.
    journeys.sort_by(|a, b| a.conversion.id.cmp(&b.conversion.id));
}

/// Whether touches numbered by `slugs` number campaigns as `campaigns` lists them.
fn numbers(slugs: &[String], campaigns: &[Campaign]) -> bool {
    slugs.len() == campaigns.len()
        && slugs
            .iter()
            .zip(campaigns)
            .all(|(slug, c)| slug == c.slug.as_str())
}

/// Each kept position's place in `campaigns`; `None` if one of the kept campaigns is gone.
/// A campaign new to the list has no touches among the kept ones: a lead needs its
/// campaign to exist, so a touch of it was written after the kept journeys were read, and
/// its contact was reported with it.
fn positions(slugs: &[String], campaigns: &[Campaign]) -> Option<Vec<usize>> {
    let now: HashMap<&str, usize> = campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.slug.as_str(), i))
        .collect();
    slugs.iter().map(|s| now.get(s.as_str()).copied()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::conversion::{ContactRef, Conversion, ConversionInput, Stage};
    use crate::domain::{Currency, LeadId, LeadStatus, Phone, Reach, Slug};
    use crate::lead::{Channel, Details, Lead};
    use crate::store::{NewLead, Store, erasure};

    fn kept(contacts: &[&str]) -> (Kept, Converted) {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let journeys = contacts
            .iter()
            .enumerate()
            .map(|(i, contact)| Journey {
                conversion: Conversion {
                    id: format!("d{i}"),
                    contact: (*contact).into(),
                    lead_id: None,
                    stage: Stage::Won,
                    amount: 100,
                    currency: Currency::CNY,
                    moment: at,
                    won_at: Some(at),
                    lost_at: None,
                    updated_at: at,
                },
                touches: Vec::new(),
            })
            .collect();
        let kept = Kept {
            journeys: Arc::new(journeys),
            slugs: Arc::default(),
        };
        let converted = contacts.iter().map(|c| (*c).to_owned()).collect();
        (kept, Converted::All(converted))
    }

    /// A cache holding journeys of `contacts`, as a first request leaves it.
    fn cache_with(contacts: &[&str]) -> JourneyCache {
        let cache = JourneyCache::default();
        {
            let refresh = cache.refresh();
            let (kept, converted) = kept(contacts);
            refresh.finish(kept, converted);
        }
        cache
    }

    #[test]
    fn only_leads_of_converted_contacts_are_changes() {
        let cache = cache_with(&["+8613800138000"]);
        assert!(cache.warm().is_some());
        cache.leads_written(["+8613900139000"]);
        assert!(
            cache.warm().is_some(),
            "a contact without a conversion changes nothing"
        );
        cache.leads_written(["+8613800138000"]);
        assert!(
            cache.warm().is_none(),
            "a converted contact's new lead does"
        );
        let refresh = cache.refresh();
        assert_eq!(
            refresh.changes.contacts,
            HashSet::from(["+8613800138000".to_owned()])
        );
        assert!(refresh.changes.conversions.is_empty());
    }

    #[test]
    fn a_lead_written_while_a_request_refreshes_is_read_by_the_next_one() {
        let cache = cache_with(&["+8613800138000"]);
        cache.conversions_written(["d9".to_owned()]);
        let refresh = cache.refresh();
        assert_eq!(
            refresh.changes.conversions,
            BTreeSet::from(["d9".to_owned()])
        );
        // d9's contact is not among the kept ones yet, and its lead may have missed the
        // refreshing request's snapshot: noted anyway.
        cache.leads_written(["+8613700137000"]);
        let (kept, converted) = kept(&["+8613800138000", "+8613700137000"]);
        refresh.finish(kept, converted);
        assert!(cache.warm().is_none());
        let refresh = cache.refresh();
        assert_eq!(
            refresh.changes.contacts,
            HashSet::from(["+8613700137000".to_owned()])
        );
        assert!(refresh.changes.conversions.is_empty(), "d9 was read");
    }

    #[test]
    fn a_burst_of_new_contacts_while_a_request_refreshes_leaves_the_journeys_kept() {
        let cache = cache_with(&["+8613800138000"]);
        cache.conversions_written(["d9".to_owned()]);
        let refresh = cache.refresh();
        let burst: Vec<String> = (0..=MAX_PENDING).map(|i| format!("+86139{i:08}")).collect();
        cache.leads_written(burst.iter().map(String::as_str));
        let (kept, converted) = kept(&["+8613800138000"]);
        refresh.finish(kept, converted);
        assert!(cache.warm().is_some(), "none of them has a kept journey");
    }

    #[test]
    fn changes_pending_after_too_many_drop_the_kept_journeys() {
        let cache = cache_with(&["+8613800138000"]);
        cache.conversions_written((0..=MAX_PENDING).map(|i| format!("d{i}")));
        assert!(cache.warm().is_none());
        let refresh = cache.refresh();
        assert!(refresh.kept.is_none(), "the next request reads them all");
        assert_eq!(refresh.changes, Changes::default());
    }

    #[test]
    fn journeys_read_before_they_were_dropped_are_not_kept() {
        let cache = cache_with(&["+8613800138000"]);
        let refresh = cache.refresh();
        cache.conversions_written((0..=MAX_PENDING).map(|i| format!("d{i}")));
        let (kept, converted) = kept(&["+8613800138000"]);
        refresh.finish(kept, converted);
        assert!(cache.warm().is_none());
    }

    #[test]
    fn a_failed_refresh_leaves_nothing_kept() {
        let cache = cache_with(&["+8613800138000"]);
        cache.conversions_written(["d9".to_owned()]);
        drop(cache.refresh());
        assert!(cache.warm().is_none());
        let refresh = cache.refresh();
        assert!(refresh.kept.is_none());
        assert_eq!(refresh.changes, Changes::default());
    }

    proptest! {
        /// Spliced journeys are the kept ones with the re-read ones put in their place,
        /// the vanished ones gone, sorted by id: a few moves and many alike.
        #[test]
        fn splice_keeps_the_journeys_sorted_and_replaced(
            kept_ids in proptest::collection::btree_set(0..80_u32, 0..60),
            reread in proptest::collection::btree_map(0..80_u32, any::<bool>(), 0..40),
        ) {
            let journey = |id: u32, amount: i64| {
                let (kept, _) = kept(&["+8613800138000"]);
                let mut journey = kept.journeys[0].clone();
                journey.conversion.id = format!("d{id:02}");
                journey.conversion.amount = amount;
                journey
            };
            let mut journeys: Vec<Journey> = kept_ids.iter().map(|&id| journey(id, 1)).collect();
            let ids: Vec<String> = reread.keys().map(|id| format!("d{id:02}")).collect();
            let fresh = reread
                .iter()
                .zip(&ids)
                .map(|((&id, &stored), key)| (key, stored.then(|| journey(id, 2))))
                .collect();
            splice(&mut journeys, fresh);
            let mut expected: BTreeMap<u32, i64> = kept_ids.iter().map(|&id| (id, 1)).collect();
            for (&id, &stored) in &reread {
                if stored {
                    expected.insert(id, 2);
                } else {
                    expected.remove(&id);
                }
            }
            let got: Vec<(String, i64)> = journeys
                .iter()
                .map(|j| (j.conversion.id.clone(), j.conversion.amount))
                .collect();
            let expected: Vec<(String, i64)> = expected
                .into_iter()
                .map(|(id, amount)| (format!("d{id:02}"), amount))
                .collect();
            prop_assert_eq!(got, expected);
        }
    }

    // ---- kept against read in full, through the store ------------------------------

    const SLUGS: [&str; 5] = ["m", "c", "x", "a", "p"];
    const PHONES: [&str; 5] = [
        "13800138000",
        "13800138001",
        "13800138002",
        "13800138003",
        "13800138004",
    ];
    /// 2026-01-01T00:00:00Z: leads are received in the minutes after it.
    const START_MS: i64 = 1_767_225_600_000;

    #[derive(Debug, Clone)]
    enum Op {
        Campaign(usize),
        /// (phone, campaign, minute)
        Lead(usize, usize, i64),
        Leads(Vec<(usize, usize, i64)>),
        /// (conversion id, phone, stage, amount)
        Conversion(usize, usize, usize, u32),
        Conversions(Vec<(usize, usize, usize, u32)>),
        /// Of the n-th lead written so far (modulo their number).
        Status(usize),
        Erase(usize),
        /// Erases the leads received before this minute.
        Retention(i64),
        Report,
    }

    fn any_op() -> impl Strategy<Value = Op> {
        let lead = (0..PHONES.len(), 0..SLUGS.len(), 0..600_i64);
        let conversion = (0..4_usize, 0..PHONES.len(), 0..3_usize, 1..10_000_u32);
        prop_oneof![
            2 => (0..SLUGS.len()).prop_map(Op::Campaign),
            6 => lead.clone().prop_map(|(p, c, m)| Op::Lead(p, c, m)),
            1 => proptest::collection::vec(lead, 1..4).prop_map(Op::Leads),
            4 => conversion.clone().prop_map(|(i, p, s, a)| Op::Conversion(i, p, s, a)),
            1 => proptest::collection::vec(conversion, 1..4).prop_map(Op::Conversions),
            1 => any::<usize>().prop_map(Op::Status),
            1 => (0..PHONES.len()).prop_map(Op::Erase),
            1 => (0..600_i64).prop_map(Op::Retention),
            4 => Just(Op::Report),
        ]
    }

    fn new_lead(phone: usize, campaign: usize, minute: i64) -> NewLead {
        let details = Details {
            name: Some("Visitor".into()),
            reach: Reach::Phone(Phone::parse(PHONES[phone]).unwrap()),
            company: None,
            fields: Default::default(),
            tracking: Default::default(),
        };
        let channel = Channel::Form {
            token: None,
            json: true,
        };
        let mut lead = Lead::new(Slug::parse(SLUGS[campaign]).unwrap(), details, &channel).unwrap();
        lead.id = LeadId::at((START_MS + minute * 60_000) as u64);
        lead.received_at = lead.id.received_at();
        NewLead {
            lead,
            idempotency_key: None,
        }
    }

    fn conversion(id: usize, phone: usize, stage: usize, amount: u32) -> ConversionInput {
        ConversionInput {
            id: format!("crm-{id}"),
            contact: ContactRef::Phone(Phone::parse(PHONES[phone]).unwrap()),
            stage: [Stage::Deal, Stage::Won, Stage::Lost][stage],
            amount: Some(amount.to_string()),
            occurred_at: jiff::Timestamp::from_millisecond(START_MS + 300 * 60_000).unwrap(),
            currency: None,
        }
    }

    /// Applies `op`; a refusal (an unknown campaign or contact, a duplicate) is part of
    /// the game. A report checks the kept journeys against a full read.
    async fn apply(store: &Store, op: Op, leads: &mut Vec<LeadId>) {
        let now = jiff::Timestamp::from_millisecond(START_MS + 86_400_000).unwrap();
        match op {
            Op::Campaign(i) => {
                let body = serde_json::json!({"slug": SLUGS[i], "name": SLUGS[i]});
                let forms = crate::forms::FormSet::builtin();
                let campaign =
                    crate::campaign::Campaign::create(body.as_object().unwrap(), &forms, now)
                        .unwrap();
                let _ = store.create_campaign(campaign).await;
            }
            Op::Lead(phone, campaign, minute) => {
                if let Ok(outcome) = store.insert_lead(new_lead(phone, campaign, minute)).await {
                    leads.push(outcome.id);
                }
            }
            Op::Leads(rows) => {
                let rows = rows
                    .into_iter()
                    .enumerate()
                    .map(|(line, (p, c, m))| (line, new_lead(p, c, m)))
                    .collect();
                if let Ok(outcomes) = store.import_leads(rows).await {
                    leads.extend(
                        outcomes
                            .into_iter()
                            .filter_map(|(_, o)| o.ok())
                            .map(|o| o.id),
                    );
                }
            }
            Op::Conversion(id, phone, stage, amount) => {
                let _ = store
                    .upsert_conversion(conversion(id, phone, stage, amount), now)
                    .await;
            }
            Op::Conversions(rows) => {
                let rows = rows
                    .into_iter()
                    .enumerate()
                    .map(|(line, (i, p, s, a))| (line, conversion(i, p, s, a)))
                    .collect();
                let _ = store.import_conversions(rows, now).await;
            }
            Op::Status(n) => {
                if !leads.is_empty() {
                    let id = leads[n % leads.len()];
                    let _ = store.set_lead_status(id, LeadStatus::Mql, now).await;
                }
            }
            Op::Erase(phone) => {
                let key = Phone::parse(PHONES[phone]).unwrap().as_str().to_owned();
                let _ = store
                    .erase(erasure::Person::Phone(key), LeadId::generate(), now)
                    .await;
            }
            Op::Retention(minute) => {
                let cutoff = jiff::Timestamp::from_millisecond(START_MS + minute * 60_000);
                store.erase_older_than(cutoff.unwrap(), now).await.unwrap();
            }
            Op::Report => {
                let kept = store.roi_input(0, u32::MAX, None).await.unwrap().journeys;
                let full = store.journeys_read_in_full().await.unwrap();
                assert_eq!(*kept, full);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the writes and wherever the reports fall between them, the kept
        /// journeys brought up to date equal the journeys read in full.
        #[test]
        fn kept_journeys_equal_a_full_read(
            ops in proptest::collection::vec(any_op(), 1..40),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(&dir.path().join("s.redb"), jiff::tz::TimeZone::UTC).unwrap();
                let mut leads = Vec::new();
                // Two campaigns, a converted contact, and journeys kept by a report: the
                // campaigns created later sort before and between these two.
                let start = [
                    Op::Campaign(0),
                    Op::Campaign(2),
                    Op::Lead(0, 0, 10),
                    Op::Lead(0, 2, 20),
                    Op::Lead(1, 2, 30),
                    Op::Conversion(0, 0, 1, 100),
                    Op::Report,
                ];
                for op in start.into_iter().chain(ops) {
                    apply(&store, op, &mut leads).await;
                }
                apply(&store, Op::Report, &mut leads).await;
                store.close().await;
            });
        }
    }
}
