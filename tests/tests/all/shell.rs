//! The Servo shell, headless, with a real weft-appd and real cores: `weft.channel` in real
//! pages, screenshots of the counter. Pages report through the console (`--report`), not
//! through the channel under test.

use std::path::Path;
use weft_tests::harness::{
    app, bin, example_core, kill9, repo_root, wait_gone, Daemon, ECHO_MANIFEST, HOSTILE_MANIFEST,
};

/// Runs `page` (with `extra` files beside it) as the UI of an app; returns the page's results.
fn run_page(manifest: &str, core: &str, page: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    run_page_with(manifest, core, page, extra, |_, _| {})
}

/// Like [`run_page`], calling `meanwhile(daemon, session)` once the session is open.
fn run_page_with(
    manifest: &str,
    core: &str,
    page: &str,
    extra: &[&str],
    meanwhile: impl FnOnce(&Daemon, &serde_json::Value),
) -> Vec<serde_json::Value> {
    let daemon = Daemon::start();
    let app = app(manifest, &example_core(core));
    let pages = repo_root().join("tests/shell");
    std::fs::copy(pages.join(page), app.path().join("ui/index.html")).unwrap_or_else(|e| panic!("copy {page}: {e}"));
    for file in extra {
        std::fs::copy(pages.join(file), app.path().join("ui").join(file)).expect("extra file");
    }
    let report = app.path().join("report.jsonl");
    let session = daemon.launch_ui(
        app.path(),
        &shell_command(&["--report", &report.display().to_string(), "--until-console", "WEFT-DONE"]),
    );
    let id = session["session_id"].as_str().expect("id").to_owned();
    meanwhile(&daemon, &session);
    let status = daemon.wait_for_status(&id, "the page to finish", |s| s["state"] == "ended");
    // The page may still be reacting to the end: its results are complete when the shell exits.
    wait_gone(session["ui_pid"].as_u64().expect("ui pid") as u32, "weft-shell");
    let results: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad result line {l:?}: {e}")))
        .collect();
    let failed: Vec<&serde_json::Value> = results.iter().filter(|r| r["ok"] != true).collect();
    assert!(failed.is_empty(), "failed: {failed:#?}\nstatus: {status:#}\nlog:\n{}", daemon.log());
    results
}

/// `weft-shell --probe` (the benchmark's split of the servo path) samples exactly the sends
/// that travel alone, and its spans add up.
#[test]
fn the_probe_samples_only_lone_round_trips_and_its_spans_add_up() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    std::fs::copy(repo_root().join("tests/shell/probe.html"), app.path().join("ui/index.html")).expect("page");
    let (report, probe) = (app.path().join("report.jsonl"), app.path().join("probe.json"));
    let session = daemon.launch_ui(
        app.path(),
        &shell_command(&[
            "--report",
            &report.display().to_string(),
            "--until-console",
            "WEFT-DONE",
            "--probe",
            &probe.display().to_string(),
        ]),
    );
    wait_gone(session["ui_pid"].as_u64().expect("ui pid") as u32, "weft-shell");
    let results = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(results.contains(r#""name":"probe-page","ok":true"#), "{results}\nlog:\n{}", daemon.log());
    let text = std::fs::read_to_string(&probe).unwrap_or_else(|e| panic!("no probe file: {e}\nlog:\n{}", daemon.log()));
    let figures: serde_json::Value = serde_json::from_str(&text).expect("probe JSON");
    let rows = figures["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "one payload size: {figures}");
    let row = &rows[0];
    assert_eq!(row["payload_bytes"], 64, "{figures}");
    // 40 + 10 lone sends; none of the burst's 20.
    assert_eq!(row["samples"], 50, "{figures}");
    let span = |name: &str| row[name].as_f64().unwrap_or_else(|| panic!("{name} missing: {figures}"));
    for name in ["up_us", "broker_us", "hop_us", "down_us"] {
        assert!(span(name) > 0.0, "{name}: {figures}");
    }
    // The broker's span (appd, the core host, four IPC hops) is part of the shell's.
    assert!(span("shell_us") > span("broker_us"), "{figures}");
    assert!(span("shell_us") < 1e6, "{figures}");
}

fn shell_command(extra: &[&str]) -> Vec<String> {
    let mut command =
        vec![bin("weft-shell").display().to_string(), "--headless".into(), "--timeout".into(), "60".into()];
    command.extend(extra.iter().map(|s| s.to_string()));
    command
}

fn names(results: &[serde_json::Value]) -> Vec<String> {
    results.iter().filter_map(|r| r["name"].as_str().map(str::to_owned)).collect()
}

#[test]
fn channel_in_a_real_page_round_trips_orders_and_rejects() {
    let results = run_page(ECHO_MANIFEST, "echo", "channel.html", &["frame.html"]);
    let names = names(&results);
    for expected in [
        "binding-present",
        "binding-not-writable",
        "round-trip",
        "open-after-traffic",
        "ordering-1000",
        "unknown-type",
        "schema-mismatch",
        "strict-ok",
        "oversize",
        "not-serialisable",
        "iframe-has-no-channel",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} never reported: {names:?}");
    }
}

#[test]
fn loads_and_navigations_outside_the_ui_are_refused_by_the_embedder() {
    let results = run_page(ECHO_MANIFEST, "echo", "navigate.html", &[]);
    let names = names(&results);
    for expected in
        ["load-outside-ui-refused", "network-load-refused", "navigation-refused", "channel-after-refused-navigation"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} never reported: {names:?}");
    }
}

/// The native carrier: a navigation to another page of `ui/` and a reload each give the new
/// document a working channel of the same session at once; the old document's last sends reach
/// the core at most once and the session goes on.
#[test]
fn a_navigation_inside_the_ui_and_a_reload_keep_the_session() {
    let results = run_page(ECHO_MANIFEST, "echo", "reload.html", &[]);
    let names = names(&results);
    for phase in 1..=3 {
        for check in ["open-at-once", "round-trip", "no-sessionend"] {
            let expected = format!("phase{phase}-{check}");
            assert!(names.contains(&expected), "{expected} never reported: {names:?}");
        }
    }
    for expected in ["phase2-same-session", "phase3-same-session", "phase2-nothing-twice", "phase3-nothing-twice"] {
        assert!(names.iter().any(|n| n == expected), "{expected} never reported: {names:?}");
    }
}

/// A reloaded counter shows its count: the core is told that a new page attached
/// (`page-attached`) and sends its state again, with nothing sent by the new page.
#[test]
fn a_reloaded_counter_shows_its_count() {
    let manifest = std::fs::read_to_string(repo_root().join("examples/counter/weft.toml")).expect("counter manifest");
    let results = run_page(&manifest, "counter", "reload-counter.html", &[]);
    let names = names(&results);
    for expected in ["phase1-initial-state", "phase1-counted", "phase2-count-after-reload", "phase2-nothing-lower"] {
        assert!(names.iter().any(|n| n == expected), "{expected} never reported: {names:?}");
    }
}

#[test]
fn a_trapping_core_ends_the_page_session_once_and_later_sends_fail() {
    let results = run_page(HOSTILE_MANIFEST, "hostile", "trap.html", &[]);
    let names = names(&results);
    for expected in ["sessionend-reason", "closed-after-end", "send-after-end", "sessionend-once"] {
        assert!(names.iter().any(|n| n == expected), "{expected} never reported: {names:?}");
    }
}

fn screenshot(app_dir: &Path, clicks: usize, out: &Path) {
    let daemon = Daemon::start();
    let mut extra = vec!["--screenshot".to_string(), out.display().to_string()];
    for _ in 0..clicks {
        extra.push("--eval".into());
        extra.push("document.getElementById('inc').click()".into());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let session = daemon.launch_ui(app_dir, &shell_command(&extra));
    let id = session["session_id"].as_str().expect("id").to_owned();
    let status = daemon.wait_for_status(&id, "the screenshot run to end", |s| s["state"] == "ended");
    assert_eq!(status["end"]["reason"], "app-closed", "{status:#}\n{}", daemon.log());
    wait_gone(session["ui_pid"].as_u64().expect("ui pid") as u32, "weft-shell");
    let log = daemon.log();
    assert!(!log.contains("ERROR"), "an error was logged on a clean run:\n{log}");
}

#[test]
fn headless_screenshot_shows_the_count_computed_by_the_core() {
    let counter = repo_root().join("examples/counter");
    let manifest = std::fs::read_to_string(counter.join("weft.toml")).expect("manifest");
    let html = std::fs::read_to_string(counter.join("ui/index.html")).expect("page");

    // The real counter, clicked three times: the page shows what the Wasm core computed.
    let real = app(&manifest, &example_core("counter"));
    std::fs::copy(counter.join("ui/index.html"), real.path().join("ui/index.html")).expect("ui");
    let shot = real.path().join("counter.png");
    screenshot(real.path(), 3, &shot);

    // A reference: the same page with a static "3" and no script.
    let reference = app(&manifest, &example_core("counter"));
    let script_start = html.find("<script>").expect("script");
    let static_html = html[..script_start].replace("<p id=\"value\">…</p>", "<p id=\"value\">3</p>");
    assert_ne!(static_html, html[..script_start], "the counter page changed shape");
    std::fs::write(reference.path().join("ui/index.html"), static_html).expect("reference ui");
    let reference_shot = reference.path().join("reference.png");
    screenshot(reference.path(), 0, &reference_shot);

    let a = image::open(&shot).expect("screenshot").to_rgba8();
    let b = image::open(&reference_shot).expect("reference").to_rgba8();
    assert_eq!(a.dimensions(), b.dimensions());
    let differing = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
    assert_eq!(differing, 0, "the counter screenshot differs from a page showing 3 in {differing} pixels");
}

#[test]
fn a_killed_core_reaches_the_page_as_core_crashed() {
    let results = run_page_with(ECHO_MANIFEST, "echo", "crash.html", &[], |daemon, session| {
        let id = session["session_id"].as_str().expect("id");
        daemon.wait_for_status(id, "the page's first event", |s| s["stats"]["ui_events_admitted"] == 1);
        kill9(session["core_pid"].as_u64().expect("core pid") as u32);
    });
    assert!(names(&results).iter().any(|n| n == "sessionend-core-crashed"), "{results:?}");
}

#[test]
fn the_shell_exiting_ends_the_session_and_the_core() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    std::fs::copy(repo_root().join("tests/shell/idle.html"), app.path().join("ui/index.html")).expect("page");
    let session = daemon.launch_ui(app.path(), &shell_command(&["--until-console", "never"]));
    let id = session["session_id"].as_str().expect("id").to_owned();
    daemon.wait_for_status(&id, "the page's event", |s| s["stats"]["ui_events_admitted"] == 1);
    kill9(session["ui_pid"].as_u64().expect("ui pid") as u32);
    wait_gone(session["core_pid"].as_u64().expect("core pid") as u32, "the core after the shell died");
    let status = daemon.wait_for_status(&id, "the end", |s| s["state"] == "ended");
    assert_eq!(status["end"]["reason"], "ui-lost");
}

/// A private X server for a windowed test; killed on drop.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        use std::io::BufRead;
        let mut child = std::process::Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb (installed by scripts/setup)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("display number");
        Xvfb { child, display: format!(":{}", line.trim()) }
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .expect("xdotool (installed by scripts/setup)");
        assert!(out.status.success(), "xdotool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_window_forwards_real_mouse_clicks_to_the_page() {
    let x = Xvfb::start();
    // The daemon passes its environment to the shell: give it the private display.
    let daemon = Daemon::start_with_env(&[("DISPLAY", &x.display), ("LIBGL_ALWAYS_SOFTWARE", "1")]);
    let counter = repo_root().join("examples/counter");
    let manifest = std::fs::read_to_string(counter.join("weft.toml")).expect("manifest");
    let app = app(&manifest, &example_core("counter"));
    std::fs::copy(counter.join("ui/index.html"), app.path().join("ui/index.html")).expect("ui");
    let session = daemon.launch_ui(app.path(), &[bin("weft-shell").display().to_string()]);
    let id = session["session_id"].as_str().expect("id").to_owned();
    let window = x.xdotool(&["search", "--sync", "--name", "counter \\(WEFT\\)"]);
    let window = window.lines().next().expect("the window").to_owned();
    // The page draws the core's first count, then the +1 button sits at (341, 344) in 800x600.
    daemon.wait_for_status(&id, "the first count delivered", |s| s["stats"]["state_updates_delivered"] == 1);
    for _ in 0..3 {
        x.xdotool(&["mousemove", "--window", &window, "341", "344", "click", "1"]);
    }
    // Each click is a UI event the core handled; its answers are keyed by `count`, so clicks
    // that reach the core together may be coalesced into one update (at least one follows).
    daemon.wait_for_status(&id, "three clicks as three UI events", |s| {
        s["stats"]["ui_events_confirmed"] == 3 && s["stats"]["state_updates_delivered"].as_u64() >= Some(2)
    });
    // The display was connected before the shell confined itself: every thread is confined.
    let ui_pid = session["ui_pid"].as_u64().expect("ui pid") as u32;
    for task in std::fs::read_dir(format!("/proc/{ui_pid}/task")).expect("tasks").flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).expect("status");
        assert!(status.contains("NoNewPrivs:\t1") && status.contains("Seccomp:\t2"), "{status}");
    }
    kill9(ui_pid);
    let status = daemon.wait_for_status(&id, "the end", |s| s["state"] == "ended");
    assert_eq!(status["end"]["reason"], "ui-lost");
}

/// No secret in any log at any level: a session of the real shell with every target at
/// `trace` (Servo's internals included) never prints the UI endpoint's bootstrap secret,
/// and the native carrier makes no channel token at all.
#[test]
fn no_secret_appears_in_the_logs_at_trace_level() {
    let daemon = Daemon::start_with_env(&[("WEFT_LOG", "trace")]);
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    // One round trip: Servo at trace level writes a great deal per operation.
    let page = r#"<!doctype html><script>
      weft.channel.addEventListener("message", (e) => {
        const ok = e.data.payload.secretless === true;
        console.log("WEFT-RESULT " + JSON.stringify({ name: "round-trip", ok }));
        console.log("WEFT-DONE");
      });
      weft.channel.send("echo", { secretless: true });
    </script>"#;
    std::fs::write(app.path().join("ui/index.html"), page).expect("page");
    let (report, bootstrap) = (app.path().join("report.jsonl"), app.path().join("bootstrap.json"));
    // A wrapper that keeps a copy of the bootstrap line the shell reads on stdin.
    let shell = shell_command(&["--report", &report.display().to_string(), "--until-console", "WEFT-DONE"]);
    let quoted: Vec<String> = shell.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
    let wrapper = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("tee '{}' | exec {} \"$@\"", bootstrap.display(), quoted.join(" ")),
        "sh".to_owned(),
    ];
    let session = daemon.launch_ui(app.path(), &wrapper);
    let id = session["session_id"].as_str().expect("id").to_owned();
    daemon.wait_for_status(&id, "the page to finish", |s| s["state"] == "ended");
    wait_gone(session["ui_pid"].as_u64().expect("ui pid") as u32, "weft-shell");
    let line = std::fs::read_to_string(&bootstrap).expect("the bootstrap copy");
    let bootstrap: serde_json::Value = serde_json::from_str(line.trim()).expect("bootstrap JSON");
    let secret = bootstrap["secret"].as_str().expect("the UI's secret");
    assert!(secret.len() >= 32, "{bootstrap}");
    let log = daemon.log();
    assert!(log.contains("TRACE"), "the log is at trace level");
    assert!(!log.contains(secret), "the UI's bootstrap secret is in the log");
    let results = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(results.contains(r#""ok":true"#) && !results.contains(r#""ok":false"#), "{results}");
}
