//! Hostile cores beyond the single misdeeds of `failures` and `backpressure`: what a core was
//! not granted (the network, the real clock, an interface the host does not provide), a core
//! host that stops confirming events, and misbehaving sessions next to a healthy one.

use serde_json::json;
use std::time::{Duration, Instant};
use weft_tests::harness::{app, example_core, repo_root, wait_gone, Daemon, HOSTILE_MANIFEST};
use weft_tests::peer::{Command, Event};

/// The echo a hostile misdeed reports with (`echo` updates).
fn echo_payload(events: &[Event]) -> serde_json::Value {
    match events.last() {
        Some(Event::Message { payload, .. }) => payload.clone(),
        other => panic!("expected an echo, got {other:?}"),
    }
}

#[test]
fn a_core_opening_a_socket_is_refused_and_nothing_connects() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.send("connect", json!({ "port": port }));
    let report =
        echo_payload(&peer.until(|e| matches!(e, Event::Message { message_type, .. } if message_type == "echo")));
    assert_eq!(report["connected"], false, "{report}");
    assert!(!report["error"].as_str().unwrap_or("").is_empty(), "the core is told why: {report}");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the test's port: {other:?}"),
    }
    // The session goes on.
    peer.send("echo", json!({"still": "open"}));
    let after = echo_payload(&peer.until(|e| matches!(e, Event::Message { .. })));
    assert_eq!(after["still"], "open");
}

#[test]
fn a_core_without_the_clock_capability_sees_a_deterministic_clock() {
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.send("clock", json!({}));
    let report = echo_payload(&peer.until(|e| matches!(e, Event::Message { .. })));
    // The ungranted wall clock is the host's deterministic one (2000-01-01T00:00:00Z, advancing
    // 1 µs per read), not the machine's.
    assert_eq!(report["unix_secs"], 946_684_800, "{report}");
}

/// A component that imports an interface no WEFT host provides.
const UNGRANTED_IMPORT: &str = r#"(component
  (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func))))
)"#;

#[test]
fn a_core_importing_an_interface_it_was_not_granted_fails_to_start() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().expect("tmp");
    let core = dir.path().join("ungranted.wasm");
    std::fs::write(&core, wat::parse_str(UNGRANTED_IMPORT).expect("valid WAT")).expect("write core");
    let app = app(&std::fs::read_to_string(repo_root().join("examples/echo/weft.toml")).expect("manifest"), &core);
    let outcome = daemon.launch_with(app.path(), &[]);
    let detail = match outcome {
        // Refused before the UI joined, or ended right after.
        Err(error) => error,
        Ok(mut peer) => {
            let (reason, events) = peer.until_end();
            assert_eq!(reason, "core-exited", "{events:?}");
            match events.last() {
                Some(Event::SessionEnd { detail, .. }) => detail.clone(),
                _ => String::new(),
            }
        }
    };
    assert!(detail.contains("wasi:http/outgoing-handler"), "the refusal names the import: {detail}");
}

#[test]
fn a_core_host_that_stops_confirming_events_is_ended_as_unresponsive() {
    // SIGSTOP: the core host neither reads nor confirms (grants no credit back) while UI
    // events wait for it. The broker's watchdog (event deadline 500 ms + 2 s) must end it.
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    let core = peer.core_pid;
    peer.send("echo", json!({"i": 0}));
    peer.until(|e| matches!(e, Event::Message { .. }));
    // SAFETY: kill(2) on the core host this test's session started; no memory is touched.
    unsafe { libc::kill(core as libc::pid_t, libc::SIGSTOP) };
    let stopped_at = Instant::now();
    peer.cmd(Command::Flood { message_type: "echo".into(), seconds: 0.2 });
    let (reason, _) = peer.until_end();
    let took = stopped_at.elapsed();
    assert_eq!(reason, "core-unresponsive");
    assert!(took < Duration::from_secs(5), "ended {took:?} after the core stopped");
    wait_gone(core, "the stopped core (SIGKILL reaches a stopped process)");
}

#[test]
fn hostile_sessions_leave_a_concurrent_session_unaffected() {
    let daemon = Daemon::start();
    let echo = repo_root().join("examples/echo");
    let mut healthy = daemon.launch(&echo);
    healthy.cmd(Command::Flood { message_type: "echo".into(), seconds: 4.0 });
    let hostile_app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut ends = Vec::new();
    for misdeed in ["spin", "grow", "recurse", "panic"] {
        let mut peer = daemon.launch(hostile_app.path());
        peer.send(misdeed, json!({}));
        let (reason, _) = peer.until_end();
        ends.push((misdeed, reason));
        wait_gone(peer.core_pid, "the hostile core");
    }
    // Non-terminal misdeeds in one session: invalid updates (refused by the broker, reported
    // to the page), then floods that ignore backpressure (the host refuses what does not fit).
    let mut peer = daemon.launch(hostile_app.path());
    for misdeed in ["bad-payload", "unknown-type", "not-json"] {
        peer.send(misdeed, json!({}));
    }
    peer.send("flood", json!({"n": 5000}));
    peer.send("flood-keyed", json!({"n": 5000}));
    // The keyed flood's report comes after every tick before it has left the core.
    let events = peer.until(|e| {
        matches!(e, Event::SessionEnd { .. })
            || matches!(e, Event::Message { message_type, payload, .. } if message_type == "flood-done" && payload["accepted"] == 5000)
    });
    assert!(
        !matches!(events.last(), Some(Event::SessionEnd { .. })),
        "the misdeeds ended the session: {:?}",
        events.last()
    );
    let errors: Vec<&str> = events
        .iter()
        .filter_map(|e| if let Event::Error { code, .. } = e { Some(code.as_str()) } else { None })
        .collect();
    for expected in ["schema-mismatch", "unknown-type", "core-error"] {
        assert!(errors.contains(&expected), "the page hears of {expected}: {errors:?}");
    }
    peer.send("echo", json!({"last": true}));
    let last =
        echo_payload(&peer.until(|e| matches!(e, Event::Message { message_type, .. } if message_type == "echo")));
    assert_eq!(last["last"], true, "the hostile session still works");
    assert_eq!(
        ends,
        [
            ("spin", "core-unresponsive".to_owned()),
            ("grow", "core-trapped".to_owned()),
            ("recurse", "core-trapped".to_owned()),
            ("panic", "core-trapped".to_owned())
        ]
    );
    let done = healthy.until(|e| matches!(e, Event::FloodDone { .. }));
    match done.last() {
        Some(Event::FloodDone { sent, admitted, refused, received, in_order }) => {
            assert!(*in_order, "the healthy session's echoes stayed in order");
            assert_eq!((refused, admitted, received), (&0, sent, sent), "nothing refused or lost next door");
            assert!(*sent > 1000, "the healthy session kept flowing: {sent}");
        }
        other => panic!("{other:?}"),
    }
}
