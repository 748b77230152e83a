//! `POST /hooks/call`: a call-tracking platform reports a call to a tracking number; the
//! caller becomes a lead of the campaign that prints that number.

use hmac::{Hmac, KeyInit, Mac};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::domain::{Phone, Reach};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::lead::{Capture, Channel, Details};
use crate::service::{campaigns, leads};
use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "x-leadgate-signature";
const MAX_CALL_ID_CHARS: usize = 128;
const MAX_DURATION_S: u64 = 7 * 86_400;

pub async fn call(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let Some(secret) = state.call_secret.as_deref() else {
        return Err(Error::new(
            ErrorKind::Unavailable,
            "not_configured",
            "call tracking is not configured: set LEADGATE_CALL_SECRET",
        ));
    };
    let (parts, body) = request.into_parts();
    let signature = parts
        .headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = http::read_body(&parts, body, http::FORM_BODY_LIMIT).await?;
    if let Err(refused) = verify(secret, &body, signature.as_deref()) {
        // Guessing signatures costs the guesser its address's quota; the platform's
        // signed calls are held only by the global ceiling.
        if let Some(http::ClientAddr(client)) = parts.extensions.get::<http::ClientAddr>().copied()
        {
            state
                .limits
                .check(client, None)
                .map_err(|wait| Error::too_many_requests(wait.seconds()))?;
        }
        return Err(refused);
    }
    state
        .limits
        .check_global()
        .map_err(|wait| Error::too_many_requests(wait.seconds()))?;
    let object = http::json_object(&body)?;
    let call = CallReport::parse(&object, jiff::Timestamp::now())?;
    let service = &state.service;
    let campaign = campaigns::by_tracking_number(service, &call.tracking_number)
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "tracking_number",
                "unknown_tracking_number",
                format!(
                    "no campaign lists the tracking number {}",
                    call.tracking_number.as_str()
                ),
            )
        })?;
    let outcome = leads::record(service, call.into_capture(&campaign)).await?;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(http::json(
        status,
        &json!({ "lead_id": outcome.id, "campaign": campaign.slug, "duplicate": outcome.duplicate }),
    ))
}

impl CallReport {
    /// The caller becomes a lead of the campaign; the call's facts are its fields.
    fn into_capture(self, campaign: &crate::campaign::Campaign) -> Capture {
        let mut fields = std::collections::BTreeMap::from([
            ("call_id".to_owned(), self.call_id.clone()),
            (
                "tracking_number".to_owned(),
                self.tracking_number.as_str().to_owned(),
            ),
        ]);
        if let Some(duration) = self.duration_s {
            fields.insert("duration_s".into(), duration.to_string());
        }
        Capture {
            campaign: campaign.slug.clone(),
            details: Details {
                name: None,
                reach: Reach::Phone(self.caller),
                company: None,
                fields,
                tracking: Default::default(),
            },
            channel: Channel::Call {
                call_id: self.call_id,
                started_at: self.started_at,
            },
        }
    }
}

/// Checks `sha256=<hex>` against the HMAC of the raw body, in constant time.
fn verify(secret: &[u8], body: &[u8], signature: Option<&str>) -> Result<()> {
    let refused = |why: &str| Error::new(ErrorKind::Unauthorized, "bad_signature", why.to_owned());
    let signature = signature.ok_or_else(|| refused("missing X-Leadgate-Signature header"))?;
    let hex = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| refused("the signature must look like sha256=<hex>"))?;
    let expected =
        decode_hex(hex).ok_or_else(|| refused("the signature must look like sha256=<hex>"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| Error::internal("HMAC key rejected"))?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| refused("the signature does not match the body"))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The webhook body, checked.
#[derive(Debug)]
struct CallReport {
    call_id: String,
    tracking_number: Phone,
    caller: Phone,
    started_at: jiff::Timestamp,
    duration_s: Option<u64>,
}

impl CallReport {
    fn parse(body: &serde_json::Map<String, Value>, now: jiff::Timestamp) -> Result<CallReport> {
        let text = |key: &str| -> Result<Option<String>> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(Error::invalid(
                    key,
                    "invalid_value",
                    format!("{key} must be a string"),
                )),
            }
        };
        let required = |key: &str| -> Result<String> {
            text(key)?.ok_or_else(|| Error::invalid(key, "required", format!("{key} is required")))
        };
        let call_id = required("call_id")?;
        if call_id.chars().count() > MAX_CALL_ID_CHARS
            || call_id
                .chars()
                .any(|c| crate::domain::is_forbidden_in_text(c, false))
        {
            return Err(Error::invalid(
                "call_id",
                "invalid_value",
                format!("call_id must be at most {MAX_CALL_ID_CHARS} printable characters"),
            ));
        }
        let tracking_number = Phone::parse(&required("tracking_number")?)
            .map_err(|e| e.with_field("tracking_number"))?;
        let caller = Phone::parse(&required("caller")?).map_err(|e| e.with_field("caller"))?;
        let started_at = match text("started_at")? {
            Some(t) => crate::conversion::parse_timestamp(&t, "started_at")?,
            None => now,
        };
        let started_at = crate::conversion::not_in_future(started_at, now, "started_at")?;
        let duration_s = match body.get("duration_s") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_u64().filter(|d| *d <= MAX_DURATION_S).ok_or_else(|| {
                Error::invalid("duration_s", "invalid_value", format!("duration_s must be a whole number of seconds from 0 to {MAX_DURATION_S}"))
            })?),
            Some(_) => return Err(Error::invalid("duration_s", "invalid_value", "duration_s must be a number")),
        };
        Ok(CallReport {
            call_id,
            tracking_number,
            caller,
            started_at,
            duration_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!(
            "sha256={}",
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    }

    #[test]
    fn only_the_exact_body_with_the_secret_passes() {
        let body = br#"{"call_id":"c1"}"#;
        let good = sign(b"s3cret", body);
        assert!(verify(b"s3cret", body, Some(&good)).is_ok());
        assert!(verify(b"s3cret", br#"{"call_id":"c2"}"#, Some(&good)).is_err());
        assert!(verify(b"other", body, Some(&good)).is_err());
        assert!(verify(b"s3cret", body, None).is_err());
        assert!(verify(b"s3cret", body, Some("sha256=zz")).is_err());
        assert!(verify(b"s3cret", body, Some(good.trim_start_matches("sha256="))).is_err());
    }

    #[test]
    fn reports_are_checked_field_by_field() {
        let now: jiff::Timestamp = "2025-03-01T12:00:00Z".parse().unwrap();
        let parse = |v: Value| CallReport::parse(v.as_object().unwrap(), now);
        let ok = parse(
            json!({"call_id": "c1", "tracking_number": "021 6123 4567", "caller": "13800138000",
            "started_at": "2025-03-01T10:00:00+08:00", "duration_s": 95}),
        )
        .unwrap();
        assert_eq!(
            (
                ok.tracking_number.as_str(),
                ok.caller.as_str(),
                ok.duration_s
            ),
            ("+862161234567", "+8613800138000", Some(95))
        );
        let field = |v: Value| parse(v).unwrap_err().field.unwrap();
        assert_eq!(
            field(json!({"tracking_number": "02161234567", "caller": "13800138000"})),
            "call_id"
        );
        assert_eq!(
            field(json!({"call_id": "c", "tracking_number": "1", "caller": "13800138000"})),
            "tracking_number"
        );
        assert_eq!(
            field(json!({"call_id": "c", "tracking_number": "02161234567", "caller": "x"})),
            "caller"
        );
        assert_eq!(
            field(
                json!({"call_id": "c", "tracking_number": "02161234567", "caller": "13800138000", "duration_s": -1})
            ),
            "duration_s"
        );
        assert_eq!(
            field(
                json!({"call_id": "c", "tracking_number": "02161234567", "caller": "13800138000", "started_at": "2030-01-01T00:00:00Z"})
            ),
            "started_at"
        );
    }
}
