//! Embeds Servo for one WEFT app session and gives its page `weft.channel`.
//!
//! - [`bridge`]: the session's UI endpoint (the shared `weft_ipc::ui_client` state machine)
//!   and the page-facing event log that the binding reads.
//! - [`page_channel`] and [`documents`]: `weft.channel` on Servo's page channel embedder API
//!   (WEFT's patched `servo-script`): which documents get it, and which one is current.
//! - [`socket`]: the earlier carrier's transport (`--channel socket`), a WebSocket server on
//!   127.0.0.1 gated by the token; also the test driver's.
//! - [`policy`]: what the app's webview may load or navigate to (only its own `ui/`).
//! - [`view`]: Servo, the app's webview, and its delegate.
//! - [`headless`]: rendering with no display (software GL), settling and screenshots.
//! - [`window`]: the desktop window (winit), input forwarding, close → `app-closed`.
//! - [`bench_page`]: benchmarks only — a local page with no session, binding or policy.
//! - [`probe`]: benchmarks only — the shell's share of each lone round trip (`--probe`).
//!
//! **Architecture invariant:** the page reaches the session only through the channel its
//! carrier gives the top-level document of the app's `ui/`: on the native carrier, the
//! document [`page_channel`] offers it to (decided in Rust); on the socket carrier, [`socket`]
//! with the per-session token that the binding (in `resources/weft-channel.js`) holds in a
//! closure. Everything the page sends is re-checked by the broker in `weft-appd`.

pub mod bench_page;
pub mod bridge;
pub mod documents;
pub mod headless;
pub mod page_channel;
pub mod policy;
pub mod probe;
pub mod socket;
pub mod view;
pub mod window;

/// The binding's source, with its placeholders.
pub const BINDING_TEMPLATE: &str = include_str!("../../resources/weft-channel.js");

/// The test driver's source (`weft_test_driver`, for `scripts/wpt`), with its placeholders.
pub const TEST_DRIVER_TEMPLATE: &str = include_str!("../../resources/weft-test-driver.js");

/// The test driver for one session (only injected when the shell runs with `--test-driver`):
/// `socket_url` is [`socket::ChannelSocket::test_driver_url`] on the socket carrier (its port
/// is what hostile-page tests knock on), or empty.
pub fn test_driver_source(app_base: &str, socket_url: &str) -> String {
    fill(TEST_DRIVER_TEMPLATE, app_base, socket_url)
}

/// The binding for one session: the app UI's base URL and the channel's URL
/// ([`socket::ChannelSocket::channel_url`], which carries the token) filled in.
pub fn binding_source(app_base: &str, socket_url: &str) -> String {
    fill(BINDING_TEMPLATE, app_base, socket_url)
}

fn fill(template: &str, app_base: &str, socket_url: &str) -> String {
    // Both values are inserted into JS string literals: JSON-escape them.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    template.replace("\"__WEFT_APP_BASE__\"", &quote(app_base)).replace("\"__WEFT_SOCKET__\"", &quote(socket_url))
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
    fn binding_placeholders_are_filled_and_escaped() {
        let js = super::binding_source("file:///a\"b/ui/", "ws://127.0.0.1:1/channel/t0k");
        assert!(js.contains(r#"const APP_BASE = "file:///a\"b/ui/";"#), "{js}");
        assert!(js.contains(r#"const SOCKET_URL = "ws://127.0.0.1:1/channel/t0k";"#));
        assert!(!js.contains("__WEFT_"));
    }
}
