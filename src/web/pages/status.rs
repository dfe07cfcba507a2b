//! Where a service stands now, as the pages and the feed show it, read from
//! the monitor's status board.

use crate::api::AppState;
use crate::detect::Status;
use crate::store;
use std::sync::Arc;

/// Where a service stands now: `ok`, `elevated` or `outage` (an open event
/// from too few networks is `elevated`).
pub fn status_of(state: &AppState, service: &Arc<store::Service>) -> Status {
    state
        .monitor
        .board
        .get(service.id)
        .map_or(Status::Ok, |s| s.shown())
}

/// Whether a service's open event came from too few networks.
pub(super) fn concentrated_now(state: &AppState, service: &Arc<store::Service>) -> bool {
    state
        .monitor
        .board
        .get(service.id)
        .is_some_and(|s| s.status == Status::Outage && s.concentrated)
}
