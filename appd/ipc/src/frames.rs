//! The frames of a session's two endpoints. Each IPC message is a batch (`Vec`) of frames,
//! so a busy writer pays one system call for many frames.
//!
//! Every endpoint starts with a handshake: the connecting peer's first frame must be its
//! `Hello` (with the protocol version and the per-session secret), answered by `Welcome`.
//! A second `Hello`, or anything before the first, is a protocol violation.

use crate::credit::Credit;
use crate::envelope::{Envelope, SessionId};
use crate::reason::SessionEnd;
use crate::rejection::Rejection;
use crate::transport::WireSize;
use ipc_channel::ipc::IpcSender;
use serde::{Deserialize, Serialize};

/// The first frame from the UI endpoint.
#[derive(Debug, Serialize, Deserialize)]
pub struct UiHello {
    /// The protocol version the UI speaks.
    pub protocol_version: u32,
    /// The session it claims.
    pub session_id: SessionId,
    /// The per-session secret handed only to the UI process appd launched.
    pub secret: String,
    /// Where the broker sends frames for the UI. Decoded only in the handshake.
    #[serde(deserialize_with = "crate::transport::deserialize_peer_sender")]
    pub to_ui: IpcSender<Vec<BrokerToUi>>,
}

/// The broker's answer to a valid [`UiHello`]: the session's limits and the first credits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiWelcome {
    /// The protocol version the session runs (always the UI's, or the UI was refused).
    pub protocol_version: u32,
    /// The session.
    pub session_id: SessionId,
    /// The app's name from its manifest.
    pub app_name: String,
    /// Largest message the page may send (type + payload bytes).
    pub max_message_bytes: u32,
    /// How many sends may wait for credit in the UI before further sends are refused.
    pub max_pending_sends: u32,
    /// The UI event types the app declares (the page may check them early).
    pub ui_event_types: Vec<String>,
    /// The credit the UI starts with for UI events.
    pub initial_credit: Credit,
    /// Whether the session was launched in test mode (`weft-appd run --test-control`): only
    /// then does the broker accept [`UiToBroker::TestControl`].
    pub test_control: bool,
}

/// A fault a test asks the broker to inject (test mode only): the failure model made
/// reachable from a test page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestAction {
    /// Kill the core process with SIGKILL (the session ends as `core-crashed`).
    KillCore,
    /// Make the core trap: the core host fails the core's next host call with a trap (the
    /// session ends as `core-trapped` on the next UI event).
    TrapCore,
    /// Make the core host attempt a system call outside its seccomp allowlist (`socket`), as a
    /// core that escaped Wasmtime would: the sandbox stops it and the session ends as
    /// `core-crashed`, its detail naming the call.
    ForbiddenSyscall,
}

/// A frame from the UI endpoint to the broker.
#[derive(Debug, Serialize, Deserialize)]
pub enum UiToBroker {
    /// The handshake; first frame only.
    Hello(UiHello),
    /// A UI event (class `UiEvent`, stream `UiToCore`).
    Message(Envelope),
    /// The UI consumed state updates: the broker may deliver this many more.
    Credit(Credit),
    /// The user closed the app; ends the session as `app-closed`.
    Close,
    /// A new document of the app's UI attached to the session (a reload, or a navigation to
    /// another page of the app's `ui/`): the core is told, so it can send its state again.
    PageAttached,
    /// Inject a fault (test mode only; otherwise a protocol violation).
    TestControl(TestAction),
    /// How the UI process is confined (the shell sends it once, after the welcome).
    Confined(Confinement),
}

/// A frame from the broker to the UI endpoint.
#[derive(Debug, Serialize, Deserialize)]
pub enum BrokerToUi {
    /// The handshake answer.
    Welcome(UiWelcome),
    /// A state update from the core, sequenced by the broker after coalescing (no gaps).
    Message(Envelope),
    /// The UI event with this sequence was validated and handed to the core.
    Admitted {
        /// The UI event's sequence.
        sequence: u64,
    },
    /// The UI event with this sequence was refused; the session goes on.
    Rejected {
        /// The UI event's sequence.
        sequence: u64,
        /// Why.
        rejection: Rejection,
    },
    /// More credit for UI events (relayed from the core, or returned for a refused event).
    Credit(Credit),
    /// A non-terminal error the page should hear about (e.g. the core emitted an invalid
    /// state update, which was dropped).
    Error(Rejection),
    /// The session ended. The last frame on this endpoint.
    SessionEnd(SessionEnd),
}

/// The first frame from the core host.
#[derive(Debug, Serialize, Deserialize)]
pub struct CoreHello {
    /// The protocol version the core host speaks.
    pub protocol_version: u32,
    /// The session it claims.
    pub session_id: SessionId,
    /// The per-session core secret handed to it by appd.
    pub secret: String,
    /// Where the broker sends frames for the core. Decoded only in the handshake.
    #[serde(deserialize_with = "crate::transport::deserialize_peer_sender")]
    pub to_core: IpcSender<Vec<BrokerToCore>>,
}

/// Capabilities a session may be granted at launch (from the manifest). They change what the
/// core host gives the core; they never travel over the channel as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Capability {
    /// Real wall and monotonic clocks instead of deterministic ones.
    Clock,
    /// Real random numbers instead of a fixed-seed generator.
    Random,
}

impl Capability {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Clock => "clock",
            Capability::Random => "random",
        }
    }

    /// Parses the manifest spelling.
    pub fn parse(s: &str) -> Option<Capability> {
        match s {
            "clock" => Some(Capability::Clock),
            "random" => Some(Capability::Random),
            _ => None,
        }
    }
}

/// Limits the core host enforces inside the Wasm sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreLimits {
    /// Largest linear memory, in bytes.
    pub max_memory_bytes: u64,
    /// Wall-clock budget for `init` and for each `handle-event`, in milliseconds.
    pub event_deadline_ms: u64,
    /// State updates the host buffers while it has no credit (keyed ones coalesce).
    pub outbox_capacity: u32,
}

/// The broker's answer to a valid [`CoreHello`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreWelcome {
    /// The protocol version the session runs.
    pub protocol_version: u32,
    /// The session.
    pub session_id: SessionId,
    /// Capabilities granted at launch.
    pub capabilities: Vec<Capability>,
    /// Sandbox limits.
    pub limits: CoreLimits,
    /// Largest state update the core may emit.
    pub max_message_bytes: u32,
    /// The credit the core starts with for state updates.
    pub initial_credit: Credit,
    /// UI events of earlier sessions that the core replays after `init` and before any live
    /// event, its state updates meanwhile discarded (`weft dev` carrying a core's state across
    /// a rebuild; see `weft-appd run --carry-state-from`). Empty otherwise.
    pub carried_events: Vec<CarriedEvent>,
}

/// A UI event replayed into a fresh core: its type and payload, as the broker admitted them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedEvent {
    /// The UI event's type.
    pub message_type: String,
    /// Its payload (JSON text).
    pub payload: String,
}

/// What happened inside the core host, reported before it exits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoreLifecycle {
    /// The component instantiated and `init` returned; UI events may flow.
    Ready,
    /// The component could not be loaded or instantiated, or `init` failed.
    StartFailed(String),
    /// The Wasm trapped.
    Trapped(String),
    /// A call overran its deadline.
    DeadlineExceeded(String),
    /// `handle-event` returned an error; the session goes on.
    EventFailed {
        /// The UI event's sequence (as delivered to the core).
        sequence: u64,
        /// The core's error text.
        error: String,
    },
}

/// A frame from the core host to the broker.
#[derive(Debug, Serialize, Deserialize)]
pub enum CoreToBroker {
    /// The handshake; first frame only.
    Hello(CoreHello),
    /// A state update (class `StateUpdate`, stream `CoreToUi`).
    Message(Envelope),
    /// The core consumed UI events: the broker may deliver this many more.
    Credit(Credit),
    /// A lifecycle report.
    Lifecycle(CoreLifecycle),
    /// How the core host confined itself (sent once, before `Ready`).
    Confined(Confinement),
}

/// How a child process (the core host, the shell) is confined at the OS level, as it reported
/// it once, before it took part in the session (`weft-appd status --json` shows it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// `no_new_privs` is set.
    pub no_new_privs: bool,
    /// Landlock: `fully-enforced`, `partially-enforced` (an older kernel), or `off`
    /// (`WEFT_UNCONFINED`): one of [`Confinement::LANDLOCK_STATES`].
    pub landlock: String,
    /// The kernel's Landlock ABI version (0: none).
    pub landlock_abi: u32,
    /// A seccomp filter is installed: the core host's allowlist, or the shell's filter that
    /// refuses new processes, exec and ptrace.
    pub seccomp: bool,
}

impl Confinement {
    /// The values [`Confinement::landlock`] may take.
    pub const LANDLOCK_STATES: [&'static str; 3] = ["fully-enforced", "partially-enforced", "off"];

    /// Whether the report is of the expected shape (a peer's report is checked before it is
    /// shown).
    pub fn is_well_formed(&self) -> bool {
        Self::LANDLOCK_STATES.contains(&self.landlock.as_str())
    }
}

/// A frame from the broker to the core host.
#[derive(Debug, Serialize, Deserialize)]
pub enum BrokerToCore {
    /// The handshake answer.
    Welcome(CoreWelcome),
    /// A UI event, sequenced by the broker (admitted events only: no gaps).
    Message(Envelope),
    /// More credit for state updates.
    Credit(Credit),
    /// A state update the core emitted was refused and dropped.
    Rejected {
        /// The state update's sequence.
        sequence: u64,
        /// Why.
        rejection: Rejection,
    },
    /// The session ended; the core host exits.
    SessionEnd(SessionEnd),
    /// Test mode only: trap the core at its next host call (see [`TestAction::TrapCore`]).
    TestTrap,
    /// Test mode only: attempt a forbidden system call (see [`TestAction::ForbiddenSyscall`]).
    TestForbiddenSyscall,
    /// A new document of the app's UI attached ([`UiToBroker::PageAttached`]): the core host
    /// calls the core's `page-attached` between events.
    PageAttached,
}

/// Bytes a frame's fixed parts and encoding take beyond its variable text, roughly.
const FRAME_OVERHEAD: usize = 64;

fn envelope_wire_size(envelope: &Envelope) -> usize {
    FRAME_OVERHEAD + envelope.session_id.0.len() + envelope.size()
}

fn end_wire_size(end: &SessionEnd) -> usize {
    FRAME_OVERHEAD + end.detail.len()
}

impl WireSize for UiToBroker {
    fn wire_size(&self) -> usize {
        match self {
            UiToBroker::Message(envelope) => envelope_wire_size(envelope),
            UiToBroker::Hello(hello) => FRAME_OVERHEAD + hello.session_id.0.len() + hello.secret.len(),
            UiToBroker::Credit(_)
            | UiToBroker::Close
            | UiToBroker::PageAttached
            | UiToBroker::TestControl(_)
            | UiToBroker::Confined(_) => FRAME_OVERHEAD,
        }
    }
}

impl WireSize for BrokerToUi {
    fn wire_size(&self) -> usize {
        match self {
            BrokerToUi::Message(envelope) => envelope_wire_size(envelope),
            BrokerToUi::Welcome(welcome) => {
                FRAME_OVERHEAD + welcome.app_name.len() + welcome.ui_event_types.iter().map(String::len).sum::<usize>()
            }
            BrokerToUi::Rejected { rejection, .. } | BrokerToUi::Error(rejection) => {
                FRAME_OVERHEAD + rejection.detail.len()
            }
            BrokerToUi::SessionEnd(end) => end_wire_size(end),
            BrokerToUi::Admitted { .. } | BrokerToUi::Credit(_) => FRAME_OVERHEAD,
        }
    }
}

impl WireSize for CoreToBroker {
    fn wire_size(&self) -> usize {
        match self {
            CoreToBroker::Message(envelope) => envelope_wire_size(envelope),
            CoreToBroker::Hello(hello) => FRAME_OVERHEAD + hello.session_id.0.len() + hello.secret.len(),
            CoreToBroker::Lifecycle(
                CoreLifecycle::StartFailed(text)
                | CoreLifecycle::Trapped(text)
                | CoreLifecycle::DeadlineExceeded(text)
                | CoreLifecycle::EventFailed { error: text, .. },
            ) => FRAME_OVERHEAD + text.len(),
            CoreToBroker::Confined(confinement) => FRAME_OVERHEAD + confinement.landlock.len(),
            CoreToBroker::Lifecycle(CoreLifecycle::Ready) | CoreToBroker::Credit(_) => FRAME_OVERHEAD,
        }
    }
}

impl WireSize for BrokerToCore {
    fn wire_size(&self) -> usize {
        match self {
            BrokerToCore::Message(envelope) => envelope_wire_size(envelope),
            BrokerToCore::Welcome(welcome) => FRAME_OVERHEAD + welcome.capabilities.len() * 16,
            BrokerToCore::Rejected { rejection, .. } => FRAME_OVERHEAD + rejection.detail.len(),
            BrokerToCore::SessionEnd(end) => end_wire_size(end),
            BrokerToCore::Credit(_)
            | BrokerToCore::TestTrap
            | BrokerToCore::TestForbiddenSyscall
            | BrokerToCore::PageAttached => FRAME_OVERHEAD,
        }
    }
}
