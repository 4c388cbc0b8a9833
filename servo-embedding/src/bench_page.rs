//! Benchmarks only: one local page in headless Servo with **no WEFT session** — no binding, no
//! channel socket, no token, and no load policy (so the page may open a WebSocket to any
//! loopback echo server). `weft-bench` uses it for the `websocket-servo` comparison: the same
//! engine and page-side measuring code as the real path, over the transport an app would use
//! without WEFT.
//!
//! Reached only through `weft-shell --bench-page FILE`, which takes no app and joins no session
//! (`weft-appd` never starts the shell that way), so no app page ever runs without the policy.

use crate::headless::{CondvarWaker, REPORT_PREFIX};
use servo::{
    LoadStatus, RenderingContext, ServoBuilder, SoftwareRenderingContext, WebView, WebViewBuilder, WebViewDelegate,
};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Seen {
    loaded: Cell<bool>,
    crashed: Cell<bool>,
    console: RefCell<Vec<String>>,
}

struct Delegate(Rc<Seen>);

impl WebViewDelegate for Delegate {
    fn notify_new_frame_ready(&self, webview: WebView) {
        webview.paint();
    }

    fn notify_load_status_changed(&self, _webview: WebView, status: LoadStatus) {
        if status == LoadStatus::Complete {
            self.0.loaded.set(true);
        }
    }

    fn notify_crashed(&self, _webview: WebView, reason: String, _backtrace: Option<String>) {
        tracing::error!(%reason, "the page crashed");
        self.0.crashed.set(true);
    }

    fn show_console_message(&self, _webview: WebView, _level: servo::ConsoleLogLevel, message: String) {
        self.0.console.borrow_mut().push(message);
    }
}

/// Runs `page` until it logs `done_marker` (or `timeout`), copying its `WEFT-RESULT …` console
/// lines to `report` (or stdout).
pub fn run(page: &Path, report: Option<&Path>, done_marker: &str, timeout: Duration) -> Result<(), String> {
    crate::install_crypto_provider();
    let started = Instant::now();
    let page = page.canonicalize().map_err(|e| format!("{}: {e}", page.display()))?;
    let url = url::Url::from_file_path(&page).map_err(|()| format!("{}: not a file path", page.display()))?;
    let context = SoftwareRenderingContext::new(dpi::PhysicalSize::new(320, 200))
        .map_err(|e| format!("no software rendering context: {e:?}"))?;
    let context: Rc<dyn RenderingContext> = Rc::new(context);
    context.make_current().map_err(|e| format!("cannot make the GL context current: {e:?}"))?;
    let waker = CondvarWaker::default();
    let servo = ServoBuilder::default().event_loop_waker(Box::new(waker.clone())).build();
    let seen = Rc::new(Seen::default());
    let _webview = WebViewBuilder::new(&servo, context).url(url).delegate(Rc::new(Delegate(seen.clone()))).build();
    let mut out: Box<dyn Write> = match report {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => Box::new(std::io::stdout()),
    };
    loop {
        for line in seen.console.borrow_mut().drain(..) {
            if let Some(result) = line.strip_prefix(REPORT_PREFIX) {
                writeln!(out, "{result}").map_err(|e| e.to_string())?;
            }
            if line == done_marker {
                return out.flush().map_err(|e| e.to_string());
            }
        }
        if seen.crashed.get() {
            return Err("the page crashed".into());
        }
        if started.elapsed() > timeout {
            return Err(format!("timed out (page loaded: {})", seen.loaded.get()));
        }
        servo.spin_event_loop();
        waker.wait(Duration::from_millis(20));
    }
}
