//! The PostgreSQL database a node replicates to (`--replicate postgres://…`): parsed and
//! checked once at start, shown without its password.

use std::time::Duration;

use tokio_postgres_rustls::MakeRustlsConnect;

/// How long connecting may take before the attempt counts as failed: a booth without
/// internet must see `offline` soon, not after the operating system's minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to replicate. Its `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    shown: String,
}

impl Target {
    /// Parses a `postgres://` URL (or libpq `key=value` settings), with libpq's `sslmode`
    /// and `sslrootcert` (see [`super::tls`]).
    pub fn parse(text: &str) -> Result<Target, String> {
        let (tls, text) = super::tls::split(text.trim())?;
        let mut config: tokio_postgres::Config = text.parse().map_err(|e| {
            format!("replicate: not a PostgreSQL URL like postgres://user@host/db ({e})")
        })?;
        if config.get_hosts().is_empty() {
            return Err("replicate: the PostgreSQL URL names no host".into());
        }
        config.ssl_mode(tls.mode.ssl_mode());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("leadgate");
        let shown = describe(&config);
        let tls = super::tls::connector(&tls)?;
        Ok(Target { config, tls, shown })
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// What connections to this target encrypt with (unused under `sslmode=disable`).
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }
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
    fn tls_settings_reach_the_connection_and_never_show_the_password() {
        use tokio_postgres::config::SslMode;
        for (url, mode) in [
            ("postgres://lg:pw@db/leads", SslMode::Prefer),
            (
                "postgres://lg:pw@db/leads?sslmode=disable",
                SslMode::Disable,
            ),
            (
                "postgres://lg:pw@db/leads?sslmode=require",
                SslMode::Require,
            ),
            (
                "postgres://lg:pw@db/leads?SSLMODE=verify-full",
                SslMode::Require,
            ),
            ("host=db password=pw sslmode = verify-ca", SslMode::Require),
        ] {
            let target = Target::parse(url).unwrap();
            assert_eq!(target.config().get_ssl_mode(), mode, "{url}");
            assert!(!target.to_string().contains("pw"), "{target}");
        }
        let error = Target::parse("postgres://lg:pw@db/leads?sslmode=bogus").unwrap_err();
        assert!(error.contains("bogus") && !error.contains("pw"), "{error}");
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(Target::parse("mysql://x").is_err());
        assert!(Target::parse("").is_err());
    }
}
