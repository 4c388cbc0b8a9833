// A worker that reports whether it sees the binding, and what a direct transport post gets.
fetch("weft://channel/post", { method: "POST", body: JSON.stringify({ seq: 1, sends: [] }) })
  .then((r) => r.status, () => "network error")
  .then((post) => postMessage({ weft: typeof self.weft, post }));
