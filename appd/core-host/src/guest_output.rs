//! Everything the core writes that is not a state update: its `log` import and its WASI
//! stdout/stderr. All of it goes to the session log (tracing, target `weft_core`), never to
//! the page, and all of it is bounded:
//!
//! - each line is cut at [`MAX_LINE_BYTES`];
//! - each guest call may log at most [`MAX_LINES_PER_CALL`] lines / [`MAX_BYTES_PER_CALL`]
//!   bytes; the rest is counted and reported once, so a core that logs in a loop cannot flood
//!   the daemon's log;
//! - writes to stdout/stderr never fail and never block (excess is discarded), so output can
//!   neither trap the core nor grow host memory.
//!
//! The last few lines of stderr are kept so that a trap report can say what the core printed
//! just before it died (a Rust guest prints its panic message there before it aborts).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest logged line, in bytes; longer ones are cut (at a character boundary).
pub const MAX_LINE_BYTES: usize = 1024;
/// Most lines one guest call may log.
pub const MAX_LINES_PER_CALL: u32 = 256;
/// Most bytes one guest call may log.
pub const MAX_BYTES_PER_CALL: usize = 64 * 1024;
/// How much of the end of stderr is kept for trap reports.
const STDERR_TAIL_BYTES: usize = 2048;
/// How much a stream accepts per write permit (writes never wait).
const WRITE_PERMIT: usize = 64 * 1024;

/// Where a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Log,
    Stdout,
    Stderr,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Log => "log",
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    lines_left: u32,
    bytes_left: usize,
    suppressed: u64,
    /// Unterminated output of stdout (0) and stderr (1), at most `MAX_LINE_BYTES` + 1 bytes.
    partial: [Vec<u8>; 2],
    stderr_tail: VecDeque<u8>,
}

/// The core's log sink, shared by the `log` import and the WASI stdout/stderr streams.
#[derive(Clone, Debug)]
pub struct GuestLog {
    state: Arc<Mutex<State>>,
}

impl Default for GuestLog {
    fn default() -> Self {
        GuestLog::new()
    }
}

impl GuestLog {
    /// Creates a sink with a full budget.
    pub fn new() -> GuestLog {
        let log = GuestLog { state: Arc::new(Mutex::new(State::default())) };
        log.lock().refill();
        log
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that
        // matters for logging; keep going.
        weft_ipc::lock(&self.state)
    }

    /// Starts a guest call: refills the budget.
    pub fn start_call(&self) {
        self.lock().refill();
    }

    /// Ends a guest call: logs unterminated output and what the budget suppressed.
    pub fn end_call(&self) {
        let mut state = self.lock();
        for (i, source) in [Source::Stdout, Source::Stderr].into_iter().enumerate() {
            let rest = std::mem::take(&mut state.partial[i]);
            if !rest.is_empty() {
                state.emit(source, &rest);
            }
        }
        if state.suppressed > 0 {
            tracing::warn!(
                target: "weft_core",
                suppressed_lines = state.suppressed,
                "core log output over budget for one call; lines suppressed"
            );
            state.suppressed = 0;
        }
    }

    /// Logs one message from the `log` import.
    pub fn log(&self, message: &str) {
        self.lock().emit(Source::Log, message.as_bytes());
    }

    /// A stream for the core's WASI stdout.
    pub fn stdout(&self) -> GuestStream {
        GuestStream { log: self.clone(), source: Source::Stdout }
    }

    /// A stream for the core's WASI stderr.
    pub fn stderr(&self) -> GuestStream {
        GuestStream { log: self.clone(), source: Source::Stderr }
    }

    /// The last lines the core wrote to stderr (up to about 2 KiB), trimmed.
    pub fn stderr_tail(&self) -> String {
        let state = self.lock();
        let bytes: Vec<u8> = state.stderr_tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).trim().to_owned()
    }

    fn write(&self, source: Source, bytes: &[u8]) {
        let mut state = self.lock();
        let slot = usize::from(source == Source::Stderr);
        if source == Source::Stderr {
            state.stderr_tail.extend(bytes.iter().copied());
            let excess = state.stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
            state.stderr_tail.drain(..excess);
        }
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut state.partial[slot]);
            append_bounded(&mut line, &rest[..newline]);
            state.emit(source, &line);
            rest = &rest[newline + 1..];
        }
        append_bounded(&mut state.partial[slot], rest);
    }
}

/// Appends at most what keeps `buf` one byte over `MAX_LINE_BYTES` (enough to know it was cut).
fn append_bounded(buf: &mut Vec<u8>, bytes: &[u8]) {
    let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

pub use weft_ipc::truncate_at_char_boundary;

impl State {
    fn refill(&mut self) {
        self.lines_left = MAX_LINES_PER_CALL;
        self.bytes_left = MAX_BYTES_PER_CALL;
    }

    fn emit(&mut self, source: Source, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return;
        }
        let (line, cut) = truncate_at_char_boundary(text, MAX_LINE_BYTES);
        if self.lines_left == 0 || self.bytes_left < line.len() {
            self.lines_left = 0;
            self.suppressed += 1;
            return;
        }
        self.lines_left -= 1;
        self.bytes_left -= line.len();
        let marker = if cut { " [truncated]" } else { "" };
        tracing::info!(target: "weft_core", stream = source.as_str(), "{line}{marker}");
    }
}

/// The core's stdout or stderr: every write is accepted at once and goes to the [`GuestLog`].
#[derive(Clone, Debug)]
pub struct GuestStream {
    log: GuestLog,
    source: Source,
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.log.write(self.source, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for GuestStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.log.write(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_at_char_boundary("abc", 3), ("abc", false));
        assert_eq!(truncate_at_char_boundary("abcd", 3), ("abc", true));
        // "é" is two bytes: cutting inside it backs off to the boundary before it.
        assert_eq!(truncate_at_char_boundary("aé", 2), ("a", true));
    }

    #[test]
    fn stderr_tail_keeps_the_end_and_partial_lines() {
        let log = GuestLog::new();
        log.start_call();
        let mut err = log.stderr();
        for i in 0..500 {
            OutputStream::write(&mut err, bytes::Bytes::from(format!("line {i}\n"))).expect("write");
        }
        OutputStream::write(&mut err, bytes::Bytes::from_static(b"panicked at x")).expect("write");
        let tail = log.stderr_tail();
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.ends_with("line 499\npanicked at x"), "{tail}");
        log.end_call();
    }

    #[test]
    fn budget_suppresses_and_refills() {
        let log = GuestLog::new();
        log.start_call();
        for _ in 0..MAX_LINES_PER_CALL + 10 {
            log.log("x");
        }
        assert_eq!(log.lock().suppressed, 10);
        log.end_call();
        assert_eq!(log.lock().suppressed, 0);
        log.start_call();
        assert_eq!(log.lock().lines_left, MAX_LINES_PER_CALL);
    }

    #[test]
    fn long_lines_are_bounded_in_memory() {
        let log = GuestLog::new();
        let mut out = log.stdout();
        let chunk = bytes::Bytes::from(vec![b'a'; 10_000]);
        for _ in 0..100 {
            OutputStream::write(&mut out, chunk.clone()).expect("write");
        }
        assert_eq!(log.lock().partial[0].len(), MAX_LINE_BYTES + 1);
    }
}
