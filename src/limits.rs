//! Abuse limits at the edge: how many submissions and scans one client address may make
//! (per campaign where the campaign says so, e.g. a booth behind one venue Wi-Fi address),
//! a global ceiling over all of them, and which address a request really comes from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::RateLimit;

type KeyedLimiter = DefaultKeyedRateLimiter<IpAddr>;

/// A burst of `count`, refilled evenly over `period`: `300/10m` lets a visitor (or a
/// venue) post 300 at once and one more every two seconds after that.
fn quota(limit: RateLimit) -> Quota {
    let count = NonZeroU32::new(limit.count).unwrap_or(NonZeroU32::MIN);
    let refill = (limit.period / limit.count.max(1)).max(Duration::from_nanos(1));
    Quota::with_period(refill)
        .expect("refill period is not zero")
        .allow_burst(count)
}

/// All the limiters of a server.
pub struct Limits {
    default: Option<(RateLimit, Arc<KeyedLimiter>)>,
    /// Campaigns with their own limit: slug -> (its setting, its limiter).
    campaigns: Mutex<HashMap<String, (RateLimit, Arc<KeyedLimiter>)>>,
    global: Option<DefaultDirectRateLimiter>,
    trusted_proxies: Vec<IpNet>,
    clock: DefaultClock,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header, at least 1.
    pub fn seconds(self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

impl Limits {
    pub fn new(
        per_address: Option<RateLimit>,
        global: Option<RateLimit>,
        trusted_proxies: Vec<IpNet>,
    ) -> Limits {
        Limits {
            default: per_address.map(|limit| (limit, Arc::new(RateLimiter::keyed(quota(limit))))),
            campaigns: Mutex::new(HashMap::new()),
            global: global.map(|limit| RateLimiter::direct(quota(limit))),
            trusted_proxies,
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request from `client`. `campaign` is the campaign's slug and its own
    /// setting (`"off"`, `"300/10m"`), if it has one.
    pub fn check(
        &self,
        client: IpAddr,
        campaign: Option<(&str, Option<&str>)>,
    ) -> Result<(), RetryAfter> {
        let limiter = match campaign {
            Some((slug, Some(setting))) => match RateLimit::parse_setting(setting) {
                Ok(Some(limit)) => Some(self.campaign_limiter(slug, limit)),
                // "off": a campaign that takes its visitors' word for it.
                Ok(None) => None,
                Err(_) => self.default.as_ref().map(|(_, l)| l.clone()),
            },
            _ => self.default.as_ref().map(|(_, l)| l.clone()),
        };
        if let Some(limiter) = limiter {
            limiter
                .check_key(&client)
                .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now())))?;
        }
        self.check_global()
    }

    /// Counts one request against the global ceiling only.
    pub fn check_global(&self) -> Result<(), RetryAfter> {
        match &self.global {
            Some(global) => global
                .check()
                .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now()))),
            None => Ok(()),
        }
    }

    fn campaign_limiter(&self, slug: &str, limit: RateLimit) -> Arc<KeyedLimiter> {
        let mut campaigns = self.campaigns.lock().unwrap_or_else(|e| e.into_inner());
        match campaigns.get(slug) {
            Some((current, limiter)) if *current == limit => limiter.clone(),
            // New, or the campaign's limit was changed: start afresh with the new quota.
            _ => {
                let limiter = Arc::new(RateLimiter::keyed(quota(limit)));
                campaigns.insert(slug.to_owned(), (limit, limiter.clone()));
                limiter
            }
        }
    }

    /// Forgets addresses whose limits have fully refilled, so memory follows the
    /// addresses seen recently, not every address ever seen.
    pub fn evict(&self) {
        if let Some((_, limiter)) = &self.default {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let campaigns = self.campaigns.lock().unwrap_or_else(|e| e.into_inner());
        for (_, limiter) in campaigns.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Addresses currently tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        let campaigns = self.campaigns.lock().unwrap_or_else(|e| e.into_inner());
        self.default.as_ref().map_or(0, |(_, l)| l.len())
            + campaigns.values().map(|(_, l)| l.len()).sum::<usize>()
    }

    /// The client's address: the socket's peer, unless that peer is a trusted proxy, in
    /// which case the nearest untrusted address in `X-Forwarded-For`.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let mut chain = header
            .split(',')
            .rev()
            .map(|hop| hop.trim().parse::<IpAddr>());
        let mut client = peer;
        for hop in chain.by_ref() {
            match hop {
                Ok(address) => {
                    client = address;
                    if !self.is_trusted(address) {
                        break;
                    }
                }
                // A hop we cannot read ends what we can trust.
                Err(_) => break,
            }
        }
        client
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(address))
    }
}

/// An address range such as `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    address: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let bad = || format!("{text:?} is not an address or range like 10.0.0.1 or 10.0.0.0/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (text.trim().parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(IpNet { address, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let (ours, theirs, bits) = match (self.address, address) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            (IpAddr::V6(a), IpAddr::V4(b)) => (u128::from(a), u128::from(b.to_ipv6_mapped()), 128),
            (IpAddr::V4(a), IpAddr::V6(b)) => match b.to_ipv4_mapped() {
                Some(b) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
                None => return false,
            },
        };
        let host_bits = bits - u32::from(self.prefix);
        host_bits >= 128 || (ours >> host_bits) == (theirs >> host_bits)
    }
}

/// Parses a comma-separated list of addresses and ranges.
pub fn parse_ip_list(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(IpNet::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limit(text: &str) -> Option<RateLimit> {
        RateLimit::parse_setting(text).unwrap()
    }

    #[test]
    fn a_burst_passes_then_the_next_request_waits() {
        let limits = Limits::new(limit("3/1h"), None, Vec::new());
        for _ in 0..3 {
            assert!(limits.check(ip("10.0.0.1"), None).is_ok());
        }
        let wait = limits.check(ip("10.0.0.1"), None).unwrap_err();
        assert!(wait.seconds() > 1000 && wait.seconds() <= 1200, "{wait:?}");
        assert!(
            limits.check(ip("10.0.0.2"), None).is_ok(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn a_campaign_can_raise_its_own_limit_or_turn_it_off() {
        let limits = Limits::new(limit("2/1h"), None, Vec::new());
        let venue = ip("203.0.113.7");
        for _ in 0..300 {
            assert!(limits.check(venue, Some(("expo", Some("300/10m")))).is_ok());
        }
        assert!(
            limits
                .check(venue, Some(("expo", Some("300/10m"))))
                .is_err()
        );
        for _ in 0..1000 {
            assert!(limits.check(venue, Some(("live", Some("off")))).is_ok());
        }
        assert!(limits.check(venue, Some(("other", None))).is_ok());
    }

    #[test]
    fn the_global_ceiling_counts_everyone() {
        let limits = Limits::new(None, limit("5/1h"), Vec::new());
        for n in 0..5 {
            assert!(limits.check(ip(&format!("10.0.0.{n}")), None).is_ok());
        }
        assert!(limits.check(ip("10.0.0.99"), None).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = Limits::new(None, None, parse_ip_list("10.0.0.0/8, ::1").unwrap());
        assert_eq!(
            limits.client_address(ip("203.0.113.9"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        assert_eq!(
            limits.client_address(ip("10.1.2.3"), Some("1.2.3.4")),
            ip("1.2.3.4")
        );
        assert_eq!(
            limits.client_address(ip("10.1.2.3"), Some("6.6.6.6, 1.2.3.4, 10.9.9.9")),
            ip("1.2.3.4")
        );
        assert_eq!(
            limits.client_address(ip("10.1.2.3"), Some("garbage")),
            ip("10.1.2.3")
        );
        assert_eq!(
            limits.client_address(ip("::1"), Some("2001:db8::1")),
            ip("2001:db8::1")
        );
        assert_eq!(limits.client_address(ip("10.1.2.3"), None), ip("10.1.2.3"));
    }

    #[test]
    fn ranges_contain_what_they_should() {
        let net = IpNet::parse("192.168.1.0/24").unwrap();
        assert!(net.contains(ip("192.168.1.200")) && !net.contains(ip("192.168.2.1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(
            IpNet::parse("10.0.0.1")
                .unwrap()
                .contains(ip("::ffff:10.0.0.1"))
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x"] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let limits = Limits::new(
            Some(RateLimit {
                count: 2,
                period: Duration::from_millis(2),
            }),
            None,
            Vec::new(),
        );
        for n in 0..50 {
            limits.check(ip(&format!("10.0.1.{n}")), None).unwrap();
        }
        assert_eq!(limits.tracked(), 50);
        std::thread::sleep(Duration::from_millis(5));
        limits.evict();
        assert_eq!(limits.tracked(), 0);
    }
}
