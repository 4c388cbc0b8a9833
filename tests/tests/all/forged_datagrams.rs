//! Raw datagrams forged below ipc-channel's sender, by a compromised UI process and by a
//! compromised core host: each ends only its own session, as `protocol-violation`, and
//! `weft-appd` goes on serving the others with nothing lost or leaked. These held only once
//! WEFT's patched ipc-channel (patches/ipc-channel-0.23.1/) checked received headers: before,
//! the first forgery below aborted appd and every session it brokered.

use serde_json::json;
use weft_ipc::forge::{open_descriptors, Forgery};
use weft_tests::harness::{app, example_core, wait_gone, Daemon, Peer, ECHO_MANIFEST};
use weft_tests::peer::{Command, Event};

/// Sends `n` through `peer`'s echo session and waits for its echo.
fn round_trip(peer: &mut Peer, n: u64) {
    peer.send("echo", json!(n));
    let events = peer.until(|e| matches!(e, Event::Message { .. } | Event::SessionEnd { .. }));
    match events.last() {
        Some(Event::Message { payload, .. }) => assert_eq!(payload, &json!(n)),
        other => panic!("no echo of {n}: {other:?}"),
    }
}

/// Runs `forged` once per kind of malformed datagram, each in a session of its own beside a
/// bystander session, and checks what the survivors see: the forging session ends as
/// `protocol-violation`, naming `forger` and the broken framing (in the UI's `sessionend` and in
/// appd's log), its core host is gone, and the bystander's messages still go through, in order,
/// through the same daemon process.
fn each_kind_ends_only_its_session(
    daemon: &Daemon,
    bystander: &mut Peer,
    forger: &str,
    mut forged: impl FnMut(Forgery) -> Peer,
) {
    let appd = daemon.pid();
    let expected = format!("malformed frame from {forger}: a datagram that breaks ipc-channel's framing");
    for (n, kind) in Forgery::MALFORMED.into_iter().enumerate() {
        let mut peer = forged(kind);
        let (reason, events) = peer.until_end();
        assert_eq!(reason, "protocol-violation", "{kind:?}: {events:?}\n{}", daemon.log());
        match events.last() {
            Some(Event::SessionEnd { detail, .. }) => assert!(detail.starts_with(&expected), "{kind:?}: {detail}"),
            other => panic!("{other:?}"),
        }
        wait_gone(peer.core_pid, "the forging session's core host");
        drop(peer);
        round_trip(bystander, n as u64);
        assert!(weft_tests::harness::alive(appd));
    }
    let log = daemon.log();
    assert!(log.matches(&expected).count() >= Forgery::MALFORMED.len(), "{log}");
}

#[test]
fn a_forged_datagram_from_a_ui_ends_only_its_session() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut bystander = daemon.launch(app.path());
    each_kind_ends_only_its_session(&daemon, &mut bystander, "the UI", |kind| {
        let mut peer = daemon.launch(app.path());
        peer.cmd(Command::ForgeDatagram { kind: kind.name().into(), count: 1 });
        peer
    });
}

#[test]
fn a_forged_datagram_from_a_core_host_ends_only_its_session() {
    let daemon = Daemon::start_with_test_core();
    let plain = app(ECHO_MANIFEST, &example_core("echo"));
    let mut bystander = daemon.launch(plain.path());
    let forging = app(ECHO_MANIFEST, &example_core("echo"));
    each_kind_ends_only_its_session(&daemon, &mut bystander, "the core", |kind| {
        std::fs::write(forging.path().join("forge-datagram"), kind.name()).expect("write forge-datagram");
        daemon.launch(forging.path())
    });
}

#[test]
fn a_forged_first_datagram_refuses_the_ui_and_appd_serves_on() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut bystander = daemon.launch(app.path());
    for (n, kind) in Forgery::MALFORMED.into_iter().enumerate() {
        let error = daemon.launch_with(app.path(), &["--forge-handshake", kind.name()]).err().expect("refused");
        assert!(error.contains("framing"), "{kind:?}: {error}");
        round_trip(&mut bystander, n as u64);
    }
}

/// 10,000 well-formed messages from a UI, each carrying 16 channels and 4 shared memory regions
/// that it never names: appd closes every one (its descriptor count ends where it began), and
/// the session goes on. Written 20 at a time with an echo between, so the descriptors in flight
/// stay under the sender's limit and the count is read when appd has handled all of them.
#[test]
fn appd_descriptors_stay_flat_over_10000_forged_messages() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    round_trip(&mut peer, 0);
    let before = open_descriptors(daemon.pid()).expect("appd's descriptors");
    for n in 1..=500 {
        peer.cmd(Command::ForgeDatagram { kind: Forgery::UnnamedDescriptors.name().into(), count: 20 });
        match peer.next_event() {
            Event::DatagramsForged { sent: 20, error: None } => {}
            other => panic!("forging stopped: {other:?}"),
        }
        round_trip(&mut peer, n);
    }
    let after = open_descriptors(daemon.pid()).expect("appd's descriptors");
    assert_eq!(after, before, "appd's descriptors went from {before} to {after}");
}
