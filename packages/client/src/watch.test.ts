// The WebSocket watch against an in-process API server: protobuf frames, bookmarks, resuming
// from a resourceVersion, too-old versions; and the JSON fallback against a WebSocket server
// that picks no subprotocol.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer, startApiServer } from '@podnet/apiserver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { KubeObject } from './object.js';
import { KubeClient } from './rest-client.js';
import { jsonWatchCodec, type Watch, type WatchEvent } from './watch.js';

let server: ApiServer;
let dataDir: string;
const clients: KubeClient[] = [];

function newClient(extra: Partial<ConstructorParameters<typeof KubeClient>[0]> = {}): KubeClient {
  const c = new KubeClient({ server: server.url, caPem: server.caPem, token: server.adminToken, ...extra });
  clients.push(c);
  return c;
}

async function next<T>(w: Watch<T>, pred: (e: WatchEvent<T>) => boolean, timeoutMs = 10_000): Promise<WatchEvent<T>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no matching watch event in time')), timeoutMs);
    const on = (e: WatchEvent<T>) => {
      if (!pred(e)) return;
      clearTimeout(t);
      w.off('event', on);
      resolve(e);
    };
    w.on('event', on);
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), `podnet-watch-${process.pid}-`));
  server = await startApiServer({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'silent', bookmarkIntervalMs: 200, watchCacheSize: 20 });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('watch over WebSocket', () => {
  it('delivers protobuf events and bookmarks, and resumes after a given resourceVersion', async () => {
    const c = newClient();
    const leases = c.resource('leases');
    const l1 = await leases.create({ metadata: { name: 'l1', namespace: 'default' } } as KubeObject);
    const l2 = await leases.create({ metadata: { name: 'l2', namespace: 'default' } } as KubeObject);
    // From l1's version: only l2 (and later) arrive, not l1 again.
    const w = await leases.watch({ namespace: 'default', resourceVersion: l1.metadata?.resourceVersion, allowWatchBookmarks: true });
    expect(w.codec.subprotocol).toBe('podnet.watch.v1.protobuf');
    const first = await next(w, (e) => e.type !== 'BOOKMARK');
    expect(first.type).toBe('ADDED');
    expect(first.object.metadata?.name).toBe('l2');
    expect(first.object.metadata?.resourceVersion).toBe(l2.metadata?.resourceVersion);
    const bookmark = await next(w, (e) => e.type === 'BOOKMARK');
    expect(Number(bookmark.object.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(l2.metadata?.resourceVersion));
    w.close();
    expect((await w.ended).by).toBe('client');
  });

  it('reports a compacted resourceVersion as a 410 ERROR event', async () => {
    const c = newClient();
    const leases = c.resource('leases');
    const first = await leases.create({ metadata: { name: 'old', namespace: 'default' } } as KubeObject);
    for (let i = 0; i < 30; i++) await leases.patch('old', { metadata: { annotations: { i: String(i) } } }, { namespace: 'default' });
    let ev: WatchEvent | undefined;
    try {
      const w = await leases.watch({ namespace: 'default', resourceVersion: first.metadata?.resourceVersion });
      ev = await next(w, () => true);
      await w.ended;
    } catch (err) {
      // A server may also refuse the upgrade itself with 410: the typed error says so.
      expect((err as { httpStatus?: number }).httpStatus).toBe(410);
      return;
    }
    expect(ev.type).toBe('ERROR');
    expect(ev.object).toMatchObject({ code: 410, reason: 'Expired' });
  });

  it('falls back to JSON text frames when the server picks none of the offered subprotocols', async () => {
    // A WebSocket server that, as RFC 6455 §4.2.2 allows, selects no subprotocol.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
    const offers: string[] = [];
    wss.on('connection', (ws, req) => {
      offers.push(String(req.headers['sec-websocket-protocol'] ?? ''));
      ws.send(
        JSON.stringify({ type: 'ADDED', object: { kind: 'Lease', metadata: { name: 'x', namespace: 'default', resourceVersion: '7' } } }),
      );
    });
    await new Promise((r) => wss.once('listening', r));
    try {
      const port = (wss.address() as AddressInfo).port;
      const c = new KubeClient({ server: `http://127.0.0.1:${port}`, token: 't' });
      clients.push(c);
      const w = await c.resource('leases').watch({ namespace: 'default' });
      expect(offers).toEqual(['podnet.watch.v1.protobuf', '']);
      expect(w.codec).toBe(jsonWatchCodec);
      const ev = await next(w, () => true);
      expect(ev).toEqual({ type: 'ADDED', object: { kind: 'Lease', metadata: { name: 'x', namespace: 'default', resourceVersion: '7' } } });
      w.close();
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });
});
