//! Incidents across services: what the incident pass (`crate::incident`)
//! concluded each minute, as the monitor writes it (in the transaction of
//! the event changes it read) and the API reads it.
//!
//! Three tables and one `meta` row: `incidents` (every incident ever
//! formed, withdrawn ones kept), `event_attributions` (each event's current
//! incident and attribution), `attribution_changes` (the append-only log of
//! every change), and the pass's own [`Assignment`] as JSON under
//! [`ASSIGNMENT_KEY`], so that a restart continues with the same incident
//! ids. The pass names an outage by the events row id (`OutageId::event`),
//! which replays keep.

use super::{params, word, Context, Db, DbError, Row, StoreError};
use crate::detect::Severity;
use crate::incident::{
    Assignment, AttributionKind, Change, IncidentId, OutageFact, OutageId, ServiceId,
};
use serde_json::{json, Value};

/// The `meta` key of the saved assignment.
const ASSIGNMENT_KEY: &str = "incident_assignment";

/// The assignment the last pass left, if any.
pub fn load_assignment(conn: &Db) -> Result<Option<Assignment>, StoreError> {
    let saved: Option<Vec<u8>> = conn
        .query_opt(
            "SELECT value FROM meta WHERE key = ?1",
            params![ASSIGNMENT_KEY],
            |r| r.get(0),
        )
        .context("reading the incident assignment")?;
    saved
        .map(|json| {
            serde_json::from_slice(&json)
                .map_err(|e| StoreError::Corrupt(format!("the incident assignment: {e}")))
        })
        .transpose()
}

fn save_assignment(conn: &Db, assignment: &Assignment) -> Result<(), StoreError> {
    let json = serde_json::to_vec(assignment).map_err(|source| StoreError::Encode {
        what: "the incident assignment",
        source,
    })?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![ASSIGNMENT_KEY, json],
    )
    .context("saving the incident assignment")?;
    Ok(())
}

/// The outages the pass reads: every event open now or resolved at or
/// after `since` (events a rewind set aside are left to their replay). The
/// baseline at the peak of an event from before it was recorded is the
/// detector's baseline of that minute.
pub fn outage_facts(conn: &Db, since: i64) -> Result<Vec<OutageFact>, StoreError> {
    conn.query_map(
        "SELECT e.id, e.service_id, e.started_at, e.peak, \
                COALESCE(e.peak_baseline, m.baseline, 0), e.resolved_at \
         FROM events e LEFT JOIN detector_minutes m \
           ON m.service_id = e.service_id AND m.minute = e.peak_at \
         WHERE e.seq > 0 AND (e.status = 'open' OR e.resolved_at >= ?1) ORDER BY e.id",
        params![since],
        |r| {
            Ok(OutageFact {
                id: OutageId {
                    service: ServiceId(r.get(1)?),
                    event: r.get::<i64>(0)?.max(0) as u64,
                },
                began_at: r.get(2)?,
                peak: r.get(3)?,
                peak_baseline: r.get(4)?,
                resolved_at: r.get(5)?,
            })
        },
    )
    .context("reading the outages for the incident pass")
}

/// Whether any event is open: without one, and without an open incident,
/// the pass has nothing to do.
pub fn any_open_event(conn: &Db) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM events WHERE status = 'open' AND seq > 0)",
        params![],
        |r| r.get(0),
    )
    .context("looking for open events")
}

fn event_id(outage: OutageId) -> i64 {
    outage.event as i64
}

/// Writes what one pass at `now` concluded: every incident of the new
/// assignment, withdrawn ones marked so, each placed event's attribution,
/// every change appended to the log, and the assignment itself.
pub fn write_incident_pass(
    conn: &Db,
    next: &Assignment,
    changes: &[Change],
    now: i64,
) -> Result<(), StoreError> {
    for i in &next.incidents {
        conn.execute(
            "INSERT INTO incidents (id, status, cause_event_id, began_at, opened_at, \
                 resolved_at, outages, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                 cause_event_id = excluded.cause_event_id, began_at = excluded.began_at, \
                 resolved_at = excluded.resolved_at, outages = excluded.outages, \
                 updated_at = excluded.updated_at",
            params![
                i.id.0 as i64,
                i.status.as_str(),
                event_id(i.cause),
                i.began_at,
                i.opened_at,
                i.resolved_at,
                i.members.len() as i64,
                now,
            ],
        )
        .context("writing an incident")?;
    }
    // The SELECT's values are cast: PostgreSQL would not infer their types
    // from the target columns through the WHERE.
    for (outage, p) in &next.outages {
        conn.execute(
            "INSERT INTO event_attributions (event_id, incident_id, kind, cause_event_id, \
                 confidence, evidence, updated_at) \
             SELECT CAST(?1 AS BIGINT), CAST(?2 AS BIGINT), CAST(?3 AS TEXT), \
                 CAST(?4 AS BIGINT), CAST(?5 AS DOUBLE PRECISION), CAST(?6 AS TEXT), \
                 CAST(?7 AS BIGINT) \
             WHERE EXISTS (SELECT 1 FROM events WHERE id = ?1) \
             ON CONFLICT (event_id) DO UPDATE SET incident_id = excluded.incident_id, \
                 kind = excluded.kind, cause_event_id = excluded.cause_event_id, \
                 confidence = excluded.confidence, evidence = excluded.evidence, \
                 updated_at = excluded.updated_at",
            params![
                event_id(*outage),
                p.incident.map(|i| i.0 as i64),
                p.attribution.kind.as_str(),
                event_id(p.attribution.cause),
                p.attribution.confidence,
                p.attribution.evidence,
                now,
            ],
        )
        .context("writing an attribution")?;
    }
    for change in changes {
        let row = LoggedChange::of(change, next);
        if row.name == "incident_withdrawn" {
            conn.execute(
                "UPDATE incidents SET status = 'withdrawn', updated_at = ?2 WHERE id = ?1",
                params![row.incident, now],
            )
            .context("withdrawing an incident")?;
        }
        conn.execute(
            "INSERT INTO attribution_changes (at, change, incident_id, event_id, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                now,
                row.name,
                row.incident,
                row.event,
                row.detail.to_string()
            ],
        )
        .context("logging an incident change")?;
    }
    save_assignment(conn, next)
}

/// One change as the log holds it: its name, the incident and event it
/// concerns, and the rest as JSON (outages named by event id).
struct LoggedChange {
    name: &'static str,
    incident: Option<i64>,
    event: Option<i64>,
    detail: Value,
}

impl LoggedChange {
    fn of(change: &Change, next: &Assignment) -> Self {
        let id = |i: &IncidentId| Some(i.0 as i64);
        let link = |(kind, cause): &(AttributionKind, OutageId)| json!({"kind": kind.as_str(), "cause_event_id": event_id(*cause)});
        let (name, incident, event, detail) = match change {
            Change::IncidentOpened { incident } => {
                ("incident_opened", id(incident), None, json!({}))
            }
            Change::OutageJoined { incident, outage } => (
                "outage_joined",
                id(incident),
                Some(event_id(*outage)),
                json!({}),
            ),
            Change::OutageLeft { incident, outage } => (
                "outage_left",
                id(incident),
                Some(event_id(*outage)),
                json!({}),
            ),
            Change::CauseChanged { incident, from, to } => (
                "cause_changed",
                id(incident),
                None,
                json!({"from": event_id(*from), "to": event_id(*to)}),
            ),
            Change::IncidentResolved { incident } => {
                ("incident_resolved", id(incident), None, json!({}))
            }
            Change::IncidentReopened { incident } => {
                ("incident_reopened", id(incident), None, json!({}))
            }
            Change::IncidentWithdrawn { incident } => {
                ("incident_withdrawn", id(incident), None, json!({}))
            }
            Change::Attributed { outage, from, to } => (
                "attributed",
                next.outages
                    .get(outage)
                    .and_then(|p| p.incident)
                    .and_then(|i| id(&i)),
                Some(event_id(*outage)),
                json!({"from": from.as_ref().map(link), "to": link(to)}),
            ),
        };
        LoggedChange {
            name,
            incident,
            event,
            detail,
        }
    }
}

/// Where a stored incident stands: as the pass left it, or withdrawn (a
/// later pass no longer found its grouping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredIncidentStatus {
    Open,
    Resolved,
    Withdrawn,
}

crate::detect::vocabulary::vocabulary!(StoredIncidentStatus, "incident status", {
    Open => "open",
    Resolved => "resolved",
    Withdrawn => "withdrawn",
});

/// An incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub id: i64,
    pub status: StoredIncidentStatus,
    pub cause_event_id: i64,
    /// The slug of the cause's service.
    pub cause_service: Option<String>,
    pub began_at: i64,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
    pub outages: i64,
}

const INCIDENT_COLUMNS: &str = "i.id, i.status, i.cause_event_id, s.slug, i.began_at, \
     i.opened_at, i.resolved_at, i.outages FROM incidents i \
     LEFT JOIN events e ON e.id = i.cause_event_id LEFT JOIN services s ON s.id = e.service_id";

fn incident_from_row(r: &Row<'_>) -> Result<IncidentRecord, DbError> {
    Ok(IncidentRecord {
        id: r.get(0)?,
        status: word(r, 1)?,
        cause_event_id: r.get(2)?,
        cause_service: r.get(3)?,
        began_at: r.get(4)?,
        opened_at: r.get(5)?,
        resolved_at: r.get(6)?,
        outages: r.get(7)?,
    })
}

/// Incidents, open ones first, then the most recently opened; only those
/// of `status` when given.
pub fn list_incidents(
    conn: &Db,
    status: Option<StoredIncidentStatus>,
    limit: usize,
) -> Result<Vec<IncidentRecord>, StoreError> {
    let sql = format!(
        "SELECT {INCIDENT_COLUMNS} WHERE (CAST(?1 AS TEXT) IS NULL OR i.status = ?1) \
         ORDER BY i.status = 'open' DESC, i.opened_at DESC, i.id DESC LIMIT ?2"
    );
    conn.query_map(
        &sql,
        params![status.map(StoredIncidentStatus::as_str), limit as i64],
        incident_from_row,
    )
    .context("listing incidents")
}

pub fn get_incident(conn: &Db, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
    let sql = format!("SELECT {INCIDENT_COLUMNS} WHERE i.id = ?1");
    conn.query_opt(&sql, params![id], incident_from_row)
        .context("reading an incident")
}

/// An event's current attribution.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionRecord {
    pub event_id: i64,
    /// The slug of the event's service.
    pub service: String,
    pub incident_id: Option<i64>,
    pub kind: AttributionKind,
    pub cause_event_id: i64,
    /// The slug of the cause's service.
    pub cause_service: Option<String>,
    pub confidence: f64,
    pub evidence: String,
    pub started_at: i64,
}

const ATTRIBUTION_COLUMNS: &str = "a.event_id, s.slug, a.incident_id, a.kind, \
     a.cause_event_id, cs.slug, a.confidence, a.evidence, e.started_at \
     FROM event_attributions a JOIN events e ON e.id = a.event_id \
     JOIN services s ON s.id = e.service_id \
     LEFT JOIN events ce ON ce.id = a.cause_event_id \
     LEFT JOIN services cs ON cs.id = ce.service_id";

fn attribution_from_row(r: &Row<'_>) -> Result<AttributionRecord, DbError> {
    Ok(AttributionRecord {
        event_id: r.get(0)?,
        service: r.get(1)?,
        incident_id: r.get(2)?,
        kind: word(r, 3)?,
        cause_event_id: r.get(4)?,
        cause_service: r.get(5)?,
        confidence: r.get(6)?,
        evidence: r.get(7)?,
        started_at: r.get(8)?,
    })
}

/// An event's attribution, if the pass has judged it.
pub fn event_attribution(
    conn: &Db,
    event_id: i64,
) -> Result<Option<AttributionRecord>, StoreError> {
    let sql = format!("SELECT {ATTRIBUTION_COLUMNS} WHERE a.event_id = ?1");
    conn.query_opt(&sql, params![event_id], attribution_from_row)
        .context("reading an attribution")
}

/// The outages an incident holds now, in the order they began.
pub fn incident_outages(conn: &Db, incident_id: i64) -> Result<Vec<AttributionRecord>, StoreError> {
    let sql = format!(
        "SELECT {ATTRIBUTION_COLUMNS} WHERE a.incident_id = ?1 ORDER BY e.started_at, a.event_id"
    );
    conn.query_map(&sql, params![incident_id], attribution_from_row)
        .context("listing an incident's outages")
}

/// An open outage as the alerts that follow the cause read it: who it
/// concerns and what the incident pass made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowedOutage {
    pub event_id: i64,
    pub service_id: i64,
    /// The slug of its service.
    pub service: String,
    pub severity: Severity,
    pub detected_at: i64,
    /// Its incident, if the pass placed it in one.
    pub incident_id: Option<i64>,
    /// The outage that explains it (itself for a cause or an independent
    /// outage, and for one the pass has not judged yet).
    pub cause_event_id: i64,
}

impl FollowedOutage {
    /// Whether another service's outage explains this one: a declared
    /// provider's, the epicentre's it followed, or one it spilled over from.
    pub fn caused_elsewhere(&self) -> bool {
        self.incident_id.is_some() && self.cause_event_id != self.event_id
    }
}

/// The outages open now that may page someone (not concentrated), with
/// their attribution, in the order they were detected.
pub fn open_outages(conn: &Db) -> Result<Vec<FollowedOutage>, StoreError> {
    conn.query_map(
        "SELECT e.id, e.service_id, s.slug, e.severity, e.detected_at, a.incident_id, \
                COALESCE(a.cause_event_id, e.id) \
         FROM events e JOIN services s ON s.id = e.service_id \
         LEFT JOIN event_attributions a ON a.event_id = e.id \
         WHERE e.status = 'open' AND e.seq > 0 AND e.concentrated = 0 \
         ORDER BY e.detected_at, e.id",
        params![],
        |r| {
            Ok(FollowedOutage {
                event_id: r.get(0)?,
                service_id: r.get(1)?,
                service: r.get(2)?,
                severity: word(r, 3)?,
                detected_at: r.get(4)?,
                incident_id: r.get(5)?,
                cause_event_id: r.get(6)?,
            })
        },
    )
    .context("reading the open outages")
}

/// How many times an incident's outages or cause changed (outages joined
/// or left, the cause changed, it reopened): its messages tell one
/// revision from the next by this.
pub fn incident_revision(conn: &Db, incident_id: i64) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT count(*) FROM attribution_changes WHERE incident_id = ?1 \
         AND change IN ('outage_joined', 'outage_left', 'cause_changed', 'incident_reopened')",
        params![incident_id],
        |r| r.get(0),
    )
    .context("reading an incident's revision")
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub at: i64,
    pub change: String,
    pub event_id: Option<i64>,
    /// The slug of the event's service, when the change names an event.
    pub service: Option<String>,
    pub detail: Value,
}

/// The changes logged for an incident, oldest first.
pub fn incident_changes(conn: &Db, incident_id: i64) -> Result<Vec<ChangeRecord>, StoreError> {
    conn.query_map(
        "SELECT c.at, c.change, c.event_id, s.slug, c.detail FROM attribution_changes c \
         LEFT JOIN events e ON e.id = c.event_id LEFT JOIN services s ON s.id = e.service_id \
         WHERE c.incident_id = ?1 ORDER BY c.id",
        params![incident_id],
        |r| {
            let detail: String = r.get(4)?;
            Ok(ChangeRecord {
                at: r.get(0)?,
                change: r.get(1)?,
                event_id: r.get(2)?,
                service: r.get(3)?,
                detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
            })
        },
    )
    .context("reading an incident's changes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{reassess, Facts, IncidentSettings, ServiceFacts};
    use crate::store::{open_writer, OpenOptions};

    const T0: i64 = 1_760_000_000 - 1_760_000_000 % 3600;

    /// AWS and two services that declared it; each with one event, whose
    /// facts the store reads back.
    fn setup(conn: &Db) -> Facts {
        for (id, slug, deps) in [
            (1, "aws", "[]"),
            (2, "slack", "[\"aws\"]"),
            (3, "zoom", "[\"aws\"]"),
        ] {
            conn.execute(
                "INSERT INTO services (id, slug, name, categories, created_at, depends_on) \
                 VALUES (?1, ?2, ?2, '[\"login\"]', 0, ?3)",
                params![id, slug, deps],
            )
            .unwrap();
            let start = T0 + 60 * (id - 1) * 2;
            conn.execute(
                "INSERT INTO events (id, service_id, seq, status, started_at, detected_at, \
                 opened_by, peak_at, peak, ended_at, total, excess, expected, severity, waves, \
                 peak_baseline) VALUES (CAST(?1 AS BIGINT) * 10, ?1, 1, 'open', ?2, \
                 CAST(?2 AS BIGINT) + 60, 'extreme', ?2, ?3, CAST(?2 AS BIGINT) + 120, 100, 90, \
                 10, 'major', '[]', 2)",
                params![id, start, 400.0 / id as f64],
            )
            .unwrap();
        }
        let services = (1..=3)
            .map(|id| {
                let depends_on = if id == 1 { vec![] } else { vec![ServiceId(1)] };
                (
                    ServiceId(id),
                    ServiceFacts {
                        name: format!("s{id}"),
                        depends_on,
                    },
                )
            })
            .collect();
        Facts {
            services,
            outages: outage_facts(conn, 0).unwrap(),
        }
    }

    #[test]
    fn a_pass_is_stored_read_back_and_continued_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("i.db"), &OpenOptions::default()).unwrap();
        let facts = setup(&conn);
        assert_eq!(facts.outages.len(), 3);
        assert!(any_open_event(&conn).unwrap());
        let settings = IncidentSettings::default();
        let now = T0 + 600;
        let (next, changes) = reassess(&Assignment::default(), &facts, &settings, now);
        write_incident_pass(&conn, &next, &changes, now).unwrap();

        let list = list_incidents(&conn, None, 10).unwrap();
        assert_eq!(list.len(), 1);
        let incident = &list[0];
        assert_eq!(
            (incident.status.as_str(), incident.cause_event_id),
            ("open", 10)
        );
        assert_eq!(incident.cause_service.as_deref(), Some("aws"));
        assert_eq!(incident.outages, 3);
        let outages = incident_outages(&conn, incident.id).unwrap();
        let slugs: Vec<&str> = outages.iter().map(|o| o.service.as_str()).collect();
        assert_eq!(slugs, ["aws", "slack", "zoom"], "in the order they began");
        assert_eq!(outages[1].kind, AttributionKind::Upstream);
        assert_eq!(outages[1].cause_event_id, 10);
        assert_eq!(
            event_attribution(&conn, 30).unwrap().as_ref(),
            outages.get(2)
        );
        let history = incident_changes(&conn, incident.id).unwrap();
        assert_eq!(history[0].change, "incident_opened");
        assert!(history.iter().any(|c| c.change == "attributed"
            && c.event_id == Some(20)
            && c.detail["to"]["kind"] == "upstream"));

        // Reloaded, the assignment continues: the same incident, no change.
        let saved = load_assignment(&conn)
            .unwrap()
            .expect("saved with the pass");
        assert_eq!(saved, next);
        let (again, changes) = reassess(&saved, &facts, &settings, now + 60);
        assert!(changes.is_empty(), "{changes:?}");
        write_incident_pass(&conn, &again, &changes, now + 60).unwrap();
        assert_eq!(
            list_incidents(&conn, Some(StoredIncidentStatus::Open), 10)
                .unwrap()
                .len(),
            1
        );

        // A withdrawal, as reassess reports one when a grouping no longer
        // holds, marks the incident withdrawn and keeps its row.
        let withdrawal = [Change::IncidentWithdrawn {
            incident: IncidentId(incident.id as u64),
        }];
        write_incident_pass(&conn, &Assignment::default(), &withdrawal, now + 120).unwrap();
        let withdrawn = get_incident(&conn, incident.id).unwrap().unwrap();
        assert_eq!(withdrawn.status, StoredIncidentStatus::Withdrawn);
        assert!(list_incidents(&conn, Some(StoredIncidentStatus::Open), 10)
            .unwrap()
            .is_empty());
        assert_eq!("withdrawn".parse(), Ok(StoredIncidentStatus::Withdrawn));
        assert!("maybe".parse::<StoredIncidentStatus>().is_err());
    }
}
