//! The API's error type: every refusal maps to a status code and a body
//! `{"error":{"code":"snake_case","message":"A sentence."}}` whose code is
//! stable and asserted by the tests.

use crate::domain::ParseError;
use crate::error::chain;
use crate::store::StoreError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    PayloadTooLarge { message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// The body did not arrive within its read deadline; the connection is
    /// closed after the answer.
    #[error("{message}")]
    RequestTimeout { message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("too many reports from this address; try again in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after: u64,
    },
    #[error("an internal error occurred")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::RequestTimeout { .. } => "body_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
}

/// A value that failed to parse is a 422 with the parser's code.
impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        ApiError::Unprocessable {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            tracing::warn!(error = %chain(&e), "database temporarily unavailable");
            ApiError::Unavailable {
                code: "storage_unavailable",
                message: "the database is busy or unavailable; try again shortly".into(),
                retry_after: 1,
            }
        } else if let StoreError::DuplicateSlug(slug) = e {
            ApiError::Conflict {
                code: "service_exists",
                message: format!("a service with the slug '{slug}' already exists"),
            }
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = %chain(e.as_ref()), "internal error");
        }
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            ApiError::RateLimited { retry_after } | ApiError::Unavailable { retry_after, .. } => {
                resp.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unauthorized { .. } => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::RequestTimeout { .. } => {
                // The rest of the body may still come: the connection
                // cannot carry another request.
                resp.force_close();
            }
            _ => {}
        }
        resp.json(serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        }))
    }
}
