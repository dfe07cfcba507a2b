use super::ParseError;

/// What the reporter used: `web`, `ios`, `android`, `desktop`, `cli`...
///
/// Free-form but short and plain: 1 to 32 characters of a-z, 0-9, `-` and
/// `_`, stored lower case, so it can be counted and shown without escaping
/// surprises.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Platform(String);

impl Platform {
    pub const MAX_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let lower = s.to_ascii_lowercase();
        let ok = !lower.is_empty()
            && lower.len() <= Self::MAX_LEN
            && lower
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Platform(lower))
        } else {
            Err(ParseError::new(
                "invalid_platform",
                format!(
                    "platform is 1 to {} characters of a-z, 0-9, '-' and '_' (web, ios, android...)",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The display name of a service: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

impl ServiceName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let trimmed = s.trim();
        let n = trimmed.chars().count();
        if n == 0 || n > Self::MAX_CHARS || trimmed.chars().any(char::is_control) {
            return Err(ParseError::new(
                "invalid_name",
                format!(
                    "a service name is 1 to {} characters without control characters",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(ServiceName(trimmed.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_is_lowercased_and_checked() {
        assert_eq!(Platform::parse("iOS").unwrap().as_str(), "ios");
        assert!(Platform::parse("").is_err());
        assert!(Platform::parse("<script>").is_err());
    }

    #[test]
    fn names_keep_markup_as_text_but_refuse_control_characters() {
        assert!(ServiceName::parse("<script>alert(1)</script>").is_ok());
        assert!(ServiceName::parse("a\u{7}b").is_err());
        assert!(ServiceName::parse("   ").is_err());
    }
}
