//! The core's outgoing state updates: a bounded, coalescing queue in emission order, drained
//! into sequenced envelopes as the broker's credit allows.
//!
//! Pure bookkeeping — no I/O, no clocks, no threads — so every rule is unit-tested here:
//!
//! - **Validation at the door.** `emit-state` refuses a payload that is not JSON text
//!   ([`EmitRefusal::InvalidJson`]) and anything after the session ended
//!   ([`EmitRefusal::SessionClosed`]). Types and schemas are the broker's business.
//! - **Coalescing.** An update with a coalescing key replaces a queued update with the same
//!   message type and key: the old entry is removed and the new one goes to the back, so the
//!   queue stays in emission order and the latest value wins.
//! - **Bound.** An update without a key is refused with [`EmitRefusal::Backpressure`] once
//!   `capacity` updates are queued. Keyed updates never fail that way while there is room in a
//!   reserve of another `capacity` entries (so a keyed "done" marker still gets through a queue
//!   filled by unkeyed updates); only a core that queues more than `capacity` distinct keys
//!   beyond a full queue is refused. The queue therefore never holds more than
//!   `2 × capacity` updates.
//! - **Sequencing at transmission.** Sequences (stream `CoreToUi`, starting at 1) are assigned
//!   when an update is taken for sending, so coalesced-away updates leave no gap.
//! - **Credit.** An update is taken only when the [`CreditWindow`] granted by the broker has
//!   room for one more message of its size.

use std::collections::{BTreeMap, HashMap};
use weft_ipc::credit::{Credit, CreditWindow};
use weft_ipc::envelope::{message_size, Envelope, MessageClass, SessionId, StreamId};

/// Why `emit-state` refused an update (mirrors the WIT `emit-error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmitRefusal {
    /// The payload is not valid JSON text; the parser's explanation.
    InvalidJson(String),
    /// The queue is full and the update has no coalescing key.
    Backpressure,
    /// The session has ended.
    SessionClosed,
}

/// What happened to an update that `emit-state` accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emitted {
    /// Queued at the back.
    Queued,
    /// Queued at the back, replacing an older queued update with the same type and key.
    Coalesced,
    /// Dropped without being sent: it is larger than the whole credit window the broker can
    /// ever grant, so it could never be sent and would block every update behind it. The
    /// broker would refuse it anyway (it is also over the session's message size limit).
    /// Accepted from the core's point of view, like any update the broker refuses.
    DroppedTooLarge {
        /// The update's size (type + payload + key bytes).
        size: usize,
        /// The largest update this outbox can ever send.
        limit: usize,
    },
}

/// Counters for observability (queue pressure, coalescing, refusals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Updates accepted into the queue (including those that replaced an older one).
    pub accepted: u64,
    /// Queued updates replaced by a newer one with the same type and key.
    pub coalesced: u64,
    /// Updates refused with backpressure.
    pub refused_backpressure: u64,
    /// Updates refused as invalid JSON.
    pub refused_invalid_json: u64,
    /// Updates refused because the session had ended.
    pub refused_closed: u64,
    /// Updates dropped for being larger than any credit window.
    pub dropped_too_large: u64,
    /// Envelopes handed out for sending.
    pub sent: u64,
}

/// One queued update.
#[derive(Clone, Debug)]
struct Pending {
    message_type: String,
    payload: String,
    coalesce_key: Option<String>,
}

impl Pending {
    fn size(&self) -> usize {
        message_size(&self.message_type, &self.payload, self.coalesce_key.as_deref())
    }
}

/// The bounded, coalescing, credit-gated queue of one session's state updates.
#[derive(Debug)]
pub struct StateOutbox {
    session_id: SessionId,
    capacity: usize,
    max_update_bytes: usize,
    /// Queued updates by emission slot (ascending = emission order).
    queue: BTreeMap<u64, Pending>,
    /// (message type, key) → slot of the queued keyed update.
    keyed: HashMap<(String, String), u64>,
    next_slot: u64,
    window: CreditWindow,
    next_sequence: u64,
    closed: bool,
    stats: OutboxStats,
}

impl StateOutbox {
    /// Creates an empty outbox.
    ///
    /// - `capacity`: updates queued before unkeyed ones are refused (`limits.outbox_capacity`;
    ///   at least 1 is used).
    /// - `initial_credit`: the broker's first grant (`welcome.initial_credit`).
    /// - `max_message_bytes`: the session's size limit. Updates over it are still sent (the
    ///   broker refuses them and tells the page); only an update larger than both this and the
    ///   initial window — one that could never fit in the window — is dropped here.
    pub fn new(session_id: SessionId, capacity: u32, initial_credit: Credit, max_message_bytes: u32) -> StateOutbox {
        let mut window = CreditWindow::default();
        window.grant(initial_credit);
        let max_update_bytes =
            usize::try_from(initial_credit.bytes).unwrap_or(usize::MAX).max(max_message_bytes as usize);
        StateOutbox {
            session_id,
            capacity: (capacity as usize).max(1),
            max_update_bytes,
            queue: BTreeMap::new(),
            keyed: HashMap::new(),
            next_slot: 0,
            window,
            next_sequence: 1,
            closed: false,
            stats: OutboxStats::default(),
        }
    }

    /// Accepts or refuses one update from the core (`emit-state`).
    pub fn emit(
        &mut self,
        message_type: String,
        payload: String,
        coalesce_key: Option<String>,
    ) -> Result<Emitted, EmitRefusal> {
        if self.closed {
            self.stats.refused_closed += 1;
            return Err(EmitRefusal::SessionClosed);
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&payload) {
            self.stats.refused_invalid_json += 1;
            return Err(EmitRefusal::InvalidJson(e.to_string()));
        }
        let update = Pending { message_type, payload, coalesce_key };
        let size = update.size();
        if size > self.max_update_bytes {
            self.stats.dropped_too_large += 1;
            return Ok(Emitted::DroppedTooLarge { size, limit: self.max_update_bytes });
        }
        let outcome = match update.coalesce_key.clone() {
            None => {
                if self.queue.len() >= self.capacity {
                    self.stats.refused_backpressure += 1;
                    return Err(EmitRefusal::Backpressure);
                }
                Emitted::Queued
            }
            Some(key) => {
                let index_key = (update.message_type.clone(), key);
                if let Some(old_slot) = self.keyed.remove(&index_key) {
                    self.queue.remove(&old_slot);
                    self.stats.coalesced += 1;
                    self.keyed.insert(index_key, self.next_slot);
                    Emitted::Coalesced
                } else {
                    if self.queue.len() >= self.capacity * 2 {
                        self.stats.refused_backpressure += 1;
                        return Err(EmitRefusal::Backpressure);
                    }
                    self.keyed.insert(index_key, self.next_slot);
                    Emitted::Queued
                }
            }
        };
        self.queue.insert(self.next_slot, update);
        self.next_slot += 1;
        self.stats.accepted += 1;
        Ok(outcome)
    }

    /// Adds credit granted by the broker.
    pub fn grant(&mut self, credit: Credit) {
        self.window.grant(credit);
    }

    /// Takes the oldest queued update if the credit window allows it, as a sequenced
    /// envelope ready to send. `None` when the queue is empty or the window is too small.
    pub fn take_sendable(&mut self) -> Option<Envelope> {
        let (&slot, front) = self.queue.first_key_value()?;
        if !self.window.take(front.size()) {
            return None;
        }
        let update = self.queue.remove(&slot)?;
        if let Some(key) = &update.coalesce_key {
            self.keyed.remove(&(update.message_type.clone(), key.clone()));
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.stats.sent += 1;
        Some(Envelope {
            session_id: self.session_id.clone(),
            stream_id: StreamId::CoreToUi,
            class: MessageClass::StateUpdate,
            message_type: update.message_type,
            sequence,
            payload: update.payload,
            coalesce_key: update.coalesce_key,
        })
    }

    /// Discards every queued update (none had a sequence yet, so nothing is skipped): what a
    /// core emits while it replays carried UI events is not for the page.
    pub fn discard_queued(&mut self) {
        self.queue.clear();
        self.keyed.clear();
    }

    /// Marks the session ended: every later `emit` is refused and the queue is discarded.
    pub fn close(&mut self) {
        self.closed = true;
        self.queue.clear();
        self.keyed.clear();
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Updates waiting for credit.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The credit still available.
    pub fn window(&self) -> CreditWindow {
        self.window
    }

    /// The sequence the next sent update will carry.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The counters.
    pub fn stats(&self) -> OutboxStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credit(messages: u32, bytes: u64) -> Credit {
        Credit { messages, bytes }
    }

    fn outbox(capacity: u32, initial: Credit) -> StateOutbox {
        StateOutbox::new(SessionId("s".into()), capacity, initial, 1024)
    }

    fn emit(o: &mut StateOutbox, t: &str, p: &str, k: Option<&str>) -> Result<Emitted, EmitRefusal> {
        o.emit(t.into(), p.into(), k.map(str::to_owned))
    }

    fn drain(o: &mut StateOutbox) -> Vec<(u64, String, String)> {
        std::iter::from_fn(|| o.take_sendable()).map(|e| (e.sequence, e.message_type, e.payload)).collect()
    }

    #[test]
    fn envelopes_carry_the_session_stream_class_and_key() {
        let mut o = outbox(4, credit(10, 1000));
        emit(&mut o, "t", "{}", Some("k")).expect("emit");
        let e = o.take_sendable().expect("sendable");
        assert_eq!(e.session_id, SessionId("s".into()));
        assert_eq!(e.stream_id, StreamId::CoreToUi);
        assert_eq!(e.class, MessageClass::StateUpdate);
        assert_eq!(e.sequence, 1);
        assert_eq!(e.coalesce_key.as_deref(), Some("k"));
    }

    #[test]
    fn invalid_json_is_refused_and_valid_json_of_any_kind_accepted() {
        let mut o = outbox(8, credit(10, 1000));
        for bad in ["", "not json", "{", "{\"a\":1} trailing", "'x'"] {
            assert!(matches!(emit(&mut o, "t", bad, None), Err(EmitRefusal::InvalidJson(_))), "{bad:?}");
        }
        for good in ["{}", "[1,2]", "3", "\"s\"", "null", " {\"a\": [true]} "] {
            assert_eq!(emit(&mut o, "t", good, None), Ok(Emitted::Queued), "{good:?}");
        }
        assert_eq!(o.stats().refused_invalid_json, 5);
        assert_eq!(o.len(), 6);
    }

    #[test]
    fn keyed_update_replaces_the_queued_one_and_moves_to_the_back() {
        let mut o = outbox(8, credit(0, 0));
        emit(&mut o, "pos", "1", Some("a")).expect("emit");
        emit(&mut o, "log", "\"x\"", None).expect("emit");
        emit(&mut o, "pos", "2", Some("b")).expect("emit");
        assert_eq!(emit(&mut o, "pos", "3", Some("a")), Ok(Emitted::Coalesced));
        // Same key, other type: not coalesced.
        assert_eq!(emit(&mut o, "other", "4", Some("a")), Ok(Emitted::Queued));
        assert_eq!(o.len(), 4);
        o.grant(credit(100, 10_000));
        assert_eq!(
            drain(&mut o),
            vec![
                (1, "log".into(), "\"x\"".into()),
                (2, "pos".into(), "2".into()),
                (3, "pos".into(), "3".into()),
                (4, "other".into(), "4".into()),
            ]
        );
        assert_eq!(o.stats().coalesced, 1);
    }

    #[test]
    fn a_sent_keyed_update_is_not_coalesced_with_a_later_one() {
        let mut o = outbox(8, credit(1, 100));
        emit(&mut o, "pos", "1", Some("a")).expect("emit");
        assert_eq!(o.take_sendable().map(|e| e.sequence), Some(1));
        assert_eq!(emit(&mut o, "pos", "2", Some("a")), Ok(Emitted::Queued));
        o.grant(credit(1, 100));
        assert_eq!(drain(&mut o), vec![(2, "pos".into(), "2".into())]);
    }

    #[test]
    fn unkeyed_updates_hit_backpressure_at_capacity_and_keyed_ones_use_the_reserve() {
        let mut o = outbox(3, credit(0, 0));
        for i in 0..3 {
            emit(&mut o, "tick", &i.to_string(), None).expect("room");
        }
        assert_eq!(emit(&mut o, "tick", "3", None), Err(EmitRefusal::Backpressure));
        // Keyed updates still get in (a "done" marker behind a flood)...
        assert_eq!(emit(&mut o, "done", "1", Some("d")), Ok(Emitted::Queued));
        assert_eq!(emit(&mut o, "done", "2", Some("d")), Ok(Emitted::Coalesced));
        emit(&mut o, "k", "1", Some("k1")).expect("reserve");
        emit(&mut o, "k", "2", Some("k2")).expect("reserve");
        // ...up to a hard bound of twice the capacity.
        assert_eq!(o.len(), 6);
        assert_eq!(emit(&mut o, "k", "3", Some("k3")), Err(EmitRefusal::Backpressure));
        // Replacing never fails, even at the hard bound.
        assert_eq!(emit(&mut o, "k", "4", Some("k1")), Ok(Emitted::Coalesced));
        assert_eq!(o.len(), 6);
        assert_eq!(o.stats().refused_backpressure, 2);
        // Sending frees room for unkeyed updates again.
        o.grant(credit(4, 1000));
        assert_eq!(drain(&mut o).len(), 4);
        assert_eq!(emit(&mut o, "tick", "4", None), Ok(Emitted::Queued));
    }

    #[test]
    fn sequences_are_gapless_across_coalescing_and_credit_stalls() {
        let mut o = outbox(16, credit(2, 1000));
        for i in 0..5 {
            emit(&mut o, "pos", &i.to_string(), Some("p")).expect("emit");
            emit(&mut o, "tick", &i.to_string(), None).expect("emit");
        }
        let mut seqs: Vec<u64> = drain(&mut o).iter().map(|s| s.0).collect();
        assert_eq!(seqs, vec![1, 2]);
        for round in 0..3 {
            o.grant(credit(2, 1000));
            emit(&mut o, "pos", &format!("{}", 10 + round), Some("p")).expect("emit");
            seqs.extend(drain(&mut o).iter().map(|s| s.0));
        }
        o.grant(credit(100, 1000));
        seqs.extend(drain(&mut o).iter().map(|s| s.0));
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        assert_eq!(o.stats().sent, seqs.len() as u64);
        assert_eq!(o.next_sequence(), seqs.len() as u64 + 1);
        assert!(o.is_empty());
    }

    #[test]
    fn credit_limits_messages_and_bytes() {
        let mut o = outbox(16, credit(0, 0));
        emit(&mut o, "t", "\"aaaa\"", None).expect("emit"); // size 1 + 6 = 7
        emit(&mut o, "t", "1", None).expect("emit"); // size 2
        assert!(o.take_sendable().is_none(), "no credit yet");
        o.grant(credit(5, 6));
        assert!(o.take_sendable().is_none(), "7 bytes do not fit in 6");
        o.grant(credit(0, 1));
        assert_eq!(o.take_sendable().map(|e| e.sequence), Some(1));
        assert!(o.take_sendable().is_none(), "window bytes exhausted");
        o.grant(credit(0, 2));
        assert_eq!(o.take_sendable().map(|e| e.sequence), Some(2));
        assert_eq!(o.window(), CreditWindow { messages: 3, bytes: 0 });
        // Message credit is enforced as well as bytes.
        let mut o = outbox(16, credit(1, 1000));
        emit(&mut o, "t", "1", None).expect("emit");
        emit(&mut o, "t", "2", None).expect("emit");
        assert_eq!(drain(&mut o).len(), 1);
        o.grant(Credit::one(2));
        assert_eq!(drain(&mut o).len(), 1);
    }

    #[test]
    fn oversized_updates_are_sent_for_the_broker_to_refuse_unless_they_can_never_fit() {
        // Size limit 1024, initial window 4096 bytes.
        let mut o = outbox(4, credit(4, 4096));
        let big = format!("\"{}\"", "x".repeat(2000));
        assert_eq!(emit(&mut o, "t", &big, None), Ok(Emitted::Queued));
        let huge = format!("\"{}\"", "x".repeat(5000));
        assert!(matches!(emit(&mut o, "t", &huge, None), Ok(Emitted::DroppedTooLarge { limit: 4096, .. })));
        assert_eq!(drain(&mut o).len(), 1);
        assert_eq!(o.stats().dropped_too_large, 1);
    }

    #[test]
    fn closing_refuses_everything_after() {
        let mut o = outbox(4, credit(4, 4096));
        emit(&mut o, "t", "1", None).expect("emit");
        o.close();
        assert!(o.is_closed());
        assert!(o.is_empty());
        assert_eq!(emit(&mut o, "t", "1", None), Err(EmitRefusal::SessionClosed));
        assert_eq!(emit(&mut o, "t", "nope", Some("k")), Err(EmitRefusal::SessionClosed));
        assert!(o.take_sendable().is_none());
    }
}
