//! Outage events and what the detector made of each minute.

use super::{params, word, Context, Db, DbError, Row, StoreError};
use crate::detect::{Event, EventStatus, OpenReason, Severity, Wave};

/// An event as stored, with the slug of its service.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventRecord {
    pub id: i64,
    #[serde(skip)]
    pub service_id: i64,
    pub service: String,
    pub status: EventStatus,
    pub started_at: i64,
    pub detected_at: i64,
    pub opened_by: OpenReason,
    pub peak_at: i64,
    pub peak: f64,
    pub ended_at: i64,
    pub resolved_at: Option<i64>,
    pub total: i64,
    pub excess: f64,
    pub expected: f64,
    pub severity: Severity,
    pub waves: Vec<Wave>,
    /// Distinct sites (IPv4 /24, IPv6 /48) the event's reports came from, at
    /// least; `None` for an event from before networks were recorded.
    pub networks: Option<i64>,
    /// The largest share of the excess one provider block (IPv4 /16, IPv6
    /// /32) may have sent, at most; `None` as for `networks`.
    pub top_network_share: Option<f64>,
    /// Too few networks, or too much of one block: shown, never announced.
    pub concentrated: bool,
}

/// What the monitor made of the networks behind an event (see
/// `alert::gate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventNetworks {
    pub networks: i64,
    pub top_network_share: f64,
    pub concentrated: bool,
}

/// An event as written: its row, and whether it is concentrated now and
/// was before this write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWrite {
    pub id: i64,
    pub concentrated: bool,
    /// It was concentrated and no longer is: the moment to announce it.
    pub promoted: bool,
}

impl EventRecord {
    pub fn is_open(&self) -> bool {
        self.status == EventStatus::Open
    }

    /// Where the event ends on a chart or in a duration: `now` while it is
    /// open, else when it was resolved (or its last abnormal minute ended).
    pub fn end(&self, now: i64) -> i64 {
        if self.is_open() {
            now
        } else {
            self.resolved_at.unwrap_or(self.ended_at)
        }
    }
}

/// Writes the event's current state with what its networks say; returns
/// its row id and whether it is (still) concentrated.
///
/// The row is the service's event with the same detector number; else, after
/// a rewind ([`reset_detector`]), the earliest set-aside event whose span
/// overlaps this one's, which takes this number (so an outage keeps its id,
/// and subscribers are not told of it twice, however the replay renumbers
/// it); else a new row.
///
/// An event that is not concentrated stays so whatever later minutes say:
/// once on-call may have been told, a flood from one network cannot make it
/// something nobody should have heard of.
pub fn upsert_event(
    conn: &Db,
    service_id: i64,
    e: &Event,
    networks: &EventNetworks,
) -> Result<EventWrite, StoreError> {
    let end = e.ended_at.max(e.detected_at);
    let existing: Option<(i64, bool)> = conn
        .query_opt(
            "SELECT id, concentrated, 0 AS set_aside, CAST(0 AS BIGINT) AS start FROM events \
               WHERE service_id = ?1 AND seq = ?2 \
             UNION ALL \
             SELECT id, concentrated, 1, started_at FROM events WHERE service_id = ?1 \
               AND seq < 0 AND started_at < ?4 \
               AND ?3 < CASE WHEN ended_at > detected_at THEN ended_at ELSE detected_at END \
             ORDER BY set_aside, start LIMIT 1",
            params![service_id, e.id as i64, e.started_at, end],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context("finding an event's row")?;
    let was_concentrated = existing.is_some_and(|(_, c)| c);
    let concentrated = networks.concentrated && existing.is_none_or(|(_, c)| c);
    let waves = serde_json::to_string(&e.waves).unwrap_or_else(|_| "[]".into());
    let status = e.status().as_str();
    // ?15 is the row for an update and the service for an insert.
    let row_or_service = existing.map_or(service_id, |(id, _)| id);
    let fields = params![
        e.id as i64,
        status,
        e.started_at,
        e.detected_at,
        e.opened_by.as_str(),
        e.peak_at,
        e.peak,
        e.ended_at,
        e.resolved_at,
        e.total as i64,
        e.excess,
        e.expected,
        e.severity.as_str(),
        waves,
        row_or_service,
        networks.networks,
        networks.top_network_share,
        concentrated,
        e.peak_baseline,
    ];
    let id = match existing {
        Some((id, _)) => {
            conn.execute(
                "UPDATE events SET seq = ?1, status = ?2, started_at = ?3, detected_at = ?4, \
                 opened_by = ?5, peak_at = ?6, peak = ?7, ended_at = ?8, resolved_at = ?9, \
                 total = ?10, excess = ?11, expected = ?12, severity = ?13, waves = ?14, \
                 networks = ?16, top_network_share = ?17, concentrated = ?18, \
                 peak_baseline = ?19 WHERE id = ?15",
                fields,
            )
            .context("updating an event")?;
            id
        }
        // A new event's id is above every id an event ever had: above the
        // events there are and above any an alert was queued for. An event a
        // replay dropped leaves its alerts behind, and those alerts' keys
        // must never match a later, different event.
        None => conn
            .query_row(
                "INSERT INTO events (id, seq, status, started_at, detected_at, opened_by, \
                 peak_at, peak, ended_at, resolved_at, total, excess, expected, severity, waves, \
                 service_id, networks, top_network_share, concentrated, peak_baseline) \
                 VALUES ((SELECT MAX(m) + 1 FROM (SELECT COALESCE(MAX(id), 0) AS m FROM events \
                          UNION ALL SELECT COALESCE(MAX(event_id), 0) FROM deliveries) AS ids), \
                 ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                 ?19) \
                 RETURNING id",
                fields,
                |r| r.get(0),
            )
            .context("inserting an event")?,
    };
    Ok(EventWrite {
        id,
        concentrated,
        promoted: was_concentrated && !concentrated,
    })
}

/// One minute's network figures (see `report_minute_networks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkMinute {
    pub minute: i64,
    pub reports: u64,
    pub new_networks: u64,
    pub top_provider: u64,
}

/// The network figures of a service's minutes in `[from, to]`, in order;
/// minutes without a counted report from an address have none.
pub fn network_minutes(
    conn: &Db,
    service_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<NetworkMinute>, StoreError> {
    conn.query_map(
        "SELECT minute, reports, new_networks, top_provider FROM report_minute_networks \
         WHERE service_id = ?1 AND minute >= ?2 AND minute <= ?3 ORDER BY minute",
        params![service_id, from, to],
        |r| {
            let count = |i: usize| r.get::<i64>(i).map(|n| n.max(0) as u64);
            Ok(NetworkMinute {
                minute: r.get(0)?,
                reports: count(1)?,
                new_networks: count(2)?,
                top_provider: count(3)?,
            })
        },
    )
    .context("reading network minutes")
}

const EVENT_COLUMNS: &str = "e.id, e.service_id, s.slug, e.status, e.started_at, e.detected_at, \
     e.opened_by, e.peak_at, e.peak, e.ended_at, e.resolved_at, e.total, e.excess, e.expected, \
     e.severity, e.waves, e.networks, e.top_network_share, e.concentrated";

fn event_from_row(r: &Row<'_>) -> Result<EventRecord, DbError> {
    let waves: String = r.get(15)?;
    Ok(EventRecord {
        id: r.get(0)?,
        service_id: r.get(1)?,
        service: r.get(2)?,
        status: word(r, 3)?,
        started_at: r.get(4)?,
        detected_at: r.get(5)?,
        opened_by: word(r, 6)?,
        peak_at: r.get(7)?,
        peak: r.get(8)?,
        ended_at: r.get(9)?,
        resolved_at: r.get(10)?,
        total: r.get(11)?,
        excess: r.get(12)?,
        expected: r.get(13)?,
        severity: word(r, 14)?,
        waves: serde_json::from_str(&waves).unwrap_or_default(),
        networks: r.get(16)?,
        top_network_share: r.get(17)?,
        concentrated: r.get(18)?,
    })
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub service_id: Option<i64>,
    pub status: Option<EventStatus>,
    /// Only events that started at or after this time (Unix seconds).
    pub since: Option<i64>,
    pub limit: usize,
}

/// Events, newest first.
pub fn list_events(conn: &Db, f: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN services s ON s.id = e.service_id \
         WHERE (CAST(?1 AS BIGINT) IS NULL OR e.service_id = ?1) \
         AND (CAST(?2 AS TEXT) IS NULL OR e.status = ?2) \
         AND (CAST(?3 AS BIGINT) IS NULL OR e.started_at >= ?3) \
         ORDER BY e.started_at DESC, e.id DESC LIMIT ?4"
    );
    conn.query_map(
        &sql,
        params![
            f.service_id,
            f.status.map(EventStatus::as_str),
            f.since,
            f.limit as i64
        ],
        event_from_row,
    )
    .context("listing events")
}

/// A service's events that overlap `[from, to)` (Unix seconds), oldest
/// first: what a chart of that range shades.
pub fn events_overlapping(
    conn: &Db,
    service_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<EventRecord>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN services s ON s.id = e.service_id \
         WHERE e.service_id = ?1 AND e.started_at < ?3 \
         AND (e.status = 'open' OR COALESCE(e.resolved_at, e.ended_at) >= ?2) \
         ORDER BY e.started_at, e.id"
    );
    conn.query_map(&sql, params![service_id, from, to], event_from_row)
        .context("listing events in a range")
}

pub fn get_event(conn: &Db, id: i64) -> Result<Option<EventRecord>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN services s ON s.id = e.service_id \
         WHERE e.id = ?1"
    );
    conn.query_opt(&sql, params![id], event_from_row)
        .context("reading an event")
}

/// Forgets what the detector learned about a service (its state and
/// minutes), so it relearns from its first minute (at most
/// `import_max_age_days` back): what an import of history older than the
/// detector's position needs. Its events stay, set aside
/// (numbered `-id`): the replay claims each again by time (see
/// [`upsert_event`]), so they keep their ids; [`set_aside_event_ids`] lists
/// the ones it did not find, [`drop_set_aside_events`] removes them.
pub fn reset_detector(conn: &Db, service_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE events SET seq = -id WHERE service_id = ?1 AND seq > 0",
        params![service_id],
    )
    .context("setting a service's events aside")?;
    conn.execute(
        "DELETE FROM detector_state WHERE service_id = ?1",
        params![service_id],
    )
    .context("resetting the detector state")?;
    conn.execute(
        "DELETE FROM detector_minutes WHERE service_id = ?1",
        params![service_id],
    )
    .context("resetting detector minutes")?;
    Ok(())
}

/// Of the set-aside events, those the replay walks over: a replay is bounded
/// (it starts at most `import_max_age_days` back, at the service's first
/// detector minute once it has run), and an event that ended before it
/// began can never be found again. Such an event is kept as it was, set
/// aside for good: it is history the detector no longer holds in memory,
/// not an outage the replay took back.
const IN_REPLAY: &str = "CASE WHEN events.ended_at > events.detected_at THEN events.ended_at \
     ELSE events.detected_at END >= \
     (SELECT MIN(m.minute) FROM detector_minutes m WHERE m.service_id = events.service_id)";

/// The ids of a service's events set aside by a rewind and not (yet) found
/// again by its replay, oldest first (only those within the replay's reach).
pub fn set_aside_event_ids(conn: &Db, service_id: i64) -> Result<Vec<i64>, StoreError> {
    conn.query_map(
        &format!(
            "SELECT id FROM events WHERE service_id = ?1 AND seq < 0 AND {IN_REPLAY} \
             ORDER BY started_at"
        ),
        params![service_id],
        |r| r.get(0),
    )
    .context("reading set-aside events")
}

/// The services with events set aside by a rewind and not (yet) found again
/// by its replay (within its reach).
pub fn services_with_set_aside_events(conn: &Db) -> Result<Vec<i64>, StoreError> {
    conn.query_map(
        &format!("SELECT DISTINCT service_id FROM events WHERE seq < 0 AND {IN_REPLAY}"),
        params![],
        |r| r.get(0),
    )
    .context("reading set-aside events")
}

/// Marks an open event resolved at `at` (Unix seconds); a resolved one is left.
pub fn resolve_event(conn: &Db, id: i64, at: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE events SET status = 'resolved', resolved_at = ?2 WHERE id = ?1 AND status = 'open'",
        params![id, at],
    )
    .context("resolving an event")?;
    Ok(())
}

/// Deletes a service's events still set aside once its replay has caught up:
/// the ones within its reach that it did not find again. Alerts already queued or sent for them
/// stay in the delivery log; their ids are never given to another event (see
/// [`upsert_event`]).
pub fn drop_set_aside_events(conn: &Db, service_id: i64) -> Result<usize, StoreError> {
    conn.execute(
        &format!("DELETE FROM events WHERE service_id = ?1 AND seq < 0 AND {IN_REPLAY}"),
        params![service_id],
    )
    .context("dropping events a replay did not find")
}

/// Counts per value of one facet (`category` or a facet name) of a service
/// over `[from, to]` minutes, largest first.
pub fn facet_counts(
    conn: &Db,
    service_id: i64,
    facet: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let sql = if facet == "category" {
        "SELECT category, CAST(SUM(count) AS BIGINT) FROM report_minutes \
         WHERE service_id = ?1 AND minute >= ?3 AND minute <= ?4 \
         AND CAST(?2 AS TEXT) = 'category' \
         GROUP BY category ORDER BY 2 DESC, 1"
    } else {
        "SELECT value, CAST(SUM(count) AS BIGINT) FROM report_minute_facets \
         WHERE service_id = ?1 AND facet = ?2 AND minute >= ?3 AND minute <= ?4 \
         GROUP BY value ORDER BY 2 DESC, 1"
    };
    conn.query_map(sql, params![service_id, facet, from, to], |r| {
        Ok((r.get(0)?, r.get::<i64>(1)?.max(0) as u64))
    })
    .context("counting a facet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Status;
    use crate::detect::{OpenReason, Severity};
    use crate::store::{
        enqueue_announcement, insert_detector_minutes, open_writer, Announcement, DetectorMinute,
        OpenOptions,
    };

    const CROWD: EventNetworks = EventNetworks {
        networks: 40,
        top_network_share: 0.1,
        concentrated: false,
    };
    const FEW: EventNetworks = EventNetworks {
        networks: 2,
        top_network_share: 1.0,
        concentrated: true,
    };

    fn upsert(conn: &Db, e: &Event) -> i64 {
        upsert_event(conn, 1, e, &CROWD).unwrap().id
    }

    fn event(seq: u64, started_at: i64) -> Event {
        Event {
            id: seq,
            started_at,
            detected_at: started_at + 60,
            opened_by: OpenReason::Extreme,
            peak_at: started_at,
            peak: 90.0,
            peak_baseline: 3.0,
            ended_at: started_at + 120,
            resolved_at: None,
            total: 180,
            excess: 170.0,
            expected: 10.0,
            severity: Severity::Major,
            waves: Vec::new(),
        }
    }

    /// What a replay that started at `minute` leaves: its first detector minute.
    fn replayed_from(conn: &Db, minute: i64) {
        let row = DetectorMinute {
            service_id: 1,
            minute,
            baseline: 1.0,
            upper: 2.0,
            score: 0.0,
            status: Status::Ok,
        };
        insert_detector_minutes(conn, &[row]).unwrap();
    }

    #[test]
    fn an_event_before_a_bounded_replay_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("d.db"), &OpenOptions::default()).unwrap();
        conn.execute(
            "INSERT INTO services (id, slug, name, categories, created_at) \
             VALUES (1, 'claude', 'Claude', '[\"login\"]', 0)",
            params![],
        )
        .unwrap();
        let old = upsert(&conn, &event(1, 600));
        let recent = upsert(&conn, &event(2, 86_400));
        reset_detector(&conn, 1).unwrap();
        // The replay reaches back to an hour before the recent event only.
        replayed_from(&conn, 82_800);
        assert_eq!(set_aside_event_ids(&conn, 1).unwrap(), [recent]);
        assert_eq!(services_with_set_aside_events(&conn).unwrap(), [1]);
        assert_eq!(drop_set_aside_events(&conn, 1).unwrap(), 1);
        assert!(services_with_set_aside_events(&conn).unwrap().is_empty());
        let kept = get_event(&conn, old)
            .unwrap()
            .expect("the old event is kept");
        assert_eq!(kept.started_at, 600);
        // The relearning detector's own event 1 is a new row, not the old one.
        let new_first = upsert(&conn, &event(1, 90_000));
        assert_ne!(new_first, old);
    }

    #[test]
    fn an_event_a_replay_dropped_never_lends_its_id_or_its_alerts_to_another() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("d.db"), &OpenOptions::default()).unwrap();
        conn.execute_batch(
            "INSERT INTO services (id, slug, name, categories, created_at) \
             VALUES (1, 'claude', 'Claude', '[\"login\"]', 0); \
             INSERT INTO webhooks (id, url, format, services, min_severity, enabled, secret, \
             created_at) VALUES (1, 'https://hooks.example/x', 'generic', '[]', 'minor', 1, 's', 0);",
        )
        .unwrap();
        let opened = |event_id| {
            let a = Announcement {
                event_id,
                service: "claude",
                severity: Severity::Major,
                kind: crate::domain::MessageKind::Opened,
                wave: 0,
                payload: "{}",
                in_maintenance: false,
            };
            enqueue_announcement(&conn, &a, 0).unwrap()
        };
        let first = upsert(&conn, &event(1, 600));
        assert_eq!(opened(first), 1);
        assert_eq!(upsert(&conn, &event(1, 540)), first, "updated in place");
        assert_eq!(opened(first), 0, "announced once");

        // A replay from minute 0 found nothing; later the detector opens a
        // new event 1.
        reset_detector(&conn, 1).unwrap();
        assert!(
            set_aside_event_ids(&conn, 1).unwrap().is_empty(),
            "nothing is taken back before the replay has run"
        );
        replayed_from(&conn, 0);
        assert_eq!(set_aside_event_ids(&conn, 1).unwrap(), [first]);
        assert_eq!(drop_set_aside_events(&conn, 1).unwrap(), 1);
        let second = upsert(&conn, &event(1, 7_200));
        assert!(second > first, "id {second} after {first}");
        assert_eq!(opened(second), 1, "the new event is announced");
    }

    #[test]
    fn a_concentrated_event_is_promoted_once_and_never_demoted() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("d.db"), &OpenOptions::default()).unwrap();
        conn.execute(
            "INSERT INTO services (id, slug, name, categories, created_at) \
             VALUES (1, 'claude', 'Claude', '[\"login\"]', 0)",
            params![],
        )
        .unwrap();
        let e = event(1, 600);
        let first = upsert_event(&conn, 1, &e, &FEW).unwrap();
        assert!(first.concentrated && !first.promoted);
        assert!(get_event(&conn, first.id).unwrap().unwrap().concentrated);
        let again = upsert_event(&conn, 1, &e, &FEW).unwrap();
        assert_eq!(again, first, "still concentrated, nothing to announce");
        let crowd = upsert_event(&conn, 1, &e, &CROWD).unwrap();
        assert_eq!(
            (crowd.id, crowd.concentrated, crowd.promoted),
            (first.id, false, true)
        );
        let stored = get_event(&conn, first.id).unwrap().unwrap();
        assert_eq!(
            (stored.networks, stored.top_network_share),
            (Some(40), Some(0.1))
        );
        // A later flood from one network does not take it back.
        let later = upsert_event(&conn, 1, &e, &FEW).unwrap();
        assert!(!later.concentrated && !later.promoted);
        let stored = get_event(&conn, first.id).unwrap().unwrap();
        assert!(!stored.concentrated);
        assert_eq!(stored.networks, Some(2), "the figures follow the evidence");
    }
}
