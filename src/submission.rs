//! Turns the raw key/value pairs of a form post (urlencoded or JSON) into a typed,
//! validated `Submission` — or into one message per bad field, so the visitor can fix
//! them all at once.

use std::collections::BTreeMap;

use crate::domain::{
    CLICK_ID_KEYS, Email, Phone, REF_KEY, Reach, UTM_KEYS, clean_tracking_value,
    is_forbidden_in_text,
};
use crate::forms::{FieldDef, FieldKind, FormDef};
use crate::lead::Details;

pub const TOKEN_FIELD: &str = "_token";
pub const HONEYPOT_FIELD: &str = "_hp";
/// Pairs a form post may carry: fields, the tracking set and the control fields, with room.
pub const MAX_FIELDS: usize = 200;
const MAX_TOKEN_CHARS: usize = 128;

/// Where the visitor came from: UTM parameters, ad click ids and a free `ref`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracking {
    pub utm: BTreeMap<String, String>,
    pub click_ids: BTreeMap<String, String>,
    pub referral: Option<String>,
}

impl Tracking {
    /// Reads the tracking set from `primary`, taking each key that is absent there from
    /// `fallback` (the `Referer` URL's query for a form post).
    pub fn collect<'a>(
        primary: impl Fn(&str) -> Option<&'a str>,
        fallback: impl Fn(&str) -> Option<&'a str>,
    ) -> Tracking {
        let value = |key: &str| {
            primary(key)
                .and_then(clean_tracking_value)
                .or_else(|| fallback(key).and_then(clean_tracking_value))
        };
        let map = |keys: &[&str]| {
            keys.iter()
                .filter_map(|k| value(k).map(|v| ((*k).to_owned(), v)))
                .collect()
        };
        Tracking {
            utm: map(UTM_KEYS),
            click_ids: map(CLICK_ID_KEYS),
            referral: value(REF_KEY),
        }
    }

    pub fn from_query(query: &str) -> Tracking {
        let pairs = query_pairs(query);
        Tracking::collect(|k| first_value(&pairs, k), |_| None)
    }

    /// The tracking set as key/value pairs in display order (for hidden form fields).
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for key in crate::domain::tracking_keys() {
            let value = if key == REF_KEY {
                self.referral.clone()
            } else {
                self.utm
                    .get(key)
                    .or_else(|| self.click_ids.get(key))
                    .cloned()
            };
            if let Some(value) = value {
                pairs.push((key.to_owned(), value));
            }
        }
        pairs
    }

    /// A lead is a QR lead when the scan redirect's tags are on it.
    pub fn is_qr_scan(&self) -> bool {
        self.utm.get("utm_source").map(String::as_str) == Some("qr")
            && self.utm.get("utm_medium").map(String::as_str) == Some("offline")
    }
}

pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

pub fn first_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// One problem with one field, with its words for visitors (Chinese) and for API clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
    pub message_zh: String,
}

impl FieldError {
    fn new(field: &str, code: &'static str, message: String, message_zh: String) -> FieldError {
        FieldError {
            field: field.to_owned(),
            code,
            message,
            message_zh,
        }
    }

    pub fn to_error(&self) -> crate::Error {
        crate::Error::invalid(self.field.clone(), self.code, self.message.clone())
    }
}

/// One key or value of a urlencoded body: `+` is a space and `%XX` a byte, and a `%` not
/// followed by two hex digits stays as it is (as `percent_encoding` reads it). `None` when
/// the bytes are not UTF-8. Written out because it runs for every pair of every post: the
/// general decoder copied each part twice (once to turn `+` into spaces) and cost about a
/// fifth of a form post's request-side instructions.
fn decode_component(part: &[u8]) -> Option<String> {
    if !part.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(part).ok().map(str::to_owned);
    }
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let mut bytes = Vec::with_capacity(part.len());
    let mut at = 0;
    while at < part.len() {
        match part[at] {
            b'+' => bytes.push(b' '),
            b'%' => {
                if let (Some(high), Some(low)) = (hex(part.get(at + 1)), hex(part.get(at + 2))) {
                    // Two hex digits make at most 0xFF.
                    bytes.push((high * 16 + low) as u8);
                    at += 3;
                    continue;
                }
                bytes.push(b'%');
            }
            other => bytes.push(other),
        }
        at += 1;
    }
    String::from_utf8(bytes).ok()
}

/// The raw pairs of a post. Values that were not text (JSON arrays, objects) are kept as
/// `None` so that they can be reported against their field.
#[derive(Debug, Default, Clone)]
pub struct RawSubmission {
    pub values: Vec<(String, Option<String>)>,
}

impl RawSubmission {
    /// Reads a urlencoded body strictly: the text must be UTF-8 once decoded, no key may
    /// come twice, and a form has at most `MAX_FIELDS` pairs.
    pub fn from_urlencoded(body: &[u8]) -> crate::Result<RawSubmission> {
        let decode = |part: &[u8]| -> crate::Result<String> {
            decode_component(part).ok_or_else(|| {
                crate::Error::bad_request(
                    "invalid_utf8",
                    "the form is not valid UTF-8; send it with accept-charset=\"utf-8\"",
                )
            })
        };
        let mut values: Vec<(String, Option<String>)> = Vec::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            if values.len() == MAX_FIELDS {
                return Err(crate::Error::bad_request(
                    "too_many_fields",
                    format!("a form has at most {MAX_FIELDS} fields"),
                ));
            }
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let key = decode(key)?;
            if values.iter().any(|(k, _)| *k == key) {
                return Err(crate::Error::bad_request(
                    "duplicate_field",
                    format!("the field {key:?} was sent twice"),
                )
                .with_field(key));
            }
            values.push((key, Some(decode(value)?)));
        }
        Ok(RawSubmission { values })
    }

    /// A JSON object; strings, numbers and booleans are text (`false` is an unticked box).
    pub fn from_json(object: serde_json::Map<String, serde_json::Value>) -> RawSubmission {
        use serde_json::Value;
        let values = object
            .into_iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    Value::Null | Value::Bool(false) => return None,
                    Value::Bool(true) => Some("true".to_owned()),
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Array(_) | Value::Object(_) => None,
                };
                Some((key, text))
            })
            .collect();
        RawSubmission { values }
    }

    /// The first value sent under `key` (a form posted twice keeps its first).
    pub fn get(&self, key: &str) -> Option<Option<&str>> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.get(key).flatten()
    }
}

/// A valid submission: everything typed, trimmed and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub details: Details,
    pub token: Option<String>,
}

/// Checks a raw post against the campaign's form. `referer_query` fills tracking values the
/// post lacks.
pub fn validate(
    form: &FormDef,
    raw: &RawSubmission,
    referer_query: Option<&str>,
) -> Result<Submission, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for field in &form.fields {
        match check_field(field, raw.get(&field.name)) {
            Ok(Some(value)) => {
                values.insert(field.name.clone(), value);
            }
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    let phone = take_parsed(&mut values, &mut errors, "phone", Phone::parse);
    let email = take_parsed(&mut values, &mut errors, "email", Email::parse);
    let has_contact_error = errors
        .iter()
        .any(|e| e.field == "phone" || e.field == "email");
    let reach = Reach::new(phone, email);
    if reach.is_none() && !has_contact_error {
        let field = if form.field("phone").is_some() {
            "phone"
        } else {
            "email"
        };
        errors.push(FieldError::new(
            field,
            "phone_or_email_required",
            "a phone number or an e-mail address is required".into(),
            "请填写手机号或邮箱，以便我们与您联系".into(),
        ));
    }
    let token = raw
        .text(TOKEN_FIELD)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    if let Some(token) = &token
        && (token.chars().count() > MAX_TOKEN_CHARS || !token.chars().all(|c| c.is_ascii_graphic()))
    {
        errors.push(FieldError::new(
            TOKEN_FIELD,
            "invalid_token",
            format!("_token must be at most {MAX_TOKEN_CHARS} visible ASCII characters"),
            "页面已过期，请刷新后重新提交".into(),
        ));
    }
    let Some(reach) = reach.filter(|_| errors.is_empty()) else {
        // Report in the order the visitor sees the fields.
        let position = |name: &str| {
            form.fields
                .iter()
                .position(|f| f.name == name)
                .unwrap_or(usize::MAX)
        };
        errors.sort_by_key(|e| position(&e.field));
        return Err(errors);
    };
    let referer_pairs = referer_query.map(query_pairs).unwrap_or_default();
    let tracking = Tracking::collect(|k| raw.text(k), |k| first_value(&referer_pairs, k));
    Ok(Submission {
        details: Details {
            name: values.remove("name"),
            company: values.remove("company"),
            reach,
            fields: values,
            tracking,
        },
        token,
    })
}

fn take_parsed<T>(
    values: &mut BTreeMap<String, String>,
    errors: &mut Vec<FieldError>,
    field: &str,
    parse: impl Fn(&str) -> crate::Result<T>,
) -> Option<T> {
    let text = values.remove(field)?;
    match parse(&text) {
        Ok(value) => Some(value),
        Err(error) => {
            let zh = if field == "phone" {
                "手机号格式不正确，请检查后重新填写"
            } else {
                "邮箱格式不正确，请检查后重新填写"
            };
            errors.push(FieldError::new(field, error.code, error.message, zh.into()));
            None
        }
    }
}

/// Checks one field's raw value: required, length, options, checkbox state.
fn check_field(field: &FieldDef, raw: Option<Option<&str>>) -> Result<Option<String>, FieldError> {
    let label = &field.label;
    let Some(raw) = raw else {
        return missing(field);
    };
    let Some(text) = raw else {
        return Err(FieldError::new(
            &field.name,
            "invalid_value",
            format!("{} must be text", field.name),
            format!("{label}的内容无效"),
        ));
    };
    let text = text.trim();
    if field.kind == FieldKind::Checkbox {
        return match text.to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "off" | "no" => missing(field),
            _ => Ok(Some("true".into())),
        };
    }
    if text.is_empty() {
        return missing(field);
    }
    let chars = text.chars().count();
    if chars > field.max_chars() {
        return Err(FieldError::new(
            &field.name,
            "too_long",
            format!(
                "{} is {chars} characters long; at most {} are allowed",
                field.name,
                field.max_chars()
            ),
            format!("{label}最多 {} 个字", field.max_chars()),
        ));
    }
    let multi_line = field.kind == FieldKind::Textarea;
    if text.chars().any(|c| is_forbidden_in_text(c, multi_line)) {
        return Err(FieldError::new(
            &field.name,
            "invalid_value",
            format!("{} contains control characters", field.name),
            format!("{label}包含无效字符"),
        ));
    }
    if field.kind == FieldKind::Select && !field.options.iter().any(|o| o == text) {
        return Err(FieldError::new(
            &field.name,
            "invalid_option",
            format!(
                "{} must be one of: {}",
                field.name,
                field.options.join(", ")
            ),
            format!("请从列表中选择{label}"),
        ));
    }
    Ok(Some(text.to_owned()))
}

fn missing(field: &FieldDef) -> Result<Option<String>, FieldError> {
    if !field.required {
        return Ok(None);
    }
    let zh = if field.kind == FieldKind::Checkbox {
        format!("请勾选“{}”", field.label)
    } else {
        format!("请填写{}", field.label)
    };
    Err(FieldError::new(
        &field.name,
        "required",
        format!("{} is required", field.name),
        zh,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::FormSet;
    use proptest::prelude::*;

    fn default_form() -> std::sync::Arc<FormDef> {
        FormSet::builtin().get("default").unwrap()
    }

    fn post(body: &str) -> RawSubmission {
        RawSubmission::from_urlencoded(body.as_bytes()).unwrap()
    }

    #[test]
    fn hostile_form_bodies_are_refused_whole() {
        let code = |body: &[u8]| RawSubmission::from_urlencoded(body).unwrap_err().code;
        assert_eq!(code(b"name=%FF%FE&phone=1"), "invalid_utf8");
        assert_eq!(code(b"name=\xff"), "invalid_utf8");
        assert_eq!(code(b"phone=1&phone=2"), "duplicate_field");
        let many: Vec<String> = (0..=MAX_FIELDS).map(|i| format!("f{i}=x")).collect();
        assert_eq!(code(many.join("&").as_bytes()), "too_many_fields");
        let raw = RawSubmission::from_urlencoded(b"name=a+b%20c&empty=&flag").unwrap();
        assert_eq!(raw.get("name"), Some(Some("a b c")));
        assert_eq!(raw.get("flag"), Some(Some("")));
    }

    fn fields_of(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_post_is_typed_and_normalised() {
        let sub = validate(
            &default_form(),
            &post("name=%E5%BC%A0%E4%B8%89&phone=138+0013+8000&email=+A@B.COM&company=ACME&title=CTO&consent=on&_token=t1&utm_source=baidu&bd_vid=xyz&ref=poster"),
            None,
        )
        .unwrap();
        let token = sub.token.clone();
        let sub = sub.details;
        assert_eq!(sub.name.as_deref(), Some("张三"));
        assert_eq!(sub.reach.phone().unwrap().as_str(), "+8613800138000");
        assert_eq!(sub.reach.email().unwrap().as_str(), "A@b.com");
        assert_eq!(sub.fields.get("consent").map(String::as_str), Some("true"));
        assert_eq!(sub.fields.get("title").map(String::as_str), Some("CTO"));
        assert_eq!(
            sub.tracking.utm.get("utm_source").map(String::as_str),
            Some("baidu")
        );
        assert_eq!(
            sub.tracking.click_ids.get("bd_vid").map(String::as_str),
            Some("xyz")
        );
        assert_eq!(sub.tracking.referral.as_deref(), Some("poster"));
        assert_eq!(token.as_deref(), Some("t1"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors =
            validate(&default_form(), &post("phone=12345&email=nope&name="), None).unwrap_err();
        assert_eq!(fields_of(errors), ["phone", "email", "consent"]);
    }

    #[test]
    fn a_lead_needs_a_phone_or_an_email() {
        let errors = validate(&default_form(), &post("name=x&consent=on"), None).unwrap_err();
        assert_eq!(errors[0].code, "phone_or_email_required");
        assert_eq!(errors[0].field, "phone");
        assert!(validate(&default_form(), &post("email=a@b.cn&consent=on"), None).is_ok());
    }

    #[test]
    fn over_long_values_are_refused_not_cut() {
        let body = format!("phone=13800138000&consent=on&name={}", "长".repeat(51));
        let errors = validate(&default_form(), &post(&body), None).unwrap_err();
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code),
            ("name", "too_long")
        );
    }

    #[test]
    fn tracking_falls_back_to_the_referer_query_per_key() {
        let sub = validate(
            &default_form(),
            &post("phone=13800138000&consent=on&utm_source=body"),
            Some("utm_source=referer&utm_medium=cpc&gclid=g1"),
        )
        .unwrap();
        let tracking = sub.details.tracking;
        assert_eq!(tracking.utm["utm_source"], "body");
        assert_eq!(tracking.utm["utm_medium"], "cpc");
        assert_eq!(tracking.click_ids["gclid"], "g1");
    }

    #[test]
    fn json_values_of_the_wrong_shape_are_named() {
        let json = serde_json::json!({"phone": ["13800138000"], "consent": true});
        let raw = RawSubmission::from_json(json.as_object().unwrap().clone());
        let errors = validate(&default_form(), &raw, None).unwrap_err();
        assert_eq!(errors[0].field, "phone");
        let json = serde_json::json!({"phone": 13800138000_u64, "consent": true});
        let raw = RawSubmission::from_json(json.as_object().unwrap().clone());
        assert!(validate(&default_form(), &raw, None).is_ok());
    }

    #[test]
    fn qr_scans_are_recognised_by_their_tags() {
        let tracking = Tracking::from_query("utm_source=qr&utm_medium=offline&utm_content=booth-a");
        assert!(tracking.is_qr_scan());
        assert!(!Tracking::from_query("utm_source=qr").is_qr_scan());
    }

    proptest! {
        #[test]
        fn validation_never_panics_on_any_urlencoded_body(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(raw) = RawSubmission::from_urlencoded(&body) {
                let _ = validate(&default_form(), &raw, Some("utm_source=%FF"));
            }
        }

        #[test]
        fn a_component_decodes_as_the_general_percent_decoder_reads_it(
            part in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(b"%+09aFgZ= \xe5\xbc\xa0\xff".to_vec()),
                    any::<u8>(),
                ],
                0..40,
            )
        ) {
            let spaced: Vec<u8> = part.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
            let general = percent_encoding::percent_decode(&spaced)
                .decode_utf8()
                .ok()
                .map(|text| text.into_owned());
            prop_assert_eq!(decode_component(&part), general);
        }

        #[test]
        fn stored_tracking_values_are_bounded(value in "\\PC{0,400}") {
            let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("utm_term", &value).finish();
            let tracking = Tracking::from_query(&query);
            if let Some(term) = tracking.utm.get("utm_term") {
                prop_assert!(term.chars().count() <= crate::domain::MAX_TRACKING_VALUE_CHARS);
                prop_assert!(!term.is_empty());
            }
        }
    }
}
