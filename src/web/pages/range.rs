//! The chart ranges a service page offers, as the `range` query names them.

use crate::web::PageError;

/// The chart ranges a service page offers; every one at 1-minute steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hours6,
    Hours24,
    Days7,
}

impl Range {
    pub const ALL: [Range; 3] = [Range::Hours6, Range::Hours24, Range::Days7];

    pub fn parse(s: Option<&str>) -> Result<Self, PageError> {
        match s {
            None | Some("24h") => Ok(Range::Hours24),
            Some("6h") => Ok(Range::Hours6),
            Some("7d") => Ok(Range::Days7),
            Some(_) => Err(PageError::bad_request(
                "invalid_range",
                "range must be 6h, 24h or 7d",
            )),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Range::Hours6 => "6h",
            Range::Hours24 => "24h",
            Range::Days7 => "7d",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Range::Hours6 => "6 hours",
            Range::Hours24 => "24 hours",
            Range::Days7 => "7 days",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Range::Hours6 => 6 * 3600,
            Range::Hours24 => 86_400,
            Range::Days7 => 7 * 86_400,
        }
    }
}
