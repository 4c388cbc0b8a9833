// The interface of `weft.channel` (../shared/design/weft-channel-api.md).
[Exposed=Window]
interface WeftChannel : EventTarget {
  readonly attribute DOMString sessionId;
  readonly attribute DOMString readyState;
  readonly attribute unrestricted double desiredSize;
  readonly attribute Promise<undefined> ready;
  Promise<undefined> send(DOMString messageType, any payload);
  attribute EventHandler onmessage;
  attribute EventHandler onsessionend;
  attribute EventHandler onerror;
};
