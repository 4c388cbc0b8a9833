//! Payload validation: every message is checked against the app's declarations before it is
//! delivered, in either direction. Schemas are compiled once per session.
//!
//! Order of checks (the first failure is reported): size, type declared for this class,
//! coalescing key allowed, payload is JSON, payload matches the schema.

use crate::manifest::AppPackage;
use std::collections::BTreeMap;
use weft_ipc::envelope::{Envelope, MessageClass};
use weft_ipc::rejection::{RejectKind, Rejection};

/// The longest schema-failure explanation passed on to a peer.
const MAX_DETAIL: usize = 512;

struct CompiledType {
    coalescible: bool,
    schema: jsonschema::Validator,
}

/// The compiled declarations of one app.
pub struct Validator {
    types: BTreeMap<(MessageClass, String), CompiledType>,
    max_message_bytes: usize,
}

impl Validator {
    /// Compiles every declared schema.
    pub fn compile(app: &AppPackage) -> Result<Validator, String> {
        let mut types = BTreeMap::new();
        for class in [MessageClass::UiEvent, MessageClass::StateUpdate] {
            for (name, spec) in app.types(class) {
                let schema = jsonschema::validator_for(&spec.schema)
                    .map_err(|e| format!("{}s.{name}.schema: {e}", class.as_str()))?;
                types.insert((class, name.clone()), CompiledType { coalescible: spec.coalescible, schema });
            }
        }
        Ok(Validator { types, max_message_bytes: app.limits.max_message_bytes as usize })
    }

    /// Checks one message of `class` (the class its direction requires).
    pub fn check(&self, class: MessageClass, envelope: &Envelope) -> Result<(), Rejection> {
        let size = envelope.size();
        if size > self.max_message_bytes {
            return Err(reject(
                RejectKind::TooLarge,
                format!("message is {size} bytes; the limit is {}", self.max_message_bytes),
            ));
        }
        let Some(declared) = self.types.get(&(class, envelope.message_type.clone())) else {
            return Err(reject(
                RejectKind::UnknownType,
                format!("{:?} is not declared as a {} by this app", truncate(&envelope.message_type), class.as_str()),
            ));
        };
        if envelope.coalesce_key.is_some() && !declared.coalescible {
            return Err(reject(
                RejectKind::NotCoalescible,
                format!("{:?} is not declared coalescible", envelope.message_type),
            ));
        }
        let payload: serde_json::Value = serde_json::from_str(&envelope.payload)
            .map_err(|e| reject(RejectKind::InvalidJson, format!("payload is not JSON: {e}")))?;
        if let Err(e) = declared.schema.validate(&payload) {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            return Err(reject(RejectKind::SchemaMismatch, truncate(&format!("payload at {at}: {}", e.masked()))));
        }
        Ok(())
    }
}

fn reject(kind: RejectKind, detail: String) -> Rejection {
    Rejection { kind, detail }
}

fn truncate(s: &str) -> String {
    weft_ipc::truncated(s, MAX_DETAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_package;
    use serde_json::json;
    use weft_ipc::envelope::{SessionId, StreamId};

    fn validator() -> Validator {
        let app = test_package(
            64,
            &[(
                "strict",
                false,
                json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}),
            )],
            &[("count", true, json!({}))],
        );
        Validator::compile(&app).expect("compiles")
    }

    fn env(t: &str, payload: &str, key: Option<&str>) -> Envelope {
        Envelope {
            session_id: SessionId("s".into()),
            stream_id: StreamId::UiToCore,
            class: MessageClass::UiEvent,
            message_type: t.into(),
            sequence: 1,
            payload: payload.into(),
            coalesce_key: key.map(str::to_owned),
        }
    }

    fn check(class: MessageClass, t: &str, payload: &str, key: Option<&str>) -> Result<(), RejectKind> {
        validator().check(class, &env(t, payload, key)).map_err(|r| r.kind)
    }

    #[test]
    fn checks_in_order() {
        use MessageClass::{StateUpdate, UiEvent};
        assert_eq!(check(UiEvent, "strict", r#"{"n": 3}"#, None), Ok(()));
        assert_eq!(check(UiEvent, "strict", r#"{"n": "3"}"#, None), Err(RejectKind::SchemaMismatch));
        assert_eq!(check(UiEvent, "strict", r#"{}"#, None), Err(RejectKind::SchemaMismatch));
        assert_eq!(check(UiEvent, "strict", "{nope", None), Err(RejectKind::InvalidJson));
        assert_eq!(check(UiEvent, "nope", "{}", None), Err(RejectKind::UnknownType));
        assert_eq!(check(UiEvent, "count", "{}", None), Err(RejectKind::UnknownType));
        assert_eq!(check(StateUpdate, "count", "{}", Some("k")), Ok(()));
        assert_eq!(check(UiEvent, "strict", r#"{"n": 1}"#, Some("k")), Err(RejectKind::NotCoalescible));
        assert_eq!(check(UiEvent, "strict", &"x".repeat(100), None), Err(RejectKind::TooLarge));
    }

    #[test]
    fn schema_failure_says_where() {
        let r = validator().check(MessageClass::UiEvent, &env("strict", r#"{"n": 1.5}"#, None)).expect_err("rejects");
        assert!(r.detail.contains("/n"), "{}", r.detail);
    }
}
