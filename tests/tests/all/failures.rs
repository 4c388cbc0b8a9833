//! The failure model: whichever process dies, the survivors learn why, and nothing lingers.

use serde_json::json;
use weft_tests::harness::{alive, app, example_core, kill9, wait_gone, Daemon, ECHO_MANIFEST, HOSTILE_MANIFEST};
use weft_tests::peer::{Command, Event};

#[test]
fn killed_core_ends_the_session_as_core_crashed_and_later_sends_fail() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    peer.send("echo", json!(1));
    peer.until(|e| matches!(e, Event::Message { .. }));
    kill9(peer.core_pid);
    let (reason, _) = peer.until_end();
    assert_eq!(reason, "core-crashed");
    peer.send("echo", json!(2));
    match peer.next_event() {
        Event::Refused { name, .. } => assert_eq!(name, "InvalidStateError"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    peer.cmd(Command::State);
    assert_eq!(peer.next_event(), Event::State { ready_state: "closed".into(), desired_size: 0 });
    let status = daemon.wait_for_status(&peer.session_id, "ended", |s| s["state"] == "ended");
    assert_eq!(status["end"]["reason"], "core-crashed");
}

#[test]
fn pending_sends_are_rejected_when_the_session_ends() {
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.send("spin", json!({}));
    peer.send("echo", json!(1));
    let (reason, events) = peer.until_end();
    assert_eq!(reason, "core-unresponsive");
    // The spin was admitted; the echo behind it was admitted too but never confirmed: the end
    // notice counts both as unconfirmed, nothing is silently dropped.
    assert!(events.contains(&Event::Admitted { sequence: 1 }));
    match events.last() {
        Some(Event::SessionEnd { unconfirmed_ui_events, .. }) => assert_eq!(*unconfirmed_ui_events, 2),
        other => panic!("{other:?}"),
    }
    wait_gone(peer.core_pid, "core host");
}

fn hostile_end(event: &str) -> (String, String) {
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.send(event, json!({}));
    let (reason, events) = peer.until_end();
    let detail = match events.last() {
        Some(Event::SessionEnd { detail, .. }) => detail.clone(),
        _ => String::new(),
    };
    wait_gone(peer.core_pid, "core host");
    (reason, detail)
}

#[test]
fn infinite_loop_ends_as_core_unresponsive() {
    let (reason, detail) = hostile_end("spin");
    assert_eq!(reason, "core-unresponsive", "{detail}");
}

#[test]
fn memory_bomb_ends_as_core_trapped() {
    let (reason, detail) = hostile_end("grow");
    assert_eq!(reason, "core-trapped", "{detail}");
}

#[test]
fn stack_overflow_ends_as_core_trapped() {
    let (reason, detail) = hostile_end("recurse");
    assert_eq!(reason, "core-trapped", "{detail}");
}

#[test]
fn guest_panic_ends_as_core_trapped() {
    let (reason, detail) = hostile_end("panic");
    assert_eq!(reason, "core-trapped", "{detail}");
}

#[test]
fn ui_crash_kills_the_core() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    assert!(alive(peer.core_pid));
    let crashed = std::time::Instant::now();
    peer.cmd(Command::Exit { code: 9 });
    wait_gone(peer.core_pid, "core host after the UI died");
    let took = crashed.elapsed();
    assert!(took < std::time::Duration::from_secs(1), "the core outlived its UI by {took:?}");
    let status = daemon.wait_for_status(&peer.session_id, "ended", |s| s["state"] == "ended");
    assert_eq!(status["end"]["reason"], "ui-lost");
}

#[test]
fn closing_the_app_ends_the_session_as_app_closed() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    peer.cmd(Command::Close);
    let (reason, _) = peer.until_end();
    assert_eq!(reason, "app-closed");
    wait_gone(peer.core_pid, "core host");
}

#[test]
fn broker_death_is_seen_by_both_sides() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    kill9(daemon.pid());
    let (reason, _) = peer.until_end();
    assert_eq!(reason, "broker-lost");
    wait_gone(peer.core_pid, "core host after the broker died");
}

#[test]
fn operator_can_end_a_session() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    let answer = daemon.request(json!({"op": "end", "session_id": peer.session_id}));
    assert_eq!(answer["ok"], true);
    let (reason, _) = peer.until_end();
    assert_eq!(reason, "session-ended");
    wait_gone(peer.core_pid, "core host");
}
