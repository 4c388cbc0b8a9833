//! `weft-bench`: round-trip latency and throughput through the real broker and a real Wasm
//! core, next to the raw `ipc-channel` floor over the same process hops, in one run.
//!
//! Run with `scripts/bench` (or `weft-bench [--rounds N] [--seconds S]`). Roles, chosen by the
//! first argument, re-execute this binary:
//! - (none): the driver. Runs both paths and prints the table.
//! - `floor-relay`, `floor-echo`: the floor's middle and far processes (appd's and the core's
//!   places): UI → relay → echo → relay → UI, four hops, the same batch framing, no work.
//! - `ui`: the UI endpoint of a real session (launched by weft-appd), measuring from the UI.

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use weft_ipc::frames::BrokerToUi;
use weft_ipc::transport::{Bootstrap, Inbound};
use weft_ipc::ui_client::{UiConnection, UiNotice};

/// One measured path.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Figures {
    p50_us: f64,
    p99_us: f64,
    msgs_per_s: f64,
}

type Batch = Vec<Vec<u8>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("floor-relay") => floor_relay(&args[2]),
        Some("floor-echo") => floor_echo(&args[2]),
        Some("ui") => ui_role(&args),
        _ => driver(&args),
    }
}

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn payload() -> Vec<u8> {
    br#"{"i":0,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#.to_vec()
}

fn driver(args: &[String]) {
    let rounds = flag(args, "--rounds", 5000) as usize;
    let seconds = flag(args, "--seconds", 3);
    let exe = std::env::current_exe().expect("own path");
    eprintln!("weft-bench: {rounds} sequential round trips, then {seconds} s of pipelined throughput, per path");
    eprintln!("(the full path is measured by the page: 2000 round trips, then 2 s, window 32)");

    let floor = floor(&exe, rounds, seconds);
    let weft = weft_path(&exe, rounds, seconds);
    let page = servo_path(&exe);
    println!();
    println!("{:<46} {:>9} {:>9} {:>12}", "path (64-byte JSON payload)", "p50 µs", "p99 µs", "msgs/s");
    let rows = [
        ("ipc-floor: raw ipc-channel, 4 hops", &floor),
        ("broker+core: UI endpoint→appd→core→appd→UI", &weft),
        ("full: page JS send → core → JS message", &page),
    ];
    for (name, f) in rows {
        println!("{:<46} {:>9.1} {:>9.1} {:>12.0}", name, f.p50_us, f.p99_us, f.msgs_per_s);
    }
    let ratio = |a: &Figures, b: &Figures| {
        format!(
            "p50 ×{:.2}, p99 ×{:.2}, throughput ×{:.2}",
            a.p50_us / b.p50_us,
            a.p99_us / b.p99_us,
            a.msgs_per_s / b.msgs_per_s
        )
    };
    println!("broker+core / floor: {}", ratio(&weft, &floor));
    println!("full / broker+core:  {}", ratio(&page, &weft));
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

/// The floor: this process → relay → echo → relay → this process.
fn floor(exe: &std::path::Path, rounds: usize, seconds: u64) -> Figures {
    let (server, name) = IpcOneShotServer::<Batch>::new().expect("server");
    let mut relay = Command::new(exe).args(["floor-relay", &name]).stdin(Stdio::null()).spawn().expect("relay");
    let (from_relay, first) = server.accept().expect("relay connects");
    let to_relay: IpcSender<Batch> = bincode_free_sender(first);
    let msg = payload();
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        to_relay.send(vec![msg.clone()]).expect("send");
        from_relay.recv().expect("recv");
        samples.push(t.elapsed());
    }
    let msgs_per_s = pipelined(
        seconds,
        |n| to_relay.send(vec![msg.clone(); n]).is_ok(),
        || from_relay.recv().map(|b| b.len()).unwrap_or(0),
    );
    drop(to_relay);
    let _ = relay.wait();
    let (p50_us, p99_us) = percentiles(samples);
    Figures { p50_us, p99_us, msgs_per_s }
}

/// The first batch a connecting floor process sends carries the name of its own server.
fn bincode_free_sender(first: Batch) -> IpcSender<Batch> {
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
    let to_echo = bincode_free_sender(first);
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

/// Keeps up to 32 messages in flight for `seconds`; returns messages per second.
fn pipelined(seconds: u64, mut send: impl FnMut(usize) -> bool, mut recv: impl FnMut() -> usize) -> f64 {
    const WINDOW: usize = 32;
    let start = Instant::now();
    let mut in_flight = 0;
    let mut done = 0usize;
    while start.elapsed() < Duration::from_secs(seconds) {
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

/// The real path: weft-appd + weft-core-host (echo core) + a UI endpoint (this binary, `ui`).
fn weft_path(exe: &std::path::Path, rounds: usize, seconds: u64) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_dir = exe.parent().expect("bin dir");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo").to_path_buf();
    let app = repo.join("examples/echo");
    let runtime = dir.path().join("run");
    let mut appd = Command::new(bin_dir.join("weft-appd"))
        .arg("--runtime-dir")
        .arg(&runtime)
        .arg("serve")
        .env("WEFT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("weft-appd");
    let mut ready = String::new();
    BufReader::new(appd.stdout.take().expect("stdout")).read_line(&mut ready).expect("ready line");
    let report_path = dir.path().join("report.sock");
    let listener = UnixListener::bind(&report_path).expect("report socket");
    let request = serde_json::json!({
        "op": "launch",
        "app_dir": app,
        "ui_command": [exe, "ui", "--report", report_path, "--rounds", rounds.to_string(), "--seconds", seconds.to_string()],
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

/// The full path: weft-appd + echo core + the headless Servo shell running `tests/shell/bench.html`,
/// measured by the page itself with `performance.now()`.
fn servo_path(exe: &std::path::Path) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_dir = exe.parent().expect("bin dir");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo").to_path_buf();
    let app = dir.path().join("app");
    std::fs::create_dir_all(app.join("ui")).expect("app dir");
    std::fs::copy(repo.join("examples/echo/weft.toml"), app.join("weft.toml")).expect("manifest");
    std::fs::copy(repo.join("examples/echo/core.wasm"), app.join("core.wasm")).expect("core (run scripts/build-cores)");
    std::fs::copy(repo.join("tests/shell/bench.html"), app.join("ui/index.html")).expect("page");
    let report = dir.path().join("report.jsonl");
    let status = Command::new(bin_dir.join("weft-appd"))
        .arg("--runtime-dir")
        .arg(dir.path().join("run"))
        .arg("run")
        .arg(&app)
        .arg("--ui-command")
        .arg(bin_dir.join("weft-shell"))
        .args(["--headless", "--timeout", "120", "--until-console", "WEFT-DONE", "--report"])
        .arg(&report)
        .env("WEFT_LOG", "error")
        .stdin(Stdio::null())
        .status()
        .expect("weft-appd run");
    let line = std::fs::read_to_string(&report).unwrap_or_default();
    let figures = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("page figures {line:?} ({status}): {e}"));
    figures
}

fn ui_role(args: &[String]) {
    let report_path =
        args.iter().position(|a| a == "--report").and_then(|i| args.get(i + 1)).expect("--report").clone();
    let rounds = flag(args, "--rounds", 5000) as usize;
    let seconds = flag(args, "--seconds", 3);
    let bootstrap = Bootstrap::read_from(std::io::stdin().lock()).expect("bootstrap");
    let (tx, frames) = mpsc::sync_channel::<Inbound<BrokerToUi>>(8192);
    let mut conn = UiConnection::connect(&bootstrap, Duration::from_secs(10), move |item| tx.send(item).is_ok())
        .expect("join session");
    let text = String::from_utf8(payload()).expect("utf8");

    // Pumps frames until `want` state updates arrived; returns how many did.
    let pump = |conn: &mut UiConnection, want: usize| -> usize {
        let mut got = 0;
        while got < want {
            let Ok(Inbound::Frame(frame)) = frames.recv() else { panic!("session lost") };
            let mut out = Vec::new();
            let mut notices = Vec::new();
            conn.channel.on_frame(frame, &mut out, &mut notices);
            for n in &notices {
                match n {
                    UiNotice::Message(e) => {
                        conn.channel.consumed(1, e.size() as u64, &mut out);
                        got += 1;
                    }
                    UiNotice::SessionEnd(end) => panic!("session ended: {end:?}"),
                    UiNotice::Rejected(_, r) => panic!("rejected: {r}"),
                    _ => {}
                }
            }
            conn.transmit(out, &mut notices);
        }
        got
    };
    let send = |conn: &mut UiConnection| {
        let mut out = Vec::new();
        let mut notices = Vec::new();
        conn.channel.send("echo", text.clone(), &mut out).expect("send");
        conn.transmit(out, &mut notices);
    };

    // Warm up: the core's first call pays instantiation-time costs.
    for _ in 0..100 {
        send(&mut conn);
        pump(&mut conn, 1);
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        send(&mut conn);
        pump(&mut conn, 1);
        samples.push(t.elapsed());
    }
    let msgs_per_s = {
        let conn = std::cell::RefCell::new(&mut conn);
        pipelined(
            seconds,
            |n| {
                for _ in 0..n {
                    send(&mut conn.borrow_mut());
                }
                true
            },
            || pump(&mut conn.borrow_mut(), 1),
        )
    };
    let (p50_us, p99_us) = percentiles(samples);
    let figures = Figures { p50_us, p99_us, msgs_per_s };
    let mut report = UnixStream::connect(report_path).expect("report socket");
    writeln!(report, "{}", serde_json::to_string(&figures).expect("json")).expect("report");
    let mut out = Vec::new();
    let mut notices = Vec::new();
    conn.channel.close(&mut out);
    conn.transmit(out, &mut notices);
}
