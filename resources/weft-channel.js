// The `weft.channel` binding, injected by WEFT's Servo embedder as a user script into every
// document of an app's webview. It defines the channel only in the top-level document of the
// app's own UI; everywhere else it does nothing. Contract: ../shared/design/weft-channel-api.md.
//
// The embedder fills in two placeholders before injecting it: the app UI's base URL and the
// channel socket's URL, which carries a per-session token. The URL lives only in this closure;
// the embedder's socket refuses a connection without the token, so neither iframes nor page
// code opening a WebSocket itself can use the transport.
//
// Transport: one WebSocket to the shell (ws://127.0.0.1:PORT/channel/TOKEN?cursor=N) per
// document, kept open.
//   up:   {"seq", "sends":[{"id","type","payload"}], "consumed": n, "ack": cursor}
//   down: newline-delimited JSON events, each with "c" (its cursor), one message per burst.
// If the socket drops while the session lives, the binding reconnects from its cursor and
// resends the posts the embedder has not confirmed ("post" in desired-size events); the
// embedder ignores a post `seq` it has already processed, so nothing is sent twice.
(() => {
  "use strict";
  const APP_BASE = "__WEFT_APP_BASE__";
  const SOCKET_URL = "__WEFT_SOCKET__";
  if (window !== window.top) return;
  if (!String(window.location.href).startsWith(APP_BASE)) return;
  if (Object.getOwnPropertyDescriptor(window, "weft")) return;

  // Everything the binding uses, captured before any page script can replace it.
  const WebSocketCtor = window.WebSocket;
  const socketSend = WebSocketCtor.prototype.send;
  const socketClose = WebSocketCtor.prototype.close;
  const messageData = Object.getOwnPropertyDescriptor(window.MessageEvent.prototype, "data").get;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const encoder = new TextEncoder();
  const DOMExceptionCtor = window.DOMException;
  const queueMicrotaskFn = window.queueMicrotask.bind(window);
  const setTimeoutFn = window.setTimeout.bind(window);
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const MessageEventCtor = window.MessageEvent;
  const EventCtor = window.Event;
  const { addEventListener, removeEventListener, dispatchEvent } = window.EventTarget.prototype;

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
    socket: null, // the open WebSocket, or null while (re)connecting
    unconfirmed: [], // posts sent that the embedder has not confirmed: [{seq, body}]
    postSeq: 0,
    cursor: 0,
    inbox: [], // event lines received; those from inboxHead on are not yet handled
    inboxHead: 0,
    draining: false,
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

  // Sends are batched per microtask; a batch bigger than POST_CHARS goes as several posts.
  const POST_CHARS = 256 * 1024;
  function flush() {
    state.flushScheduled = false;
    if (!state.socket) return; // posted once the socket (re)opens
    while (state.outgoing.length > 0 || state.consumed > 0) {
      let sends = state.outgoing;
      let chars = 0;
      for (let i = 0; i < state.outgoing.length; i++) {
        chars += state.outgoing[i].payload.length + state.outgoing[i].type.length;
        if (chars > POST_CHARS && i > 0) {
          sends = state.outgoing.slice(0, i);
          break;
        }
      }
      state.outgoing = sends === state.outgoing ? [] : state.outgoing.slice(sends.length);
      state.postSeq += 1;
      const body = stringify({ seq: state.postSeq, sends, consumed: state.consumed, ack: state.cursor });
      state.consumed = 0;
      state.unconfirmed.push({ seq: state.postSeq, body });
      socketSend.call(state.socket, body);
    }
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
        while (state.unconfirmed.length > 0 && state.unconfirmed[0].seq <= event.post) state.unconfirmed.shift();
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
        disconnect();
        const e = new EventCtor("sessionend");
        defineProperty(e, "reason", { value: event.reason });
        defineProperty(e, "detail", { value: event.detail });
        dispatchEvent.call(channel, e);
        break;
      }
    }
  }

  const DISPATCHING = freeze({ __proto__: null, message: true, error: true, sessionend: true });
  // Handles received lines in order. A settled send() runs its continuations before the next
  // event is dispatched, as when each event came in a message of its own.
  async function drain() {
    state.draining = true;
    try {
      let settled = false;
      // Walked by index, not shift(): a replay after a reconnect can be thousands of lines.
      while (state.inboxHead < state.inbox.length) {
        const event = parse(state.inbox[state.inboxHead++]);
        // Already handled (a replay after a reconnect overlapping what arrived before it).
        if (event.c <= state.cursor) continue;
        if (settled && DISPATCHING[event.kind]) {
          settled = false;
          await null;
        }
        handle(event);
        if (event.kind === "admitted" || event.kind === "rejected") settled = true;
      }
    } finally {
      state.draining = false;
      if (state.inboxHead >= state.inbox.length) {
        state.inbox = [];
        state.inboxHead = 0;
      }
    }
  }

  function receive(text) {
    // One message carries many lines: walk it once.
    let start = 0;
    let newline;
    while ((newline = text.indexOf("\n", start)) >= 0) {
      if (newline > start) state.inbox.push(text.slice(start, newline));
      start = newline + 1;
    }
    if (!state.draining) drain();
  }

  // Opens the socket from the current cursor; on a drop while the session lives, reconnects
  // and resends what the embedder has not confirmed. Five failures in a row end the session.
  let failures = 0;
  function connect() {
    let socket;
    try {
      socket = new WebSocketCtor(SOCKET_URL + "?cursor=" + state.cursor);
    } catch (e) {
      reconnect(null);
      return;
    }
    addEventListener.call(socket, "open", () => {
      state.socket = socket;
      for (const post of state.unconfirmed) socketSend.call(socket, post.body);
      scheduleFlush();
    });
    addEventListener.call(socket, "message", (e) => {
      failures = 0;
      receive(messageData.call(e));
    });
    addEventListener.call(socket, "close", () => reconnect(socket));
  }

  function reconnect(socket) {
    if (socket !== null && state.socket !== socket && state.socket !== null) return;
    state.socket = null;
    if (state.ended) return;
    failures += 1;
    if (failures > 5) {
      handle({ c: state.cursor, kind: "sessionend", reason: "broker-lost", detail: "the transport keeps failing" });
      return;
    }
    setTimeoutFn(connect, 20 * failures);
  }

  // The session is over: nothing more will come.
  function disconnect() {
    if (state.socket) socketClose.call(state.socket);
    state.socket = null;
  }

  connect();
})();
