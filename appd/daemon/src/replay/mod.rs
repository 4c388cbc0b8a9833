//! `weft-appd replay`: feeds a recording's UI events, in order, to a fresh core and checks that
//! the core's state updates match the recording exactly (type, payload and key, in order).
//!
//! - [`plan`]: what the recording asks for and expects.
//! - [`core_run`]: a real `weft-core-host` on the app's core, driven one event at a time.
//! - [`compare`]: the exact comparison, which accounts for the core host's coalescing.
//!
//! Cores run with deterministic clocks and randomness unless the manifest grants the `clock` or
//! `random` capability; such a core may not replay.

pub mod compare;
pub mod core_run;
pub mod plan;

use crate::manifest::AppPackage;
use crate::recording::file_sha256;
use crate::recording::reader::{ReadError, Recording};
use crate::spawn::Spawner;
use compare::Divergence;
use core_run::CoreRun;
use plan::Plan;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to replay, against what.
pub struct ReplayRequest {
    /// The recording.
    pub recording: PathBuf,
    /// The app directory (default: the one in the recording's header).
    pub app: Option<PathBuf>,
    /// The core (default: the app's).
    pub core: Option<PathBuf>,
    /// The `weft-core-host` executable.
    pub core_host: PathBuf,
}

/// Why a replay could not be run (as opposed to running and diverging).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The recording is unreadable, malformed or truncated.
    #[error("{0}")]
    Read(#[from] ReadError),
    /// The recorder left records out.
    #[error("{path}: the recording is incomplete ({dropped} records were dropped while recording); it cannot be replayed exactly")]
    Incomplete {
        /// The file.
        path: String,
        /// Records left out.
        dropped: u64,
    },
    /// The records contradict each other.
    #[error("{path}: inconsistent recording: {detail}")]
    Inconsistent {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The app package cannot be loaded.
    #[error("app package {dir}: {detail}")]
    App {
        /// The directory.
        dir: String,
        /// The problems.
        detail: String,
    },
    /// The core could not be run to the end.
    #[error("the replayed core: {0}")]
    Core(String),
}

/// The result of a replay that ran.
#[derive(Debug)]
pub enum Outcome {
    /// Every state update matched.
    Match {
        /// UI events fed to the core.
        ui_events: usize,
        /// State updates compared.
        state_updates: usize,
    },
    /// The first difference, described for the terminal.
    Diverged(String),
}

/// Runs a replay.
pub fn replay(request: &ReplayRequest, spawner: &Spawner) -> Result<Outcome, ReplayError> {
    let recording = Recording::load(&request.recording)?;
    let shown = request.recording.display().to_string();
    if recording.dropped() > 0
        || recording.lines.iter().any(|l| matches!(l.record, crate::recording::format::Record::Dropped { .. }))
    {
        return Err(ReplayError::Incomplete { path: shown, dropped: recording.dropped().max(1) });
    }
    let plan = Plan::from_recording(&recording).map_err(|detail| ReplayError::Inconsistent { path: shown, detail })?;
    let app_dir = request.app.clone().unwrap_or_else(|| PathBuf::from(&recording.header.app_dir));
    let app = AppPackage::load(&app_dir)
        .map_err(|e| ReplayError::App { dir: app_dir.display().to_string(), detail: e.to_string() })?;
    let core = request.core.clone().unwrap_or_else(|| app.core_path.clone());
    if file_sha256(&core) != recording.header.core_sha256 {
        tracing::info!(core = %core.display(), "this core differs from the recorded one");
    }
    if !app.capabilities.is_empty() {
        tracing::warn!(capabilities = ?app.capabilities, "the core may use real clocks or randomness; it may not replay exactly");
    }

    // What init emits, from a first run that ends right after it (the core host flushes init's
    // updates before it reads any frame); then the real run, one event at a time.
    let init = CoreRun::start(spawner, &request.core_host, &core, &app)
        .and_then(CoreRun::finish_collecting)
        .map_err(ReplayError::Core)?;
    let mut run = CoreRun::start(spawner, &request.core_host, &core, &app).map_err(ReplayError::Core)?;
    let init_again = run.init_updates(init.len()).map_err(ReplayError::Core)?;
    if init_again != init {
        return Err(ReplayError::Core(
            "init emitted different updates in two runs: the core is not deterministic".into(),
        ));
    }
    let mut emitted = Vec::with_capacity(plan.events.len());
    for event in &plan.events {
        match run.feed(event) {
            Ok(updates) => emitted.push(updates),
            Err(e) => return Err(ReplayError::Core(format!("{e} (feeding {event})"))),
        }
    }
    drop(run);
    Ok(match compare::compare(&plan, &init, &emitted) {
        Ok(state_updates) => Outcome::Match { ui_events: plan.events.len(), state_updates },
        Err(divergence) => Outcome::Diverged(describe(&divergence, &plan, &core)),
    })
}

/// The divergence for the terminal: where, expected vs actual, and the UI event before it.
fn describe(d: &Divergence, plan: &Plan, core: &Path) -> String {
    let mut text =
        format!("replay: divergence at state update {} of {} (core {})\n", d.index, plan.updates(), core.display());
    let _ = match &d.expected {
        Some((update, sequence)) => writeln!(text, "  expected: {update}  [core sequence {sequence}]"),
        None => writeln!(text, "  expected: nothing more (the recording ends here)"),
    };
    let _ = match &d.actual {
        Some(update) => writeln!(text, "  actual:   {update}"),
        None => writeln!(text, "  actual:   nothing (the replayed core emitted no such update)"),
    };
    let _ = match d.after.and_then(|i| plan.events.get(i)) {
        Some(event) => write!(text, "  after:    {event}"),
        None => write!(text, "  after:    no UI event yet (emitted by init)"),
    };
    text
}
