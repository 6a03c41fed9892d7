// Service ClusterIP and NodePort allocation, in the API server as in Kubernetes
// (pkg/registry/core/service/ipallocator and portallocator). The allocated set is derived from
// the Services in the store: rebuilt from them at start (so a restart never hands out an IP or
// port twice) and updated synchronously with every Service write, which the store applies in
// one thread before anything else can run: two concurrent creates cannot get the same value.
import type { FieldError } from '@podnet/api';

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] as number) * 2 ** 24 + (parts[1] as number) * 2 ** 16 + (parts[2] as number) * 256 + (parts[3] as number)) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class AllocationError extends Error {
  constructor(readonly fieldError: FieldError) {
    super(`${fieldError.field}: ${fieldError.detail}`);
  }
}

export class ClusterIpAllocator {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();
  private cursor = 1;
  /** Addresses never handed out dynamically (the cluster DNS IP, DESIGN §4), still requestable. */
  private readonly reserved: Set<number>;

  constructor(
    readonly cidr = '10.96.0.0/12',
    reserved: string[] = ['10.96.0.10'],
  ) {
    const [addr, bits] = cidr.split('/');
    const b = Number(bits);
    const a = ipToInt(addr ?? '');
    if (a === undefined || !(b >= 8 && b <= 30)) throw new Error(`PODNET_ERR_USAGE: invalid service CIDR "${cidr}" (want a.b.c.d/8..30)`);
    this.size = 2 ** (32 - b);
    this.base = a - (a % this.size);
    this.reserved = new Set(reserved.map((r) => ipToInt(r) ?? -1));
  }

  private offset(ip: string): number | undefined {
    const n = ipToInt(ip);
    if (n === undefined) return undefined;
    const off = n - this.base;
    // Network and broadcast addresses are not allocatable (ipallocator range excludes them).
    return off >= 1 && off < this.size - 1 ? off : undefined;
  }

  /** Allocates `requested`, or the next free address. */
  allocate(requested?: string, field = 'spec.clusterIPs'): string {
    if (requested) {
      const off = this.offset(requested);
      if (off === undefined) {
        throw new AllocationError({
          type: 'Invalid',
          field,
          value: [requested],
          detail: `failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is ${this.cidr}`,
        });
      }
      if (this.used.has(off))
        throw new AllocationError({
          type: 'Invalid',
          field,
          value: [requested],
          detail: `failed to allocate IP ${requested}: provided IP is already allocated`,
        });
      this.used.add(off);
      return requested;
    }
    for (let i = 0; i < this.size - 2; i++) {
      const off = ((this.cursor - 1 + i) % (this.size - 2)) + 1;
      if (this.used.has(off) || this.reserved.has(this.base + off)) continue;
      this.used.add(off);
      this.cursor = off + 1;
      return intToIp(this.base + off);
    }
    throw new AllocationError({
      type: 'Invalid',
      field,
      value: [],
      detail: `failed to allocate a serviceIP: range is full (${this.cidr})`,
    });
  }

  release(ip: string | undefined): void {
    const off = ip ? this.offset(ip) : undefined;
    if (off !== undefined) this.used.delete(off);
  }

  has(ip: string): boolean {
    const off = this.offset(ip);
    return off !== undefined && this.used.has(off);
  }

  get allocated(): number {
    return this.used.size;
  }
}

/**
 * NodePorts as Kubernetes allocates them (pkg/registry/core/service/portallocator with
 * allocator.NewAllocationMapWithOffset, KEP-3668): a port that is not asked for is drawn at random,
 * first from the upper "dynamic" band of the range and only when that is full from the lower
 * "static" band, which is left for users who request fixed ports. The band's size is
 * min(max(16, size/32), 128) ports (86 for 30000-32767). Random choice also keeps two clusters on
 * one machine (parallel tests, two `podnet up`) from wanting the same real listener port.
 */
export class NodePortAllocator {
  private readonly used = new Set<number>();
  private readonly staticBand: number;

  constructor(
    readonly min = 30000,
    readonly max = 32767,
    private readonly random: () => number = Math.random,
  ) {
    const size = max - min + 1;
    this.staticBand = Math.min(Math.max(16, Math.floor(size / 32)), 128, size);
  }

  allocate(requested: number | undefined, field: string): number {
    if (requested !== undefined && requested !== 0) {
      if (!Number.isInteger(requested) || requested < this.min || requested > this.max) {
        throw new AllocationError({
          type: 'Invalid',
          field,
          value: requested,
          detail: `provided port is not in the valid range. The range of valid ports is ${this.min}-${this.max}`,
        });
      }
      if (this.used.has(requested))
        throw new AllocationError({ type: 'Invalid', field, value: requested, detail: 'provided port is already allocated' });
      this.used.add(requested);
      return requested;
    }
    const dynamicLow = this.min + this.staticBand;
    const port = this.pickFree(dynamicLow, this.max) ?? this.pickFree(this.min, dynamicLow - 1);
    if (port === undefined) {
      throw new AllocationError({ type: 'Invalid', field, value: 0, detail: `range is full (${this.min}-${this.max})` });
    }
    this.used.add(port);
    return port;
  }

  /** A free port in [low, high]: scanned from a random offset, wrapping (the bitmap allocator's random scan). */
  private pickFree(low: number, high: number): number | undefined {
    const span = high - low + 1;
    if (span <= 0) return undefined;
    const start = Math.floor(this.random() * span);
    for (let i = 0; i < span; i++) {
      const p = low + ((start + i) % span);
      if (!this.used.has(p)) return p;
    }
    return undefined;
  }

  release(port: number | undefined): void {
    if (port !== undefined) this.used.delete(port);
  }

  has(port: number): boolean {
    return this.used.has(port);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are open-ended JSON
type Obj = Record<string, any>;

function wantsNodePorts(spec: Obj): boolean {
  return spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
}

function needsClusterIp(spec: Obj): boolean {
  return spec.type !== 'ExternalName' && spec.clusterIP !== 'None';
}

/** Both allocators, applied to whole Services. Every method is all-or-nothing. */
export class ServiceAllocators {
  constructor(
    readonly ips = new ClusterIpAllocator(),
    readonly ports = new NodePortAllocator(),
  ) {}

  /** Marks what existing (stored) Services hold, at start. */
  rebuild(services: Obj[]): void {
    for (const s of services) {
      const spec: Obj = s.spec ?? {};
      if (spec.clusterIP && spec.clusterIP !== 'None' && !this.ips.has(spec.clusterIP)) {
        try {
          this.ips.allocate(spec.clusterIP);
        } catch {
          // A stored IP outside the configured range (the range changed): nothing to hold.
        }
      }
      for (const p of (spec.ports ?? []) as Obj[])
        if (p.nodePort && !this.ports.has(p.nodePort)) this.ports.allocate(p.nodePort, 'spec.ports');
    }
  }

  /**
   * Fills spec.clusterIP(s) and nodePorts of `next` (mutating it), keeping what `prev` held.
   * Returns a function that undoes the allocations (when the write fails afterwards).
   */
  assign(next: Obj, prev?: Obj): () => void {
    next.spec ??= {};
    const spec: Obj = next.spec;
    const pspec: Obj = prev?.spec ?? {};
    const undo: (() => void)[] = [];
    try {
      if (needsClusterIp(spec)) {
        if (prev && pspec.clusterIP && pspec.clusterIP !== 'None' && (!spec.clusterIP || spec.clusterIP === pspec.clusterIP)) {
          spec.clusterIP = pspec.clusterIP;
        } else if (!prev || spec.clusterIP !== pspec.clusterIP) {
          const ip = this.ips.allocate(spec.clusterIP || undefined);
          undo.push(() => this.ips.release(ip));
          spec.clusterIP = ip;
        }
        spec.clusterIPs = [spec.clusterIP];
      } else if (spec.clusterIP === 'None') {
        spec.clusterIPs = ['None'];
      }
      const ports: Obj[] = spec.ports ?? [];
      const prevPorts: Obj[] = pspec.ports ?? [];
      if (wantsNodePorts(spec)) {
        ports.forEach((p, i) => {
          const old = prevPorts.find((q) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'))?.nodePort;
          if (old && (!p.nodePort || p.nodePort === old)) {
            p.nodePort = old;
            return;
          }
          const n = this.ports.allocate(p.nodePort, `spec.ports[${i}].nodePort`);
          undo.push(() => this.ports.release(n));
          p.nodePort = n;
        });
      } else {
        for (const p of ports) delete p.nodePort;
      }
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    }
    return () => {
      for (const u of undo.reverse()) u();
    };
  }

  /** After `next` replaced `prev` (or `prev` was deleted: next undefined), frees what is no longer held. */
  releaseDropped(prev: Obj, next?: Obj): void {
    const pspec: Obj = prev.spec ?? {};
    const nspec: Obj = next?.spec ?? {};
    if (pspec.clusterIP && pspec.clusterIP !== 'None' && nspec.clusterIP !== pspec.clusterIP) this.ips.release(pspec.clusterIP);
    const held = new Set(((nspec.ports ?? []) as Obj[]).map((p) => p.nodePort).filter(Boolean));
    for (const p of (pspec.ports ?? []) as Obj[]) if (p.nodePort && !held.has(p.nodePort)) this.ports.release(p.nodePort);
  }
}
