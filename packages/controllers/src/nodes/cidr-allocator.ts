// podCIDR allocation for nodes (pkg/controller/nodeipam/ipam/range_allocator.go and
// cidrset/cidr_set.go): the cluster CIDR is cut into subnets of `nodeMaskSize` bits, each handed
// to one node, never twice; the set is rebuilt from the nodes that exist when the controller
// starts (`occupyCIDRs`) and a subnet returns to the pool when its node is deleted.
// podnet's address plan (DESIGN §4) adds one rule: a node named node-N gets subnet N
// (node-1 → 10.244.1.0/24) when that subnet is free, so addresses read like the node names.

export interface Ipv4Cidr {
  base: number;
  prefix: number;
}

export function parseCidr(text: string): Ipv4Cidr {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not an IPv4 CIDR like 10.244.0.0/16`);
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) throw new Error(`"${text}" is not an IPv4 CIDR like 10.244.0.0/16`);
  const ip = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ip & mask) >>> 0, prefix };
}

export function formatCidr(c: Ipv4Cidr): string {
  const b = c.base;
  return `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}/${c.prefix}`;
}

export class CidrAllocator {
  readonly cluster: Ipv4Cidr;
  readonly nodeMaskSize: number;
  readonly #count: number;
  /** subnet index → node name */
  readonly #used = new Map<number, string>();
  readonly #byNode = new Map<string, number>();

  constructor(clusterCidr = '10.244.0.0/16', nodeMaskSize = 24) {
    this.cluster = parseCidr(clusterCidr);
    if (nodeMaskSize < this.cluster.prefix || nodeMaskSize > 30) {
      throw new Error(`node mask size /${nodeMaskSize} must lie between the cluster prefix /${this.cluster.prefix} and /30`);
    }
    this.nodeMaskSize = nodeMaskSize;
    this.#count = 2 ** (nodeMaskSize - this.cluster.prefix);
  }

  #cidrOf(index: number): string {
    return formatCidr({ base: (this.cluster.base + index * 2 ** (32 - this.nodeMaskSize)) >>> 0, prefix: this.nodeMaskSize });
  }

  #indexOf(cidr: string): number | undefined {
    let c: Ipv4Cidr;
    try {
      c = parseCidr(cidr);
    } catch {
      return undefined;
    }
    if (c.prefix !== this.nodeMaskSize) return undefined;
    const offset = c.base - this.cluster.base;
    if (offset < 0) return undefined;
    const index = offset / 2 ** (32 - this.nodeMaskSize);
    return Number.isInteger(index) && index < this.#count ? index : undefined;
  }

  /** The CIDR a node holds, if any. */
  cidrOf(node: string): string | undefined {
    const i = this.#byNode.get(node);
    return i === undefined ? undefined : this.#cidrOf(i);
  }

  /**
   * Records a CIDR a node already has (at start-up, or set by someone else). Returns false when
   * it is outside the cluster CIDR or another node holds it (a double allocation to report).
   */
  occupy(node: string, cidr: string): boolean {
    const i = this.#indexOf(cidr);
    if (i === undefined) return false;
    const holder = this.#used.get(i);
    if (holder !== undefined && holder !== node) return false;
    this.#used.set(i, node);
    this.#byNode.set(node, i);
    return true;
  }

  /** Allocates (or returns the existing) CIDR of a node; undefined when the range is full. */
  allocate(node: string): string | undefined {
    const have = this.#byNode.get(node);
    if (have !== undefined) return this.#cidrOf(have);
    const m = /^node-(\d+)$/.exec(node);
    const preferred = m ? Number(m[1]) : undefined;
    let index: number | undefined;
    if (preferred !== undefined && preferred < this.#count && !this.#used.has(preferred)) index = preferred;
    // Otherwise the next free subnet, keeping subnet 0 (10.244.0.0/24) for last: the plan numbers nodes from 1.
    for (let i = 1; index === undefined && i <= this.#count; i++) {
      const candidate = i % this.#count;
      if (!this.#used.has(candidate)) index = candidate;
    }
    if (index === undefined) return undefined;
    this.#used.set(index, node);
    this.#byNode.set(node, index);
    return this.#cidrOf(index);
  }

  release(node: string): void {
    const i = this.#byNode.get(node);
    if (i === undefined) return;
    this.#byNode.delete(node);
    if (this.#used.get(i) === node) this.#used.delete(i);
  }

  get allocated(): number {
    return this.#used.size;
  }
}
