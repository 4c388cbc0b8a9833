//! `weft-core-host <path/to/core.wasm>`: runs one WEFT app's core as the core endpoint of a
//! session. `weft-appd` starts it with the session's [`Bootstrap`] as one JSON line on stdin.
//!
//! Exit codes:
//!
//! | code | meaning                                                                     |
//! |------|-----------------------------------------------------------------------------|
//! | 0    | the session ended (`SessionEnd` from the broker, or the broker went away)     |
//! | 1    | could not join: no/invalid bootstrap, no broker, no or wrong welcome          |
//! | 2    | usage error (arguments)                                                       |
//! | 3    | the core could not start (`StartFailed` was reported)                         |
//! | 4    | the core trapped (`Trapped` was reported)                                     |
//! | 5    | the core overran its deadline (`DeadlineExceeded` was reported)               |
//! | 6    | the broker broke the protocol (malformed or out-of-place frame)              |
//! | 7    | the broker stopped reading (the outbox filled up)                             |
//! | 8    | its sandbox refused a system call (named on stdout: `weft_ipc::last_words`)   |

use std::path::PathBuf;
use weft_core_host::logging;
use weft_core_host::session::{self, Outcome};
use weft_ipc::transport::Bootstrap;

/// Exit code: could not join the session.
const EXIT_JOIN_FAILED: i32 = 1;
/// Exit code: bad arguments.
const EXIT_USAGE: i32 = 2;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    die_with_parent();
    logging::init();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let core_path = match args.as_slice() {
        [flag, attempt, rest @ ..] if flag == "--confinement-probe" && rest.len() <= 1 => {
            let attempt = attempt.to_str().unwrap_or_default();
            return weft_core_host::confinement_probe::run(attempt, rest.first().map(|a| a.as_os_str()));
        }
        [path] if path != "--help" && path != "-h" => PathBuf::from(path),
        _ => {
            eprintln!(
                "usage: weft-core-host <path/to/core.wasm>\n\
                 Runs one WEFT app core; reads its session bootstrap (one JSON line) from stdin."
            );
            return EXIT_USAGE;
        }
    };
    let bootstrap = match Bootstrap::read_from(std::io::stdin().lock()) {
        Ok(bootstrap) => bootstrap,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the bootstrap from stdin");
            return EXIT_JOIN_FAILED;
        }
    };
    let span = tracing::info_span!("core-host", session = %bootstrap.session_id);
    let _entered = span.enter();
    tracing::debug!(core = %core_path.display(), "starting");
    let outcome = session::run(&bootstrap, &core_path);
    let code = exit_code(&outcome);
    tracing::debug!(?outcome, code, "exiting");
    code
}

/// The process exit code for a session outcome (see the table above).
fn exit_code(outcome: &Outcome) -> i32 {
    match outcome {
        Outcome::Ended | Outcome::BrokerLost => 0,
        Outcome::JoinFailed(_) => EXIT_JOIN_FAILED,
        Outcome::StartFailed(_) => 3,
        Outcome::Trapped(_) => 4,
        Outcome::DeadlineExceeded(_) => 5,
        Outcome::ProtocolViolation(_) => 6,
        Outcome::BrokerStalled => 7,
    }
}

/// Asks the kernel to kill this process when its parent (`weft-appd`) dies, so a core host
/// never outlives its daemon. If the parent died before the request took effect, the parent
/// pid has changed (we were re-parented): exit now. (If it died even before the first
/// `getppid`, stdin is closed and the bootstrap read fails.)
fn die_with_parent() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getppid and prctl(PR_SET_PDEATHSIG) take no pointers and cannot fail in a
        // way that affects memory safety.
        let parent = unsafe { libc::getppid() };
        let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
        if set != 0 {
            eprintln!("weft-core-host: prctl(PR_SET_PDEATHSIG) failed");
        }
        if unsafe { libc::getppid() } != parent {
            std::process::exit(0);
        }
    }
}
