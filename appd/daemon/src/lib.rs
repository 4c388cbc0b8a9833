//! `weft-appd`: the WEFT app daemon. It owns app sessions: for each it starts the core host
//! and the UI, checks their handshakes, and brokers both message streams, validating every
//! message before delivery.
//!
//! - [`manifest`]: the app package and its manifest.
//! - [`validation`]: compiled payload schemas.
//! - [`session`]: the broker's rules, its state queue and the per-session runner.
//! - [`recording`]: session recordings (`--record`); [`replay`] checks a core against one;
//!   [`inspect`] follows a live session.
//! - [`spawn`]: child processes.
//! - [`registry`]: live and ended sessions, machine-readable status.
//! - [`control`]: the owner-only control socket.

pub mod carry;
pub mod control;
pub mod inspect;
pub mod manifest;
mod manifest_keys;
pub mod message_digest;
pub mod recording;
pub mod registry;
pub mod replay;
pub mod session;
pub mod spawn;
pub mod validation;
