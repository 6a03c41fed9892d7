import { describe, expect, it } from 'vitest';
import type { KubeProxyError } from './errors.js';
import { ServiceChangeTracker, ServicePortMap } from './service-change-tracker.js';
import { makeService } from './testing/fixtures.js';
import type { Service } from './types.js';

const web = (mutate: (s: Service & { spec: NonNullable<Service['spec']> }) => void = () => {}) =>
  makeService('default', 'web', (s) => {
    s.spec.clusterIP = '10.96.0.20';
    s.spec.ports = [
      { name: 'http', port: 80, protocol: 'TCP' },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ];
    mutate(s);
  });

describe('ServiceChangeTracker', () => {
  it('drops an update that changes nothing the proxier renders (labels, annotations, resourceVersion)', () => {
    const t = new ServiceChangeTracker();
    const before = web();
    const after = web((s) => {
      s.metadata.labels = { app: 'web', tier: 'frontend' };
      s.metadata.annotations = { note: 'changed' };
      s.metadata.resourceVersion = '42';
    });
    expect(t.update(before, after)).toBe(false);
    expect(t.pending).toBe(0);
  });

  it('merges repeated updates into one {previous, current} change and drops add+delete', () => {
    const t = new ServiceChangeTracker();
    const v1 = web();
    const v2 = web((s) => {
      s.spec.ports![0]!.port = 8080;
    });
    const v3 = web((s) => {
      s.spec.ports![0]!.port = 9090;
    });
    expect(t.update(undefined, v1)).toBe(true);
    expect(t.update(v1, v2)).toBe(true);
    expect(t.update(v2, v3)).toBe(true);
    expect(t.pending).toBe(1);
    const changes = t.checkout();
    const change = changes.get('default/web')!;
    expect(change.previous.size).toBe(0);
    expect(change.current.get('default/web:http/TCP')?.port).toBe(9090);

    expect(t.update(undefined, v1)).toBe(true);
    expect(t.update(v1, undefined)).toBe(false);
    expect(t.pending).toBe(0);
  });

  it('returns to no-op when an update is reverted before the sync', () => {
    const t = new ServiceChangeTracker();
    const v1 = web();
    const v2 = web((s) => {
      s.spec.sessionAffinity = 'ClientIP';
    });
    expect(t.update(v1, v2)).toBe(true);
    expect(t.update(v2, v1)).toBe(false);
  });

  it('ignores headless and ExternalName Services, and reports a nameless one', () => {
    const errors: KubeProxyError[] = [];
    const t = new ServiceChangeTracker({ onInvalid: (e) => errors.push(e) });
    expect(
      t.update(
        undefined,
        web((s) => (s.spec.clusterIP = 'None')),
      ),
    ).toBe(false);
    expect(
      t.update(
        undefined,
        web((s) => (s.spec.type = 'ExternalName')),
      ),
    ).toBe(false);
    expect(t.update(undefined, { metadata: {}, spec: { clusterIP: '10.96.0.1', ports: [{ port: 1 }] } })).toBe(false);
    expect(errors.map((e) => e.code)).toEqual(['PODNET_ERR_KUBE_PROXY_INVALID_OBJECT']);
    expect(errors[0]!.message).toMatch(/metadata\.name/);
    // A port the rules cannot express is reported and skipped; the other ports stay.
    const map = new ServicePortMap();
    t.update(
      undefined,
      web((s) => {
        s.spec.ports!.push({ name: 'bad', port: 70000 }, { name: 'np', port: 81, nodePort: -1 });
      }),
    );
    map.update(t);
    expect(map.size).toBe(2);
    expect(errors.slice(1).map((e) => e.message)).toEqual([
      'Service default/web port "bad" ignored: port 70000 is not in 1..65535; fix the Service spec',
      'Service default/web port "np" ignored: nodePort -1 is not in 1..65535; fix the Service spec',
    ]);
  });

  it('counts every change it is given, and records creation times only for Services created after it started', () => {
    let changes = 0;
    const t = new ServiceChangeTracker({ startedAt: Date.parse('2026-01-01T00:00:00Z'), onChange: () => changes++ });
    t.update(
      undefined,
      web((s) => (s.metadata.creationTimestamp = '2026-01-01T00:00:05Z')),
    );
    t.update(
      undefined,
      makeService('default', 'old', (s) => {
        s.spec.clusterIP = '10.96.0.21';
        s.spec.ports = [{ port: 80 }];
        s.metadata.creationTimestamp = '2025-12-31T00:00:00Z';
      }),
    );
    expect(changes).toBe(2);
    const map = new ServicePortMap();
    const result = map.update(t);
    expect([...result.createdAt]).toEqual([['default/web', Date.parse('2026-01-01T00:00:05Z')]]);
  });
});

describe('ServicePortMap', () => {
  it('applies changes, reports updated services and the cluster IPs of deleted UDP ports', () => {
    const t = new ServiceChangeTracker();
    const map = new ServicePortMap();
    const v1 = web();
    t.update(undefined, v1);
    let result = map.update(t);
    expect(map.size).toBe(2);
    expect([...result.updatedServices]).toEqual(['default/web']);
    expect(t.pending).toBe(0);

    const v2 = web((s) => {
      s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
    });
    t.update(v1, v2);
    result = map.update(t);
    expect(map.size).toBe(1);
    expect([...result.deletedUDPClusterIPs]).toEqual(['10.96.0.20']);
    expect(map.get('default/web:http/TCP')?.clusterPolicyChain).toBe('KUBE-SVC-CDGGSHYLG3RE2FKL');
  });

  it('captures every field the renderer uses', () => {
    const t = new ServiceChangeTracker();
    const map = new ServicePortMap();
    t.update(
      undefined,
      makeService('default', 'lb', (s) => {
        s.spec.type = 'LoadBalancer';
        s.spec.clusterIP = '10.96.0.30';
        s.spec.externalIPs = ['198.51.100.1', 'fd00::1'];
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.internalTrafficPolicy = 'Local';
        s.spec.healthCheckNodePort = 32000;
        s.spec.loadBalancerSourceRanges = [' 203.0.113.7/24', 'not-a-cidr'];
        s.spec.sessionAffinity = 'ClientIP';
        s.spec.ports = [{ name: 'https', port: 443, nodePort: 30443 }];
        s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.10' }, { ip: '192.0.2.11', ipMode: 'Proxy' }, { hostname: 'lb.example' }] } };
      }),
    );
    map.update(t);
    const info = map.get('default/lb:https/TCP')!;
    expect(info).toMatchObject({
      clusterIP: '10.96.0.30',
      port: 443,
      protocol: 'TCP',
      nodePort: 30443,
      externalIPs: ['198.51.100.1'],
      loadBalancerVIPs: ['192.0.2.10'],
      loadBalancerSourceRanges: ['203.0.113.0/24'],
      sessionAffinity: 'ClientIP',
      stickyMaxAgeSeconds: 10800,
      externalPolicyLocal: true,
      internalPolicyLocal: true,
      healthCheckNodePort: 32000,
    });
    expect(map.healthCheckNodePorts()).toEqual(new Map([['default/lb', 32000]]));
  });
});
