// `-s`/`-d` values as iptables reads them (libxtables xtables_ipparse_any / xtables_numeric_to_ipaddr):
// an address with 1-4 dotted parts (missing trailing parts are zero, as inet_aton-style parsing does),
// then an optional `/prefix` or `/dotted-mask`. Host bits are cleared; iptables-save prints `/prefix`
// for contiguous masks and the dotted mask otherwise.
import { formatIpv4 } from '@podnet/wire';
import { RuleError } from './errors.js';

/** 1-4 dot-separated decimal parts of 1-3 digits, each at most 255; missing trailing parts are 0. */
function parseDotted(text: string): number | undefined {
  // By character codes: every rule's -s/-d goes through here (no split, no regex).
  const n = text.length;
  let value = 0;
  let parts = 0;
  let i = 0;
  for (;;) {
    let digits = 0;
    let part = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 46) break;
      if (c < 48 || c > 57 || digits === 3) return undefined;
      part = part * 10 + (c - 48);
      digits++;
      i++;
    }
    if (digits === 0 || part > 255) return undefined;
    value = value * 256 + part;
    parts++;
    if (i >= n) break;
    if (parts === 4) return undefined;
    i++;
  }
  for (; parts < 4; parts++) value *= 256;
  return value >>> 0;
}

/** With `keepHostBits` the address is kept as written (libxt_conntrack does not clear host bits). */
export function parseAddressMask(text: string, keepHostBits = false): { address: number; mask: number } {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  let mask = 0xffffffff;
  if (slash >= 0) {
    const maskText = text.slice(slash + 1);
    if (/^\d{1,2}$/.test(maskText) && Number(maskText) <= 32) {
      const n = Number(maskText);
      mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
    } else if (maskText.includes('.')) {
      const m = parseDotted(maskText);
      if (m === undefined || maskText.split('.').length !== 4) throw new RuleError(`invalid mask \`${maskText}' specified`, text);
      mask = m;
    } else {
      throw new RuleError(`invalid mask \`${maskText}' specified`, text);
    }
  }
  const address = parseDotted(addrText);
  if (address === undefined) throw new RuleError(`host/network \`${addrText}' not found`, text);
  return { address: keepHostBits ? address : (address & mask) >>> 0, mask };
}

/** Prefix length of a contiguous mask, or -1. */
export function maskPrefix(mask: number): number {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  let n = 0;
  for (let m = mask; m !== 0; m = (m << 1) >>> 0) n++;
  return n;
}

/** iptables-save form: `10.0.0.0/8`, `1.2.3.4/32`, `10.0.0.0/255.0.255.0`. */
export function formatAddressMask(address: number, mask: number): string {
  const p = maskPrefix(mask);
  return `${formatIpv4(address)}/${p >= 0 ? p : formatIpv4(mask)}`;
}

/** iptables -L form: the /32 is dropped, 0.0.0.0/0 stays. */
export function listAddressMask(address: number, mask: number): string {
  return mask === 0xffffffff ? formatIpv4(address) : formatAddressMask(address, mask);
}

/** Ports: a number 0-65535 (service names are refused: podnet has no /etc/services table). */
export function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new RuleError(`invalid port/service \`${text}' specified`, text);
  return Number(text);
}

/** `N`, `N:M`, `:M`, `N:` (libxt_tcp parse_tcp_ports). */
export function parsePortRange(text: string): [number, number] {
  const colon = text.indexOf(':');
  if (colon < 0) {
    const p = parsePort(text);
    return [p, p];
  }
  const lo = colon === 0 ? 0 : parsePort(text.slice(0, colon));
  const hi = colon === text.length - 1 ? 65535 : parsePort(text.slice(colon + 1));
  // libxt_tcp swaps an inverted range silently? No: xtables refuses min > max.
  if (lo > hi) throw new RuleError(`invalid portrange (min > max) specified`, text);
  return [lo, hi];
}

export function formatPortRange(lo: number, hi: number): string {
  return lo === hi ? String(lo) : `${lo}:${hi}`;
}
