//! The whole aws-outage of seed 0 (the provider, its 40 dependents, 5
//! bystanders and solo), with six hours of history, played into the real
//! server with a subscription of each alert policy at a real receiver: the
//! one told of incidents is paged once for the incident where the one told
//! of every outage is paged once per service, the one told of causes only
//! for the provider and solo, and each is told the end of everything it was
//! told began.

use super::*;
use std::collections::BTreeSet;

/// History before the provider's outage: the detector needs an hour.
const HISTORY_MINUTES: i64 = 6 * 60;
/// Minute by minute this long after the provider's outage began (every
/// dependent spikes within 8 minutes of it); a quarter of an hour at a time
/// after that.
const MINUTE_BY_MINUTE_SECS: i64 = 20 * 60;
/// Where the test ends: the scenario's five hours after the provider's
/// outage began (the largest dependents are still above normal at four),
/// and half an hour of quiet after them, in which every outage ends.
const PLAYED_SECS: i64 = 5 * 3600 + 30 * 60;

#[tokio::test]
async fn one_page_for_the_incident_instead_of_one_per_service() {
    let services = aws_outage(0).with_history(HISTORY_MINUTES).services;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let clock = Arc::new(ManualClock::new(
        Utc.timestamp_opt(AWS_OUTAGE - 86_400, 0).unwrap(),
    ));
    let mut settings = test_settings(&dir);
    settings.webhook_allow_private = true;
    let mut app = spawn_on(settings, dir, clock).await;
    app.client = fresh_connections();
    let rx = Receiver::start().await;
    subscribe_each_policy(&app, &rx).await;
    let end = AWS_OUTAGE + MINUTE_BY_MINUTE_SECS;
    play(&app, &services, end).await;
    let (settings, dir, clock) = app.stop().await;
    let until = (end, AWS_OUTAGE + PLAYED_SECS);
    let app = play_quarters(settings, dir, clock, &services, until).await;

    let (_, list) = app.get_json("/api/v1/incidents").await;
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list}");
    assert_eq!(incidents[0]["cause"]["service"], "aws", "{list}");
    let id = incidents[0]["id"].as_i64().unwrap();
    let events = app.events("?limit=500").await;
    let in_incident: BTreeSet<i64> = ids(events.iter().filter(|e| e["incident"] == id));
    let dependents = events
        .iter()
        .filter(|e| e["incident"] == id && e["service"].as_str().unwrap().starts_with("dep-"))
        .count();
    assert_eq!(dependents, 40, "every dependent is in the incident");
    let on_their_own = ids(events.iter().filter(|e| e["incident"].is_null()));
    assert!(!on_their_own.is_empty(), "solo's outage is its own");
    let aws = ids(events.iter().filter(|e| e["service"] == "aws"));

    eventually("every outage at /outages", || {
        event_ids(&rx, "/outages", "outage.opened").len() >= events.len()
    })
    .await;
    check_every_opening_resolved(&app, &rx, id).await;
    let opened = |path: &str| -> BTreeSet<i64> {
        event_ids(&rx, path, "outage.opened").into_iter().collect()
    };
    assert_eq!(
        opened("/outages"),
        ids(events.iter()),
        "one page per outage"
    );
    // One page for the incident, and one for each outage in none.
    assert_eq!(event_ids(&rx, "/incidents", "incident.opened"), [id]);
    assert_eq!(opened("/incidents"), on_their_own);
    assert!(opened("/incidents").is_disjoint(&in_incident));
    // The cause and the outages of their own; no consequence.
    let causes: BTreeSet<i64> = aws.union(&on_their_own).copied().collect();
    assert_eq!(opened("/causes"), causes);
    let pages = |path: &str| {
        kinds_at(&rx, path)
            .iter()
            .filter(|k| k.ends_with(".opened"))
            .count()
    };
    assert_eq!(pages("/incidents"), 1 + on_their_own.len());
    assert!(pages("/outages") >= 42, "{}", pages("/outages"));
    app.stop().await;
}

/// The ids of these events.
fn ids<'a>(events: impl Iterator<Item = &'a Value>) -> BTreeSet<i64> {
    events.map(|e| e["id"].as_i64().unwrap()).collect()
}
