//! Follow-ups: what a salesperson did about a lead (called, visited, messaged …), the
//! facts behind "how fast and how often were this campaign's leads followed up"
//! (API.md, "Follow-ups").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::campaign::optional_text;
use crate::domain::{LeadId, is_forbidden_in_text};
use crate::error::{Error, Result, reject_unknown_keys};
use crate::lead::format_timestamp;

const FIELDS: &[&str] = &["kind", "at", "note"];
const MAX_NOTE_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Call,
    Visit,
    Message,
    Email,
    Note,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Call,
        ActivityKind::Visit,
        ActivityKind::Message,
        ActivityKind::Email,
        ActivityKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Call => "call",
            ActivityKind::Visit => "visit",
            ActivityKind::Message => "message",
            ActivityKind::Email => "email",
            ActivityKind::Note => "note",
        }
    }

    pub fn parse(text: &str) -> Option<ActivityKind> {
        ActivityKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub id: LeadId,
    pub lead: LeadId,
    pub kind: ActivityKind,
    /// When it happened (the salesperson may record a call afterwards).
    #[serde(with = "crate::domain::compact_time")]
    pub at: jiff::Timestamp,
    pub note: Option<String>,
    #[serde(with = "crate::domain::compact_time")]
    pub created_at: jiff::Timestamp,
}

impl Activity {
    /// An activity on `lead` (received at `received_at`) from a `POST` body.
    pub fn create(
        body: &Map<String, Value>,
        lead: LeadId,
        received_at: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<Activity> {
        reject_unknown_keys(body, FIELDS, "activity")?;
        let kind = match body.get("kind") {
            None => return Err(Error::invalid("kind", "required", "kind is required")),
            Some(value) => value
                .as_str()
                .and_then(ActivityKind::parse)
                .ok_or_else(|| {
                    Error::invalid(
                        "kind",
                        "invalid_value",
                        "kind must be one of call, visit, message, email, note",
                    )
                })?,
        };
        let at = match body.get("at") {
            None | Some(Value::Null) => now,
            Some(Value::String(text)) => text.parse::<jiff::Timestamp>().map_err(|_| {
                Error::invalid(
                    "at",
                    "invalid_time",
                    "at must be an RFC 3339 time like 2026-11-29T10:30:00+08:00",
                )
            })?,
            Some(_) => {
                return Err(Error::invalid("at", "invalid_time", "at must be a string"));
            }
        };
        // The one rule (and error code) for every time a client reports.
        let at = crate::conversion::not_in_future(at, now, "at")?;
        if at < received_at {
            return Err(Error::invalid(
                "at",
                "before_lead",
                "at must not be before the lead was received",
            ));
        }
        let note = match body.get("note") {
            None => None,
            Some(value) => note(value)?,
        };
        Ok(Activity {
            id: LeadId::generate(),
            lead,
            kind,
            at,
            note,
            created_at: now,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "lead_id": self.lead,
            "kind": self.kind.as_str(),
            "at": format_timestamp(self.at),
            "note": self.note,
            "created_at": format_timestamp(self.created_at),
        })
    }
}

/// A note may span lines (what the customer said), but holds no other control characters.
fn note(value: &Value) -> Result<Option<String>> {
    if let Value::String(text) = value
        && text.chars().any(|c| c == '\n' || c == '\r')
    {
        if text.chars().count() > MAX_NOTE_CHARS {
            return Err(Error::invalid(
                "note",
                "too_long",
                format!("note must be at most {MAX_NOTE_CHARS} characters"),
            ));
        }
        if text.chars().any(|c| is_forbidden_in_text(c, true)) {
            return Err(Error::invalid(
                "note",
                "invalid_value",
                "note must not contain control characters",
            ));
        }
        let text = text.trim();
        return Ok((!text.is_empty()).then(|| text.to_owned()));
    }
    optional_text(value, "note", MAX_NOTE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn create(body: Value) -> Result<Activity> {
        Activity::create(
            body.as_object().unwrap(),
            LeadId::generate(),
            at("2026-11-28T00:00:00Z"),
            at("2026-11-29T10:00:00Z"),
        )
    }

    #[test]
    fn an_activity_defaults_to_now_and_keeps_a_multi_line_note() {
        let activity = create(json!({"kind": "call", "note": "客户说下周\n再联系"})).unwrap();
        assert_eq!(activity.at, at("2026-11-29T10:00:00Z"));
        assert_eq!(activity.note.as_deref(), Some("客户说下周\n再联系"));
        let earlier = create(json!({"kind": "visit", "at": "2026-11-28T18:30:00+08:00"})).unwrap();
        assert_eq!(earlier.at, at("2026-11-28T10:30:00Z"));
        assert_eq!(earlier.to_json()["kind"], "visit");
    }

    #[test]
    fn bad_input_names_its_field() {
        for (body, field, code) in [
            (json!({}), "kind", "required"),
            (json!({"kind": "lunch"}), "kind", "invalid_value"),
            (
                json!({"kind": "call", "at": "yesterday"}),
                "at",
                "invalid_time",
            ),
            (
                json!({"kind": "call", "at": "2026-11-30T10:00:00Z"}),
                "at",
                "in_future",
            ),
            (
                json!({"kind": "call", "at": "2026-11-27T10:00:00Z"}),
                "at",
                "before_lead",
            ),
            (
                json!({"kind": "call", "note": "a\u{202E}b"}),
                "note",
                "invalid_value",
            ),
            (json!({"kind": "call", "who": "x"}), "who", "unknown_field"),
        ] {
            let error = create(body.clone()).unwrap_err();
            assert_eq!(
                (error.field.as_deref(), error.code),
                (Some(field), code),
                "{body}"
            );
        }
    }
}
