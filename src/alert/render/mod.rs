//! Payloads in the formats on-call tools speak, rendered from the event as
//! it was when the change happened (the outbox row's payload).
//!
//! Every format names the same event id, so a `resolved` closes the incident
//! that the `opened` started: PagerDuty's `dedup_key`, Alertmanager's
//! fingerprint and labels, the id in the generic payload.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::{MessageKind, WebhookFormat};

/// What is announced, and the event as it was.
pub struct Message<'a> {
    pub kind: MessageKind,
    /// The event (an `EventView` as JSON), or for a ping `{"webhook_id": …}`.
    pub data: &'a Value,
    /// When this attempt is sent (RFC 3339).
    pub timestamp: &'a str,
    /// PagerDuty integration key of the subscription.
    pub routing_key: Option<&'a str>,
}

pub fn render(format: WebhookFormat, m: &Message<'_>) -> Value {
    match format {
        WebhookFormat::Slack => slack(m),
        WebhookFormat::Discord => discord(m),
        WebhookFormat::PagerDuty => pagerduty(m),
        WebhookFormat::Alertmanager => alertmanager(m),
        WebhookFormat::Generic => generic(m),
    }
}

/// Standard Webhooks: `{type, timestamp, data}`.
fn generic(m: &Message<'_>) -> Value {
    json!({"type": m.kind.as_str(), "timestamp": m.timestamp, "data": m.data})
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// "login 53%, website 31%"
fn shares(v: &Value, key: &str) -> String {
    v[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .take(3)
                .map(|i| format!("{} {}%", text(i, "value"), text(i, "percent")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A one-line headline for the change.
fn headline(m: &Message<'_>) -> String {
    let d = m.data;
    let service = text(d, "service");
    match m.kind {
        MessageKind::Opened => format!(
            "Outage: {service} ({}), {} reports/min",
            text(d, "severity"),
            text(d, "peak")
        ),
        MessageKind::Wave => format!(
            "New wave of reports for {service}: wave {}",
            d["waves"].as_array().map_or(0, Vec::len)
        ),
        MessageKind::Resolved if withdrawn(d) => format!(
            "Withdrawn: {service}, imported history shows no outage from {}",
            text(d, "started_at")
        ),
        MessageKind::Resolved => format!(
            "Resolved: {service} after {} minutes, {} reports",
            text(d, "duration_minutes"),
            text(d, "total")
        ),
        MessageKind::IncidentOpened => {
            format!("Incident: {} outage, {} affected", cause_name(d), others(d))
        }
        MessageKind::IncidentUpdated => {
            format!("{} outage now affects {}", cause_name(d), others(d))
        }
        MessageKind::IncidentResolved if withdrawn(d) => format!(
            "Withdrawn: the {} outage incident, its outages no longer group together",
            cause_name(d)
        ),
        MessageKind::IncidentResolved => format!(
            "Resolved: {} outage after {} minutes, {} affected",
            cause_name(d),
            text(d, "duration_minutes"),
            others(d)
        ),
        MessageKind::Ping => "downwave test message: this subscription works".to_owned(),
    }
}

/// The name of an incident's cause ("AWS"), its slug if it has none.
fn cause_name(d: &Value) -> String {
    let name = text(&d["cause"], "name");
    if name.is_empty() {
        text(&d["cause"], "service")
    } else {
        name
    }
}

/// "37 other services" besides an incident's cause.
fn others(d: &Value) -> String {
    match d["services"].as_array().map_or(0, Vec::len) {
        1 => "1 other service".to_owned(),
        n => format!("{n} other services"),
    }
}

/// Most affected services an incident message names; the rest are counted.
const NAMED_SERVICES: usize = 10;

/// "Slack, GitHub and 35 more"
fn affected(d: &Value) -> String {
    let services = d["services"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut names: Vec<String> = services
        .iter()
        .take(NAMED_SERVICES)
        .map(|s| text(s, "name"))
        .collect();
    if services.len() > NAMED_SERVICES {
        names.push(format!("{} more", services.len() - NAMED_SERVICES));
    }
    match names.split_last() {
        None => "none".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// What one message is about, for the keys that tie its messages together
/// (PagerDuty's `dedup_key`, Alertmanager's fingerprint): `event-7`,
/// `incident-3`.
fn subject(m: &Message<'_>) -> String {
    if m.kind.is_incident() {
        format!("incident-{}", text(m.data, "id"))
    } else {
        format!("event-{}", text(m.data, "id"))
    }
}

/// When what the message is about began.
fn began(m: &Message<'_>) -> String {
    if m.kind.is_incident() {
        text(m.data, "began_at")
    } else {
        text(m.data, "started_at")
    }
}

/// The short facts of a change, as name and value.
fn facts(m: &Message<'_>) -> Vec<(&'static str, String)> {
    let d = m.data;
    if m.kind.is_incident() {
        vec![
            ("Severity", text(d, "severity")),
            ("Began", text(d, "began_at")),
            ("Cause", cause_name(d)),
            ("Services affected", text(d, "outage_count")),
        ]
    } else {
        vec![
            ("Severity", text(d, "severity")),
            ("Started", text(d, "started_at")),
            ("Peak", format!("{} reports/min", text(d, "peak"))),
            ("Reports", text(d, "total")),
            ("Networks", networks(d)),
        ]
    }
}

/// The longer facts of a change, as name and value.
fn details(m: &Message<'_>) -> Vec<(&'static str, String)> {
    let d = m.data;
    if m.kind.is_incident() {
        vec![("Also affected", affected(d))]
    } else {
        vec![
            ("Most reported", non_empty(shares(d, "top_categories"))),
            ("Error codes", non_empty(shares(d, "top_error_codes"))),
        ]
    }
}

/// How many networks reported, and the largest share of one provider
/// block: "300 (one /16 or /32 at most 4% of the excess)"; "not recorded"
/// for an event from before networks were, and for imported history, whose
/// reports have no address, "none with an address".
fn networks(d: &Value) -> String {
    match (d["networks"].as_i64(), d["top_network_share"].as_f64()) {
        (Some(0), _) => "none with an address (imported history)".to_owned(),
        (Some(n), Some(share)) => format!(
            "{n} (one /16 or /32 at most {:.0}% of the excess)",
            (share * 100.0).clamp(0.0, 100.0)
        ),
        (Some(n), None) => n.to_string(),
        _ => "not recorded".to_owned(),
    }
}

/// A resolution that takes back an event which a replay of imported history
/// no longer finds (rather than an outage that ended).
fn withdrawn(d: &Value) -> bool {
    d["withdrawn"].as_bool().unwrap_or(false)
}

/// Slack's mrkdwn treats &, < and > as markup.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(m: &Message<'_>) -> Value {
    let d = m.data;
    let title = slack_escape(&headline(m));
    if m.kind == MessageKind::Ping {
        return json!({"text": title, "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": title}}
        ]});
    }
    let details: Vec<String> = details(m)
        .iter()
        .map(|(k, v)| format!("*{k}:* {}", slack_escape(v)))
        .collect();
    let what = if m.kind.is_incident() {
        "incident"
    } else {
        "event"
    };
    json!({
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": headline(m).chars().take(150).collect::<String>()}},
            {"type": "section", "fields": facts(m).iter().map(|(k, v)| json!({
                "type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(v))
            })).collect::<Vec<_>>()},
            {"type": "section", "text": {"type": "mrkdwn", "text": details.join("\n")}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                "<{}|Open in downwave> · {what} {}", text(d, "url"), text(d, "id")
            )}]}
        ]
    })
}

fn discord(m: &Message<'_>) -> Value {
    let d = m.data;
    // Red while open, green when ended, grey when withdrawn, blue for a ping.
    let color = match m.kind {
        _ if m.kind.ends() && withdrawn(d) => 0x757575,
        _ if m.kind.ends() => 0x2e7d32,
        MessageKind::Ping => 0x1565c0,
        _ => 0xc62828,
    };
    let mut embed = json!({
        "title": headline(m).chars().take(256).collect::<String>(),
        "color": color,
        "timestamp": m.timestamp,
        "footer": {"text": "downwave"},
    });
    if m.kind != MessageKind::Ping {
        embed["url"] = d["url"].clone();
        let inline = facts(m)
            .into_iter()
            .map(|(k, v)| json!({"name": k, "value": v, "inline": true}));
        let block = details(m)
            .into_iter()
            .map(|(k, v)| json!({"name": k, "value": v, "inline": false}));
        embed["fields"] = Value::Array(inline.chain(block).collect());
    }
    // No @everyone, no role or user pings, whatever a service name holds.
    json!({"embeds": [embed], "allowed_mentions": {"parse": []}})
}

fn non_empty(s: String) -> String {
    if s.is_empty() {
        "none".to_owned()
    } else {
        s
    }
}

/// PagerDuty Events API v2: `trigger` on open and on each wave or update
/// (updates the same incident), `resolve` on resolution, one `dedup_key` per
/// event or incident.
fn pagerduty(m: &Message<'_>) -> Value {
    let d = m.data;
    let dedup_key = match m.kind {
        MessageKind::Ping => format!("downwave-ping-{}", m.timestamp),
        _ => format!("downwave-{}", subject(m)),
    };
    if m.kind.ends() {
        return json!({
            "routing_key": m.routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let severity = match text(d, "severity").as_str() {
        "critical" => "critical",
        "major" => "error",
        _ => "warning",
    };
    let mut body = json!({
        "routing_key": m.routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "client": "downwave",
        "payload": {
            "summary": headline(m).chars().take(1024).collect::<String>(),
            "source": "downwave",
            "severity": if m.kind == MessageKind::Ping { "info" } else { severity },
            "timestamp": if m.kind == MessageKind::Ping { m.timestamp.to_owned() } else { began(m) },
            "component": if m.kind.is_incident() { text(&d["cause"], "service") } else { text(d, "service") },
            "group": if m.kind.is_incident() { "incident" } else { "outage" },
            "class": m.kind.as_str(),
            "custom_details": d,
        },
    });
    if m.kind != MessageKind::Ping {
        body["client_url"] = d["url"].clone();
        let page = if m.kind.is_incident() {
            "Incident on downwave"
        } else {
            "Event on downwave"
        };
        body["links"] = json!([{"href": d["url"], "text": page}]);
    }
    body
}

/// The fingerprint Alertmanager receivers group by: stable per event.
pub fn fingerprint(event_id: &str) -> String {
    let digest = Sha256::digest(format!("downwave:{event_id}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Alertmanager's webhook payload, version 4: `firing` then `resolved`.
/// An outage is the alert `DownwaveOutage` labelled with its `event_id`; an
/// incident is `DownwaveIncident` labelled with its `incident_id` and its
/// cause's service.
fn alertmanager(m: &Message<'_>) -> Value {
    let d = m.data;
    let resolved = m.kind.ends();
    let status = if resolved { "resolved" } else { "firing" };
    let id = if m.kind == MessageKind::Ping {
        "ping".to_owned()
    } else {
        text(d, "id")
    };
    let (alertname, id_label, service, key) = match m.kind {
        MessageKind::Ping => ("DownwaveTest", "event_id", String::new(), id.clone()),
        k if k.is_incident() => (
            "DownwaveIncident",
            "incident_id",
            text(&d["cause"], "service"),
            subject(m),
        ),
        _ => ("DownwaveOutage", "event_id", text(d, "service"), id.clone()),
    };
    let labels = json!({
        "alertname": alertname,
        "service": service,
        "severity": text(d, "severity"),
        id_label: id,
    });
    let description = if m.kind.is_incident() {
        format!(
            "Likely cause: {} ({} services affected). Also affected: {}.",
            cause_name(d),
            text(d, "outage_count"),
            affected(d)
        )
    } else {
        format!(
            "Most reported: {}. Error codes: {}. Networks: {}.",
            non_empty(shares(d, "top_categories")),
            non_empty(shares(d, "top_error_codes")),
            networks(d)
        )
    };
    let mut annotations = json!({
        "summary": headline(m),
        "description": description,
        "dashboard": d["url"],
    });
    if !m.kind.is_incident() {
        annotations["networks"] = json!(d["networks"]
            .as_i64()
            .map_or_else(String::new, |n| n.to_string()));
    }
    let ends_at = if resolved {
        text(d, "resolved_at")
    } else {
        "0001-01-01T00:00:00Z".to_owned()
    };
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\", {id_label}=\"{id}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "downwave",
        "groupLabels": {"alertname": alertname, id_label: id},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": d["url"],
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": if m.kind == MessageKind::Ping { m.timestamp.to_owned() } else { began(m) },
            "endsAt": ends_at,
            "generatorURL": d["url"],
            "fingerprint": fingerprint(&key),
        }],
    })
}

#[cfg(test)]
mod tests;
