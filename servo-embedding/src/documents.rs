//! The app's documents on the native page channel: which one is current, which may still hear
//! the verdicts of their own sends, and the messages waiting while none is attached.
//!
//! A document attaches when its script first reads `window.weft` and detaches when Servo
//! clears its script runtime. A document that attaches while another is current replaces it
//! (a reload or a navigation inside `ui/` attaches the new document before the old one is
//! discarded): messages go to the current document only, and each send's verdict goes to the
//! document that made it, if it is still there. Pure bookkeeping: no locks, no I/O.

use script::page_channel::{PageChannelEvent, PageChannelSender};
use std::collections::{BTreeMap, VecDeque};
use weft_ipc::envelope::Envelope;

/// One document's number, in attach order (1, 2, …).
pub type Generation = u64;

/// The documents of the app's webview on the native page channel.
#[derive(Debug, Default)]
pub struct Documents {
    /// Attached documents, by generation; the highest is current unless it was replaced.
    attached: BTreeMap<Generation, PageChannelSender>,
    current: Option<Generation>,
    next: Generation,
    /// Messages that arrived while no document was attached, in order.
    held: VecDeque<Envelope>,
    /// Events produced by the state machine, per document, until [`Documents::flush`].
    outgoing: BTreeMap<Generation, Vec<PageChannelEvent>>,
}

impl Documents {
    /// Attaches a new document, which becomes current. Returns its generation and the
    /// generation it replaced, if any.
    pub fn attach(&mut self, sender: PageChannelSender) -> (Generation, Option<Generation>) {
        self.next += 1;
        let generation = self.next;
        self.attached.insert(generation, sender);
        let replaced = self.current.replace(generation);
        (generation, replaced)
    }

    /// Detaches `generation`. Returns whether it was the current document.
    pub fn detach(&mut self, generation: Generation) -> bool {
        self.attached.remove(&generation);
        self.outgoing.remove(&generation);
        if self.current == Some(generation) {
            self.current = None;
            return true;
        }
        false
    }

    /// The current document's generation.
    pub fn current(&self) -> Option<Generation> {
        self.current
    }

    /// Queues `event` for `generation` (dropped if that document is gone).
    pub fn push(&mut self, generation: Generation, event: PageChannelEvent) {
        if self.attached.contains_key(&generation) {
            self.outgoing.entry(generation).or_default().push(event);
        }
    }

    /// Queues `event` for the current document; `false` if there is none.
    pub fn push_current(&mut self, event: PageChannelEvent) -> bool {
        match self.current {
            Some(generation) => {
                self.push(generation, event);
                true
            }
            None => false,
        }
    }

    /// Queues `event` for every attached document.
    pub fn push_all(&mut self, event: PageChannelEvent) {
        let generations: Vec<Generation> = self.attached.keys().copied().collect();
        for generation in generations {
            self.push(generation, event.clone());
        }
    }

    /// Holds a message until a document attaches.
    pub fn hold(&mut self, message: Envelope) {
        self.held.push_back(message);
    }

    /// Takes the messages held while no document was attached.
    pub fn take_held(&mut self) -> VecDeque<Envelope> {
        std::mem::take(&mut self.held)
    }

    /// Hands each document its queued events (one task per document). Returns how many
    /// deliveries were made.
    pub fn flush(&mut self) -> usize {
        let mut deliveries = 0;
        for (generation, events) in std::mem::take(&mut self.outgoing) {
            if let Some(sender) = self.attached.get(&generation) {
                sender.deliver(events);
                deliveries += 1;
            }
        }
        deliveries
    }
}
