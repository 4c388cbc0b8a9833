//! The core of `__WEFT_APP_NAME__`: counts the page's pings and answers each with `pongs`.
//!
//! The message types (`UiEvent`, `state_updates::*`) are generated from ../weft.toml when this
//! crate compiles: change a schema there and the compiler shows what to change here.

weft_sdk::messages!();

use weft_sdk::{App, Result, Updates};

/// The app's state.
#[derive(Default)]
struct Core {
    pongs: i64,
}

impl Core {
    /// Sends the number of pongs to the page (keyed: only the newest matters).
    fn send_pongs(&self, updates: &mut Updates) -> Result {
        updates.send_keyed(&state_updates::Pongs { count: self.pongs }, "pongs")
    }
}

impl App for Core {
    type Event = UiEvent;

    fn init(&mut self, updates: &mut Updates) -> Result {
        self.send_pongs(updates)
    }

    fn handle(&mut self, event: UiEvent, updates: &mut Updates) -> Result {
        match event {
            UiEvent::Ping(_) => self.pongs += 1,
        }
        self.send_pongs(updates)
    }

    /// A reloaded page gets the current state again.
    fn page_attached(&mut self, updates: &mut Updates) -> Result {
        self.send_pongs(updates)
    }
}

weft_sdk::export!(Core);
