//! Any manifest text: `AppPackage::from_manifest` (what `AppPackage::load` runs after reading
//! `weft.toml`) over an in-memory app directory must give a package or a list of problems,
//! never panic; a package that checks compiles, and its schemas check a few payloads (deep,
//! wide, every JSON kind) without failing. The directory holds a real component header, the UI page and a few schema
//! files (valid, invalid JSON, invalid schema), so `schema_file` paths resolve.
#![no_main]

use envelope::envelope;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use weft_appd::manifest::{AppPackage, MemoryFiles};
use weft_appd::validation::Validator;
use weft_ipc::envelope::MessageClass;

mod envelope;

const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

fn files() -> &'static MemoryFiles {
    static FILES: OnceLock<MemoryFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = PathBuf::from("/app");
        let mut files = MemoryFiles::default();
        let mut add = |path: &str, bytes: &[u8]| files.0.insert(dir.join(path), bytes.to_vec());
        add("core.wasm", &COMPONENT_HEADER);
        add("module.wasm", &[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
        add("short.wasm", b"\0as");
        add("ui/index.html", b"<p>hi</p>");
        add("schema.json", br#"{"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}"#);
        add("any.json", b"{}");
        add("bad.json", b"{nope");
        add("invalid.json", br#"{"type": "nope"}"#);
        add("latin1.json", b"\xff\xfe");
        files
    })
}

fn payloads() -> &'static [String] {
    static PAYLOADS: OnceLock<Vec<String>> = OnceLock::new();
    PAYLOADS.get_or_init(|| {
        let mut payloads: Vec<String> =
            ["{}", "[]", "0", "-1.5e300", "\"s\"", "null", r#"{"n":3,"a":[1,{"b":null}],"s":"x"}"#]
                .map(String::from)
                .to_vec();
        payloads.push(format!("{}{}", "[".repeat(100), "]".repeat(100)));
        payloads.push(format!("{}1{}", r#"{"a":"#.repeat(100), "}".repeat(100)));
        payloads
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match AppPackage::from_manifest(PathBuf::from("/app"), text, files()) {
        // A package that checks must also compile (the session compiles it at launch), and its
        // schemas, whatever they are, must check payloads without failing.
        Ok(package) => {
            let validator = match Validator::compile(&package) {
                Ok(validator) => validator,
                Err(e) => panic!("a checked package does not compile: {e}"),
            };
            for class in [MessageClass::UiEvent, MessageClass::StateUpdate] {
                for message_type in package.types(class).keys() {
                    for payload in payloads() {
                        let _ = validator.check(class, &envelope(class, message_type, payload, None));
                    }
                }
            }
        }
        Err(problems) => assert!(!problems.0.is_empty(), "an error without a problem"),
    }
});
