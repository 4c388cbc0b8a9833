/* This Source Code Form is subject to the terms of the Mozilla Public
 * License, v. 2.0. If a copy of the MPL was not distributed with this
 * file, You can obtain one at https://mozilla.org/MPL/2.0/. */

// A page channel offered by the embedder (WEFT's Servo patch series, patches/servo-script-*).
// These interfaces exist only in documents the embedder's `PageChannelHandler` offers a channel
// to (`page_channel.rs` in servo-script); the decision is made in Rust, per document.
// The page-facing contract: WEFT's weft-channel-api.md. Every member is [LegacyUnforgeable]:
// an own, non-configurable property of its one instance, so page code can neither replace
// nor wrap it to intercept other code's traffic.

[Exposed=Window, Func="WeftChannel::is_offered"]
interface Weft {
  [LegacyUnforgeable] readonly attribute WeftChannel channel;
};

[Exposed=Window, Func="WeftChannel::is_offered"]
interface WeftChannel : EventTarget {
  [LegacyUnforgeable] readonly attribute DOMString sessionId;
  [LegacyUnforgeable] readonly attribute DOMString readyState;
  [LegacyUnforgeable] readonly attribute unrestricted double desiredSize;
  [LegacyUnforgeable] readonly attribute Promise<undefined> ready;
  [LegacyUnforgeable] Promise<undefined> send(DOMString messageType, any payload);
  [LegacyUnforgeable] attribute EventHandler onmessage;
  [LegacyUnforgeable] attribute EventHandler onsessionend;
  [LegacyUnforgeable] attribute EventHandler onerror;
};

// The `sessionend` event: fired once, when the session ends.
[Exposed=Window, Func="WeftChannel::is_offered"]
interface WeftSessionEndEvent : Event {
  readonly attribute DOMString reason;
  readonly attribute DOMString detail;
};

// The `error` event: a non-terminal error the embedder reports.
[Exposed=Window, Func="WeftChannel::is_offered"]
interface WeftErrorEvent : Event {
  readonly attribute DOMString name;
  readonly attribute DOMString message;
};

partial interface Window {
  [Func="WeftChannel::is_offered", LegacyUnforgeable] readonly attribute Weft weft;
};
