//! The OS confinement WEFT's child processes apply to themselves, on their main thread before
//! they start any other (Linux confines per thread; threads inherit it):
//!
//! - [`set_no_new_privs`]: nothing the process could exec gains privileges;
//! - [`landlock::restrict`]: the files, directories and TCP ports a [`landlock::Policy`]
//!   names, and nothing else (abstract Unix sockets and signals stay inside the sandbox);
//! - [`seccomp`]: an allowlist that traps on anything else (the core host), or a filter that
//!   refuses new processes, `exec` and `ptrace` (the shell, whose needs are Servo's);
//! - [`limit`]: resource limits.
//!
//! `weft-core-host` and `weft-shell` each compose these into their own `confine` and report the
//! result to appd as a [`Confinement`], which `weft-appd status --json` shows. Confinement is on
//! by default; [`OPT_OUT`] turns it off for debugging and is warned about on every run.

pub mod landlock;
pub mod probe;
pub mod seccomp;

/// The environment variable that turns confinement off (for debugging; never set by WEFT).
pub const OPT_OUT: &str = "WEFT_UNCONFINED";

/// How a process is confined: the report appd shows.
pub type Confinement = weft_ipc::frames::Confinement;

/// Why a process could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(std::io::Error),
    /// The Landlock ruleset could not be made or applied.
    #[error("Landlock: {0}")]
    Landlock(String),
    /// The seccomp filters could not be built or installed.
    #[error("seccomp: {0}")]
    Seccomp(String),
    /// A resource limit could not be set.
    #[error("setrlimit: {0}")]
    Limit(std::io::Error),
    /// The kernel enforces no Landlock at all.
    #[error("this kernel does not enforce Landlock (set {OPT_OUT}=1 to run unconfined, for debugging)")]
    NoLandlock,
}

/// Whether confinement was turned off (`WEFT_UNCONFINED` set to anything but `0` or empty).
pub fn opted_out() -> bool {
    std::env::var_os(OPT_OUT).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The report of a process confined with `no_new_privs`, Landlock enforced as `landlock`
/// reported ([`landlock::restrict`]), and a seccomp filter if `seccomp`.
pub fn confined(landlock: &str, seccomp: bool) -> Confinement {
    Confinement { no_new_privs: true, landlock: landlock.into(), landlock_abi: kernel_landlock_abi(), seccomp }
}

/// The report of a process that was not confined ([`OPT_OUT`]).
pub fn unconfined() -> Confinement {
    Confinement { no_new_privs: false, landlock: "off".into(), landlock_abi: kernel_landlock_abi(), seccomp: false }
}

/// The kernel's Landlock ABI version (0 without Landlock).
pub fn kernel_landlock_abi() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag only
    // returns the ABI version (or -1); it creates nothing and touches no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(abi).unwrap_or(0)
}

/// Sets `no_new_privs` on the calling thread (and the threads it starts later).
pub fn set_no_new_privs() -> Result<(), ConfineError> {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(ConfineError::NoNewPrivs(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets both the soft and the hard limit of `resource` to `value`.
pub fn limit(resource: libc::__rlimit_resource_t, value: u64) -> Result<(), ConfineError> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(ConfineError::Limit(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Closes the descriptors past stdio that name a file or directory (`/proc/self/fd` links that
/// are paths, other than memfds): sockets, pipes and anonymous objects stay. An inherited one
/// would be a way around Landlock, which checks paths when they are opened.
pub fn close_file_descriptors() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let named: Vec<libc::c_int> = entries
        .flatten()
        .filter_map(|entry| {
            let fd: libc::c_int = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            let is_path = target.is_absolute() && !target.starts_with("/memfd:") && !target.starts_with("/proc/");
            (fd > 2 && is_path).then_some(fd)
        })
        .collect();
    for fd in named {
        tracing::debug!(fd, "closing an inherited descriptor onto the filesystem");
        // SAFETY: closes a descriptor this process holds and no Rust object owns (called before
        // the process opens any file it keeps; these were inherited).
        unsafe {
            libc::close(fd);
        }
    }
}
