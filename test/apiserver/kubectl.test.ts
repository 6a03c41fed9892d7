// The real kubectl (1.32) against a real API server process, with a fresh HOME (no discovery
// cache) and a kubeconfig from the server's credentials (CA data + admin token).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { describeInterop } from '../support/interop.ts';
import { api, credentials, kubeletServingTls, type ServerProcess, startServer, stopServer, waitFor } from './support.ts';

describeInterop('kubectl against the podnet apiserver', { commands: ['kubectl'] }, () => {
  let dir: string;
  let home: string;
  let server: ServerProcess;
  let ca: string;
  let token: string;
  const call = (method: string, path: string, body?: unknown, ct?: string) => api(server.url, ca, token, method, path, body, ct);
  const kubectl = (args: string[], input?: string) =>
    execa('kubectl', args, {
      env: { HOME: home, KUBECONFIG: join(dir, 'kubeconfig') },
      extendEnv: true,
      reject: false,
      input,
      timeout: 60_000,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `podnet-kubectl-${process.pid}-`));
    home = mkdtempSync(join(tmpdir(), `podnet-home-${process.pid}-`));
    server = await startServer(dir);
    ({ ca, token } = credentials(dir));
    // A node (with its transport address) and a pod bound to it, as the test kubelet would write them.
    await call('POST', '/api/v1/nodes', {
      metadata: { name: 'node-1', annotations: { 'podnet.dev/transport-address': '127.0.1.1' } },
      spec: { podCIDR: '10.244.1.0/24' },
    });
    await call('PUT', '/api/v1/nodes/node-1/status', {
      metadata: { name: 'node-1' },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [{ type: 'InternalIP', address: '172.18.0.2' }],
        nodeInfo: { kubeletVersion: 'v1.32.4-podnet' },
      },
    });
  });
  afterAll(() => stopServer(server, dir, home));

  const boundPod = async (name: string) => {
    const r = await call('POST', '/api/v1/namespaces/default/pods', {
      metadata: { name, labels: { app: 'web' } },
      spec: { nodeName: 'node-1', containers: [{ name: 'web', image: 'podnet/echo:1.0', ports: [{ containerPort: 8080 }] }] },
    });
    expect(r.status).toBe(201);
    const st = {
      ...r.body,
      status: {
        phase: 'Running',
        podIP: '10.244.1.5',
        hostIP: '172.18.0.2',
        containerStatuses: [
          {
            name: 'web',
            ready: true,
            restartCount: 0,
            image: 'podnet/echo:1.0',
            state: { running: { startedAt: '2026-12-01T19:00:00Z' } },
          },
        ],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    };
    const s = await call('PUT', `/api/v1/namespaces/default/pods/${name}/status`, st);
    expect(s.status).toBe(200);
    return s.body;
  };

  it('get pods -o wide prints the real column set', async () => {
    await boundPod('web-1');
    const r = await kubectl(['get', 'pods', '-o', 'wide']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [header, row] = r.stdout.split('\n');
    expect(header?.split(/\s{2,}/)).toEqual([
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES',
    ]);
    expect(row?.split(/\s+/)).toEqual([
      'web-1',
      '1/1',
      'Running',
      '0',
      expect.stringMatching(/^\d+s$/),
      '10.244.1.5',
      'node-1',
      '<none>',
      '<none>',
    ]);
  });

  it('get svc,endpoints,endpointslices,netpol,nodes', async () => {
    await call('POST', '/api/v1/namespaces/default/services', {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await call('POST', '/api/v1/namespaces/default/endpoints', {
      metadata: { name: 'web' },
      subsets: [{ addresses: [{ ip: '10.244.1.5' }], ports: [{ port: 8080 }] }],
    });
    await call('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      metadata: { name: 'web-abcde', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true } }],
      ports: [{ port: 8080 }],
    });
    await call('POST', '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies', {
      metadata: { name: 'deny-all' },
      spec: { podSelector: {} },
    });
    const r = await kubectl(['get', 'svc,endpoints,endpointslices,netpol,nodes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/service\/web\s+ClusterIP\s+10\.96\.0\.2\s+<none>\s+80\/TCP/);
    expect(r.stdout).toMatch(/service\/kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443\/TCP/);
    expect(r.stdout).toMatch(/endpoints\/web\s+10\.244\.1\.5:8080/);
    expect(r.stdout).toMatch(/endpointslice\.discovery\.k8s\.io\/web-abcde\s+IPv4\s+8080\s+10\.244\.1\.5/);
    expect(r.stdout).toMatch(/networkpolicy\.networking\.k8s\.io\/deny-all\s+<none>/);
    expect(r.stdout).toMatch(/node\/node-1\s+Ready\s+<none>\s+\S+\s+v1\.32\.4-podnet/);
  });

  it('get pods -w sees an ADDED and a DELETED', async () => {
    const w = execa('kubectl', ['get', 'pods', '-w', '--output-watch-events'], {
      env: { HOME: home, KUBECONFIG: join(dir, 'kubeconfig') },
      reject: false,
    });
    let out = '';
    w.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor('the initial listing', () => out.includes('web-1') || undefined);
      await call('POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: 'watched' },
        spec: { containers: [{ name: 'c', image: 'i:1' }] },
      });
      await waitFor('ADDED watched', () => /ADDED\s+watched/.test(out) || undefined);
      // Unbound: deleted at once.
      expect((await call('DELETE', '/api/v1/namespaces/default/pods/watched')).status).toBe(200);
      await waitFor('DELETED watched', () => /DELETED\s+watched/.test(out) || undefined);
    } finally {
      w.kill('SIGTERM');
      await w;
    }
  });

  it('apply -f a Deployment+Service, then re-apply with a new image: ports and args survive (strategic merge)', async () => {
    const manifest = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 2
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      containers:
      - name: echo
        image: ${image}
        args: ["--port", "8080"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  type: NodePort
  selector: {app: echo}
  ports:
  - port: 80
    targetPort: 8080
`;
    const file = join(dir, 'echo.yaml');
    writeFileSync(file, manifest('podnet/echo:1.0'));
    const a = await kubectl(['apply', '-f', file]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(a.stdout).toContain('deployment.apps/echo created');
    expect(a.stdout).toContain('service/echo created');
    expect(a.stderr).not.toContain('validate');
    writeFileSync(file, manifest('podnet/echo:1.1'));
    const b = await kubectl(['apply', '-f', file]);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stdout).toContain('deployment.apps/echo configured');
    expect(b.stdout).toContain('service/echo unchanged');
    const d = (await call('GET', '/apis/apps/v1/namespaces/default/deployments/echo')).body;
    expect(d.spec.template.spec.containers).toEqual([
      expect.objectContaining({
        name: 'echo',
        image: 'podnet/echo:1.1',
        args: ['--port', '8080'],
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
      }),
    ]);
    expect(d.metadata.generation).toBe(2);
    const svc = (await call('GET', '/api/v1/namespaces/default/services/echo')).body;
    expect(svc.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
  });

  it('scale deployment', async () => {
    const r = await kubectl(['scale', 'deployment', 'echo', '--replicas=3']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('deployment.apps/echo scaled');
    expect((await call('GET', '/apis/apps/v1/namespaces/default/deployments/echo')).body.spec.replicas).toBe(3);
    const g = await kubectl(['get', 'deploy', '-o', 'wide']);
    expect(g.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual([
      'NAME',
      'READY',
      'UP-TO-DATE',
      'AVAILABLE',
      'AGE',
      'CONTAINERS',
      'IMAGES',
      'SELECTOR',
    ]);
    expect(g.stdout).toMatch(/echo\s+0\/3\s+0\s+0\s+\S+\s+echo\s+podnet\/echo:1\.1\s+app=echo/);
  });

  it('delete pod returns once the kubelet (this test) confirms the graceful deletion', async () => {
    await boundPod('doomed');
    const del = kubectl(['delete', 'pod', 'doomed']);
    const marked = await waitFor('deletionTimestamp on doomed', async () => {
      const p = (await call('GET', '/api/v1/namespaces/default/pods/doomed')).body;
      return p.metadata?.deletionTimestamp ? p : undefined;
    });
    expect(marked.metadata.deletionGracePeriodSeconds).toBe(30);
    // The kubelet's confirmation: delete with grace 0 (pkg/kubelet/status/status_manager.go).
    const confirm = await call('DELETE', '/api/v1/namespaces/default/pods/doomed', { gracePeriodSeconds: 0 });
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
    const r = await del;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('pod "doomed" deleted');
    expect((await call('GET', '/api/v1/namespaces/default/pods/doomed')).status).toBe(404);
  });

  it('logs goes through the API server to the node-agent at its transport address, port 10250', async () => {
    // A stand-in node-agent on a loopback address of this test's own (pid-derived, so parallel
    // test files never share it), serving the kubelet's /containerLogs path over HTTPS.
    const host = `127.0.${200 + (process.pid % 50)}.${1 + (process.pid % 250)}`;
    const seen: string[] = [];
    // Its certificate is signed by the cluster CA for node-logs at host (the API server verifies
    // it), and it asks for the API server's client certificate, as the node-agent does.
    const tls = await kubeletServingTls(server.url, ca, token, 'node-logs', host);
    const agent = createHttpsServer(
      { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const sock = req.socket as TLSSocket;
        seen.push(`${req.url ?? ''} ${sock.authorized ? sock.getPeerCertificate().subject?.CN : 'anonymous'}`);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('line 1\nline 2\n');
      },
    );
    await new Promise<void>((resolve, reject) => {
      agent.once('error', reject);
      agent.listen(10250, host, () => resolve());
    });
    try {
      await call('POST', '/api/v1/nodes', { metadata: { name: 'node-logs', annotations: { 'podnet.dev/transport-address': host } } });
      await call('POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: 'chatty' },
        spec: { nodeName: 'node-logs', containers: [{ name: 'app', image: 'podnet/echo:1.0' }] },
      });
      const r = await kubectl(['logs', 'chatty', '--tail=2']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('line 1\nline 2'); // execa strips the final newline
      expect(seen).toEqual(['/containerLogs/default/chatty/app?tailLines=2 apiserver-kubelet-client']);
    } finally {
      await new Promise((resolve) => agent.close(resolve));
    }
    const down = await kubectl(['logs', 'chatty']);
    expect(down.exitCode).toBe(1);
    expect(down.stderr).toContain(`error dialing backend: dial tcp ${host}:10250`);
  });

  it('exec streams through the API server to the node-agent (WebSocket, channel protocol)', async () => {
    const host = `127.0.${200 + (process.pid % 50)}.${1 + (process.pid % 250)}`;
    const tls = await kubeletServingTls(server.url, ca, token, 'node-exec', host);
    const https = createHttpsServer({ key: tls.key, cert: tls.cert });
    // The stand-in node-agent speaks the remotecommand WebSocket protocol: a channel byte then
    // data (1 stdout, 3 the final Status), as the kubelet's streaming server does.
    const paths: string[] = [];
    const wss = new WebSocketServer({
      server: https,
      handleProtocols: (p) => ['v5.channel.k8s.io', 'v4.channel.k8s.io'].find((x) => p.has(x)) ?? false,
    });
    wss.on('connection', (ws, req) => {
      paths.push(req.url ?? '');
      // As the kubelet does: the data, then (v5) the stdout stream's close signal (channel 255), the
      // final Status on channel 3, and the close only after those frames are flushed.
      ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('hello from exec\n')]));
      if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([255, 1]));
      ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' }))]), () =>
        setTimeout(() => ws.close(1000), 50),
      );
    });
    await new Promise<void>((resolve) => https.listen(10250, host, () => resolve()));
    try {
      await call('POST', '/api/v1/nodes', { metadata: { name: 'node-exec', annotations: { 'podnet.dev/transport-address': host } } });
      await call('POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: 'shell' },
        spec: { nodeName: 'node-exec', containers: [{ name: 'sh', image: 'podnet/toolbox:1' }] },
      });
      const r = await kubectl(['exec', 'shell', '--', 'echo', 'hello']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('hello from exec');
      expect(paths[0]).toBe('/exec/default/shell/sh?command=echo&command=hello&stderr=true&stdout=true&output=1&error=1');
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((resolve) => https.close(resolve));
    }
  });

  it('describe pod shows its events', async () => {
    const pod = (await call('GET', '/api/v1/namespaces/default/pods/web-1')).body;
    const now = `${new Date().toISOString().slice(0, 19)}Z`;
    const ev = await call('POST', '/api/v1/namespaces/default/events', {
      metadata: { name: 'web-1.scheduled' },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: pod.metadata.uid, apiVersion: 'v1' },
      reason: 'Scheduled',
      message: 'Successfully assigned default/web-1 to node-1',
      type: 'Normal',
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: 'default-scheduler' },
    });
    expect(ev.status).toBe(201);
    const r = await kubectl(['describe', 'pod', 'web-1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Node:\s+node-1\/172\.18\.0\.2/);
    expect(r.stdout).toMatch(/IP:\s+10\.244\.1\.5/);
    expect(r.stdout).toMatch(/Events:[\s\S]*Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/web-1 to node-1/);
  });

  it('prints NotFound and the 422 causes as the real server makes kubectl print them', async () => {
    const nf = await kubectl(['get', 'pod', 'nope']);
    expect(nf.exitCode).toBe(1);
    expect(nf.stderr.trim()).toBe('Error from server (NotFound): pods "nope" not found');
    const bad = await kubectl(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'Bad_Name' },
        spec: { ports: [{ port: 70000, targetPort: 80 }] },
      }),
    );
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('The Service "Bad_Name" is invalid:');
    expect(bad.stderr).toContain(
      '* metadata.name: Invalid value: "Bad_Name": a DNS-1035 label must consist of lower case alphanumeric characters',
    );
    expect(bad.stderr).toContain('* spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive');
    const typo = await kubectl(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\nspek:\n  ports: [{port: 80}]\n',
    );
    expect(typo.exitCode).toBe(1);
    expect(typo.stderr).toContain('unknown field "spek"');
  });

  it('create namespace|deployment|service and expose (typed clients that send protobuf bodies)', async () => {
    const ns = await kubectl(['create', 'namespace', 'team-a']);
    expect(ns.exitCode, ns.stderr).toBe(0);
    expect(ns.stdout).toContain('namespace/team-a created');
    expect((await call('GET', '/api/v1/namespaces/team-a')).body.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'team-a' });
    const dep = await kubectl(['-n', 'team-a', 'create', 'deployment', 'web', '--image=podnet/echo:1.0', '--replicas=2', '--port=8080']);
    expect(dep.exitCode, dep.stderr).toBe(0);
    expect(dep.stdout).toContain('deployment.apps/web created');
    const d = (await call('GET', '/apis/apps/v1/namespaces/team-a/deployments/web')).body;
    expect(d.spec).toMatchObject({ replicas: 2, selector: { matchLabels: { app: 'web' } }, strategy: { type: 'RollingUpdate' } });
    expect(d.spec.template.spec.containers[0]).toMatchObject({
      name: 'echo',
      image: 'podnet/echo:1.0',
      ports: [{ containerPort: 8080, protocol: 'TCP' }],
    });
    const svc = await kubectl(['-n', 'team-a', 'create', 'service', 'nodeport', 'web-np', '--tcp=80:8080']);
    expect(svc.exitCode, svc.stderr).toBe(0);
    const np = (await call('GET', '/api/v1/namespaces/team-a/services/web-np')).body;
    expect(np.spec.ports[0]).toMatchObject({ port: 80, targetPort: 8080, protocol: 'TCP', nodePort: expect.any(Number) });
    const exp = await kubectl(['-n', 'team-a', 'expose', 'deployment', 'web', '--port=80', '--target-port=8080']);
    expect(exp.exitCode, exp.stderr).toBe(0);
    expect(exp.stdout).toContain('service/web exposed');
    const e = (await call('GET', '/api/v1/namespaces/team-a/services/web')).body;
    expect(e.spec).toMatchObject({ selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
  });

  it('delete deployment removes its replicasets and pods (ownerReference garbage collection)', async () => {
    const dep = (await call('GET', '/apis/apps/v1/namespaces/default/deployments/echo')).body;
    const rs = await call('POST', '/apis/apps/v1/namespaces/default/replicasets', {
      metadata: {
        name: 'echo-7d9f',
        labels: { app: 'echo' },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'echo', uid: dep.metadata.uid, controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'echo' } },
        template: { metadata: { labels: { app: 'echo' } }, spec: { containers: [{ name: 'echo', image: 'podnet/echo:1.1' }] } },
      },
    });
    expect(rs.status).toBe(201);
    const pod = await call('POST', '/api/v1/namespaces/default/pods', {
      metadata: {
        name: 'echo-7d9f-x2b4k',
        labels: { app: 'echo' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'echo-7d9f', uid: rs.body.metadata.uid, controller: true }],
      },
      spec: { containers: [{ name: 'echo', image: 'podnet/echo:1.1' }] },
    });
    expect(pod.status).toBe(201);
    const r = await kubectl(['delete', 'deployment', 'echo']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('deployment.apps "echo" deleted');
    await waitFor('the replicaset to be collected', async () =>
      (await call('GET', '/apis/apps/v1/namespaces/default/replicasets/echo-7d9f')).status === 404 ? true : undefined,
    );
    await waitFor('the pod to be collected', async () =>
      (await call('GET', '/api/v1/namespaces/default/pods/echo-7d9f-x2b4k')).status === 404 ? true : undefined,
    );
  });
});
