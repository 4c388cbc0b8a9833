// A worker that reports whether it sees the binding.
postMessage({ weft: typeof self.weft, ctor: typeof self.WeftChannel });
