// Compose smoke test (issue 7, DESIGN §8): the podnet image built offline (podnet-base:local from
// this machine's Node.js, the prepared tree, cached by content hash), `composeUp` with 3 nodes,
// a pod on node-1 reaching a Service backed on node-3, a NodePort answering on 127.0.0.1 through
// the published port, a killed node going NotReady, `composeDown` leaving no containers or
// networks, and Prometheus (issue 7: every component of every node): the credentials the control
// plane writes, `promtool check config` on the configuration compose mounts (its /state paths
// resolved to the state directory), every target of every job answering 200 with Prometheus text
// from inside the compose network with the configured token and CA, Debian's real Prometheus on
// the host scraping them all through the published ports, and the compose prometheus service
// (an image of that binary, deploy/prometheus-image.sh) scraping them as mounted (`up` = 1 for all).
// The test's real sockets go to 127.0.0.1 only (published ports); containers are reached by docker.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  composeArgv,
  composeKill,
  findCompose,
  type PrometheusConfig,
  readComposeRecord,
  type ScrapeConfig,
} from '../../packages/cli/src/compose/index.ts';
import { KubeClient, type KubeObject } from '../../packages/client/src/index.ts';

/** A Pod or Service as the test writes it. */
type Obj = KubeObject & { spec?: unknown };

import { ensureDocker } from '../support/docker.ts';
import { describeInterop } from '../support/interop.ts';
import { buildPrometheusImage, buildTestImage, REPO } from './image.ts';

const project = `podnet-smoke-${process.pid}`;
const stateDir = mkdtempSync(join(tmpdir(), 'podnet-compose-'));
const timings: Record<string, number> = {};
const lines: string[] = [];
const io = { out: (l: string) => void lines.push(l), err: (l: string) => void lines.push(l) };
let kubeconfig = '';
let client: KubeClient | undefined;
let nodePortHost = 0;
let livePort = 0;
let apiPort = 0;
let podnetImage = '';
let up = false;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
/** A free port on 127.0.0.1 (bound to 0 and released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
/** Ten consecutive free ports for the published NodePort range (bounded tries). */
async function freeRange(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const first = 40_000 + Math.floor(Math.random() * 20_000);
    const all = await Promise.all(Array.from({ length: 10 }, (_, k) => portFree(first + k)));
    if (all.every(Boolean)) return first;
  }
  throw new Error('no 10 consecutive free ports on 127.0.0.1');
}
/** The real `podnet` command (packages/cli/bin, running dist/), as a user runs it. */
function podnet(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, 'packages/cli/bin/podnet.js'), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
const kubectl = (...args: string[]) =>
  spawnSync('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8', timeout: 30_000 });
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
}
const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    timings[name] = Date.now() - t;
  }
};
/** The container of a compose service of this project (both compose versions label it so). */
function containerOf(service: string): string {
  const out = execFileSync(
    'docker',
    ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`],
    { encoding: 'utf8' },
  ).trim();
  if (!out || out.includes('\n')) throw new Error(`expected one running container for ${service}, got ${JSON.stringify(out)}`);
  return out;
}
/** The 127.0.0.1 port docker published a container port of a service at ("127.0.0.1::10250"). */
function publishedPort(service: string, port: number): number {
  const out = execFileSync('docker', ['port', containerOf(service), `${port}/tcp`], { encoding: 'utf8' });
  const m = /^127\.0\.0\.1:(\d+)$/m.exec(out);
  if (!m) throw new Error(`${service} ${port}/tcp is not published on 127.0.0.1: ${out}`);
  return Number(m[1]);
}
const DEPLOY_PROMETHEUS = join(REPO, 'deploy/prometheus/prometheus.yml');
/** deploy/prometheus/prometheus.yml with the prometheus container's /state/prometheus resolved to the state directory. */
const resolvedPrometheusText = () => readFileSync(DEPLOY_PROMETHEUS, 'utf8').replaceAll('/state/prometheus/', `${stateDir}/prometheus/`);
const deployedJobs = () => (parse(readFileSync(DEPLOY_PROMETHEUS, 'utf8')) as PrometheusConfig).scrape_configs;

/**
 * Run inside the control-plane container (it mounts the state directory at /state, so the
 * configuration's paths are the same there): GET each target's /metrics as Prometheus would,
 * with the job's bearer token file and CA file (TLS verified for the target's IP), and once
 * without the token. Prints one JSON line per request.
 */
const SCRAPE_SCRIPT = `
const fs = require('node:fs');
const get = (t, withToken) => new Promise((resolve) => {
  const [host, port] = t.target.split(':');
  const mod = require(t.scheme === 'https' ? 'node:https' : 'node:http');
  const headers = withToken && t.tokenFile ? { authorization: 'Bearer ' + fs.readFileSync(t.tokenFile, 'utf8').trim() } : {};
  const opts = { host, port: Number(port), path: '/metrics', headers, timeout: 5000, ...(t.caFile ? { ca: fs.readFileSync(t.caFile) } : {}) };
  const req = mod.request(opts, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'] ?? '', body: body.slice(0, 4000) }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ status: 0, type: '', body: String(e.message) }));
  req.end();
});
(async () => {
  for (const t of JSON.parse(process.argv[1])) {
    const authed = await get(t, true);
    const anonymous = t.tokenFile ? await get(t, false) : undefined;
    process.stdout.write(JSON.stringify({ job: t.job, target: t.target, authed, anonymousStatus: anonymous?.status }) + '\\n');
  }
})();
`;

/** Each job split into one job per target, pointed at the published 127.0.0.1 port (see the host Prometheus test). */
function hostPrometheusConfig(ports: Map<string, number>): object {
  const config = parse(resolvedPrometheusText()) as PrometheusConfig;
  const jobs: ScrapeConfig[] = [];
  for (const job of config.scrape_configs) {
    for (const sc of job.static_configs) {
      for (const target of sc.targets) {
        const host = ports.get(target);
        if (host === undefined) throw new Error(`no published port for ${job.job_name} target ${target}`);
        jobs.push({
          ...job,
          job_name: `${job.job_name}@${target}`,
          // Prometheus keeps a target's own job label (it sets job_name only when absent).
          static_configs: [{ targets: [`127.0.0.1:${host}`], labels: { ...sc.labels, job: job.job_name, compose_target: target } }],
          ...(job.tls_config ? { tls_config: { ...job.tls_config, server_name: target.split(':')[0] as string } } : {}),
        });
      }
    }
  }
  return { ...config, global: { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: jobs };
}

function projectResources(kind: 'ps' | 'network'): string[] {
  const args = kind === 'ps' ? ['ps', '-a', '-q'] : ['network', 'ls', '-q'];
  const out = execFileSync('docker', [...args, '--filter', `label=com.docker.compose.project=${project}`], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

/** Containers and networks of an earlier smoke run that died before its down (the subnet is pinned). */
function removeLeftovers(): void {
  const label = '{{.Label "com.docker.compose.project"}}';
  const names =
    execFileSync('docker', ['ps', '-a', '--format', label], { encoding: 'utf8' }) +
    execFileSync('docker', ['network', 'ls', '--format', label], { encoding: 'utf8' });
  for (const old of new Set(names.split('\n').filter((n) => n.startsWith('podnet-smoke-')))) {
    const ids = execFileSync('docker', ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${old}`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
    const nets = execFileSync('docker', ['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${old}`], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean);
    if (nets.length > 0) spawnSync('docker', ['network', 'rm', ...nets], { stdio: 'ignore' });
  }
}

describeInterop('docker compose cluster (deploy/)', { root: true, commands: ['kubectl', 'apt-get'] }, () => {
  beforeAll(async () => {
    await timed('docker', () => ensureDocker());
    const image = await timed('image', () => buildTestImage((l) => io.out(l)));
    io.out(`image ${image.tag} (${image.cached ? 'cached' : 'built'}, ${image.files} files)`);
    podnetImage = image.tag;
    removeLeftovers();
    nodePortHost = await freeRange();
    apiPort = await freePort();
    livePort = await freePort();
    const started = await timed('up', () =>
      podnet(
        [
          'up',
          '--runtime',
          'compose',
          '--nodes',
          '3',
          '--name',
          project,
          '--state-dir',
          stateDir,
          '--api-port',
          String(apiPort),
          '--timeout',
          '180',
        ],
        { PODNET_IMAGE: image.tag, PODNET_LIVE_PORT: String(livePort), PODNET_NODEPORT_HOST_FIRST: String(nodePortHost) },
      ),
    );
    lines.push(...started.stdout.split('\n'), ...started.stderr.split('\n'));
    expect(started.status, started.stdout + started.stderr).toBe(0);
    up = true;
    kubeconfig = join(stateDir, 'kubeconfig');
    client = new KubeClient({ kubeconfig });
  }, 900_000);

  afterAll(async () => {
    client?.close();
    if (up) await podnet(['down', '--runtime', 'compose', '--name', project, '--state-dir', stateDir], {});
    rmSync(stateDir, { recursive: true, force: true });
    process.stderr.write(`compose smoke output:\n${lines.join('\n')}\ncompose smoke timings (ms): ${JSON.stringify(timings)}\n`);
  }, 300_000);

  it('brings up three Ready nodes whose node IP is the container address', async () => {
    const nodes = (await client?.resource('nodes').list())?.items as Array<{
      metadata: { name: string };
      status: { addresses: Array<{ type: string; address: string }> };
    }>;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    for (const n of nodes) {
      expect(n.status.addresses.find((a) => a.type === 'InternalIP')?.address).toBe(`172.30.0.${10 + Number(n.metadata.name.slice(5))}`);
    }
    expect(lines).toContain('  node-3 Ready');
    expect(lines.some((l) => l.includes(`curl http://127.0.0.1:${nodePortHost}/`))).toBe(true);
  });

  it('publishes the live page on 127.0.0.1', async () => {
    const page = await until(
      'the live page answers',
      async () => {
        const r = await fetch(`http://127.0.0.1:${livePort}/`, { signal: AbortSignal.timeout(3000) });
        return r.ok ? await r.text() : undefined;
      },
      30_000,
    );
    expect(page).toMatch(/<html/i);
  });

  it("the control plane writes Prometheus's credentials (tokens 0400, owned by the image's nobody) and turns healthy", async () => {
    const tokens = JSON.parse(readFileSync(join(stateDir, 'control-plane/pki/tokens.json'), 'utf8')) as Record<string, string>;
    const dir = join(stateDir, 'prometheus');
    expect(readFileSync(join(dir, 'apiserver-token'), 'utf8')).toBe(tokens.viewer);
    // The nodes' token (full write access) is not given to Prometheus: viewer scrapes the node-agents too.
    expect(existsSync(join(dir, 'node-token'))).toBe(false);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    for (const [file, mode] of [
      ['apiserver-token', 0o400],
      ['ca.crt', 0o444],
    ] as const) {
      const st = statSync(join(dir, file));
      expect({ file, uid: st.uid, mode: st.mode & 0o777 }).toEqual({ file, uid: 65534, mode });
    }
    const health = await until(
      'the control-plane healthcheck passes (API server /readyz verified with the cluster CA)',
      async () => {
        const h = execFileSync('docker', ['inspect', '-f', '{{.State.Health.Status}}', containerOf('control-plane')], {
          encoding: 'utf8',
        }).trim();
        return h === 'healthy' ? h : undefined;
      },
      60_000,
    );
    expect(health).toBe('healthy');
  }, 90_000);

  it('promtool accepts the Prometheus configuration compose mounts, its /state paths resolved to the state directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-prom-check-'));
    try {
      const config = join(dir, 'prometheus.yml');
      writeFileSync(config, resolvedPrometheusText());
      const r = spawnSync('promtool', ['check', 'config', config], { encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every target of every job answers 200 with Prometheus text, from the compose network with its token and CA', async () => {
    const targets = deployedJobs().flatMap((j) =>
      j.static_configs.flatMap((sc) =>
        sc.targets.map((target) => ({
          job: j.job_name,
          target,
          scheme: j.scheme ?? 'http',
          tokenFile: j.authorization?.credentials_file,
          caFile: j.tls_config?.ca_file,
        })),
      ),
    );
    expect(new Set(targets.map((t) => t.job))).toEqual(new Set(['apiserver', 'control-plane', 'node-agent', 'kube-proxy', 'cni-agent']));
    type Result = { job: string; target: string; authed: { status: number; type: string; body: string }; anonymousStatus?: number };
    const scrape = (): Result[] =>
      execFileSync('docker', ['exec', containerOf('control-plane'), 'node', '-e', SCRAPE_SCRIPT, JSON.stringify(targets)], {
        encoding: 'utf8',
        timeout: 60_000,
      })
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Result);
    // A Ready node's kube-proxy (a child the node-agent supervises) may still be starting its
    // metrics server: scrape again, as Prometheus would, within a bound.
    let results: Result[] = [];
    await until(
      'every target answers 200',
      async () => {
        results = scrape();
        return results.every((r) => r.authed.status === 200) ? true : undefined;
      },
      60_000,
    ).catch(() => undefined);
    expect(results.map((r) => `${r.job} ${r.target}`)).toEqual(targets.map((t) => `${t.job} ${t.target}`));
    for (const r of results) {
      const what = `${r.job} ${r.target}: ${r.authed.status} ${r.authed.type} ${r.authed.body.slice(0, 300)}`;
      expect(r.authed.status, what).toBe(200);
      expect(r.authed.type, what).toMatch(/^text\/plain/);
      expect(r.authed.body, what).toMatch(/^# (HELP|TYPE) \w+/m);
    }
    // The token is what lets Prometheus in: the API server and the kubelet API refuse without it.
    expect(results.filter((r) => r.anonymousStatus !== undefined).map((r) => [r.job, r.anonymousStatus])).toEqual([
      ['apiserver', 401],
      ['node-agent', 401],
      ['node-agent', 401],
      ['node-agent', 401],
    ]);
  }, 90_000);

  it("Debian's real Prometheus on the host scrapes every job through the published ports: up == 1 for every target", async () => {
    // Through 127.0.0.1 the TLS name is not the target IP any more, so each target becomes its own
    // job with server_name = its compose IP: the serving certificates are still verified against
    // the cluster CA for exactly the addresses the compose configuration names.
    const ports = new Map<string, number>([
      ['172.30.0.2:6443', apiPort],
      ['172.30.0.2:8080', livePort],
    ]);
    for (const n of [1, 2, 3])
      for (const port of [10250, 10249, 9099]) ports.set(`172.30.0.${10 + n}:${port}`, publishedPort(`node-${n}`, port));
    const dir = mkdtempSync(join(tmpdir(), 'podnet-prom-host-'));
    const webPort = await freePort();
    let prometheus: ChildProcess | undefined;
    let log = '';
    try {
      const config = join(dir, 'prometheus.yml');
      writeFileSync(config, stringify(hostPrometheusConfig(ports)));
      const check = spawnSync('promtool', ['check', 'config', config], { encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      prometheus = spawn(
        'prometheus',
        [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${webPort}`, `--storage.tsdb.path=${join(dir, 'data')}`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      prometheus.stderr?.on('data', (d) => {
        log = (log + d).slice(-4000);
      });
      type Sample = { metric: Record<string, string>; value: [number, string] };
      const query = async (): Promise<Sample[]> => {
        const r = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=up`, { signal: AbortSignal.timeout(3000) });
        return ((await r.json()) as { data: { result: Sample[] } }).data.result;
      };
      let last: Sample[] = [];
      const up = await timed('prometheus', () =>
        until(
          'every target up in the host Prometheus',
          async () => {
            last = await query();
            return last.length === ports.size && last.every((s) => s.value[1] === '1') ? last : undefined;
          },
          90_000,
        ),
      ).catch(async (error: Error) => {
        const targets = await fetch(`http://127.0.0.1:${webPort}/api/v1/targets`)
          .then((r) => r.text())
          .catch(() => '');
        throw new Error(`${error.message}\nup: ${JSON.stringify(last)}\ntargets: ${targets.slice(0, 3000)}\nprometheus log: ${log}`);
      });
      const byJob = new Map<string, string[]>();
      for (const s of up) byJob.set(s.metric.job ?? '', [...(byJob.get(s.metric.job ?? '') ?? []), s.metric.compose_target ?? ''].sort());
      expect(Object.fromEntries(byJob)).toEqual({
        apiserver: ['172.30.0.2:6443'],
        'control-plane': ['172.30.0.2:8080'],
        'node-agent': ['172.30.0.11:10250', '172.30.0.12:10250', '172.30.0.13:10250'],
        'kube-proxy': ['172.30.0.11:10249', '172.30.0.12:10249', '172.30.0.13:10249'],
        'cni-agent': ['172.30.0.11:9099', '172.30.0.12:9099', '172.30.0.13:9099'],
      });
    } finally {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((r) => prometheus?.once('exit', r));
        prometheus.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it("the compose prometheus service (this machine's Prometheus as an image, user nobody) scrapes every target as mounted: up == 1", async () => {
    // The real thing, nothing rewritten: deploy/prometheus/prometheus.yml and the credentials
    // directory mounted as docker-compose.yml says, the pinned 172.30.0.x targets, TLS verified.
    const prometheusImage = buildPrometheusImage((l) => io.out(l));
    const record = readComposeRecord(stateDir);
    if (!record) throw new Error(`no compose record in ${stateDir}`);
    const cmd = await findCompose();
    const promPort = await freePort();
    const env = {
      ...process.env,
      ...record.env,
      PODNET_IMAGE: podnetImage,
      PODNET_PROMETHEUS_IMAGE: prometheusImage,
      PODNET_PROMETHEUS_PORT: String(promPort),
    };
    const p = { project, files: record.files, profiles: ['observability'] };
    const controlPlane = containerOf('control-plane');
    const targetCount = deployedJobs().reduce((n, j) => n + j.static_configs.reduce((k, sc) => k + sc.targets.length, 0), 0);
    expect(targetCount).toBe(11);
    try {
      const [program, args] = composeArgv(cmd, p, ['up', '-d', 'prometheus']);
      const started = spawnSync(program, args, { env, encoding: 'utf8', timeout: 300_000 });
      expect(started.status, started.stdout + started.stderr).toBe(0);
      // Same configuration: compose did not recreate the control plane to start its dependant.
      expect(containerOf('control-plane')).toBe(controlPlane);
      expect(execFileSync('docker', ['inspect', '-f', '{{.Config.User}}', containerOf('prometheus')], { encoding: 'utf8' }).trim()).toBe(
        '65534:65534',
      );
      type Sample = { metric: Record<string, string>; value: [number, string] };
      let last: Sample[] = [];
      const up = await timed('prometheus-compose', () =>
        until(
          'every target up in the compose Prometheus',
          async () => {
            const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=up`, { signal: AbortSignal.timeout(3000) });
            last = ((await r.json()) as { data: { result: Sample[] } }).data.result;
            return last.length === targetCount && last.every((s) => s.value[1] === '1') ? last : undefined;
          },
          120_000,
        ),
      ).catch(async (error: Error) => {
        const targets = await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)
          .then((r) => r.text())
          .catch(() => '');
        const logs = spawnSync('docker', ['logs', '--tail', '20', containerOf('prometheus')], { encoding: 'utf8' });
        throw new Error(
          `${error.message}\nup: ${JSON.stringify(last)}\ntargets: ${targets.slice(0, 3000)}\nlogs: ${logs.stdout}${logs.stderr}`,
        );
      });
      const byJob: Record<string, string[]> = {};
      for (const s of up) byJob[s.metric.job ?? ''] = [...(byJob[s.metric.job ?? ''] ?? []), s.metric.instance ?? ''].sort();
      expect(byJob).toEqual({
        apiserver: ['172.30.0.2:6443'],
        'control-plane': ['172.30.0.2:8080'],
        'node-agent': ['172.30.0.11:10250', '172.30.0.12:10250', '172.30.0.13:10250'],
        'kube-proxy': ['172.30.0.11:10249', '172.30.0.12:10249', '172.30.0.13:10249'],
        'cni-agent': ['172.30.0.11:9099', '172.30.0.12:9099', '172.30.0.13:9099'],
      });
    } finally {
      const [program, args] = composeArgv(cmd, p, ['rm', '-s', '-f', 'prometheus']);
      spawnSync(program, args, { env, stdio: 'ignore', timeout: 120_000 });
    }
  }, 300_000);

  it('a pod on node-1 reaches a Service backed on node-3 by its ClusterIP', async () => {
    await timed('workload', async () => {
      const pods = client?.resource<Obj>('pods');
      await pods?.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web-3', namespace: 'default', labels: { app: 'web' } },
        spec: {
          nodeName: 'node-3',
          containers: [{ name: 'web', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec', '--http-port=8080'] }],
        },
      });
      await pods?.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client-1', namespace: 'default' },
        spec: { nodeName: 'node-1', containers: [{ name: 'toolbox', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
      });
      await client?.resource<Obj>('services').create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'default' },
        spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] },
      });
    });
    const clusterIP = await until(
      'Service web has a ready endpoint',
      async () => {
        const svc = (await client?.resource('services').get('web', { namespace: 'default' })) as { spec: { clusterIP: string } };
        const r = kubectl('exec', 'client-1', '--', 'curl', '-s', '-m', '2', `http://${svc.spec.clusterIP}/hostname`);
        return r.status === 0 && r.stdout === 'web-3' ? svc.spec.clusterIP : undefined;
      },
      90_000,
    );
    expect(clusterIP).toMatch(/^10\.9[6-9]\./);
  }, 120_000);

  it('the NodePort answers on 127.0.0.1 through the port node-1 publishes', async () => {
    const viaNodePort = await timed('nodeport', () =>
      until(
        'NodePort 30080 through 127.0.0.1',
        async () => {
          const r = await fetch(`http://127.0.0.1:${nodePortHost}/hostname`, { signal: AbortSignal.timeout(3000) });
          return r.ok ? await r.text() : undefined;
        },
        60_000,
      ),
    );
    expect(viaNodePort).toBe('web-3');
  }, 90_000);

  it("a pod on node-1 reaches node-3's IP:NodePort (routed out eth0, flannel-masqueraded, DNATed on node-3)", async () => {
    const answer = await until(
      '172.30.0.13:30080 from client-1',
      async () => {
        const r = kubectl('exec', 'client-1', '--', 'curl', '-s', '-m', '2', 'http://172.30.0.13:30080/hostname');
        return r.status === 0 && r.stdout !== '' ? r.stdout : undefined;
      },
      30_000,
    );
    expect(answer).toBe('web-3');
  }, 60_000);

  it('podnet kill pod kills a pod on its node; the kubelet restarts it and the Service answers again', async () => {
    // The CLI reaches node-3's node-agent at its container address (a container this test made).
    const killed = await podnet(['kill', 'pod', 'web-3', '--name', project, '--state-dir', stateDir], {
      PODNET_GUARD_ALLOW: '172.30.0.0/24',
    });
    expect(killed.status, killed.stdout + killed.stderr).toBe(0);
    expect(killed.stdout).toContain('pod/web-3 killed on node-3');
    const restarts = await until(
      'web-3 restarted and Ready',
      async () => {
        const p = (await client?.resource('pods').get('web-3', { namespace: 'default' })) as {
          status: { containerStatuses?: Array<{ restartCount: number; ready: boolean }> };
        };
        const c = p.status.containerStatuses?.[0];
        return c && c.restartCount >= 1 && c.ready ? c.restartCount : undefined;
      },
      60_000,
    );
    expect(restarts).toBeGreaterThanOrEqual(1);
    const svc = (await client?.resource('services').get('web', { namespace: 'default' })) as { spec: { clusterIP: string } };
    const again = await until(
      'the Service answers after the restart',
      async () => {
        const r = kubectl('exec', 'client-1', '--', 'curl', '-s', '-m', '2', `http://${svc.spec.clusterIP}/hostname`);
        return r.status === 0 && r.stdout === 'web-3' ? r.stdout : undefined;
      },
      60_000,
    );
    expect(again).toBe('web-3');
  }, 150_000);

  it('kubectl delete pod removes the backend from the Service endpoints', async () => {
    const del = kubectl('delete', 'pod', 'web-3', '--wait=false');
    expect(del.status, del.stderr).toBe(0);
    const left = await until(
      'web-3 gone from the EndpointSlices of web',
      async () => {
        const slices = (await client
          ?.resource('endpointslices')
          .list({ namespace: 'default', labelSelector: { 'kubernetes.io/service-name': 'web' } })) as unknown as {
          items: Array<{ endpoints?: Array<{ targetRef?: { name?: string } }> }>;
        };
        const names = slices.items.flatMap((s) => (s.endpoints ?? []).map((e) => e.targetRef?.name));
        return names.includes('web-3') ? undefined : names.length;
      },
      60_000,
    );
    expect(left).toBe(0);
  }, 90_000);

  it('docker compose kill node-2 makes node-2 NotReady, and its Deployment pod is replaced on another node', async () => {
    await client?.resource<Obj>('deployments').create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'spread', namespace: 'default' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'spread' } },
        template: {
          metadata: { labels: { app: 'spread' } },
          spec: {
            containers: [{ name: 'web', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec', '--http-port=8080'] }],
          },
        },
      },
    });
    type Pod = {
      metadata: { name: string; deletionTimestamp?: string };
      spec: { nodeName?: string };
      status: { containerStatuses?: Array<{ ready: boolean }> };
    };
    const spreadPods = async () =>
      ((await client?.resource('pods').list({ namespace: 'default', labelSelector: { app: 'spread' } }))?.items ?? []) as unknown as Pod[];
    const readyOn = (pods: Pod[]) =>
      pods.filter((p) => !p.metadata.deletionTimestamp && p.status.containerStatuses?.[0]?.ready).map((p) => p.spec.nodeName ?? '');
    // The scheduler spreads a controller's pods (fewest of the same owner first): one per node.
    const before = await until(
      'three spread pods Ready',
      async () => {
        const on = readyOn(await spreadPods());
        return on.length === 3 ? on.sort() : undefined;
      },
      60_000,
    );
    expect(before).toEqual(['node-1', 'node-2', 'node-3']);
    await composeKill('node-2', { stateDir });
    const status = await timed('notready', () =>
      until(
        'node-2 NotReady',
        async () => {
          const n = (await client?.resource('nodes').get('node-2')) as { status: { conditions: Array<{ type: string; status: string }> } };
          const ready = n.status.conditions.find((c) => c.type === 'Ready');
          return ready && ready.status !== 'True' ? ready.status : undefined;
        },
        90_000,
      ),
    );
    expect(['False', 'Unknown']).toContain(status);
    // Evicted after --pod-eviction-timeout 5 s; the ReplicaSet makes a replacement elsewhere.
    const after = await timed('replaced', () =>
      until(
        'three spread pods Ready, none on node-2',
        async () => {
          const on = readyOn(await spreadPods());
          return on.length === 3 && !on.includes('node-2') ? on.sort() : undefined;
        },
        90_000,
      ),
    );
    expect(after.filter((n) => n === 'node-1' || n === 'node-3')).toHaveLength(3);
  }, 240_000);

  it('podnet down leaves no containers or networks of the project behind', async () => {
    expect(projectResources('ps').length).toBeGreaterThan(0);
    const down = await timed('down', () => podnet(['down', '--runtime', 'compose', '--name', project, '--state-dir', stateDir], {}));
    expect(down.status, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toContain(`compose project "${project}" stopped and removed`);
    up = false;
    expect(projectResources('ps')).toEqual([]);
    expect(projectResources('network')).toEqual([]);
  });
});
