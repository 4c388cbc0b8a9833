//! Session recordings (`--record`), their replay against a fresh core, and live inspection.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command as Process, Output};
use weft_tests::harness::{bin, example_app, example_core, Daemon, Peer};
use weft_tests::peer::{Command, Event};

/// The lines of a recording, parsed.
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read the recording");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"))).collect()
}

/// The message records of one direction with one verdict.
fn messages<'a>(all: &'a [Value], direction: &str, verdict: &str) -> Vec<&'a Value> {
    all.iter().filter(|l| l["kind"] == "message" && l["direction"] == direction && l["verdict"] == verdict).collect()
}

fn field(all: &[&Value], key: &str) -> Vec<Value> {
    all.iter().map(|l| l[key].clone()).collect()
}

/// `weft-appd <args>`.
fn appd(args: &[&str]) -> Output {
    Process::new(bin("weft-appd")).args(args).output().expect("run weft-appd")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Waits for the counter to show `value`.
fn count_reaches(peer: &mut Peer, value: i64) {
    peer.until(|e| matches!(e, Event::Message { payload, .. } if payload["value"] == value));
}

/// A counter session, recorded: four admitted events (one after a schema rejection), then the
/// user closes the app. Returns the daemon (kept alive while the caller reads the file).
fn record_counter(record: &Path) -> Daemon {
    let daemon = Daemon::start();
    let mut peer = daemon.launch_recorded(&example_app("counter"), record);
    count_reaches(&mut peer, 0);
    peer.send("increment", json!({"by": 2}));
    count_reaches(&mut peer, 2);
    peer.send("increment", json!({"by": "two"}));
    peer.until(|e| matches!(e, Event::Rejected { code, .. } if code == "schema-mismatch"));
    peer.send("increment", json!({}));
    count_reaches(&mut peer, 3);
    peer.send("reset", json!({}));
    count_reaches(&mut peer, 0);
    peer.send("increment", json!({"by": 5}));
    count_reaches(&mut peer, 5);
    peer.cmd(Command::Close);
    assert_eq!(peer.until_end().0, "app-closed");
    daemon.wait_for_status(&peer.session_id, "the session ended", |s| s["state"] == "ended");
    daemon
}

#[test]
fn a_recorded_counter_session_has_both_directions_verdicts_and_continuous_sequences() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("counter.jsonl");
    let daemon = record_counter(&record);
    let all = lines(&record);

    let header = &all[0];
    assert_eq!(
        (&header["kind"], &header["format"], &header["app"]),
        (&json!("header"), &json!("weft-recording"), &json!("counter"))
    );
    for digest in ["manifest_sha256", "core_sha256"] {
        assert_eq!(header[digest].as_str().map(str::len), Some(64), "{digest}: {header}");
    }
    assert!(header["started_unix_ms"].as_u64().is_some_and(|t| t > 1_600_000_000_000));
    let footer = all.last().expect("footer");
    assert_eq!(
        (&footer["kind"], &footer["end_reason"], &footer["dropped"]),
        (&json!("footer"), &json!("app-closed"), &json!(0))
    );
    assert_eq!(footer["records"], all.len() - 2, "footer counts the records between header and footer");
    let times: Vec<u64> = all.iter().map(|l| l["t_us"].as_u64().expect("t_us")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "monotonic times: {times:?}");

    // UI → core: every event at ingress, in order, with its verdict and payload.
    let mut ingress = messages(&all, "ui-to-core", "admitted");
    ingress.extend(messages(&all, "ui-to-core", "rejected"));
    ingress.sort_by_key(|l| l["sequence"].as_u64());
    assert_eq!(field(&ingress, "sequence"), json!([1, 2, 3, 4, 5]).as_array().cloned().unwrap_or_default());
    assert_eq!(
        field(&ingress, "verdict"),
        json!(["admitted", "rejected", "admitted", "admitted", "admitted"]).as_array().cloned().unwrap_or_default()
    );
    assert_eq!(ingress[1]["rejection"], "schema-mismatch");
    assert_eq!(ingress[0]["payload"], r#"{"by":2}"#);
    assert_eq!(ingress[0]["class"], "ui-event");
    assert_eq!(ingress[0]["size"], "increment".len() + r#"{"by":2}"#.len());
    assert_eq!(field(&ingress, "forwarded_sequence"), vec![json!(1), Value::Null, json!(2), json!(3), json!(4)]);
    let to_core = messages(&all, "ui-to-core", "delivered");
    assert_eq!(field(&to_core, "sequence"), vec![json!(1), json!(3), json!(4), json!(5)]);
    assert_eq!(field(&to_core, "delivered_sequence"), vec![json!(1), json!(2), json!(3), json!(4)]);

    // Core → UI: every update at ingress (init's count, then one per event), then delivered
    // with continuous page sequences.
    let updates = messages(&all, "core-to-ui", "admitted");
    assert_eq!(field(&updates, "sequence"), (1..=5).map(|i| json!(i)).collect::<Vec<_>>());
    let values: Vec<String> = updates.iter().map(|u| u["payload"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(values, ["0", "2", "3", "0", "5"].map(|v| format!(r#"{{"value":{v}}}"#)));
    assert!(updates.iter().all(|u| u["class"] == "state-update" && u["coalesce_key"] == "count"));
    let to_page = messages(&all, "core-to-ui", "delivered");
    let coalesced = messages(&all, "core-to-ui", "coalesced");
    assert_eq!(to_page.len() + coalesced.len(), 5, "each update delivered or coalesced away");
    assert_eq!(field(&to_page, "delivered_sequence"), (1..=to_page.len()).map(|i| json!(i)).collect::<Vec<_>>());

    // The core's turns: four events confirmed; the page granted credit.
    let confirmed: u64 =
        all.iter().filter(|l| l["kind"] == "core-credit").filter_map(|l| l["confirmed"].as_u64()).sum();
    assert_eq!(confirmed, 4);
    assert!(all.iter().any(|l| l["kind"] == "page-credit"));
    assert!(all.iter().any(|l| l["kind"] == "lifecycle" && l["report"] == "ready"));
    drop(daemon);
}

#[test]
fn a_recording_replays_to_a_match_and_a_changed_core_diverges_at_the_first_difference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("counter.jsonl");
    let _daemon = record_counter(&record);
    let record = record.to_str().expect("utf-8 path");

    let out = appd(&["replay", record]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "replay: match (4 ui events, 5 state updates)");

    // The echo core emits nothing in init and fails the counter's events (not its types): the
    // first recorded update (init's count) is missing.
    let echo = example_core("echo");
    let out = appd(&["replay", record, "--core", echo.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("replay: divergence at state update 1 of 5"), "{report}");
    assert!(report.contains(r#"expected: count {"value":0} (key "count")  [core sequence 1]"#), "{report}");
    assert!(report.contains("actual:   nothing (the replayed core emitted no such update)"), "{report}");
    assert!(report.contains("after:    no UI event yet (emitted by init)"), "{report}");
}

#[test]
fn a_divergence_names_the_ui_event_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("counter.jsonl");
    let _daemon = record_counter(&record);
    // The same session, as if the core had counted the second increment ({}) by 2: a recording
    // edited where a changed core would differ.
    let edited = std::fs::read_to_string(&record).expect("read").replace(r#"{\"value\":3}"#, r#"{\"value\":4}"#);
    let edited_path = dir.path().join("edited.jsonl");
    std::fs::write(&edited_path, edited).expect("write");
    let out = appd(&["replay", edited_path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("divergence at state update 3 of 5"), "{report}");
    assert!(
        report.contains(r#"expected: count {"value":4}"#) && report.contains(r#"actual:   count {"value":3}"#),
        "{report}"
    );
    assert!(report.contains("after:    UI event 2 (page sequence 3): increment {}"), "{report}");
}

#[test]
fn malformed_or_truncated_recordings_get_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("counter.jsonl");
    let _daemon = record_counter(&record);
    let full = std::fs::read_to_string(&record).expect("read");
    let cut_footer: String = full.lines().take(full.lines().count() - 1).map(|l| format!("{l}\n")).collect();
    let mid_line = &full[..full.len() / 2];
    let cases = [
        ("truncated.jsonl", cut_footer.clone(), "no footer"),
        ("cut.jsonl", mid_line.to_owned(), "the last line is cut"),
        ("garbage.jsonl", full.replacen("\"kind\":\"message\"", "\"kind\":\"messag\"", 1), "not a recording record"),
        ("empty.jsonl", String::new(), "empty file"),
        ("other.jsonl", "{\"hello\": 1}\n".to_owned(), "not a recording record"),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        let out = appd(&["replay", path.to_str().expect("path")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert!(err.contains(expected) && err.contains(name), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let out = appd(&["replay", dir.path().join("missing.jsonl").to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"), "{}", text(&out));
}

#[test]
fn a_burst_that_the_core_host_coalesced_still_replays_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("burst.jsonl");
    let daemon = Daemon::start();
    let mut peer = daemon.launch_recorded(&example_app("counter"), &record);
    // 200 increments at once: the core takes many per turn and its outbox keeps only the
    // latest count of each turn, so fewer updates than events leave it (timing decides how many).
    for _ in 0..200 {
        peer.send("increment", json!({}));
    }
    count_reaches(&mut peer, 200);
    peer.cmd(Command::Close);
    assert_eq!(peer.until_end().0, "app-closed");
    daemon.wait_for_status(&peer.session_id, "the session ended", |s| s["state"] == "ended");
    let out = appd(&["replay", record.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = lines(&record);
    let updates = messages(&all, "core-to-ui", "admitted").len();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("replay: match (200 ui events, {updates} state updates)")
    );
}
