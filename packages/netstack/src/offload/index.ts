// Segmentation offload primitives: software GSO (segmentTcp) and GRO (TcpGro) for TCP over IPv4.

export { ethtoolSet, ethtoolShow } from './ethtool.js';
export { TcpGro, type TcpGroOptions } from './gro.js';
export { GSO_MAX_IP_BYTES, gsoSizeOf, segmentTcp, setGsoSize } from './gso.js';
