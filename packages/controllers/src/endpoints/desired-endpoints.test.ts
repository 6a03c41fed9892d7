import { describe, expect, it } from 'vitest';
import type { Pod, Service } from '../kube-types.js';
import { desiredSlices, desiredSubsets, findPort } from './desired-endpoints.js';

const svc: Service = {
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    selector: { app: 'web' },
    ports: [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'metrics', port: 9090, targetPort: 9090 },
    ],
  },
};
const pod = (name: string, ip: string, opts: { ready?: boolean; terminating?: boolean; httpPort?: number; phase?: string } = {}): Pod => ({
  metadata: { name, namespace: 'default', uid: `u-${name}`, ...(opts.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  spec: {
    nodeName: 'node-1',
    containers: [{ name: 'c', ports: [{ name: 'http', containerPort: opts.httpPort ?? 8080, protocol: 'TCP' }] }],
  },
  status: { phase: opts.phase ?? 'Running', podIP: ip, conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});

describe('desiredSlices', () => {
  it('resolves named target ports per pod and sets ready/serving/terminating', () => {
    const slices = desiredSlices(svc, [
      pod('a', '10.244.1.2'),
      pod('b', '10.244.1.3', { ready: false }),
      pod('c', '10.244.1.4', { terminating: true }),
    ]);
    expect(slices).toHaveLength(1);
    expect(slices[0]!.ports).toEqual([
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'metrics', port: 9090, protocol: 'TCP' },
    ]);
    expect(slices[0]!.endpoints.map((e) => [e.addresses[0], e.conditions])).toEqual([
      ['10.244.1.2', { ready: true, serving: true, terminating: false }],
      ['10.244.1.3', { ready: false, serving: false, terminating: false }],
      ['10.244.1.4', { ready: false, serving: true, terminating: true }],
    ]);
    expect(slices[0]!.endpoints[0]).toMatchObject({ nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'a', uid: 'u-a' } });
  });
  it('marks every endpoint ready and serving when the Service publishes not-ready addresses', () => {
    const publishing: Service = { ...svc, spec: { ...svc.spec, publishNotReadyAddresses: true } };
    const [slice] = desiredSlices(publishing, [
      pod('b', '10.244.1.3', { ready: false }),
      pod('c', '10.244.1.4', { ready: false, terminating: true }),
    ]);
    expect(slice!.endpoints.map((e) => e.conditions)).toEqual([
      { ready: true, serving: true, terminating: false },
      { ready: true, serving: true, terminating: true },
    ]);
  });
  it('groups pods by resolved ports, drops pods without IP or finished, packs at most 100 per slice', () => {
    const pods = Array.from({ length: 250 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, `10.244.1.${i % 250}`));
    pods.push(pod('other', '10.244.2.9', { httpPort: 8081 }), pod('noip', ''), pod('done', '10.244.2.8', { phase: 'Succeeded' }));
    const slices = desiredSlices(svc, pods);
    expect(slices.map((s) => s.endpoints.length).sort((a, b) => a - b)).toEqual([1, 50, 100, 100]);
    expect(slices.find((s) => s.endpoints.length === 1)!.ports[0]!.port).toBe(8081);
  });
  it('findPort: numbers as is, names by container port and protocol, else undefined', () => {
    const p = pod('a', '1.2.3.4');
    expect(findPort(p, 'http', 80, 'TCP')).toBe(8080);
    expect(findPort(p, 'http', 80, 'UDP')).toBeUndefined();
    expect(findPort(p, undefined, 80, 'TCP')).toBe(80);
    expect(findPort(p, '8443', 80, 'TCP')).toBe(8443);
  });
});

describe('desiredSubsets (core/v1 Endpoints)', () => {
  it('puts ready pods in addresses, not-ready in notReadyAddresses, and leaves terminating pods out', () => {
    const subsets = desiredSubsets(svc, [
      pod('a', '10.244.1.2'),
      pod('b', '10.244.1.3', { ready: false }),
      pod('c', '10.244.1.4', { terminating: true }),
    ]);
    expect(subsets).toHaveLength(1);
    expect(subsets[0]!.addresses?.map((a) => a.ip)).toEqual(['10.244.1.2']);
    expect(subsets[0]!.notReadyAddresses?.map((a) => a.ip)).toEqual(['10.244.1.3']);
  });
});
