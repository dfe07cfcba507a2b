use super::ParseError;
use std::fmt;

/// The short, URL-safe name of a service (`claude`, `aws-s3`).
///
/// 1 to 64 characters of lowercase ASCII letters, digits and `-`, starting
/// with a letter or digit, so it can stand in a URL path and a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ServiceSlug(String);

impl ServiceSlug {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok_len = !s.is_empty() && s.len() <= Self::MAX_LEN;
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_start = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok_len && ok_chars && ok_start {
            Ok(ServiceSlug(s.to_owned()))
        } else {
            Err(ParseError::new(
                "invalid_slug",
                format!(
                    "a service slug is 1 to {} characters of a-z, 0-9 and '-', starting with a letter or digit",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs() {
        for s in ["claude", "aws-s3", "0x", "a"] {
            assert_eq!(ServiceSlug::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn refuses_bad_slugs() {
        let long = "a".repeat(65);
        for s in ["", "Claude", "-x", "a b", "ä", "a/b", long.as_str()] {
            assert_eq!(
                ServiceSlug::parse(s).unwrap_err().code,
                "invalid_slug",
                "{s}"
            );
        }
    }
}
