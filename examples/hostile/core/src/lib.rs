//! Core of the `hostile` example app: misbehaves on request, for the host's fault tests. The UI
//! event type picks the behaviour:
//!
//! - `spin`: loops forever (the host must interrupt it).
//! - `grow`: allocates 1 MiB blocks, filled with data, until allocation fails (a trap).
//! - `recurse`: recurses without bound until the stack overflows (a trap).
//! - `panic`: panics (a trap).
//! - `flood` `{"n": N}`: emits N unkeyed `tick` `{"i": i}` updates, ignoring backpressure, then
//!   `flood-done` `{"accepted": A, "rejected": R}` (keyed `flood-done`, so it is not refused for
//!   backpressure).
//! - `flood-keyed` `{"n": N}`: the same with every `tick` keyed `tick`.
//! - `bad-payload`: emits `tick` with a payload that breaks its schema (`{"i":"not-an-integer"}`).
//! - `unknown-type`: emits a message type the manifest does not declare (`no-such-type`).
//! - `not-json`: emits `tick` with payload `not json` (the host answers `invalid-json`, which is
//!   returned as this event's `Err`).
//! - `connect` `{"port": P}`: tries to open a TCP connection to 127.0.0.1:P (no capability
//!   grants the network), then emits `echo` `{"connected": bool, "error": "…"}`.
//! - `clock`: reads the wall clock and emits `echo` `{"unix_secs": S}` (without the `clock`
//!   capability the host's clock is deterministic: it starts at 2000-01-01T00:00:00Z).
//! - anything else: echoes the event back as a state update of the same type and payload.

wit_bindgen::generate!({
    world: "core",
    path: "../../../appd/core-host/wit",
});

use std::hint::black_box;

use serde_json::Value;
use weft::app::host::{emit_state, EmitError};

struct Hostile;

fn emit(message_type: &str, payload: &str, key: Option<&str>) -> Result<(), String> {
    emit_state(message_type, payload, key).map_err(|e| format!("emit-state: {e:?}"))
}

/// Never returns; `black_box` keeps the optimiser from proving the loop has no effect.
fn spin() -> ! {
    let mut i: u64 = 0;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks of non-zero data and keeps them all until allocation aborts.
fn grow() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut fill: u8 = 1;
    loop {
        blocks.push(vec![fill; 1 << 20]);
        fill = fill.wrapping_add(1).max(1);
        black_box(&mut blocks);
    }
}

/// Recurses without bound; the work after the call (and `black_box`) prevents tail-call
/// elimination and turning the recursion into a loop.
#[inline(never)]
#[expect(unconditional_recursion, reason = "the stack overflow is the point")]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 8]);
    let below = recurse(black_box(depth + 1));
    black_box(below.wrapping_add(frame[black_box(3)]))
}

/// Reads the integer field `n` of a JSON object payload.
fn count_from(payload: &str) -> Result<u64, String> {
    let value: Value = serde_json::from_str(payload).map_err(|e| format!("payload is not valid JSON: {e}"))?;
    value.get("n").and_then(Value::as_u64).ok_or_else(|| "payload needs `n`, a non-negative integer".to_owned())
}

/// Emits `n` `tick` updates (keyed `tick` when `keyed`), counting what the host accepted and
/// refused, then reports the counts as `flood-done`.
fn flood(payload: &str, keyed: bool) -> Result<(), String> {
    let n = count_from(payload)?;
    let key = keyed.then_some("tick");
    let (mut accepted, mut rejected) = (0u64, 0u64);
    for i in 0..n {
        let tick = serde_json::json!({ "i": i }).to_string();
        match emit_state("tick", &tick, key) {
            Ok(()) => accepted += 1,
            Err(EmitError::SessionClosed) => return Err("session closed".to_owned()),
            Err(_) => rejected += 1,
        }
    }
    let done = serde_json::json!({ "accepted": accepted, "rejected": rejected }).to_string();
    emit("flood-done", &done, Some("flood-done"))
}

/// Tries the network, which no capability grants.
fn connect(payload: &str) -> Result<(), String> {
    let port = serde_json::from_str::<Value>(payload).ok().and_then(|v| v["port"].as_u64()).unwrap_or(1);
    let port = u16::try_from(port).unwrap_or(1);
    let result = std::net::TcpStream::connect(("127.0.0.1", port));
    let report = match result {
        Ok(_) => serde_json::json!({ "connected": true, "error": "" }),
        Err(e) => serde_json::json!({ "connected": false, "error": e.to_string() }),
    };
    emit("echo", &report.to_string(), None)
}

impl Guest for Hostile {
    fn init() -> Result<(), String> {
        Ok(())
    }

    fn page_attached() -> Result<(), String> {
        Ok(())
    }

    fn handle_event(message_type: String, payload: String) -> Result<(), String> {
        match message_type.as_str() {
            "spin" => spin(),
            "grow" => grow(),
            "recurse" => {
                recurse(0);
                Err("recursion returned".to_owned())
            }
            "panic" => panic!("hostile core: panic requested by the page"),
            "flood" => flood(&payload, false),
            "flood-keyed" => flood(&payload, true),
            "bad-payload" => emit("tick", r#"{"i":"not-an-integer"}"#, None),
            "unknown-type" => emit("no-such-type", "{}", None),
            "not-json" => emit("tick", "not json", None),
            "connect" => connect(&payload),
            "clock" => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(u64::MAX);
                emit("echo", &serde_json::json!({ "unix_secs": secs }).to_string(), None)
            }
            _ => emit(&message_type, &payload, None),
        }
    }
}

export!(Hostile);
