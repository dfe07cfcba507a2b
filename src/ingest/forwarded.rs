//! Which client a request came from when proxies stand in front of
//! downwave: a pure function of the direct peer, the forwarding header the
//! operator named, and the proxies the operator trusts.
//!
//! A forwarding header is a list that every proxy on the way appends to, so
//! only its right end is written by proxies; everything to the left of the
//! first hop that no trusted proxy vouches for was written by the client and
//! is a claim, not a fact. [`client_address`] therefore reads the header from
//! the right, across all of its lines, passes over trusted proxies, and stops
//! at the first address that is not one. A hop it cannot name (`unknown`, an
//! obfuscated `_name`, an element without `for`, anything that does not
//! parse) ends the walk too: whoever is behind it is unknown, and the answer
//! is the trusted proxy that reported it, never a client-written value
//! further left.
//!
//! Only the header the operator names is read: a proxy that sets
//! `Forwarded` passes a client's own `X-Forwarded-For` through untouched, and
//! the other way round.

use crate::domain::ClientAddr;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The forwarding header that the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, Caddy, HAProxy,
    /// cloud load balancers).
    #[value(name = "x-forwarded-for")]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[value(name = "forwarded")]
    #[serde(rename = "forwarded")]
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lower case as HTTP/2 and actix spell it.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The client behind a request.
///
/// `lines` are the values of every `header` line of the request, in the
/// order received. The peer is the answer unless it is one of `trusted`;
/// then the header is walked from the right as the module explains.
pub fn client_address(
    peer: IpAddr,
    header: ForwardedHeader,
    lines: &[&[u8]],
    trusted: &[IpNet],
) -> ClientAddr {
    let peer = ClientAddr::new(peer);
    if !peer.is_in(trusted) {
        return peer;
    }
    let mut nearest = peer;
    let mut step = |hop: Option<IpAddr>| -> Walk {
        match hop.map(ClientAddr::new) {
            Some(addr) if addr.is_in(trusted) => {
                nearest = addr;
                Walk::Continue
            }
            Some(addr) => Walk::Found(addr),
            None => Walk::Stop,
        }
    };
    let found = match header {
        ForwardedHeader::XForwardedFor => lines.iter().rev().find_map(|line| {
            line.rsplit(|&b| b == b',')
                .filter_map(xff_element)
                .find_map(|hop| step(hop).end())
        }),
        ForwardedHeader::Forwarded => lines.iter().rev().find_map(|line| {
            forwarded_hops(line)
                .into_iter()
                .rev()
                .find_map(|hop| step(hop).end())
        }),
    };
    match found {
        Some(Walk::Found(addr)) => addr,
        // Stopped at an unknown hop, or every hop was a trusted proxy.
        _ => nearest,
    }
}

/// One step of the walk from the right.
enum Walk {
    Continue,
    Found(ClientAddr),
    Stop,
}

impl Walk {
    /// `Some` when the walk is over.
    fn end(self) -> Option<Walk> {
        match self {
            Walk::Continue => None,
            over => Some(over),
        }
    }
}

/// One element of an `X-Forwarded-For` list: `None` for an empty element
/// (the list rule of RFC 9110 ignores those), `Some(None)` for a hop that
/// names no address.
fn xff_element(raw: &[u8]) -> Option<Option<IpAddr>> {
    let trimmed = trim_ows(raw);
    if trimmed.is_empty() {
        return None;
    }
    Some(std::str::from_utf8(trimmed).ok().and_then(parse_node))
}

/// The `for=` hop of every element of one `Forwarded` line, left to right,
/// `None` for an element that names no address. A line that breaks the
/// grammar of RFC 7239 is one hop that names none: where its elements begin
/// and end cannot be known.
fn forwarded_hops(line: &[u8]) -> Vec<Option<IpAddr>> {
    ForwardedParser { s: line, i: 0 }
        .elements()
        .unwrap_or_else(|| vec![None])
}

/// A cursor over one `Forwarded` header line:
///
/// ```text
/// Forwarded         = 1#forwarded-element
/// forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
/// forwarded-pair    = token "=" value
/// value             = token / quoted-string
/// ```
///
/// with optional whitespace around `,` and `;`, and empty list elements
/// ignored (RFC 9110, section 5.6.1).
struct ForwardedParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> ForwardedParser<'a> {
    fn elements(&mut self) -> Option<Vec<Option<IpAddr>>> {
        let mut hops = Vec::new();
        loop {
            self.skip_ows();
            match self.peek() {
                None => return Some(hops),
                Some(b',') => self.i += 1,
                Some(_) => {
                    hops.push(self.element()?);
                    self.skip_ows();
                    match self.peek() {
                        None => return Some(hops),
                        Some(b',') => self.i += 1,
                        Some(_) => return None,
                    }
                }
            }
        }
    }

    /// One element up to (not including) the `,` that ends it: its `for`
    /// address, `None` if it has none or names none.
    fn element(&mut self) -> Option<Option<IpAddr>> {
        let mut hop: Option<Option<IpAddr>> = None;
        loop {
            self.skip_ows();
            match self.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    self.i += 1;
                    continue;
                }
                Some(_) => {}
            }
            let name = self.token()?;
            if self.peek() != Some(b'=') {
                return None;
            }
            self.i += 1;
            let value = if self.peek() == Some(b'"') {
                self.quoted_string()?
            } else {
                self.token()?.to_vec()
            };
            if name.eq_ignore_ascii_case(b"for") {
                // A parameter occurs at most once per element (RFC 7239,
                // section 4); two `for`s cannot both be believed.
                let node = std::str::from_utf8(&value).ok().and_then(parse_node);
                hop = Some(if hop.is_some() { None } else { node });
            }
            self.skip_ows();
            match self.peek() {
                None | Some(b',') => break,
                Some(b';') => self.i += 1,
                Some(_) => return None,
            }
        }
        Some(hop.flatten())
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// A non-empty RFC 9110 token.
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| &self.s[start..self.i])
    }

    /// A quoted string, unescaped.
    fn quoted_string(&mut self) -> Option<Vec<u8>> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    let escaped = self
                        .peek()
                        .filter(|&c| matches!(c, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff))?;
                    out.push(escaped);
                    self.i += 1;
                }
                b if is_qdtext(b) => out.push(b),
                _ => return None,
            }
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Text allowed in a quoted string without escaping (the quote and the
/// backslash are the two exceptions among visible characters).
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The address of one hop: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`, or a bare `2001:db8::1` (not RFC 7239's form, but
/// what some proxies write). `None` for `unknown`, an obfuscated `_name`,
/// or anything else.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = host.parse().ok()?;
        return (after.is_empty() || after.strip_prefix(':').is_some_and(is_port))
            .then_some(IpAddr::V6(ip));
    }
    let (host, port) = s.split_once(':')?;
    let ip: Ipv4Addr = host.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(ip))
}

/// A port, or an obfuscated one (`_` and letters, digits, `.`, `_`, `-`).
fn is_port(s: &str) -> bool {
    let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = s.len() > 1
        && s.starts_with('_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    digits || obfuscated
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ForwardedHeader::{Forwarded, XForwardedFor};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    /// The client seen through `lines` of `header`, from peer 10.0.0.1,
    /// with 10.0.0.0/8 and 2001:db8:ffff::/48 trusted.
    fn via(header: ForwardedHeader, lines: &[&str]) -> IpAddr {
        let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        client_address(
            ip("10.0.0.1"),
            header,
            &lines,
            &nets(&["10.0.0.0/8", "2001:db8:ffff::/48"]),
        )
        .ip()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let trusted = nets(&["10.0.0.0/8"]);
        for header in [XForwardedFor, Forwarded] {
            let got = client_address(
                ip("203.0.113.9"),
                header,
                &[b"1.2.3.4", b"for=1.2.3.4"],
                &trusted,
            );
            assert_eq!(got.ip(), ip("203.0.113.9"));
        }
    }

    #[test]
    fn without_the_header_the_trusted_peer_is_the_client() {
        assert_eq!(via(XForwardedFor, &[]), ip("10.0.0.1"));
        assert_eq!(via(Forwarded, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn xff_is_walked_from_the_right_past_trusted_proxies() {
        assert_eq!(
            via(XForwardedFor, &["6.6.6.6, 198.51.100.7, 10.0.0.2"]),
            ip("198.51.100.7")
        );
        // Every hop trusted: the leftmost one is as far as anyone vouches.
        assert_eq!(via(XForwardedFor, &["10.0.0.9, 10.0.0.2"]), ip("10.0.0.9"));
    }

    #[test]
    fn xff_reads_every_line_and_the_last_line_is_nearest() {
        // The client sent a line of its own; the proxy added another.
        assert_eq!(
            via(XForwardedFor, &["6.6.6.6", "198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            via(
                XForwardedFor,
                &["6.6.6.6", "198.51.100.7, 10.0.0.5", "10.0.0.4"]
            ),
            ip("198.51.100.7")
        );
        // A trusted last line passes the walk on to the line before it.
        assert_eq!(
            via(XForwardedFor, &["198.51.100.7", "10.0.0.4"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_unknown_or_unparsable_hop_ends_the_walk_at_the_proxy_that_wrote_it() {
        for hop in [
            "unknown",
            "_hidden",
            "junk",
            "1.2.3",
            "[2001:db8::1",
            "1.2.3.4:x",
        ] {
            let chain = format!("6.6.6.6, {hop}");
            assert_eq!(via(XForwardedFor, &[&chain]), ip("10.0.0.1"), "{hop}");
            let chain = format!("6.6.6.6, {hop}, 10.0.0.7");
            assert_eq!(via(XForwardedFor, &[&chain]), ip("10.0.0.7"), "{hop}");
        }
        // Bytes that are not text are no address either.
        let lines: [&[u8]; 2] = [b"6.6.6.6", b"\xff\xfe"];
        let got = client_address(
            ip("10.0.0.1"),
            XForwardedFor,
            &lines,
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(got.ip(), ip("10.0.0.1"));
    }

    #[test]
    fn empty_list_elements_are_ignored() {
        assert_eq!(
            via(XForwardedFor, &["198.51.100.7,, 10.0.0.2 ,"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            via(Forwarded, &[", for=198.51.100.7 ,, for=10.0.0.2,"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        assert_eq!(
            via(XForwardedFor, &["198.51.100.7:4711"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            via(XForwardedFor, &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(via(XForwardedFor, &["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(via(XForwardedFor, &["2001:db8::1"]), ip("2001:db8::1"));
        // A mapped hop is its IPv4 address: trusted, and reported as IPv4.
        assert_eq!(
            via(XForwardedFor, &["198.51.100.7, ::ffff:10.0.0.3"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            via(XForwardedFor, &["::ffff:198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Trusted IPv6 proxies are passed over like IPv4 ones.
        assert_eq!(
            via(XForwardedFor, &["2001:db8:1::5, [2001:db8:ffff::1]:80"]),
            ip("2001:db8:1::5")
        );
    }

    #[test]
    fn a_mapped_peer_is_trusted_as_its_ipv4_address() {
        let got = client_address(
            ip("::ffff:127.0.0.1"),
            XForwardedFor,
            &[b"198.51.100.7"],
            &nets(&["127.0.0.1/32"]),
        );
        assert_eq!(got.ip(), ip("198.51.100.7"));
        // Without a header the client is the peer, written as IPv4.
        let got = client_address(ip("::ffff:127.0.0.1"), XForwardedFor, &[], &[]);
        assert_eq!(got.ip(), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_follows_rfc_7239() {
        // Section 4's examples.
        assert_eq!(
            via(Forwarded, &["for=\"_gazonk\""]),
            ip("10.0.0.1"),
            "obfuscated"
        );
        assert_eq!(
            via(Forwarded, &["For=\"[2001:db8:cafe::17]:4711\""]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            via(Forwarded, &["for=192.0.2.60;proto=http;by=203.0.113.43"]),
            ip("192.0.2.60")
        );
        assert_eq!(
            via(Forwarded, &["for=192.0.2.43, for=198.51.100.17"]),
            ip("198.51.100.17")
        );
        // Parameter names in any case, in any order, with spaces around `;`.
        assert_eq!(
            via(Forwarded, &["proto=https ; FOR=198.51.100.17 ;by=10.0.0.1"]),
            ip("198.51.100.17")
        );
        // Quoted IPv4 with a port, and an obfuscated port.
        assert_eq!(
            via(Forwarded, &["for=\"192.0.2.60:8080\""]),
            ip("192.0.2.60")
        );
        assert_eq!(
            via(Forwarded, &["for=\"192.0.2.60:_p1\""]),
            ip("192.0.2.60")
        );
        assert_eq!(
            via(Forwarded, &["for=\"[2001:db8::9]:_port\""]),
            ip("2001:db8::9")
        );
    }

    #[test]
    fn forwarded_walks_every_element_of_every_line_from_the_right() {
        assert_eq!(
            via(
                Forwarded,
                &["for=6.6.6.6", "for=198.51.100.17;proto=https, for=10.0.0.2"]
            ),
            ip("198.51.100.17")
        );
        assert_eq!(
            via(
                Forwarded,
                &[
                    "for=6.6.6.6, for=198.51.100.17",
                    "for=10.0.0.3",
                    "for=\"[2001:db8:ffff::2]\""
                ]
            ),
            ip("198.51.100.17")
        );
    }

    #[test]
    fn forwarded_quoted_strings_may_hold_separators_and_escapes() {
        // A naive split at `,` and `;` would see `for=6.6.6.6` as an element.
        assert_eq!(
            via(
                Forwarded,
                &["for=198.51.100.17;host=\"a,b;for=6.6.6.6\", for=10.0.0.2"]
            ),
            ip("198.51.100.17")
        );
        assert_eq!(
            via(Forwarded, &["for=\"198.51.100.17\";ext=\"say \\\"hi\\\"\""]),
            ip("198.51.100.17")
        );
        assert_eq!(
            via(Forwarded, &["for=\"198.51\\.100.17\""]),
            ip("198.51.100.17")
        );
    }

    #[test]
    fn forwarded_hops_that_name_no_address_end_the_walk() {
        for element in [
            "for=unknown",
            "for=_hidden",
            "for=\"_hidden\"",
            "proto=https",
            "for=\"[2001:db8::1]:80x\"",
            "for=192.0.2.1;for=192.0.2.2",
        ] {
            let line = format!("for=6.6.6.6, {element}");
            assert_eq!(via(Forwarded, &[&line]), ip("10.0.0.1"), "{element}");
            let line = format!("for=6.6.6.6, {element}, for=10.0.0.8");
            assert_eq!(via(Forwarded, &[&line]), ip("10.0.0.8"), "{element}");
        }
    }

    #[test]
    fn a_forwarded_line_that_breaks_the_grammar_is_one_unknown_hop() {
        for line in [
            "for=\"6.6.6.6",
            "for=6.6.6.6 junk",
            "for 6.6.6.6",
            "=6.6.6.6",
            "for=[2001:db8::1]",
            "for=\"a\u{1}\"",
            "for=",
        ] {
            assert_eq!(
                via(Forwarded, &["for=7.7.7.7", line]),
                ip("10.0.0.1"),
                "{line}"
            );
            // Lines after it, written by proxies, are still read.
            assert_eq!(
                via(Forwarded, &[line, "for=198.51.100.17"]),
                ip("198.51.100.17"),
                "{line}"
            );
        }
    }

    #[test]
    fn only_the_named_header_is_parsed() {
        // Each syntax read as the other names no address.
        assert_eq!(via(XForwardedFor, &["for=198.51.100.17"]), ip("10.0.0.1"));
        assert_eq!(via(Forwarded, &["198.51.100.17"]), ip("10.0.0.1"));
    }

    fn arbitrary_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            "[ -~]{0,40}".prop_map(String::into_bytes),
            "(for=|For=|;|,| |\"|\\\\|unknown|_x|1\\.2\\.3\\.4|\\[::1\\]|:80|10\\.0\\.0\\.2)*"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        /// Whatever a client writes into the header, a trusted proxy that
        /// adds its own line names the client; and nothing panics.
        #[test]
        fn no_client_written_line_changes_what_the_proxy_appended(
            client_lines in proptest::collection::vec(arbitrary_line(), 0..4),
            last in 0u8..=255,
        ) {
            let client = format!("198.51.100.{last}");
            let trusted = nets(&["10.0.0.0/8"]);
            for (header, appended) in [
                (XForwardedFor, client.clone()),
                (Forwarded, format!("for={client}")),
            ] {
                let mut lines: Vec<&[u8]> = client_lines.iter().map(Vec::as_slice).collect();
                lines.push(appended.as_bytes());
                let got = client_address(ip("10.0.0.1"), header, &lines, &trusted);
                prop_assert_eq!(got.ip(), ip(&client));
            }
        }

        /// A proxy that appends to the client's line instead gives the
        /// client, or (if the client's part breaks the syntax) itself; never
        /// an address the client wrote.
        #[test]
        fn appending_to_the_clients_line_never_believes_the_client(
            client_part in arbitrary_line(),
            last in 0u8..=255,
        ) {
            let client = format!("198.51.100.{last}");
            let trusted = nets(&["10.0.0.0/8"]);
            for (header, appended) in [
                (XForwardedFor, format!(", {client}")),
                (Forwarded, format!(", for={client}")),
            ] {
                let mut line = client_part.clone();
                line.extend_from_slice(appended.as_bytes());
                let got = client_address(ip("10.0.0.1"), header, &[&line], &trusted).ip();
                prop_assert!(got == ip(&client) || got == ip("10.0.0.1"), "{}", got);
            }
        }
    }
}
