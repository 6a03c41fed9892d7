// The small amount of IPv4 parsing kube-proxy needs: validating addresses it writes into rules and
// testing CIDR membership (LoadBalancerSourceRanges containing the node IP, KUBE-FW-*).
// podnet is IPv4 only (DESIGN §4), so, like a single-stack IPv4 kube-proxy, IPv6 values are
// filtered out rather than rendered (pkg/proxy: each proxier handles one IP family).

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parses dotted-quad IPv4 text to an unsigned 32-bit number, or undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    value = value * 256 + Number(part);
  }
  return value >>> 0;
}

export interface IPv4Cidr {
  /** The network address, masked, as written back into rules (`203.0.113.0/25`). */
  readonly text: string;
  readonly network: number;
  readonly prefix: number;
}

/**
 * Parses `a.b.c.d/n` (whitespace trimmed, as kube-proxy trims LoadBalancerSourceRanges for
 * backward compatibility); undefined when invalid. The host bits are masked off, as
 * net.ParseCIDR does, so the rule names the network.
 */
export function parseIPv4Cidr(text: string): IPv4Cidr | undefined {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIPv4(trimmed.slice(0, slash));
  const prefixText = trimmed.slice(slash + 1);
  if (addr === undefined || !/^\d{1,2}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (addr & mask) >>> 0;
  return { text: `${formatIPv4(network)}/${prefix}`, network, prefix };
}

export function cidrContains(cidr: IPv4Cidr, ip: number): boolean {
  const mask = cidr.prefix === 0 ? 0 : (0xffffffff << (32 - cidr.prefix)) >>> 0;
  return (ip & mask) >>> 0 === cidr.network;
}

export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}
