//! Test support for WEFT's integration and fault tests: a real `weft-appd` daemon in a
//! private runtime directory, app fixtures with real cores, and a driver for the test UI peer.
//!
//! - [`peer`]: the command/event vocabulary between a test and `weft-test-ui`.
//! - [`harness`]: starting the daemon, launching sessions, driving peers.

pub mod harness;
pub mod peer;
