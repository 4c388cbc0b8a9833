// The session-end checks, shared by the sessionend-*.html tests: each ends the session one way
// (through the test driver) and checks what the contract says about `sessionend`.
"use strict";

// Long enough for a second (wrong) sessionend or a late message to show up, if there were one:
// after the end there is no event to wait for, so this one check waits on a clock.
const QUIET_AFTER_END_MS = 300;

function sessionEndTest({ cause, reason, detail, end, withWaitingSends }) {
  const ends = recordSessionEnds();
  const messages = recordMessages();
  let handlerCalls = 0;
  weft.channel.onsessionend = () => handlerCalls++;
  let messagesAtEnd = -1;
  weft.channel.addEventListener("sessionend", () => (messagesAtEnd = messages.seen.length));

  promise_test(async () => {
    assert_true(typeof weft_test_driver === "object", "the runner gives test pages the test driver");
    const ch = weft.channel;
    await ch.ready;
    // Traffic before the end goes through.
    await ch.send("echo", { before: true });
    await messages.until((s) => s.length === 1);
    await end();
    let waiting = [];
    if (withWaitingSends) {
      // Sends made now, beyond any credit left — even a whole window (64) still in transit:
      // the core is gone (or the app closing), so no credit comes back for the last of them;
      // the end must reject them, not leave them pending.
      const credit = Math.max(0, Math.floor(ch.desiredSize));
      waiting = Array.from({ length: credit + 64 + 20 }, (_, i) => outcome(ch.send("echo", { w: i })));
    }
    const event = await ends.first;
    assert_equals(event.reason, reason, `event.reason (detail: ${event.detail})`);
    assert_equals(typeof event.detail, "string", "event.detail");
    if (detail) {
      assert_regexp_match(event.detail, detail, "event.detail");
    }
    assert_equals(ch.readyState, "closed", "readyState after sessionend");
    const outcomes = await Promise.all(waiting);
    for (const o of outcomes) {
      assert_in_array(o, ["resolved", "InvalidStateError"], "a send pending at the end rejects with InvalidStateError");
    }
    if (withWaitingSends) {
      const last = outcomes.slice(-20);
      assert_array_equals(last, Array(20).fill("InvalidStateError"), "the sends beyond the credit were rejected");
    }
  }, `${cause}: sessionend fires with reason "${reason}" and pending sends reject`);

  promise_test(async () => {
    await ends.first;
    const ch = weft.channel;
    const after = await outcome(ch.send("echo", { after: true }));
    assert_equals(after, "InvalidStateError", "send() after the end");
    assert_equals(await outcome(ch.send("no-such-type", {})), "InvalidStateError", "even an invalid one");
    assert_equals(ch.readyState, "closed");
    assert_less_than_equal(ch.desiredSize, 0, "no credit after the end");
  }, "every send() after sessionend rejects with InvalidStateError");

  promise_test(async (t) => {
    await ends.first;
    await new Promise((resolve) => t.step_timeout(resolve, QUIET_AFTER_END_MS));
    assert_equals(ends.ends.length, 1, "sessionend listeners called once");
    assert_equals(handlerCalls, 1, "onsessionend called once");
    assert_equals(messages.seen.length, messagesAtEnd, "no message event after sessionend");
  }, "sessionend fires exactly once, and nothing is dispatched after it");
}
