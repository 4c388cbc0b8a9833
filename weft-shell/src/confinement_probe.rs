//! `weft-shell --confinement-probe APP_DIR ATTEMPT [ARG]`, for the tests only (appd never
//! passes it): applies the production confinement of a headless session of the app in APP_DIR
//! ([`crate::confine::confine`], private directory from `WEFT_PRIVATE_DIR` as appd gives it),
//! then makes one attempt ([`weft_confine::probe`]) of what a page that took over the shell
//! would try. With `WEFT_UNCONFINED=1` it skips the confinement: the tests' control run.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs the probe: 0 when the attempt returned (denied or not), 1 when the shell could not
/// confine itself, 2 for bad arguments.
pub fn run(args: &[OsString]) -> ExitCode {
    let [app_dir, attempt, rest @ ..] = args else {
        eprintln!("usage: weft-shell --confinement-probe APP_DIR ATTEMPT [ARG]");
        return ExitCode::from(2);
    };
    let needs = crate::confine::Needs { ui_dir: PathBuf::from(app_dir).join("ui"), ..crate::confine::Needs::default() };
    let _private = match crate::confine::confine(&needs) {
        Ok((_, private)) => private,
        Err(e) => {
            eprintln!("weft-shell: cannot confine: {e}");
            return ExitCode::FAILURE;
        }
    };
    if rest.len() <= 1
        && weft_confine::probe::attempt(attempt.to_str().unwrap_or_default(), rest.first().map(|a| a.as_os_str()))
    {
        ExitCode::SUCCESS
    } else {
        eprintln!("weft-shell: unknown probe attempt {attempt:?}");
        ExitCode::from(2)
    }
}
