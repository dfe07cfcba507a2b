//! Reporter identity: which client a report came from, and which networks,
//! without keeping the client's address.

use crate::domain::{ClientAddr, NetworkKeys, Scope};
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

/// Turns a client address (and an optional anonymous client token) into a
/// 16-byte reporter id with HMAC-SHA256 under a secret made on first start.
/// The same client maps to the same id for as long as the database lives;
/// without the secret the id cannot be turned back into an address.
#[derive(Clone)]
pub struct ReporterKey {
    /// The keyed MAC, cloned per use (cheaper than re-keying).
    mac: Hmac<Sha256>,
    /// The MAC behind network keys, under a key derived from the secret, so
    /// that a network's key can never equal a reporter id or a source.
    networks_mac: Hmac<Sha256>,
}

/// Keys an HMAC; HMAC takes keys of any length, so this cannot fail.
fn keyed(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

impl ReporterKey {
    pub fn new(secret: &[u8]) -> Self {
        let mut derive = keyed(secret);
        derive.update(b"downwave network keys");
        let networks_key = derive.finalize().into_bytes();
        ReporterKey {
            mac: keyed(secret),
            networks_mac: keyed(&networks_key),
        }
    }

    /// The reporter id of a client: its address (an IPv6 client by its /64,
    /// inside which it can rotate freely) and, if sent, its token.
    pub fn reporter(&self, addr: ClientAddr, client_token: Option<&str>) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(addr.host_key_bytes().as_ref());
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

    /// The source of a client's reports: its address alone, whatever token
    /// it sends (the reporter id it has without one), so that the reports of
    /// one address can be capped however many tokens it makes up.
    pub fn source(&self, addr: ClientAddr) -> [u8; 16] {
        self.reporter(addr, None)
    }

    /// The keys of the site and provider networks around a client (see
    /// [`NetworkKeys`]): what the counting of distinct networks keys on.
    pub fn networks(&self, addr: ClientAddr) -> NetworkKeys {
        NetworkKeys {
            site: self.network(addr.network(Scope::Site)),
            provider: self.network(addr.network(Scope::Provider)),
        }
    }

    fn network(&self, net: IpNet) -> [u8; 8] {
        let mut mac = self.networks_mac.clone();
        // The prefix length first, so a /24 and a /16 with the same leading
        // bytes never share a key.
        mac.update(&[net.prefix_len()]);
        match net {
            IpNet::V4(n) => mac.update(&n.network().octets()),
            IpNet::V6(n) => mac.update(&n.network().octets()),
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ClientAddr {
        ClientAddr::new(s.parse().unwrap())
    }

    #[test]
    fn reporter_ids_depend_on_secret_address_and_token() {
        let a = ReporterKey::new(b"one");
        let b = ReporterKey::new(b"two");
        let ip = addr("192.0.2.1");
        assert_eq!(a.reporter(ip, None), a.reporter(ip, None));
        assert_ne!(a.reporter(ip, None), b.reporter(ip, None));
        assert_ne!(a.reporter(ip, None), a.reporter(ip, Some("t")));
        assert_ne!(a.reporter(ip, None), a.reporter(addr("192.0.2.2"), None));
    }

    #[test]
    fn one_client_one_id_whatever_the_spelling_or_the_host_in_its_slash_64() {
        let k = ReporterKey::new(b"k");
        assert_eq!(
            k.reporter(addr("::ffff:192.0.2.1"), None),
            k.reporter(addr("192.0.2.1"), None)
        );
        assert_eq!(
            k.reporter(addr("2001:db8:1:2::1"), None),
            k.reporter(addr("2001:db8:1:2:aaaa::9"), None)
        );
        assert_ne!(
            k.reporter(addr("2001:db8:1:2::1"), None),
            k.reporter(addr("2001:db8:1:3::1"), None)
        );
    }

    #[test]
    fn network_keys_follow_the_site_and_provider_of_an_address() {
        let k = ReporterKey::new(b"k");
        let n = |s: &str| k.networks(addr(s));
        // One /24, one /16; the next /24 is another site of the same provider.
        assert_eq!(n("192.0.2.1"), n("192.0.2.200"));
        assert_eq!(n("::ffff:192.0.2.7"), n("192.0.2.1"));
        assert_ne!(n("192.0.3.1").site, n("192.0.2.1").site);
        assert_eq!(n("192.0.3.1").provider, n("192.0.2.1").provider);
        assert_ne!(n("192.1.2.1").provider, n("192.0.2.1").provider);
        // IPv6: /48 and /32.
        assert_eq!(n("2001:db8:1:2::1"), n("2001:db8:1:ffff::9"));
        assert_ne!(n("2001:db8:2::1").site, n("2001:db8:1::1").site);
        assert_eq!(n("2001:db8:2::1").provider, n("2001:db8:1::1").provider);
        // Keyed: another secret, other keys; and never a reporter id's bytes.
        assert_ne!(
            ReporterKey::new(b"j").networks(addr("192.0.2.1")),
            n("192.0.2.1")
        );
        assert_ne!(n("192.0.2.1").site[..], k.source(addr("192.0.2.1"))[..8]);
    }
}
