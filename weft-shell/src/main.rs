//! `weft-shell`: the UI endpoint of a WEFT session, launched by `weft-appd` with the session's
//! bootstrap on stdin and the app directory as its last argument.
//!
//! Modes (parsed once into [`Mode`]):
//! - `--headless [--screenshot PNG] [--eval JS]... [--size WxH]`: renders `ui/index.html` with
//!   Servo and software GL, no display needed; with `--screenshot`, writes a PNG once the page
//!   has settled and closes the app.
//!   `--report FILE` copies the page's `WEFT-RESULT …` console lines to FILE and
//!   `--until-console LINE` closes the app once the page logs LINE (for tests).
//!   `--first-paint FILE` writes the time of the first frame painted after the page took its
//!   first state update (cold-launch measurement).
//!   `--probe FILE` (benchmarks only, with `--until-console`) writes when the page is done, as
//!   JSON, where the shell's share of each lone round trip went (`weft_servo_embedding::probe`).
//!   `--watch-ui` (development only; `weft dev` passes it, with or without `--headless`)
//!   reloads the page when a file under the app's `ui/` changes, keeping the session;
//!   `--dev-status FILE` (development only; `weft dev`) shows FILE's text, when not empty, over
//!   the page (build and check errors);
//!   `--devtools PORT` (development only; `weft dev --devtools`) runs Servo's devtools server
//!   on 127.0.0.1:PORT for Firefox's remote debugging.
//!   `--test-driver` gives the page `weft_test_driver` (kill or trap the core, close the app)
//!   when appd launched the session with `--test-control`; `scripts/wpt` uses both.
//! - `--console [--script '<type> <json>']...`: a terminal UI over the same protocol.
//! - default: the Servo window (winit, X11 or Wayland); needs a display.
//! - `--bench-page FILE [--report FILE] [--until-console LINE] [--timeout S]`: benchmarks only
//!   (`weft-bench`'s websocket-servo path): FILE in headless Servo with no session, no binding
//!   and no load policy. Takes no app directory; `weft-appd` never starts the shell this way.

mod confine;
mod confinement_probe;
mod console;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use weft_servo_embedding::bridge::Bridge;
use weft_servo_embedding::headless::{self, HeadlessOptions};
use weft_servo_embedding::probe::Probe;
use weft_servo_embedding::view::DevOptions;

/// What this process does, from the command line.
enum Mode {
    Console { script: Vec<String> },
    Headless { options: HeadlessOptions, app_dir: PathBuf, test_driver: bool },
    Window { app_dir: PathBuf, dev: DevOptions },
    BenchPage { page: PathBuf, options: HeadlessOptions },
}

fn main() -> ExitCode {
    // Servo re-executes this binary for its content processes: that comes before everything.
    if weft_servo_embedding::run_content_process_if_asked() {
        return ExitCode::SUCCESS;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--confinement-probe") {
        return confinement_probe::run(&args[1..]);
    }
    let mode = match parse(std::env::args().skip(1).collect()) {
        Ok(mode) => mode,
        Err(problem) => return usage(&problem),
    };
    use weft_ipc::log_filter;
    tracing_subscriber::fmt()
        .with_env_filter(log_filter::env_filter())
        .with_ansi(log_filter::colour_stderr())
        .with_writer(std::io::stderr)
        .init();
    let result = match mode {
        Mode::Console { script } => console::run(script),
        Mode::Headless { options, app_dir, test_driver } => run_headless(&app_dir, &options, test_driver),
        Mode::BenchPage { page, options } => weft_servo_embedding::bench_page::run(
            &page,
            options.report.as_deref(),
            options.done_marker.as_deref().unwrap_or("WEFT-DONE"),
            options.timeout,
        )
        .map(|()| ExitCode::SUCCESS),
        Mode::Window { app_dir, dev } => {
            if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
                run_window(&app_dir, dev)
            } else {
                Err("no display (DISPLAY / WAYLAND_DISPLAY unset): use --headless".into())
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weft-shell: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: Vec<String>) -> Result<Mode, String> {
    let mut script = Vec::new();
    let mut options = HeadlessOptions::default();
    let (mut console, mut headless, mut test_driver) = (false, false, false);
    let mut app_dir = None;
    let mut bench_page = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--console" => console = true,
            "--headless" => headless = true,
            "--script" => script.push(value("--script")?),
            "--eval" => options.evals.push(value("--eval")?),
            "--screenshot" => options.screenshot = Some(PathBuf::from(value("--screenshot")?)),
            "--report" => options.report = Some(PathBuf::from(value("--report")?)),
            "--until-console" => options.done_marker = Some(value("--until-console")?),
            "--first-paint" => options.first_paint = Some(PathBuf::from(value("--first-paint")?)),
            "--test-driver" => test_driver = true,
            "--watch-ui" => options.dev.watch_ui = true,
            "--dev-status" => options.dev.status_file = Some(PathBuf::from(value("--dev-status")?)),
            "--devtools" => {
                let port = value("--devtools")?;
                options.dev.devtools_port =
                    Some(port.parse().map_err(|_| format!("--devtools takes a port, not {port:?}"))?);
            }
            "--probe" => options.probe = Some(PathBuf::from(value("--probe")?)),
            "--bench-page" => bench_page = Some(PathBuf::from(value("--bench-page")?)),
            "--size" => {
                let v = value("--size")?;
                let (w, h) = v.split_once('x').ok_or("--size is WIDTHxHEIGHT")?;
                options.size = (w.parse().map_err(|_| "bad width")?, h.parse().map_err(|_| "bad height")?);
            }
            "--timeout" => {
                let secs: u64 = value("--timeout")?.parse().map_err(|_| "bad --timeout")?;
                options.timeout = Duration::from_secs(secs);
            }
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => app_dir = Some(PathBuf::from(other)),
        }
    }
    if let Some(page) = bench_page {
        if app_dir.is_some() || console || headless || test_driver {
            return Err("--bench-page runs a page alone: no app directory or other mode".into());
        }
        return Ok(Mode::BenchPage { page, options });
    }
    let app_dir = app_dir.ok_or("missing the app directory (weft-appd appends it)")?;
    if test_driver && !headless {
        return Err("--test-driver needs --headless".into());
    }
    if options.probe.is_some() && (!headless || options.done_marker.is_none()) {
        return Err("--probe needs --headless and --until-console".into());
    }
    Ok(if console {
        Mode::Console { script }
    } else if headless {
        Mode::Headless { options, app_dir, test_driver }
    } else {
        Mode::Window { app_dir, dev: options.dev }
    })
}

/// The app's `ui/` (canonical: the load policy compares against it).
fn ui_dir(app_dir: &std::path::Path) -> Result<PathBuf, String> {
    Ok(app_dir.canonicalize().map_err(|e| format!("{}: {e}", app_dir.display()))?.join("ui"))
}

/// Confines the shell (before any thread starts), then joins the session (bootstrap on stdin)
/// and reports the confinement to appd. The private directory lives as long as the bridge.
fn confine_and_join(needs: confine::Needs, probe: Option<Arc<Probe>>) -> Result<(Bridge, confine::PrivateDir), String> {
    let (confinement, private) = confine::confine(&needs).map_err(|e| format!("cannot confine the shell: {e}"))?;
    let bootstrap = weft_ipc::transport::Bootstrap::read_from(std::io::stdin().lock()).map_err(|e| e.to_string())?;
    let bridge = Bridge::connect(&bootstrap, probe).map_err(|e| format!("cannot join the session: {e}"))?;
    bridge.report_confinement(confinement);
    Ok((bridge, private))
}

fn exit_code(ended: Option<String>) -> ExitCode {
    match ended.as_deref() {
        Some("app-closed") | None => ExitCode::SUCCESS,
        Some(_) => ExitCode::FAILURE,
    }
}

fn run_headless(app_dir: &std::path::Path, options: &HeadlessOptions, test_driver: bool) -> Result<ExitCode, String> {
    let probe = options.probe.as_ref().map(|_| Arc::new(Probe::default()));
    let ui_dir = ui_dir(app_dir)?;
    let outputs = [&options.screenshot, &options.report, &options.first_paint, &options.probe];
    let needs = confine::Needs {
        ui_dir: ui_dir.clone(),
        outputs: outputs.into_iter().flatten().cloned().collect(),
        inputs: options.dev.status_file.iter().cloned().collect(),
        tcp_bind: options.dev.devtools_port,
        terminal: false,
    };
    let (bridge, _private) = confine_and_join(needs, probe)?;
    let bridge = if test_driver { bridge.with_test_driver() } else { bridge };
    Ok(exit_code(headless::run(&ui_dir, bridge, options)?))
}

fn run_window(app_dir: &std::path::Path, dev: DevOptions) -> Result<ExitCode, String> {
    let ui_dir = ui_dir(app_dir)?;
    let display = weft_servo_embedding::window::open_display()?;
    let needs = confine::Needs {
        ui_dir: ui_dir.clone(),
        inputs: dev.status_file.iter().cloned().collect(),
        tcp_bind: dev.devtools_port,
        ..confine::Needs::default()
    };
    let (bridge, _private) = confine_and_join(needs, None)?;
    let title = format!("{} (WEFT)", bridge.app_name());
    Ok(exit_code(weft_servo_embedding::window::run(display, &ui_dir, &title, bridge, dev)?))
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("weft-shell: {problem}");
    }
    eprintln!(
        "usage (launched by weft-appd): weft-shell [--headless [--screenshot PNG] [--eval JS]... [--size WxH] \
         [--timeout S] [--report FILE] [--until-console LINE] [--test-driver] [--probe FILE]] [--watch-ui] [--dev-status FILE] [--devtools PORT] \
         [--console [--script '<type> <json>']...] <app-dir>"
    );
    ExitCode::from(2)
}
