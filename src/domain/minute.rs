use chrono::{DateTime, TimeZone, Utc};
use std::fmt;

/// The start of one UTC minute, as Unix seconds (always a multiple of 60).
///
/// Counts are kept per minute; longer steps are sums of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Minute(i64);

impl Minute {
    pub const SECONDS: i64 = 60;

    /// The minute that holds this instant.
    pub fn containing(t: DateTime<Utc>) -> Self {
        Self::from_unix(t.timestamp())
    }

    /// The minute that holds this Unix time (seconds).
    pub fn from_unix(secs: i64) -> Self {
        Minute(secs.div_euclid(Self::SECONDS) * Self::SECONDS)
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }
}

impl fmt::Display for Minute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rfc3339(self.0))
    }
}

/// A Unix time (seconds) as RFC 3339 in UTC, to the second:
/// `2026-03-02T11:49:00Z`.
pub fn rfc3339(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl serde::Serialize for Minute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_to_the_minute() {
        assert_eq!(Minute::from_unix(119).unix(), 60);
        assert_eq!(Minute::from_unix(120).unix(), 120);
        assert_eq!(Minute::from_unix(-1).unix(), -60);
    }

    #[test]
    fn displays_as_rfc3339_utc() {
        let m = Minute::from_unix(1_772_452_140 + 59);
        assert_eq!(m.to_string(), "2026-03-02T11:49:00Z");
    }
}
