// Packets and hook plumbing for conntrack/NAT tests (DESIGN §6.8: fakes ship under src/testing/).
// Packets are built with the wire codecs, so every checksum starts right and tests can check
// that NAT kept it right.
import { icmpv4, ipv4, parseIpv4, sctp, tcp, udp } from '@podnet/wire';
import type { NatRange } from '../conntrack/contract.js';
import type { Conntrack } from '../conntrack/tracker.js';
import type { HookContext, HookName, HookPacket, PacketState, Verdict } from '../hook.js';
import type { MasqueradeOptions, Nat } from '../nat/nat-engine.js';

export const ip = parseIpv4;

function ipPacket(protocol: number, src: string, dst: string, payload: Buffer): HookPacket {
  const buf = ipv4.encode({
    dscp: 0,
    ecn: 0,
    identification: 1,
    reservedFlag: false,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: 64,
    protocol,
    src: ip(src),
    dst: ip(dst),
    options: Buffer.alloc(0),
    payload,
  });
  return { buf, l3Offset: 0, end: buf.length };
}

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface TcpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  data?: Buffer;
  wscale?: number;
}

export function tcpPacket(s: TcpSpec): HookPacket {
  const options: tcp.TcpOption[] =
    s.wscale !== undefined ? [{ kind: 'window-scale', shift: s.wscale } as tcp.TcpOption, { kind: 'nop' } as tcp.TcpOption] : [];
  const seg = tcp.encode(
    {
      srcPort: s.sport,
      dstPort: s.dport,
      seq: s.seq ?? 0,
      ack: s.ack ?? 0,
      reserved: 0,
      flags: s.flags,
      window: s.window ?? 64240,
      urgentPointer: 0,
      options,
      payload: s.data ?? Buffer.alloc(0),
    },
    undefined,
    0,
    { src: ip(s.src), dst: ip(s.dst) },
  );
  return ipPacket(6, s.src, s.dst, seg);
}

export function udpPacket(src: string, sport: number, dst: string, dport: number, data = Buffer.from('hello')): HookPacket {
  const seg = udp.encode({ srcPort: sport, dstPort: dport, payload: data }, undefined, 0, { src: ip(src), dst: ip(dst) });
  return ipPacket(17, src, dst, seg);
}

export function icmpEcho(src: string, dst: string, id: number, reply = false, sequence = 1): HookPacket {
  const msg = icmpv4.encode({ kind: reply ? 'echo-reply' : 'echo-request', code: 0, identifier: id, sequence, data: Buffer.from('ping') });
  return ipPacket(1, src, dst, msg);
}

/** An ICMP destination unreachable (or time exceeded) from `src` to `dst` quoting `offending`. */
export function icmpError(
  src: string,
  dst: string,
  offending: HookPacket,
  code = 3,
  kind: 'destination-unreachable' | 'time-exceeded' = 'destination-unreachable',
): HookPacket {
  const quote = icmpv4.quoteOf(offending.buf.subarray(offending.l3Offset, offending.end));
  const msg =
    kind === 'destination-unreachable'
      ? icmpv4.encode({ kind, code, unused: 0, nextHopMtu: 0, quote })
      : icmpv4.encode({ kind, code, unused: 0, quote });
  return ipPacket(1, src, dst, msg);
}

export function sctpPacket(src: string, sport: number, dst: string, dport: number, chunkType: number): HookPacket {
  const msg = sctp.encode({
    srcPort: sport,
    dstPort: dport,
    verificationTag: 0x1234,
    chunks: [{ type: chunkType, flags: 0, value: Buffer.alloc(16, 7) }],
  });
  return ipPacket(132, src, dst, msg);
}

export function greLikePacket(src: string, dst: string): HookPacket {
  return ipPacket(47, src, dst, Buffer.from([0, 0, 0x08, 0, 1, 2, 3, 4]));
}

export function newState(): PacketState {
  return { mark: 0, trace: false };
}

export interface Addresses {
  local?: string[];
  interfaces?: Record<string, string>;
}

export function context(hook: HookName, inInterface?: string, outInterface?: string, addrs: Addresses = {}): HookContext {
  const local = new Set((addrs.local ?? []).map(ip));
  const ifs = addrs.interfaces ?? {};
  const c: HookContext = {
    hook,
    bridged: false,
    isLocalAddress: (a) => local.has(a),
    interfaceAddress: (name) => (ifs[name] === undefined ? undefined : ip(ifs[name] as string)),
  };
  if (inInterface !== undefined) c.inInterface = inInterface;
  if (outInterface !== undefined) c.outInterface = outInterface;
  return c;
}

/** The NAT rules of a test router, applied by hand as the nat table would: the first matching one wins. */
export interface HandRules {
  dnat?: (packet: HookPacket) => NatRange | undefined;
  snat?: (packet: HookPacket) => NatRange | undefined;
  masquerade?: (packet: HookPacket) => MasqueradeOptions | undefined;
  /** The filter table's FORWARD verdict (DROP/REJECT rules). */
  forward?: (packet: HookPacket, state: PacketState) => Verdict | undefined;
}

export interface RouterPass {
  verdict: Verdict;
  state: PacketState;
}

/**
 * One packet forwarded by a router namespace, through the hooks in Linux's order: conntrack in,
 * nat PREROUTING (DNAT), filter FORWARD, nat POSTROUTING (SNAT/MASQUERADE), conntrack confirm.
 */
export function forward(
  ct: Conntrack,
  nat: Nat,
  packet: HookPacket,
  rules: HandRules,
  inIf: string,
  outIf: string,
  addrs: Addresses = {},
): RouterPass {
  const state = newState();
  const pre = context('PREROUTING', inIf, undefined, addrs);
  const dropped = ct.track('PREROUTING', packet, pre, state);
  if (dropped) return { verdict: dropped, state };
  if (nat.needsLookup('PREROUTING', state)) {
    const range = rules.dnat?.(packet);
    if (range) nat.setup('DST', range, packet, pre, state);
    else nat.setupNull('PREROUTING', state);
  }
  const v1 = nat.apply('PREROUTING', packet, pre, state);
  if (v1.kind !== 'accept') return { verdict: v1, state };
  const filtered = rules.forward?.(packet, state);
  if (filtered && filtered.kind !== 'accept') return { verdict: filtered, state };
  const post = context('POSTROUTING', undefined, outIf, addrs);
  if (nat.needsLookup('POSTROUTING', state)) {
    const masq = rules.masquerade?.(packet);
    const range = rules.snat?.(packet);
    let v: Verdict | undefined;
    if (masq) v = nat.masquerade(masq, packet, post, state);
    else if (range) v = nat.setup('SRC', range, packet, post, state);
    else nat.setupNull('POSTROUTING', state);
    if (v && v.kind !== 'accept') return { verdict: v, state };
  }
  const v2 = nat.apply('POSTROUTING', packet, post, state);
  if (v2.kind !== 'accept') return { verdict: v2, state };
  const confirmed = ct.confirm(state);
  return { verdict: confirmed ?? v2, state };
}

/** Decodes the packet and checks every checksum in it (IPv4, and TCP/UDP/ICMP/SCTP). */
export function decodeChecked(packet: HookPacket): { ip: ipv4.Ipv4Repr; checksumsOk: boolean } {
  const b = packet.buf.subarray(packet.l3Offset, packet.end);
  const repr = ipv4.decode(b);
  const pl = repr.payload;
  const pseudo = { src: repr.src, dst: repr.dst };
  let l4ok = true;
  if (repr.protocol === 6) l4ok = tcp.checksumValid(pl, 0, pl.length, pseudo);
  else if (repr.protocol === 17) l4ok = udp.checksumValid(pl, 0, pl.length, pseudo);
  else if (repr.protocol === 1) l4ok = icmpv4.checksumValid(pl, 0, pl.length);
  else if (repr.protocol === 132) l4ok = sctp.checksumValid(pl, 0, pl.length);
  return { ip: repr, checksumsOk: ipv4.checksumValid(b) && l4ok };
}
