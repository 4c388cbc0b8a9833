//! The socket carrier (`weft-shell --channel socket`, kept until its removal) against a local
//! attacker: another process on the machine finds
//! the port (it is listed in `/proc/net/tcp` for anyone) and knocks without the token, speaks
//! plain HTTP, knocks as another user, and holds idle connections open, while the real page
//! floods its channel. Every knock is refused, and the page's own connection keeps carrying
//! traffic, in order. And the native carrier (the default) holds no network socket at all.

use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
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

/// The TCP ports `pid` listens on at 127.0.0.1.
fn loopback_listeners(pid: u32) -> Vec<u16> {
    held_sockets(pid, "tcp")
        .iter()
        .filter_map(|f| {
            // local_address, st (0A = LISTEN)
            let (local, state) = (f.get(1)?, f.get(3)?);
            let (addr, port) = local.split_once(':')?;
            (addr == "0100007F" && state == "0A").then(|| u16::from_str_radix(port, 16).ok()).flatten()
        })
        .collect()
}

/// Ends the session `id` as the operator would and returns the flooding page's report, once
/// the shell has exited; the page saw the end once and its echoes in order.
fn end_and_report(daemon: &Daemon, app: &PageApp, id: &str, ui_pid: u32) -> serde_json::Value {
    assert_eq!(daemon.request(json!({"op": "end", "session_id": id}))["ok"], true);
    wait_gone(ui_pid, "weft-shell after the end");
    let page = app.page_report();
    assert_eq!(page["reason"], "session-ended", "{page}");
    assert_eq!(page["ends"], 1, "{page}");
    assert!(chaos_page_in_order(&page), "{page}");
    page
}

/// The HTTP status a WebSocket handshake to `path` gets (101 = accepted).
fn handshake_status(port: u16, path: &str) -> u16 {
    match tungstenite::client::connect(format!("ws://127.0.0.1:{port}{path}")) {
        Ok((_, response)) => response.status().as_u16(),
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake to {path}: {e}"),
    }
}

/// The flooding page (`tests/shell/chaos.html`) on an echo app, in the real shell with `extra`
/// options; returns once the page has had over 1000 sends admitted.
fn flooding_page(daemon: &Daemon, extra: &[&str]) -> (PageApp, LaunchedUi) {
    let echo = repo_root().join("examples/echo");
    let manifest = std::fs::read_to_string(echo.join("weft.toml")).expect("manifest");
    let app = PageApp::new(&manifest, &echo.join("core.wasm"), "chaos.html");
    let mut command = app.shell_command(120);
    command.extend(extra.iter().map(|a| a.to_string()));
    let launched = LaunchedUi::from_session(&daemon.launch_ui(&app.app, &command));
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.session_status(&launched.id)["stats"]["ui_events_admitted"].as_u64().unwrap_or(0) <= 1000 {
        assert!(Instant::now() < deadline, "the page never got going\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    (app, launched)
}

#[test]
fn a_local_process_without_the_token_gets_nothing_and_the_page_keeps_its_channel() {
    let daemon = Daemon::start();
    let (app, LaunchedUi { id, ui_pid, .. }) = flooding_page(&daemon, &["--channel", "socket"]);
    let admitted = || daemon.session_status(&id)["stats"]["ui_events_admitted"].as_u64().unwrap_or(0);
    let until = |what: &str, ok: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(Instant::now() < deadline, "{what}\n{}", daemon.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let ports = loopback_listeners(ui_pid);
    assert_eq!(ports.len(), 1, "the shell listens on exactly one loopback port: {ports:?}");
    let port = ports[0];

    let forged = "0".repeat(64);
    assert_eq!(handshake_status(port, &format!("/channel/{forged}?cursor=0")), 403, "a forged token");
    assert_eq!(handshake_status(port, "/channel/?cursor=0"), 403, "an empty token");
    assert_eq!(handshake_status(port, "/channel"), 403, "no token");
    assert_eq!(handshake_status(port, &format!("/test-driver/{forged}")), 403, "the test driver");
    assert_eq!(handshake_status(port, "/"), 403, "the root");

    // Plain HTTP: no upgrade, nothing but a refusal (or a closed connection).
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    plain.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    plain.write_all(b"GET /channel/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("write");
    let mut answer = String::new();
    let _ = plain.read_to_string(&mut answer);
    assert!(!answer.contains(" 101 "), "plain HTTP was upgraded: {answer:?}");

    // Another user's process is closed before its handshake (checked where the test can be
    // another user: as root, through bash's /dev/tcp as `nobody`).
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0) {
        let knock = std::process::Command::new("bash")
            .uid(65534)
            .gid(65534)
            .arg("-c")
            .arg(format!(
                "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET /channel/{forged} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' >&3; timeout 10 cat <&3"
            ))
            .output()
            .expect("run bash as nobody");
        assert!(knock.stdout.is_empty(), "another user got an answer: {:?}", String::from_utf8_lossy(&knock.stdout));
        until("the other user's connection was not logged", &|| {
            daemon.log().contains("channel socket: refused a connection from another user")
        });
    }

    // Idle connections that never finish a handshake, more than the socket serves at once.
    let idle: Vec<TcpStream> = (0..20).filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    let before = admitted();
    until("the page's channel stalled under the knocking", &|| admitted() > before + 1000);
    drop(idle);

    end_and_report(&daemon, &app, &id, ui_pid);
    let log = daemon.log();
    assert!(log.contains("channel socket: refused a handshake"), "the refusals are logged:\n{log}");
    assert!(!log.contains(&forged), "the log repeats a presented token:\n{log}");
}

/// The native carrier (the default): the page's channel is Servo's page channel embedder API,
/// so the shell holds no TCP or UDP socket at all while the page floods its channel; and the
/// flooding page, which sends while `desiredSize > 0`, yields once the session has ended.
#[test]
fn the_native_carrier_opens_no_network_socket() {
    let daemon = Daemon::start();
    let (app, LaunchedUi { id, ui_pid, .. }) = flooding_page(&daemon, &[]);
    assert!(!socket_inodes(ui_pid).is_empty(), "the shell holds its Unix sockets to appd");
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let held = held_sockets(ui_pid, table);
        assert!(held.is_empty(), "the shell holds {table} sockets: {held:?}");
    }
    end_and_report(&daemon, &app, &id, ui_pid);
}
