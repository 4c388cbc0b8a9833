//! The `weft://channel/…` protocol handler: the binding's transport, in Servo's main process.
//!
//! Servo runs `load` on its network runtime; it must not block for long. The endpoints:
//! - `POST weft://channel/post` — a JSON [`PagePost`](crate::bridge::PagePost) (sends and
//!   consumption), answered at once with 204; verdicts arrive on the event stream.
//! - `GET weft://channel/events?cursor=N` — newline-delimited JSON events after `N`, streamed
//!   for [`STREAM_LIFETIME`] or [`STREAM_MAX_BYTES`], then finished (the binding reconnects
//!   from its cursor), because the handler is never told when a page goes away and Servo keeps
//!   a streamed body in memory until it is done.
//! - `POST weft://channel/test-driver` — `{"action": "kill-core" | "trap-core" | "close-app"}`,
//!   only when the shell runs with `--test-driver` (and appd granted test mode).
//!
//! Every request must carry the session's token (`X-Weft-Token`), which only the binding in the
//! app's top-level document holds. Anything else is refused with 403 and logged.

use crate::bridge::{Bridge, PagePost, TestDriverAction};
use net::fetch::methods::{Data, DoneChannel, FetchContext};
use net_traits::request::{BodyChunkRequest, BodyChunkResponse, Request};
use servo::protocol_handler::{HttpStatus, ProtocolHandler, Response, ResponseBody};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The scheme the binding talks to.
pub const SCHEME: &str = "weft";
/// How long one event stream stays open.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(20);
/// How much one event stream carries before it is ended (the binding reconnects from its
/// cursor). Servo keeps a streamed response's whole body in memory until it is done, so an
/// unbounded stream under a flood would grow the shell by megabytes per second.
pub const STREAM_MAX_BYTES: usize = 1 << 20;
/// Largest post accepted (a batch of sends).
const MAX_POST_BYTES: usize = 8 << 20;

/// The handler for one session's webview.
pub struct ChannelScheme {
    bridge: Bridge,
}

impl ChannelScheme {
    /// A handler serving `bridge` (and its test driver, if [`Bridge::test_driver_enabled`]).
    pub fn new(bridge: Bridge) -> ChannelScheme {
        ChannelScheme { bridge }
    }
}

/// The body of a test driver request.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TestDriverRequest {
    action: TestDriverAction,
}

fn status(code: u16, text: &str) -> HttpStatus {
    HttpStatus::new_raw(code, text.as_bytes().to_vec())
}

impl ProtocolHandler for ChannelScheme {
    fn load<'a>(
        &'a self,
        request: &'a mut Request,
        done_chan: &mut DoneChannel,
        _context: &FetchContext,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>> {
        let url = request.current_url();
        let mut response = Response::new(url.clone(), net_traits::ResourceFetchTiming::new(request.timing_type()));
        let token_ok =
            request.headers.get("x-weft-token").and_then(|v| v.to_str().ok()).is_some_and(|t| t == self.bridge.token());
        if !token_ok {
            tracing::warn!(url = %url, "refused a weft:// request without the session token");
            response.status = status(403, "Forbidden");
            *response.body.lock() = ResponseBody::Done(Vec::new());
            return Box::pin(std::future::ready(response));
        }
        match (url.host_str(), url.path()) {
            (Some("channel"), "/post") => {
                match read_body(request).and_then(|b| serde_json::from_slice::<PagePost>(&b).map_err(|e| e.to_string()))
                {
                    Ok(post) => {
                        self.bridge.on_post(post);
                        response.status = status(204, "No Content");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed post from the page");
                        response.status = status(400, "Bad Request");
                    }
                }
                *response.body.lock() = ResponseBody::Done(Vec::new());
            }
            (Some("channel"), "/test-driver") if self.bridge.test_driver_enabled() => {
                let outcome = read_body(request)
                    .and_then(|b| serde_json::from_slice::<TestDriverRequest>(&b).map_err(|e| e.to_string()))
                    .and_then(|r| self.bridge.test_driver(r.action).map_err(|e| format!("refused: {e}")));
                response.status = match outcome {
                    Ok(()) => status(204, "No Content"),
                    Err(e) => {
                        tracing::warn!(error = %e, "test driver request failed");
                        status(400, "Bad Request")
                    }
                };
                *response.body.lock() = ResponseBody::Done(Vec::new());
            }
            (Some("channel"), "/events") => {
                let cursor = url
                    .as_url()
                    .query_pairs()
                    .find(|(k, _)| k == "cursor")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(0);
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                *done_chan = Some((tx.clone(), rx));
                *response.body.lock() = ResponseBody::Receiving(Vec::new());
                response.status = status(200, "OK");
                let sink_tx = tx.clone();
                let mut carried = 0usize;
                let id = self.bridge.open_stream(
                    cursor,
                    Box::new(move |chunk| {
                        carried += chunk.len();
                        let sent = sink_tx.send(Data::Payload(chunk)).is_ok();
                        if carried >= STREAM_MAX_BYTES {
                            // Full: finish this response; the page reconnects from its cursor.
                            let _ = sink_tx.send(Data::Done);
                            return false;
                        }
                        sent
                    }),
                );
                let bridge = self.bridge.clone();
                std::thread::spawn(move || {
                    // Bound the stream's life; the page reconnects from its cursor.
                    std::thread::sleep(STREAM_LIFETIME);
                    bridge.close_stream(id);
                    let _ = tx.send(Data::Done);
                });
            }
            _ => {
                response.status = status(404, "Not Found");
                *response.body.lock() = ResponseBody::Done(Vec::new());
            }
        }
        Box::pin(std::future::ready(response))
    }

    fn is_fetchable(&self) -> bool {
        true
    }

    fn is_secure(&self) -> bool {
        true
    }
}

/// Reads a request body through Servo's body-chunk protocol, bounded by [`MAX_POST_BYTES`].
fn read_body(request: &mut Request) -> Result<Vec<u8>, String> {
    let body = request.body.as_mut().ok_or("no body")?;
    let stream = body.clone_stream();
    let mut stream = stream.lock();
    let requester = stream.as_mut().ok_or("body already taken")?;
    let (tx, rx) = ipc_channel::ipc::channel().map_err(|e| e.to_string())?;
    requester.send(BodyChunkRequest::Connect(tx)).map_err(|e| e.to_string())?;
    requester.send(BodyChunkRequest::Chunk).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    loop {
        match rx.recv().map_err(|e| e.to_string())? {
            BodyChunkResponse::Chunk(bytes) => {
                out.extend_from_slice(&bytes);
                if out.len() > MAX_POST_BYTES {
                    return Err(format!("post larger than {MAX_POST_BYTES} bytes"));
                }
                requester.send(BodyChunkRequest::Chunk).map_err(|e| e.to_string())?;
            }
            BodyChunkResponse::Done => return Ok(out),
            BodyChunkResponse::Error => return Err("body stream error".into()),
        }
    }
}
