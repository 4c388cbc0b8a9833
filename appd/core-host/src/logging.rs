//! The process's log: `tracing` to stderr (which `weft-appd` collects), filtered by the
//! `WEFT_LOG` environment variable (an `EnvFilter` directive; default `info`).

use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter.
pub const LOG_ENV: &str = "WEFT_LOG";

/// Installs the subscriber; does nothing if one is already installed.
pub fn init() {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
