//! The viewer's time-zone cookie (`dw_tz`), read by every page through
//! `Viewer::from_request` from the request's `Cookie` header.
//!
//! Raw bytes as the header: the offset is whole minutes within UTC-12 …
//! UTC+14 (the cookie is the client's, so anything else must come out as
//! UTC), the zone label says the same offset, times render for any instant,
//! and the cookie the offset would be written as reads back the same.
//! Built headers: `dw_tz=N` among other well-formed cookies gives N minutes
//! when N is a real offset and UTC otherwise.
#![no_main]

use actix_web::http::header::{HeaderValue, COOKIE};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use downwave::web::view::{Viewer, TZ_COOKIE};
use libfuzzer_sys::fuzz_target;

const MAX_OFFSET_SECS: i32 = 14 * 3600;

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(Vec<u8>),
    Built {
        minutes: i32,
        /// How the number is written: plain, with a `+`, zero-padded.
        form: u8,
        /// Other cookies before and after ours: a name from a-z and a value.
        before: Vec<(u8, u32)>,
        after: Vec<(u8, u32)>,
    },
}

fn viewer(cookie: &[u8]) -> Option<Viewer> {
    let value = HeaderValue::from_bytes(cookie).ok()?;
    let req = TestRequest::default()
        .insert_header((COOKIE, value))
        .to_http_request();
    Some(Viewer::from_request(&req))
}

/// Everything a page does with the viewer, with its checks.
fn check(v: Viewer) {
    assert!(v.offset_secs % 60 == 0, "{v:?}");
    assert!(
        (-MAX_OFFSET_SECS..=MAX_OFFSET_SECS).contains(&v.offset_secs),
        "{v:?}"
    );
    let label = v.zone_label();
    let offset = match label.strip_prefix("UTC") {
        Some("") => 0,
        Some(rest) => {
            let (sign, hm) = rest.split_at(1);
            let (h, m) = hm.split_once(':').expect("UTC+HH:MM");
            let secs =
                h.parse::<i32>().expect("hours") * 3600 + m.parse::<i32>().expect("minutes") * 60;
            match sign {
                "+" => secs,
                "-" => -secs,
                _ => panic!("{label}"),
            }
        }
        None => panic!("{label}"),
    };
    assert_eq!(offset, v.offset_secs, "{label}");
    for unix in [
        0,
        -1,
        1_772_452_140,
        i64::MIN,
        i64::MAX,
        253_402_300_799,
        -62_135_596_800,
    ] {
        let t = v.time(unix);
        assert!(!t.iso.is_empty() && !t.text.is_empty() && !t.utc.is_empty());
    }
    let again = viewer(format!("{TZ_COOKIE}={}", v.offset_secs / 60).as_bytes());
    assert_eq!(again, Some(v));
}

fn other_cookie((name, value): (u8, u32)) -> String {
    // Never our own name: letters only, and at most three of them.
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let mut n = String::new();
    let mut i = name as usize;
    for _ in 0..=(name % 3) {
        n.push(letters[i % 26] as char);
        i /= 26;
    }
    format!("{n}={value:x}")
}

fuzz_target!(|input: Input| match input {
    Input::Raw(bytes) => {
        if let Some(v) = viewer(&bytes) {
            check(v);
        }
    }
    Input::Built {
        minutes,
        form,
        before,
        after,
    } => {
        let number = match form % 3 {
            0 => minutes.to_string(),
            1 if minutes >= 0 => format!("+{minutes}"),
            1 => minutes.to_string(),
            _ => format!("{minutes:05}"),
        };
        let mut cookies: Vec<String> = before.into_iter().take(4).map(other_cookie).collect();
        cookies.push(format!("{TZ_COOKIE}={number}"));
        cookies.extend(after.into_iter().take(4).map(other_cookie));
        let header = cookies.join("; ");
        let v = viewer(header.as_bytes()).expect("a valid header value");
        check(v);
        let expected = if (-14 * 60..=14 * 60).contains(&minutes) {
            minutes * 60
        } else {
            0
        };
        assert_eq!(v.offset_secs, expected, "{header}");
    }
});
