//! Settings: flags beat environment variables, which beat the TOML config file, which
//! beats the defaults. Everything is validated here, once, so the rest of the program
//! works with typed values and a bad setting stops start-up with a message that names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::domain::RateLimit;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./leadgate-data";
pub const DEFAULT_TZ: &str = "Asia/Shanghai";
/// 300 submissions in 10 minutes from one address: enough for a busy booth behind one
/// venue Wi-Fi address, still a wall against a script.
pub const DEFAULT_RATE_LIMIT: &str = "300/10m";

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
        Ok(Config {
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
    fn public_url_loses_its_trailing_slash() {
        assert_eq!(
            parse_public_url("https://leads.example.com/").unwrap(),
            "https://leads.example.com"
        );
    }
}
