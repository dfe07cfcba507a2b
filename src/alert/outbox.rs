//! The outbox the monitor writes beside each event change: whether the
//! event may page anyone (its networks, through the gate), and the queueing
//! of its announcement, the payload the dispatcher later renders in each
//! subscription's format. Written in the monitor's transaction, so an event
//! change and its announcements commit together.

use super::gate::{self, GatePolicy};
use crate::detect::Event;
use crate::domain::MessageKind;
use crate::store::Db;
use crate::store::{self, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// What the monitor needs to announce event changes.
#[derive(Clone)]
pub struct AlertSettings {
    /// Base URL of the dashboard, for links in alerts.
    pub public_url: String,
    /// Changes older than this (by the clock) are recorded but not
    /// announced: replaying months of imported history must not page anyone.
    pub max_age: Duration,
    /// Rung after a commit that queued announcements.
    pub wake: Arc<tokio::sync::Notify>,
    /// What an event's networks must show before it pages anyone.
    pub gate: GatePolicy,
    /// How long an outage in no incident waits before it pages a
    /// subscription that follows the cause (see `follow`).
    pub hold: Duration,
}

impl AlertSettings {
    /// The dashboard's absolute URL of a page (`/e/7`).
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }
}

#[cfg(test)]
impl AlertSettings {
    /// Settings for unit tests: a 10-network gate, a five-minute hold.
    pub(crate) fn for_tests() -> Self {
        AlertSettings {
            public_url: "https://status.example.com".into(),
            max_age: Duration::from_secs(3600),
            wake: Arc::new(tokio::sync::Notify::new()),
            gate: GatePolicy {
                min_networks: 10,
                max_share: 0.5,
                window_secs: 900,
            },
            hold: Duration::from_secs(300),
        }
    }
}

/// What the networks behind `event` say (see [`gate::judge`]), from the
/// figures of its minutes.
pub fn judge(
    conn: &Db,
    policy: &GatePolicy,
    service_id: i64,
    event: &Event,
) -> Result<store::EventNetworks, StoreError> {
    let minutes = store::network_minutes(
        conn,
        service_id,
        policy.first_minute(event.started_at),
        event.ended_at,
    )?;
    Ok(gate::judge(policy, &minutes, event))
}

/// One event change to announce.
#[derive(Debug, Clone, Copy)]
pub struct AnnouncedChange {
    pub event_id: i64,
    pub kind: MessageKind,
    /// Which wave (for `outage.wave`).
    pub wave: usize,
    /// The resolution of an event a replay no longer finds.
    pub withdrawn: bool,
    /// The minute of the change (Unix seconds): an opening or a wave in a
    /// maintenance window of the service pages only the subscriptions that
    /// asked to hear of outages during maintenance.
    pub minute: i64,
}

/// An event as its messages carry it (the view, and the payload with its
/// link made absolute); `withdrawn` marks the resolution of an event that a
/// replay of imported history no longer finds.
pub(super) fn event_payload(
    conn: &Db,
    alerts: &AlertSettings,
    record: store::EventRecord,
    withdrawn: bool,
) -> Result<(crate::wire::EventView, String), StoreError> {
    let view = crate::wire::EventView::load(conn, record)?;
    let mut payload = serde_json::to_value(&view).map_err(|source| StoreError::Encode {
        what: "an event",
        source,
    })?;
    payload["url"] = serde_json::Value::String(alerts.link(&view.url));
    payload["withdrawn"] = serde_json::Value::Bool(withdrawn);
    Ok((view, payload.to_string()))
}

/// Queues the announcement of an event change (in the caller's
/// transaction). A wave is also a chance to announce the opening to
/// subscriptions the event has just grown into. `withdrawn` marks the
/// resolution of an event that a replay of imported history no longer finds:
/// its payload says so, so that receivers can tell it from an outage that
/// ended.
pub fn announce(
    conn: &Db,
    alerts: &AlertSettings,
    change: AnnouncedChange,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, StoreError> {
    let AnnouncedChange {
        event_id,
        kind,
        wave,
        withdrawn,
        minute,
    } = change;
    let Some(record) = store::get_event(conn, event_id)? else {
        return Ok(0);
    };
    let in_maintenance = store::maintenance_at(conn, record.service_id, minute)?.is_some();
    let (view, payload) = event_payload(conn, alerts, record, withdrawn)?;
    let now_ms = now.timestamp_millis();
    let mut queued = 0;
    // A wave announces the opening too, to a subscription that has not had
    // it (one the event has only now grown into).
    let kinds: &[MessageKind] = if kind == MessageKind::Wave {
        &[MessageKind::Opened, MessageKind::Wave]
    } else {
        std::slice::from_ref(&kind)
    };
    for k in kinds {
        queued += store::enqueue_announcement(
            conn,
            &store::Announcement {
                event_id,
                service: &view.service,
                severity: view.severity,
                kind: *k,
                wave,
                payload: &payload,
                in_maintenance,
            },
            now_ms,
        )?;
    }
    Ok(queued)
}
