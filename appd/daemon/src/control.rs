//! The daemon's control socket: one JSON request line in, one JSON response line out.
//!
//! The socket lives in an owner-only runtime directory (mode 0700) and is itself mode 0600, so
//! only the user who runs the daemon can launch, inspect or end sessions.

use crate::manifest::AppPackage;
use crate::registry::Command as SessionCommand;
use crate::session::runner::{launch, SessionEnv};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use weft_ipc::reason::EndReason;

/// The socket's file name inside the runtime directory.
pub const SOCKET_NAME: &str = "appd.sock";
/// Largest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a `swap-core` request waits for its answer: a new core's connection, startup
/// and replay are each bounded well inside this by the session.
const SWAP_ANSWER_WAIT: Duration = Duration::from_secs(120);

/// A request to the daemon.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Start a session for the app in `app_dir`.
    Launch {
        /// The app directory.
        app_dir: PathBuf,
        /// The UI program and its arguments (the app directory is appended); default: the shell.
        ui_command: Option<Vec<String>>,
        /// Record the session into this file (absolute, or relative to the daemon's directory).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<PathBuf>,
        /// Keep the UI events the core is handed (bounded), so that `swap-core` gives a new core
        /// the running one's state.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keep_ui_history: bool,
    },
    /// Report every session.
    Status,
    /// End a session.
    End {
        /// The session.
        session_id: String,
    },
    /// Start a new core from the app's core file and let it take the session over with the
    /// running core's state (`weft dev` after a core edit); the answer comes once it has, or
    /// has not (the running core then keeps the session).
    SwapCore {
        /// The session.
        session_id: String,
    },
    /// End every session and stop the daemon.
    Shutdown,
}

/// The runtime directory: `$WEFT_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/weft`, else `/tmp/weft-<uid>`.
pub fn default_runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEFT_RUNTIME_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        let dir = PathBuf::from(dir);
        if dir.is_dir() {
            return dir.join("weft");
        }
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/weft-{uid}"))
}

/// Creates the runtime directory owner-only, refusing one that others can enter.
pub fn prepare_runtime_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::metadata(dir)?;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    if std::os::unix::fs::MetadataExt::uid(&meta) != uid {
        return Err(std::io::Error::other(format!("{} belongs to another user", dir.display())));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Binds the control socket in `dir`, replacing a stale one, refusing if a daemon answers.
pub fn bind(dir: &Path) -> std::io::Result<UnixListener> {
    prepare_runtime_dir(dir)?;
    let path = dir.join(SOCKET_NAME);
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("a daemon already listens on {}", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves control requests until a shutdown request.
pub fn serve(listener: UnixListener, env: SessionEnv, default_ui: Vec<String>) {
    let default_ui = Arc::new(default_ui);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "control accept failed");
                continue;
            }
        };
        let env = env.clone();
        let default_ui = default_ui.clone();
        let spawned = thread::Builder::new().name("weft-control".into()).spawn(move || {
            if let Err(e) = handle(stream, &env, &default_ui) {
                tracing::warn!(error = %e, "control connection failed");
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a control thread");
        }
    }
}

fn handle(stream: UnixStream, env: &SessionEnv, default_ui: &[String]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(line.trim()) {
        Err(e) => {
            tracing::warn!(error = %e, "malformed control request");
            serde_json::json!({"ok": false, "error": format!("malformed request: {e}")})
        }
        Ok(request) => answer(request, env, default_ui),
    };
    let mut stream = stream;
    writeln!(stream, "{response}")?;
    if response.get("shutdown").is_some() {
        std::process::exit(0);
    }
    Ok(())
}

fn answer(request: Request, env: &SessionEnv, default_ui: &[String]) -> serde_json::Value {
    match request {
        Request::Launch { app_dir, ui_command, record, keep_ui_history } => {
            let app = match AppPackage::load(&app_dir) {
                Ok(app) => Arc::new(app),
                Err(e) => {
                    return serde_json::json!({"ok": false, "error": format!("invalid app package:\n{e}")});
                }
            };
            let ui_command = ui_command.unwrap_or_else(|| default_ui.to_vec());
            let keeping;
            let env = if keep_ui_history {
                keeping = SessionEnv { keep_ui_history, ..env.clone() };
                &keeping
            } else {
                env
            };
            match launch(app, &ui_command, env, record.as_deref()) {
                Ok(launched) => serde_json::json!({"ok": true, "session": launched}),
                Err(e) => {
                    tracing::warn!(error = %e, "launch failed");
                    serde_json::json!({"ok": false, "error": e.to_string()})
                }
            }
        }
        Request::Status => serde_json::json!({"ok": true, "sessions": env.registry.snapshot()}),
        Request::End { session_id } => {
            let found = env
                .registry
                .command(&session_id, SessionCommand::End(EndReason::Ended, "ended by the operator".into()));
            if found {
                serde_json::json!({"ok": true})
            } else {
                serde_json::json!({"ok": false, "error": format!("no live session {session_id:?}")})
            }
        }
        Request::SwapCore { session_id } => {
            let (reply, answer) = std::sync::mpsc::sync_channel(1);
            if !env.registry.command(&session_id, SessionCommand::SwapCore(reply)) {
                return serde_json::json!({"ok": false, "error": format!("no live session {session_id:?}")});
            }
            match answer.recv_timeout(SWAP_ANSWER_WAIT) {
                Ok(Ok(swapped)) => serde_json::json!({"ok": true, "swapped": swapped}),
                Ok(Err(error)) => serde_json::json!({"ok": false, "error": error}),
                Err(_) => serde_json::json!({"ok": false, "error": "the session did not answer the swap"}),
            }
        }
        Request::Shutdown => {
            for id in env.registry.live_ids() {
                env.registry.command(&id, SessionCommand::End(EndReason::Ended, "the daemon is shutting down".into()));
            }
            let all_ended = env.registry.wait_all_ended(Duration::from_secs(5));
            serde_json::json!({"ok": true, "shutdown": true, "all_sessions_ended": all_ended})
        }
    }
}

/// Sends one request to the daemon in `dir` and returns its response.
pub fn request(dir: &Path, request: &Request) -> std::io::Result<serde_json::Value> {
    let path = dir.join(SOCKET_NAME);
    let mut stream = UnixStream::connect(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("no weft-appd at {}: {e}", path.display())))?;
    let line = serde_json::to_string(request).map_err(std::io::Error::other)?;
    writeln!(stream, "{line}")?;
    let mut response = String::new();
    BufReader::new(stream).read_line(&mut response)?;
    serde_json::from_str(&response).map_err(|e| std::io::Error::other(format!("bad response from the daemon: {e}")))
}
