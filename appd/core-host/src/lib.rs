//! The WEFT core host: runs one app's `core.wasm` under Wasmtime, in its own process, as the
//! core endpoint of a session brokered by `weft-appd`.
//!
//! The binary (`weft-core-host <core.wasm>`, see `main.rs`) is a thin shell over these modules,
//! each with one job:
//!
//! - [`session`]: the session's life — start the core, relay events and state updates, report
//!   faults — and its [`session::Outcome`].
//! - [`link`]: the broker connection — handshake, non-blocking outgoing frames, the reader
//!   thread, and getting the last frames out before the process exits.
//! - [`module_cache`]: precompiled cores kept between sessions (skips compilation).
//! - [`sandbox`]: the Wasmtime engine, limits, deadlines, WASI context and the core's imports.
//! - [`state_outbox`]: the bounded, coalescing, credit-gated queue of state updates (pure).
//! - [`guest_output`]: the core's `log` import and stdout/stderr, bounded, to the session log.
//! - [`deterministic`]: the clocks and random numbers a core gets without capabilities.
//! - [`logging`]: the process's tracing subscriber.

pub mod confine;
pub mod confinement_probe;
pub mod deterministic;
pub mod guest_output;
pub mod link;
pub mod logging;
pub mod module_cache;
pub mod sandbox;
pub mod session;
pub mod state_outbox;
