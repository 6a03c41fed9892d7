// Watch fan-out over real HTTPS and WebSocket connections: an event is serialised once per
// format, whatever the number of watchers (EncodedCache, counted by watchEncodeCounts), every
// watcher receives the same bytes, and no watcher gets compressed frames.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWatchEvent, WATCH_PROTOBUF_SUBPROTOCOL } from '@podnet/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { api, waitFor } from '../../../test/apiserver/support.ts';
import { type ApiServer, startApiServer } from './server.ts';
import { watchEncodeCounts } from './watch.ts';

const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const PROTOBUF_WATCHERS = 12;
const JSON_WS_WATCHERS = 12;
const HTTP_WATCHERS = 4;
const UPDATES = 8;

let dir: string;
let s: ApiServer;
const call = (method: string, path: string, body?: unknown, ct?: string) => api(s.url, s.caPem, s.adminToken, method, path, body, ct);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-apiserver-fanout-${process.pid}-`));
  s = await startApiServer({ dataDir: dir, port: 0, logLevel: 'warn', rateLimit: { perSecond: 1000, burst: 2000 } });
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Frames {
  frames: Buffer[];
  close(): void;
}

function wsWatcher(protocol: string | undefined): Promise<Frames & { ws: WebSocket }> {
  const frames: Buffer[] = [];
  // The client offers permessage-deflate (the ws client's default): the server must decline it.
  const ws = new WebSocket(
    `${s.url.replace('https', 'wss')}${SLICES}?watch=true&resourceVersion=${s.store.resourceVersion}`,
    protocol ? [protocol] : [],
    {
      ca: s.caPem,
      headers: { authorization: `Bearer ${s.adminToken}` },
      perMessageDeflate: true,
    },
  );
  ws.on('message', (data: Buffer) => frames.push(data));
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, frames, close: () => ws.close() }));
    ws.on('error', reject);
  });
}

/** A chunked HTTP JSON watch, as kubectl --watch and client-go without WebSocket read it: one Buffer per line. */
function httpWatcher(): Promise<Frames> {
  const frames: Buffer[] = [];
  const u = new URL(`${SLICES}?watch=true&resourceVersion=${s.store.resourceVersion}`, s.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, ca: s.caPem, headers: { authorization: `Bearer ${s.adminToken}` } },
      (res) => {
        let pending = Buffer.alloc(0);
        res.on('data', (d: Buffer) => {
          pending = Buffer.concat([pending, d]);
          for (let nl = pending.indexOf(10); nl >= 0; nl = pending.indexOf(10)) {
            if (nl > 0) frames.push(pending.subarray(0, nl + 1));
            pending = pending.subarray(nl + 1);
          }
        });
        resolve({ frames, close: () => req.destroy() });
      },
    );
    req.on('error', (e) => {
      if (!req.destroyed) reject(e);
    });
    req.end();
  });
}

describe('watch fan-out', () => {
  it('encodes each event once per format for every watcher, and sends the same bytes to all of them', async () => {
    for (let i = 0; i < 2; i++) {
      const created = await call('POST', SLICES, {
        metadata: { name: `fan-${i}` },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.244.1.1'], conditions: { ready: true } }],
        ports: [{ port: 8080, protocol: 'TCP' }],
      });
      expect(created.status).toBe(201);
    }
    const pb = await Promise.all(Array.from({ length: PROTOBUF_WATCHERS }, () => wsWatcher(WATCH_PROTOBUF_SUBPROTOCOL)));
    const js = await Promise.all(Array.from({ length: JSON_WS_WATCHERS }, () => wsWatcher(undefined)));
    const http = await Promise.all(Array.from({ length: HTTP_WATCHERS }, () => httpWatcher()));
    for (const w of [...pb, ...js]) expect(w.ws.extensions).toBe('');
    expect(pb.every((w) => w.ws.protocol === WATCH_PROTOBUF_SUBPROTOCOL)).toBe(true);

    const before = { ...watchEncodeCounts };
    for (let i = 0; i < UPDATES; i++) {
      const r = await call(
        'PATCH',
        `${SLICES}/fan-${i % 2}`,
        { endpoints: [{ addresses: [`10.244.2.${i + 1}`], conditions: { ready: true } }] },
        'application/merge-patch+json',
      );
      expect(r.status).toBe(200);
    }
    const all = [...pb, ...js, ...http];
    await waitFor('every watcher to receive every update', () => (all.every((w) => w.frames.length >= UPDATES) ? true : undefined));
    // One protobuf encode and one JSON serialisation per event, for 28 watchers.
    expect(watchEncodeCounts.protobuf - before.protobuf).toBe(UPDATES);
    expect(watchEncodeCounts.json - before.json).toBe(UPDATES);

    // Same bytes everywhere: every protobuf watcher got the first watcher's frames, and every
    // JSON watcher (WebSocket text frames or chunked HTTP lines) the same lines.
    const pbFrames = (pb[0] as Frames).frames;
    const jsonLines = (js[0] as Frames).frames;
    for (const w of pb) expect(w.frames.map((f) => f.toString('hex'))).toEqual(pbFrames.map((f) => f.toString('hex')));
    for (const w of [...js, ...http]) expect(w.frames.map(String)).toEqual(jsonLines.map(String));
    // And they are the same events, whole, in order.
    const decoded = pbFrames.map((f) => decodeWatchEvent(f));
    const parsed = jsonLines.map((l) => JSON.parse(String(l)));
    expect(decoded.map((e) => e.type)).toEqual(Array(UPDATES).fill('MODIFIED'));
    expect(decoded.map((e) => e.object)).toEqual(parsed.map((e) => e.object));
    expect(parsed.map((e) => e.object.endpoints[0].addresses[0])).toEqual(Array.from({ length: UPDATES }, (_, i) => `10.244.2.${i + 1}`));
    for (const w of all) w.close();
  });
});
