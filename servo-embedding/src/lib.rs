//! Embeds Servo for one WEFT app session and gives its page `weft.channel`.
//!
//! - [`bridge`]: the session's UI endpoint (the shared `weft_ipc::ui_client` state machine).
//! - [`page_channel`] and [`documents`]: `weft.channel` on Servo's page channel embedder API
//!   (WEFT's patched `servo-script`): which documents get it, and which one is current.
//! - [`policy`]: what the app's webview may load or navigate to (only its own `ui/`).
//! - [`view`]: Servo, the app's webview, and its delegate.
//! - [`headless`]: rendering with no display (software GL), settling and screenshots.
//! - [`window`]: the desktop window (winit), input forwarding, close → `app-closed`.
//! - [`dev_mode`]: development only — page reloads on `ui/` edits, `weft dev`'s error overlay.
//! - [`devtools`]: development only — Servo's devtools server for Firefox's remote debugging.
//! - [`bench_page`]: benchmarks only — a local page with no session, binding or policy.
//! - [`probe`]: benchmarks only — the shell's share of each lone round trip (`--probe`).
//!
//! **Architecture invariant:** the page reaches the session only through the `weft.channel`
//! that Servo's page channel gives the top-level document of the app's `ui/`, the one document
//! [`page_channel`] offers it to (decided in Rust). The shell holds no network socket and no
//! token. Everything the page sends is re-checked by the broker in `weft-appd`.

pub mod bench_page;
pub mod bridge;
pub mod dev_mode;
pub mod devtools;
pub mod documents;
pub mod eval_result;
pub mod headless;
pub mod page_channel;
pub mod policy;
pub mod probe;
pub mod view;
pub mod window;

/// The test driver's source (`weft_test_driver`, for `scripts/wpt`), with its placeholders.
pub const TEST_DRIVER_TEMPLATE: &str = include_str!("../../resources/weft-test-driver.js");

/// The test driver for one session (only injected when the shell runs with `--test-driver`),
/// with the app UI's base URL filled in.
pub fn test_driver_source(app_base: &str) -> String {
    // Inserted into a JS string literal: JSON-escaped.
    let quoted = serde_json::to_string(app_base).unwrap_or_else(|_| "\"\"".into());
    TEST_DRIVER_TEMPLATE.replace("\"__WEFT_APP_BASE__\"", &quoted)
}

/// If this process was re-executed by Servo as a content process (`--content-process TOKEN`),
/// runs it and returns `true`; the caller must then exit. Call it first thing in `main`.
pub fn run_content_process_if_asked() -> bool {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("--content-process") {
        return false;
    }
    match args.next() {
        Some(token) => servo::run_content_process(token),
        None => eprintln!("--content-process needs its token"),
    }
    true
}

/// Installs the TLS crypto provider Servo's networking expects (once per process).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_test_drivers_placeholder_is_filled_and_escaped() {
        let js = super::test_driver_source("file:///a\"b/ui/");
        assert!(js.contains(r#"const APP_BASE = "file:///a\"b/ui/";"#), "{js}");
        assert!(!js.contains("__WEFT_"));
    }
}
