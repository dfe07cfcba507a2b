//! Maintenance windows: when a service's outages are expected.

use super::{params, Context, Db, DbError, Row, StoreError};
use crate::domain::{MaintenanceWindow, WindowState};

/// One window of a service, in Unix seconds: open while
/// `starts_at <= t < ends_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub id: i64,
    pub service_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
    pub created_at: i64,
}

impl Maintenance {
    /// Open at `t` (Unix seconds).
    pub fn covers(&self, t: i64) -> bool {
        self.state(t) == WindowState::InProgress
    }

    /// Where it stands at `now`.
    pub fn state(&self, now: i64) -> WindowState {
        WindowState::at(self.starts_at, self.ends_at, now)
    }
}

const COLUMNS: &str = "id, service_id, starts_at, ends_at, reason, created_at";

fn from_row(r: &Row<'_>) -> Result<Maintenance, DbError> {
    Ok(Maintenance {
        id: r.get(0)?,
        service_id: r.get(1)?,
        starts_at: r.get(2)?,
        ends_at: r.get(3)?,
        reason: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Adds a window unless the service already has `max_windows` not yet
/// over at `now` (then `None`). Run it in a write transaction, so that two
/// additions cannot both pass the count.
pub fn insert_maintenance(
    conn: &Db,
    service_id: i64,
    window: &MaintenanceWindow,
    max_windows: usize,
    now: i64,
) -> Result<Option<Maintenance>, StoreError> {
    let open: i64 = conn
        .query_row(
            "SELECT count(*) FROM maintenance WHERE service_id = ?1 AND ends_at > ?2",
            params![service_id, now],
            |r| r.get(0),
        )
        .context("counting maintenance windows")?;
    if usize::try_from(open).unwrap_or(usize::MAX) >= max_windows {
        return Ok(None);
    }
    let id: i64 = conn
        .query_row(
            "INSERT INTO maintenance (service_id, starts_at, ends_at, reason, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            params![
                service_id,
                window.starts_at,
                window.ends_at,
                window.reason,
                now
            ],
            |r| r.get(0),
        )
        .context("adding a maintenance window")?;
    super::mark_pages_changed(conn)?;
    Ok(Some(Maintenance {
        id,
        service_id,
        starts_at: window.starts_at,
        ends_at: window.ends_at,
        reason: window.reason.clone(),
        created_at: now,
    }))
}

/// How long a window stays listed after it is over.
const LISTED_AFTER_END_SECS: i64 = 7 * 24 * 3600;

/// A service's windows as the API and the command line list them: those
/// not over at `now`, and those over within the last 7 days.
pub fn listed_maintenance(
    conn: &Db,
    service_id: i64,
    now: i64,
) -> Result<Vec<Maintenance>, StoreError> {
    list_maintenance(conn, service_id, now - LISTED_AFTER_END_SECS)
}

/// A service's windows that end after `since`, earliest first.
pub fn list_maintenance(
    conn: &Db,
    service_id: i64,
    since: i64,
) -> Result<Vec<Maintenance>, StoreError> {
    conn.query_map(
        &format!(
            "SELECT {COLUMNS} FROM maintenance WHERE service_id = ?1 AND ends_at > ?2 \
             ORDER BY starts_at, id"
        ),
        params![service_id, since],
        from_row,
    )
    .context("listing maintenance windows")
}

/// The latest `limit` windows made (of one service, or of all), newest
/// first, each with its service's slug: what the feed tells of.
pub fn recent_maintenance(
    conn: &Db,
    service_id: Option<i64>,
    limit: usize,
) -> Result<Vec<(Maintenance, String)>, StoreError> {
    conn.query_map(
        "SELECT m.id, m.service_id, m.starts_at, m.ends_at, m.reason, m.created_at, s.slug \
         FROM maintenance m JOIN services s ON s.id = m.service_id \
         WHERE CAST(?1 AS BIGINT) IS NULL OR m.service_id = ?1 ORDER BY m.id DESC LIMIT ?2",
        params![service_id, limit as i64],
        |r| Ok((from_row(r)?, r.get::<String>(6)?)),
    )
    .context("listing recent maintenance windows")
}

/// The window of a service open at `t`, if any (the one ending last when
/// several overlap).
pub fn maintenance_at(
    conn: &Db,
    service_id: i64,
    t: i64,
) -> Result<Option<Maintenance>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM maintenance \
             WHERE service_id = ?1 AND ends_at > ?2 AND starts_at <= ?2 \
             ORDER BY ends_at DESC LIMIT 1"
        ),
        params![service_id, t],
        from_row,
    )
    .context("reading a maintenance window")
}

/// What ending a window did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndedMaintenance {
    /// It had not begun: it is gone.
    Cancelled,
    /// It was open: it ends now.
    EndedNow(Maintenance),
    /// It had already ended: nothing changed.
    AlreadyOver,
    /// The service has no window with that id.
    Unknown,
}

/// Ends a window of `service_id` at `now`: one not yet begun is deleted,
/// an open one ends now. A change marks the pages changed, as adding one
/// does.
pub fn end_maintenance(
    conn: &Db,
    service_id: i64,
    id: i64,
    now: i64,
) -> Result<EndedMaintenance, StoreError> {
    let found = conn
        .query_opt(
            &format!("SELECT {COLUMNS} FROM maintenance WHERE id = ?1 AND service_id = ?2"),
            params![id, service_id],
            from_row,
        )
        .context("reading a maintenance window")?;
    let Some(window) = found else {
        return Ok(EndedMaintenance::Unknown);
    };
    if window.ends_at <= now {
        return Ok(EndedMaintenance::AlreadyOver);
    }
    if window.starts_at >= now {
        conn.execute("DELETE FROM maintenance WHERE id = ?1", params![id])
            .context("cancelling a maintenance window")?;
        super::mark_pages_changed(conn)?;
        return Ok(EndedMaintenance::Cancelled);
    }
    conn.execute(
        "UPDATE maintenance SET ends_at = ?2 WHERE id = ?1",
        params![id, now],
    )
    .context("ending a maintenance window")?;
    super::mark_pages_changed(conn)?;
    Ok(EndedMaintenance::EndedNow(Maintenance {
        ends_at: now,
        ..window
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{insert_service, open_writer, NewService, OpenOptions};

    fn db() -> (tempfile::TempDir, Db, i64) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path().join("m.db"), &OpenOptions::default()).unwrap();
        let service = insert_service(
            &conn,
            &NewService {
                slug: crate::domain::ServiceSlug::parse("claude").unwrap(),
                name: "Claude".into(),
                categories: crate::domain::CategoryList::default_list(),
                depends_on: Default::default(),
            },
            0,
        )
        .unwrap();
        (dir, conn, service.id)
    }

    fn add(conn: &Db, id: i64, starts_at: i64, ends_at: i64) -> Maintenance {
        let window = MaintenanceWindow {
            starts_at,
            ends_at,
            reason: "upgrade".into(),
        };
        insert_maintenance(conn, id, &window, 10, 500)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn no_more_windows_than_the_bound_are_open_at_once() {
        let (_dir, conn, id) = db();
        let window = MaintenanceWindow {
            starts_at: 1_000,
            ends_at: 2_000,
            reason: String::new(),
        };
        assert!(insert_maintenance(&conn, id, &window, 2, 500)
            .unwrap()
            .is_some());
        assert!(insert_maintenance(&conn, id, &window, 2, 500)
            .unwrap()
            .is_some());
        assert_eq!(
            insert_maintenance(&conn, id, &window, 2, 500).unwrap(),
            None
        );
        // Once they are over, there is room again.
        let later = MaintenanceWindow {
            starts_at: 3_000,
            ends_at: 4_000,
            reason: String::new(),
        };
        assert!(insert_maintenance(&conn, id, &later, 2, 2_000)
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_window_covers_its_start_and_not_its_end() {
        let (_dir, conn, id) = db();
        let w = add(&conn, id, 1_000, 2_000);
        assert_eq!(maintenance_at(&conn, id, 999).unwrap(), None);
        assert_eq!(maintenance_at(&conn, id, 1_000).unwrap(), Some(w.clone()));
        assert_eq!(maintenance_at(&conn, id, 1_999).unwrap(), Some(w.clone()));
        assert_eq!(maintenance_at(&conn, id, 2_000).unwrap(), None);
        assert_eq!(maintenance_at(&conn, id + 1, 1_500).unwrap(), None);
        assert_eq!(
            list_maintenance(&conn, id, 0).unwrap(),
            std::slice::from_ref(&w)
        );
        assert!(list_maintenance(&conn, id, 2_000).unwrap().is_empty());
        assert!(w.covers(1_000) && !w.covers(2_000));
    }

    #[test]
    fn ending_cancels_a_future_window_and_cuts_an_open_one() {
        let (_dir, conn, id) = db();
        let open = add(&conn, id, 1_000, 2_000);
        let later = add(&conn, id, 5_000, 6_000);
        let cut = end_maintenance(&conn, id, open.id, 1_500).unwrap();
        assert_eq!(
            cut,
            EndedMaintenance::EndedNow(Maintenance {
                ends_at: 1_500,
                ..open.clone()
            })
        );
        assert_eq!(maintenance_at(&conn, id, 1_600).unwrap(), None);
        assert_eq!(
            end_maintenance(&conn, id, open.id, 1_600).unwrap(),
            EndedMaintenance::AlreadyOver
        );
        assert_eq!(
            end_maintenance(&conn, id, later.id, 1_600).unwrap(),
            EndedMaintenance::Cancelled
        );
        assert_eq!(
            end_maintenance(&conn, id, later.id, 1_600).unwrap(),
            EndedMaintenance::Unknown
        );
        assert_eq!(
            end_maintenance(&conn, id + 1, open.id, 1_600).unwrap(),
            EndedMaintenance::Unknown
        );
    }
}
