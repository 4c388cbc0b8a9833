//! Runs one session: starts the core host and the UI, checks their handshakes, then drives the
//! [`Broker`] and tears the session down. A new core can take a running session over, the page
//! untouched: see [`core_swap`].
//!
//! Three threads share the session's state (one lock): each endpoint's reader thread runs the
//! broker on what each message from its peer carried and sends what that produced, one batch
//! per peer, so a message changes threads in appd only to be written; the session thread
//! handles the children's exits, commands and the clock (the watchdog), and tears the session
//! down. Nothing holding the lock waits on a peer: writes go through the outboxes' writer
//! threads, so a stopped peer blocks a writer, never the broker or the watchdog.
//!
//! Teardown follows the design's failure model: the core dies → the UI gets a terminal
//! `SessionEnd` with the reason; the UI dies or closes → the core is killed; a protocol
//! violation by either → both are told and the core is killed. The broker dying is seen by
//! both children as a disconnect.

mod core_swap;

use super::broker::{Broker, BrokerConfig, Flow, Output};
use crate::manifest::AppPackage;
use crate::recording::format::Footer;
use crate::recording::writer::Recorder;
use crate::registry::{Command as SessionCommand, EndStatus, Entry, Registry, SessionState, SessionStatus};
use crate::spawn::{describe_exit, ChildProcess, Exit, Spawner};
use crate::validation::Validator;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use weft_ipc::envelope::SessionId;
use weft_ipc::frames::{BrokerToCore, BrokerToUi, CoreLimits, CoreToBroker, CoreWelcome, UiToBroker};
use weft_ipc::lock;
use weft_ipc::reason::{EndReason, SessionEnd};
use weft_ipc::transport::{
    spawn_batch_reader, BatchReceiver, Bootstrap, Drained, Inbound, Listener, Outbox, OutboxError, Writes,
};

/// What the session handles: the endpoints' frames and ends (from their reader threads), and
/// on the session thread's queue the children's exits, commands and wake-ups.
enum Event {
    /// From the core host of this generation (0 for the first; each swap starts a new one).
    Core(u64, Inbound<CoreToBroker>),
    Ui(Inbound<UiToBroker>),
    /// The core host of this generation exited.
    CoreExited(u64, Exit),
    UiExited(Exit),
    Command(SessionCommand),
    /// A core host started for a swap joined the session (or could not); the swap's requester.
    CoreJoined(Box<Result<JoinedCore, LaunchError>>, core_swap::Reply),
    /// A reader ended the session or saw its endpoint go: the session thread looks.
    Wake,
}

/// Daemon-wide settings for starting sessions.
#[derive(Clone)]
pub struct SessionEnv {
    /// The core host executable.
    pub core_host: PathBuf,
    /// Starts child processes.
    pub spawner: Spawner,
    /// How long each child may take to connect.
    pub connect_timeout: Duration,
    /// All sessions.
    pub registry: Registry,
    /// Test mode: sessions accept fault injection from their UI (`weft-appd run --test-control`,
    /// used by `scripts/wpt`; never set by `serve`).
    pub test_control: bool,
    /// The `XDG_RUNTIME_DIR` the UI gets when the daemon's environment has none (display
    /// libraries Servo loads print an error without one): an owner-only directory of the
    /// daemon's. `None` leaves the UI's environment as the daemon's.
    pub ui_runtime_dir: Option<PathBuf>,
    /// UI events the core replays after `init` (`weft-appd run --carry-state-from`; see
    /// [`crate::carry`]). Empty for `serve`.
    pub carried_events: Vec<weft_ipc::frames::CarriedEvent>,
    /// Keep each session's UI events (bounded, see [`super::ui_history`]) so that a core swap
    /// carries the core's state over (`weft-appd run --keep-ui-history`, as `weft dev` runs).
    pub keep_ui_history: bool,
}

/// What the caller of [`launch`] learns.
#[derive(Debug, serde::Serialize)]
pub struct Launched {
    /// The new session.
    pub session_id: String,
    /// The core host's pid.
    pub core_pid: u32,
    /// The UI process's pid.
    pub ui_pid: u32,
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A child could not be started.
    #[error("cannot start the {role}: {source}")]
    Spawn {
        /// Which child.
        role: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A child did not connect, or its handshake was wrong.
    #[error("the {role} did not join the session: {detail}")]
    Handshake {
        /// Which child.
        role: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The app's schemas did not compile.
    #[error("app declarations: {0}")]
    Declarations(String),
    /// The IPC layer failed.
    #[error("ipc: {0}")]
    Ipc(#[from] weft_ipc::transport::TransportError),
    /// The recording file could not be created.
    #[error("cannot record to {path}: {source}")]
    Record {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Frames the outbox toward the UI may hold: credit bounds state updates and verdicts.
const UI_OUTBOX: usize = 4096;
/// Frames the outbox toward the core may hold.
const CORE_OUTBOX: usize = 4096;
/// State updates the core host's outbox may hold.
const CORE_OUTBOX_CAPACITY: u32 = 256;
/// Events waiting for the session thread (exits, commands, wake-ups).
const EVENT_QUEUE: usize = 4096;
/// How often the session thread runs the broker's clock (the watchdog) when nothing happens.
const TICK: Duration = Duration::from_millis(100);
/// State updates that may wait for the page.
const STATE_QUEUE: usize = 128;
/// How long to wait for a child's exit status once its endpoint closed (and vice versa).
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long a session's end notice may wait for room in a peer's full outbox.
const END_NOTICE_WAIT: Duration = Duration::from_secs(1);
/// How often the status snapshot is refreshed while messages flow.
const STATUS_INTERVAL: Duration = Duration::from_millis(50);
/// How long the end of a session waits for its recording to be written out.
const RECORDING_GRACE: Duration = Duration::from_secs(5);

/// Starts a session for `app` whose UI is `ui_command` (program and arguments); with `record`,
/// every message that crosses the broker is recorded into that file (`docs/recording.md`).
pub fn launch(
    app: Arc<AppPackage>,
    ui_command: &[String],
    env: &SessionEnv,
    record: Option<&Path>,
) -> Result<Launched, LaunchError> {
    let session_id = SessionId::random().map_err(|source| LaunchError::Spawn { role: "core host", source })?;
    let span = tracing::info_span!("session", id = %session_id, app = %app.name);
    let _entered = span.enter();
    let started = Instant::now();
    let mut recorder = match record {
        None => None,
        Some(path) => {
            let header = crate::recording::header(&app, &session_id.0);
            let recorder = Recorder::create(path, &header, started)
                .map_err(|source| LaunchError::Record { path: path.display().to_string(), source })?;
            tracing::info!(path = %path.display(), "recording the session");
            Some(recorder)
        }
    };
    let result = start(app, ui_command, env, session_id, &span, &mut recorder);
    if let (Err(e), Some(recorder)) = (&result, recorder) {
        let footer = Footer {
            end_reason: "launch-failed".into(),
            detail: e.to_string(),
            unconfirmed_ui_events: 0,
            undelivered_state_updates: 0,
            records: 0,
            dropped: 0,
        };
        recorder.finish(Instant::now(), footer, RECORDING_GRACE);
    }
    result
}

/// Starts the children and the session thread (which takes the recorder).
fn start(
    app: Arc<AppPackage>,
    ui_command: &[String],
    env: &SessionEnv,
    session_id: SessionId,
    span: &tracing::Span,
    recorder: &mut Option<Recorder>,
) -> Result<Launched, LaunchError> {
    let Some((ui_program, ui_args)) = ui_command.split_first() else {
        return Err(LaunchError::Spawn { role: "UI", source: std::io::Error::other("empty UI command") });
    };
    let validator = Arc::new(Validator::compile(&app).map_err(LaunchError::Declarations)?);
    let (events_tx, events) = mpsc::sync_channel::<Event>(EVENT_QUEUE);

    // The core host.
    let core_starter = CoreStarter {
        core_host: env.core_host.clone(),
        spawner: env.spawner.clone(),
        connect_timeout: env.connect_timeout,
        core_path: app.core_path.clone(),
        session_id: session_id.clone(),
        events: events_tx.clone(),
    };
    let JoinedCore { process: core, end: core_end, .. } = core_starter.start(0)?;
    let core_outbox = core_end.outbox;

    let now = Instant::now();
    let mut broker = Broker::new(
        BrokerConfig {
            session_id: session_id.clone(),
            app_name: app.name.clone(),
            validator,
            max_message_bytes: app.limits.max_message_bytes,
            max_pending_sends: app.limits.max_pending_sends,
            ui_event_types: app.ui_events.keys().cloned().collect(),
            state_queue_capacity: STATE_QUEUE,
            watchdog: Duration::from_millis(app.limits.event_deadline_ms) + Duration::from_secs(2),
            startup_timeout: Duration::from_millis(app.limits.event_deadline_ms) + Duration::from_secs(10),
            test_control: env.test_control,
        },
        now,
    );
    if env.keep_ui_history {
        broker.keep_ui_history(env.carried_events.clone());
    }
    let welcome = core_welcome(&app, &session_id, broker.core_initial_credit(), env.carried_events.clone());
    if core_outbox.try_send(BrokerToCore::Welcome(welcome)).is_err() {
        core.kill();
        return Err(LaunchError::Handshake { role: "core host", detail: "disconnected before welcome".into() });
    }
    tracing::debug!("core host connected");

    // The UI.
    let ui_listener = Listener::<UiToBroker>::new()?;
    let ui_secret = secret()?;
    let ui_bootstrap = Bootstrap {
        server_name: ui_listener.name().to_owned(),
        session_id: session_id.clone(),
        secret: ui_secret.clone(),
    };
    let mut command = Command::new(ui_program);
    command.args(ui_args).arg(&app.dir);
    if let Some(dir) = &env.ui_runtime_dir {
        command.env("XDG_RUNTIME_DIR", dir);
    }
    // The UI's private directory (the shell's only writable place once confined): made here,
    // owner-only, and removed with everything in it when the session is torn down (the UI was
    // told the session ended; whatever it writes afterwards is of no use).
    let ui_private = tempfile::Builder::new()
        .prefix("weft-ui-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|source| LaunchError::Spawn { role: "UI private directory", source })?;
    command.env(weft_ipc::transport::PRIVATE_DIR_ENV, ui_private.path());
    let tx = events_tx;
    let ui = match env.spawner.spawn("UI", command, &ui_bootstrap, move |s| {
        let _ = tx.send(Event::UiExited(s));
    }) {
        Ok(ui) => ui,
        Err(source) => {
            core.kill();
            return Err(LaunchError::Spawn { role: "UI", source });
        }
    };
    tracing::debug!(pid = ui.pid(), "UI started");
    let ui_end = match accept_ui(ui_listener, &ui, &session_id, &ui_secret, env.connect_timeout) {
        Ok(accepted) => accepted,
        Err(e) => {
            core.kill();
            ui.kill();
            return Err(e);
        }
    };
    let ui_outbox = ui_end.outbox;
    let ui_welcome = broker.ui_welcome();
    if ui_outbox.try_send(BrokerToUi::Welcome(ui_welcome)).is_err() {
        core.kill();
        ui.kill();
        return Err(LaunchError::Handshake { role: "UI", detail: "disconnected before welcome".into() });
    }
    tracing::info!("session open");
    let recorder = recorder.take();
    if recorder.is_some() {
        broker.observe();
    }

    let (commands_tx, commands_rx) = mpsc::sync_channel::<SessionCommand>(8);
    let status = Arc::new(Mutex::new(SessionStatus {
        session_id: session_id.0.clone(),
        app: app.name.clone(),
        app_dir: app.dir.display().to_string(),
        state: SessionState::Open,
        core_pid: Some(core.pid()),
        ui_pid: Some(ui.pid()),
        capabilities: app.capabilities.iter().map(|c| c.as_str().to_owned()).collect(),
        age_ms: 0,
        end: None,
        stats: broker.stats(),
        recording: recorder.as_ref().map(Recorder::status),
    }));
    env.registry.insert(Entry { id: session_id.clone(), status: status.clone(), commands: commands_tx });
    forward_commands(commands_rx, core_starter.events.clone())?;

    let launched = Launched { session_id: session_id.0.clone(), core_pid: core.pid(), ui_pid: ui.pid() };
    let drained = [core_end.drained, ui_end.drained];
    let wake = core_starter.events.clone();
    let mut runner = Runner {
        broker,
        app,
        core,
        core_generation: 0,
        core_starter,
        swap: core_swap::SwapState::default(),
        core_outbox,
        ui_outbox,
        drained,
        status,
        started: now,
        recorder,
        _ui_private: ui_private,
        ends: Ends::default(),
        end: None,
        last_publish: now,
        out: Vec::new(),
    };
    // What came with the hellos goes first (the core's, which came before the UI connected).
    let now = Instant::now();
    runner.turn(core_end.first.into_iter().map(|f| Event::Core(0, Inbound::Frame(f))), now);
    runner.turn(ui_end.first.into_iter().map(|f| Event::Ui(Inbound::Frame(f))), now);
    let (core, id) = (runner.core.clone(), session_id.clone());
    let shared = Arc::new(FairMutex::new(Shared { runner: Some(runner), retired: false }));
    let registry = env.registry.clone();
    let thread_span = span.clone();
    let session_shared = shared.clone();
    let started =
        spawn_endpoint_reader("core", core_end.receiver, shared.clone(), wake.clone(), span, |i| Event::Core(0, i))
            .and_then(|()| spawn_endpoint_reader("ui", ui_end.receiver, shared.clone(), wake.clone(), span, Event::Ui))
            .and_then(|()| {
                thread::Builder::new()
                    .name(format!("weft-session-{}", &session_id.0[..8]))
                    .spawn(move || {
                        let _entered = thread_span.enter();
                        supervise(&session_shared, &events, &wake);
                        registry.retire(&session_id);
                    })
                    .map(drop)
                    .map_err(|source| LaunchError::Spawn { role: "session thread", source })
            });
    if let Err(e) = started {
        // A reader that did start reads on and drops: the session never runs.
        shared.lock().runner = None;
        core.kill();
        ui.kill();
        env.registry.retire(&id);
        return Err(e);
    }
    Ok(launched)
}

/// The welcome for a core host of `app`'s session.
fn core_welcome(
    app: &AppPackage,
    session_id: &SessionId,
    initial_credit: weft_ipc::credit::Credit,
    carried_events: Vec<weft_ipc::frames::CarriedEvent>,
) -> CoreWelcome {
    CoreWelcome {
        protocol_version: weft_ipc::PROTOCOL_VERSION,
        session_id: session_id.clone(),
        capabilities: app.capabilities.clone(),
        limits: core_limits(app),
        max_message_bytes: app.limits.max_message_bytes,
        initial_credit,
        carried_events,
    }
}

/// Starts the core hosts of one session: the first, and each that takes the session over.
#[derive(Clone)]
struct CoreStarter {
    core_host: PathBuf,
    spawner: Spawner,
    connect_timeout: Duration,
    core_path: PathBuf,
    session_id: SessionId,
    /// The session thread's queue (the core's exits go there).
    events: SyncSender<Event>,
}

/// A core host that passed its handshake.
struct JoinedCore {
    generation: u64,
    process: ChildProcess,
    end: Accepted<BrokerToCore, CoreToBroker>,
}

impl CoreStarter {
    /// Starts the core host of `generation` and waits for its handshake.
    fn start(&self, generation: u64) -> Result<JoinedCore, LaunchError> {
        let listener = Listener::<CoreToBroker>::new()?;
        let secret = secret()?;
        let bootstrap = Bootstrap {
            server_name: listener.name().to_owned(),
            session_id: self.session_id.clone(),
            secret: secret.clone(),
        };
        let mut command = Command::new(&self.core_host);
        // Its stdout is its last words (`weft_ipc::last_words`): a refused system call.
        command.arg(&self.core_path).stdout(Stdio::piped());
        let tx = self.events.clone();
        let process = self
            .spawner
            .spawn("core host", command, &bootstrap, move |s| {
                let _ = tx.send(Event::CoreExited(generation, s));
            })
            .map_err(|source| LaunchError::Spawn { role: "core host", source })?;
        tracing::debug!(pid = process.pid(), generation, "core host started");
        match accept_core(listener, &process, &self.session_id, &secret, self.connect_timeout) {
            Ok(end) => Ok(JoinedCore { generation, process, end }),
            Err(e) => {
                process.kill();
                Err(e)
            }
        }
    }
}

/// The sandbox limits a core of `app` runs with (also used by replay, to run it the same way).
pub fn core_limits(app: &AppPackage) -> CoreLimits {
    CoreLimits {
        max_memory_bytes: app.limits.max_memory_bytes,
        event_deadline_ms: app.limits.event_deadline_ms,
        outbox_capacity: CORE_OUTBOX_CAPACITY,
    }
}

fn secret() -> Result<String, LaunchError> {
    weft_ipc::random_hex(32).map_err(|source| LaunchError::Spawn { role: "session", source })
}

fn accept_core(
    listener: Listener<CoreToBroker>,
    core: &ChildProcess,
    session_id: &SessionId,
    secret: &str,
    connect_timeout: Duration,
) -> Result<Accepted<BrokerToCore, CoreToBroker>, LaunchError> {
    let role = "core host";
    let (receiver, first) = listener
        .accept(connect_timeout, || core.has_exited())
        .map_err(|e| LaunchError::Handshake { role, detail: e.to_string() })?;
    let mut first = first.into_iter();
    let hello = match first.next() {
        Some(CoreToBroker::Hello(hello)) => hello,
        other => {
            return Err(LaunchError::Handshake { role, detail: format!("first frame was not a hello: {other:?}") })
        }
    };
    if hello.protocol_version != weft_ipc::PROTOCOL_VERSION {
        return Err(LaunchError::Handshake {
            role,
            detail: format!("protocol version {} is not {}", hello.protocol_version, weft_ipc::PROTOCOL_VERSION),
        });
    }
    if &hello.session_id != session_id || !weft_ipc::same_secret(&hello.secret, secret) {
        tracing::warn!(role, "refused an endpoint with the wrong session or secret");
        return Err(LaunchError::Handshake { role, detail: "wrong session or secret".into() });
    }
    let (outbox, drained) = Outbox::spawn_drained("core", hello.to_core, CORE_OUTBOX, Writes::Queued)?;
    Ok(Accepted { outbox, drained, receiver, first: first.collect() })
}

fn accept_ui(
    listener: Listener<UiToBroker>,
    ui: &ChildProcess,
    session_id: &SessionId,
    secret: &str,
    connect_timeout: Duration,
) -> Result<Accepted<BrokerToUi, UiToBroker>, LaunchError> {
    let role = "UI";
    let (receiver, first) = listener
        .accept(connect_timeout, || ui.has_exited())
        .map_err(|e| LaunchError::Handshake { role, detail: e.to_string() })?;
    let mut first = first.into_iter();
    let hello = match first.next() {
        Some(UiToBroker::Hello(hello)) => hello,
        other => {
            return Err(LaunchError::Handshake { role, detail: format!("first frame was not a hello: {other:?}") })
        }
    };
    let refuse = |detail: String| {
        tracing::warn!(role, %detail, "refused a UI endpoint");
        let end = SessionEnd {
            reason: EndReason::ProtocolViolation,
            detail: detail.clone(),
            unconfirmed_ui_events: 0,
            undelivered_state_updates: 0,
        };
        let _ = hello.to_ui.send(vec![BrokerToUi::SessionEnd(end)]);
        LaunchError::Handshake { role, detail }
    };
    if hello.protocol_version != weft_ipc::PROTOCOL_VERSION {
        return Err(refuse(format!(
            "protocol version {} is not {}",
            hello.protocol_version,
            weft_ipc::PROTOCOL_VERSION
        )));
    }
    if &hello.session_id != session_id || !weft_ipc::same_secret(&hello.secret, secret) {
        return Err(refuse("wrong session or secret".into()));
    }
    let (outbox, drained) = Outbox::spawn_drained("ui", hello.to_ui, UI_OUTBOX, Writes::Queued)?;
    Ok(Accepted { outbox, drained, receiver, first: first.collect() })
}

/// An endpoint that passed its handshake: its outbox, and what it sends, not yet read.
struct Accepted<Out, In> {
    outbox: Outbox<Out>,
    drained: Drained,
    receiver: BatchReceiver<In>,
    /// The frames that came with the hello.
    first: Vec<In>,
}

/// Starts `name`'s reader thread: it runs the session on each message from its peer (see the
/// module doc) and wakes the session thread when that ended the session or the peer went.
fn spawn_endpoint_reader<In>(
    name: &str,
    receiver: BatchReceiver<In>,
    shared: Arc<FairMutex<Shared>>,
    wake: SyncSender<Event>,
    span: &tracing::Span,
    event: impl Fn(Inbound<In>) -> Event + Send + 'static,
) -> Result<(), LaunchError>
where
    In: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let span = span.clone();
    spawn_batch_reader(name, receiver, move |items| {
        let _entered = span.enter();
        let mut shared = shared.lock();
        let now = Instant::now();
        let read_on = match shared.runner.as_mut() {
            Some(runner) => {
                if runner.turn(items.into_iter().map(&event), now) {
                    let _ = wake.try_send(Event::Wake);
                }
                true
            }
            // Being torn down: read on (and drop) until the teardown is over, so the peer's
            // last writes do not fail.
            None => !shared.retired,
        };
        // A peer that never stops writing must not keep the other reader or the watchdog from
        // the session: whoever waits gets the lock next.
        parking_lot::MutexGuard::unlock_fair(shared);
        read_on
    })?;
    Ok(())
}

fn forward_commands(commands: Receiver<SessionCommand>, events: SyncSender<Event>) -> Result<(), LaunchError> {
    thread::Builder::new()
        .name("weft-session-cmd".into())
        .spawn(move || {
            for command in commands {
                if events.send(Event::Command(command)).is_err() {
                    return;
                }
            }
        })
        .map_err(|source| LaunchError::Spawn { role: "session command thread", source })?;
    Ok(())
}

/// How an endpoint is doing, for deciding the end reason once it goes away.
#[derive(Default)]
struct EndpointEnd {
    disconnected: bool,
    exit: Option<Exit>,
    /// When the first of the two (disconnect, exit) was seen.
    first_seen: Option<Instant>,
}

impl EndpointEnd {
    fn saw(&mut self, now: Instant) {
        self.first_seen.get_or_insert(now);
    }

    /// The endpoint disconnected; the session goes on until [`EndpointEnd::settled`].
    fn saw_disconnect(&mut self, now: Instant) -> Flow {
        self.disconnected = true;
        self.saw(now);
        Flow::Continue
    }

    /// The process exited; the session goes on until [`EndpointEnd::settled`].
    fn saw_exit(&mut self, status: Exit, now: Instant) -> Flow {
        self.exit = Some(status);
        self.saw(now);
        Flow::Continue
    }

    /// Both seen, or the grace period for the second ran out.
    fn settled(&self, now: Instant) -> bool {
        (self.disconnected && self.exit.is_some())
            || self.first_seen.is_some_and(|t| now.duration_since(t) >= EXIT_GRACE)
    }
}

/// How each endpoint is doing.
#[derive(Default)]
struct Ends {
    core: EndpointEnd,
    ui: EndpointEnd,
}

/// The lock over a session's state: `parking_lot`'s, whose fair unlock hands it to the thread
/// that waits (std's lets the unlocking thread take it straight back).
type FairMutex<T> = parking_lot::Mutex<T>;

/// The session's state, shared by the reader threads and the session thread.
struct Shared {
    /// `None` once the session thread took it to tear the session down.
    runner: Option<Runner>,
    /// The teardown is over: the readers stop at their next message.
    retired: bool,
}

struct Runner {
    broker: Broker,
    app: Arc<AppPackage>,
    /// The core host that has the session.
    core: ChildProcess,
    /// Its generation (see [`Event::Core`]).
    core_generation: u64,
    core_starter: CoreStarter,
    /// A core swap, when one is under way, and the cores it replaced.
    swap: core_swap::SwapState,
    core_outbox: Outbox<BrokerToCore>,
    ui_outbox: Outbox<BrokerToUi>,
    /// When each outbox's writer has written everything (core, UI).
    drained: [Drained; 2],
    status: Arc<Mutex<SessionStatus>>,
    started: Instant,
    recorder: Option<Recorder>,
    /// The UI's private directory: removed (with its contents) when the runner is dropped.
    _ui_private: tempfile::TempDir,
    ends: Ends,
    /// Why the session ends, once a turn decided it (the session thread tears it down).
    end: Option<(EndReason, String)>,
    last_publish: Instant,
    /// What a turn produced, to send (kept to reuse its allocation).
    out: Vec<Output>,
}

/// The session thread: the children's exits, commands and the broker's clock; then the
/// teardown. `wake` is its own queue (a new core's reader wakes it).
fn supervise(shared: &Arc<FairMutex<Shared>>, events: &Receiver<Event>, wake: &SyncSender<Event>) {
    let session = shared;
    let (runner, reason, detail) = loop {
        let event = match events.recv_timeout(TICK) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                Some(Event::Command(SessionCommand::End(EndReason::Ended, "every session event source closed".into())))
            }
        };
        let mut shared = shared.lock();
        let now = Instant::now();
        let Some(runner) = shared.runner.as_mut() else { return };
        match event {
            Some(event) => {
                runner.turn([event], now);
            }
            None => runner.tick(now),
        }
        if let Some((generation, receiver)) = runner.swap.take_new_reader() {
            let span = tracing::Span::current();
            let read = move |i| Event::Core(generation, i);
            if let Err(e) = spawn_endpoint_reader("core", receiver, session.clone(), wake.clone(), &span, read) {
                runner.abort_swap_now(&format!("cannot read from it: {e}"), now);
            }
        }
        if let Some((reason, detail)) = runner.due_end(now) {
            if let Some(runner) = shared.runner.take() {
                break (runner, reason, detail);
            }
        }
    };
    runner.teardown(reason, detail, events);
    shared.lock().retired = true;
}

impl Runner {
    /// One turn: `events` handled in order (what one message from a peer carried, or one event
    /// of the session thread's), then what they produced sent, one batch per peer (a busy
    /// session pays one write for many frames). Returns whether the session thread should look
    /// now: the session ended, or an endpoint went away.
    fn turn(&mut self, events: impl IntoIterator<Item = Event>, now: Instant) -> bool {
        if self.end.is_some() {
            return true;
        }
        let mut out = std::mem::take(&mut self.out);
        let mut flow = Flow::Continue;
        let mut went = false;
        for event in events {
            went |= matches!(event, Event::Core(_, Inbound::Disconnected) | Event::Ui(Inbound::Disconnected));
            flow = self.on_event(event, now, &mut out);
            if !matches!(flow, Flow::Continue) {
                break;
            }
        }
        self.record(now);
        let flow = match flow {
            Flow::Continue => self.deliver(&mut out),
            end => {
                out.clear();
                end
            }
        };
        self.out = out;
        self.publish_if_due(now);
        match flow {
            Flow::End(reason, detail) => {
                self.end = Some((reason, detail));
                true
            }
            Flow::Continue => went,
        }
    }

    /// The broker's clock (its watchdog), when nothing else happened for a [`TICK`]; and a
    /// core swap's.
    fn tick(&mut self, now: Instant) {
        if self.end.is_none() {
            if let Flow::End(reason, detail) = self.broker.on_tick(now) {
                self.end = Some((reason, detail));
            }
        }
        if self.end.is_none() {
            self.swap_tick(now);
        }
        self.publish_if_due(now);
    }

    /// Refreshes the status snapshot, at most every [`STATUS_INTERVAL`].
    fn publish_if_due(&mut self, now: Instant) {
        if now.duration_since(self.last_publish) >= STATUS_INTERVAL {
            self.publish(SessionState::Open, None);
            self.last_publish = now;
        }
    }

    /// Why the session ends now, if it does: a turn decided it, or an endpoint is gone for good.
    fn due_end(&mut self, now: Instant) -> Option<(EndReason, String)> {
        if let Some(end) = self.end.take() {
            return Some(end);
        }
        if self.ends.ui.settled(now) {
            let how = self.ends.ui.exit.as_ref().map_or("endpoint closed".to_owned(), describe_exit);
            return Some((EndReason::UiLost, format!("the UI went away ({how})")));
        }
        if self.ends.core.settled(now) {
            return Some(core_end_reason(self.ends.core.exit.as_ref()));
        }
        None
    }

    /// Handles one event; frames to send go to `out`.
    fn on_event(&mut self, event: Event, now: Instant, out: &mut Vec<Output>) -> Flow {
        let ends = &mut self.ends;
        match event {
            Event::Core(generation, inbound) if generation != self.core_generation => {
                self.on_other_core(generation, inbound, now, out)
            }
            Event::CoreExited(generation, status) if generation != self.core_generation => {
                self.other_core_exited(generation, &status, now, out)
            }
            Event::CoreJoined(joined, reply) => self.stage_core(*joined, reply, now, out),
            Event::Command(SessionCommand::SwapCore(reply)) => self.start_swap(reply),
            Event::Core(_, Inbound::Frame(frame)) => self.broker.on_core(frame, now, out),
            Event::Ui(Inbound::Frame(frame)) => self.broker.on_ui(frame, now, out),
            Event::Core(_, Inbound::Malformed(e)) => {
                Flow::End(EndReason::ProtocolViolation, format!("malformed frame from the core: {e}"))
            }
            Event::Ui(Inbound::Malformed(e)) => {
                Flow::End(EndReason::ProtocolViolation, format!("malformed frame from the UI: {e}"))
            }
            Event::Core(_, Inbound::Disconnected) => {
                tracing::debug!("core endpoint disconnected");
                ends.core.saw_disconnect(now)
            }
            Event::CoreExited(_, status) => {
                tracing::debug!(exit = %describe_exit(&status), "core host exited");
                ends.core.saw_exit(status, now)
            }
            Event::Ui(Inbound::Disconnected) => {
                tracing::debug!("UI endpoint disconnected");
                ends.ui.saw_disconnect(now)
            }
            Event::UiExited(status) => {
                tracing::debug!(exit = %describe_exit(&status), "UI process exited");
                ends.ui.saw_exit(status, now)
            }
            Event::Command(SessionCommand::End(reason, detail)) => Flow::End(reason, detail),
            Event::Wake => Flow::Continue,
        }
    }

    /// Hands what the broker observed to the recorder (never waits for it).
    fn record(&mut self, now: Instant) {
        if let Some(recorder) = &self.recorder {
            for record in self.broker.take_observed() {
                recorder.record(now, record);
            }
        }
    }

    /// Sends what the broker produced, one batch per peer. A full outbox means a peer stopped
    /// reading.
    fn deliver(&mut self, out: &mut Vec<Output>) -> Flow {
        let mut to_ui = Vec::new();
        let mut to_core = Vec::new();
        for output in out.drain(..) {
            match output {
                Output::ToUi(frame) => to_ui.push(frame),
                Output::ToCore(frame) => to_core.push(frame),
                Output::KillCore => {
                    // What the core was sent before the verdict to kill it leaves first.
                    if let Err(end) = self.send_to_core(std::mem::take(&mut to_core)) {
                        return end;
                    }
                    self.core.kill();
                }
            }
        }
        if let Err(end) = self.send_to_core(to_core) {
            return end;
        }
        match self.ui_outbox.try_send_all(to_ui) {
            Ok(()) | Err(OutboxError::Closed) => Flow::Continue,
            Err(OutboxError::Full) => Flow::End(EndReason::UiLost, "the UI stopped reading its endpoint".into()),
        }
    }

    fn send_to_core(&self, frames: Vec<BrokerToCore>) -> Result<(), Flow> {
        match self.core_outbox.try_send_all(frames) {
            Ok(()) | Err(OutboxError::Closed) => Ok(()),
            Err(OutboxError::Full) => {
                Err(Flow::End(EndReason::CoreUnresponsive, "the core stopped reading its endpoint".into()))
            }
        }
    }

    fn teardown(mut self, reason: EndReason, detail: String, events: &Receiver<Event>) {
        self.swap.end(&format!("the session ended ({})", reason.code()));
        let notice = self.broker.end_notice(reason, detail);
        tracing::info!(
            reason = reason.code(),
            detail = %notice.detail,
            unconfirmed_ui_events = notice.unconfirmed_ui_events,
            undelivered_state_updates = notice.undelivered_state_updates,
            "session ended"
        );
        // The end must reach both survivors even when their queue is full (a flood): wait
        // (bounded) for room rather than drop it — the peer would otherwise see a disconnect.
        for (peer, sent) in [
            ("UI", self.ui_outbox.send_within(BrokerToUi::SessionEnd(notice.clone()), END_NOTICE_WAIT)),
            ("core", self.core_outbox.send_within(BrokerToCore::SessionEnd(notice.clone()), END_NOTICE_WAIT)),
        ] {
            if let Err(e) = sent {
                tracing::debug!(peer, error = %e, "the session's end notice was not queued");
            }
        }
        let core_is_fine = matches!(reason, EndReason::AppClosed | EndReason::Ended);
        if !core_is_fine {
            // The UI is gone, or the core misbehaved: it does not get to run on.
            self.core.kill();
        }
        // Wait (bounded) for the core to exit; kill it if it lingers.
        let deadline = Instant::now() + EXIT_GRACE;
        while self.ends.core.exit.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.core.kill();
                break;
            }
            match events.recv_timeout(left) {
                Ok(Event::CoreExited(generation, status)) if generation == self.core_generation => {
                    self.ends.core.exit = Some(status);
                }
                Ok(Event::CoreJoined(joined, reply)) => core_swap::refuse(*joined, reply, "the session ended"),
                _ => {}
            }
        }
        if let Some(recorder) = self.recorder.take() {
            let footer = Footer {
                end_reason: reason.code().to_owned(),
                detail: notice.detail.clone(),
                unconfirmed_ui_events: notice.unconfirmed_ui_events,
                undelivered_state_updates: notice.undelivered_state_updates,
                records: 0,
                dropped: 0,
            };
            let status = recorder.finish(Instant::now(), footer, RECORDING_GRACE);
            lock(&self.status).recording = Some(status);
        }
        // The end notices must leave before the session is published as ended: `weft-appd run`
        // exits then, and exiting kills the writer threads with whatever they still hold.
        self.core_outbox = Outbox::closed();
        self.ui_outbox = Outbox::closed();
        for (peer, drained) in ["core", "UI"].iter().zip(&self.drained) {
            if !drained.wait(END_NOTICE_WAIT) {
                tracing::debug!(peer, "the last frames to this peer did not leave in time");
            }
        }
        self.publish(SessionState::Ended, Some(notice));
    }

    fn publish(&self, state: SessionState, end: Option<SessionEnd>) {
        let mut status = lock(&self.status);
        status.state = state;
        status.age_ms = self.started.elapsed().as_millis() as u64;
        status.stats = self.broker.stats();
        if let Some(recorder) = &self.recorder {
            status.recording = Some(recorder.status());
        }
        if let Some(end) = end {
            status.end = Some(EndStatus {
                reason: end.reason.code().to_owned(),
                detail: end.detail,
                unconfirmed_ui_events: end.unconfirmed_ui_events,
                undelivered_state_updates: end.undelivered_state_updates,
            });
        }
    }
}

/// The end reason for a core that went away without a lifecycle report.
fn core_end_reason(exit: Option<&Exit>) -> (EndReason, String) {
    match exit {
        Some(status) if status.success() => (EndReason::CoreExited, "the core host exited".into()),
        Some(status) if let Some(call) = status.sandbox_violation() => (
            EndReason::CoreCrashed,
            format!("the core host was stopped by its sandbox: it made the system call {call}, which its seccomp allowlist does not have"),
        ),
        Some(status) => (EndReason::CoreCrashed, format!("the core host died ({})", describe_exit(status))),
        None => (EndReason::CoreCrashed, "the core endpoint closed and the process did not exit".into()),
    }
}
