//! `POST /api/v1/admin/import`: history with its own timestamps, as
//! newline-delimited JSON, so an operator can migrate past reports in or
//! replay a scenario. Streamed and size-limited; all or nothing per request:
//! every line is checked before anything is written, and the whole import
//! commits in one transaction. The detector then runs over it.

use super::body::{content_type_is, json_error, parse_json};
use super::reports::ReportRequest;
use super::ApiError;
use super::{Admin, AppState};
use crate::domain::Minute;
use crate::ingest::{IngestError, PendingReport};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rand::RngCore;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Serialize)]
struct ImportResponse {
    imported: usize,
    from: Option<Minute>,
    to: Option<Minute>,
    services: Vec<String>,
}

/// The content types an import may be sent as.
const NDJSON_TYPES: [&str; 3] = [
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
];

pub async fn import(
    _admin: Admin,
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !content_type_is(&req, &NDJSON_TYPES) {
        return Err(ApiError::UnsupportedMediaType {
            message: "send one JSON report per line with Content-Type: application/x-ndjson".into(),
        });
    }
    let limit = state.settings.import_max_bytes;
    let mut received = 0usize;
    let mut buf: Vec<u8> = Vec::new();
    let mut reports = Vec::new();
    let mut line_no = 0usize;
    let mut first_minute: HashMap<i64, i64> = HashMap::new();
    let now = state.clock.now();
    loop {
        let chunk = payload
            .next()
            .await
            .transpose()
            .map_err(|e| ApiError::bad_request("bad_body", e.to_string()))?;
        let done = chunk.is_none();
        match chunk {
            Some(chunk) => {
                received += chunk.len();
                if received > limit {
                    return Err(ApiError::PayloadTooLarge {
                        message: format!("the import is larger than the limit of {limit} bytes"),
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            // The end of the body ends an unterminated last line.
            None if !buf.is_empty() => buf.push(b'\n'),
            None => {}
        }
        // Parse every complete line in the buffer.
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            line_no += 1;
            let line = &buf[start..start + pos];
            start += pos + 1;
            if let Some(r) = parse_line(&state, line, line_no, now).await? {
                reports.push(r);
            }
        }
        buf.drain(..start);
        if done {
            break;
        }
    }
    for r in &reports {
        let m = Minute::from_unix(r.received_ms.div_euclid(1000)).unix();
        first_minute
            .entry(r.service_id)
            .and_modify(|f| *f = (*f).min(m))
            .or_insert(m);
    }
    let from = reports.iter().map(|r| r.received_ms).min();
    let to = reports.iter().map(|r| r.received_ms).max();
    let count = reports.len();
    if count > 0 {
        let rx = state.ingest.import(reports).map_err(unavailable)?;
        rx.await
            .unwrap_or(Err(IngestError::ShuttingDown))
            .map_err(unavailable)?;
    }
    let first_minutes: Vec<(i64, i64)> = first_minute.iter().map(|(&s, &m)| (s, m)).collect();
    if let Err(e) = state.monitor.imported(first_minutes).await {
        tracing::error!(error = %crate::error::chain(&e), "the detector could not run over an import");
    }
    let mut services: Vec<String> = state
        .catalog
        .all()
        .into_iter()
        .filter(|s| first_minute.contains_key(&s.id))
        .map(|s| s.slug.to_string())
        .collect();
    services.sort();
    Ok(HttpResponse::Ok().json(ImportResponse {
        imported: count,
        from: from.map(|ms| Minute::from_unix(ms.div_euclid(1000))),
        to: to.map(|ms| Minute::from_unix(ms.div_euclid(1000))),
        services,
    }))
}

/// Checks one line; blank lines are skipped. Errors name the line.
async fn parse_line(
    state: &AppState,
    raw: &[u8],
    line_no: usize,
    now: DateTime<Utc>,
) -> Result<Option<PendingReport>, ApiError> {
    let limits = ImportLimits {
        max_line_bytes: state.settings.max_body_bytes,
        max_age: state.settings.import_max_age,
    };
    let Some(line) = ImportLine::parse(raw, line_no, now, &limits)? else {
        return Ok(None);
    };
    let checked = line
        .report
        .check(state)
        .await
        .map_err(|e| at_line(line_no, e))?;
    // Imported reports have no client; each gets a reporter id of its own.
    let mut reporter = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut reporter);
    Ok(Some(
        checked.into_pending(line.at.timestamp_millis(), reporter),
    ))
}

/// What bounds one import line, from the settings.
#[derive(Debug, Clone)]
pub struct ImportLimits {
    /// A line is at most what a live report body may be (`max_body_bytes`).
    pub max_line_bytes: usize,
    /// How far back `at` may be (`import_max_age_days`).
    pub max_age: std::time::Duration,
}

/// One import line, parsed: a live report's fields plus the time it was made.
#[derive(Debug)]
pub struct ImportLine {
    pub at: DateTime<Utc>,
    /// Still to be checked against its service ([`ReportRequest::check`]).
    pub report: ReportRequest,
}

impl ImportLine {
    /// Parses line `line_no` of an import received at `now`: `Ok(None)` for a
    /// blank line, and every error a 422 whose message names the line.
    pub fn parse(
        raw: &[u8],
        line_no: usize,
        now: DateTime<Utc>,
        limits: &ImportLimits,
    ) -> Result<Option<ImportLine>, ApiError> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let at_line = |e: ApiError| at_line(line_no, e);
        if raw.len() > limits.max_line_bytes {
            return Err(at_line(ApiError::unprocessable(
                "line_too_long",
                format!("a line is at most {} bytes", limits.max_line_bytes),
            )));
        }
        // An import line is a report with its time: take `at` out, and the rest
        // must be exactly what a live report may hold.
        let mut fields: serde_json::Value = parse_json(raw).map_err(at_line)?;
        let at = fields
            .as_object_mut()
            .and_then(|o| o.remove("at"))
            .ok_or_else(|| {
                at_line(ApiError::unprocessable(
                    "missing_field",
                    "missing field `at`",
                ))
            })?;
        let at: DateTime<Utc> = serde_json::from_value(at).map_err(|e| {
            at_line(ApiError::unprocessable(
                "invalid_field",
                format!("`at` must be an RFC 3339 time: {e}"),
            ))
        })?;
        // Stored to the millisecond, as that: a leap second (`12:00:60.5`)
        // is the next minute's first second, and is judged as such.
        let at = DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at);
        if at > now + chrono::Duration::minutes(1) {
            return Err(at_line(ApiError::unprocessable(
                "future_timestamp",
                "a report cannot be from the future",
            )));
        }
        // The detector replays what is imported: a bound on age is a bound on
        // its work (a line from year 1 would have it walk a billion minutes).
        let max_age = limits.max_age;
        if now
            .signed_duration_since(at)
            .to_std()
            .is_ok_and(|age| age > max_age)
        {
            return Err(at_line(ApiError::unprocessable(
                "timestamp_too_old",
                format!(
                    "`at` is {}, more than {} days before now (import_max_age_days)",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    max_age.as_secs() / 86_400
                ),
            )));
        }
        let report: ReportRequest =
            serde_json::from_value(fields).map_err(|e| at_line(json_error(e)))?;
        Ok(Some(ImportLine { at, report }))
    }
}

/// An import's errors are 422s that name their line.
fn at_line(line_no: usize, e: ApiError) -> ApiError {
    let code = e.code();
    ApiError::unprocessable(code, format!("line {line_no}: {e}"))
}

fn unavailable(e: IngestError) -> ApiError {
    ApiError::Unavailable {
        code: match e {
            IngestError::QueueFull => "queue_full",
            IngestError::ShuttingDown => "shutting_down",
            IngestError::Storage => "storage_unavailable",
        },
        message: format!("the import was not stored: {e}; nothing was written"),
        retry_after: 1,
    }
}
