//! The digest of an app's message types, and the two copies of them that carry it.
//!
//! The manifest is the source of the message types. Two things are generated from it and can
//! fall behind it:
//!
//! - the page's TypeScript declarations (`ui/weft-app.d.ts`, written by `weft types`), whose
//!   first lines say `// weft-messages-digest: …`;
//! - a core built with the SDK, whose custom section `weft-messages` says
//!   `weft-messages-digest:…` (the SDK's macro computes the same digest while it generates the
//!   core's types).
//!
//! The digest is the SHA-256 of the message types, their `coalescible` flags and their
//! schemas, as compact JSON with every object's keys sorted. `weft check` compares each copy's
//! digest with the manifest's.

use crate::manifest::{AppPackage, MessageSpec, PackageProblem};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Where the page's declarations live, in the app directory.
pub const PAGE_TYPES_FILE: &str = "ui/weft-app.d.ts";

/// The line of the generated file that names its digest.
pub const DIGEST_MARKER: &str = "// weft-messages-digest: ";

/// What a core built with the SDK carries, followed by the digest (64 hex digits).
pub const CORE_DIGEST_MARKER: &[u8] = b"weft-messages-digest:";

/// The digest of the app's message types (see the module docs).
pub fn messages_digest(app: &AppPackage) -> String {
    let canonical = serde_json::json!({
        "ui_events": sorted(&app.ui_events),
        "state_updates": sorted(&app.state_updates),
    });
    let digest = Sha256::digest(sorted_keys(&canonical).to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `weft types`' generator reads: the digest and each direction's schemas by type.
pub fn generator_input(app: &AppPackage) -> serde_json::Value {
    let schemas = |messages: &BTreeMap<String, MessageSpec>| -> serde_json::Map<String, serde_json::Value> {
        messages.iter().map(|(name, spec)| (name.clone(), spec.schema.clone())).collect()
    };
    serde_json::json!({
        "digest": messages_digest(app),
        "ui_events": schemas(&app.ui_events),
        "state_updates": schemas(&app.state_updates),
    })
}

/// Every copy of the message types that has fallen behind the manifest.
pub fn stale_copies(app: &AppPackage) -> Vec<PackageProblem> {
    let current = messages_digest(app);
    stale_core(app, &current).into_iter().chain(stale_page_types(app, &current)).collect()
}

/// A problem if the app has page declarations made from other message types than `current`
/// (none if it has none).
fn stale_page_types(app: &AppPackage, current: &str) -> Option<PackageProblem> {
    let path = app.dir.join(PAGE_TYPES_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let recorded = text.lines().find_map(|line| line.strip_prefix(DIGEST_MARKER)).map(str::trim);
    let detail = match recorded {
        Some(digest) if digest == current => return None,
        Some(_) => "was generated from other message types than weft.toml declares: run `weft types`",
        None => "does not say what it was generated from (no weft-messages-digest line): run `weft types`",
    };
    Some(PackageProblem { place: PAGE_TYPES_FILE.to_owned(), problem: detail.to_owned() })
}

/// A problem if the app's core was built with the SDK from other message types than `current`
/// (none for a core that does not say, such as one without the SDK).
fn stale_core(app: &AppPackage, current: &str) -> Option<PackageProblem> {
    let bytes = std::fs::read(&app.core_path).ok()?;
    let at = bytes.windows(CORE_DIGEST_MARKER.len()).position(|w| w == CORE_DIGEST_MARKER)?;
    let digest = bytes.get(at + CORE_DIGEST_MARKER.len()..at + CORE_DIGEST_MARKER.len() + 64)?;
    if digest == current.as_bytes() {
        return None;
    }
    let place = app.core_path.file_name().map_or("core".to_owned(), |n| n.to_string_lossy().into_owned());
    Some(PackageProblem {
        place,
        problem: "was built from other message types than weft.toml declares: rebuild the core (weft run or weft dev \
                  build it)"
            .to_owned(),
    })
}

fn sorted(messages: &BTreeMap<String, MessageSpec>) -> serde_json::Value {
    messages
        .iter()
        .map(|(name, spec)| {
            (name.clone(), serde_json::json!({ "coalescible": spec.coalescible, "schema": spec.schema }))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `value` with every object's keys in order (whatever order the manifest wrote them in).
fn sorted_keys(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let ordered: BTreeMap<&String, serde_json::Value> = map.iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            serde_json::Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        serde_json::Value::Array(all) => serde_json::Value::Array(all.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_package;
    use serde_json::json;

    #[test]
    fn the_digest_follows_the_schemas_not_their_key_order() {
        let a = test_package(100, &[("go", false, json!({"type": "object", "required": ["n"]}))], &[]);
        let b = test_package(100, &[("go", false, json!({"required": ["n"], "type": "object"}))], &[]);
        let c = test_package(100, &[("go", false, json!({"type": "object"}))], &[]);
        assert_eq!(messages_digest(&a), messages_digest(&b));
        assert_ne!(messages_digest(&a), messages_digest(&c));
    }
}
