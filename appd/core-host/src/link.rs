//! The core host's connection to the broker: the handshake, the non-blocking outgoing side,
//! the reader thread, and the orderly last words before the process exits.
//!
//! ## Terminal frames
//!
//! Everything goes out through one [`Outbox`], one batch per turn of the main loop (written on
//! the main thread when nothing is queued, else queued for the outbox's writer thread), so
//! frames leave in the order they were queued. The trouble is the end: the process exits right
//! after its last lifecycle frame, and exiting kills the writer thread with whatever it has not
//! written yet. So [`BrokerLink::close`]:
//!
//! 1. drops the outbox — the writer thread then writes every frame still queued and exits;
//! 2. waits (bounded by [`DRAIN_TIMEOUT`]) until that thread has finished, through the
//!    outbox's [`Drained`] signal;
//! 3. only then sends the terminal frames synchronously through a clone of the IPC sender kept
//!    aside at connection time (bounded by [`DRAIN_TIMEOUT`] too, on a helper thread, since an
//!    IPC send can block on a full socket).
//!
//! Every frame queued earlier (state updates, `EventFailed` reports, credits) therefore reaches
//! the broker before the terminal `Trapped` / `DeadlineExceeded` / `StartFailed`, and the
//! terminal frame is written before the process exits. If the writer is stuck (the broker
//! stopped reading), the wait gives up and the terminal frame is attempted anyway.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use weft_ipc::frames::{BrokerToCore, CoreHello, CoreToBroker, CoreWelcome};
use weft_ipc::transport::{self, BatchReceiver, BatchSender, Bootstrap, Drained, Inbound, Outbox, OutboxError, Writes};

/// The name given to the outbox (its writer thread is `weft-out-core`).
pub const OUTBOX_NAME: &str = "core";
/// How long the broker has to answer the `Hello`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the last frames may take to leave.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Frames queued for sending beyond the state outbox's own capacity (credits, lifecycle).
pub const OUTBOX_HEADROOM: usize = 4096;
/// Messages from the broker (each a batch of frames) buffered between the reader thread and the
/// main loop.
pub const INBOUND_CAPACITY: usize = 64;

/// Why the session could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The broker ended the session before (or instead of) welcoming the core host.
    #[error("the broker ended the session during the handshake: {0}")]
    Ended(String),
    /// Anything else: no broker, no answer, a wrong answer.
    #[error("{0}")]
    Failed(String),
}

/// Why a frame could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The outbox is full: the broker has stopped reading.
    #[error("the broker stopped reading (outbox full)")]
    Stalled,
    /// The broker is gone.
    #[error("the broker is gone")]
    Closed,
}

type TerminalSend = Box<dyn FnOnce(Vec<CoreToBroker>) -> Result<(), String> + Send>;

/// A joined session: the welcome, the outgoing link, and the incoming frames.
pub struct Joined {
    /// The broker's welcome.
    pub welcome: CoreWelcome,
    /// Frames that came in the welcome's batch, after the welcome (handle them first).
    pub early: VecDeque<BrokerToCore>,
    /// The outgoing side.
    pub link: BrokerLink,
    /// Frames from the reader thread, in order, one batch per message of the broker's (so the
    /// main loop sees a message's frames together); ends with `Disconnected` or `Malformed`.
    pub inbound: Receiver<Vec<Inbound<BrokerToCore>>>,
}

/// A session whose handshake is done and whose threads are not started yet.
pub struct Handshake {
    /// The broker's welcome.
    pub welcome: CoreWelcome,
    early: VecDeque<BrokerToCore>,
    sender: BatchSender<CoreToBroker>,
    from_broker: BatchReceiver<BrokerToCore>,
}

fn fail(what: &str, e: &dyn std::fmt::Display) -> JoinError {
    JoinError::Failed(format!("{what}: {e}"))
}

/// Connects to the broker, says hello, waits for the welcome, and starts the outbox and the
/// reader thread. `session_closed` is set by the reader thread as soon as it sees the
/// session's end (before the main loop gets to it), so a running core learns at once.
pub fn join(bootstrap: &Bootstrap, session_closed: Arc<AtomicBool>) -> Result<Joined, JoinError> {
    handshake(bootstrap)?.start(session_closed)
}

/// Connects to the broker, says hello and waits for the welcome, on this thread only: no
/// thread is started (see [`Handshake::start`]).
pub fn handshake(bootstrap: &Bootstrap) -> Result<Handshake, JoinError> {
    let sender = transport::connect::<CoreToBroker>(&bootstrap.server_name)
        .map_err(|e| fail("cannot connect to the broker", &e))?;
    let (to_core, from_broker) =
        transport::channel::<BrokerToCore>().map_err(|e| fail("cannot create a channel", &e))?;
    sender
        .send(vec![CoreToBroker::Hello(CoreHello {
            protocol_version: weft_ipc::PROTOCOL_VERSION,
            session_id: bootstrap.session_id.clone(),
            secret: bootstrap.secret.clone(),
            to_core,
        })])
        .map_err(|e| fail("cannot send the hello", &e))?;
    let first = from_broker.try_recv_timeout(HANDSHAKE_TIMEOUT).map_err(|e| fail("no welcome from the broker", &e))?;
    let mut early: VecDeque<BrokerToCore> = first.into();
    let welcome = match early.pop_front() {
        Some(BrokerToCore::Welcome(welcome)) => welcome,
        Some(BrokerToCore::SessionEnd(end)) => return Err(JoinError::Ended(format!("{}: {}", end.reason, end.detail))),
        Some(other) => return Err(JoinError::Failed(format!("expected a welcome, got {}", frame_name(&other)))),
        None => return Err(JoinError::Failed("empty first batch".into())),
    };
    if welcome.protocol_version != weft_ipc::PROTOCOL_VERSION {
        return Err(JoinError::Failed(format!(
            "the broker speaks protocol {}, this core host {}",
            welcome.protocol_version,
            weft_ipc::PROTOCOL_VERSION
        )));
    }
    if welcome.session_id != bootstrap.session_id {
        return Err(JoinError::Failed(format!(
            "welcomed into session {}, expected {}",
            welcome.session_id, bootstrap.session_id
        )));
    }
    Ok(Handshake { welcome, early, sender, from_broker })
}

impl Handshake {
    /// Starts the outbox's writer and the reader thread (see [`join`]).
    pub fn start(self, session_closed: Arc<AtomicBool>) -> Result<Joined, JoinError> {
        let Handshake { welcome, early, sender, from_broker } = self;
        start_threads(welcome, early, sender, from_broker, session_closed)
    }
}

fn start_threads(
    welcome: CoreWelcome,
    early: VecDeque<BrokerToCore>,
    sender: BatchSender<CoreToBroker>,
    from_broker: BatchReceiver<BrokerToCore>,
    session_closed: Arc<AtomicBool>,
) -> Result<Joined, JoinError> {
    let terminal_sender = sender.clone();
    let terminal: TerminalSend = Box::new(move |frames| terminal_sender.send(frames).map_err(|e| e.to_string()));
    let capacity = (welcome.limits.outbox_capacity as usize).saturating_mul(2).saturating_add(OUTBOX_HEADROOM);
    let (outbox, drained) = Outbox::spawn_drained(OUTBOX_NAME, sender, capacity, Writes::CallerWhenIdle)
        .map_err(|e| fail("cannot start the outbox", &e))?;

    let (deliver, inbound) = mpsc::sync_channel(INBOUND_CAPACITY);
    transport::spawn_batch_reader(OUTBOX_NAME, from_broker, move |batch| {
        let closes = |item: &Inbound<BrokerToCore>| {
            matches!(item, Inbound::Frame(BrokerToCore::SessionEnd(_)) | Inbound::Disconnected | Inbound::Malformed(_))
        };
        if batch.iter().any(closes) {
            session_closed.store(true, Ordering::Release);
        }
        deliver.send(batch).is_ok()
    })
    .map_err(|e| fail("cannot start the reader", &e))?;

    Ok(Joined { welcome, early, link: BrokerLink { outbox, turn: Vec::new(), terminal, drained }, inbound })
}

/// The outgoing side of the session. Frames are collected for the current turn of the main
/// loop ([`BrokerLink::queue`]) and leave together as one batch ([`BrokerLink::flush`]).
pub struct BrokerLink {
    outbox: Outbox<CoreToBroker>,
    turn: Vec<CoreToBroker>,
    terminal: TerminalSend,
    drained: Drained,
}

impl BrokerLink {
    /// Adds a frame to this turn's batch.
    pub fn queue(&mut self, frame: CoreToBroker) {
        self.turn.push(frame);
    }

    /// Sends this turn's frames as one batch, without blocking on a slow broker.
    pub fn flush(&mut self) -> Result<(), SendError> {
        self.outbox.try_send_all(std::mem::take(&mut self.turn)).map_err(|e| match e {
            OutboxError::Full => SendError::Stalled,
            OutboxError::Closed => SendError::Closed,
        })
    }

    /// Lets every queued frame leave, then sends `terminal` (if any) after them; returns once
    /// they are written or [`DRAIN_TIMEOUT`]s have passed. See the module documentation.
    pub fn close(self, terminal: Vec<CoreToBroker>) {
        let BrokerLink { outbox, turn, terminal: send_terminal, drained } = self;
        if let Err(e) = outbox.try_send_all(turn) {
            tracing::debug!(error = %e, "this turn's frames were not sent");
        }
        drop(outbox);
        let started = Instant::now();
        if !drained.wait(DRAIN_TIMEOUT) {
            tracing::warn!("the outbox did not drain in time; sending the last frames anyway");
        }
        if terminal.is_empty() {
            return;
        }
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let spawned = thread::Builder::new().name("weft-last-words".into()).spawn(move || {
            let _ = done_tx.send(send_terminal(terminal));
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot send the last frames");
            return;
        }
        let left = DRAIN_TIMEOUT.saturating_sub(started.elapsed()).max(Duration::from_millis(100));
        match done_rx.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "the last frames were not delivered"),
            Err(_) => tracing::warn!("the last frames did not leave in time"),
        }
    }
}

/// A frame's variant name, for errors and logs.
pub fn frame_name(frame: &BrokerToCore) -> &'static str {
    match frame {
        BrokerToCore::Welcome(_) => "Welcome",
        BrokerToCore::Message(_) => "Message",
        BrokerToCore::Credit(_) => "Credit",
        BrokerToCore::Rejected { .. } => "Rejected",
        BrokerToCore::SessionEnd(_) => "SessionEnd",
        BrokerToCore::TestTrap => "TestTrap",
        BrokerToCore::TestForbiddenSyscall => "TestForbiddenSyscall",
        BrokerToCore::PageAttached => "PageAttached",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drain wait relies on the outbox writer thread's name: if weft-ipc ever renames it,
    /// this fails instead of the terminal frames silently losing their ordering guarantee.
    #[test]
    fn the_outbox_reports_drained_only_after_writing_everything() {
        let (tx, rx) = transport::channel::<CoreToBroker>().expect("channel");
        let (outbox, drained) = Outbox::spawn_drained(OUTBOX_NAME, tx, 16, Writes::CallerWhenIdle).expect("outbox");
        let credit = |messages| CoreToBroker::Credit(weft_ipc::credit::Credit { messages, bytes: 0 });
        for i in 0..10 {
            outbox.try_send(credit(i)).expect("queue");
        }
        drop(outbox);
        assert!(drained.wait(Duration::from_secs(5)));
        // Everything queued was written before the writer finished.
        let mut got = Vec::new();
        while got.len() < 10 {
            got.extend(rx.try_recv_timeout(Duration::from_secs(1)).expect("batch"));
        }
        let sent: Vec<u32> = got
            .iter()
            .map(|frame| match frame {
                CoreToBroker::Credit(credit) => credit.messages,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(sent, (0..10).collect::<Vec<_>>());
    }
}
