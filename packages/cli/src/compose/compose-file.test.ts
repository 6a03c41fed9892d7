// deploy/docker-compose.yml and the override podnet writes, as the real compose on this machine
// reads them (`config`: no daemon needed): found by findCompose (v1 here), the prometheus
// service mounts only the credentials directory and the generated configuration over deploy/'s,
// waits for the control plane's healthcheck, and every node publishes its metrics ports.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_PROCESS_V8_FLAGS } from '@podnet/wire';
import { afterAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeInterop } from '../../../../test/support/interop.ts';
import { COMPOSE_FILE } from './compose.js';
import { composeArgv, findCompose } from './compose-command.js';
import { composeNodes, overrideFor } from './plan.js';

interface ServiceConfig {
  volumes?: Array<string | { source: string; target: string; read_only?: boolean }>;
  ports?: Array<string | { target: number; published?: string | number; host_ip?: string }>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  entrypoint?: string[];
}

/** v1 prints short syntax ("/s:/state:ro", "127.0.0.1::10250/tcp"), v2 long syntax: one form for both. */
const volume = (v: NonNullable<ServiceConfig['volumes']>[number]) =>
  typeof v === 'string' ? v.replace(/:rw$/, '') : `${v.source}:${v.target}${v.read_only ? ':ro' : ''}`;
const port = (p: NonNullable<ServiceConfig['ports']>[number]) =>
  typeof p === 'string' ? p.replace(/\/tcp$/, '') : `${p.host_ip ?? ''}:${p.published ?? ''}:${p.target}`;

const dir = mkdtempSync(join(tmpdir(), 'podnet-compose-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeInterop('deploy/docker-compose.yml as compose reads it', { commands: ['docker-compose'] }, () => {
  it('mounts the credentials read-only and a generated Prometheus configuration over deploy/s, after the control plane is healthy', async () => {
    const cmd = await findCompose();
    const generated = join(dir, 'prometheus.yml');
    const overrideFile = join(dir, 'docker-compose.nodes.json');
    writeFileSync(overrideFile, JSON.stringify(overrideFor(composeNodes(5), { prometheusConfig: generated })));
    const [program, args] = composeArgv(
      cmd,
      { project: 'podnet-file-test', files: [COMPOSE_FILE, overrideFile], profiles: ['observability'] },
      ['config'],
    );
    const text = execFileSync(program, args, { encoding: 'utf8', env: { ...process.env, PODNET_STATE_DIR: dir }, timeout: 60_000 });
    const services = (parse(text) as { services: Record<string, ServiceConfig> }).services;
    expect(Object.keys(services).sort()).toEqual([
      'control-plane',
      'grafana',
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
      'prometheus',
    ]);
    expect(new Set(services.prometheus?.volumes?.map(volume))).toEqual(
      new Set([`${dir}/prometheus:/state/prometheus:ro`, `${generated}:/etc/prometheus/prometheus.yml:ro`]),
    );
    expect(services.prometheus?.depends_on?.['control-plane']?.condition).toBe('service_healthy');
    expect(services['control-plane']?.healthcheck?.test).toEqual(['CMD', 'node', '/podnet/deploy/entrypoint.mjs', 'healthcheck']);
    for (const n of ['node-2', 'node-4', 'node-5'])
      expect(services[n]?.ports?.map(port).sort()).toEqual(['127.0.0.1::10249', '127.0.0.1::10250', '127.0.0.1::9099']);
    expect(services['node-1']?.ports?.map(port)).toContain('127.0.0.1::10250');
    // Every node, static or added, runs with the node processes' V8 flags (node-process-flags.ts).
    for (const n of ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'])
      expect(services[n]?.entrypoint, n).toEqual(['node', ...NODE_PROCESS_V8_FLAGS, '/podnet/deploy/entrypoint.mjs']);
  }, 90_000);
});
