//! The SSRF guard: a webhook may only reach the public internet. Targets
//! must be `http`/`https`, and every address they resolve to must not be
//! loopback, private, link-local (which holds the cloud metadata address
//! 169.254.169.254), carrier-grade NAT, unique-local, multicast or
//! unspecified. Checked when a subscription is made or changed, and again
//! at every delivery through the HTTP client's own resolver, so a name that
//! later resolves to an internal address (DNS rebinding) is refused too.
//! A setting allows private targets for tests and closed networks.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuardError {
    #[error("the URL does not parse: {0}")]
    Malformed(String),
    #[error("only http and https targets are allowed")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("{0} resolves to a private, loopback or link-local address; downwave only sends to public addresses (see webhook_allow_private)")]
    Private(String),
    #[error("{0} does not resolve")]
    Unresolvable(String),
}

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT: internal to a provider.
        || (a == 100 && (64..128).contains(&b))
}

fn v6_forbidden(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_forbidden(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Whether an address is off limits for webhooks.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_forbidden(v4),
        IpAddr::V6(v6) => v6_forbidden(v6),
    }
}

/// Checks a target URL's form, and its host if it is an address literal.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, GuardError> {
    let url = Url::parse(raw).map_err(|e| GuardError::Malformed(e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(GuardError::Scheme);
    }
    let host = url.host_str().ok_or(GuardError::NoHost)?;
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if !allow_private && is_forbidden(ip) {
            return Err(GuardError::Private(host.to_owned()));
        }
    }
    Ok(url)
}

/// Checks the URL and resolves its host now: what a new subscription gets.
pub async fn check_target(raw: &str, allow_private: bool) -> Result<Url, GuardError> {
    let url = check_url(raw, allow_private)?;
    let host = url.host_str().ok_or(GuardError::NoHost)?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|_| GuardError::Unresolvable(host.clone()))?
        .collect();
    if addrs.is_empty() {
        return Err(GuardError::Unresolvable(host));
    }
    if !allow_private && addrs.iter().any(|a| is_forbidden(a.ip())) {
        return Err(GuardError::Private(host));
    }
    Ok(url)
}

/// The HTTP client's resolver: drops forbidden addresses, and fails a name
/// that has nothing else.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || !is_forbidden(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(
                    Box::new(GuardError::Private(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_and_literal_hosts() {
        assert_eq!(
            check_url("ftp://example.com/", false).unwrap_err(),
            GuardError::Scheme
        );
        assert!(matches!(
            check_url("http://127.0.0.1:9/x", false),
            Err(GuardError::Private(_))
        ));
        assert!(matches!(
            check_url("http://[::1]/x", false),
            Err(GuardError::Private(_))
        ));
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("https://hooks.slack.com/services/T/B/X", false).is_ok());
        assert!(matches!(
            check_url("not a url", false),
            Err(GuardError::Malformed(_))
        ));
    }
}
