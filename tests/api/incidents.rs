//! Incidents across services, live: part of the aws-outage scenario (seed 0)
//! played into the real server minute by minute, the incident pass run by
//! the monitor, and its conclusions read through the incidents and events
//! APIs, before and after a restart; and what subscriptions of each alert
//! policy are told of it, at a real receiver, until every outage has ended.

mod page;
mod whole;

use crate::announcements::kinds_at;
use crate::helpers::*;
use crate::receiver::{eventually, Receiver};
use chrono::{TimeZone, Utc};
use downwave::clock::ManualClock;
use downwave::sim::aws_outage::{aws_outage, Role, SimService, AWS_OUTAGE};
use downwave::sim::replay::{import_bodies, import_jsonl};
use serde_json::{json, Value};
use std::sync::Arc;

/// The history goes in at once up to this long before the provider's
/// outage; the minutes after, one at a time.
const LIVE_BEFORE_SECS: i64 = 10 * 60;
/// How long after the provider's outage the test plays: past `solo`'s own
/// outage, which begins 36 minutes after it in seed 0.
const LIVE_AFTER_SECS: i64 = 50 * 60;

fn reports(s: &SimService) -> u64 {
    s.series.background.iter().chain(&s.series.outage).sum()
}

/// The provider, the two smallest declared and undeclared dependents, one
/// bystander and `solo` (the others are left out to keep the import short:
/// a bystander is a large service, a week of it 20 seconds in a debug build).
fn subset() -> Vec<SimService> {
    let all = aws_outage(0).services;
    let smallest = |declared: bool| {
        let mut deps: Vec<&SimService> = all
            .iter()
            .filter(|s| s.role == Role::Dependent { declared })
            .collect();
        deps.sort_by_key(|s| reports(s));
        deps.into_iter().take(2).cloned().collect::<Vec<_>>()
    };
    let mut out = vec![all[0].clone()];
    out.extend(smallest(true));
    out.extend(smallest(false));
    // The bystander whose rise is the largest share of the provider's
    // peak: the likeliest to open an outage.
    let peak = |s: &SimService| s.series.outage.iter().copied().max().unwrap_or(0);
    out.extend(
        all.iter()
            .filter(|s| s.role == Role::Bystander)
            .max_by_key(|s| peak(s) * 1000 / reports(s).max(1))
            .cloned(),
    );
    out.extend(all.iter().filter(|s| s.role == Role::Independent).cloned());
    out
}

/// A client that opens a connection per request. Making the next
/// service's week of import lines takes seconds in a debug build (more
/// under a loaded machine), longer than the server keeps an idle connection
/// open (`keep_alive_secs`): a pooled connection could be closed under a
/// request being sent.
fn fresh_connections() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Creates the services with their declared providers and plays their
/// reports: the history at once, then minute by minute until `end`, each
/// minute imported before the clock passes it.
async fn play(app: &TestApp, services: &[SimService], end: i64) {
    // The services are made at the time their history ends: made earlier,
    // a detector that noticed one before its history arrived would walk
    // the quiet hours between as the service's own (and rightly so), and
    // the test would depend on whether it had.
    let live = AWS_OUTAGE - LIVE_BEFORE_SECS;
    app.clock.set(Utc.timestamp_opt(live, 0).unwrap());
    for s in services {
        let r = app
            .client
            .post(app.url("/api/v1/services"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"slug": s.slug, "name": s.name, "depends_on": s.depends_on}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "creating {}", s.slug);
    }
    for s in services {
        // Bodies well under the ingest queue (65,536 reports) each.
        for body in import_bodies(&s.series.between(i64::MIN, live), 4 << 20) {
            let r = app.import(body).await;
            assert_eq!(r.status().as_u16(), 200, "history of {}", s.slug);
        }
    }
    play_minutes(app, services, live, end).await;
}

/// Imports each minute of `[from, to)` and moves the clock past it.
async fn play_minutes(app: &TestApp, services: &[SimService], from: i64, to: i64) {
    let mut minute = from;
    while minute < to {
        app.clock.set(Utc.timestamp_opt(minute, 0).unwrap());
        let lines: String = services
            .iter()
            .map(|s| import_jsonl(&s.series.between(minute, minute + 60)))
            .collect();
        if !lines.is_empty() {
            assert_eq!(app.import(lines).await.status().as_u16(), 200);
        }
        minute += 60;
    }
    app.clock.set(Utc.timestamp_opt(to + 5, 0).unwrap());
    app.monitor.catch_up().await.unwrap();
}

/// Events by the slug of their service.
type ByService = std::collections::HashMap<String, Vec<Value>>;

fn timestamp(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp()
}

/// Each service's events, by slug (the newest first).
async fn events_by_service(app: &TestApp) -> ByService {
    let mut out = ByService::default();
    for e in app.events("?limit=500").await {
        out.entry(e["service"].as_str().unwrap().to_owned())
            .or_default()
            .push(e);
    }
    out
}

/// The event of `slug` that began in the scenario's hour.
fn outage_of<'a>(events: &'a ByService, slug: &str) -> &'a Value {
    let hour = (AWS_OUTAGE - 3600)..(AWS_OUTAGE + 3600);
    events
        .get(slug)
        .and_then(|es| {
            es.iter().find(|e| {
                let at = chrono::DateTime::parse_from_rfc3339(e["started_at"].as_str().unwrap());
                hour.contains(&at.unwrap().timestamp())
            })
        })
        .unwrap_or_else(|| panic!("{slug} opened no outage in the hour: {events:?}"))
}

#[tokio::test]
async fn a_provider_outage_becomes_one_incident_that_survives_a_restart() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let clock = Arc::new(ManualClock::new(
        Utc.timestamp_opt(AWS_OUTAGE - 86_400, 0).unwrap(),
    ));
    let mut settings = test_settings(&dir);
    settings.webhook_allow_private = true;
    // This subset's dependents are the smallest and slowest: the incident
    // forms 5 minutes after the provider's outage is detected (with all 40
    // dependents, within 2). A hold past that keeps the provider's outage
    // from paging on its own before the incident forms.
    settings.alert_hold_minutes = 8;
    let mut app = spawn_on(settings, dir, clock).await;
    app.client = fresh_connections();
    let rx = Receiver::start().await;
    subscribe_each_policy(&app, &rx).await;
    let services = subset();
    let end = AWS_OUTAGE + LIVE_AFTER_SECS;
    play(&app, &services, end).await;

    let events = events_by_service(&app).await;
    let aws = outage_of(&events, "aws");
    let aws_event = aws["id"].as_i64().unwrap();
    assert_eq!(aws["attribution"]["kind"], "epicentre", "{aws}");
    assert_eq!(aws["attribution"]["cause"]["event_id"], aws_event);
    let incident = aws["incident"]
        .as_i64()
        .expect("aws's outage is in an incident");

    check_dependents(&events, &services, incident, aws_event);
    // The monitor runs the pass every minute: the incident formed at the
    // first pass after three of these outages (`incident_min_outages`), or
    // aws's and a declared dependent's, had been detected.
    let detected = |e: &Value| timestamp(&e["detected_at"]);
    let mut timing: Vec<i64> = services
        .iter()
        .filter(|s| s.role != Role::Independent && s.role != Role::Bystander)
        .map(|s| detected(outage_of(&events, &s.slug)))
        .collect();
    timing.sort();
    let declared = services
        .iter()
        .filter(|s| !s.depends_on.is_empty())
        .map(|s| detected(outage_of(&events, &s.slug)).max(detected(aws)))
        .min()
        .unwrap();
    let (_, detail) = app.get_json(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        timestamp(&detail["opened_at"]),
        timing[2].min(declared),
        "{detail}"
    );
    // The bystander's small rise after aws is spillover from it.
    let bystander = services.iter().find(|s| s.role == Role::Bystander).unwrap();
    let b = outage_of(&events, &bystander.slug);
    assert_eq!(b["attribution"]["kind"], "spillover", "{b}");
    assert_eq!(b["attribution"]["cause"]["event_id"], aws_event);
    assert_eq!(b["incident"], incident);
    check_pages(&app, &services, &events, aws_event).await;
    page::check_incident_page(&app, incident, &services, &events).await;
    // solo's own outage is never attributed to aws, at any pass.
    let solo = outage_of(&events, "solo");
    let solo_event = solo["id"].as_i64().unwrap();
    assert_eq!(solo["attribution"]["kind"], "independent", "{solo}");
    assert_ne!(solo["incident"], incident);
    let changes: Vec<String> = app
        .db()
        .query_map(
            "SELECT detail FROM attribution_changes WHERE event_id = ?1",
            downwave::params![solo_event],
            |r| r.get(0),
        )
        .unwrap();
    let solo_to_aws = changes
        .iter()
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
        .filter(|d| d["to"]["cause_event_id"] == aws_event)
        .count();
    assert_eq!(solo_to_aws, 0);
    // GET /api/v1/events/{id} carries the same.
    let (status, one) = app.get_json(&format!("/api/v1/events/{solo_event}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["attribution"], solo["attribution"]);

    check_incident_api(&app, incident, aws_event, &events).await;
    check_pages_while_open(&rx, &events, incident).await;

    // A restart continues with the same incident.
    let (settings, dir, clock) = app.stop().await;
    let mut app = spawn_on(settings, dir, clock).await;
    app.client = fresh_connections();
    play_minutes(&app, &services, end, end + 3 * 60).await;
    let (_, open) = app.get_json("/api/v1/incidents?status=open").await;
    let ids: Vec<&Value> = open["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, [&json!(incident)], "{open}");
    let (_, detail) = app.get_json(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["cause"]["event_id"], aws_event);

    // Until every outage has ended (the provider's decays over about three
    // hours), a quarter of an hour at a time.
    let (settings, dir, clock) = app.stop().await;
    let until = (end + 3 * 60, AWS_OUTAGE + LIVE_UNTIL_ENDED_SECS);
    let app = play_quarters(settings, dir, clock, &services, until).await;
    let (_, detail) = app.get_json(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["status"], "resolved", "{detail}");
    check_every_opening_resolved(&app, &rx, incident).await;
    app.stop().await;
}

/// Where the test ends: every outage of the scenario has ended by then.
const LIVE_UNTIL_ENDED_SECS: i64 = 4 * 3600;

/// Starts the server again and plays `[from, to)`, a quarter of an hour at
/// a time: each quarter imported with the
/// clock at its end. The server waits longer than a quarter before it
/// closes a minute (`detector_grace`), so no minute is closed before its
/// reports are in.
async fn play_quarters(
    mut settings: downwave::config::Settings,
    dir: Arc<tempfile::TempDir>,
    clock: Arc<ManualClock>,
    services: &[SimService],
    (from, to): (i64, i64),
) -> TestApp {
    const QUARTER: i64 = 15 * 60;
    settings.detector_grace = std::time::Duration::from_secs(QUARTER as u64 + 60);
    let mut app = spawn_on(settings, dir, clock).await;
    app.client = fresh_connections();
    let mut start = from;
    while start < to {
        let end = (start + QUARTER).min(to);
        app.clock.set(Utc.timestamp_opt(end, 0).unwrap());
        let lines: String = services
            .iter()
            .map(|s| import_jsonl(&s.series.between(start, end)))
            .collect();
        // Past the scenario's end, the minutes are quiet.
        if !lines.is_empty() {
            assert_eq!(app.import(lines).await.status().as_u16(), 200);
        }
        start = end;
    }
    app.clock
        .set(Utc.timestamp_opt(to + QUARTER + 65, 0).unwrap());
    app.monitor.catch_up().await.unwrap();
    app
}

/// Three generic subscriptions, one per alert policy, each at the
/// receiver's path of its policy's name; and the refusal of a policy that
/// does not exist.
async fn subscribe_each_policy(app: &TestApp, rx: &Receiver) {
    for policy in ["outages", "causes", "incidents"] {
        let (id, _) = app
            .subscribe(
                json!({"url": format!("{}/{policy}", rx.url), "format": "generic",
                              "alerts": policy}),
            )
            .await;
        let (_, w) = app
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/webhooks/{id}"),
                None,
            )
            .await;
        assert_eq!(w["alerts"], policy);
    }
    let bad = json!({"url": format!("{}/x", rx.url), "format": "generic", "alerts": "some"});
    let (status, body) = app
        .admin(reqwest::Method::POST, "/api/v1/webhooks", Some(bad))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_alerts"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("outages, causes, incidents")),
        "{body}"
    );
}

/// The event ids of the messages of `kind` a receiver path got.
fn event_ids(rx: &Receiver, path: &str, kind: &str) -> Vec<i64> {
    rx.received_at(path)
        .iter()
        .filter(|r| r.body["type"] == kind)
        .map(|r| r.body["data"]["id"].as_i64().unwrap())
        .collect()
}

/// While the incident is open, each policy pages as it says: `outages` for
/// every outage, `causes` for aws and solo only, `incidents` once for the
/// incident and once for solo, which is in none.
async fn check_pages_while_open(rx: &Receiver, events: &ByService, incident: i64) {
    let id = |slug: &str| outage_of(events, slug)["id"].as_i64().unwrap();
    let mut every: Vec<i64> = events.keys().map(|slug| id(slug)).collect();
    every.sort();
    eventually("every outage at /outages", || {
        event_ids(rx, "/outages", "outage.opened").len() >= every.len()
    })
    .await;
    eventually("solo at /incidents", || {
        event_ids(rx, "/incidents", "outage.opened").contains(&id("solo"))
    })
    .await;
    // What is still queued has had its chance: nothing more is due.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut told = event_ids(rx, "/outages", "outage.opened");
    told.sort();
    assert_eq!(told, every, "every outage, once each");
    let mut causes = event_ids(rx, "/causes", "outage.opened");
    causes.sort();
    let mut expected = vec![id("aws"), id("solo")];
    expected.sort();
    assert_eq!(causes, expected, "the cause and the outage of its own");
    assert!(kinds_at(rx, "/causes")
        .iter()
        .all(|k| k.starts_with("outage.")));
    // One page for the incident instead of one per service.
    assert_eq!(event_ids(rx, "/incidents", "incident.opened"), [incident]);
    assert_eq!(event_ids(rx, "/incidents", "outage.opened"), [id("solo")]);
    let opened = &rx
        .received_at("/incidents")
        .into_iter()
        .find(|r| r.body["type"] == "incident.opened")
        .unwrap()
        .body["data"];
    assert_eq!(opened["cause"]["service"], "aws", "{opened}");
    assert!(opened["url"]
        .as_str()
        .is_some_and(|u| u.ends_with(&format!("/i/{incident}"))));
    let latest = rx
        .received_at("/incidents")
        .into_iter()
        .rev()
        .find(|r| {
            r.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("incident."))
        })
        .unwrap()
        .body;
    let mut listed: Vec<&str> = latest["data"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut others: Vec<&str> = events
        .keys()
        .map(String::as_str)
        .filter(|s| !["aws", "solo"].contains(s))
        .collect();
    others.sort();
    assert_eq!(listed, others, "the growing list, complete: {latest}");
}

/// Once everything has ended, every opening each subscription was told of
/// has its resolution, after it, and no message came twice.
async fn check_every_opening_resolved(app: &TestApp, rx: &Receiver, incident: i64) {
    let events = app.events("?limit=500").await;
    let open: Vec<&Value> = events.iter().filter(|e| e["status"] == "open").collect();
    assert!(open.is_empty(), "every outage has ended: {open:?}");
    for path in ["/outages", "/causes", "/incidents"] {
        let opened = event_ids(rx, path, "outage.opened");
        eventually(&format!("the resolutions at {path}"), || {
            let resolved = event_ids(rx, path, "outage.resolved");
            opened.iter().all(|id| resolved.contains(id))
        })
        .await;
        let ids: Vec<String> = rx.received_at(path).iter().map(|r| r.id.clone()).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{path}: no message twice");
    }
    eventually("the incident's resolution", || {
        event_ids(rx, "/incidents", "incident.resolved") == [incident]
    })
    .await;
    let kinds = kinds_at(rx, "/incidents");
    let incident_kinds: Vec<&String> = kinds
        .iter()
        .filter(|k| k.starts_with("incident."))
        .collect();
    assert_eq!(
        incident_kinds.first().map(|k| k.as_str()),
        Some("incident.opened")
    );
    assert_eq!(
        incident_kinds.last().map(|k| k.as_str()),
        Some("incident.resolved")
    );
    assert!(
        incident_kinds[1..incident_kinds.len() - 1]
            .iter()
            .all(|k| *k == "incident.updated"),
        "{kinds:?}"
    );
}

/// Every dependent opened an outage, and each is in the incident,
/// attributed to aws: upstream when it declared aws, by timing when it did
/// not.
fn check_dependents(events: &ByService, services: &[SimService], incident: i64, aws_event: i64) {
    let mut dependents = 0;
    for s in services
        .iter()
        .filter(|s| matches!(s.role, Role::Dependent { .. }))
    {
        let e = outage_of(events, &s.slug);
        dependents += 1;
        assert_eq!(e["incident"], incident, "{}: {e}", s.slug);
        assert_eq!(
            e["attribution"]["cause"]["event_id"], aws_event,
            "{}",
            s.slug
        );
        assert_eq!(e["attribution"]["cause"]["service"], "aws");
        let kind = if s.depends_on.is_empty() {
            "epicentre"
        } else {
            "upstream"
        };
        assert_eq!(e["attribution"]["kind"], kind, "{}: {e}", s.slug);
        let confidence = e["attribution"]["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence) && confidence > 0.5, "{e}");
        assert!(e["attribution"]["evidence"]
            .as_str()
            .is_some_and(|t| t.contains("AWS")));
    }
    assert_eq!(dependents, 4);
}

/// The incidents API: the list (open first; `?status=`), one incident with
/// its outages and its history, and the refusals.
async fn check_incident_api(app: &TestApp, incident: i64, aws_event: i64, events: &ByService) {
    let (status, list) = app.get_json("/api/v1/incidents").await;
    assert_eq!(status, 200);
    let list = list["incidents"].as_array().unwrap().clone();
    let open: Vec<&Value> = list.iter().filter(|i| i["status"] == "open").collect();
    assert_eq!(open.len(), 1, "one open incident: {list:?}");
    assert_eq!(list[0]["id"], incident, "open first");
    assert_eq!(
        list[0]["cause"],
        json!({"event_id": aws_event, "service": "aws"})
    );
    assert_eq!(
        list[0]["outage_count"], 6,
        "aws, 4 dependents, the bystander"
    );
    assert!(list[0]["resolved_at"].is_null());
    let (_, only_open) = app.get_json("/api/v1/incidents?status=open").await;
    assert_eq!(only_open["incidents"].as_array().unwrap().len(), 1);

    let (status, detail) = app.get_json(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["id"], incident);
    let outages = detail["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 6, "{detail}");
    assert_eq!(outages[0]["service"], "aws", "in the order they began");
    for o in outages {
        let slug = o["service"].as_str().unwrap();
        let e = outage_of(events, slug);
        assert_eq!(o["event_id"], e["id"]);
        assert_eq!(o["kind"], e["attribution"]["kind"]);
        assert_eq!(o["cause"]["event_id"], aws_event);
        for field in ["confidence", "evidence", "started_at"] {
            assert!(!o[field].is_null(), "{field}: {o}");
        }
    }
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history[0]["change"], "incident_opened", "{history:?}");
    assert!(history.iter().any(|c| c["change"] == "outage_joined"));
    assert!(history
        .iter()
        .all(|c| c["at"].as_str().is_some_and(|t| t.ends_with('Z'))));

    assert_error(
        app.get("/api/v1/incidents/999999").await,
        404,
        "unknown_incident",
    )
    .await;
    assert_error(
        app.get("/api/v1/incidents?status=maybe").await,
        422,
        "invalid_status",
    )
    .await;
}

/// The page of each service whose outage is still open names the cause: a
/// dependent's outage is likely caused by AWS's, the bystander's rise is
/// likely spillover from it, and solo's names no cause.
async fn check_pages(app: &TestApp, services: &[SimService], events: &ByService, aws_event: i64) {
    let link = format!("<a href=\"/e/{aws_event}\">");
    let mut named = 0;
    for s in services.iter().filter(|s| s.slug != "aws") {
        let e = outage_of(events, &s.slug);
        let page = app
            .get(&format!("/s/{}", s.slug))
            .await
            .text()
            .await
            .unwrap();
        let sentence = match s.role {
            Role::Independent => {
                assert!(!page.contains("notice-cause"), "solo names no cause");
                continue;
            }
            Role::Bystander => "is likely spillover from the ",
            _ => "are likely caused by the ",
        };
        if e["status"] != "open" {
            continue;
        }
        let at = page
            .find(sentence)
            .unwrap_or_else(|| panic!("{}: no cause named", s.slug));
        assert!(
            page[at..].starts_with(&format!("{sentence}{link}")),
            "{}",
            &page[at..at + 200]
        );
        assert!(page[at..].contains("outage</a> that began "), "{}", s.slug);
        named += 1;
    }
    assert!(
        named >= 2,
        "at least two open outages named their cause ({named})"
    );
    let aws = app.get("/s/aws").await.text().await.unwrap();
    assert!(!aws.contains("notice-cause"), "the cause names no cause");
    // The home page leads with the incident and lists whom it affects.
    let home = app.get("/").await.text().await.unwrap();
    let lead = home
        .find("class=\"incident\"")
        .expect("the home page leads with the incident");
    let list = home.find("id=\"service-list\"").unwrap();
    assert!(lead < list, "above the services");
    let incident = outage_of(events, "aws")["incident"].clone();
    let heading =
        format!("<a href=\"/i/{incident}\">AWS outage: 5 other services affected</a></h2>");
    assert!(home[lead..list].contains(&heading), "{}", &home[lead..list]);
    assert!(home[lead..list].contains(&format!("Likely cause: the {link}AWS outage</a>")));
    for s in services
        .iter()
        .filter(|s| s.role != Role::Independent && s.slug != "aws")
    {
        let item = format!("<li><a href=\"/s/{}\">", s.slug);
        assert!(home[lead..list].contains(&item), "{}", s.slug);
    }
    assert!(!home[lead..list].contains("/s/solo\""), "solo is not in it");
}
