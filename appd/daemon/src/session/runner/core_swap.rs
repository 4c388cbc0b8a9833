//! A new core taking a running session over (`swap-core`; `weft dev` after a core edit): the
//! same session, page and channel, a new core host with the old core's state.
//!
//! 1. The request starts a core host from the app's core file, on a thread of its own (its
//!    handshake must not hold up the session), as the next *generation*. Every frame and exit
//!    of a core host carries its generation, so the runner tells the cores apart.
//! 2. Once it joined, the broker holds delivery toward the core and gives the new core the UI
//!    events the old one was handed ([`Broker::begin_core_swap`]). The new core replays them
//!    (the core host's carry path) and reports ready. Meanwhile the old core goes on serving.
//! 3. On `Ready` the new core takes over ([`Broker::commit_core_swap`]). The old core is told
//!    the session is over for it, and it is killed if it lingers. What it still sends is
//!    dropped. If the new core fails, closes or is not ready in time, it is killed and the old
//!    core keeps the session. The requester hears which happened.
//!
//! [`Broker::begin_core_swap`]: crate::session::broker::Broker::begin_core_swap
//! [`Broker::commit_core_swap`]: crate::session::broker::Broker::commit_core_swap

use super::{core_welcome, EndpointEnd, Event, JoinedCore, LaunchError, Runner, EXIT_GRACE};
use crate::registry::{CoreSwapped, SessionState};
use crate::session::broker::{Flow, Output};
use crate::spawn::{describe_exit, ChildProcess, Exit};
use std::sync::mpsc::{SendError, SyncSender};
use std::thread;
use std::time::Instant;
use weft_ipc::credit::Credit;
use weft_ipc::frames::{BrokerToCore, CoreLifecycle, CoreToBroker};
use weft_ipc::lock;
use weft_ipc::reason::{EndReason, SessionEnd};
use weft_ipc::transport::{BatchReceiver, Drained, Inbound, Outbox};

/// Where a swap's outcome goes: the control request waiting for it.
pub(super) type Reply = SyncSender<Result<CoreSwapped, String>>;

/// A session's core swaps: the one under way, if any, and the cores they replaced.
#[derive(Default)]
pub(super) struct SwapState {
    /// A core host is being started; its join arrives as [`Event::CoreJoined`].
    starting: bool,
    /// The new core, joined and getting ready.
    incoming: Option<Incoming>,
    /// The new core's endpoint, for the session thread to start its reader on.
    new_reader: Option<(u64, BatchReceiver<CoreToBroker>)>,
    /// Replaced cores, told their session is over, with when: killed if they linger.
    retiring: Vec<(ChildProcess, Instant)>,
    /// The last generation given to a core host.
    last_generation: u64,
}

/// A new core that joined and is not ready yet.
struct Incoming {
    generation: u64,
    process: ChildProcess,
    outbox: Outbox<BrokerToCore>,
    drained: Drained,
    since: Instant,
    carried_ui_events: u64,
    not_carried: Option<String>,
    reply: Reply,
    /// How it confined itself (reported before `Ready`).
    confinement: Option<weft_ipc::frames::Confinement>,
}

impl SwapState {
    /// The new core's endpoint, once, for the session thread to read.
    pub(super) fn take_new_reader(&mut self) -> Option<(u64, BatchReceiver<CoreToBroker>)> {
        self.new_reader.take()
    }

    /// The session ends: a new core is killed and its requester told `why`; replaced cores
    /// still running are killed.
    pub(super) fn end(&mut self, why: &str) {
        if let Some(incoming) = self.incoming.take() {
            incoming.process.kill();
            let _ = incoming.reply.try_send(Err(format!("the new core did not take over: {why}")));
        }
        for (core, _) in self.retiring.drain(..) {
            core.kill();
        }
    }
}

/// Turns down a swap whose core host joined too late: `why`.
pub(super) fn refuse(joined: Result<JoinedCore, LaunchError>, reply: Reply, why: &str) {
    if let Ok(joined) = joined {
        joined.process.kill();
    }
    let _ = reply.try_send(Err(format!("the new core did not take over: {why}")));
}

impl Runner {
    /// A swap was asked for: the new core host starts on a thread of its own.
    pub(super) fn start_swap(&mut self, reply: Reply) -> Flow {
        if self.swap.starting || self.swap.incoming.is_some() {
            let _ = reply.try_send(Err("a core swap is already under way".into()));
            return Flow::Continue;
        }
        self.swap.last_generation = self.swap.last_generation.max(self.core_generation) + 1;
        let generation = self.swap.last_generation;
        let starter = self.core_starter.clone();
        let spawned = thread::Builder::new().name("weft-core-swap".into()).spawn(move || {
            let joined = starter.start(generation);
            if let Err(SendError(Event::CoreJoined(joined, reply))) =
                starter.events.send(Event::CoreJoined(Box::new(joined), reply))
            {
                refuse(*joined, reply, "the session ended");
            }
        });
        match spawned {
            Ok(_) => self.swap.starting = true,
            // The reply went with the closure: its requester hears that no answer came.
            Err(e) => tracing::warn!(error = %e, "cannot start a thread for a core swap"),
        }
        Flow::Continue
    }

    /// The new core host joined (or could not): it gets its welcome with the UI events to
    /// replay, and the broker holds delivery toward the core until it is ready.
    pub(super) fn stage_core(
        &mut self,
        joined: Result<JoinedCore, LaunchError>,
        reply: Reply,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Flow {
        self.swap.starting = false;
        let JoinedCore { generation, process, end } = match joined {
            Ok(joined) => joined,
            Err(e) => {
                tracing::warn!(error = %e, "the new core did not start; the running core keeps the session");
                let _ = reply.try_send(Err(format!("the new core did not start: {e}")));
                return Flow::Continue;
            }
        };
        let swap = self.broker.begin_core_swap();
        let carried_ui_events = swap.carried_events.len() as u64;
        let session_id = &self.core_starter.session_id;
        // No credit for state updates yet: the new core gets the queue's room when it takes over.
        let welcome = core_welcome(&self.app, session_id, Credit::default(), swap.carried_events);
        let mut frames = vec![BrokerToCore::Welcome(welcome)];
        if swap.tell_page_attached {
            frames.push(BrokerToCore::PageAttached);
        }
        if end.outbox.try_send_all(frames).is_err() {
            process.kill();
            self.broker.abort_core_swap(now, out);
            let _ = reply.try_send(Err("the new core host went away before its welcome".into()));
            return Flow::Continue;
        }
        tracing::info!(carried_ui_events, pid = process.pid(), "a new core is getting ready to take the session over");
        self.swap.incoming = Some(Incoming {
            generation,
            process,
            outbox: end.outbox,
            drained: end.drained,
            since: now,
            carried_ui_events,
            not_carried: swap.not_carried,
            reply,
            confinement: None,
        });
        self.swap.new_reader = Some((generation, end.receiver));
        let mut flow = Flow::Continue;
        for frame in end.first {
            flow = self.on_event(Event::Core(generation, Inbound::Frame(frame)), now, out);
            if flow != Flow::Continue {
                break;
            }
        }
        flow
    }

    /// What a core host other than the session's sent: the new core's start, or a replaced
    /// core's last words (dropped).
    pub(super) fn on_other_core(
        &mut self,
        generation: u64,
        inbound: Inbound<CoreToBroker>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Flow {
        if self.swap.incoming.as_ref().is_none_or(|i| i.generation != generation) {
            return Flow::Continue;
        }
        let failure = match inbound {
            Inbound::Frame(CoreToBroker::Confined(confinement)) => {
                if let Some(incoming) = self.swap.incoming.as_mut() {
                    incoming.confinement = Some(confinement);
                }
                return Flow::Continue;
            }
            Inbound::Frame(CoreToBroker::Lifecycle(CoreLifecycle::Ready)) => {
                self.commit_swap(now, out);
                return Flow::Continue;
            }
            Inbound::Frame(CoreToBroker::Lifecycle(CoreLifecycle::StartFailed(detail))) => {
                format!("it failed to start: {detail}")
            }
            Inbound::Frame(CoreToBroker::Lifecycle(CoreLifecycle::Trapped(detail))) => format!("it trapped: {detail}"),
            Inbound::Frame(CoreToBroker::Lifecycle(CoreLifecycle::DeadlineExceeded(detail))) => {
                format!("it overran its deadline: {detail}")
            }
            Inbound::Frame(_) => "it sent a message before it reported ready".to_owned(),
            Inbound::Malformed(e) => format!("it sent a malformed frame: {e}"),
            Inbound::Disconnected => "it closed its endpoint before it was ready".to_owned(),
        };
        self.abort_swap(&failure, now, out);
        Flow::Continue
    }

    /// A core host other than the session's exited.
    pub(super) fn other_core_exited(
        &mut self,
        generation: u64,
        status: &Exit,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Flow {
        if self.swap.incoming.as_ref().is_some_and(|i| i.generation == generation) {
            self.abort_swap(&format!("its host exited ({})", describe_exit(status)), now, out);
        }
        self.swap.retiring.retain(|(core, _)| !core.has_exited());
        Flow::Continue
    }

    /// The new core is ready: it takes the session over and the old one is retired.
    fn commit_swap(&mut self, now: Instant, out: &mut Vec<Output>) {
        let Some(incoming) = self.swap.incoming.take() else { return };
        // Nothing produced before this point was for the new core.
        out.retain(|o| !matches!(o, Output::ToCore(_) | Output::KillCore));
        let old_core = std::mem::replace(&mut self.core, incoming.process);
        let old_outbox = std::mem::replace(&mut self.core_outbox, incoming.outbox);
        self.drained[0] = incoming.drained;
        self.core_generation = incoming.generation;
        self.ends.core = EndpointEnd::default();
        // The old core ends the way a session's end ends it (its writer sends what it holds).
        let notice = SessionEnd {
            reason: EndReason::Ended,
            detail: "a new core took the session over".into(),
            unconfirmed_ui_events: 0,
            undelivered_state_updates: 0,
        };
        if old_outbox.try_send(BrokerToCore::SessionEnd(notice)).is_err() {
            old_core.kill();
        }
        drop(old_outbox);
        self.swap.retiring.push((old_core, now));
        let carried_ui_events = incoming.carried_ui_events;
        self.broker.commit_core_swap(carried_ui_events, incoming.not_carried.as_deref(), now, out);
        if let Some(confinement) = incoming.confinement {
            self.broker.set_core_confinement(confinement);
        }
        let core_pid = self.core.pid();
        lock(&self.status).core_pid = Some(core_pid);
        self.publish(SessionState::Open, None);
        match &incoming.not_carried {
            None => tracing::info!(carried_ui_events, pid = core_pid, "a new core took the session over"),
            Some(why) => tracing::warn!(
                %why, pid = core_pid,
                "a new core took the session over; the old core's state is not carried, it starts afresh"
            ),
        }
        let swapped = CoreSwapped { core_pid, carried_ui_events, not_carried: incoming.not_carried };
        let _ = incoming.reply.try_send(Ok(swapped));
    }

    /// The new core will not take over (`detail` says why): it is killed and the events held
    /// for it go on to the old core.
    fn abort_swap(&mut self, detail: &str, now: Instant, out: &mut Vec<Output>) {
        let Some(incoming) = self.swap.incoming.take() else { return };
        incoming.process.kill();
        self.swap.new_reader = None;
        tracing::warn!(%detail, "the new core did not take the session over; the running core keeps it");
        self.broker.abort_core_swap(now, out);
        let _ = incoming.reply.try_send(Err(format!("the new core did not take over: {detail}")));
    }

    /// [`Runner::abort_swap`] outside a turn: what it releases is sent at once.
    pub(super) fn abort_swap_now(&mut self, detail: &str, now: Instant) {
        let mut out = std::mem::take(&mut self.out);
        self.abort_swap(detail, now, &mut out);
        if let Flow::End(reason, detail) = self.deliver(&mut out) {
            self.end.get_or_insert((reason, detail));
        }
        self.out = out;
    }

    /// The clock, for swaps: a new core late to be ready is given up; a replaced core that
    /// lingers is killed.
    pub(super) fn swap_tick(&mut self, now: Instant) {
        let timeout = self.broker.startup_timeout();
        if self.swap.incoming.as_ref().is_some_and(|i| now.duration_since(i.since) > timeout) {
            self.abort_swap_now(&format!("it did not report ready within {timeout:?}"), now);
        }
        self.swap.retiring.retain(|(core, since)| {
            let lingers = now.duration_since(*since) >= EXIT_GRACE;
            if lingers {
                core.kill();
            }
            !lingers && !core.has_exited()
        });
    }
}
