//! Why a session ended: stable reason codes that both survivors see.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The reason a session ended. Its [`code`](EndReason::code) is what the page sees as
/// `sessionend` `event.reason`; the spelling is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndReason {
    /// The core process exited on its own (or could not start its component).
    CoreExited,
    /// The core process died from a signal or an abnormal exit.
    CoreCrashed,
    /// The core's Wasm trapped (unreachable, out of memory, stack overflow, panic).
    CoreTrapped,
    /// The core overran its per-event deadline or stopped answering the watchdog.
    CoreUnresponsive,
    /// The broker went away; seen only by the survivors, never sent by the broker.
    BrokerLost,
    /// A peer sent something that breaks the protocol (malformed frame, wrong session,
    /// broken sequence, credit overrun, wrong class for its direction).
    ProtocolViolation,
    /// The user closed the app (the UI asked to end the session).
    AppClosed,
    /// The UI endpoint disconnected without closing the app.
    UiLost,
    /// The session was ended by the operator (`weft-appd end`) or the daemon shutting down.
    Ended,
}

impl EndReason {
    /// Every reason, for documentation and tests.
    pub const ALL: [EndReason; 9] = [
        EndReason::CoreExited,
        EndReason::CoreCrashed,
        EndReason::CoreTrapped,
        EndReason::CoreUnresponsive,
        EndReason::BrokerLost,
        EndReason::ProtocolViolation,
        EndReason::AppClosed,
        EndReason::UiLost,
        EndReason::Ended,
    ];

    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            EndReason::CoreExited => "core-exited",
            EndReason::CoreCrashed => "core-crashed",
            EndReason::CoreTrapped => "core-trapped",
            EndReason::CoreUnresponsive => "core-unresponsive",
            EndReason::BrokerLost => "broker-lost",
            EndReason::ProtocolViolation => "protocol-violation",
            EndReason::AppClosed => "app-closed",
            EndReason::UiLost => "ui-lost",
            EndReason::Ended => "session-ended",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The terminal notice of a session, sent to each surviving peer exactly once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnd {
    /// The reason code.
    pub reason: EndReason,
    /// A human-readable explanation (exit status, trap message, violation).
    pub detail: String,
    /// UI events the broker admitted whose consumption the core had not confirmed when the
    /// session ended: they may not have been processed. Reported, never silent. (Sends the
    /// broker had not admitted are rejected to the page with `InvalidStateError`.)
    pub unconfirmed_ui_events: u64,
    /// State updates the broker accepted from the core that had not reached the page.
    pub undelivered_state_updates: u64,
}
