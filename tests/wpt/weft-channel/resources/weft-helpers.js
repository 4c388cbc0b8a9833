// Helpers shared by the weft.channel tests (copied into the test app's ui/resources/ by the
// runner, next to testharness.js).
"use strict";

// Records every `message` event's data on `weft.channel`, and lets a test wait for one.
function recordMessages() {
  const seen = [];
  const waiters = [];
  weft.channel.addEventListener("message", (event) => {
    seen.push(event.data);
    for (const w of waiters.splice(0)) {
      if (!w.check()) waiters.push(w);
    }
  });
  return {
    seen,
    // Resolves once `predicate(seen)` holds.
    until(predicate) {
      return new Promise((resolve) => {
        const w = { check: () => (predicate(seen) ? (resolve(seen), true) : false) };
        if (!w.check()) waiters.push(w);
      });
    },
  };
}

// Resolves with the `sessionend` event; records every one in `ends`.
function recordSessionEnds() {
  const ends = [];
  const first = new Promise((resolve) =>
    weft.channel.addEventListener("sessionend", (event) => {
      ends.push(event);
      resolve(event);
    }),
  );
  return { ends, first };
}

// The name of a settled promise's rejection, or "resolved".
function outcome(promise) {
  return promise.then(
    () => "resolved",
    (e) => e.name,
  );
}

// Sequences must go up by exactly one from message to message.
function assert_sequence_continuous(messages) {
  for (let k = 1; k < messages.length; k++) {
    assert_equals(messages[k].sequence, messages[k - 1].sequence + 1, `sequence after message ${k - 1}`);
  }
}

// Blocks this page's event loop (so it cannot consume messages) for `ms` milliseconds.
function blockPage(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy on purpose
  }
}
