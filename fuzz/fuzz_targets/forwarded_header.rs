//! The forwarding-header parser (`ingest::client_address`), two ways.
//!
//! Built headers: a list of hops (addresses from a pool, written in every
//! form the parser takes, or hops that name no address) is written as
//! `X-Forwarded-For` or RFC 7239 `Forwarded` lines with random spacing, empty
//! elements, ports, quoting, escapes and other parameters; the answer must be
//! what walking those hops from the right says: the peer when it is not
//! trusted, else the first untrusted address, else the nearest trusted one.
//!
//! Raw bytes: any lines at all, then one line a trusted proxy appended
//! naming the client. Whatever the client wrote before, the answer is the
//! address that proxy wrote; and with the raw lines alone the answer is the
//! peer or an address the lines hold.
#![no_main]

use arbitrary::Arbitrary;
use downwave::domain::ClientAddr;
use downwave::ingest::{client_address, ForwardedHeader};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

/// Addresses hops and peers are drawn from: trusted and untrusted, IPv4,
/// IPv6 and IPv4-mapped IPv6.
const ADDRESSES: &[&str] = &[
    "10.0.0.1",
    "10.1.2.3",
    "192.0.2.1",
    "198.51.100.7",
    "::ffff:10.0.0.5",
    "::ffff:192.0.2.9",
    "2001:db8::1",
    "2001:db8:ffff::2",
    "2001:db8:ffff:1::3",
    "127.0.0.1",
    "::1",
    "203.0.113.200",
];

/// Networks the operator may trust, in both spellings of IPv4.
const NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "2001:db8:ffff::/48",
    "127.0.0.1/32",
    "::ffff:192.0.2.0/120",
    "::1/128",
    "0.0.0.0/0",
];

fn address(i: u8) -> IpAddr {
    ADDRESSES[i as usize % ADDRESSES.len()]
        .parse()
        .expect("a pool address")
}

#[derive(Arbitrary, Debug)]
enum Hop {
    /// An address; `form` picks the port and bracket forms.
    Addr {
        index: u8,
        port: Option<u16>,
        form: u8,
    },
    /// `unknown`, an obfuscated `_name`, or a word that is no address.
    Unknown(u8),
}

#[derive(Arbitrary, Debug)]
struct Built {
    peer: u8,
    trusted: Vec<u8>,
    forwarded: bool,
    /// Header lines, each a list of hops with its own spacing choices.
    lines: Vec<(Vec<Hop>, u8)>,
}

#[derive(Arbitrary, Debug)]
struct Raw {
    peer_trusted: bool,
    forwarded: bool,
    lines: Vec<Vec<u8>>,
    client: u8,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Built(Built),
    Raw(Raw),
}

fn unknown_word(i: u8) -> &'static str {
    [
        "unknown",
        "_hidden",
        "_a.b-c",
        "zz",
        "[2001:db8::1",
        "1.2.3",
        "local",
    ][i as usize % 7]
}

/// How a hop is written in `X-Forwarded-For`.
fn xff_hop(hop: &Hop) -> String {
    match hop {
        Hop::Addr { index, port, form } => match (address(*index), port, form % 2) {
            (IpAddr::V4(ip), Some(p), _) => format!("{ip}:{p}"),
            (IpAddr::V4(ip), None, _) => ip.to_string(),
            (IpAddr::V6(ip), Some(p), _) => format!("[{ip}]:{p}"),
            (IpAddr::V6(ip), None, 0) => ip.to_string(),
            (IpAddr::V6(ip), None, _) => format!("[{ip}]"),
        },
        Hop::Unknown(i) => unknown_word(*i).to_string(),
    }
}

/// How a hop is written in `Forwarded`: a `for` parameter, quoted where
/// RFC 7239 needs it or at random, with other parameters around it.
fn forwarded_hop(hop: &Hop) -> String {
    let (value, form) = match hop {
        Hop::Addr { index, port, form } => {
            let ip = address(*index);
            let node = match (ip, port) {
                (IpAddr::V4(ip), Some(p)) => format!("{ip}:{p}"),
                (IpAddr::V4(ip), None) => ip.to_string(),
                (IpAddr::V6(ip), Some(p)) => format!("[{ip}]:{p}"),
                (IpAddr::V6(ip), None) => format!("[{ip}]"),
            };
            let must_quote = node.contains(':') || node.contains('[');
            let quoted = if form & 4 != 0 {
                // A quoted-pair may escape any character.
                let mut s = String::from("\"");
                for (i, c) in node.chars().enumerate() {
                    if i == 0 {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
                s
            } else {
                format!("\"{node}\"")
            };
            let value = if must_quote || form & 1 != 0 {
                quoted
            } else {
                node
            };
            (value, *form)
        }
        Hop::Unknown(i) => match i % 4 {
            0 => ("unknown".to_string(), *i),
            1 => ("\"_hidden\"".to_string(), *i),
            // An element without `for`.
            2 => return "proto=https;host=example.com".to_string(),
            // Two `for` parameters: neither can be believed.
            _ => return "for=192.0.2.1;For=198.51.100.7".to_string(),
        },
    };
    let name = if form & 2 != 0 { "For" } else { "for" };
    match form >> 3 & 3 {
        0 => format!("{name}={value}"),
        1 => format!("proto=http;{name}={value}"),
        2 => format!("{name}={value};by=\"_proxy\""),
        _ => format!("host=\"a.example\" ; {name}={value} ;proto=https"),
    }
}

/// `, ` with one of several spacings, sometimes with an empty element.
fn separator(style: u8) -> &'static str {
    [",", ", ", " ,\t", ",,", " , , "][style as usize % 5]
}

fn check_built(b: &Built) {
    let trusted: Vec<IpNet> = b
        .trusted
        .iter()
        .take(4)
        .map(|&i| {
            NETWORKS[i as usize % NETWORKS.len()]
                .parse()
                .expect("a pool network")
        })
        .collect();
    let peer = address(b.peer);
    let header = if b.forwarded {
        ForwardedHeader::Forwarded
    } else {
        ForwardedHeader::XForwardedFor
    };
    let lines: Vec<(&Vec<Hop>, u8)> = b.lines.iter().take(4).map(|(h, s)| (h, *s)).collect();
    let text: Vec<String> = lines
        .iter()
        .map(|(hops, style)| {
            let parts: Vec<String> = hops
                .iter()
                .take(8)
                .map(|h| {
                    if b.forwarded {
                        forwarded_hop(h)
                    } else {
                        xff_hop(h)
                    }
                })
                .collect();
            let lead = if style & 0x80 != 0 { " " } else { "" };
            format!("{lead}{}", parts.join(separator(*style)))
        })
        .collect();
    let raw: Vec<&[u8]> = text.iter().map(|l| l.as_bytes()).collect();
    let got = client_address(peer, header, &raw, &trusted);

    // The walk, written out: from the right across every line.
    let peer_addr = ClientAddr::new(peer);
    let expected = if !peer_addr.is_in(&trusted) {
        peer_addr
    } else {
        let mut nearest = peer_addr;
        let mut answer = None;
        'walk: for (hops, _) in lines.iter().rev() {
            for hop in hops.iter().take(8).rev() {
                match hop {
                    Hop::Addr { index, .. } => {
                        let a = ClientAddr::new(address(*index));
                        if a.is_in(&trusted) {
                            nearest = a;
                        } else {
                            answer = Some(a);
                            break 'walk;
                        }
                    }
                    Hop::Unknown(_) => break 'walk,
                }
            }
        }
        answer.unwrap_or(nearest)
    };
    assert_eq!(
        got, expected,
        "peer {peer}, trusted {trusted:?}, lines {text:?}"
    );
}

fn check_raw(r: &Raw) {
    let peer: IpAddr = if r.peer_trusted {
        "10.0.0.1"
    } else {
        "192.0.2.1"
    }
    .parse()
    .expect("an address");
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("a network")];
    let header = if r.forwarded {
        ForwardedHeader::Forwarded
    } else {
        ForwardedHeader::XForwardedFor
    };
    let lines: Vec<&[u8]> = r.lines.iter().take(4).map(|l| l.as_slice()).collect();

    // The client's lines alone: the answer is the peer, or an address the
    // lines hold (compared in ClientAddr's form: IPv4-mapped as IPv4).
    let got = client_address(peer, header, &lines, &trusted);
    if !r.peer_trusted {
        assert_eq!(got, ClientAddr::new(peer));
    } else if got != ClientAddr::new(peer) {
        let text: Vec<String> = lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let text = text.join(",");
        let mapped = match got.ip() {
            IpAddr::V4(v4) => Some(v4.to_ipv6_mapped()),
            IpAddr::V6(_) => None,
        };
        let held = candidates(&text)
            .any(|ip| ClientAddr::new(ip) == got || mapped.is_some_and(|m| ip == IpAddr::V6(m)));
        assert!(held, "{got} is neither the peer nor in {lines:?}");
    }

    // A trusted proxy then appends the client it saw, on a line of its own
    // (Forwarded) or at the end of the last line (X-Forwarded-For, as nginx's
    // $proxy_add_x_forwarded_for does): that client is the answer.
    let client: IpAddr = ["198.51.100.7", "2001:db8::1", "203.0.113.200"][r.client as usize % 3]
        .parse()
        .expect("an address");
    let appended = match header {
        ForwardedHeader::Forwarded => match client {
            IpAddr::V4(ip) => format!("for={ip}"),
            IpAddr::V6(ip) => format!("for=\"[{ip}]\""),
        },
        ForwardedHeader::XForwardedFor => {
            let last = lines.last().map(|l| l.to_vec()).unwrap_or_default();
            if last.is_empty() {
                client.to_string()
            } else {
                format!("{}, {client}", String::from_utf8_lossy(&last))
            }
        }
    };
    let mut with_proxy: Vec<&[u8]> = lines.clone();
    let forwarded_line = matches!(header, ForwardedHeader::Forwarded);
    if !forwarded_line && !lines.is_empty() {
        // nginx rewrites the last line; lossily decoded bytes would differ,
        // so only a line that is text is rewritten.
        if std::str::from_utf8(lines[lines.len() - 1]).is_err() {
            return;
        }
        with_proxy.pop();
    }
    with_proxy.push(appended.as_bytes());
    let got = client_address(
        "10.0.0.1".parse().expect("an address"),
        header,
        &with_proxy,
        &trusted,
    );
    assert_eq!(got, ClientAddr::new(client), "lines {with_proxy:?}");
}

/// Every substring between separators that parses as an address, with the
/// forms a hop may take (brackets, ports, quotes, escapes) taken off.
fn candidates(text: &str) -> impl Iterator<Item = IpAddr> + '_ {
    text.split(|c: char| matches!(c, ',' | ';' | '=' | ' ' | '\t'))
        .flat_map(|part| {
            let unquoted: String = part.chars().filter(|&c| c != '"' && c != '\\').collect();
            let mut found = Vec::new();
            let s = unquoted.as_str();
            if let Ok(ip) = s.parse::<IpAddr>() {
                found.push(ip);
            }
            if let Some(rest) = s.strip_prefix('[') {
                if let Some((host, _)) = rest.split_once(']') {
                    if let Ok(ip) = host.parse::<IpAddr>() {
                        found.push(ip);
                    }
                }
            }
            if let Some((host, _)) = s.split_once(':') {
                if let Ok(ip) = host.parse::<IpAddr>() {
                    found.push(ip);
                }
            }
            found
        })
}

fuzz_target!(|input: Input| match input {
    Input::Built(b) => check_built(&b),
    Input::Raw(r) => check_raw(&r),
});
