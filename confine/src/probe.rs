//! The attempts of the confinement probes (`weft-core-host --confinement-probe`,
//! `weft-shell --confinement-probe`), for the tests only: after a process applied its
//! production confinement, one attempt of what an attacker inside it would try, reported as one
//! JSON line `{"attempt", "denied", "error", "errno"}` on stdout. One attempt per process: a
//! call a seccomp allowlist refuses ends the process.
//!
//! | attempt | ARG | what it does |
//! |---|---|---|
//! | `read-user-file` | a file | reads it |
//! | `stat-user-file` | a file | reads its metadata (whether it exists, its size) |
//! | `create-file` | a directory | creates a file in it (and removes it) |
//! | `connect-tcp` | a port | connects to 127.0.0.1:port |
//! | `send-udp` | a port | sends a datagram to 127.0.0.1:port |
//! | `exec` | | `execve("/bin/sh")`, which prints `exec-ran` |
//! | `fork` | | `fork()` and reaps the child |
//! | `ptrace-sibling` | a pid | `PTRACE_ATTACH`, then detaches |
//! | `hold-200-descriptors` | | opens 200 eventfds |
//! | `reserve-64-gib` | | maps 64 GiB of address space (no memory), then unmaps it |

use std::ffi::{CString, OsStr};
use std::io::Write;
use std::path::Path;

/// Makes `attempt` with `arg` and prints its outcome; `false` if there is no such attempt.
pub fn attempt(attempt: &str, arg: Option<&OsStr>) -> bool {
    let text = || arg.and_then(OsStr::to_str).unwrap_or_default();
    let outcome = match attempt {
        "read-user-file" => std::fs::read(Path::new(arg.unwrap_or_default())).map(drop),
        "stat-user-file" => std::fs::metadata(Path::new(arg.unwrap_or_default())).map(drop),
        "create-file" => {
            let file = Path::new(arg.unwrap_or_default()).join(format!("weft-probe-{}", std::process::id()));
            let written = std::fs::write(&file, b"escaped");
            if written.is_ok() {
                let _ = std::fs::remove_file(&file);
            }
            written
        }
        "connect-tcp" => std::net::TcpStream::connect(("127.0.0.1", text().parse().unwrap_or(0))).map(drop),
        "send-udp" => std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.send_to(b"escaped", ("127.0.0.1", text().parse().unwrap_or(0))))
            .map(drop),
        "exec" => exec_shell(),
        "fork" => fork_and_reap(),
        "ptrace-sibling" => ptrace_attach(text().parse().unwrap_or(0)),
        "hold-200-descriptors" => hold_descriptors(200),
        "reserve-64-gib" => reserve(64 << 30),
        _ => return false,
    };
    report(attempt, outcome);
    true
}

/// Replaces this process with `/bin/sh -c 'echo exec-ran'`; returns only if that failed.
fn exec_shell() -> std::io::Result<()> {
    let program = CString::new("/bin/sh").map_err(std::io::Error::other)?;
    let args = [c"sh".as_ptr(), c"-c".as_ptr(), c"echo exec-ran".as_ptr(), std::ptr::null()];
    let environment = [std::ptr::null()];
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive the call.
    unsafe { libc::execve(program.as_ptr(), args.as_ptr(), environment.as_ptr()) };
    Err(std::io::Error::last_os_error())
}

/// Attaches to `pid` with ptrace, and detaches at once if that worked.
fn ptrace_attach(pid: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: ptrace(PTRACE_ATTACH) with a pid and null pointers.
    let attached = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, std::ptr::null_mut::<libc::c_void>(), 0) };
    if attached != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above; undoes the attach this probe made.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, std::ptr::null_mut::<libc::c_void>(), 0) };
    Ok(())
}

/// Opens `count` eventfds (a call the allowlist has), then closes them.
fn hold_descriptors(count: usize) -> std::io::Result<()> {
    let mut held = Vec::new();
    let mut outcome = Ok(());
    for _ in 0..count {
        // SAFETY: eventfd takes integers and returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            outcome = Err(std::io::Error::last_os_error());
            break;
        }
        held.push(fd);
    }
    for fd in held {
        // SAFETY: closes a descriptor this function opened.
        unsafe { libc::close(fd) };
    }
    outcome
}

/// Maps `bytes` of inaccessible, unbacked address space, then unmaps it.
fn reserve(bytes: usize) -> std::io::Result<()> {
    // SAFETY: a fresh anonymous PROT_NONE mapping, touched by no one, unmapped below.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: unmaps exactly the mapping made above.
    unsafe { libc::munmap(address, bytes) };
    Ok(())
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
