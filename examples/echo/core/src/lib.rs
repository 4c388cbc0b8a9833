//! Core of the `echo` example app: every UI event is sent straight back to the page as a state
//! update with the same message type and the same payload (no coalescing key). `init` does
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

    fn handle_event(message_type: String, payload: String) -> Result<(), String> {
        emit_state(&message_type, &payload, None).map_err(|e| format!("emit-state: {e:?}"))
    }
}

export!(Echo);
