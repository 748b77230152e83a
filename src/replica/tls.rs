//! TLS to PostgreSQL, as libpq's `sslmode` and `sslrootcert` ask for it, so that a URL a
//! DBA hands over means here what it means to `psql`:
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow`, `prefer` (the default) | when the server offers it | no |
//! | `require` | always | no; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | signed by `sslrootcert` (default: the system's roots) |
//! | `verify-full` | always | that, and issued for the host name |
//!
//! tokio-postgres knows only disable/prefer/require and refuses the other settings, so
//! [`split`] takes them out of the URL before it is parsed and this module makes the
//! rustls configuration that checks what they ask for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, String> {
        match value.to_ascii_lowercase().as_str() {
            "disable" => Ok(Mode::Disable),
            // libpq's `allow` tries without TLS first; encrypting when offered is no worse.
            "allow" | "prefer" => Ok(Mode::Prefer),
            "require" => Ok(Mode::Require),
            "verify-ca" => Ok(Mode::VerifyCa),
            "verify-full" => Ok(Mode::VerifyFull),
            other => Err(format!(
                "replicate: sslmode={other} is not one of disable, allow, prefer, require, \
                 verify-ca, verify-full"
            )),
        }
    }

    /// What tokio-postgres is told: whether to ask for TLS and whether to insist.
    pub fn ssl_mode(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }
}

/// The TLS settings of a `--replicate` URL, and the URL without them.
#[derive(Debug, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub root_cert: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query or a libpq
/// `key=value` string, leaving the rest as it was.
pub fn split(text: &str) -> Result<(Settings, String), String> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key.to_ascii_lowercase().as_str() {
            "sslmode" => mode = Some(Mode::parse(value)?),
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        split_url(text, &mut take)?
    } else {
        split_key_values(text, &mut take)?
    };
    let mode = mode.unwrap_or(Mode::Prefer);
    Ok((Settings { mode, root_cert }, rest))
}

type Take<'a> = dyn FnMut(&str, &str) -> Result<bool, String> + 'a;

fn split_url(text: &str, take: &mut Take<'_>) -> Result<String, String> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok(text.to_owned());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        if !take(&decoded(key), &decoded(value))? {
            kept.push(pair);
        }
    }
    Ok(if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// libpq's `key = value` form: values may be single-quoted, with `\'` and `\\` inside.
fn split_key_values(text: &str, take: &mut Take<'_>) -> Result<String, String> {
    let mut kept = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!("replicate: `{key}` has no `=value`"));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                    Some((_, c)) => value.push(c),
                    None => {
                        return Err(format!("replicate: the quote after `{key}=` is not closed"));
                    }
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next().map(|(_, c)| c));
                } else {
                    value.push(c);
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |(at, _)| *at);
        if !take(&key, &value)? {
            kept.push(text[start..end].trim_end());
        }
    }
    Ok(kept.join(" "))
}

/// The connector for these settings; reads `sslrootcert` (or the system's roots when a
/// verifying mode names none) now, so a wrong path stops the start, not the first ship.
pub fn connector(settings: &Settings) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let checks_chain =
        settings.root_cert.is_some() || matches!(settings.mode, Mode::VerifyCa | Mode::VerifyFull);
    let verifier: Arc<dyn ServerCertVerifier> = if checks_chain {
        let roots = match &settings.root_cert {
            Some(path) => roots_from_file(path)?,
            None => system_roots()?,
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("replicate: the root certificates cannot be used ({e})"))?;
        if settings.mode == Mode::VerifyFull {
            webpki
        } else {
            Arc::new(AnyHostName(webpki))
        }
    } else {
        Arc::new(Unchecked(provider.clone()))
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("replicate: TLS set-up failed ({e})"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, String> {
    let unreadable = |e: &dyn std::fmt::Display| {
        format!(
            "replicate: sslrootcert={} cannot be read as PEM certificates ({e})",
            path.display()
        )
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"no certificate in it"));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(
            "replicate: sslmode asks to check the server's certificate, and this system has no \
             root certificates (install ca-certificates, or name the CA with sslrootcert=FILE)"
                .into(),
        );
    }
    Ok(roots)
}

/// `verify-ca` (and `require` with a root certificate): the chain must lead to a given
/// root, whatever host name the certificate was issued for, as libpq does.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encrypted against eavesdroppers,
/// not against an impostor, exactly as libpq's modes of those names. The handshake's
/// signatures are still checked, so the session is bound to the certificate shown.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings(mode: Mode, root_cert: Option<&str>) -> Settings {
        Settings {
            mode,
            root_cert: root_cert.map(PathBuf::from),
        }
    }

    #[test]
    fn url_settings_are_taken_out_and_the_rest_kept() {
        let cases = [
            (
                "postgres://db/x",
                settings(Mode::Prefer, None),
                "postgres://db/x",
            ),
            (
                "postgres://u:p@db/x?sslmode=require&connect_timeout=3",
                settings(Mode::Require, None),
                "postgres://u:p@db/x?connect_timeout=3",
            ),
            (
                "postgresql://db/x?application_name=a&SSLMODE=Verify-Full&sslrootcert=%2Fetc%2Fca%20x.pem",
                settings(Mode::VerifyFull, Some("/etc/ca x.pem")),
                "postgresql://db/x?application_name=a",
            ),
            (
                "postgres://db/x?sslmode=allow",
                settings(Mode::Prefer, None),
                "postgres://db/x",
            ),
            (
                "postgres://db/x?sslmode=disable",
                settings(Mode::Disable, None),
                "postgres://db/x",
            ),
        ];
        for (text, expected, rest) in cases {
            assert_eq!(split(text).unwrap(), (expected, rest.to_owned()), "{text}");
        }
    }

    #[test]
    fn key_value_settings_are_taken_out_and_the_rest_kept() {
        let (found, rest) = split(
            "host=db  sslmode = verify-ca password='it\\'s' sslrootcert='/a b/c\\'d.pem' user=lg",
        )
        .unwrap();
        assert_eq!(found, settings(Mode::VerifyCa, Some("/a b/c'd.pem")));
        assert_eq!(rest, "host=db password='it\\'s' user=lg");
        let (found, rest) = split("host=db dbname=x").unwrap();
        assert_eq!(found, settings(Mode::Prefer, None));
        assert_eq!(rest, "host=db dbname=x");
    }

    #[test]
    fn unknown_modes_and_broken_strings_are_refused() {
        assert!(
            split("postgres://db/x?sslmode=maybe")
                .unwrap_err()
                .contains("maybe")
        );
        assert!(split("host=db sslmode").is_err());
        assert!(split("host=db password='open").is_err());
    }

    #[test]
    fn a_root_certificate_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let error = connector(&Settings {
            mode: Mode::VerifyFull,
            root_cert: Some(missing.clone()),
        })
        .err()
        .unwrap();
        assert!(error.contains("none.pem"), "{error}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = connector(&Settings {
            mode: Mode::VerifyCa,
            root_cert: Some(empty),
        })
        .err()
        .unwrap();
        assert!(error.contains("no certificate"), "{error}");
        assert!(connector(&settings(Mode::Require, None)).is_ok());
    }

    proptest! {
        /// Whatever else a key=value string holds, taking the TLS settings out keeps every
        /// other pair as it was written.
        #[test]
        fn other_pairs_survive(
            pairs in proptest::collection::vec(("[a-z_]{1,8}", "[a-zA-Z0-9/._-]{0,8}"), 0..6),
            mode in prop::sample::select(vec!["disable", "prefer", "require", "verify-ca", "verify-full"]),
        ) {
            let pairs: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(k, _)| k != "sslmode" && k != "sslrootcert")
                .map(|(k, v)| (k, format!("'{v}'")))
                .collect();
            let written: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let text = format!("{} sslmode={mode}", written.join(" "));
            let (found, rest) = split(&text).unwrap();
            prop_assert_eq!(found.mode, Mode::parse(mode).unwrap());
            prop_assert_eq!(rest, written.join(" "));
        }
    }
}
