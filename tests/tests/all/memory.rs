//! Memory under flood: a page flooding the core (UI → core, every event echoed) and a core
//! flooding the page (core → UI) through the real headless shell, each for
//! `WEFT_FLOOD_SECONDS` (default 60; `scripts/reliability --long` uses 180), while the resident
//! memory of weft-appd, the core host and the shell (with any child processes) is sampled from
//! `/proc`. The first half of the run is warm-up: under a flood Servo's JS heap and malloc
//! arenas grow for about 40 s before they level off (docs/reliability.md has the series). Then
//! memory must stay flat: the median of the last sixth of the run may exceed the median of the
//! sixth after the warm-up by at most [`APPD_GROWTH`] (appd, core host) / [`SHELL_GROWTH`] plus
//! [`SERVO_BYTES_PER_SEND`] per page send in between (the shell).

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use weft_tests::harness::{example_core, repo_root, wait_gone, Daemon, LaunchedUi, PageApp, HOSTILE_MANIFEST};

/// The most appd's (and the core host's) resident memory may grow once warm.
const APPD_GROWTH: u64 = 4 << 20;
/// The most the shell's (Servo's) resident memory may grow once warm, before
/// [`SERVO_BYTES_PER_SEND`].
const SHELL_GROWTH: u64 = 64 << 20;
/// What Servo 0.7 keeps per `send()` a page makes, allowed on top of [`SHELL_GROWTH`]: a page
/// with no WEFT in it that makes, awaits and resolves promises the way the binding's `send()`
/// does grows Servo's JS heap by ≈ 16–60 bytes per promise, while a plain WebSocket flood stays
/// flat (docs/reliability.md, "Memory"). At ≈ 70k sends/s that is ≈ 1 MiB/s, which this allows
/// for the sends made between the two measured windows.
const SERVO_BYTES_PER_SEND: u64 = 32;
/// How often memory is sampled (a sampling period, not a synchronisation).
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// Resident memory of `pid` alone, in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// Resident memory of `pid` and its descendants (Servo may start content processes), in bytes.
fn rss_tree(pid: u32) -> u64 {
    let own = rss(pid);
    let tasks =
        std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
    let children: u64 = tasks
        .iter()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()).collect::<Vec<_>>())
        .map(rss_tree)
        .sum();
    own + children
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Warm baseline (the sixth after the first half), end level (the last sixth), peak and growth
/// of a series of samples.
fn flatness(samples: &[u64]) -> (u64, u64, u64, i64) {
    let n = samples.len();
    let warm = median(samples[n / 2..(n * 4 / 6).max(n / 2 + 1)].to_vec());
    let end = median(samples[n * 5 / 6..].to_vec());
    let peak = samples.iter().copied().max().unwrap_or(0);
    (warm, end, peak, end as i64 - warm as i64)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Runs one flood with `page` as the UI of the app made of `manifest` + `core`, for `seconds`;
/// returns the summary (also checked against the bounds).
fn flood(name: &str, manifest: &str, core: &Path, page: &str, seconds: u64) -> Value {
    let daemon = Daemon::start();
    let app = PageApp::new(manifest, core, page);
    let LaunchedUi { id, core_pid, ui_pid } =
        LaunchedUi::from_session(&daemon.launch_ui(&app.app, &app.shell_command(seconds + 60)));
    let (mut appd, mut core_host, mut ui) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        // appd alone: the core host and the shell are its children.
        appd.push(rss(daemon.pid()));
        core_host.push(rss(core_pid));
        ui.push(rss_tree(ui_pid));
        std::thread::sleep(SAMPLE_EVERY);
    }
    let status = daemon.session_status(&id);
    assert_eq!(daemon.request(json!({"op": "end", "session_id": id}))["ok"], true);
    wait_gone(ui_pid, "weft-shell after the end");
    let page = app.page_report();
    assert_eq!(page["reason"], "session-ended", "{page}");
    let stats = &status["stats"];
    // The sends made between the warm window (centred at 7/12 of the run) and the end window
    // (at 11/12), at the run's mean rate.
    let sends_between = stats["ui_events_admitted"].as_u64().unwrap_or(0) / 3;
    let shell_bound = SHELL_GROWTH + SERVO_BYTES_PER_SEND * sends_between;
    let series = |label: &str, samples: &[u64], bound: u64| {
        let (warm, end, peak, growth) = flatness(samples);
        let every_5s: Vec<u64> = samples.iter().step_by(20).map(|b| b >> 20).collect();
        assert!(
            growth <= bound as i64,
            "{name}: {label} grew {:.1} MiB (warm {:.1} → end {:.1}, peak {:.1}) over {seconds} s; bound {:.0} MiB",
            growth as f64 / (1 << 20) as f64,
            mib(warm),
            mib(end),
            mib(peak),
            mib(bound)
        );
        json!({"mib_every_5s": every_5s, "warm_mib": mib(warm), "end_mib": mib(end), "peak_mib": mib(peak), "growth_mib": growth as f64 / (1 << 20) as f64, "bound_mib": mib(bound)})
    };
    let summary = json!({
        "flood": name,
        "seconds": seconds,
        "samples": appd.len(),
        "ui_events_admitted": stats["ui_events_admitted"],
        "state_updates_delivered": stats["state_updates_delivered"],
        "state_updates_coalesced": stats["state_updates_coalesced"],
        "state_queue_high_water": stats["state_queue_high_water"],
        "page": page,
        "appd": series("weft-appd", &appd, APPD_GROWTH),
        "core_host": series("weft-core-host", &core_host, APPD_GROWTH),
        "shell": series("weft-shell", &ui, shell_bound),
    });
    println!("{summary}");
    if let Ok(dir) = std::env::var("WEFT_RELIABILITY_OUT") {
        let path = Path::new(&dir).join(format!("memory-{name}.json"));
        std::fs::write(&path, format!("{summary:#}\n")).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    summary
}

fn seconds() -> u64 {
    std::env::var("WEFT_FLOOD_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60)
}

#[test]
fn memory_stays_flat_while_the_page_floods_the_core() {
    let echo = repo_root().join("examples/echo");
    let manifest = std::fs::read_to_string(echo.join("weft.toml")).expect("manifest");
    let summary = flood("ui-to-core", &manifest, &echo.join("core.wasm"), "chaos.html", seconds());
    assert!(summary["ui_events_admitted"].as_u64() > Some(1000), "the page really flooded: {summary}");
}

#[test]
fn memory_stays_flat_while_the_core_floods_the_page() {
    let summary = flood("core-to-ui", HOSTILE_MANIFEST, &example_core("hostile"), "flood-core.html", seconds());
    assert!(summary["state_updates_delivered"].as_u64() > Some(1000), "the core really flooded: {summary}");
}
