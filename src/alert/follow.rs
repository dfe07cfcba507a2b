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
use crate::store::Db;
use crate::store::{self, FollowedOutage, StoreError, StoredIncidentStatus, Webhook};
use crate::wire::IncidentView;
use std::collections::{HashMap, HashSet};

/// Most open incidents one pass reads: far more than ever open at once.
const MAX_OPEN_INCIDENTS: usize = 1000;

/// Queues what the subscriptions that follow the cause should hear after
/// the incident pass that judged the minute ending at `minute`; returns how
/// many messages were queued.
pub fn follow(
    conn: &Db,
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
    conn: &'a Db,
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
                    Some(told) if view.revision > told => MessageKind::IncidentUpdated,
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
    conn: &Db,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_writer, OpenOptions};
    use chrono::TimeZone;

    fn alerts() -> AlertSettings {
        AlertSettings::for_tests()
    }

    /// What each subscription was sent, as `kind:subject` (`e` and an
    /// event id, `i` and an incident id), oldest first.
    fn sent(conn: &Db, webhook_id: i64) -> Vec<String> {
        let mut out: Vec<String> = store::list_deliveries(conn, webhook_id, 100)
            .unwrap()
            .iter()
            .map(|d| match (d.event_id, d.incident_id) {
                (Some(e), _) => format!("{}:e{e}", d.kind),
                (_, Some(i)) => format!("{}:i{i}", d.kind),
                _ => d.kind.to_string(),
            })
            .collect();
        out.reverse();
        out
    }

    fn run(conn: &Db, minute: i64) -> usize {
        let now = chrono::Utc.timestamp_opt(minute, 0).unwrap();
        follow(conn, &alerts(), minute, now).unwrap()
    }

    /// aws (event 10) caused slack's outage (11) through a declared
    /// dependency: incident 1. solo's (12) is its own, detected at 900.
    /// Subscriptions: 1 every outage, 2 causes, 3 incidents, 4 incidents of
    /// solo only, 5 incidents of slack only, which is in maintenance.
    fn world() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("f.db"), &OpenOptions::default()).unwrap();
        let mut sql = String::new();
        for (id, slug) in [(1, "aws"), (2, "slack"), (3, "solo")] {
            sql += &format!(
                "INSERT INTO services (id, slug, name, categories, created_at) \
                 VALUES ({id}, '{slug}', '{slug}', '[\"login\"]', 0);"
            );
        }
        for (id, service, detected) in [(10, 1, 600), (11, 2, 720), (12, 3, 900)] {
            sql += &format!(
                "INSERT INTO events (id, service_id, seq, status, started_at, detected_at, \
                     opened_by, peak_at, peak, ended_at, total, excess, expected, severity, \
                     waves) VALUES ({id}, {service}, 1, 'open', {}, {detected}, 'extreme', \
                     {detected}, 90, {detected}, 180, 170, 10, 'major', '[]');",
                detected - 60
            );
        }
        sql += "INSERT INTO event_attributions VALUES (10, 1, 'epicentre', 10, 0.9, 'e', 0); \
                INSERT INTO event_attributions VALUES (11, 1, 'upstream', 10, 0.9, 'u', 0); \
                INSERT INTO event_attributions VALUES (12, NULL, 'independent', 12, 1, 'i', 0); \
                INSERT INTO incidents VALUES (1, 'open', 10, 540, 780, NULL, 2, 780); \
                INSERT INTO attribution_changes (at, change, incident_id, event_id, detail) \
                    VALUES (780, 'incident_opened', 1, NULL, '{}'), \
                           (780, 'outage_joined', 1, 10, '{}'), \
                           (780, 'outage_joined', 1, 11, '{}'); \
                INSERT INTO maintenance VALUES (1, 2, 0, 100000, 'upgrade', 0);";
        for (id, alerts, services) in [
            (1, "outages", "[]"),
            (2, "causes", "[]"),
            (3, "incidents", "[]"),
            (4, "incidents", "[\"solo\"]"),
            (5, "incidents", "[\"slack\"]"),
        ] {
            sql += &format!(
                "INSERT INTO webhooks (id, url, format, services, min_severity, enabled, secret, \
                     created_at, alerts) VALUES ({id}, 'https://h.example/{id}', 'generic', \
                     '{services}', 'minor', 1, 'whsec_x', 0, '{alerts}');"
            );
        }
        conn.execute_batch(&sql).unwrap();
        (dir, conn)
    }

    #[test]
    fn causes_page_consequences_do_not_and_an_incident_pages_once() {
        let (_dir, conn) = world();
        // solo's outage is 1 minute old: held.
        run(&conn, 960);
        assert!(sent(&conn, 1).is_empty(), "every outage: the outbox's part");
        assert_eq!(
            sent(&conn, 2),
            ["outage.opened:e10"],
            "the cause, not slack"
        );
        assert_eq!(sent(&conn, 3), ["incident.opened:i1"]);
        assert!(sent(&conn, 4).is_empty(), "the incident is none of solo's");
        assert!(sent(&conn, 5).is_empty(), "slack is in maintenance");
        // Held long enough: solo's outage, in no incident, pages.
        assert_eq!(run(&conn, 1200), 3);
        assert_eq!(sent(&conn, 2), ["outage.opened:e10", "outage.opened:e12"]);
        assert_eq!(sent(&conn, 3), ["incident.opened:i1", "outage.opened:e12"]);
        assert_eq!(sent(&conn, 4), ["outage.opened:e12"]);
        assert_eq!(run(&conn, 1260), 0, "the same pass again sends nothing");

        // solo joins the incident (a change: a new revision): an update, to
        // the subscription told of it only.
        conn.execute_batch(
            "UPDATE event_attributions SET incident_id = 1, kind = 'epicentre', \
                 cause_event_id = 10 WHERE event_id = 12; \
             INSERT INTO attribution_changes (at, change, incident_id, event_id, detail) \
                 VALUES (1320, 'outage_joined', 1, 12, '{}');",
        )
        .unwrap();
        run(&conn, 1320);
        assert_eq!(
            sent(&conn, 3),
            [
                "incident.opened:i1",
                "outage.opened:e12",
                "incident.updated:i1"
            ]
        );
        // Now it concerns solo's subscription, which hears of it whole.
        assert_eq!(sent(&conn, 4), ["outage.opened:e12", "incident.opened:i1"]);
        let payload = &store::list_deliveries(&conn, 3, 1).unwrap()[0].payload;
        let data: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(data["revision"], 3);
        assert_eq!(data["outage_count"], 3);
        assert_eq!(data["url"], "https://status.example.com/i/1");
        assert_eq!(data["cause"]["service"], "aws");

        // It ends: a resolution to each subscription told of it, once.
        conn.execute(
            "UPDATE incidents SET status = 'resolved', resolved_at = 1500",
            crate::store::params![],
        )
        .unwrap();
        run(&conn, 1500);
        run(&conn, 1560);
        assert_eq!(sent(&conn, 3).last().unwrap(), "incident.resolved:i1");
        assert_eq!(sent(&conn, 4).last().unwrap(), "incident.resolved:i1");
        assert_eq!(sent(&conn, 3).len(), 4);
        assert!(sent(&conn, 5).is_empty(), "never told, never resolved");
        // It reopens: an update fires it again, and its next end resolves it
        // again.
        conn.execute_batch(
            "UPDATE incidents SET status = 'open', resolved_at = NULL; \
             INSERT INTO attribution_changes (at, change, incident_id, event_id, detail) \
                 VALUES (1620, 'incident_reopened', 1, NULL, '{}');",
        )
        .unwrap();
        run(&conn, 1620);
        conn.execute(
            "UPDATE incidents SET status = 'withdrawn', resolved_at = 1680",
            crate::store::params![],
        )
        .unwrap();
        run(&conn, 1680);
        let tail: Vec<String> = sent(&conn, 3).into_iter().skip(4).collect();
        assert_eq!(tail, ["incident.updated:i1", "incident.resolved:i1"]);
        let payload = &store::list_deliveries(&conn, 3, 1).unwrap()[0].payload;
        let data: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(data["withdrawn"], true);
    }
}
