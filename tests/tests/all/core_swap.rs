//! A new core taking a running session over (`swap-core`, what `weft dev` does after a core
//! edit), across real processes: the daemon, two core hosts and a UI peer that stays connected
//! throughout.

use serde_json::{json, Value};
use weft_tests::harness::{alive, app, example_app, example_core, wait_gone, Daemon, Peer};
use weft_tests::peer::Event;

/// A counter app in a temporary directory (its core.wasm can be replaced).
fn counter_app() -> tempfile::TempDir {
    let manifest = std::fs::read_to_string(example_app("counter").join("weft.toml")).expect("counter manifest");
    app(&manifest, &example_core("counter"))
}

/// Waits for the page to be shown the count `value`.
fn until_count(peer: &mut Peer, value: i64) {
    peer.until(|e| matches!(e, Event::Message { message_type, payload, .. } if message_type == "count" && payload["value"] == value));
}

fn swap(daemon: &Daemon, peer: &Peer) -> Value {
    daemon.request(json!({"op": "swap-core", "session_id": peer.session_id}))
}

#[test]
fn a_new_core_takes_the_session_over_with_the_running_cores_state() {
    let daemon = Daemon::start();
    let app = counter_app();
    let mut peer = daemon.launch_request(app.path(), &[], json!({"keep_ui_history": true})).expect("launch");
    for _ in 0..3 {
        peer.send("increment", json!({}));
    }
    until_count(&mut peer, 3);
    let old_core = peer.core_pid;

    let answer = swap(&daemon, &peer);
    assert_eq!(answer["ok"], true, "{answer}\ndaemon log:\n{}", daemon.log());
    assert_eq!(answer["swapped"]["carried_ui_events"], 3, "{answer}");
    assert!(answer["swapped"].get("not_carried").is_none(), "{answer}");
    let new_core = answer["swapped"]["core_pid"].as_u64().expect("new core pid") as u32;
    assert_ne!(new_core, old_core);
    wait_gone(old_core, "the replaced core host");
    // The page, which never left, is sent the count the new core rebuilt, and the new core
    // serves what comes next.
    until_count(&mut peer, 3);
    peer.send("increment", json!({"by": 10}));
    until_count(&mut peer, 13);
    let status = daemon.session_status(&peer.session_id);
    assert_eq!(status["state"], "open", "{status:#}");
    assert_eq!(status["core_pid"], new_core, "{status:#}");
    assert_eq!(status["ui_pid"], peer.ui_pid, "{status:#}");
    assert!(alive(peer.ui_pid));
    assert_eq!(status["stats"]["core_swaps"], 1, "{status:#}");

    // Again: the history runs across swaps.
    let answer = swap(&daemon, &peer);
    assert_eq!(answer["swapped"]["carried_ui_events"], 4, "{answer}");
    until_count(&mut peer, 13);
    peer.send("increment", json!({}));
    until_count(&mut peer, 14);
}

#[test]
fn a_new_core_that_cannot_start_leaves_the_running_core_in_charge() {
    let daemon = Daemon::start();
    let app = counter_app();
    let mut peer = daemon.launch_request(app.path(), &[], json!({"keep_ui_history": true})).expect("launch");
    peer.send("increment", json!({}));
    until_count(&mut peer, 1);
    std::fs::write(app.path().join("core.wasm"), b"not a wasm module").expect("break the core");

    let answer = swap(&daemon, &peer);
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("the new core did not take over: it failed to start"), "{answer}");
    let status = daemon.session_status(&peer.session_id);
    assert_eq!(status["state"], "open", "{status:#}");
    assert_eq!(status["core_pid"], peer.core_pid, "{status:#}");
    assert_eq!(status["stats"]["core_swaps"], 0, "{status:#}");
    // The running core goes on with its count.
    peer.send("increment", json!({}));
    until_count(&mut peer, 2);

    // Fixed, the swap goes through with both events.
    std::fs::copy(example_core("counter"), app.path().join("core.wasm")).expect("fix the core");
    let answer = swap(&daemon, &peer);
    assert_eq!(answer["swapped"]["carried_ui_events"], 2, "{answer}\ndaemon log:\n{}", daemon.log());
    until_count(&mut peer, 2);
}

#[test]
fn a_session_that_keeps_no_history_swaps_to_a_fresh_core_and_says_so() {
    let daemon = Daemon::start();
    let app = counter_app();
    let mut peer = daemon.launch(app.path());
    peer.send("increment", json!({}));
    until_count(&mut peer, 1);

    let answer = swap(&daemon, &peer);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["swapped"]["carried_ui_events"], 0, "{answer}");
    assert_eq!(answer["swapped"]["not_carried"], "the session keeps no history of its UI events", "{answer}");
    // The fresh core's own state reaches the page.
    until_count(&mut peer, 0);
    peer.send("increment", json!({}));
    until_count(&mut peer, 1);

    let unknown = daemon.request(json!({"op": "swap-core", "session_id": "no-such-session"}));
    assert_eq!(unknown["ok"], false);
    assert_eq!(unknown["error"], "no live session \"no-such-session\"");
}
