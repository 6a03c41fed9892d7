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
    expect(p.allocate(undefined, 'x')).toBe(30000);
    expect(p.allocate(30005, 'x')).toBe(30005);
    expect(() => p.allocate(30005, 'spec.ports[0].nodePort')).toThrow(/already allocated/);
    expect(() => p.allocate(80, 'x')).toThrow(/valid range/);
  });
});

describe('ServiceAllocators', () => {
  it('assigns, keeps what an update keeps, releases what it drops, and undoes on failure', () => {
    const s = new ServiceAllocators();
    const svc: Obj = { spec: { type: 'NodePort', ports: [{ port: 80 }, { port: 81 }] } };
    s.assign(svc);
    expect(svc.spec.clusterIP).toBe('10.96.0.1');
    expect(svc.spec.ports.map((p: { nodePort: number }) => p.nodePort)).toEqual([30000, 30001]);
    const next: Obj = { spec: { type: 'ClusterIP', ports: [{ port: 80 }] } };
    s.assign(next, svc);
    expect(next.spec.clusterIP).toBe('10.96.0.1');
    s.releaseDropped(svc, next);
    expect(s.ports.has(30000)).toBe(false);
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
    expect(svc.spec.ports[0].nodePort).toBe(30001);
  });
});
