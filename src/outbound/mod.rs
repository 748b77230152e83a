//! Outgoing HTTP for the delivery workers: sends a [`crate::delivery::OutgoingRequest`]
//! and brings back the receiver's status and the start of its answer, or a short message
//! for `last_error`.
//!
//! Destinations must be on the public internet unless the server runs with
//! `--allow-private-destinations`: otherwise a stolen admin token could point a
//! destination at the internal network and use leadgate to probe it (see [`address`]).
//! The rule is checked when a destination is saved ([`check_url`]) and again here at send
//! time, because a name can resolve somewhere else by then (DNS rebinding): the client's
//! own resolver drops private addresses, and an IP-literal URL, which reqwest connects to
//! without asking any resolver, is checked before sending.
//!
//! Other limits, each so one bad receiver cannot hold a worker or its memory: redirects
//! are not followed (a 3xx is the answer; following it would also leave the checked
//! host), one timeout covers connect, request and answer, only the first
//! [`MAX_ANSWER_BYTES`] of an answer are read, and proxies from the environment are
//! ignored (a proxy would do the DNS, out of this check's reach).

pub mod address;
mod resolver;

use std::error::Error as StdError;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect::Policy;
use url::{Host, Url};

use crate::delivery::OutgoingRequest;

pub use address::{UrlProblem, check_url, is_private};
use resolver::{GuardedResolver, Refused};

/// One attempt, from connecting to the last byte of the answer (API.md: "timeout of 15 s").
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Connecting (DNS, TCP and TLS) gets a third of that: a host that does not even accept
/// a connection in 5 s is down, and saying so is a better `last_error` than a bare timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of an answer is read: enough for any robot's `errcode` JSON and for the test
/// endpoint's 1 KiB quote; a receiver sending more is not buffered.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Idle keep-alive connections are dropped after this, so a receiver that moved is
/// looked up again soon.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

const USER_AGENT: &str = concat!("leadgate/", env!("CARGO_PKG_VERSION"));

/// The receiver's answer. A 3xx is an answer like any other: redirects are not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// At most the first [`MAX_ANSWER_BYTES`] of the body.
    pub body: Vec<u8>,
}

/// Sends delivery requests. One per server: it holds the connection pool, and clones
/// share it.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
    connect_timeout: Duration,
}

impl Outbound {
    /// The sender with the delivery timeout of [`REQUEST_TIMEOUT`].
    pub fn new(allow_private: bool) -> Result<Outbound, String> {
        Outbound::with_timeout(allow_private, REQUEST_TIMEOUT)
    }

    /// The sender with another total timeout per attempt (tests use a short one).
    pub fn with_timeout(allow_private: bool, timeout: Duration) -> Result<Outbound, String> {
        let connect_timeout = timeout.min(CONNECT_TIMEOUT);
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .no_proxy()
            .user_agent(USER_AGENT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .dns_resolver(GuardedResolver { allow_private })
            .build()
            .map_err(|e| format!("cannot set up outgoing HTTP: {}", innermost(&e)))?;
        Ok(Outbound {
            client,
            allow_private,
            timeout,
            connect_timeout,
        })
    }

    /// `POST`s `request` and returns the answer, or why there is none: the text is short
    /// and made for `last_error` ("connection refused: 127.0.0.1:9", "timed out after
    /// 15 s", "private address 10.0.0.1 refused").
    pub async fn post(&self, request: &OutgoingRequest) -> Result<Answer, String> {
        let url = address::parse_http_url(&request.url).map_err(|p| p.to_string())?;
        self.refuse_private_literal(&url)?;
        let headers = header_map(&request.headers)?;
        let response = self
            .client
            .post(url.clone())
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| self.describe(&e, &url))?;
        let status = response.status().as_u16();
        let body = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| self.describe(&e, &url))?;
        Ok(Answer { status, body })
    }

    /// reqwest connects to an IP literal without asking the resolver, so the resolver's
    /// rule is applied here for them.
    fn refuse_private_literal(&self, url: &Url) -> Result<(), String> {
        let ip: IpAddr = match url.host() {
            Some(Host::Ipv4(ip)) => ip.into(),
            Some(Host::Ipv6(ip)) => ip.into(),
            _ => return Ok(()),
        };
        if is_private(ip) && !self.allow_private {
            return Err(Refused(ip).to_string());
        }
        Ok(())
    }

    /// A reqwest error as one short line: our own refusals as they are, then timeouts and
    /// refused connections in plain words, else the innermost cause (which names the
    /// actual problem: a TLS alert, "connection reset", …).
    fn describe(&self, error: &reqwest::Error, url: &Url) -> String {
        if let Some(refused) = find::<Refused>(error) {
            return refused.to_string();
        }
        if let Some(problem) = find::<UrlProblem>(error) {
            return problem.to_string();
        }
        let target = authority(url);
        if error.is_timeout() && error.is_connect() {
            return format!(
                "connecting to {target} timed out after {}",
                duration_text(self.connect_timeout)
            );
        }
        if error.is_timeout() {
            return format!("timed out after {}", duration_text(self.timeout));
        }
        let refused = find::<std::io::Error>(error)
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        if refused {
            return format!("connection refused: {target}");
        }
        if error.is_connect() {
            return format!("could not connect to {target}: {}", innermost(error));
        }
        format!("request to {target} failed: {}", innermost(error))
    }
}

/// Reads the body until its end or `limit` bytes, whichever comes first; the rest is
/// never read (dropping the response closes the connection).
async fn read_capped(mut response: reqwest::Response, limit: usize) -> reqwest::Result<Vec<u8>> {
    let mut body = Vec::new();
    while body.len() < limit {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(body)
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| format!("invalid value for header {name}"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// `host:port` as connected to, for messages.
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// "15 s" or "300 ms", as a person would write the timeout.
fn duration_text(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    causes(error).find_map(|e| e.downcast_ref::<E>())
}

fn innermost(error: &(dyn StdError + 'static)) -> String {
    causes(error)
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
