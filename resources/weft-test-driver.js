// WEFT's test driver: `window.weft_test_driver`, injected beside the binding ONLY when
// weft-shell runs with `--test-driver` (as `scripts/wpt` starts it) in a session that
// `weft-appd run --test-control` launched. Never present in a normal run.
//
// It makes the failure model reachable from a testharness.js test, like WPT's testdriver.js:
//   await weft_test_driver.killCore();  // the broker SIGKILLs the core → sessionend "core-crashed"
//   await weft_test_driver.trapCore();  // the core's next host call traps → "core-trapped"
//   await weft_test_driver.closeApp();  // the user closes the app → "app-closed"
// Each promise resolves once the shell has passed the request on (not when the session ends).
(() => {
  "use strict";
  const APP_BASE = "__WEFT_APP_BASE__";
  const TOKEN = "__WEFT_TOKEN__";
  if (window !== window.top) return;
  if (!String(window.location.href).startsWith(APP_BASE)) return;
  const fetch = window.fetch.bind(window);
  const stringify = JSON.stringify;
  const request = (action) =>
    fetch("weft://channel/test-driver", {
      method: "POST",
      body: stringify({ action }),
      headers: { "X-Weft-Token": TOKEN },
    }).then((response) => {
      if (response.status !== 204) throw new Error(`test driver: ${action} refused (HTTP ${response.status})`);
    });
  Object.defineProperty(window, "weft_test_driver", {
    value: Object.freeze({
      killCore: () => request("kill-core"),
      trapCore: () => request("trap-core"),
      closeApp: () => request("close-app"),
    }),
    writable: false,
    configurable: false,
    enumerable: false,
  });
})();
