// The node-agent against the real API server and controllers: registration and Lease, pods
// Running/Ready with IPs from the podCIDR, traffic between pod namespaces over unix-socket veths
// and cni0, shared pod network namespaces, port clashes, probes, image pull errors, graceful
// deletion and `podnet kill pod`.
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { KubeObject } from '@podnet/client';
import { containerLogPath, type Lease, type Node, type Pod } from '@podnet/node-agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGNHOST, createPod, isReady, pods, startTestCluster, type TestCluster, waitFor, waitRunningReady } from './cluster.ts';

let c: TestCluster;

beforeAll(async () => {
  c = await startTestCluster('main');
});
afterAll(async () => {
  await c?.close();
});

const netexec = (name: string, extra: Partial<Pod['spec']['containers'][number]> = {}) => ({
  name,
  image: AGNHOST,
  args: ['netexec', '--http-port=8080', '--udp-port=8081'],
  ports: [{ name: 'http', containerPort: 8080 }],
  ...extra,
});

async function execIn(name: string, container: string, argv: string[]) {
  const rt = c.agent.pod('default', name);
  if (!rt) throw new Error(`pod ${name} not on the node`);
  return rt.exec(container, argv, undefined, 20_000);
}

function post(path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: c.transportAddress,
        port: c.kubeletPort,
        path,
        method: 'POST',
        rejectUnauthorized: false,
        headers: { Authorization: `Bearer ${token}` },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('node registration', () => {
  it('registers the Node with its addresses, annotation, capacity and Ready=KubeletReady', async () => {
    const node = await c.admin.resource<Node & KubeObject>('nodes').get(c.nodeName);
    expect(node.status?.addresses).toEqual([
      { type: 'InternalIP', address: '172.18.0.2' },
      { type: 'Hostname', address: 'node-1' },
    ]);
    expect(node.metadata.annotations?.['podnet.dev/transport-address']).toBe(c.transportAddress);
    expect(node.status?.capacity?.pods).toBe('110');
    expect(node.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.32\.\d+-podnet$/);
    const ready = node.status?.conditions?.find((x) => x.type === 'Ready');
    expect(ready).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    expect(node.status?.conditions?.find((x) => x.type === 'MemoryPressure')?.status).toBe('False');
    expect(node.spec?.podCIDR).toBe('10.244.1.0/24');
  });

  it('renews its Lease in kube-node-lease', async () => {
    const leases = c.admin.resource<Lease & KubeObject>('leases');
    const first = (await leases.get('node-1', { namespace: 'kube-node-lease' })).spec.renewTime;
    const later = await waitFor('a renewed lease', async () => {
      const t = (await leases.get('node-1', { namespace: 'kube-node-lease' })).spec.renewTime;
      return t !== first ? t : undefined;
    });
    expect(Date.parse(later as string)).toBeGreaterThan(Date.parse(first as string));
  });
});

describe('pods', () => {
  it('runs agnhost Running and Ready (readiness probe) with an IP from the podCIDR, reachable from another pod', async () => {
    await createPod(c, {
      metadata: { name: 'web' },
      spec: { containers: [netexec('web', { readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 } })] },
    });
    await createPod(c, {
      metadata: { name: 'client' },
      spec: { containers: [{ name: 'box', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
    });
    const web = await waitRunningReady(c, 'web');
    await waitRunningReady(c, 'client');
    expect(web.status?.podIP).toMatch(/^10\.244\.1\.\d+$/);
    expect(web.status?.hostIP).toBe('172.18.0.2');
    expect(web.status?.podIPs).toEqual([{ ip: web.status?.podIP }]);
    expect(web.status?.conditions?.map((x) => x.type).sort()).toEqual([
      'ContainersReady',
      'Initialized',
      'PodReadyToStartContainers',
      'PodScheduled',
      'Ready',
    ]);
    expect(web.status?.containerStatuses?.[0]).toMatchObject({ name: 'web', ready: true, restartCount: 0, started: true });
    const r = await execIn('client', 'box', ['curl', '-s', `http://${web.status?.podIP}:8080/hostname`]);
    expect(r).toEqual({ status: 0, output: 'web' });
    const echo = await execIn('client', 'box', ['sh', '-c', `wget -qO- "http://${web.status?.podIP}:8080/echo?msg=hi" && echo`]);
    expect(echo.output).toBe('hi');
    // UDP: agnhost's /dial sends "hostname" to its own UDP port 8081 and reports the answer.
    const udp = await execIn('client', 'box', [
      'curl',
      '-s',
      `http://${web.status?.podIP}:8080/dial?request=hostname&host=${web.status?.podIP}&port=8081&protocol=udp`,
    ]);
    expect(JSON.parse(udp.output)).toEqual({ responses: ['web'], errors: [] });
    const ping = await execIn('client', 'box', ['ping', '-c', '2', '-i', '0.1', web.status?.podIP as string]);
    expect(ping.output).toMatch(/2 packets transmitted, 2 received, 0% packet loss/);
  });

  it('lets two containers of a pod talk over localhost (one network namespace)', async () => {
    await createPod(c, {
      metadata: { name: 'duo' },
      spec: { containers: [netexec('server'), { name: 'sidecar', image: 'alpine:3.20', command: ['sleep', 'infinity'] }] },
    });
    await waitRunningReady(c, 'duo');
    const r = await execIn('duo', 'sidecar', ['wget', '-qO-', 'http://localhost:8080/hostname']);
    expect(r).toEqual({ status: 0, output: 'duo' });
    const ss = await execIn('duo', 'sidecar', ['ss', '-tln']);
    expect(ss.output).toMatch(/LISTEN\s+0\s+511\s+0\.0\.0\.0:8080/);
  });

  it('puts a second container binding the same port into CrashLoopBackOff with EADDRINUSE', async () => {
    await createPod(c, {
      metadata: { name: 'clash' },
      spec: { containers: [netexec('first'), netexec('second', { args: ['netexec', '--http-port=8080', '--udp-port=0'] })] },
    });
    const p = await waitFor('a CrashLoopBackOff', async () => {
      const pod = await pods(c).get('clash', { namespace: 'default' });
      const second = pod.status?.containerStatuses?.find((s) => s.name === 'second');
      return second?.state.waiting?.reason === 'CrashLoopBackOff' ? pod : undefined;
    });
    const second = p.status?.containerStatuses?.find((s) => s.name === 'second');
    expect(second?.lastState?.terminated?.reason).toBe('Error');
    expect(second?.lastState?.terminated?.message).toMatch(/EADDRINUSE/);
    expect(second?.restartCount).toBeGreaterThanOrEqual(1);
    expect(p.status?.containerStatuses?.find((s) => s.name === 'first')?.state.running).toBeDefined();
    expect(isReady(p)).toBe(false);
  });

  it('reports Ready=False when the readiness probe fails', async () => {
    await createPod(c, {
      metadata: { name: 'unready' },
      spec: {
        containers: [
          netexec('web', { readinessProbe: { httpGet: { path: '/no-such-page', port: 8080 }, periodSeconds: 1, failureThreshold: 1 } }),
        ],
      },
    });
    await waitFor('an Unhealthy event', async () => {
      const evs = await c.admin
        .resource<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } }>('events')
        .list({ namespace: 'default' });
      return evs.items.find(
        (e) =>
          e.involvedObject?.name === 'unready' &&
          e.reason === 'Unhealthy' &&
          /Readiness probe failed: HTTP probe failed with statuscode: 404/.test(e.message ?? ''),
      );
    });
    const p = await pods(c).get('unready', { namespace: 'default' });
    expect(p.status?.phase).toBe('Running');
    expect(p.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
  });

  it('restarts a container whose liveness probe fails (restartCount 1)', async () => {
    await createPod(c, {
      metadata: { name: 'unlive' },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [netexec('web', { livenessProbe: { tcpSocket: { port: 9999 }, periodSeconds: 1, failureThreshold: 1 } })],
      },
    });
    const p = await waitFor('restartCount 1', async () => {
      const pod = await pods(c).get('unlive', { namespace: 'default' });
      return (pod.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? pod : undefined;
    });
    expect(p.status?.containerStatuses?.[0]?.lastState?.terminated).toBeDefined();
    const evs = await c.admin
      .resource<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } }>('events')
      .list({ namespace: 'default' });
    expect(
      evs.items.some(
        (e) =>
          e.involvedObject?.name === 'unlive' &&
          e.reason === 'Unhealthy' &&
          /Liveness probe failed: dial tcp 10\.244\.1\.\d+:9999: connect: connection refused/.test(e.message ?? ''),
      ),
    ).toBe(true);
  });

  it('reports ErrImagePull then ImagePullBackOff for an unknown image, with an event listing the supported images', async () => {
    await createPod(c, { metadata: { name: 'noimage' }, spec: { containers: [{ name: 'x', image: 'example.com/nope:1.0' }] } });
    const p = await waitFor('ImagePullBackOff', async () => {
      const pod = await pods(c).get('noimage', { namespace: 'default' });
      return pod.status?.containerStatuses?.[0]?.state.waiting?.reason === 'ImagePullBackOff' ? pod : undefined;
    });
    expect(p.status?.phase).toBe('Pending');
    const evs = await c.admin
      .resource<KubeObject & { reason?: string; message?: string; type?: string; involvedObject?: { name?: string } }>('events')
      .list({ namespace: 'default' });
    const failed = evs.items.find(
      (e) => e.involvedObject?.name === 'noimage' && e.reason === 'Failed' && e.message?.startsWith('Failed to pull image'),
    );
    expect(failed?.type).toBe('Warning');
    expect(failed?.message).toMatch(/agnhost/);
    expect(failed?.message).toMatch(/busybox/);
    expect(failed?.message).toMatch(/nginx/);
  });

  it('delivers SIGTERM on graceful deletion and confirms the deletion', async () => {
    const created = await createPod(c, {
      metadata: { name: 'graceful' },
      spec: { terminationGracePeriodSeconds: 5, containers: [netexec('web')] },
    });
    await waitRunningReady(c, 'graceful');
    await pods(c).delete('graceful', { namespace: 'default', gracePeriodSeconds: 5 });
    await waitFor('the pod gone', async () => {
      try {
        await pods(c).get('graceful', { namespace: 'default' });
        return undefined;
      } catch (e) {
        return (e as { httpStatus?: number }).httpStatus === 404 || /NotFound/.test(String(e)) ? true : undefined;
      }
    });
    const log = containerLogPath(`${c.dataDir}/node-1`, 'default', 'graceful', created.metadata.uid as string, 'web', 0);
    expect(existsSync(log)).toBe(true);
    expect(readFileSync(log, 'utf8')).toMatch(/stdout F Received SIGTERM/);
  });

  it('kills a pod at once on the control entry and restarts it per restartPolicy', async () => {
    await createPod(c, { metadata: { name: 'victim' }, spec: { containers: [netexec('web')] } });
    const before = await waitRunningReady(c, 'victim');
    expect(before.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    // Every Ready value the API holds for the pod from now on.
    const seen: string[] = [];
    const watch = await pods(c).watch({
      namespace: 'default',
      fieldSelector: 'metadata.name=victim',
      resourceVersion: before.metadata.resourceVersion,
    });
    watch.on('event', (e: { object: Pod }) => {
      const ready = e.object.status?.conditions?.find((x) => x.type === 'Ready')?.status;
      if (ready && seen[seen.length - 1] !== ready) seen.push(ready);
    });
    const denied = await post('/podnet/kill/default/victim', 'wrong-token');
    expect(denied.status).toBe(401);
    const r = await post('/podnet/kill/default/victim', c.cp.apiServer.tokens['node-agent'] as string);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ containersKilled: 1 });
    const after = await waitFor('a restart after the kill', async () => {
      const p = await pods(c).get('victim', { namespace: 'default' });
      const s = p.status?.containerStatuses?.[0];
      return s?.restartCount === 1 && s.state.running ? p : undefined;
    });
    expect(after.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 137, signal: 9, reason: 'Error' });
    // The death was visible: Ready went False before the restarted container made it True again.
    await waitFor('Ready back to True', async () => (seen[seen.length - 1] === 'True' ? true : undefined));
    watch.close();
    expect(seen.slice(-2)).toEqual(['False', 'True']);
  });

  it('serves /healthz to anyone, and /metrics, /pods, /containerLogs, /exec only to an authenticated client', async () => {
    // Verified against the cluster CA: the serving certificate was signed by the API server.
    const get = (path: string, token?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        https
          .get(
            {
              host: c.transportAddress,
              port: c.kubeletPort,
              path,
              ca: c.cp.apiServer.caPem,
              headers: token ? { Authorization: `Bearer ${token}` } : {},
            },
            (res) => {
              let b = '';
              res.on('data', (d) => (b += d));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
            },
          )
          .on('error', reject);
      });
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok' });
    for (const path of ['/metrics', '/pods', '/containerLogs/default/web/web', '/exec/default/web/web?command=true']) {
      const anon = await get(path);
      expect(anon.status, path).toBe(401);
      expect(JSON.parse(anon.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      expect((await get(path, 'wrong-token')).status, path).toBe(401);
    }
    const { default: WebSocket } = await import('ws');
    const anonWs = new WebSocket(`wss://${c.transportAddress}:${c.kubeletPort}/exec/default/web/web?command=true`, ['v5.channel.k8s.io'], {
      ca: c.cp.apiServer.caPem,
    });
    expect(await new Promise<number>((resolve) => anonWs.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)))).toBe(401);
    const nodeToken = c.cp.apiServer.tokens['node-agent'] as string;
    expect((await get('/pods', nodeToken)).status).toBe(200);
    const m = (await get('/metrics', nodeToken)).body;
    expect(m).toMatch(/kubelet_running_pods\{component="node-agent",node="node-1"\} \d+/);
    expect(m).toMatch(/prober_probe_total\{probe_type="Readiness",result="successful",component="node-agent",node="node-1"\} \d+/);
    expect(m).toMatch(/kubelet_run_podsandbox_duration_seconds_count\{component="node-agent",node="node-1"\} \d+/);
  });
});

describe('images, restart policies, exec probes, logs and exec streams', () => {
  it('nginx serves its index page and the load generator counts successes against it', async () => {
    await createPod(c, { metadata: { name: 'nginx' }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } });
    const ng = await waitRunningReady(c, 'nginx');
    await createPod(c, {
      metadata: { name: 'load' },
      spec: {
        containers: [
          { name: 'load', image: 'podnet/loadgen', args: ['--url', `http://${ng.status?.podIP}/`, '--rate', '20', '--port', '9090'] },
        ],
      },
    });
    await waitRunningReady(c, 'load');
    const counters = await waitFor('load generator successes', async () => {
      const r = await execIn('load', 'load', ['curl', '-s', 'http://localhost:9090/']);
      const j = JSON.parse(r.output) as { successes: number; failures: number; answers: Record<string, number> };
      return j.successes >= 10 ? j : undefined;
    });
    expect(counters.failures).toBe(0);
    const page = await execIn('load', 'load', ['curl', '-s', `http://${ng.status?.podIP}/`]);
    expect(page.output).toContain('<title>Welcome to nginx!</title>');
    const missing = await execIn('load', 'load', [
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://${ng.status?.podIP}/nope`,
    ]);
    expect(missing.output).toBe('404');
    const uid = ng.metadata.uid as string;
    const access = readFileSync(containerLogPath(`${c.dataDir}/node-1`, 'default', 'nginx', uid, 'nginx', 0), 'utf8');
    expect(access).toMatch(
      /stdout F 10\.244\.1\.\d+ - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/ HTTP\/1\.1" 200 \d+ "-" "podnet-loadgen|curl\/8\.5\.0|-" "-"/,
    );
  });

  it('restartPolicy Never → Failed, OnFailure with exit 0 → Succeeded', async () => {
    await createPod(c, {
      metadata: { name: 'never' },
      spec: { restartPolicy: 'Never', containers: [{ name: 'job', image: 'busybox', command: ['sh', '-c', 'echo bye && exit 3'] }] },
    });
    await createPod(c, {
      metadata: { name: 'onfailure' },
      spec: { restartPolicy: 'OnFailure', containers: [{ name: 'job', image: 'busybox', command: ['sh', '-c', 'echo done'] }] },
    });
    const never = await waitFor('Failed', async () => {
      const p = await pods(c).get('never', { namespace: 'default' });
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    expect(never.status?.containerStatuses?.[0]).toMatchObject({
      restartCount: 0,
      state: { terminated: { exitCode: 3, reason: 'Error', message: 'bye' } },
    });
    const ok = await waitFor('Succeeded', async () => {
      const p = await pods(c).get('onfailure', { namespace: 'default' });
      return p.status?.phase === 'Succeeded' ? p : undefined;
    });
    expect(ok.status?.containerStatuses?.[0]?.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('an exec readiness probe makes the pod Ready', async () => {
    await createPod(c, {
      metadata: { name: 'execready' },
      spec: {
        containers: [
          {
            name: 'box',
            image: 'alpine',
            command: ['sleep', '3600'],
            readinessProbe: { exec: { command: ['cat', '/etc/hostname'] }, periodSeconds: 1 },
          },
        ],
      },
    });
    const p = await waitRunningReady(c, 'execready');
    expect(p.status?.containerStatuses?.[0]?.ready).toBe(true);
  });

  it('follows a container log and streams stdin over exec v5 until the close frame', async () => {
    const { default: WebSocket } = await import('ws');
    const web = await pods(c).get('web', { namespace: 'default' });
    // follow=true: the response stays open and new lines arrive as netexec logs requests.
    const followed = new Promise<string>((resolve, reject) => {
      https
        .get(
          {
            host: c.transportAddress,
            port: c.kubeletPort,
            path: '/containerLogs/default/web/web?follow=true&tailLines=0',
            ca: c.cp.apiServer.caPem,
            headers: { Authorization: `Bearer ${c.cp.apiServer.tokens['node-agent']}` },
          },
          (res) => {
            let b = '';
            res.on('data', (d) => {
              b += d;
              if (b.includes('GET /echo?msg=followed')) {
                res.destroy();
                resolve(b);
              }
            });
          },
        )
        .on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    await execIn('client', 'box', ['curl', '-s', `http://${web.status?.podIP}:8080/echo?msg=followed`]);
    // tailLines=0: nothing from before (no start-up lines); then what arrived (readiness probes' /healthz too).
    const text = await followed;
    expect(text).not.toContain('Started HTTP server');
    expect(text).toMatch(/^(GET \/healthz\n)*GET \/echo\?msg=followed\n$/);
    const q = new URLSearchParams([
      ['command', 'nc'],
      ['command', web.status?.podIP as string],
      ['command', '8080'],
      ['stdin', 'true'],
      ['stdout', 'true'],
    ]);
    const ws = new WebSocket(`wss://${c.transportAddress}:${c.kubeletPort}/exec/default/client/box?${q}`, ['v5.channel.k8s.io'], {
      ca: c.cp.apiServer.caPem,
      headers: { Authorization: `Bearer ${c.cp.apiServer.tokens['node-agent']}` },
    });
    let out = '';
    let status = '';
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => {
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET /hostname HTTP/1.0\r\n\r\n')]));
        ws.send(Buffer.from([255, 0]));
      });
      ws.on('message', (d: Buffer) => {
        if (d[0] === 1) out += d.subarray(1).toString();
        if (d[0] === 3) status = d.subarray(1).toString();
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    expect(ws.protocol).toBe('v5.channel.k8s.io');
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nweb$/);
    expect(JSON.parse(status)).toEqual({ metadata: {}, status: 'Success' });
    // v4.channel.k8s.io: the same frames, the exit code in the Status on channel 3.
    const v4q = new URLSearchParams([
      ['command', 'sh'],
      ['command', '-c'],
      ['command', 'echo err 2>&1; exit 2'],
      ['stdout', 'true'],
    ]);
    const v4 = new WebSocket(`wss://${c.transportAddress}:${c.kubeletPort}/exec/default/client/box?${v4q}`, ['v4.channel.k8s.io'], {
      ca: c.cp.apiServer.caPem,
      headers: { Authorization: `Bearer ${c.cp.apiServer.tokens['node-agent']}` },
    });
    let v4out = '';
    let v4status = '';
    await new Promise<void>((resolve, reject) => {
      v4.on('message', (d: Buffer) => {
        if (d[0] === 1) v4out += d.subarray(1).toString();
        if (d[0] === 3) v4status = d.subarray(1).toString();
      });
      v4.on('close', () => resolve());
      v4.on('error', reject);
    });
    expect(v4.protocol).toBe('v4.channel.k8s.io');
    expect(v4out).toBe('err\n');
    expect(JSON.parse(v4status)).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '2' }] },
    });
  });
});

describe('grace period', () => {
  it('kills a workload that outlives its grace period after SIGTERM', async () => {
    const created = await createPod(c, {
      metadata: { name: 'stubborn' },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [netexec('web', { args: ['netexec', '--http-port=8080', '--delay-shutdown=30'] })],
      },
    });
    await waitRunningReady(c, 'stubborn');
    const t0 = Date.now();
    await pods(c).delete('stubborn', { namespace: 'default' });
    await waitFor('the pod gone', async () => {
      try {
        await pods(c).get('stubborn', { namespace: 'default' });
        return undefined;
      } catch {
        return true;
      }
    });
    // Gone after the 1 s grace period, not the 30 s the workload wanted.
    expect(Date.now() - t0).toBeLessThan(20_000);
    const log = readFileSync(
      containerLogPath(`${c.dataDir}/node-1`, 'default', 'stubborn', created.metadata.uid as string, 'web', 0),
      'utf8',
    );
    expect(log).toMatch(/Received SIGTERM\n.*Sleeping 30 seconds before terminating/);
  });
});
