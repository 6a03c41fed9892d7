// The scrape configuration `podnet prometheus-config` writes for a cluster record: one job per
// component with every node's target, the read-only viewer token (for the API server and the
// kubelet API; the nodes' token is never written) and the CA in files (token 0600), and
// real `promtool check config` accepting it (and the compose configuration in deploy/prometheus).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigYaml } from '@podnet/apiserver';
import { afterAll, describe, expect, it } from 'vitest';
import { describeInterop } from '../../../../test/support/interop.ts';
import { type ClusterRecord, writeRecord } from '../cluster/state.js';
import type { Output } from '../pcap-read.js';
import { generatePrometheusConfig } from './prometheus-config.js';
import { runPrometheusConfig } from './prometheus-config-command.js';

const dir = mkdtempSync(join(tmpdir(), `podnet-promcfg-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CA = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTEST\n-----END CERTIFICATE-----\n';

function makeRecord(name: string): ClusterRecord {
  const stateDir = join(dir, name);
  const kubeconfig = join(stateDir, 'kubeconfig');
  const record: ClusterRecord = {
    name,
    stateDir,
    backend: 'vxlan',
    apiPort: 16443,
    apiUrl: 'https://127.0.0.1:16443',
    kubeconfig,
    startedAt: new Date(0).toISOString(),
    controlPlane: { pid: 1, log: join(stateDir, 'logs', 'control-plane.log'), dataDir: join(stateDir, 'control-plane') },
    nodes: [1, 2, 3].map((n) => ({
      name: `node-${n}`,
      nodeIp: `172.18.0.${n + 1}`,
      transportAddress: `127.0.1.${n}`,
      pid: 1,
      log: '',
      controlSocket: '',
      dataDir: '',
    })),
  };
  writeRecord(record);
  writeFileSync(kubeconfig, kubeconfigYaml(record.apiUrl, CA, 'secret-admin-token', 'admin', name));
  writeFileSync(join(stateDir, 'kubeconfig-node-agent'), kubeconfigYaml(record.apiUrl, CA, 'secret-node-token', 'node-agent', name));
  // The API server writes one kubeconfig per identity into its data directory at each start.
  mkdirSync(record.controlPlane.dataDir, { recursive: true });
  writeFileSync(
    join(record.controlPlane.dataDir, 'kubeconfig-viewer'),
    kubeconfigYaml(record.apiUrl, CA, 'secret-viewer-token', 'viewer', name),
  );
  return record;
}

function capture(): Output & { outText: () => string; errText: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (l) => out.push(l), err: (l) => err.push(l), outText: () => out.join('\n'), errText: () => err.join('\n') };
}

describe('generatePrometheusConfig', () => {
  it('one job per component, every node, the viewer token and CA in files', () => {
    const record = makeRecord('gen');
    // Files an older version wrote with the admin and node tokens are removed.
    mkdirSync(join(dir, 'gen-secrets'), { recursive: true });
    for (const f of ['apiserver-token', 'node-token']) writeFileSync(join(dir, 'gen-secrets', f), 'old');
    const g = generatePrometheusConfig(record, { secretsDir: join(dir, 'gen-secrets'), scrapeInterval: '2s', livePagePort: 18080 });
    const config = JSON.parse(g.yaml.replace(/^#.*\n/gm, '')) as {
      global: { scrape_interval: string };
      scrape_configs: Array<{
        job_name: string;
        scheme: string;
        static_configs: Array<{ targets: string[]; labels: Record<string, string> }>;
        authorization?: { credentials_file: string };
        tls_config?: Record<string, unknown>;
      }>;
    };
    expect(config.global.scrape_interval).toBe('2s');
    const job = (n: string) => config.scrape_configs.find((j) => j.job_name === n);
    expect(job('apiserver')).toMatchObject({
      scheme: 'https',
      authorization: { credentials_file: g.tokenFile },
      tls_config: { ca_file: g.caFile },
    });
    expect(job('apiserver')?.static_configs[0]?.targets).toEqual(['127.0.0.1:16443']);
    expect(job('cni-agent')?.static_configs.map((s) => [s.targets[0], s.labels.node])).toEqual([
      ['127.0.1.1:9099', 'node-1'],
      ['127.0.1.2:9099', 'node-2'],
      ['127.0.1.3:9099', 'node-3'],
    ]);
    expect(job('kube-proxy')?.static_configs.map((s) => s.targets[0])).toEqual(['127.0.1.1:10249', '127.0.1.2:10249', '127.0.1.3:10249']);
    expect(job('node-agent')).toMatchObject({
      scheme: 'https',
      authorization: { credentials_file: g.tokenFile },
      tls_config: { insecure_skip_verify: true },
    });
    expect(g.tokenFile).toBe(join(dir, 'gen-secrets', 'viewer-token'));
    expect(existsSync(join(dir, 'gen-secrets', 'node-token'))).toBe(false);
    expect(existsSync(join(dir, 'gen-secrets', 'apiserver-token'))).toBe(false);
    expect(job('control-plane')?.static_configs[0]?.targets).toEqual(['127.0.0.1:18080']);
    expect(g.targets).toHaveLength(1 + 9 + 1);
    expect(readFileSync(g.tokenFile, 'utf8')).toBe('secret-viewer-token');
    expect(statSync(g.tokenFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(g.caFile, 'utf8')).toBe(CA);
    expect(g.yaml).not.toMatch(/secret-(admin|node|viewer)-token/);
    // No file Prometheus reads holds a token that may write.
    for (const f of readdirSync(join(dir, 'gen-secrets')))
      expect(readFileSync(join(dir, 'gen-secrets', f), 'utf8')).not.toMatch(/secret-(admin|node)-token/);
    // --live-page-port -1: no control-plane job.
    expect(
      generatePrometheusConfig(record, { secretsDir: join(dir, 'gen-secrets'), livePagePort: -1 }).targets.some(
        (t) => t.job === 'control-plane',
      ),
    ).toBe(false);
  });
});

describe('podnet prometheus-config', () => {
  it('writes the file with -o and says where the secrets went', () => {
    const record = makeRecord('cmd');
    const io = capture();
    const out = join(dir, 'cmd-prometheus.yml');
    expect(runPrometheusConfig(['--state-dir', record.stateDir, '--name', 'cmd', '-o', out], io)).toBe(0);
    expect(io.outText()).toMatch(/wrote .*cmd-prometheus\.yml \(11 targets; token and CA in .*prometheus-secrets\)/);
    expect(readFileSync(out, 'utf8')).toContain('"job_name": "cni-agent"');
  });
  it('prints to stdout without -o', () => {
    const record = makeRecord('stdout');
    const io = capture();
    expect(runPrometheusConfig(['--state-dir', record.stateDir, '--name', 'stdout'], io)).toBe(0);
    expect(io.outText()).toContain('"scrape_configs"');
  });
  it('a state directory without the viewer kubeconfig: exit 1 naming the file', () => {
    const record = makeRecord('noviewer');
    rmSync(join(record.controlPlane.dataDir, 'kubeconfig-viewer'));
    const io = capture();
    expect(runPrometheusConfig(['--state-dir', record.stateDir, '--name', 'noviewer'], io)).toBe(1);
    expect(io.errText()).toMatch(/control-plane\/kubeconfig-viewer does not exist.*podnet up/);
  });
  it('user mistakes: exit 2 with the reason, no cluster: exit 1 naming podnet up', () => {
    let io = capture();
    expect(runPrometheusConfig(['--scrape-interval', 'often'], io)).toBe(2);
    expect(io.errText()).toContain('--scrape-interval "often" is not a Prometheus duration');
    io = capture();
    expect(runPrometheusConfig(['--bogus'], io)).toBe(2);
    expect(io.errText()).toMatch(/Unknown option '--bogus'[\s\S]*Usage: podnet prometheus-config/);
    io = capture();
    expect(runPrometheusConfig(['--live-page-port', '99999'], io)).toBe(2);
    io = capture();
    expect(runPrometheusConfig(['--state-dir', join(dir, 'nothing-here')], io)).toBe(1);
    expect(io.errText()).toContain('podnet up');
  });
});

describeInterop('promtool check config', { commands: ['promtool'] }, () => {
  // The compose configuration (deploy/prometheus/prometheus.yml) is checked in
  // packages/cli/src/compose/prometheus.test.ts: its credential files exist only under /state.
  it('accepts the generated configuration', () => {
    const record = makeRecord('promtool');
    const g = generatePrometheusConfig(record, { secretsDir: join(dir, 'promtool-secrets') });
    const file = join(dir, 'promtool.yml');
    writeFileSync(file, g.yaml);
    expect(execFileSync('promtool', ['check', 'config', file], { encoding: 'utf8' })).toContain('SUCCESS');
  });
});
