//! Running an app view with no display: Mesa's software GL (surfaceless EGL), Servo's event
//! loop driven by its waker, no winit. Used by tests and by machines without a display.

use crate::bridge::Bridge;
use crate::policy::UiPolicy;
use crate::view::{AppView, PageSetup};
use servo::{EventLoopWaker, RenderingContext, SoftwareRenderingContext};
use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use weft_ipc::lock;

/// What a headless run does.
#[derive(Clone, Debug)]
pub struct HeadlessOptions {
    /// Viewport size in pixels.
    pub size: (u32, u32),
    /// Scripts to evaluate in the page once it has loaded, in order (e.g. scripted clicks).
    pub evals: Vec<String>,
    /// Where to write a PNG once the page has settled; the app is then closed.
    pub screenshot: Option<PathBuf>,
    /// The page has settled when the channel has been quiet this long after the scripts.
    pub settle: Duration,
    /// Give up after this long.
    pub timeout: Duration,
    /// Console lines starting with [`REPORT_PREFIX`] are appended here (a reporting path for
    /// tests that is not the channel under test).
    pub report: Option<PathBuf>,
    /// Close the app once the page logs this console line.
    pub done_marker: Option<String>,
    /// Write here (as Unix-epoch microseconds) when the page's first state update was painted:
    /// the end of a cold launch (`weft-bench`).
    pub first_paint: Option<PathBuf>,
    /// Benchmarks only: once the page's done marker is seen, write the bridge's round-trip
    /// probe figures here as JSON ([`crate::probe`]), before the app closes.
    pub probe: Option<PathBuf>,
    /// Development only: what `weft dev` turns on.
    pub dev: crate::view::DevOptions,
}

/// The prefix of console lines copied to [`HeadlessOptions::report`].
pub const REPORT_PREFIX: &str = "WEFT-RESULT ";

impl Default for HeadlessOptions {
    fn default() -> Self {
        HeadlessOptions {
            size: (640, 400),
            evals: Vec::new(),
            screenshot: None,
            settle: Duration::from_millis(300),
            timeout: Duration::from_secs(60),
            report: None,
            done_marker: None,
            first_paint: None,
            probe: None,
            dev: crate::view::DevOptions::default(),
        }
    }
}

/// How long Servo may take to shut down once a headless run is over.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// On drop, starts a thread that exits the process after the given time: the run is over and
/// only Servo's shutdown remains, which a page spinning in a script can block forever.
struct ExitIfStuck(Duration);

impl Drop for ExitIfStuck {
    fn drop(&mut self) {
        let after = self.0;
        let _ = std::thread::Builder::new().name("weft-exit-guard".into()).spawn(move || {
            std::thread::sleep(after);
            tracing::error!(?after, "Servo did not shut down (a page script that never yields?); exiting");
            std::process::exit(3);
        });
    }
}

/// Wakes the embedder loop when Servo has work (never poll: every fetch waits for this loop).
#[derive(Clone, Default)]
pub struct CondvarWaker(Arc<(Mutex<bool>, Condvar)>);

impl EventLoopWaker for CondvarWaker {
    fn clone_box(&self) -> Box<dyn EventLoopWaker> {
        Box::new(self.clone())
    }

    fn wake(&self) {
        let (flag, condvar) = &*self.0;
        *lock(flag) = true;
        condvar.notify_one();
    }
}

impl CondvarWaker {
    /// Waits for a wake-up, at most `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let (flag, condvar) = &*self.0;
        let guard = lock(flag);
        let (mut guard, _) =
            condvar.wait_timeout_while(guard, timeout, |woken| !*woken).unwrap_or_else(|p| p.into_inner());
        *guard = false;
    }
}

/// Runs the app headless until the screenshot is written (then closes the app) or, without a
/// screenshot, until the session ends. Returns the session's end reason if it ended.
pub fn run(ui_dir: &std::path::Path, bridge: Bridge, options: &HeadlessOptions) -> Result<Option<String>, String> {
    crate::install_crypto_provider();
    let started = Instant::now();
    let policy = UiPolicy::new(ui_dir)?;
    let entry = policy.base().join("index.html").map_err(|e| e.to_string())?;
    let context = SoftwareRenderingContext::new(dpi::PhysicalSize::new(options.size.0, options.size.1))
        .map_err(|e| format!("no software rendering context: {e:?}"))?;
    let context: Rc<dyn RenderingContext> = Rc::new(context);
    context.make_current().map_err(|e| format!("cannot make the GL context current: {e:?}"))?;
    let waker = CondvarWaker::default();
    let view = AppView::new(
        context,
        Box::new(waker.clone()),
        PageSetup { policy, entry, dev: options.dev.clone() },
        bridge.clone(),
        Box::new(|webview| webview.paint()),
        1.0,
    )?;

    // Dropped before `view`: if Servo's shutdown then hangs (a page script that never yields
    // keeps its script thread from stopping), the process still exits.
    let _exit_if_stuck = ExitIfStuck(SHUTDOWN_WAIT);
    let report = RefCell::new(match &options.report {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    });
    let done_seen = std::cell::Cell::new(false);
    // The first painted state: the page reports a dispatched message only after its handler
    // ran, so the update is painted either in the next frame (taken if it comes within
    // FIRST_PAINT_WINDOW) or already before the report (then the report's time is an upper
    // bound, and is what is written).
    const FIRST_PAINT_WINDOW: Duration = Duration::from_millis(50);
    let first_paint_at: std::cell::Cell<Option<Instant>> = std::cell::Cell::new(None);
    let first_paint_done = std::cell::Cell::new(options.first_paint.is_none());
    let write_first_paint = |at: std::time::SystemTime| {
        let micros = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
        if let Some(path) = &options.first_paint {
            if let Err(e) = std::fs::write(path, format!("{micros}\n")) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the first-paint time");
            }
        }
    };
    let watch_first_paint = || {
        if first_paint_done.get() {
            return;
        }
        match first_paint_at.get() {
            None if bridge.messages_consumed() > 0 => {
                view.state.new_frame.set(false);
                first_paint_at.set(Some(Instant::now()));
                write_first_paint(std::time::SystemTime::now());
            }
            Some(at) if at.elapsed() > FIRST_PAINT_WINDOW => first_paint_done.set(true),
            Some(_) if view.state.new_frame.get() => {
                first_paint_done.set(true);
                write_first_paint(std::time::SystemTime::now());
            }
            _ => {}
        }
    };
    let drain_console = || {
        for line in view.state.console.borrow_mut().drain(..) {
            if let (Some(file), Some(result)) = (report.borrow_mut().as_mut(), line.strip_prefix(REPORT_PREFIX)) {
                let _ = writeln!(file, "{result}");
            }
            if options.done_marker.as_deref() == Some(line.as_str()) {
                done_seen.set(true);
            }
        }
    };
    let spin_until = |what: &str, done: &dyn Fn() -> bool| -> Result<(), String> {
        while !done() {
            view.dev_tick();
            drain_console();
            watch_first_paint();
            if view.state.crashed.get() {
                return Err("the page crashed".into());
            }
            if started.elapsed() > options.timeout {
                return Err(format!("timed out waiting for {what}"));
            }
            view.servo.spin_event_loop();
            waker.wait(Duration::from_millis(20));
        }
        drain_console();
        Ok(())
    };
    spin_until("the page to load", &|| view.state.loaded.get())?;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "page loaded");

    for script in &options.evals {
        let done = Rc::new(RefCell::new(None));
        let slot = done.clone();
        view.webview.evaluate_javascript(script, move |result| {
            *slot.borrow_mut() = Some(result);
        });
        spin_until("a script", &|| done.borrow().is_some())?;
        // The value on stdout; a failure is the page's error, and the run goes on.
        let outcome = done.borrow_mut().take();
        match outcome {
            Some(Ok(value)) => {
                // Nobody may be reading (a daemon's UI has stdout closed): a failed write is
                // not the page's problem.
                if let Some(text) = crate::eval_result::value_text(&value) {
                    let _ = writeln!(std::io::stdout().lock(), "{text}");
                }
            }
            Some(Err(e)) => {
                tracing::warn!(target: "weft_page", "an --eval failed: {}", crate::eval_result::error_text(&e))
            }
            None => {}
        }
    }

    if options.done_marker.is_some() {
        // Wait for the marker even after the session ended: the page still reacts to the end.
        spin_until("the page's done marker", &|| done_seen.get())?;
        // Now, while the session still runs: once it has ended, `weft-appd run` exits and the
        // shell with it.
        if let (Some(probe), Some(path)) = (bridge.probe(), &options.probe) {
            if let Err(e) = std::fs::write(path, probe.summary().to_string()) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the probe's figures");
            }
        }
        if bridge.ended().is_none() {
            bridge.close_app();
        }
    }
    let Some(path) = &options.screenshot else {
        spin_until("the session to end", &|| bridge.ended().is_some())?;
        return Ok(bridge.ended());
    };
    // Settled: the channel quiet for `settle`, then one more frame painted.
    spin_until("the page to settle", &|| bridge.last_activity().elapsed() >= options.settle)?;
    view.state.new_frame.set(false);
    let shot = Rc::new(RefCell::new(None));
    let slot = shot.clone();
    view.webview.take_screenshot(None, move |result| {
        *slot.borrow_mut() = Some(result.map_err(|e| format!("{e:?}")));
    });
    spin_until("the screenshot", &|| shot.borrow().is_some())?;
    let image = shot.borrow_mut().take().ok_or("no screenshot")??;
    image.save(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), ms = started.elapsed().as_millis() as u64, "screenshot written");
    bridge.close_app();
    spin_until("the session to end", &|| bridge.ended().is_some())?;
    Ok(bridge.ended())
}
