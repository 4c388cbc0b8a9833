//! Raw datagrams written the way a hostile peer writes them, below `ipc-channel`'s sender: for
//! tests and fuzzing only (the test UI peer, the test core host, `fuzz/`), never used by the
//! product's processes.
//!
//! On Linux `ipc-channel` carries each message as `SOCK_SEQPACKET` datagrams. The first one
//! starts with a 16-byte header: the datagram's own size, then the message's total size (two
//! native-endian `usize`s), and carries the message's descriptors (`SCM_RIGHTS`); a message
//! larger than one datagram continues on a dedicated channel, the last socket attached. A
//! compromised child can write anything onto its socket, so the receiver (WEFT's patched
//! `ipc-channel`, `patches/ipc-channel-0.23.1/`) must check all of it. [`Forgery`] names the
//! ways a header or its descriptors can lie; [`send`] writes one.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// The size of a first fragment's header: its own size, then the message's total size.
pub const HEADER_SIZE: usize = 2 * mem::size_of::<usize>();

/// A batch of no frames, as `ipc-channel` encodes it (postcard: a zero length). A receiver
/// decodes it as an empty batch, so it is the body of a well-formed message that asks nothing.
pub const EMPTY_BATCH: &[u8] = &[0];

/// A forged first fragment, each kind breaking the framing in one way (but
/// [`Forgery::UnnamedDescriptors`], which is well-formed and only carries descriptors its data
/// never names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forgery {
    /// The header claims a 32 TiB message (unpatched, the receiver reserves it and aborts).
    HugeTotal,
    /// The total size is smaller than the data this datagram already carries.
    TotalBelowFragment,
    /// More data is announced, but no dedicated channel for it is attached.
    NoDedicatedChannel,
    /// The datagram's own size is under the header's size.
    FragmentUnderHeader,
    /// The datagram's own size is far beyond any receive buffer.
    FragmentOverstated,
    /// A pipe is attached: neither a channel (a socket) nor shared memory (a regular file).
    PipeAttached,
    /// 100 descriptors are attached, more than a receiver's control buffer holds (64).
    TooManyDescriptors,
    /// An empty datagram (no header at all) with a channel attached: `recvmsg` returns 0 for it,
    /// as at the end of the stream, yet it delivered a descriptor.
    EmptyWithDescriptors,
    /// A well-formed empty batch with 16 channels and 4 shared memory regions attached that the
    /// data never names: the receiver must close them all.
    UnnamedDescriptors,
}

impl Forgery {
    /// Every kind that breaks the framing (all but [`Forgery::UnnamedDescriptors`]).
    pub const MALFORMED: [Forgery; 8] = [
        Forgery::HugeTotal,
        Forgery::TotalBelowFragment,
        Forgery::NoDedicatedChannel,
        Forgery::FragmentUnderHeader,
        Forgery::FragmentOverstated,
        Forgery::PipeAttached,
        Forgery::TooManyDescriptors,
        Forgery::EmptyWithDescriptors,
    ];

    /// The kind's name on a test peer's command line or driver socket.
    pub fn name(self) -> &'static str {
        match self {
            Forgery::HugeTotal => "huge-total",
            Forgery::TotalBelowFragment => "total-below-fragment",
            Forgery::NoDedicatedChannel => "no-dedicated-channel",
            Forgery::FragmentUnderHeader => "fragment-under-header",
            Forgery::FragmentOverstated => "fragment-overstated",
            Forgery::PipeAttached => "pipe-attached",
            Forgery::TooManyDescriptors => "too-many-descriptors",
            Forgery::EmptyWithDescriptors => "empty-with-descriptors",
            Forgery::UnnamedDescriptors => "unnamed-descriptors",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Forgery> {
        Forgery::MALFORMED.into_iter().chain([Forgery::UnnamedDescriptors]).find(|kind| kind.name() == name)
    }
}

/// Writes one forged first fragment of `kind` onto `socket` (a peer's connected end).
pub fn send(socket: RawFd, kind: Forgery) -> io::Result<()> {
    let body = EMPTY_BATCH;
    let whole = HEADER_SIZE + body.len();
    let (fragment_size, total_size, sent_body): (usize, usize, &[u8]) = match kind {
        Forgery::HugeTotal => (HEADER_SIZE + 4, 1 << 45, &[0; 4]),
        Forgery::TotalBelowFragment => (HEADER_SIZE + 8, 4, &[0; 8]),
        Forgery::NoDedicatedChannel => (HEADER_SIZE + 4, 100, &[0; 4]),
        Forgery::FragmentUnderHeader => (8, body.len(), body),
        Forgery::FragmentOverstated => (1 << 40, body.len(), body),
        _ => (whole, body.len(), body),
    };
    // Descriptors the datagram carries; ours close when this returns (the receiver holds its own).
    let mut attached: Vec<OwnedFd> = Vec::new();
    match kind {
        Forgery::HugeTotal | Forgery::EmptyWithDescriptors => attached.push(socket_pair()?.0),
        Forgery::PipeAttached => attached.push(pipe()?.0),
        Forgery::TooManyDescriptors => {
            for _ in 0..50 {
                let (a, b) = socket_pair()?;
                attached.extend([a, b]);
            }
        }
        Forgery::UnnamedDescriptors => {
            for _ in 0..16 {
                attached.push(socket_pair()?.0);
            }
            for size in [0, 1, 4096, 65536] {
                attached.push(memfd(size)?);
            }
        }
        _ => {}
    }
    let mut datagram = Vec::new();
    if kind != Forgery::EmptyWithDescriptors {
        datagram.extend_from_slice(&header(fragment_size, total_size));
        datagram.extend_from_slice(sent_body);
    }
    let fds: Vec<RawFd> = attached.iter().map(AsRawFd::as_raw_fd).collect();
    send_datagram(socket, &datagram, &fds).map(drop)
}

/// A first fragment's header: `fragment_size`, then `total_size`, native-endian.
pub fn header(fragment_size: usize, total_size: usize) -> [u8; HEADER_SIZE] {
    let mut header = [0u8; HEADER_SIZE];
    header[..mem::size_of::<usize>()].copy_from_slice(&fragment_size.to_ne_bytes());
    header[mem::size_of::<usize>()..].copy_from_slice(&total_size.to_ne_bytes());
    header
}

/// Writes `bytes` as one datagram on `socket`, with `fds` attached (`SCM_RIGHTS`); returns the
/// bytes written.
pub fn send_datagram(socket: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
    let fds_len = mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = if fds.is_empty() { 0 } else { (unsafe { libc::CMSG_SPACE(fds_len) }) as usize };
    // u64 elements keep the control buffer aligned for `cmsghdr`.
    let mut control = vec![0u64; space.div_ceil(mem::size_of::<u64>())];
    // SAFETY: `msg` points at `iov` and `control`, which outlive the call; the control message is
    // written inside the buffer CMSG_SPACE sized for it.
    let written = unsafe {
        let mut msg: libc::msghdr = mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fds_len) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), fds.len());
        }
        libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL)
    };
    if written < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(written as usize)
}

/// This process's socket connected to the one-shot server `server_name` (what
/// `transport::connect` opened): found among its descriptors by the peer's address.
pub fn socket_connected_to(server_name: &str) -> io::Result<RawFd> {
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(fd) = entry?.file_name().to_str().and_then(|name| name.parse::<RawFd>().ok()) else {
            continue;
        };
        if peer_path(fd).as_deref() == Some(server_name.as_bytes()) {
            return Ok(fd);
        }
    }
    Err(io::Error::new(io::ErrorKind::NotFound, format!("no socket connected to {server_name}")))
}

/// A new `SOCK_SEQPACKET` socket connected to the one-shot server `server_name`, as
/// `ipc-channel` connects one, but owned here so raw datagrams can be written on it.
pub fn connect(server_name: &str) -> io::Result<OwnedFd> {
    // SAFETY: plain socket calls; `addr` outlives `connect`, the new descriptor is owned at once.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_un = mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let path = std::ffi::OsStr::new(server_name).as_bytes();
        if path.len() >= addr.sun_path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "server name too long"));
        }
        for (slot, byte) in addr.sun_path.iter_mut().zip(path) {
            *slot = *byte as libc::c_char;
        }
        let len = mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }
}

/// The two ends of a new `SOCK_SEQPACKET` socket pair, like an `ipc-channel` channel.
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut pair = [0; 2];
    // SAFETY: `socketpair` writes two descriptors into `pair`, owned at once on success.
    unsafe {
        if libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, pair.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])))
    }
}

/// The two ends of a new pipe.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut pair = [0; 2];
    // SAFETY: `pipe2` writes two descriptors into `pair`, owned at once on success.
    unsafe {
        if libc::pipe2(pair.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])))
    }
}

/// A new memory-backed file of `size` bytes, as `ipc-channel` shares memory.
pub fn memfd(size: usize) -> io::Result<OwnedFd> {
    // SAFETY: `memfd_create` takes a NUL-terminated name; the descriptor is owned at once.
    let fd = unsafe {
        let fd = libc::memfd_create(c"weft-forge".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        OwnedFd::from_raw_fd(fd)
    };
    // SAFETY: `ftruncate` on a descriptor we own.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// How many descriptors the process `pid` has open (`/proc/<pid>/fd`).
pub fn open_descriptors(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// The path of the Unix socket `fd` is connected to, if it is one.
fn peer_path(fd: RawFd) -> Option<Vec<u8>> {
    // SAFETY: `getpeername` writes at most `len` bytes into `addr`.
    unsafe {
        let mut addr: libc::sockaddr_un = mem::zeroed();
        let mut len = mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        if libc::getpeername(fd, (&mut addr as *mut libc::sockaddr_un).cast(), &mut len) != 0
            || addr.sun_family != libc::AF_UNIX as libc::sa_family_t
        {
            return None;
        }
        let path_len = (len as usize).saturating_sub(mem::size_of::<libc::sa_family_t>());
        let path = &addr.sun_path[..path_len.min(addr.sun_path.len())];
        Some(path.iter().map(|c| *c as u8).take_while(|b| *b != 0).collect())
    }
}
