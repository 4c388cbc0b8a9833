//! Core of the `todo` example app: owns a list of items (`id`, `text`, `done`).
//!
//! UI events (payloads already checked by the broker against `weft.toml`):
//! - `add` `{"text": "..."}` appends an item with the next id (ids start at 1, never reused);
//! - `toggle` `{"id": N}` flips `done`; `remove` `{"id": N}` deletes the item;
//! - `clear-done` `{}` deletes every done item.
//!
//! State updates: `item` `{"id": N, "item": {"text", "done"} | null}` keyed by the id (so a
//! page that falls behind sees only each item's latest state), and `summary`
//! `{"total", "done", "open"}` keyed `summary`. `init` sends the empty summary. An event about
//! an id that does not exist, or an `add` beyond [`model::MAX_ITEMS`], returns `Err`: the page
//! sees it as an `error` event and the list is unchanged.

weft_sdk::messages!();

mod model;

use model::{Change, TodoList};
use std::num::NonZeroU64;
use weft_sdk::{App, Result, Updates};

/// The app's state.
#[derive(Default)]
struct Todo {
    list: TodoList,
}

impl Todo {
    /// Sends the `item` update of each changed item, then the summary.
    fn publish(&self, changed: &[Change], updates: &mut Updates) -> Result {
        for change in changed {
            let id = NonZeroU64::new(change.id).ok_or("item ids start at 1")?;
            let item = self
                .list
                .get(change.id)
                .map(|item| state_updates::ItemItem { text: item.text.clone(), done: item.done });
            updates.send_keyed(&state_updates::Item { id, item }, &change.id.to_string())?;
        }
        let summary = self.list.summary();
        let summary = state_updates::Summary {
            total: summary.total as u64,
            done: summary.done as u64,
            open: summary.open as u64,
        };
        updates.send_keyed(&summary, "summary")
    }
}

impl App for Todo {
    type Event = UiEvent;

    fn init(&mut self, updates: &mut Updates) -> Result {
        self.publish(&[], updates)
    }

    fn handle(&mut self, event: UiEvent, updates: &mut Updates) -> Result {
        let changed = match event {
            UiEvent::Add(e) => vec![self.list.add(&e.text)?],
            UiEvent::Toggle(e) => vec![self.list.toggle(e.id.get())?],
            UiEvent::Remove(e) => vec![self.list.remove(e.id.get())?],
            UiEvent::ClearDone(_) => self.list.clear_done(),
        };
        self.publish(&changed, updates)
    }

    /// A reloaded page has nothing: publish every item and the summary again.
    fn page_attached(&mut self, updates: &mut Updates) -> Result {
        self.publish(&self.list.all(), updates)
    }
}

weft_sdk::export!(Todo);
