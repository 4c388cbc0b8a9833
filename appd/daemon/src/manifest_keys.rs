//! The keys a `weft.toml` may have, and where an unknown one is.
//!
//! The manifest is read with `serde_ignored` (which reports every key the manifest's types do
//! not take, instead of failing at the first as `deny_unknown_fields` would), so that
//! `weft check` names every unknown key in one run, each with its line and the keys its table
//! takes, and a near miss with the key it probably meant (`strsim`, already in clap's tree).

/// Known keys per table (the table's path as serde_ignored writes it, with `*` for a message
/// type's own table).
const KEYS: &[(&str, &[&str])] = &[
    ("", &["app", "limits", "ui-events", "state-updates"]),
    ("app", &["name", "core", "ui", "capabilities"]),
    ("limits", &["max_message_bytes", "max_pending_sends", "event_deadline_ms", "max_memory_mib"]),
    ("ui-events.*", &["coalescible", "schema", "schema_file"]),
    ("state-updates.*", &["coalescible", "schema", "schema_file"]),
];

/// An unknown key, explained.
pub struct UnknownKey {
    /// The table it is in (`app`, `ui-events.add`), or empty at the top level.
    pub table: String,
    /// What is wrong and what the table takes, with the line when it can be found.
    pub problem: String,
}

/// Explains the unknown key at `path` (serde_ignored's dotted path) of the manifest `text`.
pub fn explain(text: &str, path: &str) -> UnknownKey {
    let (table, key) = split_path(path);
    let known = known_keys(&table);
    let mut problem = format!("unknown field `{key}`");
    if !known.is_empty() {
        let list = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        problem.push_str(&format!(", expected one of {list}"));
        if let Some(near) = known.iter().find(|k| strsim::levenshtein(k, &key) <= 2) {
            problem.push_str(&format!("; did you mean `{near}`?"));
        }
    }
    if let Some((line, column)) = find_key(text, &table, &key) {
        problem.push_str(&format!(" ({} line {line}, column {column})", crate::manifest::MANIFEST_FILE));
    }
    UnknownKey { table, problem }
}

/// `a.b.c` → (`a.b`, `c`); the path's parts may be quoted by serde_ignored if they hold dots.
fn split_path(path: &str) -> (String, String) {
    match path.rsplit_once('.') {
        Some((table, key)) => (table.to_owned(), key.to_owned()),
        None => (String::new(), path.to_owned()),
    }
}

fn known_keys(table: &str) -> &'static [&'static str] {
    let pattern = match table.split_once('.') {
        Some((class @ ("ui-events" | "state-updates"), _)) => format!("{class}.*"),
        _ => table.to_owned(),
    };
    KEYS.iter().find(|(t, _)| *t == pattern).map_or(&[], |(_, keys)| keys)
}

/// The line and column (1-based) where `key` is written in `table`: its `[table.key]` header,
/// or its `key = …` line inside `[table]`. `None` for keys written some other way (inline
/// tables, dotted keys).
fn find_key(text: &str, table: &str, key: &str) -> Option<(usize, usize)> {
    let full = if table.is_empty() { key.to_owned() } else { format!("{table}.{key}") };
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(header) = crate::manifest::table_header(line) {
            if header == full || header.starts_with(&format!("{full}.")) {
                return Some((index + 1, line.len() - trimmed.len() + 2));
            }
            current = header.to_owned();
            continue;
        }
        if current == table {
            if let Some((name, _)) = trimmed.split_once('=') {
                if name.trim().trim_matches('"') == key {
                    return Some((index + 1, line.len() - trimmed.len() + 1));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn an_unknown_key_is_placed_listed_and_near_misses_are_named() {
        let text = "[app]\nname = \"a\"\nnmae = \"b\"\n[limit]\n[ui-events.add]\nshema = {}\n";
        let k = explain(text, "app.nmae");
        assert_eq!(k.table, "app");
        assert_eq!(
            k.problem,
            "unknown field `nmae`, expected one of `name`, `core`, `ui`, `capabilities`; did you mean `name`? \
             (weft.toml line 3, column 1)"
        );
        let k = explain(text, "limit");
        assert_eq!(k.table, "");
        assert!(k.problem.contains("did you mean `limits`? (weft.toml line 4, column 2)"), "{}", k.problem);
        let k = explain(text, "ui-events.add.shema");
        assert_eq!(k.table, "ui-events.add");
        assert!(k.problem.contains("did you mean `schema`? (weft.toml line 6, column 1)"), "{}", k.problem);
        let k = explain("[app]\nname = \"a\"\ncolour = 1\n", "app.colour");
        assert!(!k.problem.contains("did you mean"), "{}", k.problem);
    }
}
