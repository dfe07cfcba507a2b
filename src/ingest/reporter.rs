//! Reporter identity: which client a report came from, without keeping the
//! client's address.

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;
use std::net::{IpAddr, Ipv6Addr};

/// Turns a client address (and an optional anonymous client token) into a
/// 16-byte reporter id with HMAC-SHA256 under a secret made on first start.
/// The same client maps to the same id for as long as the database lives;
/// without the secret the id cannot be turned back into an address.
#[derive(Clone)]
pub struct ReporterKey {
    /// The keyed MAC, cloned per use (cheaper than re-keying).
    mac: Hmac<Sha256>,
}

impl ReporterKey {
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        ReporterKey { mac }
    }

    pub fn reporter(&self, addr: IpAddr, client_token: Option<&str>) -> [u8; 16] {
        let mut mac = self.mac.clone();
        match limit_key(addr) {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => mac.update(&a.octets()),
        }
        if let Some(token) = client_token {
            // A separator so that (address, token) pairs cannot collide.
            mac.update(&[0]);
            mac.update(token.as_bytes());
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

/// The key a client is known by: its IPv4 address, or the /64 network of an
/// IPv6 address (one household or phone gets a whole /64 and can rotate
/// inside it freely). IPv4-mapped IPv6 addresses count as IPv4.
pub fn limit_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The address of the client behind a request.
///
/// Forwarding headers are believed only when the direct peer is a trusted
/// proxy. Then the chain in `X-Forwarded-For` (or else `Forwarded`) is read
/// from the right, skipping trusted proxies; the first address that is not one
/// is the client. Anything unparsable falls back to the peer.
pub fn client_ip(
    peer: IpAddr,
    x_forwarded_for: Option<&str>,
    forwarded: Option<&str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Both headers list the hops left to right; read from the right.
    let found = if let Some(xff) = x_forwarded_for {
        nearest_untrusted(xff.rsplit(',').filter_map(parse_addr), is_trusted)
    } else if let Some(fwd) = forwarded {
        nearest_untrusted(
            fwd.rsplit([',', ';']).filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                if !k.trim().eq_ignore_ascii_case("for") {
                    return None;
                }
                parse_addr(v)
            }),
            is_trusted,
        )
    } else {
        None
    };
    found.unwrap_or(peer)
}

/// The first untrusted address of a chain read from the right; if every
/// address is trusted, the leftmost one.
fn nearest_untrusted(
    right_to_left: impl Iterator<Item = IpAddr>,
    is_trusted: impl Fn(&IpAddr) -> bool,
) -> Option<IpAddr> {
    let mut leftmost = None;
    for ip in right_to_left {
        if !is_trusted(&ip) {
            return Some(ip);
        }
        leftmost = Some(ip);
    }
    leftmost
}

/// Parses one address as it appears in a forwarding header: bare, quoted,
/// with a port, or an IPv6 address in brackets.
fn parse_addr(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_forge_their_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let got = client_ip(ip("203.0.113.9"), Some("1.2.3.4"), None, &trusted);
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let got = client_ip(
            ip("10.0.0.1"),
            Some("6.6.6.6, 198.51.100.7, 10.0.0.2"),
            None,
            &trusted,
        );
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn a_chain_of_trusted_hops_gives_its_leftmost_and_garbage_gives_the_peer() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = ip("10.0.0.1");
        let got = client_ip(peer, Some("10.0.0.9, junk, 10.0.0.2"), None, &trusted);
        assert_eq!(got, ip("10.0.0.9"));
        assert_eq!(client_ip(peer, Some("junk, ,"), None, &trusted), peer);
        let forwarded = "for=10.0.0.7, for=unknown;proto=http, for=10.0.0.3";
        assert_eq!(
            client_ip(peer, None, Some(forwarded), &trusted),
            ip("10.0.0.7")
        );
    }

    #[test]
    fn forwarded_header_is_read_when_there_is_no_xff() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let got = client_ip(
            ip("127.0.0.1"),
            None,
            Some("for=\"[2001:db8::1]:4711\";proto=https, for=192.0.2.60"),
            &trusted,
        );
        assert_eq!(got, ip("192.0.2.60"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }

    #[test]
    fn reporter_ids_depend_on_secret_address_and_token() {
        let a = ReporterKey::new(b"one");
        let b = ReporterKey::new(b"two");
        let addr = ip("192.0.2.1");
        assert_eq!(a.reporter(addr, None), a.reporter(addr, None));
        assert_ne!(a.reporter(addr, None), b.reporter(addr, None));
        assert_ne!(a.reporter(addr, None), a.reporter(addr, Some("t")));
        assert_ne!(a.reporter(addr, None), a.reporter(ip("192.0.2.2"), None));
    }
}
