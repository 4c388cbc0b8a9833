//! The app package: a directory with `weft.toml`, `core.wasm` and `ui/`.
//!
//! [`AppPackage::load`] reads and checks everything a session needs and reports every problem
//! it finds at once, each with the place it was found, so `weft-appd check` can print them all.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use weft_ipc::envelope::MessageClass;
use weft_ipc::frames::Capability;
use weft_ipc::MAX_MESSAGE_BYTES_CEILING;

/// The manifest file name inside an app directory.
pub const MANIFEST_FILE: &str = "weft.toml";

/// The manifest as written (serde view). Unknown keys are errors, so typos are caught; they
/// are collected, every one, by `serde_ignored` ([`crate::manifest_keys`]).
#[derive(Debug, Deserialize)]
struct RawManifest {
    app: RawApp,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default, rename = "ui-events")]
    ui_events: BTreeMap<String, RawMessage>,
    #[serde(default, rename = "state-updates")]
    state_updates: BTreeMap<String, RawMessage>,
}

#[derive(Debug, Deserialize)]
struct RawApp {
    name: String,
    #[serde(default = "default_core")]
    core: String,
    #[serde(default = "default_ui")]
    ui: String,
    #[serde(default)]
    capabilities: Vec<String>,
}

fn default_core() -> String {
    "core.wasm".into()
}

/// The UI entry page, the only one the shell opens.
const UI_ENTRY: &str = "ui/index.html";

fn default_ui() -> String {
    UI_ENTRY.into()
}

#[derive(Debug, Default, Deserialize)]
struct RawLimits {
    max_message_bytes: Option<u32>,
    max_pending_sends: Option<u32>,
    event_deadline_ms: Option<u64>,
    max_memory_mib: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    #[serde(default)]
    coalescible: bool,
    schema: Option<toml::Value>,
    schema_file: Option<String>,
}

/// Limits of a session, from the manifest or the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message (type + payload + key bytes) in either direction.
    pub max_message_bytes: u32,
    /// Sends a page may have waiting for credit before `send()` rejects.
    pub max_pending_sends: u32,
    /// Budget of the core for `init` and each event.
    pub event_deadline_ms: u64,
    /// Largest linear memory of the core.
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 16 * 1024,
            max_pending_sends: 256,
            event_deadline_ms: 1000,
            max_memory_bytes: 64 << 20,
        }
    }
}

/// One declared message type.
#[derive(Clone, Debug)]
pub struct MessageSpec {
    /// Whether the core may mark updates of this type coalescible.
    pub coalescible: bool,
    /// The JSON Schema its payload must match.
    pub schema: serde_json::Value,
}

/// A checked app package.
#[derive(Clone, Debug)]
pub struct AppPackage {
    /// The app directory (absolute).
    pub dir: PathBuf,
    /// The app's name.
    pub name: String,
    /// Path of the core component.
    pub core_path: PathBuf,
    /// Path of the UI entry page.
    pub ui_path: PathBuf,
    /// Capabilities the app asks for (granted at launch; default none).
    pub capabilities: Vec<Capability>,
    /// Session limits.
    pub limits: Limits,
    /// Declared UI event types (page → core) by name.
    pub ui_events: BTreeMap<String, MessageSpec>,
    /// Declared state update types (core → page) by name.
    pub state_updates: BTreeMap<String, MessageSpec>,
}

/// One problem in an app package, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageProblem {
    /// Where: a file, or a manifest key path like `state-updates.count.schema`.
    pub place: String,
    /// What is wrong, and what would be right.
    pub problem: String,
}

impl fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

/// Every problem found in a package.
#[derive(Debug)]
pub struct PackageErrors(pub Vec<PackageProblem>);

impl fmt::Display for PackageErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PackageErrors {}

/// The first bytes of a WebAssembly component (magic, then version 0x0d and layer 1).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// The first bytes of a core WebAssembly module (not accepted: cores are components).
const MODULE_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// Where the files a manifest names (core, UI page, schema files) are looked up: the app
/// directory on disk for [`AppPackage::load`], or memory ([`MemoryFiles`]) for tests and fuzzing.
pub trait PackageFiles {
    /// The first 8 bytes of the file at `path`.
    fn header(&self, path: &Path) -> std::io::Result<[u8; 8]>;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// The whole file at `path` as UTF-8 text.
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
}

/// The files of an app directory on disk.
struct DiskFiles;

impl PackageFiles for DiskFiles {
    fn header(&self, path: &Path) -> std::io::Result<[u8; 8]> {
        let mut header = [0u8; 8];
        std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))?;
        Ok(header)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// The files of an app directory on disk, a missing `.wasm` reading as a component (its
/// declarations are read before its core is built).
struct CoreNotNeeded;

impl PackageFiles for CoreNotNeeded {
    fn header(&self, path: &Path) -> std::io::Result<[u8; 8]> {
        match DiskFiles.header(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.extension().is_some_and(|x| x == "wasm") => {
                Ok(COMPONENT_HEADER)
            }
            other => other,
        }
    }

    fn is_file(&self, path: &Path) -> bool {
        DiskFiles.is_file(path) || path.extension().is_some_and(|x| x == "wasm")
    }

    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        DiskFiles.read_to_string(path)
    }
}

/// An app directory held in memory: file contents by path (absolute, inside the directory
/// given to [`AppPackage::from_manifest`]). A missing file reads as `NotFound`.
#[derive(Clone, Debug, Default)]
pub struct MemoryFiles(pub BTreeMap<PathBuf, Vec<u8>>);

impl MemoryFiles {
    fn get(&self, path: &Path) -> std::io::Result<&[u8]> {
        self.0.get(path).map(Vec::as_slice).ok_or_else(|| std::io::ErrorKind::NotFound.into())
    }
}

impl PackageFiles for MemoryFiles {
    fn header(&self, path: &Path) -> std::io::Result<[u8; 8]> {
        let bytes = self.get(path)?;
        bytes.get(..8).and_then(|h| h.try_into().ok()).ok_or_else(|| std::io::ErrorKind::UnexpectedEof.into())
    }

    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }

    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        String::from_utf8(self.get(path)?.to_vec()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

impl AppPackage {
    /// Reads and checks the package in `dir`.
    pub fn load(dir: &Path) -> Result<AppPackage, PackageErrors> {
        let dir = match dir.canonicalize() {
            Ok(d) => d,
            Err(e) => {
                return Err(PackageErrors(vec![problem(dir.display(), format!("cannot open app directory: {e}"))]));
            }
        };
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&manifest_path) {
            Ok(t) => t,
            Err(e) => return Err(PackageErrors(vec![problem(manifest_path.display(), format!("cannot read: {e}"))])),
        };
        Self::from_manifest(dir, &text, &DiskFiles)
    }

    /// Reads the package in `dir` for its declarations only (`weft types`): as [`AppPackage::load`],
    /// except that a core component not built yet is no problem.
    pub fn load_declarations(dir: &Path) -> Result<AppPackage, PackageErrors> {
        let dir = dir
            .canonicalize()
            .map_err(|e| PackageErrors(vec![problem(dir.display(), format!("cannot open app directory: {e}"))]))?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| PackageErrors(vec![problem(manifest_path.display(), format!("cannot read: {e}"))]))?;
        Self::from_manifest(dir, &text, &CoreNotNeeded)
    }

    /// Checks the manifest `text` of the package in `dir` (absolute), reading the files it
    /// names through `files`. [`AppPackage::load`] is this with the manifest and files read
    /// from disk; any text gives a package or the list of its problems.
    pub fn from_manifest(dir: PathBuf, text: &str, files: &impl PackageFiles) -> Result<AppPackage, PackageErrors> {
        let mut problems = Vec::new();
        let mut unknown = Vec::new();
        let raw: Result<RawManifest, _> =
            serde_ignored::deserialize(toml::Deserializer::new(text), |path| unknown.push(path.to_string()));
        for path in &unknown {
            let key = crate::manifest_keys::explain(text, path);
            let place = if key.table.is_empty() { MANIFEST_FILE.to_owned() } else { key.table };
            problems.push(problem(place, key.problem));
        }
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                problems.push(toml_problem(text, &e));
                return Err(PackageErrors(problems));
            }
        };

        if raw.app.name.is_empty()
            || !raw.app.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            problems.push(problem(
                "app.name",
                format!("{:?} is not a valid name: use lowercase letters, digits and '-'", raw.app.name),
            ));
        }

        let mut capabilities = Vec::new();
        for (i, c) in raw.app.capabilities.iter().enumerate() {
            match Capability::parse(c) {
                Some(cap) if !capabilities.contains(&cap) => capabilities.push(cap),
                Some(_) => problems.push(problem(format!("app.capabilities[{i}]"), format!("{c:?} is listed twice"))),
                None => problems.push(problem(
                    format!("app.capabilities[{i}]"),
                    format!("unknown capability {c:?}; known: \"clock\", \"random\""),
                )),
            }
        }

        let core_path = inside(&dir, &raw.app.core, "app.core", &mut problems);
        if let Some(path) = &core_path {
            check_component(files, path, &raw.app.core, &mut problems);
        }
        let ui_path = inside(&dir, &raw.app.ui, "app.ui", &mut problems);
        if ui_path.is_some() && !same_relative_path(&raw.app.ui, UI_ENTRY) {
            problems.push(problem(
                "app.ui",
                format!(
                    "{:?} is not supported: the shell always opens {UI_ENTRY} (and loads nothing outside ui/); remove the key",
                    raw.app.ui
                ),
            ));
        } else if let Some(path) = &ui_path {
            if !files.is_file(path) {
                problems.push(problem("app.ui", format!("{} does not exist", raw.app.ui)));
            }
        }

        let limits = check_limits(&raw.limits, &mut problems);
        let ui_events = check_messages(files, &dir, MessageClass::UiEvent, &raw.ui_events, &mut problems);
        let state_updates = check_messages(files, &dir, MessageClass::StateUpdate, &raw.state_updates, &mut problems);
        if ui_events.is_empty() && problems.is_empty() {
            problems.push(problem("ui-events", "declares no UI event type; the page could send nothing".into()));
        }

        if !problems.is_empty() {
            return Err(PackageErrors(problems));
        }
        let (Some(core_path), Some(ui_path)) = (core_path, ui_path) else {
            return Err(PackageErrors(vec![problem(MANIFEST_FILE, "unreachable: paths unchecked".into())]));
        };
        Ok(AppPackage { dir, name: raw.app.name, core_path, ui_path, capabilities, limits, ui_events, state_updates })
    }

    /// The declared types of one class.
    pub fn types(&self, class: MessageClass) -> &BTreeMap<String, MessageSpec> {
        match class {
            MessageClass::UiEvent => &self.ui_events,
            _ => &self.state_updates,
        }
    }
}

/// An in-memory package for unit tests: `(name, coalescible, schema)` per declared type.
#[cfg(test)]
pub(crate) fn test_package(
    max_message_bytes: u32,
    ui_events: &[(&str, bool, serde_json::Value)],
    state_updates: &[(&str, bool, serde_json::Value)],
) -> AppPackage {
    let specs = |types: &[(&str, bool, serde_json::Value)]| {
        types
            .iter()
            .map(|(name, coalescible, schema)| {
                (name.to_string(), MessageSpec { coalescible: *coalescible, schema: schema.clone() })
            })
            .collect()
    };
    AppPackage {
        dir: "/".into(),
        name: "t".into(),
        core_path: "/c".into(),
        ui_path: "/u".into(),
        capabilities: vec![],
        limits: Limits { max_message_bytes, ..Limits::default() },
        ui_events: specs(ui_events),
        state_updates: specs(state_updates),
    }
}

fn problem(place: impl fmt::Display, problem: String) -> PackageProblem {
    PackageProblem { place: place.to_string(), problem }
}

/// Whether two relative paths name the same file (`./ui/index.html` is `ui/index.html`).
fn same_relative_path(a: &str, b: &str) -> bool {
    let parts = |p: &str| -> Vec<String> {
        Path::new(p)
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect()
    };
    parts(a) == parts(b)
}

/// Resolves a manifest path and insists it stays inside the app directory.
fn inside(dir: &Path, rel: &str, key: &str, problems: &mut Vec<PackageProblem>) -> Option<PathBuf> {
    let rel_path = Path::new(rel);
    if rel_path.is_absolute() || rel_path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        problems.push(problem(key, format!("{rel:?} must be a relative path inside the app directory")));
        return None;
    }
    Some(dir.join(rel_path))
}

fn check_component(files: &impl PackageFiles, path: &Path, rel: &str, problems: &mut Vec<PackageProblem>) {
    match files.header(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(problem(
                "app.core",
                format!(
                    "{rel} does not exist: build the core (`cargo build --release --target wasm32-wasip2` in its crate) and copy the .wasm to {rel}"
                ),
            ))
        }
        Err(e) => problems.push(problem("app.core", format!("cannot read {rel}: {e}"))),
        Ok(header) if header == COMPONENT_HEADER => {}
        Ok(header) if header == MODULE_HEADER => problems.push(problem(
            "app.core",
            format!("{rel} is a core Wasm module; WEFT cores are components (build for wasm32-wasip2)"),
        )),
        Ok(_) => problems.push(problem("app.core", format!("{rel} is not a WebAssembly component"))),
    }
}

fn check_limits(raw: &RawLimits, problems: &mut Vec<PackageProblem>) -> Limits {
    let mut limits = Limits::default();
    if let Some(n) = raw.max_message_bytes {
        if n == 0 || n > MAX_MESSAGE_BYTES_CEILING {
            problems.push(problem(
                "limits.max_message_bytes",
                format!("{n} is out of range 1..={MAX_MESSAGE_BYTES_CEILING}"),
            ));
        } else {
            limits.max_message_bytes = n;
        }
    }
    if let Some(n) = raw.max_pending_sends {
        if n == 0 || n > 65_536 {
            problems.push(problem("limits.max_pending_sends", format!("{n} is out of range 1..=65536")));
        } else {
            limits.max_pending_sends = n;
        }
    }
    if let Some(n) = raw.event_deadline_ms {
        if !(10..=60_000).contains(&n) {
            problems.push(problem("limits.event_deadline_ms", format!("{n} is out of range 10..=60000")));
        } else {
            limits.event_deadline_ms = n;
        }
    }
    if let Some(n) = raw.max_memory_mib {
        if !(1..=4096).contains(&n) {
            problems.push(problem("limits.max_memory_mib", format!("{n} is out of range 1..=4096")));
        } else {
            limits.max_memory_bytes = n << 20;
        }
    }
    limits
}

fn check_messages(
    files: &impl PackageFiles,
    dir: &Path,
    class: MessageClass,
    raw: &BTreeMap<String, RawMessage>,
    problems: &mut Vec<PackageProblem>,
) -> BTreeMap<String, MessageSpec> {
    let mut out = BTreeMap::new();
    for (name, m) in raw {
        let key = format!("{}s.{name}", class.as_str());
        if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            problems.push(problem(&key, format!("{name:?} is not a valid message type: use 1-128 of [A-Za-z0-9-_.:]")));
        }
        if m.coalescible && class == MessageClass::UiEvent {
            problems.push(problem(format!("{key}.coalescible"), "only state updates can be coalescible".into()));
        }
        let schema = match (&m.schema, &m.schema_file) {
            (Some(_), Some(_)) => {
                problems.push(problem(&key, "give either `schema` or `schema_file`, not both".into()));
                None
            }
            (None, None) => {
                problems.push(problem(&key, "missing `schema` (use `schema = {}` to accept any JSON)".into()));
                None
            }
            (Some(inline), None) => match serde_json::to_value(inline) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(problem(format!("{key}.schema"), format!("not representable as JSON: {e}")));
                    None
                }
            },
            (None, Some(file)) => read_schema_file(files, dir, &key, file, problems),
        };
        if let Some(schema) = &schema {
            for explained in schema_problems(schema) {
                problems.push(problem(format!("{key}.schema"), explained));
            }
        }
        if let Some(schema) = schema {
            out.insert(name.clone(), MessageSpec { coalescible: m.coalescible, schema });
        }
    }
    out
}

/// Every problem of a JSON Schema, each explained ([`schema_problem`]); none if it is valid.
/// The violations of the meta-schema are listed one by one; a schema that names its own
/// meta-schema (`$schema`), or whose problem is not a meta-schema violation (a bad regex), gets
/// the first problem only.
fn schema_problems(schema: &serde_json::Value) -> Vec<String> {
    let Err(first) = jsonschema::validator_for(schema) else {
        return Vec::new();
    };
    // The meta validator of the default draft; `meta::validator_for` would panic on a
    // `$schema` it does not know, so a schema naming one is not listed in full.
    if schema.is_object() && schema.get("$schema").is_none() {
        if let Ok(meta) = jsonschema::meta::validator_for(schema) {
            let all: Vec<String> = meta.iter_errors(schema).map(|e| schema_problem(schema, &e)).collect();
            if !all.is_empty() {
                return all;
            }
        }
    }
    vec![schema_problem(schema, &first)]
}

/// Explains an invalid JSON Schema: where in the schema, what is wrong, and a hint for the
/// common mistakes (a bad `type` name; a schema that is not a table).
fn schema_problem(schema: &serde_json::Value, e: &jsonschema::ValidationError<'_>) -> String {
    let at = e.instance_path().as_str();
    if at.is_empty() && !schema.is_object() && !schema.is_boolean() {
        return format!(
            "invalid JSON Schema: a schema is a table such as `{{ type = \"object\" }}` (or `{{}}` for any JSON), not {schema}"
        );
    }
    let place = if at.is_empty() { String::new() } else { format!(" at {at}") };
    let hint = if at == "/type" || at.ends_with("/type") {
        "; a `type` is one of \"null\", \"boolean\", \"object\", \"array\", \"number\", \"string\", \"integer\""
    } else {
        ""
    };
    format!("invalid JSON Schema{place}: {e}{hint}")
}

/// Explains a `weft.toml` that does not parse or does not fit the manifest's shape. The place
/// is the key path of the offending line when it can be found (`limits.max_message_bytes`,
/// `app` for an unknown key in `[app]`), the problem ends with the line and column, and serde's
/// Rust type names are put in manifest terms.
fn toml_problem(text: &str, e: &toml::de::Error) -> PackageProblem {
    let message = e
        .message()
        .trim_end()
        .replace("expected u32", "expected a whole number ≥ 0")
        .replace("expected u64", "expected a whole number ≥ 0")
        .replace("expected a sequence", "expected an array, e.g. [\"clock\"]")
        .replace("expected a boolean", "expected true or false")
        .replace('\n', "; ");
    if message == "missing field `app`" {
        return problem(MANIFEST_FILE, "missing the [app] table (it needs at least `name = \"...\"`)".into());
    }
    let Some(start) = e.span().map(|span| span.start.min(text.len())) else {
        return problem(MANIFEST_FILE, message);
    };
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let where_ = format!(
        "{MANIFEST_FILE} line {}, column {}",
        text[..start].matches('\n').count() + 1,
        text[line_start..start].chars().count() + 1
    );
    let place = match (table_header(line), line.split_once('=')) {
        // A table header: a missing field is missing in this table; an unknown table is
        // unknown in its parent.
        (Some(header), _) if message.starts_with("unknown field") => header.rsplit_once('.').map(|(p, _)| p.to_owned()),
        (Some(header), _) => Some(header.to_owned()),
        // `key = value` with the error in the value: the key's full path.
        (None, Some((key, _))) if line_start + key.len() < start => {
            let table = text[..line_start].lines().filter_map(table_header).next_back();
            Some(table.map_or(String::new(), |t| format!("{t}.")) + key.trim())
        }
        // An unknown key: the table it is in.
        (None, _) => text[..line_start].lines().filter_map(table_header).next_back().map(str::to_owned),
    };
    match place {
        Some(place) => problem(place, format!("{message} ({where_})")),
        None => problem(where_, message),
    }
}

/// The name of a TOML table header line (`[limits]` → `limits`, `[[x]]` → `x`).
pub(crate) fn table_header(line: &str) -> Option<&str> {
    let inner = line.trim().strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    inner.split(']').next().map(str::trim)
}

fn read_schema_file(
    files: &impl PackageFiles,
    dir: &Path,
    key: &str,
    file: &str,
    problems: &mut Vec<PackageProblem>,
) -> Option<serde_json::Value> {
    let path = inside(dir, file, &format!("{key}.schema_file"), problems)?;
    match files.read_to_string(&path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(problem(file, format!("not valid JSON: {e}")));
                None
            }
        },
        Err(e) => {
            problems.push(problem(format!("{key}.schema_file"), format!("cannot read {file}: {e}")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &[u8] = &COMPONENT_HEADER;

    fn app(manifest: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(MANIFEST_FILE), manifest).expect("write manifest");
        std::fs::write(dir.path().join("core.wasm"), COMPONENT).expect("write core");
        std::fs::create_dir(dir.path().join("ui")).expect("ui dir");
        std::fs::write(dir.path().join("ui/index.html"), "<p>hi</p>").expect("write ui");
        dir
    }

    /// Each manifest's problems include its expected text.
    fn assert_each_names(cases: &[(&str, &str)]) {
        for (manifest, expected) in cases {
            let found = problems(manifest);
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "manifest {manifest:?}: expected {expected:?} in {found:?}"
            );
        }
    }

    fn problems(manifest: &str) -> Vec<String> {
        let dir = app(manifest);
        match AppPackage::load(dir.path()) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    const GOOD: &str = r#"
[app]
name = "counter"
[limits]
max_message_bytes = 1024
[ui-events.increment]
schema = { type = "object", properties = { by = { type = "integer" } } }
[state-updates.count]
coalescible = true
schema = { type = "object", required = ["value"] }
"#;

    #[test]
    fn a_good_package_loads() {
        let dir = app(GOOD);
        let pkg = AppPackage::load(dir.path()).expect("loads");
        assert_eq!(pkg.name, "counter");
        assert_eq!(pkg.limits.max_message_bytes, 1024);
        assert!(pkg.capabilities.is_empty());
        assert!(pkg.types(MessageClass::UiEvent).contains_key("increment"));
        assert!(pkg.state_updates["count"].coalescible);
    }

    #[test]
    fn each_mistake_is_named_precisely() {
        let cases: &[(&str, &str)] = &[
            ("[app]\nname = \"Bad Name\"\n[ui-events.a]\nschema={}", "app.name: \"Bad Name\" is not a valid name"),
            (
                "[app]\nname=\"a\"\ncapabilities=[\"network\"]\n[ui-events.a]\nschema={}",
                "app.capabilities[0]: unknown capability \"network\"",
            ),
            ("[app]\nname=\"a\"\n[ui-event.a]\nschema={}", "unknown field `ui-event`"),
            ("[app]\nname=\"a\"\n[ui-events.a]\nclass=\"x\"", "unknown field `class`"),
            ("[app]\nname=\"a\"\n[ui-events.a]", "ui-events.a: missing `schema`"),
            ("[app]\nname=\"a\"\n[ui-events.a]\nschema={type=\"nope\"}", "ui-events.a.schema: invalid JSON Schema"),
            (
                "[app]\nname=\"a\"\n[limits]\nmax_message_bytes=1000000\n[ui-events.a]\nschema={}",
                "limits.max_message_bytes: 1000000 is out of range",
            ),
            (
                "[app]\nname=\"a\"\ncore=\"../x.wasm\"\n[ui-events.a]\nschema={}",
                "app.core: \"../x.wasm\" must be a relative path",
            ),
            (
                "[app]\nname=\"a\"\nui=\"ui/main.html\"\n[ui-events.a]\nschema={}",
                "app.ui: \"ui/main.html\" is not supported: the shell always opens ui/index.html",
            ),
            (
                "[app]\nname=\"a\"\n[ui-events.a]\ncoalescible=true\nschema={}",
                "ui-events.a.coalescible: only state updates",
            ),
            ("[app]\nname=\"a\"\n[state-updates.a]\nschema={}", "ui-events: declares no UI event type"),
            ("[app]\nname=\"a\"\nnmae=\"b\"", "unknown field `nmae`"),
            ("[app]\nname=\"a\"\n[ui-events.a]\nschema_file=\"s.json\"", "ui-events.a.schema_file: cannot read s.json"),
        ];
        assert_each_names(cases);
    }

    #[test]
    fn a_manifest_that_does_not_fit_names_the_key_the_line_and_what_is_expected() {
        let cases: &[(&str, &str)] = &[
            (
                "[app]\nname=\"a\"\n[limits]\nmax_message_bytes = \"16k\"\n[ui-events.a]\nschema={}",
                "limits.max_message_bytes: invalid type: string \"16k\", expected a whole number ≥ 0 (weft.toml line 4, column 21)",
            ),
            (
                "[app]\nname=\"a\"\n[limits]\nevent_deadline_ms = -5\n[ui-events.a]\nschema={}",
                "limits.event_deadline_ms: invalid value: integer `-5`, expected a whole number ≥ 0",
            ),
            (
                "[app]\nname=\"a\"\ncapabilities = \"clock\"\n[ui-events.a]\nschema={}",
                "app.capabilities: invalid type: string \"clock\", expected an array, e.g. [\"clock\"]",
            ),
            (
                "[app]\nname=\"a\"\n[ui-events.a]\nschema={}\n[state-updates.b]\ncoalescible = \"yes\"\nschema={}",
                "state-updates.b.coalescible: invalid type: string \"yes\", expected true or false",
            ),
            ("[app]\nname=\"a\"\ncapabilites = []", "app: unknown field `capabilites`, expected one of `name`"),
            ("[app]\nname=\"a\"\n[ui-events.a]\nclass=\"x\"", "ui-events.a: unknown field `class`"),
            ("[app]\nname=\"a\"\n[limit]\n", "weft.toml: unknown field `limit`, expected one of `app`"),
            ("[app]\nname=\"a\"\n[limit]\n", "did you mean `limits`? (weft.toml line 3, column 2)"),
            ("[app]\ncore=\"core.wasm\"\n[ui-events.a]\nschema={}", "app: missing field `name` (weft.toml line 1"),
            ("[ui-events.a]\nschema={}", "weft.toml: missing the [app] table"),
            ("[app]\nname = x\n", "app.name: invalid string; expected `\"`, `'` (weft.toml line 2, column 8)"),
            (
                "[app]\nname=\"a\"\n[ui-events.a]\nschema={type=\"object\", properties={n={type=\"int\"}}}",
                "ui-events.a.schema: invalid JSON Schema at /properties/n/type: ",
            ),
            (
                "[app]\nname=\"a\"\n[ui-events.a]\nschema={type=\"int\"}",
                "; a `type` is one of \"null\", \"boolean\"",
            ),
            ("[app]\nname=\"a\"\n[ui-events.a]\nschema=\"object\"", "ui-events.a.schema: invalid JSON Schema: a schema is a table"),
            ("[app]\nname=\"a\"\n[ui-events.\"a b\"]\nschema={}", "ui-events.a b: \"a b\" is not a valid message type"),
        ];
        assert_each_names(cases);
    }

    #[test]
    fn every_problem_is_reported_in_one_run() {
        let manifest = r#"
[app]
nmae = "typo"
name = "Bad Name"
capabilities = ["network"]
[limts]
max_message_bytes = 1
[ui-events.add]
shema = {}
schema = { type = "object", properties = { n = { type = "int" }, m = { minimum = "zero" } } }
[state-updates.list]
coalescable = true
schema = {}
"#;
        let found = problems(manifest);
        let expected = [
            "app: unknown field `nmae`",
            "did you mean `name`? (weft.toml line 3, column 1)",
            "weft.toml: unknown field `limts`",
            "did you mean `limits`? (weft.toml line 6, column 2)",
            "ui-events.add: unknown field `shema`",
            "state-updates.list: unknown field `coalescable`",
            "did you mean `coalescible`? (weft.toml line 12, column 1)",
            "app.name: \"Bad Name\" is not a valid name",
            "app.capabilities[0]: unknown capability \"network\"",
            "ui-events.add.schema: invalid JSON Schema at /properties/n/type",
            "ui-events.add.schema: invalid JSON Schema at /properties/m/minimum",
        ];
        for e in expected {
            assert!(found.iter().any(|p| p.contains(e)), "expected {e:?} in {found:#?}");
        }
        assert_eq!(found.len(), 8, "one line per problem: {found:#?}");
    }

    #[test]
    fn memory_files_check_like_the_disk() {
        let manifests =
            [GOOD, "[app]\nname=\"a\"\n[ui-events.a]\nschema_file=\"s.json\"", "[app]\nname=\"Bad\"\nui=\"x\""];
        for manifest in manifests {
            let dir = app(manifest);
            let root = dir.path().canonicalize().expect("canonical");
            let mut files = MemoryFiles::default();
            files.0.insert(root.join("core.wasm"), COMPONENT.to_vec());
            files.0.insert(root.join("ui/index.html"), b"<p>hi</p>".to_vec());
            // The same package, or problems in the same places (I/O error texts differ).
            let places = |e: PackageErrors| e.0.into_iter().map(|p| p.place).collect::<Vec<_>>();
            let from_disk = AppPackage::load(dir.path()).map(|p| p.name).map_err(places);
            let from_memory = AppPackage::from_manifest(root, manifest, &files).map(|p| p.name).map_err(places);
            assert_eq!(from_disk, from_memory, "manifest {manifest:?}");
        }
    }

    #[test]
    fn a_missing_ui_page_is_named() {
        let dir = app(GOOD);
        std::fs::remove_file(dir.path().join("ui/index.html")).expect("remove");
        let err = AppPackage::load(dir.path()).expect_err("no page");
        assert!(err.to_string().contains("app.ui: ui/index.html does not exist"), "{err}");
        std::fs::write(
            dir.path().join("weft.toml"),
            format!("{GOOD}\n").replace("[app]", "[app]\nui = \"./ui/index.html\""),
        )
        .expect("write");
        std::fs::write(dir.path().join("ui/index.html"), "<p>hi</p>").expect("write ui");
        AppPackage::load(dir.path()).expect("./ui/index.html is the same page");
    }

    #[test]
    fn a_missing_core_says_how_to_build_it() {
        let dir = app(GOOD);
        std::fs::remove_file(dir.path().join("core.wasm")).expect("remove");
        let err = AppPackage::load(dir.path()).expect_err("no core");
        assert!(
            err.to_string().contains(
                "app.core: core.wasm does not exist: build the core (`cargo build --release --target wasm32-wasip2`"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        let dir = app(GOOD);
        std::fs::write(dir.path().join("core.wasm"), MODULE_HEADER).expect("write");
        let err = AppPackage::load(dir.path()).expect_err("module refused");
        assert!(err.to_string().contains("is a core Wasm module"), "{err}");
    }
}
