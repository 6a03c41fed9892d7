// Every link kind, by name (DESIGN §6.4): one interface (Link), conformance checked here.
import { BridgeLink } from './bridge.js';
import type { Link, LinkKind } from './link.js';
import { LoopbackLink } from './loopback.js';
import { UnixSocketVeth } from './unix-socket.js';
import { UplinkLink } from './uplink.js';
import { VethLink } from './veth.js';
import { VxlanLink } from './vxlan.js';

export const LINK_KINDS = {
  loopback: LoopbackLink,
  veth: VethLink,
  'unix-veth': UnixSocketVeth,
  bridge: BridgeLink,
  vxlan: VxlanLink,
  uplink: UplinkLink,
} satisfies Record<LinkKind, { prototype: Link }>;

export { BridgeLink, type BridgeNetfilter, type BridgeOptions } from './bridge.js';
export { DEFAULT_AGEING_MS, Fdb, type FdbEntry } from './fdb.js';
export { ETHERNET_HEADER, type FrameReceiver, type FrameSink, type Link, LinkBase, type LinkKind, type LinkOptions } from './link.js';
export { LoopbackLink } from './loopback.js';
export type { UdpOffloadCounters } from './tunnel-gso.js';
export { TUNNEL_DROP_REASONS, type TunnelDropReason, type TunnelObserver } from './tunnel-observer.js';
export { UDP_MAX_SEGMENTS, type UdpSegmentationState, UdpSegmentSocket, udpSegmentationState } from './udp-segmentation.js';
export { PeerMap, synthesizeUnderlay, type TransportAddress } from './udp-wire.js';
export { UNIX_FRAME_PREFIX, UnixSocketVeth, type UnixSocketVethOptions } from './unix-socket.js';
export { UPLINK_UDP_PORT, UplinkLink, type UplinkOptions } from './uplink.js';
export { VethLink } from './veth.js';
export { VxlanLink, type VxlanOptions } from './vxlan.js';
