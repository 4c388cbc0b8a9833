//! A new core taking the session over from the running one (`swap-core`; `weft dev` after a
//! core edit), in the same session, the page and its channel untouched.
//!
//! It happens in two steps so that nothing is lost and the old core serves until the new one
//! is ready. [`Broker::begin_core_swap`] holds delivery toward the core (admitted UI events
//! wait, as they wait for credit) and hands out the UI events the old core was given, for the
//! new one to replay. The old core keeps running: it finishes the events it has, and its state
//! updates reach the page. When the new core reports ready, [`Broker::commit_core_swap`]
//! resets the core's side of the session: sequences, both credit windows, the watchdog. The
//! held events then flow to the new core. If the new core fails first,
//! [`Broker::abort_core_swap`] lets the held events go on to the old core.
//!
//! Credits stay exact across a swap. The page holds credit that the old core granted. The new
//! core grants its own window. The old grant not yet used becomes [`Broker`]'s debt, which the
//! new core's grants pay off before any credit reaches the page. So the page never holds more
//! than the new core granted.

use super::{Broker, Output, STATE_QUEUE_BYTES};
use crate::recording::format::Record;
use crate::session::ui_history::UiHistory;
use std::time::Instant;
use weft_ipc::credit::{Credit, CreditWindow};
use weft_ipc::frames::{BrokerToCore, CarriedEvent};

/// What a new core starts with when it takes the session over.
#[derive(Debug)]
pub struct CoreSwap {
    /// The UI events the old core was handed, in order, for the new one to replay.
    pub carried_events: Vec<CarriedEvent>,
    /// Why no events are carried, when none are: the new core then starts afresh.
    pub not_carried: Option<String>,
    /// A page is attached and the replay will not tell the new core so (it does when it
    /// replays events): the runner sends `page-attached`, so that the core sends its state.
    pub tell_page_attached: bool,
}

impl Broker {
    /// From now on, keep the UI events handed to the core (after `carried`, those the first
    /// core replayed), so that a new core can take the session over with the same state.
    pub fn keep_ui_history(&mut self, carried: Vec<CarriedEvent>) {
        self.history = Some(UiHistory::starting_with(carried));
    }

    /// Whether a new core is getting ready to take over.
    pub fn core_swap_under_way(&self) -> bool {
        self.core_held
    }

    /// Notes how the core host confined itself (for status).
    pub fn set_core_confinement(&mut self, confinement: weft_ipc::frames::Confinement) {
        tracing::debug!(?confinement, "the core host's confinement");
        self.stats.core_confinement = Some(confinement);
    }

    /// How long a core may take to report ready (a new one too).
    pub fn startup_timeout(&self) -> std::time::Duration {
        self.cfg.startup_timeout
    }

    /// Holds delivery toward the core and returns what the new core starts with.
    pub fn begin_core_swap(&mut self) -> CoreSwap {
        self.core_held = true;
        let (carried_events, not_carried) = match &self.history {
            None => (Vec::new(), Some("the session keeps no history of its UI events".to_owned())),
            Some(history) => match history.carried() {
                Ok(events) => (events, None),
                Err(why) => (Vec::new(), Some(why)),
            },
        };
        let tell_page_attached = self.page_attached && carried_events.is_empty();
        CoreSwap { carried_events, not_carried, tell_page_attached }
    }

    /// The new core failed before it was ready: the held events go on to the old core.
    pub fn abort_core_swap(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.core_held = false;
        self.flush_to_core(now, out);
    }

    /// The new core reported ready and now has the session (its outbox already replaced the
    /// old one's): the core's side starts afresh, the new core gets credit for the state
    /// queue's free room, and held events flow to it as it grants credit.
    /// `carried_ui_events` and `not_carried` are what [`Broker::begin_core_swap`] gave it.
    pub fn commit_core_swap(
        &mut self,
        carried_ui_events: u64,
        not_carried: Option<&str>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let not_carried = not_carried.unwrap_or_default().to_owned();
        self.note(|| Record::CoreSwapped { carried_ui_events, not_carried });
        // Events the old core had and did not confirm: the new core replayed them.
        self.stats.ui_events_confirmed += self.core_unconfirmed.len() as u64;
        self.core_unconfirmed.clear();
        // What the page holds of the old core's grant, the new core's grants pay off first.
        let unused = std::mem::take(&mut self.core_window);
        self.ui_credit_debt.messages = self.ui_credit_debt.messages.saturating_add(unused.messages);
        self.ui_credit_debt.bytes = self.ui_credit_debt.bytes.saturating_add(unused.bytes);
        // State updates: a new sequence, and credit for what the queue has room for now (each
        // waiting update refunds its room as it leaves, as always).
        self.core_expected_sequence = 1;
        self.core_credit = CreditWindow::default();
        let room = Credit {
            messages: u32::try_from(self.queue.capacity().saturating_sub(self.queue.len())).unwrap_or(u32::MAX),
            bytes: STATE_QUEUE_BYTES.saturating_sub(self.queue.bytes() as u64),
        };
        self.core_credit.grant(room);
        out.push(Output::ToCore(BrokerToCore::Credit(room)));
        self.stats.core_ready = true;
        self.stats.core_swaps += 1;
        self.core_started = now;
        self.core_held = false;
        self.flush_to_core(now, out);
    }

    /// The part of a core's grant that reaches the page, once the debt a swap left is paid.
    pub(super) fn absorb_ui_credit_debt(&mut self, credit: Credit) -> Credit {
        let debt = &mut self.ui_credit_debt;
        let messages = u64::from(credit.messages).min(debt.messages);
        let bytes = credit.bytes.min(debt.bytes);
        debt.messages -= messages;
        debt.bytes -= bytes;
        Credit {
            messages: credit.messages - u32::try_from(messages).unwrap_or(credit.messages),
            bytes: credit.bytes - bytes,
        }
    }
}
