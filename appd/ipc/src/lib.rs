//! The WEFT wire protocol: every message that crosses a WEFT process boundary.
//!
//! **Architecture invariant:** only this crate knows the serialisation format and imports
//! `ipc-channel`. The daemon, the core host, the shell and the test UI peer all speak through
//! the types and the transport defined here.
//!
//! - [`envelope`]: the versioned message envelope and its classes.
//! - [`frames`]: the frames of the two session streams (UI ↔ broker, core ↔ broker),
//!   including handshakes, credits, verdicts and session end.
//! - [`reason`]: why a session ended, as stable reason codes.
//! - [`rejection`]: why one message was refused, as stable error names.
//! - [`credit`]: the credit window that bounds every stream.
//! - [`transport`]: bootstrap, non-blocking outboxes and readers over `ipc-channel`.
//! - [`ui_client`]: the UI side of a session, shared by the shell and the test UI peer.
//! - [`forge`]: raw datagrams as a hostile peer writes them (tests and fuzzing only).

pub mod credit;
pub mod envelope;
pub mod forge;
pub mod frames;
pub mod last_words;
pub mod log_filter;
pub mod reason;
pub mod rejection;
pub mod transport;
pub mod ui_client;

/// The protocol version spoken by this build. Both handshakes carry it; a peer speaking
/// another version is refused before any message is exchanged.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest message (type + payload + coalescing key, in bytes) any app may declare.
/// Large binary payloads are out of scope for the control channel.
pub const MAX_MESSAGE_BYTES_CEILING: u32 = 64 * 1024;

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut. For putting text
/// that crossed a process boundary into logs and error details.
pub fn truncated(s: &str, max: usize) -> String {
    match truncate_at_char_boundary(s, max) {
        (whole, false) => whole.to_owned(),
        (cut, true) => format!("{cut}…"),
    }
}

/// The longest prefix of `text` of at most `max` bytes ending on a character boundary, and
/// whether anything was cut.
pub fn truncate_at_char_boundary(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// Compares a presented secret with the expected one without an early exit on the first
/// differing byte (the time depends only on the lengths).
pub fn same_secret(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len()
        && presented.bytes().zip(expected.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it. Every WEFT mutex
/// guards state whose invariants hold between statements, so the data is consistent and the
/// process goes on (a panic on a peer's bytes must not take its neighbours down).
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Returns `n` bytes of OS randomness as lowercase hex (session ids and secrets).
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(super::truncated("abc", 3), "abc");
        assert_eq!(super::truncated("abcd", 3), "abc…");
        assert_eq!(super::truncated("aé", 2), "a…");
    }
}
