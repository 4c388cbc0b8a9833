//! The daemon's sessions, live and recently ended, and their machine-readable status.

use crate::recording::writer::RecordingStatus;
use crate::session::broker::BrokerStats;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use weft_ipc::envelope::SessionId;
use weft_ipc::lock;
use weft_ipc::reason::EndReason;

/// Ended sessions kept for `status`.
const ENDED_KEPT: usize = 64;

/// The lifecycle state of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// Children starting, endpoints not yet connected.
    Starting,
    /// Both endpoints connected; messages flow.
    Open,
    /// Ended; see `end`.
    Ended,
}

/// How a session ended, for status output.
#[derive(Clone, Debug, Serialize)]
pub struct EndStatus {
    /// The reason code.
    pub reason: String,
    /// The explanation.
    pub detail: String,
    /// Admitted UI events the core had not confirmed.
    pub unconfirmed_ui_events: u64,
    /// Accepted state updates that never reached the page.
    pub undelivered_state_updates: u64,
}

/// The status of one session (`weft-appd status --json`).
#[derive(Clone, Debug, Serialize)]
pub struct SessionStatus {
    /// The session id.
    pub session_id: String,
    /// The app's name.
    pub app: String,
    /// The app directory.
    pub app_dir: String,
    /// Lifecycle state.
    pub state: SessionState,
    /// Core host process id.
    pub core_pid: Option<u32>,
    /// UI process id.
    pub ui_pid: Option<u32>,
    /// Capabilities granted at launch.
    pub capabilities: Vec<String>,
    /// Milliseconds since the session was created.
    pub age_ms: u64,
    /// How it ended.
    pub end: Option<EndStatus>,
    /// Counters, queue depths and credits.
    pub stats: BrokerStats,
    /// The session recording, if one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingStatus>,
}

/// A message to a running session.
#[derive(Debug)]
pub enum Command {
    /// End the session with this reason.
    End(EndReason, String),
    /// Start a new core from the app's core file and let it take the session over once it is
    /// ready, with the old core's state (see [`crate::session::runner`]); the outcome is sent
    /// back on the channel.
    SwapCore(SyncSender<Result<CoreSwapped, String>>),
}

/// A new core took a session over.
#[derive(Clone, Debug, Serialize)]
pub struct CoreSwapped {
    /// The new core host's pid.
    pub core_pid: u32,
    /// The UI events it replayed to build the old core's state.
    pub carried_ui_events: u64,
    /// Why none were replayed, when none were: the new core started afresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_carried: Option<String>,
}

/// A registered session.
pub struct Entry {
    /// Its id.
    pub id: SessionId,
    /// Its status, updated by its runner.
    pub status: Arc<Mutex<SessionStatus>>,
    /// Where to send commands (gone once the session ended).
    pub commands: SyncSender<Command>,
}

/// All sessions of this daemon.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
    retired: Arc<Condvar>,
}

#[derive(Default)]
struct Inner {
    live: Vec<Entry>,
    ended: VecDeque<SessionStatus>,
}

impl Registry {
    /// Adds a live session.
    pub fn insert(&self, entry: Entry) {
        lock(&self.inner).live.push(entry);
    }

    /// Moves a session to the ended list.
    pub fn retire(&self, id: &SessionId) {
        let mut inner = lock(&self.inner);
        if let Some(pos) = inner.live.iter().position(|e| &e.id == id) {
            let entry = inner.live.remove(pos);
            let status = lock(&entry.status).clone();
            inner.ended.push_back(status);
            while inner.ended.len() > ENDED_KEPT {
                inner.ended.pop_front();
            }
        }
        self.retired.notify_all();
    }

    /// Waits until session `id` has ended and returns its final status (`None` if unknown or
    /// still live after `timeout`).
    pub fn wait_ended(&self, id: &SessionId, timeout: Duration) -> Option<SessionStatus> {
        // A timeout too large to add means no deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = lock(&self.inner);
        loop {
            if let Some(done) = inner.ended.iter().find(|s| s.session_id == id.0) {
                return Some(done.clone());
            }
            if !inner.live.iter().any(|e| &e.id == id) {
                return None;
            }
            let left = deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return None;
            }
            inner = self.retired.wait_timeout(inner, left).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
    }

    /// Waits until no session is live, up to `timeout`; returns whether none is.
    pub fn wait_all_ended(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = lock(&self.inner);
        while !inner.live.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inner = self.retired.wait_timeout(inner, left).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
        true
    }

    /// Status of every live session, then the recently ended ones.
    pub fn snapshot(&self) -> Vec<SessionStatus> {
        let inner = lock(&self.inner);
        let mut all: Vec<SessionStatus> = inner.live.iter().map(|e| lock(&e.status).clone()).collect();
        all.extend(inner.ended.iter().cloned());
        all
    }

    /// Sends a command to a live session; `false` if there is none with that id.
    pub fn command(&self, id: &str, command: Command) -> bool {
        let inner = lock(&self.inner);
        match inner.live.iter().find(|e| e.id.0 == id) {
            Some(entry) => entry.commands.try_send(command).is_ok(),
            None => false,
        }
    }

    /// Ids of live sessions.
    pub fn live_ids(&self) -> Vec<String> {
        lock(&self.inner).live.iter().map(|e| e.id.0.clone()).collect()
    }
}
