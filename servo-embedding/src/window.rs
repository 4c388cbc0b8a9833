//! The desktop window: winit (X11 or Wayland) with Servo rendering into it through
//! `WindowRenderingContext`. Mouse, wheel and keyboard go to the page; resizes and HiDPI
//! changes go to the webview; closing the window ends the session as `app-closed`.

use crate::bridge::Bridge;
use crate::policy::UiPolicy;
use crate::view::AppView;
use crate::view::PageSetup;
use servo::{
    DevicePoint, EventLoopWaker, InputEvent, Key, KeyState, KeyboardEvent, MouseButton, MouseButtonAction,
    MouseButtonEvent, MouseMoveEvent, NamedKey, RenderingContext, WheelDelta, WheelEvent, WheelMode,
    WindowRenderingContext,
};
use std::rc::Rc;
use std::time::{Duration, Instant};
use winit::application::ApplicationHandler;
use winit::event::{ElementState, MouseScrollDelta, WindowEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop, EventLoopProxy};
use winit::keyboard::{Key as WinitKey, NamedKey as WinitNamedKey};
use winit::raw_window_handle::{HasDisplayHandle, HasWindowHandle};
use winit::window::{Window, WindowId};

/// Wakes the winit loop for Servo.
#[derive(Clone)]
struct ProxyWaker(EventLoopProxy<()>);

impl EventLoopWaker for ProxyWaker {
    fn clone_box(&self) -> Box<dyn EventLoopWaker> {
        Box::new(self.clone())
    }

    fn wake(&self) {
        let _ = self.0.send_event(());
    }
}

struct Running {
    window: Rc<Window>,
    context: Rc<WindowRenderingContext>,
    view: AppView,
    cursor: DevicePoint,
}

struct App {
    ui_dir: std::path::PathBuf,
    title: String,
    bridge: Bridge,
    /// Development only: what `weft dev` turns on.
    dev: crate::view::DevOptions,
    waker: ProxyWaker,
    running: Option<Running>,
    error: Option<String>,
}

/// Connects to the display (X11 or Wayland): the shell does it before it confines itself,
/// since an X server is often reached on an abstract Unix socket, which the confined shell may
/// not connect to. Starts no thread.
pub fn open_display() -> Result<EventLoop<()>, String> {
    EventLoop::<()>::with_user_event().build().map_err(|e| format!("no display: {e}"))
}

/// Opens the app's window on `event_loop` ([`open_display`]) and runs until it is closed or the
/// session ends. `dev`: what `weft dev` turns on (nothing otherwise).
pub fn run(
    event_loop: EventLoop<()>,
    ui_dir: &std::path::Path,
    title: &str,
    bridge: Bridge,
    dev: crate::view::DevOptions,
) -> Result<Option<String>, String> {
    crate::install_crypto_provider();
    let waker = ProxyWaker(event_loop.create_proxy());
    let mut app = App {
        ui_dir: ui_dir.to_owned(),
        title: title.to_owned(),
        bridge: bridge.clone(),
        dev,
        waker,
        running: None,
        error: None,
    };
    event_loop.run_app(&mut app).map_err(|e| e.to_string())?;
    if let Some(e) = app.error {
        return Err(e);
    }
    // Let the close reach the broker before the process exits.
    let deadline = Instant::now() + Duration::from_secs(2);
    while bridge.ended().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(bridge.ended())
}

impl App {
    fn start(&mut self, event_loop: &ActiveEventLoop) -> Result<Running, String> {
        let attributes = Window::default_attributes()
            .with_title(self.title.clone())
            .with_inner_size(winit::dpi::LogicalSize::new(800.0, 600.0));
        let window = Rc::new(event_loop.create_window(attributes).map_err(|e| e.to_string())?);
        let display = event_loop.display_handle().map_err(|e| e.to_string())?;
        let handle = window.window_handle().map_err(|e| e.to_string())?;
        let context =
            Rc::new(WindowRenderingContext::new(display, handle, window.inner_size()).map_err(|e| format!("{e:?}"))?);
        context.make_current().map_err(|e| format!("{e:?}"))?;
        let policy = UiPolicy::new(&self.ui_dir)?;
        let entry = policy.base().join("index.html").map_err(|e| e.to_string())?;
        let redraw = window.clone();
        let view = AppView::new(
            context.clone() as Rc<dyn RenderingContext>,
            Box::new(self.waker.clone()),
            PageSetup { policy, entry, dev: self.dev.clone() },
            self.bridge.clone(),
            Box::new(move |_| redraw.request_redraw()),
            window.scale_factor() as f32,
        )?;
        Ok(Running { window, context, view, cursor: DevicePoint::new(0.0, 0.0) })
    }
}

impl ApplicationHandler<()> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.running.is_some() {
            return;
        }
        match self.start(event_loop) {
            Ok(running) => self.running = Some(running),
            Err(e) => {
                self.error = Some(e);
                event_loop.exit();
            }
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, _: ()) {
        if let Some(running) = &self.running {
            running.view.dev_tick();
            running.view.servo.spin_event_loop();
            if let Some(title) = running.view.state.title.borrow_mut().take() {
                running.window.set_title(&format!("{title} — {}", self.title));
            }
        }
        if self.bridge.ended().is_some() && self.running.as_ref().is_some_and(|r| r.view.state.crashed.get()) {
            event_loop.exit();
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        let Some(running) = self.running.as_mut() else { return };
        running.view.servo.spin_event_loop();
        let webview = &running.view.webview;
        match event {
            WindowEvent::CloseRequested => {
                self.bridge.close_app();
                event_loop.exit();
            }
            WindowEvent::RedrawRequested => {
                webview.paint();
                running.context.present();
            }
            WindowEvent::Resized(size) => {
                webview.resize(size);
                running.window.request_redraw();
            }
            WindowEvent::ScaleFactorChanged { scale_factor, .. } => {
                webview.set_hidpi_scale_factor(euclid::Scale::new(scale_factor as f32));
            }
            WindowEvent::CursorMoved { position, .. } => {
                running.cursor = DevicePoint::new(position.x as f32, position.y as f32);
                webview.notify_input_event(InputEvent::MouseMove(MouseMoveEvent::new(running.cursor.into())));
            }
            WindowEvent::MouseInput { state, button, .. } => {
                let button = match button {
                    winit::event::MouseButton::Left => MouseButton::Primary,
                    winit::event::MouseButton::Right => MouseButton::Secondary,
                    winit::event::MouseButton::Middle => MouseButton::Auxiliary,
                    winit::event::MouseButton::Back => MouseButton::Back,
                    winit::event::MouseButton::Forward => MouseButton::Forward,
                    winit::event::MouseButton::Other(n) => MouseButton::Other(n),
                };
                let action = match state {
                    ElementState::Pressed => MouseButtonAction::Down,
                    ElementState::Released => MouseButtonAction::Up,
                };
                webview.notify_input_event(InputEvent::MouseButton(MouseButtonEvent::new(
                    action,
                    button,
                    running.cursor.into(),
                )));
            }
            WindowEvent::MouseWheel { delta, .. } => {
                let (x, y, mode) = match delta {
                    MouseScrollDelta::LineDelta(dx, dy) => (dx as f64 * 76.0, dy as f64 * 76.0, WheelMode::DeltaLine),
                    MouseScrollDelta::PixelDelta(d) => (d.x, d.y, WheelMode::DeltaPixel),
                };
                let delta = WheelDelta { x: -x, y: -y, z: 0.0, mode };
                webview.notify_input_event(InputEvent::Wheel(WheelEvent::new(delta, running.cursor.into())));
            }
            WindowEvent::KeyboardInput { event, .. } => {
                let state = match event.state {
                    ElementState::Pressed => KeyState::Down,
                    ElementState::Released => KeyState::Up,
                };
                if let Some(key) = servo_key(&event.logical_key) {
                    webview.notify_input_event(InputEvent::Keyboard(KeyboardEvent::from_state_and_key(state, key)));
                }
            }
            _ => {}
        }
    }
}

/// The keys the page gets: characters and the common named keys.
fn servo_key(key: &WinitKey) -> Option<Key> {
    Some(match key {
        WinitKey::Character(c) => Key::Character(c.to_string()),
        WinitKey::Named(named) => Key::Named(match named {
            WinitNamedKey::Enter => NamedKey::Enter,
            WinitNamedKey::Tab => NamedKey::Tab,
            WinitNamedKey::Space => return Some(Key::Character(" ".into())),
            WinitNamedKey::Backspace => NamedKey::Backspace,
            WinitNamedKey::Delete => NamedKey::Delete,
            WinitNamedKey::Escape => NamedKey::Escape,
            WinitNamedKey::ArrowLeft => NamedKey::ArrowLeft,
            WinitNamedKey::ArrowRight => NamedKey::ArrowRight,
            WinitNamedKey::ArrowUp => NamedKey::ArrowUp,
            WinitNamedKey::ArrowDown => NamedKey::ArrowDown,
            WinitNamedKey::Home => NamedKey::Home,
            WinitNamedKey::End => NamedKey::End,
            WinitNamedKey::PageUp => NamedKey::PageUp,
            WinitNamedKey::PageDown => NamedKey::PageDown,
            WinitNamedKey::Shift => NamedKey::Shift,
            WinitNamedKey::Control => NamedKey::Control,
            WinitNamedKey::Alt => NamedKey::Alt,
            _ => return None,
        }),
        _ => return None,
    })
}
