// Connection tracking and NAT for following one packet through the rules (`podnet iptables trace`):
// the packet is the first of a new connection, so the nat table is consulted once per manip type,
// and a DNAT/SNAT/MASQUERADE binding is applied at once by rewriting the addresses and ports in
// place, with the IPv4 and TCP/UDP checksums updated incrementally (RFC 1624). It keeps the bindings
// it made so the caller can report them. Not a connection table: the data plane uses conntrack/.
import { readIpv4, updateChecksum16, updateChecksum32, writeIpv4 } from '@podnet/wire';
import type { ConnectionTracker, CtInfo, NatEngine, NatManip, NatRange, Tuple } from './conntrack/contract.js';
import { ACCEPT, type HookContext, type HookName, type HookPacket, type PacketState, type Verdict } from './hook.js';
import { PROTO_TCP, PROTO_UDP } from './packet.js';

export interface WhatIfBinding {
  manip: NatManip;
  address: number;
  port: number | undefined;
}

interface WhatIfState {
  info: CtInfo;
  untracked: boolean;
  done: Set<NatManip>;
}

const manipOf = (hook: HookName): NatManip | undefined =>
  hook === 'PREROUTING' || hook === 'OUTPUT' ? 'DST' : hook === 'POSTROUTING' || hook === 'INPUT' ? 'SRC' : undefined;

function tupleOf(packet: HookPacket): Tuple {
  const { buf, l3Offset: o } = packet;
  const protocol = buf[o + 9] as number;
  const l4 = o + ((buf[o] as number) & 0x0f) * 4;
  const ports = protocol === PROTO_TCP || protocol === PROTO_UDP || protocol === 132;
  return {
    protocol,
    src: readIpv4(buf, o + 12),
    dst: readIpv4(buf, o + 16),
    srcPort: ports ? buf.readUInt16BE(l4) : 0,
    dstPort: ports ? buf.readUInt16BE(l4 + 2) : 0,
  };
}

/** Rewrites the source or destination address and port, keeping the checksums right (RFC 1624). */
export function rewriteEndpoint(packet: HookPacket, manip: NatManip, address: number, port: number | undefined): void {
  const { buf, l3Offset: o } = packet;
  const at = manip === 'SRC' ? o + 12 : o + 16;
  const old = readIpv4(buf, at);
  const protocol = buf[o + 9] as number;
  const l4 = o + ((buf[o] as number) & 0x0f) * 4;
  buf.writeUInt16BE(updateChecksum32(buf.readUInt16BE(o + 10), old, address), o + 10);
  writeIpv4(buf, at, address);
  const csumAt = protocol === PROTO_TCP ? l4 + 16 : protocol === PROTO_UDP ? l4 + 6 : -1;
  const hasCsum = csumAt >= 0 && csumAt + 2 <= packet.end && !(protocol === PROTO_UDP && buf.readUInt16BE(csumAt) === 0);
  if (hasCsum) buf.writeUInt16BE(updateChecksum32(buf.readUInt16BE(csumAt), old, address), csumAt);
  if (port !== undefined && (protocol === PROTO_TCP || protocol === PROTO_UDP || protocol === 132) && l4 + 4 <= packet.end) {
    const portAt = manip === 'SRC' ? l4 : l4 + 2;
    const oldPort = buf.readUInt16BE(portAt);
    if (hasCsum) buf.writeUInt16BE(updateChecksum16(buf.readUInt16BE(csumAt), oldPort, port), csumAt);
    buf.writeUInt16BE(port, portAt);
  }
}

export class WhatIfConntrack implements ConnectionTracker, NatEngine {
  readonly bindings: WhatIfBinding[] = [];
  readonly #states = new WeakMap<PacketState, WhatIfState>();

  track(_hook: 'PREROUTING' | 'OUTPUT', packet: HookPacket, _context: HookContext, state: PacketState): Verdict | undefined {
    const existing = this.#states.get(state);
    if (existing) return undefined;
    const original = tupleOf(packet);
    const reply: Tuple = {
      protocol: original.protocol,
      src: original.dst,
      dst: original.src,
      srcPort: original.dstPort,
      dstPort: original.srcPort,
    };
    const s: WhatIfState = {
      info: { state: 'NEW', direction: 'original', snat: false, dnat: false, original, reply, mark: 0 },
      untracked: false,
      done: new Set(),
    };
    this.#states.set(state, s);
    state.conntrack = s;
    return undefined;
  }

  untrack(state: PacketState): void {
    const original = { protocol: 0, src: 0, dst: 0, srcPort: 0, dstPort: 0 };
    this.#states.set(state, {
      info: { state: 'UNTRACKED', direction: 'original', snat: false, dnat: false, original, reply: original, mark: 0 },
      untracked: true,
      done: new Set(),
    });
  }

  info(state: PacketState): CtInfo | undefined {
    return this.#states.get(state)?.info;
  }

  confirm(): Verdict | undefined {
    return undefined;
  }

  needsLookup(hook: HookName, state: PacketState): boolean {
    const s = this.#states.get(state);
    const manip = manipOf(hook);
    return s !== undefined && !s.untracked && manip !== undefined && !s.done.has(manip);
  }

  setup(manip: NatManip, range: NatRange, packet: HookPacket, _context: HookContext, state: PacketState): Verdict {
    const s = this.#states.get(state);
    if (!s) return ACCEPT;
    s.done.add(manip);
    const port = range.minPort;
    this.bindings.push({ manip, address: range.minAddress, port });
    if (manip === 'DST') {
      s.info.dnat = true;
      s.info.reply = { ...s.info.reply, src: range.minAddress, srcPort: port ?? s.info.reply.srcPort };
    } else {
      s.info.snat = true;
      s.info.reply = { ...s.info.reply, dst: range.minAddress, dstPort: port ?? s.info.reply.dstPort };
    }
    rewriteEndpoint(packet, manip, range.minAddress, port);
    return ACCEPT;
  }

  setupNull(hook: HookName, state: PacketState): void {
    const manip = manipOf(hook);
    if (manip) this.#states.get(state)?.done.add(manip);
  }

  apply(): Verdict {
    return ACCEPT;
  }
}
