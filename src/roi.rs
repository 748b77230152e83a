//! The ROI summary: daily counters, costs and credited conversions rolled up into one row
//! per campaign (or channel, or kind). Pure: the store hands in plain data, this module
//! does the arithmetic. Money stays in integer minor units and deals/orders in integer
//! credit units until the final, rounded division.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::attribution::{self, DAY_MS, Model, Touch};
use crate::campaign::Campaign;
use crate::columns::COLUMNS;
use crate::conversion::{Conversion, Stage};
use crate::domain::Currency;
use crate::error::{Error, Result};
use crate::markov::{Chain, Paths};

/// Daily counters of one campaign, summed over the report's dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub scans: u64,
    pub form_views: u64,
    pub leads: u64,
    pub new_contacts: u64,
    pub mqls: u64,
    pub disqualified: u64,
    /// Leads with a first follow-up, the milliseconds from received to it summed over
    /// them, their activities, and the leads followed up late or not at all.
    pub followed_up: u64,
    pub response_ms: u64,
    pub activities: u64,
    pub overdue: u64,
}

/// A conversion with every touch of its contact (attribution picks the ones that count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    pub conversion: Conversion,
    pub touches: Vec<Touch>,
}

/// Everything the summary reads, in one consistent snapshot. `counters` and `costs` are
/// indexed like `campaigns` and already limited to the report's dates.
#[derive(Debug, Clone, Default)]
pub struct RoiInput {
    pub campaigns: Vec<Campaign>,
    pub counters: Vec<Counters>,
    pub costs: Vec<i64>,
    /// Shared: the store keeps them between requests (see `store::journeys`).
    pub journeys: std::sync::Arc<Vec<Journey>>,
    /// The Markov model's journeys that did not convert: the campaigns of each contact
    /// without a conversion, touched in the report's window. Empty for the other models.
    pub non_converting: Paths,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Campaign,
    Channel,
    Kind,
}

impl GroupBy {
    pub fn parse(text: &str) -> Result<GroupBy> {
        match text {
            "campaign" => Ok(GroupBy::Campaign),
            "channel" => Ok(GroupBy::Channel),
            "kind" => Ok(GroupBy::Kind),
            _ => Err(Error::invalid(
                "group_by",
                "invalid_value",
                "group_by must be one of: campaign, channel, kind",
            )),
        }
    }
}

/// Which dates the report covers, as Unix-millisecond bounds in the reporting zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First millisecond of `from`, if given.
    pub start_ms: Option<i64>,
    /// First millisecond after `to`, if given.
    pub end_ms: Option<i64>,
}

impl Window {
    pub const ALL: Window = Window {
        start_ms: None,
        end_ms: None,
    };

    pub fn contains(&self, ms: i64) -> bool {
        self.start_ms.is_none_or(|s| ms >= s) && self.end_ms.is_none_or(|e| ms < e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoiQuery {
    pub model: Model,
    pub lookback_days: u32,
    pub group_by: GroupBy,
    pub window: Window,
}

/// One row of the summary, in exact units; `columns::COLUMNS` rounds each value once.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub name: String,
    pub kind: Option<String>,
    pub channel: Option<String>,
    pub currency: Currency,
    pub budget: i64,
    pub cost: i64,
    pub counters: Counters,
    /// Deals and orders in credit units (`CREDIT_UNITS` per whole one).
    pub deal_units: i64,
    pub order_units: i64,
    pub revenue: i64,
    /// Credited amounts of the open deals (latest stage `deal`) whose moment is in the
    /// report's dates.
    pub pipeline: i64,
    /// Sum of order units × days of sales cycle, for the credit-weighted mean.
    pub cycle_unit_days: f64,
    pub target_leads: u64,
    pub target_revenue: i64,
}

impl Row {
    fn for_campaign(campaign: &Campaign, counters: Counters, cost: i64) -> Row {
        Row {
            key: campaign.slug.to_string(),
            name: campaign.name.clone(),
            kind: Some(campaign.kind.to_string()),
            channel: campaign.channel.clone(),
            currency: campaign.currency,
            budget: campaign.budget,
            cost,
            counters,
            deal_units: 0,
            order_units: 0,
            revenue: 0,
            pipeline: 0,
            cycle_unit_days: 0.0,
            target_leads: campaign.target_leads,
            target_revenue: campaign.target_revenue,
        }
    }

    /// Adds `other` (same currency) into this row.
    fn absorb(&mut self, other: &Row) {
        debug_assert_eq!(self.currency, other.currency);
        self.budget = self.budget.saturating_add(other.budget);
        self.cost = self.cost.saturating_add(other.cost);
        let (a, b) = (&mut self.counters, &other.counters);
        a.scans += b.scans;
        a.form_views += b.form_views;
        a.leads += b.leads;
        a.new_contacts += b.new_contacts;
        a.mqls += b.mqls;
        a.disqualified += b.disqualified;
        a.followed_up += b.followed_up;
        a.response_ms += b.response_ms;
        a.activities += b.activities;
        a.overdue += b.overdue;
        self.deal_units += other.deal_units;
        self.order_units += other.order_units;
        self.revenue = self.revenue.saturating_add(other.revenue);
        self.pipeline = self.pipeline.saturating_add(other.pipeline);
        self.cycle_unit_days += other.cycle_unit_days;
        self.target_leads += other.target_leads;
        self.target_revenue = self.target_revenue.saturating_add(other.target_revenue);
        if self.kind != other.kind {
            self.kind = None;
        }
        if self.channel != other.channel {
            self.channel = None;
        }
    }

    pub fn valid_leads(&self) -> u64 {
        self.counters
            .leads
            .saturating_sub(self.counters.disqualified)
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(Shown {
            row: self,
            labels: true,
        })
        .expect("a row always serialises")
    }
}

/// A row as the API shows it, column by column from `columns::COLUMNS`. Serialised
/// straight to the response (a summary of 1,000 campaigns is half a megabyte of JSON);
/// `labels` adds key, name, kind and channel, which a totals entry leaves out.
struct Shown<'a> {
    row: &'a Row,
    labels: bool,
}

impl serde::Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for column in COLUMNS.iter().filter(|c| self.labels || !c.label) {
            map.serialize_entry(column.field, &(column.value)(self.row))?;
        }
        map.end()
    }
}

/// The whole summary.
#[derive(Debug, Clone)]
pub struct Report {
    pub model: Model,
    pub rows: Vec<Row>,
    /// Under `markov`: each campaign's removal effect (slug, RE in [0, 1]), in the
    /// campaigns' order, whatever the grouping.
    pub removal_effects: Option<Vec<(String, f64)>>,
    /// One row per currency, summing the rows in it.
    pub totals: BTreeMap<&'static str, Row>,
    /// Things the numbers cannot show, e.g. revenue in a currency other than its campaign's.
    pub warnings: Vec<String>,
}

impl Report {
    pub fn currency(&self) -> Option<Currency> {
        let mut currencies = self.rows.iter().map(|r| r.currency);
        let first = currencies.next()?;
        currencies.all(|c| c == first).then_some(first)
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a report always serialises")
    }
}

/// `{"model", "currency", "rows", "totals", "warnings"}` (and `removal_effects` after the
/// rows under `markov`): each total is keyed by its currency and holds the summed fields
/// and the ratios of the sums, without row labels.
impl serde::Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let rows: Vec<Shown> = self
            .rows
            .iter()
            .map(|row| Shown { row, labels: true })
            .collect();
        let totals: BTreeMap<&str, Shown> = self
            .totals
            .iter()
            .map(|(code, row)| (*code, Shown { row, labels: false }))
            .collect();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("model", self.model.name())?;
        map.serialize_entry("currency", &self.currency())?;
        map.serialize_entry("rows", &rows)?;
        if let Some(effects) = &self.removal_effects {
            let by_campaign: serde_json::Map<String, Value> = effects
                .iter()
                .map(|(slug, effect)| (slug.clone(), Value::from(round6(*effect))))
                .collect();
            map.serialize_entry("removal_effects", &by_campaign)?;
        }
        map.serialize_entry("totals", &totals)?;
        map.serialize_entry("warnings", &self.warnings)?;
        map.end()
    }
}

/// A removal effect as shown: a fraction with six decimals (half away from zero).
fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// Rolls the input up into the report.
pub fn summarise(input: &RoiInput, query: &RoiQuery) -> Report {
    let mut rows: Vec<Row> = input
        .campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Row::for_campaign(
                c,
                input.counters.get(i).copied().unwrap_or_default(),
                input.costs.get(i).copied().unwrap_or(0),
            )
        })
        .collect();
    let mut warnings = Vec::new();
    let effects = (query.model == Model::Markov).then(|| removal_effects(input, query));
    for journey in input.journeys.iter() {
        credit_journey(journey, query, effects.as_deref(), &mut rows, &mut warnings);
    }
    let removal_effects = effects.map(|effects| {
        input
            .campaigns
            .iter()
            .zip(effects)
            .map(|(c, effect)| (c.slug.to_string(), effect))
            .collect()
    });
    let rows = group(rows, query.group_by);
    let mut totals: BTreeMap<&'static str, Row> = BTreeMap::new();
    for row in &rows {
        match totals.get_mut(row.currency.code()) {
            Some(total) => total.absorb(row),
            None => {
                totals.insert(row.currency.code(), row.clone());
            }
        }
    }
    Report {
        model: query.model,
        rows,
        removal_effects,
        totals,
        warnings,
    }
}

/// The Markov chain of the report's journeys, solved: one converting journey per
/// conversion the report counts (its counted touches, as the other models see them), one
/// non-converting journey per contact without a conversion (`input.non_converting`).
/// Removal effects by campaign index.
fn removal_effects(input: &RoiInput, query: &RoiQuery) -> Vec<f64> {
    let mut chain = Chain::new(input.campaigns.len());
    for journey in input.journeys.iter() {
        let Some(moment_ms) = counted(journey, query.window).map(|c| c.moment_ms) else {
            continue;
        };
        let touches = attribution::eligible(&journey.touches, moment_ms, query.lookback_days);
        chain.add(touches.iter().map(|t| t.campaign), true);
    }
    chain.add_paths(&input.non_converting);
    chain.solve().effects
}

/// When a conversion counts in a report: its deal (by its moment) and its order (by the
/// won date, if won).
#[derive(Debug, Clone, Copy)]
struct Counted {
    moment_ms: i64,
    deal: bool,
    won_ms: Option<i64>,
}

/// `None` when neither the deal nor the order falls in `window`.
fn counted(journey: &Journey, window: Window) -> Option<Counted> {
    let conversion = &journey.conversion;
    let moment_ms = conversion.moment.as_millisecond();
    let won_at = conversion
        .won_at
        .filter(|_| conversion.stage == Stage::Won)
        .map(|t| t.as_millisecond());
    let deal = window.contains(moment_ms);
    let won_ms = won_at.filter(|&ms| window.contains(ms));
    (deal || won_ms.is_some()).then_some(Counted {
        moment_ms,
        deal,
        won_ms,
    })
}

/// Credits one conversion's deal (by its moment) and, if won, its order and revenue (by
/// the won date) to the campaigns of the touches that count.
///
/// `effects` are the Markov model's removal effects (by campaign index), `None` for the
/// other models.
fn credit_journey(
    journey: &Journey,
    query: &RoiQuery,
    effects: Option<&[f64]>,
    rows: &mut [Row],
    warnings: &mut Vec<String>,
) {
    let conversion = &journey.conversion;
    let Some(Counted {
        moment_ms,
        deal: deal_counts,
        won_ms,
    }) = counted(journey, query.window)
    else {
        return;
    };
    // Last/first touch: one credit found in one pass, without `attribute`'s allocations.
    let sole;
    let full;
    let (earliest_ms, credits): (i64, &[attribution::Credit]) = match attribution::sole_credit(
        query.model,
        &journey.touches,
        moment_ms,
        query.lookback_days,
        conversion.amount,
    ) {
        Some((earliest_ms, credit)) => {
            sole = credit;
            (earliest_ms, std::slice::from_ref(&sole))
        }
        None => {
            full = match effects {
                Some(effects) => attribution::attribute_markov(
                    effects,
                    &journey.touches,
                    moment_ms,
                    query.lookback_days,
                    conversion.amount,
                ),
                None => attribution::attribute(
                    query.model,
                    &journey.touches,
                    moment_ms,
                    query.lookback_days,
                    conversion.amount,
                ),
            };
            let Some(earliest_ms) = full.iter().map(|c| c.touch_at_ms).min() else {
                return;
            };
            (earliest_ms, &full)
        }
    };
    for credit in credits {
        let Some(row) = rows.get_mut(credit.campaign) else {
            continue;
        };
        if deal_counts {
            row.deal_units += credit.units;
            if conversion.stage == Stage::Deal && row.currency == conversion.currency {
                row.pipeline = row.pipeline.saturating_add(credit.amount);
            }
        }
        if let Some(won_ms) = won_ms {
            row.order_units += credit.units;
            row.cycle_unit_days +=
                credit.units as f64 * (won_ms - earliest_ms) as f64 / DAY_MS as f64;
            if row.currency == conversion.currency {
                row.revenue = row.revenue.saturating_add(credit.amount);
            } else if credit.amount != 0 {
                warnings.push(format!(
                    "conversion {:?} is in {} but campaign {:?} reports in {}: its share of the revenue is not shown",
                    conversion.id,
                    conversion.currency.code(),
                    row.key,
                    row.currency.code()
                ));
            }
        }
    }
}

/// Merges campaign rows into one row per group and currency, ordered by key.
fn group(rows: Vec<Row>, by: GroupBy) -> Vec<Row> {
    let label = |row: &Row| -> (String, String) {
        match by {
            GroupBy::Campaign => (row.key.clone(), row.name.clone()),
            GroupBy::Channel => {
                let channel = row.channel.clone().unwrap_or_else(|| "(none)".into());
                (channel.clone(), channel)
            }
            GroupBy::Kind => {
                let kind = row.kind.clone().unwrap_or_default();
                (kind.clone(), kind)
            }
        }
    };
    let mut groups: BTreeMap<(String, &'static str), Row> = BTreeMap::new();
    for row in rows {
        let (key, name) = label(&row);
        match groups.get_mut(&(key.clone(), row.currency.code())) {
            Some(existing) => existing.absorb(&row),
            None => {
                let mut first = row;
                let currency = first.currency.code();
                first.key = key.clone();
                first.name = name;
                groups.insert((key, currency), first);
            }
        }
    }
    groups.into_values().collect()
}

/// The days a report covers, as counter keys (`YYYYMMDD`, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: u32,
    pub to: u32,
}

/// Query parameters of the ROI files (`/api/roi.csv`, `.xlsx`): the summary's, then the
/// column titles' language.
pub const FILE_QUERY_KEYS: &[&str] = &[
    "model",
    "from",
    "to",
    "group_by",
    "lookback_days",
    "half_life_days",
    "scope",
    "lang",
];
/// Query parameters of `/api/roi` and `leadgate roi`: the files' without `lang`.
pub const QUERY_KEYS: &[&str] = FILE_QUERY_KEYS.split_at(FILE_QUERY_KEYS.len() - 1).0;

/// The optional `from` and `to` dates of a query (inclusive; `to` not before `from`).
pub fn date_range(
    get: impl Fn(&str) -> Option<String>,
) -> Result<(Option<jiff::civil::Date>, Option<jiff::civil::Date>)> {
    let date = |key: &str| -> Result<Option<jiff::civil::Date>> {
        get(key)
            .map(|text| crate::campaign::parse_date(text.trim()).map_err(|e| e.with_field(key)))
            .transpose()
    };
    let (from, to) = (date("from")?, date("to")?);
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(Error::invalid(
            "to",
            "invalid_date_range",
            "to must not be before from",
        ));
    }
    Ok((from, to))
}

/// Reads the report's query: `get` gives a parameter's value, `tz` is the reporting zone
/// that turns `from`/`to` dates into instants.
pub fn parse_query(
    get: impl Fn(&str) -> Option<String>,
    tz: &jiff::tz::TimeZone,
) -> Result<(RoiQuery, DayRange)> {
    let half_life = match get("half_life_days") {
        Some(text) => text.trim().parse::<f64>().map_err(|_| {
            Error::invalid(
                "half_life_days",
                "invalid_half_life_days",
                "half_life_days must be a number from 0.01 to 3650",
            )
        })?,
        None => attribution::DEFAULT_HALF_LIFE_DAYS,
    };
    let model = Model::parse(get("model").as_deref().unwrap_or("last_touch"), half_life)?;
    let group_by = GroupBy::parse(get("group_by").as_deref().unwrap_or("campaign"))?;
    let lookback_days = match get("lookback_days") {
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| {
                Error::invalid(
                    "lookback_days",
                    "invalid_value",
                    "lookback_days must be a whole number from 1 to 3650",
                )
            })?,
        None => attribution::DEFAULT_LOOKBACK_DAYS,
    };
    let (from, to) = date_range(&get)?;
    let start_of = |date: jiff::civil::Date, key: &str| -> Result<i64> {
        date.to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|_| {
                Error::invalid(
                    key,
                    "invalid_date",
                    format!("{key} is outside the supported range"),
                )
            })
    };
    let window = Window {
        start_ms: from.map(|d| start_of(d, "from")).transpose()?,
        end_ms: to
            .map(|d| {
                d.tomorrow()
                    .map_err(|_| {
                        Error::invalid("to", "invalid_date", "to is outside the supported range")
                    })
                    .and_then(|next| start_of(next, "to"))
            })
            .transpose()?,
    };
    let days = DayRange {
        from: from.map_or(0, crate::domain::date_number),
        to: to.map_or(u32::MAX, crate::domain::date_number),
    };
    Ok((
        RoiQuery {
            model,
            lookback_days,
            group_by,
            window,
        },
        days,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::CREDIT_UNITS;
    use crate::conversion::Stage;
    use crate::forms::FormSet;
    use serde_json::json;

    fn campaign(slug: &str, currency: &str, channel: &str) -> Campaign {
        let body = json!({"slug": slug, "name": slug, "currency": currency, "channel": channel, "kind": "online_ad"});
        Campaign::create(
            body.as_object().unwrap(),
            &FormSet::builtin(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap()
    }

    fn ms(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn won(
        id: &str,
        moment: &str,
        won_at: &str,
        amount: i64,
        currency: &str,
        touches: Vec<Touch>,
    ) -> Journey {
        Journey {
            conversion: Conversion {
                id: id.into(),
                contact: "c".into(),
                lead_id: None,
                stage: Stage::Won,
                amount,
                currency: Currency::parse(currency).unwrap(),
                moment: moment.parse().unwrap(),
                won_at: Some(won_at.parse().unwrap()),
                lost_at: None,
                updated_at: jiff::Timestamp::UNIX_EPOCH,
            },
            touches,
        }
    }

    fn query(model: Model, window: Window) -> RoiQuery {
        RoiQuery {
            model,
            lookback_days: 90,
            group_by: GroupBy::Campaign,
            window,
        }
    }

    fn input() -> RoiInput {
        let touch = |at: &str, campaign| Touch {
            at_ms: ms(at),
            lead: 1,
            campaign,
        };
        RoiInput {
            campaigns: vec![
                campaign("a", "CNY", "baidu_sem"),
                campaign("b", "CNY", "baidu_sem"),
                campaign("u", "USD", "google"),
            ],
            counters: vec![
                Counters {
                    leads: 3,
                    disqualified: 1,
                    ..Counters::default()
                },
                Counters {
                    leads: 0,
                    ..Counters::default()
                },
                Counters {
                    leads: 2,
                    ..Counters::default()
                },
            ],
            costs: vec![30_000, 0, 10_000],
            journeys: std::sync::Arc::new(vec![
                won(
                    "o1",
                    "2025-03-10T00:00:00Z",
                    "2025-04-10T00:00:00Z",
                    100_000,
                    "CNY",
                    vec![
                        touch("2025-03-01T00:00:00Z", 0),
                        touch("2025-03-05T00:00:00Z", 1),
                    ],
                ),
                won(
                    "o2",
                    "2025-03-10T00:00:00Z",
                    "2025-03-20T00:00:00Z",
                    5_000,
                    "USD",
                    vec![touch("2025-03-09T00:00:00Z", 2)],
                ),
            ]),
            non_converting: Paths::default(),
        }
    }

    #[test]
    fn ratios_are_null_when_their_denominator_is_zero() {
        let report = summarise(&input(), &query(Model::LastTouch, Window::ALL));
        let b = report.rows.iter().find(|r| r.key == "b").unwrap().to_json();
        assert_eq!(b["cpl"], Value::Null);
        assert_eq!(b["roi_pct"], Value::Null);
        assert_eq!(b["lead_to_deal_pct"], Value::Null);
        assert_eq!(b["orders"], json!(1.0));
        assert_eq!(b["revenue"], "1000.00");
        assert_eq!(b["leads_attainment_pct"], Value::Null);
        let a = report.rows.iter().find(|r| r.key == "a").unwrap().to_json();
        assert_eq!(
            (
                a["cpl"].as_str(),
                a["valid_leads"].as_u64(),
                a["roi_pct"].as_f64()
            ),
            (Some("100.00"), Some(2), Some(-100.0))
        );
        assert_eq!(a["cost_per_order"], Value::Null);
    }

    #[test]
    fn deals_count_by_moment_and_orders_by_won_date() {
        let march = Window {
            start_ms: Some(ms("2025-03-01T00:00:00Z")),
            end_ms: Some(ms("2025-04-01T00:00:00Z")),
        };
        let report = summarise(&input(), &query(Model::Linear, march));
        let a = report.rows.iter().find(|r| r.key == "a").unwrap();
        assert_eq!(
            (a.deal_units, a.order_units, a.revenue),
            (500_000, 0, 0),
            "o1 opened in March, won in April"
        );
        let u = report.rows.iter().find(|r| r.key == "u").unwrap();
        assert_eq!(
            (u.deal_units, u.order_units, u.revenue),
            (1_000_000, 1_000_000, 5_000)
        );
        assert_eq!(u.to_json()["avg_sales_cycle_days"], json!(11.0));
    }

    #[test]
    fn currencies_are_totalled_apart_and_never_mixed() {
        let report = summarise(&input(), &query(Model::LastTouch, Window::ALL));
        assert_eq!(report.currency(), None);
        assert_eq!(report.totals["CNY"].cost, 30_000);
        assert_eq!(report.totals["USD"].cost, 10_000);
        assert_eq!(report.totals["CNY"].revenue, 100_000);
        assert_eq!(report.to_json()["currency"], Value::Null);
    }

    #[test]
    fn revenue_credited_to_a_campaign_in_another_currency_is_reported_not_added() {
        let mut data = input();
        std::sync::Arc::make_mut(&mut data.journeys)[1].touches[0].campaign = 0;
        let report = summarise(&data, &query(Model::LastTouch, Window::ALL));
        assert_eq!(report.totals["CNY"].revenue, 100_000);
        assert_eq!(report.warnings.len(), 1);
    }

    #[test]
    fn grouping_merges_rows_of_one_currency() {
        let mut q = query(Model::Linear, Window::ALL);
        q.group_by = GroupBy::Channel;
        let report = summarise(&input(), &q);
        let keys: Vec<&str> = report.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["baidu_sem", "google"]);
        assert_eq!(report.rows[0].order_units, 1_000_000);
        assert_eq!(report.rows[0].cost, 30_000);
    }

    #[test]
    fn the_published_trade_show_review_comes_out_exactly() {
        // 2025 上海工业自动化展 of acceptance-examples.md, from its raw figures.
        let mut row = Row::for_campaign(
            &campaign("expo", "CNY", "expo"),
            Counters {
                leads: 320,
                mqls: 180,
                ..Counters::default()
            },
            20_000_000,
        );
        row.budget = 20_000_000;
        row.target_leads = 300;
        row.target_revenue = 100_000_000;
        row.deal_units = 90 * CREDIT_UNITS;
        row.order_units = 25 * CREDIT_UNITS;
        row.revenue = 125_000_000;
        let shown = row.to_json();
        assert_eq!(shown["cpl"], "625.00");
        assert_eq!(shown["lead_to_deal_pct"], json!(28.13));
        assert_eq!(shown["deal_to_order_pct"], json!(27.78));
        assert_eq!(shown["cost_per_order"], "8000.00");
        assert_eq!(shown["roi_pct"], json!(525.0));
        assert_eq!(shown["roas"], json!(6.25));
        assert_eq!(shown["leads_attainment_pct"], json!(106.67));
        assert_eq!(shown["revenue_attainment_pct"], json!(125.0));
    }

    /// Campaigns a, b, c; conversion o1 touched a then b, o2 only b; two contacts without
    /// a conversion touched a and c.
    fn markov_input() -> RoiInput {
        let touch = |at: &str, lead, campaign| Touch {
            at_ms: ms(at),
            lead,
            campaign,
        };
        let mut non_converting = Paths::default();
        non_converting.push([0], false);
        non_converting.push([2], false);
        RoiInput {
            campaigns: vec![
                campaign("a", "CNY", "x"),
                campaign("b", "CNY", "x"),
                campaign("c", "CNY", "y"),
            ],
            journeys: std::sync::Arc::new(vec![
                won(
                    "o1",
                    "2025-03-10T00:00:00Z",
                    "2025-03-10T00:00:00Z",
                    90_000,
                    "CNY",
                    vec![
                        touch("2025-03-05T00:00:00Z", 2, 1),
                        touch("2025-03-01T00:00:00Z", 1, 0),
                    ],
                ),
                won(
                    "o2",
                    "2025-03-10T00:00:00Z",
                    "2025-03-10T00:00:00Z",
                    30_000,
                    "CNY",
                    vec![touch("2025-03-09T00:00:00Z", 3, 1)],
                ),
            ]),
            non_converting,
            ..RoiInput::default()
        }
    }

    #[test]
    fn markov_credits_by_removal_effect_and_shows_the_effects() {
        // The chain: start → a 2/4, b 1/4, c 1/4; a → b 1/2, → null 1/2; b → conv; c → null.
        // h(b) = 1, h(a) = 1/2, h(c) = 0, P = 2/4 · 1/2 + 1/4 = 1/2.
        // RE(a) = 1 − P₋a/P = 1 − (1/4)/(1/2) = 1/2; RE(b) = 1 − 0 = 1; RE(c) = 0.
        // o1 (a, b): a 0.5/1.5 = 1/3, b 2/3 → 333333.3 and 666666.7 units, the leftover
        // unit to b; 30000.00 and 60000.00 of its 90000.00. o2: all to b.
        let report = summarise(&markov_input(), &query(Model::Markov, Window::ALL));
        let row = |key: &str| report.rows.iter().find(|r| r.key == key).unwrap();
        assert_eq!((row("a").order_units, row("a").revenue), (333_333, 30_000));
        assert_eq!(
            (row("b").order_units, row("b").revenue),
            (1_666_667, 90_000)
        );
        assert_eq!((row("c").order_units, row("c").deal_units), (0, 0));
        let json = report.to_json();
        assert_eq!(
            json["removal_effects"],
            json!({"a": 0.5, "b": 1.0, "c": 0.0})
        );
        assert_eq!(json["model"], "markov");
        // Grouped: the effects stay per campaign.
        let mut by_channel = query(Model::Markov, Window::ALL);
        by_channel.group_by = GroupBy::Channel;
        let grouped = summarise(&markov_input(), &by_channel).to_json();
        assert_eq!(grouped["removal_effects"], json["removal_effects"]);
        // Other models show none.
        let linear = summarise(&markov_input(), &query(Model::Linear, Window::ALL)).to_json();
        assert!(linear.get("removal_effects").is_none(), "{linear}");
    }

    #[test]
    fn markov_chains_only_the_conversions_the_report_counts() {
        // April: o1 and o2 (March) do not count, so no journey converts.
        let april = Window {
            start_ms: Some(ms("2025-04-01T00:00:00Z")),
            end_ms: Some(ms("2025-05-01T00:00:00Z")),
        };
        let report = summarise(&markov_input(), &query(Model::Markov, april));
        assert!(report.rows.iter().all(|r| r.order_units == 0));
        assert_eq!(
            report.to_json()["removal_effects"],
            json!({"a": 0.0, "b": 0.0, "c": 0.0})
        );
    }

    #[test]
    fn query_dates_are_days_of_the_reporting_zone() {
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let get = |k: &str| match k {
            "from" => Some("2025-03-01".to_owned()),
            "to" => Some("2025-03-01".to_owned()),
            _ => None,
        };
        let (q, days) = parse_query(get, &tz).unwrap();
        assert_eq!((days.from, days.to), (20250301, 20250301));
        assert!(q.window.contains(ms("2025-03-01T23:30:00+08:00")));
        assert!(!q.window.contains(ms("2025-03-02T00:30:00+08:00")));
        assert!(!q.window.contains(ms("2025-02-28T23:59:59+08:00")));
        let bad = |k: &'static str, v: &'static str| {
            parse_query(move |key: &str| (key == k).then(|| v.to_owned()), &tz)
                .unwrap_err()
                .field
                .unwrap()
        };
        assert_eq!(bad("model", "best"), "model");
        assert_eq!(bad("group_by", "owner"), "group_by");
        assert_eq!(bad("lookback_days", "0"), "lookback_days");
        assert_eq!(bad("from", "2025-3-1"), "from");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::attribution::CREDIT_UNITS;
    use crate::conversion::Stage;
    use crate::forms::FormSet;
    use proptest::prelude::*;

    const MOMENT: i64 = 1_750_000_000_000;

    /// Campaign `c{i}` for i in 0..n, plus the conversions (each: touches as (days before
    /// its moment, campaign), amount) and the non-converting journeys (campaigns).
    type Scenario = (usize, Vec<(Vec<(i64, usize)>, i64)>, Vec<Vec<usize>>);

    fn any_scenario() -> impl Strategy<Value = Scenario> {
        (2_usize..7).prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec(
                    (
                        proptest::collection::vec((0_i64..120, 0..n), 0..6),
                        0_i64..=10_000_000,
                    ),
                    1..15,
                ),
                proptest::collection::vec(proptest::collection::vec(0..n, 1..5), 0..15),
            )
        })
    }

    /// The scenario as the store would hand it over, campaign `i` renamed to `names[i]`'s
    /// position: touches name campaigns by their index in the (slug-sorted) campaign list.
    fn input(scenario: &Scenario, rename: impl Fn(usize) -> usize) -> RoiInput {
        let (n, conversions, idle) = scenario;
        let forms = FormSet::builtin();
        let campaigns = (0..*n)
            .map(|i| {
                let body =
                    serde_json::json!({"slug": format!("c{i}"), "name": "x", "currency": "CNY"});
                Campaign::create(
                    body.as_object().unwrap(),
                    &forms,
                    jiff::Timestamp::UNIX_EPOCH,
                )
                .unwrap()
            })
            .collect();
        let moment = jiff::Timestamp::from_millisecond(MOMENT).unwrap();
        let journeys = conversions
            .iter()
            .enumerate()
            .map(|(k, (touches, amount))| Journey {
                conversion: Conversion {
                    id: format!("o{k}"),
                    contact: format!("+8613800000{k:03}"),
                    lead_id: None,
                    stage: Stage::Won,
                    amount: *amount,
                    currency: Currency::CNY,
                    moment,
                    won_at: Some(moment),
                    lost_at: None,
                    updated_at: moment,
                },
                touches: touches
                    .iter()
                    .enumerate()
                    .map(|(t, &(days, campaign))| Touch {
                        at_ms: MOMENT - days * DAY_MS,
                        lead: t as u128,
                        campaign: rename(campaign),
                    })
                    .collect(),
            })
            .collect();
        let mut non_converting = Paths::default();
        for path in idle {
            non_converting.push(path.iter().map(|&c| rename(c)), false);
        }
        RoiInput {
            campaigns,
            journeys: std::sync::Arc::new(journeys),
            non_converting,
            ..RoiInput::default()
        }
    }

    fn markov() -> RoiQuery {
        RoiQuery {
            model: Model::Markov,
            lookback_days: 90,
            group_by: GroupBy::Campaign,
            window: Window::ALL,
        }
    }

    proptest! {
        #[test]
        fn markov_credits_each_conversion_exactly_once(scenario in any_scenario()) {
            let data = input(&scenario, |c| c);
            let effects = removal_effects(&data, &markov());
            let mut with_touch = 0;
            for journey in data.journeys.iter() {
                let credits = attribution::attribute_markov(
                    &effects, &journey.touches, MOMENT, 90, journey.conversion.amount,
                );
                if credits.is_empty() {
                    continue;
                }
                with_touch += 1;
                prop_assert_eq!(credits.iter().map(|c| c.units).sum::<i64>(), CREDIT_UNITS);
                prop_assert_eq!(
                    credits.iter().map(|c| c.amount).sum::<i64>(),
                    journey.conversion.amount
                );
                prop_assert!(credits.iter().all(|c| c.units >= 0 && c.amount >= 0));
            }
            let report = summarise(&data, &markov());
            let units: i64 = report.rows.iter().map(|r| r.order_units).sum();
            prop_assert_eq!(units, with_touch * CREDIT_UNITS);
        }

        #[test]
        fn markov_gives_nothing_to_a_campaign_no_converting_journey_touched(
            scenario in any_scenario(),
        ) {
            let data = input(&scenario, |c| c);
            let mut touched = vec![false; data.campaigns.len()];
            for journey in data.journeys.iter() {
                for touch in attribution::eligible(&journey.touches, MOMENT, 90) {
                    touched[touch.campaign] = true;
                }
            }
            // Its removal effect may well be positive (a non-converting journey can lead
            // from it into a converting campaign), but credit goes only to the campaigns
            // of each conversion's own journey.
            let report = summarise(&data, &markov());
            for (i, row) in report.rows.iter().enumerate() {
                if !touched[i] {
                    prop_assert_eq!((row.deal_units, row.order_units, row.revenue), (0, 0, 0));
                }
            }
        }

        #[test]
        fn renaming_campaigns_moves_their_markov_credit_with_them(
            scenario in any_scenario(),
            seed in any::<u64>(),
        ) {
            let n = scenario.0;
            // A permutation of 0..n from the seed (Fisher–Yates with a small LCG).
            let mut perm: Vec<usize> = (0..n).collect();
            let mut state = seed;
            for i in (1..n).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                perm.swap(i, (state >> 33) as usize % (i + 1));
            }
            let before = summarise(&input(&scenario, |c| c), &markov());
            let after = summarise(&input(&scenario, |c| perm[c]), &markov());
            let effects = |r: &Report| r.removal_effects.clone().unwrap();
            for (c, &renamed) in perm.iter().enumerate() {
                let (old, new) = (&before.rows[c], &after.rows[renamed]);
                prop_assert_eq!(
                    (old.deal_units, old.order_units, old.revenue),
                    (new.deal_units, new.order_units, new.revenue)
                );
                prop_assert_eq!(
                    effects(&before)[c].1.to_bits(),
                    effects(&after)[renamed].1.to_bits()
                );
            }
        }
    }

    proptest! {
        /// ROI query strings: a report query or a 422 naming the parameter.
        #[test]
        fn roi_queries_never_panic(query in "[a-z_=&0-9.\\-%]{0,80}") {
            let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
            let pairs = crate::submission::query_pairs(&query);
            let get = |k: &str| crate::submission::first_value(&pairs, k).map(str::to_owned);
            if let Err(error) = parse_query(get, &tz) {
                prop_assert_eq!(error.status(), 422);
                prop_assert!(error.field.is_some());
            }
        }
    }
}
