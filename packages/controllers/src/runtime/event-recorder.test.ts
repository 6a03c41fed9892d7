import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiServer, startApiServer } from '@podnet/apiserver';
import { componentLogger, KubeClient } from '@podnet/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event } from '../kube-types.js';
import { EventRecorder } from './event-recorder.js';

let server: ApiServer;
let client: KubeClient;
let dataDir: string;
const log = componentLogger('test');
log.level = 'silent';

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), `podnet-events-${process.pid}-`));
  server = await startApiServer({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'silent' });
  client = new KubeClient({ server: server.url, caPem: server.caPem, token: server.adminToken });
});
afterAll(async () => {
  client?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-1', namespace: 'default', uid: 'u-1' } };

describe('EventRecorder (against the API server)', () => {
  it('counts a repeated event on one Event object, with first and last timestamps', async () => {
    let t = Date.parse('2026-12-01T10:00:00Z');
    const rec = new EventRecorder(client, 'default-scheduler', log, () => new Date(t));
    rec.event(pod, 'Warning', 'FailedScheduling', '0/1 nodes are available: 1 node(s) were not ready.');
    t += 5000;
    rec.event(pod, 'Warning', 'FailedScheduling', '0/1 nodes are available: 1 node(s) were not ready.');
    t += 5000;
    rec.event(pod, 'Warning', 'FailedScheduling', '0/1 nodes are available: 1 node(s) were not ready.');
    await rec.flush();
    const list = await client.resource<Event>('events').list({ namespace: 'default', fieldSelector: { 'involvedObject.name': 'web-1' } });
    expect(list.items).toHaveLength(1);
    const e = list.items[0]!;
    expect(e).toMatchObject({
      reason: 'FailedScheduling',
      type: 'Warning',
      count: 3,
      firstTimestamp: '2026-12-01T10:00:00Z',
      lastTimestamp: '2026-12-01T10:00:10Z',
      source: { component: 'default-scheduler' },
      involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default', uid: 'u-1' },
    });
    expect(e.metadata.name).toMatch(/^web-1\.[0-9a-f]+$/);
  });

  it('combines more than 10 similar events with different messages into one', async () => {
    const rec = new EventRecorder(client, 'node-controller', log);
    const node = { kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-9', uid: 'n-9' } };
    for (let i = 0; i < 14; i++) rec.event(node, 'Normal', 'Probe', `probe ${i}`);
    await rec.flush();
    const list = await client.resource<Event>('events').list({ namespace: 'default', fieldSelector: { 'involvedObject.name': 'node-9' } });
    // 10 distinct events, then one combined event counting the rest.
    expect(list.items).toHaveLength(11);
    const combined = list.items.find((e) => e.message.startsWith('(combined from similar events): '))!;
    expect(combined.count).toBe(4);
    expect(combined.message).toBe('(combined from similar events): probe 13');
  });
});
