//! Watches files and directory trees for changes (Linux inotify), for `weft dev`.
//!
//! [`Watch::start`] watches each path it is given: a directory with everything below it (new
//! subdirectories included), or a single file (through its directory, so an editor that
//! replaces the file by renaming a new one over it is seen). Every change that can alter what
//! a file holds — written and closed, created, deleted, moved in or out — calls `on_change`
//! with the changed path, on the watch's own thread. Changes to directories named `target`
//! or starting with `.` (build output, editors' swap files, VCS data) are ignored.

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// The events that can change what a file holds.
fn mask() -> WatchMask {
    WatchMask::CLOSE_WRITE | WatchMask::CREATE | WatchMask::DELETE | WatchMask::MOVED_TO | WatchMask::MOVED_FROM
}

/// A running watch; it ends when the process does.
pub struct Watch {
    _thread: std::thread::JoinHandle<()>,
}

/// What one watch descriptor stands for.
struct Watched {
    dir: PathBuf,
    /// `Some(name)`: only this file of `dir` matters; `None`: everything below `dir`.
    only: Option<std::ffi::OsString>,
}

fn ignored(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name == "target" || name.starts_with('.') || name.ends_with('~')
}

impl Watch {
    /// Starts watching `paths` (directories, recursively, or files); `on_change` gets each
    /// changed path. Fails if inotify is unavailable or a path cannot be watched.
    pub fn start(paths: &[PathBuf], on_change: impl Fn(&Path) + Send + 'static) -> io::Result<Watch> {
        let inotify = Inotify::init()?;
        let mut watched = HashMap::new();
        for path in paths {
            if path.is_dir() {
                add_tree(&inotify, path, &mut watched)?;
            } else {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let wd = inotify.watches().add(dir, mask())?;
                watched.insert(wd, Watched { dir: dir.to_owned(), only: path.file_name().map(ToOwned::to_owned) });
            }
        }
        let thread =
            std::thread::Builder::new().name("weft-watch".into()).spawn(move || follow(inotify, watched, on_change))?;
        Ok(Watch { _thread: thread })
    }
}

/// Watches `dir` and every directory below it (not the ignored ones).
fn add_tree(inotify: &Inotify, dir: &Path, watched: &mut HashMap<WatchDescriptor, Watched>) -> io::Result<()> {
    let wd = inotify.watches().add(dir, mask())?;
    watched.insert(wd, Watched { dir: dir.to_owned(), only: None });
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) && !ignored(&entry.file_name()) {
            add_tree(inotify, &entry.path(), watched)?;
        }
    }
    Ok(())
}

fn follow(mut inotify: Inotify, mut watched: HashMap<WatchDescriptor, Watched>, on_change: impl Fn(&Path)) {
    let mut buffer = [0u8; 4096];
    loop {
        let events = match inotify.read_events_blocking(&mut buffer) {
            Ok(events) => events,
            Err(_) => return,
        };
        let mut changed = Vec::new();
        let mut new_dirs = Vec::new();
        for event in events {
            let (Some(watch), Some(name)) = (watched.get(&event.wd), event.name) else {
                continue;
            };
            if watch.only.as_deref().is_some_and(|only| only != name) || ignored(name) {
                continue;
            }
            let path = watch.dir.join(name);
            let new_dir = event.mask.contains(EventMask::ISDIR)
                && event.mask.intersects(EventMask::CREATE | EventMask::MOVED_TO)
                && watch.only.is_none();
            if new_dir {
                new_dirs.push(path.clone());
            }
            changed.push(path);
        }
        for dir in new_dirs {
            let _ = add_tree(&inotify, &dir, &mut watched);
        }
        for path in changed {
            on_change(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Watch;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn changes_below_a_directory_and_to_a_single_file_are_reported_and_others_are_not() {
        let root = tempfile_dir();
        std::fs::create_dir_all(root.join("ui/css")).expect("dirs");
        std::fs::create_dir_all(root.join("ui/.git")).expect("dirs");
        std::fs::write(root.join("weft.toml"), "a").expect("file");
        let (tx, rx) = mpsc::channel();
        let _watch = Watch::start(&[root.join("ui"), root.join("weft.toml")], move |path| {
            let _ = tx.send(path.to_owned());
        })
        .expect("watch");
        // A write is reported once per event (created, then written and closed): skip repeats.
        let last = std::cell::RefCell::new(std::path::PathBuf::new());
        let next = || loop {
            let path = rx.recv_timeout(Duration::from_secs(5)).expect("a change");
            if path != *last.borrow() {
                *last.borrow_mut() = path.clone();
                return path;
            }
        };
        std::fs::write(root.join("ui/.git/index"), "ignored").expect("file");
        std::fs::write(root.join("other.txt"), "not watched").expect("file");
        std::fs::write(root.join("ui/css/a.css"), "p{}").expect("file");
        assert_eq!(next(), root.join("ui/css/a.css"));
        std::fs::create_dir(root.join("ui/img")).expect("dir");
        assert_eq!(next(), root.join("ui/img"));
        std::fs::write(root.join("ui/img/b.svg"), "<svg/>").expect("file");
        assert_eq!(next(), root.join("ui/img/b.svg"), "a new directory is watched too");
        std::fs::write(root.join("weft.toml.new"), "b").expect("file");
        std::fs::rename(root.join("weft.toml.new"), root.join("weft.toml")).expect("rename");
        assert_eq!(next(), root.join("weft.toml"), "a file replaced by a rename");
        std::fs::write(root.join("ui/.hidden.swp"), "ignored").expect("file");
        std::fs::write(root.join("ui/index.html"), "<p>").expect("file");
        assert_eq!(next(), root.join("ui/index.html"), "nothing in between was reported");
        let _ = std::fs::remove_dir_all(&root);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("weft-watch-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }
}
