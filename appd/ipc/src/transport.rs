//! The transport under every session endpoint: `ipc-channel` wrapped once.
//!
//! What `ipc-channel` does not give, this module adds:
//! - **No blocking sends from protocol logic.** An [`Outbox`] queues frames, bounded, for its
//!   writer thread; callers learn at once if the queue is full. Toward appd (which always
//!   reads) a small batch is written on the caller's thread when nothing is queued, saving a
//!   thread hand-off on a message's path (the argument is on [`Outbox`]). Credits keep what
//!   is in flight far below a socket buffer, so the writer does not stall on a peer that
//!   follows the protocol.
//! - **Batching.** The writer drains everything queued into one IPC message.
//! - **Accept with a deadline.** [`Listener::accept`] gives up if the child never connects
//!   (`IpcOneShotServer::accept` alone would hang forever).
//! - **Bootstrap off the command line.** A child learns where to connect and its secret from
//!   one JSON line on its stdin ([`Bootstrap`]); argv is readable by every local user.

use crate::envelope::SessionId;
use crate::lock;
use ipc_channel::ipc::{self, IpcMessage, IpcOneShotServer, IpcReceiver, IpcSender};
use ipc_channel::IpcError;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// Most frames the writer packs into one IPC message.
const MAX_BATCH: usize = 256;

/// The environment variable naming the UI process's private directory: owner-only, made by
/// appd for the session and removed with its contents when the UI exits. The confined shell
/// writes nowhere else.
pub const PRIVATE_DIR_ENV: &str = "WEFT_PRIVATE_DIR";

/// Errors of the transport layer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The OS refused to create or connect a channel.
    #[error("ipc i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer is gone.
    #[error("peer disconnected")]
    Disconnected,
    /// Bytes arrived that do not decode as a frame.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer did not connect or answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The bootstrap line was missing or invalid.
    #[error("bad bootstrap: {0}")]
    Bootstrap(String),
    /// The peer's handshake was refused.
    #[error("handshake refused: {0}")]
    Handshake(String),
}

impl From<IpcError> for TransportError {
    fn from(e: IpcError) -> Self {
        match e {
            IpcError::Disconnected => TransportError::Disconnected,
            IpcError::Io(io) if breaks_framing(&io) => TransportError::Malformed(framing_detail(&io)),
            IpcError::Io(io) => TransportError::Io(io),
            IpcError::SerializationError(s) => TransportError::Malformed(s.to_string()),
        }
    }
}

/// Whether a receive error means the peer's datagram broke `ipc-channel`'s framing: WEFT's
/// patched `ipc-channel` answers a forged header or descriptor with `EBADMSG`
/// (`patches/ipc-channel-0.23.1/`), which is the peer's fault, not a lost connection.
fn breaks_framing(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EBADMSG)
}

fn framing_detail(e: &std::io::Error) -> String {
    format!("a datagram that breaks ipc-channel's framing ({e})")
}

/// What a child process needs to join its session: read from stdin, never from argv.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// The one-shot server to connect to.
    pub server_name: String,
    /// The session to claim.
    pub session_id: SessionId,
    /// The per-endpoint secret that proves this process was launched by appd.
    pub secret: String,
}

impl Bootstrap {
    /// Writes the bootstrap as one JSON line (e.g. into a child's stdin).
    pub fn write_to(&self, mut w: impl Write) -> Result<(), TransportError> {
        let line = serde_json::to_string(self).map_err(|e| TransportError::Bootstrap(e.to_string()))?;
        writeln!(w, "{line}")?;
        w.flush()?;
        Ok(())
    }

    /// Reads the bootstrap line from a reader (a child's stdin).
    pub fn read_from(r: impl BufRead) -> Result<Bootstrap, TransportError> {
        let mut line = String::new();
        let mut limited = r.take(4096);
        limited.read_line(&mut line)?;
        if line.trim().is_empty() {
            return Err(TransportError::Bootstrap("no bootstrap line on stdin".into()));
        }
        serde_json::from_str(line.trim()).map_err(|e| TransportError::Bootstrap(e.to_string()))
    }
}

thread_local! {
    /// While this thread decodes a handshake (the first message of a [`Listener`]): the index
    /// the next channel named in it must have. `None` everywhere else: no other message may hand
    /// over a channel.
    static HANDSHAKE_CHANNELS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Deserializes the sender a `Hello` frame hands to the broker (`#[serde(deserialize_with)]`).
///
/// On the wire a channel is an index into the file descriptors attached to the message. Only the
/// handshake may hand one over, each named once in order (0, 1, ...); a lookup that still fails
/// (fewer channels attached than named) is a decoding error. (Unpatched, ipc-channel 0.23.1
/// looked the index up without a bounds check and panicked, or handed out a sender on fd -1 for
/// a channel named twice; WEFT's patch makes both an error, and the `catch_unwind` below stays
/// as a backstop should a release without that patch be used.)
pub(crate) fn deserialize_peer_sender<'de, D, T>(deserializer: D) -> Result<IpcSender<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let index = usize::deserialize(deserializer)?;
    let Some(due) = HANDSHAKE_CHANNELS.get() else {
        return Err(D::Error::custom("a frame hands over a channel outside the handshake"));
    };
    if index != due {
        return Err(D::Error::custom(format!("the handshake names channel {index} where channel {due} is due")));
    }
    HANDSHAKE_CHANNELS.set(Some(due + 1));
    panic::catch_unwind(|| IpcSender::<T>::deserialize(serde::de::value::UsizeDeserializer::<D::Error>::new(index)))
        .unwrap_or_else(|_| Err(D::Error::custom(format!("the handshake names channel {index}, not attached"))))
}

/// Runs `decode` with channels accepted as in a handshake (see [`deserialize_peer_sender`]).
fn decoding_handshake<R>(decode: impl FnOnce() -> R) -> R {
    HANDSHAKE_CHANNELS.set(Some(0));
    let result = decode();
    HANDSHAKE_CHANNELS.set(None);
    result
}

/// Decodes the bytes of one IPC message as a batch of `T`, with exactly the deserializer a
/// reader thread runs on every message it receives (`ipc-channel`'s), and no channels or
/// shared memory attached. For fuzzing and tests: it is how a peer's forged bytes are decoded.
pub fn decode_batch<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, TransportError> {
    IpcMessage::from_data(bytes.to_vec()).to::<Vec<T>>().map_err(|e| TransportError::Malformed(e.to_string()))
}

/// The two ends of a channel whose messages are batches of `T`.
pub type BatchChannel<T> = (IpcSender<Vec<T>>, IpcReceiver<Vec<T>>);

/// The receiving end of a channel whose messages are batches of `T` (for a reader thread).
pub type BatchReceiver<T> = IpcReceiver<Vec<T>>;
/// The sending end of a channel of frame batches.
pub type BatchSender<T> = IpcSender<Vec<T>>;

/// Creates a fresh channel whose messages are batches of `T`.
pub fn channel<T: Serialize + DeserializeOwned>() -> Result<BatchChannel<T>, TransportError> {
    Ok(ipc::channel()?)
}

/// Connects to a one-shot server by name.
pub fn connect<T: Serialize + DeserializeOwned>(server_name: &str) -> Result<IpcSender<Vec<T>>, TransportError> {
    Ok(IpcSender::connect(server_name.to_owned())?)
}

/// A one-shot server that one child connects to.
pub struct Listener<T> {
    server: IpcOneShotServer<Vec<T>>,
    name: String,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Listener<T> {
    /// Creates the server; hand [`Listener::name`] to the child.
    pub fn new() -> Result<Listener<T>, TransportError> {
        let (server, name) = IpcOneShotServer::new()?;
        Ok(Listener { server, name })
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits up to `timeout` for the child to connect; returns its receiver and first batch.
    /// `gave_up` is polled every 50 ms so the caller can abandon early (e.g. the child died).
    pub fn accept(
        self,
        timeout: Duration,
        gave_up: impl Fn() -> bool,
    ) -> Result<(IpcReceiver<Vec<T>>, Vec<T>), TransportError> {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let name = self.name.clone();
        let server = self.server;
        thread::Builder::new().name("weft-accept".into()).spawn(move || {
            // A backstop: unpatched, ipc-channel's checks on attached channels panicked on some
            // forged messages (patches/ipc-channel-0.23.1 makes them errors).
            let accepted = match panic::catch_unwind(AssertUnwindSafe(|| decoding_handshake(|| server.accept()))) {
                Ok(accepted) => accepted.map_err(TransportError::from),
                Err(_) => Err(TransportError::Malformed("the handshake decoder panicked".into())),
            };
            let _ = done_tx.send(accepted);
        })?;
        let started = std::time::Instant::now();
        loop {
            match done_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(result) => return result,
                Err(RecvTimeoutError::Disconnected) => return Err(TransportError::Disconnected),
                Err(RecvTimeoutError::Timeout) => {
                    if started.elapsed() >= timeout || gave_up() {
                        // Unblock the accept thread by connecting ourselves, then drop it all.
                        if let Ok(tx) = IpcSender::<Vec<T>>::connect(name) {
                            let _ = tx.send(Vec::new());
                        }
                        return Err(TransportError::Timeout(started.elapsed()));
                    }
                }
            }
        }
    }
}

/// Why an outbox refused a frame.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// The bounded queue is full: the peer is not keeping up (or ignores credits).
    #[error("outbox full")]
    Full,
    /// The writer stopped: the peer is gone.
    #[error("outbox closed")]
    Closed,
}

/// An estimate of a frame's encoded size, used to keep sends on the caller's thread small
/// (see [`Outbox`]). It need not be exact; it must grow with the frame's variable parts.
pub trait WireSize {
    /// About how many bytes the frame takes on the wire.
    fn wire_size(&self) -> usize;
}

/// Largest batch, by [`WireSize`], that an [`Outbox`] writes on the caller's thread.
///
/// Far below one socket buffer (ipc-channel sends a message in one datagram up to about the
/// socket's send buffer, 208 KiB by default; only bigger ones take a second channel and wait
/// for the reader), so such a write completes at once unless the buffer is already full.
pub const INLINE_MAX_BYTES: usize = 32 * 1024;

/// A non-blocking sender with a bounded queue and a writer thread behind it.
///
/// **How it writes** ([`Writes`]). The writer thread drains the bounded queue, many frames to
/// one IPC message, and is the only thread that can stall on a slow peer; a full queue is
/// reported (`Full`) and the caller ends the session. An outbox toward appd may also write on
/// the caller's thread ([`Writes::CallerWhenIdle`]): when nothing is queued and nothing is
/// being written, a small batch (at most [`INLINE_MAX_BYTES`]) is written at once, without the
/// thread hand-off that costs more than the write itself on a message's path. Order is kept:
/// one write at a time, and a caller writes itself only when the queue is empty.
///
/// **Why only toward appd.** ipc-channel has no non-blocking send, so a write waits while the
/// peer's socket buffer is full. appd's reader threads always read: they run the broker on
/// each message and queue what it produced, never waiting on a peer (appd's own outboxes are
/// [`Writes::Queued`]). So a child's write waits only as long as appd is busy, or stopped,
/// when the child has nothing else to do; and if appd dies the write fails at once. The other
/// way round a stopped child (a SIGSTOPped core host) would stall the appd thread writing to it,
/// which holds the session's broker, and the watchdog with it.
///
/// The caller must not be the thread that reads the peer's answers (each WEFT endpoint reads
/// on its own reader thread): a write into a full socket would wait on itself.
pub struct Outbox<T> {
    shared: Arc<OutboxShared<T>>,
}

/// Which threads an [`Outbox`] writes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// Only its writer thread: the caller never waits on the peer (appd toward its children).
    Queued,
    /// The caller's thread too, for a small batch when nothing is queued (children toward
    /// appd, which always reads; see [`Outbox`]).
    CallerWhenIdle,
}

/// What an outbox's handles and its writer thread share.
struct OutboxShared<T> {
    state: Mutex<OutboxState<T>>,
    /// Signalled when the writer may have work (frames queued, a write finished, a handle
    /// dropped).
    work: Condvar,
    /// Signalled when the queue gets room (or the outbox closes).
    room: Condvar,
    /// The IPC sender, locked only by whoever holds `OutboxState::writing` (`None`: closed).
    sender: Mutex<Option<IpcSender<Vec<T>>>>,
    capacity: usize,
    writes: Writes,
}

/// The part of an outbox behind its lock.
struct OutboxState<T> {
    queue: VecDeque<T>,
    /// A write is in progress (by the writer thread or a caller).
    writing: bool,
    /// A write failed: the peer is gone.
    closed: bool,
    /// Live [`Outbox`] handles; at zero the writer writes what is queued and finishes.
    handles: usize,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.state).handles += 1;
        Outbox { shared: self.shared.clone() }
    }
}

impl<T> Drop for Outbox<T> {
    fn drop(&mut self) {
        lock(&self.shared.state).handles -= 1;
        self.shared.work.notify_all();
    }
}

/// Tells when an outbox's writer thread has finished: every handle dropped and every queued
/// frame written (or the peer gone).
pub struct Drained {
    done: mpsc::Receiver<()>,
}

impl Drained {
    /// Waits up to `timeout`; `true` once the writer has finished.
    pub fn wait(&self, timeout: Duration) -> bool {
        matches!(self.done.recv_timeout(timeout), Err(RecvTimeoutError::Disconnected))
    }
}

impl<T: Serialize + DeserializeOwned + WireSize + Send + 'static> Outbox<T> {
    /// Starts the writer thread. `capacity` bounds the frames waiting to be written.
    pub fn spawn(
        name: &str,
        sender: IpcSender<Vec<T>>,
        capacity: usize,
        writes: Writes,
    ) -> Result<Outbox<T>, TransportError> {
        Self::spawn_drained(name, sender, capacity, writes).map(|(outbox, _)| outbox)
    }

    /// Like [`Outbox::spawn`], with a [`Drained`] to wait for the writer to finish once every
    /// handle is dropped (for a process that must get its last frames out before exiting).
    pub fn spawn_drained(
        name: &str,
        sender: IpcSender<Vec<T>>,
        capacity: usize,
        writes: Writes,
    ) -> Result<(Outbox<T>, Drained), TransportError> {
        let shared = Arc::new(OutboxShared::new(Some(sender), capacity, writes, false));
        let (finished, done) = mpsc::channel::<()>();
        let writer = shared.clone();
        thread::Builder::new().name(format!("weft-out-{name}")).spawn(move || {
            // Dropped when this thread ends, which disconnects `Drained`.
            let _finished = finished;
            writer.write_until_done();
        })?;
        Ok((Outbox { shared }, Drained { done }))
    }

    /// An outbox that refuses every frame (`Closed`); replacing a live one with it drops the
    /// live one's handle, so its writer finishes once it has written what it holds.
    pub fn closed() -> Outbox<T> {
        Outbox { shared: Arc::new(OutboxShared::new(None, 0, Writes::Queued, true)) }
    }

    /// Sends a frame without blocking on a slow peer (see the type's documentation).
    pub fn try_send(&self, frame: T) -> Result<(), OutboxError> {
        self.try_send_all(vec![frame])
    }

    /// Sends frames, in order, as one batch if they can go at once; all of them or none
    /// (`Full`). Without blocking on a slow peer (see the type's documentation).
    pub fn try_send_all(&self, frames: Vec<T>) -> Result<(), OutboxError> {
        if frames.is_empty() {
            return Ok(());
        }
        let shared = &*self.shared;
        let mut state = lock(&shared.state);
        if state.closed {
            return Err(OutboxError::Closed);
        }
        let idle = state.queue.is_empty() && !state.writing && shared.writes == Writes::CallerWhenIdle;
        if idle && frames.iter().map(WireSize::wire_size).sum::<usize>() <= INLINE_MAX_BYTES {
            state.writing = true;
            drop(state);
            let written = shared.write(frames);
            return if written { Ok(()) } else { Err(OutboxError::Closed) };
        }
        if state.queue.len() + frames.len() > shared.capacity {
            return Err(OutboxError::Full);
        }
        state.queue.extend(frames);
        drop(state);
        shared.work.notify_all();
        Ok(())
    }

    /// Queues a terminal frame (a session's end) even if the queue is full: waits up to
    /// `timeout` for room while the writer drains it. A peer that reads on gets the frame after
    /// everything queued before it; one that has stopped reading costs at most `timeout`
    /// (`Full`). The frame always goes through the writer thread, so the caller never waits
    /// on the peer itself.
    pub fn send_within(&self, frame: T, timeout: Duration) -> Result<(), OutboxError> {
        let shared = &*self.shared;
        let deadline = std::time::Instant::now() + timeout;
        let mut state = lock(&shared.state);
        loop {
            if state.closed {
                return Err(OutboxError::Closed);
            }
            if state.queue.len() < shared.capacity.max(1) {
                state.queue.push_back(frame);
                drop(state);
                shared.work.notify_all();
                return Ok(());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(OutboxError::Full);
            }
            state = shared.room.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

impl<T: Serialize> OutboxShared<T> {
    fn new(sender: Option<IpcSender<Vec<T>>>, capacity: usize, writes: Writes, closed: bool) -> OutboxShared<T> {
        OutboxShared {
            state: Mutex::new(OutboxState { queue: VecDeque::new(), writing: false, closed, handles: 1 }),
            work: Condvar::new(),
            room: Condvar::new(),
            sender: Mutex::new(sender),
            capacity,
            writes,
        }
    }

    /// Writes one batch; the caller holds `writing`, which this releases. `false`: the peer is
    /// gone, and the outbox is closed.
    fn write(&self, batch: Vec<T>) -> bool {
        let written = match &*lock(&self.sender) {
            Some(sender) => match sender.send(batch) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(writer = %thread_name(), error = %e, "outbox write failed; the peer is gone");
                    false
                }
            },
            None => false,
        };
        let mut state = lock(&self.state);
        state.writing = false;
        if !written {
            state.closed = true;
            state.queue.clear();
        }
        drop(state);
        // The writer may have frames queued behind this write, or be waiting to finish.
        self.work.notify_all();
        self.room.notify_all();
        written
    }

    /// The writer thread: drains the queue, many frames per IPC message, until every handle is
    /// dropped and nothing is left, or the peer is gone.
    fn write_until_done(&self) {
        loop {
            let mut state = lock(&self.state);
            loop {
                if state.closed {
                    return;
                }
                if !state.writing && !state.queue.is_empty() {
                    break;
                }
                if state.handles == 0 && !state.writing {
                    // Nothing queued, nobody left to queue more: close the channel.
                    state.closed = true;
                    drop(state);
                    lock(&self.sender).take();
                    return;
                }
                state = self.work.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            state.writing = true;
            let n = state.queue.len().min(MAX_BATCH);
            let batch: Vec<T> = state.queue.drain(..n).collect();
            drop(state);
            self.room.notify_all();
            if !self.write(batch) {
                return;
            }
        }
    }
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("?").to_owned()
}

/// What a reader thread delivers.
#[derive(Debug)]
pub enum Inbound<T> {
    /// One decoded frame.
    Frame(T),
    /// Bytes that did not decode; the reader stops after this.
    Malformed(String),
    /// The peer is gone; the reader stops after this.
    Disconnected,
}

/// Starts a reader thread that passes every frame (then the end) to `deliver`, in order.
/// `deliver` returns `false` to stop reading early.
pub fn spawn_reader<T, F>(name: &str, receiver: IpcReceiver<Vec<T>>, mut deliver: F) -> Result<(), TransportError>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    F: FnMut(Inbound<T>) -> bool + Send + 'static,
{
    spawn_batch_reader(name, receiver, move |items| {
        for item in items {
            if !deliver(item) {
                return false;
            }
        }
        true
    })
}

/// Like [`spawn_reader`], passing what each message carried at once: the frames of one batch
/// the peer sent, or the end (a one-item vector). `deliver` returns `false` to stop reading.
pub fn spawn_batch_reader<T, F>(name: &str, receiver: IpcReceiver<Vec<T>>, mut deliver: F) -> Result<(), TransportError>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    F: FnMut(Vec<Inbound<T>>) -> bool + Send + 'static,
{
    thread::Builder::new().name(format!("weft-in-{name}")).spawn(move || loop {
        // A backstop: unpatched, ipc-channel's checks on attached channels panicked on some
        // forged messages (patches/ipc-channel-0.23.1 makes them errors; before it, in
        // debug builds, any unused channel): the peer's bytes end its stream, not this thread.
        let Ok(received) = panic::catch_unwind(AssertUnwindSafe(|| receiver.recv())) else {
            deliver(vec![Inbound::Malformed("the frame decoder panicked".into())]);
            return;
        };
        match received {
            Ok(batch) => {
                if !deliver(batch.into_iter().map(Inbound::Frame).collect()) {
                    return;
                }
            }
            Err(IpcError::Disconnected) => {
                deliver(vec![Inbound::Disconnected]);
                return;
            }
            Err(IpcError::SerializationError(e)) => {
                deliver(vec![Inbound::Malformed(e.to_string())]);
                return;
            }
            Err(IpcError::Io(e)) if breaks_framing(&e) => {
                deliver(vec![Inbound::Malformed(framing_detail(&e))]);
                return;
            }
            Err(IpcError::Io(e)) => {
                tracing::debug!(error = %e, "ipc read error; treating as disconnect");
                deliver(vec![Inbound::Disconnected]);
                return;
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge;
    use crate::frames::{BrokerToUi, CoreToBroker, UiHello, UiToBroker};
    use std::os::fd::AsRawFd;

    impl WireSize for u32 {
        fn wire_size(&self) -> usize {
            4
        }
    }

    impl WireSize for Vec<u8> {
        fn wire_size(&self) -> usize {
            self.len()
        }
    }

    /// The fuzzer's first find (target `frames`): one UI hello naming channel 67108864 with no
    /// channel attached. ipc-channel indexed its empty attachment list with it and panicked.
    const FUZZ_HELLO_UNATTACHED_CHANNEL: &[u8] = &[
        0x01, 0x00, 0x01, 0x20, 0x33, 0x66, 0x31, 0x63, 0x39, 0x61, 0x30, 0x65, 0x35, 0x62, 0x37, 0x64, 0x34, 0x32,
        0x63, 0x38, 0x61, 0x36, 0x65, 0x30, 0x66, 0x31, 0x39, 0x62, 0x32, 0x64, 0x34, 0x63, 0x37, 0x61, 0x38, 0x35,
        0x02, 0x00, 0x01, 0x80, 0x80, 0x80, 0x20, 0xe8, 0x07, 0x80, 0x20, 0x80, 0x80, 0x01, 0x40, 0x80, 0x80, 0x08,
    ];

    /// One hello (version 1, session "ab", secret "x") naming channel 0.
    const HELLO_CHANNEL_0: &[u8] = &[0x01, 0x00, 0x01, 0x02, b'a', b'b', 0x01, b'x', 0x00];

    fn ui_hello() -> UiToBroker {
        let (to_ui, _) = channel::<BrokerToUi>().expect("channel");
        UiToBroker::Hello(UiHello {
            protocol_version: 1,
            session_id: SessionId("ab".into()),
            secret: "x".into(),
            to_ui,
        })
    }

    #[test]
    fn a_hello_naming_an_unattached_channel_is_malformed_not_a_panic() {
        for bytes in [FUZZ_HELLO_UNATTACHED_CHANNEL, HELLO_CHANNEL_0] {
            assert!(matches!(decode_batch::<UiToBroker>(bytes), Err(TransportError::Malformed(_))));
            assert!(matches!(decode_batch::<CoreToBroker>(bytes), Err(TransportError::Malformed(_))));
            // In a handshake a channel may be named, but not one that was not attached.
            let handshake = decoding_handshake(|| decode_batch::<UiToBroker>(bytes));
            assert!(matches!(handshake, Err(TransportError::Malformed(_))));
        }
    }

    #[test]
    fn a_hello_hands_over_its_channel_only_in_the_handshake() {
        let listener = Listener::<UiToBroker>::new().expect("listener");
        let to_broker = connect::<UiToBroker>(listener.name()).expect("connect");
        to_broker.send(vec![ui_hello()]).expect("send");
        let (receiver, first) = listener.accept(Duration::from_secs(5), || false).expect("accept");
        assert!(matches!(first.as_slice(), [UiToBroker::Hello(_)]));
        // A hello after the handshake ends the stream as malformed; the reader does not panic.
        to_broker.send(vec![UiToBroker::Close, ui_hello()]).expect("send");
        let (seen_tx, seen_rx) = mpsc::channel();
        spawn_reader("t", receiver, move |item| seen_tx.send(item).is_ok()).expect("reader");
        let seen = seen_rx.recv_timeout(Duration::from_secs(5)).expect("the reader reports");
        assert!(matches!(seen, Inbound::Malformed(_)), "{seen:?}");
    }

    /// A forged handshake naming its one attached channel twice: ipc-channel gave the second
    /// hello a sender on fd -1, whose drop panics (`close(-1)` fails an assertion).
    #[test]
    fn a_handshake_naming_one_channel_twice_is_malformed() {
        #[derive(Serialize)]
        enum Forged {
            Hello { protocol_version: u32, session_id: SessionId, secret: String, to_ui: usize },
        }
        let listener = Listener::<UiToBroker>::new().expect("listener");
        // On the wire this is a batch of two hellos (a batch is its length, then its frames).
        let to_broker = IpcSender::<(u8, UiToBroker, Forged)>::connect(listener.name().to_owned()).expect("connect");
        let forged =
            Forged::Hello { protocol_version: 1, session_id: SessionId("ab".into()), secret: "x".into(), to_ui: 0 };
        to_broker.send((2, ui_hello(), forged)).expect("send");
        let refused = listener.accept(Duration::from_secs(5), || false).map(|(_, first)| first.len());
        assert!(matches!(refused, Err(TransportError::Malformed(_))), "{refused:?}");
    }

    #[test]
    fn bootstrap_round_trips_and_rejects_garbage() {
        let b = Bootstrap { server_name: "s".into(), session_id: SessionId("ab".into()), secret: "x".into() };
        let mut buf = Vec::new();
        b.write_to(&mut buf).expect("write");
        assert_eq!(Bootstrap::read_from(&buf[..]).expect("read"), b);
        assert!(matches!(Bootstrap::read_from(&b"{nope\n"[..]), Err(TransportError::Bootstrap(_))));
        assert!(matches!(Bootstrap::read_from(&b""[..]), Err(TransportError::Bootstrap(_))));
    }

    #[test]
    fn outbox_batches_in_order_and_reader_sees_disconnect() {
        let (tx, rx) = channel::<u32>().expect("channel");
        let outbox = Outbox::spawn("t", tx, 1024, Writes::Queued).expect("outbox");
        for i in 0..1000 {
            outbox.try_send(i).expect("queue");
        }
        drop(outbox);
        let (seen_tx, seen_rx) = mpsc::channel();
        spawn_reader("t", rx, move |item| seen_tx.send(item).is_ok()).expect("reader");
        let mut got = Vec::new();
        loop {
            match seen_rx.recv().expect("reader alive") {
                Inbound::Frame(n) => got.push(n),
                Inbound::Disconnected => break,
                Inbound::Malformed(e) => panic!("malformed: {e}"),
            }
        }
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_caller_writes_small_batches_itself_and_never_overtakes_queued_frames() {
        let (tx, rx) = channel::<Vec<u8>>().expect("channel");
        let outbox = Outbox::spawn("inline", tx, 64, Writes::CallerWhenIdle).expect("outbox");
        // Idle: the caller writes, so the frame is readable as soon as `try_send` returns.
        outbox.try_send(vec![7]).expect("sent");
        assert_eq!(rx.try_recv().expect("already written"), vec![vec![7]]);
        // A batch bigger than the inline limit, nobody reading: it goes to the writer thread
        // (which may wait for the reader), and the caller returns at once.
        let big = vec![vec![1u8; INLINE_MAX_BYTES]; 8];
        outbox.try_send_all(big).expect("queued");
        // Small frames sent after it arrive after it, whether they queue behind it or (once it
        // is written) go out on this thread.
        let reader = std::thread::spawn(move || {
            let mut frames = Vec::new();
            while frames.len() < 18 {
                frames.extend(rx.recv().expect("batch"));
            }
            frames
        });
        for i in 0..10u8 {
            outbox.try_send(vec![i]).expect("sent");
        }
        let frames = reader.join().expect("reader");
        assert!(frames[..8].iter().all(|f| f.len() == INLINE_MAX_BYTES));
        assert_eq!(frames[8..], (0..10u8).map(|i| vec![i]).collect::<Vec<_>>());
    }

    /// An outbox of byte frames, the receiving end of its channel, and how many frames it took.
    type Filled = (Outbox<Vec<u8>>, IpcReceiver<Vec<Vec<u8>>>, usize);

    /// Fills an outbox of big frames until it refuses one (the peer is not reading).
    fn full_outbox() -> Filled {
        let (tx, rx) = channel::<Vec<u8>>().expect("channel");
        let outbox = Outbox::spawn("full", tx, 4, Writes::Queued).expect("outbox");
        let mut queued = 0;
        while outbox.try_send(vec![1u8; 64 << 10]).is_ok() {
            queued += 1;
            assert!(queued < 10_000, "never filled");
        }
        (outbox, rx, queued)
    }

    #[test]
    fn a_terminal_frame_waits_for_room_and_arrives_last() {
        let (outbox, rx, queued) = full_outbox();
        let sender = std::thread::spawn(move || outbox.send_within(vec![2u8; 8], Duration::from_secs(10)));
        let mut frames = Vec::new();
        while frames.len() < queued + 1 {
            frames.extend(rx.recv().expect("frames"));
        }
        assert_eq!(sender.join().expect("sender"), Ok(()));
        assert!(frames[..queued].iter().all(|f| f.len() == 64 << 10));
        assert_eq!(frames[queued], vec![2u8; 8], "the terminal frame, after everything before it");
    }

    #[test]
    fn a_terminal_frame_to_a_peer_that_never_reads_gives_up_in_time() {
        let (outbox, _rx, _) = full_outbox();
        // The writer may still take a frame or two into the socket; then nothing moves.
        for attempt in 0.. {
            let started = std::time::Instant::now();
            match outbox.send_within(vec![3u8; 64 << 10], Duration::from_millis(200)) {
                Ok(()) => assert!(attempt < 50, "the queue never stayed full"),
                Err(e) => {
                    assert_eq!(e, OutboxError::Full);
                    assert!(started.elapsed() < Duration::from_secs(2), "gave up late: {:?}", started.elapsed());
                    break;
                }
            }
        }
    }

    #[test]
    fn drained_reports_when_the_writer_has_written_everything() {
        let (tx, rx) = channel::<u32>().expect("channel");
        let (outbox, drained) = Outbox::spawn_drained("d", tx, 16, Writes::Queued).expect("outbox");
        outbox.try_send(7).expect("queue");
        assert!(!drained.wait(Duration::from_millis(20)), "writer still has a live handle");
        drop(outbox);
        assert!(drained.wait(Duration::from_secs(5)));
        assert_eq!(rx.recv().expect("written"), vec![7]);
    }

    #[test]
    fn accept_times_out_when_nobody_connects() {
        let listener = Listener::<u32>::new().expect("listener");
        let err = listener.accept(Duration::from_millis(100), || false).expect_err("timeout");
        assert!(matches!(err, TransportError::Timeout(_)));
    }

    const CHILD: &str = "WEFT_TRANSPORT_TEST_CHILD";

    /// For what must be measured or survived in a process of its own (an abort, a count of the
    /// process's descriptors that other tests would disturb). In the test process: runs `test`
    /// (the caller) again, alone, in a child process, asserts that it passed and returns
    /// `false`. In that child: returns `true`, and the caller runs its body.
    fn in_own_process(test: &str) -> bool {
        if std::env::var_os(CHILD).is_some() {
            return true;
        }
        // Its output is kept (not passed through) so the child's own test summary is not counted
        // as another test; it is shown when the child fails.
        let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .expect("child");
        assert!(
            child.status.success(),
            "{test} failed in its own process: {:?}\n{}{}",
            child.status,
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
        false
    }

    /// A forged first datagram of every kind (a 32 TiB total size, sizes that contradict each
    /// other or the datagram, a missing dedicated channel, a pipe or too many descriptors
    /// attached) is a malformed handshake: no abort, panic or hang. Unpatched ipc-channel 0.23.1
    /// aborted the receiving process on the first one (patches/ipc-channel-0.23.1/).
    #[test]
    fn a_forged_first_datagram_is_a_malformed_handshake_not_an_abort() {
        if !in_own_process("transport::tests::a_forged_first_datagram_is_a_malformed_handshake_not_an_abort") {
            return;
        }
        for kind in forge::Forgery::MALFORMED {
            let listener = Listener::<UiToBroker>::new().expect("listener");
            let socket = forge::connect(listener.name()).expect("connect");
            forge::send(socket.as_raw_fd(), kind).expect("forge");
            match listener.accept(Duration::from_secs(5), || false) {
                Err(TransportError::Malformed(detail)) => assert!(detail.contains("framing"), "{kind:?}: {detail}"),
                other => panic!("{kind:?}: {:?}", other.map(|(_, first)| first)),
            }
        }
    }

    /// A connection whose first message (a `Close`) was accepted: its sender (keep it: it owns the
    /// socket), the sender's raw socket for forged datagrams, and the receiving end.
    fn past_the_handshake() -> (IpcSender<Vec<UiToBroker>>, std::os::fd::RawFd, BatchReceiver<UiToBroker>) {
        let listener = Listener::<UiToBroker>::new().expect("listener");
        let name = listener.name().to_owned();
        let sender = connect::<UiToBroker>(&name).expect("connect");
        sender.send(vec![UiToBroker::Close]).expect("first message");
        let socket = forge::socket_connected_to(&name).expect("the sender's socket");
        let (receiver, first) = listener.accept(Duration::from_secs(5), || false).expect("accept");
        assert!(matches!(first.as_slice(), [UiToBroker::Close]));
        (sender, socket, receiver)
    }

    /// After a good handshake, a forged datagram of every kind ends the reader with `Malformed`
    /// (which appd turns into `protocol-violation`), not a disconnect, a panic or an abort.
    #[test]
    fn a_forged_datagram_after_the_handshake_is_malformed() {
        if !in_own_process("transport::tests::a_forged_datagram_after_the_handshake_is_malformed") {
            return;
        }
        for kind in forge::Forgery::MALFORMED {
            let (sender, socket, receiver) = past_the_handshake();
            forge::send(socket, kind).expect("forge");
            let (tx, rx) = mpsc::channel();
            spawn_reader("forged", receiver, move |item| tx.send(item).is_ok()).expect("reader");
            match rx.recv_timeout(Duration::from_secs(5)).expect("the reader reports") {
                Inbound::Malformed(detail) => assert!(detail.contains("framing"), "{kind:?}: {detail}"),
                other => panic!("{kind:?}: {other:?}"),
            }
            drop(sender);
        }
    }

    /// Channels and shared memory attached to a message that does not name them are closed:
    /// 1,000 messages with 20 descriptors each leave this process's count where it was.
    /// (Unpatched ipc-channel 0.23.1 leaked the channels in release builds and failed a debug
    /// assertion in debug builds.) Counted in a process of its own, so other tests' descriptors
    /// do not disturb the count.
    #[test]
    fn descriptors_a_message_does_not_name_are_closed() {
        if !in_own_process("transport::tests::descriptors_a_message_does_not_name_are_closed") {
            return;
        }
        let open = || forge::open_descriptors(std::process::id()).expect("/proc");
        let (_sender, socket, receiver) = past_the_handshake();
        let before = open();
        let (tx, rx) = mpsc::sync_channel(0);
        let writer = std::thread::spawn(move || {
            for _ in 0..1000 {
                forge::send(socket, forge::Forgery::UnnamedDescriptors).expect("forge");
                // One at a time: descriptors in flight count against this user's limit.
                if rx.recv().is_err() {
                    return;
                }
            }
        });
        for _ in 0..1000 {
            assert!(receiver.recv().expect("an empty batch").is_empty());
            tx.send(()).expect("writer");
        }
        writer.join().expect("writer");
        assert_eq!(open(), before, "descriptors leaked");
        // The same through ipc-channel's own sender: channels attached but not named.
        let (tx, rx) = ipc::channel::<(Vec<UiToBroker>, Vec<IpcSender<u8>>)>().expect("channel");
        let rx = rx.to_opaque().to::<Vec<UiToBroker>>();
        let before = open();
        for _ in 0..100 {
            let attached = (0..20).map(|_| ipc::channel::<u8>().expect("channel").0).collect();
            tx.send((vec![UiToBroker::Close], attached)).expect("send");
            assert!(matches!(rx.recv().expect("decodes").as_slice(), [UiToBroker::Close]));
        }
        assert_eq!(open(), before, "descriptors leaked");
    }
}
