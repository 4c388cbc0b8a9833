//! The UI side of a session: what the shell's `weft.channel` binding and the test UI peer
//! both run, so that tests exercise exactly the protocol the shell speaks.
//!
//! [`UiChannel`] is the protocol state machine (no threads, no I/O): sequencing, the credit
//! window, the bounded queue of sends waiting for credit, and the promise bookkeeping of
//! `send()`. [`UiConnection`] performs the handshake and starts the reader and writer.

use crate::credit::{Credit, CreditWindow};
use crate::envelope::{message_size, Envelope, MessageClass, StreamId};
use crate::frames::{BrokerToUi, UiHello, UiToBroker, UiWelcome};
use crate::reason::{EndReason, SessionEnd};
use crate::rejection::{RejectKind, Rejection};
use crate::transport::{self, Bootstrap, Inbound, Outbox, OutboxError, TransportError, Writes};
use std::collections::VecDeque;
use std::time::Duration;

/// What the UI side learns from the broker, in order, for its page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UiNotice {
    /// The send with this sequence was admitted (its promise resolves).
    Admitted(u64),
    /// The send with this sequence was refused (its promise rejects with `rejection.kind.name()`).
    Rejected(u64, Rejection),
    /// A state update for the page (`message` event). Call [`UiChannel::consumed`] once the
    /// page has taken it, to grant the broker credit for the next one.
    Message(Envelope),
    /// A non-terminal error (`error` event).
    Error(Rejection),
    /// The session ended (`sessionend`, exactly once). Every send not yet admitted was
    /// reported as `Rejected(_, InvalidStateError)` just before this notice.
    SessionEnd(SessionEnd),
}

/// The UI side's protocol state for one session.
pub struct UiChannel {
    welcome: UiWelcome,
    credit: CreditWindow,
    next_sequence: u64,
    /// Sends waiting for credit, in order (bounded by `max_pending_sends`).
    waiting: VecDeque<Envelope>,
    /// Sequences sent and not yet admitted or refused, in order.
    in_flight: VecDeque<u64>,
    ended: Option<SessionEnd>,
}

impl UiChannel {
    /// Starts the state machine from the broker's welcome.
    pub fn new(welcome: UiWelcome) -> UiChannel {
        let mut credit = CreditWindow::default();
        credit.grant(welcome.initial_credit);
        UiChannel {
            welcome,
            credit,
            next_sequence: 1,
            waiting: VecDeque::new(),
            in_flight: VecDeque::new(),
            ended: None,
        }
    }

    /// The broker's welcome (session id, limits, declared UI event types).
    pub fn welcome(&self) -> &UiWelcome {
        &self.welcome
    }

    /// `readyState`: `"open"` until the session ends, then `"closed"`.
    pub fn ready_state(&self) -> &'static str {
        if self.ended.is_some() {
            "closed"
        } else {
            "open"
        }
    }

    /// `desiredSize`: messages the page may send now without waiting (negative when sends wait).
    pub fn desired_size(&self) -> i64 {
        if self.ended.is_some() {
            return 0;
        }
        i64::try_from(self.credit.messages).unwrap_or(i64::MAX) - self.waiting.len() as i64
    }

    /// Sends not yet admitted or refused (waiting for credit or for the broker's verdict).
    pub fn unsettled_sends(&self) -> usize {
        self.waiting.len() + self.in_flight.len()
    }

    /// How the session ended, once it has.
    pub fn ended(&self) -> Option<&SessionEnd> {
        self.ended.as_ref()
    }

    /// `send(messageType, payload)` with `payload` already JSON text. On success returns the
    /// sequence whose [`UiNotice::Admitted`]/[`UiNotice::Rejected`] settles the promise; frames
    /// to transmit are pushed to `out`. Refusals that need no broker come back at once.
    pub fn send(&mut self, message_type: &str, payload: String, out: &mut Vec<UiToBroker>) -> Result<u64, Rejection> {
        if let Some(end) = &self.ended {
            return Err(Rejection {
                kind: RejectKind::SessionClosed,
                detail: format!("session ended: {}", end.reason),
            });
        }
        let size = message_size(message_type, &payload, None);
        if size > self.welcome.max_message_bytes as usize {
            return Err(Rejection {
                kind: RejectKind::TooLarge,
                detail: format!("message is {size} bytes; the limit is {}", self.welcome.max_message_bytes),
            });
        }
        if self.waiting.len() >= self.welcome.max_pending_sends as usize {
            return Err(Rejection {
                kind: RejectKind::TooLarge,
                detail: format!("{} sends already wait for credit", self.waiting.len()),
            });
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.waiting.push_back(Envelope {
            session_id: self.welcome.session_id.clone(),
            stream_id: StreamId::UiToCore,
            class: MessageClass::UiEvent,
            message_type: message_type.to_owned(),
            sequence,
            payload,
            coalesce_key: None,
        });
        self.pump(out);
        Ok(sequence)
    }

    /// The page consumed `messages` state updates totalling `bytes`: grant the broker credit.
    pub fn consumed(&mut self, messages: u32, bytes: u64, out: &mut Vec<UiToBroker>) {
        if self.ended.is_none() && messages > 0 {
            out.push(UiToBroker::Credit(Credit { messages, bytes }));
        }
    }

    /// A new document of the app's UI attached (a reload or a navigation inside `ui/`): the
    /// broker tells the core, which can send its state again.
    pub fn page_attached(&mut self, out: &mut Vec<UiToBroker>) {
        if self.ended.is_none() {
            out.push(UiToBroker::PageAttached);
        }
    }

    /// The user closes the app.
    pub fn close(&mut self, out: &mut Vec<UiToBroker>) {
        if self.ended.is_none() {
            out.push(UiToBroker::Close);
        }
    }

    /// Asks the broker to inject a fault (honoured only in a test-mode session).
    pub fn test_control(&mut self, action: crate::frames::TestAction, out: &mut Vec<UiToBroker>) {
        if self.ended.is_none() {
            out.push(UiToBroker::TestControl(action));
        }
    }

    /// Tells the broker how the UI process is confined (once, after the welcome).
    pub fn confined(&mut self, confinement: crate::frames::Confinement, out: &mut Vec<UiToBroker>) {
        if self.ended.is_none() {
            out.push(UiToBroker::Confined(confinement));
        }
    }

    /// Handles one frame from the broker; frames to transmit go to `out`, notices for the page
    /// to `notices`. A frame that makes no sense for the UI side ends the session locally as a
    /// protocol violation.
    pub fn on_frame(&mut self, frame: BrokerToUi, out: &mut Vec<UiToBroker>, notices: &mut Vec<UiNotice>) {
        if self.ended.is_some() {
            return;
        }
        match frame {
            BrokerToUi::Admitted { sequence } => self.settle(sequence, None, notices),
            BrokerToUi::Rejected { sequence, rejection } => self.settle(sequence, Some(rejection), notices),
            BrokerToUi::Credit(credit) => {
                self.credit.grant(credit);
                self.pump(out);
            }
            BrokerToUi::Message(envelope) => notices.push(UiNotice::Message(envelope)),
            BrokerToUi::Error(rejection) => notices.push(UiNotice::Error(rejection)),
            BrokerToUi::SessionEnd(end) => self.end(end, notices),
            BrokerToUi::Welcome(_) => {
                self.end(local_end(EndReason::ProtocolViolation, "second welcome from the broker"), notices)
            }
        }
    }

    /// The transport failed: the broker is gone (`broker-lost`) or sent garbage.
    pub fn on_transport_end(&mut self, reason: EndReason, detail: &str, notices: &mut Vec<UiNotice>) {
        if self.ended.is_none() {
            self.end(local_end(reason, detail), notices);
        }
    }

    fn settle(&mut self, sequence: u64, rejection: Option<Rejection>, notices: &mut Vec<UiNotice>) {
        // Verdicts come in send order; anything else is the broker breaking the protocol.
        if self.in_flight.front() != Some(&sequence) {
            let detail = format!("verdict for sequence {sequence}, expected {:?}", self.in_flight.front());
            self.end(local_end(EndReason::ProtocolViolation, &detail), notices);
            return;
        }
        self.in_flight.pop_front();
        notices.push(match rejection {
            None => UiNotice::Admitted(sequence),
            Some(r) => UiNotice::Rejected(sequence, r),
        });
    }

    fn pump(&mut self, out: &mut Vec<UiToBroker>) {
        while let Some(next) = self.waiting.front() {
            if !self.credit.take(next.size()) {
                break;
            }
            if let Some(envelope) = self.waiting.pop_front() {
                self.in_flight.push_back(envelope.sequence);
                out.push(UiToBroker::Message(envelope));
            }
        }
    }

    fn end(&mut self, end: SessionEnd, notices: &mut Vec<UiNotice>) {
        let closed = Rejection { kind: RejectKind::SessionClosed, detail: format!("session ended: {}", end.reason) };
        for sequence in self.in_flight.drain(..).chain(self.waiting.drain(..).map(|e| e.sequence)) {
            notices.push(UiNotice::Rejected(sequence, closed.clone()));
        }
        notices.push(UiNotice::SessionEnd(end.clone()));
        self.ended = Some(end);
    }
}

fn local_end(reason: EndReason, detail: &str) -> SessionEnd {
    SessionEnd { reason, detail: detail.to_owned(), unconfirmed_ui_events: 0, undelivered_state_updates: 0 }
}

/// A connected UI endpoint: the state machine plus its writer. Frames from the broker arrive
/// through the `deliver` callback given to [`UiConnection::connect`], on a reader thread.
pub struct UiConnection {
    /// The protocol state.
    pub channel: UiChannel,
    outbox: Outbox<UiToBroker>,
}

impl UiConnection {
    /// Joins the session described by `bootstrap`: handshake, then reader and writer threads.
    /// Every later frame from the broker (and the end of the stream) goes to `deliver`.
    pub fn connect<F>(bootstrap: &Bootstrap, timeout: Duration, mut deliver: F) -> Result<UiConnection, TransportError>
    where
        F: FnMut(Inbound<BrokerToUi>) -> bool + Send + 'static,
    {
        UiConnection::connect_batched(bootstrap, timeout, move |batch| batch.into_iter().all(&mut deliver))
    }

    /// Like [`UiConnection::connect`], with the frames of each message from the broker (a
    /// burst) given to `deliver` together, on the reader thread.
    pub fn connect_batched<F>(
        bootstrap: &Bootstrap,
        timeout: Duration,
        mut deliver: F,
    ) -> Result<UiConnection, TransportError>
    where
        F: FnMut(Vec<Inbound<BrokerToUi>>) -> bool + Send + 'static,
    {
        let to_broker = transport::connect::<UiToBroker>(&bootstrap.server_name)?;
        let (to_ui, from_broker) = transport::channel::<BrokerToUi>()?;
        to_broker.send(vec![UiToBroker::Hello(UiHello {
            protocol_version: crate::PROTOCOL_VERSION,
            session_id: bootstrap.session_id.clone(),
            secret: bootstrap.secret.clone(),
            to_ui,
        })])?;
        let first = match from_broker.try_recv_timeout(timeout) {
            Ok(batch) => batch,
            Err(ipc_channel::TryRecvError::Empty) => return Err(TransportError::Timeout(timeout)),
            Err(ipc_channel::TryRecvError::IpcError(e)) => return Err(e.into()),
        };
        let mut frames = first.into_iter();
        let welcome = match frames.next() {
            Some(BrokerToUi::Welcome(w)) => w,
            Some(BrokerToUi::SessionEnd(end)) => {
                return Err(TransportError::Handshake(format!("{}: {}", end.reason, end.detail)))
            }
            other => return Err(TransportError::Handshake(format!("expected welcome, got {other:?}"))),
        };
        // Frames batched behind the welcome go to the page like any other.
        let early: Vec<Inbound<BrokerToUi>> = frames.map(Inbound::Frame).collect();
        let capacity = welcome.max_pending_sends as usize + 1024;
        let outbox = Outbox::spawn("ui", to_broker, capacity, Writes::CallerWhenIdle)?;
        // The first credit for state updates: the page can take a window's worth at once.
        outbox.try_send(UiToBroker::Credit(crate::credit::DEFAULT_WINDOW)).map_err(|_| TransportError::Disconnected)?;
        if !early.is_empty() {
            deliver(early);
        }
        transport::spawn_batch_reader("ui", from_broker, deliver)?;
        Ok(UiConnection { channel: UiChannel::new(welcome), outbox })
    }

    /// Transmits frames produced by the state machine. A full outbox means the broker stopped
    /// reading: the session is treated as lost. A closed one means the broker has closed its
    /// end, normally because the session ended: its last frames (the `SessionEnd` with the
    /// real reason) may still be waiting to be read, so the end is left to the reader — its
    /// `SessionEnd`, or `Disconnected` (`broker-lost`) if the broker died without one.
    pub fn transmit(&mut self, frames: Vec<UiToBroker>, notices: &mut Vec<UiNotice>) {
        match self.outbox.try_send_all(frames) {
            Ok(()) => {}
            Err(OutboxError::Full) => {
                self.channel.on_transport_end(EndReason::BrokerLost, "broker stopped reading", notices);
            }
            Err(OutboxError::Closed) => {
                tracing::debug!("the broker closed its endpoint; waiting for its last frames");
            }
        }
    }
}

/// Convenience for tests and tools: the end notice for a reader's `Inbound` terminal item.
pub fn transport_end_reason(item: &Inbound<BrokerToUi>) -> Option<(EndReason, String)> {
    match item {
        Inbound::Frame(_) => None,
        Inbound::Disconnected => Some((EndReason::BrokerLost, "broker disconnected".into())),
        Inbound::Malformed(e) => Some((EndReason::ProtocolViolation, format!("malformed frame from broker: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::SessionId;

    fn welcome(credit: u32) -> UiWelcome {
        UiWelcome {
            protocol_version: 1,
            session_id: SessionId("s".into()),
            app_name: "t".into(),
            max_message_bytes: 100,
            max_pending_sends: 2,
            ui_event_types: vec!["echo".into()],
            initial_credit: Credit { messages: credit, bytes: 1000 },
            test_control: false,
        }
    }

    #[test]
    fn sends_wait_for_credit_then_flow_in_order() {
        let mut ch = UiChannel::new(welcome(1));
        let mut out = Vec::new();
        assert_eq!(ch.send("echo", "1".into(), &mut out), Ok(1));
        assert_eq!(ch.send("echo", "2".into(), &mut out), Ok(2));
        assert_eq!(out.len(), 1);
        assert_eq!(ch.desired_size(), -1);
        assert_eq!(ch.send("echo", "3".into(), &mut out), Ok(3));
        let full = ch.send("echo", "4".into(), &mut out).expect_err("queue bound");
        assert_eq!(full.kind.name(), "QuotaExceededError");
        let mut notices = Vec::new();
        ch.on_frame(BrokerToUi::Credit(Credit { messages: 5, bytes: 1000 }), &mut out, &mut notices);
        let seqs: Vec<u64> = out
            .iter()
            .filter_map(|f| match f {
                UiToBroker::Message(e) => Some(e.sequence),
                _ => None,
            })
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
    }

    #[test]
    fn oversize_is_refused_before_leaving() {
        let mut ch = UiChannel::new(welcome(10));
        let mut out = Vec::new();
        let err = ch.send("echo", "x".repeat(200), &mut out).expect_err("too large");
        assert_eq!(err.kind, RejectKind::TooLarge);
        assert!(out.is_empty());
    }

    #[test]
    fn session_end_rejects_everything_pending_exactly_once() {
        let mut ch = UiChannel::new(welcome(1));
        let mut out = Vec::new();
        ch.send("echo", "1".into(), &mut out).expect("send");
        ch.send("echo", "2".into(), &mut out).expect("send");
        let mut notices = Vec::new();
        let end = local_end(EndReason::CoreCrashed, "x");
        ch.on_frame(BrokerToUi::SessionEnd(end.clone()), &mut out, &mut notices);
        ch.on_transport_end(EndReason::BrokerLost, "gone", &mut notices);
        assert_eq!(notices.len(), 3);
        assert!(matches!(&notices[0], UiNotice::Rejected(1, r) if r.kind.name() == "InvalidStateError"));
        assert!(matches!(&notices[1], UiNotice::Rejected(2, _)));
        assert_eq!(notices[2], UiNotice::SessionEnd(end));
        assert_eq!(ch.ready_state(), "closed");
        assert_eq!(ch.send("echo", "3".into(), &mut out).expect_err("closed").kind, RejectKind::SessionClosed);
    }

    #[test]
    fn out_of_order_verdict_is_a_protocol_violation() {
        let mut ch = UiChannel::new(welcome(5));
        let mut out = Vec::new();
        ch.send("echo", "1".into(), &mut out).expect("send");
        ch.send("echo", "2".into(), &mut out).expect("send");
        let mut notices = Vec::new();
        ch.on_frame(BrokerToUi::Admitted { sequence: 2 }, &mut out, &mut notices);
        assert!(matches!(notices.last(), Some(UiNotice::SessionEnd(e)) if e.reason == EndReason::ProtocolViolation));
    }

    #[test]
    fn a_closed_broker_endpoint_leaves_the_end_to_the_broker_s_last_frame() {
        // The broker ended the session and closed its end while this UI was still sending:
        // sending fails, but the reason is the one in the SessionEnd still to be read.
        let (tx, rx) = crate::transport::channel::<UiToBroker>().expect("channel");
        drop(rx);
        let outbox = Outbox::spawn("closed", tx, 8, Writes::CallerWhenIdle).expect("outbox");
        let mut connection = UiConnection { channel: UiChannel::new(welcome(4)), outbox };
        let mut notices = Vec::new();
        let started = std::time::Instant::now();
        while connection.outbox.try_send(UiToBroker::Close) != Err(OutboxError::Closed) {
            assert!(started.elapsed() < Duration::from_secs(5), "the writer never noticed the closed endpoint");
            std::thread::yield_now();
        }
        connection.transmit(vec![UiToBroker::Close], &mut notices);
        assert!(notices.is_empty(), "no local end: {notices:?}");
        let end = SessionEnd {
            reason: EndReason::CoreCrashed,
            detail: "killed".into(),
            unconfirmed_ui_events: 0,
            undelivered_state_updates: 0,
        };
        connection.channel.on_frame(BrokerToUi::SessionEnd(end), &mut Vec::new(), &mut notices);
        assert!(
            matches!(notices.as_slice(), [UiNotice::SessionEnd(e)] if e.reason == EndReason::CoreCrashed),
            "{notices:?}"
        );
    }
}
