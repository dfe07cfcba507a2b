//! Each service's detector and its memory: the detector the monitor feeds,
//! how far it has come, and the saving of its state so that a restart
//! resumes where it stopped (the replay since then is deterministic).

use crate::detect::SeriesDetector;
use crate::store::Db;
use crate::store::{self, StoreError};

/// A service's detector as the monitor follows it.
pub(super) struct Tracked {
    pub detector: SeriesDetector,
    /// Start of the last minute processed.
    pub last: i64,
    /// Minutes processed since the memory was last saved.
    pub unsaved: i64,
}

/// A detector's memory, as it is saved.
pub(super) fn memory(t: &Tracked) -> Result<String, StoreError> {
    serde_json::to_string(t.detector.state()).map_err(|source| StoreError::Encode {
        what: "a detector's state",
        source,
    })
}

pub(super) fn save(conn: &Db, service_id: i64, t: &mut Tracked) -> Result<(), StoreError> {
    store::save_detector_state(conn, service_id, t.last, &memory(t)?)?;
    t.unsaved = 0;
    Ok(())
}
