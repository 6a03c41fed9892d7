// The scenario of upstream's TestOverallIPTablesRules (pkg/proxy/iptables/proxier_test.go): six
// Services (ClusterIP, LoadBalancer eTP=Local, NodePort, external IP, LoadBalancer with source
// ranges and affinity, no endpoints), rendered by podnet and compared with upstream's expected
// rules after the same canonical sort upstream's test applies (sortIPTablesRules).
// fixtures/upstream-overall.iptables is upstream's expected text with two newer-release additions
// left out, which podnet does not render: the `-m nfacct` counters and the per-NodePort
// 127.0.0.0/8 rules of localhost NodePorts (1.30+). Everything else is upstream's text.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeService, makeSlice, tcpPort } from '../../packages/kube-proxy/src/testing/fixtures.ts';
import { load, makeHarness } from './scenarios.ts';

/** Tables by name; chains KUBE-NODEPORTS, KUBE-SERVICES, then by name; rules grouped by chain. */
function sortIptablesRules(payload: string, dropTables: string[] = ['mangle']): string {
  const tables: { name: string; chains: string[]; rules: Map<string, string[]> }[] = [];
  let current: (typeof tables)[number] | undefined;
  for (const line of payload.split('\n')) {
    if (line.startsWith('*')) {
      current = { name: line.slice(1), chains: [], rules: new Map() };
      tables.push(current);
    } else if (line.startsWith(':') && current) {
      current.chains.push(line.slice(1).split(' ')[0]!);
    } else if ((line.startsWith('-A ') || line.startsWith('-X ')) && current) {
      const chain = line.split(' ')[1]!;
      current.rules.set(chain, [...(current.rules.get(chain) ?? []), line]);
    }
  }
  const rank = (c: string) => (c === 'KUBE-NODEPORTS' ? 0 : c === 'KUBE-SERVICES' ? 1 : 2);
  let out = '';
  for (const t of tables.filter((t) => !dropTables.includes(t.name)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const chains = [...t.chains].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    out += `*${t.name}\n`;
    for (const c of chains) out += `:${c} - [0:0]\n`;
    for (const c of chains) for (const r of t.rules.get(c) ?? []) out += `${r}\n`;
    out += 'COMMIT\n';
  }
  return out;
}

const p80 = [{ name: 'p80', port: 80, protocol: 'TCP' as const }];

describe('upstream TestOverallIPTablesRules, rendered by podnet', () => {
  it('produces upstream expected rules, rule for rule', async () => {
    const { proxier, applied } = makeHarness({
      hostname: 'test-node',
      nodeIP: '192.168.0.2',
      clusterCIDR: '10.0.0.0/8',
      localhostNodePorts: true,
    });
    load(proxier, {
      services: [
        makeService('ns1', 'svc1', (s) => {
          s.spec.clusterIP = '172.30.0.41';
          s.spec.ports = p80;
        }),
        makeService('ns2', 'svc2', (s) => {
          s.spec.type = 'LoadBalancer';
          s.spec.externalTrafficPolicy = 'Local';
          s.spec.clusterIP = '172.30.0.42';
          s.spec.ports = [{ ...p80[0]!, nodePort: 3001 }];
          s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
          s.spec.externalIPs = ['192.168.99.22'];
          s.spec.healthCheckNodePort = 30000;
        }),
        makeService('ns3', 'svc3', (s) => {
          s.spec.type = 'NodePort';
          s.spec.clusterIP = '172.30.0.43';
          s.spec.ports = [{ ...p80[0]!, nodePort: 3003 }];
        }),
        makeService('ns4', 'svc4', (s) => {
          s.spec.type = 'NodePort';
          s.spec.clusterIP = '172.30.0.44';
          s.spec.externalIPs = ['192.168.99.33'];
          s.spec.ports = [{ ...p80[0]!, targetPort: 80 }];
        }),
        makeService('ns5', 'svc5', (s) => {
          s.spec.type = 'LoadBalancer';
          s.spec.externalTrafficPolicy = 'Cluster';
          s.spec.clusterIP = '172.30.0.45';
          s.spec.ports = [{ ...p80[0]!, nodePort: 3002 }];
          s.status = { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } };
          s.spec.healthCheckNodePort = 30000;
          // Extra whitespace, as upstream: an invalid-looking value must not crash.
          s.spec.loadBalancerSourceRanges = [' 203.0.113.0/25'];
          s.spec.sessionAffinity = 'ClientIP';
          s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
        }),
        makeService('ns6', 'svc6', (s) => {
          s.spec.type = 'ClusterIP';
          s.spec.clusterIP = '172.30.0.46';
          s.spec.ports = [{ ...p80[0]!, targetPort: 80 }];
        }),
      ],
      slices: [
        makeSlice('ns1', 'svc1', 1, [{ addresses: ['10.180.0.1'] }], [tcpPort('p80', 80)]),
        // No nodeName: not local, so the Local policy has no endpoints.
        makeSlice('ns2', 'svc2', 1, [{ addresses: ['10.180.0.2'] }], [tcpPort('p80', 80)]),
        makeSlice('ns3', 'svc3', 1, [{ addresses: ['10.180.0.3'] }], [tcpPort('p80', 80)]),
        makeSlice(
          'ns4',
          'svc4',
          1,
          [{ addresses: ['10.180.0.4'] }, { addresses: ['10.180.0.5'], nodeName: 'test-node' }],
          [tcpPort('p80', 80)],
        ),
        makeSlice('ns5', 'svc5', 1, [{ addresses: ['10.180.0.3'] }], [tcpPort('p80', 80)]),
      ],
    });
    const outcome = await proxier.syncProxyRules();
    expect(outcome.ok).toBe(true);
    const expected = readFileSync(join(import.meta.dirname, 'fixtures', 'upstream-overall.iptables'), 'utf8');
    expect(sortIptablesRules(applied[0]!.payload)).toBe(expected);
    // Upstream checks the nat rule-count metric against the payload; so do we.
    const natRules = applied[0]!.payload
      .split('*nat')[1]!
      .split('\n')
      .filter((l) => l.startsWith('-A ')).length;
    expect(outcome.rendered?.rulesTotal.nat).toBe(natRules);
  });
});
