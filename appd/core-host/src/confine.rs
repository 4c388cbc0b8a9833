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
//! - Landlock (the `landlock` crate of the Landlock project), every right it knows handled and
//!   none granted: no file or directory can be opened, created, executed or removed; no TCP
//!   port can be bound or connected to; no abstract Unix socket or signal reaches outside.
//!   Ptrace of any process outside the sandbox is refused too.
//! - seccomp (`seccompiler`): no new process (`fork`, `vfork`, `clone` without `CLONE_THREAD`),
//!   no `execve`, no `ptrace`, no `process_vm_readv`/`writev`; each fails with `EPERM`, and
//!   `clone3` with `ENOSYS`, so the C library starts threads with `clone`, which the filter can
//!   inspect. This is a denylist; the allowlist of exactly what the core host needs is the
//!   next step.
//! - resource limits: at most [`MAX_DESCRIPTORS`] descriptors (it holds about eight), and no
//!   core dump (a dump would write the guest's memory to a file).
//!
//! A kernel without Landlock gets no filesystem confinement: the core host then refuses to run
//! the core, unless confinement is turned off for debugging (`WEFT_UNCONFINED=1`, warned about
//! on every run).

use landlock::{Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetStatus, Scope, ABI};

/// The environment variable that turns confinement off (for debugging; never set by WEFT).
pub const OPT_OUT: &str = "WEFT_UNCONFINED";

/// The most descriptors a confined core host may hold.
pub const MAX_DESCRIPTORS: u64 = 64;

/// The newest Landlock ABI this build knows; an older kernel enforces what it has.
const NEWEST_ABI: ABI = ABI::V6;

/// How the core host is confined: the report appd shows.
pub type Confinement = weft_ipc::frames::CoreConfinement;

/// The report of a core host that was not confined (`WEFT_UNCONFINED`).
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

/// Why the core host could not confine itself.
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
    #[error("this kernel does not enforce Landlock (set {OPT_OUT}=1 to run the core unconfined, for debugging)")]
    NoLandlock,
}

/// Confines the calling thread and the threads it starts later (see the module docs).
pub fn confine() -> Result<Confinement, ConfineError> {
    close_file_descriptors();
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(ConfineError::NoNewPrivs(std::io::Error::last_os_error()));
    }
    let landlock = |e: &dyn std::fmt::Display| ConfineError::Landlock(e.to_string());
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(NEWEST_ABI))
        .map_err(|e| landlock(&e))?
        .handle_access(AccessNet::from_all(NEWEST_ABI))
        .map_err(|e| landlock(&e))?
        .scope(Scope::from_all(NEWEST_ABI))
        .map_err(|e| landlock(&e))?
        .create()
        .map_err(|e| landlock(&e))?
        .restrict_self()
        .map_err(|e| landlock(&e))?;
    let landlock = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully-enforced",
        RulesetStatus::PartiallyEnforced => "partially-enforced",
        RulesetStatus::NotEnforced => return Err(ConfineError::NoLandlock),
    };
    let seccomp = seccomp::apply().map_err(ConfineError::Seccomp)?;
    limit(libc::RLIMIT_NOFILE, MAX_DESCRIPTORS)?;
    limit(libc::RLIMIT_CORE, 0)?;
    Ok(Confinement { no_new_privs: true, landlock: landlock.into(), landlock_abi: kernel_landlock_abi(), seccomp })
}

/// Sets both the soft and the hard limit of `resource` to `value`.
fn limit(resource: libc::__rlimit_resource_t, value: u64) -> Result<(), ConfineError> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(ConfineError::Limit(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Closes the descriptors past stdio that name a file or directory (`/proc/self/fd` links that
/// are paths, other than memfds): sockets, pipes and anonymous objects stay.
fn close_file_descriptors() {
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
        // SAFETY: closes a descriptor this process holds and no Rust object owns (the core host
        // opens no file it keeps; these were inherited).
        unsafe {
            libc::close(fd);
        }
    }
}

/// Whether confinement was turned off (`WEFT_UNCONFINED` set to anything but `0` or empty).
pub fn opted_out() -> bool {
    std::env::var_os(OPT_OUT).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The seccomp filters (see the module docs).
#[cfg(target_arch = "x86_64")]
mod seccomp {
    use seccompiler::{
        apply_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    use std::collections::BTreeMap;

    /// Installs both filters on the calling thread (threads started later inherit them);
    /// `true` once they are.
    pub fn apply() -> Result<bool, String> {
        let refused: BTreeMap<i64, Vec<SeccompRule>> = [
            (libc::SYS_fork, vec![]),
            (libc::SYS_vfork, vec![]),
            (libc::SYS_execve, vec![]),
            (libc::SYS_execveat, vec![]),
            (libc::SYS_ptrace, vec![]),
            (libc::SYS_process_vm_readv, vec![]),
            (libc::SYS_process_vm_writev, vec![]),
            (libc::SYS_clone, vec![new_process()?]),
        ]
        .into_iter()
        .collect();
        let clone3: BTreeMap<i64, Vec<SeccompRule>> = [(libc::SYS_clone3, vec![])].into_iter().collect();
        install(refused, libc::EPERM)?;
        install(clone3, libc::ENOSYS)?;
        Ok(true)
    }

    /// `clone` whose flags lack `CLONE_THREAD`: a new process.
    fn new_process() -> Result<SeccompRule, String> {
        let thread = libc::CLONE_THREAD as u64;
        let no_thread_flag = SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(thread), 0)
            .map_err(|e| e.to_string())?;
        SeccompRule::new(vec![no_thread_flag]).map_err(|e| e.to_string())
    }

    /// One filter: the listed calls fail with `errno`, everything else is allowed.
    fn install(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<(), String> {
        let errno = u32::try_from(errno).map_err(|e| e.to_string())?;
        let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno), TargetArch::x86_64)
            .map_err(|e| e.to_string())?;
        let program: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
        apply_filter(&program).map_err(|e| e.to_string())
    }
}

/// Other architectures: no filter yet (the core host says so and runs with Landlock alone).
#[cfg(not(target_arch = "x86_64"))]
mod seccomp {
    pub fn apply() -> Result<bool, String> {
        tracing::warn!("no seccomp filter for this architecture yet");
        Ok(false)
    }
}
