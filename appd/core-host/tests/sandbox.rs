//! The sandbox without any broker: the WAT test components in `tests/wat/` and the Rust
//! `hostile` example core, loaded through `weft_core_host::sandbox`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_core_host::sandbox::{CoreInstance, GuestFault, Sandbox, SandboxConfig};
use weft_core_host::state_outbox::StateOutbox;
use weft_ipc::credit::Credit;
use weft_ipc::envelope::{MessageClass, SessionId, StreamId};
use weft_ipc::frames::CoreLimits;

const DEADLINE_MS: u64 = 200;

fn config(max_memory_bytes: u64) -> SandboxConfig {
    SandboxConfig {
        limits: CoreLimits { max_memory_bytes, event_deadline_ms: DEADLINE_MS, outbox_capacity: 2 },
        capabilities: Vec::new(),
    }
}

/// This crate's directory, read when the test runs (cargo sets it): the binary may have been
/// built from another checkout sharing the target directory.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn wat(name: &str) -> PathBuf {
    manifest_dir().join("tests/wat").join(name)
}

/// A Rust example core built by `scripts/build-cores`.
fn example_core(app: &str) -> PathBuf {
    let path = manifest_dir().join("../../examples").join(app).join("core.wasm");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-cores (needs `rustup target add wasm32-wasip2`)",
        path.display()
    );
    path
}

/// Loads and instantiates a core; returns it with its "session closed" switch.
fn start(path: &Path, max_memory_bytes: u64, credit: Credit) -> (CoreInstance, Arc<AtomicBool>) {
    let sandbox = Sandbox::new(config(max_memory_bytes)).expect("sandbox");
    let loaded = sandbox.load_file(path).unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
    let outbox = StateOutbox::new(SessionId("test".into()), 2, credit, 1024);
    let closed = Arc::new(AtomicBool::new(false));
    let core = sandbox
        .instantiate(&loaded, outbox, closed.clone())
        .unwrap_or_else(|e| panic!("instantiate {}: {e}", path.display()));
    // The instance keeps the epoch ticker alive after the sandbox is dropped.
    drop(sandbox);
    (core, closed)
}

fn plenty() -> Credit {
    Credit { messages: 1000, bytes: 1 << 20 }
}

fn trapped(fault: GuestFault) -> String {
    match fault {
        GuestFault::Trapped(detail) => detail,
        GuestFault::DeadlineExceeded(detail) => panic!("expected a trap, got a deadline: {detail}"),
    }
}

#[test]
fn echo_emits_the_event_back_as_a_state_update() {
    let (mut core, _closed) = start(&wat("echo.wat"), 16 << 20, plenty());
    assert_eq!(core.init(), Ok(Ok(())));
    let payload = r#"{"text":"héllo","n":[1,2,3]}"#;
    assert_eq!(core.handle_event("greet", payload), Ok(Ok(())));
    let update = core.outbox().take_sendable().expect("one update");
    assert_eq!(update.message_type, "greet");
    assert_eq!(update.payload, payload);
    assert_eq!(update.sequence, 1);
    assert_eq!(update.stream_id, StreamId::CoreToUi);
    assert_eq!(update.class, MessageClass::StateUpdate);
    assert_eq!(update.coalesce_key, None);
    assert!(core.outbox().take_sendable().is_none());
}

#[test]
fn echo_sees_every_emit_error() {
    // No credit: updates stay queued, so the (capacity 2) outbox fills.
    let (mut core, closed) = start(&wat("echo.wat"), 16 << 20, Credit::default());
    assert_eq!(core.init(), Ok(Ok(())));
    assert_eq!(core.handle_event("t", "not json"), Ok(Err("emit-state: invalid-json".into())));
    assert_eq!(core.handle_event("t", "1"), Ok(Ok(())));
    assert_eq!(core.handle_event("t", "2"), Ok(Ok(())));
    assert_eq!(core.handle_event("t", "3"), Ok(Err("emit-state: backpressure".into())));
    closed.store(true, Ordering::Release);
    assert_eq!(core.handle_event("t", "4"), Ok(Err("emit-state: session-closed".into())));
}

#[test]
fn spin_is_interrupted_at_its_deadline() {
    let (mut core, _closed) = start(&wat("spin.wat"), 16 << 20, plenty());
    assert_eq!(core.init(), Ok(Ok(())));
    let started = Instant::now();
    let result = core.handle_event("spin", "{}");
    let took = started.elapsed();
    match result {
        Err(GuestFault::DeadlineExceeded(detail)) => {
            assert!(detail.contains("200 ms"), "{detail}")
        }
        other => panic!("expected a deadline, got {other:?}"),
    }
    assert!(took >= Duration::from_millis(DEADLINE_MS), "interrupted too early: {took:?}");
    assert!(took < Duration::from_millis(DEADLINE_MS + 1000), "interrupted too late: {took:?}");
}

#[test]
fn trap_is_reported_as_a_trap() {
    let (mut core, _closed) = start(&wat("trap.wat"), 16 << 20, plenty());
    assert_eq!(core.init(), Ok(Ok(())));
    let detail = trapped(core.handle_event("boom", "{}").expect_err("trap"));
    assert!(detail.contains("unreachable"), "{detail}");
}

#[test]
fn init_failure_is_returned() {
    let (mut core, _closed) = start(&wat("init-fails.wat"), 16 << 20, plenty());
    assert_eq!(core.init(), Ok(Err("init refused".into())));
}

#[test]
fn a_file_that_is_not_a_component_does_not_load() {
    let sandbox = Sandbox::new(config(16 << 20)).expect("sandbox");
    assert!(sandbox.load(b"not wasm at all").is_err());
    // A core module is not a component.
    assert!(sandbox.load(b"(module)").is_err());
    // A component that does not export the world's functions does not link.
    assert!(sandbox.load(b"(component)").is_err());
}

#[test]
fn hostile_grow_traps_on_the_memory_limit() {
    let (mut core, _closed) = start(&example_core("hostile"), 32 << 20, plenty());
    assert_eq!(core.init(), Ok(Ok(())));
    let started = Instant::now();
    let detail = trapped(core.handle_event("grow", "{}").expect_err("trap"));
    assert!(
        detail.contains("growing memory") && detail.contains("memory limit is 33554432 bytes"),
        "no memory growth failure in: {detail}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn hostile_recurse_traps_with_stack_exhaustion() {
    let (mut core, _closed) = start(&example_core("hostile"), 32 << 20, plenty());
    assert_eq!(core.init(), Ok(Ok(())));
    let detail = trapped(core.handle_event("recurse", "{}").expect_err("trap"));
    assert!(detail.contains("call stack exhausted"), "{detail}");
}

#[test]
fn hostile_panic_traps_and_the_report_carries_the_panic_message() {
    let (mut core, _closed) = start(&example_core("hostile"), 32 << 20, plenty());
    assert_eq!(core.init(), Ok(Ok(())));
    let detail = trapped(core.handle_event("panic", "{}").expect_err("trap"));
    assert!(detail.contains("unreachable"), "{detail}");
    assert!(detail.contains("hostile core: panic requested by the page"), "{detail}");
}

#[test]
fn hostile_flood_meets_backpressure_and_its_keyed_summary_still_gets_through() {
    let (mut core, _closed) = start(&example_core("hostile"), 32 << 20, Credit::default());
    assert_eq!(core.init(), Ok(Ok(())));
    assert_eq!(core.handle_event("flood", r#"{"n":10}"#), Ok(Ok(())));
    core.outbox().grant(plenty());
    let sent: Vec<_> = std::iter::from_fn(|| core.outbox().take_sendable()).collect();
    let types: Vec<_> = sent.iter().map(|e| e.message_type.as_str()).collect();
    assert_eq!(types, ["tick", "tick", "flood-done"]);
    assert_eq!(sent[2].payload, r#"{"accepted":2,"rejected":8}"#);
    let seqs: Vec<_> = sent.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[test]
fn the_other_example_cores_instantiate_within_the_limits() {
    for app in ["echo", "counter"] {
        let (mut core, _closed) = start(&example_core(app), 32 << 20, plenty());
        assert_eq!(core.init(), Ok(Ok(())), "{app}");
    }
}
