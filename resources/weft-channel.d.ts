// TypeScript declarations for `weft.channel`, the page-facing API of a WEFT app's UI.
// Contract: ../shared/design/weft-channel-api.md.

/** The data of a `message` event: one state update from the app's Wasm core. */
export interface WeftMessage<T = unknown> {
  /** The state update's type, as declared in the app's manifest. */
  readonly messageType: string;
  /** Strictly increasing by 1 per stream; coalescing never leaves a gap. */
  readonly sequence: number;
  /** The payload, already validated against the declared schema. */
  readonly payload: T;
}

/** The message types of `M`, or any type and payload while `M` is empty. */
type WeftKnown<M> = keyof M extends never ? Record<string, unknown> : M;

/**
 * The UI events `send()` takes, message type → payload: the app's own once `weft types` has
 * declared them from its manifest (`ui/weft-app.d.ts`), otherwise any.
 */
export type WeftUiEvents = WeftKnown<WeftAppUiEvents>;

/** The state updates `message` events carry, message type → payload (as `WeftUiEvents`). */
export type WeftStateUpdates = WeftKnown<WeftAppStateUpdates>;

/** A `message` event's data, its payload's type following its `messageType`. */
export type WeftAppMessage = {
  [K in keyof WeftStateUpdates & string]: WeftMessage<WeftStateUpdates[K]> & { readonly messageType: K };
}[keyof WeftStateUpdates & string];

/** Stable reason codes of `sessionend`. */
export type WeftSessionEndReason =
  | "core-exited"
  | "core-crashed"
  | "core-trapped"
  | "core-unresponsive"
  | "broker-lost"
  | "protocol-violation"
  | "app-closed"
  | "ui-lost"
  | "session-ended";

/** The `sessionend` event: fired exactly once. */
export interface WeftSessionEndEvent extends Event {
  readonly reason: WeftSessionEndReason;
  readonly detail: string;
}

/** A non-terminal error reported by the broker (e.g. an invalid update from the core). */
export interface WeftErrorEvent extends Event {
  readonly name: string;
  readonly message: string;
}

export interface WeftChannelEventMap {
  message: MessageEvent<WeftAppMessage>;
  sessionend: WeftSessionEndEvent;
  error: WeftErrorEvent;
}

/**
 * The channel between the page and the app's Wasm core, brokered by weft-appd. Every member is
 * an own, non-configurable property of `weft.channel` (WebIDL `[LegacyUnforgeable]`), so page
 * code cannot replace or wrap it.
 */
export interface WeftChannel extends EventTarget {
  readonly sessionId: string;
  readonly readyState: "connecting" | "open" | "closed";
  /** Messages the page may send now without waiting for credit (may be negative). */
  readonly desiredSize: number;
  /** Settles when `desiredSize > 0` again. */
  readonly ready: Promise<void>;
  /**
   * Sends one UI event. Resolves when the broker admitted it; rejects with a `DOMException`
   * named `DataError` (unknown type, schema mismatch), `QuotaExceededError` (too large, or
   * too many sends waiting), `InvalidStateError` (session ended), or a `TypeError`
   * (payload not JSON-serialisable).
   */
  send<K extends keyof WeftUiEvents & string>(messageType: K, payload: WeftUiEvents[K]): Promise<void>;
  onmessage: ((this: WeftChannel, ev: MessageEvent<WeftAppMessage>) => unknown) | null;
  onsessionend: ((this: WeftChannel, ev: WeftSessionEndEvent) => unknown) | null;
  onerror: ((this: WeftChannel, ev: WeftErrorEvent) => unknown) | null;
  addEventListener<K extends keyof WeftChannelEventMap>(
    type: K,
    listener: (this: WeftChannel, ev: WeftChannelEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
}

declare global {
  /** The app's UI events, message type → payload (`weft types` declares them). */
  interface WeftAppUiEvents {}
  /** The app's state updates, message type → payload (`weft types` declares them). */
  interface WeftAppStateUpdates {}
  interface Window {
    /** Present only in the top-level document of a WEFT app's own UI. */
    readonly weft: { readonly channel: WeftChannel };
  }
  const weft: { readonly channel: WeftChannel };
  /** The interface object (for `instanceof`); it cannot be constructed by page code. */
  const WeftChannel: { readonly prototype: WeftChannel };
}
