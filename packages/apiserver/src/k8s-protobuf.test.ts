// The bytes kubectl 1.32 sent for `kubectl create namespace team-a`, `kubectl create deployment
// web --image=nginx:1.25 --replicas=2 --port=80` and `kubectl create service nodeport web
// --tcp=80:8080` (captured from the real client), decoded into the objects they stand for.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
