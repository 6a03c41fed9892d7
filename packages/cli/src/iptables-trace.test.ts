// `podnet iptables trace` as a user runs it: the built bin in a child process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'bin', 'podnet.js');
const fixtures = join(import.meta.dirname, '..', '..', 'netfilter', 'fixtures', 'kube-proxy');
const dir = mkdtempSync(join(tmpdir(), 'podnet-cli-iptables-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const podnet = (...args: string[]) => execa(process.execPath, [bin, ...args], { reject: false, cwd: dir });
const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe('podnet iptables trace', () => {
  it('lists every endpoint of a ClusterIP Service with probability 1/n, as JSON', async () => {
    const r = await podnet(
      'iptables',
      'trace',
      '--rules',
      join(fixtures, 'clusterip.rules'),
      '--src',
      '10.244.1.7',
      '--dst',
      '10.96.0.10',
      '--dport',
      '80',
      '--local-ip',
      '172.18.0.2',
      '--json',
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.packet).toEqual({ src: '10.244.1.7', dst: '10.96.0.10', protocol: 'tcp', srcPort: 40000, dstPort: 80 });
    expect(result.outcomes.map((o: { dnat: { address: string; port: number } }) => `${o.dnat.address}:${o.dnat.port}`)).toEqual([
      '10.244.1.2:8080',
      '10.244.2.3:8080',
      '10.244.3.4:8080',
    ]);
    for (const o of result.outcomes) {
      expect(o.probability).toBeCloseTo(1 / 3, 6);
      expect(o).toMatchObject({ verdict: 'accept', disposition: 'sent', masquerade: false });
      expect(o.rules.some((e: { chain: string }) => e.chain.startsWith('KUBE-SEP-'))).toBe(true);
    }
  });

  it('prints a readable TRACE-style path with the masquerade a NodePort gets', async () => {
    const r = await podnet(
      'iptables',
      'trace',
      '--rules',
      join(fixtures, 'nodeport.rules'),
      '--src',
      '198.51.100.7',
      '--dst',
      '172.18.0.2',
      '--dport',
      '30080',
      '--local-ip',
      '172.18.0.2',
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^198\.51\.100\.7:40000 > 172\.18\.0\.2:30080 TCP \(NEW\): 2 possible outcomes$/m);
    expect(r.stdout).toMatch(
      /^outcome 1\/2: probability 0\.5000 \(50\.00%\): ACCEPT, sent on; DNAT to 10\.244\.1\.5:80, MASQUERADE to 172\.18\.0\.2; final 172\.18\.0\.2:40000 > 10\.244\.1\.5:80$/m,
    );
    expect(r.stdout).toMatch(
      /^ {2}PREROUTING {2}TRACE: nat:KUBE-NODEPORTS:rule:1 IN=eth0 OUT= SRC=198\.51\.100\.7 DST=172\.18\.0\.2 PROTO=TCP SPT=40000 DPT=30080 \(-A KUBE-NODEPORTS /m,
    );
    expect(r.stdout).toMatch(/POSTROUTING TRACE: nat:KUBE-POSTROUTING:rule:3 .*-j MASQUERADE --random-fully\)$/m);
  });

  it('reports REJECT for a Service without endpoints', async () => {
    const r = await podnet(
      'iptables',
      'trace',
      '--rules',
      join(fixtures, 'no-endpoints.rules'),
      '--src',
      '10.244.1.7',
      '--dst',
      '10.96.0.50',
      '--dport',
      '80',
      '--json',
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).outcomes).toMatchObject([
      { probability: 1, verdict: 'reject', rejectWith: 'icmp-port-unreachable', hook: 'FORWARD' },
    ]);
  });

  it('a bad rules file gives the restore error with line and word, exit 1, no stack trace', async () => {
    const file = join(dir, 'bad.rules');
    writeFileSync(file, '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -p tcp --dprt 80 -j ACCEPT\nCOMMIT\n');
    const r = await podnet('iptables', 'trace', '--rules', file, '--src', '10.244.1.7', '--dst', '10.96.0.10', '--dport', '80');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('bad.rules: iptables-restore: line 3 failed: unknown option "--dprt" (at "--dprt")');
    noStackTrace(r.stderr);
    const missing = await podnet(
      'iptables',
      'trace',
      '--rules',
      join(dir, 'nope.rules'),
      '--src',
      '10.244.1.7',
      '--dst',
      '10.96.0.10',
      '--dport',
      '80',
    );
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    noStackTrace(missing.stderr);
  });

  it('refuses bad arguments with exit status 2 and a hint', async () => {
    const rules = join(fixtures, 'clusterip.rules');
    for (const [args, message] of [
      [['iptables'], 'podnet iptables: missing subcommand'],
      [['iptables', 'save'], 'podnet iptables: unknown subcommand "save"'],
      [['iptables', 'trace', '--src', '1.2.3.4', '--dst', '1.2.3.5', '--dport', '1'], 'podnet iptables trace: missing --rules'],
      [
        ['iptables', 'trace', '--rules', rules, '--src', '10.244.1', '--dst', '1.2.3.5', '--dport', '1'],
        '--src "10.244.1" is not an IPv4 address',
      ],
      [['iptables', 'trace', '--rules', rules, '--src', '1.2.3.4', '--dst', '1.2.3.5'], 'podnet iptables trace: missing --dport'],
      [
        ['iptables', 'trace', '--rules', rules, '--src', '1.2.3.4', '--dst', '1.2.3.5', '--dport', '70000'],
        '--dport "70000" is not a port',
      ],
      [
        ['iptables', 'trace', '--rules', rules, '--src', '1.2.3.4', '--dst', '1.2.3.5', '--dport', '1', '--proto', 'gre'],
        '--proto "gre" is not one of',
      ],
      [['iptables', 'trace', '--rulez', rules], "Unknown option '--rulez'"],
    ] as const) {
      const r = await podnet(...args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
      noStackTrace(r.stderr);
    }
    const help = await podnet('help', 'iptables');
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: podnet iptables trace --rules FILE/);
  });
});
