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
        _ => "downwave test message: this subscription works".to_owned(),
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
    let fields = [
        ("Severity", text(d, "severity")),
        ("Started", text(d, "started_at")),
        ("Peak", format!("{} reports/min", text(d, "peak"))),
        ("Reports", text(d, "total")),
        ("Networks", networks(d)),
    ];
    json!({
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": headline(m).chars().take(150).collect::<String>()}},
            {"type": "section", "fields": fields.iter().map(|(k, v)| json!({
                "type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(v))
            })).collect::<Vec<_>>()},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "*Most reported:* {}\n*Error codes:* {}",
                slack_escape(&shares(d, "top_categories")),
                slack_escape(&shares(d, "top_error_codes"))
            )}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                "<{}|Open in downwave> · event {}", text(d, "url"), text(d, "id")
            )}]}
        ]
    })
}

fn discord(m: &Message<'_>) -> Value {
    let d = m.data;
    // Red while open, green when resolved, grey when withdrawn, blue for a ping.
    let color = match m.kind {
        MessageKind::Resolved if withdrawn(d) => 0x757575,
        MessageKind::Resolved => 0x2e7d32,
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
        embed["fields"] = json!([
            {"name": "Severity", "value": text(d, "severity"), "inline": true},
            {"name": "Peak", "value": format!("{} reports/min", text(d, "peak")), "inline": true},
            {"name": "Reports", "value": text(d, "total"), "inline": true},
            {"name": "Networks", "value": networks(d), "inline": true},
            {"name": "Most reported", "value": non_empty(shares(d, "top_categories")), "inline": false},
            {"name": "Error codes", "value": non_empty(shares(d, "top_error_codes")), "inline": false},
        ]);
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

/// PagerDuty Events API v2: `trigger` on open and on each wave (updates the
/// same incident), `resolve` on resolution, one `dedup_key` per event.
fn pagerduty(m: &Message<'_>) -> Value {
    let d = m.data;
    let dedup_key = match m.kind {
        MessageKind::Ping => format!("downwave-ping-{}", m.timestamp),
        _ => format!("downwave-event-{}", text(d, "id")),
    };
    if m.kind == MessageKind::Resolved {
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
            "timestamp": if m.kind == MessageKind::Ping { m.timestamp.to_owned() } else { text(d, "started_at") },
            "component": text(d, "service"),
            "group": "outage",
            "class": m.kind.as_str(),
            "custom_details": d,
        },
    });
    if m.kind != MessageKind::Ping {
        body["client_url"] = d["url"].clone();
        body["links"] = json!([{"href": d["url"], "text": "Event on downwave"}]);
    }
    body
}

/// The fingerprint Alertmanager receivers group by: stable per event.
pub fn fingerprint(event_id: &str) -> String {
    let digest = Sha256::digest(format!("downwave:{event_id}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Alertmanager's webhook payload, version 4: `firing` then `resolved`.
fn alertmanager(m: &Message<'_>) -> Value {
    let d = m.data;
    let resolved = m.kind == MessageKind::Resolved;
    let status = if resolved { "resolved" } else { "firing" };
    let id = if m.kind == MessageKind::Ping {
        "ping".to_owned()
    } else {
        text(d, "id")
    };
    let labels = json!({
        "alertname": if m.kind == MessageKind::Ping { "DownwaveTest" } else { "DownwaveOutage" },
        "service": text(d, "service"),
        "severity": text(d, "severity"),
        "event_id": id,
    });
    let annotations = json!({
        "summary": headline(m),
        "description": format!(
            "Most reported: {}. Error codes: {}. Networks: {}.",
            non_empty(shares(d, "top_categories")),
            non_empty(shares(d, "top_error_codes")),
            networks(d)
        ),
        "dashboard": d["url"],
        "networks": d["networks"].as_i64().map_or_else(String::new, |n| n.to_string()),
    });
    let ends_at = if resolved {
        text(d, "resolved_at")
    } else {
        "0001-01-01T00:00:00Z".to_owned()
    };
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"DownwaveOutage\", event_id=\"{id}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "downwave",
        "groupLabels": {"alertname": labels["alertname"], "event_id": id},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": d["url"],
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": if m.kind == MessageKind::Ping { m.timestamp.to_owned() } else { text(d, "started_at") },
            "endsAt": ends_at,
            "generatorURL": d["url"],
            "fingerprint": fingerprint(&id),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({
            "id": 7, "service": "cla<u>de & co", "status": "open", "severity": "critical",
            "started_at": "2026-03-02T11:49:00Z", "resolved_at": null, "peak": 183.0,
            "total": 11110, "duration_minutes": 200, "waves": [{}, {}],
            "top_categories": [{"value": "login", "count": 5, "percent": 52.7}],
            "top_error_codes": [{"value": "529", "count": 3, "percent": 43.8}],
            "url": "http://downwave.example/e/7",
            "networks": 312, "top_network_share": 0.04, "concentrated": false
        })
    }

    fn render_as(format: &str, m: &Message<'_>) -> Value {
        render(format.parse().unwrap_or_else(|e| panic!("{e}")), m)
    }

    fn msg<'a>(kind: &str, data: &'a Value) -> Message<'a> {
        Message {
            kind: kind.parse().unwrap_or_else(|e| panic!("{e}")),
            data,
            timestamp: "2026-03-02T11:50:00Z",
            routing_key: Some("R0UT1NG"),
        }
    }

    #[test]
    fn a_withdrawn_event_is_not_announced_as_an_outage_that_ended() {
        let mut e = event();
        e["resolved_at"] = json!("2026-03-02T15:14:00Z");
        let ended = headline(&msg("outage.resolved", &e));
        assert!(ended.starts_with("Resolved: "), "{ended}");
        e["withdrawn"] = json!(true);
        let taken_back = headline(&msg("outage.resolved", &e));
        assert_eq!(
            taken_back,
            "Withdrawn: cla<u>de & co, imported history shows no outage from 2026-03-02T11:49:00Z"
        );
        let slack = render_as("slack", &msg("outage.resolved", &e));
        assert!(slack["text"].as_str().unwrap().starts_with("Withdrawn: "));
        let discord = render_as("discord", &msg("outage.resolved", &e));
        assert_eq!(discord["embeds"][0]["color"], 0x757575);
        // PagerDuty and Alertmanager close the incident all the same.
        assert_eq!(
            render_as("pagerduty", &msg("outage.resolved", &e))["event_action"],
            "resolve"
        );
        assert_eq!(
            render_as("alertmanager", &msg("outage.resolved", &e))["status"],
            "resolved"
        );
        let generic = render_as("generic", &msg("outage.resolved", &e));
        assert_eq!(generic["data"]["withdrawn"], true);
    }

    #[test]
    fn pagerduty_triggers_then_resolves_the_same_incident() {
        let e = event();
        let open = render_as("pagerduty", &msg("outage.opened", &e));
        let done = render_as("pagerduty", &msg("outage.resolved", &e));
        assert_eq!(open["event_action"], "trigger");
        assert_eq!(done["event_action"], "resolve");
        assert_eq!(open["dedup_key"], done["dedup_key"]);
        assert_eq!(open["routing_key"], "R0UT1NG");
        assert_eq!(open["payload"]["severity"], "critical");
    }

    #[test]
    fn alertmanager_fires_then_resolves_with_one_fingerprint() {
        let mut e = event();
        let firing = render_as("alertmanager", &msg("outage.opened", &e));
        e["resolved_at"] = json!("2026-03-02T15:14:00Z");
        let resolved = render_as("alertmanager", &msg("outage.resolved", &e));
        assert_eq!(firing["version"], "4");
        assert_eq!(firing["status"], "firing");
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(
            firing["alerts"][0]["fingerprint"],
            resolved["alerts"][0]["fingerprint"]
        );
        assert_eq!(resolved["alerts"][0]["endsAt"], "2026-03-02T15:14:00Z");
    }

    #[test]
    fn slack_escapes_markup_and_discord_mentions_nobody() {
        let e = event();
        let s = render_as("slack", &msg("outage.opened", &e));
        // Everything Slack reads as mrkdwn is escaped; the header is plain text.
        assert!(
            s["text"]
                .as_str()
                .unwrap()
                .contains("cla&lt;u&gt;de &amp; co"),
            "{s}"
        );
        for block in s["blocks"].as_array().unwrap() {
            if block["type"] != "header" {
                assert!(!block.to_string().contains("cla<u>de"), "{block}");
            }
        }
        assert_eq!(s["blocks"][0]["text"]["type"], "plain_text");
        let d = render_as("discord", &msg("outage.opened", &e));
        assert_eq!(d["allowed_mentions"]["parse"], json!([]));
        assert_eq!(d["embeds"][0]["url"], "http://downwave.example/e/7");
    }

    #[test]
    fn every_format_says_how_many_networks_reported() {
        let e = event();
        let said = "312 (one /16 or /32 at most 4% of the excess)";
        let slack = render_as("slack", &msg("outage.opened", &e));
        assert!(slack["blocks"][1].to_string().contains(said), "{slack}");
        let discord = render_as("discord", &msg("outage.opened", &e));
        let field = discord["embeds"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "Networks")
            .cloned();
        assert_eq!(field.map(|f| f["value"].clone()), Some(json!(said)));
        let pd = render_as("pagerduty", &msg("outage.opened", &e));
        assert_eq!(pd["payload"]["custom_details"]["networks"], 312);
        assert_eq!(pd["payload"]["custom_details"]["concentrated"], false);
        let am = render_as("alertmanager", &msg("outage.opened", &e));
        assert_eq!(am["alerts"][0]["annotations"]["networks"], "312");
        assert!(am["commonAnnotations"]["description"]
            .as_str()
            .unwrap()
            .contains(said));
        let generic = render_as("generic", &msg("outage.opened", &e));
        assert_eq!(generic["data"]["networks"], 312);
        assert_eq!(generic["data"]["top_network_share"], 0.04);
        // An event from before networks were recorded says so.
        let mut old = event();
        old["networks"] = Value::Null;
        old["top_network_share"] = Value::Null;
        let slack = render_as("slack", &msg("outage.opened", &old));
        assert!(slack["blocks"][1].to_string().contains("not recorded"));
        // Imported history has none.
        let mut imported = event();
        imported["networks"] = json!(0);
        imported["top_network_share"] = json!(0.0);
        let slack = render_as("slack", &msg("outage.opened", &imported));
        assert!(slack["blocks"][1]
            .to_string()
            .contains("none with an address"));
    }

    #[test]
    fn generic_is_standard_webhooks_shaped() {
        let e = event();
        let g = render_as("generic", &msg("outage.wave", &e));
        assert_eq!(g["type"], "outage.wave");
        assert_eq!(g["data"]["id"], 7);
        assert!(g["timestamp"].is_string());
    }
}
