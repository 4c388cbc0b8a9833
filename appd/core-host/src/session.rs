//! One session, from the core host's side: join, start the core, then relay — UI events into
//! `handle-event`, state updates out as credit allows, credit back for every event consumed —
//! until the broker ends the session or the core faults.

use crate::confine;
use crate::guest_output::truncate_at_char_boundary;
use crate::link::{self, BrokerLink, JoinError, Joined, SendError};
use crate::module_cache::ModuleCache;
use crate::sandbox::{CoreInstance, GuestFault, LoadedCore, Sandbox, SandboxConfig};
use crate::state_outbox::StateOutbox;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use weft_ipc::credit::{Credit, DEFAULT_WINDOW};
use weft_ipc::frames::{BrokerToCore, CoreLifecycle, CoreToBroker};
use weft_ipc::transport::{Bootstrap, Inbound};

/// Most broker frames handled per loop turn before state updates and credits are flushed.
pub const MAX_FRAMES_PER_TURN: usize = 64;
/// Longest error text from the core reported in an `EventFailed` or `StartFailed`.
pub const MAX_CORE_ERROR_BYTES: usize = 4096;

/// How the session ended for the core host (`main` turns it into the exit code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The broker ended the session (also during the handshake).
    Ended,
    /// The broker went away.
    BrokerLost,
    /// The session could not be joined (no broker, no or wrong welcome).
    JoinFailed(String),
    /// The core could not be loaded or instantiated, or `init` returned an error.
    StartFailed(String),
    /// The core trapped.
    Trapped(String),
    /// The core overran its deadline.
    DeadlineExceeded(String),
    /// The broker sent a frame that does not decode or does not belong in the protocol.
    ProtocolViolation(String),
    /// The broker stopped reading: the outbox filled up.
    BrokerStalled,
}

/// Runs the session described by `bootstrap` with the core at `core_path`; returns when it is
/// over, after the last frames have left.
pub fn run(bootstrap: &Bootstrap, core_path: &Path) -> Outcome {
    let session_closed = Arc::new(AtomicBool::new(false));
    // Everything that needs a file happens first, on this thread: the handshake, then loading
    // the core (the module cache). Then the core host confines itself, before any thread
    // starts (the link's, the epoch ticker's), so that every thread is confined.
    let handshake = match link::handshake(bootstrap) {
        Ok(handshake) => handshake,
        Err(e) => return not_joined(e),
    };
    let config = SandboxConfig::from_welcome(&handshake.welcome);
    let loaded = load_core(core_path, config);
    let confined = if confine::opted_out() {
        tracing::warn!("{}=1: the core host runs UNCONFINED (for debugging only)", confine::OPT_OUT);
        Ok(None)
    } else {
        confine::confine().map(Some)
    };
    let Joined { welcome, early, link, inbound } = match handshake.start(session_closed.clone()) {
        Ok(joined) => joined,
        Err(e) => return not_joined(e),
    };
    tracing::debug!(
        capabilities = ?welcome.capabilities,
        limits = ?welcome.limits,
        max_message_bytes = welcome.max_message_bytes,
        "joined the session"
    );

    let outbox = StateOutbox::new(
        welcome.session_id.clone(),
        welcome.limits.outbox_capacity,
        welcome.initial_credit,
        welcome.max_message_bytes,
    );
    let confinement = match confined {
        Ok(Some(confinement)) => {
            tracing::debug!(?confinement, "confined");
            confinement
        }
        Ok(None) => confine::unconfined(),
        Err(e) => {
            let detail = format!("the core host cannot confine itself: {e}");
            tracing::error!(%detail, "refusing to run the core");
            link.close(vec![CoreToBroker::Lifecycle(CoreLifecycle::StartFailed(detail.clone()))]);
            return Outcome::StartFailed(detail);
        }
    };
    let instance = loaded
        .and_then(|(sandbox, core)| sandbox.instantiate(&core, outbox, session_closed).map_err(|e| e.to_string()));
    let mut core = match instance {
        Ok(core) => core,
        Err(detail) => {
            let detail = bounded(&detail);
            tracing::error!(%detail, "the core could not start");
            link.close(vec![CoreToBroker::Lifecycle(CoreLifecycle::StartFailed(detail.clone()))]);
            return Outcome::StartFailed(detail);
        }
    };
    match core.init() {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            let detail = format!("init failed: {}", bounded(&error));
            tracing::error!(%detail, "the core refused to start");
            link.close(vec![CoreToBroker::Lifecycle(CoreLifecycle::StartFailed(detail.clone()))]);
            return Outcome::StartFailed(detail);
        }
        Err(fault) => return fault_outcome(link, fault),
    }
    if !welcome.carried_events.is_empty() {
        if let Err(fault) = carry_state(&mut core, &welcome.carried_events) {
            return fault_outcome(link, fault);
        }
    }

    let pending = early.into_iter().map(Inbound::Frame).collect();
    let mut session =
        Session { link, inbound, pending, core, rejected: 0, backpressure_reported: 0, page_attached: false };
    let outcome = session.start(confinement).and_then(|()| session.relay());
    session.finish(outcome)
}

/// Replays UI events of earlier sessions into the fresh core (`weft dev` carrying its state
/// over a rebuild): what it emits meanwhile is discarded, then, if the core's world has
/// `page-attached`, it is called so that the core sends its current state. An event the core
/// refuses is counted and skipped; a fault ends the session, its detail saying where.
fn carry_state(core: &mut CoreInstance, events: &[weft_ipc::frames::CarriedEvent]) -> Result<(), GuestFault> {
    let mut refused = 0usize;
    for (index, event) in events.iter().enumerate() {
        let outcome = core.handle_event(&event.message_type, &event.payload).map_err(|fault| {
            let context = format!("while replaying carried UI event {} of {}", index + 1, events.len());
            match fault {
                GuestFault::Trapped(detail) => GuestFault::Trapped(format!("{context}: {detail}")),
                GuestFault::DeadlineExceeded(detail) => GuestFault::DeadlineExceeded(format!("{context}: {detail}")),
            }
        })?;
        if let Err(error) = outcome {
            refused += 1;
            tracing::debug!(index, error = %bounded(&error), "a carried UI event was refused by the new core");
        }
        core.outbox().discard_queued();
    }
    tracing::info!(replayed = events.len(), refused, "carried the core's state over");
    log_page_attached(core.page_attached()?);
    Ok(())
}

/// Logs how the core took `page-attached` (`None`: a core of world 0.1.0 has no such export).
fn log_page_attached(outcome: Option<Result<(), String>>) {
    match outcome {
        Some(Ok(())) => tracing::debug!("told the core that a new page attached"),
        Some(Err(error)) => tracing::warn!(error = %bounded(&error), "the core failed to handle page-attached"),
        None => tracing::info!("a new page attached; the core (world 0.1.0) has no page-attached to call"),
    }
}

/// The outcome of a session the core host could not join.
fn not_joined(error: JoinError) -> Outcome {
    match error {
        JoinError::Ended(detail) => {
            tracing::debug!(%detail, "session ended before it started");
            Outcome::Ended
        }
        JoinError::Failed(detail) => {
            tracing::error!(%detail, "cannot join the session");
            Outcome::JoinFailed(detail)
        }
    }
}

/// Loads and links the core (through the module cache), starting no thread; the error is the
/// `StartFailed` detail.
fn load_core(core_path: &Path, config: SandboxConfig) -> Result<(Sandbox, LoadedCore), String> {
    let sandbox = Sandbox::new(config).map_err(|e| e.to_string())?.with_module_cache(ModuleCache::from_env());
    let loaded = sandbox.load_file(core_path).map_err(|e| e.to_string())?;
    Ok((sandbox, loaded))
}

/// Reports a fault as the last frame and turns it into the outcome.
fn fault_outcome(link: BrokerLink, fault: GuestFault) -> Outcome {
    match fault {
        GuestFault::Trapped(detail) => {
            tracing::error!(%detail, "the core trapped");
            link.close(vec![CoreToBroker::Lifecycle(CoreLifecycle::Trapped(detail.clone()))]);
            Outcome::Trapped(detail)
        }
        GuestFault::DeadlineExceeded(detail) => {
            tracing::error!(%detail, "the core overran its deadline");
            link.close(vec![CoreToBroker::Lifecycle(CoreLifecycle::DeadlineExceeded(detail.clone()))]);
            Outcome::DeadlineExceeded(detail)
        }
    }
}

/// Core error text, cut to [`MAX_CORE_ERROR_BYTES`].
fn bounded(text: &str) -> String {
    let (cut, was_cut) = truncate_at_char_boundary(text, MAX_CORE_ERROR_BYTES);
    if was_cut {
        format!("{cut} [truncated]")
    } else {
        cut.to_owned()
    }
}

/// Why the relay loop stopped.
enum Stop {
    /// Stop with this outcome; nothing more to send.
    Quiet(Outcome),
    /// The core faulted: report it last.
    Fault(GuestFault),
}

impl From<SendError> for Stop {
    fn from(e: SendError) -> Stop {
        match e {
            SendError::Stalled => Stop::Quiet(Outcome::BrokerStalled),
            SendError::Closed => Stop::Quiet(Outcome::BrokerLost),
        }
    }
}

/// The running session.
struct Session {
    link: BrokerLink,
    inbound: Receiver<Vec<Inbound<BrokerToCore>>>,
    /// What has arrived and is not handled yet (the rest of the broker's last message).
    pending: std::collections::VecDeque<Inbound<BrokerToCore>>,
    core: CoreInstance,
    rejected: u64,
    backpressure_reported: u64,
    /// A new page attached since the core was last told (told once per turn at most).
    page_attached: bool,
}

impl Session {
    /// How the core host is confined, Ready, the UI-event window, and whatever `init` emitted.
    fn start(&mut self, confinement: confine::Confinement) -> Result<(), Stop> {
        self.link.queue(CoreToBroker::Confined(confinement));
        self.link.queue(CoreToBroker::Lifecycle(CoreLifecycle::Ready));
        self.link.queue(CoreToBroker::Credit(DEFAULT_WINDOW));
        tracing::debug!("core ready");
        self.queue_state();
        Ok(self.link.flush()?)
    }

    /// The main loop: one blocking receive, then whatever else is already there (up to
    /// [`MAX_FRAMES_PER_TURN`]), then state updates and credits out.
    fn relay(&mut self) -> Result<(), Stop> {
        loop {
            let mut credit = Credit::default();
            let first = self.next_blocking();
            self.handle(first, &mut credit)?;
            for _ in 1..MAX_FRAMES_PER_TURN {
                let Some(item) = self.next_ready() else { break };
                self.handle(item, &mut credit)?;
            }
            if std::mem::take(&mut self.page_attached) {
                self.tell_page_attached()?;
            }
            self.queue_state();
            if credit.messages > 0 {
                self.link.queue(CoreToBroker::Credit(credit));
            }
            self.link.flush()?;
        }
    }

    fn next_blocking(&mut self) -> Inbound<BrokerToCore> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return item;
            }
            match self.inbound.recv() {
                Ok(batch) => self.pending.extend(batch),
                Err(_) => return Inbound::Disconnected,
            }
        }
    }

    fn next_ready(&mut self) -> Option<Inbound<BrokerToCore>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            match self.inbound.try_recv() {
                Ok(batch) => self.pending.extend(batch),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => return Some(Inbound::Disconnected),
            }
        }
    }

    fn handle(&mut self, item: Inbound<BrokerToCore>, credit: &mut Credit) -> Result<(), Stop> {
        let frame = match item {
            Inbound::Frame(frame) => frame,
            Inbound::Disconnected => {
                tracing::warn!("the broker is gone; exiting");
                return Err(Stop::Quiet(Outcome::BrokerLost));
            }
            Inbound::Malformed(detail) => {
                tracing::error!(%detail, "malformed frame from the broker");
                return Err(Stop::Quiet(Outcome::ProtocolViolation(detail)));
            }
        };
        match frame {
            BrokerToCore::Message(envelope) => {
                let result = self.core.handle_event(&envelope.message_type, &envelope.payload).map_err(Stop::Fault)?;
                if let Err(error) = result {
                    tracing::warn!(
                        sequence = envelope.sequence,
                        message_type = %envelope.message_type,
                        error = %bounded(&error),
                        "the core failed to handle an event"
                    );
                    self.link.queue(CoreToBroker::Lifecycle(CoreLifecycle::EventFailed {
                        sequence: envelope.sequence,
                        error: bounded(&error),
                    }));
                }
                let consumed = Credit::one(envelope.size());
                credit.messages = credit.messages.saturating_add(consumed.messages);
                credit.bytes = credit.bytes.saturating_add(consumed.bytes);
                self.report_backpressure();
            }
            BrokerToCore::Credit(grant) => self.core.outbox().grant(grant),
            BrokerToCore::PageAttached => self.page_attached = true,
            BrokerToCore::TestTrap => {
                tracing::warn!("a test armed a trap: the core's next host call traps");
                self.core.arm_test_trap();
            }
            BrokerToCore::TestForbiddenSyscall => {
                tracing::warn!("a test asked for a forbidden system call: the sandbox stops the core host");
                confine::attempt_forbidden_syscall();
            }
            BrokerToCore::Rejected { sequence, rejection } => {
                self.rejected += 1;
                tracing::warn!(
                    sequence,
                    %rejection,
                    rejected_total = self.rejected,
                    "the broker refused a state update"
                );
            }
            BrokerToCore::SessionEnd(end) => {
                tracing::debug!(
                    reason = %end.reason,
                    detail = %end.detail,
                    undelivered_state_updates = end.undelivered_state_updates,
                    "the broker ended the session"
                );
                return Err(Stop::Quiet(Outcome::Ended));
            }
            BrokerToCore::Welcome(_) => {
                let detail = "a second Welcome".to_owned();
                tracing::error!(%detail, "protocol violation by the broker");
                return Err(Stop::Quiet(Outcome::ProtocolViolation(detail)));
            }
        }
        Ok(())
    }

    /// A new page attached: the core (of world 0.2.0) is called between events, so it can emit
    /// its state again. Its `err` is logged; a fault ends the session like any other.
    fn tell_page_attached(&mut self) -> Result<(), Stop> {
        log_page_attached(self.core.page_attached().map_err(Stop::Fault)?);
        self.report_backpressure();
        Ok(())
    }

    /// Adds every queued state update the credit window allows to this turn's batch.
    fn queue_state(&mut self) {
        while let Some(envelope) = self.core.outbox().take_sendable() {
            self.link.queue(CoreToBroker::Message(envelope));
        }
    }

    /// Queue pressure is worth a log line (once per call that hit it).
    fn report_backpressure(&mut self) {
        let refused = self.core.outbox().stats().refused_backpressure;
        if refused > self.backpressure_reported {
            tracing::warn!(
                refused_in_call = refused - self.backpressure_reported,
                refused_total = refused,
                queued = self.core.outbox().len(),
                "state outbox full: unkeyed updates refused with backpressure"
            );
            self.backpressure_reported = refused;
        }
    }

    /// Sends the last frames (state updates the core emitted before a fault, then the fault)
    /// and turns the stop reason into the outcome.
    fn finish(mut self, result: Result<(), Stop>) -> Outcome {
        let stop = match result {
            Ok(()) => Stop::Quiet(Outcome::Ended),
            // What the core emitted before it faulted is still sent, credit permitting.
            Err(Stop::Fault(fault)) => {
                self.queue_state();
                match self.link.flush() {
                    Ok(()) => Stop::Fault(fault),
                    Err(stop) => stop.into(),
                }
            }
            Err(stop) => stop,
        };
        let stats = self.core.outbox().stats();
        tracing::debug!(
            sent = stats.sent,
            still_queued = self.core.outbox().len(),
            coalesced = stats.coalesced,
            refused_backpressure = stats.refused_backpressure,
            refused_invalid_json = stats.refused_invalid_json,
            refused_closed = stats.refused_closed,
            dropped_too_large = stats.dropped_too_large,
            rejected_by_broker = self.rejected,
            "state update totals"
        );
        match stop {
            // A stalled broker is not reading: waiting for the outbox to drain is pointless.
            Stop::Quiet(Outcome::BrokerStalled) => Outcome::BrokerStalled,
            Stop::Quiet(outcome) => {
                self.link.close(Vec::new());
                outcome
            }
            Stop::Fault(fault) => fault_outcome(self.link, fault),
        }
    }
}
