// A small connection table for the rule engine's tests (DESIGN §6.8), standing in for conntrack/
// and nat/ where a test needs ESTABLISHED packets: the first packet of a 5-tuple is NEW and enters
// the table at confirm; later packets of it, either direction, are ESTABLISHED. DNAT/SNAT bindings
// rewrite original-direction packets and are undone on replies. No timeouts, no TCP state.
import { readIpv4 } from '@podnet/wire';
import type { ConnectionTracker, CtInfo, NatEngine, NatManip, NatRange, Tuple } from '../conntrack/contract.js';
import { ACCEPT, type HookContext, type HookName, type HookPacket, type PacketState, type Verdict } from '../hook.js';
import { rewriteEndpoint } from '../what-if.js';

interface Entry {
  info: CtInfo;
  confirmed: boolean;
  dnat?: { address: number; port: number | undefined };
  snat?: { address: number; port: number | undefined };
  done: Set<NatManip>;
}
interface Ref {
  entry: Entry;
  reply: boolean;
}

const key = (t: Tuple) => `${t.protocol}/${t.src}:${t.srcPort}>${t.dst}:${t.dstPort}`;

function tupleOf(packet: HookPacket): Tuple {
  const { buf, l3Offset: o } = packet;
  const protocol = buf[o + 9] as number;
  const l4 = o + ((buf[o] as number) & 0x0f) * 4;
  const ports = protocol === 6 || protocol === 17 || protocol === 132;
  return {
    protocol,
    src: readIpv4(buf, o + 12),
    dst: readIpv4(buf, o + 16),
    srcPort: ports ? buf.readUInt16BE(l4) : 0,
    dstPort: ports ? buf.readUInt16BE(l4 + 2) : 0,
  };
}

const manipOf = (hook: HookName): NatManip | undefined =>
  hook === 'PREROUTING' || hook === 'OUTPUT' ? 'DST' : hook === 'POSTROUTING' || hook === 'INPUT' ? 'SRC' : undefined;

export class FakeConntrack implements ConnectionTracker, NatEngine {
  readonly table = new Map<string, Ref>();
  readonly #refs = new WeakMap<PacketState, Ref | 'untracked'>();
  lookups = 0;

  track(_hook: 'PREROUTING' | 'OUTPUT', packet: HookPacket, _c: HookContext, state: PacketState): Verdict | undefined {
    if (this.#refs.get(state) === 'untracked' || this.#refs.has(state)) return undefined;
    const t = tupleOf(packet);
    this.lookups++;
    const found = this.table.get(key(t));
    if (found) {
      found.entry.info.state = 'ESTABLISHED';
      found.entry.info.direction = found.reply ? 'reply' : 'original';
      this.#refs.set(state, found);
      return undefined;
    }
    const reply: Tuple = { protocol: t.protocol, src: t.dst, dst: t.src, srcPort: t.dstPort, dstPort: t.srcPort };
    const entry: Entry = {
      info: { state: 'NEW', direction: 'original', snat: false, dnat: false, original: t, reply, mark: 0 },
      confirmed: false,
      done: new Set(),
    };
    this.#refs.set(state, { entry, reply: false });
    return undefined;
  }
  untrack(state: PacketState): void {
    this.#refs.set(state, 'untracked');
  }
  info(state: PacketState): CtInfo | undefined {
    const r = this.#refs.get(state);
    if (r === 'untracked')
      return {
        state: 'UNTRACKED',
        direction: 'original',
        snat: false,
        dnat: false,
        original: { protocol: 0, src: 0, dst: 0, srcPort: 0, dstPort: 0 },
        reply: { protocol: 0, src: 0, dst: 0, srcPort: 0, dstPort: 0 },
        mark: 0,
      };
    return r?.entry.info;
  }
  confirm(state: PacketState): Verdict | undefined {
    const r = this.#refs.get(state);
    if (!r || r === 'untracked' || r.entry.confirmed) return undefined;
    r.entry.confirmed = true;
    this.table.set(key(r.entry.info.original), { entry: r.entry, reply: false });
    this.table.set(key(r.entry.info.reply), { entry: r.entry, reply: true });
    return undefined;
  }
  needsLookup(hook: HookName, state: PacketState): boolean {
    const r = this.#refs.get(state);
    const m = manipOf(hook);
    return r !== undefined && r !== 'untracked' && !r.entry.confirmed && m !== undefined && !r.entry.done.has(m);
  }
  setup(manip: NatManip, range: NatRange, _p: HookPacket, _c: HookContext, state: PacketState): Verdict {
    const r = this.#refs.get(state);
    if (!r || r === 'untracked') return ACCEPT;
    const e = r.entry;
    e.done.add(manip);
    const to = { address: range.minAddress, port: range.minPort };
    if (manip === 'DST') {
      e.dnat = to;
      e.info.dnat = true;
      e.info.reply = { ...e.info.reply, src: to.address, srcPort: to.port ?? e.info.reply.srcPort };
    } else {
      e.snat = to;
      e.info.snat = true;
      e.info.reply = { ...e.info.reply, dst: to.address, dstPort: to.port ?? e.info.reply.dstPort };
    }
    return ACCEPT;
  }
  setupNull(hook: HookName, state: PacketState): void {
    const r = this.#refs.get(state);
    const m = manipOf(hook);
    if (r && r !== 'untracked' && m) r.entry.done.add(m);
  }
  apply(hook: HookName, packet: HookPacket, _c: HookContext, state: PacketState): Verdict {
    const r = this.#refs.get(state);
    const m = manipOf(hook);
    if (!r || r === 'untracked' || !m) return ACCEPT;
    const e = r.entry;
    if (!r.reply) {
      const b = m === 'DST' ? e.dnat : e.snat;
      if (b) rewriteEndpoint(packet, m, b.address, b.port);
    } else {
      // Replies: undo the other side's binding (a DNATed connection's replies get their source back).
      const o = e.info.original;
      if (m === 'DST' && e.snat) rewriteEndpoint(packet, 'DST', o.src, o.srcPort);
      if (m === 'SRC' && e.dnat) rewriteEndpoint(packet, 'SRC', o.dst, o.dstPort);
    }
    return ACCEPT;
  }
}
