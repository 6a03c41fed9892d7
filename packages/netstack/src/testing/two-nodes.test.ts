// The in-process two-node topology as a whole: three pods per node, every pair pings and
// exchanges UDP, same node (bridged) and across nodes (VXLAN), with no cross-talk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteInfo } from '../udp.js';
import { twoNodesOverVxlan } from './two-nodes.js';
import { waitFor } from './wait.js';

describe('two nodes, three pods each', () => {
  let t: Awaited<ReturnType<typeof twoNodesOverVxlan>>;
  beforeAll(async () => {
    t = await twoNodesOverVxlan({ podsPerNode: 3 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('every pod pings every other pod', async () => {
    const pods = [...t.n1.pods, ...t.n2.pods];
    expect(pods.map((p) => p.ip)).toEqual(['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.2.2', '10.244.2.3', '10.244.2.4']);
    for (const from of pods) {
      for (const to of pods) {
        if (from === to) continue;
        const r = await from.ns.ping(to.ip, { timeoutMs: 5000 });
        const sameNode = from.ip.split('.')[2] === to.ip.split('.')[2];
        expect(r.from).toBe(to.ip);
        // Bridged on one node (no hop); routed twice across nodes.
        expect(r.ttl).toBe(sameNode ? 64 : 62);
      }
    }
  });

  it('UDP from every pod reaches the right server, with the right source', async () => {
    const pods = [...t.n1.pods, ...t.n2.pods];
    const seen = new Map<string, string[]>();
    for (const p of pods) {
      const s = p.ns.udp.createSocket();
      seen.set(p.ip, []);
      s.on('message', (m: Buffer, r: RemoteInfo) => seen.get(p.ip)?.push(`${m.toString()}<${r.address}`));
      s.bind(6000);
    }
    for (const from of pods) {
      const c = from.ns.udp.createSocket();
      for (const to of pods) if (to !== from) c.send(`to ${to.ip}`, 6000, to.ip);
    }
    await waitFor('all datagrams', () => [...seen.values()].every((v) => v.length === pods.length - 1));
    for (const [ip, got] of seen) {
      expect(got.every((g) => g.startsWith(`to ${ip}<`))).toBe(true);
      expect(new Set(got.map((g) => g.split('<')[1])).size).toBe(pods.length - 1);
    }
  });
});
