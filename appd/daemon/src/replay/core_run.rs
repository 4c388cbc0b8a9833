//! A fresh core host for replay: this module plays the broker's part toward it — handshake,
//! welcome (unlimited credit for state updates, so the outbox never holds anything back), then
//! one UI event at a time, each answered by the core's credit at the end of its turn.

use super::plan::{UiEvent, Update};
use crate::manifest::AppPackage;
use crate::session::runner::core_limits;
use crate::spawn::{ChildProcess, Spawner};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use weft_ipc::credit::Credit;
use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};
use weft_ipc::frames::{BrokerToCore, CoreLifecycle, CoreToBroker, CoreWelcome};
use weft_ipc::reason::{EndReason, SessionEnd};
use weft_ipc::transport::{spawn_reader, Bootstrap, Inbound, Listener, Outbox, Writes};

/// How long the core host may take to connect and start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Added to the app's event deadline when waiting for the core's answer to one event.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);
/// The credit the replayed core gets for state updates: more than it can use.
const UNLIMITED: Credit = Credit { messages: u32::MAX, bytes: u64::MAX / 4 };

/// A running core host under replay.
pub struct CoreRun {
    child: ChildProcess,
    outbox: Outbox<BrokerToCore>,
    inbound: Receiver<Inbound<CoreToBroker>>,
    session_id: SessionId,
    answer_timeout: Duration,
    /// Updates that arrived while waiting for something else.
    early: Vec<Update>,
}

impl CoreRun {
    /// Starts `core_host` on `core` with `app`'s capabilities and limits, and waits until the
    /// core is ready.
    pub fn start(spawner: &Spawner, core_host: &Path, core: &Path, app: &AppPackage) -> Result<CoreRun, String> {
        let session_id = SessionId::random().map_err(|e| format!("no randomness: {e}"))?;
        let secret = weft_ipc::random_hex(32).map_err(|e| format!("no randomness: {e}"))?;
        let listener = Listener::<CoreToBroker>::new().map_err(|e| format!("cannot listen: {e}"))?;
        let bootstrap = Bootstrap {
            server_name: listener.name().to_owned(),
            session_id: session_id.clone(),
            secret: secret.clone(),
        };
        let mut command = Command::new(core_host);
        command.arg(core).stdout(Stdio::null());
        if std::env::var_os("WEFT_LOG").is_none() {
            command.env("WEFT_LOG", "warn");
        }
        let child = spawner
            .spawn("core host", command, &bootstrap, |_| {})
            .map_err(|e| format!("cannot start {}: {e}", core_host.display()))?;
        let run = (|| {
            let (receiver, first) = listener
                .accept(START_TIMEOUT, || child.has_exited())
                .map_err(|e| format!("the core host did not connect: {e}"))?;
            let mut first = first.into_iter();
            let hello = match first.next() {
                Some(CoreToBroker::Hello(hello)) => hello,
                other => return Err(format!("the core host's first frame was not a hello: {other:?}")),
            };
            if hello.session_id != session_id || hello.secret != secret {
                return Err("the core host joined with the wrong session or secret".to_owned());
            }
            let outbox =
                Outbox::spawn("replay-core", hello.to_core, 4096, Writes::Queued).map_err(|e| e.to_string())?;
            let (tx, inbound) = mpsc::channel();
            for frame in first {
                let _ = tx.send(Inbound::Frame(frame));
            }
            spawn_reader("replay-core", receiver, move |item| tx.send(item).is_ok()).map_err(|e| e.to_string())?;
            let welcome = CoreWelcome {
                protocol_version: weft_ipc::PROTOCOL_VERSION,
                session_id: session_id.clone(),
                capabilities: app.capabilities.clone(),
                limits: core_limits(app),
                max_message_bytes: app.limits.max_message_bytes,
                initial_credit: UNLIMITED,
                carried_events: Vec::new(),
            };
            outbox.try_send(BrokerToCore::Welcome(welcome)).map_err(|e| format!("cannot welcome the core: {e}"))?;
            let answer_timeout = Duration::from_millis(app.limits.event_deadline_ms) + ANSWER_MARGIN;
            Ok(CoreRun { child: child.clone(), outbox, inbound, session_id, answer_timeout, early: Vec::new() })
        })();
        let mut run = run.inspect_err(|_| child.kill())?;
        run.wait_ready()?;
        Ok(run)
    }

    fn next(&mut self, deadline: Instant, waiting_for: &str) -> Result<CoreToBroker, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.inbound.recv_timeout(left) {
            Ok(Inbound::Frame(frame)) => Ok(frame),
            Ok(Inbound::Malformed(e)) => Err(format!("malformed frame from the core host: {e}")),
            Ok(Inbound::Disconnected) | Err(RecvTimeoutError::Disconnected) => {
                Err(format!("the core host went away while the replay waited for {waiting_for}"))
            }
            Err(RecvTimeoutError::Timeout) => Err(format!("no {waiting_for} from the core within {left:?}")),
        }
    }

    /// Handles a frame that is not the one being waited for.
    fn other(&mut self, frame: CoreToBroker) -> Result<(), String> {
        match frame {
            CoreToBroker::Message(envelope) => {
                self.early.push(update(envelope));
                Ok(())
            }
            CoreToBroker::Lifecycle(CoreLifecycle::StartFailed(detail)) => {
                Err(format!("the core failed to start: {detail}"))
            }
            CoreToBroker::Lifecycle(CoreLifecycle::Trapped(detail)) => Err(format!("the core trapped: {detail}")),
            CoreToBroker::Lifecycle(CoreLifecycle::DeadlineExceeded(detail)) => {
                Err(format!("the core overran its deadline: {detail}"))
            }
            CoreToBroker::Lifecycle(CoreLifecycle::EventFailed { sequence, error }) => {
                tracing::info!(sequence, %error, "the replayed core failed a UI event (as a recorded one may have)");
                Ok(())
            }
            CoreToBroker::Lifecycle(CoreLifecycle::Ready) => Err("the core reported ready twice".into()),
            CoreToBroker::Credit(_) | CoreToBroker::Confined(_) => Ok(()),
            CoreToBroker::Hello(_) => Err("a second hello from the core host".into()),
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.next(deadline, "the core's ready report")? {
                CoreToBroker::Lifecycle(CoreLifecycle::Ready) => return Ok(()),
                other => self.other(other)?,
            }
        }
    }

    /// Waits until `count` updates from `init` have arrived and returns them.
    pub fn init_updates(&mut self, count: usize) -> Result<Vec<Update>, String> {
        let deadline = Instant::now() + self.answer_timeout;
        while self.early.len() < count {
            let frame = self.next(deadline, "the updates from init")?;
            self.other(frame)?;
        }
        Ok(std::mem::take(&mut self.early))
    }

    /// Ends the session and returns every update the core sent before it went away (used to
    /// learn what `init` emits: the core host flushes them before reading any frame).
    pub fn finish_collecting(mut self) -> Result<Vec<Update>, String> {
        self.end();
        let deadline = Instant::now() + self.answer_timeout;
        loop {
            match self.inbound.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Inbound::Frame(frame)) => self.other(frame)?,
                Ok(Inbound::Malformed(e)) => return Err(format!("malformed frame from the core host: {e}")),
                Ok(Inbound::Disconnected) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => return Err("the core host did not end its session".into()),
            }
        }
        Ok(std::mem::take(&mut self.early))
    }

    /// Hands the core one UI event and returns the updates it emitted for it (everything that
    /// arrives before its credit for the event).
    pub fn feed(&mut self, event: &UiEvent) -> Result<Vec<Update>, String> {
        let envelope = Envelope {
            session_id: self.session_id.clone(),
            stream_id: StreamId::UiToCore,
            class: MessageClass::UiEvent,
            message_type: event.message_type.clone(),
            sequence: event.core_sequence,
            payload: event.payload.clone(),
            coalesce_key: None,
        };
        self.outbox.try_send(BrokerToCore::Message(envelope)).map_err(|e| format!("cannot reach the core: {e}"))?;
        let deadline = Instant::now() + self.answer_timeout;
        let waiting_for = format!("the core's answer to UI event {}", event.core_sequence);
        loop {
            match self.next(deadline, &waiting_for)? {
                CoreToBroker::Credit(credit) if credit.messages > 0 => return Ok(std::mem::take(&mut self.early)),
                other => self.other(other)?,
            }
        }
    }

    fn end(&self) {
        let end = SessionEnd {
            reason: EndReason::Ended,
            detail: "replay finished".into(),
            unconfirmed_ui_events: 0,
            undelivered_state_updates: 0,
        };
        let _ = self.outbox.try_send(BrokerToCore::SessionEnd(end));
    }
}

impl Drop for CoreRun {
    fn drop(&mut self) {
        self.end();
        if !self.child.has_exited() {
            // Give it the usual moment to leave on its own, then make sure.
            let deadline = Instant::now() + Duration::from_secs(2);
            while let Ok(item) = self.inbound.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                if matches!(item, Inbound::Disconnected) {
                    break;
                }
            }
            self.child.kill();
        }
    }
}

fn update(envelope: Envelope) -> Update {
    Update { message_type: envelope.message_type, payload: envelope.payload, coalesce_key: envelope.coalesce_key }
}
