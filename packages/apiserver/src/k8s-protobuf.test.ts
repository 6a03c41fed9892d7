// The bytes kubectl 1.32 sent for `kubectl create namespace team-a`, `kubectl create deployment
// web --image=nginx:1.25 --replicas=2 --port=80` and `kubectl create service nodeport web
// --tcp=80:8080` (captured from the real client), decoded into the objects they stand for.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeK8sProtobuf } from './k8s-protobuf.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name));

describe('Kubernetes protobuf request bodies', () => {
  it('decodes kubectl create namespace', () => {
    expect(decodeK8sProtobuf(fixture('kubectl-create-namespace.pb'), 'POST')).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-a', generation: 0 },
      spec: {},
    });
  });

  it('decodes kubectl create deployment', () => {
    const d = decodeK8sProtobuf(fixture('kubectl-create-deployment.pb'), 'POST');
    expect(d).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80, hostPort: 0 }], resources: {} }] },
        },
        strategy: {},
      },
    });
  });

  it('decodes kubectl create service nodeport, with its IntOrString targetPort', () => {
    const s = decodeK8sProtobuf(fixture('kubectl-create-service-nodeport.pb'), 'POST');
    expect(s).toMatchObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        type: 'NodePort',
        selector: { app: 'web' },
        ports: [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 0 }],
      },
    });
  });

  it('refuses bodies without the k8s prefix, undecodable bytes, and kinds it does not model', () => {
    expect(() => decodeK8sProtobuf(Buffer.from('{"a":1}'), 'POST /x')).toThrow(/must start with the bytes/);
    expect(() => decodeK8sProtobuf(Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, 0xff])]), 'POST /x')).toThrow(
      /cannot be decoded/,
    );
    const cm = Buffer.concat([
      Buffer.from('k8s\0', 'latin1'),
      Buffer.from([0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, ...Buffer.from('ConfigMap')]),
    ]);
    expect(() => decodeK8sProtobuf(cm, 'POST /x')).toThrow(/only for .* not v1\/ConfigMap/);
  });
});

describe('review bodies (kubectl auth can-i, kubelet webhooks)', () => {
  // Captured from kubectl 1.32 -v=9 against podnet (namespace "default" from the context).
  it('decodes kubectl auth can-i get nodes/metrics: "nodes/metrics" is resource/name to can-i', () => {
    expect(decodeK8sProtobuf(fixture('kubectl-can-i-get-nodes-metrics.pb'), 'POST')).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: { generation: 0 },
      spec: { resourceAttributes: { namespace: 'default', verb: 'get', resource: 'nodes', name: 'metrics' } },
    });
  });

  it('decodes can-i create pods, --subresource, and a non-resource path', () => {
    expect(decodeK8sProtobuf(fixture('kubectl-can-i-create-pods.pb'), 'POST').spec).toEqual({
      resourceAttributes: { namespace: 'default', verb: 'create', resource: 'pods' },
    });
    expect(decodeK8sProtobuf(fixture('kubectl-can-i-get-subresource.pb'), 'POST').spec).toEqual({
      resourceAttributes: { namespace: 'default', verb: 'get', resource: 'nodes', subresource: 'metrics' },
    });
    expect(decodeK8sProtobuf(fixture('kubectl-can-i-nonresource.pb'), 'POST').spec).toEqual({
      nonResourceAttributes: { path: '/healthz', verb: 'get' },
    });
  });

  // Built field by field from the numbers in k8s.io/api authorization/v1 and authentication/v1
  // generated.proto (not from podnet's schema), as a Go client's Marshal writes them.
  const envelope = (apiVersion: string, kind: string, raw: Uint8Array) => {
    const tm = protobuf.Writer.create().uint32(0x0a).string(apiVersion).uint32(0x12).string(kind).finish();
    const unknown = protobuf.Writer.create().uint32(0x0a).bytes(tm).uint32(0x12).bytes(raw).finish();
    return Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown]);
  };
  const msg = (build: (w: protobuf.Writer) => protobuf.Writer) => build(protobuf.Writer.create()).finish();

  it('decodes a SubjectAccessReview with user, groups, extra and uid', () => {
    const attrs = msg((w) => w.uint32(0x12).string('get').uint32(0x2a).string('nodes').uint32(0x32).string('stats'));
    const extra = msg((w) =>
      w
        .uint32(0x0a)
        .string('scopes')
        .uint32(0x12)
        .bytes(msg((v) => v.uint32(0x0a).string('a').uint32(0x0a).string('b'))),
    );
    const spec = msg((w) =>
      w
        .uint32(0x0a)
        .bytes(attrs)
        .uint32(0x1a)
        .string('viewer')
        .uint32(0x22)
        .string('system:authenticated')
        .uint32(0x2a)
        .bytes(extra)
        .uint32(0x32)
        .string('uid-1'),
    );
    const body = envelope(
      'authorization.k8s.io/v1',
      'SubjectAccessReview',
      msg((w) => w.uint32(0x12).bytes(spec)),
    );
    expect(decodeK8sProtobuf(body, 'POST')).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        resourceAttributes: { verb: 'get', resource: 'nodes', subresource: 'stats' },
        user: 'viewer',
        groups: ['system:authenticated'],
        extra: { scopes: ['a', 'b'] },
        uid: 'uid-1',
      },
    });
  });

  it('decodes a TokenReview with audiences', () => {
    const spec = msg((w) => w.uint32(0x0a).string('tok').uint32(0x12).string('https://kubernetes.default.svc'));
    const body = envelope(
      'authentication.k8s.io/v1',
      'TokenReview',
      msg((w) => w.uint32(0x12).bytes(spec)),
    );
    expect(decodeK8sProtobuf(body, 'POST')).toEqual({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: 'tok', audiences: ['https://kubernetes.default.svc'] },
    });
  });
});
