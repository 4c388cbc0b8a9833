//! `weft-appd run --carry-state-from RECORDING…`: the UI events a core consumed in earlier
//! sessions of the app, to replay into a new core before the page sees it (`weft dev` keeping
//! the core's state across a rebuild; the core host replays them, see `CoreWelcome`).
//!
//! The events are the recordings' delivered UI events, in order, recording after recording.
//! They are carried only if every one still fits the app as it is now (its type declared and
//! its payload valid against the current schema); otherwise nothing is carried and the reason
//! says which event and why, so the caller can say plainly that the state starts afresh.

use crate::manifest::AppPackage;
use crate::recording::format::{Direction, Record, Verdict};
use crate::recording::reader::Recording;
use crate::validation::Validator;
use std::collections::HashMap;
use std::path::PathBuf;
use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};
use weft_ipc::frames::CarriedEvent;

/// The most UI events carried (a longer history starts afresh instead).
pub const MAX_CARRIED_EVENTS: usize = 100_000;

/// The UI events to carry into a new core of `app`, from `recordings` in order.
pub fn carried_events(recordings: &[PathBuf], app: &AppPackage) -> Result<Vec<CarriedEvent>, String> {
    let validator = Validator::compile(app).map_err(|e| format!("the app's schemas: {e}"))?;
    let mut carried = Vec::new();
    for path in recordings {
        let recording = Recording::load(path).map_err(|e| e.to_string())?;
        let mut admitted: HashMap<u64, String> = HashMap::new();
        for line in &recording.lines {
            let Record::Message { direction: Direction::UiToCore, sequence, message_type, payload, verdict, .. } =
                &line.record
            else {
                continue;
            };
            match verdict {
                Verdict::Admitted { .. } => {
                    if let Some(payload) = payload {
                        admitted.insert(*sequence, payload.clone());
                    }
                }
                Verdict::Delivered { .. } => {
                    let payload = admitted.remove(sequence).ok_or_else(|| {
                        format!("{}: UI event {sequence} was delivered but never admitted", path.display())
                    })?;
                    let envelope = Envelope {
                        session_id: SessionId("carried".into()),
                        stream_id: StreamId::UiToCore,
                        class: MessageClass::UiEvent,
                        message_type: message_type.clone(),
                        sequence: *sequence,
                        payload: payload.clone(),
                        coalesce_key: None,
                    };
                    if let Err(rejection) = validator.check(MessageClass::UiEvent, &envelope) {
                        return Err(format!(
                            "the earlier session's UI event `{message_type}` {payload} no longer fits the app: {}",
                            rejection.detail
                        ));
                    }
                    carried.push(CarriedEvent { message_type: message_type.clone(), payload });
                    if carried.len() > MAX_CARRIED_EVENTS {
                        return Err(format!("more than {MAX_CARRIED_EVENTS} UI events to replay"));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(carried)
}
