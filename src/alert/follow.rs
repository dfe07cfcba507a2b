//! Alerts that follow the cause. When one failure breaks many services, a
//! subscription that asked for it hears of the cause, not of every
//! consequence (see [`AlertPolicy`]):
//!
//! - `outages`: every outage, the moment it opens (the outbox's
//!   [`announce`](super::outbox::announce); nothing here);
//! - `causes`: an outage that another service's outage explains (a declared
//!   provider's, the epicentre's it followed, spillover) pages no one; the
//!   cause of an incident pages as soon as the incident forms;
//! - `incidents`: one `incident.opened` when outages are grouped, an
//!   `incident.updated` each time its services or cause change, one
//!   `incident.resolved` when it ends or is withdrawn.
//!
//! Under both, an outage in no incident pages once it has stayed so for
//! `hold` after it was detected: the time the incident pass needs to see
//! the services that follow a provider (dependents spike within minutes).
//! An outage that ends within the hold pages no one.
//!
//! Runs after each incident pass, in its transaction, over the open
//! outages and incidents; idempotent (every message has its key), so a pass
//! that is run again queues nothing new. Waves and resolutions of outages
//! go through the outbox to every subscription told of the opening, whatever
//! its policy: suppression never drops the end of something announced.

use super::outbox::AlertSettings;
use crate::domain::{AlertPolicy, MessageKind};
use crate::store::{self, FollowedOutage, StoreError, StoredIncidentStatus, Webhook};
use crate::wire::IncidentView;
use rusqlite::Connection;
use std::collections::{HashMap, HashSet};

/// Most open incidents one pass reads: far more than ever open at once.
const MAX_OPEN_INCIDENTS: usize = 1000;

/// Queues what the subscriptions that follow the cause should hear after
/// the incident pass that judged the minute ending at `minute`; returns how
/// many messages were queued.
pub fn follow(
    conn: &Connection,
    alerts: &AlertSettings,
    minute: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, StoreError> {
    let subscriptions: Vec<Webhook> = store::list_webhooks(conn)?
        .into_iter()
        .filter(|w| w.enabled && w.alerts != AlertPolicy::Outages)
        .collect();
    if subscriptions.is_empty() {
        return Ok(0);
    }
    let mut pass = Pass {
        conn,
        alerts,
        minute,
        now_ms: now.timestamp_millis(),
        in_maintenance: HashMap::new(),
    };
    let mut queued = pass.outages(&subscriptions)?;
    let incidents: Vec<&Webhook> = subscriptions
        .iter()
        .filter(|w| w.alerts == AlertPolicy::Incidents)
        .collect();
    if !incidents.is_empty() {
        queued += pass.incidents(&incidents)?;
    }
    Ok(queued)
}

struct Pass<'a> {
    conn: &'a Connection,
    alerts: &'a AlertSettings,
    minute: i64,
    now_ms: i64,
    /// Whether each service read so far is in maintenance at `minute`.
    in_maintenance: HashMap<i64, bool>,
}

impl Pass<'_> {
    fn muted(&mut self, w: &Webhook, service_id: i64) -> Result<bool, StoreError> {
        if w.during_maintenance {
            return Ok(false);
        }
        if let Some(&m) = self.in_maintenance.get(&service_id) {
            return Ok(m);
        }
        let m = store::maintenance_at(self.conn, service_id, self.minute)?.is_some();
        self.in_maintenance.insert(service_id, m);
        Ok(m)
    }

    /// Whether `w` should now hear of outage `o`'s opening.
    fn pages(&mut self, w: &Webhook, o: &FollowedOutage) -> Result<bool, StoreError> {
        let held = self.minute - o.detected_at >= self.alerts.hold.as_secs() as i64;
        let wanted = match w.alerts {
            AlertPolicy::Outages => false,
            AlertPolicy::Causes => !o.caused_elsewhere() && (o.incident_id.is_some() || held),
            AlertPolicy::Incidents => o.incident_id.is_none() && held,
        };
        Ok(wanted && w.wants(&o.service, o.severity) && !self.muted(w, o.service_id)?)
    }

    /// Openings of outages: the causes, and the outages in no incident once
    /// held.
    fn outages(&mut self, subscriptions: &[Webhook]) -> Result<usize, StoreError> {
        let mut queued = 0;
        for o in store::open_outages(self.conn)? {
            let mut payload = None;
            for w in subscriptions {
                if !self.pages(w, &o)? || store::told_of_opening(self.conn, w.id, o.event_id)? {
                    continue;
                }
                if payload.is_none() {
                    payload = event_payload(self.conn, self.alerts, o.event_id)?;
                }
                let Some(payload) = &payload else { break };
                queued += store::enqueue_outage_opening(
                    self.conn,
                    w.id,
                    o.event_id,
                    payload,
                    self.now_ms,
                )?;
            }
        }
        Ok(queued)
    }

    /// Incident messages: an opening for each open incident that concerns
    /// a subscription, an update for each new revision, and a resolution
    /// for each incident it was told of that is no longer open.
    fn incidents(&mut self, subscriptions: &[&Webhook]) -> Result<usize, StoreError> {
        let mut queued = 0;
        let open = store::list_incidents(
            self.conn,
            Some(StoredIncidentStatus::Open),
            MAX_OPEN_INCIDENTS,
        )?;
        let mut open_ids = HashSet::new();
        for i in &open {
            open_ids.insert(i.id);
            let Some(view) = IncidentView::load(self.conn, i)? else {
                continue;
            };
            let mut payload = None;
            for w in subscriptions {
                let kind = match store::incident_told(self.conn, w.id, i.id)? {
                    None if self.concerns(w, &view)? => MessageKind::IncidentOpened,
                    Some(told) if view.revision > told.revision => MessageKind::IncidentUpdated,
                    _ => continue,
                };
                let payload = match &payload {
                    Some(p) => p,
                    None => payload.insert(incident_payload(self.alerts, &view)?),
                };
                queued += store::enqueue_incident_message(
                    self.conn,
                    w.id,
                    i.id,
                    kind,
                    view.revision,
                    payload,
                    self.now_ms,
                )?;
            }
        }
        for w in subscriptions {
            for id in store::incidents_told_open(self.conn, w.id)? {
                if open_ids.contains(&id) {
                    continue;
                }
                let Some(i) = store::get_incident(self.conn, id)? else {
                    continue;
                };
                let Some(view) = IncidentView::load(self.conn, &i)? else {
                    continue;
                };
                queued += store::enqueue_incident_message(
                    self.conn,
                    w.id,
                    id,
                    MessageKind::IncidentResolved,
                    view.revision,
                    &incident_payload(self.alerts, &view)?,
                    self.now_ms,
                )?;
            }
        }
        Ok(queued)
    }

    /// Whether an incident concerns a subscription: one of its outages
    /// passes the subscription's filters, may page anyone (not
    /// concentrated), and is not muted by its service's maintenance.
    fn concerns(&mut self, w: &Webhook, view: &IncidentView) -> Result<bool, StoreError> {
        for m in view.members() {
            if !m.concentrated && w.wants(&m.service, m.severity) && !self.muted(w, m.service_id)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The payload of an outage's opening, as the outbox writes it.
fn event_payload(
    conn: &Connection,
    alerts: &AlertSettings,
    event_id: i64,
) -> Result<Option<String>, StoreError> {
    let Some(record) = store::get_event(conn, event_id)? else {
        return Ok(None);
    };
    Ok(Some(
        super::outbox::event_payload(conn, alerts, record, false)?.1,
    ))
}

/// The payload of an incident message: links made absolute.
fn incident_payload(alerts: &AlertSettings, view: &IncidentView) -> Result<String, StoreError> {
    let mut payload = serde_json::to_value(view).map_err(|source| StoreError::Encode {
        what: "an incident",
        source,
    })?;
    payload["url"] = serde_json::Value::String(alerts.link(&view.url));
    payload["cause"]["url"] = serde_json::Value::String(alerts.link(&view.cause.url));
    if let Some(services) = payload["services"].as_array_mut() {
        for s in services {
            let url = s["url"].as_str().unwrap_or_default().to_owned();
            s["url"] = serde_json::Value::String(alerts.link(&url));
        }
    }
    Ok(payload.to_string())
}
