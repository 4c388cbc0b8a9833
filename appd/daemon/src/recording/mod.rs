//! Session recordings: every message that crossed the broker, both directions, as JSON lines
//! (`docs/recording.md`).
//!
//! - [`format`]: the records.
//! - [`writer`]: the bounded recorder the session runner feeds.
//! - [`reader`]: loads a recording, refusing malformed, truncated or incomplete files.

pub mod format;
pub mod reader;
pub mod writer;

use crate::manifest::{AppPackage, MANIFEST_FILE};
use format::{Header, FORMAT, VERSION};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// The header of a recording of `app`'s session `session_id`, starting now.
pub fn header(app: &AppPackage, session_id: &str) -> Header {
    Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        protocol_version: weft_ipc::PROTOCOL_VERSION,
        session_id: session_id.to_owned(),
        app: app.name.clone(),
        app_dir: app.dir.display().to_string(),
        manifest_sha256: file_sha256(&app.dir.join(MANIFEST_FILE)),
        core_sha256: file_sha256(&app.core_path),
        started_unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    }
}

/// The SHA-256 of a file, in hex; empty if it cannot be read.
pub fn file_sha256(path: &std::path::Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read a file to digest it");
            String::new()
        }
    }
}
