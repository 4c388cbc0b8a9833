// The `weft.channel` binding, injected by WEFT's Servo embedder as a user script into every
// document of an app's webview. It defines the channel only in the top-level document of the
// app's own UI; everywhere else it does nothing. Contract: ../shared/design/weft-channel-api.md.
//
// The embedder fills in two placeholders before injecting it: the app UI's base URL and a
// per-session token. The token lives only in this closure; the embedder refuses transport
// requests without it, so neither iframes nor page code calling fetch() directly can use the
// transport.
//
// Transport (custom scheme, handled in the embedder's main process):
//   POST weft://channel/post    {"sends":[{"id","type","payload"}], "consumed": n}
//   GET  weft://channel/events?cursor=N   newline-delimited JSON events, each with "c" (cursor);
//        the embedder ends each stream after a while and the binding reconnects from its cursor.
(() => {
  "use strict";
  const APP_BASE = "__WEFT_APP_BASE__";
  const TOKEN = "__WEFT_TOKEN__";
  if (window !== window.top) return;
  if (!String(window.location.href).startsWith(APP_BASE)) return;
  if (Object.getOwnPropertyDescriptor(window, "weft")) return;

  // Everything the binding uses, captured before any page script can replace it.
  const fetch = window.fetch.bind(window);
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const DOMExceptionCtor = window.DOMException;
  const queueMicrotaskFn = window.queueMicrotask.bind(window);
  const setTimeoutFn = window.setTimeout.bind(window);
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const MessageEventCtor = window.MessageEvent;
  const EventCtor = window.Event;
  const { addEventListener, removeEventListener, dispatchEvent } = window.EventTarget.prototype;
  const headers = { "X-Weft-Token": TOKEN };

  const state = {
    sessionId: "",
    readyState: "connecting",
    desiredSize: 0, // as last reported by the embedder
    embedderDesired: 0,
    sendsMade: 0, // sends accepted by send() and handed to the transport
    sendsSeen: 0, // of those, how many the embedder had processed at its last report
    maxMessageBytes: Infinity,
    nextId: 1,
    pending: new Map(), // id -> {resolve, reject}
    outgoing: [], // sends not yet posted
    consumed: 0, // messages dispatched since the last post
    consumedTimer: false, // a deferred post of `consumed` alone is scheduled
    flushScheduled: false,
    posting: false, // one post in flight at a time: Servo may serve concurrent fetches out of order
    postSeq: 0,
    cursor: 0,
    ready: null,
    readyResolve: null,
    ended: false,
  };

  function newReady() {
    state.ready = new Promise((resolve) => {
      state.readyResolve = resolve;
    });
  }
  newReady();

  function domError(name, message) {
    return new DOMExceptionCtor(message, name);
  }

  // The interface follows resources/weft-channel.webidl with WebIDL's JavaScript binding
  // rules: `WeftChannel` is an interface object that cannot be constructed by page code, and
  // every member is [LegacyUnforgeable] — an own, non-configurable property of the one
  // instance — so page code can neither replace `send` nor wrap a getter to intercept other
  // code's traffic. Members called on any other object throw (or reject with) a TypeError.
  let constructing = false;
  class WeftChannel extends EventTarget {
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
      super();
    }
  }
  defineProperty(WeftChannel.prototype, Symbol.toStringTag, { value: "WeftChannel", configurable: true });
  constructing = true;
  const channel = new WeftChannel();
  constructing = false;

  const wrongThis = (member) => new TypeError(`'${member}' called on an object that is not weft.channel`);
  // Accessors and methods from object literals get WebIDL's function names ("get sessionId").
  const members = {
    get sessionId() {
      if (this !== channel) throw wrongThis("sessionId");
      return state.sessionId;
    },
    get readyState() {
      if (this !== channel) throw wrongThis("readyState");
      return state.readyState;
    },
    get desiredSize() {
      if (this !== channel) throw wrongThis("desiredSize");
      return state.desiredSize;
    },
    get ready() {
      if (this !== channel) return Promise.reject(wrongThis("ready"));
      return state.ready;
    },
    send(messageType, payload) {
      if (this !== channel) return Promise.reject(wrongThis("send"));
      if (arguments.length < 2) {
        return Promise.reject(new TypeError(`send() needs 2 arguments, got ${arguments.length}`));
      }
      return send(messageType, payload);
    },
  };
  for (const name of ["sessionId", "readyState", "desiredSize", "ready"]) {
    const { get } = Object.getOwnPropertyDescriptor(members, name);
    defineProperty(channel, name, { get, enumerable: true, configurable: false });
  }
  defineProperty(channel, "send", { value: members.send, writable: false, enumerable: true, configurable: false });
  for (const name of ["message", "sessionend", "error"]) {
    let handler = null;
    const accessors = {
      get ["on" + name]() {
        if (this !== channel) throw wrongThis("on" + name);
        return handler;
      },
      set ["on" + name](value) {
        if (this !== channel) throw wrongThis("on" + name);
        if (handler) removeEventListener.call(channel, name, handler);
        handler = typeof value === "function" || (typeof value === "object" && value !== null) ? value : null;
        if (handler) addEventListener.call(channel, name, handler);
      },
    };
    const { get, set } = Object.getOwnPropertyDescriptor(accessors, "on" + name);
    defineProperty(channel, "on" + name, { get, set, enumerable: true, configurable: false });
  }
  freeze(channel);
  defineProperty(window, "WeftChannel", { value: WeftChannel, writable: true, enumerable: false, configurable: true });
  defineProperty(window, "weft", {
    value: freeze({ channel }),
    writable: false,
    configurable: false,
    enumerable: true,
  });

  function send(messageType, payload) {
    if (state.ended) {
      return Promise.reject(domError("InvalidStateError", "the session has ended"));
    }
    let text;
    try {
      text = stringify(payload);
    } catch (e) {
      return Promise.reject(new TypeError("payload is not JSON-serialisable: " + e.message));
    }
    if (typeof text !== "string") {
      return Promise.reject(new TypeError("payload is not JSON-serialisable"));
    }
    if (typeof messageType === "symbol") return Promise.reject(new TypeError("messageType is a Symbol"));
    const type = String(messageType);
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: encode only when that bound is over.
    const size =
      (type.length + text.length) * 3 <= state.maxMessageBytes
        ? 0
        : encoder.encode(type).length + encoder.encode(text).length;
    if (size > state.maxMessageBytes) {
      return Promise.reject(
        domError("QuotaExceededError", `message is ${size} bytes; the limit is ${state.maxMessageBytes}`),
      );
    }
    const id = state.nextId++;
    const promise = new Promise((resolve, reject) => state.pending.set(id, { resolve, reject }));
    state.outgoing.push({ id, type, payload: text });
    state.sendsMade += 1;
    updateDesiredSize();
    scheduleFlush();
    return promise;
  }

  // Credit for consumed messages rides on the next post of sends; alone it is posted once a
  // quarter of the broker's window (64) has been consumed, or after the current task.
  const CONSUMED_BATCH = 16;
  function noteConsumed() {
    state.consumed += 1;
    if (state.consumed >= CONSUMED_BATCH) {
      scheduleFlush();
    } else if (!state.consumedTimer) {
      state.consumedTimer = true;
      setTimeoutFn(() => {
        state.consumedTimer = false;
        scheduleFlush();
      }, 0);
    }
  }

  function scheduleFlush() {
    if (state.flushScheduled) return;
    state.flushScheduled = true;
    queueMicrotaskFn(flush);
  }

  function flush() {
    state.flushScheduled = false;
    if (state.posting || (state.outgoing.length === 0 && state.consumed === 0)) return;
    state.postSeq += 1;
    const body = stringify({ seq: state.postSeq, sends: state.outgoing, consumed: state.consumed });
    state.outgoing = [];
    state.consumed = 0;
    state.posting = true;
    post(body, 0);
  }

  // A post that failed (e.g. aborted by a refused navigation) is retried with the same `seq`;
  // the embedder ignores a `seq` it has already processed, so nothing is sent twice.
  function post(body, attempt) {
    fetch("weft://channel/post", { method: "POST", body, headers }).then(
      () => {
        state.posting = false;
        if (state.outgoing.length > 0 || state.consumed > 0) scheduleFlush();
      },
      () => {
        if (state.ended) return;
        if (attempt >= 5) {
          handle({ c: state.cursor, kind: "sessionend", reason: "broker-lost", detail: "the transport keeps failing" });
          return;
        }
        setTimeoutFn(() => post(body, attempt + 1), 20 * (attempt + 1));
      },
    );
  }

  function settle(id, error) {
    const p = state.pending.get(id);
    if (!p) return;
    state.pending.delete(id);
    if (error) p.reject(error);
    else p.resolve(undefined);
  }

  // desiredSize = the embedder's last figure, less the sends it had not yet seen.
  function updateDesiredSize() {
    const value = state.embedderDesired - (state.sendsMade - state.sendsSeen);
    state.desiredSize = value;
    if (value > 0 && state.readyResolve) {
      state.readyResolve(undefined);
      state.readyResolve = null;
    } else if (value <= 0 && !state.readyResolve && !state.ended) {
      newReady();
    }
  }

  function handle(event) {
    state.cursor = event.c;
    switch (event.kind) {
      case "open":
        state.sessionId = event.sessionId;
        state.maxMessageBytes = event.maxMessageBytes;
        state.readyState = "open";
        state.embedderDesired = event.desiredSize;
        updateDesiredSize();
        break;
      case "desired-size":
        state.embedderDesired = event.value;
        state.sendsSeen = event.received;
        updateDesiredSize();
        break;
      case "admitted":
        settle(event.id, null);
        break;
      case "rejected":
        settle(event.id, domError(event.name, event.message));
        break;
      case "message":
        dispatchEvent.call(
          channel,
          new MessageEventCtor("message", {
            data: freeze({ messageType: event.messageType, sequence: event.sequence, payload: event.payload }),
          }),
        );
        noteConsumed();
        break;
      case "error": {
        const e = new EventCtor("error");
        defineProperty(e, "name", { value: event.name });
        defineProperty(e, "message", { value: event.message });
        dispatchEvent.call(channel, e);
        break;
      }
      case "sessionend": {
        if (state.ended) return;
        state.ended = true;
        state.readyState = "closed";
        state.desiredSize = 0;
        const closed = domError("InvalidStateError", "the session has ended: " + event.reason);
        for (const id of Array.from(state.pending.keys())) settle(id, closed);
        const e = new EventCtor("sessionend");
        defineProperty(e, "reason", { value: event.reason });
        defineProperty(e, "detail", { value: event.detail });
        dispatchEvent.call(channel, e);
        break;
      }
    }
  }

  async function listen() {
    let failures = 0;
    while (!state.ended) {
      try {
        const response = await fetch("weft://channel/events?cursor=" + state.cursor, { headers });
        const reader = response.body.getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          failures = 0;
          buffer += decoder.decode(value, { stream: true });
          // A chunk carries many lines: walk it once, keep only the unfinished tail.
          let start = 0;
          let newline;
          while ((newline = buffer.indexOf("\n", start)) >= 0) {
            if (newline > start) handle(parse(buffer.slice(start, newline)));
            start = newline + 1;
          }
          if (start > 0) buffer = buffer.slice(start);
        }
      } catch (e) {
        // Aborted (e.g. by a refused navigation) or failed: reconnect from the cursor.
        failures += 1;
        if (failures > 5) {
          handle({ c: state.cursor, kind: "sessionend", reason: "broker-lost", detail: "the transport keeps failing" });
          return;
        }
        await new Promise((resolve) => setTimeoutFn(resolve, 20 * failures));
      }
    }
  }
  listen();
})();
