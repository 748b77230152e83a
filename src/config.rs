//! Settings: flags beat environment variables, which beat the TOML config file, which
//! beats the defaults. Everything is validated here, once, so the rest of the program
//! works with typed values and a bad setting stops start-up with a message that names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::domain::RateLimit;
use crate::limits::{IpNet, parse_ip_list};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./leadgate-data";
pub const DEFAULT_TZ: &str = "Asia/Shanghai";
/// 300 submissions in 10 minutes from one address: enough for a busy booth behind one
/// venue Wi-Fi address, still a wall against a script.
pub const DEFAULT_RATE_LIMIT: &str = "300/10m";
/// All rate-limited requests together: above the most a 2-core box serves of any of them
/// (QR scans, 44.5k/s; form posts 20–24k/s: README, "Performance"), so the default never
/// refuses load the box can carry. (It was 3000/1s, which refused a livestream's flash of
/// 5k posts/s the box would have stored.) What the writer cannot take is answered
/// `503 busy` at once by its bounded queue.
pub const DEFAULT_GLOBAL_RATE_LIMIT: &str = "50000/1s";
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Open connections from one client address: a browser opens a handful, a venue NAT some
/// dozens; 256 leaves room for both while one host can no longer fill the server.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// An HTTP/2 connection with no open stream is closed after this long, as an idle
/// HTTP/1.1 keep-alive is; answering the server's PINGs does not count as use.
pub const DEFAULT_H2_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_HEADER_TIMEOUT_S: u64 = 10;
pub const DEFAULT_BODY_TIMEOUT_S: u64 = 30;
/// The store's page cache by default (MB). It bounds the server's memory whatever the
/// store's size: at 32 MB a server that took 290k leads at 256 connections peaked at
/// 62 MB of RSS (282 MB with redb's 1 GiB default), with ingest as fast (README). At 16 MB
/// the ROI summary of a 1M-lead store leaves 63 MB instead of 79–81 MB, as fast, and
/// ingest on an empty and on a 1M-lead store was as fast in alternated runs (README,
/// "Performance"): most of a lead's index pages are where the previous leads' were not.
pub const DEFAULT_CACHE_MB: usize = 16;
/// Writes waiting for the store's writer by default. Past this, requests are refused with
/// 503 at once rather than queued without bound.
pub const DEFAULT_WRITER_QUEUE: usize = 4096;
/// API.md: overdue leads are looked for at least every minute.
pub const DEFAULT_FOLLOW_UP_CHECK: Duration = Duration::from_secs(60);
/// How often the scheduler looks for due reports: a report goes out at most this long
/// after its time.
pub const DEFAULT_SCHEDULE_TICK: Duration = Duration::from_secs(30);
/// How long after an erasure the store file is rewritten without the erased values:
/// erasures within this window share one rewrite. With `DEFAULT_PRIVACY_TICK` and the
/// rewrite itself (13 s at a million leads, README) inside API.md's 60 s.
pub const DEFAULT_REWRITE_DELAY: Duration = Duration::from_secs(20);
/// How often pending rewrites and the daily retention run are looked for.
pub const DEFAULT_PRIVACY_TICK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Base URL without a trailing slash, e.g. `https://leads.example.com`.
    pub public_url: String,
    /// Set by `LEADGATE_ADMIN_TOKEN`; otherwise the token lives (hashed) in the store.
    pub admin_token: Option<String>,
    pub call_secret: Option<String>,
    /// The reporting time zone: which calendar day an event counts for.
    pub tz: jiff::tz::TimeZone,
    pub rate_limit: Option<RateLimit>,
    /// Where form definitions are read from; `None` = the forms built into the binary.
    pub forms_dir: Option<PathBuf>,
    /// Load the sample campaigns into an empty store.
    pub demo: bool,
    /// Ceiling over all rate-limited requests together, from any address.
    pub global_rate_limit: Option<RateLimit>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Sites whose pages may post to `/f/{slug}` from the browser (embedded widgets).
    pub cors_origins: Vec<String>,
    /// Open connections at most; past this, new ones wait in the listen queue.
    pub max_connections: usize,
    /// Open connections from one client address at most (and never more than half of
    /// `max_connections`); past this, a new one from that address is closed at once.
    pub max_connections_per_ip: usize,
    /// How long a connection may stay open with no request in flight (no open HTTP/2
    /// stream) before it is closed gracefully.
    pub h2_idle_timeout: Duration,
    /// How long a client may take to send its request headers (slow-loris guard).
    pub header_timeout: Duration,
    /// How long a client may take to send its request body.
    pub body_timeout: Duration,
    /// Test seam: makes commits fail on demand, as a full or broken disk would.
    pub commit_faults: crate::faults::FaultSwitch,
    /// Writes waiting for the writer at most; past this, requests get 503 at once.
    pub writer_queue: usize,
    /// The store's page cache, in MB.
    pub cache_mb: usize,
    /// Each commit saves what a restart after a crash needs (`store::OpenOptions`).
    pub quick_repair: bool,
    /// This node's name in events (and, with several nodes, in PostgreSQL).
    pub node_id: String,
    /// Destinations may be on loopback or private networks (on-premises CRMs).
    pub allow_private_destinations: bool,
    /// Waits between delivery attempts: the contract's schedule (tests shorten it).
    pub delivery_retry_delays: Vec<Duration>,
    /// What time it is for background work: overdue checks, scheduled reports (tests
    /// set it).
    pub clock: crate::clock::Clock,
    /// How often leads past their follow-up deadline are looked for.
    pub follow_up_check: Duration,
    /// How often the scheduler looks for due reports.
    pub schedule_tick: Duration,
    /// Leads older than this many days are erased (at start-up, then daily); `None`: kept.
    pub retain_days: Option<u32>,
    /// How long after the first pending erasure the store file is rewritten (by `clock`).
    pub rewrite_delay: Duration,
    /// How often pending rewrites and the daily retention run are looked for.
    pub privacy_tick: Duration,
    /// The PostgreSQL database to replicate to (`--replicate`); `None`: this node alone.
    pub replicate: Option<crate::replica::Target>,
    /// Waits between attempts while PostgreSQL is away (tests shorten them).
    pub replica_retry_delays: Vec<Duration>,
    /// How often an idle replicating node checks that PostgreSQL answers.
    pub replica_heartbeat: Duration,
    /// How often a replicating node reads what other nodes made (tests shorten it).
    pub replica_pull_every: Duration,
    /// Events shipped per PostgreSQL transaction at most (tests shorten it, so a few
    /// leads make a backlog of several batches).
    pub replica_batch: usize,
}

impl Config {
    /// Defaults for a given data directory, listening on a free loopback port.
    pub fn for_data_dir(dir: impl Into<PathBuf>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.into(),
            public_url: "http://127.0.0.1".into(),
            admin_token: None,
            call_secret: None,
            tz: jiff::tz::TimeZone::get(DEFAULT_TZ)
                .expect("the bundled tz database has Asia/Shanghai"),
            rate_limit: RateLimit::parse_setting(DEFAULT_RATE_LIMIT)
                .expect("default rate limit parses"),
            forms_dir: None,
            demo: false,
            global_rate_limit: RateLimit::parse_setting(DEFAULT_GLOBAL_RATE_LIMIT)
                .expect("default global limit parses"),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            h2_idle_timeout: DEFAULT_H2_IDLE_TIMEOUT,
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_S),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_S),
            commit_faults: crate::faults::FaultSwitch::default(),
            writer_queue: DEFAULT_WRITER_QUEUE,
            cache_mb: DEFAULT_CACHE_MB,
            quick_repair: true,
            node_id: default_node_id(),
            allow_private_destinations: false,
            delivery_retry_delays: crate::relay::RETRY_DELAYS.to_vec(),
            clock: crate::clock::Clock::default(),
            follow_up_check: DEFAULT_FOLLOW_UP_CHECK,
            schedule_tick: DEFAULT_SCHEDULE_TICK,
            retain_days: None,
            rewrite_delay: DEFAULT_REWRITE_DELAY,
            privacy_tick: DEFAULT_PRIVACY_TICK,
            replicate: None,
            replica_retry_delays: crate::replica::RETRY_DELAYS.to_vec(),
            replica_heartbeat: crate::replica::HEARTBEAT,
            replica_pull_every: crate::replica::PULL_EVERY,
            replica_batch: crate::replica::BATCH,
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join(STORE_FILE)
    }
}

pub const STORE_FILE: &str = "leadgate.redb";

/// Raw settings from one layer (flags, env or file); `None` = not set in that layer.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub public_url: Option<String>,
    pub admin_token: Option<String>,
    pub call_secret: Option<String>,
    pub tz: Option<String>,
    pub rate_limit: Option<String>,
    pub forms: Option<PathBuf>,
    pub global_rate_limit: Option<String>,
    /// Comma-separated addresses or ranges (`10.0.0.0/8, 127.0.0.1`).
    pub trusted_proxies: Option<String>,
    /// Comma-separated origins (`https://www.example.com`).
    pub cors_origins: Option<String>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    /// The store's page cache, in MB.
    pub cache_mb: Option<usize>,
    pub quick_repair: Option<bool>,
    /// Seconds.
    pub header_timeout: Option<u64>,
    /// Seconds.
    pub body_timeout: Option<u64>,
    pub node_id: Option<String>,
    pub allow_private_destinations: Option<bool>,
    /// A PostgreSQL URL (`postgres://user:password@host/db`).
    pub replicate: Option<String>,
    /// Days a lead is kept; older ones are erased.
    pub retain_days: Option<u32>,
}

impl Settings {
    /// Fills what `self` leaves unset from `lower`.
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            data: self.data.or(lower.data),
            public_url: self.public_url.or(lower.public_url),
            admin_token: self.admin_token.or(lower.admin_token),
            call_secret: self.call_secret.or(lower.call_secret),
            tz: self.tz.or(lower.tz),
            rate_limit: self.rate_limit.or(lower.rate_limit),
            forms: self.forms.or(lower.forms),
            global_rate_limit: self.global_rate_limit.or(lower.global_rate_limit),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            cors_origins: self.cors_origins.or(lower.cors_origins),
            max_connections: self.max_connections.or(lower.max_connections),
            max_connections_per_ip: self.max_connections_per_ip.or(lower.max_connections_per_ip),
            cache_mb: self.cache_mb.or(lower.cache_mb),
            quick_repair: self.quick_repair.or(lower.quick_repair),
            header_timeout: self.header_timeout.or(lower.header_timeout),
            body_timeout: self.body_timeout.or(lower.body_timeout),
            node_id: self.node_id.or(lower.node_id),
            allow_private_destinations: self
                .allow_private_destinations
                .or(lower.allow_private_destinations),
            replicate: self.replicate.or(lower.replicate),
            retain_days: self.retain_days.or(lower.retain_days),
        }
    }

    pub fn from_file(path: &Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// Turns the merged layers into a validated `Config`. Each message names the setting.
    pub fn into_config(self, demo: bool) -> Result<Config, String> {
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            format!("listen address {listen_text:?} is not an address like 127.0.0.1:8080")
        })?;
        let public_url = match self.public_url {
            Some(text) => parse_public_url(&text)?,
            None => format!("http://{listen}"),
        };
        let tz_name = self.tz.unwrap_or_else(|| DEFAULT_TZ.into());
        let tz = jiff::tz::TimeZone::get(&tz_name).map_err(|_| {
            format!("time zone {tz_name:?} is not an IANA time zone name like Asia/Shanghai")
        })?;
        let rate_limit =
            RateLimit::parse_setting(self.rate_limit.as_deref().unwrap_or(DEFAULT_RATE_LIMIT))
                .map_err(|why| format!("rate limit: {why}"))?;
        let admin_token = non_empty(self.admin_token);
        if let Some(token) = &admin_token
            && token.len() < 16
        {
            return Err("admin token (LEADGATE_ADMIN_TOKEN) must be at least 16 characters".into());
        }
        let global_rate_limit = RateLimit::parse_setting(
            self.global_rate_limit
                .as_deref()
                .unwrap_or(DEFAULT_GLOBAL_RATE_LIMIT),
        )
        .map_err(|why| format!("global rate limit: {why}"))?;
        let trusted_proxies = parse_ip_list(self.trusted_proxies.as_deref().unwrap_or(""))
            .map_err(|why| format!("trusted proxies: {why}"))?;
        let cors_origins = self
            .cors_origins
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(parse_origin)
            .collect::<Result<Vec<_>, _>>()?;
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if !(16..=1_000_000).contains(&max_connections) {
            return Err(format!(
                "max connections {max_connections} must be between 16 and 1000000"
            ));
        }
        let max_connections_per_ip = self
            .max_connections_per_ip
            .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_IP);
        if !(1..=1_000_000).contains(&max_connections_per_ip) {
            return Err(format!(
                "max connections per IP {max_connections_per_ip} must be between 1 and 1000000"
            ));
        }
        let cache_mb = self.cache_mb.unwrap_or(DEFAULT_CACHE_MB);
        if !(4..=65_536).contains(&cache_mb) {
            return Err(format!("cache {cache_mb} MB must be between 4 and 65536"));
        }
        let seconds = |value: Option<u64>, default: u64, name: &str| -> Result<Duration, String> {
            let secs = value.unwrap_or(default);
            if (1..=3600).contains(&secs) {
                Ok(Duration::from_secs(secs))
            } else {
                Err(format!("{name} must be between 1 and 3600 seconds"))
            }
        };
        let header_timeout = seconds(
            self.header_timeout,
            DEFAULT_HEADER_TIMEOUT_S,
            "header timeout",
        )?;
        let body_timeout = seconds(self.body_timeout, DEFAULT_BODY_TIMEOUT_S, "body timeout")?;
        let node_id = match non_empty(self.node_id) {
            Some(name) => parse_node_id(name.trim())?,
            None => default_node_id(),
        };
        let replicate = non_empty(self.replicate)
            .map(|url| crate::replica::Target::parse(&url))
            .transpose()?;
        let retain_days = match self.retain_days {
            Some(days) if !(1..=36_500).contains(&days) => {
                return Err(format!(
                    "retain days {days} must be between 1 and 36500 (leave it unset to keep leads)"
                ));
            }
            days => days,
        };
        Ok(Config {
            retain_days,
            rewrite_delay: DEFAULT_REWRITE_DELAY,
            privacy_tick: DEFAULT_PRIVACY_TICK,
            replicate,
            replica_retry_delays: crate::replica::RETRY_DELAYS.to_vec(),
            replica_heartbeat: crate::replica::HEARTBEAT,
            replica_pull_every: crate::replica::PULL_EVERY,
            replica_batch: crate::replica::BATCH,
            node_id,
            allow_private_destinations: self.allow_private_destinations.unwrap_or(false),
            delivery_retry_delays: crate::relay::RETRY_DELAYS.to_vec(),
            clock: crate::clock::Clock::default(),
            follow_up_check: DEFAULT_FOLLOW_UP_CHECK,
            schedule_tick: DEFAULT_SCHEDULE_TICK,
            global_rate_limit,
            trusted_proxies,
            cors_origins,
            max_connections,
            max_connections_per_ip,
            h2_idle_timeout: DEFAULT_H2_IDLE_TIMEOUT,
            header_timeout,
            body_timeout,
            commit_faults: crate::faults::FaultSwitch::default(),
            writer_queue: DEFAULT_WRITER_QUEUE,
            cache_mb,
            quick_repair: self.quick_repair.unwrap_or(true),
            listen,
            data_dir: self.data.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            public_url,
            admin_token,
            call_secret: non_empty(self.call_secret),
            tz,
            rate_limit,
            forms_dir: self.forms,
            demo,
        })
    }
}

/// An origin as browsers send it: scheme, host and port, nothing else.
fn parse_origin(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("CORS origin {text:?}: {e}"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https")
        || url.path() != "/"
        || url.query().is_some()
        || origin == "null"
    {
        return Err(format!(
            "CORS origin {text:?} must be like https://www.example.com (no path)"
        ));
    }
    Ok(origin)
}

/// A node id names this node in every event and in PostgreSQL: short, and safe in a
/// URL, a file name and a log line.
fn parse_node_id(name: &str) -> Result<String, String> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "node id {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// The host name, when it makes a valid node id; else `leadgate`.
fn default_node_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .and_then(|name| parse_node_id(name.trim()).ok())
        .unwrap_or_else(|| "leadgate".to_owned())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("public URL {text:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "public URL {text:?} must be an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "public URL {text:?} must not have a query or fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_off_unless_set_and_must_be_a_sensible_number_of_days() {
        assert_eq!(
            Settings::default().into_config(false).unwrap().retain_days,
            None
        );
        let file: Settings = toml::from_str("retain_days = 180\n").unwrap();
        assert_eq!(file.into_config(false).unwrap().retain_days, Some(180));
        for bad in [0, 36_501] {
            let settings = Settings {
                retain_days: Some(bad),
                ..Settings::default()
            };
            let error = settings.into_config(false).unwrap_err();
            assert!(error.contains("retain days"), "{error}");
        }
    }

    #[test]
    fn higher_layers_win() {
        let flags = Settings {
            listen: Some("127.0.0.1:9000".into()),
            ..Settings::default()
        };
        let env = Settings {
            listen: Some("127.0.0.1:9001".into()),
            tz: Some("UTC".into()),
            ..Settings::default()
        };
        let config = flags.or(env).into_config(false).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.public_url, "http://127.0.0.1:9000");
        assert_eq!(config.tz.iana_name(), Some("UTC"));
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |s: Settings| s.into_config(false).unwrap_err();
        assert!(
            bad(Settings {
                listen: Some("nope".into()),
                ..Settings::default()
            })
            .contains("listen")
        );
        assert!(
            bad(Settings {
                tz: Some("Mars/Base".into()),
                ..Settings::default()
            })
            .contains("time zone")
        );
        assert!(
            bad(Settings {
                rate_limit: Some("lots".into()),
                ..Settings::default()
            })
            .contains("rate limit")
        );
        assert!(
            bad(Settings {
                public_url: Some("ftp://x".into()),
                ..Settings::default()
            })
            .contains("public URL")
        );
        assert!(
            bad(Settings {
                admin_token: Some("short".into()),
                ..Settings::default()
            })
            .contains("16")
        );
    }

    #[test]
    fn config_file_uses_snake_case_names_and_rejects_typos() {
        let settings: Settings =
            toml::from_str("listen = \"0.0.0.0:80\"\nrate_limit = \"off\"\n").unwrap();
        let config = settings.into_config(false).unwrap();
        assert_eq!(config.rate_limit, None);
        assert!(toml::from_str::<Settings>("lisen = \"x\"").is_err());
    }

    #[test]
    fn connections_per_ip_from_each_layer_and_checked() {
        let file: Settings = toml::from_str("max_connections_per_ip = 7\n").unwrap();
        assert_eq!(
            file.clone()
                .into_config(false)
                .unwrap()
                .max_connections_per_ip,
            7
        );
        let unset_above = Settings {
            listen: Some("127.0.0.1:9000".into()),
            ..Settings::default()
        };
        assert_eq!(
            unset_above
                .or(file.clone())
                .into_config(false)
                .unwrap()
                .max_connections_per_ip,
            7,
            "a layer that does not set it leaves the lower layer's"
        );
        let env = Settings {
            max_connections_per_ip: Some(9),
            ..Settings::default()
        };
        assert_eq!(
            env.clone()
                .or(file.clone())
                .into_config(false)
                .unwrap()
                .max_connections_per_ip,
            9
        );
        let flags = Settings {
            max_connections_per_ip: Some(11),
            ..Settings::default()
        };
        assert_eq!(
            flags
                .or(env)
                .or(file)
                .into_config(false)
                .unwrap()
                .max_connections_per_ip,
            11
        );
        let defaults = Settings::default().into_config(false).unwrap();
        assert_eq!(defaults.max_connections_per_ip, 256);
        assert_eq!(defaults.h2_idle_timeout, Duration::from_secs(60));
        let zero = Settings {
            max_connections_per_ip: Some(0),
            ..Settings::default()
        };
        assert!(
            zero.into_config(false)
                .unwrap_err()
                .contains("max connections per IP")
        );
    }

    #[test]
    fn public_url_loses_its_trailing_slash() {
        assert_eq!(
            parse_public_url("https://leads.example.com/").unwrap(),
            "https://leads.example.com"
        );
    }

    #[test]
    fn the_store_cache_has_a_small_default_and_a_checked_range() {
        assert!(Settings::default().into_config(false).unwrap().quick_repair);
        let file: Settings = toml::from_str("quick_repair = false\n").unwrap();
        assert!(!file.into_config(false).unwrap().quick_repair);
        assert_eq!(Settings::default().into_config(false).unwrap().cache_mb, 16);
        let file: Settings = toml::from_str("cache_mb = 256\n").unwrap();
        assert_eq!(file.into_config(false).unwrap().cache_mb, 256);
        for bad in [0, 3, 65_537] {
            let settings = Settings {
                cache_mb: Some(bad),
                ..Settings::default()
            };
            let error = settings.into_config(false).unwrap_err();
            assert!(error.contains("cache"), "{error}");
        }
    }
}
