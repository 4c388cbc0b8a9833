//! The OS confinement of the core host (no_new_privs, Landlock, the seccomp allowlist and
//! resource limits, applied before any guest code and before its threads start) and of the
//! shell (no_new_privs, Landlock to what rendering needs, seccomp refusing processes and
//! sockets), across real processes: each forbidden attempt in its own probe process (a refused
//! call ends the process), against an unconfined control run that shows the attempt works when
//! nothing stops it; and live sessions, every thread of both children confined.

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use weft_tests::harness::{app, bin, example_core, repo_root, wait_gone, Daemon, LaunchedUi, PageApp, ECHO_MANIFEST};

/// How one probe attempt ended.
#[derive(Debug)]
enum Attempt {
    /// It returned: denied (with its errno) or not.
    Returned(Value),
    /// The seccomp allowlist stopped the process; the refused call, from its last words.
    Stopped(String),
    /// It replaced itself with a shell (the control run's exec), which printed this.
    Ran(String),
}

/// Runs `command` confined (the default), or unconfined for a control run.
fn set_confined(command: &mut Command, confined: bool) {
    if confined {
        command.env_remove(weft_confine::OPT_OUT);
    } else {
        command.env(weft_confine::OPT_OUT, "1");
    }
}

/// Runs one probe attempt (confined, or the unconfined control run).
fn probe(attempt: &str, arg: Option<&str>, confined: bool) -> Attempt {
    let mut command = Command::new(bin("weft-core-host"));
    command.arg("--confinement-probe").arg(attempt).args(arg);
    set_confined(&mut command, confined);
    let out = command.output().expect("run the probe");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(code) if code == weft_ipc::last_words::EXIT_SANDBOX_VIOLATION => {
            let (name, _) = weft_ipc::last_words::parse_sandbox_violation(&stdout)
                .unwrap_or_else(|| panic!("{attempt}: no last words: {stdout:?} {stderr}"));
            assert!(stderr.contains(&format!("the sandbox refused system call {name}")), "{stderr}");
            Attempt::Stopped(name)
        }
        Some(0) if stdout.starts_with('{') => {
            Attempt::Returned(serde_json::from_str(stdout.trim()).expect("a JSON line"))
        }
        Some(0) => Attempt::Ran(stdout),
        other => panic!("{attempt}: exit {other:?}: {stdout} {stderr}"),
    }
}

/// Asserts the control run of `attempt` succeeds, so that its denial is not vacuous.
fn control_succeeds(attempt: &str, arg: Option<&str>) {
    match probe(attempt, arg, false) {
        Attempt::Returned(v) if v["denied"] == false => {}
        Attempt::Ran(out) if out.trim() == "exec-ran" => {}
        other => panic!("the unconfined control run must be able to {attempt}: {other:?}"),
    }
}

#[test]
fn a_confined_core_host_can_reach_no_file_and_no_directory_landlock_refuses_with_eacces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "the user's").expect("secret");
    let secret = secret.display().to_string();
    let dir_text = dir.path().display().to_string();
    for (attempt, arg) in [("read-user-file", secret.as_str()), ("create-file", dir_text.as_str())] {
        control_succeeds(attempt, Some(arg));
        match probe(attempt, Some(arg), true) {
            Attempt::Returned(v) => assert_eq!(v["errno"], libc::EACCES, "{attempt}: {v}"),
            other => panic!("{attempt} must be refused by Landlock: {other:?}"),
        }
    }
    assert!(!dir.path().read_dir().expect("dir").flatten().any(|e| e.file_name() != "secret.txt"));
}

#[test]
fn a_confined_core_host_that_tries_the_network_a_program_a_process_or_ptrace_is_stopped_naming_the_call() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port().to_string();
    let mut sibling = Command::new("sleep").arg("30").spawn().expect("a sibling");
    let sibling_pid = sibling.id().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "the user's").expect("secret");
    let secret = secret.display().to_string();
    let attempts = [
        // Landlock does not govern stat: the filter allows it only on a descriptor.
        ("stat-user-file", Some(secret.as_str()), "statx"),
        ("connect-tcp", Some(port.as_str()), "socket"),
        ("exec", None, "execve"),
        ("fork", None, "clone"),
        ("ptrace-sibling", Some(sibling_pid.as_str()), "ptrace"),
    ];
    for (attempt, arg, call) in attempts {
        match probe(attempt, arg, true) {
            Attempt::Stopped(name) => assert_eq!(name, call, "{attempt}"),
            other => panic!("{attempt} must be stopped by the seccomp allowlist: {other:?}"),
        }
    }
    for (attempt, arg, _) in attempts {
        if attempt == "ptrace-sibling" {
            // Whether this machine allows ptrace at all (Yama) is its business: no control.
            continue;
        }
        control_succeeds(attempt, arg);
    }
    let _ = sibling.kill();
    let _ = sibling.wait();
}

#[test]
fn a_confined_core_host_holds_at_most_64_descriptors_and_a_bounded_address_space() {
    control_succeeds("hold-200-descriptors", None);
    match probe("hold-200-descriptors", None, true) {
        Attempt::Returned(v) => assert_eq!(v["errno"], libc::EMFILE, "{v}"),
        other => panic!("{other:?}"),
    }
    control_succeeds("reserve-64-gib", None);
    match probe("reserve-64-gib", None, true) {
        Attempt::Returned(v) => assert_eq!(v["errno"], libc::ENOMEM, "{v}"),
        other => panic!("{other:?}"),
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
    // The address space fits the linear memory's 4 GiB reservation, and not much more.
    let address_space = limits.lines().find(|l| l.starts_with("Max address space")).unwrap_or_default();
    let bytes: u64 = address_space.split_whitespace().nth(3).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!((4 << 30..16 << 30).contains(&bytes), "{limits}");
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

/// Runs one shell probe attempt for the app in `app_dir` with `private` as its private
/// directory (confined, or the unconfined control run): its JSON line.
fn shell_probe(
    app_dir: &std::path::Path,
    private: &std::path::Path,
    attempt: &str,
    arg: Option<&str>,
    confined: bool,
) -> Value {
    let mut command = Command::new(bin("weft-shell"));
    command.arg("--confinement-probe").arg(app_dir).arg(attempt).args(arg);
    command.env(weft_ipc::transport::PRIVATE_DIR_ENV, private);
    set_confined(&mut command, confined);
    let out = command.output().expect("run the shell probe");
    assert!(out.status.success(), "{attempt}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.trim() == "exec-ran" {
        return serde_json::json!({"attempt": attempt, "denied": false});
    }
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{attempt}: {stdout:?}: {e}"))
}

#[test]
fn a_confined_shell_reads_its_apps_ui_writes_only_its_private_directory_and_has_no_network_or_process() {
    let home = tempfile::tempdir().expect("tempdir");
    let secret = home.path().join("secret.txt");
    std::fs::write(&secret, "the user's").expect("secret");
    let private = tempfile::tempdir().expect("private");
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let page = app.path().join("ui/index.html");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port().to_string();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let udp_port = udp.local_addr().expect("addr").port().to_string();
    let mut sibling = Command::new("sleep").arg("30").spawn().expect("a sibling");
    let sibling_pid = sibling.id().to_string();
    let (secret, page) = (secret.display().to_string(), page.display().to_string());
    let (home_dir, private_dir) = (home.path().display().to_string(), private.path().display().to_string());
    let probe = |attempt: &str, arg: Option<&str>, confined: bool| {
        shell_probe(app.path(), private.path(), attempt, arg, confined)
    };
    // What a rendering shell needs stays possible.
    for (attempt, arg) in [("read-user-file", page.as_str()), ("create-file", private_dir.as_str())] {
        assert_eq!(probe(attempt, Some(arg), true)["denied"], false, "{attempt} {arg}");
    }
    // The rest is refused: Landlock with EACCES, seccomp with EPERM.
    let refused = [
        ("read-user-file", Some(secret.as_str()), libc::EACCES),
        ("create-file", Some(home_dir.as_str()), libc::EACCES),
        ("connect-tcp", Some(port.as_str()), libc::EPERM),
        ("send-udp", Some(udp_port.as_str()), libc::EPERM),
        ("exec", None, libc::EPERM),
        ("fork", None, libc::EPERM),
        ("ptrace-sibling", Some(sibling_pid.as_str()), libc::EPERM),
    ];
    for (attempt, arg, errno) in refused {
        let confined = probe(attempt, arg, true);
        assert_eq!(confined["errno"], errno, "{attempt} must be refused: {confined}");
        if attempt != "ptrace-sibling" {
            let control = probe(attempt, arg, false);
            assert_eq!(control["denied"], false, "the unconfined control run must be able to {attempt}: {control}");
        }
    }
    assert_eq!(std::fs::read_dir(home.path()).expect("home").count(), 1, "nothing was created beside the secret");
    let _ = sibling.kill();
    let _ = sibling.wait();
}

/// The value of `name` in `/proc/<pid>/environ`.
fn environment_variable(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|&b| b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry.strip_prefix(&format!("{name}=")).map(str::to_owned)
    })
}

#[test]
fn in_a_live_session_every_shell_thread_is_confined_and_its_private_directory_goes_with_the_session() {
    let daemon = Daemon::start();
    let echo = repo_root().join("examples/echo");
    let manifest = std::fs::read_to_string(echo.join("weft.toml")).expect("manifest");
    let app = PageApp::new(&manifest, &echo.join("core.wasm"), "chaos.html");
    let launched = LaunchedUi::from_session(&daemon.launch_ui(&app.app, &app.shell_command(120)));
    let status =
        daemon.wait_for_status(&launched.id, "the shell's confinement", |s| !s["stats"]["ui_confinement"].is_null());
    let confinement = &status["stats"]["ui_confinement"];
    assert_eq!(confinement["no_new_privs"], true, "{status:#}");
    assert_eq!(confinement["landlock"], "fully-enforced", "{status:#}");
    assert_eq!(confinement["seccomp"], true, "{status:#}");
    // Servo is running the page (its threads exist) and every one of them is confined.
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.session_status(&launched.id)["stats"]["ui_events_admitted"].as_u64().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the page never got going\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let statuses = thread_statuses(launched.ui_pid);
    assert!(statuses.len() >= 10, "Servo's threads: {}", statuses.len());
    for status in &statuses {
        assert!(status.contains("NoNewPrivs:\t1"), "a shell thread without no_new_privs:\n{status}");
        assert!(status.contains("Seccomp:\t2"), "a shell thread without the seccomp filter:\n{status}");
    }
    let private = environment_variable(launched.ui_pid, weft_ipc::transport::PRIVATE_DIR_ENV).expect("private dir");
    let private = std::path::PathBuf::from(private);
    assert!(private.is_dir(), "{}", private.display());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&private).expect("meta").permissions().mode() & 0o777, 0o700);
    assert_eq!(daemon.request(serde_json::json!({"op": "end", "session_id": launched.id}))["ok"], true);
    wait_gone(launched.ui_pid, "weft-shell after the end");
    let deadline = Instant::now() + Duration::from_secs(10);
    while private.exists() {
        assert!(Instant::now() < deadline, "the private directory outlived the session: {}", private.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Large messages, sent together, go over the link in fragments (ipc-channel's `send`/`recv`
/// on a channel of their own): a path the allowlist once missed (`sendto`), found by the
/// servo benchmark. 48 echoes of 60 KiB each, every one back, the session still open.
#[test]
fn a_confined_core_host_relays_messages_large_enough_to_travel_in_fragments() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let mut peer = daemon.launch(app.path());
    let pad = "x".repeat(60 * 1024);
    const COUNT: usize = 48;
    for i in 0..COUNT {
        peer.send("echo", serde_json::json!({"i": i, "pad": pad}));
    }
    let mut echoed = 0;
    while echoed < COUNT {
        match peer.next_event() {
            weft_tests::peer::Event::Message { .. } => echoed += 1,
            weft_tests::peer::Event::SessionEnd { reason, detail, .. } => {
                panic!("the session ended after {echoed} echoes: {reason}: {detail}\n{}", daemon.log())
            }
            _ => {}
        }
    }
    assert_eq!(daemon.session_status(&peer.session_id)["state"], "open");
}
