//! Credits: the receiver of a stream tells the sender how much more it may send.

use serde::{Deserialize, Serialize};

/// A grant of credit: this many more messages, totalling at most this many bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// Additional messages the sender may have in flight.
    pub messages: u32,
    /// Additional bytes (as counted by [`crate::envelope::message_size`]) it may have in flight.
    pub bytes: u64,
}

impl Credit {
    /// A grant for one message of `size` bytes.
    pub fn one(size: usize) -> Credit {
        Credit { messages: 1, bytes: size as u64 }
    }
}

/// The sender's view of a credit window: what it may still send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditWindow {
    /// Messages it may still send.
    pub messages: u64,
    /// Bytes it may still send.
    pub bytes: u64,
}

impl CreditWindow {
    /// Adds a grant to the window.
    pub fn grant(&mut self, credit: Credit) {
        self.messages = self.messages.saturating_add(u64::from(credit.messages));
        self.bytes = self.bytes.saturating_add(credit.bytes);
    }

    /// Whether a message of `size` bytes fits in the window now.
    pub fn allows(&self, size: usize) -> bool {
        self.messages >= 1 && self.bytes >= size as u64
    }

    /// Takes the credit for a message of `size` bytes; `false` (and no change) if it does not fit.
    pub fn take(&mut self, size: usize) -> bool {
        if !self.allows(size) {
            return false;
        }
        self.messages -= 1;
        self.bytes -= size as u64;
        true
    }
}

/// The default window a receiver grants: far below a Linux socket buffer (~208 KiB), so that
/// a sender that respects it never blocks on a full socket.
pub const DEFAULT_WINDOW: Credit = Credit { messages: 64, bytes: 128 * 1024 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_takes_only_what_fits() {
        let mut w = CreditWindow::default();
        assert!(!w.take(1));
        w.grant(Credit { messages: 2, bytes: 10 });
        assert!(!w.take(11));
        assert!(w.take(6));
        assert!(!w.take(5));
        assert!(w.take(4));
        assert!(!w.take(0));
        assert_eq!(w, CreditWindow { messages: 0, bytes: 0 });
    }
}
