// Tunables of the emulated TCP, with Linux's defaults where Linux has one (net/ipv4/tcp*.c,
// include/net/tcp.h, Documentation/networking/ip-sysctl.rst). Every timer runs on the
// namespace's injected clock, so tests shrink none of these: they advance a FakeClock.

export interface TcpOptions {
  /** Maximum segment lifetime in ms; TIME-WAIT lasts 2*MSL (RFC 9293 §3.4.2). Linux: TCP_TIMEWAIT_LEN = 60 s, i.e. MSL 30 s. */
  mslMs?: number;
  /** RTO lower bound (RFC 6298 §2.4 says 1 s; Linux uses TCP_RTO_MIN = 200 ms, as we do). */
  rtoMinMs?: number;
  /** RTO upper bound (RFC 6298 §2.5 allows >= 60 s; Linux TCP_RTO_MAX = 120 s). */
  rtoMaxMs?: number;
  /** The RTO before any RTT sample (RFC 6298 §2.1: 1 s; Linux TCP_TIMEOUT_INIT = 1 s). */
  initialRtoMs?: number;
  /** SYN retransmissions before connect() fails with ETIMEDOUT (Linux net.ipv4.tcp_syn_retries = 6). */
  synRetries?: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped (tcp_synack_retries = 5). */
  synAckRetries?: number;
  /** Data retransmissions before the connection fails with ETIMEDOUT (tcp_retries2 = 15). */
  dataRetries?: number;
  /** Delayed-ACK timeout (RFC 9293 §3.8.6.3 allows up to 500 ms; Linux TCP_DELACK_MIN = 40 ms). */
  delayedAckMs?: number;
  /**
   * Receive buffer per connection in bytes; the window comes from its free space. Linux starts at
   * net.ipv4.tcp_rmem's default (128 KiB) and autotunes up to its maximum (6 MiB, tcp_rcv_space_adjust);
   * without autotuning we start at 1 MiB, what a bulk transfer between two nodes over flannel.1
   * needs to keep the path busy (the link sockets queue that much: udp-wire.ts UDP_WIRE_BUFFER_BYTES).
   */
  receiveBufferBytes?: number;
  /** Send buffer per connection in bytes: write() returns false once it holds this much. */
  sendBufferBytes?: number;
  /** Default listen backlog (Linux: net.core.somaxconn = 4096; Node passes 511). */
  backlog?: number;
  /** Ephemeral port range (Linux net.ipv4.ip_local_port_range = 32768 60999). */
  ephemeralPortRange?: readonly [number, number];
  /** Initial congestion window in segments (RFC 6928, Linux TCP_INIT_CWND = 10). */
  initialCwndSegments?: number;
  /** Keepalive defaults (tcp_keepalive_intvl = 75 s, tcp_keepalive_probes = 9). */
  keepAliveIntervalMs?: number;
  keepAliveProbes?: number;
  /** Send RFC 5961 challenge ACKs (rate limited per tcp_challenge_ack_limit = 1000/s). */
  challengeAcks?: boolean;
  /** Offer and use selective acknowledgments (RFC 2018, loss recovery after RFC 6675; Linux net.ipv4.tcp_sack = 1). */
  sack?: boolean;
  /** Tail loss probes (RFC 8985 §7; Linux net.ipv4.tcp_early_retrans = 3): probe after 2·SRTT instead of waiting for the RTO. */
  tailLossProbe?: boolean;
}

export type ResolvedTcpOptions = Required<TcpOptions>;

export const DEFAULT_TCP_OPTIONS: ResolvedTcpOptions = {
  mslMs: 30_000,
  rtoMinMs: 200,
  rtoMaxMs: 120_000,
  initialRtoMs: 1_000,
  synRetries: 6,
  synAckRetries: 5,
  dataRetries: 15,
  delayedAckMs: 40,
  receiveBufferBytes: 1 << 20,
  sendBufferBytes: 1 << 20,
  backlog: 511,
  ephemeralPortRange: [32768, 60999],
  initialCwndSegments: 10,
  keepAliveIntervalMs: 75_000,
  keepAliveProbes: 9,
  challengeAcks: true,
  sack: true,
  tailLossProbe: true,
};

/** Counters of the whole TCP layer, named after Linux's /proc/net/snmp and netstat TcpExt fields. */
export interface TcpCounters {
  activeOpens: number;
  passiveOpens: number;
  attemptFails: number;
  establishedResets: number;
  segmentsReceived: number;
  segmentsSent: number;
  /** Segments sent again, for any reason (RetransSegs). */
  retransmissions: number;
  /** Retransmissions triggered by three duplicate ACKs (TCPFastRetrans). */
  fastRetransmits: number;
  /** Retransmission timer expiries (TCPTimeouts). */
  timeouts: number;
  /** Retransmissions after an ICMP fragmentation-needed lowered the MSS. */
  pmtuRetransmits: number;
  resetsSent: number;
  resetsReceived: number;
  checksumErrors: number;
  malformed: number;
  /** SYNs dropped because a listener's backlog was full (ListenDrops). */
  listenDrops: number;
  challengeAcks: number;
  delayedAcks: number;
  zeroWindowProbes: number;
  /** Tail loss probes sent (TCPLossProbes). */
  lossProbes: number;
  timeWaitExpired: number;
}

export function newCounters(): TcpCounters {
  return {
    activeOpens: 0,
    passiveOpens: 0,
    attemptFails: 0,
    establishedResets: 0,
    segmentsReceived: 0,
    segmentsSent: 0,
    retransmissions: 0,
    fastRetransmits: 0,
    timeouts: 0,
    pmtuRetransmits: 0,
    resetsSent: 0,
    resetsReceived: 0,
    checksumErrors: 0,
    malformed: 0,
    listenDrops: 0,
    challengeAcks: 0,
    delayedAcks: 0,
    zeroWindowProbes: 0,
    lossProbes: 0,
    timeWaitExpired: 0,
  };
}

/** Checks user-given tunables, so a bad value fails at construction with a clear message. */
export function resolveTcpOptions(options: TcpOptions | undefined): ResolvedTcpOptions {
  const o = { ...DEFAULT_TCP_OPTIONS, ...options };
  const positive: (keyof TcpOptions)[] = ['mslMs', 'rtoMinMs', 'rtoMaxMs', 'initialRtoMs', 'delayedAckMs', 'keepAliveIntervalMs'];
  for (const k of positive) {
    const v = o[k] as number;
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw new RangeError(`TcpLayer option ${k} must be a non-negative number of milliseconds, got ${String(v)}`);
    }
  }
  const ints: (keyof TcpOptions)[] = ['synRetries', 'synAckRetries', 'dataRetries', 'backlog', 'initialCwndSegments', 'keepAliveProbes'];
  for (const k of ints) {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`TcpLayer option ${k} must be a non-negative integer, got ${String(v)}`);
  }
  for (const k of ['receiveBufferBytes', 'sendBufferBytes'] as const) {
    const v = o[k];
    if (!Number.isInteger(v) || v < 4096 || v > 1 << 30) {
      throw new RangeError(`TcpLayer option ${k} must be an integer between 4096 and 2^30 bytes, got ${String(v)}`);
    }
  }
  const [lo, hi] = o.ephemeralPortRange;
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && hi <= 65535 && lo <= hi)) {
    throw new RangeError(`TcpLayer option ephemeralPortRange must be [low, high] within 1-65535, got [${lo}, ${hi}]`);
  }
  if (o.rtoMinMs > o.rtoMaxMs) throw new RangeError(`TcpLayer option rtoMinMs (${o.rtoMinMs}) exceeds rtoMaxMs (${o.rtoMaxMs})`);
  return o;
}
