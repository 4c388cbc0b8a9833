//! The binding's transport: a WebSocket server on loopback, inside the shell.
//!
//! The page's binding opens one WebSocket for the life of its document and keeps it: posts
//! (sends, consumed credit, the cursor it has handled) go up as text messages, and each burst of
//! events comes down as one text message of newline-delimited JSON lines. A persistent socket
//! costs Servo one fetch (the handshake) per document, where a per-post `fetch()` paid the
//! whole fetch machinery per message (docs/performance.md).
//!
//! Endpoints (`ws://127.0.0.1:PORT/…`; the port is ephemeral, chosen per shell):
//! - `/channel/TOKEN?cursor=N` — the channel. A newer connection replaces an older one (a
//!   reload, or the binding reconnecting); the event log replays from the cursor.
//! - `/test-driver/TOKEN` — one JSON `{"action": …}` message, answered `ok` or `refused: …`;
//!   only when the shell runs with `--test-driver` (and appd granted test mode).
//!
//! **Who can connect.** The listener is bound to 127.0.0.1 only, and a connection from a
//! process of another user (the owner of its socket in `/proc/net/tcp`) is closed at once. The
//! token is the session's secret (256 random bits), held only by the binding's closure in the
//! app's top-level document; a handshake without it is
//! refused with 403 and logged. The webview's load policy lets no other network URL load at
//! all. Handshakes are bounded in time and in number, and a message over [`MAX_POST_BYTES`]
//! ends the connection. Nothing the socket carries is trusted: every send is re-checked by the
//! broker in `weft-appd`.

use crate::bridge::{Bridge, PagePost, StreamSink, TestDriverAction};
use async_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest message accepted from the page (a batch of sends; the binding splits bigger ones).
pub const MAX_POST_BYTES: usize = 8 << 20;
/// How long a connection may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection the shell closes waits for the page's answering close.
const CLOSE_WAIT: Duration = Duration::from_millis(500);
/// Connections still in their handshake at once; more are closed at once.
const MAX_HANDSHAKES: usize = 8;

/// What a handshake asked for, once its path and token checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// The channel, replaying the event log after `cursor`.
    Channel { cursor: u64 },
    /// One test driver request.
    TestDriver,
}

/// The running server. Its thread lives as long as the process (the shell serves one
/// session).
#[derive(Clone)]
pub struct ChannelSocket {
    port: u16,
    token: Arc<str>,
}

impl std::fmt::Debug for ChannelSocket {
    /// Without the token: a policy or a socket may be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSocket").field("port", &self.port).finish_non_exhaustive()
    }
}

/// The body of a test driver request.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TestDriverRequest {
    action: TestDriverAction,
}

impl ChannelSocket {
    /// Binds an ephemeral port on 127.0.0.1 and serves `bridge` on it from a thread of its own.
    pub fn start(bridge: Bridge) -> std::io::Result<ChannelSocket> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let own = Own { port, uid: std::fs::metadata("/proc/self")?.uid() };
        // Made here, only when the socket carrier or the test driver runs: the native carrier
        // has no token at all.
        let token: Arc<str> = weft_ipc::random_hex(32).map_err(std::io::Error::other)?.into();
        let serve_token = token.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        std::thread::Builder::new().name("weft-socket".into()).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, own, serve_token, bridge).await,
                    Err(e) => tracing::error!(error = %e, "cannot serve the channel socket"),
                }
            })
        })?;
        tracing::info!(port, "channel socket listening on 127.0.0.1");
        Ok(ChannelSocket { port, token })
    }

    /// The URL the binding opens (before its `?cursor=`): it carries the token.
    pub fn channel_url(&self) -> String {
        format!("ws://127.0.0.1:{}/channel/{}", self.port, self.token)
    }

    /// The URL the test driver opens: it carries the token.
    pub fn test_driver_url(&self) -> String {
        format!("ws://127.0.0.1:{}/test-driver/{}", self.port, self.token)
    }

    /// Whether `url` is this socket (what the load policy lets the webview open). Servo asks
    /// about a WebSocket's handshake as an `http:` load (the Fetch standard's rule), so both
    /// schemes name it; a plain HTTP request gets nothing from the socket but a refusal.
    pub fn serves(&self, url: &url::Url) -> bool {
        matches!(url.scheme(), "ws" | "http")
            && url.host() == Some(url::Host::Ipv4(Ipv4Addr::LOCALHOST))
            && url.port() == Some(self.port)
    }
}

/// This socket's port and the uid it serves (the shell's own).
#[derive(Clone, Copy)]
struct Own {
    port: u16,
    uid: u32,
}

async fn serve(listener: tokio::net::TcpListener, own: Own, token: Arc<str>, bridge: Bridge) {
    let handshaking = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "channel socket: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Only processes of this user may even start a handshake: another user's process is
        // closed before it can hold one of the handshake slots.
        let owner = std::fs::read_to_string("/proc/net/tcp").ok().and_then(|t| peer_owner(&t, peer.port(), own.port));
        if owner != Some(own.uid) {
            tracing::warn!(%peer, ?owner, "channel socket: refused a connection from another user");
            continue;
        }
        if handshaking.load(Ordering::Relaxed) >= MAX_HANDSHAKES {
            tracing::warn!(%peer, "channel socket: too many handshakes at once; closed a connection");
            continue;
        }
        handshaking.fetch_add(1, Ordering::Relaxed);
        let bridge = bridge.clone();
        let token = token.clone();
        let handshaking = handshaking.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut endpoint = None;
            // The signature is tungstenite's handshake callback's.
            #[allow(clippy::result_large_err)]
            let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
                match authorise(request.uri(), &token, bridge.test_driver_enabled()) {
                    Ok(asked) => {
                        endpoint = Some(asked);
                        Ok(response)
                    }
                    Err(status) => {
                        tracing::warn!(%peer, path = request.uri().path().split('/').nth(1).unwrap_or(""), status,
                            "channel socket: refused a handshake");
                        let mut refusal = ErrorResponse::new(None);
                        *refusal.status_mut() =
                            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::FORBIDDEN);
                        Err(refusal)
                    }
                }
            };
            let config = WebSocketConfig::default().max_message_size(Some(MAX_POST_BYTES));
            let accepted = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                async_tungstenite::tokio::accept_hdr_async_with_config(stream, check, Some(config)),
            )
            .await;
            handshaking.fetch_sub(1, Ordering::Relaxed);
            let socket = match accepted {
                Ok(Ok(socket)) => socket,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "channel socket: handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "channel socket: handshake timed out");
                    return;
                }
            };
            match endpoint {
                Some(Endpoint::Channel { cursor }) => channel(socket, bridge, cursor).await,
                Some(Endpoint::TestDriver) => test_driver(socket, bridge).await,
                None => {}
            }
        });
    }
}

/// The uid owning the client end of a loopback connection from `client_port` to `server_port`,
/// from the text of `/proc/net/tcp` (the client's entry has its port as local address and ours
/// as remote; addresses are in the kernel's byte order, ports in hex).
fn peer_owner(table: &str, client_port: u16, server_port: u16) -> Option<u32> {
    let local = format!("0100007F:{client_port:04X}");
    let remote = format!("0100007F:{server_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let matches = fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str());
        if matches {
            fields.get(7).and_then(|uid| uid.parse().ok())
        } else {
            None
        }
    })
}

/// Checks a handshake's path and token; `Err` is the HTTP status to refuse with.
fn authorise(uri: &http::Uri, token: &str, test_driver: bool) -> Result<Endpoint, u16> {
    let mut parts = uri.path().trim_start_matches('/').splitn(2, '/');
    let (kind, presented) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !weft_ipc::same_secret(presented, token) {
        return Err(403);
    }
    match kind {
        "channel" => {
            let cursor = uri
                .query()
                .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("cursor=")))
                .map_or(Ok(0), str::parse::<u64>)
                .map_err(|_| 400u16)?;
            Ok(Endpoint::Channel { cursor })
        }
        "test-driver" if test_driver => Ok(Endpoint::TestDriver),
        _ => Err(404),
    }
}

type Socket = async_tungstenite::WebSocketStream<async_tungstenite::tokio::TokioAdapter<tokio::net::TcpStream>>;

/// The bridge's side of one connection: chunks to its writer, or a cut.
struct ConnectionSink {
    chunks: tokio::sync::mpsc::UnboundedSender<String>,
    cut: Arc<tokio::sync::Notify>,
}

impl StreamSink for ConnectionSink {
    fn send(&mut self, chunk: String) -> bool {
        self.chunks.send(chunk).is_ok()
    }

    fn cut(&mut self) {
        self.cut.notify_one();
    }
}

/// Relays one channel connection until either side ends it or a newer one replaces it.
async fn channel(socket: Socket, bridge: Bridge, cursor: u64) {
    let (mut to_page, mut from_page) = socket.split();
    // Bounded by the bridge, not here: its log holds at most `MAX_LOG` events, each chunk is
    // what one burst produced, and the broker's credit bounds the messages among them.
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::unbounded_channel::<String>();
    let cut = Arc::new(tokio::sync::Notify::new());
    let sink = ConnectionSink { chunks: chunks_tx, cut: cut.clone() };
    let probe = bridge.probe();
    if let Some(probe) = &probe {
        probe.connection_opened();
    }
    let stream_id = bridge.open_stream(cursor, Box::new(sink));
    tracing::debug!(stream_id, cursor, "channel socket: the page connected");
    let writer = async {
        loop {
            tokio::select! {
                biased;
                () = cut.notified() => {
                    tracing::warn!("channel socket: cut by the test driver");
                    return false;
                }
                chunk = chunks.recv() => match chunk {
                    Some(chunk) => {
                        if let Err(e) = to_page.send(Message::text(chunk)).await {
                            tracing::debug!(error = %e, "channel socket: the page is gone");
                            return false;
                        }
                        if let Some(probe) = &probe {
                            probe.chunk_written();
                        }
                    }
                    None => break,
                },
            }
        }
        // The bridge let go of this connection (a newer one replaced it, or the shell is
        // exiting): say so and close.
        to_page.close(None).await.is_ok()
    };
    let reader = async {
        while let Some(message) = from_page.next().await {
            let read_at = probe.is_some().then(Instant::now);
            match message {
                Ok(Message::Text(text)) => match serde_json::from_str::<PagePost>(text.as_str()) {
                    Ok(post) => {
                        if let (Some(probe), Some(read_at)) = (&probe, read_at) {
                            probe.post(read_at, &post.sends.iter().map(|s| s.payload.len()).collect::<Vec<_>>());
                        }
                        bridge.on_post(post)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "channel socket: malformed post from the page; closing");
                        return;
                    }
                },
                // Read on: the stream answers the close and then ends (dropped now, the page's
                // side would see a reset instead of a closed socket).
                Ok(Message::Close(_)) => {}
                Ok(Message::Binary(_)) => {
                    tracing::warn!("channel socket: a binary message from the page; closing");
                    return;
                }
                Ok(_) => {}
                Err(WsError::ConnectionClosed | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                    tracing::debug!("channel socket: the page went away");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "channel socket: read failed; closing");
                    return;
                }
            }
        }
    };
    tokio::pin!(writer, reader);
    tokio::select! {
        closing = &mut writer => {
            if closing {
                // The page answers a close with its own; a socket dropped before that reads as a
                // reset on its side.
                let _ = tokio::time::timeout(CLOSE_WAIT, &mut reader).await;
            }
        }
        () = &mut reader => {}
    }
    bridge.close_stream(stream_id);
}

/// Serves one test driver request.
async fn test_driver(mut socket: Socket, bridge: Bridge) {
    let answer = match tokio::time::timeout(HANDSHAKE_TIMEOUT, socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<TestDriverRequest>(text.as_str())
            .map_err(|e| format!("malformed request: {e}"))
            .and_then(|request| bridge.test_driver(request.action)),
        _ => Err("no request".to_owned()),
    };
    let reply = match answer {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "test driver request refused");
            format!("refused: {e}")
        }
    };
    let _ = socket.send(Message::text(reply)).await;
    let _ = socket.close(None).await;
}

#[cfg(test)]
impl ChannelSocket {
    /// A socket's identity without a server behind it (policy tests).
    pub(crate) fn unstarted(port: u16) -> ChannelSocket {
        ChannelSocket { port, token: "t".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_token_out() {
        let socket = ChannelSocket { port: 4000, token: "s3cr3t-token".into() };
        let shown = format!(
            "{socket:?} {:?}",
            crate::policy::UiPolicy::new(std::path::Path::new("/a/ui")).map(|p| p.with_socket(socket.clone()))
        );
        assert!(shown.contains("4000") && !shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn serves_only_its_own_loopback_port() {
        let socket = ChannelSocket::unstarted(4000);
        let serves = |s: &str| socket.serves(&url::Url::parse(s).expect("url"));
        assert!(serves("ws://127.0.0.1:4000/channel/t?cursor=0"));
        assert!(!serves("ws://127.0.0.1:4001/channel/t"));
        assert!(!serves("ws://localhost:4000/channel/t"));
        assert!(!serves("wss://127.0.0.1:4000/channel/t"));
        assert!(serves("http://127.0.0.1:4000/channel/t"), "the handshake's fetch");
        assert!(!serves("https://127.0.0.1:4000/channel/t"));
        assert!(!serves("ws://10.0.0.1:4000/channel/t"));
    }

    fn uri(s: &str) -> http::Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn the_peer_owner_is_read_from_the_client_entry() {
        // Three entries as /proc/net/tcp lists them: the listener (port 0x9C40 = 40000), the
        // client end (port 0xD431 = 54321, uid 1000) and the accepted end (uid 0).
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 0100007F:D431 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 20 4 30 10 -1
   2: 0100007F:9C40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1
";
        assert_eq!(peer_owner(table, 54321, 40000), Some(1000));
        assert_eq!(peer_owner(table, 54322, 40000), None, "no such connection");
        assert_eq!(peer_owner(table, 54321, 40001), None, "to another port");
        assert_eq!(peer_owner("", 54321, 40000), None);
    }

    #[test]
    fn only_the_token_opens_an_endpoint() {
        let token = "0123456789abcdef0123456789abcdef";
        let ok = |s: &str, driver| authorise(&uri(s), token, driver);
        assert_eq!(ok(&format!("/channel/{token}?cursor=7"), false), Ok(Endpoint::Channel { cursor: 7 }));
        assert_eq!(ok(&format!("/channel/{token}"), false), Ok(Endpoint::Channel { cursor: 0 }));
        assert_eq!(ok(&format!("/channel/{token}?cursor=x"), false), Err(400));
        assert_eq!(ok("/channel/0123456789abcdef0123456789abcdee", false), Err(403));
        assert_eq!(ok("/channel/", false), Err(403));
        assert_eq!(ok("/channel", false), Err(403));
        assert_eq!(ok(&format!("/channel/{token}x"), false), Err(403));
        assert_eq!(ok(&format!("/test-driver/{token}"), false), Err(404));
        assert_eq!(ok(&format!("/test-driver/{token}"), true), Ok(Endpoint::TestDriver));
        assert_eq!(ok(&format!("/elsewhere/{token}"), true), Err(404));
    }
}
