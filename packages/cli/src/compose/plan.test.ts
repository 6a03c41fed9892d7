import { describe, expect, it } from 'vitest';
import { ComposeErrorCodes } from './errors.js';
import { composeNodes, overrideFor } from './plan.js';

describe('compose address plan', () => {
  it('puts node-N at 172.30.0.(10+N), inside the pinned compose subnet', () => {
    expect(composeNodes(3)).toEqual([
      { name: 'node-1', address: '172.30.0.11' },
      { name: 'node-2', address: '172.30.0.12' },
      { name: 'node-3', address: '172.30.0.13' },
    ]);
  });

  it('refuses a node count outside 1..20 with a usage error', () => {
    for (const n of [0, 21, 1.5]) expect(() => composeNodes(n)).toThrow(expect.objectContaining({ code: ComposeErrorCodes.USAGE }));
  });

  it('needs no override for up to three nodes, and defines node-4.. like the static ones beyond', () => {
    expect(overrideFor(composeNodes(3))).toBeUndefined();
    const o = overrideFor(composeNodes(5)) as { services: Record<string, { environment: Record<string, string>; networks: unknown }> };
    expect(Object.keys(o.services)).toEqual(['node-4', 'node-5']);
    expect(o.services['node-5']?.environment).toMatchObject({
      PODNET_NODE: 'node-5',
      PODNET_ADDRESS: '172.30.0.15',
      PODNET_ALLOW_NON_LOOPBACK: '1',
    });
    expect(o.services['node-5']?.networks).toEqual({ podnet: { ipv4_address: '172.30.0.15' } });
  });

  it("publishes an added node's metrics ports on 127.0.0.1 at ports docker picks, as the static nodes do", () => {
    const o = overrideFor(composeNodes(4)) as { services: Record<string, { ports: string[] }> };
    expect(o.services['node-4']?.ports).toEqual(['127.0.0.1::10250', '127.0.0.1::10249', '127.0.0.1::9099']);
  });

  it("mounts a generated Prometheus configuration over deploy/'s when one is given, even for fewer nodes", () => {
    const o = overrideFor(composeNodes(2), { prometheusConfig: '/s/prometheus.yml' }) as { services: Record<string, unknown> };
    expect(o.services).toEqual({ prometheus: { volumes: ['/s/prometheus.yml:/etc/prometheus/prometheus.yml:ro'] } });
  });
});
