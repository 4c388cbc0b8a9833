//! `weft_sdk::messages!()`: the message types of an app's manifest (`weft.toml`) as Rust types,
//! generated when the core compiles.
//!
//! The manifest is the one source of the app's messages: the broker validates every message
//! against its schemas, the page's TypeScript declarations are generated from them (`weft
//! types`), and this macro reads them while the core compiles, so the core cannot be built
//! against schemas other than the manifest's. A schema change that the Rust code no longer
//! matches is a compile error where the code uses the changed field.
//!
//! Each payload schema becomes a type through [typify] (Oxide's JSON Schema → Rust generator,
//! with serde derives). It is used as a library here, not through its own `import_types!`,
//! because a manifest holds many schemas, inline in TOML or in files, and the SDK needs an enum
//! of the UI events and a trait impl per state update around them. Two adjustments:
//!
//! - String constraints (`pattern`, `minLength`, `maxLength`, `format`) are left out of the
//!   Rust types. The broker enforces them on every message, so a core never receives a payload
//!   that breaks them, and plain `String`s keep the core's code simple. A state update that
//!   breaks them is refused by the broker, and the core hears why. Numeric bounds stay: they
//!   pick the integer types (`minimum = 0` gives `u64`).
//! - A payload schema with no named shape (`{}`, a bare `integer`) is wrapped in a transparent
//!   newtype named after the message, so every message type has a type of its own.
//!
//! Generated, for the caller's module: `ui_events::<Type>` per UI event and
//! `state_updates::<Type>` per state update (each named after the message type in
//! UpperCamelCase), `UiEvent` (one variant per UI event, implementing `weft_sdk::UiEvent`), and
//! `weft_sdk::StateUpdate` for each state update (`weft_sdk::Coalescible` where the manifest
//! says `coalescible = true`). The caller's crate needs `serde` and `serde_json`, which the
//! generated derives name.
//!
//! The core carries what it was built from: a custom section `weft-messages` holding
//! `weft-messages-digest:<sha256>`, the digest of its message types, their `coalescible` flags
//! and their schemas. `weft check` computes the same digest from the manifest (appd's
//! `page_types::messages_digest`), so a core built from other message types than the manifest
//! declares now is reported exactly.

use heck::ToUpperCamelCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use typify::{TypeDetails, TypeSpace, TypeSpaceSettings};

/// Generates the app's message types from its manifest: `messages!()` reads `../weft.toml`
/// (the app directory above the core's crate); `messages!("path/to/weft.toml")` reads that
/// file, relative to the crate's directory.
#[proc_macro]
pub fn messages(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let relative = if input.is_empty() {
        "../weft.toml".to_owned()
    } else {
        match syn::parse::<syn::LitStr>(input) {
            Ok(lit) => lit.value(),
            Err(e) => return e.to_compile_error().into(),
        }
    };
    match generate(&relative) {
        Ok(tokens) => tokens.into(),
        Err(message) => {
            let message = format!("weft_sdk::messages!: {message}");
            quote!(::core::compile_error!(#message);).into()
        }
    }
}

/// One declared message type.
#[derive(serde::Deserialize)]
struct RawMessage {
    #[serde(default)]
    coalescible: bool,
    schema: Option<toml::Value>,
    schema_file: Option<String>,
}

/// The part of `weft.toml` this macro reads (`weft check` checks the rest).
#[derive(serde::Deserialize)]
struct RawManifest {
    #[serde(rename = "ui-events", default)]
    ui_events: BTreeMap<String, RawMessage>,
    #[serde(rename = "state-updates", default)]
    state_updates: BTreeMap<String, RawMessage>,
}

/// A message type with its schema as JSON.
struct Message {
    name: String,
    coalescible: bool,
    /// The schema as the manifest gives it (what the digest covers).
    declared: serde_json::Value,
    /// The schema the Rust types are made from (see the crate docs).
    schema: serde_json::Value,
}

fn generate(relative: &str) -> Result<TokenStream, String> {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let manifest_path = crate_dir.join(relative);
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read the manifest {}: {e}", manifest_path.display()))?;
    let raw: RawManifest =
        toml::from_str(&text).map_err(|e| format!("{} is not a valid manifest: {e}", manifest_path.display()))?;
    let app_dir = manifest_path.parent().unwrap_or(Path::new("."));
    // Rebuilt when the manifest or a schema file changes: rustc tracks what include_bytes! reads.
    let mut read = vec![manifest_path.clone()];
    let ui_events = messages_of("ui-events", raw.ui_events, app_dir, &mut read)?;
    let state_updates = messages_of("state-updates", raw.state_updates, app_dir, &mut read)?;

    let (ui_types, ui_idents) = type_space("ui_events", &ui_events)?;
    let (update_types, update_idents) = type_space("state_updates", &state_updates)?;

    let variants: Vec<_> = ui_events.iter().map(|m| format_ident!("{}", m.name.to_upper_camel_case())).collect();
    let ui_names: Vec<&str> = ui_events.iter().map(|m| m.name.as_str()).collect();
    let update_impls = state_updates.iter().zip(&update_idents).map(|(m, ident)| {
        let name = &m.name;
        let coalescible = m.coalescible.then(|| quote!(impl ::weft_sdk::Coalescible for #ident {}));
        quote! {
            impl ::weft_sdk::StateUpdate for #ident {
                const MESSAGE_TYPE: &'static str = #name;
            }
            #coalescible
        }
    });
    let tracked = read.iter().map(|p| p.display().to_string());
    let declaration = format!("weft-messages-digest:{}", digest(&ui_events, &state_updates));
    let declaration_len = declaration.len();
    let declaration = proc_macro2::Literal::byte_string(declaration.as_bytes());
    Ok(quote! {
        const _: &[&[u8]] = &[#(::core::include_bytes!(#tracked)),*];

        /// What the core was built from, for `weft check` (see weft-sdk-macros' docs).
        #[cfg(target_family = "wasm")]
        #[link_section = "weft-messages"]
        #[used]
        static __WEFT_MESSAGES: [u8; #declaration_len] = *#declaration;

        /// The payload types of the app's UI events (generated from `weft.toml`).
        #[allow(missing_docs, clippy::all)]
        pub mod ui_events {
            #ui_types
        }

        /// The payload types of the app's state updates (generated from `weft.toml`).
        #[allow(missing_docs, clippy::all)]
        pub mod state_updates {
            #update_types
        }

        /// A UI event of the app, its payload typed (generated from `weft.toml`).
        #[derive(Clone, Debug, PartialEq)]
        pub enum UiEvent {
            #(
                #[doc = concat!("`", #ui_names, "`")]
                #variants(#ui_idents),
            )*
        }

        impl ::weft_sdk::UiEvent for UiEvent {
            const MESSAGE_TYPES: &'static [&'static str] = &[#(#ui_names),*];

            fn from_message(message_type: &str, payload: &str) -> ::core::result::Result<Self, ::weft_sdk::Error> {
                match message_type {
                    #(
                        #ui_names => ::serde_json::from_str(payload)
                            .map(UiEvent::#variants)
                            .map_err(|e| ::weft_sdk::Error::payload(message_type, &e)),
                    )*
                    other => ::core::result::Result::Err(::weft_sdk::Error::unknown_event(other)),
                }
            }
        }

        #(#update_impls)*
    })
}

/// The digest of the message types, as weft-appd's `page_types::messages_digest` computes it:
/// SHA-256 of `{"state_updates": {type: {"coalescible", "schema"}}, "ui_events": {…}}` as compact
/// JSON with every object's keys sorted.
fn digest(ui_events: &[Message], state_updates: &[Message]) -> String {
    use sha2::{Digest, Sha256};
    let table = |messages: &[Message]| -> serde_json::Value {
        messages
            .iter()
            .map(|m| (m.name.clone(), serde_json::json!({ "coalescible": m.coalescible, "schema": m.declared })))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let canonical =
        sorted_keys(&serde_json::json!({ "ui_events": table(ui_events), "state_updates": table(state_updates) }));
    Sha256::digest(canonical.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `value` with every object's keys in order.
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

/// Reads the messages of one table, each schema as JSON (a file's relative to `app_dir`).
fn messages_of(
    table: &str,
    raw: BTreeMap<String, RawMessage>,
    app_dir: &Path,
    read: &mut Vec<PathBuf>,
) -> Result<Vec<Message>, String> {
    raw.into_iter()
        .map(|(name, message)| {
            let schema = match (message.schema, message.schema_file) {
                (Some(schema), None) => {
                    serde_json::to_value(schema).map_err(|e| format!("{table}.{name}.schema: {e}"))?
                }
                (None, Some(file)) => {
                    let path = app_dir.join(&file);
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("{table}.{name}.schema_file: cannot read {}: {e}", path.display()))?;
                    read.push(path);
                    serde_json::from_str(&text).map_err(|e| format!("{table}.{name}.schema_file {file}: {e}"))?
                }
                _ => {
                    return Err(format!("{table}.{name}: give exactly one of `schema` and `schema_file` (weft check)"))
                }
            };
            Ok(Message {
                name,
                coalescible: message.coalescible,
                schema: without_string_constraints(schema.clone()),
                declared: schema,
            })
        })
        .collect()
}

/// The types of `messages` in module `module`, and each message's type as the caller names it.
fn type_space(module: &str, messages: &[Message]) -> Result<(TokenStream, Vec<TokenStream>), String> {
    let mut settings = TypeSpaceSettings::default();
    settings.with_struct_builder(false).with_type_mod(module).with_derive("PartialEq".to_owned());
    let mut space = TypeSpace::new(&settings);
    let mut named = Vec::new();
    let mut wrappers = Vec::new();
    for message in messages {
        let type_name = message.name.to_upper_camel_case();
        let schema: schemars::schema::Schema = serde_json::from_value(message.schema.clone())
            .map_err(|e| format!("the schema of `{}` is not a JSON Schema: {e}", message.name))?;
        let id = space
            .add_type_with_name(&schema, Some(type_name.clone()))
            .map_err(|e| format!("the schema of `{}`: {e}", message.name))?;
        let ty = space.get_type(&id).map_err(|e| format!("the schema of `{}`: {e}", message.name))?;
        let has_own_name =
            matches!(ty.details(), TypeDetails::Struct(_) | TypeDetails::Enum(_) | TypeDetails::Newtype(_))
                && ty.name() == type_name;
        let inner = ty.ident();
        let module_ident = format_ident!("{module}");
        let ident = format_ident!("{type_name}");
        if !has_own_name {
            // No named shape: a transparent newtype of its own.
            let doc = format!("The payload of `{}`.", message.name);
            wrappers.push(quote! {
                #[doc = #doc]
                #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, PartialEq)]
                #[serde(transparent)]
                pub struct #ident(pub #inner);
            });
        }
        named.push(quote!(#module_ident::#ident));
    }
    let types = space.to_stream();
    // Inside the module, the space's own paths (`module::Type`) are `super::module::Type`.
    let module_ident = format_ident!("{module}");
    Ok((quote!(use super::#module_ident; #types #(#wrappers)*), named))
}

/// `schema` without the string constraints the broker enforces (see the crate docs), at every
/// place a subschema can be.
fn without_string_constraints(mut schema: serde_json::Value) -> serde_json::Value {
    strip(&mut schema);
    schema
}

fn strip(schema: &mut serde_json::Value) {
    let serde_json::Value::Object(map) = schema else { return };
    for keyword in ["pattern", "minLength", "maxLength", "format"] {
        map.remove(keyword);
    }
    for key in ["items", "additionalProperties", "not", "if", "then", "else", "contains", "additionalItems"] {
        if let Some(sub) = map.get_mut(key) {
            match sub {
                serde_json::Value::Array(all) => all.iter_mut().for_each(strip),
                other => strip(other),
            }
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(serde_json::Value::Array(all)) = map.get_mut(key) {
            all.iter_mut().for_each(strip);
        }
    }
    for key in ["properties", "patternProperties", "definitions", "$defs", "dependentSchemas"] {
        if let Some(serde_json::Value::Object(all)) = map.get_mut(key) {
            all.values_mut().for_each(strip);
        }
    }
}
