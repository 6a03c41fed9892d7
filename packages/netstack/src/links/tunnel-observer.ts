// What a tunnel-carrying link (flannel.1 for vxlan, eth0 for host-gw) reports per frame, so the
// observability layer can count inner frames, wire bytes and drops per peer node without the link
// knowing about Prometheus. The link never reads a clock: the observer supplies `now()`
// (DESIGN §6.7), and the link calls it only when an observer is attached.
import type { Ipv4Address } from '@podnet/wire';

/**
 * Why a tunnel frame was dropped, as the metrics name them:
 * mtu (an inner frame larger than the device MTU allows), no_fdb_entry (no `bridge fdb` entry for the
 * inner destination MAC), no_route (no route to a peer), bad_vni (RFC 7348 §5: a VNI this VTEP does
 * not serve), malformed (shorter than the VXLAN header, or the I flag clear), unknown_peer (a node IP
 * without a transport address in the peer map), send_error (the real socket refused the datagram).
 */
export type TunnelDropReason = 'mtu' | 'no_fdb_entry' | 'no_route' | 'bad_vni' | 'malformed' | 'unknown_peer' | 'send_error';

export const TUNNEL_DROP_REASONS: readonly TunnelDropReason[] = [
  'mtu',
  'no_fdb_entry',
  'no_route',
  'bad_vni',
  'malformed',
  'unknown_peer',
  'send_error',
];

export interface TunnelObserver {
  /** Monotonic milliseconds; called around encapsulation and decapsulation to time them. */
  now(): number;
  /** One inner Ethernet frame (`innerBytes` long) the real socket sent to the peer node `peer` (called from the send callback). */
  sent(peer: Ipv4Address, innerBytes: number, encapMs: number): void;
  /** One inner frame decapsulated from a datagram of the peer node `peer` (undefined: a source not in the peer map). */
  received(peer: Ipv4Address | undefined, innerBytes: number, decapMs: number): void;
  dropped(reason: TunnelDropReason, peer: Ipv4Address | undefined, direction: 'tx' | 'rx'): void;
}
