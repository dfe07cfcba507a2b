//! The incident pass in the live loop: after each run of minutes, once the
//! detectors' event changes are in the transaction, the monitor reads the
//! outages open or recently resolved across services and the providers each
//! service declared, runs [`reassess`] against the last assignment, and
//! writes the incidents, attributions and changes in the same transaction.
//!
//! Separate from the loop itself because it has its own state (the last
//! assignment, which must change only once its transaction commits) and
//! its own rule for when there is nothing to do.

use crate::incident::{reassess, Assignment, Facts, IncidentSettings, ServiceFacts, ServiceId};
use crate::store::Db;
use crate::store::{self, StoreError};
use std::collections::{BTreeMap, HashMap};

pub(super) struct IncidentPass {
    settings: IncidentSettings,
    /// The last committed pass's result: the next pass's input (incident
    /// ids, remembered facts). Loaded from the database on start, so a
    /// restart continues with the same incidents.
    assignment: Assignment,
}

impl IncidentPass {
    pub fn settings(&self) -> IncidentSettings {
        self.settings.clone()
    }

    pub fn load(conn: &Db, settings: IncidentSettings) -> Result<Self, StoreError> {
        Ok(IncidentPass {
            settings,
            assignment: store::load_assignment(conn)?.unwrap_or_default(),
        })
    }

    /// Runs the pass at `now` (the end of the last minute processed) in the
    /// caller's transaction and writes what it found; returns the new
    /// assignment, to [`keep`](Self::keep) once the transaction commits.
    /// `busy` says whether the detectors changed or hold an open event in
    /// this run. Without that, an open incident or an open event elsewhere,
    /// nothing can change and nothing is read.
    pub fn run(&self, conn: &Db, now: i64, busy: bool) -> Result<Option<Assignment>, StoreError> {
        let open_incident = self.assignment.open_incidents().next().is_some();
        if !busy && !open_incident && !store::any_open_event(conn)? {
            return Ok(None);
        }
        let facts = Facts {
            services: service_facts(conn)?,
            outages: store::outage_facts(conn, now.saturating_sub(self.settings.retain_secs()))?,
        };
        let (next, changes) = reassess(&self.assignment, &facts, &self.settings, now);
        store::write_incident_pass(conn, &next, &changes, now)?;
        if !changes.is_empty() {
            tracing::info!(
                changes = changes.len(),
                open_incidents = next.open_incidents().count(),
                "incident pass"
            );
        }
        Ok(Some(next))
    }

    /// Takes the assignment of a pass whose transaction committed.
    pub fn keep(&mut self, next: Assignment) {
        self.assignment = next;
    }
}

/// Every service's name and declared providers, by id.
fn service_facts(conn: &Db) -> Result<BTreeMap<ServiceId, ServiceFacts>, StoreError> {
    let services = store::list_services(conn)?;
    let ids: HashMap<&str, i64> = services.iter().map(|s| (s.slug.as_str(), s.id)).collect();
    Ok(services
        .iter()
        .map(|s| {
            let depends_on = s
                .depends_on
                .iter()
                .filter_map(|p| ids.get(p.as_str()).map(|&id| ServiceId(id)))
                .collect();
            (
                ServiceId(s.id),
                ServiceFacts {
                    name: s.name.clone(),
                    depends_on,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open_writer, OpenOptions};

    #[test]
    fn nothing_is_read_or_written_while_nothing_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("m.db"), &OpenOptions::default()).unwrap();
        let mut pass = IncidentPass::load(&conn, IncidentSettings::default()).unwrap();
        assert_eq!(pass.run(&conn, 3600, false).unwrap(), None);
        assert!(store::load_assignment(&conn).unwrap().is_none());
        // An open event: the pass runs, judges it and saves its assignment.
        conn.execute_batch(
            "INSERT INTO services (id, slug, name, categories, created_at) \
                 VALUES (1, 'claude', 'Claude', '[\"login\"]', 0); \
             INSERT INTO events (id, service_id, seq, status, started_at, detected_at, \
                 opened_by, peak_at, peak, ended_at, total, excess, expected, severity, waves, \
                 peak_baseline) VALUES (7, 1, 1, 'open', 3000, 3060, 'extreme', 3000, 90, \
                 3120, 180, 170, 10, 'major', '[]', 3);",
        )
        .unwrap();
        let next = pass.run(&conn, 3600, false).unwrap().expect("a pass");
        assert_eq!(next.outages.len(), 1);
        assert_eq!(store::load_assignment(&conn).unwrap().as_ref(), Some(&next));
        let judged = store::event_attribution(&conn, 7).unwrap().expect("judged");
        assert_eq!(judged.kind.as_str(), "independent");
        pass.keep(next);
        // Resolved long ago and in no incident: nothing to do again.
        conn.execute(
            "UPDATE events SET status = 'resolved', resolved_at = 3600",
            crate::store::params![],
        )
        .unwrap();
        assert!(pass.run(&conn, 86_400, false).unwrap().is_none());
    }
}
