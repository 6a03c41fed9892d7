// The routing table (`ip route`): longest-prefix match, then the lowest metric (fib_table_lookup).
// Kinds as Linux has them: connected routes (proto kernel scope link, added with an address),
// static routes to a destination through an interface, routes via a gateway (which must be
// reachable through a connected route unless `onlink`, as flannel's `via 10.244.N.0 dev flannel.1
// onlink` is), each with an optional preferred source (`src`, RFC 1122 §3.3.4.3).
import { type Cidr, cidrContains, formatCidr, formatIpv4, type Ipv4Address, parseCidr, parseIpv4 } from '@podnet/wire';
import { configError } from './errors.js';

export type RouteProto = 'kernel' | 'static';

export interface Route {
  dst: Cidr;
  /** The next hop; undefined for a directly connected destination. */
  via?: Ipv4Address;
  dev: string;
  metric: number;
  /** Preferred source address. */
  src?: Ipv4Address;
  onlink: boolean;
  proto: RouteProto;
  /** Route MTU (`ip route ... mtu N`); the interface MTU when undefined. */
  mtu?: number;
}

export interface RouteSpec {
  /** '10.244.2.0/24', 'default', or a Cidr. */
  dst: string | Cidr;
  via?: string | Ipv4Address;
  dev: string;
  metric?: number;
  src?: string | Ipv4Address;
  onlink?: boolean;
  mtu?: number;
}

function toIp(v: string | Ipv4Address, what: string): Ipv4Address {
  if (typeof v === 'number') return v >>> 0;
  try {
    return parseIpv4(v);
  } catch {
    throw configError(`route ${what} "${v}" is not an IPv4 address`);
  }
}

export function formatRoute(r: Route): string {
  const dst = r.dst.prefix === 0 ? 'default' : formatCidr(r.dst);
  return [
    dst,
    r.via !== undefined ? `via ${formatIpv4(r.via)}` : '',
    `dev ${r.dev}`,
    r.proto === 'kernel' ? 'proto kernel scope link' : '',
    r.src !== undefined ? `src ${formatIpv4(r.src)}` : '',
    r.metric ? `metric ${r.metric}` : '',
    r.mtu !== undefined ? `mtu ${r.mtu}` : '',
    r.onlink ? 'onlink' : '',
  ]
    .filter(Boolean)
    .join(' ');
}

export class RouteTable {
  #routes: Route[] = [];

  /**
   * Adds a route. `hasDevice` says whether the interface exists; `connected` whether an address is
   * reachable through a connected route (gateways must be, unless onlink: fib_check_nh).
   */
  add(spec: RouteSpec, hasDevice: (dev: string) => boolean): Route {
    let dst: Cidr;
    if (typeof spec.dst === 'string') {
      try {
        dst = spec.dst === 'default' ? { network: 0, prefix: 0 } : parseCidr(spec.dst, { strict: true });
      } catch (error) {
        throw configError(`route destination "${spec.dst}" is not a CIDR with its host bits zero (${(error as Error).message})`);
      }
    } else {
      dst = spec.dst;
    }
    if (!hasDevice(spec.dev)) throw configError(`route ${formatCidr(dst)}: no interface named "${spec.dev}" in this namespace`);
    const metric = spec.metric ?? 0;
    if (!Number.isInteger(metric) || metric < 0) throw configError(`route ${formatCidr(dst)}: metric ${metric} must be an integer >= 0`);
    const route: Route = {
      dst,
      dev: spec.dev,
      metric,
      onlink: spec.onlink ?? false,
      proto: 'static',
    };
    if (spec.via !== undefined) route.via = toIp(spec.via, 'gateway');
    if (spec.src !== undefined) route.src = toIp(spec.src, 'source');
    if (spec.mtu !== undefined) {
      if (!Number.isInteger(spec.mtu) || spec.mtu < 68) throw configError(`route ${formatCidr(dst)}: mtu ${spec.mtu} must be >= 68`);
      route.mtu = spec.mtu;
    }
    if (route.via !== undefined && !route.onlink) {
      const gw = route.via;
      const reachable = this.#routes.some((r) => r.proto === 'kernel' && r.dev === route.dev && cidrContains(r.dst, gw));
      if (!reachable) {
        throw configError(
          `route ${formatCidr(dst)} via ${formatIpv4(gw)} dev ${route.dev}: the gateway is not on a connected subnet of ${route.dev} ` +
            '(Linux: "Nexthop has invalid gateway"); add an address on that subnet first, or use onlink',
        );
      }
    }
    this.#insert(route);
    return route;
  }

  /** A connected route for an address just assigned (proto kernel scope link src <address>). */
  addConnected(subnet: Cidr, dev: string, src: Ipv4Address): Route {
    const route: Route = { dst: subnet, dev, metric: 0, src, onlink: false, proto: 'kernel' };
    this.#insert(route);
    return route;
  }

  #insert(route: Route): void {
    const same = this.#routes.findIndex(
      (r) => r.dst.network === route.dst.network && r.dst.prefix === route.dst.prefix && r.metric === route.metric,
    );
    if (same >= 0) {
      throw configError(
        `route ${formatRoute(route)}: a route to ${formatCidr(route.dst)} with metric ${route.metric} exists already (RTNETLINK: File exists)`,
      );
    }
    this.#routes.push(route);
    // Most specific first, then lowest metric: lookup takes the first match.
    this.#routes.sort((a, b) => b.dst.prefix - a.dst.prefix || a.metric - b.metric);
  }

  /** Removes routes matching dst (and dev/metric when given); returns how many. */
  delete(dst: string | Cidr, options: { dev?: string; metric?: number } = {}): number {
    const c = typeof dst === 'string' ? (dst === 'default' ? { network: 0, prefix: 0 } : parseCidr(dst)) : dst;
    const before = this.#routes.length;
    this.#routes = this.#routes.filter(
      (r) =>
        !(
          r.dst.network === c.network &&
          r.dst.prefix === c.prefix &&
          (options.dev === undefined || r.dev === options.dev) &&
          (options.metric === undefined || r.metric === options.metric)
        ),
    );
    return before - this.#routes.length;
  }

  /** Removes every route through an interface (it went away, or lost its address). */
  deleteByDevice(dev: string, predicate: (r: Route) => boolean = () => true): void {
    this.#routes = this.#routes.filter((r) => !(r.dev === dev && predicate(r)));
  }

  /** Longest-prefix match, lowest metric among equals. */
  lookup(dst: Ipv4Address): Route | undefined {
    for (const r of this.#routes) if (cidrContains(r.dst, dst)) return r;
    return undefined;
  }

  list(): Route[] {
    return this.#routes.map((r) => ({ ...r }));
  }

  /** `ip route show` lines. */
  show(): string[] {
    return this.#routes.map(formatRoute);
  }
}
