//! `weft-core-host --confinement-probe FILE PORT PID`, for the tests only (appd never passes it):
//! applies the production confinement ([`crate::confine::confine`]) exactly as a session does,
//! then tries what a hostile core that escaped Wasmtime would try, and prints one JSON line per
//! attempt: `{"attempt", "denied", "error"}`.
//!
//! The attempts: read FILE (a file of the user's), create a file in the temporary directory,
//! connect to 127.0.0.1:PORT, run `/bin/sh`, and ptrace-attach to PID (a sibling process).
//! With `WEFT_UNCONFINED=1` it skips the confinement: the tests' control run, which shows
//! that each attempt works on this machine when nothing stops it.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

/// Runs the probe; the exit code is 0 when it ran (whatever was denied), 1 when it could not
/// confine itself.
pub fn run(file: &Path, port: &OsStr, pid: &OsStr) -> i32 {
    if !crate::confine::opted_out() {
        if let Err(e) = crate::confine::confine() {
            eprintln!("weft-core-host: cannot confine: {e}");
            return 1;
        }
    }
    let port: u16 = port.to_str().and_then(|p| p.parse().ok()).unwrap_or(0);
    let pid: libc::pid_t = pid.to_str().and_then(|p| p.parse().ok()).unwrap_or(0);
    report("read-user-file", std::fs::read(file).map(drop));
    let scratch = std::env::temp_dir().join(format!("weft-probe-{}", std::process::id()));
    report("create-file", std::fs::write(&scratch, b"escaped"));
    let _ = std::fs::remove_file(&scratch);
    report("connect-tcp", std::net::TcpStream::connect(("127.0.0.1", port)).map(drop));
    report("exec", std::process::Command::new("/bin/sh").arg("-c").arg("true").status().map(drop));
    // SAFETY: ptrace(PTRACE_ATTACH) with a pid and null pointers; detached at once if allowed.
    let attached = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, std::ptr::null_mut::<libc::c_void>(), 0) };
    let ptrace = if attached == 0 {
        // SAFETY: as above; undoes the attach this probe made.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, std::ptr::null_mut::<libc::c_void>(), 0) };
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    };
    report("ptrace-sibling", ptrace);
    report("fork", fork_and_reap());
    report("hold-200-descriptors", hold_descriptors(200));
    0
}

/// Opens `count` pipes (two descriptors each), then closes them.
fn hold_descriptors(count: usize) -> std::io::Result<()> {
    let mut held = Vec::new();
    let mut outcome = Ok(());
    for _ in 0..count / 2 {
        let mut ends = [0 as libc::c_int; 2];
        // SAFETY: pipe writes two descriptors into the array it is given.
        if unsafe { libc::pipe(ends.as_mut_ptr()) } != 0 {
            outcome = Err(std::io::Error::last_os_error());
            break;
        }
        held.extend(ends);
    }
    for fd in held {
        // SAFETY: closes a descriptor this function opened.
        unsafe { libc::close(fd) };
    }
    outcome
}

/// Starts a child process that exits at once, and waits for it.
fn fork_and_reap() -> std::io::Result<()> {
    // SAFETY: fork in a single-threaded probe; the child only calls _exit.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        // SAFETY: the child exits at once, touching nothing.
        0 => unsafe { libc::_exit(0) },
        child => {
            let mut status = 0;
            // SAFETY: waits for the child this call started.
            unsafe { libc::waitpid(child, &mut status, 0) };
            Ok(())
        }
    }
}

fn report(attempt: &str, outcome: std::io::Result<()>) {
    let line = match outcome {
        Ok(()) => serde_json::json!({ "attempt": attempt, "denied": false }),
        Err(e) => serde_json::json!({
            "attempt": attempt,
            "denied": true,
            "error": e.to_string(),
            "errno": e.raw_os_error(),
        }),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
