//! The process's log: `tracing` to stderr (which `weft-appd` collects), filtered by the
//! `WEFT_LOG` environment variable (an `EnvFilter` directive; default
//! [`weft_ipc::log_filter::DEFAULT_FILTER`]).

pub use weft_ipc::log_filter::LOG_ENV;
use weft_ipc::log_filter::{colour_stderr, env_filter};

/// Installs the subscriber; does nothing if one is already installed.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .with_ansi(colour_stderr())
        .with_writer(std::io::stderr)
        .try_init();
}
