//! The detector on several nodes (PostgreSQL): the monitor of every node
//! runs, but only the one whose connection holds the leadership
//! (`store::try_lead`) detects and writes. The others follow: each second
//! they try to take the lead, and meanwhile show on their own board what the
//! leader wrote. A follower that takes the lead starts as a restarted node
//! does, from the saved memories and the stored counts, so the outage it
//! finds open is the same event, updated, never opened again. On SQLite one
//! node has the database to itself and always leads.

use super::{Monitor, ServiceStatus, StatusBoard, StoreError};
use crate::detect::Status;
use crate::domain::Minute;
use crate::store::{self, Context as _, Dialect, Tx};

/// Where this node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lead {
    /// SQLite: the only node.
    Alone,
    /// Holds the leadership.
    Leading,
    /// Another node leads, or none yet.
    Following,
}

impl Lead {
    pub(super) fn of(conn: &store::Db) -> Lead {
        match conn.dialect() {
            Dialect::Sqlite => Lead::Alone,
            Dialect::Postgres => Lead::Following,
        }
    }
}

impl Monitor {
    /// One turn of the loop: a tick where this node leads, else a try at
    /// the lead and, failing that, the leader's news on the board.
    pub(super) fn step(&mut self, force_scan: bool) -> Result<(), StoreError> {
        if self.lead == Lead::Following {
            if !store::try_lead(&self.conn)? {
                return self.follow();
            }
            self.take_over()?;
        }
        if self.lead == Lead::Leading {
            let rewinds = store::take_rewinds(&self.conn)?;
            if !rewinds.is_empty() {
                self.rewind(&rewinds)?;
            }
        }
        match self.tick(force_scan) {
            Err(StoreError::NotLeader) => {
                self.step_down();
                Ok(())
            }
            other => other,
        }
    }

    /// Begins one of the detector's write transactions; on a node that
    /// shares the database, only while its session still leads (and marks
    /// the board changed for the followers).
    pub(super) fn write_tx(&self, what: &'static str) -> Result<Tx<'_>, StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        write_tx(&self.conn, self.lead, now_ms, what)
    }

    /// Starts leading as a restarted node starts: the saved memories, the
    /// incident assignment, every service tracked again at its next tick.
    fn take_over(&mut self) -> Result<(), StoreError> {
        self.saved = store::load_detector_states(&self.conn)?
            .into_iter()
            .map(|(id, last, state)| (id, (last, state)))
            .collect();
        self.incidents = super::IncidentPass::load(&self.conn, self.incidents.settings())?;
        self.tracked.clear();
        self.lead = Lead::Leading;
        tracing::info!("this node now leads the detector");
        Ok(())
    }

    /// Another node leads now (this one's session ended): forget the
    /// detectors, which the leader carries on from what is stored.
    fn step_down(&mut self) {
        self.tracked.clear();
        self.saved.clear();
        self.lead = Lead::Following;
        self.board_seen = None;
        tracing::warn!("this node no longer leads the detector; following");
    }

    /// Shows what the leader wrote, when it wrote something since last
    /// time; leaves rewinds asked for by imports here for the leader.
    fn follow(&mut self) -> Result<(), StoreError> {
        let version = store::board_version(&self.conn)?;
        if version.is_some() && version != self.board_seen {
            show_stored(&self.conn, &self.board)?;
            self.board_seen = version;
        }
        Ok(())
    }
}

/// Sets every service's latest stored detector minute on `board`: what a
/// follower shows, and what any node shows from its start until its
/// detector has moved on.
pub(super) fn show_stored(conn: &store::Db, board: &StatusBoard) -> Result<(), StoreError> {
    let statuses = store::latest_statuses(conn)?;
    let newest = statuses.iter().map(|(_, m, _)| m.minute).max();
    board.set_all(statuses.into_iter().map(|(id, m, concentrated)| {
        let status = ServiceStatus {
            status: m.status,
            minute: Minute::from_unix(m.minute),
            count: m.count,
            baseline: m.baseline,
            upper: m.upper,
            score: m.score,
            concentrated: concentrated && m.status == Status::Outage,
        };
        (id, status)
    }));
    if let Some(minute) = newest {
        board.publish(minute);
    }
    Ok(())
}

/// [`Monitor::write_tx`] for a caller that holds other fields of the
/// monitor.
pub(super) fn write_tx<'a>(
    conn: &'a store::Db,
    lead: Lead,
    now_ms: i64,
    what: &'static str,
) -> Result<Tx<'a>, StoreError> {
    let tx = conn.transaction().context(what)?;
    if lead == Lead::Leading {
        if !store::still_leading(&tx)? {
            return Err(StoreError::NotLeader);
        }
        store::mark_board_changed(&tx, now_ms)?;
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::super::{Monitor, MonitorHandle};
    use crate::alert::AlertSettings;
    use crate::clock::ManualClock;
    use crate::detect::{DetectorParams, Status};
    use crate::incident::IncidentSettings;
    use crate::store::{open_writer, OpenOptions};
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;
    use std::time::Duration;

    const MINUTE: i64 = 1_772_452_800; // 2 March 2026, 12:00 UTC

    fn spawn(conn: crate::store::Db) -> (MonitorHandle, super::super::MonitorThread) {
        let clock = Arc::new(ManualClock::new(
            Utc.timestamp_opt(MINUTE + 150, 0).unwrap(),
        ));
        Monitor::spawn(
            conn,
            clock,
            DetectorParams::default(),
            Duration::from_secs(5),
            Duration::from_secs(86_400),
            AlertSettings::for_tests(),
            IncidentSettings::default(),
        )
        .unwrap()
    }

    /// A node's board holds the statuses last written as soon as its
    /// monitor exists, before the detector's first step (which may be a
    /// long catch-up): a page served at once shows an outage, not "no
    /// problems". Neither service has a saved memory or counts here, so the
    /// detector's own steps set nothing for them.
    #[test]
    fn the_board_shows_the_stored_statuses_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("b.db"), &OpenOptions::default()).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO services (id, slug, name, categories, created_at) VALUES \
                 (1, 'claude', 'Claude', '[\"login\"]', 0), \
                 (2, 'aws', 'AWS', '[\"login\"]', 0), \
                 (3, 'new', 'New', '[\"login\"]', 0); \
             INSERT INTO detector_minutes (service_id, minute, baseline, upper, score, status) \
                 VALUES (1, {m0}, 2, 9, 1, 'ok'), (1, {m1}, 2, 9, 40, 'outage'), \
                        (2, {m1}, 2, 9, 30, 'outage'); \
             INSERT INTO events (id, service_id, seq, status, started_at, detected_at, \
                 opened_by, peak_at, peak, ended_at, total, excess, expected, severity, waves, \
                 peak_baseline, concentrated) VALUES (7, 2, 1, 'open', {m1}, {m1}, 'extreme', \
                 {m1}, 90, {m1}, 90, 88, 2, 'major', '[]', 2, 1);",
            m0 = MINUTE - 60,
            m1 = MINUTE,
        ))
        .unwrap();
        let (handle, thread) = spawn(conn);
        let claude = handle.board.get(1).expect("claude's stored status");
        assert_eq!(
            (claude.status, claude.minute.unix(), claude.score),
            (Status::Outage, MINUTE, 40.0)
        );
        assert_eq!(claude.shown(), Status::Outage);
        let aws = handle.board.get(2).expect("aws's stored status");
        assert_eq!(aws.status, Status::Outage);
        assert_eq!(aws.shown(), Status::Elevated, "from too few networks");
        assert!(handle.board.get(3).is_none(), "no minute judged yet");
        assert!(handle.board.generation() > 0, "live pages are told");
        thread.shutdown();
    }
}
