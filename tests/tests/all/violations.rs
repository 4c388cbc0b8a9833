//! Transport-level forgeries end the session as `protocol-violation`; other sessions go on.

use serde_json::json;
use weft_tests::harness::{app, example_core, wait_gone, Daemon, ECHO_MANIFEST};
use weft_tests::peer::{Command, Event};

fn forged(kind: &str) -> String {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut bystander = daemon.launch(app.path());
    let mut peer = daemon.launch(app.path());
    peer.cmd(Command::Forge { kind: kind.into() });
    let (reason, _) = peer.until_end();
    wait_gone(peer.core_pid, "core host");
    // The other session is unaffected.
    bystander.send("echo", json!("still here"));
    let events = bystander.until(|e| matches!(e, Event::Message { .. }));
    assert!(matches!(events.last(), Some(Event::Message { payload, .. }) if payload == &json!("still here")));
    assert!(daemon.log().contains("protocol-violation"));
    reason
}

#[test]
fn forged_session_id_is_a_protocol_violation() {
    assert_eq!(forged("wrong-session"), "protocol-violation");
}

#[test]
fn broken_sequence_is_a_protocol_violation() {
    assert_eq!(forged("skip-sequence"), "protocol-violation");
}

#[test]
fn wrong_class_for_the_direction_is_a_protocol_violation() {
    assert_eq!(forged("wrong-class"), "protocol-violation");
}

#[test]
fn a_ui_with_the_wrong_secret_is_refused() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let err = daemon.launch_with(app.path(), &["--corrupt-secret"]).err().expect("refused");
    assert!(err.contains("wrong session or secret"), "{err}");
}

#[test]
fn a_second_ui_endpoint_is_refused() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    peer.cmd(Command::SecondConnect);
    match peer.next_event() {
        Event::SecondConnect { refused, detail } => assert!(refused, "{detail}"),
        other => panic!("{other:?}"),
    }
    // The first endpoint still works.
    peer.send("echo", json!(1));
    let events = peer.until(|e| matches!(e, Event::Message { .. }));
    assert!(matches!(events.last(), Some(Event::Message { payload, .. }) if payload == &json!(1)));
}
