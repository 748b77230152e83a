//! HTTP plumbing shared by the handlers: the body type, bounded body reading, content
//! negotiation and small response builders.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use crate::error::{Error, ErrorKind, Result};

pub type Reply = Response<Body>;

/// A reply's body: whole (almost every answer), or chunks that arrive from a channel
/// while the answer is being sent (a backup, far larger than memory should hold).
pub enum Body {
    Full(Full<Bytes>),
    Stream {
        chunks: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
        /// Held until the last chunk has gone: the connection counts as busy meanwhile,
        /// so its idle timeout cannot close it under a long download.
        keep: Option<Box<dyn std::any::Any + Send + Sync>>,
    },
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::Full(Full::new(bytes.into()))
    }

    /// A body sent chunk by chunk as they arrive on `chunks`; an `Err` chunk aborts the
    /// reply (the client sees a broken transfer, never a complete-looking one).
    pub fn stream(chunks: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> Body {
        Body::Stream { chunks, keep: None }
    }

    /// Keeps `guard` alive until a streamed body ends (a whole body is sent at once).
    pub fn holding(self, guard: impl std::any::Any + Send + Sync) -> Body {
        match self {
            Body::Stream { chunks, .. } => Body::Stream {
                chunks,
                keep: Some(Box::new(guard)),
            },
            full => full,
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, std::io::Error>>>
    {
        match self.get_mut() {
            Body::Full(full) => std::pin::Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            Body::Stream { chunks, keep } => {
                let polled = chunks
                    .poll_recv(cx)
                    .map(|chunk| chunk.map(|c| c.map(hyper::body::Frame::data)));
                if let std::task::Poll::Ready(None | Some(Err(_))) = &polled {
                    keep.take();
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(full) => full.is_end_stream(),
            Body::Stream { .. } => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(full) => full.size_hint(),
            Body::Stream { .. } => hyper::body::SizeHint::default(),
        }
    }
}

/// A blocking `Write` whose bytes become a streamed body's chunks: a blocking task writes
/// a large answer into it, at most `CHUNKS_IN_FLIGHT` chunks ahead of the client.
pub struct ChunkWriter {
    chunks: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    pending: Vec<u8>,
}

/// Size of one streamed chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks a streamed body may hold before its writer waits: memory stays a few hundred
/// KiB whatever the answer's size or the client's speed.
pub const CHUNKS_IN_FLIGHT: usize = 8;

impl ChunkWriter {
    /// The writer, and the body its chunks go to.
    pub fn new() -> (ChunkWriter, Body) {
        let (chunks, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let writer = ChunkWriter {
            chunks,
            pending: Vec::with_capacity(CHUNK),
        };
        (writer, Body::stream(receiver))
    }

    fn send(&mut self, chunk: std::io::Result<Bytes>) -> std::io::Result<()> {
        // Blocking: only ever called on a blocking-pool thread.
        self.chunks.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client stopped reading")
        })
    }

    /// Ends the body with an error: the client's transfer breaks off.
    pub fn fail(mut self, error: &str) {
        let _ = self.send(Err(std::io::Error::other(error.to_owned())));
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Chunks of exactly `CHUNK` bytes: the buffer is never grown, so each chunk is one
        // allocation of one size.
        let room = CHUNK - self.pending.len();
        let taken = room.min(buf.len());
        self.pending.extend_from_slice(&buf[..taken]);
        if self.pending.len() == CHUNK {
            self.flush()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(CHUNK),
        ));
        self.send(Ok(chunk))
    }
}

/// Form posts and JSON bodies: a real form is a few hundred bytes.
pub const FORM_BODY_LIMIT: usize = 64 * 1024;
/// Admin JSON bodies (campaigns, status changes).
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// How long a body may take to arrive; `app` puts it into each request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// The client's address as the rate limits see it (after trusted proxies).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Reads the whole body, refusing with 413 as soon as it passes `limit` bytes and with
/// 408 when it takes longer than the request's `BodyTimeout`.
pub async fn read_body(
    parts: &hyper::http::request::Parts,
    body: Incoming,
    limit: usize,
) -> Result<Bytes> {
    let headers = &parts.headers;
    let timeout = parts
        .extensions
        .get::<BodyTimeout>()
        .map_or(std::time::Duration::from_secs(30), |t| t.0);
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
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| {
            Error::new(
                ErrorKind::RequestTimeout,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs()
                ),
            )
        })?;
    match collected {
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

/// Parses a JSON body that must be an object whose keys are all different (a repeated
/// key is ambiguous: which value did the sender mean?).
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice::<UniqueKeys>(body) {
        Ok(UniqueKeys(Some(map))) => Ok(map),
        Ok(UniqueKeys(None)) => Err(Error::bad_request(
            "malformed_json",
            "the body must be a JSON object",
        )),
        Err(error) if error.to_string().starts_with(DUPLICATE_KEY) => Err(Error::bad_request(
            "duplicate_key",
            format!(
                "the body repeats a key: {}",
                error.to_string().trim_start_matches(DUPLICATE_KEY)
            ),
        )),
        Err(error) => Err(Error::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {error}"),
        )),
    }
}

pub(crate) const DUPLICATE_KEY: &str = "duplicate key ";

/// A top-level JSON object read with duplicate keys refused; `None` for any other value.
pub(crate) struct UniqueKeys(pub(crate) Option<serde_json::Map<String, serde_json::Value>>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<UniqueKeys, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<UniqueKeys, A::Error> {
                let mut map = serde_json::Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("{DUPLICATE_KEY}{key:?}")));
                    }
                    let value: serde_json::Value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(UniqueKeys(Some(map)))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<UniqueKeys, A::Error> {
                while access.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(UniqueKeys(None))
            }

            fn visit_bool<E>(self, _: bool) -> std::result::Result<UniqueKeys, E> {
                Ok(UniqueKeys(None))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<UniqueKeys, E> {
                Ok(UniqueKeys(None))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<UniqueKeys, E> {
                Ok(UniqueKeys(None))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<UniqueKeys, E> {
                Ok(UniqueKeys(None))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<UniqueKeys, E> {
                Ok(UniqueKeys(None))
            }
            fn visit_unit<E>(self) -> std::result::Result<UniqueKeys, E> {
                Ok(UniqueKeys(None))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    let mut body = serde_json::to_vec(value).expect("our answers always serialise");
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
    let mut reply = Response::new(Body::full(body));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// An admin body: a JSON object; anything else is refused before it is read further.
pub async fn json_body(
    request: hyper::Request<Incoming>,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let (parts, body) = request.into_parts();
    if content_type(&parts.headers).as_deref() != Some("application/json") {
        return Err(Error::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let bytes = read_body(&parts, body, JSON_BODY_LIMIT).await?;
    json_object(&bytes)
}

/// A file the browser saves rather than shows, under `filename` (ASCII, no quotes).
pub fn attachment(body: impl Into<Bytes>, content_type: &'static str, filename: &str) -> Reply {
    let mut reply = with_type(StatusCode::OK, body, content_type);
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        reply
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    reply
}

/// A CSV download; `X-Next-Cursor` says where an export that stopped at its limit would
/// go on.
pub fn csv_attachment(body: Vec<u8>, filename: &str, next_cursor: Option<&str>) -> Reply {
    let mut reply = attachment(body, "text/csv; charset=utf-8", filename);
    if let Some(cursor) = next_cursor.and_then(|c| HeaderValue::from_str(c).ok()) {
        reply.headers_mut().insert("x-next-cursor", cursor);
    }
    reply
}

pub fn see_other(location: &str) -> Reply {
    let mut reply = Response::new(Body::full(Bytes::new()));
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
    set_retry_after(&mut reply, error);
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

/// `Retry-After` on 429 (the limiter's wait) and 503 (a second: the writer catches up fast).
pub fn set_retry_after(reply: &mut Reply, error: &Error) {
    let seconds = match (error.retry_after, reply.status()) {
        (Some(seconds), _) => seconds,
        (None, StatusCode::SERVICE_UNAVAILABLE) => 1,
        _ => return,
    };
    reply
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_must_be_objects_without_repeated_keys() {
        assert_eq!(json_object(br#"{"a":1,"b":{"a":2}}"#).unwrap().len(), 2);
        assert_eq!(
            json_object(br#"{"a":1,"a":2}"#).unwrap_err().code,
            "duplicate_key"
        );
        assert_eq!(json_object(b"[1]").unwrap_err().code, "malformed_json");
        assert_eq!(json_object(b"\"x\"").unwrap_err().code, "malformed_json");
        assert_eq!(
            json_object(b"{\"a\":1e999}").unwrap_err().code,
            "malformed_json"
        );
        assert_eq!(
            json_object(b"{\"a\":\"\xff\"}").unwrap_err().code,
            "malformed_json"
        );
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            json_object(deep.as_bytes()).unwrap_err().code,
            "malformed_json"
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn json_bodies_never_panic(body in proptest::collection::vec(prop_oneof![
            Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'), Just(b':'), Just(b','), Just(b'1'), Just(b'a'), any::<u8>()
        ], 0..300)) {
            if let Err(error) = json_object(&body) {
                prop_assert_eq!(error.status(), 400);
            }
        }
    }
}
