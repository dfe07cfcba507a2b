//! The way in for reports: who is reporting (a keyed hash, never the
//! address), how fast they may report (the rate limiter), and the bounded queue
//! into the group-commit writer that makes each report durable before it is
//! acknowledged.

mod ack;
mod dedup;
mod forwarded;
mod limiter;
mod mailbox;
mod networks;
mod reporter;
mod writer;

pub use ack::{Ack, Counting, IngestError, PendingReport};
pub use forwarded::{client_address, ForwardedHeader};
pub use limiter::{Rate, ReportLimiter};
pub use mailbox::{local_mailbox, Mailbox};
pub use networks::window_secs as network_window_secs;
pub use reporter::ReporterKey;
pub use writer::{
    GroupCommitWriter, IngestHandle, WriterConfig, WriterThread as WriterThreadHandle,
};
