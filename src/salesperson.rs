//! The sales roster: who leads are assigned to, and how each chat platform names them so
//! an alert can mention them (API.md, "Sales follow-through").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::campaign::{optional_text, required_text};
use crate::domain::{LeadId, Phone};
use crate::error::{Error, Result, reject_unknown_keys};
use crate::lead::format_timestamp;

/// The keys a create or patch body may carry (the console's form has the same fields).
pub const FIELDS: &[&str] = &[
    "name",
    "mobile",
    "wecom_userid",
    "dingtalk_userid",
    "feishu_open_id",
    "active",
];

const MAX_NAME_CHARS: usize = 100;
/// Platform user ids are short ASCII tokens (`zhangsan`, `manager4521`, `ou_7d8a6e6…`).
const MAX_PLATFORM_ID_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Salesperson {
    pub id: LeadId,
    pub name: String,
    pub mobile: Option<Phone>,
    pub wecom_userid: Option<String>,
    pub dingtalk_userid: Option<String>,
    pub feishu_open_id: Option<String>,
    /// Inactive people keep their leads but get no new ones.
    pub active: bool,
    #[serde(with = "crate::domain::compact_time")]
    pub created_at: jiff::Timestamp,
    #[serde(with = "crate::domain::compact_time")]
    pub updated_at: jiff::Timestamp,
}

impl Salesperson {
    pub fn create(body: &Map<String, Value>, now: jiff::Timestamp) -> Result<Salesperson> {
        reject_unknown_keys(body, FIELDS, "salesperson")?;
        if !body.contains_key("name") {
            return Err(Error::invalid("name", "required", "name is required"));
        }
        let mut person = Salesperson {
            id: LeadId::generate(),
            name: String::new(),
            mobile: None,
            wecom_userid: None,
            dingtalk_userid: None,
            feishu_open_id: None,
            active: true,
            created_at: now,
            updated_at: now,
        };
        person.apply(body, now)?;
        Ok(person)
    }

    /// Applies a `PATCH` body: only the keys present change; `null` clears optional ones.
    pub fn patch(&mut self, body: &Map<String, Value>, now: jiff::Timestamp) -> Result<()> {
        reject_unknown_keys(body, FIELDS, "salesperson")?;
        self.apply(body, now)
    }

    fn apply(&mut self, body: &Map<String, Value>, now: jiff::Timestamp) -> Result<()> {
        for (key, value) in body {
            match key.as_str() {
                "name" => self.name = required_text(value, "name", MAX_NAME_CHARS)?,
                "mobile" => {
                    self.mobile = optional_text(value, "mobile", 40)?
                        .map(|text| Phone::parse(&text).map_err(|e| e.with_field("mobile")))
                        .transpose()?;
                }
                "wecom_userid" => self.wecom_userid = platform_id(value, key)?,
                "dingtalk_userid" => self.dingtalk_userid = platform_id(value, key)?,
                "feishu_open_id" => self.feishu_open_id = platform_id(value, key)?,
                "active" => {
                    self.active = value.as_bool().ok_or_else(|| {
                        Error::invalid("active", "invalid_value", "active must be true or false")
                    })?;
                }
                _ => unreachable!("unknown keys are refused first"),
            }
        }
        self.updated_at = now;
        Ok(())
    }

    /// The mobile as DingTalk's `atMobiles` wants it: national digits for a mainland
    /// number (`13912340001`), the E.164 digits otherwise.
    pub fn mobile_for_mentions(&self) -> Option<String> {
        let e164 = self.mobile.as_ref()?.as_str();
        let digits = e164.trim_start_matches('+');
        Some(digits.strip_prefix("86").unwrap_or(digits).to_owned())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "mobile": self.mobile,
            "wecom_userid": self.wecom_userid,
            "dingtalk_userid": self.dingtalk_userid,
            "feishu_open_id": self.feishu_open_id,
            "active": self.active,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        })
    }
}

/// A platform user id goes into chat markup (`<@id>`, `<at user_id="id">`): only the
/// characters such ids use, so it can never break out of the mention.
fn platform_id(value: &Value, field: &str) -> Result<Option<String>> {
    let id = optional_text(value, field, MAX_PLATFORM_ID_CHARS)?;
    if let Some(id) = &id
        && !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        return Err(Error::invalid(
            field,
            "invalid_value",
            format!("{field} may hold only letters, digits, '_', '-', '.' and '@'"),
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-11-29T10:00:00Z".parse().unwrap()
    }

    fn create(body: Value) -> Result<Salesperson> {
        Salesperson::create(body.as_object().unwrap(), now())
    }

    #[test]
    fn a_salesperson_needs_a_name_and_may_carry_platform_ids() {
        let person = create(json!({"name": "王芳", "mobile": "139 1234 0001",
            "wecom_userid": "wangfang", "feishu_open_id": "ou_7d8a6e6df7621556ce0d21922b676706"}))
        .unwrap();
        assert!(person.active);
        assert_eq!(person.mobile.as_ref().unwrap().as_str(), "+8613912340001");
        assert_eq!(person.mobile_for_mentions().as_deref(), Some("13912340001"));
        assert_eq!(person.to_json()["wecom_userid"], "wangfang");
        assert_eq!(person.to_json()["dingtalk_userid"], Value::Null);
    }

    #[test]
    fn bad_input_names_its_field() {
        let cases = [
            (json!({"mobile": "13912340001"}), "name", "required"),
            (json!({"name": ""}), "name", "required"),
            (json!({"name": "x", "mobile": "12"}), "mobile", ""),
            (
                json!({"name": "x", "wecom_userid": "a>b"}),
                "wecom_userid",
                "invalid_value",
            ),
            (
                json!({"name": "x", "feishu_open_id": "ou_1\"/>"}),
                "feishu_open_id",
                "invalid_value",
            ),
            (
                json!({"name": "x", "active": "yes"}),
                "active",
                "invalid_value",
            ),
            (
                json!({"name": "x", "team": "north"}),
                "team",
                "unknown_field",
            ),
        ];
        for (body, field, code) in cases {
            let error = create(body.clone()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{body}");
            if !code.is_empty() {
                assert_eq!(error.code, code, "{body}");
            }
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let mut person = create(json!({"name": "王芳", "wecom_userid": "wangfang"})).unwrap();
        person
            .patch(
                json!({"active": false, "wecom_userid": null})
                    .as_object()
                    .unwrap(),
                now(),
            )
            .unwrap();
        assert_eq!((person.name.as_str(), person.active), ("王芳", false));
        assert_eq!(person.wecom_userid, None);
    }
}
