//! Reporter identity: which client a report came from, without keeping the
//! client's address.

use crate::domain::ClientAddr;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
}
