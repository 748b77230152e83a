//! The converted contacts' journeys (each conversion with its contact's touches), kept in
//! memory between ROI requests. Reading them is most of the summary's cost at scale (one
//! range scan per converted contact), yet they change only when a conversion is written,
//! a campaign is created (touches name campaigns by position), or a converted contact
//! gets another lead. Writes report those after their commit; a request uses the kept
//! journeys only if nothing was reported since the generation it read before its snapshot.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::roi::Journey;

#[derive(Default)]
struct State {
    /// Bumped after every commit that may change a journey.
    generation: u64,
    /// The contacts that have a conversion, as of the kept journeys; `None` when unknown
    /// (then every lead counts as a change).
    converted: Option<HashSet<String>>,
    kept: Option<(u64, Arc<Vec<Journey>>)>,
}

#[derive(Default)]
pub struct JourneyCache {
    state: Mutex<State>,
}

impl JourneyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read before the snapshot the journeys may be read from.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The kept journeys, if nothing changed since `generation`.
    pub fn get(&self, generation: u64) -> Option<Arc<Vec<Journey>>> {
        let state = self.lock();
        match &state.kept {
            Some((kept, journeys)) if *kept == generation && state.generation == generation => {
                Some(journeys.clone())
            }
            _ => None,
        }
    }

    /// Keeps journeys read from a snapshot taken after `generation` was read, unless
    /// something changed meanwhile (then they may already be stale).
    pub fn put(&self, generation: u64, journeys: Arc<Vec<Journey>>) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        state.converted = Some(
            journeys
                .iter()
                .map(|j| j.conversion.contact.clone())
                .collect(),
        );
        state.kept = Some((generation, journeys));
    }

    /// After a commit that wrote conversions or created a campaign.
    pub fn changed(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.converted = None;
        state.kept = None;
    }

    /// After a commit that wrote leads of these contacts: a change only if one of them
    /// has converted (or if that is not known).
    pub fn leads_written<'a>(&self, contacts: impl IntoIterator<Item = &'a str>) {
        let mut state = self.lock();
        let touches_a_journey = match &state.converted {
            None => true,
            Some(converted) => contacts.into_iter().any(|c| converted.contains(c)),
        };
        if touches_a_journey {
            state.generation += 1;
            state.kept = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversion::{Conversion, Stage};
    use crate::domain::Currency;

    fn journeys(contact: &str) -> Arc<Vec<Journey>> {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let conversion = Conversion {
            id: "d1".into(),
            contact: contact.into(),
            lead_id: None,
            stage: Stage::Won,
            amount: 100,
            currency: Currency::CNY,
            moment: at,
            won_at: Some(at),
            lost_at: None,
            updated_at: at,
        };
        Arc::new(vec![Journey {
            conversion,
            touches: Vec::new(),
        }])
    }

    #[test]
    fn kept_until_a_converted_contact_or_a_conversion_changes() {
        let cache = JourneyCache::default();
        let g = cache.generation();
        assert!(cache.get(g).is_none());
        cache.put(g, journeys("+8613800138000"));
        assert!(cache.get(g).is_some());
        cache.leads_written(["+8613900139000"]);
        assert!(
            cache.get(g).is_some(),
            "a contact without a conversion changes nothing"
        );
        cache.leads_written(["+8613800138000"]);
        assert!(
            cache.get(g).is_none(),
            "a converted contact's new lead does"
        );
        let g = cache.generation();
        cache.put(g, journeys("+8613800138000"));
        cache.changed();
        assert!(cache.get(g).is_none() && cache.get(cache.generation()).is_none());
        // Unknown converted contacts: every lead is a change.
        let g = cache.generation();
        cache.leads_written(["+8613900139000"]);
        assert_ne!(cache.generation(), g);
    }

    #[test]
    fn journeys_read_before_a_change_are_not_kept() {
        let cache = JourneyCache::default();
        let g = cache.generation();
        cache.changed();
        cache.put(g, journeys("+8613800138000"));
        assert!(cache.get(g).is_none());
        assert!(cache.get(cache.generation()).is_none());
    }
}
