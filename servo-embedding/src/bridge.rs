//! The session's UI endpoint inside the shell.
//!
//! The protocol state (`UiChannel`) lives here, behind one mutex, driven from two sides: the
//! broker's frames, handled on the connection's reader thread as each message (a burst of
//! frames) arrives, and the page's sends, on its script thread ([`crate::page_channel`]). No
//! other thread hop is on the way. What a document must learn is queued for it as one task
//! per burst ([`crate::documents`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft_ipc::frames::{BrokerToUi, TestAction, UiToBroker};
use weft_ipc::lock;
use weft_ipc::transport::{Bootstrap, Inbound, TransportError};
use weft_ipc::ui_client::{transport_end_reason, UiConnection, UiNotice};

use crate::documents::{Documents, Generation};
use crate::probe::Probe;
use script::page_channel::{PageChannelError, PageChannelErrorName, PageChannelEvent, PageChannelSender};

/// Where the reader thread's bursts go: held until the bridge's state exists (frames can
/// arrive with the welcome), then handled at once.
enum Route {
    Waiting(Vec<Inbound<BrokerToUi>>),
    Ready(std::sync::Weak<Mutex<State>>),
}

struct State {
    connection: UiConnection,
    /// Channel sequence → the document that sent it and its promise id.
    ids: HashMap<u64, (Generation, u64)>,
    /// The page's documents ([`crate::page_channel`]): which one is current, and what waits
    /// for it.
    documents: Documents,
    /// Frames for the broker held back by the page's sends of this turn, until the page's
    /// channel flushes them ([`Bridge::document_flush`]); every other transmission sends them
    /// first, so the broker sees the UI's frames in the order they were made.
    held_up: Vec<UiToBroker>,
    /// Credit for messages the current document dispatched, not yet sent to the broker
    /// ([`Bridge::document_consumed`]); it leaves with the next transmission.
    credit_due: weft_ipc::credit::Credit,
    /// Sizes of messages shown to the page and not yet reported consumed.
    shown_sizes: VecDeque<u64>,
    /// The `desiredSize` the current document last learned of (it lowers its own as it sends;
    /// a rise is news to it).
    last_desired: i64,
    /// Messages the page reported dispatched, in all.
    consumed_total: u64,
    last_activity: Instant,
    ended: Option<String>,
    /// The detail of the session's end, for documents that attach after it.
    end_detail: String,
    /// Benchmarks only (`--probe`): the shell's share of lone round trips.
    probe: Option<Arc<Probe>>,
}

/// The shell's UI endpoint for one session. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct Bridge {
    state: Arc<Mutex<State>>,
    app_name: Arc<str>,
    /// appd launched the session in test mode.
    test_control: bool,
    /// The shell runs with `--test-driver`: the page gets `weft_test_driver`.
    test_driver: bool,
}

/// What the test driver may ask for (test mode only; see [`Bridge::test_driver`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestDriverAction {
    /// The broker kills the core process.
    KillCore,
    /// The core's next host call traps.
    TrapCore,
    /// The core host makes a system call its sandbox refuses.
    ForbiddenSyscall,
    /// The user closes the app (the same path as closing the window).
    CloseApp,
}

impl Bridge {
    /// Joins the session described by `bootstrap` and starts relaying to the app's page
    /// (messages that arrive before the first document attaches wait for it). `probe`
    /// (benchmarks only) times lone round trips.
    pub fn connect(bootstrap: &Bootstrap, probe: Option<Arc<Probe>>) -> Result<Bridge, TransportError> {
        let route = Arc::new(Mutex::new(Route::Waiting(Vec::new())));
        let reader_route = route.clone();
        let reader_probe = probe.clone();
        let connection = UiConnection::connect_batched(bootstrap, Duration::from_secs(10), move |burst| {
            if let Some(probe) = &reader_probe {
                probe.frame_received();
            }
            // The route's lock orders these bursts after the ones held before the state existed.
            let mut route = lock(&reader_route);
            match &mut *route {
                Route::Waiting(held) => {
                    held.extend(burst);
                    true
                }
                Route::Ready(state) => match state.upgrade() {
                    Some(state) => {
                        on_inbound(&state, burst);
                        true
                    }
                    None => false,
                },
            }
        })?;
        let welcome = connection.channel.welcome().clone();
        let desired = connection.channel.desired_size();
        let state = State {
            connection,
            ids: HashMap::new(),
            documents: Documents::default(),
            held_up: Vec::new(),
            credit_due: weft_ipc::credit::Credit::default(),
            shown_sizes: VecDeque::new(),
            last_desired: desired,
            consumed_total: 0,
            last_activity: Instant::now(),
            ended: None,
            end_detail: String::new(),
            probe,
        };
        let state = Arc::new(Mutex::new(state));
        {
            let mut route = lock(&route);
            if let Route::Waiting(held) = std::mem::replace(&mut *route, Route::Ready(Arc::downgrade(&state))) {
                if !held.is_empty() {
                    on_inbound(&state, held);
                }
            }
        }
        let bridge = Bridge {
            state,
            app_name: welcome.app_name.as_str().into(),
            test_control: welcome.test_control,
            test_driver: false,
        };
        Ok(bridge)
    }

    /// The app's name, from its manifest.
    pub fn app_name(&self) -> &str {
        &self.app_name
    }

    /// The round-trip probe, when the shell runs with `--probe` (benchmarks only).
    pub fn probe(&self) -> Option<Arc<Probe>> {
        lock(&self.state).probe.clone()
    }

    /// The user closes the app: ends the session as `app-closed`.
    pub fn close_app(&self) {
        let mut state = lock(&self.state);
        let mut out = Vec::new();
        state.connection.channel.close(&mut out);
        state.finish(out, Vec::new());
    }

    /// Turns on the test driver (the shell's `--test-driver`; for `scripts/wpt` only).
    pub fn with_test_driver(mut self) -> Bridge {
        self.test_driver = true;
        self
    }

    /// Whether the page gets the test driver ([`Bridge::with_test_driver`]).
    pub fn test_driver_enabled(&self) -> bool {
        self.test_driver
    }

    /// Carries out a test driver's request. Refused unless appd launched the session in test
    /// mode (`weft-appd run --test-control`).
    pub fn test_driver(&self, action: TestDriverAction) -> Result<(), String> {
        if !self.test_control {
            return Err("the session was not launched in test mode (weft-appd run --test-control)".into());
        }
        tracing::warn!(?action, "test driver");
        let mut state = lock(&self.state);
        let mut out = Vec::new();
        match action {
            TestDriverAction::KillCore => state.connection.channel.test_control(TestAction::KillCore, &mut out),
            TestDriverAction::TrapCore => state.connection.channel.test_control(TestAction::TrapCore, &mut out),
            TestDriverAction::ForbiddenSyscall => {
                state.connection.channel.test_control(TestAction::ForbiddenSyscall, &mut out)
            }
            TestDriverAction::CloseApp => state.connection.channel.close(&mut out),
        }
        state.finish(out, Vec::new());
        Ok(())
    }

    /// Tells appd how the shell is confined (once, right after joining).
    pub fn report_confinement(&self, confinement: weft_ipc::frames::Confinement) {
        let mut state = lock(&self.state);
        let mut out = Vec::new();
        state.connection.channel.confined(confinement, &mut out);
        state.finish(out, Vec::new());
    }

    /// How the session ended, once it has.
    pub fn ended(&self) -> Option<String> {
        lock(&self.state).ended.clone()
    }

    /// Messages the page has reported dispatched to its code so far.
    pub fn messages_consumed(&self) -> u64 {
        lock(&self.state).consumed_total
    }

    /// When the page last had something to learn.
    pub fn last_activity(&self) -> Instant {
        lock(&self.state).last_activity
    }
}

/// The page channel's side of the bridge ([`crate::page_channel`]): documents attach,
/// send, report what they dispatched and detach, each on the page's script thread.
impl Bridge {
    /// Attaches a document (it becomes the current one). Returns its generation; what it must
    /// learn first (messages held while no document was attached, or the session's end) is
    /// queued for it.
    pub fn attach_document(&self, sender: PageChannelSender) -> Generation {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let mut out = Vec::new();
        if let Some(probe) = &state.probe {
            probe.document_attached();
        }
        if state.documents.current().is_some() {
            // The document it replaces will never dispatch what it was shown.
            state.release_shown(&mut out);
        }
        let documents = &mut state.documents;
        let (generation, replaced) = documents.attach(sender);
        if let Some(replaced) = replaced {
            tracing::debug!(generation, replaced, "a new document of the app took the channel");
        }
        if generation > 1 {
            // Not the app's first document: the core sends its state again.
            state.connection.channel.page_attached(&mut out);
        }
        for message in documents.take_held() {
            state.shown_sizes.push_back(message.size() as u64);
            documents.push(generation, page_message(message));
        }
        if let Some(reason) = &state.ended {
            documents
                .push(generation, PageChannelEvent::End { reason: reason.clone(), detail: state.end_detail.clone() });
        }
        state.finish(out, Vec::new());
        generation
    }

    /// A send from document `generation`, numbered `id` by the page. `Err` settles it at once.
    pub fn document_send(
        &self,
        generation: Generation,
        id: u64,
        message_type: String,
        payload: String,
    ) -> Result<(), PageChannelError> {
        let mut state = lock(&self.state);
        if let Some(reason) = &state.ended {
            return Err(PageChannelError::new(
                PageChannelErrorName::InvalidStateError,
                format!("the session has ended: {reason}"),
            ));
        }
        if state.documents.current() != Some(generation) {
            return Err(PageChannelError::new(
                PageChannelErrorName::InvalidStateError,
                "a newer document of this app holds the channel",
            ));
        }
        if let Some(probe) = &state.probe {
            probe.post(Instant::now(), &[payload.len()]);
        }
        // Held until the page's channel flushes its turn's sends (one message to appd).
        let mut held = std::mem::take(&mut state.held_up);
        let result = match state.connection.channel.send(&message_type, payload, &mut held) {
            Ok(sequence) => {
                state.ids.insert(sequence, (generation, id));
                Ok(())
            }
            Err(rejection) => Err(page_error(&rejection)),
        };
        state.held_up = held;
        // The page lowers its own `desiredSize` for this send; a later rise is news to it.
        state.last_desired = state.connection.channel.desired_size();
        result
    }

    /// The page's sends of this turn are made: they leave, as one message.
    pub fn document_flush(&self) {
        let mut state = lock(&self.state);
        if !state.held_up.is_empty() {
            state.finish(Vec::new(), Vec::new());
        }
    }

    /// Document `generation` has dispatched `messages` more message events.
    pub fn document_consumed(&self, generation: Generation, messages: u32) {
        let mut state = lock(&self.state);
        tracing::debug!(generation, messages, "the page dispatched messages");
        if state.documents.current() != Some(generation) {
            return;
        }
        state.consumed_total += u64::from(messages);
        let n = (messages as usize).min(state.shown_sizes.len());
        let bytes: u64 = state.shown_sizes.drain(..n).sum();
        state.credit_due.messages += n as u32;
        state.credit_due.bytes += bytes;
        // Credit leaves in quarters of the broker's window (or with the page's next sends):
        // holding less than a quarter can never stall the broker, which still has the rest.
        let quarter = weft_ipc::credit::DEFAULT_WINDOW;
        if state.credit_due.messages >= quarter.messages / 4 || state.credit_due.bytes >= quarter.bytes / 4 {
            state.finish(Vec::new(), Vec::new());
        }
    }

    /// How many more messages the page may send now (`desiredSize`).
    pub fn desired_size(&self) -> i64 {
        lock(&self.state).connection.channel.desired_size()
    }

    /// Document `generation` is going away.
    pub fn detach_document(&self, generation: Generation) {
        let mut state = lock(&self.state);
        if state.documents.detach(generation) {
            tracing::debug!(generation, "the app's document detached");
            let mut out = Vec::new();
            state.release_shown(&mut out);
            state.finish(out, Vec::new());
        }
    }

    /// The session's id and size limit, for a document attaching.
    pub fn channel_facts(&self) -> (String, u64) {
        let state = lock(&self.state);
        let welcome = state.connection.channel.welcome();
        (welcome.session_id.0.clone(), u64::from(welcome.max_message_bytes))
    }
}

/// Handles one burst of the broker's frames (one message from it), under one lock.
fn on_inbound(state: &Mutex<State>, burst: Vec<Inbound<BrokerToUi>>) {
    let mut state = lock(state);
    let mut out = Vec::new();
    let mut notices = Vec::new();
    for item in burst {
        match item {
            Inbound::Frame(frame) => state.connection.channel.on_frame(frame, &mut out, &mut notices),
            end => {
                if let Some((reason, detail)) = transport_end_reason(&end) {
                    state.connection.channel.on_transport_end(reason, &detail, &mut notices);
                }
            }
        }
    }
    state.finish(out, notices);
}

/// A broker rejection as the page's error.
fn page_error(rejection: &weft_ipc::rejection::Rejection) -> PageChannelError {
    let name = match rejection.kind.name() {
        "DataError" => PageChannelErrorName::DataError,
        "QuotaExceededError" => PageChannelErrorName::QuotaExceededError,
        "InvalidStateError" => PageChannelErrorName::InvalidStateError,
        _ => PageChannelErrorName::OperationError,
    };
    PageChannelError::new(name, rejection.detail.clone())
}

/// A state update as the page's message event.
fn page_message(e: weft_ipc::envelope::Envelope) -> PageChannelEvent {
    PageChannelEvent::Message { message_type: e.message_type, sequence: e.sequence, payload: e.payload }
}

impl State {
    /// Messages shown to a document that will never dispatch them (it was replaced or went
    /// away) count as consumed, so the broker's window does not shrink for good.
    fn release_shown(&mut self, out: &mut Vec<UiToBroker>) {
        let n = self.shown_sizes.len();
        if n > 0 {
            let bytes: u64 = self.shown_sizes.drain(..).sum();
            self.connection.channel.consumed(n as u32, bytes, out);
        }
    }

    /// Transmits `out` to the broker (after the frames held up, and any credit due) and hands
    /// what the notices say to the documents, as one delivery each.
    fn finish(&mut self, out: Vec<UiToBroker>, mut notices: Vec<UiNotice>) {
        if self.credit_due.messages > 0 {
            let due = std::mem::take(&mut self.credit_due);
            self.connection.channel.consumed(due.messages, due.bytes, &mut self.held_up);
        }
        let out = if self.held_up.is_empty() {
            out
        } else {
            let mut all = std::mem::take(&mut self.held_up);
            all.extend(out);
            all
        };
        self.connection.transmit(out, &mut notices);
        if let Some(probe) = &self.probe {
            probe.sent();
        }
        for notice in notices {
            match notice {
                UiNotice::Admitted(sequence) => {
                    if let Some((generation, id)) = self.ids.remove(&sequence) {
                        self.documents.push(generation, PageChannelEvent::Settled { id, result: Ok(()) });
                    }
                }
                UiNotice::Rejected(sequence, r) => {
                    if let Some((generation, id)) = self.ids.remove(&sequence) {
                        self.documents.push(generation, PageChannelEvent::Settled { id, result: Err(page_error(&r)) });
                    }
                }
                UiNotice::Message(e) => {
                    if let Some(probe) = &self.probe {
                        probe.message_handled();
                    }
                    if self.documents.current().is_some() {
                        self.shown_sizes.push_back(e.size() as u64);
                        self.documents.push_current(page_message(e));
                    } else {
                        self.documents.hold(e);
                    }
                }
                UiNotice::Error(r) => {
                    if !self.documents.push_current(PageChannelEvent::Error(page_error(&r))) {
                        tracing::warn!(name = r.kind.name(), detail = %r.detail, "an error for the page, with no document attached");
                    }
                }
                UiNotice::SessionEnd(end) => {
                    tracing::debug!(reason = %end.reason, detail = %end.detail, "session ended");
                    self.ended = Some(end.reason.code().to_owned());
                    self.end_detail = end.detail.clone();
                    self.documents.push_all(PageChannelEvent::End {
                        reason: end.reason.code().to_owned(),
                        detail: end.detail.clone(),
                    });
                }
            }
        }
        self.last_activity = Instant::now();
        // The page lowers its own `desiredSize` as it sends; it learns of rises (credit).
        let desired = self.connection.channel.desired_size();
        if desired > self.last_desired && self.ended.is_none() {
            self.documents.push_current(PageChannelEvent::DesiredSizeChanged);
        }
        self.last_desired = desired;
        let deliveries = self.documents.flush();
        if let (Some(probe), true) = (self.probe.as_ref(), deliveries > 0) {
            probe.delivered();
        }
    }
}
