// The interface of `weft.channel` (../shared/design/weft-channel-api.md).
// Every member is [LegacyUnforgeable]: an own, non-configurable property of `weft.channel`, so
// page code cannot replace or wrap it to intercept other code's traffic.
[Exposed=Window]
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
