//! The DNS resolver behind every outgoing connection. The check when a destination is
//! saved proves nothing about later: its name can be made to resolve to 127.0.0.1 or
//! 10.0.0.1 afterwards (DNS rebinding). So the addresses actually connected to come from
//! here, and private ones are dropped unless allowed; reqwest connects only to what this
//! returns.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::{is_private, lookup};

/// Resolves with tokio (the system resolver) under the same timeout as the save-time
/// check, keeping only the addresses leadgate may send to.
pub(super) struct GuardedResolver {
    pub(super) allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = lookup(name.as_str()).await?;
            let kept = keep_allowed(found, allow_private)?;
            // Port 0: reqwest puts in the URL's port (or the scheme's).
            let addrs: Addrs = Box::new(kept.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// `found` without its private addresses (unless allowed). A name with public and private
/// addresses is still reachable on the public ones; one with only private ones is refused,
/// naming the first.
pub(super) fn keep_allowed(
    found: Vec<IpAddr>,
    allow_private: bool,
) -> Result<Vec<IpAddr>, Refused> {
    if allow_private {
        return Ok(found);
    }
    let first = found.first().copied();
    let kept: Vec<IpAddr> = found.into_iter().filter(|&ip| !is_private(ip)).collect();
    match first {
        Some(ip) if kept.is_empty() => Err(Refused(ip)),
        _ => Ok(kept),
    }
}

/// A connection not made because the address is private. Its text is what `last_error`
/// shows, so it is found in reqwest's error chain and reported as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refused(pub(super) IpAddr);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "private address {} refused", self.0)
    }
}

impl std::error::Error for Refused {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(texts: &[&str]) -> Vec<IpAddr> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn private_addresses_are_dropped() {
        let found = ips(&["10.0.0.1", "1.1.1.1", "::1", "2606:4700::1111"]);
        assert_eq!(
            keep_allowed(found, false),
            Ok(ips(&["1.1.1.1", "2606:4700::1111"]))
        );
    }

    #[test]
    fn only_private_addresses_is_refused() {
        let found = ips(&["127.0.0.1", "::1"]);
        let refused = keep_allowed(found, false).unwrap_err();
        assert_eq!(refused.to_string(), "private address 127.0.0.1 refused");
    }

    #[test]
    fn allowed_private_addresses_are_kept() {
        let found = ips(&["127.0.0.1", "8.8.8.8"]);
        assert_eq!(keep_allowed(found.clone(), true), Ok(found));
    }
}
