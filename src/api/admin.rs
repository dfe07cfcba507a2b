//! The admin bearer token, as an extractor: a handler that takes [`Admin`]
//! runs only for a request that carries the configured token.

use super::ApiError;
use super::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

/// Proof that the request carried the admin token.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<Admin, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    let Some(expected) = state.settings.admin_token.as_deref() else {
        return Err(ApiError::Unauthorized {
            code: "admin_disabled",
            message: "admin endpoints are disabled: start downwave with --admin-token TOKEN \
                      (or DOWNWAVE_ADMIN_TOKEN) and send it as 'Authorization: Bearer TOKEN'"
                .into(),
        });
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(Admin),
        Some(_) => Err(ApiError::Unauthorized {
            code: "invalid_token",
            message: "the admin token is wrong".into(),
        }),
        None => Err(ApiError::Unauthorized {
            code: "missing_token",
            message: "this endpoint needs the admin token as 'Authorization: Bearer TOKEN'".into(),
        }),
    }
}

/// The token of `Bearer TOKEN`. The scheme is case-insensitive (RFC 9110,
/// section 11.1: `bearer` and `BEARER` are the same scheme) and one or more
/// spaces may follow it.
fn bearer_token(credentials: &str) -> Option<&str> {
    let (scheme, token) = credentials.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// Compares without stopping at the first difference, so response time does
/// not tell an attacker how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer t0k",
            "bearer t0k",
            "BEARER t0k",
            "Bearer   t0k",
            " bEaReR t0k ",
        ] {
            assert_eq!(super::bearer_token(value), Some("t0k"), "{value}");
        }
        for value in ["Basic t0k", "Bearer", "Bearert0k", "Bear t0k", ""] {
            assert_eq!(super::bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
