//! Test support for WEFT's integration and fault tests: a real `weft-appd` daemon in a
//! private runtime directory, app fixtures with real cores, and a driver for the test UI peer.
//!
//! - [`peer`]: the command/event vocabulary between a test and `weft-test-ui`.
//! - [`harness`]: starting the daemon, launching sessions, driving peers.
//! - [`wpt`], [`wptreport`]: the WPT-style runner behind `scripts/wpt` (the `weft-wpt` binary).

pub mod harness;
pub mod peer;
pub mod wpt;
pub mod wptreport;
