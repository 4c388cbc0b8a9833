//! `weft new DIR [--template counter|todo|blank]`: writes an app that builds and runs at once.
//!
//! The counter and todo templates are the repository's own examples (`examples/`), read at
//! compile time, so a template is always an app the test suite runs; `blank` is the smallest
//! app (one UI event, one state update). Every template's core is written against the SDK of
//! the WEFT checkout this `weft` was built from (`sdk/weft-sdk`, by path), which holds the WIT
//! contract of the host and generates the message types from the app's `weft.toml`.

use std::path::Path;

/// The SDK a new core depends on: this checkout's (it is not published on crates.io).
const SDK_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/weft-sdk");

/// The examples' lock file: a new core resolves to exactly the dependency versions
/// `scripts/setup` fetched and compiled for them (cargo drops the entries it does not need),
/// so it builds offline and reuses their compiled dependencies.
const EXAMPLES_LOCK: &str = include_str!("../../examples/Cargo.lock");

/// The placeholder for the app's name in the blank template.
const NAME_PLACEHOLDER: &str = "__WEFT_APP_NAME__";

/// An app template: its files, relative to the app directory.
struct Template {
    name: &'static str,
    /// The name the template's manifest gives the app (replaced by the new app's).
    app_name: &'static str,
    files: &'static [(&'static str, &'static str)],
}

const TEMPLATES: &[Template] = &[
    Template {
        name: "counter",
        app_name: "counter",
        files: &[
            ("weft.toml", include_str!("../../examples/counter/weft.toml")),
            ("ui/index.html", include_str!("../../examples/counter/ui/index.html")),
            ("core/src/lib.rs", include_str!("../../examples/counter/core/src/lib.rs")),
        ],
    },
    Template {
        name: "todo",
        app_name: "todo",
        files: &[
            ("weft.toml", include_str!("../../examples/todo/weft.toml")),
            ("schemas/item.json", include_str!("../../examples/todo/schemas/item.json")),
            ("ui/index.html", include_str!("../../examples/todo/ui/index.html")),
            ("core/src/lib.rs", include_str!("../../examples/todo/core/src/lib.rs")),
            ("core/src/model.rs", include_str!("../../examples/todo/core/src/model.rs")),
        ],
    },
    Template {
        name: "blank",
        app_name: NAME_PLACEHOLDER,
        files: &[
            ("weft.toml", include_str!("../templates/blank/weft.toml")),
            ("ui/index.html", include_str!("../templates/blank/ui/index.html")),
            ("core/src/lib.rs", include_str!("../templates/blank/core/src/lib.rs")),
        ],
    },
];

/// The templates' names, for messages.
pub fn template_names() -> String {
    TEMPLATES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// The core's Cargo manifest: a package of its own (not part of any enclosing workspace), with
/// the dependency versions the examples use, which `scripts/setup` has already fetched (so
/// the app builds offline).
fn core_manifest(app_name: &str) -> String {
    let sdk = std::path::absolute(SDK_PATH).unwrap_or_else(|_| SDK_PATH.into());
    let sdk = sdk.display();
    format!(
        r#"# The core of the WEFT app `{app_name}`: a WebAssembly component (`weft run` and `weft dev`
# build it with `cargo build --release --target wasm32-wasip2` and copy it to ../core.wasm).
[package]
name = "{app_name}-core"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# The WEFT core SDK: the message types come from ../weft.toml (weft_sdk::messages!).
weft-sdk = {{ path = "{sdk}" }}
# The generated message types derive serde's traits.
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true
strip = true

# Not a member of any workspace above this directory.
[workspace]
"#
    )
}

const GITIGNORE: &str = "/core.wasm\n/core/target/\n";

/// Why `weft new` wrote nothing.
#[derive(Debug)]
pub enum NewError {
    UnknownTemplate(String),
    BadName(String),
    NotEmpty(std::path::PathBuf),
    Io(std::path::PathBuf, std::io::Error),
}

impl std::fmt::Display for NewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NewError::UnknownTemplate(t) => write!(f, "no template {t:?}: the templates are {}", template_names()),
            NewError::BadName(n) => write!(
                f,
                "{n:?} is not a valid app name (the directory's name is the app's): use lowercase \
                 letters, digits and '-', or pass --name"
            ),
            NewError::NotEmpty(d) => {
                write!(f, "{} exists and is not empty: weft new writes only into a new or empty directory", d.display())
            }
            NewError::Io(p, e) => write!(f, "cannot write {}: {e}", p.display()),
        }
    }
}

/// Whether `name` is a valid app name (the manifest's rule).
pub fn is_valid_app_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Writes a new app from `template` into `dir` (new or empty), named `name`. Returns the files
/// written, relative to `dir`.
pub fn write_app(dir: &Path, template: &str, name: &str) -> Result<Vec<String>, NewError> {
    let template =
        TEMPLATES.iter().find(|t| t.name == template).ok_or_else(|| NewError::UnknownTemplate(template.to_owned()))?;
    if !is_valid_app_name(name) {
        return Err(NewError::BadName(name.to_owned()));
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(NewError::NotEmpty(dir.to_owned()));
    }
    let mut files: Vec<(String, String)> = template
        .files
        .iter()
        .map(|(path, text)| {
            let text = if *path == "weft.toml" { rename_app(text, template.app_name, name) } else { text.to_string() };
            ((*path).to_owned(), text.replace(NAME_PLACEHOLDER, name))
        })
        .collect();
    files.push(("core/Cargo.toml".into(), core_manifest(name)));
    files.push(("core/Cargo.lock".into(), EXAMPLES_LOCK.to_owned()));
    files.push((".gitignore".into(), GITIGNORE.to_owned()));
    for (path, text) in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| NewError::Io(parent.to_owned(), e))?;
        }
        std::fs::write(&full, text).map_err(|e| NewError::Io(full.clone(), e))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// The manifest with `[app] name` set to `name`.
fn rename_app(manifest: &str, from: &str, to: &str) -> String {
    manifest.replacen(&format!("name = \"{from}\""), &format!("name = \"{to}\""), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_names_the_app_and_builds_its_core_on_this_checkouts_sdk() {
        for template in TEMPLATES {
            let dir = std::env::temp_dir().join(format!("weft-new-unit-{}-{}", template.name, std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let files = write_app(&dir, template.name, "my-app").expect("written");
            let manifest = std::fs::read_to_string(dir.join("weft.toml")).expect("manifest");
            assert!(manifest.contains("name = \"my-app\""), "{}: {manifest}", template.name);
            let lib = std::fs::read_to_string(dir.join("core/src/lib.rs")).expect("lib.rs");
            assert!(lib.contains("weft_sdk::messages!();"), "{}: the core uses the SDK", template.name);
            let cargo = std::fs::read_to_string(dir.join("core/Cargo.toml")).expect("Cargo.toml");
            let sdk = std::path::absolute(SDK_PATH).expect("absolute");
            assert!(cargo.contains(&format!("weft-sdk = {{ path = \"{}\" }}", sdk.display())), "{cargo}");
            assert!(sdk.join("Cargo.toml").is_file(), "{}", sdk.display());
            assert!(!files
                .iter()
                .any(|f| std::fs::read_to_string(dir.join(f)).expect("file").contains(NAME_PLACEHOLDER)));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn a_bad_name_an_unknown_template_and_a_non_empty_directory_are_refused() {
        let dir = std::env::temp_dir().join(format!("weft-new-unit-refusals-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(write_app(&dir, "counter", "My App"), Err(NewError::BadName(_))));
        assert!(matches!(write_app(&dir, "chat", "ok"), Err(NewError::UnknownTemplate(_))));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("keep.txt"), "mine").expect("file");
        assert!(matches!(write_app(&dir, "counter", "ok"), Err(NewError::NotEmpty(_))));
        assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).expect("kept"), "mine");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
