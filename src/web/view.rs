//! What every page shares: the viewer's time zone, times and durations as
//! people read them, status words, and conditional responses for live pages.

use super::Representation;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, Offset, Utc};
use std::hash::{Hash, Hasher};

/// The cookie our script sets to the viewer's offset from UTC, in minutes
/// east (`-new Date().getTimezoneOffset()`).
pub const TZ_COOKIE: &str = "dw_tz";
/// The widest real offsets are UTC-12 and UTC+14.
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// Whose clock the page is drawn for. Until the script has told us (first
/// visit, or no JavaScript), times are shown in UTC and say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub offset_secs: i32,
}

impl Viewer {
    pub fn from_request(req: &HttpRequest) -> Self {
        let offset_minutes = req
            .cookie(TZ_COOKIE)
            .and_then(|c| c.value().parse::<i32>().ok())
            // A range, not `abs()`: the cookie is the client's, and
            // `i32::MIN.abs()` overflows.
            .filter(|m| (-MAX_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(m))
            .unwrap_or(0);
        Viewer {
            offset_secs: offset_minutes * 60,
        }
    }

    fn zone(&self) -> FixedOffset {
        FixedOffset::east_opt(self.offset_secs).unwrap_or(Utc.fix())
    }

    fn local(&self, unix: i64) -> DateTime<FixedOffset> {
        DateTime::<Utc>::from_timestamp(unix, 0)
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
            .with_timezone(&self.zone())
    }

    /// "UTC" or "UTC+05:30": what the times on the page are in.
    pub fn zone_label(&self) -> String {
        if self.offset_secs == 0 {
            return "UTC".into();
        }
        let sign = if self.offset_secs < 0 { '-' } else { '+' };
        let m = self.offset_secs.unsigned_abs() / 60;
        format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// A moment as the page shows it: local text, UTC on hover, ISO for machines.
    pub fn time(&self, unix: i64) -> TimeView {
        let utc = DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        TimeView {
            iso: crate::domain::rfc3339(unix),
            text: self.local(unix).format("%a %-d %b %H:%M").to_string(),
            short: self.local(unix).format("%H:%M").to_string(),
            utc: utc.format("%a %-d %b %Y %H:%M UTC").to_string(),
        }
    }
}

/// One moment, ready for `<time datetime="{iso}" title="{utc}">{text}</time>`.
#[derive(Debug, Clone)]
pub struct TimeView {
    pub iso: String,
    /// "Mon 2 Mar 11:49" in the viewer's zone.
    pub text: String,
    /// "11:49" in the viewer's zone.
    pub short: String,
    /// "Mon 2 Mar 2026 11:49 UTC".
    pub utc: String,
}

/// "47 min", "2 h 05 min", "3 d 4 h".
pub fn duration(minutes: i64) -> String {
    let m = minutes.max(0);
    match m {
        0..=59 => format!("{m} min"),
        60..=1439 => format!("{} h {:02} min", m / 60, m % 60),
        _ => format!("{} d {} h", m / 1440, (m % 1440) / 60),
    }
}

/// A count with thousands separated: 12,345.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Live pages poll themselves with `If-None-Match`; an answer's `ETag` is a
/// hash of everything its content depends on: `parts` (the detector's
/// generation and what the handler parsed from the path and query that
/// changes the body, never the raw query, so that invented parameters make
/// no new versions) and the viewer's zone where the body shows times in it.
/// Returns the tag, or [`NotModified`].
pub fn conditional(
    req: &HttpRequest,
    kind: Representation,
    parts: impl Hash,
) -> Result<String, NotModified> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    if kind.follows_viewer() {
        Viewer::from_request(req).hash(&mut h);
    }
    let tag = format!("\"{:016x}\"", h.finish());
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if matches {
        return Err(NotModified { tag, kind });
    }
    Ok(tag)
}

/// The client already has this version of this kind of answer.
#[derive(Debug)]
pub struct NotModified {
    tag: String,
    kind: Representation,
}

impl NotModified {
    /// The `304` to send, with every header the `200` would carry.
    pub fn response(self) -> HttpResponse {
        self.kind.not_modified(&self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn times_follow_the_viewer_and_keep_utc_on_hover() {
        let req = TestRequest::default()
            .cookie(actix_web::cookie::Cookie::new(TZ_COOKIE, "60"))
            .to_http_request();
        let v = Viewer::from_request(&req);
        assert_eq!(v.zone_label(), "UTC+01:00");
        // 2026-03-02 11:49 UTC
        let t = v.time(1_772_452_140);
        assert_eq!(t.text, "Mon 2 Mar 12:49");
        assert_eq!(t.utc, "Mon 2 Mar 2026 11:49 UTC");
        assert_eq!(t.iso, "2026-03-02T11:49:00Z");
    }

    #[test]
    fn a_missing_or_absurd_zone_is_utc() {
        for value in ["", "abc", "100000", "-900"] {
            let req = TestRequest::default()
                .cookie(actix_web::cookie::Cookie::new(TZ_COOKIE, value))
                .to_http_request();
            assert_eq!(Viewer::from_request(&req).zone_label(), "UTC", "{value}");
        }
        let v = Viewer {
            offset_secs: -330 * 60,
        };
        assert_eq!(v.zone_label(), "UTC-05:30");
    }

    #[test]
    fn durations_and_counts_read_naturally() {
        assert_eq!(duration(47), "47 min");
        assert_eq!(duration(125), "2 h 05 min");
        assert_eq!(duration(3 * 1440 + 250), "3 d 4 h");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(12_345), "12,345");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn a_matching_etag_is_a_304() {
        let req = TestRequest::default().to_http_request();
        let tag = conditional(&req, Representation::Page, 7u64).unwrap();
        let again = TestRequest::default()
            .insert_header((header::IF_NONE_MATCH, tag.as_str()))
            .to_http_request();
        let res = conditional(&again, Representation::Page, 7u64)
            .unwrap_err()
            .response();
        assert_eq!(res.status(), 304);
        assert!(conditional(&again, Representation::Page, 8u64).is_ok());
    }
}
