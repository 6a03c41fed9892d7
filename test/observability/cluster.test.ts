// Observability against a real process-mode cluster (`podnet up --nodes 3`, its own state dir, API
// port, transport addresses and a free live-page port): every process serves /metrics; the tunnel
// counters agree with `tshark -i lo -f 'udp port 4789'` during cross-node pod traffic; a real
// Prometheus runs podnet's generated scrape configuration and answers PromQL for the overhead
// ratio and the network programming latency p99; every metric of every Grafana dashboard is
// exported by a live /metrics; and the live page, in headless Chromium, shows the three nodes and
// follows a `kubectl delete pod` without a reload. Torn down with `podnet down --purge`.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, loadKubeconfig } from '@podnet/client';
import { execa } from 'execa';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { webDeployment, webService } from '../../packages/cli/src/cluster/demo-app.ts';
import { podExec } from '../../packages/cli/src/cluster/pod-exec.ts';
import type { ClusterRecord } from '../../packages/cli/src/cluster/state.ts';
import { generatePrometheusConfig } from '../../packages/cli/src/observability/prometheus-config.ts';
import { bucketsOf, histogramQuantile, type PromSample, parsePromText, sumOf } from '../../packages/controllers/src/live-page/prom-text.ts';
import { describeInterop } from '../support/interop.ts';
import { captureLo, eventually, metricNamesOf } from './support.ts';

// The few browser globals the page callbacks use: they run inside Chromium (playwright serializes
// them), so this Node-typed program only needs their shape, not lib "dom".
interface PageElement {
  getAttribute(name: string): string | null;
  textContent: string | null;
}
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
  getElementById(id: string): PageElement | null;
};
declare const window: unknown;

const REPO = join(import.meta.dirname, '..', '..');
const PODNET_BIN = join(REPO, 'packages', 'cli', 'bin', 'podnet.js');
const root = mkdtempSync(join(tmpdir(), `podnet-obs-cluster-${process.pid}-`));
const stateDir = join(root, 'state');
const home = join(root, 'home');
mkdirSync(home, { recursive: true });
// Transport addresses unique to this test process (127.<a>.<b>.N; other suites use 127.0.1.x and 127.2xx).
const prefix = `127.${100 + (process.pid % 40)}.${(process.pid >> 6) % 250}`;
const note = (line: string) => process.stdout.write(`[observability] ${line}\n`);

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

let record: ClusterRecord;
let client: KubeClient;
let livePageUrl: string;
let apiToken: string;
/** The kubelet API authenticates /metrics: the nodes' token, as the generated Prometheus configuration uses it. */
let nodeToken: string;
let prometheus: ChildProcess | undefined;
let prometheusUrl: string;

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

/** GET a URL as Prometheus would: a bearer token for the API server and the kubelet API, TLS unverified for the kubelet certificate. */
function getText(url: string, options: { token?: string; ca?: string; insecure?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    const req = (u.protocol === 'https:' ? https : http).get(
      u,
      { headers, timeout: 10_000, ...(u.protocol === 'https:' ? { ca: options.ca, rejectUnauthorized: !options.insecure } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode} ${body.slice(0, 200)}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
  });
}

const podnet = (...args: string[]) =>
  execa(process.execPath, [PODNET_BIN, ...args, '--state-dir', stateDir], {
    reject: false,
    timeout: 240_000,
    env: { PODNET_LIVE_PAGE_PORT: '0', HOME: home },
  });
const kubectl = (...args: string[]) =>
  execa('kubectl', args, { reject: false, env: { KUBECONFIG: join(stateDir, 'kubeconfig'), HOME: home }, timeout: 60_000 });
const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
const webPods = async () =>
  ((await client.resource('pods').list({ namespace: 'default', labelSelector: { app: 'web' } })).items as unknown as Pod[]).filter(
    (p) => !p.metadata.deletionTimestamp,
  );

/** Every component's /metrics URL with how to fetch it, as the generated Prometheus configuration scrapes them. */
function endpoints(): Array<{ job: string; node: string; url: string; get: () => Promise<string> }> {
  const creds = loadKubeconfig(record.kubeconfig);
  const out = [
    {
      job: 'apiserver',
      node: 'control-plane',
      url: `${record.apiUrl}/metrics`,
      get: () => getText(`${record.apiUrl}/metrics`, { token: apiToken, ca: creds.caPem }),
    },
    { job: 'control-plane', node: 'control-plane', url: `${livePageUrl}metrics`, get: () => getText(`${livePageUrl}metrics`) },
  ];
  for (const n of record.nodes) {
    const t = n.transportAddress;
    out.push(
      {
        job: 'node-agent',
        node: n.name,
        url: `https://${t}:10250/metrics`,
        get: () => getText(`https://${t}:10250/metrics`, { token: nodeToken, insecure: true }),
      },
      { job: 'kube-proxy', node: n.name, url: `http://${t}:10249/metrics`, get: () => getText(`http://${t}:10249/metrics`) },
      { job: 'cni-agent', node: n.name, url: `http://${t}:9099/metrics`, get: () => getText(`http://${t}:9099/metrics`) },
    );
  }
  return out;
}

async function promQuery(query: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query })}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`PromQL ${query}: ${body.error}`);
  return body.data?.result ?? [];
}

/** Cross-node pod traffic: from a web pod on one node, curl the web pods on the other nodes. */
async function crossNodeTraffic(rounds: number): Promise<number> {
  const pods = (await webPods()).filter(isReady);
  let ok = 0;
  for (let r = 0; r < rounds; r++)
    for (const from of pods)
      for (const to of pods) {
        if (from.spec.nodeName === to.spec.nodeName) continue;
        const res = await podExec({
          kubeconfig: record.kubeconfig,
          namespace: 'default',
          pod: from.metadata.name,
          command: ['curl', '-s', '-m', '3', `http://${to.status?.podIP}:8080/hostname`],
          timeoutMs: 20_000,
        });
        if (res.exitCode === 0 && res.stdout.trim() === to.metadata.name) ok++;
      }
  return ok;
}

describeInterop(
  'observability of a podnet up cluster',
  { commands: ['kubectl', 'tshark', 'prometheus', 'promtool', 'chromium'], root: true },
  () => {
    beforeAll(async () => {
      const apiPort = await freePort();
      const up = await podnet(
        'up',
        '--nodes',
        '3',
        '--backend',
        'vxlan',
        '--api-port',
        String(apiPort),
        '--transport-prefix',
        prefix,
        '--timeout',
        '150',
      );
      expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
      record = JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8')) as ClusterRecord;
      apiToken = loadKubeconfig(record.kubeconfig).token;
      nodeToken = loadKubeconfig(join(stateDir, 'kubeconfig-node-agent')).token;
      client = new KubeClient({ kubeconfig: record.kubeconfig });
      livePageUrl = await eventually(
        'the live page line in the control-plane log',
        () => /podnet live page on (http:\/\/\S+)/.exec(readFileSync(record.controlPlane.log, 'utf8'))?.[1],
        30_000,
      );
      note(`cluster up; live page ${livePageUrl}`);
      await client.resource('deployments').create(webDeployment('web', 3) as never);
      await client.resource('services').create(webService('web') as never);
      await eventually(
        'three Ready web pods on three nodes',
        async () => {
          const pods = (await webPods()).filter(isReady);
          return new Set(pods.map((p) => p.spec.nodeName)).size === 3 ? pods : undefined;
        },
        120_000,
        500,
      );
      // A real Prometheus on the generated configuration, scraping every second.
      const generated = generatePrometheusConfig(record, {
        scrapeInterval: '1s',
        secretsDir: join(root, 'prometheus'),
        livePagePort: Number(new URL(livePageUrl).port),
      });
      const configFile = join(root, 'prometheus', 'prometheus.yml');
      writeFileSync(configFile, generated.yaml);
      const check = await execa('promtool', ['check', 'config', configFile], { reject: false });
      expect(check.exitCode, `${check.stdout}\n${check.stderr}`).toBe(0);
      const promPort = await freePort();
      prometheusUrl = `http://127.0.0.1:${promPort}`;
      prometheus = spawn(
        'prometheus',
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(root, 'tsdb')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
          '--log.level=warn',
        ],
        { stdio: 'ignore' },
      );
      await eventually('Prometheus ready', async () => ((await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined), 60_000, 500);
    }, 300_000);

    afterAll(async () => {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((r) => prometheus?.once('exit', r));
        prometheus.kill('SIGTERM');
        await exited;
      }
      client?.close();
      const down = await podnet('down', '--purge');
      if (down.exitCode !== 0) process.stderr.write(`podnet down: ${down.stdout}\n${down.stderr}\n`);
      rmSync(root, { recursive: true, force: true });
    }, 120_000);

    it('every process of the cluster serves /metrics with its {component, node} labels', async () => {
      const seen = new Map<string, PromSample[]>();
      for (const e of endpoints()) {
        const samples = parsePromText(await e.get());
        expect(samples.length, e.url).toBeGreaterThan(0);
        seen.set(`${e.job}/${e.node}`, samples);
      }
      for (const n of record.nodes) {
        expect(
          seen.get(`cni-agent/${n.name}`)?.some((s) => s.name === 'podnet_tunnel_inner_frames_total' && s.labels.node === n.name),
        ).toBe(true);
        expect(
          seen
            .get(`kube-proxy/${n.name}`)
            ?.some((s) => s.name === 'kubeproxy_sync_proxy_rules_duration_seconds_count' && s.labels.component === 'kube-proxy'),
        ).toBe(true);
        expect(seen.get(`node-agent/${n.name}`)?.some((s) => s.name === 'kubelet_running_pods')).toBe(true);
      }
      expect(sumOf(seen.get('control-plane/control-plane') ?? [], 'podnet_service_endpoints', { service: 'web', ready: 'true' })).toBe(3);
      expect(seen.get('apiserver/control-plane')?.some((s) => s.name === 'apiserver_request_total')).toBe(true);
    }, 60_000);

    it('vxlan overhead counters equal 50 bytes × frames and agree with tshark -i lo udp port 4789', async () => {
      const capture = await captureLo(`udp port 4789 and net ${prefix}.0/24`, join(root, 'vxlan.pcap'), {
        from: `${prefix}.250`,
        to: `${prefix}.251`,
        port: 4789,
      });
      const cni = endpoints().filter((e) => e.job === 'cni-agent');
      const before = await Promise.all(cni.map(async (e) => parsePromText(await e.get())));
      const answered = await crossNodeTraffic(2);
      // 12 exchanges (2 rounds × 6 node pairs); a curl timing out on a loaded machine must not hide the byte check below.
      expect(answered).toBeGreaterThanOrEqual(10);
      await new Promise((r) => setTimeout(r, 300));
      const after = await Promise.all(cni.map(async (e) => parsePromText(await e.get())));
      const datagrams = await capture.stop();
      const delta = (i: number, name: string, labels: Record<string, string>) =>
        sumOf(after[i] ?? [], name, labels) - sumOf(before[i] ?? [], name, labels);
      let totalFrames = 0;
      for (const [i, from] of record.nodes.entries())
        for (const to of record.nodes) {
          if (to === from) continue;
          const sent = datagrams.filter((d) => d.src === from.transportAddress && d.dst === to.transportAddress);
          const labels = { backend: 'vxlan', peer: to.name, direction: 'tx' };
          const frames = delta(i, 'podnet_tunnel_inner_frames_total', labels);
          const wire = delta(i, 'podnet_tunnel_wire_bytes_total', labels);
          expect(frames, `${from.name} → ${to.name}`).toBe(sent.length);
          expect(delta(i, 'podnet_tunnel_overhead_bytes_total', labels)).toBe(50 * frames);
          expect(wire).toBe(sent.reduce((n, d) => n + d.frameLen, 0));
          expect(delta(i, 'podnet_tunnel_inner_bytes_total', labels)).toBe(sent.reduce((n, d) => n + d.udpLength - 16, 0));
          totalFrames += frames;
        }
      expect(totalFrames).toBeGreaterThan(50);
      note(`cluster vxlan: ${totalFrames} tunnel frames in 6 node pairs, ${datagrams.length} datagrams captured by tshark`);
    }, 120_000);

    it('a real Prometheus scrapes every target and answers the overhead ratio and the programming latency p99', async () => {
      const expectedTargets = 2 + 3 * record.nodes.length;
      await eventually(
        'every Prometheus target up',
        async () => {
          const res = (await (await fetch(`${prometheusUrl}/api/v1/targets`)).json()) as {
            data: { activeTargets: Array<{ health: string; scrapeUrl: string; lastError: string }> };
          };
          const t = res.data.activeTargets;
          const down = t.filter((x) => x.health !== 'up');
          if (t.length === expectedTargets && down.length === 0) return true;
          throw new Error(`${t.length}/${expectedTargets} targets, down: ${down.map((d) => `${d.scrapeUrl} ${d.lastError}`).join('; ')}`);
        },
        60_000,
        1000,
      );
      // Traffic while Prometheus watches, so rate() has increases to divide.
      expect(await crossNodeTraffic(1)).toBeGreaterThanOrEqual(4);
      const ratioQuery =
        'sum(rate(podnet_tunnel_overhead_bytes_total{direction="tx"}[30s])) / sum(rate(podnet_tunnel_inner_bytes_total{direction="tx"}[30s]))';
      const ratio = await eventually(
        'an overhead ratio from Prometheus',
        async () => {
          const v = Number((await promQuery(ratioQuery))[0]?.value[1]);
          return Number.isFinite(v) && v > 0 ? v : undefined;
        },
        30_000,
        1000,
      );
      // The same ratio from the raw counters since start (Prometheus' answer is over 30 s; both are 50 B per frame over the frames' sizes).
      const totals = await promQuery(
        'sum(podnet_tunnel_overhead_bytes_total{direction="tx"}) / sum(podnet_tunnel_inner_bytes_total{direction="tx"})',
      );
      const frames = await promQuery('sum(podnet_tunnel_inner_frames_total{direction="tx"})');
      const overhead = await promQuery('sum(podnet_tunnel_overhead_bytes_total{direction="tx"})');
      expect(Number(overhead[0]?.value[1])).toBe(50 * Number(frames[0]?.value[1]));
      expect(ratio).toBeGreaterThan(0.01);
      expect(ratio).toBeLessThan(1);
      // Network programming latency p99: Prometheus' histogram_quantile against the one computed from the kube-proxies' own /metrics.
      const p99Query = 'histogram_quantile(0.99, sum by (le) (kubeproxy_network_programming_duration_seconds_bucket))';
      // A new Service is an endpoint change every kube-proxy programs (a sample even if a kube-proxy
      // restarted since the web Service was created and lost its earlier ones).
      await client.resource('services').create({
        metadata: { name: 'web-latency', namespace: 'default' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
      } as never);
      const p99 = await eventually(
        'a network programming p99 from Prometheus',
        async () => {
          const v = Number((await promQuery(p99Query))[0]?.value[1]);
          return Number.isFinite(v) && v > 0 ? v : undefined;
        },
        30_000,
        1000,
      );
      const direct = await Promise.all(
        endpoints()
          .filter((e) => e.job === 'kube-proxy')
          .map(async (e) => parsePromText(await e.get())),
      );
      const mine = histogramQuantile(0.99, bucketsOf(direct.flat(), 'kubeproxy_network_programming_duration_seconds'));
      expect(Number.isFinite(p99) && p99 > 0).toBe(true);
      expect(mine).toBeDefined();
      // Same buckets, scraped up to a second apart: equal unless an endpoint change landed in between.
      expect(Math.abs(p99 - (mine as number))).toBeLessThan(1.5);
      note(
        `Prometheus: overhead ratio (30 s) ${(ratio * 100).toFixed(2)}%, since start ${(Number(totals[0]?.value[1]) * 100).toFixed(2)}%; network programming p99 ${p99.toFixed(3)} s (own scrape ${(mine as number).toFixed(3)} s)`,
      );
    }, 120_000);

    it('every metric named by a Grafana dashboard is exported by a live /metrics', async () => {
      const exported = new Set<string>();
      for (const e of endpoints()) for (const s of parsePromText(await e.get())) exported.add(s.name);
      const dir = join(REPO, 'deploy', 'grafana', 'dashboards');
      const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
      expect(files.sort()).toEqual(['data-plane.json', 'encapsulation-overhead.json', 'endpoint-convergence.json']);
      const missing: string[] = [];
      let queries = 0;
      for (const f of files) {
        const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
          title: string;
          uid: string;
          panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
        };
        expect(d.uid).toMatch(/^podnet-/);
        for (const p of d.panels)
          for (const t of p.targets) {
            queries++;
            const names = metricNamesOf(t.expr);
            expect(names.length, `${f} "${p.title}": ${t.expr}`).toBeGreaterThan(0);
            for (const n of names) if (!exported.has(n)) missing.push(`${f} "${p.title}": ${n}`);
          }
      }
      expect(missing).toEqual([]);
      expect(queries).toBeGreaterThan(25);
      const titles = files.map((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { title: string }).title).sort();
      expect(titles).toEqual(['Data plane', 'Encapsulation overhead', 'Endpoint convergence']);
    }, 60_000);

    it('the live page in headless Chromium shows three nodes and follows kubectl delete pod without a reload', async () => {
      const profile = mkdtempSync(join(root, 'chromium-'));
      // A fresh profile directory (playwright passes it as --user-data-dir).
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      try {
        const page = await browser.newPage();
        await page.goto(livePageUrl);
        await page.waitForFunction(() => document.querySelectorAll('.node').length === 3, undefined, { timeout: 20_000 });
        const nodeNames = await page.$$eval('.node', (els) => els.map((e) => e.getAttribute('data-node')));
        expect(nodeNames).toEqual(['node-1', 'node-2', 'node-3']);
        const svc = '[data-service="default/web"] .endpoint';
        await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, svc, { timeout: 20_000 });
        const beforeIps = await page.$$eval(svc, (els) => els.map((e) => e.getAttribute('data-ip')));
        // Mark this document: a reload would lose the mark.
        await page.evaluate(() => {
          (window as unknown as { podnetMark: number }).podnetMark = 42;
        });
        const victim = (await webPods()).find((p) => p.status?.podIP === beforeIps[0]);
        expect(victim, `a web pod with IP ${beforeIps[0]}`).toBeDefined();
        const del = await kubectl('delete', 'pod', victim?.metadata.name as string, '--wait=false');
        expect(del.exitCode, del.stderr).toBe(0);
        const started = Date.now();
        await page.waitForFunction(
          ({ sel, ip }) =>
            ![...document.querySelectorAll(sel)].some((e) => e.getAttribute('data-ip') === ip && e.getAttribute('data-ready') === 'true'),
          { sel: svc, ip: beforeIps[0] as string },
          { timeout: 30_000 },
        );
        note(`live page: endpoint ${beforeIps[0]} left the Ready list ${Date.now() - started} ms after kubectl delete pod`);
        // The ReplicaSet's replacement shows up too.
        await page.waitForFunction(
          ({ sel, old }) => {
            const ready = [...document.querySelectorAll(sel)]
              .filter((e) => e.getAttribute('data-ready') === 'true')
              .map((e) => e.getAttribute('data-ip'));
            return ready.length === 3 && ready.some((ip) => !old.includes(ip as string));
          },
          { sel: svc, old: beforeIps as string[] },
          { timeout: 60_000 },
        );
        expect(await page.evaluate(() => (window as unknown as { podnetMark?: number }).podnetMark)).toBe(42);
        // The charts are fed from the control plane's own scrapes.
        // (A scrape may time out on a loaded machine: wait for one where all six answered.)
        await eventually(
          'a live-page scrape with all 6 targets up',
          async () => {
            const history = (await (await fetch(`${livePageUrl}api/history`)).json()) as Array<{ up: number; targets: number }>;
            return history.at(-1)?.up === 6 && history.at(-1)?.targets === 6 ? true : undefined;
          },
          30_000,
          500,
        );
        await page.waitForFunction(() => document.getElementById('overhead-legend')?.textContent?.includes('6/6 targets up'), undefined, {
          timeout: 30_000,
        });
      } finally {
        await browser.close();
      }
    }, 150_000);
  },
);
