//! What a test says to the test UI peer, and what the peer reports back (JSON lines).

use serde::{Deserialize, Serialize};
use weft_ipc::ui_client::UiNotice;

/// A command from the test to the peer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Command {
    /// `weft.channel.send(type, payload)`.
    Send {
        /// The message type.
        message_type: String,
        /// The payload.
        payload: serde_json::Value,
    },
    /// A send whose payload text is passed through verbatim (to send invalid JSON).
    SendText {
        /// The message type.
        message_type: String,
        /// The payload as text.
        payload_text: String,
    },
    /// Whether the page consumes (grants credit for) state updates as they arrive.
    SetConsuming {
        /// On or off; turning it on grants credit for what arrived meanwhile.
        on: bool,
    },
    /// Report `readyState` and `desiredSize`.
    State,
    /// The user closes the app.
    Close,
    /// Send a frame the binding would never send: `wrong-session`, `wrong-class`,
    /// `skip-sequence`, `credit-flood`, `test-control` (a kill-core request outside test mode).
    Forge {
        /// Which forgery.
        kind: String,
    },
    /// Write `count` raw datagrams of one forged kind (`weft_ipc::forge::Forgery`, by name)
    /// onto the peer's socket to appd, below ipc-channel's sender (a compromised UI process),
    /// then report [`Event::DatagramsForged`].
    ForgeDatagram {
        /// Which forgery (`Forgery::name`).
        kind: String,
        /// How many datagrams.
        count: u32,
    },
    /// Send `message_type` with payload `{"i": n}` as fast as credit allows for `seconds`
    /// (like a page awaiting `ready` between bursts), then report [`Event::FloodDone`] once
    /// every send is settled and every echo arrived — or at once, before the
    /// [`Event::SessionEnd`], if the session ends during the flood.
    Flood {
        /// The message type.
        message_type: String,
        /// How long to keep sending.
        seconds: f64,
    },
    /// Try to join the session a second time with the same bootstrap.
    SecondConnect,
    /// Exit the process at once with this code (a UI crash).
    Exit {
        /// The exit code.
        code: i32,
    },
}

/// An event from the peer to the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Joined the session.
    Welcome {
        /// The session id.
        session_id: String,
        /// The app name.
        app: String,
    },
    /// A send left (or waits for credit) with this sequence.
    Sent {
        /// Its sequence.
        sequence: u64,
    },
    /// A send was refused before it left the UI.
    Refused {
        /// The DOM exception name.
        name: String,
        /// The reason code.
        code: String,
        /// The explanation.
        detail: String,
    },
    /// The broker admitted the send with this sequence (the promise resolves).
    Admitted {
        /// Its sequence.
        sequence: u64,
    },
    /// The broker (or the session's end) refused the send with this sequence.
    Rejected {
        /// Its sequence.
        sequence: u64,
        /// The DOM exception name.
        name: String,
        /// The reason code.
        code: String,
        /// The explanation.
        detail: String,
    },
    /// A state update arrived.
    Message {
        /// Its type.
        message_type: String,
        /// Its sequence toward the page.
        sequence: u64,
        /// Its payload.
        payload: serde_json::Value,
    },
    /// A non-terminal error from the broker.
    Error {
        /// The DOM exception name.
        name: String,
        /// The reason code.
        code: String,
        /// The explanation.
        detail: String,
    },
    /// The session ended.
    SessionEnd {
        /// The reason code.
        reason: String,
        /// The explanation.
        detail: String,
        /// Admitted UI events the core had not confirmed.
        unconfirmed_ui_events: u64,
        /// State updates that never reached the page.
        undelivered_state_updates: u64,
    },
    /// A flood finished.
    FloodDone {
        /// Sends made.
        sent: u64,
        /// Sends admitted.
        admitted: u64,
        /// Sends refused.
        refused: u64,
        /// State updates received during the flood.
        received: u64,
        /// Whether the received updates' sequences (from 1) and `i` values (from 0) were each
        /// strictly consecutive: no duplicate, no gap, no reordering.
        in_order: bool,
    },
    /// [`Command::ForgeDatagram`] wrote this many datagrams (fewer if a write failed: `error`).
    DatagramsForged {
        /// Datagrams written.
        sent: u32,
        /// Why the rest were not written, if any were not.
        error: Option<String>,
    },
    /// The result of [`Command::SecondConnect`].
    SecondConnect {
        /// Whether the second join was refused.
        refused: bool,
        /// What happened.
        detail: String,
    },
    /// The answer to [`Command::State`].
    State {
        /// `readyState`.
        ready_state: String,
        /// `desiredSize`.
        desired_size: i64,
    },
}

impl Event {
    /// The event for a notice of the UI state machine.
    pub fn from_notice(notice: UiNotice) -> Event {
        match notice {
            UiNotice::Admitted(sequence) => Event::Admitted { sequence },
            UiNotice::Rejected(sequence, r) => {
                Event::Rejected { sequence, name: r.kind.name().into(), code: r.kind.code().into(), detail: r.detail }
            }
            UiNotice::Message(e) => Event::Message {
                message_type: e.message_type,
                sequence: e.sequence,
                payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::String(e.payload)),
            },
            UiNotice::Error(r) => {
                Event::Error { name: r.kind.name().into(), code: r.kind.code().into(), detail: r.detail }
            }
            UiNotice::SessionEnd(end) => Event::SessionEnd {
                reason: end.reason.code().into(),
                detail: end.detail,
                unconfirmed_ui_events: end.unconfirmed_ui_events,
                undelivered_state_updates: end.undelivered_state_updates,
            },
        }
    }
}
