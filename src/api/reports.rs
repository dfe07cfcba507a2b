//! `POST /api/v1/reports`: someone says a service is down for them.

use super::body::read_json;
use super::ApiError;
use super::AppState;
use crate::domain::ClientAddr;
use crate::domain::{Category, Comment, ErrorCode, Minute, Platform, Region};
use crate::ingest::{IngestError, PendingReport};
use crate::store::Service;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// The header an app may send with an anonymous, stable client token, so
/// that people behind one address (an office, a carrier NAT) count apart.
pub const CLIENT_TOKEN_HEADER: &str = "x-downwave-client";
/// Longest client token accepted, in bytes.
const MAX_CLIENT_TOKEN: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    service: String,
    category: String,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// A report's fields checked against its service and the limits.
pub struct CheckedReport {
    service_id: i64,
    category: Category,
    error_code: Option<ErrorCode>,
    region: Option<Region>,
    platform: Option<Platform>,
    comment: Option<String>,
}

impl ReportRequest {
    /// Checks every field: the service exists, the category is one of its
    /// own, the optional fields parse and the comment fits.
    pub async fn check(self, state: &AppState) -> Result<CheckedReport, ApiError> {
        let service = state.service(&self.service).await?;
        self.check_for(&service, state.settings.max_comment_chars)
    }

    /// The checks once the service is known (`check` looks it up by the
    /// report's slug): the category is one of its own, the optional fields
    /// parse, the comment has at most `max_comment_chars` characters.
    pub fn check_for(
        self,
        service: &Service,
        max_comment_chars: usize,
    ) -> Result<CheckedReport, ApiError> {
        let category = service
            .categories
            .find(&self.category)
            .cloned()
            .ok_or_else(|| {
                let allowed: Vec<&str> = service.categories.iter().map(|c| c.as_str()).collect();
                ApiError::unprocessable(
                    "unknown_category",
                    format!(
                        "'{}' is not a category of {}; use one of: {}",
                        super::truncate(&self.category, 32),
                        service.slug,
                        allowed.join(", ")
                    ),
                )
            })?;
        let comment = self
            .comment
            .as_deref()
            .map(|c| Comment::parse(c, max_comment_chars))
            .transpose()?
            .flatten();
        Ok(CheckedReport {
            service_id: service.id,
            category,
            error_code: self.error_code.map(ErrorCode::parse).transpose()?,
            region: self.region.as_deref().map(Region::parse).transpose()?,
            platform: self.platform.as_deref().map(Platform::parse).transpose()?,
            comment: comment.map(Comment::into_string),
        })
    }
}

impl CheckedReport {
    /// The report as the writer takes it, without a source or networks
    /// (imported history has no address); a live report sets its own.
    pub fn into_pending(self, received_ms: i64, reporter: [u8; 16]) -> PendingReport {
        PendingReport {
            service_id: self.service_id,
            received_ms,
            category: self.category,
            error_code: self.error_code,
            region: self.region,
            platform: self.platform,
            comment: self.comment,
            reporter,
            source: None,
            network: None,
        }
    }
}

#[derive(Debug, Serialize)]
struct ReportResponse {
    id: i64,
    counted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    minute: Minute,
}

pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let result = accept(&req, payload, &state).await;
    if let Err(e) = &result {
        state.metrics.reject(e.code());
    }
    result
}

async fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings;
    // Every request counts against the limit, valid or not: refusing
    // malformed ones for free would let a client probe and load the server
    // (a report for an unknown service even reloads the catalog) without end.
    let addr = client_address(req, state);
    state
        .limiter
        .check(addr)
        .map_err(|wait| ApiError::RateLimited {
            retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;

    let body: ReportRequest = read_json(req, payload, settings.max_body_bytes).await?;

    let report = body.check(state).await?;
    let token = req
        .headers()
        .get(CLIENT_TOKEN_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    if token.is_some_and(|t| t.is_empty() || t.len() > MAX_CLIENT_TOKEN) {
        return Err(ApiError::unprocessable(
            "invalid_client_token",
            format!("the {CLIENT_TOKEN_HEADER} header is 1 to {MAX_CLIENT_TOKEN} visible ASCII characters"),
        ));
    }

    let source = state.reporter_key.source(addr);
    // Without a token the reporter is the source: one keyed hash, not two.
    let reporter = match token {
        Some(_) => state.reporter_key.reporter(addr, token),
        None => source,
    };
    let pending = PendingReport {
        source: Some(source),
        network: Some(state.reporter_key.networks(addr)),
        ..report.into_pending(state.clock.now().timestamp_millis(), reporter)
    };
    let ack = match state
        .ingest
        .submit(pending, Some(crate::ingest::local_mailbox()))
    {
        Ok(rx) => rx.await.unwrap_or(Err(IngestError::ShuttingDown)),
        Err(e) => Err(e),
    }
    .map_err(unavailable)?;

    let counted = ack.counting.counted();
    let status = if counted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(ReportResponse {
        id: ack.id,
        counted,
        reason: ack.counting.reason(),
        minute: ack.minute,
    }))
}

/// The client behind the request: the peer, or what the trusted proxies in
/// front of downwave say (see [`crate::ingest::client_address`]).
fn client_address(req: &HttpRequest, state: &AppState) -> ClientAddr {
    let settings = &state.settings;
    // Only a test's in-process request has no peer.
    let peer = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let peer_trusted = ClientAddr::new(peer).is_in(&settings.trusted_proxies);
    let lines: Vec<&[u8]> = if peer_trusted {
        req.headers()
            .get_all(settings.forwarded_header.name())
            .map(|v| v.as_bytes())
            .collect()
    } else {
        Vec::new()
    };
    crate::ingest::client_address(
        peer,
        settings.forwarded_header,
        &lines,
        &settings.trusted_proxies,
    )
}

fn unavailable(e: IngestError) -> ApiError {
    let (code, message) = match e {
        IngestError::QueueFull => (
            "queue_full",
            "downwave is taking more reports than it can write right now; try again in a moment",
        ),
        IngestError::ShuttingDown => (
            "shutting_down",
            "downwave is restarting; try again in a moment",
        ),
        IngestError::Storage => (
            "storage_unavailable",
            "the report could not be stored; try again in a moment",
        ),
    };
    ApiError::Unavailable {
        code,
        message: message.into(),
        retry_after: 1,
    }
}
