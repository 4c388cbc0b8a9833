//! The WPT-style runner behind `scripts/wpt`: runs testharness.js test files in the real
//! headless WEFT shell, each against its own real `weft-appd` session with the echo core.
//!
//! For each test file the runner builds a throwaway app:
//!
//! ```text
//! <tmp>/app/weft.toml           the echo app's manifest (UI events `echo`, `strict`; 64 KiB)
//! <tmp>/app/core.wasm           the echo core
//! <tmp>/app/ui/index.html       the test file
//! <tmp>/app/ui/*                the other files of the test's directory, and its
//!                               `resources/` and `support/` subdirectories
//! <tmp>/app/ui/resources/       testharness.js, idlharness.js, webidl2.js (from the pinned npm
//!                               package), testharnessreport.js (ours), weft-channel.webidl
//!                               and weft-channel.webidl.js (`self.WEFT_CHANNEL_IDL`, the same
//!                               text: Servo's fetch() cannot read file: URLs)
//! ```
//!
//! and runs `weft-appd run --test-control <app> --ui-command weft-shell --headless
//! --test-driver --report … --until-console WEFT-DONE` in a new process group. Results come
//! back through the page's console (the shell's `--report` file), never through the channel
//! under test. The process group is killed when the run ends or times out, so nothing is left
//! behind.

use crate::wptreport::{parse_report, TestResult, WptReport, DONE_MARKER, RESULT_PREFIX};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The harness files taken from the pinned npm package (`tests/wpt/package.json`).
pub const HARNESS_FILES: [&str; 3] = ["testharness.js", "idlharness.js", "webidl2.js"];

/// What a run needs.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// `weft-appd`.
    pub appd: PathBuf,
    /// `weft-shell`.
    pub shell: PathBuf,
    /// The echo app (its `weft.toml` and built `core.wasm`).
    pub echo_app: PathBuf,
    /// The directory holding [`HARNESS_FILES`].
    pub harness_dir: PathBuf,
    /// The IDL copied to `resources/weft-channel.webidl`.
    pub idl: PathBuf,
    /// Test ids are paths relative to this directory (with a leading `/`) when inside it.
    pub tests_root: PathBuf,
    /// Per-test timeout.
    pub timeout: Duration,
}

/// The `testharnessreport.js` every test page loads after `testharness.js`: it reports
/// through the console, which the shell copies to its `--report` file.
pub fn testharnessreport_js(timeout: Duration) -> String {
    // The harness's own timeout stays below the runner's, so a hung test reports TIMEOUT
    // with its subtests rather than being killed silently.
    let harness_ms = timeout.as_millis().saturating_sub(5_000).max(1_000);
    format!(
        r#"// Written by the WEFT WPT runner (tests/src/wpt.rs). Reports testharness.js results through
// the console (the shell's --report), never through weft.channel.
(() => {{
  "use strict";
  const log = console.log.bind(console);
  const stringify = JSON.stringify;
  const HARNESS = ["OK", "ERROR", "TIMEOUT", "PRECONDITION_FAILED"];
  const SUBTEST = ["PASS", "FAIL", "TIMEOUT", "NOTRUN", "PRECONDITION_FAILED"];
  const harnessTimeout = self.timeout;
  setup({{ explicit_timeout: true }});
  setTimeout(() => harnessTimeout(), {harness_ms});
  add_completion_callback((tests, status) => {{
    const subtests = tests.map((t) => ({{ name: t.name, status: SUBTEST[t.status] ?? "FAIL", message: t.message ?? null }}));
    log("{RESULT_PREFIX}" + stringify({{ status: HARNESS[status.status] ?? "ERROR", message: status.message ?? null, subtests }}));
    log("{DONE_MARKER}");
  }});
}})();
"#
    )
}

/// Expands the command line's paths: a directory means every `*.html` under it (sorted,
/// skipping `resources/`, `support/` and `node_modules/`), a file means itself.
pub fn collect_tests(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut tests = Vec::new();
    for path in paths {
        let path = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
        if path.is_dir() {
            walk(&path, &mut tests).map_err(|e| format!("{}: {e}", path.display()))?;
        } else {
            tests.push(path);
        }
    }
    tests.sort();
    tests.dedup();
    if tests.is_empty() {
        return Err("no test files (*.html) found".into());
    }
    Ok(tests)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "resources" | "support" | "node_modules") {
                walk(&path, out)?;
            }
        } else if name.ends_with(".html") {
            out.push(path);
        }
    }
    Ok(())
}

/// The test's id in reports: `/dir/file.html` under [`RunnerConfig::tests_root`], else the
/// absolute path.
pub fn test_id(config: &RunnerConfig, test: &Path) -> String {
    match test.strip_prefix(&config.tests_root) {
        Ok(relative) => format!("/{}", relative.display()),
        Err(_) => test.display().to_string(),
    }
}

/// Runs one test file and returns its result. Never panics on what the page or the processes
/// do: anything unexpected becomes an `ERROR`, `TIMEOUT` or `CRASH` result with a message.
pub fn run_test(config: &RunnerConfig, test: &Path) -> TestResult {
    let started = Instant::now();
    let id = test_id(config, test);
    let outcome = tempfile::Builder::new()
        .prefix("weft-wpt-")
        .tempdir()
        .map_err(|e| error(format!("no temporary directory: {e}")))
        .and_then(|tmp| run_in(config, test, tmp.path()));
    let duration = started.elapsed().as_millis() as u64;
    let (status, message, subtests) = match outcome {
        Ok(report) => (report.status, report.message, report.subtests),
        Err((status, message)) => (status, Some(message), Vec::new()),
    };
    TestResult { test: id, status, message, duration, subtests, known_intermittent: Vec::new() }
}

/// A run's failure: the wptreport status (`ERROR`, `TIMEOUT`, `CRASH`) and why.
type RunFailure = (String, String);

fn error(message: String) -> RunFailure {
    ("ERROR".into(), message)
}

fn run_in(config: &RunnerConfig, test: &Path, tmp: &Path) -> Result<crate::wptreport::HarnessReport, RunFailure> {
    let app = tmp.join("app");
    package(config, test, &app).map_err(|e| error(format!("cannot package the test as an app: {e}")))?;
    let runtime_dir = tmp.join("run");
    fs::create_dir(&runtime_dir).map_err(|e| error(format!("{}: {e}", runtime_dir.display())))?;
    fs::set_permissions(&runtime_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(|e| error(e.to_string()))?;
    let report_path = tmp.join("report.jsonl");
    let log_path = tmp.join("log.txt");
    let log = fs::File::create(&log_path).map_err(|e| error(format!("{}: {e}", log_path.display())))?;
    let log_err = log.try_clone().map_err(|e| error(e.to_string()))?;
    let shell_timeout = config.timeout.as_secs().max(1);
    let mut child = Command::new(&config.appd)
        .arg("--runtime-dir")
        .arg(&runtime_dir)
        .arg("run")
        .arg("--test-control")
        .arg(&app)
        .arg("--ui-command")
        .arg(&config.shell)
        .args(["--headless", "--test-driver", "--until-console", DONE_MARKER, "--timeout"])
        .arg(shell_timeout.to_string())
        .arg("--report")
        .arg(&report_path)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("WEFT_LOG", std::env::var("WEFT_LOG").unwrap_or_else(|_| "warn,profile_traits=error,script=error".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .spawn()
        .map_err(|e| error(format!("cannot start {}: {e}", config.appd.display())))?;
    // Give appd and the shell's own timeout a margin to report before killing everything.
    let deadline = Instant::now() + config.timeout + Duration::from_secs(15);
    let pgid = child.id();
    let mut appd_exit = None;
    // `weft-appd run` returns when the session ends, but the page goes on to report (e.g.
    // after a `sessionend` test): wait for the report, or for every process of the run to end.
    let outcome = loop {
        if appd_exit.is_none() {
            appd_exit = child.try_wait().map_err(|e| error(format!("cannot wait for weft-appd: {e}")))?;
        }
        if let Ok(report) = parse_report(&fs::read_to_string(&report_path).unwrap_or_default()) {
            break Ok(report);
        }
        if appd_exit.is_some() && !group_alive(pgid) {
            break Err(false);
        }
        if Instant::now() >= deadline {
            break Err(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    kill_group(pgid);
    if appd_exit.is_none() {
        appd_exit = child.wait().ok();
    }
    // Nothing of the run may outlive it: this process is their subreaper, so every process of
    // the group, orphaned or not, is reaped here once SIGKILL has landed.
    reap_group(pgid);
    if group_alive(pgid) {
        return Err(error(format!("processes of the run (process group {pgid}) survived SIGKILL")));
    }
    outcome.or_else(|timed_out| {
        // One last look: the report may have landed as the processes ended.
        let problem = match parse_report(&fs::read_to_string(&report_path).unwrap_or_default()) {
            Ok(report) => return Ok(report),
            Err(problem) => problem,
        };
        let tail = log_tail(&log_path, 25);
        let exit = appd_exit.map_or("still running".to_owned(), |s| s.to_string());
        Err(if timed_out {
            (
                "TIMEOUT".into(),
                format!("no results within {} s (weft-appd: {exit}); log tail:\n{tail}", config.timeout.as_secs()),
            )
        } else {
            ("CRASH".into(), format!("{problem}; weft-appd exited with {exit}; log tail:\n{tail}"))
        })
    })
}

/// Makes this process the subreaper of its descendants: processes the runs orphan (when appd
/// exits before its children) are reparented here instead of to init, so [`reap_group`] can
/// wait for them. Call once, before the first run.
pub fn become_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Waits for every process of the group to exit and reaps it (they are our children or, as
/// orphans, reparented to us by [`become_subreaper`]).
fn reap_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own process group's children; `status` is a valid out pointer.
        let pid = unsafe { libc::waitpid(-pgid, &mut status, 0) };
        if pid <= 0 {
            return; // ECHILD: none left (EINTR: try once more on the next call site)
        }
    }
}

/// Whether any process of the run's process group is still alive.
fn group_alive(pgid: u32) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 only checks that the group exists; no memory is touched.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// SIGKILLs the run's process group (appd, the core host, the shell and its content
/// processes), whatever state it is in.
fn kill_group(pid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on the process group we created for this run; no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Builds the throwaway app for `test` in `app` (see the module docs).
fn package(config: &RunnerConfig, test: &Path, app: &Path) -> std::io::Result<()> {
    let ui = app.join("ui");
    fs::create_dir_all(&ui)?;
    fs::copy(config.echo_app.join("weft.toml"), app.join("weft.toml"))?;
    fs::copy(config.echo_app.join("core.wasm"), app.join("core.wasm"))?;
    if let Some(dir) = test.parent() {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            if path.is_file() {
                fs::copy(&path, ui.join(&name))?;
            } else if path.is_dir() && matches!(name.to_str(), Some("resources" | "support")) {
                copy_dir(&path, &ui.join(&name))?;
            }
        }
    }
    fs::copy(test, ui.join("index.html"))?;
    let resources = ui.join("resources");
    fs::create_dir_all(&resources)?;
    for file in HARNESS_FILES {
        fs::copy(config.harness_dir.join(file), resources.join(file))?;
    }
    fs::write(resources.join("testharnessreport.js"), testharnessreport_js(config.timeout))?;
    // Servo's fetch() has no file: support, so the IDL also comes as a script.
    let idl = fs::read_to_string(&config.idl)?;
    fs::write(resources.join("weft-channel.webidl"), &idl)?;
    let as_js = serde_json::to_string(&idl).map_err(std::io::Error::other)?;
    fs::write(resources.join("weft-channel.webidl.js"), format!("self.WEFT_CHANNEL_IDL = {as_js};\n"))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else if path.is_file() {
            fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The wptreport for a finished run.
pub fn wptreport(time_start: u64, results: Vec<TestResult>) -> WptReport {
    WptReport {
        run_info: serde_json::json!({
            "product": "weft-shell",
            "browser_version": "servo 0.7",
            "os": std::env::consts::OS,
            "processor": std::env::consts::ARCH,
            "headless": true,
            "debug": cfg!(debug_assertions),
        }),
        time_start,
        time_end: now_ms(),
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_means_its_html_files_outside_resources() {
        let dir = tempfile::tempdir().expect("tmp");
        for f in ["b.html", "a.html", "notes.txt", "resources/helper.html", "sub/c.html"] {
            let path = dir.path().join(f);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, "").expect("write");
        }
        let found = collect_tests(&[dir.path().to_path_buf()]).expect("tests");
        let root = dir.path().canonicalize().expect("canonical");
        let names: Vec<_> =
            found.iter().map(|p| p.strip_prefix(&root).expect("inside").display().to_string()).collect();
        assert_eq!(names, ["a.html", "b.html", "sub/c.html"]);
        assert!(collect_tests(&[dir.path().join("nope")]).is_err());
    }

    #[test]
    fn the_report_script_logs_the_markers() {
        let js = testharnessreport_js(Duration::from_secs(60));
        assert!(js.contains("\"WEFT-RESULT \" + stringify") && js.contains("log(\"WEFT-DONE\")"));
        assert!(js.contains("harnessTimeout(), 55000"));
    }
}
