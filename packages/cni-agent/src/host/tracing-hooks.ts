// `podnet trace` in the host namespace: packets that match an active trace's filter when they
// enter (PREROUTING, or OUTPUT for locally sent ones) get state.trace set, as `-t raw -j TRACE`
// would, and every rule they then hit is recorded under the trace's id by the engine's sink.
import { randomUUID } from 'node:crypto';
import type { HookContext, HookName, HookPacket, Netfilter, NetfilterHooks, PacketState, TraceEvent, Verdict } from '@podnet/netfilter';
import { formatTrace } from '@podnet/netfilter';
import { type Clock, type Ipv4Address, parseIpv4 } from '@podnet/wire';
import type { TraceEventBody, TraceStartRequestBody } from '../control/protocol.js';
import { CniAgentError, CniAgentErrorCodes } from '../errors.js';

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132 };

interface ActiveTrace {
  id: string;
  protocol?: number;
  src?: Ipv4Address;
  dst?: Ipv4Address;
  srcPort?: number;
  dstPort?: number;
  remaining: number;
  until: number;
  packets: number;
  events: TraceEventBody[];
}

const MAX_EVENTS = 10_000;

export class TracingHooks implements NetfilterHooks {
  readonly #inner: Netfilter;
  readonly #clock: Clock;
  readonly #traces = new Map<string, ActiveTrace>();

  constructor(inner: Netfilter, clock: Clock) {
    this.#inner = inner;
    this.#clock = clock;
    inner.traceSink = (e) => this.#record(e);
  }

  get needsDefrag(): boolean {
    return this.#inner.needsDefrag;
  }

  start(request: TraceStartRequestBody): string {
    const trace: ActiveTrace = {
      id: randomUUID(),
      remaining: request.maxPackets || 1,
      until: this.#clock.now() + (request.durationMs || 10_000),
      packets: 0,
      events: [],
    };
    const address = (text: string | undefined, what: string): Ipv4Address | undefined => {
      if (!text) return undefined;
      try {
        return parseIpv4(text);
      } catch {
        throw new CniAgentError(CniAgentErrorCodes.OBSERVE, `trace: ${what} "${text}" is not an IPv4 address`);
      }
    };
    if (request.protocol) {
      const p = PROTOCOLS[request.protocol.toLowerCase()];
      if (p === undefined)
        throw new CniAgentError(CniAgentErrorCodes.OBSERVE, `trace: protocol "${request.protocol}" is not one of tcp, udp, sctp, icmp`);
      trace.protocol = p;
    }
    const src = address(request.src, 'source');
    const dst = address(request.dst, 'destination');
    if (src !== undefined) trace.src = src;
    if (dst !== undefined) trace.dst = dst;
    if (request.srcPort !== undefined) trace.srcPort = request.srcPort;
    if (request.dstPort !== undefined) trace.dstPort = request.dstPort;
    this.#traces.set(trace.id, trace);
    return trace.id;
  }

  results(id: string, stop: boolean): { events: TraceEventBody[]; packets: number; active: boolean } {
    const t = this.#traces.get(id);
    if (!t)
      throw new CniAgentError(
        CniAgentErrorCodes.OBSERVE,
        `trace ${id} does not exist on this node (finished and read already, or never started)`,
      );
    if (stop) this.#traces.delete(id);
    return { events: [...t.events], packets: t.packets, active: !stop && t.remaining > 0 && this.#clock.now() < t.until };
  }

  run(hook: HookName, packet: HookPacket, context: HookContext, state: PacketState): Verdict {
    if (this.#traces.size > 0 && !state.trace && (hook === 'PREROUTING' || hook === 'OUTPUT')) this.#mark(packet, state);
    return this.#inner.run(hook, packet, context, state);
  }

  #mark(packet: HookPacket, state: PacketState): void {
    const { buf, l3Offset } = packet;
    const protocol = buf[l3Offset + 9] as number;
    const src = buf.readUInt32BE(l3Offset + 12);
    const dst = buf.readUInt32BE(l3Offset + 16);
    const ihl = ((buf[l3Offset] as number) & 0x0f) * 4;
    const hasPorts = (protocol === 6 || protocol === 17 || protocol === 132) && packet.end - l3Offset >= ihl + 4;
    const sport = hasPorts ? buf.readUInt16BE(l3Offset + ihl) : undefined;
    const dport = hasPorts ? buf.readUInt16BE(l3Offset + ihl + 2) : undefined;
    const now = this.#clock.now();
    for (const t of this.#traces.values()) {
      if (t.remaining <= 0 || now >= t.until) continue;
      if (t.protocol !== undefined && t.protocol !== protocol) continue;
      if (t.src !== undefined && t.src !== src) continue;
      if (t.dst !== undefined && t.dst !== dst) continue;
      if (t.srcPort !== undefined && t.srcPort !== sport) continue;
      if (t.dstPort !== undefined && t.dstPort !== dport) continue;
      t.remaining--;
      t.packets++;
      state.trace = true;
      state.traceId = t.id;
      return;
    }
  }

  #record(e: TraceEvent): void {
    const t = e.traceId !== undefined ? this.#traces.get(e.traceId) : undefined;
    if (!t || t.events.length >= MAX_EVENTS) return;
    const body: TraceEventBody = {
      hook: e.hook,
      table: e.table,
      chain: e.chain,
      kind: e.kind,
      ruleNumber: e.ruleNumber,
      target: e.target,
      src: e.src,
      dst: e.dst,
      protocol: e.protocol,
      mark: e.mark,
      line: formatTrace(e),
    };
    if (e.rule !== undefined) body.rule = e.rule;
    if (e.inInterface !== undefined) body.inInterface = e.inInterface;
    if (e.outInterface !== undefined) body.outInterface = e.outInterface;
    if (e.srcPort !== undefined) body.srcPort = e.srcPort;
    if (e.dstPort !== undefined) body.dstPort = e.dstPort;
    t.events.push(body);
  }
}
