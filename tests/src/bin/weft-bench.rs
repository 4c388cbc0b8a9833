//! `weft-bench`: the channel benchmarks, side by side in one run and one process tree.
//!
//! Paths (each at 64 B, 1 KiB and 16 KiB JSON payloads: p50/p99/max of sequential round trips
//! with one message in flight, in three passes over the sizes, then pipelined throughput with as
//! many in flight as allowed):
//! - `ipc-floor`: raw `ipc-channel` over the real path's hops (UI → relay → echo → relay → UI),
//!   the same batch framing, no validation, no Wasm. Window: 64 (the credit window).
//! - `broker`: the real `weft-appd` broker and `weft-core-host` with the echo core, driven by a
//!   UI endpoint on the shared `ui_client` code (this binary, role `ui`). Window: the credit.
//! - `servo`: the full path measured by page JS in the real headless shell
//!   (`tests/shell/bench.html`), `weft.channel` on the native carrier (Servo's page channel
//!   embedder API). Window: the credit (`desiredSize`).
//! - `websocket-servo`: the same measuring code (`tests/shell/bench-common.js`) in headless
//!   Servo over a WebSocket to a native echo server on loopback (`weft-shell --bench-page`, a
//!   bench-only mode with no session). Window: 64.
//! - `websocket-chromium`: the same page in Debian's headless `chromium`, if installed.
//!
//! Then: resident memory of appd, core host and shell (idle, and peak under the servo run);
//! cold launch (command → first frame painted after the first state update) with and without
//! the precompiled-module cache; core compile/load and instantiation times.
//!
//! Output: a table on stdout, `$CARGO_TARGET_DIR/bench/channel.json` and `channel.svg` (or
//! `--out DIR`). Roles (first argument) re-execute this binary: `floor-relay`, `floor-echo`, `ui`.

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use weft_ipc::frames::BrokerToUi;
use weft_ipc::transport::{Bootstrap, Inbound};
use weft_ipc::ui_client::{UiConnection, UiNotice};

/// Payload sizes (bytes of JSON text).
const SIZES: [usize; 3] = [64, 1024, 16 * 1024];
/// In flight for the paths without credits (floor, WebSocket): the credit window.
const WINDOW: usize = 64;

/// One path at one payload size.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Row {
    #[serde(default)]
    path: String,
    payload_bytes: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    msgs_per_s: f64,
    rounds: usize,
}

/// How hard each path is driven.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Plan {
    warmup: usize,
    rounds: usize,
    seconds: f64,
}

#[derive(Serialize, Deserialize, Debug, Default, Clone)]
struct Memory {
    process: String,
    idle_rss_kib: u64,
    load_peak_rss_kib: u64,
}

/// The confinement's cost: each pair is (confined, unconfined).
#[derive(Serialize, Deserialize, Debug, Default)]
struct ConfinementCost {
    cold_launch_ms_confined: Vec<f64>,
    cold_launch_ms_unconfined: Vec<f64>,
    cold_launch_p50_ms: [f64; 2],
    /// Sequential round-trip p50 at 64 B, broker path.
    broker_p50_us_64: [f64; 2],
    /// Sequential round-trip p50 at 64 B, servo path (the page's figure).
    servo_p50_us_64: [f64; 2],
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct Startup {
    cold_launch_ms_cached: Vec<f64>,
    cold_launch_ms_uncached: Vec<f64>,
    cold_launch_p50_ms_cached: f64,
    cold_launch_p50_ms_uncached: f64,
    core_compile_ms: f64,
    core_cache_load_ms: f64,
    core_instantiate_ms: f64,
}

#[derive(Serialize, Deserialize, Debug)]
struct Report {
    when_unix: u64,
    machine: serde_json::Value,
    plan: Plan,
    rows: Vec<Row>,
    skipped: Vec<String>,
    memory: Vec<Memory>,
    startup: Startup,
    /// The confinement's cost (`--only confinement`, or a full run).
    #[serde(default)]
    confinement: ConfinementCost,
    /// Where the servo path's lone round trips spend their time inside the shell
    /// (`weft-shell --probe`), per payload size; the page's share is the rest.
    #[serde(default)]
    servo_breakdown: Vec<Breakdown>,
    /// In the servo page: p50 of a fetch() round trip for a tiny data: URL (the cost of one
    /// Servo load, which every post of the earlier `weft://` transport paid).
    servo_page_fetch_p50_us: f64,
}

/// The servo path's round trip split at the shell (medians, µs; see
/// `weft_servo_embedding::probe`): `up` the page's send handed to the bridge → written to
/// appd, `broker` appd, the core host and four IPC hops, `hop` the shell's reader thread
/// handling the echo, `down` the delivery queued for the page's script thread; `shell` the
/// median of their sum per sample; `page` = the page's p50 round trip − `shell`: the page
/// channel's JavaScript-facing work and Servo's script thread waking for the delivery.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Breakdown {
    payload_bytes: usize,
    samples: usize,
    up_us: f64,
    broker_us: f64,
    hop_us: f64,
    down_us: f64,
    shell_us: f64,
    #[serde(default)]
    page_us: f64,
}

type Batch = Vec<Vec<u8>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("floor-relay") => floor_relay(&args[2]),
        Some("floor-echo") => floor_echo(&args[2]),
        Some("ui") => ui_role(&args),
        Some("--replot") => replot(&args),
        Some("--help" | "-h") => println!("{USAGE}"),
        Some(unknown) if unknown.starts_with('-') && !KNOWN_FLAGS.contains(&unknown) => {
            eprintln!("weft-bench: unknown option {unknown}\n{USAGE}");
            std::process::exit(2);
        }
        _ => driver(&args),
    }
}

/// What `--help` prints.
const USAGE: &str = "usage: weft-bench [--only PATH,...] [--warmup N] [--rounds N] [--seconds S] [--out DIR]
       weft-bench --replot channel.json out.svg
paths: ipc-floor, broker, servo, websocket-servo, websocket-chromium, startup, confinement
writes DIR/channel.json and DIR/channel.svg (default $CARGO_TARGET_DIR/bench); docs/performance.md";

/// Options the driver takes (the first argument is checked against them).
const KNOWN_FLAGS: &[&str] = &["--only", "--warmup", "--rounds", "--seconds", "--out"];

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn repo() -> PathBuf {
    weft_tests::harness::repo_root()
}

/// JSON text of exactly `size` bytes (for size ≥ 16): `{"i":0,"pad":"xxx…"}`.
fn payload(size: usize) -> String {
    format!(r#"{{"i":0,"pad":"{}"}}"#, "x".repeat(size.saturating_sub(16)))
}

fn driver(args: &[String]) {
    let plan = Plan {
        warmup: flag(args, "--warmup", 300),
        rounds: flag(args, "--rounds", 3000),
        seconds: flag(args, "--seconds", 3.0),
    };
    let only: Option<String> = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let wants = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == name));
    let exe = std::env::current_exe().expect("own path");
    let bin_dir = exe.parent().expect("bin dir").to_path_buf();
    let out_dir = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| bin_dir.parent().expect("target dir").join("bench"));
    std::fs::create_dir_all(&out_dir).expect("output directory");
    eprintln!(
        "weft-bench: per path and payload, {} warm-up + {} sequential round trips, then {} s pipelined",
        plan.warmup, plan.rounds, plan.seconds
    );
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut memory = Vec::new();
    let mut servo_page_fetch_p50_us = f64::NAN;
    let mut servo_breakdown = Vec::new();
    let mut add = |path: &str, mut found: Vec<Row>| {
        for r in &mut found {
            r.path = path.to_owned();
        }
        rows.extend(found);
    };
    if wants("ipc-floor") {
        eprintln!("== ipc-floor");
        add("ipc-floor", floor(&exe, plan));
    }
    if wants("broker") {
        eprintln!("== broker");
        add("broker", broker_path(&exe, &bin_dir, plan, true));
    }
    if wants("servo") {
        eprintln!("== servo");
        let ServoRun { rows: found, peaks, fetch_us, mut breakdown } = servo_path(&bin_dir, plan, true);
        servo_page_fetch_p50_us = fetch_us;
        for b in &mut breakdown {
            let page_p50 = found.iter().find(|r| r.payload_bytes == b.payload_bytes).map_or(f64::NAN, |r| r.p50_us);
            b.page_us = page_p50 - b.shell_us;
        }
        if breakdown.is_empty() {
            skipped.push("servo breakdown: the shell wrote no probe figures".into());
        }
        servo_breakdown = breakdown;
        add("servo", found);
        let idle = idle_memory(&bin_dir);
        for (process, idle_rss_kib) in idle {
            let load_peak_rss_kib = peaks.iter().find(|(p, _)| *p == process).map_or(0, |(_, k)| *k);
            memory.push(Memory { process, idle_rss_kib, load_peak_rss_kib });
        }
    }
    if wants("websocket-servo") {
        eprintln!("== websocket-servo");
        match websocket_path(plan, |page| {
            Command::new(bin_dir.join("weft-shell"))
                .arg("--bench-page")
                .arg(page)
                .args(["--until-console", "WEFT-DONE", "--timeout", "600"])
                .env("WEFT_LOG", "error")
                .stdout(Stdio::null())
                .process_group(0)
                .spawn()
        }) {
            Ok(found) => add("websocket-servo", found),
            Err(e) => skipped.push(format!("websocket-servo: {e}")),
        }
    }
    if wants("websocket-chromium") {
        eprintln!("== websocket-chromium");
        match which("chromium") {
            Some(chromium) => {
                let profile = tempfile::tempdir().expect("tempdir");
                match websocket_path(plan, |page| {
                    Command::new(&chromium)
                        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio"])
                        .arg(format!("--user-data-dir={}", profile.path().display()))
                        .arg(format!("file://{}", page.display()))
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .process_group(0)
                        .spawn()
                }) {
                    Ok(found) => add("websocket-chromium", found),
                    Err(e) => skipped.push(format!("websocket-chromium: {e}")),
                }
            }
            None => skipped.push("websocket-chromium: chromium is not installed (scripts/bench installs it)".into()),
        }
    }
    let mut startup = Startup::default();
    if wants("startup") {
        eprintln!("== startup");
        startup = startup_figures(&bin_dir);
    }
    let mut confinement = ConfinementCost::default();
    if wants("confinement") {
        eprintln!("== confinement");
        confinement = confinement_figures(&exe, &bin_dir, plan);
    }
    let report = Report {
        when_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        machine: machine(),
        plan,
        rows,
        skipped,
        memory,
        startup,
        confinement,
        servo_breakdown,
        servo_page_fetch_p50_us,
    };
    print_table(&report);
    let json = out_dir.join("channel.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report).expect("json") + "\n").expect("channel.json");
    let svg = out_dir.join("channel.svg");
    std::fs::write(&svg, chart(&report)).expect("channel.svg");
    println!("\nwrote {} and {}", json.display(), svg.display());
}

/// `weft-bench --replot channel.json out.svg`: the chart of an earlier run.
fn replot(args: &[String]) {
    let (Some(input), Some(output)) = (args.get(2), args.get(3)) else {
        eprintln!("usage: weft-bench --replot channel.json out.svg");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    let report: Report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{input}: {e}"));
    std::fs::write(output, chart(&report)).unwrap_or_else(|e| panic!("{output}: {e}"));
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    serde_json::json!({ "cpu": cpu, "cores": cores, "loadavg": read("/proc/loadavg").trim() })
}

fn summarize(payload_bytes: usize, mut samples: Vec<Duration>, msgs_per_s: f64) -> Row {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    Row {
        path: String::new(),
        payload_bytes,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
        msgs_per_s,
        rounds: samples.len(),
    }
}

/// Passes over the payload sizes in the sequential phase.
const PASSES: usize = 3;

/// The sequential phase of one path, for every size: `plan.warmup` round trips per size, then
/// [`PASSES`] passes over the sizes of `plan.rounds / PASSES` round trips each, so that a busy
/// spell of the (shared, noisy) host spreads over every size instead of landing on one.
/// `round_trip(i)` makes one round trip of size `SIZES[i]` and returns how long it took; the
/// result holds each size's samples.
fn sequential(plan: Plan, mut round_trip: impl FnMut(usize) -> Duration) -> Vec<Vec<Duration>> {
    for i in 0..SIZES.len() {
        for _ in 0..plan.warmup {
            round_trip(i);
        }
    }
    let per_pass = plan.rounds.div_ceil(PASSES);
    let mut samples: Vec<Vec<Duration>> = SIZES.iter().map(|_| Vec::with_capacity(per_pass * PASSES)).collect();
    for _ in 0..PASSES {
        for (i, size_samples) in samples.iter_mut().enumerate() {
            for _ in 0..per_pass {
                size_samples.push(round_trip(i));
            }
        }
    }
    samples
}

// ---------------------------------------------------------------------------------------------
// ipc-floor

fn floor(exe: &Path, plan: Plan) -> Vec<Row> {
    let (server, name) = IpcOneShotServer::<Batch>::new().expect("server");
    let mut relay = Command::new(exe).args(["floor-relay", &name]).stdin(Stdio::null()).spawn().expect("relay");
    let (from_relay, first) = server.accept().expect("relay connects");
    let to_relay: IpcSender<Batch> = connect_back(first);
    let msgs: Vec<Vec<u8>> = SIZES.iter().map(|&size| payload(size).into_bytes()).collect();
    let samples = sequential(plan, |i| {
        let t = Instant::now();
        to_relay.send(vec![msgs[i].clone()]).expect("send");
        from_relay.recv().expect("recv");
        t.elapsed()
    });
    let mut rows = Vec::new();
    for ((size, msg), samples) in SIZES.into_iter().zip(&msgs).zip(samples) {
        let rate = pipelined(
            plan.seconds,
            |n| to_relay.send(vec![msg.clone(); n]).is_ok(),
            || from_relay.recv().map(|b| b.len()).unwrap_or(0),
        );
        rows.push(summarize(size, samples, rate));
    }
    drop(to_relay);
    let _ = relay.wait();
    rows
}

/// The first batch a connecting floor process sends carries the name of its own server.
fn connect_back(first: Batch) -> IpcSender<Batch> {
    let name = String::from_utf8(first.into_iter().next().expect("name")).expect("utf8");
    let sender = IpcSender::connect(name).expect("connect back");
    // A one-shot server's accept consumes the first message: make it an empty hello.
    sender.send(Vec::new()).expect("hello");
    sender
}

fn connect_pair(parent: &str) -> (IpcSender<Batch>, IpcReceiver<Batch>) {
    let (server, name) = IpcOneShotServer::<Batch>::new().expect("server");
    let to_parent: IpcSender<Batch> = IpcSender::connect(parent.to_owned()).expect("connect");
    to_parent.send(vec![name.into_bytes()]).expect("hello");
    let (from_parent, _) = server.accept().expect("accept");
    (to_parent, from_parent)
}

fn floor_relay(parent: &str) {
    let (to_ui, from_ui) = connect_pair(parent);
    let exe = std::env::current_exe().expect("own path");
    let (server, name) = IpcOneShotServer::<Batch>::new().expect("server");
    let mut echo = Command::new(exe).args(["floor-echo", &name]).spawn().expect("echo");
    let (from_echo, first) = server.accept().expect("echo connects");
    let to_echo = connect_back(first);
    // Two directions, two threads, as the broker has a reader per endpoint.
    let back = std::thread::spawn(move || {
        while let Ok(batch) = from_echo.recv() {
            if to_ui.send(batch).is_err() {
                return;
            }
        }
    });
    while let Ok(batch) = from_ui.recv() {
        if to_echo.send(batch).is_err() {
            break;
        }
    }
    drop(to_echo);
    let _ = back.join();
    let _ = echo.wait();
}

fn floor_echo(parent: &str) {
    let (to_relay, from_relay) = connect_pair(parent);
    while let Ok(batch) = from_relay.recv() {
        if to_relay.send(batch).is_err() {
            return;
        }
    }
}

/// Keeps up to [`WINDOW`] messages in flight for `seconds`; returns messages per second.
fn pipelined(seconds: f64, mut send: impl FnMut(usize) -> bool, mut recv: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut in_flight = 0;
    let mut done = 0usize;
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        if in_flight < WINDOW {
            let n = WINDOW - in_flight;
            if !send(n) {
                break;
            }
            in_flight += n;
        }
        let got = recv();
        in_flight -= got.min(in_flight);
        done += got;
    }
    while in_flight > 0 {
        let got = recv();
        if got == 0 {
            break;
        }
        in_flight -= got.min(in_flight);
        done += got;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// broker

/// The real broker and core: `weft-appd serve`, a session of the echo app whose UI endpoint is
/// this binary's `ui` role (which measures and reports over a Unix socket).
fn broker_path(exe: &Path, bin_dir: &Path, plan: Plan, confined: bool) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = dir.path().join("run");
    let mut appd = Command::new(bin_dir.join("weft-appd"))
        .arg("--runtime-dir")
        .arg(&runtime)
        .arg("serve")
        .env("WEFT_LOG", "warn")
        .env(weft_confine::OPT_OUT, if confined { "0" } else { "1" })
        .stdout(Stdio::piped())
        .spawn()
        .expect("weft-appd");
    let mut ready = String::new();
    BufReader::new(appd.stdout.take().expect("stdout")).read_line(&mut ready).expect("ready line");
    let report_path = dir.path().join("report.sock");
    let listener = UnixListener::bind(&report_path).expect("report socket");
    let request = serde_json::json!({
        "op": "launch",
        "app_dir": repo().join("examples/echo"),
        "ui_command": [exe, "ui", "--report", report_path, "--plan", serde_json::to_string(&plan).expect("plan")],
    });
    let mut control = UnixStream::connect(runtime.join("appd.sock")).expect("control socket");
    writeln!(control, "{request}").expect("launch");
    let mut answer = String::new();
    BufReader::new(control).read_line(&mut answer).expect("launch answer");
    assert!(answer.contains("\"ok\":true"), "launch failed: {answer}");
    let (report, _) = listener.accept().expect("UI reports");
    let mut line = String::new();
    BufReader::new(report).read_line(&mut line).expect("figures");
    let _ = appd.kill();
    let _ = appd.wait();
    serde_json::from_str(&line).expect("figures JSON")
}

fn ui_role(args: &[String]) {
    let report_path =
        args.iter().position(|a| a == "--report").and_then(|i| args.get(i + 1)).expect("--report").clone();
    let plan: Plan = args
        .iter()
        .position(|a| a == "--plan")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| serde_json::from_str(p).ok())
        .expect("--plan");
    let bootstrap = Bootstrap::read_from(std::io::stdin().lock()).expect("bootstrap");
    let (tx, frames) = mpsc::sync_channel::<Inbound<BrokerToUi>>(8192);
    let mut conn = UiConnection::connect(&bootstrap, Duration::from_secs(10), move |item| tx.send(item).is_ok())
        .expect("join session");

    // Handles what the broker sent (waiting for at least one frame); returns the state updates.
    let pump_once = |conn: &mut UiConnection| -> usize {
        let mut got = 0;
        {
            let Ok(Inbound::Frame(frame)) = frames.recv() else { panic!("session lost") };
            let mut batch = vec![frame];
            while let Ok(Inbound::Frame(f)) = frames.try_recv() {
                batch.push(f);
            }
            let mut out = Vec::new();
            let mut notices = Vec::new();
            for frame in batch {
                conn.channel.on_frame(frame, &mut out, &mut notices);
            }
            let mut consumed = (0u32, 0u64);
            for n in &notices {
                match n {
                    UiNotice::Message(e) => {
                        consumed.0 += 1;
                        consumed.1 += e.size() as u64;
                        got += 1;
                    }
                    UiNotice::SessionEnd(end) => panic!("session ended: {end:?}"),
                    UiNotice::Rejected(_, r) => panic!("rejected: {r}"),
                    _ => {}
                }
            }
            if consumed.0 > 0 {
                conn.channel.consumed(consumed.0, consumed.1, &mut out);
            }
            conn.transmit(out, &mut notices);
        }
        got
    };
    let pump = |conn: &mut UiConnection| -> usize {
        loop {
            let got = pump_once(conn);
            if got > 0 {
                return got;
            }
        }
    };
    let send = |conn: &mut UiConnection, text: &str| {
        let mut out = Vec::new();
        let mut notices = Vec::new();
        conn.channel.send("echo", text.to_owned(), &mut out).expect("send");
        conn.transmit(out, &mut notices);
    };

    let texts: Vec<String> = SIZES.iter().map(|&size| payload(size)).collect();
    let samples = sequential(plan, |i| {
        let t = Instant::now();
        send(&mut conn, &texts[i]);
        pump(&mut conn);
        t.elapsed()
    });
    let mut rows = Vec::new();
    for ((size, text), samples) in SIZES.into_iter().zip(texts).zip(samples) {
        // As many in flight as the credit allows (sends beyond it would wait in the UI).
        let start = Instant::now();
        let (mut sent, mut done) = (0usize, 0usize);
        while start.elapsed() < Duration::from_secs_f64(plan.seconds) {
            // Sends issued together leave together, as the shell transmits a page's post.
            let mut out = Vec::new();
            while conn.channel.desired_size() > 0 {
                conn.channel.send("echo", text.clone(), &mut out).expect("send");
                sent += 1;
            }
            conn.transmit(out, &mut Vec::new());
            // Not `pump`: the credit may come back after the last echo, in a frame of its own.
            done += pump_once(&mut conn);
        }
        while done < sent {
            done += pump(&mut conn);
        }
        rows.push(summarize(size, samples, done as f64 / start.elapsed().as_secs_f64()));
    }
    let mut report = UnixStream::connect(report_path).expect("report socket");
    writeln!(report, "{}", serde_json::to_string(&rows).expect("json")).expect("report");
    let mut out = Vec::new();
    let mut notices = Vec::new();
    conn.channel.close(&mut out);
    conn.transmit(out, &mut notices);
}

// ---------------------------------------------------------------------------------------------
// servo

/// A bench page's files in `ui`: the page, the shared measuring code and the plan.
fn write_page(ui: &Path, page: &str, extra: serde_json::Value, plan: Plan) {
    std::fs::create_dir_all(ui).expect("ui dir");
    std::fs::copy(repo().join("tests/shell").join(page), ui.join("index.html")).expect("page");
    std::fs::copy(repo().join("tests/shell/bench-common.js"), ui.join("bench-common.js")).expect("bench-common.js");
    let mut config = serde_json::json!({
        "sizes": SIZES, "warmup": plan.warmup, "rounds": plan.rounds, "seconds": plan.seconds, "window": WINDOW,
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    std::fs::write(ui.join("bench-config.js"), format!("window.BENCH = {config};\n")).expect("config");
}

/// An echo app in `dir/app` whose page is `page`.
fn echo_app(dir: &Path, page: &str, plan: Plan) -> PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).expect("app dir");
    std::fs::copy(repo().join("examples/echo/weft.toml"), app.join("weft.toml")).expect("manifest");
    std::fs::copy(repo().join("examples/echo/core.wasm"), app.join("core.wasm"))
        .expect("core (run scripts/build-cores)");
    write_page(&app.join("ui"), page, serde_json::json!({}), plan);
    app
}

/// Runs `app` in the headless shell under `weft-appd run` (in `dir`) until its page logs
/// `WEFT-DONE` or `timeout_s` passes; returns the process and the page's `--report` file.
/// `shell_args` go to the shell too.
fn run_session(
    bin_dir: &Path,
    dir: &Path,
    app: &Path,
    timeout_s: u64,
    shell_args: &[&std::ffi::OsStr],
    confined: bool,
) -> (std::process::Child, PathBuf) {
    let report = dir.join("report.jsonl");
    let child = Command::new(bin_dir.join("weft-appd"))
        .arg("--runtime-dir")
        .arg(dir.join("run"))
        .arg("run")
        .arg(app)
        .arg("--ui-command")
        .arg(bin_dir.join("weft-shell"))
        .args(["--headless", "--until-console", "WEFT-DONE", "--timeout"])
        .arg(timeout_s.to_string())
        .arg("--report")
        .arg(&report)
        .args(shell_args)
        .env("WEFT_LOG", "error")
        .env(weft_confine::OPT_OUT, if confined { "0" } else { "1" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("weft-appd run");
    (child, report)
}

/// What one run of the servo path yields.
struct ServoRun {
    rows: Vec<Row>,
    /// Each process's peak RSS (KiB) during the run.
    peaks: Vec<(String, u64)>,
    /// The page's fetch() figure (µs).
    fetch_us: f64,
    /// The shell's split of the lone round trips (`page_us` not yet filled in).
    breakdown: Vec<Breakdown>,
}

/// The full path: the benchmark page on the app's `weft.channel`, in the real shell.
fn servo_path(bin_dir: &Path, plan: Plan, confined: bool) -> ServoRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = echo_app(dir.path(), "bench.html", plan);
    let probe = dir.path().join("probe.json");
    let (mut child, report) =
        run_session(bin_dir, dir.path(), &app, 900, &["--probe".as_ref(), probe.as_os_str()], confined);
    let mut peaks: Vec<(String, u64)> = Vec::new();
    loop {
        for (name, kib) in session_rss(child.id()) {
            match peaks.iter_mut().find(|(n, _)| *n == name) {
                Some((_, peak)) => *peak = (*peak).max(kib),
                None => peaks.push((name, kib)),
            }
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = std::fs::read_to_string(&report).unwrap_or_default();
    let fetch_us = line
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["fetch_p50_us"].as_f64())
        .unwrap_or(f64::NAN);
    let breakdown = std::fs::read_to_string(&probe)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| serde_json::from_value::<Vec<Breakdown>>(v["rows"].clone()).ok())
        .unwrap_or_default();
    let rows = page_rows(&line).unwrap_or_else(|e| panic!("servo path: {e}: {line:?}"));
    ServoRun { rows, peaks, fetch_us, breakdown }
}

fn page_rows(text: &str) -> Result<Vec<Row>, String> {
    #[derive(Deserialize)]
    struct PageReport {
        rows: Option<Vec<Row>>,
        error: Option<String>,
    }
    let line = text.lines().find(|l| l.contains("\"rows\"") || l.contains("\"error\"")).ok_or("no report")?;
    let report: PageReport = serde_json::from_str(line).map_err(|e| e.to_string())?;
    match (report.rows, report.error) {
        (Some(rows), None) => Ok(rows),
        (_, e) => Err(e.unwrap_or_else(|| "no rows".into())),
    }
}

/// RSS (KiB) of a `weft-appd run` tree: appd, the core host, the shell (with any descendants).
fn session_rss(appd: u32) -> Vec<(String, u64)> {
    let mut out = vec![("weft-appd".to_owned(), rss_kib(appd))];
    for child in children(appd) {
        let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
        let name = if comm.starts_with("weft-core-host") {
            "weft-core-host"
        } else if comm.starts_with("weft-shell") {
            "weft-shell"
        } else {
            continue;
        };
        let mut kib = rss_kib(child);
        for d in descendants(child) {
            kib += rss_kib(d);
        }
        out.push((name.to_owned(), kib));
    }
    out
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn descendants(pid: u32) -> Vec<u32> {
    let mut out = children(pid);
    let mut i = 0;
    while i < out.len() {
        let more = children(out[i]);
        out.extend(more);
        i += 1;
    }
    out
}

/// RSS of each process of an echo session whose page sits idle.
fn idle_memory(bin_dir: &Path) -> Vec<(String, u64)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path().join("app");
    std::fs::create_dir_all(app.join("ui")).expect("app dir");
    std::fs::copy(repo().join("examples/echo/weft.toml"), app.join("weft.toml")).expect("manifest");
    std::fs::copy(repo().join("examples/echo/core.wasm"), app.join("core.wasm")).expect("core");
    std::fs::write(
        app.join("ui/index.html"),
        r#"<!doctype html><meta charset="utf-8"><p>idle</p><script>
weft.channel.ready.then(() => weft.channel.send("echo", {})).then(() => {
  console.log("WEFT-RESULT {\"idle\":true}");
  setTimeout(() => console.log("WEFT-DONE"), 4000);
});</script>"#,
    )
    .expect("page");
    let (mut child, report) = run_session(bin_dir, dir.path(), &app, 60, &[], true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&report).unwrap_or_default().contains("idle") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Settled: the page loaded, one message went round; sample a few times and keep the median.
    std::thread::sleep(Duration::from_millis(1500));
    let mut samples: Vec<Vec<(String, u64)>> = Vec::new();
    for _ in 0..5 {
        samples.push(session_rss(child.id()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.wait();
    let mut out = Vec::new();
    for name in ["weft-appd", "weft-core-host", "weft-shell"] {
        let mut v: Vec<u64> =
            samples.iter().filter_map(|s| s.iter().find(|(n, _)| n == name).map(|(_, k)| *k)).collect();
        v.sort();
        out.push((name.to_owned(), v.get(v.len() / 2).copied().unwrap_or(0)));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// websocket-servo, websocket-chromium

/// The WebSocket page in a browser started by `start` (given the page's path), talking to a
/// native echo server on loopback; the page reports its rows over the socket.
fn websocket_path(
    plan: Plan,
    start: impl FnOnce(&Path) -> std::io::Result<std::process::Child>,
) -> Result<Vec<Row>, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let (report_tx, report_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let report_tx = report_tx.clone();
            std::thread::spawn(move || echo_socket(stream, report_tx));
        }
    });
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    write_page(dir.path(), "bench-ws.html", serde_json::json!({ "ws": format!("ws://127.0.0.1:{port}/") }), plan);
    let mut child = start(&dir.path().join("index.html")).map_err(|e| format!("cannot start the browser: {e}"))?;
    let budget = Duration::from_secs_f64(120.0 + 3.0 * (plan.seconds + 0.01 * plan.rounds as f64) * 3.0);
    let result = report_rx.recv_timeout(budget).map_err(|_| "no report from the page".to_owned());
    // The browser's whole process group (Chromium's helpers too).
    // SAFETY: kill(2) with a negative pid signals the group this code created (process_group(0)).
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
    #[derive(Deserialize)]
    struct Wrapped {
        report: serde_json::Value,
    }
    let text = result?;
    let wrapped: Wrapped = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    page_rows(&wrapped.report.to_string())
}

/// One WebSocket connection: text frames `{"type":"echo",…}` are sent back as they are (the
/// native peer does no more than WEFT's echo core); `{"report":…}` ends the run.
fn echo_socket(stream: std::net::TcpStream, report: mpsc::Sender<String>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tungstenite::accept(stream) else { return };
    while let Ok(message) = ws.read() {
        match message {
            tungstenite::Message::Text(text) => {
                if text.starts_with("{\"report\"") {
                    let _ = report.send(text.to_string());
                    return;
                }
                if ws.send(tungstenite::Message::Text(text)).is_err() {
                    return;
                }
            }
            tungstenite::Message::Close(_) => return,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// startup

fn startup_figures(bin_dir: &Path) -> Startup {
    let mut s = Startup::default();
    let counter = repo().join("examples/counter");
    let cache_dir = tempfile::tempdir().expect("tempdir");
    // One untimed launch fills the cache (and the OS page cache: "after build").
    let _ = cold_launch(bin_dir, &counter, Some(cache_dir.path()), true);
    for _ in 0..5 {
        if let Some(ms) = cold_launch(bin_dir, &counter, Some(cache_dir.path()), true) {
            s.cold_launch_ms_cached.push(ms);
        }
        if let Some(ms) = cold_launch(bin_dir, &counter, None, true) {
            s.cold_launch_ms_uncached.push(ms);
        }
    }
    s.cold_launch_p50_ms_cached = median(&s.cold_launch_ms_cached);
    s.cold_launch_p50_ms_uncached = median(&s.cold_launch_ms_uncached);
    let (compile, cached, instantiate) = core_times(&counter.join("core.wasm"));
    s.core_compile_ms = compile;
    s.core_cache_load_ms = cached;
    s.core_instantiate_ms = instantiate;
    s
}

/// The median of `v` (NaN when empty).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The cost of the OS confinement (`docs/security.md`): the same figures with the children
/// confined (the default) and with `WEFT_UNCONFINED=1`, side by side in this run. Cold launches
/// alternate between the two, so that the machine's drift hits both alike.
fn confinement_figures(exe: &Path, bin_dir: &Path, plan: Plan) -> ConfinementCost {
    let mut cost = ConfinementCost::default();
    let counter = repo().join("examples/counter");
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let _ = cold_launch(bin_dir, &counter, Some(cache_dir.path()), true);
    for _ in 0..7 {
        for confined in [true, false] {
            if let Some(ms) = cold_launch(bin_dir, &counter, Some(cache_dir.path()), confined) {
                let samples =
                    if confined { &mut cost.cold_launch_ms_confined } else { &mut cost.cold_launch_ms_unconfined };
                samples.push(ms);
            }
        }
    }
    cost.cold_launch_p50_ms = [median(&cost.cold_launch_ms_confined), median(&cost.cold_launch_ms_unconfined)];
    let p50_64 = |rows: &[Row]| rows.iter().find(|r| r.payload_bytes == SIZES[0]).map_or(f64::NAN, |r| r.p50_us);
    for (i, confined) in [true, false].into_iter().enumerate() {
        eprintln!("== confinement: broker, {}", if confined { "confined" } else { "unconfined" });
        cost.broker_p50_us_64[i] = p50_64(&broker_path(exe, bin_dir, plan, confined));
    }
    for (i, confined) in [true, false].into_iter().enumerate() {
        eprintln!("== confinement: servo, {}", if confined { "confined" } else { "unconfined" });
        cost.servo_p50_us_64[i] = p50_64(&servo_path(bin_dir, plan, confined).rows);
    }
    cost
}

/// `weft-appd run examples/counter` headless: from the command to the first frame painted
/// after the page took the core's first state update. `cache`: the module cache directory, or
/// `None` for no cache.
fn cold_launch(bin_dir: &Path, app: &Path, cache: Option<&Path>, confined: bool) -> Option<f64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let painted = dir.path().join("first-paint");
    let shot = dir.path().join("shot.png");
    let mut command = Command::new(bin_dir.join("weft-appd"));
    command
        .arg("--runtime-dir")
        .arg(dir.path().join("run"))
        .arg("run")
        .arg(app)
        .arg("--ui-command")
        .arg(bin_dir.join("weft-shell"))
        .args(["--headless", "--timeout", "60", "--first-paint"])
        .arg(&painted)
        .arg("--screenshot")
        .arg(&shot)
        .env("WEFT_LOG", "error")
        .env(weft_confine::OPT_OUT, if confined { "0" } else { "1" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match cache {
        Some(dir) => command.env("WEFT_MODULE_CACHE_DIR", dir),
        None => command.env("WEFT_MODULE_CACHE", "off"),
    };
    let start = std::time::SystemTime::now();
    let status = command.status().ok()?;
    let micros: u128 = std::fs::read_to_string(&painted).ok()?.trim().parse().ok()?;
    let start_micros = start.duration_since(std::time::UNIX_EPOCH).ok()?.as_micros();
    if !status.success() {
        eprintln!("cold launch: weft-appd exited with {status}");
    }
    Some((micros.saturating_sub(start_micros)) as f64 / 1000.0)
}

/// (compile, load from a warm cache, instantiate + init) in ms, medians of 5, in this process.
fn core_times(core: &Path) -> (f64, f64, f64) {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use weft_core_host::module_cache::ModuleCache;
    use weft_core_host::sandbox::{Sandbox, SandboxConfig};
    use weft_core_host::state_outbox::StateOutbox;
    let wasm = std::fs::read(core).expect("counter core");
    let config = SandboxConfig {
        limits: weft_ipc::frames::CoreLimits {
            max_memory_bytes: 64 << 20,
            event_deadline_ms: 5000,
            outbox_capacity: 256,
        },
        capabilities: Vec::new(),
    };
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let (mut compile, mut cached, mut instantiate) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let plain = Sandbox::new(config.clone()).expect("sandbox");
        let t = Instant::now();
        let loaded = plain.load(&wasm).expect("compile");
        compile.push(t.elapsed().as_secs_f64() * 1e3);
        let with_cache =
            Sandbox::new(config.clone()).expect("sandbox").with_module_cache(Some(ModuleCache::new(cache_dir.path())));
        let _ = with_cache.load(&wasm); // fills the cache on the first round
        let t = Instant::now();
        let _ = with_cache.load(&wasm).expect("cached");
        cached.push(t.elapsed().as_secs_f64() * 1e3);
        let outbox = StateOutbox::new(
            weft_ipc::envelope::SessionId("bench".into()),
            256,
            weft_ipc::credit::DEFAULT_WINDOW,
            65536,
        );
        let t = Instant::now();
        let mut instance = plain.instantiate(&loaded, outbox, Arc::new(AtomicBool::new(false))).expect("instantiate");
        let _ = instance.init();
        instantiate.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(compile), median(cached), median(instantiate))
}

// ---------------------------------------------------------------------------------------------
// output

const PATHS: [&str; 5] = ["ipc-floor", "broker", "servo", "websocket-servo", "websocket-chromium"];

fn print_table(r: &Report) {
    println!();
    println!("load average at the end: {}", r.machine["loadavg"].as_str().unwrap_or("?"));
    println!("{:<20} {:>7} {:>10} {:>10} {:>10} {:>12}", "path", "payload", "p50 µs", "p99 µs", "max µs", "msgs/s");
    for path in PATHS {
        for row in r.rows.iter().filter(|x| x.path == path) {
            println!(
                "{:<20} {:>7} {:>10.1} {:>10.1} {:>10.1} {:>12.0}",
                row.path, row.payload_bytes, row.p50_us, row.p99_us, row.max_us, row.msgs_per_s
            );
        }
    }
    for s in &r.skipped {
        println!("skipped: {s}");
    }
    let p50 =
        |path: &str, size: usize| r.rows.iter().find(|x| x.path == path && x.payload_bytes == size).map(|x| x.p50_us);
    if let (Some(b), Some(f)) = (p50("broker", 64), p50("ipc-floor", 64)) {
        println!("broker p50 / ipc-floor p50 (64 B): ×{:.2}", b / f);
    }
    if !r.memory.is_empty() {
        println!("\n{:<16} {:>12} {:>16}", "RSS", "idle MiB", "peak load MiB");
        for m in &r.memory {
            println!(
                "{:<16} {:>12.1} {:>16.1}",
                m.process,
                m.idle_rss_kib as f64 / 1024.0,
                m.load_peak_rss_kib as f64 / 1024.0
            );
        }
    }
    if !r.servo_breakdown.is_empty() {
        println!("\nservo path, split at the shell (medians of lone round trips, µs; page = servo p50 − shell):");
        println!(
            "{:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "payload", "samples", "page", "up", "broker", "hop", "down", "shell"
        );
        for b in &r.servo_breakdown {
            println!(
                "{:>7} {:>8} {:>8.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
                b.payload_bytes, b.samples, b.page_us, b.up_us, b.broker_us, b.hop_us, b.down_us, b.shell_us
            );
        }
    }
    if r.servo_page_fetch_p50_us.is_finite() {
        println!("servo page: fetch() of a tiny data: URL, p50 {:.0} µs", r.servo_page_fetch_p50_us);
    }
    let s = &r.startup;
    if !s.cold_launch_ms_cached.is_empty() {
        println!(
            "\ncold launch to first painted state (median of {}): {:.0} ms with the module cache, {:.0} ms without",
            s.cold_launch_ms_cached.len(),
            s.cold_launch_p50_ms_cached,
            s.cold_launch_p50_ms_uncached
        );
        println!(
            "core (counter): compile {:.1} ms, load from cache {:.1} ms, instantiate + init {:.2} ms",
            s.core_compile_ms, s.core_cache_load_ms, s.core_instantiate_ms
        );
    }
    let c = &r.confinement;
    if !c.cold_launch_ms_confined.is_empty() {
        let ratio = |pair: [f64; 2]| pair[0] / pair[1];
        println!("\nOS confinement (confined vs WEFT_UNCONFINED=1, same run):");
        println!(
            "  cold launch p50 ({} each, alternating): {:.0} ms vs {:.0} ms (x{:.2})",
            c.cold_launch_ms_confined.len(),
            c.cold_launch_p50_ms[0],
            c.cold_launch_p50_ms[1],
            ratio(c.cold_launch_p50_ms)
        );
        println!(
            "  broker round trip p50, 64 B: {:.1} µs vs {:.1} µs (x{:.2})",
            c.broker_p50_us_64[0],
            c.broker_p50_us_64[1],
            ratio(c.broker_p50_us_64)
        );
        println!(
            "  servo round trip p50, 64 B: {:.1} µs vs {:.1} µs (x{:.2})",
            c.servo_p50_us_64[0],
            c.servo_p50_us_64[1],
            ratio(c.servo_p50_us_64)
        );
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Two panels: p50 round trip (with p99 whiskers; log scale) and throughput, grouped by
/// payload size, one colour per path.
/// The chart's bottom strip: the servo path's 64 B round trip split where the shell sees it.
fn split_bar(b: &Breakdown) -> String {
    let segments = [
        ("page: the page channel both ways (script thread)", b.page_us, "#1f77b4"),
        ("shell: send → broker", b.up_us, "#ff7f0e"),
        ("broker: appd + core host + 4 IPC hops", b.broker_us, "#d62728"),
        ("shell: broker → page", b.hop_us + b.down_us, "#ff7f0e"),
    ];
    let total: f64 = segments.iter().map(|(_, v, _)| v.max(0.0)).sum();
    let (x0, width, top) = (70.0, 960.0, 490.0);
    let scale = width / total.max(210.0);
    let mut s = format!(
        "<text x=\"{x0}\" y=\"{}\" font-weight=\"bold\">servo path, 64 B, where a lone round trip's {:.0} µs go \
         (medians; page = servo p50 − the shell's span)</text>\n",
        top - 8.0,
        b.page_us + b.shell_us
    );
    let mut x = x0;
    for (label, v, colour) in segments {
        let seg = v.max(0.0) * scale;
        s += &format!(
            "<rect x=\"{x:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"26\" fill=\"{colour}\" stroke=\"white\"><title>{}: \
             {v:.0} µs</title></rect>\n",
            seg.max(0.5),
            esc(label)
        );
        if seg > 40.0 {
            s += &format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"white\">{v:.0}</text>\n",
                x + seg / 2.0,
                top + 17.0
            );
        }
        x += seg;
    }
    let target = x0 + 210.0 * scale;
    s += &format!(
        "<line x1=\"{target:.1}\" y1=\"{}\" x2=\"{target:.1}\" y2=\"{}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n\
         <text x=\"{:.1}\" y=\"{}\">target 210 µs</text>\n",
        top - 18.0,
        top + 30.0,
        target + 4.0,
        top - 8.0
    );
    let mut lx = x0;
    for (label, _, colour) in &segments[..3] {
        s += &format!(
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            top + 38.0,
            lx + 16.0,
            top + 49.0,
            esc(label)
        );
        lx += 40.0 + 6.5 * label.chars().count() as f64;
    }
    s
}

fn chart(r: &Report) -> String {
    let colours = ["#7f7f7f", "#1f77b4", "#d62728", "#ff7f0e", "#2ca02c"];
    let small = r.servo_breakdown.iter().find(|b| b.payload_bytes == SIZES[0] && b.page_us.is_finite());
    let (w, h) = (1100.0, if small.is_some() { 560.0 } else { 470.0 });
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    svg += &format!(
        "<text x=\"{}\" y=\"24\" font-size=\"16\" text-anchor=\"middle\" font-weight=\"bold\">WEFT channel: round trip \
         and throughput by path and payload (load avg {})</text>\n",
        w / 2.0,
        esc(&r.machine["loadavg"].as_str().unwrap_or("?").split(' ').take(3).collect::<Vec<_>>().join(" "))
    );
    let present: Vec<(usize, &str)> =
        PATHS.iter().enumerate().filter(|(_, p)| r.rows.iter().any(|x| x.path == **p)).map(|(i, p)| (i, *p)).collect();
    let panel = |x0: f64,
                 title: &str,
                 log: bool,
                 reference: Option<(f64, &str)>,
                 value: &dyn Fn(&Row) -> (f64, Option<f64>)|
     -> String {
        let (pw, ph, top) = (480.0, 330.0, 60.0);
        let mut s = format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
            x0 + pw / 2.0,
            top - 10.0,
            esc(title)
        );
        let all: Vec<f64> = r
            .rows
            .iter()
            .flat_map(|x| {
                let (v, whisker) = value(x);
                [Some(v), whisker]
            })
            .flatten()
            .filter(|v| *v > 0.0)
            .collect();
        let max = all.iter().copied().fold(1.0, f64::max);
        let min = all.iter().copied().fold(max, f64::min).max(1.0);
        let (lo, hi) = if log { (min.log10().floor(), max.log10().ceil()) } else { (0.0, max * 1.1) };
        let y = |v: f64| {
            let f = if log { (v.max(1.0).log10() - lo) / (hi - lo).max(1e-9) } else { v / hi };
            top + ph - f * ph
        };
        s += &format!(
            "<line x1=\"{x0}\" y1=\"{top}\" x2=\"{x0}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{x0}\" y1=\"{}\" x2=\"{}\" \
             y2=\"{}\" stroke=\"black\"/>\n",
            top + ph,
            top + ph,
            x0 + pw,
            top + ph
        );
        let ticks: Vec<f64> = if log {
            (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
        } else {
            (0..=5).map(|i| hi * i as f64 / 5.0).collect()
        };
        for t in ticks {
            let label = if t >= 1e6 {
                format!("{:.0}M", t / 1e6)
            } else if t >= 1000.0 {
                format!("{:.0}k", t / 1000.0)
            } else {
                format!("{t:.0}")
            };
            s += &format!(
                "<line x1=\"{x0}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/>\n<text x=\"{2}\" y=\"{3:.1}\" \
                 text-anchor=\"end\">{label}</text>\n",
                y(t),
                x0 + pw,
                x0 - 4.0,
                y(t) + 4.0
            );
        }
        if let Some((v, label)) = reference {
            s += &format!(
                "<line x1=\"{x0}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>\n\
                 <text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\" fill=\"#d62728\">{3}</text>\n",
                y(v),
                x0 + pw,
                y(v) - 4.0,
                esc(label)
            );
        }
        let group = pw / SIZES.len() as f64;
        let bar = (group - 20.0) / present.len().max(1) as f64;
        for (g, size) in SIZES.iter().enumerate() {
            let gx = x0 + g as f64 * group + 10.0;
            let label = if *size >= 1024 { format!("{} KiB", size / 1024) } else { format!("{size} B") };
            s += &format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>\n",
                gx + (group - 20.0) / 2.0,
                top + ph + 16.0
            );
            for (k, (ci, path)) in present.iter().enumerate() {
                let Some(row) = r.rows.iter().find(|x| x.path == *path && x.payload_bytes == *size) else { continue };
                let (v, whisker) = value(row);
                let bx = gx + k as f64 * bar;
                s += &format!(
                    "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {} B: \
                     {v:.0}</title></rect>\n",
                    y(v),
                    bar - 2.0,
                    (top + ph - y(v)).max(0.5),
                    colours[*ci],
                    path,
                    size
                );
                if let Some(wv) = whisker {
                    let cx = bx + (bar - 2.0) / 2.0;
                    s += &format!(
                        "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
                        y(v),
                        y(wv)
                    );
                }
            }
        }
        s
    };
    svg += &panel(
        70.0,
        "round trip µs: p50 bar, p99 whisker (log scale; lower is better)",
        true,
        Some((210.0, "target: servo p50 < 210 µs")),
        &|x| (x.p50_us, Some(x.p99_us)),
    );
    svg += &panel(
        610.0,
        "throughput msgs/s (log scale; higher is better)",
        true,
        Some((50_000.0, "target: ≥ 50k msgs/s through servo")),
        &|x| (x.msgs_per_s, None),
    );
    let mut lx = 70.0;
    for (ci, path) in &present {
        svg += &format!(
            "<rect x=\"{lx}\" y=\"432\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"443\">{}</text>\n",
            colours[*ci],
            lx + 16.0,
            path
        );
        lx += 30.0 + 8.0 * path.len() as f64;
    }
    if let Some(b) = small {
        svg += &split_bar(b);
    }
    svg += "</svg>\n";
    svg
}
