//! Core of the `echo` example app: every UI event is sent straight back to the page as a state
//! update with the same message type and the same payload. If the payload is an object with a
//! string member `"coalesce"` (its name written plainly, not \u-escaped), that string is the
//! update's coalescing key (so tests can watch coalescing); otherwise there is none. `init` does
//! nothing. An update the host refuses becomes the event's `Err`.

wit_bindgen::generate!({
    world: "core",
    path: "../../../appd/core-host/wit",
});

use weft::app::host::emit_state;

struct Echo;

impl Guest for Echo {
    fn init() -> Result<(), String> {
        Ok(())
    }

    /// The echo core has no state to send again.
    fn page_attached() -> Result<(), String> {
        Ok(())
    }

    fn handle_event(message_type: String, payload: String) -> Result<(), String> {
        // Only a payload that mentions the member is parsed: plain echoes (the benchmarks'
        // path) stay a straight copy.
        let key = payload
            .contains("\"coalesce\"")
            .then(|| serde_json::from_str::<serde_json::Value>(&payload).ok())
            .flatten()
            .and_then(|value| value.get("coalesce").and_then(|k| k.as_str()).map(str::to_owned));
        emit_state(&message_type, &payload, key.as_deref()).map_err(|e| format!("emit-state: {e:?}"))
    }
}

export!(Echo);
