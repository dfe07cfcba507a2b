//! The formats, checked on an outage and on an incident.

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
