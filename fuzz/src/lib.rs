//! What the fuzz targets share: the service a report is checked against, the
//! limits the server runs with by default, and the checks every refusal must
//! pass (a client error with a documented code, never a server error).
#![forbid(unsafe_code)]

use actix_web::ResponseError;
use chrono::{DateTime, Utc};
use downwave::api::ApiError;
use downwave::domain::{CategoryList, ServiceSlug};
use downwave::ingest::PendingReport;
use downwave::store::Service;

/// The default `max_comment_chars`.
pub const MAX_COMMENT_CHARS: usize = 500;
/// The default `max_body_bytes`: a report body, and one import line.
pub const MAX_BODY_BYTES: usize = 4096;
/// The default `import_max_age_days`.
pub const IMPORT_MAX_AGE_DAYS: u64 = 90;

/// A service with the default categories, as `service add claude` makes it.
pub fn service() -> Service {
    Service {
        id: 1,
        slug: ServiceSlug::parse("claude").expect("a valid slug"),
        name: "Claude".into(),
        categories: CategoryList::default_list(),
        depends_on: Default::default(),
        created_at: 0,
    }
}

/// The moment the import targets treat as now (2 December 2026, noon UTC).
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_796_212_800, 0).expect("a valid time")
}

/// The codes the README documents for a report body the server refuses
/// (the body itself, not its transport).
pub const REPORT_BODY_CODES: &[&str] = &[
    "malformed_json",
    "unknown_field",
    "missing_field",
    "invalid_field",
    "unknown_category",
    "invalid_error_code",
    "invalid_region",
    "invalid_platform",
    "comment_too_long",
    "invalid_comment",
];

/// An import line may be refused for what a report body may, and for its
/// time and length.
pub const IMPORT_LINE_CODES: &[&str] = &["future_timestamp", "timestamp_too_old", "line_too_long"];

/// Panics unless `e` is a client error (400 or 422) with one of `codes`.
pub fn assert_client_error(e: &ApiError, codes: &[&[&str]]) {
    let status = e.status_code().as_u16();
    assert!(
        status == 400 || status == 422,
        "a refusal must be 400 or 422, not {status}: {e:?}"
    );
    assert!(
        codes.iter().any(|list| list.contains(&e.code())),
        "undocumented code {:?}: {e:?}",
        e.code()
    );
}

/// A checked report written back as the JSON a client would send for it.
pub fn report_json(r: &PendingReport, slug: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut o = serde_json::Map::new();
    o.insert("service".into(), slug.into());
    o.insert("category".into(), r.category.as_str().into());
    if let Some(code) = r.error_code {
        o.insert("error_code".into(), code.get().into());
    }
    if let Some(region) = &r.region {
        o.insert("region".into(), region.as_str().into());
    }
    if let Some(platform) = &r.platform {
        o.insert("platform".into(), platform.as_str().into());
    }
    if let Some(comment) = &r.comment {
        o.insert("comment".into(), comment.as_str().into());
    }
    o
}

/// Panics unless a checked report holds only what its checks allow.
pub fn assert_report_is_checked(r: &PendingReport) {
    if let Some(code) = r.error_code {
        assert!((100..=599).contains(&code.get()), "{r:?}");
    }
    if let Some(region) = &r.region {
        let s = region.as_str();
        assert!(
            s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()),
            "{r:?}"
        );
    }
    if let Some(platform) = &r.platform {
        let s = platform.as_str();
        assert!(
            (1..=32).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'_'),
            "{r:?}"
        );
    }
    if let Some(comment) = &r.comment {
        assert!(!comment.trim().is_empty(), "a blank comment is no comment");
        assert!(comment.chars().count() <= MAX_COMMENT_CHARS);
        assert!(
            !comment
                .chars()
                .any(|c| (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
                    || ('\u{202A}'..='\u{202E}').contains(&c)
                    || ('\u{2066}'..='\u{2069}').contains(&c)),
            "a refused character got through: {comment:?}"
        );
    }
    assert!(
        service().categories.find(r.category.as_str()).is_some(),
        "{r:?}"
    );
}
