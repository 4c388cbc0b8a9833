//! What every WEFT process logs when `WEFT_LOG` is not set, and whether it colours its lines.
//!
//! By default a developer sees WEFT's own lines: each session's start and end, rejections and
//! violations, the core's output and failures, the page's errors and warnings (`weft_page`,
//! with file:line), and warnings or errors of WEFT's processes. Everything else — Servo's,
//! Wasmtime's and other libraries' lines below `error` — appears only when asked, e.g.
//! `WEFT_LOG=info` (everything at info), `WEFT_LOG=warn,script=info` (Servo's script crate
//! too), `WEFT_LOG=debug` (WEFT's details). The variable is a `tracing_subscriber::EnvFilter`
//! directive, read by `weft-appd`, `weft-core-host` and `weft-shell` alike (children inherit it).

use std::io::IsTerminal;

/// The environment variable holding the log filter.
pub const LOG_ENV: &str = "WEFT_LOG";

/// The filter used when [`LOG_ENV`] is unset: see the module doc.
pub const DEFAULT_FILTER: &str =
    "error,weft_appd=info,weft_core_host=info,weft_core=info,weft_servo_embedding=info,weft_shell=info,weft_page=warn";

/// The filter of this process: [`LOG_ENV`] if it is set (and parses), else [`DEFAULT_FILTER`].
pub fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER))
}

/// Whether log lines on stderr get colour codes: only when stderr is a terminal.
pub fn colour_stderr() -> bool {
    std::io::stderr().is_terminal()
}
