//! Which addresses leadgate refuses to send to, and the check of a destination URL when it
//! is saved.
//!
//! Destination URLs come from the admin API, and `POST /api/destinations/{id}/test` even
//! reports the receiver's status and first KiB. Without this rule a stolen admin token
//! would make leadgate a probe into the network it runs in: routers on 10.x, databases on
//! localhost, the cloud metadata service at 169.254.169.254. So a destination must be on
//! the public internet unless the operator opts in (`--allow-private-destinations`, for
//! on-premises CRMs). [`check_url`] gives a clear `422` when a destination is saved; the
//! sender ([`super::Outbound`]) applies [`is_private`] again to what DNS says at send time,
//! because a name can point elsewhere by then (DNS rebinding).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use url::{Host, Url};

/// Longest destination URL accepted (dest-spec: `<= 2048` chars).
pub const MAX_URL_LEN: usize = 2048;

/// How long a host may take to resolve, when saved and when sent to.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// IPv4 networks that are not the public internet, as (network, prefix length). Anything
/// in them is either this machine, its LAN or provider network, or not routable at all.
const V4_NOT_PUBLIC: [(Ipv4Addr, u8); 15] = [
    // "This network"; Linux connects 0.0.0.0 to the local host.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private (RFC 1918)
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT, the provider's network (RFC 6598)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, where cloud metadata services answer
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private (RFC 1918)
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments (RFC 6890)
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation, TEST-NET-1 (RFC 5737)
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast, deprecated (RFC 7526)
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private (RFC 1918)
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking (RFC 2544)
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation, TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation, TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    // Reserved (RFC 1112), with the limited broadcast 255.255.255.255 at its end.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Global unicast IPv6 (RFC 4291; IANA allocates nothing outside it). The rest of the
/// space is loopback, unspecified, IPv4-compatible, unique local fc00::/7, link-local
/// fe80::/10, site-local fec0::/10, multicast ff00::/8, discard-only or unassigned, so it
/// is refused wholesale, except for the two prefixes that carry an IPv4 address (below).
const V6_GLOBAL: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// Parts of the global unicast space that still are not the public internet.
const V6_NOT_PUBLIC: [(Ipv6Addr, u8); 4] = [
    // Teredo tunnels: the client address inside is obfuscated, so it cannot be judged.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48), // benchmarking (RFC 5180)
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation (RFC 3849)
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
];

/// NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches a.b.c.d through the
/// network's translator, so it is exactly as private as a.b.c.d.
const NAT64: (Ipv6Addr, u8) = (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);

/// 6to4 (RFC 3056): 2002:AABB:CCDD::/48 is the site behind the IPv4 address AA.BB.CC.DD.
const SIX_TO_FOUR: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);

/// Whether `ip` is anything but a public internet address: loopback, private, link-local,
/// multicast, unspecified, broadcast, CGNAT, documentation, benchmarking, reserved, or an
/// IPv6 address that carries (or is translated to) such an IPv4 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    V4_NOT_PUBLIC
        .iter()
        .any(|&(network, len)| in_v4_network(ip, network, len))
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_private_v4(v4);
    }
    !in_v6_network(ip, V6_GLOBAL.0, V6_GLOBAL.1)
        || V6_NOT_PUBLIC
            .iter()
            .any(|&(network, len)| in_v6_network(ip, network, len))
}

/// The IPv4 address that traffic to `ip` ends up at, for the prefixes that say so:
/// IPv4-mapped ::ffff:a.b.c.d (a dual-stack socket connects to a.b.c.d), NAT64 and 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if in_v6_network(ip, NAT64.0, NAT64.1) {
        Some(Ipv4Addr::from(bits as u32))
    } else if in_v6_network(ip, SIX_TO_FOUR.0, SIX_TO_FOUR.1) {
        Some(Ipv4Addr::from((bits >> 80) as u32))
    } else {
        None
    }
}

fn in_v4_network(ip: Ipv4Addr, network: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(network) & mask
}

fn in_v6_network(ip: Ipv6Addr, network: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}

/// Why a destination URL is refused. Each variant is its own `422` code; the text names
/// the host and, for a private one, the address, so the user sees what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    /// Not an absolute http(s) URL with a host and without credentials, or too long.
    Invalid(String),
    /// The host did not resolve (in time).
    Unresolvable(String),
    /// The host is, or resolves to, a private address.
    Private(String),
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::Invalid(message)
            | UrlProblem::Unresolvable(message)
            | UrlProblem::Private(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for UrlProblem {}

/// Checks a destination URL before it is saved: an absolute http(s) URL with a host, no
/// user name or password, at most [`MAX_URL_LEN`] characters, whose host resolves (IP
/// literals without DNS) within [`DNS_TIMEOUT`] to no private address, unless
/// `allow_private`.
pub async fn check_url(url: &str, allow_private: bool) -> Result<(), UrlProblem> {
    if url.chars().count() > MAX_URL_LEN {
        return Err(UrlProblem::Invalid(format!(
            "URL is longer than {MAX_URL_LEN} characters"
        )));
    }
    let parsed = parse_http_url(url)?;
    let (host, addresses) = match parsed.host() {
        Some(Host::Domain(domain)) => (domain, lookup(domain).await?),
        Some(Host::Ipv4(ip)) => return refuse_private_literal(ip.into(), allow_private),
        Some(Host::Ipv6(ip)) => return refuse_private_literal(ip.into(), allow_private),
        None => unreachable!("parse_http_url requires a host"),
    };
    match addresses.into_iter().find(|&ip| is_private(ip)) {
        Some(ip) if !allow_private => Err(UrlProblem::Private(format!(
            "{host} resolves to the private address {ip}"
        ))),
        _ => Ok(()),
    }
}

fn refuse_private_literal(ip: IpAddr, allow_private: bool) -> Result<(), UrlProblem> {
    if is_private(ip) && !allow_private {
        return Err(UrlProblem::Private(format!("{ip} is a private address")));
    }
    Ok(())
}

/// Parses an absolute http(s) URL with a host and without credentials: the rules a URL
/// must meet both when saved and when sent to. (Credentials would be sent as Basic auth
/// and shown in the destination list; a secret belongs in the `secret` field.)
pub fn parse_http_url(url: &str) -> Result<Url, UrlProblem> {
    let parsed =
        Url::parse(url).map_err(|e| UrlProblem::Invalid(format!("not an absolute URL: {e}")))?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(UrlProblem::Invalid(format!(
            "URL scheme must be http or https, not {scheme}"
        )));
    }
    if parsed.host().is_none() {
        return Err(UrlProblem::Invalid("URL has no host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlProblem::Invalid(
            "URL must not contain a user name or password".into(),
        ));
    }
    Ok(parsed)
}

/// The addresses a domain name resolves to, within [`DNS_TIMEOUT`].
pub(super) async fn lookup(host: &str) -> Result<Vec<IpAddr>, UrlProblem> {
    let resolving = tokio::net::lookup_host((host, 0));
    let found = tokio::time::timeout(DNS_TIMEOUT, resolving)
        .await
        .map_err(|_| {
            UrlProblem::Unresolvable(format!(
                "{host} did not resolve within {} s",
                DNS_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| UrlProblem::Unresolvable(format!("{host} does not resolve: {e}")))?;
    let addresses: Vec<IpAddr> = found.map(|socket| socket.ip()).collect();
    if addresses.is_empty() {
        return Err(UrlProblem::Unresolvable(format!(
            "{host} resolves to no address"
        )));
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every range the rule must cover, written out independently of the tables above
    /// (CIDR text), so a slip in a table shows up here.
    const PRIVATE_RANGES: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::/96",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
        "2001:db8::/32",
        "2001:2::/48",
        "2001::/32",
        "3fff::/20",
        "64:ff9b:1::/48",
        // IPv4-mapped, NAT64 and 6to4 addresses that carry private IPv4 addresses.
        "::ffff:0.0.0.0/104",
        "::ffff:10.0.0.0/104",
        "::ffff:127.0.0.0/104",
        "::ffff:169.254.0.0/112",
        "::ffff:192.168.0.0/112",
        "64:ff9b::10.0.0.0/104",
        "64:ff9b::127.0.0.0/104",
        "64:ff9b::172.16.0.0/108",
        "64:ff9b::100.64.0.0/106",
        "2002:a00::/24",
        "2002:7f00::/24",
        "2002:a9fe::/32",
        "2002:c0a8::/32",
        "2002:e000::/20",
    ];

    const PUBLIC: &[&str] = &[
        "1.1.1.1",
        "8.8.8.8",
        "110.242.68.66",
        "2606:4700::1111",
        "2400:3200::1",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
        // Just outside the private ranges.
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "2001:1::1",
        "2001:db7:ffff::1",
        "2001:db9::1",
        "3fff:1000::1",
    ];

    fn cidr(text: &str) -> (IpAddr, u8) {
        let (address, len) = text.split_once('/').expect("a CIDR");
        (
            address.parse().expect("an address"),
            len.parse().expect("a length"),
        )
    }

    /// The address in `network`/`len` whose host part is taken from `bits`.
    fn inside(network: IpAddr, len: u8, bits: u128) -> IpAddr {
        match network {
            IpAddr::V4(n) => {
                let host = (bits as u32).checked_shr(u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(n) | host))
            }
            IpAddr::V6(n) => {
                let host = bits.checked_shr(u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(n) | host))
            }
        }
    }

    #[test]
    fn listed_ranges_are_private_at_both_ends() {
        for range in PRIVATE_RANGES {
            let (network, len) = cidr(range);
            for bits in [0, u128::MAX] {
                let ip = inside(network, len, bits);
                assert!(is_private(ip), "{ip} in {range}");
            }
        }
    }

    #[test]
    fn public_addresses_are_not_private() {
        for text in PUBLIC {
            let ip: IpAddr = text.parse().unwrap();
            assert!(!is_private(ip), "{ip}");
        }
    }

    #[test]
    fn named_special_addresses() {
        let cases = [
            ("0.0.0.0", true),
            ("255.255.255.255", true),
            ("169.254.169.254", true),
            ("::", true),
            ("::1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:127.0.0.1", true),
            ("::10.0.0.1", true),
            ("::8.8.8.8", true), // IPv4-compatible: deprecated, never a real destination
            ("fe80::1", true),
            ("fd00::1", true),
            ("fec0::1", true),
            ("ff02::1", true),
            ("64:ff9b::a00:1", true),
            ("2002:a00:1::", true),
            ("2002:c0a8:101::1", true),
            ("100::1", true), // discard-only
        ];
        for (text, private) in cases {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(is_private(ip), private, "{ip}");
        }
    }

    proptest! {
        #[test]
        fn every_address_in_a_listed_range_is_private(
            index in 0..PRIVATE_RANGES.len(),
            bits in any::<u128>(),
        ) {
            let (network, len) = cidr(PRIVATE_RANGES[index]);
            let ip = inside(network, len, bits);
            prop_assert!(is_private(ip), "{} in {}", ip, PRIVATE_RANGES[index]);
        }

        /// Wrapping an IPv4 address in the IPv6 forms that reach it changes nothing.
        #[test]
        fn ipv6_wrappers_judge_the_ipv4_inside(raw in any::<u32>(), tail in any::<u64>()) {
            let v4 = Ipv4Addr::from(raw);
            let expected = is_private(IpAddr::V4(v4));
            let mapped = v4.to_ipv6_mapped();
            let nat64 = Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(raw));
            let six_to_four =
                Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(raw) << 80) | u128::from(tail));
            for ip in [mapped, nat64, six_to_four] {
                prop_assert_eq!(is_private(IpAddr::V6(ip)), expected, "{} for {}", ip, v4);
            }
        }
    }

    #[tokio::test]
    async fn ip_literals_are_judged_without_dns() {
        assert_eq!(check_url("http://1.1.1.1/hook", false).await, Ok(()));
        assert_eq!(
            check_url("https://[2606:4700::1111]:8443/x", false).await,
            Ok(())
        );
        for url in [
            "http://10.0.0.1/",
            "http://127.0.0.1:8080/x",
            "http://[::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            // The url crate reads these as IPv4, as browsers (and reqwest) do.
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            let problem = check_url(url, false).await.unwrap_err();
            assert!(
                matches!(problem, UrlProblem::Private(_)),
                "{url}: {problem:?}"
            );
            assert_eq!(check_url(url, true).await, Ok(()), "{url}");
        }
        assert_eq!(
            check_url("http://10.0.0.1/", false).await,
            Err(UrlProblem::Private("10.0.0.1 is a private address".into()))
        );
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback() {
        let problem = check_url("http://localhost:8080/hook", false)
            .await
            .unwrap_err();
        let UrlProblem::Private(message) = problem else {
            panic!("{problem:?}")
        };
        assert!(
            message.starts_with("localhost resolves to the private address "),
            "{message}"
        );
        assert!(
            message.ends_with("127.0.0.1") || message.ends_with("::1"),
            "{message}"
        );
        assert_eq!(check_url("http://localhost:8080/hook", true).await, Ok(()));
    }

    #[tokio::test]
    async fn malformed_urls_are_invalid() {
        let too_long = format!("https://1.1.1.1/{}", "a".repeat(MAX_URL_LEN));
        for url in [
            "not a url",
            "/relative/path",
            "ftp://1.1.1.1/",
            "file:///etc/passwd",
            "http://user:pw@1.1.1.1/",
            "http://user@1.1.1.1/",
            "http://",
            "http://:80/",
            "mailto:someone@example.com",
            too_long.as_str(),
        ] {
            let problem = check_url(url, true).await.unwrap_err();
            assert!(
                matches!(problem, UrlProblem::Invalid(_)),
                "{url}: {problem:?}"
            );
        }
        let longest = format!("https://1.1.1.1/{}", "a".repeat(MAX_URL_LEN - 16));
        assert_eq!(longest.len(), MAX_URL_LEN);
        assert_eq!(check_url(&longest, false).await, Ok(()));
    }

    #[tokio::test]
    async fn unknown_host_is_unresolvable() {
        // .invalid never resolves (RFC 6761); without a network the lookup fails or times out.
        let problem = check_url("https://no-such-host.invalid/hook", false)
            .await
            .unwrap_err();
        let UrlProblem::Unresolvable(message) = problem else {
            panic!("{problem:?}")
        };
        assert!(message.starts_with("no-such-host.invalid "), "{message}");
    }
}
