//! Compares what a fresh core emitted, event by event, with what the recorded core emitted.
//!
//! The recording holds the updates as they arrived at the broker's core-facing ingress, before
//! the broker's own queue (so the broker's coalescing toward a slow page does not matter). The
//! core host's outbox, though, coalesces keyed updates that wait in it together: all updates of
//! one core *turn* (the events it handled before flushing, ended by its credit frame, which the
//! recording marks) and any left over for want of credit. The replay feeds one event per turn
//! with unlimited credit, so it sees each event's own updates. This module replays those into a
//! model of the outbox — one turn's events pushed together, latest-wins by (type, key), taken
//! in order — and checks that the recorded stream is exactly what the model lets out. With one
//! event per turn and no credit shortage (the usual case) that is plain equality.

use super::plan::{CoreItem, Plan, Update};
use std::collections::VecDeque;

/// The first difference between the recording and the replay.
#[derive(Debug, PartialEq, Eq)]
pub struct Divergence {
    /// 1-based position in the recorded stream of state updates (one past its end if the
    /// replay emitted more).
    pub index: usize,
    /// The recorded update and its core sequence (`None`: the recording has nothing more).
    pub expected: Option<(Update, u64)>,
    /// What the replayed core emitted there (`None`: nothing).
    pub actual: Option<Update>,
    /// The last UI event delivered to the core before the expected update (index into the
    /// plan's events; `None`: before any, i.e. from `init`).
    pub after: Option<usize>,
}

/// The model of the core host's outbox.
#[derive(Default)]
struct Outbox {
    queue: VecDeque<Update>,
}

impl Outbox {
    fn push(&mut self, update: &Update) {
        if let Some(old) = self.queue.iter().position(|q| update.replaces(q)) {
            self.queue.remove(old);
        }
        self.queue.push_back(update.clone());
    }
}

/// Checks the recorded core stream against `init` (what the fresh core emitted in `init`)
/// and `emitted` (what it emitted for each event of `plan.events`, in order). Returns the
/// number of updates compared, or the first divergence.
pub fn compare(plan: &Plan, init: &[Update], emitted: &[Vec<Update>]) -> Result<usize, Box<Divergence>> {
    let mut outbox = Outbox::default();
    init.iter().for_each(|u| outbox.push(u));
    // For each position, the number of events the core had consumed by the end of the turn
    // the position belongs to (`None` after the last recorded turn).
    let mut turn_end = vec![None; plan.core.len()];
    let mut consumed: usize = plan.core.iter().map(|i| if let CoreItem::Turn(n) = i { *n as usize } else { 0 }).sum();
    let mut next = None;
    for (i, item) in plan.core.iter().enumerate().rev() {
        if let CoreItem::Turn(n) = item {
            next = Some(consumed);
            consumed -= *n as usize;
        }
        turn_end[i] = next;
    }
    let available = emitted.len();
    let mut pushed = 0;
    let push_through = |outbox: &mut Outbox, pushed: &mut usize, limit: usize| {
        while *pushed < limit.min(available) {
            emitted[*pushed].iter().for_each(|u| outbox.push(u));
            *pushed += 1;
        }
    };
    let mut index = 0;
    let mut last_after = None;
    for (position, item) in plan.core.iter().enumerate() {
        match item {
            CoreItem::Turn(_) => {
                let limit = turn_end[position].unwrap_or(available);
                push_through(&mut outbox, &mut pushed, limit);
            }
            CoreItem::Update { update, sequence, after } => {
                index += 1;
                last_after = *after;
                loop {
                    if outbox.queue.front() == Some(update) {
                        outbox.queue.pop_front();
                        break;
                    }
                    let limit = match turn_end[position] {
                        Some(limit) => limit,
                        // After the last turn: events the core had not confirmed, one at a time.
                        None => pushed + 1,
                    };
                    if pushed < limit.min(available) {
                        push_through(&mut outbox, &mut pushed, limit);
                        continue;
                    }
                    return Err(Box::new(Divergence {
                        index,
                        expected: Some((update.clone(), *sequence)),
                        actual: outbox.queue.front().cloned(),
                        after: *after,
                    }));
                }
            }
        }
    }
    match outbox.queue.front() {
        None => Ok(index),
        Some(extra) => Err(Box::new(Divergence {
            index: index + 1,
            expected: None,
            actual: Some(extra.clone()),
            after: last_after,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::plan::UiEvent;

    fn count(v: i64) -> Update {
        Update {
            message_type: "count".into(),
            payload: format!("{{\"value\":{v}}}"),
            coalesce_key: Some("count".into()),
        }
    }

    fn log(s: &str) -> Update {
        Update { message_type: "log".into(), payload: format!("\"{s}\""), coalesce_key: None }
    }

    fn plan(events: usize, core: Vec<CoreItem>) -> Plan {
        let events = (1..=events as u64)
            .map(|i| UiEvent { ui_sequence: i, core_sequence: i, message_type: "e".into(), payload: "{}".into() })
            .collect();
        Plan { events, core }
    }

    fn up(update: Update, sequence: u64, after: Option<usize>) -> CoreItem {
        CoreItem::Update { update, sequence, after }
    }

    #[test]
    fn one_event_per_turn_is_plain_equality() {
        let p = plan(
            2,
            vec![
                up(count(0), 1, None),
                up(count(1), 2, Some(0)),
                CoreItem::Turn(1),
                up(log("x"), 3, Some(1)),
                up(count(2), 4, Some(1)),
                CoreItem::Turn(1),
            ],
        );
        assert_eq!(compare(&p, &[count(0)], &[vec![count(1)], vec![log("x"), count(2)]]), Ok(4));
        let diverged =
            compare(&p, &[count(0)], &[vec![count(1)], vec![count(2), log("x")]]).expect_err("order differs");
        assert_eq!((diverged.index, diverged.actual), (3, Some(count(2))));
        assert_eq!(diverged.after, Some(1));
    }

    #[test]
    fn events_batched_in_one_turn_coalesce_like_the_core_host() {
        // Events 1 and 2 were handled in one turn: only the latest count left the core.
        let p = plan(2, vec![up(count(0), 1, None), up(count(2), 2, Some(1)), CoreItem::Turn(2)]);
        assert_eq!(compare(&p, &[count(0)], &[vec![count(1)], vec![count(2)]]), Ok(2));
        // But a core that emits an unkeyed update cannot have lost it.
        let lost = compare(&p, &[count(0)], &[vec![log("a"), count(1)], vec![count(2)]]).expect_err("log missing");
        assert_eq!((lost.index, lost.actual), (2, Some(log("a"))));
    }

    #[test]
    fn missing_and_extra_updates_are_divergences() {
        let p = plan(1, vec![up(count(0), 1, None), CoreItem::Turn(1)]);
        let extra = compare(&p, &[count(0)], &[vec![count(1)]]).expect_err("extra");
        assert_eq!((extra.index, extra.expected, extra.actual), (2, None, Some(count(1))));
        let p = plan(1, vec![up(count(0), 1, None), up(count(1), 2, Some(0)), CoreItem::Turn(1)]);
        let missing = compare(&p, &[count(0)], &[vec![]]).expect_err("missing");
        assert_eq!((missing.index, missing.actual), (2, None));
    }
}
