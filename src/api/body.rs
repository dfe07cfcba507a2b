//! Reading a JSON request body ourselves, so that every way it can be wrong
//! gets its own status and stable code: wrong content type 415, too large
//! 413, not JSON 400, JSON of the wrong shape (unknown, missing or mistyped
//! fields) 422.

use super::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

/// Whether the request's media type (parameters aside) is one of `types`.
pub fn content_type_is(req: &HttpRequest, types: &[&str]) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| types.iter().any(|t| mime.trim().eq_ignore_ascii_case(t)))
}

pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    if !content_type_is(req, &["application/json"]) {
        return Err(ApiError::UnsupportedMediaType {
            message: "send the body as JSON with Content-Type: application/json".into(),
        });
    }
    let too_large = || ApiError::PayloadTooLarge {
        message: format!("the body is larger than the limit of {limit} bytes"),
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(512).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if super::deadline::is_timeout(&e) {
                ApiError::RequestTimeout {
                    message: "the request body did not arrive in time; send it at once".into(),
                }
            } else {
                ApiError::bad_request("bad_body", e.to_string())
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    parse_json(&body)
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(json_error)
}

/// What a JSON error means for the client: not JSON at all is 400, JSON of
/// the wrong shape 422 with the kind of mistake as the code.
pub fn json_error(e: serde_json::Error) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => {
            let msg = e.to_string();
            let code = if msg.starts_with("unknown field") {
                "unknown_field"
            } else if msg.starts_with("missing field") {
                "missing_field"
            } else {
                "invalid_field"
            };
            ApiError::unprocessable(code, msg)
        }
        _ => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")),
    }
}
