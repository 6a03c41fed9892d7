import { describe, expect, it } from 'vitest';
import { decodeWatchEvent, encodeWatchEvent } from './proto.ts';

const pod = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: {
    name: 'web-1',
    namespace: 'default',
    uid: 'u1',
    resourceVersion: '42',
    creationTimestamp: '2026-12-01T19:00:00Z',
    labels: { app: 'web' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-x', uid: 'u0', controller: true }],
  },
  spec: {
    nodeName: 'node-1',
    containers: [
      {
        name: 'web',
        image: 'podnet/echo:1.0',
        args: ['--port', '8080'],
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
  },
  status: {
    phase: 'Running',
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }],
    containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
  },
};

describe('protobuf watch codec', () => {
  it('round-trips a Pod, keeping zero values that carry meaning (ready false, restartCount 0, exitCode 0)', () => {
    const back = decodeWatchEvent(encodeWatchEvent({ type: 'ADDED', object: pod }));
    expect(back.type).toBe('ADDED');
    expect(back.resourceVersion).toBe('42');
    expect(back.object).toEqual(pod);
  });

  it('round-trips a Service with a named and a numeric targetPort (IntOrString)', () => {
    const svc = {
      kind: 'Service',
      apiVersion: 'v1',
      metadata: { name: 's', namespace: 'default', resourceVersion: '7' },
      spec: {
        type: 'NodePort',
        clusterIP: '10.96.0.20',
        ports: [
          { name: 'a', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30001 },
          { name: 'b', port: 81, targetPort: 'http', protocol: 'UDP' },
        ],
        selector: { app: 'web' },
      },
    };
    expect(decodeWatchEvent(encodeWatchEvent({ type: 'MODIFIED', object: svc })).object).toEqual(svc);
  });

  it('keeps an empty podSelector (select all pods) on a NetworkPolicy', () => {
    const np = {
      kind: 'NetworkPolicy',
      apiVersion: 'networking.k8s.io/v1',
      metadata: { name: 'deny', namespace: 'default', resourceVersion: '9' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    };
    expect(decodeWatchEvent(encodeWatchEvent({ type: 'ADDED', object: np })).object).toEqual(np);
  });

  it('round-trips EndpointSlice, Node, Lease and an ERROR Status', () => {
    const objs = [
      {
        kind: 'EndpointSlice',
        apiVersion: 'discovery.k8s.io/v1',
        metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node-1' }],
        ports: [{ port: 8080, protocol: 'TCP' }], // proto3: an empty string reads back as absent
      },
      {
        kind: 'Node',
        apiVersion: 'v1',
        metadata: { name: 'node-1', annotations: { 'podnet.dev/transport-address': '127.0.1.1' } },
        spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
        status: { addresses: [{ type: 'InternalIP', address: '172.18.0.2' }], capacity: { pods: '110' } },
      },
      {
        kind: 'Lease',
        apiVersion: 'coordination.k8s.io/v1',
        metadata: { name: 'node-1', namespace: 'kube-node-lease' },
        spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2026-12-01T19:00:00.000000Z' },
      },
      { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old' },
    ];
    for (const o of objs) expect(decodeWatchEvent(encodeWatchEvent({ type: 'ADDED', object: o })).object).toEqual(o);
  });

  it('carries other kinds as their JSON bytes, unchanged', () => {
    const dep = { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'd', resourceVersion: '3' }, spec: { x: [1] } };
    const back = decodeWatchEvent(encodeWatchEvent({ type: 'DELETED', object: dep }));
    expect(back).toEqual({ type: 'DELETED', resourceVersion: '3', object: dep });
    // As a WebSocket client hands it over: a plain Uint8Array, not a Buffer.
    const plain = new Uint8Array(encodeWatchEvent({ type: 'DELETED', object: dep }));
    expect(decodeWatchEvent(plain).object).toEqual(dep);
  });

  it('falls back to JSON bytes for an object that does not fit its message', () => {
    const odd = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'odd' }, spec: { containers: { not: 'a list' } } };
    expect(decodeWatchEvent(encodeWatchEvent({ type: 'ADDED', object: odd })).object).toEqual(odd);
  });

  it('rejects a message with no object', () => {
    expect(() => decodeWatchEvent(new Uint8Array([0x0a, 0x01, 0x41]))).toThrow(/PODNET_ERR_PROTO/);
  });
});
