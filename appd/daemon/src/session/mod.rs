//! One app session: the broker's rules ([`broker`]), its bounded state queue
//! ([`state_queue`]), the UI events kept for a core swap ([`ui_history`]) and the runner that
//! does its I/O ([`runner`]).

pub mod broker;
pub mod runner;
pub mod state_queue;
pub mod ui_history;
