// The page side of weft-bench: the same measuring loop over any transport, so the WEFT channel
// and a plain WebSocket are timed by identical code. `weft-bench` writes `bench-config.js`
// (window.BENCH) next to the page.
//
// transport: { send(payload), canSend(), room(), onReply(fn) } — onReply's fn is called once
// per echo; room() resolves when canSend() may be true again.
// Per payload size: `warmup` then `rounds` sequential round trips (one in flight, timed with
// performance.now(), 10 µs resolution in Servo), then `seconds` of pipelined sends with as many
// in flight as the transport allows (WEFT: its credit; WebSocket: BENCH.window).
"use strict";
async function weftBench(transport) {
  const B = window.BENCH;
  let received = 0;
  let waiting = null;
  transport.onReply(() => {
    received += 1;
    if (waiting) {
      const w = waiting;
      waiting = null;
      w();
    }
  });
  const next = () => new Promise((resolve) => (waiting = resolve));
  const rows = [];
  for (const size of B.sizes) {
    // JSON text of exactly `size` bytes: {"i":0,"pad":"xxx…"}
    const payload = { i: 0, pad: "x".repeat(Math.max(0, size - 16)) };
    const roundTrip = async () => {
      const arrived = next();
      transport.send(payload);
      await arrived;
    };
    for (let i = 0; i < B.warmup; i++) await roundTrip();
    const samples = [];
    for (let i = 0; i < B.rounds; i++) {
      const t = performance.now();
      await roundTrip();
      samples.push(performance.now() - t);
    }
    samples.sort((a, b) => a - b);
    const at = (q) => samples[Math.round((samples.length - 1) * q)] * 1000;
    const start = performance.now();
    const base = received;
    let sent = 0;
    while (performance.now() - start < B.seconds * 1000) {
      while (sent - (received - base) < B.window && transport.canSend()) {
        transport.send(payload);
        sent += 1;
      }
      // Nothing in flight and no room: the credit comes back without a message.
      if (sent === received - base) await transport.room();
      else await next();
    }
    while (received - base < sent) await next();
    const rate = sent / ((performance.now() - start) / 1000);
    rows.push({
      payload_bytes: JSON.stringify(payload).length,
      p50_us: at(0.5),
      p99_us: at(0.99),
      max_us: samples[samples.length - 1] * 1000,
      msgs_per_s: rate,
      rounds: B.rounds,
    });
  }
  return rows;
}

// The page's own fetch machinery, for comparison: round trips of fetch() for a tiny data: URL.
// Servo asks the embedder about every load before it starts (the app's policy answers, here
// with a refusal), as it did for each post of the earlier weft:// transport; the outcome does
// not matter, the time does.
async function fetchRoundTrip(url, n) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    try {
      await (await fetch(url)).arrayBuffer();
    } catch (e) {}
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] * 1000;
}
