use super::ParseError;

/// The HTTP status a user saw (`500`, `529`): a number from 100 to 599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ErrorCode(u16);

impl ErrorCode {
    pub fn parse(n: i64) -> Result<Self, ParseError> {
        if (100..=599).contains(&n) {
            Ok(ErrorCode(n as u16))
        } else {
            Err(ParseError::new(
                "invalid_error_code",
                "error_code must be an HTTP status code from 100 to 599",
            ))
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(ErrorCode::parse(100).is_ok());
        assert!(ErrorCode::parse(599).is_ok());
        assert!(ErrorCode::parse(99).is_err());
        assert!(ErrorCode::parse(600).is_err());
        assert!(ErrorCode::parse(-1).is_err());
    }
}
