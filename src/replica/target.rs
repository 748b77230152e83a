//! The PostgreSQL database a node replicates to (`--replicate postgres://…`): parsed and
//! checked once at start, shown without its password.

use std::time::Duration;

/// How long connecting may take before the attempt counts as failed: a booth without
/// internet must see `offline` soon, not after the operating system's minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to replicate. Its `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    shown: String,
}

impl Target {
    /// Parses a `postgres://` URL (or libpq `key=value` settings). TLS is not built yet: a
    /// setting that asks for it is refused rather than silently sent in clear text.
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        if let Some(mode) = asked_ssl_mode(text)
            && matches!(mode.as_str(), "require" | "verify-ca" | "verify-full")
        {
            return Err(format!(
                "replicate: sslmode={mode} asks for TLS, and TLS is not supported yet; \
                 use sslmode=disable on a trusted network"
            ));
        }
        let mut config: tokio_postgres::Config = text.parse().map_err(|e| {
            format!("replicate: not a PostgreSQL URL like postgres://user@host/db ({e})")
        })?;
        if config.get_hosts().is_empty() {
            return Err("replicate: the PostgreSQL URL names no host".into());
        }
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("leadgate");
        let shown = describe(&config);
        Ok(Target { config, shown })
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

/// The `sslmode` a URL or key=value string asks for, lower-cased.
fn asked_ssl_mode(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("sslmode")?;
    let rest = lower[at + "sslmode".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let value: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Some(value)
}

/// `postgres://user@host:port/db`, the password left out.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn a_url_parses_and_never_shows_its_password() {
        let target = Target::parse("postgres://lg:s3cret@db.example:6543/leads").unwrap();
        assert_eq!(target.to_string(), "postgres://lg@db.example:6543/leads");
        assert!(!format!("{target:?}").contains("s3cret"));
        let target = Target::parse("host=10.0.0.5 user=lg password=s3cret dbname=x").unwrap();
        assert!(!target.to_string().contains("s3cret"));
    }

    #[test]
    fn tls_is_refused_with_a_clear_message() {
        for url in [
            "postgres://lg:pw@db/leads?sslmode=require",
            "postgres://db/leads?SSLMODE=verify-full",
            "host=db sslmode = verify-ca",
        ] {
            let error = Target::parse(url).unwrap_err();
            assert!(error.contains("TLS is not supported yet"), "{error}");
            assert!(!error.contains("pw"), "{error}");
        }
        assert!(Target::parse("postgres://db/leads?sslmode=disable").is_ok());
        assert!(Target::parse("postgres://db/leads?sslmode=prefer").is_ok());
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(Target::parse("mysql://x").is_err());
        assert!(Target::parse("").is_err());
    }
}
