//! Read queries, each inside one read transaction (a consistent snapshot).

use std::collections::{HashMap, HashSet};

use redb::{ReadTransaction, ReadableTable};

use super::storage;
use super::tables::{self, metric};
use super::write::{decode, decode_lead, decode_record};
use crate::attribution::Touch;
use crate::campaign::Campaign;
use crate::conversion::Conversion;
use crate::cost::CostEntry;
use crate::domain::{LeadId, LeadStatus, Slug};
use crate::error::Result;
use crate::lead::Lead;
use crate::markov::Paths;
use crate::roi::{Counters, Journey, RoiInput, Window};

/// A page of `GET /api/leads`: newest first, ids strictly older than `before`.
#[derive(Debug, Clone)]
pub struct LeadQuery {
    pub campaign: Option<Slug>,
    /// Inclusive bounds on the lead id, which orders leads by time.
    pub from: LeadId,
    pub to: LeadId,
    /// Continue after this id (the previous page's last).
    pub before: Option<LeadId>,
    pub status: Option<LeadStatus>,
    /// Only the leads of this salesperson (`Some(Some(id))`) or of nobody (`Some(None)`).
    pub assigned_to: Option<Option<LeadId>>,
    pub limit: usize,
}

pub fn campaign(txn: &ReadTransaction, slug: &str) -> Result<Option<Campaign>> {
    let table = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
    match table.get(slug).map_err(storage)? {
        Some(bytes) => decode(bytes.value(), "campaign").map(Some),
        None => Ok(None),
    }
}

pub fn campaigns(txn: &ReadTransaction) -> Result<Vec<Campaign>> {
    let table = txn.open_table(tables::CAMPAIGNS).map_err(storage)?;
    let mut all = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, bytes) = entry.map_err(storage)?;
        all.push(decode(bytes.value(), "campaign")?);
    }
    Ok(all)
}

pub fn lead(txn: &ReadTransaction, id: LeadId) -> Result<Option<Lead>> {
    let table = txn.open_table(tables::LEADS).map_err(storage)?;
    match table.get(id.to_u128()).map_err(storage)? {
        Some(bytes) => decode_lead(bytes.value()).map(Some),
        None => Ok(None),
    }
}

pub fn leads(txn: &ReadTransaction, query: &LeadQuery) -> Result<(Vec<Lead>, bool)> {
    let lo = query.from.to_u128();
    let mut hi = query.to.to_u128();
    if let Some(before) = query.before {
        match before.to_u128().checked_sub(1) {
            Some(below) => hi = hi.min(below),
            None => return Ok((Vec::new(), false)),
        }
    }
    if lo > hi {
        return Ok((Vec::new(), false));
    }
    let leads = txn.open_table(tables::LEADS).map_err(storage)?;
    let mut page = Vec::with_capacity(query.limit.min(1024));
    let mut more = false;
    let mut take = |bytes: &[u8]| -> Result<bool> {
        let lead: Lead = decode_lead(bytes)?;
        if query.status.is_some_and(|s| s != lead.status)
            || query.assigned_to.is_some_and(|a| a != lead.assigned_to)
            || query.campaign.as_ref().is_some_and(|c| *c != lead.campaign)
        {
            return Ok(true);
        }
        if page.len() == query.limit {
            more = true;
            return Ok(false);
        }
        page.push(lead);
        Ok(true)
    };
    match (&query.campaign, query.assigned_to) {
        // A salesperson's own index: their leads only, whatever the campaign (one
        // person's leads are far fewer than a campaign's, and `take` checks the campaign).
        (_, Some(Some(person))) => {
            let index = txn.open_table(tables::LEADS_BY_ASSIGNEE).map_err(storage)?;
            super::assignee_index::each_lead_newest_first(
                &index,
                person.to_u128(),
                lo,
                hi,
                |id| match leads.get(id).map_err(storage)? {
                    Some(bytes) => take(bytes.value()),
                    None => Ok(true),
                },
            )?;
        }
        (Some(slug), _) => {
            let index = txn.open_table(tables::LEADS_BY_CAMPAIGN).map_err(storage)?;
            for entry in index
                .range((slug.as_str(), lo)..=(slug.as_str(), hi))
                .map_err(storage)?
                .rev()
            {
                let (key, _) = entry.map_err(storage)?;
                let id = key.value().1;
                if let Some(bytes) = leads.get(id).map_err(storage)?
                    && !take(bytes.value())?
                {
                    break;
                }
            }
        }
        (None, _) => {
            for entry in leads.range(lo..=hi).map_err(storage)?.rev() {
                let (_, bytes) = entry.map_err(storage)?;
                if !take(bytes.value())? {
                    break;
                }
            }
        }
    }
    Ok((page, more))
}

pub fn meta(txn: &ReadTransaction, key: &str) -> Result<Option<Vec<u8>>> {
    let table = txn.open_table(tables::META).map_err(storage)?;
    Ok(table.get(key).map_err(storage)?.map(|v| v.value().to_vec()))
}

pub fn costs(txn: &ReadTransaction, slug: &str) -> Result<Vec<CostEntry>> {
    let table = txn.open_table(tables::COSTS).map_err(storage)?;
    let mut entries = Vec::new();
    for entry in table
        .range((slug, 0, "")..=(slug, u32::MAX, "\u{10FFFF}"))
        .map_err(storage)?
    {
        let (_, bytes) = entry.map_err(storage)?;
        entries.push(decode(bytes.value(), "cost")?);
    }
    Ok(entries)
}

pub fn conversion(txn: &ReadTransaction, id: &str) -> Result<Option<Conversion>> {
    let table = txn.open_table(tables::CONVERSIONS).map_err(storage)?;
    match table.get(id).map_err(storage)? {
        Some(bytes) => decode_record(bytes.value(), "conversion").map(Some),
        None => Ok(None),
    }
}

/// Reads what the ROI summary needs for the days `from..=to` (`YYYYMMDD`): per-campaign
/// counters and costs by range scans, every conversion, and the touches of converted
/// contacts only. Nothing here reads the leads themselves.
/// The campaigns with their counters and costs for the days `from..=to`, without journeys.
pub fn roi_totals(txn: &ReadTransaction, from: u32, to: u32) -> Result<RoiInput> {
    let campaigns = campaigns(txn)?;
    let tiers = CounterTiers::open(txn)?;
    let cost_table = txn.open_table(tables::COSTS).map_err(storage)?;
    let mut counters = Vec::with_capacity(campaigns.len());
    let mut costs = Vec::with_capacity(campaigns.len());
    for campaign in &campaigns {
        let slug = campaign.slug.as_str();
        let sums = tiers.sum(slug, from, to)?;
        counters.push(sums);
        let mut cost = 0_i64;
        for entry in cost_table
            .range((slug, from, "")..=(slug, to, "\u{10FFFF}"))
            .map_err(storage)?
        {
            let (_, bytes) = entry.map_err(storage)?;
            cost = cost.saturating_add(decode::<CostEntry>(bytes.value(), "cost")?.amount);
        }
        costs.push(cost);
    }
    Ok(RoiInput {
        campaigns,
        counters,
        costs,
        ..RoiInput::default()
    })
}

/// Every conversion with its contact's touches; `campaigns` as `roi_totals` read them
/// (touches name campaigns by position in that list). Sorted by conversion id.
pub fn journeys(txn: &ReadTransaction, campaigns: &[Campaign]) -> Result<Vec<Journey>> {
    let mut reader = JourneyReader::new(txn, campaigns)?;
    let conversions = txn.open_table(tables::CONVERSIONS).map_err(storage)?;
    let mut journeys = Vec::new();
    for entry in conversions.iter().map_err(storage)? {
        let (_, bytes) = entry.map_err(storage)?;
        let conversion: Conversion = decode_record(bytes.value(), "conversion")?;
        journeys.push(reader.journey_of(conversion)?);
    }
    Ok(journeys)
}

/// Reads journeys: each conversion with every touch of its contact, numbered by the
/// campaign list it was made with. A contact's touches are read once, however many of its
/// conversions follow.
pub struct JourneyReader<'a> {
    index: HashMap<&'a str, usize>,
    conversions: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    touches: redb::ReadOnlyTable<(&'static str, i64, u128), &'static str>,
    touches_of: HashMap<String, Vec<Touch>>,
}

impl<'a> JourneyReader<'a> {
    pub fn new(txn: &ReadTransaction, campaigns: &'a [Campaign]) -> Result<JourneyReader<'a>> {
        Ok(JourneyReader {
            index: campaigns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.slug.as_str(), i))
                .collect(),
            conversions: txn.open_table(tables::CONVERSIONS).map_err(storage)?,
            touches: txn.open_table(tables::TOUCHES).map_err(storage)?,
            touches_of: HashMap::new(),
        })
    }

    /// The journey of the conversion `id`, if it is stored.
    pub fn journey(&mut self, id: &str) -> Result<Option<Journey>> {
        let conversion: Conversion = match self.conversions.get(id).map_err(storage)? {
            Some(bytes) => decode_record(bytes.value(), "conversion")?,
            None => return Ok(None),
        };
        self.journey_of(conversion).map(Some)
    }

    fn journey_of(&mut self, conversion: Conversion) -> Result<Journey> {
        if !self.touches_of.contains_key(&conversion.contact) {
            let contact = conversion.contact.as_str();
            let mut touches = Vec::new();
            for touch in self
                .touches
                .range((contact, i64::MIN, 0)..=(contact, i64::MAX, u128::MAX))
                .map_err(storage)?
            {
                let (key, slug) = touch.map_err(storage)?;
                let (_, at_ms, lead) = key.value();
                if let Some(&campaign) = self.index.get(slug.value()) {
                    touches.push(Touch {
                        at_ms,
                        lead,
                        campaign,
                    });
                }
            }
            self.touches_of.insert(conversion.contact.clone(), touches);
        }
        let touches = self.touches_of[&conversion.contact].clone();
        Ok(Journey {
            conversion,
            touches,
        })
    }
}

/// Decoding a lead record against reading one touch entry in place: about how many
/// touches a decoded lead costs (a lead is a postcard record with its form fields and
/// tracking maps, a touch a key and a slug). Measured on 1M generated leads: one month's
/// 84k leads read by time took as long as the pass over all 1M touches. Only chooses
/// between two exact ways to read the same journeys.
const LEAD_READ_COST: u64 = 12;

/// The journeys of the contacts with no conversion at all, for the Markov model: each
/// such contact's touches received in `window` (no lookback), oldest first (contact key,
/// time, lead id), as campaign sequences. `converted` are the contacts of `journeys`;
/// `window_leads` the leads the counters say were received in the window.
///
/// Two indexes can answer, and the cheaper is read. The touch table is keyed by contact,
/// so one pass over all of it, reading each entry in place, finds every contact's touches
/// together; it costs the whole history whatever the window. The leads table is keyed by
/// lead id, which orders leads by time, so a range scan reads the window only, but each
/// lead must be decoded to learn its contact. The leads table is read when the window's
/// leads, at [`LEAD_READ_COST`] each, cost less than every touch. Only a Markov report
/// calls this.
pub fn non_converting(
    txn: &ReadTransaction,
    campaigns: &[Campaign],
    journeys: &[Journey],
    window: Window,
    window_leads: u64,
) -> Result<Paths> {
    let index: HashMap<&str, usize> = campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.slug.as_str(), i))
        .collect();
    let converted: HashSet<&str> = journeys
        .iter()
        .map(|j| j.conversion.contact.as_str())
        .collect();
    let tiers = CounterTiers::open(txn)?;
    let mut all_leads = 0_u64;
    for campaign in campaigns {
        all_leads += tiers.sum(campaign.slug.as_str(), 0, u32::MAX)?.leads;
    }
    if window_leads.saturating_mul(LEAD_READ_COST) < all_leads {
        non_converting_by_time(txn, &index, &converted, window)
    } else {
        non_converting_by_contact(txn, &index, &converted, window)
    }
}

/// [`non_converting`] over the touch table, in its (contact, time, lead) order.
fn non_converting_by_contact(
    txn: &ReadTransaction,
    index: &HashMap<&str, usize>,
    converted: &HashSet<&str>,
    window: Window,
) -> Result<Paths> {
    let touch_table = txn.open_table(tables::TOUCHES).map_err(storage)?;
    let mut paths = Paths::default();
    let mut contact = String::new();
    let mut started = false;
    let mut skip = false;
    let mut steps: Vec<usize> = Vec::new();
    for touch in touch_table.iter().map_err(storage)? {
        let (key, slug) = touch.map_err(storage)?;
        let (of, at_ms, _) = key.value();
        if !started || of != contact {
            started = true;
            paths.push(steps.drain(..), false);
            contact.clear();
            contact.push_str(of);
            skip = converted.contains(of);
        }
        if skip || !window.contains(at_ms) {
            continue;
        }
        if let Some(&campaign) = index.get(slug.value()) {
            steps.push(campaign);
        }
    }
    paths.push(steps.drain(..), false);
    Ok(paths)
}

/// [`non_converting`] over the leads received in `window`, sorted into the touch table's
/// (contact, time, lead) order, so both give the same journeys in the same order.
fn non_converting_by_time(
    txn: &ReadTransaction,
    index: &HashMap<&str, usize>,
    converted: &HashSet<&str>,
    window: Window,
) -> Result<Paths> {
    let first = window
        .start_ms
        .map_or(0, |ms| LeadId::min_at(ms.max(0) as u64).to_u128());
    let last = match window.end_ms {
        Some(end) if end <= 0 => return Ok(Paths::default()),
        Some(end) => LeadId::max_at((end - 1) as u64).to_u128(),
        None => u128::MAX,
    };
    let mut touches: Vec<(String, i64, u128, usize)> = Vec::new();
    if first <= last {
        let leads = txn.open_table(tables::LEADS).map_err(storage)?;
        for entry in leads.range(first..=last).map_err(storage)? {
            let (_, bytes) = entry.map_err(storage)?;
            let lead = decode_lead(bytes.value())?;
            let at_ms = lead.received_at.as_millisecond();
            if converted.contains(lead.contact.as_str()) || !window.contains(at_ms) {
                continue;
            }
            if let Some(&campaign) = index.get(lead.campaign.as_str()) {
                touches.push((lead.contact, at_ms, lead.id.to_u128(), campaign));
            }
        }
        // An erased lead's touch stays in the touch table (under an anonymous contact),
        // and so in the other read's journeys: its stub, which names that contact, keeps
        // it in these too, so an erasure changes no removal effect.
        let stubs = txn.open_table(tables::ERASED_LEADS).map_err(storage)?;
        for entry in stubs.range(first..=last).map_err(storage)? {
            let (id, bytes) = entry.map_err(storage)?;
            let stub: super::erasure::ErasedLead = decode_record(bytes.value(), "erased lead")?;
            let at_ms = stub.received_at.as_millisecond();
            if converted.contains(stub.contact.as_str()) || !window.contains(at_ms) {
                continue;
            }
            if let Some(&campaign) = index.get(stub.campaign.as_str()) {
                touches.push((stub.contact, at_ms, id.value(), campaign));
            }
        }
    }
    touches.sort_unstable_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    let mut paths = Paths::default();
    let mut start = 0;
    while start < touches.len() {
        let end = start
            + touches[start..]
                .iter()
                .take_while(|t| t.0 == touches[start].0)
                .count();
        paths.push(touches[start..end].iter().map(|t| t.3), false);
        start = end;
    }
    Ok(paths)
}

/// Everything the summary reads, from one snapshot; the non-converting contacts' journeys
/// too when `markov` gives the report's window.
pub fn roi_input(
    txn: &ReadTransaction,
    from: u32,
    to: u32,
    markov: Option<Window>,
) -> Result<RoiInput> {
    let mut input = roi_totals(txn, from, to)?;
    input.journeys = std::sync::Arc::new(journeys(txn, &input.campaigns)?);
    if let Some(window) = markov {
        let window_leads = input.counters.iter().map(|c| c.leads).sum();
        input.non_converting =
            non_converting(txn, &input.campaigns, &input.journeys, window, window_leads)?;
    }
    Ok(input)
}

/// Per-placement QR counts of a campaign over all days: variant -> (scans, form views,
/// leads), for its placements (declared or made by scans) and `""` (no placement).
pub fn qr_stats(
    txn: &ReadTransaction,
    slug: &str,
) -> Result<std::collections::BTreeMap<String, [u64; 3]>> {
    let mut stats: std::collections::BTreeMap<String, [u64; 3]> = std::collections::BTreeMap::new();
    let placements = txn.open_table(tables::PLACEMENTS).map_err(storage)?;
    for entry in placements
        .range((slug, "")..=(slug, "\u{10FFFF}"))
        .map_err(storage)?
    {
        let (key, _) = entry.map_err(storage)?;
        stats.insert(key.value().1.to_owned(), [0; 3]);
    }
    let table = txn.open_table(tables::TOTAL_COUNTERS).map_err(storage)?;
    for entry in table.range((slug, "qr_")..(slug, "qr`")).map_err(storage)? {
        let (key, count) = entry.map_err(storage)?;
        let Some((kind, variant)) = key.value().1.split_once(':') else {
            continue;
        };
        let slot = match kind {
            metric::QR_SCANS => 0,
            metric::QR_FORM_VIEWS => 1,
            metric::QR_LEADS => 2,
            _ => continue,
        };
        // Counts of names that are no placement (a flood of made-up ones before schema 5)
        // stay in the campaign's totals, not in this list.
        if variant.is_empty() {
            stats.entry(String::new()).or_default()[slot] += count.value();
        } else if let Some(counts) = stats.get_mut(variant) {
            counts[slot] += count.value();
        }
    }
    Ok(stats)
}

/// A campaign's scans over the days `from..=to` (`YYYYMMDD`), from its day counters.
pub fn scan_report(txn: &ReadTransaction, slug: &str, from: u32, to: u32) -> Result<ScanReport> {
    let table = txn.open_table(tables::COUNTERS).map_err(storage)?;
    let mut report = ScanReport::default();
    for entry in table
        .range((slug, from, "")..=(slug, to, "\u{10FFFF}"))
        .map_err(storage)?
    {
        let (key, count) = entry.map_err(storage)?;
        let (_, day, name) = key.value();
        let count = count.value();
        if name == metric::SCANS {
            report.scans += count;
            report.by_day.push((day, count));
            continue;
        }
        let Some((kind, value)) = name.split_once(':') else {
            continue;
        };
        let sums = match kind {
            metric::SCAN_APP => &mut report.by_app,
            metric::SCAN_OS => &mut report.by_os,
            metric::QR_SCANS => &mut report.by_variant,
            metric::SCAN_HOUR => {
                if let Some(slot) = value
                    .parse::<usize>()
                    .ok()
                    .and_then(|h| report.by_hour.get_mut(h))
                {
                    *slot += count;
                }
                continue;
            }
            _ => continue,
        };
        *sums.entry(value.to_owned()).or_default() += count;
    }
    Ok(report)
}

/// What `GET /api/campaigns/{slug}/scans` shows.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScanReport {
    pub scans: u64,
    pub by_app: std::collections::BTreeMap<String, u64>,
    pub by_os: std::collections::BTreeMap<String, u64>,
    /// Scans per hour of the day, reporting time zone.
    pub by_hour: [u64; 24],
    /// (day `YYYYMMDD`, scans), days with scans only, in order.
    pub by_day: Vec<(u32, u64)>,
    /// Placement -> scans (`""`: no placement).
    pub by_variant: std::collections::BTreeMap<String, u64>,
}

pub fn campaign_by_tracking_number(
    txn: &ReadTransaction,
    number: &str,
) -> Result<Option<Campaign>> {
    let numbers = txn.open_table(tables::TRACKING_NUMBERS).map_err(storage)?;
    let slug = match numbers.get(number).map_err(storage)? {
        Some(slug) => slug.value().to_owned(),
        None => return Ok(None),
    };
    campaign(txn, &slug)
}

/// The day, month and all-time counter tables, read so that a range costs few rows: the
/// total for all time, month rows for whole months, day rows only for the partial months
/// at either end.
struct CounterTiers {
    day: redb::ReadOnlyTable<(&'static str, u32, &'static str), u64>,
    month: redb::ReadOnlyTable<(&'static str, u32, &'static str), u64>,
    total: redb::ReadOnlyTable<(&'static str, &'static str), u64>,
}

impl CounterTiers {
    fn open(txn: &ReadTransaction) -> Result<CounterTiers> {
        Ok(CounterTiers {
            day: txn.open_table(tables::COUNTERS).map_err(storage)?,
            month: txn.open_table(tables::MONTHLY_COUNTERS).map_err(storage)?,
            total: txn.open_table(tables::TOTAL_COUNTERS).map_err(storage)?,
        })
    }

    /// The counters of `slug` over the days `from..=to` (`YYYYMMDD`; 0 and `u32::MAX` for
    /// open ends).
    fn sum(&self, slug: &str, from: u32, to: u32) -> Result<Counters> {
        let mut sums = Counters::default();
        if from == 0 && to == u32::MAX {
            for entry in self
                .total
                .range((slug, "")..=(slug, "\u{10FFFF}"))
                .map_err(storage)?
            {
                let (key, count) = entry.map_err(storage)?;
                add(&mut sums, key.value().1, count.value());
            }
            return Ok(sums);
        }
        // Whole months inside the range come from the month table …
        let first_whole = if from % 100 <= 1 {
            from / 100
        } else {
            next_month(from / 100)
        };
        let last_whole = if to == u32::MAX || to % 100 >= days_in_month(to / 100) {
            to / 100
        } else {
            previous_month(to / 100)
        };
        if first_whole <= last_whole {
            for entry in self
                .month
                .range((slug, first_whole, "")..=(slug, last_whole, "\u{10FFFF}"))
                .map_err(storage)?
            {
                let (key, count) = entry.map_err(storage)?;
                add(&mut sums, key.value().2, count.value());
            }
        }
        // … and the days outside them from the day table.
        let mut day_ranges = Vec::new();
        if first_whole <= last_whole {
            if from < first_whole * 100 {
                day_ranges.push((from, first_whole * 100));
            }
            if to != u32::MAX && to > last_whole * 100 + 99 {
                day_ranges.push((next_month(last_whole) * 100, to));
            }
        } else {
            day_ranges.push((from, to));
        }
        for (start, end) in day_ranges {
            for entry in self
                .day
                .range((slug, start, "")..=(slug, end, "\u{10FFFF}"))
                .map_err(storage)?
            {
                let (key, count) = entry.map_err(storage)?;
                add(&mut sums, key.value().2, count.value());
            }
        }
        Ok(sums)
    }
}

/// The day counters the ROI summary reads ([`add`] knows no others).
pub const SUMMARY_METRICS: [&str; 10] = [
    metric::SCANS,
    metric::FORM_VIEWS,
    metric::LEADS,
    metric::NEW_CONTACTS,
    metric::MQLS,
    metric::DISQUALIFIED,
    metric::FOLLOWED_UP,
    metric::RESPONSE_MS,
    metric::ACTIVITIES,
    metric::OVERDUE,
];

/// Adds a day counter row's `count` to the summary field its `metric` feeds.
pub fn add(sums: &mut Counters, metric: &str, count: u64) {
    match metric {
        metric::SCANS => sums.scans += count,
        metric::FORM_VIEWS => sums.form_views += count,
        metric::LEADS => sums.leads += count,
        metric::NEW_CONTACTS => sums.new_contacts += count,
        metric::MQLS => sums.mqls += count,
        metric::DISQUALIFIED => sums.disqualified += count,
        metric::FOLLOWED_UP => sums.followed_up += count,
        metric::RESPONSE_MS => sums.response_ms += count,
        metric::ACTIVITIES => sums.activities += count,
        metric::OVERDUE => sums.overdue += count,
        _ => {}
    }
}

/// `YYYYMM` arithmetic.
fn next_month(month: u32) -> u32 {
    if month % 100 >= 12 {
        (month / 100 + 1) * 100 + 1
    } else {
        month + 1
    }
}

fn previous_month(month: u32) -> u32 {
    if month % 100 <= 1 {
        (month / 100 - 1) * 100 + 12
    } else {
        month - 1
    }
}

fn days_in_month(month: u32) -> u32 {
    let (year, month) = (month / 100, month % 100);
    i16::try_from(year)
        .ok()
        .and_then(|y| jiff::civil::Date::new(y, i8::try_from(month).ok()?, 1).ok())
        .map_or(31, |d| u32::from(d.days_in_month().unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic() {
        assert_eq!(next_month(202512), 202601);
        assert_eq!(next_month(202503), 202504);
        assert_eq!(previous_month(202601), 202512);
        assert_eq!(days_in_month(202402), 29);
        assert_eq!(days_in_month(202502), 28);
        assert_eq!(days_in_month(202504), 30);
    }
}
