// Acceptance 2: two OS processes (node-process.mjs over the built dist/), one namespace each.
// (a) joined by flannel.1 VXLAN devices over real UDP sockets on 127.0.1.1 and 127.0.1.2 (free
//     ports): ping and UDP both ways;
// (b) joined by a veth pair whose wire is a unix socket (length-prefixed Ethernet frames), the way a
//     pod in the node-agent reaches the cni-agent's bridge: ping and UDP.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeProcess, spawnNodeProcess, twoProcessesOverVxlan } from '../testing/node-process.js';

interface PingAnswer {
  results: Array<{ from: string; rttMs: number; ttl: number }>;
}

describe('two processes over VXLAN', () => {
  let t: Awaited<ReturnType<typeof twoProcessesOverVxlan>>;
  beforeAll(async () => {
    t = await twoProcessesOverVxlan();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('ping both ways', async () => {
    const a = await t.p1.call<PingAnswer>('ping', { ns: 'node-1', dst: '10.244.2.0', count: 3 });
    expect(a.results.map((r) => r.from)).toEqual(['10.244.2.0', '10.244.2.0', '10.244.2.0']);
    expect(a.results.every((r) => r.rttMs >= 0 && r.ttl === 64)).toBe(true);
    const b = await t.p2.call<PingAnswer>('ping', { ns: 'node-2', dst: '10.244.1.0' });
    expect(b.results[0]?.from).toBe('10.244.1.0');
  });

  it('a plugin adds operations to the node process (how other packages drive their layers there)', async () => {
    const plugin = join(mkdtempSync(join(tmpdir(), `pn-plugin-${process.pid}-`)), 'plugin.mjs');
    writeFileSync(
      plugin,
      "export default ({ namespaces, register }) => register('route-count', ({ ns }) => ({ count: namespaces.get(ns).routes.list().length }));\n",
    );
    await t.p1.call('plugin', { module: plugin });
    expect(await t.p1.call('route-count', { ns: 'node-1' })).toMatchObject({ ok: true, count: 1 });
    await expect(t.p1.call('no-such-op')).rejects.toThrow(/unknown op "no-such-op"/);
    rmSync(dirname(plugin), { recursive: true, force: true });
  });

  it('UDP both ways', async () => {
    await t.p2.call('udp-echo', { ns: 'node-2', port: 7001 });
    await t.p1.call('udp-echo', { ns: 'node-1', port: 7001 });
    const ab = await t.p1.call<{ reply: string; from: { address: string; port: number } }>('udp-request', {
      ns: 'node-1',
      dst: '10.244.2.0',
      port: 7001,
      data: 'ping',
    });
    expect(ab).toMatchObject({ reply: 'echo:ping', from: { address: '10.244.2.0', port: 7001 } });
    const ba = await t.p2.call<{ reply: string }>('udp-request', { ns: 'node-2', dst: '10.244.1.0', port: 7001, data: 'pong' });
    expect(ba.reply).toBe('echo:pong');
    const c = await t.p1.call<{ counters: Record<string, { txPackets: number; rxPackets: number }> }>('counters', { ns: 'node-1' });
    expect(c.counters['flannel.1']?.txPackets).toBeGreaterThan(0);
    expect(c.counters['flannel.1']?.rxPackets).toBeGreaterThan(0);
  });
});

describe('a veth pair across two processes over a unix socket', () => {
  let host: NodeProcess;
  let pod: NodeProcess;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `pn-veth-${process.pid}-`));
    const path = join(dir, 'veth.sock');
    [host, pod] = await Promise.all([spawnNodeProcess(), spawnNodeProcess()]);
    await host.call('create-namespace', { name: 'host' });
    await host.call('add-unix-veth', { ns: 'host', dev: 'veth0', mac: '0e:00:00:00:00:01', path, role: 'listen' });
    await host.call('add-address', { ns: 'host', dev: 'veth0', cidr: '10.244.1.1/24' });
    await pod.call('create-namespace', { name: 'pod' });
    await pod.call('add-unix-veth', { ns: 'pod', dev: 'eth0', mac: '0a:58:0a:f4:01:02', path, role: 'connect' });
    await pod.call('add-address', { ns: 'pod', dev: 'eth0', cidr: '10.244.1.2/24' });
    await host.call('wait-connected', { ns: 'host', dev: 'veth0' });
  });
  afterAll(async () => {
    await Promise.all([host?.close(), pod?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('ping and UDP across', async () => {
    const a = await pod.call<PingAnswer>('ping', { ns: 'pod', dst: '10.244.1.1', count: 2 });
    expect(a.results.map((r) => r.from)).toEqual(['10.244.1.1', '10.244.1.1']);
    const b = await host.call<PingAnswer>('ping', { ns: 'host', dst: '10.244.1.2' });
    expect(b.results[0]?.from).toBe('10.244.1.2');
    await host.call('udp-echo', { ns: 'host', port: 53 });
    const r = await pod.call<{ reply: string }>('udp-request', { ns: 'pod', dst: '10.244.1.1', port: 53, data: 'q' });
    expect(r.reply).toBe('echo:q');
  });
});
