//! Abuse limits at the edge: how many submissions and scans one client address may make
//! (per campaign where the campaign says so, e.g. a booth behind one venue Wi-Fi address),
//! a global ceiling over all of them, and which address a request really comes from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::domain::{RateLimit, RateSetting};

type KeyedLimiter<C> =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;
/// A limit and the limiter that enforces it (replaced when the limit changes).
type Enforced<C> = (RateLimit, Arc<KeyedLimiter<C>>);
type DirectLimiter<C> =
    RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A burst of `count`, refilled evenly over `period`: `300/10m` lets a visitor (or a
/// venue) post 300 at once and one more every two seconds after that.
fn quota(limit: RateLimit) -> Quota {
    let count = NonZeroU32::new(limit.count).unwrap_or(NonZeroU32::MIN);
    let refill = (limit.period / limit.count.max(1)).max(Duration::from_nanos(1));
    Quota::with_period(refill)
        .expect("refill period is not zero")
        .allow_burst(count)
}

/// All the limiters of a server, on one clock: the real one in the server, a fake one
/// that tests move forward.
pub struct Limits<C: Clock = DefaultClock> {
    default: Option<Enforced<C>>,
    /// Campaigns with their own limit, by slug.
    campaigns: Mutex<HashMap<String, Enforced<C>>>,
    global: Option<DirectLimiter<C>>,
    trusted_proxies: Vec<IpNet>,
    clock: C,
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
        Limits::with_clock(
            per_address,
            global,
            trusted_proxies,
            DefaultClock::default(),
        )
    }
}

impl<C: Clock + Clone> Limits<C> {
    pub fn with_clock(
        per_address: Option<RateLimit>,
        global: Option<RateLimit>,
        trusted_proxies: Vec<IpNet>,
        clock: C,
    ) -> Limits<C> {
        Limits {
            default: per_address.map(|limit| (limit, Arc::new(keyed(limit, &clock)))),
            campaigns: Mutex::new(HashMap::new()),
            global: global.map(|limit| RateLimiter::direct_with_clock(quota(limit), clock.clone())),
            trusted_proxies,
            clock,
        }
    }

    /// Counts one request from `client`. `campaign` is the campaign's slug and its own
    /// setting, if it has one.
    pub fn check(
        &self,
        client: IpAddr,
        campaign: Option<(&str, Option<RateSetting>)>,
    ) -> Result<(), RetryAfter> {
        let limiter = match campaign {
            Some((slug, Some(RateSetting::Limit(limit)))) => {
                Some(self.campaign_limiter(slug, limit))
            }
            // "off": a campaign that takes its visitors' word for it.
            Some((_, Some(RateSetting::Off))) => None,
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

    fn campaign_limiter(&self, slug: &str, limit: RateLimit) -> Arc<KeyedLimiter<C>> {
        let mut campaigns = self.campaigns.lock().unwrap_or_else(|e| e.into_inner());
        match campaigns.get(slug) {
            Some((current, limiter)) if *current == limit => limiter.clone(),
            // New, or the campaign's limit was changed: start afresh with the new quota.
            _ => {
                let limiter = Arc::new(keyed(limit, &self.clock));
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

    /// The client's address: the socket's peer, unless that peer is a trusted proxy, in
    /// which case the nearest untrusted address in `X-Forwarded-For`.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.is_trusted_proxy(peer) {
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
                    if !self.is_trusted_proxy(address) {
                        break;
                    }
                }
                // A hop we cannot read ends what we can trust.
                Err(_) => break,
            }
        }
        client
    }

    /// Whether `address` is one of `--trusted-proxies`: its connections carry many
    /// visitors, so no per-address connection cap applies to it either.
    pub fn is_trusted_proxy(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(address))
    }
}

fn keyed<C: Clock + Clone>(limit: RateLimit, clock: &C) -> KeyedLimiter<C> {
    RateLimiter::new(
        quota(limit),
        DefaultKeyedStateStore::default(),
        clock.clone(),
    )
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
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limit(text: &str) -> Option<RateLimit> {
        RateLimit::parse_setting(text).unwrap()
    }

    fn setting(text: &str) -> Option<RateSetting> {
        Some(text.parse().unwrap())
    }

    /// Limits on a clock the test moves.
    fn on_fake_clock(
        per_address: Option<RateLimit>,
        global: Option<RateLimit>,
    ) -> (Limits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(per_address, global, Vec::new(), clock.clone());
        (limits, clock)
    }

    /// Addresses the limiters currently remember.
    fn tracked<C: Clock>(limits: &Limits<C>) -> usize {
        let campaigns = limits.campaigns.lock().unwrap();
        limits.default.as_ref().map_or(0, |(_, l)| l.len())
            + campaigns.values().map(|(_, l)| l.len()).sum::<usize>()
    }

    #[test]
    fn a_burst_passes_then_the_next_request_waits() {
        let (limits, clock) = on_fake_clock(limit("3/1h"), None);
        for _ in 0..3 {
            assert!(limits.check(ip("10.0.0.1"), None).is_ok());
        }
        let wait = limits.check(ip("10.0.0.1"), None).unwrap_err();
        assert_eq!(wait.seconds(), 1200, "one request refills every 20 minutes");
        assert!(
            limits.check(ip("10.0.0.2"), None).is_ok(),
            "other addresses are not affected"
        );
        clock.advance(Duration::from_secs(1199));
        assert_eq!(limits.check(ip("10.0.0.1"), None).unwrap_err().seconds(), 1);
        clock.advance(Duration::from_secs(1));
        assert!(limits.check(ip("10.0.0.1"), None).is_ok());
        assert!(limits.check(ip("10.0.0.1"), None).is_err());
    }

    #[test]
    fn a_campaign_can_raise_its_own_limit_or_turn_it_off() {
        let limits = Limits::new(limit("2/1h"), None, Vec::new());
        let venue = ip("203.0.113.7");
        for _ in 0..300 {
            assert!(
                limits
                    .check(venue, Some(("expo", setting("300/10m"))))
                    .is_ok()
            );
        }
        assert!(
            limits
                .check(venue, Some(("expo", setting("300/10m"))))
                .is_err()
        );
        for _ in 0..1000 {
            assert!(limits.check(venue, Some(("live", setting("off")))).is_ok());
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
    fn the_default_ceiling_lets_a_livestreams_flash_through() {
        // 5,000 viewers post within the same second after "scan now", each from their own
        // phone, five seconds running: the box stores that (README, "Performance"), so the
        // defaults refuse none of it.
        let (limits, clock) = on_fake_clock(
            limit(crate::config::DEFAULT_RATE_LIMIT),
            limit(crate::config::DEFAULT_GLOBAL_RATE_LIMIT),
        );
        for second in 0..5u32 {
            for viewer in 0..5_000u32 {
                let address = std::net::IpAddr::from(std::net::Ipv4Addr::from(
                    0x0A00_0000 + second * 5_000 + viewer,
                ));
                assert!(limits.check(address, None).is_ok(), "second {second}");
            }
            clock.advance(Duration::from_secs(1));
        }
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
        let (limits, clock) = on_fake_clock(limit("2/10s"), None);
        for n in 0..50 {
            limits.check(ip(&format!("10.0.1.{n}")), None).unwrap();
        }
        limits
            .check(ip("10.0.2.1"), Some(("expo", setting("5/1m"))))
            .unwrap();
        assert_eq!(tracked(&limits), 51);
        clock.advance(Duration::from_secs(4));
        limits.evict();
        assert_eq!(tracked(&limits), 51, "not refilled yet: still remembered");
        clock.advance(Duration::from_secs(60));
        limits.evict();
        assert_eq!(tracked(&limits), 0);
    }
}
