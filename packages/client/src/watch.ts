// Watch over WebSocket, as the real API server offers it (apiserver endpoints/handlers/watch.go
// `serveWatchHandler`: an Upgrade on `?watch=true` gets a WebSocket whose every message is exactly
// one watch event). JSON events come in text frames; podnet's own components ask for protobuf
// frames with a WebSocket subprotocol (RFC 6455 §1.9, Sec-WebSocket-Protocol) defined in proto/.
// The client offers its codecs best first and decodes with the one the server picked; with none
// picked it reads JSON text frames, so it works against any server that speaks the real protocol.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { apiErrorFrom, ClientError, ClientErrorCodes, type Status } from './errors.js';
import type { KubeObject } from './object.js';
import { collectionPath, type ResourceInfo } from './resources.js';
import { formatSelector } from './selector-format.js';
import type { Transport } from './transport.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T = KubeObject> {
  type: WatchEventType;
  /** The object; for ERROR events a Status (e.g. code 410, reason Expired). */
  object: T;
}

/** Decodes one WebSocket message into one watch event. */
export interface WatchCodec {
  /** The Sec-WebSocket-Protocol token that selects this codec. */
  readonly subprotocol: string;
  decode(data: Buffer, isBinary: boolean): WatchEvent;
}

/** JSON watch events in text frames: `{"type":"ADDED","object":{...}}` (one per message). */
export const jsonWatchCodec: WatchCodec = {
  subprotocol: '',
  decode(data: Buffer): WatchEvent {
    let ev: unknown;
    try {
      ev = JSON.parse(data.toString('utf8'));
    } catch (err) {
      throw new ClientError(ClientErrorCodes.WATCH_DECODE, `watch frame is not JSON: ${(err as Error).message}`);
    }
    return checkEvent(ev);
  },
};

const eventTypes = new Set<string>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

export function checkEvent(ev: unknown): WatchEvent {
  const e = ev as Partial<WatchEvent> | null;
  if (!e || typeof e !== 'object' || typeof e.type !== 'string' || !eventTypes.has(e.type) || typeof e.object !== 'object' || !e.object) {
    throw new ClientError(ClientErrorCodes.WATCH_DECODE, 'watch frame is not a watch event {type, object}');
  }
  return e as WatchEvent;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string | Record<string, string>;
  fieldSelector?: string | Record<string, string>;
  /** Start after this version; unset or "0" starts with synthetic ADDED events for the current state. */
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  /** Ping interval for detecting a dead server, ms. Default 15000; 0 disables. */
  pingIntervalMs?: number;
}

export interface WatchEnd {
  /** Who ended it: the server closed the stream, this side called close(), or the link failed. */
  by: 'server' | 'client' | 'error';
  error?: Error;
}

/**
 * An open watch. Events arrive in order on 'event'; 'end' fires once, after the last event.
 * Events that arrive before anyone listens (the first frames can come in the same TCP segment as
 * the upgrade answer, before `await watch()` has resumed its caller) are held and delivered to the
 * first 'event' listener, so none is lost.
 */
export class Watch<T = KubeObject> extends EventEmitter<{
  event: [WatchEvent<T>];
  end: [WatchEnd];
  newListener: [eventName: string | symbol, listener: unknown];
}> {
  readonly #ws: WebSocket;
  readonly codec: WatchCodec;
  readonly #held: WatchEvent<T>[] = [];
  #heldEnd: WatchEnd | undefined;
  #ended = false;
  #pingTimer: NodeJS.Timeout | undefined;
  #awaitingPong = false;
  /** Resolves when the watch ends. */
  readonly ended: Promise<WatchEnd>;

  constructor(ws: WebSocket, codec: WatchCodec, pingIntervalMs: number) {
    super();
    this.#ws = ws;
    this.codec = codec;
    this.ended = new Promise((resolve) => this.once('end', resolve));
    this.on('newListener', (name) => {
      if (name === 'event' && (this.#held.length > 0 || this.#heldEnd)) queueMicrotask(() => this.#flush());
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.#ended) return;
      let ev: WatchEvent;
      try {
        ev = codec.decode(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary);
      } catch (err) {
        this.#end({ by: 'error', error: err as Error });
        ws.terminate();
        return;
      }
      this.#deliver(ev as WatchEvent<T>);
    });
    ws.on('close', () => this.#end({ by: 'server' }));
    ws.on('error', (err) => this.#end({ by: 'error', error: err }));
    ws.on('pong', () => {
      this.#awaitingPong = false;
    });
    if (pingIntervalMs > 0) {
      // A server killed without closing its sockets (power loss, a partition) never sends a close
      // frame; RFC 6455 §5.5.2 pings find out.
      this.#pingTimer = setInterval(() => {
        if (this.#awaitingPong) {
          this.#end({ by: 'error', error: new Error('the API server stopped answering WebSocket pings') });
          ws.terminate();
          return;
        }
        this.#awaitingPong = true;
        ws.ping();
      }, pingIntervalMs);
      this.#pingTimer.unref();
    }
  }

  #deliver(ev: WatchEvent<T>): void {
    if (this.#held.length > 0 || this.listenerCount('event') === 0) this.#held.push(ev);
    else this.emit('event', ev);
  }

  #flush(): void {
    while (this.#held.length > 0 && this.listenerCount('event') > 0) this.emit('event', this.#held.shift()!);
    if (this.#held.length === 0 && this.#heldEnd) {
      const end = this.#heldEnd;
      this.#heldEnd = undefined;
      this.emit('end', end);
    }
  }

  #end(end: WatchEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#pingTimer);
    // A client-side close drops what was not read; otherwise the end comes after the held events.
    if (end.by === 'client') this.#held.length = 0;
    if (this.#held.length > 0) this.#heldEnd = end;
    else this.emit('end', end);
  }

  close(): void {
    this.#end({ by: 'client' });
    if (this.#ws.readyState === WebSocket.CONNECTING) this.#ws.terminate();
    else this.#ws.close(1000);
  }

  /** The events as an async iterator, ending with the watch (for tests and simple loops). */
  async *[Symbol.asyncIterator](): AsyncGenerator<WatchEvent<T>> {
    const queue: WatchEvent<T>[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const onEvent = (e: WatchEvent<T>) => {
      queue.push(e);
      wake?.();
    };
    const onEnd = () => {
      done = true;
      wake?.();
    };
    this.on('event', onEvent);
    this.once('end', onEnd);
    try {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!;
          continue;
        }
        if (done || this.#ended) return;
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
    } finally {
      this.off('event', onEvent);
      this.off('end', onEnd);
    }
  }
}

export interface OpenWatchOptions extends WatchOptions {
  codecs?: WatchCodec[];
}

/**
 * Opens a watch; resolves once the upgrade succeeded. An HTTP refusal of the upgrade (401, 410
 * for a compacted resourceVersion, 404) rejects with the typed ApiError of its Status body.
 */
export function openWatch<T>(t: Transport, info: ResourceInfo, opts: OpenWatchOptions): Promise<Watch<T>> {
  const url = t.url(collectionPath(info, info.namespaced ? opts.namespace : undefined), {
    watch: 'true',
    resourceVersion: opts.resourceVersion,
    labelSelector: formatSelector(opts.labelSelector),
    fieldSelector: formatSelector(opts.fieldSelector),
    allowWatchBookmarks: opts.allowWatchBookmarks ? 'true' : undefined,
    timeoutSeconds: opts.timeoutSeconds,
  });
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const codecs = (opts.codecs ?? []).filter((c) => c.subprotocol !== '');
  const what = `WATCH ${url.pathname}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(
      url,
      codecs.map((c) => c.subprotocol),
      {
        ca: t.caPem,
        headers: t.authHeaders(),
        perMessageDeflate: false,
        handshakeTimeout: 30_000,
      },
    );
    let settled = false;
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        settled = true;
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        reject(apiErrorFrom(res.statusCode ?? 0, body, what));
        ws.terminate();
      });
    });
    ws.once('open', () => {
      settled = true;
      const codec = codecs.find((c) => c.subprotocol === ws.protocol) ?? jsonWatchCodec;
      resolve(new Watch<T>(ws, codec, opts.pingIntervalMs ?? 15_000));
    });
    ws.once('error', (err) => {
      if (settled) return;
      settled = true;
      // The server ignored every subprotocol offered: ws refuses such a handshake (RFC 6455
      // §4.1 lets the client fail it). Retry with JSON text frames, which every server speaks.
      if (codecs.length > 0 && /no subprotocol/i.test(err.message)) {
        openWatch<T>(t, info, { ...opts, codecs: [] }).then(resolve, reject);
        return;
      }
      reject(
        new ClientError(
          ClientErrorCodes.CONNECTION,
          `${what}: cannot open the watch at ${url.origin} (${(err as NodeJS.ErrnoException).code ?? err.message})`,
          { cause: err },
        ),
      );
    });
  });
}

export type { Status };
