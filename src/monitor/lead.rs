//! The detector on several nodes (PostgreSQL): the monitor of every node
//! runs, but only the one whose connection holds the leadership
//! (`store::try_lead`) detects and writes. The others follow: each second
//! they try to take the lead, and meanwhile show on their own board what the
//! leader wrote. A follower that takes the lead starts as a restarted node
//! does, from the saved memories and the stored counts, so the outage it
//! finds open is the same event, updated, never opened again. On SQLite one
//! node has the database to itself and always leads.

use super::{Monitor, ServiceStatus, StoreError};
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
            let statuses = store::latest_statuses(&self.conn)?;
            let newest = statuses.iter().map(|(_, m, _)| m.minute).max();
            self.board
                .set_all(statuses.into_iter().map(|(id, m, concentrated)| {
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
                self.board.publish(minute);
            }
            self.board_seen = version;
        }
        Ok(())
    }
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
