//! The broker's protocol logic for one session, as a state machine without threads or I/O.
//!
//! It takes frames from the two endpoints and clock ticks, and answers with frames to send,
//! an instruction to kill the core, or the decision to end the session. The runner in
//! [`super::runner`] does the I/O. Keeping the logic pure lets every rule below be unit-tested.
//!
//! Rules, both directions: session id, stream and class must match the direction; sequences
//! must continue by one; a sender may not exceed the credit it was granted. Breaking any of
//! these ends the session as `protocol-violation`. A message that passes those rules but fails
//! validation (size, type, JSON, schema) is refused alone, counted, and its credit returned.
//!
//! Credits: the core grants credit for UI events as it consumes them; the broker relays that
//! credit to the page, so an admitted UI event always has room toward the core. The broker
//! grants the core credit for state updates from free room in its bounded [`StateQueue`],
//! which empties as the page grants credit.

use super::state_queue::{Pushed, StateQueue};
use super::ui_history::UiHistory;
use crate::recording::format::{Direction, Record, Verdict};
use crate::validation::Validator;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_ipc::credit::{Credit, CreditWindow};
use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};
use weft_ipc::frames::{
    BrokerToCore, BrokerToUi, CarriedEvent, CoreLifecycle, CoreToBroker, TestAction, UiToBroker, UiWelcome,
};
use weft_ipc::reason::{EndReason, SessionEnd};
use weft_ipc::rejection::{RejectKind, Rejection};

/// What the broker asks its runner to do.
#[derive(Debug)]
pub enum Output {
    /// Send a frame to the UI endpoint.
    ToUi(BrokerToUi),
    /// Send a frame to the core host.
    ToCore(BrokerToCore),
    /// Kill the core process (test mode's [`TestAction::KillCore`]).
    KillCore,
}

/// The broker's decision after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// The session goes on.
    Continue,
    /// The session must end for this reason.
    End(EndReason, String),
}

/// Fixed parameters of one session's broker.
pub struct BrokerConfig {
    /// The session.
    pub session_id: SessionId,
    /// The app's name.
    pub app_name: String,
    /// Compiled declarations.
    pub validator: Arc<Validator>,
    /// Largest message in either direction.
    pub max_message_bytes: u32,
    /// Sends the page may keep waiting for credit.
    pub max_pending_sends: u32,
    /// UI event types, for the page's welcome.
    pub ui_event_types: Vec<String>,
    /// State updates that may wait for the page.
    pub state_queue_capacity: usize,
    /// How long the core may hold an event without confirming it before it is killed.
    pub watchdog: Duration,
    /// How long the core may take to report `Ready`.
    pub startup_timeout: Duration,
    /// Test mode: the UI may inject faults ([`UiToBroker::TestControl`]).
    pub test_control: bool,
}

/// Counters and gauges of one session, as shown by `weft-appd status --json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BrokerStats {
    /// UI events admitted and passed to the core.
    pub ui_events_admitted: u64,
    /// UI events refused, by reason code.
    pub ui_events_rejected: BTreeMap<String, u64>,
    /// UI events the core has confirmed consuming.
    pub ui_events_confirmed: u64,
    /// UI events waiting in the broker for core credit.
    pub ui_events_waiting: u64,
    /// UI events sent to the core and not yet confirmed.
    pub ui_events_in_core: u64,
    /// Credit the page holds for UI events.
    pub ui_credit: CreditWindow,
    /// State updates accepted from the core.
    pub state_updates_accepted: u64,
    /// State updates refused, by reason code.
    pub state_updates_rejected: BTreeMap<String, u64>,
    /// State updates replaced by a newer one with the same key.
    pub state_updates_coalesced: u64,
    /// State updates delivered to the page.
    pub state_updates_delivered: u64,
    /// State updates waiting for the page's credit.
    pub state_queue_depth: u64,
    /// The most that may wait.
    pub state_queue_capacity: u64,
    /// The deepest the queue has been.
    pub state_queue_high_water: u64,
    /// Bytes waiting in the queue.
    pub state_queue_bytes: u64,
    /// Credit the broker holds for sending state updates to the page.
    pub page_credit: CreditWindow,
    /// Credit the core holds for state updates.
    pub core_credit: CreditWindow,
    /// Credit the broker holds for sending UI events to the core.
    pub core_event_credit: CreditWindow,
    /// Errors the core returned from `handle-event`.
    pub core_event_errors: u64,
    /// Whether the core reported `Ready`.
    pub core_ready: bool,
    /// Times a new core took the session over (`swap-core`).
    pub core_swaps: u64,
    /// How the core host confined itself at the OS level (as it reported).
    pub core_confinement: Option<weft_ipc::frames::Confinement>,
    /// How the UI process is confined, as it reported it (the shell does; a UI that does not
    /// report leaves it empty).
    pub ui_confinement: Option<weft_ipc::frames::Confinement>,
    /// Whether the UI endpoint is connected.
    pub ui_connected: bool,
}

/// The protocol state of one session.
pub struct Broker {
    cfg: BrokerConfig,
    /// When the current core was started (for its startup timeout).
    core_started: Instant,
    // UI → core.
    ui_expected_sequence: u64,
    ui_credit: CreditWindow,
    ui_credit_unsent: Credit,
    ui_connected: bool,
    core_window: CreditWindow,
    to_core_sequence: u64,
    /// Admitted UI events waiting for the core's credit, with their UI-side sequence.
    to_core_waiting: VecDeque<(u64, Envelope)>,
    core_unconfirmed: VecDeque<(u64, Instant)>,
    /// Credit the page holds that no core granted: what the page held from the core a swap
    /// replaced. The new core's grants pay it off before any reaches the page (`swap`).
    ui_credit_debt: CreditWindow,
    /// Delivery to the core is held while a new core gets ready to take over (`swap`).
    core_held: bool,
    /// The UI events handed to the core, for a new core to replay (`None`: not kept).
    history: Option<UiHistory>,
    /// A document of the UI has attached (a new core must be told).
    page_attached: bool,
    // Core → UI.
    core_expected_sequence: u64,
    core_credit: CreditWindow,
    queue: StateQueue,
    page_credit: CreditWindow,
    to_ui_sequence: u64,
    stats: BrokerStats,
    /// What happened since the last [`Broker::take_observed`], when recording.
    observed: Option<Vec<Record>>,
}

/// Bytes of state updates that may wait for the page (with the message-count capacity).
const STATE_QUEUE_BYTES: u64 = 512 * 1024;

impl Broker {
    /// A broker for a session that is starting.
    pub fn new(cfg: BrokerConfig, now: Instant) -> Broker {
        let queue = StateQueue::new(cfg.state_queue_capacity);
        Broker {
            cfg,
            core_started: now,
            ui_expected_sequence: 1,
            ui_credit: CreditWindow::default(),
            ui_credit_unsent: Credit::default(),
            ui_connected: false,
            core_window: CreditWindow::default(),
            to_core_sequence: 1,
            to_core_waiting: VecDeque::new(),
            core_unconfirmed: VecDeque::new(),
            ui_credit_debt: CreditWindow::default(),
            core_held: false,
            history: None,
            page_attached: false,
            core_expected_sequence: 1,
            core_credit: CreditWindow::default(),
            queue,
            page_credit: CreditWindow::default(),
            to_ui_sequence: 1,
            stats: BrokerStats::default(),
            observed: None,
        }
    }

    /// From now on, keep a [`Record`] of every message and credit for a session recording.
    pub fn observe(&mut self) {
        self.observed.get_or_insert_with(Vec::new);
    }

    /// The records kept since the last call (none unless [`Broker::observe`] was called).
    pub fn take_observed(&mut self) -> Vec<Record> {
        self.observed.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn note(&mut self, record: impl FnOnce() -> Record) {
        if let Some(observed) = &mut self.observed {
            observed.push(record());
        }
    }

    /// Notes a message with its payload (at ingress) or without (later).
    fn note_message(&mut self, direction: Direction, envelope: &Envelope, with_payload: bool, verdict: Verdict) {
        self.note(|| Record::Message {
            direction,
            class: envelope.class.as_str().to_owned(),
            message_type: envelope.message_type.clone(),
            sequence: envelope.sequence,
            size: envelope.size() as u64,
            coalesce_key: if with_payload { envelope.coalesce_key.clone() } else { None },
            payload: with_payload.then(|| envelope.payload.clone()),
            verdict,
        });
    }

    /// The credit the core starts with for state updates: the queue's room.
    pub fn core_initial_credit(&mut self) -> Credit {
        let credit = Credit { messages: self.queue.capacity() as u32, bytes: STATE_QUEUE_BYTES };
        self.core_credit.grant(credit);
        credit
    }

    /// The welcome for the UI endpoint, with the credit relayed so far.
    pub fn ui_welcome(&mut self) -> UiWelcome {
        self.ui_connected = true;
        let initial_credit = std::mem::take(&mut self.ui_credit_unsent);
        UiWelcome {
            protocol_version: weft_ipc::PROTOCOL_VERSION,
            session_id: self.cfg.session_id.clone(),
            app_name: self.cfg.app_name.clone(),
            max_message_bytes: self.cfg.max_message_bytes,
            max_pending_sends: self.cfg.max_pending_sends,
            ui_event_types: self.cfg.ui_event_types.clone(),
            initial_credit,
            test_control: self.cfg.test_control,
        }
    }

    /// Handles one frame from the UI endpoint.
    pub fn on_ui(&mut self, frame: UiToBroker, now: Instant, out: &mut Vec<Output>) -> Flow {
        match frame {
            UiToBroker::Hello(_) => violation("a second hello from the UI"),
            UiToBroker::Close => Flow::End(EndReason::AppClosed, "the user closed the app".into()),
            UiToBroker::PageAttached => {
                tracing::debug!("a new document of the app's UI attached");
                self.note(|| Record::PageAttached);
                self.page_attached = true;
                out.push(Output::ToCore(BrokerToCore::PageAttached));
                Flow::Continue
            }
            UiToBroker::Credit(credit) => {
                self.note(|| Record::PageCredit { messages: credit.messages, bytes: credit.bytes });
                self.page_credit.grant(credit);
                self.flush_to_ui(out);
                Flow::Continue
            }
            UiToBroker::Message(envelope) => self.on_ui_event(envelope, now, out),
            UiToBroker::TestControl(_) if !self.cfg.test_control => {
                violation("a test-control frame in a session not launched in test mode")
            }
            UiToBroker::Confined(confinement) if !confinement.is_well_formed() => {
                violation("a confinement report of an unknown shape from the UI")
            }
            UiToBroker::Confined(confinement) => {
                tracing::debug!(?confinement, "the UI's confinement");
                self.stats.ui_confinement.get_or_insert(confinement);
                Flow::Continue
            }
            UiToBroker::TestControl(action) => {
                tracing::warn!(?action, "injecting a fault for a test");
                out.push(match action {
                    TestAction::KillCore => Output::KillCore,
                    TestAction::TrapCore => Output::ToCore(BrokerToCore::TestTrap),
                    TestAction::ForbiddenSyscall => Output::ToCore(BrokerToCore::TestForbiddenSyscall),
                });
                Flow::Continue
            }
        }
    }

    fn on_ui_event(&mut self, mut envelope: Envelope, now: Instant, out: &mut Vec<Output>) -> Flow {
        let ingress = Ingress {
            stream: StreamId::UiToCore,
            class: MessageClass::UiEvent,
            from: "UI",
            noun: "UI event",
            unit: "event",
        };
        let size =
            match ingress.check(&self.cfg.session_id, &envelope, &mut self.ui_expected_sequence, &mut self.ui_credit) {
                Ok(size) => size,
                Err(flow) => {
                    self.note_violation(Direction::UiToCore, &envelope, &flow);
                    return flow;
                }
            };
        let sequence = envelope.sequence;
        if let Err(rejection) = self.cfg.validator.check(MessageClass::UiEvent, &envelope) {
            let verdict =
                Verdict::Rejected { rejection: rejection.kind.code().to_owned(), detail: rejection.detail.clone() };
            self.note_message(Direction::UiToCore, &envelope, true, verdict);
            tracing::warn!(
                direction = "ui-to-core", sequence, message_type = %truncated(&envelope.message_type),
                code = rejection.kind.code(), detail = %rejection.detail, "validation failure"
            );
            *self.stats.ui_events_rejected.entry(rejection.kind.code().to_owned()).or_default() += 1;
            out.push(Output::ToUi(BrokerToUi::Rejected { sequence, rejection }));
            let refund = Credit::one(size);
            self.ui_credit.grant(refund);
            out.push(Output::ToUi(BrokerToUi::Credit(refund)));
            return Flow::Continue;
        }
        self.stats.ui_events_admitted += 1;
        let forwarded_sequence = Some(self.to_core_sequence);
        self.note_message(Direction::UiToCore, &envelope, true, Verdict::Admitted { forwarded_sequence });
        out.push(Output::ToUi(BrokerToUi::Admitted { sequence }));
        envelope.sequence = self.to_core_sequence;
        self.to_core_sequence += 1;
        self.to_core_waiting.push_back((sequence, envelope));
        self.flush_to_core(now, out);
        Flow::Continue
    }

    /// Handles one frame from the core host.
    pub fn on_core(&mut self, frame: CoreToBroker, now: Instant, out: &mut Vec<Output>) -> Flow {
        match frame {
            CoreToBroker::Hello(_) => violation("a second hello from the core"),
            CoreToBroker::Lifecycle(report) => self.on_core_lifecycle(report, out),
            CoreToBroker::Confined(confinement) => {
                self.set_core_confinement(confinement);
                Flow::Continue
            }
            CoreToBroker::Credit(credit) => {
                self.core_window.grant(credit);
                let mut confirmed = 0;
                for _ in 0..credit.messages {
                    if self.core_unconfirmed.pop_front().is_none() {
                        break;
                    }
                    confirmed += 1;
                    self.stats.ui_events_confirmed += 1;
                }
                self.note(|| Record::CoreCredit { messages: credit.messages, bytes: credit.bytes, confirmed });
                let relayed = self.absorb_ui_credit_debt(credit);
                if relayed != Credit::default() {
                    self.relay_ui_credit(relayed, out);
                }
                self.flush_to_core(now, out);
                Flow::Continue
            }
            CoreToBroker::Message(envelope) => self.on_state_update(envelope, out),
        }
    }

    fn on_core_lifecycle(&mut self, report: CoreLifecycle, out: &mut Vec<Output>) -> Flow {
        self.note(|| lifecycle_record(&report));
        match report {
            CoreLifecycle::Ready if self.stats.core_ready => violation("the core reported ready twice"),
            CoreLifecycle::Ready => {
                self.stats.core_ready = true;
                tracing::debug!(startup_ms = self.core_started.elapsed().as_millis() as u64, "core ready");
                Flow::Continue
            }
            CoreLifecycle::StartFailed(detail) => {
                Flow::End(EndReason::CoreExited, format!("the core failed to start: {}", truncated(&detail)))
            }
            CoreLifecycle::Trapped(detail) => Flow::End(EndReason::CoreTrapped, truncated(&detail)),
            CoreLifecycle::DeadlineExceeded(detail) => Flow::End(EndReason::CoreUnresponsive, truncated(&detail)),
            CoreLifecycle::EventFailed { sequence, error } => {
                self.stats.core_event_errors += 1;
                tracing::warn!(sequence, error = %truncated(&error), "core returned an error for a UI event");
                if self.ui_connected {
                    out.push(Output::ToUi(BrokerToUi::Error(Rejection {
                        kind: RejectKind::CoreError,
                        detail: format!("the core failed UI event {sequence}: {}", truncated(&error)),
                    })));
                }
                Flow::Continue
            }
        }
    }

    fn on_state_update(&mut self, envelope: Envelope, out: &mut Vec<Output>) -> Flow {
        let ingress = Ingress {
            stream: StreamId::CoreToUi,
            class: MessageClass::StateUpdate,
            from: "core",
            noun: "state update",
            unit: "update",
        };
        let size = match ingress.check(
            &self.cfg.session_id,
            &envelope,
            &mut self.core_expected_sequence,
            &mut self.core_credit,
        ) {
            Ok(size) => size,
            Err(flow) => {
                self.note_violation(Direction::CoreToUi, &envelope, &flow);
                return flow;
            }
        };
        let sequence = envelope.sequence;
        if let Err(rejection) = self.cfg.validator.check(MessageClass::StateUpdate, &envelope) {
            let verdict =
                Verdict::Rejected { rejection: rejection.kind.code().to_owned(), detail: rejection.detail.clone() };
            self.note_message(Direction::CoreToUi, &envelope, true, verdict);
            tracing::warn!(
                direction = "core-to-ui", sequence, message_type = %truncated(&envelope.message_type),
                code = rejection.kind.code(), detail = %rejection.detail, "validation failure"
            );
            *self.stats.state_updates_rejected.entry(rejection.kind.code().to_owned()).or_default() += 1;
            if self.ui_connected {
                out.push(Output::ToUi(BrokerToUi::Error(Rejection {
                    kind: rejection.kind,
                    detail: format!("a state update from the core was refused: {}", rejection.detail),
                })));
            }
            out.push(Output::ToCore(BrokerToCore::Rejected { sequence, rejection }));
            self.refund_core(Credit::one(size), out);
            return Flow::Continue;
        }
        self.stats.state_updates_accepted += 1;
        self.note_message(Direction::CoreToUi, &envelope, true, Verdict::Admitted { forwarded_sequence: None });
        let message_type = if self.observed.is_some() { envelope.message_type.clone() } else { String::new() };
        match self.queue.push(envelope) {
            Pushed::Queued => {}
            Pushed::Coalesced { bytes, sequence: replaced } => {
                self.note(|| Record::Message {
                    direction: Direction::CoreToUi,
                    class: MessageClass::StateUpdate.as_str().to_owned(),
                    message_type,
                    sequence: replaced,
                    size: bytes as u64,
                    coalesce_key: None,
                    payload: None,
                    verdict: Verdict::Coalesced { replaced_by: sequence },
                });
                self.stats.state_updates_coalesced += 1;
                self.refund_core(Credit::one(bytes), out);
            }
            Pushed::Full => return violation("core overran the state queue"),
        }
        let depth = self.queue.len() as u64;
        if depth > self.stats.state_queue_high_water {
            self.stats.state_queue_high_water = depth;
            if depth == self.queue.capacity() as u64 {
                tracing::warn!(depth, "queue pressure: state queue full; the page is not keeping up");
            }
        }
        self.flush_to_ui(out);
        Flow::Continue
    }

    /// A clock tick: the watchdog.
    pub fn on_tick(&mut self, now: Instant) -> Flow {
        if !self.stats.core_ready && now.duration_since(self.core_started) > self.cfg.startup_timeout {
            return Flow::End(
                EndReason::CoreUnresponsive,
                format!("the core did not become ready within {:?}", self.cfg.startup_timeout),
            );
        }
        if let Some((sequence, since)) = self.core_unconfirmed.front() {
            let held = now.duration_since(*since);
            if held > self.cfg.watchdog {
                return Flow::End(
                    EndReason::CoreUnresponsive,
                    format!("the core held UI event {sequence} for {} ms without answering", held.as_millis()),
                );
            }
        }
        Flow::Continue
    }

    /// The terminal notice for this session, with what was lost.
    pub fn end_notice(&self, reason: EndReason, detail: String) -> SessionEnd {
        SessionEnd {
            reason,
            detail,
            unconfirmed_ui_events: (self.core_unconfirmed.len() + self.to_core_waiting.len()) as u64,
            undelivered_state_updates: self.queue.len() as u64,
        }
    }

    /// A snapshot of the counters and gauges.
    pub fn stats(&self) -> BrokerStats {
        let mut s = self.stats.clone();
        s.ui_events_waiting = self.to_core_waiting.len() as u64;
        s.ui_events_in_core = self.core_unconfirmed.len() as u64;
        s.ui_credit = self.ui_credit;
        s.state_queue_depth = self.queue.len() as u64;
        s.state_queue_capacity = self.queue.capacity() as u64;
        s.state_queue_bytes = self.queue.bytes() as u64;
        s.page_credit = self.page_credit;
        s.core_credit = self.core_credit;
        s.core_event_credit = self.core_window;
        s.ui_connected = self.ui_connected;
        s
    }

    fn relay_ui_credit(&mut self, credit: Credit, out: &mut Vec<Output>) {
        self.ui_credit.grant(credit);
        if self.ui_connected {
            out.push(Output::ToUi(BrokerToUi::Credit(credit)));
        } else {
            self.ui_credit_unsent.messages += credit.messages;
            self.ui_credit_unsent.bytes += credit.bytes;
        }
    }

    fn refund_core(&mut self, credit: Credit, out: &mut Vec<Output>) {
        self.core_credit.grant(credit);
        out.push(Output::ToCore(BrokerToCore::Credit(credit)));
    }

    fn flush_to_core(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.core_held {
            return;
        }
        while let Some((_, next)) = self.to_core_waiting.front() {
            if !self.core_window.take(next.size()) {
                break;
            }
            if let Some((ui_sequence, envelope)) = self.to_core_waiting.pop_front() {
                self.core_unconfirmed.push_back((envelope.sequence, now));
                let delivered_sequence = envelope.sequence;
                self.note(|| Record::Message {
                    direction: Direction::UiToCore,
                    class: envelope.class.as_str().to_owned(),
                    message_type: envelope.message_type.clone(),
                    sequence: ui_sequence,
                    size: envelope.size() as u64,
                    coalesce_key: None,
                    payload: None,
                    verdict: Verdict::Delivered { delivered_sequence },
                });
                if let Some(history) = &mut self.history {
                    history.push(CarriedEvent {
                        message_type: envelope.message_type.clone(),
                        payload: envelope.payload.clone(),
                    });
                }
                out.push(Output::ToCore(BrokerToCore::Message(envelope)));
            }
        }
    }

    fn flush_to_ui(&mut self, out: &mut Vec<Output>) {
        if !self.ui_connected {
            return;
        }
        while let Some(next) = self.queue.front() {
            let size = next.size();
            if !self.page_credit.take(size) {
                break;
            }
            if let Some(mut envelope) = self.queue.pop() {
                let delivered_sequence = self.to_ui_sequence;
                self.note_message(Direction::CoreToUi, &envelope, false, Verdict::Delivered { delivered_sequence });
                envelope.sequence = self.to_ui_sequence;
                self.to_ui_sequence += 1;
                self.stats.state_updates_delivered += 1;
                out.push(Output::ToUi(BrokerToUi::Message(envelope)));
                self.refund_core(Credit::one(size), out);
            }
        }
    }
}

impl Broker {
    /// Notes a message that broke the framing rules (the session ends with `flow`).
    fn note_violation(&mut self, direction: Direction, envelope: &Envelope, flow: &Flow) {
        let detail = match flow {
            Flow::End(_, detail) => detail.clone(),
            Flow::Continue => String::new(),
        };
        self.note_message(direction, envelope, true, Verdict::Violation { detail });
    }
}

/// The record of a core lifecycle report.
fn lifecycle_record(report: &CoreLifecycle) -> Record {
    let (report, detail) = match report {
        CoreLifecycle::Ready => ("ready", String::new()),
        CoreLifecycle::StartFailed(d) => ("start-failed", truncated(d)),
        CoreLifecycle::Trapped(d) => ("trapped", truncated(d)),
        CoreLifecycle::DeadlineExceeded(d) => ("deadline-exceeded", truncated(d)),
        CoreLifecycle::EventFailed { sequence, error } => {
            ("event-failed", format!("UI event {sequence}: {}", truncated(error)))
        }
    };
    Record::Lifecycle { report: report.to_owned(), detail }
}

/// One direction's ingress rules: what may arrive on it, and from whom.
struct Ingress {
    stream: StreamId,
    class: MessageClass,
    from: &'static str,
    noun: &'static str,
    unit: &'static str,
}

impl Ingress {
    /// The checks every incoming message passes before validation: session, stream and class
    /// for the direction, sequence continuity, and credit. Returns the message's size, having
    /// advanced the expected sequence and taken the credit; any failure is a protocol violation.
    fn check(
        &self,
        session_id: &SessionId,
        envelope: &Envelope,
        expected_sequence: &mut u64,
        credit: &mut CreditWindow,
    ) -> Result<usize, Flow> {
        let from = self.from;
        if &envelope.session_id != session_id {
            return Err(violation(&format!("{from} sent a message for another session")));
        }
        if envelope.stream_id != self.stream || envelope.class != self.class {
            return Err(violation(&format!(
                "{from} sent class {} on stream {}; only {} on {} is allowed",
                envelope.class.as_str(),
                envelope.stream_id.as_str(),
                self.class.as_str(),
                self.stream.as_str()
            )));
        }
        if envelope.sequence != *expected_sequence {
            return Err(violation(&format!(
                "{} sequence {} where {} was expected",
                self.noun, envelope.sequence, expected_sequence
            )));
        }
        let size = envelope.size();
        if !credit.take(size) {
            return Err(violation(&format!("{from} sent a {size}-byte {} beyond its credit {credit:?}", self.unit)));
        }
        *expected_sequence += 1;
        Ok(size)
    }
}

fn violation(detail: &str) -> Flow {
    Flow::End(EndReason::ProtocolViolation, detail.to_owned())
}

fn truncated(s: &str) -> String {
    weft_ipc::truncated(s, 256)
}

mod swap;
#[cfg(test)]
mod tests;

pub use swap::CoreSwap;
