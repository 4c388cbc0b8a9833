//! The UI events a session's core has been handed, kept so that a new core can replay them
//! when it takes over the session (`swap-core`, `weft dev` after a core edit) and start with
//! the state the old one built.
//!
//! The history is bounded: past [`MAX_CARRIED_EVENTS`] events or [`MAX_HISTORY_BYTES`] of
//! payload it is dropped, and a swap says why the new core starts afresh instead.

use crate::carry::MAX_CARRIED_EVENTS;
use weft_ipc::frames::CarriedEvent;

/// The most payload and type bytes kept.
pub const MAX_HISTORY_BYTES: usize = 16 * 1024 * 1024;

/// The UI events delivered to the session's core, in the order it got them.
#[derive(Debug, Default)]
pub struct UiHistory {
    events: Vec<CarriedEvent>,
    bytes: usize,
    /// Why the history was dropped, once it was.
    dropped: Option<String>,
}

impl UiHistory {
    /// A history that starts with the events the session's first core replayed (those of
    /// earlier sessions, `--carry-state-from`).
    pub fn starting_with(carried: Vec<CarriedEvent>) -> UiHistory {
        let mut history = UiHistory::default();
        for event in carried {
            history.push(event);
        }
        history
    }

    /// Notes an event delivered to the core.
    pub fn push(&mut self, event: CarriedEvent) {
        if self.dropped.is_some() {
            return;
        }
        self.bytes += event.message_type.len() + event.payload.len();
        self.events.push(event);
        let why = if self.events.len() > MAX_CARRIED_EVENTS {
            Some(format!("the session's core has handled more than {MAX_CARRIED_EVENTS} UI events"))
        } else if self.bytes > MAX_HISTORY_BYTES {
            Some(format!("the session's UI events exceed {} MiB", MAX_HISTORY_BYTES / (1024 * 1024)))
        } else {
            None
        };
        if let Some(why) = why {
            tracing::info!(%why, "no longer keeping the session's UI events for a core swap");
            self.events = Vec::new();
            self.bytes = 0;
            self.dropped = Some(why);
        }
    }

    /// The events for a new core to replay, or why there are none to carry.
    pub fn carried(&self) -> Result<Vec<CarriedEvent>, String> {
        match &self.dropped {
            Some(why) => Err(why.clone()),
            None => Ok(self.events.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: &str) -> CarriedEvent {
        CarriedEvent { message_type: "t".into(), payload: payload.into() }
    }

    #[test]
    fn keeps_what_it_started_with_then_what_came_in_order() {
        let mut history = UiHistory::starting_with(vec![event("1")]);
        history.push(event("2"));
        assert_eq!(history.carried(), Ok(vec![event("1"), event("2")]));
    }

    #[test]
    fn a_history_past_its_bound_is_dropped_and_says_why() {
        let mut history = UiHistory::default();
        let big = "x".repeat(MAX_HISTORY_BYTES / 2 - 8);
        history.push(event(&big));
        history.push(event(&big));
        assert_eq!(history.carried().map(|events| events.len()), Ok(2));
        history.push(event("one more event"));
        assert_eq!(history.carried(), Err("the session's UI events exceed 16 MiB".to_owned()));
        history.push(event("after"));
        assert!(history.carried().is_err(), "a dropped history stays dropped");
    }
}
