//! Any message through the payload check: one validator compiled once from a fixed manifest
//! (the echo app's `strict` schema, the counter's, and a schema using most JSON Schema
//! keywords), then arbitrary class, type, coalescing key and payload. Never a panic; a message
//! over the size limit is refused as `too-large` before anything else looks at it.
//!
//! Input: byte 0 holds flags (bit 0: state update instead of UI event, bit 1: a coalescing
//! key is present), then UTF-8 `type \n key \n payload` (the payload is the rest).
#![no_main]

use envelope::envelope;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use weft_appd::manifest::{AppPackage, MemoryFiles};
use weft_appd::validation::Validator;
use weft_ipc::envelope::MessageClass;
use weft_ipc::rejection::RejectKind;

mod envelope;

const MAX_MESSAGE_BYTES: usize = 1024;

const MANIFEST: &str = r#"
[app]
name = "fuzz"

[limits]
max_message_bytes = 1024

[ui-events.echo]
schema = {}

[ui-events.strict]
schema = { type = "object", required = ["n"], properties = { n = { type = "integer" } } }

[ui-events.increment]
schema = { type = "object", properties = { by = { type = "integer", minimum = -1000000, maximum = 1000000 } }, additionalProperties = false }

[ui-events.complex]
schema_file = "complex.json"

[state-updates.count]
coalescible = true
schema = { type = "object", required = ["value"], properties = { value = { type = "integer" } }, additionalProperties = false }

[state-updates.complex]
coalescible = true
schema_file = "complex.json"
"#;

const COMPLEX: &str = r##"{
  "$defs": {
    "item": {
      "type": "object",
      "required": ["id", "tags"],
      "properties": {
        "id": { "type": "string", "pattern": "^[a-z][a-z0-9-]{0,15}$" },
        "tags": { "type": "array", "items": { "enum": ["a", "b", "c"] }, "uniqueItems": true, "maxItems": 3 },
        "weight": { "type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5 },
        "child": { "$ref": "#/$defs/item" }
      },
      "additionalProperties": false
    }
  },
  "type": "object",
  "required": ["kind"],
  "properties": {
    "kind": { "enum": ["add", "remove", "rename"] },
    "items": { "type": "array", "items": { "$ref": "#/$defs/item" }, "minItems": 1, "maxItems": 8 },
    "name": { "type": "string", "minLength": 1, "maxLength": 32 },
    "at": { "type": "string", "format": "date-time" },
    "position": { "type": "array", "prefixItems": [{ "type": "integer" }, { "type": "integer" }], "items": false },
    "meta": {
      "type": "object",
      "patternProperties": { "^x-": { "type": ["string", "null"] } },
      "propertyNames": { "maxLength": 16 },
      "maxProperties": 4
    }
  },
  "allOf": [
    { "if": { "properties": { "kind": { "const": "rename" } } }, "then": { "required": ["name"] } },
    { "if": { "properties": { "kind": { "const": "add" } } }, "then": { "required": ["items"] } }
  ],
  "oneOf": [{ "required": ["items"] }, { "required": ["name"] }, { "not": { "anyOf": [{ "required": ["items"] }, { "required": ["name"] }] } }],
  "dependentRequired": { "at": ["kind"] }
}"##;

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let dir = PathBuf::from("/app");
        let mut files = MemoryFiles::default();
        files.0.insert(dir.join("core.wasm"), vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
        files.0.insert(dir.join("ui/index.html"), b"<p>hi</p>".to_vec());
        files.0.insert(dir.join("complex.json"), COMPLEX.as_bytes().to_vec());
        let package = match AppPackage::from_manifest(dir, MANIFEST, &files) {
            Ok(package) => package,
            Err(problems) => panic!("the fixed manifest has problems: {problems}"),
        };
        match Validator::compile(&package) {
            Ok(validator) => validator,
            Err(e) => panic!("the fixed manifest does not compile: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    // Strings on the wire are UTF-8 (the decoder checks), so only UTF-8 reaches the validator.
    let Ok(rest) = std::str::from_utf8(rest) else { return };
    let mut parts = rest.splitn(3, '\n');
    let message_type = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let class = if flags & 1 == 0 { MessageClass::UiEvent } else { MessageClass::StateUpdate };
    let envelope = envelope(class, message_type, payload, (flags & 2 != 0).then_some(key));
    let verdict = validator().check(class, &envelope);
    if envelope.size() > MAX_MESSAGE_BYTES {
        assert!(matches!(&verdict, Err(r) if r.kind == RejectKind::TooLarge), "oversized message not refused first");
    }
    if verdict.is_ok() {
        // Admitted means: declared, coalescing allowed, and the payload is JSON.
        assert!(serde_json::from_str::<serde_json::Value>(&envelope.payload).is_ok(), "admitted a non-JSON payload");
        assert!(envelope.coalesce_key.is_none() || class == MessageClass::StateUpdate, "admitted a keyed UI event");
    }
});
