//! Campaigns: the stored record, and how a JSON body creates or patches one. Every
//! field is checked here so that a bad value is a 422 naming that field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::domain::{
    CampaignKind, CampaignStatus, Currency, Phone, RateSetting, Slug, format_money,
    is_forbidden_in_text, money_from_json,
};
use crate::error::{Error, Result, reject_unknown_keys};
use crate::forms::FormSet;

const MAX_LIST_ITEMS: usize = 50;
const MAX_TARGET_LEADS: u64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub slug: Slug,
    pub name: String,
    pub kind: CampaignKind,
    pub channel: Option<String>,
    pub status: CampaignStatus,
    pub owner: Option<String>,
    pub starts_on: Option<jiff::civil::Date>,
    pub ends_on: Option<jiff::civil::Date>,
    pub currency: Currency,
    /// Minor units of `currency`.
    pub budget: i64,
    pub target_leads: u64,
    /// Minor units of `currency`.
    pub target_revenue: i64,
    pub form: String,
    pub tracking_numbers: Vec<Phone>,
    pub utm_campaigns: Vec<String>,
    /// This campaign's per-address limit (stored as `"off"` or like `"300/10m"`); `None` =
    /// the server's. Parsed when saved, so a request only looks it up.
    #[serde(deserialize_with = "stored_rate_setting")]
    pub rate_limit: Option<RateSetting>,
    /// QR placements printed for this campaign (booth-a, poster …), for the print sheet.
    #[serde(default)]
    pub qr_variants: Vec<String>,
    /// Who gets this campaign's new leads.
    #[serde(default)]
    pub assign: Assign,
    /// Hours within which a lead should be followed up (1 to 720), if the campaign says.
    #[serde(default)]
    pub follow_up_hours: Option<u32>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// How a campaign's new leads get a salesperson (API.md, "Assignment").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assign {
    pub mode: AssignMode,
    /// Salesperson ids, in round-robin order.
    #[serde(default)]
    pub salespeople: Vec<crate::domain::LeadId>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignMode {
    /// Nobody (a returning contact still keeps its salesperson).
    #[default]
    None,
    /// The salesperson whose id is the campaign's `owner`.
    Owner,
    /// The campaign's active salespeople in turn.
    RoundRobin,
}

impl AssignMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignMode::None => "none",
            AssignMode::Owner => "owner",
            AssignMode::RoundRobin => "round_robin",
        }
    }
}

/// Most salespeople one campaign's round robin may list.
const MAX_ASSIGNEES: usize = 200;

impl Assign {
    fn parse(value: &Value) -> Result<Assign> {
        let invalid = |why: &str| Error::invalid("assign", "invalid_value", why.to_owned());
        let object = match value {
            Value::Null => return Ok(Assign::default()),
            Value::Object(object) => object,
            _ => {
                return Err(invalid(
                    "assign must be {\"mode\": ..., \"salespeople\": [ids]}",
                ));
            }
        };
        if let Some(key) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "mode" | "salespeople"))
        {
            return Err(invalid(&format!(
                "assign has no field {key:?}; it takes mode and salespeople"
            )));
        }
        let mode = match object.get("mode") {
            None | Some(Value::Null) => AssignMode::None,
            Some(Value::String(mode)) if mode == "none" => AssignMode::None,
            Some(Value::String(mode)) if mode == "owner" => AssignMode::Owner,
            Some(Value::String(mode)) if mode == "round_robin" => AssignMode::RoundRobin,
            Some(_) => return Err(invalid("assign.mode must be none, owner or round_robin")),
        };
        let mut salespeople = Vec::new();
        match object.get("salespeople") {
            None | Some(Value::Null) => {}
            Some(Value::Array(ids)) if ids.len() <= MAX_ASSIGNEES => {
                for id in ids {
                    let id = id
                        .as_str()
                        .and_then(crate::domain::LeadId::parse)
                        .ok_or_else(|| invalid("assign.salespeople must list salesperson ids"))?;
                    if !salespeople.contains(&id) {
                        salespeople.push(id);
                    }
                }
            }
            Some(_) => {
                return Err(invalid(&format!(
                    "assign.salespeople must be a list of at most {MAX_ASSIGNEES} salesperson ids"
                )));
            }
        }
        Ok(Assign { mode, salespeople })
    }
}

/// A stored limit that no longer parses (written by a version with other rules) falls back
/// to the server's limit, as it did when the text was parsed per request, rather than
/// making the campaign unreadable.
fn stored_rate_setting<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<RateSetting>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    Ok(text.and_then(|t| t.parse().ok()))
}

/// The keys a create or patch body may carry.
pub const FIELDS: &[&str] = &[
    "slug",
    "name",
    "kind",
    "channel",
    "status",
    "owner",
    "starts_on",
    "ends_on",
    "currency",
    "budget",
    "target_leads",
    "target_revenue",
    "form",
    "tracking_numbers",
    "utm_campaigns",
    "rate_limit",
    "qr_variants",
    "assign",
    "follow_up_hours",
];

impl Campaign {
    /// Builds a new campaign from a `POST /api/campaigns` body.
    pub fn create(
        body: &Map<String, Value>,
        forms: &FormSet,
        now: jiff::Timestamp,
    ) -> Result<Campaign> {
        reject_unknown_keys(body, FIELDS, "campaign")?;
        let slug = match body.get("slug") {
            Some(Value::String(s)) => Slug::parse(s)?,
            Some(_) => {
                return Err(Error::invalid(
                    "slug",
                    "invalid_slug",
                    "slug must be a string",
                ));
            }
            None => return Err(Error::invalid("slug", "required", "slug is required")),
        };
        if !body.contains_key("name") {
            return Err(Error::invalid("name", "required", "name is required"));
        }
        let mut campaign = Campaign {
            slug,
            name: String::new(),
            kind: CampaignKind::Other,
            channel: None,
            status: CampaignStatus::Planned,
            owner: None,
            starts_on: None,
            ends_on: None,
            currency: Currency::CNY,
            budget: 0,
            target_leads: 0,
            target_revenue: 0,
            form: "default".into(),
            tracking_numbers: Vec::new(),
            utm_campaigns: Vec::new(),
            rate_limit: None,
            qr_variants: Vec::new(),
            assign: Assign::default(),
            follow_up_hours: None,
            created_at: now,
            updated_at: now,
        };
        campaign.apply(body, forms, now)?;
        Ok(campaign)
    }

    /// Applies a `PATCH` body: only the keys present change; `null` clears optional ones.
    pub fn patch(
        &mut self,
        body: &Map<String, Value>,
        forms: &FormSet,
        now: jiff::Timestamp,
    ) -> Result<()> {
        reject_unknown_keys(body, FIELDS, "campaign")?;
        if let Some(slug) = body.get("slug")
            && slug.as_str() != Some(self.slug.as_str())
        {
            return Err(Error::invalid(
                "slug",
                "immutable",
                "a campaign's slug cannot be changed (links and QR codes use it)",
            ));
        }
        self.apply(body, forms, now)
    }

    fn apply(
        &mut self,
        body: &Map<String, Value>,
        forms: &FormSet,
        now: jiff::Timestamp,
    ) -> Result<()> {
        // Currency first: the amounts in the same body are in the new currency.
        if let Some(value) = body.get("currency") {
            let currency = match value {
                Value::String(code) => Currency::parse(code)?,
                Value::Null => Currency::CNY,
                _ => {
                    return Err(Error::invalid(
                        "currency",
                        "invalid_currency",
                        "currency must be a string like CNY",
                    ));
                }
            };
            self.budget = rescale(self.budget, self.currency, currency, "budget")?;
            self.target_revenue = rescale(
                self.target_revenue,
                self.currency,
                currency,
                "target_revenue",
            )?;
            self.currency = currency;
        }
        let exponent = self.currency.exponent();
        for (key, value) in body {
            match key.as_str() {
                "slug" | "currency" => {}
                "name" => {
                    self.name = required_text(value, "name", 200)?;
                }
                "kind" => self.kind = enum_value(value, "kind", CampaignKind::Other)?,
                "status" => self.status = enum_value(value, "status", CampaignStatus::Planned)?,
                "channel" => self.channel = optional_text(value, "channel", 64)?,
                "owner" => self.owner = optional_text(value, "owner", 100)?,
                "assign" => self.assign = Assign::parse(value)?,
                "follow_up_hours" => self.follow_up_hours = match value {
                    Value::Null => None,
                    _ => Some(
                        value
                            .as_u64()
                            .filter(|h| (1..=720).contains(h))
                            .and_then(|h| u32::try_from(h).ok())
                            .ok_or_else(|| {
                                Error::invalid(
                                    "follow_up_hours",
                                    "invalid_value",
                                    "follow_up_hours must be a whole number of hours from 1 to 720",
                                )
                            })?,
                    ),
                },
                "starts_on" => self.starts_on = optional_date(value, "starts_on")?,
                "ends_on" => self.ends_on = optional_date(value, "ends_on")?,
                "budget" => self.budget = optional_money(value, exponent, "budget")?,
                "target_revenue" => {
                    self.target_revenue = optional_money(value, exponent, "target_revenue")?
                }
                "target_leads" => {
                    self.target_leads = match value {
                        Value::Null => 0,
                        Value::Number(n) => n
                            .as_u64()
                            .filter(|n| *n <= MAX_TARGET_LEADS)
                            .ok_or_else(|| {
                                Error::invalid(
                                    "target_leads",
                                    "invalid_value",
                                    "target_leads must be a whole number from 0 to 1000000000",
                                )
                            })?,
                        _ => {
                            return Err(Error::invalid(
                                "target_leads",
                                "invalid_value",
                                "target_leads must be a whole number",
                            ));
                        }
                    }
                }
                "form" => {
                    let name = match value {
                        Value::Null => "default".to_owned(),
                        Value::String(s) => s.clone(),
                        _ => {
                            return Err(Error::invalid(
                                "form",
                                "unknown_form",
                                "form must be the name of a form",
                            ));
                        }
                    };
                    if forms.get(&name).is_none() {
                        let known: Vec<&str> = forms.names().collect();
                        return Err(Error::invalid(
                            "form",
                            "unknown_form",
                            format!(
                                "there is no form {name:?}; known forms: {}",
                                known.join(", ")
                            ),
                        ));
                    }
                    self.form = name;
                }
                "tracking_numbers" => {
                    self.tracking_numbers = string_list(value, "tracking_numbers", |s| {
                        Phone::parse(s).map_err(|e| e.with_field("tracking_numbers"))
                    })?;
                }
                "utm_campaigns" => {
                    self.utm_campaigns = string_list(value, "utm_campaigns", |s| {
                        crate::domain::clean_tracking_value(s)
                            .filter(|v| v.chars().count() <= 128)
                            .ok_or_else(|| {
                                Error::invalid(
                                    "utm_campaigns",
                                    "invalid_value",
                                    "each utm_campaigns value must be 1 to 128 characters",
                                )
                            })
                    })?;
                }
                "qr_variants" => {
                    self.qr_variants = string_list(value, "qr_variants", |s| {
                        if crate::qr::is_variant(s) {
                            Ok(s.to_owned())
                        } else {
                            Err(Error::invalid(
                                "qr_variants",
                                "invalid_variant",
                                "each QR variant is 1 to 32 characters of a-z, 0-9, _ and -",
                            ))
                        }
                    })?;
                }
                "rate_limit" => {
                    self.rate_limit = match value {
                        Value::Null => None,
                        Value::String(text) => Some(text.parse().map_err(|why| {
                            Error::invalid("rate_limit", "invalid_rate_limit", why)
                        })?),
                        _ => {
                            return Err(Error::invalid(
                                "rate_limit",
                                "invalid_rate_limit",
                                "rate_limit must be a string like 300/10m or off",
                            ));
                        }
                    }
                }
                other => unreachable!("reject_unknown_keys let {other} through"),
            }
        }
        if let (Some(starts), Some(ends)) = (self.starts_on, self.ends_on)
            && ends < starts
        {
            return Err(Error::invalid(
                "ends_on",
                "invalid_date_range",
                "ends_on must not be before starts_on",
            ));
        }
        self.updated_at = now;
        Ok(())
    }

    /// The campaign as the API shows it; `public_url` makes its links absolute.
    pub fn to_json(&self, public_url: &str) -> Value {
        let exponent = self.currency.exponent();
        json!({
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "channel": self.channel,
            "status": self.status,
            "owner": self.owner,
            "starts_on": self.starts_on.map(|d| d.to_string()),
            "ends_on": self.ends_on.map(|d| d.to_string()),
            "currency": self.currency,
            "budget": format_money(self.budget, exponent),
            "target_leads": self.target_leads,
            "target_revenue": format_money(self.target_revenue, exponent),
            "form": self.form,
            "tracking_numbers": self.tracking_numbers,
            "utm_campaigns": self.utm_campaigns,
            "rate_limit": self.rate_limit,
            "qr_variants": self.qr_variants,
            "assign": {"mode": self.assign.mode.as_str(), "salespeople": self.assign.salespeople},
            "follow_up_hours": self.follow_up_hours,
            "landing_url": format!("{public_url}/f/{}", self.slug),
            "qr_url": format!("{public_url}/q/{}", self.slug),
            "created_at": crate::lead::format_timestamp(self.created_at),
            "updated_at": crate::lead::format_timestamp(self.updated_at),
        })
    }
}

pub(crate) fn required_text(value: &Value, field: &str, max_chars: usize) -> Result<String> {
    optional_text(value, field, max_chars)?
        .ok_or_else(|| Error::invalid(field, "required", format!("{field} must not be empty")))
}

pub(crate) fn optional_text(
    value: &Value,
    field: &str,
    max_chars: usize,
) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => {
            let s = s.trim();
            if s.chars().count() > max_chars {
                return Err(Error::invalid(
                    field,
                    "too_long",
                    format!("{field} must be at most {max_chars} characters"),
                ));
            }
            if s.chars().any(|c| is_forbidden_in_text(c, false)) {
                return Err(Error::invalid(
                    field,
                    "invalid_value",
                    format!("{field} must not contain control characters"),
                ));
            }
            Ok((!s.is_empty()).then(|| s.to_owned()))
        }
        _ => Err(Error::invalid(
            field,
            "invalid_value",
            format!("{field} must be a string"),
        )),
    }
}

fn optional_date(value: &Value, field: &str) -> Result<Option<jiff::civil::Date>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => parse_date(s).map(Some).map_err(|e| e.with_field(field)),
        _ => Err(Error::invalid(
            field,
            "invalid_date",
            format!("{field} must be a date like 2025-03-01"),
        )),
    }
}

/// Parses `YYYY-MM-DD` exactly.
pub fn parse_date(text: &str) -> Result<jiff::civil::Date> {
    let bad = || {
        Error::invalid(
            "date",
            "invalid_date",
            format!("{text:?} is not a date like 2025-03-01"),
        )
    };
    if text.len() != 10 {
        return Err(bad());
    }
    let date = text.parse::<jiff::civil::Date>().map_err(|_| bad())?;
    // Campaign data starts well after 1970; earlier years are typos, and they would fall
    // outside the day keys of the counters.
    if date.year() < 1970 {
        return Err(bad());
    }
    Ok(date)
}

fn optional_money(value: &Value, exponent: u32, field: &str) -> Result<i64> {
    if value.is_null() {
        return Ok(0);
    }
    money_from_json(value, exponent, field)
}

fn enum_value<T: std::str::FromStr<Err = Error>>(
    value: &Value,
    field: &str,
    default: T,
) -> Result<T> {
    match value {
        Value::Null => Ok(default),
        Value::String(s) => s.parse(),
        _ => Err(Error::invalid(
            field,
            "invalid_value",
            format!("{field} must be a string"),
        )),
    }
}

fn string_list<T: PartialEq>(
    value: &Value,
    field: &str,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<Vec<T>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) if items.len() <= MAX_LIST_ITEMS => items,
        _ => {
            return Err(Error::invalid(
                field,
                "invalid_value",
                format!("{field} must be a list of at most {MAX_LIST_ITEMS} strings"),
            ));
        }
    };
    let mut parsed: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        let text = item.as_str().ok_or_else(|| {
            Error::invalid(
                field,
                "invalid_value",
                format!("{field} must be a list of strings"),
            )
        })?;
        let value = parse(text)?;
        if !parsed.contains(&value) {
            parsed.push(value);
        }
    }
    Ok(parsed)
}

/// Re-expresses an amount when the currency changes; refuses to drop digits.
fn rescale(minor: i64, from: Currency, to: Currency, field: &str) -> Result<i64> {
    let (from_exp, to_exp) = (from.exponent(), to.exponent());
    if to_exp >= from_exp {
        return Ok(minor * 10_i64.pow(to_exp - from_exp));
    }
    let factor = 10_i64.pow(from_exp - to_exp);
    if minor % factor != 0 {
        return Err(Error::invalid(
            field,
            "invalid_amount",
            format!(
                "{field} has more decimals than {} allows; send {field} again with the new currency",
                to.code()
            ),
        ));
    }
    Ok(minor / factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn create(value: Value) -> Result<Campaign> {
        Campaign::create(
            &body(value),
            &FormSet::builtin(),
            jiff::Timestamp::UNIX_EPOCH,
        )
    }

    fn field_of(result: Result<Campaign>) -> String {
        result.unwrap_err().field.unwrap()
    }

    #[test]
    fn the_assignment_rule_and_follow_up_hours_are_checked() {
        let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        let c = create(
            json!({"slug": "expo", "name": "展会", "follow_up_hours": 24,
            "assign": {"mode": "round_robin", "salespeople": [id, id]}}),
        )
        .unwrap();
        assert_eq!(c.assign.mode, AssignMode::RoundRobin);
        assert_eq!(c.assign.salespeople.len(), 1, "a repeat is dropped");
        assert_eq!(c.follow_up_hours, Some(24));
        let plain = create(json!({"slug": "expo", "name": "展会"})).unwrap();
        assert_eq!(plain.assign, Assign::default());
        for bad in [
            json!({"mode": {}}),
            json!({"mode": "everyone"}),
            json!({"salespeople": ["not-an-id"]}),
            json!({"salespeople": "x"}),
            json!({"team": 1}),
            json!("round_robin"),
        ] {
            let result = create(json!({"slug": "expo", "name": "展会", "assign": bad}));
            assert_eq!(field_of(result), "assign", "{bad}");
        }
        for hours in [json!(0), json!(721), json!(1.5), json!("24")] {
            let result = create(json!({"slug": "expo", "name": "展会", "follow_up_hours": hours}));
            assert_eq!(field_of(result), "follow_up_hours", "{hours}");
        }
    }

    #[test]
    fn defaults_fill_what_the_body_leaves_out() {
        let c = create(json!({"slug": "expo", "name": "展会"})).unwrap();
        assert_eq!(
            (c.kind, c.status, c.currency, c.form.as_str()),
            (
                CampaignKind::Other,
                CampaignStatus::Planned,
                Currency::CNY,
                "default"
            )
        );
    }

    #[test]
    fn every_field_is_validated_and_named() {
        assert_eq!(field_of(create(json!({"name": "x"}))), "slug");
        assert_eq!(
            field_of(create(json!({"slug": "Bad", "name": "x"}))),
            "slug"
        );
        assert_eq!(field_of(create(json!({"slug": "a"}))), "name");
        assert_eq!(field_of(create(json!({"slug": "a", "name": " "}))), "name");
        assert_eq!(
            field_of(create(json!({"slug": "a", "name": "x", "kind": "tv"}))),
            "kind"
        );
        assert_eq!(
            field_of(create(
                json!({"slug": "a", "name": "x", "starts_on": "2025-13-01"})
            )),
            "starts_on"
        );
        assert_eq!(
            field_of(create(
                json!({"slug": "a", "name": "x", "starts_on": "2025-03-02", "ends_on": "2025-03-01"})
            )),
            "ends_on"
        );
        assert_eq!(
            field_of(create(json!({"slug": "a", "name": "x", "currency": "XXY"}))),
            "currency"
        );
        assert_eq!(
            field_of(create(json!({"slug": "a", "name": "x", "budget": "1.234"}))),
            "budget"
        );
        assert_eq!(
            field_of(create(json!({"slug": "a", "name": "x", "budget": -1}))),
            "budget"
        );
        assert_eq!(
            field_of(create(
                json!({"slug": "a", "name": "x", "target_leads": -1})
            )),
            "target_leads"
        );
        assert_eq!(
            field_of(create(json!({"slug": "a", "name": "x", "form": "nope"}))),
            "form"
        );
        assert_eq!(
            field_of(create(
                json!({"slug": "a", "name": "x", "tracking_numbers": ["123"]})
            )),
            "tracking_numbers"
        );
        assert_eq!(
            field_of(create(
                json!({"slug": "a", "name": "x", "rate_limit": "fast"})
            )),
            "rate_limit"
        );
        assert_eq!(
            field_of(create(json!({"slug": "a", "name": "x", "budgte": 1}))),
            "budgte"
        );
    }

    #[test]
    fn money_and_numbers_are_normalised() {
        let c = create(
            json!({"slug": "a", "name": "x", "budget": 200000, "target_revenue": "1000000.5",
            "tracking_numbers": ["021 6123 4567", "+86 21 6123 4567"], "rate_limit": "600/10m"}),
        )
        .unwrap();
        assert_eq!(c.budget, 20_000_000);
        let shown = c.to_json("http://h");
        assert_eq!(shown["budget"], "200000.00");
        assert_eq!(shown["target_revenue"], "1000000.50");
        assert_eq!(shown["tracking_numbers"], json!(["+862161234567"]));
        assert_eq!(shown["landing_url"], "http://h/f/a");
        assert_eq!(shown["rate_limit"], "600/10m");
        let mut stored = serde_json::to_value(&c).unwrap();
        let read: Campaign = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(read.rate_limit, c.rate_limit);
        stored["rate_limit"] = json!("fast");
        let read: Campaign = serde_json::from_value(stored).unwrap();
        assert_eq!(read.rate_limit, None, "an unreadable limit is the server's");
    }

    #[test]
    fn patch_changes_only_what_it_names_and_keeps_the_slug() {
        let mut c = create(json!({"slug": "a", "name": "x", "budget": 100})).unwrap();
        c.patch(
            &body(json!({"status": "running"})),
            &FormSet::builtin(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(
            (c.status, c.budget, c.name.as_str()),
            (CampaignStatus::Running, 10_000, "x")
        );
        let err = c
            .patch(
                &body(json!({"slug": "b"})),
                &FormSet::builtin(),
                jiff::Timestamp::UNIX_EPOCH,
            )
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("slug"));
    }

    #[test]
    fn changing_currency_rescales_exactly_or_refuses() {
        let mut c = create(json!({"slug": "a", "name": "x", "budget": "100"})).unwrap();
        c.patch(
            &body(json!({"currency": "JPY"})),
            &FormSet::builtin(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(c.budget, 100);
        let mut c = create(json!({"slug": "a", "name": "x", "budget": "100.5"})).unwrap();
        assert!(
            c.patch(
                &body(json!({"currency": "JPY"})),
                &FormSet::builtin(),
                jiff::Timestamp::UNIX_EPOCH
            )
            .is_err()
        );
    }
}
