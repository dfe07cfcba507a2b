//! The four kinds on small hand-made cases, and the pass minute by minute.

use std::collections::BTreeMap;

use super::*;
use crate::detect::vocabulary::assert_serde_matches;

const T0: i64 = 1_760_000_000 - 1_760_000_000 % 3600;

pub(super) fn facts(services: &[(i64, &str, &[i64])], outages: Vec<OutageFact>) -> Facts {
    Facts {
        services: services
            .iter()
            .map(|&(id, name, deps)| {
                (
                    ServiceId(id),
                    ServiceFacts {
                        name: name.to_string(),
                        depends_on: deps.iter().map(|&d| ServiceId(d)).collect(),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
        outages,
    }
}

/// An outage of `service` that began `minute` minutes after T0.
pub(super) fn outage(service: i64, minute: i64, peak: f64, normal: f64) -> OutageFact {
    OutageFact {
        id: OutageId {
            service: ServiceId(service),
            event: 1,
        },
        began_at: T0 + 60 * minute,
        peak,
        peak_baseline: normal,
        resolved_at: None,
    }
}

fn id(service: i64) -> OutageId {
    OutageId {
        service: ServiceId(service),
        event: 1,
    }
}

fn kind_of(g: &Grouping, service: i64) -> (AttributionKind, i64) {
    let a = &g.attributions[&id(service)];
    (a.kind, a.cause.service.0)
}

#[test]
fn declared_dependents_follow_their_provider_upstream() {
    let f = facts(
        &[(1, "AWS", &[]), (2, "Slack", &[1]), (3, "Zoom", &[1])],
        vec![
            outage(1, 0, 900.0, 3.0),
            outage(2, 4, 200.0, 10.0),
            outage(3, 2, 90.0, 6.0),
        ],
    );
    let g = attribute(&f, &IncidentSettings::default());
    assert_eq!(g.groups.len(), 1);
    assert_eq!(g.groups[0].cause, id(1));
    assert_eq!(g.groups[0].members, vec![id(1), id(3), id(2)]);
    assert_eq!(kind_of(&g, 1), (AttributionKind::Epicentre, 1));
    assert_eq!(kind_of(&g, 2), (AttributionKind::Upstream, 1));
    assert_eq!(kind_of(&g, 3), (AttributionKind::Upstream, 1));
    let slack = &g.attributions[&id(2)];
    assert_eq!(
        slack.evidence,
        "began 4 minutes after AWS; declared dependency"
    );
    assert!(slack.confidence >= 0.9, "{slack:?}");
}

#[test]
fn a_provider_and_one_declared_dependent_make_an_incident() {
    let f = facts(
        &[(1, "AWS", &[]), (2, "Slack", &[1])],
        vec![outage(1, 0, 900.0, 3.0), outage(2, 3, 200.0, 10.0)],
    );
    let g = attribute(&f, &IncidentSettings::default());
    assert_eq!(g.groups.len(), 1);
    assert_eq!(kind_of(&g, 2), (AttributionKind::Upstream, 1));
}

#[test]
fn undeclared_followers_are_attributed_to_the_epicentre() {
    let f = facts(
        &[(1, "AWS", &[]), (2, "Slack", &[]), (3, "Zoom", &[])],
        vec![
            outage(1, 0, 900.0, 3.0),
            outage(2, 3, 200.0, 10.0),
            // Began a minute before AWS, within the detector's margin.
            outage(3, -1, 90.0, 6.0),
        ],
    );
    let g = attribute(&f, &IncidentSettings::default());
    assert_eq!(g.groups.len(), 1);
    assert_eq!(kind_of(&g, 1), (AttributionKind::Epicentre, 1));
    assert_eq!(kind_of(&g, 2), (AttributionKind::Epicentre, 1));
    assert_eq!(kind_of(&g, 3), (AttributionKind::Epicentre, 1));
    let (slack, zoom) = (&g.attributions[&id(2)], &g.attributions[&id(3)]);
    assert!(slack
        .evidence
        .starts_with("began 3 minutes after AWS; rose 20x"));
    assert!(zoom.evidence.starts_with("began 1 minute before AWS"));
    assert!(zoom.confidence < slack.confidence, "{zoom:?} {slack:?}");
}

#[test]
fn two_outages_without_a_declaration_are_no_incident() {
    let f = facts(
        &[(1, "AWS", &[]), (2, "Slack", &[])],
        vec![outage(1, 0, 900.0, 3.0), outage(2, 3, 200.0, 10.0)],
    );
    let g = attribute(&f, &IncidentSettings::default());
    assert!(g.groups.is_empty());
    assert_eq!(kind_of(&g, 1), (AttributionKind::Independent, 1));
    let slack = &g.attributions[&id(2)];
    assert_eq!(slack.kind, AttributionKind::Independent);
    assert!(slack.evidence.contains("too few outages"), "{slack:?}");
}

#[test]
fn small_rises_on_services_that_do_not_depend_are_spillover() {
    let f = facts(
        &[
            (1, "T-Mobile", &[]),
            (2, "Verizon", &[]),
            (3, "AT&T", &[1]),
            (4, "Mint", &[]),
        ],
        vec![
            outage(1, 0, 2000.0, 20.0),
            // 7% of the peak, 5x its normal: spillover.
            outage(2, 2, 170.0, 30.0),
            // The same rise on a service that declared the provider: upstream.
            outage(3, 2, 170.0, 30.0),
            // Small against the epicentre but 40x its own normal: down itself.
            outage(4, 3, 80.0, 2.0),
        ],
    );
    let g = attribute(&f, &IncidentSettings::default());
    assert_eq!(kind_of(&g, 2), (AttributionKind::Spillover, 1));
    assert_eq!(kind_of(&g, 3), (AttributionKind::Upstream, 1));
    assert_eq!(kind_of(&g, 4), (AttributionKind::Epicentre, 1));
    let verizon = &g.attributions[&id(2)];
    assert!(
        verizon.evidence.contains("rose to 7% of its peak"),
        "{verizon:?}"
    );
}

#[test]
fn outages_well_apart_are_independent() {
    let mut outages = vec![
        outage(1, 0, 900.0, 3.0),
        outage(2, 2, 200.0, 10.0),
        outage(3, 3, 90.0, 6.0),
        // Began 25 minutes before AWS and is still open.
        outage(4, -25, 300.0, 10.0),
        // Began 30 minutes after AWS.
        outage(5, 30, 300.0, 10.0),
    ];
    outages[0].resolved_at = Some(T0 + 3600);
    let f = facts(
        &[
            (1, "AWS", &[]),
            (2, "Slack", &[]),
            (3, "Zoom", &[]),
            (4, "Steam", &[]),
            (5, "Reddit", &[1]),
        ],
        outages,
    );
    let g = attribute(&f, &IncidentSettings::default());
    assert_eq!(g.groups.len(), 1, "{g:?}");
    assert_eq!(g.groups[0].members, vec![id(1), id(2), id(3), id(5)]);
    let steam = &g.attributions[&id(4)];
    assert_eq!(
        (steam.kind, steam.cause),
        (AttributionKind::Independent, id(4))
    );
    assert_eq!(
        steam.evidence,
        "began 25 minutes before AWS's outage, more than 15 minutes apart"
    );
    // A declared provider explains an outage that begins later, with less
    // confidence the later it begins.
    let aws = &g.attributions[&id(1)];
    assert_eq!(
        aws.evidence,
        "3 outages followed it; rose 300x its normal, the most; 1 of them declared AWS as a provider"
    );
    let reddit = &g.attributions[&id(5)];
    assert_eq!(reddit.kind, AttributionKind::Upstream);
    assert!(reddit.confidence < 0.95 && reddit.confidence >= 0.5);
}

#[test]
fn a_large_outage_after_the_window_has_its_own_followers() {
    let f = facts(
        &[
            (1, "AWS", &[]),
            (2, "Slack", &[]),
            (3, "Zoom", &[]),
            (4, "Steam", &[]),
            (5, "Discord", &[]),
            (6, "Twitch", &[]),
        ],
        vec![
            outage(1, 0, 900.0, 3.0),
            outage(2, 2, 200.0, 10.0),
            outage(3, 3, 90.0, 6.0),
            outage(4, 20, 3000.0, 10.0),
            outage(5, 22, 200.0, 10.0),
            outage(6, 24, 100.0, 10.0),
        ],
    );
    let g = attribute(&f, &IncidentSettings::default());
    let causes: Vec<OutageId> = g.groups.iter().map(|g| g.cause).collect();
    assert_eq!(causes, vec![id(1), id(4)]);
    assert_eq!(kind_of(&g, 5), (AttributionKind::Epicentre, 4));
}

#[test]
fn services_that_declare_each_other_do_not_loop() {
    let f = facts(
        &[(1, "A", &[2]), (2, "B", &[1])],
        vec![outage(1, 0, 100.0, 2.0), outage(2, 1, 400.0, 2.0)],
    );
    let g = attribute(&f, &IncidentSettings::default());
    // B rose most: the loop is cut there, and A follows it.
    assert_eq!(g.groups.len(), 1);
    assert_eq!(g.groups[0].cause, id(2));
    assert_eq!(kind_of(&g, 1), (AttributionKind::Upstream, 2));
    assert_eq!(kind_of(&g, 2), (AttributionKind::Epicentre, 2));
}

#[test]
fn incidents_keep_their_id_and_report_each_change_once() {
    let s = IncidentSettings::default();
    let services: &[(i64, &str, &[i64])] = &[
        (1, "AWS", &[]),
        (2, "Slack", &[1]),
        (3, "Zoom", &[]),
        (4, "Steam", &[]),
    ];
    let mut outs = vec![outage(1, 0, 300.0, 3.0)];
    let (a1, c1) = reassess(
        &Assignment::default(),
        &facts(services, outs.clone()),
        &s,
        T0 + 60,
    );
    assert!(a1.incidents.is_empty());
    assert_eq!(c1.len(), 1, "{c1:?}");

    outs.push(outage(2, 1, 50.0, 5.0));
    let (a2, c2) = reassess(&a1, &facts(services, outs.clone()), &s, T0 + 120);
    assert_eq!(a2.incidents.len(), 1);
    let incident = a2.incidents[0].id;
    assert_eq!(a2.incidents[0].opened_at, T0 + 120);
    assert!(c2.contains(&Change::IncidentOpened { incident }), "{c2:?}");
    assert!(c2.contains(&Change::Attributed {
        outage: id(1),
        from: Some((AttributionKind::Independent, id(1))),
        to: (AttributionKind::Epicentre, id(1)),
    }));

    // The same facts again: nothing changed.
    let (a2b, none) = reassess(&a2, &facts(services, outs.clone()), &s, T0 + 150);
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(a2b.incidents[0].id, incident);

    outs.push(outage(3, 3, 60.0, 4.0));
    outs[0].peak = 900.0;
    let (a3, c3) = reassess(&a2, &facts(services, outs.clone()), &s, T0 + 240);
    assert_eq!(a3.incidents[0].id, incident);
    assert!(c3.contains(&Change::OutageJoined {
        incident,
        outage: id(3)
    }));
    assert_eq!(a3.outages[&id(3)].incident, Some(incident));

    // AWS recovers first and the caller stops passing it long after: the
    // incident keeps its cause while its dependents are open.
    outs[0].resolved_at = Some(T0 + 600);
    let later = T0 + 600 + 3 * 3600;
    let (a4, c4) = reassess(&a3, &facts(services, outs[1..].to_vec()), &s, later);
    assert!(c4.is_empty(), "{c4:?}");
    assert_eq!(a4.incidents[0].cause, id(1));
    assert_eq!(a4.incidents[0].status, IncidentStatus::Open);

    for o in &mut outs {
        o.resolved_at = Some(T0 + 900);
    }
    let (a5, c5) = reassess(&a4, &facts(services, outs.clone()), &s, T0 + 960);
    assert_eq!(c5, vec![Change::IncidentResolved { incident }]);
    assert_eq!(a5.incidents[0].resolved_at, Some(T0 + 900));

    // Long after, everything has aged out, silently.
    let (a6, c6) = reassess(&a5, &facts(services, outs), &s, T0 + 900 + 7200 + 60);
    assert!(c6.is_empty() && a6.incidents.is_empty() && a6.outages.is_empty());
}

#[test]
fn a_grouping_that_no_longer_holds_is_withdrawn() {
    let s = IncidentSettings::default();
    let services: &[(i64, &str, &[i64])] = &[(1, "A", &[]), (2, "B", &[]), (3, "C", &[])];
    let outs = vec![
        outage(1, 0, 300.0, 3.0),
        outage(2, 1, 50.0, 5.0),
        outage(3, 2, 60.0, 4.0),
    ];
    let (a1, _) = reassess(
        &Assignment::default(),
        &facts(services, outs.clone()),
        &s,
        T0 + 180,
    );
    let incident = a1.incidents[0].id;
    // C's peak grows past the epicentre's rise and it began 2 minutes after:
    // the group no longer has three outages led by one.
    let mut grown = outs;
    grown[2].peak = 4000.0;
    grown[1].began_at = T0 - 30 * 60;
    let (a2, c2) = reassess(&a1, &facts(services, grown), &s, T0 + 240);
    assert!(a2.incidents.is_empty(), "{a2:?}");
    assert!(
        c2.contains(&Change::IncidentWithdrawn { incident }),
        "{c2:?}"
    );
}

#[test]
fn an_assignment_survives_json() {
    let f = facts(
        &[(1, "AWS", &[]), (2, "Slack", &[1])],
        vec![outage(1, 0, 900.0, 3.0), outage(2, 4, 200.0, 10.0)],
    );
    let (a, _) = reassess(
        &Assignment::default(),
        &f,
        &IncidentSettings::default(),
        T0 + 600,
    );
    assert_eq!(a.outages.len(), 2);
    let json = serde_json::to_string(&a).unwrap();
    let back: Assignment = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    // The next incident takes the next id after a round trip too.
    let (again, _) = reassess(&back, &f, &IncidentSettings::default(), T0 + 660);
    assert_eq!(again.incidents, a.incidents);
}

#[test]
fn the_words_match_serde() {
    assert_serde_matches(AttributionKind::ALL, |k| k.as_str());
    assert_serde_matches(IncidentStatus::ALL, |k| k.as_str());
    for k in AttributionKind::ALL {
        assert_eq!(k.as_str().parse::<AttributionKind>(), Ok(*k));
    }
}
