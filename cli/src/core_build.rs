//! Builds an app's core from its Rust crate (`core/Cargo.toml`) into `core.wasm`.
//!
//! The build is plain cargo for `wasm32-wasip2`, in WEFT's shared cores target directory
//! (`$WEFT_CORES_TARGET_DIR`, default `~/.cache/weft/target-cores`, the one `scripts/build-cores`
//! uses), so the dependencies `scripts/setup` compiled for the examples are reused and a new
//! app's first build compiles little more than its own crate. Cargo names the component it
//! built in its JSON messages (read with `serde_json`), so nothing here guesses file names.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Rust target a core is built for.
pub const CORE_TARGET: &str = "wasm32-wasip2";

/// Why the core could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// cargo could not be started.
    NoCargo(std::io::Error),
    /// cargo failed (its diagnostics went to the terminal, and are kept here, without
    /// cargo's progress lines, for `weft dev`'s overlay).
    Failed(std::process::ExitStatus, String),
    /// cargo succeeded but named no WebAssembly artifact.
    NoComponent,
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::NoCargo(e) => write!(f, "cannot run cargo ({e}): install Rust (scripts/setup does)"),
            BuildError::Failed(status, _) => write!(
                f,
                "the core did not build (cargo {status}; its errors are above). If the error says the \
                 {CORE_TARGET} target is missing: rustup target add {CORE_TARGET}"
            ),
            BuildError::NoComponent => {
                write!(f, "cargo built no .wasm: is core/Cargo.toml's [lib] crate-type [\"cdylib\"]?")
            }
            BuildError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

/// The cargo target directory for cores.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEFT_CORES_TARGET_DIR") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache/weft/target-cores")
}

/// How the core is built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The crate's release profile as written (`weft run`).
    Release,
    /// Release, but with the function names kept (`strip = false`), so that a trap or panic
    /// in the core names the Rust function (`weft dev`).
    Dev,
}

/// If `app_dir` has a core crate (`core/Cargo.toml`), builds it and copies the component to
/// `app_dir/core.wasm`. Returns whether there was a crate to build.
pub fn build_core(app_dir: &Path, profile: Profile) -> Result<bool, BuildError> {
    let manifest = app_dir.join("core/Cargo.toml");
    if !manifest.is_file() {
        return Ok(false);
    }
    eprintln!("weft: building the core ({})", manifest.display());
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "--release", "--target", CORE_TARGET, "--message-format", "json-render-diagnostics"]);
    if profile == Profile::Dev {
        cargo.args(["--config", "profile.release.strip=false"]);
    }
    let mut child = cargo
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BuildError::NoCargo)?;
    // cargo's stderr goes to ours as it comes (progress included) and is kept (diagnostics).
    let stderr = child.stderr.take().map(|stderr| std::thread::spawn(move || tee_diagnostics(stderr)));
    let mut messages = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut messages);
    }
    let status = child.wait().map_err(BuildError::NoCargo)?;
    let diagnostics = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(BuildError::Failed(status, diagnostics));
    }
    let built = wasm_artifact(&messages).ok_or(BuildError::NoComponent)?;
    let dest = app_dir.join("core.wasm");
    std::fs::copy(&built, &dest).map_err(|e| BuildError::Io(dest, e))?;
    Ok(true)
}

/// Copies cargo's stderr to ours line by line and returns it without the progress lines
/// (`Compiling …`, `Finished …`, `Blocking …`, `Locking …`).
fn tee_diagnostics(stderr: impl std::io::Read) -> String {
    use std::io::BufRead;
    let mut kept = String::new();
    for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
        eprintln!("{line}");
        let word = line.trim_start().split(' ').next().unwrap_or("");
        if !matches!(
            word,
            "Compiling" | "Finished" | "Blocking" | "Locking" | "Updating" | "Adding" | "Downloaded" | "Downloading"
        ) {
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    kept
}

/// The last `.wasm` file cargo reports having built (its `compiler-artifact` messages).
fn wasm_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| {
            let files = message["filenames"].as_array().cloned().unwrap_or_default();
            files.into_iter().filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .rfind(|file| file.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_component_is_found_in_cargos_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","filenames":["/t/wasm32-wasip2/release/deps/libserde_json-1.rlib"]}"#,
            "\n",
            r#"{"reason":"compiler-artifact","filenames":["/t/wasm32-wasip2/release/my_app_core.wasm"]}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            super::wasm_artifact(messages),
            Some(std::path::PathBuf::from("/t/wasm32-wasip2/release/my_app_core.wasm"))
        );
        assert_eq!(super::wasm_artifact(r#"{"reason":"build-finished","success":true}"#), None);
    }
}
