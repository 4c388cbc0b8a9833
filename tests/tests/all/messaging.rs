//! Page → core → page: round trips, ordering, and per-message rejections.

use serde_json::json;
use weft_tests::harness::{app, example_core, Daemon, ECHO_MANIFEST};
use weft_tests::peer::{Command, Event};

#[test]
fn structured_payload_round_trips_through_the_echo_core() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    let payload = json!({"text": "héllo ✓", "n": 42, "nested": {"list": [1, 2.5, null, true]}});
    peer.send("echo", payload.clone());
    assert_eq!(peer.next_event(), Event::Sent { sequence: 1 });
    assert_eq!(peer.next_event(), Event::Admitted { sequence: 1 });
    assert_eq!(peer.next_event(), Event::Message { message_type: "echo".into(), sequence: 1, payload });
}

#[test]
fn a_thousand_messages_arrive_once_in_order_without_sequence_gaps() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    // Keep 100 sends outstanding (below the 256 that may wait for credit), topping up as
    // updates come back, so the pipeline stays full without tripping the pending bound.
    let mut next = 0;
    while next < 100 {
        peer.send("echo", json!({"i": next}));
        next += 1;
    }
    // 100 sends against a credit window of 64: some wait for credit (desiredSize < 0).
    peer.cmd(Command::State);
    let mut admitted = Vec::new();
    let mut received = Vec::new();
    let mut saw_waiting = false;
    while received.len() < 1000 {
        match peer.next_event() {
            Event::Sent { .. } => {}
            Event::State { desired_size, .. } => saw_waiting = desired_size < 0,
            Event::Admitted { sequence } => admitted.push(sequence),
            Event::Message { sequence, payload, .. } => {
                received.push((sequence, payload["i"].as_u64()));
                if next < 1000 {
                    peer.send("echo", json!({"i": next}));
                    next += 1;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_waiting, "sends never had to wait for credit");
    let expected: Vec<(u64, Option<u64>)> = (0..1000).map(|i| (i + 1, Some(i))).collect();
    assert_eq!(received, expected);
    assert_eq!(admitted, (1..=admitted.len() as u64).collect::<Vec<_>>(), "admissions in send order");
    let status = daemon.session_status(&peer.session_id);
    assert_eq!(status["state"], "open");
}

#[test]
fn each_bad_message_is_refused_alone_with_the_right_name() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());

    peer.send("no-such-type", json!({}));
    peer.send("strict", json!({"n": "not an integer"}));
    peer.cmd(Command::SendText { message_type: "echo".into(), payload_text: "{not json".into() });
    peer.send("strict", json!({"n": 7}));
    let events = peer.until(|e| matches!(e, Event::Message { .. }));
    let rejected: Vec<(u64, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { sequence, name, code, .. } => Some((*sequence, name.clone(), code.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "DataError".into(), "unknown-type".into()),
            (2, "DataError".into(), "schema-mismatch".into()),
            (3, "DataError".into(), "invalid-json".into()),
        ]
    );
    assert!(events.contains(&Event::Admitted { sequence: 4 }));
    assert_eq!(
        events.last(),
        Some(&Event::Message { message_type: "strict".into(), sequence: 1, payload: json!({"n": 7}) })
    );

    // Oversize is refused in the UI process, before it leaves.
    peer.send("echo", json!("x".repeat(70 * 1024)));
    match peer.next_event() {
        Event::Refused { name, code, .. } => {
            assert_eq!((name.as_str(), code.as_str()), ("QuotaExceededError", "too-large"))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let status = daemon.wait_for_status(&peer.session_id, "three rejections", |s| {
        s["stats"]["ui_events_rejected"].as_object().map(|m| m.len()) == Some(3)
    });
    assert_eq!(status["stats"]["ui_events_rejected"]["schema-mismatch"], 1);
    assert_eq!(status["stats"]["ui_events_admitted"], 1);
    let log = daemon.log();
    assert!(log.contains("validation failure") && log.contains("schema-mismatch"), "log: {log}");
}
