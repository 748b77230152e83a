//! HTTP plumbing shared by the handlers: the body type, bounded body reading, content
//! negotiation and small response builders.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use crate::error::{Error, ErrorKind, Result};

pub type Body = Full<Bytes>;
pub type Reply = Response<Body>;

/// Form posts and JSON bodies: a real form is a few hundred bytes.
pub const FORM_BODY_LIMIT: usize = 64 * 1024;
/// Admin JSON bodies (campaigns, status changes).
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Reads the whole body, refusing with 413 as soon as it passes `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Incoming, limit: usize) -> Result<Bytes> {
    let too_large = || {
        Error::new(
            ErrorKind::PayloadTooLarge,
            "body_too_large",
            format!("the request body is larger than {} KiB", limit / 1024),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(Error::bad_request(
            "body_unreadable",
            format!("the request body could not be read: {error}"),
        )),
    }
}

/// The media type of the body, lower-cased, without parameters.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// True when the client asked for JSON, by sending it or by `Accept`.
pub fn wants_json(headers: &HeaderMap) -> bool {
    content_type(headers).as_deref() == Some("application/json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                accept
                    .split(',')
                    .any(|part| part.trim().starts_with("application/json"))
            })
}

/// Parses a JSON body that must be an object.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::bad_request(
            "malformed_json",
            "the body must be a JSON object",
        )),
        Err(error) => Err(Error::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {error}"),
        )),
    }
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut body = serde_json::to_vec(value).expect("a JSON value always serialises");
    body.push(b'\n');
    with_type(status, body, "application/json")
}

pub fn html(status: StatusCode, page: String) -> Reply {
    let mut reply = with_type(status, page, "text/html; charset=utf-8");
    // Form pages carry a fresh idempotency token: never serve one from a cache.
    reply
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    with_type(status, body, "text/plain; charset=utf-8")
}

pub fn with_type(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

pub fn see_other(location: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        reply.headers_mut().insert(header::LOCATION, value);
    }
    reply
}

/// The error as the API's JSON shape.
pub fn error_json(error: &Error) -> Reply {
    let body = serde_json::json!({
        "error": { "code": error.code, "message": error.message, "field": error.field }
    });
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut reply = json(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if error.code == "login_required" {
            "Basic realm=\"leadgate\", charset=\"UTF-8\""
        } else {
            "Bearer realm=\"leadgate\""
        };
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        reply
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    reply
}

/// The query string's value for `key`, if any.
pub fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The query part of the `Referer` URL, for tracking values a post lacks.
pub fn referer_query(headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    url.query().map(str::to_owned)
}
