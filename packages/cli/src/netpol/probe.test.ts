// `podnet netpol probe` on a real `podnet up` cluster (2 nodes: API server, controllers, and per
// node a node-agent, a cni-agent hosting the policy agent, and kube-proxy): namespaces x and y with
// pods a and b (agnhost netexec on TCP and UDP 80). Without policy every cell is "."; with a policy
// that admits into x only from namespace y, the printed matrices (TCP and UDP) are exactly the
// upstream-style expectation, --expect of that file exits 0, and of a wrong file exits 1 naming the cell.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '@podnet/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExpectFile, parseProbeArgs } from './command.js';
import { attemptAllowed, attemptCommand, probe } from './probe.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'podnet.js');
const root = mkdtempSync(join(tmpdir(), `podnet-netpol-probe-${process.pid}-`));
const stateDir = join(root, 'state');
mkdirSync(stateDir, { recursive: true });
const prefix = `127.${150 + (process.pid % 40)}.${(process.pid >> 6) % 250}`;
const podnet = (...args: string[]) =>
  execa(process.execPath, [BIN, ...args, '--state-dir', stateDir], { reject: false, timeout: 200_000, env: { PODNET_HOME: root } });
let client: KubeClient;

/** A port that was free a moment ago (bind 0, close), for the cluster's API server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const OPEN = `-\tx/a\tx/b\ty/a\ty/b
x/a\t.\t.\t.\t.
x/b\t.\t.\t.\t.
y/a\t.\t.\t.\t.
y/b\t.\t.\t.\t.`;
// Into x only from namespace y (x's own pods are denied, y is not isolated).
const ONLY_FROM_Y = `-\tx/a\tx/b\ty/a\ty/b
x/a\t.\tX\t.\t.
x/b\tX\t.\t.\t.
y/a\t.\t.\t.\t.
y/b\t.\t.\t.\t.`;

describe('podnet netpol probe: arguments and the expect file', () => {
  it('parses options and refuses mistakes with the option named', () => {
    const a = parseProbeArgs([
      '--namespaces',
      'x,y',
      '--ports',
      '80,81',
      '--protocols',
      'tcp,UDP',
      '--timeout-ms',
      '500',
      '--kubeconfig',
      'k',
    ]);
    expect(a).toMatchObject({ namespaces: ['x', 'y'], timeoutMs: 500, kubeconfig: 'k', json: false });
    expect(a !== 'help' && a.cases).toEqual([
      { protocol: 'tcp', port: 80 },
      { protocol: 'tcp', port: 81 },
      { protocol: 'udp', port: 80 },
      { protocol: 'udp', port: 81 },
    ]);
    expect(() => parseProbeArgs(['--protocols', 'sctp'])).toThrow(/--protocols: "sctp" is not tcp or udp/);
    expect(() => parseProbeArgs(['--ports', '80,'])).toThrow(/--ports "80," has an empty item/);
    expect(() => parseProbeArgs(['--timeout-ms', '5'])).toThrow(/--timeout-ms "5" must be/);
    expect(() => parseProbeArgs(['--bogus'])).toThrow(/Unknown option '--bogus'/);
  });

  it('reads one matrix or one per "tcp/80" heading, with file:line in errors', () => {
    expect(parseExpectFile(OPEN, 'f').get('*')?.pods).toEqual(['x/a', 'x/b', 'y/a', 'y/b']);
    const two = parseExpectFile(`tcp/80:\n${OPEN}\nudp/80\n${ONLY_FROM_Y}\n`, 'f');
    expect([...two.keys()]).toEqual(['tcp/80', 'udp/80']);
    expect(two.get('udp/80')?.allowed[0]).toEqual([true, false, true, true]);
    expect(() => parseExpectFile(`tcp/80\n${OPEN.replace('x/b\t.\t.', 'x/b\t?\t.')}`, 'f')).toThrow(/^f:4: cell x\/a is "\?"/);
  });

  it('probes every ordered pair once per case, in parallel, with nc commands', async () => {
    const pods = ['a', 'b', 'c'].map((name, i) => ({ namespace: 'x', name, ip: `10.244.1.${i + 2}`, container: 'c' }));
    const seen: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const results = await probe({
      pods,
      cases: [
        { protocol: 'tcp', port: 80 },
        { protocol: 'udp', port: 81 },
      ],
      timeoutMs: 1500,
      exec: async (pod, argv, stdin) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        seen.push(`${pod.name} ${argv.join(' ')}${stdin ? ` <${stdin.trim()}` : ''}`);
        await sleep(5);
        inFlight--;
        // Only c is reachable.
        const toC = argv.includes('10.244.1.4');
        return argv.includes('-u') ? { stdout: toC ? 'c\n' : '', exitCode: 0 } : { stdout: '', exitCode: toC ? 0 : 1 };
      },
    });
    expect(seen).toHaveLength(12);
    expect(seen).toContain('a nc -z -w 2 10.244.1.3 80');
    expect(seen).toContain('b nc -u -w 2 10.244.1.4 81 <hostname');
    expect(maxInFlight).toBeGreaterThan(1);
    for (const r of results)
      expect(r.matrix.allowed).toEqual([
        [true, false, true],
        [false, true, true],
        [false, false, true],
      ]);
    expect(attemptCommand({ protocol: 'tcp', port: 1 }, '1.2.3.4', 100).argv).toEqual(['nc', '-z', '-w', '1', '1.2.3.4', '1']);
    expect(attemptAllowed({ protocol: 'udp', port: 1 }, { stdout: '  \n', exitCode: 0 })).toBe(false);
  });
});

describe('podnet netpol probe on a podnet up cluster', () => {
  beforeAll(async () => {
    const up = await podnet('up', '--nodes', '2', '--api-port', String(await freePort()), '--transport-prefix', prefix, '--timeout', '150');
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    client = new KubeClient({ kubeconfig: join(stateDir, 'kubeconfig') });
    for (const ns of ['x', 'y']) {
      await client.resource('namespaces').create({ metadata: { name: ns, labels: { ns } } } as never);
      for (const name of ['a', 'b']) {
        await client.resource('pods').create(
          {
            metadata: { namespace: ns, name, labels: { pod: name } },
            spec: {
              containers: [
                {
                  name: 'c',
                  image: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
                  args: ['netexec', '--http-port=80', '--udp-port=80'],
                  ports: [
                    { name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' },
                    { name: 'serve-80-udp', containerPort: 80, protocol: 'UDP' },
                  ],
                },
              ],
            },
          } as never,
          { namespace: ns },
        );
      }
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pods = (await client.resource('pods').list()).items as Array<{
        metadata?: { namespace?: string };
        status?: { phase?: string; podIP?: string };
      }>;
      const ours = pods.filter((p) => ['x', 'y'].includes(p.metadata?.namespace ?? ''));
      if (ours.length === 4 && ours.every((p) => p.status?.phase === 'Running' && p.status.podIP)) break;
      if (Date.now() > deadline) throw new Error(`pods not Running: ${JSON.stringify(ours.map((p) => p.status))}`);
      await sleep(250);
    }
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await podnet('down', '--purge');
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  const probeCmd = (...extra: string[]) => podnet('netpol', 'probe', '--namespaces', 'x,y', '--timeout-ms', '1000', ...extra);

  it('without a policy every pod reaches every other', async () => {
    const r = await probeCmd();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`tcp/80:\n${OPEN}`);
  }, 60_000);

  it('with ingress into x only from namespace y: the matrix, --expect equal (0) and different (1)', async () => {
    await client.resource('networkpolicies').create(
      {
        metadata: { namespace: 'x', name: 'allow-from-y' },
        spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] },
      } as never,
      { namespace: 'x' },
    );
    const expectFile = join(root, 'only-from-y.txt');
    writeFileSync(expectFile, `# into x only from y\n${ONLY_FROM_Y}\n`);
    // Policy to enforcement on both nodes is fast, but bounded generously here.
    let r = await probeCmd('--expect', expectFile);
    for (let i = 0; i < 10 && r.exitCode !== 0; i++) r = await probeCmd('--expect', expectFile);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toBe(`tcp/80:\n${ONLY_FROM_Y}\nall cells as expected`);

    const both = await probeCmd('--protocols', 'tcp,udp', '--json');
    expect(both.exitCode, both.stderr).toBe(0);
    const json = JSON.parse(both.stdout) as { cases: Array<{ protocol: string; port: number; allowed: boolean[][] }> };
    expect(json.cases.map((c) => `${c.protocol}/${c.port}`)).toEqual(['tcp/80', 'udp/80']);
    for (const c of json.cases) expect(c.allowed).toEqual(parseExpectFile(ONLY_FROM_Y, 'e').get('*')?.allowed);

    writeFileSync(expectFile, OPEN);
    const wrong = await probeCmd('--expect', expectFile);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stdout).toContain(`2 cell(s) differ from ${expectFile}:`);
    expect(wrong.stdout).toContain('tcp/80 x/a -> x/b: expected ., got X');
    expect(wrong.stdout).toContain('tcp/80 x/b -> x/a: expected ., got X');
  }, 120_000);
});
