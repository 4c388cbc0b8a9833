//! The example apps in `examples/`, as shipped: their real cores, manifests and schemas, run by
//! a real `weft-appd` with the test UI peer in place of the page.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use weft_tests::harness::{bin, example_core, repo_root, Daemon, Peer};
use weft_tests::peer::{Command, Event};

/// An example's app directory, checking that its core was built.
fn example(name: &str) -> PathBuf {
    example_core(name);
    repo_root().join("examples").join(name)
}

/// State updates in the order they arrived: `(type, payload)`, checking that sequences toward
/// the page continue from `*sequence` without a gap.
fn messages(events: &[Event], sequence: &mut u64) -> Vec<(String, Value)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { message_type, sequence: s, payload } => {
                assert_eq!(*s, *sequence + 1, "sequence gap before {message_type} {payload}");
                *sequence = *s;
                Some((message_type.clone(), payload.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The todo page's view: items by id and the last summary, built from state updates only.
#[derive(Default)]
struct TodoView {
    items: BTreeMap<u64, (String, bool)>,
    summary: Value,
    sequence: u64,
}

impl TodoView {
    /// Sends one UI event, expects it admitted, and applies the updates up to the summary the
    /// core emits last for each event. Returns the types of the updates it applied.
    fn step(&mut self, peer: &mut Peer, message_type: &str, payload: Value) -> Vec<String> {
        peer.send(message_type, payload);
        let events = peer.until(|e| matches!(e, Event::Message { message_type, .. } if message_type == "summary"));
        assert!(events.iter().any(|e| matches!(e, Event::Admitted { .. })), "not admitted: {events:?}");
        self.apply(&events)
    }

    fn apply(&mut self, events: &[Event]) -> Vec<String> {
        let mut types = Vec::new();
        for (message_type, payload) in messages(events, &mut self.sequence) {
            match message_type.as_str() {
                "item" => {
                    let id = payload["id"].as_u64().expect("item id");
                    match &payload["item"] {
                        Value::Null => {
                            self.items.remove(&id);
                        }
                        item => {
                            let text = item["text"].as_str().expect("text").to_owned();
                            self.items.insert(id, (text, item["done"].as_bool().expect("done")));
                        }
                    }
                }
                "summary" => self.summary = payload,
                other => panic!("unexpected update {other}"),
            }
            types.push(message_type);
        }
        types
    }

    fn items(&self) -> Vec<(u64, &str, bool)> {
        self.items.iter().map(|(id, (text, done))| (*id, text.as_str(), *done)).collect()
    }
}

/// A launched todo session with its initial (empty) summary applied.
fn todo_session(daemon: &Daemon) -> (Peer, TodoView) {
    let mut peer = daemon.launch(&example("todo"));
    let mut view = TodoView::default();
    let first = peer.until(|e| matches!(e, Event::Message { .. }));
    view.apply(&first);
    assert_eq!(view.summary, json!({"total": 0, "done": 0, "open": 0}));
    (peer, view)
}

#[test]
fn todo_add_toggle_remove_and_clear_done_produce_the_right_state() {
    let daemon = Daemon::start();
    let (mut peer, mut view) = todo_session(&daemon);

    for text in ["milk", "  bread  ", "eggs"] {
        assert_eq!(view.step(&mut peer, "add", json!({"text": text})), ["item", "summary"]);
    }
    assert_eq!(view.items(), [(1, "milk", false), (2, "bread", false), (3, "eggs", false)]);
    assert_eq!(view.summary, json!({"total": 3, "done": 0, "open": 3}));

    view.step(&mut peer, "toggle", json!({"id": 1}));
    view.step(&mut peer, "toggle", json!({"id": 3}));
    assert_eq!(view.items(), [(1, "milk", true), (2, "bread", false), (3, "eggs", true)]);
    assert_eq!(view.summary, json!({"total": 3, "done": 2, "open": 1}));
    view.step(&mut peer, "toggle", json!({"id": 3}));
    assert_eq!(view.items()[2], (3, "eggs", false));

    view.step(&mut peer, "remove", json!({"id": 2}));
    assert_eq!(view.items(), [(1, "milk", true), (3, "eggs", false)]);

    view.step(&mut peer, "toggle", json!({"id": 3}));
    view.step(&mut peer, "add", json!({"text": "jam"}));
    // Two done items go in one event: one `item` (null) per removed item, then the summary.
    assert_eq!(view.step(&mut peer, "clear-done", json!({})), ["item", "item", "summary"]);
    assert_eq!(view.items(), [(4, "jam", false)]);
    assert_eq!(view.summary, json!({"total": 1, "done": 0, "open": 1}));

    // An event about an item that does not exist is admitted (its schema is fine) but the
    // core refuses it: the page gets an `error` and the list is unchanged.
    peer.send("toggle", json!({"id": 99}));
    let events = peer.until(|e| matches!(e, Event::Error { .. }));
    match events.last() {
        Some(Event::Error { name, code, detail }) => {
            assert_eq!((name.as_str(), code.as_str()), ("OperationError", "core-error"));
            assert!(detail.contains("no item 99"), "{detail}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    view.step(&mut peer, "toggle", json!({"id": 4}));
    assert_eq!(view.items(), [(4, "jam", true)]);
}

#[test]
fn todo_refuses_bad_adds_with_a_data_error_naming_the_problem_and_the_core_never_sees_them() {
    let daemon = Daemon::start();
    let (mut peer, mut view) = todo_session(&daemon);

    let bad: [(&str, Value, &[&str]); 7] = [
        ("add", json!({"text": ""}), &["/text", "shorter than 1"]),
        ("add", json!({"text": "x".repeat(201)}), &["/text", "longer than 200"]),
        ("add", json!({"text": "   "}), &["/text", "does not match"]),
        ("add", json!({"text": 42}), &["/text", "not of type \"string\""]),
        ("add", json!({}), &["\"text\" is a required property"]),
        ("add", json!({"text": "milk", "due": "today"}), &["'due' was unexpected"]),
        ("toggle", json!({"id": "1"}), &["/id", "not of type \"integer\""]),
    ];
    for (message_type, payload, _) in &bad {
        peer.send(message_type, payload.clone());
    }
    let last = bad.len() as u64;
    let events = peer.until(|e| matches!(e, Event::Rejected { sequence, .. } if *sequence == last));
    let rejections: Vec<(u64, String, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { sequence, name, code, detail } => {
                Some((*sequence, name.clone(), code.clone(), detail.clone()))
            }
            Event::Sent { .. } => None,
            other => panic!("only rejections expected, got {other:?}"),
        })
        .collect();
    assert_eq!(rejections.len(), bad.len(), "{rejections:?}");
    for ((sequence, name, code, detail), (i, (_, payload, expected))) in rejections.iter().zip(bad.iter().enumerate()) {
        assert_eq!(*sequence, i as u64 + 1);
        assert_eq!((name.as_str(), code.as_str()), ("DataError", "schema-mismatch"), "{payload}");
        for part in expected.iter() {
            assert!(detail.contains(part), "rejection of {payload}: {detail:?} does not say {part:?}");
        }
    }

    // The core saw none of them: the next item is still item 1, and it is the only event the
    // broker admitted and the core confirmed.
    view.step(&mut peer, "add", json!({"text": "milk"}));
    assert_eq!(view.items(), [(1, "milk", false)]);
    let status =
        daemon.wait_for_status(&peer.session_id, "one confirmed event", |s| s["stats"]["ui_events_confirmed"] == 1);
    assert_eq!(status["stats"]["ui_events_admitted"], 1, "{status:#}");
    assert_eq!(status["stats"]["ui_events_rejected"]["schema-mismatch"], bad.len(), "{status:#}");
}

/// The `n`-th move of the sketch test: on a 1/1000 grid, so the core's rounding keeps it exact.
fn point(n: u64) -> (f64, f64) {
    ((n * 7 % 1000) as f64 / 1000.0, (n * 13 % 1000) as f64 / 1000.0)
}

#[test]
fn sketch_flood_is_admitted_once_in_order_without_gaps_and_the_coalesced_state_is_the_last_move() {
    const MOVES: u64 = 3000;
    // Sends in flight at once: above the core's credit window (64), so sends wait for credit,
    // and below the manifest's `max_pending_sends` (256), so none is refused.
    const IN_FLIGHT: u64 = 200;
    let daemon = Daemon::start();
    let mut peer = daemon.launch(&example("sketch"));
    let first = peer.until(|e| matches!(e, Event::Message { .. }));
    let mut sequence = 0;
    assert_eq!(messages(&first, &mut sequence), [("canvas".to_owned(), json!({"first_stroke": 1}))]);

    // A page that stopped drawing: every update must wait in the broker, where keyed ones
    // coalesce.
    peer.cmd(Command::SetConsuming { on: false });
    let send = |peer: &mut Peer, n: u64| {
        let (x, y) = point(n);
        peer.send("move", json!({"i": n, "x": x, "y": y, "down": true}));
    };
    let mut next = 0;
    while next < IN_FLIGHT {
        send(&mut peer, next);
        next += 1;
    }
    peer.cmd(Command::State);
    let (mut admitted, mut waited, mut events) = (0u64, false, Vec::new());
    while admitted < MOVES {
        match peer.next_event() {
            Event::Sent { .. } => {}
            Event::State { desired_size, .. } => waited = desired_size < 0,
            Event::Admitted { sequence } => {
                admitted += 1;
                assert_eq!(sequence, admitted, "admissions out of send order");
                if next < MOVES {
                    send(&mut peer, next);
                    next += 1;
                }
            }
            message @ Event::Message { .. } => events.push(message),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(waited, "sends never had to wait for credit");
    let status = daemon.wait_for_status(&peer.session_id, "every move confirmed by the core", |s| {
        s["stats"]["ui_events_confirmed"] == MOVES
    });
    assert!(status["stats"]["state_updates_coalesced"].as_u64().unwrap_or(0) > 0, "{status:#}");

    peer.cmd(Command::SetConsuming { on: true });
    events.extend(peer.until(|e| {
        matches!(e, Event::Message { message_type, payload, .. } if message_type == "cursor" && payload["handled"] == MOVES)
    }));
    let updates = messages(&events, &mut sequence);
    assert!((updates.len() as u64) < MOVES, "{} updates for {MOVES} moves: nothing coalesced", updates.len());

    // The last cursor is the last move; every move reached the core once, in order.
    let (x, y) = point(MOVES - 1);
    let cursor = &updates.last().expect("cursor").1;
    assert_eq!(*cursor, json!({"i": MOVES - 1, "x": x, "y": y, "down": true, "handled": MOVES, "order_errors": 0}));

    // The strokes' latest values hold every point drawn: coalescing lost nothing that matters.
    let mut strokes = BTreeMap::new();
    for (message_type, payload) in &updates {
        if message_type == "stroke" {
            strokes.insert(payload["id"].as_u64().expect("id"), payload["points"].clone());
        }
    }
    let mut drawn: Vec<Value> = Vec::new();
    for (i, points) in strokes.values().enumerate() {
        let points = points.as_array().expect("points");
        // A continued stroke starts at the previous stroke's last point.
        drawn.extend(points.iter().skip(usize::from(i > 0)).cloned());
    }
    let sent: Vec<Value> = (0..MOVES).map(point).map(|(x, y)| json!([x, y])).collect();
    assert_eq!(drawn.len(), sent.len(), "points drawn");
    assert!(drawn == sent, "the strokes differ from the moves sent");

    // `clear` erases every stroke drawn so far.
    peer.send("clear", json!({}));
    let events = peer.until(|e| matches!(e, Event::Message { .. }));
    let cleared = messages(&events, &mut sequence);
    let last_stroke = strokes.keys().next_back().copied().unwrap_or(0);
    match cleared.as_slice() {
        [(message_type, payload)] if message_type == "canvas" => {
            assert!(payload["first_stroke"].as_u64() > Some(last_stroke), "{payload} leaves stroke {last_stroke}")
        }
        other => panic!("expected the canvas update, got {other:?}"),
    }
}

#[test]
fn every_example_passes_weft_appd_check() {
    let mut checked = Vec::new();
    let dir = repo_root().join("examples");
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if !path.join("weft.toml").is_file() {
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        example_core(&name);
        let out = std::process::Command::new(bin("weft-appd")).arg("check").arg(&path).output().expect("check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with(&format!("{name}: ok")), "{name}: {stdout}");
        checked.push(name);
    }
    checked.sort();
    for expected in ["counter", "echo", "sketch", "todo"] {
        assert!(checked.iter().any(|n| n == expected), "examples/{expected} was not checked: {checked:?}");
    }
}

#[test]
fn the_app_guide_quotes_the_current_wit_world_and_channel_declarations() {
    let root = repo_root();
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let guide = read("docs/app-guide.md");
    let wit = read("appd/core-host/wit/world.wit");
    assert!(guide.contains(&wit), "docs/app-guide.md must quote appd/core-host/wit/world.wit verbatim");
    for line in read("resources/weft-channel.d.ts").lines() {
        let code = line.trim_start();
        if code.is_empty() || code.starts_with("//") || code.starts_with("/*") || code.starts_with('*') {
            continue;
        }
        assert!(guide.contains(line), "docs/app-guide.md lacks this line of resources/weft-channel.d.ts: {line:?}");
    }
}
