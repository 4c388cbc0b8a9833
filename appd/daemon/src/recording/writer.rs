//! The session recorder: a dedicated thread writes the records; the broker never waits for it.
//!
//! The broker's thread hands each record over with a non-blocking send into a bounded queue
//! (at most [`QUEUE_RECORDS`] records and [`QUEUE_BYTES`] bytes of payload). If the writer
//! cannot keep up (a slow disk, a pipe nobody reads), records are left out and counted: the
//! writer marks the gap with a `dropped` line where it happened and the footer gives the total.
//! The session is never slowed and memory never grows beyond the bound.

use super::format::{Footer, Header, Line, Record};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Records that may wait for the writer thread.
pub const QUEUE_RECORDS: usize = 4096;
/// Bytes (payloads and types) that may wait for the writer thread.
pub const QUEUE_BYTES: u64 = 8 * 1024 * 1024;
/// Bytes counted for a record besides its payload and type.
const RECORD_OVERHEAD: u64 = 128;

/// A recording's progress, as shown by `weft-appd status --json` (`recording`).
#[derive(Clone, Debug, Serialize)]
pub struct RecordingStatus {
    /// The file.
    pub path: String,
    /// Records written so far.
    pub records: u64,
    /// Records left out because the writer could not keep up.
    pub dropped: u64,
}

/// Counters shared by the session's threads and the writer thread.
#[derive(Default)]
struct Shared {
    written: AtomicU64,
    dropped: AtomicU64,
    waiting_bytes: AtomicU64,
    footer: Mutex<Option<Line>>,
}

/// Records one session into a file; see the module documentation.
pub struct Recorder {
    sender: Option<SyncSender<Line>>,
    shared: Arc<Shared>,
    started: Instant,
    finished: Receiver<()>,
    path: PathBuf,
}

impl Recorder {
    /// Creates (or truncates) `path`, writes `header` as its first line and starts the writer
    /// thread. `started` is the zero of every record's time.
    pub fn create(path: &Path, header: &Header, started: Instant) -> io::Result<Recorder> {
        let mut file = BufWriter::new(File::create(path)?);
        write_line(&mut file, &Line { t_us: 0, record: Record::Header(header.clone()) })?;
        file.flush()?;
        let (sender, receiver) = mpsc::sync_channel(QUEUE_RECORDS);
        let (finished_tx, finished) = mpsc::sync_channel(1);
        let shared = Arc::new(Shared::default());
        let writer_shared = shared.clone();
        let shown = path.display().to_string();
        thread::Builder::new().name("weft-recorder".into()).spawn(move || {
            write_all(file, &receiver, &writer_shared, &shown);
            let _ = finished_tx.send(());
        })?;
        Ok(Recorder { sender: Some(sender), shared, started, finished, path: path.to_path_buf() })
    }

    /// Hands one record to the writer without waiting; counts it as dropped if the queue is full.
    pub fn record(&self, now: Instant, record: Record) {
        let Some(sender) = &self.sender else { return };
        let cost = cost(&record);
        let waiting = self.shared.waiting_bytes.fetch_add(cost, Ordering::Relaxed);
        if waiting + cost > QUEUE_BYTES {
            self.drop_one(cost);
            return;
        }
        let line = Line { t_us: now.saturating_duration_since(self.started).as_micros() as u64, record };
        match sender.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.drop_one(cost),
        }
    }

    fn drop_one(&self, cost: u64) {
        self.shared.waiting_bytes.fetch_sub(cost, Ordering::Relaxed);
        if self.shared.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(path = %self.path.display(), "the recorder cannot keep up: leaving records out");
        }
    }

    /// How far the recording got.
    pub fn status(&self) -> RecordingStatus {
        RecordingStatus {
            path: self.path.display().to_string(),
            records: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }

    /// Ends the recording at `now` with `footer` (its `records` and `dropped` are filled in by
    /// the writer) and waits up to `timeout` for the file to be complete; returns the final
    /// counts.
    pub fn finish(mut self, now: Instant, footer: Footer, timeout: Duration) -> RecordingStatus {
        let t_us = now.saturating_duration_since(self.started).as_micros() as u64;
        *weft_ipc::lock(&self.shared.footer) = Some(Line { t_us, record: Record::Footer(footer) });
        // Closing the queue tells the writer to drain it and write the footer.
        self.sender = None;
        let done = self.finished.recv_timeout(timeout).is_ok();
        let status = self.status();
        if done {
            tracing::info!(path = %status.path, records = status.records, dropped = status.dropped, "recording complete");
        } else {
            tracing::warn!(path = %status.path, "the recording is still being written; not waiting any longer");
        }
        status
    }
}

/// The bytes a waiting record is charged for.
fn cost(record: &Record) -> u64 {
    match record {
        Record::Message { payload, message_type, .. } => {
            RECORD_OVERHEAD + payload.as_ref().map_or(0, |p| p.len() as u64) + message_type.len() as u64
        }
        Record::Lifecycle { detail, .. } => RECORD_OVERHEAD + detail.len() as u64,
        _ => RECORD_OVERHEAD,
    }
}

fn write_line(out: &mut impl Write, line: &Line) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The writer thread: drains the queue (flushing whenever it runs dry), marks gaps, then
/// writes the footer once the queue is closed.
fn write_all(mut file: BufWriter<File>, receiver: &Receiver<Line>, shared: &Shared, path: &str) {
    let mut reported_dropped = 0;
    let mut failed = false;
    let mut last_t = 0;
    let emit = |file: &mut BufWriter<File>, line: &Line, failed: &mut bool| {
        if *failed {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match write_line(file, line) {
            Ok(()) => {
                shared.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(path, error = %e, "cannot write the recording; leaving the rest out");
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                *failed = true;
            }
        }
    };
    loop {
        let line = match receiver.try_recv() {
            Ok(line) => line,
            Err(TryRecvError::Empty) => {
                if !failed && file.flush().is_err() {
                    failed = true;
                }
                match receiver.recv() {
                    Ok(line) => line,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        shared.waiting_bytes.fetch_sub(cost(&line.record), Ordering::Relaxed);
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped > reported_dropped && !failed {
            let count = dropped - reported_dropped;
            reported_dropped = dropped;
            emit(&mut file, &Line { t_us: line.t_us, record: Record::Dropped { count } }, &mut failed);
        }
        last_t = line.t_us;
        emit(&mut file, &line, &mut failed);
    }
    let dropped = shared.dropped.load(Ordering::Relaxed);
    if dropped > reported_dropped {
        emit(
            &mut file,
            &Line { t_us: last_t, record: Record::Dropped { count: dropped - reported_dropped } },
            &mut failed,
        );
    }
    let footer = weft_ipc::lock(&shared.footer).take();
    if let Some(mut line) = footer {
        if let Record::Footer(footer) = &mut line.record {
            footer.records = shared.written.load(Ordering::Relaxed);
            footer.dropped = shared.dropped.load(Ordering::Relaxed);
        }
        line.t_us = line.t_us.max(last_t);
        if !failed && write_line(&mut file, &line).and_then(|()| file.flush()).is_err() {
            tracing::error!(path, "cannot write the recording's footer");
        }
    }
}
