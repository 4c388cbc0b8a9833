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

/// Servo's preferences for an app's page. Servo's TLS setup reads the system's CA certificates
/// even though an app's page never reaches the network (the load policy allows only its own
/// `ui/`); the confined shell cannot read them (`weft-shell`'s `confine`), so Servo uses the
/// root certificates it carries instead of failing to start.
fn preferences() -> servo::Preferences {
    servo::Preferences { network_use_webpki_roots: true, ..servo::Preferences::default() }
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

/// What `weft dev` turns on (all off otherwise).
#[derive(Clone, Debug, Default)]
pub struct DevOptions {
    /// Reload the page when a file under `ui/` changes ([`crate::dev_mode`]).
    pub watch_ui: bool,
    /// Show the errors `weft dev` writes to this file over the page ([`crate::dev_mode`]).
    pub status_file: Option<std::path::PathBuf>,
    /// Servo's devtools server on this loopback port ([`crate::devtools`]).
    pub devtools_port: Option<u16>,
}

/// What the webview shows.
pub struct PageSetup {
    /// What the webview may load.
    pub policy: UiPolicy,
    /// The first document (`ui/index.html`).
    pub entry: Url,
    /// Development only (`weft dev`): page reloads, the error overlay, devtools.
    pub dev: DevOptions,
}

/// A running app view.
pub struct AppView {
    /// The engine.
    pub servo: Servo,
    /// The app's webview.
    pub webview: WebView,
    /// What the delegate saw.
    pub state: Rc<ViewState>,
    /// Development only: reloads and the error overlay.
    dev_mode: Option<crate::dev_mode::DevMode>,
    // Dropping the manager destroys it inside Servo: keep it as long as the view.
    _user_content: Rc<UserContentManager>,
}

impl AppView {
    /// Builds Servo and the app's webview on `rendering_context`, loading `page.entry`, and
    /// connects its `weft.channel` to the session by installing the page channel handler.
    /// `on_frame` runs when Servo has a new frame (headless: paint it; a window: ask for a
    /// redraw); `scale` is the HiDPI factor. Fails if the handler is already installed in this
    /// process, or dev mode's files cannot be watched.
    pub fn new(
        rendering_context: Rc<dyn RenderingContext>,
        waker: Box<dyn EventLoopWaker>,
        page: PageSetup,
        bridge: Bridge,
        on_frame: Box<dyn Fn(&WebView)>,
        scale: f32,
    ) -> Result<AppView, String> {
        let PageSetup { policy, entry, dev } = page;
        let dev_mode = if dev.watch_ui || dev.status_file.is_some() {
            let ui_dir =
                policy.base().to_file_path().map_err(|()| format!("{} is not a local directory", policy.base()))?;
            Some(crate::dev_mode::DevMode::start(&ui_dir, dev.status_file.clone(), waker.clone_box())?)
        } else {
            None
        };
        let devtools_port = dev.devtools_port;
        let channels = AppPageChannels::install(bridge.clone(), policy.clone())?;
        let builder = ServoBuilder::default().event_loop_waker(waker);
        let preferences = match devtools_port {
            Some(port) => crate::devtools::with_server(preferences(), port),
            None => preferences(),
        };
        let servo = builder.preferences(preferences).build();
        if devtools_port.is_some() {
            servo.set_delegate(Rc::new(crate::devtools::DevtoolsDelegate));
        }
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
        Ok(AppView { servo, webview, state, dev_mode, _user_content: user_content })
    }

    /// Dev mode: reloads the page if a file under `ui/` changed, and shows or removes the
    /// error overlay ([`crate::dev_mode::DevMode::tick`]). The embedder loop calls it each
    /// time it wakes; without dev mode it does nothing.
    pub fn dev_tick(&self) {
        if let Some(dev_mode) = &self.dev_mode {
            dev_mode.tick(&self.webview, &self.state);
        }
    }
}
