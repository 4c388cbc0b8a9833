//! The shell holds no network socket: the page's channel is Servo's page channel embedder API
//! (no WebSocket, no listening port, no token), so there is nothing on the machine's network
//! for another local process to find or knock on.

use serde_json::json;
use std::time::{Duration, Instant};
use weft_tests::harness::{chaos_page_in_order, repo_root, wait_gone, Daemon, LaunchedUi, PageApp};

/// The inodes of the sockets `pid` holds.
fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str().and_then(|s| s.strip_prefix("socket:[")).map(|s| s.trim_end_matches(']').to_owned()))
        .collect()
}

/// The rows of `/proc/<pid>/net/<table>` (`tcp`, `udp6`, …) for sockets `pid` holds, split
/// into fields (its sockets' inodes, matched in the table's tenth column).
fn held_sockets(pid: u32, table: &str) -> Vec<Vec<String>> {
    let inodes = socket_inodes(pid);
    std::fs::read_to_string(format!("/proc/{pid}/net/{table}"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|fields| fields.get(9).is_some_and(|inode| inodes.contains(inode)))
        .collect()
}

/// Ends the session `id` as the operator would, once the shell has exited; the flooding page
/// saw the end once and its echoes in order.
fn end_and_check_the_page(daemon: &Daemon, app: &PageApp, id: &str, ui_pid: u32) {
    assert_eq!(daemon.request(json!({"op": "end", "session_id": id}))["ok"], true);
    wait_gone(ui_pid, "weft-shell after the end");
    let page = app.page_report();
    assert_eq!(page["reason"], "session-ended", "{page}");
    assert_eq!(page["ends"], 1, "{page}");
    assert!(chaos_page_in_order(&page), "{page}");
}

/// The flooding page (`tests/shell/chaos.html`) on an echo app, in the real shell; returns once
/// the page has had over 1000 sends admitted.
fn flooding_page(daemon: &Daemon) -> (PageApp, LaunchedUi) {
    let echo = repo_root().join("examples/echo");
    let manifest = std::fs::read_to_string(echo.join("weft.toml")).expect("manifest");
    let app = PageApp::new(&manifest, &echo.join("core.wasm"), "chaos.html");
    let command = app.shell_command(120);
    let launched = LaunchedUi::from_session(&daemon.launch_ui(&app.app, &command));
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.session_status(&launched.id)["stats"]["ui_events_admitted"].as_u64().unwrap_or(0) <= 1000 {
        assert!(Instant::now() < deadline, "the page never got going\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    (app, launched)
}

/// The shell holds no TCP or UDP socket at all while the page floods its channel; and the
/// flooding page, which sends while `desiredSize > 0`, yields once the session has ended.
#[test]
fn the_shell_holds_no_network_socket_while_the_page_floods_its_channel() {
    let daemon = Daemon::start();
    let (app, LaunchedUi { id, ui_pid, .. }) = flooding_page(&daemon);
    assert!(!socket_inodes(ui_pid).is_empty(), "the shell holds its Unix sockets to appd");
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let held = held_sockets(ui_pid, table);
        assert!(held.is_empty(), "the shell holds {table} sockets: {held:?}");
    }
    end_and_check_the_page(&daemon, &app, &id, ui_pid);
}
