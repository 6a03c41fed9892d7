// The real kubectl (1.32) against a real API server process, for what needs the OpenAPI
// documents: `kubectl apply -f` of a `kind: List` (kubectl validates a List client-side against
// /openapi/v2, fetched as gnostic protobuf), apply's strategic merge patch computed from the
// server's schema (from /openapi/v3 by default in 1.32, from /openapi/v2 with
// KUBECTL_OPENAPIV3_PATCH=false), `kubectl explain`, and strict validation errors.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.ts';
import { api, credentials, type ServerProcess, startServer, stopServer } from './support.ts';

const list = (name: string, image: string) => `apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: ${name}
  spec:
    replicas: 2
    selector:
      matchLabels: {app: ${name}}
    template:
      metadata:
        labels: {app: ${name}}
      spec:
        containers:
        - name: echo
          image: ${image}
          args: ["--port", "8080"]
          ports:
          - containerPort: 8080
          env:
          - {name: MODE, value: echo}
- apiVersion: v1
  kind: Service
  metadata:
    name: ${name}
  spec:
    type: NodePort
    selector: {app: ${name}}
    ports:
    - port: 80
      targetPort: 8080
`;

describeInterop('kubectl and the OpenAPI documents of the podnet apiserver', { commands: ['kubectl'] }, () => {
  let dir: string;
  let home: string;
  let server: ServerProcess;
  let ca: string;
  let token: string;
  const call = (method: string, path: string) => api(server.url, ca, token, method, path);
  const kubectl = (args: string[], env: Record<string, string> = {}, input?: string) =>
    execa('kubectl', args, {
      env: { HOME: home, KUBECONFIG: join(dir, 'kubeconfig'), ...env },
      extendEnv: true,
      reject: false,
      input,
      timeout: 60_000,
    });
  const write = (file: string, text: string) => {
    writeFileSync(join(dir, file), text);
    return join(dir, file);
  };
  /** The request lines kubectl -v=6 logs ("GET https://.../path?query 200 OK"), as "METHOD /path". */
  const requests = (stderr: string) =>
    [...stderr.matchAll(/round_trippers\.go:\d+\] (GET|POST|PATCH|PUT|DELETE) https:\/\/[^/]+(\/[^?\s]*)/g)].map((m) => `${m[1]} ${m[2]}`);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `podnet-kubectl-openapi-${process.pid}-`));
    home = mkdtempSync(join(tmpdir(), `podnet-home-openapi-${process.pid}-`));
    server = await startServer(dir);
    ({ ca, token } = credentials(dir));
  });
  afterAll(() => stopServer(server, dir, home));

  const containersOf = async (name: string) => {
    const d = (await call('GET', `/apis/apps/v1/namespaces/default/deployments/${name}`)).body;
    return { generation: d.metadata.generation, containers: d.spec.template.spec.containers };
  };

  it('apply -f of a kind: List creates the Deployment and the Service (validated against /openapi/v2)', async () => {
    const r = await kubectl(['apply', '-f', write('list.yaml', list('echo', 'podnet/echo:1.0')), '-v=6']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['deployment.apps/echo created', 'service/echo created']);
    expect(requests(r.stderr)[0]).toBe('GET /openapi/v2');
    expect(r.stderr).not.toMatch(/warning|error/i);
    expect((await containersOf('echo')).containers).toEqual([
      expect.objectContaining({ name: 'echo', image: 'podnet/echo:1.0', args: ['--port', '8080'] }),
    ]);
    const svc = (await call('GET', '/api/v1/namespaces/default/services/echo')).body;
    expect(svc.spec.ports[0]).toMatchObject({ port: 80, targetPort: 8080, nodePort: expect.any(Number) });
  });

  it('re-apply with a new image patches by the server’s v3 schema: ports, args and env survive', async () => {
    const r = await kubectl(['apply', '-f', write('list.yaml', list('echo', 'podnet/echo:1.1')), '-v=6']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['deployment.apps/echo configured', 'service/echo unchanged']);
    // kubectl 1.32 computes the strategic merge patch from the group-version's OpenAPI v3 schema
    // (KUBECTL_OPENAPIV3_PATCH is on by default): fetched between reading the object and patching it.
    const seq = requests(r.stderr);
    const patch = seq.indexOf('PATCH /apis/apps/v1/namespaces/default/deployments/echo');
    expect(patch).toBeGreaterThan(0);
    expect(seq.slice(0, patch)).toContain('GET /openapi/v3/apis/apps/v1');
    expect(r.stderr).not.toContain('error calculating patch');
    const d = await containersOf('echo');
    expect(d.generation).toBe(2);
    expect(d.containers).toEqual([
      expect.objectContaining({
        name: 'echo',
        image: 'podnet/echo:1.1',
        args: ['--port', '8080'],
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        env: [{ name: 'MODE', value: 'echo' }],
      }),
    ]);
  });

  it('with KUBECTL_OPENAPIV3_PATCH=false the patch comes from /openapi/v2: a keyed merge, same result', async () => {
    const r = await kubectl(['apply', '-f', write('list.yaml', list('echo', 'podnet/echo:1.2')), '-v=9'], {
      KUBECTL_OPENAPIV3_PATCH: 'false',
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['deployment.apps/echo configured', 'service/echo unchanged']);
    expect(requests(r.stderr).some((x) => x.startsWith('GET /openapi/v3/'))).toBe(false);
    expect(r.stderr).not.toContain('error calculating patch');
    // The patch names the container by its merge key and sends only what changed.
    const bodies = [...r.stderr.matchAll(/"Request Body" body="((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    const sent = bodies.find((b) => b.includes('$setElementOrder/containers'));
    expect(sent, r.stderr).toBeDefined();
    expect(JSON.parse(sent as string).spec).toEqual({
      template: { spec: { '$setElementOrder/containers': [{ name: 'echo' }], containers: [{ name: 'echo', image: 'podnet/echo:1.2' }] } },
    });
    const d = await containersOf('echo');
    expect(d.containers[0]).toMatchObject({
      image: 'podnet/echo:1.2',
      args: ['--port', '8080'],
      ports: [{ containerPort: 8080, protocol: 'TCP' }],
    });
  });

  it('apply --validate=strict of a List with an unknown field fails client-side, naming the field and its type; nothing is created', async () => {
    const bad = list('typo', 'podnet/echo:1.0').replace('      targetPort: 8080', '      targetPrt: 8080');
    const r = await kubectl(['apply', '--validate=strict', '-f', write('bad-list.yaml', bad)]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'error validating data: ValidationError(Service.spec.ports[0]): unknown field "targetPrt" in io.k8s.api.core.v1.ServicePort',
    );
    expect(r.stderr).toContain('turn validation off with --validate=false');
    expect((await call('GET', '/apis/apps/v1/namespaces/default/deployments/typo')).status).toBe(404);
    expect((await call('GET', '/api/v1/namespaces/default/services/typo')).status).toBe(404);
    // A wrong type is caught the same way.
    const typed = await kubectl([
      'apply',
      '--validate=strict',
      '-f',
      write('bad-type.yaml', list('typed', 'podnet/echo:1.0').replace('replicas: 2', 'replicas: [2]')),
    ]);
    expect(typed.exitCode).toBe(1);
    expect(typed.stderr).toContain(
      'ValidationError(Deployment.spec.replicas): invalid type for io.k8s.api.apps.v1.DeploymentSpec.replicas: got "array", expected "integer"',
    );
  });

  it('apply --validate=strict of a single object with an unknown field is refused by the server (fieldValidation=Strict)', async () => {
    const r = await kubectl(
      ['apply', '--validate=strict', '-f', '-'],
      {},
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\nspek:\n  ports: [{port: 80}]\n',
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('unknown field "spek"');
    expect((await call('GET', '/api/v1/namespaces/default/services/typo')).status).toBe(404);
  });

  it('explain deployment.spec lists the fields and types of the served schema', async () => {
    const r = await kubectl(['explain', 'deployment.spec']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^GROUP:\s+apps\nKIND:\s+Deployment\nVERSION:\s+v1\n/);
    expect(r.stdout).toMatch(/FIELD: spec <DeploymentSpec>/);
    for (const f of ['replicas\t<integer>', 'selector\t<LabelSelector>', 'strategy\t<DeploymentStrategy>', 'template\t<PodTemplateSpec>'])
      expect(r.stdout).toContain(f);
    const ports = await kubectl(['explain', 'pods.spec.containers.ports']);
    expect(ports.exitCode, ports.stderr).toBe(0);
    expect(ports.stdout).toContain('FIELD: ports <[]ContainerPort>');
    expect(ports.stdout).toContain('containerPort\t<integer>');
    const svc = await kubectl(['explain', 'svc.spec.ports.targetPort']);
    expect(svc.exitCode, svc.stderr).toBe(0);
    expect(svc.stdout).toContain('FIELD: targetPort <string>');
  });

  it('kubectl revalidates /openapi/v2 and /openapi/v3 with If-None-Match (304) and keeps hashed v3 documents as immutable', async () => {
    // A logging HTTPS relay in front of the server (same serving certificate), so the test sees
    // what kubectl's HTTP cache (~/.kube/cache/http) sends: its debug log shows cached replies as 200.
    const seen: { path: string; inm?: string; status: number }[] = [];
    const relay = createHttpsServer(
      { key: readFileSync(join(dir, 'pki', 'apiserver.key')), cert: readFileSync(join(dir, 'pki', 'apiserver.crt')) },
      (req, res) => {
        const up = request({ host: '127.0.0.1', port: server.port, path: req.url, method: req.method, headers: req.headers, ca }, (r) => {
          if (req.url?.startsWith('/openapi')) {
            const inm = req.headers['if-none-match'];
            seen.push({ path: (req.url ?? '').split('?')[0] as string, ...(inm ? { inm } : {}), status: r.statusCode ?? 0 });
          }
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      },
    );
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayHome = mkdtempSync(join(tmpdir(), `podnet-home-relay-${process.pid}-`));
    try {
      const port = (relay.address() as AddressInfo).port;
      const kubeconfig = readFileSync(join(dir, 'kubeconfig'), 'utf8').replace(server.url, `https://127.0.0.1:${port}`);
      const env = { HOME: relayHome, KUBECONFIG: write('kubeconfig-relay', kubeconfig) };
      const file = write('list.yaml', list('echo', 'podnet/echo:1.2'));
      for (let i = 0; i < 2; i++) {
        const r = await kubectl(['apply', '-f', file], env);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout).toContain('deployment.apps/echo unchanged');
      }
      const v2 = seen.filter((x) => x.path === '/openapi/v2');
      expect(v2).toHaveLength(2);
      expect(v2[0]).toEqual({ path: '/openapi/v2', status: 200 });
      expect(v2[1]).toEqual({ path: '/openapi/v2', inm: expect.stringMatching(/^"[0-9A-F]{128}"$/), status: 304 });
      expect(seen.filter((x) => x.path === '/openapi/v3').at(-1)).toMatchObject({ inm: expect.any(String), status: 304 });
      // Fetched with ?hash= once, then served from kubectl's cache (Cache-Control: public, immutable).
      expect(seen.filter((x) => x.path === '/openapi/v3/apis/apps/v1')).toEqual([{ path: '/openapi/v3/apis/apps/v1', status: 200 }]);
    } finally {
      relay.close();
      rmSync(relayHome, { recursive: true, force: true });
    }
  });
});
