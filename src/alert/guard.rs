//! The SSRF guard: a webhook may only reach the public internet.
//!
//! Targets must be `http`/`https`, and no address they resolve to may lie in
//! a block of the IANA IPv4 or IPv6 Special-Purpose Address Registry
//! (loopback, private, link-local with the cloud metadata address
//! 169.254.169.254, shared CGNAT space, documentation, benchmarking, the IETF
//! protocol assignments, ...), in multicast, in the reserved 240.0.0.0/4, or,
//! for IPv6, outside the global unicast space 2000::/3. Addresses that stand
//! for an IPv4 address (IPv4-mapped `::ffff:a.b.c.d` and the NAT64 prefix
//! `64:ff9b::/96`) are judged by that IPv4 address, so a DNS64 network still
//! reaches public receivers; the other forms that carry one (IPv4-compatible
//! `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, 6to4 `2002::/16`, Teredo
//! `2001::/32`) are refused whole: they are registry blocks themselves, and
//! a host configured for them would tunnel to the IPv4 address inside.
//!
//! The blocks are the registries transcribed, one line each with its name
//! (the refusal names the block); `ipnet` does the arithmetic. No maintained
//! crate covers both registries today and the embedded forms: the `is_global`
//! backports follow std's unstable method, which judges `64:ff9b::7f00:1`
//! global.
//!
//! Checked when a subscription is made or changed, and again at every
//! delivery: the HTTP client resolves names only through [`GuardedResolver`],
//! which refuses a name if any of its addresses is refused and hands the
//! client exactly the addresses it checked, so a DNS answer that changes
//! between the check and the connection (DNS rebinding) cannot reach a
//! refused block. `webhook_allow_private` lifts all of this, for tests and
//! closed networks.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
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
    #[error(
        "{host} {}{addr}, which is in {block} ({name}); downwave only sends webhooks to public \
         addresses (see webhook_allow_private)",
        if host == &addr.to_string() { "is " } else { "resolves to " }
    )]
    Refused {
        host: String,
        addr: IpAddr,
        block: IpNet,
        name: &'static str,
    },
    #[error("{0} does not resolve")]
    Unresolvable(String),
}

/// A special-purpose block and what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub net: IpNet,
    pub name: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, name: &'static str) -> Block {
    Block {
        net: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)),
        name,
    }
}

const fn v6(segments: [u16; 8], len: u8, name: &'static str) -> Block {
    let [a, b, c, d, e, f, g, h] = segments;
    Block {
        net: IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::new(a, b, c, d, e, f, g, h),
            len,
        )),
        name,
    }
}

/// The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its
/// updates), with multicast and the reserved 240.0.0.0/4; a block inside
/// another comes first so that a refusal names the narrower one.
const V4_BLOCKS: [Block; 19] = [
    v4(0, 0, 0, 0, 8, "\"this network\", RFC 791"),
    v4(10, 0, 0, 0, 8, "private use, RFC 1918"),
    v4(
        100,
        64,
        0,
        0,
        10,
        "shared address space (carrier-grade NAT), RFC 6598",
    ),
    v4(127, 0, 0, 0, 8, "loopback, RFC 1122"),
    v4(
        169,
        254,
        0,
        0,
        16,
        "link local, with the cloud metadata address, RFC 3927",
    ),
    v4(172, 16, 0, 0, 12, "private use, RFC 1918"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments, RFC 6890"),
    v4(192, 0, 2, 0, 24, "documentation (TEST-NET-1), RFC 5737"),
    v4(192, 31, 196, 0, 24, "AS112-v4, RFC 7535"),
    v4(192, 52, 193, 0, 24, "AMT, RFC 7450"),
    v4(
        192,
        88,
        99,
        0,
        24,
        "deprecated 6to4 relay anycast, RFC 7526",
    ),
    v4(192, 168, 0, 0, 16, "private use, RFC 1918"),
    v4(
        192,
        175,
        48,
        0,
        24,
        "direct delegation AS112 service, RFC 7534",
    ),
    v4(198, 18, 0, 0, 15, "benchmarking, RFC 2544"),
    v4(198, 51, 100, 0, 24, "documentation (TEST-NET-2), RFC 5737"),
    v4(203, 0, 113, 0, 24, "documentation (TEST-NET-3), RFC 5737"),
    v4(224, 0, 0, 0, 4, "multicast, RFC 5771"),
    v4(255, 255, 255, 255, 32, "limited broadcast, RFC 919"),
    v4(240, 0, 0, 0, 4, "reserved, RFC 1112"),
];

/// The IANA IPv6 Special-Purpose Address Registry (RFC 6890 and its
/// updates), with multicast and the deprecated site-local block; narrower
/// blocks first.
const V6_BLOCKS: [Block; 27] = [
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified, RFC 4291"),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback, RFC 4291"),
    v6(
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-compatible (deprecated), RFC 4291",
    ),
    v6(
        [0, 0, 0, 0, 0xffff, 0, 0, 0],
        96,
        "IPv4-translated, RFC 2765",
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use IPv4/IPv6 translation, RFC 8215",
    ),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only, RFC 6666"),
    v6(
        [0x100, 0, 0, 1, 0, 0, 0, 0],
        64,
        "dummy IPv6 prefix, RFC 9780",
    ),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo, RFC 4380"),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 1],
        128,
        "port control protocol anycast, RFC 7723",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 2],
        128,
        "traversal using relays around NAT anycast, RFC 8155",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 3],
        128,
        "DNS-SD service registration protocol anycast, RFC 9665",
    ),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "benchmarking, RFC 5180"),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT, RFC 7450"),
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6, RFC 7535"),
    v6(
        [0x2001, 0x10, 0, 0, 0, 0, 0, 0],
        28,
        "deprecated ORCHID, RFC 4843",
    ),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2, RFC 7343"),
    v6(
        [0x2001, 0x30, 0, 0, 0, 0, 0, 0],
        28,
        "drone remote ID protocol entity tags, RFC 9374",
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments, RFC 2928",
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation, RFC 3849",
    ),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4, RFC 3056"),
    v6(
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        "direct delegation AS112 service, RFC 7534",
    ),
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation, RFC 9637"),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing (SRv6) SIDs, RFC 9602",
    ),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local, RFC 4193"),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link local, RFC 4291"),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "site local (deprecated), RFC 3879",
    ),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast, RFC 4291"),
];

/// What an IPv6 address outside every block above and outside 2000::/3 is
/// refused as: unassigned or reserved space that nothing public answers on.
const NOT_GLOBAL_UNICAST: Block = v6(
    [0, 0, 0, 0, 0, 0, 0, 0],
    0,
    "outside the global unicast space 2000::/3, RFC 4291",
);

/// The IPv4 address an IPv6 address stands for, in the forms a host
/// connects to as that IPv4 address: IPv4-mapped and the NAT64 prefix.
fn stands_for_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..6] == [0, 0, 0, 0, 0, 0xffff];
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (mapped || nat64).then_some(tail)
}

/// The special-purpose block that puts an address off limits, if any.
pub fn refusal(ip: IpAddr) -> Option<Block> {
    match ip {
        IpAddr::V4(v4) => V4_BLOCKS
            .iter()
            .find(|b| b.net.contains(&IpAddr::V4(v4)))
            .copied(),
        IpAddr::V6(v6) => {
            if let Some(inner) = stands_for_v4(v6) {
                return refusal(IpAddr::V4(inner));
            }
            let global_unicast = v6.segments()[0] & 0xe000 == 0x2000;
            V6_BLOCKS
                .iter()
                .find(|b| b.net.contains(&IpAddr::V6(v6)))
                .copied()
                .or((!global_unicast).then_some(NOT_GLOBAL_UNICAST))
        }
    }
}

/// Whether an address is off limits for webhooks.
pub fn is_forbidden(ip: IpAddr) -> bool {
    refusal(ip).is_some()
}

/// Refuses `addrs` (what `host` resolved to) if any of them is refused:
/// a name that mixes public and internal addresses is refused whole.
pub fn screen(host: &str, addrs: &[IpAddr], allow_private: bool) -> Result<(), GuardError> {
    if allow_private {
        return Ok(());
    }
    for &addr in addrs {
        if let Some(block) = refusal(addr) {
            return Err(GuardError::Refused {
                host: host.to_owned(),
                addr,
                block: block.net,
                name: block.name,
            });
        }
    }
    Ok(())
}

/// Checks a target URL's form, and its host if it is an address literal
/// (the HTTP client connects to a literal without resolving it).
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, GuardError> {
    let url = Url::parse(raw).map_err(|e| GuardError::Malformed(e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(GuardError::Scheme);
    }
    if let Some(ip) = literal(&url)? {
        screen(&ip.to_string(), &[ip], allow_private)?;
    }
    Ok(url)
}

/// The address a URL's host names literally (the URL parser has already
/// turned forms like `2130706433` or `0x7f.1` into dotted quads).
fn literal(url: &Url) -> Result<Option<IpAddr>, GuardError> {
    let host = url.host_str().ok_or(GuardError::NoHost)?;
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok())
}

/// Checks the URL and resolves its host now: what a new subscription gets.
pub async fn check_target(raw: &str, allow_private: bool) -> Result<Url, GuardError> {
    let url = check_url(raw, allow_private)?;
    if literal(&url)?.is_some() {
        return Ok(url);
    }
    let host = url.host_str().ok_or(GuardError::NoHost)?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| GuardError::Unresolvable(host.clone()))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(GuardError::Unresolvable(host));
    }
    screen(&host, &addrs, allow_private)?;
    Ok(url)
}

/// Scheme, host and port of a target, never its path or query: Slack and
/// Discord put the webhook's secret in the path, so logs and delivery errors
/// show only this.
pub fn origin(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(url) => match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
            (Some(host), None) => format!("{}://{host}", url.scheme()),
            _ => url.scheme().to_owned(),
        },
        Err(_) => "an unparsable URL".to_owned(),
    }
}

/// The HTTP client's only resolver: it resolves a name, refuses it if any
/// address is refused, and gives the client exactly the addresses it
/// checked to connect to.
pub struct GuardedResolver {
    pub allow_private: bool,
    /// The host of the configured `webhook_proxy`, which the operator chose:
    /// it is resolved without the guard (with a proxy, targets are resolved
    /// by the proxy, never here).
    pub proxy_host: Option<String>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow = self.allow_private || self.proxy_host.as_deref() == Some(host.as_str());
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(Box::new(GuardError::Unresolvable(host)) as _);
            }
            let ips: Vec<IpAddr> = found.iter().map(SocketAddr::ip).collect();
            if let Err(e) = screen(&host, &ips, allow) {
                return Err(Box::new(e) as _);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_addresses_of_issue_13_are_refused() {
        for (addr, block) in [
            ("::7f00:1", "::/96"),
            ("::127.0.0.1", "::/96"),
            ("64:ff9b::7f00:1", "127.0.0.0/8"),
            ("2002:7f00:1::1", "2002::/16"),
            ("::ffff:0:7f00:1", "::ffff:0:0:0/96"),
            ("192.0.2.2", "192.0.2.0/24"),
            ("192.0.2.0", "192.0.2.0/24"),
            ("192.0.2.255", "192.0.2.0/24"),
            ("198.18.0.1", "198.18.0.0/15"),
            ("198.19.255.254", "198.18.0.0/15"),
            ("240.0.0.1", "240.0.0.0/4"),
            ("255.255.255.254", "240.0.0.0/4"),
        ] {
            let found = refusal(ip(addr)).unwrap_or_else(|| panic!("{addr} is accepted"));
            assert_eq!(found.net.to_string(), block, "{addr}");
        }
    }

    #[test]
    fn every_special_purpose_block_is_refused() {
        for addr in [
            // IPv4 registry, multicast, broadcast
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.0.9",
            "192.0.0.170",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.1.1",
            "192.175.48.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            // IPv6 registry, multicast, site local, outside 2000::/3
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:a00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::c000:202",
            "64:ff9b:1::1",
            "100::1",
            "100:0:0:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:1::1",
            "2001:1::2",
            "2001:1::3",
            "2001:2::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:10::1",
            "2001:20::1",
            "2001:30::1",
            "2001:100::1",
            "2001:db8::1",
            "2002:c000:202::1",
            "2002:a00:1::1",
            "2620:4f:8000::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "4000::1",
            "1::1",
            "8000::1",
            "e000::1",
        ] {
            assert!(is_forbidden(ip(addr)), "{addr} is accepted");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "9.9.9.9",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2620:4f:8001::1",
            "::ffff:8.8.8.8",
            // NAT64 (DNS64) of a public address stands for that address.
            "64:ff9b::808:808",
        ] {
            assert!(
                !is_forbidden(ip(addr)),
                "{addr} is refused: {:?}",
                refusal(ip(addr))
            );
        }
    }

    #[test]
    fn a_name_is_refused_if_any_of_its_addresses_is() {
        let mixed = [ip("1.1.1.1"), ip("127.0.0.1")];
        let err = screen("rebind.example", &mixed, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rebind.example resolves to 127.0.0.1, which is in 127.0.0.0/8 (loopback, RFC \
             1122); downwave only sends webhooks to public addresses (see webhook_allow_private)"
        );
        assert!(screen("rebind.example", &mixed, true).is_ok());
        assert!(screen(
            "one.example",
            &[ip("1.1.1.1"), ip("2606:4700::1111")],
            false
        )
        .is_ok());
    }

    #[test]
    fn urls_are_checked_for_scheme_and_literal_hosts() {
        assert_eq!(
            check_url("ftp://example.com/", false).unwrap_err(),
            GuardError::Scheme
        );
        for refused in [
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://[::7f00:1]/x",
            "http://[::ffff:0:7f00:1]/x",
            "http://[64:ff9b::7f00:1]:8080/x",
            "http://[2002:7f00:1::1]/x",
            "http://192.0.2.2/x",
            "http://2130706433/x",
            "http://0x7f.1/x",
        ] {
            assert!(
                matches!(check_url(refused, false), Err(GuardError::Refused { .. })),
                "{refused}"
            );
        }
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("https://hooks.slack.com/services/T/B/X", false).is_ok());
        assert!(check_url("http://[2606:4700::1111]/x", false).is_ok());
        assert!(matches!(
            check_url("not a url", false),
            Err(GuardError::Malformed(_))
        ));
    }

    #[test]
    fn an_origin_never_shows_the_path() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T000/B000/XXXX?x=1#y"),
            "https://hooks.slack.com:443"
        );
        assert_eq!(
            origin("http://user:pw@127.0.0.1:8080/api/webhooks/1/tok"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("http://[::1]/a"), "http://[::1]:80");
        assert_eq!(origin("::"), "an unparsable URL");
    }
}
