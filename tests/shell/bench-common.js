// The page side of weft-bench: the same measuring loop over any transport, so the WEFT channel
// and a plain WebSocket are timed by identical code. `weft-bench` writes `bench-config.js`
// (window.BENCH) next to the page.
//
// transport: { send(payload), canSend(), room(), onReply(fn) } — onReply's fn is called once
// per echo; room() resolves when canSend() may be true again.
// `warmup` round trips per payload size, then `rounds` sequential round trips per size in three
// passes over the sizes (one in flight, timed with performance.now(), 10 µs resolution in
// Servo), then per size `seconds` of pipelined sends with as many in flight as the transport
// allows (WEFT: its credit; WebSocket: BENCH.window).
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
  // JSON text of exactly `size` bytes: {"i":0,"pad":"xxx…"}
  const payloads = B.sizes.map((size) => ({ i: 0, pad: "x".repeat(Math.max(0, size - 16)) }));
  const roundTrip = async (payload) => {
    const arrived = next();
    transport.send(payload);
    await arrived;
  };
  // Sequential: warm-up per size, then PASSES passes over the sizes (as weft-bench's own paths),
  // so that a busy spell of the host spreads over every size.
  const PASSES = 3;
  const perPass = Math.ceil(B.rounds / PASSES);
  for (const payload of payloads) {
    for (let i = 0; i < B.warmup; i++) await roundTrip(payload);
  }
  const samples = payloads.map(() => []);
  for (let pass = 0; pass < PASSES; pass++) {
    for (let k = 0; k < payloads.length; k++) {
      for (let i = 0; i < perPass; i++) {
        const t = performance.now();
        await roundTrip(payloads[k]);
        samples[k].push(performance.now() - t);
      }
    }
  }
  const rows = [];
  for (let k = 0; k < payloads.length; k++) {
    const payload = payloads[k];
    const sorted = samples[k].sort((a, b) => a - b);
    const at = (q) => sorted[Math.round((sorted.length - 1) * q)] * 1000;
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
      max_us: sorted[sorted.length - 1] * 1000,
      msgs_per_s: rate,
      rounds: sorted.length,
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
