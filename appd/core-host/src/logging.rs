//! The process's log: `tracing` to stderr (which `weft-appd` collects), filtered by the
//! `WEFT_LOG` environment variable (an `EnvFilter` directive; default
//! [`weft_ipc::log_filter::DEFAULT_FILTER`]).

use tracing_subscriber::EnvFilter;
pub use weft_ipc::log_filter::LOG_ENV;
use weft_ipc::log_filter::{colour_stderr, DEFAULT_FILTER};

/// Installs the subscriber; does nothing if one is already installed.
pub fn init() {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_stderr())
        .with_writer(std::io::stderr)
        .try_init();
}
