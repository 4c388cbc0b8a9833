//! Loads a recording, with an error that says where and why for any file that is not a
//! complete recording of this format.

use super::format::{Footer, Header, Line, Record, FORMAT, VERSION};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// A complete recording.
#[derive(Debug)]
pub struct Recording {
    /// The first line.
    pub header: Header,
    /// Every line between header and footer, in order.
    pub lines: Vec<Line>,
    /// The last line.
    pub footer: Footer,
}

/// Why a file is not a usable recording.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{path}: empty file, not a recording")]
    Empty {
        /// The file.
        path: String,
    },
    /// A line is not a record.
    #[error("{path}:{line}: not a recording record: {detail}")]
    Malformed {
        /// The file.
        path: String,
        /// The 1-based line number.
        line: usize,
        /// What the JSON parser said.
        detail: String,
    },
    /// The first line is not a header of this format.
    #[error("{path}:1: not a {FORMAT} (the first line must be its header)")]
    NoHeader {
        /// The file.
        path: String,
    },
    /// A format version this build does not read.
    #[error("{path}: recording format version {found} is not supported (this build reads version {VERSION})")]
    Version {
        /// The file.
        path: String,
        /// The version in the header.
        found: u32,
    },
    /// The file ends without a footer.
    #[error("{path}: truncated after line {lines}{how}: no footer (was the recording cut short?)")]
    Truncated {
        /// The file.
        path: String,
        /// Complete lines read.
        lines: usize,
        /// Whether the last line was cut in the middle.
        how: &'static str,
    },
    /// A second header, or lines after the footer.
    #[error("{path}:{line}: {what}")]
    Misplaced {
        /// The file.
        path: String,
        /// The 1-based line number.
        line: usize,
        /// What is out of place.
        what: &'static str,
    },
}

impl Recording {
    /// Reads and checks the recording at `path`.
    pub fn load(path: &Path) -> Result<Recording, ReadError> {
        let shown = path.display().to_string();
        let io = |source| ReadError::Io { path: shown.clone(), source };
        let mut reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
        let mut header = None;
        let mut footer = None;
        let mut lines = Vec::new();
        let mut text = String::new();
        let mut number = 0;
        loop {
            text.clear();
            if reader.read_line(&mut text).map_err(io)? == 0 {
                break;
            }
            number += 1;
            let complete = text.ends_with('\n');
            let line: Line = match serde_json::from_str(text.trim_end()) {
                Ok(line) => line,
                Err(_) if !complete => {
                    return Err(ReadError::Truncated { path: shown, lines: number - 1, how: " (the last line is cut)" })
                }
                Err(e) => return Err(ReadError::Malformed { path: shown, line: number, detail: e.to_string() }),
            };
            if footer.is_some() {
                return Err(ReadError::Misplaced { path: shown, line: number, what: "a record after the footer" });
            }
            match line.record {
                Record::Header(h) if number == 1 => {
                    if h.format != FORMAT {
                        return Err(ReadError::NoHeader { path: shown });
                    }
                    if h.version != VERSION {
                        return Err(ReadError::Version { path: shown, found: h.version });
                    }
                    header = Some(h);
                }
                Record::Header(_) => {
                    return Err(ReadError::Misplaced { path: shown, line: number, what: "a second header" })
                }
                _ if number == 1 => return Err(ReadError::NoHeader { path: shown }),
                Record::Footer(f) => footer = Some(f),
                _ => lines.push(line),
            }
        }
        let Some(header) = header else { return Err(ReadError::Empty { path: shown }) };
        let Some(footer) = footer else { return Err(ReadError::Truncated { path: shown, lines: number, how: "" }) };
        Ok(Recording { header, lines, footer })
    }

    /// Records left out by the recorder (the footer's count; `dropped` lines agree with it).
    pub fn dropped(&self) -> u64 {
        self.footer.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::format::{Direction, Verdict};

    fn header() -> Line {
        Line {
            t_us: 0,
            record: Record::Header(Header {
                format: FORMAT.into(),
                version: VERSION,
                protocol_version: 1,
                session_id: "s".into(),
                app: "a".into(),
                app_dir: "/a".into(),
                manifest_sha256: "m".into(),
                core_sha256: "c".into(),
                started_unix_ms: 1,
            }),
        }
    }

    fn message() -> Line {
        Line {
            t_us: 5,
            record: Record::Message {
                direction: Direction::UiToCore,
                class: "ui-event".into(),
                message_type: "increment".into(),
                sequence: 1,
                size: 17,
                coalesce_key: None,
                payload: Some("{\"by\":1}".into()),
                verdict: Verdict::Admitted { forwarded_sequence: Some(1) },
            },
        }
    }

    fn footer() -> Line {
        Line {
            t_us: 9,
            record: Record::Footer(Footer {
                end_reason: "app-closed".into(),
                detail: String::new(),
                unconfirmed_ui_events: 0,
                undelivered_state_updates: 0,
                records: 1,
                dropped: 0,
            }),
        }
    }

    fn file(lines: &[Line], tail: &str) -> tempfile::NamedTempFile {
        let mut text: String = lines.iter().map(|l| serde_json::to_string(l).expect("json") + "\n").collect();
        text.push_str(tail);
        let f = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    #[test]
    fn a_complete_recording_round_trips() {
        let f = file(&[header(), message(), footer()], "");
        let r = Recording::load(f.path()).expect("loads");
        assert_eq!(r.lines, vec![message()]);
        assert_eq!(r.footer.end_reason, "app-closed");
        let text = std::fs::read_to_string(f.path()).expect("read");
        assert!(text.contains(r#""kind":"message","direction":"ui-to-core","class":"ui-event""#), "{text}");
        assert!(text.contains(r#""verdict":"admitted","forwarded_sequence":1"#), "{text}");
    }

    #[test]
    fn broken_files_are_explained() {
        let err = |f: &tempfile::NamedTempFile| Recording::load(f.path()).expect_err("refused").to_string();
        assert!(err(&file(&[], "")).contains("empty file"));
        assert!(err(&file(&[header(), message()], "")).contains("truncated after line 2: no footer"));
        assert!(err(&file(&[header(), message()], "{\"t_us\":7,\"kind\":\"mess")).contains("the last line is cut"));
        assert!(err(&file(&[header()], "{\"t_us\":7,\"kind\":\"nope\"}\n")).contains(":2: not a recording record"));
        assert!(err(&file(&[message(), footer()], "")).contains(":1: not a weft-recording"));
        assert!(err(&file(&[header(), footer(), message()], "")).contains(":3: a record after the footer"));
    }
}
