// IPv4 and MAC address types. In Reprs an IPv4 address is an unsigned 32-bit number and a MAC
// address a 48-bit number: comparisons, hashing and CIDR math stay cheap on the data plane,
// and parse/format convert to the dotted and colon forms people read.
import { ErrorCodes, PodnetError } from './errors.js';

/** An IPv4 address as an unsigned 32-bit integer (network byte order value). */
export type Ipv4Address = number;
/** A MAC (EUI-48) address as an unsigned 48-bit integer. */
export type MacAddress = number;

export const IPV4_ANY: Ipv4Address = 0;
export const IPV4_BROADCAST: Ipv4Address = 0xffffffff;
export const MAC_BROADCAST: MacAddress = 0xffffffffffff;
export const MAC_ZERO: MacAddress = 0;

const IPV4_RE =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function isIpv4(text: string): boolean {
  return IPV4_RE.test(text);
}

/** Parses dotted-quad text ("10.244.1.2"); leading zeros are refused (they mean octal to inet_aton). */
export function parseIpv4(text: string): Ipv4Address {
  const m = IPV4_RE.exec(text);
  if (!m) {
    throw new PodnetError(
      ErrorCodes.PARSE_ADDRESS,
      `"${text}" is not an IPv4 address: expected four decimal numbers 0-255 separated by dots, like 10.244.1.2`,
    );
  }
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export function formatIpv4(ip: Ipv4Address): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function readIpv4(buf: Uint8Array, offset: number): Ipv4Address {
  return (
    (((buf[offset] as number) << 24) |
      ((buf[offset + 1] as number) << 16) |
      ((buf[offset + 2] as number) << 8) |
      (buf[offset + 3] as number)) >>>
    0
  );
}

export function writeIpv4(buf: Uint8Array, offset: number, ip: Ipv4Address): void {
  buf[offset] = ip >>> 24;
  buf[offset + 1] = (ip >>> 16) & 0xff;
  buf[offset + 2] = (ip >>> 8) & 0xff;
  buf[offset + 3] = ip & 0xff;
}

const MAC_RE = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;

export function isMac(text: string): boolean {
  return MAC_RE.test(text);
}

/** Parses "0a:58:0a:f4:01:02" (colons or dashes, any case). */
export function parseMac(text: string): MacAddress {
  const m = MAC_RE.exec(text);
  if (!m) {
    throw new PodnetError(
      ErrorCodes.PARSE_ADDRESS,
      `"${text}" is not a MAC address: expected six hex bytes separated by colons, like 0a:58:0a:f4:01:02`,
    );
  }
  let mac = 0;
  for (let i = 1; i <= 6; i++) mac = mac * 256 + Number.parseInt(m[i] as string, 16);
  return mac;
}

export function formatMac(mac: MacAddress): string {
  const parts: string[] = [];
  let v = mac;
  for (let i = 0; i < 6; i++) {
    parts.unshift((v % 256).toString(16).padStart(2, '0'));
    v = Math.floor(v / 256);
  }
  return parts.join(':');
}

export function readMac(buf: Uint8Array, offset: number): MacAddress {
  return (
    (buf[offset] as number) * 2 ** 40 +
    (buf[offset + 1] as number) * 2 ** 32 +
    ((((buf[offset + 2] as number) << 24) |
      ((buf[offset + 3] as number) << 16) |
      ((buf[offset + 4] as number) << 8) |
      (buf[offset + 5] as number)) >>>
      0)
  );
}

export function writeMac(buf: Uint8Array, offset: number, mac: MacAddress): void {
  const hi = Math.floor(mac / 2 ** 32);
  const lo = mac >>> 0;
  buf[offset] = (hi >>> 8) & 0xff;
  buf[offset + 1] = hi & 0xff;
  buf[offset + 2] = lo >>> 24;
  buf[offset + 3] = (lo >>> 16) & 0xff;
  buf[offset + 4] = (lo >>> 8) & 0xff;
  buf[offset + 5] = lo & 0xff;
}

/** The I/G bit (IEEE 802 §8.2): set on multicast and broadcast addresses. */
export function isMulticastMac(mac: MacAddress): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

/**
 * The MAC Kubernetes CNIs give a pod for an IPv4 address: 0a:58 followed by the address
 * (the bridge plugin's "hardware address from IP" convention; locally administered).
 */
export function macFromIpv4(ip: Ipv4Address): MacAddress {
  return 0x0a58 * 2 ** 32 + ip;
}
