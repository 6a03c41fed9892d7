import { describe, expect, it } from 'vitest';
import { EndpointsChangeTracker, EndpointsMap, endpointsFromSlices } from './endpoints-change-tracker.js';
import type { KubeProxyError } from './errors.js';
import { makeSlice, tcpPort, udpPort } from './testing/fixtures.js';
import { ANNOTATION_LAST_CHANGE_TRIGGER_TIME } from './types.js';

const ep = (ip: string, nodeName?: string, conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean }) => ({
  addresses: [ip],
  ...(nodeName ? { nodeName } : {}),
  ...(conditions ? { conditions } : {}),
});

describe('EndpointsChangeTracker', () => {
  it('drops a slice update that changes nothing the proxier reads', () => {
    const t = new EndpointsChangeTracker({ hostname: 'node-1' });
    const map = new EndpointsMap();
    const slice = makeSlice('default', 'web', 1, [ep('10.244.1.5', 'node-1')], [tcpPort('http', 8080)]);
    expect(t.endpointSliceUpdate(slice, false)).toBe(true);
    map.update(t);
    const relabelled = {
      ...slice,
      metadata: { ...slice.metadata, labels: { ...slice.metadata.labels, extra: 'x' }, resourceVersion: '9' },
    };
    expect(t.endpointSliceUpdate(relabelled, false)).toBe(false);
    expect(t.pending).toBe(0);
  });

  it('merges several slices of one Service, resolving ports by name and protocol, deduplicating endpoints', () => {
    const slices = [
      makeSlice(
        'kube-system',
        'kube-dns',
        1,
        [ep('10.244.1.2', 'node-1'), ep('10.244.3.2', 'node-3')],
        [udpPort('dns', 53), tcpPort('dns-tcp', 53)],
      ),
      // Same ports in another order, one endpoint also in slice 1 (a rebalance in progress).
      makeSlice(
        'kube-system',
        'kube-dns',
        2,
        [ep('10.244.2.2', 'node-2'), ep('10.244.3.2', 'node-3')],
        [tcpPort('dns-tcp', 53), udpPort('dns', 53)],
      ),
      // A port without a number is ignored.
      makeSlice('kube-system', 'kube-dns', 3, [ep('10.244.4.2', 'node-4')], [{ name: 'metrics' }]),
    ];
    const map = endpointsFromSlices('kube-system', 'kube-dns', slices, 'node-1');
    expect([...map.keys()].sort()).toEqual(['kube-system/kube-dns:dns-tcp/TCP', 'kube-system/kube-dns:dns/UDP']);
    const dns = map.get('kube-system/kube-dns:dns/UDP')!.endpoints;
    expect(dns.map((e) => e.endpoint)).toEqual(['10.244.1.2:53', '10.244.2.2:53', '10.244.3.2:53']);
    expect(dns.map((e) => e.isLocal)).toEqual([true, false, false]);
    expect(dns[0]!.chain).toMatch(/^KUBE-SEP-[A-Z2-7]{16}$/);
  });

  it('applies condition defaults: ready nil = true, serving nil = ready, terminating nil = false', () => {
    const map = endpointsFromSlices(
      'default',
      'web',
      [
        makeSlice(
          'default',
          'web',
          1,
          [
            ep('10.244.1.1'),
            ep('10.244.1.2', undefined, { ready: false }),
            ep('10.244.1.3', undefined, { ready: false, serving: true, terminating: true }),
          ],
          [tcpPort('http', 80)],
        ),
      ],
      'node-1',
    );
    const eps = map.get('default/web:http/TCP')!.endpoints;
    expect(eps.map((e) => [e.ready, e.serving, e.terminating])).toEqual([
      [true, true, false],
      [false, false, false],
      [false, true, true],
    ]);
  });

  it('ignores FQDN and IPv6 slices (an IPv4 proxier)', () => {
    let changes = 0;
    const t = new EndpointsChangeTracker({ hostname: 'node-1', onChange: () => changes++ });
    const fqdn = {
      ...makeSlice('default', 'web', 1, [{ addresses: ['example.com'] }], [tcpPort('http', 80)]),
      addressType: 'FQDN' as const,
    };
    const v6 = { ...makeSlice('default', 'web', 2, [{ addresses: ['fd00::1'] }], [tcpPort('http', 80)]), addressType: 'IPv6' as const };
    expect(t.endpointSliceUpdate(fqdn, false)).toBe(false);
    expect(t.endpointSliceUpdate(v6, false)).toBe(false);
    expect(changes).toBe(0);
  });

  it('a slice removal after an update yields one change; removing an unknown slice is a no-op', () => {
    const t = new EndpointsChangeTracker({ hostname: 'node-1' });
    const map = new EndpointsMap();
    const s1 = makeSlice('default', 'web', 1, [ep('10.244.1.5')], [tcpPort('http', 8080)]);
    const s2 = makeSlice('default', 'web', 2, [ep('10.244.2.5')], [tcpPort('http', 8080)]);
    t.endpointSliceUpdate(s1, false);
    t.endpointSliceUpdate(s2, false);
    expect(t.pending).toBe(1);
    map.update(t);
    expect(map.get('default/web:http/TCP').map((e) => e.ip)).toEqual(['10.244.1.5', '10.244.2.5']);
    expect(t.endpointSliceUpdate(makeSlice('default', 'web', 7, [], []), true)).toBe(false);
    t.endpointSliceUpdate(s2, true);
    const result = map.update(t);
    expect([...result.updatedServices]).toEqual(['default/web']);
    expect(map.get('default/web:http/TCP').map((e) => e.ip)).toEqual(['10.244.1.5']);
  });

  it('reports UDP endpoints that stopped existing and UDP services that became active', () => {
    const t = new EndpointsChangeTracker({ hostname: 'node-1' });
    const map = new EndpointsMap();
    t.endpointSliceUpdate(makeSlice('default', 'dns', 1, [], [udpPort('dns', 53)]), false);
    map.update(t);
    t.endpointSliceUpdate(makeSlice('default', 'dns', 1, [ep('10.244.1.2'), ep('10.244.2.2')], [udpPort('dns', 53)]), false);
    let result = map.update(t);
    expect(result.newlyActiveUDPServices).toEqual(['default/dns:dns/UDP']);
    expect(result.deletedUDPEndpoints).toEqual([]);
    t.endpointSliceUpdate(makeSlice('default', 'dns', 1, [ep('10.244.1.2')], [udpPort('dns', 53)]), false);
    result = map.update(t);
    expect(result.deletedUDPEndpoints.map((d) => [d.servicePortKey, d.endpoint.endpoint])).toEqual([
      ['default/dns:dns/UDP', '10.244.2.2:53'],
    ]);
    expect(result.newlyActiveUDPServices).toEqual([]);
  });

  it('keeps last-change-trigger-times of real changes made after it started, and rejects slices without a service label', () => {
    const errors: KubeProxyError[] = [];
    const t = new EndpointsChangeTracker({
      hostname: 'node-1',
      startedAt: Date.parse('2026-01-01T00:00:00Z'),
      onInvalid: (e) => errors.push(e),
    });
    const map = new EndpointsMap();
    t.endpointSliceUpdate(
      makeSlice('default', 'web', 1, [ep('10.244.1.5')], [tcpPort('http', 80)], {
        [ANNOTATION_LAST_CHANGE_TRIGGER_TIME]: '2026-01-01T00:00:10Z',
      }),
      false,
    );
    t.endpointSliceUpdate(
      makeSlice('default', 'old', 1, [ep('10.244.1.6')], [tcpPort('http', 80)], {
        [ANNOTATION_LAST_CHANGE_TRIGGER_TIME]: '2025-06-01T00:00:00Z',
      }),
      false,
    );
    const unlabelled = makeSlice('default', 'web', 2, [ep('10.244.1.7')], [tcpPort('http', 80)]);
    unlabelled.metadata.labels = {};
    expect(t.endpointSliceUpdate(unlabelled, false)).toBe(true);
    expect(errors[0]?.message).toMatch(/kubernetes\.io\/service-name/);
    const result = map.update(t);
    expect([...result.lastChangeTriggerTimes]).toEqual([['default/web', [Date.parse('2026-01-01T00:00:10Z')]]]);
  });
});
