//! The pass each minute: [`reassess`] runs [`attribute`] over the outages
//! that matter now, keeps incident ids across minutes (a group keeps the id of
//! the previous incident it shares most outages with) and lists what changed,
//! so that every change can be recorded and announced.
//!
//! The assignment remembers each outage's last facts: an outage that resolved
//! long ago stays while its incident is open or recently resolved, so an
//! incident whose cause recovered first keeps its cause until its last
//! dependent recovers, and an ended incident ages out whole.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::attribute::{attribute, Attribution, AttributionKind, Group};
use super::facts::{Facts, OutageFact, OutageId};
use super::IncidentSettings;
use crate::detect::vocabulary::vocabulary;

/// An incident's id, from 1, never reused by one assignment's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IncidentId(pub u64);

/// Whether any outage of an incident is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

vocabulary!(IncidentStatus, "incident status", {
    Open => "open",
    Resolved => "resolved",
});

/// Outages grouped under one cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    /// The epicentre's outage: the likely cause.
    pub cause: OutageId,
    /// The cause's first abnormal minute.
    pub began_at: i64,
    /// The `now` of the pass that first formed the incident.
    pub opened_at: i64,
    pub status: IncidentStatus,
    /// The last member's resolution, once every member resolved.
    pub resolved_at: Option<i64>,
    /// Every outage of the incident, the cause included, in the order they began.
    pub members: Vec<OutageId>,
}

/// Where one outage stands: its incident, if any, and its attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// `None` for an independent outage: it is its own incident.
    pub incident: Option<IncidentId>,
    pub attribution: Attribution,
    /// The facts it was judged on, kept for the next pass.
    pub fact: OutageFact,
}

/// The incidents and attributions after a pass; the input of the next one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Open incidents and resolved ones whose outages are still retained, by id.
    pub incidents: Vec<Incident>,
    /// As a list of (outage, placement) pairs in JSON, whose keys are strings.
    #[serde(with = "pairs")]
    pub outages: BTreeMap<OutageId, Placement>,
    /// The id the next new incident takes.
    next_incident: u64,
}

/// A map whose keys are not strings, as a list of pairs: the monitor saves
/// the assignment as JSON so that a restart continues with the same ids.
mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S, K, V>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        K: Serialize,
        V: Serialize,
    {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// One change between two assignments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum Change {
    /// A group formed that shares no outage with an earlier incident.
    IncidentOpened { incident: IncidentId },
    /// An outage joined an existing incident.
    OutageJoined {
        incident: IncidentId,
        outage: OutageId,
    },
    /// An outage no longer belongs to an incident it was in.
    OutageLeft {
        incident: IncidentId,
        outage: OutageId,
    },
    /// The incident's likely cause is another outage now.
    CauseChanged {
        incident: IncidentId,
        from: OutageId,
        to: OutageId,
    },
    /// Every outage of the incident resolved.
    IncidentResolved { incident: IncidentId },
    /// A resolved incident has an open outage again.
    IncidentReopened { incident: IncidentId },
    /// An open incident's grouping no longer holds (its outages are
    /// independent now, or belong to another incident).
    IncidentWithdrawn { incident: IncidentId },
    /// An outage's kind or cause changed, or it was attributed for the first
    /// time (`from` is `None`). Confidence and evidence move every minute and
    /// are not changes on their own.
    Attributed {
        outage: OutageId,
        from: Option<(AttributionKind, OutageId)>,
        to: (AttributionKind, OutageId),
    },
}

impl Assignment {
    /// The incident with this id.
    pub fn incident(&self, id: IncidentId) -> Option<&Incident> {
        self.incidents.iter().find(|i| i.id == id)
    }

    /// The open incidents.
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents
            .iter()
            .filter(|i| i.status == IncidentStatus::Open)
    }
}

/// The pass at `now` (unix seconds, the end of the minute just closed):
/// `facts` holds the outages open or resolved recently; the result is the new
/// assignment and what changed since `previous`.
pub fn reassess(
    previous: &Assignment,
    facts: &Facts,
    settings: &IncidentSettings,
    now: i64,
) -> (Assignment, Vec<Change>) {
    let retained = retained_facts(previous, facts, settings, now);
    let grouping = attribute(&retained, settings);
    let mut next = Assignment {
        incidents: Vec::new(),
        outages: BTreeMap::new(),
        next_incident: previous.next_incident.max(1),
    };
    let mut changes = Vec::new();
    let ids = match_groups(previous, &grouping.groups, &mut next.next_incident);
    let by_id: BTreeMap<OutageId, &OutageFact> =
        retained.outages.iter().map(|o| (o.id, o)).collect();
    for (group, id) in grouping.groups.iter().zip(&ids) {
        let incident = build_incident(previous, group, *id, &by_id, now);
        diff_incident(previous.incident(*id), &incident, &mut changes);
        next.incidents.push(incident);
    }
    for old in previous.open_incidents() {
        if !ids.contains(&old.id) {
            changes.push(Change::IncidentWithdrawn { incident: old.id });
        }
    }
    next.incidents.sort_by_key(|i| i.id);
    let member_of: BTreeMap<OutageId, IncidentId> = next
        .incidents
        .iter()
        .flat_map(|i| i.members.iter().map(move |m| (*m, i.id)))
        .collect();
    for (id, attribution) in grouping.attributions {
        let Some(fact) = by_id.get(&id) else { continue };
        let to = (attribution.kind, attribution.cause);
        let from = previous
            .outages
            .get(&id)
            .map(|p| (p.attribution.kind, p.attribution.cause));
        if from != Some(to) {
            changes.push(Change::Attributed {
                outage: id,
                from,
                to,
            });
        }
        next.outages.insert(
            id,
            Placement {
                incident: member_of.get(&id).copied(),
                attribution,
                fact: (*fact).clone(),
            },
        );
    }
    (next, changes)
}

/// The outages the pass reads: those given, open or resolved within
/// `retain_minutes`, and the remembered ones that belong to an incident that
/// is open or resolved within `retain_minutes` (whether given or not).
fn retained_facts(
    previous: &Assignment,
    facts: &Facts,
    settings: &IncidentSettings,
    now: i64,
) -> Facts {
    let horizon = now.saturating_sub(settings.retain_secs());
    // An incident's outages stay together until its last one ages out, so
    // an ended incident is not taken apart (and re-attributed) piece by piece.
    let held: BTreeSet<OutageId> = previous
        .incidents
        .iter()
        .filter(|i| i.resolved_at.is_none_or(|r| r >= horizon))
        .flat_map(|i| i.members.iter().copied())
        .collect();
    let mut outages: Vec<OutageFact> = facts
        .outages
        .iter()
        .filter(|o| o.resolved_at.is_none_or(|r| r >= horizon) || held.contains(&o.id))
        .cloned()
        .collect();
    let given: BTreeSet<OutageId> = facts.outages.iter().map(|o| o.id).collect();
    for id in held.difference(&given) {
        if let Some(p) = previous.outages.get(id) {
            outages.push(p.fact.clone());
        }
    }
    Facts {
        services: facts.services.clone(),
        outages,
    }
}

/// The id of each group: the previous incident it shares most outages with
/// (each claimed once, the largest groups choosing first), else a new one.
fn match_groups(previous: &Assignment, groups: &[Group], next_id: &mut u64) -> Vec<IncidentId> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(groups[g].members.len()));
    let mut claimed = BTreeSet::new();
    let mut ids = vec![IncidentId(0); groups.len()];
    for g in order {
        let members: BTreeSet<OutageId> = groups[g].members.iter().copied().collect();
        let best = previous
            .incidents
            .iter()
            .filter(|i| !claimed.contains(&i.id))
            .map(|i| {
                let shared = i.members.iter().filter(|m| members.contains(m)).count();
                let same_cause = i.cause == groups[g].cause;
                (shared, same_cause, std::cmp::Reverse(i.id), i.id)
            })
            .filter(|&(shared, ..)| shared > 0)
            .max()
            .map(|(.., id)| id);
        ids[g] = best.unwrap_or_else(|| {
            let id = IncidentId(*next_id);
            *next_id += 1;
            id
        });
        claimed.insert(ids[g]);
    }
    ids
}

fn build_incident(
    previous: &Assignment,
    group: &Group,
    id: IncidentId,
    facts: &BTreeMap<OutageId, &OutageFact>,
    now: i64,
) -> Incident {
    let members: Vec<&OutageFact> = group
        .members
        .iter()
        .filter_map(|m| facts.get(m).copied())
        .collect();
    let open = members.iter().any(|o| o.is_open());
    Incident {
        id,
        cause: group.cause,
        began_at: facts.get(&group.cause).map_or(now, |o| o.began_at),
        opened_at: previous.incident(id).map_or(now, |i| i.opened_at),
        status: if open {
            IncidentStatus::Open
        } else {
            IncidentStatus::Resolved
        },
        resolved_at: if open {
            None
        } else {
            members.iter().filter_map(|o| o.resolved_at).max()
        },
        members: group.members.clone(),
    }
}

/// What changed between an incident's previous form and its new one.
fn diff_incident(old: Option<&Incident>, new: &Incident, changes: &mut Vec<Change>) {
    let Some(old) = old else {
        changes.push(Change::IncidentOpened { incident: new.id });
        if new.status == IncidentStatus::Resolved {
            changes.push(Change::IncidentResolved { incident: new.id });
        }
        return;
    };
    if old.cause != new.cause {
        changes.push(Change::CauseChanged {
            incident: new.id,
            from: old.cause,
            to: new.cause,
        });
    }
    for &m in new.members.iter().filter(|m| !old.members.contains(m)) {
        changes.push(Change::OutageJoined {
            incident: new.id,
            outage: m,
        });
    }
    for &m in old.members.iter().filter(|m| !new.members.contains(m)) {
        changes.push(Change::OutageLeft {
            incident: new.id,
            outage: m,
        });
    }
    match (old.status, new.status) {
        (IncidentStatus::Open, IncidentStatus::Resolved) => {
            changes.push(Change::IncidentResolved { incident: new.id })
        }
        (IncidentStatus::Resolved, IncidentStatus::Open) => {
            changes.push(Change::IncidentReopened { incident: new.id })
        }
        _ => {}
    }
}
