// TunnelMetrics on two real VxlanLinks (UDP on 127.0.0.1) and a host-gw uplink pair: frames sent
// and received are counted per peer, wire = inner + 50 for vxlan and = inner for host-gw, the
// histograms count every frame, and each drop reason the device can see is counted by name.
import dgram from 'node:dgram';
import { UplinkLink, VxlanLink } from '@podnet/netstack';
import { parseIpv4, parseMac, vxlan } from '@podnet/wire';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { TunnelMetrics, VXLAN_OVERHEAD_BYTES } from './tunnel-metrics.js';

const IP1 = parseIpv4('172.18.0.2');
const IP2 = parseIpv4('172.18.0.3');
const MAC1 = parseMac('02:00:00:00:00:01');
const MAC2 = parseMac('02:00:00:00:00:02');
const names = new Map([
  [IP1, 'node-1'],
  [IP2, 'node-2'],
]);

function frame(dst: number, src: number, payloadBytes: number): Buffer {
  const f = Buffer.alloc(14 + payloadBytes);
  f.writeUIntBE(dst, 0, 6);
  f.writeUIntBE(src, 6, 6);
  f.writeUInt16BE(0x0800, 12);
  return f;
}

/** Parses Prometheus text exposition into `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function value(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  let found = false;
  for (const [key, v] of samples(text)) {
    if (!key.startsWith(`${name}{`) && key !== name) continue;
    if (want.every((w) => key.includes(w))) {
      sum += v;
      found = true;
    }
  }
  if (!found) throw new Error(`no sample ${name}${JSON.stringify(labels)} in\n${text}`);
  return sum;
}

const until = async (what: string, fn: () => boolean) => {
  const end = Date.now() + 10_000;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('TunnelMetrics', () => {
  it('vxlan: per-peer frames, inner and wire bytes (inner + 50), overhead ratio, histograms', async () => {
    const a = await new VxlanLink({ name: 'flannel.1', mac: MAC1, nodeIp: IP1, localAddress: '127.0.0.1', port: 0 }).open();
    const b = await new VxlanLink({ name: 'flannel.1', mac: MAC2, nodeIp: IP2, localAddress: '127.0.0.1', port: 0 }).open();
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    a.addFdb(MAC2, IP2);
    a.setPeer(IP2, { address: '127.0.0.1', port: b.localPort });
    b.addFdb(MAC1, IP1);
    b.setPeer(IP1, { address: '127.0.0.1', port: a.localPort });
    const ma = new TunnelMetrics({ backend: 'vxlan', peerName: (ip) => names.get(ip), now: () => performance.now() });
    const mb = new TunnelMetrics({ backend: 'vxlan', peerName: (ip) => names.get(ip), now: () => performance.now() });
    a.tunnelObserver = ma;
    b.tunnelObserver = mb;
    let received = 0;
    b.setReceiver(() => {
      received++;
    });
    a.setReceiver(() => {});
    const sizes = [100, 600, 1400, 46, 1000];
    for (const s of sizes) a.transmit(frame(MAC2, MAC1, s));
    await until('5 frames at b', () => received === 5);
    const inner = sizes.reduce((n, s) => n + s + 14, 0);

    const ra = new Registry();
    ra.setDefaultLabels({ component: 'cni-agent', node: 'node-1' });
    ma.register(ra);
    const ta = await ra.metrics();
    const tx = { backend: 'vxlan', peer: 'node-2', direction: 'tx' };
    expect(value(ta, 'podnet_tunnel_inner_frames_total', tx)).toBe(5);
    expect(value(ta, 'podnet_tunnel_inner_bytes_total', tx)).toBe(inner);
    expect(value(ta, 'podnet_tunnel_wire_bytes_total', tx)).toBe(inner + 5 * VXLAN_OVERHEAD_BYTES);
    expect(value(ta, 'podnet_tunnel_overhead_bytes_total', tx)).toBe(250);
    expect(value(ta, 'podnet_tunnel_overhead_ratio', { peer: 'node-2' })).toBeCloseTo(250 / inner, 12);
    expect(value(ta, 'podnet_tunnel_encap_duration_seconds_count', { peer: 'node-2' })).toBe(5);
    expect(value(ta, 'podnet_tunnel_encap_duration_seconds_bucket', { peer: 'node-2', le: '+Inf' })).toBe(5);
    expect(ta).toContain('component="cni-agent"');
    expect(ta).toMatch(/# TYPE podnet_tunnel_encap_duration_seconds histogram/);

    const rb = new Registry();
    mb.register(rb);
    const tb = await rb.metrics();
    const rx = { backend: 'vxlan', peer: 'node-1', direction: 'rx' };
    expect(value(tb, 'podnet_tunnel_inner_frames_total', rx)).toBe(5);
    expect(value(tb, 'podnet_tunnel_wire_bytes_total', rx)).toBe(inner + 250);
    expect(value(tb, 'podnet_tunnel_decap_duration_seconds_count', { peer: 'node-1' })).toBe(5);
    expect(mb.totals().find((t) => t.direction === 'rx')).toMatchObject({ peer: 'node-1', frames: 5, overheadBytes: 250 });
  });

  it('vxlan: drops by reason (no_fdb_entry, unknown_peer, bad_vni, malformed)', async () => {
    const a = await new VxlanLink({ mac: MAC1, nodeIp: IP1, localAddress: '127.0.0.1', port: 0 }).open();
    closers.push(() => a.close());
    const m = new TunnelMetrics({ backend: 'vxlan', peerName: (ip) => names.get(ip), now: () => 0, noRouteDrops: () => 7 });
    a.tunnelObserver = m;
    a.setReceiver(() => {});
    a.transmit(frame(MAC2, MAC1, 60)); // no FDB entry for MAC2
    a.addFdb(MAC2, IP2);
    a.transmit(frame(MAC2, MAC1, 60)); // FDB says node-2, but no transport address for it
    a.setPeer(IP2, { address: '127.0.0.2', port: 9 });
    const raw = dgram.createSocket('udp4');
    closers.push(() => new Promise((r) => raw.close(() => r())));
    await new Promise<void>((r) => raw.bind(0, '127.0.0.2', () => r()));
    const wrongVni = vxlan.encode({ flags: vxlan.FLAG_I, reserved1: 0, vni: 42, reserved2: 0, payload: frame(MAC1, MAC2, 60) });
    const noIFlag = vxlan.encode({ flags: 0, reserved1: 0, vni: 1, reserved2: 0, payload: frame(MAC1, MAC2, 60) });
    for (const d of [wrongVni, noIFlag, Buffer.alloc(4)]) raw.send(d, a.localPort, '127.0.0.1');
    await until('3 rx drops', () => a.counters.dropped() >= 5);
    const r = new Registry();
    m.register(r);
    const t = await r.metrics();
    expect(value(t, 'podnet_tunnel_dropped_frames_total', { reason: 'no_fdb_entry', direction: 'tx' })).toBe(1);
    expect(value(t, 'podnet_tunnel_dropped_frames_total', { reason: 'unknown_peer', peer: 'node-2' })).toBe(1);
    expect(value(t, 'podnet_tunnel_dropped_frames_total', { reason: 'bad_vni', peer: 'node-2', direction: 'rx' })).toBe(1);
    expect(value(t, 'podnet_tunnel_dropped_frames_total', { reason: 'malformed', peer: 'node-2' })).toBe(2);
    expect(value(t, 'podnet_tunnel_dropped_frames_total', { reason: 'no_route' })).toBe(7);
  });

  it('host-gw: wire bytes equal inner bytes, overhead 0', async () => {
    const a = await new UplinkLink({ mac: MAC1, nodeIp: IP1, localAddress: '127.0.0.1', port: 0 }).open();
    const b = await new UplinkLink({ mac: MAC2, nodeIp: IP2, localAddress: '127.0.0.2', port: 0 }).open();
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    a.setPeer(IP2, { address: '127.0.0.2', port: b.localPort });
    b.setPeer(IP1, { address: '127.0.0.1', port: a.localPort });
    const ma = new TunnelMetrics({ backend: 'host-gw', peerName: (ip) => names.get(ip), now: () => performance.now() });
    const mb = new TunnelMetrics({ backend: 'host-gw', peerName: (ip) => names.get(ip), now: () => performance.now() });
    a.tunnelObserver = ma;
    b.tunnelObserver = mb;
    let got = 0;
    b.setReceiver(() => {
      got++;
    });
    for (let i = 0; i < 3; i++) a.transmit(frame(MAC2, MAC1, 500));
    await until('3 frames', () => got === 3);
    const r = new Registry();
    ma.register(r);
    mb.register(new Registry());
    const t = await r.metrics();
    const tx = { backend: 'host-gw', peer: 'node-2', direction: 'tx' };
    expect(value(t, 'podnet_tunnel_inner_frames_total', tx)).toBe(3);
    expect(value(t, 'podnet_tunnel_wire_bytes_total', tx)).toBe(3 * 514);
    expect(value(t, 'podnet_tunnel_overhead_bytes_total', tx)).toBe(0);
    expect(value(t, 'podnet_tunnel_overhead_ratio', { peer: 'node-2' })).toBe(0);
    expect(mb.totals().find((x) => x.direction === 'rx')).toMatchObject({
      peer: 'node-1',
      frames: 3,
      innerBytes: 3 * 514,
      wireBytes: 3 * 514,
    });
  });
});
