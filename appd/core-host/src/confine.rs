//! The core host gives up its authority before any guest code runs.
//!
//! By then it has read its bootstrap, joined the session and loaded (compiled, or read from the
//! module cache) the core. What it does afterwards needs no file and no network: it talks to
//! appd over the channel it already holds. So, on the main thread and before the session's
//! threads start (they inherit all of it; Linux confines per thread):
//!
//! - every descriptor past stdio that names a file or directory is closed: the core host keeps
//!   none (an inherited one would be a way around Landlock, which checks paths at open);
//! - `no_new_privs`: nothing it could exec gains privileges;
//! - Landlock (`weft_confine::landlock`, an empty policy): every right it knows handled and
//!   none granted: no file or directory can be opened, created, executed or removed; no TCP
//!   port can be bound or connected to; no abstract Unix socket or signal reaches outside.
//!   Ptrace of any process outside the sandbox is refused too.
//! - seccomp (`seccompiler`): an allowlist of exactly the system calls it makes once confined
//!   ([`allowlist`]); `clone` only to start a thread, `clone3` failing with `ENOSYS` so the C
//!   library uses `clone`, whose flags the filter can read. Anything else — a socket, a fork,
//!   an exec, a ptrace — traps, and the core host exits naming the call ([`violation`]).
//! - resource limits: at most [`MAX_DESCRIPTORS`] descriptors (it holds about eight), no core
//!   dump (a dump would write the guest's memory to a file), and an address space of what it
//!   maps at confinement plus its linear memory's reservation plus [`ADDRESS_SPACE_HEADROOM`].
//!
//! A kernel without Landlock gets no filesystem confinement: the core host then refuses to run
//! the core, unless confinement is turned off for debugging (`WEFT_UNCONFINED=1`, warned about
//! on every run).

pub mod allowlist;
pub mod violation;

pub use weft_confine::{opted_out, unconfined, ConfineError, Confinement, OPT_OUT};

/// The most descriptors a confined core host may hold.
pub const MAX_DESCRIPTORS: u64 = 64;

/// Address space allowed beyond what the core host maps when it confines itself and its linear
/// memories' reservations: the session's thread stacks, their allocator arenas, and the async
/// runtime wasmtime-wasi may start.
pub const ADDRESS_SPACE_HEADROOM: u64 = 2 << 30;

/// The address-space limit: what is mapped now, plus each linear memory's reservation and its
/// guards ([`crate::sandbox`]), plus [`ADDRESS_SPACE_HEADROOM`]. Wasmtime reserves each memory
/// whole up front, so growing within the core's limits never needs more.
fn address_space_limit() -> u64 {
    let page = 4096;
    let mapped_pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let per_memory = crate::sandbox::MEMORY_RESERVATION_BYTES + 2 * crate::sandbox::MEMORY_GUARD_BYTES;
    mapped_pages * page + per_memory * crate::sandbox::MAX_MEMORIES as u64 + ADDRESS_SPACE_HEADROOM
}

/// Confines the calling thread and the threads it starts later (see the module docs).
pub fn confine() -> Result<Confinement, ConfineError> {
    weft_confine::close_file_descriptors();
    // Measured while /proc is still readable.
    let address_space = address_space_limit();
    weft_confine::set_no_new_privs()?;
    let landlock = weft_confine::landlock::restrict(&weft_confine::landlock::Policy::default())?;
    // The report is made now: reading the Landlock ABI version is not on the allowlist.
    let mut confinement = weft_confine::confined(landlock, false);
    weft_confine::limit(libc::RLIMIT_NOFILE, MAX_DESCRIPTORS)?;
    weft_confine::limit(libc::RLIMIT_CORE, 0)?;
    weft_confine::limit(libc::RLIMIT_AS, address_space)?;
    violation::install_handler().map_err(|e| ConfineError::Seccomp(format!("cannot handle SIGSYS: {e}")))?;
    // Last: from here on only the allowlist's calls are possible.
    confinement.seccomp = weft_confine::seccomp::allow_only(allowlist::ALLOWED, allowlist::FD_ONLY_STAT)
        .map_err(ConfineError::Seccomp)?;
    Ok(confinement)
}

/// Opens a TCP socket, as a core that escaped Wasmtime would to reach the network: confined,
/// the sandbox stops the process here (test sessions only: `TestAction::ForbiddenSyscall`).
pub fn attempt_forbidden_syscall() {
    // SAFETY: socket(2) takes integers; a descriptor it might return is closed at once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}
