//! Property tests of the incident pass: on any outages and any declared
//! dependencies it attributes every outage once, with a confidence in [0, 1],
//! inside one group at most and caused from within it; and a pass over the
//! same facts again changes nothing.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::tests::{facts, outage};
use super::*;

/// Up to 12 services, each declaring up to two others, and one outage on
/// each of some of them.
fn cases() -> impl Strategy<Value = Facts> {
    let service = (
        proptest::collection::vec(0i64..12, 0..3),
        proptest::option::of((-40i64..40, 0.0f64..5000.0, 0.0f64..50.0, 0i64..120)),
        any::<bool>(),
    );
    proptest::collection::vec(service, 1..12).prop_map(|specs| {
        let names: Vec<String> = (0..specs.len()).map(|i| format!("s{i}")).collect();
        let deps: Vec<Vec<i64>> = specs.iter().map(|(d, ..)| d.clone()).collect();
        let services: Vec<(i64, &str, &[i64])> = (0..specs.len())
            .map(|i| (i as i64, names[i].as_str(), deps[i].as_slice()))
            .collect();
        let outages = specs
            .iter()
            .enumerate()
            .filter_map(|(i, (_, o, resolved))| {
                o.map(|(minute, peak, normal, lasted)| {
                    let mut f = outage(i as i64, minute, peak, normal);
                    if *resolved {
                        f.resolved_at = Some(f.began_at + 60 * (lasted + 1));
                    }
                    f
                })
            })
            .collect();
        facts(&services, outages)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_outage_is_attributed_once_within_its_group(f in cases()) {
        let g = attribute(&f, &IncidentSettings::default());
        prop_assert_eq!(g.attributions.len(), f.outages.len());
        let mut seen = BTreeSet::new();
        for group in &g.groups {
            prop_assert!(group.members.len() >= 2);
            prop_assert!(group.members.contains(&group.cause));
            for m in &group.members {
                prop_assert!(seen.insert(*m), "{:?} in two groups", m);
                let a = &g.attributions[m];
                prop_assert!(group.members.contains(&a.cause));
                prop_assert!(a.kind != AttributionKind::Independent);
            }
            let cause = &g.attributions[&group.cause];
            prop_assert_eq!((cause.kind, cause.cause), (AttributionKind::Epicentre, group.cause));
        }
        for (id, a) in &g.attributions {
            prop_assert!((0.0..=1.0).contains(&a.confidence), "{:?}", a);
            prop_assert!(!a.evidence.is_empty());
            if !seen.contains(id) {
                prop_assert_eq!((a.kind, a.cause), (AttributionKind::Independent, *id));
            }
            if a.kind == AttributionKind::Upstream {
                prop_assert!(f.declares(id.service, a.cause.service));
            }
        }
    }

    #[test]
    fn the_same_facts_twice_change_nothing(f in cases(), now in 0i64..200) {
        let s = IncidentSettings::default();
        let now = f.outages.iter().map(|o| o.began_at).max().unwrap_or(0) + 60 * now;
        let (first, _) = reassess(&Assignment::default(), &f, &s, now);
        let (second, changes) = reassess(&first, &f, &s, now);
        prop_assert!(changes.is_empty(), "{:?}", changes);
        let ids = |a: &Assignment| a.incidents.iter().map(|i| (i.id, i.cause)).collect::<Vec<_>>();
        prop_assert_eq!(ids(&first), ids(&second));
    }

    #[test]
    fn minute_by_minute_the_assignment_stays_consistent(f in cases()) {
        // The outages appear as they begin; every pass's placements agree
        // with its incidents, and an id that left never comes back.
        let s = IncidentSettings::default();
        let start = f.outages.iter().map(|o| o.began_at).min().unwrap_or(0);
        let mut a = Assignment::default();
        let mut gone = BTreeSet::new();
        for minute in 0..100 {
            let now = start + 60 * minute;
            let seen = Facts {
                services: f.services.clone(),
                outages: f.outages.iter().filter(|o| o.began_at < now).cloned().collect(),
            };
            let (next, changes) = reassess(&a, &seen, &s, now);
            for c in &changes {
                if let Change::IncidentOpened { incident } = c {
                    prop_assert!(!gone.contains(incident), "{:?} reused", incident);
                }
            }
            for old in &a.incidents {
                if next.incident(old.id).is_none() {
                    gone.insert(old.id);
                }
            }
            for (id, p) in &next.outages {
                let held = next.incidents.iter().find(|i| i.members.contains(id)).map(|i| i.id);
                prop_assert_eq!(p.incident, held);
                prop_assert_eq!(p.incident.is_none(), p.attribution.kind == AttributionKind::Independent);
            }
            a = next;
        }
    }
}
