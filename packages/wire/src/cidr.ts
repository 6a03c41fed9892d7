// IPv4 CIDR math for routes, podCIDRs, Service ranges and iptables -s/-d matches.
import { formatIpv4, type Ipv4Address, parseIpv4 } from './address.js';
import { ErrorCodes, PodnetError } from './errors.js';

export interface Cidr {
  /** The network address (host bits zero). */
  readonly network: Ipv4Address;
  /** Prefix length 0..32. */
  readonly prefix: number;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses "10.244.0.0/16" (a bare address means /32). With `strict`, host bits must be zero,
 * as Kubernetes validation requires for podCIDR and serviceCIDR; otherwise they are cleared,
 * as `ip route add 10.244.1.7/24` would refuse and iptables silently does.
 */
export function parseCidr(text: string, options: { strict?: boolean } = {}): Cidr {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? '32' : text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
    throw new PodnetError(
      ErrorCodes.PARSE_ADDRESS,
      `"${text}" is not an IPv4 CIDR: the prefix length after "/" must be 0-32, like 10.244.0.0/16`,
    );
  }
  let ip: number;
  try {
    ip = parseIpv4(addrText);
  } catch {
    throw new PodnetError(ErrorCodes.PARSE_ADDRESS, `"${text}" is not an IPv4 CIDR: "${addrText}" is not an IPv4 address`);
  }
  const prefix = Number(prefixText);
  const network = (ip & prefixMask(prefix)) >>> 0;
  if (options.strict && network !== ip) {
    throw new PodnetError(ErrorCodes.PARSE_ADDRESS, `"${text}" has host bits set: did you mean ${formatIpv4(network)}/${prefix}?`);
  }
  return { network, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

export function cidrContains(cidr: Cidr, ip: Ipv4Address): boolean {
  return (ip & prefixMask(cidr.prefix)) >>> 0 === cidr.network;
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.network);
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.network) || cidrContains(b, a.network);
}

export function cidrBroadcast(cidr: Cidr): Ipv4Address {
  return (cidr.network | ~prefixMask(cidr.prefix)) >>> 0;
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** The i-th address of the block (0 = the network address). */
export function cidrAddress(cidr: Cidr, index: number): Ipv4Address {
  if (!Number.isInteger(index) || index < 0 || index >= cidrSize(cidr)) {
    throw new RangeError(`index ${index} is outside ${formatCidr(cidr)} (${cidrSize(cidr)} addresses)`);
  }
  return (cidr.network + index) >>> 0;
}

/**
 * Iterates the block's addresses. `hostsOnly` skips the network and broadcast addresses of
 * blocks larger than /31 (RFC 3021 makes both addresses of a /31 usable).
 */
export function* cidrAddresses(cidr: Cidr, options: { hostsOnly?: boolean } = {}): Generator<Ipv4Address> {
  const size = cidrSize(cidr);
  const skipEnds = options.hostsOnly === true && cidr.prefix < 31;
  const first = skipEnds ? 1 : 0;
  const last = skipEnds ? size - 2 : size - 1;
  for (let i = first; i <= last; i++) yield (cidr.network + i) >>> 0;
}

/** Splits `cidr` into subnets of `prefix` (node IPAM carving /24s out of 10.244.0.0/16). */
export function* cidrSubnets(cidr: Cidr, prefix: number): Generator<Cidr> {
  if (!Number.isInteger(prefix) || prefix < cidr.prefix || prefix > 32) {
    throw new RangeError(`cannot split ${formatCidr(cidr)} into /${prefix} subnets`);
  }
  const step = 2 ** (32 - prefix);
  const count = 2 ** (prefix - cidr.prefix);
  for (let i = 0; i < count; i++) yield { network: (cidr.network + i * step) >>> 0, prefix };
}
