//! One app's Servo instance and webview: the page channel, the load policy, and a delegate that routes Servo's callbacks and does nothing else. Shared by every window kind.

use crate::bridge::Bridge;
use crate::page_channel::AppPageChannels;
use crate::policy::UiPolicy;
use servo::{
    CreateNewWebViewRequest, EventLoopWaker, LoadStatus, NavigationRequest, RenderingContext, Servo, ServoBuilder,
    UserContentManager, UserScript, WebResourceLoad, WebResourceResponse, WebView, WebViewBuilder, WebViewDelegate,
};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use url::Url;

/// What the delegate has seen, for the embedder's loop.
#[derive(Default)]
pub struct ViewState {
    /// The top-level document finished loading.
    pub loaded: Cell<bool>,
    /// A frame was painted since the loop last looked.
    pub new_frame: Cell<bool>,
    /// The content crashed.
    pub crashed: Cell<bool>,
    /// Console messages not yet taken by the embedder loop (bounded).
    pub console: RefCell<Vec<String>>,
    /// The page's title.
    pub title: RefCell<Option<String>>,
}

/// Console messages kept for the embedder loop before the oldest are dropped.
const MAX_CONSOLE: usize = 10_000;

struct Delegate {
    policy: UiPolicy,
    state: Rc<ViewState>,
    on_frame: Box<dyn Fn(&WebView)>,
    /// Test mode only (`--test-driver`): the session, for the test driver's requests.
    test_driver: Option<Bridge>,
}

/// The console line prefix of a test driver request (`resources/weft-test-driver.js`).
const TEST_DRIVER_PREFIX: &str = "WEFT-TEST-DRIVER ";

/// One test driver request, as the page logs it.
#[derive(serde::Deserialize)]
struct TestDriverRequest {
    id: u64,
    action: crate::bridge::TestDriverAction,
}

impl Delegate {
    /// A test driver request logged by the page (test mode only): carried out, then answered
    /// in the page. Without the driver, such a line is only a console line.
    fn on_test_driver_line(&self, webview: &WebView, line: &str) {
        let Some(bridge) = &self.test_driver else {
            return;
        };
        let Ok(request) = serde_json::from_str::<TestDriverRequest>(line) else {
            tracing::warn!("the test driver logged a request that does not parse");
            return;
        };
        let answer = match bridge.test_driver(request.action) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("refused: {e}"),
        };
        let answer = serde_json::to_string(&answer).unwrap_or_else(|_| "\"refused\"".into());
        webview.evaluate_javascript(format!("window.__weftTestDriverAnswer({}, {answer})", request.id), |_| {});
    }
}

impl WebViewDelegate for Delegate {
    fn notify_new_frame_ready(&self, webview: WebView) {
        (self.on_frame)(&webview);
        self.state.new_frame.set(true);
    }

    fn notify_page_title_changed(&self, _webview: WebView, title: Option<String>) {
        *self.state.title.borrow_mut() = title;
    }

    fn notify_load_status_changed(&self, _webview: WebView, status: LoadStatus) {
        if status == LoadStatus::Complete {
            self.state.loaded.set(true);
        }
    }

    fn notify_crashed(&self, _webview: WebView, reason: String, _backtrace: Option<String>) {
        tracing::error!(%reason, "the page crashed");
        self.state.crashed.set(true);
    }

    fn request_navigation(&self, _webview: WebView, request: NavigationRequest) {
        if self.policy.may_navigate(&request.url) {
            request.allow();
        } else {
            tracing::warn!(url = %request.url, "refused a navigation outside the app's ui/");
            request.deny();
        }
    }

    fn request_create_new(&self, _parent: WebView, _request: CreateNewWebViewRequest) {
        // Dropping the request refuses the popup.
        tracing::warn!("refused a popup");
    }

    fn load_web_resource(&self, _webview: WebView, load: WebResourceLoad) {
        let url = load.request.url.clone();
        if !self.policy.may_load(&url) {
            tracing::warn!(url = %url, "refused a load outside the app's ui/");
            load.intercept(WebResourceResponse::new(url).status_code(http::StatusCode::FORBIDDEN)).cancel();
        }
        // Dropping `load` lets an allowed load proceed untouched.
    }

    fn show_console_message(&self, webview: WebView, level: servo::ConsoleLogLevel, message: String) {
        if let Some(line) = message.strip_prefix(TEST_DRIVER_PREFIX) {
            self.on_test_driver_line(&webview, line);
        }
        // The page's errors (an uncaught exception arrives as "Error at file:line:col …") and
        // warnings are shown by default (`weft_ipc::log_filter`); its other lines on request.
        match level {
            servo::ConsoleLogLevel::Error | servo::ConsoleLogLevel::Warn => {
                tracing::warn!(target: "weft_page", ?level, "{message}")
            }
            _ => tracing::info!(target: "weft_page", ?level, "{message}"),
        }
        let mut console = self.state.console.borrow_mut();
        if console.len() < MAX_CONSOLE {
            console.push(message);
        }
    }
}

/// What `weft dev` turns on in a window (the headless options carry the same two).
#[derive(Clone, Copy, Debug, Default)]
pub struct DevOptions {
    /// Reload the page when a file under `ui/` changes ([`PageSetup::watch_ui`]).
    pub watch_ui: bool,
    /// Servo's devtools server on this loopback port ([`PageSetup::devtools_port`]).
    pub devtools_port: Option<u16>,
}

/// What the webview shows.
pub struct PageSetup {
    /// What the webview may load.
    pub policy: UiPolicy,
    /// The first document (`ui/index.html`).
    pub entry: Url,
    /// Development only (`weft dev`, the shell's `--watch-ui`): reload the page when a file
    /// under `ui/` changes. The session is kept; the core is told a new page attached.
    pub watch_ui: bool,
    /// Development only (`weft dev --devtools`): Servo's devtools server on this loopback port
    /// ([`crate::devtools`]).
    pub devtools_port: Option<u16>,
}

/// A running app view.
pub struct AppView {
    /// The engine.
    pub servo: Servo,
    /// The app's webview.
    pub webview: WebView,
    /// What the delegate saw.
    pub state: Rc<ViewState>,
    /// Set by the `ui/` watch (dev mode) when a file changed; taken by
    /// [`AppView::reload_if_ui_changed`].
    ui_changed: Option<Arc<AtomicBool>>,
    _ui_watch: Option<weft_watch::Watch>,
    // Dropping the manager destroys it inside Servo: keep it as long as the view.
    _user_content: Rc<UserContentManager>,
}

impl AppView {
    /// Builds Servo and the app's webview on `rendering_context`, loading `page.entry`, and
    /// connects its `weft.channel` to the session by installing the page channel handler.
    /// `on_frame` runs when Servo has a new frame (headless: paint it; a window: ask for a
    /// redraw); `scale` is the HiDPI factor. Fails if the handler is already installed in this
    /// process, or `page.watch_ui` and `ui/` cannot be watched.
    pub fn new(
        rendering_context: Rc<dyn RenderingContext>,
        waker: Box<dyn EventLoopWaker>,
        page: PageSetup,
        bridge: Bridge,
        on_frame: Box<dyn Fn(&WebView)>,
        scale: f32,
    ) -> Result<AppView, String> {
        let PageSetup { policy, entry, watch_ui, devtools_port } = page;
        let (ui_changed, ui_watch) = if watch_ui { watch(&policy, waker.clone_box())? } else { (None, None) };
        let channels = AppPageChannels::install(bridge.clone(), policy.clone())?;
        let builder = ServoBuilder::default().event_loop_waker(waker);
        let servo = match devtools_port {
            Some(port) => {
                let servo = builder.preferences(crate::devtools::preferences(port)).build();
                servo.set_delegate(Rc::new(crate::devtools::DevtoolsDelegate));
                servo
            }
            None => builder.build(),
        };
        let user_content = Rc::new(UserContentManager::new(&servo));
        if bridge.test_driver_enabled() {
            let driver = crate::test_driver_source(policy.base().as_str());
            user_content.add_script(Rc::new(UserScript::new(driver, None)));
        }
        let state = Rc::new(ViewState::default());
        let test_driver = bridge.test_driver_enabled().then(|| bridge.clone());
        let delegate = Rc::new(Delegate { policy, state: state.clone(), on_frame, test_driver });
        let webview = WebViewBuilder::new(&servo, rendering_context)
            .user_content_manager(user_content.clone())
            .hidpi_scale_factor(euclid::Scale::new(scale))
            .url(entry)
            .delegate(delegate)
            .build();
        channels.set_webview(webview.id());
        Ok(AppView { servo, webview, state, ui_changed, _ui_watch: ui_watch, _user_content: user_content })
    }

    /// Dev mode: reloads the page if a file under `ui/` changed since the last call (changes
    /// that arrive together make one reload). The embedder loop calls it each time it wakes.
    pub fn reload_if_ui_changed(&self) {
        if self.ui_changed.as_ref().is_some_and(|changed| changed.swap(false, Ordering::SeqCst)) {
            tracing::info!("ui/ changed: reloading the page");
            self.webview.reload();
        }
    }
}

/// Watches the UI's directory: each change sets the flag and wakes the embedder loop.
fn watch(
    policy: &UiPolicy,
    waker: Box<dyn EventLoopWaker>,
) -> Result<(Option<Arc<AtomicBool>>, Option<weft_watch::Watch>), String> {
    let dir = policy.base().to_file_path().map_err(|()| format!("{} is not a local directory", policy.base()))?;
    let changed = Arc::new(AtomicBool::new(false));
    let flag = changed.clone();
    let watch = weft_watch::Watch::start(std::slice::from_ref(&dir), move |path| {
        tracing::debug!(path = %path.display(), "a file of the UI changed");
        flag.store(true, Ordering::SeqCst);
        waker.wake();
    })
    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    Ok((Some(changed), Some(watch)))
}
