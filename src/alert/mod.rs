//! Alerts to on-call: the network gate that keeps an outage from a handful
//! of networks from paging anyone, the outbox the detector writes beside each
//! event change, the alerts that follow an incident's cause, payload renderers for the formats on-call tools speak
//! (generic Standard Webhooks, Slack, Discord, PagerDuty, Alertmanager),
//! signing, the SSRF guard, and the dispatcher that delivers it all.

pub mod dispatcher;
pub mod follow;
pub mod gate;
pub mod guard;
pub mod outbox;
pub mod render;
pub mod signing;

pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use outbox::AlertSettings;
