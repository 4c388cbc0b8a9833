//! The session's UI endpoint inside the shell, and the page-facing event log.
//!
//! The protocol state (`UiChannel`) lives here, behind one mutex, driven from two sides: the
//! broker's frames ([`Bridge::pump`]) and the page's posts ([`Bridge::on_post`]), both run by
//! the channel socket's thread ([`crate::socket`]), so an echo goes from the broker's frame to
//! the page's socket without another thread hop. Everything the page must learn becomes one
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

use crate::probe::Probe;

/// Events the log may hold before the page has read them. Messages are bounded by credit and
/// verdicts by the pending-send bound; this is a backstop against a page that never reads.
const MAX_LOG: usize = 8192;

/// Frames from the broker handled together (one lock, one chunk to the page).
const MAX_BURST: usize = 256;
/// Frames from the broker received and not yet handled; the receiving thread waits beyond.
const MAX_UNHANDLED_FRAMES: usize = 4096;

type Frames = tokio::sync::mpsc::Receiver<Inbound<BrokerToUi>>;

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
    /// Channel sequence → the page's promise id.
    ids: HashMap<u64, u64>,
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
    /// Benchmarks only (`--probe`): the shell's share of lone round trips.
    probe: Option<Arc<Probe>>,
}

/// The shell's UI endpoint for one session. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct Bridge {
    state: Arc<Mutex<State>>,
    /// The broker's frames, until [`Bridge::pump`] takes them.
    frames: Arc<Mutex<Option<Frames>>>,
    token: Arc<str>,
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
    /// Joins the session described by `bootstrap` and starts relaying. `token` is the secret
    /// the page's binding must present. `probe` (benchmarks only) times lone round trips.
    pub fn connect(bootstrap: &Bootstrap, token: String, probe: Option<Arc<Probe>>) -> Result<Bridge, TransportError> {
        let (frames_tx, frames) = tokio::sync::mpsc::channel::<Inbound<BrokerToUi>>(MAX_UNHANDLED_FRAMES);
        let reader_probe = probe.clone();
        let connection = UiConnection::connect(bootstrap, Duration::from_secs(10), move |item| {
            if let Some(probe) = &reader_probe {
                probe.frame_received();
            }
            frames_tx.blocking_send(item).is_ok()
        })?;
        let welcome = connection.channel.welcome().clone();
        let desired = connection.channel.desired_size();
        let mut state = State {
            connection,
            ids: HashMap::new(),
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
            probe,
        };
        state.push(json!({
            "kind": "open",
            "sessionId": welcome.session_id.0,
            "app": welcome.app_name,
            "maxMessageBytes": welcome.max_message_bytes,
            "uiEventTypes": welcome.ui_event_types,
            "desiredSize": desired,
        }));
        let bridge = Bridge {
            state: Arc::new(Mutex::new(state)),
            frames: Arc::new(Mutex::new(Some(frames))),
            token: token.into(),
            app_name: welcome.app_name.as_str().into(),
            test_control: welcome.test_control,
            test_driver: false,
        };
        Ok(bridge)
    }

    /// Handles the broker's frames until the connection ends: everything already received is
    /// handled under one lock and reaches the page as one chunk (a burst of echoes, verdicts
    /// and credit is one socket message). Runs once; a second call returns at once.
    pub async fn pump(&self) {
        let Some(mut frames) = lock(&self.frames).take() else {
            return;
        };
        while let Some(first) = frames.recv().await {
            let mut burst = vec![first];
            while burst.len() < MAX_BURST {
                match frames.try_recv() {
                    Ok(item) => burst.push(item),
                    Err(_) => break,
                }
            }
            self.on_inbound(burst);
        }
    }

    /// The app's name, from its manifest.
    pub fn app_name(&self) -> &str {
        &self.app_name
    }

    /// The token the page must present.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The round-trip probe, when the shell runs with `--probe` (benchmarks only).
    pub fn probe(&self) -> Option<Arc<Probe>> {
        lock(&self.state).probe.clone()
    }

    fn on_inbound(&self, burst: Vec<Inbound<BrokerToUi>>) {
        let mut state = lock(&self.state);
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
                    state.ids.insert(sequence, send.id);
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

impl State {
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
        self.connection.transmit(out, &mut notices);
        if let Some(probe) = &self.probe {
            probe.sent();
        }
        for notice in notices {
            match notice {
                UiNotice::Admitted(sequence) => {
                    if let Some(id) = self.ids.remove(&sequence) {
                        self.push(json!({"kind": "admitted", "id": id}));
                    }
                }
                UiNotice::Rejected(sequence, r) => {
                    if let Some(id) = self.ids.remove(&sequence) {
                        self.push(json!({"kind": "rejected", "id": id, "name": r.kind.name(), "message": r.detail}));
                    }
                }
                UiNotice::Message(e) => {
                    if let Some(probe) = &self.probe {
                        probe.message_handled();
                    }
                    self.shown_sizes.push_back(e.size() as u64);
                    self.push_message(&e);
                }
                UiNotice::Error(r) => self.push(json!({"kind": "error", "name": r.kind.name(), "message": r.detail})),
                UiNotice::SessionEnd(end) => {
                    tracing::info!(reason = %end.reason, detail = %end.detail, "session ended");
                    self.ended = Some(end.reason.code().to_owned());
                    self.push(json!({"kind": "sessionend", "reason": end.reason.code(), "detail": end.detail}));
                }
            }
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
