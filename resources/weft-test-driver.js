// WEFT's test driver: `window.weft_test_driver`, injected beside the binding ONLY when
// weft-shell runs with `--test-driver` (as `scripts/wpt` starts it) in a session that
// `weft-appd run --test-control` launched. Never present in a normal run.
//
// It makes the failure model reachable from a testharness.js test, like WPT's testdriver.js:
//   await weft_test_driver.killCore();  // the broker SIGKILLs the core → sessionend "core-crashed"
//   await weft_test_driver.trapCore();  // the core's next host call traps → "core-trapped"
//   await weft_test_driver.closeApp();  // the user closes the app → "app-closed"
//   await weft_test_driver.dropSocket(); // the shell drops the binding's connection (it
//                                        // reconnects and resends; nothing is lost)
// Each promise resolves once the shell has passed the request on (not when the session ends).
//   weft_test_driver.channelPort        // the channel socket's port (not its token), so that
//                                       // hostile-page tests can knock on it

(() => {
  "use strict";
  const APP_BASE = "__WEFT_APP_BASE__";
  const SOCKET_URL = "__WEFT_SOCKET__";
  if (window !== window.top) return;
  if (!String(window.location.href).startsWith(APP_BASE)) return;
  const WebSocketCtor = window.WebSocket;
  const socketSend = WebSocketCtor.prototype.send;
  const messageData = Object.getOwnPropertyDescriptor(window.MessageEvent.prototype, "data").get;
  const addEventListener = window.EventTarget.prototype.addEventListener;
  const stringify = JSON.stringify;
  // One connection per request: the shell answers "ok" or "refused: …" and closes.
  const request = (action) =>
    new Promise((resolve, reject) => {
      const socket = new WebSocketCtor(SOCKET_URL);
      let answered = false;
      addEventListener.call(socket, "open", () => socketSend.call(socket, stringify({ action })));
      addEventListener.call(socket, "message", (e) => {
        answered = true;
        const answer = messageData.call(e);
        if (answer === "ok") resolve(undefined);
        else reject(new Error(`test driver: ${action} ${answer}`));
      });
      addEventListener.call(socket, "close", () => {
        if (!answered) reject(new Error(`test driver: ${action} refused (no answer)`));
      });
    });
  Object.defineProperty(window, "weft_test_driver", {
    value: Object.freeze({
      killCore: () => request("kill-core"),
      trapCore: () => request("trap-core"),
      closeApp: () => request("close-app"),
      dropSocket: () => request("drop-socket"),
      channelPort: Number(new URL(SOCKET_URL).port),
    }),
    writable: false,
    configurable: false,
    enumerable: false,
  });
})();
