//! `weft-wpt`: runs WPT-style testharness.js tests of `weft.channel` in the real headless WEFT
//! shell, one real `weft-appd` session with the echo core per test file (see
//! `weft_tests::wpt`). `scripts/wpt` builds and calls it.
//!
//! ```text
//! weft-wpt [--log-wptreport FILE] [--timeout SECS] [--harness-dir DIR] PATH...
//! ```
//!
//! Prints one line per test with its subtests, the failures' messages, then
//! `N passed, N failed` (over subtests; a test whose harness errored, timed out or crashed
//! counts one more failure). Exits 1 on any failure, 2 on bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use weft_tests::wpt::{self, RunnerConfig};

struct Args {
    paths: Vec<PathBuf>,
    wptreport: Option<PathBuf>,
    timeout: Duration,
    harness_dir: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args { paths: Vec::new(), wptreport: None, timeout: Duration::from_secs(60), harness_dir: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--log-wptreport" => args.wptreport = Some(PathBuf::from(value("--log-wptreport")?)),
            "--timeout" => {
                let secs: u64 = value("--timeout")?.parse().map_err(|_| "--timeout is a number of seconds")?;
                args.timeout = Duration::from_secs(secs.max(5));
            }
            "--harness-dir" => args.harness_dir = Some(PathBuf::from(value("--harness-dir")?)),
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => args.paths.push(PathBuf::from(other)),
        }
    }
    if args.paths.is_empty() {
        return Err("give at least one test file or directory".into());
    }
    Ok(args)
}

fn config(args: &Args) -> Result<RunnerConfig, String> {
    let repo = weft_tests::harness::repo_root();
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .ok_or("cannot find this executable's directory")?;
    let config = RunnerConfig {
        appd: bin_dir.join("weft-appd"),
        shell: bin_dir.join("weft-shell"),
        echo_app: repo.join("examples/echo"),
        harness_dir: args
            .harness_dir
            .clone()
            .unwrap_or_else(|| repo.join("tests/wpt/node_modules/wpt-runner/testharness")),
        idl: repo.join("resources/weft-channel.webidl"),
        tests_root: repo.join("tests/wpt").canonicalize().unwrap_or_else(|_| repo.join("tests/wpt")),
        timeout: args.timeout,
    };
    let mut missing = Vec::new();
    for (path, hint) in [
        (&config.appd, "build the workspace (scripts/wpt does)"),
        (&config.shell, "build the workspace (scripts/wpt does)"),
        (&config.echo_app.join("core.wasm"), "run scripts/build-cores"),
        (&config.harness_dir.join("testharness.js"), "run scripts/setup (npm ci in tests/wpt)"),
    ] {
        if !path.is_file() {
            missing.push(format!("{} is missing: {hint}", path.display()));
        }
    }
    if missing.is_empty() {
        Ok(config)
    } else {
        Err(missing.join("\n"))
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("weft-wpt: {problem}");
            }
            eprintln!("usage: weft-wpt [--log-wptreport FILE] [--timeout SECS] [--harness-dir DIR] PATH...");
            return ExitCode::from(2);
        }
    };
    let (config, tests) = match config(&args).and_then(|c| Ok((c, wpt::collect_tests(&args.paths)?))) {
        Ok(x) => x,
        Err(problem) => {
            eprintln!("weft-wpt: {problem}");
            return ExitCode::from(2);
        }
    };
    wpt::become_subreaper();
    let time_start = wpt::now_ms();
    let (mut passed, mut failed) = (0, 0);
    let mut results = Vec::new();
    for test in &tests {
        let result = wpt::run_test(&config, test);
        passed += result.passed();
        failed += result.failed();
        let verdict = if result.failed() == 0 { "PASS" } else { "FAIL" };
        println!(
            "{verdict} {} [{}] {}/{} subtests passed ({} ms)",
            result.test,
            result.status,
            result.passed(),
            result.subtests.len(),
            result.duration
        );
        if let Some(message) = result.message.as_deref().filter(|_| result.status != "OK") {
            println!("    harness: {}", message.replace('\n', "\n    "));
        }
        for subtest in result.subtests.iter().filter(|s| s.status != "PASS") {
            println!("    {} {}: {}", subtest.status, subtest.name, subtest.message.as_deref().unwrap_or(""));
        }
        results.push(result);
    }
    if let Some(path) = &args.wptreport {
        let report = wpt::wptreport(time_start, results);
        let written = serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("weft-wpt: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
