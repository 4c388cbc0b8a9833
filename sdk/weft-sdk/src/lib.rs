//! The Rust SDK for a WEFT app's core.
//!
//! An app's core is a struct holding its state, and an [`App`] implementation saying what each
//! UI event does to it. The message types come from the app's manifest:
//!
//! ```ignore
//! weft_sdk::messages!(); // ui_events::*, state_updates::*, UiEvent — from ../weft.toml
//!
//! #[derive(Default)]
//! struct Counter { count: i64 }
//!
//! impl weft_sdk::App for Counter {
//!     type Event = UiEvent;
//!
//!     fn init(&mut self, updates: &mut weft_sdk::Updates) -> weft_sdk::Result {
//!         updates.send_keyed(&state_updates::Count { value: self.count }, "count")
//!     }
//!
//!     fn handle(&mut self, event: UiEvent, updates: &mut weft_sdk::Updates) -> weft_sdk::Result {
//!         match event {
//!             UiEvent::Increment(e) => self.count += e.by.unwrap_or(1),
//!             UiEvent::Reset(_) => self.count = 0,
//!         }
//!         updates.send_keyed(&state_updates::Count { value: self.count }, "count")
//!     }
//! }
//!
//! weft_sdk::export!(Counter);
//! ```
//!
//! - **UI events arrive typed.** [`messages!`] generates `UiEvent` from the manifest: one
//!   variant per declared type, with its payload deserialised. The broker has already checked
//!   the payload against the manifest's schema.
//! - **State updates leave typed.** [`Updates::send`] takes a generated state update type.
//!   [`Updates::send_keyed`] also takes a coalescing key, and only for a type the manifest
//!   declares `coalescible`; that is checked when the core compiles.
//! - **Errors are values.** Each method returns [`Result`]. An `Err` is the page's `error`
//!   event for that UI event, and the session goes on.
//! - **The WIT world stays inside.** [`export!`] exports the app as the core component.
//!   The state lives in the SDK between calls.

use std::fmt;

pub use weft_sdk_macros::messages;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "core",
        path: "../../appd/core-host/wit",
        pub_export_macro: true,
        export_macro_name: "export_core",
        default_bindings_module: "weft_sdk::bindings",
    });
}

mod runtime;

#[doc(hidden)]
pub use runtime::Exported;

/// What a core's methods return: `Ok`, or an [`Error`] the page hears about.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

/// An error of the core, as text: for a UI event, the page's `error` event says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error that says `message`.
    pub fn msg(message: impl fmt::Display) -> Error {
        Error(message.to_string())
    }

    /// A UI event whose payload did not deserialise (the manifest's schema and the core's
    /// types disagree: `weft check` says how).
    pub fn payload(message_type: &str, error: &dyn fmt::Display) -> Error {
        Error(format!("the payload of UI event `{message_type}` does not fit its type: {error}"))
    }

    /// A UI event type the core does not know.
    pub fn unknown_event(message_type: &str) -> Error {
        Error(format!("unknown UI event type `{message_type}`"))
    }

    /// The text.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error(message.to_owned())
    }
}

/// The app's UI events, as [`messages!`] generates them.
pub trait UiEvent: Sized {
    /// The UI event types the manifest declares.
    const MESSAGE_TYPES: &'static [&'static str];

    /// The event of `message_type` with `payload` (JSON text).
    fn from_message(message_type: &str, payload: &str) -> Result<Self>;
}

/// A state update type of the app, as [`messages!`] generates it.
pub trait StateUpdate: serde::Serialize {
    /// Its message type in the manifest.
    const MESSAGE_TYPE: &'static str;
}

/// A state update type the manifest declares `coalescible`: it may carry a coalescing key.
pub trait Coalescible: StateUpdate {}

/// Where a core sends its state updates (and log lines) during a call.
pub struct Updates {
    _private: (),
}

impl Updates {
    fn new() -> Updates {
        Updates { _private: () }
    }

    /// Sends `update` to the page.
    pub fn send<U: StateUpdate>(&mut self, update: &U) -> Result {
        emit(U::MESSAGE_TYPE, update, None)
    }

    /// Sends `update` with a coalescing key: a newer update with the same type and key replaces
    /// it while it waits for the page.
    pub fn send_keyed<U: Coalescible>(&mut self, update: &U, key: &str) -> Result {
        emit(U::MESSAGE_TYPE, update, Some(key))
    }

    /// Writes a line to the app's log.
    pub fn log(&mut self, message: &str) {
        bindings::weft::app::host::log(message);
    }
}

fn emit<U: serde::Serialize>(message_type: &str, update: &U, key: Option<&str>) -> Result {
    let payload = serde_json::to_string(update).map_err(|e| Error(format!("state update `{message_type}`: {e}")))?;
    bindings::weft::app::host::emit_state(message_type, &payload, key).map_err(|e| {
        use bindings::weft::app::host::EmitError;
        Error(match e {
            EmitError::InvalidJson(detail) => format!("state update `{message_type}`: invalid JSON: {detail}"),
            EmitError::Backpressure => {
                format!("state update `{message_type}`: the page is not keeping up (backpressure)")
            }
            EmitError::SessionClosed => format!("state update `{message_type}`: the session is closed"),
        })
    })
}

/// An app's core: its state (the struct) and what UI events do to it.
pub trait App: Default + 'static {
    /// The app's UI events: the `UiEvent` that [`messages!`] generates.
    type Event: UiEvent;

    /// The session starts (the struct is `Default::default()`): send the initial state.
    fn init(&mut self, updates: &mut Updates) -> Result {
        let _ = updates;
        Ok(())
    }

    /// A UI event arrived.
    fn handle(&mut self, event: Self::Event, updates: &mut Updates) -> Result;

    /// A new page attached (a reload): send the state it needs to show.
    fn page_attached(&mut self, updates: &mut Updates) -> Result {
        let _ = updates;
        Ok(())
    }
}

/// Exports `$app` (an [`App`]) as the app's core component. Once per core crate.
#[macro_export]
macro_rules! export {
    ($app:ty) => {
        type __WeftExportedCore = $crate::Exported<$app>;
        $crate::bindings::export_core!(__WeftExportedCore with_types_in $crate::bindings);
    };
}
