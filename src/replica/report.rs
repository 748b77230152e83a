//! Reports over every node (`GET /api/roi?scope=all`, `leadgate roi --postgres`): the rows
//! PostgreSQL holds, loaded into the same [`RoiInput`] a node's store hands the ROI
//! summary, so one attribution and one roll-up serve both and agree field for field.
//!
//! What differs from one node's store is only where the numbers come from:
//! - counters: each node's day rows, summed over the nodes;
//! - `new_contacts`: not summed (a contact seen on two nodes would count twice) but found
//!   again from the leads: each contact's first lead anywhere (earliest received, ties by
//!   lead id, as a node decides it; `leadgate.first_leads` keeps it) counts on its
//!   campaign and day;
//! - journeys: a conversion with every lead of its contact on any node.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tokio_postgres::Client;

use crate::attribution::Touch;
use crate::campaign::Campaign;
use crate::conversion::{Conversion, Stage};
use crate::domain::{Currency, LeadId, parse_money};
use crate::error::{Error, ErrorKind, Result};
use crate::markov::Paths;
use crate::roi::{Counters, DayRange, Journey, RoiInput, Window};

/// Reads what the summary of the days in `days` needs from PostgreSQL, in one snapshot
/// (a repeatable-read transaction: nodes shipping meanwhile do not split a report).
pub async fn roi_input(
    client: &mut Client,
    days: DayRange,
    tz: &jiff::tz::TimeZone,
    markov: Option<Window>,
) -> Result<RoiInput> {
    let txn = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(unreachable)?;
    let campaigns = campaigns(&txn).await?;
    let index: HashMap<&str, usize> = campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.slug.as_str(), i))
        .collect();
    // Day keys as dates PostgreSQL compares (an open end: NULL, read as no bound).
    let date = |day: u32| civil_date(day).map(|d| d.to_string());
    let (from, to) = (date(days.from), date(days.to));
    // The summary's metrics only: the day table also keeps scans by app, OS and hour.
    let metrics: Vec<&str> = crate::store::SUMMARY_METRICS
        .iter()
        .copied()
        .filter(|m| *m != "new_contacts")
        .collect();

    let mut counters = vec![Counters::default(); campaigns.len()];
    for row in txn
        .query(
            "SELECT campaign, metric, sum(value)::bigint FROM leadgate.counters
             WHERE ($1::text IS NULL OR day >= $1::text::date)
               AND ($2::text IS NULL OR day <= $2::text::date)
               AND metric = ANY($3)
             GROUP BY campaign, metric",
            &[&from, &to, &metrics],
        )
        .await
        .map_err(unreachable)?
    {
        let campaign: &str = row.get(0);
        if let Some(&i) = index.get(campaign) {
            let count: i64 = row.get(2);
            crate::store::add_counter(&mut counters[i], row.get(1), count.max(0) as u64);
        }
    }
    // A day of the reporting zone is the instants from its start to the next day's.
    let (start, end) = (day_start(days.from, tz), next_day_start(days.to, tz));
    for row in txn
        .query(
            "SELECT campaign, count(*) FROM leadgate.first_leads
             WHERE ($1::bigint IS NULL OR received_at >= to_timestamp($1::bigint))
               AND ($2::bigint IS NULL OR received_at < to_timestamp($2::bigint))
             GROUP BY campaign",
            &[&start, &end],
        )
        .await
        .map_err(unreachable)?
    {
        let campaign: Option<&str> = row.get(0);
        if let Some(&i) = campaign.and_then(|c| index.get(c)) {
            let count: i64 = row.get(1);
            counters[i].new_contacts = count.max(0) as u64;
        }
    }

    let mut costs = vec![0_i64; campaigns.len()];
    for row in txn
        .query(
            "SELECT campaign, sum(amount)::text FROM leadgate.costs
             WHERE ($1::text IS NULL OR incurred_on >= $1::text::date)
               AND ($2::text IS NULL OR incurred_on <= $2::text::date)
             GROUP BY campaign",
            &[&from, &to],
        )
        .await
        .map_err(unreachable)?
    {
        let campaign: &str = row.get(0);
        let Some(&i) = index.get(campaign) else {
            continue;
        };
        let sum: Option<String> = row.get(1);
        let exponent = campaigns[i].currency.exponent();
        costs[i] = parse_money(sum.as_deref().unwrap_or("0"), exponent)
            .map_err(|why| unreadable("cost sum for campaign", campaign, &why))?;
    }

    let (journeys, converted) = journeys(&txn, &index).await?;
    let non_converting = match markov {
        Some(window) => non_converting(&txn, &index, &converted, window).await?,
        None => Paths::default(),
    };
    txn.commit().await.map_err(unreachable)?;
    Ok(RoiInput {
        campaigns,
        counters,
        costs,
        journeys: Arc::new(journeys),
        non_converting,
    })
}

/// Rows a non-converting read takes from PostgreSQL at a time (a portal), so a report
/// over millions of leads does not hold them all at once.
const NON_CONVERTING_CHUNK: i32 = 10_000;

/// The journey of every contact without a conversion, over every node: its leads received
/// in `window`, by time then lead id, as a node's store reads its own
/// (`store::read::non_converting`). A contact is its hash here, which changes the order of
/// the journeys but not the chain, which counts them.
async fn non_converting(
    txn: &tokio_postgres::Transaction<'_>,
    index: &HashMap<&str, usize>,
    converted: &HashSet<String>,
    window: Window,
) -> Result<Paths> {
    // In the order of the touches index (`leads_touches`), which PostgreSQL then reads
    // without sorting; lead ids are ULIDs, which every collation orders alike.
    let statement = txn
        .prepare(
            "SELECT contact, campaign FROM leadgate.leads
             WHERE contact IS NOT NULL
               AND ($1::bigint IS NULL
                    OR received_at >= 'epoch'::timestamptz + $1::bigint * interval '1 ms')
               AND ($2::bigint IS NULL
                    OR received_at < 'epoch'::timestamptz + $2::bigint * interval '1 ms')
             ORDER BY contact, received_at, id",
        )
        .await
        .map_err(unreachable)?;
    let portal = txn
        .bind(&statement, &[&window.start_ms, &window.end_ms])
        .await
        .map_err(unreachable)?;
    let mut paths = Paths::default();
    let mut contact = String::new();
    let mut skip = false;
    let mut steps: Vec<usize> = Vec::new();
    loop {
        let rows = txn
            .query_portal(&portal, NON_CONVERTING_CHUNK)
            .await
            .map_err(unreachable)?;
        for row in &rows {
            let of: &str = row.get(0);
            if of != contact {
                paths.push(steps.drain(..), false);
                contact.clear();
                contact.push_str(of);
                skip = converted.contains(of);
            }
            if skip {
                continue;
            }
            if let Some(&campaign) = row.get::<_, Option<&str>>(1).and_then(|c| index.get(c)) {
                steps.push(campaign);
            }
        }
        if rows.len() < NON_CONVERTING_CHUNK as usize {
            break;
        }
    }
    paths.push(steps.drain(..), false);
    Ok(paths)
}

/// Every shared campaign, ordered by slug like a node's store lists them.
async fn campaigns(txn: &tokio_postgres::Transaction<'_>) -> Result<Vec<Campaign>> {
    txn.query(
        "SELECT slug, record::text FROM leadgate.campaigns ORDER BY slug",
        &[],
    )
    .await
    .map_err(unreachable)?
    .iter()
    .map(|row| {
        let slug: &str = row.get(0);
        serde_json::from_str(row.get(1)).map_err(|e| unreadable("campaign", slug, &e.to_string()))
    })
    .collect()
}

/// Every conversion (ordered by id, like a node's store) with its contact's leads on
/// every node as touches; and the contacts (hashes) that converted.
async fn journeys(
    txn: &tokio_postgres::Transaction<'_>,
    index: &HashMap<&str, usize>,
) -> Result<(Vec<Journey>, HashSet<String>)> {
    let mut conversions = Vec::new();
    for row in txn
        .query("SELECT id, record::text FROM leadgate.conversions", &[])
        .await
        .map_err(unreachable)?
    {
        let id: &str = row.get(0);
        let record: Value = serde_json::from_str(row.get(1))
            .map_err(|e| unreadable("conversion", id, &e.to_string()))?;
        let conversion = conversion(&record).map_err(|why| unreadable("conversion", id, &why))?;
        conversions.push((contact_of(&record, &conversion), conversion));
    }
    // In a node's order: its store keys conversions by id, compared byte by byte (which
    // PostgreSQL's collation may not do, and its sort of 60k records costs more).
    conversions.sort_unstable_by(|a, b| a.1.id.cmp(&b.1.id));
    let contacts: Vec<&str> = conversions.iter().map(|(hash, _)| hash.as_str()).collect();
    let mut touches_of: HashMap<String, Vec<Touch>> = HashMap::new();
    for row in txn
        .query(
            "SELECT contact, id, received_at, campaign FROM leadgate.leads
             WHERE contact = ANY($1)",
            &[&contacts],
        )
        .await
        .map_err(unreachable)?
    {
        let Some(&campaign) = index.get(row.get::<_, &str>(3)) else {
            continue;
        };
        let id: &str = row.get(1);
        let lead: LeadId = serde_json::from_value(Value::from(id))
            .map_err(|e| unreadable("lead", id, &e.to_string()))?;
        let at: std::time::SystemTime = row.get(2);
        touches_of.entry(row.get(0)).or_default().push(Touch {
            at_ms: timestamp(at)?.as_millisecond(),
            lead: lead.to_u128(),
            campaign,
        });
    }
    for touches in touches_of.values_mut() {
        // As a node's store keeps them: by time, then lead id.
        touches.sort_by_key(|t| (t.at_ms, t.lead));
    }
    let converted = conversions.iter().map(|(hash, _)| hash.clone()).collect();
    let journeys = conversions
        .into_iter()
        .map(|(hash, conversion)| Journey {
            touches: touches_of.get(&hash).cloned().unwrap_or_default(),
            conversion,
        })
        .collect();
    Ok((journeys, converted))
}

/// The contact (hash) whose leads a conversion's record credits: an erased person's
/// conversion names nobody, but keeps the hash its leads in PostgreSQL keep (see
/// `erasures`), so the report over every node credits it as before.
fn contact_of(record: &Value, conversion: &Conversion) -> String {
    match record["contact_hash"].as_str() {
        Some(hash) => hash.to_owned(),
        None => super::contact_hash(&conversion.contact),
    }
}

/// A conversion from its shared record (`Conversion::to_json`).
pub(super) fn conversion(record: &Value) -> std::result::Result<Conversion, String> {
    let text = |key: &str| record[key].as_str().ok_or(format!("{key} is missing"));
    let time = |key: &str| -> std::result::Result<Option<jiff::Timestamp>, String> {
        match record[key].as_str() {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|e| format!("{key}: {e}")),
        }
    };
    let currency = Currency::parse(text("currency")?).map_err(|e| e.message)?;
    let stage: Stage =
        serde_json::from_value(record["stage"].clone()).map_err(|e| format!("stage: {e}"))?;
    let lead_id: Option<LeadId> =
        serde_json::from_value(record["lead_id"].clone()).map_err(|e| format!("lead_id: {e}"))?;
    Ok(Conversion {
        id: text("id")?.to_owned(),
        contact: text("contact")?.to_owned(),
        lead_id,
        stage,
        amount: parse_money(text("amount")?, currency.exponent())?,
        currency,
        moment: time("moment")?.ok_or("moment is missing")?,
        won_at: time("won_at")?,
        lost_at: time("lost_at")?,
        updated_at: time("updated_at")?.ok_or("updated_at is missing")?,
    })
}

/// The first instant of `day` (`YYYYMMDD`) in `tz`, in Unix seconds (zones' offsets are
/// whole seconds); `None` for no such day (an open end).
fn day_start(day: u32, tz: &jiff::tz::TimeZone) -> Option<i64> {
    start_of(civil_date(day)?, tz)
}

/// The first instant of the day after `day`; `None` for no such day (an open end).
fn next_day_start(day: u32, tz: &jiff::tz::TimeZone) -> Option<i64> {
    start_of(civil_date(day)?.tomorrow().ok()?, tz)
}

fn civil_date(day: u32) -> Option<jiff::civil::Date> {
    jiff::civil::Date::new(
        i16::try_from(day / 10_000).ok()?,
        (day / 100 % 100) as i8,
        (day % 100) as i8,
    )
    .ok()
}

fn start_of(date: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> Option<i64> {
    // As the one-node report bounds its window (`roi::parse_query`).
    let start = date.to_zoned_datetime(tz.clone()).ok()?;
    Some(start.timestamp().as_second())
}

fn timestamp(at: std::time::SystemTime) -> Result<jiff::Timestamp> {
    jiff::Timestamp::try_from(at).map_err(|e| Error::internal(format!("a time out of range: {e}")))
}

/// PostgreSQL did not answer (or refused): the report cannot be made now.
pub fn unreachable(error: tokio_postgres::Error) -> Error {
    let mut error = Error::new(
        ErrorKind::Unavailable,
        "postgres_unavailable",
        format!(
            "the report over every node reads PostgreSQL, which cannot answer now ({})",
            super::worker::describe(error)
        ),
    );
    error.retry_after = Some(5);
    error
}

fn unreadable(what: &str, key: &str, why: &str) -> Error {
    Error::internal(format!(
        "PostgreSQL holds a {what} {key:?} this node cannot read: {why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversion_reads_back_from_its_shared_record() {
        let original = Conversion {
            id: "crm-7".into(),
            contact: "+8613800138000".into(),
            lead_id: Some(LeadId::generate()),
            stage: Stage::Won,
            amount: 123_456,
            currency: Currency::parse("CNY").unwrap(),
            moment: "2025-03-01T02:00:00.123Z".parse().unwrap(),
            won_at: Some("2025-04-01T02:00:00Z".parse().unwrap()),
            lost_at: None,
            updated_at: "2025-04-01T03:00:00Z".parse().unwrap(),
        };
        assert_eq!(conversion(&original.to_json()).unwrap(), original);
        let mut broken = original.to_json();
        broken["amount"] = Value::from("lots");
        assert!(conversion(&broken).is_err());
    }
}
