//! Credits end to end: a slow page holds the core back; keyed updates coalesce.

use serde_json::json;
use std::time::{Duration, Instant};
use weft_tests::harness::{app, example_core, Daemon, ECHO_MANIFEST, HOSTILE_MANIFEST};
use weft_tests::peer::{Command, Event};

#[test]
fn a_page_that_stops_consuming_bounds_the_queue_and_the_core_sees_backpressure() {
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.cmd(Command::SetConsuming { on: false });
    peer.send("flood", json!({"n": 2000}));
    // The page's window (64) arrives, then nothing until it consumes.
    let status = daemon.wait_for_status(&peer.session_id, "a full state queue", |s| {
        s["stats"]["state_queue_depth"] == s["stats"]["state_queue_capacity"]
    });
    assert_eq!(status["stats"]["state_queue_capacity"], 128);
    peer.cmd(Command::SetConsuming { on: true });
    let events = peer.until(|e| matches!(e, Event::Message { message_type, .. } if message_type == "flood-done"));
    let messages: Vec<(u64, serde_json::Value)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message { sequence, payload, .. } => Some((*sequence, payload.clone())),
            _ => None,
        })
        .collect();
    // No gaps toward the page, and the ticks that were accepted arrive in order.
    for (i, (sequence, _)) in messages.iter().enumerate() {
        assert_eq!(*sequence, i as u64 + 1);
    }
    let ticks: Vec<u64> = messages.iter().filter_map(|(_, p)| p["i"].as_u64()).collect();
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "ticks out of order");
    let done = &messages.last().expect("flood-done").1;
    let accepted = done["accepted"].as_u64().expect("accepted");
    let rejected = done["rejected"].as_u64().expect("rejected");
    assert_eq!(accepted + rejected, 2000);
    assert!(rejected > 0, "the core never felt backpressure: {done}");
    assert_eq!(ticks.len() as u64, accepted, "every accepted update reaches the page");
}

#[test]
fn keyed_updates_emitted_in_one_event_coalesce_in_the_core_host() {
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.send("flood-keyed", json!({"n": 5000}));
    let events = peer.until(|e| matches!(e, Event::Message { message_type, .. } if message_type == "flood-done"));
    let mut last_tick = None;
    let mut expected_sequence = 1;
    for e in &events {
        if let Event::Message { sequence, payload, message_type } = e {
            assert_eq!(*sequence, expected_sequence, "sequence gap");
            expected_sequence += 1;
            if message_type == "tick" {
                last_tick = payload["i"].as_u64();
            }
        }
    }
    assert_eq!(last_tick, Some(4999), "the latest value wins");
    let done = match events.last() {
        Some(Event::Message { payload, .. }) => payload.clone(),
        _ => unreachable!(),
    };
    assert_eq!(done["rejected"], 0, "keyed updates never see backpressure");
}

#[test]
fn keyed_updates_waiting_for_a_slow_page_coalesce_in_the_broker_without_gaps() {
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.cmd(Command::SetConsuming { on: false });
    // 100 unkeyed ticks (0..99) and a report use up the page's window of 64 and queue the rest.
    peer.send("flood", json!({"n": 100}));
    daemon.wait_for_status(&peer.session_id, "the flood accepted", |s| s["stats"]["state_updates_accepted"] == 101);
    // Three keyed floods, each confirmed before the next, so each reaches the broker on its own
    // and waits in its queue: their `tick` and `flood-done` replace the older ones.
    for (i, n) in [1000, 1001, 1002].into_iter().enumerate() {
        peer.send("flood-keyed", json!({"n": n}));
        daemon.wait_for_status(&peer.session_id, "the keyed flood confirmed", |s| {
            s["stats"]["ui_events_confirmed"] == i as u64 + 2
        });
    }
    let status = daemon.session_status(&peer.session_id);
    assert!(status["stats"]["state_updates_coalesced"].as_u64().unwrap_or(0) >= 4, "{status:#}");
    peer.cmd(Command::SetConsuming { on: true });
    let events = peer.until(
        |e| matches!(e, Event::Message { message_type, payload, .. } if message_type == "flood-done" && payload["accepted"] == 1002),
    );
    let mut expected_sequence = 1;
    let mut late_ticks = Vec::new();
    for e in &events {
        if let Event::Message { sequence, payload, message_type } = e {
            assert_eq!(*sequence, expected_sequence, "sequence gap");
            expected_sequence += 1;
            match payload["i"].as_u64() {
                Some(i) if message_type == "tick" && i >= 100 => late_ticks.push(i),
                _ => {}
            }
        }
    }
    assert_eq!(late_ticks, vec![1001], "only the latest keyed value reaches the page");
}

#[test]
fn invalid_updates_from_the_core_are_dropped_and_reported() {
    let daemon = Daemon::start();
    let app = app(HOSTILE_MANIFEST, &example_core("hostile"));
    let mut peer = daemon.launch(app.path());
    peer.send("bad-payload", json!({}));
    peer.send("unknown-type", json!({}));
    peer.send("echo", json!("after"));
    let events = peer.until(|e| matches!(e, Event::Message { .. }));
    let errors: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Error { code, .. } => Some(code.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors, vec!["schema-mismatch".to_string(), "unknown-type".to_string()]);
    assert!(matches!(events.last(), Some(Event::Message { sequence: 1, payload, .. }) if payload == &json!("after")));
}

#[test]
fn a_ten_second_flood_from_the_page_keeps_every_queue_within_its_bound_and_loses_nothing() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    peer.cmd(Command::Flood { message_type: "echo".into(), seconds: 10.0 });
    let started = Instant::now();
    let (mut max_waiting, mut max_in_core, mut max_queue, mut samples) = (0, 0, 0, 0);
    let done = loop {
        if let Some(event) = peer.try_event() {
            match event {
                done @ Event::FloodDone { .. } => break done,
                other => panic!("unexpected during the flood: {other:?}"),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the flood never finished");
        let stats = &daemon.session_status(&peer.session_id)["stats"];
        max_waiting = max_waiting.max(stats["ui_events_waiting"].as_u64().unwrap_or(0));
        max_in_core = max_in_core.max(stats["ui_events_in_core"].as_u64().unwrap_or(0));
        max_queue = max_queue.max(stats["state_queue_depth"].as_u64().unwrap_or(0));
        samples += 1;
        // Sampling interval of a gauge, not synchronisation: the flood's end is an event.
        std::thread::sleep(Duration::from_millis(100));
    };
    let Event::FloodDone { sent, admitted, refused, received, in_order } = done else { unreachable!() };
    assert!(sent > 1000, "only {sent} sends in 10 s");
    assert_eq!((admitted, refused, received), (sent, 0, sent), "every send admitted and echoed once");
    assert!(in_order, "echoes arrived out of order or with a sequence gap");
    assert!(samples >= 50, "status sampled {samples} times");
    // UI events in the broker plus in the core never exceed the core's credit window (64).
    assert!(max_waiting + max_in_core <= 64, "waiting {max_waiting} + in core {max_in_core}");
    assert!(max_queue <= 128, "state queue {max_queue}");
    let status = daemon.wait_for_status(&peer.session_id, "every flood event counted", |s| {
        s["stats"]["ui_events_admitted"] == sent && s["stats"]["state_updates_delivered"] == sent
    });
    assert_eq!(status["state"], "open");
}
