//! The WPT runner itself (`weft-wpt`, behind `scripts/wpt`): a test file outside the repository
//! runs the same way, failures and harness timeouts are counted and reported in wptreport
//! format, and test mode is never on outside the runner.

use std::path::Path;
use std::process::Command;
use weft_tests::harness::{bin, repo_root, Daemon};

fn wpt(args: &[&str], tests: &[&Path]) -> (i32, String, serde_json::Value) {
    let report = tempfile::NamedTempFile::new().expect("report file");
    let output = Command::new(bin("weft-wpt"))
        .arg("--log-wptreport")
        .arg(report.path())
        .args(args)
        .args(tests)
        .output()
        .expect("weft-wpt runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let json = std::fs::read(report.path()).expect("wptreport written");
    let json = serde_json::from_slice(&json).expect("wptreport is JSON");
    (output.status.code().unwrap_or(-1), stdout, json)
}

const HEAD: &str = r#"<!doctype html><meta charset="utf-8">
<script src="resources/testharness.js"></script><script src="resources/testharnessreport.js"></script>"#;

#[test]
fn a_test_outside_the_repository_runs_and_its_failures_are_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let test = dir.path().join("outside.html");
    std::fs::write(
        &test,
        format!(
            r#"{HEAD}<script>
promise_test(async () => {{ await weft.channel.send("strict", {{ n: 1 }}); }}, "admitted");
test(() => assert_equals(typeof weft_test_driver, "object"), "the test driver is present");
test(() => assert_equals(1, 2, "on purpose"), "fails on purpose");
</script>"#
        ),
    )
    .expect("write test");
    let (code, stdout, report) = wpt(&[], &[&test]);
    assert_eq!(code, 1, "a failing subtest fails the run:\n{stdout}");
    assert!(stdout.contains("2 passed, 1 failed"), "{stdout}");
    let result = &report["results"][0];
    assert_eq!(result["test"], test.canonicalize().expect("canonical").display().to_string());
    assert_eq!(result["status"], "OK");
    let statuses: Vec<(String, String)> = result["subtests"]
        .as_array()
        .expect("subtests")
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or("").to_owned(), s["status"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("admitted".to_owned(), "PASS".to_owned()),
            ("the test driver is present".to_owned(), "PASS".to_owned()),
            ("fails on purpose".to_owned(), "FAIL".to_owned())
        ]
    );
    assert!(report["time_end"].as_u64() >= report["time_start"].as_u64());
    assert_eq!(report["run_info"]["product"], "weft-shell");
}

#[test]
fn a_hung_test_is_reported_as_a_timeout_and_nothing_is_left_running() {
    let dir = tempfile::tempdir().expect("tmp");
    let test = dir.path().join("hang.html");
    std::fs::write(
        &test,
        format!(r#"{HEAD}<script>promise_test(() => new Promise(() => {{}}), "never settles");</script>"#),
    )
    .expect("write test");
    let (code, stdout, report) = wpt(&["--timeout", "8"], &[&test]);
    assert_eq!(code, 1, "{stdout}");
    let result = &report["results"][0];
    assert_eq!(result["status"], "TIMEOUT", "{stdout}");
    assert_eq!(result["subtests"][0]["status"], "TIMEOUT", "{stdout}");
    assert!(stdout.contains("0 passed, 2 failed"), "the subtest and the harness: {stdout}");
}

#[test]
fn test_control_is_refused_in_a_normal_session() {
    // A UI that sends a test-control frame in a session not launched with --test-control is
    // a protocol violation: the session ends and the core is never touched by it.
    let daemon = Daemon::start();
    let app = repo_root().join("examples/echo");
    let mut peer = daemon.launch(&app);
    peer.cmd(weft_tests::peer::Command::Forge { kind: "test-control".into() });
    let (reason, _) = peer.until_end();
    assert_eq!(reason, "protocol-violation");
}
