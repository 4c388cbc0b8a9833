//! Development only (`weft dev`): the page reloads when a file under `ui/` changes, and the
//! build or check errors `weft dev` writes to its status file are shown over the page.
//!
//! One watch covers `ui/` and the status file; each change sets a flag and wakes the embedder
//! loop, which calls [`DevMode::tick`]. A reload keeps the session (the core is told a new page
//! attached). The overlay is a fixed `<pre id="weft-dev-overlay">` put into the page by
//! `evaluate_javascript` (again after each load while there is something to show), removed when
//! the file is empty again.

use crate::view::ViewState;
use servo::{EventLoopWaker, WebView};
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The overlay element's id (the page may look for it; tests do).
pub const OVERLAY_ID: &str = "weft-dev-overlay";

/// The dev-mode state of one view.
pub struct DevMode {
    ui_changed: Arc<AtomicBool>,
    status_changed: Arc<AtomicBool>,
    status_file: Option<PathBuf>,
    /// What the overlay shows (empty: no overlay).
    overlay: RefCell<String>,
    /// The overlay must be (re)applied once the current document has loaded.
    overlay_due: Cell<bool>,
    _watch: weft_watch::Watch,
}

impl DevMode {
    /// Watches `ui_dir` and, if given, `status_file` (`weft dev`'s errors, empty when there
    /// are none); `waker` wakes the embedder loop on each change.
    pub fn start(
        ui_dir: &Path,
        status_file: Option<PathBuf>,
        waker: Box<dyn EventLoopWaker>,
    ) -> Result<DevMode, String> {
        let ui_changed = Arc::new(AtomicBool::new(false));
        let status_changed = Arc::new(AtomicBool::new(status_file.is_some()));
        let mut paths = vec![ui_dir.to_owned()];
        paths.extend(status_file.iter().cloned());
        let (ui_flag, status_flag, status) = (ui_changed.clone(), status_changed.clone(), status_file.clone());
        let watch = weft_watch::Watch::start(&paths, move |path| {
            if status.as_deref() == Some(path) {
                status_flag.store(true, Ordering::SeqCst);
            } else {
                tracing::debug!(path = %path.display(), "a file of the UI changed");
                ui_flag.store(true, Ordering::SeqCst);
            }
            waker.wake();
        })
        .map_err(|e| format!("cannot watch {}: {e}", ui_dir.display()))?;
        Ok(DevMode {
            ui_changed,
            status_changed,
            status_file,
            overlay: RefCell::new(String::new()),
            overlay_due: Cell::new(false),
            _watch: watch,
        })
    }

    /// Acts on what changed since the last call: reloads the page, and shows, updates or
    /// removes the overlay. The embedder loop calls it each time it wakes.
    pub fn tick(&self, webview: &WebView, state: &ViewState) {
        if self.ui_changed.swap(false, Ordering::SeqCst) {
            tracing::info!("ui/ changed: reloading the page");
            state.loaded.set(false);
            webview.reload();
            self.overlay_due.set(!self.overlay.borrow().is_empty());
        }
        if self.status_changed.swap(false, Ordering::SeqCst) {
            let text = self.status_file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()).unwrap_or_default();
            *self.overlay.borrow_mut() = text;
            self.overlay_due.set(true);
        }
        if self.overlay_due.get() && state.loaded.get() {
            self.overlay_due.set(false);
            webview.evaluate_javascript(overlay_script(&self.overlay.borrow()), |_| {});
        }
    }
}

/// The script that shows `text` over the page (or removes the overlay when `text` is empty).
fn overlay_script(text: &str) -> String {
    let text = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into());
    format!(
        r#"(() => {{
  const text = {text};
  let overlay = document.getElementById("{OVERLAY_ID}");
  if (!text) {{ if (overlay) overlay.remove(); return; }}
  if (!overlay) {{
    overlay = document.createElement("pre");
    overlay.id = "{OVERLAY_ID}";
    overlay.style.cssText = "position:fixed;inset:0;margin:0;padding:16px;z-index:2147483647;overflow:auto;" +
      "background:rgba(30,0,0,.94);color:#fdd;font:13px/1.45 monospace;white-space:pre-wrap";
    document.documentElement.appendChild(overlay);
  }}
  overlay.textContent = text;
}})()"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_overlay_text_is_a_javascript_string_literal() {
        let script = super::overlay_script("error: \"x\"\n</script>\u{2028}");
        assert!(script.contains(r#"const text = "error: \"x\"\n</script>"#), "{script}");
    }
}
