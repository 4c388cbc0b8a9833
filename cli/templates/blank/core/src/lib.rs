//! The core of `__WEFT_APP_NAME__`: counts the page's pings and answers each with `pongs`.

wit_bindgen::generate!({
    world: "core",
    path: "wit",
});

use std::cell::Cell;
use weft::app::host::emit_state;

thread_local! {
    static PONGS: Cell<u64> = const { Cell::new(0) };
}

struct App;

/// Sends the number of pongs to the page (keyed: only the newest matters).
fn emit_pongs() -> Result<(), String> {
    let payload = format!("{{\"count\":{}}}", PONGS.with(Cell::get));
    emit_state("pongs", &payload, Some("pongs")).map_err(|e| format!("emit-state: {e:?}"))
}

impl Guest for App {
    fn init() -> Result<(), String> {
        emit_pongs()
    }

    /// A reloaded page gets the current state again.
    fn page_attached() -> Result<(), String> {
        emit_pongs()
    }

    fn handle_event(message_type: String, _payload: String) -> Result<(), String> {
        match message_type.as_str() {
            "ping" => PONGS.with(|p| p.set(p.get() + 1)),
            other => return Err(format!("unknown event type `{other}`")),
        }
        emit_pongs()
    }
}

export!(App);
