//! The control socket, status view and package checks.

use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use weft_tests::harness::{app, bin, example_core, Daemon, ECHO_MANIFEST};

#[test]
fn runtime_files_are_owner_only() {
    let daemon = Daemon::start();
    let dir_mode = std::fs::metadata(daemon.runtime_dir()).expect("dir").permissions().mode() & 0o777;
    let sock_mode =
        std::fs::metadata(daemon.runtime_dir().join("appd.sock")).expect("sock").permissions().mode() & 0o777;
    assert_eq!((dir_mode, sock_mode), (0o700, 0o600));
}

#[test]
fn status_json_shows_sessions_queues_and_credits() {
    let daemon = Daemon::start();
    let app = app(ECHO_MANIFEST, &example_core("echo"));
    let peer = daemon.launch(app.path());
    let out = std::process::Command::new(bin("weft-appd"))
        .arg("--runtime-dir")
        .arg(daemon.runtime_dir())
        .args(["status", "--json"])
        .output()
        .expect("run status");
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let session = status["sessions"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["session_id"] == peer.session_id.as_str()))
        .expect("session listed");
    assert_eq!(session["state"], "open");
    assert_eq!(session["app"], "echo");
    assert_eq!(session["core_pid"], peer.core_pid);
    for key in
        ["state_queue_depth", "state_queue_capacity", "ui_credit", "page_credit", "core_credit", "ui_events_admitted"]
    {
        assert!(!session["stats"][key].is_null(), "missing stats.{key}: {session:#}");
    }
}

#[test]
fn malformed_control_requests_get_an_error_not_a_crash() {
    let daemon = Daemon::start();
    for bad in [json!({"op": "launch"}), json!({"op": "nope"}), json!("x")] {
        let answer = daemon.request(bad);
        assert_eq!(answer["ok"], false);
    }
    let answer = daemon.request(json!({"op": "launch", "app_dir": "/nonexistent", "ui_command": ["true"]}));
    assert!(answer["error"].as_str().unwrap_or("").contains("cannot open app directory"), "{answer}");
    assert_eq!(daemon.request(json!({"op": "status"}))["ok"], true);
}

#[test]
fn check_explains_a_broken_package() {
    let broken = app("[app]\nname = \"Bad\"\n[ui-events.a]\nschema = { type = \"nope\" }\n", &example_core("echo"));
    let out = std::process::Command::new(bin("weft-appd")).arg("check").arg(broken.path()).output().expect("check");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 problem(s)"), "{err}");
    assert!(err.contains("app.name: \"Bad\" is not a valid name"), "{err}");
    assert!(err.contains("ui-events.a.schema: invalid JSON Schema"), "{err}");
    let good = app(ECHO_MANIFEST, &example_core("echo"));
    let out = std::process::Command::new(bin("weft-appd")).arg("check").arg(good.path()).output().expect("check");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
