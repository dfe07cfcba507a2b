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

    /// An incident as its messages carry it: AWS and 12 other services.
    fn incident() -> Value {
        let services: Vec<Value> = (1..=12)
            .map(|i| {
                json!({"service": format!("dep{i}"), "name": format!("Dep <{i}>"),
                       "event_id": 100 + i, "kind": "upstream", "status": "open",
                       "severity": "major", "started_at": "2025-10-20T06:53:00Z",
                       "url": format!("http://downwave.example/e/{}", 100 + i)})
            })
            .collect();
        json!({
            "id": 3, "status": "open", "withdrawn": false, "severity": "critical",
            "cause": {"service": "aws", "name": "AWS", "event_id": 100,
                      "url": "http://downwave.example/e/100"},
            "began_at": "2025-10-20T06:49:00Z", "opened_at": "2025-10-20T06:52:00Z",
            "resolved_at": null, "duration_minutes": null, "outage_count": 13,
            "revision": 12, "services": services, "url": "http://downwave.example/i/3"
        })
    }

    #[test]
    fn an_incident_is_one_alert_from_opening_to_resolution_in_every_format() {
        let mut i = incident();
        let opened = msg("incident.opened", &i);
        assert_eq!(
            headline(&opened),
            "Incident: AWS outage, 12 other services affected"
        );
        assert_eq!(
            headline(&msg("incident.updated", &i)),
            "AWS outage now affects 12 other services"
        );
        assert_eq!(
            affected(&i),
            "Dep <1>, Dep <2>, Dep <3>, Dep <4>, Dep <5>, Dep <6>, Dep <7>, Dep <8>, \
             Dep <9>, Dep <10> and 2 more"
        );
        let pd = [
            render_as("pagerduty", &msg("incident.opened", &i)),
            render_as("pagerduty", &msg("incident.updated", &i)),
        ];
        let am = [
            render_as("alertmanager", &msg("incident.opened", &i)),
            render_as("alertmanager", &msg("incident.updated", &i)),
        ];
        i["status"] = json!("resolved");
        i["resolved_at"] = json!("2025-10-20T09:49:00Z");
        i["duration_minutes"] = json!(180);
        let ended = msg("incident.resolved", &i);
        assert_eq!(
            headline(&ended),
            "Resolved: AWS outage after 180 minutes, 12 other services affected"
        );
        // PagerDuty: one incident, triggered, updated, resolved; its key is
        // not any outage's.
        let pd_end = render_as("pagerduty", &ended);
        assert_eq!(
            pd.iter().map(|p| &p["event_action"]).collect::<Vec<_>>(),
            ["trigger", "trigger"]
        );
        assert_eq!(pd_end["event_action"], "resolve");
        for p in &pd {
            assert_eq!(p["dedup_key"], "downwave-incident-3");
            assert_eq!(p["payload"]["component"], "aws");
            assert_eq!(p["payload"]["group"], "incident");
            assert_eq!(p["payload"]["timestamp"], "2025-10-20T06:49:00Z");
        }
        assert_eq!(pd_end["dedup_key"], "downwave-incident-3");
        // Alertmanager: one alert by its incident id, firing then resolved.
        let am_end = render_as("alertmanager", &ended);
        for a in am.iter().chain([&am_end]) {
            assert_eq!(a["alerts"][0]["labels"]["alertname"], "DownwaveIncident");
            assert_eq!(a["alerts"][0]["labels"]["incident_id"], "3");
            assert_eq!(a["alerts"][0]["labels"]["service"], "aws");
            assert_eq!(
                a["alerts"][0]["fingerprint"],
                fingerprint("incident-3"),
                "{a}"
            );
        }
        assert_ne!(fingerprint("incident-3"), fingerprint("3"), "not event 3's");
        assert_eq!(am[0]["status"], "firing");
        assert_eq!(am_end["status"], "resolved");
        assert_eq!(am_end["alerts"][0]["endsAt"], "2025-10-20T09:49:00Z");
        // Slack and Discord: the cause, the count, the names (escaped).
        let slack = render_as("slack", &msg("incident.opened", &i));
        let body = slack.to_string();
        assert!(body.contains("*Cause*\\nAWS"), "{body}");
        assert!(body.contains("*Services affected*\\n13"), "{body}");
        assert!(
            body.contains("Dep &lt;1&gt;") && !body.contains("Dep <1>"),
            "{body}"
        );
        assert!(body.contains("incident 3"), "{body}");
        let discord = render_as("discord", &ended);
        assert_eq!(discord["embeds"][0]["color"], 0x2e7d32);
        assert_eq!(discord["embeds"][0]["url"], "http://downwave.example/i/3");
        let names: Vec<&Value> = discord["embeds"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["name"])
            .collect();
        assert_eq!(
            names,
            [
                "Severity",
                "Began",
                "Cause",
                "Services affected",
                "Also affected"
            ]
        );
        let generic = render_as("generic", &ended);
        assert_eq!(generic["type"], "incident.resolved");
        assert_eq!(generic["data"]["services"].as_array().unwrap().len(), 12);
        // A withdrawn incident says so.
        i["withdrawn"] = json!(true);
        let taken_back = msg("incident.resolved", &i);
        assert!(headline(&taken_back).starts_with("Withdrawn: the AWS outage incident"));
        assert_eq!(
            render_as("discord", &taken_back)["embeds"][0]["color"],
            0x757575
        );
        assert_eq!(
            render_as("pagerduty", &taken_back)["event_action"],
            "resolve"
        );
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
