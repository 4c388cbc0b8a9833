//! seccomp filters (`seccompiler`: rules, not hand-written BPF). x86_64 only for now; other
//! architectures install none and report `seccomp: false`.
//!
//! Both kinds make `clone3` fail with `ENOSYS`, so the C library starts threads with `clone`,
//! whose flags a filter can read (`clone3` passes them in memory, out of a filter's reach), and
//! allow `clone` only with `CLONE_THREAD`: a thread, never a process.

#[cfg(target_arch = "x86_64")]
mod filters {
    use seccompiler::{
        apply_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    use std::collections::BTreeMap;

    type Rules = BTreeMap<i64, Vec<SeccompRule>>;

    /// Allows exactly `allowed`, the `fd_only` calls `(call, flags argument)` when their flags
    /// have `AT_EMPTY_PATH` (on a descriptor, not a path), and thread-starting `clone`; any
    /// other call traps with SIGSYS, which the caller handles. Installs a filter: the calling
    /// thread and the threads it starts later are filtered. Install last: `seccomp` itself is
    /// not on an allowlist.
    pub fn allow_only(allowed: &[i64], fd_only: &[(i64, u8)]) -> Result<bool, String> {
        let mut rules: Rules = allowed.iter().map(|&call| (call, vec![])).collect();
        let empty_path = libc::AT_EMPTY_PATH as u64;
        for &(call, flags) in fd_only {
            rules.insert(
                call,
                vec![rule(flags, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(empty_path), empty_path)?],
            );
        }
        rules.insert(libc::SYS_clone, vec![clone_with_thread(true)?]);
        // Allowed here so that the ENOSYS filter's answer is the one the C library sees (the
        // kernel takes the strictest answer of all filters, and a trap is stricter).
        rules.insert(libc::SYS_clone3, vec![]);
        refuse_clone3()?;
        install(rules, SeccompAction::Allow, SeccompAction::Trap)?;
        Ok(true)
    }

    /// Refuses, with `EPERM`, every way to a new process or another process's memory: `fork`,
    /// `vfork`, `clone` without `CLONE_THREAD`, `execve`, `execveat`, `ptrace`,
    /// `process_vm_readv`/`writev`; and, unless `inet` is allowed, every IPv4 and IPv6 socket
    /// (Landlock governs TCP ports only, not UDP). Everything else is allowed.
    pub fn refuse_new_processes(inet: bool) -> Result<bool, String> {
        let mut refused: Rules = [
            (libc::SYS_fork, vec![]),
            (libc::SYS_vfork, vec![]),
            (libc::SYS_execve, vec![]),
            (libc::SYS_execveat, vec![]),
            (libc::SYS_ptrace, vec![]),
            (libc::SYS_process_vm_readv, vec![]),
            (libc::SYS_process_vm_writev, vec![]),
            (libc::SYS_clone, vec![clone_with_thread(false)?]),
        ]
        .into_iter()
        .collect();
        if !inet {
            refused.insert(libc::SYS_socket, vec![socket_domain(libc::AF_INET)?, socket_domain(libc::AF_INET6)?]);
        }
        refuse_clone3()?;
        install(refused, errno(libc::EPERM)?, SeccompAction::Allow)?;
        Ok(true)
    }

    fn refuse_clone3() -> Result<(), String> {
        install([(libc::SYS_clone3, vec![])].into_iter().collect(), errno(libc::ENOSYS)?, SeccompAction::Allow)
    }

    fn errno(code: i32) -> Result<SeccompAction, String> {
        u32::try_from(code).map(SeccompAction::Errno).map_err(|e| e.to_string())
    }

    /// `socket` in `domain`.
    fn socket_domain(domain: i32) -> Result<SeccompRule, String> {
        let domain = u64::try_from(domain).map_err(|e| e.to_string())?;
        rule(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, domain)
    }

    /// `clone` whose flags have `CLONE_THREAD` (`thread`), or lack it.
    fn clone_with_thread(thread: bool) -> Result<SeccompRule, String> {
        let flag = libc::CLONE_THREAD as u64;
        rule(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(flag), if thread { flag } else { 0 })
    }

    /// A rule of one condition: argument `arg` (of width `len`) compared by `op` with `value`.
    fn rule(arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64) -> Result<SeccompRule, String> {
        let condition = SeccompCondition::new(arg, len, op, value).map_err(|e| e.to_string())?;
        SeccompRule::new(vec![condition]).map_err(|e| e.to_string())
    }

    /// One filter: the listed calls (when their rules match) get `on_match`, all others
    /// `otherwise`.
    fn install(rules: Rules, on_match: SeccompAction, otherwise: SeccompAction) -> Result<(), String> {
        let filter = SeccompFilter::new(rules, otherwise, on_match, TargetArch::x86_64).map_err(|e| e.to_string())?;
        let program: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
        apply_filter(&program).map_err(|e| e.to_string())
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod filters {
    pub fn allow_only(_allowed: &[i64], _fd_only: &[(i64, u8)]) -> Result<bool, String> {
        tracing::warn!("no seccomp filter for this architecture yet");
        Ok(false)
    }

    pub fn refuse_new_processes(_inet: bool) -> Result<bool, String> {
        tracing::warn!("no seccomp filter for this architecture yet");
        Ok(false)
    }
}

pub use filters::{allow_only, refuse_new_processes};
