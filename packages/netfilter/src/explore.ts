// `podnet iptables trace`: follows one NEW packet through a rule set and explores every
// `-m statistic --mode random` branch, so the answer lists each possible outcome with its
// probability (kube-proxy's 1/n, 1/(n-1), ... chain gives every endpoint 1/n), its verdict, the
// NAT applied and the rules hit. The path is the one Linux takes (net/ipv4/ip_input.c, ip_output.c):
// a packet from a local address starts at OUTPUT, any other at PREROUTING; after the destination
// NAT it is delivered locally (INPUT; through POSTROUTING first when it was sent locally) when its
// destination is a local address, and forwarded (FORWARD, POSTROUTING) otherwise.
import { formatIpv4 } from '@podnet/wire';
import { Netfilter } from './engine.js';
import type { HookContext, HookName, PacketState, RejectWith } from './hook.js';
import { PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from './packet.js';
import { RuleSet } from './ruleset.js';
import type { TraceEvent } from './trace.js';
import { WhatIfConntrack } from './what-if.js';

export interface TracePacket {
  src: number;
  dst: number;
  protocol: number;
  srcPort: number;
  dstPort: number;
}

export interface TraceSetup {
  /** Addresses of this node (the packet's destination is local when it is one of them or 127.0.0.0/8). */
  localAddresses: readonly number[];
  /** Interface packets arrive by and leave by (default eth0); its address is the first local address. */
  interface?: string;
  /** At most this many outcomes are explored (a bound on pathological rule sets). */
  maxOutcomes?: number;
}

export interface TraceOutcome {
  probability: number;
  verdict: 'accept' | 'drop' | 'reject';
  rejectWith?: RejectWith;
  /** Where the packet ended: delivered to a local socket, sent out (forwarded or locally generated), or stopped. */
  disposition: 'local' | 'sent' | 'stopped';
  /** The hook where it stopped or ended. */
  hook: HookName;
  dnat?: { address: string; port?: number };
  snat?: { address: string; port?: number };
  masquerade: boolean;
  /** The packet as it is at the end. */
  final: { src: string; dst: string; srcPort: number; dstPort: number };
  events: TraceEvent[];
}

export interface TraceResult {
  outcomes: TraceOutcome[];
  /** True when exploration stopped at maxOutcomes. */
  truncated: boolean;
}

function buildPacket(p: TracePacket): Buffer {
  const l4Length = p.protocol === PROTO_TCP ? 20 : p.protocol === PROTO_SCTP ? 12 : 8;
  const buf = Buffer.alloc(20 + l4Length);
  buf[0] = 0x45;
  buf.writeUInt16BE(buf.length, 2);
  buf[6] = 0x40; // DF
  buf[8] = 64;
  buf[9] = p.protocol;
  buf.writeUInt32BE(p.src >>> 0, 12);
  buf.writeUInt32BE(p.dst >>> 0, 16);
  if (p.protocol === PROTO_ICMP) {
    buf[20] = 8; // echo request
    buf.writeUInt16BE(p.srcPort & 0xffff, 24);
  } else {
    buf.writeUInt16BE(p.srcPort, 20);
    buf.writeUInt16BE(p.dstPort, 22);
    if (p.protocol === PROTO_TCP) {
      buf[32] = 0x50;
      buf[33] = 0x02; // SYN
      buf.writeUInt16BE(64240, 34);
    } else if (p.protocol === PROTO_UDP) {
      buf.writeUInt16BE(l4Length, 24);
    }
  }
  return buf;
}

/** A copy of the rule set whose rules have their own counters, so exploring leaves the caller's untouched. */
function withOwnCounters(ruleSet: RuleSet): RuleSet {
  const tables = new Map(
    [...ruleSet.tables].map(([name, table]) => {
      // A copy-on-write clone: zero() copies each chain and its rules, the caller's stay as they are.
      const copy = table.clone();
      copy.zero();
      return [name, copy] as const;
    }),
  );
  return new RuleSet(tables);
}

/** Follows the packet along every statistic branch (the rule set's own counters do not change). */
export function explore(given: RuleSet, packet: TracePacket, setup: TraceSetup): TraceResult {
  const ruleSet = withOwnCounters(given);
  const max = setup.maxOutcomes ?? 1024;
  const local = new Set(setup.localAddresses.map((a) => a >>> 0));
  const isLocal = (a: number) => local.has(a >>> 0) || a >>> 24 === 127;
  const iface = setup.interface ?? 'eth0';
  const ifaceAddress = setup.localAddresses[0];
  const outcomes: TraceOutcome[] = [];
  // Depth-first over the decisions: `prefix` fixes the first choices, later ones take "true" first.
  let prefix: boolean[] = [];
  for (;;) {
    const decisions: Array<{ p: number; choice: boolean }> = [];
    const events: TraceEvent[] = [];
    const tracker = new WhatIfConntrack();
    const engine = new Netfilter({ conntrack: tracker, nat: tracker, trace: (e) => events.push(e) });
    engine.adopt(ruleSet);
    engine.chance = (p) => {
      const i = decisions.length;
      const choice = i < prefix.length ? (prefix[i] as boolean) : true;
      decisions.push({ p, choice });
      return choice;
    };
    const outcome = follow(engine, tracker, packet, isLocal, iface, ifaceAddress, events);
    outcome.probability = decisions.reduce((acc, d) => acc * (d.choice ? d.p : 1 - d.p), 1);
    if (outcome.probability > 0) outcomes.push(outcome);
    // Next branch: flip the last "true" decision to "false" and drop everything after it.
    let k = decisions.length - 1;
    while (k >= 0 && !(decisions[k] as { choice: boolean }).choice) k--;
    if (k < 0) return { outcomes, truncated: false };
    prefix = [...decisions.slice(0, k).map((d) => d.choice), false];
    if (outcomes.length >= max) return { outcomes, truncated: true };
  }
}

function follow(
  engine: Netfilter,
  tracker: WhatIfConntrack,
  p: TracePacket,
  isLocal: (a: number) => boolean,
  iface: string,
  ifaceAddress: number | undefined,
  events: TraceEvent[],
): TraceOutcome {
  const buf = buildPacket(p);
  const packet = { buf, l3Offset: 0, end: buf.length };
  const state: PacketState = { mark: 0, trace: true };
  const context = (hook: HookName, inInterface: string | undefined, outInterface: string | undefined): HookContext => {
    const c: HookContext = {
      hook,
      bridged: false,
      isLocalAddress: isLocal,
      interfaceAddress: (name) => (name === 'lo' ? 0x7f000001 : name === iface ? ifaceAddress : undefined),
    };
    if (inInterface !== undefined) c.inInterface = inInterface;
    if (outInterface !== undefined) c.outInterface = outInterface;
    return c;
  };
  const dst = () => buf.readUInt32BE(16);
  const localSource = isLocal(p.src);
  const path: Array<[HookName, string | undefined, string | undefined]> = [];
  let disposition: TraceOutcome['disposition'] = 'stopped';
  let last: HookName = localSource ? 'OUTPUT' : 'PREROUTING';
  let verdict = localSource
    ? engine.run('OUTPUT', packet, context('OUTPUT', undefined, isLocal(dst()) ? 'lo' : iface), state)
    : engine.run('PREROUTING', packet, context('PREROUTING', iface, undefined), state);
  if (verdict.kind === 'accept') {
    // Routing after the destination NAT (ip_route_me_harder / ip_rcv_finish).
    const toLocal = isLocal(dst());
    if (localSource) path.push(['POSTROUTING', undefined, toLocal ? 'lo' : iface]);
    if (toLocal) path.push(['INPUT', localSource ? 'lo' : iface, undefined]);
    else if (!localSource) path.push(['FORWARD', iface, iface], ['POSTROUTING', undefined, iface]);
    for (const [hook, inIf, outIf] of path) {
      last = hook;
      verdict = engine.run(hook, packet, context(hook, inIf, outIf), state);
      if (verdict.kind !== 'accept') break;
    }
    if (verdict.kind === 'accept') disposition = toLocal ? 'local' : 'sent';
  }
  const outcome: TraceOutcome = {
    probability: 1,
    verdict: verdict.kind,
    disposition,
    hook: last,
    masquerade: events.some((e) => e.table === 'nat' && e.kind === 'rule' && e.target === 'MASQUERADE'),
    final: {
      src: formatIpv4(buf.readUInt32BE(12)),
      dst: formatIpv4(dst()),
      srcPort: p.protocol === PROTO_ICMP ? 0 : buf.readUInt16BE(20),
      dstPort: p.protocol === PROTO_ICMP ? 0 : buf.readUInt16BE(22),
    },
    events,
  };
  if (verdict.kind === 'reject') outcome.rejectWith = verdict.with;
  for (const b of tracker.bindings) {
    const where = { address: formatIpv4(b.address), ...(b.port === undefined ? {} : { port: b.port }) };
    if (b.manip === 'DST') outcome.dnat = where;
    else outcome.snat = where;
  }
  return outcome;
}
