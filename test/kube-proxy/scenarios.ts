// The kube-proxy scenarios shared by the golden tests and the kernel (iptables-restore) tests.
// Addresses follow DESIGN §4: pods 10.244.N.x on node-N, Services 10.96.x, node-1's IP 172.18.0.2.
import type { ApplyOptions, EndpointSlice, IptablesProxierOptions, Service } from '@podnet/kube-proxy';
import { IptablesProxier } from '@podnet/kube-proxy';
import { Registry } from 'prom-client';
import { makeService, makeSlice, tcpPort, udpPort } from '../../packages/kube-proxy/src/testing/fixtures.ts';
import { FakeClock } from '../../packages/wire/src/testing/fake-clock.ts';

export const NODE = 'node-1';
export const NODE_IP = '172.18.0.2';
export const CLUSTER_CIDR = '10.244.0.0/16';

export interface Scenario {
  name: string;
  services: Service[];
  slices: EndpointSlice[];
  config?: Partial<IptablesProxierOptions>;
}

const ep = (ip: string, node: string, conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean }) => ({
  addresses: [ip],
  nodeName: node,
  ...(conditions ? { conditions } : {}),
});

export const scenarios: Scenario[] = [
  {
    name: 'clusterip-3-endpoints',
    services: [
      makeService('default', 'web', (s) => {
        s.spec.clusterIP = '10.96.0.20';
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }];
      }),
    ],
    slices: [
      makeSlice(
        'default',
        'web',
        1,
        [ep('10.244.1.5', 'node-1'), ep('10.244.2.6', 'node-2'), ep('10.244.2.7', 'node-2')],
        [tcpPort('http', 8080)],
      ),
    ],
  },
  {
    name: 'nodeport-cluster',
    services: [
      makeService('default', 'web', (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.21';
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }];
      }),
    ],
    slices: [makeSlice('default', 'web', 1, [ep('10.244.1.5', 'node-1'), ep('10.244.2.6', 'node-2')], [tcpPort('http', 8080)])],
  },
  {
    name: 'nodeport-local',
    services: [
      makeService('default', 'web', (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.22';
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30081 }];
      }),
      // eTP=Local with no endpoint on this node: NodePort traffic from outside is dropped.
      makeService('default', 'remote-only', (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.23';
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30082 }];
      }),
    ],
    slices: [
      makeSlice('default', 'web', 1, [ep('10.244.1.5', 'node-1'), ep('10.244.2.6', 'node-2')], [tcpPort('http', 8080)]),
      makeSlice('default', 'remote-only', 1, [ep('10.244.2.9', 'node-2')], [tcpPort('http', 8080)]),
    ],
  },
  {
    name: 'loadbalancer-source-ranges',
    services: [
      makeService('default', 'lb', (s) => {
        s.spec.type = 'LoadBalancer';
        s.spec.clusterIP = '10.96.0.30';
        s.spec.ports = [{ name: 'https', port: 443, protocol: 'TCP', nodePort: 30443 }];
        // 172.18.0.0/16 contains the node IP: the LB IP itself is admitted as a source too.
        s.spec.loadBalancerSourceRanges = ['203.0.113.0/24', ' 172.18.0.0/16'];
        s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } };
      }),
      makeService('default', 'lb-local', (s) => {
        s.spec.type = 'LoadBalancer';
        s.spec.clusterIP = '10.96.0.31';
        s.spec.externalTrafficPolicy = 'Local';
        s.spec.healthCheckNodePort = 32000;
        s.spec.ports = [{ name: 'https', port: 443, protocol: 'TCP', nodePort: 30444 }];
        s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.11' }] } };
      }),
    ],
    slices: [
      makeSlice('default', 'lb', 1, [ep('10.244.1.8', 'node-1'), ep('10.244.2.8', 'node-2')], [tcpPort('https', 8443)]),
      makeSlice('default', 'lb-local', 1, [ep('10.244.1.9', 'node-1')], [tcpPort('https', 8443)]),
    ],
  },
  {
    name: 'no-endpoints',
    services: [
      makeService('default', 'empty', (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.40';
        s.spec.externalIPs = ['198.51.100.7'];
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30090 }];
      }),
    ],
    slices: [],
  },
  {
    name: 'session-affinity',
    services: [
      makeService('default', 'sticky', (s) => {
        s.spec.clusterIP = '10.96.0.50';
        s.spec.sessionAffinity = 'ClientIP';
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
      }),
    ],
    slices: [makeSlice('default', 'sticky', 1, [ep('10.244.1.5', 'node-1'), ep('10.244.2.6', 'node-2')], [tcpPort('http', 8080)])],
  },
  {
    name: 'hairpin',
    // The only endpoint is a pod on this node that also calls its own Service: its SEP chain
    // masquerades traffic whose source is the endpoint itself.
    services: [
      makeService('default', 'self', (s) => {
        s.spec.clusterIP = '10.96.0.60';
        s.spec.ports = [{ port: 8080, protocol: 'TCP' }];
      }),
    ],
    slices: [makeSlice('default', 'self', 1, [ep('10.244.1.12', 'node-1')], [{ port: 8080, protocol: 'TCP' }])],
  },
  {
    name: 'internal-traffic-policy-local',
    services: [
      makeService('kube-system', 'node-local', (s) => {
        s.spec.clusterIP = '10.96.0.70';
        s.spec.internalTrafficPolicy = 'Local';
        s.spec.ports = [{ name: 'metrics', port: 9100, protocol: 'TCP' }];
      }),
      makeService('kube-system', 'elsewhere', (s) => {
        s.spec.clusterIP = '10.96.0.71';
        s.spec.internalTrafficPolicy = 'Local';
        s.spec.ports = [{ name: 'metrics', port: 9100, protocol: 'TCP' }];
      }),
    ],
    slices: [
      makeSlice('kube-system', 'node-local', 1, [ep('10.244.1.20', 'node-1'), ep('10.244.2.20', 'node-2')], [tcpPort('metrics', 9100)]),
      makeSlice('kube-system', 'elsewhere', 1, [ep('10.244.2.21', 'node-2')], [tcpPort('metrics', 9100)]),
    ],
  },
  {
    name: 'terminating-endpoints',
    // A rolling update with no ready pod: the serving terminating pods still take traffic,
    // the one that stopped serving does not.
    services: [
      makeService('default', 'rolling', (s) => {
        s.spec.clusterIP = '10.96.0.80';
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
      }),
    ],
    slices: [
      makeSlice(
        'default',
        'rolling',
        1,
        [
          ep('10.244.1.30', 'node-1', { ready: false, serving: true, terminating: true }),
          ep('10.244.2.30', 'node-2', { ready: false, serving: true, terminating: true }),
          ep('10.244.2.31', 'node-2', { ready: false, serving: false, terminating: true }),
          ep('10.244.2.32', 'node-2', { ready: false, serving: false, terminating: false }),
        ],
        [tcpPort('http', 8080)],
      ),
    ],
  },
  {
    name: 'udp-dns-two-slices',
    // kube-dns: one Service, UDP and TCP ports named dns and dns-tcp, endpoints split over two
    // slices; the slices list the ports in another order (resolved by name, not position).
    services: [
      makeService('kube-system', 'kube-dns', (s) => {
        s.spec.clusterIP = '10.96.0.10';
        s.spec.ports = [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ];
      }),
    ],
    slices: [
      makeSlice('kube-system', 'kube-dns', 1, [ep('10.244.1.2', 'node-1')], [udpPort('dns', 53), tcpPort('dns-tcp', 53)]),
      makeSlice('kube-system', 'kube-dns', 2, [ep('10.244.2.2', 'node-2')], [tcpPort('dns-tcp', 53), udpPort('dns', 53)]),
    ],
  },
  {
    name: 'localhost-nodeports-random-fully',
    // --iptables-localhost-nodeports (route_localnet) brings kubelet's KUBE-FIREWALL guard and its
    // jumps; iptables with --random-fully randomises MASQUERADE source ports.
    services: [
      makeService('default', 'web', (s) => {
        s.spec.type = 'NodePort';
        s.spec.clusterIP = '10.96.0.90';
        s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30100 }];
      }),
    ],
    slices: [makeSlice('default', 'web', 1, [ep('10.244.1.5', 'node-1')], [tcpPort('http', 8080)])],
    config: { localhostNodePorts: true, randomFully: true },
  },
];

export interface Harness {
  proxier: IptablesProxier;
  applied: { payload: string; options: ApplyOptions }[];
  clock: FakeClock;
  registry: Registry;
}

/** A proxier for node-1 whose apply records the payloads (or runs `apply` when given). */
export function makeHarness(config: Partial<IptablesProxierOptions> = {}, apply?: IptablesProxierOptions['apply']): Harness {
  const applied: Harness['applied'] = [];
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const registry = new Registry();
  const proxier = new IptablesProxier({
    hostname: NODE,
    nodeIP: NODE_IP,
    clusterCIDR: CLUSTER_CIDR,
    registry,
    clock,
    wallClock: () => clock.now(),
    apply: async (payload, options) => {
      applied.push({ payload, options });
      if (apply) await apply(payload, options);
    },
    ...config,
  });
  return { proxier, applied, clock, registry };
}

/** Feeds a scenario's objects and marks the informers synced (no sync runs: call syncProxyRules). */
export function load(proxier: IptablesProxier, scenario: Pick<Scenario, 'services' | 'slices'>): void {
  for (const s of scenario.services) proxier.serviceChanges.update(undefined, s);
  for (const s of scenario.slices) proxier.endpointsChanges.endpointSliceUpdate(s, false);
  // Mark both informers synced without queuing runner syncs: tests drive syncProxyRules directly.
  proxier.onServicesSynced();
  proxier.onEndpointSlicesSynced();
  proxier.stop();
}
