//! The system calls a confined core host may make: what it was seen to make after confinement
//! across the whole test suite (a census under `strace -f`: see `docs/security.md`), plus the
//! few that the same code makes on paths the suite rarely takes. Any other call traps, and the
//! process exits naming it ([`super::violation`]).
//!
//! The list missed ipc-channel's fragmenting of large messages at first: `weft-bench`'s servo
//! path, with batches of 16 KiB messages, was stopped at `sendto`, and the calls of that code
//! path were added from its source. The benchmarks run confined too.
//!
//! `clone` is allowed only with `CLONE_THREAD` (a thread, never a process); `clone3` fails with
//! `ENOSYS`, so the C library falls back to `clone` (see the filters in [`super`]). Paths are
//! Landlock's business: `openat` is allowed here so that the standard library's probes (such as
//! `/proc/self/cgroup` when counting CPUs) fail with `EACCES` and fall back, as they do.

/// The allowed calls (x86_64 numbers), grouped by what needs them.
#[cfg(target_arch = "x86_64")]
pub const ALLOWED: &[i64] = &[
    // Memory: the allocator, thread stacks, Wasmtime's linear memories, their copy-on-write
    // images (a memfd, sealed) and their reset between instantiations.
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_memfd_create,
    libc::SYS_fcntl,
    // Threads: the link's reader and writer, the epoch ticker, and the async runtime that
    // wasmtime-wasi starts for some WASI calls.
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_yield,
    libc::SYS_prctl,
    libc::SYS_exit,
    libc::SYS_exit_group,
    // Signals: Wasmtime turns a guest trap into a signal and returns from its handler; abort
    // raises SIGABRT on its own thread.
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_tgkill,
    libc::SYS_restart_syscall,
    // Time: the epoch ticker's sleep, clocks when the vDSO is not used.
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_clock_gettime,
    libc::SYS_getrandom,
    // The link to appd (a Unix socket held since before confinement), logs on stderr.
    // ipc-channel sends a message larger than the socket's buffer in fragments (`send`,
    // `recv`, on a channel it makes with `socketpair`), waits with `poll`, and checks a
    // received descriptor with `fstat` (see [`FD_ONLY_STAT`]).
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_fstat,
    libc::SYS_dup,
    libc::SYS_ftruncate,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_shutdown,
    // wasmtime-wasi's async runtime (tokio): its poller and its wakers.
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_eventfd2,
    libc::SYS_socketpair,
    // Paths, refused by Landlock with EACCES (see above).
    libc::SYS_openat,
];

/// Calls allowed only on a descriptor, never on a path: `(call, index of its flags argument)`,
/// allowed when the flags have `AT_EMPTY_PATH` (the C library's `fstat` is `newfstatat(fd, "",
/// AT_EMPTY_PATH)`, the Rust standard library's is `statx` likewise). Landlock does not govern
/// `stat`, so on a path these would tell which of the user's files exist.
#[cfg(target_arch = "x86_64")]
pub const FD_ONLY_STAT: &[(i64, u8)] = &[(libc::SYS_newfstatat, 3), (libc::SYS_statx, 2)];
