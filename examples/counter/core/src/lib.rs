//! Core of the `counter` example app: keeps one `i64` count.
//!
//! `init` sends state `count` `{"value":0}`. UI events: `increment` `{"by": <integer>}` (`by`
//! optional, default 1) adds to the count; `reset` `{}` sets it to 0. After each, and for a
//! reloaded page, the core sends `count` `{"value":N}` with coalescing key `count` (only the
//! latest value matters to the page). An increment that would overflow is an error.

weft_sdk::messages!();

use weft_sdk::{App, Result, Updates};

/// The app's state.
#[derive(Default)]
struct Counter {
    count: i64,
}

impl Counter {
    /// Sends the count to the page, keyed so that only the newest value is kept.
    fn send_count(&self, updates: &mut Updates) -> Result {
        updates.send_keyed(&state_updates::Count { value: self.count }, "count")
    }
}

impl App for Counter {
    type Event = UiEvent;

    fn init(&mut self, updates: &mut Updates) -> Result {
        self.send_count(updates)
    }

    fn handle(&mut self, event: UiEvent, updates: &mut Updates) -> Result {
        match event {
            UiEvent::Increment(e) => {
                let by = e.by.unwrap_or(1);
                self.count = self.count.checked_add(by).ok_or("count would overflow")?;
            }
            UiEvent::Reset(_) => self.count = 0,
        }
        self.send_count(updates)
    }

    /// A reloaded page shows the count again.
    fn page_attached(&mut self, updates: &mut Updates) -> Result {
        self.send_count(updates)
    }
}

weft_sdk::export!(Counter);
