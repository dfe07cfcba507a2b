use super::{Comment, ParseError};

/// How far back a window may start: a window "from now" sent a little
/// late still starts now.
const START_SLACK_SECS: i64 = 60;

/// A maintenance window as an operator asks for it, checked: it starts now
/// or later, ends after it starts, lasts at most the longest allowed, and
/// its reason is a plain line of text. Times in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
}

/// What an operator gives: a start (now if none), and an end or a length.
#[derive(Debug, Clone, Default)]
pub struct WindowRequest<'a> {
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub minutes: Option<u64>,
    pub reason: &'a str,
}

/// The bounds a window is checked against (settings).
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    pub max_hours: u64,
    pub max_reason_chars: usize,
}

/// Where a window stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    Scheduled,
    InProgress,
    Over,
}

impl WindowState {
    /// Of a window from `starts_at` to before `ends_at`, at `now`.
    pub fn at(starts_at: i64, ends_at: i64, now: i64) -> Self {
        if now < starts_at {
            WindowState::Scheduled
        } else if now < ends_at {
            WindowState::InProgress
        } else {
            WindowState::Over
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WindowState::Scheduled => "scheduled",
            WindowState::InProgress => "in_progress",
            WindowState::Over => "over",
        }
    }
}

impl MaintenanceWindow {
    pub fn parse(
        req: &WindowRequest<'_>,
        now: i64,
        limits: WindowLimits,
    ) -> Result<Self, ParseError> {
        let starts_at = req.starts_at.unwrap_or(now);
        if starts_at < now - START_SLACK_SECS {
            return Err(ParseError::new(
                "starts_in_past",
                "a maintenance window starts now or later; leave its start out to start it now",
            ));
        }
        let starts_at = starts_at.max(now);
        let ends_at = match (req.ends_at, req.minutes) {
            (Some(end), None) => end,
            (None, Some(minutes)) => starts_at.saturating_add(
                i64::try_from(minutes)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(60),
            ),
            _ => {
                return Err(ParseError::new(
                    "invalid_window",
                    "give the window's end or its length in minutes, one of the two",
                ))
            }
        };
        if ends_at <= starts_at {
            return Err(ParseError::new(
                "invalid_window",
                "a maintenance window ends after it starts",
            ));
        }
        let longest = i64::try_from(limits.max_hours)
            .unwrap_or(i64::MAX / 3600)
            .saturating_mul(3600);
        if ends_at - starts_at > longest {
            return Err(ParseError::new(
                "maintenance_too_long",
                format!(
                    "a maintenance window lasts at most {} hours (maintenance_max_hours)",
                    limits.max_hours
                ),
            ));
        }
        let reason = Comment::parse(req.reason, limits.max_reason_chars)
            .map_err(|e| ParseError::new("invalid_reason", e.message))?
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        Ok(MaintenanceWindow {
            starts_at,
            ends_at,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WindowLimits = WindowLimits {
        max_hours: 2,
        max_reason_chars: 20,
    };

    fn parse(req: WindowRequest<'_>) -> Result<MaintenanceWindow, &'static str> {
        MaintenanceWindow::parse(&req, 10_000, LIMITS).map_err(|e| e.code)
    }

    #[test]
    fn starts_now_unless_told_and_ends_by_time_or_length() {
        let w = parse(WindowRequest {
            minutes: Some(30),
            reason: " upgrade ",
            ..Default::default()
        })
        .unwrap();
        assert_eq!((w.starts_at, w.ends_at), (10_000, 11_800));
        assert_eq!(w.reason, " upgrade ");
        let late = parse(WindowRequest {
            starts_at: Some(9_950),
            ends_at: Some(12_000),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (late.starts_at, late.ends_at),
            (10_000, 12_000),
            "a minute late is now"
        );
        let longest = parse(WindowRequest {
            minutes: Some(120),
            ..Default::default()
        });
        assert!(longest.is_ok());
    }

    #[test]
    fn refuses_what_cannot_be_a_window() {
        let cases: [(WindowRequest, &str); 6] = [
            (
                WindowRequest {
                    starts_at: Some(9_000),
                    minutes: Some(5),
                    ..Default::default()
                },
                "starts_in_past",
            ),
            (WindowRequest::default(), "invalid_window"),
            (
                WindowRequest {
                    ends_at: Some(12_000),
                    minutes: Some(5),
                    ..Default::default()
                },
                "invalid_window",
            ),
            (
                WindowRequest {
                    starts_at: Some(12_000),
                    ends_at: Some(11_000),
                    ..Default::default()
                },
                "invalid_window",
            ),
            (
                WindowRequest {
                    minutes: Some(121),
                    ..Default::default()
                },
                "maintenance_too_long",
            ),
            (
                WindowRequest {
                    minutes: Some(5),
                    reason: "a\u{202E}b",
                    ..Default::default()
                },
                "invalid_reason",
            ),
        ];
        for (req, code) in cases {
            assert_eq!(parse(req.clone()), Err(code), "{req:?}");
        }
        let huge = parse(WindowRequest {
            minutes: Some(u64::MAX),
            ..Default::default()
        });
        assert_eq!(huge, Err("maintenance_too_long"));
    }
}
