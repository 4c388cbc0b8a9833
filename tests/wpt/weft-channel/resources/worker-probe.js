// A worker that reports whether it sees the binding, and what a WebSocket to the channel socket
// (its port in the worker's query) gets without the binding's token.
const port = new URLSearchParams(self.location.search).get("port");
new Promise((resolve) => {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/channel/${"0".repeat(64)}?cursor=0`);
  socket.onopen = () => resolve("open");
  socket.onerror = socket.onclose = () => resolve("refused");
}).then((socket) => postMessage({ weft: typeof self.weft, socket }));
