// The cluster commands' argument and state checks, through the built `podnet` bin (no cluster
// is started here: test/e2e/cluster.test.ts runs one).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../usage.js';
import { parseTarget, pickProbe, probeCommand, splitPackets } from './trace.js';
import { nodePlan } from './up.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'podnet.js');
const dir = mkdtempSync(join(tmpdir(), 'podnet-cluster-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const podnet = (...args: string[]) =>
  execa(process.execPath, [bin, ...args], { reject: false, cwd: dir, env: { PODNET_HOME: join(dir, 'home') } });

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}

describe('podnet cluster commands', () => {
  it('lists them in the help and has help for each', async () => {
    const help = await podnet('--help');
    expect(help.stdout).toMatch(/up \[--nodes N\] \[--backend vxlan\|host-gw\]/);
    for (const c of ['up', 'down', 'status', 'exec', 'kill', 'trace', 'capture']) {
      const r = await podnet('help', c);
      expect(r.exitCode, c).toBe(0);
      expect(r.stdout, c).toMatch(/^Usage: podnet /);
    }
  });

  it('refuses bad usage with exit status 2 and a hint', async () => {
    for (const [args, message] of [
      [['up', '--backend', 'wireguard'], 'podnet up: --backend must be vxlan or host-gw (got "wireguard")'],
      [['up', '--nodes', '0'], 'podnet up: --nodes must be an integer from 1 to 20 (got "0")'],
      [['up', '--transport-prefix', '10.0.0'], 'podnet up: --transport-prefix must be 127.X.Y'],
      [['up', 'now'], 'podnet up: unexpected argument "now"'],
      [['exec', 'web-1'], 'podnet exec: missing -- CMD [ARG...]'],
      [['exec', '--', 'curl'], 'podnet exec: missing POD'],
      [['node', 'exec', 'node-1'], 'podnet node exec: missing -- CMD [ARG...]'],
      [['node', 'list'], 'podnet node: unknown subcommand "list"'],
      [['kill', 'service', 'x'], 'podnet kill: unknown kind "service" (pod or node)'],
      [['kill', 'pod'], 'podnet kill pod: missing NAME'],
      [['trace', '--from', 'web-1'], 'podnet trace: missing --to'],
      [['trace', '--from', 'a', '--to', '1.2.3.4:5', '--proto', 'gre'], 'podnet trace: --proto must be tcp, udp, sctp or icmp'],
      [['capture', 'node-1'], 'podnet capture: missing -w FILE.pcap'],
      [['down', '--frob'], "podnet down: Unknown option '--frob'"],
    ] as const) {
      const r = await podnet(...args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
      expectNoStackTrace(r.stderr);
    }
  });

  it('says clearly when there is no cluster, or the API port is taken (exit 1, nothing started)', async () => {
    const status = await podnet('status', '--name', 'nope');
    expect(status.exitCode).toBe(1);
    expect(status.stderr).toContain('no podnet cluster "nope" here');
    expect(status.stderr).toContain('podnet up --name nope');
    const down = await podnet('down', '--state-dir', join(dir, 'none'));
    expect(down.exitCode).toBe(0);
    expect(down.stdout).toContain('nothing to stop');

    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = await podnet('up', '--state-dir', join(dir, 'taken'), '--api-port', String(port));
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(r.stderr).toContain('--api-port N');
      expectNoStackTrace(r.stderr);
    } finally {
      holder.close();
    }
  });

  it('reports a recorded cluster that is already running instead of starting a second one', async () => {
    const stateDir = join(dir, 'running');
    const record = {
      name: 'podnet',
      stateDir,
      backend: 'vxlan',
      apiPort: 1,
      apiUrl: 'https://127.0.0.1:1',
      kubeconfig: join(stateDir, 'kubeconfig'),
      startedAt: '2026-01-01T00:00:00.000Z',
      // This test process's own group stands for a running control plane.
      controlPlane: { pid: process.pid, log: 'x', dataDir: 'x' },
      nodes: [],
    };
    mkdirSync(stateDir, { recursive: true });
    const pgid = Number((await execa('ps', ['-o', 'pgid=', '-p', String(process.pid)])).stdout.trim());
    record.controlPlane.pid = pgid;
    writeFileSync(join(stateDir, 'cluster.json'), JSON.stringify(record));
    const r = await podnet('up', '--state-dir', stateDir);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('cluster "podnet" is already running');
    expect(r.stderr).toContain(`export KUBECONFIG=${join(stateDir, 'kubeconfig')}`);
  });

  it('plans node addresses as DESIGN §4 says, and parses trace targets', () => {
    expect(nodePlan(3, '127.0.1')).toEqual([
      { name: 'node-1', nodeIp: '172.18.0.2', transportAddress: '127.0.1.1' },
      { name: 'node-2', nodeIp: '172.18.0.3', transportAddress: '127.0.1.2' },
      { name: 'node-3', nodeIp: '172.18.0.4', transportAddress: '127.0.1.3' },
    ]);
    expect(parseTarget('10.96.0.2:80', 'tcp')).toEqual({ ip: '10.96.0.2', port: 80 });
    expect(parseTarget('10.244.1.2', 'icmp')).toEqual({ ip: '10.244.1.2' });
    expect(() => parseTarget('10.96.0.2', 'tcp')).toThrow(/needs a port/);
    expect(() => parseTarget('10.96.0.300:80', 'tcp')).toThrow(/is not IPv4:PORT/);
    // A malformed --to is a usage mistake (exit 2), not a run-time failure (exit 1).
    expect(() => parseTarget('nope', 'tcp')).toThrow(UsageError);
    expect(probeCommand('tcp', '10.96.0.2', 80)).toEqual(['nc', '-z', '-w', '2', '10.96.0.2', '80']);
    expect(probeCommand('sctp', '10.96.0.2', 80)).toEqual(['nc', '--sctp', '-z', '-w', '2', '10.96.0.2', '80']);
  });

  it("trace splits a node's events into packets and follows the probe flow to the other nodes", () => {
    const ev = (table: string, hook: string, src: string, srcPort: number, dst: string, dstPort: number, target = '') => ({
      hook,
      table,
      chain: hook,
      kind: 'policy',
      ruleNumber: 1,
      target,
      src,
      dst,
      protocol: 'tcp',
      srcPort,
      dstPort,
      mark: 0,
      line: '',
    });
    // An established packet of another flow first, then the probe (NEW: it traverses nat and is DNATed).
    const source = [
      ev('raw', 'PREROUTING', '10.244.1.5', 1111, '10.96.0.2', 80),
      ev('filter', 'FORWARD', '10.244.1.5', 1111, '10.244.2.4', 8080),
      ev('raw', 'PREROUTING', '10.244.1.5', 2222, '10.96.0.2', 80),
      ev('nat', 'PREROUTING', '10.244.1.5', 2222, '10.96.0.2', 80, 'DNAT'),
      ev('filter', 'FORWARD', '10.244.1.5', 2222, '10.244.3.4', 8080),
    ];
    expect(splitPackets(source).map((p) => p.length)).toEqual([2, 3]);
    const others = new Map([
      ['node-2', [ev('raw', 'PREROUTING', '10.244.1.5', 1111, '10.244.2.4', 8080)]],
      [
        'node-3',
        [ev('raw', 'PREROUTING', '10.244.1.5', 9999, '10.244.3.4', 8080), ev('raw', 'PREROUTING', '10.244.1.5', 2222, '10.244.3.4', 8080)],
      ],
    ]);
    const picked = pickProbe(source, others);
    expect(picked.source.map((e) => e.srcPort)).toEqual([2222, 2222, 2222]);
    expect([...picked.remote.keys()]).toEqual(['node-3']);
    expect(picked.remote.get('node-3')?.[0]?.srcPort).toBe(2222);
  });
});
