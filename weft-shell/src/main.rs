//! `weft-shell`: the UI endpoint of a WEFT session, launched by `weft-appd` with the session's
//! bootstrap on stdin and the app directory as its last argument.
//!
//! Until the Servo window lands this is a terminal console: it sends UI events typed as
//! `<message-type> [json]` (from `--script` arguments, then from the terminal) and prints every
//! state update, error and the session's end. It speaks the protocol through
//! `weft_ipc::ui_client`, exactly as the Servo binding will.

mod console;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut script = Vec::new();
    let mut args = std::env::args().skip(1);
    let mut app_dir = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--script" => match args.next() {
                Some(line) => script.push(line),
                None => return usage("--script needs a command"),
            },
            "--console" => {}
            "-h" | "--help" => return usage(""),
            other if other.starts_with("--") => return usage(&format!("unknown option {other}")),
            other => app_dir = Some(other.to_owned()),
        }
    }
    if app_dir.is_none() {
        return usage("missing the app directory (weft-appd appends it)");
    }
    match console::run(script) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weft-shell: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("weft-shell: {problem}");
    }
    eprintln!("usage (launched by weft-appd): weft-shell [--console] [--script '<type> <json>']... <app-dir>");
    ExitCode::from(2)
}
