//! The records of a session recording, one JSON object per line (`docs/recording.md`).
//!
//! Every line has a `kind` and a time `t_us`. The first line is a [`Header`], the last a
//! [`Footer`]; between them, in the order the broker saw them, one [`Record`] per line.

use serde::{Deserialize, Serialize};

/// The `format` field of every header.
pub const FORMAT: &str = "weft-recording";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// One line of a recording: when, and what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Microseconds since the session started (monotonic clock; 0 for the header).
    pub t_us: u64,
    /// What happened.
    #[serde(flatten)]
    pub record: Record,
}

/// What the recording is of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The wire protocol version of the session.
    pub protocol_version: u32,
    /// The session.
    pub session_id: String,
    /// The app's name.
    pub app: String,
    /// The app directory when recorded.
    pub app_dir: String,
    /// SHA-256 (hex) of the app's `weft.toml`.
    pub manifest_sha256: String,
    /// SHA-256 (hex) of the app's `core.wasm`.
    pub core_sha256: String,
    /// Wall clock at the session's start (the zero of every `t_us`), Unix milliseconds.
    pub started_unix_ms: u64,
}

/// Which way a message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// A UI event, page → core.
    UiToCore,
    /// A state update, core → page.
    CoreToUi,
}

/// What the broker did with a message at this point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Arrived and passed validation; `forwarded_sequence` is its sequence toward the core
    /// (UI events; state updates get theirs on delivery).
    Admitted {
        /// The sequence the broker assigned toward the core (UI events only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forwarded_sequence: Option<u64>,
    },
    /// Arrived and was refused; the rejection's stable name.
    Rejected {
        /// The reason code (`schema-mismatch`, …).
        rejection: String,
        /// The explanation.
        detail: String,
    },
    /// Arrived and broke the framing rules: the session ends as `protocol-violation`.
    Violation {
        /// The explanation.
        detail: String,
    },
    /// Left the broker toward its receiver with `delivered_sequence`.
    Delivered {
        /// The receiver-facing sequence.
        delivered_sequence: u64,
    },
    /// Replaced in the broker's state queue by the newer update `replaced_by` (same type and
    /// key) before the page took it.
    Coalesced {
        /// The ingress sequence of the update that replaced it.
        replaced_by: u64,
    },
}

/// One record: the header, something the broker saw or did, or the footer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Record {
    /// The first line.
    Header(Header),
    /// A message, at ingress (verdict `admitted`, `rejected`, `violation`, with its payload) or
    /// later (`delivered`, `coalesced`, without). `sequence` is always the sender's.
    Message {
        /// Which way.
        direction: Direction,
        /// `ui-event` or `state-update`.
        class: String,
        /// The message type.
        message_type: String,
        /// The sender's sequence.
        sequence: u64,
        /// Type + payload + key bytes.
        size: u64,
        /// The coalescing key, if any (at ingress).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        coalesce_key: Option<String>,
        /// The payload as JSON text (at ingress).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
        /// What the broker did.
        #[serde(flatten)]
        verdict: Verdict,
    },
    /// The core confirmed `confirmed` UI events (and granted that much credit): the end of one
    /// of its turns. Every state update the core flushed in that turn arrived before this.
    CoreCredit {
        /// Messages granted.
        messages: u32,
        /// Bytes granted.
        bytes: u64,
        /// Outstanding UI events this confirmed.
        confirmed: u32,
    },
    /// The page granted credit for state updates.
    PageCredit {
        /// Messages granted.
        messages: u32,
        /// Bytes granted.
        bytes: u64,
    },
    /// A new document of the app's UI attached; the core was told (`page-attached`).
    PageAttached,
    /// A new core took the session over (`swap-core`): from here the core's sequences start at
    /// 1 again and its updates are the new core's. It replayed the `carried_ui_events` UI
    /// events delivered before this, so it started with the old core's state.
    CoreSwapped {
        /// UI events the new core replayed.
        carried_ui_events: u64,
        /// Why none were carried, when none were (the new core started afresh).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        not_carried: String,
    },
    /// A lifecycle report from the core (`ready`, `event-failed`, `trapped`, …).
    Lifecycle {
        /// The report.
        report: String,
        /// Its detail, if any.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// The recorder could not keep up and left out `count` records here.
    Dropped {
        /// Records left out.
        count: u64,
    },
    /// The last line.
    Footer(Footer),
}

/// How the session ended and whether the recording is complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    /// The end reason code.
    pub end_reason: String,
    /// Its explanation.
    pub detail: String,
    /// Admitted UI events the core had not confirmed.
    pub unconfirmed_ui_events: u64,
    /// Accepted state updates that never reached the page.
    pub undelivered_state_updates: u64,
    /// Records written between header and footer.
    pub records: u64,
    /// Records the recorder left out because it could not keep up (0: complete).
    pub dropped: u64,
}
