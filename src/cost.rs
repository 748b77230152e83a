//! Cost entries: what a campaign spent, one line per invoice or booking. A campaign's cost
//! is the sum of its entries; a wrong entry is deleted and entered again.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::campaign::{Campaign, parse_date};
use crate::domain::{date_number, format_money, is_forbidden_in_text, money_from_json};
use crate::error::{Error, Result};

const MAX_NOTE_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostEntry {
    /// ULID text: unique, and orders entries by creation.
    pub id: String,
    /// Minor units of the campaign's currency.
    pub amount: i64,
    pub incurred_on: jiff::civil::Date,
    pub note: Option<String>,
    pub created_at: jiff::Timestamp,
}

impl CostEntry {
    /// Reads a `POST /api/campaigns/{slug}/costs` body in the campaign's currency.
    pub fn from_json(
        body: &Map<String, Value>,
        campaign: &Campaign,
        now: jiff::Timestamp,
    ) -> Result<CostEntry> {
        if let Some(key) = body
            .keys()
            .find(|k| !["amount", "incurred_on", "note"].contains(&k.as_str()))
        {
            return Err(Error::invalid(
                key.clone(),
                "unknown_field",
                format!("{key:?} is not a cost field; send amount, incurred_on and note"),
            ));
        }
        let amount = match body.get("amount") {
            Some(value) => money_from_json(value, campaign.currency.exponent(), "amount")?,
            None => return Err(Error::invalid("amount", "required", "amount is required")),
        };
        let incurred_on = match body.get("incurred_on") {
            Some(Value::String(text)) => {
                parse_date(text).map_err(|e| e.with_field("incurred_on"))?
            }
            Some(_) => {
                return Err(Error::invalid(
                    "incurred_on",
                    "invalid_date",
                    "incurred_on must be a date like 2025-03-01",
                ));
            }
            None => {
                return Err(Error::invalid(
                    "incurred_on",
                    "required",
                    "incurred_on is required",
                ));
            }
        };
        let note = match body.get("note") {
            None | Some(Value::Null) => None,
            Some(Value::String(text))
                if text.chars().count() <= MAX_NOTE_CHARS
                    && !text.chars().any(|c| is_forbidden_in_text(c, true)) =>
            {
                Some(text.trim().to_owned()).filter(|t| !t.is_empty())
            }
            Some(_) => {
                return Err(Error::invalid(
                    "note",
                    "invalid_value",
                    format!(
                        "note must be text of at most {MAX_NOTE_CHARS} characters, without control characters"
                    ),
                ));
            }
        };
        Ok(CostEntry {
            id: ulid::Ulid::generate().to_string(),
            amount,
            incurred_on,
            note,
            created_at: now,
        })
    }

    /// The day key this entry counts on (`YYYYMMDD`).
    pub fn day(&self) -> u32 {
        date_number(self.incurred_on)
    }

    pub fn to_json(&self, campaign: &Campaign) -> Value {
        json!({
            "id": self.id,
            "campaign": campaign.slug,
            "amount": format_money(self.amount, campaign.currency.exponent()),
            "currency": campaign.currency,
            "incurred_on": self.incurred_on.to_string(),
            "note": self.note,
            "created_at": crate::lead::format_timestamp(self.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::FormSet;

    fn campaign(currency: &str) -> Campaign {
        let body = json!({"slug": "c", "name": "c", "currency": currency});
        Campaign::create(
            body.as_object().unwrap(),
            &FormSet::builtin(),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap()
    }

    fn entry(body: Value, currency: &str) -> Result<CostEntry> {
        CostEntry::from_json(
            body.as_object().unwrap(),
            &campaign(currency),
            jiff::Timestamp::UNIX_EPOCH,
        )
    }

    #[test]
    fn amounts_are_exact_minor_units_of_the_campaign_currency() {
        assert_eq!(
            entry(
                json!({"amount": "48500.50", "incurred_on": "2025-03-01"}),
                "CNY"
            )
            .unwrap()
            .amount,
            4_850_050
        );
        assert_eq!(
            entry(json!({"amount": 1000, "incurred_on": "2025-03-01"}), "JPY")
                .unwrap()
                .amount,
            1000
        );
        let field = |body: Value, currency: &str| entry(body, currency).unwrap_err().field.unwrap();
        assert_eq!(
            field(json!({"amount": "1.5", "incurred_on": "2025-03-01"}), "JPY"),
            "amount"
        );
        assert_eq!(
            field(
                json!({"amount": "1.234", "incurred_on": "2025-03-01"}),
                "CNY"
            ),
            "amount"
        );
        assert_eq!(
            field(json!({"amount": -5, "incurred_on": "2025-03-01"}), "CNY"),
            "amount"
        );
        assert_eq!(
            field(
                json!({"amount": "1e20", "incurred_on": "2025-03-01"}),
                "CNY"
            ),
            "amount"
        );
        assert_eq!(
            field(json!({"amount": 1e20, "incurred_on": "2025-03-01"}), "CNY"),
            "amount"
        );
        assert_eq!(field(json!({"incurred_on": "2025-03-01"}), "CNY"), "amount");
        assert_eq!(
            field(json!({"amount": 1, "incurred_on": "03/01/2025"}), "CNY"),
            "incurred_on"
        );
        assert_eq!(field(json!({"amount": 1}), "CNY"), "incurred_on");
        assert_eq!(
            field(
                json!({"amount": 1, "incurred_on": "2025-03-01", "vendor": "x"}),
                "CNY"
            ),
            "vendor"
        );
    }
}
