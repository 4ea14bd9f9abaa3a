// Types for wss-client.js / wss-client.mjs: the wss-hub.v1 client.

export interface Position {
  stream: string;
  epoch: string;
  offset: number;
}

export interface Recovered extends Position {
  type: "recovered";
  /** true when every missed message was replayed */
  recovered: boolean;
  /** messages after the client's offset; null when the stream's epoch changed */
  missed: number | null;
  /** of those, the ones no longer kept; null when the epoch changed */
  lost: number | null;
}

export type State = "connecting" | "open" | "closed";

/** The part of a mini program's `wx` the client uses. */
export interface WxLike {
  connectSocket(options: { url: string; protocols?: string[] }): {
    onOpen(fn: () => void): void;
    onMessage(fn: (res: { data: string | ArrayBuffer }) => void): void;
    onClose(fn: (res: { code: number; reason: string }) => void): void;
    onError(fn: (err: unknown) => void): void;
    send(options: { data: string | ArrayBuffer }): void;
    close(options: { code?: number; reason?: string }): void;
  };
}

export interface Options {
  /** a JWT sent as ?token= */
  token?: string;
  /** called before every connection for a fresh token */
  getToken?: () => string | Promise<string>;
  /** the mini program's global `wx`: use wx.connectSocket */
  wx?: WxLike;
  /** a WebSocket class other than the global one */
  WebSocket?: typeof WebSocket;
  /** the service's --ping-interval in seconds (20); two without a frame: dead */
  pingInterval?: number;
  /** sends kept while away (1000) */
  maxQueue?: number;
}

export class WssClient {
  static readonly PROTOCOL: "wss-hub.v1";
  constructor(url: string, options?: Options);
  readonly state: State;
  /** where the client stands in each stream: what it resumes from */
  readonly positions: { [stream: string]: { epoch: string; offset: number } };
  on(name: "message", fn: (data: string | ArrayBuffer, meta: Partial<Position>) => void): this;
  on(name: "state", fn: (state: State) => void): this;
  on(name: "recovered", fn: (info: Recovered) => void): this;
  /** send to the app (its onMessage); queued while away; false when the queue is full */
  send(data: string | ArrayBuffer | ArrayBufferView): boolean;
  /** close for good: no reconnecting */
  close(): void;
}

export default WssClient;
