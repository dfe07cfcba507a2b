//! The formats a webhook subscription can ask for.

use serde::{Deserialize, Serialize};

use crate::detect::vocabulary::vocabulary;

/// How a subscription's messages are shaped: the format its receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Standard Webhooks: `{type, timestamp, data}`.
    Generic,
    Slack,
    Discord,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// Alertmanager's webhook payload, as Prometheus alerts.
    Alertmanager,
}

vocabulary!(WebhookFormat, "webhook format", {
    Generic => "generic",
    Slack => "slack",
    Discord => "discord",
    PagerDuty => "pagerduty",
    Alertmanager => "alertmanager",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_their_words_everywhere() {
        crate::detect::vocabulary::assert_serde_matches(WebhookFormat::ALL, |f| f.as_str());
        assert_eq!("pagerduty".parse(), Ok(WebhookFormat::PagerDuty));
        assert!("PagerDuty".parse::<WebhookFormat>().is_err());
    }
}
