//! A real `weft-appd` in a private runtime directory, app fixtures, and test UI peers.

use crate::peer::{Command, Event};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any single expected event may take before the test fails.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// The manifest of the test app used by the WPT-style tests and these tests
/// (`examples/echo/weft.toml`): UI event `echo` (any JSON), UI event `strict` (an object with
/// an integer `n`), both answered by state updates of the same name, and a 64 KiB limit.
pub const ECHO_MANIFEST: &str = include_str!("../../examples/echo/weft.toml");

/// The manifest of the hostile core (`examples/hostile/weft.toml`): every misdeed is a UI
/// event; its updates are `tick` (an object with an integer `i`, coalescible) and
/// `flood-done` (keyed, so that backpressure cannot refuse the final report).
pub const HOSTILE_MANIFEST: &str = include_str!("../../examples/hostile/weft.toml");

/// The repository root, read when the program runs: `$WEFT_REPO` (the scripts set it), else
/// the parent of `$CARGO_MANIFEST_DIR` (cargo sets it for tests), else where this binary was
/// built from. The target directory is shared between checkouts (a CI clone and a working
/// tree), so a binary may have been built from another one.
pub fn repo_root() -> PathBuf {
    if let Some(repo) = std::env::var_os("WEFT_REPO") {
        return PathBuf::from(repo);
    }
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A workspace binary next to the running test (target/<profile>/<name>).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace binaries first (`cargo build --release --workspace --bins`; scripts/test does)",
        path.display()
    );
    path
}

/// A built example app directory (`examples/<name>`, with its core built).
pub fn example_app(name: &str) -> PathBuf {
    example_core(name);
    repo_root().join("examples").join(name)
}

/// A built example core (`examples/<name>/core.wasm`).
pub fn example_core(name: &str) -> PathBuf {
    let path = repo_root().join("examples").join(name).join("core.wasm");
    assert!(path.is_file(), "{} is missing: run scripts/build-cores (scripts/setup does)", path.display());
    path
}

/// A temporary app package with `manifest`, the given core and a trivial UI.
pub fn app(manifest: &str, core: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("weft.toml"), manifest).expect("write manifest");
    std::fs::copy(core, dir.path().join("core.wasm")).expect("copy core");
    std::fs::create_dir(dir.path().join("ui")).expect("ui dir");
    std::fs::write(dir.path().join("ui/index.html"), "<!doctype html><title>test</title>").expect("write ui");
    dir
}

/// An app whose UI is one page of `tests/shell/`, for runs in the real headless shell.
pub struct PageApp {
    /// The app directory.
    pub app: PathBuf,
    /// Where the shell copies the page's `WEFT-RESULT` lines (`--report`).
    pub report: PathBuf,
    _dir: tempfile::TempDir,
}

impl PageApp {
    /// `manifest` + `core` with `tests/shell/<page>` as `ui/index.html`.
    pub fn new(manifest: &str, core: &Path, page: &str) -> PageApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = dir.path().join("app");
        std::fs::create_dir_all(app.join("ui")).expect("ui dir");
        std::fs::write(app.join("weft.toml"), manifest).expect("manifest");
        std::fs::copy(core, app.join("core.wasm")).expect("core");
        std::fs::copy(repo_root().join("tests/shell").join(page), app.join("ui/index.html"))
            .unwrap_or_else(|e| panic!("page {page}: {e}"));
        let report = dir.path().join("report.jsonl");
        PageApp { app, report, _dir: dir }
    }

    /// The headless shell's command line: report to [`PageApp::report`], close the app once the
    /// page logs `WEFT-DONE`, give up after `timeout_s`.
    pub fn shell_command(&self, timeout_s: u64) -> Vec<String> {
        vec![
            bin("weft-shell").display().to_string(),
            "--headless".into(),
            "--timeout".into(),
            timeout_s.to_string(),
            "--report".into(),
            self.report.display().to_string(),
            "--until-console".into(),
            "WEFT-DONE".into(),
        ]
    }

    /// The page's single report line, parsed.
    pub fn page_report(&self) -> Value {
        let line = std::fs::read_to_string(&self.report).unwrap_or_default();
        serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("the page's report {line:?}: {e}"))
    }
}

/// A session started with [`Daemon::launch_ui`]: its id and processes.
pub struct LaunchedUi {
    /// The session id.
    pub id: String,
    /// The core host's pid.
    pub core_pid: u32,
    /// The UI's pid.
    pub ui_pid: u32,
}

impl LaunchedUi {
    /// From `launch_ui`'s answer.
    pub fn from_session(session: &Value) -> LaunchedUi {
        let pid = |k: &str| session[k].as_u64().unwrap_or_else(|| panic!("no {k} in {session}")) as u32;
        LaunchedUi {
            id: session["session_id"].as_str().expect("session id").to_owned(),
            core_pid: pid("core_pid"),
            ui_pid: pid("ui_pid"),
        }
    }
}

/// A running `weft-appd serve` with its own runtime directory. Killed on drop.
pub struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    peers: AtomicUsize,
}

impl Daemon {
    /// Starts the daemon and waits for its ready line.
    pub fn start() -> Daemon {
        Daemon::start_with_env(&[])
    }

    /// Starts the daemon with extra environment (which its children inherit).
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        Daemon::start_in(dir, &bin("weft-appd"), env)
    }

    /// Starts a daemon whose core host is `weft-test-core` (a compromised core host for a core
    /// whose directory holds `forge-datagram`, the real one for every other core): appd starts
    /// the `weft-core-host` beside its own binary, so a copy of appd runs from a directory where
    /// that name is the test core.
    pub fn start_with_test_core() -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin_dir = dir.path().join("bin");
        std::fs::create_dir(&bin_dir).expect("bin dir");
        for (from, to) in [("weft-appd", "weft-appd"), ("weft-test-core", "weft-core-host")] {
            let (from, to) = (bin(from), bin_dir.join(to));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).expect("copy a binary");
            }
        }
        let real = bin("weft-core-host").display().to_string();
        Daemon::start_in(dir, &bin_dir.join("weft-appd"), &[("WEFT_TEST_REAL_CORE_HOST", &real)])
    }

    /// Starts `appd` with its runtime directory and log in `dir`.
    fn start_in(dir: tempfile::TempDir, appd: &Path, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::File::create(dir.path().join("appd.log")).expect("log file");
        let mut child = std::process::Command::new(appd)
            .arg("--runtime-dir")
            .arg(dir.path().join("run"))
            .arg("serve")
            .env("WEFT_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start weft-appd");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read ready line");
        assert!(line.starts_with("weft-appd ready "), "daemon did not get ready: {line:?}");
        Daemon { child, dir, peers: AtomicUsize::new(0) }
    }

    /// The daemon's runtime directory.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("appd.log")).unwrap_or_default()
    }

    /// Sends one control request.
    pub fn request(&self, request: Value) -> Value {
        let mut stream = UnixStream::connect(self.runtime_dir().join("appd.sock")).expect("connect control socket");
        writeln!(stream, "{request}").expect("write request");
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).expect("read response");
        serde_json::from_str(&line).expect("response is JSON")
    }

    /// The status of one session.
    pub fn session_status(&self, session_id: &str) -> Value {
        let status = self.request(json!({"op": "status"}));
        status["sessions"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["session_id"] == session_id).cloned())
            .unwrap_or(Value::Null)
    }

    /// Waits until the session's status satisfies `ok` (the daemon publishes status every 50 ms).
    pub fn wait_for_status(&self, session_id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let status = self.session_status(session_id);
            if ok(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "status never showed {what}: {status:#}\ndaemon log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Launches a session whose UI is `ui_command`; returns the launch answer's session object.
    pub fn launch_ui(&self, app_dir: &Path, ui_command: &[String]) -> Value {
        let response = self.request(json!({"op": "launch", "app_dir": app_dir, "ui_command": ui_command}));
        assert_eq!(response["ok"], true, "launch failed: {response}\ndaemon log:\n{}", self.log());
        response["session"].clone()
    }

    /// Launches a session of `app_dir` whose UI is a test peer; returns the connected peer.
    pub fn launch(&self, app_dir: &Path) -> Peer {
        self.launch_with(app_dir, &[]).expect("launch")
    }

    /// Launches with extra peer arguments; returns the daemon's error text on failure.
    pub fn launch_with(&self, app_dir: &Path, peer_args: &[&str]) -> Result<Peer, String> {
        self.launch_request(app_dir, peer_args, json!({}))
    }

    /// Launches a session that the daemon records into `record`.
    pub fn launch_recorded(&self, app_dir: &Path, record: &Path) -> Peer {
        self.launch_request(app_dir, &[], json!({"record": record})).expect("launch")
    }

    /// Launches with extra peer arguments and extra fields in the launch request.
    pub fn launch_request(&self, app_dir: &Path, peer_args: &[&str], extra: Value) -> Result<Peer, String> {
        let n = self.peers.fetch_add(1, Ordering::SeqCst);
        let driver_path = self.dir.path().join(format!("driver-{n}.sock"));
        let listener = UnixListener::bind(&driver_path).expect("bind driver socket");
        let (accepted_tx, accepted) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = accepted_tx.send(listener.accept());
        });
        let mut ui_command = vec![bin("weft-test-ui").display().to_string()];
        ui_command.extend(peer_args.iter().map(|s| s.to_string()));
        ui_command.extend(["--driver".to_string(), driver_path.display().to_string()]);
        let mut request = json!({"op": "launch", "app_dir": app_dir, "ui_command": ui_command});
        if let (Some(request), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
            request.extend(extra.clone());
        }
        let response = self.request(request);
        if response["ok"] != true {
            return Err(response["error"].as_str().unwrap_or("?").to_owned());
        }
        let session = &response["session"];
        let (stream, _) = accepted.recv_timeout(EVENT_TIMEOUT).expect("peer connects to the driver").expect("accept");
        // Read the peer's events continuously, so that a test busy elsewhere (polling status)
        // never stalls the peer on a full driver socket.
        let (events_tx, events) = mpsc::channel();
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { return };
                let event = serde_json::from_str::<Event>(&line).unwrap_or_else(|e| panic!("bad event {line:?}: {e}"));
                if events_tx.send(event).is_err() {
                    return;
                }
            }
        });
        let mut peer = Peer {
            writer: stream,
            events,
            session_id: session["session_id"].as_str().expect("session id").to_owned(),
            core_pid: session["core_pid"].as_u64().expect("core pid") as u32,
            ui_pid: session["ui_pid"].as_u64().expect("ui pid") as u32,
        };
        match peer.next_event() {
            Event::Welcome { session_id, .. } => assert_eq!(session_id, peer.session_id),
            other => panic!("expected welcome, got {other:?}"),
        }
        Ok(peer)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connected test UI peer.
pub struct Peer {
    writer: UnixStream,
    events: mpsc::Receiver<Event>,
    /// Its session.
    pub session_id: String,
    /// The session's core host pid.
    pub core_pid: u32,
    /// The peer's pid.
    pub ui_pid: u32,
}

impl Peer {
    /// Sends a command.
    pub fn cmd(&mut self, command: Command) {
        let line = serde_json::to_string(&command).expect("serialise");
        writeln!(self.writer, "{line}").expect("peer alive");
    }

    /// `send(type, payload)`.
    pub fn send(&mut self, message_type: &str, payload: Value) {
        self.cmd(Command::Send { message_type: message_type.into(), payload });
    }

    /// The next event; fails the test after [`EVENT_TIMEOUT`].
    pub fn next_event(&mut self) -> Event {
        match self.events.recv_timeout(EVENT_TIMEOUT) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no event from the test UI peer within {EVENT_TIMEOUT:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the test UI peer closed its driver connection"),
        }
    }

    /// The next event if one has already arrived.
    pub fn try_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Reads events until one satisfies `stop`; returns all of them, that one last.
    pub fn until(&mut self, stop: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            let event = self.next_event();
            let done = stop(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Reads events until the session ends; returns the end event's reason.
    pub fn until_end(&mut self) -> (String, Vec<Event>) {
        let events = self.until(|e| matches!(e, Event::SessionEnd { .. }));
        match events.last() {
            Some(Event::SessionEnd { reason, .. }) => (reason.clone(), events),
            _ => unreachable!(),
        }
    }
}

impl Drop for Peer {
    /// Closes the driver connection (both directions, so the reader thread's clone of the
    /// socket does not keep it open): the peer process then exits.
    fn drop(&mut self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

/// Whether a process is still running (not exited; a zombie counts as exited).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits for a process to exit (pidfd readiness, an event, not polling); fails the test after
/// [`EVENT_TIMEOUT`].
pub fn wait_gone(pid: u32, what: &str) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return; // Already gone (ESRCH).
    }
    let fd = fd as libc::c_int;
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; the fd is ours and closed right after.
    let ready = unsafe { libc::poll(&mut pfd, 1, EVENT_TIMEOUT.as_millis() as libc::c_int) };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    assert!(ready == 1, "{what} (pid {pid}) is still running after {EVENT_TIMEOUT:?}");
}

/// Whether the report of `tests/shell/chaos.html` shows its echoes in order, each at most once,
/// with every echo it never saw explained: refused by the echo core's full outbox (an `error`
/// event before any later echo) or a send refused outright.
pub fn chaos_page_in_order(page: &Value) -> bool {
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let rejected: u64 = page["rejected"].as_object().map_or(0, |m| m.values().map(count).sum());
    page["inOrder"] == true && count(&page["skipped"]) <= count(&page["refusedByCore"]) + rejected
}

/// Sends SIGKILL to a process.
pub fn kill9(pid: u32) {
    let status = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status().expect("kill");
    assert!(status.success(), "kill -9 {pid} failed");
}
