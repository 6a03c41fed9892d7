// Server-side field validation (KEP-2885, fieldValidation=Strict|Warn|Ignore) against the real
// API server process, driven by the real kubectl 1.32 (fresh HOME) and @kubernetes/client-node 1.4:
// nested typos are found at the path upstream reports, Strict refuses them (kubectl's default),
// Warn (the default of other clients) answers one Warning header per field, Ignore drops them,
// and in every mode nothing unknown is stored.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.ts';
import { api, credentials, type ServerProcess, startServer } from './support.ts';

const TYPO = 'spec.template.spec.containers[0].imagePullPolcy';

const deployment = (name: string, containerExtra: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: echo
        image: podnet/echo:1.0
${containerExtra}`;

let dir: string;
let server: ServerProcess;
let ca: string;
let token: string;
const call = (method: string, path: string, body?: unknown, ct?: string) => api(server.url, ca, token, method, path, body, ct);

/** One request with the raw header lines (Node joins repeated headers in `headers`). */
function rawRequest(method: string, path: string, body: string, contentType: string) {
  const u = new URL(path, server.url);
  return new Promise<{ status: number; warnings: string[]; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        ca,
        headers: { authorization: `Bearer ${token}`, 'content-type': contentType, accept: 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => {
          const warnings: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            if (res.rawHeaders[i]?.toLowerCase() === 'warning') warnings.push(res.rawHeaders[i + 1] as string);
          resolve({ status: res.statusCode ?? 0, warnings, body: JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `podnet-fieldvalidation-${process.pid}-`));
  server = await startServer(dir);
  ({ ca, token } = credentials(dir));
});
afterAll(async () => {
  server?.proc.kill('SIGTERM');
  await server?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describeInterop('kubectl apply and server-side field validation', { commands: ['kubectl'] }, () => {
  let home: string;
  const kubectl = (args: string[]) =>
    execa('kubectl', args, { env: { HOME: home, KUBECONFIG: join(dir, 'kubeconfig') }, extendEnv: true, reject: false, timeout: 60_000 });
  const write = (file: string, text: string) => {
    writeFileSync(join(dir, file), text);
    return join(dir, file);
  };
  /** The query kubectl -v=6 logs on its writes: "POST /path?query". */
  const writes = (stderr: string) =>
    [...stderr.matchAll(/round_trippers\.go:\d+\] (POST|PATCH|PUT) https:\/\/[^/]+(\/\S*)/g)].map((m) => `${m[1]} ${m[2]}`);
  const stored = async (name: string) => (await call('GET', `/apis/apps/v1/namespaces/default/deployments/${name}`)).body;

  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), `podnet-home-fieldvalidation-${process.pid}-`));
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('apply -f of a Deployment with a nested typo fails (fieldValidation=Strict), naming the field; nothing is created', async () => {
    const file = write('typo.yaml', deployment('typo', '        imagePullPolcy: Always\n'));
    const r = await kubectl(['apply', '-f', file, '-v=6']);
    expect(r.exitCode).toBe(1);
    expect(writes(r.stderr)).toEqual([
      'POST /apis/apps/v1/namespaces/default/deployments?fieldManager=kubectl-client-side-apply&fieldValidation=Strict',
    ]);
    expect(r.stderr).toContain(
      `Error from server (BadRequest): error when creating "${file}": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "${TYPO}"`,
    );
    expect((await call('GET', '/apis/apps/v1/namespaces/default/deployments/typo')).status).toBe(404);
  });

  it('apply --validate=warn succeeds, prints the warning, and does not store the field', async () => {
    const r = await kubectl([
      'apply',
      '--validate=warn',
      '-f',
      write('warn.yaml', deployment('warned', '        imagePullPolcy: Always\n')),
      '-v=6',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(writes(r.stderr)[0]).toMatch(/^POST \S+fieldValidation=Warn$/);
    expect(r.stderr).toContain(`Warning: unknown field "${TYPO}"`);
    expect(r.stdout).toBe('deployment.apps/warned created');
    const c = (await stored('warned')).spec.template.spec.containers[0];
    expect(c.imagePullPolcy).toBeUndefined();
    expect(c).toMatchObject({ name: 'echo', image: 'podnet/echo:1.0' });
  });

  it('re-apply of an existing Deployment with a typo is refused on the strategic merge patch; the object is unchanged', async () => {
    const before = await stored('warned');
    const r = await kubectl([
      'apply',
      '-f',
      write('warn2.yaml', deployment('warned', '        imagePullPolicy: Never\n        imagePullPolcy: Never\n')),
      '-v=6',
    ]);
    expect(r.exitCode).toBe(1);
    expect(writes(r.stderr)).toEqual([
      'PATCH /apis/apps/v1/namespaces/default/deployments/warned?fieldManager=kubectl-client-side-apply&fieldValidation=Strict',
    ]);
    // handlers/patch.go: 422 Invalid on `patch`, the patch shown as Go prints a map.
    expect(r.stderr).toMatch(/The request is invalid: patch: Invalid value: "map\[metadata:map\[annotations:/);
    expect(r.stderr).toContain(`containers:[map[imagePullPolcy:Never imagePullPolicy:Never name:echo]]`);
    expect(r.stderr).toContain(`: strict decoding error: unknown field "${TYPO}"`);
    expect((await stored('warned')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('apply --validate=false succeeds silently (fieldValidation=Ignore) and drops the field', async () => {
    const r = await kubectl([
      'apply',
      '--validate=false',
      '-f',
      write('ignore.yaml', deployment('warned', '        imagePullPolicy: Never\n        imagePullPolcy: Never\n')),
      '-v=6',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(writes(r.stderr)[0]).toMatch(/^PATCH \S+fieldValidation=Ignore$/);
    expect(r.stderr).not.toMatch(/warning/i);
    expect(r.stdout).toBe('deployment.apps/warned configured');
    const c = (await stored('warned')).spec.template.spec.containers[0];
    expect(c.imagePullPolicy).toBe('Never');
    expect(c.imagePullPolcy).toBeUndefined();
  });

  it('create -f of a Service with a typo in a port fails the same way', async () => {
    const file = write(
      'svc.yaml',
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\nspec:\n  selector: {app: x}\n  ports:\n  - port: 80\n    targetPrt: 8080\n',
    );
    const r = await kubectl(['create', '-f', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      `Error from server (BadRequest): error when creating "${file}": Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.ports[0].targetPrt"`,
    );
    expect((await call('GET', '/api/v1/namespaces/default/services/typo')).status).toBe(404);
  });
});

describe('fieldValidation over the REST API', () => {
  const pod = (name: string, container: Record<string, unknown>) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'i', ...container }] },
  });

  it('Warn is the default: one Warning header per unknown field, none stored', async () => {
    const r = await rawRequest(
      'POST',
      '/api/v1/namespaces/default/pods',
      JSON.stringify({
        ...pod('warned', { prots: [], resources: { limits: { cpu: '1' }, limts: {} } }),
        metadata: { name: 'warned', labls: {} },
      }),
      'application/json',
    );
    expect(r.status).toBe(201);
    expect(r.warnings).toEqual([
      '299 - "unknown field \\"metadata.labls\\""',
      '299 - "unknown field \\"spec.containers[0].prots\\""',
      '299 - "unknown field \\"spec.containers[0].resources.limts\\""',
    ]);
    const c = (r.body.spec as { containers: Record<string, unknown>[] }).containers[0];
    expect(c).toMatchObject({ name: 'c', resources: { limits: { cpu: '1' } } });
    expect(c?.prots).toBeUndefined();
    expect((await call('GET', '/api/v1/namespaces/default/pods/warned')).body.metadata.labls).toBeUndefined();
  });

  it('Strict reports duplicate fields of the JSON body with the unknown ones; Warn warns about both', async () => {
    const body =
      '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dup","labels":{"a":"1","a":"2"}},"spec":{"containers":[{"name":"c","image":"i","image":"j","imag":"k"}]}}';
    const strict = await rawRequest('POST', '/api/v1/namespaces/default/pods?fieldValidation=Strict', body, 'application/json');
    expect(strict.status).toBe(400);
    expect(strict.body).toMatchObject({
      reason: 'BadRequest',
      message:
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: duplicate field "metadata.labels.a", duplicate field "spec.containers[0].image", unknown field "spec.containers[0].imag"',
    });
    expect((await call('GET', '/api/v1/namespaces/default/pods/dup')).status).toBe(404);
    const warn = await rawRequest('POST', '/api/v1/namespaces/default/pods?fieldValidation=Warn', body, 'application/json');
    expect(warn.status).toBe(201);
    expect(warn.warnings).toHaveLength(3);
    // As JSON.parse (and Go's decoder), the last value wins.
    expect(warn.body).toMatchObject({ metadata: { labels: { a: '2' } }, spec: { containers: [{ image: 'j' }] } });
  });

  it('a merge patch is checked on the patched object (Warn by default, 422 on `patch` under Strict)', async () => {
    const path = '/apis/apps/v1/namespaces/default/deployments/patched';
    const created = await call('POST', '/apis/apps/v1/namespaces/default/deployments', {
      metadata: { name: 'patched' },
      spec: {
        selector: { matchLabels: { app: 'p' } },
        template: { metadata: { labels: { app: 'p' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    });
    expect(created.status).toBe(201);
    const containers = '{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","stdinn":true}]}}}}';
    const warn = await rawRequest('PATCH', path, containers, 'application/merge-patch+json');
    expect(warn.status).toBe(200);
    expect(warn.warnings).toEqual(['299 - "unknown field \\"spec.template.spec.containers[0].stdinn\\""']);
    const strict = await rawRequest(
      'PATCH',
      `${path}?fieldValidation=Strict`,
      '{"metadata":{"annotations":{"x":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","stdinn":true}]}}}}',
      'application/merge-patch+json',
    );
    expect(strict.status).toBe(422);
    expect(strict.body.reason).toBe('Invalid');
    expect(strict.body.message).toMatch(
      /^ "" is invalid: patch: Invalid value: "\{.*\}": strict decoding error: unknown field "spec\.template\.spec\.containers\[0\]\.stdinn"$/,
    );
    expect((await call('GET', path)).body.metadata.annotations?.x).toBeUndefined();
    const json = await rawRequest(
      'PATCH',
      `${path}?fieldValidation=Strict`,
      '[{"op":"add","path":"/spec/pausd","value":true}]',
      'application/json-patch+json',
    );
    expect(json.status).toBe(422);
    expect(json.body.message).toContain('strict decoding error: unknown field "spec.pausd"');
    const dup = await rawRequest(
      'PATCH',
      `${path}?fieldValidation=Strict`,
      '{"spec":{"paused":true,"paused":false}}',
      'application/merge-patch+json',
    );
    expect(dup.status).toBe(422);
    expect(dup.body.message).toContain('strict decoding error: duplicate field "spec.paused"');
  });

  it('a fieldValidation value other than Strict, Warn or Ignore is 422 Invalid and changes nothing', async () => {
    const r = await call('POST', '/api/v1/namespaces/default/pods?fieldValidation=strict', pod('bad-mode', {}));
    expect(r.status).toBe(422);
    expect(r.body.message).toBe(
      'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"',
    );
    expect((await call('GET', '/api/v1/namespaces/default/pods/bad-mode')).status).toBe(404);
    const p = await call(
      'PATCH',
      '/api/v1/namespaces/default/pods/warned?fieldValidation=Loud',
      { spec: {} },
      'application/merge-patch+json',
    );
    expect(p.status).toBe(422);
    expect(p.body.message).toMatch(/^PatchOptions\.meta\.k8s\.io "" is invalid: fieldValidation: Unsupported value: "Loud"/);
  });
});

describe('@kubernetes/client-node and field validation', () => {
  const clients = () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    return kc.makeApiClient(k8s.AppsV1Api);
  };
  const body = (name: string): k8s.V1Deployment => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'c:1' }] } },
    },
  });

  it('a patch with a nested unknown field gets the Warning header (client-node sends no fieldValidation: Warn)', async () => {
    const apps = clients();
    const created = await apps.createNamespacedDeploymentWithHttpInfo({ namespace: 'default', body: body('cn') });
    expect(created.httpStatusCode).toBe(201);
    expect(created.headers.warning).toBeUndefined();
    const patched = await apps.patchNamespacedDeploymentWithHttpInfo(
      {
        name: 'cn',
        namespace: 'default',
        body: { spec: { template: { spec: { containers: [{ name: 'c', imagePullPolcy: 'Always' }] } } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    expect(patched.httpStatusCode).toBe(200);
    expect(patched.headers.warning).toBe('299 - "unknown field \\"spec.template.spec.containers[0].imagePullPolcy\\""');
    expect(patched.data.spec?.template.spec?.containers[0]).toMatchObject({ name: 'c', image: 'c:1' });
  });

  it('a typed create cannot carry an unknown field: client-node serializes by the model and drops it before sending', async () => {
    const apps = clients();
    const withTypo = body('cn-typed');
    (withTypo.spec?.template.spec?.containers[0] as unknown as Record<string, unknown>).imagePullPolcy = 'Always';
    const created = await apps.createNamespacedDeploymentWithHttpInfo({ namespace: 'default', body: withTypo });
    expect(created.httpStatusCode).toBe(201);
    expect(created.headers.warning).toBeUndefined();
  });
});
