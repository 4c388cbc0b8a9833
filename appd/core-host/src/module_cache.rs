//! The precompiled-module cache: a core compiled once is kept as Wasmtime's serialised native
//! code and loaded from there by later sessions, which skips Cranelift (most of a cold start).
//!
//! - Key: SHA-256 over a format tag, the engine's [`Engine::precompile_compatibility_hash`]
//!   (Wasmtime version, target, and every setting that changes the code) and the core's bytes.
//!   A changed core, a changed engine configuration or a new Wasmtime never meets an old entry.
//! - File: `<dir>/<key>.cwasm` = SHA-256 of the artifact, then the artifact. The digest is
//!   checked before Wasmtime sees the bytes, so a truncated or corrupted file is recompiled,
//!   never deserialised; Wasmtime itself refuses an artifact made by another engine.
//! - Writes go to a temporary file in the same directory, then `rename`: readers see a whole
//!   entry or none. The directory is created owner-only. Any cache failure only costs the
//!   compile: the core is then compiled from its bytes as without a cache.
//! - Where: `$WEFT_MODULE_CACHE_DIR`, else `$XDG_CACHE_HOME/weft/modules`, else
//!   `~/.cache/weft/modules`; `WEFT_MODULE_CACHE=off` turns it off.
//!
//! The cache trusts its directory as much as the user's own files: anyone who can write there
//! can already replace the core host. The digest guards against accidents, not an attacker.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// A tag in every key: bump it when the file layout changes.
const FORMAT: &[u8] = b"weft-module-cache-v1\0";
const DIGEST_LEN: usize = 32;

/// How a core was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a valid cache entry (no compilation).
    Hit,
    /// Not in the cache: compiled, and the entry written.
    Miss,
    /// An entry was there but unusable (corrupt, foreign or unreadable): compiled, rewritten.
    Replaced,
    /// No cache in use, or writing the entry failed: compiled only.
    Uncached,
}

/// A directory of precompiled cores.
#[derive(Clone, Debug)]
pub struct ModuleCache {
    dir: PathBuf,
}

/// Feeds a `Hash` value into SHA-256 (the engine's compatibility hash is only `impl Hash`).
struct ShaHasher(Sha256);

impl std::hash::Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ModuleCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> ModuleCache {
        ModuleCache { dir: dir.into() }
    }

    /// The cache the environment asks for (see the module doc), or `None` if it is turned off
    /// or there is no home to put it in.
    pub fn from_env() -> Option<ModuleCache> {
        if std::env::var("WEFT_MODULE_CACHE").is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false")) {
            return None;
        }
        let dir = match std::env::var_os("WEFT_MODULE_CACHE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let base = std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
                base.join("weft").join("modules")
            }
        };
        Some(ModuleCache::new(dir))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `wasm` compiled by `engine`.
    pub fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut hasher = ShaHasher(Sha256::new());
        hasher.0.update(FORMAT);
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        hasher.0.update((wasm.len() as u64).to_le_bytes());
        hasher.0.update(wasm);
        let key = hex(&hasher.0.finalize());
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The component for `wasm`: from the cache if it holds a valid entry, else compiled (and
    /// the entry written). Errors are compile errors of `wasm` itself.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, CacheOutcome), wasmtime::Error> {
        let path = self.entry_path(engine, wasm);
        let mut found = false;
        match std::fs::read(&path) {
            Ok(file) => {
                found = true;
                match verified(&file) {
                    Some(artifact) => {
                        // SAFETY: Wasmtime requires that the bytes came from
                        // `Engine::precompile_component` of a compatible engine. This entry's
                        // digest matches what this cache wrote (so it is not truncated or
                        // corrupted), its key covers the engine's compatibility hash, and
                        // Wasmtime checks the artifact's header against this engine again.
                        match unsafe { Component::deserialize(engine, artifact) } {
                            Ok(component) => return Ok((component, CacheOutcome::Hit)),
                            Err(e) => tracing::warn!(path = %path.display(), error = %e, "unusable module cache entry"),
                        }
                    }
                    None => tracing::warn!(path = %path.display(), "corrupt module cache entry (digest mismatch)"),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read the module cache"),
        }
        let artifact = engine.precompile_component(wasm)?;
        // SAFETY: the artifact was produced just now by `precompile_component` on this engine.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        let outcome = match self.store(&path, &artifact) {
            Ok(()) if found => CacheOutcome::Replaced,
            Ok(()) => CacheOutcome::Miss,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write the module cache");
                CacheOutcome::Uncached
            }
        };
        Ok((component, outcome))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        std::fs::DirBuilder::new().recursive(true).mode_owner_only().create(&self.dir)?;
        let mut tmp = tempfile_in(&self.dir)?;
        tmp.1.write_all(&Sha256::digest(artifact))?;
        tmp.1.write_all(artifact)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp.0);
        })
    }
}

/// The artifact of a cache file, if its digest matches.
fn verified(file: &[u8]) -> Option<&[u8]> {
    if file.len() <= DIGEST_LEN {
        return None;
    }
    let (digest, artifact) = file.split_at(DIGEST_LEN);
    (Sha256::digest(artifact).as_slice() == digest).then_some(artifact)
}

/// A new owner-only file in `dir` with a unique name.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let path = dir.join(format!(".tmp-{}-{stamp}", std::process::id()));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    Ok((path, file))
}

trait OwnerOnly {
    fn mode_owner_only(&mut self) -> &mut Self;
}

impl OwnerOnly for std::fs::DirBuilder {
    fn mode_owner_only(&mut self) -> &mut Self {
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = r#"(component (core module (func (export "f"))))"#;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).expect("engine")
    }

    #[test]
    fn a_core_is_compiled_once_then_loaded_from_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ModuleCache::new(dir.path().join("modules"));
        let engine = engine();
        let wasm = wat::parse_str(CORE).expect("wat");
        assert_eq!(cache.load(&engine, &wasm).expect("compile").1, CacheOutcome::Miss);
        assert_eq!(cache.load(&engine, &wasm).expect("load").1, CacheOutcome::Hit);
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(cache.dir()).expect("dir").permissions());
        assert_eq!(mode & 0o777, 0o700, "the cache directory is owner-only");
    }

    #[test]
    fn a_corrupt_or_truncated_entry_is_recompiled_not_deserialised() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ModuleCache::new(dir.path());
        let engine = engine();
        let wasm = wat::parse_str(CORE).expect("wat");
        cache.load(&engine, &wasm).expect("compile");
        let path = cache.entry_path(&engine, &wasm);
        let mut bytes = std::fs::read(&path).expect("entry");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).expect("corrupt");
        assert_eq!(cache.load(&engine, &wasm).expect("recompile").1, CacheOutcome::Replaced);
        assert_eq!(cache.load(&engine, &wasm).expect("load").1, CacheOutcome::Hit, "the entry was rewritten");
        std::fs::write(&path, &bytes[..10]).expect("truncate");
        assert_eq!(cache.load(&engine, &wasm).expect("recompile").1, CacheOutcome::Replaced);
    }

    #[test]
    fn a_foreign_artifact_with_a_valid_digest_is_refused_by_wasmtime_and_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ModuleCache::new(dir.path());
        let engine = engine();
        let wasm = wat::parse_str(CORE).expect("wat");
        let path = cache.entry_path(&engine, &wasm);
        // Well-formed for the cache (the digest matches), but not a Wasmtime artifact.
        let junk = b"\x7fELF not really a precompiled component".to_vec();
        let mut file = Sha256::digest(&junk).to_vec();
        file.extend_from_slice(&junk);
        std::fs::write(&path, file).expect("plant");
        let (_, outcome) = cache.load(&engine, &wasm).expect("recompile");
        assert_eq!(outcome, CacheOutcome::Replaced);
    }

    #[test]
    fn the_key_covers_the_core_and_the_engine_configuration() {
        let cache = ModuleCache::new("/nonexistent");
        let engine = engine();
        let a = wat::parse_str(CORE).expect("wat");
        let b = wat::parse_str(r#"(component (core module (func (export "g"))))"#).expect("wat");
        assert_ne!(cache.entry_path(&engine, &a), cache.entry_path(&engine, &b));
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let other = Engine::new(&config).expect("engine");
        assert_ne!(cache.entry_path(&engine, &a), cache.entry_path(&other, &a));
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_core() {
        let cache = ModuleCache::new("/proc/weft-no-such-dir");
        let engine = engine();
        let wasm = wat::parse_str(CORE).expect("wat");
        assert_eq!(cache.load(&engine, &wasm).expect("compile").1, CacheOutcome::Uncached);
    }
}
