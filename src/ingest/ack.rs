//! What the writer answers a report: acknowledged (stored, and whether it
//! counts) or refused (queue full, shutting down, storage failed). Shared by
//! the writer and the mailboxes that carry answers back to the handlers.

use crate::domain::Minute;
use crate::store;
use tokio::sync::oneshot;

/// A validated report on its way to the writer.
pub type PendingReport = store::Report;

/// What the writer answers once a report is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub id: i64,
    pub counting: Counting,
    pub minute: Minute,
}

/// Whether a stored report counts, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Counted,
    /// The same reporter already counted for this service within the window.
    Duplicate,
    /// Its address already counted `dedup_max_per_address` reports for this
    /// service within the window (through several client tokens).
    AddressLimit,
}

impl Counting {
    pub fn counted(self) -> bool {
        self == Counting::Counted
    }

    /// Why it did not count, as the API says it; `None` if it did.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Counting::Counted => None,
            Counting::Duplicate => Some("duplicate"),
            Counting::AddressLimit => Some("address_limit"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("the ingest queue is full")]
    QueueFull,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("the database could not store the report")]
    Storage,
}

pub(super) type AckReply = oneshot::Sender<Result<Ack, IngestError>>;
