//! Cross-site request forgery defence for the console. Browsers resend Basic credentials
//! with any site's request, so a state-changing request must show it came from one of the
//! console's own pages: no foreign `Origin` or `Sec-Fetch-Site`, and a form token that
//! only someone who can read the page (that is, who knows the admin token) can have.

use hmac::{Hmac, KeyInit, Mac};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use sha2::Sha256;

use crate::error::{Error, ErrorKind, Result};
use crate::state::AppState;

/// The hidden form field that carries the token.
pub const FIELD: &str = "_csrf";

fn forbidden(code: &'static str, message: &str) -> Error {
    Error::new(ErrorKind::Forbidden, code, message)
}

/// Refuses a request a browser sent on another site's behalf. Runs before the body is
/// read. Clients that are not browsers send neither header and are judged by the token.
pub fn check_origin(state: &AppState, request: &Request<Incoming>) -> Result<()> {
    check_headers(request.headers(), &state.public_url)
}

fn check_headers(headers: &HeaderMap, public_url: &str) -> Result<()> {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let Some(site) = fetch_site
        && site != "same-origin"
        && site != "none"
    {
        return Err(forbidden(
            "cross_site_request",
            "the console only accepts changes sent from its own pages",
        ));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("null").trim_end_matches('/');
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let own = |origin: &str| {
        origin.eq_ignore_ascii_case(public_url.trim_end_matches('/'))
            || host.is_some_and(|host| {
                origin.split_once("://").is_some_and(|(scheme, rest)| {
                    matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
                })
            })
    };
    if origin == "null" || !own(origin) {
        return Err(forbidden(
            "cross_site_request",
            "the console only accepts changes sent from its own pages",
        ));
    }
    Ok(())
}

/// The token of the form that posts to `action`: an HMAC of the action under the admin
/// token's hash, so it changes when the token is reset and differs between forms.
pub fn token(admin_token_hash: &[u8; 32], action: &str) -> String {
    hex(&mac(admin_token_hash, action).finalize().into_bytes())
}

fn mac(admin_token_hash: &[u8; 32], action: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(admin_token_hash).expect("HMAC takes any key");
    mac.update(b"leadgate console form\0");
    mac.update(action.as_bytes());
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer to a post without the right form token.
pub fn refused() -> Error {
    forbidden(
        "missing_form_token",
        "the form token is missing or stale; reload the page and submit again",
    )
}

/// Checks a posted token in constant time.
pub fn verify(admin_token_hash: &[u8; 32], action: &str, presented: Option<&str>) -> Result<()> {
    let presented = presented.ok_or_else(refused)?;
    let bytes = decode_hex(presented).ok_or_else(refused)?;
    mac(admin_token_hash, action)
        .verify_slice(&bytes)
        .map_err(|_| refused())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    const PUBLIC: &str = "https://leads.example.com";

    #[test]
    fn own_origin_passes_and_others_do_not() {
        let ok = |pairs| check_headers(&headers(pairs), PUBLIC).is_ok();
        assert!(ok(&[]));
        assert!(ok(&[("origin", "https://leads.example.com")]));
        assert!(ok(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ]));
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(!ok(&[("origin", "null")]));
        assert!(!ok(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ]));
        assert!(!ok(&[
            ("origin", "http://127.0.0.1:8080.evil"),
            ("host", "127.0.0.1:8080")
        ]));
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(!ok(&[("sec-fetch-site", "same-site")]));
    }

    #[test]
    fn tokens_are_bound_to_the_form_and_the_credentials() {
        let key = [7u8; 32];
        let token = token(&key, "/admin/campaigns");
        assert!(verify(&key, "/admin/campaigns", Some(&token)).is_ok());
        assert!(verify(&key, "/admin/leads/import", Some(&token)).is_err());
        assert!(verify(&[8u8; 32], "/admin/campaigns", Some(&token)).is_err());
        assert!(verify(&key, "/admin/campaigns", None).is_err());
        assert!(verify(&key, "/admin/campaigns", Some("zz")).is_err());
    }
}
