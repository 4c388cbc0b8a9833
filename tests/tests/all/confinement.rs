//! The core host's OS confinement (Landlock and no_new_privs, applied before any guest code and
//! before its threads start), across real processes.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use weft_tests::harness::{app, bin, example_core, Daemon, ECHO_MANIFEST};

/// Runs the probe (confined, or the unconfined control run) against a user file, a listening
/// port and a sibling process; each attempt's outcome by name.
fn probe(confined: bool) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "the user's").expect("secret");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let mut sibling = Command::new("sleep").arg("30").spawn().expect("a sibling");
    let mut command = Command::new(bin("weft-core-host"));
    command.arg("--confinement-probe").arg(&secret).arg(port.to_string()).arg(sibling.id().to_string());
    if confined {
        command.env_remove("WEFT_UNCONFINED");
    } else {
        command.env("WEFT_UNCONFINED", "1");
    }
    let out = command.output().expect("run the probe");
    let _ = sibling.kill();
    let _ = sibling.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .map(|v| (v["attempt"].as_str().expect("attempt").to_owned(), v))
        .collect()
}

#[test]
fn a_confined_core_host_can_reach_no_file_no_network_no_program_and_no_sibling() {
    let control = probe(false);
    let confined = probe(true);
    for attempt in ["read-user-file", "create-file", "connect-tcp"] {
        assert_eq!(control[attempt]["denied"], false, "the control run must be able to {attempt}: {control:?}");
        assert_eq!(confined[attempt]["denied"], true, "{attempt} must be denied: {confined:?}");
        assert_eq!(confined[attempt]["errno"], libc::EACCES, "Landlock denies with EACCES: {confined:?}");
    }
    // A new process: seccomp refuses it (EPERM); running a program, Landlock too (EACCES).
    for attempt in ["fork", "exec"] {
        assert_eq!(control[attempt]["denied"], false, "the control run must be able to {attempt}: {control:?}");
        assert_eq!(confined[attempt]["denied"], true, "{attempt} must be denied: {confined:?}");
        let errno = confined[attempt]["errno"].as_i64().unwrap_or_default();
        assert!(errno == i64::from(libc::EPERM) || errno == i64::from(libc::EACCES), "{attempt}: {confined:?}");
    }
    assert_eq!(confined["fork"]["errno"], libc::EPERM, "{confined:?}");
    // Descriptors are limited (64): holding 200 fails with EMFILE.
    assert_eq!(control["hold-200-descriptors"]["denied"], false, "{control:?}");
    assert_eq!(confined["hold-200-descriptors"]["errno"], libc::EMFILE, "{confined:?}");
    // ptrace: denied confined; the control shows whether this machine allows it at all.
    assert_eq!(confined["ptrace-sibling"]["denied"], true, "{confined:?}");
    if control["ptrace-sibling"]["denied"] == false {
        assert_eq!(confined["ptrace-sibling"]["errno"], libc::EPERM, "{confined:?}");
    }
}

/// The lines of `/proc/<pid>/status` and of each of its threads'.
fn thread_statuses(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .flatten()
        .map(|task| std::fs::read_to_string(task.path().join("status")).expect("status"))
        .collect()
}

#[test]
fn in_a_live_session_every_core_host_thread_is_confined_and_no_file_is_held_open() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    peer.send("echo", serde_json::json!({"n": 1}));
    peer.until(|e| matches!(e, weft_tests::peer::Event::Message { .. }));
    // `weft-appd status --json` shows it, as the core host reported it.
    let status = daemon
        .wait_for_status(&peer.session_id, "the core's confinement", |s| !s["stats"]["core_confinement"].is_null());
    let confinement = &status["stats"]["core_confinement"];
    assert_eq!(confinement["no_new_privs"], true, "{status:#}");
    assert_eq!(confinement["landlock"], "fully-enforced", "{status:#}");
    assert!(confinement["landlock_abi"].as_u64().is_some_and(|abi| abi >= 6), "{status:#}");
    assert_eq!(confinement["seccomp"], true, "{status:#}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", peer.core_pid)).expect("limits");
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or_default();
    assert_eq!(open_files.split_whitespace().collect::<Vec<_>>()[3..5], ["64", "64"], "{limits}");
    let core_size = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap_or_default();
    assert_eq!(core_size.split_whitespace().nth(4), Some("0"), "{limits}");
    let statuses = thread_statuses(peer.core_pid);
    assert!(statuses.len() >= 3, "the main thread and the link's threads: {}", statuses.len());
    for status in &statuses {
        assert!(status.contains("NoNewPrivs:\t1"), "a thread without no_new_privs:\n{status}");
        assert!(status.contains("Seccomp:\t2"), "a thread without the seccomp filter:\n{status}");
    }
    // Past stdio, descriptors are sockets, pipes and anonymous objects (Wasmtime's memory image
    // is a memfd, which no path reaches): none names a file of the filesystem.
    for entry in std::fs::read_dir(format!("/proc/{}/fd", peer.core_pid)).expect("fds").flatten() {
        let fd: u32 = entry.file_name().to_string_lossy().parse().expect("fd number");
        let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
        if fd > 2 {
            assert!(
                target.starts_with("socket:")
                    || target.starts_with("pipe:")
                    || target.starts_with("anon_inode:")
                    || target.starts_with("/memfd:"),
                "fd {fd} of the core host points at {target}"
            );
        }
    }
}
