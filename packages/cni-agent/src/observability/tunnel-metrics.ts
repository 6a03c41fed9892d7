// Tunnel accounting per backend and per peer node (issue 7): inner frames and bytes, the bytes on
// the wire, the encapsulation overhead, its ratio, encap/decap time and drops by reason.
//
// Wire bytes are defined as a packet capture of the underlay counts a frame (tshark's frame.len on
// an Ethernet-framed interface such as Linux `lo`): for vxlan, outer Ethernet 14 + outer IPv4 20 +
// UDP 8 + VXLAN 8 (RFC 7348 §5) + the inner Ethernet frame, i.e. inner + 50, the same 50 bytes that
// make flannel.1's MTU 1450. For host-gw the inner frame *is* the wire frame (flannel's host-gw
// routes without encapsulation), so wire = inner and overhead = 0; podnet's UDP transport under eth0
// is the emulator's cable, not a protocol header a real host-gw node would send.
import type { TunnelDropReason, TunnelObserver } from '@podnet/netstack';
import { formatIpv4, type Ipv4Address } from '@podnet/wire';
import type { Registry } from 'prom-client';
import { BucketCounts, registerSnapshotMetric, type Sample, TUNNEL_DURATION_BUCKETS } from './snapshot-metric.js';

/** Outer Ethernet (14) + IPv4 without options (20) + UDP (8) + VXLAN (8), RFC 7348 §5. */
export const VXLAN_OVERHEAD_BYTES = 14 + 20 + 8 + 8;
export const OVERHEAD_BYTES_PER_FRAME = { vxlan: VXLAN_OVERHEAD_BYTES, 'host-gw': 0 } as const;
export type TunnelBackend = keyof typeof OVERHEAD_BYTES_PER_FRAME;

type Direction = 'tx' | 'rx';
const UNKNOWN_PEER = 'unknown';

interface DirectionStats {
  frames: number;
  innerBytes: number;
  durations: BucketCounts;
}

interface PeerStats {
  tx: DirectionStats;
  rx: DirectionStats;
  drops: Map<string, number>;
}

function directionStats(): DirectionStats {
  return { frames: 0, innerBytes: 0, durations: new BucketCounts(TUNNEL_DURATION_BUCKETS) };
}

export interface TunnelMetricsOptions {
  backend: TunnelBackend;
  /** Node name for a node IP (from the Node informer); undefined when no Node has that IP. */
  peerName(nodeIp: Ipv4Address): string | undefined;
  /** Monotonic milliseconds (performance.now in the process; a FakeClock in tests). */
  now(): number;
  /** Node IPs of the remote nodes the backend programmed: their series exist (at 0) before any traffic. */
  knownPeers?(): Ipv4Address[];
  /** IPv4 packets the host namespace could not route (no_route drops are counted there, before any peer is chosen). */
  noRouteDrops?(): number;
}

/** The TunnelObserver a VxlanLink/UplinkLink reports to, and the /metrics it produces. */
export class TunnelMetrics implements TunnelObserver {
  readonly backend: TunnelBackend;
  readonly overheadPerFrame: number;
  readonly #options: TunnelMetricsOptions;
  /** Keyed by peer node IP (0 for a source not in the peer map), resolved to a name at scrape time. */
  readonly #peers = new Map<Ipv4Address, PeerStats>();

  constructor(options: TunnelMetricsOptions) {
    this.#options = options;
    this.backend = options.backend;
    this.overheadPerFrame = OVERHEAD_BYTES_PER_FRAME[options.backend];
  }

  now(): number {
    return this.#options.now();
  }

  #peer(ip: Ipv4Address | undefined): PeerStats {
    const key = ip ?? 0;
    let p = this.#peers.get(key);
    if (!p) {
      p = { tx: directionStats(), rx: directionStats(), drops: new Map() };
      this.#peers.set(key, p);
    }
    return p;
  }

  sent(peer: Ipv4Address, innerBytes: number, encapMs: number): void {
    this.#count(this.#peer(peer).tx, innerBytes, encapMs);
  }

  received(peer: Ipv4Address | undefined, innerBytes: number, decapMs: number): void {
    this.#count(this.#peer(peer).rx, innerBytes, decapMs);
  }

  dropped(reason: TunnelDropReason, peer: Ipv4Address | undefined, direction: Direction): void {
    const drops = this.#peer(peer).drops;
    const key = `${direction}/${reason}`;
    drops.set(key, (drops.get(key) ?? 0) + 1);
  }

  #count(d: DirectionStats, innerBytes: number, ms: number): void {
    d.frames++;
    d.innerBytes += innerBytes;
    d.durations.observe(ms / 1000);
  }

  #peerLabel(ip: Ipv4Address): string {
    if (ip === 0) return UNKNOWN_PEER;
    return this.#options.peerName(ip) ?? formatIpv4(ip);
  }

  /** Totals per peer name and direction (what the samples say), for tests and the live page. */
  totals(): Array<{ peer: string; direction: Direction; frames: number; innerBytes: number; wireBytes: number; overheadBytes: number }> {
    const out = [];
    for (const [ip, p] of this.#peers)
      for (const direction of ['tx', 'rx'] as const) {
        const d = p[direction];
        const overheadBytes = d.frames * this.overheadPerFrame;
        out.push({
          peer: this.#peerLabel(ip),
          direction,
          frames: d.frames,
          innerBytes: d.innerBytes,
          wireBytes: d.innerBytes + overheadBytes,
          overheadBytes,
        });
      }
    return out;
  }

  register(registry: Registry): void {
    const backend = this.backend;
    const perDirection = (pick: (d: DirectionStats) => number) => (): Sample[] => {
      for (const ip of this.#options.knownPeers?.() ?? []) this.#peer(ip);
      const out: Sample[] = [];
      for (const [ip, p] of this.#peers)
        for (const direction of ['tx', 'rx'] as const)
          out.push({ labels: { backend, peer: this.#peerLabel(ip), direction }, value: pick(p[direction]) });
      return out;
    };
    const overhead = this.overheadPerFrame;
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_inner_frames_total',
      help: 'Inner Ethernet frames carried by the tunnel, per backend, peer node and direction (tx: encapsulated, rx: decapsulated).',
      type: 'counter',
      collect: perDirection((d) => d.frames),
    });
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_inner_bytes_total',
      help: 'Bytes of the inner Ethernet frames (inner Ethernet header included), per backend, peer node and direction.',
      type: 'counter',
      collect: perDirection((d) => d.innerBytes),
    });
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_wire_bytes_total',
      help: 'Bytes on the underlay as a capture counts them: inner frame + outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 (vxlan), inner frame (host-gw).',
      type: 'counter',
      collect: perDirection((d) => d.innerBytes + d.frames * overhead),
    });
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_overhead_bytes_total',
      help: 'Encapsulation bytes added on the wire: 50 per frame for vxlan, 0 for host-gw.',
      type: 'counter',
      collect: perDirection((d) => d.frames * overhead),
    });
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_overhead_ratio',
      help: 'Encapsulation overhead bytes / inner bytes since start, per backend and peer node, both directions (0 before any traffic).',
      type: 'gauge',
      collect: () =>
        [...this.#peers].map(([ip, p]) => {
          const inner = p.tx.innerBytes + p.rx.innerBytes;
          const frames = p.tx.frames + p.rx.frames;
          return { labels: { backend, peer: this.#peerLabel(ip) }, value: inner === 0 ? 0 : (frames * overhead) / inner };
        }),
    });
    const histogram = (name: string, direction: Direction) => () =>
      [...this.#peers].flatMap(([ip, p]) => p[direction].durations.samples(name, { backend, peer: this.#peerLabel(ip) }));
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_encap_duration_seconds',
      help: 'Time from a frame reaching the tunnel device to its datagram being handed to the socket (FDB and peer lookup, header).',
      type: 'histogram',
      collect: histogram('podnet_tunnel_encap_duration_seconds', 'tx'),
    });
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_decap_duration_seconds',
      help: 'Time from a datagram arriving to its inner frame being handed to the stack (header and VNI checks).',
      type: 'histogram',
      collect: histogram('podnet_tunnel_decap_duration_seconds', 'rx'),
    });
    registerSnapshotMetric(registry, {
      name: 'podnet_tunnel_dropped_frames_total',
      help: 'Tunnel frames dropped, by reason (mtu, no_fdb_entry, no_route, bad_vni, malformed, unknown_peer), peer node and direction.',
      type: 'counter',
      collect: () => {
        const out: Sample[] = [];
        for (const [ip, p] of this.#peers)
          for (const [key, value] of p.drops) {
            const [direction, reason] = key.split('/') as [string, string];
            out.push({ labels: { backend, peer: this.#peerLabel(ip), direction, reason }, value });
          }
        const noRoute = this.#options.noRouteDrops?.() ?? 0;
        out.push({ labels: { backend, peer: UNKNOWN_PEER, direction: 'tx', reason: 'no_route' }, value: noRoute });
        return out;
      },
    });
  }
}
