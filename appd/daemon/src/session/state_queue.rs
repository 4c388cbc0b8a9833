//! The bounded queue of state updates waiting for the page's credit.
//!
//! Keyed (coalescible) updates are coalesced while they wait: a newer update with the same
//! type and key removes the older one and joins the back of the queue, so the page sees the
//! latest value, in emission order relative to the other updates. Sequencing toward the page
//! happens when an update leaves the queue, so coalescing never leaves a sequence gap.

use std::collections::VecDeque;
use weft_ipc::envelope::Envelope;

/// What pushing an update did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued; the queue grew by one.
    Queued,
    /// Queued, replacing an older update of `bytes` bytes that had the same type and key.
    Coalesced {
        /// Size of the replaced update.
        bytes: usize,
        /// Sequence of the replaced update.
        sequence: u64,
    },
    /// The queue is full; the update was not taken (the core overran its credit).
    Full,
}

/// A bounded FIFO of state updates with latest-wins coalescing by (type, key).
pub struct StateQueue {
    entries: VecDeque<Envelope>,
    capacity: usize,
    bytes: usize,
}

impl StateQueue {
    /// An empty queue holding at most `capacity` updates.
    pub fn new(capacity: usize) -> StateQueue {
        StateQueue { entries: VecDeque::new(), capacity, bytes: 0 }
    }

    /// Adds an update (coalescing it with a waiting one of the same type and key).
    pub fn push(&mut self, update: Envelope) -> Pushed {
        if let Some(key) = &update.coalesce_key {
            let same = self
                .entries
                .iter()
                .position(|e| e.coalesce_key.as_ref() == Some(key) && e.message_type == update.message_type);
            if let Some(index) = same {
                let (old, sequence) = self.entries.remove(index).map_or((0, 0), |e| (e.size(), e.sequence));
                self.bytes -= old;
                self.bytes += update.size();
                self.entries.push_back(update);
                return Pushed::Coalesced { bytes: old, sequence };
            }
        }
        if self.entries.len() >= self.capacity {
            return Pushed::Full;
        }
        self.bytes += update.size();
        self.entries.push_back(update);
        Pushed::Queued
    }

    /// The update that would leave next.
    pub fn front(&self) -> Option<&Envelope> {
        self.entries.front()
    }

    /// Takes the update at the front.
    pub fn pop(&mut self) -> Option<Envelope> {
        let e = self.entries.pop_front()?;
        self.bytes -= e.size();
        Some(e)
    }

    /// Updates waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The most updates that may wait.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_ipc::envelope::{MessageClass, SessionId, StreamId};

    fn update(t: &str, payload: &str, key: Option<&str>) -> Envelope {
        Envelope {
            session_id: SessionId("s".into()),
            stream_id: StreamId::CoreToUi,
            class: MessageClass::StateUpdate,
            message_type: t.into(),
            sequence: 0,
            payload: payload.into(),
            coalesce_key: key.map(str::to_owned),
        }
    }

    fn drain(q: &mut StateQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop()).map(|e| format!("{}={}", e.message_type, e.payload)).collect()
    }

    #[test]
    fn latest_keyed_value_wins_in_emission_order() {
        let mut q = StateQueue::new(8);
        assert_eq!(q.push(update("count", "1", Some("c"))), Pushed::Queued);
        assert_eq!(q.push(update("log", "a", None)), Pushed::Queued);
        assert_eq!(q.push(update("count", "2", Some("c"))), Pushed::Coalesced { bytes: 7, sequence: 0 });
        assert_eq!(q.push(update("other", "x", Some("c"))), Pushed::Queued);
        assert_eq!(q.len(), 3);
        assert_eq!(drain(&mut q), vec!["log=a", "count=2", "other=x"]);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn bound_holds_but_coalescing_still_works_when_full() {
        let mut q = StateQueue::new(2);
        assert_eq!(q.push(update("a", "1", None)), Pushed::Queued);
        assert_eq!(q.push(update("k", "1", Some("k"))), Pushed::Queued);
        assert_eq!(q.push(update("a", "2", None)), Pushed::Full);
        assert_eq!(q.push(update("k", "2", Some("k"))), Pushed::Coalesced { bytes: 3, sequence: 0 });
        assert_eq!(drain(&mut q), vec!["a=1", "k=2"]);
    }
}
