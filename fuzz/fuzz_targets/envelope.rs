//! The envelope the validation-facing fuzz targets check: a fixed session and sequence, the
//! stream that goes with `class`.

use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};

/// An envelope of `class` carrying `message_type` and `payload`, keyed by `coalesce_key`.
pub fn envelope(class: MessageClass, message_type: &str, payload: &str, coalesce_key: Option<&str>) -> Envelope {
    let stream_id = if class == MessageClass::UiEvent { StreamId::UiToCore } else { StreamId::CoreToUi };
    Envelope {
        session_id: SessionId("fuzz".into()),
        stream_id,
        class,
        message_type: message_type.to_owned(),
        sequence: 1,
        payload: payload.to_owned(),
        coalesce_key: coalesce_key.map(str::to_owned),
    }
}
