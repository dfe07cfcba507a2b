//! Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, keyed with the base64-decoded part of a
//! `whsec_…` secret. During a secret rotation every message carries one
//! signature per valid secret, space-separated, so receivers can switch at
//! their own pace.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// Bytes of randomness in a new secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A fresh signing secret: `whsec_` and the base64 of random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes behind a `whsec_` secret (or a bare base64 key).
fn key_bytes(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(PREFIX).unwrap_or(secret))
        .ok()
}

/// One `v1,<signature>` for one secret; `None` if the secret is not base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_bytes(secret)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header value: one signature per secret.
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a `webhook-signature` header against a secret, as a receiver
/// would (used by tests and offered to Rust receivers).
pub fn verify(secret: &str, header: &str, id: &str, timestamp: i64, body: &[u8]) -> bool {
    let Some(expected) = sign(secret, id, timestamp, body) else {
        return false;
    };
    header.split(' ').any(|candidate| {
        candidate.len() == expected.len()
            && candidate
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_standard_webhooks_test_vector() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn new_secrets_sign_and_verify_and_rotation_sends_both() {
        let (old, new) = (new_secret(), new_secret());
        assert!(old.starts_with("whsec_") && old != new);
        let header = signature_header(&[&new, &old], "msg_1", 10, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&old, &header, "msg_1", 10, b"{}"));
        assert!(verify(&new, &header, "msg_1", 10, b"{}"));
        assert!(!verify(&new, &header, "msg_1", 11, b"{}"));
        assert!(!verify(&new_secret(), &header, "msg_1", 10, b"{}"));
    }
}
