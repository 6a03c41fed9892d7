// Connection tracking (the rule engine's ConnectionTracker) and conntrack(8)'s view of it.
export * from './contract.js';
export type { ConntrackEntry, PacketConntrack } from './entry.js';
export { IPS_ASSURED, IPS_CONFIRMED, IPS_DST_NAT, IPS_SEEN_REPLY, IPS_SRC_NAT } from './entry.js';
export { ConntrackError, ConntrackErrorCodes } from './errors.js';
export * from './listing.js';
export { TCP_STATE_NAMES, TcpState } from './tcp-state.js';
export {
  type ConntrackTimeouts,
  DEFAULT_TIMEOUTS,
  resolveTimeouts,
  type SctpTimeouts,
  type TcpTimeouts,
  type TimeoutOverrides,
} from './timeouts.js';
export { Conntrack, type ConntrackCounters, type ConntrackOptions, DEFAULT_CONNTRACK_MAX, TABLE_FULL_REASON } from './tracker.js';
export { formatTuple, invertTuple } from './tuple.js';
