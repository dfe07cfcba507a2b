//! TLS to PostgreSQL, asked for in the URL the way libpq's URLs ask:
//! `sslmode` and `sslrootcert`.
//!
//! - no `sslmode`, or `disable`: no TLS;
//! - `require`, `verify-ca`, `verify-full`: TLS, and the server's
//!   certificate is verified, chain and host name, in all three (libpq's
//!   `require` checks neither; downwave never sends a password to a server
//!   it has not verified);
//! - `prefer`, `allow`: TLS, verified, when the server offers it; plain
//!   otherwise;
//! - `sslrootcert=FILE`: the certificate authorities (PEM) the server's
//!   certificate is checked against, for a private CA such as a managed
//!   service's; without it, the public web's roots (Mozilla's list).
//!
//! rustls does the TLS (it is already in the build for the webhooks), with
//! ring's cryptography.

use super::DbError;
use rustls::pki_types::{pem::PemObject, CertificateDer};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What to connect to and how: the driver's configuration, and the TLS
/// connector when the URL asks for TLS.
#[derive(Clone)]
pub(super) struct Target {
    pub config: tokio_postgres::Config,
    pub tls: Option<MakeRustlsConnect>,
}

/// Reads a `postgres://` URL: the keys the driver knows go to it;
/// `sslmode` and `sslrootcert` decide the TLS.
pub(super) fn target(url: &str) -> Result<Target, DbError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let (mut mode, mut root) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("sslmode", v) => mode = Some(v),
            ("sslrootcert", v) => root = Some(v),
            _ => kept.push(pair),
        }
    }
    let driver_url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config = driver_url.parse()?;
    let tls = match mode {
        None | Some("disable") => {
            config.ssl_mode(SslMode::Disable);
            None
        }
        Some("allow" | "prefer") => {
            config.ssl_mode(SslMode::Prefer);
            Some(connector(root)?)
        }
        Some("require" | "verify-ca" | "verify-full") => {
            config.ssl_mode(SslMode::Require);
            Some(connector(root)?)
        }
        Some(other) => {
            return Err(DbError::Config(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            )))
        }
    };
    Ok(Target { config, tls })
}

/// A connector that verifies servers against `root` (a PEM file) or, when
/// none is given, the public web's roots.
fn connector(root: Option<&str>) -> Result<MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| DbError::Config(format!("reading sslrootcert {path}: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(DbError::Config(format!(
                    "sslrootcert {path} holds no certificate authority"
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Config(format!("setting up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_read_and_the_rest_goes_to_the_driver() {
        let t = target("postgres://dw@db.example:5432/downwave?application_name=x").unwrap();
        assert!(t.tls.is_none());
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(t.config.get_application_name(), Some("x"));

        let t = target("postgres://dw@db.example/downwave?sslmode=verify-full").unwrap();
        assert!(t.tls.is_some());
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);

        let t = target("postgresql://dw@db.example/downwave?sslmode=prefer").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Prefer);

        let err = target("postgres://db.example/d?sslmode=verify")
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("sslmode=verify is not one of"),
            "{err}"
        );
        let err = target("postgres://db.example/d?sslmode=require&sslrootcert=/nonexistent.pem")
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("reading sslrootcert /nonexistent.pem"),
            "{err}"
        );
    }
}
