// The rules do what they say, in the real kernel: a network namespace made by this test gets
// kube-proxy's payload (applied by the real iptables-restore), two HTTP endpoints on pod IPs and
// the node IP on a veth device inside the namespace; curl inside the namespace then reaches a ClusterIP (DNAT via
// KUBE-SVC statistic → KUBE-SEP), a NodePort (KUBE-NODEPORTS → KUBE-EXT), is refused by a
// Service without endpoints (filter REJECT), and sticks to one endpoint under ClientIP affinity
// (`-m recent`). All traffic stays inside the namespace; every loop is bounded.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeService, makeSlice, tcpPort } from '../../packages/kube-proxy/src/testing/fixtures.ts';
import { describeInterop } from '../support/interop.ts';
import { load, makeHarness, NODE_IP } from './scenarios.ts';

const ns = `podnet-kpt-${process.pid}`;
const servers: ChildProcess[] = [];
let root = '';

function sh(args: string[], input?: string) {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
const inNs = (...args: string[]) => sh(['ip', 'netns', 'exec', ns, ...args]);

/** One HTTP GET from inside the namespace: the body, or undefined with curl's exit code. */
function get(url: string): { body?: string; code: number } {
  const r = inNs('curl', '-s', '--max-time', '5', url);
  return r.status === 0 ? { body: r.stdout.trim(), code: 0 } : { code: r.status };
}

const ENDPOINTS = ['10.244.1.5', '10.244.1.6'];

describeInterop('kube-proxy rules carry real traffic', { commands: ['ip', 'iptables-restore', 'curl', 'python3'], root: true }, () => {
  beforeAll(async () => {
    const steps = [
      ['ip', 'netns', 'add', ns],
      ['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'],
      // The node's "eth0": a veth pair that stays inside the namespace.
      ['ip', 'netns', 'exec', ns, 'ip', 'link', 'add', 'kp0', 'type', 'veth', 'peer', 'name', 'kp1'],
      ['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'kp0', 'up'],
      ['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'kp1', 'up'],
      ['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${NODE_IP}/24`, 'dev', 'kp0'],
      // The "pods" (HTTP servers) have their IPs on loopback: DNAT to them is local delivery.
      ...ENDPOINTS.map((ip) => ['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']),
      // Service IPs are on no device: like a real node, a route (here via kp0) is all they need.
      // (A route via lo would make them local addresses, and the REJECT's ICMP error would not reach the socket.)
      ['ip', 'netns', 'exec', ns, 'ip', 'route', 'add', '10.96.0.0/12', 'dev', 'kp0'],
    ];
    for (const step of steps) {
      const r = sh(step);
      if (r.status !== 0) throw new Error(`${step.join(' ')}: ${r.stderr}`);
    }
    root = mkdtempSync(join(tmpdir(), 'podnet-kpt-'));
    for (const ip of ENDPOINTS) {
      const dir = join(root, ip);
      mkdirSync(dir);
      writeFileSync(join(dir, 'who'), ip);
      const server = spawn('ip', ['netns', 'exec', ns, 'python3', '-m', 'http.server', '8080', '--bind', ip, '--directory', dir], {
        stdio: 'ignore',
      });
      servers.push(server);
    }
    for (const ip of ENDPOINTS) {
      for (let i = 0; i < 100 && get(`http://${ip}:8080/who`).body !== ip; i++) await new Promise((r) => setTimeout(r, 100));
      expect(get(`http://${ip}:8080/who`).body).toBe(ip);
    }
  });

  afterAll(() => {
    for (const s of servers) if (s.pid !== undefined) s.kill('SIGKILL');
    sh(['ip', 'netns', 'del', ns]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('ClusterIP, NodePort, REJECT without endpoints, and ClientIP affinity', async () => {
    const backends = () =>
      makeSlice(
        'default',
        'x',
        1,
        ENDPOINTS.map((ip) => ({ addresses: [ip], nodeName: 'node-1' })),
        [tcpPort('http', 8080)],
      );
    const slice = (service: string) => {
      const s = backends();
      s.metadata.name = `${service}-1`;
      s.metadata.labels = { 'kubernetes.io/service-name': service };
      return s;
    };
    const { proxier } = makeHarness({}, async (payload, options) => {
      const applied = sh(['ip', 'netns', 'exec', ns, 'iptables-restore', ...(options.noflush ? ['--noflush'] : [])], payload);
      if (applied.status !== 0) throw new Error(applied.stderr);
    });
    load(proxier, {
      services: [
        makeService('default', 'web', (s) => {
          s.spec.type = 'NodePort';
          s.spec.clusterIP = '10.96.0.20';
          s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }];
        }),
        makeService('default', 'sticky', (s) => {
          s.spec.clusterIP = '10.96.0.50';
          s.spec.sessionAffinity = 'ClientIP';
          s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
        }),
        makeService('default', 'empty', (s) => {
          s.spec.clusterIP = '10.96.0.40';
          s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
        }),
      ],
      slices: [slice('web'), slice('sticky')],
    });
    const outcome = await proxier.syncProxyRules();
    expect(outcome.error?.message).toBeUndefined();

    // ClusterIP: both endpoints answer over 40 requests (each is picked with probability 1/2).
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const r = get('http://10.96.0.20/who');
      seen.add(r.body ?? `curl exit ${r.code}`);
    }
    expect([...seen].sort()).toEqual(ENDPOINTS);

    // NodePort on the node IP.
    expect(ENDPOINTS).toContain(get(`http://${NODE_IP}:30080/who`).body);

    // No endpoints: REJECT (curl exit 7, "Failed to connect"), not a 5 s timeout (28).
    expect(get('http://10.96.0.40/who').code).toBe(7);

    // ClientIP affinity: every request from this client goes to the first endpoint picked.
    const first = get('http://10.96.0.50/who').body;
    expect(ENDPOINTS).toContain(first);
    for (let i = 0; i < 15; i++) expect(get('http://10.96.0.50/who').body).toBe(first);
  });
});
