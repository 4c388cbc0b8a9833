//! `scripts/patch-crates`, the setup step that materialises WEFT's patched crates
//! (patches/README.md), run on a copy of the repository's scripts and patches with a target
//! directory of its own: it makes the copy once, does nothing the second time, and a patch that
//! no longer applies or a release that does not match its checksum stops it with one line.

use std::path::{Path, PathBuf};
use std::process::Output;
use weft_tests::harness::repo_root;

/// A copy of what the script reads (scripts/, patches/, Cargo.toml) and a target directory,
/// with the release archive already downloaded (the script checks it all the same).
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = repo_root();
        let status = std::process::Command::new("cp")
            .arg("-r")
            .args(["scripts", "patches", "Cargo.toml"].map(|p| repo.join(p)))
            .arg(dir.path())
            .status()
            .expect("cp");
        assert!(status.success());
        let downloads = dir.path().join("target/patched/downloads");
        std::fs::create_dir_all(&downloads).expect("downloads dir");
        let archive = shared_target_dir().join("patched/downloads/ipc-channel-0.23.1.crate");
        std::fs::copy(&archive, downloads.join("ipc-channel-0.23.1.crate"))
            .unwrap_or_else(|e| panic!("{} (scripts/setup downloads it): {e}", archive.display()));
        Scratch { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn run(&self) -> Output {
        std::process::Command::new(self.path("scripts/patch-crates"))
            .env("CARGO_TARGET_DIR", self.path("target"))
            .output()
            .expect("run scripts/patch-crates")
    }
}

fn shared_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/weft/target"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The first patch of the ipc-channel series.
fn first_patch(scratch: &Scratch) -> PathBuf {
    let series = scratch.path("patches/ipc-channel-0.23.1");
    let mut patches: Vec<_> = std::fs::read_dir(&series)
        .expect("series")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    patches.sort();
    patches.into_iter().next().expect("a patch")
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn the_copy_is_made_once_and_linked_where_cargo_looks() {
    let scratch = Scratch::new();
    let first = scratch.run();
    assert!(first.status.success(), "{}{}", text(&first.stdout), text(&first.stderr));
    assert!(text(&first.stdout).contains("ipc-channel 0.23.1: materialised with"), "{}", text(&first.stdout));
    let link = scratch.path(".patched/ipc-channel-0.23.1");
    let copy = std::fs::read_link(&link).expect("the link");
    assert!(copy.starts_with(scratch.path("target/patched")), "{}", copy.display());
    assert!(link.join("src/platform/unix/received.rs").is_file(), "the patches' new file is in the copy");

    let again = scratch.run();
    assert!(again.status.success());
    let lines: Vec<String> = text(&again.stdout).lines().map(str::to_owned).collect();
    assert!(lines.contains(&"ipc-channel 0.23.1: 3 patch(es), up to date".to_owned()), "{lines:?}");
    assert!(lines.iter().all(|l| l.ends_with("up to date")), "re-running made something again: {lines:?}");
    assert_eq!(std::fs::read_link(&link).expect("the link"), copy, "re-running changed nothing");
}

#[test]
fn a_patch_that_no_longer_applies_stops_setup_with_one_line() {
    let scratch = Scratch::new();
    let patch = first_patch(&scratch);
    // A context line the release does not have.
    edit(&patch, "\n use tempfile::{Builder, TempDir};", "\n use tempfile::{Builder, TempDirThatIsNot};");
    let run = scratch.run();
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let name = patch.file_name().expect("name").to_string_lossy().into_owned();
    assert!(stderr.starts_with("setup: patches/ipc-channel-0.23.1/") && stderr.contains(&name), "{stderr}");
    assert!(stderr.contains("does not apply to ipc-channel 0.23.1"), "{stderr}");
}

#[test]
fn a_release_that_does_not_match_its_checksum_is_refused() {
    let scratch = Scratch::new();
    let series = scratch.path("patches/ipc-channel-0.23.1");
    for entry in std::fs::read_dir(&series).expect("series") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "patch") {
            edit(&path, "Checksum: sha256 cf1d9c44", "Checksum: sha256 00000000");
        }
    }
    let run = scratch.run();
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(stderr.contains("does not match the checksum its patches name"), "{stderr}");
    assert!(!scratch.path(".patched/ipc-channel-0.23.1").exists(), "nothing was linked");
}

/// The IDL the page-facing tests check (resources/weft-channel.webidl, for idlharness.js and the
/// docs) is, byte for byte, the file WEFT's patch adds to Servo's bindings (what Servo compiles).
#[test]
fn the_page_idl_is_the_one_servo_compiles() {
    let repo = repo_root();
    let patch =
        std::fs::read_to_string(repo.join("patches/servo-script-bindings-0.7.0/0001-page-channel-interfaces.patch"))
            .expect("the bindings patch");
    let mut compiled = String::new();
    let mut lines = patch.lines().skip_while(|l| *l != "+++ b/webidls/WeftChannel.webidl").skip(2);
    for line in lines.by_ref() {
        match line.strip_prefix('+') {
            Some(added) => {
                compiled.push_str(added);
                compiled.push('\n');
            }
            None => break,
        }
    }
    assert!(compiled.contains("interface WeftChannel : EventTarget"), "the IDL in the patch:\n{compiled}");
    let page = std::fs::read_to_string(repo.join("resources/weft-channel.webidl")).expect("the page IDL");
    assert_eq!(page, compiled, "resources/weft-channel.webidl differs from the IDL the Servo patch compiles");
}
