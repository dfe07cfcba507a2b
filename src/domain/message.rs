//! The kinds of message a webhook subscriber receives.

use serde::{Deserialize, Serialize};

use crate::detect::vocabulary::vocabulary;

/// What a webhook message says: a test ping, or a change of an outage.
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
}

vocabulary!(MessageKind, "message kind", {
    Ping => "ping",
    Opened => "outage.opened",
    Wave => "outage.wave",
    Resolved => "outage.resolved",
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
        let e = "outage.open".parse::<MessageKind>().unwrap_err();
        assert_eq!(e.to_string(), "'outage.open' is not a message kind");
    }
}
