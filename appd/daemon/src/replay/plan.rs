//! What a recording asks of a replay: the UI events the core consumed, in order, and what the
//! core emitted at the broker's core-facing ingress, with the core's turn boundaries.

use crate::recording::format::{Direction, Record, Verdict};
use crate::recording::reader::Recording;
use std::collections::HashMap;
use std::fmt;

/// A UI event as the core received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiEvent {
    /// The page's sequence.
    pub ui_sequence: u64,
    /// The sequence toward the core (1, 2, …).
    pub core_sequence: u64,
    /// Its type.
    pub message_type: String,
    /// Its payload (JSON text).
    pub payload: String,
}

impl fmt::Display for UiEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UI event {} (page sequence {}): {} {}",
            self.core_sequence, self.ui_sequence, self.message_type, self.payload
        )
    }
}

/// A state update the core emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// Its type.
    pub message_type: String,
    /// Its payload (JSON text).
    pub payload: String,
    /// Its coalescing key.
    pub coalesce_key: Option<String>,
}

impl Update {
    /// Whether `self` replaces a waiting `older` in the core host's outbox.
    pub fn replaces(&self, older: &Update) -> bool {
        self.coalesce_key.is_some()
            && self.coalesce_key == older.coalesce_key
            && self.message_type == older.message_type
    }
}

impl fmt::Display for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.message_type, self.payload)?;
        if let Some(key) = &self.coalesce_key {
            write!(f, " (key {key:?})")?;
        }
        Ok(())
    }
}

/// What arrived from the core, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreItem {
    /// A state update (admitted or refused by validation) with the core's sequence, and the
    /// last UI event handed to the core before it arrived (index into [`Plan::events`]).
    Update {
        /// The update.
        update: Update,
        /// The core's sequence.
        sequence: u64,
        /// The last UI event delivered to the core before this arrived.
        after: Option<usize>,
    },
    /// The core ended a turn that consumed this many UI events.
    Turn(u32),
}

/// The replay's input and its expected output.
#[derive(Debug, Default)]
pub struct Plan {
    /// The UI events delivered to the core, in core order.
    pub events: Vec<UiEvent>,
    /// What came back from the core.
    pub core: Vec<CoreItem>,
}

impl Plan {
    /// Extracts the plan from a recording; an error names what is inconsistent.
    pub fn from_recording(recording: &Recording) -> Result<Plan, String> {
        let mut payloads: HashMap<u64, String> = HashMap::new();
        let mut plan = Plan::default();
        for line in &recording.lines {
            match &line.record {
                Record::Message { direction: Direction::UiToCore, sequence, payload, verdict, .. } => match verdict {
                    Verdict::Admitted { .. } => {
                        let payload = payload.clone().ok_or(format!("admitted UI event {sequence} has no payload"))?;
                        payloads.insert(*sequence, payload);
                    }
                    Verdict::Delivered { delivered_sequence } => {
                        let payload = payloads
                            .remove(sequence)
                            .ok_or(format!("UI event {sequence} was delivered but never admitted"))?;
                        let expected = plan.events.len() as u64 + 1;
                        if *delivered_sequence != expected {
                            return Err(format!(
                                "UI event {sequence} reached the core as {delivered_sequence} where {expected} was expected"
                            ));
                        }
                        let message_type = match &line.record {
                            Record::Message { message_type, .. } => message_type.clone(),
                            _ => String::new(),
                        };
                        plan.events.push(UiEvent {
                            ui_sequence: *sequence,
                            core_sequence: *delivered_sequence,
                            message_type,
                            payload,
                        });
                    }
                    _ => {}
                },
                Record::Message {
                    direction: Direction::CoreToUi,
                    message_type,
                    sequence,
                    payload,
                    coalesce_key,
                    verdict: Verdict::Admitted { .. } | Verdict::Rejected { .. },
                    ..
                } => {
                    let payload = payload.clone().ok_or(format!("state update {sequence} has no payload"))?;
                    let update =
                        Update { message_type: message_type.clone(), payload, coalesce_key: coalesce_key.clone() };
                    let after = plan.events.len().checked_sub(1);
                    plan.core.push(CoreItem::Update { update, sequence: *sequence, after });
                }
                Record::CoreCredit { confirmed, .. } if *confirmed > 0 => plan.core.push(CoreItem::Turn(*confirmed)),
                Record::CoreSwapped { .. } => {
                    return Err("a new core took this session over (swap-core, as weft dev does after a core \
                                edit); a replay follows one core, so it is not supported"
                        .into())
                }
                Record::PageAttached => {
                    return Err("the session's page was reloaded or navigated (page-attached); replaying \
                                the core's page-attached turns is not supported yet"
                        .into())
                }
                _ => {}
            }
        }
        Ok(plan)
    }

    /// How many state updates the core emitted in the recording.
    pub fn updates(&self) -> usize {
        self.core.iter().filter(|i| matches!(i, CoreItem::Update { .. })).count()
    }
}
