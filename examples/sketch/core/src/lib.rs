//! Core of the `sketch` example app: turns a stream of pointer moves into strokes.
//!
//! UI events: `move` `{"i", "x", "y", "down"}` (sent by the page at display rate) and
//! `clear` `{}`. State updates, all keyed so that a page that falls behind receives only the
//! latest of each (coalescing; never a sequence gap):
//! - `cursor` (key `cursor`): the last move handled, plus `handled` (moves so far) and
//!   `order_errors` (moves whose `i` was not the previous one's + 1: 0 while every move
//!   arrives exactly once, in order);
//! - `stroke` (key: the stroke id): the stroke's points so far; a stroke holds at most
//!   [`MAX_POINTS`] points, then continues as a new stroke;
//! - `canvas` (key `canvas`): `first_stroke`, the id of the first stroke not erased.

wit_bindgen::generate!({
    world: "core",
    path: "../../../appd/core-host/wit",
});

use std::cell::RefCell;

use serde_json::{json, Value};
use weft::app::host::emit_state;

/// Points per stroke update (keeps each update well under the manifest's size limit).
pub const MAX_POINTS: usize = 400;

/// The core's whole state.
#[derive(Default)]
struct Sketch {
    /// The last move's `i`.
    last_i: Option<i64>,
    handled: u64,
    order_errors: u64,
    /// The id the next stroke gets.
    next_stroke: u64,
    /// The stroke being drawn (pointer down): its id and points.
    current: Option<(u64, Vec<[f64; 2]>)>,
}

thread_local! {
    static SKETCH: RefCell<Sketch> = RefCell::new(Sketch { next_stroke: 1, ..Sketch::default() });
}

struct Core;

/// Emits one keyed state update.
fn emit(message_type: &str, payload: &Value, key: &str) -> Result<(), String> {
    emit_state(message_type, &payload.to_string(), Some(key)).map_err(|e| format!("emit-state {message_type}: {e:?}"))
}

/// Rounds a coordinate to 1/1000 of the surface (plenty for drawing; keeps updates small).
fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One `move` event's fields.
struct Move {
    i: i64,
    x: f64,
    y: f64,
    down: bool,
}

fn parse_move(payload: &str) -> Result<Move, String> {
    let v: Value = serde_json::from_str(payload).map_err(|e| format!("payload is not valid JSON: {e}"))?;
    let number = |k: &str| v.get(k).and_then(Value::as_f64).ok_or_else(|| format!("`{k}` is not a number"));
    Ok(Move {
        i: v.get("i").and_then(Value::as_i64).ok_or("`i` is not an integer")?,
        x: number("x")?,
        y: number("y")?,
        down: v.get("down").and_then(Value::as_bool).ok_or("`down` is not a boolean")?,
    })
}

impl Sketch {
    fn on_move(&mut self, m: &Move) -> Result<(), String> {
        let expected = self.last_i.map_or(0, |last| last + 1);
        if m.i != expected {
            self.order_errors += 1;
        }
        self.last_i = Some(m.i);
        self.handled += 1;
        if m.down {
            let point = [round(m.x), round(m.y)];
            let stroke = self.current.get_or_insert_with(|| {
                let id = self.next_stroke;
                self.next_stroke += 1;
                (id, Vec::new())
            });
            stroke.1.push(point);
            emit("stroke", &json!({ "id": stroke.0, "points": stroke.1 }), &stroke.0.to_string())?;
            if stroke.1.len() >= MAX_POINTS {
                // Continue as a new stroke from the same point, so the line stays unbroken.
                let id = self.next_stroke;
                self.next_stroke += 1;
                self.current = Some((id, vec![point]));
            }
        } else {
            self.current = None;
        }
        let cursor = json!({
            "i": m.i, "x": m.x, "y": m.y, "down": m.down,
            "handled": self.handled, "order_errors": self.order_errors,
        });
        emit("cursor", &cursor, "cursor")
    }

    fn on_clear(&mut self) -> Result<(), String> {
        self.current = None;
        emit("canvas", &json!({ "first_stroke": self.next_stroke }), "canvas")
    }
}

impl Guest for Core {
    fn init() -> Result<(), String> {
        SKETCH.with(|s| {
            *s.borrow_mut() = Sketch { next_stroke: 1, ..Sketch::default() };
            s.borrow_mut().on_clear()
        })
    }

    /// The core keeps no finished strokes: a reloaded page starts a blank canvas from the next
    /// stroke on.
    fn page_attached() -> Result<(), String> {
        SKETCH.with(|s| s.borrow_mut().on_clear())
    }

    fn handle_event(message_type: String, payload: String) -> Result<(), String> {
        SKETCH.with(|s| match message_type.as_str() {
            "move" => s.borrow_mut().on_move(&parse_move(&payload)?),
            "clear" => s.borrow_mut().on_clear(),
            other => Err(format!("unknown event type `{other}`")),
        })
    }
}

export!(Core);
