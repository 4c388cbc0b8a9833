//! `weft-core-host --confinement-probe ATTEMPT [ARG]`, for the tests only (appd never passes
//! it): applies the production confinement ([`crate::confine::confine`]) exactly as a session
//! does, then makes one attempt ([`weft_confine::probe`]) of what a hostile core that escaped
//! Wasmtime would try. An attempt the seccomp allowlist refuses never returns: the process
//! exits with the sandbox's code and its last words name the call (`weft_ipc::last_words`), as
//! in a session. With `WEFT_UNCONFINED=1` it skips the confinement: the tests' control run,
//! which shows that each attempt works on this machine when nothing stops it.

use std::ffi::OsStr;

/// Exit code: the attempt is unknown.
const EXIT_USAGE: i32 = 2;

/// Runs the probe; the exit code is 0 when the attempt returned (denied or not), 1 when the
/// probe could not confine itself.
pub fn run(attempt: &str, arg: Option<&OsStr>) -> i32 {
    if !crate::confine::opted_out() {
        if let Err(e) = crate::confine::confine() {
            eprintln!("weft-core-host: cannot confine: {e}");
            return 1;
        }
    }
    if weft_confine::probe::attempt(attempt, arg) {
        0
    } else {
        eprintln!("weft-core-host: unknown probe attempt {attempt:?}");
        EXIT_USAGE
    }
}
