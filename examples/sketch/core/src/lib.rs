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

weft_sdk::messages!();

use std::num::NonZeroU64;
use weft_sdk::{App, Result, Updates};

/// Points per stroke update (keeps each update well under the manifest's size limit).
pub const MAX_POINTS: usize = 400;

/// The core's whole state.
struct Sketch {
    /// The last move's `i`.
    last_i: Option<u64>,
    handled: i64,
    order_errors: i64,
    /// The id the next stroke gets.
    next_stroke: NonZeroU64,
    /// The stroke being drawn (pointer down): its id and points.
    current: Option<(NonZeroU64, Vec<[f64; 2]>)>,
}

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch { last_i: None, handled: 0, order_errors: 0, next_stroke: NonZeroU64::MIN, current: None }
    }
}

/// Rounds a coordinate to 1/1000 of the surface (plenty for drawing; keeps updates small).
fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl Sketch {
    /// A new stroke's id.
    fn new_stroke(&mut self) -> NonZeroU64 {
        let id = self.next_stroke;
        self.next_stroke = id.saturating_add(1);
        id
    }

    fn on_move(&mut self, m: &ui_events::Move, updates: &mut Updates) -> Result {
        let expected = self.last_i.map_or(0, |last| last + 1);
        if m.i != expected {
            self.order_errors += 1;
        }
        self.last_i = Some(m.i);
        self.handled += 1;
        if m.down {
            let point = [round(m.x), round(m.y)];
            if self.current.is_none() {
                self.current = Some((self.new_stroke(), Vec::new()));
            }
            if let Some((id, points)) = &mut self.current {
                points.push(point);
                let stroke = state_updates::Stroke { id: *id, points: points.clone() };
                updates.send_keyed(&stroke, &id.to_string())?;
                if points.len() >= MAX_POINTS {
                    // Continue as a new stroke from the same point, so the line stays unbroken.
                    let next = self.new_stroke();
                    self.current = Some((next, vec![point]));
                }
            }
        } else {
            self.current = None;
        }
        let cursor = state_updates::Cursor {
            i: m.i as i64,
            x: m.x,
            y: m.y,
            down: m.down,
            handled: self.handled,
            order_errors: self.order_errors,
        };
        updates.send_keyed(&cursor, "cursor")
    }

    fn on_clear(&mut self, updates: &mut Updates) -> Result {
        self.current = None;
        updates.send_keyed(&state_updates::Canvas { first_stroke: self.next_stroke }, "canvas")
    }
}

impl App for Sketch {
    type Event = UiEvent;

    fn init(&mut self, updates: &mut Updates) -> Result {
        self.on_clear(updates)
    }

    fn handle(&mut self, event: UiEvent, updates: &mut Updates) -> Result {
        match event {
            UiEvent::Move(m) => self.on_move(&m, updates),
            UiEvent::Clear(_) => self.on_clear(updates),
        }
    }

    /// The core keeps no finished strokes: a reloaded page starts a blank canvas from the next
    /// stroke on.
    fn page_attached(&mut self, updates: &mut Updates) -> Result {
        self.on_clear(updates)
    }
}

weft_sdk::export!(Sketch);
