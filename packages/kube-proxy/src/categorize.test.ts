import { describe, expect, it } from 'vitest';
import { categorizeEndpoints } from './categorize.js';
import { endpointsFromSlices } from './endpoints-change-tracker.js';
import { serviceToServicePorts } from './service-info.js';
import { makeService, makeSlice, tcpPort } from './testing/fixtures.js';
import type { Endpoint, ServiceSpec } from './types.js';

function categorize(spec: Partial<ServiceSpec>, eps: Endpoint[]) {
  const svc = makeService('default', 'web', (s) => {
    Object.assign(s.spec, { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, nodePort: 30080 }], ...spec });
  });
  const info = [...serviceToServicePorts(svc).values()][0]!;
  const endpoints = endpointsFromSlices('default', 'web', [makeSlice('default', 'web', 1, eps, [tcpPort('http', 8080)])], 'node-1').get(
    'default/web:http/TCP',
  )!.endpoints;
  const c = categorizeEndpoints(endpoints, info);
  const ips = (l: readonly { ip: string }[]) => l.map((e) => e.ip);
  return {
    cluster: ips(c.clusterEndpoints),
    local: ips(c.localEndpoints),
    reachable: ips(c.allLocallyReachableEndpoints),
    any: c.hasAnyEndpoints,
  };
}

const ready = (ip: string, nodeName: string): Endpoint => ({ addresses: [ip], nodeName });
const terminating = (ip: string, nodeName: string, serving = true): Endpoint => ({
  addresses: [ip],
  nodeName,
  conditions: { ready: false, serving, terminating: true },
});

describe('categorizeEndpoints (pkg/proxy/topology.go)', () => {
  it('Cluster policy uses ready endpoints and ignores terminating ones while any is ready', () => {
    expect(categorize({}, [ready('10.244.1.1', 'node-1'), terminating('10.244.2.1', 'node-2')])).toEqual({
      cluster: ['10.244.1.1'],
      local: [],
      reachable: ['10.244.1.1'],
      any: true,
    });
  });

  it('falls back to serving terminating endpoints when none is ready', () => {
    expect(categorize({}, [terminating('10.244.1.1', 'node-1'), terminating('10.244.2.1', 'node-2', false)])).toMatchObject({
      cluster: ['10.244.1.1'],
      any: true,
    });
  });

  it('eTP=Local: local ready endpoints, else local serving terminating ones (merged into the reachable set)', () => {
    const spec = { type: 'NodePort' as const, externalTrafficPolicy: 'Local' as const };
    expect(categorize(spec, [ready('10.244.1.1', 'node-1'), ready('10.244.2.1', 'node-2')])).toEqual({
      cluster: ['10.244.1.1', '10.244.2.1'],
      local: ['10.244.1.1'],
      reachable: ['10.244.1.1', '10.244.2.1'],
      any: true,
    });
    expect(categorize(spec, [terminating('10.244.1.1', 'node-1'), ready('10.244.2.1', 'node-2')])).toEqual({
      cluster: ['10.244.2.1'],
      local: ['10.244.1.1'],
      reachable: ['10.244.1.1', '10.244.2.1'],
      any: true,
    });
  });

  it('iTP=Local without external access uses local endpoints only; no endpoints at all means none anywhere', () => {
    expect(categorize({ internalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] }, [ready('10.244.2.1', 'node-2')])).toEqual({
      cluster: [],
      local: [],
      reachable: [],
      any: true,
    });
    expect(categorize({}, [terminating('10.244.2.1', 'node-2', false)])).toMatchObject({ cluster: [], any: false });
  });
});
