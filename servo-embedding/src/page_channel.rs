//! The page's `weft.channel` on Servo's page channel embedder API (WEFT's Servo patch series,
//! `patches/servo-script-0.7.0`): no user script, socket or token. Servo asks this handler, in
//! Rust, whether a document gets the channel; the one that does calls the session's
//! [`Bridge`] directly from its script thread, and the bridge delivers to it from the
//! broker's reader thread.

use crate::bridge::Bridge;
use crate::documents::Generation;
use crate::policy::UiPolicy;
use script::page_channel::{
    PageChannelAttachment, PageChannelEndpoint, PageChannelError, PageChannelHandler, PageChannelRequest,
    PageChannelSender,
};
use std::fmt;
use std::sync::OnceLock;

/// Decides which documents get `weft.channel` and attaches them to the session.
pub struct AppPageChannels {
    bridge: Bridge,
    policy: UiPolicy,
    /// The app's webview, once built; documents of any other webview get nothing.
    webview: OnceLock<servo::WebViewId>,
}

impl AppPageChannels {
    /// Installs the process's handler for the app's session (once per process: Servo keeps
    /// it for the process's life). Servo asks it from its script thread; call it before the
    /// webview is built.
    pub fn install(bridge: Bridge, policy: UiPolicy) -> Result<&'static AppPageChannels, String> {
        let channels: &'static AppPageChannels =
            Box::leak(Box::new(AppPageChannels { bridge, policy, webview: OnceLock::new() }));
        script::page_channel::set_page_channel_handler(Box::new(Handler(channels)))
            .map_err(|_| "the page channel handler is already installed in this process".to_string())?;
        Ok(channels)
    }

    /// The app's webview: from now on, only its documents get a channel.
    pub fn set_webview(&self, webview: servo::WebViewId) {
        let _ = self.webview.set(webview);
    }

    /// Whether the document described by `request` gets `weft.channel`: the top-level document
    /// of the app's webview, loaded from a file inside the app's `ui/`. Not an iframe, worker
    /// (workers never ask), popup, `about:`/`data:`/`blob:` document or other origin.
    fn offers(&self, request: &PageChannelRequest) -> bool {
        let url = request.url.as_url();
        let in_webview = self.webview.get().is_none_or(|id| *id == request.webview_id);
        let offered = request.top_level && in_webview && self.policy.is_inside_ui(url);
        tracing::debug!(url = %url, top_level = request.top_level, offered, "page channel asked");
        offered
    }
}

struct Handler(&'static AppPageChannels);

impl PageChannelHandler for Handler {
    fn offers(&self, request: &PageChannelRequest) -> bool {
        self.0.offers(request)
    }

    fn attach(&self, request: &PageChannelRequest, page: PageChannelSender) -> Option<PageChannelAttachment> {
        if !self.0.offers(request) {
            return None;
        }
        let bridge = self.0.bridge.clone();
        let (session_id, max_message_bytes) = bridge.channel_facts();
        let generation = bridge.attach_document(page);
        tracing::debug!(generation, url = %request.url.as_url(), "the app's document attached");
        Some(PageChannelAttachment {
            endpoint: Box::new(DocumentEndpoint { bridge, generation }),
            session_id,
            max_message_bytes,
        })
    }
}

/// One document's end, called on its script thread.
struct DocumentEndpoint {
    bridge: Bridge,
    generation: Generation,
}

impl fmt::Debug for DocumentEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentEndpoint").field("generation", &self.generation).finish_non_exhaustive()
    }
}

impl PageChannelEndpoint for DocumentEndpoint {
    fn send(&mut self, id: u64, message_type: String, payload: String) -> Result<(), PageChannelError> {
        self.bridge.document_send(self.generation, id, message_type, payload)
    }

    fn flush(&mut self) {
        self.bridge.document_flush();
    }

    fn consumed(&mut self, messages: u32) {
        self.bridge.document_consumed(self.generation, messages);
    }

    fn desired_size(&self) -> i64 {
        self.bridge.desired_size()
    }

    fn detached(&mut self) {
        self.bridge.detach_document(self.generation);
    }
}
