//! The versioned message envelope that every app message travels in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An unguessable session identifier created by `weft-appd` (128 random bits, hex).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub String);

impl SessionId {
    /// Creates a fresh random session id.
    pub fn random() -> std::io::Result<SessionId> {
        crate::random_hex(16).map(SessionId)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two message streams of a session. Sequences are counted per stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StreamId {
    /// UI events, from the page toward the core.
    UiToCore,
    /// State updates, from the core toward the page.
    CoreToUi,
}

impl StreamId {
    /// The stable name used in logs and status output.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamId::UiToCore => "ui-to-core",
            StreamId::CoreToUi => "core-to-ui",
        }
    }
}

/// The class of a message; the broker checks it against the direction it travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MessageClass {
    /// An event from the page for the core (`ui-event`).
    UiEvent,
    /// A state update from the core for the page (`state-update`).
    StateUpdate,
    /// A session lifecycle notice (broker ↔ both).
    Lifecycle,
    /// An error reported by the broker (broker → both).
    Error,
}

impl MessageClass {
    /// The manifest and log spelling of the class.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::UiEvent => "ui-event",
            MessageClass::StateUpdate => "state-update",
            MessageClass::Lifecycle => "lifecycle",
            MessageClass::Error => "error",
        }
    }

    /// Parses the manifest spelling of a class.
    pub fn parse(s: &str) -> Option<MessageClass> {
        match s {
            "ui-event" => Some(MessageClass::UiEvent),
            "state-update" => Some(MessageClass::StateUpdate),
            "lifecycle" => Some(MessageClass::Lifecycle),
            "error" => Some(MessageClass::Error),
            _ => None,
        }
    }
}

/// One app message: a UI event or a state update.
///
/// `payload` is JSON text, kept as text on the wire: the broker parses it exactly once, to
/// validate it against the app's schema, and the receiving side parses it for its own use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The session this message belongs to.
    pub session_id: SessionId,
    /// The stream it travels on.
    pub stream_id: StreamId,
    /// Its class; must match the stream's direction.
    pub class: MessageClass,
    /// The app-declared message type.
    pub message_type: String,
    /// Position in its stream: the first message is 1, each next one is one more.
    pub sequence: u64,
    /// JSON text.
    pub payload: String,
    /// For coalescible state updates: a newer update with the same type and key replaces an
    /// older one that has not been delivered yet.
    pub coalesce_key: Option<String>,
}

impl Envelope {
    /// The size the session's message size limit applies to: type, payload and key bytes.
    pub fn size(&self) -> usize {
        message_size(&self.message_type, &self.payload, self.coalesce_key.as_deref())
    }
}

/// The size of a message as counted against size limits and byte credits.
pub fn message_size(message_type: &str, payload: &str, coalesce_key: Option<&str>) -> usize {
    message_type.len() + payload.len() + coalesce_key.map_or(0, str::len)
}
