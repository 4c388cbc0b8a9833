//! What happens when the confined core host makes a system call its allowlist does not have:
//! the seccomp filter traps (SIGSYS), and this handler writes the call's name and number to
//! stdout — a pipe that appd reads as the core host's *last words* — and to stderr for the
//! log, then exits with [`EXIT_SANDBOX_VIOLATION`] (`weft_ipc::last_words`). appd puts the name into the session's end
//! detail. The handler only formats into a stack buffer, writes and exits: all
//! async-signal-safe, and all on the allowlist.

use weft_ipc::last_words::{EXIT_SANDBOX_VIOLATION, SANDBOX_VIOLATION};

/// The SIGSYS part of the kernel's `siginfo_t` on Linux (`_sigsys` in the union that follows
/// the three leading ints and their padding).
#[repr(C)]
struct SigsysInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    _pad: libc::c_int,
    call_addr: *mut libc::c_void,
    syscall: libc::c_int,
    arch: libc::c_uint,
}

/// Installs the SIGSYS handler (before the filters, so that no trap goes unhandled).
pub fn install_handler() -> std::io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler is an
    // `extern "C"` function of the three-argument SA_SIGINFO shape.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction =
            on_sigsys as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

extern "C" fn on_sigsys(_signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t (128 bytes) for SA_SIGINFO handlers; for
    // SIGSYS its union holds `_sigsys`, which `SigsysInfo` lays out.
    let number = unsafe { (*(info as *const SigsysInfo)).syscall };
    let name = syscalls::Sysno::new(number as usize).map_or("unknown", |call| call.name());
    let mut line = LineBuffer::default();
    line.push(SANDBOX_VIOLATION.as_bytes());
    line.push(b" ");
    line.push(name.as_bytes());
    line.push(b" ");
    line.push_number(number);
    line.push(b"\n");
    let mut log = LineBuffer::default();
    log.push(b"weft-core-host: the sandbox refused system call ");
    log.push(name.as_bytes());
    log.push(b" (");
    log.push_number(number);
    log.push(b"): exiting\n");
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffers live on this stack.
    unsafe {
        libc::write(1, line.bytes().as_ptr().cast(), line.bytes().len());
        libc::write(2, log.bytes().as_ptr().cast(), log.bytes().len());
        libc::_exit(EXIT_SANDBOX_VIOLATION);
    }
}

/// A fixed buffer to format a line in without allocating.
struct LineBuffer {
    bytes: [u8; 160],
    len: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer { bytes: [0; 160], len: 0 }
    }
}

impl LineBuffer {
    fn push(&mut self, more: &[u8]) {
        let room = self.bytes.len() - self.len;
        let take = more.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&more[..take]);
        self.len += take;
    }

    fn push_number(&mut self, number: libc::c_int) {
        let mut digits = [0u8; 12];
        let mut at = digits.len();
        let mut rest = i64::from(number).unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if number < 0 {
            self.push(b"-");
        }
        self.push(&digits[at..]);
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_lines_format_without_allocating() {
        let mut line = LineBuffer::default();
        line.push(b"x ");
        line.push_number(41);
        line.push(b" ");
        line.push_number(0);
        line.push(b" ");
        line.push_number(-7);
        assert_eq!(line.bytes(), b"x 41 0 -7");
        let mut full = LineBuffer::default();
        full.push(&[b'a'; 500]);
        assert_eq!(full.bytes().len(), 160);
    }
}
