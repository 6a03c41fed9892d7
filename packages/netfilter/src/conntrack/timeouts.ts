// Default timeouts, in seconds, as the Linux sysctls net.netfilter.nf_conntrack_*_timeout* ship them
// (net/netfilter/nf_conntrack_proto_tcp.c tcp_timeouts[], nf_conntrack_proto_udp.c udp_timeouts[],
// nf_conntrack_proto_icmp.c, nf_conntrack_proto_generic.c, nf_conntrack_proto_sctp.c sctp_timeouts[]).

export interface TcpTimeouts {
  synSent: number;
  synRecv: number;
  established: number;
  finWait: number;
  closeWait: number;
  lastAck: number;
  timeWait: number;
  close: number;
  synSent2: number;
  /** nf_conntrack_tcp_timeout_max_retrans. */
  retrans: number;
  /** nf_conntrack_tcp_timeout_unacknowledged: data outstanding, or a picked-up connection without a reply. */
  unacknowledged: number;
}

export interface SctpTimeouts {
  closed: number;
  cookieWait: number;
  cookieEchoed: number;
  established: number;
  shutdownSent: number;
  shutdownRecd: number;
  shutdownAckSent: number;
}

export interface ConntrackTimeouts {
  tcp: TcpTimeouts;
  /** nf_conntrack_udp_timeout: a flow without a reply, or replied but not (yet) a stream. */
  udp: number;
  /** nf_conntrack_udp_timeout_stream: replied and still active 2 s after it started (ASSURED). */
  udpStream: number;
  icmp: number;
  generic: number;
  sctp: SctpTimeouts;
}

export const DEFAULT_TIMEOUTS: Readonly<ConntrackTimeouts> = Object.freeze({
  tcp: Object.freeze({
    synSent: 120,
    synRecv: 60,
    established: 432000,
    finWait: 120,
    closeWait: 60,
    lastAck: 30,
    timeWait: 120,
    close: 10,
    synSent2: 120,
    retrans: 300,
    unacknowledged: 300,
  }),
  udp: 30,
  udpStream: 120,
  icmp: 30,
  generic: 600,
  // The SCTP values of Linux ≥ 5.x (ESTABLISHED shortened from 5 days to 210 s, heartbeats dropped).
  sctp: Object.freeze({
    closed: 10,
    cookieWait: 3,
    cookieEchoed: 3,
    established: 210,
    shutdownSent: 3,
    shutdownRecd: 3,
    shutdownAckSent: 3,
  }),
}) as ConntrackTimeouts;

/** UDP: a replied flow becomes a stream once it is still active this long after it started (nf_conntrack_proto_udp.c). */
export const UDP_STREAM_AFTER_MS = 2000;

/** Timeouts to change, the rest staying at the defaults (like setting a few nf_conntrack_* sysctls). */
export interface TimeoutOverrides {
  tcp?: Partial<TcpTimeouts>;
  udp?: number;
  udpStream?: number;
  icmp?: number;
  generic?: number;
  sctp?: Partial<SctpTimeouts>;
}

/** The defaults with `overrides` applied; a reason string when one of them is not a positive number of seconds. */
export function resolveTimeouts(overrides: TimeoutOverrides = {}): ConntrackTimeouts | string {
  const t: ConntrackTimeouts = {
    tcp: { ...DEFAULT_TIMEOUTS.tcp, ...overrides.tcp },
    udp: overrides.udp ?? DEFAULT_TIMEOUTS.udp,
    udpStream: overrides.udpStream ?? DEFAULT_TIMEOUTS.udpStream,
    icmp: overrides.icmp ?? DEFAULT_TIMEOUTS.icmp,
    generic: overrides.generic ?? DEFAULT_TIMEOUTS.generic,
    sctp: { ...DEFAULT_TIMEOUTS.sctp, ...overrides.sctp },
  };
  const check = (name: string, v: unknown): string | undefined =>
    typeof v === 'number' && Number.isFinite(v) && v > 0
      ? undefined
      : `timeout ${name} must be a positive number of seconds (got ${String(v)})`;
  for (const [k, v] of Object.entries(t.tcp)) {
    const bad = check(`tcp.${k}`, v);
    if (bad) return bad;
  }
  for (const [k, v] of Object.entries(t.sctp)) {
    const bad = check(`sctp.${k}`, v);
    if (bad) return bad;
  }
  for (const k of ['udp', 'udpStream', 'icmp', 'generic'] as const) {
    const bad = check(k, t[k]);
    if (bad) return bad;
  }
  return t;
}
