// WEFT's test driver: `window.weft_test_driver`, injected ONLY when weft-shell runs with
// `--test-driver` (as `scripts/wpt` starts it) in a session that `weft-appd run --test-control`
// launched. Never present in a normal run.
//
// It makes the failure model reachable from a testharness.js test, like WPT's testdriver.js:
//   await weft_test_driver.killCore();  // the broker SIGKILLs the core → sessionend "core-crashed"
//   await weft_test_driver.trapCore();  // the core's next host call traps → "core-trapped"
//   await weft_test_driver.forbiddenSyscall();  // the core host's sandbox stops it → "core-crashed"
//   await weft_test_driver.closeApp();  // the user closes the app → "app-closed"
// Each promise resolves once the shell has passed the request on (not when the session ends).
//
// Requests travel as console lines (`WEFT-TEST-DRIVER {"id","action"}`) that the shell's console
// delegate reads; the shell answers by evaluating `__weftTestDriverAnswer(id, answer)` in the
// page. No socket is involved. Page code could log such a line too: only in test mode.

(() => {
  "use strict";
  const APP_BASE = "__WEFT_APP_BASE__";
  if (window !== window.top) return;
  if (!String(window.location.href).startsWith(APP_BASE)) return;
  const log = window.console.log.bind(window.console);
  const stringify = JSON.stringify;
  const pending = new Map();
  let nextId = 1;
  const request = (action) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { action, resolve, reject });
      log("WEFT-TEST-DRIVER " + stringify({ id, action }));
    });
  Object.defineProperty(window, "__weftTestDriverAnswer", {
    value: (id, answer) => {
      const waiting = pending.get(id);
      if (!waiting) return;
      pending.delete(id);
      if (answer === "ok") waiting.resolve(undefined);
      else waiting.reject(new Error(`test driver: ${waiting.action} ${answer}`));
    },
    writable: false,
    configurable: false,
    enumerable: false,
  });
  Object.defineProperty(window, "weft_test_driver", {
    value: Object.freeze({
      killCore: () => request("kill-core"),
      trapCore: () => request("trap-core"),
      forbiddenSyscall: () => request("forbidden-syscall"),
      closeApp: () => request("close-app"),
    }),
    writable: false,
    configurable: false,
    enumerable: false,
  });
})();
