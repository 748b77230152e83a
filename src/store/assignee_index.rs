//! Each salesperson's leads, in chunks: (salesperson id, chunk key) -> the chunk's lead
//! ids, ascending, 16 bytes each.
//!
//! One B-tree entry per lead cost the single writer about 11k instructions a lead, 5 % of
//! its work with round robin on (callgrind, #16), while the budget for assignment was 5 %
//! in all. A batch's assignments are gathered here instead and written per salesperson
//! just before the commit, so a batch of 30 leads over three people rewrites three small
//! chunks instead of inserting 30 entries.
//!
//! A salesperson's chunks hold disjoint ranges of ids: an id belongs to the chunk with the
//! greatest key at or below it (every key is at most its chunk's first id). Ids that come
//! out of order (an old lead reassigned, a back-dated import) go into the chunk whose range
//! holds them; a chunk that grows past [`CHUNK_IDS`] is split.

use std::collections::BTreeMap;

use redb::{ReadableTable, Table};

use super::storage;
use crate::error::Result;

/// Ids per chunk at most (2 KiB of value): small enough that rewriting the newest chunk
/// every batch stays cheap, large enough that a chunk holds many batches.
pub const CHUNK_IDS: usize = 32;

const ID_BYTES: usize = 16;

pub struct LeadsByAssignee<'txn> {
    table: Table<'txn, (u128, u128), &'static [u8]>,
    /// (salesperson, lead) -> whether the lead is to be listed (true) or taken off (false);
    /// the last change of a batch wins, as it would have one entry at a time.
    pending: BTreeMap<(u128, u128), bool>,
}

impl<'txn> LeadsByAssignee<'txn> {
    pub fn new(table: Table<'txn, (u128, u128), &'static [u8]>) -> Self {
        LeadsByAssignee {
            table,
            pending: BTreeMap::new(),
        }
    }

    pub fn list(&mut self, person: u128, lead: u128) {
        self.pending.insert((person, lead), true);
    }

    pub fn unlist(&mut self, person: u128, lead: u128) {
        self.pending.insert((person, lead), false);
    }

    /// Whether the salesperson has any lead, the batch's pending changes included.
    pub fn has_leads(&mut self, person: u128) -> Result<bool> {
        self.flush()?;
        Ok(self
            .table
            .range((person, 0)..=(person, u128::MAX))
            .map_err(storage)?
            .next()
            .is_some())
    }

    /// Writes the batch's changes: each touched chunk is read and written once.
    pub fn flush(&mut self) -> Result<()> {
        let mut open: Option<OpenChunk> = None;
        for ((person, lead), listed) in std::mem::take(&mut self.pending) {
            if !open.as_ref().is_some_and(|chunk| chunk.holds(person, lead)) {
                if let Some(chunk) = open.take() {
                    chunk.write(&mut self.table)?;
                }
                open = OpenChunk::read(&self.table, person, lead, listed)?;
            }
            if let Some(chunk) = open.as_mut() {
                chunk.change(lead, listed);
            }
        }
        if let Some(chunk) = open {
            chunk.write(&mut self.table)?;
        }
        Ok(())
    }
}

/// The chunk a run of pending changes falls in, as read, with the changes applied.
struct OpenChunk {
    person: u128,
    /// Its key; `None` for a chunk that does not exist yet.
    key: Option<u128>,
    /// The lowest id it may hold.
    low: u128,
    /// The next chunk's key: the ids it may hold are below it.
    next: Option<u128>,
    ids: Vec<u128>,
}

impl OpenChunk {
    /// The chunk `lead` belongs in; `None` when there is none and nothing is to be listed.
    fn read(
        table: &Table<'_, (u128, u128), &'static [u8]>,
        person: u128,
        lead: u128,
        listed: bool,
    ) -> Result<Option<OpenChunk>> {
        // Most changes list a new lead, which belongs in the salesperson's last chunk: one
        // lookup finds it, and there is no next chunk.
        let last = table
            .range((person, 0)..=(person, u128::MAX))
            .map_err(storage)?
            .next_back()
            .transpose()
            .map_err(storage)?;
        if let Some((key, value)) = last
            && key.value().1 <= lead
        {
            return Ok(Some(OpenChunk {
                person,
                key: Some(key.value().1),
                low: key.value().1,
                next: None,
                ids: decode(value.value()),
            }));
        }
        let next = match lead.checked_add(1) {
            Some(above) => table
                .range((person, above)..=(person, u128::MAX))
                .map_err(storage)?
                .next()
                .transpose()
                .map_err(storage)?
                .map(|(key, _)| key.value().1),
            None => None,
        };
        let at_or_below = table
            .range((person, 0)..=(person, lead))
            .map_err(storage)?
            .next_back()
            .transpose()
            .map_err(storage)?;
        Ok(match at_or_below {
            Some((key, value)) => Some(OpenChunk {
                person,
                key: Some(key.value().1),
                low: key.value().1,
                next,
                ids: decode(value.value()),
            }),
            None if listed => Some(OpenChunk {
                person,
                key: None,
                low: lead,
                next,
                ids: Vec::new(),
            }),
            None => None,
        })
    }

    fn holds(&self, person: u128, lead: u128) -> bool {
        self.person == person && self.low <= lead && self.next.is_none_or(|next| lead < next)
    }

    fn change(&mut self, lead: u128, listed: bool) {
        match (self.ids.binary_search(&lead), listed) {
            (Err(at), true) => self.ids.insert(at, lead),
            (Ok(at), false) => {
                self.ids.remove(at);
            }
            _ => {}
        }
    }

    fn write(self, table: &mut Table<'_, (u128, u128), &'static [u8]>) -> Result<()> {
        if let Some(key) = self.key
            && self.ids.is_empty()
        {
            table.remove((self.person, key)).map_err(storage)?;
            return Ok(());
        }
        let Some(&first) = self.ids.first() else {
            return Ok(());
        };
        // The first piece keeps the chunk's key (at most its first id, which is all the
        // rule asks); the rest are keyed by their own first ids.
        let key = self.key.unwrap_or(first);
        for (index, piece) in self.ids.chunks(CHUNK_IDS).enumerate() {
            let piece_key = if index == 0 { key } else { piece[0] };
            table
                .insert((self.person, piece_key), encode(piece).as_slice())
                .map_err(storage)?;
        }
        Ok(())
    }
}

fn encode(ids: &[u128]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_be_bytes()).collect()
}

pub(super) fn decode(bytes: &[u8]) -> Vec<u128> {
    bytes
        .chunks_exact(ID_BYTES)
        .map(|id| u128::from_be_bytes(id.try_into().expect("16 bytes")))
        .collect()
}

/// The salesperson's leads with ids in `low..=high`, newest first, until `take` says stop.
pub fn each_lead_newest_first(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    person: u128,
    low: u128,
    high: u128,
    mut take: impl FnMut(u128) -> Result<bool>,
) -> Result<()> {
    for entry in table
        .range((person, 0)..=(person, high))
        .map_err(storage)?
        .rev()
    {
        let (key, value) = entry.map_err(storage)?;
        for id in decode(value.value()).into_iter().rev() {
            if id < low {
                return Ok(());
            }
            if id <= high && !take(id)? {
                return Ok(());
            }
        }
        // Every earlier chunk holds only ids below this one's key.
        if key.value().1 <= low {
            return Ok(());
        }
    }
    Ok(())
}

/// How many leads the salesperson has, counting at most `cap`.
pub fn count_leads(
    table: &impl ReadableTable<(u128, u128), &'static [u8]>,
    person: u128,
    cap: usize,
) -> Result<usize> {
    let mut count = 0;
    for entry in table
        .range((person, 0)..=(person, u128::MAX))
        .map_err(storage)?
    {
        count += entry.map_err(storage)?.1.value().len() / ID_BYTES;
        if count >= cap {
            return Ok(cap);
        }
    }
    Ok(count)
}

/// Writes a salesperson's whole list (ascending), for a store being moved to chunks.
pub fn write_all(
    table: &mut Table<'_, (u128, u128), &'static [u8]>,
    person: u128,
    ids: &[u128],
) -> Result<()> {
    for piece in ids.chunks(CHUNK_IDS) {
        table
            .insert((person, piece[0]), encode(piece).as_slice())
            .map_err(storage)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use redb::ReadableDatabase;
    use std::collections::BTreeSet;

    const TABLE: redb::TableDefinition<(u128, u128), &[u8]> =
        redb::TableDefinition::new("leads_by_assignee_chunks");

    fn temp_db() -> (tempfile::TempDir, redb::Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        (dir, db)
    }

    /// Applies batches of (person, lead, listed) changes, one transaction each.
    fn apply(db: &redb::Database, batches: &[Vec<(u128, u128, bool)>]) {
        for batch in batches {
            let txn = db.begin_write().unwrap();
            {
                let mut index = LeadsByAssignee::new(txn.open_table(TABLE).unwrap());
                for &(person, lead, listed) in batch {
                    if listed {
                        index.list(person, lead);
                    } else {
                        index.unlist(person, lead);
                    }
                }
                index.flush().unwrap();
            }
            txn.commit().unwrap();
        }
    }

    fn listed(db: &redb::Database, person: u128, low: u128, high: u128) -> Vec<u128> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        let mut ids = Vec::new();
        each_lead_newest_first(&table, person, low, high, |id| {
            ids.push(id);
            Ok(true)
        })
        .unwrap();
        ids
    }

    fn chunks(db: &redb::Database) -> Vec<(u128, u128, Vec<u128>)> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        table
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, value) = entry.unwrap();
                let (person, key) = key.value();
                (person, key, decode(value.value()))
            })
            .collect()
    }

    #[test]
    fn a_batch_of_appends_writes_one_chunk_per_salesperson() {
        let (_dir, db) = temp_db();
        let batch: Vec<_> = (1..=30).map(|lead| (lead % 3, lead, true)).collect();
        apply(&db, &[batch]);
        let chunks = chunks(&db);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0], (0, 3, (1..=10).map(|i| i * 3).collect()));
    }

    #[test]
    fn a_full_chunk_is_followed_by_a_new_one_and_an_old_lead_goes_into_its_range() {
        let (_dir, db) = temp_db();
        let appends: Vec<_> = (0..CHUNK_IDS as u128 + 5)
            .map(|i| (7, 100 + i * 2, true))
            .collect();
        apply(&db, &[appends]);
        let keys: Vec<u128> = chunks(&db).iter().map(|c| c.1).collect();
        assert_eq!(keys, vec![100, 100 + CHUNK_IDS as u128 * 2]);
        // 101 falls inside the first chunk's range, 50 before every chunk.
        apply(&db, &[vec![(7, 101, true), (7, 50, true)]]);
        let all = listed(&db, 7, 0, u128::MAX);
        assert_eq!(all.len(), CHUNK_IDS + 7);
        assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first");
        assert!(all.contains(&101) && all.contains(&50));
    }

    #[test]
    fn listing_and_unlisting_in_one_batch_keeps_the_last_change() {
        let (_dir, db) = temp_db();
        apply(
            &db,
            &[vec![
                (1, 10, true),
                (1, 10, false),
                (1, 11, false),
                (1, 11, true),
            ]],
        );
        assert_eq!(listed(&db, 1, 0, u128::MAX), vec![11]);
        apply(&db, &[vec![(1, 11, false)]]);
        assert!(chunks(&db).is_empty(), "an emptied chunk is removed");
    }

    proptest! {
        // Each case builds a store on disk: fewer cases than the default 256.
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the order of changes, the chunks list exactly what one entry per lead
        /// would, ranges read right, and the chunks stay disjoint and within their size.
        #[test]
        fn chunks_list_what_single_entries_would(
            batches in prop::collection::vec(
                prop::collection::vec((0u128..3, 0u128..400, prop::bool::weighted(0.8)), 0..60),
                1..8,
            ),
            low in 0u128..400,
            span in 0u128..400,
        ) {
            let (_dir, db) = temp_db();
            apply(&db, &batches);
            let mut expected: BTreeSet<(u128, u128)> = BTreeSet::new();
            for batch in &batches {
                for &(person, lead, list) in batch {
                    if list { expected.insert((person, lead)); } else { expected.remove(&(person, lead)); }
                }
            }
            let high = low + span;
            for person in 0..3 {
                let want: Vec<u128> = expected
                    .iter()
                    .filter(|(p, l)| *p == person && (low..=high).contains(l))
                    .map(|(_, l)| *l)
                    .rev()
                    .collect();
                prop_assert_eq!(listed(&db, person, low, high), want);
            }
            let chunks = chunks(&db);
            for pair in chunks.windows(2) {
                if pair[0].0 == pair[1].0 {
                    prop_assert!(pair[0].2.last().unwrap() < &pair[1].1, "disjoint ranges");
                }
            }
            for (_, key, ids) in &chunks {
                prop_assert!(!ids.is_empty() && ids.len() <= CHUNK_IDS && *key <= ids[0]);
            }
        }
    }
}
