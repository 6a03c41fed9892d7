import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../wire/src/testing/fake-clock.js';
import type { ConntrackFilter } from './conntrack-cleanup.js';
import { type ApplyOptions, IptablesProxier, type IptablesProxierOptions } from './iptables-proxier.js';
import { createProxier } from './proxier-modes.js';
import { makeService, makeSlice, tcpPort, udpPort } from './testing/fixtures.js';
import { ANNOTATION_LAST_CHANGE_TRIGGER_TIME } from './types.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function harness(options: Partial<IptablesProxierOptions> = {}) {
  const clock = new FakeClock(T0);
  const registry = new Registry();
  const applied: { payload: string; options: ApplyOptions }[] = [];
  const conntrack: ConntrackFilter[] = [];
  let failNext = 0;
  const proxier = new IptablesProxier({
    hostname: 'node-1',
    nodeIP: '172.18.0.2',
    clusterCIDR: '10.244.0.0/16',
    registry,
    clock,
    wallClock: () => clock.now(),
    apply: async (payload, opts) => {
      applied.push({ payload, options: opts });
      if (failNext > 0) {
        failNext--;
        throw new Error('iptables-restore: line 7 failed');
      }
    },
    deleteConntrack: async (f) => {
      conntrack.push(f);
    },
    ...options,
  });
  return {
    clock,
    registry,
    applied,
    conntrack,
    proxier,
    failNextApply: (n = 1) => {
      failNext = n;
    },
  };
}

const web = makeService('default', 'web', (s) => {
  s.spec.clusterIP = '10.96.0.20';
  s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
});
const dns = makeService('kube-system', 'kube-dns', (s) => {
  s.spec.clusterIP = '10.96.0.10';
  s.spec.type = 'NodePort';
  s.spec.ports = [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }];
});
const webSlice = (...ips: string[]) =>
  makeSlice(
    'default',
    'web',
    1,
    ips.map((ip) => ({ addresses: [ip], nodeName: 'node-1' })),
    [tcpPort('http', 8080)],
  );
const dnsSlice = (...ips: string[]) =>
  makeSlice(
    'kube-system',
    'kube-dns',
    1,
    ips.map((ip) => ({ addresses: [ip] })),
    [udpPort('dns', 53)],
  );

async function metric(registry: Registry, name: string): Promise<string> {
  return (await registry.getSingleMetricAsString(name)).trim();
}

describe('IptablesProxier', () => {
  it('does not sync before both informers have synced', async () => {
    const h = harness();
    h.proxier.onServiceAdd(web);
    h.proxier.onServicesSynced();
    const outcome = await h.proxier.syncProxyRules();
    expect(outcome.attempted).toBe(false);
    expect(h.applied).toHaveLength(0);
  });

  it('informer events drive rate-limited, coalesced syncs through the runner', async () => {
    const h = harness({ minSyncPeriodMs: 1000 });
    h.proxier.start();
    h.proxier.onServiceAdd(web);
    h.proxier.onEndpointSliceAdd(webSlice('10.244.1.5'));
    h.proxier.onServicesSynced();
    h.proxier.onEndpointSlicesSynced();
    await h.proxier.runner.settled();
    // One full sync: the main payload and the jump rules.
    expect(h.applied).toHaveLength(2);
    for (let i = 2; i < 30; i++) h.proxier.onEndpointSliceUpdate(webSlice('10.244.1.5'), webSlice('10.244.1.5', `10.244.2.${i}`));
    await h.proxier.runner.settled();
    expect(h.applied).toHaveLength(3); // the burst allowance (2) lets one more through at once
    h.proxier.onEndpointSliceUpdate(webSlice(), webSlice('10.244.1.9'));
    await h.proxier.runner.settled();
    expect(h.applied).toHaveLength(3); // minSyncPeriod not yet elapsed
    h.clock.advance(1000);
    await h.proxier.runner.settled();
    expect(h.applied).toHaveLength(4);
    expect(h.applied.at(-1)!.payload).toContain('--to-destination 10.244.1.9:8080');
    h.proxier.stop();
  });

  it('partial syncs rewrite only the changed Services; the mangle canary comes with full syncs', async () => {
    const h = harness();
    h.proxier.onServiceAdd(web);
    h.proxier.onServiceAdd(dns);
    h.proxier.onEndpointSliceAdd(webSlice('10.244.1.5'));
    h.proxier.onEndpointSliceAdd(dnsSlice('10.244.1.2'));
    h.proxier.onServicesSynced();
    h.proxier.onEndpointSlicesSynced();
    h.proxier.stop();
    const full = await h.proxier.syncProxyRules();
    expect(full.full).toBe(true);
    expect(full.rendered!.payload).toContain('*mangle\n:KUBE-PROXY-CANARY - [0:0]');
    h.proxier.onEndpointSliceUpdate(webSlice('10.244.1.5'), webSlice('10.244.1.5', '10.244.1.6'));
    const partial = await h.proxier.syncProxyRules();
    expect(partial.full).toBe(false);
    const payload = partial.rendered!.payload;
    expect(payload).not.toContain('*mangle');
    expect(payload).toContain(':KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]');
    const declaredServiceChains = payload.split('\n').filter((l) => /^:KUBE-(SVC|SEP|EXT|SVL|FW)-/.test(l));
    expect(declaredServiceChains).toEqual([
      ':KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]',
      expect.stringMatching(/^:KUBE-SEP-/),
      expect.stringMatching(/^:KUBE-SEP-/),
    ]);
    // kube-dns is still captured in KUBE-SERVICES (rewritten every sync) but its chains are left alone.
    expect(payload).toContain('"kube-system/kube-dns:dns cluster IP" -m udp');
    expect(payload).not.toContain('kube-system/kube-dns:dns ->');
    // The metrics count kept rules too (iptables_total) but only written ones in iptables_last.
    expect(partial.rendered!.rulesTotal.nat).toBeGreaterThan(partial.rendered!.rulesLast.nat);
    expect(h.applied.every((a) => a.options.noflush)).toBe(true);
  });

  it('a failed apply counts a restore failure and makes the next sync full', async () => {
    const h = harness();
    h.proxier.onServiceAdd(web);
    h.proxier.onEndpointSliceAdd(webSlice('10.244.1.5'));
    h.proxier.onServicesSynced();
    h.proxier.onEndpointSlicesSynced();
    h.proxier.stop();
    expect((await h.proxier.syncProxyRules()).ok).toBe(true);
    h.proxier.onEndpointSliceUpdate(webSlice(), webSlice('10.244.1.6'));
    h.failNextApply();
    const failed = await h.proxier.syncProxyRules();
    expect(failed).toMatchObject({ ok: false, full: false });
    expect(failed.error!.code).toBe('PODNET_ERR_KUBE_PROXY_APPLY');
    expect(failed.error!.message).toMatch(/line 7 failed; the next sync is a full resync/);
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total')).toMatch(/ 1$/);
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total')).toMatch(/ 1$/);
    const retried = await h.proxier.syncProxyRules();
    expect(retried).toMatchObject({ ok: true, full: true });
    // The full resync carries the change the failed partial sync lost.
    expect(retried.rendered!.payload).toContain('--to-destination 10.244.1.6:8080');
    expect(retried.rendered!.payload).not.toContain('--to-destination 10.244.1.5:8080');
  });

  it('a full sync is forced after fullSyncPeriod, and after the canary disappears (with the jump rules again)', async () => {
    const h = harness({ fullSyncPeriodMs: 60_000 });
    h.proxier.onServiceAdd(web);
    h.proxier.onServicesSynced();
    h.proxier.onEndpointSlicesSynced();
    h.proxier.stop();
    expect((await h.proxier.syncProxyRules()).full).toBe(true);
    expect((await h.proxier.syncProxyRules()).full).toBe(false);
    h.clock.advance(60_000);
    expect((await h.proxier.syncProxyRules()).full).toBe(true);
    const before = h.applied.length;
    h.proxier.onCanaryMissing();
    h.proxier.stop();
    const outcome = await h.proxier.syncProxyRules();
    expect(outcome.full).toBe(true);
    expect(h.applied.length - before).toBe(2);
    expect(h.applied.at(-1)!.payload).toContain('-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  });

  it('with iptables-save: deletes service chains of an earlier process, ensures only missing jump rules, watches the canary', async () => {
    let saved = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      'COMMIT',
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]',
      ':KUBE-SEP-BBBBBBBBBBBBBBBB - [0:0]',
      ':CNI-FOO - [0:0]',
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'COMMIT',
      '',
    ].join('\n');
    const h = harness({ iptablesSave: async () => saved });
    h.proxier.onServicesSynced();
    h.proxier.onEndpointSlicesSynced();
    h.proxier.stop();
    const outcome = await h.proxier.syncProxyRules();
    expect(outcome.rendered!.deletedChains).toEqual(['KUBE-SEP-BBBBBBBBBBBBBBBB', 'KUBE-SVC-AAAAAAAAAAAAAAAA']);
    expect(outcome.rendered!.payload).toContain(':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n');
    expect(outcome.rendered!.payload).toContain('-X KUBE-SVC-AAAAAAAAAAAAAAAA\n');
    expect(outcome.rendered!.payload).not.toContain('CNI-FOO');
    const jumps = h.applied[1]!.payload;
    expect(jumps.split('\n').filter((l) => l.startsWith('-I '))).toHaveLength(10); // 12 minus the 2 present
    expect(jumps).not.toContain('-I PREROUTING');
    expect(jumps).not.toContain('-I INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals"');

    // All present now (as the kernel would show them): a forced full sync applies no jump payload.
    saved = `${saved}*mangle\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n*filter\n${jumps
      .split('\n')
      .filter((l) => l.startsWith('-I '))
      .map((l) => l.replace(/^-I /, '-A '))
      .join(
        '\n',
      )}\nCOMMIT\n*nat\n-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\nCOMMIT\n`;
    h.proxier.forceFullSync();
    h.proxier.stop();
    const before = h.applied.length;
    expect((await h.proxier.syncProxyRules()).full).toBe(true);
    expect(h.applied.length - before).toBe(1);

    // The monitor: canary present → nothing; flushed → a full resync is forced.
    expect(await h.proxier.checkCanary()).toBe(true);
    saved = saved.replace(':KUBE-PROXY-CANARY - [0:0]', '');
    expect(await h.proxier.checkCanary()).toBe(false);
    h.proxier.stop();
    expect((await h.proxier.syncProxyRules()).full).toBe(true);
  });

  it('deletes stale UDP conntrack entries when a UDP endpoint disappears or a UDP service gains endpoints', async () => {
    const h = harness();
    h.proxier.onServiceAdd(dns);
    h.proxier.onEndpointSliceAdd(dnsSlice());
    h.proxier.onServicesSynced();
    h.proxier.onEndpointSlicesSynced();
    h.proxier.stop();
    await h.proxier.syncProxyRules();
    expect(h.conntrack).toEqual([]);
    h.proxier.onEndpointSliceUpdate(dnsSlice(), dnsSlice('10.244.1.2', '10.244.2.2'));
    await h.proxier.syncProxyRules();
    // 0 → 2 endpoints: flows black-holed by the REJECT may be cached.
    expect(h.conntrack).toEqual([
      { protocol: 'udp', origDst: '10.96.0.10' },
      { protocol: 'udp', dport: 30053 },
    ]);
    h.conntrack.length = 0;
    h.proxier.onEndpointSliceUpdate(dnsSlice('10.244.1.2', '10.244.2.2'), dnsSlice('10.244.1.2'));
    await h.proxier.syncProxyRules();
    expect(h.conntrack).toEqual([
      { protocol: 'udp', dport: 30053, dstNat: '10.244.2.2' },
      { protocol: 'udp', origDst: '10.96.0.10', dstNat: '10.244.2.2' },
    ]);
    h.conntrack.length = 0;
    h.proxier.onServiceDelete(dns);
    await h.proxier.syncProxyRules();
    expect(h.conntrack).toEqual([{ protocol: 'udp', origDst: '10.96.0.10' }]);
  });

  it('exports the kube-proxy metrics with {component, node} labels', async () => {
    const h = harness();
    h.proxier.onServiceAdd({ ...web, metadata: { ...web.metadata, creationTimestamp: new Date(T0 + 1000).toISOString() } });
    h.proxier.onEndpointSliceAdd({
      ...webSlice('10.244.1.5'),
      metadata: { ...webSlice().metadata, annotations: { [ANNOTATION_LAST_CHANGE_TRIGGER_TIME]: new Date(T0 + 2000).toISOString() } },
    });
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_service_changes_pending')).toMatch(
      /component="kube-proxy",node="node-1"} 1$/,
    );
    h.proxier.onServicesSynced();
    h.proxier.onEndpointSlicesSynced();
    h.proxier.stop();
    h.clock.advance(4000); // the sync ends 4 s after T0: 3 s after creation, 2 s after the trigger
    await h.proxier.syncProxyRules();
    const npl = await metric(h.registry, 'kubeproxy_network_programming_duration_seconds');
    expect(npl).toContain('kubeproxy_network_programming_duration_seconds_count{component="kube-proxy",node="node-1"} 2');
    expect(npl).toContain('kubeproxy_network_programming_duration_seconds_sum{component="kube-proxy",node="node-1"} 5');
    expect(npl).toContain('kubeproxy_network_programming_duration_seconds_bucket{le="2",component="kube-proxy",node="node-1"} 1');
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds')).toMatch(new RegExp(` ${(T0 + 4000) / 1000}$`));
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_service_changes_total')).toMatch(/ 1$/);
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_endpoint_changes_total')).toMatch(/ 1$/);
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_service_changes_pending')).toMatch(/ 0$/);
    const nat = await metric(h.registry, 'kubeproxy_sync_proxy_rules_iptables_total');
    // KUBE-POSTROUTING 3, KUBE-MARK-MASQ 1, KUBE-SERVICES 2, KUBE-SVC 2, KUBE-SEP 2.
    expect(nat).toContain('kubeproxy_sync_proxy_rules_iptables_total{table="nat",component="kube-proxy",node="node-1"} 10');
    expect(nat).toContain('kubeproxy_sync_proxy_rules_iptables_total{table="filter",component="kube-proxy",node="node-1"} 3');
    const full = await metric(h.registry, 'kubeproxy_sync_full_proxy_rules_duration_seconds');
    expect(full).toContain('kubeproxy_sync_full_proxy_rules_duration_seconds_count{component="kube-proxy",node="node-1"} 1');
    expect(full).toContain('le="16.384"');
    expect(await metric(h.registry, 'kubeproxy_sync_proxy_rules_no_local_endpoints_total')).toContain('traffic_policy="internal"');
  });

  it('rejects bad configuration with a clear error', () => {
    const base = { hostname: 'node-1', registry: new Registry(), apply: async () => {} };
    expect(() => new IptablesProxier({ ...base, clusterCIDR: '10.244.0.0/33' })).toThrow(
      /clusterCIDR "10.244.0.0\/33" is not an IPv4 network/,
    );
    expect(() => new IptablesProxier({ ...base, registry: new Registry(), clusterCIDR: '10.244.1.0/16' })).toThrow(/CIDR form/);
    expect(() => new IptablesProxier({ ...base, registry: new Registry(), nodeIP: '300.1.1.1' })).toThrow(/nodeIP/);
    expect(() => new IptablesProxier({ ...base, registry: new Registry(), hostname: '' })).toThrowError(
      expect.objectContaining({ code: 'PODNET_ERR_KUBE_PROXY_CONFIG' }),
    );
  });
});

describe('createProxier', () => {
  it('makes the iptables proxier by name and rejects unknown modes with the known ones', () => {
    const options = { hostname: 'node-1', registry: new Registry(), apply: async () => {} };
    expect(createProxier('iptables', options)).toBeInstanceOf(IptablesProxier);
    expect(() => createProxier('ipvs', { ...options, registry: new Registry() })).toThrow(
      'kube-proxy: unknown proxy mode "ipvs"; podnet implements: iptables',
    );
  });
});
