//! `leadgate check`: reads the whole store and verifies that everything derived agrees
//! with the rows it was derived from — the daily counters, the campaign index, contacts,
//! touches and idempotency tokens. After a crash this is the proof that no transaction
//! was half applied.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};

use super::erasure::ErasedLead;
use super::storage;
use super::tables::{self, metric};
use super::write::{Contact, decode_contact, decode_lead, decode_record};
use crate::domain::{LeadStatus, day_number};
use crate::error::Result;
use crate::lead::Lead;

/// What the check read, and every disagreement it found.
#[derive(Debug, Default)]
pub struct Report {
    pub leads: u64,
    pub contacts: u64,
    pub tokens: u64,
    /// Erased leads (their stubs).
    pub erased: u64,
    pub problems: Vec<String>,
}

pub fn check(txn: &ReadTransaction, tz: &jiff::tz::TimeZone) -> Result<Report> {
    let mut report = Report::default();
    let mut expected: BTreeMap<(String, u32, &'static str), u64> = BTreeMap::new();
    let mut ids = HashSet::new();
    let mut per_contact: HashMap<String, (u64, (jiff::Timestamp, u128))> = HashMap::new();
    let mut assigned: BTreeSet<(u128, u128)> = BTreeSet::new();
    // Each lead's (and erased lead's) campaign and time: a contact's first lead may be
    // either.
    let mut origins: HashMap<u128, (String, jiff::Timestamp)> = HashMap::new();
    let mut erased_ids = HashSet::new();
    let leads = txn.open_table(tables::LEADS).map_err(storage)?;
    let by_campaign = txn.open_table(tables::LEADS_BY_CAMPAIGN).map_err(storage)?;
    let touches = txn.open_table(tables::TOUCHES).map_err(storage)?;
    for entry in leads.iter().map_err(storage)? {
        let (key, bytes) = entry.map_err(storage)?;
        let lead: Lead = decode_lead(bytes.value())?;
        let id = key.value();
        report.leads += 1;
        ids.insert(id);
        if lead.id.to_u128() != id {
            report
                .problems
                .push(format!("lead stored under {id:x} says it is {}", lead.id));
        }
        let slug = lead.campaign.to_string();
        let day = day_number(lead.received_at, tz);
        count_lead(&mut expected, &slug, day, lead.status);
        origins.insert(id, (slug.clone(), lead.received_at));
        if by_campaign
            .get((slug.as_str(), id))
            .map_err(storage)?
            .is_none()
        {
            report.problems.push(format!(
                "lead {} is missing from its campaign's index",
                lead.id
            ));
        }
        let touch = touches
            .get((lead.contact.as_str(), lead.received_at.as_millisecond(), id))
            .map_err(storage)?;
        if touch.map(|t| t.value().to_owned()) != Some(slug) {
            report
                .problems
                .push(format!("lead {} has no touch for its contact", lead.id));
        }
        if let Some(person) = lead.assigned_to {
            assigned.insert((person.to_u128(), id));
        }
        let seen = per_contact
            .entry(lead.contact.clone())
            .or_insert((0, (lead.received_at, id)));
        seen.0 += 1;
        seen.1 = seen.1.min((lead.received_at, id));
    }
    // Erased leads still count (the counters keep them) and keep their touch, under an
    // anonymous contact: they are recounted from their stubs.
    let erased = txn.open_table(tables::ERASED_LEADS).map_err(storage)?;
    for entry in erased.iter().map_err(storage)? {
        let (key, bytes) = entry.map_err(storage)?;
        let stub: ErasedLead = decode_record(bytes.value(), "erased lead")?;
        let id = key.value();
        report.erased += 1;
        if ids.contains(&id) {
            report
                .problems
                .push(format!("lead {id:x} is both stored and erased"));
        }
        erased_ids.insert(id);
        let day = day_number(stub.received_at, tz);
        count_lead(&mut expected, &stub.campaign, day, stub.status);
        if by_campaign
            .get((stub.campaign.as_str(), id))
            .map_err(storage)?
            .is_some()
        {
            report.problems.push(format!(
                "erased lead {id:x} is still in its campaign's index"
            ));
        }
        let touch = touches
            .get((stub.contact.as_str(), stub.received_at.as_millisecond(), id))
            .map_err(storage)?;
        if touch.map(|t| t.value().to_owned()) != Some(stub.campaign.clone()) {
            report
                .problems
                .push(format!("erased lead {id:x} has no touch for its contact"));
        }
        let seen = per_contact
            .entry(stub.contact.clone())
            .or_insert((0, (stub.received_at, id)));
        seen.0 += 1;
        seen.1 = seen.1.min((stub.received_at, id));
        origins.insert(id, (stub.campaign, stub.received_at));
    }
    let index_rows = by_campaign.len().map_err(storage)?;
    if index_rows != report.leads {
        report.problems.push(format!(
            "the campaign index has {index_rows} rows for {} leads",
            report.leads
        ));
    }
    let touch_rows = touches.len().map_err(storage)?;
    if touch_rows != report.leads + report.erased {
        report.problems.push(format!(
            "the touch index has {touch_rows} rows for {} leads and {} erased ones",
            report.leads, report.erased
        ));
    }
    check_contacts(txn, tz, &per_contact, &origins, &mut expected, &mut report)?;
    check_counters(txn, &expected, &mut report)?;
    check_tiers(txn, &mut report)?;
    let tokens = txn.open_table(tables::TOKENS).map_err(storage)?;
    for entry in tokens.iter().map_err(storage)? {
        let (key, id) = entry.map_err(storage)?;
        report.tokens += 1;
        // A form retried after an erasure answers with the erased id, not a new person.
        if !ids.contains(&id.value()) && !erased_ids.contains(&id.value()) {
            report.problems.push(format!(
                "idempotency key {:?} points to a missing lead",
                key.value()
            ));
        }
    }
    check_placements(txn, &mut report)?;
    check_assignees(txn, &assigned, &mut report)?;
    Ok(report)
}

/// Each salesperson's chunks list exactly the leads that name them, and keep the chunks'
/// rules (see `assignee_index`): ids ascending, at most `CHUNK_IDS`, the key at or below
/// the first id, ranges disjoint.
fn check_assignees(
    txn: &ReadTransaction,
    assigned: &BTreeSet<(u128, u128)>,
    report: &mut Report,
) -> Result<()> {
    let chunks = txn.open_table(tables::LEADS_BY_ASSIGNEE).map_err(storage)?;
    let mut listed = BTreeSet::new();
    let mut previous: Option<(u128, u128)> = None;
    for entry in chunks.iter().map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        let (person, chunk_key) = key.value();
        let ids = super::assignee_index::decode(value.value());
        let well_formed = !ids.is_empty()
            && ids.len() <= super::assignee_index::CHUNK_IDS
            && chunk_key <= ids[0]
            && ids.windows(2).all(|pair| pair[0] < pair[1])
            && previous.is_none_or(|(p, last)| p != person || last < chunk_key);
        if !well_formed {
            report.problems.push(format!(
                "salesperson {person:x}'s lead chunk {chunk_key:x} breaks the chunks' rules"
            ));
        }
        previous = ids.last().map(|&last| (person, last));
        listed.extend(ids.into_iter().map(|id| (person, id)));
    }
    for (person, id) in assigned.difference(&listed) {
        report.problems.push(format!(
            "lead {id:x} is missing from salesperson {person:x}'s list"
        ));
    }
    for (person, id) in listed.difference(assigned) {
        report.problems.push(format!(
            "salesperson {person:x}'s list names lead {id:x}, which is not theirs"
        ));
    }
    Ok(())
}

/// Counts a lead (or an erased one) in the counters recomputed from the rows.
fn count_lead(
    expected: &mut BTreeMap<(String, u32, &'static str), u64>,
    slug: &str,
    day: u32,
    status: LeadStatus,
) {
    *expected
        .entry((slug.to_owned(), day, metric::LEADS))
        .or_default() += 1;
    let derived = match status {
        LeadStatus::Mql | LeadStatus::Sql => metric::MQLS,
        LeadStatus::Disqualified => metric::DISQUALIFIED,
        LeadStatus::New => return,
    };
    *expected.entry((slug.to_owned(), day, derived)).or_default() += 1;
}

/// The placements table lists exactly each campaign's declared variants, plus at most
/// `MAX_SCANNED_PLACEMENTS` made by scans, and only for campaigns that exist.
fn check_placements(txn: &ReadTransaction, report: &mut Report) -> Result<()> {
    let mut declared: HashMap<String, HashSet<String>> = HashMap::new();
    for entry in txn
        .open_table(tables::CAMPAIGNS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (slug, bytes) = entry.map_err(storage)?;
        let campaign: crate::campaign::Campaign = super::write::decode(bytes.value(), "campaign")?;
        declared.insert(
            slug.value().to_owned(),
            campaign.qr_variants.into_iter().collect(),
        );
    }
    let mut listed: HashMap<String, HashSet<String>> = HashMap::new();
    let mut scanned: HashMap<String, usize> = HashMap::new();
    for entry in txn
        .open_table(tables::PLACEMENTS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (key, kind) = entry.map_err(storage)?;
        let (slug, variant) = key.value();
        let Some(variants) = declared.get(slug) else {
            report.problems.push(format!(
                "placement {variant:?} of unknown campaign {slug:?}"
            ));
            continue;
        };
        match kind.value() {
            tables::DECLARED => {
                listed
                    .entry(slug.to_owned())
                    .or_default()
                    .insert(variant.to_owned());
            }
            _ if variants.contains(variant) => report.problems.push(format!(
                "placement {variant:?} of {slug} is declared but listed as scanned"
            )),
            _ => *scanned.entry(slug.to_owned()).or_default() += 1,
        }
    }
    for (slug, variants) in &declared {
        let empty = HashSet::new();
        let listed = listed.get(slug).unwrap_or(&empty);
        for missing in variants.difference(listed) {
            report.problems.push(format!(
                "declared placement {missing:?} of {slug} is not listed"
            ));
        }
        for extra in listed.difference(variants) {
            report.problems.push(format!(
                "placement {extra:?} of {slug} is listed as declared but is not"
            ));
        }
    }
    for (slug, count) in scanned {
        if count > tables::MAX_SCANNED_PLACEMENTS {
            report.problems.push(format!(
                "{slug} has {count} placements made by scans (at most {})",
                tables::MAX_SCANNED_PLACEMENTS
            ));
        }
    }
    Ok(())
}

fn check_contacts(
    txn: &ReadTransaction,
    tz: &jiff::tz::TimeZone,
    per_contact: &HashMap<String, (u64, (jiff::Timestamp, u128))>,
    origins: &HashMap<u128, (String, jiff::Timestamp)>,
    expected: &mut BTreeMap<(String, u32, &'static str), u64>,
    report: &mut Report,
) -> Result<()> {
    let contacts = txn.open_table(tables::CONTACTS).map_err(storage)?;
    for entry in contacts.iter().map_err(storage)? {
        let (key, bytes) = entry.map_err(storage)?;
        let contact: Contact = decode_contact(bytes.value())?;
        report.contacts += 1;
        match per_contact.get(key.value()) {
            None => report
                .problems
                .push(format!("contact {:?} has no leads", key.value())),
            Some((count, (_, first))) => {
                if *count != contact.leads {
                    report.problems.push(format!(
                        "contact {:?} counts {} leads, the store has {count}",
                        key.value(),
                        contact.leads
                    ));
                }
                if *first != contact.first_lead.to_u128() {
                    report.problems.push(format!(
                        "contact {:?} names the wrong first lead",
                        key.value()
                    ));
                }
            }
        }
        if let Some((campaign, received_at)) = origins.get(&contact.first_lead.to_u128()) {
            *expected
                .entry((
                    campaign.clone(),
                    day_number(*received_at, tz),
                    metric::NEW_CONTACTS,
                ))
                .or_default() += 1;
        }
    }
    if report.contacts != per_contact.len() as u64 {
        report.problems.push(format!(
            "{} contacts stored for {} distinct contacts of leads",
            report.contacts,
            per_contact.len()
        ));
    }
    Ok(())
}

/// The month and all-time tiers must equal the sums of the day rows, metric by metric.
fn check_tiers(txn: &ReadTransaction, report: &mut Report) -> Result<()> {
    let mut months: BTreeMap<(String, u32, String), u64> = BTreeMap::new();
    let mut totals: BTreeMap<(String, String), u64> = BTreeMap::new();
    for entry in txn
        .open_table(tables::COUNTERS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (key, count) = entry.map_err(storage)?;
        let (slug, day, name) = key.value();
        if metric::is_daily_only(name) {
            continue;
        }
        *months
            .entry((slug.to_owned(), day / 100, name.to_owned()))
            .or_default() += count.value();
        *totals
            .entry((slug.to_owned(), name.to_owned()))
            .or_default() += count.value();
    }
    for entry in txn
        .open_table(tables::MONTHLY_COUNTERS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (key, count) = entry.map_err(storage)?;
        let (slug, month, name) = key.value();
        let want = months
            .remove(&(slug.to_owned(), month, name.to_owned()))
            .unwrap_or(0);
        if want != count.value() {
            report.problems.push(format!(
                "month counter {slug} {month} {name}: stored {}, days say {want}",
                count.value()
            ));
        }
    }
    for entry in txn
        .open_table(tables::TOTAL_COUNTERS)
        .map_err(storage)?
        .iter()
        .map_err(storage)?
    {
        let (key, count) = entry.map_err(storage)?;
        let (slug, name) = key.value();
        let want = totals
            .remove(&(slug.to_owned(), name.to_owned()))
            .unwrap_or(0);
        if want != count.value() {
            report.problems.push(format!(
                "total counter {slug} {name}: stored {}, days say {want}",
                count.value()
            ));
        }
    }
    for ((slug, month, name), want) in months.into_iter().filter(|(_, v)| *v != 0) {
        report.problems.push(format!(
            "month counter {slug} {month} {name}: missing, days say {want}"
        ));
    }
    for ((slug, name), want) in totals.into_iter().filter(|(_, v)| *v != 0) {
        report.problems.push(format!(
            "total counter {slug} {name}: missing, days say {want}"
        ));
    }
    Ok(())
}

/// Every lead-derived counter must equal the count recomputed from the rows.
fn check_counters(
    txn: &ReadTransaction,
    expected: &BTreeMap<(String, u32, &'static str), u64>,
    report: &mut Report,
) -> Result<()> {
    let derived = [
        metric::LEADS,
        metric::NEW_CONTACTS,
        metric::MQLS,
        metric::DISQUALIFIED,
    ];
    let counters = txn.open_table(tables::COUNTERS).map_err(storage)?;
    let mut stored: BTreeMap<(String, u32, &'static str), u64> = BTreeMap::new();
    for entry in counters.iter().map_err(storage)? {
        let (key, count) = entry.map_err(storage)?;
        let (slug, day, name) = key.value();
        if let Some(metric) = derived.iter().find(|m| **m == name)
            && count.value() != 0
        {
            stored.insert((slug.to_owned(), day, metric), count.value());
        }
    }
    for (key, want) in expected {
        let have = stored.get(key).copied().unwrap_or(0);
        if have != *want {
            report.problems.push(format!(
                "counter {} {} {}: stored {have}, rows say {want}",
                key.0, key.1, key.2
            ));
        }
    }
    for (key, have) in &stored {
        if !expected.contains_key(key) {
            report.problems.push(format!(
                "counter {} {} {}: stored {have}, rows say 0",
                key.0, key.1, key.2
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::campaign::Campaign;
    use crate::domain::Slug;
    use crate::store::{Store, tables};

    #[tokio::test]
    async fn placements_that_disagree_with_the_campaigns_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), jiff::tz::TimeZone::UTC).unwrap();
        let body = serde_json::json!({"slug": "expo", "name": "Expo", "qr_variants": ["booth-a"]});
        let forms = crate::forms::FormSet::builtin();
        let campaign =
            Campaign::create(body.as_object().unwrap(), &forms, jiff::Timestamp::now()).unwrap();
        store.create_campaign(campaign).await.unwrap();
        let slug = Slug::parse("expo").unwrap();
        for variant in ["booth-a", "poster"] {
            store
                .count_scan(
                    slug.clone(),
                    variant.into(),
                    jiff::Timestamp::now(),
                    crate::scanner::Scanner::of(None),
                )
                .await
                .unwrap();
        }
        assert_eq!(
            store.check_blocking().unwrap().problems,
            Vec::<String>::new()
        );

        let db = store.db.get().unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut placements = txn.open_table(tables::PLACEMENTS).unwrap();
            placements.remove(("expo", "booth-a")).unwrap();
            placements.insert(("gone", "x"), tables::SCANNED).unwrap();
        }
        txn.commit().unwrap();
        drop(db);
        let problems = store.check_blocking().unwrap().problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("\"booth-a\"")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("\"gone\"")),
            "{problems:?}"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn a_salespersons_list_naming_a_lead_that_is_not_theirs_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), jiff::tz::TimeZone::UTC).unwrap();
        let db = store.db.get().unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut chunks = txn.open_table(tables::LEADS_BY_ASSIGNEE).unwrap();
            // Lead 9 does not exist; the second chunk also breaks the ascending rule.
            chunks
                .insert((1, 9), 9u128.to_be_bytes().as_slice())
                .unwrap();
            let unordered: Vec<u8> = [12u128, 11]
                .iter()
                .flat_map(|id| id.to_be_bytes())
                .collect();
            chunks.insert((1, 10), unordered.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        drop(db);
        let problems = store.check_blocking().unwrap().problems;
        assert!(
            problems.iter().any(|p| p.contains("names lead 9,")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("chunk a breaks")),
            "{problems:?}"
        );
        store.close().await;
    }
}
