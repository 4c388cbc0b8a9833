//! Development only (`weft dev --devtools`): Servo's devtools server, so that Firefox's remote
//! debugging (about:debugging → Setup → Network location `localhost:PORT`) can inspect the
//! app's page: its DOM, console and JavaScript debugger.
//!
//! The server listens on 127.0.0.1 only. Servo asks the embedder before it accepts a client
//! that does not present its token (Firefox does not); in dev mode every such client is
//! allowed, and logged, since the point is to let the developer's browser in. `weft run` and
//! production sessions never turn it on.

use servo::{AllowOrDenyRequest, Preferences, ServoDelegate};

/// `preferences` with the devtools server on `127.0.0.1:port`.
pub fn with_server(preferences: Preferences, port: u16) -> Preferences {
    Preferences {
        devtools_server_enabled: true,
        devtools_server_listen_address: format!("127.0.0.1:{port}"),
        ..preferences
    }
}

/// Says where the devtools server listens and lets clients in (dev mode only).
pub struct DevtoolsDelegate;

impl ServoDelegate for DevtoolsDelegate {
    fn notify_devtools_server_started(&self, port: u16, _token: String) {
        tracing::info!(
            port,
            "devtools: listening on 127.0.0.1:{port}; in Firefox, open about:debugging, Setup, add the network location localhost:{port}"
        );
    }

    fn request_devtools_connection(&self, request: AllowOrDenyRequest) {
        tracing::warn!("devtools: a client connected (dev mode lets it in)");
        request.allow();
    }
}
