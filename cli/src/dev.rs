//! `weft dev [DIR]`: build, run, and follow the app's files.
//!
//! The app runs as `weft run` runs it (`weft-appd run` with the shell), with the shell's dev
//! mode: a change under `ui/` reloads the page in place, the session kept, and the core (told
//! a new page attached) sends its state again. `weft dev` itself follows the core's crate
//! (`core/`) and the manifest (`weft.toml`, `schemas/`), and **carries the core's state over**
//! both ways below:
//!
//! - A core change rebuilds the core (function names kept) and **swaps it in the same window**:
//!   the running `weft-appd` is asked to `swap-core` (its control socket). The new core replays
//!   the session's UI events and takes the session over; the page never reloads. If the new core
//!   fails to take over, the old one keeps the session, and the error is printed and shown.
//! - A manifest change re-checks the package and restarts the app. Each run is recorded. The old
//!   run is ended the orderly way, so its recording completes. The new run replays the UI
//!   events of every earlier run into its core before its page attaches (`weft-appd run
//!   --carry-state-from`). appd says plainly, and starts afresh, when an event no longer fits
//!   the app.
//!
//! When the build or the check fails, the errors are printed and shown over the page (the
//! shell's `--dev-status`, a file this process writes). The running app keeps going as it was
//! until a fix builds.
//!
//! The app runs in a process group of its own, which `weft dev` ends when it stops; its files
//! (the status file, the recordings) live in a directory of its own, removed when it stops.

use crate::core_build::{self, Profile};
use crate::ViewOptions;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::mpsc;
use std::time::Duration;
use weft_appd::control::{self, Request};

/// What the loop waits for.
enum Event {
    /// A file of the core's crate changed.
    Core(PathBuf),
    /// The manifest or a schema file changed.
    Manifest(PathBuf),
    /// The app run of this generation exited.
    Exited(u64, Option<i32>),
    /// `weft dev` was asked to stop (this signal).
    Interrupted(i32),
}

/// How long the app's files must be quiet before a change is acted on.
const SETTLE: Duration = Duration::from_millis(150);

/// How long an orderly stop of a run may take before its processes are ended anyway.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// `weft dev`'s own files: the status file the shell shows over the page, and the runs'
/// recordings. Removed when `weft dev` stops.
struct DevDir(PathBuf);

impl DevDir {
    fn create() -> std::io::Result<DevDir> {
        let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("weft-dev-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("status"), "")?;
        Ok(DevDir(dir))
    }

    fn status_file(&self) -> PathBuf {
        self.0.join("status")
    }

    fn recording(&self, generation: u64) -> PathBuf {
        self.0.join(format!("run-{generation}.jsonl"))
    }

    /// The runs' `weft-appd` runtime directory (each run's control socket is in it).
    fn appd_runtime(&self) -> PathBuf {
        self.0.join("appd")
    }

    /// Shows `problem` over the page (empty: nothing).
    fn show(&self, problem: &str) {
        if let Err(e) = std::fs::write(self.status_file(), problem) {
            eprintln!("weft: cannot write {}: {e}", self.status_file().display());
        }
    }
}

impl Drop for DevDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One run of the app (`weft-appd run`), in its own process group.
struct AppRun {
    generation: u64,
    /// `weft-appd`'s pid, which is also the group's id.
    pid: i32,
}

impl AppRun {
    /// Ends the whole group at once.
    fn kill_group(&self) {
        // SAFETY: signals the process group this run created (its leader's pid is its id).
        unsafe {
            libc::kill(-self.pid, libc::SIGTERM);
        }
    }

    /// Asks `weft-appd` to end its session the orderly way (its recording completes), waits
    /// for it to exit (at most STOP_WAIT; other events meanwhile are kept in `pending`), then
    /// ends what is left of the group (a window).
    fn stop(self, events: &mpsc::Receiver<Event>, pending: &mut VecDeque<Event>) {
        // SAFETY: signals the run's own weft-appd process.
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + STOP_WAIT;
        loop {
            match events.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(Event::Exited(run, _)) if run == self.generation => break,
                Ok(other) => pending.push_back(other),
                Err(_) => {
                    eprintln!("weft: the app did not stop in time; ending it");
                    break;
                }
            }
        }
        self.kill_group();
    }
}

/// Sends `Event::Interrupted` when `weft dev` gets SIGINT, SIGTERM or SIGHUP.
fn follow_signals(tx: mpsc::Sender<Event>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new().name("weft-dev-signals".into()).spawn(move || {
        for signal in signals.forever() {
            if tx.send(Event::Interrupted(signal)).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

/// Runs the app under `weft dev` until its window is closed (or, headless with a screenshot,
/// until the screenshot is taken), or `weft dev` is interrupted. `devtools`: Servo's devtools
/// server on this loopback port.
pub fn dev(app_dir: &Path, view: &ViewOptions, devtools: Option<u16>) -> ExitCode {
    if view.console() {
        return crate::fail("weft dev shows the page; use weft run --console for the terminal UI");
    }
    if let Err(e) = crate::can_open(app_dir, view) {
        return crate::fail(e);
    }
    let files = match DevDir::create() {
        Ok(files) => files,
        Err(e) => return crate::fail(format!("cannot make weft dev's directory: {e}")),
    };
    let (tx, events) = mpsc::channel();
    if let Err(e) = follow_signals(tx.clone()) {
        return crate::fail(format!("cannot follow Ctrl-C: {e}"));
    }
    let _watch = match watch_sources(app_dir, tx.clone()) {
        Ok(watch) => watch,
        Err(e) => return crate::fail(format!("cannot watch the app's files: {e}")),
    };
    let mut shell_extra =
        vec!["--watch-ui".to_owned(), "--dev-status".to_owned(), files.status_file().display().to_string()];
    if let Some(port) = devtools {
        shell_extra.extend(["--devtools".to_owned(), port.to_string()]);
    }
    let launcher = Launcher { app_dir, view, shell_extra, files: &files, tx, started_once: Default::default() };

    let mut generation = 0;
    // The recordings of the runs so far, whose UI events a new core replays.
    let mut history: Vec<PathBuf> = Vec::new();
    let mut running = prepare(app_dir, &files).then(|| launcher.start(generation, &history)).flatten();
    if running.is_none() {
        eprintln!("weft: waiting for a fix (edit and save; Ctrl-C to stop)");
    }
    // Events taken off the channel while waiting for something else, handled next, in order.
    let mut pending: VecDeque<Event> = VecDeque::new();
    'events: loop {
        let event = match pending.pop_front() {
            Some(event) => event,
            None => match events.recv() {
                Ok(event) => event,
                Err(_) => return ExitCode::FAILURE,
            },
        };
        let (what, mut manifest_changed) = match event {
            Event::Exited(run, code) if running.as_ref().is_some_and(|r| r.generation == run) => {
                return crate::exit_code(code);
            }
            Event::Exited(..) => continue,
            Event::Interrupted(signal) => {
                if let Some(run) = running.take() {
                    run.kill_group();
                }
                return ExitCode::from(u8::try_from(128 + signal).unwrap_or(130));
            }
            Event::Core(path) => (path, false),
            Event::Manifest(path) => (path, true),
        };
        // Changes arriving together (an editor's save: a temporary file, then a rename; a
        // checkout) make one rebuild: it starts once the files have been quiet for SETTLE.
        while let Ok(more) = events.recv_timeout(SETTLE) {
            match more {
                Event::Core(_) => {}
                Event::Manifest(_) => manifest_changed = true,
                // The app closed or weft dev was interrupted meanwhile: that comes first.
                stop @ (Event::Exited(..) | Event::Interrupted(_)) => {
                    pending.push_front(stop);
                    continue 'events;
                }
            }
        }
        let shown = what.strip_prefix(app_dir).unwrap_or(&what).display().to_string();
        let doing =
            if manifest_changed { "checking the manifest and rebuilding the core" } else { "rebuilding the core" };
        eprintln!("weft: {shown} changed: {doing}");
        // The core is rebuilt after a manifest change too: its message types come from it.
        if !prepare(app_dir, &files) {
            let keeps =
                if running.is_some() { "the running app keeps its last good version" } else { "nothing runs yet" };
            eprintln!("weft: {keeps}; waiting for a fix");
            continue;
        }
        if let Some(run) = running.as_ref().filter(|_| !manifest_changed) {
            match swap_core(&files, run) {
                Ok(said) => {
                    eprintln!("weft: {said}");
                    continue;
                }
                Err(SwapFailed::Refused(why)) => {
                    eprintln!("weft: {why}; the running app keeps its last good version; waiting for a fix");
                    files.show(&format!("weft dev: {why}\n\nThe app keeps its last good version; save a fix."));
                    continue;
                }
                Err(SwapFailed::NoAnswer(why)) => eprintln!("weft: cannot swap the core in place ({why})"),
            }
        }
        if let Some(run) = running.take() {
            eprintln!("weft: restarting the app; its core's state is carried over");
            let recording = files.recording(run.generation);
            run.stop(&events, &mut pending);
            if recording.is_file() {
                history.push(recording);
            }
        }
        generation += 1;
        running = launcher.start(generation, &history);
    }
}

/// Watches the core's sources, its manifest and its WIT (not Cargo.lock, which a build
/// rewrites), and the app's manifest and schemas.
fn watch_sources(app_dir: &Path, tx: mpsc::Sender<Event>) -> std::io::Result<weft_watch::Watch> {
    let core_dir = app_dir.join("core");
    let mut watched = vec![app_dir.join(crate::MANIFEST)];
    if app_dir.join("schemas").is_dir() {
        watched.push(app_dir.join("schemas"));
    }
    for part in ["src", "wit", "Cargo.toml"] {
        if core_dir.join(part).exists() {
            watched.push(core_dir.join(part));
        }
    }
    weft_watch::Watch::start(&watched, move |path| {
        let event =
            if path.starts_with(&core_dir) { Event::Core(path.to_owned()) } else { Event::Manifest(path.to_owned()) };
        let _ = tx.send(event);
    })
}

/// Starts runs of the app.
struct Launcher<'a> {
    app_dir: &'a Path,
    view: &'a ViewOptions,
    shell_extra: Vec<String>,
    files: &'a DevDir,
    tx: mpsc::Sender<Event>,
    /// A run has started (the `--eval` scripts act in the first one only).
    started_once: std::cell::Cell<bool>,
}

impl Launcher<'_> {
    /// Starts run `generation` in a process group of its own, recorded, replaying `history`'s
    /// UI events into its core; its exit is sent as `Event::Exited`.
    fn start(&self, generation: u64, history: &[PathBuf]) -> Option<AppRun> {
        let mut appd_args: Vec<String> = vec![
            "--runtime-dir".to_owned(),
            self.files.appd_runtime().display().to_string(),
            "--keep-ui-history".to_owned(),
            "--record".to_owned(),
            self.files.recording(generation).display().to_string(),
        ];
        for recording in history {
            appd_args.extend(["--carry-state-from".to_owned(), recording.display().to_string()]);
        }
        // The --eval scripts act on the first run only: later runs carry the state they made.
        let mut view = self.view.clone();
        if self.started_once.get() {
            view.headless = view.headless();
            view.eval.clear();
        }
        let mut command = match crate::app_command(self.app_dir, &view, &appd_args, &self.shell_extra) {
            Ok(command) => command,
            Err(e) => {
                eprintln!("weft: {e}");
                return None;
            }
        };
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child: Child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                eprintln!("weft: cannot start weft-appd: {e}");
                return None;
            }
        };
        let pid = i32::try_from(child.id()).unwrap_or(0);
        let exited = self.tx.clone();
        let waiter = std::thread::Builder::new().name(format!("weft-dev-run-{generation}")).spawn(move || {
            let code = child.wait().ok().and_then(|status| status.code());
            let _ = exited.send(Event::Exited(generation, code));
        });
        if waiter.is_err() {
            eprintln!("weft: cannot follow the app's run");
        }
        self.started_once.set(true);
        Some(AppRun { generation, pid })
    }
}

/// Why the core was not swapped in place.
enum SwapFailed {
    /// The new core did not take over (the running one keeps the session): why.
    Refused(String),
    /// The run did not answer (it is starting or ending): the app is restarted instead.
    NoAnswer(String),
}

/// Asks `run` to swap its core for the one just built; says how it went.
fn swap_core(files: &DevDir, run: &AppRun) -> Result<String, SwapFailed> {
    let runtime = files.appd_runtime().join(format!("run-{}", run.pid));
    let status = control::request(&runtime, &Request::Status).map_err(|e| SwapFailed::NoAnswer(e.to_string()))?;
    let open = status["sessions"].as_array().and_then(|all| all.iter().find(|s| s["state"] == "open"));
    let Some(session_id) = open.and_then(|s| s["session_id"].as_str()) else {
        return Err(SwapFailed::NoAnswer("its session is not open".into()));
    };
    let request = Request::SwapCore { session_id: session_id.to_owned() };
    let answer = control::request(&runtime, &request).map_err(|e| SwapFailed::NoAnswer(e.to_string()))?;
    if answer["ok"] != true {
        return Err(SwapFailed::Refused(answer["error"].as_str().unwrap_or("the swap failed").to_owned()));
    }
    let swapped = &answer["swapped"];
    Ok(match swapped["not_carried"].as_str() {
        None => format!(
            "swapped the core in the same window; its state carried over ({} UI events replayed)",
            swapped["carried_ui_events"]
        ),
        Some(why) => format!("swapped the core in the same window; it starts afresh ({why})"),
    })
}

/// Builds the core and checks the package; prints what is wrong and shows it
/// over the page (`status`), or clears it. `true` when the app can be (re)started.
fn prepare(app_dir: &Path, status: &DevDir) -> bool {
    match build_and_check(app_dir) {
        Ok(()) => {
            status.show("");
            true
        }
        Err(problem) => {
            status.show(&format!("weft dev: {problem}\n\nThe app keeps its last good version; save a fix."));
            false
        }
    }
}

/// The core's build and the package's check; `Err` says what is wrong (already printed). A
/// core that does not build because the manifest is broken (its message types come from it)
/// gets the check's report, which says what is wrong with the manifest.
fn build_and_check(app_dir: &Path) -> Result<(), String> {
    if let Err(e) = core_build::build_core(app_dir, Profile::Dev) {
        manifest_check(app_dir)?;
        eprintln!("weft: {e}");
        return Err(match e {
            core_build::BuildError::Failed(_, diagnostics) => format!("the core did not build\n\n{diagnostics}"),
            other => other.to_string(),
        });
    }
    refresh_page_types(app_dir);
    check(app_dir)
}

/// Writes the page's declarations again if the app has them (`weft types`), so that they follow
/// the manifest; a failure is said and the loop goes on (`weft check` then names the stale file).
fn refresh_page_types(app_dir: &Path) {
    if crate::types::has_page_types(app_dir) {
        if let Err(e) = crate::types::write_page_types(app_dir) {
            eprintln!("weft: the page's declarations were not updated: {e}");
        }
    }
}

/// The manifest's problems, if it has any (the core not considered: it did not build).
fn manifest_check(app_dir: &Path) -> Result<(), String> {
    let Err(errors) = weft_appd::manifest::AppPackage::load_declarations(app_dir) else {
        return Ok(());
    };
    let mut said = format!("{}: {} problem(s)\n", app_dir.display(), errors.0.len());
    for problem in &errors.0 {
        said.push_str(&format!("  {problem}\n"));
    }
    eprint!("{said}");
    Err(format!("the package has problems\n\n{said}"))
}

/// `weft-appd check` of the package; `Err` is its report (already printed).
fn check(app_dir: &Path) -> Result<(), String> {
    let appd = crate::sibling("weft-appd")?;
    match Command::new(appd).arg("check").arg(app_dir).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            eprint!("{said}");
            Err(format!("the package has problems\n\n{said}"))
        }
        Err(e) => {
            eprintln!("weft: cannot run weft-appd check: {e}");
            Err(format!("cannot run weft-appd check: {e}"))
        }
    }
}
