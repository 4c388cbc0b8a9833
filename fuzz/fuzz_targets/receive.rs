//! ipc-channel's receive path itself, as a hostile peer reaches it: raw datagrams with any
//! header, body and attached descriptors, written into a real Unix socket connected to a real
//! one-shot server, then read with ipc-channel's receiver (`accept`, then `recv` until the end)
//! and decoded as a message that names channels and shared memory. Receiving must return a
//! message or an error: never panic, abort, overflow, hang, allocate what was not sent, or
//! leak a descriptor (this process's count is checked after every input).
//!
//! The one place besides weft-ipc (and the benchmark's floor) that imports ipc-channel: what is
//! fuzzed here is ipc-channel, as WEFT patches it (patches/ipc-channel-0.23.1/).
//!
//! Input (every read past the end gives zeros):
//!
//! ```text
//! input    := count:u8 datagram{1 + count % 4}
//! datagram := flags:u8 body_len:u16le body[body_len % 4096]
//!             header:[u8; 16]            if flags & 1 (else a consistent header); with flags & 8
//!                                        too, header_len:u8 header[header_len % 17] (short, or
//!                                        empty: a datagram of the body alone, or of nothing)
//!             extra_total:u32le          if flags & 2 and not flags & 1 (announces follow-ups)
//!             fds:u8 kind:u8{fds % 9}    (attachments; kind % 6, see `Attachment`)
//!             followup_len:u16le followup[followup_len % 8192]
//!                                        if flags & 4 (a dedicated channel, attached last)
//! ```
#![no_main]

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender, IpcSharedMemory};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, OwnedFd};
use weft_ipc::forge;

/// What the receiver decodes: data, and channels and shared memory the data names by index.
#[derive(Serialize, Deserialize)]
struct Carried {
    bytes: Vec<u8>,
    senders: Vec<IpcSender<u8>>,
    receivers: Vec<IpcReceiver<u8>>,
    memory: Vec<IpcSharedMemory>,
}

/// Reads the input front to back; zeros past its end.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    /// The next `n` bytes, zero-padded past the end.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        let mut bytes = taken.to_vec();
        bytes.resize(n, 0);
        bytes
    }
    fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }
    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }
}

/// One attached descriptor; the writer's copies (and every other end) close once it is sent.
fn attachment(kind: u8, input: &mut Input) -> Vec<OwnedFd> {
    let opened = match kind % 6 {
        // A channel whose other end is closed.
        0 => forge::socket_pair().map(|(end, _)| end),
        // A pipe (neither a channel nor shared memory).
        1 => forge::pipe().map(|(read, _)| read),
        // Shared memory of any small size.
        2 => forge::memfd(usize::from(input.u16())),
        // A character device.
        3 => std::fs::File::open("/dev/null").map(OwnedFd::from),
        // A directory.
        4 => std::fs::File::open("/").map(OwnedFd::from),
        // A regular file that cannot be mapped read-write.
        _ => forge::memfd(4096).and_then(|fd| {
            std::fs::File::open(format!("/proc/self/fd/{}", fd.as_raw_fd())).map(OwnedFd::from)
        }),
    };
    opened.map(|fd| vec![fd]).unwrap_or_default()
}

/// Writes one datagram of the input onto `socket`.
fn write_datagram(socket: &OwnedFd, input: &mut Input) {
    let flags = input.u8();
    let body_len = usize::from(input.u16()) % 4096;
    let body = input.bytes(body_len);
    let header = if flags & 1 != 0 {
        let len = if flags & 8 != 0 { usize::from(input.u8()) % (forge::HEADER_SIZE + 1) } else { forge::HEADER_SIZE };
        input.bytes(len)
    } else {
        let extra = if flags & 2 != 0 { input.u32() as usize } else { 0 };
        forge::header(forge::HEADER_SIZE + body.len(), body.len() + extra).to_vec()
    };
    let mut attached = Vec::new();
    for _ in 0..input.u8() % 9 {
        let kind = input.u8();
        attached.extend(attachment(kind, input));
    }
    let mut dedicated_peer = None;
    if flags & 4 != 0 {
        if let Ok((end, peer)) = forge::socket_pair() {
            attached.push(end);
            dedicated_peer = Some(peer);
        }
    }
    let mut datagram = header;
    datagram.extend_from_slice(&body);
    let fds: Vec<_> = attached.iter().map(AsRawFd::as_raw_fd).collect();
    let _ = forge::send_datagram(socket.as_raw_fd(), &datagram, &fds);
    if let Some(peer) = dedicated_peer {
        let followup_len = usize::from(input.u16()) % 8192;
        let followup = input.bytes(followup_len);
        if !followup.is_empty() {
            let _ = forge::send_datagram(peer.as_raw_fd(), &followup, &[]);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let open_before = open_descriptors();
    {
        let mut input = Input(data);
        let (server, name) = IpcOneShotServer::<Carried>::new().expect("one-shot server");
        let socket = forge::connect(&name).expect("connect");
        for _ in 0..1 + input.u8() % 4 {
            write_datagram(&socket, &mut input);
        }
        // The writer is done: every read past what was written ends at the closed socket.
        drop(socket);
        if let Ok((receiver, first)) = server.accept() {
            let mut touched = first.memory.iter().map(|m| m.iter().map(|b| u64::from(*b)).sum::<u64>()).sum::<u64>();
            while let Ok(message) = receiver.recv() {
                touched += message.bytes.len() as u64;
            }
            std::hint::black_box(touched);
        }
    }
    let open_after = open_descriptors();
    let leaked: Vec<_> = open_after.iter().filter(|fd| !open_before.contains(fd)).collect();
    assert!(leaked.is_empty(), "descriptors leaked: {leaked:?}");
});

/// This process's open descriptors, each with what it refers to.
fn open_descriptors() -> Vec<(String, String)> {
    let entries = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    let mut open: Vec<_> = entries
        .flatten()
        .map(|entry| {
            let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
            (entry.file_name().to_string_lossy().into_owned(), target)
        })
        .collect();
    // The directory listing's own descriptor differs from call to call.
    open.retain(|(_, target)| !target.starts_with("/proc/"));
    open
}
