//! WEFT integration tests across real processes: a real `weft-appd`, real core hosts running
//! real Wasm cores under Wasmtime, and the test UI peer speaking the shell's protocol code.
//! One binary, one module per behaviour.

mod backpressure;
mod chaos;
mod cli;
mod confinement;
mod control;
mod core_swap;
mod dev;
mod examples;
mod failures;
mod forged_datagrams;
mod hostile;
mod memory;
mod message_types;
mod messaging;
mod network;
mod patch_crates;
mod recorder;
mod shell;
mod violations;
mod wpt_runner;
