//! `weft dev`, driven headless across real processes the way a developer edits: the page, the
//! core (an edit that keeps its state, a broken one, a fix that replays the state with new
//! behaviour) and the manifest (an error, the fix, a schema the state no longer fits), each
//! seen through what the page logs (its `console.warn`, which a default run shows).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use weft_tests::harness::bin;

/// A running `weft dev`, its stderr read line by line.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    fn start(app: &Path, args: &[&str]) -> Dev {
        let mut child = Command::new(bin("weft"))
            .arg("dev")
            .arg(app)
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WEFT_LOG")
            .env("CARGO_NET_OFFLINE", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weft dev");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Dev { child, lines, seen: Vec::new() }
    }

    /// Waits for a line containing `text` (after those already waited for).
    fn until(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!("weft dev never said {text:?}; it said:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits until each of `texts` has been in a line, in any order.
    fn until_each(&mut self, texts: &[&str]) {
        let from = self.seen.len();
        for text in texts {
            if !self.seen[from..].iter().any(|l| l.contains(text)) {
                self.until(text);
            }
        }
    }

    /// The lines since the last call that contain `text`.
    fn said(&self, text: &str) -> bool {
        self.seen.iter().any(|l| l.contains(text))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // Interrupted as a developer would, so weft dev cleans up (its app, its status file).
        if let Ok(None) = self.child.try_wait() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                // SAFETY: signals the child this test started, which has not been reaped.
                unsafe {
                    libc::kill(pid, libc::SIGINT);
                }
            }
        }
        let _ = self.child.wait();
    }
}

/// Writes `path` with `edit` applied to its text, the way an editor saves (a new file renamed
/// over the old one).
fn edit(path: &Path, edit: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changed nothing in {}", path.display());
    let temporary = path.with_extension("weft-test-save");
    std::fs::write(&temporary, edited).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

/// The pids of the running `program`s whose command line mentions `text`.
fn pids_of(program: &str, text: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            Some((e.file_name().to_str()?.parse::<u32>().ok()?, std::fs::read(e.path().join("cmdline")).ok()?))
        })
        .filter(|(_, cmdline)| {
            let args: Vec<String> =
                cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            args.first().is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == program))
                && args.iter().any(|a| a.contains(text))
        })
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids
}

/// The processes whose command line mentions `text`.
fn processes_mentioning(text: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(text) && !c.is_empty())
        .collect()
}

#[test]
fn weft_dev_reloads_the_page_and_carries_the_core_state_across_rebuilds() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("dev-counter");
    let out = Command::new(bin("weft")).arg("new").arg(&app).output().expect("weft new");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = app.join("ui/index.html");
    let lib = app.join("core/src/lib.rs");
    let shown = r#"document.getElementById("value").textContent = String(e.data.payload.value);"#;
    edit(&page, |t| t.replace(shown, &format!("{{ {shown} console.warn(\"SHOWN v1 \" + e.data.payload.value); }}")));
    // The page reports weft dev's error overlay as it comes and goes (its first line).
    let overlay_probe = r#"<script>
  setInterval(() => {
    const overlay = document.getElementById("weft-dev-overlay");
    const now = overlay ? "OVERLAY " + overlay.textContent.split("\n")[0] : "NO OVERLAY";
    if (now !== window.lastOverlay) { window.lastOverlay = now; console.warn(now); }
  }, 20);
</script>"#;
    edit(&page, |t| format!("{t}{overlay_probe}\n"));

    let click = "document.getElementById('inc').click()";
    let mut dev = Dev::start(&app, &["--headless", "--eval", click, "--eval", click, "--eval", click]);
    dev.until("SHOWN v1 3");

    // A page edit: the page reloads in the same session; the core sends its count again.
    edit(&page, |t| t.replace("SHOWN v1", "SHOWN v2"));
    dev.until("SHOWN v2 3");
    assert!(!dev.said("restarting"), "a page edit does not restart the app");

    // A core edit: rebuilt and swapped in the same window (the same shell process), the core's
    // state carried over (the session's UI events replayed into the new core): the count
    // stays 3, sent again by the new core.
    let app_text = app.display().to_string();
    let shell = pids_of("weft-shell", &app_text);
    let core = pids_of("weft-core-host", &app_text);
    assert_eq!((shell.len(), core.len()), (1, 1), "one shell and one core host: {shell:?} {core:?}");
    edit(&lib, |t| t.replace("\"count would overflow\"", "\"the count would overflow\""));
    // (The page may show it before weft dev hears the swap's answer.)
    dev.until_each(&[
        "swapped the core in the same window; its state carried over (3 UI events replayed)",
        "SHOWN v2 3",
    ]);
    assert!(!dev.said("restarting"), "a core edit does not restart the app");
    assert_eq!(pids_of("weft-shell", &app_text), shell, "the same window");
    assert_ne!(pids_of("weft-core-host", &app_text), core, "a new core host");

    // A broken core: the compiler's error, and the running app keeps its core and state.
    edit(&lib, |t| t.replace("checked_add(by)", "checked_add(\"ten\")"));
    dev.until("error[E0308]");
    dev.until("the running app keeps its last good version");
    dev.until("OVERLAY weft dev: the core did not build");
    // The overlay stays over a reloaded page.
    edit(&page, |t| t.replace("SHOWN v2", "SHOWN v3"));
    dev.until("SHOWN v3 3");
    dev.until("OVERLAY weft dev: the core did not build");

    // The fix, with new behaviour: the carried UI events replay into it (3 × 10).
    edit(&lib, |t| t.replace("checked_add(\"ten\")", "checked_add(by * 10)"));
    dev.until_each(&["swapped the core in the same window", "SHOWN v3 30"]);
    assert_eq!(pids_of("weft-shell", &app_text), shell, "still the same window");

    // A core that builds but traps on the session's events: it does not take over, the running
    // core keeps the session, and the trap is shown; undone, the next swap goes through.
    edit(&lib, |t| t.replace("checked_add(by * 10)", "checked_add(by * 10 / (by - by))"));
    dev.until("the new core did not take over: it trapped");
    dev.until("OVERLAY weft dev: the new core did not take over");
    edit(&lib, |t| t.replace("checked_add(by * 10 / (by - by))", "checked_add(by * 10)"));
    dev.until_each(&["swapped the core in the same window", "NO OVERLAY", "SHOWN v3 30"]);

    // A manifest error: every problem printed, the app keeps running; the fix restarts it, the
    // state carried again.
    let manifest = app.join("weft.toml");
    edit(&manifest, |t| format!("{t}\n[limts]\nmax_message_bytes = 1\n"));
    dev.until("unknown field `limts`");
    dev.until("the running app keeps its last good version");
    dev.until("OVERLAY weft dev: the package has problems");
    edit(&manifest, |t| t.replace("\n[limts]\nmax_message_bytes = 1\n", ""));
    dev.until("checking the manifest");
    dev.until("SHOWN v3 30");

    // A schema change the core's Rust no longer matches (the core's types come from the
    // manifest): `by` must be positive, so it is a `NonZeroU64` now, and the core does not
    // compile where it uses it as an `i64`. The app keeps running.
    edit(&manifest, |t| t.replace("minimum = -1000000", "minimum = 1"));
    dev.until("error[E0308]");
    dev.until("the running app keeps its last good version");
    // Undone, with a schema the earlier UI events (`by: 1`) no longer fit and the same Rust
    // type: said plainly, and the core starts afresh.
    edit(&manifest, |t| t.replace("minimum = 1", "minimum = -1000000").replace("maximum = 1000000", "maximum = 0"));
    dev.until("the core's state is not carried over");
    dev.until("SHOWN v3 0");

    // The manifest restart ran with the state of every run before it, swaps included.
    assert!(dev.said("restarting the app"), "a manifest change restarts the app");

    // Interrupted, weft dev ends the app's processes with it.
    let pid = i32::try_from(dev.child.id()).expect("pid");
    let own_dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("weft-dev-{pid}"));
    assert!(own_dir.join("status").is_file(), "weft dev keeps its files in {}", own_dir.display());
    // SAFETY: signals the child this test started.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let status = dev.child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{status}");
    // Its directory (the overlay's status file, the runs' recordings) is gone too.
    assert!(!own_dir.exists(), "weft dev left {}", own_dir.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&app_text).is_empty() {
        assert!(Instant::now() < deadline, "left behind: {:?}", processes_mentioning(&app_text));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One packet of Firefox's remote debugging protocol: `<length>:<JSON>`.
fn read_rdp_packet(stream: &mut std::net::TcpStream) -> serde_json::Value {
    use std::io::Read;
    let mut length = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b':' {
        stream.read_exact(&mut byte).expect("a packet's length");
        length.push(byte[0]);
    }
    let length: usize = String::from_utf8_lossy(&length[..length.len() - 1]).parse().expect("a length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("a packet's body");
    serde_json::from_slice(&body).expect("a JSON packet")
}

fn write_rdp_packet(stream: &mut std::net::TcpStream, packet: &serde_json::Value) {
    use std::io::Write;
    let body = packet.to_string();
    stream.write_all(format!("{}:{body}", body.len()).as_bytes()).expect("write a packet");
}

#[test]
fn weft_dev_devtools_lists_the_apps_page_to_a_remote_debugging_client() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("inspected");
    let out = Command::new(bin("weft")).arg("new").arg(&app).args(["--template", "blank"]).output().expect("weft new");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let mut dev = Dev::start(&app, &["--headless", &format!("--devtools={port}")]);
    dev.until(&format!("devtools: listening on 127.0.0.1:{port}"));

    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to devtools");
    client.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let greeting = read_rdp_packet(&mut client);
    assert_eq!(greeting["from"], "root", "{greeting}");
    assert_eq!(greeting["applicationType"], "browser", "{greeting}");
    write_rdp_packet(&mut client, &serde_json::json!({"to": "root", "type": "listTabs"}));
    let tabs = read_rdp_packet(&mut client);
    let page = format!("file://{}/ui/index.html", app.canonicalize().expect("canonical").display());
    let listed: Vec<&str> =
        tabs["tabs"].as_array().map(|t| t.iter().filter_map(|t| t["url"].as_str()).collect()).unwrap_or_default();
    assert_eq!(listed, vec![page.as_str()], "{tabs}");
    assert_eq!(tabs["tabs"][0]["title"], "inspected", "{tabs}");
    dev.until("devtools: a client connected");
}

#[test]
fn weft_dev_started_on_a_broken_core_waits_for_the_fix_then_runs_with_the_evals() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("starts-broken");
    let out = Command::new(bin("weft")).arg("new").arg(&app).output().expect("weft new");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = app.join("ui/index.html");
    let lib = app.join("core/src/lib.rs");
    let shown = r#"document.getElementById("value").textContent = String(e.data.payload.value);"#;
    edit(&page, |t| t.replace(shown, &format!("{{ {shown} console.warn(\"SHOWN \" + e.data.payload.value); }}")));
    edit(&lib, |t| t.replace("checked_add(by)", "checked_add(\"one\")"));

    let click = "document.getElementById('inc').click()";
    let mut dev = Dev::start(&app, &["--headless", "--eval", click, "--eval", click]);
    dev.until("error[E0308]");
    dev.until("waiting for a fix");
    edit(&lib, |t| t.replace("checked_add(\"one\")", "checked_add(by)"));
    // The first run that starts is the one the --eval scripts act in.
    dev.until("SHOWN 2");
}

#[test]
fn weft_dev_keeps_the_pages_declarations_current_with_the_manifest() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("typed-dev");
    let out = Command::new(bin("weft")).arg("new").arg(&app).output().expect("weft new");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(bin("weft")).arg("types").arg(&app).output().expect("weft types");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let declarations = app.join("ui/weft-app.d.ts");
    let before = std::fs::read_to_string(&declarations).expect("d.ts");

    let mut dev = Dev::start(&app, &["--headless"]);
    dev.until("session open");
    edit(&app.join("weft.toml"), |t| t.replace("maximum = 1000000", "maximum = 5"));
    dev.until("restarting the app");
    dev.until("session open");
    let after = std::fs::read_to_string(&declarations).expect("d.ts");
    assert_ne!(after, before, "weft dev wrote the declarations again");
    let out = Command::new(bin("weft")).arg("check").arg(&app).output().expect("weft check");
    assert!(
        out.status.success(),
        "the declarations and the core follow the manifest:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
