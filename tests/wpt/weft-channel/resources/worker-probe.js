// A worker that reports whether it sees the binding, and what a WebSocket to the channel socket
// (its port in the worker's query) gets without the binding's token.
importScripts("weft-helpers.js");
const port = new URLSearchParams(self.location.search).get("port");
socketOutcome(`ws://127.0.0.1:${port}/channel/${"0".repeat(64)}?cursor=0`).then((socket) =>
  postMessage({ weft: typeof self.weft, socket }),
);
