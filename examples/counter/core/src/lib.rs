//! Core of the `counter` example app: keeps one `i64` count.
//!
//! `init` emits state `count` `{"value":0}`. UI events: `increment` `{"by": <integer>}` (`by`
//! optional, default 1) adds to the count; `reset` `{}` sets it to 0. After each, the core emits
//! `count` `{"value":N}` with coalescing key `count` (only the latest value matters to the
//! page). Malformed payloads and unknown events are returned as `Err`.

wit_bindgen::generate!({
    world: "core",
    path: "../../../appd/core-host/wit",
});

use std::cell::Cell;

use serde_json::Value;
use weft::app::host::emit_state;

thread_local! {
    static COUNT: Cell<i64> = const { Cell::new(0) };
}

struct Counter;

/// Sends the current count to the page, keyed so that only the newest value is kept.
fn emit_count() -> Result<(), String> {
    let value = COUNT.with(Cell::get);
    let payload = serde_json::json!({ "value": value }).to_string();
    emit_state("count", &payload, Some("count")).map_err(|e| format!("emit-state: {e:?}"))
}

/// Parses an event payload as a JSON object.
fn parse_object(payload: &str) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("payload is not a JSON object".to_owned()),
        Err(e) => Err(format!("payload is not valid JSON: {e}")),
    }
}

impl Guest for Counter {
    fn init() -> Result<(), String> {
        COUNT.with(|c| c.set(0));
        emit_count()
    }

    /// A reloaded page shows the count again.
    fn page_attached() -> Result<(), String> {
        emit_count()
    }

    fn handle_event(message_type: String, payload: String) -> Result<(), String> {
        match message_type.as_str() {
            "increment" => {
                let fields = parse_object(&payload)?;
                let by = match fields.get("by") {
                    None => 1,
                    Some(v) => v.as_i64().ok_or_else(|| format!("`by` is not a 64-bit integer: {v}"))?,
                };
                let next = COUNT.with(Cell::get).checked_add(by).ok_or_else(|| "count would overflow".to_owned())?;
                COUNT.with(|c| c.set(next));
            }
            "reset" => {
                parse_object(&payload)?;
                COUNT.with(|c| c.set(0));
            }
            other => return Err(format!("unknown event type `{other}`")),
        }
        emit_count()
    }
}

export!(Counter);
