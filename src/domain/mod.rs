//! Domain newtypes that parse at the edge and never panic.
//!
//! Everything a client sends is turned into one of these types before it goes
//! further; past the edge, code takes the newtype and never re-validates.

mod category;
mod comment;
mod error_code;
mod format;
mod message;
mod minute;
mod network;
mod platform;
mod providers;
mod region;
mod slug;
mod window;

pub use crate::detect::vocabulary::UnknownWord;
pub use category::{Category, CategoryList};
pub use comment::Comment;
pub use error_code::ErrorCode;
pub use format::WebhookFormat;
pub use message::{AlertPolicy, MessageKind};
pub use minute::{rfc3339, Minute};
pub use network::{ClientAddr, HostKey, NetworkKeys, Scope};
pub use platform::{Platform, ServiceName};
pub use providers::ProviderList;
pub use region::Region;
pub use slug::ServiceSlug;
pub use window::{MaintenanceWindow, WindowLimits, WindowRequest, WindowState};

/// Why a value sent by a client was refused. The `code` is stable and part of
/// the API; the message is a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub code: &'static str,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        ParseError {
            code,
            message: message.into(),
        }
    }
}
