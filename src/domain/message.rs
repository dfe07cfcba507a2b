//! The kinds of message a webhook subscriber receives.

use serde::{Deserialize, Serialize};

use crate::detect::vocabulary::vocabulary;

/// What a webhook message says: a test ping, a change of an outage, or a
/// change of an incident across services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// A test message sent on request, to check the receiver.
    #[serde(rename = "ping")]
    Ping,
    /// An outage began.
    #[serde(rename = "outage.opened")]
    Opened,
    /// An open outage rose again in a new wave.
    #[serde(rename = "outage.wave")]
    Wave,
    /// An outage ended (or was taken back).
    #[serde(rename = "outage.resolved")]
    Resolved,
    /// Outages on several services were grouped into one incident.
    #[serde(rename = "incident.opened")]
    IncidentOpened,
    /// An open incident's services or cause changed.
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    /// An incident ended (or the grouping was taken back).
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
}

vocabulary!(MessageKind, "message kind", {
    Ping => "ping",
    Opened => "outage.opened",
    Wave => "outage.wave",
    Resolved => "outage.resolved",
    IncidentOpened => "incident.opened",
    IncidentUpdated => "incident.updated",
    IncidentResolved => "incident.resolved",
});

impl MessageKind {
    /// Whether the message says something has ended (PagerDuty's
    /// `resolve`, Alertmanager's `resolved`).
    pub fn ends(self) -> bool {
        matches!(self, MessageKind::Resolved | MessageKind::IncidentResolved)
    }

    /// Whether the message is about an incident rather than one outage.
    pub fn is_incident(self) -> bool {
        matches!(
            self,
            MessageKind::IncidentOpened
                | MessageKind::IncidentUpdated
                | MessageKind::IncidentResolved
        )
    }
}

/// What a subscription is told of when one failure breaks many services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertPolicy {
    /// Every outage, each on its own: `outage.*` messages.
    #[default]
    Outages,
    /// Outages, except those attributed to another service's outage
    /// (a declared provider's, the epicentre's it followed, or spillover):
    /// the causes page, the consequences do not.
    Causes,
    /// An incident once, with its growing list of affected services
    /// (`incident.*` messages); an outage in no incident as an outage.
    Incidents,
}

vocabulary!(AlertPolicy, "alert policy", {
    Outages => "outages",
    Causes => "causes",
    Incidents => "incidents",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_their_words_everywhere() {
        crate::detect::vocabulary::assert_serde_matches(MessageKind::ALL, |k| k.as_str());
        for k in MessageKind::ALL {
            assert_eq!(k.as_str().parse::<MessageKind>(), Ok(*k));
            assert_eq!(k.to_string(), k.as_str());
        }
        crate::detect::vocabulary::assert_serde_matches(AlertPolicy::ALL, |p| p.as_str());
        let e = "outage.open".parse::<MessageKind>().unwrap_err();
        assert_eq!(e.to_string(), "'outage.open' is not a message kind");
    }
}
