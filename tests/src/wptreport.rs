//! testharness.js results as the runner receives them, and the wptreport JSON it writes.
//!
//! The page's `testharnessreport.js` (written by the runner) logs one console line
//! `WEFT-RESULT {"status", "message", "subtests": [{"name", "status", "message"}]}` when the
//! harness completes. The statuses are testharness.js's names: `OK`, `ERROR`, `TIMEOUT`,
//! `PRECONDITION_FAILED` for the harness, `PASS`, `FAIL`, `TIMEOUT`, `NOTRUN`,
//! `PRECONDITION_FAILED` for subtests. The runner adds `CRASH` (the shell or appd died before
//! reporting) and `TIMEOUT` (nothing reported within the per-test timeout).

use serde::{Deserialize, Serialize};

/// One subtest's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtestResult {
    /// The subtest's name (its `test()` description).
    pub name: String,
    /// `PASS`, `FAIL`, `TIMEOUT`, `NOTRUN` or `PRECONDITION_FAILED`.
    pub status: String,
    /// The failure message, if any.
    #[serde(default)]
    pub message: Option<String>,
    /// wptreport's field; always empty here.
    #[serde(default)]
    pub known_intermittent: Vec<String>,
}

/// What a test page reported (the JSON after `WEFT-RESULT `).
#[derive(Clone, Debug, Deserialize)]
pub struct HarnessReport {
    /// The harness status: `OK`, `ERROR`, `TIMEOUT` or `PRECONDITION_FAILED`.
    pub status: String,
    /// The harness message (e.g. an uncaught exception), if any.
    #[serde(default)]
    pub message: Option<String>,
    /// Every subtest, in order.
    #[serde(default)]
    pub subtests: Vec<SubtestResult>,
}

/// One test file's result, as a wptreport `results` entry.
#[derive(Clone, Debug, Serialize)]
pub struct TestResult {
    /// The test's id (`/weft-channel/send.html` inside `tests/wpt`, else its absolute path).
    pub test: String,
    /// `OK`, `ERROR`, `TIMEOUT`, `PRECONDITION_FAILED` or `CRASH`.
    pub status: String,
    /// Why the status is not `OK`.
    pub message: Option<String>,
    /// Wall time in milliseconds.
    pub duration: u64,
    /// The subtests.
    pub subtests: Vec<SubtestResult>,
    /// wptreport's field; always empty here.
    pub known_intermittent: Vec<String>,
}

impl TestResult {
    /// Subtests that passed.
    pub fn passed(&self) -> usize {
        self.subtests.iter().filter(|s| s.status == "PASS").count()
    }

    /// Failures: every subtest that did not pass, plus one if the harness itself did not
    /// finish `OK` (an error, a timeout or a crash is a failure even with no subtests).
    pub fn failed(&self) -> usize {
        self.subtests.len() - self.passed() + usize::from(self.status != "OK")
    }
}

/// The whole run, in wptreport format (what `wpt run --log-wptreport` writes).
#[derive(Debug, Serialize)]
pub struct WptReport {
    /// Properties of the run.
    pub run_info: serde_json::Value,
    /// Start, in milliseconds since the Unix epoch.
    pub time_start: u64,
    /// End, in milliseconds since the Unix epoch.
    pub time_end: u64,
    /// One entry per test file.
    pub results: Vec<TestResult>,
}

/// The prefix of the console line carrying a [`HarnessReport`].
pub const RESULT_PREFIX: &str = "WEFT-RESULT ";
/// The console line the page logs after its report.
pub const DONE_MARKER: &str = "WEFT-DONE";

/// Reads the page's report from the shell's `--report` file content (one line per
/// `WEFT-RESULT` console message, prefix removed). The last well-formed line wins; a page
/// that reported nothing, or only malformed lines, gives an error saying so.
pub fn parse_report(text: &str) -> Result<HarnessReport, String> {
    let mut last_error = None;
    let mut report = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<HarnessReport>(line) {
            Ok(r) => report = Some(r),
            Err(e) => last_error = Some(format!("malformed result line ({e})")),
        }
    }
    report.ok_or_else(|| last_error.unwrap_or_else(|| "the page reported no results".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_subtests_and_a_harness_failure() {
        let report = parse_report(
            r#"{"status":"ERROR","message":"boom","subtests":[{"name":"a","status":"PASS"},{"name":"b","status":"FAIL","message":"x"},{"name":"c","status":"NOTRUN"}]}"#,
        )
        .expect("parses");
        let result = TestResult {
            test: "/t.html".into(),
            status: report.status,
            message: report.message,
            duration: 1,
            subtests: report.subtests,
            known_intermittent: vec![],
        };
        assert_eq!((result.passed(), result.failed()), (1, 3));
    }

    #[test]
    fn no_report_or_garbage_is_an_error() {
        assert_eq!(parse_report("").expect_err("nothing reported"), "the page reported no results");
        assert!(parse_report("{not json").expect_err("garbage").starts_with("malformed result line"));
    }
}
