//! Conversions from the CRM: opportunities (`deal`) and their outcome (`won`, `lost`).
//! Upserted by the CRM's own id, so replaying a sync or re-importing a file is harmless.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{Currency, Email, LeadId, Phone, format_money, parse_money};
use crate::error::{Error, Result};
use crate::lead::format_timestamp;

const MAX_ID_CHARS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Deal,
    Won,
    Lost,
}

impl Stage {
    pub fn parse(text: &str) -> Result<Stage> {
        match text.trim() {
            "deal" => Ok(Stage::Deal),
            "won" => Ok(Stage::Won),
            "lost" => Ok(Stage::Lost),
            _ => Err(Error::invalid(
                "stage",
                "invalid_value",
                "stage must be one of: deal, won, lost",
            )),
        }
    }

    /// Won and lost end an opportunity; a late `deal` record never reopens it.
    fn is_final(self) -> bool {
        self != Stage::Deal
    }
}

/// Who converted: the lead the CRM names, or the contact's phone or e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    Lead(LeadId),
    Phone(Phone),
    Email(Email),
}

impl ContactRef {
    pub fn field(&self) -> &'static str {
        match self {
            ContactRef::Lead(_) => "lead_id",
            ContactRef::Phone(_) => "phone",
            ContactRef::Email(_) => "email",
        }
    }
}

/// A conversion record as sent, checked for form but not yet matched to a contact (that
/// needs the store, and happens in the writer's transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionInput {
    pub id: String,
    pub contact: ContactRef,
    pub stage: Stage,
    /// Decimal text; parsed once the currency is known.
    pub amount: Option<String>,
    pub occurred_at: jiff::Timestamp,
    pub currency: Option<Currency>,
}

/// The field names of a conversion, in JSON and as CSV headers.
pub const FIELDS: &[&str] = &[
    "id",
    "lead_id",
    "phone",
    "email",
    "stage",
    "amount",
    "occurred_at",
    "currency",
];

impl ConversionInput {
    /// Reads one conversion from text fields (JSON values or CSV cells); `now` bounds
    /// `occurred_at` and is its default.
    pub fn parse(
        get: impl Fn(&str) -> Option<String>,
        now: jiff::Timestamp,
    ) -> Result<ConversionInput> {
        let id = get("id")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "id",
                    "required",
                    "id (the CRM's deal or order id) is required",
                )
            })?;
        if id.chars().count() > MAX_ID_CHARS
            || id
                .chars()
                .any(|c| crate::domain::is_forbidden_in_text(c, false))
        {
            return Err(Error::invalid(
                "id",
                "invalid_value",
                format!("id must be at most {MAX_ID_CHARS} printable characters"),
            ));
        }
        let contact = if let Some(text) = get("lead_id") {
            ContactRef::Lead(LeadId::parse(text.trim()).ok_or_else(|| {
                Error::invalid(
                    "lead_id",
                    "invalid_value",
                    "lead_id must be a lead id (26-character ULID)",
                )
            })?)
        } else if let Some(text) = get("phone") {
            ContactRef::Phone(Phone::parse(&text)?)
        } else if let Some(text) = get("email") {
            ContactRef::Email(Email::parse(&text)?)
        } else {
            return Err(Error::invalid(
                "lead_id",
                "required",
                "name the contact with lead_id, phone or email",
            ));
        };
        let stage = Stage::parse(&get("stage").ok_or_else(|| {
            Error::invalid("stage", "required", "stage is required (deal, won or lost)")
        })?)?;
        let occurred_at = match get("occurred_at") {
            Some(text) => parse_timestamp(&text, "occurred_at")?,
            None => now,
        };
        let occurred_at = not_in_future(occurred_at, now, "occurred_at")?;
        let currency = get("currency")
            .map(|c| Currency::parse(c.trim()))
            .transpose()?;
        let amount = get("amount").map(|a| a.trim().to_owned());
        if stage == Stage::Won && amount.is_none() {
            return Err(Error::invalid(
                "amount",
                "required",
                "a won conversion needs its amount",
            ));
        }
        if let Some(text) = &amount {
            // Checked for form now (at the widest precision); exactness per currency later.
            parse_money(text, 4).map_err(|why| {
                Error::invalid("amount", "invalid_amount", format!("amount {why}"))
            })?;
        }
        Ok(ConversionInput {
            id,
            contact,
            stage,
            amount,
            occurred_at,
            currency,
        })
    }

    /// Reads a JSON object body: strings and numbers are both accepted as text.
    pub fn from_json(
        body: &serde_json::Map<String, Value>,
        now: jiff::Timestamp,
    ) -> Result<ConversionInput> {
        if let Some(key) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::invalid(
                key.clone(),
                "unknown_field",
                format!(
                    "{key:?} is not a conversion field; the fields are: {}",
                    FIELDS.join(", ")
                ),
            ));
        }
        let get = |key: &str| match body.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if let Some((key, _)) = body
            .iter()
            .find(|(_, v)| matches!(v, Value::Array(_) | Value::Object(_) | Value::Bool(_)))
        {
            return Err(Error::invalid(
                key.clone(),
                "invalid_value",
                format!("{key} must be a string or a number"),
            ));
        }
        ConversionInput::parse(get, now)
    }
}

/// How far in the future a reported time may lie: clocks differ, but not by much.
const MAX_CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Refuses a time (`occurred_at`, `received_at`, `started_at`, an activity's `at`) later
/// than `now` allows: `422 in_future`, the one code for it.
pub fn not_in_future(
    ts: jiff::Timestamp,
    now: jiff::Timestamp,
    field: &str,
) -> Result<jiff::Timestamp> {
    if ts > now + MAX_CLOCK_SKEW {
        return Err(Error::invalid(
            field,
            "in_future",
            format!("{field} must not be in the future"),
        ));
    }
    Ok(ts)
}

/// Parses an RFC 3339 timestamp with an offset (`2025-03-01T10:00:00+08:00`).
pub fn parse_timestamp(text: &str, field: &str) -> Result<jiff::Timestamp> {
    text.trim().parse::<jiff::Timestamp>().map_err(|_| {
        Error::invalid(
            field,
            "invalid_time",
            format!(
                "{field} must be an RFC 3339 time with an offset, like 2025-03-01T10:00:00+08:00"
            ),
        )
    })
}

/// A stored conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    pub id: String,
    /// The contact key: E.164 phone, else lower-cased e-mail.
    pub contact: String,
    pub lead_id: Option<LeadId>,
    pub stage: Stage,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: Currency,
    /// When the opportunity counts as opened: the first record's `occurred_at`. Touches
    /// are judged against it.
    #[serde(with = "crate::domain::precise_time")]
    pub moment: jiff::Timestamp,
    #[serde(with = "crate::domain::precise_time::option")]
    pub won_at: Option<jiff::Timestamp>,
    #[serde(with = "crate::domain::precise_time::option")]
    pub lost_at: Option<jiff::Timestamp>,
    #[serde(with = "crate::domain::precise_time")]
    pub updated_at: jiff::Timestamp,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Created,
    Updated,
    Unchanged,
}

/// The contact a conversion was matched to, with the currency to read its amount in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub contact: String,
    pub lead_id: Option<LeadId>,
    pub currency: Currency,
}

/// Applies one record to what is stored. A later stage replaces an earlier one; a late
/// `deal` after `won`/`lost` changes nothing; the moment never moves.
pub fn merge(
    existing: Option<&Conversion>,
    input: &ConversionInput,
    matched: Matched,
    now: jiff::Timestamp,
) -> Result<(Conversion, Upsert)> {
    let currency = input
        .currency
        .or(existing.map(|c| c.currency))
        .unwrap_or(matched.currency);
    let amount = match &input.amount {
        Some(text) => parse_money(text, currency.exponent()).map_err(|why| {
            Error::invalid(
                "amount",
                "invalid_amount",
                format!("amount {why} for {}", currency.code()),
            )
        })?,
        None => existing.map_or(0, |c| c.amount),
    };
    let Some(old) = existing else {
        let conversion = Conversion {
            id: input.id.clone(),
            contact: matched.contact,
            lead_id: matched.lead_id,
            stage: input.stage,
            amount,
            currency,
            moment: input.occurred_at,
            won_at: (input.stage == Stage::Won).then_some(input.occurred_at),
            lost_at: (input.stage == Stage::Lost).then_some(input.occurred_at),
            updated_at: now,
        };
        return Ok((conversion, Upsert::Created));
    };
    if old.stage.is_final() && !input.stage.is_final() {
        return Ok((old.clone(), Upsert::Unchanged));
    }
    let mut next = old.clone();
    next.contact = matched.contact;
    next.lead_id = matched.lead_id.or(old.lead_id);
    next.stage = input.stage;
    next.amount = amount;
    next.currency = currency;
    match input.stage {
        Stage::Deal => {}
        Stage::Won => {
            next.won_at = Some(input.occurred_at);
            next.lost_at = None;
        }
        Stage::Lost => {
            next.lost_at = Some(input.occurred_at);
            next.won_at = None;
        }
    }
    if next == *old {
        return Ok((next, Upsert::Unchanged));
    }
    next.updated_at = now;
    Ok((next, Upsert::Updated))
}

impl Conversion {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "contact": self.contact,
            "lead_id": self.lead_id,
            "stage": self.stage,
            "amount": format_money(self.amount, self.currency.exponent()),
            "currency": self.currency,
            "moment": format_timestamp(self.moment),
            "won_at": self.won_at.map(format_timestamp),
            "lost_at": self.lost_at.map(format_timestamp),
            "updated_at": format_timestamp(self.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn now() -> jiff::Timestamp {
        "2025-06-01T00:00:00Z".parse().unwrap()
    }

    fn input(pairs: &[(&str, &str)]) -> Result<ConversionInput> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ConversionInput::parse(|k| map.get(k).cloned(), now())
    }

    fn matched() -> Matched {
        Matched {
            contact: "+8613800138000".into(),
            lead_id: None,
            currency: Currency::CNY,
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |pairs: &[(&str, &str)]| input(pairs).unwrap_err().field.unwrap();
        assert_eq!(
            field(&[("phone", "13800138000"), ("stage", "won"), ("amount", "1")]),
            "id"
        );
        assert_eq!(
            field(&[("id", "o1"), ("stage", "won"), ("amount", "1")]),
            "lead_id"
        );
        assert_eq!(
            field(&[
                ("id", "o1"),
                ("lead_id", "nope"),
                ("stage", "won"),
                ("amount", "1")
            ]),
            "lead_id"
        );
        assert_eq!(
            field(&[
                ("id", "o1"),
                ("phone", "123"),
                ("stage", "won"),
                ("amount", "1")
            ]),
            "phone"
        );
        assert_eq!(
            field(&[("id", "o1"), ("phone", "13800138000"), ("stage", "paid")]),
            "stage"
        );
        assert_eq!(
            field(&[("id", "o1"), ("phone", "13800138000"), ("stage", "won")]),
            "amount"
        );
        assert_eq!(
            field(&[
                ("id", "o1"),
                ("phone", "13800138000"),
                ("stage", "won"),
                ("amount", "-1")
            ]),
            "amount"
        );
        assert_eq!(
            field(&[
                ("id", "o1"),
                ("phone", "13800138000"),
                ("stage", "deal"),
                ("occurred_at", "2025-03-01")
            ]),
            "occurred_at"
        );
        assert_eq!(
            field(&[
                ("id", "o1"),
                ("phone", "13800138000"),
                ("stage", "deal"),
                ("occurred_at", "2030-01-01T00:00:00Z")
            ]),
            "occurred_at"
        );
        assert_eq!(
            field(&[
                ("id", "o1"),
                ("phone", "13800138000"),
                ("stage", "deal"),
                ("currency", "XYZ1")
            ]),
            "currency"
        );
    }

    #[test]
    fn a_later_stage_replaces_an_earlier_one_and_the_moment_stays() {
        let deal = input(&[
            ("id", "o1"),
            ("phone", "13800138000"),
            ("stage", "deal"),
            ("occurred_at", "2025-03-01T10:00:00+08:00"),
        ])
        .unwrap();
        let (opened, how) = merge(None, &deal, matched(), now()).unwrap();
        assert_eq!(
            (how, opened.stage, opened.amount),
            (Upsert::Created, Stage::Deal, 0)
        );
        let won = input(&[
            ("id", "o1"),
            ("phone", "13800138000"),
            ("stage", "won"),
            ("amount", "50000"),
            ("occurred_at", "2025-04-01T10:00:00+08:00"),
        ])
        .unwrap();
        let (closed, how) = merge(Some(&opened), &won, matched(), now()).unwrap();
        assert_eq!(
            (how, closed.stage, closed.amount),
            (Upsert::Updated, Stage::Won, 5_000_000)
        );
        assert_eq!(closed.moment, opened.moment);
        assert_eq!(closed.won_at, Some(won.occurred_at));
        let (again, how) = merge(Some(&closed), &won, matched(), now()).unwrap();
        assert_eq!((how, &again), (Upsert::Unchanged, &closed));
        let (late_deal, how) = merge(Some(&closed), &deal, matched(), now()).unwrap();
        assert_eq!((how, late_deal.stage), (Upsert::Unchanged, Stage::Won));
    }

    #[test]
    fn amounts_follow_the_currency_exactly() {
        let won = input(&[
            ("id", "o1"),
            ("phone", "13800138000"),
            ("stage", "won"),
            ("amount", "100.5"),
            ("currency", "JPY"),
        ])
        .unwrap();
        assert_eq!(
            merge(None, &won, matched(), now())
                .unwrap_err()
                .field
                .as_deref(),
            Some("amount")
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Dates and times from the wire: parsed or refused with the field named.
        #[test]
        fn dates_and_times_never_panic(text in "[0-9T:+\\-Z. ]{0,32}") {
            if let Err(error) = parse_timestamp(&text, "occurred_at") {
                prop_assert_eq!(error.field.as_deref(), Some("occurred_at"));
            }
            if let Err(error) = crate::campaign::parse_date(&text) {
                prop_assert_eq!(error.status(), 422);
            }
        }

        #[test]
        fn conversion_records_never_panic(fields in proptest::collection::hash_map(
            prop_oneof![Just("id"), Just("phone"), Just("email"), Just("lead_id"), Just("stage"), Just("amount"), Just("occurred_at"), Just("currency")],
            "\\PC{0,30}", 0..8)) {
            let now: jiff::Timestamp = "2025-06-01T00:00:00Z".parse().unwrap();
            if let Err(error) = ConversionInput::parse(|k| fields.get(k).cloned(), now) {
                prop_assert_eq!(error.status(), 422);
            }
        }
    }
}
