//! The `weft-appd` command line.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use weft_appd::control::{self, Request};
use weft_appd::inspect::InspectRequest;
use weft_appd::manifest::AppPackage;
use weft_appd::registry::Registry;
use weft_appd::replay::{Outcome, ReplayError, ReplayRequest};
use weft_appd::session::runner::{launch, SessionEnv};
use weft_appd::spawn::Spawner;
use weft_ipc::envelope::SessionId;

/// The WEFT app daemon: owns app sessions and brokers their message channels.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Runtime directory holding the control socket (default: $WEFT_RUNTIME_DIR,
    /// $XDG_RUNTIME_DIR/weft or /tmp/weft-<uid>).
    #[arg(long, global = true)]
    runtime_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon in the foreground. Prints `weft-appd ready <socket>` once listening.
    Serve {
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Start a session for an app (the daemon must be running).
    Launch {
        /// The app directory (with weft.toml, core.wasm, ui/).
        app_dir: PathBuf,
        /// The UI program and its arguments, instead of weft-shell (the app directory is appended).
        #[arg(long, num_args = 1.., allow_hyphen_values = true)]
        ui_command: Option<Vec<String>>,
        /// Record every message of the session into this file (JSON lines; the daemon writes
        /// it; a relative path is resolved against the current directory).
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Show sessions, queue depths, credits and counters.
    Status {
        /// Print the machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Follow a session's traffic and pressure, one line per interval, until it ends.
    Inspect {
        /// The session id or a unique prefix (default: the only live session).
        session_id: Option<String>,
        /// Milliseconds between lines.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Stop after this many lines.
        #[arg(long)]
        count: Option<u64>,
    },
    /// End a session.
    End {
        /// The session id.
        session_id: String,
    },
    /// Start a new core from the app's core.wasm and let it take the session over with the
    /// running core's state, the page untouched (if it fails, the running core keeps it).
    SwapCore {
        /// The session id.
        session_id: String,
    },
    /// End every session and stop the daemon.
    Shutdown,
    /// Run one app in the foreground: a private broker, the core, and the UI; exits when the
    /// session ends (exit code 0 for `app-closed`, 1 otherwise).
    Run {
        /// The app directory (with weft.toml, core.wasm, ui/).
        app_dir: PathBuf,
        /// Test mode: the UI may ask the broker to kill or trap the core (for `scripts/wpt`'s
        /// test driver). Never use it for a real app.
        #[arg(long)]
        test_control: bool,
        /// The UI program and its arguments, instead of weft-shell (the app directory is appended).
        #[arg(long, num_args = 1.., allow_hyphen_values = true)]
        ui_command: Option<Vec<String>>,
        /// Record every message of the session into this file (JSON lines).
        #[arg(long)]
        record: Option<PathBuf>,
        /// Replay the UI events of these recordings (earlier sessions, in order) into the core
        /// before the page sees it, its updates meanwhile discarded: the core starts with the
        /// state they built (`weft dev` across a rebuild). If an event no longer fits the app,
        /// nothing is carried and the reason is printed. Repeatable.
        #[arg(long, value_name = "RECORDING")]
        carry_state_from: Vec<PathBuf>,
        /// Keep the UI events the core is handed (up to 16 MiB), so that `swap-core` gives a
        /// new core the running one's state (`weft dev` runs apps so).
        #[arg(long)]
        keep_ui_history: bool,
    },
    /// Feed a recording's UI events to a fresh core and check its state updates match exactly
    /// (exit 0: `replay: match …`; 1: the first divergence; 2: the replay could not run).
    Replay {
        /// The recording (from `--record`).
        recording: PathBuf,
        /// The app directory (default: the recorded one).
        #[arg(long)]
        app: Option<PathBuf>,
        /// Another core.wasm to replay against (default: the app's).
        #[arg(long)]
        core: Option<PathBuf>,
    },
    /// Check an app package and print every problem precisely.
    Check {
        /// The app directory.
        app_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime_dir = cli.runtime_dir.clone().unwrap_or_else(control::default_runtime_dir);
    match cli.command {
        Cmd::Serve { log_json } => serve(&runtime_dir, log_json),
        Cmd::Check { app_dir } => check(&app_dir),
        Cmd::Replay { recording, app, core } => replay(recording, app, core),
        Cmd::Run { app_dir, ui_command, record, test_control, carry_state_from, keep_ui_history } => {
            let options = RunOptions { record, test_control, carry_state_from, keep_ui_history };
            run(&runtime_dir, &app_dir, ui_command, &options)
        }
        Cmd::Launch { app_dir, ui_command, record } => {
            let app_dir = std::path::absolute(&app_dir).unwrap_or(app_dir);
            let record = record.map(|r| std::path::absolute(&r).unwrap_or(r));
            client(&runtime_dir, &Request::Launch { app_dir, ui_command, record, keep_ui_history: false }, false)
        }
        Cmd::Status { json } => client(&runtime_dir, &Request::Status, !json),
        Cmd::Inspect { session_id, interval_ms, count } => {
            let request =
                InspectRequest { session: session_id, interval: Duration::from_millis(interval_ms.max(1)), count };
            match weft_appd::inspect::inspect(&runtime_dir, &request, &mut std::io::stdout().lock()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("weft-appd inspect: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::End { session_id } => client(&runtime_dir, &Request::End { session_id }, false),
        Cmd::SwapCore { session_id } => client(&runtime_dir, &Request::SwapCore { session_id }, false),
        Cmd::Shutdown => client(&runtime_dir, &Request::Shutdown, false),
    }
}

fn init_logging(json: bool) {
    use weft_ipc::log_filter;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter::env_filter())
        .with_ansi(log_filter::colour_stderr())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The directory of this executable (its sibling binaries live there).
fn exe_dir() -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default()
}

/// What a broker process needs: the session environment and the default UI command.
/// `private_dir` is an owner-only directory of this process (the UI's `XDG_RUNTIME_DIR` when
/// the environment has none).
fn broker_env(test_control: bool, private_dir: &Path) -> Result<(SessionEnv, Vec<String>), String> {
    let exe_dir = exe_dir();
    let spawner = Spawner::start().map_err(|e| format!("cannot start the spawner: {e}"))?;
    let env = SessionEnv {
        core_host: exe_dir.join("weft-core-host"),
        spawner,
        connect_timeout: Duration::from_secs(30),
        registry: Registry::default(),
        test_control,
        ui_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").is_none().then(|| private_dir.to_owned()),
        carried_events: Vec::new(),
        keep_ui_history: false,
    };
    Ok((env, vec![exe_dir.join("weft-shell").display().to_string()]))
}

fn serve(runtime_dir: &Path, log_json: bool) -> ExitCode {
    init_logging(log_json || std::env::var_os("WEFT_LOG_JSON").is_some());
    let (env, default_ui) = match broker_env(false, runtime_dir) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("weft-appd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match control::bind(runtime_dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("weft-appd: cannot listen in {}: {e}", runtime_dir.display());
            return ExitCode::FAILURE;
        }
    };
    let socket = runtime_dir.join(control::SOCKET_NAME);
    tracing::info!(socket = %socket.display(), "weft-appd listening");
    println!("weft-appd ready {}", socket.display());
    let _ = std::io::stdout().flush();
    control::serve(listener, env, default_ui);
    ExitCode::SUCCESS
}

/// `weft-appd run`'s options about the session.
struct RunOptions {
    record: Option<PathBuf>,
    test_control: bool,
    carry_state_from: Vec<PathBuf>,
    keep_ui_history: bool,
}

fn run(runtime_dir: &Path, app_dir: &Path, ui_command: Option<Vec<String>>, options: &RunOptions) -> ExitCode {
    init_logging(std::env::var_os("WEFT_LOG_JSON").is_some());
    let app = match AppPackage::load(app_dir) {
        Ok(app) => Arc::new(app),
        Err(errors) => {
            eprintln!("{}: {} problem(s)", app_dir.display(), errors.0.len());
            for p in &errors.0 {
                eprintln!("  {p}");
            }
            return ExitCode::FAILURE;
        }
    };
    // A private control socket, so `weft-appd status` can watch this run.
    let private_dir = runtime_dir.join(format!("run-{}", std::process::id()));
    let (mut env, default_ui) = match broker_env(options.test_control, &private_dir) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("weft-appd: {e}");
            return ExitCode::FAILURE;
        }
    };
    env.keep_ui_history = options.keep_ui_history;
    if !options.carry_state_from.is_empty() {
        match weft_appd::carry::carried_events(&options.carry_state_from, &app) {
            Ok(events) => {
                tracing::info!(ui_events = events.len(), "carrying the core's state over from the earlier session");
                env.carried_events = events;
            }
            Err(reason) => eprintln!("weft-appd: the core's state is not carried over ({reason}); it starts afresh"),
        }
    }
    match control::bind(&private_dir) {
        Ok(listener) => {
            let env = env.clone();
            let default_ui = default_ui.clone();
            std::thread::spawn(move || control::serve(listener, env, default_ui));
            tracing::debug!("watch with: weft-appd --runtime-dir {} status", private_dir.display());
        }
        Err(e) => tracing::warn!(error = %e, "no control socket for this run"),
    }
    let ui_command = ui_command.unwrap_or(default_ui);
    let result = launch(app, &ui_command, &env, options.record.as_deref());
    let code = match result {
        Err(e) => {
            eprintln!("weft-appd: {e}");
            ExitCode::FAILURE
        }
        Ok(launched) => {
            let id = SessionId(launched.session_id);
            end_on_signals(&env, &id);
            match env.registry.wait_ended(&id, Duration::MAX) {
                Some(status) => {
                    let reason = status.end.as_ref().map_or("?", |e| e.reason.as_str()).to_owned();
                    eprintln!("weft-appd: session ended: {reason}");
                    if reason == "app-closed" {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                None => ExitCode::FAILURE,
            }
        }
    };
    let _ = std::fs::remove_file(private_dir.join(control::SOCKET_NAME));
    let _ = std::fs::remove_dir(&private_dir);
    code
}

/// Ends the session the orderly way when this process is asked to stop (SIGTERM, SIGINT,
/// SIGHUP): the recording completes and both sides see `session-ended` with the signal named.
fn end_on_signals(env: &SessionEnv, id: &SessionId) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(signals) => signals,
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow stop signals; a signal will end the run abruptly");
            return;
        }
    };
    let (registry, id) = (env.registry.clone(), id.clone());
    let spawned = std::thread::Builder::new().name("weft-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = match signal {
                SIGTERM => "SIGTERM",
                SIGINT => "SIGINT",
                _ => "SIGHUP",
            };
            let detail = format!("weft-appd run was asked to stop ({name})");
            registry.command(&id.0, weft_appd::registry::Command::End(weft_ipc::reason::EndReason::Ended, detail));
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot follow stop signals");
    }
}

fn replay(recording: PathBuf, app: Option<PathBuf>, core: Option<PathBuf>) -> ExitCode {
    init_logging(std::env::var_os("WEFT_LOG_JSON").is_some());
    let request = ReplayRequest { recording, app, core, core_host: exe_dir().join("weft-core-host") };
    let result = Spawner::start()
        .map_err(|e| ReplayError::Core(format!("cannot start the spawner: {e}")))
        .and_then(|spawner| weft_appd::replay::replay(&request, &spawner));
    match result {
        Ok(Outcome::Match { ui_events, state_updates }) => {
            println!("replay: match ({ui_events} ui events, {state_updates} state updates)");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Diverged(text)) => {
            println!("{text}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("weft-appd replay: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(app_dir: &Path) -> ExitCode {
    // The package, then the copies of its message types (the page's declarations, the core).
    let checked = AppPackage::load(app_dir).and_then(|app| {
        let stale = weft_appd::message_digest::stale_copies(&app);
        if stale.is_empty() {
            Ok(app)
        } else {
            Err(weft_appd::manifest::PackageErrors(stale))
        }
    });
    match checked {
        Ok(app) => {
            println!(
                "{}: ok ({} UI event types, {} state update types, limit {} bytes, capabilities: {})",
                app.name,
                app.ui_events.len(),
                app.state_updates.len(),
                app.limits.max_message_bytes,
                if app.capabilities.is_empty() {
                    "none".to_owned()
                } else {
                    app.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                }
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}: {} problem(s)", app_dir.display(), errors.0.len());
            for p in &errors.0 {
                eprintln!("  {p}");
            }
            ExitCode::FAILURE
        }
    }
}

fn client(runtime_dir: &Path, request: &Request, human: bool) -> ExitCode {
    match control::request(runtime_dir, request) {
        Ok(response) => {
            if human {
                print_status(&response);
            } else {
                println!("{response}");
            }
            if response.get("ok") == Some(&serde_json::Value::Bool(true)) {
                ExitCode::SUCCESS
            } else {
                if let Some(error) = response.get("error").and_then(|e| e.as_str()) {
                    eprintln!("weft-appd: {error}");
                }
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("weft-appd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_status(response: &serde_json::Value) {
    let sessions = response.get("sessions").and_then(|s| s.as_array()).cloned().unwrap_or_default();
    if sessions.is_empty() {
        println!("no sessions");
        return;
    }
    println!(
        "{:<34} {:<12} {:<8} {:>7} {:>7} {:>6} {:>9}  end",
        "session", "app", "state", "admit", "deliv", "queue", "rejected"
    );
    for s in sessions {
        let stats = &s["stats"];
        let rejected: u64 = ["ui_events_rejected", "state_updates_rejected"]
            .iter()
            .filter_map(|k| stats[k].as_object())
            .flat_map(|m| m.values().filter_map(|v| v.as_u64()))
            .sum();
        println!(
            "{:<34} {:<12} {:<8} {:>7} {:>7} {:>6} {:>9}  {}",
            s["session_id"].as_str().unwrap_or("?"),
            s["app"].as_str().unwrap_or("?"),
            s["state"].as_str().unwrap_or("?"),
            stats["ui_events_admitted"],
            stats["state_updates_delivered"],
            format!("{}/{}", stats["state_queue_depth"], stats["state_queue_capacity"]),
            rejected,
            s["end"]["reason"].as_str().unwrap_or("-"),
        );
    }
}
