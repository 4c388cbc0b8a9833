//! `weft dev [DIR]`: build, run, and follow the app's files.
//!
//! The app runs as `weft run` runs it (`weft-appd run` with the shell), with the shell's
//! `--watch-ui`: a change under `ui/` reloads the page in place, the session kept, and the
//! core (told a new page attached) sends its state again. `weft dev` itself follows the core's
//! crate (`core/`) and the manifest (`weft.toml`, `schemas/`): a change rebuilds the core
//! (function names kept) or re-checks the manifest and, when that succeeds, restarts the app
//! with it; when it fails, the errors are printed, shown over the page (the shell's
//! `--dev-status`, a file this process writes), and the running app keeps going as it was
//! until a fixed version builds. The app runs in a process group of its own, which `weft dev`
//! ends on a restart and when it is interrupted.

use crate::core_build::{self, Profile};
use crate::ViewOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;

/// What the loop waits for.
enum Event {
    /// A file of the core's crate changed.
    Core(PathBuf),
    /// The manifest or a schema file changed.
    Manifest(PathBuf),
    /// The app run of this generation exited.
    Exited(u64, Option<i32>),
}

/// How long the app's files must be quiet before a change is acted on.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

/// The process group of the running app, for the interrupt handler (0: none).
static APP_GROUP: AtomicI32 = AtomicI32::new(0);

/// The status file's path, for the interrupt handler to remove.
static STATUS_FILE: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();

extern "C" fn on_interrupt(signal: libc::c_int) {
    let group = APP_GROUP.load(Ordering::SeqCst);
    // SAFETY: kill, unlink and _exit are async-signal-safe; the path was set before the
    // handler was installed and is never changed.
    unsafe {
        if group > 0 {
            libc::kill(-group, libc::SIGTERM);
        }
        if let Some(path) = STATUS_FILE.get() {
            libc::unlink(path.as_ptr());
        }
        libc::_exit(128 + signal);
    }
}

/// The file the shell shows over the page: `weft dev`'s current errors, empty when none.
struct StatusFile(PathBuf);

impl StatusFile {
    fn create() -> std::io::Result<StatusFile> {
        let dir = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let path = dir.join(format!("weft-dev-{}.status", std::process::id()));
        std::fs::write(&path, "")?;
        if let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) {
            let _ = STATUS_FILE.set(c_path);
        }
        Ok(StatusFile(path))
    }

    fn show(&self, problem: &str) {
        if let Err(e) = std::fs::write(&self.0, problem) {
            eprintln!("weft: cannot write {}: {e}", self.0.display());
        }
    }
}

impl Drop for StatusFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Ends the app's process group when `weft dev` is interrupted or terminated.
fn forward_interrupts() {
    let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installs a handler that only calls async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
    }
}

/// One run of the app (`weft-appd run`) in its own process group.
struct AppRun {
    child_pid: i32,
}

impl AppRun {
    fn stop(self) {
        // SAFETY: signals the process group this run created (its pid is the group's id).
        unsafe {
            libc::kill(-self.child_pid, libc::SIGTERM);
        }
        APP_GROUP.store(0, Ordering::SeqCst);
    }
}

/// Runs the app under `weft dev` until its window is closed (or, headless with a screenshot,
/// until the screenshot is taken), or `weft dev` is interrupted.
/// `devtools`: Servo's devtools server on this loopback port.
pub fn dev(app_dir: &Path, view: &ViewOptions, devtools: Option<u16>) -> ExitCode {
    if view.console() {
        return crate::fail("weft dev shows the page; use weft run --console for the terminal UI");
    }
    if let Err(e) = crate::can_open(app_dir, view) {
        return crate::fail(e);
    }
    let status = match StatusFile::create() {
        Ok(status) => status,
        Err(e) => return crate::fail(format!("cannot write weft dev's status file: {e}")),
    };
    forward_interrupts();
    let (tx, events) = mpsc::channel();
    let core_dir = app_dir.join("core");
    let mut watched = vec![app_dir.join(crate::MANIFEST)];
    if app_dir.join("schemas").is_dir() {
        watched.push(app_dir.join("schemas"));
    }
    // The core's sources, its manifest and its WIT; not Cargo.lock, which a build rewrites.
    for part in ["src", "wit", "Cargo.toml"] {
        if core_dir.join(part).exists() {
            watched.push(core_dir.join(part));
        }
    }
    let changes = tx.clone();
    let core_prefix = core_dir.clone();
    let _watch = match weft_watch::Watch::start(&watched, move |path| {
        let event = if path.starts_with(&core_prefix) {
            Event::Core(path.to_owned())
        } else {
            Event::Manifest(path.to_owned())
        };
        let _ = changes.send(event);
    }) {
        Ok(watch) => watch,
        Err(e) => return crate::fail(format!("cannot watch the app's files: {e}")),
    };

    let mut generation = 0;
    let shell_extra: Vec<String> = ["--watch-ui".to_owned(), "--dev-status".to_owned(), status.0.display().to_string()]
        .into_iter()
        .chain(devtools.into_iter().flat_map(|port| ["--devtools".to_owned(), port.to_string()]))
        .collect();
    let mut running =
        prepare(app_dir, true, &status).then(|| start(app_dir, view, &shell_extra, generation, &tx)).flatten();
    if running.is_none() {
        eprintln!("weft: waiting for a fix (edit and save; Ctrl-C to stop)");
    }
    while let Ok(event) = events.recv() {
        let (what, rebuild) = match event {
            Event::Exited(run, code) if run == generation => {
                APP_GROUP.store(0, Ordering::SeqCst);
                return ExitCode::from(code.and_then(|c| u8::try_from(c).ok()).unwrap_or(1));
            }
            Event::Exited(..) => continue,
            Event::Core(path) => (path, true),
            Event::Manifest(path) => (path, false),
        };
        // Changes arriving together (an editor's save: a temporary file, then a rename; a
        // checkout) make one rebuild: it starts once the files have been quiet for SETTLE.
        let mut rebuild = rebuild;
        while let Ok(more) = events.recv_timeout(SETTLE) {
            match more {
                Event::Core(_) => rebuild = true,
                Event::Manifest(_) => {}
                Event::Exited(run, code) if run == generation => {
                    APP_GROUP.store(0, Ordering::SeqCst);
                    return ExitCode::from(code.and_then(|c| u8::try_from(c).ok()).unwrap_or(1));
                }
                Event::Exited(..) => {}
            }
        }
        let shown = what.strip_prefix(app_dir).unwrap_or(&what).display().to_string();
        eprintln!("weft: {shown} changed: {}", if rebuild { "rebuilding the core" } else { "checking the manifest" });
        if !prepare(app_dir, rebuild, &status) {
            let keeps =
                if running.is_some() { "the running app keeps its last good version" } else { "nothing runs yet" };
            eprintln!("weft: {keeps}; waiting for a fix");
            continue;
        }
        if let Some(run) = running.take() {
            eprintln!("weft: restarting the app (the core starts afresh)");
            run.stop();
        }
        generation += 1;
        running = start(app_dir, view, &shell_extra, generation, &tx);
    }
    ExitCode::FAILURE
}

/// Checks the manifest and, if `build`, builds the core; prints what is wrong and shows it
/// over the page (`status`), or clears it. `true` when the app can be (re)started.
fn prepare(app_dir: &Path, build: bool, status: &StatusFile) -> bool {
    match check_and_build(app_dir, build) {
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

/// The build (if `build`) and the check; `Err` says what is wrong (already printed).
fn check_and_build(app_dir: &Path, build: bool) -> Result<(), String> {
    if build {
        if let Err(e) = core_build::build_core(app_dir, Profile::Dev) {
            eprintln!("weft: {e}");
            return Err(match e {
                core_build::BuildError::Failed(_, diagnostics) => format!("the core did not build\n\n{diagnostics}"),
                other => other.to_string(),
            });
        }
    }
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

/// Starts the app in a process group of its own; its exit is sent as `Event::Exited`.
fn start(
    app_dir: &Path,
    view: &ViewOptions,
    shell_extra: &[String],
    generation: u64,
    tx: &mpsc::Sender<Event>,
) -> Option<AppRun> {
    let mut command = match crate::app_command(app_dir, view, None, shell_extra) {
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
    let child_pid = i32::try_from(child.id()).unwrap_or(0);
    APP_GROUP.store(child_pid, Ordering::SeqCst);
    let exited = tx.clone();
    let waiter = std::thread::Builder::new().name(format!("weft-dev-run-{generation}")).spawn(move || {
        let code = child.wait().ok().and_then(|status| status.code());
        let _ = exited.send(Event::Exited(generation, code));
    });
    if waiter.is_err() {
        eprintln!("weft: cannot follow the app's run");
    }
    Some(AppRun { child_pid })
}
