//! Core of the `todo` example app: owns a list of items (`id`, `text`, `done`).
//!
//! UI events (payloads already checked by the broker against `weft.toml`):
//! - `add` `{"text": "..."}` appends an item with the next id (ids start at 1, never reused);
//! - `toggle` `{"id": N}` flips `done`; `remove` `{"id": N}` deletes the item;
//! - `clear-done` `{}` deletes every done item.
//!
//! State updates: `item` `{"id": N, "item": {"text", "done"} | null}` keyed by the id (so a
//! page that falls behind sees only each item's latest state), and `summary`
//! `{"total", "done", "open"}` keyed `summary`. `init` emits the empty summary. An event about
//! an id that does not exist, or an `add` beyond [`model::MAX_ITEMS`], returns `Err`: the page
//! sees it as an `error` event and the list is unchanged.

wit_bindgen::generate!({
    world: "core",
    path: "../../../appd/core-host/wit",
});

mod model;

use std::cell::RefCell;

use model::{Change, TodoList};
use serde_json::{json, Value};
use weft::app::host::emit_state;

thread_local! {
    static LIST: RefCell<TodoList> = RefCell::new(TodoList::default());
}

struct Todo;

/// Emits one state update, keyed.
fn emit(message_type: &str, payload: &Value, key: &str) -> Result<(), String> {
    emit_state(message_type, &payload.to_string(), Some(key)).map_err(|e| format!("emit-state {message_type}: {e:?}"))
}

/// Emits the `item` update of each changed item, then the summary.
fn publish(list: &TodoList, changed: &[Change]) -> Result<(), String> {
    for change in changed {
        let item = match list.get(change.id) {
            Some(item) => json!({ "text": item.text, "done": item.done }),
            None => Value::Null,
        };
        emit("item", &json!({ "id": change.id, "item": item }), &change.id.to_string())?;
    }
    let summary = list.summary();
    emit("summary", &json!({ "total": summary.total, "done": summary.done, "open": summary.open }), "summary")
}

/// Parses an event payload as a JSON object.
fn object(payload: &str) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("payload is not a JSON object".to_owned()),
        Err(e) => Err(format!("payload is not valid JSON: {e}")),
    }
}

/// The `id` field of an event payload.
fn id_of(fields: &serde_json::Map<String, Value>) -> Result<u64, String> {
    fields.get("id").and_then(Value::as_u64).ok_or_else(|| "`id` is not a positive integer".to_owned())
}

impl Guest for Todo {
    fn init() -> Result<(), String> {
        LIST.with(|list| {
            *list.borrow_mut() = TodoList::default();
            publish(&list.borrow(), &[])
        })
    }

    /// A reloaded page has nothing: publish every item and the summary again.
    fn page_attached() -> Result<(), String> {
        LIST.with(|list| {
            let list = list.borrow();
            publish(&list, &list.all())
        })
    }

    fn handle_event(message_type: String, payload: String) -> Result<(), String> {
        let fields = object(&payload)?;
        LIST.with(|list| {
            let mut list = list.borrow_mut();
            let changed = match message_type.as_str() {
                "add" => {
                    let text = fields.get("text").and_then(Value::as_str).ok_or("`text` is not a string")?;
                    vec![list.add(text)?]
                }
                "toggle" => vec![list.toggle(id_of(&fields)?)?],
                "remove" => vec![list.remove(id_of(&fields)?)?],
                "clear-done" => list.clear_done(),
                other => return Err(format!("unknown event type `{other}`")),
            };
            publish(&list, &changed)
        })
    }
}

export!(Todo);
