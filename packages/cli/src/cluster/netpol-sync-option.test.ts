// `podnet up --netpol-min-sync-period DURATION` and `--netpol-sync-period DURATION`: validated as
// kube-proxy's --min-sync-period / --sync-period are
// (exit 2 with the flag and the bad value named, nothing started), and passed to every node's
// cni-agent through the node-agent's --cni-agent-command. (The cni-agent side, that the policy
// agent runs with it: packages/cni-agent/src/netpol/policy-host.test.ts; a real cluster started
// with it: the netpol bench group, part (c).)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_PROCESS_V8_FLAGS } from '@podnet/wire';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { cniAgentCommand, nodePlan } from './up.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'podnet.js');
const dir = mkdtempSync(join(tmpdir(), `podnet-netpol-option-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const podnet = (...args: string[]) =>
  execa(process.execPath, [bin, ...args], { reject: false, cwd: dir, env: { PODNET_HOME: join(dir, 'home') } });

/** node-agent main.ts's words(): split on spaces, quotes group a word. */
const words = (cmd: string) => (cmd.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^["']|["']$/g, ''));

describe('podnet up --netpol-min-sync-period', () => {
  it('refuses a bad duration with exit status 2, naming the flag and the value, and starts nothing', async () => {
    for (const bad of ['fast', '-1ms', '10us', '31s', '']) {
      // `=`: a value starting with a dash is otherwise an ambiguous option to node's parseArgs.
      const r = await podnet('up', `--netpol-min-sync-period=${bad}`, '--name', 'np-option');
      expect(r.exitCode, bad).toBe(2);
      expect(r.stderr, bad).toContain(
        `podnet up: --netpol-min-sync-period must be a duration from 0 to 30s, such as 0, 10ms or 1s (got "${bad}")`,
      );
      expect(r.stderr, bad).toContain('podnet help up');
      expect(r.stderr, bad).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
      expect(r.stdout, bad).not.toContain('creating cluster');
    }
  });

  it('is refused with --runtime compose, whose node commands the compose file fixes', async () => {
    const r = await podnet('up', '--runtime', 'compose', '--netpol-min-sync-period', '10ms');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--netpol-min-sync-period and --netpol-sync-period work with --runtime process only');
  });

  it('is documented in podnet help up', async () => {
    const r = await podnet('help', 'up');
    expect(r.stdout).toContain('[--netpol-min-sync-period DURATION]');
    expect(r.stdout).toMatch(/--netpol-min-sync-period \(default 100ms; 0 to 30s/);
  });

  it("builds each node's cni-agent command with it, as the node-agent's default plus the flag", () => {
    const [node] = nodePlan(2, '127.0.9');
    const o = {
      kubeconfig: '/state dir/kubeconfig-node-agent',
      dataDir: '/state dir/nodes/node-1',
      controlSocket: '/state dir/nodes/node-1/cni-agent.sock',
      backend: 'host-gw',
    };
    expect(cniAgentCommand(node as never, o)).toBeUndefined();
    for (const [ms, flag] of [
      [0, '0ms'],
      [10, '10ms'],
      [1500, '1500ms'],
    ] as const) {
      const argv = words(cniAgentCommand(node as never, { ...o, netpolMinSyncPeriodMs: ms }) as string);
      const flags = NODE_PROCESS_V8_FLAGS.length;
      expect(argv[0]).toBe(process.execPath);
      expect(argv.slice(1, 1 + flags)).toEqual([...NODE_PROCESS_V8_FLAGS]);
      expect(argv[1 + flags]).toMatch(/packages\/cni-agent\/dist\/main\.js$/);
      expect(argv.slice(2 + flags)).toEqual([
        '--node',
        'node-1',
        '--kubeconfig',
        '/state dir/kubeconfig-node-agent',
        '--transport-address',
        '127.0.9.1',
        '--node-ip',
        '172.18.0.2',
        '--data-dir',
        '/state dir/nodes/node-1/cni-agent',
        '--control-socket',
        '/state dir/nodes/node-1/cni-agent.sock',
        '--backend',
        'host-gw',
        '--netpol-min-sync-period',
        flag,
      ]);
    }
  });
});

describe('podnet up --netpol-sync-period', () => {
  it('refuses a bad period (or a least interval longer than it) with exit status 2 and starts nothing', async () => {
    for (const [args, message] of [
      [['--netpol-sync-period=0'], '--netpol-sync-period must be a duration from 100ms to 86400s, such as 10s, 30s or 5m (got "0")'],
      [['--netpol-sync-period=soon'], '--netpol-sync-period must be a duration from 100ms to 86400s'],
      [
        ['--netpol-sync-period=5s', '--netpol-min-sync-period=6s'],
        '--netpol-min-sync-period must be a duration from 0 to 5s, such as 0, 10ms or 1s (got "6s")',
      ],
    ] as const) {
      const r = await podnet('up', ...args, '--name', 'np-option');
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(`podnet up: ${message}`);
      expect(r.stdout, args.join(' ')).not.toContain('creating cluster');
    }
    const compose = await podnet('up', '--runtime', 'compose', '--netpol-sync-period', '10s');
    expect(compose.exitCode).toBe(2);
    expect(compose.stderr).toContain('--netpol-sync-period work with --runtime process only');
  });

  it('is documented in podnet help up and reaches the cni-agent command, alone or with the least interval', async () => {
    expect((await podnet('help', 'up')).stdout).toMatch(
      /\[--netpol-sync-period DURATION\][\s\S]*--netpol-sync-period \(default 30s; 100ms to 24h/,
    );
    const [node] = nodePlan(1, '127.0.9');
    const o = { kubeconfig: '/k', dataDir: '/d', controlSocket: '/s', backend: 'vxlan' };
    expect(words(cniAgentCommand(node as never, { ...o, netpolSyncPeriodMs: 45_000 }) as string).slice(-2)).toEqual([
      '--netpol-sync-period',
      '45000ms',
    ]);
    expect(
      words(cniAgentCommand(node as never, { ...o, netpolMinSyncPeriodMs: 0, netpolSyncPeriodMs: 10_000 }) as string).slice(-4),
    ).toEqual(['--netpol-min-sync-period', '0ms', '--netpol-sync-period', '10000ms']);
  });
});
