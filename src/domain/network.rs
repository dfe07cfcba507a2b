//! Client addresses and the networks they belong to.
//!
//! Everything that matches or keys a client address (the trusted-proxy
//! check, the rate limiter, reporter ids, the counting of distinct networks)
//! goes through [`ClientAddr`], so they all agree on one spelling of an
//! address: an IPv4 peer reaching a socket bound to `[::]` arrives as
//! `::ffff:192.0.2.1`, and is the same client as `192.0.2.1`.
//!
//! One address is a weak identity: an IPv6 host picks new addresses inside
//! its /64 at will, and a /48 holds 65,536 of those. [`Scope`] names the
//! networks downwave reasons about, each a step wider than the last.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::IpAddr;

/// A client address, IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) turned
/// into the IPv4 address they carry. The only way to make one is
/// [`ClientAddr::new`], so no key is ever taken from an unnormalised address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(IpAddr);

/// How wide a network to take around a client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One client: an IPv4 address, or an IPv6 /64 (the smallest network a
    /// household, phone or LAN is given, inside which a host rotates its
    /// address freely).
    Host,
    /// One site: an IPv4 /24, or an IPv6 /48 (the usual end-site assignment,
    /// RFC 6177, which holds 65,536 /64s).
    Site,
    /// One provider block: an IPv4 /16, or an IPv6 /32 (the usual smallest
    /// allocation from a registry to a provider).
    Provider,
}

impl Scope {
    /// The prefix length of this scope for IPv4 and IPv6 addresses.
    pub fn prefix_len(self, ipv4: bool) -> u8 {
        match (self, ipv4) {
            (Scope::Host, true) => 32,
            (Scope::Host, false) => 64,
            (Scope::Site, true) => 24,
            (Scope::Site, false) => 48,
            (Scope::Provider, true) => 16,
            (Scope::Provider, false) => 32,
        }
    }
}

impl ClientAddr {
    pub fn new(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientAddr(IpAddr::V4(v4)),
                None => ClientAddr(ip),
            },
            IpAddr::V4(_) => ClientAddr(ip),
        }
    }

    pub fn ip(self) -> IpAddr {
        self.0
    }

    pub fn is_ipv4(self) -> bool {
        self.0.is_ipv4()
    }

    /// The network of `scope` that holds this address.
    pub fn network(self, scope: Scope) -> IpNet {
        let len = scope.prefix_len(self.is_ipv4());
        // The lengths above are within 32 and 128, so these cannot fail;
        // the fallback (the address alone) is never taken.
        match self.0 {
            IpAddr::V4(v4) => Ipv4Net::new(v4, len)
                .map(|n| IpNet::V4(n.trunc()))
                .unwrap_or_else(|_| IpNet::from(self.0)),
            IpAddr::V6(v6) => Ipv6Net::new(v6, len)
                .map(|n| IpNet::V6(n.trunc()))
                .unwrap_or_else(|_| IpNet::from(self.0)),
        }
    }

    /// Whether one of `nets` holds this address. A network written in the
    /// IPv4-mapped form (`::ffff:127.0.0.1/128`) holds the IPv4 address it
    /// maps, so either spelling of a proxy's address in the settings works.
    pub fn is_in(self, nets: &[IpNet]) -> bool {
        let mapped = match self.0 {
            IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V6(_) => None,
        };
        nets.iter()
            .any(|net| net.contains(&self.0) || mapped.is_some_and(|m| net.contains(&m)))
    }

    /// The address as bytes, for keyed hashes: 4 bytes for IPv4, 16 for IPv6.
    pub fn host_key_bytes(self) -> HostKey {
        match self.network(Scope::Host) {
            IpNet::V4(n) => HostKey::V4(n.addr().octets()),
            IpNet::V6(n) => HostKey::V6(n.addr().octets()),
        }
    }
}

impl From<IpAddr> for ClientAddr {
    fn from(ip: IpAddr) -> Self {
        ClientAddr::new(ip)
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The bytes of a client's [`Scope::Host`] network: what a reporter id is
/// made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKey {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// The keyed hashes of the two networks around a client that decide whether
/// an outage comes from a crowd: its site (an IPv4 /24, an IPv6 /48) and its
/// provider block (an IPv4 /16, an IPv6 /32). Made by
/// `ingest::ReporterKey::networks`; stored beside each report so that the
/// counts survive a restart, never the networks themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkKeys {
    pub site: [u8; 8],
    pub provider: [u8; 8],
}

impl AsRef<[u8]> for HostKey {
    fn as_ref(&self) -> &[u8] {
        match self {
            HostKey::V4(b) => b,
            HostKey::V6(b) => b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ClientAddr {
        ClientAddr::new(s.parse().unwrap())
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_mapped_addresses_become_ipv4() {
        assert_eq!(addr("::ffff:127.0.0.1"), addr("127.0.0.1"));
        assert!(addr("::ffff:192.0.2.1").is_ipv4());
        // Only the mapped range: the deprecated IPv4-compatible form
        // (`::192.0.2.1`) and NAT64 (`64:ff9b::/96`) stay IPv6.
        assert!(!addr("::192.0.2.1").is_ipv4());
        assert!(!addr("64:ff9b::c000:201").is_ipv4());
        assert_eq!(addr("::ffff:192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn networks_of_each_scope() {
        let v4 = addr("192.0.2.77");
        assert_eq!(v4.network(Scope::Host), net("192.0.2.77/32"));
        assert_eq!(v4.network(Scope::Site), net("192.0.2.0/24"));
        assert_eq!(v4.network(Scope::Provider), net("192.0.0.0/16"));
        let v6 = addr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff");
        assert_eq!(v6.network(Scope::Host), net("2001:db8:aaaa:bbbb::/64"));
        assert_eq!(v6.network(Scope::Site), net("2001:db8:aaaa::/48"));
        assert_eq!(v6.network(Scope::Provider), net("2001:db8::/32"));
        // A mapped address has the networks of its IPv4 address.
        assert_eq!(
            addr("::ffff:192.0.2.77").network(Scope::Site),
            net("192.0.2.0/24")
        );
    }

    #[test]
    fn hosts_inside_one_slash_64_share_a_key_and_neighbours_do_not() {
        let a = addr("2001:db8:1:2::1").host_key_bytes();
        let b = addr("2001:db8:1:2:ffff:ffff:ffff:ffff").host_key_bytes();
        let c = addr("2001:db8:1:3::1").host_key_bytes();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            addr("::ffff:1.2.3.4").host_key_bytes().as_ref(),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn membership_accepts_either_spelling_of_an_ipv4_network() {
        let plain = [net("127.0.0.1/32")];
        let mapped = [net("::ffff:127.0.0.1/128")];
        for nets in [&plain[..], &mapped[..]] {
            assert!(addr("127.0.0.1").is_in(nets));
            assert!(addr("::ffff:127.0.0.1").is_in(nets));
            assert!(!addr("127.0.0.2").is_in(nets));
        }
        assert!(addr("2001:db8::1").is_in(&[net("2001:db8::/32")]));
        assert!(!addr("2001:db9::1").is_in(&[net("2001:db8::/32")]));
        assert!(!addr("10.0.0.1").is_in(&[]));
    }
}
