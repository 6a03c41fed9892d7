// Two IpLayers joined in memory (DESIGN §6.8), for testing transports before any link exists:
// what one sends (with its real TCP header and checksum) arrives at the other's transport, after
// seeded loss, reordering and delay. Delivery is asynchronous (a FIFO drained on setImmediate,
// delays on the injected clock), so a send never re-enters the receiver on the same stack.
import { type Clock, formatIpv4, type Ipv4Address, parseIpv4, type Rng, SeededRng, tcp } from '@podnet/wire';
import { FakeClock } from '../../../wire/src/testing/fake-clock.js';
import type { IncomingHeader, IpLayer, OutgoingPacket, SendResult, TransportProtocol } from '../transport.js';

export interface FakeIpPairOptions {
  /** Probability that a packet is lost. */
  loss?: number;
  /** Probability that a packet is held back and delivered after the next one. */
  reorder?: number;
  /** One-way delay in ms of the clock. */
  delayMs?: number;
  seed?: number;
  /** The path MTU both sides see (default 1500). */
  mtu?: number;
  clock?: Clock;
  /** The two addresses (default 10.244.1.2 and 10.244.2.3). */
  addresses?: [string, string];
  /** Keep every segment sent, decoded, in `captured`. */
  capture?: boolean;
}

export interface CapturedSegment {
  from: 'a' | 'b';
  at: number;
  src: Ipv4Address;
  dst: Ipv4Address;
  segment: tcp.TcpRepr;
  dropped: boolean;
}

export class FakeIpLayer implements IpLayer {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly transports = new Map<number, TransportProtocol>();
  /** The MTU learned from ICMP, if a test lowered it (RFC 1191). */
  learnedMtu: number | undefined;

  constructor(
    readonly pair: FakeIpPair,
    readonly name: 'a' | 'b',
    readonly address: Ipv4Address,
    rngSeed: number,
  ) {
    this.clock = pair.clock;
    this.rng = new SeededRng(rngSeed);
  }

  register(transport: TransportProtocol): void {
    this.transports.set(transport.protocol, transport);
  }

  sourceFor(dst: Ipv4Address): Ipv4Address | undefined {
    return dst === this.pair.peerOf(this).address || this.isLocalAddress(dst) ? this.address : undefined;
  }

  pathMtu(dst: Ipv4Address): number | undefined {
    return this.sourceFor(dst) === undefined ? undefined : (this.learnedMtu ?? this.pair.mtu);
  }

  isLocalAddress(address: Ipv4Address): boolean {
    return address === this.address;
  }

  send(packet: OutgoingPacket): SendResult {
    return this.pair.transmit(this, packet);
  }
}

interface QueuedPacket {
  to: FakeIpLayer;
  protocol: number;
  header: IncomingHeader;
  payload: Buffer;
}

export class FakeIpPair {
  readonly clock: Clock;
  readonly a: FakeIpLayer;
  readonly b: FakeIpLayer;
  readonly mtu: number;
  loss: number;
  reorder: number;
  delayMs: number;
  readonly captured: CapturedSegment[] = [];
  capture: boolean;
  /** Return true to drop a packet (after capture): for targeted losses. */
  dropIf: ((segment: tcp.TcpRepr, from: 'a' | 'b') => boolean) | undefined;
  readonly stats = { sent: 0, delivered: 0, lost: 0, reordered: 0 };
  readonly #faults: Rng;
  readonly #queue: QueuedPacket[] = [];
  #held: QueuedPacket | undefined;
  #flushScheduled = false;

  constructor(options: FakeIpPairOptions = {}) {
    this.clock = options.clock ?? new FakeClock();
    const seed = options.seed ?? 1;
    const [a, b] = options.addresses ?? ['10.244.1.2', '10.244.2.3'];
    this.a = new FakeIpLayer(this, 'a', parseIpv4(a), seed * 7 + 1);
    this.b = new FakeIpLayer(this, 'b', parseIpv4(b), seed * 7 + 2);
    this.#faults = new SeededRng(seed * 7 + 3);
    this.mtu = options.mtu ?? 1500;
    this.loss = options.loss ?? 0;
    this.reorder = options.reorder ?? 0;
    this.delayMs = options.delayMs ?? 0;
    this.capture = options.capture ?? false;
  }

  peerOf(layer: FakeIpLayer): FakeIpLayer {
    return layer === this.a ? this.b : this.a;
  }

  transmit(from: FakeIpLayer, packet: OutgoingPacket): SendResult {
    const to = this.peerOf(from);
    if (packet.src !== from.address) return { ok: false, error: 'EADDRNOTAVAIL' };
    if (packet.dst !== to.address) return { ok: false, error: 'ENETUNREACH' };
    // With DF set, a local send above the path MTU fails as Linux ip_queue_xmit does (EMSGSIZE).
    if (packet.payload.length + 20 > (from.learnedMtu ?? this.mtu) && packet.dontFragment) return { ok: false, error: 'EMSGSIZE' };
    this.stats.sent++;
    const payload = Buffer.from(packet.payload);
    let drop = false;
    let segment: tcp.TcpRepr | undefined;
    if ((this.capture || this.dropIf) && packet.protocol === 6) segment = tcp.decode(payload);
    if (segment && this.dropIf?.(segment, from.name)) drop = true;
    if (!drop && this.loss > 0 && this.#faults.next() < this.loss) drop = true;
    if (segment && this.capture)
      this.captured.push({ from: from.name, at: this.clock.now(), src: packet.src, dst: packet.dst, segment, dropped: drop });
    if (drop) {
      this.stats.lost++;
      return { ok: true };
    }
    const item = {
      to,
      protocol: packet.protocol,
      header: { src: packet.src, dst: packet.dst, ttl: packet.ttl ?? 64, tos: packet.tos ?? 0, inInterface: 'eth0' },
      payload,
    };
    if (this.delayMs > 0) this.clock.setTimeout(() => this.#enqueue(item), this.delayMs);
    else this.#enqueue(item);
    return { ok: true };
  }

  #enqueue(item: QueuedPacket): void {
    if (this.#held) {
      // The held-back packet goes right after the one that overtook it.
      this.#queue.push(item, this.#held);
      this.#held = undefined;
    } else if (this.reorder > 0 && this.#faults.next() < this.reorder) {
      this.stats.reordered++;
      this.#held = item;
      return;
    } else {
      this.#queue.push(item);
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    // Deliver what is queued now; what those deliveries send goes in the next round.
    const batch = this.#queue.splice(0, this.#queue.length);
    for (const item of batch) {
      this.stats.delivered++;
      item.to.transports.get(item.protocol)?.receive(item.header, item.payload);
    }
  }

  /** Releases a packet held back for reordering (when no further packet would overtake it). */
  releaseHeld(): void {
    if (!this.#held) return;
    this.#queue.push(this.#held);
    this.#held = undefined;
    this.#scheduleFlush();
  }

  /** Whether packets are waiting to be delivered. */
  get busy(): boolean {
    return this.#queue.length > 0 || this.#flushScheduled || this.#held !== undefined;
  }

  /**
   * Runs the pair: lets queued packets and stream callbacks run, then moves a FakeClock forward
   * stepMs at a time, for at most ms of fake time, stopping early when `until` holds.
   */
  async run(ms: number, options: { stepMs?: number; until?: () => boolean } = {}): Promise<boolean> {
    const step = options.stepMs ?? 1;
    const fake = this.clock instanceof FakeClock ? this.clock : undefined;
    const end = this.clock.now() + ms;
    for (;;) {
      for (let i = 0; i < 10_000 && (this.busy || i < 3); i++) {
        if (options.until?.()) return true;
        if (this.#held && this.#queue.length === 0 && !this.#flushScheduled) this.releaseHeld();
        await new Promise<void>((r) => setImmediate(r));
      }
      if (options.until?.()) return true;
      if (this.clock.now() >= end) return false;
      if (fake) fake.advance(Math.min(step, end - this.clock.now()));
      else await new Promise<void>((r) => setTimeout(r, step));
    }
  }

  /** Lines like tcpdump's, for failure messages. */
  describe(limit = 40): string {
    return this.captured
      .slice(-limit)
      .map(
        (c) =>
          `${c.at.toFixed(1)} ${c.from} ${formatIpv4(c.src)}.${c.segment.srcPort} > ${formatIpv4(c.dst)}.${c.segment.dstPort}: [${tcp.flagsString(c.segment.flags)}] seq ${c.segment.seq} ack ${c.segment.ack} win ${c.segment.window} len ${c.segment.payload.length}${c.dropped ? ' (dropped)' : ''}`,
      )
      .join('\n');
  }
}

export function fakeIpPair(options?: FakeIpPairOptions): FakeIpPair {
  return new FakeIpPair(options);
}
