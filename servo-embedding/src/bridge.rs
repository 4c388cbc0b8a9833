//! The session's UI endpoint inside the shell, and the page-facing event log.
//!
//! The protocol state (`UiChannel`) lives here, behind one mutex, driven from two sides: the
//! broker's frames, handled on the connection's reader thread as each message (a burst of
//! frames) arrives, and the page: its sends, on its script thread (the native carrier,
//! [`crate::page_channel`]), or its posts ([`Bridge::on_post`]) on the channel socket's thread
//! (the socket carrier). No other thread hop is on the way. On the native carrier, what a
//! document must learn is queued for it as one task per burst ([`crate::documents`]).
//!
//! On the socket carrier, everything the page must learn becomes one
//! JSON line in the event log, numbered by a cursor. The page's connection follows the log; the
//! page acknowledges the cursor it has handled on its posts, which trims the log, and a
//! connection that replaces another (the binding reconnecting) replays what was not
//! acknowledged, so nothing is lost between connections.

use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft_ipc::frames::{BrokerToUi, TestAction, UiToBroker};
use weft_ipc::lock;
use weft_ipc::transport::{Bootstrap, Inbound, TransportError};
use weft_ipc::ui_client::{transport_end_reason, UiConnection, UiNotice};

use crate::documents::{Documents, Generation};
use crate::probe::Probe;
use crate::view::ChannelCarrier;
use script::page_channel::{PageChannelError, PageChannelErrorName, PageChannelEvent, PageChannelSender};

/// Events the log may hold before the page has read them. Messages are bounded by credit and
/// verdicts by the pending-send bound; this is a backstop against a page that never reads.
const MAX_LOG: usize = 8192;

/// Where the reader thread's bursts go: held until the bridge's state exists (frames can
/// arrive with the welcome), then handled at once.
enum Route {
    Waiting(Vec<Inbound<BrokerToUi>>),
    Ready(std::sync::Weak<Mutex<State>>),
}

/// How long the shell's exit waits for the page's connection to close the orderly way.
pub const PAGE_CLOSE_WAIT: Duration = Duration::from_millis(600);

/// Where a page's events go: its connection.
pub trait StreamSink: Send {
    /// Writes one chunk of newline-terminated JSON lines (one burst); `false` once the
    /// connection is gone.
    fn send(&mut self, chunk: String) -> bool;
    /// Cuts the connection at once, dropping what is still queued for it, as a failing
    /// transport would (the test driver's `drop-socket`).
    fn cut(&mut self);
}

/// What the page posts: sends, and how many messages it has dispatched since its last post.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagePost {
    /// The post's number (1, 2, …): a retried post repeats it and is processed once.
    pub seq: u64,
    /// New sends, in order.
    #[serde(default)]
    pub sends: Vec<PageSend>,
    /// Messages dispatched to page code since the last post (grants the broker credit).
    #[serde(default)]
    pub consumed: u32,
    /// The cursor of the last event the page has handled: the log forgets up to it.
    #[serde(default)]
    pub ack: u64,
}

/// One `send()` from the page.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSend {
    /// The page's id for the promise.
    pub id: u64,
    /// The message type.
    #[serde(rename = "type")]
    pub message_type: String,
    /// The payload as JSON text.
    pub payload: String,
}

struct State {
    connection: UiConnection,
    /// Channel sequence → the document that sent it (0 on the socket path) and its promise id.
    ids: HashMap<u64, (Generation, u64)>,
    /// The page's documents, once one has attached through the native page channel
    /// ([`crate::page_channel`]); `None` on the socket path.
    native: Option<Documents>,
    /// Frames for the broker held back by the page's sends of this turn, until the page's
    /// channel flushes them ([`Bridge::document_flush`]); every other transmission sends them
    /// first, so the broker sees the UI's frames in the order they were made.
    held_up: Vec<UiToBroker>,
    /// Credit for messages the current document dispatched, not yet sent to the broker
    /// ([`Bridge::document_consumed`]); it leaves with the next transmission.
    credit_due: weft_ipc::credit::Credit,
    /// Sizes of messages shown to the page and not yet reported consumed.
    shown_sizes: VecDeque<u64>,
    log: VecDeque<(u64, String)>,
    next_cursor: u64,
    stream: Option<(u64, Box<dyn StreamSink>)>,
    /// Connections opened and not yet finished (the current one and any being closed).
    live_streams: usize,
    /// Lines logged since the stream was last written: written as one chunk by
    /// [`State::flush`].
    unsent: String,
    next_stream: u64,
    last_desired: i64,
    /// The last post processed (retries of it are ignored).
    last_post: u64,
    /// Sends received from the page so far (lets the page correct its `desiredSize` for sends
    /// it made that the embedder had not seen yet).
    received_sends: u64,
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
    /// The user closes the app (the same path as closing the window).
    CloseApp,
    /// The shell cuts the page's channel connection, with whatever was still queued for it
    /// (the binding reconnects from its cursor and resends what the bridge has not confirmed):
    /// the transport failing under traffic.
    DropSocket,
}

impl Bridge {
    /// Joins the session described by `bootstrap` and starts relaying to a page on `carrier`
    /// (on the native one, messages that arrive before the first document attaches wait for
    /// it). `probe` (benchmarks only) times lone round trips.
    pub fn connect(
        bootstrap: &Bootstrap,
        carrier: ChannelCarrier,
        probe: Option<Arc<Probe>>,
    ) -> Result<Bridge, TransportError> {
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
        let mut state = State {
            connection,
            ids: HashMap::new(),
            native: (carrier == ChannelCarrier::Native).then(Documents::default),
            held_up: Vec::new(),
            credit_due: weft_ipc::credit::Credit::default(),
            shown_sizes: VecDeque::new(),
            log: VecDeque::new(),
            next_cursor: 1,
            stream: None,
            live_streams: 0,
            unsent: String::new(),
            next_stream: 1,
            last_desired: desired,
            last_post: 0,
            received_sends: 0,
            consumed_total: 0,
            last_activity: Instant::now(),
            ended: None,
            end_detail: String::new(),
            probe,
        };
        // The socket carrier's first event; the native carrier's channel reads these facts at
        // attach instead (`channel_facts`).
        if carrier == ChannelCarrier::Socket {
            state.push(json!({
            "kind": "open",
            "sessionId": welcome.session_id.0,
            "app": welcome.app_name,
            "maxMessageBytes": welcome.max_message_bytes,
            "uiEventTypes": welcome.ui_event_types,
            "desiredSize": desired,
            }));
        }
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

    /// Handles a post from the page (already authorised).
    pub fn on_post(&self, post: PagePost) {
        let mut state = lock(&self.state);
        if post.seq <= state.last_post {
            tracing::debug!(seq = post.seq, "ignored a retried post");
            return;
        }
        if post.seq != state.last_post + 1 {
            tracing::warn!(seq = post.seq, expected = state.last_post + 1, "the page skipped a post");
        }
        state.last_post = post.seq;
        state.forget_through(post.ack);
        let mut out = Vec::new();
        let notices = Vec::new();
        state.consumed_total += u64::from(post.consumed);
        if post.consumed > 0 {
            let n = (post.consumed as usize).min(state.shown_sizes.len());
            let bytes: u64 = state.shown_sizes.drain(..n).sum();
            state.connection.channel.consumed(n as u32, bytes, &mut out);
        }
        state.received_sends += post.sends.len() as u64;
        // Always tell the page where its sends stand and that this post arrived (it keeps a
        // post until then, to resend it if its connection drops), even if the window did not
        // move; and at once: Servo's WebSocket client leaves Nagle's algorithm on, so a post
        // left unanswered holds the page's next one until a delayed ACK (a deferred answer
        // cut small-message throughput fourfold; docs/performance.md).
        state.last_desired = i64::MIN;
        for send in post.sends {
            match state.connection.channel.send(&send.message_type, send.payload, &mut out) {
                Ok(sequence) => {
                    state.ids.insert(sequence, (0, send.id));
                }
                Err(rejection) => state.push(json!({
                    "kind": "rejected", "id": send.id, "name": rejection.kind.name(), "message": rejection.detail,
                })),
            }
        }
        state.finish(out, notices);
    }

    /// Opens the page's event stream from `cursor`: replays what the page has not seen, then
    /// follows. A newer stream replaces an older one. Returns the stream's id.
    pub fn open_stream(&self, cursor: u64, mut stream: Box<dyn StreamSink>) -> u64 {
        let mut state = lock(&self.state);
        let id = state.next_stream;
        state.next_stream += 1;
        state.live_streams += 1;
        // The replay below covers anything not yet written to the previous stream.
        state.unsent.clear();
        state.forget_through(cursor);
        if !state.log.is_empty() {
            let mut chunk = String::with_capacity(state.log.iter().map(|(_, l)| l.len() + 1).sum());
            for (_, line) in &state.log {
                chunk.push_str(line);
                chunk.push('\n');
            }
            if let Some(probe) = &state.probe {
                probe.chunk_flushed();
            }
            if !stream.send(chunk) {
                return id;
            }
        }
        state.stream = Some((id, stream));
        id
    }

    /// Stream `id` has finished (every stream opened is finished once): stops following on it,
    /// if it is still the current one.
    pub fn close_stream(&self, id: u64) {
        let mut state = lock(&self.state);
        state.live_streams = state.live_streams.saturating_sub(1);
        if state.stream.as_ref().is_some_and(|(current, _)| *current == id) {
            state.stream = None;
        }
    }

    /// Closes the page's connection the orderly way (what is queued for it is written, then a
    /// WebSocket close), running `spin` (which must let Servo work) until every connection has
    /// finished, for at most [`PAGE_CLOSE_WAIT`]. For the shell's exit, so the page's side
    /// (Servo) sees a closed socket, not a reset.
    pub fn close_page_spinning(&self, mut spin: impl FnMut()) {
        // Dropping the sink ends its writer after the chunks it holds (see `socket`).
        lock(&self.state).stream = None;
        let deadline = Instant::now() + PAGE_CLOSE_WAIT;
        while lock(&self.state).live_streams > 0 && Instant::now() < deadline {
            spin();
        }
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
            TestDriverAction::CloseApp => state.connection.channel.close(&mut out),
            TestDriverAction::DropSocket if state.native.is_some() => {
                return Err("the native carrier has no socket to drop".into());
            }
            TestDriverAction::DropSocket => {
                if let Some((_, mut stream)) = state.stream.take() {
                    stream.cut();
                }
            }
        }
        state.finish(out, Vec::new());
        Ok(())
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

/// The native page channel's side of the bridge ([`crate::page_channel`]): documents attach,
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
            probe.connection_opened();
        }
        if state.native.as_ref().is_some_and(|documents| documents.current().is_some()) {
            // The document it replaces will never dispatch what it was shown.
            state.release_shown(&mut out);
        }
        let documents = state.native.get_or_insert_with(Documents::default);
        let (generation, replaced) = documents.attach(sender);
        if let Some(replaced) = replaced {
            tracing::info!(generation, replaced, "a new document of the app took the channel");
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
        if state.native.as_ref().and_then(Documents::current) != Some(generation) {
            return Err(PageChannelError::new(
                PageChannelErrorName::InvalidStateError,
                "a newer document of this app holds the channel",
            ));
        }
        state.received_sends += 1;
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
        if state.native.as_ref().and_then(Documents::current) != Some(generation) {
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
        let Some(documents) = &mut state.native else {
            return;
        };
        if documents.detach(generation) {
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

    /// Forgets the logged events up to and including `cursor` (the page has handled them).
    fn forget_through(&mut self, cursor: u64) {
        while self.log.front().is_some_and(|(c, _)| *c <= cursor) {
            self.log.pop_front();
        }
    }

    fn push(&mut self, mut event: serde_json::Value) {
        let cursor = self.next_cursor;
        event["c"] = json!(cursor);
        self.push_line(event.to_string());
    }

    /// A message event, written directly: the payload is the broker-validated JSON text,
    /// embedded as is rather than parsed into a tree and printed again.
    fn push_message(&mut self, e: &weft_ipc::envelope::Envelope) {
        let cursor = self.next_cursor;
        let message_type = serde_json::to_string(&e.message_type).unwrap_or_else(|_| "\"\"".into());
        let valid = serde_json::from_str::<serde::de::IgnoredAny>(&e.payload).is_ok();
        let payload: std::borrow::Cow<'_, str> = if !valid {
            "null".into()
        } else if e.payload.contains(['\n', '\r']) {
            // In valid JSON a raw line break can only be whitespace between tokens.
            e.payload.replace(['\n', '\r'], " ").into()
        } else {
            e.payload.as_str().into()
        };
        let mut line = String::with_capacity(payload.len() + message_type.len() + 80);
        line.push_str("{\"kind\":\"message\",\"messageType\":");
        line.push_str(&message_type);
        line.push_str(",\"sequence\":");
        line.push_str(&e.sequence.to_string());
        line.push_str(",\"payload\":");
        line.push_str(&payload);
        line.push_str(",\"c\":");
        line.push_str(&cursor.to_string());
        line.push('}');
        self.push_line(line);
    }

    fn push_line(&mut self, line: String) {
        let cursor = self.next_cursor;
        self.next_cursor += 1;
        if self.stream.is_some() {
            self.unsent.push_str(&line);
            self.unsent.push('\n');
        }
        self.log.push_back((cursor, line));
        if self.log.len() > MAX_LOG {
            tracing::warn!("the page is not reading its events; dropping the oldest");
            self.log.pop_front();
        }
        self.last_activity = Instant::now();
    }

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
                        match &mut self.native {
                            Some(documents) => {
                                documents.push(generation, PageChannelEvent::Settled { id, result: Ok(()) })
                            }
                            None => self.push(json!({"kind": "admitted", "id": id})),
                        }
                    }
                }
                UiNotice::Rejected(sequence, r) => {
                    if let Some((generation, id)) = self.ids.remove(&sequence) {
                        match &mut self.native {
                            Some(documents) => documents
                                .push(generation, PageChannelEvent::Settled { id, result: Err(page_error(&r)) }),
                            None => self.push(
                                json!({"kind": "rejected", "id": id, "name": r.kind.name(), "message": r.detail}),
                            ),
                        }
                    }
                }
                UiNotice::Message(e) => {
                    if let Some(probe) = &self.probe {
                        probe.message_handled();
                    }
                    match &mut self.native {
                        Some(documents) if documents.current().is_some() => {
                            self.shown_sizes.push_back(e.size() as u64);
                            documents.push_current(page_message(e));
                        }
                        Some(documents) => documents.hold(e),
                        None => {
                            self.shown_sizes.push_back(e.size() as u64);
                            self.push_message(&e);
                        }
                    }
                }
                UiNotice::Error(r) => match &mut self.native {
                    Some(documents) => {
                        if !documents.push_current(PageChannelEvent::Error(page_error(&r))) {
                            tracing::warn!(name = r.kind.name(), detail = %r.detail, "an error for the page, with no document attached");
                        }
                    }
                    None => self.push(json!({"kind": "error", "name": r.kind.name(), "message": r.detail})),
                },
                UiNotice::SessionEnd(end) => {
                    tracing::info!(reason = %end.reason, detail = %end.detail, "session ended");
                    self.ended = Some(end.reason.code().to_owned());
                    self.end_detail = end.detail.clone();
                    match &mut self.native {
                        Some(documents) => documents.push_all(PageChannelEvent::End {
                            reason: end.reason.code().to_owned(),
                            detail: end.detail.clone(),
                        }),
                        None => {
                            self.push(json!({"kind": "sessionend", "reason": end.reason.code(), "detail": end.detail}))
                        }
                    }
                }
            }
        }
        if let Some(documents) = &mut self.native {
            self.last_activity = Instant::now();
            // The page lowers its own `desiredSize` as it sends; it learns of rises (credit).
            let desired = self.connection.channel.desired_size();
            if desired > self.last_desired && self.ended.is_none() {
                documents.push_current(PageChannelEvent::DesiredSizeChanged);
            }
            self.last_desired = desired;
            let deliveries = documents.flush();
            if let (Some(probe), true) = (self.probe.as_ref(), deliveries > 0) {
                // Handed to the page's event loop: the native carrier's "written".
                probe.chunk_flushed();
                probe.chunk_written();
            }
            return;
        }
        let desired = self.connection.channel.desired_size();
        if desired != self.last_desired && self.ended.is_none() {
            self.last_desired = desired;
            self.push(json!({
                "kind": "desired-size", "value": desired, "received": self.received_sends, "post": self.last_post,
            }));
        }
        self.flush();
    }

    /// Writes the lines logged since the last write to the stream, as one chunk.
    fn flush(&mut self) {
        if self.unsent.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.unsent);
        if let Some((_, stream)) = &mut self.stream {
            if let Some(probe) = &self.probe {
                probe.chunk_flushed();
            }
            if !stream.send(chunk) {
                self.stream = None;
            }
        }
    }
}
