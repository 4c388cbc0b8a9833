//! Why one message was refused. The session goes on; the sender is told.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of refusal. [`name`](RejectKind::name) is the `Error.name` a page's `send()`
/// promise rejects with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectKind {
    /// The message type is not declared for this app and direction.
    UnknownType,
    /// The payload is not valid JSON text.
    InvalidJson,
    /// The payload does not match the declared schema.
    SchemaMismatch,
    /// A coalescing key on a type not declared coalescible.
    NotCoalescible,
    /// The message is larger than the session's size limit.
    TooLarge,
    /// The session has ended.
    SessionClosed,
    /// The core's `handle-event` returned an error for this event (reported as an `error`
    /// event; the session goes on).
    CoreError,
}

impl RejectKind {
    /// The DOM exception name the page sees.
    pub fn name(self) -> &'static str {
        match self {
            RejectKind::UnknownType
            | RejectKind::InvalidJson
            | RejectKind::SchemaMismatch
            | RejectKind::NotCoalescible => "DataError",
            RejectKind::TooLarge => "QuotaExceededError",
            RejectKind::SessionClosed => "InvalidStateError",
            RejectKind::CoreError => "OperationError",
        }
    }

    /// A stable machine code for logs and counters.
    pub fn code(self) -> &'static str {
        match self {
            RejectKind::UnknownType => "unknown-type",
            RejectKind::InvalidJson => "invalid-json",
            RejectKind::SchemaMismatch => "schema-mismatch",
            RejectKind::NotCoalescible => "not-coalescible",
            RejectKind::TooLarge => "too-large",
            RejectKind::SessionClosed => "session-closed",
            RejectKind::CoreError => "core-error",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal of one message, with a precise explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// What kind of refusal.
    pub kind: RejectKind,
    /// Why, precisely (e.g. the schema path that failed).
    pub detail: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind.name(), self.kind.code(), self.detail)
    }
}
