//! Session recordings (`--record`), their replay against a fresh core, and live inspection.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command as Process, Output};
use std::time::{Duration, Instant};
use weft_tests::harness::{app, bin, example_app, example_core, wait_gone, Daemon, Peer, ECHO_MANIFEST};
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
    // The core's credit for the last event may still be on its way when the page has the count.
    daemon.wait_for_status(&peer.session_id, "four confirmed events", |s| s["stats"]["ui_events_confirmed"] == 4);
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

/// A recording of a session whose page was reloaded (a `page-attached` record) is refused with
/// a clear reason: replaying the core's page-attached turns is not supported yet.
#[test]
fn a_recording_with_a_page_reload_is_refused_with_a_clear_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("counter.jsonl");
    let _daemon = record_counter(&record);
    let full = std::fs::read_to_string(&record).expect("read");
    let mut lines: Vec<&str> = full.lines().collect();
    lines.insert(2, r#"{"t_us":1,"kind":"page-attached"}"#);
    let path = dir.path().join("reloaded.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let out = appd(&["replay", path.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(err.contains("page-attached") && err.contains("not supported yet"), "{err}");
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

#[test]
fn a_recorder_that_cannot_keep_up_drops_and_says_so_without_slowing_the_session() {
    let daemon = Daemon::start();
    let echo = app(ECHO_MANIFEST, &example_core("echo"));
    let dir = tempfile::tempdir().expect("tempdir");
    // A pipe that is read only after the flood: the recorder's writes block once its buffer is
    // full, as on a stalled disk.
    let fifo = dir.path().join("slow.jsonl");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("path")).expect("c path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let (opened_tx, opened) = std::sync::mpsc::channel();
    let reader_path = fifo.clone();
    std::thread::spawn(move || {
        let _ = opened_tx.send(std::fs::File::open(reader_path).expect("open the pipe"));
    });
    let mut peer = daemon.launch_request(echo.path(), &[], json!({"record": fifo})).expect("launch");
    let pipe = opened.recv_timeout(Duration::from_secs(20)).expect("the daemon opened the pipe");

    peer.cmd(Command::Flood { message_type: "echo".into(), seconds: 2.0 });
    let started = Instant::now();
    let done = peer.until(|e| matches!(e, Event::FloodDone { .. }));
    let (admitted, refused, in_order) = match done.last() {
        Some(Event::FloodDone { admitted, refused, in_order, .. }) => (*admitted, *refused, *in_order),
        _ => unreachable!(),
    };
    assert!(started.elapsed() < Duration::from_secs(6), "the flood stalled: {:?}", started.elapsed());
    assert!(in_order && refused == 0 && admitted > 2000, "admitted {admitted}, refused {refused}, in order {in_order}");
    let status =
        daemon.wait_for_status(&peer.session_id, "dropped records", |s| s["recording"]["dropped"].as_u64() > Some(0));
    assert_eq!(status["state"], "open");
    let peak_kib = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid()))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .expect("VmHWM");
    assert!(peak_kib < 256 * 1024, "the daemon grew to {peak_kib} KiB");

    // Now read the pipe: the writer drains its bounded queue, then the footer follows the end.
    let reading = std::thread::spawn(move || std::io::read_to_string(pipe).expect("read the pipe"));
    peer.cmd(Command::Close);
    assert_eq!(peer.until_end().0, "app-closed");
    let recorded = reading.join().expect("reader");
    let all: Vec<Value> = recorded.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let footer = all.last().expect("footer");
    assert_eq!(footer["kind"], "footer", "{footer}");
    let dropped = footer["dropped"].as_u64().expect("dropped");
    assert!(dropped > 0, "{footer}");
    let marked: u64 = all.iter().filter(|l| l["kind"] == "dropped").filter_map(|l| l["count"].as_u64()).sum();
    assert_eq!(marked, dropped, "every gap is marked where it happened");
    assert_eq!(footer["records"], all.len() - 2);
    // An incomplete recording is refused by replay.
    let copy = dir.path().join("copy.jsonl");
    std::fs::write(&copy, &recorded).expect("write");
    let out = appd(&["replay", copy.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("records were dropped"), "{}", text(&out));
}

#[test]
fn inspect_follows_a_live_session_and_exits_when_it_ends() {
    let daemon = Daemon::start();
    let echo = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(echo.path());
    peer.send("strict", json!({"n": "x"}));
    peer.send("echo", json!(1));
    peer.until(|e| matches!(e, Event::Message { .. }));
    daemon.wait_for_status(&peer.session_id, "the rejection", |s| {
        s["stats"]["ui_events_rejected"]["schema-mismatch"] == 1
    });
    let runtime_dir = daemon.runtime_dir();
    let runtime = runtime_dir.to_str().expect("path");

    let out =
        appd(&["--runtime-dir", runtime, "inspect", &peer.session_id[..8], "--interval-ms", "50", "--count", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "title, column header, three samples: {stdout}");
    assert!(lines[0].starts_with(&format!("session {}  app echo", peer.session_id)), "{stdout}");
    assert!(lines[1].contains("ui>core/s") && lines[1].contains("queue(hw)/cap"), "{stdout}");
    assert!(lines[2..].iter().all(|l| l.contains("0(1)/128") && l.contains("ui:schema-mismatch=1")), "{stdout}");

    // Without --count it follows until the session ends, and says why (at once if it already has).
    let child = Process::new(bin("weft-appd"))
        .args(["--runtime-dir", runtime, "inspect", &peer.session_id, "--interval-ms", "50"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start inspect");
    peer.send("echo", json!(2));
    peer.until(|e| matches!(e, Event::Message { .. }));
    peer.cmd(Command::Close);
    assert_eq!(peer.until_end().0, "app-closed");
    wait_gone(child.id(), "weft-appd inspect");
    let out = child.wait_with_output().expect("inspect output");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.trim_end().ends_with("session ended: app-closed (the user closed the app)"), "{stdout}");

    let out = appd(&["--runtime-dir", runtime, "inspect", "nosuchsession"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session \"nosuchsession\""), "{}", text(&out));
}

#[test]
fn run_with_record_and_the_console_shell_replays_to_a_match() {
    // The foreground path a developer uses: `weft-appd run --record`, here with the real
    // weft-shell in its terminal mode driving the counter with two scripted increments.
    let dir = tempfile::tempdir().expect("tmp");
    let recording = dir.path().join("counter.jsonl");
    let run = std::process::Command::new(weft_tests::harness::bin("weft-appd"))
        .arg("--runtime-dir")
        .arg(dir.path().join("run"))
        .arg("run")
        .arg(weft_tests::harness::repo_root().join("examples/counter"))
        .arg("--record")
        .arg(&recording)
        .arg("--ui-command")
        .arg(weft_tests::harness::bin("weft-shell"))
        .args(["--console", "--script", r#"increment {"by": 2}"#, "--script", r#"increment {"by": 3}"#])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("weft-appd run");
    assert!(run.status.success(), "run: {}", String::from_utf8_lossy(&run.stderr));
    let replay = std::process::Command::new(weft_tests::harness::bin("weft-appd"))
        .arg("replay")
        .arg(&recording)
        .output()
        .expect("weft-appd replay");
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "replay: {stdout}{}", String::from_utf8_lossy(&replay.stderr));
    // (How many `count` updates reached the broker depends on how the core host coalesced them.)
    assert!(stdout.starts_with("replay: match (2 ui events, "), "{stdout}");
}
