//! `weft types [DIR]`: the page's TypeScript declarations of the app's message types.
//!
//! Writes `ui/weft-app.d.ts`, generated from the manifest's schemas by `cli/types/generate.mjs`
//! (json-schema-to-typescript, pinned there; `scripts/setup` installs it), and beside it
//! `ui/weft-channel.d.ts`, the declarations of `weft.channel` this `weft` was built with. With
//! both, `weft.channel.send("increment", {by: 1})` and `message` events are typed per message
//! type, in a TypeScript page or a JavaScript one under `// @ts-check`. The generated file names
//! the digest of what it was made from, so `weft check` reports it once the manifest changed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use weft_appd::manifest::AppPackage;
use weft_appd::message_digest::{generator_input, PAGE_TYPES_FILE};

/// The generator script, in this WEFT checkout.
const GENERATOR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/types/generate.mjs");

/// The declarations of `weft.channel`, which the generated file builds on.
const CHANNEL_DECLARATIONS: &str = include_str!("../../resources/weft-channel.d.ts");

/// Where the channel's declarations go, beside the generated file.
const CHANNEL_DECLARATIONS_FILE: &str = "ui/weft-channel.d.ts";

/// Writes the page's declarations for the app in `app_dir`; returns the files written.
pub fn write_page_types(app_dir: &Path) -> Result<Vec<String>, String> {
    let app = AppPackage::load_declarations(app_dir).map_err(|errors| {
        let listed: Vec<String> = errors.0.iter().map(|p| format!("  {p}")).collect();
        format!("the package has problems (weft check explains them):\n{}", listed.join("\n"))
    })?;
    let declarations = generate(&generator_input(&app))?;
    let mut written = Vec::new();
    for (file, text) in [(PAGE_TYPES_FILE, declarations.as_str()), (CHANNEL_DECLARATIONS_FILE, CHANNEL_DECLARATIONS)] {
        let path = app_dir.join(file);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(file.to_owned());
    }
    Ok(written)
}

/// Whether the app has page declarations (then `weft dev` keeps them current).
pub fn has_page_types(app_dir: &Path) -> bool {
    app_dir.join(PAGE_TYPES_FILE).is_file()
}

/// Runs the generator on `input`; its output, or what went wrong and what to do.
fn generate(input: &serde_json::Value) -> Result<String, String> {
    let script = PathBuf::from(GENERATOR);
    let installed = script.with_file_name("node_modules").join("json-schema-to-typescript");
    if !installed.is_dir() {
        return Err(format!(
            "the TypeScript generator is not installed ({} is missing): run scripts/setup",
            installed.display()
        ));
    }
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run node (scripts/setup installs Node.js): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.to_string().as_bytes()).map_err(|e| format!("cannot feed the generator: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("the generator did not finish: {e}"))?;
    if !out.status.success() {
        return Err(format!("the generator failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("the generator wrote something that is not text: {e}"))
}
