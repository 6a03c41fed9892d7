import { describe, expect, it } from 'vitest';
import { AllocationError, ClusterIpAllocator, NodePortAllocator, ServiceAllocators } from './allocators.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

describe('ClusterIpAllocator', () => {
  it('hands out 10.96.0.1 first, skips the DNS IP, never twice, and reuses released ones', () => {
    const a = new ClusterIpAllocator('10.96.0.0/12');
    const ips = Array.from({ length: 12 }, () => a.allocate());
    expect(ips[0]).toBe('10.96.0.1');
    expect(ips).not.toContain('10.96.0.10');
    expect(new Set(ips).size).toBe(12);
    expect(a.allocate('10.96.0.10')).toBe('10.96.0.10');
    a.release('10.96.0.5');
    expect(a.allocate('10.96.0.5')).toBe('10.96.0.5');
  });
  it('refuses requested IPs that are taken or out of range (422 detail text of the real allocator)', () => {
    const a = new ClusterIpAllocator('10.96.0.0/12');
    a.allocate('10.96.1.1');
    expect(() => a.allocate('10.96.1.1')).toThrow(/already allocated/);
    expect(() => a.allocate('10.200.0.1')).toThrow(/not in the valid range/);
    expect(() => a.allocate('10.96.0.0')).toThrow(AllocationError);
  });
  it('reports a full range', () => {
    const a = new ClusterIpAllocator('10.0.0.0/30', []);
    a.allocate();
    a.allocate();
    expect(() => a.allocate()).toThrow(/range is full/);
  });
});

describe('NodePortAllocator', () => {
  it('allocates from 30000-32767 and refuses taken or out-of-range ports', () => {
    const p = new NodePortAllocator();
    const first = p.allocate(undefined, 'x');
    expect(first).toBeGreaterThanOrEqual(30000);
    expect(first).toBeLessThanOrEqual(32767);
    expect(p.allocate(30005, 'x')).toBe(30005);
    expect(() => p.allocate(30005, 'spec.ports[0].nodePort')).toThrow(/already allocated/);
    expect(() => p.allocate(80, 'x')).toThrow(/valid range/);
  });
  it('draws unrequested ports at random from the dynamic band, then the static band, never twice', () => {
    // 30000-30099: the static band is max(16, 100/32) = 16 ports, 30000-30015.
    let seed = 7;
    const rng = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const p = new NodePortAllocator(30000, 30099, rng);
    const dynamic = Array.from({ length: 84 }, () => p.allocate(undefined, 'x'));
    expect(new Set(dynamic).size).toBe(84);
    expect(dynamic.every((port) => port >= 30016 && port <= 30099)).toBe(true);
    expect(dynamic.slice(0, 10)).not.toEqual(Array.from({ length: 10 }, (_, i) => 30016 + i));
    const rest = Array.from({ length: 16 }, () => p.allocate(undefined, 'x'));
    expect(rest.sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => 30000 + i));
    expect(() => p.allocate(undefined, 'x')).toThrow(/range is full/);
  });
});

describe('ServiceAllocators', () => {
  it('assigns, keeps what an update keeps, releases what it drops, and undoes on failure', () => {
    const s = new ServiceAllocators();
    const svc: Obj = { spec: { type: 'NodePort', ports: [{ port: 80 }, { port: 81 }] } };
    s.assign(svc);
    expect(svc.spec.clusterIP).toBe('10.96.0.1');
    const [first, second] = svc.spec.ports.map((p: { nodePort: number }) => p.nodePort) as [number, number];
    expect(first).not.toBe(second);
    expect(s.ports.has(first) && s.ports.has(second)).toBe(true);
    const next: Obj = { spec: { type: 'ClusterIP', ports: [{ port: 80 }] } };
    s.assign(next, svc);
    expect(next.spec.clusterIP).toBe('10.96.0.1');
    s.releaseDropped(svc, next);
    expect(s.ports.has(first)).toBe(false);
    const clash: Obj = {
      spec: { type: 'NodePort', ports: [{ port: 1 }, { port: 2, nodePort: 30002 }, { port: 3, nodePort: 30002 }] },
    };
    expect(() => s.assign(clash)).toThrow(AllocationError);
    expect(s.ips.allocated).toBe(1);
    expect(s.ports.has(30002)).toBe(false);
  });
  it('rebuilds from stored Services so a restart never double-allocates', () => {
    const s = new ServiceAllocators();
    s.rebuild([{ spec: { clusterIP: '10.96.0.1', ports: [{ nodePort: 30000 }] } }, { spec: { clusterIP: 'None' } }]);
    const svc: Obj = { spec: { type: 'NodePort', ports: [{ port: 80 }] } };
    s.assign(svc);
    expect(svc.spec.clusterIP).toBe('10.96.0.2');
    expect(svc.spec.ports[0].nodePort).not.toBe(30000);
    expect(s.ports.has(30000)).toBe(true);
  });
});
