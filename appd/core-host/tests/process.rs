//! The `weft-core-host` process against a scripted broker (this test): handshake, relay,
//! credits, terminal reports and exit codes, over real IPC.
//!
//! The core hosts log to this test's stderr at `warn` (set `WEFT_TEST_LOG` to change it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use weft_ipc::credit::{Credit, DEFAULT_WINDOW};
use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};
use weft_ipc::frames::{BrokerToCore, CoreLifecycle, CoreLimits, CoreToBroker, CoreWelcome};
use weft_ipc::reason::{EndReason, SessionEnd};
use weft_ipc::transport::{Bootstrap, Listener};

const SECRET: &str = "core-secret";
const FRAME_TIMEOUT: Duration = Duration::from_secs(15);

/// This crate's directory, read when the test runs (cargo sets it): the binary may have been
/// built from another checkout sharing the target directory.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn wat(name: &str) -> PathBuf {
    manifest_dir().join("tests/wat").join(name)
}

fn hostile() -> PathBuf {
    let path = manifest_dir().join("../../examples/hostile/core.wasm");
    assert!(path.is_file(), "{} is missing: run scripts/build-cores", path.display());
    path
}

fn session() -> SessionId {
    SessionId("0123456789abcdef".into())
}

fn welcome(initial_credit: Credit) -> CoreWelcome {
    CoreWelcome {
        protocol_version: weft_ipc::PROTOCOL_VERSION,
        session_id: session(),
        capabilities: Vec::new(),
        limits: CoreLimits { max_memory_bytes: 32 << 20, event_deadline_ms: 200, outbox_capacity: 16 },
        max_message_bytes: 16 * 1024,
        initial_credit,
        carried_events: Vec::new(),
    }
}

fn ui_event(sequence: u64, message_type: &str, payload: &str) -> Envelope {
    Envelope {
        session_id: session(),
        stream_id: StreamId::UiToCore,
        class: MessageClass::UiEvent,
        message_type: message_type.into(),
        sequence,
        payload: payload.into(),
        coalesce_key: None,
    }
}

/// The broker's side of one core host process.
struct Broker {
    child: Child,
    to_core: Box<dyn Fn(Vec<BrokerToCore>)>,
    from_core: Box<dyn FnMut(Duration) -> Option<Vec<CoreToBroker>>>,
    pending: std::collections::VecDeque<CoreToBroker>,
}

impl Broker {
    /// Starts `weft-core-host core` and accepts its hello; `answer` is the first batch back.
    fn start(core: &Path, answer: Vec<BrokerToCore>) -> Broker {
        let listener = Listener::<CoreToBroker>::new().expect("listener");
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft-core-host"))
            .arg(core)
            .stdin(Stdio::piped())
            .env("WEFT_LOG", std::env::var("WEFT_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .spawn()
            .expect("spawn weft-core-host");
        let bootstrap =
            Bootstrap { server_name: listener.name().to_owned(), session_id: session(), secret: SECRET.into() };
        let mut stdin = child.stdin.take().expect("stdin");
        bootstrap.write_to(&mut stdin).expect("bootstrap");
        stdin.flush().expect("flush");
        let (receiver, mut first) = listener.accept(FRAME_TIMEOUT, || false).expect("the core host connects");
        assert_eq!(first.len(), 1, "the hello comes alone");
        let hello = match first.remove(0) {
            CoreToBroker::Hello(hello) => hello,
            other => panic!("expected Hello, got {other:?}"),
        };
        assert_eq!(hello.protocol_version, weft_ipc::PROTOCOL_VERSION);
        assert_eq!(hello.session_id, session());
        assert_eq!(hello.secret, SECRET);
        let sender = hello.to_core;
        sender.send(answer).expect("welcome");
        Broker {
            child,
            to_core: Box::new(move |frames| sender.send(frames).expect("send to core")),
            from_core: Box::new(move |timeout| receiver.try_recv_timeout(timeout).ok()),
            pending: Default::default(),
        }
    }

    fn send(&self, frames: Vec<BrokerToCore>) {
        (self.to_core)(frames)
    }

    /// The next frame from the core host.
    fn next(&mut self) -> CoreToBroker {
        let deadline = Instant::now() + FRAME_TIMEOUT;
        while self.pending.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no frame from the core host within {FRAME_TIMEOUT:?}");
            if let Some(batch) = (self.from_core)(left.min(Duration::from_millis(100))) {
                self.pending.extend(batch);
            }
        }
        self.pending.pop_front().expect("a frame")
    }

    /// Whether nothing more arrives for a while.
    fn quiet_for(&mut self, period: Duration) -> bool {
        self.pending.is_empty() && (self.from_core)(period).is_none()
    }

    /// The confinement report, then `Ready` and the UI-event window.
    fn expect_ready(&mut self) {
        match self.next() {
            CoreToBroker::Confined(confinement) => {
                assert!(confinement.no_new_privs, "{confinement:?}");
                assert_ne!(confinement.landlock, "off", "{confinement:?}");
            }
            other => panic!("expected the confinement report, got {other:?}"),
        }
        assert!(matches!(self.next(), CoreToBroker::Lifecycle(CoreLifecycle::Ready)));
        match self.next() {
            CoreToBroker::Credit(credit) => assert_eq!(credit, DEFAULT_WINDOW),
            other => panic!("expected the UI-event window, got {other:?}"),
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + FRAME_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the core host did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plenty() -> Credit {
    Credit { messages: 128, bytes: 512 * 1024 }
}

fn session_end(reason: EndReason) -> BrokerToCore {
    BrokerToCore::SessionEnd(SessionEnd {
        reason,
        detail: "test".into(),
        unconfirmed_ui_events: 0,
        undelivered_state_updates: 0,
    })
}

#[test]
fn echo_relays_events_updates_and_credits_then_exits_0_on_session_end() {
    let mut broker = Broker::start(&wat("echo.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    let events: Vec<_> = (1..=3).map(|i| ui_event(i, "greet", &format!("{{\"i\":{i}}}"))).collect();
    let sizes: u64 = events.iter().map(|e| e.size() as u64).sum();
    broker.send(events.into_iter().map(BrokerToCore::Message).collect());
    let mut updates = Vec::new();
    let mut credit = Credit::default();
    while credit.messages < 3 {
        match broker.next() {
            CoreToBroker::Message(update) => updates.push(update),
            CoreToBroker::Credit(c) => {
                credit.messages += c.messages;
                credit.bytes += c.bytes;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(credit, Credit { messages: 3, bytes: sizes });
    let got: Vec<_> = updates.iter().map(|u| (u.sequence, u.payload.as_str())).collect();
    assert_eq!(got, [(1, "{\"i\":1}"), (2, "{\"i\":2}"), (3, "{\"i\":3}")]);
    assert!(updates.iter().all(|u| u.session_id == session()
        && u.stream_id == StreamId::CoreToUi
        && u.class == MessageClass::StateUpdate
        && u.message_type == "greet"));
    broker.send(vec![session_end(EndReason::AppClosed)]);
    assert_eq!(broker.wait().code(), Some(0));
}

#[test]
fn state_updates_wait_for_credit_and_keep_their_sequence() {
    let mut broker =
        Broker::start(&wat("echo.wat"), vec![BrokerToCore::Welcome(welcome(Credit { messages: 1, bytes: 1024 }))]);
    broker.expect_ready();
    broker.send((1..=3).map(|i| BrokerToCore::Message(ui_event(i, "t", &i.to_string()))).collect());
    let mut seqs = Vec::new();
    let mut credits = 0;
    while credits < 3 {
        match broker.next() {
            CoreToBroker::Message(update) => seqs.push(update.sequence),
            CoreToBroker::Credit(c) => credits += c.messages,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seqs, [1], "one message of credit: one update");
    assert!(broker.quiet_for(Duration::from_millis(300)));
    broker.send(vec![BrokerToCore::Credit(Credit { messages: 5, bytes: 1024 })]);
    let more: Vec<_> = (0..2)
        .map(|_| match broker.next() {
            CoreToBroker::Message(update) => (update.sequence, update.payload),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(more, [(2, "2".to_owned()), (3, "3".to_owned())]);
    broker.send(vec![session_end(EndReason::Ended)]);
    assert_eq!(broker.wait().code(), Some(0));
}

#[test]
fn a_trap_is_reported_last_and_exits_4() {
    let mut broker = Broker::start(&wat("trap.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    broker.send(vec![BrokerToCore::Message(ui_event(1, "boom", "{}"))]);
    match broker.next() {
        CoreToBroker::Lifecycle(CoreLifecycle::Trapped(detail)) => assert!(detail.contains("unreachable"), "{detail}"),
        other => panic!("expected Trapped, got {other:?}"),
    }
    assert_eq!(broker.wait().code(), Some(4));
}

#[test]
fn a_runaway_core_is_reported_as_a_deadline_and_exits_5() {
    let mut broker = Broker::start(&wat("spin.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    let sent = Instant::now();
    broker.send(vec![BrokerToCore::Message(ui_event(1, "spin", "{}"))]);
    match broker.next() {
        CoreToBroker::Lifecycle(CoreLifecycle::DeadlineExceeded(detail)) => {
            assert!(detail.contains("200 ms"), "{detail}")
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
    assert!(sent.elapsed() < Duration::from_secs(2), "took {:?}", sent.elapsed());
    assert_eq!(broker.wait().code(), Some(5));
}

#[test]
fn a_failing_init_is_reported_as_start_failed_and_exits_3() {
    let mut broker = Broker::start(&wat("init-fails.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    match broker.next() {
        CoreToBroker::Lifecycle(CoreLifecycle::StartFailed(detail)) => {
            assert!(detail.contains("init refused"), "{detail}")
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(broker.wait().code(), Some(3));
}

#[test]
fn a_file_that_is_not_a_core_is_reported_as_start_failed_and_exits_3() {
    let not_a_core = manifest_dir().join("Cargo.toml");
    let mut broker = Broker::start(&not_a_core, vec![BrokerToCore::Welcome(welcome(plenty()))]);
    match broker.next() {
        CoreToBroker::Lifecycle(CoreLifecycle::StartFailed(detail)) => {
            assert!(detail.contains("cannot load the core"), "{detail}")
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(broker.wait().code(), Some(3));
}

#[test]
fn a_session_end_instead_of_a_welcome_exits_0() {
    let mut broker = Broker::start(&wat("echo.wat"), vec![session_end(EndReason::ProtocolViolation)]);
    assert_eq!(broker.wait().code(), Some(0));
}

#[test]
fn anything_else_instead_of_a_welcome_exits_1() {
    let mut broker = Broker::start(&wat("echo.wat"), vec![BrokerToCore::Credit(plenty())]);
    assert_eq!(broker.wait().code(), Some(1));
}

#[test]
fn a_second_welcome_is_a_protocol_violation_exit_6() {
    let mut broker = Broker::start(&wat("echo.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    broker.send(vec![BrokerToCore::Welcome(welcome(plenty()))]);
    assert_eq!(broker.wait().code(), Some(6));
}

#[test]
fn losing_the_broker_exits_0() {
    let mut broker = Broker::start(&wat("echo.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    // Dropping our sender (the only one toward the core host) is what the broker dying does.
    broker.to_core = Box::new(|_| {});
    assert_eq!(broker.wait().code(), Some(0));
}

#[test]
fn an_event_error_is_reported_and_the_session_goes_on() {
    // The echo core returns err when emit-state refuses; invalid JSON makes it refuse.
    let mut broker = Broker::start(&wat("echo.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    broker.send(vec![BrokerToCore::Message(ui_event(1, "t", "not json"))]);
    match broker.next() {
        CoreToBroker::Lifecycle(CoreLifecycle::EventFailed { sequence, error }) => {
            assert_eq!(sequence, 1);
            assert_eq!(error, "emit-state: invalid-json");
        }
        other => panic!("expected EventFailed, got {other:?}"),
    }
    assert!(matches!(broker.next(), CoreToBroker::Credit(Credit { messages: 1, .. })));
    broker.send(vec![BrokerToCore::Message(ui_event(2, "t", "{}"))]);
    assert!(matches!(broker.next(), CoreToBroker::Message(Envelope { sequence: 1, .. })));
    broker.send(vec![session_end(EndReason::AppClosed)]);
    assert_eq!(broker.wait().code(), Some(0));
}

#[test]
fn updates_emitted_before_a_panic_arrive_before_the_trap_report() {
    let mut broker = Broker::start(&hostile(), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    broker.send(vec![
        BrokerToCore::Message(ui_event(1, "flood", r#"{"n":40}"#)),
        BrokerToCore::Message(ui_event(2, "panic", "{}")),
    ]);
    let mut types = Vec::new();
    let detail = loop {
        match broker.next() {
            CoreToBroker::Message(update) => {
                assert_eq!(update.sequence, types.len() as u64 + 1);
                types.push(update.message_type);
            }
            CoreToBroker::Credit(_) => {}
            CoreToBroker::Lifecycle(CoreLifecycle::Trapped(detail)) => break detail,
            other => panic!("unexpected {other:?}"),
        }
    };
    // Capacity 16: 16 ticks accepted, then the keyed summary.
    assert_eq!(types.len(), 17, "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("flood-done"));
    assert!(detail.contains("hostile core: panic requested by the page"), "{detail}");
    assert_eq!(broker.wait().code(), Some(4));
}

/// The example counter core (`weft:app@0.2.0`): told that a new page attached, it sends its
/// count again, between events and at most once per batch of attachments.
#[test]
fn a_current_core_is_told_of_a_new_page_and_sends_its_state_again() {
    let counter = manifest_dir().join("../../examples/counter/core.wasm");
    let mut broker = Broker::start(&counter, vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    let initial = broker.next();
    assert!(matches!(&initial, CoreToBroker::Message(m) if m.payload == r#"{"value":0}"#), "{initial:?}");
    broker.send(vec![BrokerToCore::Message(ui_event(1, "increment", r#"{"by":2}"#))]);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match broker.next() {
            CoreToBroker::Message(m) => seen.push(m.payload),
            CoreToBroker::Credit(_) => seen.push("credit".into()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, [r#"{"value":2}"#, "credit"]);
    // Three attachments in one batch: the core is told once.
    broker.send(vec![BrokerToCore::PageAttached, BrokerToCore::PageAttached, BrokerToCore::PageAttached]);
    match broker.next() {
        CoreToBroker::Message(m) => assert_eq!(m.payload, r#"{"value":2}"#, "the count again"),
        other => panic!("expected the count again, got {other:?}"),
    }
    assert!(broker.quiet_for(Duration::from_millis(300)), "told once, and no credit for a page (it is no event)");
    broker.send(vec![session_end(EndReason::AppClosed)]);
    assert_eq!(broker.wait().code(), Some(0));
}

/// A core built against `weft:app@0.1.0` (no `page-attached`) still runs; a new page changes
/// nothing for it.
#[test]
fn a_core_of_world_0_1_runs_and_a_new_page_changes_nothing_for_it() {
    let mut broker = Broker::start(&wat("echo.wat"), vec![BrokerToCore::Welcome(welcome(plenty()))]);
    broker.expect_ready();
    broker.send(vec![BrokerToCore::PageAttached]);
    assert!(broker.quiet_for(Duration::from_millis(300)), "nothing to tell a 0.1.0 core");
    broker.send(vec![BrokerToCore::Message(ui_event(1, "greet", r#"{"after":"page"}"#))]);
    match broker.next() {
        CoreToBroker::Message(m) => assert_eq!(m.payload, r#"{"after":"page"}"#),
        other => panic!("expected the echo, got {other:?}"),
    }
    broker.send(vec![session_end(EndReason::AppClosed)]);
    assert_eq!(broker.wait().code(), Some(0));
}
